/*
tests/test_optim.c: r1.h's gradient clipping, AdamW, weight-decay mask and learning-rate schedules
against torch.optim.AdamW, torch.nn.utils.clip_grad_norm_, Trainer.get_decay_parameter_names and the
transformers schedules (fixtures in tests/fixtures/optim/, made by dev/oracle/optim_oracle.py).
*/
#include "test.h"

#define FIX "tests/fixtures/optim/"

static float* load_floats(const char* path, size_t* n) {
    size_t bytes;
    char* buf = read_file(path, &bytes);
    *n = bytes / sizeof(float);
    return (float*)buf; // little-endian float32, as the oracle wrote it (every machine we target)
}

static double jnum(const Json* obj, const char* key) {
    const Json* v = json_get(obj, key);
    if (v == NULL || v->type != JSON_NUMBER) {
        fatal("fixture: missing number '%s'", key);
    }
    return v->number;
}

static size_t offset_of(const Json* meta, const char* key) {
    return (size_t)jnum(json_get(meta, "offsets"), key);
}

static int name_in(const Json* list, const char* name) {
    for (size_t i = 0; i < list->len; i++) {
        if (strcmp(list->items[i].string, name) == 0) {
            return 1;
        }
    }
    return 0;
}

// The tiny Qwen2 the oracle built (only the sizes matter to the optimizer).
static Qwen2Config fixture_config(const Json* meta) {
    const Json* jc = json_get(meta, "config");
    Qwen2Config c = {0};
    c.vocab_size = (int)jnum(jc, "vocab_size");
    c.hidden_size = (int)jnum(jc, "hidden_size");
    c.intermediate_size = (int)jnum(jc, "intermediate_size");
    c.num_layers = (int)jnum(jc, "num_hidden_layers");
    c.num_heads = (int)jnum(jc, "num_attention_heads");
    c.num_kv_heads = (int)jnum(jc, "num_key_value_heads");
    c.head_dim = c.hidden_size / c.num_heads;
    return c;
}

// The decay mask: r1.h's param_decays against the names transformers decays, tied and untied.
static void test_decay_mask(const Json* meta) {
    const char* lists[2][2] = {{"all_names", "decay_names"}, {"all_names_tied", "decay_names_tied"}};
    for (int k = 0; k < 2; k++) {
        const Json* all = json_get(meta, lists[k][0]);
        const Json* decay = json_get(meta, lists[k][1]);
        int bad = 0;
        for (size_t i = 0; i < all->len; i++) {
            if (param_decays(all->items[i].string) != name_in(decay, all->items[i].string)) {
                printf("  mismatch: %s\n", all->items[i].string);
                bad++;
            }
        }
        check(bad == 0, "weight decay mask = Trainer.get_decay_parameter_names (%s, %zu names)",
              k ? "tied" : "untied", all->len);
    }
    int bad = 0;
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        bad += param_decays(PARAM_SPECS[i].hf_name) != (PARAM_SPECS[i].kind == PARAM_MATRIX);
    }
    check(bad == 0, "PARAM_SPECS: matrices decay, biases and norms do not");
    const char* other[] = {"encoder.layer_norm.weight", "blocks.0.ln_f.norm", "x.rmsnorm.scale", "x.bias_proj.weight",
                           "final_norm", "normal.weight", "x.enorm.weight"};
    int expect[] = {0, 0, 0, 0, 0, 1, 1};
    bad = 0;
    for (int i = 0; i < 7; i++) {
        bad += param_decays(other[i]) != expect[i];
    }
    check(bad == 0, "param_decays follows the Trainer's name patterns on non-Qwen names too");
}

