//! IQ4_XS: IQ4_NL's non-linear levels in super-blocks of 256 with a 6-bit scale per 32 elements:
//! `x = d * (ls - 32) * KVALUES[q]`. Paired with Q8_K activations.

use bytemuck::{Pod, Zeroable};

use super::f16;
use super::iq4_nl::KVALUES;
use super::q8_k::BlockQ8K;
use crate::types::QK_K;

/// ggml's `block_iq4_xs`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIq4Xs {
    /// Scale (f16 bits).
    pub d: [u8; 2],
    /// High 2 bits of the eight group scales (little-endian u16).
    pub scales_h: [u8; 2],
    /// Low 4 bits of the eight group scales, two per byte.
    pub scales_l: [u8; QK_K / 64],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIq4Xs>() == 136);

/// Group `ib`'s scale minus 32.
#[inline(always)]
fn scale(b: &BlockIq4Xs, ib: usize) -> i32 {
    let h = u16::from_le_bytes(b.scales_h);
    let ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F) as i32 | ((((h >> (2 * ib)) & 3) as i32) << 4);
    ls - 32
}

/// `dequantize_row_iq4_xs`.
pub fn dequantize(x: &[BlockIq4Xs], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16(b.d);
        for (ib, y) in y.chunks_exact_mut(32).enumerate() {
            let dl = d * scale(b, ib) as f32;
            let qs = &b.qs[16 * ib..16 * ib + 16];
            for j in 0..16 {
                y[j] = dl * KVALUES[(qs[j] & 0x0F) as usize] as f32;
                y[j + 16] = dl * KVALUES[(qs[j] >> 4) as usize] as f32;
            }
        }
    }
}

/// `ggml_vec_dot_iq4_xs_q8_K`.
pub fn vec_dot(x: &[BlockIq4Xs], y: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let mut sumi = 0i32;
        for ib in 0..8 {
            let qs = &a.qs[16 * ib..16 * ib + 16];
            let q8 = &b.qs[32 * ib..32 * ib + 32];
            let mut s = 0i32;
            for j in 0..16 {
                s += q8[j] as i32 * KVALUES[(qs[j] & 0x0F) as usize] as i32;
                s += q8[j + 16] as i32 * KVALUES[(qs[j] >> 4) as usize] as i32;
            }
            sumi += scale(a, ib) * s;
        }
        sumf += (f16(a.d) * b.d) * sumi as f32;
    }
    sumf
}
