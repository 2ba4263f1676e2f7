/*
tests/test_answer.c: the answer checker (r1.h's math_verify / extract_answer) against Math-Verify.

1. Agreement with Math-Verify's verdicts (dev/oracle/answer_oracle.py, open-r1's accuracy_reward
   setup; see there) on the fixtures in tests/fixtures/answer/, each at least 99%, every
   disagreement printed: pairs.jsonl (real gold answers in many right and wrong surface forms),
   unit.jsonl (hand-picked cases, one feature each), self.jsonl (2,000 golds written back as
   answers), cross.jsonl (gold against gold), fuzz.jsonl (model-like edits), refs.jsonl (real
   MATH-500/GSM8K worked solutions and DeepSeek-R1 answers, read from ../shared by reference).
   The same for math_verify_openr1 against open-r1's verdict without our plain-text forms.
2. The normaliser byte for byte against latex2sympy2_extended.normalize_latex (normalize.jsonl).
3. extract_answer, countdown_correct (TinyZero's rule), pass_at_k (against the binomial
   definition), the prompt presets.
4. Hostile inputs (10,000 nested braces, a megabyte of "$", "\[", "answer ", ...) in bounded time.
*/
#include "test.h"

typedef struct {
    char* completion;
    char* gold;
    char* form;
    char* source;
    int verdict, openr1;
} Pair;

static Pair* load_pairs(const char* path, size_t* count) {
    size_t n;
    char* text = read_file(path, &n);
    Pair* pairs = NULL;
    size_t cap = 0, k = 0, line = 0;
    for (char* s = text; s < text + n;) {
        char* e = strchr(s, '\n');
        if (e == NULL) {
            e = text + n;
        }
        line++;
        if (e > s) {
            char err[256];
            Json* j = json_parse(s, (size_t)(e - s), err, sizeof(err));
            if (j == NULL) {
                fatal("%s:%zu: %s", path, line, err);
            }
            if (k == cap) {
                cap = cap ? 2 * cap : 256;
                pairs = (Pair*)realloc_check(pairs, cap * sizeof(Pair));
            }
            const Json* v = json_get(j, "verdict");
            const Json* o = json_get(j, "openr1");
            const char* c = json_get_string(j, "completion");
            const char* g = json_get_string(j, "gold");
            if (!v || !c || !g) {
                fatal("%s:%zu: missing completion, gold or verdict", path, line);
            }
            const char* f = json_get_string(j, "form");
            const char* src = json_get_string(j, "source");
            pairs[k].completion = strdup_check(c);
            pairs[k].gold = strdup_check(g);
            pairs[k].form = strdup_check(f ? f : "");
            pairs[k].source = strdup_check(src ? src : "");
            pairs[k].verdict = (int)v->number;
            pairs[k].openr1 = o ? (int)o->number : (int)v->number;
            k++;
            json_free(j);
        }
        s = e + 1;
    }
    free(text);
    *count = k;
    return pairs;
}

static void free_pairs(Pair* p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(p[i].completion), free(p[i].gold), free(p[i].form), free(p[i].source);
    }
    free(p);
}

static void print_short(const char* label, const char* s) {
    size_t n = strlen(s);
    printf("    %s: ", label);
    if (n > 160) {
        printf("...");
        s += n - 160;
    }
    for (; *s; s++) {
        putchar(*s == '\n' ? '|' : *s);
    }
    printf("\n");
}

static void test_agreement(const char* path, double need, const char* what) {
    size_t n;
    Pair* pairs = load_pairs(path, &n);
    size_t agree = 0, agree_openr1 = 0, positives = 0, bad_openr1 = 0;
    double t0 = wall_time();
    for (size_t i = 0; i < n; i++) {
        int got = math_verify(pairs[i].completion, pairs[i].gold);
        int strict = math_verify_openr1(pairs[i].completion, pairs[i].gold);
        positives += pairs[i].verdict;
        agree_openr1 += strict == pairs[i].openr1;
        if (strict != pairs[i].openr1 && got == pairs[i].verdict) { // (the others are listed below)
            printf("  math_verify_openr1 disagreement %zu (%s): Math-Verify %d, r1.h %d\n", i + 1, pairs[i].form,
                   pairs[i].openr1, strict);
            bad_openr1++;
        }
        if (got == pairs[i].verdict) {
            agree++;
            continue;
        }
        char found[512];
        extract_answer(pairs[i].completion, found, sizeof(found));
        printf("  disagreement %zu (%s, %s): Math-Verify %d, r1.h %d\n", i + 1, pairs[i].source, pairs[i].form,
               pairs[i].verdict, got);
        print_short("gold", pairs[i].gold);
        print_short("completion", pairs[i].completion);
        print_short("r1.h found", found);
    }
    double rate = n ? (double)agree / n : 0;
    check(n > 0 && rate >= need, "%s: agreement with Math-Verify %zu/%zu = %.2f%% (need %.0f%%; %zu right answers, %zu wrong) in %.2fs",
          what, agree, n, 100 * rate, 100 * need, positives, n - positives, wall_time() - t0);
    check(n > 0 && (double)agree_openr1 / n >= need, "%s: math_verify_openr1 (no plain-text forms) agrees with open-r1's verdict %zu/%zu",
          what, agree_openr1, n);
    free_pairs(pairs, n);
}

