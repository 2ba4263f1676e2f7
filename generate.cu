/*
generate: sampling completions from a Qwen2.5 model folder.

    ./generate --model Qwen2.5-0.5B-Instruct --prompts prompts.jsonl --out completions.jsonl -n 4
    ./generate --model DIR --prompts ../shared/data/math500/test.jsonl --preset boxed --out math.jsonl
    ./generate --model DIR --interactive

Prompts: one JSON object per line, {"prompt": "..."} or {"messages": [{"role", "content"}...]} (a
final assistant message is continued, e.g. a prefilled "<think>"); benchmark rows work too
("problem" / "question", or Countdown's "nums" + "target", filled into --preset's template).
Output: one line per completion, {"idx": row, "sample": k, "completion": text, "tokens": n,
"finish": "stop"|"length"}, in order, which ./eval --completions reads.

This is the first layer of the GPU program (generate.cu ⊂ train_sft.cu ⊂ train_grpo.cu): the GPU
engine (kernels, CUDA graphs) comes in a later step. Today the work is r1.h's generate_batch (KV
cache, continuous batching over --slots sequences) on the CPU, whether built with nvcc or gcc -x c;
this file parses the flags, reads the prompts, and writes the completions.
*/
#include "r1.h"
#ifdef __CUDACC__
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cublas_v2.h>
#include <cublasLt.h>

// ----------------------------------------------------------------------------
// GPU: precision, error checks, device memory
// The GPU path keeps weights, activations and the KV cache in floatX: bf16, or fp32 in the
// PRECISION=FP32 build (make PRECISION=FP32), which the kernel tests use to compare with r1.h's fp32
// twins at about 1e-5. Sums, softmax statistics, RMSNorm's statistic, logits and log-probs are fp32
// in both builds.

#ifdef ENABLE_FP32
typedef float floatX;
#define PRECISION_NAME "fp32"
#else
typedef __nv_bfloat16 floatX;
#define PRECISION_NAME "bf16"
#endif

static void cuda_check(cudaError_t err, const char* file, int line) {
    if (err != cudaSuccess) {
        fatal("CUDA error at %s:%d: %s", file, line, cudaGetErrorString(err));
    }
}
#define cudaCheck(err) (cuda_check((err), __FILE__, __LINE__))

static void cublas_check(cublasStatus_t status, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) {
        fatal("cuBLAS error %d at %s:%d", (int)status, file, line);
    }
}
#define cublasCheck(status) (cublas_check((status), __FILE__, __LINE__))

// Device memory with a named failure: what was asked, what is free, and the fix.
static void* cuda_malloc_check(size_t bytes, const char* what) {
    void* p = NULL;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        cudaGetLastError(); // clear the error so later calls do not report it again
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        fatal("out of GPU memory allocating %s: %.2f GiB needed, %.2f GiB free of %.2f GiB; use fewer --slots, a "
              "shorter --max-len, or a smaller model",
              what, bytes / 1073741824.0, free_b / 1073741824.0, total_b / 1073741824.0);
    }
    return p;
}

static inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// float <-> floatX on the device
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ floatX from_float(float x) { return (floatX)x; }

// ----------------------------------------------------------------------------
// GPU: layer kernels (twins of r1.h's embedding_forward, rmsnorm_forward, matmul_forward,
// rope_forward, swiglu_forward, residual_forward)
// @@LAYERS@@

// ----------------------------------------------------------------------------
// GPU: attention over the KV cache (twin of r1.h's attention_cached_forward)
// @@ATTENTION@@

// ----------------------------------------------------------------------------
// GPU: sampling (twin of r1.h's sample_token)
// @@SAMPLING@@

// ----------------------------------------------------------------------------
// GPU: the model and one step through the KV cache (twin of r1.h's qwen2_forward_cached)
// @@MODEL@@

// ----------------------------------------------------------------------------
// GPU: the engine behind generate_batch (continuous batching, CUDA graphs for decode steps)
// @@ENGINE@@

#endif // __CUDACC__

