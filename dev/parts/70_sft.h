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
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>

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

// Writes checkpoint-STEP into out_dir (via checkpoint-STEP.tmp), points "latest" at it, and deletes
// checkpoints beyond the newest opt->keep.
static void sft_checkpoint_prune(const char* out_dir, int keep, int newest);
static void sft_checkpoint_save(SftTrainer* tr) {
    const char* out = tr->opt->out_dir;
    char name[64], tmp_name[80];
    snprintf(name, sizeof(name), "checkpoint-%d", tr->step);
    snprintf(tmp_name, sizeof(tmp_name), "checkpoint-%d.tmp", tr->step);
    char* dir = path_join(out, name);
    char* tmp = path_join(out, tmp_name);
    remove_dir_files(tmp); // a leftover of a run killed while writing this same checkpoint
    make_dir(tmp);
    model_save(tmp, &tr->model->config, &tr->model->params, "F32"); // fp32: a resume continues exactly
    sft_write_generation_config(tmp, &tr->model->config, tr->tok, tr->opt->model_dir);
    tokenizer_save(tr->tok, tmp);
    char* tj = tr->opt->model_dir ? path_join(tr->opt->model_dir, "tokenizer.json") : NULL;
    if (tj && file_exists(tj)) { // the original fast-tokenizer file, so HF loads exactly the same tokenizer
        char* to = path_join(tmp, "tokenizer.json");
        copy_file(tj, to);
        free(to);
    }
    free(tj);
    sft_test_kill_point(tr->step);
    char* opt_path = path_join(tmp, "optimizer.safetensors");
    optimizer_save(opt_path, &tr->optim, tr->adam_m, tr->adam_v, tr->model->num_parameters);
    free(opt_path);
    sft_write_state(tr, tmp); // written last: a folder with trainer_state.json is complete
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
    sft_checkpoint_prune(out, tr->opt->keep, tr->step);
    free(latest), free(dir), free(tmp);
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
    res.steps = tr.step, res.loss = tr.loss, res.eval_loss = tr.eval_loss, res.skipped = tr.optim.total_skips;
    sft_trainer_free(&tr);
    return res;
}
