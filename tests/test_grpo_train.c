// tests/test_grpo_train.c: the GRPO training loop's wiring (r1.h's GRPO training section).
// r1.h's GRPO loss and logit gradient are checked against TRL/verl in test_grpo; here the question is
// whether the loop feeds them the right things: the right token at the right position, the right
// weight, advantage, old and reference log-probs for each (completion, token), and whether the
// gradient that reaches the parameters is the gradient of the loss the loop reports. Checked by
// central finite differences of that loss along random directions in parameter space (the model in
// float, the difference quotient in double), with clipping, KL, entropy and temperature all on.
#include "test.h"

// A tiny model (V = 320 as the built-in one, but 2 layers, C = 32) and a batch made by hand: 2
// prompts x G = 3 completions of different lengths (one empty, one truncated).
static void make_batch(GrpoBatch* b, const GrpoOptions* o, uint64_t* rng, int V) {
    memset(b, 0, sizeof(*b));
    b->P = 2, b->G = 3, b->n = 6;
    b->prompts = (GrpoPrompt*)calloc_check(2, sizeof(GrpoPrompt));
    b->comp = (Completion*)calloc_check(6, sizeof(Completion));
    int plen[2] = {5, 8}, clen[6] = {4, 7, 1, 6, 3, 9};
    for (int p = 0; p < 2; p++) {
        b->prompts[p].n_ids = plen[p];
        b->prompts[p].ids = (int*)malloc_check((size_t)plen[p] * sizeof(int));
        for (int i = 0; i < plen[p]; i++) {
            b->prompts[p].ids[i] = (int)(random_u32(rng) % (uint32_t)V);
        }
    }
    for (int c = 0; c < 6; c++) {
        b->comp[c].n_tokens = clen[c];
        b->comp[c].tokens = (int*)malloc_check((size_t)clen[c] * sizeof(int));
        for (int j = 0; j < clen[c]; j++) {
            b->comp[c].tokens[j] = (int)(random_u32(rng) % (uint32_t)V);
        }
        b->comp[c].finish = c == 5 ? FINISH_LENGTH : FINISH_STOP;
    }
    // rewards -> advantages and mask, as grpo_batch_score does after the reward functions
    float rewards[6] = {1.0f, 0.1f, 0.0f, 0.1f, 0.1f, 1.0f};
    b->reward = (float*)malloc_check(6 * sizeof(float));
    memcpy(b->reward, rewards, sizeof(rewards));
    b->adv = (float*)malloc_check(6 * sizeof(float));
    grpo_advantages(b->adv, b->reward, 2, 3, o->scale, o->adv_eps);
    b->Lmax = 9, b->Tmax = 8 + 9;
    b->mask = (float*)calloc_check((size_t)6 * 9, sizeof(float));
    for (int c = 0; c < 6; c++) {
        for (int j = 0; j < clen[c] && !(o->mask_truncated && c == 5); j++) {
            b->mask[c * 9 + j] = 1.0f;
        }
    }
    grpo_batch_weights(b, o);
    // old and reference log-probs: the current ones, moved a little, so ratios differ from 1 and
    // some tokens clip
    b->old_logp = (float*)calloc_check(6 * 9, sizeof(float));
    b->ref_logp = (float*)calloc_check(6 * 9, sizeof(float));
}

static double batch_loss(Qwen2* m, GrpoBatch* b, const GrpoOptions* o, Qwen2* scratch) {
    (void)scratch;
    qwen2_zero_grad(m);
    double global = 0;
    for (int i = 0; i < b->n * b->Lmax; i++) {
        global += b->mask[i];
    }
    GrpoStats st;
    memset(&st, 0, sizeof(st));
    double loss = 0;
    for (int c0 = 0; c0 < b->n; c0 += o->micro_batch) {
        int c1 = c0 + o->micro_batch < b->n ? c0 + o->micro_batch : b->n;
        loss += grpo_micro_step(m, b, o, c0, c1, 0, (b->n + o->micro_batch - 1) / o->micro_batch, global, &st);
    }
    return loss;
}

