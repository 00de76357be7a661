//! Pre-tokenizers: the regex splits a byte-level BPE vocabulary applies before merging, written
//! as hand-made matchers (no regex engine) that reproduce llama.cpp's `unicode_regex_split`.
//!
//! llama.cpp picks a list of regexes from `tokenizer.ggml.pre` and applies them in turn: each
//! regex splits every piece the previous one produced into its matches and the unmatched gaps
//! between them (both kept). Two regexes have hand-written implementations in llama.cpp (GPT-2's
//! and Llama 3's); [`split_gpt2`] and [`split_llama3`] port those exactly, quirks included. The
//! others run through `std::regex` over text "collapsed" to one byte per codepoint class; for
//! the classes the regexes here use (`\p{L}`, `\p{N}`, `\p{P}`, `\s`) that is the same as
//! testing the codepoint flags, so they too are written against [`CpFlags`].
//!
//! A [`PreTokenizer`] names the list; [`PreTokenizer::split`] runs it and returns the words.

use super::unicode::{flags, CpFlags};

/// The regex list of a pre-tokenizer type (see `llm_tokenizer_bpe` in llama.cpp).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PreTokenizer {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`.
    Gpt2,
    /// `\p{N}` (every digit on its own), then GPT-2: StarCoder, SmolLM, Refact, Command-R...
    StarCoder,
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    Llama3,
    /// The Llama 3 regex with single digits (`\p{N}` for `\p{N}{1,3}`): Qwen2, StableLM 2.
    Qwen2,
    /// `[\p{P}\$\+<=>\^~\|]+`, GPT-2, `[0-9][0-9][0-9]`.
    Falcon,
    /// `[\p{P}\$\+<=>\^~\|]+`, GPT-2, `\p{N}+`, `[0-9][0-9][0-9]`: llama.cpp's fallback.
    Default,
}

/// What llama.cpp sets besides the regexes for a `tokenizer.ggml.pre` value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PreConfig {
    pub pre: PreTokenizer,
    /// A whole pre-tokenized word that is itself a token is emitted without merging.
    pub ignore_merges: bool,
    /// The default of `add_bos_token` when the metadata does not say.
    pub add_bos: bool,
}

impl PreConfig {
    /// The configuration for a `tokenizer.ggml.pre` value (empty when the key is missing), or
    /// `None` for types this engine does not implement.
    pub fn from_name(name: &str) -> Option<PreConfig> {
        use PreTokenizer::*;
        let plain = |pre| Some(PreConfig { pre, ignore_merges: false, add_bos: false });
        match name {
            "" | "default" => plain(Default),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
            | "jina-v5-nano" => Some(PreConfig { pre: Llama3, ignore_merges: true, add_bos: true }),
            "dbrx" | "smaug-bpe" => plain(Llama3),
            "falcon" => plain(Falcon),
            // "gpt2" is not a name llama.cpp knows, but it is an obvious spelling of "gpt-2".
            "gpt2" | "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
            | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe" | "mpt" | "olmo"
            | "jais" | "exaone4" | "trillion" | "granite-docling" => plain(Gpt2),
            "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
                plain(StarCoder)
            }
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2" => plain(Qwen2),
            _ => None,
        }
    }
}

/// The codepoints of the text being split, with their flags and byte offsets.
struct Cps {
    cps: Vec<u32>,
    flags: Vec<CpFlags>,
    /// Byte offset of each codepoint, plus the text length at the end.
    offs: Vec<usize>,
}

/// A piece as a half-open range of codepoint indices.
type Piece = (usize, usize);

/// What `_get_cpt` returns in llama.cpp past the end of the piece.
const OUT_OF_RANGE: u32 = u32::MAX;

/// The `std::regex` expressions that llama.cpp runs through its general regex path; each
/// matcher returns the length of the match starting at `pos` (0 for none).
#[derive(Clone, Copy)]
enum Matcher {
    /// `\p{N}`
    Number,
    /// `\p{N}+`
    Numbers,
    /// `[\p{P}\$\+<=>\^~\|]+`
    PunctRun,
    /// `[0-9][0-9][0-9]`
    ThreeAsciiDigits,
}

