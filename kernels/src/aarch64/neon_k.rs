//! NEON kernels for the k-quants and their Q8_K activations, plain and with `sdot` (see `neon`).
//!
//! Per super-block the integer work is exact: each 16- or 32-element group's dot product is
//! reduced to one i32, multiplied by its group scale, and the group offsets (the mins of
//! Q4_K/Q5_K) go through `bsums`, as in ggml's ARM build. Only the per-super-block totals are
//! converted to f32, in the expressions of the scalar twins, so results are bit-identical to them.

use std::arch::aarch64::*;

use super::neon::{blocks4, dot4_pair, dot_pair, ld_f32, ld_i8, ld_u8, st_i8, I8Dot, Mull, Sdot};
use crate::quant::f16;
use crate::quant::q4_k::scales_mins;
use crate::quant::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::types::QK_K;

/// Q8_K activations; bit-identical to `quant::q8_k::quantize`.
///
/// # Safety
/// The CPU must have NEON (every arm64 CPU does).
#[target_feature(enable = "neon")]
pub unsafe fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        // `maxnm` ignores NaNs, as the scalar `v.abs() > amax` test does.
        let mut m = vdupq_n_f32(0.0);
        for k in 0..QK_K / 4 {
            m = vmaxnmq_f32(m, vabsq_f32(ld_f32(x, 4 * k)));
        }
        let amax = vmaxvq_f32(m);
        if amax == 0.0 {
            *b = bytemuck::Zeroable::zeroed();
            continue;
        }
        // The sign of the scale comes from the first element of largest magnitude.
        let max = x.iter().copied().find(|v| v.abs() == amax).unwrap_or(amax);
        let iscale = -127.0 / max;
        let cap = vdupq_n_s32(127);
        for g in 0..QK_K / 16 {
            // `nearest_int(..).min(127) as i8`: round to even, cap, then truncating narrows.
            let q: [int32x4_t; 4] =
                std::array::from_fn(|k| vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(ld_f32(x, 16 * g + 4 * k), iscale)), cap));
            let lo = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
            let hi = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
            let bytes = vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
            st_i8(&mut b.qs[16 * g..], bytes);
            b.bsums[g] = vaddlvq_s8(bytes);
        }
        b.d = 1.0 / iscale;
    }
}

/// `sum_j mins[j] * (bsums[2j] + bsums[2j + 1])` of Q4_K/Q5_K (exact).
#[inline]
#[target_feature(enable = "neon")]
fn mins_dot(mn: &[u8; 8], bsums: &[i16; 16]) -> i32 {
    let pairs = vpaddq_s16(vreinterpretq_s16_u8(ld_u8(&bsums[..8])), vreinterpretq_s16_u8(ld_u8(&bsums[8..])));
    // SAFETY: `mn` has exactly 8 bytes.
    let mins = vreinterpretq_s16_u16(vmovl_u8(unsafe { vld1_u8(mn.as_ptr()) }));
    let p = vaddq_s32(vmull_s16(vget_low_s16(pairs), vget_low_s16(mins)), vmull_high_s16(pairs, mins));
    vaddvq_s32(p)
}

/// Sum of the products of 32 weight bytes (two vectors) with 32 activation bytes.
#[inline]
#[target_feature(enable = "neon")]
fn dot32<D: I8Dot>(d: D, x0: uint8x16_t, x1: uint8x16_t, y: &[i8]) -> i32 {
    let (x0, x1) = (vreinterpretq_s8_u8(x0), vreinterpretq_s8_u8(x1));
    vaddvq_s32(d.dot(d.dot(vdupq_n_s32(0), x0, ld_i8(y)), x1, ld_i8(&y[16..])))
}

#[inline]
#[target_feature(enable = "neon")]
fn q4_k<D: I8Dot>(d: D, x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let m4 = vdupq_n_u8(0x0F);
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (a, b) in x.iter().zip(y) {
        let (sc, mn) = scales_mins(&a.scales);
        let mut sumi = 0i32;
        for c in 0..4 {
            let (q, q8) = (&a.qs[32 * c..], &b.qs[64 * c..]);
            let (q0, q1) = (ld_u8(q), ld_u8(&q[16..]));
            let lo = dot32(d, vandq_u8(q0, m4), vandq_u8(q1, m4), q8);
            let hi = dot32(d, vshrq_n_u8::<4>(q0), vshrq_n_u8::<4>(q1), &q8[32..]);
            sumi = sumi.wrapping_add(sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi);
        }
        let summ = mins_dot(&mn, &b.bsums);
        acc = (sumi as f32).mul_add(f16(a.d) * b.d, acc);
        acc_m = (summ as f32).mul_add(f16(a.dmin) * b.d, acc_m);
    }
    acc - acc_m
}

