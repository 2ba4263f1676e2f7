// ----------------------------------------------------------------------------
// rewards: the answer checker
// R1's accuracy reward and every math benchmark ask one question: does the final answer of a
// completion equal the gold answer? The recipe answers it with Hugging Face Math-Verify, set up as
// open-r1's accuracy_reward: the gold is read with Math-Verify's default settings, the completion
// with LaTeX only, \boxed{} first, and only behind an anchor ("final answer is $x$",
// "answer: $x$", "answer ... $x$"): a bare number in running text is not an answer. This section
// does the same in C, in four steps, each a mirror of a Math-Verify step:
//   1. find the answer text in the completion (answer_find), as math_verify.parser does;
//   2. normalise it (ans_normalize), as latex2sympy2_extended's normalize_latex does: \left/\right,
//      \dfrac, units, \text{ cm}, dollars, "1{,}234", ...;
//   3. parse it into a small value (answer_parse): a number or expression tree, a tuple, a set, an
//      interval, a union of intervals, a matrix or an equation, as latex2sympy does into sympy;
//   4. compare gold and answer (ans_value_equal) with Math-Verify's rules: integers exactly, a decimal
//      against anything rounded to 6 places, expressions numerically at random points, a set's
//      order ignored but a tuple's kept, "x = 5" against 5 by its right-hand side.
// Where open-r1's extractor finds nothing we also read three plain-text forms it ignores: the last
// <answer>...</answer>, a GSM8K "#### 42" line and "the answer is 42" (then judged as if boxed).
// tests/test_answer.c checks this against Math-Verify's own verdicts on 6,301 (completion, gold)
// pairs made from the real GSM8K/MATH/AIME/AMC gold answers, worked solutions and R1 outputs
// (dev/oracle/answer_oracle.py), and prints every disagreement. Two known ones are Math-Verify
// quirks we do not copy: when a gold answer is not parseable LaTeX (a matrix with \phantom, a
// broken "\frac\pi 2"), Math-Verify falls back to the last plain number inside it and would
// reward "\boxed{-1}" for a 2x2 matrix; we compare such golds as text only.
// It is not all of sympy: complex arithmetic (i is a variable here), solving equations ("2x = 10"
// against "x = 5"), calculus and anything else we cannot parse fall back to comparing the
// normalised strings, which is also Math-Verify's last resort. Numbers beyond a double's range
// (2^{4950}) are never equal unless written identically.
// Nothing here keeps state between calls, so rewards can be computed from several threads.
// Every step is linear or bounded: no regex engine, a parse depth limit, and answers are cut at
// ANSWER_MAX bytes, so hostile completions (10,000 nested braces, megabytes of "$") return quickly.

#define ANSWER_MAX 2048  // longest answer text we judge, in bytes (longer ones are cut)
#define ANSWER_DEPTH 48  // nesting limit of the expression parser
#define ANSWER_NODES 512 // expression nodes per answer
#define ANS_PI 3.14159265358979323846
#define ANS_E 2.71828182845904523536

static int ans_starts(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int ans_starts_ci(const char* s, const char* prefix) {
    for (; *prefix; s++, prefix++) {
        if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix)) {
            return 0;
        }
    }
    return 1;
}

static int ans_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Trims spaces at both ends, in place.
static void ans_strip(StrBuf* a) {
    size_t i = 0;
    while (i < a->len && ans_space(a->s[i])) {
        i++;
    }
    size_t j = a->len;
    while (j > i && ans_space(a->s[j - 1])) {
        j--;
    }
    memmove(a->s, a->s + i, j - i);
    a->len = j - i;
    a->s[a->len] = '\0';
}

// ----------------------------------------------------------------------------
// step 1: finding the answer in a completion
// \boxed{...} wins whenever the completion has one (open-r1 gives it priority 0). Of several boxes
// the last one counts, joined with the boxes just before it when they are close (under 10 bytes
// apart, or under 70 with a separator such as "and" or ","), as Math-Verify's extract_boxed_content.

// The closing brace of the group opening at text[open] (a '{'), not past max; -1 if none.
static long ans_match_brace(const char* text, size_t open, size_t max) {
    int depth = 1;
    for (size_t i = open + 1; i < max; i++) {
        if (text[i] == '{') {
            depth++;
        } else if (text[i] == '}' && --depth == 0) {
            return (long)i;
        }
    }
    return -1;
}

// The last "\boxed" or "\fbox" starting before end; -1 if none. *cmd_len gets its length.
static long ans_last_box(const char* text, size_t end, size_t* cmd_len) {
    for (size_t i = end; i-- > 0;) {
        if (text[i] == '\\' && (ans_starts(text + i, "\\boxed") || ans_starts(text + i, "\\fbox"))) {
            *cmd_len = text[i + 1] == 'b' ? 6 : 5;
            return (long)i;
        }
    }
    return -1;
}

static int ans_has_separator(const char* s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ',' || s[i] == ';') {
            return 1;
        }
        int word_start = i == 0 || !isalnum((unsigned char)s[i - 1]);
        if (word_start && (ans_starts(s + i, "and") || ans_starts(s + i, "or"))) {
            size_t k = i + (s[i] == 'a' ? 3 : 2);
            if (k >= n || !isalnum((unsigned char)s[k])) {
                return 1;
            }
        }
    }
    return 0;
}

// Math-Verify's extract_boxed_content(text, mode): last == 1 keeps only the last box (and the
// close ones before it), last == 0 joins every box. Text without a box is returned as it is.
static void ans_unbox(const char* text, size_t n, int last, StrBuf* out) {
    size_t found = 0, max = n, pos = n;
    char* results[16];
    size_t lens[16];
    long last_start = -1;
    while (found < 16) {
        size_t cmd;
        long start = ans_last_box(text, pos, &cmd);
        if (start < 0) {
            break;
        }
        size_t b = (size_t)start + cmd;
        while (b < max && ans_space(text[b])) {
            b++;
        }
        if (b >= max) {
            break;
        }
        long close = text[b] == '{' ? ans_match_brace(text, b, max) : -1;
        if (close < 0) { // an unclosed box (or "\boxed 5"): it is the answer only if it is the last one
            if (found == 0) {
                results[found] = (char*)text + b, lens[found++] = max - b;
            }
            break;
        }
        const char* c = text + b + 1;
        size_t cn = (size_t)close - b - 1;
        while (cn > 0 && ans_space(*c)) {
            c++, cn--;
        }
        while (cn > 0 && ans_space(c[cn - 1])) {
            cn--;
        }
        if (last && last_start >= 0) {
            const char* between = text + close + 1;
            size_t bn = (size_t)last_start > (size_t)close + 1 ? (size_t)last_start - (size_t)close - 1 : 0;
            int same = lens[found - 1] == cn && memcmp(results[found - 1], c, cn) == 0;
            if (!(bn < 10 || (!same && bn < 70 && ans_has_separator(between, bn)))) {
                break;
            }
        }
        if (found == 0 || lens[found - 1] != cn || memcmp(results[found - 1], c, cn) != 0) {
            results[found] = (char*)c, lens[found++] = cn;
        }
        last_start = start;
        max = (size_t)start;
        pos = (size_t)start;
    }
    out->len = 0;
    out->s[0] = '\0';
    if (found == 0) {
        sb_append(out, text, n);
        return;
    }
    for (size_t i = found; i-- > 0;) {
        sb_append(out, results[i], lens[i]);
        if (i > 0) {
            sb_append(out, ",", 1);
        }
    }
}

// Without a box, the answer is LaTeX math right after an anchor. These are the math environments
// Math-Verify accepts there: $$..$$, \[..\], $..$ (one line), \(..\), " [..] " and a bare
// \frac{1}{2}; each may be followed by a percent sign.
typedef struct {
    size_t content, content_len, end; // where the math is, and where the match ends
    int percent;
    int n_more;                        // "$1$ and $2$": up to 5 more environments joined on
    size_t more[5], more_len[5];
} AnsEnv;

// Finds the first occurrence of the two-byte closer at or after from; memoised per closer so a
// completion of a million "\[" is still scanned once (the answer is the same for every later start
// until the found closer is passed).
typedef struct {
    long from, at;
} AnsScan;

static long ans_find2(const char* text, size_t n, size_t from, const char* closer, AnsScan* memo) {
    if (memo->from >= 0 && (long)from >= memo->from && (memo->at < 0 || memo->at >= (long)from)) {
        return memo->at;
    }
    long at = -1;
    for (size_t i = from; i + 1 < n; i++) {
        if (text[i] == closer[0] && text[i + 1] == closer[1] && (i == 0 || text[i - 1] != '\\')) {
            at = (long)i;
            break;
        }
    }
    memo->from = (long)from;
    memo->at = at;
    return at;
}

static int ans_simple_number(const char* s, size_t n, size_t* len) { // -?\d+(?:[.,]\d+)?
    size_t i = 0;
    if (i < n && s[i] == '-') {
        i++;
    }
    size_t d = i;
    while (i < n && isdigit((unsigned char)s[i])) {
        i++;
    }
    if (i == d) {
        return 0;
    }
    if (i + 1 < n && (s[i] == '.' || s[i] == ',') && isdigit((unsigned char)s[i + 1])) {
        i++;
        while (i < n && isdigit((unsigned char)s[i])) {
            i++;
        }
    }
    *len = i;
    return 1;
}

static int ans_env_at(const char* text, size_t n, size_t p, AnsEnv* env, AnsScan memo[4]) {
    size_t cs = 0, ce = 0, end = 0;
    int ok = 0;
    if (p + 1 < n && text[p] == '$' && text[p + 1] == '$' && (p == 0 || text[p - 1] != '\\')) {
        long c = p + 3 <= n ? ans_find2(text, n, p + 3, "$$", &memo[0]) : -1;
        if (c >= 0) {
            cs = p + 2, ce = (size_t)c, end = (size_t)c + 2, ok = 1;
        }
    }
    if (!ok && text[p] == '\\' && p + 1 < n && text[p + 1] == '[' && (p == 0 || text[p - 1] != '\\')) {
        long c = ans_find2(text, n, p + 3, "\\]", &memo[1]);
        if (c >= 0) {
            cs = p + 2, ce = (size_t)c, end = (size_t)c + 2, ok = 1;
        }
    }
    if (!ok && text[p] == '$' && (p == 0 || (text[p - 1] != '\\' && !isdigit((unsigned char)text[p - 1])))) {
        size_t i = p + 1; // one line, "\$" allowed inside
        while (i < n && text[i] != '\n' && !(text[i] == '$' && i > p + 1 && text[i - 1] != '\\')) {
            i += (text[i] == '\\' && i + 1 < n && text[i + 1] == '$') ? 2 : 1;
            if (i - p > ANSWER_MAX) {
                break;
            }
        }
        if (i < n && text[i] == '$' && i > p + 1) {
            cs = p + 1, ce = i, end = i + 1, ok = 1;
        }
    }
    if (!ok && text[p] == '\\' && p + 1 < n && text[p + 1] == '(' && (p == 0 || text[p - 1] != '\\')) {
        long c = ans_find2(text, n, p + 3, "\\)", &memo[2]);
        if (c >= 0 && memchr(text + p, '\n', (size_t)c - p) == NULL) {
            cs = p + 2, ce = (size_t)c, end = (size_t)c + 2, ok = 1;
        }
    }
    if (!ok && ans_space(text[p]) && p + 1 < n && text[p + 1] == '[') {
        size_t i = p + 2;
        while (i < n && text[i] != '\n' && text[i] != ']' && text[i] != '[' && i - p < ANSWER_MAX) {
            i++;
        }
        if (i < n && text[i] == ']' && i > p + 2 && i + 1 < n && ans_space(text[i + 1])) {
            cs = p + 2, ce = i, end = i + 2, ok = 1;
        }
    }
    if (!ok) { // -?\frac{number}{number}
        size_t i = p + (text[p] == '-');
        size_t a, b;
        if (ans_starts(text + i, "\\frac{") && ans_simple_number(text + i + 6, n - i - 6, &a) &&
            text[i + 6 + a] == '}' && text[i + 7 + a] == '{' &&
            ans_simple_number(text + i + 8 + a, n - i - 8 - a, &b) && text[i + 8 + a + b] == '}') {
            cs = p, ce = i + 9 + a + b, end = ce, ok = 1;
        }
    }
    if (!ok) {
        return 0;
    }
    env->content = cs, env->content_len = ce - cs, env->end = end, env->percent = 0;
    size_t q = end;
    while (q < n && ans_space(text[q])) {
        q++;
    }
    static const char* pct[] = {"\\%", "%", "percentage", "Percentage", "percent", "Percent", "pct", "Pct"};
    for (int k = 0; k < 8; k++) {
        if (ans_starts(text + q, pct[k])) {
            env->percent = 1;
            env->end = q + strlen(pct[k]);
            break;
        }
    }
    return 1;
}

