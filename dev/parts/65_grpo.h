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
