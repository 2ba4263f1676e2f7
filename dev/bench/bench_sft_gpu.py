"""
dev/bench/bench_sft_gpu.py: SFT training throughput of ./train_sft on the GPU against Hugging Face
transformers + PyTorch on the same GPU, same model, same batch shape, in one run.

    make train_sft dev/make_model        # train_sft built with nvcc (the GPU path)
    python3 dev/bench/bench_sft_gpu.py [--models 0.5B,1.5B] [--seq 4096] [--batch 1] [--accum 4] [--steps 6]

For each model size: a random-init Qwen2.5 folder (./dev/make_model --preset, bf16) with the Qwen2.5
tokenizer files (../shared/qwen, or --tokenizer DIR), and a jsonl of synthetic reasoning examples
(prompt / thinking / answer, 300-1500 words each) that train_sft packs into rows of --seq tokens.
- r1: ./train_sft --model DIR --data FILE --batch B --seq-len T --accum A --steps S (bf16 activations,
  fp32 master weights, gradients and AdamW moments, chunked LM head); the step time of each step from
  its metrics.jsonl, the first step left out (warm-up).
- transformers: the same model in fp32 weights with torch.autocast(bfloat16), sdpa attention, AdamW
  (fused=True), clip_grad_norm_(1.0), A micro-batches of B rows of T random tokens per step (labels =
  the ids); full causal rows (sdpa cannot keep packed documents apart, so it does at least r1's work).
Both: tokens/s = B x A x T / median step time (padding included on both sides: the GPU computes it),
MFU = tokens/s x (6 x matmul parameters + 6 x L x NH x HD x T, causal attention) / the GPU's bf16 dense
peak (from the device name: H100 SXM / H200 989 TFLOP/s, H100 PCIe 756, A100 / A800 312; or --peak),
peak memory (torch.cuda.max_memory_allocated for transformers; r1's own plan, printed by train_sft,
and the most nvidia-smi showed while it ran). Then the ZeRO-1 memory plan of 3B on 3 x 80 GB at T 4096
(./train_sft --memory-plan, no GPU needed). Exits with a message where there is no CUDA GPU.
"""
import json, os, random, re, shutil, statistics, subprocess, sys, time

from common import ROOT, WORDS, SmiPoll, device_specs, gpu_arg_parser, make_preset, start_torch_gpu


def parse_args():
    ap = gpu_arg_parser(__doc__, "0.5B,1.5B", "/tmp/r1_bench_sft_gpu")
    ap.add_argument("--seq", type=int, default=4096, help="tokens per row (T)")
    ap.add_argument("--batch", type=int, default=1, help="rows per micro-batch (B)")
    ap.add_argument("--accum", type=int, default=4, help="micro-batches per step (A)")
    ap.add_argument("--steps", type=int, default=6, help="steps per side (the first is warm-up)")
    ap.add_argument("--peak", type=float, default=0, help="bf16 dense peak in TFLOP/s (default: from the name)")
    ap.add_argument("--skip-hf", action="store_true", help="only the r1 side")
    return ap.parse_args()


def make_data(work, n=400, seed=1):
    """Synthetic reasoning examples, long enough that rows of 4096 tokens fill up with whole documents."""
    path = os.path.join(work, "sft_data_%d.jsonl" % n)
    if not os.path.exists(path):
        rng = random.Random(seed)
        words = lambda k: " ".join(rng.choice(WORDS) for _ in range(k))
        with open(path, "w") as f:
            for i in range(n):
                f.write(json.dumps({"prompt": "Problem %d: %s?" % (i, words(rng.randint(20, 80))),
                                    "thinking": words(rng.randint(300, 1400)),
                                    "answer": words(rng.randint(5, 30))}) + "\n")
    return path


