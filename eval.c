/*
eval.c: scores model completions on a benchmark, in plain C.

    ./eval --bench math500 --data ../shared/data/math500/test.jsonl --completions samples.jsonl [--out results.jsonl]

It reads the benchmark's problems and gold answers, and the completions as ./generate writes them,
one JSON object per line: {"idx": problem index, "sample": sample number, "completion": text} with
optional "tokens" (completion length) and "finish" ("stop" or "length"). Math answers are judged by
r1.h's math_verify (Math-Verify as open-r1 uses it, see r1.h's answer checker); Countdown by the
TinyZero rule (countdown_correct). It prints pass@1 (the mean over samples), maj@k (majority vote
over a problem's answers), pass@k (Chen et al.'s unbiased estimator), the format rate (an answer was
found), the mean completion length and the fraction cut at the length limit, and writes one line per
problem with --out. With --model DIR it first generates the completions itself through the r1.h CPU
path (greedy by default; meant for small models, porting and tests: ./generate is the full tool)
and writes them to --completions.
*/
#include "r1.h"

typedef struct {
    char* problem; // the question text
    char* gold;    // the gold answer ("nums=[..] target=.." for Countdown)
    int nums[16];  // Countdown only
    int n_nums, target;
} Problem;

typedef struct {
    long sample;                               // the "sample" number (file order when absent)
    int correct, formatted, truncated, tokens; // tokens: -1 when not given
    char* answer;                              // the extracted answer ("" if none)
    char* completion;
} Sample;

typedef struct {
    Sample* s;
    size_t n, cap;
} Samples;

typedef struct {
    const char* bench;
    const char* data;
    const char* completions;
    const char* out;
    const char* problem_field;
    const char* answer_field;
    const char* preset;
    const char* model;
    long print_prompt;
    int k;
    int n_samples, max_new_tokens, limit; // --model: samples per problem, length, first N problems
    float temperature;
    uint64_t seed;
} Args;

static void usage(FILE* f) {
    fprintf(f,
            "usage: ./eval --bench NAME --data FILE --completions FILE [options]\n"
            "\n"
            "Scores completions (one JSON object per line: {\"idx\", \"sample\", \"completion\"} plus optional\n"
            "\"tokens\" and \"finish\", as ./generate writes them) against a benchmark's gold answers.\n"
            "\n"
            "  --bench NAME          gsm8k | math500 | aime24 | amc23 | countdown | jsonl\n"
            "                          gsm8k:     {question, answer} with the answer after '####' (openai/grade-school-math)\n"
            "                          math500:   {problem, answer} (PRM800K test split)\n"
            "                          aime24, amc23: {problem, answer} (Qwen2.5-Math eval data; numbers allowed)\n"
            "                          countdown: {nums: [..], target: n}, scored with TinyZero's rule\n"
            "                          jsonl:     any jsonl (or JSON array); name the fields with the two flags below\n"
            "  --data FILE           the benchmark file (jsonl, or a JSON array of objects)\n"
            "  --completions FILE    the completions to score (jsonl)\n"
            "  --out FILE            also write one JSON line per problem (gold, samples, correct, pass@k, majority answer)\n"
            "  --k K                 k of pass@k and maj@k (default: the number of samples per problem)\n"
            "  --problem-field NAME  with --bench jsonl: the problem text field (default \"problem\")\n"
            "  --answer-field NAME   with --bench jsonl: the gold answer field (default \"answer\")\n"
            "  --print-prompt IDX    print the prompt of problem IDX (system and user text) and exit\n"
            "  --preset NAME         prompt preset for --print-prompt: boxed | r1 | openr1 | countdown\n"
            "                          (default: countdown for --bench countdown, boxed otherwise)\n"
            "  --model DIR           first generate the completions with the r1.h CPU path (chat template and the\n"
            "                          preset's prompt) and write them to --completions (default completions.jsonl)\n"
            "  -n N                  with --model: samples per problem (default 1)\n"
            "  --temperature T       with --model: 0 = greedy (default 0)\n"
            "  --max-new-tokens N    with --model: completion length limit (default 512)\n"
            "  --limit N             with --model: only the first N problems (default all)\n"
            "  --seed S              with --model: sampling seed (default 1)\n"
            "  -h, --help            this text\n"
            "\n"
            "Metrics: pass@1 = mean accuracy over all samples; maj@k = accuracy of the most common answer among\n"
            "a problem's first k samples by \"sample\" (grouped by math_verify equivalence, earliest wins ties);\n"
            "pass@k = 1 - C(n-c,k)/C(n,k) (Chen et al. 2021) averaged over problems; format = samples where an\n"
            "answer was found; tokens = mean \"tokens\"; truncated = samples with \"finish\": \"length\".\n"
            "Averages are over the problems that have completions.\n");
}

