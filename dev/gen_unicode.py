#!/usr/bin/env python3
"""
dev/gen_unicode.py: writes the appendix of r1.h, the Unicode tables the tokenizer needs.

    python3 dev/gen_unicode.py > tables.h          # print the appendix
    python3 dev/gen_unicode.py --update r1.h       # replace r1.h's appendix with it, in place

The tables are sorted ranges searched by bisection; nothing else in r1.h depends on their layout.
  - \\p{L} and \\p{N} for the Qwen2 pre-tokenizer regex (general categories L* and N*).
    `tokenizers` runs that regex with Oniguruma, whose tables are Unicode 16.0 (in tokenizers 0.23;
    dev/oracle/tokenizer_oracle.py compares every code point and writes the differences to
    tests/fixtures/tokenizer/unicode.txt). So the data comes from the `unicodedata2` package at
    16.0.0 when it is installed, else from Python's `unicodedata` (14.0 in Python 3.11: then the
    letters and digits new in Unicode 15 and 16 are the only differences).
  - \\s (White_Space, the same set as Oniguruma's Unicode \\s).
  - NFC: canonical combining classes, canonical decompositions (one or two code points, applied
    recursively), the primary composites, and a quick-check set (code points that can change under
    NFC or start a change). Hangul syllables are handled by arithmetic in r1.h, not by tables.
    `tokenizers`' NFC (the unicode-normalization-alignments crate) uses older tables, Unicode 8 or 9
    (it reorders U+1AB5, new in 7.0, but not U+1DF9, new in 10.0): a combining mark or composite
    new since then is normalized here and left alone by `tokenizers`. Text would need a character
    from after 2016 plus a combining sequence for that to matter.
"""
import sys

try:  # the `unicodedata2` package (pip install unicodedata2==16.0.0) has the Unicode version we want
    import unicodedata2 as unicodedata
except ImportError:  # Python's own module: Unicode 14.0 in Python 3.11
    import unicodedata

MAXCP = 0x110000


def ranges(pred):
    out, start = [], None
    for cp in range(MAXCP + 1):
        ok = cp < MAXCP and not (0xD800 <= cp <= 0xDFFF) and pred(cp)
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def category_sets():
    cat = unicodedata.category
    src = "Unicode %s (%s)" % (unicodedata.unidata_version, unicodedata.__name__)
    return (lambda cp: cat(chr(cp))[0] == "L"), (lambda cp: cat(chr(cp))[0] == "N"), src


def emit_pairs(name, rs, comment):
    print("// %s (%d ranges)" % (comment, len(rs)))
    print("static const uint32_t %s[][2] = {" % name)
    line = "   "
    for a, b in rs:
        item = " {0x%X,0x%X}," % (a, b)
        if len(line) + len(item) > 110:
            print(line)
            line = "   "
        line += item
    print(line)
    print("};")
    print()


def emit_triples(name, rows, comment):
    print("// %s (%d entries)" % (comment, len(rows)))
    print("static const uint32_t %s[][3] = {" % name)
    line = "   "
    for a, b, c in rows:
        item = " {0x%X,0x%X,0x%X}," % (a, b, c)
        if len(line) + len(item) > 110:
            print(line)
            line = "   "
        line += item
    print(line)
    print("};")
    print()


def is_hangul_syllable(cp):
    return 0xAC00 <= cp <= 0xD7A3


def main():
    is_l, is_n, src = category_sets()
    letters = ranges(is_l)
    numbers = ranges(is_n)
    # White_Space: 9-D, 85, and the Z* separators (Oniguruma's \s; str.isspace() would add 1C-1F)
    space = ranges(lambda cp: cp in (0x9, 0xA, 0xB, 0xC, 0xD, 0x85) or unicodedata.category(chr(cp)) in ("Zs", "Zl", "Zp"))

    ccc = []
    for cp in range(MAXCP):
        c = unicodedata.combining(chr(cp))
        if c:
            if ccc and ccc[-1][1] == cp - 1 and ccc[-1][2] == c:
                ccc[-1][1] = cp
            else:
                ccc.append([cp, cp, c])

    decomp, comp = [], []
    for cp in range(MAXCP):
        if is_hangul_syllable(cp):
            continue
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<"):
            continue  # no mapping, or a compatibility one (NFKC only)
        parts = [int(x, 16) for x in d.split()]
        assert 1 <= len(parts) <= 2, hex(cp)
        decomp.append((cp, parts[0], parts[1] if len(parts) == 2 else 0))
        # a primary composite: NFC gives it back (singletons, non-starter decompositions and the
        # composition exclusions do not)
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(cp)) == chr(cp):
            comp.append((parts[0], parts[1], cp))
    comp.sort()

    # Quick check: a text with none of these code points is already NFC.
    seconds = set(b for _, b, _ in comp)
    def qc(cp):
        ch = chr(cp)
        return (unicodedata.combining(ch) != 0 or cp in seconds or unicodedata.normalize("NFC", ch) != ch
                or 0x1161 <= cp <= 0x1175 or 0x11A8 <= cp <= 0x11C2)
    quick = ranges(qc)

    print("// ----------------------------------------------------------------------------")
    print("// appendix: Unicode tables (generated by dev/gen_unicode.py; do not edit by hand)")
    print("// Unicode %s (from Python's %s module)." % (unicodedata.unidata_version, unicodedata.__name__))
    print("// (`tokenizers` matches \\p{L} \\p{N} \\s with Oniguruma's Unicode 16.0 tables; its NFC has Unicode 8/9-era data,")
    print("// so a combining mark or composite added since then is normalized here and not there.)")
    print("// The tokenizer asks these through unicode_is_letter / unicode_is_number / unicode_is_space and the")
    print("// NFC helpers below; every table is a sorted list of ranges or entries, searched by bisection.")
    print()
    emit_pairs("unicode_letter_ranges", letters, "\\p{L}: general categories Lu Ll Lt Lm Lo")
    emit_pairs("unicode_number_ranges", numbers, "\\p{N}: general categories Nd Nl No")
    emit_pairs("unicode_space_ranges", space, "\\s: White_Space (U+0009..U+000D, U+0085 and the Zs Zl Zp separators)")
    emit_triples("unicode_ccc_ranges", ccc, "canonical combining class: {first, last, class}, class 0 omitted")
    emit_triples("unicode_decompositions", decomp, "canonical decompositions: {code point, first, second or 0}")
    emit_triples("unicode_compositions", comp, "primary composites: {first, second, composite}, sorted by pair")
    emit_pairs("unicode_nfc_quick_ranges", quick, "NFC quick check: code points that may change under NFC")
    print(TAIL)


