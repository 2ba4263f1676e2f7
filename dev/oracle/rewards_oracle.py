"""
dev/oracle/rewards_oracle.py: makes tests/fixtures/grpo/rewards.json, the expected value of every rule-based
reward in r1.h (its rewards section) on hand-written and generated completions, as the reference Python
code computes them. tests/test_rewards.c checks r1.h against it.

The oracles are the reference functions themselves, transcribed below as they are (only their random
logging to files/stdout is left out), with Python's own `re` and `eval`:
  TinyZero  verl/utils/reward_score/countdown.py (Jiayi-Pan/TinyZero @95df88f; grpo.md §4):
            extract_solution, validate_equation, evaluate_equation, compute_score
  Mini-R1   philschmid/deep-learning-pytorch-huggingface training/scripts/run_r1_grpo.py
            (@4a7cc932; Datawhale-R1's train_Datawhale-R1.py L51-149 copies it): format_reward_func,
            equation_reward_func
  open-r1   huggingface/open-r1 src/open_r1/rewards.py (@1416fa0 per grpo.md; read here at 0056faa):
            format_reward, tag_count_reward, reasoning_steps_reward, get_cosine_scaled_reward (its
            formula, with verify()'s verdict given as an input: the math checker is tested by
            tests/test_answer.c), get_repetition_penalty_reward (n=3, max_penalty=-1)
Each case runs in a child process with a time limit, because eval() of a "**" chain can hang; such
cases are recorded with "python": "timeout" and the value r1.h deliberately returns instead.

Also written: "evals", Python's eval() verdict (a real number, or not) on generated arithmetic strings,
which tests countdown_eval() directly. Run from the repository root:  python3 dev/oracle/rewards_oracle.py
"""
import json
import math
import multiprocessing as mp
import os
import random
import re
import warnings

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "grpo")


# ---------------------------------------------------------------------------------------------
# TinyZero verl/utils/reward_score/countdown.py
def extract_solution(solution_str):
    """Extract the equation from the solution string."""
    # Remove everything before the first "Assistant:"
    if "Assistant:" in solution_str:
        solution_str = solution_str.split("Assistant:", 1)[1]
    elif "<|im_start|>assistant" in solution_str:
        solution_str = solution_str.split("<|im_start|>assistant", 1)[1]
    else:
        return None
    solution_str = solution_str.split('\n')[-1]

    answer_pattern = r'<answer>(.*?)</answer>'
    match = re.finditer(answer_pattern, solution_str)
    matches = list(match)
    if matches:
        final_answer = matches[-1].group(1).strip()
    else:
        final_answer = None
    return final_answer


def validate_equation(equation_str, available_numbers):
    """Validate that equation only uses available numbers and each number once."""
    try:
        # Extract all numbers from the equation
        numbers_in_eq = [int(n) for n in re.findall(r'\d+', equation_str)]

        # Check if all numbers in equation are available
        available_numbers = sorted(available_numbers)
        numbers_in_eq = sorted(numbers_in_eq)

        # Each number should be used exactly once
        return numbers_in_eq == available_numbers
    except:
        return False


def evaluate_equation(equation_str):
    """Safely evaluate the arithmetic equation using eval() with precautions."""
    try:
        # Define a regex pattern that only allows numbers, operators, parentheses, and whitespace
        allowed_pattern = r'^[\d+\-*/().\s]+$'
        if not re.match(allowed_pattern, equation_str):
            raise ValueError("Invalid characters in equation.")

        # Evaluate the equation with restricted globals and locals
        result = eval(equation_str, {"__builtins__": None}, {})
        return result
    except Exception as e:
        return None


def compute_score(solution_str, ground_truth, method='strict', format_score=0.1, score=1.):
    target = ground_truth['target']
    numbers = ground_truth['numbers']

    equation = extract_solution(solution_str=solution_str)
    if equation is None:
        return 0

    # Validate equation uses correct numbers
    if not validate_equation(equation, numbers):
        return format_score

    # Evaluate equation
    try:
        result = evaluate_equation(equation)
        if result is None:
            return format_score

        if abs(result - target) < 1e-5:  # Account for floating point precision
            return score
        else:
            return format_score
    except:
        return format_score


