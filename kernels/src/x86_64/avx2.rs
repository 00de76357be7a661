//! AVX2 + FMA + F16C kernels for the 32-element block formats and the float types.
//!
//! They compute what the scalar kernels in `quant` compute, in the way ggml's x86 build does:
//! integer products with `maddubs`/`madd` (exact), per-block scaling into eight f32 lanes with
//! FMA, one horizontal sum at the end. Only the f32 summation order differs from the scalar
//! twins, so results agree to a few ulps; the quantizers agree bit for bit.
//!
//! Helpers are safe `#[target_feature]` functions that bounds-check their slices; the public
//! entry points are `unsafe` only because the CPU must have the features.

use std::arch::x86_64::*;

use crate::quant::iq4_nl::KVALUES;
use crate::quant::{BlockIq4Nl, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Loads 32 bytes from the front of `s`.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn ld256<T: bytemuck::Pod>(s: &[T]) -> __m256i {
    let b: &[u8] = bytemuck::cast_slice(s);
    assert!(b.len() >= 32);
    // SAFETY: 32 bytes are readable (checked above); the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Loads 16 bytes from the front of `s`.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn ld128<T: bytemuck::Pod>(s: &[T]) -> __m128i {
    let b: &[u8] = bytemuck::cast_slice(s);
    assert!(b.len() >= 16);
    // SAFETY: 16 bytes are readable (checked above); the load has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// Stores 32 bytes to the front of `s`.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn st256<T: bytemuck::Pod>(s: &mut [T], v: __m256i) {
    let b: &mut [u8] = bytemuck::cast_slice_mut(s);
    assert!(b.len() >= 32);
    // SAFETY: 32 bytes are writable (checked above); the store has no alignment requirement.
    unsafe { _mm256_storeu_si256(b.as_mut_ptr().cast(), v) }
}

/// Loads 8 f32 from `s[i..i + 8]`, `s` given as raw little-endian bytes of any alignment.
#[inline]
#[target_feature(enable = "avx2")]
fn ld_f32x8(s: &[u8], i: usize) -> __m256 {
    assert!(s.len() >= 4 * (i + 8));
    // SAFETY: in bounds (checked above); unaligned loads are allowed.
    unsafe { _mm256_loadu_ps(s.as_ptr().add(4 * i).cast()) }
}

/// Widens 8 f16 stored at `s[2i..2i + 16]` (raw bytes) to f32.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn ld_f16x8(s: &[u8], i: usize) -> __m256 {
    assert!(s.len() >= 2 * (i + 8));
    // SAFETY: in bounds (checked above); unaligned loads are allowed.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(s.as_ptr().add(2 * i).cast()) })
}

/// Widens 8 bf16 stored at `s[2i..2i + 16]` (raw bytes) to f32: each becomes an f32's top half.
#[inline]
#[target_feature(enable = "avx2")]
fn ld_bf16x8(s: &[u8], i: usize) -> __m256 {
    assert!(s.len() >= 2 * (i + 8));
    // SAFETY: in bounds (checked above); unaligned loads are allowed.
    let h = unsafe { _mm_loadu_si128(s.as_ptr().add(2 * i).cast()) };
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
}

/// Reads an f16 field with F16C. The value is broadcast rather than moved into lane 0: LLVM
/// turns a lane-0 move into a `vpinsrw` that merges into whatever register it picks, often a
/// live accumulator, which chains every block's scale conversion behind the previous block's
/// FMA; a broadcast writes a whole register and depends on nothing.
#[inline]
#[target_feature(enable = "avx2,f16c")]
pub(crate) fn f16x(b: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(u16::from_le_bytes(b) as i16)))
}

/// Encodes an f16 field with F16C, rounding to nearest even.
#[inline]
#[target_feature(enable = "avx2,f16c")]
pub(crate) fn to_f16x(x: f32) -> [u8; 2] {
    let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(x));
    (_mm_cvtsi128_si32(h) as u16).to_le_bytes()
}

