/*
tests/test_sft.c: the SFT section of r1.h.

  1. the training step against PyTorch: tests/fixtures/sft/ (dev/oracle/sft_oracle.py) holds a tiny
     Qwen2 model, a fixed packed batch (2 micro-batches x 2 rows x 24 tokens) and what transformers +
     torch.optim.AdamW + clip_grad_norm_ + the cosine_with_min_lr schedule did with it in 8 steps;
     r1's per-step losses, gradient norms, learning rates and final weights must match within 1e-5
  2. rendering: the loss tokens of an example are exactly its assistant turn in R1 form + <|im_end|>
  3. packing: whole documents, position ids restarting at 0, labels only on loss tokens, every
     document once per epoch, a new order per epoch, (epoch, cursor) resumes the same stream
  4. the token cache: a round trip, rebuilt when the data, the template or the tokenizer change or
     the cache file is damaged
  5. checkpoints: latest/complete-folder logic, pruning; bad input gives clear errors: malformed
     jsonl (file:line), empty data, an output folder that cannot be written, a checkpoint of another
     model, an output folder with an earlier run's checkpoints
*/
#include "test.h"

#define FIX "tests/fixtures/sft"

static const SafetensorsEntry* need(const Safetensors* st, const char* name) {
    const SafetensorsEntry* e = safetensors_find(st, name);
    if (e == NULL) {
        fatal("%s: no tensor %s: run dev/oracle/sft_oracle.py", st->path, name);
    }
    return e;
}

// ---- 1. the step against PyTorch ----
static void test_oracle(void) {
    if (!dir_exists(FIX "/model_init")) {
        check(0, "fixtures missing: run python3 dev/oracle/sft_oracle.py");
        return;
    }
    Safetensors st;
    safetensors_open(&st, FIX "/steps.safetensors");
    const SafetensorsEntry* eids = need(&st, "input_ids");
    int A = (int)eids->shape[0], B = (int)eids->shape[1], T = (int)eids->shape[2];
    size_t n = (size_t)A * B * T;
    int* ids = (int*)malloc_check(n * sizeof(int));
    int* pos = (int*)malloc_check(n * sizeof(int));
    int* labels = (int*)malloc_check(n * sizeof(int));
    safetensors_read_i32(&st, eids, (int32_t*)ids);
    safetensors_read_i32(&st, need(&st, "position_ids"), (int32_t*)pos);
    safetensors_read_i32(&st, need(&st, "labels"), (int32_t*)labels);
    float settings[9], ref_loss[64], ref_norm[64], ref_lr[64];
    safetensors_read_f32(&st, need(&st, "settings"), settings);
    int steps = (int)settings[8];
    safetensors_read_f32(&st, need(&st, "loss"), ref_loss);
    safetensors_read_f32(&st, need(&st, "grad_norm"), ref_norm);
    safetensors_read_f32(&st, need(&st, "lr"), ref_lr);
    safetensors_close(&st);

    Qwen2 m, final;
    qwen2_load(&m, FIX "/model_init");
    qwen2_load(&final, FIX "/model_final");
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    SftOptions o;
    sft_options_default(&o);
    o.batch_size = B, o.seq_len = T, o.grad_accum = A, o.max_steps = steps;
    o.lr = settings[0], o.min_lr = settings[1], o.schedule = "cosine", o.warmup = settings[2];
    o.weight_decay = settings[3], o.max_grad_norm = settings[4];
    o.beta1 = settings[5], o.beta2 = settings[6], o.eps = settings[7];
    SftTokens dummy; // the loader needs data; this test fills the batch itself
    memset(&dummy, 0, sizeof(dummy));
    unsigned char one = 1;
    sft_tokens_add(&dummy, ids, &one, 1);
    SftTrainer tr;
    sft_trainer_init(&tr, &m, &tok, &dummy, &o);
    check(tr.optim.schedule.type == LR_COSINE_WITH_MIN_LR && tr.optim.schedule.warmup_steps == 2,
          "cosine with a min lr becomes cosine_with_min_lr, warmup %d steps", tr.optim.schedule.warmup_steps);
    float loss[64] = {0}, norm[64] = {0}, lr[64] = {0};
    if (steps < 1 || steps > 64) {
        fatal("%s/steps.safetensors: %d steps (1..64 expected): run dev/oracle/sft_oracle.py", FIX, steps);
    }
    for (int s = 0; s < steps; s++) {
        memcpy(tr.ids, ids, n * sizeof(int));
        memcpy(tr.pos, pos, n * sizeof(int));
        memcpy(tr.labels, labels, n * sizeof(int));
        sft_update(&tr);
        loss[s] = tr.loss, norm[s] = tr.optim.last_grad_norm, lr[s] = tr.optim.last_lr;
    }
    check_tensor("per-step loss vs transformers", loss, ref_loss, (size_t)steps, 1e-5);
    check_tensor("per-step gradient norm (before clipping) vs torch", norm, ref_norm, (size_t)steps, 1e-5);
    check_tensor("per-step lr vs cosine_with_min_lr", lr, ref_lr, (size_t)steps, 1e-6);
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        double e = fabs(loss[s] - ref_loss[s]) / fabs(ref_loss[s]);
        worst = e > worst ? e : worst;
    }
    check(worst < 1e-5, "every step's loss within 1e-5 relative (worst %.2e)", worst);
    check_tensor("weights after 8 AdamW steps vs torch.optim.AdamW", m.params_memory, final.params_memory,
                 m.num_parameters, 1e-5);
    // the same loss tokens in one micro-batch of 4 rows gives the same first step (accumulation is exact)
    Qwen2 m1;
    qwen2_load(&m1, FIX "/model_init");
    SftOptions o1 = o;
    o1.batch_size = A * B, o1.grad_accum = 1;
    SftTrainer t1;
    sft_trainer_init(&t1, &m1, &tok, &dummy, &o1);
    memcpy(t1.ids, ids, n * sizeof(int)), memcpy(t1.pos, pos, n * sizeof(int));
    memcpy(t1.labels, labels, n * sizeof(int));
    sft_update(&t1);
    check(fabsf(t1.loss - ref_loss[0]) < 1e-5f * ref_loss[0] && fabsf(t1.optim.last_grad_norm - ref_norm[0]) <
                                                                       1e-5f * ref_norm[0],
          "2 micro-batches of 2 rows = 1 batch of 4 rows (loss %.6f vs %.6f)", t1.loss, ref_loss[0]);
    sft_trainer_free(&t1), sft_trainer_free(&tr);
    qwen2_free(&m1), qwen2_free(&m), qwen2_free(&final);
    sft_tokens_free(&dummy);
    tokenizer_free(&tok);
    free(ids), free(pos), free(labels);
}

