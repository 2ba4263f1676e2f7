"""
dev/oracle/grpo_oracle.py: makes tests/fixtures/grpo/loss.json, which tests/test_grpo.c checks r1.h's
GRPO math (grpo_advantages, grpo_token_weights, grpo_loss_backward) against.

Oracles (nobody here wrote them):
  verl 0.9.1   called directly: verl.trainer.ppo.core_algos.compute_grpo_outcome_advantage (advantages),
               compute_policy_loss (the clipped surrogate with dual clip; the non-deprecated
               compute_policy_loss_vanilla is the same code behind an ActorConfig), kl_penalty (k1, k2,
               k3 = low_var_kl, "k3+"), agg_loss (token-mean, seq-mean-token-mean,
               seq-mean-token-sum-norm), and verl.utils.torch_functional.entropy_from_logits, combined as
               verl/workers/utils/losses.py ppo_loss does (pg - entropy_coeff*entropy + kl_coef*kl).
  TRL 1.16.0   GRPOTrainer._compute_loss (trl/trainer/grpo_trainer.py L3020-3250) needs a model, an
               accelerator and a trainer, so its loss is transcribed below line by line in PyTorch
               (trl_compute_loss), and its advantage code (L2765-2787) likewise (trl_advantages).
Autograd (float64) gives d loss / d logits. Inputs: one group of B=4 completions, T=6 tokens, V=64,
random logits; old log-probs differ from the current ones so that some tokens clip (ratios are
kept at least 1e-3 away from every clip boundary, so fp32 in C cannot pick the other branch).

Import trick: verl/__init__.py imports verl.protocol, which needs ray and tensordict; core_algos
itself needs only torch, numpy, omegaconf and (through verl.utils) tensordict and codetiming.
Run from the repository root:  python3 dev/oracle/grpo_oracle.py
  (pip install --no-deps verl==0.9.1 tensordict; pip install omegaconf codetiming pyvers ray)
"""
import json
import os
import warnings

import numpy as np
import torch

import verl.trainer.ppo.core_algos as core_algos
import verl.utils.torch_functional as verl_F

warnings.filterwarnings("ignore")
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "grpo")
B, T, V = 4, 6, 64
STATS = {}  # verl's clip metrics of the last verl_loss call


def f32(x):
    return np.asarray(x, dtype=np.float32)


def flist(x):  # float32 values, written with the 9 digits that round-trip them
    return [float("%.9g" % v) for v in np.asarray(x, dtype=np.float32).ravel()]


# ---------------------------------------------------------------------------------------------
# TRL 1.16.0, transcribed
def trl_advantages(rewards, G, scale_rewards):
    """grpo_trainer.py L2765-2787 (multi_objective_aggregation="sum_then_normalize"); nanstd is
    trl/trainer/utils.py's unbiased std (count/(count-1) correction)."""
    mean = rewards.view(-1, G).mean(dim=1).repeat_interleave(G, dim=0)
    if scale_rewards in ["group", "none"]:
        std = rewards.view(-1, G).std(dim=1).repeat_interleave(G, dim=0)
    else:  # "batch"
        std = rewards.std().expand_as(rewards)
    adv = rewards - mean
    if scale_rewards != "none":
        adv = adv / (std + 1e-4)
    return adv


