"""
dev/oracle/model_io_fixtures.py: makes tests/fixtures/model_io/, the expected values of
tests/test_model_io.c, from code nobody here wrote (torch, safetensors, transformers).

  conversions.safetensors  written by the `safetensors` library: fp32 values and torch's own
                           .bfloat16() / .half() conversions of them (the oracle for r1's
                           bf16/f16 <-> fp32 code), int64/int32 ids, an F64 tensor r1 must refuse
  hf_tied_f32/             transformers Qwen2ForCausalLM(config).save_pretrained(): tied, float32
  hf_untied_bf16/          the same, untied, saved in bfloat16
  hf_sharded/              untied float32 saved with a tiny max_shard_size: index.json + shards
  expected.json            per folder: the config values as transformers' Qwen2Config reads them, and
                           per tensor the FNV-1a 64 hash and sum of its fp32 bytes
  configs.json             config.json texts and what Qwen2Config makes of them (absent keys ->
                           transformers' defaults)

Run from the repository root:  python3 dev/oracle/model_io_fixtures.py
"""
import json, os, shutil
import numpy as np
import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

OUT = "tests/fixtures/model_io"


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def conversions():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1500, generator=g) * torch.logspace(-40, 38, 1500).roll(7)  # all magnitudes
    specials = [0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 3.3895314e38, 3.4e38,
                1e-45, -1e-45, 1.1754942e-38, 65504.0, 65520.0, 6e-8, 3e-8, 1e-7, 5.96e-8]
    # exact ties between two bf16 neighbours: 1 + k*2^-8 + 2^-9 (the halfway point), both parities
    ties = [1.0 + k * 2.0 ** -7 + 2.0 ** -8 for k in range(16)] + [-(1.0 + k * 2.0 ** -7 + 2.0 ** -8) for k in range(16)]
    # NaNs whose payload a naive "add 0x7FFF and shift" would round into inf
    nans = torch.tensor(np.array([0x7F800001, 0xFF800001, 0x7FFFFFFF, 0x7F80FFFF], dtype=np.uint32).view(np.float32))
    x = torch.cat([x, torch.tensor(specials + ties, dtype=torch.float32), nans])
    # f16: every 8th bit pattern plus all subnormals, inf and NaN ones
    bits = sorted(set(range(0, 65536, 8)) | set(range(0, 1024)) | set(range(0x7C00, 0x7C10)) | {0xFC00, 0xFE00, 0x8001, 0x83FF})
    h = torch.tensor(np.array(bits, dtype=np.uint16).view(np.int16)).view(torch.float16)
    tensors = {
        "x": x,
        "x_bf16": x.bfloat16(),
        "x_bf16_f32": x.bfloat16().float(),
        "h_f16": h,
        "h_f16_f32": h.float(),
        "x_f16": x.half(),                # torch's fp32 -> f16 (overflow to inf, subnormals)
        "x_f16_f32": x.half().float(),
        "ids_i64": torch.tensor([[0, 1, 151643, 2147483647], [-100, -2147483648, 7, 42]], dtype=torch.int64),
        "ids_i32": torch.tensor([[0, 1, 151643, 2147483647], [-100, -2147483648, 7, 42]], dtype=torch.int32),
        "big_i64": torch.tensor([1, 2147483648], dtype=torch.int64),
        "f64": torch.tensor([1.0, 2.0], dtype=torch.float64),
        "scalar": torch.tensor(3.5),      # a 0-dimensional tensor: shape []
        "empty": torch.zeros(0, 4),       # no elements: data_offsets [k, k]
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, f"{OUT}/conversions.safetensors",
              metadata={"format": "pt"})


def tiny_config(tie):
    return Qwen2Config(hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=40, max_position_embeddings=128, rope_theta=10000.0,
                       rms_norm_eps=1e-6, tie_word_embeddings=tie, bos_token_id=1, eos_token_id=2)


