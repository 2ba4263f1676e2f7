"""Oracle for r1.h's sampling filters: Hugging Face transformers' own logits processors.

For random logits and contexts, applies RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
TopKLogitsWarper and TopPLogitsWarper in the order `generate` uses (generation/utils.py
_get_logits_processor) and writes the resulting probabilities. tests/test_sample.c applies r1.h's
chain to the same inputs and compares.

Output: tests/fixtures/sampling/cases.json (settings) + cases.bin (float32 little-endian:
per case, V raw logits then V expected probabilities; contexts are in the json).
Run: python3 dev/oracle/sampling_oracle.py
"""
import json, os
import numpy as np
import torch
from transformers.generation.logits_process import (RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper)

out = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "sampling")
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(1234)
settings = [  # (V, temperature, top_k, top_p, repetition_penalty)
    (50, 1.0, 0, 1.0, 1.0), (50, 0.7, 20, 0.8, 1.1), (97, 0.6, 0, 0.95, 1.0), (97, 1.0, 5, 1.0, 1.3),
    (300, 0.9, 0, 0.5, 1.05), (300, 1.3, 50, 0.9, 1.0), (1000, 0.7, 20, 0.8, 1.1), (1000, 1.0, 0, 0.99, 1.2),
    (64, 1.0, 1, 1.0, 1.0), (64, 0.5, 0, 0.1, 1.0), (200, 1.0, 0, 0.3, 1.0), (151936 // 64, 0.7, 20, 0.8, 1.1),
]
cases, blob = [], []
for i, (V, T, k, p, rp) in enumerate(settings):
    logits = torch.randn(1, V, generator=g) * (1.0 if i % 2 == 0 else 3.0)
    ctx = torch.randint(0, V, (1, 12), generator=g)
    x = logits.clone()
    if rp != 1.0:
        x = RepetitionPenaltyLogitsProcessor(rp)(ctx, x)
    if T != 1.0:
        x = TemperatureLogitsWarper(T)(ctx, x)
    if k != 0:
        x = TopKLogitsWarper(k)(ctx, x)
    if p < 1.0:
        x = TopPLogitsWarper(p)(ctx, x)
    probs = torch.softmax(x, dim=-1)
    cases.append({"V": V, "temperature": T, "top_k": k, "top_p": p, "repetition_penalty": rp,
                  "context": ctx[0].tolist(), "kept": int((probs > 0).sum())})
    blob.append(logits[0].numpy().astype("<f4"))
    blob.append(probs[0].numpy().astype("<f4"))
np.concatenate(blob).tofile(os.path.join(out, "cases.bin"))
json.dump({"source": "transformers %s logits processors" % __import__("transformers").__version__,
           "cases": cases}, open(os.path.join(out, "cases.json"), "w"), indent=1)
print("wrote", len(cases), "cases to", out)
