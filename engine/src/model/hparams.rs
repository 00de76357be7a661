//! Hyper-parameters common to the transformer architectures, read from `{arch}.*` keys.

use crate::gguf::GgufFile;

use super::ModelError;

/// What the forward pass needs to know about a model's shape.
#[derive(Debug, Clone)]
pub struct Hparams {
    pub arch: String,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Width of one head's keys (and queries).
    pub head_dim: usize,
    /// Width of one head's values.
    pub head_dim_v: usize,
    pub n_ctx_train: usize,
    pub rms_eps: f32,
    pub rope_dims: usize,
    pub rope_freq_base: f32,
    pub rope_freq_scale: f32,
    /// Sliding-window attention span (`{arch}.attention.sliding_window`): a query sees this
    /// many positions, its own included. Which layers use it is the architecture's rule.
    pub sliding_window: Option<usize>,
}

/// Upper bounds that keep a hostile file from sizing huge allocations.
const MAX_WIDTH: u64 = 1 << 20;
const MAX_LAYERS: u64 = 4096;
const MAX_HEADS: u64 = 4096;

/// Settings that replace what the file says, given when a model is loaded (Ollama's
/// `rope_frequency_base` and `rope_frequency_scale`, which llama.cpp applies to every layer
/// that does not have a sliding-window base of its own).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadOptions {
    pub rope_freq_base: Option<f32>,
    pub rope_freq_scale: Option<f32>,
    /// How many layers go on the GPU where a GPU backend exists (Ollama's `num_gpu`): None
    /// for all, the output included; `Some(0)` keeps the model on the CPU; `Some(k)` puts
    /// the last k layers there (past the layer count, the output too: see
    /// [`super::load_offloaded`]). The architectures ignore it; whoever picks the backends
    /// (the server) reads it.
    pub gpu_layers: Option<usize>,
}

impl LoadOptions {
    /// Whether nothing is overridden.
    pub fn is_default(&self) -> bool {
        *self == LoadOptions::default()
    }
}

impl Hparams {
    /// These parameters with `opts`' overrides applied (non-positive or non-finite values,
    /// Ollama's "unset", are ignored).
    pub fn with(mut self, opts: &LoadOptions) -> Hparams {
        let set = |v: Option<f32>| v.filter(|v| v.is_finite() && *v > 0.0);
        if let Some(base) = set(opts.rope_freq_base) {
            self.rope_freq_base = base;
        }
        if let Some(scale) = set(opts.rope_freq_scale) {
            self.rope_freq_scale = scale;
        }
        self
    }

    /// The most values one token puts in an activation buffer (the residual stream, the
    /// heads, the feed-forward width).
    pub fn widest_row(&self) -> usize {
        self.n_embd.max(self.n_ff).max(self.heads_width())
    }

    /// The widest of one token's query, key or value heads together.
    pub fn heads_width(&self) -> usize {
        self.n_head.max(self.n_head_kv).saturating_mul(self.head_dim.max(self.head_dim_v))
    }

    /// The most tokens of one chunk on `backend`: `max` (the engine's batch), fewer where the
    /// backend's largest buffer holds fewer rows of [`Self::widest_row`] (a very wide model on
    /// a GPU). At least 1: [`Self::check_backend`] refuses a model whose single row does not fit.
    pub fn max_batch<B: crate::backend::Backend>(&self, backend: &B, max: usize) -> usize {
        match backend.max_buffer_len() {
            Some(len) => max.min(len / self.widest_row().max(1)).max(1),
            None => max,
        }
    }

