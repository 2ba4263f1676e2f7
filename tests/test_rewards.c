/*
tests/test_rewards.c: r1.h's rule-based rewards against the reference Python code.
tests/fixtures/grpo/rewards.json (made by dev/oracle/rewards_oracle.py) holds completions (grpo.md §4's
cases, the parity quirks, malformed and hostile ones, and 400 generated from tag fragments) with the
value each reference function gives them (TinyZero compute_score, Mini-R1's format and equation
rewards, open-r1's format, tag_count, reasoning_steps, cosine formula and repetition penalty), plus
Python eval()'s verdict on 1,500 generated arithmetic strings. Every reward call is timed: none may
take 50 ms, whatever the input. Also: the registry's --reward parsing and weighted sums.
*/
#include "test.h"

#define FIXTURE "tests/fixtures/grpo/rewards.json"
#define MAX_MS 50.0

static double worst_ms = 0.0;
static const char* worst_note = "";

// Calls one reward, times it, and returns its value.
static float timed(RewardFn fn, const char* completion, const RewardExample* ex, const char* note) {
    double t0 = wall_time();
    float r = fn(completion, ex);
    double ms = (wall_time() - t0) * 1e3;
    if (ms > worst_ms) {
        worst_ms = ms, worst_note = note;
    }
    return r;
}

// One fixture case: every reward against the oracle's value.
static int check_case(const Json* c, int* mismatches) {
    const char* note = json_get_string(c, "note");
    const char* completion = json_get_string(c, "completion");
    const Json* nums_j = json_get(c, "nums");
    const Json* expect = json_get(c, "expect");
    int nums[64], n = (int)nums_j->len;
    for (int i = 0; i < n && i < 64; i++) {
        nums[i] = (int)nums_j->items[i].number;
    }
    RewardExample ex = {json_get_string(c, "prompt"), nums, n, json_get(c, "target")->number, NULL};
    static const struct {
        const char* key;
        RewardFn fn;
    } fns[] = {{"countdown", reward_countdown},
               {"minir1_format", reward_minir1_format},
               {"minir1_equation", reward_minir1_equation},
               {"format", reward_format},
               {"tag_count", reward_tag_count},
               {"reasoning_steps", reward_reasoning_steps},
               {"repetition", reward_repetition}};
    int ok = 1;
    for (size_t k = 0; k < sizeof(fns) / sizeof(fns[0]); k++) {
        double want = json_get(expect, fns[k].key)->number;
        float got = timed(fns[k].fn, completion, &ex, note);
        if (fabs(got - want) > 1e-6) {
            if (mismatches[k]++ < 5) {
                printf("  mismatch %s on \"%s\": got %g, Python %g\n", fns[k].key, note, got, want);
            }
            ok = 0;
        }
    }
    size_t len = utf8_chars(completion);
    double right = cosine_scaled(len, 1, &COSINE_OPENR1), wrong = cosine_scaled(len, 0, &COSINE_OPENR1);
    if (fabs(right - json_get(expect, "cosine_right")->number) > 1e-9 ||
        fabs(wrong - json_get(expect, "cosine_wrong")->number) > 1e-9) {
        if (mismatches[7]++ < 5) {
            printf("  mismatch cosine on \"%s\"\n", note);
        }
        ok = 0;
    }
    return ok;
}

static void test_fixture_cases(const Json* doc) {
    const Json* cases = json_get(doc, "cases");
    int mismatches[8] = {0}, bad = 0, hang = 0;
    for (size_t i = 0; i < cases->len; i++) {
        bad += !check_case(&cases->items[i], mismatches);
        hang += json_get(&cases->items[i], "python") != NULL;
    }
    static const char* names[8] = {"countdown (TinyZero)", "minir1_format", "minir1_equation",
                                   "format (open-r1)",     "tag_count",     "reasoning_steps",
                                   "repetition",           "cosine formula"};
    for (int k = 0; k < 8; k++) {
        check(mismatches[k] == 0, "%-22s equals the Python reference on all %zu cases (%d differ)", names[k],
              cases->len, mismatches[k]);
    }
    check(bad == 0, "all %zu reward cases agree (%d where Python hangs: r1 returns 'not evaluable')", cases->len, hang);
}

// Python's eval() verdict (a real number or not, and which) on generated arithmetic.
static void test_fixture_evals(const Json* doc) {
    const Json* evals = json_get(doc, "evals");
    int bad = 0, evaluable = 0;
    double worst = 0;
    for (size_t i = 0; i < evals->len; i++) {
        const Json* e = &evals->items[i];
        const char* s = json_get_string(e, "expr");
        int want_ok = (int)json_get(e, "ok")->number;
        double want = json_get(e, "value")->number, v = 0;
        int got_ok = countdown_eval(s, strlen(s), &v);
        double err = got_ok && want_ok ? fabs(v - want) / fmax(1.0, fabs(want)) : 0;
        evaluable += want_ok;
        worst = fmax(worst, err);
        if (got_ok != want_ok || err > 1e-12) {
            if (bad++ < 8) {
                printf("  eval mismatch \"%s\": r1 %s %.17g, Python %s %.17g\n", s, got_ok ? "ok" : "no", v,
                       want_ok ? "ok" : "no", want);
            }
        }
    }
    check(bad == 0, "countdown_eval agrees with Python eval() on %zu expressions (%d evaluable; max rel err %.1e)",
          evals->len, evaluable, worst);
}

