"""
dev/bench/bench_model.py: one training step (forward + backward) of the same small Qwen2 model in
r1.h (CPU, fp32, OpenMP) and in PyTorch + transformers (CPU, fp32), on the same batch, with the same
number of threads, and the ratio of the two.

    python3 dev/bench/bench_model.py [--threads 2] [--steps 5] [--hidden 256] [--layers 4] [--vocab 8192]
                                     [--batch 4] [--seq 256] [--attn sdpa|eager]

It writes the model (transformers' save_pretrained) and the batch to a temporary folder, compiles
dev/bench/bench_model.c with the Makefile's flags, runs it, and times PyTorch in this process. Both
print their loss, which must agree (same weights, same batch).
"""
import argparse, os, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
ap.add_argument("--steps", type=int, default=5, help="timed steps per round (after one warm-up step)")
ap.add_argument("--rounds", type=int, default=3, help="r1 and PyTorch take turns this many times")
ap.add_argument("--hidden", type=int, default=256)
ap.add_argument("--heads", type=int, default=4)
ap.add_argument("--kv-heads", type=int, default=2)
ap.add_argument("--intermediate", type=int, default=1024)
ap.add_argument("--layers", type=int, default=4)
ap.add_argument("--vocab", type=int, default=8192)
ap.add_argument("--batch", type=int, default=4)
ap.add_argument("--seq", type=int, default=256)
ap.add_argument("--attn", default="sdpa", help="transformers attention: sdpa (its default) or eager")
args = ap.parse_args()

os.environ["OMP_NUM_THREADS"] = str(args.threads)
import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

torch.set_num_threads(args.threads)
torch.manual_seed(0)
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

config = Qwen2Config(hidden_size=args.hidden, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
                     intermediate_size=args.intermediate, num_hidden_layers=args.layers, vocab_size=args.vocab,
                     max_position_embeddings=max(4096, args.seq), tie_word_embeddings=True, rope_theta=1e6,
                     use_sliding_window=False, bos_token_id=1, eos_token_id=2)
config._attn_implementation = args.attn
model = Qwen2ForCausalLM(config).float()
model.train()
B, T = args.batch, args.seq
ids = torch.randint(0, args.vocab, (B, T))
pos = torch.arange(T).repeat(B, 1)
labels = ids.clone()

with tempfile.TemporaryDirectory() as tmp:
    model_dir = os.path.join(tmp, "model")
    model.save_pretrained(model_dir, safe_serialization=True)
    batch = os.path.join(tmp, "batch.safetensors")
    save_file({"input_ids": ids.to(torch.int32), "position_ids": pos.to(torch.int32),
               "labels": labels.to(torch.int32)}, batch)
    exe = os.path.join(tmp, "bench_model")
    subprocess.run(["gcc", "-O3", "-march=native", "-std=c11", "-fopenmp", "-o", exe,
                    os.path.join(root, "dev/bench/bench_model.c"), "-lm"], check=True)

    # The machine may be shared, so the two sides alternate for --rounds rounds and each keeps its
    # best and median step over all rounds.
    def torch_steps(n):
        times = []
        for s in range(n):
            t0 = time.perf_counter()
            model.zero_grad(set_to_none=False)
            out = model(input_ids=ids, position_ids=pos, labels=labels, use_cache=False)
            out.loss.backward()
            times.append(time.perf_counter() - t0)
        return times, out.loss.item()

    torch_steps(1)  # warm-up
    tt, rt = [], []
    for round in range(args.rounds):
        r = subprocess.run([exe, model_dir, batch, str(args.steps)], capture_output=True, text=True,
                           env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
        if r.returncode != 0:
            sys.exit("bench_model failed:\n" + r.stdout + r.stderr)
        r1_out = r.stdout
        rt += [float(x) for x in r1_out.split("r1 step times ")[1].split("\n")[0].split()]
        times, torch_loss = torch_steps(args.steps)
        tt += times
    print("".join(l + "\n" for l in r1_out.splitlines() if not l.startswith("r1 step")), end="")
    tt.sort()
    r1_best, r1_median = min(rt), statistics.median(rt)

params = sum(p.numel() for p in model.parameters())
print(f"model: hidden {args.hidden}, {args.layers} layers, heads {args.heads}/{args.kv_heads}, "
      f"intermediate {args.intermediate}, vocab {args.vocab} (tied), {params / 1e6:.2f}M params; "
      f"batch {B} x {T} tokens; {args.threads} threads; torch {torch.__version__} attn={args.attn}")
print(f"torch loss {torch_loss:.6f}")
print(f"r1    step best {r1_best:.4f} s, median {r1_median:.4f} s ({args.rounds} rounds x {args.steps} steps)")
print(f"torch step best {tt[0]:.4f} s, median {statistics.median(tt):.4f} s ({args.rounds} rounds x {args.steps} steps)")
print(f"speed of r1 relative to PyTorch (PyTorch time / r1 time): best {tt[0] / r1_best:.2f}, "
      f"median {statistics.median(tt) / r1_median:.2f}")
