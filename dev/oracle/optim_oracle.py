"""
dev/oracle/optim_oracle.py: makes the fixtures that tests/test_optim.c checks r1.h's optimizer against.

Oracles (nobody here wrote them): torch.optim.AdamW, torch.nn.utils.clip_grad_norm_, the transformers
learning-rate schedules and Trainer.get_decay_parameter_names. Writes, under tests/fixtures/optim/:

  adamw.json   tiny Qwen2 config, optimizer settings, the lr and the pre-clip grad norm of every step,
               which Hugging Face names get weight decay, and offsets (in floats) into adamw.bin
  adamw.bin    little-endian float32: initial params, the gradient of every step, torch's params
               after selected steps, the final AdamW moments m and v, and the final params of the
               fused AdamW (the Trainer's default, optim="adamw_torch_fused")
  schedules.json  lr per scheduler step for several transformers schedules, plus warmup-ratio rounding

The flat parameter buffer is laid out as r1.h lays it out: PARAM_SPECS order, per-layer tensors stacked
over layers (layer 0 first). Run from the repository root:  python3 dev/oracle/optim_oracle.py
"""
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import torch
import transformers
from transformers import Qwen2Config, Qwen2ForCausalLM, Trainer, TrainingArguments

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "optim")

# r1.h's PARAM_SPECS order: (Hugging Face name, stacked over layers)
PARAM_SPECS = [
    ("model.embed_tokens.weight", False),
    ("model.layers.%d.input_layernorm.weight", True),
    ("model.layers.%d.self_attn.q_proj.weight", True),
    ("model.layers.%d.self_attn.q_proj.bias", True),
    ("model.layers.%d.self_attn.k_proj.weight", True),
    ("model.layers.%d.self_attn.k_proj.bias", True),
    ("model.layers.%d.self_attn.v_proj.weight", True),
    ("model.layers.%d.self_attn.v_proj.bias", True),
    ("model.layers.%d.self_attn.o_proj.weight", True),
    ("model.layers.%d.post_attention_layernorm.weight", True),
    ("model.layers.%d.mlp.gate_proj.weight", True),
    ("model.layers.%d.mlp.up_proj.weight", True),
    ("model.layers.%d.mlp.down_proj.weight", True),
    ("model.norm.weight", False),
    ("lm_head.weight", False),
]

CONFIG = dict(vocab_size=16, hidden_size=8, intermediate_size=12, num_hidden_layers=2, num_attention_heads=2,
              num_key_value_heads=1, max_position_embeddings=64)
STEPS = 20
SNAPSHOTS = [1, 2, 3, 5, 8, 10, 15, 20]
LR, WARMUP, WD, MAX_NORM = 1e-2, 3, 0.1, 1.0
BETAS, EPS = (0.9, 0.95), 1e-8


def flat_names(model, tied):
    """Parameter names in r1.h's flat order."""
    names = []
    for name, per_layer in PARAM_SPECS:
        if name == "lm_head.weight" and tied:
            continue
        if per_layer:
            names += [name % l for l in range(CONFIG["num_hidden_layers"])]
        else:
            names.append(name)
    return names


def flatten(tensors):
    return torch.cat([t.detach().reshape(-1) for t in tensors]).numpy().astype("<f4")


def run_adamw(model, names, grads, fused):
    """The HF Trainer's update, step by step: clip_grad_norm_, AdamW step, scheduler step."""
    params = dict(model.named_parameters())
    decay = set(Trainer.get_decay_parameter_names(None, model))
    groups = [  # as Trainer.create_optimizer builds them
        {"params": [params[n] for n in names if n in decay], "weight_decay": WD},
        {"params": [params[n] for n in names if n not in decay], "weight_decay": 0.0},
    ]
    kw = dict(fused=True) if fused else dict(foreach=False)  # foreach=False: the plain for-loop code
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS, **kw)
    sched = transformers.get_cosine_schedule_with_warmup(opt, WARMUP, STEPS)
    lrs, norms, snaps = [], [], {}
    ordered = [params[n] for n in names]
    for step in range(1, STEPS + 1):
        g = grads[step - 1]
        at = 0
        for p in ordered:
            p.grad = torch.from_numpy(g[at:at + p.numel()].copy()).reshape(p.shape)
            at += p.numel()
        norm = torch.nn.utils.clip_grad_norm_(ordered, MAX_NORM)
        lrs.append(opt.param_groups[0]["lr"])
        norms.append(float(norm))
        opt.step()
        sched.step()
        if step in SNAPSHOTS:
            snaps[step] = flatten(ordered)
    m = flatten([opt.state[p]["exp_avg"] for p in ordered])
    v = flatten([opt.state[p]["exp_avg_sq"] for p in ordered])
    return lrs, norms, snaps, m, v, sorted(decay)


