//! Tokenizers: text to token ids and back, matching llama.cpp's `llama-vocab.cpp` on the same
//! GGUF vocabulary.
//!
//! A [`Tokenizer`] is built from a GGUF file's `tokenizer.ggml.*` metadata. It holds the
//! vocabulary (`vocab`), the special-token splitter (`special`) and one of two algorithms:
//! SentencePiece-style merging by score (`spm`, model "llama") or byte-level BPE by merge rank
//! (`bpe`, model "gpt2", with the regex pre-tokenizers of `pretokenize` over the Unicode flags
//! of `unicode`). [`Tokenizer::encode`] first splits special tokens out of the text, then runs
//! the algorithm on each text fragment. Decoding maps each token to the bytes it contributes
//! (precomputed per token); [`StreamDecoder`] turns a stream of tokens into whole UTF-8 text.

mod bpe;
mod pretokenize;
mod special;
mod spm;
mod stream;
mod unicode;
mod unicode_tables;
mod vocab;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use crate::gguf::{GgufError, GgufFile};
use bpe::Bpe;
use pretokenize::PreConfig;
use special::{Fragment, SpecialTokens};
use vocab::{attr, Vocab, VocabKind};

pub use stream::StreamDecoder;
/// The Unicode version of the character tables the pre-tokenizers use.
pub use unicode_tables::UNICODE_VERSION;

/// A token's index in the vocabulary.
pub type TokenId = u32;

/// Why a vocabulary could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("reading the vocabulary: {0}")]
    Gguf(#[from] GgufError),
    #[error("unsupported tokenizer model {model:?} (supported: \"llama\", \"gpt2\")")]
    Unsupported { model: String },
    #[error("unsupported pre-tokenizer {pre:?}")]
    UnsupportedPre { pre: String },
    #[error("invalid vocabulary: {0}")]
    Invalid(String),
}

enum Engine {
    Spm {
        /// The token each raw byte falls back to.
        byte_tokens: Box<[Option<TokenId>; 256]>,
    },
    Bpe(Bpe),
}

/// A model's tokenizer: encodes text to token ids and decodes ids to bytes.
pub struct Tokenizer {
    vocab: Vocab,
    special: SpecialTokens,
    engine: Engine,
    /// The bytes each token contributes to the output when special tokens are rendered, all
    /// tokens concatenated; token `i` is `pieces[piece_offs[i]..piece_offs[i + 1]]`.
    pieces: Vec<u8>,
    piece_offs: Vec<usize>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("model", &self.model_kind())
            .field("n_vocab", &self.n_vocab())
            .field("bos", &self.vocab.bos)
            .field("eos", &self.vocab.eos)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Builds the tokenizer described by a GGUF file's `tokenizer.ggml.*` metadata.
    pub fn from_gguf(g: &GgufFile) -> Result<Tokenizer, TokenizerError> {
        let model = g
            .get_str("tokenizer.ggml.model")?
            .ok_or_else(|| TokenizerError::Invalid("tokenizer.ggml.model is missing".into()))?;
        let (vocab, engine) = match model {
            "llama" => {
                let vocab = Vocab::load(g, VocabKind::Spm, true)?;
                let byte_tokens = Box::new(std::array::from_fn(|b| vocab.spm_byte_token(b as u8)));
                (vocab, Engine::Spm { byte_tokens })
            }
            "gpt2" => {
                let pre = g.get_str("tokenizer.ggml.pre")?.unwrap_or("");
                let config =
                    PreConfig::from_name(pre).ok_or_else(|| TokenizerError::UnsupportedPre { pre: pre.to_string() })?;
                let merges = g
                    .get_str_array("tokenizer.ggml.merges")?
                    .ok_or_else(|| TokenizerError::Invalid("tokenizer.ggml.merges is missing".into()))?;
                let bpe = Bpe::new(&merges, config)?;
                (Vocab::load(g, VocabKind::Bpe, config.add_bos)?, Engine::Bpe(bpe))
            }
            other => return Err(TokenizerError::Unsupported { model: other.to_string() }),
        };
        let special = SpecialTokens::new(&vocab);
        let mut tok = Tokenizer { vocab, special, engine, pieces: Vec::new(), piece_offs: vec![0] };
        for id in 0..tok.vocab.n_tokens() as TokenId {
            let piece = tok.render(id);
            tok.pieces.extend_from_slice(&piece);
            tok.piece_offs.push(tok.pieces.len());
        }
        Ok(tok)
    }

