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
