#!/usr/bin/env bash
# dev/bench/bench_grpo_mini.sh: the benchmark of R1-Zero in miniature (issue 5), not a test.
# Runs the README's first command, ./train_grpo with no --model (the tiny built-in model: cold-start
# SFT on Countdown, then GRPO on Countdown), on OMP_NUM_THREADS=2, with held-out accuracy measured
# every 30 steps, and prints: total wall time (target <= 10 minutes on the 2-core machine), held-out
# Countdown accuracy before and after GRPO (target: +10 points), the curve, and the plot.
#   dev/bench/bench_grpo_mini.sh [OUT_DIR] [extra train_grpo flags]
cd "$(dirname "$0")/../.." || exit 1
OUT=${1:-/tmp/r1_grpo_mini}
shift
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
make -s train_grpo >/dev/null || exit 1
rm -rf "$OUT"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); OMP_NUM_THREADS=$OMP_NUM_THREADS"
start=$(date +%s.%N)
./train_grpo --out "$OUT" --eval-every 30 "$@" | tee "$OUT.log"
end=$(date +%s.%N)
total=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
echo
echo "== R1-Zero in miniature: summary"
echo "wall time: ${total} s (target <= 600 s)"
grep -E "held-out Countdown accuracy|GRPO changed" "$OUT.log"
echo "curve (step: held-out accuracy, greedy):"
grep -E "accuracy before GRPO" "$OUT.log" | sed -E 's/.*: ([0-9.]+%).*/  0: \1/'
grep -E "^step [0-9]+: held-out" "$OUT.log" | sed -E 's/^step ([0-9]+): held-out Countdown accuracy ([0-9.]+%).*/  \1: \2/'
grep -E "accuracy after GRPO" "$OUT.log" | sed -E 's/.*: ([0-9.]+%).*/  end: \1/'
echo "training reward / sampled accuracy every 10 steps:"
awk '/"reward": / { match($0, /"step": [0-9]+/); s = substr($0, RSTART + 8, RLENGTH - 8) + 0
    match($0, /"reward": [-0-9.e+]+/); r = substr($0, RSTART + 10, RLENGTH - 10)
    match($0, /"accuracy": [-0-9.e+]+/); a = substr($0, RSTART + 12, RLENGTH - 12)
    if (s % 10 == 0 || s == 1) printf "  step %d: reward %.3f, sampled accuracy %.1f%%\n", s, r, 100 * a }' "$OUT/metrics.jsonl"
if [ -f dev/plot.py ] && python3 dev/plot.py "$OUT/metrics.jsonl" --out "$OUT/grpo.png" --keys reward,accuracy,eval_accuracy,completion_length,kl >/dev/null 2>&1; then
    echo "plot: $OUT/grpo.png"
else
    echo "plot: not drawn (python3 dev/plot.py $OUT/metrics.jsonl)"
fi
