//! The pieces every architecture is built from: a [`Loader`] that takes shape-checked tensors
//! from the file, the attention and feed-forward sub-blocks (weights plus the ops they run),
//! the output head, and [`Architecture`], the small trait an architecture implements to become
//! a [`Model`] (the driver here validates input, cuts prompts into chunks, picks the rows
//! whose logits are wanted, and mean-pools hidden states into embeddings).
//!
//! A sub-block reads the normalized input `Scratch::h` and leaves its output in `Scratch::o`;
//! the architecture decides the norms and residual adds around it.

use std::sync::Arc;

use crate::backend::{Attention, Backend, KvShape, Rope, WeightSource};
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

use super::{Hparams, Logits, Model, ModelError, Session, Tracer};

/// Prompts are processed in chunks of at most this many tokens, which bounds the activation
/// buffers (fewer where a backend's largest buffer holds fewer rows: `Hparams::max_batch`).
pub(super) const MAX_BATCH: usize = 512;

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Loads tensors by name, checking each one's shape.
pub(super) struct Loader<'a, B: Backend> {
    pub file: &'a Arc<GgufFile>,
    pub backend: &'a B,
}

impl<B: Backend> Loader<'_, B> {
    /// The tensor `name` with dims (ggml order) `dims`.
    pub fn get(&self, name: &str, dims: &[usize]) -> Result<B::Weight, ModelError> {
        let info = self.file.tensor_info(name).ok_or_else(|| ModelError::tensor(name, "missing"))?;
        if info.dims.len() != dims.len() || info.dims.iter().zip(dims).any(|(&a, &b)| a != b as u64) {
            return Err(ModelError::tensor(name, format!("has shape {:?}, expected {dims:?}", info.dims)));
        }
        self.backend.load_weight(WeightSource { file: self.file, info })
    }

    /// The tensor `name` if the file has it.
    pub fn optional(&self, name: &str, dims: &[usize]) -> Result<Option<B::Weight>, ModelError> {
        match self.file.tensor_info(name) {
            None => Ok(None),
            Some(_) => self.get(name, dims).map(Some),
        }
    }

    /// The vocabulary size, from the token embedding's shape.
    pub fn n_vocab(&self) -> Result<usize, ModelError> {
        let info = self
            .file
            .tensor_info("token_embd.weight")
            .ok_or_else(|| ModelError::tensor("token_embd.weight", "missing"))?;
        if info.dims.len() != 2 {
            return Err(ModelError::tensor("token_embd.weight", "must be two-dimensional"));
        }
        Ok(info.dims[1] as usize)
    }

    /// llama 3's rope scaling, baked by the converter into per-pair frequency divisors.
    pub fn rope_freq_factors(&self, hp: &Hparams) -> Result<Option<Arc<Vec<f32>>>, ModelError> {
        let Some(info) = self.file.tensor_info("rope_freqs.weight") else { return Ok(None) };
        if info.dims != [hp.rope_dims as u64 / 2] || info.ty != rollama_kernels::GgmlType::F32 {
            return Err(ModelError::tensor("rope_freqs.weight", format!("must be F32 [{}]", hp.rope_dims / 2)));
        }
        let v: Vec<f32> =
            self.file.tensor_data(info).chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if v.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
            return Err(ModelError::tensor("rope_freqs.weight", "factors must be positive and finite"));
        }
        Ok(Some(Arc::new(v)))
    }
}

// ---------------------------------------------------------------------------------------------
// Sub-blocks
// ---------------------------------------------------------------------------------------------

/// One layer's attention weights. Biases (qwen2) and per-head Q/K norms (gemma 3) are
/// present when the file has them.
pub(super) struct AttnWeights<B: Backend> {
    wq: B::Weight,
    wk: B::Weight,
    wv: B::Weight,
    bq: Option<B::Weight>,
    bk: Option<B::Weight>,
    bv: Option<B::Weight>,
    q_norm: Option<B::Weight>,
    k_norm: Option<B::Weight>,
    wo: B::Weight,
}