// 20 Trainer-style updates (clip, lr from the warmup+cosine schedule, AdamW) against torch.
static void test_adamw(const Json* meta, const float* blob, size_t nblob) {
    Qwen2Config c = fixture_config(meta);
    size_t n = param_count(&c);
    check(n == (size_t)jnum(meta, "n"), "flat parameter count %zu = torch's %zu", n, (size_t)jnum(meta, "n"));
    if (n != (size_t)jnum(meta, "n") || offset_of(meta, "params_final_fused") + n > nblob) {
        return;
    }
    AdamWConfig cfg = {(float)jnum(meta, "beta1"), (float)jnum(meta, "beta2"), (float)jnum(meta, "eps"),
                       (float)jnum(meta, "weight_decay")};
    int steps = (int)jnum(meta, "steps");
    LrSchedule sched = lr_schedule_make(LR_COSINE, (float)jnum(meta, "lr"), (int)jnum(meta, "warmup_steps"), steps);
    float max_norm = (float)jnum(meta, "max_grad_norm");
    float* params = (float*)malloc_check(n * sizeof(float));
    float* grads = (float*)malloc_check(n * sizeof(float));
    float* m = (float*)calloc_check(n, sizeof(float));
    float* v = (float*)calloc_check(n, sizeof(float));
    float* delta = (float*)malloc_check(n * sizeof(float));
    float* ref_delta = (float*)malloc_check(n * sizeof(float));
    const float* init = blob + offset_of(meta, "init");
    memcpy(params, init, n * sizeof(float));
    double worst_lr = 0, worst_norm = 0;
    int clipped = 0;
    for (int t = 1; t <= steps; t++) {
        char key[32];
        snprintf(key, sizeof(key), "grad_%d", t);
        memcpy(grads, blob + offset_of(meta, key), n * sizeof(float));
        float norm = clip_grad_norm(grads, n, max_norm);
        float lr = lr_at_step(&sched, t - 1);
        double ref_norm = json_get(meta, "grad_norm_per_step")->items[t - 1].number;
        double ref_lr = json_get(meta, "lr_per_step")->items[t - 1].number;
        worst_norm = fmax(worst_norm, fabs(norm - ref_norm) / ref_norm);
        worst_lr = fmax(worst_lr, fabs(lr - ref_lr) / (ref_lr > 0 ? ref_lr : 1.0));
        clipped += ref_norm > max_norm;
        adamw_update_model(&c, params, grads, m, v, t, lr, &cfg);
        snprintf(key, sizeof(key), "params_%d", t);
        if (json_get(json_get(meta, "offsets"), key)) {
            const float* ref = blob + offset_of(meta, key);
            char name[64];
            snprintf(name, sizeof(name), "params after step %d", t);
            check_tensor(name, params, ref, n, 1e-5);
            for (size_t i = 0; i < n; i++) { // the change since the start: a far stricter comparison
                delta[i] = params[i] - init[i];
                ref_delta[i] = ref[i] - init[i];
            }
            snprintf(name, sizeof(name), "params - initial params, step %d", t);
            check_tensor(name, delta, ref_delta, n, 1e-5);
        }
    }
    check(worst_norm < 1e-5, "grad norm = clip_grad_norm_'s total_norm every step (worst rel %.2e; %d of %d clipped)",
          worst_norm, clipped, steps);
    check(clipped > 0 && clipped < steps, "the fixture exercises both clipped and unclipped steps");
    check(worst_lr < 1e-6, "lr = get_cosine_schedule_with_warmup every step (worst rel %.2e)", worst_lr);
    check_tensor("AdamW first moment m after 20 steps", m, blob + offset_of(meta, "m_final"), n, 1e-5);
    check_tensor("AdamW second moment v after 20 steps", v, blob + offset_of(meta, "v_final"), n, 1e-5);
    check_tensor("params after 20 steps vs fused AdamW (Trainer default)", params,
                 blob + offset_of(meta, "params_final_fused"), n, 1e-5);
    free(params), free(grads), free(m), free(v), free(delta), free(ref_delta);
}

