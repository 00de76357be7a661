//! x86-64 kernels and the code that installs them into the dispatch tables.
//!
//! `avx2` holds the AVX2+FMA+F16C versions of the activation quantizers and of the dot products
//! of the common weight types; `avx2_k` those of the k-quants; `avx2_more` those of Q2_K, Q3_K and
//! IQ4_XS; `avxvnni` AVX-VNNI (VEX) versions of the 32-element formats' dot products,
//! bit-identical to the AVX2 ones (and an EVEX twin of the same source, which tests run);
//! `avx512` and `avx512_k` AVX-512 VNNI versions of the hot dot products, bit-identical to the
//! AVX2 ones; `gemm512` register-tiled AVX-512 products of several weight rows with four
//! activation rows, bit-identical to the dot products; `gemm512_k` the same for Q4_K in
//! llama.cpp's repacked-gemm order; `activation` the SiLU-gated activation.
//! Each entry point is a `#[target_feature] unsafe fn`; the adapters below give them the
//! table's byte-slice signature.

pub(crate) mod activation;
pub(crate) mod attention;
/// Several-row AVX-512 attention steps (see `crate::attention::flash_attn_rows`).
pub(crate) mod attention512;
pub mod avx2;
pub mod avx2_k;
pub mod avx2_more;
pub mod avx512;
pub mod avx512_k;
pub mod avxvnni;
pub mod gemm512;
pub mod gemm512_k;

use crate::cpu::Level;
use crate::dispatch::Table;
use crate::quant::{
    BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1,
    BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1,
};
use crate::GgmlType;

/// Byte-slice adapters around typed `unsafe` SIMD kernels.
macro_rules! simd_dot {
    ($name:ident, $f:path, $w:ty, $a:ty) => {
        /// # Safety
        /// The CPU must support the target features of the wrapped kernel.
        unsafe fn $name(w: &[u8], a: &[u8]) -> f32 {
            let (w, a) = (bytemuck::cast_slice::<u8, $w>(w), bytemuck::cast_slice::<u8, $a>(a));
            // SAFETY: the caller guarantees the CPU features (see `dispatch`).
            unsafe { $f(w, a) }
        }
    };
}
macro_rules! simd_quantize {
    ($name:ident, $f:path, $a:ty) => {
        /// # Safety
        /// The CPU must support the target features of the wrapped kernel.
        unsafe fn $name(x: &[f32], out: &mut [u8]) {
            let out = bytemuck::cast_slice_mut::<u8, $a>(out);
            // SAFETY: the caller guarantees the CPU features (see `dispatch`).
            unsafe { $f(x, out) }
        }
    };
}

simd_quantize!(quantize_q8_0, avx2::quantize_q8_0, BlockQ8_0);
simd_quantize!(quantize_q8_1, avx2::quantize_q8_1, BlockQ8_1);
simd_quantize!(quantize_q8_k, avx2_k::quantize_q8_k, BlockQ8K);
simd_dot!(dot_q4_0, avx2::vec_dot_q4_0, BlockQ4_0, BlockQ8_0);
simd_dot!(dot_q4_1, avx2::vec_dot_q4_1, BlockQ4_1, BlockQ8_1);
simd_dot!(dot_q5_0, avx2::vec_dot_q5_0, BlockQ5_0, BlockQ8_0);
simd_dot!(dot_q5_1, avx2::vec_dot_q5_1, BlockQ5_1, BlockQ8_1);
simd_dot!(dot_q8_0, avx2::vec_dot_q8_0, BlockQ8_0, BlockQ8_0);
simd_dot!(dot_iq4_nl, avx2::vec_dot_iq4_nl, BlockIq4Nl, BlockQ8_0);
simd_dot!(dot_q4_k, avx2_k::vec_dot_q4_k, BlockQ4K, BlockQ8K);
simd_dot!(dot_q5_k, avx2_k::vec_dot_q5_k, BlockQ5K, BlockQ8K);
simd_dot!(dot_q6_k, avx2_k::vec_dot_q6_k, BlockQ6K, BlockQ8K);
simd_dot!(dot_q2_k, avx2_more::vec_dot_q2_k, BlockQ2K, BlockQ8K);
simd_dot!(dot_q3_k, avx2_more::vec_dot_q3_k, BlockQ3K, BlockQ8K);
simd_dot!(dot_iq4_xs, avx2_more::vec_dot_iq4_xs, BlockIq4Xs, BlockQ8K);

/// Byte-slice adapters around typed four-row SIMD kernels.
macro_rules! simd_dot4 {
    ($name:ident, $f:path, $w:ty, $a:ty) => {
        /// # Safety
        /// The CPU must support the target features of the wrapped kernel.
        unsafe fn $name(w: &[u8], a: [&[u8]; 4]) -> [f32; 4] {
            let w = bytemuck::cast_slice::<u8, $w>(w);
            let a = a.map(bytemuck::cast_slice::<u8, $a>);
            // SAFETY: the caller guarantees the CPU features (see `dispatch`).
            unsafe { $f(w, a) }
        }
    };
}

