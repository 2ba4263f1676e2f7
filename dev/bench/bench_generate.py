"""
dev/bench/bench_generate.py: generation throughput of ./generate's GPU engine against Hugging Face
transformers' model.generate, on the same GPU, prompts and lengths, in one run.

    make generate dev/make_model        # generate built with nvcc (the GPU engine)
    python3 dev/bench/bench_generate.py [--models 0.5B,1.5B] [--prompts 256] [--max-new-tokens 1024]

For each model size: a random-init Qwen2.5 folder in Hugging Face format (./dev/make_model --preset,
bf16) with the Qwen2.5 tokenizer files (../shared/qwen, or --tokenizer DIR); --prompts text prompts
of 40-160 words; every completion exactly --max-new-tokens tokens (./generate --ignore-eos,
transformers min_new_tokens = max_new_tokens), greedy on both sides.
- r1: ./generate --slots S (all prompts at once by default); tokens/s as it prints them.
- transformers: bf16, sdpa attention, left-padded batches, the largest batch (of 256, 128, ...) that
  runs without running out of memory; tokens/s = generated tokens / wall time of all batches.
- batch-1 decode: ./generate with one prompt and one slot against the memory-bandwidth limit, the
  weight bytes read once per token at the bandwidth of a device-to-device copy of 1 GiB (torch; bytes
  read + written / time).
Targets (the project's): r1 >= 10x transformers and >= 30k tokens/s for 0.5B on an H100; batch-1
decode >= 70% of the bandwidth limit. The script prints what it measured; it never assumes.
"""
import json, os, random, re, subprocess, sys, time

from common import ROOT, WORDS, gpu_arg_parser, make_preset, start_torch_gpu


def parse_args():
    ap = gpu_arg_parser(__doc__, "0.5B,1.5B", "/tmp/r1_bench_generate")
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--max-new-tokens", type=int, default=1024)
    ap.add_argument("--slots", type=int, default=0, help="./generate --slots (default: all prompts at once)")
    ap.add_argument("--hf-batches", default="256,128,64,32,16,8", help="transformers batch sizes to try, largest first")
    ap.add_argument("--skip-hf", action="store_true", help="only the r1 side")
    ap.add_argument("--no-graph", action="store_true", help="pass --no-graph to ./generate")
    return ap.parse_args()


def hf_tokenizer(model_dir):
    from transformers import AutoTokenizer, Qwen2TokenizerFast
    try:
        tok = AutoTokenizer.from_pretrained(model_dir)
    except Exception:  # an older transformers that wants tokenizer.json: build the fast one from the files
        tok = Qwen2TokenizerFast(vocab_file=os.path.join(model_dir, "vocab.json"),
                                 merges_file=os.path.join(model_dir, "merges.txt"))
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or "<|endoftext|>"
    return tok


def make_prompts(n, seed=1):
    rng = random.Random(seed)
    return ["Problem %d: %s." % (i, " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 160))))
            for i in range(n)]


def run_r1(model_dir, prompts, max_new, slots, work, no_graph):
    """./generate on the prompts; returns (tokens/s, new tokens) as it prints them."""
    path = os.path.join(work, "prompts_%d.jsonl" % len(prompts))
    with open(path, "w") as f:
        for p in prompts:
            f.write(json.dumps({"prompt": p}) + "\n")
    out = os.path.join(work, "completions.jsonl")
    cmd = [os.path.join(ROOT, "generate"), "--model", model_dir, "--prompts", path, "--out", out, "--no-chat",
           "--temperature", "0", "--max-new-tokens", str(max_new), "--ignore-eos", "--slots", str(slots)]
    cmd += ["--no-graph"] if no_graph else []
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench_generate: ./generate failed:\n%s" % r.stderr[-3000:])
    if "GPU engine" not in r.stderr:
        sys.exit("bench_generate: ./generate ran on the CPU (%s): build it with nvcc (make generate)" %
                 r.stderr.strip().splitlines()[0])
    m = re.search(r"(\d+) new tokens .* ([\d.]+) tokens/s", r.stderr)
    if not m:
        sys.exit("bench_generate: no tokens/s in ./generate's output:\n%s" % r.stderr[-2000:])
    tokens, rate = int(m.group(1)), float(m.group(2))
    if tokens != len(prompts) * max_new:
        print("warning: ./generate made %d tokens, expected %d" % (tokens, len(prompts) * max_new))
    for line in r.stderr.splitlines():
        if line.startswith("gpu memory") or line.startswith("gpu engine"):
            print("  r1: " + line)
    return rate, tokens


def run_hf(torch, model_dir, prompts, max_new, batches):
    """model.generate in the largest batch that fits; returns (tokens/s, batch)."""
    from transformers import AutoModelForCausalLM
    tok = hf_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.bfloat16,
                                                 attn_implementation="sdpa").cuda().eval()

    def gen(batch):
        enc = tok(batch, return_tensors="pt", padding=True).to("cuda")
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new, min_new_tokens=max_new, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        return (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]

    gen(prompts[:2])  # warm-up (kernels, cuBLAS handles)
    for b in batches:
        try:
            torch.cuda.synchronize()
            t0, tokens = time.time(), 0
            for i in range(0, len(prompts), b):
                tokens += gen(prompts[i:i + b])
            torch.cuda.synchronize()
            rate = tokens / (time.time() - t0)
            break
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            print("  transformers: batch %d ran out of memory; trying a smaller one" % b)
    else:
        sys.exit("bench_generate: transformers ran out of memory at every batch size")
    del model
    torch.cuda.empty_cache()
    return rate, b