// optimizer_step, the whole update, with two bad steps slipped in (a NaN gradient, an infinite
// loss): they must be skipped without a trace, so the 20 good steps still end on torch's weights.
static void test_optimizer_step(const Json* meta, const float* blob) {
    Qwen2Config c = fixture_config(meta);
    size_t n = param_count(&c);
    if (n != (size_t)jnum(meta, "n")) {
        return;
    }
    int steps = (int)jnum(meta, "steps");
    Optimizer o = {0};
    o.adamw = (AdamWConfig){(float)jnum(meta, "beta1"), (float)jnum(meta, "beta2"), (float)jnum(meta, "eps"),
                            (float)jnum(meta, "weight_decay")};
    o.schedule = lr_schedule_make(LR_COSINE, (float)jnum(meta, "lr"), (int)jnum(meta, "warmup_steps"), steps);
    o.max_grad_norm = (float)jnum(meta, "max_grad_norm");
    float* params = (float*)malloc_check(n * sizeof(float));
    float* grads = (float*)malloc_check(n * sizeof(float));
    float* m = (float*)calloc_check(n, sizeof(float));
    float* v = (float*)calloc_check(n, sizeof(float));
    memcpy(params, blob + offset_of(meta, "init"), n * sizeof(float));
    int applied = 0, skipped_ok = 1;
    for (int t = 1; t <= steps; t++) {
        if (t == 5 || t == 9) { // a bad step first
            float* before = (float*)malloc_check(n * sizeof(float));
            memcpy(before, params, n * sizeof(float));
            memcpy(grads, blob + offset_of(meta, "grad_1"), n * sizeof(float));
            if (t == 5) {
                grads[n / 2] = NAN;
            }
            int did = optimizer_step(&o, &c, params, grads, m, v, t == 9 ? INFINITY : 1.0f);
            skipped_ok &= !did && memcmp(before, params, n * sizeof(float)) == 0 && o.consecutive_skips == 1;
            free(before);
        }
        char key[32];
        snprintf(key, sizeof(key), "grad_%d", t);
        memcpy(grads, blob + offset_of(meta, key), n * sizeof(float));
        applied += optimizer_step(&o, &c, params, grads, m, v, 2.0f);
        double ref_lr = json_get(meta, "lr_per_step")->items[t - 1].number;
        skipped_ok &= fabs(o.last_lr - ref_lr) <= 1e-6 * (float)jnum(meta, "lr");
    }
    check(skipped_ok && applied == steps && o.updates == steps && o.total_skips == 2 && o.consecutive_skips == 0,
          "optimizer_step: bad steps skipped (params, step count and schedule untouched), %d applied, %d skipped",
          applied, o.total_skips);
    check_tensor("optimizer_step: params after 20 good steps + 2 bad", params, blob + offset_of(meta, "params_20"), n,
                 1e-5);
    free(params), free(grads), free(m), free(v);
}

static const char* resume_path;
static size_t resume_n;
static void load_wrong_size(void* arg) {
    Optimizer o = {0};
    float* buf = (float*)calloc_check(2 * resume_n, sizeof(float));
    optimizer_load(resume_path, &o, buf, buf + resume_n, resume_n);
}

// Resume: 10 steps, save, load into fresh buffers, 10 more steps: bit-identical to 20 straight steps.
static void test_resume(const Json* meta, const float* blob) {
    Qwen2Config c = fixture_config(meta);
    size_t n = param_count(&c);
    Optimizer o = {0}, o2;
    o.adamw = (AdamWConfig){(float)jnum(meta, "beta1"), (float)jnum(meta, "beta2"), (float)jnum(meta, "eps"),
                            (float)jnum(meta, "weight_decay")};
    o.schedule = lr_schedule_make(LR_COSINE, (float)jnum(meta, "lr"), (int)jnum(meta, "warmup_steps"), 20);
    o.max_grad_norm = (float)jnum(meta, "max_grad_norm");
    o2 = o;
    float *p1 = (float*)malloc_check(n * sizeof(float)), *p2 = (float*)malloc_check(n * sizeof(float));
    float *m1 = (float*)calloc_check(n, sizeof(float)), *v1 = (float*)calloc_check(n, sizeof(float));
    float *m2 = (float*)calloc_check(n, sizeof(float)), *v2 = (float*)calloc_check(n, sizeof(float));
    float* g = (float*)malloc_check(n * sizeof(float));
    memcpy(p1, blob + offset_of(meta, "init"), n * sizeof(float));
    memcpy(p2, p1, n * sizeof(float));
    char path[] = "/tmp/r1_test_optim_XXXXXX";
    close(mkstemp(path));
    for (int t = 1; t <= 20; t++) {
        char key[32];
        snprintf(key, sizeof(key), "grad_%d", t);
        memcpy(g, blob + offset_of(meta, key), n * sizeof(float));
        optimizer_step(&o, &c, p1, g, m1, v1, 1.0f);
        if (t == 10) { // stop here and come back with fresh buffers (the weights travel in the checkpoint)
            optimizer_save(path, &o, m1, v1, n);
            memcpy(p2, p1, n * sizeof(float));
            optimizer_load(path, &o2, m2, v2, n);
        } else if (t > 10) {
            memcpy(g, blob + offset_of(meta, key), n * sizeof(float));
            optimizer_step(&o2, &c, p2, g, m2, v2, 1.0f);
        }
    }
    check(o2.updates == 20 && memcmp(p1, p2, n * sizeof(float)) == 0 && memcmp(m1, m2, n * sizeof(float)) == 0 &&
              memcmp(v1, v2, n * sizeof(float)) == 0,
          "resume: save at step 10, load, 10 more steps = 20 straight steps, bit for bit");
    char msg[512];
    free(p1), free(p2), free(m1), free(v1), free(m2), free(v2), free(g);
    resume_path = path;
    resume_n = n + 1;
    check(expect_fatal(load_wrong_size, NULL, "was it saved for a model of another size", msg, sizeof(msg)),
          "optimizer state of another model size is refused: %s", msg);
    remove(path);
}

