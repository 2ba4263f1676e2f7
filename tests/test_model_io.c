// tests/test_model_io.c: config.json and safetensors in and out (r1.h part 25_model_io).
// Expected values come from tests/fixtures/model_io/, made by dev/oracle/model_io_fixtures.py with
// torch (bf16/f16 conversions), the `safetensors` library (a file written by someone else) and
// transformers (Qwen2Config defaults, save_pretrained folders: tied, untied bf16, sharded).
// Every bad input must end in one fatal line that names the file.
#include "test.h"

#define FIX "tests/fixtures/model_io"
static char tmpdir[256];

// --- helpers ---------------------------------------------------------------------

static char* tmp_path(const char* name) { return path_join(tmpdir, name); }

// Same bits, or both NaN (torch and r1 may pick different NaN payloads).
static int same_float(float a, float b) {
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y || (a != a && b != b);
}

static float* read_tensor(const Safetensors* st, const char* name, size_t* n) {
    const SafetensorsEntry* e = safetensors_find(st, name);
    if (e == NULL) {
        fatal("fixture %s has no tensor %s: run dev/oracle/model_io_fixtures.py", st->path, name);
    }
    *n = safetensors_numel(e);
    float* out = (float*)malloc_check(*n * sizeof(float));
    safetensors_read_f32(st, e, out);
    return out;
}

static void write_text(const char* path, const char* text) {
    FILE* f = fopen_check(path, "wb");
    fwrite_check(text, 1, strlen(text), f, path);
    fclose(f);
}

// A hand-made safetensors file: 8-byte length (or `len_override` when nonzero), header, data_bytes zeros.
static void write_raw(const char* path, const char* header, size_t data_bytes, uint64_t len_override) {
    FILE* f = fopen_check(path, "wb");
    uint64_t len = len_override ? len_override : strlen(header);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) {
        len8[i] = (unsigned char)(len >> (8 * i));
    }
    fwrite_check(len8, 1, 8, f, path);
    fwrite_check(header, 1, strlen(header), f, path);
    for (size_t i = 0; i < data_bytes; i++) {
        fputc(0, f);
    }
    fclose(f);
}

// A tiny Qwen2 config (the same shape as the transformers fixtures).
static Qwen2Config tiny_config(int tie) {
    Qwen2Config c;
    config_preset(&c, "0.5B");
    c.hidden_size = 16, c.intermediate_size = 24, c.num_layers = 2, c.num_heads = 4, c.num_kv_heads = 2;
    c.head_dim = 4, c.vocab_size = 40, c.max_position_embeddings = 128, c.rope_theta = 10000.0f;
    c.tie_word_embeddings = tie, c.bos_token_id = 1, c.eos_token_id = 2;
    return c;
}

static int config_matches(const Qwen2Config* c, const Json* e) {
    const char* keys[] = {"hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
                          "vocab_size", "max_position_embeddings", "bos_token_id", "eos_token_id"};
    int values[] = {c->hidden_size, c->intermediate_size, c->num_layers, c->num_heads, c->num_kv_heads,
                    c->vocab_size, c->max_position_embeddings, c->bos_token_id, c->eos_token_id};
    int ok = 1;
    for (int i = 0; i < 9; i++) {
        const Json* v = json_get(e, keys[i]);
        if (v == NULL || v->number != values[i]) {
            printf("  %s: r1 %d, transformers %g\n", keys[i], values[i], v ? v->number : -999.0);
            ok = 0;
        }
    }
    const Json* tie = json_get(e, "tie_word_embeddings");
    ok &= tie != NULL && (int)tie->number == c->tie_word_embeddings;
    ok &= c->rope_theta == (float)json_get(e, "rope_theta")->number;
    ok &= c->rms_norm_eps == (float)json_get(e, "rms_norm_eps")->number;
    ok &= c->head_dim == c->hidden_size / c->num_heads;
    return ok;
}

// --- fatal cases: each runs in a child via expect_fatal ------------------------------

static void do_open(void* path) {
    Safetensors st;
    safetensors_open(&st, (const char*)path);
}

static void do_config(void* dir) {
    Qwen2Config c;
    config_load(&c, (const char*)dir);
}

static void do_load(void* dir) {
    Qwen2Config c;
    ParameterTensors p;
    config_load(&c, (const char*)dir);
    model_load_weights(&c, &p, (const char*)dir);
}