impl<B: Backend> AttnWeights<B> {
    pub fn load(ld: &Loader<'_, B>, il: usize, hp: &Hparams) -> Result<Self, ModelError> {
        let n = |s: &str| format!("blk.{il}.{s}");
        let (d, hd, hdv) = (hp.n_embd, hp.head_dim, hp.head_dim_v);
        let (q_w, k_w, v_w) = (hp.n_head * hd, hp.n_head_kv * hd, hp.n_head_kv * hdv);
        Ok(AttnWeights {
            wq: ld.get(&n("attn_q.weight"), &[d, q_w])?,
            wk: ld.get(&n("attn_k.weight"), &[d, k_w])?,
            wv: ld.get(&n("attn_v.weight"), &[d, v_w])?,
            bq: ld.optional(&n("attn_q.bias"), &[q_w])?,
            bk: ld.optional(&n("attn_k.bias"), &[k_w])?,
            bv: ld.optional(&n("attn_v.bias"), &[v_w])?,
            q_norm: ld.optional(&n("attn_q_norm.weight"), &[hd])?,
            k_norm: ld.optional(&n("attn_k_norm.weight"), &[hd])?,
            wo: ld.get(&n("attn_output.weight"), &[hp.n_head * hdv, d])?,
        })
    }
}

/// How one layer attends: its rotary embedding, the attention shape (window, scale) and an
/// optional scale applied to the queries before attention (gemma folds the 1/sqrt(d) there,
/// and ggml rounds differently when it scales the queries rather than the scores).
#[derive(Debug, Clone)]
pub(super) struct AttnConfig {
    pub rope: Rope,
    pub attn: Attention,
    pub q_scale: Option<f32>,
}

/// A gated feed-forward: down(act(gate(x)) * up(x)).
pub(super) struct FfnWeights<B: Backend> {
    gate: B::Weight,
    up: B::Weight,
    down: B::Weight,
}

/// The gate's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Activation {
    Silu,
    /// GELU, tanh approximation.
    Gelu,
}

impl<B: Backend> FfnWeights<B> {
    pub fn load(ld: &Loader<'_, B>, il: usize, hp: &Hparams) -> Result<Self, ModelError> {
        let n = |s: &str| format!("blk.{il}.{s}");
        let (d, ff) = (hp.n_embd, hp.n_ff);
        Ok(FfnWeights {
            gate: ld.get(&n("ffn_gate.weight"), &[d, ff])?,
            up: ld.get(&n("ffn_up.weight"), &[d, ff])?,
            down: ld.get(&n("ffn_down.weight"), &[ff, d])?,
        })
    }
}

/// The activation buffers of one chunk of `n` tokens.
pub(super) struct Scratch<B: Backend> {
    pub n: usize,
    /// [n, n_embd]: the residual stream.
    pub x: B::Buf,
    /// [n, n_embd]: a sub-block's normalized input.
    pub h: B::Buf,
    /// [n, n_embd]: a sub-block's output.
    pub o: B::Buf,
    /// [n, max(q, kv widths)]: queries, keys, values, attention output and a spare for norms.
    q: B::Buf,
    k: B::Buf,
    v: B::Buf,
    att: B::Buf,
    tmp: B::Buf,
    /// [n, n_ff]
    gate: B::Buf,
    up: B::Buf,
    act: B::Buf,
    /// The head's logits and their rows, kept for the next chunk of the same size: a new
    /// buffer per decode step would also pin, on the GPU, a bind group per step.
    logits: Option<(B::Buf, usize)>,
}

