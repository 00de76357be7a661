//! AVX-512 (F/BW/VL/VNNI) kernels for the 32-element block formats, bit-identical to the AVX2
//! ones in `avx2`.
//!
//! The AVX2 kernels fix the rounding: per block, eight i32 lanes (each the exact sum of four
//! neighbouring products) are converted to f32 and folded into an 8-lane accumulator by one FMA
//! with the block's scale, blocks in order. These kernels compute the same eight lanes, but two
//! blocks at a time in one 512-bit register and with one `vpdpbusd` in place of
//! `maddubs` + `madd` (equal here: `maddubs` never saturates on these operands, see `dot2_i8`),
//! then do the two blocks' FMAs on the register's halves in block order. So every float
//! operation sees the same values in the same order, and the results are equal bit for bit.
//!
//! Helpers are safe `#[target_feature]` functions; the public entry points are `unsafe` only
//! because the CPU must have the features.

use std::arch::x86_64::*;

use super::avx2::{hsum, ld128, ld256, nibbles};
use crate::quant::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ8_0, BlockQ8_1};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Two 32-byte halves as one 512-bit vector (`lo` in the low half).
#[inline]
#[target_feature(enable = "avx2,avx512f")]
pub(crate) fn join(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// The low and high eight f32 lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
pub(crate) fn halves(v: __m512) -> (__m256, __m256) {
    (_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))))
}

/// Unsigned bytes times signed bytes, each four neighbouring products summed, as f32 lanes:
/// what `avx2::dot_u8_i8` computes for two blocks at once.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
fn dot2_u8_i8(ux: __m512i, sy: __m512i) -> __m512 {
    _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ux, sy))
}

/// The operands `avx2::dot_i8` feeds to `maddubs`: `|x|` and `y` with the sign of `x` (where
/// `x` is 0 the product is 0 either way). `maddubs` cannot saturate on them: `|x| <= 128`, and
/// a product of 128 needs `x = -128`, whose partner is `-y`, at most 127 (or -128 wrapped), so
/// a pair stays within -32768..=32512 and its sum equals `vpdpbusd`'s exact one.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn sign_split(x: __m512i, y: __m512i) -> (__m512i, __m512i) {
    let neg = _mm512_movepi8_mask(x);
    (_mm512_abs_epi8(x), _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y))
}

/// Signed bytes times signed bytes, four neighbouring products summed, as f32 lanes: what
/// `avx2::dot_i8` computes for two blocks at once.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
fn dot2_i8(x: __m512i, y: __m512i) -> __m512 {
    let (ux, sy) = sign_split(x, y);
    dot2_u8_i8(ux, sy)
}

/// `avx2::dot_i8` for one block, with `vpdpbusd`.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot1_i8(x: __m256i, y: __m256i) -> __m256 {
    dot1_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// `avx2::dot_u8_i8` for one block, with `vpdpbusd`.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
fn dot1_u8_i8(ux: __m256i, sy: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ux, sy))
}

/// The 32 activation bytes of two consecutive blocks.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn qs2<T: bytemuck::Pod>(a: &[T], b: &[T]) -> __m512i {
    join(ld256(a), ld256(b))
}

/// Two blocks' 16 bytes of packed nibbles as 64 bytes: each block's low nibbles, then its high
/// ones (`avx2::nibbles` of each block, side by side).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn nibbles2(qs0: &[u8], qs1: &[u8]) -> __m512i {
    let t = _mm256_set_m128i(ld128(qs1), ld128(qs0));
    // 128-bit lanes (qs0, qs0, qs1, qs1); the odd lanes are shifted down by four.
    let t = _mm512_shuffle_i64x2::<0b01_01_00_00>(_mm512_castsi256_si512(t), _mm512_castsi256_si512(t));
    let shift = _mm512_set_epi64(
        4 * 0x0001_0001_0001_0001,
        4 * 0x0001_0001_0001_0001,
        0,
        0,
        4 * 0x0001_0001_0001_0001,
        4 * 0x0001_0001_0001_0001,
        0,
        0,
    );
    _mm512_and_si512(_mm512_srlv_epi16(t, shift), _mm512_set1_epi8(0x0F))
}

/// An f16 field widened to f32 in all eight lanes.
///
/// Not `_mm256_set1_ps(f16x(..))`: when only one lane of a conversion is used, LLVM loads the
/// f16 with `vpinsrw` into whatever register is at hand, often the accumulator, which chains
/// every block's conversion behind the previous block's FMA. A broadcast uses every lane.
#[inline]
#[target_feature(enable = "avx2,f16c")]
pub(crate) fn f16x8(b: [u8; 2]) -> __m256 {
    _mm256_cvtph_ps(_mm_set1_epi16(u16::from_le_bytes(b) as i16))
}