# ---------------------------------------------------------------------------------------------
# Mini-R1 run_r1_grpo.py (random sample logging removed)
def format_reward_func(completions, target, **kwargs):
    rewards = []
    for completion, gt in zip(completions, target):
        try:
            # add synthetic <think> as its already part of the prompt and prefilled for the assistant to more easily match the regex
            completion = "<think>" + completion
            # Check if the format is correct
            regex = r"^<think>([^<]*(?:<(?!/?think>)[^<]*)*)<\/think>\n<answer>([\s\S]*?)<\/answer>$"
            match = re.search(regex, completion, re.DOTALL)
            # if the format is not correct, reward is 0
            if match is None or len(match.groups()) != 2:
                rewards.append(0.0)
            else:
                rewards.append(1.0)
        except Exception:
            rewards.append(0.0)
    return rewards


def equation_reward_func(completions, target, nums, **kwargs):
    rewards = []
    for completion, gt, numbers in zip(completions, target, nums):
        try:
            # add synthetic <think> as its already part of the prompt and prefilled for the assistant to more easily match the regex
            completion = "<think>" + completion
            # Check if the format is correct
            match = re.search(r"<answer>(.*?)<\/answer>", completion)
            if match is None:
                rewards.append(0.0)
                continue
            # Extract the "answer" part from the completion
            equation = match.group(1).strip()
            # Extract all numbers from the equation
            used_numbers = [int(n) for n in re.findall(r'\d+', equation)]

            # Check if all numbers are used exactly once
            if sorted(used_numbers) != sorted(numbers):
                rewards.append(0.0)
                continue
            # Define a regex pattern that only allows numbers, operators, parentheses, and whitespace
            allowed_pattern = r'^[\d+\-*/().\s]+$'
            if not re.match(allowed_pattern, equation):
                rewards.append(0.0)
                continue

            # Evaluate the equation with restricted globals and locals
            result = eval(equation, {"__builtins__": None}, {})
            # Check if the equation is correct and matches the ground truth
            if abs(float(result) - float(gt)) < 1e-5:
                rewards.append(1.0)
            else:
                rewards.append(0.0)
        except Exception:
            # If evaluation fails, reward is 0
            rewards.append(0.0)
    return rewards


# ---------------------------------------------------------------------------------------------
# open-r1 src/open_r1/rewards.py (completions as [[{"content": ...}]], as TRL passes them)
def format_reward(completions, **kwargs):
    pattern = r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$"
    completion_contents = [completion[0]["content"] for completion in completions]
    matches = [re.match(pattern, content, re.DOTALL | re.MULTILINE) for content in completion_contents]
    return [1.0 if match else 0.0 for match in matches]


def tag_count_reward(completions, **kwargs) -> list[float]:
    def count_tags(text: str) -> float:
        count = 0.0
        if text.count("<think>\n") == 1:
            count += 0.25
        if text.count("\n</think>\n") == 1:
            count += 0.25
        if text.count("\n<answer>\n") == 1:
            count += 0.25
        if text.count("\n</answer>") == 1:
            count += 0.25
        return count

    contents = [completion[0]["content"] for completion in completions]
    return [count_tags(c) for c in contents]


def reasoning_steps_reward(completions, **kwargs):
    pattern = r"(Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|Finally,)"
    completion_contents = [completion[0]["content"] for completion in completions]
    matches = [len(re.findall(pattern, content)) for content in completion_contents]
    # Magic number 3 to encourage 3 steps and more, otherwise partial reward
    return [min(1.0, count / 3) for count in matches]


def cosine_formula(content, is_correct, min_value_wrong=0.0, max_value_wrong=-0.5, min_value_correct=0.5,
                   max_value_correct=1.0, max_len=1000):
    """The body of get_cosine_scaled_reward's loop after verify(); defaults from open-r1 configs.py."""
    gen_len = len(content)
    # Apply cosine scaling based on length
    progress = gen_len / max_len
    cosine = math.cos(progress * math.pi)
    if is_correct:
        min_value = min_value_correct
        max_value = max_value_correct
    else:
        # Swap min/max for incorrect answers
        min_value = max_value_wrong
        max_value = min_value_wrong
    reward = min_value + 0.5 * (max_value - min_value) * (1.0 + cosine)
    return float(reward)


