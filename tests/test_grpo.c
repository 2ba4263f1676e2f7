/*
tests/test_grpo.c: r1.h's GRPO math against its oracles.
  - grpo_advantages: the test vectors published in grpo.md §2 (TRL eps 1e-4, verl eps 1e-6, the
    TinyZero-style group) and tests/fixtures/grpo/loss.json's advantages from verl's
    compute_grpo_outcome_advantage and TRL's advantage code (dev/oracle/grpo_oracle.py);
  - grpo_token_weights + grpo_loss_backward: loss and d loss / d logits against TRL's _compute_loss
    (transcribed) and verl's core_algos (called) with autograd, for every aggregation, with and
    without old log-probs (clipping active), KL k1/k2/k3/k3+, dual clip, entropy bonus, temperature;
  - a central finite-difference check, in double, of the logit gradient of single tokens.
*/
#include "test.h"

#define FIXTURE "tests/fixtures/grpo/loss.json"

static float* json_floats(const Json* arr, size_t* n) {
    if (arr == NULL || arr->type != JSON_ARRAY) {
        fatal("%s: expected an array", FIXTURE);
    }
    float* out = (float*)malloc_check(arr->len * sizeof(float));
    for (size_t i = 0; i < arr->len; i++) {
        out[i] = (float)arr->items[i].number;
    }
    if (n) {
        *n = arr->len;
    }
    return out;
}

static double json_num(const Json* obj, const char* key) {
    const Json* v = json_get(obj, key);
    if (v == NULL || (v->type != JSON_NUMBER && v->type != JSON_BOOL)) {
        fatal("%s: missing number '%s'", FIXTURE, key);
    }
    return v->number;
}

static void test_advantage_vectors(void) {
    // grpo.md §2: binary rewards, 1 correct of 8, unbiased std
    float r[8] = {1, 0, 0, 0, 0, 0, 0, 0}, a[8];
    grpo_advantages(a, r, 1, 8, GRPO_SCALE_GROUP, 1e-4f);
    check(fabsf(a[0] - 2.474174f) < 2e-6f && fabsf(a[1] + 0.353453f) < 2e-6f,
          "advantages 1-of-8, eps 1e-4 (TRL): %.6f %.6f (want 2.474174 -0.353453)", a[0], a[1]);
    grpo_advantages(a, r, 1, 8, GRPO_SCALE_GROUP, 1e-6f);
    check(fabsf(a[0] - 2.474867f) < 2e-6f && fabsf(a[1] + 0.353552f) < 2e-6f,
          "advantages 1-of-8, eps 1e-6 (verl): %.6f %.6f (want 2.474867 -0.353552)", a[0], a[1]);
    float r5[5] = {1, 0.1f, 0.1f, 0, 1}, a5[5], want5[5] = {1.091966f, -0.66298f, -0.66298f, -0.857974f, 1.091966f};
    grpo_advantages(a5, r5, 1, 5, GRPO_SCALE_GROUP, 1e-6f);
    double err = 0;
    for (int i = 0; i < 5; i++) {
        err = fmax(err, fabs(a5[i] - want5[i]));
    }
    check(err < 2e-6, "advantages TinyZero-style [1,.1,.1,0,1], eps 1e-6: max abs err %.2e", err);
    float same[4] = {0.5f, 0.5f, 0.5f, 0.5f}, a4[4];
    grpo_advantages(a4, same, 1, 4, GRPO_SCALE_GROUP, 1e-4f);
    check(a4[0] == 0 && a4[3] == 0, "advantages of an all-equal group are 0 (no NaN)");
}

static void test_advantage_fixture(const Json* doc) {
    const Json* cases = json_get(doc, "advantages");
    for (size_t c = 0; c < cases->len; c++) {
        const Json* k = &cases->items[c];
        size_t n;
        float* r = json_floats(json_get(k, "rewards"), &n);
        float* want = json_floats(json_get(k, "adv"), NULL);
        float* got = (float*)malloc_check(n * sizeof(float));
        int G = (int)json_num(k, "G");
        const char* s = json_get_string(k, "scale");
        GrpoScale scale = strcmp(s, "group") == 0   ? GRPO_SCALE_GROUP
                          : strcmp(s, "batch") == 0 ? GRPO_SCALE_BATCH
                                                    : GRPO_SCALE_NONE;
        grpo_advantages(got, r, (int)(n / G), G, scale, (float)json_num(k, "eps"));
        char name[128];
        snprintf(name, sizeof(name), "adv %s G=%d %s", json_get_string(k, "source"), G, s);
        check_tensor(name, got, want, n, 1e-6);
        free(r), free(want), free(got);
    }
}