/// An f16 field as a scalar f32, converted in a register the loop never writes (see `f16x8`).
/// `zero` must come from `opaque_zero`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
pub(crate) fn f16s(b: [u8; 2], zero: __m128i) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_insert_epi16::<0>(zero, u16::from_le_bytes(b) as i32)))
}

/// A zero vector the optimizer cannot see is zero, so that `f16s` merges into it (a register
/// nothing else writes) rather than into a live accumulator.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn opaque_zero() -> __m128i {
    let mut z = _mm_setzero_si128();
    // SAFETY: an empty asm statement; it only hides the register's value from the optimizer.
    unsafe { std::arch::asm!("/* {0} */", inout(xmm_reg) z, options(pure, nomem, nostack, preserves_flags)) };
    z
}

/// `d_w * d_a` of a block, broadcast: the product the AVX2 kernels form as a scalar, computed
/// in every lane.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn scale(dw: [u8; 2], da: [u8; 2]) -> __m256 {
    _mm256_mul_ps(f16x8(dw), f16x8(da))
}

// ---------------------------------------------------------------------------------------------
// Block-pair kernels
// ---------------------------------------------------------------------------------------------

/// The loop shared by the 32-element formats: blocks two at a time, then a last odd one.
/// `$pair(i)` gives the f32 lanes of blocks `i` and `i + 1` (a `__m512`), `$one(i)` those of
/// block `i` (a `__m256`); `$d(i)` the block's scale vector. Accumulates into `$acc` in block
/// order.
macro_rules! blocks {
    ($n:expr, $acc:ident, $pair:expr, $one:expr, $d:expr) => {{
        let n = $n;
        let mut i = 0;
        while i + 2 <= n {
            let (lo, hi) = halves($pair(i));
            $acc = _mm256_fmadd_ps($d(i), lo, $acc);
            $acc = _mm256_fmadd_ps($d(i + 1), hi, $acc);
            i += 2;
        }
        if i < n {
            $acc = _mm256_fmadd_ps($d(i), $one(i), $acc);
        }
    }};
}

/// Q8_0 weights times Q8_0 activations; bit-identical to `avx2::vec_dot_q8_0`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    blocks!(
        x.len().min(y.len()),
        acc,
        |i: usize| dot2_i8(qs2(&x[i].qs, &x[i + 1].qs), qs2(&y[i].qs, &y[i + 1].qs)),
        |i: usize| dot1_i8(ld256(&x[i].qs), ld256(&y[i].qs)),
        |i: usize| scale(x[i].d, y[i].d)
    );
    hsum(acc)
}

/// Q4_0 weights times Q8_0 activations; bit-identical to `avx2::vec_dot_q4_0`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    blocks!(
        x.len().min(y.len()),
        acc,
        |i: usize| dot2_i8(q4_0_pair(&x[i], &x[i + 1]), qs2(&y[i].qs, &y[i + 1].qs)),
        |i: usize| dot1_i8(_mm256_sub_epi8(nibbles(&x[i].qs), _mm256_set1_epi8(8)), ld256(&y[i].qs)),
        |i: usize| scale(x[i].d, y[i].d)
    );
    hsum(acc)
}

/// Two Q4_0 blocks' values (-8..=7) as signed bytes.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn q4_0_pair(a: &BlockQ4_0, b: &BlockQ4_0) -> __m512i {
    _mm512_sub_epi8(nibbles2(&a.qs, &b.qs), _mm512_set1_epi8(8))
}

/// Q4_1 weights times Q8_1 activations; bit-identical to `avx2::vec_dot_q4_1`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let n = x.len().min(y.len());
    let mut acc = _mm256_setzero_ps();
    // The `m * s` terms are summed block by block in their own chain, interleaved with the
    // main one so that the two latency chains overlap.
    let mut summs = 0.0f32;
    let z = opaque_zero();
    let mut summ = |i: usize| summs = f16s(x[i].m, z).mul_add(f16s(y[i].s, z), summs);
    let mut i = 0;
    while i + 2 <= n {
        summ(i);
        summ(i + 1);
        let (lo, hi) = halves(dot2_u8_i8(nibbles2(&x[i].qs, &x[i + 1].qs), qs2(&y[i].qs, &y[i + 1].qs)));
        acc = _mm256_fmadd_ps(scale(x[i].d, y[i].d), lo, acc);
        acc = _mm256_fmadd_ps(scale(x[i + 1].d, y[i + 1].d), hi, acc);
        i += 2;
    }
    if i < n {
        summ(i);
        acc = _mm256_fmadd_ps(scale(x[i].d, y[i].d), dot1_u8_i8(nibbles(&x[i].qs), ld256(&y[i].qs)), acc);
    }
    hsum(acc) + summs
}

