"""
dev/bench/common.py: what the CPU benchmarks against PyTorch share: the flags of the model and
batch, a small random Qwen2 built by transformers, writing it and the batch where the r1 side reads
them, and the alternating rounds (the machine may be shared, so r1 and PyTorch take turns and each
keeps all its step times).
"""
import argparse, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(doc, **defaults):
    """The shared flags; `defaults` overrides the model and batch defaults by flag name."""
    d = dict(threads=int(os.environ.get("OMP_NUM_THREADS", "2")), steps=5, rounds=3, hidden=256, heads=4,
             kv_heads=2, intermediate=1024, layers=4, vocab=8192, batch=4, seq=256, attn="sdpa")
    d.update(defaults)
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ["threads", "steps", "rounds", "hidden", "heads", "kv_heads", "intermediate", "layers", "vocab",
                 "batch", "seq"]:
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=d[name])
    ap.add_argument("--attn", default=d["attn"], help="transformers attention: sdpa (its default) or eager")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported
    return args


def make_model(args, rope_theta):
    """A random tied Qwen2 of the flags' shape, fp32, in training mode (torch seeded with 0)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = Qwen2Config(hidden_size=args.hidden, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                         intermediate_size=args.intermediate, num_hidden_layers=args.layers, vocab_size=args.vocab,
                         max_position_embeddings=max(4096, args.seq), tie_word_embeddings=True,
                         rope_theta=rope_theta, use_sliding_window=False, bos_token_id=1, eos_token_id=2)
    config._attn_implementation = args.attn
    model = Qwen2ForCausalLM(config).float()
    model.train()
    return model


def write_inputs(tmp, model, ids, pos, labels):
    """save_pretrained the model and write the batch as safetensors (I32); returns both paths."""
    import torch
    from safetensors.torch import save_file
    model_dir = os.path.join(tmp, "model")
    model.save_pretrained(model_dir, safe_serialization=True)
    batch = os.path.join(tmp, "batch.safetensors")
    save_file({"input_ids": ids.to(torch.int32), "position_ids": pos.to(torch.int32),
               "labels": labels.to(torch.int32)}, batch)
    return model_dir, batch


def compile_r1(exe, source=None, text=None):
    """Compiles the r1 side (a file, or C text on stdin) with the Makefile's flags."""
    cmd = ["gcc", "-O3", "-march=native", "-std=c11", "-fopenmp", "-I", ROOT, "-o", exe]
    if text is None:
        subprocess.run(cmd + [source, "-lm"], check=True)
    else:
        subprocess.run(cmd + ["-x", "c", "-", "-lm"], input=text, text=True, check=True)


def alternate(args, exe, model_dir, batch, torch_steps):
    """--rounds rounds of: the r1 program (prints "r1 step times t1 t2 ..."), then torch_steps(n).
    Returns r1's step times, PyTorch's step times, and the last r1 run (for its other output)."""
    rt, tt, last = [], [], None
    for _ in range(args.rounds):
        last = subprocess.run([exe, model_dir, batch, str(args.steps)], capture_output=True, text=True,
                              env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
        if last.returncode != 0:
            sys.exit("the r1 side failed:\n" + last.stdout + last.stderr)
        rt += [float(x) for x in last.stdout.split("r1 step times")[1].split("\n")[0].split()]
        tt += torch_steps(args.steps)
    return rt, tt, last