static Args parse_args(int argc, char** argv) {
    Args a = {0};
    a.problem_field = "problem";
    a.answer_field = "answer";
    a.print_prompt = -1;
    a.n_samples = 1;
    a.max_new_tokens = 512;
    a.seed = 1;
    for (int i = 1; i < argc; i++) {
        const char* f = argv[i];
        if (strcmp(f, "-h") == 0 || strcmp(f, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fatal("%s needs a value (see ./eval --help)", f);
        }
        const char* v = argv[++i];
        if (strcmp(f, "--bench") == 0) a.bench = v;
        else if (strcmp(f, "--data") == 0) a.data = v;
        else if (strcmp(f, "--completions") == 0) a.completions = v;
        else if (strcmp(f, "--out") == 0) a.out = v;
        else if (strcmp(f, "--problem-field") == 0) a.problem_field = v;
        else if (strcmp(f, "--answer-field") == 0) a.answer_field = v;
        else if (strcmp(f, "--preset") == 0) a.preset = v;
        else if (strcmp(f, "--model") == 0) a.model = v;
        else if (strcmp(f, "-n") == 0) a.n_samples = atoi(v);
        else if (strcmp(f, "--temperature") == 0) a.temperature = (float)atof(v);
        else if (strcmp(f, "--max-new-tokens") == 0) a.max_new_tokens = atoi(v);
        else if (strcmp(f, "--limit") == 0) a.limit = atoi(v);
        else if (strcmp(f, "--seed") == 0) a.seed = strtoull(v, NULL, 10);
        else if (strcmp(f, "--print-prompt") == 0) {
            char* end;
            a.print_prompt = strtol(v, &end, 10);
            if (*end || a.print_prompt < 0) {
                fatal("--print-prompt wants a problem index (0, 1, ...), got '%s'", v);
            }
        } else if (strcmp(f, "--k") == 0) {
            char* end;
            a.k = (int)strtol(v, &end, 10);
            if (*end || a.k < 1) {
                fatal("--k wants a positive integer, got '%s'", v);
            }
        } else {
            fatal("unknown option '%s' (see ./eval --help)", f);
        }
    }
    static const char* benches[] = {"gsm8k", "math500", "aime24", "amc23", "countdown", "jsonl"};
    int known = 0;
    for (int b = 0; b < 6 && a.bench; b++) {
        known |= strcmp(a.bench, benches[b]) == 0;
    }
    if (!a.bench || !known) {
        fatal("--bench must be one of gsm8k, math500, aime24, amc23, countdown, jsonl (got %s)", a.bench ? a.bench : "none");
    }
    if (a.model && (a.n_samples < 1 || a.max_new_tokens < 1 || a.limit < 0 || a.temperature < 0)) {
        fatal("with --model: -n and --max-new-tokens must be at least 1, --limit and --temperature not negative");
    }
    if (a.model && !a.completions) {
        a.completions = "completions.jsonl";
    }
    if (!a.data) {
        fatal("--data FILE is required (the benchmark's problems and answers)");
    }
    if (!a.completions && a.print_prompt < 0) {
        fatal("--completions FILE is required (or --print-prompt IDX)");
    }
    return a;
}

// ----------------------------------------------------------------------------
// reading the benchmark

// A field as text: strings as they are, numbers as written in the file, except that integral
// floats lose their ".0" (AMC 2023's answers are 27.0); NULL when missing or of another type.
static char* field_text(const Json* row, const char* key) {
    const Json* v = json_get(row, key);
    if (v == NULL) {
        return NULL;
    }
    if (v->type == JSON_STRING) {
        return strdup_check(v->string);
    }
    if (v->type == JSON_NUMBER) {
        char buf[64];
        if (v->number == floor(v->number) && fabs(v->number) < 1e15) {
            snprintf(buf, sizeof(buf), "%.0f", v->number);
        } else {
            snprintf(buf, sizeof(buf), "%s", v->string);
        }
        return strdup_check(buf);
    }
    return NULL;
}

static void read_problem(const Args* a, const Json* row, const char* where, Problem* p) {
    memset(p, 0, sizeof(*p));
    if (row->type != JSON_OBJECT) {
        fatal("%s: expected a JSON object", where);
    }
    int cd = strcmp(a->bench, "countdown") == 0;
    const char* pf = strcmp(a->bench, "jsonl") == 0 ? a->problem_field : strcmp(a->bench, "gsm8k") == 0 ? "question" : "problem";
    const char* af = strcmp(a->bench, "jsonl") == 0 ? a->answer_field : "answer";
    if (cd) {
        const Json* nums = json_get(row, "nums");
        const Json* target = json_get(row, "target");
        if (!nums || nums->type != JSON_ARRAY || nums->len == 0 || nums->len > 16 || !target || target->type != JSON_NUMBER) {
            fatal("%s: a Countdown row needs \"nums\" (a list of 1..16 integers) and \"target\" (an integer)", where);
        }
        char buf[256];
        size_t len = (size_t)snprintf(buf, sizeof(buf), "[");
        for (size_t i = 0; i < nums->len; i++) {
            if (nums->items[i].type != JSON_NUMBER) {
                fatal("%s: \"nums\" must hold integers", where);
            }
            p->nums[i] = (int)nums->items[i].number;
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d", i ? ", " : "", p->nums[i]);
        }
        snprintf(buf + len, sizeof(buf) - len, "]");
        p->n_nums = (int)nums->len;
        p->target = (int)target->number;
        p->problem = strdup_check(buf); // the numbers as a Python list, as TinyZero's prompt shows them
        snprintf(buf + len + 1, sizeof(buf) - len - 1, " %d", p->target);
        char gold[300];
        snprintf(gold, sizeof(gold), "%s = %d", p->problem, p->target);
        p->gold = strdup_check(gold);
        return;
    }
    p->problem = field_text(row, pf);
    if (!p->problem && strcmp(pf, "problem") == 0) {
        p->problem = field_text(row, "question");
    }
    p->gold = field_text(row, af);
    if (!p->problem || !p->gold) {
        fatal("%s: missing field \"%s\"%s (a string or number)", where, p->problem ? af : pf,
              strcmp(a->bench, "jsonl") == 0 ? "; name the fields with --problem-field / --answer-field" : "");
    }
    if (strcmp(a->bench, "gsm8k") == 0) { // the number after '####', without thousands commas
        char* h = strstr(p->gold, "####");
        if (h == NULL) {
            fatal("%s: the GSM8K answer has no '####' line", where);
        }
        char* out = p->gold;
        for (char* c = h + 4; *c; c++) {
            if (*c != ',' && !(out == p->gold && ans_space(*c))) {
                *out++ = *c;
            }
        }
        while (out > p->gold && ans_space(out[-1])) {
            out--;
        }
        *out = '\0';
    }
}

// Calls fn on every row of a jsonl file (or of a JSON array); errors name file:line.
typedef void (*RowFn)(const Json* row, const char* where, void* ctx);

static size_t each_row(const char* path, RowFn fn, void* ctx) {
    size_t n;
    char* text = read_file(path, &n);
    size_t i = 0, rows = 0;
    while (i < n && ans_space(text[i])) {
        i++;
    }
    char where[1200];
    if (i < n && text[i] == '[') { // a JSON array
        Json* all = json_load_file(path);
        for (size_t r = 0; r < all->len; r++) {
            snprintf(where, sizeof(where), "%s: item %zu", path, r + 1);
            fn(&all->items[r], where, ctx);
            rows++;
        }
        json_free(all);
        free(text);
        return rows;
    }
    size_t line = 0;
    for (char* s = text; s < text + n;) {
        char* e = memchr(s, '\n', (size_t)(text + n - s));
        if (e == NULL) {
            e = text + n;
        }
        line++;
        char* t = s;
        while (t < e && ans_space(*t)) {
            t++;
        }
        if (t < e) {
            char err[256];
            Json* row = json_parse(s, (size_t)(e - s), err, sizeof(err));
            if (row == NULL) { // the parser counts lines within this one line: keep its column only
                fatal("%s:%zu: malformed JSON: %s", path, line, strncmp(err, "line 1, ", 8) == 0 ? err + 8 : err);
            }
            snprintf(where, sizeof(where), "%s:%zu", path, line);
            fn(row, where, ctx);
            json_free(row);
            rows++;
        }
        s = e + 1;
    }
    free(text);
    return rows;
}

typedef struct {
    const Args* args;
    Problem* p;
    size_t n, cap;
} ProblemList;

static void add_problem(const Json* row, const char* where, void* ctx) {
    ProblemList* pl = (ProblemList*)ctx;
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 256;
        pl->p = (Problem*)realloc_check(pl->p, pl->cap * sizeof(Problem));
    }
    read_problem(pl->args, row, where, &pl->p[pl->n++]);
}