// ---- 2. rendering ----
static void test_render(void) {
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    SftExample ex;
    memset(&ex, 0, sizeof(ex));
    ex.system = (char*)"Be brief.";
    ex.prompt = (char*)"What is 2+3?";
    ex.thinking = (char*)"2+3 = 5";
    ex.answer = (char*)"5";
    int* ids;
    unsigned char* mask;
    int n = sft_encode(&tok, &ex, sft_template("r1"), &ids, &mask);
    // the loss tokens, decoded, must be the assistant content in R1 form and the closing <|im_end|>
    int* kept = (int*)malloc_check((size_t)n * sizeof(int));
    int k = 0, runs = 0;
    for (int i = 0; i < n; i++) {
        if (mask[i]) {
            kept[k++] = ids[i];
            runs += i == 0 || !mask[i - 1];
        }
    }
    char* text = tokenizer_decode(&tok, kept, (size_t)k, 0, NULL);
    check(strcmp(text, "<think>\n2+3 = 5\n</think>\n<answer>\n5\n</answer><|im_end|>") == 0 && runs == 1,
          "loss tokens are the assistant turn in R1 form + <|im_end|>, one span: '%s'", text);
    char* all = tokenizer_decode(&tok, ids, (size_t)n, 0, NULL);
    check(strcmp(all, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+3?<|im_end|>\n"
                      "<|im_start|>assistant\n<think>\n2+3 = 5\n</think>\n<answer>\n5\n</answer><|im_end|>\n") == 0,
          "the whole document is ChatML with the system, user and assistant turns");
    free(text), free(all), free(ids), free(mask);
    n = sft_encode(&tok, &ex, sft_template("countdown"), &ids, &mask);
    k = 0;
    for (int i = 0; i < n; i++) {
        if (mask[i]) {
            kept[k++] = ids[i];
        }
    }
    text = tokenizer_decode(&tok, kept, (size_t)k, 0, NULL);
    check(strcmp(text, "Let me solve this step by step.\n<think>\n2+3 = 5\n</think>\n<answer> 5 </answer><|im_end|>") ==
              0,
          "countdown template: TinyZero's prefix, the answer on the last line");
    free(text), free(ids), free(mask), free(kept);
    tokenizer_free(&tok);
}

