//! Unicode helpers shared by the tokenizers: the per-codepoint category flags the
//! pre-tokenizers test (from the generated [`unicode_tables`](super::unicode_tables)), and the
//! GPT-2 byte-to-unicode alphabet that byte-level BPE vocabularies are written in.
//!
//! The flags follow llama.cpp's `unicode_cpt_flags`: each codepoint has exactly one category
//! (number, letter, separator, accent mark, punctuation, symbol, control, or "undefined" for
//! unassigned codepoints) plus a separate whitespace bit (the White_Space property).

use super::unicode_tables::{FLAG_RANGES, WHITESPACE};

/// The category flags of one codepoint. A value of zero means "no codepoint here" (the
/// position is past the end of the piece being split); every real codepoint has one category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CpFlags(u16);

// The full bit layout is kept (not every category is tested by a pre-tokenizer) so that the
// table values read the same as llama.cpp's.
#[allow(dead_code)]
impl CpFlags {
    pub const UNDEFINED: u16 = 0x0001;
    pub const NUMBER: u16 = 0x0002;
    pub const LETTER: u16 = 0x0004;
    pub const SEPARATOR: u16 = 0x0008;
    pub const ACCENT_MARK: u16 = 0x0010;
    pub const PUNCTUATION: u16 = 0x0020;
    pub const SYMBOL: u16 = 0x0040;
    pub const CONTROL: u16 = 0x0080;
    pub const WHITESPACE: u16 = 0x0100;

    /// No codepoint: what the pre-tokenizers see past the end of a piece.
    pub const NONE: CpFlags = CpFlags(0);

    pub fn is_none(self) -> bool {
        self.0 == 0
    }
    pub fn is_number(self) -> bool {
        self.0 & Self::NUMBER != 0
    }
    pub fn is_letter(self) -> bool {
        self.0 & Self::LETTER != 0
    }
    pub fn is_punctuation(self) -> bool {
        self.0 & Self::PUNCTUATION != 0
    }
    pub fn is_whitespace(self) -> bool {
        self.0 & Self::WHITESPACE != 0
    }
    #[cfg(test)]
    pub fn bits(self) -> u16 {
        self.0
    }
}

/// The flags of `cp`; codepoints past U+10FFFF are "undefined", as in llama.cpp.
pub(crate) fn flags(cp: u32) -> CpFlags {
    if cp >= 0x11_0000 {
        return CpFlags(CpFlags::UNDEFINED);
    }
    // The ranges are sorted and the first starts at 0, so the range holding `cp` is the last one
    // whose start is <= cp.
    let idx = FLAG_RANGES.partition_point(|&(start, _)| start <= cp) - 1;
    let mut f = FLAG_RANGES[idx].1;
    if is_whitespace(cp) {
        f |= CpFlags::WHITESPACE;
    }
    CpFlags(f)
}

fn is_whitespace(cp: u32) -> bool {
    // Almost every codepoint is above the few whitespace ones or is ASCII, so test cheaply first.
    match cp {
        0x09..=0x0D | 0x20 => true,
        0..=0x84 => false,
        _ => WHITESPACE.binary_search(&cp).is_ok(),
    }
}

// ---------------------------------------------------------------------------------------------
// The GPT-2 byte-level alphabet
// ---------------------------------------------------------------------------------------------

/// Whether byte `b` stands for itself in the GPT-2 alphabet (printable Latin-1 except the soft
/// hyphen); the other 68 bytes are mapped to U+0100.. in byte order.
const fn byte_is_printable(b: u8) -> bool {
    matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
}

const fn build_byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next_extra = 0x100u32;
    let mut b = 0usize;
    while b < 256 {
        let cp = if byte_is_printable(b as u8) {
            b as u32
        } else {
            next_extra += 1;
            next_extra - 1
        };
        // All values are below U+0144, so the conversion cannot fail.
        table[b] = match char::from_u32(cp) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    table
}

/// `BYTE_TO_CHAR[b]` is the character byte `b` is written as in a byte-level BPE vocabulary.
pub(crate) static BYTE_TO_CHAR: [char; 256] = build_byte_to_char();

/// The byte a GPT-2 alphabet character stands for; `None` for characters outside the alphabet.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 0x100 {
        let b = cp as u8;
        return byte_is_printable(b).then_some(b);
    }
    // The n-th non-printable byte was given U+0100 + n.
    EXTRA_BYTES.get((cp - 0x100) as usize).copied()
}

const fn build_extra_bytes() -> [u8; 68] {
    let mut table = [0u8; 68];
    let mut n = 0usize;
    let mut b = 0usize;
    while b < 256 {
        if !byte_is_printable(b as u8) {
            table[n] = b as u8;
            n += 1;
        }
        b += 1;
    }
    table
}

/// The 68 bytes that do not stand for themselves, in the order they were given U+0100...
static EXTRA_BYTES: [u8; 68] = build_extra_bytes();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_of_common_codepoints() {
        assert!(flags('a' as u32).is_letter());
        assert!(flags('日' as u32).is_letter());
        assert!(flags('7' as u32).is_number());
        assert!(flags('٣' as u32).is_number()); // Arabic-Indic digit three
        assert!(flags(',' as u32).is_punctuation());
        assert!(!flags('$' as u32).is_punctuation()); // a symbol
        assert_eq!(flags('$' as u32).bits(), CpFlags::SYMBOL);
        assert_eq!(flags('🦙' as u32).bits(), CpFlags::SYMBOL);
        assert_eq!(flags(' ' as u32).bits(), CpFlags::SEPARATOR | CpFlags::WHITESPACE);
        assert_eq!(flags('\n' as u32).bits(), CpFlags::CONTROL | CpFlags::WHITESPACE);
        assert_eq!(flags(0xA0).bits(), CpFlags::SEPARATOR | CpFlags::WHITESPACE);
        assert_eq!(flags(0x1C).bits(), CpFlags::CONTROL); // not White_Space
        assert_eq!(flags(0x0301).bits(), CpFlags::ACCENT_MARK);
        assert_eq!(flags(0x0378).bits(), CpFlags::UNDEFINED); // unassigned
        assert_eq!(flags(0x10FFFF).bits(), CpFlags::UNDEFINED);
        assert_eq!(flags(0x11_0000).bits(), CpFlags::UNDEFINED);
        assert!(!flags(0).is_none());
    }

    #[test]
    fn table_is_well_formed() {
        assert_eq!(FLAG_RANGES[0].0, 0);
        assert!(FLAG_RANGES.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1));
        assert!(WHITESPACE.windows(2).all(|w| w[0] < w[1]));
        assert!(!super::super::unicode_tables::UNICODE_VERSION.is_empty());
    }

    #[test]
    fn gpt2_alphabet_round_trips() {
        assert_eq!(BYTE_TO_CHAR[b' ' as usize], 'Ġ');
        assert_eq!(BYTE_TO_CHAR[b'\n' as usize], 'Ċ');
        assert_eq!(BYTE_TO_CHAR[b'\t' as usize], 'ĉ');
        assert_eq!(BYTE_TO_CHAR[b'a' as usize], 'a');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(BYTE_TO_CHAR[b as usize]), Some(b));
        }
        assert_eq!(char_to_byte('▁'), None);
        assert_eq!(char_to_byte(' '), None);
    }
}
