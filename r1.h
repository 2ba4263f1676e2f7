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
#ifndef R1_H
#define R1_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L // getline, fsync, clock_gettime
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <signal.h>
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

// ----------------------------------------------------------------------------
// tokenizer
// Qwen2.5's tokenizer, giving the same ids as Hugging Face `tokenizers` for every input. It is a
// byte-level BPE (as GPT-2's) defined by three files of a model folder:
//   vocab.json             token string -> id, 151,643 tokens written in GPT-2's byte alphabet
//   merges.txt             the BPE merges "left right", one per line, in priority order (rank)
//   tokenizer_config.json  the 22 added tokens (<|im_start|>, <|im_end|>, ...), eos, pad, and the
//                          chat template (we read its default system prompt out of it)
// Encoding text, step by step, as `tokenizers` does for Qwen2:
//   1. added tokens are matched literally in the raw text first (all 22, special or not);
//   2. each stretch of text between them is put in Unicode normal form C (NFC);
//   3. the pre-tokenizer regex cuts it into pieces (words with their leading space, single digits,
//      punctuation runs, whitespace runs), using the real Unicode \p{L} and \p{N} classes;
//   4. each piece's bytes become byte tokens, which BPE merges pair by pair, lowest rank first.
// Invalid UTF-8 in the input: a Python string cannot hold it, so HF never sees it. We replace each
// invalid sequence by U+FFFD exactly as Python's bytes.decode("utf-8", errors="replace") does (one
// U+FFFD per "maximal subpart"), so encode(b) == HF(b.decode("utf-8", "replace")) for any bytes b.
// The tiny built-in model uses a byte-level vocabulary with no merges (tokenizer_init_bytes) through
// this same code; tokenizer_save writes any tokenizer back as a folder HF's AutoTokenizer loads.
// Unicode: \p{L} / \p{N} / \s follow Unicode 16.0, as the Oniguruma regex engine inside `tokenizers`
// (checked for every code point by dev/oracle/tokenizer_oracle.py). NFC uses the same data, while
// `tokenizers`' NFC has Unicode 8/9-era tables: only marks and composites newer than 2016 can differ.
//
// The functions other parts call (encode/decode take a const Tokenizer* and keep no state, so
// threads can share one tokenizer):
//   tokenizer_load(&t, dir), tokenizer_init_bytes(&t), tokenizer_save(&t, dir), tokenizer_free(&t)
//   n = tokenizer_encode(&t, text, len, &ids)               ids: malloc'd, the caller frees
//   s = tokenizer_decode(&t, ids, n, skip_special, &len)     malloc'd bytes
//   token_stream_push / token_stream_flush / token_stream_free   decode while generating
//   n = chat_encode(&t, msgs, n_msgs, system, add_generation_prompt, continue_final, &ids, &mask)
//   t.vocab_size, t.eos_id, t.pad_id, t.endoftext_id, t.im_start_id, t.im_end_id, t.default_system

// from the appendix at the end of this file: Unicode classes and NFC data, generated by dev/gen_unicode.py
static int unicode_is_letter(uint32_t cp);
static int unicode_is_number(uint32_t cp);
static int unicode_is_space(uint32_t cp);
static int unicode_ccc(uint32_t cp);
static int unicode_nfc_quick(uint32_t cp);
static int unicode_decompose1(uint32_t cp, uint32_t out[2]);
static uint32_t unicode_compose(uint32_t a, uint32_t b);
struct Tokenizer;
static void tokenizer_index_whole_tokens(struct Tokenizer* t); // (in the BPE section)

typedef struct {
    char* text;  // the literal string, e.g. "<|im_end|>"
    size_t len;
    int id;
    int special; // "special": true in the config: dropped by decode when skipping special tokens
} AddedToken;

typedef struct {
    uint64_t key; // (left id << 32) | right id; MERGE_EMPTY for a free slot
    int rank;     // line number in merges.txt (0-based): lower merges first
    int id;       // the id of the merged token
} MergeSlot;
#define MERGE_EMPTY UINT64_MAX

typedef struct Tokenizer {
    int vocab_size;       // 1 + the largest id (BPE vocabulary and added tokens)
    int n_base;           // tokens in vocab.json
    char** token_text;    // (vocab_size) raw bytes of each token (NULL for an unused id)
    int* token_len;       // (vocab_size)
    unsigned char* is_special; // (vocab_size) 1 for special added tokens
    int byte_id[256];     // the token of each single byte
    // BPE merges: an open-addressing hash map (left id, right id) -> (rank, merged id)
    MergeSlot* merge_map;
    size_t merge_cap;     // a power of two, at least twice n_merges
    int n_merges;
    int* merge_pair;      // (n_merges, 2) left and right id of each merge, in rank order (for saving)
    int* whole_slot;      // (whole_cap) hash set of the tokens a piece can be as a whole (see BPE), -1 = empty
    size_t whole_cap;
    AddedToken* added;
    int n_added;
    unsigned char added_first[256]; // 1 when some added token starts with this byte
    // the ids chat templates and training need (-1 when absent)
    int eos_id, pad_id, endoftext_id, im_start_id, im_end_id;
    char* default_system; // the system prompt the chat template inserts when none is given, or NULL
    char* chat_template;  // tokenizer_config.json's template, kept for tokenizer_save (or NULL)
} Tokenizer;

// ----------------------------------------------------------------------------
// GPT-2's byte alphabet
// Byte-level BPE files cannot hold raw bytes like '\n' or 0xFF, so GPT-2 maps each of the 256 bytes
// to a printable code point: the printable Latin-1 bytes stand for themselves, the other 68 bytes
// become U+0100.. in order (so ' ' is written 'Ġ' and '\n' is 'Ċ' in vocab.json).

static int byte_is_printable(int b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

// The unprintable bytes are 0..32, 127..160 and 173: they become U+0100..U+0120, U+0121..U+0142, U+0143.
static uint32_t byte_to_unicode(int b) {
    if (byte_is_printable(b)) {
        return (uint32_t)b;
    }
    return (uint32_t)(b <= 32 ? 256 + b : b <= 160 ? 256 + 33 + (b - 127) : 256 + 67);
}

static int unicode_to_byte(uint32_t cp) { // the inverse, -1 for a code point outside the alphabet
    if (cp < 256) {
        return byte_is_printable((int)cp) ? (int)cp : -1;
    }
    int n = (int)cp - 256;
    return n <= 32 ? n : n <= 66 ? 127 + (n - 33) : n == 67 ? 173 : -1;
}

// Turns a vocab.json / merges.txt string (UTF-8 in the byte alphabet) into the raw bytes it stands
// for, in place (raw bytes are never longer). Returns the new length, or -1 if a character is not in
// the alphabet.
static int byte_level_to_raw(char* s, size_t n) {
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode((const unsigned char*)s + i, n - i, &cp);
        int b = k ? unicode_to_byte(cp) : -1;
        if (b < 0) {
            return -1;
        }
        s[out++] = (char)b;
        i += (size_t)k;
    }
    return (int)out;
}

// ----------------------------------------------------------------------------
// hash maps used by the tokenizer: FNV-1a over bytes (hash_bytes), and a multiplicative hash for id pairs

static size_t merge_slot(const Tokenizer* t, uint64_t key) {
    size_t mask = t->merge_cap - 1;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
    while (t->merge_map[i].key != key && t->merge_map[i].key != MERGE_EMPTY) {
        i = (i + 1) & mask;
    }
    return i;
}

// The rank of merging tokens (a, b), with the merged id in *merged; -1 when they do not merge.
static inline int merge_find(const Tokenizer* t, int a, int b, int* merged) {
    if (t->n_merges == 0) {
        return -1;
    }
    const MergeSlot* s = &t->merge_map[merge_slot(t, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b)];
    if (s->key == MERGE_EMPTY) {
        return -1;
    }
    *merged = s->id;
    return s->rank;
}

// A string -> id map over token_text, only used while loading merges.txt and added tokens.
typedef struct {
    int* slot; // id, or -1 for empty
    size_t cap;
} TokenIndex;

static int token_index_find(const Tokenizer* t, const TokenIndex* ix, const char* s, size_t n, size_t* where) {
    size_t i = (size_t)hash_bytes(s, n) & (ix->cap - 1);
    for (;; i = (i + 1) & (ix->cap - 1)) {
        int id = ix->slot[i];
        if (id < 0 || ((size_t)t->token_len[id] == n && memcmp(t->token_text[id], s, n) == 0)) {
            if (where) {
                *where = i;
            }
            return id;
        }
    }
}

static void token_index_build(const Tokenizer* t, TokenIndex* ix) {
    ix->cap = 16;
    while (ix->cap < 2 * (size_t)t->vocab_size) {
        ix->cap *= 2;
    }
    ix->slot = (int*)malloc_check(ix->cap * sizeof(int));
    for (size_t i = 0; i < ix->cap; i++) {
        ix->slot[i] = -1;
    }
    for (int id = 0; id < t->vocab_size; id++) {
        size_t where;
        if (t->token_text[id] && token_index_find(t, ix, t->token_text[id], (size_t)t->token_len[id], &where) < 0) {
            ix->slot[where] = id; // the first id wins when two tokens share a string
        }
    }
}

// ----------------------------------------------------------------------------
// building a tokenizer: storage, merges, added tokens

static void tokenizer_alloc(Tokenizer* t, int vocab_size) {
    memset(t, 0, sizeof(*t));
    t->vocab_size = vocab_size;
    t->token_text = (char**)calloc_check((size_t)vocab_size, sizeof(char*));
    t->token_len = (int*)calloc_check((size_t)vocab_size, sizeof(int));
    t->is_special = (unsigned char*)calloc_check((size_t)vocab_size, 1);
    t->eos_id = t->pad_id = t->endoftext_id = t->im_start_id = t->im_end_id = -1;
}

static void tokenizer_set_token(Tokenizer* t, int id, const char* text, size_t len) {
    free(t->token_text[id]);
    t->token_text[id] = (char*)malloc_check(len + 1);
    memcpy(t->token_text[id], text, len);
    t->token_text[id][len] = '\0';
    t->token_len[id] = (int)len;
}

// Adds merge number `rank` (the next one): tokens a and b become `merged`.
static void tokenizer_add_merge(Tokenizer* t, int a, int b, int merged) {
    if (2 * ((size_t)t->n_merges + 1) > t->merge_cap) { // grow and rehash
        size_t cap = t->merge_cap ? 2 * t->merge_cap : 1024;
        MergeSlot* old = t->merge_map;
        size_t old_cap = t->merge_cap;
        t->merge_map = (MergeSlot*)malloc_check(cap * sizeof(MergeSlot));
        t->merge_cap = cap;
        for (size_t i = 0; i < cap; i++) {
            t->merge_map[i].key = MERGE_EMPTY;
        }
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].key != MERGE_EMPTY) {
                t->merge_map[merge_slot(t, old[i].key)] = old[i];
            }
        }
        free(old);
        t->merge_pair = (int*)realloc_check(t->merge_pair, cap * sizeof(int)); // cap/2 merges, 2 ids each
    }
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    MergeSlot* s = &t->merge_map[merge_slot(t, key)];
    if (s->key != MERGE_EMPTY) {
        return; // a repeated merge line: the first (lowest) rank stays, as in `tokenizers`
    }
    s->key = key, s->rank = t->n_merges, s->id = merged;
    t->merge_pair[2 * t->n_merges] = a;
    t->merge_pair[2 * t->n_merges + 1] = b;
    t->n_merges++;
}

static void tokenizer_add_added(Tokenizer* t, int id, const char* text, size_t len, int special) {
    if (len == 0) {
        fatal("added token %d is empty", id);
    }
    t->added = (AddedToken*)realloc_check(t->added, ((size_t)t->n_added + 1) * sizeof(AddedToken));
    AddedToken* a = &t->added[t->n_added++];
    a->text = (char*)malloc_check(len + 1);
    memcpy(a->text, text, len);
    a->text[len] = '\0';
    a->len = len, a->id = id, a->special = special;
    t->added_first[(unsigned char)text[0]] = 1;
    tokenizer_set_token(t, id, text, len);
    t->is_special[id] = (unsigned char)special;
}

// The id of an added token by its text, or -1.
static int tokenizer_added_id(const Tokenizer* t, const char* text) {
    for (int i = 0; i < t->n_added; i++) {
        if (strcmp(t->added[i].text, text) == 0) {
            return t->added[i].id;
        }
    }
    return -1;
}

static void tokenizer_find_chat_ids(Tokenizer* t) {
    t->endoftext_id = tokenizer_added_id(t, "<|endoftext|>");
    t->im_start_id = tokenizer_added_id(t, "<|im_start|>");
    t->im_end_id = tokenizer_added_id(t, "<|im_end|>");
}

// ----------------------------------------------------------------------------
// loading a model folder: vocab.json, merges.txt, tokenizer_config.json

static void tokenizer_read_vocab(Tokenizer* t, const char* path, int max_extra_id) {
    Json* v = json_load_file(path);
    if (v->type != JSON_OBJECT || v->len == 0) {
        fatal("%s: expected a JSON object {\"token\": id, ...}", path);
    }
    int max_id = max_extra_id;
    for (size_t i = 0; i < v->len; i++) {
        const Json* id = &v->items[i];
        if (id->type != JSON_NUMBER || id->number < 0 || id->number > 1e8 || id->number != (int)id->number) {
            fatal("%s: the id of token \"%s\" is not a non-negative integer", path, v->keys[i]);
        }
        max_id = (int)id->number > max_id ? (int)id->number : max_id;
    }
    tokenizer_alloc(t, max_id + 1);
    t->n_base = (int)v->len;
    for (size_t i = 0; i < v->len; i++) {
        int id = (int)v->items[i].number;
        char* key = v->keys[i];
        int n = byte_level_to_raw(key, strlen(key));
        if (n < 0) {
            fatal("%s: token \"%s\" (id %d) has a character outside the byte-level alphabet", path, v->keys[i], id);
        }
        if (t->token_text[id]) {
            fatal("%s: id %d is used by two tokens", path, id);
        }
        tokenizer_set_token(t, id, key, (size_t)n);
    }
    json_free(v);
}

// merges.txt: "left right" per line, rank = line order. A first line "#version: ..." is a header
// (re-saved files have one, the original Qwen2.5 file does not: skipping a real merge shifts every
// rank). Lines may end in \r\n.
static void tokenizer_read_merges(Tokenizer* t, const TokenIndex* ix, const char* path) {
    size_t n;
    char* text = read_file(path, &n);
    size_t line_no = 0;
    for (char* line = text; line < text + n;) {
        char* end = (char*)memchr(line, '\n', (size_t)(text + n - line));
        char* next = end ? end + 1 : text + n;
        end = end ? end : text + n;
        line_no++;
        if (end > line && end[-1] == '\r') {
            end--;
        }
        *end = '\0';
        if (!(line_no == 1 && strncmp(line, "#version", 8) == 0)) {
            char* sp = strchr(line, ' ');
            if (sp == NULL || sp == line || sp[1] == '\0' || strchr(sp + 1, ' ')) {
                fatal("%s line %zu: expected two tokens separated by one space, got \"%.60s\"", path, line_no, line);
            }
            *sp = '\0';
            char* parts[2] = {line, sp + 1};
            int ids[2], lens[2];
            for (int k = 0; k < 2; k++) {
                lens[k] = byte_level_to_raw(parts[k], strlen(parts[k]));
                ids[k] = lens[k] < 0 ? -1 : token_index_find(t, ix, parts[k], (size_t)lens[k], NULL);
                if (ids[k] < 0) {
                    fatal("%s line %zu: token \"%s\" is not in vocab.json", path, line_no, parts[k]);
                }
            }
            memmove(parts[0] + lens[0], parts[1], (size_t)lens[1]); // left + right, the merged string
            int merged = token_index_find(t, ix, parts[0], (size_t)(lens[0] + lens[1]), NULL);
            if (merged < 0) {
                fatal("%s line %zu: the merged token is not in vocab.json", path, line_no);
            }
            tokenizer_add_merge(t, ids[0], ids[1], merged);
        }
        line = next;
    }
    free(text);
}

// Undoes the escapes of a Jinja string literal: \n \t \\ \' \"
static char* jinja_unescape(const char* s, size_t n) {
    char* out = (char*)malloc_check(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char e = s[++i];
            out[k++] = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return out;
}

// The default system prompt of a ChatML template: the literal text in
// '<|im_start|>system\nTEXT<|im_end|>\n' (Qwen2.5 Instruct: "You are Qwen, created by Alibaba Cloud.
// You are a helpful assistant."; base: "You are a helpful assistant."; Math: "Please reason step by
// step, and put your final answer within \boxed{}."). NULL when the template has none.
static char* chat_template_default_system(const char* tmpl) {
    const char* marker = "<|im_start|>system\\n";
    for (const char* p = strstr(tmpl, marker); p; p = strstr(p + 1, marker)) {
        const char* s = p + strlen(marker);
        if (*s == '\'' || *s == '"') {
            continue; // '<|im_start|>system\n' + messages[0]['content'] ...: not a literal prompt
        }
        for (const char* e = s; *e && *e != '\'' && *e != '"'; e++) { // up to <|im_end|>, inside the literal
            if (strncmp(e, "<|im_end|>", 10) == 0) {
                return jinja_unescape(s, (size_t)(e - s));
            }
            e += e[0] == '\\' && e[1]; // an escaped character, \' included
        }
    }
    return NULL;
}

// An eos_token / pad_token entry: a string, or {"content": "..."} in older files, or null.
static int tokenizer_config_token(const Tokenizer* t, const Json* cfg, const char* key, const char* path) {
    const Json* v = json_get(cfg, key);
    if (v && v->type == JSON_OBJECT) {
        v = json_get(v, "content");
    }
    if (v == NULL || v->type != JSON_STRING) {
        return -1;
    }
    int id = tokenizer_added_id(t, v->string);
    for (int i = 0; id < 0 && i < t->n_base; i++) {
        if (t->token_text[i] && strcmp(t->token_text[i], v->string) == 0) {
            id = i;
        }
    }
    if (id < 0) {
        fatal("%s: %s \"%s\" is neither an added token nor in vocab.json", path, key, v->string);
    }
    return id;
}

// Reads the added tokens, eos / pad and the chat template's default system prompt.
static void tokenizer_read_config(Tokenizer* t, const Json* cfg, const char* path) {
    const Json* added = json_get(cfg, "added_tokens_decoder");
    for (size_t i = 0; added && added->type == JSON_OBJECT && i < added->len; i++) {
        const Json* a = &added->items[i];
        char* end;
        long id = strtol(added->keys[i], &end, 10);
        const Json* content = json_get(a, "content");
        const Json* special = json_get(a, "special");
        if (*end != '\0' || id < 0 || id >= t->vocab_size || content == NULL || content->type != JSON_STRING) {
            fatal("%s: added_tokens_decoder entry \"%s\" needs an integer id and a \"content\" string", path,
                  added->keys[i]);
        }
        tokenizer_add_added(t, (int)id, content->string, content->len, special && special->number != 0);
        const char* flags[3] = {"lstrip", "rstrip", "single_word"};
        for (int k = 0; k < 3; k++) { // (all false in Qwen2.5; matching ignores them)
            const Json* f = json_get(a, flags[k]);
            if (f && f->type == JSON_BOOL && f->number) {
                fprintf(stderr, "r1: warning: %s: added token %ld has %s: true, which this tokenizer ignores\n", path,
                        id, flags[k]);
            }
        }
    }
    tokenizer_find_chat_ids(t);
    t->eos_id = tokenizer_config_token(t, cfg, "eos_token", path);
    t->pad_id = tokenizer_config_token(t, cfg, "pad_token", path);
    const char* tmpl = json_get_string(cfg, "chat_template");
    if (tmpl) {
        t->chat_template = strdup_check(tmpl);
        t->default_system = chat_template_default_system(tmpl);
    }
}

// The largest id in added_tokens_decoder (so the token table is allocated once, large enough).
static int tokenizer_config_max_id(const Json* cfg) {
    const Json* added = json_get(cfg, "added_tokens_decoder");
    int max_id = -1;
    for (size_t i = 0; added && added->type == JSON_OBJECT && i < added->len; i++) {
        long id = strtol(added->keys[i], NULL, 10);
        max_id = id > max_id && id < 100000000 ? (int)id : max_id;
    }
    return max_id;
}

// Loads vocab.json, merges.txt and tokenizer_config.json from a model folder; any problem is fatal.
static void tokenizer_load(Tokenizer* t, const char* model_dir) {
    char* vocab_path = path_join(model_dir, "vocab.json");
    char* merges_path = path_join(model_dir, "merges.txt");
    char* config_path = path_join(model_dir, "tokenizer_config.json");
    const char* paths[3] = {vocab_path, merges_path, config_path};
    for (int i = 0; i < 3; i++) {
        if (!file_exists(paths[i])) {
            fatal("tokenizer: %s not found (a Qwen2.5 model folder has vocab.json, merges.txt and "
                  "tokenizer_config.json)", paths[i]);
        }
    }
    Json* cfg = json_load_file(config_path);
    if (cfg->type != JSON_OBJECT) {
        fatal("%s: expected a JSON object", config_path);
    }
    tokenizer_read_vocab(t, vocab_path, tokenizer_config_max_id(cfg));
    for (int b = 0; b < 256; b++) {
        t->byte_id[b] = -1;
    }
    TokenIndex ix;
    token_index_build(t, &ix);
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = token_index_find(t, &ix, &c, 1, NULL);
        if (t->byte_id[b] < 0) {
            fatal("%s: no token for byte 0x%02x (a byte-level vocabulary has all 256)", vocab_path, b);
        }
    }
    tokenizer_read_merges(t, &ix, merges_path);
    free(ix.slot);
    tokenizer_read_config(t, cfg, config_path);
    tokenizer_index_whole_tokens(t);
    json_free(cfg);
    free(vocab_path), free(merges_path), free(config_path);
}

// The same 22 added tokens as Qwen2.5, in the same order (ids 256.. here).
static const char* const qwen_added_tokens[22] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"};

// The byte-level vocabulary of the tiny built-in model: token b is byte b (ids 0..255), no merges,
// then Qwen2.5's 22 added tokens (ids 256..277; the first 14 special, as in Qwen2.5). Like
// Qwen2.5-Instruct, eos is <|im_end|> and pad is <|endoftext|>; there is no default system prompt.
static void tokenizer_init_bytes(Tokenizer* t) {
    tokenizer_alloc(t, 256 + 22);
    t->n_base = 256;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        tokenizer_set_token(t, b, &c, 1);
        t->byte_id[b] = b;
    }
    for (int i = 0; i < 22; i++) {
        tokenizer_add_added(t, 256 + i, qwen_added_tokens[i], strlen(qwen_added_tokens[i]), i < 14);
    }
    tokenizer_find_chat_ids(t);
    t->eos_id = t->im_end_id;
    t->pad_id = t->endoftext_id;
}

static void tokenizer_free(Tokenizer* t) {
    for (int i = 0; i < t->vocab_size; i++) {
        free(t->token_text[i]);
    }
    for (int i = 0; i < t->n_added; i++) {
        free(t->added[i].text);
    }
    free(t->token_text), free(t->token_len), free(t->is_special), free(t->merge_map), free(t->merge_pair);
    free(t->whole_slot);
    free(t->added), free(t->default_system), free(t->chat_template);
    memset(t, 0, sizeof(*t));
}

// ----------------------------------------------------------------------------
// a growable int array used while encoding (text is built in a StrBuf)

typedef struct {
    int* data;
    size_t n, cap;
} IntVec;

static void intvec_push(IntVec* v, int x) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->data = (int*)realloc_check(v->data, v->cap * sizeof(int));
    }
    v->data[v->n++] = x;
}

// ----------------------------------------------------------------------------
// invalid UTF-8 -> U+FFFD
// Python's rule (Unicode's "maximal subpart" practice): a lead byte followed by as many valid
// continuation bytes as fit its sequence is replaced by ONE U+FFFD; a byte that cannot start a
// sequence is replaced alone. Returns the number of bytes the invalid sequence at s covers (>= 1).

static size_t utf8_invalid_len(const unsigned char* s, size_t n) {
    unsigned char c = s[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 1;
    }
    size_t k = 1;
    for (int i = 0; i < need && k < n; i++, k++) {
        unsigned char b = s[k];
        if (i == 0 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
            break;
        }
    }
    return k;
}

// Returns NULL when text is valid UTF-8, else a malloc'd copy with the replacements made.
static char* utf8_sanitize(const char* text, size_t len, size_t* out_len) {
    const unsigned char* s = (const unsigned char*)text;
    size_t i = 0;
    uint32_t cp;
    while (i < len) { // the valid prefix
        int k = s[i] < 0x80 ? 1 : utf8_decode(s + i, len - i, &cp);
        if (k == 0) {
            break;
        }
        i += (size_t)k;
    }
    if (i >= len) {
        return NULL;
    }
    StrBuf v = {0};
    sb_append(&v, s, i);
    while (i < len) {
        int k = utf8_decode(s + i, len - i, &cp);
        if (k > 0) {
            sb_append(&v, s + i, (size_t)k);
            i += (size_t)k;
        } else {
            sb_append_cp(&v, 0xFFFD);
            i += utf8_invalid_len(s + i, len - i);
        }
    }
    *out_len = v.len;
    return v.s;
}

// ----------------------------------------------------------------------------
// NFC (Unicode normal form C): decompose canonically, put combining marks in canonical order, then
// recompose. "e" + U+0301 becomes "é" (U+00E9). Most text is already NFC: a quick check skips it.

static void nfc_decompose(uint32_t cp, uint32_t** buf, size_t* n, size_t* cap) {
    uint32_t d[2];
    int k = 0;
    if (cp >= 0xAC00 && cp <= 0xD7A3) { // Hangul syllable = L V (T), by arithmetic
        uint32_t s = cp - 0xAC00;
        d[0] = 0x1100 + s / 588, d[1] = 0x1161 + (s % 588) / 28;
        nfc_decompose(d[0], buf, n, cap);
        nfc_decompose(d[1], buf, n, cap);
        if (s % 28) {
            nfc_decompose(0x11A7 + s % 28, buf, n, cap);
        }
        return;
    }
    k = unicode_decompose1(cp, d);
    if (k == 0) {
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 64;
            *buf = (uint32_t*)realloc_check(*buf, *cap * sizeof(uint32_t));
        }
        (*buf)[(*n)++] = cp;
        return;
    }
    for (int i = 0; i < k; i++) {
        nfc_decompose(d[i], buf, n, cap);
    }
}

static uint32_t nfc_compose_pair(uint32_t a, uint32_t b) {
    if (a >= 0x1100 && a <= 0x1112 && b >= 0x1161 && b <= 0x1175) { // Hangul L + V
        return 0xAC00 + ((a - 0x1100) * 21 + (b - 0x1161)) * 28;
    }
    if (a >= 0xAC00 && a <= 0xD7A3 && (a - 0xAC00) % 28 == 0 && b > 0x11A7 && b <= 0x11C2) { // LV + T
        return a + (b - 0x11A7);
    }
    return unicode_compose(a, b);
}

// Normalizes valid UTF-8 text to NFC. Returns NULL when it is already NFC (the usual case).
static char* nfc_normalize(const char* text, size_t len, size_t* out_len) {
    const unsigned char* s = (const unsigned char*)text;
    size_t i = 0;
    for (uint32_t cp; i < len; i++) { // quick check, byte by byte: only a lead byte >= 0xCC starts a code
        // point >= U+0300 (continuation bytes are 0x80..0xBF), and nothing below U+0300 changes alone
        if (s[i] >= 0xCC && utf8_decode(s + i, len - i, &cp) && unicode_nfc_quick(cp)) {
            break;
        }
    }
    if (i == len) {
        return NULL;
    }
    uint32_t* cps = NULL;
    size_t n = 0, cap = 0;
    for (size_t j = 0; j < len;) {
        uint32_t cp;
        j += (size_t)utf8_decode(s + j, len - j, &cp);
        nfc_decompose(cp, &cps, &n, &cap);
    }
    for (size_t j = 1; j < n; j++) { // canonical order: stable sort of each run of combining marks
        int c = unicode_ccc(cps[j]);
        for (size_t k = j; c != 0 && k > 0 && unicode_ccc(cps[k - 1]) > c; k--) {
            uint32_t tmp = cps[k];
            cps[k] = cps[k - 1], cps[k - 1] = tmp;
        }
    }
    // compose: each mark joins the last starter unless a mark of equal or higher class sits between
    size_t out = 0, starter = SIZE_MAX;
    int last_ccc = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t cp = cps[j], c;
        int ccc = unicode_ccc(cp);
        int adjacent = starter != SIZE_MAX && out == starter + 1;
        if (starter != SIZE_MAX && (adjacent || (last_ccc != 0 && last_ccc < ccc)) &&
            (c = nfc_compose_pair(cps[starter], cp)) != 0) {
            cps[starter] = c;
            continue;
        }
        if (ccc == 0) {
            starter = out;
        }
        last_ccc = ccc;
        cps[out++] = cp;
    }
    StrBuf v = {0};
    for (size_t j = 0; j < out; j++) {
        sb_append_cp(&v, cps[j]);
    }
    free(cps);
    *out_len = v.len;
    return v.s;
}

// ----------------------------------------------------------------------------
// the pre-tokenizer: Qwen2's regex, written out by hand
//   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N} | ?[^\s\p{L}\p{N}]+[\r\n]*
//   | \s*[\r\n]+ | \s+(?!\S) | \s+
// A regex engine tries the alternatives in order at the current position and takes the first that
// matches; pretok_next does the same and returns where the piece starting at i ends. Every
// character is a letter (2), a number (3), whitespace (5-7) or something else (4), so a piece is
// never empty. Numbers are single code points: "2024" is four pieces, as in Qwen2.5.

static inline uint32_t pretok_cp(const unsigned char* s, size_t n, size_t i, size_t* k) {
    if (s[i] < 0x80) {
        *k = 1;
        return s[i];
    }
    uint32_t cp;
    *k = (size_t)utf8_decode(s + i, n - i, &cp); // the text is valid UTF-8 by now
    return cp;
}

static inline int is_letter_at(const unsigned char* s, size_t n, size_t i, size_t* k) {
    return i < n && unicode_is_letter(pretok_cp(s, n, i, k));
}

static size_t pretok_next(const unsigned char* s, size_t n, size_t i) {
    size_t k, k2;
    uint32_t c = pretok_cp(s, n, i, &k);
    // 1. English contractions, ASCII case-insensitive ('S and 'LL too)
    if (c == '\'' && i + 1 < n) {
        int a = tolower(s[i + 1]), b = i + 2 < n ? tolower(s[i + 2]) : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') {
            return i + 2;
        }
        if (((a == 'r' || a == 'v') && b == 'e') || (a == 'l' && b == 'l')) {
            return i + 3;
        }
    }
    int letter = unicode_is_letter(c), number = !letter && unicode_is_number(c);
    // 2. letters, with at most one leading character that is not a newline, letter or digit
    size_t j = (!letter && !number && c != '\r' && c != '\n') ? i + k : i;
    if (letter || is_letter_at(s, n, j, &k2)) {
        while (is_letter_at(s, n, j, &k2)) {
            j += k2;
        }
        return j;
    }
    // 3. one number character
    if (number) {
        return i + k;
    }
    int space = unicode_is_space(c);
    // 4. punctuation and symbols, with at most one leading space, then any \r \n
    j = (c == ' ') ? i + 1 : i;
    size_t start = j;
    while (j < n) {
        uint32_t d = pretok_cp(s, n, j, &k2);
        if (unicode_is_space(d) || unicode_is_letter(d) || unicode_is_number(d)) {
            break;
        }
        j += k2;
    }
    if (j > start) {
        while (j < n && (s[j] == '\r' || s[j] == '\n')) {
            j++;
        }
        return j;
    }
    if (!space) {
        return i + k; // (unreachable: every other character matches 4)
    }
    // the whitespace run at i: its end, the start of its last character, and its last \r or \n
    size_t end = i, last = i, newline_end = 0;
    while (end < n) {
        uint32_t d = pretok_cp(s, n, end, &k2);
        if (!unicode_is_space(d)) {
            break;
        }
        last = end;
        end += k2;
        if (d == '\r' || d == '\n') {
            newline_end = end;
        }
    }
    if (newline_end) { // 5. \s*[\r\n]+: up to the last newline of the run
        return newline_end;
    }
    if (end == n || last == i) { // 7. \s+ (at the end of the text, 6 takes the whole run too)
        return end;
    }
    return last; // 6. \s+(?!\S): leave the last space to start the next word (" world")
}

// ----------------------------------------------------------------------------
// BPE
// A piece's bytes start as byte tokens; then, repeatedly, the adjacent pair with the lowest merge rank
// is merged (the leftmost one on ties), until no pair can merge. A min-heap of candidate pairs keyed
// (rank, position) makes this O(n log n), like `tokenizers`, so a 100,000-space run stays fast.
// Heap entries go stale when a neighbour merges first; they are checked and skipped when popped.

typedef struct {
    int* id;        // (n) token of each symbol, -1 once merged into its left neighbour
    int* prev;      // (n) linked list of the live symbols
    int* next;
    uint64_t* heap; // (rank << 32) | position of the pair's left symbol
    size_t cap, heap_cap;
} BpeScratch;

static void bpe_heap_push(BpeScratch* w, size_t* hn, uint64_t x) {
    if (*hn == w->heap_cap) {
        w->heap_cap = w->heap_cap ? 2 * w->heap_cap : 64;
        w->heap = (uint64_t*)realloc_check(w->heap, w->heap_cap * sizeof(uint64_t));
    }
    size_t i = (*hn)++;
    while (i > 0 && w->heap[(i - 1) / 2] > x) { // sift up
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = x;
}

static uint64_t bpe_heap_pop(BpeScratch* w, size_t* hn) {
    uint64_t top = w->heap[0], x = w->heap[--(*hn)];
    size_t i = 0;
    for (;;) { // sift down
        size_t c = 2 * i + 1;
        if (c >= *hn) {
            break;
        }
        if (c + 1 < *hn && w->heap[c + 1] < w->heap[c]) {
            c++;
        }
        if (w->heap[c] >= x) {
            break;
        }
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (*hn) {
        w->heap[i] = x;
    }
    return top;
}

static void bpe_push_pair(const Tokenizer* t, BpeScratch* w, size_t* hn, int pos) {
    int merged, next = w->next[pos];
    if (next < 0) {
        return;
    }
    int rank = merge_find(t, w->id[pos], w->id[next], &merged);
    if (rank >= 0) {
        bpe_heap_push(w, hn, ((uint64_t)rank << 32) | (uint32_t)pos);
    }
}

// A shortcut, for speed: most pieces (" the", " number") are a single token. At load time we list
// the tokens whose own bytes BPE-encode to that one token; a piece with the same bytes gives the same
// result (BPE depends on nothing but the bytes), so it is looked up instead of merged. Exact, not a
// heuristic: a token that BPE cannot reach from its bytes is simply not listed.
static int whole_token_find(const Tokenizer* t, const unsigned char* s, size_t n, size_t* where) {
    size_t i = (size_t)hash_bytes(s, n) & (t->whole_cap - 1);
    for (;; i = (i + 1) & (t->whole_cap - 1)) {
        int id = t->whole_slot[i];
        if (id < 0 || ((size_t)t->token_len[id] == n && memcmp(t->token_text[id], s, n) == 0)) {
            if (where) {
                *where = i;
            }
            return id;
        }
    }
}

// Appends the tokens of one piece (n bytes) to out.
static void bpe_encode_piece(const Tokenizer* t, const unsigned char* s, size_t n, IntVec* out, BpeScratch* w) {
    if (n == 1 || t->n_merges == 0) {
        for (size_t i = 0; i < n; i++) {
            intvec_push(out, t->byte_id[s[i]]);
        }
        return;
    }
    int whole = t->whole_cap ? whole_token_find(t, s, n, NULL) : -1;
    if (whole >= 0) {
        intvec_push(out, whole);
        return;
    }
    if (n > w->cap) {
        w->cap = 2 * n;
        w->id = (int*)realloc_check(w->id, w->cap * sizeof(int));
        w->prev = (int*)realloc_check(w->prev, w->cap * sizeof(int));
        w->next = (int*)realloc_check(w->next, w->cap * sizeof(int));
    }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        w->id[i] = t->byte_id[s[i]];
        w->prev[i] = (int)i - 1;
        w->next[i] = i + 1 < n ? (int)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        bpe_push_pair(t, w, &hn, (int)i);
    }
    while (hn > 0) {
        uint64_t top = bpe_heap_pop(w, &hn);
        int pos = (int)(uint32_t)top, rank = (int)(top >> 32), next = w->next[pos], merged = -1;
        if (w->id[pos] < 0 || next < 0 || merge_find(t, w->id[pos], w->id[next], &merged) != rank) {
            continue; // stale: one of the two symbols has changed since this pair was pushed
        }
        w->id[pos] = merged; // the right symbol joins the left one
        w->id[next] = -1;
        w->next[pos] = w->next[next];
        if (w->next[next] >= 0) {
            w->prev[w->next[next]] = pos;
        }
        if (w->prev[pos] >= 0) {
            bpe_push_pair(t, w, &hn, w->prev[pos]);
        }
        bpe_push_pair(t, w, &hn, pos);
    }
    for (int i = 0; i >= 0; i = w->next[i]) {
        intvec_push(out, w->id[i]);
    }
}

static void tokenizer_index_whole_tokens(Tokenizer* t) {
    size_t cap = 16;
    while (cap < 2 * (size_t)t->n_base) {
        cap *= 2;
    }
    int* slot = (int*)malloc_check(cap * sizeof(int));
    for (size_t i = 0; i < cap; i++) {
        slot[i] = -1;
    }
    IntVec out = {0};
    BpeScratch w = {0};
    unsigned char* added = (unsigned char*)calloc_check((size_t)t->vocab_size, 1);
    for (int i = 0; i < t->n_added; i++) {
        added[t->added[i].id] = 1;
    }
    t->whole_cap = 0; // (no shortcut while the list is being made)
    for (int id = 0; id < t->vocab_size; id++) {
        if (t->token_text[id] == NULL || t->token_len[id] < 2 || added[id]) {
            continue;
        }
        out.n = 0;
        bpe_encode_piece(t, (const unsigned char*)t->token_text[id], (size_t)t->token_len[id], &out, &w);
        if (out.n == 1 && out.data[0] == id) {
            t->whole_slot = slot, t->whole_cap = cap; // (find in the new table, then hide it again)
            size_t where;
            if (whole_token_find(t, (const unsigned char*)t->token_text[id], (size_t)t->token_len[id], &where) < 0) {
                slot[where] = id;
            }
            t->whole_cap = 0;
        }
    }
    t->whole_slot = slot, t->whole_cap = cap;
    free(out.data), free(w.id), free(w.prev), free(w.next), free(w.heap), free(added);
}

// ----------------------------------------------------------------------------
// encoding

// Encodes text that holds no added token: NFC (when `normalize`), pieces, BPE. If starts is given,
// it gets the byte offset of each token's first byte (offsets are into the normalized text).
static void encode_plain(const Tokenizer* t, const char* text, size_t len, int normalize, IntVec* out,
                         IntVec* starts, BpeScratch* w) {
    size_t nfc_len = 0;
    char* nfc = normalize ? nfc_normalize(text, len, &nfc_len) : NULL;
    const unsigned char* s = (const unsigned char*)(nfc ? nfc : text);
    size_t n = nfc ? nfc_len : len;
    for (size_t i = 0; i < n;) {
        size_t end = pretok_next(s, n, i);
        size_t before = out->n;
        bpe_encode_piece(t, s + i, end - i, out, w);
        for (size_t k = before, pos = i; starts && k < out->n; k++) {
            intvec_push(starts, (int)pos);
            pos += (size_t)t->token_len[out->data[k]];
        }
        i = end;
    }
    free(nfc);
}

// The longest added token that starts at s[0], or NULL.
static const AddedToken* match_added(const Tokenizer* t, const char* s, size_t n) {
    const AddedToken* best = NULL;
    for (int i = 0; i < t->n_added; i++) {
        const AddedToken* a = &t->added[i];
        if (a->len <= n && (!best || a->len > best->len) && memcmp(s, a->text, a->len) == 0) {
            best = a;
        }
    }
    return best;
}

// Encodes valid UTF-8: added tokens first, the text between them through encode_plain.
static void encode_text(const Tokenizer* t, const char* s, size_t n, int normalize, IntVec* out, IntVec* starts) {
    BpeScratch w = {0};
    size_t seg = 0; // start of the current stretch of plain text
    for (size_t i = 0; i < n;) {
        const AddedToken* a = t->added_first[(unsigned char)s[i]] ? match_added(t, s + i, n - i) : NULL;
        if (a == NULL) {
            i++;
            continue;
        }
        size_t before = starts ? out->n : 0;
        encode_plain(t, s + seg, i - seg, normalize, out, starts, &w);
        for (size_t k = before; starts && k < out->n; k++) {
            starts->data[k] += (int)seg; // offsets into the whole text
        }
        if (starts) {
            intvec_push(starts, (int)i);
        }
        intvec_push(out, a->id);
        i += a->len;
        seg = i;
    }
    size_t before = starts ? out->n : 0;
    encode_plain(t, s + seg, n - seg, normalize, out, starts, &w);
    for (size_t k = before; starts && k < out->n; k++) {
        starts->data[k] += (int)seg;
    }
    free(w.id), free(w.prev), free(w.next), free(w.heap);
}

// Encodes len bytes of text. Returns the number of tokens; *ids_out gets a malloc'd array of them
// (the caller frees it). Any bytes are accepted: invalid UTF-8 is replaced first (see the top).
static int tokenizer_encode(const Tokenizer* t, const char* text, size_t len, int** ids_out) {
    size_t clean_len;
    char* clean = utf8_sanitize(text, len, &clean_len);
    IntVec out = {0};
    encode_text(t, clean ? clean : text, clean ? clean_len : len, 1, &out, NULL);
    free(clean);
    *ids_out = out.data ? out.data : (int*)malloc_check(sizeof(int));
    return (int)out.n;
}

// ----------------------------------------------------------------------------
// decoding
// The text of a token list is the concatenation of the tokens' bytes. Ids with no text (the padding
// rows of the embedding, 151665..151935 for Qwen2.5) are skipped, as `tokenizers` does, and so are
// special added tokens when skip_special is set (non-special added ones like <tool_call> stay).

static int token_visible(const Tokenizer* t, int id, int skip_special) {
    return id >= 0 && id < t->vocab_size && t->token_text[id] && !(skip_special && t->is_special[id]);
}

// Returns the decoded bytes, malloc'd and NUL-terminated; *len_out gets their count (may be NULL).
// The result is raw bytes: a token list that ends inside a character gives a partial UTF-8 sequence.
static char* tokenizer_decode(const Tokenizer* t, const int* ids, size_t n, int skip_special, size_t* len_out) {
    StrBuf v = {0};
    sb_append(&v, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (token_visible(t, ids[i], skip_special)) {
            sb_append(&v, t->token_text[ids[i]], (size_t)t->token_len[ids[i]]);
        }
    }
    if (len_out) {
        *len_out = v.len;
    }
    return v.s;
}

// Streaming decode, for printing while generating: one token at a time, only whole UTF-8
// characters come out; the first bytes of a character split across tokens wait for the rest. The
// pieces concatenated (plus token_stream_flush at the end) equal tokenizer_decode of all the ids.
typedef struct {
    StrBuf buf;      // what the last call returned
    char pending[4]; // an incomplete character carried to the next token
    int n_pending;
} TokenStream;

// The length of the incomplete-but-so-far-valid UTF-8 sequence at the end of s (0..3).
static int utf8_incomplete_tail(const unsigned char* s, size_t n) {
    for (int back = 1; back <= 3 && (size_t)back <= n; back++) {
        unsigned char c = s[n - back];
        if ((c & 0xC0) == 0x80) {
            continue; // a continuation byte: keep looking for the lead byte
        }
        int need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 1;
        return need > back && utf8_invalid_len(s + n - back, (size_t)back) == (size_t)back ? back : 0;
    }
    return 0;
}

// Feeds one token; returns the bytes ready to print (NUL-terminated, valid until the next call).
static const char* token_stream_push(const Tokenizer* t, TokenStream* st, int id, int skip_special, size_t* len) {
    st->buf.len = 0;
    sb_append(&st->buf, st->pending, (size_t)st->n_pending);
    if (token_visible(t, id, skip_special)) {
        sb_append(&st->buf, t->token_text[id], (size_t)t->token_len[id]);
    }
    st->n_pending = utf8_incomplete_tail((const unsigned char*)st->buf.s, st->buf.len);
    st->buf.len -= (size_t)st->n_pending;
    memcpy(st->pending, st->buf.s + st->buf.len, (size_t)st->n_pending);
    st->buf.s[st->buf.len] = '\0';
    *len = st->buf.len;
    return st->buf.s;
}

// At the end of generation: whatever is still pending (an unfinished character's bytes).
static const char* token_stream_flush(TokenStream* st, size_t* len) {
    st->buf.len = 0;
    sb_append(&st->buf, st->pending, (size_t)st->n_pending);
    st->n_pending = 0;
    *len = st->buf.len;
    return st->buf.s;
}

static void token_stream_free(TokenStream* st) {
    free(st->buf.s);
    memset(st, 0, sizeof(*st));
}

// ----------------------------------------------------------------------------
// the chat template (ChatML, as Qwen2.5's tokenizer_config.json renders it without tools)
//   <|im_start|>system\n{system}<|im_end|>\n        the first message if it is a system one, else
//                                                   the model's default system prompt
//   <|im_start|>{role}\n{content}<|im_end|>\n       every other message
//   <|im_start|>assistant\n                         add_generation_prompt: the model answers next
// continue_final (transformers' continue_final_message): the last message is left open, with no
// <|im_end|>\n, so the model continues it; R1-Zero recipes prefill "Let me solve this step by
// step.\n<think>" this way. The rendered text is tokenized as a whole, exactly as apply_chat_template
// does (so a "\n" of the template and a "\n" starting the content can merge into one token).
// The assistant mask, for SFT losses on the answers only: 1 on the tokens of each assistant message's
// content and its closing <|im_end|> (not the role header, not the "\n" after <|im_end|>). That is
// what transformers' return_assistant_tokens_mask gives (a token counts if it overlaps the span) for
// a template whose {% generation %} block wraps `content + '<|im_end|>'`, as TRL's training templates
// do; Qwen2.5's own template has no such block. A continued final message is marked up to its end.

typedef struct {
    const char* role;    // "system", "user" or "assistant"
    const char* content; // UTF-8 text
} ChatMessage;

// Appends a message's text, cleaned (invalid UTF-8 replaced) and in NFC, so that the rendered text
// needs no further normalization and token offsets point into it directly. Normalizing each text
// alone gives the same as normalizing the whole: texts are bounded by "\n" or by added tokens, and no
// combining mark can join or reorder across a "\n" (a starter with no compositions).
static void chat_append_text(StrBuf* v, const char* s) {
    size_t n = strlen(s), clean_len, nfc_len;
    char* clean = utf8_sanitize(s, n, &clean_len);
    const char* c = clean ? clean : s;
    size_t cn = clean ? clean_len : n;
    char* nfc = nfc_normalize(c, cn, &nfc_len);
    sb_append(v, nfc ? nfc : c, nfc ? nfc_len : cn);
    free(nfc), free(clean);
}

// Appends <|im_start|>{role}\n{content}<|im_end|>\n, without the end when `open`. When spans is given,
// the [start, end) byte range of content + <|im_end|> is appended to it.
static void chat_render_message(StrBuf* v, const char* role, const char* content, int open, IntVec* spans) {
    sb_append(v, "<|im_start|>", 12);
    chat_append_text(v, role);
    sb_append(v, "\n", 1);
    if (spans) {
        intvec_push(spans, (int)v->len);
    }
    chat_append_text(v, content);
    if (!open) {
        sb_append(v, "<|im_end|>", 10);
    }
    if (spans) {
        intvec_push(spans, (int)v->len);
    }
    if (!open) {
        sb_append(v, "\n", 1);
    }
}

// Renders the conversation. spans gets the [start, end) byte range of each assistant part.
// system: NULL = the model's default (t->default_system, which may be NULL: then none), "" = none.
static char* chat_render(const Tokenizer* t, const ChatMessage* msgs, int n, const char* system,
                         int add_generation_prompt, int continue_final, size_t* len, IntVec* spans) {
    if (add_generation_prompt && continue_final) {
        fatal("chat: add_generation_prompt and continue_final cannot both be set (as in transformers)");
    }
    if (continue_final && n == 0) {
        fatal("chat: continue_final needs a final message to continue");
    }
    StrBuf v = {0};
    sb_append(&v, "", 0);
    system = system ? system : t->default_system;
    int first = n > 0 && strcmp(msgs[0].role, "system") == 0; // an explicit system message replaces the default
    if (!first && system && system[0]) {
        chat_render_message(&v, "system", system, 0, NULL);
    }
    for (int i = 0; i < n; i++) {
        const char* role = msgs[i].role;
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant")) {
            fatal("chat: message %d has role '%s'; supported roles are system, user and assistant", i, role);
        }
        chat_render_message(&v, role, msgs[i].content, continue_final && i == n - 1,
                            strcmp(role, "assistant") == 0 ? spans : NULL);
    }
    if (add_generation_prompt) {
        sb_append(&v, "<|im_start|>assistant\n", 22);
    }
    *len = v.len;
    return v.s;
}

// Encodes a conversation. Returns the token count; *ids gets the malloc'd ids and, when
// assistant_mask is not NULL, *assistant_mask a malloc'd 0/1 byte per token (see above).
static int chat_encode(const Tokenizer* t, const ChatMessage* msgs, int n, const char* system,
                       int add_generation_prompt, int continue_final, int** ids, unsigned char** assistant_mask) {
    IntVec spans = {0}, out = {0}, starts = {0};
    size_t len;
    char* text = chat_render(t, msgs, n, system, add_generation_prompt, continue_final, &len, &spans);
    encode_text(t, text, len, 0, &out, &starts);
    if (assistant_mask) {
        unsigned char* mask = (unsigned char*)calloc_check(out.n ? out.n : 1, 1);
        for (size_t k = 0; k < out.n; k++) {
            size_t a = (size_t)starts.data[k], b = a + (size_t)t->token_len[out.data[k]];
            for (size_t s = 0; s + 1 < spans.n; s += 2) {
                if (a < (size_t)spans.data[s + 1] && b > (size_t)spans.data[s]) {
                    mask[k] = 1;
                }
            }
        }
        *assistant_mask = mask;
    }
    free(text), free(spans.data), free(starts.data);
    *ids = out.data ? out.data : (int*)malloc_check(sizeof(int));
    return (int)out.n;
}

// ----------------------------------------------------------------------------
// saving: vocab.json, merges.txt and tokenizer_config.json, so that a checkpoint folder is a model
// folder Hugging Face loads (AutoTokenizer.from_pretrained gives the same ids; checked by the oracle)

// A token's raw bytes written in the byte alphabet, as a JSON string.
static void write_byte_level(FILE* f, const char* s, size_t n, int json) {
    StrBuf v = {0};
    sb_append(&v, "", 0);
    for (size_t i = 0; i < n; i++) {
        sb_append_cp(&v, byte_to_unicode((unsigned char)s[i]));
    }
    if (json) {
        json_write_string(f, v.s, v.len);
    } else {
        fwrite_check(v.s, 1, v.len, f, "merges.txt");
    }
    free(v.s);
}

// A ChatML template for tokenizers that came without one, with the default system prompt if any.
static char* chat_template_make(const char* default_system) {
    StrBuf v = {0};
    sb_append(&v, "", 0);
    if (default_system) {
        const char* a = "{%- if messages[0]['role'] == 'system' %}\n"
                        "    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
                        "{%- else %}\n    {{- '<|im_start|>system\\n";
        sb_append(&v, a, strlen(a));
        for (const char* p = default_system; *p; p++) { // as a Jinja string literal
            const char* esc = *p == '\n' ? "\\n" : *p == '\\' ? "\\\\" : *p == '\'' ? "\\'" : NULL;
            sb_append(&v, esc ? esc : p, esc ? 2 : 1);
        }
        const char* b = "<|im_end|>\\n' }}\n{%- endif %}\n";
        sb_append(&v, b, strlen(b));
    }
    const char* parts[5] = {
        "{%- for message in messages %}\n",
        "    {%- if not (message.role == 'system' and loop.first) %}\n", // with a default only
        "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}\n",
        "    {%- endif %}\n", // with a default only
        "{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"};
    for (int i = 0; i < 5; i++) {
        if (default_system || i % 2 == 0) {
            sb_append(&v, parts[i], strlen(parts[i]));
        }
    }
    return v.s;
}

static void tokenizer_save(const Tokenizer* t, const char* dir) {
    if (!dir_exists(dir) && mkdir(dir, 0755) != 0) {
        fatal("cannot create folder '%s': %s", dir, strerror(errno));
    }
    char* path = path_join(dir, "vocab.json");
    char* tmp;
    FILE* f = atomic_open(path, &tmp);
    fputc('{', f);
    for (int id = 0, first = 1; id < t->vocab_size; id++) {
        if (t->token_text[id] && tokenizer_added_id(t, t->token_text[id]) != id) { // added ones go below
            fputs(first ? "" : ",", f);
            write_byte_level(f, t->token_text[id], (size_t)t->token_len[id], 1);
            fprintf(f, ":%d", id);
            first = 0;
        }
    }
    fputs("}", f);
    atomic_commit(f, tmp, path);
    free(path);
    path = path_join(dir, "merges.txt");
    f = atomic_open(path, &tmp);
    fputs("#version: 0.2\n", f);
    for (int r = 0; r < t->n_merges; r++) {
        int a = t->merge_pair[2 * r], b = t->merge_pair[2 * r + 1];
        write_byte_level(f, t->token_text[a], (size_t)t->token_len[a], 0);
        fputc(' ', f);
        write_byte_level(f, t->token_text[b], (size_t)t->token_len[b], 0);
        fputc('\n', f);
    }
    atomic_commit(f, tmp, path);
    free(path);
    path = path_join(dir, "tokenizer_config.json");
    f = atomic_open(path, &tmp);
    fputs("{\n  \"add_bos_token\": false,\n  \"add_prefix_space\": false,\n  \"added_tokens_decoder\": {", f);
    for (int i = 0; i < t->n_added; i++) {
        fprintf(f, "%s\n    \"%d\": {\"content\": ", i ? "," : "", t->added[i].id);
        json_write_string(f, t->added[i].text, t->added[i].len);
        fprintf(f, ", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, \"single_word\": false, "
                   "\"special\": %s}", t->added[i].special ? "true" : "false");
    }
    fputs("\n  },\n  \"bos_token\": null,\n  \"chat_template\": ", f);
    char* tmpl = t->chat_template ? strdup_check(t->chat_template) : chat_template_make(t->default_system);
    json_write_string(f, tmpl, strlen(tmpl));
    free(tmpl);
    fputs(",\n  \"clean_up_tokenization_spaces\": false,\n  \"eos_token\": ", f);
    if (t->eos_id >= 0) {
        json_write_string(f, t->token_text[t->eos_id], (size_t)t->token_len[t->eos_id]);
    } else {
        fputs("null", f);
    }
    fputs(",\n  \"errors\": \"replace\",\n  \"model_max_length\": 131072,\n  \"pad_token\": ", f);
    if (t->pad_id >= 0) {
        json_write_string(f, t->token_text[t->pad_id], (size_t)t->token_len[t->pad_id]);
    } else {
        fputs("null", f);
    }
    fputs(",\n  \"split_special_tokens\": false,\n  \"tokenizer_class\": \"Qwen2Tokenizer\",\n"
          "  \"unk_token\": null\n}\n", f);
    atomic_commit(f, tmp, path);
    free(path);
}

// ----------------------------------------------------------------------------
// Qwen2.5: configuration and parameters
// A Qwen2ForCausalLM is: token embedding, L identical decoder layers (RMSNorm -> attention with
// q/k/v biases, RoPE and grouped-query heads -> residual; RMSNorm -> SwiGLU MLP -> residual), a final
// RMSNorm and the LM head, which small models tie to the embedding.

typedef struct {
    int hidden_size;             // C
    int intermediate_size;       // I
    int num_layers;              // L   (num_hidden_layers)
    int num_heads;               // NH  (num_attention_heads)
    int num_kv_heads;            // NKV (num_key_value_heads); NH % NKV == 0
    int head_dim;                // HD = C / NH
    int vocab_size;              // V   (rows of the embedding; more than the tokenizer's ids)
    int max_position_embeddings; // longest sequence the model is configured for
    float rope_theta;            // RoPE base, 1e6 for Qwen2.5 (1e4 for Qwen2.5-Math)
    float rms_norm_eps;          // 1e-6
    int tie_word_embeddings;     // 1: the LM head is the embedding matrix (0.5B, 1.5B, 3B)
    int bos_token_id;            // informative only: Qwen2.5 never prepends a bos token
    int eos_token_id;            // as written in config.json (generation_config.json may list more)
} Qwen2Config;

// The parameters, each a pointer into one contiguous buffer. Per-layer tensors are stacked over the
// L layers (as llm.c does), so layer l's q_proj weight is wq + l * (NH*HD) * C.
#define NUM_PARAM_TENSORS 14
typedef struct {
    float* embed;   // (V, C)           model.embed_tokens.weight
    float* ln1;     // (L, C)           model.layers.N.input_layernorm.weight
    float* wq;      // (L, NH*HD, C)    model.layers.N.self_attn.q_proj.weight
    float* bq;      // (L, NH*HD)       model.layers.N.self_attn.q_proj.bias
    float* wk;      // (L, NKV*HD, C)   model.layers.N.self_attn.k_proj.weight
    float* bk;      // (L, NKV*HD)      model.layers.N.self_attn.k_proj.bias
    float* wv;      // (L, NKV*HD, C)   model.layers.N.self_attn.v_proj.weight
    float* bv;      // (L, NKV*HD)      model.layers.N.self_attn.v_proj.bias
    float* wo;      // (L, C, NH*HD)    model.layers.N.self_attn.o_proj.weight
    float* ln2;     // (L, C)           model.layers.N.post_attention_layernorm.weight
    float* wgate;   // (L, I, C)        model.layers.N.mlp.gate_proj.weight
    float* wup;     // (L, I, C)        model.layers.N.mlp.up_proj.weight
    float* wdown;   // (L, C, I)        model.layers.N.mlp.down_proj.weight
    float* norm;    // (C)              model.norm.weight
    float* lm_head; // (V, C)           lm_head.weight; == embed when the embeddings are tied
} ParameterTensors;

// One row per tensor of ParameterTensors, in the same order: the Hugging Face name ("%d" is the
// layer), whether it is stacked over layers, and its kind. Loading, saving and initialisation are
// each one loop over this table. lm_head is listed apart because it may alias embed.
typedef enum { PARAM_MATRIX, PARAM_BIAS, PARAM_NORM } ParamKind;
typedef struct {
    const char* hf_name;
    int per_layer;
    ParamKind kind; // matrices: normal(0, 0.02) init and weight decay; biases: zeros; norms: ones
} ParamSpec;

static const ParamSpec PARAM_SPECS[NUM_PARAM_TENSORS + 1] = {
    {"model.embed_tokens.weight", 0, PARAM_MATRIX},
    {"model.layers.%d.input_layernorm.weight", 1, PARAM_NORM},
    {"model.layers.%d.self_attn.q_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.self_attn.q_proj.bias", 1, PARAM_BIAS},
    {"model.layers.%d.self_attn.k_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.self_attn.k_proj.bias", 1, PARAM_BIAS},
    {"model.layers.%d.self_attn.v_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.self_attn.v_proj.bias", 1, PARAM_BIAS},
    {"model.layers.%d.self_attn.o_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.post_attention_layernorm.weight", 1, PARAM_NORM},
    {"model.layers.%d.mlp.gate_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.mlp.up_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.mlp.down_proj.weight", 1, PARAM_MATRIX},
    {"model.norm.weight", 0, PARAM_NORM},
    {"lm_head.weight", 0, PARAM_MATRIX}, // index NUM_PARAM_TENSORS: only stored when untied
};

// Shape of one layer's slice of each tensor: rows x cols (cols == 1 for vectors).
static void param_shapes(const Qwen2Config* c, size_t rows[NUM_PARAM_TENSORS + 1], size_t cols[NUM_PARAM_TENSORS + 1]) {
    size_t C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    size_t r[NUM_PARAM_TENSORS + 1] = {V, C, QD, QD, KVD, KVD, KVD, KVD, C, C, I, I, C, C, V};
    size_t k[NUM_PARAM_TENSORS + 1] = {C, 1, C, 1, C, 1, C, 1, QD, 1, C, C, I, 1, C};
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        rows[i] = r[i];
        cols[i] = k[i];
    }
}

// Number of floats of each tensor across all layers; lm_head counts only when it is not tied.
static void param_sizes(const Qwen2Config* c, size_t sizes[NUM_PARAM_TENSORS + 1]) {
    size_t rows[NUM_PARAM_TENSORS + 1], cols[NUM_PARAM_TENSORS + 1];
    param_shapes(c, rows, cols);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        sizes[i] = rows[i] * cols[i] * (PARAM_SPECS[i].per_layer ? (size_t)c->num_layers : 1);
    }
    if (c->tie_word_embeddings) {
        sizes[NUM_PARAM_TENSORS] = 0;
    }
}

// Points the tensors of p into one buffer of param_count(c) floats (allocated when memory is NULL).
// Returns the buffer. With tied embeddings lm_head aliases embed, so gradients of the LM head
// accumulate into the embedding's gradient automatically.
static size_t param_count(const Qwen2Config* c) {
    size_t sizes[NUM_PARAM_TENSORS + 1], n = 0;
    param_sizes(c, sizes);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        n += sizes[i];
    }
    return n;
}

static float* param_point(const Qwen2Config* c, ParameterTensors* p, float* memory) {
    size_t sizes[NUM_PARAM_TENSORS + 1];
    param_sizes(c, sizes);
    if (memory == NULL) {
        memory = (float*)calloc_check(param_count(c), sizeof(float));
    }
    float** ptrs[NUM_PARAM_TENSORS + 1] = {&p->embed, &p->ln1,  &p->wq,    &p->bq,  &p->wk,    &p->bk,
                                           &p->wv,    &p->bv,   &p->wo,    &p->ln2, &p->wgate, &p->wup,
                                           &p->wdown, &p->norm, &p->lm_head};
    float* at = memory;
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        *ptrs[i] = at;
        at += sizes[i];
    }
    if (c->tie_word_embeddings) {
        p->lm_head = p->embed;
    }
    return memory;
}

// The tensor pointers of p as an array in PARAM_SPECS order (for loops over all parameters).
static void param_list(ParameterTensors* p, float* list[NUM_PARAM_TENSORS + 1]) {
    float* l[NUM_PARAM_TENSORS + 1] = {p->embed, p->ln1, p->wq,  p->bq,  p->wk,    p->bk,   p->wv,  p->bv,
                                       p->wo,    p->ln2, p->wgate, p->wup, p->wdown, p->norm, p->lm_head};
    memcpy(list, l, sizeof(l));
}

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

// ----------------------------------------------------------------------------
// Qwen2.5: the layers, forward and backward
// Every layer of Qwen2ForCausalLM as one function per direction, in fp32, computing exactly what
// Hugging Face transformers computes (tests/test_model.c checks logits, loss and every gradient
// against it). These are the CPU twins of the CUDA kernels: same names, same argument order.
//
// Conventions of this section:
// - Activations are row-major with the token index outermost: a (B, T, C) tensor holds token
//   (b, t) at [(b * T + t) * C]. Attention heads live inside the last dimension: q is (B, T, NH, HD).
// - A backward function *adds* into the gradients of parameters (dweight += ...), so gradients
//   accumulate over micro-batches until qwen2_zero_grad; gradients of activations it writes are
//   documented at each function ("+=" or "=").
// - The only non-obvious code is matmul's: it is written so that gcc -O3 -march=native turns the
//   inner loops into vector FMAs without -ffast-math (see matmul_kernel).

// --- small helpers -----------------------------------------------------------

// Dot product of two fp32 vectors. `omp simd reduction` lets the compiler keep 8 partial sums in
// one vector register (reassociating the sum, which plain C forbids without -ffast-math); fmaf
// makes each step a fused multiply-add, as BLAS does.
static inline float dot_f32(const float* a, const float* b, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) {
        s = fmaf(a[i], b[i], s);
    }
    return s;
}

// y += alpha * x, vectorised over n.
static inline void axpy_f32(float* y, float alpha, const float* x, int n) {
    for (int i = 0; i < n; i++) {
        y[i] = fmaf(alpha, x[i], y[i]);
    }
}

// e^x in fp32, as a polynomial the compiler can vectorise: loops that call libm's expf run one
// element at a time (a function call per element), and the softmax of the LM head, the attention
// softmax and SiLU call exp once per element of large tensors; this is about 8x faster there.
// Cephes' expf: e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln(2)/2, e^r by a degree-7
// polynomial; within 1.3 ulp of the exact value on the clamped range [-87, 88] (e^-87 ~ 1.6e-38
// stands in for anything smaller). The clamps are written as arithmetic, not branches, so the
// loop stays vectorisable; infinite inputs give NaN (activations are finite in a healthy model).
static inline float exp_f32(float x) {
    x = x + (float)(x < -87.0f) * (-87.0f - x);
    x = x + (float)(x > 88.0f) * (88.0f - x);
    float n = rintf(x * 1.44269504088896341f); // x / ln 2, to the nearest integer
    float r = fmaf(n, -0.693359375f, x);        // r = x - n ln 2, with ln 2 split in two parts
    r = fmaf(n, 2.12194440e-4f, r);             // so that the product is exact
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r + 1.0f); // e^r
    int32_t bits = ((int32_t)n + 127) << 23; // 2^n, built from its exponent bits
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

// --- embedding -----------------------------------------------------------------

// out[b, t] = embed[ids[b, t]]: a row lookup.
static void embedding_forward(float* out,         // (B, T, C)
                              const int* ids,     // (B, T)
                              const float* embed, // (V, C)
                              int BT, int C, int V) {
    for (int i = 0; i < BT; i++) {
        if (ids[i] < 0 || ids[i] >= V) {
            fatal("token id %d at position %d is outside the vocabulary [0, %d)", ids[i], i, V);
        }
        memcpy(out + (size_t)i * C, embed + (size_t)ids[i] * C, (size_t)C * sizeof(float));
    }
}

// dembed[ids[b, t]] += dout[b, t]. A token that appears several times collects the sum. This runs
// serially: two threads could otherwise add into the same row at once.
static void embedding_backward(float* dembed,     // (V, C)
                               const float* dout, // (B, T, C)
                               const int* ids,    // (B, T)
                               int BT, int C) {
    for (int i = 0; i < BT; i++) {
        axpy_f32(dembed + (size_t)ids[i] * C, 1.0f, dout + (size_t)i * C, C);
    }
}

// --- RMSNorm -------------------------------------------------------------------

// out = weight * (x / sqrt(mean(x^2) + eps)). As transformers does: the statistic in fp32, x scaled
// first, the weight applied after. rstd = 1/sqrt(mean(x^2) + eps) is kept for the backward pass.
static void rmsnorm_forward(float* out,          // (B, T, C)
                            float* rstd,         // (B, T)
                            const float* inp,    // (B, T, C)
                            const float* weight, // (C)
                            int BT, int C, float eps) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* x = inp + (size_t)i * C;
        float* o = out + (size_t)i * C;
        float r = 1.0f / sqrtf(dot_f32(x, x, C) / C + eps);
        for (int j = 0; j < C; j++) {
            o[j] = weight[j] * (x[j] * r);
        }
        rstd[i] = r;
    }
}

// With xhat = x * r and y = w * xhat:  dw += dy * xhat, and since r depends on every x_j,
// dx = r * (w dy - xhat * mean(w dy * xhat)). dinp is accumulated (+=): it is the residual stream's
// gradient, which also receives the skip connection's share.
static void rmsnorm_backward(float* dinp,         // (B, T, C)  +=
                             float* dweight,      // (C)        +=
                             const float* dout,   // (B, T, C)
                             const float* inp,    // (B, T, C)
                             const float* weight, // (C)
                             const float* rstd,   // (B, T)
                             int BT, int C) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* dy = dout + (size_t)i * C;
        const float* x = inp + (size_t)i * C;
        float* dx = dinp + (size_t)i * C;
        float r = rstd[i];
        float sum = 0.0f; // sum_j w_j dy_j xhat_j
        for (int j = 0; j < C; j++) {
            sum += weight[j] * dy[j] * (x[j] * r);
        }
        float mean = sum / C;
        for (int j = 0; j < C; j++) {
            dx[j] += r * (weight[j] * dy[j] - (x[j] * r) * mean);
        }
    }
    // dweight sums over all tokens; a loop over channels keeps threads on separate elements
#pragma omp parallel for
    for (int j = 0; j < C; j++) {
        float s = 0.0f;
        for (int i = 0; i < BT; i++) {
            s += dout[(size_t)i * C + j] * (inp[(size_t)i * C + j] * rstd[i]);
        }
        dweight[j] += s;
    }
}

// --- matmul (nn.Linear) ----------------------------------------------------------
// out = inp . weight^T + bias, with weight stored (OC, C) as PyTorch's nn.Linear does. Nearly all
// of the time of a training step is spent here, so this is the one place written for speed, the
// way BLAS libraries do it (Goto's algorithm), in plain C:
//
// - matmul_kernel computes a 6 x 16 block of the output, keeping its 96 sums in 12 vector registers
//   (8 floats each with AVX2) while it runs down the depth K. Each step loads 16 values of b and 6 of
//   a and does 96 multiply-adds; `omp simd` and fmaf make gcc -O3 -march=native emit vector FMAs
//   (without the pragma gcc keeps the block in memory, ten times slower).
// - matmul_packed feeds it: it copies ("packs") a chunk of a and a panel of b so that the kernel reads
//   both sequentially from cache, 6 rows of a and 16 columns of b interleaved per depth step. The
//   packing also absorbs the layouts: a and b are given with a row and a column stride, so the
//   three products of a layer are one function:
//       forward   out  = inp . W^T     b[k][n] = W[n][k]
//       backward  dinp = dout . W
//       backward  dW   = dout^T . inp  a[m][k] = dout[k][m]

#define MATMUL_MR 6   // rows of the kernel's output block
#define MATMUL_NR 16  // columns of the kernel's output block (two AVX2 registers per row)
#define MATMUL_MC 96  // rows of a in one packed chunk (a multiple of MR)
#define MATMUL_NC 256 // columns of b in one packed panel (a multiple of NR)
#define MATMUL_KC 256 // depth of a slice: a chunk (96 x 256) and a panel of b (256 x 256) fit in L2

// c (mr x nr block, row stride ldc) += ap . bp, where ap is (K, MR) and bp is (K, NR) packed.
static void matmul_kernel(float* c, size_t ldc, const float* ap, const float* bp, int K, int mr, int nr) {
    float acc[MATMUL_MR][MATMUL_NR];
    for (int r = 0; r < MATMUL_MR; r++) {
        for (int n = 0; n < MATMUL_NR; n++) {
            acc[r][n] = 0.0f;
        }
    }
    for (int k = 0; k < K; k++) {
        const float* b = bp + (size_t)k * MATMUL_NR;
        for (int r = 0; r < MATMUL_MR; r++) {
            float a = ap[(size_t)k * MATMUL_MR + r];
#pragma omp simd
            for (int n = 0; n < MATMUL_NR; n++) {
                acc[r][n] = fmaf(a, b[n], acc[r][n]);
            }
        }
    }
    for (int r = 0; r < mr; r++) { // only the valid part of an edge block
        for (int n = 0; n < nr; n++) {
            c[r * ldc + n] += acc[r][n];
        }
    }
}

// Each thread packs into its own scratch, allocated on first use and kept for the life of the
// process (threadprivate: one copy per OpenMP thread), since a fresh 224 KiB malloc per call costs
// page faults that small products notice.
static float* matmul_scratch = NULL; // (MC * KC + KC * NC) floats
#pragma omp threadprivate(matmul_scratch)

// Packs rows [m0, m0 + mc) and depths [k0, k0 + kc) of a into ap as blocks of MR rows, each block
// (kc, MR): the kernel then reads its 6 values of a for one depth step from one place. Rows past mc
// are zero, so an edge block computes harmless zeros.
static void matmul_pack_a(float* ap, const float* a, size_t a_rs, size_t a_cs, int m0, int mc, int k0, int kc) {
    for (int i = 0; i < mc; i += MATMUL_MR) {
        float* dst = ap + (size_t)i * kc; // (kc, MR)
        int rows = mc - i < MATMUL_MR ? mc - i : MATMUL_MR;
        if (a_rs == 1) { // a read transposed (dout^T): its MR values per depth step are contiguous
            for (int k = 0; k < kc; k++) {
                const float* src = a + (size_t)(m0 + i) + (size_t)(k0 + k) * a_cs;
                for (int r = 0; r < MATMUL_MR; r++) {
                    dst[k * MATMUL_MR + r] = r < rows ? src[r] : 0.0f;
                }
            }
            continue;
        }
        for (int r = 0; r < MATMUL_MR; r++) { // rows of a contiguous: walk along each row
            const float* src = a + (size_t)(m0 + i + r) * a_rs + (size_t)k0 * a_cs;
            for (int k = 0; k < kc; k++) {
                dst[k * MATMUL_MR + r] = r < rows ? src[k * a_cs] : 0.0f;
            }
        }
    }
}

// Packs depths [k0, k0 + kc) and columns [n0, n0 + nc) of b into bp as strips of NR columns, each
// strip (kc, NR), zero-padded past nc.
static void matmul_pack_b(float* bp, const float* b, size_t b_rs, size_t b_cs, int k0, int kc, int n0, int nc) {
    for (int j = 0; j < nc; j += MATMUL_NR) {
        float* dst = bp + (size_t)j * kc; // (kc, NR)
        int cols = nc - j < MATMUL_NR ? nc - j : MATMUL_NR;
        if (b_cs == 1 && cols == MATMUL_NR) { // rows of b contiguous: copy 16 floats per depth step
            for (int k = 0; k < kc; k++) {
                memcpy(dst + k * MATMUL_NR, b + (size_t)(k0 + k) * b_rs + n0 + j, MATMUL_NR * sizeof(float));
            }
            continue;
        }
        for (int n = 0; n < MATMUL_NR; n++) { // b read transposed (W^T): walk along its rows
            const float* src = b + (size_t)k0 * b_rs + (size_t)(n0 + j + n) * b_cs;
            for (int k = 0; k < kc; k++) {
                dst[k * MATMUL_NR + n] = n < cols ? src[k * b_rs] : 0.0f;
            }
        }
    }
}

// c (M, N) += a (M, K) . b (K, N), where a[m][k] is at a[m*a_rs + k*a_cs] and b[k][n] at
// b[k*b_rs + n*b_cs]. The output is cut into tasks (a panel of NC columns x a part of the rows),
// shared out over the threads, with enough row parts that every thread gets work. A task walks the
// depth in slices of KC: it packs its slice of b once, then for each chunk of MC rows packs that
// chunk of a and runs the kernel over every (MR x NR) block.
static void matmul_packed(float* c, size_t ldc, const float* a, size_t a_rs, size_t a_cs, const float* b,
                          size_t b_rs, size_t b_cs, int M, int K, int N) {
    int tiles_n = (N + MATMUL_NC - 1) / MATMUL_NC;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_in_parallel() ? 1 : omp_get_max_threads();
#endif
    int parts_m = (4 * threads + tiles_n - 1) / tiles_n; // aim for about 4 tasks per thread
    int max_parts = (M + MATMUL_MC - 1) / MATMUL_MC;
    parts_m = parts_m < 1 ? 1 : parts_m > max_parts ? max_parts : parts_m;
    int part_rows = ((M + parts_m - 1) / parts_m + MATMUL_MR - 1) / MATMUL_MR * MATMUL_MR;
#pragma omp parallel
    {
        if (matmul_scratch == NULL) {
            matmul_scratch = (float*)malloc_check((size_t)(MATMUL_MC + MATMUL_NC) * MATMUL_KC * sizeof(float));
        }
        float* ap = matmul_scratch;                         // (MC/MR, KC, MR)
        float* bp = matmul_scratch + MATMUL_MC * MATMUL_KC; // (NC/NR, KC, NR)
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int tn = 0; tn < tiles_n; tn++) {
            for (int pm = 0; pm < parts_m; pm++) {
                int n0 = tn * MATMUL_NC, nc = N - n0 < MATMUL_NC ? N - n0 : MATMUL_NC;
                int m_begin = pm * part_rows, m_end = m_begin + part_rows < M ? m_begin + part_rows : M;
                for (int k0 = 0; k0 < K; k0 += MATMUL_KC) {
                    int kc = K - k0 < MATMUL_KC ? K - k0 : MATMUL_KC;
                    matmul_pack_b(bp, b, b_rs, b_cs, k0, kc, n0, nc);
                    for (int m0 = m_begin; m0 < m_end; m0 += MATMUL_MC) {
                        int mc = m_end - m0 < MATMUL_MC ? m_end - m0 : MATMUL_MC;
                        matmul_pack_a(ap, a, a_rs, a_cs, m0, mc, k0, kc);
                        for (int j = 0; j < nc; j += MATMUL_NR) {     // a strip of b stays in L1 ...
                            for (int i = 0; i < mc; i += MATMUL_MR) { // ... while the blocks of a pass by
                                matmul_kernel(c + (size_t)(m0 + i) * ldc + n0 + j, ldc, ap + (size_t)i * kc,
                                              bp + (size_t)j * kc, kc, mc - i < MATMUL_MR ? mc - i : MATMUL_MR,
                                              nc - j < MATMUL_NR ? nc - j : MATMUL_NR);
                            }
                        }
                    }
                }
            }
        }
    }
}

// out = inp . weight^T + bias. With a handful of rows (generation, one token at a time) packing
// would cost more than it saves: each output is then one dot product, and weight is read once.
static void matmul_forward(float* out,          // (B, T, OC)
                           const float* inp,    // (B, T, C)
                           const float* weight, // (OC, C)
                           const float* bias,   // (OC) or NULL
                           int BT, int C, int OC) {
    if (BT < 16) {
#pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < BT; i++) {
                float s = dot_f32(inp + (size_t)i * C, weight + (size_t)o * C, C);
                out[(size_t)i * OC + o] = bias ? bias[o] + s : s;
            }
        }
        return;
    }
    for (int i = 0; i < BT; i++) { // start from the bias, then add the product
        float* o = out + (size_t)i * OC;
        for (int j = 0; j < OC; j++) {
            o[j] = bias ? bias[j] : 0.0f;
        }
    }
    matmul_packed(out, OC, inp, C, 1, weight, 1, C, BT, C, OC);
}

// Backward of out = inp . weight^T + bias:
//     dinp    += dout . weight        (BT x OC) . (OC x C)
//     dweight += dout^T . inp         (OC x BT) . (BT x C)
//     dbias   += sum over tokens of dout
// dinp may be NULL (nothing to propagate); dbias is NULL when there is no bias.
static void matmul_backward(float* dinp,         // (B, T, C)  +=, or NULL
                            float* dweight,      // (OC, C)    +=
                            float* dbias,        // (OC)       +=, or NULL
                            const float* dout,   // (B, T, OC)
                            const float* inp,    // (B, T, C)
                            const float* weight, // (OC, C)
                            int BT, int C, int OC) {
    if (dinp) {
        matmul_packed(dinp, C, dout, OC, 1, weight, C, 1, BT, OC, C);
    }
    matmul_packed(dweight, C, dout, 1, OC, inp, C, 1, OC, BT, C);
    if (dbias) {
#pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            float s = 0.0f;
            for (int i = 0; i < BT; i++) {
                s += dout[(size_t)i * OC + o];
            }
            dbias[o] += s;
        }
    }
}

// --- RoPE ----------------------------------------------------------------------
// Rotary position embedding, Qwen2 / Llama style ("rotate_half"): dimension i of a head is paired
// with dimension i + HD/2 (not with its neighbour as in the original paper), and the pair is rotated
// by the angle pos * theta^(-2i/HD). cos and sin depend only on the position, so they are computed
// once per forward pass for every token; the rotation is then applied to q and k of every layer.

// cos[b, t, i] = cos(pos[b, t] * inv_freq[i]), in the precision transformers uses:
// inv_freq = 1 / theta^(float(2i) / HD) and the angle pos * inv_freq, both in fp32.
static void rope_tables(float* cosines,      // (B, T, HD/2)
                        float* sines,        // (B, T, HD/2)
                        const int* pos_ids,  // (B, T)
                        int BT, int HD, float theta) {
    int half = HD / 2;
    for (int i = 0; i < BT; i++) {
        for (int j = 0; j < half; j++) {
            float inv_freq = 1.0f / powf(theta, (float)(2 * j) / (float)HD);
            float angle = (float)pos_ids[i] * inv_freq;
            cosines[(size_t)i * half + j] = cosf(angle);
            sines[(size_t)i * half + j] = sinf(angle);
        }
    }
}

// In place on x, for each head: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), where x1 is the
// first half of the head and x2 the second (transformers' q * cos + rotate_half(q) * sin).
static void rope_forward(float* x,             // (B, T, NHX, HD)  NHX = NH for q, NKV for k
                         const float* cosines, // (B, T, HD/2)
                         const float* sines,   // (B, T, HD/2)
                         int BT, int NHX, int HD) {
    int half = HD / 2;
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* c = cosines + (size_t)i * half;
        const float* s = sines + (size_t)i * half;
        for (int h = 0; h < NHX; h++) {
            float* x1 = x + ((size_t)i * NHX + h) * HD;
            float* x2 = x1 + half;
            for (int j = 0; j < half; j++) {
                float a = x1[j], b = x2[j];
                x1[j] = a * c[j] - b * s[j];
                x2[j] = b * c[j] + a * s[j];
            }
        }
    }
}

// A rotation's gradient is the inverse rotation (its transpose): in place on dx.
static void rope_backward(float* dx,            // (B, T, NHX, HD)
                          const float* cosines, // (B, T, HD/2)
                          const float* sines,   // (B, T, HD/2)
                          int BT, int NHX, int HD) {
    int half = HD / 2;
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* c = cosines + (size_t)i * half;
        const float* s = sines + (size_t)i * half;
        for (int h = 0; h < NHX; h++) {
            float* d1 = dx + ((size_t)i * NHX + h) * HD;
            float* d2 = d1 + half;
            for (int j = 0; j < half; j++) {
                float a = d1[j], b = d2[j];
                d1[j] = a * c[j] + b * s[j];
                d2[j] = b * c[j] - a * s[j];
            }
        }
    }
}

// --- attention -------------------------------------------------------------------
// Causal self-attention with grouped-query heads: query head h reads key/value head h / (NH/NKV).
// Several documents may be packed into one row: a document starts wherever its position id is 0,
// and a token attends only to itself and the earlier tokens of its own document.

// doc_start[b, t] = the index t' <= t where the document of token (b, t) begins.
static void attention_doc_starts(int* doc_start,    // (B, T)
                                 const int* pos_ids, // (B, T)
                                 int B, int T) {
    for (int b = 0; b < B; b++) {
        int start = 0;
        for (int t = 0; t < T; t++) {
            if (pos_ids[b * T + t] == 0) {
                start = t;
            }
            doc_start[b * T + t] = start;
        }
    }
}

// The end of the document that token s begins: the first t > s of another document (or T). The
// products below run document by document, over the squares on the diagonal of the (T, T) scores:
// in packed rows of short documents (the cold start's ~80-token examples in 256-token rows) most of
// the whole row's square is scores masked to 0 (there, SFT got 4% faster: the linear layers dominate).
static int attention_doc_end(const int* doc_start_row, int s, int T) {
    int e = s + 1;
    while (e < T && doc_start_row[e] == doc_start_row[s]) {
        e++;
    }
    return e;
}

// Zeroes T rows of n floats that are ld apart (one head's slice of a (B, T, NH, HD) tensor).
static void zero_rows(float* x, int T, int n, size_t ld) {
    for (int t = 0; t < T; t++) {
        memset(x + (size_t)t * ld, 0, (size_t)n * sizeof(float));
    }
}

// For each (b, h): scores = q k^T (T x T), the softmax of each row t over its window [doc_start,
// t] (the scores scaled by HD^-0.5 after the dot product, as transformers does; fp32, shifted by the
// max so exp never overflows), and out = att v. Both products are matmul_packed calls reading one
// head's columns through strides, one per document: each computes its document's whole square,
// twice the causal work, but at matmul speed; the probabilities outside the window are exactly 0.
// att is kept for backward.
// The threads share out the (b, h) pairs; matmul_packed, called inside, then runs on one thread
// (OpenMP does not nest parallel regions unless asked to).
static void attention_forward(float* out,           // (B, T, NH, HD)
                              float* att,           // (B, NH, T, T)
                              const float* q,       // (B, T, NH, HD)
                              const float* k,       // (B, T, NKV, HD)
                              const float* v,       // (B, T, NKV, HD)
                              const int* doc_start, // (B, T)
                              int B, int T, int NH, int NKV, int HD) {
    size_t QD = (size_t)NH * HD, KVD = (size_t)NKV * HD, TT = (size_t)T * T;
    float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            int kvh = h / (NH / NKV);
            const float* qh = q + (size_t)b * T * QD + (size_t)h * HD;    // (T, HD), rows QD apart
            const float* kh = k + (size_t)b * T * KVD + (size_t)kvh * HD; // (T, HD), rows KVD apart
            const float* vh = v + (size_t)b * T * KVD + (size_t)kvh * HD; // (T, HD), rows KVD apart
            float* oh = out + (size_t)b * T * QD + (size_t)h * HD;        // (T, HD), rows QD apart
            float* a = att + ((size_t)b * NH + h) * TT;                   // (T, T)
            const int* doc_row = doc_start + (size_t)b * T;
            memset(a, 0, TT * sizeof(float));
            for (int s = 0, e; s < T; s = e) { // a[t][t2] = q[t] . k[t2] within each document [s, e)
                e = attention_doc_end(doc_row, s, T);
                matmul_packed(a + (size_t)s * T + s, T, qh + s * QD, QD, 1, kh + s * KVD, 1, KVD, e - s, HD, e - s);
            }
            for (int t = 0; t < T; t++) {
                float* row = a + (size_t)t * T;
                int t0 = doc_start[b * T + t];
                float maxval = -INFINITY, sum = 0.0f;
                for (int t2 = t0; t2 <= t; t2++) {
                    row[t2] *= scale;
                    maxval = fmaxf(maxval, row[t2]);
                }
#pragma omp simd reduction(+ : sum)
                for (int t2 = t0; t2 <= t; t2++) {
                    row[t2] = exp_f32(row[t2] - maxval);
                    sum += row[t2];
                }
                for (int t2 = 0; t2 < T; t2++) {
                    row[t2] = (t2 < t0 || t2 > t) ? 0.0f : row[t2] / sum;
                }
            }
            zero_rows(oh, T, HD, QD);
            for (int s = 0, e; s < T; s = e) { // out[t] = sum_t2 att[t][t2] v[t2]
                e = attention_doc_end(doc_row, s, T);
                matmul_packed(oh + s * QD, QD, a + (size_t)s * T + s, T, 1, vh + s * KVD, KVD, 1, e - s, e - s, HD);
            }
        }
    }
}

// With P = att of one (b, h) and dO its output gradient:
//     dV += P^T dO      dP = dO V^T      dS = P * (dP - rowsum(P * dP)) * scale   (softmax backward)
//     dQ  = dS K        dK += dS^T Q
// dk and dv are sums over the NH/NKV query heads that share a kv head, hence the +=. The threads
// share out the (b, kv head) pairs and take the heads of a group one after the other, so no two
// threads ever add into the same element. datt holds one (T, T) matrix per thread.
static void attention_backward(float* dq,            // (B, T, NH, HD)   =
                               float* dk,            // (B, T, NKV, HD)  =
                               float* dv,            // (B, T, NKV, HD)  =
                               float* datt,          // (threads, T, T)  scratch
                               const float* dout,    // (B, T, NH, HD)
                               const float* q,       // (B, T, NH, HD)
                               const float* k,       // (B, T, NKV, HD)
                               const float* v,       // (B, T, NKV, HD)
                               const float* att,     // (B, NH, T, T)
                               const int* doc_start, // (B, T)
                               int B, int T, int NH, int NKV, int HD) {
    size_t QD = (size_t)NH * HD, KVD = (size_t)NKV * HD, TT = (size_t)T * T;
    float scale = 1.0f / sqrtf((float)HD);
    int group = NH / NKV;
    memset(dk, 0, (size_t)B * T * KVD * sizeof(float));
    memset(dv, 0, (size_t)B * T * KVD * sizeof(float));
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int b = 0; b < B; b++) {
        for (int kvh = 0; kvh < NKV; kvh++) {
#ifdef _OPENMP
            float* ds = datt + (size_t)omp_get_thread_num() * TT; // (T, T) dP, then dS
#else
            float* ds = datt;
#endif
            size_t kvoff = (size_t)b * T * KVD + (size_t)kvh * HD; // k, v, dk, dv of this head: (T, HD), rows KVD apart
            const int* doc_row = doc_start + (size_t)b * T;
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                size_t qoff = (size_t)b * T * QD + (size_t)h * HD; // q, dq, dout of this head: (T, HD), rows QD apart
                const float* p = att + ((size_t)b * NH + h) * TT;  // (T, T)
                memset(ds, 0, TT * sizeof(float));
                zero_rows(dq + qoff, T, HD, QD);
                for (int s = 0, e; s < T; s = e) { // one document [s, e): P, dP and dS are 0 outside its square
                    e = attention_doc_end(doc_row, s, T);
                    int n = e - s;
                    size_t qs = qoff + (size_t)s * QD, kvs = kvoff + (size_t)s * KVD;
                    const float* ps = p + (size_t)s * T + s;
                    float* dss = ds + (size_t)s * T + s;
                    matmul_packed(dv + kvs, KVD, ps, 1, T, dout + qs, QD, 1, n, n, HD); // dV += P^T dO
                    matmul_packed(dss, T, dout + qs, QD, 1, v + kvs, 1, KVD, n, HD, n); // dP = dO V^T
                    for (int t = s; t < e; t++) {
                        const float* pt = p + (size_t)t * T;
                        float* dst = ds + (size_t)t * T;
                        int t0 = doc_start[b * T + t];
                        float pdp = 0.0f; // sum_j P[t][j] dP[t][j]
                        for (int t2 = t0; t2 <= t; t2++) {
                            pdp += pt[t2] * dst[t2];
                        }
                        for (int t2 = s; t2 < e; t2++) { // outside the window P = 0, so dS = 0 there
                            dst[t2] = pt[t2] * (dst[t2] - pdp) * scale;
                        }
                    }
                    matmul_packed(dq + qs, QD, dss, T, 1, k + kvs, KVD, 1, n, n, HD); // dQ = dS K
                    matmul_packed(dk + kvs, KVD, dss, 1, T, q + qs, QD, 1, n, n, HD); // dK += dS^T Q
                }
            }
        }
    }
}

// --- SwiGLU MLP ------------------------------------------------------------------

// out = silu(gate) * up, with silu(x) = x * sigmoid(x) = x / (1 + exp(-x)) (as PyTorch's SiLU).
static void swiglu_forward(float* out,        // (B, T, I)
                           const float* gate, // (B, T, I)
                           const float* up,   // (B, T, I)
                           size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + exp_f32(-g)) * up[i];
    }
}

// silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x). dgate and dup are overwritten (=).
static void swiglu_backward(float* dgate,      // (B, T, I)  =
                            float* dup,        // (B, T, I)  =
                            const float* dout, // (B, T, I)
                            const float* gate, // (B, T, I)
                            const float* up,   // (B, T, I)
                            size_t n) {
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        float s = 1.0f / (1.0f + exp_f32(-g));
        dup[i] = dout[i] * g * s;
        dgate[i] = dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
    }
}

// --- residual ----------------------------------------------------------------------

// out = a + b: the skip connection around each block. (Its backward is the identity: the gradient
// flows unchanged to both inputs, which is why rmsnorm_backward and the layer loop use +=.)
static void residual_forward(float* out,     // (B, T, C)
                             const float* a, // (B, T, C)
                             const float* b, // (B, T, C)
                             size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        out[i] = a[i] + b[i];
    }
}

// --- LM head: log-probabilities and the loss ---------------------------------------
// logprobs[i] = log softmax(logits[i])[targets[i]], computed stably in fp32 as
// logits[target] - (max + log sum exp(logits - max)). Tokens whose target is -100 (the ignore index
// of PyTorch's cross_entropy) get log-prob 0 and no gradient. The log-sum-exp is kept for the
// backward pass, so the softmax is never stored.
#define IGNORE_INDEX (-100)
static void logprobs_forward(float* logprobs,     // (B, T)
                             float* lse,          // (B, T)
                             const float* logits, // (B, T, V)
                             const int* targets,  // (B, T)  -100 = ignored
                             int BT, int V) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* x = logits + (size_t)i * V;
        float maxval = -INFINITY;
#pragma omp simd reduction(max : maxval)
        for (int j = 0; j < V; j++) {
            maxval = x[j] > maxval ? x[j] : maxval;
        }
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < V; j++) {
            sum += exp_f32(x[j] - maxval);
        }
        lse[i] = maxval + logf(sum);
        int target = targets[i];
        if (target != IGNORE_INDEX && (target < 0 || target >= V)) {
            fatal("target %d at position %d is outside the vocabulary [0, %d) (use -100 to ignore a token)", target,
                  i, V);
        }
        logprobs[i] = target == IGNORE_INDEX ? 0.0f : x[target] - lse[i];
    }
}

// d logprob / d logits[j] = onehot(target)[j] - softmax[j], so dlogits = dlogprobs * (onehot - p).
// For the mean cross-entropy loss, dlogprobs = -1/n on each of the n counted tokens, giving the
// familiar (p - onehot) / n. dlogits is overwritten (=); ignored tokens get zeros.
static void logprobs_backward(float* dlogits,         // (B, T, V)  =
                              const float* dlogprobs, // (B, T)
                              const float* logits,    // (B, T, V)
                              const float* lse,       // (B, T)
                              const int* targets,     // (B, T)
                              int BT, int V) {
#pragma omp parallel for
    for (int i = 0; i < BT; i++) {
        const float* x = logits + (size_t)i * V;
        float* dx = dlogits + (size_t)i * V;
        if (targets[i] == IGNORE_INDEX || dlogprobs[i] == 0.0f) {
            memset(dx, 0, (size_t)V * sizeof(float));
            continue;
        }
        float g = dlogprobs[i], m = lse[i];
#pragma omp simd
        for (int j = 0; j < V; j++) {
            dx[j] = -g * exp_f32(x[j] - m);
        }
        dx[targets[i]] += g;
    }
}

// --- the whole model ---------------------------------------------------------------
// The activations of a forward pass, each a pointer into one contiguous buffer (as llm.c). Every
// tensor the backward pass needs is kept; per-layer tensors are stacked over the L layers.
#define NUM_ACTIVATION_TENSORS 21
typedef struct {
    float* encoded;  // (B, T, C)          token embeddings: the residual stream entering layer 0
    float* ln1;      // (L, B, T, C)       input_layernorm output
    float* ln1_rstd; // (L, B, T)          its 1/rms
    float* q;        // (L, B, T, NH, HD)  queries, after RoPE
    float* k;        // (L, B, T, NKV, HD) keys, after RoPE
    float* v;        // (L, B, T, NKV, HD) values
    float* att;      // (L, B, NH, T, T)   attention probabilities
    float* atty;     // (L, B, T, NH, HD)  attention output, the input of o_proj
    float* res2;     // (L, B, T, C)       residual stream after the attention block
    float* ln2;      // (L, B, T, C)       post_attention_layernorm output
    float* ln2_rstd; // (L, B, T)
    float* gate;     // (L, B, T, I)       gate_proj output
    float* up;       // (L, B, T, I)       up_proj output
    float* swiglu;   // (L, B, T, I)       silu(gate) * up, the input of down_proj
    float* res3;     // (L, B, T, C)       residual stream after the MLP block: the layer's output
    float* lnf;      // (B, T, C)          final norm output
    float* lnf_rstd; // (B, T)
    float* logits;   // (B, T, V)
    float* lse;      // (B, T)             log-sum-exp of each row of logits
    float* logprobs; // (B, T)             log p(target) for each token (0 where ignored)
    float* rope;     // (2, B, T, HD/2)    cos then sin of every token's angles
} ActivationTensors;

// Gradients of activations: only one layer's worth, reused from the top layer down.
#define NUM_GRAD_ACT_TENSORS 11
typedef struct {
    float* dres;      // (B, T, C)          gradient of the residual stream, carried down the layers
    float* dln;       // (B, T, C)          gradient of a norm's output (lnf, ln2 or ln1)
    float* dq;        // (B, T, NH, HD)
    float* dk;        // (B, T, NKV, HD)
    float* dv;        // (B, T, NKV, HD)
    float* datty;     // (B, T, NH, HD)
    float* datt;      // (threads, T, T)    attention backward scratch, one head per thread at a time
    float* dgate;     // (B, T, I)
    float* dup;       // (B, T, I)
    float* dswiglu;   // (B, T, I)
    float* dlogits;   // (B, T, V)
} GradActTensors;

typedef struct {
    Qwen2Config config;
    ParameterTensors params; // the weights, in one buffer of num_parameters floats
    float* params_memory;
    size_t num_parameters;
    ParameterTensors grads; // same layout as params; allocated by the first backward pass
    float* grads_memory;
    ActivationTensors acts; // sized for max_BT tokens, (re)allocated when a bigger batch comes
    float* acts_memory;
    GradActTensors grad_acts;
    float* grad_acts_memory;
    size_t acts_size, grad_acts_size; // floats allocated for acts and grad_acts (grown when a batch needs more)
    size_t max_BT;   // tokens the per-token buffers below hold
    int B, T;        // the batch of the last forward pass
    int* inputs;     // (B, T) token ids of the last forward pass
    int* targets;    // (B, T) what each position predicts: labels shifted left by one, -100 = ignored
    int* doc_start;  // (B, T) where each token's document begins (from the position ids)
    float* dlogprobs; // (B, T) gradient of the loss with respect to logprobs
    int num_targets; // tokens counted in the loss
    float loss;      // mean cross-entropy of the last forward pass with labels; -1 without labels
} Qwen2;

// Points the activation tensors into one buffer for B*T = BT tokens; returns the float count.
static size_t qwen2_point_acts(const Qwen2Config* c, ActivationTensors* a, float* memory, size_t BT, int T) {
    size_t L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    size_t NH = c->num_heads, HD = c->head_dim;
    size_t sizes[NUM_ACTIVATION_TENSORS] = {
        BT * C,      L * BT * C, L * BT,     L * BT * QD, L * BT * KVD, L * BT * KVD, L * BT * NH * T,
        L * BT * QD, L * BT * C, L * BT * C, L * BT,      L * BT * I,   L * BT * I,   L * BT * I,
        L * BT * C,  BT * C,     BT,         BT * V,      BT,           BT,           2 * BT * (HD / 2)};
    float** ptrs[NUM_ACTIVATION_TENSORS] = {
        &a->encoded, &a->ln1,  &a->ln1_rstd, &a->q,    &a->k,      &a->v,      &a->att,
        &a->atty,    &a->res2, &a->ln2,      &a->ln2_rstd, &a->gate, &a->up,   &a->swiglu,
        &a->res3,    &a->lnf,  &a->lnf_rstd, &a->logits, &a->lse,  &a->logprobs, &a->rope};
    size_t total = 0;
    for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) {
        if (memory) {
            *ptrs[i] = memory + total;
        }
        total += sizes[i];
    }
    return total;
}

static size_t qwen2_point_grad_acts(const Qwen2Config* c, GradActTensors* g, float* memory, size_t BT, int T) {
    size_t C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    size_t threads = 1;
#ifdef _OPENMP
    threads = (size_t)omp_get_max_threads();
#endif
    size_t sizes[NUM_GRAD_ACT_TENSORS] = {BT * C, BT * C, BT * QD, BT * KVD, BT * KVD, BT * QD,
                                          threads * T * T, BT * I, BT * I, BT * I, BT * V};
    float** ptrs[NUM_GRAD_ACT_TENSORS] = {&g->dres, &g->dln,   &g->dq,  &g->dk,      &g->dv,     &g->datty,
                                          &g->datt, &g->dgate, &g->dup, &g->dswiglu, &g->dlogits};
    size_t total = 0;
    for (int i = 0; i < NUM_GRAD_ACT_TENSORS; i++) {
        if (memory) {
            *ptrs[i] = memory + total;
        }
        total += sizes[i];
    }
    return total;
}

// A model with the given shape and all-zero weights (fill them with model_init_random, or use
// qwen2_load). Activations and gradients are allocated later, when first needed.
static void qwen2_build(Qwen2* m, const Qwen2Config* c) {
    memset(m, 0, sizeof(*m));
    m->config = *c;
    m->num_parameters = param_count(c);
    m->params_memory = param_point(c, &m->params, NULL);
    m->loss = -1.0f;
}

// Reads a Hugging Face model folder (config.json + safetensors) into a new model.
static void qwen2_load(Qwen2* m, const char* model_dir) {
    Qwen2Config c;
    config_load(&c, model_dir);
    memset(m, 0, sizeof(*m));
    m->config = c;
    m->num_parameters = param_count(&c);
    m->params_memory = model_load_weights(&c, &m->params, model_dir);
    m->loss = -1.0f;
}

static void qwen2_free(Qwen2* m) {
    free(m->params_memory);
    free(m->grads_memory);
    free(m->acts_memory);
    free(m->grad_acts_memory);
    free(m->inputs);
    free(m->targets);
    free(m->doc_start);
    free(m->dlogprobs);
    memset(m, 0, sizeof(*m));
}

// The forward pass: logits for every token and, when labels are given, the loss. Position ids say
// where each token sits in its document (0, 1, 2, ... restarting at 0 for each packed document).
// labels follow transformers' convention: labels[b, t] is the token at (b, t) itself (usually
// labels = input_ids with -100 on the tokens not to train on); the logits at t predict labels[t+1]
// and the loss is the mean of -log p over the counted tokens, exactly as Qwen2ForCausalLM.
static void qwen2_forward(Qwen2* m, const int* ids, const int* pos_ids, const int* labels, int B, int T) {
    Qwen2Config* c = &m->config;
    int L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int NH = c->num_heads, NKV = c->num_kv_heads, HD = c->head_dim;
    int QD = NH * HD, KVD = NKV * HD, BT = B * T;
    if (B <= 0 || T <= 0) {
        fatal("qwen2_forward: batch %d x %d is empty", B, T);
    }
    for (int i = 0; i < BT; i++) { // check the inputs before any work
        if (ids[i] < 0 || ids[i] >= V) {
            fatal("token id %d at position %d is outside the vocabulary [0, %d)", ids[i], i, V);
        }
        if (pos_ids[i] < 0) {
            fatal("position id %d at position %d is negative", pos_ids[i], i);
        }
        if (labels && labels[i] != IGNORE_INDEX && (labels[i] < 0 || labels[i] >= V)) {
            fatal("label %d at position %d is outside the vocabulary [0, %d) (use -100 to ignore a token)", labels[i],
                  i, V);
        }
    }
    // (re)allocate the activations when this batch needs more room than the last (the attention
    // matrices grow with B * T * T, the rest with B * T)
    size_t need = qwen2_point_acts(c, &m->acts, NULL, (size_t)BT, T);
    if (need > m->acts_size) {
        free(m->acts_memory);
        m->acts_memory = (float*)malloc_check(need * sizeof(float));
        m->acts_size = need;
    }
    if ((size_t)BT > m->max_BT) {
        free(m->inputs), free(m->targets), free(m->doc_start), free(m->dlogprobs);
        m->inputs = (int*)malloc_check((size_t)BT * sizeof(int));
        m->targets = (int*)malloc_check((size_t)BT * sizeof(int));
        m->doc_start = (int*)malloc_check((size_t)BT * sizeof(int));
        m->dlogprobs = (float*)malloc_check((size_t)BT * sizeof(float));
        m->max_BT = (size_t)BT;
    }
    qwen2_point_acts(c, &m->acts, m->acts_memory, (size_t)BT, T); // tensors packed for this B, T
    m->B = B;
    m->T = T;
    memcpy(m->inputs, ids, (size_t)BT * sizeof(int));
    ParameterTensors p = m->params;
    ActivationTensors a = m->acts;
    float* cosines = a.rope;
    float* sines = a.rope + (size_t)BT * (HD / 2);
    rope_tables(cosines, sines, pos_ids, BT, HD, c->rope_theta);
    attention_doc_starts(m->doc_start, pos_ids, B, T);

    embedding_forward(a.encoded, ids, p.embed, BT, C, V);
    for (int l = 0; l < L; l++) {
        size_t bc = (size_t)l * BT * C, bq = (size_t)l * BT * QD, bk = (size_t)l * BT * KVD;
        size_t bi = (size_t)l * BT * I;
        float* residual = l == 0 ? a.encoded : a.res3 + bc - (size_t)BT * C; // (B, T, C) layer input
        float* ln1 = a.ln1 + bc;                                              // (B, T, C)
        float* q = a.q + bq;                                                  // (B, T, NH, HD)
        float* k = a.k + bk;                                                  // (B, T, NKV, HD)
        float* v = a.v + bk;                                                  // (B, T, NKV, HD)
        float* att = a.att + (size_t)l * BT * NH * T;                         // (B, NH, T, T)
        float* atty = a.atty + bq;                                            // (B, T, NH, HD)
        float* res2 = a.res2 + bc;                                            // (B, T, C)
        float* ln2 = a.ln2 + bc;                                              // (B, T, C)
        float* res3 = a.res3 + bc;                                            // (B, T, C)
        // attention block: res2 = residual + o_proj(attention(rope(q), rope(k), v))
        rmsnorm_forward(ln1, a.ln1_rstd + (size_t)l * BT, residual, p.ln1 + (size_t)l * C, BT, C, c->rms_norm_eps);
        matmul_forward(q, ln1, p.wq + (size_t)l * QD * C, p.bq + (size_t)l * QD, BT, C, QD);
        matmul_forward(k, ln1, p.wk + (size_t)l * KVD * C, p.bk + (size_t)l * KVD, BT, C, KVD);
        matmul_forward(v, ln1, p.wv + (size_t)l * KVD * C, p.bv + (size_t)l * KVD, BT, C, KVD);
        rope_forward(q, cosines, sines, BT, NH, HD);
        rope_forward(k, cosines, sines, BT, NKV, HD);
        attention_forward(atty, att, q, k, v, m->doc_start, B, T, NH, NKV, HD);
        matmul_forward(res2, atty, p.wo + (size_t)l * C * QD, NULL, BT, QD, C);
        residual_forward(res2, res2, residual, (size_t)BT * C);
        // MLP block: res3 = res2 + down_proj(silu(gate_proj(x)) * up_proj(x)), x = norm(res2)
        rmsnorm_forward(ln2, a.ln2_rstd + (size_t)l * BT, res2, p.ln2 + (size_t)l * C, BT, C, c->rms_norm_eps);
        matmul_forward(a.gate + bi, ln2, p.wgate + (size_t)l * I * C, NULL, BT, C, I);
        matmul_forward(a.up + bi, ln2, p.wup + (size_t)l * I * C, NULL, BT, C, I);
        swiglu_forward(a.swiglu + bi, a.gate + bi, a.up + bi, (size_t)BT * I);
        matmul_forward(res3, a.swiglu + bi, p.wdown + (size_t)l * C * I, NULL, BT, I, C);
        residual_forward(res3, res3, res2, (size_t)BT * C);
    }
    float* last = a.res3 + (size_t)(L - 1) * BT * C; // (B, T, C)
    rmsnorm_forward(a.lnf, a.lnf_rstd, last, p.norm, BT, C, c->rms_norm_eps);
    matmul_forward(a.logits, a.lnf, p.lm_head, NULL, BT, C, V);

    if (labels == NULL) {
        m->loss = -1.0f;
        m->num_targets = 0;
        return;
    }
    // the shift: position t is scored on labels[t + 1]; the last position of a row predicts nothing
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            m->targets[b * T + t] = t + 1 < T ? labels[b * T + t + 1] : IGNORE_INDEX;
        }
    }
    logprobs_forward(a.logprobs, a.lse, a.logits, m->targets, BT, V);
    double sum = 0.0;
    int n = 0;
    for (int i = 0; i < BT; i++) {
        if (m->targets[i] != IGNORE_INDEX) {
            sum -= a.logprobs[i];
            n++;
        }
    }
    // transformers returns NaN (0/0) when every label is -100; we return 0 so a training loop survives
    m->num_targets = n;
    m->loss = n > 0 ? (float)(sum / n) : 0.0f;
}

static void qwen2_zero_grad(Qwen2* m) {
    if (m->grads_memory) {
        memset(m->grads_memory, 0, m->num_parameters * sizeof(float));
    }
}

// The gradient of the loss with respect to the logits of the last forward pass, (B, T, V): the
// buffer a loss writes into before qwen2_backward_from_dlogits (allocated here on first use, with
// the parameter gradients).
static float* qwen2_dlogits(Qwen2* m) {
    const Qwen2Config* c = &m->config;
    if (m->acts_memory == NULL || m->B == 0) {
        fatal("qwen2_backward: call qwen2_forward first");
    }
    if (m->grads_memory == NULL) {
        m->grads_memory = param_point(c, &m->grads, NULL); // zeroed
    }
    size_t need = qwen2_point_grad_acts(c, &m->grad_acts, NULL, (size_t)m->B * m->T, m->T);
    if (need > m->grad_acts_size) {
        free(m->grad_acts_memory);
        m->grad_acts_memory = (float*)malloc_check(need * sizeof(float));
        m->grad_acts_size = need;
    }
    qwen2_point_grad_acts(c, &m->grad_acts, m->grad_acts_memory, (size_t)m->B * m->T, m->T);
    return m->grad_acts.dlogits;
}

// The backward pass, from the gradient of the logits in qwen2_dlogits(m) down to the embedding.
// Gradients are added (+=) into m->grads.
static void qwen2_backward_from_dlogits(Qwen2* m) {
    Qwen2Config* c = &m->config;
    int B = m->B, T = m->T, BT = B * T;
    int L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int NH = c->num_heads, NKV = c->num_kv_heads, HD = c->head_dim;
    int QD = NH * HD, KVD = NKV * HD;
    qwen2_dlogits(m); // makes sure the buffers exist
    ParameterTensors p = m->params, g = m->grads;
    ActivationTensors a = m->acts;
    GradActTensors d = m->grad_acts;
    float* cosines = a.rope;
    float* sines = a.rope + (size_t)BT * (HD / 2);

    // LM head and final norm
    memset(d.dln, 0, (size_t)BT * C * sizeof(float));
    matmul_backward(d.dln, g.lm_head, NULL, d.dlogits, a.lnf, p.lm_head, BT, C, V); // tied: g.lm_head == g.embed
    memset(d.dres, 0, (size_t)BT * C * sizeof(float));
    rmsnorm_backward(d.dres, g.norm, d.dln, a.res3 + (size_t)(L - 1) * BT * C, p.norm, a.lnf_rstd, BT, C);

    for (int l = L - 1; l >= 0; l--) {
        size_t bc = (size_t)l * BT * C, bq = (size_t)l * BT * QD, bk = (size_t)l * BT * KVD;
        size_t bi = (size_t)l * BT * I;
        float* residual = l == 0 ? a.encoded : a.res3 + bc - (size_t)BT * C; // (B, T, C)
        // MLP block. d.dres is the gradient of res3; the skip connection passes it to res2 as is,
        // and the MLP branch adds its share through rmsnorm_backward's +=.
        memset(d.dswiglu, 0, (size_t)BT * I * sizeof(float));
        matmul_backward(d.dswiglu, g.wdown + (size_t)l * C * I, NULL, d.dres, a.swiglu + bi, p.wdown + (size_t)l * C * I,
                        BT, I, C);
        swiglu_backward(d.dgate, d.dup, d.dswiglu, a.gate + bi, a.up + bi, (size_t)BT * I);
        memset(d.dln, 0, (size_t)BT * C * sizeof(float));
        matmul_backward(d.dln, g.wgate + (size_t)l * I * C, NULL, d.dgate, a.ln2 + bc, p.wgate + (size_t)l * I * C, BT, C, I);
        matmul_backward(d.dln, g.wup + (size_t)l * I * C, NULL, d.dup, a.ln2 + bc, p.wup + (size_t)l * I * C, BT, C, I);
        rmsnorm_backward(d.dres, g.ln2 + (size_t)l * C, d.dln, a.res2 + bc, p.ln2 + (size_t)l * C,
                         a.ln2_rstd + (size_t)l * BT, BT, C);
        // attention block: d.dres is now the gradient of res2
        memset(d.datty, 0, (size_t)BT * QD * sizeof(float));
        matmul_backward(d.datty, g.wo + (size_t)l * C * QD, NULL, d.dres, a.atty + bq, p.wo + (size_t)l * C * QD, BT, QD, C);
        attention_backward(d.dq, d.dk, d.dv, d.datt, d.datty, a.q + bq, a.k + bk, a.v + bk,
                           a.att + (size_t)l * BT * NH * T, m->doc_start, B, T, NH, NKV, HD);
        rope_backward(d.dq, cosines, sines, BT, NH, HD);
        rope_backward(d.dk, cosines, sines, BT, NKV, HD);
        memset(d.dln, 0, (size_t)BT * C * sizeof(float));
        matmul_backward(d.dln, g.wq + (size_t)l * QD * C, g.bq + (size_t)l * QD, d.dq, a.ln1 + bc, p.wq + (size_t)l * QD * C,
                        BT, C, QD);
        matmul_backward(d.dln, g.wk + (size_t)l * KVD * C, g.bk + (size_t)l * KVD, d.dk, a.ln1 + bc,
                        p.wk + (size_t)l * KVD * C, BT, C, KVD);
        matmul_backward(d.dln, g.wv + (size_t)l * KVD * C, g.bv + (size_t)l * KVD, d.dv, a.ln1 + bc,
                        p.wv + (size_t)l * KVD * C, BT, C, KVD);
        rmsnorm_backward(d.dres, g.ln1 + (size_t)l * C, d.dln, residual, p.ln1 + (size_t)l * C,
                         a.ln1_rstd + (size_t)l * BT, BT, C);
    }
    embedding_backward(g.embed, d.dres, m->inputs, BT, C);
}

// Backward from any gradient of the per-token log-probs of the last forward pass with labels
// (dlogprobs, (B, T)): the mean cross-entropy uses -1/n on each counted token (qwen2_backward); a
// trainer may pass its own per-token weights. Gradients are added (+=) into m->grads.
static void qwen2_backward_logprobs(Qwen2* m, const float* dlogprobs) {
    if (m->loss < 0.0f) {
        fatal("qwen2_backward: the last qwen2_forward had no labels, so there is no loss to differentiate");
    }
    float* dlogits = qwen2_dlogits(m);
    logprobs_backward(dlogits, dlogprobs, m->acts.logits, m->acts.lse, m->targets, m->B * m->T, m->config.vocab_size);
    qwen2_backward_from_dlogits(m);
}

// Backward of the mean cross-entropy loss computed by the last qwen2_forward with labels.
static void qwen2_backward(Qwen2* m) {
    int BT = m->B * m->T;
    if (m->loss < 0.0f) {
        fatal("qwen2_backward: the last qwen2_forward had no labels, so there is no loss to differentiate");
    }
    for (int i = 0; i < BT; i++) {
        m->dlogprobs[i] = m->targets[i] != IGNORE_INDEX ? -1.0f / m->num_targets : 0.0f;
    }
    qwen2_backward_logprobs(m, m->dlogprobs);
}

// ----------------------------------------------------------------------------
// optimizer: gradient clipping, AdamW, learning-rate schedules
// One training update, as the Hugging Face Trainer (and so TRL's SFT and GRPO trainers) takes it:
//   1. norm = the global L2 norm of all gradients; if the loss or the norm is not finite, skip the
//      update altogether (the Trainer would write NaN into every weight; we count the skip instead)
//   2. clip: scale every gradient by min(1, max_norm / (norm + 1e-6))      (clip_grad_norm_)
//   3. lr  = the schedule's value for this update                           (transformers schedules)
//   4. AdamW with decoupled weight decay, only on the matrices              (torch.optim.AdamW)
// Each step is written to give the same numbers as the PyTorch code it names; tests/test_optim.c
// checks them against fixtures made by dev/oracle/optim_oracle.py from torch and transformers.

// The L2 norm of n gradients, accumulated in double. Why double: a float sum of a billion squares
// stops growing once the sum is 2^24 times bigger than a term (every further term rounds away), and
// a double sum also makes the result nearly independent of how OpenMP splits the loop.
static float grad_norm(const float* g, size_t n) {
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum)
    for (size_t i = 0; i < n; i++) {
        sum += (double)g[i] * (double)g[i];
    }
    return (float)sqrt(sum);
}

// Global-norm clipping as torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped
// to 1, so gradients are only ever scaled down. Returns the norm *before* clipping (what the Trainer
// logs as grad_norm). A non-finite norm leaves g untouched: the caller must skip this update.
static float clip_grad_norm(float* g, size_t n, float max_norm) {
    float norm = grad_norm(g, n);
    if (!isfinite(norm) || max_norm <= 0.0f) {
        return norm;
    }
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) {
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) {
            g[i] *= coef;
        }
    }
    return norm;
}

// The non-finite guard: returns 1 when the update may be applied, 0 when it must be skipped because
// the loss or the gradient norm is NaN or infinite. Keeps *consecutive_skips up to date so the
// training loop can stop after too many bad steps in a row (a diverged run, not a one-off spike).
static int update_is_finite(float loss, float norm, int* consecutive_skips) {
    int ok = isfinite(loss) && isfinite(norm);
    if (consecutive_skips) {
        *consecutive_skips = ok ? 0 : *consecutive_skips + 1;
    }
    return ok;
}

// ----------------------------------------------------------------------------
// AdamW
// Written in the order of torch.optim.AdamW's for-loop implementation (torch/optim/adam.py,
// _single_tensor_adam with decoupled_weight_decay=True), so the float rounding matches too:
//   p  = p * (1 - lr * wd)                 decay first, on the old weights ("decoupled": not via g)
//   m  = m + (1 - beta1) * (g - m)         torch's lerp_ (the same as beta1 * m + (1 - beta1) * g)
//   v  = v * beta2 + (1 - beta2) * g * g
//   p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// t is the 1-based count of updates applied so far, this one included. eps sits outside the square
// root and is added after the bias correction, as torch does (some papers put it elsewhere).

typedef struct {
    float beta1, beta2, eps; // Trainer defaults 0.9, 0.999, 1e-8 (TRL GRPO recipes often use 0.9, 0.99)
    float weight_decay;      // Trainer default 0.0; applied to matrices only (see param_decays)
} AdamWConfig;

static AdamWConfig adamw_config_default(void) {
    AdamWConfig c = {0.9f, 0.999f, 1e-8f, 0.0f};
    return c;
}

// One AdamW update of n parameters (one tensor, or any slice of the flat buffer). The CUDA kernel
// adamw_update_kernel takes the same arguments.
static void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, int t, float lr,
                         float beta1, float beta2, float eps, float weight_decay) {
    // scalars in double, as Python computes them, then rounded once to float
    float decay = (float)(1.0 - (double)lr * weight_decay);
    float step_size = (float)((double)lr / (1.0 - pow(beta1, t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(beta2, t));
    float w1 = (float)(1.0 - (double)beta1), w2 = (float)(1.0 - (double)beta2);
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float p = weight_decay != 0.0f ? params[i] * decay : params[i];
        m[i] = m[i] + w1 * (g - m[i]);
        v[i] = v[i] * beta2 + w2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        params[i] = p + (-step_size) * (m[i] / denom);
    }
}

// Which parameters get weight decay, decided from the Hugging Face name exactly as
// Trainer.get_decay_parameter_names decides it: no decay when the lower-cased name contains "bias",
// "layernorm" or "rmsnorm", has a dotted component "norm", or has "_norm" ending a component.
// For Qwen2 that leaves every matrix decayed, the embedding and an untied lm_head included, and the
// q/k/v biases, input_layernorm, post_attention_layernorm and model.norm undecayed: the same split
// as PARAM_MATRIX versus PARAM_BIAS / PARAM_NORM in PARAM_SPECS.
static int param_decays(const char* hf_name) {
    char low[256];
    size_t n = strlen(hf_name);
    if (n >= sizeof(low)) {
        n = sizeof(low) - 1;
    }
    for (size_t i = 0; i < n; i++) {
        low[i] = (char)tolower((unsigned char)hf_name[i]);
    }
    low[n] = '\0';
    if (strstr(low, "bias") || strstr(low, "layernorm") || strstr(low, "rmsnorm")) {
        return 0;
    }
    for (const char* s = low; (s = strstr(s, "norm")) != NULL; s += 4) {
        int starts = s == low || s[-1] == '.' || s[-1] == '_';
        int ends = s[4] == '\0' || s[4] == '.';
        if (starts && ends) { // ".norm." / "^norm" / "norm$" / "_norm." / "_norm$"
            return 0;
        }
    }
    return 1;
}

// AdamW over a whole model's flat buffers (params, grads, m, v all laid out as param_point lays
// them out): one adamw_update per tensor, with weight decay only where param_decays says so.
static void adamw_update_model(const Qwen2Config* c, float* params, const float* grads, float* m, float* v, int t,
                               float lr, const AdamWConfig* cfg) {
    size_t sizes[NUM_PARAM_TENSORS + 1], at = 0;
    param_sizes(c, sizes);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        float wd = param_decays(PARAM_SPECS[i].hf_name) ? cfg->weight_decay : 0.0f;
        adamw_update(params + at, grads + at, m + at, v + at, sizes[i], t, lr, cfg->beta1, cfg->beta2, cfg->eps, wd);
        at += sizes[i];
    }
}

// ----------------------------------------------------------------------------
// learning-rate schedules
// As transformers.get_scheduler computes them. The schedule is a function of `step`, the number of
// updates already applied: update number t (1-based) uses lr_at_step(s, t - 1), because the Trainer
// calls optimizer.step() before scheduler.step(). So with warmup the very first update has lr 0.

typedef enum {
    LR_CONSTANT,             // "constant"
    LR_CONSTANT_WITH_WARMUP, // "constant_with_warmup"
    LR_LINEAR,               // "linear": warmup, then straight down to 0 at total_steps (Trainer default)
    LR_COSINE,               // "cosine": warmup, then half a cosine (num_cycles 0.5) down to 0
    LR_COSINE_WITH_MIN_LR,   // "cosine_with_min_lr": the cosine ends at min_lr_rate * lr instead of 0
} LrScheduleType;

typedef struct {
    LrScheduleType type;
    float lr;          // peak learning rate (the optimizer's lr in PyTorch)
    int warmup_steps;  // linear warmup from 0 over this many updates
    int total_steps;   // num_training_steps
    float num_cycles;  // cosine only: 0.5 = half a wave, from lr down to the minimum
    float min_lr_rate; // cosine_with_min_lr: the floor as a fraction of lr (set min_lr_rate = min_lr / lr
                       // when the floor is given as an absolute min_lr, as transformers does)
} LrSchedule;

static LrSchedule lr_schedule_make(LrScheduleType type, float lr, int warmup_steps, int total_steps) {
    LrSchedule s = {type, lr, warmup_steps, total_steps, 0.5f, 0.0f};
    return s;
}

// "cosine" -> LR_COSINE etc. (the Trainer's lr_scheduler_type names); fatal on an unknown name.
static LrScheduleType lr_schedule_from_name(const char* name) {
    static const char* names[] = {"constant", "constant_with_warmup", "linear", "cosine", "cosine_with_min_lr"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(name, names[i]) == 0) {
            return (LrScheduleType)i;
        }
    }
    fatal("unknown lr schedule '%s' (use constant, constant_with_warmup, linear, cosine or cosine_with_min_lr)",
          name);
    return LR_CONSTANT;
}

// The multiplier of the peak lr (LambdaLR's lambda), computed in double as in Python.
static double lr_lambda(const LrSchedule* s, int step) {
    double w = s->warmup_steps, total = s->total_steps;
    if (s->type == LR_CONSTANT) {
        return 1.0;
    }
    if (step < s->warmup_steps) { // linear warmup from 0
        return (double)step / (w > 1.0 ? w : 1.0);
    }
    if (s->type == LR_CONSTANT_WITH_WARMUP) {
        return 1.0;
    }
    double span = total - w > 1.0 ? total - w : 1.0;
    if (s->type == LR_LINEAR) {
        double f = (total - step) / span;
        return f > 0.0 ? f : 0.0;
    }
    double progress = (step - w) / span;
    double f = 0.5 * (1.0 + cos(3.14159265358979323846 * (double)s->num_cycles * 2.0 * progress));
    if (s->type == LR_COSINE_WITH_MIN_LR) {
        f = f * (1.0 - (double)s->min_lr_rate) + (double)s->min_lr_rate;
    }
    return f > 0.0 ? f : 0.0;
}

static float lr_at_step(const LrSchedule* s, int step) {
    return (float)((double)s->lr * lr_lambda(s, step));
}

// Warmup given as a fraction of the run (warmup < 1, e.g. 0.1) or as a step count (warmup >= 1),
// rounded as TrainingArguments.get_warmup_steps rounds it: ceil(total * fraction).
static int lr_warmup_steps(double warmup, int total_steps) {
    return warmup >= 1.0 ? (int)warmup : (int)ceil(total_steps * warmup);
}

// ----------------------------------------------------------------------------
// one update, start to end
// The order of the Trainer's training loop: gradient norm, clip, AdamW at the schedule's lr. Two
// details follow the Trainer too: clipping is off when max_grad_norm <= 0, and the schedule only
// moves when an update is applied (it skips scheduler.step() when the optimizer step was skipped),
// so `updates` is both AdamW's step count and the schedule's position.

typedef struct {
    AdamWConfig adamw;
    LrSchedule schedule;
    float max_grad_norm;   // 1.0 in the Trainer; <= 0 turns clipping off
    int updates;           // updates applied so far
    int consecutive_skips; // non-finite steps in a row (stop the run when this gets large)
    int total_skips;
    float last_grad_norm;  // for the metrics log: the norm before clipping
    float last_lr;         // the lr of the last applied update
} Optimizer;

// Applies one update to params (m and v are AdamW's moments, all laid out as param_point lays them
// out). grads are scaled in place by the clipping. Returns 1 when the update was applied, 0 when it
// was skipped because the loss or the gradient norm is not finite; then params, m, v and the step
// count are left as they were (the gradients may have been scaled: they are rebuilt next step anyway).
static int optimizer_step(Optimizer* o, const Qwen2Config* c, float* params, float* grads, float* m, float* v,
                          float loss) {
    size_t n = param_count(c);
    o->last_grad_norm = o->max_grad_norm > 0.0f ? clip_grad_norm(grads, n, o->max_grad_norm) : grad_norm(grads, n);
    if (!update_is_finite(loss, o->last_grad_norm, &o->consecutive_skips)) {
        o->total_skips++;
        return 0;
    }
    o->last_lr = lr_at_step(&o->schedule, o->updates);
    o->updates++;
    adamw_update_model(c, params, grads, m, v, o->updates, o->last_lr, &o->adamw);
    return 1;
}

// ----------------------------------------------------------------------------
// ZeRO-1: one update split over several GPUs (data parallel)
// With W data-parallel ranks, each rank runs forward and backward on its own part of the batch and
// ends with its own gradients. ZeRO stage 1 (Rajbhandari et al. 2019) then splits the optimizer: the
// flat parameter buffer is cut into W contiguous shards, and rank r keeps AdamW's moments for shard r
// only (8 bytes per parameter become 8/W) and updates only those weights. One update:
//   1. reduce-scatter: rank r receives, for its shard, the sum of the gradients of all ranks
//   2. all-reduce of the shards' squared norms: every rank gets the global norm (skip and clip as
//      optimizer_step does)
//   3. AdamW on the shard, each element with the weight decay of the tensor it lies in (shard
//      boundaries ignore tensor boundaries)
//   4. all-gather: every rank receives every rank's updated shard
// This is optimizer_step on the summed gradients, element for element; only the norm is summed in
// another order (shard by shard), so a clipped update may differ in the last bit. train_sft.cu does
// it with NCCL on real GPUs; optimizer_step_zero1_virtual below is the same thing over W virtual ranks
// in one process, the reference tests/test_optim.c checks against optimizer_step.

// Shards are a multiple of 64 elements long, so every shard starts 256-byte aligned (fp32) and the
// GPU kernels get aligned pointers. NCCL's reduce-scatter and all-gather move equal counts per rank,
// so the GPU buffers they touch hold zero1_padded_count elements: W whole shards, the tail past n
// padding (zero in the gradients, never read as a weight).
static size_t zero1_shard_size(size_t n, int world) {
    size_t per_rank = (n + (size_t)world - 1) / (size_t)world;
    return (per_rank + 63) / 64 * 64;
}

static size_t zero1_padded_count(size_t n, int world) { return zero1_shard_size(n, world) * (size_t)world; }

// Rank `rank`'s shard [begin, end) of n elements. The shards of ranks 0..world-1 follow each other and
// cover [0, n) exactly once; when n is small the last ranks get empty shards (begin == end == n).
static void zero1_shard(size_t n, int rank, int world, size_t* begin, size_t* end) {
    if (world < 1 || rank < 0 || rank >= world) {
        fatal("zero1_shard: rank %d of a world of %d", rank, world);
    }
    size_t size = zero1_shard_size(n, world), b = (size_t)rank * size;
    *begin = b < n ? b : n;
    *end = b + size < n ? b + size : n;
}

// AdamW on the shard [begin, end) of a model's flat buffers: params and grads are whole (n), m and v
// hold the shard's moments only (m[0] belongs to element begin). Each tensor's piece inside the shard
// gets adamw_update with that tensor's weight decay, so the shards together do what adamw_update_model
// does, bit for bit (the update is element-wise with the same scalars).
static void adamw_update_shard(const Qwen2Config* c, float* params, const float* grads, float* m, float* v,
                               size_t begin, size_t end, int t, float lr, const AdamWConfig* cfg) {
    size_t sizes[NUM_PARAM_TENSORS + 1], at = 0;
    param_sizes(c, sizes);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        size_t lo = at > begin ? at : begin, hi = at + sizes[i] < end ? at + sizes[i] : end;
        if (lo < hi) {
            float wd = param_decays(PARAM_SPECS[i].hf_name) ? cfg->weight_decay : 0.0f;
            adamw_update(params + lo, grads + lo, m + (lo - begin), v + (lo - begin), hi - lo, t, lr, cfg->beta1,
                         cfg->beta2, cfg->eps, wd);
        }
        at += sizes[i];
    }
}

// One ZeRO-1 update over `world` virtual ranks: the CPU reference of what the GPUs do with NCCL.
// Rank r has its own copy of the weights params[r] (n), its own gradients grads[r] (n, from its part
// of the batch) and the moments of its shard only, m[r] and v[r] (zero1_shard's end - begin each).
// Returns what optimizer_step returns. After an applied update every params[r] holds the same new
// weights and the shard of grads[r] holds the summed, clipped gradient (the rest of grads[r] is left
// as it was). The sum over ranks is taken in rank order in float; the norm in double, shard by shard.
static int optimizer_step_zero1_virtual(Optimizer* o, const Qwen2Config* c, int world, float* const* params,
                                        float* const* grads, float* const* m, float* const* v, float loss) {
    size_t n = param_count(c);
    double sumsq = 0.0;
    for (int r = 0; r < world; r++) {
        size_t b, e;
        zero1_shard(n, r, world, &b, &e);
        double shard_sumsq = 0.0;
        for (size_t i = b; i < e; i++) { // 1. reduce-scatter (shards are disjoint: nothing is summed twice)
            float s = grads[0][i];
            for (int q = 1; q < world; q++) {
                s += grads[q][i];
            }
            grads[r][i] = s;
            shard_sumsq += (double)s * (double)s;
        }
        sumsq += shard_sumsq; // 2. the all-reduce of the squared norms
    }
    o->last_grad_norm = (float)sqrt(sumsq);
    if (!update_is_finite(loss, o->last_grad_norm, &o->consecutive_skips)) {
        o->total_skips++;
        return 0;
    }
    float coef = o->max_grad_norm / (o->last_grad_norm + 1e-6f); // clip_grad_norm's coefficient
    o->last_lr = lr_at_step(&o->schedule, o->updates);
    o->updates++;
    for (int r = 0; r < world; r++) { // 3. each rank clips and updates its shard
        size_t b, e;
        zero1_shard(n, r, world, &b, &e);
        for (size_t i = b; i < e && o->max_grad_norm > 0.0f && coef < 1.0f; i++) {
            grads[r][i] *= coef;
        }
        adamw_update_shard(c, params[r], grads[r], m[r], v[r], b, e, o->updates, o->last_lr, &o->adamw);
    }
    for (int r = 0; r < world; r++) { // 4. all-gather
        size_t b, e;
        zero1_shard(n, r, world, &b, &e);
        for (int q = 0; q < world; q++) {
            if (q != r && e > b) {
                memcpy(params[q] + b, params[r] + b, (e - b) * sizeof(float));
            }
        }
    }
    return 1;
}

// ----------------------------------------------------------------------------
// optimizer state on disk, for resuming a run
// Saved next to a checkpoint as a safetensors file: AdamW's moments over the flat parameter buffer
// ("exp_avg" = m, "exp_avg_sq" = v, the names torch gives them) and the counters, so a resumed run
// continues exactly where it stopped (same step count, same lr, same moments). The schedule and the
// AdamW settings are not saved: they come from the command line again.

static void optimizer_save(const char* path, const Optimizer* o, const float* m, const float* v, size_t n) {
    int32_t counters[3] = {o->updates, o->consecutive_skips, o->total_skips};
    SafetensorsTensor t[3] = {
        {"exp_avg", "F32", 1, {n}, m},
        {"exp_avg_sq", "F32", 1, {n}, v},
        {"counters", "I32", 1, {3}, counters}, // updates, consecutive_skips, total_skips
    };
    safetensors_write(path, t, 3);
}

// Loads what optimizer_save wrote into o's counters and m, v (n floats each); the file must have been
// saved for a model of the same size.
static void optimizer_load(const char* path, Optimizer* o, float* m, float* v, size_t n) {
    Safetensors st;
    safetensors_open(&st, path);
    const char* names[3] = {"exp_avg", "exp_avg_sq", "counters"};
    size_t want[3] = {n, n, 3};
    const SafetensorsEntry* e[3];
    for (int i = 0; i < 3; i++) {
        e[i] = safetensors_find(&st, names[i]);
        if (e[i] == NULL) {
            fatal("%s: no tensor \"%s\": not an r1 optimizer state file", path, names[i]);
        }
        if (safetensors_numel(e[i]) != want[i]) {
            fatal("%s: \"%s\" holds %zu values, expected %zu: was it saved for a model of another size?", path,
                  names[i], safetensors_numel(e[i]), want[i]);
        }
    }
    int32_t counters[3];
    safetensors_read_f32(&st, e[0], m);
    safetensors_read_f32(&st, e[1], v);
    safetensors_read_i32(&st, e[2], counters);
    safetensors_close(&st);
    if (counters[0] < 0 || counters[1] < 0 || counters[2] < 0) {
        fatal("%s: negative step counters (%d, %d, %d): corrupt file", path, counters[0], counters[1], counters[2]);
    }
    o->updates = counters[0], o->consecutive_skips = counters[1], o->total_skips = counters[2];
}

// ----------------------------------------------------------------------------
// data: the Countdown task, its prompts, and the SFT data readers
// R1-Zero style RL needs problems with a checkable answer; TinyZero's favourite is Countdown ("using
// the numbers [44, 19, 35], make 98 with + - * /"). We generate it ourselves, with the algorithm of
// Stream-of-Search (kanishkg/stream-of-search, src/countdown.py) that the published 3-to-4-number set
// is consistent with, and we also write down the generator's search as a "thinking" trace, so the
// same problems can teach the <think> format by SFT (the cold start) before RL.
// The SFT readers then take data sets as they are published (jsonl or one JSON array: chat
// `messages`, MATH `problem/solution/answer`, GSM8K `question/answer`, teacher traces with a
// separate thinking part, Countdown rows) into one struct: system, prompt, thinking, answer.

// Python's str() of a list of ints: "[44, 19, 35]". TinyZero puts the numbers into the prompt this way.
static void sb_python_list(StrBuf* b, const long long* v, int n) {
    sb_append(b, "[", 1);
    for (int i = 0; i < n; i++) {
        sb_printf(b, i ? ", %lld" : "%lld", v[i]);
    }
    sb_append(b, "]", 1);
}

// Fills "{key}" placeholders of a template: keys[i] -> values[i]. Unknown {words} stay as they are.
static char* template_fill(const char* tmpl, const char* const* keys, const char* const* values, int n) {
    StrBuf b;
    sb_init(&b);
    for (const char* s = tmpl; *s;) {
        int hit = -1;
        if (*s == '{') {
            for (int i = 0; i < n && hit < 0; i++) {
                size_t kl = strlen(keys[i]);
                if (strncmp(s + 1, keys[i], kl) == 0 && s[1 + kl] == '}') {
                    hit = i;
                }
            }
        }
        if (hit >= 0) {
            sb_append(&b, values[hit], strlen(values[hit]));
            s += strlen(keys[hit]) + 2;
        } else {
            sb_append(&b, s++, 1);
        }
    }
    return b.s;
}

// ----------------------------------------------------------------------------
// Countdown: the Stream-of-Search generator
// The algorithm, as countdown_generate.py and countdown.py run it:
//   - the targets min_target..max_target (10..100) are shuffled once per seed; the first 10% are held
//     out (the "val_target" split: targets never seen in training), the rest are training targets;
//   - a problem draws n = 3 or 4, a target from its split, then draws n numbers in 1..max_target-1
//     until a depth-first search finds a way to reach the target using every number exactly once;
//   - the search takes pairs (i, j), i < j, in order, and replaces them with a+b, a*b, the larger
//     minus the smaller, or the larger divided by the smaller when that is exact; it keeps the first
//     solution found. So every problem has an integer-only solution (the reward accepts any).
// Our random numbers come from the xorshift generator above, so the problems are not Python's, but
// the rules, the ranges and the search order are the same; the oracle checks the rest.

#define COUNTDOWN_MAX_NUMS 6

typedef struct {
    int min_nums, max_nums; // how many numbers a problem has: 3..4 ("Countdown-Tasks-3to4")
    int min_target;         // 10
    int max_target;         // 100; the numbers are drawn from 1..max_target-1
    int trace_lines;        // the thinking trace shows at most this many search lines, then "..."
} CountdownConfig;

static CountdownConfig countdown_config_default(void) {
    CountdownConfig c = {3, 4, 10, 100, 12};
    return c;
}

typedef struct {
    int n;
    int nums[COUNTDOWN_MAX_NUMS];
    int target;
    char* solution; // the equation, e.g. "35 + (44 + 19)", as the <answer> should hold it
    char* thinking; // the search, written out (see countdown_search)
} CountdownProblem;

// One step of the search: the pair (i, j) of the current list and which of combine's results.
typedef struct {
    int i, j, k;
} CountdownMove;

// The results of combining a and b, in Stream-of-Search's order (countdown_utils.combine_nums).
// x op y is the step as written: the larger number first for - and /.
typedef struct {
    long long r, x, y;
    char op;
} CountdownCombo;

static int countdown_combine(long long a, long long b, CountdownCombo out[4]) {
    int n = 0;
    long long hi = a, lo = b; // "a-b" when a > b, else "b-a" (so a == b is written "b-a", as combine_nums does)
    if (a <= b) {
        hi = b, lo = a;
    }
    out[n++] = (CountdownCombo){a + b, a, b, '+'};
    out[n++] = (CountdownCombo){a * b, a, b, '*'};
    out[n++] = (CountdownCombo){hi - lo, hi, lo, '-'};
    if (lo != 0 && hi % lo == 0) {
        out[n++] = (CountdownCombo){hi / lo, hi, lo, '/'};
    }
    return n;
}

// Writing the search down. Each line is one step of the search; the last two numbers' results
// share their parent's line:
//     44+19=63, left [35, 63]: 35+63=98 (no), 35*63=2205 (no), 63-35=28 (no)
// and with four numbers the first step has its own line and the second steps are indented under it.
// After `max_lines` lines the trace says "..." and jumps to the path that was found.
typedef struct {
    StrBuf* out; // NULL: search only
    int lines, max_lines, cut;
    int target;
} CountdownTrace;

static void countdown_write_step(CountdownTrace* t, int depth, const CountdownCombo* c, const long long* left, int n) {
    for (int d = 0; d < depth; d++) {
        sb_append(t->out, "  ", 2);
    }
    sb_printf(t->out, "%lld%c%lld=%lld, left ", c->x, c->op, c->y, c->r);
    sb_python_list(t->out, left, n);
    t->lines++;
}

// The last two numbers: try each result against the target. Returns the k that hits, or -1.
static int countdown_leaves(CountdownTrace* t, const long long* two, int write) {
    CountdownCombo c[4];
    int nc = countdown_combine(two[0], two[1], c);
    for (int k = 0; k < nc; k++) {
        int hit = c[k].r == t->target;
        if (write) {
            sb_printf(t->out, "%s%lld%c%lld=%lld (%s)", k ? ", " : ": ", c[k].x, c[k].op, c[k].y, c[k].r, hit ? "yes" : "no");
        }
        if (hit) {
            return k;
        }
    }
    return -1;
}

// Depth-first search over (i, j) pairs as Stream-of-Search's CountDown.search. moves[depth..] gets
// the path when a solution is found (returns 1).
static int countdown_dfs(CountdownTrace* t, const long long* nums, int n, CountdownMove* moves, int depth) {
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            long long next[COUNTDOWN_MAX_NUMS];
            int m = 0;
            for (int k = 0; k < n; k++) { // the rest in order, then the result last
                if (k != i && k != j) {
                    next[m++] = nums[k];
                }
            }
            CountdownCombo c[4];
            int nc = countdown_combine(nums[i], nums[j], c);
            for (int k = 0; k < nc; k++) {
                next[m] = c[k].r;
                moves[depth] = (CountdownMove){i, j, k};
                int write = t->out && !t->cut;
                if (write && t->lines >= t->max_lines) {
                    t->cut = 1, write = 0;
                }
                if (write) {
                    if (t->lines > 0) {
                        sb_append(t->out, "\n", 1);
                    }
                    countdown_write_step(t, depth, &c[k], next, m + 1);
                }
                if (m + 1 == 2) {
                    int hit = countdown_leaves(t, next, write);
                    if (hit >= 0) {
                        moves[depth + 1] = (CountdownMove){0, 1, hit};
                        return 1;
                    }
                } else if (m + 1 == 1 ? next[0] == t->target : countdown_dfs(t, next, m + 1, moves, depth + 1)) {
                    return 1;
                }
            }
        }
    }
    return 0;
}

// Replays a path of moves: writes the equation into `expr`, the steps ("44+19=63, 35+63=98", as
// Stream-of-Search lists its operations) into `steps` when set, and the path's lines into the trace.
static void countdown_replay(const int* nums, int n, const CountdownMove* moves, CountdownTrace* trace, StrBuf* expr,
                             StrBuf* steps) {
    long long v[COUNTDOWN_MAX_NUMS];
    char* e[COUNTDOWN_MAX_NUMS];
    for (int i = 0; i < n; i++) {
        v[i] = nums[i];
        e[i] = (char*)malloc_check(24);
        snprintf(e[i], 24, "%d", nums[i]);
    }
    for (int d = 0; n > 1; d++, n--) {
        const CountdownMove* mv = &moves[d];
        CountdownCombo c[4];
        countdown_combine(v[mv->i], v[mv->j], c);
        const CountdownCombo* cc = &c[mv->k];
        int first_is_i = cc->op == '+' || cc->op == '*' || v[mv->i] > v[mv->j]; // as countdown_combine writes it
        char* ex = first_is_i ? e[mv->i] : e[mv->j];
        char* ey = first_is_i ? e[mv->j] : e[mv->i];
        size_t len = strlen(ex) + strlen(ey) + 8;
        char* ne = (char*)malloc_check(len);
        snprintf(ne, len, "(%s %c %s)", ex, cc->op, ey);
        if (steps) {
            sb_printf(steps, "%s%lld%c%lld=%lld", d ? ", " : "", cc->x, cc->op, cc->y, cc->r);
        }
        free(e[mv->i]), free(e[mv->j]);
        long long nv[COUNTDOWN_MAX_NUMS];
        char* nes[COUNTDOWN_MAX_NUMS];
        int m = 0;
        for (int k = 0; k < n; k++) {
            if (k != mv->i && k != mv->j) {
                nv[m] = v[k], nes[m++] = e[k];
            }
        }
        nv[m] = cc->r, nes[m++] = ne;
        if (trace && m >= 2) { // the path's lines, as the search wrote them (with only the hit)
            sb_append(trace->out, "\n", 1);
            countdown_write_step(trace, d, cc, nv, m);
            if (m == 2) {
                countdown_leaves(trace, nv, 1);
            }
        }
        memcpy(v, nv, sizeof(nv));
        memcpy(e, nes, sizeof(nes));
    }
    size_t L = strlen(e[0]); // drop the outermost parentheses
    sb_append(expr, e[0] + 1, L - 2);
    free(e[0]);
}

// Searches nums for target. Returns 1 and appends the first solution in search order to `solution`
// (the equation), `thinking` (the trace; max_lines bounds it) and `steps`, each when not NULL; or
// returns 0 when there is no solution.
static int countdown_search(const int* nums, int n, int target, int max_lines, StrBuf* solution, StrBuf* thinking,
                            StrBuf* steps) {
    if (n < 2 || n > COUNTDOWN_MAX_NUMS) {
        fatal("countdown_search: %d numbers (2..%d supported)", n, COUNTDOWN_MAX_NUMS);
    }
    long long v[COUNTDOWN_MAX_NUMS];
    for (int i = 0; i < n; i++) {
        v[i] = nums[i];
    }
    CountdownMove moves[COUNTDOWN_MAX_NUMS];
    CountdownTrace t = {thinking, 0, max_lines, 0, target};
    if (!countdown_dfs(&t, v, n, moves, 0)) {
        return 0;
    }
    StrBuf expr;
    sb_init(&expr);
    if (thinking && t.cut) {
        sb_append(thinking, thinking->len ? "\n..." : "...", thinking->len ? 4 : 3);
        countdown_replay(nums, n, moves, &t, &expr, steps);
    } else {
        countdown_replay(nums, n, moves, NULL, &expr, steps);
    }
    if (thinking) {
        sb_printf(thinking, "\nSo the answer is %s = %d.", expr.s, target);
    }
    if (solution) {
        sb_append(solution, expr.s, expr.len);
    }
    free(expr.s);
    return 1;
}

// A generator: the shuffled target split and its own random stream.
typedef struct {
    CountdownConfig cfg;
    int targets[1024]; // this split's targets
    int n_targets;
    int heldout[1024]; // the held-out 10% (the test split's targets), for reporting
    int n_heldout;
    uint64_t rng;
} CountdownGen;

static int countdown_randint(uint64_t* rng, int lo, int hi) { // lo..hi inclusive, as random.randint
    return lo + (int)(random_u32(rng) % (uint32_t)(hi - lo + 1)); // modulo bias < 1e-7 for these ranges
}

// split 0: training targets; split 1: the held-out targets. The target shuffle depends only on the
// seed, so both splits of one seed agree on which targets are held out.
static void countdown_init(CountdownGen* g, const CountdownConfig* cfg, uint64_t seed, int split) {
    int count = cfg->max_target - cfg->min_target + 1;
    if (cfg->min_nums < 2 || cfg->max_nums > COUNTDOWN_MAX_NUMS || cfg->min_nums > cfg->max_nums) {
        fatal("countdown: numbers per problem must be within 2..%d (got %d..%d)", COUNTDOWN_MAX_NUMS, cfg->min_nums,
              cfg->max_nums);
    }
    if (cfg->min_target < 1 || count < 10 || count > 1024) {
        fatal("countdown: targets %d..%d: need 1 <= min, and 10 to 1024 targets", cfg->min_target, cfg->max_target);
    }
    memset(g, 0, sizeof(*g));
    g->cfg = *cfg;
    int all[1024];
    for (int i = 0; i < count; i++) {
        all[i] = cfg->min_target + i;
    }
    uint64_t rng = rng_seed(seed);
    for (int i = count - 1; i > 0; i--) { // Fisher-Yates, as random.shuffle
        int j = countdown_randint(&rng, 0, i), tmp = all[i];
        all[i] = all[j], all[j] = tmp;
    }
    g->n_heldout = count / 10; // the first 10% (rounded down, as len // 10) are held out
    memcpy(g->heldout, all, (size_t)g->n_heldout * sizeof(int));
    g->n_targets = split ? g->n_heldout : count - g->n_heldout;
    memcpy(g->targets, split ? all : all + g->n_heldout, (size_t)g->n_targets * sizeof(int));
    g->rng = rng_seed(rng_seed(seed) + 1 + (uint64_t)split); // a stream per split, apart from the shuffle's
}

// The next problem: n, target, then numbers until the search succeeds.
static void countdown_next(CountdownGen* g, CountdownProblem* p) {
    memset(p, 0, sizeof(*p));
    p->n = countdown_randint(&g->rng, g->cfg.min_nums, g->cfg.max_nums);
    p->target = g->targets[countdown_randint(&g->rng, 0, g->n_targets - 1)];
    do {
        for (int i = 0; i < p->n; i++) {
            p->nums[i] = countdown_randint(&g->rng, 1, g->cfg.max_target - 1);
        }
    } while (!countdown_search(p->nums, p->n, p->target, 0, NULL, NULL, NULL));
    StrBuf sol, think; // search again, now writing the solution and the trace down
    sb_init(&sol), sb_init(&think);
    countdown_search(p->nums, p->n, p->target, g->cfg.trace_lines, &sol, &think, NULL);
    p->solution = sol.s;
    p->thinking = think.s;
}

static void countdown_problem_free(CountdownProblem* p) {
    free(p->solution);
    free(p->thinking);
    p->solution = p->thinking = NULL;
}

// One jsonl row: {"nums": [...], "target": t, "solution": "...", "thinking": "..."}
static void countdown_write_jsonl(FILE* f, const CountdownProblem* p) {
    fprintf(f, "{\"nums\": [");
    for (int i = 0; i < p->n; i++) {
        fprintf(f, i ? ", %d" : "%d", p->nums[i]);
    }
    fprintf(f, "], \"target\": %d, \"solution\": ", p->target);
    json_write_string(f, p->solution, strlen(p->solution));
    fprintf(f, ", \"thinking\": ");
    json_write_string(f, p->thinking, strlen(p->thinking));
    fprintf(f, "}\n");
}

// ----------------------------------------------------------------------------
// Countdown prompts, as TinyZero writes them (examples/data_preprocess/countdown.py, make_prefix)
// "base" is for base models: a plain-text conversation that ends inside "<think>", so the model
// continues with its reasoning. "qwen-instruct" is the same request in ChatML. Two details are
// TinyZero's own and kept on purpose, because its reward and results assume them: the user turn of
// the instruct form starts with a space, and the system prompt says "You first thinks".

#define COUNTDOWN_SYSTEM_PROMPT                                                                                       \
    "You are a helpful assistant. You first thinks about the reasoning process in the mind and then provides the " \
    "user with the answer."

#define COUNTDOWN_USER_TEMPLATE                                                                                        \
    "Using the numbers {nums}, create an equation that equals {target}. You can use basic arithmetic operations "   \
    "(+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And return the " \
    "final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."

#define COUNTDOWN_BASE_TEMPLATE                                                                                        \
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "        \
    "assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\n"  \
    "User: " COUNTDOWN_USER_TEMPLATE "\nAssistant: Let me solve this step by step.\n<think>"

#define COUNTDOWN_INSTRUCT_TEMPLATE                                                                                    \
    "<|im_start|>system\n" COUNTDOWN_SYSTEM_PROMPT "<|im_end|>\n<|im_start|>user\n " COUNTDOWN_USER_TEMPLATE         \
    "<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>"

// Fills a Countdown template ({nums} as a Python list, {target}); malloc'd.
static char* countdown_prompt(const char* tmpl, const int* nums, int n, int target) {
    long long v[COUNTDOWN_MAX_NUMS];
    for (int i = 0; i < n && i < COUNTDOWN_MAX_NUMS; i++) {
        v[i] = nums[i];
    }
    StrBuf list;
    sb_init(&list);
    sb_python_list(&list, v, n < COUNTDOWN_MAX_NUMS ? n : COUNTDOWN_MAX_NUMS);
    char t[24];
    snprintf(t, sizeof(t), "%d", target);
    const char* keys[] = {"nums", "target"};
    const char* values[] = {list.s, t};
    char* out = template_fill(tmpl, keys, values, 2);
    free(list.s);
    return out;
}

// ----------------------------------------------------------------------------
// SFT data readers
// One example is a system prompt (may be NULL), the user's prompt, the reasoning ("thinking", may be
// empty) and the final answer text. `gold` is the short reference answer when the data has one (MATH
// `answer`, the GSM8K number, a trace's ground truth), for evaluation and rewards. The rows are read
// from jsonl or from one JSON array, by the fields they have, in this order:
//   messages / conversations   chat: system, user, assistant (one turn); the assistant text is split
//                              at <think>...</think> (or <|begin_of_thought|>...<|end_of_thought|>)
//   message_thinking           teacher traces (problem, message_thinking, message_content, gtruth_answer)
//   nums + target              Countdown (our generator's rows; thinking/solution when present)
//   problem                    MATH-like: thinking = solution, answer = `answer` or the solution's last \boxed{}
//   question + answer          GSM8K: thinking = the text before "####", answer = the number after it
//   prompt                     generic: prompt, thinking (or reasoning), answer (or completion / response)

typedef struct {
    char* system;   // NULL when the data has none
    char* prompt;   // the user turn
    char* thinking; // the reasoning, without tags ("" when the data has none)
    char* answer;   // the final answer text, without tags
    char* gold;     // the short reference answer, or NULL
} SftExample;

typedef struct {
    SftExample* rows;
    size_t n, cap;
    size_t skipped; // malformed rows skipped (only when loading with skip_bad)
} SftDataset;

static char* str_ndup(const char* s, size_t n) {
    char* p = (char*)malloc_check(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

// A copy of s[0..n) without leading and trailing whitespace.
static char* str_trim_dup(const char* s, size_t n) {
    while (n > 0 && isspace((unsigned char)*s)) {
        s++, n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--;
    }
    return str_ndup(s, n);
}

// A field as text: a string, or a number as written in the file (amc23 answers are 27.0, not "27.0").
static char* json_text_dup(const Json* obj, const char* key) {
    const Json* v = json_get(obj, key);
    if (v && (v->type == JSON_STRING || v->type == JSON_NUMBER)) {
        return str_ndup(v->string, v->type == JSON_STRING ? v->len : strlen(v->string));
    }
    return NULL;
}

// The contents of the last \boxed{...} (braces balanced), or NULL.
static char* sft_last_boxed(const char* s) {
    const char* at = NULL;
    for (const char* p = s; (p = strstr(p, "\\boxed{")) != NULL; p++) {
        at = p;
    }
    if (at == NULL) {
        return NULL;
    }
    const char* open = at + 7;
    int depth = 1;
    const char* p = open;
    for (; *p && depth > 0; p++) {
        depth += (*p == '{') - (*p == '}');
    }
    return depth == 0 ? str_trim_dup(open, (size_t)(p - 1 - open)) : NULL;
}

// Splits an assistant text into thinking and answer at a pair of tags; returns 0 when absent.
static int sft_split_tags(const char* text, const char* open, const char* close, SftExample* ex) {
    const char* a = strstr(text, open);
    const char* b = a ? strstr(a + strlen(open), close) : NULL;
    if (b == NULL) {
        return 0;
    }
    ex->thinking = str_trim_dup(a + strlen(open), (size_t)(b - a - strlen(open)));
    ex->answer = str_trim_dup(b + strlen(close), strlen(b + strlen(close)));
    return 1;
}

// The answer part of an R1-style assistant turn loses its own wrapper tags too.
static void sft_strip_answer_tags(SftExample* ex, const char* open, const char* close) {
    const char* a = strstr(ex->answer, open);
    const char* b = a ? strstr(a, close) : NULL;
    if (b) {
        char* inner = str_trim_dup(a + strlen(open), (size_t)(b - a - strlen(open)));
        free(ex->answer);
        ex->answer = inner;
    }
}

static void sft_assistant_text(const char* text, SftExample* ex) {
    if (sft_split_tags(text, "<think>", "</think>", ex)) {
        sft_strip_answer_tags(ex, "<answer>", "</answer>");
    } else if (sft_split_tags(text, "<|begin_of_thought|>", "<|end_of_thought|>", ex)) {
        sft_strip_answer_tags(ex, "<|begin_of_solution|>", "<|end_of_solution|>");
    } else {
        ex->thinking = str_ndup("", 0);
        ex->answer = str_trim_dup(text, strlen(text));
    }
}

// Chat rows: {"messages": [{"role", "content"}]} or ShareGPT {"conversations": [{"from", "value"}]}.
static int sft_from_chat(const Json* row, const Json* msgs, SftExample* ex, char* err, size_t errsize) {
    int sharegpt = json_get(row, "messages") == NULL;
    const char* system = json_get_string(row, "system"); // ShareGPT sets often keep it at the top level
    const char *user = NULL, *assistant = NULL;
    int users = 0, assistants = 0;
    for (size_t i = 0; i < msgs->len; i++) {
        const char* role = json_get_string(&msgs->items[i], sharegpt ? "from" : "role");
        const char* content = json_get_string(&msgs->items[i], sharegpt ? "value" : "content");
        if (role == NULL || content == NULL) {
            snprintf(err, errsize, "message %zu has no %s", i, sharegpt ? "from/value" : "role/content");
            return 0;
        }
        if (strcmp(role, "system") == 0) {
            system = content;
        } else if (strcmp(role, "user") == 0 || strcmp(role, "human") == 0) {
            user = content, users++;
        } else if (strcmp(role, "assistant") == 0 || strcmp(role, "gpt") == 0) {
            assistant = content, assistants++;
        } else {
            snprintf(err, errsize, "message %zu has the unknown role '%s'", i, role);
            return 0;
        }
    }
    if (users != 1 || assistants != 1) {
        snprintf(err, errsize, "a chat must have one user and one assistant message (has %d and %d)", users, assistants);
        return 0;
    }
    ex->system = system ? strdup_check(system) : NULL;
    ex->prompt = strdup_check(user);
    sft_assistant_text(assistant, ex);
    return 1;
}

// Countdown rows: the prompt is TinyZero's user text; thinking and solution when the row has them.
static int sft_from_countdown(const Json* row, SftExample* ex, char* err, size_t errsize) {
    const Json* nums = json_get(row, "nums");
    const Json* target = json_get(row, "target");
    int v[COUNTDOWN_MAX_NUMS];
    if (nums->type != JSON_ARRAY || nums->len < 2 || nums->len > COUNTDOWN_MAX_NUMS || target->type != JSON_NUMBER ||
        target->number != (int)target->number) {
        snprintf(err, errsize, "Countdown row needs \"nums\": a list of 2..%d integers and an integer \"target\"",
                 COUNTDOWN_MAX_NUMS);
        return 0;
    }
    for (size_t i = 0; i < nums->len; i++) {
        if (nums->items[i].type != JSON_NUMBER || nums->items[i].number != (int)nums->items[i].number) {
            snprintf(err, errsize, "\"nums\" item %zu is not an integer", i);
            return 0;
        }
        v[i] = (int)nums->items[i].number;
    }
    ex->system = strdup_check(COUNTDOWN_SYSTEM_PROMPT);
    ex->prompt = countdown_prompt(COUNTDOWN_USER_TEMPLATE, v, (int)nums->len, (int)target->number);
    ex->thinking = json_text_dup(row, "thinking");
    ex->answer = json_text_dup(row, "solution");
    ex->thinking = ex->thinking ? ex->thinking : str_ndup("", 0);
    ex->answer = ex->answer ? ex->answer : str_ndup("", 0);
    return 1;
}

// GSM8K: "reasoning with <<calc>> notes\n#### 72" -> thinking, answer "72", gold "72".
static void sft_split_gsm8k(const char* answer, SftExample* ex) {
    const char* hash = strstr(answer, "####");
    if (hash == NULL) {
        ex->thinking = str_ndup("", 0);
        ex->answer = str_trim_dup(answer, strlen(answer));
    } else {
        ex->thinking = str_trim_dup(answer, (size_t)(hash - answer));
        ex->answer = str_trim_dup(hash + 4, strlen(hash + 4));
    }
    ex->gold = strdup_check(ex->answer);
}

// One row into ex. Returns 0 with a message in err when the row has no form we know.
static int sft_from_json(const Json* row, SftExample* ex, char* err, size_t errsize) {
    memset(ex, 0, sizeof(*ex));
    if (row->type != JSON_OBJECT) {
        snprintf(err, errsize, "a row must be a JSON object");
        return 0;
    }
    const Json* msgs = json_get(row, "messages") ? json_get(row, "messages") : json_get(row, "conversations");
    if (msgs) {
        if (msgs->type != JSON_ARRAY) {
            snprintf(err, errsize, "\"messages\" must be a list");
            return 0;
        }
        return sft_from_chat(row, msgs, ex, err, errsize);
    }
    if (json_get(row, "nums") && json_get(row, "target")) {
        return sft_from_countdown(row, ex, err, errsize);
    }
    const char* problem = json_get_string(row, "problem");
    const char* question = json_get_string(row, "question");
    const char* prompt = json_get_string(row, "prompt");
    if (problem && json_get_string(row, "message_thinking")) { // teacher traces
        ex->prompt = strdup_check(problem);
        ex->thinking = str_trim_dup(json_get_string(row, "message_thinking"), strlen(json_get_string(row, "message_thinking")));
        ex->answer = json_text_dup(row, "message_content");
        ex->gold = json_text_dup(row, "gtruth_answer");
    } else if (problem) { // MATH, MATH-500, AIME, AMC
        const char* solution = json_get_string(row, "solution");
        ex->prompt = strdup_check(problem);
        ex->thinking = solution ? str_trim_dup(solution, strlen(solution)) : str_ndup("", 0);
        const Json* given = json_get(row, "answer");
        ex->answer = json_text_dup(row, "answer");
        if (ex->answer == NULL && solution) {
            ex->answer = sft_last_boxed(solution);
        }
        if (ex->answer == NULL && given && given->type == JSON_NULL) {
            ex->answer = str_ndup("", 0); // "answer": null is a row without a reference, not a broken row
        }
        ex->gold = ex->answer && ex->answer[0] ? strdup_check(ex->answer) : NULL; // callers drop rows without gold
    } else if (question && json_get(row, "answer")) { // GSM8K
        char* a = json_text_dup(row, "answer");
        ex->prompt = strdup_check(question);
        sft_split_gsm8k(a ? a : "", ex);
        free(a);
    } else if (prompt) {
        ex->prompt = strdup_check(prompt);
        ex->thinking = json_text_dup(row, "thinking");
        ex->thinking = ex->thinking ? ex->thinking : json_text_dup(row, "reasoning");
        ex->answer = json_text_dup(row, "answer");
        ex->answer = ex->answer ? ex->answer : json_text_dup(row, "completion");
        ex->answer = ex->answer ? ex->answer : json_text_dup(row, "response");
        ex->thinking = ex->thinking ? ex->thinking : str_ndup("", 0);
    } else {
        snprintf(err, errsize, "no known fields (expected messages, conversations, problem, question+answer, prompt "
                               "or nums+target)");
        return 0;
    }
    if (ex->answer == NULL) {
        snprintf(err, errsize, "row has a prompt but no answer field");
        free(ex->prompt), free(ex->thinking), free(ex->gold);
        memset(ex, 0, sizeof(*ex));
        return 0;
    }
    return 1;
}

static void sft_example_free(SftExample* ex) {
    free(ex->system), free(ex->prompt), free(ex->thinking), free(ex->answer), free(ex->gold);
    memset(ex, 0, sizeof(*ex));
}

// Adds one parsed row (NULL: the row was not valid JSON, parse_err says why), or reports it: a fatal
// "file:line: why", or a count in d->skipped when skip_bad.
static void sft_add_row(SftDataset* d, const Json* row, const char* parse_err, const char* where, int skip_bad) {
    char err[256];
    SftExample ex;
    if (row == NULL || !sft_from_json(row, &ex, err, sizeof(err))) {
        if (!skip_bad && row == NULL) {
            fatal("%s: not valid JSON (%s)", where, parse_err);
        } else if (!skip_bad) {
            fatal("%s: %s", where, err);
        }
        d->skipped++;
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 256;
        d->rows = (SftExample*)realloc_check(d->rows, d->cap * sizeof(SftExample));
    }
    d->rows[d->n++] = ex;
}

// Loads a data file: jsonl (one object per line, blank lines ignored), or one JSON array of objects.
// Malformed rows are fatal errors naming file:line (skip_bad = 0), or are skipped and counted.
static SftDataset sft_load(const char* path, int skip_bad) {
    SftDataset d = {0};
    size_t size;
    char* text = read_file(path, &size);
    size_t start = 0;
    while (start < size && isspace((unsigned char)text[start])) {
        start++;
    }
    char where[1024], err[256];
    if (start < size && text[start] == '[') { // one JSON array
        Json* all = json_parse(text, size, err, sizeof(err));
        if (all == NULL) {
            fatal("%s: %s (not valid JSON)", path, err);
        }
        for (size_t i = 0; i < all->len; i++) {
            snprintf(where, sizeof(where), "%s: item %zu", path, i);
            sft_add_row(&d, &all->items[i], NULL, where, skip_bad);
        }
        json_free(all);
    } else { // jsonl
        size_t line = 0;
        for (size_t at = 0; at < size;) {
            char* nl = (char*)memchr(text + at, '\n', size - at);
            size_t end = nl ? (size_t)(nl - text) : size;
            line++;
            size_t k = at;
            while (k < end && isspace((unsigned char)text[k])) {
                k++;
            }
            if (k < end) {
                Json* row = json_parse(text + at, end - at, err, sizeof(err));
                snprintf(where, sizeof(where), "%s:%zu", path, line);
                sft_add_row(&d, row, err, where, skip_bad);
                json_free(row);
            }
            at = end + 1;
        }
    }
    free(text);
    return d;
}

static void sft_free(SftDataset* d) {
    for (size_t i = 0; i < d->n; i++) {
        sft_example_free(&d->rows[i]);
    }
    free(d->rows);
    memset(d, 0, sizeof(*d));
}

// The assistant turn in R1's format, as plain text (the chat template and the tokenizer come later).
// The template may use {thinking} and {answer}; NULL means R1_ASSISTANT_TEMPLATE, the open-r1
// recipe's format, which its format_reward checks with ^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$.
#define R1_ASSISTANT_TEMPLATE "<think>\n{thinking}\n</think>\n<answer>\n{answer}\n</answer>"

// TinyZero's Countdown prompts end inside "<think>", and its reward reads the answer from the LAST
// line only, as "<answer> ... </answer>": a Countdown completion must end on that one line.
#define COUNTDOWN_COMPLETION_TEMPLATE "\n{thinking}\n</think>\n<answer> {answer} </answer>"

static char* sft_render_assistant(const SftExample* ex, const char* tmpl) {
    const char* keys[] = {"thinking", "answer"};
    const char* values[] = {ex->thinking ? ex->thinking : "", ex->answer ? ex->answer : ""};
    return template_fill(tmpl ? tmpl : R1_ASSISTANT_TEMPLATE, keys, values, 2);
}

// ----------------------------------------------------------------------------
// sampling
// Turning the logits of the last position into the next token, the way Hugging Face `generate`
// does with do_sample=True: repetition penalty first, then temperature, top-k and top-p, then a
// draw from the softmax. Each step is its own function working in place on one row of V logits;
// a removed token gets -INFINITY, so its probability is exactly 0 after the softmax.

typedef struct {
    float temperature;        // 1: unchanged; 0: greedy (argmax)
    int top_k;                // 0: off
    float top_p;              // 1: off
    float repetition_penalty; // 1: off
} SamplingConfig;

// CTRL's repetition penalty (HF RepetitionPenaltyLogitsProcessor): every token id that occurs in the
// context (prompt and generated so far) has its logit divided by the penalty when positive and
// multiplied by it when negative, once, however often it occurs. `seen` is V bytes of scratch.
static void repetition_penalty_forward(float* logits, int V, const int* context, int n, float penalty,
                                       unsigned char* seen) {
    if (penalty == 1.0f) {
        return;
    }
    memset(seen, 0, (size_t)V);
    for (int i = 0; i < n; i++) {
        int id = context[i];
        if (id < 0 || id >= V || seen[id]) {
            continue;
        }
        seen[id] = 1;
        logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty;
    }
}

static void temperature_forward(float* logits, int V, float temperature) {
    for (int i = 0; i < V; i++) {
        logits[i] /= temperature;
    }
}

// Keeps the k largest logits (and any tied with the k-th, as HF's `scores < kth` does). The k-th
// largest value is found with a min-heap of size k, O(V log k), instead of sorting all V logits.
static void sample_top_k(float* logits, int V, int k, float* heap) {
    if (k <= 0 || k >= V) {
        return;
    }
    int n = 0; // heap[0] is the smallest of the k largest seen so far
    for (int i = 0; i < V; i++) {
        float x = logits[i];
        if (n < k) { // sift up
            int c = n++;
            while (c > 0 && heap[(c - 1) / 2] > x) {
                heap[c] = heap[(c - 1) / 2];
                c = (c - 1) / 2;
            }
            heap[c] = x;
        } else if (x > heap[0]) { // replace the root, sift down
            int c = 0;
            for (;;) {
                int l = 2 * c + 1, r = l + 1, m = c;
                float mv = x;
                if (l < k && heap[l] < mv) {
                    m = l, mv = heap[l];
                }
                if (r < k && heap[r] < mv) {
                    m = r;
                }
                if (m == c) {
                    break;
                }
                heap[c] = heap[m];
                c = m;
            }
            heap[c] = x;
        }
    }
    float kth = heap[0];
    for (int i = 0; i < V; i++) {
        if (logits[i] < kth) {
            logits[i] = -INFINITY;
        }
    }
}

// Softmax of one row in place (max subtracted first so exp never overflows; sums in double).
static void softmax_row(float* x, int V) {
    float max = -INFINITY;
    for (int i = 0; i < V; i++) {
        max = x[i] > max ? x[i] : max;
    }
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < V; i++) {
        x[i] = (float)(x[i] / sum);
    }
}

typedef struct {
    float prob;
    int index;
} ProbIndex;

static int compare_prob_desc(const void* a, const void* b) {
    float pa = ((const ProbIndex*)a)->prob, pb = ((const ProbIndex*)b)->prob;
    return (pa < pb) - (pa > pb);
}

// Nucleus sampling's filter (HF TopPLogitsWarper): a token survives when the probability mass of the
// tokens ranked strictly above it is below p, so the smallest set of top tokens reaching mass p is
// kept (the top token always). Tokens with probability under (1 - p) / (V - 1) can never be in that
// set (all of them together hold less than 1 - p), so only the others are sorted (as llama2.c does).
static void sample_top_p(float* logits, int V, float p, float* probs, ProbIndex* scratch) {
    if (p >= 1.0f) {
        return;
    }
    memcpy(probs, logits, (size_t)V * sizeof(float));
    softmax_row(probs, V);
    float cutoff = (1.0f - p) / (float)(V - 1);
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (probs[i] >= cutoff) {
            scratch[n].prob = probs[i];
            scratch[n].index = i;
            n++;
        } else {
            logits[i] = -INFINITY;
        }
    }
    qsort(scratch, (size_t)n, sizeof(ProbIndex), compare_prob_desc);
    float above = 0.0f; // mass of the tokens ranked above the current one
    for (int j = 0; j < n; j++) {
        if (j > 0 && above >= p) {
            logits[scratch[j].index] = -INFINITY;
        }
        above += scratch[j].prob;
    }
}

static int argmax(const float* x, int V) {
    int best = 0;
    for (int i = 1; i < V; i++) {
        if (x[i] > x[best]) {
            best = i;
        }
    }
    return best;
}

// Draws an index from probabilities that sum to 1, given a coin in [0, 1).
static int sample_mult(const float* probs, int V, float coin) {
    float cdf = 0.0f;
    int last = 0;
    for (int i = 0; i < V; i++) {
        if (probs[i] > 0.0f) {
            cdf += probs[i];
            last = i;
            if (coin < cdf) {
                return i;
            }
        }
    }
    return last; // rounding: the coin fell past the last cdf value
}

// Scratch memory for sample_token, sized for a vocabulary of V.
typedef struct {
    int V;
    float* logits;       // (V) the processed logits
    float* heap;         // (V) top-k heap; top-p probabilities
    ProbIndex* sorted;   // (V) top-p candidates
    unsigned char* seen; // (V) repetition penalty marks
} Sampler;

static void sampler_init(Sampler* s, int V) {
    s->V = V;
    s->logits = (float*)malloc_check((size_t)V * sizeof(float));
    s->heap = (float*)malloc_check((size_t)V * sizeof(float));
    s->sorted = (ProbIndex*)malloc_check((size_t)V * sizeof(ProbIndex));
    s->seen = (unsigned char*)malloc_check((size_t)V);
}

static void sampler_free(Sampler* s) {
    free(s->logits);
    free(s->heap);
    free(s->sorted);
    free(s->seen);
}

// Applies the whole HF chain to a copy of `logits` (left in s->logits as probabilities) and draws
// the next token with `coin`, a uniform number in [0, 1) (unused when greedy). *logprob gets
// log_softmax(logits / T)[token] of the raw logits: the log-prob that GRPO's trainer computes when it
// rescores the same token (grpo.md §1), not the log-prob under the filtered distribution, so rollout
// and trainer log-probs agree. The coin comes from outside so that the GPU sampler
// (sample_tokens_gpu), fed the same coins, draws the same tokens.
static int sample_token_coin(Sampler* s, const float* logits, const SamplingConfig* cfg, const int* context,
                             int n_context, float coin, float* logprob) {
    int V = s->V;
    float* x = s->logits;
    memcpy(x, logits, (size_t)V * sizeof(float));
    repetition_penalty_forward(x, V, context, n_context, cfg->repetition_penalty, s->seen);
    int token;
    if (cfg->temperature <= 0.0f) {
        token = argmax(x, V);
    } else {
        temperature_forward(x, V, cfg->temperature);
        sample_top_k(x, V, cfg->top_k, s->heap);
        sample_top_p(x, V, cfg->top_p, s->heap, s->sorted);
        softmax_row(x, V);
        token = sample_mult(x, V, coin);
    }
    if (logprob) { // log_softmax(logits / T)[token] of the raw logits, in double for accuracy
        double t = cfg->temperature > 0.0f ? cfg->temperature : 1.0, max = -INFINITY, sum = 0.0;
        for (int i = 0; i < V; i++) {
            max = logits[i] / t > max ? logits[i] / t : max;
        }
        for (int i = 0; i < V; i++) {
            sum += exp(logits[i] / t - max);
        }
        *logprob = (float)(logits[token] / t - max - log(sum));
    }
    return token;
}

// The coin of one draw: a number from the sequence's own random stream, taken only when sampling
// (greedy decoding consumes none).
static float sample_coin(const SamplingConfig* cfg, uint64_t* rng) {
    return cfg->temperature > 0.0f ? random_f32(rng) : 0.0f;
}

// sample_token_coin with the coin drawn from *rng.
static int sample_token(Sampler* s, const float* logits, const SamplingConfig* cfg, const int* context,
                        int n_context, uint64_t* rng, float* logprob) {
    return sample_token_coin(s, logits, cfg, context, n_context, sample_coin(cfg, rng), logprob);
}

// ----------------------------------------------------------------------------
// generation: a KV cache, continuous batching, stop rules and budget forcing
// GRPO spends most of its time here: G completions per prompt, sampled token by token. A forward
// pass over the whole sequence for every new token would cost O(T^2) layers' work; instead each
// token's keys and values are computed once and kept (the KV cache), so a new token needs one
// pass of its own through the layers plus attention over the cached keys.
//
// The cache has a fixed number of slots, each holding one sequence of its own length. A step of
// the model takes, for any subset of the slots, a few new tokens each (a whole prompt, a piece of
// one, or the single token sampled last) and returns the logits of each one's last new token. When
// a sequence finishes, its slot takes the next prompt at once ("continuous batching", as vLLM),
// instead of waiting for the slowest sequence of a batch. The scheduler (generate_batch_engine) is
// written once; the step of the model under it is an engine: here the layer functions above on the
// CPU, in generate.cu the same step on the GPU.
//
// Greedy output equals transformers' `generate(do_sample=False)` token for token on the fixture
// models (tests/test_generate.c, fixtures from dev/oracle/generate_oracle.py).


// --- the KV cache and one step of the model -------------------------------------

typedef struct {
    int L, slots, max_len, NKV, HD; // max_len: the longest sequence (prompt + completion) a slot holds
    float* k;                       // (L, slots, max_len, NKV, HD) keys, after RoPE
    float* v;                       // (L, slots, max_len, NKV, HD) values
    int* len;                       // (slots) tokens cached in each slot
    // scratch of one step: the N new tokens of all the slots in the step, flattened (grown on demand)
    int cap;                     // tokens the per-token buffers hold
    int* pos;                    // (N) position of each new token in its sequence
    int* slot;                   // (N) the slot it belongs to
    float *x, *ln, *proj, *rstd; // (N, C) residual stream, norm output, block output; (N) 1/rms
    float *q, *kn, *vn, *atty;   // (N, NH, HD), (N, NKV, HD) x2, (N, NH, HD)
    float *gate, *up, *hid;      // (N, I)
    float* rope;                 // (2, N, HD/2) cos then sin
    float* scores;               // (threads, max_len) attention probabilities of one (token, head)
    float* last;                 // (slots, C) the last new token of each sequence
    float* logits;               // (slots, V) its logits: what the step returns
} KVCache;

static void kvcache_init(KVCache* kv, const Qwen2Config* c, int slots, int max_len) {
    memset(kv, 0, sizeof(*kv));
    kv->L = c->num_layers, kv->slots = slots, kv->max_len = max_len;
    kv->NKV = c->num_kv_heads, kv->HD = c->head_dim;
    size_t n = (size_t)c->num_layers * slots * max_len * c->num_kv_heads * c->head_dim;
    kv->k = (float*)malloc_check(n * sizeof(float));
    kv->v = (float*)malloc_check(n * sizeof(float));
    kv->len = (int*)calloc_check((size_t)slots, sizeof(int));
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    kv->scores = (float*)malloc_check((size_t)threads * max_len * sizeof(float));
    kv->last = (float*)malloc_check((size_t)slots * c->hidden_size * sizeof(float));
    kv->logits = (float*)malloc_check((size_t)slots * c->vocab_size * sizeof(float));
}

static void kvcache_free(KVCache* kv) {
    float* bufs[16] = {kv->k,  kv->v,    kv->x,    kv->ln,  kv->proj,   kv->rstd,  kv->q,    kv->kn,
                       kv->vn, kv->atty, kv->gate, kv->up,  kv->hid,    kv->rope,  kv->scores, kv->last};
    for (int i = 0; i < 16; i++) {
        free(bufs[i]);
    }
    free(kv->logits), free(kv->len), free(kv->pos), free(kv->slot);
    memset(kv, 0, sizeof(*kv));
}

// Makes room in the per-token scratch for a step of N tokens.
static void kvcache_reserve(KVCache* kv, const Qwen2Config* c, int N) {
    if (N <= kv->cap) {
        return;
    }
    size_t n = (size_t)N, C = c->hidden_size, I = c->intermediate_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    float** bufs[12] = {&kv->x, &kv->ln, &kv->proj, &kv->rstd, &kv->q, &kv->kn,
                        &kv->vn, &kv->atty, &kv->gate, &kv->up, &kv->hid, &kv->rope};
    size_t sizes[12] = {n * C, n * C, n * C, n, n * QD, n * KVD, n * KVD, n * QD, n * I, n * I, n * I,
                        2 * n * (size_t)(c->head_dim / 2)};
    for (int i = 0; i < 12; i++) {
        free(*bufs[i]);
        *bufs[i] = (float*)malloc_check(sizes[i] * sizeof(float));
    }
    free(kv->pos), free(kv->slot);
    kv->pos = (int*)malloc_check(n * sizeof(int));
    kv->slot = (int*)malloc_check(n * sizeof(int));
    kv->cap = N;
}

// Attention of each new token over its own sequence: token i sits in slot slot[i] at position
// pos[i], and its query attends to the cached keys 0..pos[i] of that slot (its own key, and those of
// the new tokens before it in the same step, were written into the cache first, so this is causal
// attention exactly). Grouped-query heads: query head h reads kv head h / (NH / NKV). As in
// attention_forward: scores = q.k scaled by HD^-0.5 after the product, a softmax shifted by the max,
// out = the probability-weighted sum of the values.
static void attention_cached_forward(float* out,        // (N, NH, HD)
                                     float* scores,     // (threads, max_len) scratch
                                     const float* q,    // (N, NH, HD)
                                     const float* kc,   // (slots, max_len, NKV, HD) one layer's keys
                                     const float* vc,   // (slots, max_len, NKV, HD) one layer's values
                                     const int* slot,   // (N)
                                     const int* pos,    // (N)
                                     int N, int NH, int NKV, int HD, int max_len) {
    size_t KVD = (size_t)NKV * HD;
    float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
    for (int i = 0; i < N; i++) {
        for (int h = 0; h < NH; h++) {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            float* s = scores + (size_t)tid * max_len;
            const float* qh = q + ((size_t)i * NH + h) * HD;
            size_t base = (size_t)slot[i] * max_len * KVD + (size_t)(h / (NH / NKV)) * HD;
            const float* kh = kc + base; // key of position t at kh + t * KVD
            const float* vh = vc + base;
            float maxval = -INFINITY, sum = 0.0f;
            for (int t = 0; t <= pos[i]; t++) {
                s[t] = dot_f32(qh, kh + (size_t)t * KVD, HD) * scale;
                maxval = fmaxf(maxval, s[t]);
            }
            for (int t = 0; t <= pos[i]; t++) {
                s[t] = exp_f32(s[t] - maxval);
                sum += s[t];
            }
            float* oh = out + ((size_t)i * NH + h) * HD;
            memset(oh, 0, (size_t)HD * sizeof(float));
            for (int t = 0; t <= pos[i]; t++) {
                axpy_f32(oh, s[t] / sum, vh + (size_t)t * KVD, HD);
            }
        }
    }
}

// Copies the new tokens' keys and values into their slots of one layer's cache.
static void kvcache_store(float* kc, float* vc,             // (slots, max_len, NKV, HD) one layer
                          const float* kn, const float* vn, // (N, NKV, HD)
                          const int* slot, const int* pos, int N, int KVD, int max_len) {
    for (int i = 0; i < N; i++) {
        size_t at = ((size_t)slot[i] * max_len + pos[i]) * KVD;
        memcpy(kc + at, kn + (size_t)i * KVD, (size_t)KVD * sizeof(float));
        memcpy(vc + at, vn + (size_t)i * KVD, (size_t)KVD * sizeof(float));
    }
}

// One step of the model through the cache. Sequence s (of nseq) appends n_new[s] tokens to slot
// seq_slot[s]; ids holds all the new tokens, sequence after sequence. On return kv->logits row s
// holds the logits after sequence s's last new token, and each slot's length has grown. The layer
// loop is qwen2_forward's, on the new tokens only; the one difference is attention, which reads the
// earlier tokens' keys and values from the cache instead of recomputing them.
static void qwen2_forward_cached(Qwen2* m, KVCache* kv, const int* ids, const int* seq_slot, const int* n_new,
                                 int nseq) {
    const Qwen2Config* c = &m->config;
    int L = c->num_layers, C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int NH = c->num_heads, NKV = c->num_kv_heads, HD = c->head_dim, QD = NH * HD, KVD = NKV * HD;
    int N = 0;
    for (int s = 0; s < nseq; s++) {
        int sl = seq_slot[s];
        if (sl < 0 || sl >= kv->slots || n_new[s] <= 0 || kv->len[sl] + n_new[s] > kv->max_len) {
            fatal("qwen2_forward_cached: sequence %d (slot %d, %d new tokens) does not fit the cache (%d slots of %d)",
                  s, sl, n_new[s], kv->slots, kv->max_len);
        }
        N += n_new[s];
    }
    kvcache_reserve(kv, c, N);
#ifdef _OPENMP
    // A step of a tiny model is a few thousand multiply-adds per parallel region, less than waking the
    // other threads costs; on a busy machine far less, as a thread waiting for a core costs a whole
    // time slice at every barrier (measured on a shared 2-core machine: the 0.83M-parameter model, 16
    // slots, ran 17-60x slower on 2 threads than on 1). Below 64M parameter-tokens a step uses 1 thread.
    int threads = omp_get_max_threads(), serial = (double)N * (double)m->num_parameters < 6.4e7;
    if (serial) {
        omp_set_num_threads(1);
    }
#endif
    for (int s = 0, i = 0; s < nseq; s++) { // where each new token goes
        for (int j = 0; j < n_new[s]; j++, i++) {
            if (ids[i] < 0 || ids[i] >= V) {
                fatal("token id %d is outside the vocabulary [0, %d)", ids[i], V);
            }
            kv->slot[i] = seq_slot[s];
            kv->pos[i] = kv->len[seq_slot[s]] + j;
        }
    }
    ParameterTensors p = m->params;
    float* cosines = kv->rope;
    float* sines = kv->rope + (size_t)N * (HD / 2);
    rope_tables(cosines, sines, kv->pos, N, HD, c->rope_theta);
    embedding_forward(kv->x, ids, p.embed, N, C, V);
    size_t layer_cache = (size_t)kv->slots * kv->max_len * KVD;
    for (int l = 0; l < L; l++) {
        // attention block: x += o_proj(attention(rope(q), cache + rope(k), cache + v))
        rmsnorm_forward(kv->ln, kv->rstd, kv->x, p.ln1 + (size_t)l * C, N, C, c->rms_norm_eps);
        matmul_forward(kv->q, kv->ln, p.wq + (size_t)l * QD * C, p.bq + (size_t)l * QD, N, C, QD);
        matmul_forward(kv->kn, kv->ln, p.wk + (size_t)l * KVD * C, p.bk + (size_t)l * KVD, N, C, KVD);
        matmul_forward(kv->vn, kv->ln, p.wv + (size_t)l * KVD * C, p.bv + (size_t)l * KVD, N, C, KVD);
        rope_forward(kv->q, cosines, sines, N, NH, HD);
        rope_forward(kv->kn, cosines, sines, N, NKV, HD);
        float* kc = kv->k + (size_t)l * layer_cache; // (slots, max_len, NKV, HD)
        float* vc = kv->v + (size_t)l * layer_cache;
        kvcache_store(kc, vc, kv->kn, kv->vn, kv->slot, kv->pos, N, KVD, kv->max_len);
        attention_cached_forward(kv->atty, kv->scores, kv->q, kc, vc, kv->slot, kv->pos, N, NH, NKV, HD,
                                 kv->max_len);
        matmul_forward(kv->proj, kv->atty, p.wo + (size_t)l * C * QD, NULL, N, QD, C);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)N * C);
        // MLP block: x += down_proj(silu(gate_proj(h)) * up_proj(h)), h = norm(x)
        rmsnorm_forward(kv->ln, kv->rstd, kv->x, p.ln2 + (size_t)l * C, N, C, c->rms_norm_eps);
        matmul_forward(kv->gate, kv->ln, p.wgate + (size_t)l * I * C, NULL, N, C, I);
        matmul_forward(kv->up, kv->ln, p.wup + (size_t)l * I * C, NULL, N, C, I);
        swiglu_forward(kv->hid, kv->gate, kv->up, (size_t)N * I);
        matmul_forward(kv->proj, kv->hid, p.wdown + (size_t)l * C * I, NULL, N, I, C);
        residual_forward(kv->x, kv->x, kv->proj, (size_t)N * C);
    }
    // the LM head only for each sequence's last new token: a prompt's other positions predict
    // tokens we already have (for Qwen2.5's 151,936-word vocabulary this is most of a prefill's work)
    for (int s = 0, i = 0; s < nseq; s++) {
        i += n_new[s];
        memcpy(kv->last + (size_t)s * C, kv->x + (size_t)(i - 1) * C, (size_t)C * sizeof(float));
        kv->len[seq_slot[s]] += n_new[s];
    }
    rmsnorm_forward(kv->ln, kv->rstd, kv->last, p.norm, nseq, C, c->rms_norm_eps);
    matmul_forward(kv->logits, kv->ln, p.lm_head, NULL, nseq, C, V);
#ifdef _OPENMP
    if (serial) {
        omp_set_num_threads(threads);
    }
#endif
}

// --- what to generate, and when to stop ---------------------------------------

#define FINISH_STOP 0   // an eos token or a stop string
#define FINISH_LENGTH 1 // max_new_tokens, or the end of the context
#define GEN_MAX_IDS 16  // eos ids, and the token ids of "Wait" / "</think>"
#define GEN_MAX_STOP 8  // stop strings

struct Completion; // (below: what generate_batch returns for each sequence)

typedef struct {
    int max_new_tokens;
    SamplingConfig sampling; // temperature 0 = greedy
    uint64_t seed;           // sample k of prompt i draws from its own stream, seeded by (seed, i, k)
    int eos_ids[GEN_MAX_IDS]; // generation ends on any of these (the token is kept in the completion)
    int n_eos;
    const char* stop[GEN_MAX_STOP]; // generation ends once the completion's text contains one of these:
    int n_stop;                     // matched on the decoded text, special tokens skipped, as vLLM does
                                    // (transformers' stop_strings match the tokens' strings instead)
    int strip_stop; // 0 (default): the text keeps the stop string (rewards look for "</answer>"); 1: it
                    // is cut off, as vLLM's include_stop_str_in_output=False. Text after it is always cut.
    // budget forcing (s1, Muennighoff et al. 2025), on token ids; off when both are 0
    int min_think;  // an end of thinking (or eos) before this many completion tokens becomes "Wait"
    int max_think;  // at this many completion tokens still thinking, "</think>" is forced
    int think_end_ids[GEN_MAX_IDS], n_think_end; // the tokens of "</think>"
    int wait_ids[GEN_MAX_IDS], n_wait;           // the tokens of "Wait"
    int slots;       // sequences generated at once (0: min(8, number of completions))
    int step_tokens; // most tokens in one step of the model (long prompts are fed in pieces); 0: 512
    int max_len;     // context: prompt + completion (0: the model's max_position_embeddings)
    // optional callbacks: each token appended to completion (prompt i, sample k), for streaming (with
    // budget forcing, the first tokens of a "</think>" that is then taken back have already been
    // streamed); and each finished completion, for progress
    void (*on_token)(void* user, int prompt, int sample, int token);
    void (*on_done)(void* user, int prompt, int sample, const struct Completion* c);
    void* user;
} GenerateConfig;

typedef struct Completion {
    int* tokens;     // (n_tokens) the generated ids; a final eos is included, as transformers does
    float* logprobs; // (n_tokens) log_softmax(logits / T)[token] of each sampled token (sample_token's);
                     // 0 for the tokens that budget forcing put in
    int n_tokens;
    char* text;      // the decoded text (special tokens skipped, invalid UTF-8 replaced by U+FFFD, as
                     // transformers' decode), cut at the stop string; NUL-terminated; NULL without a tokenizer
    size_t text_len; // its length in bytes (a completion may contain the byte 0, a token of its own)
    int finish;      // FINISH_STOP or FINISH_LENGTH
} Completion;

// transformers' defaults (GenerationConfig: greedy, temperature 1, top_k 50, top_p 1, no penalty),
// with room for 256 new tokens and no eos: generation_config_load fills in what the model's folder says.
static void generate_config_default(GenerateConfig* g) {
    memset(g, 0, sizeof(*g));
    g->max_new_tokens = 256;
    g->sampling.temperature = 0.0f; // do_sample false
    g->sampling.top_k = 50;
    g->sampling.top_p = 1.0f;
    g->sampling.repetition_penalty = 1.0f;
    g->seed = 1;
}

static void generate_add_eos(GenerateConfig* g, int id) {
    for (int i = 0; i < g->n_eos; i++) {
        if (g->eos_ids[i] == id) {
            return;
        }
    }
    if (g->n_eos == GEN_MAX_IDS) {
        fatal("generate: more than %d eos ids", GEN_MAX_IDS);
    }
    g->eos_ids[g->n_eos++] = id;
}

// Reads the model folder's generation_config.json, when there is one, over g's values: do_sample
// (false: greedy), temperature, top_k, top_p, repetition_penalty, max_new_tokens and eos_token_id (an
// id or a list). Returns 1 when the file was found. (Qwen2.5-Instruct's: sampling at temperature 0.7,
// top_p 0.8, top_k 20, penalty 1.05, eos <|im_end|> and <|endoftext|>.)
static int generation_config_load(const char* model_dir, GenerateConfig* g) {
    char* path = path_join(model_dir, "generation_config.json");
    if (!file_exists(path)) {
        free(path);
        return 0;
    }
    Json* j = json_load_file(path);
    if (j->type != JSON_OBJECT) {
        fatal("%s: expected a JSON object", path);
    }
    int do_sample = config_bool(j, "do_sample", path, 0);
    float temperature = (float)config_number(j, "temperature", path, 1.0);
    g->sampling.temperature = do_sample ? temperature : 0.0f;
    g->sampling.top_k = config_int(j, "top_k", path, 0, g->sampling.top_k);
    g->sampling.top_p = (float)config_number(j, "top_p", path, g->sampling.top_p);
    g->sampling.repetition_penalty = (float)config_number(j, "repetition_penalty", path, g->sampling.repetition_penalty);
    g->max_new_tokens = config_int(j, "max_new_tokens", path, 0, g->max_new_tokens);
    const Json* eos = json_get(j, "eos_token_id");
    if (eos && eos->type == JSON_NUMBER) {
        generate_add_eos(g, (int)eos->number);
    } else if (eos && eos->type == JSON_ARRAY) {
        for (size_t i = 0; i < eos->len; i++) {
            if (eos->items[i].type != JSON_NUMBER) {
                fatal("%s: eos_token_id must be an id or a list of ids", path);
            }
            generate_add_eos(g, (int)eos->items[i].number);
        }
    } else if (eos && eos->type != JSON_NULL) {
        fatal("%s: eos_token_id must be an id or a list of ids", path);
    }
    json_free(j);
    free(path);
    return 1;
}

// Budget forcing needs "</think>" and "Wait" as token ids: encoded with the model's tokenizer.
static void generate_config_budget(GenerateConfig* g, const Tokenizer* tok, int min_think, int max_think) {
    const char* words[2] = {"</think>", "Wait"};
    int* dst[2] = {g->think_end_ids, g->wait_ids};
    int* count[2] = {&g->n_think_end, &g->n_wait};
    for (int w = 0; w < 2; w++) {
        int* ids;
        int n = tokenizer_encode(tok, words[w], strlen(words[w]), &ids);
        if (n < 1 || n > GEN_MAX_IDS) {
            fatal("budget forcing: \"%s\" encodes to %d tokens (1..%d supported)", words[w], n, GEN_MAX_IDS);
        }
        memcpy(dst[w], ids, (size_t)n * sizeof(int));
        *count[w] = n;
        free(ids);
    }
    g->min_think = min_think;
    g->max_think = max_think;
}

// --- one sequence being generated -------------------------------------------------

typedef struct {
    int prompt, sample; // which completion this is; prompt -1 = a free slot
    int* ids;           // (max_len) the prompt, then the completion
    float* logprobs;    // (max_len) per completion token, at [n_prompt + j]
    int n_prompt, n;    // prompt length; tokens in ids
    int fed;            // tokens of ids in the KV cache (ids[fed..n) go into the next step)
    int budget;         // the most completion tokens: max_new_tokens, or less near the context's end
    int thinking;       // budget forcing: still before the end of thinking
    int streamed;       // tokens of ids passed to cfg->on_token
    uint64_t rng;
} GenSeq;

// Sample k of prompt i draws from its own random stream, so it is the same whatever slot it runs in
// and whatever runs beside it.
static uint64_t generate_stream(uint64_t seed, int prompt, int sample) {
    return rng_seed(rng_seed(rng_seed(seed) ^ (uint64_t)prompt) ^ (uint64_t)sample);
}

static int generate_is_eos(const GenerateConfig* g, int id) {
    for (int i = 0; i < g->n_eos; i++) {
        if (g->eos_ids[i] == id) {
            return 1;
        }
    }
    return 0;
}

// Do the last n tokens of the sequence equal want[0..n)?
static int generate_ends_with(const GenSeq* s, const int* want, int n) {
    if (n == 0 || s->n - s->n_prompt < n) {
        return 0;
    }
    return memcmp(s->ids + s->n - n, want, (size_t)n * sizeof(int)) == 0;
}

// Appends tokens that were not sampled (budget forcing) to the completion; log-prob 0.
static void generate_force(GenSeq* s, const int* ids, int n) {
    for (int i = 0; i < n; i++) {
        s->logprobs[s->n] = 0.0f;
        s->ids[s->n++] = ids[i];
    }
}

// The first occurrence of needle in the n bytes of hay, or -1.
static long bytes_find(const char* hay, size_t n, const char* needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; m > 0 && i + m <= n; i++) {
        if (memcmp(hay + i, needle, m) == 0) {
            return (long)i;
        }
    }
    return -1;
}

// Where the earliest stop string occurs in the completion's text, or -1; *len gets its length.
// Only text that the last token completed can hold a new occurrence (earlier steps found none), so
// only the tail is decoded: the last token's bytes plus, before them, as many tokens as it takes to
// cover the longest stop string.
static long generate_find_stop(const GenerateConfig* g, const Tokenizer* tok, const GenSeq* s, size_t* len) {
    size_t longest = 0, bytes = 0;
    for (int i = 0; i < g->n_stop; i++) {
        longest = strlen(g->stop[i]) > longest ? strlen(g->stop[i]) : longest;
    }
    int from = s->n - 1; // the tail starts at token `from`
    while (from > s->n_prompt && bytes < longest) {
        from--;
        bytes += token_visible(tok, s->ids[from], 1) ? (size_t)tok->token_len[s->ids[from]] : 0;
    }
    size_t n;
    char* text = tokenizer_decode(tok, s->ids + from, (size_t)(s->n - from), 1, &n);
    long best = -1;
    for (int i = 0; i < g->n_stop; i++) {
        long at = bytes_find(text, n, g->stop[i]);
        if (at >= 0 && (best < 0 || at < best)) {
            best = at, *len = strlen(g->stop[i]);
        }
    }
    free(text);
    return best;
}

// Budget forcing (s1), after a token was appended while thinking. Returns 1 when it rewrote the
// end of the completion (the tokens then go into the next step without stop checks).
//   - "</think>" (or eos) before min_think completion tokens: those tokens are taken back and "Wait"
//     goes in instead, so the model keeps thinking. Taking tokens back is only moving the sequence's
//     end: cached keys past it are overwritten by the next step.
//   - max_think completion tokens still thinking: "</think>" is put in, and the answer follows.
static int generate_budget(const GenerateConfig* g, GenSeq* s, int token) {
    int done = s->n - s->n_prompt; // completion tokens so far
    int ended = generate_ends_with(s, g->think_end_ids, g->n_think_end);
    int eos = generate_is_eos(g, token);
    if (ended || eos) {
        int drop = ended ? g->n_think_end : 1;
        if (done - drop < g->min_think) {
            s->n -= drop;
            s->fed = s->fed < s->n ? s->fed : s->n;
            generate_force(s, g->wait_ids, g->n_wait);
            return 1;
        }
        s->thinking = !ended;
        return 0;
    }
    if (g->max_think > 0 && done >= g->max_think) {
        generate_force(s, g->think_end_ids, g->n_think_end);
        s->thinking = 0;
        return 1;
    }
    return 0;
}

// Appends a sampled token (and its log-prob) to a sequence and applies the rules. Returns 1 when
// the sequence is finished, with *finish set.
static int generate_advance(const GenerateConfig* g, const Tokenizer* tok, GenSeq* s, int token, float lp,
                            int* finish) {
    s->logprobs[s->n] = lp;
    s->ids[s->n++] = token;
    int forced = s->thinking && (g->min_think > 0 || g->max_think > 0) ? generate_budget(g, s, token) : 0;
    size_t stop_len;
    if (!forced && (generate_is_eos(g, token) ||
                    (tok && g->n_stop > 0 && generate_find_stop(g, tok, s, &stop_len) >= 0))) {
        *finish = FINISH_STOP;
        return 1;
    }
    if (s->n - s->n_prompt >= s->budget) {
        s->n = s->n_prompt + s->budget; // forced tokens past the budget are dropped
        *finish = FINISH_LENGTH;
        return 1;
    }
    return 0;
}

// The finished sequence as a Completion (its own copies of tokens, log-probs and text).
static void generate_finish(const GenerateConfig* g, const Tokenizer* tok, const GenSeq* s, int finish,
                            Completion* c) {
    int n = s->n - s->n_prompt;
    c->n_tokens = n;
    c->finish = finish;
    c->tokens = (int*)malloc_check((size_t)(n > 0 ? n : 1) * sizeof(int));
    c->logprobs = (float*)malloc_check((size_t)(n > 0 ? n : 1) * sizeof(float));
    memcpy(c->tokens, s->ids + s->n_prompt, (size_t)n * sizeof(int));
    memcpy(c->logprobs, s->logprobs + s->n_prompt, (size_t)n * sizeof(float));
    c->text = NULL;
    c->text_len = 0;
    if (tok == NULL) {
        return;
    }
    size_t len, clean_len;
    char* text = tokenizer_decode(tok, c->tokens, (size_t)n, 1, &len);
    long at = -1; // the earliest stop string; what follows it (in the same token) is dropped
    size_t stop_len = 0;
    for (int i = 0; i < g->n_stop && finish == FINISH_STOP; i++) {
        long where = bytes_find(text, len, g->stop[i]);
        if (where >= 0 && (at < 0 || where < at)) {
            at = where, stop_len = strlen(g->stop[i]);
        }
    }
    if (at >= 0) {
        len = (size_t)at + (g->strip_stop ? 0 : stop_len);
        text[len] = '\0';
    }
    char* clean = utf8_sanitize(text, len, &clean_len);
    if (clean) {
        free(text);
        text = clean;
    }
    c->text = text;
    c->text_len = clean ? clean_len : len;
}

static void completion_free(Completion* c) {
    free(c->tokens), free(c->logprobs), free(c->text);
    memset(c, 0, sizeof(*c));
}

// Puts completion `job` (= prompt * samples + sample) into a free slot.
static void generate_start(const GenerateConfig* g, GenSeq* s, int job, int samples, int* const* prompts,
                           const int* prompt_lens, int context) {
    s->prompt = job / samples;
    s->sample = job % samples;
    s->n_prompt = s->n = prompt_lens[s->prompt];
    memcpy(s->ids, prompts[s->prompt], (size_t)s->n * sizeof(int));
    s->fed = 0;
    s->streamed = s->n;
    s->budget = g->max_new_tokens < context - s->n ? g->max_new_tokens : context - s->n;
    s->thinking = 1;
    s->rng = generate_stream(g->seed, s->prompt, s->sample);
}

// Chooses the work of the next step: each slot with a single token waiting (the sampled one) first,
// then the waiting prompts, cut to fit step_tokens. Returns the number of sequences in the step.
static int generate_plan(GenSeq* seqs, int slots, int step_tokens, int* ids, int* seq_slot, int* n_new) {
    int nseq = 0, N = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int sl = 0; sl < slots; sl++) {
            GenSeq* s = &seqs[sl];
            int waiting = s->prompt >= 0 ? s->n - s->fed : 0;
            if (waiting == 0 || (pass == 0) != (waiting == 1)) {
                continue;
            }
            int take = waiting < step_tokens - N ? waiting : step_tokens - N;
            if (take <= 0) {
                continue;
            }
            memcpy(ids + N, s->ids + s->fed, (size_t)take * sizeof(int));
            seq_slot[nseq] = sl;
            n_new[nseq++] = take;
            N += take;
        }
    }
    return nseq;
}

// --- the engine: one step of the model, and the next token of each finished input --------------
// generate_batch_engine (below) is the scheduler: which tokens go into a step, the stop rules, budget
// forcing, streaming. Behind it an engine runs the model: one step over the waiting tokens of some
// slots, then a token sampled for each sequence whose input is all in. r1.h's engine is
// qwen2_forward_cached + sample_token_coin on the CPU; generate.cu's runs the same step on the GPU.
// The scheduler draws each token's coin from the sequence's own random stream (random_f32, only when
// sampling, as sample_token does), so both engines are fed the same coins and draw the same tokens.

typedef struct GenEngine {
    void* ctx;
    // before a run: room for `slots` sequences of up to max_len tokens and for max_tokens new tokens in
    // one step (max_tokens >= slots), sampled with `sampling` for the whole run
    void (*begin)(void* ctx, int slots, int max_len, int max_tokens, const SamplingConfig* sampling);
    // one step: sequence i (of nseq) appends n_new[i] tokens (ids holds them all, sequence after
    // sequence) to slot seq_slot[i], whose cache holds slot_len[i] tokens before the step (anything
    // cached past that is stale: budget forcing took those tokens back). Where want[i] is 1, tokens[i]
    // gets the token sampled with coins[i] from the logits after the sequence's last new token, with
    // context[i][0..context_len[i]) (prompt and completion, this step's tokens included) for the
    // repetition penalty, and logprobs[i] its log-prob (sample_token_coin's); elsewhere both are unused.
    void (*step)(void* ctx, const int* ids, const int* seq_slot, const int* n_new, const int* slot_len, int nseq,
                 const int* want, const float* coins, const int* const* context, const int* context_len,
                 int* tokens, float* logprobs);
    void (*end)(void* ctx); // after a run (may keep its memory for the next)
} GenEngine;

// The CPU engine: r1.h's KV cache and sampler.
typedef struct {
    Qwen2* m;
    KVCache kv;
    Sampler smp;
    SamplingConfig sampling;
} CpuEngine;

static void cpu_engine_begin(void* ctx, int slots, int max_len, int max_tokens, const SamplingConfig* sampling) {
    CpuEngine* e = (CpuEngine*)ctx;
    kvcache_init(&e->kv, &e->m->config, slots, max_len); // (per-token scratch grows on demand)
    sampler_init(&e->smp, e->m->config.vocab_size);
    e->sampling = *sampling;
}

static void cpu_engine_step(void* ctx, const int* ids, const int* seq_slot, const int* n_new, const int* slot_len,
                            int nseq, const int* want, const float* coins, const int* const* context,
                            const int* context_len, int* tokens, float* logprobs) {
    CpuEngine* e = (CpuEngine*)ctx;
    for (int i = 0; i < nseq; i++) {
        e->kv.len[seq_slot[i]] = slot_len[i];
    }
    qwen2_forward_cached(e->m, &e->kv, ids, seq_slot, n_new, nseq);
    for (int i = 0; i < nseq; i++) {
        if (want[i]) {
            const float* logits = e->kv.logits + (size_t)i * e->m->config.vocab_size;
            tokens[i] = sample_token_coin(&e->smp, logits, &e->sampling, context[i], context_len[i], coins[i],
                                          &logprobs[i]);
        }
    }
}

static void cpu_engine_end(void* ctx) {
    CpuEngine* e = (CpuEngine*)ctx;
    sampler_free(&e->smp);
    kvcache_free(&e->kv);
}

// Generates `samples` completions for each of n_prompts prompts (token ids) with engine e; out[i *
// samples + k] gets completion k of prompt i (free each with completion_free). tok may be NULL (no
// text, no stop strings). The loop: fill the free slots with the next completions, run one step of the
// model over every slot's waiting tokens, sample where a sequence's input is all in, retire the finished.
// Sample k of prompt i is reproducible from (seed, i, k); with greedy decoding the output does not
// depend on the number of slots (up to the rounding of batched matmuls; tested equal on the fixtures).
static void generate_batch_engine(const GenEngine* e, const Qwen2Config* c, const Tokenizer* tok, int** prompts,
                                  const int* prompt_lens, int n_prompts, int samples, const GenerateConfig* cfg,
                                  Completion* out) {
    int total = n_prompts * samples;
    if (total <= 0) {
        return;
    }
    if (cfg->max_new_tokens < 1) {
        fatal("generate: max_new_tokens is %d; it must be at least 1", cfg->max_new_tokens);
    }
    int context = cfg->max_len > 0 ? cfg->max_len : c->max_position_embeddings, longest = 0;
    for (int i = 0; i < n_prompts; i++) {
        if (prompt_lens[i] < 1) {
            fatal("generate: prompt %d is empty (a completion needs at least one token to follow)", i);
        }
        if (prompt_lens[i] >= context) {
            fatal("generate: prompt %d has %d tokens, but the context holds %d (max_position_embeddings or "
                  "--max-len), leaving no room for a completion; shorten the prompt", i, prompt_lens[i], context);
        }
        for (int j = 0; j < prompt_lens[i]; j++) {
            if (prompts[i][j] < 0 || prompts[i][j] >= c->vocab_size) {
                fatal("generate: prompt %d: token id %d is outside the vocabulary [0, %d)", i, prompts[i][j],
                      c->vocab_size);
            }
        }
        longest = prompt_lens[i] > longest ? prompt_lens[i] : longest;
    }
    for (int i = 0; i < cfg->n_eos; i++) {
        if (cfg->eos_ids[i] < 0 || cfg->eos_ids[i] >= c->vocab_size) {
            fatal("generate: stop token id %d is outside the vocabulary [0, %d)", cfg->eos_ids[i], c->vocab_size);
        }
    }
    int max_len = longest + cfg->max_new_tokens < context ? longest + cfg->max_new_tokens : context;
    int slots = cfg->slots > 0 ? cfg->slots : 8;
    slots = slots < total ? slots : total;
    int step_tokens = cfg->step_tokens > 0 ? cfg->step_tokens : 512;
    step_tokens = step_tokens > slots ? step_tokens : slots; // every decoding slot fits in a step
    e->begin(e->ctx, slots, max_len, step_tokens, &cfg->sampling);
    GenSeq* seqs = (GenSeq*)calloc_check((size_t)slots, sizeof(GenSeq));
    for (int sl = 0; sl < slots; sl++) {
        seqs[sl].prompt = -1;
        seqs[sl].ids = (int*)malloc_check((size_t)(max_len + GEN_MAX_IDS + 1) * sizeof(int));
        seqs[sl].logprobs = (float*)malloc_check((size_t)(max_len + GEN_MAX_IDS + 1) * sizeof(float));
    }
    int* ids = (int*)malloc_check((size_t)step_tokens * sizeof(int));
    int* seq_slot = (int*)malloc_check((size_t)slots * sizeof(int));
    int* n_new = (int*)malloc_check((size_t)slots * sizeof(int));
    int* slot_len = (int*)malloc_check((size_t)slots * sizeof(int));
    int* want = (int*)malloc_check((size_t)slots * sizeof(int));
    float* coins = (float*)malloc_check((size_t)slots * sizeof(float));
    const int** ctx_ids = (const int**)malloc_check((size_t)slots * sizeof(int*));
    int* ctx_len = (int*)malloc_check((size_t)slots * sizeof(int));
    int* tokens = (int*)malloc_check((size_t)slots * sizeof(int));
    float* logprobs = (float*)malloc_check((size_t)slots * sizeof(float));
    for (int next = 0;;) {
        for (int sl = 0; sl < slots && next < total; sl++) { // free slots take the next completions
            if (seqs[sl].prompt < 0) {
                generate_start(cfg, &seqs[sl], next++, samples, prompts, prompt_lens, context);
            }
        }
        int nseq = generate_plan(seqs, slots, step_tokens, ids, seq_slot, n_new);
        if (nseq == 0) {
            break; // every slot is free and no completion is left
        }
        for (int i = 0; i < nseq; i++) {
            GenSeq* s = &seqs[seq_slot[i]];
            slot_len[i] = s->fed; // (budget forcing may have moved it back)
            want[i] = s->fed + n_new[i] == s->n; // else part of a prompt: its logits predict tokens we have
            coins[i] = want[i] ? sample_coin(&cfg->sampling, &s->rng) : 0.0f;
            ctx_ids[i] = s->ids;
            ctx_len[i] = s->n;
            tokens[i] = -1, logprobs[i] = 0.0f;
        }
        e->step(e->ctx, ids, seq_slot, n_new, slot_len, nseq, want, coins, ctx_ids, ctx_len, tokens, logprobs);
        for (int i = 0; i < nseq; i++) {
            GenSeq* s = &seqs[seq_slot[i]];
            s->fed += n_new[i];
            int finish;
            if (!want[i]) {
                continue;
            }
            if (tokens[i] < 0 || tokens[i] >= c->vocab_size) {
                fatal("generate: the engine sampled token id %d, outside the vocabulary [0, %d)", tokens[i],
                      c->vocab_size);
            }
            int done = generate_advance(cfg, tok, s, tokens[i], logprobs[i], &finish);
            for (; cfg->on_token && s->streamed < s->n; s->streamed++) {
                cfg->on_token(cfg->user, s->prompt, s->sample, s->ids[s->streamed]);
            }
            s->streamed = s->streamed < s->n ? s->streamed : s->n;
            if (done) {
                Completion* o = &out[(size_t)s->prompt * samples + s->sample];
                generate_finish(cfg, tok, s, finish, o);
                if (cfg->on_done) {
                    cfg->on_done(cfg->user, s->prompt, s->sample, o);
                }
                s->prompt = -1;
            }
        }
    }
    for (int sl = 0; sl < slots; sl++) {
        free(seqs[sl].ids), free(seqs[sl].logprobs);
    }
    free(seqs), free(ids), free(seq_slot), free(n_new), free(slot_len), free(want), free(coins);
    free(ctx_ids), free(ctx_len), free(tokens), free(logprobs);
    e->end(e->ctx);
}

// generate_batch_engine on the CPU engine.
static void generate_batch(Qwen2* m, const Tokenizer* tok, int** prompts, const int* prompt_lens, int n_prompts,
                           int samples, const GenerateConfig* cfg, Completion* out) {
    CpuEngine ce;
    memset(&ce, 0, sizeof(ce));
    ce.m = m;
    GenEngine e = {&ce, cpu_engine_begin, cpu_engine_step, cpu_engine_end};
    generate_batch_engine(&e, &m->config, tok, prompts, prompt_lens, n_prompts, samples, cfg, out);
}
// ----------------------------------------------------------------------------
// rewards: the answer checker
// R1's accuracy reward and every math benchmark ask one question: does the final answer of a
// completion equal the gold answer? The recipe answers it with Hugging Face Math-Verify, set up as
// open-r1's accuracy_reward: the gold is read with Math-Verify's default settings, the completion
// with LaTeX only, \boxed{} first, and only behind an anchor ("final answer is $x$",
// "answer: $x$", "answer ... $x$"): a bare number in running text is not an answer. This section
// does the same in C, in four steps, each a mirror of a Math-Verify step:
//   1. find the answer text in the completion (answer_find), as math_verify.parser does;
//   2. normalise it (ans_normalize), as latex2sympy2_extended's normalize_latex does: \left/\right,
//      \dfrac, units, \text{ cm}, dollars, "1{,}234", ...;
//   3. parse it into a small value (answer_parse): a number or expression tree, a tuple, a set, an
//      interval, a union of intervals, a matrix or an equation, as latex2sympy does into sympy;
//   4. compare gold and answer (ans_value_equal) with Math-Verify's rules: integers exactly, a decimal
//      against anything rounded to 6 places, expressions numerically at random points, a set's
//      order ignored but a tuple's kept, "x = 5" against 5 by its right-hand side.
// Where open-r1's extractor finds nothing we also read three plain-text forms it ignores: the last
// <answer>...</answer>, a GSM8K "#### 42" line and "the answer is 42" (then judged as if boxed).
// tests/test_answer.c checks this against Math-Verify's own verdicts on 6,301 (completion, gold)
// pairs made from the real GSM8K/MATH/AIME/AMC gold answers, worked solutions and R1 outputs
// (dev/oracle/answer_oracle.py), and prints every disagreement. Two known ones are Math-Verify
// quirks we do not copy: when a gold answer is not parseable LaTeX (a matrix with \phantom, a
// broken "\frac\pi 2"), Math-Verify falls back to the last plain number inside it and would
// reward "\boxed{-1}" for a 2x2 matrix; we compare such golds as text only.
// It is not all of sympy: complex arithmetic (i is a variable here), solving equations ("2x = 10"
// against "x = 5"), calculus and anything else we cannot parse fall back to comparing the
// normalised strings, which is also Math-Verify's last resort. Numbers beyond a double's range
// (2^{4950}) are never equal unless written identically.
// Nothing here keeps state between calls, so rewards can be computed from several threads.
// Every step is linear or bounded: no regex engine, a parse depth limit, and answers are cut at
// ANSWER_MAX bytes, so hostile completions (10,000 nested braces, megabytes of "$") return quickly.

#define ANSWER_MAX 2048  // longest answer text we judge, in bytes (longer ones are cut)
#define ANSWER_DEPTH 48  // nesting limit of the expression parser
#define ANSWER_NODES 512 // expression nodes per answer
#define ANS_PI 3.14159265358979323846
#define ANS_E 2.71828182845904523536

static int ans_starts(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int ans_starts_ci(const char* s, const char* prefix) {
    for (; *prefix; s++, prefix++) {
        if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix)) {
            return 0;
        }
    }
    return 1;
}

static int ans_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Trims spaces at both ends, in place.
static void ans_strip(StrBuf* a) {
    size_t i = 0;
    while (i < a->len && ans_space(a->s[i])) {
        i++;
    }
    size_t j = a->len;
    while (j > i && ans_space(a->s[j - 1])) {
        j--;
    }
    memmove(a->s, a->s + i, j - i);
    a->len = j - i;
    a->s[a->len] = '\0';
}

// ----------------------------------------------------------------------------
// step 1: finding the answer in a completion
// \boxed{...} wins whenever the completion has one (open-r1 gives it priority 0). Of several boxes
// the last one counts, joined with the boxes just before it when they are close (under 10 bytes
// apart, or under 70 with a separator such as "and" or ","), as Math-Verify's extract_boxed_content.

// The closing brace of the group opening at text[open] (a '{'), not past max; -1 if none.
static long ans_match_brace(const char* text, size_t open, size_t max) {
    int depth = 1;
    for (size_t i = open + 1; i < max; i++) {
        if (text[i] == '{') {
            depth++;
        } else if (text[i] == '}' && --depth == 0) {
            return (long)i;
        }
    }
    return -1;
}

// The last "\boxed" or "\fbox" starting before end; -1 if none. *cmd_len gets its length.
static long ans_last_box(const char* text, size_t end, size_t* cmd_len) {
    for (size_t i = end; i-- > 0;) {
        if (text[i] == '\\' && (ans_starts(text + i, "\\boxed") || ans_starts(text + i, "\\fbox"))) {
            *cmd_len = text[i + 1] == 'b' ? 6 : 5;
            return (long)i;
        }
    }
    return -1;
}

static int ans_has_separator(const char* s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ',' || s[i] == ';') {
            return 1;
        }
        int word_start = i == 0 || !isalnum((unsigned char)s[i - 1]);
        if (word_start && (ans_starts(s + i, "and") || ans_starts(s + i, "or"))) {
            size_t k = i + (s[i] == 'a' ? 3 : 2);
            if (k >= n || !isalnum((unsigned char)s[k])) {
                return 1;
            }
        }
    }
    return 0;
}

// Math-Verify's extract_boxed_content(text, mode): last == 1 keeps only the last box (and the
// close ones before it), last == 0 joins every box. Text without a box is returned as it is.
static void ans_unbox(const char* text, size_t n, int last, StrBuf* out) {
    size_t found = 0, max = n, pos = n;
    char* results[16];
    size_t lens[16];
    long last_start = -1;
    while (found < 16) {
        size_t cmd;
        long start = ans_last_box(text, pos, &cmd);
        if (start < 0) {
            break;
        }
        size_t b = (size_t)start + cmd;
        while (b < max && ans_space(text[b])) {
            b++;
        }
        if (b >= max) {
            break;
        }
        long close = text[b] == '{' ? ans_match_brace(text, b, max) : -1;
        if (close < 0) { // an unclosed box (or "\boxed 5"): it is the answer only if it is the last one
            if (found == 0) {
                results[found] = (char*)text + b, lens[found++] = max - b;
            }
            break;
        }
        const char* c = text + b + 1;
        size_t cn = (size_t)close - b - 1;
        while (cn > 0 && ans_space(*c)) {
            c++, cn--;
        }
        while (cn > 0 && ans_space(c[cn - 1])) {
            cn--;
        }
        if (last && last_start >= 0) {
            const char* between = text + close + 1;
            size_t bn = (size_t)last_start > (size_t)close + 1 ? (size_t)last_start - (size_t)close - 1 : 0;
            int same = lens[found - 1] == cn && memcmp(results[found - 1], c, cn) == 0;
            if (!(bn < 10 || (!same && bn < 70 && ans_has_separator(between, bn)))) {
                break;
            }
        }
        if (found == 0 || lens[found - 1] != cn || memcmp(results[found - 1], c, cn) != 0) {
            results[found] = (char*)c, lens[found++] = cn;
        }
        last_start = start;
        max = (size_t)start;
        pos = (size_t)start;
    }
    out->len = 0;
    out->s[0] = '\0';
    if (found == 0) {
        sb_append(out, text, n);
        return;
    }
    for (size_t i = found; i-- > 0;) {
        sb_append(out, results[i], lens[i]);
        if (i > 0) {
            sb_append(out, ",", 1);
        }
    }
}

// Without a box, the answer is LaTeX math right after an anchor. These are the math environments
// Math-Verify accepts there: $$..$$, \[..\], $..$ (one line), \(..\), " [..] " and a bare
// \frac{1}{2}; each may be followed by a percent sign.
typedef struct {
    size_t content, content_len, end; // where the math is, and where the match ends
    int percent;
    int n_more;                        // "$1$ and $2$": up to 5 more environments joined on
    size_t more[5], more_len[5];
} AnsEnv;

// Finds the first occurrence of the two-byte closer at or after from; memoised per closer so a
// completion of a million "\[" is still scanned once (the answer is the same for every later start
// until the found closer is passed).
typedef struct {
    long from, at;
} AnsScan;

static long ans_find2(const char* text, size_t n, size_t from, const char* closer, AnsScan* memo) {
    if (memo->from >= 0 && (long)from >= memo->from && (memo->at < 0 || memo->at >= (long)from)) {
        return memo->at;
    }
    long at = -1;
    for (size_t i = from; i + 1 < n; i++) {
        if (text[i] == closer[0] && text[i + 1] == closer[1] && (i == 0 || text[i - 1] != '\\')) {
            at = (long)i;
            break;
        }
    }
    memo->from = (long)from;
    memo->at = at;
    return at;
}

static int ans_simple_number(const char* s, size_t n, size_t* len) { // -?\d+(?:[.,]\d+)?
    size_t i = 0;
    if (i < n && s[i] == '-') {
        i++;
    }
    size_t d = i;
    while (i < n && isdigit((unsigned char)s[i])) {
        i++;
    }
    if (i == d) {
        return 0;
    }
    if (i + 1 < n && (s[i] == '.' || s[i] == ',') && isdigit((unsigned char)s[i + 1])) {
        i++;
        while (i < n && isdigit((unsigned char)s[i])) {
            i++;
        }
    }
    *len = i;
    return 1;
}

static int ans_env_at(const char* text, size_t n, size_t p, AnsEnv* env, AnsScan memo[4]) {
    size_t cs = 0, ce = 0, end = 0;
    int ok = 0;
    if (p + 1 < n && text[p] == '$' && text[p + 1] == '$' && (p == 0 || text[p - 1] != '\\')) {
        long c = p + 3 <= n ? ans_find2(text, n, p + 3, "$$", &memo[0]) : -1;
        if (c >= 0) {
            cs = p + 2, ce = (size_t)c, end = (size_t)c + 2, ok = 1;
        }
    }
    if (!ok && text[p] == '\\' && p + 1 < n && text[p + 1] == '[' && (p == 0 || text[p - 1] != '\\')) {
        long c = ans_find2(text, n, p + 3, "\\]", &memo[1]);
        if (c >= 0) {
            cs = p + 2, ce = (size_t)c, end = (size_t)c + 2, ok = 1;
        }
    }
    if (!ok && text[p] == '$' && (p == 0 || (text[p - 1] != '\\' && !isdigit((unsigned char)text[p - 1])))) {
        size_t i = p + 1; // one line, "\$" allowed inside
        while (i < n && text[i] != '\n' && !(text[i] == '$' && i > p + 1 && text[i - 1] != '\\')) {
            i += (text[i] == '\\' && i + 1 < n && text[i + 1] == '$') ? 2 : 1;
            if (i - p > ANSWER_MAX) {
                break;
            }
        }
        if (i < n && text[i] == '$' && i > p + 1) {
            cs = p + 1, ce = i, end = i + 1, ok = 1;
        }
    }
    if (!ok && text[p] == '\\' && p + 1 < n && text[p + 1] == '(' && (p == 0 || text[p - 1] != '\\')) {
        long c = ans_find2(text, n, p + 3, "\\)", &memo[2]);
        if (c >= 0 && memchr(text + p, '\n', (size_t)c - p) == NULL) {
            cs = p + 2, ce = (size_t)c, end = (size_t)c + 2, ok = 1;
        }
    }
    if (!ok && ans_space(text[p]) && p + 1 < n && text[p + 1] == '[') {
        size_t i = p + 2;
        while (i < n && text[i] != '\n' && text[i] != ']' && text[i] != '[' && i - p < ANSWER_MAX) {
            i++;
        }
        if (i < n && text[i] == ']' && i > p + 2 && i + 1 < n && ans_space(text[i + 1])) {
            cs = p + 2, ce = i, end = i + 2, ok = 1;
        }
    }
    if (!ok) { // -?\frac{number}{number}
        size_t i = p + (text[p] == '-');
        size_t a, b;
        if (ans_starts(text + i, "\\frac{") && ans_simple_number(text + i + 6, n - i - 6, &a) &&
            text[i + 6 + a] == '}' && text[i + 7 + a] == '{' &&
            ans_simple_number(text + i + 8 + a, n - i - 8 - a, &b) && text[i + 8 + a + b] == '}') {
            cs = p, ce = i + 9 + a + b, end = ce, ok = 1;
        }
    }
    if (!ok) {
        return 0;
    }
    env->content = cs, env->content_len = ce - cs, env->end = end, env->percent = 0;
    size_t q = end;
    while (q < n && ans_space(text[q])) {
        q++;
    }
    static const char* pct[] = {"\\%", "%", "percentage", "Percentage", "percent", "Percent", "pct", "Pct"};
    for (int k = 0; k < 8; k++) {
        if (ans_starts(text + q, pct[k])) {
            env->percent = 1;
            env->end = q + strlen(pct[k]);
            break;
        }
    }
    return 1;
}

// One of Math-Verify's anchored patterns, all matches left to right (as re.finditer); keeps the one
// ending last. kind 0: "final answer.{0,100}?\s+is:?\s*ENV"; 1: "answer:.{0,50}?ENV";
// 2: "answer.{0,50}?ENV". The anchor words are matched ignoring case, "is" is not.
static int ans_anchored(const char* text, size_t n, int kind, AnsEnv* best) {
    const char* word = kind == 0 ? "final answer" : kind == 1 ? "answer:" : "answer";
    size_t wl = strlen(word), reach = kind == 0 ? 100 : 50;
    AnsScan memo[4] = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    int found = 0;
    for (size_t i = 0; i + wl <= n;) {
        if (!ans_starts_ci(text + i, word)) {
            i++;
            continue;
        }
        size_t start = i + wl;
        int hit = 0;
        for (size_t j = 0; j <= reach && start + j < n && !hit; j++) {
            size_t p = start + j;
            if (kind == 0) {
                if (!ans_space(text[p])) {
                    continue;
                }
                while (p < n && ans_space(text[p])) {
                    p++;
                }
                if (!ans_starts(text + p, "is")) {
                    continue;
                }
                p += 2;
                if (p < n && text[p] == ':') {
                    p++;
                }
                while (p < n && ans_space(text[p])) {
                    p++;
                }
                if (p >= n) {
                    continue;
                }
            }
            AnsEnv env;
            if (ans_env_at(text, n, p, &env, memo)) {
                env.n_more = 0;
                for (AnsEnv next; env.n_more < 5; env.n_more++) { // "\s*(,?and|,?or|,)\s*ENV"
                    size_t q = env.end;
                    while (q < n && ans_space(text[q])) {
                        q++;
                    }
                    size_t c = q < n && text[q] == ',' ? q + 1 : q;
                    if (ans_starts(text + c, "and")) {
                        q = c + 3;
                    } else if (ans_starts(text + c, "or")) {
                        q = c + 2;
                    } else if (c > q) {
                        q = c;
                    } else {
                        break;
                    }
                    while (q < n && ans_space(text[q])) {
                        q++;
                    }
                    if (q >= n || !ans_env_at(text, n, q, &next, memo)) {
                        break;
                    }
                    env.more[env.n_more] = next.content, env.more_len[env.n_more] = next.content_len;
                    env.end = next.end;
                }
                *best = env;
                found = hit = 1;
                i = env.end;
            }
        }
        if (!hit) {
            i++;
        }
    }
    return found;
}

// The plain-text forms open-r1 does not read (the fallback): the last <answer>...</answer>, else
// the last "#### X" line (commas dropped, as GSM8K's grader), else the last "the answer is X" up to
// the end of its line (a final period dropped). Returns 1 and the text in out, or 0.
static int ans_fallback(const char* text, size_t n, StrBuf* out) {
    long best_s = -1, best_e = -1;
    for (const char* p = text; (p = strstr(p, "<answer>")) != NULL; p++) {
        const char* e = strstr(p + 8, "</answer>");
        if (e == NULL) {
            break;
        }
        best_s = p + 8 - text, best_e = e - text;
        p = e;
    }
    if (best_s >= 0) {
        sb_set(out, text + best_s, (size_t)(best_e - best_s));
        ans_strip(out);
        return 1;
    }
    for (size_t i = 0; i + 4 < n; i++) { // "#### X" at the start of a line
        if ((i == 0 || text[i - 1] == '\n') && ans_starts(text + i, "####")) {
            size_t s = i + 4, e = s;
            while (s < n && text[s] == ' ') {
                s++;
            }
            for (e = s; e < n && text[e] != '\n'; e++) {
            }
            if (e > s) {
                out->len = 0;
                for (size_t k = s; k < e; k++) {
                    if (text[k] != ',') {
                        sb_append(out, text + k, 1);
                    }
                }
                ans_strip(out);
                best_s = 1;
            }
        }
    }
    if (best_s >= 0) {
        return out->len > 0;
    }
    for (size_t i = 0; i + 13 <= n; i++) {
        if (ans_starts_ci(text + i, "the answer is")) {
            size_t s = i + 13, e;
            if (s < n && text[s] == ':') {
                s++;
            }
            while (s < n && text[s] == ' ') {
                s++;
            }
            for (e = s; e < n && text[e] != '\n'; e++) {
            }
            if (e > s) {
                best_s = (long)s, best_e = (long)e;
            }
            i = e; // the match runs to the end of its line (re.finditer does not overlap)
        }
    }
    if (best_s < 0) {
        return 0;
    }
    sb_set(out, text + best_s, (size_t)(best_e - best_s));
    ans_strip(out);
    if (out->len > 0 && out->s[out->len - 1] == '.') {
        out->s[--out->len] = '\0';
        ans_strip(out);
    }
    return out->len > 0;
}

// What answer_find found: the answer text (boxes already opened) and whether a percent sign
// followed it. Returns 0 when the completion has no answer at all.
static int answer_find(const char* text, StrBuf* out, int* percent, int fallback) {
    size_t n = strlen(text);
    *percent = 0;
    const char* box = strstr(text, "\\boxed{");
    const char* last_close = strrchr(text, '}');
    if (box && last_close && last_close >= box + 8) { // "\boxed{.+}" from the first box to the last '}'
        ans_unbox(box, (size_t)(last_close - box) + 1, 1, out);
        return 1;
    }
    AnsEnv env;
    for (int kind = 0; kind < 3; kind++) {
        if (ans_anchored(text, n, kind, &env)) {
            ans_unbox(text + env.content, env.content_len, 0, out);
            *percent = env.percent && env.n_more == 0;
            StrBuf more;
            sb_init(&more);
            for (int k = 0; k < env.n_more; k++) { // several answers: Math-Verify makes them one set
                ans_unbox(text + env.more[k], env.more_len[k], 0, &more);
                sb_append(out, ",", 1);
                sb_append(out, more.s, more.len);
            }
            free(more.s);
            return 1;
        }
    }
    if (!fallback) {
        return 0;
    }
    StrBuf fb;
    sb_init(&fb);
    int ok = 0;
    if (ans_fallback(text, n, &fb)) { // judged as if it were written \boxed{X}
        StrBuf boxed;
        sb_init(&boxed);
        sb_append(&boxed, "\\boxed{", 7);
        sb_append(&boxed, fb.s, fb.len);
        sb_append(&boxed, "}", 1);
        ans_unbox(boxed.s, boxed.len, 1, out);
        free(boxed.s);
        ok = fb.len > 0;
    }
    free(fb.s);
    return ok;
}

// ----------------------------------------------------------------------------
// step 2: normalising the answer text
// latex2sympy2_extended's normalize_latex, step by step and in its order. The gold answer gets
// Math-Verify's default settings (which also repair "\frac12", "\sqrt3", "5/3" and ".5"); the
// completion gets open-r1's (no repairs: a model must write well-formed LaTeX to be rewarded).

// \left( -> (, \right] -> ], ... (only before the delimiters Math-Verify lists)
static size_t ans_left_right(const char* s) {
    static const char* delims[] = {"\\{", "\\}", "{", "}", "\\|", "|", "[", "]", "(", ")", "\\rbracl", "\\lgroup",
                                   "\\rgroup", "\\lbrace", "\\rbrace", "\\lbrack", "\\rbrack", "\\vert", "\\lvert",
                                   "\\rvert", "\\lceil", "\\rceil", "\\lfloor", "\\rfloor", "\\langle", "\\rangle",
                                   "\\llcorner", "\\lrcorner", "\\ulcorner", "\\urcorner"};
    size_t k = ans_starts(s, "\\left") ? 5 : ans_starts(s, "\\mleft") ? 6 : ans_starts(s, "\\right") ? 6
             : ans_starts(s, "\\mright") ? 7 : 0;
    if (k == 0) {
        return 0;
    }
    for (size_t d = 0; d < sizeof(delims) / sizeof(delims[0]); d++) {
        if (ans_starts(s + k, delims[d])) {
            return k;
        }
    }
    return 0;
}

// Removes what Math-Verify's to_remove_regex removes: dollars, quotes, \displaystyle, \!, empty \text{}.
static size_t ans_removable(const char* s, size_t i) {
    const char* p = s + i;
    if (ans_starts(p, "\\mathrm{th}")) {
        return 11;
    }
    if (ans_starts(p, "\\!")) {
        size_t k = 2;
        while (ans_space(p[k])) {
            k++;
        }
        return k;
    }
    if (ans_starts(p, "\\text")) {
        size_t k = 5;
        while (ans_space(p[k])) {
            k++;
        }
        if (p[k] == '{') {
            k++;
            while (ans_space(p[k])) {
                k++;
            }
            if (p[k] == '}') {
                return k + 1;
            }
        }
    }
    if (ans_starts(p, "\\$")) {
        return 2;
    }
    if (*p == '$' || ((*p == '"' || *p == '\'') && (i == 0 || s[i - 1] != '\\'))) {
        return 1;
    }
    if (ans_starts(p, "\\displaystyle")) {
        return 13;
    }
    return 0;
}

static int ans_word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

// "\s*\bWORD\b" at s+i: returns the length matched, or 0.
static size_t ans_spaced_word(const char* s, size_t i, const char* word) {
    size_t k = i;
    while (ans_space(s[k])) {
        k++;
    }
    size_t wl = strlen(word);
    if ((k > 0 && ans_word_char(s[k - 1])) || !ans_starts(s + k, word) || ans_word_char(s[k + wl])) {
        return 0;
    }
    return k + wl - i;
}

// One step of Math-Verify's replace_in_latex: the first of its patterns that matches at s+i.
// Returns how many bytes it consumed (0: none matched) and appends the replacement to out.
static size_t ans_replace_at(const char* s, size_t i, StrBuf* out) {
    const char* p = s + i;
    size_t k;
    static const char* to_text[] = {"\\mathrm", "\\mathit", "\\mathbf", "\\textnormal", "\\textbf", "\\textit", "\\textrm"};
    for (int t = 0; t < 7; t++) {
        if (ans_starts(p, to_text[t])) {
            sb_append(out, "\\text", 5);
            return strlen(to_text[t]);
        }
    }
    if (ans_starts(p, "\\dfrac") || ans_starts(p, "\\tfrac") || ans_starts(p, "\\cfrac")) {
        sb_append(out, "\\frac", 5);
        return 6;
    }
    if (ans_space(p[0]) && p[1] == '.') {
        sb_append(out, " 0.", 3);
        return 2;
    }
    if (ans_starts(p, "{.")) {
        sb_append(out, "{0.", 3);
        return 2;
    }
    if (ans_starts(p, "~=")) {
        sb_append(out, "\\approx", 7);
        return 2;
    }
    for (k = 0; ans_space(p[k]); k++) {
    }
    if (p[k] == '{') { // "{,}" -> ","
        size_t m = k + 1;
        while (ans_space(p[m])) {
            m++;
        }
        if (p[m] == ',') {
            m++;
            while (ans_space(p[m])) {
                m++;
            }
            if (p[m] == '}') {
                sb_append(out, ",", 1);
                return m + 1;
            }
        }
    }
    if (i == 0 || !isalpha((unsigned char)s[i - 1])) { // ",? and|or" as a word -> ","
        k = p[0] == ',' ? 1 : 0;
        while (ans_space(p[k])) {
            k++;
        }
        size_t w = ans_starts(p + k, "and") ? 3 : ans_starts(p + k, "or") ? 2 : 0;
        if (w && !isalpha((unsigned char)p[k + w])) {
            sb_append(out, ",", 1);
            return k + w;
        }
    }
    k = p[0] == ',' ? 1 : 0; // ",? \text{ and }" -> ","
    while (ans_space(p[k])) {
        k++;
    }
    if (ans_starts(p + k, "\\text{")) {
        size_t m = k + 6;
        while (ans_space(p[m])) {
            m++;
        }
        size_t w = ans_starts(p + m, "and") ? 3 : ans_starts(p + m, "or") ? 2 : 0;
        if (w) {
            m += w;
            while (ans_space(p[m])) {
                m++;
            }
            if (p[m] == '}') {
                sb_append(out, ",", 1);
                return m + 1;
            }
        }
    }
    if (p[0] == '\\' && ans_space(p[1]) && (i == 0 || s[i - 1] != '\\')) {
        sb_append(out, " ", 1);
        return 2;
    }
    if (ans_starts(p, "infinity")) {
        sb_append(out, "\\infty", 6);
        return 8;
    }
    k = p[0] == ',' ? 1 : 0;
    if (ans_starts(p + k, "\\ldots")) {
        sb_append(out, " ", 1);
        return k + 6;
    }
    static const char* pct_words[] = {"percentage", "percent", "pct"};
    for (int t = 0; t < 3; t++) {
        if ((k = ans_spaced_word(s, i, pct_words[t])) > 0) {
            sb_append(out, "\\%", 2);
            return k;
        }
        char text[32];
        snprintf(text, sizeof(text), "\\text{%s}", pct_words[t]);
        if (ans_starts(p, text)) {
            sb_append(out, "%", 1);
            return strlen(text);
        }
    }
    if (ans_starts(p, "inf") && !ans_starts(p, "infinity") && (i == 0 || s[i - 1] != '\\')) {
        sb_append(out, "\\infty", 6);
        return 3;
    }
    if (ans_starts(p, " sqrt")) {
        sb_append(out, "\\sqrt", 5);
        return 5;
    }
    return 0;
}

// Math-Verify's basic_latex group: \left/\right, removals, replacements, newlines, "\\frac" -> "\frac".
static void ans_basic_latex(StrBuf* a) {
    static const char* from[] = {"\\mathrm{T}", "\\mathrm{d}", "{\\rm d}"};
    static const char* to[] = {"T", "d", "d"};
    StrBuf b;
    sb_init(&b);
    for (size_t i = 0; i < a->len;) { // the plain replacements, then \left and \right
        int done = 0;
        for (int t = 0; t < 3 && !done; t++) {
            if (ans_starts(a->s + i, from[t])) {
                sb_append(&b, to[t], strlen(to[t]));
                i += strlen(from[t]);
                done = 1;
            }
        }
        if (!done) {
            size_t k = ans_left_right(a->s + i);
            i += k;
            if (k == 0) {
                sb_append(&b, a->s + i++, 1);
            }
        }
    }
    sb_set(a, b.s, b.len);
    b.len = 0;
    for (size_t i = 0; i < a->len;) {
        size_t k = ans_removable(a->s, i);
        i += k;
        if (k == 0) {
            sb_append(&b, a->s + i++, 1);
        }
    }
    sb_set(a, b.s, b.len);
    b.len = 0;
    for (size_t i = 0; i < a->len;) {
        size_t k = ans_replace_at(a->s, i, &b);
        i += k;
        if (k == 0) {
            char c = a->s[i++];
            sb_append(&b, c == '\n' || c == '\t' ? " " : &c, 1);
        }
    }
    sb_set(a, b.s, b.len);
    b.len = 0;
    if (strstr(a->s, "matrix") == NULL) { // "\\frac" -> "\frac"
        for (size_t i = 0; i < a->len; i++) {
            if (a->s[i] == '\\' && a->s[i + 1] == '\\' && isalpha((unsigned char)a->s[i + 2])) {
                continue;
            }
            sb_append(&b, a->s + i, 1);
        }
        sb_set(a, b.s, b.len);
    }
    free(b.s);
}

// The positions of the '=' signs that split an equation (not "\=", "<=", "!=", ">=").
static size_t ans_eq_parts(const char* s, size_t n, size_t* last_start) {
    size_t parts = 1;
    *last_start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=' && (i == 0 || !strchr("\\<!>", s[i - 1]))) {
            parts++;
            *last_start = i + 1;
        }
    }
    return parts;
}

// "a = b = c" -> "c" (only when there are no ',' or ';', so "a=1, b=2" stays whole)
static void ans_last_equation(StrBuf* a) {
    size_t last;
    if (strchr(a->s, ',') == NULL && strchr(a->s, ';') == NULL && ans_eq_parts(a->s, a->len, &last) > 2) {
        StrBuf t;
        sb_init(&t);
        sb_append(&t, a->s + last, a->len - last);
        sb_set(a, t.s, t.len);
        free(t.s);
    }
}

// Math-Verify's unit list, in its order (it is searched in this order; "integer" "point" is one
// word there too, by a missing comma in the original).
static const char* ans_units[] = {
    "integerpoint", "feet", "sue", "digit", "pound", "meal", "edge", "student", "children ticket", "multiple",
    "east", "degree", "mph", "kmph", "ft", "m square", " m east", "sq m", "deg", "mile", "q .", "monkey", "prime",
    "ratio", "profit of rs", "rd", "o", "gm", "p . m", "lb", "tile", "per", "dm", "lt", "gain", "ab", "way", "west",
    "a .", "b .", "c .", "d .", "e .", "f .", "g .", "h .", "t", "h", "no change", "men", "soldier", "pie", "bc",
    "excess", "st", "inches", "noon", "cent", "by", "gal", "kmh", "c", "acre", "rise", "a . m", "th",
    "\xcf\x80 r 2", "sq", "mark", "l", "toy", "coin", "sq . m", "gallon", "\xc2\xb0 f", "profit", "minw", "yr",
    "women", "am", "pm", "hr", "cu cm", "square", "v \xc3\xa2 \xe2\x82\xac \xe2\x84\xa2", "are", "rupee",
    "rounds", "cubic", "cc", "mtr", "s", "ohm", "number", "kmph", "day", "hour", "minute", "min", "second", "man",
    "woman", "sec", "cube", "mt", "sq inch", "mp", "\xe2\x88\x8f cm \xc2\xb3", "hectare", "more", "sec", "unit",
    "cu . m", "cm 2", "rs .", "rs", "kg", "g", "month", "km", "m", "cm", "mm", "apple", "liter", "loss", "yard",
    "pure", "year", "increase", "decrease", "d", "less", "Surface", "litre", "pi sq m", "s .", "metre", "meter",
    "inch"};

static int ans_only_space(const char* s) {
    while (ans_space(*s)) {
        s++;
    }
    return *s == '\0';
}

// Where a trailing unit word starts matching, as units_regex "(\d|\}|\s)\s*UNIT(s|es)?\s*$" would
// find it: returns the position p of the (\d|\}|\s) before it, or -1.
static long ans_unit_match(const char* s, size_t n) {
    for (size_t p = 0; p < n; p++) {
        if (!(isdigit((unsigned char)s[p]) || s[p] == '}' || ans_space(s[p]))) {
            continue;
        }
        size_t q1 = p + 1;
        while (q1 < n && ans_space(s[q1])) {
            q1++;
        }
        for (size_t k = q1 + 1; k-- > p + 1;) { // \s* is greedy, then gives back
            for (size_t u = 0; u < sizeof(ans_units) / sizeof(ans_units[0]); u++) {
                if (!ans_starts(s + k, ans_units[u])) {
                    continue;
                }
                size_t r = k + strlen(ans_units[u]);
                if ((s[r] == 's' && ans_only_space(s + r + 1)) || (ans_starts(s + r, "es") && ans_only_space(s + r + 2)) ||
                    ans_only_space(s + r)) {
                    return (long)p;
                }
            }
        }
    }
    return -1;
}

// Math-Verify's units group: a final \text{...} (with a ^2) goes, then a trailing unit word, twice.
static void ans_units_strip(StrBuf* a) {
    const char* t = NULL;
    for (const char* p = a->s; *p; p++) {
        if (ans_starts(p, "\\text{") || ans_starts(p, "\\mbox{")) {
            t = p;
            break;
        }
    }
    if (t) {
        size_t n = a->len, open = (size_t)(t - a->s) + 6; // past "\\text{" or "\\mbox{"
        int ends = (n > open && a->s[n - 1] == '}') ||
                   (n >= open + 3 && a->s[n - 3] == '}' && a->s[n - 2] == '^' && isdigit((unsigned char)a->s[n - 1])) ||
                   (n >= open + 5 && a->s[n - 5] == '}' && ans_starts(a->s + n - 4, "{^") &&
                    isdigit((unsigned char)a->s[n - 2]) && a->s[n - 1] == '}');
        if (ends) {
            StrBuf b;
            sb_init(&b);
            sb_append(&b, a->s, (size_t)(t - a->s));
            ans_strip(&b);
            if (b.len > 0) {
                sb_set(a, b.s, b.len);
            }
            free(b.s);
        }
    }
    for (int round = 0; round < 2; round++) {
        long p = ans_unit_match(a->s, a->len);
        if (p >= 0 && p + 1 < (long)a->len) {
            a->len = (size_t)p + 1;
            a->s[a->len] = '\0';
        }
    }
}

// Math-Verify's repairs of hand-written gold answers (malformed_operators; nits): "\frac12",
// "\frac{1}2", "\frac1{2}" -> "\frac{1}{2}", "\sqrt3" -> "\sqrt{3}", "5/3" -> "\frac{5}{3}",
// ".5" -> "0.5", "0.5" -> "\frac{1}{2}".
static void ans_repair(StrBuf* a) {
    StrBuf b;
    sb_init(&b);
    for (size_t i = 0; i < a->len;) {
        const char* p = a->s + i;
        size_t k = 0;
        if (ans_starts(p, "\\frac")) {
            k = 5 + (p[5] == ' ');
            if (isdigit((unsigned char)p[k])) { // \frac 5 9, \frac5{x}
                size_t m = k + 1 + (p[k + 1] == ' ');
                const char* close = p[m] == '{' ? strchr(p + m, '}') : NULL;
                if (close) {
                    sb_append(&b, "\\frac{", 6), sb_append(&b, p + k, 1), sb_append(&b, "}", 1);
                    sb_append(&b, p + m, (size_t)(close - p) + 1 - m);
                    i += (size_t)(close - p) + 1;
                    continue;
                }
                if (isdigit((unsigned char)p[m])) {
                    size_t e = m;
                    while (isdigit((unsigned char)p[e])) {
                        e++;
                    }
                    sb_append(&b, "\\frac{", 6), sb_append(&b, p + k, 1), sb_append(&b, "}{", 2);
                    sb_append(&b, p + m, e - m), sb_append(&b, "}", 1);
                    i += e;
                    continue;
                }
            } else if (p[k] == '{') { // \frac{x}5
                const char* close = strchr(p + k, '}');
                if (close) {
                    size_t m = (size_t)(close - p) + 1 + (close[1] == ' ');
                    if (isdigit((unsigned char)p[m])) {
                        sb_append(&b, "\\frac", 5), sb_append(&b, p + k, (size_t)(close - p) + 1 - k);
                        sb_append(&b, "{", 1), sb_append(&b, p + m, 1), sb_append(&b, "}", 1);
                        i += m + 1;
                        continue;
                    }
                }
            }
        }
        if (ans_starts(p, "\\sqrt")) {
            k = 5 + (p[5] == ' ');
            if (isdigit((unsigned char)p[k])) {
                sb_append(&b, "\\sqrt{", 6), sb_append(&b, p + k, 1), sb_append(&b, "}", 1);
                i += k + 1;
                continue;
            }
            if (p[k] && p[k] != '{' && p[k] != '[' && !ans_space(p[k])) { // \sqrt x
                sb_append(&b, "\\sqrt{", 6), sb_append(&b, p + k, 1), sb_append(&b, "}", 1);
                i += k + 1;
                continue;
            }
        }
        sb_append(&b, p, 1);
        i++;
    }
    sb_set(a, b.s, b.len);
    const char* slash = strchr(a->s, '/');
    if (slash && strchr(slash + 1, '/') == NULL) { // "a/b" of two plain integers
        char* e1;
        char* e2;
        long x = strtol(a->s, &e1, 10), y = strtol(slash + 1, &e2, 10);
        char canon[64];
        snprintf(canon, sizeof(canon), "%ld/%ld", x, y);
        if (e1 == slash && *e2 == '\0' && e1 != a->s && strcmp(canon, a->s) == 0) {
            snprintf(canon, sizeof(canon), "\\frac{%ld}{%ld}", x, y);
            sb_set(a, canon, strlen(canon));
        }
    }
    free(b.s);
}

// normalize_latex with Math-Verify's default settings (gold = 1) or open-r1's (gold = 0).
static void ans_normalize(StrBuf* a, int gold) {
    ans_basic_latex(a);
    if (!gold) {
        ans_last_equation(a); // open-r1 sets equations=True
    }
    ans_units_strip(a);
    if (gold) {
        if (a->s[0] == '.') {
            StrBuf t;
            sb_init(&t);
            sb_append(&t, "0", 1);
            sb_append(&t, a->s, a->len);
            sb_set(a, t.s, t.len);
            free(t.s);
        }
        if (strcmp(a->s, "0.5") == 0) {
            sb_set(a, "\\frac{1}{2}", 11);
        }
        ans_repair(a);
    }
    ans_strip(a);
}

// ----------------------------------------------------------------------------
// step 3: parsing an answer into a value
// A recursive-descent parser for the LaTeX that answers are written in (latex2sympy's job in
// Math-Verify): numbers, letters, \pi, e, \infty, + - * / ^, \cdot, \times, \frac, \sqrt, \sqrt[n],
// \binom, !, %, degrees, \text{}, functions (\sin, \ln, \log_b, ...), |x|, implicit products ("2x",
// "3\sqrt{2}") and mixed numbers ("2\frac{1}{2}" is 5/2). At the top it also reads tuples "(a, b, c)",
// sets "\{a, b\}" and bare lists "a, b" (sets, to Math-Verify), intervals "[a, b)", equations and
// inequalities "x = 5", and "a \pm b" (the set {a+b, a-b}). Anything else is a parse failure, and
// the answer is then compared as a normalised string only.

enum { AN_NUM, AN_SYM, AN_CONST, AN_ADD, AN_SUB, AN_MUL, AN_DIV, AN_POW, AN_NEG, AN_FUNC, AN_PCT, AN_FACT, AN_PM };

typedef struct {
    int op;        // AN_*
    int a, b;      // children (node indices), -1 when unused
    double v;      // AN_NUM: the value; AN_CONST: ANS_PI, ANS_E or INFINITY
    int is_float;  // AN_NUM: written with a decimal point (a sympy Float, compared to 6 places)
    int rational;  // AN_DIV / AN_ADD: a fraction of integers or a mixed number (a sympy Rational)
    char name[24]; // AN_SYM: the variable; AN_FUNC: the function
} ANode;

enum { AV_NONE, AV_EXPR, AV_SET, AV_TUPLE, AV_PAIR, AV_INTERVAL, AV_REL, AV_UNION, AV_MATRIX };
#define AV_ITEMS 32

typedef struct {
    int kind;             // AV_*: AV_PAIR is "(a, b)", an open interval or an ordered pair
    int n;                // number of items
    int item[AV_ITEMS];   // node indices: the elements; an interval's ends; a relation's two sides
    int sign[AV_ITEMS];   // for "a \pm b": which sign each item takes
    int left_open, right_open;
    int rel;              // AV_REL: '=', '<', '>', 'l' (<=), 'g' (>=), 'n' (!=)
    int lo[AV_ITEMS / 2], ro[AV_ITEMS / 2]; // AV_UNION: n intervals, items 2i and 2i+1, open ends
    int rows, cols;                         // AV_MATRIX: n = rows * cols items, row by row
} AValue;

// One parsed answer: its normalised text (what is compared when parsing fails) and its value.
typedef struct {
    StrBuf text;
    ANode nodes[ANSWER_NODES];
    int n_nodes;
    AValue v;
    int depth; // nesting of ans_parse_value ("((x = 1))", "x = (1, 2)"), kept small
} Answer;

typedef struct {
    Answer* ans;
    const char* s; // the text being parsed, and its end
    size_t pos, end;
    int depth, fail, pm;
    int thousands; // commas group digits ("1,234"): set when the whole answer is such a number
} AParser;

static int ap_node(AParser* p, int op, int a, int b) {
    if (p->ans->n_nodes >= ANSWER_NODES) {
        p->fail = 1;
        return 0;
    }
    ANode* nd = &p->ans->nodes[p->ans->n_nodes];
    memset(nd, 0, sizeof(*nd));
    nd->op = op, nd->a = a, nd->b = b;
    return p->ans->n_nodes++;
}

static void ap_space(AParser* p) { // spaces, and LaTeX's spacing commands
    for (;;) {
        const char* c = p->s + p->pos;
        if (p->pos < p->end && ans_space(*c)) { // ('~' is not read by latex2sympy: a parse failure)
            p->pos++;
        } else if (p->pos + 1 < p->end && c[0] == '\\' && strchr(",;: ", c[1])) {
            p->pos += 2;
        } else if (ans_starts(c, "\\qquad") && p->pos + 6 <= p->end) {
            p->pos += 6;
        } else if (ans_starts(c, "\\quad") && p->pos + 5 <= p->end) {
            p->pos += 5;
        } else {
            return;
        }
    }
}

static int ap_peek(AParser* p, const char* tok) { // the next token is tok (commands end at a non-letter)
    ap_space(p);
    size_t n = strlen(tok);
    if (p->pos + n > p->end || strncmp(p->s + p->pos, tok, n) != 0) {
        return 0;
    }
    return !(tok[0] == '\\' && isalpha((unsigned char)tok[n - 1]) && p->pos + n < p->end &&
             isalpha((unsigned char)p->s[p->pos + n]));
}

static int ap_eat(AParser* p, const char* tok) {
    if (ap_peek(p, tok)) {
        p->pos += strlen(tok);
        return 1;
    }
    return 0;
}

static int ap_sum(AParser* p);

// A LaTeX argument: "{...}", or (braces_only == 0) a single digit or letter. latex2sympy wants the
// braces of \frac and \sqrt ("\sqrt2" does not parse, so a model writing it is not rewarded), but
// reads "\sin x" and "\log_2 8".
static int ap_group(AParser* p, int braces_only) {
    ap_space(p);
    if (ap_eat(p, "{")) {
        int v = ap_sum(p);
        if (!ap_eat(p, "}")) {
            p->fail = 1;
        }
        return v;
    }
    if (braces_only) {
        p->fail = 1;
        return 0;
    }
    if (p->pos < p->end && isdigit((unsigned char)p->s[p->pos])) { // "\frac12" style: one digit
        int v = ap_node(p, AN_NUM, -1, -1);
        p->ans->nodes[v].v = p->s[p->pos++] - '0';
        return v;
    }
    if (p->pos < p->end && isalpha((unsigned char)p->s[p->pos])) {
        int v = ap_node(p, AN_SYM, -1, -1);
        p->ans->nodes[v].name[0] = (char)tolower((unsigned char)p->s[p->pos++]);
        if (p->ans->nodes[v].name[0] == 'e') {
            p->ans->nodes[v].op = AN_CONST, p->ans->nodes[v].v = ANS_E;
        }
        return v;
    }
    p->fail = 1;
    return 0;
}

static void ap_skip_subscript(AParser* p, char* name, size_t cap) { // "_6", "_{10}": appended to name
    if (p->pos < p->end && p->s[p->pos] == '_') {
        p->pos++;
        size_t len = name ? strlen(name) : 0;
        if (name && len + 2 < cap) {
            name[len++] = '_', name[len] = '\0';
        }
        int brace = p->pos < p->end && p->s[p->pos] == '{';
        size_t start = p->pos + brace, e = start;
        if (brace) {
            while (e < p->end && p->s[e] != '}') {
                e++;
            }
        } else if (e < p->end) {
            e++;
        }
        for (size_t k = start; k < e && name && len + 1 < cap; k++) {
            if (isalnum((unsigned char)p->s[k])) {
                name[len++] = (char)tolower((unsigned char)p->s[k]), name[len] = '\0';
            }
        }
        p->pos = e + (brace && e < p->end);
    }
}

// digits, ".5", "3.25"; "1,234,567" when the whole answer is that number (see ans_thousands)
static int ap_number(AParser* p) {
    char buf[64];
    size_t n = 0;
    int is_float = 0;
    while (p->pos < p->end && n + 1 < sizeof(buf)) {
        char c = p->s[p->pos];
        if (isdigit((unsigned char)c)) {
            buf[n++] = c, p->pos++;
        } else if (c == '.' && !is_float && p->pos + 1 < p->end && isdigit((unsigned char)p->s[p->pos + 1])) {
            buf[n++] = c, p->pos++, is_float = 1;
        } else if (c == ',' && p->thousands) { // only when the whole answer is one such number
            p->pos++;
        } else {
            break;
        }
    }
    buf[n] = '\0';
    int v = ap_node(p, AN_NUM, -1, -1);
    p->ans->nodes[v].v = strtod(buf, NULL);
    p->ans->nodes[v].is_float = is_float;
    ap_skip_subscript(p, NULL, 0); // 2215_6: a number in base 6 is kept as written, as latex2sympy does
    return v;
}

static int ap_function(AParser* p, const char* name) {
    int f = ap_node(p, AN_FUNC, -1, -1);
    snprintf(p->ans->nodes[f].name, sizeof(p->ans->nodes[f].name), "%s", name);
    if (strcmp(name, "log") == 0 && p->pos < p->end && p->s[p->pos] == '_') { // \log_b x = ln x / ln b
        p->pos++;
        int base = ap_group(p, 0);
        p->ans->nodes[f].b = base;
    }
    int power = -1;
    if (ap_eat(p, "^")) { // \sin^2 x is (\sin x)^2
        power = ap_group(p, 0);
    }
    ap_space(p);
    if (ap_eat(p, "(")) {
        p->ans->nodes[f].a = ap_sum(p);
        if (!ap_eat(p, ")")) {
            p->fail = 1;
        }
    } else {
        int arg = ap_group(p, 0);
        p->ans->nodes[f].a = arg;
    }
    return power >= 0 ? ap_node(p, AN_POW, f, power) : f;
}

static int ap_command(AParser* p) {
    static const char* funcs[] = {"arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sin", "cos", "tan",
                                  "cot", "sec", "csc", "ln", "log", "exp"};
    static const char* greek[] = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta",
                                  "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho",
                                  "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega"};
    if (ap_eat(p, "\\pi")) {
        int v = ap_node(p, AN_CONST, -1, -1);
        p->ans->nodes[v].v = ANS_PI;
        return v;
    }
    if (ap_eat(p, "\\infty")) {
        int v = ap_node(p, AN_CONST, -1, -1);
        p->ans->nodes[v].v = INFINITY;
        return v;
    }
    if (ap_eat(p, "\\frac") || ap_eat(p, "\\binom")) {
        int binom = p->s[p->pos - 1] == 'm';
        int a = ap_group(p, 1);
        int b = ap_group(p, 1);
        int v = ap_node(p, binom ? AN_FUNC : AN_DIV, a, b);
        if (binom) {
            strcpy(p->ans->nodes[v].name, "binom");
        } else {
            p->ans->nodes[v].rational = p->ans->nodes[a].op == AN_NUM && !p->ans->nodes[a].is_float &&
                                        p->ans->nodes[b].op == AN_NUM && !p->ans->nodes[b].is_float;
        }
        return v;
    }
    if (ap_eat(p, "\\sqrt")) {
        int root = -1;
        if (ap_eat(p, "[")) {
            root = ap_sum(p);
            if (!ap_eat(p, "]")) {
                p->fail = 1;
            }
        }
        int x = ap_group(p, 1);
        int v = ap_node(p, AN_FUNC, x, root);
        strcpy(p->ans->nodes[v].name, "sqrt");
        return v;
    }
    if (ap_eat(p, "\\text") || ap_eat(p, "\\mbox") || ap_eat(p, "\\operatorname")) { // a word is a symbol
        ap_space(p);
        if (!ap_eat(p, "{")) {
            p->fail = 1;
            return 0;
        }
        size_t close = p->pos;
        while (close < p->end && p->s[close] != '}') {
            close++;
        }
        size_t first = p->pos;
        while (first < close && ans_space(p->s[first])) {
            first++;
        }
        size_t last = close, k = first + (first < close && p->s[first] == '-');
        while (last > first && ans_space(p->s[last - 1])) {
            last--;
        }
        while (k < last && (isdigit((unsigned char)p->s[k]) || p->s[k] == '.')) {
            k++;
        }
        if (first < close && close < p->end && k == last && isdigit((unsigned char)p->s[last - 1])) {
            size_t end = p->end; // \text{12} is 12: parse the inside, within our depth limit
            p->pos = first, p->end = close;
            int v = ap_sum(p);
            ap_space(p);
            if (p->pos != close) {
                p->fail = 1;
            }
            p->end = end, p->pos = close + 1;
            return v;
        }
        int v = ap_node(p, AN_SYM, -1, -1);
        size_t len = 0;
        while (p->pos < p->end && p->s[p->pos] != '}') {
            char c = p->s[p->pos++];
            if (isalnum((unsigned char)c) && len + 1 < sizeof(p->ans->nodes[v].name)) {
                p->ans->nodes[v].name[len++] = (char)tolower((unsigned char)c);
            }
        }
        if (!ap_eat(p, "}") || len == 0) {
            p->fail = 1;
        }
        return v;
    }
    for (size_t k = 0; k < sizeof(funcs) / sizeof(funcs[0]); k++) {
        char tok[16];
        snprintf(tok, sizeof(tok), "\\%s", funcs[k]);
        if (ap_eat(p, tok)) {
            return ap_function(p, funcs[k]);
        }
    }
    for (size_t k = 0; k < sizeof(greek) / sizeof(greek[0]); k++) {
        char tok[16];
        snprintf(tok, sizeof(tok), "\\%s", greek[k]);
        if (ap_eat(p, tok)) {
            int v = ap_node(p, AN_SYM, -1, -1);
            snprintf(p->ans->nodes[v].name, sizeof(p->ans->nodes[v].name), "%s", greek[k]);
            ap_skip_subscript(p, p->ans->nodes[v].name, sizeof(p->ans->nodes[v].name));
            return v;
        }
    }
    p->fail = 1; // a command we do not know
    return 0;
}

static int ap_primary(AParser* p) {
    ap_space(p);
    if (p->pos >= p->end) {
        p->fail = 1;
        return 0;
    }
    char c = p->s[p->pos];
    if (isdigit((unsigned char)c) || (c == '.' && p->pos + 1 < p->end && isdigit((unsigned char)p->s[p->pos + 1]))) {
        return ap_number(p);
    }
    if (isalpha((unsigned char)c)) {
        p->pos++;
        int v = ap_node(p, AN_SYM, -1, -1);
        ANode* nd = &p->ans->nodes[v];
        nd->name[0] = (char)tolower((unsigned char)c);
        ap_skip_subscript(p, nd->name, sizeof(nd->name));
        if (strcmp(nd->name, "e") == 0) { // e is Euler's number, as in latex2sympy
            nd->op = AN_CONST, nd->v = ANS_E;
        }
        return v;
    }
    if (c == '(' || c == '{' || c == '[' || c == '|') {
        char close = c == '(' ? ')' : c == '{' ? '}' : c == '[' ? ']' : '|';
        p->pos++;
        int v = ap_sum(p);
        ap_space(p);
        if (p->pos >= p->end || p->s[p->pos] != close) {
            p->fail = 1;
            return v;
        }
        p->pos++;
        if (c == '|') {
            v = ap_node(p, AN_FUNC, v, -1);
            strcpy(p->ans->nodes[v].name, "abs");
        }
        return v;
    }
    if (c == '\\') {
        return ap_command(p);
    }
    p->fail = 1;
    return 0;
}

// primary, then any of: ^exponent, !, %, ^\circ (degrees are dropped, as latex2sympy does)
static int ap_postfix(AParser* p) {
    int v = ap_primary(p);
    for (int guard = 0; guard < 64 && !p->fail; guard++) {
        if (ap_eat(p, "^\\circ") || ap_eat(p, "^{\\circ}") || ap_eat(p, "\\circ") || ap_eat(p, "\\degree")) {
            continue;
        }
        if (ap_eat(p, "^")) {
            ap_space(p);
            int e;
            if (p->pos < p->end && (p->s[p->pos] == '\\' || isdigit((unsigned char)p->s[p->pos]))) {
                e = ap_primary(p); // "2^10" is 2**10 to latex2sympy
            } else {
                e = ap_group(p, 0);
            }
            v = ap_node(p, AN_POW, v, e);
        } else if (ap_eat(p, "!")) {
            v = ap_node(p, AN_FACT, v, -1);
        } else if (ap_eat(p, "\\%") || ap_eat(p, "%")) {
            v = ap_node(p, AN_PCT, v, -1);
        } else {
            break;
        }
    }
    return v;
}

static int ap_unary(AParser* p) {
    if (++p->depth > ANSWER_DEPTH) {
        p->fail = 1;
        return 0;
    }
    int v;
    if (ap_eat(p, "-")) {
        v = ap_node(p, AN_NEG, ap_unary(p), -1);
    } else if (ap_eat(p, "+")) {
        v = ap_unary(p);
    } else {
        v = ap_postfix(p);
    }
    p->depth--;
    return v;
}

// Does the next token start a factor of an implicit product ("2x", "3\sqrt{2}", "x(x+1)")?
static int ap_implicit_next(AParser* p) {
    ap_space(p);
    if (p->pos >= p->end) {
        return 0;
    }
    char c = p->s[p->pos];
    if (isalpha((unsigned char)c) || c == '(' || c == '{') {
        return 1;
    }
    if (c != '\\') {
        return 0;
    }
    static const char* ops[] = {"\\cdot", "\\times", "\\div", "\\pm", "\\mp", "\\le", "\\ge", "\\leq", "\\geq",
                                "\\ne", "\\neq", "\\lt", "\\gt", "\\}", "\\right", "\\circ", "\\%", "\\approx",
                                "\\cup", "\\cap", "\\in", "\\to"};
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        if (ap_peek(p, ops[k])) {
            return 0;
        }
    }
    return 1;
}

static int ap_term(AParser* p) {
    int v = ap_unary(p);
    while (!p->fail) {
        int op;
        if (ap_eat(p, "*") || ap_eat(p, "\\cdot") || ap_eat(p, "\\times")) {
            op = AN_MUL;
        } else if (ap_eat(p, "/") || ap_eat(p, "\\div") || ap_eat(p, ":")) { // a ratio 3:5 is 3/5
            op = AN_DIV;
        } else if (ap_implicit_next(p)) {
            op = AN_MUL;
        } else {
            break;
        }
        int r = ap_unary(p);
        ANode* left = &p->ans->nodes[v];
        ANode* right = &p->ans->nodes[r];
        if (op == AN_MUL && left->op == AN_NUM && !left->is_float && right->op == AN_DIV && right->rational &&
            p->s[p->pos - 1] == '}') { // a mixed number: 2\frac{1}{2} is 5/2
            v = ap_node(p, AN_ADD, v, r);
            p->ans->nodes[v].rational = 1;
        } else {
            int both_int = op == AN_DIV && left->op == AN_NUM && !left->is_float && right->op == AN_NUM && !right->is_float;
            v = ap_node(p, op, v, r);
            p->ans->nodes[v].rational = both_int; // 5/3 is a sympy Rational too
        }
    }
    return v;
}

static int ap_sum(AParser* p) {
    if (++p->depth > ANSWER_DEPTH) {
        p->fail = 1;
        return 0;
    }
    int v = ap_term(p);
    while (!p->fail) {
        int op;
        if (ap_eat(p, "+")) {
            op = AN_ADD;
        } else if (ap_eat(p, "-")) {
            op = AN_SUB;
        } else if (ap_eat(p, "\\pm") || ap_eat(p, "\\mp")) {
            op = AN_PM;
            if (p->pm || p->depth > 1) { // one top-level \pm only
                p->fail = 1;
            }
            p->pm = 1;
        } else {
            break;
        }
        int r = ap_term(p);
        v = ap_node(p, op, v, r);
    }
    p->depth--;
    return v;
}

// Parses s[start, end) as one expression; -1 on failure.
static int ap_expr_range(Answer* ans, const char* s, size_t start, size_t end, int* pm) {
    AParser p = {ans, s, start, end, 0, 0, 0, 0};
    int v = ap_sum(&p);
    ap_space(&p);
    if (p.fail || p.pos != end) {
        return -1;
    }
    if (pm) {
        *pm = p.pm;
    } else if (p.pm) {
        return -1;
    }
    return v;
}

static int ans_opener(const char* s, size_t* len) {
    if (ans_starts(s, "\\{")) {
        *len = 2;
        return 1;
    }
    *len = 1;
    return *s == '(' || *s == '[' || *s == '{';
}

static int ans_closer(const char* s, size_t* len) {
    if (ans_starts(s, "\\}")) {
        *len = 2;
        return 1;
    }
    *len = 1;
    return *s == ')' || *s == ']' || *s == '}';
}

// Is s[start, end) one number with thousands commas, "-1,234,567.5"? latex2sympy reads such an
// answer as the number; any other comma separates items ("(1,234)" is an interval, "1,2345" a set).
static int ans_thousands(const char* s, size_t start, size_t end) {
    size_t i = start + (s[start] == '-'), d = i;
    while (i < end && isdigit((unsigned char)s[i])) {
        i++;
    }
    if (i == d || i - d > 3 || i >= end || s[i] != ',') {
        return 0;
    }
    while (i + 3 < end + 1 && s[i] == ',' && isdigit((unsigned char)s[i + 1]) && isdigit((unsigned char)s[i + 2]) &&
           isdigit((unsigned char)s[i + 3])) {
        i += 4;
    }
    if (i < end && s[i] == '.') {
        i++;
        while (i < end && isdigit((unsigned char)s[i])) {
            i++;
        }
    }
    return i == end;
}

// Splits s[start, end) at top-level commas into items.
static int ans_split(const char* s, size_t start, size_t end, size_t* cuts, int max_items) {
    int n = 0, depth = 0;
    cuts[n++] = start;
    for (size_t i = start; i < end; i++) {
        size_t l;
        if (ans_opener(s + i, &l)) {
            depth++, i += l - 1;
        } else if (ans_closer(s + i, &l)) {
            depth--, i += l - 1;
        } else if (s[i] == '\\' && i + 1 < end) {
            i++; // "\," is a thin space, not a separator
        } else if (s[i] == ',' && depth == 0) {
            if (n >= max_items) {
                return -1;
            }
            cuts[n++] = i + 1;
        }
    }
    cuts[n] = end + 1;
    return n;
}

// Reads a list of items into v (each one expression); 0 on failure.
static int ans_parse_items(Answer* ans, const char* s, size_t start, size_t end, AValue* v) {
    size_t cuts[AV_ITEMS + 1];
    int n = ans_split(s, start, end, cuts, AV_ITEMS);
    if (n < 0) {
        return 0;
    }
    for (int k = 0; k < n; k++) {
        int e = ap_expr_range(ans, s, cuts[k], cuts[k + 1] - 1, NULL);
        if (e < 0) {
            return 0;
        }
        v->item[k] = e, v->sign[k] = 1;
    }
    v->n = n;
    return 1;
}

// A relation "lhs OP rhs" at the top level: the position of the operator, or 0.
static size_t ans_find_relation(const char* s, size_t n, int* rel, size_t* op_len) {
    static const char* ops[] = {"\\leq", "\\geq", "\\neq", "\\le", "\\ge", "\\ne", "\\lt", "\\gt", "<=", ">=",
                                "=", "<", ">", "\\in"}; // latex2sympy reads "x \in S" as x = S
    static const int codes[] = {'l', 'g', 'n', 'l', 'g', 'n', '<', '>', 'l', 'g', '=', '<', '>', '='};
    int depth = 0;
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        if (ans_opener(s + i, &l)) {
            depth++, i += l - 1;
            continue;
        }
        if (ans_closer(s + i, &l)) {
            depth--, i += l - 1;
            continue;
        }
        for (int k = 0; k < 14 && depth == 0; k++) {
            size_t ol = strlen(ops[k]);
            if (strncmp(s + i, ops[k], ol) == 0 && !(ops[k][0] == '\\' && isalpha((unsigned char)s[i + ol]))) {
                if (found) { // chains (2 < x < 3, a = b = c) keep the first left and last right side
                    if (*rel != '=' || codes[k] != '=') {
                        return (size_t)-1;
                    }
                }
                if (!found) {
                    found = i + 1, *rel = codes[k], *op_len = ol;
                } else {
                    *op_len = i + ol - (found - 1);
                }
                i += ol - 1;
                break;
            }
        }
    }
    return found;
}

static int ans_parse_value(Answer* ans, const char* s, size_t n);
static int ans_letters(const Answer* ans, int i, char* out, size_t cap, size_t* len, int depth);

// "I1 \cup I2 \cup ...": a union of intervals (each "(a, b)", "[a, b]", ...), at the top only.
static int ans_parse_union(Answer* ans, const char* s, size_t start, size_t n) {
    size_t cut[AV_ITEMS / 2 + 1];
    int parts = 0, depth = 0;
    cut[parts++] = start;
    for (size_t i = start; i < n; i++) {
        size_t l;
        if (ans_opener(s + i, &l)) {
            depth++, i += l - 1;
        } else if (ans_closer(s + i, &l)) {
            depth--, i += l - 1;
        } else if (depth == 0 && ans_starts(s + i, "\\cup") && !isalpha((unsigned char)s[i + 4])) {
            if (parts == AV_ITEMS / 2) {
                return 0;
            }
            cut[parts++] = i + 4;
        }
    }
    if (parts == 1) {
        return 0;
    }
    cut[parts] = n + 4;
    AValue u;
    memset(&u, 0, sizeof(u));
    u.kind = AV_UNION;
    for (int k = 0; k < parts; k++) {
        if (!ans_parse_value(ans, s + cut[k], cut[k + 1] - 4 - cut[k]) ||
            (ans->v.kind != AV_INTERVAL && ans->v.kind != AV_PAIR)) {
            return 0;
        }
        u.item[2 * k] = ans->v.item[0], u.item[2 * k + 1] = ans->v.item[1];
        u.lo[k] = ans->v.kind == AV_PAIR || ans->v.left_open;
        u.ro[k] = ans->v.kind == AV_PAIR || ans->v.right_open;
        u.sign[2 * k] = u.sign[2 * k + 1] = 1;
    }
    u.n = parts;
    ans->v = u;
    return 1;
}

// "\begin{pmatrix} a & b \\ c & d \end{pmatrix}" (or bmatrix): a matrix, compared cell by cell.
static int ans_parse_matrix(Answer* ans, const char* s, size_t start, size_t n) {
    static const char* kinds[] = {"pmatrix", "bmatrix"};
    for (int k = 0; k < 2; k++) {
        char open[32], close[32];
        snprintf(open, sizeof(open), "\\begin{%s}", kinds[k]);
        snprintf(close, sizeof(close), "\\end{%s}", kinds[k]);
        size_t ol = strlen(open), cl = strlen(close), end = n;
        while (end > start && ans_space(s[end - 1])) {
            end--;
        }
        if (end >= start + 6 && strncmp(s + end - 6, "^\\circ", 6) == 0) { // degrees are dropped
            end -= 6;
        }
        if (end < start + ol + cl || strncmp(s + start, open, ol) != 0 || strncmp(s + end - cl, close, cl) != 0) {
            continue;
        }
        AValue m;
        memset(&m, 0, sizeof(m));
        m.kind = AV_MATRIX;
        size_t cell = start + ol, stop = end - cl;
        int cols = 0;
        for (size_t i = cell; i <= stop; i++) {
            int row_end = i + 1 < stop + 1 && s[i] == '\\' && s[i + 1] == '\\';
            if (i == stop || s[i] == '&' || row_end) {
                if (m.n == AV_ITEMS) {
                    return 0;
                }
                int e = ap_expr_range(ans, s, cell, i, NULL);
                if (e < 0) {
                    return 0;
                }
                m.item[m.n] = e, m.sign[m.n++] = 1, cols++;
                if (row_end || i == stop) {
                    if (m.rows > 0 && cols != m.cols) {
                        return 0;
                    }
                    m.cols = cols, m.rows++, cols = 0;
                }
                i += row_end;
                cell = i + 1;
            }
        }
        ans->v = m;
        return 1;
    }
    return 0;
}

static int ans_parse_value_at(Answer* ans, const char* s, size_t n);

// The whole answer text -> ans->v. Structures are read at the top only; a whole answer in
// parentheses that reads no other way is read without them ("(x = 1624)"), as is a braced matrix.
static int ans_parse_value(Answer* ans, const char* s, size_t n) {
    if (ans->depth >= 4) {
        return 0;
    }
    ans->depth++;
    int ok = ans_parse_value_at(ans, s, n);
    if (!ok) {
        size_t a = 0, b = n;
        while (a < b && ans_space(s[a])) {
            a++;
        }
        while (b > a && ans_space(s[b - 1])) {
            b--;
        }
        int braced_matrix = s[a] == '{' && s[b - 1] == '}' && ans_starts(s + a + 1, "\\begin{");
        if (b - a >= 2 && ((s[a] == '(' && s[b - 1] == ')') || braced_matrix)) {
            ok = ans_parse_value(ans, s + a + 1, b - a - 2);
        }
    }
    ans->depth--;
    return ok;
}

static int ans_parse_value_at(Answer* ans, const char* s, size_t n) {
    AValue* v = &ans->v;
    memset(v, 0, sizeof(*v));
    for (;;) { // trailing spaces and spacing commands ("(2, 3)\," after a unit was dropped)
        if (n > 0 && ans_space(s[n - 1])) {
            n--;
        } else if (n > 1 && s[n - 2] == '\\' && strchr(",;:! ", s[n - 1]) && (n < 3 || s[n - 3] != '\\')) {
            n -= 2;
        } else {
            break;
        }
    }
    size_t start = 0;
    while (start < n && ans_space(s[start])) {
        start++;
    }
    if (start >= n) {
        return 0;
    }
    if (ans_parse_matrix(ans, s, start, n)) {
        return 1;
    }
    if (ans_thousands(s, start, n)) {
        AParser p = {ans, s, start, n, 0, 0, 0, 1};
        int e = ap_sum(&p);
        if (p.fail || p.pos != n) {
            return 0;
        }
        v->kind = AV_EXPR, v->n = 1, v->item[0] = e, v->sign[0] = 1;
        return 1;
    }
    if (ans_parse_union(ans, s, start, n)) {
        return 1;
    }
    size_t ol, cl;
    if (ans_opener(s + start, &ol)) { // "(a, b)", "[a, b)", "\{a, b\}": find the matching closer
        int depth = 0;
        size_t close = 0;
        for (size_t i = start; i < n; i++) {
            size_t l;
            if (ans_opener(s + i, &l)) {
                depth++, i += l - 1;
            } else if (ans_closer(s + i, &l) && --depth == 0) {
                close = i;
                break;
            }
        }
        ans_closer(s + close, &cl);
        if (close > 0 && close + cl == n) {
            char o = s[start] == '\\' ? '{' : s[start];
            char c = s[close] == '\\' ? '}' : s[close];
            AValue t;
            memset(&t, 0, sizeof(t));
            if (ans_parse_items(ans, s, start + ol, close, &t) && (t.n > 1 || o == '{')) {
                *v = t;
                if (o == '{') {
                    v->kind = AV_SET;
                } else if (o == '(' && c == ')') {
                    v->kind = t.n == 2 ? AV_PAIR : AV_TUPLE;
                } else if (t.n == 2 && o != '{' && c != '}') {
                    v->kind = AV_INTERVAL, v->left_open = o == '(', v->right_open = c == ')';
                } else {
                    return 0;
                }
                return 1;
            }
        }
    }
    size_t cuts[AV_ITEMS + 1];
    int items = ans_split(s, start, n, cuts, AV_ITEMS);
    if (items > 1) { // a bare list "1, 2" is a set to Math-Verify
        if (!ans_parse_items(ans, s, start, n, v)) {
            return 0;
        }
        v->kind = AV_SET;
        return 1;
    }
    if (items < 0) {
        return 0;
    }
    int rel = 0;
    size_t op_len = 0;
    size_t at = ans_find_relation(s + start, n - start, &rel, &op_len);
    if (at == (size_t)-1) {
        return 0;
    }
    if (at > 0) {
        size_t op = start + at - 1;
        int l = ap_expr_range(ans, s, start, op, NULL);
        int r = ap_expr_range(ans, s, op + op_len, n, NULL);
        char name[64];
        size_t len = 0;
        if (l >= 0 && r < 0 && rel == '=' && ans_letters(ans, l, name, sizeof(name), &len, 0) &&
            memchr(s + op + 1, '=', n - op - 1) == NULL) { // one '=' only: "x=(0,1)=(0,1)" does not parse
            // "x = (8, -2)", "x \in [1, 2]", "x = 3 \pm \sqrt{2}": an assignment of a tuple, interval or
            // set is judged by its right side (what Math-Verify does with it against a gold that is no
            // equation)
            return ans_parse_value(ans, s + op + op_len, n - op - op_len) && ans->v.kind != AV_REL;
        }
        if (l < 0 || r < 0) {
            return 0;
        }
        v->kind = AV_REL, v->rel = rel, v->n = 2, v->item[0] = l, v->item[1] = r;
        return 1;
    }
    int pm = 0;
    int e = ap_expr_range(ans, s, start, n, &pm);
    if (e < 0) {
        return 0;
    }
    if (pm) { // a \pm b: the set {a + b, a - b}
        v->kind = AV_SET, v->n = 2, v->item[0] = v->item[1] = e, v->sign[0] = 1, v->sign[1] = -1;
        return 1;
    }
    v->kind = AV_EXPR, v->n = 1, v->item[0] = e, v->sign[0] = 1;
    return 1;
}

// Normalises and parses one answer. Like Math-Verify, when the text does not parse and it is a
// chain "a = b = c", the last part is tried alone.
static void answer_parse(Answer* ans, const char* text, int gold, int percent) {
    sb_init(&ans->text);
    size_t n = strlen(text);
    sb_append(&ans->text, text, n > ANSWER_MAX ? ANSWER_MAX : n);
    ans_normalize(&ans->text, gold);
    ans->n_nodes = 0;
    ans->depth = 0;
    if (!ans_parse_value(ans, ans->text.s, ans->text.len)) {
        size_t last;
        ans->n_nodes = 0;
        if (strchr(ans->text.s, ',') || strchr(ans->text.s, ';') ||
            ans_eq_parts(ans->text.s, ans->text.len, &last) <= 2 ||
            !ans_parse_value(ans, ans->text.s + last, ans->text.len - last)) {
            memset(&ans->v, 0, sizeof(ans->v));
        }
    }
    if (percent && ans->v.kind == AV_EXPR) { // "$50$%": the percent sign came after the math
        AParser p = {ans, "", 0, 0, 0, 0, 0, 0};
        int e = ap_node(&p, AN_PCT, ans->v.item[0], -1);
        if (!p.fail) {
            ans->v.item[0] = e;
        }
    }
}

static void answer_free(Answer* ans) { free(ans->text.s); }

// ----------------------------------------------------------------------------
// step 4: comparing two answers
// Numbers are compared by value. Expressions with variables are compared at two points where each
// variable takes a value made from its name (the same on both sides), which is what sympy's
// simplify(a - b) == 0 decides for the expressions answers are made of.

static double ans_symbol_value(const char* name, int point) {
    uint64_t h = 1469598103934665603ull; // FNV-1a of the name, then a point-dependent mix
    for (const char* c = name; *c; c++) {
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    }
    h = rng_seed(h + (uint64_t)point * 0x9E3779B97F4A7C15ull);
    return 1.25 + (double)(h >> 11) / 9007199254740992.0 * 1.5; // in [1.25, 2.75)
}

static double ans_eval(const Answer* ans, int i, int point, int sign, int depth) {
    if (i < 0 || depth > 2 * ANSWER_DEPTH + 8) {
        return NAN;
    }
    const ANode* nd = &ans->nodes[i];
    double a = nd->a >= 0 ? ans_eval(ans, nd->a, point, sign, depth + 1) : NAN;
    double b = nd->b >= 0 ? ans_eval(ans, nd->b, point, sign, depth + 1) : NAN;
    switch (nd->op) {
    case AN_NUM:
    case AN_CONST: return nd->v;
    case AN_SYM: return ans_symbol_value(nd->name, point);
    case AN_ADD: return a + b;
    case AN_SUB: return a - b;
    case AN_PM: return a + sign * b;
    case AN_MUL: return a * b;
    case AN_DIV: return a / b;
    case AN_POW: return pow(a, b);
    case AN_NEG: return -a;
    case AN_PCT: return a / 100.0;
    case AN_FACT: return (a >= 0 && a == floor(a) && a < 171) ? tgamma(a + 1) : NAN;
    default: break;
    }
    const char* f = nd->name; // AN_FUNC
    if (strcmp(f, "sqrt") == 0) {
        return nd->b >= 0 ? pow(a, 1.0 / b) : sqrt(a);
    }
    if (strcmp(f, "binom") == 0) {
        return (a >= 0 && b >= 0 && b <= a && a < 171) ? tgamma(a + 1) / (tgamma(b + 1) * tgamma(a - b + 1)) : NAN;
    }
    if (strcmp(f, "log") == 0) {
        return nd->b >= 0 ? log(a) / log(b) : log(a); // sympy's log without a base is natural
    }
    static const char* names[] = {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan",
                                  "sinh", "cosh", "tanh", "ln", "exp", "abs"};
    double r[] = {sin(a), cos(a), tan(a), 1 / tan(a), 1 / cos(a), 1 / sin(a), asin(a), acos(a), atan(a),
                  sinh(a), cosh(a), tanh(a), log(a), exp(a), fabs(a)};
    for (int k = 0; k < 15; k++) {
        if (strcmp(f, names[k]) == 0) {
            return r[k];
        }
    }
    return NAN;
}

static int ans_has_symbols(const Answer* ans, int i, int depth) {
    if (i < 0 || depth > 2 * ANSWER_DEPTH + 8) {
        return 0;
    }
    const ANode* nd = &ans->nodes[i];
    return nd->op == AN_SYM || ans_has_symbols(ans, nd->a, depth + 1) || ans_has_symbols(ans, nd->b, depth + 1);
}

static int ans_has_infinity(const Answer* ans, int i, int depth) { // an \infty in the expression
    if (i < 0 || depth > 2 * ANSWER_DEPTH + 8) {
        return 0;
    }
    const ANode* nd = &ans->nodes[i];
    return (nd->op == AN_CONST && isinf(nd->v)) || ans_has_infinity(ans, nd->a, depth + 1) ||
           ans_has_infinity(ans, nd->b, depth + 1);
}

// Equal within rel (relative to the larger, at least 1). Infinities are equal only to themselves;
// the caller rules out the overflows of huge numbers like 2^{4950}, which doubles cannot tell apart.
static int ans_close(double a, double b, double rel) {
    if (isnan(a) || isnan(b)) {
        return 0;
    }
    if (isinf(a) || isinf(b)) {
        return a == b;
    }
    return fabs(a - b) <= rel * fmax(1.0, fmax(fabs(a), fabs(b)));
}

// Math-Verify's "atomic" numbers: what sympy keeps as one Number (Integer, Float, Rational), maybe
// with a percent sign. kind: 1 integer, 2 decimal (Float), 3 fraction (Rational).
static int ans_atomic(const Answer* ans, int i, int* pct) {
    const ANode* nd = &ans->nodes[i];
    *pct = 0;
    if (nd->op == AN_PCT) {
        *pct = 1;
        nd = &ans->nodes[nd->a];
    }
    if (nd->op == AN_NEG) {
        nd = &ans->nodes[nd->a];
    }
    if (nd->op == AN_NUM) {
        return nd->is_float ? 2 : 1;
    }
    return (nd->op == AN_DIV || nd->op == AN_ADD) && nd->rational ? 3 : 0;
}

// A bare symbol against a product of single letters ("\text{Evelyn}" vs "Evelyn"): Math-Verify
// compares the letters as one word.
static int ans_letters(const Answer* ans, int i, char* out, size_t cap, size_t* len, int depth) {
    const ANode* nd = &ans->nodes[i];
    if (depth > ANSWER_DEPTH) {
        return 0;
    }
    if (nd->op == AN_MUL) {
        return ans_letters(ans, nd->a, out, cap, len, depth + 1) && ans_letters(ans, nd->b, out, cap, len, depth + 1);
    }
    const char* name = nd->op == AN_SYM ? nd->name : (nd->op == AN_CONST && nd->v == ANS_E) ? "e" : NULL;
    if (name == NULL || *len + strlen(name) + 1 > cap) {
        return 0;
    }
    strcpy(out + *len, name);
    *len += strlen(name);
    return 1;
}

// Two expressions (item i of gold with sign gs, item j of pred with sign ps), as sympy_expr_eq.
static int ans_expr_equal(const Answer* g, int i, int gs, const Answer* p, int j, int ps) {
    const ANode* gn = &g->nodes[i];
    const ANode* pn = &p->nodes[j];
    if (gn->op == AN_SYM || pn->op == AN_SYM) { // symbols: by name (or spelled out as letters)
        char a[64], b[64];
        size_t la = 0, lb = 0;
        if (ans_letters(g, i, a, sizeof(a), &la, 0) && ans_letters(p, j, b, sizeof(b), &lb, 0)) {
            return strcmp(a, b) == 0;
        }
    }
    double g0 = ans_eval(g, i, 0, gs, 0), p0 = ans_eval(p, j, 0, ps, 0);
    if ((isinf(g0) && !ans_has_infinity(g, i, 0)) || (isinf(p0) && !ans_has_infinity(p, j, 0))) {
        return 0; // too large for a double: we cannot decide, so we do not reward
    }
    int gp, pp;
    int ga = ans_atomic(g, i, &gp), pa = ans_atomic(p, j, &pp);
    int gsym = ans_has_symbols(g, i, 0), psym = ans_has_symbols(p, j, 0);
    double gv = ans_eval(g, i, 0, gs, 0), pv = ans_eval(p, j, 0, ps, 0);
    if (ga || pa) {
        if (ga == 2 || pa == 2) { // a decimal: both rounded to 6 places
            if (gsym || psym) {
                return 0;
            }
            return ans_close(round(gv * 1e6) / 1e6, round(pv * 1e6) / 1e6, 1e-12);
        }
        if (ga == 1 && pa == 1) { // two integers: exactly, a percent sign aside (50% equals 50)
            double x = gp ? gv * 100 : gv, y = pp ? pv * 100 : pv;
            return ans_close(x, y, 1e-15);
        }
        if (!gsym && !psym) {
            return ans_close(gv, pv, 1e-12);
        }
    }
    for (int point = 0; point < 3; point++) { // (a - b) == 0, or simplify(a - b) == 0
        double x = ans_eval(g, i, point, gs, 0), y = ans_eval(p, j, point, ps, 0);
        if (!ans_close(x, y, 1e-9)) {
            return 0;
        }
        if (!gsym && !psym) {
            break;
        }
    }
    return 1;
}

// Finite sets ignore order: every gold element must pair with its own predicted element.
static int ans_set_equal(const Answer* g, const AValue* gv, const Answer* p, const AValue* pv) {
    if (gv->n != pv->n) {
        return 0;
    }
    int used[AV_ITEMS] = {0};
    for (int a = 0; a < gv->n; a++) {
        int hit = 0;
        for (int b = 0; b < pv->n && !hit; b++) {
            if (!used[b] && ans_expr_equal(g, gv->item[a], gv->sign[a], p, pv->item[b], pv->sign[b])) {
                used[b] = hit = 1;
            }
        }
        if (!hit) {
            return 0;
        }
    }
    return 1;
}

static int ans_ordered_equal(const Answer* g, const AValue* gv, const Answer* p, const AValue* pv) {
    if (gv->n != pv->n) {
        return 0;
    }
    for (int a = 0; a < gv->n; a++) {
        if (!ans_expr_equal(g, gv->item[a], gv->sign[a], p, pv->item[a], pv->sign[a])) {
            return 0;
        }
    }
    return 1;
}

static int ans_is_assignment(const Answer* a, const AValue* v) { // "x = ..." with only letters on the left
    char buf[64];
    size_t len = 0;
    return v->kind == AV_REL && v->rel == '=' && ans_letters(a, v->item[0], buf, sizeof(buf), &len, 0);
}

// Relations: the same relation with equal (lhs - rhs), or the mirrored one ("x > 2" and "2 < x").
static int ans_rel_equal(const Answer* g, const AValue* gv, const Answer* p, const AValue* pv) {
    static const char* flips = "=<>lgn";
    static const char* flipped = "=><gln";
    int same = gv->rel == pv->rel;
    int mirror = flipped[strchr(flips, gv->rel) - flips] == pv->rel;
    int ok = 1, ok_neg = 1;
    for (int point = 0; point < 3; point++) {
        double gd = ans_eval(g, gv->item[0], point, 1, 0) - ans_eval(g, gv->item[1], point, 1, 0);
        double pd = ans_eval(p, pv->item[0], point, 1, 0) - ans_eval(p, pv->item[1], point, 1, 0);
        ok = ok && ans_close(gd, pd, 1e-9);
        ok_neg = ok_neg && ans_close(gd, -pd, 1e-9);
    }
    return (same && ok) || (mirror && ok_neg);
}

// The value comparison of Math-Verify's sympy_expr_eq, for our value kinds.
static int ans_value_equal(const Answer* g, const Answer* p) {
    AValue gv = g->v, pv = p->v;
    if (gv.kind == AV_NONE || pv.kind == AV_NONE) {
        return 0;
    }
    if (pv.kind == AV_REL && pv.rel == '=' && !(gv.kind == AV_REL && gv.rel == '=')) {
        pv.kind = AV_EXPR, pv.n = 1, pv.item[0] = pv.item[1], pv.sign[0] = 1; // "x = 5" against 5
    } else if (ans_is_assignment(g, &gv) && !(pv.kind == AV_REL && pv.rel == '=')) {
        gv.kind = AV_EXPR, gv.n = 1, gv.item[0] = gv.item[1], gv.sign[0] = 1;
    }
    if (gv.kind == AV_MATRIX || pv.kind == AV_MATRIX) { // matrices: same shape, cell by cell
        return gv.kind == pv.kind && gv.rows == pv.rows && gv.cols == pv.cols && ans_ordered_equal(g, &gv, p, &pv);
    }
    if (gv.kind == AV_UNION || pv.kind == AV_UNION) { // unions of intervals, in any order
        if (gv.kind != pv.kind || gv.n != pv.n) {
            return 0;
        }
        int used[AV_ITEMS / 2] = {0};
        for (int a = 0; a < gv.n; a++) {
            int hit = 0;
            for (int b = 0; b < pv.n && !hit; b++) {
                hit = !used[b] && gv.lo[a] == pv.lo[b] && gv.ro[a] == pv.ro[b] &&
                      ans_expr_equal(g, gv.item[2 * a], 1, p, pv.item[2 * b], 1) &&
                      ans_expr_equal(g, gv.item[2 * a + 1], 1, p, pv.item[2 * b + 1], 1);
                used[b] |= hit;
            }
            if (!hit) {
                return 0;
            }
        }
        return 1;
    }
    if (gv.kind == AV_REL || pv.kind == AV_REL) {
        return gv.kind == AV_REL && pv.kind == AV_REL && ans_rel_equal(g, &gv, p, &pv);
    }
    if (gv.kind == AV_EXPR && pv.kind == AV_EXPR) {
        return ans_expr_equal(g, gv.item[0], gv.sign[0], p, pv.item[0], pv.sign[0]);
    }
    // sets, tuples and intervals; a lone expression counts as the set of itself
    if (gv.kind == AV_EXPR) {
        gv.kind = AV_SET;
    }
    if (pv.kind == AV_EXPR) {
        pv.kind = AV_SET;
    }
    int g_iv = gv.kind == AV_INTERVAL || gv.kind == AV_PAIR, p_iv = pv.kind == AV_INTERVAL || pv.kind == AV_PAIR;
    if (g_iv && p_iv && (gv.kind == AV_INTERVAL || pv.kind == AV_INTERVAL)) { // intervals ("(a, b)" is open)
        int glo = gv.kind == AV_PAIR || gv.left_open, gro = gv.kind == AV_PAIR || gv.right_open;
        int plo = pv.kind == AV_PAIR || pv.left_open, pro = pv.kind == AV_PAIR || pv.right_open;
        return glo == plo && gro == pro && ans_ordered_equal(g, &gv, p, &pv);
    }
    if (gv.kind == AV_INTERVAL || pv.kind == AV_INTERVAL) {
        return 0;
    }
    if (gv.kind == AV_SET && pv.kind == AV_SET) {
        return ans_set_equal(g, &gv, p, &pv);
    }
    if (gv.kind == AV_SET) { // a gold set against a tuple: sympy sorts both, so order is ignored
        return ans_set_equal(g, &gv, p, &pv);
    }
    return ans_ordered_equal(g, &gv, p, &pv); // a gold tuple: order matters
}

// ----------------------------------------------------------------------------
// the answer checker's interface

// Writes the final answer of a completion (as found in step 1, before normalisation) to out.
// Returns 1 if the completion has an answer, 0 if not (out is then "").
static int extract_answer(const char* completion, char* out, size_t out_size) {
    StrBuf a;
    sb_init(&a);
    int percent;
    int found = answer_find(completion, &a, &percent, 1);
    if (out_size > 0) {
        size_t n = a.len < out_size - 1 ? a.len : out_size - 1;
        memcpy(out, a.s, found ? n : 0);
        out[found ? n : 0] = '\0';
    }
    free(a.s);
    return found;
}

static int math_verify_with(const char* completion, const char* gold, int fallback) {
    StrBuf found;
    sb_init(&found);
    int percent;
    if (!answer_find(completion, &found, &percent, fallback)) {
        free(found.s);
        return 0;
    }
    Answer* g = (Answer*)malloc_check(sizeof(Answer));
    Answer* p = (Answer*)malloc_check(sizeof(Answer));
    StrBuf boxed; // the gold is read as "\boxed{GOLD}" with Math-Verify's default settings
    sb_init(&boxed);
    sb_append(&boxed, "\\boxed{", 7);
    sb_append(&boxed, gold, strlen(gold) > ANSWER_MAX ? ANSWER_MAX : strlen(gold));
    sb_append(&boxed, "}", 1);
    StrBuf gold_text;
    sb_init(&gold_text);
    ans_unbox(boxed.s, boxed.len, 1, &gold_text);
    answer_parse(g, gold_text.s, 1, 0);
    answer_parse(p, found.s, 0, percent);
    // Math-Verify compares [value, text] with [value, text]: equal values, or equal normalised text
    int ok = (g->text.len > 0 && strcmp(g->text.s, p->text.s) == 0) || ans_value_equal(g, p);
    answer_free(g), answer_free(p);
    free(g), free(p), free(boxed.s), free(gold_text.s), free(found.s);
    return ok;
}

// 1 when the completion's final answer equals the gold answer, as Math-Verify's
// verify(parse(gold), parse(completion)) says in open-r1's accuracy reward; 0 otherwise. Where
// open-r1 finds no answer at all, the plain-text forms (<answer>42</answer>, "#### 42", "the
// answer is 42") are read too. A gold answer that cannot be read gives 0 (open-r1 skips those).
static int math_verify(const char* completion, const char* gold) { return math_verify_with(completion, gold, 1); }

// Exactly open-r1's accuracy reward: no plain-text forms, so "<answer>42</answer>" scores 0.
static int math_verify_openr1(const char* completion, const char* gold) {
    return math_verify_with(completion, gold, 0);
}

// ----------------------------------------------------------------------------
// Countdown: the answer
// TinyZero's Countdown task: reach the target with + - * / and parentheses, using each given
// number exactly once (grpo.md section 4, verl's countdown.py). Its answer is the last
// <answer>...</answer> on the completion's last line; countdown_correct (with the rewards, which
// own the safe arithmetic parser) scores it.

// Writes the last <answer>...</answer> of the completion's last line (stripped) to out; 0 if there
// is none. TinyZero reads only the last line; unlike it we drop trailing newlines first (TinyZero
// scores "...</answer>\n" 0, a quirk of its decoding we do not copy).
static int countdown_answer(const char* text, char* out, size_t out_size) {
    size_t end = strlen(text);
    while (end > 0 && ans_space(text[end - 1])) {
        end--;
    }
    size_t start = end;
    while (start > 0 && text[start - 1] != '\n') {
        start--;
    }
    const char* best = NULL;
    size_t best_n = 0;
    for (size_t i = start; i + 8 <= end; i++) {
        if (strncmp(text + i, "<answer>", 8) != 0) {
            continue;
        }
        for (size_t j = i + 8; j + 9 <= end; j++) {
            if (strncmp(text + j, "</answer>", 9) == 0) {
                best = text + i + 8, best_n = j - i - 8;
                i = j + 8;
                break;
            }
        }
    }
    if (best == NULL || out_size == 0) {
        return 0;
    }
    while (best_n > 0 && ans_space(*best)) {
        best++, best_n--;
    }
    while (best_n > 0 && ans_space(best[best_n - 1])) {
        best_n--;
    }
    if (best_n >= out_size) {
        return 0;
    }
    memcpy(out, best, best_n);
    out[best_n] = '\0';
    return 1;
}

// ----------------------------------------------------------------------------
// evaluation metrics
// pass@k is the unbiased estimator of Chen et al. 2021 (the Codex paper): with n samples of which c
// are correct, 1 - C(n-c, k) / C(n, k), computed as a product so no binomial overflows.

static double pass_at_k(int n, int c, int k) {
    if (k <= 0 || n <= 0 || k > n) {
        return NAN;
    }
    if (n - c < k) {
        return 1.0;
    }
    double miss = 1.0; // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    for (int i = n - c + 1; i <= n; i++) {
        miss *= 1.0 - (double)k / i;
    }
    return 1.0 - miss;
}

// ----------------------------------------------------------------------------
// prompt presets
// The prompts the benchmarks are usually run with, as data, so ./generate and ./eval agree.
// "{problem}" (and for Countdown "{nums}" and "{target}") are filled in by prompt_fill; the chat
// template around system and user is the tokenizer's job.

typedef struct {
    const char* name;
    const char* system; // NULL: the model's default system prompt
    const char* user;
    const char* about;
} PromptPreset;

static const PromptPreset prompt_presets[] = {
    {"boxed", NULL, "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.",
     "the usual math prompt (Qwen2.5-Math, DeepSeek-R1 evaluations)"},
    {"r1", NULL,
     "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
     "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
     "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
     "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: {problem}. "
     "Assistant:",
     "DeepSeek-R1-Zero's template (paper, table 1), as one user turn"},
    {"openr1",
     "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You first think about the "
     "reasoning process as an internal monologue and then provide the user with the answer. Respond in the "
     "following format: <think>\n...\n</think>\n<answer>\n...\n</answer>",
     "{problem}", "open-r1's GRPO system prompt"},
    {"countdown",
     "You are a helpful assistant. You first thinks about the reasoning process in the mind and then provides the "
     "user with the answer.",
     "Using the numbers {nums}, create an equation that equals {target}. You can use basic arithmetic operations "
     "(+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And return the "
     "final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.",
     "TinyZero's Countdown prompt (qwen-instruct template)"},
};

// The preset called name, or NULL.
static const PromptPreset* prompt_preset(const char* name) {
    for (size_t i = 0; i < sizeof(prompt_presets) / sizeof(prompt_presets[0]); i++) {
        if (strcmp(prompt_presets[i].name, name) == 0) {
            return &prompt_presets[i];
        }
    }
    return NULL;
}

// The preset a benchmark is run with unless told otherwise.
static const char* prompt_preset_for_bench(const char* bench) {
    return strcmp(bench, "countdown") == 0 ? "countdown" : "boxed";
}

// tmpl with every "{key}" replaced by its value; malloc'd (the caller frees).
static char* prompt_fill(const char* tmpl, const char* const* keys, const char* const* values, int n) {
    StrBuf out;
    sb_init(&out);
    for (const char* c = tmpl; *c;) {
        int done = 0;
        for (int k = 0; k < n && !done; k++) {
            size_t kl = strlen(keys[k]);
            if (c[0] == '{' && strncmp(c + 1, keys[k], kl) == 0 && c[1 + kl] == '}') {
                sb_append(&out, values[k], strlen(values[k]));
                c += kl + 2;
                done = 1;
            }
        }
        if (!done) {
            sb_append(&out, c++, 1);
        }
    }
    return out.s;
}

// ----------------------------------------------------------------------------
// rewards: rule-based rewards for GRPO
// R1-Zero learned from rewards computed by rules, not by a reward model: is the final answer right,
// and is the output in the <think>...</think><answer>...</answer> form. The public reproductions
// each wrote their own rules, and their quirks shape what the model learns, so each function here
// copies one reference exactly, quirks included, and says where it deliberately does not
// (tests/test_rewards.c checks them against the Python originals run by dev/oracle/rewards_oracle.py):
//   countdown        TinyZero verl/utils/reward_score/countdown.py compute_score: 0 / 0.1 / 1
//   minir1_format    Mini-R1 / Datawhale-R1 format_reward_func (run_r1_grpo.py): 0 / 1
//   minir1_equation  Mini-R1 / Datawhale-R1 equation_reward_func: 0 / 1
//   format, tag_count, reasoning_steps, cosine, repetition, accuracy   open-r1 src/open_r1/rewards.py
// Python's regular expressions are translated into small hand-written matchers, each linear in the
// text, and Python's eval() into a tiny arithmetic parser (never an evaluator of arbitrary code):
// no completion, however hostile, can make a reward slow.

typedef struct {
    const char* prompt; // the decoded prompt; TinyZero scores prompt + completion (NULL = none)
    const int* nums;    // Countdown: the numbers to use, each exactly once
    int n_nums;
    double target;      // Countdown: the value to reach
    const char* gold;   // math: the reference answer (for accuracy and cosine)
} RewardExample;

// Python's str.isspace(), which is also what \s, str.strip() and str.split() use: ASCII
// whitespace, the separators \x1c-\x1f, and Unicode's spaces and line separators.
static int py_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// Byte length of the whitespace code point at s[i] (0 if there is none there).
static int py_space_at(const char* s, size_t n, size_t i) {
    uint32_t cp;
    int k = utf8_decode((const unsigned char*)s + i, n - i, &cp);
    return (k > 0 && py_space(cp)) ? k : 0;
}

// Python's \d for str patterns: a decimal digit of any script (Unicode category Nd; here Unicode
// 14.0, Python 3.11's), e.g. the Arabic-Indic digit U+0663 in "Step \u0663:". Every script's digits
// are a run of ten code points; this table lists where each run starts.
static const uint32_t PY_DIGIT_RUNS[] = {
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50,
    0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40,
    0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066,
    0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950,
    0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6,
    0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0};

// Byte length of the \d digit at s[i] (0 if there is none there).
static int py_digit_at(const char* s, size_t n, size_t i) {
    uint32_t cp;
    int k = utf8_decode((const unsigned char*)s + i, n - i, &cp);
    for (size_t r = 0; k > 0 && r < sizeof(PY_DIGIT_RUNS) / sizeof(PY_DIGIT_RUNS[0]); r++) {
        if (cp >= PY_DIGIT_RUNS[r] && cp < PY_DIGIT_RUNS[r] + 10) {
            return k;
        }
    }
    return 0;
}

// Python's str.strip(): narrows [*a, *b) past leading and trailing whitespace.
static void py_strip(const char* s, size_t* a, size_t* b) {
    int k;
    while (*a < *b && (k = py_space_at(s, *b, *a)) > 0) {
        *a += (size_t)k;
    }
    while (*b > *a) { // step back one code point (skipping UTF-8 continuation bytes) and test it
        size_t p = *b - 1;
        while (p > *a && ((unsigned char)s[p] & 0xC0) == 0x80) {
            p--;
        }
        if (py_space_at(s, *b, p) != (int)(*b - p)) {
            break;
        }
        *b = p;
    }
}

// First occurrence of pat in s[from, n), or n when there is none.
static size_t text_find(const char* s, size_t n, size_t from, const char* pat) {
    size_t m = strlen(pat);
    for (size_t i = from; i + m <= n; i++) {
        if (s[i] == pat[0] && memcmp(s + i, pat, m) == 0) {
            return i;
        }
    }
    return n;
}

// Python's str.count(): non-overlapping occurrences, left to right.
static int text_count(const char* s, size_t n, const char* pat) {
    int count = 0;
    size_t m = strlen(pat);
    for (size_t i = text_find(s, n, 0, pat); i < n; i = text_find(s, n, i + m, pat)) {
        count++;
    }
    return count;
}

// Python's len() of a str: code points, not bytes.
static size_t utf8_chars(const char* s) {
    size_t n = 0;
    for (; *s; s++) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

// ----------------------------------------------------------------------------
// rewards: the Countdown equation, as Python's eval() would compute it
// TinyZero and Mini-R1 check an answer such as "(44 - 19) * 35 / 25" in three steps: the digit runs
// are exactly the given numbers (re.findall(r'\d+'), as a multiset), the text matches
// ^[\d+\-*/().\s]+$, and eval() of it is within 1e-5 of the target. We parse the text with
// Python's grammar for these characters instead of running it:
//   expr := term (('+' | '-') term)*          term  := factor (('*' | '/' | '//') factor)*
//   factor := ('+' | '-') factor | power      power := atom ['**' factor]      (right-assoc: 2**3**2 = 512)
//   atom := NUMBER | '(' expr ')'             -2**2 = -4, 7//2 = 3, -7//2 = -4, 1/2 = 0.5
// Python's token rules are kept: "05" is a SyntaxError (leading zero) but "00", "05.5", "1." and ".5"
// are numbers; "**" and "//" are single tokens only when their two characters touch; spaces are
// ' ', '\t', '\f' (and a line break inside parentheses); "()" is an empty tuple, not a number.
// Every failure of Python (SyntaxError, ZeroDivisionError, 0 ** -1, a complex result like
// (-8) ** 0.5, "too many nested parentheses" past 200 levels, its compiler's recursion limit at
// about 3,000 nested operators) makes the equation "not evaluable", which both references score
// like a wrong answer. Deliberate differences, all in cases no 3-4 number puzzle reaches:
//   - values are doubles, not Python's unbounded integers: exact up to 2^53; 9**9**9**9 is inf at
//     once where Python hangs (TinyZero's trainer with it), and huge terms that cancel exactly in
//     Python (10**400 - 10**400 + 5) are NaN here;
//   - a complex intermediate is "not evaluable" here, where Python would carry it on;
//   - Unicode digits and spaces pass Python's regex but never its eval, so both score them alike.

#define CE_MAX_PARENS 200   // Python's tokenizer: "too many nested parentheses" past this
#define CE_MAX_DEPTH 2991   // Python 3.11's compiler gives up near here (the exact point depends
                            // on the caller's stack depth: 2,837 from 50 frames down)

typedef struct {
    const char* s;
    size_t n, pos;
    int parens; // open parentheses around the cursor
    int rec;    // recursion depth of ce_factor (bounds the C stack on "1**1**1**...")
    int fail;   // set on anything Python's eval would reject
} CeEval;

typedef struct {
    double v;
    int is_int; // Python int (else float): decides what // and ** return
    int depth;  // syntax tree depth, for the compiler's recursion limit
} CeNum;

static void ce_skip(CeEval* e) {
    while (e->pos < e->n) {
        char c = e->s[e->pos];
        if (c == ' ' || c == '\t' || c == '\f' || ((c == '\r' || c == '\n') && e->parens > 0)) {
            e->pos++;
        } else {
            break;
        }
    }
}

static char ce_peek(CeEval* e, size_t k) { return e->pos + k < e->n ? e->s[e->pos + k] : '\0'; }

static int ce_digit(char c) { return c >= '0' && c <= '9'; }

// A number literal with Python's rules; the value is read by strtod (correctly rounded, as Python).
static CeNum ce_number(CeEval* e) {
    CeNum r = {0.0, 1, 1};
    size_t start = e->pos, nz = 0; // nz: a nonzero digit seen in the integer part
    while (e->pos < e->n && ce_digit(e->s[e->pos])) {
        nz |= e->s[e->pos++] != '0';
    }
    size_t int_digits = e->pos - start;
    if (ce_peek(e, 0) == '.') { // "1.5", "1.", ".5" are floats, leading zeros allowed
        e->pos++;
        while (e->pos < e->n && ce_digit(e->s[e->pos])) {
            e->pos++;
        }
        r.is_int = 0;
        if (int_digits == 0 && e->pos - start == 1) { // a lone "." is not a number
            e->fail = 1;
        }
    } else if (int_digits > 1 && e->s[start] == '0' && nz) {
        e->fail = 1; // "05": leading zeros in decimal integer literals are not permitted
    }
    char buf[64];
    size_t len = e->pos - start;
    if (len < sizeof(buf)) {
        memcpy(buf, e->s + start, len);
        buf[len] = '\0';
        r.v = strtod(buf, NULL);
    } else {
        r.v = INFINITY; // more than 63 digits: far past any target (Python keeps it exact)
    }
    return r;
}

static CeNum ce_expr(CeEval* e);
static CeNum ce_factor(CeEval* e);

static CeNum ce_atom(CeEval* e) {
    CeNum r = {0.0, 1, 1};
    ce_skip(e);
    char c = ce_peek(e, 0);
    if (c == '(') {
        if (++e->parens > CE_MAX_PARENS) {
            e->fail = 1;
            return r;
        }
        e->pos++;
        ce_skip(e);
        if (ce_peek(e, 0) == ')') { // "()" is an empty tuple: not a number
            e->fail = 1;
            return r;
        }
        r = ce_expr(e);
        ce_skip(e);
        if (e->fail || ce_peek(e, 0) != ')') {
            e->fail = 1;
            return r;
        }
        e->pos++;
        e->parens--;
        return r;
    }
    if (ce_digit(c) || c == '.') {
        return ce_number(e);
    }
    e->fail = 1;
    return r;
}

// Python's float floor division (Objects/floatobject.c float_floor_div): through fmod, so that
// 1 // 0.1 is 9.0 as in Python, not floor(1 / 0.1) = 10. Exact for integers below 2^53.
static double ce_floordiv(double a, double b) {
    double mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0.0 && ((b < 0) != (mod < 0))) {
        div -= 1.0;
    }
    if (div == 0.0) {
        return copysign(0.0, a / b);
    }
    double fl = floor(div);
    return div - fl > 0.5 ? fl + 1.0 : fl;
}

// a ** b with Python's errors: 0 ** negative is ZeroDivisionError, a negative float base with a
// fractional exponent gives a complex number, a float result that overflows is OverflowError.
static CeNum ce_pow(CeEval* e, CeNum a, CeNum b) {
    CeNum r = {1.0, a.is_int && b.is_int && b.v >= 0, 1 + (a.depth > b.depth ? a.depth : b.depth)};
    if (a.v == 0.0 && b.v < 0) {
        e->fail = 1;
        return r;
    }
    if (a.v < 0 && b.v != floor(b.v) && isfinite(b.v)) {
        e->fail = 1; // complex
        return r;
    }
    r.v = pow(a.v, b.v);
    if (!r.is_int && isinf(r.v) && isfinite(a.v) && isfinite(b.v)) {
        e->fail = 1; // OverflowError (an int result just grows: Python ints have no limit)
    }
    return r;
}

// power := atom ['**' factor]
static CeNum ce_power(CeEval* e) {
    CeNum a = ce_atom(e);
    ce_skip(e);
    if (!e->fail && ce_peek(e, 0) == '*' && ce_peek(e, 1) == '*') {
        e->pos += 2;
        CeNum b = ce_factor(e);
        if (!e->fail) {
            a = ce_pow(e, a, b);
        }
    }
    return a;
}

// factor := ('+' | '-') factor | power; the signs are counted in a loop, not by recursion
static CeNum ce_factor(CeEval* e) {
    int neg = 0, signs = 0;
    if (++e->rec > CE_MAX_DEPTH) {
        e->fail = 1;
        return (CeNum){0.0, 1, 1};
    }
    for (;;) {
        ce_skip(e);
        char c = ce_peek(e, 0);
        if (c != '+' && c != '-') {
            break;
        }
        neg ^= c == '-', signs++, e->pos++;
        if (signs > CE_MAX_DEPTH) {
            e->fail = 1;
            return (CeNum){0.0, 1, 1};
        }
    }
    CeNum r = ce_power(e);
    e->rec--;
    r.v = neg ? -r.v : r.v;
    r.depth += signs;
    if (r.depth > CE_MAX_DEPTH) {
        e->fail = 1;
    }
    return r;
}

static CeNum ce_binary(CeEval* e, CeNum a, char op, CeNum b) {
    CeNum r = {0.0, a.is_int && b.is_int, 1 + (a.depth > b.depth ? a.depth : b.depth)};
    if ((op == '/' || op == 'f') && b.v == 0.0) {
        e->fail = 1; // ZeroDivisionError
        return r;
    }
    switch (op) {
    case '+': r.v = a.v + b.v; break;
    case '-': r.v = a.v - b.v; break;
    case '*': r.v = a.v * b.v; break;
    case '/': r.v = a.v / b.v, r.is_int = 0; break; // true division, always a float
    default: r.v = ce_floordiv(a.v, b.v); break;    // 'f': floor division "//"
    }
    if (r.depth > CE_MAX_DEPTH) {
        e->fail = 1;
    }
    return r;
}

// term := factor (('*' | '/' | '//') factor)*
static CeNum ce_term(CeEval* e) {
    CeNum v = ce_factor(e);
    while (!e->fail) {
        ce_skip(e);
        char c = ce_peek(e, 0), c2 = ce_peek(e, 1);
        if (c != '*' && c != '/') {
            break;
        }
        char op = c == '/' && c2 == '/' ? 'f' : c;
        if (c == '*' && c2 == '*') { // "**" after a complete factor cannot happen in valid input
            e->fail = 1;
            break;
        }
        e->pos += op == 'f' ? 2 : 1;
        CeNum w = ce_factor(e);
        if (!e->fail) {
            v = ce_binary(e, v, op, w);
        }
    }
    return v;
}

// expr := term (('+' | '-') term)*
static CeNum ce_expr(CeEval* e) {
    CeNum v = ce_term(e);
    while (!e->fail) {
        ce_skip(e);
        char c = ce_peek(e, 0);
        if (c != '+' && c != '-') {
            break;
        }
        e->pos++;
        CeNum w = ce_term(e);
        if (!e->fail) {
            v = ce_binary(e, v, c, w);
        }
    }
    return v;
}

// The regex ^[\d+\-*/().\s]+$ (ASCII part: see above for Unicode) and then eval().
// Returns 1 with the value in *out, or 0 where Python would reject or raise.
static int countdown_eval(const char* s, size_t n, double* out) {
    if (n == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i]; // (non-ASCII: see "Unicode" above)
        if (c == 0 || c >= 0x80 || (!ce_digit((char)c) && !strchr("+-*/().", c) && !py_space(c))) {
            return 0;
        }
    }
    CeEval e = {s, n, 0, 0, 0, 0};
    CeNum v = ce_expr(&e);
    ce_skip(&e);
    if (e.fail || e.pos != n) {
        return 0;
    }
    *out = v.v;
    return 1;
}

// sorted(int(x) for x in re.findall(r'\d+', s)) == sorted(nums). Python 3.11's int() refuses more
// than 4,300 digits (ValueError: the check fails); any run longer than 10 digits after its leading
// zeros is past every int the numbers can be, so it fails too.
static int countdown_numbers_ok(const char* s, size_t n, const int* nums, int n_nums) {
    int found = 0;
    char* used = (char*)calloc_check((size_t)(n_nums > 0 ? n_nums : 1), 1);
    int ok = 1;
    for (size_t i = 0; i < n && ok;) {
        if (!ce_digit(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        long long v = 0;
        int big = 0;
        for (; j < n && ce_digit(s[j]); j++) {
            if (!big) {
                v = v * 10 + (s[j] - '0');
                big = v > 9999999999LL;
            }
        }
        int k = 0; // match this number against an unused one of nums
        while (k < n_nums && (big || used[k] || nums[k] != v)) {
            k++;
        }
        ok = k < n_nums;
        if (ok) {
            used[k] = 1, found++;
        }
        i = j;
    }
    free(used);
    return ok && found == n_nums;
}

// ----------------------------------------------------------------------------
// rewards: Countdown (TinyZero, Mini-R1 / Datawhale-R1)

// TinyZero's extract_solution: the text after the first "Assistant:" (else after
// "<|im_start|>assistant"; neither: no answer), then only its LAST LINE, then the last
// <answer>(.*?)</answer> there, stripped. Returns 0 when there is none; else the span [*a, *b).
static int tinyzero_extract(const char* s, size_t n, size_t* a, size_t* b) {
    size_t start = text_find(s, n, 0, "Assistant:");
    if (start < n) {
        start += strlen("Assistant:");
    } else if ((start = text_find(s, n, 0, "<|im_start|>assistant")) < n) {
        start += strlen("<|im_start|>assistant");
    } else {
        return 0;
    }
    for (size_t i = start; i < n; i++) { // split('\n')[-1]
        if (s[i] == '\n') {
            start = i + 1;
        }
    }
    // re.finditer, non-overlapping from the left: each <answer> closes at the next </answer>
    int found = 0;
    for (size_t i = text_find(s, n, start, "<answer>"); i < n;) {
        size_t j = text_find(s, n, i + 8, "</answer>");
        if (j == n) {
            break; // no </answer> after this <answer>, so none after a later one either
        }
        *a = i + 8, *b = j, found = 1;
        i = text_find(s, n, j + 9, "<answer>");
    }
    if (found) {
        py_strip(s, a, b);
    }
    return found;
}

// TinyZero compute_score (format_score 0.1, score 1): 0 without an answer, 0.1 when the numbers are
// not exactly nums, when the equation does not evaluate or is wrong, and 1 when it is within 1e-5
// of the target. TinyZero scores the decoded prompt + response with special tokens, so pass the
// prompt in ex->prompt and keep "<|endoftext|>" / "<|im_end|>" in the completion: a completion
// ending "</answer>\n" then scores 0, because its last line holds no answer. That is TinyZero's
// behaviour and we keep it.
static float reward_countdown(const char* completion, const RewardExample* ex) {
    size_t np = ex->prompt ? strlen(ex->prompt) : 0, nc = strlen(completion), a, b;
    char* s = (char*)malloc_check(np + nc + 1);
    memcpy(s, ex->prompt ? ex->prompt : "", np);
    memcpy(s + np, completion, nc + 1);
    float r = 0.0f;
    double v;
    if (tinyzero_extract(s, np + nc, &a, &b)) {
        r = 0.1f;
        if (countdown_numbers_ok(s + a, b - a, ex->nums, ex->n_nums) && countdown_eval(s + a, b - a, &v) &&
            fabs(v - ex->target) < 1e-5) {
            r = 1.0f;
        }
    }
    free(s);
    return r;
}

// The Countdown accuracy eval.c reports: the completion alone (eval has no prompt), the answer
// countdown_answer finds (which forgives a trailing newline), scored by the reward's own parser:
// 1 exactly when the numbers are nums and the value is within 1e-5 of the target.
static int countdown_correct(const char* completion, const int* nums, int n, int target) {
    char eq[1024];
    double v;
    return countdown_answer(completion, eq, sizeof(eq)) && countdown_numbers_ok(eq, strlen(eq), nums, n) &&
           countdown_eval(eq, strlen(eq), &v) && fabs(v - target) < 1e-5;
}

// Mini-R1's answer: the FIRST <answer>(.*?)</answer> of the whole completion (re.search), where
// '.' does not match '\n', so an <answer> whose next </answer> lies past a line break is skipped.
static int minir1_extract(const char* s, size_t n, size_t* a, size_t* b) {
    size_t j = 0, nl = 0; // next </answer> and next '\n' at or after the content start (monotone)
    for (size_t i = text_find(s, n, 0, "<answer>"); i < n; i = text_find(s, n, i + 1, "<answer>")) {
        if (j < i + 8) {
            j = text_find(s, n, i + 8, "</answer>");
        }
        if (j == n) {
            return 0;
        }
        if (nl < i + 8) {
            nl = i + 8;
            while (nl < n && s[nl] != '\n') {
                nl++;
            }
        }
        if (nl >= j) { // no line break inside: this is the match
            *a = i + 8, *b = j;
            py_strip(s, a, b);
            return 1;
        }
    }
    return 0;
}

// Mini-R1 / Datawhale-R1 equation_reward_func: 1 when the first answer uses exactly nums and is
// within 1e-5 of the target, else 0 (no 0.1 for the format: that is the format reward's job).
static float reward_minir1_equation(const char* completion, const RewardExample* ex) {
    size_t n = strlen(completion), a, b;
    double v;
    return minir1_extract(completion, n, &a, &b) && countdown_numbers_ok(completion + a, b - a, ex->nums, ex->n_nums) &&
                   countdown_eval(completion + a, b - a, &v) && fabs(v - ex->target) < 1e-5
               ? 1.0f
               : 0.0f;
}

// Mini-R1 / Datawhale-R1 format_reward_func: "<think>" is prepended (the prompt ends with it) and
// re.search(r"^<think>([^<]*(?:<(?!/?think>)[^<]*)*)<\/think>\n<answer>([\s\S]*?)<\/answer>$",
// DOTALL). Unrolled: the thinking may contain '<' but not "<think>" or "</think>", so the first of
// those after the opening tag must be "</think>\n<answer>", and the text must end in "</answer>"
// (or "</answer>\n": without MULTILINE, $ also matches before a final newline).
static float reward_minir1_format(const char* completion, const RewardExample* ex) {
    size_t nc = strlen(completion), n = nc + 7;
    char* s = (char*)malloc_check(n + 1);
    memcpy(s, "<think>", 7);
    memcpy(s + 7, completion, nc + 1);
    size_t p = text_find(s, n, 7, "<think>"), q = text_find(s, n, 7, "</think>");
    p = q < p ? q : p;
    int ok = 0;
    if (p < n && strncmp(s + p, "</think>\n<answer>", 17) == 0) {
        size_t rest = p + 17;
        ok = (n >= rest + 9 && memcmp(s + n - 9, "</answer>", 9) == 0) ||
             (n >= rest + 10 && memcmp(s + n - 10, "</answer>\n", 10) == 0);
    }
    free(s);
    return ok ? 1.0f : 0.0f;
}

// ----------------------------------------------------------------------------
// rewards: open-r1 (src/open_r1/rewards.py)

// format_reward: re.match(r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$", DOTALL | MULTILINE).
// With MULTILINE, $ matches before any '\n', so text on later lines after "\n</answer>" still
// passes. The earliest "\n</think>\n<answer>\n" leaves the most room, so it is the one to try.
static float reward_format(const char* completion, const RewardExample* ex) {
    const char* s = completion;
    size_t n = strlen(s);
    if (strncmp(s, "<think>\n", 8) != 0) {
        return 0.0f;
    }
    size_t a = text_find(s, n, 8, "\n</think>\n<answer>\n");
    if (a == n) {
        return 0.0f;
    }
    for (size_t c = text_find(s, n, a + 19, "\n</answer>"); c < n; c = text_find(s, n, c + 1, "\n</answer>")) {
        if (c + 10 == n || s[c + 10] == '\n') {
            return 1.0f;
        }
    }
    return 0.0f;
}

// tag_count_reward: 0.25 for each of "<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>"
// that occurs exactly once (str.count: non-overlapping). Added against repeated-tag reward hacking.
static float reward_tag_count(const char* completion, const RewardExample* ex) {
    size_t n = strlen(completion);
    float r = 0.0f;
    r += text_count(completion, n, "<think>\n") == 1 ? 0.25f : 0.0f;
    r += text_count(completion, n, "\n</think>\n") == 1 ? 0.25f : 0.0f;
    r += text_count(completion, n, "\n<answer>\n") == 1 ? 0.25f : 0.0f;
    r += text_count(completion, n, "\n</answer>") == 1 ? 0.25f : 0.0f;
    return r;
}

// Length of the match of one alternative of reasoning_steps' pattern at s[i], or 0.
static size_t steps_match_at(const char* s, size_t n, size_t i) {
    static const char* words[] = {"First,", "Second,", "Next,", "Finally,"};
    if (i > 0 && !strchr("SFN\n", s[i])) { // no alternative starts with another character
        return 0;
    }
    int k;
    if (strncmp(s + i, "Step ", 5) == 0) { // Step \d+:
        size_t j = i + 5;
        while (j < n && (k = py_digit_at(s, n, j)) > 0) {
            j += (size_t)k;
        }
        if (j > i + 5 && s[j] == ':') {
            return j + 1 - i;
        }
    }
    if (i == 0) { // ^\d+\. (no MULTILINE: only at the very start)
        size_t j = 0;
        while (j < n && (k = py_digit_at(s, n, j)) > 0) {
            j += (size_t)k;
        }
        if (j > 0 && s[j] == '.') {
            return j + 1;
        }
    }
    if (s[i] == '\n' && (s[i + 1] == '-' || s[i + 1] == '*')) { // \n- and \n\*
        return 2;
    }
    for (int w = 0; w < 4; w++) {
        if (strncmp(s + i, words[w], strlen(words[w])) == 0) {
            return strlen(words[w]);
        }
    }
    return 0;
}

// reasoning_steps_reward: min(1, matches / 3) for re.findall(r"(Step \d+:|^\d+\.|\n-|\n\*|First,|
// Second,|Next,|Finally,)"), counted left to right without overlaps.
static float reward_reasoning_steps(const char* completion, const RewardExample* ex) {
    size_t n = strlen(completion), count = 0;
    for (size_t i = 0; i < n;) {
        size_t m = steps_match_at(completion, n, i);
        count += m > 0;
        i += m > 0 ? m : 1;
    }
    return count >= 3 ? 1.0f : (float)(count / 3.0);
}

// get_cosine_scaled_reward: short right answers earn the most, long wrong ones are punished least.
//   r = lo + (hi - lo) (1 + cos(pi len / max_len)) / 2,  len in characters (Python's len)
// with (lo, hi) = (min_correct, max_correct) when right and (max_wrong, min_wrong) when wrong.
// There is no clamp: past max_len the cosine turns back up, as in open-r1's code.
typedef struct {
    double min_wrong, max_wrong, min_correct, max_correct, max_len;
} CosineParams;

static const CosineParams COSINE_OPENR1 = {0.0, -0.5, 0.5, 1.0, 1000.0}; // open-r1 configs.py defaults

static double cosine_scaled(size_t len_chars, int correct, const CosineParams* p) {
    double cosine = cos((double)len_chars / p->max_len * 3.14159265358979323846); // (M_PI is not C99)
    double lo = correct ? p->min_correct : p->max_wrong, hi = correct ? p->max_correct : p->min_wrong;
    return lo + 0.5 * (hi - lo) * (1.0 + cosine);
}

// A hash set of n-grams (word sequences), to count the distinct ones: each n-gram is stored as the
// index of its first word; two are equal when their words are byte for byte equal.
static uint64_t ngram_hash(const char* s, const size_t* start, const size_t* len, size_t w, size_t ngram) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (size_t k = w; k < w + ngram; k++) {
        for (size_t i = 0; i < len[k]; i++) {
            h = (h ^ (unsigned char)s[start[k] + i]) * 1099511628211ull;
        }
        h = (h ^ 0xff) * 1099511628211ull; // word separator (0xff never occurs in UTF-8)
    }
    return h;
}

static int ngram_equal(const char* s, const size_t* start, const size_t* len, size_t a, size_t b, size_t ngram) {
    for (size_t k = 0; k < ngram; k++) {
        if (len[a + k] != len[b + k] || memcmp(s + start[a + k], s + start[b + k], len[a + k]) != 0) {
            return 0;
        }
    }
    return 1;
}

static size_t ngrams_distinct(const char* s, const size_t* start, const size_t* len, size_t total, size_t ngram) {
    size_t cap = 16, distinct = 0;
    while (cap < 2 * total) {
        cap *= 2;
    }
    size_t* table = (size_t*)malloc_check(cap * sizeof(size_t));
    for (size_t i = 0; i < cap; i++) {
        table[i] = SIZE_MAX; // empty
    }
    for (size_t w = 0; w < total; w++) {
        size_t slot = (size_t)ngram_hash(s, start, len, w, ngram) & (cap - 1);
        while (table[slot] != SIZE_MAX && !ngram_equal(s, start, len, table[slot], w, ngram)) {
            slot = (slot + 1) & (cap - 1); // linear probing
        }
        if (table[slot] == SIZE_MAX) {
            table[slot] = w, distinct++;
        }
    }
    free(table);
    return distinct;
}

// get_repetition_penalty_reward: (1 - distinct n-grams / n-grams) * max_penalty over the words of
// text.lower().split(), 0 for fewer than n words. Deliberate difference: lower() folds ASCII only.
static double repetition_penalty(const char* text, int ngram, double max_penalty) {
    size_t n = strlen(text), nw = 0, cap = 16;
    char* low = strdup_check(text);
    for (size_t i = 0; i < n; i++) {
        low[i] = (char)tolower((unsigned char)low[i]);
    }
    size_t* start = (size_t*)malloc_check(cap * sizeof(size_t));
    size_t* len = (size_t*)malloc_check(cap * sizeof(size_t));
    for (size_t i = 0; i < n;) { // str.split(): runs of non-whitespace
        int k = py_space_at(low, n, i);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (nw == cap) {
            cap *= 2;
            start = (size_t*)realloc_check(start, cap * sizeof(size_t));
            len = (size_t*)realloc_check(len, cap * sizeof(size_t));
        }
        start[nw] = i;
        while (i < n && py_space_at(low, n, i) == 0) {
            i++;
        }
        len[nw] = i - start[nw], nw++;
    }
    double r = 0.0;
    if (ngram > 0 && nw >= (size_t)ngram) {
        size_t total = nw - (size_t)ngram + 1;
        size_t distinct = ngrams_distinct(low, start, len, total, (size_t)ngram);
        r = (1.0 - (double)distinct / (double)total) * max_penalty;
    }
    free(low), free(start), free(len);
    return r;
}

// accuracy_reward: 1 when Math-Verify says the completion's answer equals the gold answer
// (math_verify in the answer-checker section above), else 0; NaN (skipped, as TRL skips None) when
// the example has no gold answer.
static float reward_accuracy(const char* completion, const RewardExample* ex) {
    if (ex->gold == NULL) {
        return NAN;
    }
    return math_verify(completion, ex->gold) ? 1.0f : 0.0f;
}

// cosine_scaled_reward with open-r1's recipe settings (configs.py): 1 -> 0.5 when right, 0 -> -0.5
// when wrong, over max_len = 1000 characters.
static float reward_cosine(const char* completion, const RewardExample* ex) {
    if (ex->gold == NULL) {
        return NAN;
    }
    return (float)cosine_scaled(utf8_chars(completion), math_verify(completion, ex->gold), &COSINE_OPENR1);
}

// repetition_penalty_reward with open-r1's recipe settings: 3-grams, max penalty -1.
static float reward_repetition(const char* completion, const RewardExample* ex) {
    return (float)repetition_penalty(completion, 3, -1.0);
}

// ----------------------------------------------------------------------------
// rewards: the registry
// train_grpo's --reward flag names the functions and their weights, e.g. "countdown" (TinyZero),
// "minir1_format:1,minir1_equation:1" (Mini-R1, rewards 0..2) or "accuracy:1,format:1,tag_count:1"
// (open-r1's recipe). A sample's reward is the weighted sum; like TRL's nansum, a function that
// returns NaN ("cannot judge this one") is left out of the sum.

typedef float (*RewardFn)(const char* completion, const RewardExample* ex);

typedef struct {
    const char* name;
    RewardFn fn;
    const char* what;
} RewardSpec;

static const RewardSpec REWARD_SPECS[] = {
    {"countdown", reward_countdown, "TinyZero countdown compute_score: 0 / 0.1 / 1 (needs the prompt)"},
    {"minir1_format", reward_minir1_format, "Mini-R1 format: <think> ... </think>\n<answer> ... </answer>"},
    {"minir1_equation", reward_minir1_equation, "Mini-R1 equation: 1 if the first answer reaches the target"},
    {"format", reward_format, "open-r1 format: <think>\n...\n</think>\n<answer>\n...\n</answer>"},
    {"tag_count", reward_tag_count, "open-r1 tag_count: 0.25 per tag present exactly once"},
    {"reasoning_steps", reward_reasoning_steps, "open-r1 reasoning_steps: min(1, steps / 3)"},
    {"accuracy", reward_accuracy, "open-r1 accuracy: Math-Verify against the gold answer"},
    {"cosine", reward_cosine, "open-r1 cosine_scaled: accuracy scaled by length"},
    {"repetition", reward_repetition, "open-r1 repetition_penalty: 3-grams, down to -1"},
};
#define N_REWARD_SPECS (sizeof(REWARD_SPECS) / sizeof(REWARD_SPECS[0]))
#define MAX_REWARDS 16

typedef struct {
    int n;
    const RewardSpec* spec[MAX_REWARDS];
    float weight[MAX_REWARDS];
} RewardSet;

static const RewardSpec* reward_lookup(const char* name, size_t len) {
    for (size_t i = 0; i < N_REWARD_SPECS; i++) {
        if (strlen(REWARD_SPECS[i].name) == len && strncmp(REWARD_SPECS[i].name, name, len) == 0) {
            return &REWARD_SPECS[i];
        }
    }
    return NULL;
}

// Parses "name[:weight],name[:weight],..." (weight 1 when left out); a bad spec is fatal.
static RewardSet reward_parse(const char* spec) {
    RewardSet rs = {0};
    for (const char* p = spec; *p;) {
        const char* end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char* colon = (const char*)memchr(p, ':', len);
        size_t nlen = colon ? (size_t)(colon - p) : len;
        const RewardSpec* s = reward_lookup(p, nlen);
        if (s == NULL) {
            fatal("unknown reward '%.*s' in '%s' (known: countdown, minir1_format, minir1_equation, format, "
                  "tag_count, reasoning_steps, accuracy, cosine, repetition)", (int)nlen, p, spec);
        }
        char* wend = NULL;
        float w = colon ? strtof(colon + 1, &wend) : 1.0f;
        if (colon && (wend != p + len || !isfinite(w))) {
            fatal("bad weight in reward '%.*s' of '%s' (expected name:number, e.g. format:0.5)", (int)len, p, spec);
        }
        if (rs.n == MAX_REWARDS) {
            fatal("too many rewards in '%s' (at most %d)", spec, MAX_REWARDS);
        }
        rs.spec[rs.n] = s, rs.weight[rs.n] = w, rs.n++;
        p = end ? end + 1 : p + len;
    }
    if (rs.n == 0) {
        fatal("no reward function in '%s' (e.g. --reward countdown)", spec);
    }
    return rs;
}

// The weighted reward of one completion; each function's own value goes to per_fn (n), if given.
static float reward_total(const RewardSet* rs, const char* completion, const RewardExample* ex, float* per_fn) {
    double total = 0.0;
    for (int i = 0; i < rs->n; i++) {
        float r = rs->spec[i]->fn(completion, ex);
        if (per_fn) {
            per_fn[i] = r;
        }
        if (!isnan(r)) {
            total += (double)rs->weight[i] * r;
        }
    }
    return (float)total;
}

// ----------------------------------------------------------------------------
// GRPO: group advantages
// Each prompt gets G completions; a completion's advantage is how much better its reward is than
// its group's mean, usually divided by the group's spread. The std is the unbiased one (N - 1), as
// torch.std computes it in TRL and verl, and eps is added to the std, not put inside the sqrt:
// TRL uses eps = 1e-4, verl/TinyZero 1e-6. Scaling modes (TRL's `scale_rewards`):
//   GROUP  A = (r - mean_g) / (std_g + eps)    DeepSeekMath, TRL "group", verl default
//   BATCH  A = (r - mean_g) / (std_all + eps)  TRL "batch": group mean, std of the whole batch
//   NONE   A = r - mean_g                      Dr. GRPO (no difficulty bias), verl norm_adv_by_std=False
// A group of one completion has no spread: like verl we take mean 0 and std 1 (A = r / (1 + eps)).
// An all-equal group gets A = 0 everywhere: eps keeps it from being 0/0.

typedef enum { GRPO_SCALE_GROUP, GRPO_SCALE_BATCH, GRPO_SCALE_NONE } GrpoScale;

// Unbiased standard deviation of n values (0 when n < 2), in double.
static double grpo_std(const float* x, size_t n) {
    if (n < 2) {
        return 0.0;
    }
    double mean = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        mean += x[i];
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        ss += ((double)x[i] - mean) * ((double)x[i] - mean);
    }
    return sqrt(ss / (double)(n - 1));
}

// rewards and adv are (n_groups, G): the G completions of one prompt are consecutive.
static void grpo_advantages(float* adv, const float* rewards, int n_groups, int G, GrpoScale scale, float eps) {
    double batch_std = grpo_std(rewards, (size_t)n_groups * G);
    for (int g = 0; g < n_groups; g++) {
        const float* r = rewards + (size_t)g * G;
        double mean = 0, std = 1.0; // the values verl gives a group of one
        if (G > 1) {
            for (int i = 0; i < G; i++) {
                mean += r[i];
            }
            mean /= G;
            std = grpo_std(r, (size_t)G);
        }
        double denom = scale == GRPO_SCALE_GROUP ? std + eps : scale == GRPO_SCALE_BATCH ? batch_std + eps : 1.0;
        for (int i = 0; i < G; i++) {
            adv[(size_t)g * G + i] = (float)(((double)r[i] - mean) / denom);
        }
    }
}

// ----------------------------------------------------------------------------
// GRPO: loss aggregation weights
// The loss is one sum over tokens, L = sum_{i,t} w_{i,t} m_{i,t} l_{i,t}; the variants of GRPO differ
// only in the weight w (grpo.md §1). B is the number of completions in this micro-batch, |o_i| the
// number of unmasked tokens of completion i, GA the gradient-accumulation steps:
//   GRPO     1 / (B |o_i|) / GA   DeepSeekMath; TRL "grpo"; verl "seq-mean-token-mean". Each completion
//                                 counts equally however long it is, which biases toward short right
//                                 answers and long wrong ones (the Dr. GRPO paper's length bias).
//   BNPO     1 / sum(m) / GA      TRL "bnpo": a token mean over the micro-batch
//   DR_GRPO  1 / (B Lmax) / GA    TRL "dr_grpo", verl "seq-mean-token-sum-norm" (Lmax = max length)
//   DAPO     1 / N_window         TRL "dapo" (its default since v0.22), verl "token-mean": a token
//                                 mean over the whole accumulation window (N_window tokens), so every
//                                 token of the optimizer step weighs the same.
// Parity notes: an empty completion counts as length 1 in GRPO, as TRL's clamp(min=1) (verl drops
// empty completions from B instead); global_tokens <= 0 for DAPO means "this micro-batch only".

typedef enum { GRPO_AGG_GRPO, GRPO_AGG_BNPO, GRPO_AGG_DR_GRPO, GRPO_AGG_DAPO } GrpoAgg;

// w and mask are (B, T); mask is 1 on completion tokens up to and including the first EOS.
static void grpo_token_weights(float* w, const float* mask, int B, int T, GrpoAgg agg, int max_len,
                               double global_tokens, int grad_accum) {
    double total = 0;
    for (size_t i = 0; i < (size_t)B * T; i++) {
        total += mask[i];
    }
    double ga = grad_accum > 0 ? grad_accum : 1;
    for (int b = 0; b < B; b++) {
        const float* m = mask + (size_t)b * T;
        double len = 0;
        for (int t = 0; t < T; t++) {
            len += m[t];
        }
        double scale;
        if (agg == GRPO_AGG_GRPO) {
            scale = 1.0 / ((double)B * (len > 1 ? len : 1)) / ga;
        } else if (agg == GRPO_AGG_BNPO) {
            scale = 1.0 / (total > 1 ? total : 1) / ga;
        } else if (agg == GRPO_AGG_DR_GRPO) {
            scale = 1.0 / ((double)B * max_len) / ga;
        } else {
            double n = global_tokens > 0 ? global_tokens : total;
            scale = 1.0 / (n > 1 ? n : 1);
        }
        for (int t = 0; t < T; t++) {
            w[(size_t)b * T + t] = (float)(scale * m[t]);
        }
    }
}

// ----------------------------------------------------------------------------
// GRPO: the loss and its gradient with respect to the logits
// Per token (grpo.md §1), with logp = log_softmax(u / Temp)[y] for raw logits u and sampled token y:
//   rho = exp(logp - logp_old)                      the importance ratio
//   pg  = -min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A)     PPO's clipped surrogate
//   kl  = k1: logp - logr,  k2: (logp - logr)^2 / 2,  k3: exp(logr - logp) - (logr - logp) - 1
//   l   = pg + beta kl,    and the loss  L = sum_t w_t l_t  -  c sum_t we_t H_t
// where H_t is the entropy of the token's distribution (an exploration bonus, weight c) and w, we
// are the aggregation weights above (TRL token-means the entropy: we = BNPO weights; verl uses the
// loss's own aggregation: we = w).
// The whole model only sees L through logp and H, so we skip autograd and write dL/du directly:
// it is cross-entropy's backward, p - onehot(y), scaled by a per-token factor g = dl/dlogp:
//   g = (clipped ? 0 : -A rho) + beta dkl/dlogp,   dk1 = 1, dk2 = logp - logr, dk3 = 1 - exp(logr - logp)
//   dL/du_v = [ w g (1[v==y] - p_v)  +  c we p_v (log p_v + H) ] / Temp
// The "/ Temp" is the chain rule through u / Temp: the sampler drew y from softmax(u / Temp), so the
// loss must score it at the same temperature (TRL since PR #3029, verl's logits.div_(temperature)).
// "clipped" means min() picked the constant clipped branch, which has no gradient:
//   A > 0 and rho > 1 + eps_high (already made more likely enough), or A < 0 and rho < 1 - eps_low.
// With num_iterations = 1 the trainer never has an older policy: old = logp.detach(), so rho = 1 in
// value but not in gradient (d rho / d logp = rho = 1). Pass old_logp = NULL for that: nothing clips,
// g = -A + beta dkl, and the loss value is only the KL term (plus a token-level remainder), which is
// why GRPO's logged loss sits near 0 while the model learns (open-r1 #239, TRL #2703).
// verl options: dual clip (if A < 0 the loss is capped at -A c, c = clip_ratio_c = 3, so a token
// with a huge ratio cannot blow up the step); its clamps (log-ratio and logr - logp to [-20, 20],
// k3 to at most 10, with zero gradient where clamped); "k3+" (the k3 value, the k2 gradient).

typedef enum { GRPO_KL_K1, GRPO_KL_K2, GRPO_KL_K3 } GrpoKl;

typedef struct {
    float temperature;  // the sampling temperature: logits are divided by it (1 = none)
    float eps_low;      // clip range below 1 (0.2)
    float eps_high;     // clip range above 1 (0.2; DAPO's clip-higher uses 0.28)
    float dual_clip;    // verl clip_ratio_c (3.0); 0 turns it off (TRL has none)
    float beta;         // KL coefficient (0 = no reference model needed)
    GrpoKl kl_type;     // TRL always uses k3 (verl "low_var_kl")
    int kl_k2_grad;     // verl "k1+"/"k3+": value of kl_type, gradient of k2
    int verl_clamps;    // clamp as verl does (see above); TRL does not clamp
    float entropy_coef; // c: the entropy bonus (TinyZero/simpleRL 0.001; 0 = off)
} GrpoConfig;

static GrpoConfig grpo_config_default(void) { // TRL's GRPOConfig defaults (v0.19 and later)
    GrpoConfig c = {1.0f, 0.2f, 0.2f, 0.0f, 0.0f, GRPO_KL_K3, 0, 0, 0.0f};
    return c;
}

// Statistics to log, summed over the unmasked tokens seen (divide by `tokens` for means).
// Zero it once per step; grpo_loss_backward adds to it.
typedef struct {
    double tokens;    // unmasked tokens
    double kl;        // sum of the KL estimate (kl_type)
    double entropy;   // sum of H
    double ratio;     // sum of rho
    double clip_low;  // tokens clipped at 1 - eps_low (A < 0), TRL "clip_ratio/low_mean"
    double clip_high; // tokens clipped at 1 + eps_high (A > 0), TRL "clip_ratio/high_mean"
    double clip_dual; // tokens capped by the dual clip (verl "pg_clipfrac_lower")
} GrpoStats;

// dl/dlogp of the KL term, and its value in *kl (clamped as verl when asked).
static double grpo_kl(double logp, double logr, const GrpoConfig* cfg, double* kl) {
    double d = logp - logr, grad;
    if (cfg->kl_type == GRPO_KL_K1) {
        *kl = d, grad = 1.0;
    } else if (cfg->kl_type == GRPO_KL_K2) {
        *kl = 0.5 * d * d, grad = d;
    } else {
        double x = logr - logp, dx = -1.0; // dx = dx/dlogp
        if (cfg->verl_clamps && (x > 20.0 || x < -20.0)) {
            x = x > 0 ? 20.0 : -20.0, dx = 0.0;
        }
        *kl = exp(x) - x - 1.0, grad = (exp(x) - 1.0) * dx;
        if (cfg->verl_clamps && *kl > 10.0) {
            *kl = 10.0, grad = 0.0;
        }
    }
    return cfg->kl_k2_grad ? d : grad; // straight-through: the k2 gradient under any value
}

// dl/dlogp of the clipped surrogate for one token, its value in *pg; counts clipping in stats.
static double grpo_pg(double logp, double old_logp, int has_old, double A, const GrpoConfig* cfg, double* pg,
                      GrpoStats* st) {
    double lr = has_old ? logp - old_logp : 0.0, drho = 1.0; // drho = (d rho / d logp) / rho
    if (cfg->verl_clamps && (lr > 20.0 || lr < -20.0)) {
        lr = lr > 0 ? 20.0 : -20.0, drho = 0.0;
    }
    double rho = exp(lr);
    double lo = 1.0 - cfg->eps_low, hi = 1.0 + cfg->eps_high;
    double rho_clip = rho < lo ? lo : rho > hi ? hi : rho;
    st->ratio += rho;
    if ((A > 0 && rho > hi) || (A < 0 && rho < lo)) { // min() takes the constant clipped branch
        st->clip_high += A > 0, st->clip_low += A < 0;
        *pg = -rho_clip * A;
        return 0.0;
    }
    if (A < 0 && cfg->dual_clip > 0 && rho > cfg->dual_clip) { // verl's cap at -A c
        st->clip_dual += 1;
        *pg = -A * cfg->dual_clip;
        return 0.0;
    }
    *pg = -rho * A;
    return -A * rho * drho;
}

// One token: fills dlogit (V) and returns this token's share of the loss, w l - c we H.
// logit (V) is the raw row; y the sampled token; old_logp is ignored when has_old is 0.
static double grpo_token_backward(float* dlogit, const float* logit, int y, float old_logp, int has_old,
                                  float ref_logp, float A, float w, float we, int V, const GrpoConfig* cfg,
                                  GrpoStats* st) {
    if (w == 0.0f && we == 0.0f) { // masked: no loss, no gradient
        memset(dlogit, 0, (size_t)V * sizeof(float));
        return 0.0;
    }
    // softmax of u / Temp in double sums; p is kept in dlogit until the end
    double inv_t = 1.0 / cfg->temperature, maxz = -INFINITY, sum = 0.0, pz = 0.0;
    for (int v = 0; v < V; v++) {
        double z = logit[v] * inv_t;
        maxz = z > maxz ? z : maxz;
    }
    for (int v = 0; v < V; v++) {
        sum += exp(logit[v] * inv_t - maxz);
    }
    double lse = maxz + log(sum);
    for (int v = 0; v < V; v++) {
        double p = exp(logit[v] * inv_t - lse);
        dlogit[v] = (float)p;
        pz += p * logit[v] * inv_t;
    }
    double logp = logit[y] * inv_t - lse;
    double H = lse - pz; // -sum p log p = sum p (lse - z)
    double pg, kl = 0.0, g = grpo_pg(logp, old_logp, has_old, A, cfg, &pg, st);
    if (cfg->beta != 0.0f) {
        g += cfg->beta * grpo_kl(logp, ref_logp, cfg, &kl);
    }
    st->tokens += 1, st->kl += kl, st->entropy += H;
    // dL/du_v = [w g (1[v==y] - p_v) + c we p_v (log p_v + H)] / Temp
    double a = w * g, c = (double)cfg->entropy_coef * we;
    for (int v = 0; v < V; v++) {
        double p = dlogit[v], logpv = logit[v] * inv_t - lse;
        dlogit[v] = (float)((a * ((v == y) - p) + c * p * (logpv + H)) * inv_t);
    }
    return w * (pg + cfg->beta * kl) - c * H;
}

// N rows at a time (a chunk of the (B*T, V) logits, never all of them at once for a real vocabulary).
// dlogits, logits: (N, V). tokens, old_logp, ref_logp, adv, weight, ent_weight: (N). old_logp NULL
// means num_iterations = 1 (old = current, detached); ref_logp may be NULL when beta = 0; adv is the
// completion's advantage copied to each of its tokens; weight = w m from grpo_token_weights;
// ent_weight NULL means "= weight". Writes the chunk's loss to *loss_out and adds to *stats.
static void grpo_loss_backward(float* dlogits, float* loss_out, const float* logits, const int* tokens,
                               const float* old_logp, const float* ref_logp, const float* adv, const float* weight,
                               const float* ent_weight, int N, int V, const GrpoConfig* cfg, GrpoStats* stats) {
    if (cfg->beta != 0.0f && ref_logp == NULL) {
        fatal("grpo_loss_backward: beta = %g needs the reference model's log-probs (ref_logp is NULL)", cfg->beta);
    }
    if (!(cfg->temperature > 0.0f)) {
        fatal("grpo_loss_backward: temperature must be > 0 (got %g); use 1 for plain logits", cfg->temperature);
    }
    // rows are independent: one thread per row, the statistics summed by OpenMP's reduction
    double loss = 0, n_tok = 0, kl = 0, entropy = 0, ratio = 0, clip_low = 0, clip_high = 0, clip_dual = 0;
#pragma omp parallel for reduction(+ : loss, n_tok, kl, entropy, ratio, clip_low, clip_high, clip_dual)
    for (int i = 0; i < N; i++) {
        size_t row = (size_t)i * V;
        GrpoStats s = {0};
        loss += grpo_token_backward(dlogits + row, logits + row, tokens[i], old_logp ? old_logp[i] : 0.0f,
                                    old_logp != NULL, ref_logp ? ref_logp[i] : 0.0f, adv[i], weight[i],
                                    ent_weight ? ent_weight[i] : weight[i], V, cfg, &s);
        n_tok += s.tokens, kl += s.kl, entropy += s.entropy, ratio += s.ratio;
        clip_low += s.clip_low, clip_high += s.clip_high, clip_dual += s.clip_dual;
    }
    stats->tokens += n_tok, stats->kl += kl, stats->entropy += entropy, stats->ratio += ratio;
    stats->clip_low += clip_low, stats->clip_high += clip_high, stats->clip_dual += clip_dual;
    *loss_out = (float)loss;
}

// ----------------------------------------------------------------------------
// SFT: supervised fine-tuning, R1's cold start
// DeepSeek-R1 does not start RL from the base model: it first fine-tunes it on a few thousand long
// reasoning traces (the "cold start"), and its distilled models are this step alone (open-r1 does
// the same with Bespoke-Stratos and OpenR1-Math). This section is that loop, on the CPU:
//
//   examples -> chat template, assistant turn in R1 form (<think>...</think> then the answer)
//            -> token ids + a loss mask (1 on the assistant's tokens only)
//            -> rows of T tokens packed with whole documents; position ids restart at 0 for each
//               document, which is how the attention above keeps documents apart
//            -> forward + backward over the step's micro-batches (gradient accumulation)
//            -> optimizer_step (norm, non-finite guard, clip, schedule, AdamW)
//            -> log, held-out loss, checkpoint
//
// The loss of a step is the mean cross-entropy over all assistant tokens of all its micro-batches
// together, which is what the Hugging Face Trainer computes since transformers 4.46 (it divides by
// num_items_in_batch, not by the number of micro-batches): accumulating 4 micro-batches of B rows
// gives exactly the update of one batch of 4B rows.
//
// Checkpoints are Hugging Face model folders (config.json, model.safetensors, generation_config.json,
// tokenizer files) plus the training state (optimizer.safetensors: AdamW's moments; trainer_state.json:
// step, data position, seed), so `transformers` loads them as they are and --resume continues bit for
// bit. Each is written into "checkpoint-N.tmp/" and renamed to "checkpoint-N/" only once every file is
// on disk; "latest" (a one-line file, itself renamed into place) names the newest complete one.
// Killing the process at any moment therefore leaves the previous checkpoint untouched.
//
// The functions the drivers call (train_sft.cu; train_grpo.cu reuses them for its cold start):
//   config_tiny(&c, &tok), qwen2_init_tiny(&m, &tok, seed)    the tiny built-in model
//   sft_countdown_dataset(&cfg, n, seed, split)                Countdown traces, made on the fly
//   sft_tokenize(&tok, &dataset, tmpl, &tokens)                examples -> SftTokens
//   sft_tokens_load(&tok, path, tmpl, skip_bad, cache, &tokens) a data file, through the disk cache
//   sft_options_default(&o); sft_train(&m, &tok, &train, &eval, &o)   the whole loop

// --- the tiny built-in model -----------------------------------------------------------
// A Qwen2-architecture model small enough to learn Countdown traces on two CPU cores in a minute:
// 4 layers, C = 128, grouped-query attention (4 query heads, 2 key/value heads), SwiGLU width 384,
// tied embeddings, 0.83M parameters, over the byte-level vocabulary (tokenizer_init_bytes: 256 bytes
// plus Qwen2.5's 22 added tokens). Like Qwen2.5 the embedding has more rows than the tokenizer has
// ids: the vocabulary is rounded up to a multiple of 64 (278 -> 320).

static void config_tiny(Qwen2Config* c, const Tokenizer* t) {
    memset(c, 0, sizeof(*c));
    c->hidden_size = 128;
    c->intermediate_size = 384;
    c->num_layers = 4;
    c->num_heads = 4;
    c->num_kv_heads = 2;
    c->head_dim = c->hidden_size / c->num_heads;
    c->vocab_size = (t->vocab_size + 63) / 64 * 64;
    c->max_position_embeddings = 4096;
    c->rope_theta = 10000.0f; // short contexts: the original RoPE base is plenty
    c->rms_norm_eps = 1e-6f;
    c->tie_word_embeddings = 1;
    c->bos_token_id = t->endoftext_id;
    c->eos_token_id = t->eos_id;
}

// The tiny model with random weights (transformers' initialisation, from `seed`).
static void qwen2_init_tiny(Qwen2* m, const Tokenizer* t, uint64_t seed) {
    Qwen2Config c;
    config_tiny(&c, t);
    qwen2_build(m, &c);
    model_init_random(&c, &m->params, seed);
}

// --- examples to tokens ----------------------------------------------------------------
// An example becomes a conversation [system], user, assistant and goes through the chat template;
// the assistant's content is the example's thinking and answer written with an assistant template.
// chat_encode's assistant mask marks that content and its closing <|im_end|>: the tokens the loss is
// computed on (as TRL's assistant_only_loss). Templates by name:
//   r1         "<think>\n{thinking}\n</think>\n<answer>\n{answer}\n</answer>"  open-r1's format reward
//   countdown  "Let me solve this step by step.\n<think>\n{thinking}\n</think>\n<answer> {answer} </answer>"
//              TinyZero's: its prompt ends with the first sentence and "<think>", its reward reads
//              the last line's <answer>; training the whole of it teaches the RL prompt's format
//   answer     "{answer}": plain SFT, no reasoning
// or any literal template containing {answer}.

#define SFT_COUNTDOWN_TEMPLATE "Let me solve this step by step.\n<think>" COUNTDOWN_COMPLETION_TEMPLATE

static const char* sft_template(const char* name) {
    if (name == NULL || strcmp(name, "r1") == 0) {
        return R1_ASSISTANT_TEMPLATE;
    } else if (strcmp(name, "countdown") == 0) {
        return SFT_COUNTDOWN_TEMPLATE;
    } else if (strcmp(name, "answer") == 0) {
        return "{answer}";
    } else if (strstr(name, "{answer}") != NULL) {
        return name;
    }
    fatal("unknown assistant template '%s': use r1, countdown, answer, or a template with {thinking} and {answer}",
          name);
    return NULL;
}

// One example as token ids and its assistant mask (both malloc'd); returns the length.
static int sft_encode(const Tokenizer* t, const SftExample* ex, const char* tmpl, int** ids, unsigned char** mask) {
    char* assistant = sft_render_assistant(ex, tmpl);
    ChatMessage msgs[3];
    int n = 0;
    if (ex->system) {
        msgs[n].role = "system", msgs[n].content = ex->system, n++;
    }
    msgs[n].role = "user", msgs[n].content = ex->prompt ? ex->prompt : "", n++;
    msgs[n].role = "assistant", msgs[n].content = assistant, n++;
    int len = chat_encode(t, msgs, n, NULL, 0, 0, ids, mask);
    free(assistant);
    return len;
}

// A tokenized data set: every document's tokens one after the other, with one flag byte per token.
#define SFT_LOSS 1      // flag: the loss is computed on this token (an assistant token)
#define SFT_DOC_START 2 // flag: a document starts at this token
typedef struct {
    uint32_t* tokens; // (n)
    uint8_t* flags;   // (n) SFT_LOSS | SFT_DOC_START
    size_t n, cap;
    size_t* docs;     // (n_docs + 1) where each document starts; docs[n_docs] = n
    size_t n_docs, docs_cap;
    size_t skipped;   // malformed rows skipped while loading (--skip-bad)
} SftTokens;

static void sft_tokens_add(SftTokens* d, const int* ids, const unsigned char* mask, size_t len) {
    if (len == 0) {
        return;
    }
    if (d->n + len > d->cap) {
        d->cap = (d->n + len) * 2;
        d->tokens = (uint32_t*)realloc_check(d->tokens, d->cap * sizeof(uint32_t));
        d->flags = (uint8_t*)realloc_check(d->flags, d->cap);
    }
    if (d->n_docs + 2 > d->docs_cap) {
        d->docs_cap = (d->n_docs + 2) * 2;
        d->docs = (size_t*)realloc_check(d->docs, d->docs_cap * sizeof(size_t));
    }
    d->docs[d->n_docs++] = d->n;
    for (size_t i = 0; i < len; i++) {
        d->tokens[d->n + i] = (uint32_t)ids[i];
        d->flags[d->n + i] = (uint8_t)((mask[i] ? SFT_LOSS : 0) | (i == 0 ? SFT_DOC_START : 0));
    }
    d->n += len;
    d->docs[d->n_docs] = d->n;
}

static void sft_tokens_free(SftTokens* d) {
    free(d->tokens), free(d->flags), free(d->docs);
    memset(d, 0, sizeof(*d));
}

// Tokenizes a whole data set, in parallel (the tokenizer is read-only), keeping the row order.
static void sft_tokenize(const Tokenizer* t, const SftDataset* data, const char* tmpl, SftTokens* out) {
    size_t n = data->n;
    int** ids = (int**)calloc_check(n, sizeof(int*));
    unsigned char** masks = (unsigned char**)calloc_check(n, sizeof(unsigned char*));
    int* lens = (int*)calloc_check(n, sizeof(int));
#pragma omp parallel for schedule(dynamic, 16)
    for (long i = 0; i < (long)n; i++) {
        lens[i] = sft_encode(t, &data->rows[i], tmpl, &ids[i], &masks[i]);
    }
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        sft_tokens_add(out, ids[i], masks[i], (size_t)lens[i]);
        free(ids[i]), free(masks[i]);
    }
    out->skipped = data->skipped;
    free(ids), free(masks), free(lens);
}

// Countdown traces made on the fly by the generator of the data section: the same rows as
// `data/countdown --seed S --split train|test` writes, read the way sft_load reads them.
static void sft_countdown_example(const CountdownProblem* p, SftExample* ex) {
    memset(ex, 0, sizeof(*ex));
    ex->system = strdup_check(COUNTDOWN_SYSTEM_PROMPT);
    ex->prompt = countdown_prompt(COUNTDOWN_USER_TEMPLATE, p->nums, p->n, p->target);
    ex->thinking = strdup_check(p->thinking);
    ex->answer = strdup_check(p->solution);
    ex->gold = strdup_check(p->solution);
}

static SftDataset sft_countdown_dataset(const CountdownConfig* cfg, size_t n, uint64_t seed, int split) {
    SftDataset d;
    memset(&d, 0, sizeof(d));
    d.rows = (SftExample*)calloc_check(n, sizeof(SftExample));
    CountdownGen g;
    countdown_init(&g, cfg, seed, split);
    for (size_t i = 0; i < n; i++) {
        CountdownProblem p;
        countdown_next(&g, &p);
        sft_countdown_example(&p, &d.rows[i]);
        countdown_problem_free(&p);
    }
    d.n = d.cap = n;
    return d;
}

// Moves a random fraction of the documents (at least one, when frac > 0) into a held-out set.
static void sft_tokens_split(const SftTokens* all, double frac, uint64_t seed, SftTokens* train, SftTokens* eval) {
    size_t n = all->n_docs;
    size_t n_eval = frac > 0.0 ? (size_t)(frac * (double)n + 0.5) : 0;
    n_eval = (frac > 0.0 && n_eval == 0 && n > 1) ? 1 : n_eval;
    if (n_eval >= n && n_eval > 0) {
        fatal("held-out split of %.3g of %zu documents leaves nothing to train on: lower --eval-frac", frac, n);
    }
    unsigned char* held = (unsigned char*)calloc_check(n, 1);
    uint64_t rng = rng_seed(seed ^ 0x5eedf00dull);
    for (size_t k = 0; k < n_eval;) { // pick n_eval distinct documents
        size_t i = (size_t)(((uint64_t)random_u32(&rng) << 32 | random_u32(&rng)) % n);
        k += held[i] ? 0 : 1;
        held[i] = 1;
    }
    memset(train, 0, sizeof(*train)), memset(eval, 0, sizeof(*eval));
    int* ids = NULL;
    unsigned char* mask = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t a = all->docs[i], len = all->docs[i + 1] - a;
        ids = (int*)realloc_check(ids, len * sizeof(int));
        mask = (unsigned char*)realloc_check(mask, len);
        for (size_t j = 0; j < len; j++) {
            ids[j] = (int)all->tokens[a + j];
            mask[j] = (all->flags[a + j] & SFT_LOSS) != 0;
        }
        sft_tokens_add(held[i] ? eval : train, ids, mask, len);
    }
    train->skipped = all->skipped;
    free(ids), free(mask), free(held);
}

// --- the tokenized-data cache ----------------------------------------------------------
// Tokenizing 100k long traces takes a while, so a data file is tokenized once and kept next to it
// as FILE.r1tok, in llm.c's style: a header of 256 int32, then the tokens (uint32) and their flag
// bytes. The header records what the tokens were made from (the source file's size and mtime, a
// hash of the tokenizer, a hash of the template); when any of them changes the cache is rebuilt.
//   header[0] magic 20261120, [1] version 1, [2..3] tokens, [4..5] documents, [6..7] source size,
//   [8..9] source mtime (ns), [10..11] tokenizer hash, [12..13] template hash, [14..15] rows skipped

#define SFT_CACHE_MAGIC 20261120
#define SFT_CACHE_VERSION 1

static uint64_t hash_mix(uint64_t h, uint64_t x) {
    h ^= x + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0x100000001b3ull;
}

// A hash of everything that decides the ids: vocabulary, merges, added tokens, default system prompt.
static uint64_t tokenizer_hash(const Tokenizer* t) {
    uint64_t h = hash_mix(0, (uint64_t)t->vocab_size);
    for (int id = 0; id < t->vocab_size; id++) {
        h = hash_mix(h, t->token_text[id] ? hash_bytes(t->token_text[id], (size_t)t->token_len[id]) : 1);
        h = hash_mix(h, t->is_special[id]);
    }
    h = hash_mix(h, hash_bytes(t->merge_pair, (size_t)t->n_merges * 2 * sizeof(int)));
    for (int i = 0; i < t->n_added; i++) {
        h = hash_mix(h, hash_bytes(t->added[i].text, t->added[i].len) + (uint64_t)t->added[i].id);
    }
    return hash_mix(h, t->default_system ? hash_bytes(t->default_system, strlen(t->default_system)) : 2);
}

static void header_put64(int32_t* h, int i, uint64_t v) {
    h[i] = (int32_t)(uint32_t)(v & 0xffffffffu);
    h[i + 1] = (int32_t)(uint32_t)(v >> 32);
}

static uint64_t header_get64(const int32_t* h, int i) {
    return (uint64_t)(uint32_t)h[i] | (uint64_t)(uint32_t)h[i + 1] << 32;
}

// The header fields that must match: source size, mtime, tokenizer hash, template hash.
static void sft_cache_key(const char* source, const Tokenizer* t, const char* tmpl, uint64_t key[4]) {
    struct stat st;
    if (stat(source, &st) != 0) {
        fatal("cannot read data file '%s': %s", source, strerror(errno));
    }
    key[0] = (uint64_t)st.st_size;
    key[1] = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec; // ns: a same-second edit shows
    key[2] = tokenizer_hash(t);
    key[3] = hash_bytes(tmpl, strlen(tmpl));
}

// Reads the cache into d; returns 0 (and leaves d empty) when it is missing or stale.
static int sft_cache_read(const char* path, const uint64_t key[4], SftTokens* d) {
    FILE* f = fopen(path, "rb");
    int32_t h[256];
    memset(d, 0, sizeof(*d));
    if (f == NULL) {
        return 0;
    }
    int fresh = fread(h, sizeof(int32_t), 256, f) == 256 && h[0] == SFT_CACHE_MAGIC && h[1] == SFT_CACHE_VERSION;
    for (int k = 0; fresh && k < 4; k++) {
        fresh = header_get64(h, 6 + 2 * k) == key[k];
    }
    if (!fresh) {
        fclose(f);
        return 0;
    }
    size_t n = (size_t)header_get64(h, 2), n_docs = (size_t)header_get64(h, 4);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || (uint64_t)st.st_size != 256 * 4 + (uint64_t)n * 5 || n_docs > n) {
        fclose(f); // not the size its header promises: a damaged file, rebuilt
        return 0;
    }
    d->tokens = (uint32_t*)malloc_check(n * sizeof(uint32_t));
    d->flags = (uint8_t*)malloc_check(n);
    fread_check(d->tokens, sizeof(uint32_t), n, f, path);
    fread_check(d->flags, 1, n, f, path);
    fclose(f);
    d->n = d->cap = n;
    d->docs = (size_t*)malloc_check((n_docs + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) { // the document starts, from the flags
        if (d->flags[i] & SFT_DOC_START) {
            d->docs[d->n_docs < n_docs ? d->n_docs : n_docs] = i;
            d->n_docs++;
        }
    }
    if (d->n_docs != n_docs || (n > 0 && !(d->flags[0] & SFT_DOC_START))) {
        sft_tokens_free(d); // flags that disagree with the header: a damaged file, rebuilt
        return 0;
    }
    d->docs[n_docs] = n;
    d->docs_cap = n_docs + 1;
    d->skipped = (size_t)header_get64(h, 14);
    return 1;
}

// Writes the cache atomically; a folder we cannot write to only costs a warning (no cache).
static void sft_cache_write(const char* path, const uint64_t key[4], const SftTokens* d) {
    size_t n = strlen(path) + 8;
    char* tmp = (char*)malloc_check(n);
    snprintf(tmp, n, "%s.tmp", path);
    FILE* f = fopen(tmp, "wb");
    if (f == NULL) {
        fprintf(stderr, "r1: warning: cannot write the token cache '%s' (%s): tokenizing again next time\n", tmp,
                strerror(errno));
        free(tmp);
        return;
    }
    int32_t h[256];
    memset(h, 0, sizeof(h));
    h[0] = SFT_CACHE_MAGIC, h[1] = SFT_CACHE_VERSION;
    header_put64(h, 2, d->n), header_put64(h, 4, d->n_docs), header_put64(h, 14, d->skipped);
    for (int k = 0; k < 4; k++) {
        header_put64(h, 6 + 2 * k, key[k]);
    }
    fwrite_check(h, sizeof(int32_t), 256, f, tmp);
    fwrite_check(d->tokens, sizeof(uint32_t), d->n, f, tmp);
    fwrite_check(d->flags, 1, d->n, f, tmp);
    atomic_commit(f, tmp, path);
}

// Loads a data file as tokens: from its cache FILE.r1tok when fresh (use_cache), else by reading and
// tokenizing it (sft_load: malformed rows are fatal with file:line, or skipped and counted).
// Returns 1 when the cache was used.
static int sft_tokens_load(const Tokenizer* t, const char* path, const char* tmpl, int skip_bad, int use_cache,
                           SftTokens* out) {
    uint64_t key[4];
    sft_cache_key(path, t, tmpl, key);
    char* cache = (char*)malloc_check(strlen(path) + 8);
    sprintf(cache, "%s.r1tok", path);
    if (use_cache && sft_cache_read(cache, key, out)) {
        free(cache);
        return 1;
    }
    SftDataset data = sft_load(path, skip_bad);
    sft_tokenize(t, &data, tmpl, out);
    sft_free(&data);
    if (use_cache) {
        sft_cache_write(cache, key, out);
    }
    free(cache);
    return 0;
}

// Appends the documents of b to a.
static void sft_tokens_append(SftTokens* a, const SftTokens* b) {
    int* ids = NULL;
    unsigned char* mask = NULL;
    for (size_t i = 0; i < b->n_docs; i++) {
        size_t s = b->docs[i], len = b->docs[i + 1] - s;
        ids = (int*)realloc_check(ids, len * sizeof(int));
        mask = (unsigned char*)realloc_check(mask, len);
        for (size_t j = 0; j < len; j++) {
            ids[j] = (int)b->tokens[s + j];
            mask[j] = (b->flags[s + j] & SFT_LOSS) != 0;
        }
        sft_tokens_add(a, ids, mask, len);
    }
    a->skipped += b->skipped;
    free(ids), free(mask);
}

// --- packing documents into rows -------------------------------------------------------
// A row holds whole documents one after the other (as TRL's packing), each with position ids 0, 1,
// 2, ...; a document that does not fit in what is left of a row starts the next row, and the rest
// of the row is padding (pad id, position 0, label -100: each pad token is a document of its own,
// seen by nobody). A document longer than T is cut to its first T tokens (counted, and warned about
// before training). Labels are the token itself on loss tokens and -100 elsewhere; qwen2_forward
// shifts them, so the last token of a document, whose next label is the next document's first
// (never an assistant token), predicts nothing.
// Each epoch visits the documents in a new order, a shuffle drawn from (seed, epoch), so the whole
// position of the loader is (epoch, cursor): that is all a checkpoint needs to continue exactly.

typedef struct {
    const SftTokens* data;
    int T;
    int pad_id;
    uint64_t seed;
    int shuffle;      // 0: documents in file order (evaluation)
    int epoch;        // passes begun over the data (0-based)
    size_t cursor;    // next document, as an index into order
    size_t* order;    // (n_docs) this epoch's order
    size_t truncated; // documents cut to T tokens so far
} SftLoader;

static void sft_loader_order(SftLoader* l) {
    size_t n = l->data->n_docs;
    for (size_t i = 0; i < n; i++) {
        l->order[i] = i;
    }
    if (!l->shuffle) {
        return;
    }
    uint64_t rng = rng_seed(l->seed * 1000003ull + (uint64_t)l->epoch);
    for (size_t i = n - 1; i > 0; i--) { // Fisher-Yates
        size_t j = (size_t)(((uint64_t)random_u32(&rng) << 32 | random_u32(&rng)) % (i + 1));
        size_t tmp = l->order[i];
        l->order[i] = l->order[j], l->order[j] = tmp;
    }
}

// Positions the loader at document `cursor` of epoch `epoch` (0, 0 for a fresh start).
static void sft_loader_seek(SftLoader* l, int epoch, size_t cursor) {
    if (cursor > l->data->n_docs) {
        fatal("data position %zu is past the end of the data (%zu documents): was it saved for other data?", cursor,
              l->data->n_docs);
    }
    l->epoch = epoch;
    l->cursor = cursor;
    sft_loader_order(l);
}

static void sft_loader_init(SftLoader* l, const SftTokens* data, int T, int pad_id, uint64_t seed, int shuffle) {
    memset(l, 0, sizeof(*l));
    if (data->n_docs == 0) {
        fatal("the data set is empty: no documents to train on");
    }
    l->data = data, l->T = T, l->pad_id = pad_id, l->seed = seed, l->shuffle = shuffle;
    l->order = (size_t*)malloc_check(data->n_docs * sizeof(size_t));
    sft_loader_seek(l, 0, 0);
}

static void sft_loader_free(SftLoader* l) {
    free(l->order);
    l->order = NULL;
}

// Fills one row: ids, pos, labels are (T). Returns the number of real (non-pad) tokens. With
// one_pass, stops at the end of the current epoch instead of wrapping (returns 0 when nothing is left).
static int sft_loader_next_row(SftLoader* l, int* ids, int* pos, int* labels, int one_pass) {
    int T = l->T, used = 0;
    const SftTokens* d = l->data;
    while (used < T) {
        if (l->cursor == d->n_docs) {
            if (one_pass) {
                break;
            }
            l->epoch++;
            l->cursor = 0;
            sft_loader_order(l);
        }
        size_t doc = l->order[l->cursor], start = d->docs[doc];
        size_t len = d->docs[doc + 1] - start;
        if (used > 0 && used + len > (size_t)T) {
            break; // does not fit: it starts the next row
        }
        if (len > (size_t)T) {
            len = (size_t)T;
            l->truncated++;
        }
        for (size_t j = 0; j < len; j++) {
            ids[used + j] = (int)d->tokens[start + j];
            pos[used + j] = (int)j;
            labels[used + j] = (d->flags[start + j] & SFT_LOSS) ? (int)d->tokens[start + j] : IGNORE_INDEX;
        }
        used += (int)len;
        l->cursor++;
    }
    for (int t = used; t < T; t++) {
        ids[t] = l->pad_id, pos[t] = 0, labels[t] = IGNORE_INDEX;
    }
    return used;
}

// Rows one epoch makes (epoch 0's order), to turn --epochs into a step count.
static size_t sft_rows_per_epoch(const SftTokens* data, int T, uint64_t seed) {
    SftLoader l;
    sft_loader_init(&l, data, T, 0, seed, 1);
    int* buf = (int*)malloc_check((size_t)3 * T * sizeof(int));
    size_t rows = 0;
    while (sft_loader_next_row(&l, buf, buf + T, buf + 2 * T, 1) > 0) {
        rows++;
    }
    free(buf);
    sft_loader_free(&l);
    return rows;
}

// Documents longer than T tokens (they will be truncated), and the longest one.
static size_t sft_count_long(const SftTokens* data, int T, size_t* longest) {
    size_t count = 0;
    *longest = 0;
    for (size_t i = 0; i < data->n_docs; i++) {
        size_t len = data->docs[i + 1] - data->docs[i];
        count += len > (size_t)T;
        *longest = len > *longest ? len : *longest;
    }
    return count;
}

// The entropy (nats) of the loss tokens' unigram distribution: the loss of a model that learned
// nothing but how often each token occurs. A trained model must go well below it (it has to use the
// context); ln(V) is the loss of a uniform guess, about where a random init starts.
static double sft_unigram_entropy(const SftTokens* d, int vocab) {
    double* count = (double*)calloc_check((size_t)vocab, sizeof(double));
    double total = 0.0, h = 0.0;
    for (size_t i = 0; i < d->n; i++) {
        if ((d->flags[i] & SFT_LOSS) && d->tokens[i] < (uint32_t)vocab) {
            count[d->tokens[i]] += 1.0;
            total += 1.0;
        }
    }
    for (int v = 0; v < vocab; v++) {
        h -= count[v] > 0 ? count[v] / total * log(count[v] / total) : 0.0;
    }
    free(count);
    return h;
}

// Documents with no loss token within their first T tokens: truncation leaves them nothing to learn.
static size_t sft_count_no_loss(const SftTokens* data, int T) {
    size_t count = 0;
    for (size_t i = 0; i < data->n_docs; i++) {
        size_t a = data->docs[i], b = data->docs[i + 1] < a + (size_t)T ? data->docs[i + 1] : a + (size_t)T;
        int any = 0;
        for (size_t j = a + 1; j < b && !any; j++) { // the first token is never predicted
            any = (data->flags[j] & SFT_LOSS) != 0;
        }
        count += !any;
    }
    return count;
}

// --- another engine for the update ---------------------------------------------------------------
// sft_update's forward, backward and AdamW run here on the CPU, or elsewhere through these hooks
// (train_sft.cu fills them in to run them on one or more GPUs). The loop around them (data, schedule,
// non-finite guard, metrics, held-out loss, checkpoints) stays this file's, so both engines train the
// same way. The weights and AdamW's moments then live with the engine: sync_to_host copies them into
// the model's params_memory and the trainer's adam_m / adam_v (before a checkpoint, and at the end of
// sft_train), from_host copies them back (after a resume).
typedef struct {
    void* ctx;
    // zero the gradients, then forward + backward over `rows` rows of T tokens (in micro-batches of
    // up to B rows) of the mean loss over the step's n_targets loss tokens; returns the sum of -log p
    // over those tokens
    double (*forward_backward)(void* ctx, const int* ids, const int* pos, const int* labels, int rows, int B, int T,
                               long long n_targets);
    // the global gradient norm before clipping; clips to max_norm when max_norm > 0 and the norm is finite
    float (*clip_grad_norm)(void* ctx, float max_norm);
    // AdamW update number t (1-based, this one included) at learning rate lr
    void (*adamw)(void* ctx, int t, float lr, const AdamWConfig* cfg);
    // forward only over B rows: the sum of -log p over the loss tokens, their count into *n
    double (*eval_forward)(void* ctx, const int* ids, const int* pos, const int* labels, int B, int T, long long* n);
    void (*sync_to_host)(void* ctx, Qwen2* m, float* adam_m, float* adam_v);
    void (*from_host)(void* ctx, const Qwen2* m, const float* adam_m, const float* adam_v);
} SftBackend;

// --- options -----------------------------------------------------------------------------

typedef struct {
    int batch_size;         // B: rows per micro-batch
    int seq_len;            // T: tokens per row
    int grad_accum;         // micro-batches per update
    float lr;               // peak learning rate
    float min_lr;           // the cosine's floor (cosine_with_min_lr); 0 = down to 0
    const char* schedule;   // constant, constant_with_warmup, linear, cosine, cosine_with_min_lr
    double warmup;          // warmup: a fraction of the steps (< 1) or a step count (>= 1)
    float weight_decay;     // on matrices only
    float max_grad_norm;    // clipping; <= 0 turns it off
    float beta1, beta2, eps;
    int max_steps;          // updates in the run (the schedule's length); 0 = from epochs
    double epochs;          // used when max_steps is 0
    int stop_at;            // stop after this step (with a checkpoint), the schedule unchanged; 0 = never
    int eval_every;         // held-out loss every N steps (and at the end); 0 = only at the end
    int eval_rows;          // rows of the held-out set each evaluation uses (0 = all)
    int save_every;         // checkpoint every N steps (and at the end); 0 = only at the end
    int keep;               // checkpoints kept (older ones are deleted); 0 = all
    int max_bad_steps;      // stop when this many steps in a row had a non-finite loss or gradient
    int log_every;          // progress line every N steps; 0 = silent
    const char* out_dir;    // checkpoints and metrics.jsonl; NULL = write nothing
    const char* resume_from; // a checkpoint folder to continue from; NULL = a fresh run
    const char* model_dir;  // the model's folder (generation_config.json, tokenizer.json are copied
                            // from it into checkpoints); NULL for the tiny model
    uint64_t seed;          // data order (and the tiny model's initial weights, in the driver)
    const SftBackend* backend; // NULL: the update runs here, on the CPU
} SftOptions;

// The HF Trainer's defaults where it has one (AdamW betas/eps, clipping 1.0, weight decay 0),
// open-r1's SFT recipe otherwise (cosine with warmup 3%).
static void sft_options_default(SftOptions* o) {
    memset(o, 0, sizeof(*o));
    o->batch_size = 4, o->seq_len = 1024, o->grad_accum = 1;
    o->lr = 5e-5f, o->min_lr = 0.0f, o->schedule = "cosine", o->warmup = 0.03;
    o->weight_decay = 0.0f, o->max_grad_norm = 1.0f;
    o->beta1 = 0.9f, o->beta2 = 0.999f, o->eps = 1e-8f;
    o->epochs = 1.0, o->keep = 2, o->max_bad_steps = 5, o->log_every = 1;
    o->seed = 42;
}

// --- the trainer -------------------------------------------------------------------------

typedef struct {
    Qwen2* model;
    const Tokenizer* tok;
    const SftOptions* opt;
    Optimizer optim;
    float* adam_m;      // (num_parameters) AdamW's first moment
    float* adam_v;      // (num_parameters) AdamW's second moment
    SftLoader loader;
    int total_steps;    // the schedule's length
    int step;           // steps taken so far (applied or skipped)
    long long tokens;   // real tokens trained on so far
    int* ids;           // (accum, B, T) the step's micro-batches
    int* pos;           // (accum, B, T)
    int* labels;        // (accum, B, T)
    float* dlogprobs;   // (B, T)
    float loss;         // the last step's loss
    float eval_loss;    // the last held-out loss (-1: none yet)
    int last_tokens;    // real tokens in the last step
    int last_targets;   // loss tokens in the last step
    FILE* metrics;      // metrics.jsonl, or NULL
    const SftBackend* backend; // opt->backend: NULL = the CPU
} SftTrainer;

// The step's accum x B rows, from the loader, into tr->ids, pos, labels; returns the real tokens.
static long long sft_fill_step(SftTrainer* tr) {
    int rows = tr->opt->grad_accum * tr->opt->batch_size, T = tr->opt->seq_len;
    long long real = 0;
    for (int r = 0; r < rows; r++) {
        size_t at = (size_t)r * T;
        real += sft_loader_next_row(&tr->loader, tr->ids + at, tr->pos + at, tr->labels + at, 0);
    }
    return real;
}

// One update on the rows in tr->ids, pos, labels: accum micro-batches of (B, T), each forward then
// backward, gradients summed, then optimizer_step. Each counted token's log-prob gets the gradient
// -1/N, N = the loss tokens of the whole step, so the gradient is that of the step's mean loss.
// Returns 1 if the update was applied (0: skipped as non-finite).
static int sft_update_backend(SftTrainer* tr, long long n_targets);
static int sft_update(SftTrainer* tr) {
    Qwen2* m = tr->model;
    int B = tr->opt->batch_size, T = tr->opt->seq_len, A = tr->opt->grad_accum;
    size_t BT = (size_t)B * T;
    long long n_targets = 0;
    for (size_t r = 0; r < (size_t)A * B; r++) {
        for (int t = 1; t < T; t++) { // labels[t] is predicted at t - 1: position 0's label never counts
            n_targets += tr->labels[r * T + t] != IGNORE_INDEX;
        }
    }
    if (tr->backend) {
        return sft_update_backend(tr, n_targets);
    }
    qwen2_zero_grad(m);
    double sum = 0.0;
    for (int a = 0; a < A; a++) {
        qwen2_forward(m, tr->ids + a * BT, tr->pos + a * BT, tr->labels + a * BT, B, T);
        for (size_t i = 0; i < BT; i++) {
            int counted = m->targets[i] != IGNORE_INDEX;
            sum -= counted ? m->acts.logprobs[i] : 0.0f;
            tr->dlogprobs[i] = counted ? (float)(-1.0 / (double)n_targets) : 0.0f;
        }
        qwen2_backward_logprobs(m, tr->dlogprobs);
    }
    tr->loss = n_targets > 0 ? (float)(sum / (double)n_targets) : 0.0f;
    tr->last_targets = (int)n_targets;
    return optimizer_step(&tr->optim, &m->config, m->params_memory, m->grads_memory, tr->adam_m, tr->adam_v,
                          tr->loss);
}

// sft_update through tr->backend: the same update in optimizer_step's order (norm and clip, the
// non-finite guard, the schedule, AdamW), with the arithmetic done where the backend keeps the weights.
static int sft_update_backend(SftTrainer* tr, long long n_targets) {
    const SftBackend* b = tr->backend;
    int B = tr->opt->batch_size, T = tr->opt->seq_len;
    double sum = b->forward_backward(b->ctx, tr->ids, tr->pos, tr->labels, tr->opt->grad_accum * B, B, T, n_targets);
    tr->loss = n_targets > 0 ? (float)(sum / (double)n_targets) : 0.0f;
    tr->last_targets = (int)n_targets;
    Optimizer* o = &tr->optim;
    o->last_grad_norm = b->clip_grad_norm(b->ctx, o->max_grad_norm);
    if (!update_is_finite(tr->loss, o->last_grad_norm, &o->consecutive_skips)) {
        o->total_skips++;
        return 0;
    }
    o->last_lr = lr_at_step(&o->schedule, o->updates);
    o->updates++;
    b->adamw(b->ctx, o->updates, o->last_lr, &o->adamw);
    return 1;
}

static int sft_step(SftTrainer* tr) {
    long long real = sft_fill_step(tr);
    tr->last_tokens = (int)real;
    tr->tokens += real;
    tr->step++;
    return sft_update(tr);
}

// Mean loss over the held-out set's assistant tokens (its first max_rows rows when max_rows > 0), in
// file order, with the trainer's B and T.
static float sft_eval_loss(SftTrainer* tr, const SftTokens* eval, int max_rows) {
    Qwen2* m = tr->model;
    int B = tr->opt->batch_size, T = tr->opt->seq_len;
    SftLoader l;
    sft_loader_init(&l, eval, T, tr->loader.pad_id, 0, 0);
    double sum = 0.0;
    long long n = 0;
    for (int rows = 0, done = 0; !done;) {
        int b = 0;
        for (; b < B && !(max_rows > 0 && rows >= max_rows); b++, rows++) {
            size_t at = (size_t)b * T;
            if (sft_loader_next_row(&l, tr->ids + at, tr->pos + at, tr->labels + at, 1) == 0) {
                break;
            }
        }
        done = b < B;
        if (b == 0) {
            break;
        }
        if (tr->backend) {
            long long counted = 0;
            sum += tr->backend->eval_forward(tr->backend->ctx, tr->ids, tr->pos, tr->labels, b, T, &counted);
            n += counted;
            continue;
        }
        qwen2_forward(m, tr->ids, tr->pos, tr->labels, b, T);
        for (size_t i = 0; i < (size_t)b * T; i++) {
            if (m->targets[i] != IGNORE_INDEX) {
                sum -= m->acts.logprobs[i];
                n++;
            }
        }
    }
    sft_loader_free(&l);
    return n > 0 ? (float)(sum / (double)n) : 0.0f;
}

// --- checkpoints -------------------------------------------------------------------------

// Deletes a folder of plain files (a checkpoint, or a half-written "checkpoint-N.tmp").
static void remove_dir_files(const char* dir) {
    DIR* d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            char* p = path_join(dir, e->d_name);
            if (unlink(p) != 0) {
                fprintf(stderr, "r1: warning: cannot delete '%s': %s\n", p, strerror(errno));
            }
            free(p);
        }
    }
    closedir(d);
    if (rmdir(dir) != 0) {
        fprintf(stderr, "r1: warning: cannot delete folder '%s': %s\n", dir, strerror(errno));
    }
}

// fsync on a folder makes the renames inside it durable (a power cut cannot undo them).
static void sync_dir(const char* dir) {
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

// Copies a small file (generation_config.json, tokenizer.json) atomically.
static void copy_file(const char* from, const char* to) {
    size_t n;
    char* data = read_file(from, &n);
    char* tmp;
    FILE* f = atomic_open(to, &tmp);
    fwrite_check(data, 1, n, f, tmp);
    atomic_commit(f, tmp, to);
    free(data);
}

// generation_config.json: the source model's own when it has one (Qwen2.5's sampling defaults),
// else the stop tokens, as transformers writes them.
static void sft_write_generation_config(const char* dir, const Qwen2Config* c, const Tokenizer* t,
                                        const char* model_dir) {
    char* path = path_join(dir, "generation_config.json");
    char* src = model_dir ? path_join(model_dir, "generation_config.json") : NULL;
    if (src && file_exists(src)) {
        copy_file(src, path);
    } else {
        char* tmp;
        FILE* f = atomic_open(path, &tmp);
        fprintf(f, "{\n  \"bos_token_id\": %d,\n  \"eos_token_id\": [\n    %d", c->bos_token_id, t->eos_id);
        if (t->endoftext_id >= 0 && t->endoftext_id != t->eos_id) {
            fprintf(f, ",\n    %d", t->endoftext_id);
        }
        fprintf(f, "\n  ],\n  \"pad_token_id\": %d\n}\n", t->pad_id);
        atomic_commit(f, tmp, path);
    }
    free(path), free(src);
}

// trainer_state.json: where the run is, and what it was run with (checked on resume).
static void sft_write_state(const SftTrainer* tr, const char* dir) {
    const Qwen2Config* c = &tr->model->config;
    const SftOptions* o = tr->opt;
    char* path = path_join(dir, "trainer_state.json");
    char* tmp;
    FILE* f = atomic_open(path, &tmp);
    fprintf(f, "{\n  \"step\": %d,\n  \"updates\": %d,\n  \"epoch\": %d,\n  \"data_cursor\": %zu,\n", tr->step,
            tr->optim.updates, tr->loader.epoch, tr->loader.cursor);
    fprintf(f, "  \"data_documents\": %zu,\n  \"data_tokens\": %zu,\n", tr->loader.data->n_docs, tr->loader.data->n);
    fprintf(f, "  \"truncated\": %zu,\n  \"tokens\": %lld,\n  \"seed\": \"%llu\",\n", tr->loader.truncated, tr->tokens,
            (unsigned long long)o->seed);
    fprintf(f, "  \"total_steps\": %d,\n  \"batch_size\": %d,\n  \"seq_len\": %d,\n  \"grad_accum\": %d,\n",
            tr->total_steps, o->batch_size, o->seq_len, o->grad_accum);
    fprintf(f, "  \"num_parameters\": %zu,\n  \"hidden_size\": %d,\n  \"num_layers\": %d,\n  \"vocab_size\": %d,\n",
            tr->model->num_parameters, c->hidden_size, c->num_layers, c->vocab_size);
    fprintf(f, "  \"loss\": %.9g,\n  \"eval_loss\": %.9g\n}\n", (double)tr->loss, (double)tr->eval_loss);
    atomic_commit(f, tmp, path);
    free(path);
}

// For the test of "killing the process mid-checkpoint loses nothing": with R1_TEST_KILL_CHECKPOINT=N
// in the environment, the process kills itself (SIGKILL, as an OOM killer or a scheduler would)
// halfway through writing checkpoint N, after the weights and before the training state.
static void sft_test_kill_point(int step) {
    const char* s = getenv("R1_TEST_KILL_CHECKPOINT");
    if (s && atoi(s) == step) {
        fprintf(stderr, "r1: R1_TEST_KILL_CHECKPOINT=%d: killing this process mid-checkpoint\n", step);
        fflush(stderr);
        raise(SIGKILL);
    }
}

// A checkpoint is written in two halves, so SFT and GRPO share the protocol and each adds its own
// trainer_state.json in between. checkpoint_begin writes checkpoint-STEP.tmp/ in out_dir: the model
// (fp32, so a resume continues exactly), generation_config.json, the tokenizer files and the
// optimizer state, and returns that folder. The caller writes trainer_state.json into it, last: a
// folder with trainer_state.json is complete. checkpoint_commit renames it to checkpoint-STEP/,
// points "latest" at it and deletes the checkpoints beyond the newest `keep`.
static void sft_checkpoint_prune(const char* out_dir, int keep, int newest);
static char* checkpoint_begin(const char* out, int step, const Qwen2* m, const Tokenizer* tok, const char* src_dir,
                              const Optimizer* opt, const float* adam_m, const float* adam_v) {
    char tmp_name[80];
    snprintf(tmp_name, sizeof(tmp_name), "checkpoint-%d.tmp", step);
    char* tmp = path_join(out, tmp_name);
    remove_dir_files(tmp); // a leftover of a run killed while writing this same checkpoint
    make_dir(tmp);
    model_save(tmp, &m->config, &m->params, "F32");
    sft_write_generation_config(tmp, &m->config, tok, src_dir);
    tokenizer_save(tok, tmp);
    char* tj = src_dir ? path_join(src_dir, "tokenizer.json") : NULL;
    if (tj && file_exists(tj)) { // the original fast-tokenizer file, so HF loads exactly the same tokenizer
        char* to = path_join(tmp, "tokenizer.json");
        copy_file(tj, to);
        free(to);
    }
    free(tj);
    sft_test_kill_point(step);
    char* opt_path = path_join(tmp, "optimizer.safetensors");
    optimizer_save(opt_path, opt, adam_m, adam_v, m->num_parameters);
    free(opt_path);
    return tmp;
}

static void checkpoint_commit(const char* out, int step, int keep, char* tmp) {
    char name[64];
    snprintf(name, sizeof(name), "checkpoint-%d", step);
    char* dir = path_join(out, name);
    sync_dir(tmp);
    if (dir_exists(dir)) { // the same step saved before (a resumed run repeating it): replace it
        char* old = path_join(out, "checkpoint-old.tmp");
        remove_dir_files(old);
        if (rename(dir, old) != 0) {
            fatal("cannot move '%s' aside: %s", dir, strerror(errno));
        }
        remove_dir_files(old);
        free(old);
    }
    if (rename(tmp, dir) != 0) {
        fatal("cannot rename '%s' to '%s': %s", tmp, dir, strerror(errno));
    }
    char* latest = path_join(out, "latest");
    char* ltmp;
    FILE* f = atomic_open(latest, &ltmp);
    fprintf(f, "%s\n", name);
    atomic_commit(f, ltmp, latest);
    sync_dir(out);
    sft_checkpoint_prune(out, keep, step);
    free(latest), free(dir), free(tmp);
}

static void sft_checkpoint_save(SftTrainer* tr) {
    if (tr->backend) { // the weights and moments to save live with the backend
        tr->backend->sync_to_host(tr->backend->ctx, tr->model, tr->adam_m, tr->adam_v);
    }
    char* tmp = checkpoint_begin(tr->opt->out_dir, tr->step, tr->model, tr->tok, tr->opt->model_dir, &tr->optim,
                                 tr->adam_m, tr->adam_v);
    sft_write_state(tr, tmp);
    checkpoint_commit(tr->opt->out_dir, tr->step, tr->opt->keep, tmp);
}

// Step number of a complete checkpoint folder name ("checkpoint-N"), or -1.
static int checkpoint_step(const char* name) {
    int step, end = 0;
    if (sscanf(name, "checkpoint-%d%n", &step, &end) == 1 && name[end] == '\0' && step >= 0) {
        return step;
    }
    return -1;
}

static int cmp_int_desc(const void* a, const void* b) {
    int x = *(const int*)a, y = *(const int*)b;
    return (x < y) - (x > y);
}

// The steps of the checkpoint folders in out_dir, newest first; returns the count (*steps malloc'd).
static int sft_list_checkpoints(const char* out_dir, int** steps) {
    int n = 0, cap = 16;
    *steps = (int*)malloc_check((size_t)cap * sizeof(int));
    DIR* d = opendir(out_dir);
    struct dirent* e;
    while (d && (e = readdir(d)) != NULL) {
        int s = checkpoint_step(e->d_name);
        if (s >= 0) {
            if (n == cap) {
                cap *= 2;
                *steps = (int*)realloc_check(*steps, (size_t)cap * sizeof(int));
            }
            (*steps)[n++] = s;
        }
    }
    if (d) {
        closedir(d);
    }
    qsort(*steps, (size_t)n, sizeof(int), cmp_int_desc);
    return n;
}

static void sft_checkpoint_prune(const char* out_dir, int keep, int newest) {
    int* steps;
    int n = sft_list_checkpoints(out_dir, &steps);
    for (int i = keep; keep > 0 && i < n; i++) {
        if (steps[i] != newest) {
            char name[64];
            snprintf(name, sizeof(name), "checkpoint-%d", steps[i]);
            char* dir = path_join(out_dir, name);
            remove_dir_files(dir);
            free(dir);
        }
    }
    free(steps);
}

// The newest complete checkpoint of out_dir: the one "latest" names, else the highest-numbered
// folder holding a trainer_state.json. NULL when there is none. malloc'd.
static char* sft_latest_checkpoint(const char* out_dir) {
    char* latest = path_join(out_dir, "latest");
    char* found = NULL;
    if (file_exists(latest)) {
        char* name = read_file(latest, NULL);
        name[strcspn(name, "\r\n")] = '\0';
        char* dir = path_join(out_dir, name);
        char* state = path_join(dir, "trainer_state.json");
        if (checkpoint_step(name) >= 0 && file_exists(state)) {
            found = dir, dir = NULL;
        }
        free(name), free(dir), free(state);
    }
    int* steps;
    int n = sft_list_checkpoints(out_dir, &steps);
    for (int i = 0; i < n && found == NULL; i++) {
        char name[64];
        snprintf(name, sizeof(name), "checkpoint-%d/trainer_state.json", steps[i]);
        char* state = path_join(out_dir, name);
        if (file_exists(state)) {
            state[strlen(state) - strlen("/trainer_state.json")] = '\0';
            found = state;
        } else {
            free(state);
        }
    }
    free(steps), free(latest);
    return found;
}

// An integer field of trainer_state.json, required.
static long long state_int(const Json* j, const char* key, const char* path) {
    const Json* v = json_get(j, key);
    if (v == NULL || (v->type != JSON_NUMBER && v->type != JSON_STRING)) {
        fatal("%s: no \"%s\": not an r1 training state (or from another version)", path, key);
    }
    return v->type == JSON_STRING ? (long long)strtoull(v->string, NULL, 10) : (long long)v->number;
}

// Continues from a checkpoint folder: weights, AdamW state, step and data position. The checkpoint
// must be of the same model (shape) as this run; anything else is refused before any work is lost.
static void sft_resume(SftTrainer* tr, const char* ckpt) {
    char* path = path_join(ckpt, "trainer_state.json");
    if (!file_exists(path)) {
        fatal("'%s' is not a complete r1 checkpoint (no trainer_state.json)", ckpt);
    }
    Json* j = json_load_file(path);
    Qwen2Config* c = &tr->model->config;
    Qwen2Config saved;
    config_load(&saved, ckpt);
    if ((size_t)state_int(j, "num_parameters", path) != tr->model->num_parameters ||
        saved.hidden_size != c->hidden_size || saved.num_layers != c->num_layers ||
        saved.vocab_size != c->vocab_size || saved.intermediate_size != c->intermediate_size ||
        saved.num_heads != c->num_heads || saved.num_kv_heads != c->num_kv_heads) {
        fatal("%s was saved for another model (hidden %d, layers %d, vocab %d, %lld parameters) than this run's "
              "(hidden %d, layers %d, vocab %d, %zu parameters): resume with the same --model",
              ckpt, saved.hidden_size, saved.num_layers, saved.vocab_size, state_int(j, "num_parameters", path),
              c->hidden_size, c->num_layers, c->vocab_size, tr->model->num_parameters);
    }
    ParameterTensors p;
    float* weights = model_load_weights(c, &p, ckpt);
    memcpy(tr->model->params_memory, weights, tr->model->num_parameters * sizeof(float));
    free(weights);
    char* opt_path = path_join(ckpt, "optimizer.safetensors");
    optimizer_load(opt_path, &tr->optim, tr->adam_m, tr->adam_v, tr->model->num_parameters);
    free(opt_path);
    const SftOptions* o = tr->opt;
    if ((size_t)state_int(j, "data_documents", path) != tr->loader.data->n_docs ||
        (size_t)state_int(j, "data_tokens", path) != tr->loader.data->n ||
        (uint64_t)state_int(j, "seed", path) != o->seed) {
        fprintf(stderr, "r1: warning: the data or the seed differ from the checkpoint's: the run continues, but "
                        "not exactly where it stopped\n");
    }
    if (state_int(j, "batch_size", path) != o->batch_size || state_int(j, "seq_len", path) != o->seq_len ||
        state_int(j, "grad_accum", path) != o->grad_accum || state_int(j, "total_steps", path) != tr->total_steps) {
        fprintf(stderr, "r1: warning: batch size, sequence length, accumulation or step count differ from the "
                        "checkpoint's: the run continues, but not as the uninterrupted run would\n");
    }
    tr->step = (int)state_int(j, "step", path);
    tr->tokens = state_int(j, "tokens", path);
    sft_loader_seek(&tr->loader, (int)state_int(j, "epoch", path), (size_t)state_int(j, "data_cursor", path));
    tr->loader.truncated = (size_t)state_int(j, "truncated", path);
    json_free(j);
    free(path);
}

// --- metrics -----------------------------------------------------------------------------
// metrics.jsonl gets one line per step (dev/plot.py draws them). Losses are written with 9
// significant digits, which read back as the same float32, so runs can be compared bit for bit.

// Opens metrics.jsonl: a fresh file, or on resume the old one cut after the resumed step (the lines
// of steps the interrupted run took after its last checkpoint are dropped: they are about to be redone).
static FILE* sft_metrics_open(const char* out_dir, int resume_step) {
    char* path = path_join(out_dir, "metrics.jsonl");
    char* kept = NULL;
    size_t kept_n = 0;
    if (resume_step > 0 && file_exists(path)) {
        FILE* mem = open_memstream(&kept, &kept_n);
        FILE* old = fopen_check(path, "rb");
        char* line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, old) > 0) {
            int step;
            if (sscanf(line, "{\"step\": %d", &step) == 1 && step <= resume_step) {
                fputs(line, mem);
            }
        }
        free(line);
        fclose(old);
        fclose(mem);
    }
    char* tmp;
    FILE* f = atomic_open(path, &tmp);
    if (kept_n) {
        fwrite_check(kept, 1, kept_n, f, tmp);
    }
    atomic_commit(f, tmp, path); // replaced in one go, then appended to
    free(kept);
    f = fopen_check(path, "ab");
    free(path);
    return f;
}

static void sft_log_metrics(SftTrainer* tr, int applied, double step_time, int evaluated) {
    if (tr->metrics == NULL) {
        return;
    }
    FILE* f = tr->metrics;
    fprintf(f, "{\"step\": %d, \"loss\": %.9g, \"lr\": %.9g, \"grad_norm\": %.9g, \"tokens\": %d, ", tr->step,
            (double)tr->loss, (double)(applied ? tr->optim.last_lr : 0.0f), (double)tr->optim.last_grad_norm,
            tr->last_tokens);
    fprintf(f, "\"loss_tokens\": %d, \"tokens_per_s\": %.1f, \"step_time\": %.4f, \"epoch\": %.4f", tr->last_targets,
            tr->last_tokens / (step_time > 0 ? step_time : 1e-9), step_time,
            tr->loader.epoch + (double)tr->loader.cursor / (double)tr->loader.data->n_docs);
    if (!applied) {
        fprintf(f, ", \"skipped\": 1");
    }
    if (evaluated) {
        fprintf(f, ", \"eval_loss\": %.9g", (double)tr->eval_loss);
    }
    fprintf(f, "}\n");
    fflush(f);
}

static void format_duration(char* buf, size_t n, double s) {
    int t = (int)(s + 0.5);
    if (t >= 3600) {
        snprintf(buf, n, "%dh%02dm", t / 3600, t / 60 % 60);
    } else {
        snprintf(buf, n, "%dm%02ds", t / 60, t % 60);
    }
}

// --- the loop ----------------------------------------------------------------------------

// The step count of the run: max_steps, or the epochs turned into steps.
static int sft_total_steps(const SftOptions* o, const SftTokens* train) {
    if (o->max_steps > 0) {
        return o->max_steps;
    }
    size_t rows = sft_rows_per_epoch(train, o->seq_len, o->seed);
    size_t per_step = (size_t)o->batch_size * o->grad_accum;
    int steps = (int)ceil(o->epochs * (double)rows / (double)per_step);
    return steps > 0 ? steps : 1;
}

// Checks the output folder can be written to before any training, so no work is lost to it later.
static void sft_prepare_out(const SftOptions* o) {
    make_dir(o->out_dir);
    char* probe = path_join(o->out_dir, ".write_test");
    FILE* f = fopen(probe, "wb");
    if (f == NULL || fclose(f) != 0) {
        fatal("cannot write into the output folder '%s': %s (choose another --out)", o->out_dir, strerror(errno));
    }
    unlink(probe);
    free(probe);
    int* steps;
    int n = sft_list_checkpoints(o->out_dir, &steps);
    if (n > 0 && o->resume_from == NULL) {
        fatal("'%s' already holds checkpoint-%d from an earlier run: add --resume to continue it, or choose another "
              "--out", o->out_dir, steps[0]);
    }
    free(steps);
}

static void sft_trainer_init(SftTrainer* tr, Qwen2* m, const Tokenizer* tok, const SftTokens* train,
                             const SftOptions* o) {
    memset(tr, 0, sizeof(*tr));
    tr->model = m, tr->tok = tok, tr->opt = o;
    if (o->batch_size < 1 || o->seq_len < 2 || o->grad_accum < 1) {
        fatal("batch size %d, sequence length %d, accumulation %d: need B >= 1, T >= 2, accumulation >= 1",
              o->batch_size, o->seq_len, o->grad_accum);
    }
    tr->total_steps = sft_total_steps(o, train);
    LrScheduleType type = lr_schedule_from_name(o->schedule);
    if (type == LR_COSINE && o->min_lr > 0.0f) {
        type = LR_COSINE_WITH_MIN_LR; // a floor given: the cosine ends there
    }
    tr->optim.schedule = lr_schedule_make(type, o->lr, lr_warmup_steps(o->warmup, tr->total_steps), tr->total_steps);
    tr->optim.schedule.min_lr_rate = o->lr > 0.0f ? o->min_lr / o->lr : 0.0f;
    tr->optim.adamw.beta1 = o->beta1, tr->optim.adamw.beta2 = o->beta2, tr->optim.adamw.eps = o->eps;
    tr->optim.adamw.weight_decay = o->weight_decay;
    tr->optim.max_grad_norm = o->max_grad_norm;
    tr->adam_m = (float*)calloc_check(m->num_parameters, sizeof(float));
    tr->adam_v = (float*)calloc_check(m->num_parameters, sizeof(float));
    int pad = tok->pad_id >= 0 ? tok->pad_id : tok->eos_id >= 0 ? tok->eos_id : 0;
    sft_loader_init(&tr->loader, train, o->seq_len, pad, o->seed, 1);
    size_t n = (size_t)o->grad_accum * o->batch_size * o->seq_len;
    tr->ids = (int*)malloc_check(n * sizeof(int));
    tr->pos = (int*)malloc_check(n * sizeof(int));
    tr->labels = (int*)malloc_check(n * sizeof(int));
    tr->dlogprobs = (float*)malloc_check((size_t)o->batch_size * o->seq_len * sizeof(float));
    tr->eval_loss = -1.0f;
    tr->backend = o->backend;
}

static void sft_trainer_free(SftTrainer* tr) {
    free(tr->adam_m), free(tr->adam_v), free(tr->ids), free(tr->pos), free(tr->labels), free(tr->dlogprobs);
    sft_loader_free(&tr->loader);
    if (tr->metrics) {
        fclose(tr->metrics);
    }
}

static void sft_progress(const SftTrainer* tr, double step_time, double avg_time, int evaluated) {
    char eta[32];
    format_duration(eta, sizeof(eta), avg_time * (tr->total_steps - tr->step));
    printf("step %5d/%d | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | eta %s", tr->step, tr->total_steps,
           tr->loss, tr->optim.last_lr, tr->optim.last_grad_norm, tr->last_tokens / (step_time > 0 ? step_time : 1e-9),
           eta);
    if (evaluated) {
        printf(" | eval loss %.4f", tr->eval_loss);
    }
    printf("\n");
    fflush(stdout);
}

// What a run ends with.
typedef struct {
    int steps;       // steps taken in total (resumed ones included)
    float loss;      // the last step's training loss
    float eval_loss; // the last held-out loss (-1 without a held-out set)
    float first_loss; // the first step's loss of this process
    int skipped;     // updates skipped as non-finite
} SftResult;

// The whole SFT run: trains m on `train` (held-out loss on `eval`, which may be NULL or empty) as o
// says, writing checkpoints and metrics into o->out_dir when it is set, and resuming from
// o->resume_from when that is set.
static SftResult sft_train(Qwen2* m, const Tokenizer* tok, const SftTokens* train, const SftTokens* eval,
                           const SftOptions* o) {
    SftTrainer tr;
    SftResult res;
    memset(&res, 0, sizeof(res));
    if (o->out_dir) {
        sft_prepare_out(o);
    }
    sft_trainer_init(&tr, m, tok, train, o);
    if (o->resume_from) {
        sft_resume(&tr, o->resume_from);
        if (o->log_every) {
            printf("resumed from %s at step %d (epoch %d, document %zu)\n", o->resume_from, tr.step, tr.loader.epoch,
                   tr.loader.cursor);
        }
        if (tr.backend) { // the resumed weights and moments to where the backend keeps them
            tr.backend->from_host(tr.backend->ctx, m, tr.adam_m, tr.adam_v);
        }
    }
    if (o->out_dir) {
        tr.metrics = sft_metrics_open(o->out_dir, tr.step);
    }
    int has_eval = eval && eval->n_docs > 0;
    int stop = o->stop_at > 0 && o->stop_at < tr.total_steps ? o->stop_at : tr.total_steps;
    double t_start = wall_time();
    int steps_here = 0;
    res.first_loss = -1.0f;
    while (tr.step < stop) {
        double t0 = wall_time();
        int applied = sft_step(&tr);
        double dt = wall_time() - t0;
        steps_here++;
        res.first_loss = res.first_loss < 0 ? tr.loss : res.first_loss;
        if (!applied) {
            fprintf(stderr, "r1: warning: step %d: loss %g, gradient norm %g are not finite: update skipped (%d in a "
                            "row)\n", tr.step, tr.loss, tr.optim.last_grad_norm, tr.optim.consecutive_skips);
            if (tr.optim.consecutive_skips >= o->max_bad_steps) {
                fatal("%d steps in a row had a non-finite loss or gradient: the run diverged (lower --lr); the last "
                      "checkpoint is intact", tr.optim.consecutive_skips);
            }
        }
        int last = tr.step == tr.total_steps;
        int evaluated = has_eval && ((o->eval_every > 0 && tr.step % o->eval_every == 0) || last);
        if (evaluated) {
            tr.eval_loss = sft_eval_loss(&tr, eval, o->eval_rows);
        }
        sft_log_metrics(&tr, applied, dt, evaluated);
        if (o->log_every > 0 && (tr.step % o->log_every == 0 || last || evaluated)) {
            sft_progress(&tr, dt, (wall_time() - t_start) / steps_here, evaluated);
        }
        if (o->out_dir && ((o->save_every > 0 && tr.step % o->save_every == 0) || last || tr.step == stop)) {
            sft_checkpoint_save(&tr);
        }
    }
    if (tr.loader.truncated > 0 && o->log_every) {
        printf("%zu documents were longer than %d tokens and were truncated\n", tr.loader.truncated, o->seq_len);
    }
    if (tr.backend) { // m ends with the trained weights, as on the CPU
        tr.backend->sync_to_host(tr.backend->ctx, m, tr.adam_m, tr.adam_v);
    }
    res.steps = tr.step, res.loss = tr.loss, res.eval_loss = tr.eval_loss, res.skipped = tr.optim.total_skips;
    sft_trainer_free(&tr);
    return res;
}

// ----------------------------------------------------------------------------
// GRPO training: the loop of R1-Zero
// One step: take P prompts, sample G completions of each with the policy (generate_batch), score
// every completion with the rule-based rewards, turn the rewards into group advantages, rescore the
// prompt + completion tokens with the policy (at the sampling temperature), form the GRPO loss's
// gradient with respect to the logits directly (grpo_loss_backward), backpropagate it through the
// model and take one AdamW step; with num_iterations = mu the same rollouts serve mu updates, the
// ratio then measured against the log-probs the policy had when it sampled them ("old"). A frozen
// reference model scores the same tokens when beta > 0 (beta = 0 loads none).
// Everything a run needs to continue is the step number, the weights and AdamW's state: the
// prompts and the sampling seed of step s are functions of (seed, s), so a resumed run replays
// exactly the run that was interrupted.

// Countdown prompt forms. "base" and "chat" are TinyZero's (the data section); "short" is ours, for the
// tiny byte-level model: TinyZero's prompt is ~400 bytes, i.e. 400 tokens for a byte vocabulary,
// which would make the miniature run mostly prompt. The short form keeps what the reward needs
// ("Assistant:" before the answer, the answer on the last line) and nothing else.
#define COUNTDOWN_SHORT_TEMPLATE "User: {nums} -> {target}\nAssistant: <think>"
// The tiny model's cold-start completions: the solution's steps as the thinking, then the answer.
#define COUNTDOWN_SHORT_COMPLETION "{steps}</think>\n<answer> {answer} </answer>"
// Mini-R1 / Datawhale-R1's user turn (run_r1_grpo.py generate_r1_prompt) and assistant prefill.
#define MINIR1_USER_TEMPLATE                                                                                          \
    "Using the numbers {nums}, create an equation that equals {target}. You can use basic arithmetic operations "   \
    "(+, -, *, /) one or multiple times but each number can only be used once. Show your work in <think> </think> " \
    "tags. And return the final equation in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>. "  \
    "Think step by step inside <think> tags."
#define MINIR1_PREFILL "Let me solve this step by step.\n<think>"

#define GRPO_MAX_STOPS GEN_MAX_STOP

typedef struct {
    // the task
    const char* task;          // "countdown" (generated problems) or "math" (a jsonl of problems)
    const char* data;          // math: GSM8K / MATH jsonl (any format sft_load reads)
    const char* prompt_format; // countdown: "short", "base", "chat" (TinyZero) or "minir1"; math: "chat"
    const char* system;        // math: the system prompt (NULL: open-r1's)
    int cd_min_nums, cd_max_nums, cd_max_target; // the Countdown generator's ranges
    // rollouts
    int steps;             // rollout steps (each gives num_iterations optimizer updates)
    int prompts_per_step;  // P
    int group_size;        // G completions per prompt
    int max_completion;    // new tokens at most
    int micro_batch;       // completions per forward/backward pass (memory, not math)
    float temperature, top_p, repetition_penalty;
    int top_k;
    const char* stop[GRPO_MAX_STOPS]; // stop strings (NULL-terminated list)
    int eos_ids[GEN_MAX_IDS], n_eos;  // generation ends on these (the tokenizer's eos, the model's config)
    int mask_truncated;    // completions cut at max_completion get no loss (DAPO's overlong filtering)
    // rewards and loss
    const char* rewards;   // "countdown", "minir1_format:1,minir1_equation:1", ...
    GrpoConfig loss;       // clipping, KL, entropy (loss.temperature is set to `temperature`)
    GrpoScale scale;       // advantage scaling: group / batch / none
    float adv_eps;         // added to the std (TRL 1e-4, verl 1e-6)
    GrpoAgg agg;           // grpo / bnpo / dr_grpo / dapo
    int num_iterations;    // mu: updates per rollout batch
    // optimizer
    float lr, weight_decay, beta1, beta2, max_grad_norm;
    const char* schedule;  // lr schedule name (the optimizer section)
    double warmup;         // fraction of the updates (< 1) or a step count
    // the run
    uint64_t seed;
    const char* out_dir;   // checkpoints, metrics.jsonl; NULL: nothing written
    int save_every;        // steps between checkpoints (0: only at the end)
    int eval_every;        // steps between held-out evaluations (0: only before and after)
    int eval_n;            // held-out Countdown problems (greedy)
    int stop_at;           // stop after this step as if interrupted (a checkpoint is written); 0: never
    int quiet;             // no progress line
    int show;              // print this many completions of each step (and of each evaluation)
} GrpoOptions;

// TRL's GRPOConfig defaults (v0.19 and later; grpo.md §3), Countdown with the short prompt.
static GrpoOptions grpo_options_default(void) {
    GrpoOptions o;
    memset(&o, 0, sizeof(o));
    o.task = "countdown", o.prompt_format = "short";
    o.cd_min_nums = 3, o.cd_max_nums = 4, o.cd_max_target = 100;
    o.steps = 100, o.prompts_per_step = 16, o.group_size = 8, o.max_completion = 256, o.micro_batch = 16;
    o.temperature = 1.0f, o.top_p = 1.0f, o.repetition_penalty = 1.0f, o.top_k = 0;
    o.rewards = "countdown";
    o.loss = grpo_config_default();
    o.scale = GRPO_SCALE_GROUP, o.adv_eps = 1e-4f, o.agg = GRPO_AGG_DAPO, o.num_iterations = 1;
    o.lr = 1e-6f, o.weight_decay = 0.0f, o.beta1 = 0.9f, o.beta2 = 0.999f, o.max_grad_norm = 1.0f;
    o.schedule = "linear", o.warmup = 0.0;
    o.seed = 42, o.eval_n = 200;
    return o;
}

// The published recipes (grpo.md §3-4), and "miniature": ./train_grpo with no --model (the tiny
// byte-level model on easy Countdown: 3 numbers below 30, the short prompt, a learning rate for a
// model of 0.8M parameters). Returns 0 for an unknown name.
static int grpo_recipe(GrpoOptions* o, const char* name) {
    if (strcmp(name, "miniature") == 0) {
        o->task = "countdown", o->prompt_format = "short", o->rewards = "countdown";
        o->cd_min_nums = 3, o->cd_max_nums = 3, o->cd_max_target = 30;
        // 16 prompts x G 8 rather than 8 x 16 (the same 128 completions a step): more problems seen
        // for the same time, +1.7 points after 120 steps; 200 steps rather than 120, +1.3 more
        // (measured from one cold start, 1000 held-out problems; see the issue-5 note)
        o->prompts_per_step = 16, o->group_size = 8, o->max_completion = 64, o->micro_batch = 32;
        // sampling at T 0.7 and a cosine decay: at T 1 the tiny model's samples are mostly wrong
        // arithmetic (few groups with a right answer to learn from), and at a constant rate the
        // held-out accuracy peaked near step 40 and then fell (measured; see the issue-5 note)
        o->lr = 1e-4f, o->schedule = "cosine", o->warmup = 0.0, o->steps = 200;
        o->temperature = 0.7f, o->agg = GRPO_AGG_DAPO, o->scale = GRPO_SCALE_GROUP, o->loss.beta = 0.0f;
        // 1000 held-out problems: on 200 the accuracy's standard error is ~2.7 points, as large as the
        // change being measured (a run read +5.5 on 200 problems and +1.4 on 1000 others)
        o->eval_n = 1000;
    } else if (strcmp(name, "datawhale") == 0) { // Datawhale-R1.yaml (TRL 0.14) = philschmid Mini-R1
        o->task = "countdown", o->prompt_format = "minir1", o->rewards = "minir1_format:1,minir1_equation:1";
        o->lr = 5e-7f, o->schedule = "cosine", o->warmup = 0.03, o->seed = 2025;
        o->loss.beta = 0.001f, o->loss.kl_type = GRPO_KL_K3;
        o->group_size = 8, o->prompts_per_step = 16, o->max_completion = 1024, o->steps = 450;
        o->temperature = 0.9f; // TRL 0.14's default (it did not divide the logits by it when scoring)
        o->agg = GRPO_AGG_GRPO, o->scale = GRPO_SCALE_GROUP, o->adv_eps = 1e-4f, o->num_iterations = 1;
        o->cd_min_nums = 3, o->cd_max_nums = 4;
    } else if (strcmp(name, "tinyzero") == 0) { // JerryWu-code/TinyZero train_tiny_zero_a100_grpo.sh (verl)
        o->task = "countdown", o->prompt_format = "base", o->rewards = "countdown";
        o->lr = 1e-6f, o->schedule = "constant", o->warmup = 0.0;
        o->loss.beta = 0.001f, o->loss.kl_type = GRPO_KL_K3, o->loss.entropy_coef = 0.001f;
        o->loss.verl_clamps = 1, o->loss.dual_clip = 3.0f;
        o->group_size = 5, o->prompts_per_step = 128, o->max_completion = 1024;
        o->steps = 38400; // 15 epochs of TinyZero's 327,680 training prompts, 128 per step
        o->temperature = 1.0f, o->agg = GRPO_AGG_BNPO, o->scale = GRPO_SCALE_GROUP, o->adv_eps = 1e-6f;
        o->cd_min_nums = 3, o->cd_max_nums = 4;
    } else if (strcmp(name, "open-r1") == 0) { // recipes/Qwen2.5-1.5B-Instruct/grpo/config_demo.yaml
        o->task = "math", o->prompt_format = "chat", o->rewards = "accuracy:1,format:1,tag_count:1";
        o->lr = 2e-5f, o->schedule = "cosine", o->warmup = 0.1;
        o->group_size = 16, o->prompts_per_step = 16, o->max_completion = 1024;
        o->temperature = 1.0f, o->agg = GRPO_AGG_DAPO, o->scale = GRPO_SCALE_GROUP, o->adv_eps = 1e-4f;
        o->loss.beta = 0.0f, o->steps = 500;
    } else {
        return 0;
    }
    return 1;
}

// ----------------------------------------------------------------------------
// GRPO: prompts
// A prompt is its token ids plus what the rewards need to judge a completion of it.

typedef struct {
    char* text;  // the prompt as text (TinyZero's reward scores prompt + completion)
    int* ids;    // its tokens
    int n_ids;
    int nums[COUNTDOWN_MAX_NUMS], n_nums, target; // Countdown
    char* gold;  // math: the reference answer
} GrpoPrompt;

static void grpo_prompt_free(GrpoPrompt* p) {
    free(p->text), free(p->ids), free(p->gold);
    memset(p, 0, sizeof(*p));
}

// A Countdown prompt in one of the forms (see the templates above).
static void grpo_countdown_prompt(GrpoPrompt* p, const Tokenizer* tok, const char* format, const CountdownProblem* cp) {
    memset(p, 0, sizeof(*p));
    p->n_nums = cp->n, p->target = cp->target;
    memcpy(p->nums, cp->nums, sizeof(p->nums));
    if (strcmp(format, "short") == 0) {
        p->text = countdown_prompt(COUNTDOWN_SHORT_TEMPLATE, cp->nums, cp->n, cp->target);
    } else if (strcmp(format, "base") == 0) {
        p->text = countdown_prompt(COUNTDOWN_BASE_TEMPLATE, cp->nums, cp->n, cp->target);
    } else if (strcmp(format, "chat") == 0) {
        p->text = countdown_prompt(COUNTDOWN_INSTRUCT_TEMPLATE, cp->nums, cp->n, cp->target);
    } else if (strcmp(format, "minir1") == 0) { // ChatML with the prefill left open
        char* user = countdown_prompt(MINIR1_USER_TEMPLATE, cp->nums, cp->n, cp->target);
        ChatMessage msgs[3] = {{"system", COUNTDOWN_SYSTEM_PROMPT}, {"user", user}, {"assistant", MINIR1_PREFILL}};
        size_t len;
        p->text = chat_render(tok, msgs, 3, "", 0, 1, &len, NULL);
        free(user);
    } else {
        fatal("unknown Countdown prompt format '%s' (use short, base, chat or minir1)", format);
    }
    // the templates hold ChatML markers as text; the tokenizer turns them into their special tokens
    p->n_ids = tokenizer_encode(tok, p->text, strlen(p->text), &p->ids);
}

// A math prompt: the system prompt and the problem as a chat, ready for the assistant's answer.
static void grpo_math_prompt(GrpoPrompt* p, const Tokenizer* tok, const char* system, const SftExample* ex) {
    memset(p, 0, sizeof(*p));
    ChatMessage msg = {"user", ex->prompt};
    size_t len;
    p->text = chat_render(tok, &msg, 1, system ? system : prompt_preset("openr1")->system, 1, 0, &len, NULL);
    p->n_ids = tokenizer_encode(tok, p->text, strlen(p->text), &p->ids);
    p->gold = strdup_check(ex->gold ? ex->gold : ex->answer ? ex->answer : "");
}

// A 64-bit mix of (seed, step, what): the random stream of one step's prompts or samples.
static uint64_t grpo_stream(uint64_t seed, int step, int what) {
    return rng_seed(rng_seed(seed ^ 0x9e3779b97f4a7c15ULL) + (uint64_t)step * 1000003ULL + (uint64_t)what);
}

static CountdownConfig grpo_countdown_config(const GrpoOptions* o) {
    CountdownConfig c = countdown_config_default();
    c.min_nums = o->cd_min_nums, c.max_nums = o->cd_max_nums, c.max_target = o->cd_max_target;
    return c;
}

// The P prompts of step `step`. Countdown: fresh problems from the training split (training
// targets only), drawn from the step's own stream. Math: the rows of the data in a seeded order,
// one epoch after another.
static void grpo_step_prompts(GrpoPrompt* out, const GrpoOptions* o, const Tokenizer* tok, const SftDataset* data,
                              int step) {
    int P = o->prompts_per_step;
    if (strcmp(o->task, "countdown") == 0) {
        CountdownConfig cc = grpo_countdown_config(o);
        CountdownGen gen;
        countdown_init(&gen, &cc, o->seed, 0);
        gen.rng = grpo_stream(o->seed, step, 1);
        for (int i = 0; i < P; i++) {
            CountdownProblem cp;
            countdown_next(&gen, &cp);
            grpo_countdown_prompt(&out[i], tok, o->prompt_format, &cp);
            countdown_problem_free(&cp);
        }
        return;
    }
    int n = (int)data->n;
    for (int i = 0; i < P; i++) {
        long long k = (long long)step * P + i;
        int epoch = (int)(k / n), at = (int)(k % n);
        // the row at `at` of this epoch's permutation: a seeded Fisher-Yates shuffle, replayed
        // (n is small next to the cost of a step, so recomputing it is fine)
        int* perm = (int*)malloc_check((size_t)n * sizeof(int));
        for (int j = 0; j < n; j++) {
            perm[j] = j;
        }
        uint64_t rng = grpo_stream(o->seed, epoch, 2);
        for (int j = n - 1; j > 0; j--) {
            int r = (int)(random_u32(&rng) % (uint32_t)(j + 1)), t = perm[j];
            perm[j] = perm[r], perm[r] = t;
        }
        grpo_math_prompt(&out[i], tok, o->system, &data->rows[perm[at]]);
        free(perm);
    }
}

// The reward functions' view of a prompt.
static RewardExample grpo_reward_example(const GrpoPrompt* p) {
    RewardExample ex;
    memset(&ex, 0, sizeof(ex));
    ex.prompt = p->text, ex.nums = p->nums, ex.n_nums = p->n_nums, ex.target = p->target, ex.gold = p->gold;
    return ex;
}

// ----------------------------------------------------------------------------
// GRPO: another engine for rollouts and the update
// As SFT's (SftBackend): the heavy parts of a step (sampling, the models' forward and backward passes,
// AdamW) run here on the CPU, or elsewhere through these hooks (train_grpo.cu fills them in to run
// them on a GPU). What stays here is everything else: prompts, generate_batch_engine's scheduler and
// its coins, rewards, advantages, each micro-batch's layout and aggregation weights, the schedule and
// the non-finite guard, metrics, checkpoints; so both engines train the same way. The policy's weights
// and AdamW's moments then live with the backend: sync_to_host copies them into the model and adam_m /
// adam_v (before a checkpoint, and at the end of grpo_train), from_host copies them back (a resume).
typedef struct {
    void* ctx;
    const GenEngine* engine; // rollouts and held-out evaluation, with the policy's current weights
    int step_tokens;         // generate's step_tokens for that engine (0: the default)
    // log_softmax(logits / temperature)[y] of the policy (ref = 0) or the frozen reference model
    // (ref = 1) at B rows of T positions: ids, pos, y and out are (B, T); y is the token a position
    // predicts, < 0 where it predicts none (out 0 there)
    void (*logps)(void* ctx, int ref, const int* ids, const int* pos, const int* y, int B, int T, float temperature,
                  float* out);
    void (*zero_grad)(void* ctx);
    // one micro-batch (grpo_micro_step's arrays, all (B, T)): forward, grpo_loss_backward's gradient of
    // the logits, backward, gradients added; old, ref NULL as there. Returns the loss, adds to *st
    double (*forward_backward)(void* ctx, const int* ids, const int* pos, const int* y, const float* w,
                               const float* adv, const float* old, const float* ref, int B, int T,
                               const GrpoConfig* cfg, GrpoStats* st);
    // optimizer_step on the backend's gradients: the global norm (returned, before clipping), clipped
    // to max_grad_norm when that is > 0; then, only when loss and norm are finite, AdamW update number
    // t (1-based, this one included) at learning rate lr
    float (*update)(void* ctx, float loss, int t, float lr, const AdamWConfig* cfg, float max_grad_norm);
    void (*sync_to_host)(void* ctx, Qwen2* m, float* adam_m, float* adam_v);
    void (*from_host)(void* ctx, const Qwen2* m, const float* adam_m, const float* adam_v);
} GrpoBackend;

// ----------------------------------------------------------------------------
// GRPO: rollouts
// generate_batch (the generation section) samples G completions of each prompt with the KV cache; this is
// the only place that fills its config, so the loop below reads as the algorithm.

// n_prompts prompts, `samples` completions each (prompt-major: out[p * samples + s]).
// temperature 0 is greedy decoding (evaluation). be: NULL, or a backend whose engine samples instead.
static void grpo_generate(Qwen2* m, const GrpoBackend* be, const Tokenizer* tok, const GrpoOptions* o,
                          GrpoPrompt* prompts, int n_prompts, int samples, float temperature, uint64_t seed,
                          Completion* out) {
    int** ids = (int**)malloc_check((size_t)n_prompts * sizeof(int*));
    int* lens = (int*)malloc_check((size_t)n_prompts * sizeof(int));
    for (int i = 0; i < n_prompts; i++) {
        ids[i] = prompts[i].ids, lens[i] = prompts[i].n_ids;
    }
    GenerateConfig gc;
    generate_config_default(&gc);
    gc.sampling.temperature = temperature;
    gc.sampling.top_k = temperature > 0 ? o->top_k : 0;
    gc.sampling.top_p = temperature > 0 ? o->top_p : 1.0f;
    gc.sampling.repetition_penalty = o->repetition_penalty;
    gc.max_new_tokens = o->max_completion;
    gc.seed = seed;
    gc.slots = n_prompts * samples; // every sequence of the step at once: the model's matmuls see rows
    for (int i = 0; i < o->n_eos; i++) {
        generate_add_eos(&gc, o->eos_ids[i]);
    }
    for (int i = 0; i < GRPO_MAX_STOPS && o->stop[i]; i++) {
        gc.stop[gc.n_stop++] = o->stop[i];
    }
    if (be && be->engine) {
        gc.step_tokens = be->step_tokens;
        generate_batch_engine(be->engine, &m->config, tok, ids, lens, n_prompts, samples, &gc, out);
    } else {
        generate_batch(m, tok, ids, lens, n_prompts, samples, &gc, out);
    }
    free(ids), free(lens);
}

// A completion cut by the token budget (no eos, no stop string).
static int grpo_truncated(const Completion* c) { return c->finish == FINISH_LENGTH; }

// ----------------------------------------------------------------------------
// GRPO: one rollout batch, scored
// Completion c answers prompt c / G. Per-token arrays are indexed by (completion, token) and padded
// to the longest completion, Lmax; the model sees rows "prompt + completion", right-padded, where the
// logits at position t predict token t + 1, so completion token j of a prompt of length Lp is
// scored at position Lp + j - 1.

typedef struct {
    int P, G, n;         // n = P * G completions
    GrpoPrompt* prompts; // (P)
    Completion* comp;    // (n)
    int n_fn;            // reward functions
    float* reward;       // (n) the weighted sum
    float* per_fn;       // (n, n_fn) each function's own value
    float* adv;          // (n) group advantages
    int* correct;        // (n) the answer is right (countdown_correct / math_verify)
    int Lmax, Tmax;      // longest completion; longest prompt + completion
    float* mask;         // (n, Lmax) 1 on the tokens that enter the loss
    float* weight;       // (n, Lmax) the aggregation's weight x mask, over the whole batch (grpo_token_weights)
    float* old_logp;     // (n, Lmax) num_iterations > 1: the sampling policy's log-probs; else NULL
    float* ref_logp;     // (n, Lmax) beta > 0: the reference model's log-probs; else NULL
} GrpoBatch;

static void grpo_batch_free(GrpoBatch* b) {
    for (int i = 0; i < b->P; i++) {
        grpo_prompt_free(&b->prompts[i]);
    }
    for (int i = 0; i < b->n; i++) {
        completion_free(&b->comp[i]);
    }
    free(b->prompts), free(b->comp), free(b->reward), free(b->per_fn), free(b->adv), free(b->correct);
    free(b->mask), free(b->weight), free(b->old_logp), free(b->ref_logp);
    memset(b, 0, sizeof(*b));
}

// Is completion c right? Countdown: countdown_correct (the rewards section); math: math_verify.
static int grpo_correct(const GrpoOptions* o, const GrpoPrompt* p, const char* text) {
    if (strcmp(o->task, "countdown") == 0) {
        return countdown_correct(text, p->nums, p->n_nums, p->target);
    }
    return math_verify(text, p->gold);
}

// The aggregation weights of the whole batch (B = all n completions, one accumulation step): the
// loss is then the same mean however the batch is cut into micro-batches. BNPO is the exception,
// computed per micro-batch in grpo_micro_step as TRL does (a token mean of each micro-batch).
static void grpo_batch_weights(GrpoBatch* b, const GrpoOptions* o) {
    free(b->weight);
    b->weight = (float*)malloc_check((size_t)b->n * b->Lmax * sizeof(float));
    grpo_token_weights(b->weight, b->mask, b->n, b->Lmax, o->agg, o->max_completion, 0.0, 1);
}

// Rewards, advantages and the loss mask of a sampled batch.
static void grpo_batch_score(GrpoBatch* b, const GrpoOptions* o, const RewardSet* rs) {
    b->n_fn = rs->n;
    b->reward = (float*)malloc_check((size_t)b->n * sizeof(float));
    b->per_fn = (float*)malloc_check((size_t)b->n * rs->n * sizeof(float));
    b->adv = (float*)malloc_check((size_t)b->n * sizeof(float));
    b->correct = (int*)malloc_check((size_t)b->n * sizeof(int));
    b->Lmax = 1, b->Tmax = 1;
#pragma omp parallel for schedule(dynamic)
    for (int c = 0; c < b->n; c++) { // rewards are pure functions of the text: any order, any thread
        const GrpoPrompt* p = &b->prompts[c / b->G];
        RewardExample ex = grpo_reward_example(p);
        const char* text = b->comp[c].text ? b->comp[c].text : "";
        b->reward[c] = reward_total(rs, text, &ex, b->per_fn + (size_t)c * rs->n);
        b->correct[c] = grpo_correct(o, p, text);
    }
    for (int c = 0; c < b->n; c++) {
        int L = b->comp[c].n_tokens, T = b->prompts[c / b->G].n_ids + L;
        b->Lmax = L > b->Lmax ? L : b->Lmax;
        b->Tmax = T > b->Tmax ? T : b->Tmax;
    }
    grpo_advantages(b->adv, b->reward, b->P, b->G, o->scale, o->adv_eps);
    // the mask: every completion token, its final eos included; none of a truncated completion when
    // mask_truncated is set (its reward says nothing about an answer it never gave)
    b->mask = (float*)calloc_check((size_t)b->n * b->Lmax, sizeof(float));
    for (int c = 0; c < b->n; c++) {
        if (o->mask_truncated && grpo_truncated(&b->comp[c])) {
            continue;
        }
        for (int j = 0; j < b->comp[c].n_tokens; j++) {
            b->mask[(size_t)c * b->Lmax + j] = 1.0f;
        }
    }
    grpo_batch_weights(b, o);
}

// Lays completions [c0, c1) out as rows of prompt + completion right-padded to T = b->Tmax: ids and
// position ids (B, T), and where = (B, T) the (completion, token) index that position t predicts,
// or -1 (prompt positions, padding, the last token).
static void grpo_layout(const GrpoBatch* b, int c0, int c1, int pad_id, int* ids, int* pos, long* where) {
    int T = b->Tmax;
    for (int c = c0; c < c1; c++) {
        const GrpoPrompt* p = &b->prompts[c / b->G];
        const Completion* k = &b->comp[c];
        size_t row = (size_t)(c - c0) * T;
        for (int t = 0; t < T; t++) {
            int j = t - p->n_ids; // completion token at t, when j >= 0
            ids[row + t] = t < p->n_ids ? p->ids[t] : j < k->n_tokens ? k->tokens[j] : pad_id;
            pos[row + t] = t;
            int next = t + 1 - p->n_ids; // the completion token that position t predicts
            where[row + t] = next >= 0 && next < k->n_tokens ? (long)c * b->Lmax + next : -1;
        }
    }
}

// log_softmax(logits / temperature)[y] of one row of V logits, in double.
static float grpo_row_logp(const float* logits, int y, int V, float temperature) {
    double inv_t = 1.0 / temperature, max = -INFINITY, sum = 0.0;
    for (int v = 0; v < V; v++) {
        max = logits[v] * inv_t > max ? logits[v] * inv_t : max;
    }
    for (int v = 0; v < V; v++) {
        sum += exp(logits[v] * inv_t - max);
    }
    return (float)(logits[y] * inv_t - max - log(sum));
}

// The log-probs model m gives every completion token (out: (n, Lmax)), micro-batch by micro-batch.
// For the reference model, and for the "old" policy when num_iterations > 1.
static void grpo_batch_logps(Qwen2* m, GrpoBatch* b, const GrpoOptions* o, int pad_id, float* out) {
    int T = b->Tmax, V = m->config.vocab_size, mb = o->micro_batch > 0 ? o->micro_batch : b->n;
    int* ids = (int*)malloc_check((size_t)mb * T * sizeof(int));
    int* pos = (int*)malloc_check((size_t)mb * T * sizeof(int));
    long* where = (long*)malloc_check((size_t)mb * T * sizeof(long));
    for (int c0 = 0; c0 < b->n; c0 += mb) {
        int c1 = c0 + mb < b->n ? c0 + mb : b->n, B = c1 - c0;
        grpo_layout(b, c0, c1, pad_id, ids, pos, where);
        qwen2_forward(m, ids, pos, NULL, B, T);
#pragma omp parallel for
        for (long i = 0; i < (long)B * T; i++) {
            if (where[i] >= 0) {
                out[where[i]] = grpo_row_logp(m->acts.logits + (size_t)i * V, ids[i + 1], V, o->temperature);
            }
        }
    }
    free(ids), free(pos), free(where);
}

// grpo_batch_logps through a backend: the policy's (ref = 0) or the reference model's (ref = 1).
static void grpo_batch_logps_backend(const GrpoBackend* be, int ref, GrpoBatch* b, const GrpoOptions* o, int pad_id,
                                     float* out) {
    int T = b->Tmax, mb = o->micro_batch > 0 ? o->micro_batch : b->n;
    size_t n = (size_t)mb * T;
    int* ids = (int*)malloc_check(n * sizeof(int));
    int* pos = (int*)malloc_check(n * sizeof(int));
    int* y = (int*)malloc_check(n * sizeof(int));
    long* where = (long*)malloc_check(n * sizeof(long));
    float* lp = (float*)malloc_check(n * sizeof(float));
    for (int c0 = 0; c0 < b->n; c0 += mb) {
        int c1 = c0 + mb < b->n ? c0 + mb : b->n, B = c1 - c0;
        grpo_layout(b, c0, c1, pad_id, ids, pos, where);
        for (size_t i = 0; i < (size_t)B * T; i++) {
            y[i] = where[i] >= 0 ? ids[i + 1] : -1;
        }
        be->logps(be->ctx, ref, ids, pos, y, B, T, o->temperature, lp);
        for (size_t i = 0; i < (size_t)B * T; i++) {
            if (where[i] >= 0) {
                out[where[i]] = lp[i];
            }
        }
    }
    free(ids), free(pos), free(y), free(where), free(lp);
}

// A micro-batch laid out for the model: completions [c0, c1) as B rows of T = Tmax positions
// (grpo_layout), and per position, all (B, T): the token it predicts (y), its aggregation weight x
// mask (w), the completion's advantage, the old and reference log-probs (all 0 where it predicts none).
typedef struct {
    int B, T;
    int *ids, *pos, *y;
    long* where;
    float *w, *adv, *old, *ref;
} GrpoMicro;

// n_micro and global_tokens make the aggregation see the whole batch (grpo_token_weights).
static void grpo_micro_inputs(GrpoMicro* mi, const GrpoBatch* b, const GrpoOptions* o, int c0, int c1, int pad_id,
                              int n_micro, double global_tokens) {
    int T = b->Tmax, B = c1 - c0, L = b->Lmax;
    size_t BT = (size_t)B * T;
    mi->B = B, mi->T = T;
    mi->ids = (int*)malloc_check(BT * sizeof(int));
    mi->pos = (int*)malloc_check(BT * sizeof(int));
    mi->where = (long*)malloc_check(BT * sizeof(long));
    mi->y = (int*)calloc_check(BT, sizeof(int));
    mi->w = (float*)calloc_check(BT, sizeof(float));
    mi->adv = (float*)calloc_check(BT, sizeof(float));
    mi->old = (float*)calloc_check(BT, sizeof(float));
    mi->ref = (float*)calloc_check(BT, sizeof(float));
    float* wc = (float*)malloc_check((size_t)B * L * sizeof(float)); // (B, Lmax) weights per completion token
    grpo_layout(b, c0, c1, pad_id, mi->ids, mi->pos, mi->where);
    if (o->agg == GRPO_AGG_BNPO) { // a token mean per micro-batch, then / n_micro, as TRL's bnpo
        grpo_token_weights(wc, b->mask + (size_t)c0 * L, B, L, o->agg, o->max_completion, global_tokens, n_micro);
    } else { // the others are means over the whole batch: the same update however it is split
        memcpy(wc, b->weight + (size_t)c0 * L, (size_t)B * L * sizeof(float));
    }
    for (size_t i = 0; i < BT; i++) {
        if (mi->where[i] >= 0) {
            long k = mi->where[i];
            mi->y[i] = mi->ids[i + 1];
            mi->w[i] = wc[k - (long)c0 * L];
            mi->adv[i] = b->adv[k / L];
            mi->old[i] = b->old_logp ? b->old_logp[k] : 0.0f;
            mi->ref[i] = b->ref_logp ? b->ref_logp[k] : 0.0f;
        }
    }
    free(wc);
}

static void grpo_micro_free(GrpoMicro* mi) {
    free(mi->ids), free(mi->pos), free(mi->where), free(mi->y), free(mi->w), free(mi->adv), free(mi->old);
    free(mi->ref);
    memset(mi, 0, sizeof(*mi));
}

// One micro-batch of the update: forward, the GRPO gradient of the logits, backward (gradients are
// added into m->grads). Returns this micro-batch's share of the loss; adds to *st.
static double grpo_micro_step(Qwen2* m, const GrpoBatch* b, const GrpoOptions* o, int c0, int c1, int pad_id,
                              int n_micro, double global_tokens, GrpoStats* st) {
    GrpoMicro mi;
    grpo_micro_inputs(&mi, b, o, c0, c1, pad_id, n_micro, global_tokens);
    int V = m->config.vocab_size;
    size_t BT = (size_t)mi.B * mi.T;
    qwen2_forward(m, mi.ids, mi.pos, NULL, mi.B, mi.T);
    float* dlogits = qwen2_dlogits(m); // (B, T, V)
    GrpoConfig cfg = o->loss;
    cfg.temperature = o->temperature;
    // rows are independent: each thread takes a slice with its own stats, summed after
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    GrpoStats* part = (GrpoStats*)calloc_check((size_t)nt, sizeof(GrpoStats));
    double* loss = (double*)calloc_check((size_t)nt, sizeof(double));
#pragma omp parallel for
    for (int k = 0; k < nt; k++) {
        size_t r0 = BT * k / nt, r1 = BT * (k + 1) / nt;
        float l = 0.0f;
        grpo_loss_backward(dlogits + r0 * V, &l, m->acts.logits + r0 * V, mi.y + r0, b->old_logp ? mi.old + r0 : NULL,
                           b->ref_logp ? mi.ref + r0 : NULL, mi.adv + r0, mi.w + r0, NULL, (int)(r1 - r0), V, &cfg,
                           &part[k]);
        loss[k] = l;
    }
    double total = 0.0;
    for (int k = 0; k < nt; k++) {
        total += loss[k];
        st->tokens += part[k].tokens, st->kl += part[k].kl, st->entropy += part[k].entropy;
        st->ratio += part[k].ratio, st->clip_low += part[k].clip_low, st->clip_high += part[k].clip_high;
        st->clip_dual += part[k].clip_dual;
    }
    qwen2_backward_from_dlogits(m);
    grpo_micro_free(&mi);
    free(part), free(loss);
    return total;
}

// The tokens that enter the loss, over the whole batch (DAPO's denominator).
static double grpo_global_tokens(const GrpoBatch* b) {
    double global_tokens = 0.0;
    for (size_t i = 0; i < (size_t)b->n * b->Lmax; i++) {
        global_tokens += b->mask[i];
    }
    return global_tokens;
}

// num_iterations updates from one scored batch. Returns the last update's loss.
static double grpo_update(Qwen2* m, GrpoBatch* b, const GrpoOptions* o, int pad_id, Optimizer* opt, float* adam_m,
                          float* adam_v, GrpoStats* st) {
    int mb = o->micro_batch > 0 ? o->micro_batch : b->n, n_micro = (b->n + mb - 1) / mb;
    double global_tokens = grpo_global_tokens(b), loss = 0.0;
    for (int it = 0; it < o->num_iterations; it++) {
        qwen2_zero_grad(m);
        loss = 0.0;
        for (int c0 = 0; c0 < b->n; c0 += mb) {
            int c1 = c0 + mb < b->n ? c0 + mb : b->n;
            loss += grpo_micro_step(m, b, o, c0, c1, pad_id, n_micro, global_tokens, st);
        }
        optimizer_step(opt, &m->config, m->params_memory, m->grads_memory, adam_m, adam_v, (float)loss);
    }
    return loss;
}

// grpo_update through a backend: the same micro-batches and weights, then optimizer_step's order (norm
// and clip, the non-finite guard, the schedule, AdamW) with the arithmetic where the backend keeps
// the weights.
static double grpo_update_backend(const GrpoBackend* be, GrpoBatch* b, const GrpoOptions* o, int pad_id,
                                  Optimizer* opt, GrpoStats* st) {
    int mb = o->micro_batch > 0 ? o->micro_batch : b->n, n_micro = (b->n + mb - 1) / mb;
    double global_tokens = grpo_global_tokens(b), loss = 0.0;
    GrpoConfig cfg = o->loss;
    cfg.temperature = o->temperature;
    for (int it = 0; it < o->num_iterations; it++) {
        be->zero_grad(be->ctx);
        loss = 0.0;
        for (int c0 = 0; c0 < b->n; c0 += mb) {
            int c1 = c0 + mb < b->n ? c0 + mb : b->n;
            GrpoMicro mi;
            grpo_micro_inputs(&mi, b, o, c0, c1, pad_id, n_micro, global_tokens);
            loss += be->forward_backward(be->ctx, mi.ids, mi.pos, mi.y, mi.w, mi.adv, b->old_logp ? mi.old : NULL,
                                         b->ref_logp ? mi.ref : NULL, mi.B, mi.T, &cfg, st);
            grpo_micro_free(&mi);
        }
        float lr = lr_at_step(&opt->schedule, opt->updates); // (used only if the update is applied)
        opt->last_grad_norm = be->update(be->ctx, (float)loss, opt->updates + 1, lr, &opt->adamw, opt->max_grad_norm);
        if (!update_is_finite((float)loss, opt->last_grad_norm, &opt->consecutive_skips)) {
            opt->total_skips++;
            continue;
        }
        opt->last_lr = lr;
        opt->updates++;
    }
    return loss;
}

// ----------------------------------------------------------------------------
// GRPO: what a step logs
// Loss is not a progress signal in GRPO (it is ~0 by construction, grpo.md §6): the reward, the
// fraction of groups that taught nothing (all rewards equal), the KL to the reference, how often the
// ratio was clipped and the completion lengths are what to watch.

typedef struct {
    int step, updates;
    double loss, reward, reward_std, accuracy, frac_zero_std;
    double fn_mean[MAX_REWARDS], fn_std[MAX_REWARDS];
    double kl, entropy, ratio, clip_low, clip_high, clip_dual; // per token
    double len_mean, len_min, len_max, truncated;
    double lr, grad_norm, tokens_per_s;
    double t_rollout, t_score, t_train;
} GrpoMetrics;

static void grpo_metrics_batch(GrpoMetrics* mt, const GrpoBatch* b) {
    double sum = 0, zero = 0, acc = 0, len = 0, trunc = 0, lmin = 1e30, lmax = 0;
    for (int c = 0; c < b->n; c++) {
        sum += b->reward[c], acc += b->correct[c], trunc += grpo_truncated(&b->comp[c]);
        double l = b->comp[c].n_tokens;
        len += l, lmin = l < lmin ? l : lmin, lmax = l > lmax ? l : lmax;
    }
    for (int g = 0; g < b->P; g++) {
        zero += grpo_std(b->reward + (size_t)g * b->G, (size_t)b->G) < 1e-8;
    }
    mt->reward = sum / b->n, mt->reward_std = grpo_std(b->reward, (size_t)b->n);
    mt->accuracy = acc / b->n, mt->frac_zero_std = zero / b->P;
    mt->len_mean = len / b->n, mt->len_min = lmin, mt->len_max = lmax, mt->truncated = trunc / b->n;
    float* col = (float*)malloc_check((size_t)b->n * sizeof(float));
    for (int f = 0; f < b->n_fn; f++) {
        double s = 0;
        for (int c = 0; c < b->n; c++) {
            col[c] = b->per_fn[(size_t)c * b->n_fn + f];
            s += col[c];
        }
        mt->fn_mean[f] = s / b->n, mt->fn_std[f] = grpo_std(col, (size_t)b->n);
    }
    free(col);
}

static void grpo_metrics_stats(GrpoMetrics* mt, const GrpoStats* st) {
    double n = st->tokens > 0 ? st->tokens : 1;
    mt->kl = st->kl / n, mt->entropy = st->entropy / n, mt->ratio = st->ratio / n;
    mt->clip_low = st->clip_low / n, mt->clip_high = st->clip_high / n, mt->clip_dual = st->clip_dual / n;
}

// One line of metrics.jsonl (TRL's names where TRL logs the same thing).
static void grpo_metrics_write(FILE* f, const GrpoMetrics* mt, const RewardSet* rs) {
    fprintf(f, "{\"step\": %d, \"updates\": %d, \"loss\": %.9g, \"reward\": %.6g, \"reward_std\": %.6g", mt->step,
            mt->updates, mt->loss, mt->reward, mt->reward_std);
    for (int i = 0; i < rs->n; i++) {
        fprintf(f, ", \"rewards/%s/mean\": %.6g, \"rewards/%s/std\": %.6g", rs->spec[i]->name, mt->fn_mean[i],
                rs->spec[i]->name, mt->fn_std[i]);
    }
    fprintf(f, ", \"accuracy\": %.6g, \"frac_reward_zero_std\": %.6g, \"kl\": %.6g, \"entropy\": %.6g", mt->accuracy,
            mt->frac_zero_std, mt->kl, mt->entropy);
    fprintf(f, ", \"clip_ratio/low_mean\": %.6g, \"clip_ratio/high_mean\": %.6g, \"clip_ratio/region_mean\": %.6g",
            mt->clip_low, mt->clip_high, mt->clip_low + mt->clip_high);
    fprintf(f, ", \"clip_ratio/dual\": %.6g, \"ratio\": %.6g", mt->clip_dual, mt->ratio);
    fprintf(f, ", \"completion_length\": %.6g, \"completion_length_min\": %.6g, \"completion_length_max\": %.6g",
            mt->len_mean, mt->len_min, mt->len_max);
    fprintf(f, ", \"truncated\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, \"tokens_per_s\": %.6g", mt->truncated,
            mt->lr, mt->grad_norm, mt->tokens_per_s);
    fprintf(f, ", \"time_rollout\": %.4f, \"time_score\": %.4f, \"time_train\": %.4f}\n", mt->t_rollout, mt->t_score,
            mt->t_train);
}

// ----------------------------------------------------------------------------
// GRPO: one step, start to end

typedef struct {
    Qwen2* policy;
    Qwen2* ref;           // NULL when beta = 0
    const Tokenizer* tok;
    const SftDataset* data; // math prompts (NULL for Countdown)
    RewardSet rewards;
    Optimizer opt;
    float *adam_m, *adam_v; // AdamW's moments, laid out as the parameters
    double eval_before;     // held-out accuracy before step 1, logged as step 0 (< 0: none)
    const GrpoBackend* backend; // NULL: rollouts and updates run here, on the CPU
} GrpoRun;

static void grpo_step(GrpoRun* r, const GrpoOptions* o, int step, GrpoMetrics* mt) {
    int P = o->prompts_per_step, G = o->group_size, pad = r->tok->pad_id >= 0 ? r->tok->pad_id : 0;
    memset(mt, 0, sizeof(*mt));
    mt->step = step + 1; // steps done, as SFT counts them
    double t0 = wall_time();
    GrpoBatch b;
    memset(&b, 0, sizeof(b));
    b.P = P, b.G = G, b.n = P * G;
    b.prompts = (GrpoPrompt*)calloc_check((size_t)P, sizeof(GrpoPrompt));
    b.comp = (Completion*)calloc_check((size_t)b.n, sizeof(Completion));
    grpo_step_prompts(b.prompts, o, r->tok, r->data, step);
    grpo_generate(r->policy, r->backend, r->tok, o, b.prompts, P, G, o->temperature, grpo_stream(o->seed, step, 3),
                  b.comp);
    double t1 = wall_time();
    grpo_batch_score(&b, o, &r->rewards);
    if (o->num_iterations > 1) { // the sampling policy's log-probs, before any update moves it
        b.old_logp = (float*)calloc_check((size_t)b.n * b.Lmax, sizeof(float));
        if (r->backend) {
            grpo_batch_logps_backend(r->backend, 0, &b, o, pad, b.old_logp);
        } else {
            grpo_batch_logps(r->policy, &b, o, pad, b.old_logp);
        }
    }
    if (o->loss.beta != 0.0f) {
        b.ref_logp = (float*)calloc_check((size_t)b.n * b.Lmax, sizeof(float));
        if (r->backend) {
            grpo_batch_logps_backend(r->backend, 1, &b, o, pad, b.ref_logp);
        } else {
            grpo_batch_logps(r->ref, &b, o, pad, b.ref_logp);
        }
    }
    double t2 = wall_time();
    GrpoStats st;
    memset(&st, 0, sizeof(st));
    if (r->backend) {
        mt->loss = grpo_update_backend(r->backend, &b, o, pad, &r->opt, &st);
    } else {
        mt->loss = grpo_update(r->policy, &b, o, pad, &r->opt, r->adam_m, r->adam_v, &st);
    }
    double t3 = wall_time();
    for (int c = 0; c < o->show && c < b.n; c++) {
        printf("  [%d] reward %.2f | %s%s\n", c, b.reward[c], b.prompts[c / G].text, b.comp[c].text);
    }
    grpo_metrics_batch(mt, &b);
    grpo_metrics_stats(mt, &st);
    double tokens = 0;
    for (int c = 0; c < b.n; c++) {
        tokens += b.prompts[c / G].n_ids + b.comp[c].n_tokens;
    }
    mt->updates = r->opt.updates, mt->lr = r->opt.last_lr, mt->grad_norm = r->opt.last_grad_norm;
    mt->t_rollout = t1 - t0, mt->t_score = t2 - t1, mt->t_train = t3 - t2;
    mt->tokens_per_s = tokens / (t3 - t0);
    grpo_batch_free(&b);
}

// ----------------------------------------------------------------------------
// GRPO: held-out Countdown accuracy
// The first n problems of the generator's test split (targets never drawn in training), answered
// greedily, each scored by countdown_correct. The same set for a given seed, before and after.

// be: NULL, or the backend whose engine generates.
static double grpo_eval_countdown(Qwen2* m, const GrpoBackend* be, const Tokenizer* tok, const GrpoOptions* o, int n) {
    CountdownConfig cc = grpo_countdown_config(o);
    CountdownGen gen;
    countdown_init(&gen, &cc, o->seed, 1);
    GrpoPrompt* prompts = (GrpoPrompt*)calloc_check((size_t)n, sizeof(GrpoPrompt));
    Completion* comp = (Completion*)calloc_check((size_t)n, sizeof(Completion));
    for (int i = 0; i < n; i++) {
        CountdownProblem cp;
        countdown_next(&gen, &cp);
        grpo_countdown_prompt(&prompts[i], tok, o->prompt_format, &cp);
        countdown_problem_free(&cp);
    }
    grpo_generate(m, be, tok, o, prompts, n, 1, 0.0f, 1, comp);
    int right = 0;
    for (int i = 0; i < n; i++) {
        int ok = countdown_correct(comp[i].text ? comp[i].text : "", prompts[i].nums, prompts[i].n_nums,
                                   prompts[i].target);
        if (i < o->show) {
            printf("  eval [%d] %s | %s%s\n", i, ok ? "right" : "wrong", prompts[i].text, comp[i].text);
        }
        right += ok;
        completion_free(&comp[i]);
        grpo_prompt_free(&prompts[i]);
    }
    free(prompts), free(comp);
    return (double)right / n;
}

// ----------------------------------------------------------------------------
// GRPO: checkpoints and resume
// The same protocol as SFT's (checkpoint_begin / checkpoint_commit): out_dir/checkpoint-N/ is a Hugging Face model folder plus
// optimizer.safetensors (AdamW's moments and counters) and trainer_state.json, written into
// checkpoint-N.tmp/ and renamed once complete; "latest" names the newest. N counts rollout steps;
// with the seed and the flags that is all a run needs to continue exactly (see the top).

static void grpo_write_state(GrpoRun* r, const GrpoOptions* o, const char* dir, int step) {
    char* path = path_join(dir, "trainer_state.json");
    char* tmp;
    FILE* f = atomic_open(path, &tmp);
    fprintf(f, "{\n  \"step\": %d,\n  \"updates\": %d,\n  \"seed\": \"%llu\",\n  \"num_parameters\": %zu,\n", step,
            r->opt.updates, (unsigned long long)o->seed, r->policy->num_parameters);
    fprintf(f, "  \"prompts_per_step\": %d,\n  \"group_size\": %d,\n  \"num_iterations\": %d,\n  \"steps\": %d\n}\n",
            o->prompts_per_step, o->group_size, o->num_iterations, o->steps);
    atomic_commit(f, tmp, path);
    free(path);
}

static void grpo_checkpoint_save(GrpoRun* r, const GrpoOptions* o, const char* model_dir, int step) {
    if (r->backend) { // the weights and moments to save live with the backend
        r->backend->sync_to_host(r->backend->ctx, r->policy, r->adam_m, r->adam_v);
    }
    char* tmp = checkpoint_begin(o->out_dir, step, r->policy, r->tok, model_dir, &r->opt, r->adam_m, r->adam_v);
    grpo_write_state(r, o, tmp, step);
    checkpoint_commit(o->out_dir, step, 2, tmp);
}

// Loads the weights and the optimizer state of checkpoint dir into the run; returns its step.
static int grpo_checkpoint_load(GrpoRun* r, const GrpoOptions* o, const char* dir) {
    char* path = path_join(dir, "trainer_state.json");
    if (!file_exists(path)) {
        fatal("'%s' is not a complete r1 checkpoint (no trainer_state.json)", dir);
    }
    Json* j = json_load_file(path);
    Qwen2Config saved;
    config_load(&saved, dir);
    if ((size_t)state_int(j, "num_parameters", path) != r->policy->num_parameters ||
        param_count(&saved) != r->policy->num_parameters) {
        fatal("%s was saved for a model of %lld parameters, this run's has %zu: resume with the same --model", dir,
              state_int(j, "num_parameters", path), r->policy->num_parameters);
    }
    if ((uint64_t)state_int(j, "seed", path) != o->seed || state_int(j, "group_size", path) != o->group_size ||
        state_int(j, "prompts_per_step", path) != o->prompts_per_step ||
        state_int(j, "steps", path) != o->steps) {
        fprintf(stderr, "r1: warning: seed, batch shape or step count differ from the checkpoint's: the run "
                        "continues, but not as the uninterrupted run would\n");
    }
    ParameterTensors p;
    float* weights = model_load_weights(&r->policy->config, &p, dir);
    memcpy(r->policy->params_memory, weights, r->policy->num_parameters * sizeof(float));
    free(weights);
    char* opt_path = path_join(dir, "optimizer.safetensors");
    optimizer_load(opt_path, &r->opt, r->adam_m, r->adam_v, r->policy->num_parameters);
    int step = (int)state_int(j, "step", path);
    json_free(j);
    free(path), free(opt_path);
    return step;
}

// ----------------------------------------------------------------------------
// GRPO: the run

static void grpo_progress(const GrpoMetrics* mt, const GrpoOptions* o, double avg_time) {
    char eta[32];
    format_duration(eta, sizeof(eta), avg_time * (o->steps - mt->step));
    printf("step %4d/%d | reward %.3f | acc %5.1f%% | len %5.1f | kl %.4f | clip %.3f | %.2f s/step (rollout "
           "%.2f, score %.2f, train %.2f) | eta %s\n", mt->step, o->steps, mt->reward, 100.0 * mt->accuracy,
           mt->len_mean, mt->kl, mt->clip_low + mt->clip_high, mt->t_rollout + mt->t_score + mt->t_train,
           mt->t_rollout, mt->t_score, mt->t_train, eta);
    fflush(stdout);
}

// Steps start_step + 1 .. o->steps (or o->stop_at), logging each to out_dir/metrics.jsonl and
// checkpointing every save_every steps and at the end. Countdown runs measure held-out accuracy
// every eval_every steps. model_dir: the source model's folder (NULL for the tiny model).
static void grpo_train(GrpoRun* r, const GrpoOptions* o, int start_step, const char* model_dir) {
    FILE* log = o->out_dir ? sft_metrics_open(o->out_dir, start_step) : NULL;
    if (log && start_step == 0 && r->eval_before >= 0) {
        fprintf(log, "{\"step\": 0, \"eval_accuracy\": %.6g}\n", r->eval_before);
    }
    int stop = o->stop_at > 0 && o->stop_at < o->steps ? o->stop_at : o->steps;
    double t0 = wall_time();
    for (int step = start_step; step < stop; step++) {
        GrpoMetrics mt;
        grpo_step(r, o, step, &mt);
        if (log) {
            grpo_metrics_write(log, &mt, &r->rewards);
            fflush(log);
        }
        if (!o->quiet) {
            grpo_progress(&mt, o, (wall_time() - t0) / (step + 1 - start_step));
        }
        if (o->eval_every > 0 && mt.step % o->eval_every == 0 && mt.step < o->steps &&
            strcmp(o->task, "countdown") == 0) {
            double acc = grpo_eval_countdown(r->policy, r->backend, r->tok, o, o->eval_n);
            printf("step %d: held-out Countdown accuracy %.1f%% (%d problems, greedy)\n", mt.step, 100.0 * acc,
                   o->eval_n);
            if (log) {
                fprintf(log, "{\"step\": %d, \"eval_accuracy\": %.6g}\n", mt.step, acc);
                fflush(log);
            }
        }
        if (o->out_dir && ((o->save_every > 0 && mt.step % o->save_every == 0) || mt.step == stop)) {
            grpo_checkpoint_save(r, o, model_dir, mt.step);
        }
    }
    if (r->backend) { // the policy ends with the trained weights, as on the CPU
        r->backend->sync_to_host(r->backend->ctx, r->policy, r->adam_m, r->adam_v);
    }
    if (log) {
        fclose(log);
    }
}

// ----------------------------------------------------------------------------
// R1-Zero in miniature: a cold start for the tiny model
// A randomly initialised model cannot sample a single right answer, and GRPO learns nothing from
// groups that are all wrong. So, as R1 does, a short supervised stage comes first (SFT's loop,
// sft_train): the generator's own solutions in the short prompt form, the solution's steps as the
// thinking, the loss on the completion and its eos only:
//     User: [3, 7, 25] -> 46\nAssistant: <think>7*3=21, 25+21=46</think>\n<answer> 25 + 7 * 3 </answer><eos>
// Kept short on purpose: GRPO needs a model that is sometimes right, not one that is always right.

// n training problems (the training targets, a stream of their own) as SFT documents.
static void grpo_cold_start_data(const Tokenizer* tok, const GrpoOptions* o, int n, int eos, SftTokens* out) {
    CountdownConfig cc = grpo_countdown_config(o);
    CountdownGen gen;
    countdown_init(&gen, &cc, o->seed, 0);
    gen.rng = grpo_stream(o->seed, -1, 4); // apart from the problems GRPO will see
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < n; i++) {
        CountdownProblem cp;
        countdown_next(&gen, &cp);
        GrpoPrompt p;
        grpo_countdown_prompt(&p, tok, o->prompt_format, &cp);
        StrBuf sol, steps;
        sb_init(&sol), sb_init(&steps);
        countdown_search(cp.nums, cp.n, cp.target, 0, &sol, NULL, &steps);
        const char* keys[] = {"steps", "answer"};
        const char* values[] = {steps.s, sol.s};
        char* completion = template_fill(COUNTDOWN_SHORT_COMPLETION, keys, values, 2);
        int* cids;
        int nc = tokenizer_encode(tok, completion, strlen(completion), &cids);
        int len = p.n_ids + nc + 1;
        int* ids = (int*)malloc_check((size_t)len * sizeof(int));
        unsigned char* mask = (unsigned char*)malloc_check((size_t)len);
        for (int t = 0; t < len; t++) {
            ids[t] = t < p.n_ids ? p.ids[t] : t < p.n_ids + nc ? cids[t - p.n_ids] : eos;
            mask[t] = t >= p.n_ids;
        }
        sft_tokens_add(out, ids, mask, (size_t)len);
        free(ids), free(mask), free(cids), free(completion), free(sol.s), free(steps.s);
        grpo_prompt_free(&p);
        countdown_problem_free(&cp);
    }
}

// The cold start: `steps` SFT updates of `batch` packed rows of `seq_len` tokens at peak lr.
static void grpo_cold_start(Qwen2* m, const Tokenizer* tok, const GrpoOptions* o, int examples, int steps, int batch,
                            int seq_len, float lr, int log_every) {
    SftTokens data;
    int eos = o->n_eos > 0 ? o->eos_ids[0] : tok->eos_id;
    grpo_cold_start_data(tok, o, examples, eos, &data);
    SftOptions so;
    sft_options_default(&so);
    so.batch_size = batch, so.seq_len = seq_len, so.max_steps = steps, so.lr = lr;
    so.schedule = "cosine", so.warmup = 0.05, so.seed = o->seed, so.log_every = log_every;
    sft_train(m, tok, &data, NULL, &so);
    sft_tokens_free(&data);
}

// ----------------------------------------------------------------------------
// appendix: Unicode tables (generated by dev/gen_unicode.py; do not edit by hand)
// Unicode 16.0.0 (from Python's unicodedata2 module).
// (`tokenizers` matches \p{L} \p{N} \s with Oniguruma's Unicode 16.0 tables; its NFC has Unicode 8/9-era data,
// so a combining mark or composite added since then is normalized here and not there.)
// The tokenizer asks these through unicode_is_letter / unicode_is_number / unicode_is_space and the
// NFC helpers below; every table is a sorted list of ranges or entries, searched by bisection.

// \p{L}: general categories Lu Ll Lt Lm Lo (677 ranges)
static const uint32_t unicode_letter_ranges[][2] = {
    {0x41,0x5A}, {0x61,0x7A}, {0xAA,0xAA}, {0xB5,0xB5}, {0xBA,0xBA}, {0xC0,0xD6}, {0xD8,0xF6}, {0xF8,0x2C1},
    {0x2C6,0x2D1}, {0x2E0,0x2E4}, {0x2EC,0x2EC}, {0x2EE,0x2EE}, {0x370,0x374}, {0x376,0x377}, {0x37A,0x37D},
    {0x37F,0x37F}, {0x386,0x386}, {0x388,0x38A}, {0x38C,0x38C}, {0x38E,0x3A1}, {0x3A3,0x3F5}, {0x3F7,0x481},
    {0x48A,0x52F}, {0x531,0x556}, {0x559,0x559}, {0x560,0x588}, {0x5D0,0x5EA}, {0x5EF,0x5F2}, {0x620,0x64A},
    {0x66E,0x66F}, {0x671,0x6D3}, {0x6D5,0x6D5}, {0x6E5,0x6E6}, {0x6EE,0x6EF}, {0x6FA,0x6FC}, {0x6FF,0x6FF},
    {0x710,0x710}, {0x712,0x72F}, {0x74D,0x7A5}, {0x7B1,0x7B1}, {0x7CA,0x7EA}, {0x7F4,0x7F5}, {0x7FA,0x7FA},
    {0x800,0x815}, {0x81A,0x81A}, {0x824,0x824}, {0x828,0x828}, {0x840,0x858}, {0x860,0x86A}, {0x870,0x887},
    {0x889,0x88E}, {0x8A0,0x8C9}, {0x904,0x939}, {0x93D,0x93D}, {0x950,0x950}, {0x958,0x961}, {0x971,0x980},
    {0x985,0x98C}, {0x98F,0x990}, {0x993,0x9A8}, {0x9AA,0x9B0}, {0x9B2,0x9B2}, {0x9B6,0x9B9}, {0x9BD,0x9BD},
    {0x9CE,0x9CE}, {0x9DC,0x9DD}, {0x9DF,0x9E1}, {0x9F0,0x9F1}, {0x9FC,0x9FC}, {0xA05,0xA0A}, {0xA0F,0xA10},
    {0xA13,0xA28}, {0xA2A,0xA30}, {0xA32,0xA33}, {0xA35,0xA36}, {0xA38,0xA39}, {0xA59,0xA5C}, {0xA5E,0xA5E},
    {0xA72,0xA74}, {0xA85,0xA8D}, {0xA8F,0xA91}, {0xA93,0xAA8}, {0xAAA,0xAB0}, {0xAB2,0xAB3}, {0xAB5,0xAB9},
    {0xABD,0xABD}, {0xAD0,0xAD0}, {0xAE0,0xAE1}, {0xAF9,0xAF9}, {0xB05,0xB0C}, {0xB0F,0xB10}, {0xB13,0xB28},
    {0xB2A,0xB30}, {0xB32,0xB33}, {0xB35,0xB39}, {0xB3D,0xB3D}, {0xB5C,0xB5D}, {0xB5F,0xB61}, {0xB71,0xB71},
    {0xB83,0xB83}, {0xB85,0xB8A}, {0xB8E,0xB90}, {0xB92,0xB95}, {0xB99,0xB9A}, {0xB9C,0xB9C}, {0xB9E,0xB9F},
    {0xBA3,0xBA4}, {0xBA8,0xBAA}, {0xBAE,0xBB9}, {0xBD0,0xBD0}, {0xC05,0xC0C}, {0xC0E,0xC10}, {0xC12,0xC28},
    {0xC2A,0xC39}, {0xC3D,0xC3D}, {0xC58,0xC5A}, {0xC5D,0xC5D}, {0xC60,0xC61}, {0xC80,0xC80}, {0xC85,0xC8C},
    {0xC8E,0xC90}, {0xC92,0xCA8}, {0xCAA,0xCB3}, {0xCB5,0xCB9}, {0xCBD,0xCBD}, {0xCDD,0xCDE}, {0xCE0,0xCE1},
    {0xCF1,0xCF2}, {0xD04,0xD0C}, {0xD0E,0xD10}, {0xD12,0xD3A}, {0xD3D,0xD3D}, {0xD4E,0xD4E}, {0xD54,0xD56},
    {0xD5F,0xD61}, {0xD7A,0xD7F}, {0xD85,0xD96}, {0xD9A,0xDB1}, {0xDB3,0xDBB}, {0xDBD,0xDBD}, {0xDC0,0xDC6},
    {0xE01,0xE30}, {0xE32,0xE33}, {0xE40,0xE46}, {0xE81,0xE82}, {0xE84,0xE84}, {0xE86,0xE8A}, {0xE8C,0xEA3},
    {0xEA5,0xEA5}, {0xEA7,0xEB0}, {0xEB2,0xEB3}, {0xEBD,0xEBD}, {0xEC0,0xEC4}, {0xEC6,0xEC6}, {0xEDC,0xEDF},
    {0xF00,0xF00}, {0xF40,0xF47}, {0xF49,0xF6C}, {0xF88,0xF8C}, {0x1000,0x102A}, {0x103F,0x103F},
    {0x1050,0x1055}, {0x105A,0x105D}, {0x1061,0x1061}, {0x1065,0x1066}, {0x106E,0x1070}, {0x1075,0x1081},
    {0x108E,0x108E}, {0x10A0,0x10C5}, {0x10C7,0x10C7}, {0x10CD,0x10CD}, {0x10D0,0x10FA}, {0x10FC,0x1248},
    {0x124A,0x124D}, {0x1250,0x1256}, {0x1258,0x1258}, {0x125A,0x125D}, {0x1260,0x1288}, {0x128A,0x128D},
    {0x1290,0x12B0}, {0x12B2,0x12B5}, {0x12B8,0x12BE}, {0x12C0,0x12C0}, {0x12C2,0x12C5}, {0x12C8,0x12D6},
    {0x12D8,0x1310}, {0x1312,0x1315}, {0x1318,0x135A}, {0x1380,0x138F}, {0x13A0,0x13F5}, {0x13F8,0x13FD},
    {0x1401,0x166C}, {0x166F,0x167F}, {0x1681,0x169A}, {0x16A0,0x16EA}, {0x16F1,0x16F8}, {0x1700,0x1711},
    {0x171F,0x1731}, {0x1740,0x1751}, {0x1760,0x176C}, {0x176E,0x1770}, {0x1780,0x17B3}, {0x17D7,0x17D7},
    {0x17DC,0x17DC}, {0x1820,0x1878}, {0x1880,0x1884}, {0x1887,0x18A8}, {0x18AA,0x18AA}, {0x18B0,0x18F5},
    {0x1900,0x191E}, {0x1950,0x196D}, {0x1970,0x1974}, {0x1980,0x19AB}, {0x19B0,0x19C9}, {0x1A00,0x1A16},
    {0x1A20,0x1A54}, {0x1AA7,0x1AA7}, {0x1B05,0x1B33}, {0x1B45,0x1B4C}, {0x1B83,0x1BA0}, {0x1BAE,0x1BAF},
    {0x1BBA,0x1BE5}, {0x1C00,0x1C23}, {0x1C4D,0x1C4F}, {0x1C5A,0x1C7D}, {0x1C80,0x1C8A}, {0x1C90,0x1CBA},
    {0x1CBD,0x1CBF}, {0x1CE9,0x1CEC}, {0x1CEE,0x1CF3}, {0x1CF5,0x1CF6}, {0x1CFA,0x1CFA}, {0x1D00,0x1DBF},
    {0x1E00,0x1F15}, {0x1F18,0x1F1D}, {0x1F20,0x1F45}, {0x1F48,0x1F4D}, {0x1F50,0x1F57}, {0x1F59,0x1F59},
    {0x1F5B,0x1F5B}, {0x1F5D,0x1F5D}, {0x1F5F,0x1F7D}, {0x1F80,0x1FB4}, {0x1FB6,0x1FBC}, {0x1FBE,0x1FBE},
    {0x1FC2,0x1FC4}, {0x1FC6,0x1FCC}, {0x1FD0,0x1FD3}, {0x1FD6,0x1FDB}, {0x1FE0,0x1FEC}, {0x1FF2,0x1FF4},
    {0x1FF6,0x1FFC}, {0x2071,0x2071}, {0x207F,0x207F}, {0x2090,0x209C}, {0x2102,0x2102}, {0x2107,0x2107},
    {0x210A,0x2113}, {0x2115,0x2115}, {0x2119,0x211D}, {0x2124,0x2124}, {0x2126,0x2126}, {0x2128,0x2128},
    {0x212A,0x212D}, {0x212F,0x2139}, {0x213C,0x213F}, {0x2145,0x2149}, {0x214E,0x214E}, {0x2183,0x2184},
    {0x2C00,0x2CE4}, {0x2CEB,0x2CEE}, {0x2CF2,0x2CF3}, {0x2D00,0x2D25}, {0x2D27,0x2D27}, {0x2D2D,0x2D2D},
    {0x2D30,0x2D67}, {0x2D6F,0x2D6F}, {0x2D80,0x2D96}, {0x2DA0,0x2DA6}, {0x2DA8,0x2DAE}, {0x2DB0,0x2DB6},
    {0x2DB8,0x2DBE}, {0x2DC0,0x2DC6}, {0x2DC8,0x2DCE}, {0x2DD0,0x2DD6}, {0x2DD8,0x2DDE}, {0x2E2F,0x2E2F},
    {0x3005,0x3006}, {0x3031,0x3035}, {0x303B,0x303C}, {0x3041,0x3096}, {0x309D,0x309F}, {0x30A1,0x30FA},
    {0x30FC,0x30FF}, {0x3105,0x312F}, {0x3131,0x318E}, {0x31A0,0x31BF}, {0x31F0,0x31FF}, {0x3400,0x4DBF},
    {0x4E00,0xA48C}, {0xA4D0,0xA4FD}, {0xA500,0xA60C}, {0xA610,0xA61F}, {0xA62A,0xA62B}, {0xA640,0xA66E},
    {0xA67F,0xA69D}, {0xA6A0,0xA6E5}, {0xA717,0xA71F}, {0xA722,0xA788}, {0xA78B,0xA7CD}, {0xA7D0,0xA7D1},
    {0xA7D3,0xA7D3}, {0xA7D5,0xA7DC}, {0xA7F2,0xA801}, {0xA803,0xA805}, {0xA807,0xA80A}, {0xA80C,0xA822},
    {0xA840,0xA873}, {0xA882,0xA8B3}, {0xA8F2,0xA8F7}, {0xA8FB,0xA8FB}, {0xA8FD,0xA8FE}, {0xA90A,0xA925},
    {0xA930,0xA946}, {0xA960,0xA97C}, {0xA984,0xA9B2}, {0xA9CF,0xA9CF}, {0xA9E0,0xA9E4}, {0xA9E6,0xA9EF},
    {0xA9FA,0xA9FE}, {0xAA00,0xAA28}, {0xAA40,0xAA42}, {0xAA44,0xAA4B}, {0xAA60,0xAA76}, {0xAA7A,0xAA7A},
    {0xAA7E,0xAAAF}, {0xAAB1,0xAAB1}, {0xAAB5,0xAAB6}, {0xAAB9,0xAABD}, {0xAAC0,0xAAC0}, {0xAAC2,0xAAC2},
    {0xAADB,0xAADD}, {0xAAE0,0xAAEA}, {0xAAF2,0xAAF4}, {0xAB01,0xAB06}, {0xAB09,0xAB0E}, {0xAB11,0xAB16},
    {0xAB20,0xAB26}, {0xAB28,0xAB2E}, {0xAB30,0xAB5A}, {0xAB5C,0xAB69}, {0xAB70,0xABE2}, {0xAC00,0xD7A3},
    {0xD7B0,0xD7C6}, {0xD7CB,0xD7FB}, {0xF900,0xFA6D}, {0xFA70,0xFAD9}, {0xFB00,0xFB06}, {0xFB13,0xFB17},
    {0xFB1D,0xFB1D}, {0xFB1F,0xFB28}, {0xFB2A,0xFB36}, {0xFB38,0xFB3C}, {0xFB3E,0xFB3E}, {0xFB40,0xFB41},
    {0xFB43,0xFB44}, {0xFB46,0xFBB1}, {0xFBD3,0xFD3D}, {0xFD50,0xFD8F}, {0xFD92,0xFDC7}, {0xFDF0,0xFDFB},
    {0xFE70,0xFE74}, {0xFE76,0xFEFC}, {0xFF21,0xFF3A}, {0xFF41,0xFF5A}, {0xFF66,0xFFBE}, {0xFFC2,0xFFC7},
    {0xFFCA,0xFFCF}, {0xFFD2,0xFFD7}, {0xFFDA,0xFFDC}, {0x10000,0x1000B}, {0x1000D,0x10026},
    {0x10028,0x1003A}, {0x1003C,0x1003D}, {0x1003F,0x1004D}, {0x10050,0x1005D}, {0x10080,0x100FA},
    {0x10280,0x1029C}, {0x102A0,0x102D0}, {0x10300,0x1031F}, {0x1032D,0x10340}, {0x10342,0x10349},
    {0x10350,0x10375}, {0x10380,0x1039D}, {0x103A0,0x103C3}, {0x103C8,0x103CF}, {0x10400,0x1049D},
    {0x104B0,0x104D3}, {0x104D8,0x104FB}, {0x10500,0x10527}, {0x10530,0x10563}, {0x10570,0x1057A},
    {0x1057C,0x1058A}, {0x1058C,0x10592}, {0x10594,0x10595}, {0x10597,0x105A1}, {0x105A3,0x105B1},
    {0x105B3,0x105B9}, {0x105BB,0x105BC}, {0x105C0,0x105F3}, {0x10600,0x10736}, {0x10740,0x10755},
    {0x10760,0x10767}, {0x10780,0x10785}, {0x10787,0x107B0}, {0x107B2,0x107BA}, {0x10800,0x10805},
    {0x10808,0x10808}, {0x1080A,0x10835}, {0x10837,0x10838}, {0x1083C,0x1083C}, {0x1083F,0x10855},
    {0x10860,0x10876}, {0x10880,0x1089E}, {0x108E0,0x108F2}, {0x108F4,0x108F5}, {0x10900,0x10915},
    {0x10920,0x10939}, {0x10980,0x109B7}, {0x109BE,0x109BF}, {0x10A00,0x10A00}, {0x10A10,0x10A13},
    {0x10A15,0x10A17}, {0x10A19,0x10A35}, {0x10A60,0x10A7C}, {0x10A80,0x10A9C}, {0x10AC0,0x10AC7},
    {0x10AC9,0x10AE4}, {0x10B00,0x10B35}, {0x10B40,0x10B55}, {0x10B60,0x10B72}, {0x10B80,0x10B91},
    {0x10C00,0x10C48}, {0x10C80,0x10CB2}, {0x10CC0,0x10CF2}, {0x10D00,0x10D23}, {0x10D4A,0x10D65},
    {0x10D6F,0x10D85}, {0x10E80,0x10EA9}, {0x10EB0,0x10EB1}, {0x10EC2,0x10EC4}, {0x10F00,0x10F1C},
    {0x10F27,0x10F27}, {0x10F30,0x10F45}, {0x10F70,0x10F81}, {0x10FB0,0x10FC4}, {0x10FE0,0x10FF6},
    {0x11003,0x11037}, {0x11071,0x11072}, {0x11075,0x11075}, {0x11083,0x110AF}, {0x110D0,0x110E8},
    {0x11103,0x11126}, {0x11144,0x11144}, {0x11147,0x11147}, {0x11150,0x11172}, {0x11176,0x11176},
    {0x11183,0x111B2}, {0x111C1,0x111C4}, {0x111DA,0x111DA}, {0x111DC,0x111DC}, {0x11200,0x11211},
    {0x11213,0x1122B}, {0x1123F,0x11240}, {0x11280,0x11286}, {0x11288,0x11288}, {0x1128A,0x1128D},
    {0x1128F,0x1129D}, {0x1129F,0x112A8}, {0x112B0,0x112DE}, {0x11305,0x1130C}, {0x1130F,0x11310},
    {0x11313,0x11328}, {0x1132A,0x11330}, {0x11332,0x11333}, {0x11335,0x11339}, {0x1133D,0x1133D},
    {0x11350,0x11350}, {0x1135D,0x11361}, {0x11380,0x11389}, {0x1138B,0x1138B}, {0x1138E,0x1138E},
    {0x11390,0x113B5}, {0x113B7,0x113B7}, {0x113D1,0x113D1}, {0x113D3,0x113D3}, {0x11400,0x11434},
    {0x11447,0x1144A}, {0x1145F,0x11461}, {0x11480,0x114AF}, {0x114C4,0x114C5}, {0x114C7,0x114C7},
    {0x11580,0x115AE}, {0x115D8,0x115DB}, {0x11600,0x1162F}, {0x11644,0x11644}, {0x11680,0x116AA},
    {0x116B8,0x116B8}, {0x11700,0x1171A}, {0x11740,0x11746}, {0x11800,0x1182B}, {0x118A0,0x118DF},
    {0x118FF,0x11906}, {0x11909,0x11909}, {0x1190C,0x11913}, {0x11915,0x11916}, {0x11918,0x1192F},
    {0x1193F,0x1193F}, {0x11941,0x11941}, {0x119A0,0x119A7}, {0x119AA,0x119D0}, {0x119E1,0x119E1},
    {0x119E3,0x119E3}, {0x11A00,0x11A00}, {0x11A0B,0x11A32}, {0x11A3A,0x11A3A}, {0x11A50,0x11A50},
    {0x11A5C,0x11A89}, {0x11A9D,0x11A9D}, {0x11AB0,0x11AF8}, {0x11BC0,0x11BE0}, {0x11C00,0x11C08},
    {0x11C0A,0x11C2E}, {0x11C40,0x11C40}, {0x11C72,0x11C8F}, {0x11D00,0x11D06}, {0x11D08,0x11D09},
    {0x11D0B,0x11D30}, {0x11D46,0x11D46}, {0x11D60,0x11D65}, {0x11D67,0x11D68}, {0x11D6A,0x11D89},
    {0x11D98,0x11D98}, {0x11EE0,0x11EF2}, {0x11F02,0x11F02}, {0x11F04,0x11F10}, {0x11F12,0x11F33},
    {0x11FB0,0x11FB0}, {0x12000,0x12399}, {0x12480,0x12543}, {0x12F90,0x12FF0}, {0x13000,0x1342F},
    {0x13441,0x13446}, {0x13460,0x143FA}, {0x14400,0x14646}, {0x16100,0x1611D}, {0x16800,0x16A38},
    {0x16A40,0x16A5E}, {0x16A70,0x16ABE}, {0x16AD0,0x16AED}, {0x16B00,0x16B2F}, {0x16B40,0x16B43},
    {0x16B63,0x16B77}, {0x16B7D,0x16B8F}, {0x16D40,0x16D6C}, {0x16E40,0x16E7F}, {0x16F00,0x16F4A},
    {0x16F50,0x16F50}, {0x16F93,0x16F9F}, {0x16FE0,0x16FE1}, {0x16FE3,0x16FE3}, {0x17000,0x187F7},
    {0x18800,0x18CD5}, {0x18CFF,0x18D08}, {0x1AFF0,0x1AFF3}, {0x1AFF5,0x1AFFB}, {0x1AFFD,0x1AFFE},
    {0x1B000,0x1B122}, {0x1B132,0x1B132}, {0x1B150,0x1B152}, {0x1B155,0x1B155}, {0x1B164,0x1B167},
    {0x1B170,0x1B2FB}, {0x1BC00,0x1BC6A}, {0x1BC70,0x1BC7C}, {0x1BC80,0x1BC88}, {0x1BC90,0x1BC99},
    {0x1D400,0x1D454}, {0x1D456,0x1D49C}, {0x1D49E,0x1D49F}, {0x1D4A2,0x1D4A2}, {0x1D4A5,0x1D4A6},
    {0x1D4A9,0x1D4AC}, {0x1D4AE,0x1D4B9}, {0x1D4BB,0x1D4BB}, {0x1D4BD,0x1D4C3}, {0x1D4C5,0x1D505},
    {0x1D507,0x1D50A}, {0x1D50D,0x1D514}, {0x1D516,0x1D51C}, {0x1D51E,0x1D539}, {0x1D53B,0x1D53E},
    {0x1D540,0x1D544}, {0x1D546,0x1D546}, {0x1D54A,0x1D550}, {0x1D552,0x1D6A5}, {0x1D6A8,0x1D6C0},
    {0x1D6C2,0x1D6DA}, {0x1D6DC,0x1D6FA}, {0x1D6FC,0x1D714}, {0x1D716,0x1D734}, {0x1D736,0x1D74E},
    {0x1D750,0x1D76E}, {0x1D770,0x1D788}, {0x1D78A,0x1D7A8}, {0x1D7AA,0x1D7C2}, {0x1D7C4,0x1D7CB},
    {0x1DF00,0x1DF1E}, {0x1DF25,0x1DF2A}, {0x1E030,0x1E06D}, {0x1E100,0x1E12C}, {0x1E137,0x1E13D},
    {0x1E14E,0x1E14E}, {0x1E290,0x1E2AD}, {0x1E2C0,0x1E2EB}, {0x1E4D0,0x1E4EB}, {0x1E5D0,0x1E5ED},
    {0x1E5F0,0x1E5F0}, {0x1E7E0,0x1E7E6}, {0x1E7E8,0x1E7EB}, {0x1E7ED,0x1E7EE}, {0x1E7F0,0x1E7FE},
    {0x1E800,0x1E8C4}, {0x1E900,0x1E943}, {0x1E94B,0x1E94B}, {0x1EE00,0x1EE03}, {0x1EE05,0x1EE1F},
    {0x1EE21,0x1EE22}, {0x1EE24,0x1EE24}, {0x1EE27,0x1EE27}, {0x1EE29,0x1EE32}, {0x1EE34,0x1EE37},
    {0x1EE39,0x1EE39}, {0x1EE3B,0x1EE3B}, {0x1EE42,0x1EE42}, {0x1EE47,0x1EE47}, {0x1EE49,0x1EE49},
    {0x1EE4B,0x1EE4B}, {0x1EE4D,0x1EE4F}, {0x1EE51,0x1EE52}, {0x1EE54,0x1EE54}, {0x1EE57,0x1EE57},
    {0x1EE59,0x1EE59}, {0x1EE5B,0x1EE5B}, {0x1EE5D,0x1EE5D}, {0x1EE5F,0x1EE5F}, {0x1EE61,0x1EE62},
    {0x1EE64,0x1EE64}, {0x1EE67,0x1EE6A}, {0x1EE6C,0x1EE72}, {0x1EE74,0x1EE77}, {0x1EE79,0x1EE7C},
    {0x1EE7E,0x1EE7E}, {0x1EE80,0x1EE89}, {0x1EE8B,0x1EE9B}, {0x1EEA1,0x1EEA3}, {0x1EEA5,0x1EEA9},
    {0x1EEAB,0x1EEBB}, {0x20000,0x2A6DF}, {0x2A700,0x2B739}, {0x2B740,0x2B81D}, {0x2B820,0x2CEA1},
    {0x2CEB0,0x2EBE0}, {0x2EBF0,0x2EE5D}, {0x2F800,0x2FA1D}, {0x30000,0x3134A}, {0x31350,0x323AF},
};

// \p{N}: general categories Nd Nl No (144 ranges)
static const uint32_t unicode_number_ranges[][2] = {
    {0x30,0x39}, {0xB2,0xB3}, {0xB9,0xB9}, {0xBC,0xBE}, {0x660,0x669}, {0x6F0,0x6F9}, {0x7C0,0x7C9},
    {0x966,0x96F}, {0x9E6,0x9EF}, {0x9F4,0x9F9}, {0xA66,0xA6F}, {0xAE6,0xAEF}, {0xB66,0xB6F}, {0xB72,0xB77},
    {0xBE6,0xBF2}, {0xC66,0xC6F}, {0xC78,0xC7E}, {0xCE6,0xCEF}, {0xD58,0xD5E}, {0xD66,0xD78}, {0xDE6,0xDEF},
    {0xE50,0xE59}, {0xED0,0xED9}, {0xF20,0xF33}, {0x1040,0x1049}, {0x1090,0x1099}, {0x1369,0x137C},
    {0x16EE,0x16F0}, {0x17E0,0x17E9}, {0x17F0,0x17F9}, {0x1810,0x1819}, {0x1946,0x194F}, {0x19D0,0x19DA},
    {0x1A80,0x1A89}, {0x1A90,0x1A99}, {0x1B50,0x1B59}, {0x1BB0,0x1BB9}, {0x1C40,0x1C49}, {0x1C50,0x1C59},
    {0x2070,0x2070}, {0x2074,0x2079}, {0x2080,0x2089}, {0x2150,0x2182}, {0x2185,0x2189}, {0x2460,0x249B},
    {0x24EA,0x24FF}, {0x2776,0x2793}, {0x2CFD,0x2CFD}, {0x3007,0x3007}, {0x3021,0x3029}, {0x3038,0x303A},
    {0x3192,0x3195}, {0x3220,0x3229}, {0x3248,0x324F}, {0x3251,0x325F}, {0x3280,0x3289}, {0x32B1,0x32BF},
    {0xA620,0xA629}, {0xA6E6,0xA6EF}, {0xA830,0xA835}, {0xA8D0,0xA8D9}, {0xA900,0xA909}, {0xA9D0,0xA9D9},
    {0xA9F0,0xA9F9}, {0xAA50,0xAA59}, {0xABF0,0xABF9}, {0xFF10,0xFF19}, {0x10107,0x10133}, {0x10140,0x10178},
    {0x1018A,0x1018B}, {0x102E1,0x102FB}, {0x10320,0x10323}, {0x10341,0x10341}, {0x1034A,0x1034A},
    {0x103D1,0x103D5}, {0x104A0,0x104A9}, {0x10858,0x1085F}, {0x10879,0x1087F}, {0x108A7,0x108AF},
    {0x108FB,0x108FF}, {0x10916,0x1091B}, {0x109BC,0x109BD}, {0x109C0,0x109CF}, {0x109D2,0x109FF},
    {0x10A40,0x10A48}, {0x10A7D,0x10A7E}, {0x10A9D,0x10A9F}, {0x10AEB,0x10AEF}, {0x10B58,0x10B5F},
    {0x10B78,0x10B7F}, {0x10BA9,0x10BAF}, {0x10CFA,0x10CFF}, {0x10D30,0x10D39}, {0x10D40,0x10D49},
    {0x10E60,0x10E7E}, {0x10F1D,0x10F26}, {0x10F51,0x10F54}, {0x10FC5,0x10FCB}, {0x11052,0x1106F},
    {0x110F0,0x110F9}, {0x11136,0x1113F}, {0x111D0,0x111D9}, {0x111E1,0x111F4}, {0x112F0,0x112F9},
    {0x11450,0x11459}, {0x114D0,0x114D9}, {0x11650,0x11659}, {0x116C0,0x116C9}, {0x116D0,0x116E3},
    {0x11730,0x1173B}, {0x118E0,0x118F2}, {0x11950,0x11959}, {0x11BF0,0x11BF9}, {0x11C50,0x11C6C},
    {0x11D50,0x11D59}, {0x11DA0,0x11DA9}, {0x11F50,0x11F59}, {0x11FC0,0x11FD4}, {0x12400,0x1246E},
    {0x16130,0x16139}, {0x16A60,0x16A69}, {0x16AC0,0x16AC9}, {0x16B50,0x16B59}, {0x16B5B,0x16B61},
    {0x16D70,0x16D79}, {0x16E80,0x16E96}, {0x1CCF0,0x1CCF9}, {0x1D2C0,0x1D2D3}, {0x1D2E0,0x1D2F3},
    {0x1D360,0x1D378}, {0x1D7CE,0x1D7FF}, {0x1E140,0x1E149}, {0x1E2F0,0x1E2F9}, {0x1E4F0,0x1E4F9},
    {0x1E5F1,0x1E5FA}, {0x1E8C7,0x1E8CF}, {0x1E950,0x1E959}, {0x1EC71,0x1ECAB}, {0x1ECAD,0x1ECAF},
    {0x1ECB1,0x1ECB4}, {0x1ED01,0x1ED2D}, {0x1ED2F,0x1ED3D}, {0x1F100,0x1F10C}, {0x1FBF0,0x1FBF9},
};

// \s: White_Space (U+0009..U+000D, U+0085 and the Zs Zl Zp separators) (10 ranges)
static const uint32_t unicode_space_ranges[][2] = {
    {0x9,0xD}, {0x20,0x20}, {0x85,0x85}, {0xA0,0xA0}, {0x1680,0x1680}, {0x2000,0x200A}, {0x2028,0x2029},
    {0x202F,0x202F}, {0x205F,0x205F}, {0x3000,0x3000},
};

// canonical combining class: {first, last, class}, class 0 omitted (393 entries)
static const uint32_t unicode_ccc_ranges[][3] = {
    {0x300,0x314,0xE6}, {0x315,0x315,0xE8}, {0x316,0x319,0xDC}, {0x31A,0x31A,0xE8}, {0x31B,0x31B,0xD8},
    {0x31C,0x320,0xDC}, {0x321,0x322,0xCA}, {0x323,0x326,0xDC}, {0x327,0x328,0xCA}, {0x329,0x333,0xDC},
    {0x334,0x338,0x1}, {0x339,0x33C,0xDC}, {0x33D,0x344,0xE6}, {0x345,0x345,0xF0}, {0x346,0x346,0xE6},
    {0x347,0x349,0xDC}, {0x34A,0x34C,0xE6}, {0x34D,0x34E,0xDC}, {0x350,0x352,0xE6}, {0x353,0x356,0xDC},
    {0x357,0x357,0xE6}, {0x358,0x358,0xE8}, {0x359,0x35A,0xDC}, {0x35B,0x35B,0xE6}, {0x35C,0x35C,0xE9},
    {0x35D,0x35E,0xEA}, {0x35F,0x35F,0xE9}, {0x360,0x361,0xEA}, {0x362,0x362,0xE9}, {0x363,0x36F,0xE6},
    {0x483,0x487,0xE6}, {0x591,0x591,0xDC}, {0x592,0x595,0xE6}, {0x596,0x596,0xDC}, {0x597,0x599,0xE6},
    {0x59A,0x59A,0xDE}, {0x59B,0x59B,0xDC}, {0x59C,0x5A1,0xE6}, {0x5A2,0x5A7,0xDC}, {0x5A8,0x5A9,0xE6},
    {0x5AA,0x5AA,0xDC}, {0x5AB,0x5AC,0xE6}, {0x5AD,0x5AD,0xDE}, {0x5AE,0x5AE,0xE4}, {0x5AF,0x5AF,0xE6},
    {0x5B0,0x5B0,0xA}, {0x5B1,0x5B1,0xB}, {0x5B2,0x5B2,0xC}, {0x5B3,0x5B3,0xD}, {0x5B4,0x5B4,0xE},
    {0x5B5,0x5B5,0xF}, {0x5B6,0x5B6,0x10}, {0x5B7,0x5B7,0x11}, {0x5B8,0x5B8,0x12}, {0x5B9,0x5BA,0x13},
    {0x5BB,0x5BB,0x14}, {0x5BC,0x5BC,0x15}, {0x5BD,0x5BD,0x16}, {0x5BF,0x5BF,0x17}, {0x5C1,0x5C1,0x18},
    {0x5C2,0x5C2,0x19}, {0x5C4,0x5C4,0xE6}, {0x5C5,0x5C5,0xDC}, {0x5C7,0x5C7,0x12}, {0x610,0x617,0xE6},
    {0x618,0x618,0x1E}, {0x619,0x619,0x1F}, {0x61A,0x61A,0x20}, {0x64B,0x64B,0x1B}, {0x64C,0x64C,0x1C},
    {0x64D,0x64D,0x1D}, {0x64E,0x64E,0x1E}, {0x64F,0x64F,0x1F}, {0x650,0x650,0x20}, {0x651,0x651,0x21},
    {0x652,0x652,0x22}, {0x653,0x654,0xE6}, {0x655,0x656,0xDC}, {0x657,0x65B,0xE6}, {0x65C,0x65C,0xDC},
    {0x65D,0x65E,0xE6}, {0x65F,0x65F,0xDC}, {0x670,0x670,0x23}, {0x6D6,0x6DC,0xE6}, {0x6DF,0x6E2,0xE6},
    {0x6E3,0x6E3,0xDC}, {0x6E4,0x6E4,0xE6}, {0x6E7,0x6E8,0xE6}, {0x6EA,0x6EA,0xDC}, {0x6EB,0x6EC,0xE6},
    {0x6ED,0x6ED,0xDC}, {0x711,0x711,0x24}, {0x730,0x730,0xE6}, {0x731,0x731,0xDC}, {0x732,0x733,0xE6},
    {0x734,0x734,0xDC}, {0x735,0x736,0xE6}, {0x737,0x739,0xDC}, {0x73A,0x73A,0xE6}, {0x73B,0x73C,0xDC},
    {0x73D,0x73D,0xE6}, {0x73E,0x73E,0xDC}, {0x73F,0x741,0xE6}, {0x742,0x742,0xDC}, {0x743,0x743,0xE6},
    {0x744,0x744,0xDC}, {0x745,0x745,0xE6}, {0x746,0x746,0xDC}, {0x747,0x747,0xE6}, {0x748,0x748,0xDC},
    {0x749,0x74A,0xE6}, {0x7EB,0x7F1,0xE6}, {0x7F2,0x7F2,0xDC}, {0x7F3,0x7F3,0xE6}, {0x7FD,0x7FD,0xDC},
    {0x816,0x819,0xE6}, {0x81B,0x823,0xE6}, {0x825,0x827,0xE6}, {0x829,0x82D,0xE6}, {0x859,0x85B,0xDC},
    {0x897,0x898,0xE6}, {0x899,0x89B,0xDC}, {0x89C,0x89F,0xE6}, {0x8CA,0x8CE,0xE6}, {0x8CF,0x8D3,0xDC},
    {0x8D4,0x8E1,0xE6}, {0x8E3,0x8E3,0xDC}, {0x8E4,0x8E5,0xE6}, {0x8E6,0x8E6,0xDC}, {0x8E7,0x8E8,0xE6},
    {0x8E9,0x8E9,0xDC}, {0x8EA,0x8EC,0xE6}, {0x8ED,0x8EF,0xDC}, {0x8F0,0x8F0,0x1B}, {0x8F1,0x8F1,0x1C},
    {0x8F2,0x8F2,0x1D}, {0x8F3,0x8F5,0xE6}, {0x8F6,0x8F6,0xDC}, {0x8F7,0x8F8,0xE6}, {0x8F9,0x8FA,0xDC},
    {0x8FB,0x8FF,0xE6}, {0x93C,0x93C,0x7}, {0x94D,0x94D,0x9}, {0x951,0x951,0xE6}, {0x952,0x952,0xDC},
    {0x953,0x954,0xE6}, {0x9BC,0x9BC,0x7}, {0x9CD,0x9CD,0x9}, {0x9FE,0x9FE,0xE6}, {0xA3C,0xA3C,0x7},
    {0xA4D,0xA4D,0x9}, {0xABC,0xABC,0x7}, {0xACD,0xACD,0x9}, {0xB3C,0xB3C,0x7}, {0xB4D,0xB4D,0x9},
    {0xBCD,0xBCD,0x9}, {0xC3C,0xC3C,0x7}, {0xC4D,0xC4D,0x9}, {0xC55,0xC55,0x54}, {0xC56,0xC56,0x5B},
    {0xCBC,0xCBC,0x7}, {0xCCD,0xCCD,0x9}, {0xD3B,0xD3C,0x9}, {0xD4D,0xD4D,0x9}, {0xDCA,0xDCA,0x9},
    {0xE38,0xE39,0x67}, {0xE3A,0xE3A,0x9}, {0xE48,0xE4B,0x6B}, {0xEB8,0xEB9,0x76}, {0xEBA,0xEBA,0x9},
    {0xEC8,0xECB,0x7A}, {0xF18,0xF19,0xDC}, {0xF35,0xF35,0xDC}, {0xF37,0xF37,0xDC}, {0xF39,0xF39,0xD8},
    {0xF71,0xF71,0x81}, {0xF72,0xF72,0x82}, {0xF74,0xF74,0x84}, {0xF7A,0xF7D,0x82}, {0xF80,0xF80,0x82},
    {0xF82,0xF83,0xE6}, {0xF84,0xF84,0x9}, {0xF86,0xF87,0xE6}, {0xFC6,0xFC6,0xDC}, {0x1037,0x1037,0x7},
    {0x1039,0x103A,0x9}, {0x108D,0x108D,0xDC}, {0x135D,0x135F,0xE6}, {0x1714,0x1715,0x9}, {0x1734,0x1734,0x9},
    {0x17D2,0x17D2,0x9}, {0x17DD,0x17DD,0xE6}, {0x18A9,0x18A9,0xE4}, {0x1939,0x1939,0xDE},
    {0x193A,0x193A,0xE6}, {0x193B,0x193B,0xDC}, {0x1A17,0x1A17,0xE6}, {0x1A18,0x1A18,0xDC},
    {0x1A60,0x1A60,0x9}, {0x1A75,0x1A7C,0xE6}, {0x1A7F,0x1A7F,0xDC}, {0x1AB0,0x1AB4,0xE6},
    {0x1AB5,0x1ABA,0xDC}, {0x1ABB,0x1ABC,0xE6}, {0x1ABD,0x1ABD,0xDC}, {0x1ABF,0x1AC0,0xDC},
    {0x1AC1,0x1AC2,0xE6}, {0x1AC3,0x1AC4,0xDC}, {0x1AC5,0x1AC9,0xE6}, {0x1ACA,0x1ACA,0xDC},
    {0x1ACB,0x1ACE,0xE6}, {0x1B34,0x1B34,0x7}, {0x1B44,0x1B44,0x9}, {0x1B6B,0x1B6B,0xE6},
    {0x1B6C,0x1B6C,0xDC}, {0x1B6D,0x1B73,0xE6}, {0x1BAA,0x1BAB,0x9}, {0x1BE6,0x1BE6,0x7}, {0x1BF2,0x1BF3,0x9},
    {0x1C37,0x1C37,0x7}, {0x1CD0,0x1CD2,0xE6}, {0x1CD4,0x1CD4,0x1}, {0x1CD5,0x1CD9,0xDC},
    {0x1CDA,0x1CDB,0xE6}, {0x1CDC,0x1CDF,0xDC}, {0x1CE0,0x1CE0,0xE6}, {0x1CE2,0x1CE8,0x1},
    {0x1CED,0x1CED,0xDC}, {0x1CF4,0x1CF4,0xE6}, {0x1CF8,0x1CF9,0xE6}, {0x1DC0,0x1DC1,0xE6},
    {0x1DC2,0x1DC2,0xDC}, {0x1DC3,0x1DC9,0xE6}, {0x1DCA,0x1DCA,0xDC}, {0x1DCB,0x1DCC,0xE6},
    {0x1DCD,0x1DCD,0xEA}, {0x1DCE,0x1DCE,0xD6}, {0x1DCF,0x1DCF,0xDC}, {0x1DD0,0x1DD0,0xCA},
    {0x1DD1,0x1DF5,0xE6}, {0x1DF6,0x1DF6,0xE8}, {0x1DF7,0x1DF8,0xE4}, {0x1DF9,0x1DF9,0xDC},
    {0x1DFA,0x1DFA,0xDA}, {0x1DFB,0x1DFB,0xE6}, {0x1DFC,0x1DFC,0xE9}, {0x1DFD,0x1DFD,0xDC},
    {0x1DFE,0x1DFE,0xE6}, {0x1DFF,0x1DFF,0xDC}, {0x20D0,0x20D1,0xE6}, {0x20D2,0x20D3,0x1},
    {0x20D4,0x20D7,0xE6}, {0x20D8,0x20DA,0x1}, {0x20DB,0x20DC,0xE6}, {0x20E1,0x20E1,0xE6},
    {0x20E5,0x20E6,0x1}, {0x20E7,0x20E7,0xE6}, {0x20E8,0x20E8,0xDC}, {0x20E9,0x20E9,0xE6},
    {0x20EA,0x20EB,0x1}, {0x20EC,0x20EF,0xDC}, {0x20F0,0x20F0,0xE6}, {0x2CEF,0x2CF1,0xE6},
    {0x2D7F,0x2D7F,0x9}, {0x2DE0,0x2DFF,0xE6}, {0x302A,0x302A,0xDA}, {0x302B,0x302B,0xE4},
    {0x302C,0x302C,0xE8}, {0x302D,0x302D,0xDE}, {0x302E,0x302F,0xE0}, {0x3099,0x309A,0x8},
    {0xA66F,0xA66F,0xE6}, {0xA674,0xA67D,0xE6}, {0xA69E,0xA69F,0xE6}, {0xA6F0,0xA6F1,0xE6},
    {0xA806,0xA806,0x9}, {0xA82C,0xA82C,0x9}, {0xA8C4,0xA8C4,0x9}, {0xA8E0,0xA8F1,0xE6}, {0xA92B,0xA92D,0xDC},
    {0xA953,0xA953,0x9}, {0xA9B3,0xA9B3,0x7}, {0xA9C0,0xA9C0,0x9}, {0xAAB0,0xAAB0,0xE6}, {0xAAB2,0xAAB3,0xE6},
    {0xAAB4,0xAAB4,0xDC}, {0xAAB7,0xAAB8,0xE6}, {0xAABE,0xAABF,0xE6}, {0xAAC1,0xAAC1,0xE6},
    {0xAAF6,0xAAF6,0x9}, {0xABED,0xABED,0x9}, {0xFB1E,0xFB1E,0x1A}, {0xFE20,0xFE26,0xE6},
    {0xFE27,0xFE2D,0xDC}, {0xFE2E,0xFE2F,0xE6}, {0x101FD,0x101FD,0xDC}, {0x102E0,0x102E0,0xDC},
    {0x10376,0x1037A,0xE6}, {0x10A0D,0x10A0D,0xDC}, {0x10A0F,0x10A0F,0xE6}, {0x10A38,0x10A38,0xE6},
    {0x10A39,0x10A39,0x1}, {0x10A3A,0x10A3A,0xDC}, {0x10A3F,0x10A3F,0x9}, {0x10AE5,0x10AE5,0xE6},
    {0x10AE6,0x10AE6,0xDC}, {0x10D24,0x10D27,0xE6}, {0x10D69,0x10D6D,0xE6}, {0x10EAB,0x10EAC,0xE6},
    {0x10EFD,0x10EFF,0xDC}, {0x10F46,0x10F47,0xDC}, {0x10F48,0x10F4A,0xE6}, {0x10F4B,0x10F4B,0xDC},
    {0x10F4C,0x10F4C,0xE6}, {0x10F4D,0x10F50,0xDC}, {0x10F82,0x10F82,0xE6}, {0x10F83,0x10F83,0xDC},
    {0x10F84,0x10F84,0xE6}, {0x10F85,0x10F85,0xDC}, {0x11046,0x11046,0x9}, {0x11070,0x11070,0x9},
    {0x1107F,0x1107F,0x9}, {0x110B9,0x110B9,0x9}, {0x110BA,0x110BA,0x7}, {0x11100,0x11102,0xE6},
    {0x11133,0x11134,0x9}, {0x11173,0x11173,0x7}, {0x111C0,0x111C0,0x9}, {0x111CA,0x111CA,0x7},
    {0x11235,0x11235,0x9}, {0x11236,0x11236,0x7}, {0x112E9,0x112E9,0x7}, {0x112EA,0x112EA,0x9},
    {0x1133B,0x1133C,0x7}, {0x1134D,0x1134D,0x9}, {0x11366,0x1136C,0xE6}, {0x11370,0x11374,0xE6},
    {0x113CE,0x113D0,0x9}, {0x11442,0x11442,0x9}, {0x11446,0x11446,0x7}, {0x1145E,0x1145E,0xE6},
    {0x114C2,0x114C2,0x9}, {0x114C3,0x114C3,0x7}, {0x115BF,0x115BF,0x9}, {0x115C0,0x115C0,0x7},
    {0x1163F,0x1163F,0x9}, {0x116B6,0x116B6,0x9}, {0x116B7,0x116B7,0x7}, {0x1172B,0x1172B,0x9},
    {0x11839,0x11839,0x9}, {0x1183A,0x1183A,0x7}, {0x1193D,0x1193E,0x9}, {0x11943,0x11943,0x7},
    {0x119E0,0x119E0,0x9}, {0x11A34,0x11A34,0x9}, {0x11A47,0x11A47,0x9}, {0x11A99,0x11A99,0x9},
    {0x11C3F,0x11C3F,0x9}, {0x11D42,0x11D42,0x7}, {0x11D44,0x11D45,0x9}, {0x11D97,0x11D97,0x9},
    {0x11F41,0x11F42,0x9}, {0x1612F,0x1612F,0x9}, {0x16AF0,0x16AF4,0x1}, {0x16B30,0x16B36,0xE6},
    {0x16FF0,0x16FF1,0x6}, {0x1BC9E,0x1BC9E,0x1}, {0x1D165,0x1D166,0xD8}, {0x1D167,0x1D169,0x1},
    {0x1D16D,0x1D16D,0xE2}, {0x1D16E,0x1D172,0xD8}, {0x1D17B,0x1D182,0xDC}, {0x1D185,0x1D189,0xE6},
    {0x1D18A,0x1D18B,0xDC}, {0x1D1AA,0x1D1AD,0xE6}, {0x1D242,0x1D244,0xE6}, {0x1E000,0x1E006,0xE6},
    {0x1E008,0x1E018,0xE6}, {0x1E01B,0x1E021,0xE6}, {0x1E023,0x1E024,0xE6}, {0x1E026,0x1E02A,0xE6},
    {0x1E08F,0x1E08F,0xE6}, {0x1E130,0x1E136,0xE6}, {0x1E2AE,0x1E2AE,0xE6}, {0x1E2EC,0x1E2EF,0xE6},
    {0x1E4EC,0x1E4ED,0xE8}, {0x1E4EE,0x1E4EE,0xDC}, {0x1E4EF,0x1E4EF,0xE6}, {0x1E5EE,0x1E5EE,0xE6},
    {0x1E5EF,0x1E5EF,0xDC}, {0x1E8D0,0x1E8D6,0xDC}, {0x1E944,0x1E949,0xE6}, {0x1E94A,0x1E94A,0x7},
};

// canonical decompositions: {code point, first, second or 0} (2081 entries)
static const uint32_t unicode_decompositions[][3] = {
    {0xC0,0x41,0x300}, {0xC1,0x41,0x301}, {0xC2,0x41,0x302}, {0xC3,0x41,0x303}, {0xC4,0x41,0x308},
    {0xC5,0x41,0x30A}, {0xC7,0x43,0x327}, {0xC8,0x45,0x300}, {0xC9,0x45,0x301}, {0xCA,0x45,0x302},
    {0xCB,0x45,0x308}, {0xCC,0x49,0x300}, {0xCD,0x49,0x301}, {0xCE,0x49,0x302}, {0xCF,0x49,0x308},
    {0xD1,0x4E,0x303}, {0xD2,0x4F,0x300}, {0xD3,0x4F,0x301}, {0xD4,0x4F,0x302}, {0xD5,0x4F,0x303},
    {0xD6,0x4F,0x308}, {0xD9,0x55,0x300}, {0xDA,0x55,0x301}, {0xDB,0x55,0x302}, {0xDC,0x55,0x308},
    {0xDD,0x59,0x301}, {0xE0,0x61,0x300}, {0xE1,0x61,0x301}, {0xE2,0x61,0x302}, {0xE3,0x61,0x303},
    {0xE4,0x61,0x308}, {0xE5,0x61,0x30A}, {0xE7,0x63,0x327}, {0xE8,0x65,0x300}, {0xE9,0x65,0x301},
    {0xEA,0x65,0x302}, {0xEB,0x65,0x308}, {0xEC,0x69,0x300}, {0xED,0x69,0x301}, {0xEE,0x69,0x302},
    {0xEF,0x69,0x308}, {0xF1,0x6E,0x303}, {0xF2,0x6F,0x300}, {0xF3,0x6F,0x301}, {0xF4,0x6F,0x302},
    {0xF5,0x6F,0x303}, {0xF6,0x6F,0x308}, {0xF9,0x75,0x300}, {0xFA,0x75,0x301}, {0xFB,0x75,0x302},
    {0xFC,0x75,0x308}, {0xFD,0x79,0x301}, {0xFF,0x79,0x308}, {0x100,0x41,0x304}, {0x101,0x61,0x304},
    {0x102,0x41,0x306}, {0x103,0x61,0x306}, {0x104,0x41,0x328}, {0x105,0x61,0x328}, {0x106,0x43,0x301},
    {0x107,0x63,0x301}, {0x108,0x43,0x302}, {0x109,0x63,0x302}, {0x10A,0x43,0x307}, {0x10B,0x63,0x307},
    {0x10C,0x43,0x30C}, {0x10D,0x63,0x30C}, {0x10E,0x44,0x30C}, {0x10F,0x64,0x30C}, {0x112,0x45,0x304},
    {0x113,0x65,0x304}, {0x114,0x45,0x306}, {0x115,0x65,0x306}, {0x116,0x45,0x307}, {0x117,0x65,0x307},
    {0x118,0x45,0x328}, {0x119,0x65,0x328}, {0x11A,0x45,0x30C}, {0x11B,0x65,0x30C}, {0x11C,0x47,0x302},
    {0x11D,0x67,0x302}, {0x11E,0x47,0x306}, {0x11F,0x67,0x306}, {0x120,0x47,0x307}, {0x121,0x67,0x307},
    {0x122,0x47,0x327}, {0x123,0x67,0x327}, {0x124,0x48,0x302}, {0x125,0x68,0x302}, {0x128,0x49,0x303},
    {0x129,0x69,0x303}, {0x12A,0x49,0x304}, {0x12B,0x69,0x304}, {0x12C,0x49,0x306}, {0x12D,0x69,0x306},
    {0x12E,0x49,0x328}, {0x12F,0x69,0x328}, {0x130,0x49,0x307}, {0x134,0x4A,0x302}, {0x135,0x6A,0x302},
    {0x136,0x4B,0x327}, {0x137,0x6B,0x327}, {0x139,0x4C,0x301}, {0x13A,0x6C,0x301}, {0x13B,0x4C,0x327},
    {0x13C,0x6C,0x327}, {0x13D,0x4C,0x30C}, {0x13E,0x6C,0x30C}, {0x143,0x4E,0x301}, {0x144,0x6E,0x301},
    {0x145,0x4E,0x327}, {0x146,0x6E,0x327}, {0x147,0x4E,0x30C}, {0x148,0x6E,0x30C}, {0x14C,0x4F,0x304},
    {0x14D,0x6F,0x304}, {0x14E,0x4F,0x306}, {0x14F,0x6F,0x306}, {0x150,0x4F,0x30B}, {0x151,0x6F,0x30B},
    {0x154,0x52,0x301}, {0x155,0x72,0x301}, {0x156,0x52,0x327}, {0x157,0x72,0x327}, {0x158,0x52,0x30C},
    {0x159,0x72,0x30C}, {0x15A,0x53,0x301}, {0x15B,0x73,0x301}, {0x15C,0x53,0x302}, {0x15D,0x73,0x302},
    {0x15E,0x53,0x327}, {0x15F,0x73,0x327}, {0x160,0x53,0x30C}, {0x161,0x73,0x30C}, {0x162,0x54,0x327},
    {0x163,0x74,0x327}, {0x164,0x54,0x30C}, {0x165,0x74,0x30C}, {0x168,0x55,0x303}, {0x169,0x75,0x303},
    {0x16A,0x55,0x304}, {0x16B,0x75,0x304}, {0x16C,0x55,0x306}, {0x16D,0x75,0x306}, {0x16E,0x55,0x30A},
    {0x16F,0x75,0x30A}, {0x170,0x55,0x30B}, {0x171,0x75,0x30B}, {0x172,0x55,0x328}, {0x173,0x75,0x328},
    {0x174,0x57,0x302}, {0x175,0x77,0x302}, {0x176,0x59,0x302}, {0x177,0x79,0x302}, {0x178,0x59,0x308},
    {0x179,0x5A,0x301}, {0x17A,0x7A,0x301}, {0x17B,0x5A,0x307}, {0x17C,0x7A,0x307}, {0x17D,0x5A,0x30C},
    {0x17E,0x7A,0x30C}, {0x1A0,0x4F,0x31B}, {0x1A1,0x6F,0x31B}, {0x1AF,0x55,0x31B}, {0x1B0,0x75,0x31B},
    {0x1CD,0x41,0x30C}, {0x1CE,0x61,0x30C}, {0x1CF,0x49,0x30C}, {0x1D0,0x69,0x30C}, {0x1D1,0x4F,0x30C},
    {0x1D2,0x6F,0x30C}, {0x1D3,0x55,0x30C}, {0x1D4,0x75,0x30C}, {0x1D5,0xDC,0x304}, {0x1D6,0xFC,0x304},
    {0x1D7,0xDC,0x301}, {0x1D8,0xFC,0x301}, {0x1D9,0xDC,0x30C}, {0x1DA,0xFC,0x30C}, {0x1DB,0xDC,0x300},
    {0x1DC,0xFC,0x300}, {0x1DE,0xC4,0x304}, {0x1DF,0xE4,0x304}, {0x1E0,0x226,0x304}, {0x1E1,0x227,0x304},
    {0x1E2,0xC6,0x304}, {0x1E3,0xE6,0x304}, {0x1E6,0x47,0x30C}, {0x1E7,0x67,0x30C}, {0x1E8,0x4B,0x30C},
    {0x1E9,0x6B,0x30C}, {0x1EA,0x4F,0x328}, {0x1EB,0x6F,0x328}, {0x1EC,0x1EA,0x304}, {0x1ED,0x1EB,0x304},
    {0x1EE,0x1B7,0x30C}, {0x1EF,0x292,0x30C}, {0x1F0,0x6A,0x30C}, {0x1F4,0x47,0x301}, {0x1F5,0x67,0x301},
    {0x1F8,0x4E,0x300}, {0x1F9,0x6E,0x300}, {0x1FA,0xC5,0x301}, {0x1FB,0xE5,0x301}, {0x1FC,0xC6,0x301},
    {0x1FD,0xE6,0x301}, {0x1FE,0xD8,0x301}, {0x1FF,0xF8,0x301}, {0x200,0x41,0x30F}, {0x201,0x61,0x30F},
    {0x202,0x41,0x311}, {0x203,0x61,0x311}, {0x204,0x45,0x30F}, {0x205,0x65,0x30F}, {0x206,0x45,0x311},
    {0x207,0x65,0x311}, {0x208,0x49,0x30F}, {0x209,0x69,0x30F}, {0x20A,0x49,0x311}, {0x20B,0x69,0x311},
    {0x20C,0x4F,0x30F}, {0x20D,0x6F,0x30F}, {0x20E,0x4F,0x311}, {0x20F,0x6F,0x311}, {0x210,0x52,0x30F},
    {0x211,0x72,0x30F}, {0x212,0x52,0x311}, {0x213,0x72,0x311}, {0x214,0x55,0x30F}, {0x215,0x75,0x30F},
    {0x216,0x55,0x311}, {0x217,0x75,0x311}, {0x218,0x53,0x326}, {0x219,0x73,0x326}, {0x21A,0x54,0x326},
    {0x21B,0x74,0x326}, {0x21E,0x48,0x30C}, {0x21F,0x68,0x30C}, {0x226,0x41,0x307}, {0x227,0x61,0x307},
    {0x228,0x45,0x327}, {0x229,0x65,0x327}, {0x22A,0xD6,0x304}, {0x22B,0xF6,0x304}, {0x22C,0xD5,0x304},
    {0x22D,0xF5,0x304}, {0x22E,0x4F,0x307}, {0x22F,0x6F,0x307}, {0x230,0x22E,0x304}, {0x231,0x22F,0x304},
    {0x232,0x59,0x304}, {0x233,0x79,0x304}, {0x340,0x300,0x0}, {0x341,0x301,0x0}, {0x343,0x313,0x0},
    {0x344,0x308,0x301}, {0x374,0x2B9,0x0}, {0x37E,0x3B,0x0}, {0x385,0xA8,0x301}, {0x386,0x391,0x301},
    {0x387,0xB7,0x0}, {0x388,0x395,0x301}, {0x389,0x397,0x301}, {0x38A,0x399,0x301}, {0x38C,0x39F,0x301},
    {0x38E,0x3A5,0x301}, {0x38F,0x3A9,0x301}, {0x390,0x3CA,0x301}, {0x3AA,0x399,0x308}, {0x3AB,0x3A5,0x308},
    {0x3AC,0x3B1,0x301}, {0x3AD,0x3B5,0x301}, {0x3AE,0x3B7,0x301}, {0x3AF,0x3B9,0x301}, {0x3B0,0x3CB,0x301},
    {0x3CA,0x3B9,0x308}, {0x3CB,0x3C5,0x308}, {0x3CC,0x3BF,0x301}, {0x3CD,0x3C5,0x301}, {0x3CE,0x3C9,0x301},
    {0x3D3,0x3D2,0x301}, {0x3D4,0x3D2,0x308}, {0x400,0x415,0x300}, {0x401,0x415,0x308}, {0x403,0x413,0x301},
    {0x407,0x406,0x308}, {0x40C,0x41A,0x301}, {0x40D,0x418,0x300}, {0x40E,0x423,0x306}, {0x419,0x418,0x306},
    {0x439,0x438,0x306}, {0x450,0x435,0x300}, {0x451,0x435,0x308}, {0x453,0x433,0x301}, {0x457,0x456,0x308},
    {0x45C,0x43A,0x301}, {0x45D,0x438,0x300}, {0x45E,0x443,0x306}, {0x476,0x474,0x30F}, {0x477,0x475,0x30F},
    {0x4C1,0x416,0x306}, {0x4C2,0x436,0x306}, {0x4D0,0x410,0x306}, {0x4D1,0x430,0x306}, {0x4D2,0x410,0x308},
    {0x4D3,0x430,0x308}, {0x4D6,0x415,0x306}, {0x4D7,0x435,0x306}, {0x4DA,0x4D8,0x308}, {0x4DB,0x4D9,0x308},
    {0x4DC,0x416,0x308}, {0x4DD,0x436,0x308}, {0x4DE,0x417,0x308}, {0x4DF,0x437,0x308}, {0x4E2,0x418,0x304},
    {0x4E3,0x438,0x304}, {0x4E4,0x418,0x308}, {0x4E5,0x438,0x308}, {0x4E6,0x41E,0x308}, {0x4E7,0x43E,0x308},
    {0x4EA,0x4E8,0x308}, {0x4EB,0x4E9,0x308}, {0x4EC,0x42D,0x308}, {0x4ED,0x44D,0x308}, {0x4EE,0x423,0x304},
    {0x4EF,0x443,0x304}, {0x4F0,0x423,0x308}, {0x4F1,0x443,0x308}, {0x4F2,0x423,0x30B}, {0x4F3,0x443,0x30B},
    {0x4F4,0x427,0x308}, {0x4F5,0x447,0x308}, {0x4F8,0x42B,0x308}, {0x4F9,0x44B,0x308}, {0x622,0x627,0x653},
    {0x623,0x627,0x654}, {0x624,0x648,0x654}, {0x625,0x627,0x655}, {0x626,0x64A,0x654}, {0x6C0,0x6D5,0x654},
    {0x6C2,0x6C1,0x654}, {0x6D3,0x6D2,0x654}, {0x929,0x928,0x93C}, {0x931,0x930,0x93C}, {0x934,0x933,0x93C},
    {0x958,0x915,0x93C}, {0x959,0x916,0x93C}, {0x95A,0x917,0x93C}, {0x95B,0x91C,0x93C}, {0x95C,0x921,0x93C},
    {0x95D,0x922,0x93C}, {0x95E,0x92B,0x93C}, {0x95F,0x92F,0x93C}, {0x9CB,0x9C7,0x9BE}, {0x9CC,0x9C7,0x9D7},
    {0x9DC,0x9A1,0x9BC}, {0x9DD,0x9A2,0x9BC}, {0x9DF,0x9AF,0x9BC}, {0xA33,0xA32,0xA3C}, {0xA36,0xA38,0xA3C},
    {0xA59,0xA16,0xA3C}, {0xA5A,0xA17,0xA3C}, {0xA5B,0xA1C,0xA3C}, {0xA5E,0xA2B,0xA3C}, {0xB48,0xB47,0xB56},
    {0xB4B,0xB47,0xB3E}, {0xB4C,0xB47,0xB57}, {0xB5C,0xB21,0xB3C}, {0xB5D,0xB22,0xB3C}, {0xB94,0xB92,0xBD7},
    {0xBCA,0xBC6,0xBBE}, {0xBCB,0xBC7,0xBBE}, {0xBCC,0xBC6,0xBD7}, {0xC48,0xC46,0xC56}, {0xCC0,0xCBF,0xCD5},
    {0xCC7,0xCC6,0xCD5}, {0xCC8,0xCC6,0xCD6}, {0xCCA,0xCC6,0xCC2}, {0xCCB,0xCCA,0xCD5}, {0xD4A,0xD46,0xD3E},
    {0xD4B,0xD47,0xD3E}, {0xD4C,0xD46,0xD57}, {0xDDA,0xDD9,0xDCA}, {0xDDC,0xDD9,0xDCF}, {0xDDD,0xDDC,0xDCA},
    {0xDDE,0xDD9,0xDDF}, {0xF43,0xF42,0xFB7}, {0xF4D,0xF4C,0xFB7}, {0xF52,0xF51,0xFB7}, {0xF57,0xF56,0xFB7},
    {0xF5C,0xF5B,0xFB7}, {0xF69,0xF40,0xFB5}, {0xF73,0xF71,0xF72}, {0xF75,0xF71,0xF74}, {0xF76,0xFB2,0xF80},
    {0xF78,0xFB3,0xF80}, {0xF81,0xF71,0xF80}, {0xF93,0xF92,0xFB7}, {0xF9D,0xF9C,0xFB7}, {0xFA2,0xFA1,0xFB7},
    {0xFA7,0xFA6,0xFB7}, {0xFAC,0xFAB,0xFB7}, {0xFB9,0xF90,0xFB5}, {0x1026,0x1025,0x102E},
    {0x1B06,0x1B05,0x1B35}, {0x1B08,0x1B07,0x1B35}, {0x1B0A,0x1B09,0x1B35}, {0x1B0C,0x1B0B,0x1B35},
    {0x1B0E,0x1B0D,0x1B35}, {0x1B12,0x1B11,0x1B35}, {0x1B3B,0x1B3A,0x1B35}, {0x1B3D,0x1B3C,0x1B35},
    {0x1B40,0x1B3E,0x1B35}, {0x1B41,0x1B3F,0x1B35}, {0x1B43,0x1B42,0x1B35}, {0x1E00,0x41,0x325},
    {0x1E01,0x61,0x325}, {0x1E02,0x42,0x307}, {0x1E03,0x62,0x307}, {0x1E04,0x42,0x323}, {0x1E05,0x62,0x323},
    {0x1E06,0x42,0x331}, {0x1E07,0x62,0x331}, {0x1E08,0xC7,0x301}, {0x1E09,0xE7,0x301}, {0x1E0A,0x44,0x307},
    {0x1E0B,0x64,0x307}, {0x1E0C,0x44,0x323}, {0x1E0D,0x64,0x323}, {0x1E0E,0x44,0x331}, {0x1E0F,0x64,0x331},
    {0x1E10,0x44,0x327}, {0x1E11,0x64,0x327}, {0x1E12,0x44,0x32D}, {0x1E13,0x64,0x32D}, {0x1E14,0x112,0x300},
    {0x1E15,0x113,0x300}, {0x1E16,0x112,0x301}, {0x1E17,0x113,0x301}, {0x1E18,0x45,0x32D},
    {0x1E19,0x65,0x32D}, {0x1E1A,0x45,0x330}, {0x1E1B,0x65,0x330}, {0x1E1C,0x228,0x306}, {0x1E1D,0x229,0x306},
    {0x1E1E,0x46,0x307}, {0x1E1F,0x66,0x307}, {0x1E20,0x47,0x304}, {0x1E21,0x67,0x304}, {0x1E22,0x48,0x307},
    {0x1E23,0x68,0x307}, {0x1E24,0x48,0x323}, {0x1E25,0x68,0x323}, {0x1E26,0x48,0x308}, {0x1E27,0x68,0x308},
    {0x1E28,0x48,0x327}, {0x1E29,0x68,0x327}, {0x1E2A,0x48,0x32E}, {0x1E2B,0x68,0x32E}, {0x1E2C,0x49,0x330},
    {0x1E2D,0x69,0x330}, {0x1E2E,0xCF,0x301}, {0x1E2F,0xEF,0x301}, {0x1E30,0x4B,0x301}, {0x1E31,0x6B,0x301},
    {0x1E32,0x4B,0x323}, {0x1E33,0x6B,0x323}, {0x1E34,0x4B,0x331}, {0x1E35,0x6B,0x331}, {0x1E36,0x4C,0x323},
    {0x1E37,0x6C,0x323}, {0x1E38,0x1E36,0x304}, {0x1E39,0x1E37,0x304}, {0x1E3A,0x4C,0x331},
    {0x1E3B,0x6C,0x331}, {0x1E3C,0x4C,0x32D}, {0x1E3D,0x6C,0x32D}, {0x1E3E,0x4D,0x301}, {0x1E3F,0x6D,0x301},
    {0x1E40,0x4D,0x307}, {0x1E41,0x6D,0x307}, {0x1E42,0x4D,0x323}, {0x1E43,0x6D,0x323}, {0x1E44,0x4E,0x307},
    {0x1E45,0x6E,0x307}, {0x1E46,0x4E,0x323}, {0x1E47,0x6E,0x323}, {0x1E48,0x4E,0x331}, {0x1E49,0x6E,0x331},
    {0x1E4A,0x4E,0x32D}, {0x1E4B,0x6E,0x32D}, {0x1E4C,0xD5,0x301}, {0x1E4D,0xF5,0x301}, {0x1E4E,0xD5,0x308},
    {0x1E4F,0xF5,0x308}, {0x1E50,0x14C,0x300}, {0x1E51,0x14D,0x300}, {0x1E52,0x14C,0x301},
    {0x1E53,0x14D,0x301}, {0x1E54,0x50,0x301}, {0x1E55,0x70,0x301}, {0x1E56,0x50,0x307}, {0x1E57,0x70,0x307},
    {0x1E58,0x52,0x307}, {0x1E59,0x72,0x307}, {0x1E5A,0x52,0x323}, {0x1E5B,0x72,0x323}, {0x1E5C,0x1E5A,0x304},
    {0x1E5D,0x1E5B,0x304}, {0x1E5E,0x52,0x331}, {0x1E5F,0x72,0x331}, {0x1E60,0x53,0x307}, {0x1E61,0x73,0x307},
    {0x1E62,0x53,0x323}, {0x1E63,0x73,0x323}, {0x1E64,0x15A,0x307}, {0x1E65,0x15B,0x307},
    {0x1E66,0x160,0x307}, {0x1E67,0x161,0x307}, {0x1E68,0x1E62,0x307}, {0x1E69,0x1E63,0x307},
    {0x1E6A,0x54,0x307}, {0x1E6B,0x74,0x307}, {0x1E6C,0x54,0x323}, {0x1E6D,0x74,0x323}, {0x1E6E,0x54,0x331},
    {0x1E6F,0x74,0x331}, {0x1E70,0x54,0x32D}, {0x1E71,0x74,0x32D}, {0x1E72,0x55,0x324}, {0x1E73,0x75,0x324},
    {0x1E74,0x55,0x330}, {0x1E75,0x75,0x330}, {0x1E76,0x55,0x32D}, {0x1E77,0x75,0x32D}, {0x1E78,0x168,0x301},
    {0x1E79,0x169,0x301}, {0x1E7A,0x16A,0x308}, {0x1E7B,0x16B,0x308}, {0x1E7C,0x56,0x303},
    {0x1E7D,0x76,0x303}, {0x1E7E,0x56,0x323}, {0x1E7F,0x76,0x323}, {0x1E80,0x57,0x300}, {0x1E81,0x77,0x300},
    {0x1E82,0x57,0x301}, {0x1E83,0x77,0x301}, {0x1E84,0x57,0x308}, {0x1E85,0x77,0x308}, {0x1E86,0x57,0x307},
    {0x1E87,0x77,0x307}, {0x1E88,0x57,0x323}, {0x1E89,0x77,0x323}, {0x1E8A,0x58,0x307}, {0x1E8B,0x78,0x307},
    {0x1E8C,0x58,0x308}, {0x1E8D,0x78,0x308}, {0x1E8E,0x59,0x307}, {0x1E8F,0x79,0x307}, {0x1E90,0x5A,0x302},
    {0x1E91,0x7A,0x302}, {0x1E92,0x5A,0x323}, {0x1E93,0x7A,0x323}, {0x1E94,0x5A,0x331}, {0x1E95,0x7A,0x331},
    {0x1E96,0x68,0x331}, {0x1E97,0x74,0x308}, {0x1E98,0x77,0x30A}, {0x1E99,0x79,0x30A}, {0x1E9B,0x17F,0x307},
    {0x1EA0,0x41,0x323}, {0x1EA1,0x61,0x323}, {0x1EA2,0x41,0x309}, {0x1EA3,0x61,0x309}, {0x1EA4,0xC2,0x301},
    {0x1EA5,0xE2,0x301}, {0x1EA6,0xC2,0x300}, {0x1EA7,0xE2,0x300}, {0x1EA8,0xC2,0x309}, {0x1EA9,0xE2,0x309},
    {0x1EAA,0xC2,0x303}, {0x1EAB,0xE2,0x303}, {0x1EAC,0x1EA0,0x302}, {0x1EAD,0x1EA1,0x302},
    {0x1EAE,0x102,0x301}, {0x1EAF,0x103,0x301}, {0x1EB0,0x102,0x300}, {0x1EB1,0x103,0x300},
    {0x1EB2,0x102,0x309}, {0x1EB3,0x103,0x309}, {0x1EB4,0x102,0x303}, {0x1EB5,0x103,0x303},
    {0x1EB6,0x1EA0,0x306}, {0x1EB7,0x1EA1,0x306}, {0x1EB8,0x45,0x323}, {0x1EB9,0x65,0x323},
    {0x1EBA,0x45,0x309}, {0x1EBB,0x65,0x309}, {0x1EBC,0x45,0x303}, {0x1EBD,0x65,0x303}, {0x1EBE,0xCA,0x301},
    {0x1EBF,0xEA,0x301}, {0x1EC0,0xCA,0x300}, {0x1EC1,0xEA,0x300}, {0x1EC2,0xCA,0x309}, {0x1EC3,0xEA,0x309},
    {0x1EC4,0xCA,0x303}, {0x1EC5,0xEA,0x303}, {0x1EC6,0x1EB8,0x302}, {0x1EC7,0x1EB9,0x302},
    {0x1EC8,0x49,0x309}, {0x1EC9,0x69,0x309}, {0x1ECA,0x49,0x323}, {0x1ECB,0x69,0x323}, {0x1ECC,0x4F,0x323},
    {0x1ECD,0x6F,0x323}, {0x1ECE,0x4F,0x309}, {0x1ECF,0x6F,0x309}, {0x1ED0,0xD4,0x301}, {0x1ED1,0xF4,0x301},
    {0x1ED2,0xD4,0x300}, {0x1ED3,0xF4,0x300}, {0x1ED4,0xD4,0x309}, {0x1ED5,0xF4,0x309}, {0x1ED6,0xD4,0x303},
    {0x1ED7,0xF4,0x303}, {0x1ED8,0x1ECC,0x302}, {0x1ED9,0x1ECD,0x302}, {0x1EDA,0x1A0,0x301},
    {0x1EDB,0x1A1,0x301}, {0x1EDC,0x1A0,0x300}, {0x1EDD,0x1A1,0x300}, {0x1EDE,0x1A0,0x309},
    {0x1EDF,0x1A1,0x309}, {0x1EE0,0x1A0,0x303}, {0x1EE1,0x1A1,0x303}, {0x1EE2,0x1A0,0x323},
    {0x1EE3,0x1A1,0x323}, {0x1EE4,0x55,0x323}, {0x1EE5,0x75,0x323}, {0x1EE6,0x55,0x309}, {0x1EE7,0x75,0x309},
    {0x1EE8,0x1AF,0x301}, {0x1EE9,0x1B0,0x301}, {0x1EEA,0x1AF,0x300}, {0x1EEB,0x1B0,0x300},
    {0x1EEC,0x1AF,0x309}, {0x1EED,0x1B0,0x309}, {0x1EEE,0x1AF,0x303}, {0x1EEF,0x1B0,0x303},
    {0x1EF0,0x1AF,0x323}, {0x1EF1,0x1B0,0x323}, {0x1EF2,0x59,0x300}, {0x1EF3,0x79,0x300}, {0x1EF4,0x59,0x323},
    {0x1EF5,0x79,0x323}, {0x1EF6,0x59,0x309}, {0x1EF7,0x79,0x309}, {0x1EF8,0x59,0x303}, {0x1EF9,0x79,0x303},
    {0x1F00,0x3B1,0x313}, {0x1F01,0x3B1,0x314}, {0x1F02,0x1F00,0x300}, {0x1F03,0x1F01,0x300},
    {0x1F04,0x1F00,0x301}, {0x1F05,0x1F01,0x301}, {0x1F06,0x1F00,0x342}, {0x1F07,0x1F01,0x342},
    {0x1F08,0x391,0x313}, {0x1F09,0x391,0x314}, {0x1F0A,0x1F08,0x300}, {0x1F0B,0x1F09,0x300},
    {0x1F0C,0x1F08,0x301}, {0x1F0D,0x1F09,0x301}, {0x1F0E,0x1F08,0x342}, {0x1F0F,0x1F09,0x342},
    {0x1F10,0x3B5,0x313}, {0x1F11,0x3B5,0x314}, {0x1F12,0x1F10,0x300}, {0x1F13,0x1F11,0x300},
    {0x1F14,0x1F10,0x301}, {0x1F15,0x1F11,0x301}, {0x1F18,0x395,0x313}, {0x1F19,0x395,0x314},
    {0x1F1A,0x1F18,0x300}, {0x1F1B,0x1F19,0x300}, {0x1F1C,0x1F18,0x301}, {0x1F1D,0x1F19,0x301},
    {0x1F20,0x3B7,0x313}, {0x1F21,0x3B7,0x314}, {0x1F22,0x1F20,0x300}, {0x1F23,0x1F21,0x300},
    {0x1F24,0x1F20,0x301}, {0x1F25,0x1F21,0x301}, {0x1F26,0x1F20,0x342}, {0x1F27,0x1F21,0x342},
    {0x1F28,0x397,0x313}, {0x1F29,0x397,0x314}, {0x1F2A,0x1F28,0x300}, {0x1F2B,0x1F29,0x300},
    {0x1F2C,0x1F28,0x301}, {0x1F2D,0x1F29,0x301}, {0x1F2E,0x1F28,0x342}, {0x1F2F,0x1F29,0x342},
    {0x1F30,0x3B9,0x313}, {0x1F31,0x3B9,0x314}, {0x1F32,0x1F30,0x300}, {0x1F33,0x1F31,0x300},
    {0x1F34,0x1F30,0x301}, {0x1F35,0x1F31,0x301}, {0x1F36,0x1F30,0x342}, {0x1F37,0x1F31,0x342},
    {0x1F38,0x399,0x313}, {0x1F39,0x399,0x314}, {0x1F3A,0x1F38,0x300}, {0x1F3B,0x1F39,0x300},
    {0x1F3C,0x1F38,0x301}, {0x1F3D,0x1F39,0x301}, {0x1F3E,0x1F38,0x342}, {0x1F3F,0x1F39,0x342},
    {0x1F40,0x3BF,0x313}, {0x1F41,0x3BF,0x314}, {0x1F42,0x1F40,0x300}, {0x1F43,0x1F41,0x300},
    {0x1F44,0x1F40,0x301}, {0x1F45,0x1F41,0x301}, {0x1F48,0x39F,0x313}, {0x1F49,0x39F,0x314},
    {0x1F4A,0x1F48,0x300}, {0x1F4B,0x1F49,0x300}, {0x1F4C,0x1F48,0x301}, {0x1F4D,0x1F49,0x301},
    {0x1F50,0x3C5,0x313}, {0x1F51,0x3C5,0x314}, {0x1F52,0x1F50,0x300}, {0x1F53,0x1F51,0x300},
    {0x1F54,0x1F50,0x301}, {0x1F55,0x1F51,0x301}, {0x1F56,0x1F50,0x342}, {0x1F57,0x1F51,0x342},
    {0x1F59,0x3A5,0x314}, {0x1F5B,0x1F59,0x300}, {0x1F5D,0x1F59,0x301}, {0x1F5F,0x1F59,0x342},
    {0x1F60,0x3C9,0x313}, {0x1F61,0x3C9,0x314}, {0x1F62,0x1F60,0x300}, {0x1F63,0x1F61,0x300},
    {0x1F64,0x1F60,0x301}, {0x1F65,0x1F61,0x301}, {0x1F66,0x1F60,0x342}, {0x1F67,0x1F61,0x342},
    {0x1F68,0x3A9,0x313}, {0x1F69,0x3A9,0x314}, {0x1F6A,0x1F68,0x300}, {0x1F6B,0x1F69,0x300},
    {0x1F6C,0x1F68,0x301}, {0x1F6D,0x1F69,0x301}, {0x1F6E,0x1F68,0x342}, {0x1F6F,0x1F69,0x342},
    {0x1F70,0x3B1,0x300}, {0x1F71,0x3AC,0x0}, {0x1F72,0x3B5,0x300}, {0x1F73,0x3AD,0x0}, {0x1F74,0x3B7,0x300},
    {0x1F75,0x3AE,0x0}, {0x1F76,0x3B9,0x300}, {0x1F77,0x3AF,0x0}, {0x1F78,0x3BF,0x300}, {0x1F79,0x3CC,0x0},
    {0x1F7A,0x3C5,0x300}, {0x1F7B,0x3CD,0x0}, {0x1F7C,0x3C9,0x300}, {0x1F7D,0x3CE,0x0}, {0x1F80,0x1F00,0x345},
    {0x1F81,0x1F01,0x345}, {0x1F82,0x1F02,0x345}, {0x1F83,0x1F03,0x345}, {0x1F84,0x1F04,0x345},
    {0x1F85,0x1F05,0x345}, {0x1F86,0x1F06,0x345}, {0x1F87,0x1F07,0x345}, {0x1F88,0x1F08,0x345},
    {0x1F89,0x1F09,0x345}, {0x1F8A,0x1F0A,0x345}, {0x1F8B,0x1F0B,0x345}, {0x1F8C,0x1F0C,0x345},
    {0x1F8D,0x1F0D,0x345}, {0x1F8E,0x1F0E,0x345}, {0x1F8F,0x1F0F,0x345}, {0x1F90,0x1F20,0x345},
    {0x1F91,0x1F21,0x345}, {0x1F92,0x1F22,0x345}, {0x1F93,0x1F23,0x345}, {0x1F94,0x1F24,0x345},
    {0x1F95,0x1F25,0x345}, {0x1F96,0x1F26,0x345}, {0x1F97,0x1F27,0x345}, {0x1F98,0x1F28,0x345},
    {0x1F99,0x1F29,0x345}, {0x1F9A,0x1F2A,0x345}, {0x1F9B,0x1F2B,0x345}, {0x1F9C,0x1F2C,0x345},
    {0x1F9D,0x1F2D,0x345}, {0x1F9E,0x1F2E,0x345}, {0x1F9F,0x1F2F,0x345}, {0x1FA0,0x1F60,0x345},
    {0x1FA1,0x1F61,0x345}, {0x1FA2,0x1F62,0x345}, {0x1FA3,0x1F63,0x345}, {0x1FA4,0x1F64,0x345},
    {0x1FA5,0x1F65,0x345}, {0x1FA6,0x1F66,0x345}, {0x1FA7,0x1F67,0x345}, {0x1FA8,0x1F68,0x345},
    {0x1FA9,0x1F69,0x345}, {0x1FAA,0x1F6A,0x345}, {0x1FAB,0x1F6B,0x345}, {0x1FAC,0x1F6C,0x345},
    {0x1FAD,0x1F6D,0x345}, {0x1FAE,0x1F6E,0x345}, {0x1FAF,0x1F6F,0x345}, {0x1FB0,0x3B1,0x306},
    {0x1FB1,0x3B1,0x304}, {0x1FB2,0x1F70,0x345}, {0x1FB3,0x3B1,0x345}, {0x1FB4,0x3AC,0x345},
    {0x1FB6,0x3B1,0x342}, {0x1FB7,0x1FB6,0x345}, {0x1FB8,0x391,0x306}, {0x1FB9,0x391,0x304},
    {0x1FBA,0x391,0x300}, {0x1FBB,0x386,0x0}, {0x1FBC,0x391,0x345}, {0x1FBE,0x3B9,0x0}, {0x1FC1,0xA8,0x342},
    {0x1FC2,0x1F74,0x345}, {0x1FC3,0x3B7,0x345}, {0x1FC4,0x3AE,0x345}, {0x1FC6,0x3B7,0x342},
    {0x1FC7,0x1FC6,0x345}, {0x1FC8,0x395,0x300}, {0x1FC9,0x388,0x0}, {0x1FCA,0x397,0x300}, {0x1FCB,0x389,0x0},
    {0x1FCC,0x397,0x345}, {0x1FCD,0x1FBF,0x300}, {0x1FCE,0x1FBF,0x301}, {0x1FCF,0x1FBF,0x342},
    {0x1FD0,0x3B9,0x306}, {0x1FD1,0x3B9,0x304}, {0x1FD2,0x3CA,0x300}, {0x1FD3,0x390,0x0},
    {0x1FD6,0x3B9,0x342}, {0x1FD7,0x3CA,0x342}, {0x1FD8,0x399,0x306}, {0x1FD9,0x399,0x304},
    {0x1FDA,0x399,0x300}, {0x1FDB,0x38A,0x0}, {0x1FDD,0x1FFE,0x300}, {0x1FDE,0x1FFE,0x301},
    {0x1FDF,0x1FFE,0x342}, {0x1FE0,0x3C5,0x306}, {0x1FE1,0x3C5,0x304}, {0x1FE2,0x3CB,0x300},
    {0x1FE3,0x3B0,0x0}, {0x1FE4,0x3C1,0x313}, {0x1FE5,0x3C1,0x314}, {0x1FE6,0x3C5,0x342},
    {0x1FE7,0x3CB,0x342}, {0x1FE8,0x3A5,0x306}, {0x1FE9,0x3A5,0x304}, {0x1FEA,0x3A5,0x300},
    {0x1FEB,0x38E,0x0}, {0x1FEC,0x3A1,0x314}, {0x1FED,0xA8,0x300}, {0x1FEE,0x385,0x0}, {0x1FEF,0x60,0x0},
    {0x1FF2,0x1F7C,0x345}, {0x1FF3,0x3C9,0x345}, {0x1FF4,0x3CE,0x345}, {0x1FF6,0x3C9,0x342},
    {0x1FF7,0x1FF6,0x345}, {0x1FF8,0x39F,0x300}, {0x1FF9,0x38C,0x0}, {0x1FFA,0x3A9,0x300}, {0x1FFB,0x38F,0x0},
    {0x1FFC,0x3A9,0x345}, {0x1FFD,0xB4,0x0}, {0x2000,0x2002,0x0}, {0x2001,0x2003,0x0}, {0x2126,0x3A9,0x0},
    {0x212A,0x4B,0x0}, {0x212B,0xC5,0x0}, {0x219A,0x2190,0x338}, {0x219B,0x2192,0x338}, {0x21AE,0x2194,0x338},
    {0x21CD,0x21D0,0x338}, {0x21CE,0x21D4,0x338}, {0x21CF,0x21D2,0x338}, {0x2204,0x2203,0x338},
    {0x2209,0x2208,0x338}, {0x220C,0x220B,0x338}, {0x2224,0x2223,0x338}, {0x2226,0x2225,0x338},
    {0x2241,0x223C,0x338}, {0x2244,0x2243,0x338}, {0x2247,0x2245,0x338}, {0x2249,0x2248,0x338},
    {0x2260,0x3D,0x338}, {0x2262,0x2261,0x338}, {0x226D,0x224D,0x338}, {0x226E,0x3C,0x338},
    {0x226F,0x3E,0x338}, {0x2270,0x2264,0x338}, {0x2271,0x2265,0x338}, {0x2274,0x2272,0x338},
    {0x2275,0x2273,0x338}, {0x2278,0x2276,0x338}, {0x2279,0x2277,0x338}, {0x2280,0x227A,0x338},
    {0x2281,0x227B,0x338}, {0x2284,0x2282,0x338}, {0x2285,0x2283,0x338}, {0x2288,0x2286,0x338},
    {0x2289,0x2287,0x338}, {0x22AC,0x22A2,0x338}, {0x22AD,0x22A8,0x338}, {0x22AE,0x22A9,0x338},
    {0x22AF,0x22AB,0x338}, {0x22E0,0x227C,0x338}, {0x22E1,0x227D,0x338}, {0x22E2,0x2291,0x338},
    {0x22E3,0x2292,0x338}, {0x22EA,0x22B2,0x338}, {0x22EB,0x22B3,0x338}, {0x22EC,0x22B4,0x338},
    {0x22ED,0x22B5,0x338}, {0x2329,0x3008,0x0}, {0x232A,0x3009,0x0}, {0x2ADC,0x2ADD,0x338},
    {0x304C,0x304B,0x3099}, {0x304E,0x304D,0x3099}, {0x3050,0x304F,0x3099}, {0x3052,0x3051,0x3099},
    {0x3054,0x3053,0x3099}, {0x3056,0x3055,0x3099}, {0x3058,0x3057,0x3099}, {0x305A,0x3059,0x3099},
    {0x305C,0x305B,0x3099}, {0x305E,0x305D,0x3099}, {0x3060,0x305F,0x3099}, {0x3062,0x3061,0x3099},
    {0x3065,0x3064,0x3099}, {0x3067,0x3066,0x3099}, {0x3069,0x3068,0x3099}, {0x3070,0x306F,0x3099},
    {0x3071,0x306F,0x309A}, {0x3073,0x3072,0x3099}, {0x3074,0x3072,0x309A}, {0x3076,0x3075,0x3099},
    {0x3077,0x3075,0x309A}, {0x3079,0x3078,0x3099}, {0x307A,0x3078,0x309A}, {0x307C,0x307B,0x3099},
    {0x307D,0x307B,0x309A}, {0x3094,0x3046,0x3099}, {0x309E,0x309D,0x3099}, {0x30AC,0x30AB,0x3099},
    {0x30AE,0x30AD,0x3099}, {0x30B0,0x30AF,0x3099}, {0x30B2,0x30B1,0x3099}, {0x30B4,0x30B3,0x3099},
    {0x30B6,0x30B5,0x3099}, {0x30B8,0x30B7,0x3099}, {0x30BA,0x30B9,0x3099}, {0x30BC,0x30BB,0x3099},
    {0x30BE,0x30BD,0x3099}, {0x30C0,0x30BF,0x3099}, {0x30C2,0x30C1,0x3099}, {0x30C5,0x30C4,0x3099},
    {0x30C7,0x30C6,0x3099}, {0x30C9,0x30C8,0x3099}, {0x30D0,0x30CF,0x3099}, {0x30D1,0x30CF,0x309A},
    {0x30D3,0x30D2,0x3099}, {0x30D4,0x30D2,0x309A}, {0x30D6,0x30D5,0x3099}, {0x30D7,0x30D5,0x309A},
    {0x30D9,0x30D8,0x3099}, {0x30DA,0x30D8,0x309A}, {0x30DC,0x30DB,0x3099}, {0x30DD,0x30DB,0x309A},
    {0x30F4,0x30A6,0x3099}, {0x30F7,0x30EF,0x3099}, {0x30F8,0x30F0,0x3099}, {0x30F9,0x30F1,0x3099},
    {0x30FA,0x30F2,0x3099}, {0x30FE,0x30FD,0x3099}, {0xF900,0x8C48,0x0}, {0xF901,0x66F4,0x0},
    {0xF902,0x8ECA,0x0}, {0xF903,0x8CC8,0x0}, {0xF904,0x6ED1,0x0}, {0xF905,0x4E32,0x0}, {0xF906,0x53E5,0x0},
    {0xF907,0x9F9C,0x0}, {0xF908,0x9F9C,0x0}, {0xF909,0x5951,0x0}, {0xF90A,0x91D1,0x0}, {0xF90B,0x5587,0x0},
    {0xF90C,0x5948,0x0}, {0xF90D,0x61F6,0x0}, {0xF90E,0x7669,0x0}, {0xF90F,0x7F85,0x0}, {0xF910,0x863F,0x0},
    {0xF911,0x87BA,0x0}, {0xF912,0x88F8,0x0}, {0xF913,0x908F,0x0}, {0xF914,0x6A02,0x0}, {0xF915,0x6D1B,0x0},
    {0xF916,0x70D9,0x0}, {0xF917,0x73DE,0x0}, {0xF918,0x843D,0x0}, {0xF919,0x916A,0x0}, {0xF91A,0x99F1,0x0},
    {0xF91B,0x4E82,0x0}, {0xF91C,0x5375,0x0}, {0xF91D,0x6B04,0x0}, {0xF91E,0x721B,0x0}, {0xF91F,0x862D,0x0},
    {0xF920,0x9E1E,0x0}, {0xF921,0x5D50,0x0}, {0xF922,0x6FEB,0x0}, {0xF923,0x85CD,0x0}, {0xF924,0x8964,0x0},
    {0xF925,0x62C9,0x0}, {0xF926,0x81D8,0x0}, {0xF927,0x881F,0x0}, {0xF928,0x5ECA,0x0}, {0xF929,0x6717,0x0},
    {0xF92A,0x6D6A,0x0}, {0xF92B,0x72FC,0x0}, {0xF92C,0x90CE,0x0}, {0xF92D,0x4F86,0x0}, {0xF92E,0x51B7,0x0},
    {0xF92F,0x52DE,0x0}, {0xF930,0x64C4,0x0}, {0xF931,0x6AD3,0x0}, {0xF932,0x7210,0x0}, {0xF933,0x76E7,0x0},
    {0xF934,0x8001,0x0}, {0xF935,0x8606,0x0}, {0xF936,0x865C,0x0}, {0xF937,0x8DEF,0x0}, {0xF938,0x9732,0x0},
    {0xF939,0x9B6F,0x0}, {0xF93A,0x9DFA,0x0}, {0xF93B,0x788C,0x0}, {0xF93C,0x797F,0x0}, {0xF93D,0x7DA0,0x0},
    {0xF93E,0x83C9,0x0}, {0xF93F,0x9304,0x0}, {0xF940,0x9E7F,0x0}, {0xF941,0x8AD6,0x0}, {0xF942,0x58DF,0x0},
    {0xF943,0x5F04,0x0}, {0xF944,0x7C60,0x0}, {0xF945,0x807E,0x0}, {0xF946,0x7262,0x0}, {0xF947,0x78CA,0x0},
    {0xF948,0x8CC2,0x0}, {0xF949,0x96F7,0x0}, {0xF94A,0x58D8,0x0}, {0xF94B,0x5C62,0x0}, {0xF94C,0x6A13,0x0},
    {0xF94D,0x6DDA,0x0}, {0xF94E,0x6F0F,0x0}, {0xF94F,0x7D2F,0x0}, {0xF950,0x7E37,0x0}, {0xF951,0x964B,0x0},
    {0xF952,0x52D2,0x0}, {0xF953,0x808B,0x0}, {0xF954,0x51DC,0x0}, {0xF955,0x51CC,0x0}, {0xF956,0x7A1C,0x0},
    {0xF957,0x7DBE,0x0}, {0xF958,0x83F1,0x0}, {0xF959,0x9675,0x0}, {0xF95A,0x8B80,0x0}, {0xF95B,0x62CF,0x0},
    {0xF95C,0x6A02,0x0}, {0xF95D,0x8AFE,0x0}, {0xF95E,0x4E39,0x0}, {0xF95F,0x5BE7,0x0}, {0xF960,0x6012,0x0},
    {0xF961,0x7387,0x0}, {0xF962,0x7570,0x0}, {0xF963,0x5317,0x0}, {0xF964,0x78FB,0x0}, {0xF965,0x4FBF,0x0},
    {0xF966,0x5FA9,0x0}, {0xF967,0x4E0D,0x0}, {0xF968,0x6CCC,0x0}, {0xF969,0x6578,0x0}, {0xF96A,0x7D22,0x0},
    {0xF96B,0x53C3,0x0}, {0xF96C,0x585E,0x0}, {0xF96D,0x7701,0x0}, {0xF96E,0x8449,0x0}, {0xF96F,0x8AAA,0x0},
    {0xF970,0x6BBA,0x0}, {0xF971,0x8FB0,0x0}, {0xF972,0x6C88,0x0}, {0xF973,0x62FE,0x0}, {0xF974,0x82E5,0x0},
    {0xF975,0x63A0,0x0}, {0xF976,0x7565,0x0}, {0xF977,0x4EAE,0x0}, {0xF978,0x5169,0x0}, {0xF979,0x51C9,0x0},
    {0xF97A,0x6881,0x0}, {0xF97B,0x7CE7,0x0}, {0xF97C,0x826F,0x0}, {0xF97D,0x8AD2,0x0}, {0xF97E,0x91CF,0x0},
    {0xF97F,0x52F5,0x0}, {0xF980,0x5442,0x0}, {0xF981,0x5973,0x0}, {0xF982,0x5EEC,0x0}, {0xF983,0x65C5,0x0},
    {0xF984,0x6FFE,0x0}, {0xF985,0x792A,0x0}, {0xF986,0x95AD,0x0}, {0xF987,0x9A6A,0x0}, {0xF988,0x9E97,0x0},
    {0xF989,0x9ECE,0x0}, {0xF98A,0x529B,0x0}, {0xF98B,0x66C6,0x0}, {0xF98C,0x6B77,0x0}, {0xF98D,0x8F62,0x0},
    {0xF98E,0x5E74,0x0}, {0xF98F,0x6190,0x0}, {0xF990,0x6200,0x0}, {0xF991,0x649A,0x0}, {0xF992,0x6F23,0x0},
    {0xF993,0x7149,0x0}, {0xF994,0x7489,0x0}, {0xF995,0x79CA,0x0}, {0xF996,0x7DF4,0x0}, {0xF997,0x806F,0x0},
    {0xF998,0x8F26,0x0}, {0xF999,0x84EE,0x0}, {0xF99A,0x9023,0x0}, {0xF99B,0x934A,0x0}, {0xF99C,0x5217,0x0},
    {0xF99D,0x52A3,0x0}, {0xF99E,0x54BD,0x0}, {0xF99F,0x70C8,0x0}, {0xF9A0,0x88C2,0x0}, {0xF9A1,0x8AAA,0x0},
    {0xF9A2,0x5EC9,0x0}, {0xF9A3,0x5FF5,0x0}, {0xF9A4,0x637B,0x0}, {0xF9A5,0x6BAE,0x0}, {0xF9A6,0x7C3E,0x0},
    {0xF9A7,0x7375,0x0}, {0xF9A8,0x4EE4,0x0}, {0xF9A9,0x56F9,0x0}, {0xF9AA,0x5BE7,0x0}, {0xF9AB,0x5DBA,0x0},
    {0xF9AC,0x601C,0x0}, {0xF9AD,0x73B2,0x0}, {0xF9AE,0x7469,0x0}, {0xF9AF,0x7F9A,0x0}, {0xF9B0,0x8046,0x0},
    {0xF9B1,0x9234,0x0}, {0xF9B2,0x96F6,0x0}, {0xF9B3,0x9748,0x0}, {0xF9B4,0x9818,0x0}, {0xF9B5,0x4F8B,0x0},
    {0xF9B6,0x79AE,0x0}, {0xF9B7,0x91B4,0x0}, {0xF9B8,0x96B8,0x0}, {0xF9B9,0x60E1,0x0}, {0xF9BA,0x4E86,0x0},
    {0xF9BB,0x50DA,0x0}, {0xF9BC,0x5BEE,0x0}, {0xF9BD,0x5C3F,0x0}, {0xF9BE,0x6599,0x0}, {0xF9BF,0x6A02,0x0},
    {0xF9C0,0x71CE,0x0}, {0xF9C1,0x7642,0x0}, {0xF9C2,0x84FC,0x0}, {0xF9C3,0x907C,0x0}, {0xF9C4,0x9F8D,0x0},
    {0xF9C5,0x6688,0x0}, {0xF9C6,0x962E,0x0}, {0xF9C7,0x5289,0x0}, {0xF9C8,0x677B,0x0}, {0xF9C9,0x67F3,0x0},
    {0xF9CA,0x6D41,0x0}, {0xF9CB,0x6E9C,0x0}, {0xF9CC,0x7409,0x0}, {0xF9CD,0x7559,0x0}, {0xF9CE,0x786B,0x0},
    {0xF9CF,0x7D10,0x0}, {0xF9D0,0x985E,0x0}, {0xF9D1,0x516D,0x0}, {0xF9D2,0x622E,0x0}, {0xF9D3,0x9678,0x0},
    {0xF9D4,0x502B,0x0}, {0xF9D5,0x5D19,0x0}, {0xF9D6,0x6DEA,0x0}, {0xF9D7,0x8F2A,0x0}, {0xF9D8,0x5F8B,0x0},
    {0xF9D9,0x6144,0x0}, {0xF9DA,0x6817,0x0}, {0xF9DB,0x7387,0x0}, {0xF9DC,0x9686,0x0}, {0xF9DD,0x5229,0x0},
    {0xF9DE,0x540F,0x0}, {0xF9DF,0x5C65,0x0}, {0xF9E0,0x6613,0x0}, {0xF9E1,0x674E,0x0}, {0xF9E2,0x68A8,0x0},
    {0xF9E3,0x6CE5,0x0}, {0xF9E4,0x7406,0x0}, {0xF9E5,0x75E2,0x0}, {0xF9E6,0x7F79,0x0}, {0xF9E7,0x88CF,0x0},
    {0xF9E8,0x88E1,0x0}, {0xF9E9,0x91CC,0x0}, {0xF9EA,0x96E2,0x0}, {0xF9EB,0x533F,0x0}, {0xF9EC,0x6EBA,0x0},
    {0xF9ED,0x541D,0x0}, {0xF9EE,0x71D0,0x0}, {0xF9EF,0x7498,0x0}, {0xF9F0,0x85FA,0x0}, {0xF9F1,0x96A3,0x0},
    {0xF9F2,0x9C57,0x0}, {0xF9F3,0x9E9F,0x0}, {0xF9F4,0x6797,0x0}, {0xF9F5,0x6DCB,0x0}, {0xF9F6,0x81E8,0x0},
    {0xF9F7,0x7ACB,0x0}, {0xF9F8,0x7B20,0x0}, {0xF9F9,0x7C92,0x0}, {0xF9FA,0x72C0,0x0}, {0xF9FB,0x7099,0x0},
    {0xF9FC,0x8B58,0x0}, {0xF9FD,0x4EC0,0x0}, {0xF9FE,0x8336,0x0}, {0xF9FF,0x523A,0x0}, {0xFA00,0x5207,0x0},
    {0xFA01,0x5EA6,0x0}, {0xFA02,0x62D3,0x0}, {0xFA03,0x7CD6,0x0}, {0xFA04,0x5B85,0x0}, {0xFA05,0x6D1E,0x0},
    {0xFA06,0x66B4,0x0}, {0xFA07,0x8F3B,0x0}, {0xFA08,0x884C,0x0}, {0xFA09,0x964D,0x0}, {0xFA0A,0x898B,0x0},
    {0xFA0B,0x5ED3,0x0}, {0xFA0C,0x5140,0x0}, {0xFA0D,0x55C0,0x0}, {0xFA10,0x585A,0x0}, {0xFA12,0x6674,0x0},
    {0xFA15,0x51DE,0x0}, {0xFA16,0x732A,0x0}, {0xFA17,0x76CA,0x0}, {0xFA18,0x793C,0x0}, {0xFA19,0x795E,0x0},
    {0xFA1A,0x7965,0x0}, {0xFA1B,0x798F,0x0}, {0xFA1C,0x9756,0x0}, {0xFA1D,0x7CBE,0x0}, {0xFA1E,0x7FBD,0x0},
    {0xFA20,0x8612,0x0}, {0xFA22,0x8AF8,0x0}, {0xFA25,0x9038,0x0}, {0xFA26,0x90FD,0x0}, {0xFA2A,0x98EF,0x0},
    {0xFA2B,0x98FC,0x0}, {0xFA2C,0x9928,0x0}, {0xFA2D,0x9DB4,0x0}, {0xFA2E,0x90DE,0x0}, {0xFA2F,0x96B7,0x0},
    {0xFA30,0x4FAE,0x0}, {0xFA31,0x50E7,0x0}, {0xFA32,0x514D,0x0}, {0xFA33,0x52C9,0x0}, {0xFA34,0x52E4,0x0},
    {0xFA35,0x5351,0x0}, {0xFA36,0x559D,0x0}, {0xFA37,0x5606,0x0}, {0xFA38,0x5668,0x0}, {0xFA39,0x5840,0x0},
    {0xFA3A,0x58A8,0x0}, {0xFA3B,0x5C64,0x0}, {0xFA3C,0x5C6E,0x0}, {0xFA3D,0x6094,0x0}, {0xFA3E,0x6168,0x0},
    {0xFA3F,0x618E,0x0}, {0xFA40,0x61F2,0x0}, {0xFA41,0x654F,0x0}, {0xFA42,0x65E2,0x0}, {0xFA43,0x6691,0x0},
    {0xFA44,0x6885,0x0}, {0xFA45,0x6D77,0x0}, {0xFA46,0x6E1A,0x0}, {0xFA47,0x6F22,0x0}, {0xFA48,0x716E,0x0},
    {0xFA49,0x722B,0x0}, {0xFA4A,0x7422,0x0}, {0xFA4B,0x7891,0x0}, {0xFA4C,0x793E,0x0}, {0xFA4D,0x7949,0x0},
    {0xFA4E,0x7948,0x0}, {0xFA4F,0x7950,0x0}, {0xFA50,0x7956,0x0}, {0xFA51,0x795D,0x0}, {0xFA52,0x798D,0x0},
    {0xFA53,0x798E,0x0}, {0xFA54,0x7A40,0x0}, {0xFA55,0x7A81,0x0}, {0xFA56,0x7BC0,0x0}, {0xFA57,0x7DF4,0x0},
    {0xFA58,0x7E09,0x0}, {0xFA59,0x7E41,0x0}, {0xFA5A,0x7F72,0x0}, {0xFA5B,0x8005,0x0}, {0xFA5C,0x81ED,0x0},
    {0xFA5D,0x8279,0x0}, {0xFA5E,0x8279,0x0}, {0xFA5F,0x8457,0x0}, {0xFA60,0x8910,0x0}, {0xFA61,0x8996,0x0},
    {0xFA62,0x8B01,0x0}, {0xFA63,0x8B39,0x0}, {0xFA64,0x8CD3,0x0}, {0xFA65,0x8D08,0x0}, {0xFA66,0x8FB6,0x0},
    {0xFA67,0x9038,0x0}, {0xFA68,0x96E3,0x0}, {0xFA69,0x97FF,0x0}, {0xFA6A,0x983B,0x0}, {0xFA6B,0x6075,0x0},
    {0xFA6C,0x242EE,0x0}, {0xFA6D,0x8218,0x0}, {0xFA70,0x4E26,0x0}, {0xFA71,0x51B5,0x0}, {0xFA72,0x5168,0x0},
    {0xFA73,0x4F80,0x0}, {0xFA74,0x5145,0x0}, {0xFA75,0x5180,0x0}, {0xFA76,0x52C7,0x0}, {0xFA77,0x52FA,0x0},
    {0xFA78,0x559D,0x0}, {0xFA79,0x5555,0x0}, {0xFA7A,0x5599,0x0}, {0xFA7B,0x55E2,0x0}, {0xFA7C,0x585A,0x0},
    {0xFA7D,0x58B3,0x0}, {0xFA7E,0x5944,0x0}, {0xFA7F,0x5954,0x0}, {0xFA80,0x5A62,0x0}, {0xFA81,0x5B28,0x0},
    {0xFA82,0x5ED2,0x0}, {0xFA83,0x5ED9,0x0}, {0xFA84,0x5F69,0x0}, {0xFA85,0x5FAD,0x0}, {0xFA86,0x60D8,0x0},
    {0xFA87,0x614E,0x0}, {0xFA88,0x6108,0x0}, {0xFA89,0x618E,0x0}, {0xFA8A,0x6160,0x0}, {0xFA8B,0x61F2,0x0},
    {0xFA8C,0x6234,0x0}, {0xFA8D,0x63C4,0x0}, {0xFA8E,0x641C,0x0}, {0xFA8F,0x6452,0x0}, {0xFA90,0x6556,0x0},
    {0xFA91,0x6674,0x0}, {0xFA92,0x6717,0x0}, {0xFA93,0x671B,0x0}, {0xFA94,0x6756,0x0}, {0xFA95,0x6B79,0x0},
    {0xFA96,0x6BBA,0x0}, {0xFA97,0x6D41,0x0}, {0xFA98,0x6EDB,0x0}, {0xFA99,0x6ECB,0x0}, {0xFA9A,0x6F22,0x0},
    {0xFA9B,0x701E,0x0}, {0xFA9C,0x716E,0x0}, {0xFA9D,0x77A7,0x0}, {0xFA9E,0x7235,0x0}, {0xFA9F,0x72AF,0x0},
    {0xFAA0,0x732A,0x0}, {0xFAA1,0x7471,0x0}, {0xFAA2,0x7506,0x0}, {0xFAA3,0x753B,0x0}, {0xFAA4,0x761D,0x0},
    {0xFAA5,0x761F,0x0}, {0xFAA6,0x76CA,0x0}, {0xFAA7,0x76DB,0x0}, {0xFAA8,0x76F4,0x0}, {0xFAA9,0x774A,0x0},
    {0xFAAA,0x7740,0x0}, {0xFAAB,0x78CC,0x0}, {0xFAAC,0x7AB1,0x0}, {0xFAAD,0x7BC0,0x0}, {0xFAAE,0x7C7B,0x0},
    {0xFAAF,0x7D5B,0x0}, {0xFAB0,0x7DF4,0x0}, {0xFAB1,0x7F3E,0x0}, {0xFAB2,0x8005,0x0}, {0xFAB3,0x8352,0x0},
    {0xFAB4,0x83EF,0x0}, {0xFAB5,0x8779,0x0}, {0xFAB6,0x8941,0x0}, {0xFAB7,0x8986,0x0}, {0xFAB8,0x8996,0x0},
    {0xFAB9,0x8ABF,0x0}, {0xFABA,0x8AF8,0x0}, {0xFABB,0x8ACB,0x0}, {0xFABC,0x8B01,0x0}, {0xFABD,0x8AFE,0x0},
    {0xFABE,0x8AED,0x0}, {0xFABF,0x8B39,0x0}, {0xFAC0,0x8B8A,0x0}, {0xFAC1,0x8D08,0x0}, {0xFAC2,0x8F38,0x0},
    {0xFAC3,0x9072,0x0}, {0xFAC4,0x9199,0x0}, {0xFAC5,0x9276,0x0}, {0xFAC6,0x967C,0x0}, {0xFAC7,0x96E3,0x0},
    {0xFAC8,0x9756,0x0}, {0xFAC9,0x97DB,0x0}, {0xFACA,0x97FF,0x0}, {0xFACB,0x980B,0x0}, {0xFACC,0x983B,0x0},
    {0xFACD,0x9B12,0x0}, {0xFACE,0x9F9C,0x0}, {0xFACF,0x2284A,0x0}, {0xFAD0,0x22844,0x0},
    {0xFAD1,0x233D5,0x0}, {0xFAD2,0x3B9D,0x0}, {0xFAD3,0x4018,0x0}, {0xFAD4,0x4039,0x0}, {0xFAD5,0x25249,0x0},
    {0xFAD6,0x25CD0,0x0}, {0xFAD7,0x27ED3,0x0}, {0xFAD8,0x9F43,0x0}, {0xFAD9,0x9F8E,0x0},
    {0xFB1D,0x5D9,0x5B4}, {0xFB1F,0x5F2,0x5B7}, {0xFB2A,0x5E9,0x5C1}, {0xFB2B,0x5E9,0x5C2},
    {0xFB2C,0xFB49,0x5C1}, {0xFB2D,0xFB49,0x5C2}, {0xFB2E,0x5D0,0x5B7}, {0xFB2F,0x5D0,0x5B8},
    {0xFB30,0x5D0,0x5BC}, {0xFB31,0x5D1,0x5BC}, {0xFB32,0x5D2,0x5BC}, {0xFB33,0x5D3,0x5BC},
    {0xFB34,0x5D4,0x5BC}, {0xFB35,0x5D5,0x5BC}, {0xFB36,0x5D6,0x5BC}, {0xFB38,0x5D8,0x5BC},
    {0xFB39,0x5D9,0x5BC}, {0xFB3A,0x5DA,0x5BC}, {0xFB3B,0x5DB,0x5BC}, {0xFB3C,0x5DC,0x5BC},
    {0xFB3E,0x5DE,0x5BC}, {0xFB40,0x5E0,0x5BC}, {0xFB41,0x5E1,0x5BC}, {0xFB43,0x5E3,0x5BC},
    {0xFB44,0x5E4,0x5BC}, {0xFB46,0x5E6,0x5BC}, {0xFB47,0x5E7,0x5BC}, {0xFB48,0x5E8,0x5BC},
    {0xFB49,0x5E9,0x5BC}, {0xFB4A,0x5EA,0x5BC}, {0xFB4B,0x5D5,0x5B9}, {0xFB4C,0x5D1,0x5BF},
    {0xFB4D,0x5DB,0x5BF}, {0xFB4E,0x5E4,0x5BF}, {0x105C9,0x105D2,0x307}, {0x105E4,0x105DA,0x307},
    {0x1109A,0x11099,0x110BA}, {0x1109C,0x1109B,0x110BA}, {0x110AB,0x110A5,0x110BA},
    {0x1112E,0x11131,0x11127}, {0x1112F,0x11132,0x11127}, {0x1134B,0x11347,0x1133E},
    {0x1134C,0x11347,0x11357}, {0x11383,0x11382,0x113C9}, {0x11385,0x11384,0x113BB},
    {0x1138E,0x1138B,0x113C2}, {0x11391,0x11390,0x113C9}, {0x113C5,0x113C2,0x113C2},
    {0x113C7,0x113C2,0x113B8}, {0x113C8,0x113C2,0x113C9}, {0x114BB,0x114B9,0x114BA},
    {0x114BC,0x114B9,0x114B0}, {0x114BE,0x114B9,0x114BD}, {0x115BA,0x115B8,0x115AF},
    {0x115BB,0x115B9,0x115AF}, {0x11938,0x11935,0x11930}, {0x16121,0x1611E,0x1611E},
    {0x16122,0x1611E,0x16129}, {0x16123,0x1611E,0x1611F}, {0x16124,0x16129,0x1611F},
    {0x16125,0x1611E,0x16120}, {0x16126,0x16121,0x1611F}, {0x16127,0x16122,0x1611F},
    {0x16128,0x16121,0x16120}, {0x16D68,0x16D67,0x16D67}, {0x16D69,0x16D63,0x16D67},
    {0x16D6A,0x16D69,0x16D67}, {0x1D15E,0x1D157,0x1D165}, {0x1D15F,0x1D158,0x1D165},
    {0x1D160,0x1D15F,0x1D16E}, {0x1D161,0x1D15F,0x1D16F}, {0x1D162,0x1D15F,0x1D170},
    {0x1D163,0x1D15F,0x1D171}, {0x1D164,0x1D15F,0x1D172}, {0x1D1BB,0x1D1B9,0x1D165},
    {0x1D1BC,0x1D1BA,0x1D165}, {0x1D1BD,0x1D1BB,0x1D16E}, {0x1D1BE,0x1D1BC,0x1D16E},
    {0x1D1BF,0x1D1BB,0x1D16F}, {0x1D1C0,0x1D1BC,0x1D16F}, {0x2F800,0x4E3D,0x0}, {0x2F801,0x4E38,0x0},
    {0x2F802,0x4E41,0x0}, {0x2F803,0x20122,0x0}, {0x2F804,0x4F60,0x0}, {0x2F805,0x4FAE,0x0},
    {0x2F806,0x4FBB,0x0}, {0x2F807,0x5002,0x0}, {0x2F808,0x507A,0x0}, {0x2F809,0x5099,0x0},
    {0x2F80A,0x50E7,0x0}, {0x2F80B,0x50CF,0x0}, {0x2F80C,0x349E,0x0}, {0x2F80D,0x2063A,0x0},
    {0x2F80E,0x514D,0x0}, {0x2F80F,0x5154,0x0}, {0x2F810,0x5164,0x0}, {0x2F811,0x5177,0x0},
    {0x2F812,0x2051C,0x0}, {0x2F813,0x34B9,0x0}, {0x2F814,0x5167,0x0}, {0x2F815,0x518D,0x0},
    {0x2F816,0x2054B,0x0}, {0x2F817,0x5197,0x0}, {0x2F818,0x51A4,0x0}, {0x2F819,0x4ECC,0x0},
    {0x2F81A,0x51AC,0x0}, {0x2F81B,0x51B5,0x0}, {0x2F81C,0x291DF,0x0}, {0x2F81D,0x51F5,0x0},
    {0x2F81E,0x5203,0x0}, {0x2F81F,0x34DF,0x0}, {0x2F820,0x523B,0x0}, {0x2F821,0x5246,0x0},
    {0x2F822,0x5272,0x0}, {0x2F823,0x5277,0x0}, {0x2F824,0x3515,0x0}, {0x2F825,0x52C7,0x0},
    {0x2F826,0x52C9,0x0}, {0x2F827,0x52E4,0x0}, {0x2F828,0x52FA,0x0}, {0x2F829,0x5305,0x0},
    {0x2F82A,0x5306,0x0}, {0x2F82B,0x5317,0x0}, {0x2F82C,0x5349,0x0}, {0x2F82D,0x5351,0x0},
    {0x2F82E,0x535A,0x0}, {0x2F82F,0x5373,0x0}, {0x2F830,0x537D,0x0}, {0x2F831,0x537F,0x0},
    {0x2F832,0x537F,0x0}, {0x2F833,0x537F,0x0}, {0x2F834,0x20A2C,0x0}, {0x2F835,0x7070,0x0},
    {0x2F836,0x53CA,0x0}, {0x2F837,0x53DF,0x0}, {0x2F838,0x20B63,0x0}, {0x2F839,0x53EB,0x0},
    {0x2F83A,0x53F1,0x0}, {0x2F83B,0x5406,0x0}, {0x2F83C,0x549E,0x0}, {0x2F83D,0x5438,0x0},
    {0x2F83E,0x5448,0x0}, {0x2F83F,0x5468,0x0}, {0x2F840,0x54A2,0x0}, {0x2F841,0x54F6,0x0},
    {0x2F842,0x5510,0x0}, {0x2F843,0x5553,0x0}, {0x2F844,0x5563,0x0}, {0x2F845,0x5584,0x0},
    {0x2F846,0x5584,0x0}, {0x2F847,0x5599,0x0}, {0x2F848,0x55AB,0x0}, {0x2F849,0x55B3,0x0},
    {0x2F84A,0x55C2,0x0}, {0x2F84B,0x5716,0x0}, {0x2F84C,0x5606,0x0}, {0x2F84D,0x5717,0x0},
    {0x2F84E,0x5651,0x0}, {0x2F84F,0x5674,0x0}, {0x2F850,0x5207,0x0}, {0x2F851,0x58EE,0x0},
    {0x2F852,0x57CE,0x0}, {0x2F853,0x57F4,0x0}, {0x2F854,0x580D,0x0}, {0x2F855,0x578B,0x0},
    {0x2F856,0x5832,0x0}, {0x2F857,0x5831,0x0}, {0x2F858,0x58AC,0x0}, {0x2F859,0x214E4,0x0},
    {0x2F85A,0x58F2,0x0}, {0x2F85B,0x58F7,0x0}, {0x2F85C,0x5906,0x0}, {0x2F85D,0x591A,0x0},
    {0x2F85E,0x5922,0x0}, {0x2F85F,0x5962,0x0}, {0x2F860,0x216A8,0x0}, {0x2F861,0x216EA,0x0},
    {0x2F862,0x59EC,0x0}, {0x2F863,0x5A1B,0x0}, {0x2F864,0x5A27,0x0}, {0x2F865,0x59D8,0x0},
    {0x2F866,0x5A66,0x0}, {0x2F867,0x36EE,0x0}, {0x2F868,0x36FC,0x0}, {0x2F869,0x5B08,0x0},
    {0x2F86A,0x5B3E,0x0}, {0x2F86B,0x5B3E,0x0}, {0x2F86C,0x219C8,0x0}, {0x2F86D,0x5BC3,0x0},
    {0x2F86E,0x5BD8,0x0}, {0x2F86F,0x5BE7,0x0}, {0x2F870,0x5BF3,0x0}, {0x2F871,0x21B18,0x0},
    {0x2F872,0x5BFF,0x0}, {0x2F873,0x5C06,0x0}, {0x2F874,0x5F53,0x0}, {0x2F875,0x5C22,0x0},
    {0x2F876,0x3781,0x0}, {0x2F877,0x5C60,0x0}, {0x2F878,0x5C6E,0x0}, {0x2F879,0x5CC0,0x0},
    {0x2F87A,0x5C8D,0x0}, {0x2F87B,0x21DE4,0x0}, {0x2F87C,0x5D43,0x0}, {0x2F87D,0x21DE6,0x0},
    {0x2F87E,0x5D6E,0x0}, {0x2F87F,0x5D6B,0x0}, {0x2F880,0x5D7C,0x0}, {0x2F881,0x5DE1,0x0},
    {0x2F882,0x5DE2,0x0}, {0x2F883,0x382F,0x0}, {0x2F884,0x5DFD,0x0}, {0x2F885,0x5E28,0x0},
    {0x2F886,0x5E3D,0x0}, {0x2F887,0x5E69,0x0}, {0x2F888,0x3862,0x0}, {0x2F889,0x22183,0x0},
    {0x2F88A,0x387C,0x0}, {0x2F88B,0x5EB0,0x0}, {0x2F88C,0x5EB3,0x0}, {0x2F88D,0x5EB6,0x0},
    {0x2F88E,0x5ECA,0x0}, {0x2F88F,0x2A392,0x0}, {0x2F890,0x5EFE,0x0}, {0x2F891,0x22331,0x0},
    {0x2F892,0x22331,0x0}, {0x2F893,0x8201,0x0}, {0x2F894,0x5F22,0x0}, {0x2F895,0x5F22,0x0},
    {0x2F896,0x38C7,0x0}, {0x2F897,0x232B8,0x0}, {0x2F898,0x261DA,0x0}, {0x2F899,0x5F62,0x0},
    {0x2F89A,0x5F6B,0x0}, {0x2F89B,0x38E3,0x0}, {0x2F89C,0x5F9A,0x0}, {0x2F89D,0x5FCD,0x0},
    {0x2F89E,0x5FD7,0x0}, {0x2F89F,0x5FF9,0x0}, {0x2F8A0,0x6081,0x0}, {0x2F8A1,0x393A,0x0},
    {0x2F8A2,0x391C,0x0}, {0x2F8A3,0x6094,0x0}, {0x2F8A4,0x226D4,0x0}, {0x2F8A5,0x60C7,0x0},
    {0x2F8A6,0x6148,0x0}, {0x2F8A7,0x614C,0x0}, {0x2F8A8,0x614E,0x0}, {0x2F8A9,0x614C,0x0},
    {0x2F8AA,0x617A,0x0}, {0x2F8AB,0x618E,0x0}, {0x2F8AC,0x61B2,0x0}, {0x2F8AD,0x61A4,0x0},
    {0x2F8AE,0x61AF,0x0}, {0x2F8AF,0x61DE,0x0}, {0x2F8B0,0x61F2,0x0}, {0x2F8B1,0x61F6,0x0},
    {0x2F8B2,0x6210,0x0}, {0x2F8B3,0x621B,0x0}, {0x2F8B4,0x625D,0x0}, {0x2F8B5,0x62B1,0x0},
    {0x2F8B6,0x62D4,0x0}, {0x2F8B7,0x6350,0x0}, {0x2F8B8,0x22B0C,0x0}, {0x2F8B9,0x633D,0x0},
    {0x2F8BA,0x62FC,0x0}, {0x2F8BB,0x6368,0x0}, {0x2F8BC,0x6383,0x0}, {0x2F8BD,0x63E4,0x0},
    {0x2F8BE,0x22BF1,0x0}, {0x2F8BF,0x6422,0x0}, {0x2F8C0,0x63C5,0x0}, {0x2F8C1,0x63A9,0x0},
    {0x2F8C2,0x3A2E,0x0}, {0x2F8C3,0x6469,0x0}, {0x2F8C4,0x647E,0x0}, {0x2F8C5,0x649D,0x0},
    {0x2F8C6,0x6477,0x0}, {0x2F8C7,0x3A6C,0x0}, {0x2F8C8,0x654F,0x0}, {0x2F8C9,0x656C,0x0},
    {0x2F8CA,0x2300A,0x0}, {0x2F8CB,0x65E3,0x0}, {0x2F8CC,0x66F8,0x0}, {0x2F8CD,0x6649,0x0},
    {0x2F8CE,0x3B19,0x0}, {0x2F8CF,0x6691,0x0}, {0x2F8D0,0x3B08,0x0}, {0x2F8D1,0x3AE4,0x0},
    {0x2F8D2,0x5192,0x0}, {0x2F8D3,0x5195,0x0}, {0x2F8D4,0x6700,0x0}, {0x2F8D5,0x669C,0x0},
    {0x2F8D6,0x80AD,0x0}, {0x2F8D7,0x43D9,0x0}, {0x2F8D8,0x6717,0x0}, {0x2F8D9,0x671B,0x0},
    {0x2F8DA,0x6721,0x0}, {0x2F8DB,0x675E,0x0}, {0x2F8DC,0x6753,0x0}, {0x2F8DD,0x233C3,0x0},
    {0x2F8DE,0x3B49,0x0}, {0x2F8DF,0x67FA,0x0}, {0x2F8E0,0x6785,0x0}, {0x2F8E1,0x6852,0x0},
    {0x2F8E2,0x6885,0x0}, {0x2F8E3,0x2346D,0x0}, {0x2F8E4,0x688E,0x0}, {0x2F8E5,0x681F,0x0},
    {0x2F8E6,0x6914,0x0}, {0x2F8E7,0x3B9D,0x0}, {0x2F8E8,0x6942,0x0}, {0x2F8E9,0x69A3,0x0},
    {0x2F8EA,0x69EA,0x0}, {0x2F8EB,0x6AA8,0x0}, {0x2F8EC,0x236A3,0x0}, {0x2F8ED,0x6ADB,0x0},
    {0x2F8EE,0x3C18,0x0}, {0x2F8EF,0x6B21,0x0}, {0x2F8F0,0x238A7,0x0}, {0x2F8F1,0x6B54,0x0},
    {0x2F8F2,0x3C4E,0x0}, {0x2F8F3,0x6B72,0x0}, {0x2F8F4,0x6B9F,0x0}, {0x2F8F5,0x6BBA,0x0},
    {0x2F8F6,0x6BBB,0x0}, {0x2F8F7,0x23A8D,0x0}, {0x2F8F8,0x21D0B,0x0}, {0x2F8F9,0x23AFA,0x0},
    {0x2F8FA,0x6C4E,0x0}, {0x2F8FB,0x23CBC,0x0}, {0x2F8FC,0x6CBF,0x0}, {0x2F8FD,0x6CCD,0x0},
    {0x2F8FE,0x6C67,0x0}, {0x2F8FF,0x6D16,0x0}, {0x2F900,0x6D3E,0x0}, {0x2F901,0x6D77,0x0},
    {0x2F902,0x6D41,0x0}, {0x2F903,0x6D69,0x0}, {0x2F904,0x6D78,0x0}, {0x2F905,0x6D85,0x0},
    {0x2F906,0x23D1E,0x0}, {0x2F907,0x6D34,0x0}, {0x2F908,0x6E2F,0x0}, {0x2F909,0x6E6E,0x0},
    {0x2F90A,0x3D33,0x0}, {0x2F90B,0x6ECB,0x0}, {0x2F90C,0x6EC7,0x0}, {0x2F90D,0x23ED1,0x0},
    {0x2F90E,0x6DF9,0x0}, {0x2F90F,0x6F6E,0x0}, {0x2F910,0x23F5E,0x0}, {0x2F911,0x23F8E,0x0},
    {0x2F912,0x6FC6,0x0}, {0x2F913,0x7039,0x0}, {0x2F914,0x701E,0x0}, {0x2F915,0x701B,0x0},
    {0x2F916,0x3D96,0x0}, {0x2F917,0x704A,0x0}, {0x2F918,0x707D,0x0}, {0x2F919,0x7077,0x0},
    {0x2F91A,0x70AD,0x0}, {0x2F91B,0x20525,0x0}, {0x2F91C,0x7145,0x0}, {0x2F91D,0x24263,0x0},
    {0x2F91E,0x719C,0x0}, {0x2F91F,0x243AB,0x0}, {0x2F920,0x7228,0x0}, {0x2F921,0x7235,0x0},
    {0x2F922,0x7250,0x0}, {0x2F923,0x24608,0x0}, {0x2F924,0x7280,0x0}, {0x2F925,0x7295,0x0},
    {0x2F926,0x24735,0x0}, {0x2F927,0x24814,0x0}, {0x2F928,0x737A,0x0}, {0x2F929,0x738B,0x0},
    {0x2F92A,0x3EAC,0x0}, {0x2F92B,0x73A5,0x0}, {0x2F92C,0x3EB8,0x0}, {0x2F92D,0x3EB8,0x0},
    {0x2F92E,0x7447,0x0}, {0x2F92F,0x745C,0x0}, {0x2F930,0x7471,0x0}, {0x2F931,0x7485,0x0},
    {0x2F932,0x74CA,0x0}, {0x2F933,0x3F1B,0x0}, {0x2F934,0x7524,0x0}, {0x2F935,0x24C36,0x0},
    {0x2F936,0x753E,0x0}, {0x2F937,0x24C92,0x0}, {0x2F938,0x7570,0x0}, {0x2F939,0x2219F,0x0},
    {0x2F93A,0x7610,0x0}, {0x2F93B,0x24FA1,0x0}, {0x2F93C,0x24FB8,0x0}, {0x2F93D,0x25044,0x0},
    {0x2F93E,0x3FFC,0x0}, {0x2F93F,0x4008,0x0}, {0x2F940,0x76F4,0x0}, {0x2F941,0x250F3,0x0},
    {0x2F942,0x250F2,0x0}, {0x2F943,0x25119,0x0}, {0x2F944,0x25133,0x0}, {0x2F945,0x771E,0x0},
    {0x2F946,0x771F,0x0}, {0x2F947,0x771F,0x0}, {0x2F948,0x774A,0x0}, {0x2F949,0x4039,0x0},
    {0x2F94A,0x778B,0x0}, {0x2F94B,0x4046,0x0}, {0x2F94C,0x4096,0x0}, {0x2F94D,0x2541D,0x0},
    {0x2F94E,0x784E,0x0}, {0x2F94F,0x788C,0x0}, {0x2F950,0x78CC,0x0}, {0x2F951,0x40E3,0x0},
    {0x2F952,0x25626,0x0}, {0x2F953,0x7956,0x0}, {0x2F954,0x2569A,0x0}, {0x2F955,0x256C5,0x0},
    {0x2F956,0x798F,0x0}, {0x2F957,0x79EB,0x0}, {0x2F958,0x412F,0x0}, {0x2F959,0x7A40,0x0},
    {0x2F95A,0x7A4A,0x0}, {0x2F95B,0x7A4F,0x0}, {0x2F95C,0x2597C,0x0}, {0x2F95D,0x25AA7,0x0},
    {0x2F95E,0x25AA7,0x0}, {0x2F95F,0x7AEE,0x0}, {0x2F960,0x4202,0x0}, {0x2F961,0x25BAB,0x0},
    {0x2F962,0x7BC6,0x0}, {0x2F963,0x7BC9,0x0}, {0x2F964,0x4227,0x0}, {0x2F965,0x25C80,0x0},
    {0x2F966,0x7CD2,0x0}, {0x2F967,0x42A0,0x0}, {0x2F968,0x7CE8,0x0}, {0x2F969,0x7CE3,0x0},
    {0x2F96A,0x7D00,0x0}, {0x2F96B,0x25F86,0x0}, {0x2F96C,0x7D63,0x0}, {0x2F96D,0x4301,0x0},
    {0x2F96E,0x7DC7,0x0}, {0x2F96F,0x7E02,0x0}, {0x2F970,0x7E45,0x0}, {0x2F971,0x4334,0x0},
    {0x2F972,0x26228,0x0}, {0x2F973,0x26247,0x0}, {0x2F974,0x4359,0x0}, {0x2F975,0x262D9,0x0},
    {0x2F976,0x7F7A,0x0}, {0x2F977,0x2633E,0x0}, {0x2F978,0x7F95,0x0}, {0x2F979,0x7FFA,0x0},
    {0x2F97A,0x8005,0x0}, {0x2F97B,0x264DA,0x0}, {0x2F97C,0x26523,0x0}, {0x2F97D,0x8060,0x0},
    {0x2F97E,0x265A8,0x0}, {0x2F97F,0x8070,0x0}, {0x2F980,0x2335F,0x0}, {0x2F981,0x43D5,0x0},
    {0x2F982,0x80B2,0x0}, {0x2F983,0x8103,0x0}, {0x2F984,0x440B,0x0}, {0x2F985,0x813E,0x0},
    {0x2F986,0x5AB5,0x0}, {0x2F987,0x267A7,0x0}, {0x2F988,0x267B5,0x0}, {0x2F989,0x23393,0x0},
    {0x2F98A,0x2339C,0x0}, {0x2F98B,0x8201,0x0}, {0x2F98C,0x8204,0x0}, {0x2F98D,0x8F9E,0x0},
    {0x2F98E,0x446B,0x0}, {0x2F98F,0x8291,0x0}, {0x2F990,0x828B,0x0}, {0x2F991,0x829D,0x0},
    {0x2F992,0x52B3,0x0}, {0x2F993,0x82B1,0x0}, {0x2F994,0x82B3,0x0}, {0x2F995,0x82BD,0x0},
    {0x2F996,0x82E6,0x0}, {0x2F997,0x26B3C,0x0}, {0x2F998,0x82E5,0x0}, {0x2F999,0x831D,0x0},
    {0x2F99A,0x8363,0x0}, {0x2F99B,0x83AD,0x0}, {0x2F99C,0x8323,0x0}, {0x2F99D,0x83BD,0x0},
    {0x2F99E,0x83E7,0x0}, {0x2F99F,0x8457,0x0}, {0x2F9A0,0x8353,0x0}, {0x2F9A1,0x83CA,0x0},
    {0x2F9A2,0x83CC,0x0}, {0x2F9A3,0x83DC,0x0}, {0x2F9A4,0x26C36,0x0}, {0x2F9A5,0x26D6B,0x0},
    {0x2F9A6,0x26CD5,0x0}, {0x2F9A7,0x452B,0x0}, {0x2F9A8,0x84F1,0x0}, {0x2F9A9,0x84F3,0x0},
    {0x2F9AA,0x8516,0x0}, {0x2F9AB,0x273CA,0x0}, {0x2F9AC,0x8564,0x0}, {0x2F9AD,0x26F2C,0x0},
    {0x2F9AE,0x455D,0x0}, {0x2F9AF,0x4561,0x0}, {0x2F9B0,0x26FB1,0x0}, {0x2F9B1,0x270D2,0x0},
    {0x2F9B2,0x456B,0x0}, {0x2F9B3,0x8650,0x0}, {0x2F9B4,0x865C,0x0}, {0x2F9B5,0x8667,0x0},
    {0x2F9B6,0x8669,0x0}, {0x2F9B7,0x86A9,0x0}, {0x2F9B8,0x8688,0x0}, {0x2F9B9,0x870E,0x0},
    {0x2F9BA,0x86E2,0x0}, {0x2F9BB,0x8779,0x0}, {0x2F9BC,0x8728,0x0}, {0x2F9BD,0x876B,0x0},
    {0x2F9BE,0x8786,0x0}, {0x2F9BF,0x45D7,0x0}, {0x2F9C0,0x87E1,0x0}, {0x2F9C1,0x8801,0x0},
    {0x2F9C2,0x45F9,0x0}, {0x2F9C3,0x8860,0x0}, {0x2F9C4,0x8863,0x0}, {0x2F9C5,0x27667,0x0},
    {0x2F9C6,0x88D7,0x0}, {0x2F9C7,0x88DE,0x0}, {0x2F9C8,0x4635,0x0}, {0x2F9C9,0x88FA,0x0},
    {0x2F9CA,0x34BB,0x0}, {0x2F9CB,0x278AE,0x0}, {0x2F9CC,0x27966,0x0}, {0x2F9CD,0x46BE,0x0},
    {0x2F9CE,0x46C7,0x0}, {0x2F9CF,0x8AA0,0x0}, {0x2F9D0,0x8AED,0x0}, {0x2F9D1,0x8B8A,0x0},
    {0x2F9D2,0x8C55,0x0}, {0x2F9D3,0x27CA8,0x0}, {0x2F9D4,0x8CAB,0x0}, {0x2F9D5,0x8CC1,0x0},
    {0x2F9D6,0x8D1B,0x0}, {0x2F9D7,0x8D77,0x0}, {0x2F9D8,0x27F2F,0x0}, {0x2F9D9,0x20804,0x0},
    {0x2F9DA,0x8DCB,0x0}, {0x2F9DB,0x8DBC,0x0}, {0x2F9DC,0x8DF0,0x0}, {0x2F9DD,0x208DE,0x0},
    {0x2F9DE,0x8ED4,0x0}, {0x2F9DF,0x8F38,0x0}, {0x2F9E0,0x285D2,0x0}, {0x2F9E1,0x285ED,0x0},
    {0x2F9E2,0x9094,0x0}, {0x2F9E3,0x90F1,0x0}, {0x2F9E4,0x9111,0x0}, {0x2F9E5,0x2872E,0x0},
    {0x2F9E6,0x911B,0x0}, {0x2F9E7,0x9238,0x0}, {0x2F9E8,0x92D7,0x0}, {0x2F9E9,0x92D8,0x0},
    {0x2F9EA,0x927C,0x0}, {0x2F9EB,0x93F9,0x0}, {0x2F9EC,0x9415,0x0}, {0x2F9ED,0x28BFA,0x0},
    {0x2F9EE,0x958B,0x0}, {0x2F9EF,0x4995,0x0}, {0x2F9F0,0x95B7,0x0}, {0x2F9F1,0x28D77,0x0},
    {0x2F9F2,0x49E6,0x0}, {0x2F9F3,0x96C3,0x0}, {0x2F9F4,0x5DB2,0x0}, {0x2F9F5,0x9723,0x0},
    {0x2F9F6,0x29145,0x0}, {0x2F9F7,0x2921A,0x0}, {0x2F9F8,0x4A6E,0x0}, {0x2F9F9,0x4A76,0x0},
    {0x2F9FA,0x97E0,0x0}, {0x2F9FB,0x2940A,0x0}, {0x2F9FC,0x4AB2,0x0}, {0x2F9FD,0x29496,0x0},
    {0x2F9FE,0x980B,0x0}, {0x2F9FF,0x980B,0x0}, {0x2FA00,0x9829,0x0}, {0x2FA01,0x295B6,0x0},
    {0x2FA02,0x98E2,0x0}, {0x2FA03,0x4B33,0x0}, {0x2FA04,0x9929,0x0}, {0x2FA05,0x99A7,0x0},
    {0x2FA06,0x99C2,0x0}, {0x2FA07,0x99FE,0x0}, {0x2FA08,0x4BCE,0x0}, {0x2FA09,0x29B30,0x0},
    {0x2FA0A,0x9B12,0x0}, {0x2FA0B,0x9C40,0x0}, {0x2FA0C,0x9CFD,0x0}, {0x2FA0D,0x4CCE,0x0},
    {0x2FA0E,0x4CED,0x0}, {0x2FA0F,0x9D67,0x0}, {0x2FA10,0x2A0CE,0x0}, {0x2FA11,0x4CF8,0x0},
    {0x2FA12,0x2A105,0x0}, {0x2FA13,0x2A20E,0x0}, {0x2FA14,0x2A291,0x0}, {0x2FA15,0x9EBB,0x0},
    {0x2FA16,0x4D56,0x0}, {0x2FA17,0x9EF9,0x0}, {0x2FA18,0x9EFE,0x0}, {0x2FA19,0x9F05,0x0},
    {0x2FA1A,0x9F0F,0x0}, {0x2FA1B,0x9F16,0x0}, {0x2FA1C,0x9F3B,0x0}, {0x2FA1D,0x2A600,0x0},
};

// primary composites: {first, second, composite}, sorted by pair (961 entries)
static const uint32_t unicode_compositions[][3] = {
    {0x3C,0x338,0x226E}, {0x3D,0x338,0x2260}, {0x3E,0x338,0x226F}, {0x41,0x300,0xC0}, {0x41,0x301,0xC1},
    {0x41,0x302,0xC2}, {0x41,0x303,0xC3}, {0x41,0x304,0x100}, {0x41,0x306,0x102}, {0x41,0x307,0x226},
    {0x41,0x308,0xC4}, {0x41,0x309,0x1EA2}, {0x41,0x30A,0xC5}, {0x41,0x30C,0x1CD}, {0x41,0x30F,0x200},
    {0x41,0x311,0x202}, {0x41,0x323,0x1EA0}, {0x41,0x325,0x1E00}, {0x41,0x328,0x104}, {0x42,0x307,0x1E02},
    {0x42,0x323,0x1E04}, {0x42,0x331,0x1E06}, {0x43,0x301,0x106}, {0x43,0x302,0x108}, {0x43,0x307,0x10A},
    {0x43,0x30C,0x10C}, {0x43,0x327,0xC7}, {0x44,0x307,0x1E0A}, {0x44,0x30C,0x10E}, {0x44,0x323,0x1E0C},
    {0x44,0x327,0x1E10}, {0x44,0x32D,0x1E12}, {0x44,0x331,0x1E0E}, {0x45,0x300,0xC8}, {0x45,0x301,0xC9},
    {0x45,0x302,0xCA}, {0x45,0x303,0x1EBC}, {0x45,0x304,0x112}, {0x45,0x306,0x114}, {0x45,0x307,0x116},
    {0x45,0x308,0xCB}, {0x45,0x309,0x1EBA}, {0x45,0x30C,0x11A}, {0x45,0x30F,0x204}, {0x45,0x311,0x206},
    {0x45,0x323,0x1EB8}, {0x45,0x327,0x228}, {0x45,0x328,0x118}, {0x45,0x32D,0x1E18}, {0x45,0x330,0x1E1A},
    {0x46,0x307,0x1E1E}, {0x47,0x301,0x1F4}, {0x47,0x302,0x11C}, {0x47,0x304,0x1E20}, {0x47,0x306,0x11E},
    {0x47,0x307,0x120}, {0x47,0x30C,0x1E6}, {0x47,0x327,0x122}, {0x48,0x302,0x124}, {0x48,0x307,0x1E22},
    {0x48,0x308,0x1E26}, {0x48,0x30C,0x21E}, {0x48,0x323,0x1E24}, {0x48,0x327,0x1E28}, {0x48,0x32E,0x1E2A},
    {0x49,0x300,0xCC}, {0x49,0x301,0xCD}, {0x49,0x302,0xCE}, {0x49,0x303,0x128}, {0x49,0x304,0x12A},
    {0x49,0x306,0x12C}, {0x49,0x307,0x130}, {0x49,0x308,0xCF}, {0x49,0x309,0x1EC8}, {0x49,0x30C,0x1CF},
    {0x49,0x30F,0x208}, {0x49,0x311,0x20A}, {0x49,0x323,0x1ECA}, {0x49,0x328,0x12E}, {0x49,0x330,0x1E2C},
    {0x4A,0x302,0x134}, {0x4B,0x301,0x1E30}, {0x4B,0x30C,0x1E8}, {0x4B,0x323,0x1E32}, {0x4B,0x327,0x136},
    {0x4B,0x331,0x1E34}, {0x4C,0x301,0x139}, {0x4C,0x30C,0x13D}, {0x4C,0x323,0x1E36}, {0x4C,0x327,0x13B},
    {0x4C,0x32D,0x1E3C}, {0x4C,0x331,0x1E3A}, {0x4D,0x301,0x1E3E}, {0x4D,0x307,0x1E40}, {0x4D,0x323,0x1E42},
    {0x4E,0x300,0x1F8}, {0x4E,0x301,0x143}, {0x4E,0x303,0xD1}, {0x4E,0x307,0x1E44}, {0x4E,0x30C,0x147},
    {0x4E,0x323,0x1E46}, {0x4E,0x327,0x145}, {0x4E,0x32D,0x1E4A}, {0x4E,0x331,0x1E48}, {0x4F,0x300,0xD2},
    {0x4F,0x301,0xD3}, {0x4F,0x302,0xD4}, {0x4F,0x303,0xD5}, {0x4F,0x304,0x14C}, {0x4F,0x306,0x14E},
    {0x4F,0x307,0x22E}, {0x4F,0x308,0xD6}, {0x4F,0x309,0x1ECE}, {0x4F,0x30B,0x150}, {0x4F,0x30C,0x1D1},
    {0x4F,0x30F,0x20C}, {0x4F,0x311,0x20E}, {0x4F,0x31B,0x1A0}, {0x4F,0x323,0x1ECC}, {0x4F,0x328,0x1EA},
    {0x50,0x301,0x1E54}, {0x50,0x307,0x1E56}, {0x52,0x301,0x154}, {0x52,0x307,0x1E58}, {0x52,0x30C,0x158},
    {0x52,0x30F,0x210}, {0x52,0x311,0x212}, {0x52,0x323,0x1E5A}, {0x52,0x327,0x156}, {0x52,0x331,0x1E5E},
    {0x53,0x301,0x15A}, {0x53,0x302,0x15C}, {0x53,0x307,0x1E60}, {0x53,0x30C,0x160}, {0x53,0x323,0x1E62},
    {0x53,0x326,0x218}, {0x53,0x327,0x15E}, {0x54,0x307,0x1E6A}, {0x54,0x30C,0x164}, {0x54,0x323,0x1E6C},
    {0x54,0x326,0x21A}, {0x54,0x327,0x162}, {0x54,0x32D,0x1E70}, {0x54,0x331,0x1E6E}, {0x55,0x300,0xD9},
    {0x55,0x301,0xDA}, {0x55,0x302,0xDB}, {0x55,0x303,0x168}, {0x55,0x304,0x16A}, {0x55,0x306,0x16C},
    {0x55,0x308,0xDC}, {0x55,0x309,0x1EE6}, {0x55,0x30A,0x16E}, {0x55,0x30B,0x170}, {0x55,0x30C,0x1D3},
    {0x55,0x30F,0x214}, {0x55,0x311,0x216}, {0x55,0x31B,0x1AF}, {0x55,0x323,0x1EE4}, {0x55,0x324,0x1E72},
    {0x55,0x328,0x172}, {0x55,0x32D,0x1E76}, {0x55,0x330,0x1E74}, {0x56,0x303,0x1E7C}, {0x56,0x323,0x1E7E},
    {0x57,0x300,0x1E80}, {0x57,0x301,0x1E82}, {0x57,0x302,0x174}, {0x57,0x307,0x1E86}, {0x57,0x308,0x1E84},
    {0x57,0x323,0x1E88}, {0x58,0x307,0x1E8A}, {0x58,0x308,0x1E8C}, {0x59,0x300,0x1EF2}, {0x59,0x301,0xDD},
    {0x59,0x302,0x176}, {0x59,0x303,0x1EF8}, {0x59,0x304,0x232}, {0x59,0x307,0x1E8E}, {0x59,0x308,0x178},
    {0x59,0x309,0x1EF6}, {0x59,0x323,0x1EF4}, {0x5A,0x301,0x179}, {0x5A,0x302,0x1E90}, {0x5A,0x307,0x17B},
    {0x5A,0x30C,0x17D}, {0x5A,0x323,0x1E92}, {0x5A,0x331,0x1E94}, {0x61,0x300,0xE0}, {0x61,0x301,0xE1},
    {0x61,0x302,0xE2}, {0x61,0x303,0xE3}, {0x61,0x304,0x101}, {0x61,0x306,0x103}, {0x61,0x307,0x227},
    {0x61,0x308,0xE4}, {0x61,0x309,0x1EA3}, {0x61,0x30A,0xE5}, {0x61,0x30C,0x1CE}, {0x61,0x30F,0x201},
    {0x61,0x311,0x203}, {0x61,0x323,0x1EA1}, {0x61,0x325,0x1E01}, {0x61,0x328,0x105}, {0x62,0x307,0x1E03},
    {0x62,0x323,0x1E05}, {0x62,0x331,0x1E07}, {0x63,0x301,0x107}, {0x63,0x302,0x109}, {0x63,0x307,0x10B},
    {0x63,0x30C,0x10D}, {0x63,0x327,0xE7}, {0x64,0x307,0x1E0B}, {0x64,0x30C,0x10F}, {0x64,0x323,0x1E0D},
    {0x64,0x327,0x1E11}, {0x64,0x32D,0x1E13}, {0x64,0x331,0x1E0F}, {0x65,0x300,0xE8}, {0x65,0x301,0xE9},
    {0x65,0x302,0xEA}, {0x65,0x303,0x1EBD}, {0x65,0x304,0x113}, {0x65,0x306,0x115}, {0x65,0x307,0x117},
    {0x65,0x308,0xEB}, {0x65,0x309,0x1EBB}, {0x65,0x30C,0x11B}, {0x65,0x30F,0x205}, {0x65,0x311,0x207},
    {0x65,0x323,0x1EB9}, {0x65,0x327,0x229}, {0x65,0x328,0x119}, {0x65,0x32D,0x1E19}, {0x65,0x330,0x1E1B},
    {0x66,0x307,0x1E1F}, {0x67,0x301,0x1F5}, {0x67,0x302,0x11D}, {0x67,0x304,0x1E21}, {0x67,0x306,0x11F},
    {0x67,0x307,0x121}, {0x67,0x30C,0x1E7}, {0x67,0x327,0x123}, {0x68,0x302,0x125}, {0x68,0x307,0x1E23},
    {0x68,0x308,0x1E27}, {0x68,0x30C,0x21F}, {0x68,0x323,0x1E25}, {0x68,0x327,0x1E29}, {0x68,0x32E,0x1E2B},
    {0x68,0x331,0x1E96}, {0x69,0x300,0xEC}, {0x69,0x301,0xED}, {0x69,0x302,0xEE}, {0x69,0x303,0x129},
    {0x69,0x304,0x12B}, {0x69,0x306,0x12D}, {0x69,0x308,0xEF}, {0x69,0x309,0x1EC9}, {0x69,0x30C,0x1D0},
    {0x69,0x30F,0x209}, {0x69,0x311,0x20B}, {0x69,0x323,0x1ECB}, {0x69,0x328,0x12F}, {0x69,0x330,0x1E2D},
    {0x6A,0x302,0x135}, {0x6A,0x30C,0x1F0}, {0x6B,0x301,0x1E31}, {0x6B,0x30C,0x1E9}, {0x6B,0x323,0x1E33},
    {0x6B,0x327,0x137}, {0x6B,0x331,0x1E35}, {0x6C,0x301,0x13A}, {0x6C,0x30C,0x13E}, {0x6C,0x323,0x1E37},
    {0x6C,0x327,0x13C}, {0x6C,0x32D,0x1E3D}, {0x6C,0x331,0x1E3B}, {0x6D,0x301,0x1E3F}, {0x6D,0x307,0x1E41},
    {0x6D,0x323,0x1E43}, {0x6E,0x300,0x1F9}, {0x6E,0x301,0x144}, {0x6E,0x303,0xF1}, {0x6E,0x307,0x1E45},
    {0x6E,0x30C,0x148}, {0x6E,0x323,0x1E47}, {0x6E,0x327,0x146}, {0x6E,0x32D,0x1E4B}, {0x6E,0x331,0x1E49},
    {0x6F,0x300,0xF2}, {0x6F,0x301,0xF3}, {0x6F,0x302,0xF4}, {0x6F,0x303,0xF5}, {0x6F,0x304,0x14D},
    {0x6F,0x306,0x14F}, {0x6F,0x307,0x22F}, {0x6F,0x308,0xF6}, {0x6F,0x309,0x1ECF}, {0x6F,0x30B,0x151},
    {0x6F,0x30C,0x1D2}, {0x6F,0x30F,0x20D}, {0x6F,0x311,0x20F}, {0x6F,0x31B,0x1A1}, {0x6F,0x323,0x1ECD},
    {0x6F,0x328,0x1EB}, {0x70,0x301,0x1E55}, {0x70,0x307,0x1E57}, {0x72,0x301,0x155}, {0x72,0x307,0x1E59},
    {0x72,0x30C,0x159}, {0x72,0x30F,0x211}, {0x72,0x311,0x213}, {0x72,0x323,0x1E5B}, {0x72,0x327,0x157},
    {0x72,0x331,0x1E5F}, {0x73,0x301,0x15B}, {0x73,0x302,0x15D}, {0x73,0x307,0x1E61}, {0x73,0x30C,0x161},
    {0x73,0x323,0x1E63}, {0x73,0x326,0x219}, {0x73,0x327,0x15F}, {0x74,0x307,0x1E6B}, {0x74,0x308,0x1E97},
    {0x74,0x30C,0x165}, {0x74,0x323,0x1E6D}, {0x74,0x326,0x21B}, {0x74,0x327,0x163}, {0x74,0x32D,0x1E71},
    {0x74,0x331,0x1E6F}, {0x75,0x300,0xF9}, {0x75,0x301,0xFA}, {0x75,0x302,0xFB}, {0x75,0x303,0x169},
    {0x75,0x304,0x16B}, {0x75,0x306,0x16D}, {0x75,0x308,0xFC}, {0x75,0x309,0x1EE7}, {0x75,0x30A,0x16F},
    {0x75,0x30B,0x171}, {0x75,0x30C,0x1D4}, {0x75,0x30F,0x215}, {0x75,0x311,0x217}, {0x75,0x31B,0x1B0},
    {0x75,0x323,0x1EE5}, {0x75,0x324,0x1E73}, {0x75,0x328,0x173}, {0x75,0x32D,0x1E77}, {0x75,0x330,0x1E75},
    {0x76,0x303,0x1E7D}, {0x76,0x323,0x1E7F}, {0x77,0x300,0x1E81}, {0x77,0x301,0x1E83}, {0x77,0x302,0x175},
    {0x77,0x307,0x1E87}, {0x77,0x308,0x1E85}, {0x77,0x30A,0x1E98}, {0x77,0x323,0x1E89}, {0x78,0x307,0x1E8B},
    {0x78,0x308,0x1E8D}, {0x79,0x300,0x1EF3}, {0x79,0x301,0xFD}, {0x79,0x302,0x177}, {0x79,0x303,0x1EF9},
    {0x79,0x304,0x233}, {0x79,0x307,0x1E8F}, {0x79,0x308,0xFF}, {0x79,0x309,0x1EF7}, {0x79,0x30A,0x1E99},
    {0x79,0x323,0x1EF5}, {0x7A,0x301,0x17A}, {0x7A,0x302,0x1E91}, {0x7A,0x307,0x17C}, {0x7A,0x30C,0x17E},
    {0x7A,0x323,0x1E93}, {0x7A,0x331,0x1E95}, {0xA8,0x300,0x1FED}, {0xA8,0x301,0x385}, {0xA8,0x342,0x1FC1},
    {0xC2,0x300,0x1EA6}, {0xC2,0x301,0x1EA4}, {0xC2,0x303,0x1EAA}, {0xC2,0x309,0x1EA8}, {0xC4,0x304,0x1DE},
    {0xC5,0x301,0x1FA}, {0xC6,0x301,0x1FC}, {0xC6,0x304,0x1E2}, {0xC7,0x301,0x1E08}, {0xCA,0x300,0x1EC0},
    {0xCA,0x301,0x1EBE}, {0xCA,0x303,0x1EC4}, {0xCA,0x309,0x1EC2}, {0xCF,0x301,0x1E2E}, {0xD4,0x300,0x1ED2},
    {0xD4,0x301,0x1ED0}, {0xD4,0x303,0x1ED6}, {0xD4,0x309,0x1ED4}, {0xD5,0x301,0x1E4C}, {0xD5,0x304,0x22C},
    {0xD5,0x308,0x1E4E}, {0xD6,0x304,0x22A}, {0xD8,0x301,0x1FE}, {0xDC,0x300,0x1DB}, {0xDC,0x301,0x1D7},
    {0xDC,0x304,0x1D5}, {0xDC,0x30C,0x1D9}, {0xE2,0x300,0x1EA7}, {0xE2,0x301,0x1EA5}, {0xE2,0x303,0x1EAB},
    {0xE2,0x309,0x1EA9}, {0xE4,0x304,0x1DF}, {0xE5,0x301,0x1FB}, {0xE6,0x301,0x1FD}, {0xE6,0x304,0x1E3},
    {0xE7,0x301,0x1E09}, {0xEA,0x300,0x1EC1}, {0xEA,0x301,0x1EBF}, {0xEA,0x303,0x1EC5}, {0xEA,0x309,0x1EC3},
    {0xEF,0x301,0x1E2F}, {0xF4,0x300,0x1ED3}, {0xF4,0x301,0x1ED1}, {0xF4,0x303,0x1ED7}, {0xF4,0x309,0x1ED5},
    {0xF5,0x301,0x1E4D}, {0xF5,0x304,0x22D}, {0xF5,0x308,0x1E4F}, {0xF6,0x304,0x22B}, {0xF8,0x301,0x1FF},
    {0xFC,0x300,0x1DC}, {0xFC,0x301,0x1D8}, {0xFC,0x304,0x1D6}, {0xFC,0x30C,0x1DA}, {0x102,0x300,0x1EB0},
    {0x102,0x301,0x1EAE}, {0x102,0x303,0x1EB4}, {0x102,0x309,0x1EB2}, {0x103,0x300,0x1EB1},
    {0x103,0x301,0x1EAF}, {0x103,0x303,0x1EB5}, {0x103,0x309,0x1EB3}, {0x112,0x300,0x1E14},
    {0x112,0x301,0x1E16}, {0x113,0x300,0x1E15}, {0x113,0x301,0x1E17}, {0x14C,0x300,0x1E50},
    {0x14C,0x301,0x1E52}, {0x14D,0x300,0x1E51}, {0x14D,0x301,0x1E53}, {0x15A,0x307,0x1E64},
    {0x15B,0x307,0x1E65}, {0x160,0x307,0x1E66}, {0x161,0x307,0x1E67}, {0x168,0x301,0x1E78},
    {0x169,0x301,0x1E79}, {0x16A,0x308,0x1E7A}, {0x16B,0x308,0x1E7B}, {0x17F,0x307,0x1E9B},
    {0x1A0,0x300,0x1EDC}, {0x1A0,0x301,0x1EDA}, {0x1A0,0x303,0x1EE0}, {0x1A0,0x309,0x1EDE},
    {0x1A0,0x323,0x1EE2}, {0x1A1,0x300,0x1EDD}, {0x1A1,0x301,0x1EDB}, {0x1A1,0x303,0x1EE1},
    {0x1A1,0x309,0x1EDF}, {0x1A1,0x323,0x1EE3}, {0x1AF,0x300,0x1EEA}, {0x1AF,0x301,0x1EE8},
    {0x1AF,0x303,0x1EEE}, {0x1AF,0x309,0x1EEC}, {0x1AF,0x323,0x1EF0}, {0x1B0,0x300,0x1EEB},
    {0x1B0,0x301,0x1EE9}, {0x1B0,0x303,0x1EEF}, {0x1B0,0x309,0x1EED}, {0x1B0,0x323,0x1EF1},
    {0x1B7,0x30C,0x1EE}, {0x1EA,0x304,0x1EC}, {0x1EB,0x304,0x1ED}, {0x226,0x304,0x1E0}, {0x227,0x304,0x1E1},
    {0x228,0x306,0x1E1C}, {0x229,0x306,0x1E1D}, {0x22E,0x304,0x230}, {0x22F,0x304,0x231}, {0x292,0x30C,0x1EF},
    {0x391,0x300,0x1FBA}, {0x391,0x301,0x386}, {0x391,0x304,0x1FB9}, {0x391,0x306,0x1FB8},
    {0x391,0x313,0x1F08}, {0x391,0x314,0x1F09}, {0x391,0x345,0x1FBC}, {0x395,0x300,0x1FC8},
    {0x395,0x301,0x388}, {0x395,0x313,0x1F18}, {0x395,0x314,0x1F19}, {0x397,0x300,0x1FCA},
    {0x397,0x301,0x389}, {0x397,0x313,0x1F28}, {0x397,0x314,0x1F29}, {0x397,0x345,0x1FCC},
    {0x399,0x300,0x1FDA}, {0x399,0x301,0x38A}, {0x399,0x304,0x1FD9}, {0x399,0x306,0x1FD8},
    {0x399,0x308,0x3AA}, {0x399,0x313,0x1F38}, {0x399,0x314,0x1F39}, {0x39F,0x300,0x1FF8},
    {0x39F,0x301,0x38C}, {0x39F,0x313,0x1F48}, {0x39F,0x314,0x1F49}, {0x3A1,0x314,0x1FEC},
    {0x3A5,0x300,0x1FEA}, {0x3A5,0x301,0x38E}, {0x3A5,0x304,0x1FE9}, {0x3A5,0x306,0x1FE8},
    {0x3A5,0x308,0x3AB}, {0x3A5,0x314,0x1F59}, {0x3A9,0x300,0x1FFA}, {0x3A9,0x301,0x38F},
    {0x3A9,0x313,0x1F68}, {0x3A9,0x314,0x1F69}, {0x3A9,0x345,0x1FFC}, {0x3AC,0x345,0x1FB4},
    {0x3AE,0x345,0x1FC4}, {0x3B1,0x300,0x1F70}, {0x3B1,0x301,0x3AC}, {0x3B1,0x304,0x1FB1},
    {0x3B1,0x306,0x1FB0}, {0x3B1,0x313,0x1F00}, {0x3B1,0x314,0x1F01}, {0x3B1,0x342,0x1FB6},
    {0x3B1,0x345,0x1FB3}, {0x3B5,0x300,0x1F72}, {0x3B5,0x301,0x3AD}, {0x3B5,0x313,0x1F10},
    {0x3B5,0x314,0x1F11}, {0x3B7,0x300,0x1F74}, {0x3B7,0x301,0x3AE}, {0x3B7,0x313,0x1F20},
    {0x3B7,0x314,0x1F21}, {0x3B7,0x342,0x1FC6}, {0x3B7,0x345,0x1FC3}, {0x3B9,0x300,0x1F76},
    {0x3B9,0x301,0x3AF}, {0x3B9,0x304,0x1FD1}, {0x3B9,0x306,0x1FD0}, {0x3B9,0x308,0x3CA},
    {0x3B9,0x313,0x1F30}, {0x3B9,0x314,0x1F31}, {0x3B9,0x342,0x1FD6}, {0x3BF,0x300,0x1F78},
    {0x3BF,0x301,0x3CC}, {0x3BF,0x313,0x1F40}, {0x3BF,0x314,0x1F41}, {0x3C1,0x313,0x1FE4},
    {0x3C1,0x314,0x1FE5}, {0x3C5,0x300,0x1F7A}, {0x3C5,0x301,0x3CD}, {0x3C5,0x304,0x1FE1},
    {0x3C5,0x306,0x1FE0}, {0x3C5,0x308,0x3CB}, {0x3C5,0x313,0x1F50}, {0x3C5,0x314,0x1F51},
    {0x3C5,0x342,0x1FE6}, {0x3C9,0x300,0x1F7C}, {0x3C9,0x301,0x3CE}, {0x3C9,0x313,0x1F60},
    {0x3C9,0x314,0x1F61}, {0x3C9,0x342,0x1FF6}, {0x3C9,0x345,0x1FF3}, {0x3CA,0x300,0x1FD2},
    {0x3CA,0x301,0x390}, {0x3CA,0x342,0x1FD7}, {0x3CB,0x300,0x1FE2}, {0x3CB,0x301,0x3B0},
    {0x3CB,0x342,0x1FE7}, {0x3CE,0x345,0x1FF4}, {0x3D2,0x301,0x3D3}, {0x3D2,0x308,0x3D4}, {0x406,0x308,0x407},
    {0x410,0x306,0x4D0}, {0x410,0x308,0x4D2}, {0x413,0x301,0x403}, {0x415,0x300,0x400}, {0x415,0x306,0x4D6},
    {0x415,0x308,0x401}, {0x416,0x306,0x4C1}, {0x416,0x308,0x4DC}, {0x417,0x308,0x4DE}, {0x418,0x300,0x40D},
    {0x418,0x304,0x4E2}, {0x418,0x306,0x419}, {0x418,0x308,0x4E4}, {0x41A,0x301,0x40C}, {0x41E,0x308,0x4E6},
    {0x423,0x304,0x4EE}, {0x423,0x306,0x40E}, {0x423,0x308,0x4F0}, {0x423,0x30B,0x4F2}, {0x427,0x308,0x4F4},
    {0x42B,0x308,0x4F8}, {0x42D,0x308,0x4EC}, {0x430,0x306,0x4D1}, {0x430,0x308,0x4D3}, {0x433,0x301,0x453},
    {0x435,0x300,0x450}, {0x435,0x306,0x4D7}, {0x435,0x308,0x451}, {0x436,0x306,0x4C2}, {0x436,0x308,0x4DD},
    {0x437,0x308,0x4DF}, {0x438,0x300,0x45D}, {0x438,0x304,0x4E3}, {0x438,0x306,0x439}, {0x438,0x308,0x4E5},
    {0x43A,0x301,0x45C}, {0x43E,0x308,0x4E7}, {0x443,0x304,0x4EF}, {0x443,0x306,0x45E}, {0x443,0x308,0x4F1},
    {0x443,0x30B,0x4F3}, {0x447,0x308,0x4F5}, {0x44B,0x308,0x4F9}, {0x44D,0x308,0x4ED}, {0x456,0x308,0x457},
    {0x474,0x30F,0x476}, {0x475,0x30F,0x477}, {0x4D8,0x308,0x4DA}, {0x4D9,0x308,0x4DB}, {0x4E8,0x308,0x4EA},
    {0x4E9,0x308,0x4EB}, {0x627,0x653,0x622}, {0x627,0x654,0x623}, {0x627,0x655,0x625}, {0x648,0x654,0x624},
    {0x64A,0x654,0x626}, {0x6C1,0x654,0x6C2}, {0x6D2,0x654,0x6D3}, {0x6D5,0x654,0x6C0}, {0x928,0x93C,0x929},
    {0x930,0x93C,0x931}, {0x933,0x93C,0x934}, {0x9C7,0x9BE,0x9CB}, {0x9C7,0x9D7,0x9CC}, {0xB47,0xB3E,0xB4B},
    {0xB47,0xB56,0xB48}, {0xB47,0xB57,0xB4C}, {0xB92,0xBD7,0xB94}, {0xBC6,0xBBE,0xBCA}, {0xBC6,0xBD7,0xBCC},
    {0xBC7,0xBBE,0xBCB}, {0xC46,0xC56,0xC48}, {0xCBF,0xCD5,0xCC0}, {0xCC6,0xCC2,0xCCA}, {0xCC6,0xCD5,0xCC7},
    {0xCC6,0xCD6,0xCC8}, {0xCCA,0xCD5,0xCCB}, {0xD46,0xD3E,0xD4A}, {0xD46,0xD57,0xD4C}, {0xD47,0xD3E,0xD4B},
    {0xDD9,0xDCA,0xDDA}, {0xDD9,0xDCF,0xDDC}, {0xDD9,0xDDF,0xDDE}, {0xDDC,0xDCA,0xDDD},
    {0x1025,0x102E,0x1026}, {0x1B05,0x1B35,0x1B06}, {0x1B07,0x1B35,0x1B08}, {0x1B09,0x1B35,0x1B0A},
    {0x1B0B,0x1B35,0x1B0C}, {0x1B0D,0x1B35,0x1B0E}, {0x1B11,0x1B35,0x1B12}, {0x1B3A,0x1B35,0x1B3B},
    {0x1B3C,0x1B35,0x1B3D}, {0x1B3E,0x1B35,0x1B40}, {0x1B3F,0x1B35,0x1B41}, {0x1B42,0x1B35,0x1B43},
    {0x1E36,0x304,0x1E38}, {0x1E37,0x304,0x1E39}, {0x1E5A,0x304,0x1E5C}, {0x1E5B,0x304,0x1E5D},
    {0x1E62,0x307,0x1E68}, {0x1E63,0x307,0x1E69}, {0x1EA0,0x302,0x1EAC}, {0x1EA0,0x306,0x1EB6},
    {0x1EA1,0x302,0x1EAD}, {0x1EA1,0x306,0x1EB7}, {0x1EB8,0x302,0x1EC6}, {0x1EB9,0x302,0x1EC7},
    {0x1ECC,0x302,0x1ED8}, {0x1ECD,0x302,0x1ED9}, {0x1F00,0x300,0x1F02}, {0x1F00,0x301,0x1F04},
    {0x1F00,0x342,0x1F06}, {0x1F00,0x345,0x1F80}, {0x1F01,0x300,0x1F03}, {0x1F01,0x301,0x1F05},
    {0x1F01,0x342,0x1F07}, {0x1F01,0x345,0x1F81}, {0x1F02,0x345,0x1F82}, {0x1F03,0x345,0x1F83},
    {0x1F04,0x345,0x1F84}, {0x1F05,0x345,0x1F85}, {0x1F06,0x345,0x1F86}, {0x1F07,0x345,0x1F87},
    {0x1F08,0x300,0x1F0A}, {0x1F08,0x301,0x1F0C}, {0x1F08,0x342,0x1F0E}, {0x1F08,0x345,0x1F88},
    {0x1F09,0x300,0x1F0B}, {0x1F09,0x301,0x1F0D}, {0x1F09,0x342,0x1F0F}, {0x1F09,0x345,0x1F89},
    {0x1F0A,0x345,0x1F8A}, {0x1F0B,0x345,0x1F8B}, {0x1F0C,0x345,0x1F8C}, {0x1F0D,0x345,0x1F8D},
    {0x1F0E,0x345,0x1F8E}, {0x1F0F,0x345,0x1F8F}, {0x1F10,0x300,0x1F12}, {0x1F10,0x301,0x1F14},
    {0x1F11,0x300,0x1F13}, {0x1F11,0x301,0x1F15}, {0x1F18,0x300,0x1F1A}, {0x1F18,0x301,0x1F1C},
    {0x1F19,0x300,0x1F1B}, {0x1F19,0x301,0x1F1D}, {0x1F20,0x300,0x1F22}, {0x1F20,0x301,0x1F24},
    {0x1F20,0x342,0x1F26}, {0x1F20,0x345,0x1F90}, {0x1F21,0x300,0x1F23}, {0x1F21,0x301,0x1F25},
    {0x1F21,0x342,0x1F27}, {0x1F21,0x345,0x1F91}, {0x1F22,0x345,0x1F92}, {0x1F23,0x345,0x1F93},
    {0x1F24,0x345,0x1F94}, {0x1F25,0x345,0x1F95}, {0x1F26,0x345,0x1F96}, {0x1F27,0x345,0x1F97},
    {0x1F28,0x300,0x1F2A}, {0x1F28,0x301,0x1F2C}, {0x1F28,0x342,0x1F2E}, {0x1F28,0x345,0x1F98},
    {0x1F29,0x300,0x1F2B}, {0x1F29,0x301,0x1F2D}, {0x1F29,0x342,0x1F2F}, {0x1F29,0x345,0x1F99},
    {0x1F2A,0x345,0x1F9A}, {0x1F2B,0x345,0x1F9B}, {0x1F2C,0x345,0x1F9C}, {0x1F2D,0x345,0x1F9D},
    {0x1F2E,0x345,0x1F9E}, {0x1F2F,0x345,0x1F9F}, {0x1F30,0x300,0x1F32}, {0x1F30,0x301,0x1F34},
    {0x1F30,0x342,0x1F36}, {0x1F31,0x300,0x1F33}, {0x1F31,0x301,0x1F35}, {0x1F31,0x342,0x1F37},
    {0x1F38,0x300,0x1F3A}, {0x1F38,0x301,0x1F3C}, {0x1F38,0x342,0x1F3E}, {0x1F39,0x300,0x1F3B},
    {0x1F39,0x301,0x1F3D}, {0x1F39,0x342,0x1F3F}, {0x1F40,0x300,0x1F42}, {0x1F40,0x301,0x1F44},
    {0x1F41,0x300,0x1F43}, {0x1F41,0x301,0x1F45}, {0x1F48,0x300,0x1F4A}, {0x1F48,0x301,0x1F4C},
    {0x1F49,0x300,0x1F4B}, {0x1F49,0x301,0x1F4D}, {0x1F50,0x300,0x1F52}, {0x1F50,0x301,0x1F54},
    {0x1F50,0x342,0x1F56}, {0x1F51,0x300,0x1F53}, {0x1F51,0x301,0x1F55}, {0x1F51,0x342,0x1F57},
    {0x1F59,0x300,0x1F5B}, {0x1F59,0x301,0x1F5D}, {0x1F59,0x342,0x1F5F}, {0x1F60,0x300,0x1F62},
    {0x1F60,0x301,0x1F64}, {0x1F60,0x342,0x1F66}, {0x1F60,0x345,0x1FA0}, {0x1F61,0x300,0x1F63},
    {0x1F61,0x301,0x1F65}, {0x1F61,0x342,0x1F67}, {0x1F61,0x345,0x1FA1}, {0x1F62,0x345,0x1FA2},
    {0x1F63,0x345,0x1FA3}, {0x1F64,0x345,0x1FA4}, {0x1F65,0x345,0x1FA5}, {0x1F66,0x345,0x1FA6},
    {0x1F67,0x345,0x1FA7}, {0x1F68,0x300,0x1F6A}, {0x1F68,0x301,0x1F6C}, {0x1F68,0x342,0x1F6E},
    {0x1F68,0x345,0x1FA8}, {0x1F69,0x300,0x1F6B}, {0x1F69,0x301,0x1F6D}, {0x1F69,0x342,0x1F6F},
    {0x1F69,0x345,0x1FA9}, {0x1F6A,0x345,0x1FAA}, {0x1F6B,0x345,0x1FAB}, {0x1F6C,0x345,0x1FAC},
    {0x1F6D,0x345,0x1FAD}, {0x1F6E,0x345,0x1FAE}, {0x1F6F,0x345,0x1FAF}, {0x1F70,0x345,0x1FB2},
    {0x1F74,0x345,0x1FC2}, {0x1F7C,0x345,0x1FF2}, {0x1FB6,0x345,0x1FB7}, {0x1FBF,0x300,0x1FCD},
    {0x1FBF,0x301,0x1FCE}, {0x1FBF,0x342,0x1FCF}, {0x1FC6,0x345,0x1FC7}, {0x1FF6,0x345,0x1FF7},
    {0x1FFE,0x300,0x1FDD}, {0x1FFE,0x301,0x1FDE}, {0x1FFE,0x342,0x1FDF}, {0x2190,0x338,0x219A},
    {0x2192,0x338,0x219B}, {0x2194,0x338,0x21AE}, {0x21D0,0x338,0x21CD}, {0x21D2,0x338,0x21CF},
    {0x21D4,0x338,0x21CE}, {0x2203,0x338,0x2204}, {0x2208,0x338,0x2209}, {0x220B,0x338,0x220C},
    {0x2223,0x338,0x2224}, {0x2225,0x338,0x2226}, {0x223C,0x338,0x2241}, {0x2243,0x338,0x2244},
    {0x2245,0x338,0x2247}, {0x2248,0x338,0x2249}, {0x224D,0x338,0x226D}, {0x2261,0x338,0x2262},
    {0x2264,0x338,0x2270}, {0x2265,0x338,0x2271}, {0x2272,0x338,0x2274}, {0x2273,0x338,0x2275},
    {0x2276,0x338,0x2278}, {0x2277,0x338,0x2279}, {0x227A,0x338,0x2280}, {0x227B,0x338,0x2281},
    {0x227C,0x338,0x22E0}, {0x227D,0x338,0x22E1}, {0x2282,0x338,0x2284}, {0x2283,0x338,0x2285},
    {0x2286,0x338,0x2288}, {0x2287,0x338,0x2289}, {0x2291,0x338,0x22E2}, {0x2292,0x338,0x22E3},
    {0x22A2,0x338,0x22AC}, {0x22A8,0x338,0x22AD}, {0x22A9,0x338,0x22AE}, {0x22AB,0x338,0x22AF},
    {0x22B2,0x338,0x22EA}, {0x22B3,0x338,0x22EB}, {0x22B4,0x338,0x22EC}, {0x22B5,0x338,0x22ED},
    {0x3046,0x3099,0x3094}, {0x304B,0x3099,0x304C}, {0x304D,0x3099,0x304E}, {0x304F,0x3099,0x3050},
    {0x3051,0x3099,0x3052}, {0x3053,0x3099,0x3054}, {0x3055,0x3099,0x3056}, {0x3057,0x3099,0x3058},
    {0x3059,0x3099,0x305A}, {0x305B,0x3099,0x305C}, {0x305D,0x3099,0x305E}, {0x305F,0x3099,0x3060},
    {0x3061,0x3099,0x3062}, {0x3064,0x3099,0x3065}, {0x3066,0x3099,0x3067}, {0x3068,0x3099,0x3069},
    {0x306F,0x3099,0x3070}, {0x306F,0x309A,0x3071}, {0x3072,0x3099,0x3073}, {0x3072,0x309A,0x3074},
    {0x3075,0x3099,0x3076}, {0x3075,0x309A,0x3077}, {0x3078,0x3099,0x3079}, {0x3078,0x309A,0x307A},
    {0x307B,0x3099,0x307C}, {0x307B,0x309A,0x307D}, {0x309D,0x3099,0x309E}, {0x30A6,0x3099,0x30F4},
    {0x30AB,0x3099,0x30AC}, {0x30AD,0x3099,0x30AE}, {0x30AF,0x3099,0x30B0}, {0x30B1,0x3099,0x30B2},
    {0x30B3,0x3099,0x30B4}, {0x30B5,0x3099,0x30B6}, {0x30B7,0x3099,0x30B8}, {0x30B9,0x3099,0x30BA},
    {0x30BB,0x3099,0x30BC}, {0x30BD,0x3099,0x30BE}, {0x30BF,0x3099,0x30C0}, {0x30C1,0x3099,0x30C2},
    {0x30C4,0x3099,0x30C5}, {0x30C6,0x3099,0x30C7}, {0x30C8,0x3099,0x30C9}, {0x30CF,0x3099,0x30D0},
    {0x30CF,0x309A,0x30D1}, {0x30D2,0x3099,0x30D3}, {0x30D2,0x309A,0x30D4}, {0x30D5,0x3099,0x30D6},
    {0x30D5,0x309A,0x30D7}, {0x30D8,0x3099,0x30D9}, {0x30D8,0x309A,0x30DA}, {0x30DB,0x3099,0x30DC},
    {0x30DB,0x309A,0x30DD}, {0x30EF,0x3099,0x30F7}, {0x30F0,0x3099,0x30F8}, {0x30F1,0x3099,0x30F9},
    {0x30F2,0x3099,0x30FA}, {0x30FD,0x3099,0x30FE}, {0x105D2,0x307,0x105C9}, {0x105DA,0x307,0x105E4},
    {0x11099,0x110BA,0x1109A}, {0x1109B,0x110BA,0x1109C}, {0x110A5,0x110BA,0x110AB},
    {0x11131,0x11127,0x1112E}, {0x11132,0x11127,0x1112F}, {0x11347,0x1133E,0x1134B},
    {0x11347,0x11357,0x1134C}, {0x11382,0x113C9,0x11383}, {0x11384,0x113BB,0x11385},
    {0x1138B,0x113C2,0x1138E}, {0x11390,0x113C9,0x11391}, {0x113C2,0x113B8,0x113C7},
    {0x113C2,0x113C2,0x113C5}, {0x113C2,0x113C9,0x113C8}, {0x114B9,0x114B0,0x114BC},
    {0x114B9,0x114BA,0x114BB}, {0x114B9,0x114BD,0x114BE}, {0x115B8,0x115AF,0x115BA},
    {0x115B9,0x115AF,0x115BB}, {0x11935,0x11930,0x11938}, {0x1611E,0x1611E,0x16121},
    {0x1611E,0x1611F,0x16123}, {0x1611E,0x16120,0x16125}, {0x1611E,0x16129,0x16122},
    {0x16121,0x1611F,0x16126}, {0x16121,0x16120,0x16128}, {0x16122,0x1611F,0x16127},
    {0x16129,0x1611F,0x16124}, {0x16D63,0x16D67,0x16D69}, {0x16D67,0x16D67,0x16D68},
    {0x16D69,0x16D67,0x16D6A},
};

// NFC quick check: code points that may change under NFC (289 ranges)
static const uint32_t unicode_nfc_quick_ranges[][2] = {
    {0x300,0x34E}, {0x350,0x36F}, {0x374,0x374}, {0x37E,0x37E}, {0x387,0x387}, {0x483,0x487}, {0x591,0x5BD},
    {0x5BF,0x5BF}, {0x5C1,0x5C2}, {0x5C4,0x5C5}, {0x5C7,0x5C7}, {0x610,0x61A}, {0x64B,0x65F}, {0x670,0x670},
    {0x6D6,0x6DC}, {0x6DF,0x6E4}, {0x6E7,0x6E8}, {0x6EA,0x6ED}, {0x711,0x711}, {0x730,0x74A}, {0x7EB,0x7F3},
    {0x7FD,0x7FD}, {0x816,0x819}, {0x81B,0x823}, {0x825,0x827}, {0x829,0x82D}, {0x859,0x85B}, {0x897,0x89F},
    {0x8CA,0x8E1}, {0x8E3,0x8FF}, {0x93C,0x93C}, {0x94D,0x94D}, {0x951,0x954}, {0x958,0x95F}, {0x9BC,0x9BC},
    {0x9BE,0x9BE}, {0x9CD,0x9CD}, {0x9D7,0x9D7}, {0x9DC,0x9DD}, {0x9DF,0x9DF}, {0x9FE,0x9FE}, {0xA33,0xA33},
    {0xA36,0xA36}, {0xA3C,0xA3C}, {0xA4D,0xA4D}, {0xA59,0xA5B}, {0xA5E,0xA5E}, {0xABC,0xABC}, {0xACD,0xACD},
    {0xB3C,0xB3C}, {0xB3E,0xB3E}, {0xB4D,0xB4D}, {0xB56,0xB57}, {0xB5C,0xB5D}, {0xBBE,0xBBE}, {0xBCD,0xBCD},
    {0xBD7,0xBD7}, {0xC3C,0xC3C}, {0xC4D,0xC4D}, {0xC55,0xC56}, {0xCBC,0xCBC}, {0xCC2,0xCC2}, {0xCCD,0xCCD},
    {0xCD5,0xCD6}, {0xD3B,0xD3C}, {0xD3E,0xD3E}, {0xD4D,0xD4D}, {0xD57,0xD57}, {0xDCA,0xDCA}, {0xDCF,0xDCF},
    {0xDDF,0xDDF}, {0xE38,0xE3A}, {0xE48,0xE4B}, {0xEB8,0xEBA}, {0xEC8,0xECB}, {0xF18,0xF19}, {0xF35,0xF35},
    {0xF37,0xF37}, {0xF39,0xF39}, {0xF43,0xF43}, {0xF4D,0xF4D}, {0xF52,0xF52}, {0xF57,0xF57}, {0xF5C,0xF5C},
    {0xF69,0xF69}, {0xF71,0xF76}, {0xF78,0xF78}, {0xF7A,0xF7D}, {0xF80,0xF84}, {0xF86,0xF87}, {0xF93,0xF93},
    {0xF9D,0xF9D}, {0xFA2,0xFA2}, {0xFA7,0xFA7}, {0xFAC,0xFAC}, {0xFB9,0xFB9}, {0xFC6,0xFC6}, {0x102E,0x102E},
    {0x1037,0x1037}, {0x1039,0x103A}, {0x108D,0x108D}, {0x1161,0x1175}, {0x11A8,0x11C2}, {0x135D,0x135F},
    {0x1714,0x1715}, {0x1734,0x1734}, {0x17D2,0x17D2}, {0x17DD,0x17DD}, {0x18A9,0x18A9}, {0x1939,0x193B},
    {0x1A17,0x1A18}, {0x1A60,0x1A60}, {0x1A75,0x1A7C}, {0x1A7F,0x1A7F}, {0x1AB0,0x1ABD}, {0x1ABF,0x1ACE},
    {0x1B34,0x1B35}, {0x1B44,0x1B44}, {0x1B6B,0x1B73}, {0x1BAA,0x1BAB}, {0x1BE6,0x1BE6}, {0x1BF2,0x1BF3},
    {0x1C37,0x1C37}, {0x1CD0,0x1CD2}, {0x1CD4,0x1CE0}, {0x1CE2,0x1CE8}, {0x1CED,0x1CED}, {0x1CF4,0x1CF4},
    {0x1CF8,0x1CF9}, {0x1DC0,0x1DFF}, {0x1F71,0x1F71}, {0x1F73,0x1F73}, {0x1F75,0x1F75}, {0x1F77,0x1F77},
    {0x1F79,0x1F79}, {0x1F7B,0x1F7B}, {0x1F7D,0x1F7D}, {0x1FBB,0x1FBB}, {0x1FBE,0x1FBE}, {0x1FC9,0x1FC9},
    {0x1FCB,0x1FCB}, {0x1FD3,0x1FD3}, {0x1FDB,0x1FDB}, {0x1FE3,0x1FE3}, {0x1FEB,0x1FEB}, {0x1FEE,0x1FEF},
    {0x1FF9,0x1FF9}, {0x1FFB,0x1FFB}, {0x1FFD,0x1FFD}, {0x2000,0x2001}, {0x20D0,0x20DC}, {0x20E1,0x20E1},
    {0x20E5,0x20F0}, {0x2126,0x2126}, {0x212A,0x212B}, {0x2329,0x232A}, {0x2ADC,0x2ADC}, {0x2CEF,0x2CF1},
    {0x2D7F,0x2D7F}, {0x2DE0,0x2DFF}, {0x302A,0x302F}, {0x3099,0x309A}, {0xA66F,0xA66F}, {0xA674,0xA67D},
    {0xA69E,0xA69F}, {0xA6F0,0xA6F1}, {0xA806,0xA806}, {0xA82C,0xA82C}, {0xA8C4,0xA8C4}, {0xA8E0,0xA8F1},
    {0xA92B,0xA92D}, {0xA953,0xA953}, {0xA9B3,0xA9B3}, {0xA9C0,0xA9C0}, {0xAAB0,0xAAB0}, {0xAAB2,0xAAB4},
    {0xAAB7,0xAAB8}, {0xAABE,0xAABF}, {0xAAC1,0xAAC1}, {0xAAF6,0xAAF6}, {0xABED,0xABED}, {0xF900,0xFA0D},
    {0xFA10,0xFA10}, {0xFA12,0xFA12}, {0xFA15,0xFA1E}, {0xFA20,0xFA20}, {0xFA22,0xFA22}, {0xFA25,0xFA26},
    {0xFA2A,0xFA6D}, {0xFA70,0xFAD9}, {0xFB1D,0xFB1F}, {0xFB2A,0xFB36}, {0xFB38,0xFB3C}, {0xFB3E,0xFB3E},
    {0xFB40,0xFB41}, {0xFB43,0xFB44}, {0xFB46,0xFB4E}, {0xFE20,0xFE2F}, {0x101FD,0x101FD}, {0x102E0,0x102E0},
    {0x10376,0x1037A}, {0x10A0D,0x10A0D}, {0x10A0F,0x10A0F}, {0x10A38,0x10A3A}, {0x10A3F,0x10A3F},
    {0x10AE5,0x10AE6}, {0x10D24,0x10D27}, {0x10D69,0x10D6D}, {0x10EAB,0x10EAC}, {0x10EFD,0x10EFF},
    {0x10F46,0x10F50}, {0x10F82,0x10F85}, {0x11046,0x11046}, {0x11070,0x11070}, {0x1107F,0x1107F},
    {0x110B9,0x110BA}, {0x11100,0x11102}, {0x11127,0x11127}, {0x11133,0x11134}, {0x11173,0x11173},
    {0x111C0,0x111C0}, {0x111CA,0x111CA}, {0x11235,0x11236}, {0x112E9,0x112EA}, {0x1133B,0x1133C},
    {0x1133E,0x1133E}, {0x1134D,0x1134D}, {0x11357,0x11357}, {0x11366,0x1136C}, {0x11370,0x11374},
    {0x113B8,0x113B8}, {0x113BB,0x113BB}, {0x113C2,0x113C2}, {0x113C9,0x113C9}, {0x113CE,0x113D0},
    {0x11442,0x11442}, {0x11446,0x11446}, {0x1145E,0x1145E}, {0x114B0,0x114B0}, {0x114BA,0x114BA},
    {0x114BD,0x114BD}, {0x114C2,0x114C3}, {0x115AF,0x115AF}, {0x115BF,0x115C0}, {0x1163F,0x1163F},
    {0x116B6,0x116B7}, {0x1172B,0x1172B}, {0x11839,0x1183A}, {0x11930,0x11930}, {0x1193D,0x1193E},
    {0x11943,0x11943}, {0x119E0,0x119E0}, {0x11A34,0x11A34}, {0x11A47,0x11A47}, {0x11A99,0x11A99},
    {0x11C3F,0x11C3F}, {0x11D42,0x11D42}, {0x11D44,0x11D45}, {0x11D97,0x11D97}, {0x11F41,0x11F42},
    {0x1611E,0x16120}, {0x16129,0x16129}, {0x1612F,0x1612F}, {0x16AF0,0x16AF4}, {0x16B30,0x16B36},
    {0x16D67,0x16D67}, {0x16FF0,0x16FF1}, {0x1BC9E,0x1BC9E}, {0x1D15E,0x1D169}, {0x1D16D,0x1D172},
    {0x1D17B,0x1D182}, {0x1D185,0x1D18B}, {0x1D1AA,0x1D1AD}, {0x1D1BB,0x1D1C0}, {0x1D242,0x1D244},
    {0x1E000,0x1E006}, {0x1E008,0x1E018}, {0x1E01B,0x1E021}, {0x1E023,0x1E024}, {0x1E026,0x1E02A},
    {0x1E08F,0x1E08F}, {0x1E130,0x1E136}, {0x1E2AE,0x1E2AE}, {0x1E2EC,0x1E2EF}, {0x1E4EC,0x1E4EF},
    {0x1E5EE,0x1E5EF}, {0x1E8D0,0x1E8D6}, {0x1E944,0x1E94A}, {0x2F800,0x2FA1D},
};

#define UNICODE_COUNT(t) (sizeof(t) / sizeof(t[0]))

// bisection over {first, last, ...} rows of `width` words; returns the row or NULL
static const uint32_t* unicode_find_range(const uint32_t* table, size_t rows, size_t width, uint32_t cp) {
    size_t lo = 0, hi = rows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t* r = table + mid * width;
        if (cp < r[0]) {
            hi = mid;
        } else if (cp > r[1]) {
            lo = mid + 1;
        } else {
            return r;
        }
    }
    return NULL;
}

static int unicode_is_letter(uint32_t cp) {
    if (cp < 0x80) {
        return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    }
    return unicode_find_range(&unicode_letter_ranges[0][0], UNICODE_COUNT(unicode_letter_ranges), 2, cp) != NULL;
}

static int unicode_is_number(uint32_t cp) {
    if (cp < 0x80) {
        return cp >= '0' && cp <= '9';
    }
    return unicode_find_range(&unicode_number_ranges[0][0], UNICODE_COUNT(unicode_number_ranges), 2, cp) != NULL;
}

static int unicode_is_space(uint32_t cp) {
    if (cp < 0x80) {
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    }
    return unicode_find_range(&unicode_space_ranges[0][0], UNICODE_COUNT(unicode_space_ranges), 2, cp) != NULL;
}

static int unicode_ccc(uint32_t cp) {
    if (cp < 0x300) {
        return 0;
    }
    const uint32_t* r = unicode_find_range(&unicode_ccc_ranges[0][0], UNICODE_COUNT(unicode_ccc_ranges), 3, cp);
    return r ? (int)r[2] : 0;
}

static int unicode_nfc_quick(uint32_t cp) { // 1: cp may change or combine under NFC
    if (cp < 0x300) {
        return 0;
    }
    return unicode_find_range(&unicode_nfc_quick_ranges[0][0], UNICODE_COUNT(unicode_nfc_quick_ranges), 2, cp) != NULL;
}

// The canonical decomposition of cp, one level: returns 0 (none), 1 or 2 code points in out.
static int unicode_decompose1(uint32_t cp, uint32_t out[2]) {
    size_t lo = 0, hi = UNICODE_COUNT(unicode_decompositions);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < unicode_decompositions[mid][0]) {
            hi = mid;
        } else if (cp > unicode_decompositions[mid][0]) {
            lo = mid + 1;
        } else {
            out[0] = unicode_decompositions[mid][1];
            out[1] = unicode_decompositions[mid][2];
            return out[1] ? 2 : 1;
        }
    }
    return 0;
}

// The primary composite of (a, b), or 0 when there is none.
static uint32_t unicode_compose(uint32_t a, uint32_t b) {
    size_t lo = 0, hi = UNICODE_COUNT(unicode_compositions);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t* r = unicode_compositions[mid];
        if (a < r[0] || (a == r[0] && b < r[1])) {
            hi = mid;
        } else if (a > r[0] || b > r[1]) {
            lo = mid + 1;
        } else {
            return r[2];
        }
    }
    return 0;
}

#endif // R1_H