typedef struct {
    const char* model;
    const char* prompts;
    const char* out;
    int n;              // samples per prompt
    int chat;           // -1: on when the tokenizer has a chat template
    const char* system; // NULL: the preset's, else the model's default
    const char* preset;
    int interactive;
    int ids;            // write token ids and log-probs too
    int threads;
    GenerateConfig g;
    // sampling flags given on the command line (they override generation_config.json)
    float temperature, top_p, repetition_penalty;
    int top_k, max_new_tokens;
    int stop_ids[GEN_MAX_IDS], n_stop_ids;
    int min_think, max_think;
} GenArgs;

static void gen_usage(FILE* f) {
    fprintf(f,
            "usage: ./generate --model DIR (--prompts FILE.jsonl --out FILE.jsonl | --interactive) [options]\n"
            "Samples completions with the r1.h engine (KV cache, continuous batching).\n"
            "  --model DIR             Hugging Face Qwen2.5 folder (config.json, safetensors, vocab.json, merges.txt,\n"
            "                          tokenizer_config.json; generation_config.json gives the sampling defaults)\n"
            "  --prompts FILE          jsonl: {\"prompt\": text} or {\"messages\": [...]} per line (also \"problem\",\n"
            "                          \"question\", or Countdown's \"nums\" + \"target\" with --preset)\n"
            "  --out FILE              completions jsonl: {\"idx\", \"sample\", \"completion\", \"tokens\", \"finish\"}\n"
            "  -n N                    samples per prompt (default 1)\n"
            "  --interactive           read prompts from stdin, one per line (each a new conversation), and stream\n"
            "                          the answers\n"
            "prompt:\n"
            "  --chat / --no-chat      chat template on or off (default: on when the tokenizer has one)\n"
            "  --system TEXT           system prompt (default: the preset's, else the model's default)\n"
            "  --preset NAME           prompt template: boxed | r1 | openr1 | countdown (fills {problem}, {nums},\n"
            "                          {target} from the row)\n"
            "sampling (defaults: the model's generation_config.json, else greedy):\n"
            "  --temperature T         0 = greedy\n"
            "  --top-k K  --top-p P  --repetition-penalty R\n"
            "  --seed S                sample k of prompt i is reproducible from (S, i, k) (default 1)\n"
            "stopping:\n"
            "  --max-new-tokens N      (default: generation_config.json's, else 256)\n"
            "  --max-len N             context: prompt + completion (default: max_position_embeddings; more is\n"
            "                          allowed, RoPE extends, but the model was not trained that far)\n"
            "  --stop-id ID            stop on this token id too (repeatable; eos ids of the model are always used)\n"
            "  --stop STR              stop once the completion contains STR (repeatable), e.g. --stop '</answer>'\n"
            "  --strip-stop            cut the stop string off the text (default: keep it, as rewards need it)\n"
            "  --min-think N           budget forcing (s1): an end of thinking before N tokens becomes \"Wait\"\n"
            "  --max-think N           budget forcing: \"</think>\" is forced after N tokens of thinking\n"
            "engine:\n"
            "  --slots N               sequences generated at once (default 8)\n"
            "  --threads N             OpenMP threads (default: all cores)\n"
            "  --ids                   also write \"ids\" and \"logprobs\" of each completion\n");
}

static int gen_int(const char* flag, const char* v, int min) {
    char* end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end || x < min || x > 2147483647L) {
        fatal("%s %s: expected an integer >= %d", flag, v, min);
    }
    return (int)x;
}

static float gen_float(const char* flag, const char* v, float min) {
    char* end;
    double x = strtod(v, &end);
    if (*v == '\0' || *end || !(x >= min)) {
        fatal("%s %s: expected a number >= %g", flag, v, min);
    }
    return (float)x;
}

