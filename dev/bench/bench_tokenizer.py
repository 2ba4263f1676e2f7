#!/usr/bin/env python3
"""
dev/bench/bench_tokenizer.py: encode throughput of r1.h's tokenizer and of Hugging Face `tokenizers`
on the same corpus (every text record of ../shared/data, 45,739 records, 8.0 MB), one thread each.

    make dev/tokenize && python3 dev/bench/bench_tokenizer.py

HF runs with RAYON_NUM_THREADS=1 and is timed two ways: one encode() call per record (as r1.h is
called), and encode_batch() over all records (its batch path, still one thread). Both go straight to
the Rust `tokenizers.Tokenizer` under transformers' Qwen2Tokenizer, so Python overhead is one call
per record at most. r1.h is ./dev/tokenize --bench: one tokenizer_encode call per record, repeated
for at least 3 s. The ratio printed is r1.h's MB/s over HF's better figure.
"""
import os
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # set before tokenizers is imported
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")  # allow the batch path, on its single thread

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "dev", "oracle"))
import tokenizer_oracle as oracle  # noqa: E402


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    texts = [t for _, ts in oracle.corpus_records() for t in ts]
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    hf = oracle.load_hf("instruct").backend_tokenizer  # the Rust tokenizers.Tokenizer
    ntok = sum(len(e.ids) for e in hf.encode_batch(texts, add_special_tokens=False))
    print("corpus: %d records, %d bytes, %d tokens" % (len(texts), nbytes, ntok))

    single = best_of(lambda: [hf.encode(t, add_special_tokens=False) for t in texts])
    batch = best_of(lambda: hf.encode_batch(texts, add_special_tokens=False))
    hf_single, hf_batch = nbytes / single / 1e6, nbytes / batch / 1e6
    print("HF tokenizers, one encode() per record: %.2f s, %.2f MB/s" % (single, hf_single))
    print("HF tokenizers, encode_batch (1 thread): %.2f s, %.2f MB/s" % (batch, hf_batch))

    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(b"\0".join(t.encode("utf-8") for t in texts))
        path = f.name
    out = subprocess.run([os.path.join(ROOT, "dev", "tokenize"), oracle.QWEN, "--bench", path],
                         capture_output=True, text=True, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    os.unlink(path)
    print(out.stdout.strip())
    r1 = float(out.stdout.split("s: ")[1].split(" MB/s")[0])
    print("ratio r1.h / HF: %.2fx (vs one call per record %.2fx, vs encode_batch %.2fx)" % (
        r1 / max(hf_single, hf_batch), r1 / hf_single, r1 / hf_batch))


if __name__ == "__main__":
    main()