#[derive(Clone, Copy)]
enum Stage {
    Gpt2,
    /// The Llama 3 split with digit groups of at most this many digits.
    Llama3(usize),
    Matches(Matcher),
}

impl PreTokenizer {
    fn stages(self) -> &'static [Stage] {
        use Matcher::*;
        match self {
            PreTokenizer::Gpt2 => &[Stage::Gpt2],
            PreTokenizer::StarCoder => &[Stage::Matches(Number), Stage::Gpt2],
            PreTokenizer::Llama3 => &[Stage::Llama3(3)],
            PreTokenizer::Qwen2 => &[Stage::Llama3(1)],
            PreTokenizer::Falcon => &[Stage::Matches(PunctRun), Stage::Gpt2, Stage::Matches(ThreeAsciiDigits)],
            PreTokenizer::Default => {
                &[Stage::Matches(PunctRun), Stage::Gpt2, Stage::Matches(Numbers), Stage::Matches(ThreeAsciiDigits)]
            }
        }
    }

    /// Splits `text` into the words BPE merges within; the words cover `text` in order.
    pub fn split(self, text: &str) -> Vec<&str> {
        let mut c = Cps {
            cps: Vec::with_capacity(text.len()),
            flags: Vec::with_capacity(text.len()),
            offs: Vec::with_capacity(text.len() + 1),
        };
        for (off, ch) in text.char_indices() {
            c.cps.push(ch as u32);
            c.flags.push(flags(ch as u32));
            c.offs.push(off);
        }
        c.offs.push(text.len());
        if c.cps.is_empty() {
            return Vec::new();
        }

        let mut pieces: Vec<Piece> = vec![(0, c.cps.len())];
        for &stage in self.stages() {
            let mut next = Vec::with_capacity(pieces.len() * 2);
            for &(ini, end) in &pieces {
                match stage {
                    Stage::Gpt2 => split_gpt2(&c, ini, end, &mut next),
                    Stage::Llama3(max_digits) => split_llama3(&c, ini, end, max_digits, &mut next),
                    Stage::Matches(m) => split_matches(&c, ini, end, m, &mut next),
                }
            }
            pieces = next;
        }
        pieces.iter().map(|&(a, b)| &text[c.offs[a]..c.offs[b]]).collect()
    }
}

/// Collects the pieces a custom splitter cuts, skipping empty ones (llama.cpp's `_add_token`).
struct Emitter<'a> {
    prev_end: usize,
    out: &'a mut Vec<Piece>,
}

impl Emitter<'_> {
    fn add(&mut self, end: usize) {
        if end > self.prev_end {
            self.out.push((self.prev_end, end));
        }
        self.prev_end = end;
    }
}

impl Cps {
    /// The codepoint at `pos` if it lies inside the piece ending at `end`.
    fn cpt(&self, pos: usize, end: usize) -> u32 {
        if pos < end {
            self.cps[pos]
        } else {
            OUT_OF_RANGE
        }
    }
    fn fl(&self, pos: usize, end: usize) -> CpFlags {
        if pos < end {
            self.flags[pos]
        } else {
            CpFlags::NONE
        }
    }
}

fn is_cr_or_lf(cp: u32) -> bool {
    cp == '\r' as u32 || cp == '\n' as u32
}

/// The length of an English contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) at `pos`,
/// or 0. llama.cpp lower-cases with its full table for Llama 3; no non-ASCII codepoint lowers
/// to one of these letters, so ASCII lower-casing is the same.
fn contraction_len(c: &Cps, pos: usize, end: usize, ignore_case: bool) -> usize {
    if c.cpt(pos, end) != '\'' as u32 || pos + 1 >= end {
        return 0;
    }
    let lower = |cp: u32| match char::from_u32(cp) {
        Some(ch) if ignore_case => ch.to_ascii_lowercase(),
        Some(ch) => ch,
        None => '\0',
    };
    let next = lower(c.cpt(pos + 1, end));
    if matches!(next, 's' | 't' | 'm' | 'd') {
        return 2;
    }
    if pos + 2 < end {
        let next2 = lower(c.cpt(pos + 2, end));
        if matches!((next, next2), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
            return 3;
        }
    }
    0
}

