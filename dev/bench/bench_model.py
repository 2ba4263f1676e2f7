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
import os, statistics, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common

args = common.parse_args(__doc__)
import torch

model = common.make_model(args, rope_theta=1e6)
B, T = args.batch, args.seq
ids = torch.randint(0, args.vocab, (B, T))
pos = torch.arange(T).repeat(B, 1)
labels = ids.clone()
torch_loss = None


def torch_steps(n):
    global torch_loss
    times = []
    for s in range(n):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=False)
        out = model(input_ids=ids, position_ids=pos, labels=labels, use_cache=False)
        out.loss.backward()
        times.append(time.perf_counter() - t0)
        torch_loss = out.loss.item()
    return times


with tempfile.TemporaryDirectory() as tmp:
    model_dir, batch = common.write_inputs(tmp, model, ids, pos, labels)
    exe = os.path.join(tmp, "bench_model")
    common.compile_r1(exe, source=os.path.join(common.ROOT, "dev/bench/bench_model.c"))
    torch_steps(1)  # warm-up
    rt, tt, last = common.alternate(args, exe, model_dir, batch, torch_steps)
    r1_out = last.stdout
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
