/*
tests/test_tokenizer.c: the r1.h tokenizer against Hugging Face `tokenizers` / `transformers`.

Expected ids come from dev/oracle/tokenizer_oracle.py (fixtures in tests/fixtures/tokenizer/).
  - byte-level vocabulary (always runs): ids and decoding of the hard cases and the chat template,
    as HF gives them for the folder tokenizer_save writes; save/reload; streaming decode; bad input.
  - Qwen2.5 (needs ../shared/qwen, skipped without it): the hard cases, the chat template of the
    Instruct, base and Math configs with the assistant mask, and every text record of ../shared/data
    (needs ../shared/data), compared by a hash of the ids; decode(encode(x)) == x on all of them.
*/
#include "test.h"

#define FIX "tests/fixtures/tokenizer/"

// ----------------------------------------------------------------------------
// helpers

static char* hex_decode(const char* hex, size_t* n) {
    size_t len = strlen(hex) / 2;
    char* out = (char*)malloc_check(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[len] = '\0';
    *n = len;
    return out;
}

// Reads a .jsonl fixture: returns the number of rows, *rows the parsed lines.
static int load_jsonl(const char* path, Json*** rows) {
    size_t n;
    char* text = read_file(path, &n);
    int count = 0;
    *rows = NULL;
    for (char* line = text; line < text + n;) {
        char* end = strchr(line, '\n');
        end = end ? end : text + n;
        if (end > line) {
            char err[256];
            Json* j = json_parse(line, (size_t)(end - line), err, sizeof(err));
            if (!j) {
                fatal("%s: row %d: %s", path, count + 1, err);
            }
            *rows = (Json**)realloc_check(*rows, (size_t)(count + 1) * sizeof(Json*));
            (*rows)[count++] = j;
        }
        line = end + 1;
    }
    free(text);
    return count;
}

static void free_rows(Json** rows, int n) {
    for (int i = 0; i < n; i++) {
        json_free(rows[i]);
    }
    free(rows);
}

static int ids_equal(const int* ids, int n, const Json* expect) {
    if (expect == NULL || expect->type != JSON_ARRAY || (int)expect->len != n) {
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if ((int)expect->items[i].number != ids[i]) {
            return 0;
        }
    }
    return 1;
}

// the hash the oracle writes: FNV-1a 64 over the ids as 4-byte little-endian integers
static uint64_t ids_hash(const int* ids, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) {
        for (int b = 0; b < 4; b++) {
            h = (h ^ (((uint32_t)ids[i] >> (8 * b)) & 0xFF)) * 0x100000001b3ull;
        }
    }
    return h;
}

// A temporary folder holding links to ../shared/qwen's vocab.json and merges.txt plus one of its
// tokenizer_config variants as tokenizer_config.json.
static char* make_variant_dir(const char* qwen, const char* config) {
    char* dir = strdup_check("/tmp/r1_tok_XXXXXX");
    if (!mkdtemp(dir)) {
        fatal("mkdtemp: %s", strerror(errno));
    }
    const char* from[3] = {"vocab.json", "merges.txt", config};
    const char* to[3] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        char* src = path_join(qwen, from[i]);
        char cwd[4096];
        char* abs = path_join(src[0] == '/' ? "" : getcwd(cwd, sizeof(cwd)), src); // links need absolute paths
        char* dst = path_join(dir, to[i]);
        if (symlink(abs, dst) != 0) {
            fatal("cannot link %s into %s", src, dir);
        }
        free(src), free(abs), free(dst);
    }
    return dir;
}