// The normaliser alone against latex2sympy2_extended's normalize_latex (fixture normalize.jsonl):
// gold answers with Math-Verify's default settings, edited answers with open-r1's.
static void test_normalizer(const char* path) {
    size_t n;
    char* text = read_file(path, &n);
    size_t rows = 0, same[2] = {0, 0}, count[2] = {0, 0}, shown = 0;
    for (char* s = text; s < text + n;) {
        char* e = strchr(s, '\n');
        e = e ? e : text + n;
        char err[256];
        Json* j = e > s ? json_parse(s, (size_t)(e - s), err, sizeof(err)) : NULL;
        s = e + 1;
        if (j == NULL) {
            continue;
        }
        int gold = (int)json_get(j, "gold")->number;
        const char* in = json_get_string(j, "text");
        const char* want = json_get_string(j, "normalized");
        StrBuf a, boxed;
        sb_init(&a), sb_init(&boxed);
        if (gold) { // read as "\boxed{GOLD}", as math_verify reads a gold answer
            sb_append(&boxed, "\\boxed{", 7), sb_append(&boxed, in, strlen(in)), sb_append(&boxed, "}", 1);
            ans_unbox(boxed.s, boxed.len, 1, &a);
        } else {
            sb_set(&a, in, strlen(in));
        }
        ans_normalize(&a, gold);
        rows++, count[gold]++;
        if (strcmp(a.s, want) == 0) {
            same[gold]++;
        } else if (shown++ < 40) {
            printf("  normalize (%s): [%s] -> r1.h [%s], latex2sympy2_extended [%s]\n", gold ? "gold" : "answer", in, a.s, want);
        }
        free(a.s), free(boxed.s);
        json_free(j);
    }
    free(text);
    double rate = rows ? (double)(same[0] + same[1]) / rows : 0;
    check(rows > 0 && rate >= 0.99, "normaliser = normalize_latex on %zu/%zu gold texts and %zu/%zu edited answers (%.2f%%, need 99%%)",
          same[1], count[1], same[0], count[0], 100 * rate);
}

// Rows of a jsonl file or a JSON array, as one JSON array.
static Json* load_rows(const char* path) {
    size_t n;
    char* text = read_file(path, &n);
    Json* all;
    if (n > 0 && text[0] == '[') {
        all = json_load_file(path);
    } else {
        all = (Json*)calloc_check(1, sizeof(Json));
        all->type = JSON_ARRAY;
        size_t cap = 0;
        for (char* s = text; s < text + n;) {
            char* e = strchr(s, '\n');
            e = e ? e : text + n;
            char err[256];
            Json* row = e > s ? json_parse(s, (size_t)(e - s), err, sizeof(err)) : NULL;
            s = e + 1;
            if (row == NULL) {
                continue;
            }
            if (all->len == cap) {
                cap = cap ? 2 * cap : 512;
                all->items = (Json*)realloc_check(all->items, cap * sizeof(Json));
            }
            all->items[all->len++] = *row; // the row's contents move into the array
            free(row);
        }
    }
    free(text);
    return all;
}

