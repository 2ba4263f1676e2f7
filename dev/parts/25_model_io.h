// ----------------------------------------------------------------------------
// Qwen2.5: model files in and out
// r1 reads and writes the Hugging Face folder as published, so there is no conversion step:
// config.json (the architecture numbers) and model.safetensors, or several shards listed by
// model.safetensors.index.json (the weights). What r1 writes, `transformers` loads unchanged.
//
// A safetensors file is: an 8-byte little-endian length N, N bytes of JSON header
//     {"model.norm.weight": {"dtype": "BF16", "shape": [896], "data_offsets": [0, 1792]}, ...,
//      "__metadata__": {"format": "pt"}}
// and then the data buffer, each tensor a row-major little-endian block at its offsets (relative to
// the start of the buffer). A 7B model in bf16 is 15 GB, so we never read a whole file: the header
// is read once and each tensor is fetched with fseeko/fread (64-bit offsets) when it is needed.

// --- config.json -------------------------------------------------------------

// An integer field of config.json. Absent keys take `def`, or are an error when required.
static int config_int(const Json* j, const char* key, const char* path, int required, int def) {
    const Json* v = json_get(j, key);
    if (v == NULL) {
        if (required) {
            fatal("%s: missing required key \"%s\" (is this a Qwen2 config.json?)", path, key);
        }
        return def;
    }
    if (v->type != JSON_NUMBER || v->number != floor(v->number) || v->number < 0 || v->number > 2147483647.0) {
        fatal("%s: \"%s\" must be a non-negative integer", path, key);
    }
    return (int)v->number;
}

static double config_number(const Json* j, const char* key, const char* path, double def) {
    const Json* v = json_get(j, key);
    if (v == NULL) {
        return def;
    }
    if (v->type != JSON_NUMBER) {
        fatal("%s: \"%s\" must be a number", path, key);
    }
    return v->number;
}

// true/false fields; absent -> def. (null counts as false, as Python's truthiness does.)
static int config_bool(const Json* j, const char* key, const char* path, int def) {
    const Json* v = json_get(j, key);
    if (v == NULL) {
        return def;
    }
    if (v->type == JSON_NULL) {
        return 0;
    }
    if (v->type != JSON_BOOL) {
        fatal("%s: \"%s\" must be true or false", path, key);
    }
    return (int)v->number;
}

// bos/eos ids: an integer, null (-> -1) or, for eos, a list whose first entry we keep.
static int config_token_id(const Json* j, const char* key, const char* path) {
    const Json* v = json_get(j, key);
    if (v != NULL && v->type == JSON_ARRAY) {
        v = v->len > 0 ? &v->items[0] : NULL;
    }
    if (v == NULL || v->type == JSON_NULL) {
        return -1;
    }
    if (v->type != JSON_NUMBER || v->number != floor(v->number) || v->number < 0 || v->number > 2147483647.0) {
        fatal("%s: \"%s\" must be a token id", path, key);
    }
    return (int)v->number;
}

// Only plain Qwen2 decoders are supported: refuse every config feature r1 does not implement rather
// than run a different model silently.
static void config_check_supported(const Json* j, const char* path) {
    const Json* arch = json_get(j, "architectures");
    const char* model_type = json_get_string(j, "model_type");
    if (arch != NULL && arch->type == JSON_ARRAY) {
        int found = 0;
        for (size_t i = 0; i < arch->len; i++) {
            found |= arch->items[i].type == JSON_STRING && strcmp(arch->items[i].string, "Qwen2ForCausalLM") == 0;
        }
        if (!found) {
            const char* a = arch->len > 0 && arch->items[0].type == JSON_STRING ? arch->items[0].string : "?";
            fatal("%s: architecture \"%s\" is not supported: r1 runs Qwen2ForCausalLM (Qwen2 / Qwen2.5) models",
                  path, a);
        }
    } else if (arch != NULL && arch->type != JSON_NULL) {
        fatal("%s: \"architectures\" must be a list of strings", path);
    }
    if (model_type != NULL && strcmp(model_type, "qwen2") != 0) {
        fatal("%s: model_type \"%s\" is not supported: r1 runs model_type \"qwen2\" (Qwen2 / Qwen2.5)", path,
              model_type);
    }
    if (arch == NULL && model_type == NULL) {
        fatal("%s: neither \"architectures\" nor \"model_type\" is set; expected Qwen2ForCausalLM / \"qwen2\"", path);
    }
    const char* act = json_get_string(j, "hidden_act");
    if (json_get(j, "hidden_act") != NULL && (act == NULL || strcmp(act, "silu") != 0)) {
        fatal("%s: hidden_act \"%s\" is not supported: Qwen2 uses \"silu\"", path, act ? act : "?");
    }
    const Json* scaling = json_get(j, "rope_scaling");
    if (scaling != NULL && scaling->type != JSON_NULL) {
        fatal("%s: \"rope_scaling\" is set (YaRN / long context): r1 implements plain RoPE only; set it to null",
              path);
    }
    if (config_bool(j, "use_sliding_window", path, 0)) {
        fatal("%s: \"use_sliding_window\" is true: r1 implements full causal attention only (Qwen2.5 uses false)",
              path);
    }
    const Json* types = json_get(j, "layer_types");
    for (size_t i = 0; types != NULL && types->type == JSON_ARRAY && i < types->len; i++) {
        const Json* t = &types->items[i];
        if (t->type != JSON_STRING || strcmp(t->string, "full_attention") != 0) {
            fatal("%s: layer_types[%zu] is not \"full_attention\": r1 implements full causal attention only", path, i);
        }
    }
}