static GrpoConfig case_config(const Json* k) {
    GrpoConfig cfg = grpo_config_default();
    cfg.temperature = (float)json_num(k, "temperature");
    cfg.eps_low = (float)json_num(k, "eps_low");
    cfg.eps_high = (float)json_num(k, "eps_high");
    cfg.dual_clip = (float)json_num(k, "dual_clip");
    cfg.beta = (float)json_num(k, "beta");
    const char* kl = json_get_string(k, "kl");
    cfg.kl_type = strcmp(kl, "k1") == 0 ? GRPO_KL_K1 : strcmp(kl, "k2") == 0 ? GRPO_KL_K2 : GRPO_KL_K3;
    cfg.kl_k2_grad = (int)json_num(k, "kl_k2_grad");
    cfg.verl_clamps = (int)json_num(k, "verl_clamps");
    cfg.entropy_coef = (float)json_num(k, "entropy_coef");
    return cfg;
}

static GrpoAgg agg_of(const char* s) {
    return strcmp(s, "grpo") == 0      ? GRPO_AGG_GRPO
           : strcmp(s, "bnpo") == 0    ? GRPO_AGG_BNPO
           : strcmp(s, "dr_grpo") == 0 ? GRPO_AGG_DR_GRPO
                                       : GRPO_AGG_DAPO;
}

// One oracle case: weights from the mask, advantages per token, then the loss and its gradient.
static void run_loss_case(const Json* doc, const Json* k, const float* logits, const int* tokens, const float* mask) {
    int B = (int)json_num(doc, "B"), T = (int)json_num(doc, "T"), V = (int)json_num(doc, "V"), N = B * T;
    GrpoConfig cfg = case_config(k);
    char temp[32];
    snprintf(temp, sizeof(temp), "%g", cfg.temperature);
    float* old = json_floats(json_get(json_get(doc, "old_logp"), temp), NULL);
    float* ref = json_floats(json_get(json_get(doc, "ref_logp"), temp), NULL);
    float* adv_b = json_floats(json_get(k, "adv"), NULL);
    float* want = json_floats(json_get(k, "dlogits"), NULL);
    float *w = malloc_check(N * sizeof(float)), *we = malloc_check(N * sizeof(float)),
          *adv = malloc_check(N * sizeof(float));
    int ga = (int)json_num(k, "grad_accum");
    const char* ent_agg = json_get_string(k, "ent_agg");
    grpo_token_weights(w, mask, B, T, agg_of(json_get_string(k, "agg")), (int)json_num(k, "max_len"),
                       json_num(k, "global_tokens"), ga);
    grpo_token_weights(we, mask, B, T, strcmp(ent_agg, "same") == 0 ? agg_of(json_get_string(k, "agg")) : GRPO_AGG_BNPO,
                       (int)json_num(k, "max_len"), json_num(k, "global_tokens"), ga);
    for (int i = 0; i < N; i++) {
        adv[i] = adv_b[i / T];
    }
    float* dlogits = malloc_check((size_t)N * V * sizeof(float));
    for (size_t i = 0; i < (size_t)N * V; i++) {
        dlogits[i] = NAN; // poisoned: every entry must be written
    }
    float loss;
    GrpoStats st = {0};
    grpo_loss_backward(dlogits, &loss, logits, tokens, json_num(k, "use_old") ? old : NULL, ref, adv, w, we, N, V, &cfg,
                       &st);
    double want_loss = json_num(k, "loss");
    double lerr = fabs(loss - want_loss) / fmax(fabs(want_loss), 1e-3);
    check(lerr < 1e-6, "loss  %-66s %.8f vs %.8f (rel %.1e)", json_get_string(k, "name"), loss, want_loss, lerr);
    if (json_get(k, "clipfrac")) { // verl's metrics: pg_clipfrac and pg_clipfrac_lower (dual clip)
        double cf = (st.clip_low + st.clip_high) / st.tokens, cfl = st.clip_dual / st.tokens;
        check(fabs(cf - json_num(k, "clipfrac")) < 1e-9 && fabs(cfl - json_num(k, "clipfrac_lower")) < 1e-9,
              "stats clip fraction %.4f (verl %.4f), dual clip %.4f (verl %.4f)", cf, json_num(k, "clipfrac"), cfl,
              json_num(k, "clipfrac_lower"));
    }
    char name[160];
    snprintf(name, sizeof(name), "dlogits %s", json_get_string(k, "name"));
    check_tensor(name, dlogits, want, (size_t)N * V, 1e-6);
    free(old), free(ref), free(adv_b), free(want), free(w), free(we), free(adv), free(dlogits);
}