#[inline]
#[target_feature(enable = "neon")]
fn q5_k<D: I8Dot>(d: D, x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let (m4, m16) = (vdupq_n_u8(0x0F), vdupq_n_u8(0x10));
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let (sc, mn) = scales_mins(&a.scales);
        let (h0, h1) = (ld_u8(&a.qh), ld_u8(&a.qh[16..]));
        // 16 where the element's high bit (bit `k` of its `qh` byte) is set.
        let high = |h: uint8x16_t, k: usize| vandq_u8(vtstq_u8(h, vdupq_n_u8(1 << k)), m16);
        let mut sumi = 0i32;
        for c in 0..4 {
            let (q, q8) = (&a.qs[32 * c..], &b.qs[64 * c..]);
            let (q0, q1) = (ld_u8(q), ld_u8(&q[16..]));
            let lo0 = vorrq_u8(vandq_u8(q0, m4), high(h0, 2 * c));
            let lo1 = vorrq_u8(vandq_u8(q1, m4), high(h1, 2 * c));
            let hi0 = vorrq_u8(vshrq_n_u8::<4>(q0), high(h0, 2 * c + 1));
            let hi1 = vorrq_u8(vshrq_n_u8::<4>(q1), high(h1, 2 * c + 1));
            let lo = dot32(d, lo0, lo1, q8);
            let hi = dot32(d, hi0, hi1, &q8[32..]);
            sumi += sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi;
        }
        let summ = mins_dot(&mn, &b.bsums);
        let dd = b.d * f16(a.d);
        let dmin = b.d * f16(a.dmin);
        sumf += dd * sumi as f32 - dmin * summ as f32;
    }
    sumf
}

#[inline]
#[target_feature(enable = "neon")]
fn q6_k<D: I8Dot>(d: D, x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let (m4, m30) = (vdupq_n_u8(0x0F), vdupq_n_u8(0x30));
    let s32 = vdupq_n_s8(32);
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let mut sumi = 0i32;
        for h in 0..2 {
            let (ql, qh, q8) = (&a.ql[64 * h..], &a.qh[32 * h..], &b.qs[128 * h..]);
            let scales = &a.scales[8 * h..8 * h + 8];
            let mut groups = [0i32; 8];
            for k in 0..2 {
                let hb = ld_u8(&qh[16 * k..]);
                let (l0, l1) = (ld_u8(&ql[16 * k..]), ld_u8(&ql[32 + 16 * k..]));
                // Elements l, l + 32, l + 64, l + 96 of the half, for l in 16k..16k + 16.
                let v = [
                    vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8::<4>(hb), m30)),
                    vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8::<2>(hb), m30)),
                    vorrq_u8(vshrq_n_u8::<4>(l0), vandq_u8(hb, m30)),
                    vorrq_u8(vshrq_n_u8::<4>(l1), vandq_u8(vshrq_n_u8::<2>(hb), m30)),
                ];
                for (j, v) in v.into_iter().enumerate() {
                    let g = 2 * j + k;
                    let w = vsubq_s8(vreinterpretq_s8_u8(v), s32);
                    groups[g] = vaddvq_s32(d.dot(vdupq_n_s32(0), w, ld_i8(&q8[16 * g..])));
                }
            }
            for (g, &s) in groups.iter().enumerate() {
                sumi += scales[g] as i32 * s;
            }
        }
        sumf += (b.d * f16(a.d)) * sumi as f32;
    }
    sumf
}