// One of Math-Verify's anchored patterns, all matches left to right (as re.finditer); keeps the one
// ending last. kind 0: "final answer.{0,100}?\s+is:?\s*ENV"; 1: "answer:.{0,50}?ENV";
// 2: "answer.{0,50}?ENV". The anchor words are matched ignoring case, "is" is not.
static int ans_anchored(const char* text, size_t n, int kind, AnsEnv* best) {
    const char* word = kind == 0 ? "final answer" : kind == 1 ? "answer:" : "answer";
    size_t wl = strlen(word), reach = kind == 0 ? 100 : 50;
    AnsScan memo[4] = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    int found = 0;
    for (size_t i = 0; i + wl <= n;) {
        if (!ans_starts_ci(text + i, word)) {
            i++;
            continue;
        }
        size_t start = i + wl;
        int hit = 0;
        for (size_t j = 0; j <= reach && start + j < n && !hit; j++) {
            size_t p = start + j;
            if (kind == 0) {
                if (!ans_space(text[p])) {
                    continue;
                }
                while (p < n && ans_space(text[p])) {
                    p++;
                }
                if (!ans_starts(text + p, "is")) {
                    continue;
                }
                p += 2;
                if (p < n && text[p] == ':') {
                    p++;
                }
                while (p < n && ans_space(text[p])) {
                    p++;
                }
                if (p >= n) {
                    continue;
                }
            }
            AnsEnv env;
            if (ans_env_at(text, n, p, &env, memo)) {
                env.n_more = 0;
                for (AnsEnv next; env.n_more < 5; env.n_more++) { // "\s*(,?and|,?or|,)\s*ENV"
                    size_t q = env.end;
                    while (q < n && ans_space(text[q])) {
                        q++;
                    }
                    size_t c = q < n && text[q] == ',' ? q + 1 : q;
                    if (ans_starts(text + c, "and")) {
                        q = c + 3;
                    } else if (ans_starts(text + c, "or")) {
                        q = c + 2;
                    } else if (c > q) {
                        q = c;
                    } else {
                        break;
                    }
                    while (q < n && ans_space(text[q])) {
                        q++;
                    }
                    if (q >= n || !ans_env_at(text, n, q, &next, memo)) {
                        break;
                    }
                    env.more[env.n_more] = next.content, env.more_len[env.n_more] = next.content_len;
                    env.end = next.end;
                }
                *best = env;
                found = hit = 1;
                i = env.end;
            }
        }
        if (!hit) {
            i++;
        }
    }
    return found;
}

// The plain-text forms open-r1 does not read (the fallback): the last <answer>...</answer>, else
// the last "#### X" line (commas dropped, as GSM8K's grader), else the last "the answer is X" up to
// the end of its line (a final period dropped). Returns 1 and the text in out, or 0.
static int ans_fallback(const char* text, size_t n, StrBuf* out) {
    long best_s = -1, best_e = -1;
    for (const char* p = text; (p = strstr(p, "<answer>")) != NULL; p++) {
        const char* e = strstr(p + 8, "</answer>");
        if (e == NULL) {
            break;
        }
        best_s = p + 8 - text, best_e = e - text;
        p = e;
    }
    if (best_s >= 0) {
        sb_set(out, text + best_s, (size_t)(best_e - best_s));
        ans_strip(out);
        return 1;
    }
    for (size_t i = 0; i + 4 < n; i++) { // "#### X" at the start of a line
        if ((i == 0 || text[i - 1] == '\n') && ans_starts(text + i, "####")) {
            size_t s = i + 4, e = s;
            while (s < n && text[s] == ' ') {
                s++;
            }
            for (e = s; e < n && text[e] != '\n'; e++) {
            }
            if (e > s) {
                out->len = 0;
                for (size_t k = s; k < e; k++) {
                    if (text[k] != ',') {
                        sb_append(out, text + k, 1);
                    }
                }
                ans_strip(out);
                best_s = 1;
            }
        }
    }
    if (best_s >= 0) {
        return out->len > 0;
    }
    for (size_t i = 0; i + 13 <= n; i++) {
        if (ans_starts_ci(text + i, "the answer is")) {
            size_t s = i + 13, e;
            if (s < n && text[s] == ':') {
                s++;
            }
            while (s < n && text[s] == ' ') {
                s++;
            }
            for (e = s; e < n && text[e] != '\n'; e++) {
            }
            if (e > s) {
                best_s = (long)s, best_e = (long)e;
            }
            i = e; // the match runs to the end of its line (re.finditer does not overlap)
        }
    }
    if (best_s < 0) {
        return 0;
    }
    sb_set(out, text + best_s, (size_t)(best_e - best_s));
    ans_strip(out);
    if (out->len > 0 && out->s[out->len - 1] == '.') {
        out->s[--out->len] = '\0';
        ans_strip(out);
    }
    return out->len > 0;
}

// What answer_find found: the answer text (boxes already opened) and whether a percent sign
// followed it. Returns 0 when the completion has no answer at all.
static int answer_find(const char* text, StrBuf* out, int* percent, int fallback) {
    size_t n = strlen(text);
    *percent = 0;
    const char* box = strstr(text, "\\boxed{");
    const char* last_close = strrchr(text, '}');
    if (box && last_close && last_close >= box + 8) { // "\boxed{.+}" from the first box to the last '}'
        ans_unbox(box, (size_t)(last_close - box) + 1, 1, out);
        return 1;
    }
    AnsEnv env;
    for (int kind = 0; kind < 3; kind++) {
        if (ans_anchored(text, n, kind, &env)) {
            ans_unbox(text + env.content, env.content_len, 0, out);
            *percent = env.percent && env.n_more == 0;
            StrBuf more;
            sb_init(&more);
            for (int k = 0; k < env.n_more; k++) { // several answers: Math-Verify makes them one set
                ans_unbox(text + env.more[k], env.more_len[k], 0, &more);
                sb_append(out, ",", 1);
                sb_append(out, more.s, more.len);
            }
            free(more.s);
            return 1;
        }
    }
    if (!fallback) {
        return 0;
    }
    StrBuf fb;
    sb_init(&fb);
    int ok = 0;
    if (ans_fallback(text, n, &fb)) { // judged as if it were written \boxed{X}
        StrBuf boxed;
        sb_init(&boxed);
        sb_append(&boxed, "\\boxed{", 7);
        sb_append(&boxed, fb.s, fb.len);
        sb_append(&boxed, "}", 1);
        ans_unbox(boxed.s, boxed.len, 1, out);
        free(boxed.s);
        ok = fb.len > 0;
    }
    free(fb.s);
    return ok;
}

// ----------------------------------------------------------------------------
// step 2: normalising the answer text
// latex2sympy2_extended's normalize_latex, step by step and in its order. The gold answer gets
// Math-Verify's default settings (which also repair "\frac12", "\sqrt3", "5/3" and ".5"); the
// completion gets open-r1's (no repairs: a model must write well-formed LaTeX to be rewarded).

// \left( -> (, \right] -> ], ... (only before the delimiters Math-Verify lists)
static size_t ans_left_right(const char* s) {
    static const char* delims[] = {"\\{", "\\}", "{", "}", "\\|", "|", "[", "]", "(", ")", "\\rbracl", "\\lgroup",
                                   "\\rgroup", "\\lbrace", "\\rbrace", "\\lbrack", "\\rbrack", "\\vert", "\\lvert",
                                   "\\rvert", "\\lceil", "\\rceil", "\\lfloor", "\\rfloor", "\\langle", "\\rangle",
                                   "\\llcorner", "\\lrcorner", "\\ulcorner", "\\urcorner"};
    size_t k = ans_starts(s, "\\left") ? 5 : ans_starts(s, "\\mleft") ? 6 : ans_starts(s, "\\right") ? 6
             : ans_starts(s, "\\mright") ? 7 : 0;
    if (k == 0) {
        return 0;
    }
    for (size_t d = 0; d < sizeof(delims) / sizeof(delims[0]); d++) {
        if (ans_starts(s + k, delims[d])) {
            return k;
        }
    }
    return 0;
}

// Removes what Math-Verify's to_remove_regex removes: dollars, quotes, \displaystyle, \!, empty \text{}.
static size_t ans_removable(const char* s, size_t i) {
    const char* p = s + i;
    if (ans_starts(p, "\\mathrm{th}")) {
        return 11;
    }
    if (ans_starts(p, "\\!")) {
        size_t k = 2;
        while (ans_space(p[k])) {
            k++;
        }
        return k;
    }
    if (ans_starts(p, "\\text")) {
        size_t k = 5;
        while (ans_space(p[k])) {
            k++;
        }
        if (p[k] == '{') {
            k++;
            while (ans_space(p[k])) {
                k++;
            }
            if (p[k] == '}') {
                return k + 1;
            }
        }
    }
    if (ans_starts(p, "\\$")) {
        return 2;
    }
    if (*p == '$' || ((*p == '"' || *p == '\'') && (i == 0 || s[i - 1] != '\\'))) {
        return 1;
    }
    if (ans_starts(p, "\\displaystyle")) {
        return 13;
    }
    return 0;
}

static int ans_word_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

// "\s*\bWORD\b" at s+i: returns the length matched, or 0.
static size_t ans_spaced_word(const char* s, size_t i, const char* word) {
    size_t k = i;
    while (ans_space(s[k])) {
        k++;
    }
    size_t wl = strlen(word);
    if ((k > 0 && ans_word_char(s[k - 1])) || !ans_starts(s + k, word) || ans_word_char(s[k + wl])) {
        return 0;
    }
    return k + wl - i;
}