static void do_load_then_stop(void* dir) {
    do_load(dir);
    fatal("loaded"); // expect_fatal wants exit(1): this marks "got here"
}

typedef struct { const char* path; const char* tensor; int as_int; } ReadCase;
static void do_read(void* arg) {
    ReadCase* rc = (ReadCase*)arg;
    Safetensors st;
    safetensors_open(&st, rc->path);
    const SafetensorsEntry* e = safetensors_find(&st, rc->tensor);
    size_t n = safetensors_numel(e);
    void* out = malloc_check(n * 4);
    if (rc->as_int) {
        safetensors_read_i32(&st, e, (int32_t*)out);
    } else {
        safetensors_read_f32(&st, e, (float*)out);
    }
}

static void expect_fatal_named(void (*fn)(void*), void* arg, const char* file, const char* expect, const char* what) {
    char msg[1024];
    int ok = expect_fatal(fn, arg, expect, msg, sizeof(msg));
    ok = ok && strstr(msg, file) != NULL;
    check(ok, "refuses %s: %s", what, msg);
}

// --- conversions: r1 against torch -------------------------------------------------------

static void test_conversions(void) {
    Safetensors st;
    safetensors_open(&st, FIX "/conversions.safetensors");
    size_t n, n2;
    float* x = read_tensor(&st, "x", &n);
    float* bf = read_tensor(&st, "x_bf16", &n2); // r1's BF16 -> fp32 reader
    float* bf_ref = read_tensor(&st, "x_bf16_f32", &n2);
    int read_ok = 1, round_ok = 1, nan_ok = 1;
    for (size_t i = 0; i < n; i++) {
        read_ok &= same_float(bf[i], bf_ref[i]);
        round_ok &= same_float(bf16_to_f32(f32_to_bf16(x[i])), bf_ref[i]);
        nan_ok &= (x[i] != x[i]) == (bf16_to_f32(f32_to_bf16(x[i])) != bf16_to_f32(f32_to_bf16(x[i])));
    }
    check(read_ok, "BF16 tensor read as fp32 equals torch's .bfloat16().float() (%zu values)", n);
    check(round_ok, "fp32 -> bf16 rounding equals torch's (nearest even, ties, overflow to inf; %zu values)", n);
    check(nan_ok, "NaN stays NaN through bf16, nothing else becomes NaN");
    free(bf), free(bf_ref);
    float* h = read_tensor(&st, "h_f16", &n);
    float* h_ref = read_tensor(&st, "h_f16_f32", &n2);
    int f16_ok = 1;
    for (size_t i = 0; i < n; i++) {
        f16_ok &= same_float(h[i], h_ref[i]);
    }
    check(f16_ok && n >= 8192, "F16 read as fp32 equals torch's .float() for %zu bit patterns (subnormals, inf, NaN)", n);
    free(h), free(h_ref);
    float* xh = read_tensor(&st, "x_f16", &n);
    float* xh_ref = read_tensor(&st, "x_f16_f32", &n2);
    int xh_ok = 1;
    for (size_t i = 0; i < n; i++) {
        xh_ok &= same_float(xh[i], xh_ref[i]);
    }
    check(xh_ok, "F16 tensor of wide-range values read as torch reads it");
    free(xh), free(xh_ref);

    const SafetensorsEntry* e64 = safetensors_find(&st, "ids_i64");
    const SafetensorsEntry* e32 = safetensors_find(&st, "ids_i32");
    int32_t a[8], b[8];
    safetensors_read_i32(&st, e64, a);
    safetensors_read_i32(&st, e32, b);
    check(e64 && e32 && e64->ndim == 2 && e64->shape[0] == 2 && e64->shape[1] == 4 && memcmp(a, b, sizeof(a)) == 0,
          "I64 ids read as int32 equal the I32 copy, shape [2, 4]");
    const SafetensorsEntry* sc = safetensors_find(&st, "scalar");
    float s = 0;
    safetensors_read_f32(&st, sc, &s);
    check(sc && sc->ndim == 0 && safetensors_numel(sc) == 1 && s == 3.5f, "0-dimensional tensor: shape [], 1 value");
    const SafetensorsEntry* em = safetensors_find(&st, "empty");
    check(em && em->ndim == 2 && safetensors_numel(em) == 0 && em->begin == em->end, "empty tensor [0, 4]");
    check(safetensors_find(&st, "nope") == NULL && safetensors_find(&st, "__metadata__") == NULL,
          "find: absent name and __metadata__ give NULL");
    safetensors_close(&st);

    ReadCase big = {FIX "/conversions.safetensors", "big_i64", 1}, f64 = {FIX "/conversions.safetensors", "f64", 0},
             ints = {FIX "/conversions.safetensors", "ids_i32", 0};
    expect_fatal_named(do_read, &big, "conversions.safetensors", "does not fit in int32", "I64 value past int32");
    expect_fatal_named(do_read, &f64, "conversions.safetensors", "dtype F64", "reading F64 as float");
    expect_fatal_named(do_read, &ints, "conversions.safetensors", "dtype I32", "reading I32 as float");

    // write and read back: F32 exact, BF16 = torch's rounding, I32 exact
    char* path = tmp_path("roundtrip.safetensors");
    int32_t ids[8] = {0, -1, 151643, 2147483647, -2147483647 - 1, 5, 6, 7};
    SafetensorsTensor ts[3] = {
        {"a.f32", "F32", 1, {n}, x}, {"b.bf16", "BF16", 1, {n}, x}, {"c.ids", "I32", 2, {2, 4}, ids}};
    safetensors_write(path, ts, 3);
    safetensors_open(&st, path);
    float* back = read_tensor(&st, "a.f32", &n2);
    check(n2 == n && memcmp(back, x, n * 4) == 0, "F32 write/read round trip is bit exact");
    free(back);
    back = read_tensor(&st, "b.bf16", &n2);
    safetensors_close(&st);
    Safetensors ref;
    safetensors_open(&ref, FIX "/conversions.safetensors");
    bf_ref = read_tensor(&ref, "x_bf16_f32", &n2);
    safetensors_close(&ref);
    int bw_ok = 1;
    for (size_t i = 0; i < n; i++) {
        bw_ok &= same_float(back[i], bf_ref[i]);
    }
    check(bw_ok, "BF16 written by r1 reads back as torch's .bfloat16().float()");
    safetensors_open(&st, path);
    int32_t ids_back[8];
    safetensors_read_i32(&st, safetensors_find(&st, "c.ids"), ids_back);
    check(memcmp(ids, ids_back, sizeof(ids)) == 0, "I32 write/read round trip");
    const SafetensorsEntry* eb = safetensors_find(&st, "b.bf16");
    uint16_t* raw = (uint16_t*)malloc_check(eb->end - eb->begin);
    safetensors_read_bytes(&st, eb, raw);
    int raw_ok = eb->end - eb->begin == n * 2;
    for (size_t i = 0; raw_ok && i < n; i++) {
        raw_ok = same_float(bf16_to_f32(raw[i]), bf_ref[i]);
    }
    check(raw_ok, "read_bytes gives the stored bf16 bits (%zu bytes)", eb->end - eb->begin);
    free(raw);
    check(st.data_start % 8 == 0, "header padded to 8 bytes (data starts at %zu)", st.data_start);
    safetensors_close(&st);
    free(back), free(bf_ref), free(x), free(path);
}

