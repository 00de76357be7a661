//! Random-weight llama-shaped models written with `GgufWriter`, for measuring decode against
//! the memory-bandwidth bound on a GPU where the real files are not at hand: [`Spec::llama2_7b`]
//! (4096 wide, 32 layers of 32 heads, a feed forward of 11008, 32000 tokens) quantized as
//! llama.cpp's Q4_K_M, and [`Spec::smollm2`], the shape and types of
//! SmolLM2-135M-Instruct.Q4_1.gguf. Their output means nothing; only size, types and layout
//! are real, and those are what the speed depends on.
//!
//! Q4_K_M's types follow `llama_tensor_get_type`: Q6_K for `output` and, in the layers that
//! `use_more_bits` picks, `attn_v` and `ffn_down`; Q4_K for every other matrix; f32 norms.
//! Each matrix's rows are drawn from a small pool of rows quantized with ggml's reference
//! quantizer from uniform random values scaled by 1/sqrt(row length), so scales are realistic
//! and activations stay finite, while writing 4 GB takes seconds rather than the minutes that
//! quantizing every row would. The writer holds the whole file in memory, twice while writing
//! it (about 8 GB for the 7B model).

use std::path::Path;

use rollama_engine::gguf::{GgmlType, GgufWriter};
use rollama_engine::sampler::Rng;

/// The shape and quantization of a model.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub freq_base: f32,
    pub quant: Quant,
}

/// Which tensor gets which type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    /// llama.cpp's Q4_K_M, with a separate output projection.
    Q4KM,
    /// As SmolLM2-135M-Instruct.Q4_1.gguf: Q4_1 matrices, Q8_0 embeddings that double as the
    /// output projection.
    Q4_1,
}

impl Spec {
    /// Llama 2 7B as Q4_K_M.
    pub fn llama2_7b() -> Spec {
        Spec {
            n_embd: 4096,
            n_layer: 32,
            n_head: 32,
            n_head_kv: 32,
            n_ff: 11008,
            n_vocab: 32000,
            freq_base: 10_000.0,
            quant: Quant::Q4KM,
        }
    }

    /// SmolLM2 135M as its Q4_1 file.
    pub fn smollm2() -> Spec {
        Spec {
            n_embd: 576,
            n_layer: 30,
            n_head: 9,
            n_head_kv: 3,
            n_ff: 1536,
            n_vocab: 49152,
            freq_base: 100_000.0,
            quant: Quant::Q4_1,
        }
    }
}

/// Distinct quantized rows per matrix.
const POOL: usize = 32;

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third
/// one between get the larger type.
fn use_more_bits(i: usize, n: usize) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// An `n_out` x `n_in` matrix of `ty` (ggml dims `[n_in, n_out]`), values uniform in
/// [-scale, scale).
fn matrix(ty: GgmlType, n_in: usize, n_out: usize, scale: f32, rng: &mut Rng) -> Vec<u8> {
    let row_bytes = ty.row_bytes(n_in).expect("row length a multiple of the block");
    let mut pool = vec![0u8; POOL * row_bytes];
    let mut values = vec![0f32; n_in];
    for row in pool.chunks_exact_mut(row_bytes) {
        values.iter_mut().for_each(|v| *v = (rng.next_f64() as f32 * 2.0 - 1.0) * scale);
        rollama_kernels::quantize_row(ty, &values, row).expect("a quantizable type");
    }
    let mut out = Vec::with_capacity(n_out * row_bytes);
    for _ in 0..n_out {
        let i = (rng.next_u64() % POOL as u64) as usize;
        out.extend_from_slice(&pool[i * row_bytes..(i + 1) * row_bytes]);
    }
    out
}