/// Two Q5_0 blocks' values (-16..=15) as signed bytes: where the fifth bit is clear the nibble
/// gets 0xF0 OR-ed on, which makes it nibble - 16 (as `avx2::vec_dot_q5_0` does).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn q5_0_pair(a: &BlockQ5_0, b: &BlockQ5_0) -> __m512i {
    let nib = nibbles2(&a.qs, &b.qs);
    let bits = u32::from_le_bytes(a.qh) as u64 | (u32::from_le_bytes(b.qh) as u64) << 32;
    _mm512_mask_blend_epi8(bits, _mm512_or_si512(nib, _mm512_set1_epi8(0xF0u8 as i8)), nib)
}

/// One Q5_0 block's values as signed bytes.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl")]
fn q5_0_one(a: &BlockQ5_0) -> __m256i {
    let nib = nibbles(&a.qs);
    _mm256_mask_blend_epi8(u32::from_le_bytes(a.qh), _mm256_or_si256(nib, _mm256_set1_epi8(0xF0u8 as i8)), nib)
}

/// Q5_0 weights times Q8_0 activations; bit-identical to `avx2::vec_dot_q5_0`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q5_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    blocks!(
        x.len().min(y.len()),
        acc,
        |i: usize| dot2_i8(q5_0_pair(&x[i], &x[i + 1]), qs2(&y[i].qs, &y[i + 1].qs)),
        |i: usize| dot1_i8(q5_0_one(&x[i]), ld256(&y[i].qs)),
        |i: usize| scale(x[i].d, y[i].d)
    );
    hsum(acc)
}

// ---------------------------------------------------------------------------------------------
// Four activation rows
// ---------------------------------------------------------------------------------------------

/// The four-row loop of the signed formats: each weight block pair is unpacked once (`$pair(i)`
/// and `$one(i)` give its signed bytes) and split into `|x|` and the sign mask once; each row's
/// arithmetic is then exactly that of the single-row kernel.
macro_rules! dot4_signed {
    ($x:expr, $y:expr, $pair:expr, $one:expr) => {{
        let (x, y) = ($x, $y);
        let n = y.iter().fold(x.len(), |n, r| n.min(r.len()));
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 2 <= n {
            let q = $pair(i);
            let neg = _mm512_movepi8_mask(q);
            let ux = _mm512_abs_epi8(q);
            let (d0, d1) = (f16x8(x[i].d), f16x8(x[i + 1].d));
            for t in 0..4 {
                let (b0, b1) = (&y[t][i], &y[t][i + 1]);
                let a = qs2(&b0.qs, &b1.qs);
                let sy = _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
                let (lo, hi) = halves(dot2_u8_i8(ux, sy));
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d0, f16x8(b0.d)), lo, acc[t]);
                acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d1, f16x8(b1.d)), hi, acc[t]);
            }
            i += 2;
        }
        if i < n {
            let q = $one(i);
            let dx = f16x8(x[i].d);
            for t in 0..4 {
                let b = &y[t][i];
                let d = _mm256_mul_ps(dx, f16x8(b.d));
                acc[t] = _mm256_fmadd_ps(d, dot1_i8(q, ld256(&b.qs)), acc[t]);
            }
        }
        acc.map(|a| hsum(a))
    }};
}

/// `vec_dot_q8_0` for four activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q8_0_x4(x: &[BlockQ8_0], y: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    dot4_signed!(x, y, |i: usize| qs2(&x[i].qs, &x[i + 1].qs), |i: usize| ld256(&x[i].qs))
}

/// `vec_dot_q4_0` for four activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_0_x4(x: &[BlockQ4_0], y: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    dot4_signed!(x, y, |i: usize| q4_0_pair(&x[i], &x[i + 1]), |i: usize| _mm256_sub_epi8(
        nibbles(&x[i].qs),
        _mm256_set1_epi8(8)
    ))
}

/// `vec_dot_q5_0` for four activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q5_0_x4(x: &[BlockQ5_0], y: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    dot4_signed!(x, y, |i: usize| q5_0_pair(&x[i], &x[i + 1]), |i: usize| q5_0_one(&x[i]))
}