static void test_loss_fixture(const Json* doc) {
    float* logits = json_floats(json_get(doc, "logits"), NULL);
    float* mask = json_floats(json_get(doc, "mask"), NULL);
    size_t n;
    float* tok_f = json_floats(json_get(doc, "tokens"), &n);
    int* tokens = malloc_check(n * sizeof(int));
    for (size_t i = 0; i < n; i++) {
        tokens[i] = (int)tok_f[i];
    }
    const Json* cases = json_get(doc, "cases");
    for (size_t c = 0; c < cases->len; c++) {
        run_loss_case(doc, &cases->items[c], logits, tokens, mask);
    }
    free(logits), free(mask), free(tok_f), free(tokens);
}

// ---------------------------------------------------------------------------------------------
// finite differences: the loss of one token written from grpo.md §1 directly (min/clamp form), in double

static double token_loss_ref(const double* u, int V, int y, double old, int has_old, double logr, double A, double w,
                             double we, const GrpoConfig* c) {
    double mx = -INFINITY, s = 0, pz = 0;
    for (int v = 0; v < V; v++) {
        mx = fmax(mx, u[v] / c->temperature);
    }
    for (int v = 0; v < V; v++) {
        s += exp(u[v] / c->temperature - mx);
    }
    double lse = mx + log(s);
    for (int v = 0; v < V; v++) {
        pz += exp(u[v] / c->temperature - lse) * u[v] / c->temperature;
    }
    double logp = u[y] / c->temperature - lse, H = lse - pz;
    double rho = exp(logp - (has_old ? old : logp)); // (the detached old only matters for the gradient)
    double rc = fmin(fmax(rho, 1 - c->eps_low), 1 + c->eps_high);
    double pg = -fmin(rho * A, rc * A);
    if (c->dual_clip > 0 && A < 0) {
        pg = fmin(pg, -A * c->dual_clip);
    }
    double x = logr - logp, kl = c->kl_type == GRPO_KL_K1   ? -x
                                 : c->kl_type == GRPO_KL_K2 ? 0.5 * x * x
                                                            : exp(x) - x - 1;
    return w * (pg + c->beta * kl) - c->entropy_coef * we * H;
}

static void test_finite_differences(void) {
    enum { V = 50 };
    uint64_t rng = rng_seed(7);
    double max_rel = 0;
    int tested = 0;
    for (int trial = 0; trial < 24; trial++) {
        GrpoConfig c = grpo_config_default();
        c.temperature = trial % 3 == 0 ? 1.0f : 0.7f;
        c.eps_high = 0.28f;
        c.beta = trial % 2 ? 0.04f : 0.0f;
        c.kl_type = (GrpoKl)(trial % 3);
        c.entropy_coef = trial % 4 == 1 ? 0.01f : 0.0f;
        c.dual_clip = trial % 5 == 0 ? 3.0f : 0.0f;
        float u[V], d[V];
        double ud[V];
        for (int v = 0; v < V; v++) {
            u[v] = 2.0f * random_normal(&rng), ud[v] = u[v];
        }
        int y = (int)(random_u32(&rng) % V);
        float A = random_normal(&rng), logr = -4.0f + random_normal(&rng), old = -4.0f + 2.0f * random_normal(&rng);
        float w = 0.1f + random_f32(&rng), we = 0.2f;
        GrpoStats st = {0};
        grpo_token_backward(d, u, y, old, 1, logr, A, w, we, V, &c, &st);
        // rho must not sit on a clip boundary, where the loss has a kink
        double num = 0, den = 0, h = 1e-5;
        for (int v = 0; v < V; v++) {
            double save = ud[v];
            ud[v] = save + h;
            double lp = token_loss_ref(ud, V, y, old, 1, logr, A, w, we, &c);
            ud[v] = save - h;
            double lm = token_loss_ref(ud, V, y, old, 1, logr, A, w, we, &c);
            ud[v] = save;
            double fd = (lp - lm) / (2 * h);
            num += (fd - d[v]) * (fd - d[v]), den += fd * fd;
        }
        if (den > 0) {
            max_rel = fmax(max_rel, sqrt(num / den));
            tested++;
        }
    }
    check(tested > 12 && max_rel < 1e-5,
          "finite differences (double, h=1e-5) vs grpo_token_backward on %d tokens: max rel %.2e", tested, max_rel);
}