def trl_compute_loss(logits, tokens, mask, old_logps, ref_logps, adv, temperature, loss_type, beta, eps_low,
                     eps_high, entropy_coef, ga, max_completion_length, num_items_in_batch):
    """grpo_trainer.py L3020-3250, the parts that apply here (token-level importance sampling, no vLLM,
    no entropy mask, no off-policy mask, static entropy coefficient, mode="train", one process,
    steps_per_generation = GA). Per-token log-probs and entropies come from logits / temperature
    (_get_per_token_logps_and_entropies, L1517-1519 in v1.9: logits.div_(self.temperature))."""
    z = logits / temperature
    logps_all = torch.log_softmax(z, dim=-1)
    per_token_logps = logps_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    entropies = -(logps_all.exp() * logps_all).sum(-1)
    advantages = adv.unsqueeze(1)
    old_per_token_logps = per_token_logps.detach() if old_logps is None else old_logps  # L3063-3064
    log_ratio = per_token_logps - old_per_token_logps
    coef_1 = torch.exp(log_ratio)
    if beta != 0.0:
        per_token_kl = torch.exp(ref_logps - per_token_logps) - (ref_logps - per_token_logps) - 1
    coef_2 = torch.clamp(coef_1, 1 - eps_low, 1 + eps_high)
    per_token_loss1 = coef_1 * advantages
    per_token_loss2 = coef_2 * advantages
    per_token_loss = -torch.min(per_token_loss1, per_token_loss2)
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl
    if loss_type == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean() / ga
    elif loss_type == "bnpo":
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0) / ga
    elif loss_type == "dr_grpo":
        loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * max_completion_length) / ga
    elif loss_type == "dapo":
        normalizer = torch.tensor(float(num_items_in_batch)).clamp(min=1.0) / 1  # / num_processes
        normalizer = normalizer * ga / ga  # * GA / steps_per_generation
        loss = (per_token_loss * mask).sum() / normalizer
    if entropy_coef != 0.0:
        entropy_loss = (entropies * mask).sum() / mask.sum().clamp(min=1.0) / ga
        loss = loss - entropy_coef * entropy_loss
    return loss


