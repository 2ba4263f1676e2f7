"""
dev/oracle/sft_oracle.py: makes tests/fixtures/sft/, what tests/test_sft.c checks r1.h's SFT step
against: N training steps of a tiny Qwen2 model run by code nobody here wrote (transformers'
Qwen2ForCausalLM, torch.optim.AdamW, torch.nn.utils.clip_grad_norm_, transformers' schedules,
Trainer.get_decay_parameter_names), in the order of the Hugging Face Trainer's training loop.

Every step sees the same fixed batch: ACCUM micro-batches of B rows of T tokens, rows packed with
several documents (position ids restart at 0; transformers detects the packing from position_ids
when no attention_mask is given, which this script checks), labels -100 on "prompt" tokens and on
padding. The step's loss is the mean cross-entropy over all counted tokens of all micro-batches (the
Trainer's num_items_in_batch normalisation), so each micro-batch's backward is of sum(CE) / N.
Schedule: cosine_with_min_lr (warmup 2 steps, floor 0.1 x lr); clipping to a norm that some steps
exceed and some do not (asserted); weight decay 0.1 on the matrices only.

Writes, under tests/fixtures/sft/:
  model_init/   config.json + model.safetensors: the model before training (float32)
  model_final/  config.json + model.safetensors: after STEPS updates
  steps.safetensors  input_ids, position_ids, labels (I32 [ACCUM, B, T]), loss, grad_norm, lr (F32 [STEPS]),
                     settings (F32: lr, min_lr, warmup, weight_decay, max_grad_norm, beta1, beta2, eps, steps)

Run from the repository root:  python3 dev/oracle/sft_oracle.py
"""
import os, shutil
import torch
import transformers
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM, Trainer

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "sft")
CONFIG = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True, rope_theta=10000.0,
              bos_token_id=1, eos_token_id=2, use_sliding_window=False, attention_dropout=0.0)
ACCUM, B, T = 2, 2, 24
STEPS, WARMUP = 8, 2
LR, MIN_LR_RATE, WD, MAX_NORM = 1e-2, 0.1, 0.1, 1.2
BETAS, EPS = (0.9, 0.95), 1e-8
PAD = 0


def make_batch(g):
    """ACCUM x B rows, each packed with documents: [prompt (label -100)][answer (labels)], then padding."""
    V = CONFIG["vocab_size"]
    ids = torch.full((ACCUM, B, T), PAD, dtype=torch.long)
    pos = torch.zeros((ACCUM, B, T), dtype=torch.long)
    labels = torch.full((ACCUM, B, T), -100, dtype=torch.long)
    for a in range(ACCUM):
        for b in range(B):
            t = 0
            while True:
                n_prompt = int(torch.randint(2, 6, (1,), generator=g))
                n_answer = int(torch.randint(2, 8, (1,), generator=g))
                n = n_prompt + n_answer
                if t + n > T - (a + b) % 3:  # leave 0..2 tokens of padding, varying by row
                    break
                doc = torch.randint(3, V, (n,), generator=g)
                ids[a, b, t:t + n] = doc
                pos[a, b, t:t + n] = torch.arange(n)
                labels[a, b, t + n_prompt:t + n] = doc[n_prompt:]
                t += n
            # padding: pad id, position 0 (each pad token its own document), label -100 (as r1 packs)
    return ids, pos, labels


def check_packing(model, ids, pos):
    """transformers masks attention across packed documents when given position_ids only."""
    with torch.no_grad():
        out = model(input_ids=ids[0], position_ids=pos[0], use_cache=False).logits
        row = 0
        starts = [t for t in range(T) if pos[0, row, t] == 0] + [T]
        for s, e in zip(starts[:-1], starts[1:]):
            alone = model(input_ids=ids[0, row:row + 1, s:e], position_ids=pos[0, row:row + 1, s:e],
                          use_cache=False).logits
            err = (alone[0] - out[row, s:e]).abs().max().item()
            assert err < 1e-5, f"packed document at {s} differs from running it alone by {err}"
        full = model(input_ids=ids[0], position_ids=pos[0], attention_mask=torch.ones_like(ids[0]),
                     use_cache=False).logits
        assert (full[row, starts[1]:] - out[row, starts[1]:]).abs().max() > 1e-3, "packing made no difference?"


def main():
    torch.manual_seed(7)
    g = torch.Generator().manual_seed(7)
    config = Qwen2Config(**CONFIG)
    config._attn_implementation = "eager"
    model = Qwen2ForCausalLM(config).float()
    with torch.no_grad():  # norms and biases away from 1 and 0, so their gradients and (no) decay show
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    model.train()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    model.save_pretrained(os.path.join(OUT, "model_init"), safe_serialization=True)

    ids, pos, labels = make_batch(g)
    check_packing(model, ids, pos)
    V = CONFIG["vocab_size"]
    n_targets = int((labels[:, :, 1:] != -100).sum())  # position t predicts labels[t + 1]

    params = dict(model.named_parameters())
    decay = set(Trainer.get_decay_parameter_names(None, model))
    groups = [{"params": [p for n, p in params.items() if n in decay], "weight_decay": WD},
              {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS, foreach=False)
    sched = transformers.get_scheduler("cosine_with_min_lr", opt, num_warmup_steps=WARMUP, num_training_steps=STEPS,
                                       scheduler_specific_kwargs={"min_lr_rate": MIN_LR_RATE})
    losses, norms, lrs = [], [], []
    for step in range(STEPS):
        opt.zero_grad()
        total = 0.0
        for a in range(ACCUM):
            logits = model(input_ids=ids[a], position_ids=pos[a], use_cache=False).logits
            ce = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), labels[a, :, 1:].reshape(-1),
                                                   ignore_index=-100, reduction="sum")
            (ce / n_targets).backward()
            total += ce.item()
        losses.append(total / n_targets)
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert any(n > MAX_NORM for n in norms) and any(n < MAX_NORM for n in norms), f"clipping not exercised: {norms}"
    model.save_pretrained(os.path.join(OUT, "model_final"), safe_serialization=True)
    for d in ("model_init", "model_final"):  # keep only what r1 reads
        for extra in os.listdir(os.path.join(OUT, d)):
            if extra not in ("config.json", "model.safetensors"):
                os.remove(os.path.join(OUT, d, extra))
    settings = [LR, MIN_LR_RATE * LR, WARMUP, WD, MAX_NORM, BETAS[0], BETAS[1], EPS, STEPS]
    save_file({
        "input_ids": ids.to(torch.int32).contiguous(),
        "position_ids": pos.to(torch.int32).contiguous(),
        "labels": labels.to(torch.int32).contiguous(),
        "loss": torch.tensor(losses, dtype=torch.float32),
        "grad_norm": torch.tensor(norms, dtype=torch.float32),
        "lr": torch.tensor(lrs, dtype=torch.float32),
        "settings": torch.tensor(settings, dtype=torch.float32),
    }, os.path.join(OUT, "steps.safetensors"))
    print("losses   ", " ".join("%.6f" % x for x in losses))
    print("grad norm", " ".join("%.4f" % x for x in norms))
    print("lr       ", " ".join("%.3e" % x for x in lrs))
    print("wrote", OUT, "(%d loss tokens per step)" % n_targets)


if __name__ == "__main__":
    main()
