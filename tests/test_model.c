/*
tests/test_model.c: the Qwen2.5 layers of r1.h against Hugging Face transformers.

    tests/test_model                      every case under tests/fixtures/model/
    tests/test_model MODEL_DIR FIXTURE    one model folder and its fixture file

Each case is a tiny random Qwen2ForCausalLM saved by transformers (config.json + model.safetensors)
and a fixture.safetensors written by dev/oracle/make_model_fixtures.py: the batch (input_ids,
position_ids with packed documents, labels with -100), and PyTorch's logits, loss, per-token
log-probs and the gradient of every parameter after loss.backward(). We check logits, log-probs and
loss within 1e-5 relative and every gradient within 1e-4 relative (||ours - theirs|| / ||theirs||),
through qwen2_backward and through qwen2_backward_from_dlogits (the entry point of other losses).

Two checks need no oracle: matmul against a plain float64 triple loop on awkward sizes (every tile
edge), and central finite differences of the loss in float64 arithmetic on the parameters with the
largest gradient of each tensor, which would catch a backward pass that is wrong in the same way as
a wrong fixture.
*/
#include "test.h"

#define TOL_LOGITS 1e-5
#define TOL_GRAD 1e-4

// A whole tensor of a fixture file, as fp32 (or int32 with ints != NULL); fatal when missing.
static float* fixture_f32(const Safetensors* st, const char* name, size_t* numel) {
    const SafetensorsEntry* e = safetensors_find(st, name);
    if (e == NULL) {
        fatal("%s: no tensor \"%s\" (regenerate with python3 dev/oracle/make_model_fixtures.py)", st->path, name);
    }
    float* out = (float*)malloc_check(safetensors_numel(e) * sizeof(float));
    safetensors_read_f32(st, e, out);
    if (numel) {
        *numel = safetensors_numel(e);
    }
    return out;
}

static int* fixture_i32(const Safetensors* st, const char* name, int* B, int* T) {
    const SafetensorsEntry* e = safetensors_find(st, name);
    if (e == NULL || e->ndim != 2) {
        fatal("%s: no 2-d tensor \"%s\"", st->path, name);
    }
    int* out = (int*)malloc_check(safetensors_numel(e) * sizeof(int));
    safetensors_read_i32(st, e, (int32_t*)out);
    *B = (int)e->shape[0];
    *T = (int)e->shape[1];
    return out;
}