// RoPE base: "rope_theta" (transformers 4.x) or "rope_parameters": {"rope_type": "default",
// "rope_theta": ...} (transformers 5.x). Default 10000, as Qwen2Config's.
static float config_rope_theta(const Json* j, const char* path) {
    double theta = config_number(j, "rope_theta", path, 10000.0);
    const Json* rp = json_get(j, "rope_parameters");
    if (rp != NULL && rp->type == JSON_OBJECT) {
        const char* type = json_get_string(rp, "rope_type");
        if (type == NULL) {
            type = json_get_string(rp, "type");
        }
        if (type != NULL && strcmp(type, "default") != 0) {
            fatal("%s: rope_parameters.rope_type \"%s\" is not supported: r1 implements plain RoPE (\"default\")",
                  path, type);
        }
        theta = config_number(rp, "rope_theta", path, theta);
    } else if (rp != NULL && rp->type != JSON_NULL) {
        fatal("%s: \"rope_parameters\" must be an object", path);
    }
    if (!(theta > 0)) {
        fatal("%s: rope_theta must be positive", path);
    }
    return (float)theta;
}

// Reads a parsed config.json. Absent keys behave as in transformers' Qwen2Config, except the five
// size keys and num_key_value_heads, which are required: Qwen2Config's defaults for them describe a
// 7B-like model (and 32 kv heads), which would never match the weights next to the file.
static void config_from_json(Qwen2Config* c, const Json* j, const char* path) {
    if (j == NULL || j->type != JSON_OBJECT) {
        fatal("%s: expected a JSON object (a Hugging Face config.json)", path);
    }
    config_check_supported(j, path);
    memset(c, 0, sizeof(*c));
    c->hidden_size = config_int(j, "hidden_size", path, 1, 0);
    c->intermediate_size = config_int(j, "intermediate_size", path, 1, 0);
    c->num_layers = config_int(j, "num_hidden_layers", path, 1, 0);
    c->num_heads = config_int(j, "num_attention_heads", path, 1, 0);
    c->vocab_size = config_int(j, "vocab_size", path, 1, 0);
    const Json* kv = json_get(j, "num_key_value_heads");
    if (kv == NULL) {
        fatal("%s: missing required key \"num_key_value_heads\" (transformers would assume 32)", path);
    }
    // null means "same as the query heads" (plain multi-head attention), as in Qwen2Config
    c->num_kv_heads = kv->type == JSON_NULL ? c->num_heads : config_int(j, "num_key_value_heads", path, 1, 0);
    c->max_position_embeddings = config_int(j, "max_position_embeddings", path, 0, 32768);
    c->rope_theta = config_rope_theta(j, path);
    c->rms_norm_eps = (float)config_number(j, "rms_norm_eps", path, 1e-6);
    c->tie_word_embeddings = config_bool(j, "tie_word_embeddings", path, 0); // Qwen2Config default: false
    c->bos_token_id = config_token_id(j, "bos_token_id", path);
    c->eos_token_id = config_token_id(j, "eos_token_id", path);
    if (c->hidden_size <= 0 || c->intermediate_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 ||
        c->num_kv_heads <= 0 || c->vocab_size <= 0 || c->max_position_embeddings <= 0) {
        fatal("%s: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, "
              "vocab_size and max_position_embeddings must all be positive", path);
    }
    if (c->hidden_size % c->num_heads != 0) {
        fatal("%s: hidden_size %d is not a multiple of num_attention_heads %d", path, c->hidden_size, c->num_heads);
    }
    if (c->num_heads % c->num_kv_heads != 0) {
        fatal("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path, c->num_heads,
              c->num_kv_heads);
    }
    c->head_dim = c->hidden_size / c->num_heads;
    const Json* hd = json_get(j, "head_dim");
    if (hd != NULL && hd->type != JSON_NULL && config_int(j, "head_dim", path, 1, 0) != c->head_dim) {
        fatal("%s: head_dim %d differs from hidden_size / num_attention_heads = %d; r1 supports only the latter",
              path, config_int(j, "head_dim", path, 1, 0), c->head_dim);
    }
    if (c->head_dim % 2 != 0) {
        fatal("%s: head_dim %d is odd; RoPE rotates pairs of dimensions", path, c->head_dim);
    }
    if (!(c->rms_norm_eps > 0)) {
        fatal("%s: rms_norm_eps must be positive", path);
    }
}

static void config_load(Qwen2Config* c, const char* model_dir) {
    char* path = path_join(model_dir, "config.json");
    if (!file_exists(path)) {
        fatal("%s not found: expected a Hugging Face model folder (config.json + model.safetensors)", path);
    }
    Json* j = json_load_file(path);
    config_from_json(c, j, path);
    json_free(j);
    free(path);
}

// Writes a float32 with the fewest digits that read back as the same float32 (1e-06, not
// 9.99999997e-07), and always as a float for Python (1000000.0, never 1000000).
static void config_write_float(FILE* f, float x) {
    char buf[64];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof(buf), "%.*g", digits, (double)x);
        if ((float)strtod(buf, NULL) == x) {
            break;
        }
    }
    if (strchr(buf, 'e') != NULL && x == floorf(x) && fabsf(x) < 1e15f) {
        snprintf(buf, sizeof(buf), "%.1f", (double)x); // 1000000.0 rather than 1e+06, as Python writes
    }
    if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL && strchr(buf, 'n') == NULL) {
        strcat(buf, ".0");
    }
    fputs(buf, f);
}