// One step of Math-Verify's replace_in_latex: the first of its patterns that matches at s+i.
// Returns how many bytes it consumed (0: none matched) and appends the replacement to out.
static size_t ans_replace_at(const char* s, size_t i, StrBuf* out) {
    const char* p = s + i;
    size_t k;
    static const char* to_text[] = {"\\mathrm", "\\mathit", "\\mathbf", "\\textnormal", "\\textbf", "\\textit", "\\textrm"};
    for (int t = 0; t < 7; t++) {
        if (ans_starts(p, to_text[t])) {
            sb_append(out, "\\text", 5);
            return strlen(to_text[t]);
        }
    }
    if (ans_starts(p, "\\dfrac") || ans_starts(p, "\\tfrac") || ans_starts(p, "\\cfrac")) {
        sb_append(out, "\\frac", 5);
        return 6;
    }
    if (ans_space(p[0]) && p[1] == '.') {
        sb_append(out, " 0.", 3);
        return 2;
    }
    if (ans_starts(p, "{.")) {
        sb_append(out, "{0.", 3);
        return 2;
    }
    if (ans_starts(p, "~=")) {
        sb_append(out, "\\approx", 7);
        return 2;
    }
    for (k = 0; ans_space(p[k]); k++) {
    }
    if (p[k] == '{') { // "{,}" -> ","
        size_t m = k + 1;
        while (ans_space(p[m])) {
            m++;
        }
        if (p[m] == ',') {
            m++;
            while (ans_space(p[m])) {
                m++;
            }
            if (p[m] == '}') {
                sb_append(out, ",", 1);
                return m + 1;
            }
        }
    }
    if (i == 0 || !isalpha((unsigned char)s[i - 1])) { // ",? and|or" as a word -> ","
        k = p[0] == ',' ? 1 : 0;
        while (ans_space(p[k])) {
            k++;
        }
        size_t w = ans_starts(p + k, "and") ? 3 : ans_starts(p + k, "or") ? 2 : 0;
        if (w && !isalpha((unsigned char)p[k + w])) {
            sb_append(out, ",", 1);
            return k + w;
        }
    }
    k = p[0] == ',' ? 1 : 0; // ",? \text{ and }" -> ","
    while (ans_space(p[k])) {
        k++;
    }
    if (ans_starts(p + k, "\\text{")) {
        size_t m = k + 6;
        while (ans_space(p[m])) {
            m++;
        }
        size_t w = ans_starts(p + m, "and") ? 3 : ans_starts(p + m, "or") ? 2 : 0;
        if (w) {
            m += w;
            while (ans_space(p[m])) {
                m++;
            }
            if (p[m] == '}') {
                sb_append(out, ",", 1);
                return m + 1;
            }
        }
    }
    if (p[0] == '\\' && ans_space(p[1]) && (i == 0 || s[i - 1] != '\\')) {
        sb_append(out, " ", 1);
        return 2;
    }
    if (ans_starts(p, "infinity")) {
        sb_append(out, "\\infty", 6);
        return 8;
    }
    k = p[0] == ',' ? 1 : 0;
    if (ans_starts(p + k, "\\ldots")) {
        sb_append(out, " ", 1);
        return k + 6;
    }
    static const char* pct_words[] = {"percentage", "percent", "pct"};
    for (int t = 0; t < 3; t++) {
        if ((k = ans_spaced_word(s, i, pct_words[t])) > 0) {
            sb_append(out, "\\%", 2);
            return k;
        }
        char text[32];
        snprintf(text, sizeof(text), "\\text{%s}", pct_words[t]);
        if (ans_starts(p, text)) {
            sb_append(out, "%", 1);
            return strlen(text);
        }
    }
    if (ans_starts(p, "inf") && !ans_starts(p, "infinity") && (i == 0 || s[i - 1] != '\\')) {
        sb_append(out, "\\infty", 6);
        return 3;
    }
    if (ans_starts(p, " sqrt")) {
        sb_append(out, "\\sqrt", 5);
        return 5;
    }
    return 0;
}

// Math-Verify's basic_latex group: \left/\right, removals, replacements, newlines, "\\frac" -> "\frac".
static void ans_basic_latex(StrBuf* a) {
    static const char* from[] = {"\\mathrm{T}", "\\mathrm{d}", "{\\rm d}"};
    static const char* to[] = {"T", "d", "d"};
    StrBuf b;
    sb_init(&b);
    for (size_t i = 0; i < a->len;) { // the plain replacements, then \left and \right
        int done = 0;
        for (int t = 0; t < 3 && !done; t++) {
            if (ans_starts(a->s + i, from[t])) {
                sb_append(&b, to[t], strlen(to[t]));
                i += strlen(from[t]);
                done = 1;
            }
        }
        if (!done) {
            size_t k = ans_left_right(a->s + i);
            i += k;
            if (k == 0) {
                sb_append(&b, a->s + i++, 1);
            }
        }
    }
    sb_set(a, b.s, b.len);
    b.len = 0;
    for (size_t i = 0; i < a->len;) {
        size_t k = ans_removable(a->s, i);
        i += k;
        if (k == 0) {
            sb_append(&b, a->s + i++, 1);
        }
    }
    sb_set(a, b.s, b.len);
    b.len = 0;
    for (size_t i = 0; i < a->len;) {
        size_t k = ans_replace_at(a->s, i, &b);
        i += k;
        if (k == 0) {
            char c = a->s[i++];
            sb_append(&b, c == '\n' || c == '\t' ? " " : &c, 1);
        }
    }
    sb_set(a, b.s, b.len);
    b.len = 0;
    if (strstr(a->s, "matrix") == NULL) { // "\\frac" -> "\frac"
        for (size_t i = 0; i < a->len; i++) {
            if (a->s[i] == '\\' && a->s[i + 1] == '\\' && isalpha((unsigned char)a->s[i + 2])) {
                continue;
            }
            sb_append(&b, a->s + i, 1);
        }
        sb_set(a, b.s, b.len);
    }
    free(b.s);
}

// The positions of the '=' signs that split an equation (not "\=", "<=", "!=", ">=").
static size_t ans_eq_parts(const char* s, size_t n, size_t* last_start) {
    size_t parts = 1;
    *last_start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=' && (i == 0 || !strchr("\\<!>", s[i - 1]))) {
            parts++;
            *last_start = i + 1;
        }
    }
    return parts;
}

// "a = b = c" -> "c" (only when there are no ',' or ';', so "a=1, b=2" stays whole)
static void ans_last_equation(StrBuf* a) {
    size_t last;
    if (strchr(a->s, ',') == NULL && strchr(a->s, ';') == NULL && ans_eq_parts(a->s, a->len, &last) > 2) {
        StrBuf t;
        sb_init(&t);
        sb_append(&t, a->s + last, a->len - last);
        sb_set(a, t.s, t.len);
        free(t.s);
    }
}

// Math-Verify's unit list, in its order (it is searched in this order; "integer" "point" is one
// word there too, by a missing comma in the original).
static const char* ans_units[] = {
    "integerpoint", "feet", "sue", "digit", "pound", "meal", "edge", "student", "children ticket", "multiple",
    "east", "degree", "mph", "kmph", "ft", "m square", " m east", "sq m", "deg", "mile", "q .", "monkey", "prime",
    "ratio", "profit of rs", "rd", "o", "gm", "p . m", "lb", "tile", "per", "dm", "lt", "gain", "ab", "way", "west",
    "a .", "b .", "c .", "d .", "e .", "f .", "g .", "h .", "t", "h", "no change", "men", "soldier", "pie", "bc",
    "excess", "st", "inches", "noon", "cent", "by", "gal", "kmh", "c", "acre", "rise", "a . m", "th",
    "\xcf\x80 r 2", "sq", "mark", "l", "toy", "coin", "sq . m", "gallon", "\xc2\xb0 f", "profit", "minw", "yr",
    "women", "am", "pm", "hr", "cu cm", "square", "v \xc3\xa2 \xe2\x82\xac \xe2\x84\xa2", "are", "rupee",
    "rounds", "cubic", "cc", "mtr", "s", "ohm", "number", "kmph", "day", "hour", "minute", "min", "second", "man",
    "woman", "sec", "cube", "mt", "sq inch", "mp", "\xe2\x88\x8f cm \xc2\xb3", "hectare", "more", "sec", "unit",
    "cu . m", "cm 2", "rs .", "rs", "kg", "g", "month", "km", "m", "cm", "mm", "apple", "liter", "loss", "yard",
    "pure", "year", "increase", "decrease", "d", "less", "Surface", "litre", "pi sq m", "s .", "metre", "meter",
    "inch"};

static int ans_only_space(const char* s) {
    while (ans_space(*s)) {
        s++;
    }
    return *s == '\0';
}

// Where a trailing unit word starts matching, as units_regex "(\d|\}|\s)\s*UNIT(s|es)?\s*$" would
// find it: returns the position p of the (\d|\}|\s) before it, or -1.
static long ans_unit_match(const char* s, size_t n) {
    for (size_t p = 0; p < n; p++) {
        if (!(isdigit((unsigned char)s[p]) || s[p] == '}' || ans_space(s[p]))) {
            continue;
        }
        size_t q1 = p + 1;
        while (q1 < n && ans_space(s[q1])) {
            q1++;
        }
        for (size_t k = q1 + 1; k-- > p + 1;) { // \s* is greedy, then gives back
            for (size_t u = 0; u < sizeof(ans_units) / sizeof(ans_units[0]); u++) {
                if (!ans_starts(s + k, ans_units[u])) {
                    continue;
                }
                size_t r = k + strlen(ans_units[u]);
                if ((s[r] == 's' && ans_only_space(s + r + 1)) || (ans_starts(s + r, "es") && ans_only_space(s + r + 2)) ||
                    ans_only_space(s + r)) {
                    return (long)p;
                }
            }
        }
    }
    return -1;
}

// Math-Verify's units group: a final \text{...} (with a ^2) goes, then a trailing unit word, twice.
static void ans_units_strip(StrBuf* a) {
    const char* t = NULL;
    for (const char* p = a->s; *p; p++) {
        if (ans_starts(p, "\\text{") || ans_starts(p, "\\mbox{")) {
            t = p;
            break;
        }
    }
    if (t) {
        size_t n = a->len, open = (size_t)(t - a->s) + 6; // past "\\text{" or "\\mbox{"
        int ends = (n > open && a->s[n - 1] == '}') ||
                   (n >= open + 3 && a->s[n - 3] == '}' && a->s[n - 2] == '^' && isdigit((unsigned char)a->s[n - 1])) ||
                   (n >= open + 5 && a->s[n - 5] == '}' && ans_starts(a->s + n - 4, "{^") &&
                    isdigit((unsigned char)a->s[n - 2]) && a->s[n - 1] == '}');
        if (ends) {
            StrBuf b;
            sb_init(&b);
            sb_append(&b, a->s, (size_t)(t - a->s));
            ans_strip(&b);
            if (b.len > 0) {
                sb_set(a, b.s, b.len);
            }
            free(b.s);
        }
    }
    for (int round = 0; round < 2; round++) {
        long p = ans_unit_match(a->s, a->len);
        if (p >= 0 && p + 1 < (long)a->len) {
            a->len = (size_t)p + 1;
            a->s[a->len] = '\0';
        }
    }
}