// --- Hugging Face folders written by transformers ------------------------------------------

static void test_hf_folder(const Json* expected, const char* name) {
    char dir[256];
    snprintf(dir, sizeof(dir), FIX "/%s", name);
    const Json* exp = json_get(expected, name);
    Qwen2Config c;
    config_load(&c, dir);
    check(config_matches(&c, json_get(exp, "config")), "%s: config.json read as transformers reads it", name);
    ParameterTensors p;
    float* mem = model_load_weights(&c, &p, dir);
    ModelTensor* list;
    int n = model_tensor_list(&c, &p, &list);
    const Json* tensors = json_get(exp, "tensors");
    int ok = n == (int)tensors->len;
    for (int i = 0; i < n; i++) {
        const Json* t = json_get(tensors, list[i].name);
        char hash[32];
        snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)hash_bytes(list[i].data, list[i].numel * 4));
        if (t == NULL || strcmp(json_get_string(t, "fnv"), hash) != 0) {
            printf("  %s: differs from transformers' tensor\n", list[i].name);
            ok = 0;
        }
    }
    check(ok, "%s: all %d tensors bit-equal to transformers' (fp32 hashes)", name, n);
    if (c.tie_word_embeddings) {
        check(p.lm_head == p.embed, "%s: tied lm_head aliases the embedding", name);
    }
    free(list);
    free(mem);
}