static GenArgs gen_parse_args(int argc, char** argv) {
    GenArgs a;
    memset(&a, 0, sizeof(a));
    a.n = 1, a.chat = -1, a.temperature = -1, a.top_p = -1, a.repetition_penalty = -1, a.top_k = -1;
    a.max_new_tokens = -1;
    generate_config_default(&a.g);
    for (int i = 1; i < argc; i++) {
        const char* f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            gen_usage(stdout);
            exit(0);
        }
        int flag_only = !strcmp(f, "--chat") || !strcmp(f, "--no-chat") || !strcmp(f, "--interactive") ||
                        !strcmp(f, "--strip-stop") || !strcmp(f, "--ids");
        if (flag_only) {
            if (!strcmp(f, "--chat") || !strcmp(f, "--no-chat")) a.chat = !strcmp(f, "--chat");
            else if (!strcmp(f, "--interactive")) a.interactive = 1;
            else if (!strcmp(f, "--strip-stop")) a.g.strip_stop = 1;
            else a.ids = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fatal("%s needs a value (see ./generate --help)", f);
        }
        const char* v = argv[++i];
        if (!strcmp(f, "--model")) a.model = v;
        else if (!strcmp(f, "--prompts")) a.prompts = v;
        else if (!strcmp(f, "--out")) a.out = v;
        else if (!strcmp(f, "-n")) a.n = gen_int(f, v, 1);
        else if (!strcmp(f, "--system")) a.system = v;
        else if (!strcmp(f, "--preset")) a.preset = v;
        else if (!strcmp(f, "--temperature")) a.temperature = gen_float(f, v, 0);
        else if (!strcmp(f, "--top-k")) a.top_k = gen_int(f, v, 0);
        else if (!strcmp(f, "--top-p")) a.top_p = gen_float(f, v, 0);
        else if (!strcmp(f, "--repetition-penalty")) a.repetition_penalty = gen_float(f, v, 1e-6f);
        else if (!strcmp(f, "--seed")) a.g.seed = (uint64_t)gen_int(f, v, 0);
        else if (!strcmp(f, "--max-new-tokens")) a.max_new_tokens = gen_int(f, v, 1);
        else if (!strcmp(f, "--max-len")) a.g.max_len = gen_int(f, v, 2);
        else if (!strcmp(f, "--slots")) a.g.slots = gen_int(f, v, 1);
        else if (!strcmp(f, "--threads")) a.threads = gen_int(f, v, 1);
        else if (!strcmp(f, "--min-think")) a.min_think = gen_int(f, v, 0);
        else if (!strcmp(f, "--max-think")) a.max_think = gen_int(f, v, 0);
        else if (!strcmp(f, "--stop-id")) {
            if (a.n_stop_ids == GEN_MAX_IDS) {
                fatal("--stop-id: at most %d", GEN_MAX_IDS);
            }
            a.stop_ids[a.n_stop_ids++] = gen_int(f, v, 0);
        } else if (!strcmp(f, "--stop")) {
            if (a.g.n_stop == GEN_MAX_STOP || v[0] == '\0') {
                fatal("--stop: at most %d stop strings, none empty", GEN_MAX_STOP);
            }
            a.g.stop[a.g.n_stop++] = v;
        } else {
            fatal("unknown flag %s (see ./generate --help)", f);
        }
    }
    if (!a.model) {
        fatal("a model folder is needed: --model DIR (a Hugging Face Qwen2.5 folder, e.g. Qwen2.5-0.5B-Instruct, or "
              "a checkpoint written by ./train_sft or ./train_grpo)");
    }
    if (!a.interactive && (!a.prompts || !a.out)) {
        fatal("give --prompts FILE.jsonl and --out FILE.jsonl, or --interactive (see ./generate --help)");
    }
    if (a.chat == 0 && a.system) {
        fatal("--system needs the chat template (drop --no-chat)");
    }
    if (a.preset && !prompt_preset(a.preset)) {
        fatal("unknown --preset '%s' (boxed, r1, openr1, countdown)", a.preset);
    }
    return a;
}

// Sampling defaults from generation_config.json, then the flags; eos ids from the model.
static void gen_configure(GenArgs* a, const Qwen2Config* c, const Tokenizer* tok) {
    GenerateConfig* g = &a->g;
    generation_config_load(a->model, g);
    if (a->temperature >= 0) g->sampling.temperature = a->temperature;
    if (a->top_k >= 0) g->sampling.top_k = a->top_k;
    if (a->top_p >= 0) g->sampling.top_p = a->top_p;
    if (a->repetition_penalty >= 0) g->sampling.repetition_penalty = a->repetition_penalty;
    if (a->max_new_tokens > 0) g->max_new_tokens = a->max_new_tokens;
    // eos: generation_config.json's (transformers uses only these), config.json's, the tokenizer's, and in
    // chat mode <|im_end|>, which ends an assistant turn even in base models whose config lists only
    // <|endoftext|>; then --stop-id
    if (c->eos_token_id >= 0 && c->eos_token_id < c->vocab_size) generate_add_eos(g, c->eos_token_id);
    if (tok->eos_id >= 0 && tok->eos_id < c->vocab_size) generate_add_eos(g, tok->eos_id);
    if (a->chat && tok->im_end_id >= 0 && tok->im_end_id < c->vocab_size) generate_add_eos(g, tok->im_end_id);
    for (int i = 0; i < a->n_stop_ids; i++) {
        if (a->stop_ids[i] >= c->vocab_size) {
            fatal("--stop-id %d: unknown token (the model's vocabulary is 0..%d)", a->stop_ids[i], c->vocab_size - 1);
        }
        generate_add_eos(g, a->stop_ids[i]);
    }
    if (a->min_think > 0 || a->max_think > 0) {
        generate_config_budget(g, tok, a->min_think, a->max_think);
    }
}

