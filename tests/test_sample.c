// tests/test_sample.c: r1.h's sampling chain (repetition penalty, temperature, top-k, top-p) against
// transformers' logits processors (fixture from dev/oracle/sampling_oracle.py), and the draw itself
// against the probabilities it was given.
#include "test.h"

static void check_case(const Json* c, const float* logits, const float* expect, int index) {
    int V = (int)json_get(c, "V")->number;
    SamplingConfig cfg = {(float)json_get(c, "temperature")->number, (int)json_get(c, "top_k")->number,
                          (float)json_get(c, "top_p")->number, (float)json_get(c, "repetition_penalty")->number};
    const Json* ctx = json_get(c, "context");
    int n = (int)ctx->len;
    int* context = (int*)malloc_check((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) {
        context[i] = (int)ctx->items[i].number;
    }
    Sampler s;
    sampler_init(&s, V);
    uint64_t rng = rng_seed(7);
    float logprob;
    int token = sample_token(&s, logits, &cfg, context, n, &rng, &logprob);
    int same_support = 1;
    for (int i = 0; i < V; i++) {
        same_support &= (s.logits[i] > 0) == (expect[i] > 0);
    }
    char name[128];
    snprintf(name, sizeof(name), "sampling case %d (V=%d T=%.2f k=%d p=%.2f rp=%.2f) probs", index, V, cfg.temperature,
             cfg.top_k, cfg.top_p, cfg.repetition_penalty);
    check_tensor(name, s.logits, expect, (size_t)V, 1e-6);
    check(same_support && expect[token] > 0, "sampling case %d: same kept set (%d tokens) and a kept token drawn",
          index, (int)json_get(c, "kept")->number);
    // the log-prob returned is log_softmax(logits / T)[token] (what GRPO rescoring computes)
    double t = cfg.temperature, max = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++) {
        max = fmax(max, logits[i] / t);
    }
    for (int i = 0; i < V; i++) {
        sum += exp(logits[i] / t - max);
    }
    check(fabs(logprob - (logits[token] / t - max - log(sum))) < 1e-5, "sampling case %d: log-prob of the token",
          index);
    sampler_free(&s);
    free(context);
}

// Draws 200k tokens from a fixed distribution: every frequency must be within 5 standard errors.
static void check_draws(void) {
    float probs[5] = {0.5f, 0.25f, 0.125f, 0.0f, 0.125f};
    int counts[5] = {0};
    uint64_t rng = rng_seed(42);
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        counts[sample_mult(probs, 5, random_f32(&rng))]++;
    }
    int ok = counts[3] == 0;
    for (int i = 0; i < 5; i++) {
        double se = sqrt(probs[i] * (1 - probs[i]) / N) + 1e-12;
        ok &= fabs((double)counts[i] / N - probs[i]) < 5 * se + 1e-9;
    }
    check(ok, "sample_mult: frequencies of 200k draws match the probabilities (%d %d %d %d %d)", counts[0], counts[1],
          counts[2], counts[3], counts[4]);
    SamplingConfig greedy = {0.0f, 0, 1.0f, 1.0f};
    float logits[6] = {0.1f, 2.0f, -1.0f, 3.5f, 3.4f, 0.0f};
    Sampler s;
    sampler_init(&s, 6);
    check(sample_token(&s, logits, &greedy, NULL, 0, &rng, NULL) == 3, "temperature 0 is greedy (argmax)");
    sampler_free(&s);
}

int main(void) {
    Json* meta = json_load_file("tests/fixtures/sampling/cases.json");
    size_t bytes;
    float* blob = (float*)read_file("tests/fixtures/sampling/cases.bin", &bytes);
    const Json* cases = json_get(meta, "cases");
    size_t at = 0;
    for (size_t i = 0; i < cases->len; i++) {
        size_t V = (size_t)json_get(&cases->items[i], "V")->number;
        if ((at + 2 * V) * sizeof(float) > bytes) {
            fatal("tests/fixtures/sampling/cases.bin is shorter than cases.json says: rerun dev/oracle/sampling_oracle.py");
        }
        check_case(&cases->items[i], blob + at, blob + at + V, (int)i);
        at += 2 * V;
    }
    check_draws();
    json_free(meta);
    free(blob);
    return test_summary("test_sample");
}
