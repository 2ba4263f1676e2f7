#!/usr/bin/env bash
# tests/run.sh: runs every test program (tests/test_*, built by make) and every end-to-end script
# (tests/e2e_*.sh) from the repository root, counts their "ok -" and "FAIL -" lines, and ends with
# "N passed, N failed". A program that exits non-zero without printing a FAIL line counts as one
# failure, so a crash can never pass.
cd "$(dirname "$0")/.." || exit 1
passed=0; failed=0; skipped=0
log=$(mktemp)
run_one() {
    echo "== $*"
    "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -c '^ok - ' "$log"); f=$(grep -c '^FAIL - ' "$log"); s=$(grep -c '^skip - ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL - $* exited with status $rc"
        f=1
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}
for t in tests/test_*; do
    case "$t" in *.c|*.cu|*.h|*.py|*.sh|*.o|*_gpu) continue ;; esac # *_gpu: below
    [ -x "$t" ] && run_one "$t"
done
for t in tests/e2e_*.sh; do
    [ -f "$t" ] && run_one bash "$t"
done
# GPU kernel tests only where a CUDA device is present.
if [ -x tests/test_kernels_gpu ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        run_one tests/test_kernels_gpu
    else
        echo "skip - GPU kernel tests: no CUDA device on this machine"
        skipped=$((skipped + 1))
    fi
fi
rm -f "$log"
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
