//! Q2_K: 256 weights as 2-bit values in 16 groups of 16; each group has a 4-bit scale (low
//! nibble of `scales[g]`) and a 4-bit min (high nibble), times the f16 `d` and `dmin`:
//! `x = d*sc*q - dmin*m`. Half h (128 elements) uses `qs[32h..32h+32]`; within it, shift 2j
//! selects elements 32j..32j+32 (bytes 0..16 for the first group of 16, 16..32 for the second).

use bytemuck::{Pod, Zeroable};

use super::f16;
use super::q8_k::BlockQ8K;
use crate::types::QK_K;

/// ggml's `block_q2_K`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ2K {
    /// Per group: scale in the low nibble, min in the high nibble.
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    /// Super-block scale (f16 bits).
    pub d: [u8; 2],
    /// Super-block min scale (f16 bits).
    pub dmin: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);

/// The 2-bit value of element `i` (0..256).
#[inline(always)]
fn value(b: &BlockQ2K, i: usize) -> u8 {
    let (h, r) = (i / 128, i % 128);
    let (j, l) = (r / 32, r % 32);
    (b.qs[32 * h + l] >> (2 * j)) & 3
}

/// `dequantize_row_q2_K`.
pub fn dequantize(x: &[BlockQ2K], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (f16(b.d), f16(b.dmin));
        for (g, y) in y.chunks_exact_mut(16).enumerate() {
            let sc = b.scales[g];
            let dl = d * (sc & 0x0F) as f32;
            let ml = min * (sc >> 4) as f32;
            for (l, y) in y.iter_mut().enumerate() {
                *y = dl * value(b, 16 * g + l) as f32 - ml;
            }
        }
    }
}

/// `ggml_vec_dot_q2_K_q8_K`.
pub fn vec_dot(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let summs: i32 = (0..16).map(|g| b.bsums[g] as i32 * (a.scales[g] >> 4) as i32).sum();
        let mut isum = 0i32;
        for g in 0..16 {
            let s: i32 = (0..16).map(|l| value(a, 16 * g + l) as i32 * b.qs[16 * g + l] as i32).sum();
            isum += (a.scales[g] & 0x0F) as i32 * s;
        }
        let dall = b.d * f16(a.d);
        let dmin = b.d * f16(a.dmin);
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}