def update(path):
    """Replaces the appendix of r1.h (from its divider to the closing #endif) with fresh tables."""
    import io, contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main()
    text = open(path).read()
    marker = "// ----------------------------------------------------------------------------\n// appendix: Unicode tables"
    start, end = text.index(marker), text.rindex("#endif // R1_H")
    open(path, "w").write(text[:start] + buf.getvalue().rstrip("\n") + "\n\n" + text[end:])


TAIL = r"""#define UNICODE_COUNT(t) (sizeof(t) / sizeof(t[0]))

// bisection over {first, last, ...} rows of `width` words; returns the row or NULL
static const uint32_t* unicode_find_range(const uint32_t* table, size_t rows, size_t width, uint32_t cp) {
    size_t lo = 0, hi = rows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t* r = table + mid * width;
        if (cp < r[0]) {
            hi = mid;
        } else if (cp > r[1]) {
            lo = mid + 1;
        } else {
            return r;
        }
    }
    return NULL;
}

static int unicode_is_letter(uint32_t cp) {
    if (cp < 0x80) {
        return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    }
    return unicode_find_range(&unicode_letter_ranges[0][0], UNICODE_COUNT(unicode_letter_ranges), 2, cp) != NULL;
}

static int unicode_is_number(uint32_t cp) {
    if (cp < 0x80) {
        return cp >= '0' && cp <= '9';
    }
    return unicode_find_range(&unicode_number_ranges[0][0], UNICODE_COUNT(unicode_number_ranges), 2, cp) != NULL;
}

static int unicode_is_space(uint32_t cp) {
    if (cp < 0x80) {
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    }
    return unicode_find_range(&unicode_space_ranges[0][0], UNICODE_COUNT(unicode_space_ranges), 2, cp) != NULL;
}

static int unicode_ccc(uint32_t cp) {
    if (cp < 0x300) {
        return 0;
    }
    const uint32_t* r = unicode_find_range(&unicode_ccc_ranges[0][0], UNICODE_COUNT(unicode_ccc_ranges), 3, cp);
    return r ? (int)r[2] : 0;
}

static int unicode_nfc_quick(uint32_t cp) { // 1: cp may change or combine under NFC
    if (cp < 0x300) {
        return 0;
    }
    return unicode_find_range(&unicode_nfc_quick_ranges[0][0], UNICODE_COUNT(unicode_nfc_quick_ranges), 2, cp) != NULL;
}

// The canonical decomposition of cp, one level: returns 0 (none), 1 or 2 code points in out.
static int unicode_decompose1(uint32_t cp, uint32_t out[2]) {
    size_t lo = 0, hi = UNICODE_COUNT(unicode_decompositions);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < unicode_decompositions[mid][0]) {
            hi = mid;
        } else if (cp > unicode_decompositions[mid][0]) {
            lo = mid + 1;
        } else {
            out[0] = unicode_decompositions[mid][1];
            out[1] = unicode_decompositions[mid][2];
            return out[1] ? 2 : 1;
        }
    }
    return 0;
}

// The primary composite of (a, b), or 0 when there is none.
static uint32_t unicode_compose(uint32_t a, uint32_t b) {
    size_t lo = 0, hi = UNICODE_COUNT(unicode_compositions);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t* r = unicode_compositions[mid];
        if (a < r[0] || (a == r[0] && b < r[1])) {
            hi = mid;
        } else if (a > r[0] || b > r[1]) {
            lo = mid + 1;
        } else {
            return r[2];
        }
    }
    return 0;
}"""

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--update":
        update(sys.argv[2])
    else:
        main()