// A GSM8K worked solution with its "#### n" line rewritten as a model might end (the oracle's ending()).
static char* rewrite_ending(const char* text, const char* form) {
    const char* h = NULL;
    for (const char* p = text; (p = strstr(p, "####")) != NULL; p++) {
        h = p;
    }
    StrBuf out, fin;
    sb_init(&out), sb_init(&fin);
    if (h == NULL || strcmp(form, "none") == 0 || strcmp(form, "hashes") == 0) {
        sb_append(&out, text, strlen(text));
    } else {
        sb_set(&fin, h + 4, strlen(h + 4));
        ans_strip(&fin);
        sb_append(&out, text, (size_t)(h - text));
        char buf[256];
        if (strcmp(form, "answer-is") == 0) {
            snprintf(buf, sizeof(buf), "The answer is %s.", fin.s);
        } else if (strcmp(form, "answer-is-dollar") == 0) {
            snprintf(buf, sizeof(buf), "The answer is $%s$.", fin.s);
        } else if (strcmp(form, "boxed") == 0) {
            snprintf(buf, sizeof(buf), "\\boxed{%s}", fin.s);
        } else {
            snprintf(buf, sizeof(buf), "So she makes $%s every day.\nThe answer is %s", fin.s, fin.s);
        }
        sb_append(&out, buf, strlen(buf));
    }
    free(fin.s);
    return out.s;
}

// Real texts as completions (MATH-500 and GSM8K worked solutions, DeepSeek-R1 answers), read from
// ../shared/data by the reference in tests/fixtures/answer/refs.jsonl, so no copy of the data is kept.
static void test_refs(const char* path) {
    const char* shared = shared_dir();
    if (shared == NULL) {
        skip("refs.jsonl: real worked solutions as completions need ../shared/data (not found)");
        return;
    }
    Json* refs = load_rows(path);
    const char* names[8] = {0};
    Json* files[8] = {0};
    size_t agree = 0, agree_openr1 = 0, n = 0;
    for (size_t i = 0; i < refs->len; i++) {
        const Json* r = &refs->items[i];
        const char* file = json_get_string(r, "file");
        const char* field = json_get_string(r, "field");
        const char* ending = json_get_string(r, "ending");
        const char* gold = json_get_string(r, "gold");
        int row = (int)json_get(r, "row")->number;
        int f = 0;
        while (f < 8 && names[f] && strcmp(names[f], file) != 0) {
            f++;
        }
        if (f == 8) {
            continue;
        }
        if (names[f] == NULL) {
            char* full = path_join(shared, "data");
            char* p = path_join(full, file);
            names[f] = file;
            files[f] = load_rows(p);
            free(full), free(p);
        }
        const char* text = (size_t)row < files[f]->len ? json_get_string(&files[f]->items[row], field) : NULL;
        if (text == NULL) {
            check(0, "refs.jsonl row %zu: %s row %d has no field %s", i + 1, file, row, field);
            continue;
        }
        char* completion = rewrite_ending(text, ending);
        int got = math_verify(completion, gold), strict = math_verify_openr1(completion, gold);
        int want = (int)json_get(r, "verdict")->number, want_strict = (int)json_get(r, "openr1")->number;
        n++;
        agree += got == want;
        agree_openr1 += strict == want_strict;
        if (got != want) {
            printf("  disagreement refs %zu (%s row %d, ending %s): Math-Verify %d, r1.h %d\n", i + 1, file, row, ending, want, got);
            print_short("gold", gold);
            print_short("completion", completion);
        }
        free(completion);
    }
    check(n > 0 && agree >= 0.99 * n, "refs.jsonl (real worked solutions and R1 answers from ../shared): agreement with Math-Verify %zu/%zu",
          agree, n);
    check(n > 0 && agree_openr1 >= 0.99 * n, "refs.jsonl: math_verify_openr1 agrees with open-r1's verdict %zu/%zu", agree_openr1, n);
    for (int f = 0; f < 8; f++) {
        if (files[f]) {
            json_free(files[f]);
        }
    }
    json_free(refs);
}

static void test_extraction(void) {
    struct {
        const char* completion;
        int found;
        const char* answer;
    } cases[] = {
        {"so \\boxed{5} and finally \\boxed{7}", 1, "5,7"},                  // close boxes are joined
        {"\\boxed{5}. Then after a long and careful recheck of every single step of it all, we finally see \\boxed{7}", 1, "7"},
        {"The final answer is $\\frac{1}{2}$.", 1, "\\frac{1}{2}"},
        {"Answer: $$x^2$$", 1, "x^2"},
        {"The answer is $3$ or maybe $4$", 1, "3"},                           // answer.{0,50}?ENV: the first env
        {"<think>\nhmm\n</think>\n<answer>\n42\n</answer>", 1, "42"},          // fallback: answer tags
        {"She pays 5 + 7 = 12 dollars.\n#### 1,234", 1, "1234"},             // fallback: GSM8K
        {"So the answer is 17.", 1, "17"},                                    // fallback: plain
        {"We get $x = 5$ here.", 0, ""},                                      // no anchor: no answer
        {"I give up", 0, ""},
        {"\\boxed{\\frac{1}{2}", 1, "{\\frac{1}{2}"},                         // unclosed: Math-Verify keeps the rest
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        int f = extract_answer(cases[i].completion, out, sizeof(out));
        check(f == cases[i].found && strcmp(out, cases[i].answer) == 0, "extract_answer case %zu: found %d [%s] (want %d [%s])",
              i + 1, f, out, cases[i].found, cases[i].answer);
    }
}