def config_of(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    C, I, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    NH, NKV = c["num_attention_heads"], c["num_key_value_heads"]
    HD = C // NH
    # the parameters a token meets in a matmul: every layer's projections and the LM head (an embedding
    # lookup costs nothing; a tied embedding is counted once, as the head)
    matmul = L * (C * NH * HD + 2 * C * NKV * HD + NH * HD * C + 3 * C * I) + V * C
    return dict(C=C, L=L, NH=NH, HD=HD, V=V, matmul_params=matmul)


def flops_per_token(cfg, T):
    # 6 N for the matmuls (forward 2N, backward 4N) + causal attention: QK^T and PV over T/2 keys on
    # average, 2 x 2 x (T/2) x NH x HD per layer forward, x 3 with backward
    return 6 * cfg["matmul_params"] + 6 * cfg["L"] * cfg["NH"] * cfg["HD"] * T


def peak_flops(name, given):
    if given > 0:
        return given * 1e12
    peak, _ = device_specs(name)
    if peak is not None:
        return peak
    sys.exit("bench_sft_gpu: unknown bf16 peak for '%s': give --peak TFLOPS" % name)


def run_r1(model_dir, data, args, work):
    """./train_sft on the GPU; returns (median step seconds, r1's planned GiB, nvidia-smi peak MiB)."""
    out = os.path.join(work, "r1_out")
    shutil.rmtree(out, ignore_errors=True)
    cmd = [os.path.join(ROOT, "train_sft"), "--model", model_dir, "--data", data, "--no-cache", "--eval-frac", "0",
           "--batch", str(args.batch), "--seq-len", str(args.seq), "--accum", str(args.accum), "--steps",
           str(args.steps), "--lr", "1e-5", "--warmup", "0", "--log-every", "1", "--out", out, "--gpus", "1"]
    with SmiPoll() as smi:
        r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench_sft_gpu: ./train_sft failed:\n%s\n%s" % (r.stdout[-2000:], r.stderr[-3000:]))
    if "GPU path" not in r.stdout:
        sys.exit("bench_sft_gpu: ./train_sft ran on the CPU (%s): build it with nvcc (make train_sft)" %
                 r.stdout.strip().splitlines()[0])
    m = re.search(r"^\s*total\s+([\d.]+) GiB", r.stdout, re.M)
    planned = float(m.group(1)) if m else float("nan")
    times = []
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            times.append(rec["step_time"])
            print("  r1 step %d: loss %.4f, %.3f s, %d real tokens" % (rec["step"], rec["loss"], rec["step_time"],
                                                                     rec["tokens"]))
    shutil.rmtree(out, ignore_errors=True)  # the checkpoint it wrote at the end
    return statistics.median(times[1:] if len(times) > 1 else times), planned, smi.peak


def run_hf(torch, model_dir, args):
    """The Trainer's step in bf16 autocast; returns (median step seconds, max_memory_allocated GiB)."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                 attn_implementation="sdpa").cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    V = model.config.vocab_size
    g = torch.Generator(device="cuda").manual_seed(0)
    batches = [torch.randint(0, V, (args.batch, args.seq), device="cuda", generator=g) for _ in range(args.accum)]
    torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(args.steps):
        torch.cuda.synchronize()
        t0 = time.time()
        opt.zero_grad(set_to_none=True)
        for ids in batches:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(input_ids=ids, labels=ids).loss / args.accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        torch.cuda.synchronize()
        times.append(time.time() - t0)
        print("  transformers step %d: loss %.4f, %.3f s" % (step + 1, loss.item() * args.accum, times[-1]))
    peak = torch.cuda.max_memory_allocated() / 2**30
    del model, opt, batches
    torch.cuda.empty_cache()
    return statistics.median(times[1:] if len(times) > 1 else times), peak


def main():
    args = parse_args()
    torch, gpu = start_torch_gpu("bench_sft_gpu", "GPU training", args.work, "train_sft", "dev/make_model")
    peak = peak_flops(gpu, args.peak)
    print("device: %s, bf16 dense peak %.0f TFLOP/s" % (gpu, peak / 1e12))
    data = make_data(args.work)
    tokens = args.batch * args.accum * args.seq
    rows = []
    for preset in args.models.split(","):
        model_dir = make_preset("bench_sft_gpu", preset, args.work, args.tokenizer)
        cfg = config_of(model_dir)
        fpt = flops_per_token(cfg, args.seq)
        print("%s: %s (%.2fB matmul parameters, %.1f GFLOP per token at T %d)" % (preset, model_dir,
                                                                                  cfg["matmul_params"] / 1e9,
                                                                                  fpt / 1e9, args.seq))
        r1_t, r1_plan, r1_smi = run_r1(model_dir, data, args, args.work)
        row = dict(model=preset, r1_tps=tokens / r1_t, r1_plan_gib=r1_plan, r1_smi_gib=r1_smi / 1024)
        row["r1_mfu"] = row["r1_tps"] * fpt / peak
        if not args.skip_hf:
            hf_t, hf_mem = run_hf(torch, model_dir, args)
            row.update(hf_tps=tokens / hf_t, hf_mem_gib=hf_mem, hf_mfu=tokens / hf_t * fpt / peak)
        else:
            row.update(hf_tps=float("nan"), hf_mem_gib=float("nan"), hf_mfu=float("nan"))
        rows.append(row)
    print("\n%s, %d x %d rows x %d micro-batches per step, median of steps 2..%d" % (gpu, args.batch, args.seq,
                                                                                   args.accum, args.steps))
    print("| model | r1 tokens/s | r1 MFU | HF tokens/s | HF MFU | ratio | r1 memory: plan / nvidia-smi | HF max allocated |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.0f | %.1f%% | %.0f | %.1f%% | %.2fx | %.1f / %.1f GiB | %.1f GiB |" % (
            r["model"], r["r1_tps"], 100 * r["r1_mfu"], r["hf_tps"], 100 * r["hf_mfu"], r["r1_tps"] / r["hf_tps"],
            r["r1_plan_gib"], r["r1_smi_gib"], r["hf_mem_gib"]))
    print("\nZeRO-1 memory plan, Qwen2.5-3B on 3 x 80 GB, one row of 4096 tokens per micro-batch:")
    plan = subprocess.run([os.path.join(ROOT, "train_sft"), "--memory-plan", "--preset", "3B", "--gpus", "3",
                           "--batch", "1", "--seq-len", "4096"], capture_output=True, text=True)
    print(plan.stdout + plan.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=gpu, peak_flops=peak, batch=args.batch, seq=args.seq, accum=args.accum, rows=rows,
                           plan_3b=plan.stdout), f, indent=1)


if __name__ == "__main__":
    main()
