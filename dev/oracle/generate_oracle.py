#!/usr/bin/env python3
"""
dev/oracle/generate_oracle.py: the expected outputs of r1's generation (tests/test_generate.c and
tests/e2e_generate.sh), from Hugging Face transformers' `generate`, which nobody here wrote.

Run from the repository root (after `make dev/tokenize`):  python3 dev/oracle/generate_oracle.py

Writes tests/fixtures/generate/:
  greedy.jsonl   one row per case on the fixture models of tests/fixtures/model/ (random tiny Qwen2,
                 fp32, eager attention): {"model", "prompt" (ids), "max_new_tokens", "eos" (ids),
                 "repetition_penalty", "tokens" (the generated ids, eos included when it ended on it),
                 "margin" (the smallest gap between the two best logits over the steps: how far the
                 case is from an argmax tie)}. Each prompt is run alone (batch 1, no padding) with
                 model.generate(do_sample=False). Some cases set eos to a token the greedy run
                 produces (it stops there), others to one it never produces (it runs to the limit).
  budget.jsonl   budget forcing (s1) cases: {"model", "prompt", "max_new_tokens", "min_think",
                 "max_think", "think_end" (ids), "wait" (ids), "tokens"}. The rules are applied in
                 Python around transformers' model (each next token = argmax of its full-sequence
                 logits): an end of thinking before min_think completion tokens is taken back and
                 "Wait" put in, and at max_think tokens still thinking, the end of thinking is put in.
  bytes_model/   a model folder r1 and transformers both load: the byte-level tokenizer that
                 ./dev/tokenize --bytes --save writes (vocab.json, merges.txt, tokenizer_config.json
                 with a ChatML template), a random Qwen2 (vocab 278) and a generation_config.json
                 in Qwen2.5-Instruct's form (sampling, eos = <|im_end|> and <|endoftext|>).
  bytes_greedy.jsonl  {"messages", "max_new_tokens", "stop" (strings or null), "ids" (the chat
                 prompt, apply_chat_template), "tokens", "text" (decode with skip_special_tokens)}:
                 greedy generate with the folder's eos ids, through the chat template; the stop
                 cases use generate(stop_strings=..., tokenizer=...).
  bytes_prompts.jsonl / bytes_expected.jsonl  for tests/e2e_generate.sh (no Python in CI): the chat
                 cases without a stop string as ./generate's input ({"messages", "answer"}) and the
                 exact lines ./generate --temperature 0 --repetition-penalty 1 --max-new-tokens 40 must
                 write, transformers' text written with r1's JSON string escaping (json_write_string:
                 backslash escapes for the quote, backslash, newline, CR and tab, other control
                 characters as \\u00XX, everything else as UTF-8).
"""
import json
import os
import shutil
import subprocess

import torch
from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "tests", "fixtures", "model")
OUT = os.path.join(ROOT, "tests", "fixtures", "generate")


def load(name):
    model = Qwen2ForCausalLM.from_pretrained(os.path.join(MODELS, name), attn_implementation="eager",
                                             dtype=torch.float32)
    model.eval()
    model.generation_config.eos_token_id = None  # no eos unless a case sets one (config.json says 2)
    return model


def greedy(model, prompt, max_new, eos, penalty=1.0, tok=None, stop=None):
    """transformers' greedy generate of one prompt; returns (new tokens, smallest top-2 logit gap)."""
    gc = GenerationConfig(do_sample=False, max_new_tokens=max_new, eos_token_id=eos if eos else None,
                          pad_token_id=0, repetition_penalty=penalty, output_scores=True,
                          return_dict_in_generate=True, stop_strings=stop)
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), generation_config=gc, attention_mask=torch.ones(1, len(prompt),
                                                                                                   dtype=torch.long),
                             tokenizer=tok)
    new = out.sequences[0, len(prompt):].tolist()
    margin = min((s[0].topk(2).values[0] - s[0].topk(2).values[1]).item() for s in out.scores)
    return new, margin