    /// Refuses what `backend` cannot compute (heads wider than its attention handles, rows
    /// wider than its largest buffer).
    pub fn check_backend<B: crate::backend::Backend>(&self, backend: &B) -> Result<(), ModelError> {
        if let Some(len) = backend.max_buffer_len() {
            let (key, width) = [
                ("vocab_size", self.n_vocab),
                ("feed_forward_length", self.n_ff),
                ("embedding_length", self.n_embd),
                ("attention.head_count", self.heads_width()),
            ]
            .into_iter()
            .max_by_key(|&(_, w)| w)
            .expect("four candidates");
            if width > len {
                return Err(ModelError::BadHparam {
                    key: format!("{}.{key}", self.arch),
                    reason: format!(
                        "rows of {width} values exceed the {} backend's largest buffer of {len}",
                        backend.name()
                    ),
                });
            }
        }
        match backend.max_head_dim() {
            Some(max) if self.head_dim.max(self.head_dim_v) > max => Err(ModelError::BadHparam {
                key: format!("{}.attention.key_length", self.arch),
                reason: format!(
                    "heads of {} exceed the {} backend's {max}",
                    self.head_dim.max(self.head_dim_v),
                    backend.name()
                ),
            }),
            _ if backend.needs_even_heads() && (self.head_dim % 2 == 1 || self.head_dim_v % 2 == 1) => {
                Err(ModelError::BadHparam {
                    key: format!("{}.attention.key_length", self.arch),
                    reason: format!(
                        "heads of {} and {} wide: the {} backend needs even widths",
                        self.head_dim,
                        self.head_dim_v,
                        backend.name()
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    pub fn from_gguf(g: &GgufFile, n_vocab: usize) -> Result<Hparams, ModelError> {
        let arch = g.require_str("general.architecture")?.to_string();
        let key = |k: &str| format!("{arch}.{k}");
        let bounded = |k: &str, max: u64| -> Result<usize, ModelError> {
            let full = key(k);
            let v = g.require_u64(&full)?;
            if v == 0 || v > max {
                return Err(ModelError::BadHparam { key: full, reason: format!("{v} is outside 1..={max}") });
            }
            Ok(v as usize)
        };
        let n_embd = bounded("embedding_length", MAX_WIDTH)?;
        let n_layer = bounded("block_count", MAX_LAYERS)?;
        let n_ff = bounded("feed_forward_length", MAX_WIDTH)?;
        let n_head = bounded("attention.head_count", MAX_HEADS)?;
        let n_head_kv = match g.get_u64(&key("attention.head_count_kv"))? {
            None => n_head,
            Some(_) => bounded("attention.head_count_kv", MAX_HEADS)?,
        };
        if n_head % n_head_kv != 0 {
            return Err(ModelError::BadHparam {
                key: key("attention.head_count_kv"),
                reason: format!("{n_head} heads do not split into {n_head_kv} groups"),
            });
        }
        let head_dim = match g.get_u64(&key("attention.key_length"))? {
            None if n_embd % n_head == 0 => n_embd / n_head,
            None => {
                return Err(ModelError::BadHparam {
                    key: key("embedding_length"),
                    reason: format!("{n_embd} is not a multiple of {n_head} heads"),
                })
            }
            Some(_) => bounded("attention.key_length", MAX_WIDTH)?,
        };
        let head_dim_v = match g.get_u64(&key("attention.value_length"))? {
            None => head_dim,
            Some(_) => bounded("attention.value_length", MAX_WIDTH)?,
        };
        let rope_dims = match g.get_u64(&key("rope.dimension_count"))? {
            None => head_dim,
            Some(v) if v as usize <= head_dim && v % 2 == 0 => v as usize,
            Some(v) => {
                return Err(ModelError::BadHparam {
                    key: key("rope.dimension_count"),
                    reason: format!("{v} must be even and at most the head size {head_dim}"),
                })
            }
        };
        let n_ctx_train = g.get_u64(&key("context_length"))?.unwrap_or(2048).clamp(1, 1 << 24) as usize;
        let rms_eps = g.get_f32(&key("attention.layer_norm_rms_epsilon"))?.unwrap_or(1e-5);
        let rope_freq_base = g.get_f32(&key("rope.freq_base"))?.unwrap_or(10000.0);
        // Linear scaling: positions are divided by the factor.
        let rope_freq_scale = match g.get_str(&key("rope.scaling.type"))? {
            Some("linear") => 1.0 / g.get_f32(&key("rope.scaling.factor"))?.unwrap_or(1.0),
            _ => 1.0,
        };
        if !(rms_eps.is_finite() && rms_eps >= 0.0)
            || !(rope_freq_base.is_finite() && rope_freq_base > 0.0)
            || !rope_freq_scale.is_finite()
        {
            return Err(ModelError::BadHparam {
                key: key("*"),
                reason: "norm epsilon or rope parameters are not finite".into(),
            });
        }
        // A window of 0 means none, as in llama.cpp.
        let sliding_window = match g.get_u64(&key("attention.sliding_window"))? {
            None | Some(0) => None,
            Some(_) => Some(bounded("attention.sliding_window", 1 << 24)?),
        };
        Ok(Hparams {
            sliding_window,
            arch,
            n_vocab,
            n_embd,
            n_layer,
            n_ff,
            n_head,
            n_head_kv,
            head_dim,
            head_dim_v,
            n_ctx_train,
            rms_eps,
            rope_dims,
            rope_freq_base,
            rope_freq_scale,
        })
    }
}
