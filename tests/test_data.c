/*
tests/test_data.c: the Countdown generator, TinyZero's prompts and the SFT data readers.
  - the search against Stream-of-Search's own DFS (transcribed in dev/oracle/countdown_oracle.py):
    the same first solution on 400 cases, and no solution exactly where a brute force finds none;
  - the generator: the sets that the oracle validated are reproduced exactly from their seeds;
  - the prompts: byte-equal to TinyZero's make_prefix;
  - the readers: small committed samples in every format, malformed lines (file:line errors, or
    skipped and counted), and the real data sets in ../shared/data when present (row counts as
    their PROVENANCE.md states them).
*/
#include "test.h"

#define FIX "tests/fixtures/data/"

static const Json* jget(const Json* obj, const char* key) {
    const Json* v = json_get(obj, key);
    if (v == NULL) {
        fatal("fixture: missing '%s'", key);
    }
    return v;
}

static int json_ints(const Json* arr, int* out, int max) {
    int n = 0;
    for (size_t i = 0; i < arr->len && n < max; i++) {
        out[n++] = (int)arr->items[i].number;
    }
    return n;
}

static void test_search(void) {
    Json* fx = json_load_file(FIX "countdown_search.json");
    const Json* cases = jget(fx, "cases");
    int same = 0, solvable = 0;
    for (size_t k = 0; k < cases->len; k++) {
        const Json* c = &cases->items[k];
        int nums[COUNTDOWN_MAX_NUMS];
        int n = json_ints(jget(c, "nums"), nums, COUNTDOWN_MAX_NUMS);
        const char* ref = json_get_string(c, "steps"); // NULL: no solution
        StrBuf steps;
        sb_init(&steps);
        int found = countdown_search(nums, n, (int)jget(c, "target")->number, 0, NULL, NULL, &steps);
        int ok = ref ? (found && strcmp(steps.s, ref) == 0) : !found;
        if (!ok && same + 3 > (int)k) {
            printf("  case %zu: ours '%s' (found %d), Stream-of-Search '%s'\n", k, steps.s, found, ref ? ref : "none");
        }
        same += ok;
        solvable += ref != NULL;
        free(steps.s);
    }
    check(same == (int)cases->len, "search = Stream-of-Search's first solution: %d of %zu cases (%d solvable)", same,
          cases->len, solvable);
    json_free(fx);
}

// Regenerates each validated set from its seed; every row must be identical, thinking included.
static void test_sets(void) {
    Json* fx = json_load_file(FIX "countdown_sets.json");
    const Json* sets = jget(fx, "sets");
    for (size_t s = 0; s < sets->len; s++) {
        const Json* set = &sets->items[s];
        const char* split = json_get_string(set, "split");
        int seed = (int)jget(set, "seed")->number;
        CountdownConfig cfg = countdown_config_default();
        const Json* args = jget(set, "args");
        for (size_t a = 0; a + 1 < args->len; a += 2) {
            int v = atoi(args->items[a + 1].string);
            if (strcmp(args->items[a].string, "--max-nums") == 0) {
                cfg.max_nums = v;
            } else if (strcmp(args->items[a].string, "--trace-lines") == 0) {
                cfg.trace_lines = v;
            }
        }
        CountdownGen g;
        countdown_init(&g, &cfg, (uint64_t)seed, strcmp(split, "test") == 0);
        int held[1024];
        int nh = json_ints(jget(set, "heldout"), held, 1024);
        int held_ok = nh == g.n_heldout && memcmp(held, g.heldout, (size_t)nh * sizeof(int)) == 0;
        const Json* rows = jget(set, "rows");
        size_t same = 0;
        for (size_t i = 0; i < rows->len; i++) {
            const Json* r = &rows->items[i];
            CountdownProblem p;
            countdown_next(&g, &p);
            int nums[COUNTDOWN_MAX_NUMS];
            int n = json_ints(jget(r, "nums"), nums, COUNTDOWN_MAX_NUMS);
            char hash[17];
            snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)hash_bytes(p.thinking, strlen(p.thinking)));
            same += n == p.n && memcmp(nums, p.nums, (size_t)n * sizeof(int)) == 0 &&
                    p.target == (int)jget(r, "target")->number &&
                    strcmp(p.solution, json_get_string(r, "solution")) == 0 &&
                    strcmp(hash, json_get_string(r, "thinking_fnv1a64")) == 0;
            countdown_problem_free(&p);
        }
        check(held_ok && same == rows->len, "seed %d %s split%s%s: held-out targets and %zu of %zu validated rows reproduced",
              seed, split, args->len ? " " : "", args->len ? args->items[0].string : "", same, rows->len);
    }
    json_free(fx);
}

