//! NEON versions of the attention steps in `crate::attention`, bit-identical to the scalar ones:
//! each 16-lane accumulator of ggml's AVX-512 dot product is four 4-lane registers here, folded
//! in the same order; f16 values are widened with `fcvtl` and rounded back with `fcvtn`.

use std::arch::aarch64::*;

use half::f16;

use super::neon::{f16x4_to_f32, f32x4_to_f16};

pub(crate) const OPS_NEON: crate::attention::OpsTable = crate::attention::OpsTable { dot, mad, scale };

fn dot(a: &[f16], b: &[f16]) -> f32 {
    // SAFETY: OPS_NEON is chosen only when the CPU has NEON.
    unsafe { dot_neon(a, b) }
}

fn mad(acc: &mut [f16], v: &[f16], s: f32) {
    // SAFETY: as in `dot`.
    unsafe { mad_neon(acc, v, s) }
}

fn scale(acc: &mut [f16], s: f32) {
    // SAFETY: as in `dot`.
    unsafe { scale_neon(acc, s) }
}

/// Four f16 from `s[i..i + 4]` as f32 lanes.
#[inline]
#[target_feature(enable = "neon")]
fn load4(s: &[f16], i: usize) -> float32x4_t {
    let s = &s[i..i + 4];
    // SAFETY: `s` has 4 elements of 2 bytes: an 8-byte load stays in bounds.
    f16x4_to_f32(unsafe { vld1_u16(s.as_ptr().cast()) })
}

/// Rounds four f32 lanes to f16 (nearest even) into `d[i..i + 4]`.
#[inline]
#[target_feature(enable = "neon")]
fn store4(d: &mut [f16], i: usize, v: float32x4_t) {
    let d = &mut d[i..i + 4];
    // SAFETY: `d` has 4 elements of 2 bytes: an 8-byte store stays in bounds.
    unsafe { vst1_u16(d.as_mut_ptr().cast(), f32x4_to_f16(v)) }
}

/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
unsafe fn dot_neon(a: &[f16], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let np = n - n % 64;
    // acc[j][q]: accumulator j of ggml's four, quarter q (lanes 4q..4q + 4).
    let mut acc = [[vdupq_n_f32(0.0); 4]; 4];
    let mut i = 0;
    while i < np {
        for (j, quarters) in acc.iter_mut().enumerate() {
            for (q, r) in quarters.iter_mut().enumerate() {
                let at = i + j * 16 + q * 4;
                *r = vfmaq_f32(*r, load4(a, at), load4(b, at));
            }
        }
        i += 64;
    }
    // x[l] = (acc0 + acc2) + (acc1 + acc3); then lanes l + 8 onto l, l + 4 onto l.
    let x: [float32x4_t; 4] =
        std::array::from_fn(|q| vaddq_f32(vaddq_f32(acc[0][q], acc[2][q]), vaddq_f32(acc[1][q], acc[3][q])));
    let h8 = [vaddq_f32(x[0], x[2]), vaddq_f32(x[1], x[3])];
    let h4 = vaddq_f32(h8[0], h8[1]);
    let sum = (vgetq_lane_f32::<0>(h4) + vgetq_lane_f32::<2>(h4)) + (vgetq_lane_f32::<1>(h4) + vgetq_lane_f32::<3>(h4));
    let mut total = f64::from(sum);
    for k in np..n {
        total += f64::from(a[k].to_f32() * b[k].to_f32());
    }
    total as f32
}

/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
unsafe fn mad_neon(acc: &mut [f16], v: &[f16], s: f32) {
    let n = acc.len().min(v.len());
    let mut i = 0;
    while i + 4 <= n {
        store4(acc, i, vfmaq_n_f32(load4(acc, i), load4(v, i), s));
        i += 4;
    }
    crate::attention::mad_f16(&mut acc[i..n], &v[i..n], s);
}

/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
unsafe fn scale_neon(acc: &mut [f16], s: f32) {
    let n = acc.len();
    let mut i = 0;
    while i + 4 <= n {
        store4(acc, i, vmulq_n_f32(load4(acc, i), s));
        i += 4;
    }
    crate::attention::scale_f16(&mut acc[i..n], s);
}