// Math-Verify's repairs of hand-written gold answers (malformed_operators; nits): "\frac12",
// "\frac{1}2", "\frac1{2}" -> "\frac{1}{2}", "\sqrt3" -> "\sqrt{3}", "5/3" -> "\frac{5}{3}",
// ".5" -> "0.5", "0.5" -> "\frac{1}{2}".
static void ans_repair(StrBuf* a) {
    StrBuf b;
    sb_init(&b);
    for (size_t i = 0; i < a->len;) {
        const char* p = a->s + i;
        size_t k = 0;
        if (ans_starts(p, "\\frac")) {
            k = 5 + (p[5] == ' ');
            if (isdigit((unsigned char)p[k])) { // \frac 5 9, \frac5{x}
                size_t m = k + 1 + (p[k + 1] == ' ');
                const char* close = p[m] == '{' ? strchr(p + m, '}') : NULL;
                if (close) {
                    sb_append(&b, "\\frac{", 6), sb_append(&b, p + k, 1), sb_append(&b, "}", 1);
                    sb_append(&b, p + m, (size_t)(close - p) + 1 - m);
                    i += (size_t)(close - p) + 1;
                    continue;
                }
                if (isdigit((unsigned char)p[m])) {
                    size_t e = m;
                    while (isdigit((unsigned char)p[e])) {
                        e++;
                    }
                    sb_append(&b, "\\frac{", 6), sb_append(&b, p + k, 1), sb_append(&b, "}{", 2);
                    sb_append(&b, p + m, e - m), sb_append(&b, "}", 1);
                    i += e;
                    continue;
                }
            } else if (p[k] == '{') { // \frac{x}5
                const char* close = strchr(p + k, '}');
                if (close) {
                    size_t m = (size_t)(close - p) + 1 + (close[1] == ' ');
                    if (isdigit((unsigned char)p[m])) {
                        sb_append(&b, "\\frac", 5), sb_append(&b, p + k, (size_t)(close - p) + 1 - k);
                        sb_append(&b, "{", 1), sb_append(&b, p + m, 1), sb_append(&b, "}", 1);
                        i += m + 1;
                        continue;
                    }
                }
            }
        }
        if (ans_starts(p, "\\sqrt")) {
            k = 5 + (p[5] == ' ');
            if (isdigit((unsigned char)p[k])) {
                sb_append(&b, "\\sqrt{", 6), sb_append(&b, p + k, 1), sb_append(&b, "}", 1);
                i += k + 1;
                continue;
            }
            if (p[k] && p[k] != '{' && p[k] != '[' && !ans_space(p[k])) { // \sqrt x
                sb_append(&b, "\\sqrt{", 6), sb_append(&b, p + k, 1), sb_append(&b, "}", 1);
                i += k + 1;
                continue;
            }
        }
        sb_append(&b, p, 1);
        i++;
    }
    sb_set(a, b.s, b.len);
    const char* slash = strchr(a->s, '/');
    if (slash && strchr(slash + 1, '/') == NULL) { // "a/b" of two plain integers
        char* e1;
        char* e2;
        long x = strtol(a->s, &e1, 10), y = strtol(slash + 1, &e2, 10);
        char canon[64];
        snprintf(canon, sizeof(canon), "%ld/%ld", x, y);
        if (e1 == slash && *e2 == '\0' && e1 != a->s && strcmp(canon, a->s) == 0) {
            snprintf(canon, sizeof(canon), "\\frac{%ld}{%ld}", x, y);
            sb_set(a, canon, strlen(canon));
        }
    }
    free(b.s);
}

// normalize_latex with Math-Verify's default settings (gold = 1) or open-r1's (gold = 0).
static void ans_normalize(StrBuf* a, int gold) {
    ans_basic_latex(a);
    if (!gold) {
        ans_last_equation(a); // open-r1 sets equations=True
    }
    ans_units_strip(a);
    if (gold) {
        if (a->s[0] == '.') {
            StrBuf t;
            sb_init(&t);
            sb_append(&t, "0", 1);
            sb_append(&t, a->s, a->len);
            sb_set(a, t.s, t.len);
            free(t.s);
        }
        if (strcmp(a->s, "0.5") == 0) {
            sb_set(a, "\\frac{1}{2}", 11);
        }
        ans_repair(a);
    }
    ans_strip(a);
}

// ----------------------------------------------------------------------------
// step 3: parsing an answer into a value
// A recursive-descent parser for the LaTeX that answers are written in (latex2sympy's job in
// Math-Verify): numbers, letters, \pi, e, \infty, + - * / ^, \cdot, \times, \frac, \sqrt, \sqrt[n],
// \binom, !, %, degrees, \text{}, functions (\sin, \ln, \log_b, ...), |x|, implicit products ("2x",
// "3\sqrt{2}") and mixed numbers ("2\frac{1}{2}" is 5/2). At the top it also reads tuples "(a, b, c)",
// sets "\{a, b\}" and bare lists "a, b" (sets, to Math-Verify), intervals "[a, b)", equations and
// inequalities "x = 5", and "a \pm b" (the set {a+b, a-b}). Anything else is a parse failure, and
// the answer is then compared as a normalised string only.

enum { AN_NUM, AN_SYM, AN_CONST, AN_ADD, AN_SUB, AN_MUL, AN_DIV, AN_POW, AN_NEG, AN_FUNC, AN_PCT, AN_FACT, AN_PM };

typedef struct {
    int op;        // AN_*
    int a, b;      // children (node indices), -1 when unused
    double v;      // AN_NUM: the value; AN_CONST: ANS_PI, ANS_E or INFINITY
    int is_float;  // AN_NUM: written with a decimal point (a sympy Float, compared to 6 places)
    int rational;  // AN_DIV / AN_ADD: a fraction of integers or a mixed number (a sympy Rational)
    char name[24]; // AN_SYM: the variable; AN_FUNC: the function
} ANode;

enum { AV_NONE, AV_EXPR, AV_SET, AV_TUPLE, AV_PAIR, AV_INTERVAL, AV_REL, AV_UNION, AV_MATRIX };
#define AV_ITEMS 32

typedef struct {
    int kind;             // AV_*: AV_PAIR is "(a, b)", an open interval or an ordered pair
    int n;                // number of items
    int item[AV_ITEMS];   // node indices: the elements; an interval's ends; a relation's two sides
    int sign[AV_ITEMS];   // for "a \pm b": which sign each item takes
    int left_open, right_open;
    int rel;              // AV_REL: '=', '<', '>', 'l' (<=), 'g' (>=), 'n' (!=)
    int lo[AV_ITEMS / 2], ro[AV_ITEMS / 2]; // AV_UNION: n intervals, items 2i and 2i+1, open ends
    int rows, cols;                         // AV_MATRIX: n = rows * cols items, row by row
} AValue;

// One parsed answer: its normalised text (what is compared when parsing fails) and its value.
typedef struct {
    StrBuf text;
    ANode nodes[ANSWER_NODES];
    int n_nodes;
    AValue v;
    int depth; // nesting of ans_parse_value ("((x = 1))", "x = (1, 2)"), kept small
} Answer;

typedef struct {
    Answer* ans;
    const char* s; // the text being parsed, and its end
    size_t pos, end;
    int depth, fail, pm;
    int thousands; // commas group digits ("1,234"): set when the whole answer is such a number
} AParser;

static int ap_node(AParser* p, int op, int a, int b) {
    if (p->ans->n_nodes >= ANSWER_NODES) {
        p->fail = 1;
        return 0;
    }
    ANode* nd = &p->ans->nodes[p->ans->n_nodes];
    memset(nd, 0, sizeof(*nd));
    nd->op = op, nd->a = a, nd->b = b;
    return p->ans->n_nodes++;
}

static void ap_space(AParser* p) { // spaces, and LaTeX's spacing commands
    for (;;) {
        const char* c = p->s + p->pos;
        if (p->pos < p->end && ans_space(*c)) { // ('~' is not read by latex2sympy: a parse failure)
            p->pos++;
        } else if (p->pos + 1 < p->end && c[0] == '\\' && strchr(",;: ", c[1])) {
            p->pos += 2;
        } else if (ans_starts(c, "\\qquad") && p->pos + 6 <= p->end) {
            p->pos += 6;
        } else if (ans_starts(c, "\\quad") && p->pos + 5 <= p->end) {
            p->pos += 5;
        } else {
            return;
        }
    }
}

static int ap_peek(AParser* p, const char* tok) { // the next token is tok (commands end at a non-letter)
    ap_space(p);
    size_t n = strlen(tok);
    if (p->pos + n > p->end || strncmp(p->s + p->pos, tok, n) != 0) {
        return 0;
    }
    return !(tok[0] == '\\' && isalpha((unsigned char)tok[n - 1]) && p->pos + n < p->end &&
             isalpha((unsigned char)p->s[p->pos + n]));
}

static int ap_eat(AParser* p, const char* tok) {
    if (ap_peek(p, tok)) {
        p->pos += strlen(tok);
        return 1;
    }
    return 0;
}

static int ap_sum(AParser* p);

// A LaTeX argument: "{...}", or (braces_only == 0) a single digit or letter. latex2sympy wants the
// braces of \frac and \sqrt ("\sqrt2" does not parse, so a model writing it is not rewarded), but
// reads "\sin x" and "\log_2 8".
static int ap_group(AParser* p, int braces_only) {
    ap_space(p);
    if (ap_eat(p, "{")) {
        int v = ap_sum(p);
        if (!ap_eat(p, "}")) {
            p->fail = 1;
        }
        return v;
    }
    if (braces_only) {
        p->fail = 1;
        return 0;
    }
    if (p->pos < p->end && isdigit((unsigned char)p->s[p->pos])) { // "\frac12" style: one digit
        int v = ap_node(p, AN_NUM, -1, -1);
        p->ans->nodes[v].v = p->s[p->pos++] - '0';
        return v;
    }
    if (p->pos < p->end && isalpha((unsigned char)p->s[p->pos])) {
        int v = ap_node(p, AN_SYM, -1, -1);
        p->ans->nodes[v].name[0] = (char)tolower((unsigned char)p->s[p->pos++]);
        if (p->ans->nodes[v].name[0] == 'e') {
            p->ans->nodes[v].op = AN_CONST, p->ans->nodes[v].v = ANS_E;
        }
        return v;
    }
    p->fail = 1;
    return 0;
}

static void ap_skip_subscript(AParser* p, char* name, size_t cap) { // "_6", "_{10}": appended to name
    if (p->pos < p->end && p->s[p->pos] == '_') {
        p->pos++;
        size_t len = name ? strlen(name) : 0;
        if (name && len + 2 < cap) {
            name[len++] = '_', name[len] = '\0';
        }
        int brace = p->pos < p->end && p->s[p->pos] == '{';
        size_t start = p->pos + brace, e = start;
        if (brace) {
            while (e < p->end && p->s[e] != '}') {
                e++;
            }
        } else if (e < p->end) {
            e++;
        }
        for (size_t k = start; k < e && name && len + 1 < cap; k++) {
            if (isalnum((unsigned char)p->s[k])) {
                name[len++] = (char)tolower((unsigned char)p->s[k]), name[len] = '\0';
            }
        }
        p->pos = e + (brace && e < p->end);
    }
}

// digits, ".5", "3.25"; "1,234,567" when the whole answer is that number (see ans_thousands)
static int ap_number(AParser* p) {
    char buf[64];
    size_t n = 0;
    int is_float = 0;
    while (p->pos < p->end && n + 1 < sizeof(buf)) {
        char c = p->s[p->pos];
        if (isdigit((unsigned char)c)) {
            buf[n++] = c, p->pos++;
        } else if (c == '.' && !is_float && p->pos + 1 < p->end && isdigit((unsigned char)p->s[p->pos + 1])) {
            buf[n++] = c, p->pos++, is_float = 1;
        } else if (c == ',' && p->thousands) { // only when the whole answer is one such number
            p->pos++;
        } else {
            break;
        }
    }
    buf[n] = '\0';
    int v = ap_node(p, AN_NUM, -1, -1);
    p->ans->nodes[v].v = strtod(buf, NULL);
    p->ans->nodes[v].is_float = is_float;
    ap_skip_subscript(p, NULL, 0); // 2215_6: a number in base 6 is kept as written, as latex2sympy does
    return v;
}

static int ap_function(AParser* p, const char* name) {
    int f = ap_node(p, AN_FUNC, -1, -1);
    snprintf(p->ans->nodes[f].name, sizeof(p->ans->nodes[f].name), "%s", name);
    if (strcmp(name, "log") == 0 && p->pos < p->end && p->s[p->pos] == '_') { // \log_b x = ln x / ln b
        p->pos++;
        int base = ap_group(p, 0);
        p->ans->nodes[f].b = base;
    }
    int power = -1;
    if (ap_eat(p, "^")) { // \sin^2 x is (\sin x)^2
        power = ap_group(p, 0);
    }
    ap_space(p);
    if (ap_eat(p, "(")) {
        p->ans->nodes[f].a = ap_sum(p);
        if (!ap_eat(p, ")")) {
            p->fail = 1;
        }
    } else {
        int arg = ap_group(p, 0);
        p->ans->nodes[f].a = arg;
    }
    return power >= 0 ? ap_node(p, AN_POW, f, power) : f;
}