/// Whitespace at `pos`: the run's length and the end of its last `\r`/`\n` (0 if none).
fn whitespace_run(c: &Cps, pos: usize, end: usize) -> (usize, usize) {
    let mut n = 0;
    let mut last_end_r_or_n = 0;
    while c.fl(pos + n, end).is_whitespace() {
        if is_cr_or_lf(c.cpt(pos + n, end)) {
            last_end_r_or_n = pos + n + 1;
        }
        n += 1;
    }
    (n, last_end_r_or_n)
}

/// GPT-2's regex, as llama.cpp's `unicode_regex_split_custom_gpt2`.
fn split_gpt2(c: &Cps, ini: usize, end: usize, out: &mut Vec<Piece>) {
    let mut em = Emitter { prev_end: ini, out };
    let mut pos = ini;
    while pos < end {
        let cpt = c.cpt(pos, end);
        let f = c.fl(pos, end);

        // 's|'t|'re|'ve|'m|'ll|'d
        let n = contraction_len(c, pos, end, false);
        if n > 0 {
            pos += n;
            em.add(pos);
            continue;
        }

        let space = cpt == ' ' as u32;
        let mut f2 = if space { c.fl(pos + 1, end) } else { f };
        // <space>?\p{L}+
        if f2.is_letter() {
            pos += space as usize;
            while f2.is_letter() {
                pos += 1;
                f2 = c.fl(pos, end);
            }
            em.add(pos);
            continue;
        }
        // <space>?\p{N}+
        if f2.is_number() {
            pos += space as usize;
            while f2.is_number() {
                pos += 1;
                f2 = c.fl(pos, end);
            }
            em.add(pos);
            continue;
        }
        // <space>?[^\s\p{L}\p{N}]+ (a codepoint, not the end of the piece)
        let other = |f: CpFlags| !(f.is_whitespace() || f.is_letter() || f.is_number() || f.is_none());
        if other(f2) {
            pos += space as usize;
            while other(f2) {
                pos += 1;
                f2 = c.fl(pos, end);
            }
            em.add(pos);
            continue;
        }

        let (n_ws, _) = whitespace_run(c, pos, end);
        // \s+(?!\S): keep the last whitespace for the word that follows.
        if n_ws > 1 && c.cpt(pos + n_ws, end) != OUT_OF_RANGE {
            pos += n_ws - 1;
            em.add(pos);
            continue;
        }
        // \s+ (whitespace at the end of the piece, or a single one before a non-space)
        if n_ws > 0 {
            pos += n_ws;
            em.add(pos);
            continue;
        }
        // No alternative matches: the codepoint becomes a piece on its own.
        pos += 1;
        em.add(pos);
    }
}

