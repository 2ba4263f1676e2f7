/*
tests/test_generate.c: generation (r1.h's KV cache, continuous batching, stop rules, budget forcing).

- The cached forward (prefill in pieces, then one token at a time, several slots in one step) gives
  the logits of qwen2_forward on the whole sequence (itself checked against transformers).
- Greedy tokens equal transformers' generate(do_sample=False) exactly on the fixture models, with
  eos ids that occur and that do not, and with a repetition penalty (tests/fixtures/generate/, made
  by dev/oracle/generate_oracle.py); also through the chat template of a byte-level tokenizer
  folder, with the text, and with stop strings (transformers' stop_strings).
- Budget forcing (s1) on token ids against the oracle's runs.
- Continuous batching with fewer slots than completions gives the same completions as one at a time.
- Seeded sampling is reproducible, independent of the slot count, and its log-probs are those of
  the full forward pass; generation_config.json is read; bad input fails with a clear message.
*/
#include "test.h"

#define FIX "tests/fixtures/generate/"

// --- helpers ----------------------------------------------------------------------

typedef struct {
    Json** rows;
    int n;
} Jsonl;

static Jsonl jsonl_load(const char* path) {
    Jsonl j = {NULL, 0};
    size_t size;
    char* text = read_file(path, &size);
    for (char* line = text; *line;) {
        char* end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > 0) {
            char err[128];
            Json* row = json_parse(line, n, err, sizeof(err));
            if (!row) {
                fatal("%s: %s", path, err);
            }
            j.rows = (Json**)realloc_check(j.rows, (size_t)(j.n + 1) * sizeof(Json*));
            j.rows[j.n++] = row;
        }
        line += n + (end ? 1 : 0);
    }
    free(text);
    return j;
}

static void jsonl_free(Jsonl* j) {
    for (int i = 0; i < j->n; i++) {
        json_free(j->rows[i]);
    }
    free(j->rows);
}

static int json_ints(const Json* row, const char* key, int* out, int max) {
    const Json* a = json_get(row, key);
    if (!a || a->type != JSON_ARRAY || (int)a->len > max) {
        fatal("fixture: \"%s\" missing or too long", key);
    }
    for (size_t i = 0; i < a->len; i++) {
        out[i] = (int)a->items[i].number;
    }
    return (int)a->len;
}

static double json_num(const Json* row, const char* key) {
    const Json* v = json_get(row, key);
    if (!v || v->type != JSON_NUMBER) {
        fatal("fixture: \"%s\" missing", key);
    }
    return v->number;
}

static int same_ints(const int* a, int na, const int* b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof(int)) == 0);
}

static const char* MODEL_NAMES[4] = {"tied_gqa2_hd16", "tied_gqa7_hd16", "untied_mha2_hd16", "untied_mha_hd64"};

static void load_fixture_model(Qwen2* m, const char* name) {
    char dir[256];
    if (name == NULL) {
        fatal("fixture: no model name");
    }
    snprintf(dir, sizeof(dir), "tests/fixtures/model/%s", name);
    qwen2_load(m, dir);
}

static GenerateConfig greedy_config(int max_new) {
    GenerateConfig g;
    generate_config_default(&g);
    g.max_new_tokens = max_new;
    return g;
}

// --- the cached forward against the full forward ---------------------------------------