/// Sum of the 8 lanes, halves first (the order of ggml's `hsum_float_8`).
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Sum of 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// 16 bytes of packed nibbles to 32 bytes: low nibbles in the low lane, high ones in the high.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn nibbles(qs: &[u8]) -> __m256i {
    let t = ld128(qs);
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16::<4>(t), t), _mm256_set1_epi8(0x0F))
}

/// The 32 bits of `qh` as bytes: 0xFF where bit i is set, 0 elsewhere.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn bits_to_bytes(qh: [u8; 4]) -> __m256i {
    // Byte i takes source byte i / 8; shuffles work per 128-bit lane, and the word is
    // broadcast, so the high lane can name bytes 2 and 3 by their in-lane index too.
    let spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(i32::from_le_bytes(qh)),
        _mm256_setr_epi64x(0, 0x0101_0101_0101_0101, 0x0202_0202_0202_0202, 0x0303_0303_0303_0303),
    );
    let select = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select)
}

/// Signed bytes times signed bytes, each four neighbouring products summed, as f32 lanes.
/// `maddubs` wants an unsigned operand, so the sign of `x` moves onto `y` first.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn dot_i8(x: __m256i, y: __m256i) -> __m256 {
    dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// Unsigned bytes times signed bytes, each four neighbouring products summed, as f32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn dot_u8_i8(ux: __m256i, sy: __m256i) -> __m256 {
    let p16 = _mm256_maddubs_epi16(ux, sy);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)))
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers
// ---------------------------------------------------------------------------------------------

/// Rounds a 32-element block to integers the way ggml's x86 `quantize_row_q8_0/1` do; returns
/// `d` and the four i32 vectors.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn round_block32(x: &[f32]) -> (f32, [__m256i; 4]) {
    assert!(x.len() >= 32);
    // SAFETY: 32 floats are readable (checked above).
    let v: [__m256; 4] = std::array::from_fn(|k| unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * k)) });
    let sign = _mm256_set1_ps(-0.0);
    let m = _mm256_max_ps(
        _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
        _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])),
    );
    let m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
    let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    let amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    let d = amax / 127.0;
    let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
    let q = v.map(|v| {
        _mm256_cvtps_epi32(_mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(v, id)))
    });
    (d, q)
}

/// Packs four vectors of 8 i32 (elements 0..32 in order) into 32 saturated bytes, in order.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn pack_i32_to_i8(q: [__m256i; 4]) -> __m256i {
    // The packs work per 128-bit lane and interleave the lanes; the permute restores order.
    let a = _mm256_packs_epi32(q[0], q[1]);
    let b = _mm256_packs_epi32(q[2], q[3]);
    _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// Q8_0 activations; bit-identical to `quant::q8_0::quantize`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    for (x, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let (d, q) = round_block32(x);
        b.d = to_f16x(d);
        st256(&mut b.qs, pack_i32_to_i8(q));
    }
}

/// Q8_1 activations; bit-identical to `quant::q8_1::quantize`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    for (x, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let (d, q) = round_block32(x);
        b.d = to_f16x(d);
        let sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        b.s = to_f16x(d * sum as f32);
        st256(&mut b.qs, pack_i32_to_i8(q));
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products of the 32-element formats
// ---------------------------------------------------------------------------------------------

/// Q4_0 weights times Q8_0 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in x.iter().zip(y) {
        let d = _mm256_set1_ps(f16x(a.d) * f16x(b.d));
        let qx = _mm256_sub_epi8(nibbles(&a.qs), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(d, dot_i8(qx, ld256(&b.qs)), acc);
    }
    hsum(acc)
}

/// Q4_1 weights times Q8_1 activations: `d*q` through the integer dot, `m` through `s`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        // ggml's C is built with fused multiply-adds allowed, so this sum is an FMA there.
        summs = f16x(a.m).mul_add(f16x(b.s), summs);
        let d = _mm256_set1_ps(f16x(a.d) * f16x(b.d));
        acc = _mm256_fmadd_ps(d, dot_u8_i8(nibbles(&a.qs), ld256(&b.qs)), acc);
    }
    hsum(acc) + summs
}