// --- prompts -------------------------------------------------------------------------

typedef struct {
    int** ids; // (n) token ids of each prompt
    int* lens; // (n)
    int n, cap;
} GenPrompts;

static void gen_prompts_add(GenPrompts* p, int* ids, int len) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->ids = (int**)realloc_check(p->ids, (size_t)p->cap * sizeof(int*));
        p->lens = (int*)realloc_check(p->lens, (size_t)p->cap * sizeof(int));
    }
    p->ids[p->n] = ids;
    p->lens[p->n++] = len;
}

// The user text of a row: "prompt", "problem" or "question" (or Countdown's numbers and target),
// put into the preset's template when there is one. NULL when the row has none of these.
static char* gen_user_text(const Json* row, const PromptPreset* pp, const char* where) {
    const Json* nums = json_get(row, "nums");
    const Json* target = json_get(row, "target");
    char nbuf[512] = "", tbuf[32] = "";
    if (nums && nums->type == JSON_ARRAY && target && target->type == JSON_NUMBER) {
        size_t len = (size_t)snprintf(nbuf, sizeof(nbuf), "[");
        for (size_t i = 0; i < nums->len && len < sizeof(nbuf) - 16; i++) {
            len += (size_t)snprintf(nbuf + len, sizeof(nbuf) - len, "%s%.0f", i ? ", " : "", nums->items[i].number);
        }
        snprintf(nbuf + len, sizeof(nbuf) - len, "]");
        snprintf(tbuf, sizeof(tbuf), "%.0f", target->number);
    }
    const char* keys[3] = {"prompt", "problem", "question"};
    const char* text = NULL;
    for (int k = 0; k < 3 && !text; k++) {
        text = json_get_string(row, keys[k]);
    }
    if (!text && !nbuf[0]) {
        return NULL;
    }
    if (!pp) {
        if (!text) {
            fatal("%s: a Countdown row (nums, target) needs --preset countdown", where);
        }
        return strdup_check(text);
    }
    const char* pkeys[3] = {"problem", "nums", "target"};
    const char* values[3] = {text ? text : nbuf, nbuf, tbuf};
    return prompt_fill(pp->user, pkeys, values, 3);
}

// Token ids of one prompt row. Chat: the preset's or --system's system prompt, the user text, and the
// assistant header; "messages" rows as they are (a final assistant message is continued).
static int gen_encode_row(const GenArgs* a, const Tokenizer* tok, const Json* row, const char* where, int** ids) {
    const PromptPreset* pp = a->preset ? prompt_preset(a->preset) : NULL;
    const char* system = a->system ? a->system : pp ? pp->system : NULL;
    const Json* msgs = json_get(row, "messages");
    if (row->type != JSON_OBJECT) {
        fatal("%s: expected a JSON object like {\"prompt\": \"...\"}", where);
    }
    if (msgs) {
        if (!a->chat) {
            fatal("%s: a \"messages\" row needs the chat template (drop --no-chat)", where);
        }
        if (msgs->type != JSON_ARRAY || msgs->len == 0) {
            fatal("%s: \"messages\" must be a non-empty list of {\"role\", \"content\"}", where);
        }
        ChatMessage* cm = (ChatMessage*)malloc_check(msgs->len * sizeof(ChatMessage));
        for (size_t i = 0; i < msgs->len; i++) {
            cm[i].role = json_get_string(&msgs->items[i], "role");
            cm[i].content = json_get_string(&msgs->items[i], "content");
            if (!cm[i].role || !cm[i].content) {
                fatal("%s: message %zu needs string \"role\" and \"content\"", where, i);
            }
        }
        int cont = strcmp(cm[msgs->len - 1].role, "assistant") == 0;
        int n = chat_encode(tok, cm, (int)msgs->len, system, !cont, cont, ids, NULL);
        free(cm);
        return n;
    }
    char* user = gen_user_text(row, pp, where);
    if (!user) {
        fatal("%s: no prompt: expected \"prompt\" (or \"messages\", \"problem\", \"question\", \"nums\"+\"target\")",
              where);
    }
    int n;
    if (a->chat) {
        ChatMessage m = {"user", user};
        n = chat_encode(tok, &m, 1, system, 1, 0, ids, NULL);
    } else {
        n = tokenizer_encode(tok, user, strlen(user), ids);
    }
    free(user);
    return n;
}

