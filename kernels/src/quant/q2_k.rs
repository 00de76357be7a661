//! Q2_K: 256 weights as 2-bit values in 16 groups of 16; each group has a 4-bit scale (low
//! nibble of `scales[g]`) and a 4-bit min (high nibble), times the f16 `d` and `dmin`:
//! `x = d*sc*q - dmin*m`. Half h (128 elements) uses `qs[32h..32h+32]`; within it, shift 2j
//! selects elements 32j..32j+32 (bytes 0..16 for the first group of 16, 16..32 for the second).

use bytemuck::{Pod, Zeroable};

use super::q4_k::{make_qkx2_quants, nearest_int_k};
use super::q8_k::BlockQ8K;
use super::{f16, to_f16};
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

/// `quantize_row_q2_K_ref`: a `make_qkx2_quants` fit (absolute error, weights `|x|`) per group
/// of 16, 4-bit scales and mins against the largest of each, then every element requantized
/// against its stored scale and min.
pub fn quantize(x: &[f32], y: &mut [BlockQ2K]) {
    const Q4SCALE: f32 = 15.0;
    let mut l = [0u8; QK_K];
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut scales = [0.0f32; QK_K / 16];
        let mut mins = [0.0f32; QK_K / 16];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for g in 0..QK_K / 16 {
            let xg = &x[16 * g..16 * g + 16];
            let weights: [f32; 16] = std::array::from_fn(|i| xg[i].abs());
            (scales[g], mins[g]) = make_qkx2_quants(xg, &weights, 3, &mut l[16 * g..], -0.5, 0.1, 15, true);
            if scales[g] > max_scale {
                max_scale = scales[g];
            }
            if mins[g] > max_min {
                max_min = mins[g];
            }
        }
        // ggml stores the rounded values straight into the uint8_t fields.
        if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for (q, &s) in b.scales.iter_mut().zip(&scales) {
                *q = nearest_int_k(iscale * s) as u8;
            }
            b.d = to_f16(max_scale / Q4SCALE);
        } else {
            b.scales = [0; QK_K / 16];
            b.d = to_f16(0.0);
        }
        if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for (q, &m) in b.scales.iter_mut().zip(&mins) {
                *q |= (nearest_int_k(iscale * m) << 4) as u8;
            }
            b.dmin = to_f16(max_min / Q4SCALE);
        } else {
            b.dmin = to_f16(0.0);
        }
        for g in 0..QK_K / 16 {
            let d = f16(b.d) * (b.scales[g] & 0x0F) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = f16(b.dmin) * (b.scales[g] >> 4) as f32;
            for i in 16 * g..16 * g + 16 {
                l[i] = nearest_int_k((x[i] + dm) / d).clamp(0, 3) as u8;
            }
        }
        for h in 0..2 {
            for j in 0..32 {
                let l = &l[128 * h + j..];
                b.qs[32 * h + j] = l[0] | (l[32] << 2) | (l[64] << 4) | (l[96] << 6);
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
