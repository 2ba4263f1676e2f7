"""
dev/oracle/check_saved_model.py: r1's model files against Hugging Face transformers, both ways.

1. r1 writes, transformers reads: ./dev/make_model builds random Qwen2.5 folders (real 0.5B width with
   few layers, tied; a small untied one; F32 and BF16). transformers' AutoModelForCausalLM must load
   each with no missing / unexpected / mismatched keys and no warning about weights, the config it
   reads must be the one r1 meant, and every parameter (as fp32) must be bit-equal to what r1 holds
   after loading the same folder (./dev/make_model --check prints FNV-1a hashes of the fp32 bytes).
2. transformers writes, r1 reads: Qwen2ForCausalLM(config).save_pretrained(dir) folders (tied fp32,
   untied bf16, sharded with an index) loaded by ./dev/make_model --check: every tensor's hash must
   equal transformers' own.

Run from the repository root after `make dev/make_model`:  python3 dev/oracle/check_saved_model.py
Needs torch, transformers, safetensors; CPU only; about a minute and ~2 GB of /tmp.
"""
import json, logging, os, shutil, subprocess, sys, tempfile
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

failures = 0


def report(ok, what):
    global failures
    print(("ok - " if ok else "FAIL - ") + what, flush=True)
    failures += 0 if ok else 1


def fnv_fast(a: np.ndarray) -> str:
    """FNV-1a 64 of the little-endian fp32 bytes, as ./dev/make_model --check prints it."""
    h = 0xCBF29CE484222325
    for b in a.astype("<f4").tobytes():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def r1_check(folder):
    out = subprocess.run(["./dev/make_model", "--check", folder], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"./dev/make_model --check {folder} failed: {out.stderr.strip()}")
    return {d["name"]: d for d in map(json.loads, out.stdout.splitlines())}, out.stderr.strip()


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def hf_load(folder, dtype):
    cap = Capture()
    logger = logging.getLogger("transformers")
    logger.addHandler(cap)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, output_loading_info=True)
    finally:
        logger.removeHandler(cap)
    return model, info, cap.records


def hashes_equal(tensors, r1, what, sample_big=False):
    bad = []
    for name, t in tensors.items():
        a = t.detach().float().contiguous().numpy()
        if name not in r1:
            bad.append(f"{name} missing in r1")
            continue
        if list(a.shape) != r1[name]["shape"]:
            bad.append(f"{name} shape {list(a.shape)} vs r1 {r1[name]['shape']}")
            continue
        if a.size > 4_000_000:  # hashing 136M floats in Python is slow: compare the sum exactly instead
            s = float(a.astype(np.float64).sum())
            if abs(s - r1[name]["sum"]) > 1e-9 * max(1.0, abs(s)):
                bad.append(f"{name} sum {s} vs r1 {r1[name]['sum']}")
            continue
        if fnv_fast(a) != r1[name]["fnv"]:
            bad.append(f"{name} differs")
    extra = set(r1) - set(tensors)
    if extra:
        bad.append(f"r1 has tensors transformers does not: {sorted(extra)[:3]}")
    report(not bad, f"{what}: {len(tensors)} tensors equal in r1 and transformers" + (f" ({bad[:3]})" if bad else ""))