def adamw_fixture():
    torch.manual_seed(1234)
    rng = np.random.default_rng(1234)
    model = Qwen2ForCausalLM(Qwen2Config(tie_word_embeddings=False, **CONFIG))
    with torch.no_grad():  # random everything (norms and biases too), so decay and updates show everywhere
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.5, p.shape).astype(np.float32)))
    names = flat_names(model, tied=False)
    init = flatten([dict(model.named_parameters())[n] for n in names])
    n = init.size
    # gradients: odd steps small (no clipping), even steps large (clipped); step 7 in between
    scales = [0.02 if s % 2 else 0.5 for s in range(1, STEPS + 1)]
    scales[6] = 1.0 / math.sqrt(n)
    grads = [(rng.normal(0.0, 1.0, n) * sc).astype("<f4") for sc in scales]

    state = {k: v.clone() for k, v in model.state_dict().items()}
    lrs, norms, snaps, m, v, decay = run_adamw(model, names, grads, fused=False)
    model.load_state_dict(state)
    _, _, fsnaps, _, _, _ = run_adamw(model, names, grads, fused=True)

    blobs, offsets, at = [], {}, 0
    def add(key, arr):
        nonlocal at
        offsets[key] = at
        blobs.append(arr)
        at += arr.size
    add("init", init)
    for s in range(STEPS):
        add("grad_%d" % (s + 1), grads[s])
    for s in SNAPSHOTS:
        add("params_%d" % s, snaps[s])
    add("m_final", m)
    add("v_final", v)
    add("params_final_fused", fsnaps[STEPS])
    with open(os.path.join(OUT, "adamw.bin"), "wb") as f:
        for b in blobs:
            f.write(b.tobytes())

    tied = Qwen2ForCausalLM(Qwen2Config(tie_word_embeddings=True, **CONFIG))
    meta = {
        "source": "torch %s AdamW (foreach=False and fused=True), clip_grad_norm_, transformers %s "
                  "get_cosine_schedule_with_warmup" % (torch.__version__, transformers.__version__),
        "config": dict(CONFIG, tie_word_embeddings=False),
        "n": int(n), "steps": STEPS, "snapshots": SNAPSHOTS,
        "lr": LR, "warmup_steps": WARMUP, "weight_decay": WD, "max_grad_norm": MAX_NORM,
        "beta1": BETAS[0], "beta2": BETAS[1], "eps": EPS,
        "lr_per_step": lrs, "grad_norm_per_step": norms, "offsets": offsets,
        "all_names": names,
        "decay_names": decay,
        "decay_names_tied": sorted(Trainer.get_decay_parameter_names(None, tied)),
        "all_names_tied": [k for k, _ in tied.named_parameters()],
    }
    with open(os.path.join(OUT, "adamw.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("adamw: n=%d, norms %s" % (n, ["%.3f" % x for x in norms]))


def lrs_of(name, base_lr, warmup, total, kwargs, count):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=base_lr)
    sched = transformers.get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=total,
                                       scheduler_specific_kwargs=kwargs)
    out = []
    for _ in range(count):  # the lr used by update k (1-based) is the one read before the k-th sched.step()
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def schedules_fixture():
    cases = [
        ("constant", 3e-4, 0, 10, {}),
        ("constant_with_warmup", 3e-4, 5, 12, {}),
        ("linear", 1e-3, 3, 20, {}),
        ("linear", 1e-3, 0, 10, {}),
        ("cosine", 1e-3, 3, 20, {}),
        ("cosine", 2e-5, 0, 17, {}),
        ("cosine", 1e-3, 4, 30, {"num_cycles": 1.0}),
        ("cosine_with_min_lr", 1e-3, 3, 20, {"min_lr_rate": 0.1}),
        ("cosine_with_min_lr", 1e-4, 2, 15, {"min_lr": 1e-5}),
    ]
    out = []
    for name, lr, w, total, kw in cases:
        out.append({"name": name, "lr": lr, "warmup_steps": w, "total_steps": total,
                    "num_cycles": kw.get("num_cycles", 0.5), "min_lr_rate": kw.get("min_lr_rate", 0.0),
                    "min_lr": kw.get("min_lr", 0.0), "lrs": lrs_of(name, lr, w, total, kw, total + 3)})
    # TrainingArguments.get_warmup_steps: warmup given as a fraction of the total (ceil)
    warm = [{"warmup": r, "total": t, "steps": TrainingArguments.get_warmup_steps(SimpleNamespace(warmup_steps=r), t)}
            for r, t in [(0.1, 25), (0.03, 1000), (0.05, 7), (0.0, 10), (5, 100)]]
    with open(os.path.join(OUT, "schedules.json"), "w") as f:
        json.dump({"source": "transformers %s get_scheduler" % transformers.__version__, "cases": out,
                   "warmup": warm}, f, indent=1)
    print("schedules: %d cases" % len(out))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    adamw_fixture()
    schedules_fixture()
