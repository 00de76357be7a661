//! AVX2 + F16C + FMA versions of the attention steps in `crate::attention`, bit-identical
//! to the scalar ones: the 16-lane accumulators of ggml's AVX-512 dot product are two 8-lane
//! registers each here, folded in the same order.
//!
//! `OPS_AVX2` holds the one-row steps; `RowsAvx2` the several-row steps of `flash_attn_rows`,
//! which widen each key once for all rows. Values are added row by row (each row widening the
//! value again): with 128-bit f16 pieces that measured faster than one pass over all rows.

use std::arch::x86_64::*;

use half::f16;

use crate::attention::{attend_rows, RowOps, Score};

pub(crate) const OPS_AVX2: crate::attention::OpsTable = crate::attention::OpsTable { dot, mad, scale };

/// `crate::attention::attend_rows` with the AVX2 steps, all compiled for AVX2 so that the
/// steps and the scalar work between them (its FMAs included) inline into one loop.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn attend<'a>(
    q: &[f32],
    positions: &[std::ops::Range<usize>],
    key: &impl Fn(usize) -> &'a [f16],
    value: &impl Fn(usize) -> &'a [f16],
    score: Score,
    out: &mut [f32],
) {
    attend_rows(&mut RowsAvx2 { kf: Vec::new() }, q, positions, key, value, score, out);
}

/// The AVX2 [`RowOps`]; `kf` holds the current key widened to f32.
struct RowsAvx2 {
    kf: Vec<f32>,
}

impl RowOps for RowsAvx2 {
    #[inline(always)]
    fn dots(&mut self, k: &[f16], q: &[f32], dk: usize, active: &[usize], sums: &mut [f32]) {
        self.kf.resize(dk - dk % 64, 0.0);
        // SAFETY: RowsAvx2 is used only by `attend`, whose caller guarantees the features.
        unsafe { dots_avx2(k, &mut self.kf, q, dk, active, sums) }
    }

    #[inline(always)]
    fn mad(&mut self, v: &[f16], acc: &mut [f16], dv: usize, active: &[usize], vs: &[f32]) {
        for (&r, &s) in active.iter().zip(vs) {
            // SAFETY: as in `dots`.
            unsafe { mad_avx2(&mut acc[r * dv..(r + 1) * dv], v, s) }
        }
    }

    #[inline(always)]
    fn scale(&mut self, acc: &mut [f16], s: f32) {
        // SAFETY: as in `dots`.
        unsafe { scale_avx2(acc, s) }
    }
}

fn dot(a: &[f16], b: &[f16]) -> f32 {
    // SAFETY: OPS_AVX2 is chosen only when the CPU has AVX2, FMA and F16C.
    unsafe { dot_avx2(a, b) }
}

fn mad(acc: &mut [f16], v: &[f16], s: f32) {
    // SAFETY: as in `dot`.
    unsafe { mad_avx2(acc, v, s) }
}

fn scale(acc: &mut [f16], s: f32) {
    // SAFETY: as in `dot`.
    unsafe { scale_avx2(acc, s) }
}

/// Eight f16 from `s[i..i + 8]` as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn load8(s: &[f16], i: usize) -> __m256 {
    let s = &s[i..i + 8];
    // SAFETY: `s` has 8 elements (2 bytes each): a 16-byte unaligned load stays in bounds.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(s.as_ptr().cast()) })
}

#[inline]
#[target_feature(enable = "avx2,f16c")]
fn store8(d: &mut [f16], i: usize, v: __m256) {
    let d = &mut d[i..i + 8];
    // SAFETY: `d` has 8 elements; round to nearest even, as the scalar path does.
    unsafe { _mm_storeu_si128(d.as_mut_ptr().cast(), _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v)) }
}

/// Eight f32 from `s[i..i + 8]`.
#[inline]
#[target_feature(enable = "avx2")]
fn loadf8(s: &[f32], i: usize) -> __m256 {
    let s = &s[i..i + 8];
    // SAFETY: `s` has 8 elements: a 32-byte unaligned load stays in bounds.
    unsafe { _mm256_loadu_ps(s.as_ptr()) }
}

/// ggml's fold of its four 16-lane accumulators (`acc[j][h]`: accumulator j, lanes 8h..8h + 8):
/// pairwise, then a tree over the lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn fold(acc: &[[__m256; 2]; 4]) -> f32 {
    let x: [__m256; 2] = std::array::from_fn(|h| {
        _mm256_add_ps(_mm256_add_ps(acc[0][h], acc[2][h]), _mm256_add_ps(acc[1][h], acc[3][h]))
    });
    let h8 = _mm256_add_ps(x[0], x[1]);
    let h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps::<1>(h8));
    let h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
    _mm_cvtss_f32(_mm_add_ss(h2, _mm_movehdup_ps(h2)))
}

/// `RowOps::dots`, with `kf` (`dk - dk % 64` long) as scratch for the widened key.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dots_avx2(k: &[f16], kf: &mut [f32], q: &[f32], dk: usize, active: &[usize], sums: &mut [f32]) {
    let np = kf.len();
    for i in (0..np).step_by(8) {
        let d = &mut kf[i..i + 8];
        // SAFETY: `d` has 8 elements: a 32-byte unaligned store stays in bounds.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), load8(k, i)) };
    }
    for (s, &r) in sums.iter_mut().zip(active) {
        let q = &q[r * dk..r * dk + np];
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        for i in (0..np).step_by(64) {
            for (j, halves) in acc.iter_mut().enumerate() {
                for (h, a) in halves.iter_mut().enumerate() {
                    let at = i + j * 16 + h * 8;
                    *a = _mm256_fmadd_ps(loadf8(kf, at), loadf8(q, at), *a);
                }
            }
        }
        *s = fold(&acc);
    }
}

/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_avx2(a: &[f16], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let np = n - n % 64;
    // acc[j][h]: accumulator j of ggml's four, half h (lanes 0..8 or 8..16).
    let mut acc = [[_mm256_setzero_ps(); 2]; 4];
    let mut i = 0;
    while i < np {
        for (j, halves) in acc.iter_mut().enumerate() {
            for (h, r) in halves.iter_mut().enumerate() {
                let at = i + j * 16 + h * 8;
                *r = _mm256_fmadd_ps(load8(a, at), load8(b, at), *r);
            }
        }
        i += 64;
    }
    let mut total = f64::from(fold(&acc));
    for k in np..n {
        total += f64::from(a[k].to_f32() * b[k].to_f32());
    }
    total as f32
}

/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mad_avx2(acc: &mut [f16], v: &[f16], s: f32) {
    let n = acc.len().min(v.len());
    let vs = _mm256_set1_ps(s);
    let mut i = 0;
    while i + 8 <= n {
        store8(acc, i, _mm256_fmadd_ps(load8(v, i), vs, load8(acc, i)));
        i += 8;
    }
    crate::attention::mad_f16(&mut acc[i..n], &v[i..n], s);
}

/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scale_avx2(acc: &mut [f16], s: f32) {
    let n = acc.len();
    let vs = _mm256_set1_ps(s);
    let mut i = 0;
    while i + 8 <= n {
        store8(acc, i, _mm256_mul_ps(load8(acc, i), vs));
        i += 8;
    }
    crate::attention::scale_f16(&mut acc[i..n], s);
}
