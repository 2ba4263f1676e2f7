#!/usr/bin/env bash
# tests/e2e_eval.sh: ./eval end to end on the real benchmark files in ../shared/data.
# 1. Completions made from each benchmark's own gold answers ("#### GOLD" for GSM8K, "\boxed{GOLD}"
#    for the others) must score pass@1 = 100%, except MATH-500 where the bar is 98%: Math-Verify
#    itself (open-r1's completion settings) scores 492/500 there, because 8 gold answers are written
#    as malformed LaTeX ("\frac43", "11\sqrt2") that open-r1 does not repair in a completion
#    (tests/fixtures/answer/self.jsonl has Math-Verify's verdict on each of them).
# 2. The same completions shifted by one row (problem i gets problem i+1's answer) must score at
#    most 1% above the share of problems whose neighbour has the same gold answer string (AMC 2023
#    has three such neighbours, 7.5%; the others under 1.2%).
# 3. Countdown, on a small hand-made set: right equations 100%, shifted ones 0%.
# 4. Bad input (malformed JSON, missing fields, an idx that is not a problem, an empty file) must
#    fail with exit status 1 and a message that names file:line.
cd "$(dirname "$0")/.." || exit 1
shared=${R1_SHARED:-../shared}
if [ ! -d "$shared/data" ]; then
    echo "skip - e2e_eval: $shared/data not found (the benchmark files live in ../shared next to the repository)"
    exit 0
fi
if [ ! -x ./eval ]; then
    echo "FAIL - e2e_eval: ./eval is not built (run make)"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }

# The gold answers of a file, one JSON string literal (or number) per line, in file order.
golds() { # bench file
    case "$1" in
    gsm8k) sed -E 's/.*#### *([^"]*)".*/"\1"/' "$2" ;;
    *) sed -E 's/.*"answer": *("(([^"\\]|\\.)*)"|[-0-9.eE+]+).*/\1/' "$2" ;;
    esac
}