// ----------------------------------------------------------------------------
// scoring the completions

typedef struct {
    const Args* args;
    ProblemList* problems;
    Samples* per_problem; // one list per problem
    size_t rows;
} Scoring;

static void score_row(const Json* row, const char* where, void* ctx) {
    Scoring* sc = (Scoring*)ctx;
    const Json* idx = json_get(row, "idx");
    const char* completion = json_get_string(row, "completion");
    if (idx == NULL || idx->type != JSON_NUMBER || idx->number != floor(idx->number)) {
        fatal("%s: missing or non-integer \"idx\" (the problem index)", where);
    }
    if (completion == NULL) {
        fatal("%s: missing \"completion\" (a string)", where);
    }
    if (idx->number < 0 || idx->number >= (double)sc->problems->n) {
        fatal("%s: idx %.0f is not a problem of %s (it has %zu problems, idx 0..%zu)", where, idx->number,
              sc->args->data, sc->problems->n, sc->problems->n - 1);
    }
    const Problem* p = &sc->problems->p[(size_t)idx->number];
    Samples* ss = &sc->per_problem[(size_t)idx->number];
    if (ss->n == ss->cap) {
        ss->cap = ss->cap ? 2 * ss->cap : 4;
        ss->s = (Sample*)realloc_check(ss->s, ss->cap * sizeof(Sample));
    }
    Sample* s = &ss->s[ss->n++];
    char answer[ANSWER_MAX + 1];
    if (strcmp(sc->args->bench, "countdown") == 0) {
        s->formatted = countdown_answer(completion, answer, sizeof(answer));
        s->correct = countdown_correct(completion, p->nums, p->n_nums, p->target);
    } else {
        s->formatted = extract_answer(completion, answer, sizeof(answer));
        s->correct = math_verify(completion, p->gold);
    }
    if (!s->formatted) {
        answer[0] = '\0';
    }
    s->answer = strdup_check(answer);
    s->completion = strdup_check(completion);
    const Json* sample = json_get(row, "sample");
    s->sample = sample && sample->type == JSON_NUMBER ? (long)sample->number : (long)ss->n;
    const Json* tokens = json_get(row, "tokens");
    s->tokens = tokens && tokens->type == JSON_NUMBER ? (int)tokens->number : -1;
    const char* finish = json_get_string(row, "finish");
    s->truncated = finish && strcmp(finish, "length") == 0;
    sc->rows++;
}