def get_repetition_penalty_reward(ngram_size: int, max_penalty: float):
    if max_penalty > 0:
        raise ValueError(f"max_penalty {max_penalty} should not be positive")

    def zipngram(text: str, ngram_size: int):
        words = text.lower().split()
        return zip(*[words[i:] for i in range(ngram_size)])

    def repetition_penalty_reward(completions, **kwargs) -> float:
        contents = [completion[0]["content"] for completion in completions]
        rewards = []
        for completion in contents:
            if completion == "":
                rewards.append(0.0)
                continue
            if len(completion.split()) < ngram_size:
                rewards.append(0.0)
                continue

            ngrams = set()
            total = 0
            for ng in zipngram(completion, ngram_size):
                ngrams.add(ng)
                total += 1

            scaling = 1 - len(ngrams) / total
            reward = scaling * max_penalty
            rewards.append(reward)
        return rewards

    return repetition_penalty_reward


repetition_penalty_reward = get_repetition_penalty_reward(3, -1.0)


# ---------------------------------------------------------------------------------------------
def eval_rewards(case):
    """The two rewards that run eval() (in a child process: it can hang)."""
    c, nums, target = case["completion"], case["nums"], case["target"]
    solution_str = (case.get("prompt") or "") + c
    return dict(countdown=float(compute_score(solution_str, {"target": target, "numbers": nums})),
                minir1_equation=equation_reward_func([c], [str(target)], [nums])[0])


def text_rewards(case):
    c, target = case["completion"], case["target"]
    conv = [[{"content": c}]]
    return dict(
        minir1_format=format_reward_func([c], [str(target)])[0],
        format=format_reward(conv)[0],
        tag_count=tag_count_reward(conv)[0],
        reasoning_steps=reasoning_steps_reward(conv)[0],
        cosine_right=cosine_formula(c, True),
        cosine_wrong=cosine_formula(c, False),
        repetition=float(repetition_penalty_reward(conv)[0]),
    )


def eval_verdict(s):
    """Python's eval on s: ("ok", float) for a real number, ("no", None) otherwise (error, tuple, complex)."""
    try:
        v = eval(s, {"__builtins__": None}, {})
    except BaseException:
        return ("no", None)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return ("no", None)
    try:
        f = float(v)
    except OverflowError:
        return ("huge", None)
    return ("ok", f) if math.isfinite(f) else ("huge", None)


def _child(fn, arg, q):
    q.put(fn(arg))


def with_timeout(fn, arg, seconds=3.0):
    q = mp.Queue()
    p = mp.Process(target=_child, args=(fn, arg, q))
    p.start()
    p.join(seconds)
    if p.is_alive():
        p.kill()
        p.join()
        return None
    return q.get()


# ---------------------------------------------------------------------------------------------
TZ_PROMPT = ("A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
             "The assistant first thinks about the reasoning process in the mind and then provides the user with "
             "the answer.\nUser: Using the numbers [44, 19, 35], create an equation that equals 98. You can use "
             "basic arithmetic operations (+, -, *, /) and each number can only be used once. Show your work in "
             "<think> </think> tags. And return the final answer in <answer> </answer> tags, for example "
             "<answer> (1 + 2) / 3 </answer>.\nAssistant: Let me solve this step by step.\n<think>")
QWEN_PROMPT = ("<|im_start|>system\nYou are a helpful assistant. You first thinks about the reasoning process in the "
               "mind and then provides the user with the answer.<|im_end|>\n<|im_start|>user\nUsing the numbers "
               "[44, 19, 35], create an equation that equals 98.<|im_end|>\n<|im_start|>assistant\nLet me solve "
               "this step by step.\n<think>")
NUMS, TARGET = [44, 19, 35], 98