/// Writes the model to `path`; returns the file's size in bytes.
pub fn write(path: &Path, s: &Spec, seed: u64) -> Result<u64, String> {
    let a = "llama";
    let head_dim = s.n_embd / s.n_head;
    let mut w = GgufWriter::new();
    w.add_str("general.architecture", a);
    w.add_str("general.name", "random weights");
    // LLAMA_FTYPE_MOSTLY_Q4_K_M, LLAMA_FTYPE_MOSTLY_Q4_1.
    w.add_u32("general.file_type", if s.quant == Quant::Q4KM { 15 } else { 3 });
    w.add_u32(&format!("{a}.context_length"), 4096);
    w.add_u32(&format!("{a}.embedding_length"), s.n_embd as u32);
    w.add_u32(&format!("{a}.block_count"), s.n_layer as u32);
    w.add_u32(&format!("{a}.feed_forward_length"), s.n_ff as u32);
    w.add_u32(&format!("{a}.rope.dimension_count"), head_dim as u32);
    w.add_u32(&format!("{a}.attention.head_count"), s.n_head as u32);
    w.add_u32(&format!("{a}.attention.head_count_kv"), s.n_head_kv as u32);
    w.add_f32(&format!("{a}.attention.layer_norm_rms_epsilon"), 1e-5);
    w.add_f32(&format!("{a}.rope.freq_base"), s.freq_base);
    // A SentencePiece vocabulary of placeholder pieces; the benchmark feeds token ids.
    let mut tokens = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
    tokens.extend((3..s.n_vocab).map(|i| format!("t{i}")));
    let token_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    w.add_str("tokenizer.ggml.model", "llama");
    w.add_str_array("tokenizer.ggml.tokens", &token_refs);
    w.add_f32_array("tokenizer.ggml.scores", &vec![0.0; s.n_vocab]);
    let mut types = vec![1i32; s.n_vocab];
    types[..3].copy_from_slice(&[2, 3, 3]);
    w.add_i32_array("tokenizer.ggml.token_type", &types);
    w.add_u32("tokenizer.ggml.bos_token_id", 1);
    w.add_u32("tokenizer.ggml.eos_token_id", 2);

    let mut rng = Rng::new(seed);
    let (d, ff, kv) = (s.n_embd, s.n_ff, s.n_head_kv * head_dim);
    let mut mat = |w: &mut GgufWriter, name: &str, ty: GgmlType, n_in: usize, n_out: usize| {
        let data = matrix(ty, n_in, n_out, 1.0 / (n_in as f32).sqrt(), &mut rng);
        w.add_tensor(name, ty, &[n_in as u64, n_out as u64], data).map(|_| ()).map_err(|e| e.to_string())
    };
    let ones = |w: &mut GgufWriter, name: &str| {
        w.add_f32_tensor(name, &[d as u64], &vec![1.0; d]).map(|_| ()).map_err(|e| e.to_string())
    };
    use GgmlType::{Q4_1, Q4_K, Q6_K, Q8_0};
    // (embeddings, output, most matrices)
    let (embd, output, base) = match s.quant {
        Quant::Q4KM => (Q4_K, Some(Q6_K), Q4_K),
        Quant::Q4_1 => (Q8_0, None, Q4_1),
    };
    mat(&mut w, "token_embd.weight", embd, d, s.n_vocab)?;
    ones(&mut w, "output_norm.weight")?;
    if let Some(ty) = output {
        mat(&mut w, "output.weight", ty, d, s.n_vocab)?;
    }
    for il in 0..s.n_layer {
        let n = |t: &str| format!("blk.{il}.{t}.weight");
        let more = if s.quant == Quant::Q4KM && use_more_bits(il, s.n_layer) { Q6_K } else { base };
        ones(&mut w, &n("attn_norm"))?;
        mat(&mut w, &n("attn_q"), base, d, d)?;
        mat(&mut w, &n("attn_k"), base, d, kv)?;
        mat(&mut w, &n("attn_v"), more, d, kv)?;
        mat(&mut w, &n("attn_output"), base, d, d)?;
        ones(&mut w, &n("ffn_norm"))?;
        mat(&mut w, &n("ffn_gate"), base, d, ff)?;
        mat(&mut w, &n("ffn_up"), base, d, ff)?;
        mat(&mut w, &n("ffn_down"), more, ff, d)?;
    }
    w.write_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::metadata(path).map(|m| m.len()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_k_m_layer_types_match_llama_cpp() {
        // llama.cpp's choice for 32 layers: 0-3, 28-31 and every third from 6.
        let more: Vec<usize> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
        assert_eq!(more, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
    }

    #[test]
    fn small_ones_load_and_give_finite_logits() {
        let small =
            Spec { n_embd: 256, n_layer: 2, n_head: 4, n_head_kv: 2, n_ff: 512, n_vocab: 300, ..Spec::llama2_7b() };
        for (i, spec) in [small, Spec { quant: Quant::Q4_1, ..small }].iter().enumerate() {
            let path = std::env::temp_dir().join(format!("rollama-bench-synth-{}-{i}.gguf", std::process::id()));
            write(&path, spec, 1).unwrap();
            let be = std::sync::Arc::new(rollama_engine::backend::CpuBackend::new(1));
            let model = rollama_engine::model::load(&path, be).unwrap();
            let mut s = model.new_session(8);
            let logits = model.forward(&mut s, &[1, 5, 9], rollama_engine::model::Logits::Last).unwrap();
            std::fs::remove_file(&path).ok();
            assert_eq!(logits.len(), 300);
            assert!(logits.iter().all(|v| v.is_finite()));
        }
    }
}