static int by_sample(const void* a, const void* b) {
    long x = ((const Sample*)a)->sample, y = ((const Sample*)b)->sample;
    return (x > y) - (x < y);
}

// Majority vote: answers are grouped by equivalence (math_verify between the answers themselves);
// the largest group wins, the earliest on ties; samples without an answer do not vote. Returns the
// index of the winning group's first sample, or -1.
static int majority(const Samples* ss, int k, int countdown) {
    int best = -1, best_count = 0;
    for (int i = 0; i < k; i++) {
        if (!ss->s[i].formatted) {
            continue;
        }
        int count = 0, earlier = 0;
        StrBuf boxed;
        sb_init(&boxed);
        for (int j = 0; j < k; j++) {
            if (!ss->s[j].formatted) {
                continue;
            }
            int same = strcmp(ss->s[i].answer, ss->s[j].answer) == 0;
            if (!same && !countdown) {
                sb_set(&boxed, "\\boxed{", 7);
                sb_append(&boxed, ss->s[j].answer, strlen(ss->s[j].answer));
                sb_append(&boxed, "}", 1);
                same = math_verify(boxed.s, ss->s[i].answer);
            }
            count += same;
            earlier |= same && j < i;
        }
        free(boxed.s);
        if (!earlier && count > best_count) {
            best = i, best_count = count;
        }
    }
    return best;
}

