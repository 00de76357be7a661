//! Model architectures and the type-erased [`Model`] the rest of the program drives.
//!
//! An architecture is one file here: a struct generic over a [`Backend`] that reads its
//! hyper-parameters from the GGUF metadata (`{arch}.*` keys, see [`Hparams`]) and builds its
//! forward pass from the shared pieces of `blocks.rs` (loader, attention and feed-forward
//! sub-blocks, output head). [`load`] looks `general.architecture` up in the registry
//! ([`registry`]); adding an architecture is a new file and one line there. A [`Session`] is
//! one sequence's state (its KV cache and position); a model can serve many sessions.

mod blocks;
mod gemma2;
mod gemma3;
mod hparams;
mod llama;
mod qwen2;

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

pub use hparams::{Hparams, LoadOptions};

use crate::backend::{Backend, Placement, SplitBackend};
use crate::gguf::{GgufError, GgufFile};
use crate::tokenizer::{Tokenizer, TokenizerError};

/// The architectures [`load`] knows, in the order of [`registry`].
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "gemma2", "gemma3"];

/// Builds one architecture from a parsed file on a backend.
type Builder<B> = fn(Arc<GgufFile>, Arc<B>, Tokenizer, &LoadOptions) -> Result<Box<dyn Model>, ModelError>;

/// Every architecture by its `general.architecture` name.
fn registry<B: Backend>() -> [(&'static str, Builder<B>); 4] {
    [
        ("llama", llama::load::<B>),
        ("qwen2", qwen2::load::<B>),
        ("gemma2", gemma2::load::<B>),
        ("gemma3", gemma3::load::<B>),
    ]
}

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
    /// The device could not hold `tensor`; `held` bytes of weights were on it just before.
    #[error("tensor {tensor:?}: out of GPU memory ({reason})")]
    OutOfDeviceMemory { tensor: String, reason: String, held: u64 },
    #[error("a context of {n_ctx} tokens needs {} of KV cache, more than the {limit} bytes of memory", bytes.map_or("more than 2^64 bytes".to_string(), |b| format!("{b} bytes")))]
    ContextTooLarge { n_ctx: usize, bytes: Option<u64>, limit: u64 },
    #[error("{0} is not supported by this model")]
    Unsupported(&'static str),
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
    /// Whether some layer keeps only a sliding window of positions (a ring buffer shorter
    /// than the context), which limits how far back [`Session::truncate`] can go.
    ring: bool,
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
    /// Forgets positions from `pos` on (the next forward overwrites them). Where sliding-window
    /// layers have already overwritten the positions that `pos` would need, going back by more
    /// than one position forgets everything (pos becomes 0), and the caller feeds it again.
    pub fn truncate(&mut self, pos: usize) {
        if self.ring && pos + 1 < self.pos {
            self.pos = 0;
        } else {
            self.pos = self.pos.min(pos);
        }
    }
}

/// Which logits a forward pass returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token's (generation).
    Last,
    /// Every token's, `[n_tokens, n_vocab]`.
    All,
    /// Those of the tokens from index `first` of this call on, `[n_tokens - first, n_vocab]`
    /// (perplexity, which scores only the second half of each window).
    From(usize),
}

/// A loaded model, whatever its architecture and backend.
pub trait Model: Send + Sync {
    fn hparams(&self) -> &Hparams;
    fn tokenizer(&self) -> &Tokenizer;
    /// A new empty sequence that can hold `n_ctx` tokens, or an error where its cache does
    /// not fit in memory.
    fn try_new_session(&self, n_ctx: usize) -> Result<Session, ModelError>;
    /// [`Model::try_new_session`] for tools and tests.
    ///
    /// # Panics
    /// Where the cache does not fit; a server uses `try_new_session`.
    fn new_session(&self, n_ctx: usize) -> Session {
        self.try_new_session(n_ctx).unwrap_or_else(|e| panic!("a session of {n_ctx} tokens: {e}"))
    }
    /// Feeds `tokens` at the session's position and returns the logits asked for.
    fn forward(&self, session: &mut Session, tokens: &[u32], logits: Logits) -> Result<Vec<f32>, ModelError>;
    /// Feeds `tokens` and returns the greedy choice after the last one: the first of its
    /// largest logits, NaNs ignored (what `sampler::argmax` picks from `forward`'s last
    /// row), or None for no tokens. A backend that holds the logits in device memory picks
    /// it there and reads back only the id.
    fn forward_greedy(&self, session: &mut Session, tokens: &[u32]) -> Result<Option<u32>, ModelError> {
        let logits = self.forward(session, tokens, Logits::Last)?;
        Ok((!logits.is_empty()).then(|| crate::sampler::argmax(&logits)))
    }
    /// The name of the backend it runs on.
    fn backend_name(&self) -> String;
    /// The embedding of `tokens`: the final hidden states after the output norm, mean-pooled.
    fn embed(&self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        let _ = tokens;
        Err(ModelError::Unsupported("embedding"))
    }
}

/// Opens a GGUF file and builds the architecture it names on `backend`.
pub fn load<B: Backend>(path: impl AsRef<Path>, backend: Arc<B>) -> Result<Box<dyn Model>, ModelError> {
    load_with(path, backend, &LoadOptions::default())
}