def greedy_cases(rng):
    rows = []
    for name in sorted(os.listdir(MODELS)):
        model = load(name)
        V = model.config.vocab_size
        for j, (T, max_new) in enumerate([(1, 24), (5, 32), (11, 40), (23, 30)]):
            for attempt in range(20):  # skip prompts that come within 1e-3 of an argmax tie
                prompt = torch.randint(0, V, (T,), generator=rng).tolist()
                free, margin = greedy(model, prompt, max_new, None)
                if margin > 1e-3:
                    break
            if j % 2 == 0 and len(free) > 6:  # an eos the run produces: it stops there
                eos = [free[min(len(free) - 1, 5 + j)], V - 1 if V - 1 not in free else 0]
            else:  # an eos it never produces: it runs to the limit
                eos = [next(i for i in range(V - 1, -1, -1) if i not in free and i not in prompt)]
            tokens, margin = greedy(model, prompt, max_new, eos)
            rows.append(dict(model=name, prompt=prompt, max_new_tokens=max_new, eos=eos, repetition_penalty=1.0,
                             tokens=tokens, margin=margin))
        # the repetition penalty in greedy mode (transformers applies it whether or not it samples)
        prompt = torch.randint(0, V, (9,), generator=rng).tolist()
        tokens, margin = greedy(model, prompt, 30, None, penalty=1.3)
        rows.append(dict(model=name, prompt=prompt, max_new_tokens=30, eos=[], repetition_penalty=1.3, tokens=tokens,
                         margin=margin))
    return rows


def next_token(model, ids):
    with torch.no_grad():
        return int(model(torch.tensor([ids]), use_cache=False).logits[0, -1].argmax())


def budget_run(model, prompt, max_new, min_think, max_think, think_end, wait):
    """s1's budget forcing around transformers' model, on token ids (the rules in r1's generate_budget)."""
    comp, thinking = [], True
    while True:
        comp.append(next_token(model, prompt + comp))
        if thinking:
            k = len(think_end)
            if len(comp) >= k and comp[-k:] == think_end:
                if len(comp) - k < min_think:
                    comp = comp[:-k] + list(wait)
                else:
                    thinking = False
            elif max_think and len(comp) >= max_think:
                comp += list(think_end)
                thinking = False
        if len(comp) >= max_new:
            return comp[:max_new]


def budget_cases(rng):
    rows = []
    for name in ["tied_gqa2_hd16", "untied_mha2_hd16"]:
        model = load(name)
        V = model.config.vocab_size
        for case in range(5):
            prompt = torch.randint(0, V, (6,), generator=rng).tolist()
            free, _ = greedy(model, prompt, 40, None)
            first = next((j for j in range(3, 20) if free[j] not in free[:j]), 3)  # a token's first appearance
            if case == 0:  # a one-token end of thinking that the model produces early
                think_end, min_think, max_think = [free[3]], 12, 0
            elif case == 1:  # a two-token one
                think_end, min_think, max_think = free[4:6], 10, 0
            elif case == 2:  # the bound: `first` thinking tokens before the end, min_think one more: forced
                think_end, min_think, max_think = [free[first]], first + 1, 0
            elif case == 3:  # ... and min_think exactly `first`: accepted
                think_end, min_think, max_think = [free[first]], first, 0
            else:  # never produced: forced at max_think
                think_end = [i for i in range(V - 1, -1, -1) if i not in free][:2]
                min_think, max_think = 0, 9
            wait = [free[0], (free[1] + 1) % V]
            tokens = budget_run(model, prompt, 40, min_think, max_think, think_end, wait)
            rows.append(dict(model=name, prompt=prompt, max_new_tokens=40, min_think=min_think, max_think=max_think,
                             think_end=think_end, wait=wait, tokens=tokens))
    return rows


def make_bytes_model(rng):
    d = os.path.join(OUT, "bytes_model")
    shutil.rmtree(d, ignore_errors=True)
    subprocess.run([os.path.join(ROOT, "dev", "tokenize"), "--bytes", "--save", d], check=True)
    config = Qwen2Config(vocab_size=278, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=160,
                         rope_theta=1e6, tie_word_embeddings=False, bos_token_id=256, eos_token_id=258,
                         use_sliding_window=False)
    config._attn_implementation = "eager"
    model = Qwen2ForCausalLM(config).float()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "norm" in pname:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=rng))
            elif pname.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=rng))
            elif "embed_tokens" in pname:
                p.copy_(0.5 * torch.randn(p.shape, generator=rng))
            elif "lm_head" in pname:
                p.copy_(3.0 * torch.randn(p.shape, generator=rng) / p.shape[1] ** 0.5)
            else:
                p.copy_(1.2 * torch.randn(p.shape, generator=rng) / p.shape[1] ** 0.5)
        # make <|im_end|> likely enough that some completions end on it
        model.lm_head.weight[258] *= 1.5
    model.save_pretrained(d, safe_serialization=True)
    for extra in os.listdir(d):
        if extra not in ("config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json"):
            os.remove(os.path.join(d, extra))
    with open(os.path.join(d, "generation_config.json"), "w") as f:  # Qwen2.5-Instruct's form
        json.dump(dict(bos_token_id=256, do_sample=True, eos_token_id=[258, 256], pad_token_id=256,
                       repetition_penalty=1.05, temperature=0.7, top_k=20, top_p=0.8, max_new_tokens=48), f, indent=2)
    model = Qwen2ForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
    return d, model


