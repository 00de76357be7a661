//! The gemma3 architecture (Gemma 3 text models), after llama.cpp's `llm_build_gemma3_iswa`:
//! token embeddings scaled by sqrt(n_embd); each block normalizes before and after both
//! attention and the GELU-gated feed-forward (RMSNorm, whose weights the GGUF converter has
//! already turned into 1 + w); per-head RMSNorm of queries and keys; NeoX RoPE; queries
//! scaled by 1/sqrt(key length) before attention; the output tied to the embeddings.
//!
//! Five of every six layers attend within a sliding window (`gemma3.attention.sliding_window`
//! positions, the query's own included) with RoPE base 10000 (or `gemma3.rope.freq_base_swa`);
//! layer il is global when (il + 1) % 6 == 0 (or as `attention.sliding_window_pattern` says)
//! and uses the file's RoPE base and scaling. Sliding layers keep a ring of only `window`
//! positions in the KV cache. Without a window every layer is global; an optional
//! `final_logit_softcapping` caps the logits.

use std::sync::Arc;

use crate::backend::{Attention, Backend, KvShape, Rope, RopeKind};
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

use super::blocks::{self, Activation, AsModel, AttnConfig, AttnWeights, Common, FfnWeights, Head, Loader, Scratch};
use super::{Hparams, LoadOptions, Model, ModelError, Tracer};

/// One global layer follows every five sliding ones (llama.cpp's `set_swa_pattern(6)`).
const SWA_PATTERN: usize = 6;
/// RoPE base of the sliding layers (fixed by the architecture, not in the file).
const SWA_ROPE_BASE: f32 = 10_000.0;

struct Layer<B: Backend> {
    attn_norm: B::Weight,
    attn: AttnWeights<B>,
    attn_post_norm: B::Weight,
    ffn_norm: B::Weight,
    ffn: FfnWeights<B>,
    ffn_post_norm: B::Weight,
    cfg: AttnConfig,
}

/// The Gemma block stack, shared with gemma2 (which differs only in how its layers are
/// configured, see `gemma2.rs`). Q/K norms are used where the file has them.
pub(super) struct Gemma<B: Backend> {
    c: Common<B>,
    tok_embd: B::Weight,
    head: Head<B>,
    layers: Vec<Layer<B>>,
}

pub(super) fn load<B: Backend>(
    file: Arc<GgufFile>,
    backend: Arc<B>,
    tokenizer: Tokenizer,
    opts: &LoadOptions,
) -> Result<Box<dyn Model>, ModelError> {
    let hp = Hparams::from_gguf(&file, Loader { file: &file, backend: &*backend }.n_vocab()?)?.with(opts);
    hp.check_backend(&*backend)?;
    // Without a window every layer is global (llama.cpp's `LLAMA_SWA_TYPE_NONE`).
    let sliding = match hp.sliding_window {
        Some(_) => swa_layers(&file, &hp, SWA_PATTERN)?,
        None => vec![false; hp.n_layer],
    };
    let swa_base = file.get_f32("gemma3.rope.freq_base_swa")?.unwrap_or(SWA_ROPE_BASE);
    let final_softcap = file.get_f32("gemma3.final_logit_softcapping")?.filter(|&c| c != 0.0);
    if !(swa_base.is_finite() && swa_base > 0.0) || final_softcap.is_some_and(|c| !c.is_finite()) {
        return Err(ModelError::BadHparam {
            key: "gemma3.*".into(),
            reason: "rope base or soft-cap is not finite".into(),
        });
    }
    // Gemma 3 27B scales queries by the model width per head instead (gemma_pytorch's
    // query_pre_attn_scalar); llama.cpp recognizes it by its 62 layers.
    let q_scale = if hp.n_layer == 62 {
        1.0 / ((hp.n_embd / hp.n_head) as f32).sqrt()
    } else {
        1.0 / (hp.head_dim as f32).sqrt()
    };
    let freq_factors = Loader { file: &file, backend: &*backend }.rope_freq_factors(&hp)?;
    let layer = |il: usize| {
        let local = sliding[il];
        let rope = Rope {
            kind: RopeKind::Neox,
            n_dims: hp.rope_dims,
            freq_base: if local { swa_base } else { hp.rope_freq_base },
            freq_scale: if local { 1.0 } else { hp.rope_freq_scale },
            freq_factors: if local { None } else { freq_factors.clone() },
        };
        let window = hp.sliding_window.filter(|_| local);
        let attn = Attention {
            n_head: hp.n_head,
            n_head_kv: hp.n_head_kv,
            head_dim: hp.head_dim,
            scale: 1.0,
            window,
            softcap: None,
        };
        AttnConfig { rope, attn, q_scale: Some(q_scale) }
    };
    let model = Gemma::build(&file, backend, tokenizer, &hp, layer, final_softcap)?;
    Ok(Box::new(AsModel(model)))
}