// Hostile inputs built here (bigger than the fixture holds): each reward must stay under MAX_MS.
static void test_bounded_time(void) {
    size_t n = 1 << 18; // 256 KiB: 4x open-r1's longest completions (16k tokens)
    char* s = (char*)malloc_check(n + 64);
    int nums[4] = {1, 2, 3, 4};
    RewardExample ex = {"Assistant:", nums, 4, 10, NULL};
    const char* fills[] = {"(", "<answer>", "<think>", "9", "-", "**2", "\n</answer>", "a b a b "};
    for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
        size_t k = strlen(fills[f]), len = 0;
        len += (size_t)sprintf(s, "<answer>");
        while (len + k < n) {
            memcpy(s + len, fills[f], k), len += k;
        }
        strcpy(s + len, "</answer>");
        for (size_t i = 0; i < N_REWARD_SPECS; i++) {
            if (REWARD_SPECS[i].fn != reward_accuracy && REWARD_SPECS[i].fn != reward_cosine) {
                timed(REWARD_SPECS[i].fn, s, &ex, fills[f]);
            }
        }
    }
    free(s);
    check(worst_ms < MAX_MS,
          "every reward on every input (fixture + 256 KiB hostile ones) under %.0f ms: worst %.2f ms (%s)", MAX_MS,
          worst_ms, worst_note[0] == '\n' ? "newline..." : worst_note);
}

static void test_registry(void) {
    RewardSet rs = reward_parse("countdown:1,minir1_format:0.5,tag_count");
    check(rs.n == 3 && rs.weight[0] == 1.0f && rs.weight[1] == 0.5f && rs.weight[2] == 1.0f,
          "reward_parse(\"countdown:1,minir1_format:0.5,tag_count\")");
    int nums[3] = {44, 19, 35};
    RewardExample ex = {"Assistant:", nums, 3, 98, NULL};
    const char* c = " a </think>\n<answer>44+19+35</answer>";
    float per[3];
    float total = reward_total(&rs, c, &ex, per);
    float want = reward_countdown(c, &ex) + 0.5f * reward_minir1_format(c, &ex) + reward_tag_count(c, &ex);
    check(fabsf(total - want) < 1e-6f && per[0] == reward_countdown(c, &ex),
          "reward_total is the weighted sum of the functions (%.3f)", total);
    RewardSet acc = reward_parse("accuracy:2,countdown");
    float t2 = reward_total(&acc, c, &ex, per);
    check(isnan(per[0]) && t2 == per[1],
          "a NaN reward (accuracy with no gold answer) is left out of the sum, as nansum");
}

// accuracy and cosine call the answer checker (math_verify); on the answer checker's fixture pairs
// (real gold answers, Math-Verify's verdicts as open-r1's accuracy_reward gives them) they must use
// its verdict as it is. How often that verdict equals open-r1's is tests/test_answer.c's business.
static void test_accuracy_rewards(void) {
    const char* path = "tests/fixtures/answer/pairs.jsonl";
    if (!file_exists(path)) {
        skip("accuracy rewards: %s is missing", path);
        return;
    }
    size_t size;
    char* text = read_file(path, &size);
    int pairs = 0, consistent = 0, agree = 0;
    for (char* line = text; line && *line;) {
        char* end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char err[128];
        Json* j = len ? json_parse(line, len, err, sizeof(err)) : NULL;
        line = end ? end + 1 : NULL;
        if (j == NULL) {
            continue;
        }
        RewardExample ex = {NULL, NULL, 0, 0, json_get_string(j, "gold")};
        const char* c = json_get_string(j, "completion");
        int verdict = math_verify(c, ex.gold);
        float acc = timed(reward_accuracy, c, &ex, "accuracy"), cos = timed(reward_cosine, c, &ex, "cosine");
        consistent += acc == (float)verdict && cos == (float)cosine_scaled(utf8_chars(c), verdict, &COSINE_OPENR1);
        agree += acc == (float)json_get(j, "openr1")->number;
        pairs++;
        json_free(j);
    }
    free(text);
    check(pairs > 0 && consistent == pairs,
          "accuracy and cosine rewards use math_verify's verdict on %d answer pairs (open-r1 agrees on %d)", pairs,
          agree);
}

static void bad_spec(void* arg) {
    reward_parse((const char*)arg);
}

static void test_registry_errors(void) {
    char msg[512];
    check(expect_fatal(bad_spec, "countdown,nope:1", "unknown reward 'nope'", msg, sizeof(msg)), "unknown reward: %s",
          msg);
    check(expect_fatal(bad_spec, "format:x", "bad weight", msg, sizeof(msg)), "bad weight: %s", msg);
    check(expect_fatal(bad_spec, "", "no reward function", msg, sizeof(msg)), "empty spec: %s", msg);
}

int main(void) {
    test_registry();
    test_registry_errors();
    test_accuracy_rewards();
    if (!file_exists(FIXTURE)) {
        skip("reward oracle fixtures: %s is missing (run dev/oracle/rewards_oracle.py)", FIXTURE);
    } else {
        Json* doc = json_load_file(FIXTURE);
        test_fixture_cases(doc);
        test_fixture_evals(doc);
        json_free(doc);
    }
    test_bounded_time();
    return test_summary("test_rewards");
}