/// [`load`] with settings that override the file's (Ollama's load-time options).
pub fn load_with<B: Backend>(
    path: impl AsRef<Path>,
    backend: Arc<B>,
    opts: &LoadOptions,
) -> Result<Box<dyn Model>, ModelError> {
    let file = Arc::new(GgufFile::open(path)?);
    load_file_with(file, backend, opts)
}

/// Builds the architecture an already parsed file names.
pub fn load_file<B: Backend>(file: Arc<GgufFile>, backend: Arc<B>) -> Result<Box<dyn Model>, ModelError> {
    load_file_with(file, backend, &LoadOptions::default())
}

/// [`load_file`] with overriding settings.
pub fn load_file_with<B: Backend>(
    file: Arc<GgufFile>,
    backend: Arc<B>,
    opts: &LoadOptions,
) -> Result<Box<dyn Model>, ModelError> {
    let arch = file.require_str("general.architecture")?.to_string();
    let Some((_, build)) = registry::<B>().into_iter().find(|(name, _)| *name == arch) else {
        return Err(ModelError::UnsupportedArchitecture { arch });
    };
    let tokenizer = Tokenizer::from_gguf(&file)?;
    build(file, backend, tokenizer, opts)
}

/// Loads `file` with its last `b_layers` layers on `b` and the rest on `a`, as Ollama's
/// `num_gpu` counts them (llama.cpp's `n_gpu_layers`): more than the file's layers puts
/// everything on `b` (the output is the layer after the last); `Some(0)` everything on `a`;
/// `None` (Ollama's -1) as much as `b` holds: everything, or where `b` runs out of memory
/// ([`ModelError::OutOfDeviceMemory`]), the last layers that fit in what it held then, fewer
/// while it still runs out, none at the end. Returns the model and the share of its tensor
/// bytes that went to `b`.
pub fn load_offloaded<A: Backend, B: Backend>(
    file: Arc<GgufFile>,
    a: &Arc<A>,
    b: &Arc<B>,
    b_layers: Option<usize>,
    opts: &LoadOptions,
) -> Result<(Box<dyn Model>, f64), ModelError> {
    let arch = file.require_str("general.architecture")?;
    let n_layer = usize::try_from(file.require_u64(&format!("{arch}.block_count"))?).unwrap_or(usize::MAX);
    let split = |k: usize| -> Result<(Box<dyn Model>, f64), ModelError> {
        if k == 0 {
            return Ok((load_file_with(Arc::clone(&file), Arc::clone(a), opts)?, 0.0));
        }
        let split = Arc::new(SplitBackend::new(Arc::clone(a), Arc::clone(b), Placement::last_layers(n_layer, k)));
        let model = load_file_with(Arc::clone(&file), Arc::clone(&split), opts)?;
        let (on_b, all) = split.loaded_bytes();
        Ok((model, on_b as f64 / all.max(1) as f64))
    };
    match b_layers {
        Some(k) if k <= n_layer => split(k),
        Some(_) => Ok((load_file_with(Arc::clone(&file), Arc::clone(b), opts)?, 1.0)),
        None => {
            let before = b.weight_bytes_held();
            let held = match load_file_with(Arc::clone(&file), Arc::clone(b), opts) {
                Ok(m) => return Ok((m, 1.0)),
                Err(ModelError::OutOfDeviceMemory { held, .. }) => held,
                Err(e) => return Err(e),
            };
            // What this model's weights got before the device ran out, less a margin for
            // its cache and activations; then the last layers that fit in that.
            let room = held.saturating_sub(before) / 8 * 7;
            let mut k = layers_fitting(&file, n_layer, room);
            loop {
                match split(k) {
                    Err(ModelError::OutOfDeviceMemory { .. }) if k > 0 => k /= 2,
                    done => return done,
                }
            }
        }
    }
}

/// How many of the last layers of `file` have tensors of at most `room` bytes in all.
fn layers_fitting(file: &GgufFile, n_layer: usize, room: u64) -> usize {
    let mut per_layer = vec![0u64; n_layer.min(4096)];
    for t in &file.tensors {
        if let Some(l) = crate::backend::split::layer_of(&t.name).and_then(|l| per_layer.get_mut(l)) {
            *l = l.saturating_add(file.tensor_data(t).len() as u64);
        }
    }
    let mut total = 0u64;
    per_layer
        .iter()
        .rev()
        .take_while(|&&b| {
            total = total.saturating_add(b);
            total <= room
        })
        .count()
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
    /// `name` is formatted only when tracing is on: decoding calls this a dozen times a layer.
    pub fn op(&self, name: std::fmt::Arguments<'_>, buf: &B::Buf, rows: usize, width: usize) {
        if !self.enabled || rows * width == 0 {
            return;
        }
        let mut host = Vec::new();
        self.backend.read(buf, rows * width, &mut host);
        // Summed in f32 in order, as llama-eval-callback does, so equal tensors give equal sums.
        let sum = host.iter().fold(0f32, |s, &v| s + v);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_and_supported_list_agree() {
        let names: Vec<&str> = registry::<crate::backend::CpuBackend>().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, SUPPORTED_ARCHITECTURES);
    }
}
