//! Constrained decoding for `format: "json"` and `format: {JSON schema}`.
//!
//! [`Schema`] is a JSON schema compiled to a small graph of [`schema::Node`]s (plain JSON mode
//! is the schema "any object"). [`Matcher`] is a pushdown recognizer over bytes that walks that
//! graph: the generation loop asks it whether a token's bytes may come next, feeds it the bytes
//! of the token it picked, and stops once the value is closed. [`validate`] checks a parsed
//! value against the same subset of JSON Schema, so tests can check what the matcher admitted.

mod matcher;
mod schema;
#[cfg(test)]
mod tests;

pub use matcher::Matcher;
pub use schema::{validate, Schema};

use crate::tokenizer::{TokenId, Tokenizer};

/// Whether token `id` may come next, with `left` tokens allowed after it: the matcher's state
/// after it if so. An end-of-generation token is admitted only once the value is complete;
/// control and unused tokens never are (they have no bytes, or are not text). A token is also
/// refused if what would be left of the value could not be closed in `left` tokens (each token
/// is at least one byte, so [`Matcher::min_close`] bytes need at most that many tokens).
///
/// Token bytes come from the tokenizer's pieces, rendered once per vocabulary at load, so a
/// check is a slice lookup and a walk of a few bytes, never a scan of the vocabulary.
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

/// What a request's `format` asks of the output.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// Any JSON object (Ollama's JSON mode, whose grammar's root is an object).
    Json,
    /// A value that validates against this JSON schema.
    Schema(serde_json::Value),
}

impl Format {
    /// Compiles the format into the schema the matcher walks; a schema outside the supported
    /// subset, or past the size and depth caps, is an error that names the problem.
    pub fn compile(&self) -> Result<Schema, String> {
        match self {
            Format::Json => Ok(Schema::any_object()),
            Format::Schema(v) => Schema::compile(v),
        }
    }
}
