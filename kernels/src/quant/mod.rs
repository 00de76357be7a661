//! Quantized block formats, one file per format, with their scalar reference kernels.
//!
//! Each file holds a `#[repr(C)]` block struct laid out exactly as in ggml-common.h, its
//! dequantizer (bit-for-bit what ggml's `dequantize_row_*` computes), a quantizer where this crate
//! needs one, and the scalar dot product against the activation format ggml pairs it with
//! ("vec_dot_type"): Q4_0/Q5_0/Q8_0/IQ4_NL with Q8_0, Q4_1/Q5_1 with Q8_1, the k-quants and IQ4_XS
//! with Q8_K. The scalar kernels are the reference that every SIMD kernel is tested against.
//!
//! f16 fields are stored as `[u8; 2]` (little-endian bits) so that the blocks have alignment 1 and
//! can be viewed in place over a memory-mapped file at any offset; only Q8_K, which exists solely
//! in buffers this crate allocates, has wider fields.

pub mod float;
pub mod iq4_nl;
pub mod iq4_xs;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_1;
pub mod q8_k;

pub use iq4_nl::BlockIq4Nl;
pub use iq4_xs::BlockIq4Xs;
pub use q2_k::BlockQ2K;
pub use q3_k::BlockQ3K;
pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::BlockQ4K;
pub use q5_0::BlockQ5_0;
pub use q5_1::BlockQ5_1;
pub use q5_k::BlockQ5K;
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8_1::BlockQ8_1;
pub use q8_k::BlockQ8K;

/// Reads a little-endian f16 field.
#[inline(always)]
pub(crate) fn f16(b: [u8; 2]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes(b)).to_f32()
}

/// Encodes an f16 field, rounding to nearest even as ggml's `GGML_FP32_TO_FP16` does.
#[inline(always)]
pub(crate) fn to_f16(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_bits().to_le_bytes()
}

/// ggml's `nearest_int`: round half to even (it adds 1.5 * 2^23 and reads the mantissa).
/// The same trick here: `round_ties_even` is a libm call (`rintf`) on the x86-64 baseline,
/// which has no rounding instruction, and the scalar Q8_K quantizer calls this per element.
/// Beyond 2^22 - 1, where the trick wraps, (and for NaN) the saturating cast decides.
#[inline(always)]
pub(crate) fn nearest_int(x: f32) -> i32 {
    if x.abs() <= 4_194_303.0 {
        let v = x + 12_582_912.0;
        (v.to_bits() as i32 & 0x007F_FFFF) - 0x0040_0000
    } else {
        x.round_ties_even() as i32
    }
}

/// The absolute maximum of a block, as the SIMD quantizers reduce it (NaNs are ignored).
#[inline(always)]
pub(crate) fn amax(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// The element of largest magnitude, keeping its sign; the first one wins ties, as in ggml.
#[inline(always)]
pub(crate) fn signed_max(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

/// Bytes of the 5th bits of Q5_0/Q5_1, as one word: bit j belongs to element j.
#[inline(always)]
pub(crate) fn qh_bits(qh: [u8; 4]) -> u32 {
    u32::from_le_bytes(qh)
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_int_rounds_half_to_even_like_round_ties_even() {
        let mut xs: Vec<f32> = (-1000..=1000).map(|i| i as f32 * 0.25).collect();
        xs.extend([0.49999997, -0.49999997, 127.5, -127.5, 4_194_303.5, -4_194_303.5, 1e9, -1e9, f32::NAN]);
        xs.extend([f32::INFINITY, f32::NEG_INFINITY, 8_388_609.0, -0.0]);
        for x in xs {
            assert_eq!(super::nearest_int(x), x.round_ties_even() as i32, "{x}");
        }
    }
}