// --- model_save / load round trips -------------------------------------------------------------

static void test_model_roundtrip(int tie, const char* dtype) {
    Qwen2Config c = tiny_config(tie);
    ParameterTensors p, q;
    float* mem = param_point(&c, &p, NULL);
    model_init_random(&c, &p, 7);
    char name[64];
    snprintf(name, sizeof(name), "model_%s_%s", tie ? "tied" : "untied", dtype);
    char* dir = tmp_path(name);
    model_save(dir, &c, &p, dtype);
    Qwen2Config c2;
    config_load(&c2, dir);
    check(memcmp(&c, &c2, sizeof(c)) == 0, "%s: config.json round trip", name);
    float* back = model_load_weights(&c2, &q, dir);
    size_t n = param_count(&c);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        float want = strcmp(dtype, "F32") == 0 ? mem[i] : bf16_to_f32(f32_to_bf16(mem[i]));
        ok &= same_float(back[i], want);
    }
    check(ok, "%s: %zu parameters read back %s", name, n, strcmp(dtype, "F32") == 0 ? "bit exact" : "as bf16(x)");
    char* file = path_join(dir, "model.safetensors");
    Safetensors st;
    safetensors_open(&st, file);
    int expected_n = (tie ? 0 : 1) + 2 + 12 * c.num_layers;
    check(st.n == expected_n && (safetensors_find(&st, "lm_head.weight") != NULL) == !tie,
          "%s: %d tensors on disk, lm_head.weight %s", name, st.n, tie ? "absent (tied, as HF)" : "present");
    check(strcmp(st.entries[0].dtype, dtype) == 0, "%s: stored as %s", name, dtype);
    safetensors_close(&st);
    free(file), free(dir), free(back), free(mem);
}

static void test_init(void) {
    Qwen2Config c = tiny_config(0);
    c.vocab_size = 2000;
    ParameterTensors p, q;
    float* a = param_point(&c, &p, NULL);
    float* b = param_point(&c, &q, NULL);
    model_init_random(&c, &p, 1);
    model_init_random(&c, &q, 1);
    size_t n = param_count(&c);
    check(memcmp(a, b, n * 4) == 0, "init: same seed, same parameters");
    model_init_random(&c, &q, 2);
    check(memcmp(a, b, n * 4) != 0, "init: another seed, other parameters");
    size_t C = c.hidden_size, L = c.num_layers, KVD = (size_t)c.num_kv_heads * c.head_dim;
    int ones = 1, zeros = 1;
    for (size_t i = 0; i < L * C; i++) {
        ones &= p.ln1[i] == 1.0f && p.ln2[i] == 1.0f;
    }
    for (size_t i = 0; i < C; i++) {
        ones &= p.norm[i] == 1.0f;
    }
    for (size_t i = 0; i < L * KVD; i++) {
        zeros &= p.bk[i] == 0.0f && p.bv[i] == 0.0f;
    }
    for (size_t i = 0; i < L * (size_t)c.num_heads * c.head_dim; i++) {
        zeros &= p.bq[i] == 0.0f;
    }
    check(ones && zeros, "init: RMSNorm weights ones, biases zeros (transformers' _init_weights)");
    double s = 0, s2 = 0;
    size_t m = (size_t)c.vocab_size * C;
    for (size_t i = 0; i < m; i++) {
        s += p.embed[i], s2 += (double)p.embed[i] * p.embed[i];
    }
    double mean = s / m, sd = sqrt(s2 / m - mean * mean);
    check(fabs(mean) < 1e-3 && fabs(sd - 0.02) < 5e-4, "init: embedding ~ normal(0, 0.02): mean %.2e, std %.5f", mean,
          sd);
    free(a), free(b);
}

