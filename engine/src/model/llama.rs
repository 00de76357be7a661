//! The llama architecture (llama 2/3, mistral, tinyllama, SmolLM2): pre-norm blocks of
//! grouped-query attention with RoPE and a SwiGLU feed-forward, RMSNorm throughout, the
//! output projection separate or tied to the token embeddings. llama 3's rope scaling comes
//! as a `rope_freqs` tensor. Like llama.cpp, it ignores `llama.attention.sliding_window`.

use std::sync::Arc;

use crate::backend::{Attention, Backend, KvShape, Rope, RopeKind};
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

use super::blocks::{self, Activation, AsModel, AttnConfig, AttnWeights, Common, FfnWeights, Head, Loader, Scratch};
use super::{Hparams, LoadOptions, Model, ModelError, Tracer};

struct Layer<B: Backend> {
    attn_norm: B::Weight,
    attn: AttnWeights<B>,
    ffn_norm: B::Weight,
    ffn: FfnWeights<B>,
}

pub(super) struct Llama<B: Backend> {
    c: Common<B>,
    tok_embd: B::Weight,
    head: Head<B>,
    layers: Vec<Layer<B>>,
    cfg: AttnConfig,
}

pub(super) fn load<B: Backend>(
    file: Arc<GgufFile>,
    backend: Arc<B>,
    tokenizer: Tokenizer,
    opts: &LoadOptions,
) -> Result<Box<dyn Model>, ModelError> {
    Ok(Box::new(AsModel(Llama::load(file, backend, tokenizer, opts, RopeKind::Normal)?)))
}

impl<B: Backend> Llama<B> {
    /// Loads a llama-shaped model; `rope` is the only thing its relatives (qwen2) change.
    pub(super) fn load(
        file: Arc<GgufFile>,
        backend: Arc<B>,
        tokenizer: Tokenizer,
        opts: &LoadOptions,
        rope: RopeKind,
    ) -> Result<Self, ModelError> {
        let ld = Loader { file: &file, backend: &*backend };
        let hp = Hparams::from_gguf(&file, ld.n_vocab()?)?.with(opts);
        hp.check_backend(&*backend)?;
        if hp.head_dim != hp.head_dim_v {
            return Err(ModelError::BadHparam {
                key: format!("{}.attention.value_length", hp.arch),
                reason: "must equal the key length".into(),
            });
        }
        let tok_embd = ld.get("token_embd.weight", &[hp.n_embd, hp.n_vocab])?;
        let head = Head::load(&ld, &hp)?;
        let mut layers = Vec::with_capacity(hp.n_layer);
        for il in 0..hp.n_layer {
            layers.push(Layer {
                attn_norm: ld.get(&format!("blk.{il}.attn_norm.weight"), &[hp.n_embd])?,
                attn: AttnWeights::load(&ld, il, &hp)?,
                ffn_norm: ld.get(&format!("blk.{il}.ffn_norm.weight"), &[hp.n_embd])?,
                ffn: FfnWeights::load(&ld, il, &hp)?,
            });
        }
        // llama.cpp's llama graph attends to the whole context even where the file names a
        // sliding window (mistral 7B v0.1 GGUFs), and so does this one.
        let window = None;
        let cfg = AttnConfig {
            rope: Rope {
                kind: rope,
                n_dims: hp.rope_dims,
                freq_base: hp.rope_freq_base,
                freq_scale: hp.rope_freq_scale,
                freq_factors: ld.rope_freq_factors(&hp)?,
            },
            attn: Attention {
                n_head: hp.n_head,
                n_head_kv: hp.n_head_kv,
                head_dim: hp.head_dim,
                scale: 1.0 / (hp.head_dim as f32).sqrt(),
                window,
                softcap: None,
            },
            q_scale: None,
        };
        let kv = hp.n_head_kv * hp.head_dim;
        let kv_shapes = vec![KvShape { k_width: kv, v_width: kv, window }; hp.n_layer];
        Ok(Llama {
            c: Common { backend, hp, tokenizer, kv_shapes, scratch: Default::default() },
            tok_embd,
            head,
            layers,
            cfg,
        })
    }
}

impl<B: Backend> blocks::Architecture for Llama<B> {
    type B = B;

    fn common(&self) -> &Common<B> {
        &self.c
    }

    fn head(&self) -> (&Head<B>, &B::Weight) {
        (&self.head, &self.tok_embd)
    }

    fn forward_chunk(&self, kv: &mut B::Kv, tokens: &[u32], pos0: usize) -> Scratch<B> {
        let (be, hp) = (&*self.c.backend, &self.c.hp);
        let (n, d) = (tokens.len(), hp.n_embd);
        let mut s = self.c.scratch(n);
        let tr = Tracer::new(be);
        be.get_rows(&self.tok_embd, tokens, &mut s.x);
        tr.op(format_args!("embd"), &s.x, n, d);
        // Each residual add is done with the norm that follows it (add_rms_norm): the first
        // layer's input norm stands alone, the last add too (the head norms on its own).
        if let Some(first) = self.layers.first() {
            s.norm_x(be, &first.attn_norm, hp);
        }
        let eps = hp.rms_eps;
        for (il, l) in self.layers.iter().enumerate() {
            tr.op(format_args!("attn_norm-{il}"), &s.h, n, d);
            blocks::attention(be, &tr, hp, &l.attn, &self.cfg, &mut s, kv, il, pos0);
            be.add_rms_norm(&mut s.x, &s.o, &l.ffn_norm, eps, n, d, &mut s.h);
            tr.op(format_args!("ffn_inp-{il}"), &s.x, n, d);
            tr.op(format_args!("ffn_norm-{il}"), &s.h, n, d);
            blocks::feed_forward(be, &tr, hp, &l.ffn, Activation::Silu, &mut s, il);
            match self.layers.get(il + 1) {
                Some(next) => be.add_rms_norm(&mut s.x, &s.o, &next.attn_norm, eps, n, d, &mut s.h),
                None => be.add(&mut s.x, &s.o, n * d),
            }
            tr.op(format_args!("l_out-{il}"), &s.x, n, d);
        }
        s
    }
}