static const char* base_name(const char* path) {
    const char* s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

// --- finite differences ------------------------------------------------------------

// The loss for the batch, recomputed in float64 from our fp32 logits. Each forward pass is fp32,
// so the differences below use steps large enough that rounding noise (~1e-7 of the loss) stays
// well under the tolerance, with Richardson extrapolation removing the O(h^2) truncation error.
static double loss_at(Qwen2* m, const int* ids, const int* pos, const int* labels, int B, int T, float* w,
                      double value) {
    float saved = *w;
    *w = (float)value;
    qwen2_forward(m, ids, pos, labels, B, T);
    *w = saved;
    int V = m->config.vocab_size;
    double sum = 0.0;
    int n = 0;
    for (int i = 0; i < B * T; i++) {
        if (m->targets[i] == IGNORE_INDEX) {
            continue;
        }
        const float* x = m->acts.logits + (size_t)i * V;
        double mx = -INFINITY, s = 0.0;
        for (int j = 0; j < V; j++) {
            mx = x[j] > mx ? x[j] : mx;
        }
        for (int j = 0; j < V; j++) {
            s += exp((double)x[j] - mx);
        }
        sum += mx + log(s) - x[m->targets[i]];
        n++;
    }
    return sum / n;
}

static double central_difference(Qwen2* m, const int* ids, const int* pos, const int* labels, int B, int T, float* w,
                                 double h) {
    double w0 = *w;
    double d1 = (loss_at(m, ids, pos, labels, B, T, w, w0 + h) - loss_at(m, ids, pos, labels, B, T, w, w0 - h)) / (2 * h);
    double d2 = (loss_at(m, ids, pos, labels, B, T, w, w0 + h / 2) - loss_at(m, ids, pos, labels, B, T, w, w0 - h / 2)) / h;
    return (4 * d2 - d1) / 3; // Richardson: cancels the h^2 term
}

// For every parameter tensor of layer 0 and the last layer (and the unstacked ones), the element
// with the largest analytic gradient is checked against finite differences.
static void check_finite_differences(const char* name, Qwen2* m, const int* ids, const int* pos, const int* labels,
                                     int B, int T) {
    ModelTensor *params, *grads;
    int n = model_tensor_list(&m->config, &m->params, &params);
    model_tensor_list(&m->config, &m->grads, &grads);
    double worst = 0.0;
    int checked = 0, failed = 0;
    const double tol = 1e-2;
    char worst_name[160] = "";
    for (int i = 0; i < n; i++) {
        if (params[i].layer != 0 && params[i].layer != m->config.num_layers - 1) {
            continue;
        }
        size_t best = 0;
        for (size_t j = 1; j < grads[i].numel; j++) {
            if (fabsf(grads[i].data[j]) > fabsf(grads[i].data[best])) {
                best = j;
            }
        }
        double g = grads[i].data[best];
        double fd = central_difference(m, ids, pos, labels, B, T, params[i].data + best, 2e-2);
        double err = fabs(fd - g) / (fabs(g) + 1e-3);
        if (err > worst) {
            worst = err;
            snprintf(worst_name, sizeof(worst_name), "%s[%zu] analytic %.6g fd %.6g", params[i].name, best, g, fd);
        }
        failed += err > tol;
        checked++;
    }
    check(failed == 0 && checked > 0, "%s: finite differences (float64 loss) of %d parameters, worst rel %.2e at %s",
          name, checked, worst, worst_name);
    // the same comparison must reject a gradient that is 5%% off, or it proves nothing
    size_t j = 0;
    for (size_t k = 1; k < grads[0].numel; k++) {
        j = fabsf(grads[0].data[k]) > fabsf(grads[0].data[j]) ? k : j;
    }
    double fd = central_difference(m, ids, pos, labels, B, T, params[0].data + j, 2e-2);
    double wrong = 1.05 * grads[0].data[j];
    check(fabs(fd - wrong) / (fabs(wrong) + 1e-3) > tol, "%s: the finite-difference check rejects a gradient 5%% off",
          name);
    free(params);
    free(grads);
}

// --- one model + fixture pair -------------------------------------------------------

static void check_pair(const char* model_dir, const char* fixture_path, int finite_differences) {
    const char* name = base_name(model_dir);
    Qwen2 m;
    qwen2_load(&m, model_dir);
    Safetensors st;
    safetensors_open(&st, fixture_path);
    int B, T, B2, T2, B3, T3;
    int* ids = fixture_i32(&st, "input_ids", &B, &T);
    int* pos = fixture_i32(&st, "position_ids", &B2, &T2);
    int* labels = fixture_i32(&st, "labels", &B3, &T3);
    if (B2 != B || T2 != T || B3 != B || T3 != T) {
        fatal("%s: input_ids, position_ids and labels differ in shape", fixture_path);
    }
    size_t nlogits;
    float* ref_logits = fixture_f32(&st, "logits", &nlogits);
    float* ref_loss = fixture_f32(&st, "loss", NULL);
    int V = m.config.vocab_size;
    if (nlogits != (size_t)B * T * V) {
        fatal("%s: logits are not (B, T, V) = (%d, %d, %d)", fixture_path, B, T, V);
    }
    char label[160];

    // a smaller batch first (row 0 alone), so the full batch below has to grow the buffers
    qwen2_forward(&m, ids, pos, labels, 1, T);
    snprintf(label, sizeof(label), "%s: logits of row 0 alone", name);
    check_tensor(label, m.acts.logits, ref_logits, (size_t)T * V, TOL_LOGITS);

    qwen2_forward(&m, ids, pos, labels, B, T);
    snprintf(label, sizeof(label), "%s: logits (B=%d, T=%d, V=%d)", name, B, T, V);
    check_tensor(label, m.acts.logits, ref_logits, nlogits, TOL_LOGITS);
    float* ref_logprobs = fixture_f32(&st, "logprobs", NULL);
    snprintf(label, sizeof(label), "%s: per-token log-probs of the next label", name);
    check_tensor(label, m.acts.logprobs, ref_logprobs, (size_t)B * T, TOL_LOGITS);
    free(ref_logprobs);
    double loss_err = fabs((double)m.loss - ref_loss[0]) / fabs(ref_loss[0]);
    check(loss_err <= TOL_LOGITS, "%s: loss %.7f, transformers %.7f, rel %.3e (%d tokens counted)", name, m.loss,
          ref_loss[0], loss_err, m.num_targets);

    qwen2_zero_grad(&m);
    qwen2_backward(&m);
    ModelTensor* grads;
    int n = model_tensor_list(&m.config, &m.grads, &grads);
    int found = 0;
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        char key[128];
        snprintf(key, sizeof(key), "grad.%s", grads[i].name);
        size_t numel;
        float* ref = fixture_f32(&st, key, &numel);
        if (numel != grads[i].numel) {
            fatal("%s: %s has %zu values, expected %zu", fixture_path, key, numel, grads[i].numel);
        }
        double max_abs, rel = rel_error(grads[i].data, ref, numel, &max_abs);
        worst = rel > worst ? rel : worst;
        snprintf(label, sizeof(label), "%s: %s", name, key);
        check_tensor(label, grads[i].data, ref, numel, TOL_GRAD);
        free(ref);
        found++;
    }
    int in_file = 0;
    for (int i = 0; i < st.n; i++) {
        in_file += strncmp(st.entries[i].name, "grad.", 5) == 0;
    }
    check(found == in_file, "%s: all %d gradients of the fixture were compared (worst rel %.2e)", name, in_file, worst);

    // gradients accumulate over backward passes (micro-batches), and qwen2_zero_grad resets them
    qwen2_backward(&m);
    double acc_err = 0.0;
    for (int i = 0; i < n; i++) {
        char key[128];
        snprintf(key, sizeof(key), "grad.%s", grads[i].name);
        float* ref = fixture_f32(&st, key, NULL);
        for (size_t j = 0; j < grads[i].numel; j++) {
            ref[j] *= 2.0f;
        }
        double rel = rel_error(grads[i].data, ref, grads[i].numel, NULL);
        acc_err = rel > acc_err ? rel : acc_err;
        free(ref);
    }
    check(acc_err <= TOL_GRAD, "%s: a second backward adds the same gradients again (rel %.2e)", name, acc_err);

    // the entry point of other losses (GRPO): a forward without labels, the loss's gradient written
    // into qwen2_dlogits by the caller (here: cross-entropy's (softmax - onehot) / n, in double),
    // then qwen2_backward_from_dlogits; it must give transformers' gradients too
    qwen2_zero_grad(&m);
    qwen2_forward(&m, ids, pos, NULL, B, T);
    float* dlogits = qwen2_dlogits(&m);
    int counted = 0;
    for (int i = 0; i < B * T; i++) {
        counted += (i % T) + 1 < T && labels[i + 1] != IGNORE_INDEX;
    }
    for (int i = 0; i < B * T; i++) {
        int target = (i % T) + 1 < T ? labels[i + 1] : IGNORE_INDEX;
        const float* x = m.acts.logits + (size_t)i * V;
        double mx = -INFINITY, z = 0.0;
        for (int j = 0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
        for (int j = 0; j < V; j++) z += exp((double)x[j] - mx);
        for (int j = 0; j < V; j++) {
            double p = exp((double)x[j] - mx) / z;
            dlogits[(size_t)i * V + j] = target == IGNORE_INDEX ? 0.0f : (float)((p - (j == target)) / counted);
        }
    }
    qwen2_backward_from_dlogits(&m);
    double ext_err = 0.0;
    for (int i = 0; i < n; i++) {
        char key[128];
        snprintf(key, sizeof(key), "grad.%s", grads[i].name);
        float* ref = fixture_f32(&st, key, NULL);
        double rel = rel_error(grads[i].data, ref, grads[i].numel, NULL);
        ext_err = rel > ext_err ? rel : ext_err;
        free(ref);
    }
    check(ext_err <= TOL_GRAD, "%s: forward without labels + dlogits from the caller + qwen2_backward_from_dlogits "
          "gives the same gradients (worst rel %.2e)", name, ext_err);
    free(grads);

    if (finite_differences) {
        qwen2_zero_grad(&m);
        qwen2_forward(&m, ids, pos, labels, B, T);
        qwen2_backward(&m);
        check_finite_differences(name, &m, ids, pos, labels, B, T);
    }
    safetensors_close(&st);
    free(ids), free(pos), free(labels), free(ref_logits), free(ref_loss);
    qwen2_free(&m);
}

// --- matmul against float64 on awkward sizes ----------------------------------------------

static void check_matmul(int BT, int C, int OC, int with_bias) {
    uint64_t rng = rng_seed((uint64_t)BT * 7919 + C * 31 + OC);
    float* x = (float*)malloc_check((size_t)BT * C * sizeof(float));     // (BT, C)
    float* w = (float*)malloc_check((size_t)OC * C * sizeof(float));     // (OC, C)
    float* b = (float*)malloc_check((size_t)OC * sizeof(float));         // (OC)
    float* dy = (float*)malloc_check((size_t)BT * OC * sizeof(float));   // (BT, OC)
    float* y = (float*)malloc_check((size_t)BT * OC * sizeof(float));
    float* dx = (float*)malloc_check((size_t)BT * C * sizeof(float));
    float* dw = (float*)malloc_check((size_t)OC * C * sizeof(float));
    float* db = (float*)malloc_check((size_t)OC * sizeof(float));
    float *ry = (float*)malloc_check((size_t)BT * OC * sizeof(float)), *rdx = (float*)malloc_check((size_t)BT * C * sizeof(float));
    float *rdw = (float*)malloc_check((size_t)OC * C * sizeof(float)), *rdb = (float*)malloc_check((size_t)OC * sizeof(float));
    for (size_t i = 0; i < (size_t)BT * C; i++) x[i] = random_normal(&rng);
    for (size_t i = 0; i < (size_t)OC * C; i++) w[i] = random_normal(&rng);
    for (size_t i = 0; i < (size_t)OC; i++) b[i] = random_normal(&rng);
    for (size_t i = 0; i < (size_t)BT * OC; i++) dy[i] = random_normal(&rng);
    // references in float64; the backward ones start from 1 to check that matmul_backward adds
    for (int i = 0; i < BT; i++) {
        for (int o = 0; o < OC; o++) {
            double s = with_bias ? b[o] : 0.0;
            for (int k = 0; k < C; k++) s += (double)x[(size_t)i * C + k] * w[(size_t)o * C + k];
            ry[(size_t)i * OC + o] = (float)s;
        }
        for (int k = 0; k < C; k++) {
            double s = 1.0;
            for (int o = 0; o < OC; o++) s += (double)dy[(size_t)i * OC + o] * w[(size_t)o * C + k];
            rdx[(size_t)i * C + k] = (float)s;
        }
    }
    for (int o = 0; o < OC; o++) {
        double sb = 1.0;
        for (int i = 0; i < BT; i++) sb += dy[(size_t)i * OC + o];
        rdb[o] = (float)sb;
        for (int k = 0; k < C; k++) {
            double s = 1.0;
            for (int i = 0; i < BT; i++) s += (double)dy[(size_t)i * OC + o] * x[(size_t)i * C + k];
            rdw[(size_t)o * C + k] = (float)s;
        }
    }
    for (size_t i = 0; i < (size_t)BT * OC; i++) y[i] = NAN; // poisoned: every output must be written
    for (size_t i = 0; i < (size_t)BT * C; i++) dx[i] = 1.0f;
    for (size_t i = 0; i < (size_t)OC * C; i++) dw[i] = 1.0f;
    for (size_t i = 0; i < (size_t)OC; i++) db[i] = 1.0f;
    matmul_forward(y, x, w, with_bias ? b : NULL, BT, C, OC);
    matmul_backward(dx, dw, with_bias ? db : NULL, dy, x, w, BT, C, OC);
    char label[128];
    snprintf(label, sizeof(label), "matmul_forward  BT=%d C=%d OC=%d%s", BT, C, OC, with_bias ? " +bias" : "");
    check_tensor(label, y, ry, (size_t)BT * OC, 1e-6);
    snprintf(label, sizeof(label), "matmul_backward dinp BT=%d C=%d OC=%d", BT, C, OC);
    check_tensor(label, dx, rdx, (size_t)BT * C, 1e-6);
    snprintf(label, sizeof(label), "matmul_backward dweight BT=%d C=%d OC=%d", BT, C, OC);
    check_tensor(label, dw, rdw, (size_t)OC * C, 1e-6);
    if (with_bias) {
        snprintf(label, sizeof(label), "matmul_backward dbias BT=%d C=%d OC=%d", BT, C, OC);
        check_tensor(label, db, rdb, (size_t)OC, 1e-6);
    }
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
    free(ry), free(rdx), free(rdw), free(rdb);
}

// --- bad input ---------------------------------------------------------------------

static void forward_bad_token(void* arg) {
    Qwen2* m = (Qwen2*)arg;
    int ids[2] = {0, m->config.vocab_size}, pos[2] = {0, 1};
    qwen2_forward(m, ids, pos, NULL, 1, 2);
}

static void forward_bad_label(void* arg) {
    Qwen2* m = (Qwen2*)arg;
    int ids[2] = {0, 1}, pos[2] = {0, 1}, labels[2] = {0, -5};
    qwen2_forward(m, ids, pos, labels, 1, 2);
}

static void backward_without_labels(void* arg) {
    qwen2_backward((Qwen2*)arg);
}

// The children of expect_fatal must fail before any OpenMP parallel region: libgomp's thread pool
// does not survive fork(), so a child entering one would hang. qwen2_forward checks its inputs first.
static void check_bad_input(const char* model_dir) {
    Qwen2 m;
    qwen2_load(&m, model_dir);
    char msg[512];
    int ok = expect_fatal(forward_bad_token, &m, "outside the vocabulary", msg, sizeof(msg));
    check(ok, "a token id past the vocabulary is refused: %s", msg);
    ok = expect_fatal(forward_bad_label, &m, "outside the vocabulary", msg, sizeof(msg));
    check(ok, "a label that is neither a token nor -100 is refused: %s", msg);
    int ids[2] = {0, 1}, pos[2] = {0, 1};
    qwen2_forward(&m, ids, pos, NULL, 1, 2); // in this process; the child only calls backward
    ok = expect_fatal(backward_without_labels, &m, "no labels", msg, sizeof(msg));
    check(ok, "backward after a forward without labels is refused: %s", msg);
    qwen2_free(&m);
}

int main(int argc, char** argv) {
    if (argc == 3) {
        check_pair(argv[1], argv[2], 1);
        return test_summary("test_model");
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s [MODEL_DIR FIXTURE]\n", argv[0]);
        return 2;
    }
    char* bad_dir = path_join("tests/fixtures/model", "tied_gqa2_hd16");
    check_bad_input(bad_dir); // first: before this process has started OpenMP threads
    free(bad_dir);

    // tile edges: rows not a multiple of 8 (and below 16: the dot-product path), depth not a
    // multiple of 4 or past one depth slice, columns past one tile
    check_matmul(37, 301, 517, 1);
    check_matmul(3, 45, 70, 1);
    check_matmul(130, 64, 256, 0);
    check_matmul(16, 260, 9, 1);
    check_matmul(200, 300, 270, 1);

    const char* root = "tests/fixtures/model";
    const char* cases[] = {"tied_gqa2_hd16", "untied_mha_hd64", "untied_mha2_hd16", "tied_gqa7_hd16"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char* dir = path_join(root, cases[i]);
        char* fixture = path_join(dir, "fixture.safetensors");
        if (!file_exists(fixture)) {
            check(0, "%s is missing (run python3 dev/oracle/make_model_fixtures.py)", fixture);
        } else {
            check_pair(dir, fixture, i < 2); // finite differences on two models (they take a while)
        }
        free(dir);
        free(fixture);
    }
    return test_summary("test_model");
}