// ---- 3. packing ----
static void make_docs(SftTokens* d, int n_docs, uint64_t seed) {
    memset(d, 0, sizeof(*d));
    uint64_t rng = rng_seed(seed);
    int ids[64];
    unsigned char mask[64];
    for (int i = 0; i < n_docs; i++) {
        int len = 3 + (int)(random_u32(&rng) % 14); // 3..16 tokens
        if (i == 5) {
            len = 40; // longer than T below: truncated
        }
        for (int j = 0; j < len; j++) {
            ids[j] = 1000 * (i + 1) + j; // the id says which document and where: easy to check
            mask[j] = j >= len / 2;
        }
        sft_tokens_add(d, ids, mask, (size_t)len);
    }
}

static void test_packing(void) {
    SftTokens d;
    make_docs(&d, 30, 3);
    int T = 24;
    SftLoader l;
    sft_loader_init(&l, &d, T, 7, 42, 1);
    int ids[24], pos[24], labels[24];
    int* seen = (int*)calloc_check(d.n_docs, sizeof(int));
    int ok_pos = 1, ok_labels = 1, ok_whole = 1, rows = 0, first_order[30];
    for (int i = 0; i < 30; i++) {
        first_order[i] = (int)l.order[i];
    }
    while (l.epoch == 0) {
        sft_loader_next_row(&l, ids, pos, labels, 0);
        rows++;
        for (int t = 0; t < T; t++) {
            if (ids[t] == 7) { // padding
                ok_labels &= labels[t] == IGNORE_INDEX && pos[t] == 0;
                continue;
            }
            int doc = ids[t] / 1000 - 1, j = ids[t] % 1000;
            size_t len = d.docs[doc + 1] - d.docs[doc];
            ok_pos &= pos[t] == j;
            ok_labels &= labels[t] == ((d.flags[d.docs[doc] + j] & SFT_LOSS) ? ids[t] : IGNORE_INDEX);
            if (j == 0) {
                seen[doc]++;
                // a whole document (or its first T tokens) follows
                size_t want = len < (size_t)T ? len : (size_t)T;
                for (size_t q = 0; q < want; q++) {
                    ok_whole &= t + (int)q < T && ids[t + q] == ids[t] + (int)q;
                }
            }
        }
    }
    int once = 1;
    for (size_t i = 0; i < d.n_docs; i++) {
        once &= seen[i] == 1;
    }
    check(ok_pos, "position ids restart at 0 at each document and count its tokens");
    check(ok_labels, "labels = the token on loss tokens, -100 on prompt tokens and padding");
    check(ok_whole && once, "each document appears once per epoch, whole, in %d rows", rows);
    check(l.truncated == 1, "the document longer than T is truncated and counted (%zu)", l.truncated);
    int differs = 0;
    for (int i = 0; i < 30; i++) {
        differs += first_order[i] != (int)l.order[i];
    }
    check(differs > 0, "a new epoch visits the documents in a new order");
    // resuming at (epoch, cursor) gives the same stream as going on
    SftLoader a, b;
    sft_loader_init(&a, &d, T, 7, 9, 1);
    int ia[24], pa[24], la[24], ib[24], pb[24], lb[24];
    for (int r = 0; r < 37; r++) {
        sft_loader_next_row(&a, ia, pa, la, 0);
    }
    sft_loader_init(&b, &d, T, 7, 9, 1);
    sft_loader_seek(&b, a.epoch, a.cursor);
    int same = 1;
    for (int r = 0; r < 25; r++) {
        sft_loader_next_row(&a, ia, pa, la, 0);
        sft_loader_next_row(&b, ib, pb, lb, 0);
        same &= memcmp(ia, ib, sizeof(ia)) == 0 && memcmp(pa, pb, sizeof(pa)) == 0 && memcmp(la, lb, sizeof(la)) == 0;
    }
    check(same && a.epoch > 0, "a loader positioned at (epoch %d, cursor) continues the same rows", a.epoch);
    check(sft_rows_per_epoch(&d, T, 42) == (size_t)rows, "sft_rows_per_epoch counts epoch 0's rows (%d)", rows);
    free(seen);
    sft_loader_free(&l), sft_loader_free(&a), sft_loader_free(&b);
    sft_tokens_free(&d);
}

