//! The vocabulary as read from GGUF metadata: token texts, scores and attributes, the text to
//! id map, the special token ids and the end-of-generation set.
//!
//! Loading follows llama.cpp's `llama_vocab::impl::load`, including its fix-ups that are not in
//! the file: tokens whose text says "end of turn" (`<|im_end|>`, `<end_of_turn>`, ...) become
//! control tokens and end generation, control tokens named `unused` are marked unused, and so on.
//! Every count and length is checked, so a hostile file gives a [`TokenizerError`], not a panic.

use std::collections::HashMap;

use super::{TokenId, TokenizerError};
use crate::gguf::GgufFile;

/// Token attributes, as llama.cpp's `llama_token_attr` bits.
pub(crate) mod attr {
    pub const UNDEFINED: u16 = 0;
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;
}

/// The most tokens a vocabulary may have (the largest real ones have about 260k).
pub(crate) const MAX_VOCAB: usize = 1 << 22;
/// The longest token text accepted, in bytes (real vocabularies stay under a few hundred).
pub(crate) const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Which tokenizer algorithm the vocabulary is for (`tokenizer.ggml.model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VocabKind {
    /// "llama": SentencePiece BPE over scores, with byte fallback.
    Spm,
    /// "gpt2": byte-level BPE over merge ranks.
    Bpe,
}

pub(crate) struct Vocab {
    pub kind: VocabKind,
    pub texts: Vec<Box<str>>,
    pub scores: Vec<f32>,
    pub attrs: Vec<u16>,
    pub ids: HashMap<Box<str>, TokenId>,
    pub bos: Option<TokenId>,
    pub eos: Option<TokenId>,
    pub eot: Option<TokenId>,
    pub eom: Option<TokenId>,
    pub unk: Option<TokenId>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    /// End-of-generation ids, ascending.
    pub eog: Vec<TokenId>,
}

/// Token texts that end generation (llama.cpp's list, `load`), also marked control.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Texts llama.cpp takes as the end-of-turn token when the metadata names none.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];

/// Fill-in-the-middle token texts by role (prefix, suffix, middle, pad, repo, separator), with
/// the metadata key that names each. Pad, repo and separator also end generation.
const FIM: [(&str, &[&str]); 6] = [
    (
        "tokenizer.ggml.fim_pre_token_id",
        &[
            "<|fim_prefix|>",
            "<fim-prefix>",
            "<fim_prefix>",
            "<｜fim▁begin｜>",
            "<PRE>",
            "▁<PRE>",
            "<|code_prefix|>",
            "<|prefix|>",
        ],
    ),
    (
        "tokenizer.ggml.fim_suf_token_id",
        &[
            "<|fim_suffix|>",
            "<fim-suffix>",
            "<fim_suffix>",
            "<｜fim▁hole｜>",
            "<SUF>",
            "▁<SUF>",
            "<|code_suffix|>",
            "<|suffix|>",
        ],
    ),
    (
        "tokenizer.ggml.fim_mid_token_id",
        &[
            "<|fim_middle|>",
            "<fim-middle>",
            "<fim_middle>",
            "<｜fim▁end｜>",
            "<MID>",
            "▁<MID>",
            "<|code_middle|>",
            "<|middle|>",
        ],
    ),
    ("tokenizer.ggml.fim_pad_token_id", &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]),
    ("tokenizer.ggml.fim_rep_token_id", &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
    ("tokenizer.ggml.fim_sep_token_id", &["<|file_sep|>"]),
];

fn invalid(msg: impl Into<String>) -> TokenizerError {
    TokenizerError::Invalid(msg.into())
}

/// A token id from the metadata, `None` when absent, negative or outside the vocabulary
/// (llama.cpp then keeps its default, as [`Vocab::load`] does).
fn read_id(g: &GgufFile, key: &str, n_vocab: usize) -> Result<Option<TokenId>, TokenizerError> {
    let Some(v) = g.get(key) else { return Ok(None) };
    match (v.as_u64(), v.as_i64()) {
        (Some(id), _) => Ok((id < n_vocab as u64).then_some(id as TokenId)),
        // A negative id (some converters write -1) means "none".
        (None, Some(_)) => Ok(None),
        (None, None) => Err(invalid(format!("{key} is a {}, not an integer", v.value_type().name()))),
    }
}

impl Vocab {
    pub fn load(g: &GgufFile, kind: VocabKind, default_add_bos: bool) -> Result<Vocab, TokenizerError> {
        let tokens =
            g.get_str_array("tokenizer.ggml.tokens")?.ok_or_else(|| invalid("tokenizer.ggml.tokens is missing"))?;
        let n = tokens.len();
        if n == 0 || n > MAX_VOCAB {
            return Err(invalid(format!("vocabulary of {n} tokens (must be 1..={MAX_VOCAB})")));
        }
        // MAX_VOCAB also keeps every id far inside TokenId (u32), so the casts below are exact.
        let scores = match g.get_f32_array("tokenizer.ggml.scores")? {
            Some(s) if s.len() < n => {
                return Err(invalid(format!("{} scores for {n} tokens", s.len())));
            }
            Some(s) => s[..n].to_vec(),
            None => vec![0.0; n],
        };
        let types = match g.get_i64_array("tokenizer.ggml.token_type")? {
            Some(t) if t.len() < n => {
                return Err(invalid(format!("{} token types for {n} tokens", t.len())));
            }
            Some(t) => t[..n].to_vec(),
            None => vec![1; n],
        };

        let mut texts = Vec::with_capacity(n);
        let mut ids = HashMap::with_capacity(n);
        let mut attrs = Vec::with_capacity(n);
        for (i, (&text, &ty)) in tokens.iter().zip(&types).enumerate() {
            if text.len() > MAX_TOKEN_LEN {
                return Err(invalid(format!("token {i} is {} bytes long (limit {MAX_TOKEN_LEN})", text.len())));
            }
            // llama.cpp renames empty tokens rather than rejecting the file.
            let text: Box<str> = if text.is_empty() { format!("[EMPTY_{i}]").into() } else { text.into() };
            if let Some(prev) = ids.insert(text.clone(), i as TokenId) {
                return Err(invalid(format!("duplicate token {text:?} (ids {prev} and {i})")));
            }
            texts.push(text);
            attrs.push(match ty {
                1 => attr::NORMAL,
                2 => attr::UNKNOWN,
                3 => attr::CONTROL,
                4 => attr::USER_DEFINED,
                5 => attr::UNUSED,
                6 => attr::BYTE,
                _ => attr::UNDEFINED,
            });
        }

        let (mut bos, mut eos, mut unk) = match kind {
            VocabKind::Spm => (Some(1), Some(2), Some(0)),
            VocabKind::Bpe => (Some(11), Some(11), None),
        };
        // A default outside the vocabulary is dropped, as llama.cpp does.
        for id in [&mut bos, &mut eos, &mut unk] {
            *id = id.filter(|&t| (t as usize) < n);
        }
        let or_default = |key: &str, default: Option<TokenId>| -> Result<Option<TokenId>, TokenizerError> {
            Ok(read_id(g, key, n)?.or(default))
        };
        bos = or_default("tokenizer.ggml.bos_token_id", bos)?;
        eos = or_default("tokenizer.ggml.eos_token_id", eos)?;
        unk = or_default("tokenizer.ggml.unknown_token_id", unk)?;
        let mut eot = read_id(g, "tokenizer.ggml.eot_token_id", n)?;
        let mut eom = read_id(g, "tokenizer.ggml.eom_token_id", n)?;

        let add_bos = g.get_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(default_add_bos);
        let add_eos = g.get_bool("tokenizer.ggml.add_eos_token")?.unwrap_or(false);
        let add_space_prefix = g.get_bool("tokenizer.ggml.add_space_prefix")?.unwrap_or(kind == VocabKind::Spm);
        if add_bos && bos.is_none() {
            return Err(invalid("add_bos_token is true, but there is no BOS token"));
        }
        if add_eos && eos.is_none() {
            return Err(invalid("add_eos_token is true, but there is no EOS token"));
        }

        let mut v = Vocab {
            kind,
            texts,
            scores,
            attrs,
            ids,
            bos,
            eos,
            eot: None,
            eom: None,
            unk,
            add_bos,
            add_eos,
            add_space_prefix,
            eog: Vec::new(),
        };

        // ---- llama.cpp's detection of special tokens by their text ----
        // llama.cpp walks an unordered map and takes whichever match it meets first; taking the
        // lowest id makes the choice deterministic (all candidates are marked alike anyway).
        let find = |v: &Vocab, texts: &[&str]| -> Option<TokenId> {
            texts.iter().filter_map(|t| v.ids.get(*t).copied()).min()
        };
        if eot.is_none() {
            eot = find(&v, EOT_TEXTS);
            v.mark_control(eot);
        }
        if eom.is_none() {
            eom = find(&v, &["<|eom_id|>"]);
            v.mark_control(eom);
        }
        let mut eog = Vec::new();
        for (i, (key, texts)) in FIM.iter().enumerate() {
            let mut id = read_id(g, key, n)?;
            if id.is_none() {
                id = find(&v, texts);
                v.mark_control(id);
            }
            // Pad, repo and separator end generation.
            if i >= 3 {
                eog.extend(id);
            }
        }
        // Control tokens called "unused" are unused.
        for a in v.attrs.iter_mut().zip(&v.texts).filter(|(a, t)| **a & attr::CONTROL != 0 && t.contains("unused")) {
            *a.0 |= attr::UNUSED;
        }
        for text in EOG_TEXTS {
            if let Some(&id) = v.ids.get(*text) {
                eog.push(id);
                v.mark_control(Some(id));
            }
        }
        // gpt-oss renders these always.
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(&id) = v.ids.get(text) {
                v.attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend([v.eos, eot, eom].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();
        // With "<|return|>" and "<|call|>" (gpt-oss) or "<|calls|>" and "<|flush|>" (solar-open),
        // "<|end|>" only ends a message, not the generation.
        let has = |eog: &[TokenId], t: &str| v.ids.get(t).is_some_and(|id| eog.contains(id));
        let end_is_not_eog = has(&eog, "<|end|>")
            && ((has(&eog, "<|return|>") && has(&eog, "<|call|>"))
                || (has(&eog, "<|calls|>") && has(&eog, "<|flush|>")));
        // With "<|tool_response>" (gemma4), "</s>" is an ordinary token.
        let s_is_not_eog = has(&eog, "<|tool_response>") && has(&eog, "</s>");
        if let (true, Some(&end)) = (end_is_not_eog, v.ids.get("<|end|>")) {
            eog.retain(|&id| id != end);
            v.attrs[end as usize] = attr::USER_DEFINED;
        }
        if let (true, Some(&s)) = (s_is_not_eog, v.ids.get("</s>")) {
            eog.retain(|&id| id != s);
            v.attrs[s as usize] = attr::NORMAL;
        }
        v.eot = eot;
        v.eom = eom;
        v.eog = eog;

        // Phi-3's special tokens swallow the whitespace after them (llama.cpp sets this by name).
        let name = g.get_str("general.name").ok().flatten().unwrap_or("").to_lowercase();
        if name.contains("phi-3") || name.contains("phi3") {
            for a in v.attrs.iter_mut().filter(|a| **a & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0) {
                *a |= attr::RSTRIP;
            }
            for (text, on) in [("</s>", true), ("<unk>", false), ("<s>", false), ("<|endoftext|>", false)] {
                if let Some(&id) = v.ids.get(text) {
                    let a = &mut v.attrs[id as usize];
                    *a = if on { *a | attr::RSTRIP } else { *a & !attr::RSTRIP };
                }
            }
        }
        Ok(v)
    }

    fn mark_control(&mut self, id: Option<TokenId>) {
        if let Some(id) = id {
            self.attrs[id as usize] |= attr::CONTROL;
        }
    }

    pub fn n_tokens(&self) -> usize {
        self.texts.len()
    }

    pub fn attr(&self, id: TokenId) -> u16 {
        self.attrs.get(id as usize).copied().unwrap_or(attr::UNDEFINED)
    }

    pub fn text_to_id(&self, text: &str) -> Option<TokenId> {
        self.ids.get(text).copied()
    }

    /// The token a raw byte falls back to: `<0xXX>`, else the one-byte text (SPM), as
    /// llama.cpp's `byte_to_token`.
    pub fn spm_byte_token(&self, b: u8) -> Option<TokenId> {
        self.text_to_id(&format!("<0x{b:02X}>")).or_else(|| {
            let one = [b];
            std::str::from_utf8(&one).ok().and_then(|s| self.text_to_id(s))
        })
    }
}