# completions.jsonl from the gold answers, shifted by $3 rows
make_completions() { # bench file shift
    golds "$1" "$2" >"$tmp/golds"
    n=$(wc -l <"$tmp/golds")
    awk -v n="$n" -v shift="$3" -v bench="$1" '
        { g[NR - 1] = $0 }
        END {
            for (i = 0; i < n; i++) {
                a = g[(i + shift) % n]
                if (a ~ /^"/) a = substr(a, 2, length(a) - 2)
                if (bench == "gsm8k") c = "Adding it up.\\n#### " a
                else c = "So the final answer is $\\\\boxed{" a "}$."
                printf "{\"idx\": %d, \"sample\": 0, \"completion\": \"%s\", \"tokens\": %d, \"finish\": \"stop\"}\n", i, c, 10 + i % 7
            }
        }' "$tmp/golds"
}

pass1() { awk -F'|' '/pass@1 /{gsub(/[ %]/, "", $3); print $3; exit}'; }
# percent of problems whose next problem has the very same gold answer (what shifting cannot change)
same_as_next() { awk '{ g[NR] = $0 } END { for (i = 1; i <= NR; i++) s += g[i] == g[i % NR + 1]; printf "%.2f", 100 * s / NR }' "$tmp/golds"; }

for spec in "gsm8k gsm8k/test.jsonl 100" "math500 math500/test.jsonl 98" "aime24 aime24/test.jsonl 100" "amc23 amc23/test.jsonl 100"; do
    set -- $spec
    bench=$1 file=$shared/data/$2 need=$3
    make_completions "$bench" "$file" 0 >"$tmp/right.jsonl"
    make_completions "$bench" "$file" 1 >"$tmp/shifted.jsonl"
    start=$(date +%s.%N)
    right=$(./eval --bench "$bench" --data "$file" --completions "$tmp/right.jsonl" --out "$tmp/out.jsonl" 2>&1 | pass1)
    shifted=$(./eval --bench "$bench" --data "$file" --completions "$tmp/shifted.jsonl" 2>&1 | pass1)
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    rows=$(wc -l <"$tmp/out.jsonl")
    problems=$(wc -l <"$tmp/golds")
    if awk -v v="$right" -v need="$need" 'BEGIN { exit !(v != "" && v + 0 >= need) }'; then
        ok "$bench: gold answers as completions score pass@1 $right% (need >= $need%), $rows result rows for $problems problems"
    else
        fail "$bench: gold answers as completions score pass@1 '$right'% (need >= $need%)"
    fi
    same=$(same_as_next)
    if awk -v v="$shifted" -v same="$same" 'BEGIN { exit !(v != "" && v + 0 <= same + 1) }'; then
        ok "$bench: gold answers shifted by one row score pass@1 $shifted% (need <= $same% + 1%: $same% of neighbours share the gold) [both runs ${secs}s]"
    else
        fail "$bench: gold answers shifted by one row score pass@1 '$shifted'% (need <= $same% + 1%)"
    fi
done

# Countdown: a few rows with a known solution each (every number once).
cat >"$tmp/cd.jsonl" <<'ROWS'
{"nums": [44, 19, 35], "target": 98}
{"nums": [3, 7, 2], "target": 17}
{"nums": [10, 4, 6, 2], "target": 24}
{"nums": [8, 5, 3], "target": 1}
ROWS
sols=("44 + 19 + 35" "7 * 2 + 3" "(10 - 6) * (4 + 2)" "(8 - 5) / 3")
: >"$tmp/cd_right.jsonl"
: >"$tmp/cd_shift.jsonl"
for i in 0 1 2 3; do
    line='{"idx": %d, "sample": 0, "completion": "<think>\\nsearching\\n</think>\\n<answer> %s </answer>"}\n'
    printf "$line" "$i" "${sols[$i]}" >>"$tmp/cd_right.jsonl"
    printf "$line" "$i" "${sols[$(((i + 1) % 4))]}" >>"$tmp/cd_shift.jsonl"
done
r=$(./eval --bench countdown --data "$tmp/cd.jsonl" --completions "$tmp/cd_right.jsonl" 2>&1 | pass1)
s=$(./eval --bench countdown --data "$tmp/cd.jsonl" --completions "$tmp/cd_shift.jsonl" 2>&1 | pass1)
if [ "$r" = "100.00" ] && [ "$s" = "0.00" ]; then
    ok "countdown: right equations score $r%, shifted ones $s%"
else
    fail "countdown: right equations score '$r'% (want 100), shifted ones '$s'% (want 0)"
fi

# Bad input: each must exit 1 with a message naming the file (and line).
data=$shared/data/aime24/test.jsonl
printf '{"idx": 0, "completion": "\\\\boxed{1}"}\n{"idx": 1, "completion": \n' >"$tmp/bad_json.jsonl"
printf '{"idx": 0, "completion": "\\\\boxed{1}"}\n{"sample": 0, "completion": "x"}\n' >"$tmp/no_idx.jsonl"
printf '{"idx": 0, "sample": 0}\n' >"$tmp/no_completion.jsonl"
printf '{"idx": 30, "completion": "\\\\boxed{1}"}\n' >"$tmp/bad_idx.jsonl"
: >"$tmp/empty.jsonl"
printf '{"problem": "p"}\n' >"$tmp/no_answer_data.jsonl"
expect_error() { # what, expected substring, command...
    what=$1 want=$2
    shift 2
    msg=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -eq 1 ] && [[ "$msg" == *"$want"* ]]; then
        ok "bad input, $what: exit 1, \"$msg\""
    else
        fail "bad input, $what: exit $rc, message \"$msg\" (wanted exit 1 and \"$want\")"
    fi
}
expect_error "malformed JSON line" "bad_json.jsonl:2: malformed JSON" ./eval --bench aime24 --data "$data" --completions "$tmp/bad_json.jsonl"
expect_error "missing idx" "no_idx.jsonl:2: missing or non-integer \"idx\"" ./eval --bench aime24 --data "$data" --completions "$tmp/no_idx.jsonl"
expect_error "missing completion" "no_completion.jsonl:1: missing \"completion\"" ./eval --bench aime24 --data "$data" --completions "$tmp/no_completion.jsonl"
expect_error "idx not in the benchmark" "bad_idx.jsonl:1: idx 30 is not a problem" ./eval --bench aime24 --data "$data" --completions "$tmp/bad_idx.jsonl"
expect_error "empty completions file" "empty.jsonl: no completions" ./eval --bench aime24 --data "$data" --completions "$tmp/empty.jsonl"
expect_error "data row without an answer" "no_answer_data.jsonl:1: missing field \"answer\"" ./eval --bench math500 --data "$tmp/no_answer_data.jsonl" --completions "$tmp/empty.jsonl"
expect_error "--model folder missing" "some/dir/config.json" ./eval --bench aime24 --data "$data" --model some/dir --completions "$tmp/gen.jsonl"
expect_error "unknown bench" "--bench must be one of" ./eval --bench mmlu --data "$data" --completions "$tmp/empty.jsonl"

# --print-prompt shows a preset filled with a problem.
p=$(./eval --bench countdown --data "$tmp/cd.jsonl" --print-prompt 0)
if [[ "$p" == *"Using the numbers [44, 19, 35], create an equation that equals 98."* ]]; then
    ok "--print-prompt fills the Countdown preset with the row's numbers and target"
else
    fail "--print-prompt countdown: got \"$p\""
fi
p=$(./eval --bench gsm8k --data "$shared/data/gsm8k/test.jsonl" --print-prompt 1 --preset r1)
if [[ "$p" == *"User: A robe takes 2 bolts"* && "$p" == *"gold: 3"* ]]; then
    ok "--print-prompt fills the R1 preset with GSM8K problem 1 (gold 3)"
else
    fail "--print-prompt gsm8k r1: got \"$p\""
fi
[ "$fails" -eq 0 ]