static void config_write_token_id(FILE* f, int id) {
    if (id < 0) {
        fputs("null", f);
    } else {
        fprintf(f, "%d", id);
    }
}

// Writes config.json as transformers writes it for Qwen2 (4.x key names, which 5.x also reads), so
// AutoModelForCausalLM.from_pretrained(dir) builds exactly this model. torch_dtype is "bfloat16" or
// "float32" (what the weights are stored in).
static void config_save(const Qwen2Config* c, const char* model_dir, const char* torch_dtype) {
    char* path = path_join(model_dir, "config.json");
    char* tmp;
    FILE* f = atomic_open(path, &tmp);
    fprintf(f, "{\n  \"architectures\": [\n    \"Qwen2ForCausalLM\"\n  ],\n");
    fprintf(f, "  \"attention_dropout\": 0.0,\n  \"bos_token_id\": ");
    config_write_token_id(f, c->bos_token_id);
    fprintf(f, ",\n  \"eos_token_id\": ");
    config_write_token_id(f, c->eos_token_id);
    fprintf(f, ",\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": %d,\n", c->hidden_size);
    fprintf(f, "  \"initializer_range\": 0.02,\n  \"intermediate_size\": %d,\n", c->intermediate_size);
    fprintf(f, "  \"max_position_embeddings\": %d,\n", c->max_position_embeddings);
    fprintf(f, "  \"max_window_layers\": %d,\n  \"model_type\": \"qwen2\",\n", c->num_layers);
    fprintf(f, "  \"num_attention_heads\": %d,\n  \"num_hidden_layers\": %d,\n", c->num_heads, c->num_layers);
    fprintf(f, "  \"num_key_value_heads\": %d,\n  \"rms_norm_eps\": ", c->num_kv_heads);
    config_write_float(f, c->rms_norm_eps);
    fprintf(f, ",\n  \"rope_scaling\": null,\n  \"rope_theta\": ");
    config_write_float(f, c->rope_theta);
    fprintf(f, ",\n  \"sliding_window\": %d,\n", c->max_position_embeddings);
    fprintf(f, "  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": ", c->tie_word_embeddings ? "true" : "false");
    json_write_string(f, torch_dtype, strlen(torch_dtype));
    fprintf(f, ",\n  \"use_cache\": true,\n  \"use_sliding_window\": false,\n");
    fprintf(f, "  \"vocab_size\": %d\n}\n", c->vocab_size);
    atomic_commit(f, tmp, path);
    free(path);
}

// The published Qwen2.5 sizes (research notes, qwen2.5.md). Returns 0 for an unknown name.
static int config_preset(Qwen2Config* c, const char* name) {
    //                         C     I      L   NH  NKV  V       tie max_pos
    static const struct { const char* name; int C, I, L, NH, NKV, V, tie, max_pos; } presets[] = {
        {"0.5B", 896, 4864, 24, 14, 2, 151936, 1, 32768},
        {"1.5B", 1536, 8960, 28, 12, 2, 151936, 1, 32768},
        {"3B", 2048, 11008, 36, 16, 2, 151936, 1, 32768},
        {"7B", 3584, 18944, 28, 28, 4, 152064, 0, 131072},
    };
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcmp(name, presets[i].name) == 0) {
            memset(c, 0, sizeof(*c));
            c->hidden_size = presets[i].C;
            c->intermediate_size = presets[i].I;
            c->num_layers = presets[i].L;
            c->num_heads = presets[i].NH;
            c->num_kv_heads = presets[i].NKV;
            c->head_dim = presets[i].C / presets[i].NH;
            c->vocab_size = presets[i].V;
            c->max_position_embeddings = presets[i].max_pos;
            c->rope_theta = 1000000.0f;
            c->rms_norm_eps = 1e-6f;
            c->tie_word_embeddings = presets[i].tie;
            c->bos_token_id = 151643; // <|endoftext|>, as the base models' config.json
            c->eos_token_id = 151643;
            return 1;
        }
    }
    return 0;
}

// --- number formats ------------------------------------------------------------
// bf16 is the top half of an fp32 (same exponent, 7 mantissa bits), so widening is a shift and
// narrowing rounds the dropped 16 bits to nearest, ties to even, as torch's .bfloat16() does.

static float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
        return (uint16_t)((bits >> 16) | 0x0040); // NaN stays NaN (quiet), whatever its payload
    }
    uint32_t rounding = 0x7FFF + ((bits >> 16) & 1); // ties go to the even neighbour
    return (uint16_t)((bits + rounding) >> 16);      // may carry into the exponent: rounds up to inf
}

// IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals, inf and NaN included.
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13); // inf or NaN
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13); // normal: rebias 15 -> 127
    } else if (man == 0) {
        bits = sign; // signed zero
    } else {
        float f = (float)man * 5.9604644775390625e-8f; // subnormal: man * 2^-24, exact in fp32
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// --- safetensors: reading -------------------------------------------------------

typedef struct {
    char* name;
    char dtype[8];     // "F32", "F16", "BF16", "I32", "I64", ...
    int ndim;
    size_t shape[8];
    size_t begin, end; // byte offsets into the data buffer (after the 8-byte length and the JSON header)
} SafetensorsEntry;

// An open safetensors file: the parsed header, and the FILE* that tensors are read from on demand
// (fseeko + fread; no mmap, so it works the same everywhere and never maps 15 GB at once).
typedef struct {
    char* path;
    FILE* file;
    size_t file_size, data_start; // data_start = 8 + header length
    int n;
    SafetensorsEntry* entries;
} Safetensors;

// Bytes per element of every dtype the safetensors format defines (0: not a safetensors dtype).
static size_t safetensors_dtype_size(const char* dtype) {
    static const struct { const char* name; size_t size; } dtypes[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"U64", 8}, {"I32", 4}, {"U32", 4},
        {"I16", 2}, {"U16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++) {
        if (strcmp(dtype, dtypes[i].name) == 0) {
            return dtypes[i].size;
        }
    }
    return 0;
}

// A non-negative JSON integer as size_t, from its text (exact past 2^53, unlike the double).
static int safetensors_size_value(const Json* v, size_t* out) {
    if (v == NULL || v->type != JSON_NUMBER || v->string == NULL || v->string[0] == '-') {
        return 0;
    }
    for (const char* s = v->string; *s; s++) {
        if (!isdigit((unsigned char)*s)) {
            return 0; // "1.5", "1e3": not an integer as written
        }
    }
    errno = 0;
    unsigned long long x = strtoull(v->string, NULL, 10);
    if (errno != 0 || x > (unsigned long long)SIZE_MAX) {
        return 0;
    }
    *out = (size_t)x;
    return 1;
}

static size_t safetensors_numel(const SafetensorsEntry* e) {
    size_t n = 1;
    for (int i = 0; i < e->ndim; i++) {
        n *= e->shape[i];
    }
    return n;
}

// Fills one entry from its header object {"dtype", "shape", "data_offsets"}; checks it alone.
static void safetensors_parse_entry(const Safetensors* st, const char* name, const Json* v, SafetensorsEntry* e) {
    const char* dtype = json_get_string(v, "dtype");
    const Json* shape = json_get(v, "shape");
    const Json* offsets = json_get(v, "data_offsets");
    if (v->type != JSON_OBJECT || dtype == NULL || shape == NULL || shape->type != JSON_ARRAY || offsets == NULL ||
        offsets->type != JSON_ARRAY || offsets->len != 2) {
        fatal("%s: header entry \"%s\" needs \"dtype\" (string), \"shape\" (list) and \"data_offsets\" "
              "([begin, end]): is this a safetensors file?", st->path, name);
    }
    size_t dsize = safetensors_dtype_size(dtype);
    if (dsize == 0 || strlen(dtype) >= sizeof(e->dtype)) {
        fatal("%s: tensor \"%s\" has unknown dtype \"%s\" (safetensors dtypes: F64 F32 F16 BF16 I64 I32 ...)",
              st->path, name, dtype);
    }
    if (shape->len > 8) {
        fatal("%s: tensor \"%s\" has %zu dimensions; at most 8 are supported", st->path, name, shape->len);
    }
    e->name = strdup_check(name);
    strcpy(e->dtype, dtype);
    e->ndim = (int)shape->len;
    size_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (!safetensors_size_value(&shape->items[d], &e->shape[d])) {
            fatal("%s: tensor \"%s\": shape entries must be non-negative integers", st->path, name);
        }
        if (e->shape[d] != 0 && numel > SIZE_MAX / e->shape[d]) {
            fatal("%s: tensor \"%s\": shape overflows", st->path, name);
        }
        numel *= e->shape[d];
    }
    if (!safetensors_size_value(&offsets->items[0], &e->begin) || !safetensors_size_value(&offsets->items[1], &e->end)) {
        fatal("%s: tensor \"%s\": data_offsets must be two non-negative integers", st->path, name);
    }
    size_t data_size = st->file_size - st->data_start;
    if (e->end < e->begin || e->end > data_size) {
        fatal("%s: tensor \"%s\": data_offsets [%zu, %zu] out of range (the data buffer has %zu bytes): "
              "truncated or corrupt file?", st->path, name, e->begin, e->end, data_size);
    }
    if (numel > SIZE_MAX / dsize || e->end - e->begin != numel * dsize) {
        fatal("%s: tensor \"%s\": data_offsets span %zu bytes but %s shape needs %zu x %zu bytes", st->path, name,
              e->end - e->begin, dtype, numel, dsize);
    }
}