// ---- 4. the token cache ----
static void write_text(const char* path, const char* text) {
    FILE* f = fopen_check(path, "wb");
    fputs(text, f);
    fclose(f);
}

static int tokens_equal(const SftTokens* a, const SftTokens* b) {
    return a->n == b->n && a->n_docs == b->n_docs && memcmp(a->tokens, b->tokens, a->n * 4) == 0 &&
           memcmp(a->flags, b->flags, a->n) == 0 && memcmp(a->docs, b->docs, (a->n_docs + 1) * sizeof(size_t)) == 0;
}

static char tmpdir[256];

static void test_cache(void) {
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    char* data = path_join(tmpdir, "d.jsonl");
    char* cache = path_join(tmpdir, "d.jsonl.r1tok");
    write_text(data, "{\"question\": \"1+1?\", \"answer\": \"one and one #### 2\"}\n"
                     "{\"prompt\": \"hi\", \"thinking\": \"greet\", \"answer\": \"hello\"}\n");
    SftTokens a, b;
    int c1 = sft_tokens_load(&tok, data, sft_template("r1"), 0, 1, &a);
    int c2 = sft_tokens_load(&tok, data, sft_template("r1"), 0, 1, &b);
    check(!c1 && c2 && file_exists(cache) && tokens_equal(&a, &b) && a.n_docs == 2,
          "the second load reads the cache, and gets the same tokens");
    sft_tokens_free(&b);
    int c3 = sft_tokens_load(&tok, data, sft_template("answer"), 0, 1, &b);
    check(!c3 && !tokens_equal(&a, &b), "another template: the cache is rebuilt");
    sft_tokens_free(&b);
    sft_tokens_load(&tok, data, sft_template("r1"), 0, 1, &b); // back to r1
    sft_tokens_free(&b);
    Tokenizer tok2;
    tokenizer_init_bytes(&tok2);
    free(tok2.default_system);
    tok2.default_system = strdup_check("You are a tester.");
    int c4 = sft_tokens_load(&tok2, data, sft_template("r1"), 0, 1, &b);
    check(!c4 && b.n != a.n, "another tokenizer: the cache is rebuilt");
    sft_tokens_free(&b);
    tokenizer_free(&tok2);
    sft_tokens_load(&tok, data, sft_template("r1"), 0, 1, &b);
    sft_tokens_free(&b);
    write_text(data, "{\"question\": \"1+1?\", \"answer\": \"one and one #### 2\"}\n"
                     "{\"prompt\": \"hi\", \"thinking\": \"greet\", \"answer\": \"hello!\"}\n");
    int c5 = sft_tokens_load(&tok, data, sft_template("r1"), 0, 1, &b);
    check(!c5 && b.n == a.n + 1, "the data file changed: the cache is rebuilt");
    sft_tokens_free(&b);
    // a damaged cache (cut short) is rebuilt, not trusted and not fatal
    size_t size;
    char* bytes = read_file(cache, &size);
    FILE* f = fopen_check(cache, "wb");
    fwrite(bytes, 1, size - 3, f);
    fclose(f);
    free(bytes);
    int c6 = sft_tokens_load(&tok, data, sft_template("r1"), 0, 1, &b);
    check(!c6 && b.n == a.n + 1, "a truncated cache file is rebuilt");
    sft_tokens_free(&b);
    sft_tokens_free(&a);
    tokenizer_free(&tok);
    free(data), free(cache);
}

