"""
dev/oracle/answer_oracle.py: makes tests/fixtures/answer/pairs.jsonl, the Math-Verify verdicts that
tests/test_answer.c checks r1.h's answer checker (math_verify) against.

    pip install math-verify        (this was run with math-verify 0.9.0, latex2sympy2_extended 1.11.0, sympy 1.14.0)
    python3 dev/oracle/answer_oracle.py [../shared/data] > tests/fixtures/answer/pairs.jsonl
    python3 dev/oracle/answer_oracle.py --unit > tests/fixtures/answer/unit.jsonl
    python3 dev/oracle/answer_oracle.py --self [../shared/data] > tests/fixtures/answer/self.jsonl
    python3 dev/oracle/answer_oracle.py --cross [../shared/data] > tests/fixtures/answer/cross.jsonl
    python3 dev/oracle/answer_oracle.py --fuzz [../shared/data] > tests/fixtures/answer/fuzz.jsonl
    python3 dev/oracle/answer_oracle.py --refs [../shared/data] > tests/fixtures/answer/refs.jsonl
    python3 dev/oracle/answer_oracle.py --normalize [../shared/data] > tests/fixtures/answer/normalize.jsonl

Pairs (completion, gold) are made by this script from the real gold answers of GSM8K test, MATH-500,
MATH train, AIME 1983-2023, AIME 2024 and AMC 2023 (../shared/data), each written right and wrong in
many surface forms (see make_completions). The verdict of each pair comes from Math-Verify, set up as
open-r1's accuracy_reward (huggingface/open-r1 src/open_r1/rewards.py):

    gold  = parse("\\boxed{" + GOLD + "}")          # default config; open-r1's gold is a solution with \\boxed{}
    pred  = parse(completion, extraction_config=[LatexExtractionConfig(
                normalization_config=NormalizationConfig(nits=False, malformed_operators=False,
                    basic_latex=True, equations=True, boxed="all", units=True),
                boxed_match_priority=0, try_extract_without_anchor=False)],
              extraction_mode="first_match")
    openr1 = verify(gold, pred)

Field "openr1" is that verdict. Field "verdict" is what r1.h's math_verify() must return: the same,
except when open-r1 extracts nothing at all (pred == []). Then r1.h falls back to three plain-text
answer forms the open-r1 extractor ignores: the last <answer>...</answer>, else a GSM8K "#### X"
line (commas dropped, as GSM8K's own grader does), else the last "the answer is X" (to the end of
its line, a final period dropped). The fallback text X is then judged by Math-Verify exactly like
a boxed answer: verify(gold, parse("\\boxed{" + X + "}", <open-r1 config>)). So every verdict is
Math-Verify's; only the fallback extraction rule (fallback() below) is ours, written the same way
in C. Field "form" names how the completion was made (for reading disagreements).
"""
import json
import os
import random
import re
import sys
import logging

from latex2sympy2_extended import NormalizationConfig
from math_verify import LatexExtractionConfig, parse, verify

logging.disable(logging.CRITICAL)
import warnings
warnings.filterwarnings("ignore")

PRED_CONFIG = [LatexExtractionConfig(
    normalization_config=NormalizationConfig(nits=False, malformed_operators=False, basic_latex=True,
                                             equations=True, boxed="all", units=True),
    boxed_match_priority=0, try_extract_without_anchor=False)]


def parse_pred(text):
    return parse(text, extraction_config=PRED_CONFIG, extraction_mode="first_match")


def fallback(completion):
    """The plain-text answer forms r1.h reads when open-r1's extractor finds nothing."""
    m = list(re.finditer(r"<answer>(.*?)</answer>", completion, re.DOTALL))
    if m:
        return m[-1].group(1).strip()
    m = list(re.finditer(r"^#### *(.+?) *$", completion, re.MULTILINE))
    if m:
        return m[-1].group(1).replace(",", "").strip()
    m = list(re.finditer(r"(?i)the answer is:? *([^\n]+)", completion))
    if m:
        x = m[-1].group(1).strip()
        if x.endswith("."):
            x = x[:-1].rstrip()
        return x
    return None


def judge(completion, gold):
    g = parse("\\boxed{" + gold + "}")
    if not g:
        return None
    p = parse_pred(completion)
    openr1 = bool(verify(g, p))
    verdict = openr1
    if not p:
        x = fallback(completion)
        verdict = bool(x) and bool(verify(g, parse_pred("\\boxed{" + x + "}")))
    return openr1, verdict


