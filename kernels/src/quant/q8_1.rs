//! Q8_1: Q8_0 plus `s = d * sum(q)`, the activation format ggml pairs with Q4_1 and Q5_1, whose
//! offset `m` multiplies the sum of the activations.

use bytemuck::{Pod, Zeroable};

use super::{amax, to_f16};

/// Elements per block.
pub const QK: usize = 32;

/// ggml's `block_q8_1`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ8_1 {
    /// Scale (f16 bits).
    pub d: [u8; 2],
    /// `d * sum(qs)` (f16 bits).
    pub s: [u8; 2],
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 36);

/// `quantize_row_q8_1` as ggml's x86 build runs it (see `q8_0::quantize` for why): the sum is
/// taken over the rounded integers and multiplied by the unrounded f32 `d`.
pub fn quantize(x: &[f32], y: &mut [BlockQ8_1]) {
    for (x, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let amax = amax(x);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = to_f16(d);
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            let r = (v * id).round_ties_even() as i32;
            sum += r;
            *q = r as i8;
        }
        b.s = to_f16(d * sum as f32);
    }
}
