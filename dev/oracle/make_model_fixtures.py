"""
dev/oracle/make_model_fixtures.py: makes tests/fixtures/model/, the expected values of
tests/test_model.c, with code nobody here wrote: PyTorch and Hugging Face transformers.

For each case it builds a tiny random Qwen2ForCausalLM (float32, eager attention), randomises every
parameter (norm weights and biases too, so their gradients are exercised), saves it as a real
Hugging Face folder (config.json + model.safetensors), runs one forward pass with input_ids,
position_ids and labels, calls loss.backward(), and writes next to the model

  fixture.safetensors   input_ids (I32 [B,T]), position_ids (I32 [B,T]), labels (I32 [B,T], -100 on
                        some tokens), logits (F32 [B,T,V]), loss (F32 [1]), logprobs (F32 [B,T]: log p
                        of the next label at each position, 0 where ignored) and grad.<HF name> (F32)
                        for every parameter (tied models have no lm_head.weight: its gradient is part
                        of grad.model.embed_tokens.weight, as in PyTorch)

Row 1 of every batch packs several documents (position ids restart at 0). transformers (>= 4.5x)
detects packing from position_ids when no attention_mask is given and use_cache is off, and then
masks attention across documents; this script checks that claim by running each document on its
own and comparing the logits, and fails loudly if they differ.

Run from the repository root:  python3 dev/oracle/make_model_fixtures.py
"""
import json, os, shutil
import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

OUT = "tests/fixtures/model"

# name: (config overrides, B, T, document lengths of row 1)
CASES = {
    # tied embeddings (0.5B-1.5B-3B style), GQA ratio 2, head_dim 16, vocab 259 (not a multiple of 8)
    "tied_gqa2_hd16": (dict(hidden_size=32, num_attention_heads=2, num_key_value_heads=1, intermediate_size=48,
                            num_hidden_layers=2, vocab_size=259, tie_word_embeddings=True, rope_theta=1e6),
                       2, 16, [7, 9]),
    # untied (7B style), GQA ratio 1 (plain multi-head), head_dim 64, rope_theta 1e4 (Qwen2.5-Math), eps 1e-5
    "untied_mha_hd64": (dict(hidden_size=64, num_attention_heads=1, num_key_value_heads=1, intermediate_size=32,
                             num_hidden_layers=1, vocab_size=131, tie_word_embeddings=False, rope_theta=1e4,
                             rms_norm_eps=1e-5),
                        2, 12, [5, 7]),
    # untied, ratio 1 with several heads, 3 documents in row 1
    "untied_mha2_hd16": (dict(hidden_size=32, num_attention_heads=2, num_key_value_heads=2, intermediate_size=40,
                              num_hidden_layers=2, vocab_size=61, tie_word_embeddings=False, rope_theta=1e6),
                         3, 10, [3, 4, 3]),
    # tied, GQA ratio 7 (7 query heads share one kv head), head_dim 16, a longer row
    "tied_gqa7_hd16": (dict(hidden_size=112, num_attention_heads=7, num_key_value_heads=1, intermediate_size=24,
                            num_hidden_layers=1, vocab_size=97, tie_word_embeddings=True, rope_theta=1e6),
                       2, 32, [20, 12]),
}


def randomise(model, g):
    # values well away from the defaults (ones, zeros, std 0.02) so that every parameter matters
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:  # also the LM head when tied: keep logits O(1-10)
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            else:  # Linear weights: std a bit above 1/sqrt(fan_in) so attention is far from uniform
                p.copy_(1.5 * torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)


def make_case(name, overrides, B, T, docs, seed):
    g = torch.Generator().manual_seed(seed)
    config = Qwen2Config(max_position_embeddings=128, attention_dropout=0.0, use_sliding_window=False,
                         bos_token_id=1, eos_token_id=2, **overrides)
    config._attn_implementation = "eager"
    model = Qwen2ForCausalLM(config).float()
    randomise(model, g)
    model.train()  # dropout is 0; train mode just as a trainer would run it
    V = config.vocab_size
    ids = torch.randint(0, V, (B, T), generator=g)
    pos = torch.arange(T).repeat(B, 1)
    assert sum(docs) == T
    pos[1] = torch.cat([torch.arange(n) for n in docs])
    labels = ids.clone()
    labels[0, :3] = -100  # a "prompt" that is not trained on
    labels[torch.rand((B, T), generator=g) < 0.2] = -100
    starts = [sum(docs[:i]) for i in range(len(docs))]
    labels[1, starts[1]] = -100  # the first token of a packed document is not predicted from the previous one

    out = model(input_ids=ids, position_ids=pos, labels=labels, use_cache=False)
    out.loss.backward()

    # packing check: each document of row 1 alone gives the same logits
    with torch.no_grad():
        for s, n in zip(starts, docs):
            alone = model(input_ids=ids[1:2, s:s + n], position_ids=torch.arange(n)[None], use_cache=False).logits
            err = (alone[0] - out.logits[1, s:s + n]).abs().max().item() / alone.abs().max().item()
            assert err < 1e-5, f"{name}: packed document at {s} differs from running it alone by {err} (relative)"
        # ...which is a real test: with a plain causal mask over the whole row, later documents change
        full = model(input_ids=ids, position_ids=pos, attention_mask=torch.ones_like(ids), use_cache=False).logits
        s = starts[1]
        assert (full[1, s:] - out.logits[1, s:]).abs().max() > 1e-2, "packing made no difference?"
        # and the loss is the mean over the shifted, non-ignored labels
        shift = torch.cat([labels[:, 1:], torch.full((B, 1), -100)], dim=1).reshape(-1)
        ref = torch.nn.functional.cross_entropy(out.logits.reshape(-1, V).double(), shift, ignore_index=-100)
        assert abs(ref.item() - out.loss.item()) < 1e-5 * abs(ref.item()), "loss convention"

    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, safe_serialization=True)
    for extra in os.listdir(d):  # keep only what r1 reads
        if extra not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(d, extra))
    tensors = {
        "input_ids": ids.to(torch.int32),
        "position_ids": pos.to(torch.int32),
        "labels": labels.to(torch.int32),
        "logits": out.logits.detach().float().contiguous(),
        "loss": out.loss.detach().float().reshape(1),
        # per-token log p(next label): what GRPO uses; 0 where the label is -100 (or at the last position)
        "logprobs": -torch.nn.functional.cross_entropy(
            out.logits.detach().reshape(-1, V),
            torch.cat([labels[:, 1:], torch.full((B, 1), -100)], dim=1).reshape(-1),
            ignore_index=-100, reduction="none").reshape(B, T).float().contiguous(),
    }
    for pname, p in model.named_parameters():  # tied: lm_head.weight is embed_tokens.weight, listed once
        tensors["grad." + pname] = p.grad.detach().float().contiguous()
    save_file(tensors, os.path.join(d, "fixture.safetensors"), metadata={"format": "pt"})
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"{name}: params {sum(p.numel() for p in model.parameters())}, loss {out.loss.item():.6f}, "
          f"{len(tensors) - 6} gradients, {size / 1024:.0f} KiB")


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    for i, (name, (overrides, B, T, docs)) in enumerate(CASES.items()):
        make_case(name, overrides, B, T, docs, seed=1000 + i)


if __name__ == "__main__":
    main()
