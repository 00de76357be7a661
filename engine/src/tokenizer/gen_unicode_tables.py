#!/usr/bin/env python3
"""Writes unicode_tables.rs: the codepoint flags the pre-tokenizers need.

llama.cpp's unicode.cpp gives every codepoint one category flag (number, letter, separator,
accent mark, punctuation, symbol, control, or undefined for unassigned codepoints) plus a
whitespace flag, and the pre-tokenizer regexes are evaluated against those flags. This script
derives the same flags from Python's `unicodedata` and writes them as a sorted list of ranges
(first codepoint, flags) where each range runs up to the next range's first codepoint.

Regenerate (from the repository root):
    python3 engine/src/tokenizer/gen_unicode_tables.py > engine/src/tokenizer/unicode_tables.rs
"""
import sys
import unicodedata

MAX_CODEPOINTS = 0x110000

# The bit values match llama.cpp's `unicode_cpt_flags` (unicode.h).
UNDEFINED = 0x0001
NUMBER = 0x0002
LETTER = 0x0004
SEPARATOR = 0x0008
ACCENT_MARK = 0x0010
PUNCTUATION = 0x0020
SYMBOL = 0x0040
CONTROL = 0x0080

CATEGORY_FLAGS = {
    "N": NUMBER,
    "L": LETTER,
    "Z": SEPARATOR,
    "M": ACCENT_MARK,
    "P": PUNCTUATION,
    "S": SYMBOL,
    "C": CONTROL,
}

# The Unicode White_Space property, which is what llama.cpp's whitespace set holds. Python's
# str.isspace() also accepts U+001C..U+001F (bidi class B/S), which White_Space does not.
WHITESPACE = [
    0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x0020, 0x0085, 0x00A0, 0x1680,
    *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
]


def flags_of(cp):
    cat = unicodedata.category(chr(cp))
    if cat == "Cn":
        # Unassigned: llama.cpp marks these "undefined", not "control".
        return UNDEFINED
    return CATEGORY_FLAGS[cat[0]]


def main():
    derived = [cp for cp in range(MAX_CODEPOINTS) if chr(cp).isspace() and not 0x1C <= cp <= 0x1F]
    assert derived == WHITESPACE, "the White_Space set moved; check it against the Unicode data"

    ranges = []
    prev = None
    for cp in range(MAX_CODEPOINTS):
        f = flags_of(cp)
        if f != prev:
            ranges.append((cp, f))
            prev = f

    out = sys.stdout.write
    out("//! Unicode category flags for the pre-tokenizers, generated from Python's `unicodedata`\n")
    out(f"//! (Unicode {unicodedata.unidata_version}) by `gen_unicode_tables.py`. Do not edit by hand.\n")
    out("//!\n")
    out("//! Regenerate (from the repository root):\n")
    out("//! `python3 engine/src/tokenizer/gen_unicode_tables.py > engine/src/tokenizer/unicode_tables.rs`\n\n")
    out(f'/// The Unicode version the tables below were generated from.\n')
    out(f'pub const UNICODE_VERSION: &str = "{unicodedata.unidata_version}";\n\n')
    out("/// The whitespace codepoints (the Unicode White_Space property), ascending.\n")
    out("#[rustfmt::skip]\n")
    out(f"pub(super) static WHITESPACE: [u32; {len(WHITESPACE)}] = [\n")
    for i in range(0, len(WHITESPACE), 8):
        out("    " + " ".join(f"0x{cp:04X}," for cp in WHITESPACE[i:i + 8]) + "\n")
    out("];\n\n")
    out("/// `(first codepoint, category flags)`, ascending; each range ends where the next begins,\n")
    out("/// the last one at U+10FFFF.\n")
    out("#[rustfmt::skip]\n")
    out(f"pub(super) static FLAG_RANGES: [(u32, u16); {len(ranges)}] = [\n")
    for i in range(0, len(ranges), 6):
        out("    " + " ".join(f"(0x{cp:06X}, 0x{f:02X})," for cp, f in ranges[i:i + 6]) + "\n")
    out("];\n")


if __name__ == "__main__":
    main()