static int ap_command(AParser* p) {
    static const char* funcs[] = {"arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "sin", "cos", "tan",
                                  "cot", "sec", "csc", "ln", "log", "exp"};
    static const char* greek[] = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta",
                                  "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho",
                                  "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega"};
    if (ap_eat(p, "\\pi")) {
        int v = ap_node(p, AN_CONST, -1, -1);
        p->ans->nodes[v].v = ANS_PI;
        return v;
    }
    if (ap_eat(p, "\\infty")) {
        int v = ap_node(p, AN_CONST, -1, -1);
        p->ans->nodes[v].v = INFINITY;
        return v;
    }
    if (ap_eat(p, "\\frac") || ap_eat(p, "\\binom")) {
        int binom = p->s[p->pos - 1] == 'm';
        int a = ap_group(p, 1);
        int b = ap_group(p, 1);
        int v = ap_node(p, binom ? AN_FUNC : AN_DIV, a, b);
        if (binom) {
            strcpy(p->ans->nodes[v].name, "binom");
        } else {
            p->ans->nodes[v].rational = p->ans->nodes[a].op == AN_NUM && !p->ans->nodes[a].is_float &&
                                        p->ans->nodes[b].op == AN_NUM && !p->ans->nodes[b].is_float;
        }
        return v;
    }
    if (ap_eat(p, "\\sqrt")) {
        int root = -1;
        if (ap_eat(p, "[")) {
            root = ap_sum(p);
            if (!ap_eat(p, "]")) {
                p->fail = 1;
            }
        }
        int x = ap_group(p, 1);
        int v = ap_node(p, AN_FUNC, x, root);
        strcpy(p->ans->nodes[v].name, "sqrt");
        return v;
    }
    if (ap_eat(p, "\\text") || ap_eat(p, "\\mbox") || ap_eat(p, "\\operatorname")) { // a word is a symbol
        ap_space(p);
        if (!ap_eat(p, "{")) {
            p->fail = 1;
            return 0;
        }
        size_t close = p->pos;
        while (close < p->end && p->s[close] != '}') {
            close++;
        }
        size_t first = p->pos;
        while (first < close && ans_space(p->s[first])) {
            first++;
        }
        size_t last = close, k = first + (first < close && p->s[first] == '-');
        while (last > first && ans_space(p->s[last - 1])) {
            last--;
        }
        while (k < last && (isdigit((unsigned char)p->s[k]) || p->s[k] == '.')) {
            k++;
        }
        if (first < close && close < p->end && k == last && isdigit((unsigned char)p->s[last - 1])) {
            size_t end = p->end; // \text{12} is 12: parse the inside, within our depth limit
            p->pos = first, p->end = close;
            int v = ap_sum(p);
            ap_space(p);
            if (p->pos != close) {
                p->fail = 1;
            }
            p->end = end, p->pos = close + 1;
            return v;
        }
        int v = ap_node(p, AN_SYM, -1, -1);
        size_t len = 0;
        while (p->pos < p->end && p->s[p->pos] != '}') {
            char c = p->s[p->pos++];
            if (isalnum((unsigned char)c) && len + 1 < sizeof(p->ans->nodes[v].name)) {
                p->ans->nodes[v].name[len++] = (char)tolower((unsigned char)c);
            }
        }
        if (!ap_eat(p, "}") || len == 0) {
            p->fail = 1;
        }
        return v;
    }
    for (size_t k = 0; k < sizeof(funcs) / sizeof(funcs[0]); k++) {
        char tok[16];
        snprintf(tok, sizeof(tok), "\\%s", funcs[k]);
        if (ap_eat(p, tok)) {
            return ap_function(p, funcs[k]);
        }
    }
    for (size_t k = 0; k < sizeof(greek) / sizeof(greek[0]); k++) {
        char tok[16];
        snprintf(tok, sizeof(tok), "\\%s", greek[k]);
        if (ap_eat(p, tok)) {
            int v = ap_node(p, AN_SYM, -1, -1);
            snprintf(p->ans->nodes[v].name, sizeof(p->ans->nodes[v].name), "%s", greek[k]);
            ap_skip_subscript(p, p->ans->nodes[v].name, sizeof(p->ans->nodes[v].name));
            return v;
        }
    }
    p->fail = 1; // a command we do not know
    return 0;
}

static int ap_primary(AParser* p) {
    ap_space(p);
    if (p->pos >= p->end) {
        p->fail = 1;
        return 0;
    }
    char c = p->s[p->pos];
    if (isdigit((unsigned char)c) || (c == '.' && p->pos + 1 < p->end && isdigit((unsigned char)p->s[p->pos + 1]))) {
        return ap_number(p);
    }
    if (isalpha((unsigned char)c)) {
        p->pos++;
        int v = ap_node(p, AN_SYM, -1, -1);
        ANode* nd = &p->ans->nodes[v];
        nd->name[0] = (char)tolower((unsigned char)c);
        ap_skip_subscript(p, nd->name, sizeof(nd->name));
        if (strcmp(nd->name, "e") == 0) { // e is Euler's number, as in latex2sympy
            nd->op = AN_CONST, nd->v = ANS_E;
        }
        return v;
    }
    if (c == '(' || c == '{' || c == '[' || c == '|') {
        char close = c == '(' ? ')' : c == '{' ? '}' : c == '[' ? ']' : '|';
        p->pos++;
        int v = ap_sum(p);
        ap_space(p);
        if (p->pos >= p->end || p->s[p->pos] != close) {
            p->fail = 1;
            return v;
        }
        p->pos++;
        if (c == '|') {
            v = ap_node(p, AN_FUNC, v, -1);
            strcpy(p->ans->nodes[v].name, "abs");
        }
        return v;
    }
    if (c == '\\') {
        return ap_command(p);
    }
    p->fail = 1;
    return 0;
}

// primary, then any of: ^exponent, !, %, ^\circ (degrees are dropped, as latex2sympy does)
static int ap_postfix(AParser* p) {
    int v = ap_primary(p);
    for (int guard = 0; guard < 64 && !p->fail; guard++) {
        if (ap_eat(p, "^\\circ") || ap_eat(p, "^{\\circ}") || ap_eat(p, "\\circ") || ap_eat(p, "\\degree")) {
            continue;
        }
        if (ap_eat(p, "^")) {
            ap_space(p);
            int e;
            if (p->pos < p->end && (p->s[p->pos] == '\\' || isdigit((unsigned char)p->s[p->pos]))) {
                e = ap_primary(p); // "2^10" is 2**10 to latex2sympy
            } else {
                e = ap_group(p, 0);
            }
            v = ap_node(p, AN_POW, v, e);
        } else if (ap_eat(p, "!")) {
            v = ap_node(p, AN_FACT, v, -1);
        } else if (ap_eat(p, "\\%") || ap_eat(p, "%")) {
            v = ap_node(p, AN_PCT, v, -1);
        } else {
            break;
        }
    }
    return v;
}

static int ap_unary(AParser* p) {
    if (++p->depth > ANSWER_DEPTH) {
        p->fail = 1;
        return 0;
    }
    int v;
    if (ap_eat(p, "-")) {
        v = ap_node(p, AN_NEG, ap_unary(p), -1);
    } else if (ap_eat(p, "+")) {
        v = ap_unary(p);
    } else {
        v = ap_postfix(p);
    }
    p->depth--;
    return v;
}

// Does the next token start a factor of an implicit product ("2x", "3\sqrt{2}", "x(x+1)")?
static int ap_implicit_next(AParser* p) {
    ap_space(p);
    if (p->pos >= p->end) {
        return 0;
    }
    char c = p->s[p->pos];
    if (isalpha((unsigned char)c) || c == '(' || c == '{') {
        return 1;
    }
    if (c != '\\') {
        return 0;
    }
    static const char* ops[] = {"\\cdot", "\\times", "\\div", "\\pm", "\\mp", "\\le", "\\ge", "\\leq", "\\geq",
                                "\\ne", "\\neq", "\\lt", "\\gt", "\\}", "\\right", "\\circ", "\\%", "\\approx",
                                "\\cup", "\\cap", "\\in", "\\to"};
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        if (ap_peek(p, ops[k])) {
            return 0;
        }
    }
    return 1;
}

static int ap_term(AParser* p) {
    int v = ap_unary(p);
    while (!p->fail) {
        int op;
        if (ap_eat(p, "*") || ap_eat(p, "\\cdot") || ap_eat(p, "\\times")) {
            op = AN_MUL;
        } else if (ap_eat(p, "/") || ap_eat(p, "\\div") || ap_eat(p, ":")) { // a ratio 3:5 is 3/5
            op = AN_DIV;
        } else if (ap_implicit_next(p)) {
            op = AN_MUL;
        } else {
            break;
        }
        int r = ap_unary(p);
        ANode* left = &p->ans->nodes[v];
        ANode* right = &p->ans->nodes[r];
        if (op == AN_MUL && left->op == AN_NUM && !left->is_float && right->op == AN_DIV && right->rational &&
            p->s[p->pos - 1] == '}') { // a mixed number: 2\frac{1}{2} is 5/2
            v = ap_node(p, AN_ADD, v, r);
            p->ans->nodes[v].rational = 1;
        } else {
            int both_int = op == AN_DIV && left->op == AN_NUM && !left->is_float && right->op == AN_NUM && !right->is_float;
            v = ap_node(p, op, v, r);
            p->ans->nodes[v].rational = both_int; // 5/3 is a sympy Rational too
        }
    }
    return v;
}

static int ap_sum(AParser* p) {
    if (++p->depth > ANSWER_DEPTH) {
        p->fail = 1;
        return 0;
    }
    int v = ap_term(p);
    while (!p->fail) {
        int op;
        if (ap_eat(p, "+")) {
            op = AN_ADD;
        } else if (ap_eat(p, "-")) {
            op = AN_SUB;
        } else if (ap_eat(p, "\\pm") || ap_eat(p, "\\mp")) {
            op = AN_PM;
            if (p->pm || p->depth > 1) { // one top-level \pm only
                p->fail = 1;
            }
            p->pm = 1;
        } else {
            break;
        }
        int r = ap_term(p);
        v = ap_node(p, op, v, r);
    }
    p->depth--;
    return v;
}

// Parses s[start, end) as one expression; -1 on failure.
static int ap_expr_range(Answer* ans, const char* s, size_t start, size_t end, int* pm) {
    AParser p = {ans, s, start, end, 0, 0, 0, 0};
    int v = ap_sum(&p);
    ap_space(&p);
    if (p.fail || p.pos != end) {
        return -1;
    }
    if (pm) {
        *pm = p.pm;
    } else if (p.pm) {
        return -1;
    }
    return v;
}

static int ans_opener(const char* s, size_t* len) {
    if (ans_starts(s, "\\{")) {
        *len = 2;
        return 1;
    }
    *len = 1;
    return *s == '(' || *s == '[' || *s == '{';
}

static int ans_closer(const char* s, size_t* len) {
    if (ans_starts(s, "\\}")) {
        *len = 2;
        return 1;
    }
    *len = 1;
    return *s == ')' || *s == ']' || *s == '}';
}

// Is s[start, end) one number with thousands commas, "-1,234,567.5"? latex2sympy reads such an
// answer as the number; any other comma separates items ("(1,234)" is an interval, "1,2345" a set).
static int ans_thousands(const char* s, size_t start, size_t end) {
    size_t i = start + (s[start] == '-'), d = i;
    while (i < end && isdigit((unsigned char)s[i])) {
        i++;
    }
    if (i == d || i - d > 3 || i >= end || s[i] != ',') {
        return 0;
    }
    while (i + 3 < end + 1 && s[i] == ',' && isdigit((unsigned char)s[i + 1]) && isdigit((unsigned char)s[i + 2]) &&
           isdigit((unsigned char)s[i + 3])) {
        i += 4;
    }
    if (i < end && s[i] == '.') {
        i++;
        while (i < end && isdigit((unsigned char)s[i])) {
            i++;
        }
    }
    return i == end;
}

