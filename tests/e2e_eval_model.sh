#!/usr/bin/env bash
# tests/e2e_eval_model.sh: ./eval --model generates its completions through r1.h (greedy) and scores
# them; they must be exactly ./generate's completions for the same prompts (both build the prompt
# from the benchmark preset and the chat template, and both run generate_batch), in ./generate's
# row format, and the scoring must read them. Uses the committed byte-level fixture model.
cd "$(dirname "$0")/.." || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok - e2e_eval_model: $*"; }
fail() { echo "FAIL - e2e_eval_model: $*"; fails=$((fails + 1)); }
model=tests/fixtures/generate/bytes_model
printf '{"problem": "1+1?", "answer": "2"}\n{"problem": "What is 2+2?", "answer": "4"}\n{"problem": "x", "answer": "0"}\n' >"$tmp/data.jsonl"

./generate --model "$model" --prompts "$tmp/data.jsonl" --out "$tmp/gen.jsonl" --preset boxed --max-new-tokens 24 \
    --temperature 0 -n 2 2>"$tmp/gen.err" || fail "./generate failed: $(tail -n 1 "$tmp/gen.err")"
out=$(./eval --bench jsonl --data "$tmp/data.jsonl" --model "$model" --max-new-tokens 24 -n 2 \
    --completions "$tmp/eval.jsonl" 2>"$tmp/eval.err")
rc=$?
[ $rc -eq 0 ] && ok "./eval --model ran (exit 0)" || fail "./eval --model exit $rc: $(tail -n 1 "$tmp/eval.err")"
if cmp -s "$tmp/gen.jsonl" "$tmp/eval.jsonl"; then
    ok "greedy completions equal ./generate's byte for byte ($(wc -l <"$tmp/eval.jsonl") rows)"
else
    fail "completions differ from ./generate's: $(diff "$tmp/gen.jsonl" "$tmp/eval.jsonl" | head -n 3)"
fi
if [[ "$out" == *"3 problems, 3 with completions, 6 samples (2 per problem)"* ]]; then
    ok "the generated rows are scored (3 problems x 2 samples)"
else
    fail "scoring summary: $out"
fi
msg=$(./eval --bench jsonl --data "$tmp/data.jsonl" --model "$model" -n 0 2>&1)
[[ $? -eq 1 && "$msg" == *"-n and --max-new-tokens must be at least 1"* ]] && ok "bad -n refused: $msg" \
    || fail "-n 0: $msg"
[ "$fails" -eq 0 ]
