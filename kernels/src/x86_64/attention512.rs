//! AVX-512 versions of the several-row attention steps of `crate::attention::flash_attn_rows`,
//! bit-identical to the scalar ones.
//!
//! One 512-bit register is one of the four 16-lane accumulators of ggml's AVX-512 dot product,
//! so a row's dot product is ggml's loop itself. Four query rows go through a key together:
//! each 64-element step of the key is widened once into four registers and multiplied into the
//! four rows' sixteen accumulators, and the four rows' folds share their shuffles. The value
//! update widens each 16-element piece of the value once and adds it into every row.

use std::arch::x86_64::*;

use half::f16;

use crate::attention::{attend_rows, RowOps, Score};

/// `crate::attention::attend_rows` with the AVX-512 steps, all compiled for AVX-512 so that the
/// steps and the scalar work between them (its FMAs included) inline into one loop.
///
/// # Safety
/// The CPU must support AVX-512 F, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) unsafe fn attend<'a>(
    q: &[f32],
    positions: &[std::ops::Range<usize>],
    key: &impl Fn(usize) -> &'a [f16],
    value: &impl Fn(usize) -> &'a [f16],
    score: Score,
    out: &mut [f32],
) {
    attend_rows(&mut Rows512, q, positions, key, value, score, out);
}

/// The AVX-512 [`RowOps`].
struct Rows512;

impl RowOps for Rows512 {
    #[inline(always)]
    fn dots(&mut self, k: &[f16], q: &[f32], dk: usize, active: &[usize], sums: &mut [f32]) {
        // SAFETY: Rows512 is used only by `attend`, whose caller guarantees the features.
        unsafe { dots_512(k, q, dk, active, sums) }
    }

    #[inline(always)]
    fn mad(&mut self, v: &[f16], acc: &mut [f16], dv: usize, active: &[usize], vs: &[f32]) {
        // SAFETY: as in `dots`.
        unsafe { mad_rows_512(v, acc, dv, active, vs) }
    }

    #[inline(always)]
    fn scale(&mut self, acc: &mut [f16], s: f32) {
        // SAFETY: as in `dots`.
        unsafe { scale_512(acc, s) }
    }
}

/// Sixteen f16 from `s[i..i + 16]` as f32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx2")]
fn load16h(s: &[f16], i: usize) -> __m512 {
    let s = &s[i..i + 16];
    // SAFETY: `s` has 16 elements (2 bytes each): a 32-byte unaligned load stays in bounds.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(s.as_ptr().cast()) })
}

/// `v` rounded to f16 (to nearest even, as the scalar path) into `d[i..i + 16]`.
#[inline]
#[target_feature(enable = "avx512f,avx2")]
fn store16h(d: &mut [f16], i: usize, v: __m512) {
    let d = &mut d[i..i + 16];
    // SAFETY: `d` has 16 elements: a 32-byte unaligned store stays in bounds.
    unsafe { _mm256_storeu_si256(d.as_mut_ptr().cast(), _mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v)) }
}

/// Sixteen f32 from `s[i..i + 16]`.
#[inline]
#[target_feature(enable = "avx512f")]
fn load16f(s: &[f32], i: usize) -> __m512 {
    let s = &s[i..i + 16];
    // SAFETY: `s` has 16 elements: a 64-byte unaligned load stays in bounds.
    unsafe { _mm512_loadu_ps(s.as_ptr()) }
}

/// `RowOps::dots`, four rows at a time (a last group of fewer repeats its last row).
///
/// # Safety
/// The CPU must support AVX-512 F, AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn dots_512(k: &[f16], q: &[f32], dk: usize, active: &[usize], sums: &mut [f32]) {
    let np = dk - dk % 64;
    let k = &k[..np];
    for (out, rows) in sums.chunks_mut(4).zip(active.chunks(4)) {
        let row = |j: usize| {
            let r = rows[j.min(rows.len() - 1)];
            &q[r * dk..r * dk + np]
        };
        let d = dots4(k, [row(0), row(1), row(2), row(3)]);
        for (o, d) in out.iter_mut().zip(d) {
            *o = d;
        }
    }
}

/// The 64-element steps of `k · q[r]` for four rows, each in ggml's order and fold.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn dots4(k: &[f16], q: [&[f32]; 4]) -> [f32; 4] {
    let np = k.len();
    // acc[r][j]: accumulator j of row r.
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    let mut i = 0;
    while i < np {
        let kv = [load16h(k, i), load16h(k, i + 16), load16h(k, i + 32), load16h(k, i + 48)];
        for (a, q) in acc.iter_mut().zip(q) {
            for (j, a) in a.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(kv[j], load16f(q, i + 16 * j), *a);
            }
        }
        i += 64;
    }
    let mut x = [_mm512_setzero_ps(); 4];
    for (x, a) in x.iter_mut().zip(&acc) {
        *x = _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3]));
    }
    fold4(x)
}