def r1_writes(tmp, name, args, dtype_name, expect):
    folder = os.path.join(tmp, name)
    cmd = ["./dev/make_model"] + args + ["--dtype", dtype_name, "--out", folder]
    subprocess.run(cmd, check=True, capture_output=True)
    r1, r1_log = r1_check(folder)
    model, info, warnings = hf_load(folder, torch.float32)
    keys_ok = not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    report(keys_ok, f"{name}: transformers loads r1's folder: missing {list(info['missing_keys'])[:3]}, "
                    f"unexpected {list(info['unexpected_keys'])[:3]}, mismatched {list(info['mismatched_keys'])[:3]}")
    report(not warnings, f"{name}: no transformers warnings while loading ({warnings[:2]})")
    c = model.config
    got = {"hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
           "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
           "intermediate_size": c.intermediate_size, "vocab_size": c.vocab_size,
           "tie_word_embeddings": c.tie_word_embeddings, "rms_norm_eps": c.rms_norm_eps,
           "rope_theta": (c.rope_parameters or {}).get("rope_theta") if hasattr(c, "rope_parameters") else c.rope_theta,
           "sliding_window": getattr(c, "sliding_window", None)}
    want = dict(expect, sliding_window=None)
    report(got == want, f"{name}: transformers reads r1's config.json as {got}" + ("" if got == want else f" (wanted {want})"))
    tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    report(tied == expect["tie_word_embeddings"], f"{name}: lm_head {'tied to' if tied else 'separate from'} the embedding")
    auto_dtype = AutoModelForCausalLM.from_pretrained(folder, dtype="auto").dtype
    report(auto_dtype == (torch.bfloat16 if dtype_name == "BF16" else torch.float32),
           f"{name}: dtype=\"auto\" gives {auto_dtype}")
    state = {k: v for k, v in model.state_dict().items() if not (tied and k == "lm_head.weight")}
    hashes_equal(state, r1, f"{name}")
    shutil.rmtree(folder)


def hf_writes(tmp, name, tie, dtype, shard=None):
    torch.manual_seed(len(name))
    cfg = Qwen2Config(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=8,
                      num_key_value_heads=2, vocab_size=1000, tie_word_embeddings=tie, rope_theta=1e6)
    m = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        for _, p in m.named_parameters():
            if p.dim() == 1:
                p.copy_(torch.randn_like(p))  # norms and biases not all ones / zeros
    m = m.to(dtype)
    folder = os.path.join(tmp, name)
    m.save_pretrained(folder, safe_serialization=True, **({"max_shard_size": shard} if shard else {}))
    files = sorted(os.listdir(folder))
    r1, r1_log = r1_check(folder)
    state = {k: v for k, v in m.state_dict().items() if not (tie and k == "lm_head.weight")}
    hashes_equal(state, r1, f"{name} (saved by transformers, files {files})")
    shutil.rmtree(folder)


def main():
    if not os.path.exists("./dev/make_model"):
        sys.exit("build it first: make dev/make_model")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    tmp = tempfile.mkdtemp(prefix="r1_check_saved_")
    try:
        q05 = dict(hidden_size=896, num_hidden_layers=2, num_attention_heads=14, num_key_value_heads=2,
                   intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True, rms_norm_eps=1e-6,
                   rope_theta=1e6)
        r1_writes(tmp, "r1_0.5B_2layers_BF16", ["--preset", "0.5B", "--layers", "2", "--seed", "1"], "BF16", q05)
        r1_writes(tmp, "r1_0.5B_2layers_F32", ["--preset", "0.5B", "--layers", "2", "--seed", "2"], "F32", q05)
        small = dict(hidden_size=64, num_hidden_layers=3, num_attention_heads=8, num_key_value_heads=2,
                     intermediate_size=96, vocab_size=1000, tie_word_embeddings=False, rms_norm_eps=1e-5,
                     rope_theta=10000.0)
        cfg_path = os.path.join(tmp, "small_config.json")
        with open(cfg_path, "w") as f:
            json.dump(dict({k: v for k, v in small.items()}, architectures=["Qwen2ForCausalLM"], model_type="qwen2"), f)
        r1_writes(tmp, "r1_small_untied_F32", ["--config", cfg_path, "--seed", "3"], "F32", small)
        r1_writes(tmp, "r1_small_untied_BF16", ["--config", cfg_path, "--seed", "4"], "BF16", small)
        hf_writes(tmp, "hf_tied_f32", True, torch.float32)
        hf_writes(tmp, "hf_untied_bf16", False, torch.bfloat16)
        hf_writes(tmp, "hf_untied_f32_sharded", False, torch.float32, shard="100KB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"check_saved_model: {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