// ---- 5. checkpoints and bad input ----
static void bad_jsonl(void* arg) {
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    SftTokens d;
    sft_tokens_load(&tok, (const char*)arg, sft_template("r1"), 0, 0, &d);
}

static void empty_loader(void* arg) {
    SftTokens d;
    memset(&d, 0, sizeof(d));
    SftLoader l;
    sft_loader_init(&l, &d, 16, 0, 1, 1);
}

static void prepare_out(void* arg) { // checks the output folder as sft_train does first
    SftOptions o;
    sft_options_default(&o);
    o.out_dir = (const char*)arg;
    sft_prepare_out(&o);
}

// A tiny SFT run into out, to have real checkpoints: 4 steps, one every 2. Returns the final weights
// (malloc'd) when want_weights; poison puts a NaN into the weights first.
static float* tiny_run_ex(const char* out, int hidden, int stop_at, const char* resume_from, int want_weights,
                          int poison) {
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    Qwen2Config c;
    config_tiny(&c, &tok);
    c.hidden_size = hidden, c.head_dim = hidden / c.num_heads, c.intermediate_size = 2 * hidden, c.num_layers = 1;
    Qwen2 m;
    qwen2_build(&m, &c);
    model_init_random(&c, &m.params, 1);
    if (poison) {
        m.params.wq[3] = NAN;
    }
    SftDataset ds;
    memset(&ds, 0, sizeof(ds));
    CountdownConfig cc = countdown_config_default();
    cc.max_nums = 3, cc.trace_lines = 1;
    ds = sft_countdown_dataset(&cc, 6, 1, 0);
    SftTokens d;
    sft_tokenize(&tok, &ds, sft_template("answer"), &d);
    SftOptions o;
    sft_options_default(&o);
    o.batch_size = 1, o.seq_len = 512, o.max_steps = 4, o.save_every = 2, o.keep = 0, o.log_every = 0;
    o.lr = 1e-3f, o.out_dir = out, o.stop_at = stop_at, o.resume_from = resume_from;
    o.max_bad_steps = 3; // (4 steps: a diverging run must stop before the end)
    sft_train(&m, &tok, &d, NULL, &o);
    float* w = NULL;
    if (want_weights) {
        w = (float*)malloc_check(m.num_parameters * sizeof(float));
        memcpy(w, m.params_memory, m.num_parameters * sizeof(float));
    }
    sft_tokens_free(&d), sft_free(&ds);
    qwen2_free(&m), tokenizer_free(&tok);
    return w;
}

static void tiny_run(const char* out, int hidden, int stop_at, const char* resume_from) {
    tiny_run_ex(out, hidden, stop_at, resume_from, 0, 0);
}

static void diverging_run(void* arg) {
    tiny_run_ex((const char*)arg, 32, 0, NULL, 0, 1);
}

static void resume_other_model(void* arg) {
    char* ck = path_join((const char*)arg, "checkpoint-2");
    tiny_run((const char*)arg, 64, 0, ck); // saved with hidden 32
}

