//! Q8_K: 256 signed bytes with an f32 scale and the sums of each 16 of them. The activation
//! format ggml pairs with the k-quants and IQ4_XS; the sums let those kernels apply per-group
//! offsets without touching every element. It only ever lives in buffers this crate allocates,
//! so its fields keep their natural types (alignment 4).

use bytemuck::{Pod, Zeroable};

use super::{nearest_int, signed_max};
use crate::types::QK_K;

/// ggml's `block_q8_K`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    /// Sum of each run of 16 `qs`.
    pub bsums: [i16; QK_K / 16],
}
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

/// `quantize_row_q8_K_ref`, which ggml's x86 build also uses: the signed extreme maps to -127
/// (`iscale = -127 / max`), values round half to even and clamp at 127, and `d = 1 / iscale`.
pub fn quantize(x: &[f32], y: &mut [BlockQ8K]) {
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let (amax, max) = signed_max(x);
        if amax == 0.0 {
            *b = BlockQ8K::zeroed();
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        fill_bsums(b);
        b.d = 1.0 / iscale;
    }
}

/// [`quantize`] with the fastest kernel the CPU has (AVX2 or NEON); bit-identical to it.
pub fn quantize_fast(x: &[f32], y: &mut [BlockQ8K]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::level() >= crate::cpu::Level::Avx2 {
        // SAFETY: the level says the CPU has AVX2, FMA and F16C.
        return unsafe { crate::x86_64::avx2_k::quantize_q8_k(x, y) };
    }
    #[cfg(target_arch = "aarch64")]
    if matches!(crate::cpu::level(), crate::cpu::Level::Neon | crate::cpu::Level::NeonDot) {
        // SAFETY: the level says the CPU has NEON.
        return unsafe { crate::aarch64::neon_k::quantize_q8_k(x, y) };
    }
    quantize(x, y)
}

/// Recomputes `bsums` from `qs`.
#[inline(always)]
pub(crate) fn fill_bsums(b: &mut BlockQ8K) {
    for (s, q) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
        *s = q.iter().map(|&v| v as i16).sum();
    }
}

/// Turns a row back into f32 (`dequantize_row_q8_K`); used by tests.
pub fn dequantize(x: &[BlockQ8K], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        for (y, &q) in y.iter_mut().zip(&b.qs) {
            *y = b.d * q as f32;
        }
    }
}
