//! SentencePiece-style tokenization (`tokenizer.ggml.model = "llama"`), as llama.cpp's
//! `llm_tokenizer_spm_session`.
//!
//! The text (spaces already replaced by `▁`) starts as one symbol per character. Every pair of
//! neighbours whose concatenation is a token is a candidate merge; the candidate with the highest
//! token score (leftmost on ties) is merged first, and the pairs around the merged symbol become
//! new candidates. A priority queue over a linked list of symbols keeps this O(n log n). Symbols
//! that are not tokens at the end fall back to one `<0xXX>` byte token per byte.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use super::TokenId;

/// A run of the text: bytes `start..start + len`, linked to its neighbours. Merged-away
/// symbols keep `len == 0`.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge of symbol `left` with its right neighbour `right`.
struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    /// The byte length of the merged text; a bigram whose symbols changed since it was queued
    /// no longer adds up to it and is skipped.
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// The heap's maximum is the highest score, then the leftmost position.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
    }
}

/// Appends the tokens of `text` (already whitespace-escaped) to `out`.
pub(crate) fn tokenize(vocab: &Vocab, byte_tokens: &[Option<TokenId>; 256], text: &str, out: &mut Vec<TokenId>) {
    let bytes = text.as_bytes();
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    for (i, (start, ch)) in text.char_indices().enumerate() {
        symbols.push(Symbol {
            start,
            len: ch.len_utf8(),
            prev: i.checked_sub(1),
            next: (start + ch.len_utf8() < bytes.len()).then_some(i + 1),
        });
    }
    if symbols.is_empty() {
        return;
    }

    let mut queue = BinaryHeap::new();
    let try_add = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: Option<usize>, right: Option<usize>| {
        let (Some(left), Some(right)) = (left, right) else {
            return;
        };
        let (l, r) = (symbols[left], symbols[right]);
        // Neighbouring symbols are adjacent in the text, so their concatenation is a slice.
        let merged = &text[l.start..r.start + r.len];
        if let Some(id) = vocab.text_to_id(merged) {
            queue.push(Bigram { left, right, score: vocab.scores[id as usize], size: merged.len() });
        }
    };
    for i in 1..symbols.len() {
        try_add(&mut queue, &symbols, Some(i - 1), Some(i));
    }

    while let Some(bigram) = queue.pop() {
        let (l, r) = (symbols[bigram.left], symbols[bigram.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != bigram.size {
            continue;
        }
        // Merge the right symbol into the left one and unlink it.
        symbols[bigram.left].len += r.len;
        symbols[bigram.right].len = 0;
        symbols[bigram.left].next = r.next;
        if let Some(n) = r.next {
            symbols[n].prev = Some(bigram.left);
        }
        try_add(&mut queue, &symbols, l.prev, Some(bigram.left));
        try_add(&mut queue, &symbols, Some(bigram.left), r.next);
    }

    let mut i = Some(0);
    while let Some(idx) = i {
        let s = symbols[idx];
        let piece = &text[s.start..s.start + s.len];
        match vocab.text_to_id(piece) {
            Some(id) => out.push(id),
            // Only single characters can be left without a token (every merge makes a token),
            // so llama.cpp's `rev_merge` re-segmentation never applies to valid UTF-8: each
            // byte becomes its byte token. Where the vocabulary has none, llama.cpp throws;
            // this emits the unknown token, or nothing.
            None => out.extend(piece.bytes().filter_map(|b| byte_tokens[b as usize].or(vocab.unk))),
        }
        i = s.next;
    }
}