// Splits s[start, end) at top-level commas into items.
static int ans_split(const char* s, size_t start, size_t end, size_t* cuts, int max_items) {
    int n = 0, depth = 0;
    cuts[n++] = start;
    for (size_t i = start; i < end; i++) {
        size_t l;
        if (ans_opener(s + i, &l)) {
            depth++, i += l - 1;
        } else if (ans_closer(s + i, &l)) {
            depth--, i += l - 1;
        } else if (s[i] == '\\' && i + 1 < end) {
            i++; // "\," is a thin space, not a separator
        } else if (s[i] == ',' && depth == 0) {
            if (n >= max_items) {
                return -1;
            }
            cuts[n++] = i + 1;
        }
    }
    cuts[n] = end + 1;
    return n;
}

// Reads a list of items into v (each one expression); 0 on failure.
static int ans_parse_items(Answer* ans, const char* s, size_t start, size_t end, AValue* v) {
    size_t cuts[AV_ITEMS + 1];
    int n = ans_split(s, start, end, cuts, AV_ITEMS);
    if (n < 0) {
        return 0;
    }
    for (int k = 0; k < n; k++) {
        int e = ap_expr_range(ans, s, cuts[k], cuts[k + 1] - 1, NULL);
        if (e < 0) {
            return 0;
        }
        v->item[k] = e, v->sign[k] = 1;
    }
    v->n = n;
    return 1;
}

// A relation "lhs OP rhs" at the top level: the position of the operator, or 0.
static size_t ans_find_relation(const char* s, size_t n, int* rel, size_t* op_len) {
    static const char* ops[] = {"\\leq", "\\geq", "\\neq", "\\le", "\\ge", "\\ne", "\\lt", "\\gt", "<=", ">=",
                                "=", "<", ">", "\\in"}; // latex2sympy reads "x \in S" as x = S
    static const int codes[] = {'l', 'g', 'n', 'l', 'g', 'n', '<', '>', 'l', 'g', '=', '<', '>', '='};
    int depth = 0;
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        if (ans_opener(s + i, &l)) {
            depth++, i += l - 1;
            continue;
        }
        if (ans_closer(s + i, &l)) {
            depth--, i += l - 1;
            continue;
        }
        for (int k = 0; k < 14 && depth == 0; k++) {
            size_t ol = strlen(ops[k]);
            if (strncmp(s + i, ops[k], ol) == 0 && !(ops[k][0] == '\\' && isalpha((unsigned char)s[i + ol]))) {
                if (found) { // chains (2 < x < 3, a = b = c) keep the first left and last right side
                    if (*rel != '=' || codes[k] != '=') {
                        return (size_t)-1;
                    }
                }
                if (!found) {
                    found = i + 1, *rel = codes[k], *op_len = ol;
                } else {
                    *op_len = i + ol - (found - 1);
                }
                i += ol - 1;
                break;
            }
        }
    }
    return found;
}

static int ans_parse_value(Answer* ans, const char* s, size_t n);
static int ans_letters(const Answer* ans, int i, char* out, size_t cap, size_t* len, int depth);

// "I1 \cup I2 \cup ...": a union of intervals (each "(a, b)", "[a, b]", ...), at the top only.
static int ans_parse_union(Answer* ans, const char* s, size_t start, size_t n) {
    size_t cut[AV_ITEMS / 2 + 1];
    int parts = 0, depth = 0;
    cut[parts++] = start;
    for (size_t i = start; i < n; i++) {
        size_t l;
        if (ans_opener(s + i, &l)) {
            depth++, i += l - 1;
        } else if (ans_closer(s + i, &l)) {
            depth--, i += l - 1;
        } else if (depth == 0 && ans_starts(s + i, "\\cup") && !isalpha((unsigned char)s[i + 4])) {
            if (parts == AV_ITEMS / 2) {
                return 0;
            }
            cut[parts++] = i + 4;
        }
    }
    if (parts == 1) {
        return 0;
    }
    cut[parts] = n + 4;
    AValue u;
    memset(&u, 0, sizeof(u));
    u.kind = AV_UNION;
    for (int k = 0; k < parts; k++) {
        if (!ans_parse_value(ans, s + cut[k], cut[k + 1] - 4 - cut[k]) ||
            (ans->v.kind != AV_INTERVAL && ans->v.kind != AV_PAIR)) {
            return 0;
        }
        u.item[2 * k] = ans->v.item[0], u.item[2 * k + 1] = ans->v.item[1];
        u.lo[k] = ans->v.kind == AV_PAIR || ans->v.left_open;
        u.ro[k] = ans->v.kind == AV_PAIR || ans->v.right_open;
        u.sign[2 * k] = u.sign[2 * k + 1] = 1;
    }
    u.n = parts;
    ans->v = u;
    return 1;
}

// "\begin{pmatrix} a & b \\ c & d \end{pmatrix}" (or bmatrix): a matrix, compared cell by cell.
static int ans_parse_matrix(Answer* ans, const char* s, size_t start, size_t n) {
    static const char* kinds[] = {"pmatrix", "bmatrix"};
    for (int k = 0; k < 2; k++) {
        char open[32], close[32];
        snprintf(open, sizeof(open), "\\begin{%s}", kinds[k]);
        snprintf(close, sizeof(close), "\\end{%s}", kinds[k]);
        size_t ol = strlen(open), cl = strlen(close), end = n;
        while (end > start && ans_space(s[end - 1])) {
            end--;
        }
        if (end >= start + 6 && strncmp(s + end - 6, "^\\circ", 6) == 0) { // degrees are dropped
            end -= 6;
        }
        if (end < start + ol + cl || strncmp(s + start, open, ol) != 0 || strncmp(s + end - cl, close, cl) != 0) {
            continue;
        }
        AValue m;
        memset(&m, 0, sizeof(m));
        m.kind = AV_MATRIX;
        size_t cell = start + ol, stop = end - cl;
        int cols = 0;
        for (size_t i = cell; i <= stop; i++) {
            int row_end = i + 1 < stop + 1 && s[i] == '\\' && s[i + 1] == '\\';
            if (i == stop || s[i] == '&' || row_end) {
                if (m.n == AV_ITEMS) {
                    return 0;
                }
                int e = ap_expr_range(ans, s, cell, i, NULL);
                if (e < 0) {
                    return 0;
                }
                m.item[m.n] = e, m.sign[m.n++] = 1, cols++;
                if (row_end || i == stop) {
                    if (m.rows > 0 && cols != m.cols) {
                        return 0;
                    }
                    m.cols = cols, m.rows++, cols = 0;
                }
                i += row_end;
                cell = i + 1;
            }
        }
        ans->v = m;
        return 1;
    }
    return 0;
}

static int ans_parse_value_at(Answer* ans, const char* s, size_t n);

// The whole answer text -> ans->v. Structures are read at the top only; a whole answer in
// parentheses that reads no other way is read without them ("(x = 1624)"), as is a braced matrix.
static int ans_parse_value(Answer* ans, const char* s, size_t n) {
    if (ans->depth >= 4) {
        return 0;
    }
    ans->depth++;
    int ok = ans_parse_value_at(ans, s, n);
    if (!ok) {
        size_t a = 0, b = n;
        while (a < b && ans_space(s[a])) {
            a++;
        }
        while (b > a && ans_space(s[b - 1])) {
            b--;
        }
        int braced_matrix = s[a] == '{' && s[b - 1] == '}' && ans_starts(s + a + 1, "\\begin{");
        if (b - a >= 2 && ((s[a] == '(' && s[b - 1] == ')') || braced_matrix)) {
            ok = ans_parse_value(ans, s + a + 1, b - a - 2);
        }
    }
    ans->depth--;
    return ok;
}

static int ans_parse_value_at(Answer* ans, const char* s, size_t n) {
    AValue* v = &ans->v;
    memset(v, 0, sizeof(*v));
    for (;;) { // trailing spaces and spacing commands ("(2, 3)\," after a unit was dropped)
        if (n > 0 && ans_space(s[n - 1])) {
            n--;
        } else if (n > 1 && s[n - 2] == '\\' && strchr(",;:! ", s[n - 1]) && (n < 3 || s[n - 3] != '\\')) {
            n -= 2;
        } else {
            break;
        }
    }
    size_t start = 0;
    while (start < n && ans_space(s[start])) {
        start++;
    }
    if (start >= n) {
        return 0;
    }
    if (ans_parse_matrix(ans, s, start, n)) {
        return 1;
    }
    if (ans_thousands(s, start, n)) {
        AParser p = {ans, s, start, n, 0, 0, 0, 1};
        int e = ap_sum(&p);
        if (p.fail || p.pos != n) {
            return 0;
        }
        v->kind = AV_EXPR, v->n = 1, v->item[0] = e, v->sign[0] = 1;
        return 1;
    }
    if (ans_parse_union(ans, s, start, n)) {
        return 1;
    }
    size_t ol, cl;
    if (ans_opener(s + start, &ol)) { // "(a, b)", "[a, b)", "\{a, b\}": find the matching closer
        int depth = 0;
        size_t close = 0;
        for (size_t i = start; i < n; i++) {
            size_t l;
            if (ans_opener(s + i, &l)) {
                depth++, i += l - 1;
            } else if (ans_closer(s + i, &l) && --depth == 0) {
                close = i;
                break;
            }
        }
        ans_closer(s + close, &cl);
        if (close > 0 && close + cl == n) {
            char o = s[start] == '\\' ? '{' : s[start];
            char c = s[close] == '\\' ? '}' : s[close];
            AValue t;
            memset(&t, 0, sizeof(t));
            if (ans_parse_items(ans, s, start + ol, close, &t) && (t.n > 1 || o == '{')) {
                *v = t;
                if (o == '{') {
                    v->kind = AV_SET;
                } else if (o == '(' && c == ')') {
                    v->kind = t.n == 2 ? AV_PAIR : AV_TUPLE;
                } else if (t.n == 2 && o != '{' && c != '}') {
                    v->kind = AV_INTERVAL, v->left_open = o == '(', v->right_open = c == ')';
                } else {
                    return 0;
                }
                return 1;
            }
        }
    }
    size_t cuts[AV_ITEMS + 1];
    int items = ans_split(s, start, n, cuts, AV_ITEMS);
    if (items > 1) { // a bare list "1, 2" is a set to Math-Verify
        if (!ans_parse_items(ans, s, start, n, v)) {
            return 0;
        }
        v->kind = AV_SET;
        return 1;
    }
    if (items < 0) {
        return 0;
    }
    int rel = 0;
    size_t op_len = 0;
    size_t at = ans_find_relation(s + start, n - start, &rel, &op_len);
    if (at == (size_t)-1) {
        return 0;
    }
    if (at > 0) {
        size_t op = start + at - 1;
        int l = ap_expr_range(ans, s, start, op, NULL);
        int r = ap_expr_range(ans, s, op + op_len, n, NULL);
        char name[64];
        size_t len = 0;
        if (l >= 0 && r < 0 && rel == '=' && ans_letters(ans, l, name, sizeof(name), &len, 0) &&
            memchr(s + op + 1, '=', n - op - 1) == NULL) { // one '=' only: "x=(0,1)=(0,1)" does not parse
            // "x = (8, -2)", "x \in [1, 2]", "x = 3 \pm \sqrt{2}": an assignment of a tuple, interval or
            // set is judged by its right side (what Math-Verify does with it against a gold that is no
            // equation)
            return ans_parse_value(ans, s + op + op_len, n - op - op_len) && ans->v.kind != AV_REL;
        }
        if (l < 0 || r < 0) {
            return 0;
        }
        v->kind = AV_REL, v->rel = rel, v->n = 2, v->item[0] = l, v->item[1] = r;
        return 1;
    }
    int pm = 0;
    int e = ap_expr_range(ans, s, start, n, &pm);
    if (e < 0) {
        return 0;
    }
    if (pm) { // a \pm b: the set {a + b, a - b}
        v->kind = AV_SET, v->n = 2, v->item[0] = v->item[1] = e, v->sign[0] = 1, v->sign[1] = -1;
        return 1;
    }
    v->kind = AV_EXPR, v->n = 1, v->item[0] = e, v->sign[0] = 1;
    return 1;
}

