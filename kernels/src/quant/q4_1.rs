//! Q4_1: 32 weights as 4-bit nibbles with an f16 scale and an f16 offset, `x = d * q + m`.
//! Paired with Q8_1 activations, whose stored `s = d * sum(q)` carries the offset term.

use bytemuck::{Pod, Zeroable};

use super::q8_1::BlockQ8_1;
use super::{f16, to_f16};

/// Elements per block.
pub const QK: usize = 32;

/// ggml's `block_q4_1`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_1 {
    /// Scale (f16 bits).
    pub d: [u8; 2],
    /// Minimum, added to every element (f16 bits).
    pub m: [u8; 2],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);

/// `dequantize_row_q4_1`: a separate multiply and add (ggml-base is built without FMA).
pub fn dequantize(x: &[BlockQ4_1], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let (d, m) = (f16(b.d), f16(b.m));
        for (j, &q) in b.qs.iter().enumerate() {
            y[j] = (q & 0x0F) as f32 * d + m;
            y[j + QK / 2] = (q >> 4) as f32 * d + m;
        }
    }
}

/// `quantize_row_q4_1_ref`: the range [min, max] in 15 steps.
pub fn quantize(x: &[f32], y: &mut [BlockQ4_1]) {
    for (x, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let min = x.iter().fold(f32::MAX, |a, &v| if v < a { v } else { a });
        let max = x.iter().fold(-f32::MAX, |a, &v| if v > a { v } else { a });
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = to_f16(d);
        b.m = to_f16(min);
        for j in 0..QK / 2 {
            let lo = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
            let hi = (((x[j + QK / 2] - min) * id + 0.5) as i8).min(15) as u8;
            b.qs[j] = lo | (hi << 4);
        }
    }
}

/// `ggml_vec_dot_q4_1_q8_1` (generic).
pub fn vec_dot(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            sumi += (a.qs[j] & 0x0F) as i32 * b.qs[j] as i32 + (a.qs[j] >> 4) as i32 * b.qs[j + QK / 2] as i32;
        }
        sumf += (f16(a.d) * f16(b.d)) * sumi as f32 + f16(a.m) * f16(b.s);
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_block() {
        // d = 0.5, m = -1, nibbles 0..15 in the low halves and 15..0 in the high halves.
        let mut b = BlockQ4_1 { d: to_f16(0.5), m: to_f16(-1.0), qs: [0; 16] };
        for j in 0..16 {
            b.qs[j] = j as u8 | ((15 - j as u8) << 4);
        }
        let mut y = [0.0; 32];
        dequantize(&[b], &mut y);
        for j in 0..16 {
            assert_eq!(y[j], 0.5 * j as f32 - 1.0);
            assert_eq!(y[j + 16], 0.5 * (15 - j) as f32 - 1.0);
        }
    }
}