static void check_agg(GrpoAgg agg, const char* name, int micro_batch, int mask_truncated) {
    Qwen2Config c;
    memset(&c, 0, sizeof(c));
    c.hidden_size = 32, c.intermediate_size = 64, c.num_layers = 2, c.num_heads = 4, c.num_kv_heads = 2;
    c.head_dim = 8, c.vocab_size = 320, c.max_position_embeddings = 64, c.rope_theta = 10000.0f;
    c.rms_norm_eps = 1e-6f, c.tie_word_embeddings = 1;
    Qwen2 m;
    qwen2_build(&m, &c);
    model_init_random(&c, &m.params, 5);
    for (size_t i = 0; i < m.num_parameters; i++) { // larger weights: logits far from uniform
        m.params_memory[i] *= 4.0f;
    }
    GrpoOptions o = grpo_options_default();
    o.agg = agg, o.micro_batch = micro_batch, o.mask_truncated = mask_truncated;
    o.temperature = 0.7f, o.max_completion = 12;
    o.loss.beta = 0.04f, o.loss.entropy_coef = 0.01f, o.loss.eps_high = 0.28f;
    uint64_t rng = rng_seed(11);
    GrpoBatch b;
    make_batch(&b, &o, &rng, c.vocab_size);
    grpo_batch_logps(&m, &b, &o, 0, b.old_logp);
    memcpy(b.ref_logp, b.old_logp, (size_t)b.n * b.Lmax * sizeof(float));
    int moved = 0;
    for (int i = 0; i < b.n * b.Lmax; i++) { // ratios in [0.6, 1.6): about half outside the clip range
        b.old_logp[i] -= logf(0.6f + random_f32(&rng));
        b.ref_logp[i] += 0.5f * (random_f32(&rng) - 0.5f);
        moved += b.mask[i] > 0;
    }
    // the gradient the loop computes
    double loss = batch_loss(&m, &b, &o, NULL);
    size_t n = m.num_parameters;
    float* grad = (float*)malloc_check(n * sizeof(float));
    memcpy(grad, m.grads_memory, n * sizeof(float));
    // finite differences of the loss along 4 random directions
    double worst = 0;
    float* saved = (float*)malloc_check(n * sizeof(float));
    memcpy(saved, m.params_memory, n * sizeof(float));
    for (int k = 0; k < 4; k++) {
        float* d = (float*)malloc_check(n * sizeof(float));
        double dot = 0, norm = 0;
        for (size_t i = 0; i < n; i++) {
            d[i] = random_normal(&rng);
            norm += (double)d[i] * d[i];
        }
        for (size_t i = 0; i < n; i++) {
            d[i] /= (float)sqrt(norm);
            dot += (double)grad[i] * d[i];
        }
        double eps = 1e-3, f[2]; // small: the clipped surrogate has kinks
        for (int s = 0; s < 2; s++) {
            for (size_t i = 0; i < n; i++) {
                m.params_memory[i] = saved[i] + (float)((s ? -eps : eps) * d[i]);
            }
            f[s] = batch_loss(&m, &b, &o, NULL);
        }
        memcpy(m.params_memory, saved, n * sizeof(float));
        double fd = (f[0] - f[1]) / (2 * eps);
        double err = fabs(fd - dot) / (fabs(dot) > 1e-3 ? fabs(dot) : 1e-3);
        worst = err > worst ? err : worst;
        free(d);
    }
    check(worst < 5e-2 && isfinite(loss),
          "%s (micro-batch %d%s): the parameter gradient is the gradient of the reported loss (%d tokens; finite "
          "differences on 4 directions, worst relative error %.2e)", name, micro_batch,
          mask_truncated ? ", truncated masked" : "", moved, worst);
    // micro-batching changes nothing (for the aggregations that see the whole batch)
    if (micro_batch > 1) {
        GrpoOptions one = o;
        one.micro_batch = 1;
        double l1 = batch_loss(&m, &b, &one, NULL);
        double diff = 0, ref = 0;
        for (size_t i = 0; i < n; i++) {
            diff += fabs((double)m.grads_memory[i] - grad[i]), ref += fabs((double)grad[i]);
        }
        int same = agg != GRPO_AGG_BNPO; // bnpo normalises per micro-batch, as TRL does
        check(same ? (fabs(l1 - loss) < 1e-5 * fmax(1.0, fabs(loss)) && diff / ref < 1e-4) : (diff / ref > 1e-3),
              "%s: micro-batches of 1 %s (loss %.6g vs %.6g, gradient difference %.2e)", name,
              same ? "give the same loss and gradient" : "differ, as TRL's per-micro-batch bnpo does", l1, loss,
              diff / ref);
    }
    grpo_batch_free(&b);
    free(grad), free(saved);
    qwen2_free(&m);
}