def copy_bandwidth(torch):
    """Device-to-device copy bandwidth of a 1 GiB tensor: bytes read + written / time (best of 3 x 10)."""
    n = 1 << 30
    x = torch.empty(n, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    y.copy_(x)
    best = float("inf")
    for _ in range(3):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(10):
            y.copy_(x)
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1000 / 10)
    del x, y
    torch.cuda.empty_cache()
    return 2 * n / best


def weight_bytes(model_dir):
    """Bytes of the bf16 weights read per decoded token (a tied LM head counted once)."""
    from safetensors import safe_open
    total = 0
    with safe_open(os.path.join(model_dir, "model.safetensors"), "pt") as f:
        for name in f.keys():
            total += _numel(f.get_slice(name).get_shape())
    return 2 * total


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def main():
    args = parse_args()
    torch, gpu = start_torch_gpu("bench_generate", "the GPU engine and transformers on a GPU", args.work, "generate",
                                 "dev/make_model")
    bw = copy_bandwidth(torch)
    print("device: %s; device-to-device copy bandwidth %.0f GB/s" % (gpu, bw / 1e9))
    prompts = make_prompts(args.prompts)
    batches = [int(b) for b in args.hf_batches.split(",")]
    rows = []
    for preset in args.models.split(","):
        model_dir = make_preset("bench_generate", preset, args.work, args.tokenizer)
        print("%s: %s" % (preset, model_dir))
        slots = args.slots or len(prompts)
        r1_rate, _ = run_r1(model_dir, prompts, args.max_new_tokens, slots, args.work, args.no_graph)
        print("  r1: %d prompts x %d tokens, %d slots: %.0f tokens/s" % (len(prompts), args.max_new_tokens, slots,
                                                                          r1_rate))
        b1_rate, _ = run_r1(model_dir, prompts[:1], args.max_new_tokens, 1, args.work, args.no_graph)
        limit = bw / weight_bytes(model_dir)
        print("  r1 batch 1: %.0f tokens/s; bandwidth limit %.0f tokens/s" % (b1_rate, limit))
        hf_rate, hf_batch = (float("nan"), 0) if args.skip_hf else run_hf(torch, model_dir, prompts,
                                                                          args.max_new_tokens, batches)
        if not args.skip_hf:
            print("  transformers: batch %d: %.0f tokens/s" % (hf_batch, hf_rate))
        rows.append(dict(model=preset, r1=r1_rate, hf=hf_rate, hf_batch=hf_batch, b1=b1_rate, limit=limit))
    print("\n%s, %d prompts x %d new tokens (greedy, eos ignored)" % (gpu, len(prompts), args.max_new_tokens))
    print("| model | r1 tokens/s | HF tokens/s (batch) | ratio | target |")
    print("|---|---|---|---|---|")
    for r in rows:
        target = ">= 10x HF" + (", >= 30k tok/s on H100" if r["model"] == "0.5B" else "")
        print("| %s | %.0f | %.0f (%d) | %.1fx | %s |" % (r["model"], r["r1"], r["hf"], r["hf_batch"],
                                                         r["r1"] / r["hf"], target))
    print("\n| model | r1 batch-1 tokens/s | bandwidth limit tokens/s | share | target |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.0f | %.0f | %.0f%% | >= 70%% |" % (r["model"], r["b1"], r["limit"], 100 * r["b1"] / r["limit"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=gpu, copy_bandwidth=bw, prompts=len(prompts), max_new_tokens=args.max_new_tokens,
                           rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
