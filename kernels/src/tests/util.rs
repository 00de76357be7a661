//! Deterministic random data for the tests: activations and well-formed random weight rows.

use std::mem::offset_of;

use crate::quant::*;
use crate::GgmlType;

/// SplitMix64: tiny, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal with unit variance (sum of four uniforms).
    pub fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.f32()).sum();
        (s - 2.0) * 1.732
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Activation-like data: mostly normal, with an occasional large outlier as real hidden states
/// have, so that block maxima vary.
pub fn activations(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let v = rng.normal();
            if rng.f32() < 0.01 {
                v * 20.0
            } else {
                v
            }
        })
        .collect()
}

/// Offsets of the f16 scale fields inside a block of `ty` (and the block size).
fn scale_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 => &[offset_of!(BlockQ4_0, d)],
        Q4_1 => &[offset_of!(BlockQ4_1, d), offset_of!(BlockQ4_1, m)],
        Q5_0 => &[offset_of!(BlockQ5_0, d)],
        Q5_1 => &[offset_of!(BlockQ5_1, d), offset_of!(BlockQ5_1, m)],
        Q8_0 => &[offset_of!(BlockQ8_0, d)],
        IQ4_NL => &[offset_of!(BlockIq4Nl, d)],
        Q2_K => &[offset_of!(BlockQ2K, d), offset_of!(BlockQ2K, dmin)],
        Q3_K => &[offset_of!(BlockQ3K, d)],
        Q4_K => &[offset_of!(BlockQ4K, d), offset_of!(BlockQ4K, dmin)],
        Q5_K => &[offset_of!(BlockQ5K, d), offset_of!(BlockQ5K, dmin)],
        Q6_K => &[offset_of!(BlockQ6K, d)],
        IQ4_XS => &[offset_of!(BlockIq4Xs, d)],
        _ => &[],
    }
}

/// A random, well-formed row of `n` weights of type `ty`: random bits everywhere except the
/// float fields, which get modest finite values (random bits there would be NaN or huge).
pub fn weights(rng: &mut Rng, ty: GgmlType, n: usize) -> Vec<u8> {
    let bytes = ty.row_bytes(n).expect("whole blocks");
    let mut row = rng.bytes(bytes);
    match ty {
        GgmlType::F32 => {
            for c in row.chunks_exact_mut(4) {
                c.copy_from_slice(&(rng.normal() * 0.1).to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for c in row.chunks_exact_mut(2) {
                c.copy_from_slice(&crate::f32_to_f16(rng.normal() * 0.1).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for c in row.chunks_exact_mut(2) {
                c.copy_from_slice(&crate::f32_to_bf16(rng.normal() * 0.1).to_le_bytes());
            }
        }
        _ => {
            for block in row.chunks_exact_mut(ty.block_bytes()) {
                for &off in scale_fields(ty) {
                    let sign = if rng.f32() < 0.5 { -1.0 } else { 1.0 };
                    let v = sign * (0.001 + 0.02 * rng.f32());
                    block[off..off + 2].copy_from_slice(&crate::f32_to_f16(v).to_le_bytes());
                }
            }
        }
    }
    row
}

/// Every weight type with kernels.
pub fn kernel_types() -> Vec<GgmlType> {
    GgmlType::ALL.into_iter().filter(|t| t.has_kernels()).collect()
}

/// Row lengths to test for `ty`: whole blocks, but chosen not to be multiples of the SIMD
/// widths (8 floats, 32 bytes, 4 unrolled vectors) where the block length allows.
pub fn lengths(ty: GgmlType) -> Vec<usize> {
    match ty.block_len() {
        1 => vec![1, 7, 8, 31, 33, 100, 257, 1000, 1537],
        32 => vec![32, 96, 160, 416, 1504, 2080],
        _ => vec![256, 768, 1280, 2816],
    }
}