def bytes_cases(d, model):
    tok = AutoTokenizer.from_pretrained(d)
    rows = []
    convs = [
        [{"role": "user", "content": "What is 2 + 3?"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime number."}],
        [{"role": "user", "content": "Solve: x^2 = 49. Put the answer in \\boxed{}."}],
        [{"role": "user", "content": "caf\u00e9 \u2013 \u00fcber"}],
    ]
    for i, msgs in enumerate(convs):
        ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        for stop in [None, "stop"]:
            max_new = 40
            tokens, margin = greedy(model, ids, max_new, [258, 256])
            if stop == "stop":
                # A stop string: two printable ASCII bytes that the free run produces as two consecutive
                # tokens, and whose first occurrence in the decoded text is there. (r1, like vLLM, matches
                # stop strings on the decoded text, special tokens skipped; transformers' StopStringCriteria
                # matches on the tokens' strings, so the cases where the two differ, a special token
                # between the two bytes or a stop string inside a special token's name, are not used.)
                stop = None
                for j in range(4, len(tokens) - 1):
                    a, b = tokens[j], tokens[j + 1]
                    if not (33 <= a < 127 and 33 <= b < 127):
                        continue
                    cand = chr(a) + chr(b)
                    text = tok.decode(tokens, skip_special_tokens=True)
                    if text.find(cand) == len(tok.decode(tokens[:j], skip_special_tokens=True)) and \
                            cand not in "".join(tok.convert_ids_to_tokens(tokens[:j + 2]))[:-2]:
                        stop = [cand]
                        break
                if stop is None:
                    continue
                tokens, margin = greedy(model, ids, max_new, [258, 256], tok=tok, stop=stop)
                assert len(tokens) == j + 2, "transformers stopped elsewhere"  # (it ends on the stop string)
            rows.append(dict(messages=msgs, max_new_tokens=max_new, stop=stop, ids=list(ids), tokens=tokens,
                             text=tok.decode(tokens, skip_special_tokens=True), margin=margin))
    return rows


def c_json_string(text):
    """A str as r1's json_write_string writes it (Python's json.dumps writes \\b and \\f differently)."""
    out = []
    for ch in text:
        esc = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
        out.append(esc if esc else "\\u%04x" % ord(ch) if ord(ch) < 0x20 else ch)
    return '"' + "".join(out) + '"'


def write_e2e(rows):
    rows = [r for r in rows if r["stop"] is None]
    with open(os.path.join(OUT, "bytes_prompts.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(dict(messages=r["messages"], answer="5"), ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "bytes_expected.jsonl"), "w", encoding="utf-8") as f:
        for i, r in enumerate(rows):
            finish = "stop" if r["tokens"][-1] in (258, 256) else "length"
            f.write('{"idx": %d, "sample": 0, "completion": %s, "tokens": %d, "finish": "%s"}\n'
                    % (i, c_json_string(r["text"]), len(r["tokens"]), finish))


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{path}: {len(rows)} rows, smallest margin "
          f"{min((r['margin'] for r in rows if 'margin' in r), default=float('nan')):.2e}")


def main():
    os.makedirs(OUT, exist_ok=True)
    write_jsonl(os.path.join(OUT, "greedy.jsonl"), greedy_cases(torch.Generator().manual_seed(2024)))
    write_jsonl(os.path.join(OUT, "budget.jsonl"), budget_cases(torch.Generator().manual_seed(2025)))
    d, model = make_bytes_model(torch.Generator().manual_seed(2026))
    rows = bytes_cases(d, model)
    write_jsonl(os.path.join(OUT, "bytes_greedy.jsonl"), rows)
    write_e2e(rows)


if __name__ == "__main__":
    main()