typedef struct {
    double pass1, passk, maj, format, tokens, truncated;
    size_t problems, samples, token_samples;
} Totals;

static void write_result(FILE* f, size_t idx, const Problem* p, const Samples* ss, int k, int maj, double passk) {
    int c = 0;
    for (size_t i = 0; i < ss->n; i++) {
        c += ss->s[i].correct;
    }
    fprintf(f, "{\"idx\": %zu, \"gold\": ", idx);
    json_write_string(f, p->gold, strlen(p->gold));
    fprintf(f, ", \"samples\": %zu, \"correct\": %d, \"pass@1\": %.6f, \"pass@%d\": %.6f, \"maj\": ", ss->n, c,
            ss->n ? (double)c / ss->n : 0.0, k, passk);
    const char* m = maj >= 0 ? ss->s[maj].answer : "";
    json_write_string(f, m, strlen(m));
    fprintf(f, ", \"maj_correct\": %d, \"answers\": [", maj >= 0 ? ss->s[maj].correct : 0);
    for (size_t i = 0; i < ss->n; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_write_string(f, ss->s[i].answer, strlen(ss->s[i].answer));
    }
    fprintf(f, "], \"verdicts\": [");
    for (size_t i = 0; i < ss->n; i++) {
        fprintf(f, "%s%d", i ? ", " : "", ss->s[i].correct);
    }
    fprintf(f, "]}\n");
}

static Totals summarise(const Args* a, const ProblemList* pl, const Samples* per, int k, FILE* out) {
    Totals t = {0};
    int cd = strcmp(a->bench, "countdown") == 0;
    for (size_t i = 0; i < pl->n; i++) {
        const Samples* ss = &per[i];
        if (ss->n == 0) {
            continue;
        }
        int c = 0, kk = k < (int)ss->n ? k : (int)ss->n;
        for (size_t j = 0; j < ss->n; j++) {
            const Sample* s = &ss->s[j];
            c += s->correct;
            t.format += s->formatted;
            t.truncated += s->truncated;
            if (s->tokens >= 0) {
                t.tokens += s->tokens, t.token_samples++;
            }
        }
        int maj = majority(ss, kk, cd);
        double passk = pass_at_k((int)ss->n, c, kk);
        t.pass1 += (double)c / ss->n;
        t.passk += passk;
        t.maj += maj >= 0 ? ss->s[maj].correct : 0;
        t.problems++;
        t.samples += ss->n;
        if (out) {
            write_result(out, i, &pl->p[i], ss, kk, maj, passk);
        }
    }
    return t;
}

