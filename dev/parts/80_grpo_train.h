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

// Countdown prompt forms. "base" and "chat" are TinyZero's (50_data.h); "short" is ours, for the
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
    const char* schedule;  // lr schedule name (40_optim.h)
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
        o->prompts_per_step = 8, o->group_size = 16, o->max_completion = 64, o->micro_batch = 32;
        o->lr = 1e-4f, o->schedule = "constant", o->warmup = 0.0, o->steps = 80;
        o->temperature = 1.0f, o->agg = GRPO_AGG_DAPO, o->scale = GRPO_SCALE_GROUP, o->loss.beta = 0.0f;
        o->eval_n = 200;
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
// GRPO: rollouts
// generate_batch (58_generate.h) samples G completions of each prompt with the KV cache; this is
// the only place that fills its config, so the loop below reads as the algorithm.

// n_prompts prompts, `samples` completions each (prompt-major: out[p * samples + s]).
// temperature 0 is greedy decoding (evaluation).
static void grpo_generate(Qwen2* m, const Tokenizer* tok, const GrpoOptions* o, GrpoPrompt* prompts, int n_prompts,
                          int samples, float temperature, uint64_t seed, Completion* out) {
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
    generate_batch(m, tok, ids, lens, n_prompts, samples, &gc, out);
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

// Is completion c right? Countdown: the project's checker (60_answer.h); math: math_verify.
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

// One micro-batch of the update: forward, the GRPO gradient of the logits, backward (gradients are
// added into m->grads). n_micro and global_tokens make the aggregation see the whole batch
// (grpo_token_weights). Returns this micro-batch's share of the loss; adds to *st.
static double grpo_micro_step(Qwen2* m, const GrpoBatch* b, const GrpoOptions* o, int c0, int c1, int pad_id,
                              int n_micro, double global_tokens, GrpoStats* st) {
    int T = b->Tmax, V = m->config.vocab_size, B = c1 - c0, L = b->Lmax;
    size_t BT = (size_t)B * T;
    int* ids = (int*)malloc_check(BT * sizeof(int));
    int* pos = (int*)malloc_check(BT * sizeof(int));
    long* where = (long*)malloc_check(BT * sizeof(long));
    int* y = (int*)calloc_check(BT, sizeof(int));          // (B, T) the token each position predicts
    float* w = (float*)calloc_check(BT, sizeof(float));    // (B, T) aggregation weight x mask
    float* adv = (float*)calloc_check(BT, sizeof(float));  // (B, T)
    float* old = (float*)calloc_check(BT, sizeof(float));  // (B, T)
    float* ref = (float*)calloc_check(BT, sizeof(float));  // (B, T)
    float* wc = (float*)malloc_check((size_t)B * L * sizeof(float)); // (B, Lmax) weights per completion token
    grpo_layout(b, c0, c1, pad_id, ids, pos, where);
    if (o->agg == GRPO_AGG_BNPO) { // a token mean per micro-batch, then / n_micro, as TRL's bnpo
        grpo_token_weights(wc, b->mask + (size_t)c0 * L, B, L, o->agg, o->max_completion, global_tokens, n_micro);
    } else { // the others are means over the whole batch: the same update however it is split
        memcpy(wc, b->weight + (size_t)c0 * L, (size_t)B * L * sizeof(float));
    }
    for (size_t i = 0; i < BT; i++) {
        if (where[i] >= 0) {
            long k = where[i];
            y[i] = ids[i + 1];
            w[i] = wc[k - (long)c0 * L];
            adv[i] = b->adv[k / L];
            old[i] = b->old_logp ? b->old_logp[k] : 0.0f;
            ref[i] = b->ref_logp ? b->ref_logp[k] : 0.0f;
        }
    }
    qwen2_forward(m, ids, pos, NULL, B, T);
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
        grpo_loss_backward(dlogits + r0 * V, &l, m->acts.logits + r0 * V, y + r0, b->old_logp ? old + r0 : NULL,
                           b->ref_logp ? ref + r0 : NULL, adv + r0, w + r0, NULL, (int)(r1 - r0), V, &cfg, &part[k]);
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
    free(ids), free(pos), free(where), free(y), free(w), free(adv), free(old), free(ref), free(wc);
    free(part), free(loss);
    return total;
}

// num_iterations updates from one scored batch. Returns the last update's loss.
static double grpo_update(Qwen2* m, GrpoBatch* b, const GrpoOptions* o, int pad_id, Optimizer* opt, float* adam_m,
                          float* adam_v, GrpoStats* st) {
    int mb = o->micro_batch > 0 ? o->micro_batch : b->n, n_micro = (b->n + mb - 1) / mb;
    double global_tokens = 0.0, loss = 0.0;
    for (size_t i = 0; i < (size_t)b->n * b->Lmax; i++) {
        global_tokens += b->mask[i];
    }
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
    grpo_generate(r->policy, r->tok, o, b.prompts, P, G, o->temperature, grpo_stream(o->seed, step, 3), b.comp);
    double t1 = wall_time();
    grpo_batch_score(&b, o, &r->rewards);
    if (o->num_iterations > 1) { // the sampling policy's log-probs, before any update moves it
        b.old_logp = (float*)calloc_check((size_t)b.n * b.Lmax, sizeof(float));
        grpo_batch_logps(r->policy, &b, o, pad, b.old_logp);
    }
    if (o->loss.beta != 0.0f) {
        b.ref_logp = (float*)calloc_check((size_t)b.n * b.Lmax, sizeof(float));
        grpo_batch_logps(r->ref, &b, o, pad, b.ref_logp);
    }
    double t2 = wall_time();
    GrpoStats st;
    memset(&st, 0, sizeof(st));
    mt->loss = grpo_update(r->policy, &b, o, pad, &r->opt, r->adam_m, r->adam_v, &st);
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

static double grpo_eval_countdown(Qwen2* m, const Tokenizer* tok, const GrpoOptions* o, int n) {
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
    grpo_generate(m, tok, o, prompts, n, 1, 0.0f, 1, comp);
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
// The same protocol as SFT's (70_sft.h): out_dir/checkpoint-N/ is a Hugging Face model folder plus
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
    char name[64], tmp_name[80];
    snprintf(name, sizeof(name), "checkpoint-%d", step);
    snprintf(tmp_name, sizeof(tmp_name), "checkpoint-%d.tmp", step);
    char* dir = path_join(o->out_dir, name);
    char* tmp = path_join(o->out_dir, tmp_name);
    remove_dir_files(tmp); // a leftover of a run killed while writing this same checkpoint
    make_dir(tmp);
    model_save(tmp, &r->policy->config, &r->policy->params, "F32"); // fp32: a resume continues exactly
    sft_write_generation_config(tmp, &r->policy->config, r->tok, model_dir);
    tokenizer_save(r->tok, tmp);
    char* opt_path = path_join(tmp, "optimizer.safetensors");
    optimizer_save(opt_path, &r->opt, r->adam_m, r->adam_v, r->policy->num_parameters);
    grpo_write_state(r, o, tmp, step); // written last: a folder with trainer_state.json is complete
    sync_dir(tmp);
    if (dir_exists(dir)) { // the same step saved before (a resumed run repeating it): replace it
        remove_dir_files(dir);
    }
    if (rename(tmp, dir) != 0) {
        fatal("cannot rename '%s' to '%s': %s", tmp, dir, strerror(errno));
    }
    char* latest = path_join(o->out_dir, "latest");
    char* ltmp;
    FILE* f = atomic_open(latest, &ltmp);
    fprintf(f, "%s\n", name);
    atomic_commit(f, ltmp, latest);
    sync_dir(o->out_dir);
    sft_checkpoint_prune(o->out_dir, 2, step);
    free(latest), free(dir), free(tmp), free(opt_path);
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
            double acc = grpo_eval_countdown(r->policy, r->tok, o, o->eval_n);
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
    if (log) {
        fclose(log);
    }
}

// ----------------------------------------------------------------------------
// R1-Zero in miniature: a cold start for the tiny model
// A randomly initialised model cannot sample a single right answer, and GRPO learns nothing from
// groups that are all wrong. So, as R1 does, a short supervised stage comes first (SFT's loop,
// 70_sft.h): the generator's own solutions in the short prompt form, the solution's steps as the
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