/// Which layers attend within the sliding window, as llama.cpp's `load_swa_pattern`: with a
/// pattern n (`{arch}.attention.sliding_window_pattern`, else `default`), layer il slides
/// unless il % n == n - 1 (n = 0: all slide).
pub(super) fn swa_layers(file: &GgufFile, hp: &Hparams, default: usize) -> Result<Vec<bool>, ModelError> {
    let key = format!("{}.attention.sliding_window_pattern", hp.arch);
    if file.get_array(&key).ok().flatten().is_some() {
        return Err(ModelError::BadHparam { key, reason: "per-layer window patterns are not supported yet".into() });
    }
    let n = match file.get_u64(&key)? {
        None => default,
        Some(n) if n <= 4096 => n as usize,
        Some(n) => return Err(ModelError::BadHparam { key, reason: format!("{n} is out of range") }),
    };
    Ok((0..hp.n_layer).map(|il| n == 0 || il % n < n - 1).collect())
}

impl<B: Backend> Gemma<B> {
    /// Loads the tensors of a Gemma stack whose layer `il` attends as `layer(il)` says;
    /// `final_softcap` caps the logits (gemma 2).
    pub(super) fn build(
        file: &Arc<GgufFile>,
        backend: Arc<B>,
        tokenizer: Tokenizer,
        hp: &Hparams,
        layer: impl Fn(usize) -> AttnConfig,
        final_softcap: Option<f32>,
    ) -> Result<Self, ModelError> {
        if hp.head_dim != hp.head_dim_v {
            return Err(ModelError::BadHparam {
                key: format!("{}.attention.value_length", hp.arch),
                reason: "must equal the key length".into(),
            });
        }
        let ld = Loader { file, backend: &*backend };
        let tok_embd = ld.get("token_embd.weight", &[hp.n_embd, hp.n_vocab])?;
        let mut head = Head::load(&ld, hp)?;
        head.softcap = final_softcap;
        let mut layers = Vec::with_capacity(hp.n_layer);
        let mut kv_shapes = Vec::with_capacity(hp.n_layer);
        for il in 0..hp.n_layer {
            let n = |s: &str| format!("blk.{il}.{s}");
            let d = hp.n_embd;
            let cfg = layer(il);
            let kv = hp.n_head_kv * hp.head_dim;
            kv_shapes.push(KvShape { k_width: kv, v_width: kv, window: cfg.attn.window });
            layers.push(Layer {
                attn_norm: ld.get(&n("attn_norm.weight"), &[d])?,
                attn: AttnWeights::load(&ld, il, hp)?,
                attn_post_norm: ld.get(&n("post_attention_norm.weight"), &[d])?,
                ffn_norm: ld.get(&n("ffn_norm.weight"), &[d])?,
                ffn: FfnWeights::load(&ld, il, hp)?,
                ffn_post_norm: ld.get(&n("post_ffw_norm.weight"), &[d])?,
                cfg,
            });
        }
        Ok(Gemma {
            c: Common { backend, hp: hp.clone(), tokenizer, kv_shapes, scratch: Default::default() },
            tok_embd,
            head,
            layers,
        })
    }
}

impl<B: Backend> blocks::Architecture for Gemma<B> {
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
        be.scale(&mut s.x, (d as f32).sqrt(), n * d);
        tr.op(format_args!("inp_scaled"), &s.x, n, d);
        for (il, l) in self.layers.iter().enumerate() {
            s.norm_x(be, &l.attn_norm, hp);
            tr.op(format_args!("attn_norm-{il}"), &s.h, n, d);
            blocks::attention(be, &tr, hp, &l.attn, &l.cfg, &mut s, kv, il, pos0);
            s.norm_o(be, &l.attn_post_norm, hp);
            tr.op(format_args!("attn_post_norm-{il}"), &s.o, n, d);
            be.add(&mut s.x, &s.o, n * d);
            tr.op(format_args!("sa_out-{il}"), &s.x, n, d);
            s.norm_x(be, &l.ffn_norm, hp);
            tr.op(format_args!("ffn_norm-{il}"), &s.h, n, d);
            blocks::feed_forward(be, &tr, hp, &l.ffn, Activation::Gelu, &mut s, il);
            s.norm_o(be, &l.ffn_post_norm, hp);
            tr.op(format_args!("ffn_post_norm-{il}"), &s.o, n, d);
            be.add(&mut s.x, &s.o, n * d);
            tr.op(format_args!("l_out-{il}"), &s.x, n, d);
        }
        s
    }
}
