"""
dev/oracle/check_checkpoint.py: a checkpoint written by ./train_sft, loaded by Hugging Face
transformers as it is (AutoModelForCausalLM + AutoTokenizer from the folder), gives the same token
ids and the same logits as r1.h.

    python3 dev/oracle/check_checkpoint.py                 tiny model: trains 20 steps, checks the result
    python3 dev/oracle/check_checkpoint.py --qwen          a small random model with the real Qwen2.5
                                                           tokenizer (../shared/qwen), SFT on GSM8K rows
    python3 dev/oracle/check_checkpoint.py DIR             an existing checkpoint folder

For each case it renders a conversation with the folder's chat template (transformers'
apply_chat_template versus r1's chat_encode), compares the ids, runs both models on them and
reports the largest logit difference (absolute and relative to the largest logit). r1's side is a
small C program (embedded below) compiled against r1.h, like dev/bench/bench_model.py does.
Needs ./train_sft built (make train_sft). Exits non-zero when a check fails.
"""
import json, os, shutil, subprocess, sys, tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("R1_SHARED", os.path.join(ROOT, "..", "shared"))

# r1's side: chat_encode the conversation in argv[2] (a JSON file: list of {role, content}), run the
# forward pass, write ids and logits as safetensors.
DUMP_C = r'''
#include "r1.h"
int main(int argc, char** argv) {
    if (argc != 4) { fprintf(stderr, "usage: dump CHECKPOINT MESSAGES.json OUT.safetensors\n"); return 2; }
    Tokenizer tok;
    tokenizer_load(&tok, argv[1]);
    Qwen2 m;
    qwen2_load(&m, argv[1]);
    Json* j = json_load_file(argv[2]);
    ChatMessage msgs[8];
    int n = (int)j->len;
    for (int i = 0; i < n; i++) {
        msgs[i].role = json_get_string(&j->items[i], "role");
        msgs[i].content = json_get_string(&j->items[i], "content");
    }
    int* ids;
    int T = chat_encode(&tok, msgs, n, NULL, 0, 0, &ids, NULL);
    int* pos = (int*)malloc_check((size_t)T * sizeof(int));
    for (int t = 0; t < T; t++) pos[t] = t;
    qwen2_forward(&m, ids, pos, NULL, 1, T);
    SafetensorsTensor out[2] = {{"input_ids", "I32", 1, {(size_t)T}, ids},
                                {"logits", "F32", 2, {(size_t)T, (size_t)m.config.vocab_size}, m.acts.logits}};
    safetensors_write(argv[3], out, 2);
    return 0;
}
'''

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant. You first thinks about the reasoning process."},
    {"role": "user", "content": "Using the numbers [3, 7, 25], create an equation that equals 46."},
    {"role": "assistant", "content": "<think>\n25+7=32, left [3, 32]: 3+32=35 (no)\n</think>\n<answer> (25 - 3) * 2 "
                                     "</answer> — ça marche? 数字"},
]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout


def check(ckpt, tmp, dump):
    msgs = os.path.join(tmp, "messages.json")
    json.dump(CONVERSATION, open(msgs, "w"))
    out = os.path.join(tmp, "r1_logits.safetensors")
    run([dump, ckpt, msgs, out])
    r1 = load_file(out)
    tok = AutoTokenizer.from_pretrained(ckpt)
    hf_ids = tok.apply_chat_template(CONVERSATION, tokenize=True, return_dict=False)
    if isinstance(hf_ids, dict) or hasattr(hf_ids, "keys"):
        hf_ids = hf_ids["input_ids"]
    ids_ok = list(hf_ids) == r1["input_ids"].tolist()
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([r1["input_ids"].tolist()], dtype=torch.long)).logits[0]
    err = (logits - r1["logits"]).abs().max().item()
    rel = err / logits.abs().max().item()
    print("%s\n  ids: %s (%d tokens)\n  logits: max abs error %.3e, relative to the largest logit %.3e (V = %d)"
          % (ckpt, "identical" if ids_ok else "DIFFER", len(hf_ids), err, rel, logits.shape[-1]))
    if not ids_ok:
        print("  transformers:", list(hf_ids)[:40], "\n  r1:          ", r1["input_ids"].tolist()[:40])
    return ids_ok and rel < 1e-4


def make_qwen_model(tmp):
    """A small random Qwen2 model with the real Qwen2.5 tokenizer files (from ../shared/qwen)."""
    qwen = os.path.join(SHARED, "qwen")
    if not os.path.isdir(qwen):
        sys.exit("skip: %s not found (the Qwen2.5 tokenizer files)" % qwen)
    d = os.path.join(tmp, "qwen_small")
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, rope_theta=1e6, bos_token_id=151643, eos_token_id=151645)
    Qwen2ForCausalLM(cfg).save_pretrained(d, safe_serialization=True)
    for f in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(qwen, f), d)
    shutil.copy(os.path.join(qwen, "configs", "Qwen2.5-0.5B-Instruct", "generation_config.json"), d)
    data = os.path.join(tmp, "gsm8k_head.jsonl")
    with open(os.path.join(SHARED, "data", "gsm8k", "train.jsonl")) as f, open(data, "w") as g:
        for _ in range(16):
            g.write(f.readline())
    return d, data


def main():
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "dump")
        run(["gcc", "-O2", "-std=c11", "-fopenmp", "-I", ROOT, "-x", "c", "-o", dump, "-", "-lm"], input=DUMP_C)
        args = [a for a in sys.argv[1:] if not a.startswith("--")]
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        if args:
            ckpt = args[0]
        elif "--qwen" in sys.argv:
            model, data = make_qwen_model(tmp)
            out = os.path.join(tmp, "run")
            run([os.path.join(ROOT, "train_sft"), "--model", model, "--data", data, "--steps", "3", "--batch", "1",
                 "--seq-len", "256", "--lr", "1e-3", "--eval-frac", "0", "--no-cache", "--log-every", "0",
                 "--out", out], env=env)
            ckpt = os.path.join(out, "checkpoint-3")
        else:
            out = os.path.join(tmp, "run")
            run([os.path.join(ROOT, "train_sft"), "--steps", "20", "--batch", "1", "--countdown", "40",
                 "--countdown-eval", "2", "--log-every", "0", "--out", out], env=env)
            ckpt = os.path.join(out, "checkpoint-20")
        ok = check(ckpt, tmp, dump)
    print("ok" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