// The non-finite guard: a NaN gradient or an infinite loss skips the update and is counted.
static void test_nonfinite(void) {
    float g[5] = {0.5f, -1.0f, NAN, 2.0f, 0.25f};
    float before[5];
    memcpy(before, g, sizeof(g));
    float norm = clip_grad_norm(g, 5, 1.0f);
    check(isnan(norm) && memcmp(g, before, sizeof(g)) == 0, "NaN gradient: norm is NaN and gradients are left alone");
    int skips = 0;
    int a = update_is_finite(1.0f, norm, &skips);
    int b = update_is_finite(INFINITY, 1.0f, &skips);
    int c = update_is_finite(NAN, 1.0f, &skips);
    check(!a && !b && !c && skips == 3, "NaN norm, inf loss, NaN loss: all skipped, 3 consecutive skips counted");
    int d = update_is_finite(2.5f, 0.7f, &skips);
    check(d && skips == 0, "a finite step applies and resets the consecutive-skip count");
    g[2] = INFINITY;
    check(isinf(clip_grad_norm(g, 5, 1.0f)), "an infinite gradient gives an infinite norm");
}

static void test_schedules(void) {
    if (!file_exists(FIX "schedules.json")) {
        check(0, "fixture " FIX "schedules.json present (run dev/oracle/optim_oracle.py)");
        return;
    }
    Json* fx = json_load_file(FIX "schedules.json");
    const Json* cases = json_get(fx, "cases");
    for (size_t k = 0; k < cases->len; k++) {
        const Json* cs = &cases->items[k];
        const char* name = json_get_string(cs, "name");
        LrSchedule s = lr_schedule_make(lr_schedule_from_name(name), (float)jnum(cs, "lr"),
                                        (int)jnum(cs, "warmup_steps"), (int)jnum(cs, "total_steps"));
        s.num_cycles = (float)jnum(cs, "num_cycles");
        s.min_lr_rate = jnum(cs, "min_lr") > 0 ? (float)(jnum(cs, "min_lr") / jnum(cs, "lr")) : (float)jnum(cs, "min_lr_rate");
        const Json* lrs = json_get(cs, "lrs");
        double worst = 0;
        for (size_t i = 0; i < lrs->len; i++) {
            double ref = lrs->items[i].number, got = lr_at_step(&s, (int)i);
            worst = fmax(worst, fabs(got - ref) / s.lr); // relative to the peak, so the zeros count too
        }
        check(worst < 1e-6, "schedule %-20s warmup %2d total %2d: %zu steps, worst err %.2e of peak lr", name,
              s.warmup_steps, s.total_steps, lrs->len, worst);
    }
    const Json* warm = json_get(fx, "warmup");
    int bad = 0;
    for (size_t k = 0; k < warm->len; k++) {
        const Json* w = &warm->items[k];
        bad += lr_warmup_steps(jnum(w, "warmup"), (int)jnum(w, "total")) != (int)jnum(w, "steps");
    }
    check(bad == 0, "warmup fraction rounds as TrainingArguments.get_warmup_steps (%zu cases)", warm->len);
    json_free(fx);
}

// ----------------------------------------------------------------------------
// ZeRO-1 (data parallel, sharded optimizer): r1.h's optimizer_step_zero1_virtual over R virtual
// ranks against optimizer_step on the gradients summed over the ranks. The expected values come from
// r1.h's own unsharded optimizer: it is the oracle here, itself checked against torch.optim.AdamW
// and clip_grad_norm_ above (test_adamw, test_optimizer_step). What may differ: only the order in
// which the squared norm is summed (shard by shard instead of one OpenMP reduction), so without
// clipping the sharded update must be bit-identical, and with clipping the coefficient (and so the
// update) may differ in the last bit: within 1e-6 relative.

