#!/usr/bin/env bash
# tests/e2e_grpo.sh: ./train_grpo end to end on the tiny built-in model (CPU path, ~1-2 minutes).
#   1. a short cold start (SFT) then GRPO on Countdown with a fixed seed: the mean reward of the last
#      steps must exceed that of the first steps by a margin (see CRITERION below)
#   2. resume: a run stopped after step K and resumed gives the same metrics, line for line (timings
#      aside), and the same final weights, as the run that was never stopped
#   3. bad flags and bad input: one clear error line each, non-zero exit, no crash
cd "$(dirname "$0")/.." || exit 1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
BIN=${R1_TRAIN_GRPO:-./train_grpo} # (R1_TRAIN_GRPO: another build, for development)
if [ ! -x "$BIN" ]; then
    echo "FAIL - $BIN is not built (run make)"
    exit 1
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# --- 1. the reward rises ------------------------------------------------------------
# A deliberately short cold start leaves a model that ends its completion in the answer format only
# part of the time; GRPO with Mini-R1's format reward (1 when the completion is exactly
# "...</think>\n<answer>...</answer>", else 0) must make that more frequent within a few steps.
# CRITERION (seed 7): mean reward of the last 5 of 20 steps > mean of the first 5 steps + 0.05.
# (temperature 1 pinned: the miniature recipe's own default is 0.7, which starts the format reward high)
COMMON="--nums 3:3 --max-target 30 --seed 7 --prompts 8 --group-size 8 --max-completion 64 --temperature 1 --quiet"
if ! $BIN $COMMON --sft-steps 80 --sft-lr 3e-3 --steps 20 --lr 5e-4 --schedule constant --reward minir1_format \
    --eval-n 50 --out "$T/run" >"$T/run.log" 2>&1; then
    echo "FAIL - GRPO run exited with an error"
    tail -5 "$T/run.log"
    exit 1
fi
mean_reward() { # mean of "reward" over the metrics lines of steps [a, b), with awk only
    awk -v a="$2" -v b="$3" '/"reward": / {
        match($0, /"step": [0-9]+/); s = substr($0, RSTART + 8, RLENGTH - 8) + 0
        match($0, /"reward": [-0-9.e+]+/); r = substr($0, RSTART + 10, RLENGTH - 10) + 0
        if (s >= a && s < b) { sum += r; n++ } } END { if (n) printf "%.4f", sum / n; else print "nan" }' "$1"
}
first=$(mean_reward "$T/run/metrics.jsonl" 1 6)
last=$(mean_reward "$T/run/metrics.jsonl" 16 21)
if awk -v f="$first" -v l="$last" 'BEGIN { exit !(l > f + 0.05) }'; then
    echo "ok - GRPO raises the mean reward: first 5 steps $first, last 5 steps $last"
else
    echo "FAIL - GRPO did not raise the mean reward: first 5 steps $first, last 5 steps $last (want last > first + 0.05)"
fi
lines=$(grep -c '"reward": ' "$T/run/metrics.jsonl")
if [ "$lines" -eq 20 ] && [ -f "$T/run/checkpoint-20/model.safetensors" ] && [ -f "$T/run/cold-start/config.json" ]; then
    echo "ok - metrics.jsonl has one line per step; checkpoint-20 and the cold-start model were written"
else
    echo "FAIL - expected 20 metric lines, checkpoint-20/ and cold-start/ (got $lines lines)"
fi
for key in '"rewards/minir1_format/mean"' '"frac_reward_zero_std"' '"kl"' '"clip_ratio/region_mean"' '"entropy"' \
    '"completion_length"' '"truncated"' '"lr"' '"grad_norm"' '"tokens_per_s"' '"time_rollout"'; do
    if ! grep -q "$key" "$T/run/metrics.jsonl"; then
        echo "FAIL - metrics.jsonl has no $key"
    fi
done
grep -q "held-out Countdown accuracy after GRPO" "$T/run.log" && echo "ok - held-out accuracy is reported before and after GRPO" ||
    echo "FAIL - no held-out accuracy line in the output"

# --- 2. resume is exact --------------------------------------------------------------
# From the cold-start model of run 1 (loaded as a model folder): 6 steps straight, and 3 steps +
# --resume to 6, with KL (a reference model), clipping (2 iterations per batch) and the entropy bonus on.
R="--model $T/run/cold-start --prompt-format short --nums 3:3 --max-target 30 --seed 11 --prompts 4 --group-size 4
   --max-completion 48 --steps 6 --lr 1e-3 --schedule cosine --warmup 2 --beta 0.04 --num-iterations 2
   --entropy-coef 0.001 --loss-type bnpo --quiet --eval-n 0"
$BIN $R --out "$T/a" >"$T/a.log" 2>&1 || echo "FAIL - the uninterrupted run failed: $(tail -1 "$T/a.log")"
$BIN $R --out "$T/b" --stop-at 3 >"$T/b1.log" 2>&1 || echo "FAIL - the first half failed: $(tail -1 "$T/b1.log")"
$BIN $R --out "$T/b" --resume >"$T/b2.log" 2>&1 || echo "FAIL - the resumed half failed: $(tail -1 "$T/b2.log")"
strip() { sed -E 's/, "(tokens_per_s|time_rollout|time_score|time_train)": [-0-9.e+]+//g' "$1"; }
if [ -s "$T/a/metrics.jsonl" ] && diff <(strip "$T/a/metrics.jsonl") <(strip "$T/b/metrics.jsonl") >/dev/null; then
    echo "ok - resumed run: metrics identical to the uninterrupted run's ($(wc -l <"$T/a/metrics.jsonl") lines)"
else
    echo "FAIL - resumed run's metrics differ from the uninterrupted run's"
    diff <(strip "$T/a/metrics.jsonl") <(strip "$T/b/metrics.jsonl") | head -4
fi
if cmp -s "$T/a/checkpoint-6/model.safetensors" "$T/b/checkpoint-6/model.safetensors"; then
    echo "ok - resumed run: final weights identical"
else
    echo "FAIL - resumed run: final weights differ"
fi
grep -q "resumed from .*checkpoint-3 at step 3" "$T/b2.log" && echo "ok - resume starts from checkpoint-3" ||
    echo "FAIL - resume did not report starting from checkpoint-3"

# --- 3. bad flags and bad input ----------------------------------------------------------
bad() { # expected substring, then the arguments
    want="$1"
    shift
    out=$($BIN "$@" 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && echo "$out" | grep -q -- "$want"; then
        echo "ok - bad input rejected: $* -> $(echo "$out" | tail -1)"
    else
        echo "FAIL - $* : exit $rc, expected an error containing '$want', got: $(echo "$out" | tail -2)"
    fi
}
bad "unknown flag '--bogus'" --bogus
bad "--steps: expected an integer" --steps many
bad "unknown recipe 'r2'" --recipe r2
bad "unknown value 'mean'" --loss-type mean
bad "unknown value 'k4'" --kl k4
bad "unknown reward 'speed'" --reward speed:1
bad "bad weight" --reward countdown:x
bad "needs a value" --lr
bad "--resume needs --out" --resume
bad "--task math needs --data" --task math --model "$T/run/cold-start"
bad "temperature must be > 0" --temperature 0
bad "unknown lr schedule" --schedule wavy
bad "already holds checkpoint" --out "$T/a" --steps 1 --sft-steps 1
echo '{"question": "1+1?", "answer": "#### 2"}' >"$T/gsm.jsonl"
bad "miniature run" --task math --data "$T/gsm.jsonl"
bad "config.json" --model "$T/nowhere"