// Normalises and parses one answer. Like Math-Verify, when the text does not parse and it is a
// chain "a = b = c", the last part is tried alone.
static void answer_parse(Answer* ans, const char* text, int gold, int percent) {
    sb_init(&ans->text);
    size_t n = strlen(text);
    sb_append(&ans->text, text, n > ANSWER_MAX ? ANSWER_MAX : n);
    ans_normalize(&ans->text, gold);
    ans->n_nodes = 0;
    ans->depth = 0;
    if (!ans_parse_value(ans, ans->text.s, ans->text.len)) {
        size_t last;
        ans->n_nodes = 0;
        if (strchr(ans->text.s, ',') || strchr(ans->text.s, ';') ||
            ans_eq_parts(ans->text.s, ans->text.len, &last) <= 2 ||
            !ans_parse_value(ans, ans->text.s + last, ans->text.len - last)) {
            memset(&ans->v, 0, sizeof(ans->v));
        }
    }
    if (percent && ans->v.kind == AV_EXPR) { // "$50$%": the percent sign came after the math
        AParser p = {ans, "", 0, 0, 0, 0, 0, 0};
        int e = ap_node(&p, AN_PCT, ans->v.item[0], -1);
        if (!p.fail) {
            ans->v.item[0] = e;
        }
    }
}

static void answer_free(Answer* ans) { free(ans->text.s); }

// ----------------------------------------------------------------------------
// step 4: comparing two answers
// Numbers are compared by value. Expressions with variables are compared at two points where each
// variable takes a value made from its name (the same on both sides), which is what sympy's
// simplify(a - b) == 0 decides for the expressions answers are made of.

static double ans_symbol_value(const char* name, int point) {
    uint64_t h = 1469598103934665603ull; // FNV-1a of the name, then a point-dependent mix
    for (const char* c = name; *c; c++) {
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    }
    h = rng_seed(h + (uint64_t)point * 0x9E3779B97F4A7C15ull);
    return 1.25 + (double)(h >> 11) / 9007199254740992.0 * 1.5; // in [1.25, 2.75)
}

static double ans_eval(const Answer* ans, int i, int point, int sign, int depth) {
    if (i < 0 || depth > 2 * ANSWER_DEPTH + 8) {
        return NAN;
    }
    const ANode* nd = &ans->nodes[i];
    double a = nd->a >= 0 ? ans_eval(ans, nd->a, point, sign, depth + 1) : NAN;
    double b = nd->b >= 0 ? ans_eval(ans, nd->b, point, sign, depth + 1) : NAN;
    switch (nd->op) {
    case AN_NUM:
    case AN_CONST: return nd->v;
    case AN_SYM: return ans_symbol_value(nd->name, point);
    case AN_ADD: return a + b;
    case AN_SUB: return a - b;
    case AN_PM: return a + sign * b;
    case AN_MUL: return a * b;
    case AN_DIV: return a / b;
    case AN_POW: return pow(a, b);
    case AN_NEG: return -a;
    case AN_PCT: return a / 100.0;
    case AN_FACT: return (a >= 0 && a == floor(a) && a < 171) ? tgamma(a + 1) : NAN;
    default: break;
    }
    const char* f = nd->name; // AN_FUNC
    if (strcmp(f, "sqrt") == 0) {
        return nd->b >= 0 ? pow(a, 1.0 / b) : sqrt(a);
    }
    if (strcmp(f, "binom") == 0) {
        return (a >= 0 && b >= 0 && b <= a && a < 171) ? tgamma(a + 1) / (tgamma(b + 1) * tgamma(a - b + 1)) : NAN;
    }
    if (strcmp(f, "log") == 0) {
        return nd->b >= 0 ? log(a) / log(b) : log(a); // sympy's log without a base is natural
    }
    static const char* names[] = {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan",
                                  "sinh", "cosh", "tanh", "ln", "exp", "abs"};
    double r[] = {sin(a), cos(a), tan(a), 1 / tan(a), 1 / cos(a), 1 / sin(a), asin(a), acos(a), atan(a),
                  sinh(a), cosh(a), tanh(a), log(a), exp(a), fabs(a)};
    for (int k = 0; k < 15; k++) {
        if (strcmp(f, names[k]) == 0) {
            return r[k];
        }
    }
    return NAN;
}

static int ans_has_symbols(const Answer* ans, int i, int depth) {
    if (i < 0 || depth > 2 * ANSWER_DEPTH + 8) {
        return 0;
    }
    const ANode* nd = &ans->nodes[i];
    return nd->op == AN_SYM || ans_has_symbols(ans, nd->a, depth + 1) || ans_has_symbols(ans, nd->b, depth + 1);
}

static int ans_has_infinity(const Answer* ans, int i, int depth) { // an \infty in the expression
    if (i < 0 || depth > 2 * ANSWER_DEPTH + 8) {
        return 0;
    }
    const ANode* nd = &ans->nodes[i];
    return (nd->op == AN_CONST && isinf(nd->v)) || ans_has_infinity(ans, nd->a, depth + 1) ||
           ans_has_infinity(ans, nd->b, depth + 1);
}

// Equal within rel (relative to the larger, at least 1). Infinities are equal only to themselves;
// the caller rules out the overflows of huge numbers like 2^{4950}, which doubles cannot tell apart.
static int ans_close(double a, double b, double rel) {
    if (isnan(a) || isnan(b)) {
        return 0;
    }
    if (isinf(a) || isinf(b)) {
        return a == b;
    }
    return fabs(a - b) <= rel * fmax(1.0, fmax(fabs(a), fabs(b)));
}

// Math-Verify's "atomic" numbers: what sympy keeps as one Number (Integer, Float, Rational), maybe
// with a percent sign. kind: 1 integer, 2 decimal (Float), 3 fraction (Rational).
static int ans_atomic(const Answer* ans, int i, int* pct) {
    const ANode* nd = &ans->nodes[i];
    *pct = 0;
    if (nd->op == AN_PCT) {
        *pct = 1;
        nd = &ans->nodes[nd->a];
    }
    if (nd->op == AN_NEG) {
        nd = &ans->nodes[nd->a];
    }
    if (nd->op == AN_NUM) {
        return nd->is_float ? 2 : 1;
    }
    return (nd->op == AN_DIV || nd->op == AN_ADD) && nd->rational ? 3 : 0;
}

// A bare symbol against a product of single letters ("\text{Evelyn}" vs "Evelyn"): Math-Verify
// compares the letters as one word.
static int ans_letters(const Answer* ans, int i, char* out, size_t cap, size_t* len, int depth) {
    const ANode* nd = &ans->nodes[i];
    if (depth > ANSWER_DEPTH) {
        return 0;
    }
    if (nd->op == AN_MUL) {
        return ans_letters(ans, nd->a, out, cap, len, depth + 1) && ans_letters(ans, nd->b, out, cap, len, depth + 1);
    }
    const char* name = nd->op == AN_SYM ? nd->name : (nd->op == AN_CONST && nd->v == ANS_E) ? "e" : NULL;
    if (name == NULL || *len + strlen(name) + 1 > cap) {
        return 0;
    }
    strcpy(out + *len, name);
    *len += strlen(name);
    return 1;
}

// Two expressions (item i of gold with sign gs, item j of pred with sign ps), as sympy_expr_eq.
static int ans_expr_equal(const Answer* g, int i, int gs, const Answer* p, int j, int ps) {
    const ANode* gn = &g->nodes[i];
    const ANode* pn = &p->nodes[j];
    if (gn->op == AN_SYM || pn->op == AN_SYM) { // symbols: by name (or spelled out as letters)
        char a[64], b[64];
        size_t la = 0, lb = 0;
        if (ans_letters(g, i, a, sizeof(a), &la, 0) && ans_letters(p, j, b, sizeof(b), &lb, 0)) {
            return strcmp(a, b) == 0;
        }
    }
    double g0 = ans_eval(g, i, 0, gs, 0), p0 = ans_eval(p, j, 0, ps, 0);
    if ((isinf(g0) && !ans_has_infinity(g, i, 0)) || (isinf(p0) && !ans_has_infinity(p, j, 0))) {
        return 0; // too large for a double: we cannot decide, so we do not reward
    }
    int gp, pp;
    int ga = ans_atomic(g, i, &gp), pa = ans_atomic(p, j, &pp);
    int gsym = ans_has_symbols(g, i, 0), psym = ans_has_symbols(p, j, 0);
    double gv = ans_eval(g, i, 0, gs, 0), pv = ans_eval(p, j, 0, ps, 0);
    if (ga || pa) {
        if (ga == 2 || pa == 2) { // a decimal: both rounded to 6 places
            if (gsym || psym) {
                return 0;
            }
            return ans_close(round(gv * 1e6) / 1e6, round(pv * 1e6) / 1e6, 1e-12);
        }
        if (ga == 1 && pa == 1) { // two integers: exactly, a percent sign aside (50% equals 50)
            double x = gp ? gv * 100 : gv, y = pp ? pv * 100 : pv;
            return ans_close(x, y, 1e-15);
        }
        if (!gsym && !psym) {
            return ans_close(gv, pv, 1e-12);
        }
    }
    for (int point = 0; point < 3; point++) { // (a - b) == 0, or simplify(a - b) == 0
        double x = ans_eval(g, i, point, gs, 0), y = ans_eval(p, j, point, ps, 0);
        if (!ans_close(x, y, 1e-9)) {
            return 0;
        }
        if (!gsym && !psym) {
            break;
        }
    }
    return 1;
}

// Finite sets ignore order: every gold element must pair with its own predicted element.
static int ans_set_equal(const Answer* g, const AValue* gv, const Answer* p, const AValue* pv) {
    if (gv->n != pv->n) {
        return 0;
    }
    int used[AV_ITEMS] = {0};
    for (int a = 0; a < gv->n; a++) {
        int hit = 0;
        for (int b = 0; b < pv->n && !hit; b++) {
            if (!used[b] && ans_expr_equal(g, gv->item[a], gv->sign[a], p, pv->item[b], pv->sign[b])) {
                used[b] = hit = 1;
            }
        }
        if (!hit) {
            return 0;
        }
    }
    return 1;
}

static int ans_ordered_equal(const Answer* g, const AValue* gv, const Answer* p, const AValue* pv) {
    if (gv->n != pv->n) {
        return 0;
    }
    for (int a = 0; a < gv->n; a++) {
        if (!ans_expr_equal(g, gv->item[a], gv->sign[a], p, pv->item[a], pv->sign[a])) {
            return 0;
        }
    }
    return 1;
}

static int ans_is_assignment(const Answer* a, const AValue* v) { // "x = ..." with only letters on the left
    char buf[64];
    size_t len = 0;
    return v->kind == AV_REL && v->rel == '=' && ans_letters(a, v->item[0], buf, sizeof(buf), &len, 0);
}

// Relations: the same relation with equal (lhs - rhs), or the mirrored one ("x > 2" and "2 < x").
static int ans_rel_equal(const Answer* g, const AValue* gv, const Answer* p, const AValue* pv) {
    static const char* flips = "=<>lgn";
    static const char* flipped = "=><gln";
    int same = gv->rel == pv->rel;
    int mirror = flipped[strchr(flips, gv->rel) - flips] == pv->rel;
    int ok = 1, ok_neg = 1;
    for (int point = 0; point < 3; point++) {
        double gd = ans_eval(g, gv->item[0], point, 1, 0) - ans_eval(g, gv->item[1], point, 1, 0);
        double pd = ans_eval(p, pv->item[0], point, 1, 0) - ans_eval(p, pv->item[1], point, 1, 0);
        ok = ok && ans_close(gd, pd, 1e-9);
        ok_neg = ok_neg && ans_close(gd, -pd, 1e-9);
    }
    return (same && ok) || (mirror && ok_neg);
}

