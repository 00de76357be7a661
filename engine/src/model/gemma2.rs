//! The gemma2 architecture (Gemma 2), after llama.cpp's `llm_build_gemma2_iswa`: the Gemma
//! block stack of `gemma3.rs` (scaled embeddings, pre- and post-norms, GELU-gated feed-forward,
//! NeoX RoPE, queries scaled before attention, tied output) without Q/K norms, with
//! soft-capped attention scores and logits (`cap * tanh(x / cap)`), and with every other layer
//! (the even ones) attending within the sliding window (4096 positions unless the file says).

use std::sync::Arc;

use crate::backend::{Attention, Backend, Rope, RopeKind};
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

use super::blocks::{AsModel, AttnConfig, Loader};
use super::gemma3::Gemma;
use super::{Hparams, LoadOptions, Model, ModelError};

/// llama.cpp's defaults where the file has no soft-capping keys.
const ATTN_SOFTCAP: f32 = 50.0;
const FINAL_SOFTCAP: f32 = 30.0;
/// Gemma 2's window where the file does not say.
const DEFAULT_WINDOW: usize = 4096;

pub(super) fn load<B: Backend>(
    file: Arc<GgufFile>,
    backend: Arc<B>,
    tokenizer: Tokenizer,
    opts: &LoadOptions,
) -> Result<Box<dyn Model>, ModelError> {
    let hp = Hparams::from_gguf(&file, Loader { file: &file, backend: &*backend }.n_vocab()?)?.with(opts);
    hp.check_backend(&*backend)?;
    let window = hp.sliding_window.unwrap_or(DEFAULT_WINDOW);
    let sliding = super::gemma3::swa_layers(&file, &hp, 2)?;
    let swa_base = file.get_f32("gemma2.rope.freq_base_swa")?.unwrap_or(hp.rope_freq_base);
    if !(swa_base.is_finite() && swa_base > 0.0) {
        return Err(ModelError::BadHparam {
            key: "gemma2.rope.freq_base_swa".into(),
            reason: format!("{swa_base} is not a positive base"),
        });
    }
    let cap = |key: &str, default: f32| -> Result<f32, ModelError> {
        match file.get_f32(key)? {
            None => Ok(default),
            Some(v) if v.is_finite() && v > 0.0 => Ok(v),
            Some(v) => Err(ModelError::BadHparam { key: key.into(), reason: format!("{v} is not a positive cap") }),
        }
    };
    let attn_cap = cap("gemma2.attn_logit_softcapping", ATTN_SOFTCAP)?;
    let final_cap = cap("gemma2.final_logit_softcapping", FINAL_SOFTCAP)?;
    // Gemma 2 27B (46 layers) scales queries by the model width per head, as llama.cpp does.
    let q_scale = if hp.n_layer == 46 {
        1.0 / ((hp.n_embd / hp.n_head) as f32).sqrt()
    } else {
        1.0 / (hp.head_dim as f32).sqrt()
    };
    let rope = |base| Rope {
        kind: RopeKind::Neox,
        n_dims: hp.rope_dims,
        freq_base: base,
        freq_scale: hp.rope_freq_scale,
        freq_factors: None,
    };
    let layer = |il: usize| AttnConfig {
        rope: rope(if sliding[il] { swa_base } else { hp.rope_freq_base }),
        attn: Attention {
            n_head: hp.n_head,
            n_head_kv: hp.n_head_kv,
            head_dim: hp.head_dim,
            scale: 1.0,
            window: sliding[il].then_some(window),
            softcap: Some(attn_cap),
        },
        q_scale: Some(q_scale),
    };
    Ok(Box::new(AsModel(Gemma::build(&file, backend, tokenizer, &hp, layer, Some(final_cap))?)))
}