static void test_configs(void) {
    Json* cases = json_load_file(FIX "/configs.json");
    for (size_t i = 0; i < cases->len; i++) {
        const Json* cs = &cases->items[i];
        const char* text = json_get_string(cs, "text");
        char err[256];
        Json* j = json_parse(text, strlen(text), err, sizeof(err));
        Qwen2Config c;
        config_from_json(&c, j, "configs.json");
        check(config_matches(&c, json_get(cs, "expect")), "config: %s", json_get_string(cs, "what"));
        json_free(j);
    }
    json_free(cases);
    Qwen2Config c;
    int known = config_preset(&c, "0.5B") && config_preset(&c, "1.5B") && config_preset(&c, "3B");
    known = known && config_preset(&c, "7B") && !c.tie_word_embeddings && c.vocab_size == 152064;
    check(known && !config_preset(&c, "13B"), "config_preset: 0.5B 1.5B 3B 7B known (7B untied, V 152064), 13B not");
    // 0.5B parameter count: 494,032,768 is the published total (qwen2.5.md)
    config_preset(&c, "0.5B");
    check(param_count(&c) == 494032768u, "config_preset 0.5B: %zu parameters", param_count(&c));
    const char* dir = shared_dir();
    if (dir == NULL) {
        skip("config: real Qwen2.5 config.json files: ../shared not found");
        return;
    }
    char* qdir = path_join(dir, "qwen/configs/Qwen2.5-Math-1.5B");
    if (!dir_exists(qdir)) {
        skip("config: %s not found", qdir);
    } else {
        Qwen2Config q, pre;
        config_load(&q, qdir);
        config_preset(&pre, "1.5B");
        check(q.hidden_size == pre.hidden_size && q.num_layers == pre.num_layers && q.num_kv_heads == 2 &&
                  q.rope_theta == 10000.0f && q.max_position_embeddings == 4096 && q.tie_word_embeddings,
              "config: real Qwen2.5-Math-1.5B config.json (theta 1e4, 4096 positions, tied)");
    }
    free(qdir);
}

// --- every bad input -----------------------------------------------------------------------------

static const char* GOOD_CONFIG =
    "{\"architectures\": [\"Qwen2ForCausalLM\"], \"model_type\": \"qwen2\", \"hidden_size\": 16, "
    "\"intermediate_size\": 24, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
    "\"vocab_size\": 40%s}";

static void bad_config(const char* what, const char* config_text, const char* expect) {
    static int k = 0;
    char name[32];
    snprintf(name, sizeof(name), "badcfg%d", k++);
    char* dir = tmp_path(name);
    make_dir(dir);
    char* path = path_join(dir, "config.json");
    write_text(path, config_text);
    expect_fatal_named(do_config, dir, path, expect, what);
    free(path), free(dir);
}

static void test_bad_configs(void) {
    char text[1024];
    snprintf(text, sizeof(text), GOOD_CONFIG, ", \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0}");
    bad_config("rope_scaling", text, "rope_scaling");
    snprintf(text, sizeof(text), GOOD_CONFIG, ", \"use_sliding_window\": true, \"sliding_window\": 4096");
    bad_config("sliding window", text, "use_sliding_window");
    snprintf(text, sizeof(text), GOOD_CONFIG, ", \"layer_types\": [\"full_attention\", \"sliding_attention\"]");
    bad_config("sliding layer_types", text, "layer_types[1]");
    snprintf(text, sizeof(text), GOOD_CONFIG, ", \"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1e6}");
    bad_config("rope_parameters yarn", text, "yarn");
    bad_config("another architecture",
               "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 16}",
               "LlamaForCausalLM");
    bad_config("another model_type", "{\"model_type\": \"qwen2_moe\", \"hidden_size\": 16}", "qwen2_moe");
    bad_config("missing hidden_size",
               "{\"architectures\": [\"Qwen2ForCausalLM\"], \"intermediate_size\": 24, \"num_hidden_layers\": 2}",
               "missing required key \"hidden_size\"");
    bad_config("missing num_key_value_heads",
               "{\"model_type\": \"qwen2\", \"hidden_size\": 16, \"intermediate_size\": 24, \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 4, \"vocab_size\": 40}",
               "num_key_value_heads");
    snprintf(text, sizeof(text), GOOD_CONFIG, ", \"hidden_act\": \"gelu\"");
    bad_config("hidden_act gelu", text, "gelu");
    snprintf(text, sizeof(text), GOOD_CONFIG, ", \"head_dim\": 8");
    bad_config("head_dim != hidden/heads", text, "head_dim 8");
    bad_config("heads not a multiple of kv heads",
               "{\"model_type\": \"qwen2\", \"hidden_size\": 12, \"intermediate_size\": 24, \"num_hidden_layers\": 2, "
               "\"num_attention_heads\": 3, \"num_key_value_heads\": 2, \"vocab_size\": 40}",
               "not a multiple of num_key_value_heads");
    snprintf(text, sizeof(text), GOOD_CONFIG, ", \"tie_word_embeddings\": \"yes\"");
    bad_config("tie_word_embeddings not a bool", text, "true or false");
    bad_config("hidden_size 1.5", "{\"model_type\": \"qwen2\", \"hidden_size\": 1.5}", "integer");
    bad_config("not JSON", "{\"model_type\": \"qwen2\",", "line 1");
    char* empty = tmp_path("no_config_here");
    make_dir(empty);
    expect_fatal_named(do_config, empty, "no_config_here/config.json", "not found", "a folder without config.json");
    free(empty);
}