// Reads the prompts file (jsonl; errors name file:line).
static GenPrompts gen_read_prompts(const GenArgs* a, const Tokenizer* tok) {
    GenPrompts p;
    memset(&p, 0, sizeof(p));
    size_t n;
    char* text = read_file(a->prompts, &n);
    size_t line = 0;
    for (char* s = text; s < text + n;) {
        char* e = (char*)memchr(s, '\n', (size_t)(text + n - s));
        e = e ? e : text + n;
        line++;
        char* t = s;
        while (t < e && isspace((unsigned char)*t)) {
            t++;
        }
        if (t < e) {
            char err[256], where[1100];
            snprintf(where, sizeof(where), "%s:%zu", a->prompts, line);
            Json* row = json_parse(s, (size_t)(e - s), err, sizeof(err));
            if (!row) {
                fatal("%s: malformed JSON (%s); expected one object per line like {\"prompt\": \"...\"}", where,
                      strncmp(err, "line 1, ", 8) == 0 ? err + 8 : err); // the parser saw one line
            }
            int* ids;
            int len = gen_encode_row(a, tok, row, where, &ids);
            if (len == 0) {
                fatal("%s: the prompt is empty", where);
            }
            gen_prompts_add(&p, ids, len);
            json_free(row);
        }
        s = e + 1;
    }
    free(text);
    if (p.n == 0) {
        fatal("%s: no prompts (an empty file?)", a->prompts);
    }
    return p;
}

// --- output --------------------------------------------------------------------------

static void gen_write(const GenArgs* a, const Completion* out, int n_prompts) {
    char* tmp;
    FILE* f = atomic_open(a->out, &tmp);
    for (int i = 0; i < n_prompts; i++) {
        for (int k = 0; k < a->n; k++) {
            const Completion* c = &out[(size_t)i * a->n + k];
            fprintf(f, "{\"idx\": %d, \"sample\": %d, \"completion\": ", i, k);
            json_write_string(f, c->text, c->text_len);
            fprintf(f, ", \"tokens\": %d, \"finish\": \"%s\"", c->n_tokens, c->finish == FINISH_STOP ? "stop" : "length");
            if (a->ids) {
                fprintf(f, ", \"ids\": [");
                for (int j = 0; j < c->n_tokens; j++) {
                    fprintf(f, "%s%d", j ? ", " : "", c->tokens[j]);
                }
                fprintf(f, "], \"logprobs\": [");
                for (int j = 0; j < c->n_tokens; j++) {
                    fprintf(f, "%s%.6g", j ? ", " : "", c->logprobs[j]);
                }
                fprintf(f, "]");
            }
            fprintf(f, "}\n");
        }
    }
    atomic_commit(f, tmp, a->out);
}

typedef struct {
    int done, total;
    double t0;
} GenProgress;

static void gen_progress(void* user, int prompt, int sample, const Completion* c) {
    GenProgress* p = (GenProgress*)user;
    p->done++;
    if (p->done == p->total || p->done % 16 == 0) {
        fprintf(stderr, "\rgenerate: %d/%d completions, %.0f s", p->done, p->total, wall_time() - p->t0);
        fflush(stderr);
    }
}

// --- interactive mode: one prompt per line from stdin, the answer streamed ------------------------

typedef struct {
    const Tokenizer* tok;
    TokenStream stream;
} GenStream;