// Shards cover [0, n) exactly once, in rank order, each non-empty one starting at a multiple of 64.
static void test_zero1_shards(void) {
    size_t ns[] = {0, 1, 37, 63, 64, 65, 141, 4099, 1000003};
    int bad = 0, cases = 0, empty = 0;
    for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
        for (int world = 1; world <= 8; world++) {
            size_t n = ns[k], next = 0, size = zero1_shard_size(n, world), padded = zero1_padded_count(n, world);
            for (int r = 0; r < world; r++) {
                size_t b, e;
                zero1_shard(n, r, world, &b, &e);
                // an empty shard sits at n, unaligned; the others start at a multiple of 64
                bad += b != next || e < b || e > n || (b < e && b % 64 != 0) || e - b > size;
                bad += b < n && b != (size_t)r * size; // NCCL's offset of rank r's part: r * shard size
                empty += b == e;
                next = e;
            }
            bad += next != n || padded < n || size % 64 != 0 || padded - n >= (size_t)64 * world;
            cases++;
        }
    }
    check(bad == 0 && empty > 0, "zero1_shard: %d (n, world) cases, shards contiguous in rank order, 64-aligned, "
          "covering [0, n) once (%d empty shards among them)", cases, empty);
}

// R virtual ranks, 4 steps (the third one with a NaN in one rank's gradients: skipped by both),
// against optimizer_step on the summed gradients. Each rank keeps its own weights and only its
// shard's moments.
static void test_zero1_case(const char* what, const Qwen2Config* c, int R, float max_grad_norm, uint64_t* rng) {
    size_t n = param_count(c);
    Optimizer ref = {0};
    ref.adamw = (AdamWConfig){0.9f, 0.999f, 1e-8f, 0.1f}; // decay on, so the per-tensor mask matters
    ref.schedule = lr_schedule_make(LR_COSINE, 1e-2f, 0, 10);
    ref.max_grad_norm = max_grad_norm;
    Optimizer zo = ref;
    float* p = (float*)malloc_check(n * sizeof(float));
    float* g = (float*)malloc_check(n * sizeof(float));
    float* m = (float*)calloc_check(n, sizeof(float));
    float* v = (float*)calloc_check(n, sizeof(float));
    for (size_t i = 0; i < n; i++) {
        p[i] = 2.0f * random_f32(rng) - 1.0f;
    }
    float *rp[8], *rg[8], *rm[8], *rv[8];
    size_t b[8], e[8];
    for (int r = 0; r < R; r++) {
        zero1_shard(n, r, R, &b[r], &e[r]);
        rp[r] = (float*)malloc_check(n * sizeof(float));
        rg[r] = (float*)malloc_check(n * sizeof(float));
        memcpy(rp[r], p, n * sizeof(float));
        rm[r] = (float*)calloc_check(e[r] - b[r] + 1, sizeof(float)); // the shard's moments only
        rv[r] = (float*)calloc_check(e[r] - b[r] + 1, sizeof(float));
    }
    float* p0 = (float*)malloc_check(n * sizeof(float));
    memcpy(p0, p, n * sizeof(float));
    int same_applied = 1, norms_exact = 1;
    double worst_norm = 0.0;
    for (int step = 1; step <= 4; step++) {
        for (int r = 0; r < R; r++) {
            for (size_t i = 0; i < n; i++) {
                rg[r][i] = (2.0f * random_f32(rng) - 1.0f) * 0.1f;
            }
        }
        if (step == 3) {
            rg[R - 1][n / 2] = NAN;
        }
        for (size_t i = 0; i < n; i++) { // the summed gradients, in rank order
            float s = rg[0][i];
            for (int q = 1; q < R; q++) {
                s += rg[q][i];
            }
            g[i] = s;
        }
        int a = optimizer_step(&ref, c, p, g, m, v, 1.0f);
        int z = optimizer_step_zero1_virtual(&zo, c, R, rp, rg, rm, rv, 1.0f);
        same_applied &= a == z && a == (step != 3);
        if (step != 3) {
            worst_norm = fmax(worst_norm, fabs((double)zo.last_grad_norm - ref.last_grad_norm) / ref.last_grad_norm);
            norms_exact &= zo.last_grad_norm == ref.last_grad_norm;
        }
    }
    check(same_applied && zo.updates == ref.updates && zo.total_skips == 1 && zo.last_lr == ref.last_lr,
          "zero1 %s R=%d: same steps applied and skipped (the NaN step), same lr", what, R);
    // every rank's weights: the change since the start, compared (the weights themselves would hide it)
    float* dz = (float*)malloc_check(n * sizeof(float));
    float* dref = (float*)malloc_check(n * sizeof(float));
    int bits_params = 1, bits_m = 1, bits_v = 1;
    double worst = 0.0;
    for (int r = 0; r < R; r++) {
        bits_params &= memcmp(rp[r], p, n * sizeof(float)) == 0;
        bits_m &= e[r] == b[r] || memcmp(rm[r], m + b[r], (e[r] - b[r]) * sizeof(float)) == 0;
        bits_v &= e[r] == b[r] || memcmp(rv[r], v + b[r], (e[r] - b[r]) * sizeof(float)) == 0;
        for (size_t i = 0; i < n; i++) {
            dz[i] = rp[r][i] - p0[i], dref[i] = p[i] - p0[i];
        }
        worst = fmax(worst, rel_error(dz, dref, n, NULL));
    }
    if (max_grad_norm <= 0.0f) {
        check(bits_params && bits_m && bits_v && norms_exact,
              "zero1 %s R=%d, no clipping, n=%zu: every rank's weights, the sharded m and v and the norm = "
              "optimizer_step's, bit for bit", what, R, n);
    } else {
        check(worst <= 1e-6 && worst_norm <= 1e-6,
              "zero1 %s R=%d, clipped, n=%zu: weight updates rel %.2e, norm rel %.2e (tol 1e-6: the norm is "
              "summed shard by shard; bit-identical here: %s)", what, R, n, worst, worst_norm,
              bits_params && bits_m && bits_v ? "yes" : "no");
    }
    for (int r = 0; r < R; r++) {
        free(rp[r]), free(rg[r]), free(rm[r]), free(rv[r]);
    }
    free(p), free(g), free(m), free(v), free(p0), free(dz), free(dref);
}

