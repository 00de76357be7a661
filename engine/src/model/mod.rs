//! Model architectures and the type-erased [`Model`] the rest of the program drives.
//!
//! An architecture is a struct generic over a [`Backend`] that reads its hyper-parameters
//! from the GGUF metadata and runs its forward pass as backend ops. [`load`] picks the
//! architecture named by `general.architecture`. A [`Session`] is one sequence's state (its
//! KV cache and position); a model can serve many sessions.

mod hparams;
mod llama;

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

pub use hparams::Hparams;

use crate::backend::Backend;
use crate::gguf::{GgufError, GgufFile};
use crate::tokenizer::{Tokenizer, TokenizerError};

/// The architectures [`load`] knows.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("unsupported architecture {arch:?} (supported: {})", SUPPORTED_ARCHITECTURES.join(", "))]
    UnsupportedArchitecture { arch: String },
    #[error("tensor {tensor:?} has type {ty}, which this backend cannot compute with yet")]
    UnsupportedType { tensor: String, ty: &'static str },
    #[error("tensor {tensor:?}: {reason}")]
    BadTensor { tensor: String, reason: String },
    #[error("{key}: {reason}")]
    BadHparam { key: String, reason: String },
    #[error("token id {id} is outside the vocabulary of {n_vocab}")]
    TokenOutOfRange { id: u32, n_vocab: usize },
    #[error("the context is full ({n_ctx} tokens)")]
    ContextFull { n_ctx: usize },
}

impl ModelError {
    pub(crate) fn tensor(name: &str, reason: impl Into<String>) -> ModelError {
        ModelError::BadTensor { tensor: name.to_string(), reason: reason.into() }
    }
}

/// One sequence's state: the KV cache (backend-specific, hence type-erased) and how many
/// positions of it are filled.
pub struct Session {
    pos: usize,
    n_ctx: usize,
    state: Box<dyn Any + Send>,
}

impl Session {
    /// Positions already in the cache.
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }
    /// Forgets positions from `pos` on (the next forward overwrites them).
    pub fn truncate(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }
}

/// Which logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token's (generation).
    Last,
    /// Every token's, `[n_tokens, n_vocab]` (perplexity).
    All,
}

/// A loaded model, whatever its architecture and backend.
pub trait Model: Send + Sync {
    fn hparams(&self) -> &Hparams;
    fn tokenizer(&self) -> &Tokenizer;
    /// A new empty sequence that can hold `n_ctx` tokens.
    fn new_session(&self, n_ctx: usize) -> Session;
    /// Feeds `tokens` at the session's position and returns the logits asked for.
    fn forward(&self, session: &mut Session, tokens: &[u32], logits: Logits) -> Result<Vec<f32>, ModelError>;
    /// The name of the backend it runs on.
    fn backend_name(&self) -> String;
}

/// Opens a GGUF file and builds the architecture it names on `backend`.
pub fn load<B: Backend>(path: impl AsRef<Path>, backend: Arc<B>) -> Result<Box<dyn Model>, ModelError> {
    let file = Arc::new(GgufFile::open(path)?);
    load_file(file, backend)
}

/// Builds the architecture an already parsed file names.
pub fn load_file<B: Backend>(file: Arc<GgufFile>, backend: Arc<B>) -> Result<Box<dyn Model>, ModelError> {
    let arch = file.require_str("general.architecture")?.to_string();
    let tokenizer = Tokenizer::from_gguf(&file)?;
    match arch.as_str() {
        "llama" => Ok(Box::new(llama::Llama::load(file, backend, tokenizer)?)),
        _ => Err(ModelError::UnsupportedArchitecture { arch }),
    }
}

/// Prints each op's sum and first values to stderr when `ROLLAMA_TRACE` is set, in the
/// shape of llama.cpp's eval-callback traces (../shared/reference/trace-*.txt), so the first
/// op that departs from llama.cpp can be found.
pub(crate) struct Tracer<'a, B: Backend> {
    backend: &'a B,
    enabled: bool,
}

impl<'a, B: Backend> Tracer<'a, B> {
    pub fn new(backend: &'a B) -> Self {
        Tracer { backend, enabled: std::env::var_os("ROLLAMA_TRACE").is_some() }
    }

    /// `buf` holds `rows` rows of `width` values.
    pub fn op(&self, name: &str, buf: &B::Buf, rows: usize, width: usize) {
        if !self.enabled || rows * width == 0 {
            return;
        }
        let mut host = Vec::new();
        self.backend.read(buf, rows * width, &mut host);
        let sum: f64 = host.iter().map(|&v| f64::from(v)).sum();
        let max = host.iter().fold(0f32, |m, v| m.max(v.abs()));
        eprintln!("{name} = {{{width}, {rows}}}\n    sum = {sum:.6}, max |x| = {max:.4}");
        for r in [0, rows - 1] {
            let row = &host[r * width..(r + 1) * width];
            let f = |v: &[f32]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(", ");
            eprintln!("    row {}, ..., {}", f(&row[..3.min(width)]), f(&row[width.saturating_sub(3)..]));
        }
    }
}

/// Checks a session belongs to this backend and returns its KV cache.
fn kv_of<B: Backend>(session: &mut Session) -> &mut B::Kv {
    session.state.downcast_mut::<B::Kv>().expect("a session is used only with the model that made it")
}

fn new_session<B: Backend>(backend: &B, shapes: &[crate::backend::KvShape], n_ctx: usize) -> Session {
    Session { pos: 0, n_ctx, state: Box::new(backend.kv_cache(shapes, n_ctx)) }
}