static void test_prompts(void) {
    Json* fx = json_load_file(FIX "countdown_prompts.json");
    const Json* ps = jget(fx, "prompts");
    int same = 0;
    for (size_t k = 0; k < ps->len; k++) {
        int nums[COUNTDOWN_MAX_NUMS];
        int n = json_ints(jget(&ps->items[k], "nums"), nums, COUNTDOWN_MAX_NUMS);
        int target = (int)jget(&ps->items[k], "target")->number;
        char* base = countdown_prompt(COUNTDOWN_BASE_TEMPLATE, nums, n, target);
        char* inst = countdown_prompt(COUNTDOWN_INSTRUCT_TEMPLATE, nums, n, target);
        same += strcmp(base, json_get_string(&ps->items[k], "base")) == 0;
        same += strcmp(inst, json_get_string(&ps->items[k], "qwen_instruct")) == 0;
        free(base), free(inst);
    }
    check(same == 2 * (int)ps->len, "Countdown prompts = TinyZero make_prefix, base and qwen-instruct (%d of %zu)", same,
          2 * ps->len);
    json_free(fx);
}

static int streq(const char* a, const char* b) { return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0); }

// Row k of a sample file must read as (system, prompt, thinking, answer, gold).
static int row_is(const SftDataset* d, size_t k, const char* sys, const char* prompt, const char* think, const char* ans,
                  const char* gold) {
    if (k >= d->n) {
        return 0;
    }
    const SftExample* e = &d->rows[k];
    int ok = streq(e->system, sys) && streq(e->prompt, prompt) && streq(e->thinking, think) && streq(e->answer, ans) &&
             streq(e->gold, gold);
    if (!ok) {
        printf("  row %zu: system [%s] prompt [%s] thinking [%s] answer [%s] gold [%s]\n", k, e->system ? e->system : "NULL",
               e->prompt, e->thinking, e->answer, e->gold ? e->gold : "NULL");
    }
    return ok;
}

static void test_samples(void) {
    SftDataset d = sft_load(FIX "sft_chat.jsonl", 0);
    check(d.n == 4 && row_is(&d, 0, "Be brief.", "What is 2+3?", "Two plus three is five.", "5", NULL) &&
              row_is(&d, 1, NULL, "Say hi.", "", "Hi!", NULL) &&
              row_is(&d, 2, "Think first.", "Is 7 prime?", "7 has no divisors but 1 and 7.", "Yes, 7 is prime.", NULL) &&
              row_is(&d, 3, NULL, "x?", "a", "The answer is \\boxed{4}.", NULL),
          "chat rows: messages (R1 tags split), no tags, ShareGPT conversations with thought/solution markers");
    sft_free(&d);
    d = sft_load(FIX "sft_math.jsonl", 0);
    check(d.n == 3 && row_is(&d, 0, NULL, "Compute $1+1$.", "We add: $1+1=\\boxed{2}$.", "2", "2") &&
              row_is(&d, 1, NULL, "Simplify $\\frac{4}{8}$.",
                     "Divide by 4 to get $\\boxed{\\frac{1}{2}}$. Not $\\boxed{3}$, no: $\\boxed{\\frac{1}{2}}$",
                     "\\frac{1}{2}", "\\frac{1}{2}") &&
              row_is(&d, 2, NULL, "What is 27?", "", "27.0", "27.0"),
          "MATH rows: answer field, else the last \\boxed{} of the solution; numeric answers as written");
    sft_free(&d);
    d = sft_load(FIX "sft_gsm8k.jsonl", 0);
    check(d.n == 2 && row_is(&d, 0, NULL, "Tom has 3 apples and buys 4 more. How many?", "3 + 4 = <<3+4=7>>7", "7", "7") &&
              row_is(&d, 1, NULL, "A train goes 1,200 km. Answer with commas.", "It is 1,200.", "1,200", "1,200"),
          "GSM8K rows: the text before #### is the thinking, the number after it the answer");
    sft_free(&d);
    d = sft_load(FIX "sft_distill.json", 0);
    check(d.n == 2 && row_is(&d, 0, NULL, "P1", "Okay, let me think.", "So $\\boxed{0}$.", "0") &&
              row_is(&d, 1, NULL, "P2", "Hmm.", "\\boxed{12}", "12"),
          "teacher traces (JSON array): message_thinking / message_content / gtruth_answer");
    sft_free(&d);
    d = sft_load(FIX "sft_countdown.jsonl", 0);
    int v[3] = {44, 19, 35}, w[3] = {4, 6, 1};
    char* p0 = countdown_prompt(COUNTDOWN_USER_TEMPLATE, v, 3, 98);
    char* p1 = countdown_prompt(COUNTDOWN_USER_TEMPLATE, w, 3, 24);
    check(d.n == 2 &&
              row_is(&d, 0, COUNTDOWN_SYSTEM_PROMPT, p0, "44+19=63, left [35, 63]: 35+63=98 (yes)", "35 + (44 + 19)", NULL) &&
              row_is(&d, 1, COUNTDOWN_SYSTEM_PROMPT, p1, "", "", NULL) &&
              strstr(p0, "Using the numbers [44, 19, 35], create an equation that equals 98.") == p0,
          "Countdown rows: TinyZero's user text, the generator's thinking and solution");
    free(p0), free(p1);
    sft_free(&d);
    d = sft_load(FIX "sft_generic.jsonl", 0);
    check(d.n == 2 && row_is(&d, 0, NULL, "Capital of France?", "It is Paris.", "Paris", NULL) &&
              row_is(&d, 1, NULL, "2*6?", "Double six.", "12", NULL),
          "generic rows: prompt, thinking|reasoning, answer|completion");
    sft_free(&d);
}