static void test_checkpoints(void) {
    char msg[1024];
    char* out = path_join(tmpdir, "run");
    tiny_run(out, 32, 0, NULL);
    char* latest = sft_latest_checkpoint(out);
    check(latest && strstr(latest, "checkpoint-4") != NULL, "latest names the last checkpoint (%s)",
          latest ? latest : "none");
    const char* files[] = {"config.json", "model.safetensors", "generation_config.json", "vocab.json", "merges.txt",
                           "tokenizer_config.json", "optimizer.safetensors", "trainer_state.json"};
    int all = 1;
    for (int i = 0; i < 8; i++) {
        char* p = path_join(latest, files[i]);
        all &= file_exists(p);
        free(p);
    }
    check(all, "a checkpoint is a Hugging Face folder + optimizer.safetensors + trainer_state.json");
    // a half-written newer checkpoint (no trainer_state.json) and a stale latest never win
    char* half = path_join(out, "checkpoint-6");
    make_dir(half);
    char* tmpck = path_join(out, "checkpoint-8.tmp");
    make_dir(tmpck);
    char* l2 = sft_latest_checkpoint(out);
    check(l2 && strstr(l2, "checkpoint-4") != NULL, "incomplete folders (no trainer_state.json, .tmp) are ignored");
    char* lp = path_join(out, "latest");
    write_text(lp, "checkpoint-6\n");
    char* l3 = sft_latest_checkpoint(out);
    check(l3 && strstr(l3, "checkpoint-4") != NULL, "a latest that names an incomplete folder falls back (%s)",
          l3 ? l3 : "none");
    rmdir(half), rmdir(tmpck);
    write_text(lp, "checkpoint-4\n");
    check(expect_fatal(prepare_out, out, "already holds checkpoint-4", msg, sizeof(msg)),
          "a fresh run into a folder with checkpoints is refused: %s", msg);
    check(expect_fatal(resume_other_model, out, "was saved for another model", msg, sizeof(msg)),
          "resuming a checkpoint of another model: %s", msg);
    free(latest), free(l2), free(l3), free(half), free(tmpck), free(lp);

    // pruning keeps the newest `keep`
    char* p4 = path_join(out, "checkpoint-4");
    char* p2 = path_join(out, "checkpoint-2");
    check(dir_exists(p4) && dir_exists(p2), "keep 0 keeps every checkpoint");
    sft_checkpoint_prune(out, 1, 4);
    check(dir_exists(p4) && !dir_exists(p2), "keep 1 deletes all but the newest");
    free(p4), free(p2), free(out);

    // in-process resume: 4 steps straight = 2 steps, stop, resume for 2 more (bit for bit)
    char* r1 = path_join(tmpdir, "straight");
    char* r2 = path_join(tmpdir, "stopped");
    float* w1 = tiny_run_ex(r1, 32, 0, NULL, 1, 0);
    tiny_run(r2, 32, 2, NULL);
    char* ck2 = path_join(r2, "checkpoint-2");
    float* w2 = tiny_run_ex(r2, 32, 0, ck2, 1, 0);
    Tokenizer tk;
    tokenizer_init_bytes(&tk);
    Qwen2Config cc;
    config_tiny(&cc, &tk);
    cc.hidden_size = 32, cc.head_dim = 32 / cc.num_heads, cc.intermediate_size = 64, cc.num_layers = 1;
    check(memcmp(w1, w2, param_count(&cc) * sizeof(float)) == 0,
          "stopped at step 2 and resumed: the weights after step 4 equal the straight run's, bit for bit");
    tokenizer_free(&tk);
    free(w1), free(w2), free(r1), free(r2), free(ck2);
    char* dv = path_join(tmpdir, "diverged");
    int stopped = expect_fatal(diverging_run, dv, "non-finite loss or gradient: the run diverged", msg, sizeof(msg));
    check(stopped, "a run whose every step is NaN stops after max_bad_steps: %s", strrchr(msg, '\n') ? strrchr(msg, '\n') + 1 : msg);
    free(dv);

    char* bad = path_join(tmpdir, "bad.jsonl");
    write_text(bad, "{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"a\", \"answer\": \n");
    check(expect_fatal(bad_jsonl, bad, "bad.jsonl:2", msg, sizeof(msg)), "a malformed line names file:line: %s", msg);
    Tokenizer tok;
    tokenizer_init_bytes(&tok);
    SftTokens d;
    sft_tokens_load(&tok, bad, sft_template("r1"), 1, 0, &d);
    check(d.n_docs == 1 && d.skipped == 1, "with skip_bad it is skipped and counted (%zu kept, %zu skipped)",
          d.n_docs, d.skipped);
    sft_tokens_free(&d);
    tokenizer_free(&tok);
    free(bad);
    check(expect_fatal(empty_loader, NULL, "empty", msg, sizeof(msg)), "an empty data set: %s", msg);
    char* ro = path_join(tmpdir, "file_not_dir");
    write_text(ro, "x");
    char* inside = path_join(ro, "out");
    check(expect_fatal(prepare_out, inside, "cannot create folder", msg, sizeof(msg)),
          "an output folder that cannot be created: %s", msg);
    free(ro), free(inside);
}

int main(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/r1_test_sft_%d", (int)getpid());
    make_dir(tmpdir);
    test_oracle();
    test_render();
    test_packing();
    test_cache();
    test_checkpoints();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) {
        printf("(could not remove %s)\n", tmpdir);
    }
    return test_summary("test_sft");
}