    /// Token ids for `text`. With `add_special`, BOS/EOS are added as the metadata says; with
    /// `parse_special`, control-token texts in `text` (such as `<|im_start|>`) become their ids.
    /// User-defined tokens are always matched whole, as in llama.cpp.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<TokenId> {
        let v = &self.vocab;
        let frags = self.special.partition(v, text, parse_special);
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && v.add_bos {
            out.extend(v.bos);
        }
        match &self.engine {
            Engine::Spm { byte_tokens } => {
                // SentencePiece marks the start of the text (and of the text after a special
                // token) with a space when the vocabulary asks for a space prefix.
                let mut after_special = true;
                let mut escaped = String::new();
                for frag in frags {
                    match frag {
                        Fragment::Text(t) => {
                            escaped.clear();
                            if v.add_space_prefix && after_special {
                                escaped.push('▁');
                            }
                            escaped.extend(t.chars().map(|c| if c == ' ' { '▁' } else { c }));
                            spm::tokenize(v, byte_tokens, &escaped, &mut out);
                            after_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            after_special = true;
                        }
                    }
                }
            }
            Engine::Bpe(bpe) => {
                for frag in frags {
                    match frag {
                        Fragment::Text(t) => bpe.tokenize(v, t, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
        }
        if add_special && v.add_eos {
            out.extend(v.eos);
        }
        out
    }

    /// The bytes token `id` contributes to the output text, as llama.cpp's `token_to_piece`:
    /// SentencePiece `▁` becomes a space and `<0xNN>` that byte; byte-level BPE characters map
    /// back to their bytes. Control and unknown tokens give nothing unless `special` is true
    /// (then their text); ids outside the vocabulary give nothing.
    pub fn token_bytes(&self, id: TokenId, special: bool) -> Cow<'_, [u8]> {
        let i = id as usize;
        if i >= self.vocab.n_tokens() || (!special && self.vocab.attr(id) & (attr::CONTROL | attr::UNKNOWN) != 0) {
            return Cow::Borrowed(&[]);
        }
        Cow::Borrowed(&self.pieces[self.piece_offs[i]..self.piece_offs[i + 1]])
    }

    /// The text of `ids`: their bytes concatenated, with invalid UTF-8 replaced only at the end.
    /// This is the plain concatenation of [`token_bytes`](Self::token_bytes) (what streaming
    /// produces); llama.cpp's `detokenize` may also drop a leading space (SentencePiece with a
    /// space prefix) and tidy spaces before punctuation (some BPE vocabularies), which none of
    /// the project's models ask for.
    pub fn decode(&self, ids: &[TokenId], special: bool) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(&self.token_bytes(id, special));
        }
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The piece of a token with special tokens rendered, computed once per token at load.
    fn render(&self, id: TokenId) -> Vec<u8> {
        let v = &self.vocab;
        let a = v.attr(id);
        let text = &*v.texts[id as usize];
        if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
            return text.as_bytes().to_vec();
        }
        if a & attr::NORMAL != 0 {
            return match v.kind {
                VocabKind::Spm => text.replace('▁', " ").into_bytes(),
                VocabKind::Bpe => decode_byte_level(text),
            };
        }
        if a & attr::BYTE != 0 {
            // "<0xNN>"; llama.cpp parses the two characters after "<0x".
            return text.get(3..5).and_then(|h| u8::from_str_radix(h, 16).ok()).map(|b| vec![b]).unwrap_or_default();
        }
        // Unused and undefined tokens render as nothing, as llama.cpp's `token_to_piece`.
        Vec::new()
    }

    pub fn n_vocab(&self) -> usize {
        self.vocab.n_tokens()
    }
    pub fn bos(&self) -> Option<TokenId> {
        self.vocab.bos
    }
    pub fn eos(&self) -> Option<TokenId> {
        self.vocab.eos
    }
    /// Whether [`encode`](Self::encode) with `add_special` starts with BOS.
    pub fn add_bos(&self) -> bool {
        self.vocab.add_bos
    }
    /// Whether [`encode`](Self::encode) with `add_special` ends with EOS.
    pub fn add_eos(&self) -> bool {
        self.vocab.add_eos
    }

    /// Whether generating `id` ends the generation: EOS, end-of-turn, end-of-message, and the
    /// control tokens llama.cpp treats so (`<|im_end|>`, `<|endoftext|>`, `<end_of_turn>`,
    /// `<|eot_id|>`, `<|end|>`, fill-in-the-middle pad/repo/separator ...).
    pub fn is_eog(&self, id: TokenId) -> bool {
        self.vocab.eog.binary_search(&id).is_ok()
    }

    /// Whether `id` is a control token (rendered only when special tokens are asked for).
    pub fn is_control(&self, id: TokenId) -> bool {
        self.vocab.attr(id) & attr::CONTROL != 0
    }

    /// The raw vocabulary entry of `id` (e.g. `▁world`, `Ġworld`, `<0x0A>`).
    pub fn token_text(&self, id: TokenId) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(|t| &**t)
    }

    /// "llama" (SentencePiece) or "gpt2" (byte-level BPE).
    pub fn model_kind(&self) -> &str {
        match self.vocab.kind {
            VocabKind::Spm => "llama",
            VocabKind::Bpe => "gpt2",
        }
    }
}

/// The bytes a byte-level BPE token stands for. A character outside the GPT-2 alphabet is
/// rendered the way llama.cpp's `llama_decode_text` does, as `[UNK_BYTE_0x<hex><token>]`.
fn decode_byte_level(text: &str) -> Vec<u8> {
    // Each foreign character repeats the whole token text, so a hostile token could render to
    // megabytes; no real vocabulary comes near this bound, past which the piece is cut.
    const MAX_PIECE: usize = 4 * vocab::MAX_TOKEN_LEN;
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if out.len() > MAX_PIECE {
            out.truncate(MAX_PIECE);
            break;
        }
        match unicode::char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                for b in c.encode_utf8(&mut [0; 4]).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
    out
}