static void test_hostile(void) {
    size_t n = 1 << 20;
    char* s = (char*)malloc_check(n + 64);
    const char* patterns[] = {"{", "$", "\\[", "answer ", "\\boxed{", "(", "\\frac{", "}", "final answer is $$"};
    for (size_t k = 0; k < sizeof(patterns) / sizeof(patterns[0]); k++) {
        size_t pl = strlen(patterns[k]), len = 0;
        if (k == 0) { // \boxed{ + 10,000 nested braces + 1 + closers
            len = (size_t)sprintf(s, "\\boxed{");
            for (int i = 0; i < 10000; i++) {
                s[len++] = '{';
            }
            s[len++] = '1';
            for (int i = 0; i < 10001; i++) {
                s[len++] = '}';
            }
        } else {
            while (len + pl < n) {
                memcpy(s + len, patterns[k], pl);
                len += pl;
            }
        }
        s[len] = '\0';
        double t0 = wall_time();
        int v = math_verify(s, "1");
        double dt = wall_time() - t0;
        check(dt < 2.0, "hostile input %zu (\"%s\" x %zu bytes): returns %d in %.3fs", k + 1, patterns[k], len, v, dt);
    }
    // deep nesting inside a normal answer
    size_t len = (size_t)sprintf(s, "\\boxed{");
    for (int i = 0; i < 5000; i++) {
        len += (size_t)sprintf(s + len, "\\frac{");
    }
    s[len] = '\0';
    double t0 = wall_time();
    math_verify(s, "1");
    check(wall_time() - t0 < 2.0, "5,000 unclosed \\frac{ in a box: bounded time");
    free(s);
}

// Countdown cases follow TinyZero's rule as grpo.md section 4 states it (verl countdown.py), plus
// one documented difference: a trailing newline after the answer is forgiven.
static void test_countdown(void) {
    int nums[] = {44, 19, 35};
    struct {
        const char* completion;
        int want;
    } cases[] = {
        {"<think>\nok\n</think>\n<answer> 44 + 19 + 35 </answer>", 1},
        {"<answer>(44 + 19) + 35</answer>", 1},
        {"<answer>35 + 44 + 19</answer>\n", 1},                 // trailing newline forgiven (TinyZero: 0)
        {"<answer>44 + 19 + 35</answer> and more text after", 1}, // the last line still holds it
        {"<answer>44 + 19 + 35</answer>\nmore text", 0},        // not on the last line
        {"<answer>44 + 19 + 36</answer>", 0},                    // wrong numbers
        {"<answer>44 + 19</answer>", 0},                         // a number unused
        {"<answer>44 + 19 + 35 + 0</answer>", 0},                // an extra number
        {"<answer>44 + 19 + 35 - 44 + 44</answer>", 0},          // a number twice
        {"<answer>44 * 19 / 35</answer>", 0},                    // uses them all, wrong value
        {"<answer>44 + 19 + 35 = 98</answer>", 0},               // '=' is not allowed
        {"<answer>x + 44 + 19 + 35</answer>", 0},
        {"<answer>044 + 19 + 35</answer>", 0}, // "044" is a SyntaxError in Python
        {"<answer>((44 + 19) + 35)</answer>", 1},
        {"<answer>44 + 19 + 35 </answer> <answer>1</answer>", 0}, // the last answer counts
        {"44 + 19 + 35", 0},                                      // no tags
        {"<answer>44 ** 19 + 35</answer>", 0},
        {"<answer>44 + 19 + 35 + (1 / 0)</answer>", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = countdown_correct(cases[i].completion, nums, 3, 98);
        check(got == cases[i].want, "countdown_correct case %zu: %d (want %d)", i + 1, got, cases[i].want);
    }
    int nums2[] = {8, 5, 3};
    check(countdown_correct("<answer>(8 - 5) / 3</answer>", nums2, 3, 1), "countdown_correct: division (8 - 5) / 3 = 1");
    check(!countdown_correct("<answer>8 / (5 - 5) + 3</answer>", nums2, 3, 1), "countdown_correct: division by zero is wrong");
    char deep[3000];
    size_t len = (size_t)sprintf(deep, "<answer>");
    for (int i = 0; i < 1000; i++) {
        deep[len++] = '(';
    }
    strcpy(deep + len, "8</answer>");
    check(!countdown_correct(deep, nums2, 1, 8), "countdown_correct: 1,000 nested parentheses are refused (as Python's parser)");
}

// pass@k against the definition 1 - C(n-c,k)/C(n,k) evaluated with lgamma (a different route).
static void test_pass_at_k(void) {
    int worst = 0;
    double max_err = 0;
    for (int n = 1; n <= 64; n++) {
        for (int c = 0; c <= n; c++) {
            for (int k = 1; k <= n; k++) {
                double want = n - c < k ? 1.0
                                        : 1.0 - exp(lgamma(n - c + 1) - lgamma(k + 1) - lgamma(n - c - k + 1) -
                                                    (lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)));
                double err = fabs(pass_at_k(n, c, k) - want);
                if (err > max_err) {
                    max_err = err, worst = n * 10000 + c * 100 + k;
                }
            }
        }
    }
    check(max_err < 1e-9, "pass_at_k matches 1 - C(n-c,k)/C(n,k) for n <= 64 (max error %.2e, worst n,c,k code %d)", max_err, worst);
    check(fabs(pass_at_k(10, 3, 1) - 0.3) < 1e-12 && pass_at_k(5, 0, 3) == 0 && pass_at_k(5, 5, 3) == 1,
          "pass_at_k: pass@1 is c/n, no correct gives 0, all correct 1");
    check(pass_at_k(1000, 1, 1000) == 1.0 && fabs(pass_at_k(1000, 1, 1) - 0.001) < 1e-12,
          "pass_at_k is stable for n = 1000");
}