static void test_zero1(void) {
    test_zero1_shards();
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    Qwen2Config tiny;
    config_tiny(&tiny, &tok);
    tokenizer_free(&tok);
    // an odd n with an untied head (lm_head decays too): 141 parameters, so with 5 ranks the last two
    // shards are empty and tensors straddle every shard boundary
    Qwen2Config odd;
    memset(&odd, 0, sizeof(odd));
    odd.hidden_size = 3, odd.intermediate_size = 5, odd.num_layers = 1, odd.num_heads = 1, odd.num_kv_heads = 1;
    odd.head_dim = 3, odd.vocab_size = 7, odd.tie_word_embeddings = 0;
    uint64_t rng = rng_seed(7);
    int Rs[4] = {1, 2, 3, 5};
    for (int k = 0; k < 4; k++) {
        test_zero1_case("tiny model", &tiny, Rs[k], 0.0f, &rng);
        test_zero1_case("tiny model", &tiny, Rs[k], 1.0f, &rng);
        test_zero1_case("odd n", &odd, Rs[k], 0.0f, &rng);
        test_zero1_case("odd n", &odd, Rs[k], 0.05f, &rng);
    }
}

static void bad_schedule_name(void* arg) { lr_schedule_from_name((const char*)arg); }

int main(void) {
    test_zero1(); // needs no fixtures
    if (!file_exists(FIX "adamw.json") || !file_exists(FIX "adamw.bin")) {
        check(0, "fixtures " FIX "adamw.{json,bin} present (run dev/oracle/optim_oracle.py)");
        return test_summary("test_optim");
    }
    Json* meta = json_load_file(FIX "adamw.json");
    size_t nblob;
    float* blob = load_floats(FIX "adamw.bin", &nblob);
    test_decay_mask(meta);
    test_adamw(meta, blob, nblob);
    test_optimizer_step(meta, blob);
    test_resume(meta, blob);
    test_nonfinite();
    test_schedules();
    char msg[512];
    check(expect_fatal(bad_schedule_name, (void*)"cosine_restarts", "unknown lr schedule", msg, sizeof(msg)),
          "unknown schedule name is a clear error: %s", msg);
    free(blob);
    json_free(meta);
    return test_summary("test_optim");
}
