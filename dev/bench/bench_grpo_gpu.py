"""
dev/bench/bench_grpo_gpu.py: one GRPO step of the Datawhale-R1 shape with ./train_grpo on the GPU, its
time split (rollout / reference + rewards / training), tokens/s and memory, for random-init Qwen2.5-0.5B,
1.5B and 3B; the memory of 3B with one GPU's share of a 3-GPU run; and the projected time of the whole
450-step Datawhale recipe on 3 x A800.

    make train_grpo train_sft dev/make_model     # train_grpo built with nvcc (the GPU path)
    python3 dev/bench/bench_grpo_gpu.py [--models 0.5B,1.5B,3B] [--steps 2] [--share-all]

Each model: a random-init Qwen2.5 folder (./dev/make_model --preset, bf16) with the Qwen2.5 tokenizer
files (../shared/qwen, or --tokenizer DIR), then
    ./train_grpo --model DIR --recipe datawhale --steps S --eval-n 0
i.e. 16 prompts x G 8 (128 completions) of up to 1024 new tokens at T 0.9, beta 0.001 (a frozen bf16
reference model), lr 5e-7, with --micro-batch the recipe's 16 or, where the memory plan (below) says it
does not fit this GPU, the largest of 8, 4, 2, 1 that does (memory only: the update is the same). The figures are those of the last step (the first is
warm-up: allocation, CUDA-graph capture).
- Completion length: train_grpo has no --ignore-eos. A random-init model samples nearly uniformly over
  151,936 tokens, so an eos (3 ids) ends a completion with probability ~2e-5 per token: almost every
  completion runs the full 1024 tokens. The measured mean length is printed; a step is scaled to 1024.
- Time split: train_grpo's own timers, read from its progress line ("rollout, score, train", the
  time_rollout / time_score / time_train of metrics.jsonl). "score" = the rewards (host, milliseconds)
  + the reference model's log-probs (a prefill of every prompt + completion and the forward-only head):
  there is no separate reference timer. train_grpo runs without --out here: a run with --out writes a
  checkpoint at its end (3B: weights + AdamW moments, ~36 GB of disk) that the step does not need.
- Tokens/s: generated tokens / rollout time; (prompt + completion) tokens / training time is not
  available from the progress line, so training is given as completion tokens / s.
- Memory: the most nvidia-smi shows during the run (device 0). 3B is also run with one GPU's share of
  a 3-GPU run (6 prompts of the 16, the largest share: 6 + 5 + 5), measured, and then by arithmetic
  without the 2/3 of the AdamW moments and master weights that ZeRO-1 keeps on the other GPUs; plus the
  whole plan by arithmetic (./train_sft --memory-plan for the trainer at 16 x 1280, the reference model,
  both KV caches), no GPU needed.
Projection to 3 x A800 (80 GB, 2.04 TB/s, 312 TFLOP/s bf16 dense), per phase, from the measured step:
  rollout (decode: memory-bound) x the measured GPU's bandwidth / 2.04 TB/s (H100 SXM 3.35, H200 4.8);
  score + training (prefill, forward + backward: compute-bound) x its bf16 peak / 312 (H100 / H200 989);
  (a) the full 16-prompt step scaled so, / 3 GPUs (data parallel: each GPU takes a third of the prompts);
  (b) the per-GPU-share step (6 prompts) scaled so, not divided (it is what the slowest GPU does; decode
      steps cost about as much for 48 sequences as for 128, so (a) flatters the rollout);
  x 450 steps; the ZeRO-1 collectives (a reduce-scatter of the fp32 gradients and an all-gather of the
  bf16 weights, once a step, ~0.1 s over NVLink for 3B) are left out. Target: <= 2.5 hours.
Exits with a message where there is no CUDA GPU.
"""
import json, os, re, subprocess, sys, time

from common import ROOT, SmiPoll, build, device_specs, gpu_arg_parser, make_preset, need_smi_gpu
A800_PEAK, A800_BW = 312e12, 2.04e12
STEPS_RECIPE, TARGET_H = 450, 2.5
PROGRESS = re.compile(r"step\s+(\d+)/(\d+) \| reward (\S+) \| acc\s+(\S+)% \| len\s+(\S+) \| kl (\S+) \| clip (\S+) \| "
                      r"(\S+) s/step \(rollout (\S+), score (\S+), train (\S+)\)")