/// Llama 3's regex, as llama.cpp's `unicode_regex_split_custom_llama3`, with digit groups of
/// `max_digits` (3 for Llama 3, 1 for Qwen2, whose regex differs only there).
fn split_llama3(c: &Cps, ini: usize, end: usize, max_digits: usize, out: &mut Vec<Piece>) {
    let mut em = Emitter { prev_end: ini, out };
    let mut pos = ini;
    while pos < end {
        let cpt = c.cpt(pos, end);
        let f = c.fl(pos, end);

        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        let n = contraction_len(c, pos, end, true);
        if n > 0 {
            pos += n;
            em.add(pos);
            continue;
        }

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(is_cr_or_lf(cpt) || f.is_number()) && (f.is_letter() || c.fl(pos + 1, end).is_letter()) {
            pos += 1;
            while c.fl(pos, end).is_letter() {
                pos += 1;
            }
            em.add(pos);
            continue;
        }

        // \p{N}{1,max_digits}
        if f.is_number() {
            let mut group_start = pos;
            while c.fl(pos, end).is_number() {
                pos += 1;
                if pos - group_start >= max_digits {
                    em.add(pos);
                    group_start = pos;
                }
            }
            em.add(pos);
            continue;
        }

        // <space>?[^\s\p{L}\p{N}]+[\r\n]*
        let space = cpt == ' ' as u32;
        let mut f2 = if space { c.fl(pos + 1, end) } else { f };
        let other = |f: CpFlags| !(f.is_whitespace() || f.is_letter() || f.is_number());
        // llama.cpp tests the flags of `pos` (not of the codepoint after the space) for being
        // inside the piece here, so a lone trailing space becomes its own word on this path.
        if other(f2) && !f.is_none() {
            pos += space as usize;
            while other(f2) && !f2.is_none() {
                pos += 1;
                f2 = c.fl(pos, end);
            }
            while is_cr_or_lf(c.cpt(pos, end)) {
                pos += 1;
            }
            em.add(pos);
            continue;
        }

        let (n_ws, last_end_r_or_n) = whitespace_run(c, pos, end);
        // \s*[\r\n]+: up to and including the run's last newline.
        if last_end_r_or_n > 0 {
            pos = last_end_r_or_n;
            em.add(pos);
            continue;
        }
        // \s+(?!\S)
        if n_ws > 1 && c.cpt(pos + n_ws, end) != OUT_OF_RANGE {
            pos += n_ws - 1;
            em.add(pos);
            continue;
        }
        // \s+
        if n_ws > 0 {
            pos += n_ws;
            em.add(pos);
            continue;
        }
        pos += 1;
        em.add(pos);
    }
}

/// A `std::regex_iterator` split: every match and every unmatched gap becomes a piece.
fn split_matches(c: &Cps, ini: usize, end: usize, m: Matcher, out: &mut Vec<Piece>) {
    let run = |pos: usize, pred: &dyn Fn(usize) -> bool| (pos..end).take_while(|&p| pred(p)).count();
    let mut prev = ini;
    let mut pos = ini;
    while pos < end {
        let len = match m {
            Matcher::Number => c.flags[pos].is_number() as usize,
            Matcher::Numbers => run(pos, &|p| c.flags[p].is_number()),
            Matcher::PunctRun => run(pos, &|p| {
                c.flags[p].is_punctuation()
                    || matches!(char::from_u32(c.cps[p]), Some('$' | '+' | '<' | '=' | '>' | '^' | '~' | '|'))
            }),
            Matcher::ThreeAsciiDigits => {
                let digit = |p: usize| p < end && (b'0' as u32..=b'9' as u32).contains(&c.cps[p]);
                if digit(pos) && digit(pos + 1) && digit(pos + 2) {
                    3
                } else {
                    0
                }
            }
        };
        if len == 0 {
            pos += 1;
            continue;
        }
        if pos > prev {
            out.push((prev, pos));
        }
        out.push((pos, pos + len));
        pos += len;
        prev = pos;
    }
    if prev < end {
        out.push((prev, end));
    }
}

#[cfg(test)]
mod tests {
    use super::PreTokenizer::{self, *};

    fn split(pre: PreTokenizer, text: &str) -> Vec<&str> {
        let words = pre.split(text);
        assert_eq!(words.concat(), text, "{pre:?} must cover the text");
        words
    }

    #[test]
    fn leading_spaces_keep_one_for_the_word() {
        for pre in [Gpt2, StarCoder, Llama3, Qwen2] {
            assert_eq!(split(pre, "  hello"), [" ", " hello"], "{pre:?}");
            assert_eq!(split(pre, "   leading spaces"), ["  ", " leading", " spaces"], "{pre:?}");
            assert_eq!(split(pre, "trailing   "), ["trailing", "   "], "{pre:?}");
            assert_eq!(split(pre, "hello  world"), ["hello", " ", " world"], "{pre:?}");
        }
    }

    #[test]
    fn newlines_then_space() {
        assert_eq!(split(Gpt2, "a\n\n b"), ["a", "\n\n", " b"]);
        // \s*[\r\n]+ takes the whitespace up to the last newline.
        assert_eq!(split(Llama3, "a\n\n b"), ["a", "\n\n", " b"]);
        assert_eq!(split(Qwen2, "a \n\n  b"), ["a", " \n\n", " ", " b"]);
        assert_eq!(split(Qwen2, "x):\n\t\treturn"), ["x", "):\n", "\t", "\treturn"]);
        assert_eq!(split(Gpt2, "x):\n\t\treturn"), ["x", "):", "\n\t", "\t", "return"]);
    }