static void print_table(const Args* a, const ProblemList* pl, const Totals* t, int k, size_t min_n, size_t max_n) {
    double np = t->problems ? (double)t->problems : 1, ns = t->samples ? (double)t->samples : 1;
    printf("eval: %s (%s): %zu problems, %zu with completions, %zu samples", a->bench, a->data, pl->n, t->problems,
           t->samples);
    if (min_n == max_n) {
        printf(" (%zu per problem)\n", min_n);
    } else {
        printf(" (%zu to %zu per problem)\n", min_n, max_n);
    }
    printf("| metric      | value    | meaning\n");
    printf("|-------------|----------|--------\n");
    printf("| pass@1      | %7.2f%% | mean accuracy over samples\n", 100 * t->pass1 / np);
    printf("| maj@%-7d | %7.2f%% | the most common answer of a problem's samples is right\n", k, 100 * t->maj / np);
    printf("| pass@%-6d | %7.2f%% | unbiased estimate that one of k samples is right (Chen et al. 2021)\n", k,
           100 * t->passk / np);
    printf("| format      | %7.2f%% | an answer was found in the completion\n", 100 * t->format / ns);
    if (t->token_samples) {
        printf("| tokens      | %8.1f | mean completion tokens (%zu samples report them)\n",
               t->tokens / t->token_samples, t->token_samples);
    } else {
        printf("| tokens      |        - | no \"tokens\" in the completions file\n");
    }
    printf("| truncated   | %7.2f%% | finish = \"length\" (cut at the length limit)\n", 100 * t->truncated / ns);
}

static void print_prompt(const Args* a, const ProblemList* pl) {
    if ((size_t)a->print_prompt >= pl->n) {
        fatal("--print-prompt %ld: %s has %zu problems (0..%zu)", a->print_prompt, a->data, pl->n, pl->n - 1);
    }
    const char* name = a->preset ? a->preset : prompt_preset_for_bench(a->bench);
    const PromptPreset* pp = prompt_preset(name);
    if (pp == NULL) {
        fatal("unknown --preset '%s' (boxed, r1, openr1, countdown)", name);
    }
    const Problem* p = &pl->p[a->print_prompt];
    char target[32];
    snprintf(target, sizeof(target), "%d", p->target);
    const char* keys[] = {"problem", "nums", "target"};
    const char* values[] = {p->problem, p->problem, target};
    char* user = prompt_fill(pp->user, keys, values, 3);
    printf("preset: %s (%s)\nsystem: %s\nuser: %s\ngold: %s\n", pp->name, pp->about,
           pp->system ? pp->system : "(the model's default)", user, p->gold);
    free(user);
}

// ----------------------------------------------------------------------------
// --model: generating the completions here
// Each problem becomes a chat prompt from the benchmark's preset (as --print-prompt shows), the r1.h
// engine (generate_batch: KV cache, continuous batching) writes n samples of it, and the rows go to
// --completions in ./generate's format, so the scoring below reads them like any other file.

static int* eval_prompt_ids(const Args* a, const Tokenizer* tok, const Problem* p, int* n) {
    const char* name = a->preset ? a->preset : prompt_preset_for_bench(a->bench);
    const PromptPreset* pp = prompt_preset(name);
    if (pp == NULL) {
        fatal("unknown --preset '%s' (boxed, r1, openr1, countdown)", name);
    }
    char target[32];
    snprintf(target, sizeof(target), "%d", p->target);
    const char* keys[] = {"problem", "nums", "target"};
    const char* values[] = {p->problem, p->problem, target};
    char* user = prompt_fill(pp->user, keys, values, 3);
    ChatMessage msg = {"user", user};
    int* ids = NULL;
    *n = chat_encode(tok, &msg, 1, pp->system, 1, 0, &ids, NULL);
    free(user);
    return ids;
}