static void gen_stream_token(void* user, int prompt, int sample, int token) {
    GenStream* s = (GenStream*)user;
    size_t len;
    const char* piece = token_stream_push(s->tok, &s->stream, token, 1, &len);
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
}

static void gen_interactive(GenArgs* a, Qwen2* m, const Tokenizer* tok) {
    GenStream s;
    memset(&s, 0, sizeof(s));
    s.tok = tok;
    a->g.on_token = gen_stream_token;
    a->g.user = &s;
    char* line = NULL;
    size_t cap = 0;
    ssize_t got;
    for (int turn = 0;; turn++) {
        fprintf(stderr, "> ");
        if ((got = getline(&line, &cap, stdin)) < 0) {
            break;
        }
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) {
            line[--got] = '\0';
        }
        if (got == 0) {
            continue;
        }
        Json row;
        memset(&row, 0, sizeof(row));
        const char* key = "prompt";
        char* keys[1] = {(char*)key};
        Json value;
        memset(&value, 0, sizeof(value));
        value.type = JSON_STRING, value.string = line, value.len = (size_t)got;
        row.type = JSON_OBJECT, row.keys = keys, row.items = &value, row.len = 1;
        int* ids;
        int n = gen_encode_row(a, tok, &row, "stdin", &ids);
        Completion c;
        a->g.seed += (uint64_t)(turn > 0); // a new draw each turn
        double t0 = wall_time();
        generate_batch(m, tok, &ids, &n, 1, 1, &a->g, &c);
        size_t len;
        const char* rest = token_stream_flush(&s.stream, &len);
        fwrite(rest, 1, len, stdout);
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "[%d tokens, %s, %.1f tokens/s]\n", c.n_tokens, c.finish == FINISH_STOP ? "stop" : "length",
                c.n_tokens / (wall_time() - t0));
        completion_free(&c);
        free(ids);
    }
    free(line);
    token_stream_free(&s.stream);
}

// With nvcc: say which path runs (the GPU engine is not written yet).
static void generate_device_note(void) {
#ifdef __CUDACC__
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        fprintf(stderr, "no CUDA device: running the r1.h CPU path\n");
    } else {
        fprintf(stderr, "GPU path not implemented yet: running the r1.h CPU path\n");
    }
#endif
}

#ifndef R1_NO_GENERATE_MAIN
int main(int argc, char** argv) {
    GenArgs a = gen_parse_args(argc, argv);
#ifdef _OPENMP
    if (a.threads > 0) {
        omp_set_num_threads(a.threads);
    }
#endif
    generate_device_note();
    Qwen2 m;
    qwen2_load(&m, a.model);
    Tokenizer tok;
    tokenizer_load(&tok, a.model);
    if (a.chat < 0) {
        a.chat = tok.chat_template != NULL;
    }
    gen_configure(&a, &m.config, &tok);
    if (a.interactive) {
        gen_interactive(&a, &m, &tok);
    } else {
        GenPrompts p = gen_read_prompts(&a, &tok);
        int total = p.n * a.n;
        Completion* out = (Completion*)calloc_check((size_t)total, sizeof(Completion));
        GenProgress prog = {0, total, wall_time()};
        a.g.on_done = gen_progress;
        a.g.user = &prog;
        generate_batch(&m, &tok, p.ids, p.lens, p.n, a.n, &a.g, out);
        double secs = wall_time() - prog.t0;
        gen_write(&a, out, p.n);
        long tokens = 0, prompt_tokens = 0;
        for (int i = 0; i < total; i++) {
            tokens += out[i].n_tokens;
            completion_free(&out[i]);
        }
        for (int i = 0; i < p.n; i++) {
            prompt_tokens += (long)p.lens[i] * a.n;
            free(p.ids[i]);
        }
        fprintf(stderr, "\ngenerate: %d completions, %ld new tokens (prompts: %ld tokens) in %.2f s: %.1f tokens/s -> %s\n",
                total, tokens, prompt_tokens, secs, tokens / (secs > 0 ? secs : 1e-9), a.out);
        free(out), free(p.ids), free(p.lens);
    }
    tokenizer_free(&tok);
    qwen2_free(&m);
    return 0;
}
#endif // R1_NO_GENERATE_MAIN