impl<B: Backend> Scratch<B> {
    pub fn new(be: &B, hp: &Hparams, n: usize) -> Self {
        let wide = n * hp.heads_width();
        Scratch {
            n,
            x: be.buffer(n * hp.n_embd),
            h: be.buffer(n * hp.n_embd),
            o: be.buffer(n * hp.n_embd),
            q: be.buffer(wide),
            k: be.buffer(wide),
            v: be.buffer(wide),
            att: be.buffer(wide),
            tmp: be.buffer(wide),
            gate: be.buffer(n * hp.n_ff),
            up: be.buffer(n * hp.n_ff),
            act: be.buffer(n * hp.n_ff),
            logits: None,
        }
    }

    /// h = rms_norm(x) * weight.
    pub fn norm_x(&mut self, be: &B, weight: &B::Weight, hp: &Hparams) {
        be.rms_norm(&self.x, weight, hp.rms_eps, self.n, hp.n_embd, &mut self.h);
    }

    /// o = rms_norm(o) * weight (a post-norm), through `h` as the spare.
    pub fn norm_o(&mut self, be: &B, weight: &B::Weight, hp: &Hparams) {
        be.rms_norm(&self.o, weight, hp.rms_eps, self.n, hp.n_embd, &mut self.h);
        std::mem::swap(&mut self.o, &mut self.h);
    }
}

/// Attention sub-block of layer `il`: `s.h` -> `s.o`, storing this chunk's keys and values.
#[allow(clippy::too_many_arguments)]
pub(super) fn attention<B: Backend>(
    be: &B,
    tr: &Tracer<'_, B>,
    hp: &Hparams,
    w: &AttnWeights<B>,
    cfg: &AttnConfig,
    s: &mut Scratch<B>,
    kv: &mut B::Kv,
    il: usize,
    pos0: usize,
) {
    let n = s.n;
    let (hd, hdv) = (hp.head_dim, hp.head_dim_v);
    let (q_w, k_w, v_w) = (hp.n_head * hd, hp.n_head_kv * hd, hp.n_head_kv * hdv);
    be.matmul_many(&[&w.wq, &w.wk, &w.wv], &s.h, n, &mut [&mut s.q, &mut s.k, &mut s.v]);
    tr.op(format_args!("Qcur-{il}"), &s.q, n, q_w);
    tr.op(format_args!("Kcur-{il}"), &s.k, n, k_w);
    tr.op(format_args!("Vcur-{il}"), &s.v, n, v_w);
    for (b, x) in [(&w.bq, &mut s.q), (&w.bk, &mut s.k), (&w.bv, &mut s.v)] {
        if let Some(b) = b {
            be.add_bias(x, b, n);
        }
    }
    // Per-head RMSNorm of queries and keys: each head is one row of head_dim.
    if let Some(qn) = &w.q_norm {
        be.rms_norm(&s.q, qn, hp.rms_eps, n * hp.n_head, hd, &mut s.tmp);
        std::mem::swap(&mut s.q, &mut s.tmp);
        tr.op(format_args!("Qcur_normed-{il}"), &s.q, n, q_w);
    }
    if let Some(kn) = &w.k_norm {
        be.rms_norm(&s.k, kn, hp.rms_eps, n * hp.n_head_kv, hd, &mut s.tmp);
        std::mem::swap(&mut s.k, &mut s.tmp);
        tr.op(format_args!("Kcur_normed-{il}"), &s.k, n, k_w);
    }
    be.rope_qk(&mut s.q, &mut s.k, &cfg.rope, hp.n_head, hp.n_head_kv, hd, pos0, n);
    tr.op(format_args!("Qcur-{il} (rope)"), &s.q, n, q_w);
    tr.op(format_args!("Kcur-{il} (rope)"), &s.k, n, k_w);
    if let Some(scale) = cfg.q_scale {
        be.scale(&mut s.q, scale, n * q_w);
    }
    be.attention_store(&s.q, &s.k, &s.v, kv, il, &cfg.attn, pos0, n, &mut s.att);
    tr.op(format_args!("kqv_out-{il}"), &s.att, n, hp.n_head * hdv);
    be.matmul(&w.wo, &s.att, n, &mut s.o);
    tr.op(format_args!("attn_out-{il}"), &s.o, n, hp.n_embd);
}