#[inline]
#[target_feature(enable = "neon")]
fn q4_k_x4<D: I8Dot>(d: D, x: &[BlockQ4K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let m4 = vdupq_n_u8(0x0F);
    let (mut acc, mut acc_m) = ([0.0f32; 4], [0.0f32; 4]);
    for (i, a) in x[..blocks4(x, &y)].iter().enumerate() {
        let (sc, mn) = scales_mins(&a.scales);
        let mut sumi = [0i32; 4];
        for c in 0..4 {
            let q = &a.qs[32 * c..];
            let (q0, q1) = (ld_u8(q), ld_u8(&q[16..]));
            let (lo0, lo1) = (vandq_u8(q0, m4), vandq_u8(q1, m4));
            let (hi0, hi1) = (vshrq_n_u8::<4>(q0), vshrq_n_u8::<4>(q1));
            for (s, y) in sumi.iter_mut().zip(y) {
                let q8 = &y[i].qs[64 * c..];
                let (lo, hi) = (dot32(d, lo0, lo1, q8), dot32(d, hi0, hi1, &q8[32..]));
                *s = s.wrapping_add(sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi);
            }
        }
        for t in 0..4 {
            let b = &y[t][i];
            acc[t] = (sumi[t] as f32).mul_add(f16(a.d) * b.d, acc[t]);
            acc_m[t] = (mins_dot(&mn, &b.bsums) as f32).mul_add(f16(a.dmin) * b.d, acc_m[t]);
        }
    }
    [0, 1, 2, 3].map(|t| acc[t] - acc_m[t])
}

#[inline]
#[target_feature(enable = "neon")]
fn q6_k_x4<D: I8Dot>(d: D, x: &[BlockQ6K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let (m4, m30) = (vdupq_n_u8(0x0F), vdupq_n_u8(0x30));
    let s32 = vdupq_n_s8(32);
    let mut sumf = [0.0f32; 4];
    for (i, a) in x[..blocks4(x, &y)].iter().enumerate() {
        let mut sumi = [0i32; 4];
        for h in 0..2 {
            let (ql, qh) = (&a.ql[64 * h..], &a.qh[32 * h..]);
            let scales = &a.scales[8 * h..8 * h + 8];
            let mut groups = [[0i32; 8]; 4];
            for k in 0..2 {
                let hb = ld_u8(&qh[16 * k..]);
                let (l0, l1) = (ld_u8(&ql[16 * k..]), ld_u8(&ql[32 + 16 * k..]));
                let v = [
                    vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8::<4>(hb), m30)),
                    vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8::<2>(hb), m30)),
                    vorrq_u8(vshrq_n_u8::<4>(l0), vandq_u8(hb, m30)),
                    vorrq_u8(vshrq_n_u8::<4>(l1), vandq_u8(vshrq_n_u8::<2>(hb), m30)),
                ]
                .map(|v| vsubq_s8(vreinterpretq_s8_u8(v), s32));
                for (groups, y) in groups.iter_mut().zip(y) {
                    let q8 = &y[i].qs[128 * h..];
                    for (j, &w) in v.iter().enumerate() {
                        let g = 2 * j + k;
                        groups[g] = vaddvq_s32(d.dot(vdupq_n_s32(0), w, ld_i8(&q8[16 * g..])));
                    }
                }
            }
            for (s, groups) in sumi.iter_mut().zip(&groups) {
                for (g, &v) in groups.iter().enumerate() {
                    *s += scales[g] as i32 * v;
                }
            }
        }
        for t in 0..4 {
            sumf[t] += (y[t][i].d * f16(a.d)) * sumi[t] as f32;
        }
    }
    sumf
}

dot_pair!("Q4_K", vec_dot_q4_k, vec_dot_q4_k_sdot, q4_k, BlockQ4K, BlockQ8K);
dot_pair!("Q5_K", vec_dot_q5_k, vec_dot_q5_k_sdot, q5_k, BlockQ5K, BlockQ8K);
dot_pair!("Q6_K", vec_dot_q6_k, vec_dot_q6_k_sdot, q6_k, BlockQ6K, BlockQ8K);
dot4_pair!("Q4_K", vec_dot_q4_k_x4, vec_dot_q4_k_x4_sdot, q4_k_x4, BlockQ4K, BlockQ8K);
dot4_pair!("Q6_K", vec_dot_q6_k_x4, vec_dot_q6_k_x4_sdot, q6_k_x4, BlockQ6K, BlockQ8K);
