//! The llama architecture (llama 2/3, mistral, tinyllama, SmolLM2): pre-norm blocks of
//! grouped-query attention with RoPE and a SwiGLU feed-forward, RMSNorm throughout, the
//! output projection separate or tied to the token embeddings. Optional q/k/v biases let
//! the same code serve close relatives.

use std::sync::Arc;

use crate::backend::{Attention, Backend, KvShape, Rope, RopeKind, WeightSource};
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

use super::{Hparams, Logits, Model, ModelError, Session};

/// Prompts are processed in chunks of at most this many tokens, which bounds the
/// activation buffers.
const MAX_BATCH: usize = 512;

struct Layer<B: Backend> {
    attn_norm: B::Weight,
    wq: B::Weight,
    wk: B::Weight,
    wv: B::Weight,
    bq: Option<B::Weight>,
    bk: Option<B::Weight>,
    bv: Option<B::Weight>,
    wo: B::Weight,
    ffn_norm: B::Weight,
    w_gate: B::Weight,
    w_up: B::Weight,
    w_down: B::Weight,
}

pub struct Llama<B: Backend> {
    backend: Arc<B>,
    hp: Hparams,
    tokenizer: Tokenizer,
    tok_embd: B::Weight,
    output_norm: B::Weight,
    /// None when the output projection is tied to the token embeddings.
    output: Option<B::Weight>,
    layers: Vec<Layer<B>>,
    rope: Rope,
    attn: Attention,
    kv_shapes: Vec<KvShape>,
}

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
}