/// Gated feed-forward of layer `il`: `s.h` -> `s.o`.
pub(super) fn feed_forward<B: Backend>(
    be: &B,
    tr: &Tracer<'_, B>,
    hp: &Hparams,
    w: &FfnWeights<B>,
    act: Activation,
    s: &mut Scratch<B>,
    il: usize,
) {
    let n = s.n;
    let len = n * hp.n_ff;
    be.matmul_many(&[&w.gate, &w.up], &s.h, n, &mut [&mut s.gate, &mut s.up]);
    tr.op(format_args!("ffn_gate-{il}"), &s.gate, n, hp.n_ff);
    tr.op(format_args!("ffn_up-{il}"), &s.up, n, hp.n_ff);
    match act {
        Activation::Silu => be.swiglu(&s.gate, &s.up, len, &mut s.act),
        Activation::Gelu => be.geglu(&s.gate, &s.up, len, &mut s.act),
    }
    tr.op(format_args!("ffn_act-{il}"), &s.act, n, hp.n_ff);
    be.matmul(&w.down, &s.act, n, &mut s.o);
    tr.op(format_args!("ffn_out-{il}"), &s.o, n, hp.n_embd);
}

/// The final norm and the projection to the vocabulary.
pub(super) struct Head<B: Backend> {
    pub norm: B::Weight,
    /// None when the projection is tied to the token embeddings.
    pub output: Option<B::Weight>,
    /// gemma 2 soft-caps the logits: cap * tanh(logit / cap).
    pub softcap: Option<f32>,
}

impl<B: Backend> Head<B> {
    pub fn load(ld: &Loader<'_, B>, hp: &Hparams) -> Result<Self, ModelError> {
        Ok(Head {
            norm: ld.get("output_norm.weight", &[hp.n_embd])?,
            output: ld.optional("output.weight", &[hp.n_embd, hp.n_vocab])?,
            softcap: None,
        })
    }

    /// Every row's final hidden state after the output norm, `[s.n, n_embd]` (embeddings).
    pub fn hidden(&self, be: &B, hp: &Hparams, s: &mut Scratch<B>) -> Vec<f32> {
        be.rms_norm(&s.x, &self.norm, hp.rms_eps, s.n, hp.n_embd, &mut s.h);
        let mut host = Vec::new();
        be.read(&s.h, s.n * hp.n_embd, &mut host);
        host
    }

    /// The logits of rows `first..s.n` of the residual stream, `[s.n - first, n_vocab]`,
    /// projected in groups of rows whose logits fit one of the backend's buffers (a GPU's
    /// largest binding holds 128 rows of a 262k vocabulary on lavapipe).
    pub fn logits(&self, be: &B, hp: &Hparams, tok_embd: &B::Weight, s: &mut Scratch<B>, first: usize) -> Vec<f32> {
        let per = be.max_buffer_len().map_or(usize::MAX, |max| (max / hp.n_vocab.max(1)).max(1));
        let (mut host, mut part) = (Vec::new(), Vec::new());
        let mut row = first;
        while row < s.n {
            let end = row.saturating_add(per).min(s.n);
            if let Some(out) = self.project(be, hp, tok_embd, s, row, end) {
                be.read(out, (end - row) * hp.n_vocab, &mut part);
                host.extend_from_slice(&part);
            }
            row = end;
        }
        host
    }

    /// The greedy choice after the last row: the first of its largest logits, NaNs ignored
    /// (`sampler::argmax`), picked by the backend so that only the id is read back.
    pub fn greedy(&self, be: &B, hp: &Hparams, tok_embd: &B::Weight, s: &mut Scratch<B>) -> Option<u32> {
        let out = self.project(be, hp, tok_embd, s, s.n.checked_sub(1)?, s.n)?;
        be.argmax(out, 1, hp.n_vocab).first().copied()
    }

