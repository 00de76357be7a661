//! Q5_0: 32 weights as 5-bit values, `x = d * (q - 16)`: the low 4 bits in nibbles as in Q4_0,
//! the 5th bits packed in a 32-bit word (bit j belongs to element j).

use bytemuck::{Pod, Zeroable};

use super::q8_0::BlockQ8_0;
use super::{f16, qh_bits, to_f16};

/// Elements per block.
pub const QK: usize = 32;

/// ggml's `block_q5_0`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ5_0 {
    /// Scale (f16 bits).
    pub d: [u8; 2],
    /// 5th bits, little-endian u32.
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

/// The 32 values of a block as signed integers in -16..=15.
#[inline(always)]
pub(crate) fn unpack(b: &BlockQ5_0) -> [i8; QK] {
    let qh = qh_bits(b.qh);
    let mut v = [0i8; QK];
    for j in 0..QK / 2 {
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        v[j] = ((b.qs[j] & 0x0F) | h0) as i8 - 16;
        v[j + QK / 2] = ((b.qs[j] >> 4) | h1) as i8 - 16;
    }
    v
}

/// `dequantize_row_q5_0`.
pub fn dequantize(x: &[BlockQ5_0], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16(b.d);
        for (y, q) in y.iter_mut().zip(unpack(b)) {
            *y = q as i32 as f32 * d;
        }
    }
}

/// `quantize_row_q5_0_ref`: the signed extreme maps to -16.
pub fn quantize(x: &[f32], y: &mut [BlockQ5_0]) {
    for (x, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (_, max) = super::signed_max(x);
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = to_f16(d);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let lo = ((x[j] * id + 16.5) as i8).min(31) as u8;
            let hi = ((x[j + QK / 2] * id + 16.5) as i8).min(31) as u8;
            b.qs[j] = (lo & 0x0F) | ((hi & 0x0F) << 4);
            qh |= ((lo as u32 & 0x10) >> 4) << j;
            qh |= ((hi as u32 & 0x10) >> 4) << (j + QK / 2);
        }
        b.qh = qh.to_le_bytes();
    }
}

/// `ggml_vec_dot_q5_0_q8_0` (generic).
pub fn vec_dot(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let sumi: i32 = unpack(a).iter().zip(&b.qs).map(|(&p, &q)| p as i32 * q as i32).sum();
        sumf += (f16(a.d) * f16(b.d)) * sumi as f32;
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_block() {
        // Element j gets the 5-bit value j: low nibble j & 15, 5th bit j >> 4.
        let mut b = BlockQ5_0 { d: to_f16(2.0), qh: [0; 4], qs: [0; 16] };
        let mut qh = 0u32;
        for j in 0..32u32 {
            let (lo, hi) = (j & 15, j >> 4);
            if j < 16 {
                b.qs[j as usize] |= lo as u8;
            } else {
                b.qs[j as usize - 16] |= (lo as u8) << 4;
            }
            qh |= hi << j;
        }
        b.qh = qh.to_le_bytes();
        let mut y = [0.0; 32];
        dequantize(&[b], &mut y);
        for (j, &v) in y.iter().enumerate() {
            assert_eq!(v, 2.0 * (j as f32 - 16.0));
        }
    }
}