def handwritten():
    """(note, completion, prompt, nums, target): grpo.md §4's cases, parity quirks, malformed and hostile."""
    E = "<|endoftext|>"
    cases = []

    def add(note, completion, prompt=TZ_PROMPT, nums=NUMS, target=TARGET):
        cases.append(dict(note=note, completion=completion, prompt=prompt, nums=nums, target=target))

    think = " 44 + 19 = 63, 63 + 35 = 98 </think>\n"
    add("right, TinyZero style", think + "<answer> 44 + 19 + 35 </answer>" + E)
    add("right, no EOS", think + "<answer>44+19+35</answer>")
    add("right, Mini-R1 style (no space)", " ok</think>\n<answer>44 + 19 + 35</answer>")
    add("right with a trailing newline (TinyZero: last line has no answer)", think + "<answer>44+19+35</answer>\n" + E)
    add("right, trailing newline only", think + "<answer>44+19+35</answer>\n")
    add("wrong value", think + "<answer> 44 + 19 - 35 </answer>" + E)
    add("numbers misused (one twice)", think + "<answer> 44 + 44 + 10 </answer>" + E)
    add("numbers missing", think + "<answer> 44 + 54 </answer>" + E)
    add("extra number", think + "<answer> 44 + 19 + 35 + 0 </answer>" + E)
    add("no answer tag", think + "44 + 19 + 35 = 98" + E)
    add("empty answer", think + "<answer></answer>" + E)
    add("answer with equals sign", think + "<answer> 44 + 19 + 35 = 98 </answer>" + E)
    add("answer with letters", think + "<answer> x = 44 + 19 + 35 </answer>" + E)
    add("two answers, last right", think + "<answer>44-19-35</answer> <answer>44+19+35</answer>" + E)
    add("two answers, first right", think + "<answer>44+19+35</answer> <answer>44-19-35</answer>" + E)
    add("answer on an earlier line", think + "<answer>44+19+35</answer>\nI am done." + E)
    add("answer split over lines", think + "<answer>44+19\n+35</answer>" + E)
    add("nested answer tags", think + "<answer><answer>44+19+35</answer></answer>" + E)
    add("unclosed answer", think + "<answer>44+19+35" + E)
    add("unbalanced: close before open", think + "</answer>44+19+35<answer>" + E)
    add("qwen chat template prompt", think + "<answer>44+19+35</answer><|im_end|>", prompt=QWEN_PROMPT)
    add("no prompt, no Assistant: (TinyZero 0)", think + "<answer>44+19+35</answer>", prompt="")
    add("Assistant: inside the completion", "Assistant: <answer>44+19+35</answer>", prompt="")
    add("right, parentheses", think + "<answer> (44 - 35) * 19 - 73 + 0 </answer>", nums=[44, 35, 19, 73, 0])
    add("right, division", " </think>\n<answer>(44 + 19 + 35) / 1</answer>", nums=[44, 19, 35, 1])
    add("true division gives a float", " </think>\n<answer>7 / 2</answer>", nums=[7, 2], target=3.5)
    add("floor division passes the regex (7//2=3)", " </think>\n<answer>7 // 2</answer>", nums=[7, 2], target=3)
    add("floor division of negatives", " </think>\n<answer>(2-9) // 2</answer>", nums=[2, 9, 2], target=-4)
    add("power passes the regex (2**3=8)", " </think>\n<answer>2**3</answer>", nums=[2, 3], target=8)
    add("power is right-associative", " </think>\n<answer>2**3**2</answer>", nums=[2, 3, 2], target=512)
    add("unary minus binds looser than power", " </think>\n<answer>-2**2+8</answer>", nums=[2, 2, 8], target=4)
    add("leading zero 05+1: SyntaxError, numbers ok", " </think>\n<answer>05+1</answer>", nums=[5, 1], target=6)
    add("00 is a valid literal", " </think>\n<answer>00+6</answer>", nums=[0, 6], target=6)
    add("05.5 is a valid float", " </think>\n<answer>05.5*2</answer>", nums=[5, 5, 2], target=11)
    add("1. and .5 are floats", " </think>\n<answer>1. + .5</answer>", nums=[1, 5], target=1.5)
    add("division by zero", " </think>\n<answer>1/0</answer>", nums=[1, 0], target=1)
    add("floor division by zero", " </think>\n<answer>1//(2-2)</answer>", nums=[1, 2, 2], target=1)
    add("0 ** -1", " </think>\n<answer>0**-1</answer>", nums=[0, 1], target=1)
    add("complex result", " </think>\n<answer>(1-2)**(1/2)</answer>", nums=[1, 2, 1, 2], target=1)
    add("float power overflow", " </think>\n<answer>2.0**10000</answer>", nums=[2, 0, 10000], target=1)
    add("float floor division 1//0.1 = 9", " </think>\n<answer>1//0.1</answer>", nums=[1, 0, 1], target=9)
    add("empty tuple", " </think>\n<answer>()</answer>", nums=[], target=0)
    add("empty tuple times number", " </think>\n<answer>()*2</answer>", nums=[2], target=2)
    add("call syntax 2(3)", " </think>\n<answer>2(3)</answer>", nums=[2, 3], target=6)
    add("implicit product (2)(3)", " </think>\n<answer>(2)(3)</answer>", nums=[2, 3], target=6)
    add("double operator 2*/3", " </think>\n<answer>2*/3</answer>", nums=[2, 3], target=6)
    add("spaced power 2* *3", " </think>\n<answer>2* *3</answer>", nums=[2, 3], target=8)
    add("triple star", " </think>\n<answer>2***3</answer>", nums=[2, 3], target=8)
    add("1..2", " </think>\n<answer>1..2</answer>", nums=[1, 2], target=1)
    add("1.2.3", " </think>\n<answer>1.2.3</answer>", nums=[1, 2, 3], target=1)
    add("lone dot", " </think>\n<answer>. + 1</answer>", nums=[1], target=1)
    add("tab and formfeed spaces", " </think>\n<answer>44\t+19\x0c+35</answer>")
    add("vertical tab: regex ok, eval fails", " </think>\n<answer>44\x0b+19+35</answer>")
    add("carriage return outside parens", " </think>\n<answer>44+19\r+35</answer>")
    add("carriage return inside parens", " </think>\n<answer>(44+19\r+35)</answer>")
    add("unicode space stripped", " </think>\n<answer>\u00a044+19+35\u3000</answer>")
    add("unicode space inside", " </think>\n<answer>44+19\u00a0+35</answer>")
    add("unicode digits", " </think>\n<answer>44+19+\u0663\u0665</answer>")
    add("unicode digit extra", " </think>\n<answer>44+19+35+\u0660</answer>")
    add("199 nested parentheses", " </think>\n<answer>" + "(" * 199 + "44+19+35" + ")" * 199 + "</answer>")
    add("200 nested parentheses", " </think>\n<answer>" + "(" * 200 + "44+19+35" + ")" * 200 + "</answer>")
    add("201 nested parentheses", " </think>\n<answer>" + "(" * 201 + "44+19+35" + ")" * 201 + "</answer>")
    add("10,000 nested parentheses", " </think>\n<answer>" + "(" * 10000 + "44+19+35" + ")" * 10000 + "</answer>")
    add("10,000 unbalanced parentheses", " </think>\n<answer>" + "(" * 10000 + "44+19+35</answer>")
    add("1,000 unary minus", " </think>\n<answer>" + "-" * 1000 + "44+19+35</answer>")
    add("10,000 unary minus", " </think>\n<answer>" + "-" * 10000 + "44+19+35</answer>")
    add("huge number", " </think>\n<answer>" + "9" * 5000 + "</answer>", nums=[1], target=1)
    add("long number 400 digits", " </think>\n<answer>" + "1" + "0" * 400 + "</answer>", nums=[1], target=1)
    add("power chain 9**9**9**9 (Python hangs)", " </think>\n<answer>9**9**9**9</answer>", nums=[9, 9, 9, 9], target=1)
    add("power chain 2**2**2**2", " </think>\n<answer>2**2**2**2</answer>", nums=[2, 2, 2, 2], target=65536)
    add("power 99**99 (big int)", " </think>\n<answer>99**99</answer>", nums=[99, 99], target=1)
    # format rewards
    add("open-r1 format, right", "<think>\nI add them.\n</think>\n<answer>\n44+19+35\n</answer>")
    add("open-r1 format, text after (MULTILINE $)", "<think>\na\n</think>\n<answer>\nb\n</answer>\nmore text")
    add("open-r1 format, text glued after", "<think>\na\n</think>\n<answer>\nb\n</answer>more")
    add("open-r1 format, no newline after think", "<think>a\n</think>\n<answer>\nb\n</answer>")
    add("open-r1 format, empty think", "<think>\n\n</think>\n<answer>\n\n</answer>")
    add("open-r1 format, repeated blocks", "<think>\na\n</think>\n<answer>\nb\n</answer>\n<think>\nc\n</think>\n<answer>\nd\n</answer>")
    add("Mini-R1 format, right", " reasoning </think>\n<answer> 44 + 19 + 35 </answer>")
    add("Mini-R1 format, trailing newline", " r </think>\n<answer>x</answer>\n")
    add("Mini-R1 format, two trailing newlines", " r </think>\n<answer>x</answer>\n\n")
    add("Mini-R1 format, text after", " r </think>\n<answer>x</answer> ok")
    add("Mini-R1 format, '<' in thinking", " 3 < 4 and <b> </think>\n<answer>x</answer>")
    add("Mini-R1 format, nested <think>", " a <think> b </think>\n<answer>x</answer>")
    add("Mini-R1 format, two </think>", " a </think> b </think>\n<answer>x</answer>")
    add("Mini-R1 format, space before newline", " a </think> \n<answer>x</answer>")
    add("Mini-R1 format, answers repeated", " a </think>\n<answer>x</answer></answer></answer>")
    add("Mini-R1 format, <answer> in answer", " a </think>\n<answer><answer>x</answer>")
    add("Mini-R1 format, newline in answer", " a </think>\n<answer>4\n4</answer>")
    add("empty completion", "")
    add("only tags", "</think>\n<answer></answer>")
    # tag counts and steps
    add("tags twice", "<think>\n\n</think>\n\n</think>\n<answer>\n\n<answer>\n\n</answer>\n</answer>")
    add("overlapping tag occurrences", "<think>\n\n</think>\n</think>\n<answer>\n<answer>\n</answer>")
    add("reasoning steps", "Step 1: add. Step 2: add.\n- a\n* b\nFirst, Second, Next, Finally, done")
    add("reasoning steps at start", "12. first line\n3. second\nStep 10: x Step : y Step 1x")
    add("reasoning steps, unicode digit", "Step \u0663: a")
    add("list items", "\n-\n-\n-\n*")
    # repetition
    add("repetition, none", "the quick brown fox jumps over the lazy dog")
    add("repetition, heavy", "I think so. " * 40)
    add("repetition, case folded", "The THE the tHe the The THE the")
    add("repetition, unicode whitespace", "a\u00a0b\u2003c a\u3000b c a b c")
    add("repetition, two words", "hello world")
    add("repetition, whitespace only", " \n\t ")
    add("unicode text", "\u00e9t\u00e9 \u4f60\u597d " * 5 + "<think>\n\u4f60\n</think>\n<answer>\n\u597d\n</answer>")
    return cases