    #[test]
    fn contractions() {
        assert_eq!(split(Gpt2, "'s'll"), ["'s", "'ll"]);
        assert_eq!(split(Gpt2, "don't I'M"), ["don", "'t", " I", "'", "M"]);
        assert_eq!(split(Llama3, "don't I'M"), ["don", "'t", " I", "'M"]);
        assert_eq!(split(Qwen2, "you'll'"), ["you", "'ll", "'"]);
    }

    #[test]
    fn digits() {
        assert_eq!(split(Gpt2, "12345 6"), ["12345", " 6"]);
        assert_eq!(split(StarCoder, "1234 -42"), ["1", "2", "3", "4", " -", "4", "2"]);
        assert_eq!(split(StarCoder, "a1 b"), ["a", "1", " b"]);
        assert_eq!(split(Llama3, "1234567"), ["123", "456", "7"]);
        assert_eq!(split(Qwen2, "x=12"), ["x", "=", "1", "2"]);
        assert_eq!(split(Default, "Hi, 12345!"), ["Hi", ",", " ", "123", "45", "!"]);
        assert_eq!(split(Falcon, "v1234"), ["v", "123", "4"]);
    }

    #[test]
    fn cjk_emoji_and_accents() {
        for pre in [Gpt2, StarCoder, Llama3, Qwen2] {
            assert_eq!(split(pre, "日本語のテキスト"), ["日本語のテキスト"], "{pre:?}");
            assert_eq!(split(pre, "naïve café"), ["naïve", " café"], "{pre:?}");
        }
        assert_eq!(split(Gpt2, "emoji 🦙🚀 mix"), ["emoji", " 🦙🚀", " mix"]);
        assert_eq!(split(Qwen2, "emoji 🦙🚀 mix"), ["emoji", " 🦙🚀", " mix"]);
        // A combining accent is not a letter, so it breaks a word.
        assert_eq!(split(Gpt2, "cafe\u{301}s"), ["cafe", "\u{301}", "s"]);
        // Non-breaking space is whitespace but not ' '.
        assert_eq!(split(Gpt2, "a\u{a0}b"), ["a", "\u{a0}", "b"]);
        assert_eq!(split(Qwen2, "a\u{a0}b"), ["a", "\u{a0}b"]);
    }

    #[test]
    fn symbols_and_unassigned() {
        assert_eq!(split(Qwen2, "https://x.com/p?q=1"), ["https", "://", "x", ".com", "/p", "?q", "=", "1"]);
        assert_eq!(split(Gpt2, "https://x.com/p?q=1"), ["https", "://", "x", ".", "com", "/", "p", "?", "q", "=", "1"]);
        // Unassigned codepoints group with punctuation and symbols.
        assert_eq!(split(Gpt2, "a \u{378}\u{379}!"), ["a", " \u{378}\u{379}!"]);
        // A space at the very end of a piece after symbols.
        assert_eq!(split(Llama3, "a! "), ["a", "!", " "]);
        assert_eq!(split(Qwen2, "\r\n"), ["\r\n"]);
        assert!(split(Gpt2, "").is_empty());
    }

    #[test]
    fn names_map_to_llama_cpp_types() {
        use super::PreConfig;
        assert_eq!(PreConfig::from_name("smollm").map(|c| c.pre), Some(StarCoder));
        assert_eq!(PreConfig::from_name("qwen2").map(|c| c.pre), Some(Qwen2));
        assert_eq!(PreConfig::from_name("").map(|c| c.pre), Some(Default));
        let l3 = PreConfig::from_name("llama-bpe").unwrap();
        assert!(l3.ignore_merges && l3.add_bos && l3.pre == Llama3);
        assert!(PreConfig::from_name("no-such-pre").is_none());
    }
}