def parse_args():
    ap = gpu_arg_parser(__doc__, "0.5B,1.5B,3B", "/tmp/r1_bench_grpo_gpu")
    ap.add_argument("--steps", type=int, default=2, help="GRPO steps per run (the last one is measured)")
    ap.add_argument("--share-all", action="store_true", help="also run every model with one GPU's share (6 prompts)")
    ap.add_argument("--peak", type=float, default=0, help="bf16 dense peak of this GPU in TFLOP/s (default: by name)")
    ap.add_argument("--bandwidth", type=float, default=0, help="memory bandwidth of this GPU in TB/s (default: by name)")
    ap.add_argument("--micro-batch", type=int, default=0,
                    help="completions per forward/backward (default: the recipe's 16, or less where the plan does not "
                         "fit this GPU)")
    return ap.parse_args()


def device_rates(name, args):
    peak, bw = device_specs(name)
    peak = args.peak * 1e12 if args.peak > 0 else peak
    bw = args.bandwidth * 1e12 if args.bandwidth > 0 else bw
    if peak is None or bw is None:
        sys.exit("bench_grpo_gpu: unknown peak / bandwidth for '%s': give --peak TFLOPS --bandwidth TBPS" % name)
    return peak, bw


def run_grpo(model_dir, prompts, steps, micro):
    """./train_grpo --recipe datawhale on the GPU; the last step's figures, or an error string."""
    cmd = [os.path.join(ROOT, "train_grpo"), "--model", model_dir, "--recipe", "datawhale", "--steps", str(steps),
           "--prompts", str(prompts), "--micro-batch", str(micro), "--eval-n", "0"]
    print("  $ " + " ".join(cmd))
    t0 = time.time()
    with SmiPoll() as smi:
        r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if r.returncode != 0:
        tail = (r.stdout[-1500:] + r.stderr[-1500:]).strip()
        print("  failed (exit %d):\n%s" % (r.returncode, tail))
        last = tail.splitlines()[-1] if tail else "exit %d" % r.returncode
        return dict(error=last, smi_gib=smi.peak / 1024)
    if "rollouts with the GPU engine" not in r.stdout:
        sys.exit("bench_grpo_gpu: ./train_grpo ran the CPU path (%s): build it with nvcc (make train_grpo)" %
                 r.stdout.strip().splitlines()[0])
    steps_seen = [m for m in PROGRESS.finditer(r.stdout)]
    if not steps_seen:
        sys.exit("bench_grpo_gpu: no progress line in ./train_grpo's output:\n%s" % r.stdout[-2000:])
    for m in steps_seen:
        print("  step %s: %s s (rollout %s, score %s, train %s), mean length %s" % (m.group(1), m.group(8), m.group(9),
                                                                                   m.group(10), m.group(11), m.group(5)))
    m = steps_seen[-1]
    res = dict(prompts=prompts, micro=micro, completions=prompts * 8, len_mean=float(m.group(5)), t_rollout=float(m.group(9)),
               t_score=float(m.group(10)), t_train=float(m.group(11)), smi_gib=smi.peak / 1024, wall=wall)
    gen = res["completions"] * res["len_mean"]
    res["gen_tps"] = gen / res["t_rollout"] if res["t_rollout"] > 0 else float("nan")
    res["train_tps"] = gen / res["t_train"] if res["t_train"] > 0 else float("nan")
    return res