static void remove_dir(const char* dir) {
    const char* names[3] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        char* p = path_join(dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

// ----------------------------------------------------------------------------
// hard cases and chat conversations against a fixture

static void test_hardcases(const Tokenizer* t, const char* fixture, const char* what) {
    Json** rows;
    int n = load_jsonl(fixture, &rows), ok = 0, dec_ok = 0, skip_ok = 0;
    for (int r = 0; r < n; r++) {
        size_t len, elen, slen;
        char* text = hex_decode(json_get_string(rows[r], "hex"), &len);
        const char* dh = json_get_string(rows[r], "decoded_hex");
        const char* sh = json_get_string(rows[r], "decoded_skip_hex");
        char* expect = dh ? hex_decode(dh, &elen) : hex_decode(json_get_string(rows[r], "hex"), &elen);
        char* expect_skip = sh ? hex_decode(sh, &slen) : (char*)memcpy(malloc_check(elen + 1), expect, elen + 1);
        slen = sh ? slen : elen;
        int* ids;
        int count = tokenizer_encode(t, text, len, &ids);
        int good = ids_equal(ids, count, json_get(rows[r], "ids"));
        ok += good;
        if (!good) {
            printf("  %s: hard case '%s' differs from HF\n", what, json_get_string(rows[r], "name"));
        }
        const Json* e = json_get(rows[r], "ids"); // decode HF's ids, so decoding is tested on its own
        int* hf = (int*)malloc_check((e->len + 1) * sizeof(int));
        for (size_t i = 0; i < e->len; i++) {
            hf[i] = (int)e->items[i].number;
        }
        size_t dlen, dslen;
        char* d = tokenizer_decode(t, hf, e->len, 0, &dlen);
        char* ds = tokenizer_decode(t, hf, e->len, 1, &dslen);
        dec_ok += dlen == elen && memcmp(d, expect, elen) == 0;
        skip_ok += dslen == slen && memcmp(ds, expect_skip, slen) == 0;
        free(text), free(expect), free(expect_skip), free(ids), free(hf), free(d), free(ds);
    }
    check(ok == n && n > 0, "%s: %d/%d hard cases give HF's ids", what, ok, n);
    check(dec_ok == n, "%s: %d/%d decode to HF's text", what, dec_ok, n);
    check(skip_ok == n, "%s: %d/%d decode to HF's text with skip_special_tokens", what, skip_ok, n);
    free_rows(rows, n);
}

// HF's decode of id lists that encoding does not produce (padding ids, special tokens mixed in).
static void test_decode(const Tokenizer* t, const char* fixture, const char* what) {
    Json** rows;
    int n = load_jsonl(fixture, &rows), ok = 0;
    for (int r = 0; r < n; r++) {
        const Json* e = json_get(rows[r], "ids");
        int* ids = (int*)malloc_check((e->len + 1) * sizeof(int));
        for (size_t i = 0; i < e->len; i++) {
            ids[i] = (int)e->items[i].number;
        }
        size_t len, elen;
        char* expect = hex_decode(json_get_string(rows[r], "hex"), &elen);
        char* d = tokenizer_decode(t, ids, e->len, (int)json_get(rows[r], "skip_special")->number, &len);
        ok += len == elen && memcmp(d, expect, len) == 0;
        free(ids), free(expect), free(d);
    }
    check(ok == n && n > 0, "%s: %d/%d id lists (padding ids, special tokens) decode as HF's", what, ok, n);
    free_rows(rows, n);
}

// Checks the rows of chat.jsonl whose "config" is `config` (all rows when NULL).
static void test_chat(const Tokenizer* t, const char* fixture, const char* config, const char* what) {
    Json** rows;
    int n = load_jsonl(fixture, &rows), total = 0, ok = 0, masks = 0, mask_ok = 0;
    for (int r = 0; r < n; r++) {
        if (config && strcmp(json_get_string(rows[r], "config"), config) != 0) {
            continue;
        }
        const Json* m = json_get(rows[r], "messages");
        ChatMessage msgs[16];
        for (size_t i = 0; i < m->len && i < 16; i++) {
            msgs[i].role = json_get_string(&m->items[i], "role");
            msgs[i].content = json_get_string(&m->items[i], "content");
        }
        int gen = (int)json_get(rows[r], "add_generation_prompt")->number;
        int cont = (int)json_get(rows[r], "continue_final_message")->number;
        int* ids;
        unsigned char* mask;
        int count = chat_encode(t, msgs, (int)m->len, NULL, gen, cont, &ids, &mask);
        total++;
        int good = ids_equal(ids, count, json_get(rows[r], "ids"));
        ok += good;
        if (!good) {
            printf("  %s: conversation %d differs from transformers\n", what, r);
        }
        const Json* em = json_get(rows[r], "mask");
        if (em && em->type == JSON_ARRAY && good) {
            int same = 1;
            for (int i = 0; i < count; i++) {
                same &= (int)em->items[i].number == mask[i];
            }
            masks++, mask_ok += same;
            if (!same) {
                printf("  %s: conversation %d: assistant mask differs from transformers\n", what, r);
            }
        }
        free(ids), free(mask);
    }
    check(ok == total && total > 0, "%s: %d/%d chat templates give transformers' ids", what, ok, total);
    if (masks) {
        check(mask_ok == masks, "%s: %d/%d assistant masks equal transformers' ({%% generation %%} mask)", what,
              mask_ok, masks);
    }
    free_rows(rows, n);
}

// The system argument of chat_encode: a default given there is the same as a first system message,
// and "" means no system message at all.
static void test_chat_system(const Tokenizer* t, const char* what) {
    ChatMessage with[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    int *a, *b, *c;
    int na = chat_encode(t, with, 2, NULL, 1, 0, &a, NULL);
    int nb = chat_encode(t, with + 1, 1, "Be brief.", 1, 0, &b, NULL);
    int nc = chat_encode(t, with + 1, 1, "", 1, 0, &c, NULL);
    size_t len;
    char* text = tokenizer_decode(t, c, (size_t)nc, 0, &len);
    check(na == nb && memcmp(a, b, (size_t)na * sizeof(int)) == 0 &&
          strcmp(text, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") == 0,
          "%s: chat_encode's system argument (a default, or \"\" for none)", what);
    free(a), free(b), free(c), free(text);
}

// ----------------------------------------------------------------------------
// streaming decode: pieces are whole UTF-8 characters, and together they are the full decode

static void test_stream(const Tokenizer* t, const char* text, const char* what) {
    int* ids;
    int n = tokenizer_encode(t, text, strlen(text), &ids);
    TokenStream st = {0};
    StrBuf all = {0};
    sb_append(&all, "", 0);
    int valid = 1, held = 0;
    for (int i = 0; i < n; i++) {
        size_t len, clean_len;
        const char* piece = token_stream_push(t, &st, ids[i], 0, &len);
        char* fixed = utf8_sanitize(piece, len, &clean_len);
        valid &= fixed == NULL;
        free(fixed);
        held += len < (size_t)t->token_len[ids[i]] && st.n_pending > 0;
        sb_append(&all, piece, len);
    }
    size_t len;
    const char* rest = token_stream_flush(&st, &len);
    sb_append(&all, rest, len);
    check(valid && len == 0 && all.len == strlen(text) && memcmp(all.s, text, all.len) == 0 && held > 0,
          "%s: streaming decode gives whole characters only (%d tokens held back a split character)", what, held);
    token_stream_free(&st);
    free(all.s), free(ids);
}

// ----------------------------------------------------------------------------
// the byte-level vocabulary (no files needed)

static void test_bytes(void) {
    Tokenizer t;
    tokenizer_init_bytes(&t);
    check(t.vocab_size == 278 && t.n_merges == 0 && t.eos_id == 258 && t.pad_id == 256 && t.im_start_id == 257,
          "bytes: 256 byte tokens + 22 added, eos <|im_end|>=%d, pad <|endoftext|>=%d", t.eos_id, t.pad_id);
    int* ids;
    int n = tokenizer_encode(&t, "Hi\n", 3, &ids);
    check(n == 3 && ids[0] == 'H' && ids[1] == 'i' && ids[2] == '\n', "bytes: token b is byte b");
    free(ids);
    test_hardcases(&t, FIX "bytes_hardcases.jsonl", "bytes");
    test_chat(&t, FIX "bytes_chat.jsonl", "bytes", "bytes");
    // a default system prompt: the oracle wrote it into the folder's template (see BYTES_SYSTEM there)
    t.default_system = strdup_check("You are a tiny model. Think in <think> tags; it's \\boxed{} time.\nGo.");
    test_chat(&t, FIX "bytes_chat.jsonl", "bytes_system", "bytes with a default system prompt");
    char sys_dir[] = "/tmp/r1_tok_sys_XXXXXX";
    if (!mkdtemp(sys_dir)) {
        fatal("mkdtemp failed");
    }
    tokenizer_save(&t, sys_dir);
    Tokenizer ts;
    tokenizer_load(&ts, sys_dir);
    check(ts.default_system && strcmp(ts.default_system, t.default_system) == 0,
          "bytes: a default system prompt survives tokenizer_save + tokenizer_load (quotes, \\, newline)");
    tokenizer_free(&ts);
    remove_dir(sys_dir);
    free(t.default_system);
    t.default_system = NULL;
    test_decode(&t, FIX "bytes_decode.jsonl", "bytes");
    test_chat_system(&t, "bytes");
    test_stream(&t, "é😀中 ok", "bytes");

    // skip_special drops special tokens only (<tool_call> is an added token that is not special)
    const char* s = "<|im_start|>a<tool_call>b<|im_end|>";
    n = tokenizer_encode(&t, s, strlen(s), &ids);
    size_t len;
    char* d = tokenizer_decode(&t, ids, (size_t)n, 1, &len);
    check(n == 5 && strcmp(d, "a<tool_call>b") == 0, "bytes: skip_special keeps non-special added tokens: '%s'", d);
    free(d), free(ids);

    // save, reload through tokenizer_load: the same tokenizer
    char dir[] = "/tmp/r1_tok_bytes_XXXXXX";
    if (!mkdtemp(dir)) {
        fatal("mkdtemp failed");
    }
    tokenizer_save(&t, dir);
    Tokenizer u;
    tokenizer_load(&u, dir);
    check(u.vocab_size == t.vocab_size && u.n_merges == 0 && u.eos_id == t.eos_id && u.pad_id == t.pad_id &&
          u.default_system == NULL, "bytes: tokenizer_save + tokenizer_load round trip");
    test_hardcases(&u, FIX "bytes_hardcases.jsonl", "bytes (reloaded)");
    tokenizer_free(&u);
    remove_dir(dir);
    tokenizer_free(&t);
}

// ----------------------------------------------------------------------------
// the command line tool, dev/tokenize (built by make next to this test)

static char* run_command(const char* cmd) {
    FILE* p = popen(cmd, "r");
    StrBuf v = {0};
    sb_append(&v, "", 0);
    char buf[4096];
    size_t got;
    while (p && (got = fread(buf, 1, sizeof(buf), p)) > 0) {
        sb_append(&v, buf, got);
    }
    if (p) {
        pclose(p);
    }
    return v.s;
}

static void test_cli(void) {
    if (!file_exists("dev/tokenize")) {
        skip("dev/tokenize: not built (make builds it)");
        return;
    }
    Tokenizer t;
    tokenizer_init_bytes(&t);
    const char* text = "Hi <|im_end|> é";
    int* ids;
    int n = tokenizer_encode(&t, text, strlen(text), &ids);
    StrBuf expect = {0};
    sb_append(&expect, "", 0);
    for (int i = 0; i < n; i++) {
        char num[16];
        snprintf(num, sizeof(num), i ? " %d" : "%d", ids[i]);
        sb_append(&expect, num, strlen(num));
    }
    sb_append(&expect, "\n", 1);
    char* out = run_command("printf 'Hi <|im_end|> \\303\\251' | ./dev/tokenize --bytes");
    check(strcmp(out, expect.s) == 0, "dev/tokenize --bytes prints the ids of stdin");
    free(out);
    char* cmd = (char*)malloc_check(expect.len + 64);
    snprintf(cmd, expect.len + 64, "echo '%.*s' | ./dev/tokenize --bytes --decode", (int)expect.len - 1, expect.s);
    out = run_command(cmd);
    check(strcmp(out, text) == 0, "dev/tokenize --decode gives the text back");
    free(out), free(cmd), free(ids), free(expect.s);
    ChatMessage m[2] = {{"user", "Hi"}, {"assistant", "Ok"}};
    unsigned char* mask;
    n = chat_encode(&t, m, 2, NULL, 0, 0, &ids, &mask);
    out = run_command("echo '{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, "
                      "{\"role\": \"assistant\", \"content\": \"Ok\"}]}' | ./dev/tokenize --bytes --chat --mask");
    char* p = out;
    int same = 1;
    for (int i = 0; i < n; i++) {
        same &= strtol(p, &p, 10) == ids[i];
    }
    for (int i = 0; i < n; i++) {
        same &= strtol(p, &p, 10) == mask[i];
    }
    check(same, "dev/tokenize --chat --mask prints chat_encode's ids and mask");
    free(out), free(ids), free(mask);
    tokenizer_free(&t);
}

// ----------------------------------------------------------------------------
// bad input: every problem names the file (and the line when there is one)

static void load_dir(void* dir) {
    Tokenizer t;
    tokenizer_load(&t, (const char*)dir);
}

static void write_text(const char* dir, const char* name, const char* text) {
    char* p = path_join(dir, name);
    FILE* f = fopen_check(p, "wb");
    fputs(text, f);
    fclose(f);
    free(p);
}

static void bad_case(const char* name, const char* file, const char* content, const char* expect) {
    char dir[] = "/tmp/r1_tok_bad_XXXXXX";
    if (!mkdtemp(dir)) {
        fatal("mkdtemp failed");
    }
    Tokenizer t;
    tokenizer_init_bytes(&t);
    tokenizer_save(&t, dir);
    tokenizer_free(&t);
    if (content) {
        write_text(dir, file, content);
    } else {
        char* p = path_join(dir, file);
        unlink(p);
        free(p);
    }
    char msg[512];
    int ok = expect_fatal(load_dir, dir, expect, msg, sizeof(msg));
    check(ok, "bad input: %s -> \"%s\"", name, msg);
    remove_dir(dir);
}

static void test_bad_input(void) {
    char msg[512];
    check(expect_fatal(load_dir, "/nonexistent/model", "vocab.json not found", msg, sizeof(msg)),
          "bad input: missing folder -> \"%s\"", msg);
    bad_case("missing merges.txt", "merges.txt", NULL, "merges.txt not found");
    bad_case("missing tokenizer_config.json", "tokenizer_config.json", NULL, "tokenizer_config.json not found");
    bad_case("malformed vocab.json", "vocab.json", "{\"a\": 0,\n \"b\": }", "vocab.json: line 2");
    bad_case("vocab.json id not an integer", "vocab.json", "{\"a\": 0.5}", "vocab.json");
    bad_case("vocab.json missing a byte", "vocab.json", "{\"a\": 0}", "no token for byte");
    bad_case("merges.txt line without a space", "merges.txt", "#version: 0.2\nab\n", "merges.txt line 2");
    bad_case("merges.txt token not in vocab", "merges.txt", "a b\n", "merges.txt line 1");
    bad_case("malformed tokenizer_config.json", "tokenizer_config.json", "{\n\"eos_token\": [\n", "line 3");
    bad_case("unknown eos_token", "tokenizer_config.json", "{\"eos_token\": \"<|nope|>\"}", "eos_token");
    bad_case("bad added token", "tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {}}}",
             "added_tokens_decoder");
}

// ----------------------------------------------------------------------------
// Qwen2.5: the corpus of ../shared/data

static const char* corpus_files[] = {
    "gsm8k/train.jsonl", "gsm8k/test.jsonl", "math500/test.jsonl", "math_train/math_train_7474.json",
    "aime_1983_2023/aime_1983_2023.json", "aime24/test.jsonl", "amc23/test.jsonl",
    "distill_samples/deepseek_r1_8b_ollama_5.json", "distill_samples/deepseek_r1_openrouter_5.json"};

typedef struct {
    const Tokenizer* t;
    char** lines; // the fixture's record lines, "hash ntokens"
    size_t n_lines, next;
    size_t records, bytes, tokens, matches, roundtrips, first_bad;
    const char* file;
} Corpus;

static void corpus_record(Corpus* c, const Json* v) {
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            corpus_record(c, &v->items[i]);
        }
        return;
    }
    if (v->type != JSON_STRING) {
        return;
    }
    int* ids;
    int n = tokenizer_encode(c->t, v->string, v->len, &ids);
    unsigned long long h = 0;
    int expect_n = -1;
    if (c->next < c->n_lines) {
        sscanf(c->lines[c->next], "%llx %d", &h, &expect_n);
    }
    int match = h == ids_hash(ids, n) && expect_n == n;
    if (!match && c->matches == c->records) {
        c->first_bad = c->records;
        printf("  first mismatch: record %zu (%s), %zu bytes: run python3 dev/oracle/tokenizer_oracle.py --diff %zu\n",
               c->records, c->file, v->len, c->records);
    }
    size_t len;
    char* back = tokenizer_decode(c->t, ids, (size_t)n, 0, &len);
    c->roundtrips += len == v->len && memcmp(back, v->string, len) == 0;
    c->matches += match;
    c->records++, c->next++, c->bytes += v->len, c->tokens += (size_t)n;
    free(back), free(ids);
}

static void test_corpus(const Tokenizer* t, const char* data_dir) {
    size_t n;
    char* text = read_file(FIX "corpus.txt", &n);
    Corpus c = {t, NULL, 0, 0, 0, 0, 0, 0, 0, 0, NULL};
    for (char* line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != '#') {
            c.lines = (char**)realloc_check(c.lines, (c.n_lines + 1) * sizeof(char*));
            c.lines[c.n_lines++] = line;
        }
    }
    double t0 = wall_time();
    for (size_t f = 0; f < sizeof(corpus_files) / sizeof(corpus_files[0]); f++) {
        char* path = path_join(data_dir, corpus_files[f]);
        c.file = corpus_files[f];
        size_t size;
        char* body = read_file(path, &size);
        if (strstr(path, ".jsonl")) {
            for (char* line = body; line < body + size;) {
                char* end = strchr(line, '\n');
                end = end ? end : body + size;
                char err[256];
                Json* j = end > line ? json_parse(line, (size_t)(end - line), err, sizeof(err)) : NULL;
                if (j) {
                    corpus_record(&c, j);
                    json_free(j);
                }
                line = end + 1;
            }
        } else {
            Json* j = json_load_file(path);
            corpus_record(&c, j);
            json_free(j);
        }
        free(body), free(path);
    }
    double dt = wall_time() - t0;
    check(c.records == c.n_lines && c.matches == c.records,
          "corpus: %zu/%zu records give HF's ids exactly (%zu fixture lines; %zu bytes, %zu tokens, %.2f s)",
          c.matches, c.records, c.n_lines, c.bytes, c.tokens, dt);
    check(c.roundtrips == c.records, "corpus: decode(encode(x)) == x for %zu/%zu records", c.roundtrips, c.records);
    free(c.lines), free(text);
}

// ----------------------------------------------------------------------------

static void test_qwen(const char* shared) {
    char* qwen = path_join(shared, "qwen");
    if (!file_exists(FIX "hardcases.jsonl") || !dir_exists(qwen)) {
        skip("Qwen2.5 tokenizer tests: %s not found (the real vocab lives in ../shared/qwen)", qwen);
        free(qwen);
        return;
    }
    Tokenizer t;
    double t0 = wall_time();
    tokenizer_load(&t, qwen);
    double dt = wall_time() - t0;
    int* ids;
    int n = tokenizer_encode(&t, "Hello world", 11, &ids);
    check(n == 2 && ids[0] == 9707 && ids[1] == 1879 && t.vocab_size == 151665 && t.n_merges == 151387 &&
          t.eos_id == 151645 && t.pad_id == 151643, "qwen: loads in %.2f s; \"Hello world\" -> [9707, 1879]", dt);
    free(ids);
    check(t.default_system && strcmp(t.default_system, "You are Qwen, created by Alibaba Cloud. You are a helpful "
                                     "assistant.") == 0, "qwen: default system prompt read from the chat template");
    test_hardcases(&t, FIX "hardcases.jsonl", "qwen");
    test_decode(&t, FIX "decode.jsonl", "qwen");
    test_chat_system(&t, "qwen");
    test_stream(&t, "数学题：😀👨‍👩‍👧 café ὅτι 𝔸", "qwen");

    const char* variants[3][2] = {{"instruct", "tokenizer_config.json"},
                                  {"base", "tokenizer_config.qwen2.5-base.json"},
                                  {"math", "tokenizer_config.qwen2.5-math-1.5b.json"}};
    for (int v = 0; v < 3; v++) {
        char* dir = make_variant_dir(qwen, variants[v][1]);
        Tokenizer u;
        tokenizer_load(&u, dir);
        char what[64];
        snprintf(what, sizeof(what), "qwen %s", variants[v][0]);
        test_chat(&u, FIX "chat.jsonl", variants[v][0], what);
        if (v == 2) {
            check(u.default_system && strstr(u.default_system, "within \\boxed{}.") && u.eos_id == 151643,
                  "qwen math: default system \"%s\", eos <|endoftext|>", u.default_system);
        }
        tokenizer_free(&u);
        remove_dir(dir);
    }

    char* data = path_join(shared, "data");
    if (dir_exists(data)) {
        test_corpus(&t, data);
    } else {
        skip("corpus: %s not found", data);
    }
    free(data);
    tokenizer_free(&t);
    free(qwen);
}

int main(void) {
    test_bytes();
    test_bad_input();
    test_cli();
    const char* shared = shared_dir();
    if (shared) {
        test_qwen(shared);
    } else {
        skip("Qwen2.5 tokenizer tests: ../shared not found (set R1_SHARED to its path)");
    }
    return test_summary("test_tokenizer");
}
