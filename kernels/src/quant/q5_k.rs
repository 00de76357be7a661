//! Q5_K: Q4_K with a 5th bit per weight in `qh`: for chunk c of 64 elements, bit 2c of `qh[l]`
//! belongs to element 64c + l and bit 2c+1 to element 64c + 32 + l.

use bytemuck::{Pod, Zeroable};

use super::f16;
use super::q4_k::{quantize_scales_k, scale_min, scales_mins};
use super::q8_k::BlockQ8K;
use crate::types::QK_K;

/// ggml's `block_q5_K`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5K {
    /// Super-block scale for the group scales (f16 bits).
    pub d: [u8; 2],
    /// Super-block scale for the group mins (f16 bits).
    pub dmin: [u8; 2],
    /// Packed as in Q4_K.
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);

/// The 5-bit values of chunk `c` (64 elements).
#[inline(always)]
fn chunk(b: &BlockQ5K, c: usize) -> [u8; 64] {
    let q = &b.qs[32 * c..32 * c + 32];
    let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
    let mut v = [0u8; 64];
    for l in 0..32 {
        v[l] = (q[l] & 0x0F) + if b.qh[l] & u1 != 0 { 16 } else { 0 };
        v[l + 32] = (q[l] >> 4) + if b.qh[l] & u2 != 0 { 16 } else { 0 };
    }
    v
}

/// `dequantize_row_q5_K`.
pub fn dequantize(x: &[BlockQ5K], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (f16(b.d), f16(b.dmin));
        for c in 0..4 {
            let (sc1, m1) = scale_min(2 * c, &b.scales);
            let (sc2, m2) = scale_min(2 * c + 1, &b.scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let v = chunk(b, c);
            let y = &mut y[64 * c..64 * c + 64];
            for l in 0..32 {
                y[l] = d1 * v[l] as f32 - m1;
                y[l + 32] = d2 * v[l + 32] as f32 - m2;
            }
        }
    }
}

/// `quantize_row_q5_K_ref`: Q4_K's fit with 5-bit levels; the 5th bit of the pair of elements
/// 64c + l and 64c + 32 + l goes to bits 2c and 2c + 1 of `qh[l]`.
pub fn quantize(x: &[f32], y: &mut [BlockQ5K]) {
    let mut l = [0u8; QK_K];
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        (b.scales, b.d, b.dmin) = quantize_scales_k(x, 31, -0.5, 15, &mut l);
        b.qh = [0; QK_K / 8];
        for c in 0..4 {
            for j in 0..32 {
                let (l1, l2) = (l[64 * c + j], l[64 * c + 32 + j]);
                b.qh[j] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
                b.qs[32 * c + j] = (l1 & 0x0F) | ((l2 & 0x0F) << 4);
            }
        }
    }
}

/// `ggml_vec_dot_q5_K_q8_K`.
pub fn vec_dot(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let (sc, mn) = scales_mins(&a.scales);
        let mut sumi = 0i32;
        for c in 0..4 {
            let v = chunk(a, c);
            let q8 = &b.qs[64 * c..64 * c + 64];
            let lo: i32 = (0..32).map(|l| v[l] as i32 * q8[l] as i32).sum();
            let hi: i32 = (32..64).map(|l| v[l] as i32 * q8[l] as i32).sum();
            sumi += sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi;
        }
        let summ: i32 = (0..8).map(|j| mn[j] as i32 * (b.bsums[2 * j] as i32 + b.bsums[2 * j + 1] as i32)).sum();
        let d = b.d * f16(a.d);
        let dmin = b.d * f16(a.dmin);
        sumf += d * sumi as f32 - dmin * summ as f32;
    }
    sumf
}