simd_dot4!(dot4_q4_0, avx2::vec_dot_q4_0_x4, BlockQ4_0, BlockQ8_0);
simd_dot4!(dot4_q4_1, avx2::vec_dot_q4_1_x4, BlockQ4_1, BlockQ8_1);
simd_dot4!(dot4_q4_k, avx2_k::vec_dot_q4_k_x4, BlockQ4K, BlockQ8K);
simd_dot4!(dot4_q6_k, avx2_k::vec_dot_q6_k_x4, BlockQ6K, BlockQ8K);

/// Installs the kernels `level` allows.
pub(crate) fn upgrade(t: &mut Table, level: Level) {
    if level < Level::Avx2 {
        return;
    }
    use GgmlType::*;
    t.set_quantize(Q8_0, quantize_q8_0);
    t.set_quantize(Q8_1, quantize_q8_1);
    t.set_quantize(Q8_K, quantize_q8_k);
    t.set_dot(Q4_0, dot_q4_0);
    t.set_dot(Q4_1, dot_q4_1);
    t.set_dot(Q5_0, dot_q5_0);
    t.set_dot(Q5_1, dot_q5_1);
    t.set_dot(Q8_0, dot_q8_0);
    t.set_dot(IQ4_NL, dot_iq4_nl);
    t.set_dot(Q4_K, dot_q4_k);
    t.set_dot(Q5_K, dot_q5_k);
    t.set_dot(Q6_K, dot_q6_k);
    t.set_dot(Q2_K, dot_q2_k);
    t.set_dot(Q3_K, dot_q3_k);
    t.set_dot(IQ4_XS, dot_iq4_xs);
    t.set_dot4(Q4_0, dot4_q4_0);
    t.set_dot4(Q4_1, dot4_q4_1);
    t.set_dot4(Q4_K, dot4_q4_k);
    t.set_dot4(Q6_K, dot4_q6_k);
    t.set_quantize(F16, avx2::quantize_f16);
    t.set_dot(F16, avx2::vec_dot_f16);
    t.set_dot(F32, avx2::vec_dot_f32);
    t.set_dot(BF16, avx2::vec_dot_bf16);
    t.dot_f32 = avx2::dot_f32;
    t.axpy = avx2::axpy;
    // The ladder is not nested: an AVX-512 CPU need not have the VEX AVX-VNNI (Zen 4 lacks it),
    // so the levels above keep AVX2's kernels where they have none of their own.
    if level == Level::AvxVnni {
        upgrade_avxvnni(t);
    }
    if level >= Level::Avx512 {
        upgrade_avx512(t);
    }
}

simd_dot!(dot_q4_0_vnni, avxvnni::vex::vec_dot_q4_0, BlockQ4_0, BlockQ8_0);
simd_dot!(dot_q4_1_vnni, avxvnni::vex::vec_dot_q4_1, BlockQ4_1, BlockQ8_1);
simd_dot!(dot_q5_0_vnni, avxvnni::vex::vec_dot_q5_0, BlockQ5_0, BlockQ8_0);
simd_dot!(dot_q5_1_vnni, avxvnni::vex::vec_dot_q5_1, BlockQ5_1, BlockQ8_1);
simd_dot!(dot_q8_0_vnni, avxvnni::vex::vec_dot_q8_0, BlockQ8_0, BlockQ8_0);
simd_dot!(dot_iq4_nl_vnni, avxvnni::vex::vec_dot_iq4_nl, BlockIq4Nl, BlockQ8_0);
simd_dot4!(dot4_q4_0_vnni, avxvnni::vex::vec_dot_q4_0_x4, BlockQ4_0, BlockQ8_0);
simd_dot4!(dot4_q4_1_vnni, avxvnni::vex::vec_dot_q4_1_x4, BlockQ4_1, BlockQ8_1);
simd_dot4!(dot4_q5_0_vnni, avxvnni::vex::vec_dot_q5_0_x4, BlockQ5_0, BlockQ8_0);
simd_dot4!(dot4_q5_1_vnni, avxvnni::vex::vec_dot_q5_1_x4, BlockQ5_1, BlockQ8_1);
simd_dot4!(dot4_q8_0_vnni, avxvnni::vex::vec_dot_q8_0_x4, BlockQ8_0, BlockQ8_0);
simd_dot4!(dot4_iq4_nl_vnni, avxvnni::vex::vec_dot_iq4_nl_x4, BlockIq4Nl, BlockQ8_0);

/// Installs the AVX-VNNI kernels over the AVX2 ones (only for `Level::AvxVnni`, which
/// `cpu::supports` grants only with AVX2, FMA, F16C and AVX-VNNI). Each gives the AVX2 kernel's
/// result bit for bit (see `avxvnni`), so this level changes speed only, never output.
fn upgrade_avxvnni(t: &mut Table) {
    use GgmlType::*;
    t.set_dot(Q4_0, dot_q4_0_vnni);
    t.set_dot(Q4_1, dot_q4_1_vnni);
    t.set_dot(Q5_0, dot_q5_0_vnni);
    t.set_dot(Q5_1, dot_q5_1_vnni);
    t.set_dot(Q8_0, dot_q8_0_vnni);
    t.set_dot(IQ4_NL, dot_iq4_nl_vnni);
    t.set_dot4(Q4_0, dot4_q4_0_vnni);
    t.set_dot4(Q4_1, dot4_q4_1_vnni);
    t.set_dot4(Q5_0, dot4_q5_0_vnni);
    t.set_dot4(Q5_1, dot4_q5_1_vnni);
    t.set_dot4(Q8_0, dot4_q8_0_vnni);
    t.set_dot4(IQ4_NL, dot4_iq4_nl_vnni);
}