static void bad_file(const char* what, const char* header, size_t data_bytes, uint64_t len, const char* expect) {
    static int k = 0;
    char name[32];
    snprintf(name, sizeof(name), "bad%d.safetensors", k++);
    char* path = tmp_path(name);
    write_raw(path, header, data_bytes, len);
    expect_fatal_named(do_open, path, path, expect, what);
    free(path);
}

static void test_bad_safetensors(void) {
    char* tiny = tmp_path("tiny.safetensors");
    write_text(tiny, "abc");
    expect_fatal_named(do_open, tiny, tiny, "too short", "a file shorter than 8 bytes");
    free(tiny);
    const char* ok1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    bad_file("header length past the end", ok1, 8, 100000, "past the end of the file");
    bad_file("header length over 100 MB", ok1, 8, 200000000, "100 MB limit");
    bad_file("header not JSON", "{\"a\":{\"dtype\":\"F32\",", 8, 0, "not a JSON object");
    bad_file("header a JSON list", "[1, 2]", 8, 0, "not a JSON object");
    bad_file("entry missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "needs \"dtype\"");
    bad_file("entry missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, 0, "\"a\"");
    bad_file("entry missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0, "data_offsets");
    bad_file("unknown dtype", "{\"a\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0,
             "unknown dtype \"F99\"");
    bad_file("data_offsets past the data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, 0,
             "out of range");
    bad_file("data_offsets end < begin", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0,
             "out of range");
    bad_file("byte size != numel * dtype size",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12, 0, "needs 3 x 4 bytes");
    bad_file("negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0,
             "non-negative integers");
    bad_file("overlapping tensors",
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             12, 0, "overlap");
}

// Writes a tiny model folder, then lets `mutate` damage it; loading must fail naming the file.
static char* saved_model(const char* name, int tie) {
    Qwen2Config c = tiny_config(tie);
    ParameterTensors p;
    float* mem = param_point(&c, &p, NULL);
    model_init_random(&c, &p, 3);
    char* dir = tmp_path(name);
    model_save(dir, &c, &p, "F32");
    free(mem);
    return dir;
}

// Rewrites dir/model.safetensors with the tensor list of config c, but: `drop` left out,
// `reshape` given the wrong first dimension, `extra` added. Data is zeros.
static void write_model_file(const char* path, const Qwen2Config* c, const char* drop, const char* reshape,
                             const char* extra) {
    ModelTensor* list;
    int n = model_tensor_list(c, NULL, &list);
    SafetensorsTensor* ts = (SafetensorsTensor*)calloc_check((size_t)n + 1, sizeof(SafetensorsTensor));
    float* zeros = (float*)calloc_check(4096, sizeof(float));
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (drop && strcmp(list[i].name, drop) == 0) {
            continue;
        }
        SafetensorsTensor t = {list[i].name, "F32", list[i].ndim, {list[i].shape[0], list[i].shape[1]}, zeros};
        if (reshape && strcmp(list[i].name, reshape) == 0) {
            t.shape[0] *= 2;
        }
        ts[m++] = t;
    }
    if (extra) {
        ts[m++] = (SafetensorsTensor){extra, "F32", 1, {4}, zeros};
    }
    safetensors_write(path, ts, m);
    free(zeros), free(ts), free(list);
}