static int safetensors_cmp_begin(const void* a, const void* b) {
    const SafetensorsEntry *x = (const SafetensorsEntry*)a, *y = (const SafetensorsEntry*)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

// Reads the header and checks every entry: dtypes, shapes, offsets inside the file, no overlaps.
// Entries end up sorted by offset (the file order); safetensors_find searches by name.
static void safetensors_open(Safetensors* st, const char* path) {
    const uint16_t one = 1;
    if (*(const unsigned char*)&one != 1) {
        fatal("%s: this machine is big-endian; r1 reads safetensors data (little-endian) only on little-endian "
              "machines", path);
    }
    memset(st, 0, sizeof(*st));
    st->path = strdup_check(path);
    st->file = fopen_check(path, "rb");
    if (fseeko(st->file, 0, SEEK_END) != 0) {
        fatal("%s: cannot seek: %s", path, strerror(errno));
    }
    off_t size = ftello(st->file);
    if (size < 0) {
        fatal("%s: cannot tell the file size: %s", path, strerror(errno));
    }
    st->file_size = (size_t)size;
    if (st->file_size < 8) {
        fatal("%s: %zu bytes is too short for a safetensors file (it starts with an 8-byte header length)", path,
              st->file_size);
    }
    unsigned char len8[8];
    fseeko(st->file, 0, SEEK_SET);
    fread_check(len8, 1, 8, st->file, path);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) {
        header_len = (header_len << 8) | len8[i]; // little-endian on every host
    }
    if (header_len > 100000000) { // the format's own limit (safetensors' MAX_HEADER_SIZE)
        fatal("%s: header length %llu is over safetensors' 100 MB limit: corrupt or not safetensors?", path,
              (unsigned long long)header_len);
    }
    if (header_len > st->file_size - 8) {
        fatal("%s: header length %llu runs past the end of the file (%zu bytes): truncated or not safetensors?",
              path, (unsigned long long)header_len, st->file_size);
    }
    st->data_start = 8 + (size_t)header_len;
    char* text = (char*)malloc_check((size_t)header_len + 1);
    fread_check(text, 1, (size_t)header_len, st->file, path);
    text[header_len] = '\0';
    char err[256];
    Json* h = json_parse(text, (size_t)header_len, err, sizeof(err));
    free(text);
    if (h == NULL || h->type != JSON_OBJECT) {
        fatal("%s: the header is not a JSON object (%s): not a safetensors file?", path, h ? "wrong type" : err);
    }
    st->entries = (SafetensorsEntry*)calloc_check(h->len, sizeof(SafetensorsEntry));
    for (size_t i = 0; i < h->len; i++) {
        if (strcmp(h->keys[i], "__metadata__") == 0) {
            continue; // free-form string map ({"format": "pt"}), not a tensor
        }
        safetensors_parse_entry(st, h->keys[i], &h->items[i], &st->entries[st->n++]);
    }
    json_free(h);
    qsort(st->entries, (size_t)st->n, sizeof(SafetensorsEntry), safetensors_cmp_begin);
    for (int i = 1; i < st->n; i++) {
        if (st->entries[i].begin < st->entries[i - 1].end) {
            fatal("%s: tensors \"%s\" and \"%s\" overlap in the data buffer: corrupt file", path,
                  st->entries[i - 1].name, st->entries[i].name);
        }
    }
}

// NULL when absent (a linear search: a 7B shard has ~100 tensors, looked up once each).
static const SafetensorsEntry* safetensors_find(const Safetensors* st, const char* name) {
    for (int i = 0; i < st->n; i++) {
        if (strcmp(st->entries[i].name, name) == 0) {
            return &st->entries[i];
        }
    }
    return NULL;
}

// Reads `count` elements of `esize` bytes starting at element `first` of tensor e.
static void safetensors_read_raw(const Safetensors* st, const SafetensorsEntry* e, size_t first, size_t count,
                                 size_t esize, void* out) {
    off_t at = (off_t)(st->data_start + e->begin + first * esize);
    if (fseeko(st->file, at, SEEK_SET) != 0) {
        fatal("%s: cannot seek to tensor \"%s\": %s", st->path, e->name, strerror(errno));
    }
    if (fread(out, esize, count, st->file) != count) {
        fatal("%s: short read of tensor \"%s\" (%s): is the file truncated?", st->path, e->name,
              feof(st->file) ? "end of file" : strerror(errno));
    }
}

// The tensor's bytes exactly as stored (end - begin of them), e.g. bf16 weights for a GPU upload.
static void safetensors_read_bytes(const Safetensors* st, const SafetensorsEntry* e, void* out) {
    safetensors_read_raw(st, e, 0, e->end - e->begin, 1, out);
}

// Any float tensor into fp32. bf16 and f16 are converted in chunks, so the only big buffer is out.
static void safetensors_read_f32(const Safetensors* st, const SafetensorsEntry* e, float* out) {
    size_t n = safetensors_numel(e);
    if (strcmp(e->dtype, "F32") == 0) {
        safetensors_read_raw(st, e, 0, n, 4, out); // the host is little-endian, as the file
        return;
    }
    int bf16 = strcmp(e->dtype, "BF16") == 0;
    if (!bf16 && strcmp(e->dtype, "F16") != 0) {
        fatal("%s: tensor \"%s\" has dtype %s; r1 reads floats from F32, BF16 or F16", st->path, e->name, e->dtype);
    }
    size_t chunk = (size_t)1 << 20;
    uint16_t* buf = (uint16_t*)malloc_check((n < chunk ? n : chunk) * sizeof(uint16_t));
    for (size_t i = 0; i < n; i += chunk) {
        size_t m = n - i < chunk ? n - i : chunk;
        safetensors_read_raw(st, e, i, m, 2, buf);
        for (size_t k = 0; k < m; k++) {
            out[i + k] = bf16 ? bf16_to_f32(buf[k]) : f16_to_f32(buf[k]);
        }
    }
    free(buf);
}

// Integer tensors (token ids, labels, positions) into int32; I64 values must fit.
static void safetensors_read_i32(const Safetensors* st, const SafetensorsEntry* e, int32_t* out) {
    size_t n = safetensors_numel(e);
    if (strcmp(e->dtype, "I32") == 0) {
        safetensors_read_raw(st, e, 0, n, 4, out);
        return;
    }
    if (strcmp(e->dtype, "I64") != 0) {
        fatal("%s: tensor \"%s\" has dtype %s; r1 reads integers from I32 or I64", st->path, e->name, e->dtype);
    }
    int64_t* buf = (int64_t*)malloc_check(n * sizeof(int64_t));
    safetensors_read_raw(st, e, 0, n, 8, buf);
    for (size_t i = 0; i < n; i++) {
        if (buf[i] < INT32_MIN || buf[i] > INT32_MAX) {
            fatal("%s: tensor \"%s\": value %lld at index %zu does not fit in int32", st->path, e->name,
                  (long long)buf[i], i);
        }
        out[i] = (int32_t)buf[i];
    }
    free(buf);
}