static void generate_completions(const Args* a, const ProblemList* pl) {
    Qwen2 m;
    Tokenizer tok;
    qwen2_load(&m, a->model);
    tokenizer_load(&tok, a->model);
    GenerateConfig g;
    generate_config_default(&g);
    generation_config_load(a->model, &g); // eos ids and the folder's defaults, then our flags
    g.sampling.temperature = a->temperature;
    g.max_new_tokens = a->max_new_tokens;
    g.seed = a->seed;
    if (tok.im_end_id >= 0 && tok.im_end_id < m.config.vocab_size) {
        generate_add_eos(&g, tok.im_end_id); // the end of the assistant's turn
    }
    if (tok.eos_id >= 0 && tok.eos_id < m.config.vocab_size) {
        generate_add_eos(&g, tok.eos_id);
    }
    int n = a->limit && (size_t)a->limit < pl->n ? a->limit : (int)pl->n;
    int** prompts = (int**)malloc_check((size_t)n * sizeof(int*));
    int* lens = (int*)malloc_check((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) {
        prompts[i] = eval_prompt_ids(a, &tok, &pl->p[i], &lens[i]);
    }
    size_t total = (size_t)n * a->n_samples;
    Completion* out = (Completion*)calloc_check(total, sizeof(Completion));
    double t0 = wall_time();
    generate_batch(&m, &tok, prompts, lens, n, a->n_samples, &g, out);
    double dt = wall_time() - t0;
    char* tmp;
    FILE* f = atomic_open(a->completions, &tmp);
    size_t tokens = 0;
    for (size_t j = 0; j < total; j++) {
        fprintf(f, "{\"idx\": %zu, \"sample\": %zu, \"completion\": ", j / a->n_samples, j % a->n_samples);
        json_write_string(f, out[j].text, out[j].text_len);
        fprintf(f, ", \"tokens\": %d, \"finish\": \"%s\"}\n", out[j].n_tokens,
                out[j].finish == FINISH_LENGTH ? "length" : "stop");
        tokens += (size_t)out[j].n_tokens;
        completion_free(&out[j]);
    }
    atomic_commit(f, tmp, a->completions);
    fprintf(stderr, "generated %zu completions (%zu tokens) in %.1f s, %.1f tokens/s, written to %s\n", total, tokens,
            dt, tokens / (dt > 0 ? dt : 1e-9), a->completions);
    for (int i = 0; i < n; i++) {
        free(prompts[i]);
    }
    free(prompts), free(lens), free(out);
    tokenizer_free(&tok);
    qwen2_free(&m);
}

int main(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    ProblemList pl = {&a, NULL, 0, 0};
    each_row(a.data, add_problem, &pl);
    if (pl.n == 0) {
        fatal("%s: no problems (empty file?)", a.data);
    }
    if (a.print_prompt >= 0) {
        print_prompt(&a, &pl);
        return 0;
    }
    if (a.model) {
        generate_completions(&a, &pl);
    }
    Samples* per = (Samples*)calloc_check(pl.n, sizeof(Samples));
    Scoring sc = {&a, &pl, per, 0};
    each_row(a.completions, score_row, &sc);
    if (sc.rows == 0) {
        fatal("%s: no completions (empty file?)", a.completions);
    }
    size_t min_n = (size_t)-1, max_n = 0;
    for (size_t i = 0; i < pl.n; i++) {
        if (per[i].n) {
            min_n = per[i].n < min_n ? per[i].n : min_n;
            max_n = per[i].n > max_n ? per[i].n : max_n;
        }
    }
    for (size_t i = 0; i < pl.n; i++) { // maj@k with k < n votes with samples 0..k-1
        qsort(per[i].s, per[i].n, sizeof(Sample), by_sample);
    }
    int k = a.k ? a.k : (int)min_n;
    if ((size_t)k > min_n) {
        fatal("--k %d: some problems have only %zu samples", k, min_n);
    }
    FILE* out = NULL;
    char* tmp = NULL;
    if (a.out) {
        out = atomic_open(a.out, &tmp);
    }
    Totals t = summarise(&a, &pl, per, k, out);
    if (out) {
        atomic_commit(out, tmp, a.out);
    }
    print_table(&a, &pl, &t, k, min_n, max_n);
    if (t.problems < pl.n) {
        printf("note: %zu of %zu problems have no completions; the averages above leave them out\n", pl.n - t.problems, pl.n);
    }
    for (size_t i = 0; i < pl.n; i++) {
        for (size_t j = 0; j < per[i].n; j++) {
            free(per[i].s[j].answer), free(per[i].s[j].completion);
        }
        free(per[i].s), free(pl.p[i].problem), free(pl.p[i].gold);
    }
    free(per), free(pl.p);
    return 0;
}
