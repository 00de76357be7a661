//! The qwen2 architecture (Qwen2, Qwen2.5, Qwen2.5-Coder): llama's blocks with biases on the
//! query, key and value projections and NeoX-style RoPE (pairs half a head apart); the output
//! projection separate or tied. The biases are loaded by the shared attention weights when
//! the file has them, so this file only picks the rope layout and insists on the biases.

use std::sync::Arc;

use crate::backend::{Backend, RopeKind};
use crate::gguf::GgufFile;
use crate::tokenizer::Tokenizer;

use super::blocks::AsModel;
use super::llama::Llama;
use super::{LoadOptions, Model, ModelError};

pub(super) fn load<B: Backend>(
    file: Arc<GgufFile>,
    backend: Arc<B>,
    tokenizer: Tokenizer,
    opts: &LoadOptions,
) -> Result<Box<dyn Model>, ModelError> {
    // Without its biases a qwen2 file would load as something else and produce nonsense.
    for bias in ["attn_q.bias", "attn_k.bias", "attn_v.bias"] {
        let name = format!("blk.0.{bias}");
        if file.tensor_info(&name).is_none() {
            return Err(ModelError::tensor(&name, "missing"));
        }
    }
    Ok(Box::new(AsModel(Llama::load(file, backend, tokenizer, opts, RopeKind::Neox)?)))
}
