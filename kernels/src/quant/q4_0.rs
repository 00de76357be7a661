//! Q4_0: 32 weights as 4-bit unsigned nibbles with one f16 scale, `x = d * (q - 8)`.
//! Byte j holds element j in its low nibble and element j + 16 in its high nibble.

use bytemuck::{Pod, Zeroable};

use super::q8_0::BlockQ8_0;
use super::{f16, to_f16};

/// Elements per block.
pub const QK: usize = 32;

/// ggml's `block_q4_0`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4_0 {
    /// Scale (f16 bits).
    pub d: [u8; 2],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);

/// `dequantize_row_q4_0`.
pub fn dequantize(x: &[BlockQ4_0], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16(b.d);
        for (j, &q) in b.qs.iter().enumerate() {
            y[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
            y[j + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
}

/// `quantize_row_q4_0_ref`: the signed extreme maps to -8.
pub fn quantize(x: &[f32], y: &mut [BlockQ4_0]) {
    for (x, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (_, max) = super::signed_max(x);
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = to_f16(d);
        for j in 0..QK / 2 {
            // C truncates toward zero when it converts to int8_t; `as i8` does the same here.
            let lo = ((x[j] * id + 8.5) as i8).min(15) as u8;
            let hi = ((x[j + QK / 2] * id + 8.5) as i8).min(15) as u8;
            b.qs[j] = lo | (hi << 4);
        }
    }
}

/// `ggml_vec_dot_q4_0_q8_0` (generic).
pub fn vec_dot(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            let v0 = (a.qs[j] & 0x0F) as i32 - 8;
            let v1 = (a.qs[j] >> 4) as i32 - 8;
            sumi += v0 * b.qs[j] as i32 + v1 * b.qs[j + QK / 2] as i32;
        }
        sumf += sumi as f32 * f16(a.d) * f16(b.d);
    }
    sumf
}