def config_of(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    NH = c["num_attention_heads"]
    return dict(C=c["hidden_size"], I=c["intermediate_size"], L=c["num_hidden_layers"], V=c["vocab_size"], NH=NH,
                NKV=c["num_key_value_heads"], HD=c.get("head_dim", c["hidden_size"] // NH),
                tied=c.get("tie_word_embeddings", False))


def n_params(c):
    C, I, L, V, QD, KVD = c["C"], c["I"], c["L"], c["V"], c["NH"] * c["HD"], c["NKV"] * c["HD"]
    layer = 2 * C + C * QD + QD + 2 * (C * KVD + KVD) + QD * C + 3 * C * I
    return V * C * (1 if c["tied"] else 2) + L * layer + C


def memory_plan(c, world, micro, prompts, G=8, prompt_len=256, max_new=1024):
    """GiB per GPU of a Datawhale run (arithmetic): the trainer from ./train_sft --memory-plan at micro x T
    (GRPO's GpuTrain: T = max_completion + 256), the bf16 reference model, its prefill cache for one
    micro-batch, and the rollout KV cache (+ fp32 logits) of `prompts` x G completions on this GPU."""
    T = max_new + 256
    plan = subprocess.run([os.path.join(ROOT, "train_sft"), "--memory-plan", "--preset", c["preset"], "--gpus",
                           str(world), "--batch", str(micro), "--seq-len", str(T)], capture_output=True, text=True)
    m = re.search(r"^\s*total\s+([\d.]+) GiB", plan.stdout, re.M)
    trainer = float(m.group(1)) if m else float("nan")
    Gi, KVD, QD = 2**30, c["NKV"] * c["HD"], c["NH"] * c["HD"]
    ref = 2 * n_params(c) / Gi
    tokens = micro * T  # the reference prefill: one micro-batch of rows as a step of the inference forward
    ref_cache = (2 * c["L"] * micro * T * KVD * 2 + tokens * (3 * c["C"] + 2 * QD + 2 * KVD + 3 * c["I"]) * 2) / Gi
    rows = prompts * G + 1
    kv = (2 * c["L"] * rows * (prompt_len + max_new) * KVD * 2 + rows * c["V"] * 4) / Gi
    return dict(plan_text=plan.stdout + plan.stderr, micro=micro, trainer=trainer, ref=ref, ref_cache=ref_cache,
                kv=kv, total=trainer + ref + ref_cache + kv)


def fit_micro(c, world, prompts, gib):
    """The largest micro-batch (16, the recipe's, down to 1) whose plan fits in 90% of gib; 1 if none does."""
    for micro in (16, 8, 4, 2, 1):
        p = memory_plan(c, world, micro, prompts)
        if p["total"] <= 0.9 * gib:
            return p
    return memory_plan(c, world, 1, prompts)


def a800_step(r, peak, bw, divide):
    """Seconds of one step on an A800, per phase, from a measured step scaled to 1024-token completions."""
    scale = 1024.0 / r["len_mean"] if r["len_mean"] > 0 else 1.0
    roll = r["t_rollout"] * scale * bw / A800_BW
    score = r["t_score"] * scale * peak / A800_PEAK
    train = r["t_train"] * scale * peak / A800_PEAK
    d = 3.0 if divide else 1.0
    return roll / d, score / d, train / d


def main():
    args = parse_args()
    gpu, gpu_gib = need_smi_gpu("bench_grpo_gpu", "GRPO on a GPU")
    peak, bw = device_rates(gpu, args)
    os.makedirs(args.work, exist_ok=True)
    build("train_grpo", "train_sft", "dev/make_model")
    print("device: %s, bf16 dense peak %.0f TFLOP/s, bandwidth %.2f TB/s" % (gpu, peak / 1e12, bw / 1e12))
    rows, share = [], {}
    presets = args.models.split(",")
    for preset in presets:
        model_dir = make_preset("bench_grpo_gpu", preset, args.work, args.tokenizer)
        c = config_of(model_dir)
        c["preset"] = preset
        micro = args.micro_batch or fit_micro(c, 1, 16, gpu_gib)["micro"]
        print("%s: %s, micro-batch %d" % (preset, model_dir, micro))
        r = run_grpo(model_dir, 16, args.steps, micro)
        r["model"] = preset
        rows.append(r)
        if preset == "3B" or args.share_all:
            micro = args.micro_batch or fit_micro(c, 1, 6, gpu_gib)["micro"]
            print("%s, one GPU's share of a 3-GPU run (6 of the 16 prompts), micro-batch %d:" % (preset, micro))
            share[preset] = run_grpo(model_dir, 6, args.steps, micro)
            share[preset]["model"] = preset
            share[preset]["plan16"] = memory_plan(c, 3, 16, 6)  # the recipe's micro-batch on an A800
            share[preset]["plan"] = fit_micro(c, 3, 6, 80.0)
            moments = 8 * n_params(c) * 2 / 3 / 2**30 + 4 * n_params(c) * 2 / 3 / 2**30  # m, v + master: 2/3 elsewhere
            share[preset]["zero1_gib"] = share[preset]["smi_gib"] - moments if "error" not in share[preset] else None

    print("\n%s, Datawhale shape: 16 prompts x G 8, up to 1024 new tokens, beta 0.001, last of %d steps" %
          (gpu, args.steps))
    print("| model | micro-batch | completions | mean length | rollout s | score (rewards + reference) s | training s | step s | "
          "generated tokens/s | training completion tokens/s | nvidia-smi max |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows + [dict(v, model=k + " (6-prompt share)") for k, v in share.items()]:
        if "error" in r:
            print("| %s | - | - | - | - | - | - | - | - | - | %.1f GiB (failed: %s) |" % (r["model"], r["smi_gib"],
                                                                                   r["error"]))
            continue
        print("| %s | %d | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %.1f GiB |" % (
            r["model"], r["micro"], r["completions"], r["len_mean"], r["t_rollout"], r["t_score"], r["t_train"],
            r["t_rollout"] + r["t_score"] + r["t_train"], r["gen_tps"], r["train_tps"], r["smi_gib"]))

    for k, s in share.items():
        p, p16 = s["plan"], s["plan16"]
        print("\n%s on 3 GPUs, memory per GPU (ZeRO-1; 6 prompts x 8 completions of up to 1024 + 256 tokens):" % k)
        print("  arithmetic at the recipe's micro-batch of 16: %.1f GiB per GPU (%s 80 GB: activations for 16 x "
              "1280 tokens)" % (p16["total"], "fits" if p16["total"] <= 72 else "does NOT fit"))
        if s.get("zero1_gib") is not None:
            print("  measured on one GPU with the 6-prompt share: %.1f GiB (nvidia-smi max, full moments and master "
                  "weights); less the 2/3 of them ZeRO-1 keeps elsewhere: %.1f GiB" % (s["smi_gib"], s["zero1_gib"]))
        print("  arithmetic at micro-batch %d (the largest within 90%% of 80 GB): trainer (./train_sft --memory-plan, "
              "%d x 1280) %.1f + reference model %.1f + its prefill %.1f + rollout KV cache and logits %.1f = %.1f GiB"
              % (p["micro"], p["micro"], p["trainer"], p["ref"], p["ref_cache"], p["kv"], p["total"]))
        print("  " + p["plan_text"].strip().replace("\n", "\n  "))

    print("\nProjected time of the 450-step Datawhale recipe on 3 x A800 (method in the docstring: rollout x %.2f / "
          "2.04 TB/s, score + training x %.0f / 312 TFLOP/s, completions scaled to 1024 tokens):" % (bw / 1e12,
                                                                                                     peak / 1e12))
    proj = {}
    for r in rows:
        if "error" in r:
            continue
        ro, sc, tr = a800_step(r, peak, bw, True)
        step = ro + sc + tr
        proj[r["model"]] = step * STEPS_RECIPE / 3600
        print("  %s (a) full step / 3 GPUs: rollout %.1f + score %.1f + training %.1f = %.1f s/step -> %.2f h %s" % (
            r["model"], ro, sc, tr, step, proj[r["model"]], "(<= 2.5 h)" if proj[r["model"]] <= TARGET_H else
            "(over the 2.5 h target)"))
    for k, s in share.items():
        if "error" in s:
            continue
        ro, sc, tr = a800_step(s, peak, bw, False)
        step = ro + sc + tr
        h = step * STEPS_RECIPE / 3600
        proj[k + " share"] = h
        print("  %s (b) one GPU's share (6 prompts), not divided: rollout %.1f + score %.1f + training %.1f = %.1f "
              "s/step -> %.2f h %s" % (k, ro, sc, tr, step, h, "(<= 2.5 h)" if h <= TARGET_H else
                                       "(over the 2.5 h target)"))
    print("  (the seed recipe: 20 h on 3 x A800 with TRL + vLLM; target <= 2.5 h)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=gpu, peak=peak, bandwidth=bw, rows=rows,
                           share={k: {kk: vv for kk, vv in v.items()} for k, v in share.items()},
                           projected_hours=proj), f, indent=1)


if __name__ == "__main__":
    main()
