#!/usr/bin/env python3
"""
dev/oracle/tokenizer_oracle.py: writes the tokenizer fixtures in tests/fixtures/tokenizer/ from
Hugging Face's tokenizer (transformers + tokenizers), which nobody here wrote.

    python3 dev/oracle/tokenizer_oracle.py            # from the repository root; needs ../shared/qwen
    python3 dev/oracle/tokenizer_oracle.py --diff N   # print HF's and r1's ids of corpus record N

The HF tokenizer is built from ../shared/qwen's vocab.json + merges.txt + tokenizer_config.json
(there is no tokenizer.json), in a temporary folder; it must give the known ids of
../shared/research/qwen2.5.md ("Hello world" -> [9707, 1879] and the chat template example).

Fixtures (tests/test_tokenizer.c reads them):
  corpus.txt      one line per text record of ../shared/data: "hash ntokens", where hash is the
                  64-bit FNV-1a of the ids as 4-byte little-endian integers. Records are every JSON
                  string value (depth first, in file order) of each row of the files in CORPUS_FILES,
                  which the C test walks the same way. "# file N" lines give each file's record count.
  hardcases.jsonl {"name", "hex" (the input bytes), "ids", "decoded_hex" (HF's decode, when it is not
                  the input), "decoded_skip_hex" (with skip_special_tokens, when it differs)}: invalid
                  UTF-8 is given to HF as bytes.decode("utf-8", errors="replace").
  chat.jsonl      {"config", "messages", "add_generation_prompt", "continue_final_message", "ids",
                  "mask" (or null), "text"} for the Instruct, base and Math tokenizer_config variants.
  decode.jsonl    {"ids", "skip_special", "hex"}: HF's decode of id lists with padding ids (past the
                  vocabulary: skipped) and special / non-special added tokens.
  bytes_*.jsonl   the same for the byte-level vocabulary, whose folder ./dev/tokenize --bytes --save
                  writes and AutoTokenizer loads (so the written folder is checked too).
  unicode.txt     versions, and every code point where Oniguruma's \\p{L}/\\p{N} (seen through the
                  pre-tokenizer) differs from our tables (dev/gen_unicode.py's data).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("R1_SHARED", os.path.join(ROOT, "..", "shared"))
QWEN = os.path.join(SHARED, "qwen")
DATA = os.path.join(SHARED, "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")

CORPUS_FILES = [
    "gsm8k/train.jsonl", "gsm8k/test.jsonl", "math500/test.jsonl", "math_train/math_train_7474.json",
    "aime_1983_2023/aime_1983_2023.json", "aime24/test.jsonl", "amc23/test.jsonl",
    "distill_samples/deepseek_r1_8b_ollama_5.json", "distill_samples/deepseek_r1_openrouter_5.json",
]
BYTES_SYSTEM = "You are a tiny model. Think in <think> tags; it's \\boxed{} time.\nGo."  # quotes, \\, \\n
CONFIGS = {
    "instruct": "tokenizer_config.json",
    "base": "tokenizer_config.qwen2.5-base.json",
    "math": "tokenizer_config.qwen2.5-math-1.5b.json",
}


def load_hf(config_name, folder=None):
    from transformers import AutoTokenizer
    if folder is None:
        folder = tempfile.mkdtemp(prefix="r1tok_")
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(QWEN, f), folder)
        shutil.copy(os.path.join(QWEN, CONFIGS[config_name]), os.path.join(folder, "tokenizer_config.json"))
    return AutoTokenizer.from_pretrained(folder)


def fnv_ids(ids):
    h = 0xcbf29ce484222325
    for b in struct.pack("<%dI" % len(ids), *ids):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def strings_of(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from strings_of(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings_of(x)


def corpus_records():
    """[(file, [texts])] in the order the C test walks them."""
    out = []
    for rel in CORPUS_FILES:
        path = os.path.join(DATA, rel)
        with open(path, encoding="utf-8") as f:
            if rel.endswith(".jsonl"):
                rows = [json.loads(line) for line in f if line.strip()]
            else:
                rows = json.load(f)
                rows = rows if isinstance(rows, list) else [rows]
        texts = []
        for row in rows:
            texts.extend(strings_of(row))
        out.append((rel, texts))
    return out


def hard_cases():
    """(name, bytes). Text that stresses each step: added tokens, NFC, the regex classes, BPE."""
    s = lambda x: x.encode("utf-8")
    cases = [
        ("empty", b""),
        ("hello", s("Hello world")),
        ("space hello", s(" Hello world")),
        ("chinese", s("我们来计算一下：小明有5个苹果，吃了2个，还剩几个？答案是3个。")),
        ("japanese", s("これは日本語のテストです。カタカナとひらがな、漢字を含みます。")),
        ("korean", s("한국어 문장입니다. 안녕하세요! 수학 문제를 풀어 봅시다.")),
        ("arabic", s("مرحبا بالعالم! هذا اختبار للنص العربي ١٢٣.")),
        ("hindi", s("नमस्ते दुनिया। यह हिंदी पाठ का परीक्षण है। १२३")),
        ("thai", s("สวัสดีครับ นี่คือการทดสอบ")),
        ("russian greek", s("Привет, мир! Γειά σου Κόσμε. ΣΊΣΥΦΟΣ")),
        ("emoji zwj", s("family: 👨‍👩‍👧‍👦 flags: 🇫🇷🇯🇵 skin: 👍🏽 heart: ❤️ done 😀😀")),
        ("nfd combining", s(unicodedata.normalize("NFD", "Café naïve résumé Ångström über Ελληνικά"))),
        ("combining reorder", s("a\u0301\u0316 x\u0316\u0301 q\u0307\u0323 e\u0323\u0302")),
        ("hangul jamo", s("\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u116e\u11af")),
        ("hangul nfd", s(unicodedata.normalize("NFD", "한국어 조합형"))),
        ("singletons", s("\u212b \u2126 \u212a \u0340\u0341 \u0958 \u2000\u2001")),
        ("long digits", s("12345678901234567890 3.14159265358979 1,000,000 -42 0.5e-10 ١٢٣ ½ ⅷ")),
        ("whitespace runs", s("a  b   c    d\t\te\n\n\nf \n g  \n\n  h   ")),
        ("crlf", s("line one\r\nline two\r\n\r\nline three\rend\r\n")),
        ("tabs", s("\tindented\n\t\tmore\t\n    spaces    \n")),
        ("contractions", s("I'm sure it's fine, you'll see. He'd've. WE'LL SEE IT'S 'S 'LL 'RE 'VE 'M 'D 'T")),
        ("contraction edge", s("'s 'x '' ' s 'ſ ''ll rock'n'roll O'Neil")),
        ("added tokens", s("<|im_start|>user\nHi<|im_end|>\n<|endoftext|><tool_call>x</tool_call><|fim_prefix|>")),
        ("added adjacent", s("<|im_end|><|im_end|>a<|im_start|><|im_start|"
                             ">b<|endoftext|>c <|im_end|> d<|box_start|>")),
        ("added partial", s("<|im_start <|im_end|| <|endoftext <|im_ start|> <<|im_end|>>")),
        ("invalid utf8", b"ab\xffcd\xc3(\xe2\x82\xf0\x9f\x98 ok \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 end\x80"),
        ("truncated tail", b"abc\xe4\xbd"),
        ("nul and controls", b"a\x00b\x01c\x7f\x1b[0m"),
        ("latex", s(r"$\frac{1}{2} + \sqrt{x^2+y^2} = \boxed{\dfrac{\pi}{4}}$ \\ \left( a_{n} \right)")),
        ("code", s("def f(x):\n    return x**2  # square\n\nif __name__ == '__main__':\n\tprint(f(3))\n")),
        ("very long word", s("a" * 5000 + " " + "xyz" * 3000)),
        ("long space run", s(" " * 3000 + "x" + "\n" * 1000 + "y")),
        ("long punct", s("!" * 2000 + "?.,;" * 300)),
        ("mixed scripts", s("English中文日本語한국어Русскийالعربيةहिन्दी123abc")),
        ("unicode spaces", s("a\u00a0b\u2003c\u3000d\u2028e\u2029f\u0085g\u200bh\ufeffi")),
        ("symbols", s("→ ∀x∈ℝ: x² ≥ 0 ∑∫∂ ≤≠≈ °C €100 £5 ¥3 ©®™ …")),
        ("math unicode", s("𝐀𝐁𝐂 𝔸𝔹ℂ 𝟘𝟙𝟚 x⁴ H₂O")),
        ("nbsp punctuation", s("« Bonjour » — « ça va ? »")),
        ("newline letters", s("\nabc\n\nDEF\r\n123")),
        ("space digits", s(" 1 22  333   4444")),
        ("trailing space", s("end with spaces   ")),
        ("only spaces", s("     ")),
        ("only newline", s("\n")),
        ("private use and unassigned", s("\ue000\uf8ff \U000F0000 \u0378 \U0001FFFF")),
        ("new letters", s("a\U00010570b a\U00011F04b a\U00010D50b a\U00011F50b")),
    ]
    return cases


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=True) + "\n")


def hex_of(b):
    return b.hex()


def decoded(tok, ids, skip):
    return tok.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=False).encode("utf-8")


def hard_rows(tok, max_bytes=1 << 30):
    rows = []
    for name, b in hard_cases():
        text = b.decode("utf-8", errors="replace")
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if len(b) > max_bytes:
            continue
        row = {"name": name, "hex": hex_of(b), "ids": ids}
        # HF's decode, when it is not the input itself (NFC, U+FFFD), and without the special tokens
        dec, dec_skip = decoded(tok, ids, False), decoded(tok, ids, True)
        if dec != b:
            row["decoded_hex"] = hex_of(dec)
        if dec_skip != dec:
            row["decoded_skip_hex"] = hex_of(dec_skip)
        rows.append(row)
    return rows


def decode_rows(tok):
    """Decoding token lists no encoding produces: padding ids past the vocabulary, specials in text."""
    v = len(tok)
    im_start, im_end, eot = (tok.convert_tokens_to_ids(x) for x in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"))
    tool = tok.convert_tokens_to_ids("<tool_call>")
    hello = tok("Hello world")["input_ids"]
    cases = [hello[:1] + [v + 5, v + 100] + hello[1:], [im_start] + hello + [im_end, eot], hello + [tool] + hello,
             [eot, eot], [], tok("数学 😀 café")["input_ids"] + [im_end]]
    rows = []
    for ids in cases:
        for skip in (False, True):
            rows.append({"ids": ids, "skip_special": skip, "hex": hex_of(decoded(tok, ids, skip))})
    return rows


CONVERSATIONS = [
    ([{"role": "user", "content": "Hi"}], True, False),
    ([{"role": "user", "content": "What is 2+3?"}, {"role": "assistant", "content": "2+3 = 5. The answer is 5."}],
     False, False),
    ([{"role": "system", "content": "You are a math tutor."}, {"role": "user", "content": "Solve x+1=3."},
      {"role": "assistant", "content": "x = 2"}], False, False),
    ([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"}],
     True, False),
    ([{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"},
      {"role": "assistant", "content": "A2 with\nnewline"}, {"role": "user", "content": "Q3"}], True, False),
    ([{"role": "user", "content": "Using the numbers [3, 5, 7], create an equation that equals 22."},
      {"role": "assistant", "content": "Let me solve this step by step.\n<think>"}], False, True),
    ([{"role": "user", "content": "Continue with spaces"}, {"role": "assistant", "content": "Sure  "}], False, True),
    ([{"role": "user", "content": "Empty answer?"}, {"role": "assistant", "content": ""}], False, False),
    ([{"role": "user", "content": "Leading newline"}, {"role": "assistant", "content": "\n\nthen text\n"}],
     False, False),
    ([{"role": "user", "content": unicodedata.normalize("NFD", "Café? 한국어")},
      {"role": "assistant", "content": unicodedata.normalize("NFD", "Oui, café. 네 한국어")}], False, False),
    ([{"role": "user", "content": "tokens <|im_end|> inside"},
      {"role": "assistant", "content": "echo <|im_start|>user <|endoftext|>"}], False, False),
    ([{"role": "system", "content": "sys"}], True, False),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "late system"},
      {"role": "user", "content": "b"}], True, False),
    ([{"role": "user", "content": "中文问题：1+1=？"}, {"role": "assistant", "content": "答案是 2。"}], False, False),
]


def mask_template(tmpl):
    """Qwen2.5's template with {% generation %} around an assistant message's content + <|im_end|>."""
    old = "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    assert old in tmpl, "unexpected chat template"
    new = ("{%- if message.role == 'assistant' %}{{- '<|im_start|>' + message.role + '\\n' }}"
           "{% generation %}{{- message.content + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
           "{%- else %}" + old + "{%- endif %}")
    return tmpl.replace(old, new)


def chat_rows(tok, config_name, tmpl_for_mask):
    rows = []
    for msgs, gen, cont in CONVERSATIONS:
        kw = dict(add_generation_prompt=gen, continue_final_message=cont)
        text = tok.apply_chat_template(msgs, tokenize=False, **kw)
        ids = list(tok.apply_chat_template(msgs, tokenize=True, return_dict=True, **kw)["input_ids"])
        mask = None
        if not cont and tmpl_for_mask is not None:
            alt = tok.apply_chat_template(msgs, tokenize=False, chat_template=tmpl_for_mask, **kw)
            assert alt == text, "the mask template must render the same text"
            out = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, chat_template=tmpl_for_mask,
                                          return_assistant_tokens_mask=True, **kw)
            assert list(out["input_ids"]) == ids
            mask = list(out["assistant_masks"])
        rows.append({"config": config_name, "messages": msgs, "add_generation_prompt": gen,
                     "continue_final_message": cont, "ids": ids, "mask": mask, "text": text})
    return rows


def check_known(tok):
    assert tok("Hello world")["input_ids"] == [9707, 1879]
    assert tok(" Hello world")["input_ids"] == [21927, 1879]
    ids = tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=True,
                                  return_dict=True)["input_ids"]
    # qwen2.5.md's example, with the whole default system prompt spelled out
    assert list(ids[:3]) == [151644, 8948, 198] and list(ids[-9:]) == [151644, 872, 198, 13048, 151645, 198,
                                                                        151644, 77091, 198], ids


def unicode_report(tok):
    """Compare every code point's class in Oniguruma (through the pre-tokenizer) with our generator's."""
    sys.path.insert(0, os.path.join(ROOT, "dev"))
    import gen_unicode
    is_l, is_n, src = gen_unicode.category_sets()
    pre = tok.backend_tokenizer.pre_tokenizer
    diffs = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0x40000 <= cp < 0xE0000 or cp >= 0xF0000:
            continue  # surrogates, and planes 4-13 (unassigned) and 15-16 (private use) in every version
        ours = "L" if is_l(cp) else "N" if is_n(cp) else "-"
        if ours == "-" and unicodedata.category(chr(cp)) != "Cn":
            continue  # assigned in Python's Unicode and neither L nor N: classes do not change
        # "a" X "b" is one piece when X is a letter, three when it is a number, two otherwise
        pieces = len(pre.pre_tokenize_str("a" + chr(cp) + "b"))
        onig = {1: "L", 3: "N"}.get(pieces, "-")
        if onig != ours:
            diffs.append((cp, ours, onig))
    return src, diffs


def nfc_report():
    """Where `tokenizers`' NFC and the data of our tables (dev/gen_unicode.py's module) disagree."""
    import tokenizers
    sys.path.insert(0, os.path.join(ROOT, "dev"))
    import gen_unicode
    ud = gen_unicode.unicodedata
    hf = tokenizers.normalizers.NFC()
    probes = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0x40000 <= cp < 0xE0000 or cp >= 0xF0000:
            continue
        ch = chr(cp)
        if ud.combining(ch):
            probes.append("x\u0301" + ch)  # a mark of another class after U+0301: reordering
        elif ud.decomposition(ch) and not ud.decomposition(ch).startswith("<"):
            probes.append(ch)
            probes.append(ud.normalize("NFD", ch))  # and the composition back
    diffs = [p for p in probes if hf.normalize_str(p) != ud.normalize("NFC", p)]
    return ud.unidata_version, len(probes), diffs


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--diff":
        return diff_record(int(sys.argv[2]))
    os.makedirs(OUT, exist_ok=True)
    tok = load_hf("instruct")
    check_known(tok)
    print("HF tokenizer reproduces the known ids")

    # corpus
    lines, total_records, total_bytes, total_tokens = [], 0, 0, 0
    for rel, texts in corpus_records():
        enc = tok(texts, add_special_tokens=False)["input_ids"]
        lines.append("# %s %d" % (rel, len(texts)))
        for t, ids in zip(texts, enc):
            lines.append("%016x %d" % (fnv_ids(ids), len(ids)))
            total_bytes += len(t.encode("utf-8"))
            total_tokens += len(ids)
        total_records += len(texts)
    with open(os.path.join(OUT, "corpus.txt"), "w") as f:
        f.write("# r1 tokenizer corpus: FNV-1a 64 of the ids (4-byte little-endian) and their count, per "
                "record; %d records, %d bytes, %d tokens\n" % (total_records, total_bytes, total_tokens))
        f.write("\n".join(lines) + "\n")
    print("corpus: %d records, %d bytes, %d tokens" % (total_records, total_bytes, total_tokens))

    write_jsonl(os.path.join(OUT, "hardcases.jsonl"), hard_rows(tok))
    write_jsonl(os.path.join(OUT, "decode.jsonl"), decode_rows(tok))

    rows = []
    for name in CONFIGS:
        t = load_hf(name)
        rows += chat_rows(t, name, mask_template(t.chat_template))
    write_jsonl(os.path.join(OUT, "chat.jsonl"), rows)
    print("chat: %d conversations" % len(rows))

    # the byte-level vocabulary, through the folder our C code writes
    folder = tempfile.mkdtemp(prefix="r1bytes_")
    subprocess.run([os.path.join(ROOT, "dev", "tokenize"), "--bytes", "--save", folder], check=True)
    bt = load_hf(None, folder)
    write_jsonl(os.path.join(OUT, "bytes_hardcases.jsonl"), hard_rows(bt, 4000))
    # and with a default system prompt written into the generated template
    folder3 = tempfile.mkdtemp(prefix="r1bytes_sys_")
    subprocess.run([os.path.join(ROOT, "dev", "tokenize"), "--bytes", "--system", BYTES_SYSTEM, "--save", folder3],
                   check=True)
    bt_sys = load_hf(None, folder3)
    write_jsonl(os.path.join(OUT, "bytes_chat.jsonl"), chat_rows(bt, "bytes", None) +
                chat_rows(bt_sys, "bytes_system", None))
    write_jsonl(os.path.join(OUT, "bytes_decode.jsonl"), decode_rows(bt))
    print("byte-level vocabulary: %d tokens in HF" % len(bt))

    # our saved Qwen folder must load in HF and give the same ids
    folder2 = tempfile.mkdtemp(prefix="r1qwen_")
    subprocess.run([os.path.join(ROOT, "dev", "tokenize"), QWEN, "--save", folder2], check=True)
    t2 = load_hf(None, folder2)
    same = all(t2(b.decode("utf-8", "replace"))["input_ids"] == tok(b.decode("utf-8", "replace"))["input_ids"]
               for _, b in hard_cases())
    same_chat = all(t2.apply_chat_template(m, tokenize=False, add_generation_prompt=g, continue_final_message=c)
                    == tok.apply_chat_template(m, tokenize=False, add_generation_prompt=g, continue_final_message=c)
                    for m, g, c in CONVERSATIONS)
    print("saved Qwen folder reloaded in HF: ids %s, chat text %s" % ("same" if same else "DIFFERENT",
                                                                      "same" if same_chat else "DIFFERENT"))
    assert same and same_chat

    import tokenizers, transformers
    src, diffs = unicode_report(tok)
    with open(os.path.join(OUT, "unicode.txt"), "w") as f:
        f.write("tokenizers %s, transformers %s, Python unicodedata %s\n" % (
            tokenizers.__version__, transformers.__version__, unicodedata.unidata_version))
        f.write("our \\p{L}/\\p{N} tables: %s\n" % src)
        f.write("code points where Oniguruma (in tokenizers) and our tables disagree: %d\n" % len(diffs))
        for cp, ours, onig in diffs[:2000]:
            f.write("U+%04X ours %s onig %s\n" % (cp, ours, onig))
    print("unicode: %d code points differ from Oniguruma (see unicode.txt)" % len(diffs))
    version, nprobes, nfc_diffs = nfc_report()
    with open(os.path.join(OUT, "unicode.txt"), "a") as f:
        f.write("NFC: %d of %d probes (every decomposable code point and its NFD, every combining mark after "
                "U+0301) differ between tokenizers and Unicode %s:\n" % (len(nfc_diffs), nprobes, version))
        for p in nfc_diffs:
            f.write(" ".join("U+%04X" % ord(c) for c in p) + "\n")
    print("NFC: %d of %d probes differ from tokenizers (see unicode.txt)" % (len(nfc_diffs), nprobes))


def diff_record(n):
    tok = load_hf("instruct")
    k = 0
    for rel, texts in corpus_records():
        if n < k + len(texts):
            text = texts[n - k]
            hf = tok(text, add_special_tokens=False)["input_ids"]
            p = subprocess.run([os.path.join(ROOT, "dev", "tokenize"), QWEN], input=text.encode("utf-8"),
                               capture_output=True, check=True)
            ours = [int(x) for x in p.stdout.split()]
            print("record %d: %s #%d, %d bytes" % (n, rel, n - k, len(text.encode("utf-8"))))
            for i, (a, b) in enumerate(zip(hf, ours)):
                if a != b:
                    print("first difference at token %d: HF %s vs r1 %s" % (i, hf[i:i + 8], ours[i:i + 8]))
                    print("HF pieces:", [tok.decode([x]) for x in hf[max(0, i - 3):i + 5]])
                    return
            print("same ids" if len(hf) == len(ours) else "lengths differ: HF %d r1 %d" % (len(hf), len(ours)))
            return
        k += len(texts)
    print("no record %d" % n)


if __name__ == "__main__":
    main()
