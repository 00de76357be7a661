//! Quantized weight formats, scalar and SIMD dot products, matmul and the CPU thread pool.
//!
//! The numerics follow ggml's CPU backend: each weight type is paired with an activation format
//! (`Q4_1` with `Q8_1`, the k-quants with `Q8_K`, ...), activations are quantized once per matmul
//! the way ggml's x86 build does it, and dot products are exact integer sums scaled per block.
//!
//! - [`types`]: [`GgmlType`] and block geometry for every type a GGUF file may contain.
//! - [`quant`]: one module per block format: the `#[repr(C)]` block, its dequantizer, and the
//!   scalar reference dot product.
//! - `x86_64`: AVX2 versions of the hot kernels, installed at run time by `dispatch` for the level
//!   [`cpu::level`] reports.
//! - `aarch64`: NEON and NEON+dotprod (`sdot`) versions of the same, likewise installed; on arm64
//!   they are bit-identical to the scalar kernels.
//! - [`matmul()`] and [`ThreadPool`]: the multi-threaded matrix-times-activations op.
//!
//! This crate knows nothing of GGUF files, models or HTTP.

#[cfg(target_arch = "aarch64")]
mod aarch64;
pub mod activation;
pub mod attention;
pub mod cpu;
mod dispatch;
mod error;
mod matmul;
mod pool;
pub mod quant;
pub mod rope;
pub mod types;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(test)]
mod tests;

pub use error::KernelError;
pub use matmul::{matmul, matmul_many, WeightView};
pub use pool::{default_threads, with_thread_limit, ThreadPool};
pub use quant::float::{bf16_to_f32, f32_to_bf16};
pub use types::{GgmlType, QK_K};

/// Converts one row from its storage format to f32, exactly as ggml's `dequantize_row_*` does.
/// `src` must be exactly `ty.row_bytes(dst.len())` bytes.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), KernelError> {
    use quant::*;
    use GgmlType::*;
    let need = matmul::row_bytes(ty, dst.len())?;
    if src.len() != need {
        return Err(KernelError::ShapeMismatch { what: "dequantize_row source bytes", expected: need, got: src.len() });
    }
    match ty {
        F32 => quant::float::dequantize_f32(src, dst),
        F16 => quant::float::dequantize_f16(src, dst),
        BF16 => quant::float::dequantize_bf16(src, dst),
        Q4_0 => q4_0::dequantize(bytemuck::cast_slice(src), dst),
        Q4_1 => q4_1::dequantize(bytemuck::cast_slice(src), dst),
        Q5_0 => q5_0::dequantize(bytemuck::cast_slice(src), dst),
        Q5_1 => q5_1::dequantize(bytemuck::cast_slice(src), dst),
        Q8_0 => q8_0::dequantize(bytemuck::cast_slice(src), dst),
        Q2_K => q2_k::dequantize(bytemuck::cast_slice(src), dst),
        Q3_K => q3_k::dequantize(bytemuck::cast_slice(src), dst),
        Q4_K => q4_k::dequantize(bytemuck::cast_slice(src), dst),
        Q5_K => q5_k::dequantize(bytemuck::cast_slice(src), dst),
        Q6_K => q6_k::dequantize(bytemuck::cast_slice(src), dst),
        IQ4_NL => iq4_nl::dequantize(bytemuck::cast_slice(src), dst),
        IQ4_XS => iq4_xs::dequantize(bytemuck::cast_slice(src), dst),
        _ => return Err(KernelError::Unsupported { ty, op: "dequantize" }),
    }
    Ok(())
}

/// Converts an f32 row to `ty` (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K..Q6_K)
/// with ggml's reference quantizers (for the k-quants, what `llama-quantize` does without an
/// importance matrix); `dst` must be exactly `ty.row_bytes(src.len())` bytes. For writing test
/// models, caches and `--quantize`d model copies.
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), KernelError> {
    use quant::*;
    use GgmlType::*;
    let need = matmul::row_bytes(ty, src.len())?;
    if dst.len() != need {
        return Err(KernelError::ShapeMismatch {
            what: "quantize_row destination bytes",
            expected: need,
            got: dst.len(),
        });
    }
    match ty {
        F32 => quant::float::quantize_f32(src, dst),
        F16 => quant::float::quantize_f16(src, dst),
        BF16 => quant::float::quantize_bf16(src, dst),
        Q4_0 => q4_0::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q4_1 => q4_1::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q5_0 => q5_0::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q5_1 => q5_1::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q8_0 => q8_0::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q8_1 => q8_1::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q2_K => q2_k::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q3_K => q3_k::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q4_K => q4_k::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q5_K => q5_k::quantize(src, bytemuck::cast_slice_mut(dst)),
        Q6_K => q6_k::quantize(src, bytemuck::cast_slice_mut(dst)),
        _ => return Err(KernelError::Unsupported { ty, op: "quantize" }),
    }
    Ok(())
}

/// IEEE half bits to f32 (exact).
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// f32 to IEEE half bits, rounding to nearest even.
#[inline]
pub fn f32_to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

/// Dot product of two f32 slices over the shorter length (SIMD where the CPU has it).
pub fn vec_dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: the table was built for the level the CPU reported.
    unsafe { (dispatch::current().dot_f32)(a, b) }
}

/// `y[i] += a * x[i]` over the shorter length (SIMD where the CPU has it).
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    // SAFETY: the table was built for the level the CPU reported.
    unsafe { (dispatch::current().axpy)(a, x, y) }
}