// The value comparison of Math-Verify's sympy_expr_eq, for our value kinds.
static int ans_value_equal(const Answer* g, const Answer* p) {
    AValue gv = g->v, pv = p->v;
    if (gv.kind == AV_NONE || pv.kind == AV_NONE) {
        return 0;
    }
    if (pv.kind == AV_REL && pv.rel == '=' && !(gv.kind == AV_REL && gv.rel == '=')) {
        pv.kind = AV_EXPR, pv.n = 1, pv.item[0] = pv.item[1], pv.sign[0] = 1; // "x = 5" against 5
    } else if (ans_is_assignment(g, &gv) && !(pv.kind == AV_REL && pv.rel == '=')) {
        gv.kind = AV_EXPR, gv.n = 1, gv.item[0] = gv.item[1], gv.sign[0] = 1;
    }
    if (gv.kind == AV_MATRIX || pv.kind == AV_MATRIX) { // matrices: same shape, cell by cell
        return gv.kind == pv.kind && gv.rows == pv.rows && gv.cols == pv.cols && ans_ordered_equal(g, &gv, p, &pv);
    }
    if (gv.kind == AV_UNION || pv.kind == AV_UNION) { // unions of intervals, in any order
        if (gv.kind != pv.kind || gv.n != pv.n) {
            return 0;
        }
        int used[AV_ITEMS / 2] = {0};
        for (int a = 0; a < gv.n; a++) {
            int hit = 0;
            for (int b = 0; b < pv.n && !hit; b++) {
                hit = !used[b] && gv.lo[a] == pv.lo[b] && gv.ro[a] == pv.ro[b] &&
                      ans_expr_equal(g, gv.item[2 * a], 1, p, pv.item[2 * b], 1) &&
                      ans_expr_equal(g, gv.item[2 * a + 1], 1, p, pv.item[2 * b + 1], 1);
                used[b] |= hit;
            }
            if (!hit) {
                return 0;
            }
        }
        return 1;
    }
    if (gv.kind == AV_REL || pv.kind == AV_REL) {
        return gv.kind == AV_REL && pv.kind == AV_REL && ans_rel_equal(g, &gv, p, &pv);
    }
    if (gv.kind == AV_EXPR && pv.kind == AV_EXPR) {
        return ans_expr_equal(g, gv.item[0], gv.sign[0], p, pv.item[0], pv.sign[0]);
    }
    // sets, tuples and intervals; a lone expression counts as the set of itself
    if (gv.kind == AV_EXPR) {
        gv.kind = AV_SET;
    }
    if (pv.kind == AV_EXPR) {
        pv.kind = AV_SET;
    }
    int g_iv = gv.kind == AV_INTERVAL || gv.kind == AV_PAIR, p_iv = pv.kind == AV_INTERVAL || pv.kind == AV_PAIR;
    if (g_iv && p_iv && (gv.kind == AV_INTERVAL || pv.kind == AV_INTERVAL)) { // intervals ("(a, b)" is open)
        int glo = gv.kind == AV_PAIR || gv.left_open, gro = gv.kind == AV_PAIR || gv.right_open;
        int plo = pv.kind == AV_PAIR || pv.left_open, pro = pv.kind == AV_PAIR || pv.right_open;
        return glo == plo && gro == pro && ans_ordered_equal(g, &gv, p, &pv);
    }
    if (gv.kind == AV_INTERVAL || pv.kind == AV_INTERVAL) {
        return 0;
    }
    if (gv.kind == AV_SET && pv.kind == AV_SET) {
        return ans_set_equal(g, &gv, p, &pv);
    }
    if (gv.kind == AV_SET) { // a gold set against a tuple: sympy sorts both, so order is ignored
        return ans_set_equal(g, &gv, p, &pv);
    }
    return ans_ordered_equal(g, &gv, p, &pv); // a gold tuple: order matters
}

// ----------------------------------------------------------------------------
// the answer checker's interface

// Writes the final answer of a completion (as found in step 1, before normalisation) to out.
// Returns 1 if the completion has an answer, 0 if not (out is then "").
static int extract_answer(const char* completion, char* out, size_t out_size) {
    StrBuf a;
    sb_init(&a);
    int percent;
    int found = answer_find(completion, &a, &percent, 1);
    if (out_size > 0) {
        size_t n = a.len < out_size - 1 ? a.len : out_size - 1;
        memcpy(out, a.s, found ? n : 0);
        out[found ? n : 0] = '\0';
    }
    free(a.s);
    return found;
}

static int math_verify_with(const char* completion, const char* gold, int fallback) {
    StrBuf found;
    sb_init(&found);
    int percent;
    if (!answer_find(completion, &found, &percent, fallback)) {
        free(found.s);
        return 0;
    }
    Answer* g = (Answer*)malloc_check(sizeof(Answer));
    Answer* p = (Answer*)malloc_check(sizeof(Answer));
    StrBuf boxed; // the gold is read as "\boxed{GOLD}" with Math-Verify's default settings
    sb_init(&boxed);
    sb_append(&boxed, "\\boxed{", 7);
    sb_append(&boxed, gold, strlen(gold) > ANSWER_MAX ? ANSWER_MAX : strlen(gold));
    sb_append(&boxed, "}", 1);
    StrBuf gold_text;
    sb_init(&gold_text);
    ans_unbox(boxed.s, boxed.len, 1, &gold_text);
    answer_parse(g, gold_text.s, 1, 0);
    answer_parse(p, found.s, 0, percent);
    // Math-Verify compares [value, text] with [value, text]: equal values, or equal normalised text
    int ok = (g->text.len > 0 && strcmp(g->text.s, p->text.s) == 0) || ans_value_equal(g, p);
    answer_free(g), answer_free(p);
    free(g), free(p), free(boxed.s), free(gold_text.s), free(found.s);
    return ok;
}

// 1 when the completion's final answer equals the gold answer, as Math-Verify's
// verify(parse(gold), parse(completion)) says in open-r1's accuracy reward; 0 otherwise. Where
// open-r1 finds no answer at all, the plain-text forms (<answer>42</answer>, "#### 42", "the
// answer is 42") are read too. A gold answer that cannot be read gives 0 (open-r1 skips those).
static int math_verify(const char* completion, const char* gold) { return math_verify_with(completion, gold, 1); }

// Exactly open-r1's accuracy reward: no plain-text forms, so "<answer>42</answer>" scores 0.
static int math_verify_openr1(const char* completion, const char* gold) {
    return math_verify_with(completion, gold, 0);
}

// ----------------------------------------------------------------------------
// Countdown: the answer
// TinyZero's Countdown task: reach the target with + - * / and parentheses, using each given
// number exactly once (grpo.md section 4, verl's countdown.py). Its answer is the last
// <answer>...</answer> on the completion's last line; countdown_correct (with the rewards, which
// own the safe arithmetic parser) scores it.

// Writes the last <answer>...</answer> of the completion's last line (stripped) to out; 0 if there
// is none. TinyZero reads only the last line; unlike it we drop trailing newlines first (TinyZero
// scores "...</answer>\n" 0, a quirk of its decoding we do not copy).
static int countdown_answer(const char* text, char* out, size_t out_size) {
    size_t end = strlen(text);
    while (end > 0 && ans_space(text[end - 1])) {
        end--;
    }
    size_t start = end;
    while (start > 0 && text[start - 1] != '\n') {
        start--;
    }
    const char* best = NULL;
    size_t best_n = 0;
    for (size_t i = start; i + 8 <= end; i++) {
        if (strncmp(text + i, "<answer>", 8) != 0) {
            continue;
        }
        for (size_t j = i + 8; j + 9 <= end; j++) {
            if (strncmp(text + j, "</answer>", 9) == 0) {
                best = text + i + 8, best_n = j - i - 8;
                i = j + 8;
                break;
            }
        }
    }
    if (best == NULL || out_size == 0) {
        return 0;
    }
    while (best_n > 0 && ans_space(*best)) {
        best++, best_n--;
    }
    while (best_n > 0 && ans_space(best[best_n - 1])) {
        best_n--;
    }
    if (best_n >= out_size) {
        return 0;
    }
    memcpy(out, best, best_n);
    out[best_n] = '\0';
    return 1;
}

// ----------------------------------------------------------------------------
// evaluation metrics
// pass@k is the unbiased estimator of Chen et al. 2021 (the Codex paper): with n samples of which c
// are correct, 1 - C(n-c, k) / C(n, k), computed as a product so no binomial overflows.

static double pass_at_k(int n, int c, int k) {
    if (k <= 0 || n <= 0 || k > n) {
        return NAN;
    }
    if (n - c < k) {
        return 1.0;
    }
    double miss = 1.0; // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    for (int i = n - c + 1; i <= n; i++) {
        miss *= 1.0 - (double)k / i;
    }
    return 1.0 - miss;
}

// ----------------------------------------------------------------------------
// prompt presets
// The prompts the benchmarks are usually run with, as data, so ./generate and ./eval agree.
// "{problem}" (and for Countdown "{nums}" and "{target}") are filled in by prompt_fill; the chat
// template around system and user is the tokenizer's job.

typedef struct {
    const char* name;
    const char* system; // NULL: the model's default system prompt
    const char* user;
    const char* about;
} PromptPreset;

static const PromptPreset prompt_presets[] = {
    {"boxed", NULL, "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.",
     "the usual math prompt (Qwen2.5-Math, DeepSeek-R1 evaluations)"},
    {"r1", NULL,
     "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
     "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
     "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
     "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: {problem}. "
     "Assistant:",
     "DeepSeek-R1-Zero's template (paper, table 1), as one user turn"},
    {"openr1",
     "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You first think about the "
     "reasoning process as an internal monologue and then provide the user with the answer. Respond in the "
     "following format: <think>\n...\n</think>\n<answer>\n...\n</answer>",
     "{problem}", "open-r1's GRPO system prompt"},
    {"countdown",
     "You are a helpful assistant. You first thinks about the reasoning process in the mind and then provides the "
     "user with the answer.",
     "Using the numbers {nums}, create an equation that equals {target}. You can use basic arithmetic operations "
     "(+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And return the "
     "final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.",
     "TinyZero's Countdown prompt (qwen-instruct template)"},
};

// The preset called name, or NULL.
static const PromptPreset* prompt_preset(const char* name) {
    for (size_t i = 0; i < sizeof(prompt_presets) / sizeof(prompt_presets[0]); i++) {
        if (strcmp(prompt_presets[i].name, name) == 0) {
            return &prompt_presets[i];
        }
    }
    return NULL;
}

// The preset a benchmark is run with unless told otherwise.
static const char* prompt_preset_for_bench(const char* bench) {
    return strcmp(bench, "countdown") == 0 ? "countdown" : "boxed";
}

// tmpl with every "{key}" replaced by its value; malloc'd (the caller frees).
static char* prompt_fill(const char* tmpl, const char* const* keys, const char* const* values, int n) {
    StrBuf out;
    sb_init(&out);
    for (const char* c = tmpl; *c;) {
        int done = 0;
        for (int k = 0; k < n && !done; k++) {
            size_t kl = strlen(keys[k]);
            if (c[0] == '{' && strncmp(c + 1, keys[k], kl) == 0 && c[1 + kl] == '}') {
                sb_append(&out, values[k], strlen(values[k]));
                c += kl + 2;
                done = 1;
            }
        }
        if (!done) {
            sb_append(&out, c++, 1);
        }
    }
    return out.s;
}