# ---------------------------------------------------------------------------------------------
# verl 0.9.1, called
def verl_loss(logits, tokens, mask, old_logps, ref_logps, adv, temperature, agg, eps_low, eps_high, clip_c,
              kl_type, kl_coef, entropy_coeff):
    """verl/workers/utils/losses.py ppo_loss: pg_loss - entropy_coeff * entropy_loss + kl_loss * kl_coef,
    all aggregated with the same loss_agg_mode (dp_size 1). log_prob from logits / temperature."""
    z = logits / temperature
    log_prob = torch.log_softmax(z, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    advantages = adv.unsqueeze(1).expand(B, T)
    pg_loss, clipfrac, _, clipfrac_lower = core_algos.compute_policy_loss(old_logps, log_prob, advantages, mask, cliprange=eps_low,
                                                      cliprange_low=eps_low, cliprange_high=eps_high,
                                                      clip_ratio_c=clip_c, loss_agg_mode=agg)
    loss = pg_loss
    if entropy_coeff != 0.0:
        entropy = verl_F.entropy_from_logits(z)
        loss = loss - entropy_coeff * core_algos.agg_loss(entropy, mask, agg)
    if kl_coef != 0.0:
        kld = core_algos.kl_penalty(logprob=log_prob, ref_logprob=ref_logps, kl_penalty=kl_type)
        loss = loss + kl_coef * core_algos.agg_loss(kld, mask, agg)
    STATS["clipfrac"], STATS["clipfrac_lower"] = clipfrac.item(), clipfrac_lower.item()
    return loss


def verl_advantages(rewards, G, eps, norm):
    index = np.repeat(np.arange(len(rewards) // G), G)
    a, _ = core_algos.compute_grpo_outcome_advantage(rewards.unsqueeze(-1).clone(), torch.ones(len(rewards), 1),
                                                     index, epsilon=eps, norm_adv_by_std_in_grpo=norm)
    return a.squeeze(-1)


# ---------------------------------------------------------------------------------------------
def make_inputs(rng):
    logits = torch.tensor(f32(rng.normal(0, 2.0, (B, T, V))).astype(np.float64))
    tokens = torch.tensor(rng.integers(0, V, (B, T)))
    lengths = [6, 3, 5, 1]  # mask: 1 up to and including the first EOS
    mask = torch.tensor([[1.0 if t < n else 0.0 for t in range(T)] for n in lengths])
    return logits, tokens, mask


def logps_at(logits, tokens, temperature):
    return torch.log_softmax(logits / temperature, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def make_old_ref(rng, logp, bounds):
    """old = logp + noise, redrawn until every ratio is >= 1e-3 from the clip boundaries (relative);
    ref = logp + noise, with one large gap (logr - logp = 3) so verl's k3 clamp at 10 is exercised."""
    old = torch.empty_like(logp)
    for i in range(B):
        for t in range(T):
            while True:
                o = float(f32(logp[i, t].item() + rng.normal(0, 0.35)))
                rho = np.exp(logp[i, t].item() - o)
                if all(abs(rho - b) > 1e-3 * b for b in bounds):
                    break
            old[i, t] = o
    old[2, 1] = float(f32(logp[2, 1].item() - 1.5))  # rho ~ 4.5: above the dual clip at 3
    ref = torch.tensor(f32((logp + torch.tensor(rng.normal(0, 0.4, (B, T)))).numpy()).astype(np.float64))
    ref[0, 2] = float(f32(logp[0, 2].item() + 3.0))  # k3 = e^3 - 4 = 16 > 10
    return old, ref


def grad_of(fn, logits):
    x = logits.clone().requires_grad_(True)
    loss = fn(x)
    loss.backward()
    return loss.item(), x.grad


def main():
    rng = np.random.default_rng(20250213)
    logits, tokens, mask = make_inputs(rng)
    rewards = torch.tensor([1.0, 0.1, 0.1, 0.0])  # TinyZero-style: one right, two formatted, one wrong
    temps = [0.7, 1.0]
    old_ref = {}
    for temp in temps:
        old_ref[temp] = make_old_ref(rng, logps_at(logits, tokens, temp), [0.8, 1.2, 1.28, 3.0])
    cases = []

    def add(name, source, loss, grad, adv, temp, **cfg):
        cases.append(dict(name=name, source=source, temperature=temp, loss=loss, adv=flist(adv),
                          dlogits=flist(grad), **cfg))

    # TRL: every loss_type, with and without old log-probs (num_iterations > 1 vs = 1), KL and entropy
    adv_trl = trl_advantages(rewards, B, "group")
    n_window = float(mask.sum().item()) * 2  # dapo: tokens of a 2-step accumulation window
    trl_cases = [
        ("grpo", True, 0.04, 0.2, 0.28, 0.0, 1, 0.7),
        ("grpo", False, 0.04, 0.2, 0.2, 0.0, 1, 0.7),
        ("grpo", True, 0.0, 0.2, 0.2, 0.0, 2, 1.0),
        ("bnpo", True, 0.04, 0.2, 0.28, 0.0, 1, 0.7),
        ("bnpo", False, 0.0, 0.2, 0.2, 0.01, 2, 1.0),
        ("dr_grpo", True, 0.04, 0.2, 0.28, 0.0, 1, 0.7),
        ("dr_grpo", False, 0.04, 0.2, 0.2, 0.0, 1, 0.7),
        ("dapo", True, 0.0, 0.2, 0.28, 0.0, 2, 1.0),
        ("dapo", True, 0.04, 0.2, 0.28, 0.05, 2, 0.7),
        ("grpo", True, 0.04, 0.2, 0.28, 0.02, 1, 0.7),
    ]
    for loss_type, use_old, beta, el, eh, ent, ga, temp in trl_cases:
        old, ref = old_ref[temp]
        fn = lambda x: trl_compute_loss(x, tokens, mask, old if use_old else None, ref, adv_trl, temp, loss_type,
                                        beta, el, eh, ent, ga, T, n_window)
        loss, grad = grad_of(fn, logits)
        name = "trl %s old=%d beta=%g eps=%g/%g ent=%g ga=%d T=%g" % (loss_type, use_old, beta, el, eh, ent, ga, temp)
        add(name, "TRL 1.16.0 _compute_loss (transcribed)", loss, grad, adv_trl, temp, agg=loss_type,
            use_old=int(use_old), beta=beta, eps_low=el, eps_high=eh, entropy_coef=ent, ent_agg="bnpo",
            grad_accum=ga, max_len=T, global_tokens=n_window if loss_type == "dapo" else 0, kl="k3",
            kl_k2_grad=0, dual_clip=0.0, verl_clamps=0)

    # verl: each aggregation mode, dual clip, k1/k2/k3/k3+, entropy
    adv_verl = verl_advantages(rewards, B, 1e-6, True)
    agg_map = {"token-mean": "dapo", "seq-mean-token-mean": "grpo", "seq-mean-token-sum-norm": "dr_grpo"}
    verl_cases = [
        ("token-mean", "k3", 0.001, 0.2, 0.28, 3.0, 0.001, 1.0),
        ("token-mean", "k1", 0.01, 0.2, 0.2, 3.0, 0.0, 0.7),
        ("seq-mean-token-mean", "k2", 0.04, 0.2, 0.2, 3.0, 0.001, 0.7),
        ("seq-mean-token-mean", "k3+", 0.04, 0.2, 0.28, 1e9, 0.0, 1.0),
        ("seq-mean-token-sum-norm", "k3", 0.04, 0.2, 0.28, 3.0, 0.01, 0.7),
    ]
    for agg, kl, coef, el, eh, clip_c, ent, temp in verl_cases:
        old, ref = old_ref[temp]
        fn = lambda x: verl_loss(x, tokens, mask, old, ref, adv_verl, temp, agg, el, eh, clip_c, kl, coef, ent)
        loss, grad = grad_of(fn, logits)
        name = "verl %s kl=%s coef=%g eps=%g/%g clip_c=%g ent=%g T=%g" % (agg, kl, coef, el, eh, clip_c, ent, temp)
        add(name, "verl 0.9.1 core_algos (called)", loss, grad, adv_verl, temp, agg=agg_map[agg], use_old=1,
            beta=coef, eps_low=el, eps_high=eh, entropy_coef=ent, ent_agg="same", grad_accum=1, max_len=T,
            global_tokens=0, kl=kl.rstrip("+"), kl_k2_grad=int(kl.endswith("+")),
            dual_clip=0.0 if clip_c > 100 else clip_c, verl_clamps=1, **STATS)

    # advantages: verl (group, none, group of one) and TRL (group, batch, none) on random rewards
    adv_cases = []
    r8 = torch.tensor(f32(rng.choice([0.0, 0.1, 1.0], 16)).astype(np.float64))
    r8[8:12] = 1.0  # an all-equal group
    for G, eps, norm in [(8, 1e-6, True), (4, 1e-6, True), (4, 1e-6, False), (1, 1e-6, True), (1, 1e-6, False)]:
        a = verl_advantages(r8, G, eps, norm)
        adv_cases.append(dict(source="verl compute_grpo_outcome_advantage", G=G, eps=eps,
                              scale="group" if norm else "none", rewards=flist(r8), adv=flist(a)))
    for G, scale in [(8, "group"), (4, "batch"), (4, "none")]:
        a = trl_advantages(r8, G, scale)
        adv_cases.append(dict(source="TRL 1.16.0 advantages (transcribed)", G=G, eps=1e-4, scale=scale,
                              rewards=flist(r8), adv=flist(a)))

    os.makedirs(OUT, exist_ok=True)
    doc = dict(B=B, T=T, V=V, logits=flist(logits), tokens=[int(v) for v in tokens.ravel()], mask=flist(mask),
               rewards=flist(rewards),
               old_logp={"%g" % t: flist(old_ref[t][0]) for t in temps},
               ref_logp={"%g" % t: flist(old_ref[t][1]) for t in temps}, cases=cases, advantages=adv_cases)
    with open(os.path.join(OUT, "loss.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print("wrote %d loss cases and %d advantage cases to %s" % (len(cases), len(adv_cases), OUT))


if __name__ == "__main__":
    main()