/// `vec_dot_q4_1` for four activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_1_x4(x: &[BlockQ4_1], y: [&[BlockQ8_1]; 4]) -> [f32; 4] {
    let n = y.iter().fold(x.len(), |n, r| n.min(r.len()));
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut summs = [0.0f32; 4];
    let z = opaque_zero();
    for (i, a) in x[..n].iter().enumerate() {
        let mx = f16s(a.m, z);
        for t in 0..4 {
            summs[t] = mx.mul_add(f16s(y[t][i].s, z), summs[t]);
        }
    }
    let mut i = 0;
    while i + 2 <= n {
        let q = nibbles2(&x[i].qs, &x[i + 1].qs);
        let (d0, d1) = (f16x8(x[i].d), f16x8(x[i + 1].d));
        for t in 0..4 {
            let (b0, b1) = (&y[t][i], &y[t][i + 1]);
            let (lo, hi) = halves(dot2_u8_i8(q, qs2(&b0.qs, &b1.qs)));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d0, f16x8(b0.d)), lo, acc[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d1, f16x8(b1.d)), hi, acc[t]);
        }
        i += 2;
    }
    if i < n {
        let q = nibbles(&x[i].qs);
        let dx = f16x8(x[i].d);
        for t in 0..4 {
            let b = &y[t][i];
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dx, f16x8(b.d)), dot1_u8_i8(q, ld256(&b.qs)), acc[t]);
        }
    }
    [0, 1, 2, 3].map(|t| hsum(acc[t]) + summs[t])
}

// ---------------------------------------------------------------------------------------------
// Four weight rows, one activation row (decoding)
// ---------------------------------------------------------------------------------------------

/// The single-row kernels above are bound by their one FMA chain (one FMA per block, four
/// cycles each), not by memory. These run four weight rows against one activation row with
/// four independent chains in 256-bit registers (full rate on CPUs that split 512-bit ops);
/// each row's float operations are exactly those of the AVX2 single-row kernel.
macro_rules! rows4_offset {
    ($w:expr, $y:expr, $off:expr, $unsigned:expr) => {{
        let (w, y) = ($w, $y);
        let n = w.iter().fold(y.len(), |n, r| n.min(r.len()));
        let mut acc = [_mm256_setzero_ps(); 4];
        let (zero, off) = (_mm256_setzero_si256(), _mm256_set1_epi8($off as i8));
        for i in 0..n {
            let a = ld256(&y[i].qs);
            let da = f16x8(y[i].d);
            // `vpdpbusd` multiplies the unsigned `w + off` by the signed activations; starting
            // from `-off * (each lane's four activations)` leaves exactly the sums of `w * a`
            // that `dot1_i8` computes (with two sign ops per row), once per block for all rows.
            let init = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, off, a));
            for r in 0..4 {
                let u = $unsigned(&w[r][i]);
                let p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(init, u, a));
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(f16x8(w[r][i].d), da), p, acc[r]);
            }
        }
        acc.map(|v| hsum(v))
    }};
}

/// Four Q8_0 weight rows times one Q8_0 activation row; each result bit-identical to
/// `avx2::vec_dot_q8_0` on that row.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q8_0_rows4(w: [&[BlockQ8_0]; 4], y: &[BlockQ8_0]) -> [f32; 4] {
    // The sign bit flipped: the value plus 128.
    rows4_offset!(w, y, 0x80u8, |b: &BlockQ8_0| _mm256_xor_si256(ld256(&b.qs), _mm256_set1_epi8(0x80u8 as i8)))
}

/// Four Q4_0 weight rows times one Q8_0 activation row (see `vec_dot_q8_0_rows4`).
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_0_rows4(w: [&[BlockQ4_0]; 4], y: &[BlockQ8_0]) -> [f32; 4] {
    // The nibbles as stored: the value plus 8.
    rows4_offset!(w, y, 8u8, |b: &BlockQ4_0| nibbles(&b.qs))
}

/// Four Q5_0 weight rows times one Q8_0 activation row (see `vec_dot_q8_0_rows4`).
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q5_0_rows4(w: [&[BlockQ5_0]; 4], y: &[BlockQ8_0]) -> [f32; 4] {
    // The nibble plus 16 where the fifth bit is set: the value plus 16.
    rows4_offset!(w, y, 16u8, |b: &BlockQ5_0| {
        let nib = nibbles(&b.qs);
        _mm256_mask_add_epi8(nib, u32::from_le_bytes(b.qh), nib, _mm256_set1_epi8(16))
    })
}

/// Four Q4_1 weight rows times one Q8_1 activation row; each result bit-identical to
/// `avx2::vec_dot_q4_1` on that row (its `m * s` chain included).
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_1_rows4(w: [&[BlockQ4_1]; 4], y: &[BlockQ8_1]) -> [f32; 4] {
    let n = w.iter().fold(y.len(), |n, r| n.min(r.len()));
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut summs = [0.0f32; 4];
    let z = opaque_zero();
    for i in 0..n {
        let a = ld256(&y[i].qs);
        let (da, s) = (f16x8(y[i].d), f16s(y[i].s, z));
        for r in 0..4 {
            let b = &w[r][i];
            summs[r] = f16s(b.m, z).mul_add(s, summs[r]);
            let p = dot1_u8_i8(nibbles(&b.qs), a);
            acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(f16x8(b.d), da), p, acc[r]);
        }
    }
    std::array::from_fn(|r| hsum(acc[r]) + summs[r])
}