impl<B: Backend> Llama<B> {
    pub fn load(file: Arc<GgufFile>, backend: Arc<B>, tokenizer: Tokenizer) -> Result<Llama<B>, ModelError> {
        let embd_info = file.tensor_info("token_embd.weight").ok_or_else(|| ModelError::tensor("token_embd.weight", "missing"))?;
        if embd_info.dims.len() != 2 {
            return Err(ModelError::tensor("token_embd.weight", "must be two-dimensional"));
        }
        let n_vocab = embd_info.dims[1] as usize;
        let hp = Hparams::from_gguf(&file, n_vocab)?;
        let ld = Loader { file: &file, backend: &*backend };
        let (d, hd, hdv) = (hp.n_embd, hp.head_dim, hp.head_dim_v);
        let (q_w, k_w, v_w) = (hp.n_head * hd, hp.n_head_kv * hd, hp.n_head_kv * hdv);

        let tok_embd = ld.get("token_embd.weight", &[d, n_vocab])?;
        let output_norm = ld.get("output_norm.weight", &[d])?;
        let output = ld.optional("output.weight", &[d, n_vocab])?;
        let mut layers = Vec::with_capacity(hp.n_layer);
        for i in 0..hp.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            layers.push(Layer {
                attn_norm: ld.get(&n("attn_norm.weight"), &[d])?,
                wq: ld.get(&n("attn_q.weight"), &[d, q_w])?,
                wk: ld.get(&n("attn_k.weight"), &[d, k_w])?,
                wv: ld.get(&n("attn_v.weight"), &[d, v_w])?,
                bq: ld.optional(&n("attn_q.bias"), &[q_w])?,
                bk: ld.optional(&n("attn_k.bias"), &[k_w])?,
                bv: ld.optional(&n("attn_v.bias"), &[v_w])?,
                wo: ld.get(&n("attn_output.weight"), &[hp.n_head * hdv, d])?,
                ffn_norm: ld.get(&n("ffn_norm.weight"), &[d])?,
                w_gate: ld.get(&n("ffn_gate.weight"), &[d, hp.n_ff])?,
                w_up: ld.get(&n("ffn_up.weight"), &[d, hp.n_ff])?,
                w_down: ld.get(&n("ffn_down.weight"), &[hp.n_ff, d])?,
            });
        }
        // llama 3's rope scaling is baked by the converter into per-pair frequency divisors.
        let freq_factors = match file.tensor_info("rope_freqs.weight") {
            None => None,
            Some(info) => {
                if info.dims != [hp.rope_dims as u64 / 2] || info.ty != rollama_kernels::GgmlType::F32 {
                    return Err(ModelError::tensor("rope_freqs.weight", format!("must be F32 [{}]", hp.rope_dims / 2)));
                }
                let v: Vec<f32> = file.tensor_data(info).chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                Some(Arc::new(v))
            }
        };
        let rope = Rope {
            kind: RopeKind::Normal,
            n_dims: hp.rope_dims,
            freq_base: hp.rope_freq_base,
            freq_scale: hp.rope_freq_scale,
            freq_factors,
        };
        let attn = Attention {
            n_head: hp.n_head,
            n_head_kv: hp.n_head_kv,
            head_dim: hd,
            scale: 1.0 / (hd as f32).sqrt(),
            window: None,
            softcap: None,
        };
        if hd != hdv {
            return Err(ModelError::BadHparam { key: "llama.attention.value_length".into(), reason: "must equal the key length".into() });
        }
        let kv_shapes = vec![KvShape { k_width: k_w, v_width: v_w }; hp.n_layer];
        Ok(Llama { backend, hp, tokenizer, tok_embd, output_norm, output, layers, rope, attn, kv_shapes })
    }

    /// One chunk of at most MAX_BATCH tokens at `pos0`; returns logits of the rows asked for.
    fn forward_chunk(&self, kv: &mut B::Kv, tokens: &[u32], pos0: usize, logits: Logits) -> Vec<f32> {
        let be = &*self.backend;
        let hp = &self.hp;
        let n = tokens.len();
        let d = hp.n_embd;
        let q_w = hp.n_head * hp.head_dim;
        let kv_w = hp.n_head_kv * hp.head_dim;

        let mut x = be.buffer(n * d); // [n, d] residual stream
        let mut h = be.buffer(n * d); // [n, d] normalized input of a sub-block
        let mut q = be.buffer(n * q_w); // [n, n_head * head_dim]
        let mut k = be.buffer(n * kv_w); // [n, n_head_kv * head_dim]
        let mut v = be.buffer(n * kv_w);
        let mut att = be.buffer(n * q_w);
        let mut o = be.buffer(n * d);
        let mut gate = be.buffer(n * hp.n_ff); // [n, n_ff]
        let mut up = be.buffer(n * hp.n_ff);
        let mut act = be.buffer(n * hp.n_ff);

        let tr = super::Tracer::new(be);
        be.get_rows(&self.tok_embd, tokens, &mut x);
        tr.op("embd", &x, n, d);
        for (il, l) in self.layers.iter().enumerate() {
            be.rms_norm(&x, &l.attn_norm, hp.rms_eps, n, d, &mut h);
            tr.op(&format!("attn_norm-{il}"), &h, n, d);
            be.matmul(&l.wq, &h, n, &mut q);
            be.matmul(&l.wk, &h, n, &mut k);
            be.matmul(&l.wv, &h, n, &mut v);
            tr.op(&format!("Qcur-{il}"), &q, n, q_w);
            tr.op(&format!("Kcur-{il}"), &k, n, kv_w);
            tr.op(&format!("Vcur-{il}"), &v, n, kv_w);
            if let Some(b) = &l.bq {
                be.add_bias(&mut q, b, n);
            }
            if let Some(b) = &l.bk {
                be.add_bias(&mut k, b, n);
            }
            if let Some(b) = &l.bv {
                be.add_bias(&mut v, b, n);
            }
            be.rope(&mut q, &self.rope, hp.n_head, hp.head_dim, pos0, n);
            be.rope(&mut k, &self.rope, hp.n_head_kv, hp.head_dim, pos0, n);
            tr.op(&format!("Qcur-{il} (rope)"), &q, n, q_w);
            tr.op(&format!("Kcur-{il} (rope)"), &k, n, kv_w);
            be.kv_store(kv, il, &k, &v, pos0, n);
            be.attention(&q, kv, il, &self.attn, pos0, n, &mut att);
            tr.op(&format!("kqv_out-{il}"), &att, n, q_w);
            be.matmul(&l.wo, &att, n, &mut o);
            tr.op(&format!("attn_out-{il}"), &o, n, d);
            be.add(&mut x, &o, n * d);
            tr.op(&format!("ffn_inp-{il}"), &x, n, d);

            be.rms_norm(&x, &l.ffn_norm, hp.rms_eps, n, d, &mut h);
            tr.op(&format!("ffn_norm-{il}"), &h, n, d);
            be.matmul(&l.w_gate, &h, n, &mut gate);
            be.matmul(&l.w_up, &h, n, &mut up);
            tr.op(&format!("ffn_gate-{il}"), &gate, n, hp.n_ff);
            tr.op(&format!("ffn_up-{il}"), &up, n, hp.n_ff);
            be.swiglu(&gate, &up, n * hp.n_ff, &mut act);
            tr.op(&format!("ffn_swiglu-{il}"), &act, n, hp.n_ff);
            be.matmul(&l.w_down, &act, n, &mut o);
            tr.op(&format!("ffn_out-{il}"), &o, n, d);
            be.add(&mut x, &o, n * d);
            tr.op(&format!("l_out-{il}"), &x, n, d);
        }

        let out_w = self.output.as_ref().unwrap_or(&self.tok_embd);
        let (rows, src) = match logits {
            Logits::All => {
                be.rms_norm(&x, &self.output_norm, hp.rms_eps, n, d, &mut h);
                (n, h)
            }
            Logits::Last => {
                // Only the last row is needed: normalize and project just that one.
                let mut last = be.buffer(d);
                be.copy_row(&x, n - 1, &mut last, 0, d);
                let mut normed = be.buffer(d);
                be.rms_norm(&last, &self.output_norm, hp.rms_eps, 1, d, &mut normed);
                (1, normed)
            }
        };
        let mut out = be.buffer(rows * hp.n_vocab);
        be.matmul(out_w, &src, rows, &mut out);
        let mut host = Vec::new();
        be.read(&out, rows * hp.n_vocab, &mut host);
        host
    }
}