/// `vec_dot_q4_0` for four activation rows: the weights are unpacked once per block; each row's
/// arithmetic is exactly that of the single-row kernel.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_0_x4(x: &[BlockQ4_0], y: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    let mut acc = [_mm256_setzero_ps(); 4];
    for (i, a) in x.iter().enumerate() {
        let dx = f16x(a.d);
        let qx = _mm256_sub_epi8(nibbles(&a.qs), _mm256_set1_epi8(8));
        for (acc, y) in acc.iter_mut().zip(y) {
            let b = &y[i];
            let d = _mm256_set1_ps(dx * f16x(b.d));
            *acc = _mm256_fmadd_ps(d, dot_i8(qx, ld256(&b.qs)), *acc);
        }
    }
    acc.map(|a| hsum(a))
}

/// `vec_dot_q4_1` for four activation rows (see `vec_dot_q4_0_x4`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_1_x4(x: &[BlockQ4_1], y: [&[BlockQ8_1]; 4]) -> [f32; 4] {
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut summs = [0.0f32; 4];
    for (i, a) in x.iter().enumerate() {
        let (dx, mx) = (f16x(a.d), f16x(a.m));
        let qx = nibbles(&a.qs);
        for t in 0..4 {
            let b = &y[t][i];
            summs[t] = mx.mul_add(f16x(b.s), summs[t]);
            let d = _mm256_set1_ps(dx * f16x(b.d));
            acc[t] = _mm256_fmadd_ps(d, dot_u8_i8(qx, ld256(&b.qs)), acc[t]);
        }
    }
    [0, 1, 2, 3].map(|t| hsum(acc[t]) + summs[t])
}

/// Q5_0 weights times Q8_0 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q5_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in x.iter().zip(y) {
        let d = _mm256_set1_ps(f16x(a.d) * f16x(b.d));
        // Where the 5th bit is clear, OR-ing 0xF0 onto the nibble yields nibble - 16 as a
        // signed byte; where it is set, the nibble alone equals (nibble + 16) - 16.
        let high = _mm256_andnot_si256(bits_to_bytes(a.qh), _mm256_set1_epi8(0xF0u8 as i8));
        let qx = _mm256_or_si256(nibbles(&a.qs), high);
        acc = _mm256_fmadd_ps(d, dot_i8(qx, ld256(&b.qs)), acc);
    }
    hsum(acc)
}

/// Q5_1 weights times Q8_1 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q5_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        // ggml's C is built with fused multiply-adds allowed, so this sum is an FMA there.
        summs = f16x(a.m).mul_add(f16x(b.s), summs);
        let d = _mm256_set1_ps(f16x(a.d) * f16x(b.d));
        let high = _mm256_and_si256(bits_to_bytes(a.qh), _mm256_set1_epi8(0x10));
        let qx = _mm256_or_si256(nibbles(&a.qs), high);
        acc = _mm256_fmadd_ps(dot_u8_i8(qx, ld256(&b.qs)), d, acc);
    }
    hsum(acc) + summs
}

/// Q8_0 weights times Q8_0 activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in x.iter().zip(y) {
        let d = _mm256_set1_ps(f16x(a.d) * f16x(b.d));
        acc = _mm256_fmadd_ps(d, dot_i8(ld256(&a.qs), ld256(&b.qs)), acc);
    }
    hsum(acc)
}

/// IQ4_NL weights times Q8_0 activations; a byte shuffle looks the nibbles up in the table.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq4_nl(x: &[BlockIq4Nl], y: &[BlockQ8_0]) -> f32 {
    let table = ld128(&KVALUES);
    let m4 = _mm_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    for (a, b) in x.iter().zip(y) {
        let d = _mm256_set1_ps(f16x(b.d) * f16x(a.d));
        let t = ld128(&a.qs);
        let lo = _mm_shuffle_epi8(table, _mm_and_si128(t, m4));
        let hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16::<4>(t), m4));
        acc = _mm256_fmadd_ps(d, dot_i8(_mm256_set_m128i(hi, lo), ld256(&b.qs)), acc);
    }
    hsum(acc)
}