static void test_bad_models(void) {
    Qwen2Config c = tiny_config(0);
    char* dir = saved_model("bad_missing", 0);
    char* file = path_join(dir, "model.safetensors");
    write_model_file(file, &c, "model.layers.1.mlp.up_proj.weight", NULL, NULL);
    expect_fatal_named(do_load, dir, file, "\"model.layers.1.mlp.up_proj.weight\" is missing", "a missing tensor");
    write_model_file(file, &c, "lm_head.weight", NULL, NULL);
    expect_fatal_named(do_load, dir, file, "\"lm_head.weight\" is missing, and config.json has tie_word_embeddings false",
                       "an untied model without lm_head.weight");
    write_model_file(file, &c, NULL, "model.layers.1.mlp.up_proj.weight", NULL);
    expect_fatal_named(do_load, dir, file,
                       "model.layers.1.mlp.up_proj.weight has shape [48, 16], expected [24, 16] from config.json",
                       "a wrong shape");
    free(file), free(dir);

    // a model file cut short (an interrupted copy): refused when opened, before any tensor is read
    dir = saved_model("bad_truncated", 0);
    file = path_join(dir, "model.safetensors");
    size_t size;
    char* bytes = read_file(file, &size);
    FILE* f = fopen_check(file, "wb");
    fwrite_check(bytes, 1, size - 10, f, file);
    fclose(f);
    free(bytes);
    expect_fatal_named(do_load, dir, file, "truncated", "a model file 10 bytes short");
    free(file), free(dir);

    // tied checkpoint that nevertheless stores lm_head.weight, plus an unknown extra tensor: loads,
    // both ignored (as transformers does), the lm_head is the embedding
    Qwen2Config t = tiny_config(1);
    dir = saved_model("tied_extra", 1);
    file = path_join(dir, "model.safetensors");
    Qwen2Config u = t;
    u.tie_word_embeddings = 0; // the untied list has lm_head.weight
    write_model_file(file, &u, NULL, NULL, "model.rotary_emb.inv_freq");
    ParameterTensors p;
    float* mem = model_load_weights(&t, &p, dir);
    check(p.lm_head == p.embed, "tied model with a stray lm_head.weight and inv_freq buffer: loads, lm_head = embed");
    free(mem);
    // an unknown tensor loads too, with one warning line naming the file and the tensor
    write_model_file(file, &t, NULL, NULL, "model.layers.0.self_attn.q_norm.weight");
    char msg[1024];
    int warned = expect_fatal(do_load_then_stop, dir, "ignoring 1 tensor(s) the model does not use", msg, sizeof(msg));
    check(warned && strstr(msg, file) && strstr(msg, "q_norm") && strstr(msg, "loaded"),
          "unknown extra tensor: loads with a warning: %s", msg);
    free(file), free(dir);

    // sharded: a shard named in the index that does not exist; a tensor not in the weight_map
    dir = tmp_path("bad_sharded");
    make_dir(dir);
    config_save(&c, dir, "float32");
    char* index = path_join(dir, "model.safetensors.index.json");
    ModelTensor* list;
    int n = model_tensor_list(&c, NULL, &list);
    for (int drop = 0; drop < 2; drop++) { // every tensor in shard 1 of 2 (which is missing); then one left out
        FILE* f = fopen_check(index, "wb");
        fprintf(f, "{\"metadata\": {\"total_size\": 8}, \"weight_map\": {");
        for (int i = drop; i < n; i++) {
            fprintf(f, "%s\"%s\": \"model-00001-of-00002.safetensors\"", i > drop ? ", " : "", list[i].name);
        }
        fprintf(f, "}}");
        fclose(f);
        if (drop == 0) {
            expect_fatal_named(do_load, dir, "model-00001-of-00002.safetensors", "does not exist",
                               "a shard that does not exist");
        }
    }
    char* shard = path_join(dir, "model-00001-of-00002.safetensors");
    write_model_file(shard, &c, NULL, NULL, NULL);
    expect_fatal_named(do_load, dir, index, "\"model.embed_tokens.weight\" is not in the weight_map",
                       "a tensor not in the index");
    write_text(index, "{\"metadata\": {}}");
    expect_fatal_named(do_load, dir, index, "weight_map", "an index without weight_map");
    remove(index);
    expect_fatal_named(do_load, dir, "bad_sharded", "no model.safetensors", "a folder without weights");
    free(list), free(shard), free(index), free(dir);
}

