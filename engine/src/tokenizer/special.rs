//! Splitting special tokens out of the input before the tokenizer proper sees it (llama.cpp's
//! `tokenizer_st_partition`).
//!
//! Control, user-defined and unknown tokens are tried one after the other, longest text first;
//! each one cuts every remaining text fragment at its non-overlapping occurrences, left to
//! right. User-defined tokens are always split out; control and unknown tokens only when the
//! caller asks to parse special tokens. A trie over all special texts first finds which of them
//! occur in the input at all, so that a vocabulary with thousands of control tokens (Gemma has
//! 6k) costs one pass over the text rather than one search per token.

use super::vocab::{attr, Vocab};
use super::TokenId;

/// A piece of the input after the special-token split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fragment<'a> {
    /// Text for the tokenizer proper.
    Text(&'a str),
    /// A special token found in the text.
    Token(TokenId),
}

/// A byte trie over the special token texts; a node's value is the token's rank in
/// [`SpecialTokens::order`].
struct Trie {
    /// Children of each node, sorted by byte.
    children: Vec<Vec<(u8, u32)>>,
    value: Vec<Option<u32>>,
}

impl Trie {
    fn new() -> Trie {
        Trie { children: vec![Vec::new()], value: vec![None] }
    }

    fn child(&self, node: u32, b: u8) -> Option<u32> {
        let kids = &self.children[node as usize];
        kids.binary_search_by_key(&b, |&(k, _)| k).ok().map(|i| kids[i].1)
    }

    fn insert(&mut self, key: &[u8], value: u32) {
        let mut node = 0u32;
        for &b in key {
            node = match self.child(node, b) {
                Some(next) => next,
                None => {
                    let next = self.children.len() as u32;
                    self.children.push(Vec::new());
                    self.value.push(None);
                    let kids = &mut self.children[node as usize];
                    let at = kids.partition_point(|&(k, _)| k < b);
                    kids.insert(at, (b, next));
                    next
                }
            };
        }
        self.value[node as usize] = Some(value);
    }
}

pub(crate) struct SpecialTokens {
    /// Control, user-defined and unknown tokens, longest text first (ties by id).
    order: Vec<TokenId>,
    trie: Trie,
}

/// C's `isspace` in the "C" locale, which llama.cpp's lstrip/rstrip use.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

impl SpecialTokens {
    pub fn new(vocab: &Vocab) -> SpecialTokens {
        let special = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
        let mut order: Vec<TokenId> =
            (0..vocab.n_tokens() as TokenId).filter(|&id| vocab.attr(id) & special != 0).collect();
        // A stable sort keeps equal lengths in id order.
        order.sort_by_key(|&id| std::cmp::Reverse(vocab.texts[id as usize].len()));
        let mut trie = Trie::new();
        for (rank, &id) in order.iter().enumerate() {
            trie.insert(vocab.texts[id as usize].as_bytes(), rank as u32);
        }
        SpecialTokens { order, trie }
    }

    /// The ranks (in `order`) of the special tokens that occur somewhere in `text`, ascending.
    fn present(&self, text: &str) -> Vec<u32> {
        let bytes = text.as_bytes();
        let mut seen = Vec::new();
        for start in 0..bytes.len() {
            let mut node = 0u32;
            for &b in &bytes[start..] {
                match self.trie.child(node, b) {
                    Some(next) => node = next,
                    None => break,
                }
                if let Some(rank) = self.trie.value[node as usize] {
                    seen.push(rank);
                }
            }
        }
        seen.sort_unstable();
        seen.dedup();
        seen
    }

    /// Splits `text` into text fragments and special tokens. An empty text gives no fragments.
    pub fn partition<'a>(&self, vocab: &Vocab, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let mut frags = Vec::new();
        if text.is_empty() {
            return frags;
        }
        frags.push(Fragment::Text(text));
        for rank in self.present(text) {
            let id = self.order[rank as usize];
            let a = vocab.attr(id);
            // Control and unknown tokens are text unless asked for; user-defined ones never are.
            if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                continue;
            }
            frags = split_on(&frags, &vocab.texts[id as usize], id, a);
        }
        frags
    }
}

/// Cuts every text fragment at the non-overlapping occurrences of `needle` (token `id`).
fn split_on<'a>(frags: &[Fragment<'a>], needle: &str, id: TokenId, a: u16) -> Vec<Fragment<'a>> {
    let mut out = Vec::with_capacity(frags.len() + 2);
    for &frag in frags {
        let Fragment::Text(mut rest) = frag else {
            out.push(frag);
            continue;
        };
        while let Some(at) = rest.find(needle) {
            let mut left = &rest[..at];
            if a & attr::LSTRIP != 0 {
                left = left.trim_end_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
            }
            if !left.is_empty() {
                out.push(Fragment::Text(left));
            }
            out.push(Fragment::Token(id));
            rest = &rest[at + needle.len()..];
            if a & attr::RSTRIP != 0 {
                rest = rest.trim_start_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
            }
        }
        if !rest.is_empty() {
            out.push(Fragment::Text(rest));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_left_to_right_without_overlap() {
        let frags = [Fragment::Text("xaaay"), Fragment::Token(7)];
        assert_eq!(
            split_on(&frags, "aa", 1, attr::CONTROL),
            [Fragment::Text("x"), Fragment::Token(1), Fragment::Text("ay"), Fragment::Token(7)]
        );
    }

    #[test]
    fn strips_spaces_when_the_token_says_so() {
        let frags = [Fragment::Text("a  <s>  b")];
        assert_eq!(
            split_on(&frags, "<s>", 3, attr::CONTROL | attr::LSTRIP | attr::RSTRIP),
            [Fragment::Text("a"), Fragment::Token(3), Fragment::Text("b")]
        );
        assert_eq!(
            split_on(&frags, "<s>", 3, attr::CONTROL),
            [Fragment::Text("a  "), Fragment::Token(3), Fragment::Text("  b")]
        );
    }

    #[test]
    fn trie_finds_every_occurring_prefix() {
        let mut t = Trie::new();
        t.insert(b"<a>", 0);
        t.insert(b"<", 1);
        assert_eq!(t.child(0, b'<').and_then(|n| t.value[n as usize]), Some(1));
        assert_eq!(t.child(0, b'>'), None);
    }
}
