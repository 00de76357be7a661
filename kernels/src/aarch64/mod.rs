//! arm64 kernels and the code that installs them into the dispatch tables.
//!
//! `neon` holds the NEON versions of the activation quantizers, of the dot products of the
//! 32-element formats and of the float kernels; `neon_k` those of the k-quants; `attention` the
//! f16 steps of flash attention. Each integer dot product comes twice: plain NEON for
//! `Level::Neon` and with the dot-product extension (`sdot`) for `Level::NeonDot`. Each entry
//! point is a `#[target_feature] unsafe fn`; the adapters below give them the table's byte-slice
//! signature.

pub(crate) mod attention;
pub mod neon;
pub mod neon_k;

use crate::cpu::Level;
use crate::dispatch::Table;
use crate::quant::{
    BlockIq4Nl, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K, BlockQ8_0,
    BlockQ8_1,
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

simd_quantize!(quantize_q8_0, neon::quantize_q8_0, BlockQ8_0);
simd_quantize!(quantize_q8_1, neon::quantize_q8_1, BlockQ8_1);
simd_quantize!(quantize_q8_k, neon_k::quantize_q8_k, BlockQ8K);

simd_dot!(dot_q4_0, neon::vec_dot_q4_0, BlockQ4_0, BlockQ8_0);
simd_dot!(dot_q4_1, neon::vec_dot_q4_1, BlockQ4_1, BlockQ8_1);
simd_dot!(dot_q5_0, neon::vec_dot_q5_0, BlockQ5_0, BlockQ8_0);
simd_dot!(dot_q5_1, neon::vec_dot_q5_1, BlockQ5_1, BlockQ8_1);
simd_dot!(dot_q8_0, neon::vec_dot_q8_0, BlockQ8_0, BlockQ8_0);
simd_dot!(dot_iq4_nl, neon::vec_dot_iq4_nl, BlockIq4Nl, BlockQ8_0);
simd_dot!(dot_q4_k, neon_k::vec_dot_q4_k, BlockQ4K, BlockQ8K);
simd_dot!(dot_q5_k, neon_k::vec_dot_q5_k, BlockQ5K, BlockQ8K);
simd_dot!(dot_q6_k, neon_k::vec_dot_q6_k, BlockQ6K, BlockQ8K);

simd_dot!(sdot_q4_0, neon::vec_dot_q4_0_sdot, BlockQ4_0, BlockQ8_0);
simd_dot!(sdot_q4_1, neon::vec_dot_q4_1_sdot, BlockQ4_1, BlockQ8_1);
simd_dot!(sdot_q5_0, neon::vec_dot_q5_0_sdot, BlockQ5_0, BlockQ8_0);
simd_dot!(sdot_q5_1, neon::vec_dot_q5_1_sdot, BlockQ5_1, BlockQ8_1);
simd_dot!(sdot_q8_0, neon::vec_dot_q8_0_sdot, BlockQ8_0, BlockQ8_0);
simd_dot!(sdot_iq4_nl, neon::vec_dot_iq4_nl_sdot, BlockIq4Nl, BlockQ8_0);
simd_dot!(sdot_q4_k, neon_k::vec_dot_q4_k_sdot, BlockQ4K, BlockQ8K);
simd_dot!(sdot_q5_k, neon_k::vec_dot_q5_k_sdot, BlockQ5K, BlockQ8K);
simd_dot!(sdot_q6_k, neon_k::vec_dot_q6_k_sdot, BlockQ6K, BlockQ8K);

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

simd_dot4!(dot4_q4_0, neon::vec_dot_q4_0_x4, BlockQ4_0, BlockQ8_0);
simd_dot4!(dot4_q8_0, neon::vec_dot_q8_0_x4, BlockQ8_0, BlockQ8_0);
simd_dot4!(dot4_q4_k, neon_k::vec_dot_q4_k_x4, BlockQ4K, BlockQ8K);
simd_dot4!(dot4_q6_k, neon_k::vec_dot_q6_k_x4, BlockQ6K, BlockQ8K);
simd_dot4!(sdot4_q4_0, neon::vec_dot_q4_0_x4_sdot, BlockQ4_0, BlockQ8_0);
simd_dot4!(sdot4_q8_0, neon::vec_dot_q8_0_x4_sdot, BlockQ8_0, BlockQ8_0);
simd_dot4!(sdot4_q4_k, neon_k::vec_dot_q4_k_x4_sdot, BlockQ4K, BlockQ8K);
simd_dot4!(sdot4_q6_k, neon_k::vec_dot_q6_k_x4_sdot, BlockQ6K, BlockQ8K);

/// Installs the kernels `level` allows: the NEON set from `Level::Neon` up, and from
/// `Level::NeonDot` the `sdot` versions of the integer dot products over it.
pub(crate) fn upgrade(t: &mut Table, level: Level) {
    if level < Level::Neon {
        return;
    }
    use GgmlType::*;
    t.set_quantize(Q8_0, quantize_q8_0);
    t.set_quantize(Q8_1, quantize_q8_1);
    t.set_quantize(Q8_K, quantize_q8_k);
    t.set_quantize(F16, neon::quantize_f16);
    t.set_dot(F16, neon::vec_dot_f16);
    t.set_dot(F32, neon::vec_dot_f32);
    t.set_dot(BF16, neon::vec_dot_bf16);
    t.dot_f32 = neon::dot_f32;
    t.axpy = neon::axpy;
    if level < Level::NeonDot {
        t.set_dot(Q4_0, dot_q4_0);
        t.set_dot(Q4_1, dot_q4_1);
        t.set_dot(Q5_0, dot_q5_0);
        t.set_dot(Q5_1, dot_q5_1);
        t.set_dot(Q8_0, dot_q8_0);
        t.set_dot(IQ4_NL, dot_iq4_nl);
        t.set_dot(Q4_K, dot_q4_k);
        t.set_dot(Q5_K, dot_q5_k);
        t.set_dot(Q6_K, dot_q6_k);
        t.set_dot4(Q4_0, dot4_q4_0);
        t.set_dot4(Q8_0, dot4_q8_0);
        t.set_dot4(Q4_K, dot4_q4_k);
        t.set_dot4(Q6_K, dot4_q6_k);
    } else {
        t.set_dot(Q4_0, sdot_q4_0);
        t.set_dot(Q4_1, sdot_q4_1);
        t.set_dot(Q5_0, sdot_q5_0);
        t.set_dot(Q5_1, sdot_q5_1);
        t.set_dot(Q8_0, sdot_q8_0);
        t.set_dot(IQ4_NL, sdot_iq4_nl);
        t.set_dot(Q4_K, sdot_q4_k);
        t.set_dot(Q5_K, sdot_q5_k);
        t.set_dot(Q6_K, sdot_q6_k);
        t.set_dot4(Q4_0, sdot4_q4_0);
        t.set_dot4(Q8_0, sdot4_q8_0);
        t.set_dot4(Q4_K, sdot4_q4_k);
        t.set_dot4(Q6_K, sdot4_q6_k);
    }
}

#[cfg(test)]
mod tests {
    //! On arm64 the NEON kernels promise more than the shared harness checks: every dot product
    //! is bit-identical to its scalar twin (the harness allows summation-order noise).

    use std::mem::offset_of;

    use crate::cpu::{self, Level};
    use crate::dispatch::table;
    use crate::quant::*;
    use crate::GgmlType::{self, *};

    /// SplitMix64.
    fn next(s: &mut u64) -> u64 {
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(s: &mut u64) -> f32 {
        (next(s) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// A random row of `ty`: random bits, with finite modest values in the float fields.
    fn row(s: &mut u64, ty: GgmlType, n: usize) -> Vec<u8> {
        let mut r: Vec<u8> = (0..ty.row_bytes(n).unwrap()).map(|_| next(s) as u8).collect();
        let fields: &[usize] = match ty {
            Q4_0 => &[offset_of!(BlockQ4_0, d)],
            Q4_1 => &[offset_of!(BlockQ4_1, d), offset_of!(BlockQ4_1, m)],
            Q5_0 => &[offset_of!(BlockQ5_0, d)],
            Q5_1 => &[offset_of!(BlockQ5_1, d), offset_of!(BlockQ5_1, m)],
            Q8_0 => &[offset_of!(BlockQ8_0, d)],
            IQ4_NL => &[offset_of!(BlockIq4Nl, d)],
            Q4_K => &[offset_of!(BlockQ4K, d), offset_of!(BlockQ4K, dmin)],
            Q5_K => &[offset_of!(BlockQ5K, d), offset_of!(BlockQ5K, dmin)],
            Q6_K => &[offset_of!(BlockQ6K, d)],
            F32 | F16 | BF16 => {
                let x: Vec<f32> = (0..n).map(|_| uniform(s)).collect();
                crate::quantize_row(ty, &x, &mut r).unwrap();
                return r;
            }
            _ => unreachable!(),
        };
        for block in r.chunks_exact_mut(ty.block_bytes()) {
            for &off in fields {
                block[off..off + 2].copy_from_slice(&crate::f32_to_f16(0.02 * uniform(s)).to_le_bytes());
            }
        }
        r
    }

    #[test]
    fn dots_are_bit_identical_to_scalar() {
        let scalar = table(Level::Scalar);
        let mut s = 7u64;
        let levels: Vec<Level> = cpu::supported_levels().into_iter().filter(|&l| l > Level::Scalar).collect();
        for ty in [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q4_K, Q5_K, Q6_K, F32, F16, BF16] {
            let k = scalar.get(ty).unwrap();
            for n in [256, 768, 2816] {
                let w = row(&mut s, ty, n);
                let x: Vec<f32> = (0..n).map(|_| 3.0 * uniform(&mut s)).collect();
                let mut a = vec![0u64; k.act.row_bytes(n).unwrap().div_ceil(8)];
                let a = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut a)[..k.act.row_bytes(n).unwrap()];
                // SAFETY: the tables are for levels this CPU supports.
                unsafe { (k.quantize)(&x, a) };
                let want = unsafe { (k.dot)(&w, a) };
                for &level in &levels {
                    // SAFETY: as above.
                    let got = unsafe { (table(level).get(ty).unwrap().dot)(&w, a) };
                    assert_eq!(got.to_bits(), want.to_bits(), "{ty} n = {n}, level {}: {got} vs {want}", level.name());
                    if let Some(dot4) = table(level).get(ty).unwrap().dot4 {
                        // Row 2 is ours; the others are other rows' activations.
                        let mut b = vec![0u64; a.len().div_ceil(8)];
                        let b = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut b)[..a.len()];
                        let y: Vec<f32> = x.iter().map(|v| -0.5 * v).collect();
                        // SAFETY: as above.
                        let (got4, other) = unsafe {
                            (k.quantize)(&y, b);
                            (dot4(&w, [b, b, a, b]), (k.dot)(&w, b))
                        };
                        assert_eq!(got4[2].to_bits(), want.to_bits(), "{ty} dot4 n = {n}, level {}", level.name());
                        assert_eq!(got4[0].to_bits(), other.to_bits(), "{ty} dot4 n = {n}, level {}", level.name());
                    }
                }
            }
        }
    }
}