def generated(rng):
    """Random completions built from the pieces the matchers care about."""
    cases = []
    tags = ["<think>", "</think>", "<answer>", "</answer>", "\n", "\n", "x", " ", "<", "think>", "/think>",
            "<answer>\n", "\n</answer>", "\n</think>\n", "Step 2:", "1.", "\n-", "First,", "<|endoftext|>",
            "44+19+35", "44 + 19 + 35", "7"]
    for _ in range(400):
        c = "".join(rng.choice(tags) for _ in range(rng.randint(0, 12)))
        cases.append(dict(note="generated tags", completion=c, prompt=rng.choice([TZ_PROMPT, "", QWEN_PROMPT]),
                          nums=NUMS, target=TARGET))
    return cases


def gen_expr(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.3:
        return rng.choice(["1", "2", "3", "7", "10", "0", "05", "00", "2.5", ".5", "3.", "99", "1.2.3", "()"])
    if r < 0.45:
        return rng.choice(["-", "+", "- ", "--"]) + gen_expr(rng, depth + 1)
    if r < 0.6:
        return "(" + gen_expr(rng, depth + 1) + ")" + rng.choice(["", " "])
    op = rng.choice(["+", "-", "*", "/", "//", "**", " * ", " / ", " // ", "* *", "/ /", "***", ""])
    return gen_expr(rng, depth + 1) + op + gen_expr(rng, depth + 1)


def main():
    warnings.filterwarnings("ignore")  # eval's SyntaxWarnings on "2(3)"
    rng = random.Random(20250214)
    cases = handwritten() + generated(rng)
    out_cases = []
    for case in cases:
        r = with_timeout(eval_rewards, case)
        if r is None:  # eval() hung: r1.h deliberately scores the equation "not evaluable" instead, which
            # is what Python gives for the same numbers written as a call: 9(9)(9)(9) is a TypeError
            r = eval_rewards(dict(case, completion=case["completion"].replace("9**9**9**9", "9(9)(9)(9)")))
            case["python"] = "timeout"
        case["expect"] = dict(r, **text_rewards(case))
        out_cases.append(case)
    evals = []
    seen = set()
    while len(evals) < 1500:
        s = gen_expr(rng)
        if s in seen or "**" in s and len(s) > 14:
            continue
        seen.add(s)
        v = with_timeout(eval_verdict, s, 2.0) if "**" in s else eval_verdict(s)
        if v is None or v[0] == "huge":
            continue
        evals.append(dict(expr=s, ok=int(v[0] == "ok"), value=v[1] if v[0] == "ok" else 0.0))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "rewards.json"), "w") as f:
        json.dump(dict(cases=out_cases, evals=evals), f, separators=(",", ":"))
    n_ok = sum(e["ok"] for e in evals)
    print("wrote %d reward cases (%d timed out in Python) and %d eval cases (%d evaluable)" %
          (len(out_cases), sum(1 for c in out_cases if c.get("python")), len(evals), n_ok))


if __name__ == "__main__":
    main()