// num_iterations = 1 (old = NULL): rho = 1, nothing clips, and with beta = 0 and the "grpo"
// aggregation over a whole group the loss is exactly 0 (advantages sum to 0) but the gradient is not.
static void test_zero_loss(void) {
    enum { G = 4, T = 3, V = 10 };
    float logits[G * T * V], d[G * T * V], mask[G * T], w[G * T], adv[G * T], r[G] = {1, 0, 0.5f, 0}, a[G];
    int tokens[G * T];
    uint64_t rng = rng_seed(3);
    for (int i = 0; i < G * T * V; i++) {
        logits[i] = random_normal(&rng);
    }
    grpo_advantages(a, r, 1, G, GRPO_SCALE_GROUP, 1e-4f);
    for (int i = 0; i < G * T; i++) {
        tokens[i] = i % V, mask[i] = 1, adv[i] = a[i / T];
    }
    grpo_token_weights(w, mask, G, T, GRPO_AGG_GRPO, T, 0, 1);
    GrpoConfig c = grpo_config_default();
    GrpoStats st = {0};
    float loss;
    grpo_loss_backward(d, &loss, logits, tokens, NULL, NULL, adv, w, NULL, G * T, V, &c, &st);
    double gn = 0;
    for (int i = 0; i < G * T * V; i++) {
        gn += d[i] * d[i];
    }
    check(fabsf(loss) < 1e-6f && gn > 1e-4 && st.clip_low + st.clip_high == 0 && st.tokens == G * T,
          "num_iterations=1: loss %.1e (0), gradient norm %.3f (non-zero), nothing clipped", loss, sqrt(gn));
}

// GRPO learns: a one-token "completion" from a policy that is just a row of V logits, reward 1 for
// token 3. Groups of G samples, group advantages, the GRPO gradient, plain SGD on the logits: the
// mean reward must climb from 1/V to nearly 1 (and, with old_logp given, clipping must bite).
static void test_bandit_learns(void) {
    enum { V = 16, G = 8, STEPS = 60 };
    float logits[V] = {0}, dl[G * V], rows[G * V], r[G], a[G], w[G], oldp[G];
    int tok[G];
    uint64_t rng = rng_seed(11);
    GrpoConfig c = grpo_config_default();
    double first = 0, last = 0, clipped = 0;
    for (int step = 0; step < STEPS; step++) {
        float p[V], mx = logits[0], sum = 0;
        for (int v = 0; v < V; v++) {
            mx = fmaxf(mx, logits[v]);
        }
        for (int v = 0; v < V; v++) {
            p[v] = expf(logits[v] - mx), sum += p[v];
        }
        for (int g = 0; g < G; g++) { // sample from softmax(logits)
            float u = random_f32(&rng) * sum, cdf = 0;
            tok[g] = V - 1;
            for (int v = 0; v < V; v++) {
                if ((cdf += p[v]) > u) {
                    tok[g] = v;
                    break;
                }
            }
            r[g] = tok[g] == 3;
            memcpy(rows + g * V, logits, sizeof(logits));
            w[g] = 1.0f / G;
            oldp[g] = logf(p[tok[g]] / sum) - 0.3f; // a stale policy: ratios exp(0.3) > 1.2 get clipped
        }
        double mean = 0;
        for (int g = 0; g < G; g++) {
            mean += r[g] / G;
        }
        first += step < 10 ? mean / 10 : 0, last += step >= STEPS - 10 ? mean / 10 : 0;
        grpo_advantages(a, r, 1, G, GRPO_SCALE_GROUP, 1e-4f);
        GrpoStats st = {0};
        float loss;
        grpo_loss_backward(dl, &loss, rows, tok, step % 2 ? oldp : NULL, NULL, a, w, NULL, G, V, &c, &st);
        clipped += st.clip_high;
        for (int g = 0; g < G; g++) {
            for (int v = 0; v < V; v++) {
                logits[v] -= 2.0f * dl[g * V + v]; // SGD, lr 2
            }
        }
    }
    check(first < 0.3 && last > 0.9 && clipped > 0,
          "GRPO on a 16-armed bandit: mean reward %.2f (first 10 steps) -> %.2f (last 10); %.0f tokens clipped", first,
          last, clipped);
}

int main(void) {
    test_advantage_vectors();
    test_zero_loss();
    test_finite_differences();
    test_bandit_learns();
    if (!file_exists(FIXTURE)) {
        skip("GRPO oracle fixtures: %s is missing (run dev/oracle/grpo_oracle.py)", FIXTURE);
        return test_summary("test_grpo");
    }
    Json* doc = json_load_file(FIXTURE);
    test_advantage_fixture(doc);
    test_loss_fixture(doc);
    json_free(doc);
    return test_summary("test_grpo");
}
