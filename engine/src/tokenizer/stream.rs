//! Incremental decoding of generated tokens into text that is always whole UTF-8.
//!
//! A character can be split over tokens (SentencePiece byte fallback gives one token per byte;
//! byte-level BPE tokens often end inside a character). [`StreamDecoder`] keeps the bytes of an
//! unfinished character until the token that completes it arrives; bytes that can never form a
//! character are replaced by U+FFFD as soon as that is certain.

use super::{TokenId, Tokenizer};

/// Turns a stream of token ids into text pieces that are always whole UTF-8.
#[derive(Debug, Default, Clone)]
pub struct StreamDecoder {
    /// Bytes received but not yet returned: at most the start of one character.
    pending: Vec<u8>,
    /// Whether control tokens are rendered as their text.
    special: bool,
}

impl StreamDecoder {
    /// A decoder that renders control tokens as nothing (what a chat reply shows).
    pub fn new() -> Self {
        StreamDecoder::default()
    }

    /// A decoder that renders control tokens as their text when `special` is true.
    pub fn with_special(special: bool) -> Self {
        StreamDecoder { pending: Vec::new(), special }
    }

    /// Adds token `id` and returns the text it completes (possibly empty).
    pub fn push(&mut self, tok: &Tokenizer, id: TokenId) -> String {
        self.pending.extend_from_slice(&tok.token_bytes(id, self.special));
        self.take_complete()
    }

    /// Returns whatever is left, an unfinished character as U+FFFD, and resets the decoder.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    /// Removes and returns the longest prefix of `pending` that is settled: valid characters,
    /// and invalid sequences (as U+FFFD). An incomplete character at the end stays pending.
    fn take_complete(&mut self) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // The first `valid_up_to` bytes are valid UTF-8, so this never falls back.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        // The input ends inside a character that may still complete.
                        None => {
                            rest = after;
                            break;
                        }
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let len = self.pending.len();
        self.pending.drain(..len - keep);
        out
    }
}
