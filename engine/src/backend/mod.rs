//! The backend boundary: the operations a forward pass is made of, over buffers that live
//! wherever the backend computes (host memory for the CPU, device memory for a GPU).
//!
//! An architecture (see `model/`) is written once against [`Backend`]; a backend supplies
//! weights in its own layout ([`Backend::Weight`]), activation buffers ([`Backend::Buf`]) and
//! a KV cache ([`Backend::Kv`]). Only logits come back to the host, through
//! [`Backend::read`]. Buffers are row-major `[rows, row_len]` f32 matrices; ops take the
//! number of rows they work on, so one buffer sized for a whole prompt serves any batch.

pub mod cpu;
mod ggml_math;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod split;

use std::sync::Arc;

use crate::gguf::{GgufFile, TensorInfo};

pub use cpu::CpuBackend;
#[cfg(feature = "gpu")]
pub use gpu::{GpuBackend, GpuError};
pub use split::{Placement, SplitBackend};

/// A tensor of a GGUF file, handed to [`Backend::load_weight`].
pub struct WeightSource<'a> {
    pub file: &'a Arc<GgufFile>,
    pub info: &'a TensorInfo,
}

/// How rotary position embeddings rotate pairs of a head's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeKind {
    /// Adjacent pairs (x[2i], x[2i+1]): llama's layout after GGUF conversion.
    Normal,
    /// Pairs half a rotation apart (x[i], x[i + n_dims/2]): GPT-NeoX, qwen2, gemma.
    Neox,
}

/// Rotary embedding parameters of one attention layer.
#[derive(Debug, Clone)]
pub struct Rope {
    pub kind: RopeKind,
    /// How many leading dimensions of each head rotate (the rest pass through).
    pub n_dims: usize,
    pub freq_base: f32,
    /// Linear position interpolation: positions are multiplied by this (1 for none).
    pub freq_scale: f32,
    /// Per-pair divisors of the frequency (llama 3's `rope_freqs` tensor), `n_dims / 2` long.
    pub freq_factors: Option<Arc<Vec<f32>>>,
}

/// Shape of one attention computation.
#[derive(Debug, Clone, Copy)]
pub struct Attention {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Multiplies q·k before the softmax (usually 1/sqrt(head_dim)).
    pub scale: f32,
    /// Sliding window: a query at position p sees keys in (p - window, p]. None for full.
    pub window: Option<usize>,
    /// Soft-capping of attention logits (gemma 2): cap * tanh(s / cap). None for none.
    pub softcap: Option<f32>,
}

/// The shape of one layer's KV cache.
#[derive(Debug, Clone, Copy)]
pub struct KvShape {
    /// Width of one position's keys (n_head_kv * head_dim) and of its values.
    pub k_width: usize,
    pub v_width: usize,
    /// A sliding-window layer keeps only its last `window` positions (a ring buffer of that
    /// many slots, position p in slot p % window); None keeps every position of the context.
    pub window: Option<usize>,
}

impl KvShape {
    /// Positions the layer's cache holds for a context of `n_ctx`: all of them, or a
    /// sliding window's ring (at least one).
    pub fn slots(&self, n_ctx: usize) -> usize {
        self.window.map_or(n_ctx, |w| w.min(n_ctx)).max(1)
    }
}

