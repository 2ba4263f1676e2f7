/*
r1.h: DeepSeek-R1's training recipe for Qwen2.5 models, the CPU reference.

This one header is meant to be read from top to bottom. It holds everything the R1 recipe needs,
in plain C99 with a few OpenMP pragmas and no other dependency, in the order the data flows:

    utilities      checked I/O, a random number generator, UTF-8, growable strings, a small JSON
                   reader/writer
    tokenizer      Qwen2.5 byte-level BPE, exactly as Hugging Face `tokenizers`; the ChatML template
    model          Qwen2.5 config and parameters; safetensors in and out; random initialisation
    layers         every layer's forward and backward (the CPU twins of the CUDA kernels), the model
    optimizer      AdamW as torch.optim.AdamW, gradient clipping, learning-rate schedules
    data           the Countdown generator with search traces, prompts, SFT data as published
    sampling       repetition penalty, temperature, top-k, top-p, as transformers' generate
    generation     a KV cache, continuous batching, stop rules, budget forcing
    answers        the math answer checker (as Math-Verify) and evaluation metrics
    GRPO           rule-based rewards, group advantages, the clipped loss and its logit gradient
    SFT            the supervised fine-tuning loop (R1's cold start), checkpoints, exact resume
    GRPO training  the reinforcement-learning loop: rollouts, rewards, advantages, update
    appendix       generated Unicode tables used by the tokenizer

It is the reference, not the fast path: all math is fp32, loops are written to be read. The CUDA
drivers (generate.cu, train_sft.cu, train_grpo.cu) run the same loops; their GPU kernels, each one
tested against its twin here, are still to come, and today the drivers run this CPU path. Nothing
in this file knows about CUDA.

Conventions. Shapes are written next to every tensor pointer, e.g. `// (B, T, C)`, with the letters
B batch, T time, C hidden size, NH query heads, NKV key/value heads, HD head dim, I MLP width,
V vocabulary, L layers, G group size. Every product of sizes is a size_t. Functions that read files
never return garbage: on bad input they print one line naming the file and the fix, and exit(1).
*/
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L // getline, fsync, clock_gettime
#endif
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

// ----------------------------------------------------------------------------
// errors and checked I/O
// Bad input must give one clear line and a non-zero exit, never a crash. Every file operation goes
// through these wrappers, which name the file and the call site.

static void fatal(const char* fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "r1: error: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static FILE* fopen_check_(const char* path, const char* mode, const char* file, int line) {
    FILE* f = fopen(path, mode);
    if (f == NULL) {
        fatal("cannot open '%s' (mode %s): %s [%s:%d]", path, mode, strerror(errno), file, line);
    }
    return f;
}
#define fopen_check(path, mode) fopen_check_(path, mode, __FILE__, __LINE__)

static void fread_check_(void* ptr, size_t size, size_t n, FILE* f, const char* what, const char* file, int line) {
    size_t got = fread(ptr, size, n, f);
    if (got != n) {
        fatal("short read of %s: wanted %zu items, got %zu (%s): is the file truncated? [%s:%d]", what, n, got,
              feof(f) ? "end of file" : "read error", file, line);
    }
}
#define fread_check(ptr, size, n, f, what) fread_check_(ptr, size, n, f, what, __FILE__, __LINE__)

static void fwrite_check_(const void* ptr, size_t size, size_t n, FILE* f, const char* what, const char* file,
                          int line) {
    if (fwrite(ptr, size, n, f) != n) {
        fatal("cannot write %s: %s (disk full?) [%s:%d]", what, strerror(errno), file, line);
    }
}
#define fwrite_check(ptr, size, n, f, what) fwrite_check_(ptr, size, n, f, what, __FILE__, __LINE__)

static void* malloc_check_(size_t size, const char* file, int line) {
    void* p = malloc(size ? size : 1);
    if (p == NULL) {
        fatal("out of memory allocating %zu bytes (%.2f GiB) [%s:%d]", size, size / 1073741824.0, file, line);
    }
    return p;
}
#define malloc_check(size) malloc_check_(size, __FILE__, __LINE__)

static void* calloc_check_(size_t n, size_t size, const char* file, int line) {
    void* p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        fatal("out of memory allocating %zu x %zu bytes [%s:%d]", n, size, file, line);
    }
    return p;
}
#define calloc_check(n, size) calloc_check_(n, size, __FILE__, __LINE__)