    /// Normalizes rows `first..end` and projects them to the vocabulary: the logits, on the
    /// backend, `[end - first, n_vocab]`. Only those rows are projected: with vocabularies
    /// of 150k-260k words the projection is the costliest op of a forward pass.
    fn project<'s>(
        &self,
        be: &B,
        hp: &Hparams,
        tok_embd: &B::Weight,
        s: &'s mut Scratch<B>,
        first: usize,
        end: usize,
    ) -> Option<&'s B::Buf> {
        if first >= end || end > s.n {
            return None;
        }
        let rows = end - first;
        let d = hp.n_embd;
        be.copy_rows(&s.x, first, &mut s.h, 0, rows, d);
        be.rms_norm(&s.h, &self.norm, hp.rms_eps, rows, d, &mut s.o);
        let tr = Tracer::new(be);
        tr.op(format_args!("result_norm"), &s.o, rows, d);
        if s.logits.as_ref().is_none_or(|l| l.1 != rows) {
            s.logits = Some((be.buffer(rows * hp.n_vocab), rows));
        }
        let (out, _) = s.logits.as_mut().expect("just set");
        be.matmul(self.output.as_ref().unwrap_or(tok_embd), &s.o, rows, out);
        tr.op(format_args!("result_output"), out, rows, hp.n_vocab);
        if let Some(cap) = self.softcap {
            be.softcap(out, cap, rows * hp.n_vocab);
        }
        Some(&*out)
    }
}

// ---------------------------------------------------------------------------------------------
// From an architecture to a Model
// ---------------------------------------------------------------------------------------------

/// What every architecture holds besides its weights.
pub(super) struct Common<B: Backend> {
    pub backend: Arc<B>,
    pub hp: Hparams,
    pub tokenizer: Tokenizer,
    pub kv_shapes: Vec<KvShape>,
    /// The last chunk's activation buffers, for the next chunk of the same size.
    pub scratch: std::sync::Mutex<Option<Scratch<B>>>,
}

impl<B: Backend> Common<B> {
    /// Activation buffers for a chunk of `n` tokens: those of the last chunk if it had the
    /// same size, else new ones. Reusing them keeps a decode step from making a dozen new
    /// buffers, and on the GPU new bind groups for every dispatch that touches them.
    pub fn scratch(&self, n: usize) -> Scratch<B> {
        let kept = self.scratch.lock().unwrap_or_else(|e| e.into_inner()).take();
        match kept {
            Some(s) if s.n == n => s,
            _ => Scratch::new(&*self.backend, &self.hp, n),
        }
    }

    /// Keeps `s` for the next chunk (see [`Common::scratch`]).
    pub fn keep_scratch(&self, s: Scratch<B>) {
        *self.scratch.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }
}

/// An architecture: its shared state, its head and the layers of one chunk.
pub(super) trait Architecture: Send + Sync + 'static {
    type B: Backend;
    fn common(&self) -> &Common<Self::B>;
    /// The output head and the token embeddings (the projection when the head ties to them).
    fn head(&self) -> (&Head<Self::B>, &<Self::B as Backend>::Weight);
    /// Runs `tokens` (at most `AsModel::batch`) at `pos0` through the layers and returns the
    /// activations, the residual stream in `x`, for the head to read.
    fn forward_chunk(&self, kv: &mut <Self::B as Backend>::Kv, tokens: &[u32], pos0: usize) -> Scratch<Self::B>;
}

/// Wraps an [`Architecture`] into a [`Model`].
pub(super) struct AsModel<A>(pub A);

