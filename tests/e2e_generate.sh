#!/usr/bin/env bash
# tests/e2e_generate.sh: ./generate end to end on tests/fixtures/generate/bytes_model (a random Qwen2
# with the byte-level tokenizer, in Hugging Face form): greedy output through the chat template equals
# transformers' (bytes_expected.jsonl, written by dev/oracle/generate_oracle.py), the jsonl format,
# -n, reproducibility with --seed, ./eval reading the output, interactive mode, and bad input.
cd "$(dirname "$0")/.." || exit 1
M=tests/fixtures/generate/bytes_model
P=tests/fixtures/generate/bytes_prompts.jsonl
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; }
if [ ! -x ./generate ]; then
    fail "./generate is not built (make generate)"
    exit 1
fi

# greedy = transformers, byte for byte (text, token count, finish reason)
if ./generate --model $M --prompts $P --out "$T/greedy.jsonl" --temperature 0 --repetition-penalty 1 \
        --max-new-tokens 40 2>"$T/err" && cmp -s "$T/greedy.jsonl" tests/fixtures/generate/bytes_expected.jsonl; then
    ok "generate greedy through the chat template = transformers' generate (text, tokens, finish), $(wc -l <"$T/greedy.jsonl") prompts"
else
    fail "generate greedy differs from tests/fixtures/generate/bytes_expected.jsonl: $(tail -1 "$T/err" | head -c 300)"
    diff "$T/greedy.jsonl" tests/fixtures/generate/bytes_expected.jsonl | head -5
fi
if grep -q "tokens/s" "$T/err"; then ok "tokens/s printed at the end"; else fail "no tokens/s line on stderr"; fi

# sampling (generation_config.json's defaults), -n 3: format, row count, sample numbers
./generate --model $M --prompts $P --out "$T/a.jsonl" -n 3 --seed 7 2>/dev/null
rows=$(wc -l <"$T/a.jsonl")
want=$(( $(wc -l <$P) * 3 ))
bad=$(grep -cvE '^\{"idx": [0-9]+, "sample": [0-2], "completion": ".*", "tokens": [0-9]+, "finish": "(stop|length)"\}$' "$T/a.jsonl")
if [ "$rows" -eq "$want" ] && [ "$bad" -eq 0 ]; then
    ok "-n 3: $rows rows of {idx, sample, completion, tokens, finish}"
else
    fail "-n 3: $rows rows (want $want), $bad malformed"
fi
if [ "$(sed -n 2p "$T/a.jsonl" | cut -c1-24)" = '{"idx": 0, "sample": 1, ' ] &&
   [ "$(sed -n 4p "$T/a.jsonl" | cut -c1-24)" = '{"idx": 1, "sample": 0, ' ]; then
    ok "rows in order: prompt by prompt, sample by sample"
else
    fail "row order: $(sed -n 2p "$T/a.jsonl" | cut -c1-40)"
fi
./generate --model $M --prompts $P --out "$T/b.jsonl" -n 3 --seed 7 --slots 2 2>/dev/null
./generate --model $M --prompts $P --out "$T/c.jsonl" -n 3 --seed 8 2>/dev/null
if cmp -s "$T/a.jsonl" "$T/b.jsonl"; then ok "--seed 7 twice (8 slots, then 2): the same completions"; else fail "--seed 7 is not reproducible"; fi
if ! cmp -s "$T/a.jsonl" "$T/c.jsonl"; then ok "--seed 8 gives other completions"; else fail "--seed 8 = --seed 7"; fi
if ./generate --model $M --prompts $P --out "$T/n.jsonl" --no-chat --max-new-tokens 5 --ids 2>/dev/null; then
    fail "--no-chat with messages rows was accepted"
else
    ok "--no-chat refuses messages rows"
fi

# ./eval reads the output (the prompts file doubles as the benchmark: {"messages", "answer"})
if ./eval --bench jsonl --problem-field answer --data $P --completions "$T/a.jsonl" >"$T/eval.txt" 2>&1 &&
   grep -q "samples" "$T/eval.txt"; then
    ok "./eval --completions reads ./generate's output"