simd_dot!(dot_q4_0_512, avx512::vec_dot_q4_0, BlockQ4_0, BlockQ8_0);
simd_dot!(dot_q4_1_512, avx512::vec_dot_q4_1, BlockQ4_1, BlockQ8_1);
simd_dot!(dot_q5_0_512, avx512::vec_dot_q5_0, BlockQ5_0, BlockQ8_0);
simd_dot!(dot_q8_0_512, avx512::vec_dot_q8_0, BlockQ8_0, BlockQ8_0);
simd_dot!(dot_q4_k_512, avx512_k::vec_dot_q4_k, BlockQ4K, BlockQ8K);
simd_dot!(dot_q6_k_512, avx512_k::vec_dot_q6_k, BlockQ6K, BlockQ8K);
simd_dot4!(dot4_q4_0_512, avx512::vec_dot_q4_0_x4, BlockQ4_0, BlockQ8_0);
simd_dot4!(dot4_q4_1_512, avx512::vec_dot_q4_1_x4, BlockQ4_1, BlockQ8_1);
simd_dot4!(dot4_q5_0_512, avx512::vec_dot_q5_0_x4, BlockQ5_0, BlockQ8_0);
simd_dot4!(dot4_q8_0_512, avx512::vec_dot_q8_0_x4, BlockQ8_0, BlockQ8_0);
simd_dot4!(dot4_q4_k_512, avx512_k::vec_dot_q4_k_x4, BlockQ4K, BlockQ8K);
simd_dot4!(dot4_q6_k_512, avx512_k::vec_dot_q6_k_x4, BlockQ6K, BlockQ8K);

/// Byte-slice adapters around typed four-weight-row SIMD kernels.
macro_rules! simd_rows4 {
    ($name:ident, $f:path, $w:ty, $a:ty) => {
        /// # Safety
        /// The CPU must support the target features of the wrapped kernel.
        unsafe fn $name(w: [&[u8]; 4], a: &[u8]) -> [f32; 4] {
            let w = w.map(bytemuck::cast_slice::<u8, $w>);
            let a = bytemuck::cast_slice::<u8, $a>(a);
            // SAFETY: the caller guarantees the CPU features (see `dispatch`).
            unsafe { $f(w, a) }
        }
    };
}

simd_rows4!(rows4_q4_0_512, avx512::vec_dot_q4_0_rows4, BlockQ4_0, BlockQ8_0);
simd_rows4!(rows4_q4_1_512, avx512::vec_dot_q4_1_rows4, BlockQ4_1, BlockQ8_1);
simd_rows4!(rows4_q5_0_512, avx512::vec_dot_q5_0_rows4, BlockQ5_0, BlockQ8_0);
simd_rows4!(rows4_q8_0_512, avx512::vec_dot_q8_0_rows4, BlockQ8_0, BlockQ8_0);

/// Installs the AVX-512 kernels over the AVX2 ones. Each gives the AVX2 kernel's result bit for
/// bit (see `avx512`), so this level changes speed only, never output.
fn upgrade_avx512(t: &mut Table) {
    use GgmlType::*;
    t.set_dot(Q4_0, dot_q4_0_512);
    t.set_dot(Q4_1, dot_q4_1_512);
    t.set_dot(Q5_0, dot_q5_0_512);
    t.set_dot(Q8_0, dot_q8_0_512);
    t.set_dot(Q4_K, dot_q4_k_512);
    t.set_dot(Q6_K, dot_q6_k_512);
    t.set_dot4(Q4_0, dot4_q4_0_512);
    t.set_dot4(Q4_1, dot4_q4_1_512);
    t.set_dot4(Q5_0, dot4_q5_0_512);
    t.set_dot4(Q8_0, dot4_q8_0_512);
    t.set_dot4(Q4_K, dot4_q4_k_512);
    t.set_dot4(Q6_K, dot4_q6_k_512);
    t.set_rows4(Q4_0, rows4_q4_0_512);
    t.set_rows4(Q4_1, rows4_q4_1_512);
    t.set_rows4(Q5_0, rows4_q5_0_512);
    t.set_rows4(Q8_0, rows4_q8_0_512);
    t.set_gemm(Q4_0, gemm512::gemm_q4_0);
    t.set_gemm(Q4_1, gemm512::gemm_q4_1);
    t.set_gemm(Q5_0, gemm512::gemm_q5_0);
    t.set_gemm(Q8_0, gemm512::gemm_q8_0);
}
