//! IQ4_NL: Q4_0's layout, but each nibble indexes a fixed non-linear table of 16 levels:
//! `x = d * KVALUES[q]`. Paired with Q8_0 activations.

use bytemuck::{Pod, Zeroable};

use super::f16;
use super::q8_0::BlockQ8_0;

/// Elements per block.
pub const QK: usize = 32;

/// The 16 levels (`kvalues_iq4nl`), denser near zero where weights cluster.
pub const KVALUES: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// ggml's `block_iq4_nl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockIq4Nl {
    /// Scale (f16 bits).
    pub d: [u8; 2],
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIq4Nl>() == 18);

/// `dequantize_row_iq4_nl`.
pub fn dequantize(x: &[BlockIq4Nl], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = f16(b.d);
        for (j, &q) in b.qs.iter().enumerate() {
            y[j] = d * KVALUES[(q & 0x0F) as usize] as f32;
            y[j + QK / 2] = d * KVALUES[(q >> 4) as usize] as f32;
        }
    }
}

/// `ggml_vec_dot_iq4_nl_q8_0`.
pub fn vec_dot(x: &[BlockIq4Nl], y: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let d = f16(b.d) * f16(a.d);
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            sumi += b.qs[j] as i32 * KVALUES[(a.qs[j] & 0x0F) as usize] as i32;
            sumi += b.qs[j + QK / 2] as i32 * KVALUES[(a.qs[j] >> 4) as usize] as i32;
        }
        sumf += d * sumi as f32;
    }
    sumf
}