else
    fail "./eval could not read ./generate's output: $(head -c 300 "$T/eval.txt")"
fi

# plain prompts, a preset, stop strings and ids
printf '{"prompt": "hello"}\n{"problem": "1+1"}\n{"nums": [3, 5, 7], "target": 8}\n' >"$T/p.jsonl"
if ./generate --model $M --prompts "$T/p.jsonl" --out "$T/p_out.jsonl" --preset countdown --max-new-tokens 8 \
        --max-len 600 --ids --stop-id 65 2>"$T/err" && [ "$(grep -c '"ids": \[' "$T/p_out.jsonl")" -eq 3 ]; then
    ok "prompt / problem / Countdown rows with --preset countdown, --ids, --stop-id, --max-len past max_position_embeddings"
else
    fail "prompt rows with --preset: $(head -c 300 "$T/err")"
fi
if echo "hello there" | ./generate --model $M --interactive --max-new-tokens 6 >"$T/int.txt" 2>"$T/err" &&
   [ -s "$T/int.txt" ] && grep -q "tokens/s" "$T/err"; then
    ok "--interactive streams an answer for a line of stdin"
else
    fail "--interactive: $(head -c 300 "$T/err")"
fi

# stop strings and budget forcing through the flags. The oracle's stop case for the 4th prompt
# (bytes_greedy.jsonl: stop "20" -> 9 tokens, text ending in "20"); --max-think 5 puts "</think>" in
# after 5 tokens (the byte-level tokenizer spells it in 8 byte tokens).
sed -n 4p $P >"$T/p4.jsonl"
./generate --model $M --prompts "$T/p4.jsonl" --out "$T/stop.jsonl" --temperature 0 --repetition-penalty 1 \
    --max-new-tokens 40 --stop 20 2>/dev/null
if grep -q '20", "tokens": 9, "finish": "stop"}$' "$T/stop.jsonl"; then
    ok "--stop 20: stops where transformers' stop_strings does (9 tokens), text ends with the stop string"
else
    fail "--stop 20: $(cat "$T/stop.jsonl")"
fi
./generate --model $M --prompts "$T/p4.jsonl" --out "$T/think.jsonl" --temperature 0 --repetition-penalty 1 \
    --max-new-tokens 40 --max-think 5 --ids 2>/dev/null
if grep -q '"ids": \[[0-9]*, [0-9]*, [0-9]*, [0-9]*, [0-9]*, 60, 47, 116, 104, 105, 110, 107, 62' "$T/think.jsonl"; then
    ok "--max-think 5: \"</think>\" forced after 5 tokens"
else
    fail "--max-think 5: $(cut -c1-300 "$T/think.jsonl")"
fi

# bad input: one clear line each
expect_error() { # name, expected substring, command...
    local name=$1 want=$2
    shift 2
    if "$@" >/dev/null 2>"$T/err"; then
        fail "$name: accepted"
    elif grep -q -- "$want" "$T/err"; then
        ok "$name: $(grep -m1 "error" "$T/err" | head -c 200)"
    else
        fail "$name: expected '$want', got: $(head -c 300 "$T/err")"
    fi
}
printf '{"prompt": "a"}\n{"prompt": \n' >"$T/bad.jsonl"
expect_error "no --model" "a model folder is needed" ./generate --prompts $P --out "$T/x.jsonl"
expect_error "prompt longer than --max-len" "context holds 20" ./generate --model $M --prompts $P --out "$T/x.jsonl" --max-len 20
expect_error "unknown --stop-id" "unknown token" ./generate --model $M --prompts $P --out "$T/x.jsonl" --stop-id 278
expect_error "malformed prompts line" "bad.jsonl:2: malformed JSON" ./generate --model $M --prompts "$T/bad.jsonl" --out "$T/x.jsonl"
expect_error "missing prompts file" "nothere.jsonl" ./generate --model $M --prompts "$T/nothere.jsonl" --out "$T/x.jsonl"
expect_error "unknown flag" "unknown flag --temp" ./generate --model $M --temp 1
exit 0