// grpo_layout: completion token j of a prompt of length Lp is predicted at position Lp + j - 1.
static void check_layout(void) {
    GrpoOptions o = grpo_options_default();
    uint64_t rng = rng_seed(3);
    GrpoBatch b;
    make_batch(&b, &o, &rng, 320);
    int B = b.n, T = b.Tmax, ok = 1, counted = 0;
    int* ids = (int*)malloc_check((size_t)B * T * sizeof(int));
    int* pos = (int*)malloc_check((size_t)B * T * sizeof(int));
    long* where = (long*)malloc_check((size_t)B * T * sizeof(long));
    grpo_layout(&b, 0, B, 0, ids, pos, where);
    for (int c = 0; c < B; c++) {
        const GrpoPrompt* p = &b.prompts[c / b.G];
        for (int t = 0; t < T; t++) {
            long w = where[c * T + t];
            int j = t + 1 - p->n_ids;
            if (j >= 0 && j < b.comp[c].n_tokens) {
                ok &= w == (long)c * b.Lmax + j && ids[c * T + t + 1] == b.comp[c].tokens[j];
                counted++;
            } else {
                ok &= w == -1;
            }
            ok &= pos[c * T + t] == t && (t >= p->n_ids || ids[c * T + t] == p->ids[t]);
        }
    }
    check(ok && counted == 4 + 7 + 1 + 6 + 3 + 9, "layout: each completion token is predicted by the position before it "
          "(%d tokens), prompts first, position ids 0..T-1", counted);
    free(ids), free(pos), free(where);
    grpo_batch_free(&b);
}

// The prompts of a step depend on (seed, step) only: what makes resume exact.
static void check_prompts(void) {
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    GrpoOptions o = grpo_options_default();
    o.prompts_per_step = 4;
    GrpoPrompt a[4], b[4], c[4];
    grpo_step_prompts(a, &o, &tok, NULL, 7);
    grpo_step_prompts(b, &o, &tok, NULL, 7);
    grpo_step_prompts(c, &o, &tok, NULL, 8);
    int same = 1, differ = 0, ends = 1;
    for (int i = 0; i < 4; i++) {
        same &= strcmp(a[i].text, b[i].text) == 0;
        differ |= strcmp(a[i].text, c[i].text) != 0;
        size_t n = strlen(a[i].text);
        ends &= n > 20 && strcmp(a[i].text + n - strlen("Assistant: <think>"), "Assistant: <think>") == 0 && a[i].n_ids == (int)n;
    }
    check(same && differ && ends, "step prompts: the same for the same step, new for the next; short form ends in "
          "'Assistant: <think>' (%s)", a[0].text);
    for (int i = 0; i < 4; i++) {
        grpo_prompt_free(&a[i]), grpo_prompt_free(&b[i]), grpo_prompt_free(&c[i]);
    }
    tokenizer_free(&tok);
}

int main(void) {
    check_layout();
    check_prompts();
    check_agg(GRPO_AGG_GRPO, "grpo", 4, 0);
    check_agg(GRPO_AGG_BNPO, "bnpo", 4, 0);
    check_agg(GRPO_AGG_DR_GRPO, "dr_grpo", 2, 1);
    check_agg(GRPO_AGG_DAPO, "dapo", 4, 1);
    return test_summary("grpo_train");
}
