//! Constrained decoding for GBNF grammars (llama.cpp's grammar format), the `grammar` option.
//!
//! [`Grammar::parse`] reads and checks the text (rules, alternatives, groups, repetition,
//! literals, character classes) into a flat element array with each rule's shortest
//! derivation; [`Matcher`] is the recognizer over it, a set of parse stacks advanced per code
//! point, with the same interface as [`json::Matcher`](crate::json::Matcher) so that the
//! generation loop treats both alike: ask whether a token's bytes may come next, feed the
//! chosen token, stop once nothing more may follow.

mod matcher;
mod parse;
#[cfg(test)]
mod tests;

pub use matcher::{Matcher, MAX_DEPTH, MAX_STACKS, MAX_WORK};
pub use parse::{Grammar, GrammarError, MAX_ELEMS, MAX_GRAMMAR_BYTES, MAX_NESTING, MAX_REPEAT, MAX_RULES};

use crate::tokenizer::{TokenId, Tokenizer};

/// Whether token `id` may come next, with `left` tokens allowed after it: the matcher's state
/// after it if so. As [`json::admit`](crate::json::admit): an end-of-generation token only
/// once some parse is complete, never a control token, and never a token after which the
/// text could not be completed in `left` tokens.
pub fn admit(m: &Matcher, tok: &Tokenizer, id: TokenId, left: usize) -> Option<Matcher> {
    if tok.is_eog(id) {
        return m.can_end().then(|| m.clone());
    }
    let bytes = tok.token_bytes(id, false);
    if bytes.is_empty() || tok.is_control(id) {
        return None;
    }
    m.try_feed(&bytes).filter(|after| after.can_end() || after.min_close() <= left)
}