static void safetensors_close(Safetensors* st) {
    if (st->file) {
        fclose(st->file);
    }
    for (int i = 0; i < st->n; i++) {
        free(st->entries[i].name);
    }
    free(st->entries);
    free(st->path);
    memset(st, 0, sizeof(*st));
}

// --- safetensors: writing ---------------------------------------------------------
// data is float* for "F32" and "BF16" (rounded on the way out) and int32_t* for "I32". The writer is
// split in three (begin, data, end) so that make_model can stream a 7B model tensor by tensor.

typedef struct {
    const char* name;
    const char* dtype;
    int ndim;
    size_t shape[8];
    const void* data;
} SafetensorsTensor;

static size_t safetensors_tensor_bytes(const SafetensorsTensor* t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        n *= t->shape[d];
    }
    return n * (strcmp(t->dtype, "BF16") == 0 ? 2 : 4);
}

// Opens path.tmp and writes the length and header; the data must follow in the same order.
static FILE* safetensors_write_begin(const char* path, const SafetensorsTensor* tensors, int n, char** tmp) {
    char* header = NULL;
    size_t header_size = 0, offset = 0;
    FILE* h = open_memstream(&header, &header_size);
    fprintf(h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        const SafetensorsTensor* t = &tensors[i];
        if (strcmp(t->dtype, "F32") != 0 && strcmp(t->dtype, "BF16") != 0 && strcmp(t->dtype, "I32") != 0) {
            fatal("%s: cannot write tensor \"%s\" as %s (r1 writes F32, BF16 or I32)", path, t->name, t->dtype);
        }
        size_t bytes = safetensors_tensor_bytes(t);
        fputc(',', h);
        json_write_string(h, t->name, strlen(t->name));
        fprintf(h, ":{\"dtype\":\"%s\",\"shape\":[", t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            fprintf(h, "%s%zu", d ? "," : "", t->shape[d]);
        }
        fprintf(h, "],\"data_offsets\":[%zu,%zu]}", offset, offset + bytes);
        offset += bytes;
    }
    fputc('}', h);
    while ((ftell(h) % 8) != 0) {
        fputc(' ', h); // pad to 8 bytes so the data buffer is aligned, as the Python writer does
    }
    fclose(h);
    FILE* f = atomic_open(path, tmp);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) {
        len8[i] = (unsigned char)((uint64_t)header_size >> (8 * i));
    }
    fwrite_check(len8, 1, 8, f, *tmp);
    fwrite_check(header, 1, header_size, f, *tmp);
    free(header);
    return f;
}

// Writes count elements of a tensor's data (called once per tensor or in consecutive pieces).
static void safetensors_write_data(FILE* f, const char* dtype, const void* data, size_t count, const char* path) {
    if (strcmp(dtype, "BF16") != 0) {
        fwrite_check(data, 4, count, f, path);
        return;
    }
    const float* x = (const float*)data;
    uint16_t buf[4096];
    for (size_t i = 0; i < count; i += 4096) {
        size_t m = count - i < 4096 ? count - i : 4096;
        for (size_t k = 0; k < m; k++) {
            buf[k] = f32_to_bf16(x[i + k]);
        }
        fwrite_check(buf, 2, m, f, path);
    }
}

// Writes a whole safetensors file atomically (path.tmp, then renamed).
static void safetensors_write(const char* path, const SafetensorsTensor* tensors, int n) {
    char* tmp;
    FILE* f = safetensors_write_begin(path, tensors, n, &tmp);
    for (int i = 0; i < n; i++) {
        size_t bytes = safetensors_tensor_bytes(&tensors[i]);
        size_t count = bytes / (strcmp(tensors[i].dtype, "BF16") == 0 ? 2 : 4);
        safetensors_write_data(f, tensors[i].dtype, tensors[i].data, count, tmp);
    }
    atomic_commit(f, tmp, path);
}

// --- whole models ------------------------------------------------------------------

// One parameter tensor as stored on disk: its HF name (layer filled in), shape and place in the
// buffer. Parameters are stacked over layers in memory; on disk every layer has its own tensor.
typedef struct {
    char name[96];
    int ndim;
    size_t shape[2];
    size_t numel;
    ParamKind kind;
    int spec, layer; // row of PARAM_SPECS, layer (0 for unstacked tensors)
    float* data;     // (numel) inside the parameter buffer; NULL when listed without one
} ModelTensor;

