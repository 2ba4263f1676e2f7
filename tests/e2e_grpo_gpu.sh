#!/usr/bin/env bash
# tests/e2e_grpo_gpu.sh: R1-Zero in miniature on one GPU, end to end (within 15 minutes).
# ./train_grpo with no --model: the tiny built-in Qwen2-architecture model (byte tokenizer) from
# random weights, a cold-start SFT on Countdown traces (r1.h's sft_train, on the CPU cores), then GRPO
# on Countdown with rollouts and updates on the GPU. Larger than the CPU demo: a longer cold start,
# more GRPO steps and more prompts per step. Checks:
#   1. the run finishes, with one metrics line per step
#   2. the mean reward of the last 20 steps exceeds that of the first 20 steps by a margin (CRITERION)
#   3. held-out Countdown accuracy (greedy, 500 problems) after GRPO > before
# The log and the curve (metrics.jsonl) are kept in $OUT (printed at the end):
#     python3 dev/plot.py $OUT/run/metrics.jsonl
# Skips (exit 0) without a CUDA device or when ./train_grpo was built without nvcc (the CPU-only
# build of `gcc -x c`), so tests/run.sh can run it anywhere.
cd "$(dirname "$0")/.." || exit 1
BIN=${R1_TRAIN_GRPO:-./train_grpo} # (R1_TRAIN_GRPO: another build, for development)
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "skip - GPU GRPO end to end: no CUDA device on this machine"
    exit 0
fi
if [ ! -x "$BIN" ]; then
    echo "FAIL - $BIN is not built (run make)"
    exit 1
fi
if ! grep -q "rollouts with the GPU engine" "$BIN"; then # the GPU path's banner is only in an nvcc build
    echo "skip - GPU GRPO end to end: $BIN was built without nvcc (CPU path only)"
    exit 0
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} # the cold start and the rewards run on the CPU
OUT=${R1_E2E_OUT:-$(mktemp -d /tmp/e2e_grpo_gpu.XXXXXX)}
mkdir -p "$OUT"
LOG="$OUT/run.log"

# The miniature recipe (3 numbers below 30, the short prompt, T 0.7, lr 1e-4 cosine, DAPO loss) with
# twice its prompts per step, 200 steps instead of 120 and a 1500-step cold start instead of 800.
STEPS=200
ARGS="--seed 7 --sft-steps 1500 --steps $STEPS --prompts 16 --group-size 16 --max-completion 64 --eval-n 500"
echo "running: $BIN $ARGS --out $OUT/run (log: $LOG)"
start=$(date +%s)
timeout 900 "$BIN" $ARGS --out "$OUT/run" >"$LOG" 2>&1
rc=$?
secs=$(($(date +%s) - start))
if [ $rc -eq 124 ]; then
    echo "FAIL - the GPU run took more than 15 minutes (stopped; log in $LOG)"
    tail -3 "$LOG"
    exit 1
elif [ $rc -ne 0 ]; then
    echo "FAIL - the GPU run exited with status $rc (log in $LOG)"
    tail -5 "$LOG"
    exit 1
fi
if grep -q "GRPO on .*: rollouts with the GPU engine" "$LOG"; then
    echo "ok - train_grpo ran on the GPU: $(grep -m1 'GRPO on ' "$LOG") ($secs s)"
else
    echo "FAIL - train_grpo did not take the GPU path: $(head -1 "$LOG")"
fi

M="$OUT/run/metrics.jsonl"
lines=$(grep -c '"reward": ' "$M" 2>/dev/null || echo 0)
if [ "$lines" -eq "$STEPS" ]; then
    echo "ok - metrics.jsonl has one line per step ($lines)"
else
    echo "FAIL - expected $STEPS metric lines in $M, got $lines"
fi
mean_key() { # mean of a key over the metrics lines of steps [a, b), with awk only
    awk -v k="\"$4\": " -v a="$2" -v b="$3" 'index($0, "\"reward\": ") {
        match($0, /"step": [0-9]+/); s = substr($0, RSTART + 8, RLENGTH - 8) + 0
        i = index($0, k); if (!i) next
        r = substr($0, i + length(k)) + 0
        if (s >= a && s < b) { sum += r; n++ } } END { if (n) printf "%.4f", sum / n; else print "nan" }' "$1"
}
# CRITERION: mean reward of steps 181-200 > mean of steps 1-20 + 0.05
first=$(mean_key "$M" 1 21 reward)
last=$(mean_key "$M" $((STEPS - 19)) $((STEPS + 1)) reward)
if awk -v f="$first" -v l="$last" 'BEGIN { exit !(l > f + 0.05) }'; then
    echo "ok - GRPO raises the mean reward: first 20 steps $first, last 20 steps $last"
else
    echo "FAIL - GRPO did not raise the mean reward: first 20 steps $first, last 20 steps $last (want last > first + 0.05)"
fi
echo "  curve (mean of each 20 steps): reward / training accuracy / s per step"
for a in $(seq 1 20 "$STEPS"); do
    b=$((a + 20))
    t=$(awk -v f="$(mean_key "$M" $a $b time_rollout)" -v s="$(mean_key "$M" $a $b time_score)" \
        -v u="$(mean_key "$M" $a $b time_train)" 'BEGIN { printf "%.2f", f + s + u }')
    echo "    steps $a-$((b - 1)): reward $(mean_key "$M" $a $b reward), accuracy $(mean_key "$M" $a $b accuracy), $t s/step"
done

before=$(sed -n 's/.*held-out Countdown accuracy before GRPO: \([0-9.]*\)%.*/\1/p' "$LOG")
after=$(sed -n 's/.*held-out Countdown accuracy after GRPO: \([0-9.]*\)%.*/\1/p' "$LOG")
if [ -n "$before" ] && [ -n "$after" ] && awk -v b="$before" -v a="$after" 'BEGIN { exit !(a > b) }'; then
    echo "ok - held-out Countdown accuracy (500 problems, greedy): $before% before GRPO, $after% after"
else
    echo "FAIL - held-out Countdown accuracy did not rise: before '${before}'%, after '${after}'%"
fi
echo "  log: $LOG; curve: $M (python3 dev/plot.py $M)"