impl<B: Backend> Model for Llama<B> {
    fn hparams(&self) -> &Hparams {
        &self.hp
    }

    fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn new_session(&self, n_ctx: usize) -> Session {
        super::new_session(&*self.backend, &self.kv_shapes, n_ctx.max(1))
    }

    fn forward(&self, session: &mut Session, tokens: &[u32], logits: Logits) -> Result<Vec<f32>, ModelError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(&id) = tokens.iter().find(|&&id| id as usize >= self.hp.n_vocab) {
            return Err(ModelError::TokenOutOfRange { id, n_vocab: self.hp.n_vocab });
        }
        if session.pos + tokens.len() > session.n_ctx {
            return Err(ModelError::ContextFull { n_ctx: session.n_ctx });
        }
        let mut out = Vec::new();
        let mut pos = session.pos;
        let chunks: Vec<&[u32]> = tokens.chunks(MAX_BATCH).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let kv = super::kv_of::<B>(session);
            match logits {
                Logits::All => out.extend(self.forward_chunk(kv, chunk, pos, Logits::All)),
                Logits::Last => {
                    // Earlier chunks only fill the cache; their logits are not needed, but
                    // computing one row is cheap next to the chunk itself.
                    let l = self.forward_chunk(kv, chunk, pos, Logits::Last);
                    if last {
                        out = l;
                    }
                }
            }
            pos += chunk.len();
            session.pos = pos;
        }
        Ok(out)
    }

    fn backend_name(&self) -> String {
        self.backend.name()
    }
}