# ---------------------------------------------------------------------------------------------
# gold answers

def load_golds(data):
    golds = []  # (source, gold)
    for line in open(os.path.join(data, "gsm8k/test.jsonl")):
        a = json.loads(line)["answer"].split("####")[-1].strip().replace(",", "")
        golds.append(("gsm8k", a))
    for line in open(os.path.join(data, "math500/test.jsonl")):
        golds.append(("math500", json.loads(line)["answer"]))
    for r in json.load(open(os.path.join(data, "math_train/math_train_7474.json"))):
        if r["answer"]:
            golds.append(("math_train", r["answer"]))
    for r in json.load(open(os.path.join(data, "aime_1983_2023/aime_1983_2023.json"))):
        golds.append(("aime", str(r["answer"])))
    for line in open(os.path.join(data, "aime24/test.jsonl")):
        golds.append(("aime24", str(json.loads(line)["answer"])))
    for line in open(os.path.join(data, "amc23/test.jsonl")):
        golds.append(("amc23", "%g" % float(json.loads(line)["answer"])))
    return golds


# ---------------------------------------------------------------------------------------------
# surface forms of an answer (right ones keep the value, wrong ones change it)

FRAC = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
INT = re.compile(r"^-?\d+$")


def right_forms(g):
    out = [("same", g)]
    m = FRAC.match(g)
    if m:
        s, a, b = m.groups()
        out.append(("dfrac", g.replace("\\frac", "\\dfrac")))
        out.append(("a/b", "%s%s/%s" % (s, a, b)))
        v = int(a) / int(b)
        out.append(("decimal6", "%s%.6f" % (s, v)))
    if INT.match(g):
        n = int(g)
        if abs(n) >= 1000:
            out.append(("thousands", "{:,}".format(n)))
            out.append(("thousands{,}", "{:,}".format(n).replace(",", "{,}")))
        out.append(("x.0", g + ".0"))
        out.append(("units", g + "\\text{ cm}"))
        out.append(("units-plain", g + " cm"))
        out.append(("dollars", "\\$" + g))
        out.append(("percent", g + "\\%"))
        out.append(("degrees", g + "^\\circ"))
        out.append(("eq", "x = " + g))
        out.append(("text-units", g + " \\text{ dollars}"))
    if "\\sqrt{" in g:
        out.append(("sqrt-short", re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt\1", g)))
    if "\\pi" in g:
        out.append(("pi-space", g.replace("\\pi", " \\pi ")))
    if g.startswith("(") and "," in g:
        out.append(("left-right", "\\left" + g[:-1] + "\\right)"))
        out.append(("spaces", g.replace(",", ", ")))
    if g.startswith("\\text{"):
        out.append(("text-bare", g[6:-1]))
    if "\\frac" in g and not FRAC.match(g):
        out.append(("dfrac", g.replace("\\frac", "\\dfrac")))
    return out


def wrong_forms(g, other):
    out = [("other-gold", other)]
    if INT.match(g):
        n = int(g)
        out.append(("plus1", str(n + 1)))
        out.append(("neg", str(-n) if n != 0 else "1"))
        out.append(("x10", str(n * 10)))
    m = FRAC.match(g)
    if m:
        s, a, b = m.groups()
        out.append(("inverted", "%s\\frac{%s}{%s}" % (s, b, a)))
        out.append(("decimal2", "%s%.2f" % (s, int(a) / int(b))))
        out.append(("neg-frac", ("" if s else "-") + "\\frac{%s}{%s}" % (a, b)))
    if g.startswith("(") and g.endswith(")") and g.count(",") >= 1 and "\\" not in g:
        parts = g[1:-1].split(",")
        out.append(("tuple-reversed", "(" + ",".join(reversed(parts)) + ")"))
    if (g.startswith("[") or g.startswith("(")) and g.count(",") == 1:
        out.append(("interval-flip", ("(" if g[0] == "[" else "[") + g[1:]))
    if "\\sqrt" in g:
        out.append(("no-sqrt", re.sub(r"\\sqrt\{([^}]*)\}", r"\1", g)))
    if "\\pi" in g:
        out.append(("no-pi", g.replace("\\pi", "")))
    return out


def set_forms(g):
    """Sets written in another order are the same answer; '1, 2' lists are sets to Math-Verify."""
    out = []
    if g.startswith("\\{") and g.endswith("\\}"):
        parts = g[2:-2].split(",")
        out.append(("set-reordered", "\\{" + ",".join(reversed(parts)) + "\\}"))
    elif "," in g and not re.search(r"[\(\[\{\\]", g):
        parts = g.split(",")
        out.append(("list-reordered", ", ".join(p.strip() for p in reversed(parts))))
    return out


REASONING = [
    "Let me work through this carefully.\nFirst we note that $2+3=5$, and $x^2 = 4$ gives $x = 2$.\n",
    "We set up the equation $3x + 1 = 10$, so $x = 3$. Then we check the constraint.\n",
    "Step 1: compute $\\frac{1}{2} \\cdot 8 = 4$.\nStep 2: add $7$ to get $11$.\n",
    "",
    "Using the formula $A = \\pi r^2$ with $r=3$ gives $9\\pi$. Continuing,\n",
    "There are 12 apples and 7 oranges, so 19 fruits in total. Next,\n",
]

TEMPLATES = [
    ("boxed", "{r}Therefore the final answer is $\\boxed{{{a}}}$."),
    ("boxed-bare", "{r}So we get \\boxed{{{a}}}"),
    ("boxed-display", "{r}\\[\n\\boxed{{{a}}}\n\\]"),
    ("final-answer-is", "{r}The final answer is $\\boxed{{{a}}}$. I hope it is correct."),
    ("answer-is-dollar", "{r}Thus the answer is ${a}$."),
    ("final-answer-colon", "{r}Final Answer: $${a}$$"),
    ("r1-tags-boxed", "<think>\n{r}</think>\n<answer>\n\\boxed{{{a}}}\n</answer>"),
    ("r1-tags-plain", "<think>\n{r}</think>\n<answer>\n{a}\n</answer>"),
    ("answer-is-plain", "{r}So the answer is {a}."),
    ("gsm8k-hashes", "{r}#### {a}"),
    ("two-boxed", "{r}At first I thought \\boxed{{0}}. Checking again, the answer is in fact\n\nafter a long recheck of every step above, \\boxed{{{a}}}."),
    ("fbox", "{r}\\fbox{{{a}}}"),
]


def make_completions(rng, g, other):
    rows = []
    forms = [("right:" + n, a) for n, a in right_forms(g)] + [("right:" + n, a) for n, a in set_forms(g)]
    forms += [("wrong:" + n, a) for n, a in wrong_forms(g, other)]
    rng.shuffle(forms)
    for name, a in forms[:4]:
        tname, t = rng.choice(TEMPLATES)
        rows.append((name + "/" + tname, t.format(r=rng.choice(REASONING), a=a)))
    if rng.random() < 0.05:
        rows.append(("none/no-answer", rng.choice(REASONING) + "I could not finish this problem."))
    return rows


# Hand-picked (completion, gold) pairs for the normaliser and comparator, one feature each; the
# verdicts still come from Math-Verify (python3 answer_oracle.py --unit > tests/fixtures/answer/unit.jsonl).
UNIT = [
    ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{(3, \\pi/2)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{(\\pi/2, 3)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("\\boxed{\\dfrac{14}{3}}", "\\frac{14}{3}"),
    ("\\boxed{14/3}", "\\frac{14}{3}"),
    ("\\boxed{4.666667}", "\\frac{14}{3}"),
    ("\\boxed{4.67}", "\\frac{14}{3}"),
    ("\\boxed{4\\frac{2}{3}}", "\\frac{14}{3}"),
    ("\\boxed{\\frac{28}{6}}", "\\frac{14}{3}"),
    ("\\boxed{-\\frac{14}{3}}", "\\frac{14}{3}"),
    ("\\boxed{1{,}234}", "1234"),
    ("\\boxed{1,234}", "1234"),
    ("\\boxed{1,234.5}", "1234.5"),
    ("\\boxed{1, 234}", "1234"),
    ("\\boxed{\\$1,234}", "1234"),
    ("\\boxed{1234 \\text{ dollars}}", "1234"),
    ("\\boxed{18 \\text{ cm}^2}", "18"),
    ("\\boxed{18 \\mbox{ inches}}", "18"),
    ("\\boxed{18 inches}", "18"),
    ("\\boxed{18 feet}", "18"),
    ("\\boxed{18 apples}", "18"),
    ("\\boxed{50\\%}", "50"),
    ("\\boxed{50 percent}", "50"),
    ("\\boxed{0.5}", "50\\%"),
    ("\\boxed{0.25}", "25\\%"),
    ("\\boxed{25}", "25\\%"),
    ("\\boxed{30^\\circ}", "30"),
    ("\\boxed{30^{\\circ}}", "30^\\circ"),
    ("\\boxed{30}", "30^\\circ"),
    ("\\boxed{\\frac{\\pi}{6}}", "30^\\circ"),
    ("\\boxed{2\\sqrt{3}}", "\\sqrt{12}"),
    ("\\boxed{\\sqrt{12}}", "2\\sqrt{3}"),
    ("\\boxed{3.464102}", "2\\sqrt{3}"),
    ("\\boxed{3.46}", "2\\sqrt{3}"),
    ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}"),
    ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{\\sqrt{2}}{2}"),
    ("\\boxed{\\sqrt[3]{8}}", "2"),
    ("\\boxed{9\\pi}", "9\\pi"),
    ("\\boxed{\\pi \\cdot 9}", "9\\pi"),
    ("\\boxed{28.274334}", "9\\pi"),
    ("\\boxed{28.27}", "9\\pi"),
    ("\\boxed{9}", "9\\pi"),
    ("\\boxed{[-2, 7]}", "[-2,7]"),
    ("\\boxed{(-2, 7)}", "[-2,7]"),
    ("\\boxed{[-2, 7)}", "[-2,7)"),
    ("\\boxed{(-\\infty, 3]}", "(-\\infty,3]"),
    ("\\boxed{(-\\infty, 3)}", "(-\\infty,3]"),
    ("\\boxed{(1, 2)}", "(1,2)"),
    ("\\boxed{(2, 1)}", "(1,2)"),
    ("\\boxed{(1, 2, 3)}", "(1,2,3)"),
    ("\\boxed{(3, 2, 1)}", "(1,2,3)"),
    ("\\boxed{\\{3, 1, 2\\}}", "\\{1,2,3\\}"),
    ("\\boxed{\\{1, 2\\}}", "\\{1,2,3\\}"),
    ("\\boxed{3, 1, 2}", "1,2,3"),
    ("\\boxed{3, 1, 2}", "\\{1,2,3\\}"),
    ("\\boxed{1, 2, 3}", "(1,2,3)"),
    ("\\boxed{2}, \\boxed{3}", "2, 3"),
    ("\\boxed{3 \\pm 2\\sqrt{2}}", "3 \\pm 2 \\sqrt{2}"),
    ("\\boxed{3 + 2\\sqrt{2}, 3 - 2\\sqrt{2}}", "3 \\pm 2 \\sqrt{2}"),
    ("\\boxed{3 + 2\\sqrt{2}}", "3 \\pm 2 \\sqrt{2}"),
    ("\\boxed{(x+2)(x+5)}", "x^2+7x+10"),
    ("\\boxed{x^2 + 7x + 10}", "x^2+7x+10"),
    ("\\boxed{x^2 + 7x + 11}", "x^2+7x+10"),
    ("\\boxed{q - p}", "p - q"),
    ("\\boxed{-(q - p)}", "p - q"),
    ("\\boxed{x = 5}", "5"),
    ("\\boxed{5}", "x = 5"),
    ("\\boxed{y = 5}", "x = 5"),
    ("\\boxed{x > 5}", "x > 5"),
    ("\\boxed{5 < x}", "x > 5"),
    ("\\boxed{x \\ge 5}", "x > 5"),
    ("\\boxed{y = 2x + 3}", "y = 2x + 3"),
    ("\\boxed{y = 3 + 2x}", "y = 2x + 3"),
    ("\\boxed{\\text{Evelyn}}", "\\text{Evelyn}"),
    ("\\boxed{Evelyn}", "\\text{Evelyn}"),
    ("\\boxed{\\text{Bob}}", "\\text{Evelyn}"),
    ("\\boxed{C}", "\\text{(C)}"),
    ("\\boxed{(C)}", "\\text{(C)}"),
    ("\\boxed{\\text{(D)}}", "\\text{(C)}"),
    ("\\boxed{6 - 5i}", "6 - 5i"),
    ("\\boxed{6 + 5i}", "6 - 5i"),
    ("\\boxed{-5i + 6}", "6 - 5i"),
    ("\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
    ("\\boxed{\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
    ("\\boxed{2215_6}", "2215_6"),
    ("\\boxed{2215}", "2215_6"),
    ("\\boxed{\\infty}", "\\infty"),
    ("\\boxed{-\\infty}", "\\infty"),
    ("\\boxed{10!}", "3628800"),
    ("\\boxed{\\binom{5}{2}}", "10"),
    ("\\boxed{2^{10}}", "1024"),
    ("\\boxed{2^10}", "1024"),
    ("\\boxed{\\log_2 8}", "3"),
    ("\\boxed{e^2}", "e^2"),
    ("\\boxed{7.389056}", "e^2"),
    ("\\boxed{0.0000672}", ".0000672"),
    ("\\boxed{.35625}", ".35625"),
    ("\\boxed{0.35625}", ".35625"),
    ("\\boxed{\\frac{57}{160}}", ".35625"),
    ("\\boxed{27}", "27.0"),
    ("\\boxed{27.00}", "27"),
    ("\\boxed{-27}", "27"),
    ("\\boxed{--27}", "27"),
    ("\\boxed{\\frac{1}{2}}", "\\frac12"),
    ("\\boxed{\\frac12}", "\\frac{1}{2}"),
    ("\\boxed{\\sqrt{3}}", "\\sqrt3"),
    ("\\boxed{\\sqrt3}", "\\sqrt{3}"),
    ("\\boxed{5/3}", "5/3"),
    ("\\boxed{\\frac{5}{3}}", "5/3"),
    ("\\boxed{\\tfrac{5}{3}}", "\\dfrac{5}{3}"),
    ("\\boxed{x^5 - x^4 + x^3 - x^2 + x - 1}", "x^5 - x^4 + x^3 - x^2 + x - 1"),
    ("\\boxed{(x-1)(x^4+x^2+1)}", "x^5 - x^4 + x^3 - x^2 + x - 1"),
    ("\\boxed{\\frac{x+1}{x-1}}", "\\frac{x+1}{x-1}"),
    ("\\boxed{\\frac{1+x}{x-1}}", "\\frac{x+1}{x-1}"),
    ("\\boxed{\\frac{x-1}{x+1}}", "\\frac{x+1}{x-1}"),
    ("\\boxed{(0,9) \\cup (9,36)}", "(0,9) \\cup (9,36)"),
    ("\\boxed{(9,36) \\cup (0,9)}", "(0,9) \\cup (9,36)"),
    ("\\boxed{(0,36)}", "(0,9) \\cup (9,36)"),
    ("\\boxed{\\sin^2 x + \\cos^2 x}", "1"),
    ("\\boxed{\\sin(\\pi/6)}", "\\frac{1}{2}"),
    ("\\boxed{0.5}", "\\frac{1}{2}"),
    ("\\boxed{1/2}", "0.5"),
    ("\\boxed{\\text{no solution}}", "\\text{no solution}"),
    ("\\boxed{12}", "\\text{12 inches}"),
    ("\\boxed{\\mathbf{12}}", "12"),
    ("\\boxed{\\displaystyle 12}", "12"),
    ("\\boxed{12.}", "12"),
    ("\\boxed{\\textbf{(B) } 12}", "12"),
    ("The final answer is $12$. I hope it is correct.", "12"),
    ("The final answer is: $\\frac{3}{4}$", "\\frac34"),
    ("Final answer: $0.75$", "\\frac34"),
    ("The answer should be more than $5$. Checking each case, the answer is $7$.", "7"),
    ("The answer should be more than $5$. Checking each case, the answer is $7$.", "5"),
    ("The answer is \\(42\\).", "42"),
    ("The answer is \\[42\\]", "42"),
    ("The answer is $42$ and $43$.", "42"),
    ("The answer is $42$ and $43$.", "42, 43"),
    ("The answer is \\frac{1}{3}.", "\\frac13"),
    ("The answer is $50$%.", "0.5"),
    ("We find $x=2$, so the answer is 2.", "2"),
    ("So x = 2.", "2"),
    ("<think>\nsome thought\n</think>\n<answer>\nThe answer is $2$\n</answer>", "2"),
    ("<think>\nsome thought\n</think>\n<answer>\n2\n</answer>", "2"),
    ("<think>\nsome thought\n</think>\n<answer>2</answer>", "2"),
    ("<think>\nsome thought\n</think>\n<answer>\\frac{1}{2}</answer>", "0.5"),
    ("<think>\nsome thought\n</think>\n<answer> 3 </answer> and then \\boxed{4}", "3"),
    ("#### 1,234", "1234"),
    ("#### $1,234", "1234"),
    ("#### 1234.00", "1234"),
    ("#### 72\nThe answer is 71.", "72"),
    ("The answer is: 15 apples.", "15"),
    ("So the answer is 15 dollars.", "15"),
    ("the answer is 1/2.", "0.5"),
    ("\\boxed{}", "0"),
    ("\\boxed{ }", "0"),
    ("\\boxed{\\boxed{5}}", "5"),
    ("\\fbox{5}", "5"),
    ("\\boxed 5", "5"),
    ("\\boxed{5", "5"),
    ("\\boxed{5}}", "5"),
    ("The answer is \\boxed{5} or \\boxed{6}", "5"),
    ("\\boxed{5} is what I first thought but after checking the algebra very carefully again it is \\boxed{6}", "6"),
]


def unit():
    for completion, gold in UNIT:
        res = judge(completion, gold)
        if res is None:
            print("unparsable gold skipped: %r" % gold, file=sys.stderr)
            continue
        print(json.dumps({"source": "unit", "form": "unit", "gold": gold, "completion": completion,
                          "openr1": int(res[0]), "verdict": int(res[1])}, ensure_ascii=False))


def self_pairs(data):
    """Every gold written back as "\\boxed{GOLD}", and as "The final answer is $GOLD$.": MATH-500
    (all 500) and 1,500 MATH train answers. Math-Verify does not accept all of them: open-r1 does
    not repair "\\frac43" in a completion, so those score 0 there too."""
    rng = random.Random(99)
    golds = [("math500", json.loads(l)["answer"]) for l in open(os.path.join(data, "math500/test.jsonl"))]
    train = [r["answer"] for r in json.load(open(os.path.join(data, "math_train/math_train_7474.json"))) if r["answer"]]
    golds += [("math_train", g) for g in rng.sample(train, 1500)]
    for source, g in golds:
        form, completion = rng.choice([("self/boxed", "\\boxed{%s}" % g), ("self/final-answer-is", "The final answer is $%s$." % g)])
        res = judge(completion, g)
        if res is None:
            continue
        print(json.dumps({"source": source, "form": form, "gold": g, "completion": completion,
                          "openr1": int(res[0]), "verdict": int(res[1])}, ensure_ascii=False))


def cross(data):
    """Pairs of two different gold answers: 600 random ones (nearly all unequal), and every pair of
    differently written golds whose Math-Verify values are numerically equal (up to 400), each
    written as "\\boxed{A}" against gold B. These test the comparator's equivalences and its
    false positives on answers nobody here chose."""
    rng = random.Random(7)
    golds = sorted(set([json.loads(l)["answer"] for l in open(os.path.join(data, "math500/test.jsonl"))] +
                       [r["answer"] for r in json.load(open(os.path.join(data, "math_train/math_train_7474.json"))) if r["answer"]]))
    keyed = {}
    for g in golds:
        v = parse("\\boxed{" + g + "}")
        if not v:
            continue
        try:
            key = "%.6g" % complex(v[0].evalf()).real if complex(v[0].evalf()).imag == 0 else None
        except Exception:
            key = None
        if key is not None:
            keyed.setdefault(key, []).append(g)
    equal = [(a, b) for group in keyed.values() if len(group) > 1 for a in group for b in group if a != b]
    rng.shuffle(equal)
    pairs = [("cross-equal-value", a, b) for a, b in equal[:400]]
    pairs += [("cross-random", a, b) for a, b in (rng.sample(golds, 2) for _ in range(600))]
    for form, a, b in pairs:
        completion = "\\boxed{%s}" % a
        res = judge(completion, b)
        if res is None:
            continue
        print(json.dumps({"source": "cross", "form": form, "gold": b, "completion": completion,
                          "openr1": int(res[0]), "verdict": int(res[1])}, ensure_ascii=False))


WRAPS = [
    "**Final Answer**\n\\[\n\\boxed{%s}\n\\]",
    "Thus, the answer is $\\boxed{%s}$.",
    "\\[\\boxed{%s}\\]",
    "The final answer is $%s$. I hope it is correct.",
    "Answer: $%s$",
    "answer: \\(%s\\)",
    "So the answer is $$%s$$ and we are done.",
    "<answer>\n%s\n</answer>",
    "<answer>%s</answer>",
    "Hence the answer is %s.",
    "Final answer: %s",
    "#### %s",
]

INNER = [
    lambda a: a.replace(" ", ""),
    lambda a: a.replace(",", ",\\,"),
    lambda a: a.replace("\\frac", "\\tfrac"),
    lambda a: a.replace("\\frac", "\\cfrac"),
    lambda a: a.replace("(", "\\left(").replace(")", "\\right)"),
    lambda a: a.replace("+", " + ").replace("-", " - "),
    lambda a: "\\displaystyle " + a,
    lambda a: a + "\\,\\text{units}",
    lambda a: a + " \\mathrm{cm}",
    lambda a: a + "^\\circ",
    lambda a: a + "\\%",
    lambda a: "x = " + a,
    lambda a: "x=" + a + "=" + a,
    lambda a: a.replace("\\cdot", "\\times"),
    lambda a: a.replace("\\sqrt{", "\\sqrt {"),
    lambda a: "{" + a + "}",
    lambda a: "(" + a + ")",
    lambda a: a.replace("\\pi", "\\pi "),
    lambda a: a + "~",
    lambda a: "\\text{" + a + "}",
    lambda a: "\\mathbf{" + a + "}",
    lambda a: a + "."
    ,
    lambda a: a,
]


def fuzz(data):
    """Gold answers (right, or another problem's) written with one or two random edits a model might
    make, inside one of many answer formats. Finds the forms where r1.h and Math-Verify part ways."""
    rng = random.Random(2024)
    golds = [json.loads(l)["answer"] for l in open(os.path.join(data, "math500/test.jsonl"))]
    golds += rng.sample([r["answer"] for r in json.load(open(os.path.join(data, "math_train/math_train_7474.json"))) if r["answer"]], 700)
    for g in golds:
        a = g if rng.random() < 0.7 else rng.choice(golds)
        for _ in range(rng.choice([1, 1, 2])):
            a = rng.choice(INNER)(a)
        completion = rng.choice(REASONING) + rng.choice(WRAPS) % a
        res = judge(completion, g)
        if res is None:
            continue
        print(json.dumps({"source": "fuzz", "form": "fuzz", "gold": g, "completion": completion,
                          "openr1": int(res[0]), "verdict": int(res[1])}, ensure_ascii=False))


def ending(text, form):
    """A GSM8K worked solution with its "#### n" line rewritten the way a model might end (tests/test_answer.c
    rebuilds the same text in C: the body is everything before the last "####", final what follows, stripped)."""
    body, final = text.rsplit("####", 1)
    final = final.strip()
    return {"hashes": text, "answer-is": body + "The answer is %s." % final,
            "answer-is-dollar": body + "The answer is $%s$." % final, "boxed": body + "\\boxed{%s}" % final,
            "currency": body + "So she makes $%s every day.\nThe answer is %s" % (final, final)}[form]


def refs(data):
    """Real texts as completions, stored by reference (file, row, field) so the fixture holds no copy of
    the data: 200 of MATH-500's worked solutions (LaTeX, \\boxed{} at the end), 200 of GSM8K test's
    (currency "$", calculator annotations, "#### n", some endings rewritten by ending()), and the 10 real
    DeepSeek-R1 answers in distill_samples; each against its own gold and against the next row's."""
    rng = random.Random(5)
    out = []
    rows = [json.loads(l) for l in open(os.path.join(data, "math500/test.jsonl"))]
    for i in sorted(rng.sample(range(len(rows)), 200)):
        for which, j in [("own", i), ("next", (i + 1) % len(rows))]:
            out.append(("math500/test.jsonl", i, "solution", "none", which, rows[i]["solution"], rows[j]["answer"]))
    rows = [json.loads(l) for l in open(os.path.join(data, "gsm8k/test.jsonl"))]
    for i in rng.sample(range(len(rows)), 200):
        form = rng.choice(["hashes", "answer-is", "answer-is-dollar", "boxed", "currency"])
        for which, j in [("own", i), ("next", (i + 1) % len(rows))]:
            gold = rows[j]["answer"].rsplit("####", 1)[1].strip().replace(",", "")
            out.append(("gsm8k/test.jsonl", i, "answer", form, which, ending(rows[i]["answer"], form), gold))
    for name in ["deepseek_r1_openrouter_5.json", "deepseek_r1_8b_ollama_5.json"]:
        rows = json.load(open(os.path.join(data, "distill_samples", name)))
        for i, r in enumerate(rows):
            for which, j in [("own", i), ("next", (i + 1) % len(rows))]:
                out.append(("distill_samples/" + name, i, "message_content", "none", which, r["message_content"],
                            rows[j]["gtruth_answer"]))
    for path, row, field, form, which, completion, gold in out:
        res = judge(completion, gold)
        if res is None:
            continue
        print(json.dumps({"file": path, "row": row, "field": field, "ending": form, "form": which, "gold": gold,
                          "openr1": int(res[0]), "verdict": int(res[1])}, ensure_ascii=False))


def normalize(data):
    """latex2sympy2_extended.normalize_latex itself, on answer texts: every MATH-500 gold and 600
    MATH train golds with Math-Verify's default settings (as gold answers are read, from
    "\\boxed{GOLD}"), and 800 of them with random model-like edits (INNER) with open-r1's completion
    settings. tests/test_answer.c compares r1.h's ans_normalize output byte for byte."""
    from dataclasses import replace
    from latex2sympy2_extended.latex2sympy2 import normalize_latex
    rng = random.Random(11)
    gold_cfg = replace(LatexExtractionConfig().normalization_config, boxed="last")
    pred_cfg = PRED_CONFIG[0].normalization_config
    golds = [json.loads(l)["answer"] for l in open(os.path.join(data, "math500/test.jsonl"))]
    golds += rng.sample([r["answer"] for r in json.load(open(os.path.join(data, "math_train/math_train_7474.json"))) if r["answer"]], 600)
    for g in golds:
        print(json.dumps({"gold": 1, "text": g, "normalized": normalize_latex("\\boxed{" + g + "}", gold_cfg)}, ensure_ascii=False))
    for g in rng.sample(golds, 800):
        a = g
        for _ in range(rng.choice([1, 2])):
            a = rng.choice(INNER)(a)
        print(json.dumps({"gold": 0, "text": a, "normalized": normalize_latex(a, pred_cfg)}, ensure_ascii=False))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    data = args[0] if args else os.path.join(os.path.dirname(__file__), "../../../shared/data")
    if "--unit" in sys.argv:
        return unit()
    if "--self" in sys.argv:
        return self_pairs(data)
    if "--cross" in sys.argv:
        return cross(data)
    if "--fuzz" in sys.argv:
        return fuzz(data)
    if "--refs" in sys.argv:
        return refs(data)
    if "--normalize" in sys.argv:
        return normalize(data)
    rng = random.Random(1234)
    golds = load_golds(data)
    by_source = {}
    for s, g in golds:
        by_source.setdefault(s, []).append(g)
    quota = {"gsm8k": 40, "math500": 110, "math_train": 70, "aime": 15, "aime24": 8, "amc23": 10}
    n = 0
    for source, want in quota.items():
        pool = by_source[source]
        picks = rng.sample(pool, want)
        # a few deliberate picks of answer shapes the random sample may miss
        if source == "math500":
            shapes = [g for g in pool if g.startswith("(") or g.startswith("[") or "\\pi" in g or "\\sqrt" in g or "\\text" in g or "," in g]
            picks += rng.sample(shapes, 40)
        for g in picks:
            other = rng.choice(pool)
            if other == g:
                other = g + "1"
            for form, completion in make_completions(rng, g, other):
                res = judge(completion, g)
                if res is None:
                    continue
                openr1, verdict = res
                row = {"source": source, "form": form, "gold": g, "completion": completion,
                       "openr1": int(openr1), "verdict": int(verdict)}
                print(json.dumps(row, ensure_ascii=False))
                n += 1
    print("pairs: %d" % n, file=sys.stderr)


if __name__ == "__main__":
    main()
