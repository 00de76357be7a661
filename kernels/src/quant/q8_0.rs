//! Q8_0: 32 signed bytes with one f16 scale (`x = d * q`). Also the activation format that ggml
//! pairs with Q4_0, Q5_0, Q8_0 and IQ4_NL weights.

use bytemuck::{Pod, Zeroable};

use super::{amax, f16, to_f16};

/// Elements per block.
pub const QK: usize = 32;

/// ggml's `block_q8_0`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8_0 {
    /// Scale (f16 bits).
    pub d: [u8; 2],
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);

/// `dequantize_row_q8_0`.
pub fn dequantize(x: &[BlockQ8_0], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16(b.d);
        for (y, &q) in y.iter_mut().zip(&b.qs) {
            *y = q as f32 * d;
        }
    }
}

/// `quantize_row_q8_0` as ggml's x86 build runs it (the AVX2 path, which is what llama.cpp uses
/// on every x86-64 CPU with AVX): `id = 127 / amax` and round half to even. The portable C
/// reference (`1 / d`, `roundf`) differs in the last bit on rare inputs; matching the x86 path is
/// what keeps our activations identical to llama.cpp's.
pub fn quantize(x: &[f32], y: &mut [BlockQ8_0]) {
    for (x, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let amax = amax(x);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = to_f16(d);
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round_ties_even() as i8;
        }
    }
}

/// `ggml_vec_dot_q8_0_q8_0` (generic): per block, the exact integer dot scaled by `dx * dy`.
pub fn vec_dot(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let sumi: i32 = a.qs.iter().zip(&b.qs).map(|(&p, &q)| p as i32 * q as i32).sum();
        sumf += sumi as f32 * (f16(a.d) * f16(b.d));
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_block() {
        let mut b = BlockQ8_0::zeroed();
        b.d = to_f16(0.25);
        for (i, q) in b.qs.iter_mut().enumerate() {
            *q = i as i8 - 16;
        }
        let mut y = [0.0; 32];
        dequantize(&[b], &mut y);
        for (i, &v) in y.iter().enumerate() {
            assert_eq!(v, (i as f32 - 16.0) * 0.25);
        }
    }

    #[test]
    fn quantize_scales_to_127_and_rounds_half_even() {
        let mut x = [0.0f32; 32];
        x[0] = 127.0; // d = 1, id = 1
        x[1] = 2.5; // ties go to even: 2
        x[2] = -3.5; // -4
        x[3] = -127.0;
        let mut b = [BlockQ8_0::zeroed()];
        quantize(&x, &mut b);
        assert_eq!(f16(b[0].d), 1.0);
        assert_eq!(&b[0].qs[..4], &[127, 2, -4, -127]);
        // An all-zero block quantizes to zeros with d = 0.
        quantize(&[0.0; 32], &mut b);
        assert_eq!(f16(b[0].d), 0.0);
        assert!(b[0].qs.iter().all(|&q| q == 0));
    }
}