/// The lane tree of ggml's fold for four rows at once: `h8[l] = x[l] + x[l + 8]`,
/// `h4[l] = h8[l] + h8[l + 4]`, total `(h4[0] + h4[2]) + (h4[1] + h4[3])`, with the rows
/// packed side by side so that each level is one or two additions for all four.
#[inline]
#[target_feature(enable = "avx512f")]
fn fold4(x: [__m512; 4]) -> [f32; 4] {
    // 128-bit quarters [x0.0, x0.1, x1.0, x1.1] + [x0.2, x0.3, x1.2, x1.3] = [h8 of x0, h8 of x1].
    let h01 = _mm512_add_ps(_mm512_shuffle_f32x4::<0x44>(x[0], x[1]), _mm512_shuffle_f32x4::<0xEE>(x[0], x[1]));
    let h23 = _mm512_add_ps(_mm512_shuffle_f32x4::<0x44>(x[2], x[3]), _mm512_shuffle_f32x4::<0xEE>(x[2], x[3]));
    // Low quarters of each h8 + high quarters: quarter r is h4 of row r.
    let h4 = _mm512_add_ps(_mm512_shuffle_f32x4::<0x88>(h01, h23), _mm512_shuffle_f32x4::<0xDD>(h01, h23));
    // Lanes [h4[0] + h4[2], h4[1] + h4[3], ..] in each quarter, then their sum in lane 0.
    let t = _mm512_add_ps(h4, _mm512_permute_ps::<0x4E>(h4));
    let u = _mm512_add_ps(t, _mm512_permute_ps::<0xB1>(t));
    let mut lanes = [0f32; 16];
    // SAFETY: `lanes` has 16 elements: a 64-byte unaligned store stays in bounds.
    unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), u) };
    [lanes[0], lanes[4], lanes[8], lanes[12]]
}

/// `RowOps::mad`: each 16-lane piece of `v` is widened once, then added into every row.
///
/// # Safety
/// The CPU must support AVX-512 F, AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn mad_rows_512(v: &[f16], acc: &mut [f16], dv: usize, active: &[usize], vs: &[f32]) {
    let n16 = dv - dv % 16;
    // Checked once here rather than per row and piece in the loop below.
    assert!(v.len() >= dv && active.iter().all(|&r| (r + 1) * dv <= acc.len()));
    let base = acc.as_mut_ptr();
    if let ([r0, r1, r2, r3], [s0, s1, s2, s3]) = (active, vs) {
        // Four rows (a prompt token's GQA group): their addresses and scales stay in registers
        // instead of being reloaded and multiplied out for every piece.
        // SAFETY: each r * dv + dv <= acc.len() (checked above).
        let rows = unsafe { [base.add(r0 * dv), base.add(r1 * dv), base.add(r2 * dv), base.add(r3 * dv)] };
        let s = [_mm512_set1_ps(*s0), _mm512_set1_ps(*s1), _mm512_set1_ps(*s2), _mm512_set1_ps(*s3)];
        for c in (0..n16).step_by(16) {
            let x = load16h(v, c);
            for j in 0..4 {
                // SAFETY: c + 16 <= dv: 16 f16 of row active[j].
                unsafe { update16(rows[j].add(c), x, s[j]) };
            }
        }
    } else {
        // SAFETY: the features are this function's; every row's bounds are checked above.
        unsafe { mad_any_rows(v, base, dv, n16, active, vs) };
    }
    if n16 < dv {
        for (&r, &s) in active.iter().zip(vs) {
            crate::attention::mad_f16(&mut acc[r * dv + n16..(r + 1) * dv], &v[n16..dv], s);
        }
    }
}

/// [`mad_rows_512`]'s pieces for any number of rows.
///
/// # Safety
/// As [`mad_rows_512`]; `base` is its `acc`, whose bounds it checked for every row of `active`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn mad_any_rows(v: &[f16], base: *mut f16, dv: usize, n16: usize, active: &[usize], vs: &[f32]) {
    for c in (0..n16).step_by(16) {
        let x = load16h(v, c);
        for (&r, &s) in active.iter().zip(vs) {
            // SAFETY: r * dv + c + 16 <= (r + 1) * dv <= acc.len() (checked by the caller): 16 f16
            // of row r.
            unsafe { update16(base.add(r * dv + c), x, _mm512_set1_ps(s)) };
        }
    }
}

/// `a[..16] = f16(x * s + a[..16])`, fused.
///
/// # Safety
/// The CPU must support AVX-512 F, AVX2, FMA and F16C; 16 f16 at `a` are readable and
/// writable (32 bytes, no alignment needed).
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn update16(a: *mut f16, x: __m512, s: __m512) {
    let a = a.cast::<__m256i>();
    // SAFETY: the caller guarantees the 32 bytes.
    unsafe {
        let t = _mm512_fmadd_ps(x, s, _mm512_cvtph_ps(_mm256_loadu_si256(a)));
        _mm256_storeu_si256(a, _mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(t));
    }
}

/// # Safety
/// The CPU must support AVX-512 F, AVX2, FMA and F16C.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
unsafe fn scale_512(acc: &mut [f16], s: f32) {
    let n = acc.len();
    let n16 = n - n % 16;
    let vs = _mm512_set1_ps(s);
    for i in (0..n16).step_by(16) {
        store16h(acc, i, _mm512_mul_ps(load16h(acc, i), vs));
    }
    crate::attention::scale_f16(&mut acc[n16..], s);
}