// ---------------------------------------------------------------------------------------------
// Float rows
// ---------------------------------------------------------------------------------------------

/// Four 8-lane accumulators reduced pairwise, as ggml's `GGML_F32_VEC_REDUCE` does.
#[inline]
#[target_feature(enable = "avx2")]
fn reduce4(acc: [__m256; 4]) -> f32 {
    hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3])))
}

/// The float dot loop: 32 elements per step into four accumulators, then 8 at a time, then a
/// scalar tail. `$ld(slice, i)` loads 8 widened lanes starting at element `i`; `$one(slice, i)`
/// reads one element.
macro_rules! float_dot {
    ($w:expr, $a:expr, $n:expr, $ld:ident, $one:expr) => {{
        let (w, a, n) = ($w, $a, $n);
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            acc[0] = _mm256_fmadd_ps($ld(w, i), $ld(a, i), acc[0]);
            acc[1] = _mm256_fmadd_ps($ld(w, i + 8), $ld(a, i + 8), acc[1]);
            acc[2] = _mm256_fmadd_ps($ld(w, i + 16), $ld(a, i + 16), acc[2]);
            acc[3] = _mm256_fmadd_ps($ld(w, i + 24), $ld(a, i + 24), acc[3]);
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps($ld(w, i), $ld(a, i), acc[0]);
            i += 8;
        }
        let mut sum = reduce4(acc);
        while i < n {
            sum += $one(w, i) * $one(a, i);
            i += 1;
        }
        sum
    }};
}

fn f32_at(s: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]])
}

fn f16_at(s: &[u8], i: usize) -> f32 {
    crate::f16_to_f32(u16::from_le_bytes([s[2 * i], s[2 * i + 1]]))
}

fn bf16_at(s: &[u8], i: usize) -> f32 {
    crate::quant::float::bf16_to_f32(u16::from_le_bytes([s[2 * i], s[2 * i + 1]]))
}

/// Dot product of two f32 slices (the shorter length wins).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b): (&[u8], &[u8]) = (bytemuck::cast_slice(&a[..n]), bytemuck::cast_slice(&b[..n]));
    float_dot!(a, b, n, ld_f32x8, f32_at)
}

/// F32 weight row (raw bytes, any alignment) times an f32 activation row (bytes).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_f32(w: &[u8], a: &[u8]) -> f32 {
    let n = w.len().min(a.len()) / 4;
    float_dot!(w, a, n, ld_f32x8, f32_at)
}

/// F16 weight row times F16 activation row (raw bytes), widened to f32 with F16C.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_f16(w: &[u8], a: &[u8]) -> f32 {
    let n = w.len().min(a.len()) / 2;
    float_dot!(w, a, n, ld_f16x8, f16_at)
}

/// BF16 weight row times BF16 activation row (raw bytes).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_bf16(w: &[u8], a: &[u8]) -> f32 {
    let n = w.len().min(a.len()) / 2;
    float_dot!(w, a, n, ld_bf16x8, bf16_at)
}

/// f32 to F16 row bytes with F16C (round to nearest even, like the scalar path).
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_f16(x: &[f32], out: &mut [u8]) {
    let n = x.len().min(out.len() / 2);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n bounds both the 8 floats read and the 16 bytes written.
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(x.as_ptr().add(i)));
            _mm_storeu_si128(out.as_mut_ptr().add(2 * i).cast(), h);
        }
        i += 8;
    }
    crate::quant::float::quantize_f16(&x[i..n], &mut out[2 * i..2 * n]);
}

/// `y += a * x` over the shorter length.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let av = _mm256_set1_ps(a);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n bounds the 8 floats read from x and read/written in y.
        unsafe {
            let yp = y.as_mut_ptr().add(i);
            _mm256_storeu_ps(yp, _mm256_fmadd_ps(av, _mm256_loadu_ps(x.as_ptr().add(i)), _mm256_loadu_ps(yp)));
        }
        i += 8;
    }
    for j in i..n {
        y[j] = a.mul_add(x[j], y[j]);
    }
}