// Lists the tensors a checkpoint of config c holds, in PARAM_SPECS order (layer by layer for the
// stacked ones). Tied models have no lm_head.weight, as in Hugging Face files. Returns the count;
// *out is malloc'd. p may be NULL (names and shapes only).
static int model_tensor_list(const Qwen2Config* c, const ParameterTensors* p, ModelTensor** out) {
    size_t rows[NUM_PARAM_TENSORS + 1], cols[NUM_PARAM_TENSORS + 1];
    param_shapes(c, rows, cols);
    float* ptrs[NUM_PARAM_TENSORS + 1] = {NULL};
    if (p != NULL) {
        param_list((ParameterTensors*)p, ptrs);
    }
    int n_specs = c->tie_word_embeddings ? NUM_PARAM_TENSORS : NUM_PARAM_TENSORS + 1;
    ModelTensor* list = (ModelTensor*)calloc_check((size_t)n_specs * (size_t)c->num_layers + 3, sizeof(ModelTensor));
    int n = 0;
    for (int i = 0; i < n_specs; i++) {
        int layers = PARAM_SPECS[i].per_layer ? c->num_layers : 1;
        for (int l = 0; l < layers; l++) {
            ModelTensor* t = &list[n++];
            snprintf(t->name, sizeof(t->name), PARAM_SPECS[i].hf_name, l); // names without %d ignore l
            t->kind = PARAM_SPECS[i].kind;
            t->ndim = t->kind == PARAM_MATRIX ? 2 : 1;
            t->shape[0] = rows[i];
            t->shape[1] = cols[i];
            t->numel = rows[i] * cols[i];
            t->spec = i;
            t->layer = l;
            t->data = ptrs[i] ? ptrs[i] + (size_t)l * t->numel : NULL;
        }
    }
    *out = list;
    return n;
}

static void shape_string(char* buf, size_t size, const size_t* shape, int ndim) {
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && at < size; d++) {
        at += (size_t)snprintf(buf + at, size - at, "%s%zu", d ? ", " : "", shape[d]);
    }
    if (at < size) {
        snprintf(buf + at, size - at, "]");
    }
}

// Reads one model tensor from an open file, checking its shape against config.json.
static void model_read_tensor(const Safetensors* st, const ModelTensor* t) {
    const SafetensorsEntry* e = safetensors_find(st, t->name);
    if (e == NULL && t->spec == NUM_PARAM_TENSORS) {
        fatal("%s: tensor \"lm_head.weight\" is missing, and config.json has tie_word_embeddings false (absent "
              "means false, as in transformers); set it to true if the LM head is the embedding", st->path);
    }
    if (e == NULL) {
        fatal("%s: tensor \"%s\" is missing (the model's config.json says it should be there)", st->path, t->name);
    }
    int same = e->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) {
        same = e->shape[d] == t->shape[d];
    }
    if (!same) {
        char found[128], expected[64];
        shape_string(found, sizeof(found), e->shape, e->ndim);
        shape_string(expected, sizeof(expected), t->shape, t->ndim);
        fatal("%s: %s has shape %s, expected %s from config.json", st->path, t->name, found, expected);
    }
    safetensors_read_f32(st, e, t->data);
}

// Tensors in a file that the model does not use. Hugging Face ignores a tied checkpoint's
// lm_head.weight and old rotary "inv_freq" buffers; so do we, silently. Anything else is reported
// (one warning line per file), since it usually means the file is for another architecture.
static void model_warn_unused(const Safetensors* st, const ModelTensor* list, int n) {
    int unused = 0;
    const char* example = NULL;
    for (int i = 0; i < st->n; i++) {
        const char* name = st->entries[i].name;
        int known = strcmp(name, "lm_head.weight") == 0 || strstr(name, "rotary_emb.inv_freq") != NULL;
        for (int k = 0; k < n && !known; k++) {
            known = strcmp(list[k].name, name) == 0;
        }
        if (!known) {
            unused++;
            example = example ? example : name;
        }
    }
    if (unused > 0) {
        fprintf(stderr, "r1: warning: %s: ignoring %d tensor(s) the model does not use, e.g. \"%s\"\n", st->path,
                unused, example);
    }
}

// A sharded checkpoint: model.safetensors.index.json maps every tensor name to its shard file.
// Each shard is opened once: we read all of its tensors, then move to the next shard.
static void model_load_sharded(const char* model_dir, const char* index_path, ModelTensor* list, int n) {
    Json* index = json_load_file(index_path);
    const Json* map = json_get(index, "weight_map");
    if (map == NULL || map->type != JSON_OBJECT) {
        fatal("%s: missing the \"weight_map\" object (tensor name -> shard file)", index_path);
    }
    const char** shard_of = (const char**)calloc_check((size_t)n, sizeof(char*));
    for (int i = 0; i < n; i++) {
        shard_of[i] = json_get_string(map, list[i].name);
        if (shard_of[i] == NULL) {
            fatal("%s: tensor \"%s\" is not in the weight_map", index_path, list[i].name);
        }
    }
    char* done = (char*)calloc_check((size_t)n, 1);
    for (int i = 0; i < n; i++) {
        if (done[i]) {
            continue;
        }
        char* shard_path = path_join(model_dir, shard_of[i]);
        if (!file_exists(shard_path)) {
            fatal("%s: shard \"%s\" named in %s does not exist", shard_path, shard_of[i], index_path);
        }
        Safetensors st;
        safetensors_open(&st, shard_path);
        for (int k = i; k < n; k++) {
            if (!done[k] && strcmp(shard_of[k], shard_of[i]) == 0) {
                model_read_tensor(&st, &list[k]);
                done[k] = 1;
            }
        }
        model_warn_unused(&st, list, n);
        safetensors_close(&st);
        free(shard_path);
    }
    free(done);
    free(shard_of);
    json_free(index);
}