// Shards written by r1 by hand (two files + index), loaded as one model.
static void test_sharded_by_hand(void) {
    Qwen2Config c = tiny_config(0);
    ParameterTensors p, q;
    float* mem = param_point(&c, &p, NULL);
    model_init_random(&c, &p, 11);
    char* dir = tmp_path("hand_sharded");
    make_dir(dir);
    config_save(&c, dir, "float32");
    ModelTensor* list;
    int n = model_tensor_list(&c, &p, &list);
    SafetensorsTensor* ts = model_safetensors_view(list, n, "F32");
    char* s1 = path_join(dir, "a.safetensors");
    char* s2 = path_join(dir, "b.safetensors");
    // interleaved: even tensors in a, odd ones in b, so loading goes back and forth between shards
    SafetensorsTensor* split = (SafetensorsTensor*)calloc_check((size_t)n, sizeof(SafetensorsTensor));
    int na = 0;
    for (int i = 0; i < n; i += 2) {
        split[na++] = ts[i];
    }
    for (int i = 1; i < n; i += 2) {
        split[na + i / 2] = ts[i];
    }
    safetensors_write(s1, split, na);
    safetensors_write(s2, split + na, n - na);
    free(split);
    char* index = path_join(dir, "model.safetensors.index.json");
    FILE* f = fopen_check(index, "wb");
    fprintf(f, "{\"metadata\": {\"total_size\": %zu}, \"weight_map\": {", param_count(&c) * 4);
    for (int i = n - 1; i >= 0; i--) { // any order
        fprintf(f, "\"%s\": \"%s\"%s", list[i].name, i % 2 == 0 ? "a.safetensors" : "b.safetensors", i ? ", " : "");
    }
    fprintf(f, "}}");
    fclose(f);
    float* back = model_load_weights(&c, &q, dir);
    check(memcmp(back, mem, param_count(&c) * 4) == 0, "sharded (2 interleaved files + index written here): loads bit exact");
    free(back), free(mem), free(index), free(s1), free(s2), free(ts), free(list), free(dir);
}

// make_model's streaming writer must give the same files as init + save of the whole model.
static void test_save_random(void) {
    const char* dtypes[2] = {"F32", "BF16"};
    for (int k = 0; k < 2; k++) {
        Qwen2Config c = tiny_config(k);
        ParameterTensors p;
        float* mem = param_point(&c, &p, NULL);
        model_init_random(&c, &p, 5);
        char* a = tmp_path("whole");
        char* b = tmp_path("streamed");
        model_save(a, &c, &p, dtypes[k]);
        model_save_random(b, &c, 5, dtypes[k]);
        const char* files[2] = {"model.safetensors", "config.json"};
        int same = 1;
        for (int f = 0; f < 2; f++) {
            char* fa = path_join(a, files[f]);
            char* fb = path_join(b, files[f]);
            size_t na, nb;
            char* da = read_file(fa, &na);
            char* db = read_file(fb, &nb);
            same &= na == nb && memcmp(da, db, na) == 0;
            free(da), free(db), free(fa), free(fb);
        }
        check(same, "model_save_random (streamed, %s) writes the same files as model_init_random + model_save",
              dtypes[k]);
        free(a), free(b), free(mem);
    }
}

int main(void) {
    if (!file_exists(FIX "/conversions.safetensors")) {
        printf("FAIL - %s/conversions.safetensors missing: run python3 dev/oracle/model_io_fixtures.py\n", FIX);
        return 1;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/r1_test_model_io_XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        fatal("cannot create a temporary folder in /tmp: %s", strerror(errno));
    }
    test_conversions();
    Json* expected = json_load_file(FIX "/expected.json");
    test_hf_folder(expected, "hf_tied_f32");
    test_hf_folder(expected, "hf_untied_bf16");
    test_hf_folder(expected, "hf_sharded");
    json_free(expected);
    test_model_roundtrip(1, "F32");
    test_model_roundtrip(0, "F32");
    test_model_roundtrip(1, "BF16");
    test_model_roundtrip(0, "BF16");
    test_sharded_by_hand();
    test_save_random();
    test_init();
    test_configs();
    test_bad_configs();
    test_bad_safetensors();
    test_bad_models();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        printf("note: could not remove %s\n", tmpdir);
    }
    return test_summary("test_model_io");
}