static void test_render(void) {
    SftExample e = {NULL, "q", "step 1\nstep 2", "42", NULL};
    char* r = sft_render_assistant(&e, NULL);
    check(strcmp(r, "<think>\nstep 1\nstep 2\n</think>\n<answer>\n42\n</answer>") == 0, "R1 assistant turn: <think>\\n...\\n</think>\\n<answer>\\n...\\n</answer>");
    free(r);
    r = sft_render_assistant(&e, "<think>\n{thinking}\n</think>\n\n{answer}");
    check(strcmp(r, "<think>\nstep 1\nstep 2\n</think>\n\n42") == 0, "custom assistant template (DeepSeek-R1 distill form)");
    free(r);
    SftExample cd = {NULL, "q", "44+19=63, left [35, 63]: 35+63=98 (yes)", "35 + (44 + 19)", NULL};
    r = sft_render_assistant(&cd, COUNTDOWN_COMPLETION_TEMPLATE);
    const char* last = strrchr(r, '\n');
    check(last && strcmp(last + 1, "<answer> 35 + (44 + 19) </answer>") == 0 && strncmp(r, "\n44+19=63", 9) == 0,
          "Countdown completion: continues TinyZero's \"<think>\" and ends on the one answer line its reward reads");
    free(r);
    SftExample braces = {NULL, "q", "{answer}", "{thinking}", NULL};
    r = sft_render_assistant(&braces, "{thinking}|{answer}|{other}");
    check(strcmp(r, "{answer}|{thinking}|{other}") == 0, "placeholders inside the values are not expanded again: %s", r);
    free(r);
}

static void load_bad(void* arg) { sft_load((const char*)arg, 0); }

static void test_malformed(void) {
    char msg[512];
    check(expect_fatal(load_bad, (void*)FIX "sft_bad.jsonl", "sft_bad.jsonl:3: ", msg, sizeof(msg)),
          "broken JSON names file:line: %s", msg);
    SftDataset d = sft_load(FIX "sft_bad.jsonl", 1);
    check(d.n == 2 && d.skipped == 5, "skip_bad: 2 good rows kept, 5 bad rows skipped and counted (got %zu, %zu)", d.n,
          d.skipped);
    sft_free(&d);
    // each kind of bad row, alone, is an error that names its line
    const char* rows[] = {"{\"title\": 1}", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": "
                                            "\"user\", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"c\"}]}",
                          "{\"problem\": \"p\"}", "{\"nums\": [1, \"x\"], \"target\": 3}", "[1, 2]",
                          "{\"messages\": [{\"role\": \"robot\", \"content\": \"a\"}]}"};
    const char* expect[] = {"no known fields", "one user and one assistant", "no answer", "not an integer",
                            "must be a JSON object", "unknown role 'robot'"};
    char path[] = "/tmp/r1_test_data_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    for (int i = 0; i < 6; i++) {
        FILE* f = fopen_check(path, "w");
        fprintf(f, "{\"prompt\": \"fine\", \"answer\": \"1\"}\n\n%s\n", rows[i]);
        fclose(f);
        char want[256];
        snprintf(want, sizeof(want), ":3: ");
        int ok = expect_fatal(load_bad, path, want, msg, sizeof(msg)) && strstr(msg, expect[i]) != NULL;
        check(ok, "bad row %d is an error at line 3: %s", i + 1, msg);
    }
    FILE* f = fopen_check(path, "w");
    fprintf(f, "[{\"prompt\": \"a\", \"answer\": \"b\"}, {\"nothing\": 0}]");
    fclose(f);
    check(expect_fatal(load_bad, path, ": item 1: no known fields", msg, sizeof(msg)),
          "a bad item in a JSON array names the item: %s", msg);
    f = fopen_check(path, "w");
    fprintf(f, "[{\"prompt\": \"a\", \"answer\": \"b\"},");
    fclose(f);
    check(expect_fatal(load_bad, path, "not valid JSON", msg, sizeof(msg)), "a truncated JSON array: %s", msg);
    remove(path);
    check(expect_fatal(load_bad, (void*)"/nonexistent/x.jsonl", "cannot open", msg, sizeof(msg)), "missing file: %s", msg);
}