// Feeds a sequence of T tokens through the cache in pieces (chunk sizes from `chunks`, then one at a
// time) and compares the logits after each piece with row t of qwen2_forward's (T, V) logits.
static double cached_vs_full(Qwen2* m, const int* ids, int T, const int* chunks, int n_chunks) {
    int V = m->config.vocab_size;
    int* pos = (int*)malloc_check((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) {
        pos[t] = t;
    }
    qwen2_forward(m, ids, pos, NULL, 1, T);
    float* full = (float*)malloc_check((size_t)T * V * sizeof(float));
    memcpy(full, m->acts.logits, (size_t)T * V * sizeof(float));
    KVCache kv;
    kvcache_init(&kv, &m->config, 3, T);
    double worst = 0;
    int slot = 2, done = 0;
    for (int c = 0; done < T; c++) {
        int n = c < n_chunks ? chunks[c] : 1;
        n = n < T - done ? n : T - done;
        qwen2_forward_cached(m, &kv, ids + done, &slot, &n, 1);
        done += n;
        double rel = rel_error(kv.logits, full + (size_t)(done - 1) * V, (size_t)V, NULL);
        worst = rel > worst ? rel : worst;
    }
    kvcache_free(&kv);
    free(full), free(pos);
    return worst;
}

// Two sequences in different slots advance in the same steps (one prefilling while the other
// decodes), each matched against its own full forward pass.
static double cached_two_slots(Qwen2* m, const int* a, int Ta, const int* b, int Tb) {
    int V = m->config.vocab_size, T = Ta > Tb ? Ta : Tb;
    float* ref[2];
    const int* seqs[2] = {a, b};
    int lens[2] = {Ta, Tb};
    int* pos = (int*)malloc_check((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) {
        pos[t] = t;
    }
    for (int s = 0; s < 2; s++) {
        qwen2_forward(m, seqs[s], pos, NULL, 1, lens[s]);
        ref[s] = (float*)malloc_check((size_t)lens[s] * V * sizeof(float));
        memcpy(ref[s], m->acts.logits, (size_t)lens[s] * V * sizeof(float));
    }
    KVCache kv;
    kvcache_init(&kv, &m->config, 2, T);
    int done[2] = {0, 0}, first[2] = {3, 1}; // a: 3 tokens then 1 at a time; b: 1, then a piece of 6
    double worst = 0;
    int* ids = (int*)malloc_check((size_t)(Ta + Tb) * sizeof(int));
    for (int step = 0; done[0] < Ta || done[1] < Tb; step++) {
        int slot[2], n_new[2], nseq = 0, N = 0, which[2];
        for (int s = 0; s < 2; s++) {
            int n = step == 0 ? first[s] : (s == 1 && step == 1) ? 6 : 1;
            n = n < lens[s] - done[s] ? n : lens[s] - done[s];
            if (n > 0) {
                memcpy(ids + N, seqs[s] + done[s], (size_t)n * sizeof(int));
                slot[nseq] = 1 - s; // b in slot 0, a in slot 1
                n_new[nseq] = n, which[nseq++] = s, N += n;
            }
        }
        qwen2_forward_cached(m, &kv, ids, slot, n_new, nseq);
        for (int i = 0; i < nseq; i++) {
            int s = which[i];
            done[s] += n_new[i];
            double rel = rel_error(kv.logits + (size_t)i * V, ref[s] + (size_t)(done[s] - 1) * V, (size_t)V, NULL);
            worst = rel > worst ? rel : worst;
        }
    }
    kvcache_free(&kv);
    free(ids), free(pos), free(ref[0]), free(ref[1]);
    return worst;
}

static void test_cached_forward(void) {
    uint64_t rng = rng_seed(7);
    for (int k = 0; k < 4; k++) {
        Qwen2 m;
        load_fixture_model(&m, MODEL_NAMES[k]);
        int T = 37, ids[64], ids2[64];
        for (int t = 0; t < T; t++) {
            ids[t] = (int)(random_u32(&rng) % (uint32_t)m.config.vocab_size);
            ids2[t] = (int)(random_u32(&rng) % (uint32_t)m.config.vocab_size);
        }
        int chunks[3] = {7, 1, 18}; // 18 > 16: matmul's packed path too
        double e1 = cached_vs_full(&m, ids, T, chunks, 3);
        check(e1 < 1e-5, "cached forward (pieces of 7, 1, 18, then single tokens) = full forward logits, %s: "
              "worst rel %.2e", MODEL_NAMES[k], e1);
        double e2 = cached_two_slots(&m, ids, 25, ids2, 19);
        check(e2 < 1e-5, "two slots in the same steps (prefill beside decode) = their own full forwards, %s: "
              "worst rel %.2e", MODEL_NAMES[k], e2);
        qwen2_free(&m);
    }
}

// --- greedy against transformers ---------------------------------------------------------

static void test_greedy_oracle(void) {
    Jsonl rows = jsonl_load(FIX "greedy.jsonl");
    int matched = 0, eos_rows = 0, length_rows = 0, finish_ok = 0;
    Qwen2 m;
    const char* loaded = NULL;
    for (int r = 0; r < rows.n; r++) {
        const Json* row = rows.rows[r];
        const char* name = json_get_string(row, "model");
        if (!loaded || strcmp(loaded, name) != 0) {
            if (loaded) {
                qwen2_free(&m);
            }
            load_fixture_model(&m, name);
            loaded = name;
        }
        int prompt[64], want[64], eos[8];
        int np = json_ints(row, "prompt", prompt, 64), nw = json_ints(row, "tokens", want, 64);
        int ne = json_ints(row, "eos", eos, 8);
        GenerateConfig g = greedy_config((int)json_num(row, "max_new_tokens"));
        g.sampling.repetition_penalty = (float)json_num(row, "repetition_penalty");
        for (int i = 0; i < ne; i++) {
            generate_add_eos(&g, eos[i]);
        }
        int* prompts[1] = {prompt};
        Completion c;
        generate_batch(&m, NULL, prompts, &np, 1, 1, &g, &c);
        int ok = same_ints(c.tokens, c.n_tokens, want, nw);
        matched += ok;
        if (!ok) {
            printf("# row %d (%s): r1 %d tokens, transformers %d\n", r, name, c.n_tokens, nw);
        }
        int ended_on_eos = nw > 0 && nw < g.max_new_tokens + 1 && ne > 0 && generate_is_eos(&g, want[nw - 1]);
        eos_rows += ended_on_eos;
        length_rows += !ended_on_eos;
        finish_ok += c.finish == (ended_on_eos ? FINISH_STOP : FINISH_LENGTH);
        completion_free(&c);
    }
    qwen2_free(&m);
    check(matched == rows.n, "greedy tokens = transformers generate(do_sample=False), 4 models, eos hit or not, "
          "repetition penalty: %d/%d cases", matched, rows.n);
    check(eos_rows > 0 && length_rows > 0 && finish_ok == rows.n,
          "finish reason: %d cases ended on eos (\"stop\"), %d at max_new_tokens (\"length\"); %d/%d right", eos_rows,
          length_rows, finish_ok, rows.n);
    jsonl_free(&rows);
}

// All prompts of a model at once, with max_new_tokens 30 and no eos: the same completions with
// 1 slot, 2 slots (fewer than the prompts: slots are reused) and 8 slots; and equal to the oracle
// rows that never met their eos (their tokens are the free greedy run).
static void test_continuous_batching(void) {
    Jsonl rows = jsonl_load(FIX "greedy.jsonl");
    int all_same = 1, oracle_checked = 0, oracle_ok = 0;
    for (int k = 0; k < 4; k++) {
        Qwen2 m;
        load_fixture_model(&m, MODEL_NAMES[k]);
        int prompt[8][64], lens[8], n = 0, want_idx[8];
        for (int r = 0; r < rows.n; r++) {
            if (strcmp(json_get_string(rows.rows[r], "model"), MODEL_NAMES[k]) == 0 &&
                json_num(rows.rows[r], "repetition_penalty") == 1.0) {
                lens[n] = json_ints(rows.rows[r], "prompt", prompt[n], 64);
                want_idx[n++] = r;
            }
        }
        int* prompts[8];
        for (int i = 0; i < n; i++) {
            prompts[i] = prompt[i];
        }
        Completion out[3][8];
        int slot_counts[3] = {1, 2, 8};
        for (int s = 0; s < 3; s++) {
            GenerateConfig g = greedy_config(30);
            g.slots = slot_counts[s];
            g.step_tokens = s == 1 ? 4 : 0; // 2 slots: prompts also fed in pieces of at most 4 tokens a step
            generate_batch(&m, NULL, prompts, lens, n, 1, &g, out[s]);
        }
        for (int i = 0; i < n; i++) {
            for (int s = 1; s < 3; s++) {
                all_same &= same_ints(out[s][i].tokens, out[s][i].n_tokens, out[0][i].tokens, out[0][i].n_tokens);
            }
            const Json* row = rows.rows[want_idx[i]];
            int want[64], nw = json_ints(row, "tokens", want, 64);
            if (nw >= 30) { // a free run: compare its first 30 tokens
                oracle_checked++;
                oracle_ok += same_ints(out[0][i].tokens, out[0][i].n_tokens, want, 30);
            }
            for (int s = 0; s < 3; s++) {
                completion_free(&out[s][i]);
            }
        }
        qwen2_free(&m);
    }
    check(all_same, "continuous batching: 1, 2 (prompts fed 4 tokens a step) and 8 slots give the same greedy "
          "completions");
    check(oracle_checked >= 4 && oracle_ok == oracle_checked,
          "batched greedy = transformers' free runs: %d/%d", oracle_ok, oracle_checked);
    jsonl_free(&rows);
}

static void test_budget_forcing(void) {
    Jsonl rows = jsonl_load(FIX "budget.jsonl");
    int matched = 0;
    for (int r = 0; r < rows.n; r++) {
        const Json* row = rows.rows[r];
        Qwen2 m;
        load_fixture_model(&m, json_get_string(row, "model"));
        int prompt[64], want[64];
        int np = json_ints(row, "prompt", prompt, 64), nw = json_ints(row, "tokens", want, 64);
        GenerateConfig g = greedy_config((int)json_num(row, "max_new_tokens"));
        g.n_think_end = json_ints(row, "think_end", g.think_end_ids, GEN_MAX_IDS);
        g.n_wait = json_ints(row, "wait", g.wait_ids, GEN_MAX_IDS);
        g.min_think = (int)json_num(row, "min_think");
        g.max_think = (int)json_num(row, "max_think");
        int* prompts[1] = {prompt};
        Completion c;
        generate_batch(&m, NULL, prompts, &np, 1, 1, &g, &c);
        int ok = same_ints(c.tokens, c.n_tokens, want, nw);
        if (!ok) {
            printf("# budget row %d: r1 %d tokens, oracle %d\n", r, c.n_tokens, nw);
        }
        // the forced tokens are there and carry log-prob 0
        matched += ok;
        completion_free(&c);
        qwen2_free(&m);
    }
    check(matched == rows.n, "budget forcing (min_think: end of thinking -> \"Wait\"; max_think: end forced; "
          "one- and two-token ends) = the oracle's runs: %d/%d", matched, rows.n);
    jsonl_free(&rows);
}

// --- the byte-level tokenizer folder: chat template, text, stop strings -------------------------

static void collect_token(void* user, int prompt, int sample, int token) {
    IntVec* v = (IntVec*)user;
    intvec_push(v, token);
}

static void test_bytes_model(void) {
    const char* dir = FIX "bytes_model";
    Qwen2 m;
    qwen2_load(&m, dir);
    Tokenizer tok;
    tokenizer_load(&tok, dir);
    Jsonl rows = jsonl_load(FIX "bytes_greedy.jsonl");
    int ids_ok = 0, tok_ok = 0, text_ok = 0, stop_rows = 0, strip_ok = 0, stream_ok = 0;
    for (int r = 0; r < rows.n; r++) {
        const Json* row = rows.rows[r];
        const Json* msgs = json_get(row, "messages");
        ChatMessage cm[4];
        for (size_t i = 0; i < msgs->len; i++) {
            cm[i].role = json_get_string(&msgs->items[i], "role");
            cm[i].content = json_get_string(&msgs->items[i], "content");
        }
        int* ids;
        int n = chat_encode(&tok, cm, (int)msgs->len, NULL, 1, 0, &ids, NULL);
        int want_ids[256], want[64];
        int nids = json_ints(row, "ids", want_ids, 256), nw = json_ints(row, "tokens", want, 64);
        ids_ok += same_ints(ids, n, want_ids, nids);
        GenerateConfig g = greedy_config((int)json_num(row, "max_new_tokens"));
        generate_add_eos(&g, 258);
        generate_add_eos(&g, 256);
        const Json* stop = json_get(row, "stop");
        if (stop && stop->type == JSON_ARRAY) {
            g.stop[g.n_stop++] = stop->items[0].string;
            stop_rows++;
        }
        IntVec streamed = {NULL, 0, 0};
        g.on_token = collect_token;
        g.user = &streamed;
        Completion c[2];
        generate_batch(&m, &tok, &ids, &n, 1, 1, &g, &c[0]);
        tok_ok += same_ints(c[0].tokens, c[0].n_tokens, want, nw);
        const Json* want_text = json_get(row, "text"); // (may hold the byte 0)
        text_ok += c[0].text_len == want_text->len && memcmp(c[0].text, want_text->string, want_text->len) == 0;
        stream_ok += same_ints((int*)streamed.data, (int)streamed.n, c[0].tokens, c[0].n_tokens);
        if (g.n_stop) { // the same with the stop string cut off
            g.strip_stop = 1;
            g.on_token = NULL;
            generate_batch(&m, &tok, &ids, &n, 1, 1, &g, &c[1]);
            const char* full = json_get_string(row, "text");
            size_t keep = strlen(full) - strlen(g.stop[0]);
            strip_ok += c[1].finish == FINISH_STOP && strlen(c[1].text) == keep && strncmp(c[1].text, full, keep) == 0 &&
                        same_ints(c[1].tokens, c[1].n_tokens, want, nw);
            completion_free(&c[1]);
        }
        completion_free(&c[0]);
        free(streamed.data), free(ids);
    }
    check(ids_ok == rows.n, "chat prompts: chat_encode = apply_chat_template on the byte-level folder (%d/%d)", ids_ok,
          rows.n);
    check(tok_ok == rows.n, "greedy through the chat template = transformers' tokens (%d/%d)", tok_ok, rows.n);
    check(text_ok == rows.n, "completion text = transformers' decode(skip_special_tokens=True) (%d/%d)", text_ok,
          rows.n);
    check(stop_rows > 0 && strip_ok == stop_rows, "stop strings: the tokens of transformers' stop_strings, text "
          "keeps the stop string by default and strip_stop cuts it (%d/%d)", strip_ok, stop_rows);
    check(stream_ok == rows.n, "on_token streams exactly the completion's tokens (%d/%d)", stream_ok, rows.n);
    jsonl_free(&rows);
    tokenizer_free(&tok);
    qwen2_free(&m);
}

// --- sampling --------------------------------------------------------------------------------

// log_softmax(logits / T)[token] of every completion token from one full forward pass.
static double logprob_error(Qwen2* m, const int* prompt, int np, const Completion* c, float temperature) {
    int T = np + c->n_tokens, V = m->config.vocab_size;
    int* ids = (int*)malloc_check((size_t)T * sizeof(int));
    int* pos = (int*)malloc_check((size_t)T * sizeof(int));
    memcpy(ids, prompt, (size_t)np * sizeof(int));
    memcpy(ids + np, c->tokens, (size_t)c->n_tokens * sizeof(int));
    for (int t = 0; t < T; t++) {
        pos[t] = t;
    }
    qwen2_forward(m, ids, pos, NULL, 1, T);
    double worst = 0;
    for (int j = 0; j < c->n_tokens; j++) {
        const float* x = m->acts.logits + (size_t)(np + j - 1) * V;
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < V; i++) {
            mx = x[i] / temperature > mx ? x[i] / temperature : mx;
        }
        for (int i = 0; i < V; i++) {
            sum += exp(x[i] / temperature - mx);
        }
        double ref = x[c->tokens[j]] / temperature - mx - log(sum);
        double err = fabs(ref - c->logprobs[j]);
        worst = err > worst ? err : worst;
    }
    free(ids), free(pos);
    return worst;
}

static void test_sampling(void) {
    const char* dir = FIX "bytes_model";
    Qwen2 m;
    qwen2_load(&m, dir);
    GenerateConfig g;
    generate_config_default(&g);
    int found = generation_config_load(dir, &g);
    check(found && fabsf(g.sampling.temperature - 0.7f) < 1e-7f && g.sampling.top_k == 20 &&
              fabsf(g.sampling.top_p - 0.8f) < 1e-7f && fabsf(g.sampling.repetition_penalty - 1.05f) < 1e-7f &&
              g.n_eos == 2 && g.eos_ids[0] == 258 && g.eos_ids[1] == 256 && g.max_new_tokens == 48,
          "generation_config.json: do_sample, temperature 0.7, top_k 20, top_p 0.8, penalty 1.05, eos [258, 256], "
          "max_new_tokens 48");
    int p0[5] = {257, 72, 105, 33, 10}, p1[9] = {257, 117, 115, 101, 114, 10, 50, 43, 50};
    int* prompts[2] = {p0, p1};
    int lens[2] = {5, 9};
    Completion a[6], b[6], c[6], d[6];
    g.seed = 5;
    g.max_new_tokens = 24;
    g.slots = 6;
    generate_batch(&m, NULL, prompts, lens, 2, 3, &g, a);
    generate_batch(&m, NULL, prompts, lens, 2, 3, &g, b);
    g.slots = 1;
    generate_batch(&m, NULL, prompts, lens, 2, 3, &g, c);
    g.seed = 6;
    g.slots = 6;
    generate_batch(&m, NULL, prompts, lens, 2, 3, &g, d);
    int same = 1, same_slots = 1, differ = 0, samples_differ = 0;
    double lp_err = 0;
    for (int i = 0; i < 6; i++) {
        same &= same_ints(a[i].tokens, a[i].n_tokens, b[i].tokens, b[i].n_tokens) &&
                memcmp(a[i].logprobs, b[i].logprobs, (size_t)a[i].n_tokens * sizeof(float)) == 0;
        same_slots &= same_ints(a[i].tokens, a[i].n_tokens, c[i].tokens, c[i].n_tokens);
        differ += !same_ints(a[i].tokens, a[i].n_tokens, d[i].tokens, d[i].n_tokens);
        if (i % 3) {
            samples_differ += !same_ints(a[i].tokens, a[i].n_tokens, a[i - 1].tokens, a[i - 1].n_tokens);
        }
        double e = logprob_error(&m, prompts[i / 3], lens[i / 3], &a[i], 0.7f);
        lp_err = e > lp_err ? e : lp_err;
    }
    check(same, "sampling with the same seed gives the same tokens and log-probs");
    check(same_slots, "sample k of prompt i is the same with 1 slot and with 6 (its own random stream)");
    check(differ >= 4, "another seed gives other completions (%d/6 differ)", differ);
    check(samples_differ >= 3, "the samples of one prompt differ from each other (%d/4 pairs)", samples_differ);
    check(lp_err < 1e-4, "returned log-probs = log_softmax(logits / T) of a full forward pass: max err %.2e", lp_err);
    for (int i = 0; i < 6; i++) {
        completion_free(&a[i]), completion_free(&b[i]), completion_free(&c[i]), completion_free(&d[i]);
    }
    qwen2_free(&m);
}

// --- bad input ----------------------------------------------------------------------------

static void gen_long_prompt(void* arg) {
    Qwen2 m;
    load_fixture_model(&m, "tied_gqa2_hd16"); // max_position_embeddings 128
    int prompt[130] = {0}, n = 130;
    int* prompts[1] = {prompt};
    GenerateConfig g = greedy_config(8);
    Completion c;
    generate_batch(&m, NULL, prompts, &n, 1, 1, &g, &c);
}

static void gen_bad_eos(void* arg) {
    Qwen2 m;
    load_fixture_model(&m, "tied_gqa2_hd16");
    int prompt[3] = {1, 2, 3}, n = 3;
    int* prompts[1] = {prompt};
    GenerateConfig g = greedy_config(8);
    generate_add_eos(&g, 259); // vocab 259
    Completion c;
    generate_batch(&m, NULL, prompts, &n, 1, 1, &g, &c);
}

static void gen_bad_config(void* arg) {
    GenerateConfig g;
    generate_config_default(&g);
    generation_config_load((const char*)arg, &g);
}

static void test_errors_and_config(void) {
    char msg[512];
    check(expect_fatal(gen_long_prompt, NULL, "context holds 128", msg, sizeof(msg)),
          "a prompt longer than the context: '%s'", msg);
    check(expect_fatal(gen_bad_eos, NULL, "outside the vocabulary", msg, sizeof(msg)), "an unknown stop id: '%s'",
          msg);
    char dir[] = "/tmp/r1_gencfg_XXXXXX";
    if (!mkdtemp(dir)) {
        fatal("mkdtemp failed");
    }
    char* path = path_join(dir, "generation_config.json");
    FILE* f = fopen_check(path, "w");
    fprintf(f, "{\"do_sample\": false, \"temperature\": 0.6, \"eos_token_id\": 151643, \"max_new_tokens\": 2048}\n");
    fclose(f);
    GenerateConfig g;
    generate_config_default(&g);
    generation_config_load(dir, &g);
    check(g.sampling.temperature == 0.0f && g.n_eos == 1 && g.eos_ids[0] == 151643 && g.max_new_tokens == 2048 &&
              g.sampling.top_k == 50 && g.sampling.top_p == 1.0f,
          "generation_config.json with do_sample false (Qwen2.5-Math's): greedy, one eos id, transformers' defaults");
    f = fopen_check(path, "w");
    fprintf(f, "{\"eos_token_id\": \"x\"}\n");
    fclose(f);
    check(expect_fatal(gen_bad_config, dir, "eos_token_id", msg, sizeof(msg)), "a malformed eos_token_id: '%s'", msg);
    generate_config_default(&g);
    check(generation_config_load("tests/fixtures/model/tied_gqa2_hd16", &g) == 0 && g.sampling.temperature == 0.0f,
          "no generation_config.json: transformers' defaults (greedy)");
    remove(path);
    rmdir(dir);
    free(path);
}

int main(void) {
    test_cached_forward();
    test_greedy_oracle();
    test_continuous_batching();
    test_budget_forcing();
    test_bytes_model();
    test_sampling();
    test_errors_and_config();
    return test_summary("test_generate");
}
