//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`), as llama.cpp's `llm_tokenizer_bpe_session`.
//!
//! The text is first cut into words by the [`PreTokenizer`](super::pretokenize::PreTokenizer);
//! each word's bytes are written in the GPT-2 alphabet (one printable character per byte), then
//! merged: the adjacent pair with the lowest merge rank (leftmost on ties) is joined first, and
//! the pairs around the joined symbol become new candidates, over a priority queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::pretokenize::PreConfig;
use super::unicode::BYTE_TO_CHAR;
use super::vocab::{Vocab, MAX_TOKEN_LEN, MAX_VOCAB};
use super::{TokenId, TokenizerError};

/// The most merges accepted (real vocabularies have at most a few hundred thousand).
const MAX_MERGES: usize = 2 * MAX_VOCAB;

pub(crate) struct Bpe {
    pub config: PreConfig,
    /// Every distinct merge half, numbered, so that a pair looks up without allocating.
    parts: HashMap<Box<str>, u32>,
    /// `(left part, right part)` -> rank (the merge's position in the list).
    ranks: HashMap<(u32, u32), u32>,
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Bpe {
    /// Reads the merges (`"left right"` strings, best first).
    pub fn new(merges: &[&str], config: PreConfig) -> Result<Bpe, TokenizerError> {
        if merges.len() > MAX_MERGES {
            return Err(TokenizerError::Invalid(format!("{} merges (limit {MAX_MERGES})", merges.len())));
        }
        let mut parts: HashMap<Box<str>, u32> = HashMap::new();
        let mut ranks = HashMap::with_capacity(merges.len());
        for (rank, merge) in merges.iter().enumerate() {
            if merge.len() > 2 * MAX_TOKEN_LEN {
                return Err(TokenizerError::Invalid(format!("merge {rank} is {} bytes long", merge.len())));
            }
            // llama.cpp splits at the first space after the first byte, so a merge may start
            // with a space; a space byte is never inside a multi-byte character.
            let sep = merge.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1);
            let Some(sep) = sep else {
                return Err(TokenizerError::Invalid(format!("merge {rank} ({merge:?}) has no space")));
            };
            let mut id = |s: &str| {
                let next = parts.len() as u32;
                *parts.entry(s.into()).or_insert(next)
            };
            let key = (id(&merge[..sep]), id(&merge[sep + 1..]));
            // A repeated merge keeps its first (best) rank, as llama.cpp's `emplace` does.
            ranks.entry(key).or_insert(rank as u32);
        }
        Ok(Bpe { config, parts, ranks })
    }

    fn rank(&self, left: &str, right: &str) -> Option<u32> {
        let l = *self.parts.get(left)?;
        let r = *self.parts.get(right)?;
        self.ranks.get(&(l, r)).copied()
    }

    /// Appends the tokens of `text` (a fragment without special tokens) to `out`.
    pub fn tokenize(&self, vocab: &Vocab, text: &str, out: &mut Vec<TokenId>) {
        let mut word = String::new();
        for raw in self.config.pre.split(text) {
            word.clear();
            word.extend(raw.bytes().map(|b| BYTE_TO_CHAR[b as usize]));
            if self.config.ignore_merges {
                if let Some(id) = vocab.text_to_id(&word) {
                    out.push(id);
                    continue;
                }
            }
            self.merge_word(vocab, &word, out);
        }
    }

    fn merge_word(&self, vocab: &Vocab, word: &str, out: &mut Vec<TokenId>) {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(word.len());
        for (i, (start, ch)) in word.char_indices().enumerate() {
            symbols.push(Symbol {
                start,
                len: ch.len_utf8(),
                prev: i.checked_sub(1),
                next: (start + ch.len_utf8() < word.len()).then_some(i + 1),
            });
        }
        if symbols.is_empty() {
            return;
        }
        let text = |s: &Symbol| &word[s.start..s.start + s.len];

        // Min-heap on (rank, left position); `size` detects stale entries.
        let mut queue: BinaryHeap<Reverse<(u32, usize, usize, usize)>> = BinaryHeap::new();
        let try_add = |queue: &mut BinaryHeap<_>, symbols: &[Symbol], left: Option<usize>, right: Option<usize>| {
            let (Some(left), Some(right)) = (left, right) else {
                return;
            };
            let (l, r) = (&symbols[left], &symbols[right]);
            if let Some(rank) = self.rank(text(l), text(r)) {
                queue.push(Reverse((rank, left, right, l.len + r.len)));
            }
        };
        for i in 1..symbols.len() {
            try_add(&mut queue, &symbols, Some(i - 1), Some(i));
        }
        while let Some(Reverse((_, left, right, size))) = queue.pop() {
            let (l, r) = (symbols[left], symbols[right]);
            // Symbols only grow, so unchanged lengths mean an unchanged pair (llama.cpp
            // compares the texts).
            if l.len == 0 || r.len == 0 || l.len + r.len != size {
                continue;
            }
            symbols[left].len += r.len;
            symbols[right].len = 0;
            symbols[left].next = r.next;
            if let Some(n) = r.next {
                symbols[n].prev = Some(left);
            }
            try_add(&mut queue, &symbols, l.prev, Some(left));
            try_add(&mut queue, &symbols, Some(left), r.next);
        }

        let mut i = Some(0);
        while let Some(idx) = i {
            let piece = text(&symbols[idx]);
            match vocab.text_to_id(piece) {
                Some(id) => out.push(id),
                // llama.cpp looks each byte of the piece up as a one-byte token; only ASCII
                // bytes can be one (a lone byte >= 0x80 is not a string), the rest are dropped.
                None => out.extend(
                    piece
                        .bytes()
                        .filter(u8::is_ascii)
                        .filter_map(|b| vocab.text_to_id((b as char).encode_utf8(&mut [0; 4]))),
                ),
            }
            i = symbols[idx].next;
        }
    }
}