// Loads the weights of a Hugging Face folder into a new fp32 parameter buffer (returned; free it).
// Every tensor is looked up by name and its shape checked against c; bf16/f16 become fp32 exactly.
static float* model_load_weights(const Qwen2Config* c, ParameterTensors* p, const char* model_dir) {
    float* memory = param_point(c, p, NULL);
    ModelTensor* list;
    int n = model_tensor_list(c, p, &list);
    char* single = path_join(model_dir, "model.safetensors");
    char* index = path_join(model_dir, "model.safetensors.index.json");
    if (file_exists(single)) {
        Safetensors st;
        safetensors_open(&st, single);
        for (int i = 0; i < n; i++) {
            model_read_tensor(&st, &list[i]);
        }
        model_warn_unused(&st, list, n);
        safetensors_close(&st);
    } else if (file_exists(index)) {
        model_load_sharded(model_dir, index, list, n);
    } else {
        fatal("%s: no model.safetensors or model.safetensors.index.json (r1 reads safetensors; convert "
              "pytorch_model.bin with transformers' save_pretrained(safe_serialization=True))", model_dir);
    }
    free(single);
    free(index);
    free(list);
    return memory;
}

// Initial values of one tensor, as transformers' Qwen2 _init_weights: matrices (Linear and
// Embedding weights) ~ normal(0, initializer_range = 0.02), biases zeros, RMSNorm weights ones.
// Each tensor draws from its own stream, seeded by (seed, tensor, layer), so make_model can produce
// the same values tensor by tensor, in pieces, without holding the whole model.
static uint64_t param_init_stream(uint64_t seed, int spec, int layer) {
    return rng_seed(seed * 1000003ull + (uint64_t)spec * 4099ull + (uint64_t)layer);
}

static void param_init_values(float* out, size_t n, ParamKind kind, uint64_t* rng) { // out: (n)
    for (size_t i = 0; i < n; i++) {
        out[i] = kind == PARAM_MATRIX ? 0.02f * random_normal(rng) : kind == PARAM_NORM ? 1.0f : 0.0f;
    }
}

static void model_init_random(const Qwen2Config* c, ParameterTensors* p, uint64_t seed) {
    ModelTensor* list;
    int n = model_tensor_list(c, p, &list);
    // the streams are independent, so tensors can be filled in parallel and the result never depends
    // on the number of threads
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; i++) {
        uint64_t rng = param_init_stream(seed, list[i].spec, list[i].layer);
        param_init_values(list[i].data, list[i].numel, list[i].kind, &rng);
    }
    free(list);
}

// Creates a folder (one level); fine if it exists already.
static void make_dir(const char* dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fatal("cannot create folder '%s': %s", dir, strerror(errno));
    }
    if (!dir_exists(dir)) {
        fatal("'%s' exists and is not a folder", dir);
    }
}

static const char* dtype_torch_name(const char* dtype) {
    if (strcmp(dtype, "F32") == 0) {
        return "float32";
    } else if (strcmp(dtype, "BF16") == 0) {
        return "bfloat16";
    }
    fatal("cannot save a model as \"%s\": choose F32 or BF16", dtype);
    return NULL;
}

// The safetensors view of a tensor list (names and shapes point into list).
static SafetensorsTensor* model_safetensors_view(const ModelTensor* list, int n, const char* dtype) {
    SafetensorsTensor* ts = (SafetensorsTensor*)calloc_check((size_t)n, sizeof(SafetensorsTensor));
    for (int i = 0; i < n; i++) {
        ts[i].name = list[i].name;
        ts[i].dtype = dtype;
        ts[i].ndim = list[i].ndim;
        ts[i].shape[0] = list[i].shape[0];
        ts[i].shape[1] = list[i].shape[1];
        ts[i].data = list[i].data;
    }
    return ts;
}

// Writes a Hugging Face folder: config.json and one model.safetensors in dtype "F32" or "BF16".
static void model_save(const char* model_dir, const Qwen2Config* c, const ParameterTensors* p, const char* dtype) {
    const char* torch_dtype = dtype_torch_name(dtype);
    make_dir(model_dir);
    ModelTensor* list;
    int n = model_tensor_list(c, p, &list);
    SafetensorsTensor* ts = model_safetensors_view(list, n, dtype);
    char* path = path_join(model_dir, "model.safetensors");
    safetensors_write(path, ts, n);
    config_save(c, model_dir, torch_dtype);
    free(path);
    free(ts);
    free(list);
}

// Writes a random-init model folder without holding the model in memory: each tensor is generated
// in pieces from its own stream (param_init_stream) and written as it comes, so a 7B model needs a
// few MB of RAM. The files are identical to model_init_random + model_save with the same seed.
static void model_save_random(const char* model_dir, const Qwen2Config* c, uint64_t seed, const char* dtype) {
    const char* torch_dtype = dtype_torch_name(dtype);
    make_dir(model_dir);
    ModelTensor* list;
    int n = model_tensor_list(c, NULL, &list);
    SafetensorsTensor* ts = model_safetensors_view(list, n, dtype);
    char* path = path_join(model_dir, "model.safetensors");
    char* tmp;
    FILE* f = safetensors_write_begin(path, ts, n, &tmp);
    size_t chunk = (size_t)1 << 20;
    float* buf = (float*)malloc_check(chunk * sizeof(float)); // (chunk)
    for (int i = 0; i < n; i++) {
        uint64_t rng = param_init_stream(seed, list[i].spec, list[i].layer);
        for (size_t at = 0; at < list[i].numel; at += chunk) {
            size_t m = list[i].numel - at < chunk ? list[i].numel - at : chunk;
            param_init_values(buf, m, list[i].kind, &rng);
            safetensors_write_data(f, dtype, buf, m, tmp);
        }
    }
    atomic_commit(f, tmp, path);
    config_save(c, model_dir, torch_dtype);
    free(buf), free(path), free(ts), free(list);
}
