//! Q5_1: 32 weights as 5-bit values with scale and offset, `x = d * q + m`; bit layout as Q5_0.

use bytemuck::{Pod, Zeroable};

use super::q8_1::BlockQ8_1;
use super::{f16, qh_bits, to_f16};

/// Elements per block.
pub const QK: usize = 32;

/// ggml's `block_q5_1`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_1 {
    /// Scale (f16 bits).
    pub d: [u8; 2],
    /// Minimum (f16 bits).
    pub m: [u8; 2],
    /// 5th bits, little-endian u32.
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);

/// The 32 values of a block, 0..=31.
#[inline(always)]
pub(crate) fn unpack(b: &BlockQ5_1) -> [u8; QK] {
    let qh = qh_bits(b.qh);
    let mut v = [0u8; QK];
    for j in 0..QK / 2 {
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        v[j] = (b.qs[j] & 0x0F) | h0;
        v[j + QK / 2] = (b.qs[j] >> 4) | h1;
    }
    v
}

/// `dequantize_row_q5_1`.
pub fn dequantize(x: &[BlockQ5_1], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let (d, m) = (f16(b.d), f16(b.m));
        for (y, q) in y.iter_mut().zip(unpack(b)) {
            *y = q as f32 * d + m;
        }
    }
}

/// `quantize_row_q5_1_ref`: the range [min, max] in 31 steps.
pub fn quantize(x: &[f32], y: &mut [BlockQ5_1]) {
    for (x, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let min = x.iter().fold(f32::MAX, |a, &v| if v < a { v } else { a });
        let max = x.iter().fold(-f32::MAX, |a, &v| if v > a { v } else { a });
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = to_f16(d);
        b.m = to_f16(min);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let lo = ((x[j] - min) * id + 0.5) as u8;
            let hi = ((x[j + QK / 2] - min) * id + 0.5) as u8;
            b.qs[j] = (lo & 0x0F) | ((hi & 0x0F) << 4);
            qh |= ((lo as u32 & 0x10) >> 4) << j;
            qh |= ((hi as u32 & 0x10) >> 4) << (j + QK / 2);
        }
        b.qh = qh.to_le_bytes();
    }
}

/// `ggml_vec_dot_q5_1_q8_1` (generic).
pub fn vec_dot(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let sumi: i32 = unpack(a).iter().zip(&b.qs).map(|(&p, &q)| p as i32 * q as i32).sum();
        sumf += (f16(a.d) * f16(b.d)) * sumi as f32 + f16(a.m) * f16(b.s);
    }
    sumf
}