impl<A: Architecture> AsModel<A> {
    /// Rejects what no forward pass may see: unknown token ids, or more than the context holds.
    fn check(&self, session: &Session, tokens: &[u32]) -> Result<(), ModelError> {
        let hp = &self.0.common().hp;
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= hp.n_vocab) {
            return Err(ModelError::TokenOutOfRange { id, n_vocab: hp.n_vocab });
        }
        if session.pos + tokens.len() > session.n_ctx {
            return Err(ModelError::ContextFull { n_ctx: session.n_ctx });
        }
        Ok(())
    }

    /// The most tokens of one chunk.
    fn batch(&self) -> usize {
        let c = self.0.common();
        c.hp.max_batch(&*c.backend, MAX_BATCH)
    }

    /// Runs one chunk at the session's position, lets `read` take what it wants from the
    /// head, and keeps the activation buffers for the next chunk.
    fn chunk<T>(
        &self,
        session: &mut Session,
        tokens: &[u32],
        read: impl FnOnce(&Head<A::B>, &A::B, &Hparams, &<A::B as Backend>::Weight, &mut Scratch<A::B>) -> T,
    ) -> T {
        let pos0 = session.pos;
        let mut s = self.0.forward_chunk(super::kv_of::<A::B>(session), tokens, pos0);
        session.pos += tokens.len();
        let c = self.0.common();
        let (head, embd) = self.0.head();
        let r = read(head, &*c.backend, &c.hp, embd, &mut s);
        c.keep_scratch(s);
        r
    }
}

impl<A: Architecture> Model for AsModel<A> {
    fn hparams(&self) -> &Hparams {
        &self.0.common().hp
    }

    fn tokenizer(&self) -> &Tokenizer {
        &self.0.common().tokenizer
    }

    fn try_new_session(&self, n_ctx: usize) -> Result<Session, ModelError> {
        let c = self.0.common();
        let n_ctx = n_ctx.max(1);
        let ring = c.kv_shapes.iter().filter_map(|s| s.window).any(|w| w < n_ctx);
        Ok(Session { pos: 0, n_ctx, ring, state: Box::new(c.backend.kv_cache(&c.kv_shapes, n_ctx)?) })
    }

    fn forward(&self, session: &mut Session, tokens: &[u32], logits: Logits) -> Result<Vec<f32>, ModelError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        self.check(session, tokens)?;
        // The first row (of this call's tokens) whose logits are returned.
        let first = match logits {
            Logits::Last => tokens.len() - 1,
            Logits::All => 0,
            Logits::From(f) => f.min(tokens.len()),
        };
        let mut out = Vec::new();
        let batch = self.batch();
        for (i, chunk) in tokens.chunks(batch).enumerate() {
            let from = first.saturating_sub(i * batch).min(chunk.len());
            out.extend(self.chunk(session, chunk, |head, be, hp, embd, s| head.logits(be, hp, embd, s, from)));
        }
        Ok(out)
    }

    fn forward_greedy(&self, session: &mut Session, tokens: &[u32]) -> Result<Option<u32>, ModelError> {
        self.check(session, tokens)?;
        let mut id = None;
        let batch = self.batch();
        let n_chunks = tokens.len().div_ceil(batch);
        for (i, chunk) in tokens.chunks(batch).enumerate() {
            if i + 1 < n_chunks {
                self.chunk(session, chunk, |_, _, _, _, _| ());
            } else {
                id = self.chunk(session, chunk, |head, be, hp, embd, s| head.greedy(be, hp, embd, s));
            }
        }
        Ok(id)
    }

    fn embed(&self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        let d = self.0.common().hp.n_embd;
        let mut session = self.try_new_session(tokens.len())?;
        self.check(&session, tokens)?;
        // The mean over the tokens of the final hidden states (after the output norm).
        let mut sum = vec![0f64; d];
        for chunk in tokens.chunks(self.batch()) {
            let hidden = self.chunk(&mut session, chunk, |head, be, hp, _, s| head.hidden(be, hp, s));
            for row in hidden.chunks_exact(d) {
                sum.iter_mut().zip(row).for_each(|(s, &v)| *s += f64::from(v));
            }
        }
        let n = tokens.len().max(1) as f64;
        Ok(sum.into_iter().map(|s| (s / n) as f32).collect())
    }

    fn backend_name(&self) -> String {
        self.0.common().backend.name()
    }
}
