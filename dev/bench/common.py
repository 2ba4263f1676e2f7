"""
dev/bench/common.py: what the CPU benchmarks against PyTorch share: the flags of the model and
batch, a small random Qwen2 built by transformers, writing it and the batch where the r1 side reads
them, and the alternating rounds (the machine may be shared, so r1 and PyTorch take turns and each
keeps all its step times).

Then what the GPU benchmarks (bench_generate.py, bench_sft_gpu.py, bench_grpo_gpu.py) share: their
model / tokenizer / work / json flags, the GPU checks that end them with a message where there is no
CUDA GPU, building a binary when it is missing, random-init Qwen2.5 presets from ./dev/make_model with
the tokenizer files, the word list of the synthetic text, the GPUs' bf16 peaks and bandwidths, and the
nvidia-smi memory poll.
"""
import argparse, os, shutil, subprocess, sys, threading, time

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


# --- the GPU benchmarks ---------------------------------------------------------------------------------

WORDS = ("the a of to and in that is for on with as by at from this it be are was an or which one all "
         "number prime sum product triangle circle square angle equation solve find compute value answer "
         "reason step first then next finally because therefore total count remainder divide multiply "
         "apple train river mountain city garden letter market clock window bridge forest ocean").split()

# (name fragment, bf16 dense peak FLOP/s, memory bandwidth B/s); the first match wins
DEVICES = [("H100 PCIe", 756e12, 2.0e12), ("H100 NVL", 835e12, 3.9e12), ("H100", 989e12, 3.35e12),
           ("H200", 989e12, 4.8e12), ("H800", 989e12, 3.35e12), ("A100", 312e12, 2.04e12),
           ("A800", 312e12, 2.04e12)]


def gpu_arg_parser(doc, models, work):
    """The GPU benchmarks' parser with their shared flags: --models (make_model presets), --tokenizer,
    --work, --json; each script adds its own."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=models, help="make_model presets, comma-separated")
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "..", "shared", "qwen"),
                    help="folder with the Qwen2.5 vocab.json, merges.txt, tokenizer_config.json")
    ap.add_argument("--work", default=work, help="model folders, data and outputs go here")
    ap.add_argument("--json", help="also write the results here")
    return ap


def need_torch_gpu(who, what):
    """torch, or an exit with a message where there is no PyTorch or no CUDA GPU."""
    try:
        import torch
    except ImportError:
        sys.exit("%s: needs PyTorch with CUDA (pip install torch transformers)" % who)
    if not torch.cuda.is_available():
        sys.exit("%s: no CUDA GPU here (torch.cuda.is_available() is False): this benchmark measures %s; run it "
                 "on a machine with one" % (who, what))
    return torch


def start_torch_gpu(who, what, work, *targets):
    """A torch GPU benchmark's start: torch and the GPU's name (or an exit with a message where there is no
    GPU), the work folder made, the missing binaries built."""
    torch = need_torch_gpu(who, what)
    os.makedirs(work, exist_ok=True)
    build(*targets)
    return torch, torch.cuda.get_device_name(0)


def need_smi_gpu(who, what):
    """(name, total GiB) of GPU 0 from nvidia-smi (no PyTorch needed), or an exit with a message."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        out = None
    if out is None or out.returncode != 0 or not out.stdout.strip():
        sys.exit("%s: no CUDA GPU here (nvidia-smi finds none): this benchmark measures %s; run it on a machine "
                 "with one" % (who, what))
    name = out.stdout.strip().splitlines()[0]
    mem = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits", "-i", "0"],
                         capture_output=True, text=True, timeout=30).stdout
    return name, int(mem.strip().splitlines()[0]) / 1024.0


def device_specs(name):
    """(bf16 dense peak FLOP/s, bandwidth B/s) of a GPU by its name, (None, None) when unknown."""
    for key, peak, bw in DEVICES:
        if key in name:
            return peak, bw
    return None, None


def build(*targets):
    """make each target in the repository root whose file is missing."""
    for target in targets:
        if not os.path.exists(os.path.join(ROOT, target)):
            subprocess.run(["make", target], cwd=ROOT, check=True)


def make_preset(who, preset, work, tok_dir):
    """A random-init Qwen2.5 folder of the preset's size (./dev/make_model, bf16), with the tokenizer files."""
    out = os.path.join(work, "qwen2.5-%s-random" % preset)
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        subprocess.run([os.path.join(ROOT, "dev", "make_model"), "--preset", preset, "--seed", "1", "--dtype",
                        "BF16", "--out", out], check=True)
    for name in ["vocab.json", "merges.txt", "tokenizer_config.json"]:
        src = os.path.join(tok_dir, name)
        if not os.path.exists(src):
            sys.exit("%s: %s is missing: give --tokenizer DIR with the Qwen2.5 tokenizer files "
                     "(vocab.json, merges.txt, tokenizer_config.json)" % (who, src))
        shutil.copyfile(src, os.path.join(out, name))
    return out


class SmiPoll:
    """The most GPU memory nvidia-smi reports (MiB, device 0) while the block runs."""

    def __enter__(self):
        self.peak, self.stop = 0, False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        return self

    def run(self):
        while not self.stop:
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                      "-i", "0"], capture_output=True, text=True, timeout=10).stdout
                self.peak = max(self.peak, int(out.strip().splitlines()[0]))
            except Exception:
                pass
            time.sleep(0.5)

    def __exit__(self, *exc):
        self.stop = True
        self.t.join()