// The row count PROVENANCE.md gives for a file: the "rows ... **N**" line of its "## `file`" section.
static long provenance_rows(const char* dir, const char* file) {
    char* prov = path_join(dir, "PROVENANCE.md");
    if (!file_exists(prov)) {
        free(prov);
        return -1;
    }
    char* text = read_file(prov, NULL);
    char head[256];
    snprintf(head, sizeof(head), "## `%s`", file);
    const char* sec = strstr(text, head);
    const char* rows = sec ? strstr(sec, "- rows") : NULL;
    const char* stars = rows ? strstr(rows, "**") : NULL;
    long n = stars ? strtol(stars + 2, NULL, 10) : -1;
    free(text);
    free(prov);
    return n;
}

static void test_shared(void) {
    const char* shared = shared_dir();
    if (shared == NULL) {
        skip("real data sets: ../shared (or $R1_SHARED) not found");
        return;
    }
    const char* files[][2] = {{"gsm8k", "train.jsonl"},
                              {"gsm8k", "test.jsonl"},
                              {"math500", "test.jsonl"},
                              {"math_train", "math_train_7474.json"},
                              {"aime_1983_2023", "aime_1983_2023.json"},
                              {"aime24", "test.jsonl"},
                              {"amc23", "test.jsonl"},
                              {"distill_samples", "deepseek_r1_openrouter_5.json"},
                              {"distill_samples", "deepseek_r1_8b_ollama_5.json"}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "data/%s", files[i][0]);
        char* dir = path_join(shared, rel);
        char* path = path_join(dir, files[i][1]);
        long expect = provenance_rows(dir, files[i][1]);
        if (!file_exists(path) || expect < 0) {
            skip("%s/%s: not in %s", files[i][0], files[i][1], shared);
        } else {
            double t0 = wall_time();
            SftDataset d = sft_load(path, 0);
            size_t empty_prompt = 0, with_gold = 0, with_thinking = 0;
            for (size_t k = 0; k < d.n; k++) {
                empty_prompt += d.rows[k].prompt[0] == '\0';
                with_gold += d.rows[k].gold != NULL;
                with_thinking += d.rows[k].thinking[0] != '\0';
            }
            // MATH train has a few rows whose answer is null or "" (its PROVENANCE.md says to drop them)
            size_t allowed = strcmp(files[i][0], "math_train") == 0 ? d.n / 100 : 0;
            check(d.n == (size_t)expect && empty_prompt == 0 && d.n - with_gold <= allowed,
                  "%s/%s: %zu rows (PROVENANCE.md: %ld), all with a prompt, %zu without a gold answer, %zu with "
                  "thinking (%.2fs)",
                  files[i][0], files[i][1], d.n, expect, d.n - with_gold, with_thinking, wall_time() - t0);
            if (strcmp(files[i][0], "gsm8k") == 0) {
                size_t numeric = 0;
                for (size_t k = 0; k < d.n; k++) {
                    char digits[64], *end;
                    size_t m = 0;
                    for (const char* c = d.rows[k].answer; *c && m + 1 < sizeof(digits); c++) {
                        if (*c != ',') { // "1,080": GSM8K writes thousands separators
                            digits[m++] = *c;
                        }
                    }
                    digits[m] = '\0';
                    strtod(digits, &end);
                    numeric += m > 0 && *end == '\0' && d.rows[k].thinking[0] && !strstr(d.rows[k].thinking, "####");
                }
                check(numeric == d.n, "%s/%s: every answer after #### is a plain number, thinking before it (%zu of %zu)",
                      files[i][0], files[i][1], numeric, d.n);
            }
            sft_free(&d);
        }
        free(path), free(dir);
    }
}

int main(void) {
    test_search();
    test_sets();
    test_prompts();
    test_samples();
    test_render();
    test_malformed();
    test_shared();
    return test_summary("test_data");
}
