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
// instead of waiting for the slowest sequence of a batch. The GPU engine (generate.cu) mirrors this
// structure; here every step is written with the layer functions above.
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

// Samples the next token of a sequence from its logits and applies the rules. Returns 1 when the
// sequence is finished, with *finish set.
static int generate_advance(const GenerateConfig* g, const Tokenizer* tok, Sampler* smp, GenSeq* s,
                            const float* logits, int* finish) {
    float lp;
    int token = sample_token(smp, logits, &g->sampling, s->ids, s->n, &s->rng, &lp);
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

// Generates `samples` completions for each of n_prompts prompts (token ids); out[i * samples + k]
// gets completion k of prompt i (free each with completion_free). tok may be NULL (no text, no stop
// strings). The loop: fill the free slots with the next completions, run one step of the model
// over every slot's waiting tokens, sample where a sequence's input is all in, retire the finished.
// Sample k of prompt i is reproducible from (seed, i, k); with greedy decoding the output does not
// depend on the number of slots (up to the rounding of batched matmuls; tested equal on the fixtures).
static void generate_batch(Qwen2* m, const Tokenizer* tok, int** prompts, const int* prompt_lens, int n_prompts,
                           int samples, const GenerateConfig* cfg, Completion* out) {
    const Qwen2Config* c = &m->config;
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
    KVCache kv;
    kvcache_init(&kv, c, slots, max_len);
    Sampler smp;
    sampler_init(&smp, c->vocab_size);
    GenSeq* seqs = (GenSeq*)calloc_check((size_t)slots, sizeof(GenSeq));
    for (int sl = 0; sl < slots; sl++) {
        seqs[sl].prompt = -1;
        seqs[sl].ids = (int*)malloc_check((size_t)(max_len + GEN_MAX_IDS + 1) * sizeof(int));
        seqs[sl].logprobs = (float*)malloc_check((size_t)(max_len + GEN_MAX_IDS + 1) * sizeof(float));
    }
    int* ids = (int*)malloc_check((size_t)step_tokens * sizeof(int));
    int* seq_slot = (int*)malloc_check((size_t)slots * sizeof(int));
    int* n_new = (int*)malloc_check((size_t)slots * sizeof(int));
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
            kv.len[seq_slot[i]] = seqs[seq_slot[i]].fed; // (budget forcing may have moved it back)
        }
        qwen2_forward_cached(m, &kv, ids, seq_slot, n_new, nseq);
        for (int i = 0; i < nseq; i++) {
            GenSeq* s = &seqs[seq_slot[i]];
            s->fed += n_new[i];
            int finish;
            if (s->fed < s->n) {
                continue; // part of a prompt: its logits predict tokens we already have
            }
            int done = generate_advance(cfg, tok, &smp, s, kv.logits + (size_t)i * c->vocab_size, &finish);
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
    free(seqs), free(ids), free(seq_slot), free(n_new);
    sampler_free(&smp);
    kvcache_free(&kv);
}