static void test_prompts(void) {
    const PromptPreset* p = prompt_preset("boxed");
    const char* keys[] = {"problem"};
    const char* values[] = {"What is 1+1?"};
    char* user = p ? prompt_fill(p->user, keys, values, 1) : NULL;
    check(user && strcmp(user, "What is 1+1?\nPlease reason step by step, and put your final answer within \\boxed{}.") == 0,
          "prompt preset boxed fills {problem} and asks for \\boxed{}");
    free(user);
    check(prompt_preset("r1") && prompt_preset("openr1") && prompt_preset("countdown") && !prompt_preset("nope"),
          "prompt presets r1, openr1, countdown exist; unknown names give NULL");
}

int main(void) {
    if (file_exists("tests/fixtures/answer/pairs.jsonl")) {
        test_agreement("tests/fixtures/answer/pairs.jsonl", 0.99, "pairs.jsonl (real gold answers in many forms)");
    } else {
        check(0, "tests/fixtures/answer/pairs.jsonl is missing (run make test from the repository root)");
    }
    const char* more[][2] = {{"tests/fixtures/answer/unit.jsonl", "unit.jsonl (hand-picked normaliser and extraction cases)"},
                             {"tests/fixtures/answer/self.jsonl", "self.jsonl (2,000 gold answers written back as answers)"},
                             {"tests/fixtures/answer/cross.jsonl", "cross.jsonl (one gold answer against another)"},
                             {"tests/fixtures/answer/fuzz.jsonl", "fuzz.jsonl (gold answers with random model-like edits)"}};
    for (int i = 0; i < 4; i++) {
        if (file_exists(more[i][0])) {
            test_agreement(more[i][0], 0.99, more[i][1]);
        } else {
            check(0, "%s is missing (run make test from the repository root)", more[i][0]);
        }
    }
    if (file_exists("tests/fixtures/answer/refs.jsonl")) {
        test_refs("tests/fixtures/answer/refs.jsonl");
    } else {
        check(0, "tests/fixtures/answer/refs.jsonl is missing (run make test from the repository root)");
    }
    if (file_exists("tests/fixtures/answer/normalize.jsonl")) {
        test_normalizer("tests/fixtures/answer/normalize.jsonl");
    } else {
        check(0, "tests/fixtures/answer/normalize.jsonl is missing (run make test from the repository root)");
    }
    test_extraction();
    test_countdown();
    test_pass_at_k();
    test_prompts();
    test_hostile();
    return test_summary("test_answer");
}