/// What one backend must compute. Every op is given explicit row counts and widths; a
/// backend may check them and panic only on a programming error (a mismatch between an
/// architecture and the buffers it allocated), never on user input, which the model
/// loader has validated before any op runs.
pub trait Backend: Send + Sync + 'static {
    type Weight: Send + Sync;
    type Buf: Send;
    type Kv: Send;

    /// A human-readable name, e.g. "cpu (avx2, 2 threads)".
    fn name(&self) -> String;

    /// Takes a tensor from the file into the backend's own layout.
    fn load_weight(&self, src: WeightSource<'_>) -> Result<Self::Weight, crate::model::ModelError>;

    /// A weight's `(rows, cols)`: a matrix's output and input widths; a vector is one row.
    fn weight_dims(&self, w: &Self::Weight) -> (usize, usize);

    /// A zeroed activation buffer of `len` f32s.
    fn buffer(&self, len: usize) -> Self::Buf;

    /// Overwrites the first `data.len()` values of `x` with `data`, after every op issued so
    /// far (activations that arrive from another backend).
    fn write(&self, x: &mut Self::Buf, data: &[f32]);

    /// A KV cache for `n_ctx` positions with one entry per layer, or an error where the
    /// memory for it is not there (a context no cache of this backend can hold).
    fn kv_cache(&self, layers: &[KvShape], n_ctx: usize) -> Result<Self::Kv, crate::model::ModelError>;

    /// out[t] = table row ids[t], dequantized. `out` is [ids.len(), row_len].
    fn get_rows(&self, table: &Self::Weight, ids: &[u32], out: &mut Self::Buf);

    /// out[t] = x[t] / rms(x[t]) * weight, for `rows` rows of width `width`.
    fn rms_norm(&self, x: &Self::Buf, weight: &Self::Weight, eps: f32, rows: usize, width: usize, out: &mut Self::Buf);

    /// out[t] = W · x[t] for `rows` rows; x is [rows, W.cols], out is [rows, W.rows].
    fn matmul(&self, w: &Self::Weight, x: &Self::Buf, rows: usize, out: &mut Self::Buf);

    /// The widest attention head this backend computes (None: any); a model with wider heads
    /// is refused at load, so that a caller can load it elsewhere.
    fn max_head_dim(&self) -> Option<usize> {
        None
    }

    /// The most f32 values one buffer may hold (a GPU's largest storage binding), None for
    /// any; a model splits its largest outputs (a batch's logits) to stay within it.
    fn max_buffer_len(&self) -> Option<usize> {
        None
    }

    /// Bytes of weights this backend holds in device memory now, over every model loaded on
    /// it (0 for one that holds them in host memory).
    fn weight_bytes_held(&self) -> u64 {
        0
    }

    /// Whether attention heads must have an even width (a cache packed in f16 pairs); a
    /// model with odd ones is refused at load, as with [`Backend::max_head_dim`].
    fn needs_even_heads(&self) -> bool {
        false
    }

    /// `outs[i] = ws[i] · x` for matrices with the same input (a layer's q, k, v; gate, up),
    /// each what `matmul` gives; a backend may run them as one op.
    fn matmul_many(&self, ws: &[&Self::Weight], x: &Self::Buf, rows: usize, outs: &mut [&mut Self::Buf]) {
        for (w, out) in ws.iter().zip(outs.iter_mut()) {
            self.matmul(w, x, rows, out);
        }
    }

    /// x[t] += bias for `rows` rows of the bias's width.
    fn add_bias(&self, x: &mut Self::Buf, bias: &Self::Weight, rows: usize);

    /// Rotates `rows` rows of `n_heads` heads each, row t being at position `pos0 + t`.
    fn rope(&self, x: &mut Self::Buf, rope: &Rope, n_heads: usize, head_dim: usize, pos0: usize, rows: usize);

    /// Writes `rows` rows of keys and values at positions `pos0..pos0 + rows` of `layer`
    /// (into ring slots for a sliding-window layer, where later rows overwrite earlier ones).
    fn kv_store(&self, kv: &mut Self::Kv, layer: usize, k: &Self::Buf, v: &Self::Buf, pos0: usize, rows: usize);

    /// Causal attention of `rows` queries at positions `pos0..pos0 + rows`. Each query sees
    /// the keys and values of positions up to its own (within `attn.window` if set): those
    /// before `pos0` from `layer`'s cache, those of this batch from `k` and `v`
    /// (`[rows, n_head_kv * head_dim]`, stored with `kv_store` only after this call, so a
    /// ring no longer than the window suffices). q is `[rows, n_head * head_dim]`; out is
    /// the same shape.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        q: &Self::Buf,
        k: &Self::Buf,
        v: &Self::Buf,
        kv: &Self::Kv,
        layer: usize,
        attn: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut Self::Buf,
    );

    /// out = silu(gate) * up, elementwise over `len` values.
    fn swiglu(&self, gate: &Self::Buf, up: &Self::Buf, len: usize, out: &mut Self::Buf);

    /// out = gelu(gate) * up with GELU's tanh approximation, elementwise over `len` values.
    fn geglu(&self, gate: &Self::Buf, up: &Self::Buf, len: usize, out: &mut Self::Buf);

    /// x *= s over `len` values.
    fn scale(&self, x: &mut Self::Buf, s: f32, len: usize);

    /// x = cap * tanh(x / cap) over `len` values (gemma 2's soft-capping of the logits).
    fn softcap(&self, x: &mut Self::Buf, cap: f32, len: usize);

    /// x += y, elementwise over `len` values.
    fn add(&self, x: &mut Self::Buf, y: &Self::Buf, len: usize);

    /// x += y, then out = rms_norm(x) * weight: a residual add and the next sub-block's
    /// norm, which a backend may do in one pass. The same results as the two ops.
    #[allow(clippy::too_many_arguments)]
    fn add_rms_norm(
        &self,
        x: &mut Self::Buf,
        y: &Self::Buf,
        weight: &Self::Weight,
        eps: f32,
        rows: usize,
        width: usize,
        out: &mut Self::Buf,
    ) {
        self.add(x, y, rows * width);
        self.rms_norm(x, weight, eps, rows, width, out);
    }

    /// `rope` on the queries (`n_head` heads) and the keys (`n_head_kv`) of one chunk, which
    /// a backend may do in one pass. The same results as the two calls.
    #[allow(clippy::too_many_arguments)]
    fn rope_qk(
        &self,
        q: &mut Self::Buf,
        k: &mut Self::Buf,
        rope: &Rope,
        n_head: usize,
        n_head_kv: usize,
        head_dim: usize,
        pos0: usize,
        rows: usize,
    ) {
        self.rope(q, rope, n_head, head_dim, pos0, rows);
        self.rope(k, rope, n_head_kv, head_dim, pos0, rows);
    }

    /// `attention`, then `kv_store` of the chunk's keys and values, which a backend may do
    /// in one pass where that is safe (a decode step: its ring slot is outside every window).
    #[allow(clippy::too_many_arguments)]
    fn attention_store(
        &self,
        q: &Self::Buf,
        k: &Self::Buf,
        v: &Self::Buf,
        kv: &mut Self::Kv,
        layer: usize,
        attn: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut Self::Buf,
    ) {
        self.attention(q, k, v, kv, layer, attn, pos0, rows, out);
        self.kv_store(kv, layer, k, v, pos0, rows);
    }

    /// Copies `rows` rows from row `src_row` of `src` (rows of `width`) to row `dst_row` of `dst`.
    fn copy_rows(
        &self,
        src: &Self::Buf,
        src_row: usize,
        dst: &mut Self::Buf,
        dst_row: usize,
        rows: usize,
        width: usize,
    );

    /// Copies the first `len` values of `x` to the host.
    fn read(&self, x: &Self::Buf, len: usize, out: &mut Vec<f32>);

    /// For each of `rows` rows of `width` values of `x`, the index of the first largest
    /// value, NaNs ignored (0 for a row with nothing above -inf): `sampler::argmax` per row.
    fn argmax(&self, x: &Self::Buf, rows: usize, width: usize) -> Vec<u32> {
        let mut host = Vec::new();
        self.read(x, rows * width, &mut host);
        host.chunks_exact(width.max(1)).map(crate::sampler::argmax).collect()
    }
}