def config_values(c):
    return {"hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
            "num_layers": c.num_hidden_layers, "num_heads": c.num_attention_heads,
            "num_kv_heads": c.num_key_value_heads, "vocab_size": c.vocab_size,
            "max_position_embeddings": c.max_position_embeddings,
            "rope_theta": float(c.rope_parameters["rope_theta"] if getattr(c, "rope_parameters", None) else c.rope_theta),
            "rms_norm_eps": c.rms_norm_eps, "tie_word_embeddings": bool(c.tie_word_embeddings),
            "bos_token_id": -1 if c.bos_token_id is None else c.bos_token_id,
            "eos_token_id": -1 if c.eos_token_id is None else (c.eos_token_id[0] if isinstance(c.eos_token_id, list) else c.eos_token_id)}


def hf_model(name, tie, dtype, shard_size=None, seed=0):
    torch.manual_seed(seed)
    cfg = tiny_config(tie)
    m = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():  # make norms and biases non-trivial so a mix-up of tensors shows
        for n, p in m.named_parameters():
            if p.dim() == 1:
                p.copy_(torch.randn_like(p))
    m = m.to(dtype)
    path = f"{OUT}/{name}"
    shutil.rmtree(path, ignore_errors=True)
    kwargs = {"max_shard_size": shard_size} if shard_size else {}
    m.save_pretrained(path, safe_serialization=True, **kwargs)
    for extra in ["generation_config.json"]:
        if os.path.exists(f"{path}/{extra}"):
            os.remove(f"{path}/{extra}")
    tensors = {}
    for n, p in m.state_dict().items():
        if tie and n == "lm_head.weight":
            continue
        a = p.detach().float().contiguous().numpy().astype("<f4")
        tensors[n] = {"fnv": fnv1a64(a.tobytes()), "sum": float(a.astype(np.float64).sum()), "shape": list(a.shape)}
    loaded = Qwen2Config.from_pretrained(path)
    return {"config": config_values(loaded), "tensors": tensors}


def configs():
    base = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64,
            "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 8,
            "num_key_value_heads": 2, "vocab_size": 1000}
    full = dict(base, max_position_embeddings=4096, rope_theta=1000000.0, rms_norm_eps=1e-5,
                tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645, hidden_act="silu",
                use_sliding_window=False, sliding_window=4096, max_window_layers=21, rope_scaling=None,
                torch_dtype="bfloat16", attention_dropout=0.0, use_cache=True, initializer_range=0.02)
    cases = [
        ("minimal: absent keys take Qwen2Config defaults", base),
        ("full 4.x-style config", full),
        ("num_key_value_heads null means num_attention_heads", dict(base, num_key_value_heads=None)),
        ("eos_token_id as a list", dict(base, eos_token_id=[151645, 151643])),
        ("model_type only, no architectures", {k: v for k, v in base.items() if k != "architectures"}),
        ("5.x-style rope_parameters", dict(base, rope_parameters={"rope_type": "default", "rope_theta": 500000.0})),
        ("head_dim equal to hidden/heads", dict(base, head_dim=8)),
    ]
    out = []
    for what, d in cases:
        c = Qwen2Config(**{k: v for k, v in d.items() if k not in ("architectures", "model_type")})
        out.append({"what": what, "text": json.dumps(d, indent=2), "expect": config_values(c)})
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    conversions()
    expected = {
        "hf_tied_f32": hf_model("hf_tied_f32", True, torch.float32, seed=1),
        "hf_untied_bf16": hf_model("hf_untied_bf16", False, torch.bfloat16, seed=2),
        "hf_sharded": hf_model("hf_sharded", False, torch.float32, shard_size="8KB", seed=3),
    }
    with open(f"{OUT}/expected.json", "w") as f:
        json.dump(expected, f, indent=1)
    with open(f"{OUT}/configs.json", "w") as f:
        json.dump(configs(), f, indent=1)
    total = sum(os.path.getsize(os.path.join(d, x)) for d, _, fs in os.walk(OUT) for x in fs)
    print(f"wrote {OUT}: {total} bytes; shards: {sorted(os.listdir(OUT + '/hf_sharded'))}")


if __name__ == "__main__":
    main()