static void* realloc_check_(void* ptr, size_t size, const char* file, int line) {
    void* p = realloc(ptr, size ? size : 1);
    if (p == NULL) {
        fatal("out of memory growing a buffer to %zu bytes [%s:%d]", size, file, line);
    }
    return p;
}
#define realloc_check(ptr, size) realloc_check_(ptr, size, __FILE__, __LINE__)

static char* strdup_check(const char* s) {
    size_t n = strlen(s) + 1;
    char* p = (char*)malloc_check(n);
    memcpy(p, s, n);
    return p;
}

static int file_exists(const char* path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int dir_exists(const char* path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// "dir" + "/" + "name", malloc'd (the caller frees)
static char* path_join(const char* dir, const char* name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char* p = (char*)malloc_check(n);
    snprintf(p, n, "%s%s%s", dir, (dir[0] && dir[strlen(dir) - 1] != '/') ? "/" : "", name);
    return p;
}

// Reads a whole file into a malloc'd buffer with a NUL after the last byte (so text can be parsed
// in place); *size gets the byte count, not counting that NUL.
static char* read_file(const char* path, size_t* size) {
    FILE* f = fopen_check(path, "rb");
    if (fseek(f, 0, SEEK_END) != 0) {
        fatal("cannot seek in '%s': %s", path, strerror(errno));
    }
    long n = ftell(f);
    if (n < 0) {
        fatal("cannot tell the size of '%s': %s", path, strerror(errno));
    }
    rewind(f);
    char* buf = (char*)malloc_check((size_t)n + 1);
    if (n > 0) {
        fread_check(buf, 1, (size_t)n, f, path);
    }
    buf[n] = '\0';
    fclose(f);
    if (size) {
        *size = (size_t)n;
    }
    return buf;
}

// Atomic writes: a checkpoint is written to "path.tmp" and renamed over "path" only once it is
// complete and on disk, so killing the process mid-write never damages the last good file.
static FILE* atomic_open(const char* path, char** tmp_path) {
    size_t n = strlen(path) + 8;
    *tmp_path = (char*)malloc_check(n);
    snprintf(*tmp_path, n, "%s.tmp", path);
    FILE* f = fopen(*tmp_path, "wb");
    if (f == NULL) {
        fatal("cannot write '%s': %s (is the folder writable?)", *tmp_path, strerror(errno));
    }
    return f;
}

static void atomic_commit(FILE* f, char* tmp_path, const char* path) {
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fatal("cannot flush '%s': %s (disk full?)", tmp_path, strerror(errno));
    }
    if (fclose(f) != 0) {
        fatal("cannot close '%s': %s", tmp_path, strerror(errno));
    }
    if (rename(tmp_path, path) != 0) {
        fatal("cannot rename '%s' to '%s': %s", tmp_path, path, strerror(errno));
    }
    free(tmp_path);
}

static double wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// ----------------------------------------------------------------------------
// random numbers
// xorshift64* (as in llm.c / llama2.c): tiny, fast and reproducible from a seed on every machine.
// The state must never be 0, so a seed is first mixed with splitmix64.

static uint64_t rng_seed(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    return z ? z : 0x2545F4914F6CDD1Dull;
}

static uint32_t random_u32(uint64_t* state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

static float random_f32(uint64_t* state) { // uniform in [0, 1)
    return (random_u32(state) >> 8) / 16777216.0f;
}

static float random_normal(uint64_t* state) { // standard normal, Box-Muller
    float u1 = random_f32(state), u2 = random_f32(state);
    if (u1 < 1e-30f) {
        u1 = 1e-30f;
    }
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

// ----------------------------------------------------------------------------
// UTF-8
// Decodes one code point from s (n bytes available). Returns the number of bytes used (1..4), or 0
// when the bytes are not valid UTF-8 (overlong forms, surrogates and values past U+10FFFF included).

static int utf8_decode(const unsigned char* s, size_t n, uint32_t* cp) {
    if (n == 0) {
        return 0;
    }
    unsigned char c = s[0];
    int len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)len > n) {
        return 0;
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    return len;
}

// Writes the UTF-8 form of cp into out (at least 4 bytes); returns the byte count.
static int utf8_encode(uint32_t cp, char* out) {
    unsigned char* o = (unsigned char*)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

// ----------------------------------------------------------------------------
// growable strings and a byte hash
// Prompts, chat renderings, decoded text and rewritten answers are all built by appending, so one
// growable string serves every section. `StrBuf b = {0};` is a valid empty string (sb_init
// allocates up front); after any append, s is NUL-terminated and len excludes that NUL.

typedef struct {
    char* s;
    size_t len, cap;
} StrBuf;

static void sb_init(StrBuf* b) {
    b->cap = 64;
    b->len = 0;
    b->s = (char*)malloc_check(b->cap);
    b->s[0] = '\0';
}

static void sb_append(StrBuf* b, const void* s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        b->s = (char*)realloc_check(b->s, cap);
        b->cap = cap;
    }
    if (n > 0) {
        memmove(b->s + b->len, s, n); // memmove: s may point into b itself (sb_set(b, b->s + i, ...))
    }
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_set(StrBuf* b, const void* s, size_t n) {
    b->len = 0;
    sb_append(b, s, n);
}

// Appends one code point as UTF-8.
static void sb_append_cp(StrBuf* b, uint32_t cp) {
    char buf[4];
    sb_append(b, buf, (size_t)utf8_encode(cp, buf));
}

static void sb_printf(StrBuf* b, const char* fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        fatal("sb_printf: bad format '%s'", fmt);
    }
    if ((size_t)n < sizeof(small)) {
        sb_append(b, small, (size_t)n);
        return;
    }
    char* big = (char*)malloc_check((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_append(b, big, (size_t)n);
    free(big);
}

// FNV-1a 64 over bytes: the tokenizer's hash maps, cache keys, and the tensor fingerprints that
// dev/make_model --check prints and tests/fixtures/model_io records (the oracles compute the same).
static uint64_t hash_bytes(const void* data, size_t n) {
    const unsigned char* p = (const unsigned char*)data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

// ----------------------------------------------------------------------------
// JSON
// config.json, vocab.json, tokenizer_config.json, safetensors headers and jsonl data are all JSON.
// This is a small, strict reader into a tree (RFC 8259; nesting limited so hostile input cannot
// overflow the stack) and a string writer. Strings are unescaped to UTF-8; `len` keeps their byte
// count, since "\u0000" may put a NUL inside.

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct Json {
    JsonType type;
    double number;      // JSON_NUMBER (and JSON_BOOL: 0 or 1)
    char* string;       // JSON_STRING: the text; JSON_NUMBER: the number as written (exact integers)
    size_t len;         // JSON_STRING: bytes in string; JSON_ARRAY / JSON_OBJECT: number of items
    struct Json* items; // JSON_ARRAY: the elements; JSON_OBJECT: the values, in file order
    char** keys;        // JSON_OBJECT: the keys, parallel to items
} Json;

#define JSON_MAX_DEPTH 256

typedef struct {
    const char* s;   // text
    size_t n, pos;   // length, cursor
    char* err;       // error message out
    size_t err_size;
} JsonParser;

static int json_error(JsonParser* p, const char* msg) {
    if (p->err && p->err[0] == '\0') {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < p->pos && i < p->n; i++) {
            if (p->s[i] == '\n') {
                line++, col = 1;
            } else {
                col++;
            }
        }
        snprintf(p->err, p->err_size, "line %zu, column %zu: %s", line, col, msg);
    }
    return 0;
}

static void json_skip_space(JsonParser* p) {
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r')) {
        p->pos++;
    }
}

static int json_hex4(JsonParser* p, uint32_t* v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        if (p->pos >= p->n || !isxdigit((unsigned char)p->s[p->pos])) {
            return json_error(p, "bad \\u escape");
        }
        char c = p->s[p->pos++];
        *v = *v * 16 + (uint32_t)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
    }
    return 1;
}

// Parses a string at p->pos (which is on the opening quote) into a malloc'd buffer.
static int json_parse_string(JsonParser* p, char** out, size_t* out_len) {
    p->pos++; // opening quote
    size_t cap = 16, len = 0;
    char* buf = (char*)malloc_check(cap);
    for (;;) {
        if (p->pos >= p->n) {
            free(buf);
            return json_error(p, "unterminated string");
        }
        if (len + 8 > cap) {
            cap *= 2;
            buf = (char*)realloc_check(buf, cap);
        }
        unsigned char c = (unsigned char)p->s[p->pos++];
        if (c == '"') {
            break;
        } else if (c < 0x20) {
            free(buf);
            return json_error(p, "control character inside a string");
        } else if (c != '\\') {
            buf[len++] = (char)c; // UTF-8 bytes are copied as they are
            continue;
        }
        if (p->pos >= p->n) {
            free(buf);
            return json_error(p, "unterminated escape");
        }
        char e = p->s[p->pos++];
        switch (e) {
        case '"': buf[len++] = '"'; break;
        case '\\': buf[len++] = '\\'; break;
        case '/': buf[len++] = '/'; break;
        case 'b': buf[len++] = '\b'; break;
        case 'f': buf[len++] = '\f'; break;
        case 'n': buf[len++] = '\n'; break;
        case 'r': buf[len++] = '\r'; break;
        case 't': buf[len++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (!json_hex4(p, &cp)) {
                free(buf);
                return 0;
            }
            // a UTF-16 surrogate pair encodes one code point past U+FFFF; a lone surrogate becomes U+FFFD
            if (cp >= 0xD800 && cp <= 0xDBFF && p->pos + 1 < p->n && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
                size_t save = p->pos;
                p->pos += 2;
                if (!json_hex4(p, &lo)) {
                    free(buf);
                    return 0;
                }
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    p->pos = save;
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            len += (size_t)utf8_encode(cp, buf + len);
            break;
        }
        default: free(buf); return json_error(p, "unknown escape in string");
        }
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 1;
}

static int json_parse_value(JsonParser* p, Json* v, int depth);

static int json_parse_container(JsonParser* p, Json* v, int depth, int is_object) {
    char close = is_object ? '}' : ']';
    size_t cap = 0;
    v->type = is_object ? JSON_OBJECT : JSON_ARRAY;
    p->pos++; // '[' or '{'
    json_skip_space(p);
    if (p->pos < p->n && p->s[p->pos] == close) {
        p->pos++;
        return 1;
    }
    for (;;) {
        if (v->len == cap) {
            cap = cap ? 2 * cap : 4;
            v->items = (Json*)realloc_check(v->items, cap * sizeof(Json));
            if (is_object) {
                v->keys = (char**)realloc_check(v->keys, cap * sizeof(char*));
            }
        }
        Json* item = &v->items[v->len];
        memset(item, 0, sizeof(Json));
        if (is_object) {
            json_skip_space(p);
            if (p->pos >= p->n || p->s[p->pos] != '"') {
                return json_error(p, "expected a string key");
            }
            size_t klen;
            if (!json_parse_string(p, &v->keys[v->len], &klen)) {
                return 0;
            }
            v->len++; // the key is owned by v now, even if its value fails below
            json_skip_space(p);
            if (p->pos >= p->n || p->s[p->pos] != ':') {
                return json_error(p, "expected ':' after a key");
            }
            p->pos++;
            if (!json_parse_value(p, item, depth + 1)) {
                return 0;
            }
        } else {
            v->len++;
            if (!json_parse_value(p, item, depth + 1)) {
                return 0;
            }
        }
        json_skip_space(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
        } else if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
            return 1;
        } else {
            return json_error(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

static int json_parse_number(JsonParser* p, Json* v) {
    size_t start = p->pos;
    if (p->pos < p->n && p->s[p->pos] == '-') {
        p->pos++;
    }
    if (p->pos >= p->n || !isdigit((unsigned char)p->s[p->pos])) {
        return json_error(p, "invalid value");
    }
    if (p->s[p->pos] == '0' && p->pos + 1 < p->n && isdigit((unsigned char)p->s[p->pos + 1])) {
        return json_error(p, "leading zero in a number");
    }
    while (p->pos < p->n && (isdigit((unsigned char)p->s[p->pos]) || strchr(".eE+-", p->s[p->pos]))) {
        p->pos++;
    }
    size_t len = p->pos - start;
    v->type = JSON_NUMBER;
    v->string = (char*)malloc_check(len + 1);
    memcpy(v->string, p->s + start, len);
    v->string[len] = '\0';
    char* end;
    v->number = strtod(v->string, &end);
    if (*end != '\0') {
        return json_error(p, "malformed number");
    }
    return 1;
}

static int json_parse_value(JsonParser* p, Json* v, int depth) {
    if (depth > JSON_MAX_DEPTH) {
        return json_error(p, "nested too deeply");
    }
    json_skip_space(p);
    if (p->pos >= p->n) {
        return json_error(p, "unexpected end of input");
    }
    char c = p->s[p->pos];
    if (c == '{' || c == '[') {
        return json_parse_container(p, v, depth, c == '{');
    } else if (c == '"') {
        v->type = JSON_STRING;
        return json_parse_string(p, &v->string, &v->len);
    } else if (c == '-' || isdigit((unsigned char)c)) {
        return json_parse_number(p, v);
    }
    static const char* words[] = {"null", "true", "false"};
    for (int i = 0; i < 3; i++) {
        size_t wl = strlen(words[i]);
        if (p->n - p->pos >= wl && memcmp(p->s + p->pos, words[i], wl) == 0) {
            p->pos += wl;
            v->type = i == 0 ? JSON_NULL : JSON_BOOL;
            v->number = i == 1;
            return 1;
        }
    }
    return json_error(p, "invalid value");
}

static void json_free_items(Json* v) {
    if (v == NULL) {
        return;
    }
    free(v->string);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            json_free_items(&v->items[i]);
            if (v->keys) {
                free(v->keys[i]);
            }
        }
        free(v->items);
        free(v->keys);
    }
}

static void json_free(Json* v) {
    json_free_items(v);
    free(v);
}

// Parses n bytes of text. Returns NULL on error with "line L, column C: message" in err.
static Json* json_parse(const char* text, size_t n, char* err, size_t err_size) {
    JsonParser p = {text, n, 0, err, err_size};
    if (err && err_size) {
        err[0] = '\0';
    }
    Json* v = (Json*)calloc_check(1, sizeof(Json));
    if (!json_parse_value(&p, v, 0)) {
        json_free(v);
        return NULL;
    }
    json_skip_space(&p);
    if (p.pos != n) {
        json_error(&p, "unexpected text after the value");
        json_free(v);
        return NULL;
    }
    return v;
}

// Loads and parses a whole JSON file; any error is fatal and names the file, line and column.
static Json* json_load_file(const char* path) {
    size_t n;
    char* text = read_file(path, &n);
    char err[256];
    Json* v = json_parse(text, n, err, sizeof(err));
    free(text);
    if (v == NULL) {
        fatal("%s: %s (is it valid JSON?)", path, err);
    }
    return v;
}

// Object lookup by key; NULL when obj is not an object or has no such key. (Linear: objects we look
// keys up in are small. The tokenizer walks vocab.json's 151,643 keys in order instead.)
static const Json* json_get(const Json* obj, const char* key) {
    if (obj == NULL || obj->type != JSON_OBJECT) {
        return NULL;
    }
    for (size_t i = 0; i < obj->len; i++) {
        if (strcmp(obj->keys[i], key) == 0) {
            return &obj->items[i];
        }
    }
    return NULL;
}

// The string value of obj[key], or NULL when it is missing or not a string.
static const char* json_get_string(const Json* obj, const char* key) {
    const Json* v = json_get(obj, key);
    return (v && v->type == JSON_STRING) ? v->string : NULL;
}

// Writes n bytes as a JSON string literal. Invalid UTF-8 bytes become U+FFFD (as Python's
// errors="replace"), so every file we write is valid JSON that any reader accepts.
static void json_write_string(FILE* f, const char* s, size_t n) {
    fputc('"', f);
    const unsigned char* u = (const unsigned char*)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(u + i, n - i, &cp);
        if (k == 0) {
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (cp == '"' || cp == '\\') {
            fputc('\\', f), fputc((int)cp, f);
        } else if (cp == '\n') {
            fputs("\\n", f);
        } else if (cp == '\r') {
            fputs("\\r", f);
        } else if (cp == '\t') {
            fputs("\\t", f);
        } else if (cp < 0x20) {
            fprintf(f, "\\u%04x", cp);
        } else {
            fwrite(u + i, 1, (size_t)k, f);
        }
        i += (size_t)k;
    }
    fputc('"', f);
}

