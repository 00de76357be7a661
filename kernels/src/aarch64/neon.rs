//! NEON kernels for the 32-element block formats and the float types, each in two flavours:
//! plain NEON (`vmull_s8` + pairwise widening adds) and NEON with the dot-product extension
//! (`sdot`), the two integer-dot paths of ggml's ARM build (`ggml_vdotq_s32`).
//!
//! Integer work per block is exact and reduced to one i32 per block, which is then scaled in the
//! expression and order of the scalar twin; the float dots keep the scalar twins' eight running
//! sums as two 4-lane registers. So on arm64 every kernel here is bit-identical to its scalar
//! reference, not only the quantizers (which must be).
//!
//! The bodies are generic over [`I8Dot`]; each public entry point instantiates one flavour inside
//! a `#[target_feature]` function, which is what makes `sdot` legal there. Rust 1.95 has no
//! stable `vdotq_s32`, so [`Sdot`] issues the instruction through `asm!`; likewise the f16
//! conversions (`fcvtl`/`fcvtn`), whose intrinsics need the unstable `f16` type.

use std::arch::aarch64::*;
use std::arch::asm;

use crate::quant::iq4_nl::KVALUES;
use crate::quant::{f16, to_f16};
use crate::quant::{BlockIq4Nl, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Four-way signed byte dot product into i32 lanes: `acc + sum of products`, grouped per lane in
/// a way that depends on the flavour; only the total of the lanes is meaningful. A value of an
/// implementing type is proof that the CPU has the instructions it uses.
pub(crate) trait I8Dot: Copy {
    fn dot(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;
}

/// Plain NEON: widening multiplies into i16 (|a * b| <= 2^14 cannot overflow), then pairwise
/// widening adds.
#[derive(Clone, Copy)]
pub(crate) struct Mull(());

impl Mull {
    /// # Safety
    /// The CPU must have NEON.
    #[inline(always)]
    pub(crate) unsafe fn new() -> Mull {
        Mull(())
    }
}

impl I8Dot for Mull {
    #[inline(always)]
    fn dot(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: the token proves the CPU has NEON.
        unsafe { dot_mull(acc, a, b) }
    }
}

#[inline]
#[target_feature(enable = "neon")]
fn dot_mull(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    let p1 = vmull_high_s8(a, b);
    vaddq_s32(acc, vaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1)))
}

/// `sdot`: each i32 lane gains the sum of four neighbouring byte products.
#[derive(Clone, Copy)]
pub(crate) struct Sdot(());

impl Sdot {
    /// # Safety
    /// The CPU must have NEON and the dot-product extension (`dotprod`).
    #[inline(always)]
    pub(crate) unsafe fn new() -> Sdot {
        Sdot(())
    }
}

impl I8Dot for Sdot {
    #[inline(always)]
    fn dot(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: the token proves the CPU has the dot-product extension.
        unsafe { dot_sdot(acc, a, b) }
    }
}

/// Compiled with `dotprod` so that the assembler accepts `sdot`; inlined into the kernels that
/// use it, which are themselves inlined into `neon,dotprod` entry points.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn dot_sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: a register-only instruction, which this function's target features allow.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// Loads 16 bytes from the front of `s`.
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn ld_u8<T: bytemuck::Pod>(s: &[T]) -> uint8x16_t {
    let b: &[u8] = bytemuck::cast_slice(s);
    assert!(b.len() >= 16);
    // SAFETY: 16 bytes are readable (checked above); `ld1` has no alignment requirement.
    unsafe { vld1q_u8(b.as_ptr()) }
}

/// Loads 16 signed bytes from the front of `s`.
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn ld_i8<T: bytemuck::Pod>(s: &[T]) -> int8x16_t {
    vreinterpretq_s8_u8(ld_u8(s))
}

/// Stores 16 bytes to the front of `s`.
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn st_i8(s: &mut [i8], v: int8x16_t) {
    assert!(s.len() >= 16);
    // SAFETY: 16 bytes are writable (checked above); `st1` has no alignment requirement.
    unsafe { vst1q_s8(s.as_mut_ptr(), v) }
}

/// Loads 4 f32 from `s[i..i + 4]`.
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn ld_f32(s: &[f32], i: usize) -> float32x4_t {
    assert!(s.len() >= i + 4);
    // SAFETY: in bounds (checked above).
    unsafe { vld1q_f32(s.as_ptr().add(i)) }
}

/// Loads 4 f32 stored at `s[4i..4i + 16]` (raw little-endian bytes of any alignment).
#[inline]
#[target_feature(enable = "neon")]
fn ld_f32_bytes(s: &[u8], i: usize) -> float32x4_t {
    vreinterpretq_f32_u8(ld_u8(&s[4 * i..]))
}

/// Loads 4 u16 stored at `s[2i..2i + 8]` (raw little-endian bytes of any alignment).
#[inline]
#[target_feature(enable = "neon")]
fn ld_u16x4_bytes(s: &[u8], i: usize) -> uint16x4_t {
    let s = &s[2 * i..2 * i + 8];
    // SAFETY: `s` has exactly 8 bytes; `ld1` has no alignment requirement.
    vreinterpret_u16_u8(unsafe { vld1_u8(s.as_ptr()) })
}

/// Widens 4 f16 (as bits) to f32, exactly (`fcvtl`).
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn f16x4_to_f32(h: uint16x4_t) -> float32x4_t {
    let r: float32x4_t;
    // SAFETY: a register-only instruction of the baseline SIMD&FP ISA.
    unsafe {
        asm!(
            "fcvtl {r:v}.4s, {h:v}.4h",
            r = lateout(vreg) r,
            h = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    r
}

/// Narrows 4 f32 to f16 bits (`fcvtn`), rounding to nearest even as `half::f16::from_f32` does
/// (Linux runs user code with the default rounding mode and without flush-to-zero).
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn f32x4_to_f16(v: float32x4_t) -> uint16x4_t {
    let r: uint16x4_t;
    // SAFETY: a register-only instruction of the baseline SIMD&FP ISA.
    unsafe {
        asm!(
            "fcvtn {r:v}.4h, {v:v}.4s",
            r = lateout(vreg) r,
            v = in(vreg) v,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    r
}

/// 4 f16 at `s[2i..2i + 8]` (raw bytes) as f32.
#[inline]
#[target_feature(enable = "neon")]
fn ld_f16_bytes(s: &[u8], i: usize) -> float32x4_t {
    f16x4_to_f32(ld_u16x4_bytes(s, i))
}

/// 4 bf16 at `s[2i..2i + 8]` (raw bytes) as f32: each becomes an f32's top half.
#[inline]
#[target_feature(enable = "neon")]
fn ld_bf16_bytes(s: &[u8], i: usize) -> float32x4_t {
    vreinterpretq_f32_u32(vshll_n_u16::<16>(ld_u16x4_bytes(s, i)))
}

/// Low and high nibbles of 16 packed bytes, as signed bytes 0..15.
#[inline]
#[target_feature(enable = "neon")]
fn nibbles(q: uint8x16_t) -> (int8x16_t, int8x16_t) {
    (vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), vreinterpretq_s8_u8(vshrq_n_u8::<4>(q)))
}

/// The 5th bits of Q5_0/Q5_1 as two byte vectors (elements 0..16 and 16..32): 0x10 where the
/// element's bit of `qh` is set, 0 elsewhere.
#[inline]
#[target_feature(enable = "neon")]
fn fifth_bits(qh: [u8; 4]) -> (uint8x16_t, uint8x16_t) {
    let w = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_le_bytes(qh)));
    // Byte j takes source byte j / 8 and tests bit j % 8.
    let spread = |b0: u8, b1: u8| vqtbl1q_u8(w, vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1)));
    let select = vreinterpretq_u8_u64(vdupq_n_u64(0x8040_2010_0804_0201));
    let bit = |v| vandq_u8(vtstq_u8(v, select), vdupq_n_u8(0x10));
    (bit(spread(0, 1)), bit(spread(2, 3)))
}

/// Sum of the products of two 32-byte blocks given as halves.
#[inline]
#[target_feature(enable = "neon")]
fn dot32<D: I8Dot>(d: D, x: (int8x16_t, int8x16_t), y: &[i8]) -> i32 {
    vaddvq_s32(d.dot(d.dot(vdupq_n_s32(0), x.0, ld_i8(y)), x.1, ld_i8(&y[16..])))
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers
// ---------------------------------------------------------------------------------------------

/// Rounds a 32-element block to integers as `quant::q8_0::quantize` does: returns `d` and the
/// eight i32 vectors `round_ties_even(x * id)` (saturated to i32, NaN to 0, as `as i32` does).
#[inline]
#[target_feature(enable = "neon")]
fn round_block32(x: &[f32]) -> (f32, [int32x4_t; 8]) {
    let v: [float32x4_t; 8] = std::array::from_fn(|k| ld_f32(x, 4 * k));
    // `maxnm` ignores NaNs as `f32::max` does; starting from 0 matches the scalar fold.
    let amax = vmaxvq_f32(v.iter().fold(vdupq_n_f32(0.0), |m, &v| vmaxnmq_f32(m, vabsq_f32(v))));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    (d, v.map(|v| vcvtnq_s32_f32(vmulq_n_f32(v, id))))
}

/// Q8_0 activations; bit-identical to `quant::q8_0::quantize` (`as i8` saturates, and so do
/// the narrowing moves).
///
/// # Safety
/// The CPU must have NEON (every arm64 CPU does).
#[target_feature(enable = "neon")]
pub unsafe fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    for (x, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let (d, q) = round_block32(x);
        b.d = to_f16(d);
        for h in 0..2 {
            let q = &q[4 * h..4 * h + 4];
            let lo = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
            let hi = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
            st_i8(&mut b.qs[16 * h..], vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
        }
    }
}

/// Q8_1 activations; bit-identical to `quant::q8_1::quantize` (the sum is over the i32
/// integers, and `r as i8` truncates, as the plain narrowing moves do).
///
/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
pub unsafe fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    for (x, b) in x.chunks_exact(32).zip(y.iter_mut()) {
        let (d, q) = round_block32(x);
        b.d = to_f16(d);
        let sum = q.iter().fold(vdupq_n_s32(0), |s, &v| vaddq_s32(s, v));
        for h in 0..2 {
            let q = &q[4 * h..4 * h + 4];
            let lo = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
            let hi = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
            st_i8(&mut b.qs[16 * h..], vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
        }
        b.s = to_f16(d * vaddvq_s32(sum) as f32);
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products of the 32-element formats
// ---------------------------------------------------------------------------------------------

#[inline]
#[target_feature(enable = "neon")]
fn q4_0<D: I8Dot>(d: D, x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let eight = vdupq_n_s8(8);
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let (lo, hi) = nibbles(ld_u8(&a.qs));
        let sumi = dot32(d, (vsubq_s8(lo, eight), vsubq_s8(hi, eight)), &b.qs);
        sumf += sumi as f32 * f16(a.d) * f16(b.d);
    }
    sumf
}

#[inline]
#[target_feature(enable = "neon")]
fn q4_1<D: I8Dot>(d: D, x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let sumi = dot32(d, nibbles(ld_u8(&a.qs)), &b.qs);
        sumf += (f16(a.d) * f16(b.d)) * sumi as f32 + f16(a.m) * f16(b.s);
    }
    sumf
}

/// The 32 five-bit values of a Q5_0/Q5_1 block, unsigned (0..31).
#[inline]
#[target_feature(enable = "neon")]
fn five_bit(qs: &[u8; 16], qh: [u8; 4]) -> (int8x16_t, int8x16_t) {
    let q = ld_u8(qs);
    let (h0, h1) = fifth_bits(qh);
    let lo = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0F)), h0);
    let hi = vorrq_u8(vshrq_n_u8::<4>(q), h1);
    (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi))
}

#[inline]
#[target_feature(enable = "neon")]
fn q5_0<D: I8Dot>(d: D, x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    let sixteen = vdupq_n_s8(16);
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let (lo, hi) = five_bit(&a.qs, a.qh);
        let sumi = dot32(d, (vsubq_s8(lo, sixteen), vsubq_s8(hi, sixteen)), &b.qs);
        sumf += (f16(a.d) * f16(b.d)) * sumi as f32;
    }
    sumf
}

#[inline]
#[target_feature(enable = "neon")]
fn q5_1<D: I8Dot>(d: D, x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let sumi = dot32(d, five_bit(&a.qs, a.qh), &b.qs);
        sumf += (f16(a.d) * f16(b.d)) * sumi as f32 + f16(a.m) * f16(b.s);
    }
    sumf
}

#[inline]
#[target_feature(enable = "neon")]
fn q8_0<D: I8Dot>(d: D, x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let sumi = dot32(d, (ld_i8(&a.qs), ld_i8(&a.qs[16..])), &b.qs);
        sumf += sumi as f32 * (f16(a.d) * f16(b.d));
    }
    sumf
}

#[inline]
#[target_feature(enable = "neon")]
fn iq4_nl<D: I8Dot>(d: D, x: &[BlockIq4Nl], y: &[BlockQ8_0]) -> f32 {
    let table = ld_i8(&KVALUES);
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let (lo, hi) = nibbles(ld_u8(&a.qs));
        let look = |i: int8x16_t| vqtbl1q_s8(table, vreinterpretq_u8_s8(i));
        let sumi = dot32(d, (look(lo), look(hi)), &b.qs);
        sumf += (f16(b.d) * f16(a.d)) * sumi as f32;
    }
    sumf
}

/// The shortest of the rows (all equal in a matmul; the scalar kernels zip).
#[inline]
#[target_feature(enable = "neon")]
pub(crate) fn blocks4<W, A>(x: &[W], y: &[&[A]; 4]) -> usize {
    y.iter().fold(x.len(), |n, r| n.min(r.len()))
}

#[inline]
#[target_feature(enable = "neon")]
fn q4_0_x4<D: I8Dot>(d: D, x: &[BlockQ4_0], y: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    let eight = vdupq_n_s8(8);
    let mut sumf = [0.0f32; 4];
    for (i, a) in x[..blocks4(x, &y)].iter().enumerate() {
        let (lo, hi) = nibbles(ld_u8(&a.qs));
        let w = (vsubq_s8(lo, eight), vsubq_s8(hi, eight));
        for (s, y) in sumf.iter_mut().zip(y) {
            let b = &y[i];
            *s += dot32(d, w, &b.qs) as f32 * f16(a.d) * f16(b.d);
        }
    }
    sumf
}

#[inline]
#[target_feature(enable = "neon")]
fn q8_0_x4<D: I8Dot>(d: D, x: &[BlockQ8_0], y: [&[BlockQ8_0]; 4]) -> [f32; 4] {
    let mut sumf = [0.0f32; 4];
    for (i, a) in x[..blocks4(x, &y)].iter().enumerate() {
        let w = (ld_i8(&a.qs), ld_i8(&a.qs[16..]));
        for (s, y) in sumf.iter_mut().zip(y) {
            let b = &y[i];
            *s += dot32(d, w, &b.qs) as f32 * (f16(a.d) * f16(b.d));
        }
    }
    sumf
}

/// Declares the two entry points of a dot product: `$neon` (plain NEON) and `$sdot` (NEON with
/// the dot-product extension), both running `$body`.
macro_rules! dot_pair {
    ($what:literal, $neon:ident, $sdot:ident, $body:ident, $w:ty, $a:ty) => {
        #[doc = concat!($what, " weights times activations, plain NEON; bit-identical to the scalar twin.")]
        ///
        /// # Safety
        /// The CPU must have NEON (every arm64 CPU does).
        #[target_feature(enable = "neon")]
        pub unsafe fn $neon(x: &[$w], y: &[$a]) -> f32 {
            // SAFETY: the caller guarantees the feature.
            $body(unsafe { Mull::new() }, x, y)
        }

        #[doc = concat!($what, " weights times activations with `sdot`; bit-identical to the scalar twin.")]
        ///
        /// # Safety
        /// The CPU must have NEON and the dot-product extension.
        #[target_feature(enable = "neon,dotprod")]
        pub unsafe fn $sdot(x: &[$w], y: &[$a]) -> f32 {
            // SAFETY: the caller guarantees the feature, and this function is compiled with it.
            $body(unsafe { Sdot::new() }, x, y)
        }
    };
}
pub(crate) use dot_pair;

/// Declares the two entry points of a four-row dot product, each row bit-identical to the
/// single-row kernel (see `dot_pair`).
macro_rules! dot4_pair {
    ($what:literal, $neon:ident, $sdot:ident, $body:ident, $w:ty, $a:ty) => {
        #[doc = concat!($what, " weights times four activation rows, plain NEON.")]
        ///
        /// # Safety
        /// The CPU must have NEON (every arm64 CPU does).
        #[target_feature(enable = "neon")]
        pub unsafe fn $neon(x: &[$w], y: [&[$a]; 4]) -> [f32; 4] {
            // SAFETY: the caller guarantees the feature.
            $body(unsafe { Mull::new() }, x, y)
        }

        #[doc = concat!($what, " weights times four activation rows with `sdot`.")]
        ///
        /// # Safety
        /// The CPU must have NEON and the dot-product extension.
        #[target_feature(enable = "neon,dotprod")]
        pub unsafe fn $sdot(x: &[$w], y: [&[$a]; 4]) -> [f32; 4] {
            // SAFETY: the caller guarantees the feature, and this function is compiled with it.
            $body(unsafe { Sdot::new() }, x, y)
        }
    };
}
pub(crate) use dot4_pair;

dot_pair!("Q4_0", vec_dot_q4_0, vec_dot_q4_0_sdot, q4_0, BlockQ4_0, BlockQ8_0);
dot_pair!("Q4_1", vec_dot_q4_1, vec_dot_q4_1_sdot, q4_1, BlockQ4_1, BlockQ8_1);
dot_pair!("Q5_0", vec_dot_q5_0, vec_dot_q5_0_sdot, q5_0, BlockQ5_0, BlockQ8_0);
dot_pair!("Q5_1", vec_dot_q5_1, vec_dot_q5_1_sdot, q5_1, BlockQ5_1, BlockQ8_1);
dot_pair!("Q8_0", vec_dot_q8_0, vec_dot_q8_0_sdot, q8_0, BlockQ8_0, BlockQ8_0);
dot_pair!("IQ4_NL", vec_dot_iq4_nl, vec_dot_iq4_nl_sdot, iq4_nl, BlockIq4Nl, BlockQ8_0);
dot4_pair!("Q4_0", vec_dot_q4_0_x4, vec_dot_q4_0_x4_sdot, q4_0_x4, BlockQ4_0, BlockQ8_0);
dot4_pair!("Q8_0", vec_dot_q8_0_x4, vec_dot_q8_0_x4_sdot, q8_0_x4, BlockQ8_0, BlockQ8_0);

// ---------------------------------------------------------------------------------------------
// Float dots and axpy
// ---------------------------------------------------------------------------------------------

/// The loop of `quant::float::dot_by` with its eight running sums as two registers (lanes 0..4
/// and 4..8), each step a multiply then an add as in the scalar code, folded in the same order.
#[inline]
#[target_feature(enable = "neon")]
fn dot_lanes(
    n: usize,
    w: impl Fn(usize) -> float32x4_t,
    a: impl Fn(usize) -> float32x4_t,
    tail: impl Fn(usize) -> f32,
) -> f32 {
    let (mut lo, mut hi) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
    let mut i = 0;
    while i + 8 <= n {
        lo = vaddq_f32(lo, vmulq_f32(w(i), a(i)));
        hi = vaddq_f32(hi, vmulq_f32(w(i + 4), a(i + 4)));
        i += 8;
    }
    let mut t = 0.0f32;
    for j in i..n {
        t += tail(j);
    }
    let s = vaddq_f32(lo, hi);
    ((vgetq_lane_f32::<0>(s) + vgetq_lane_f32::<1>(s)) + (vgetq_lane_f32::<2>(s) + vgetq_lane_f32::<3>(s))) + t
}

/// Reads element `i` of a little-endian u16 row.
#[inline]
#[target_feature(enable = "neon")]
fn u16_at(row: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([row[2 * i], row[2 * i + 1]])
}

/// Dot product of two f32 slices over the shorter length; bit-identical to `float::dot_f32`.
///
/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
pub unsafe fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    dot_lanes(n, |i| ld_f32(a, i), |i| ld_f32(b, i), |j| a[j] * b[j])
}

/// F32 weight row (raw bytes, any alignment) times an f32 activation row given as bytes;
/// bit-identical to `float::vec_dot_f32`.
///
/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot_f32(w: &[u8], a: &[u8]) -> f32 {
    let a: &[f32] = bytemuck::cast_slice(a);
    let n = a.len().min(w.len() / 4);
    let wf = |j: usize| f32::from_le_bytes([w[4 * j], w[4 * j + 1], w[4 * j + 2], w[4 * j + 3]]);
    dot_lanes(n, |i| ld_f32_bytes(w, i), |i| ld_f32(a, i), |j| wf(j) * a[j])
}

/// F16 weight row times an F16 activation row (both raw bytes), summed in f32; bit-identical
/// to `float::vec_dot_f16`.
///
/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot_f16(w: &[u8], a: &[u8]) -> f32 {
    let h = |s: &[u8], j: usize| crate::f16_to_f32(u16_at(s, j));
    dot_lanes(w.len() / 2, |i| ld_f16_bytes(w, i), |i| ld_f16_bytes(a, i), |j| h(w, j) * h(a, j))
}

/// BF16 weight row times a BF16 activation row (both raw bytes), summed in f32; bit-identical
/// to `float::vec_dot_bf16`.
///
/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
pub unsafe fn vec_dot_bf16(w: &[u8], a: &[u8]) -> f32 {
    let h = |s: &[u8], j: usize| crate::bf16_to_f32(u16_at(s, j));
    dot_lanes(w.len() / 2, |i| ld_bf16_bytes(w, i), |i| ld_bf16_bytes(a, i), |j| h(w, j) * h(a, j))
}

/// f32 to F16 row bytes, rounding to nearest even; bit-identical to `float::quantize_f16`.
///
/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
pub unsafe fn quantize_f16(src: &[f32], dst: &mut [u8]) {
    let n = src.len().min(dst.len() / 2);
    let mut i = 0;
    while i + 4 <= n {
        let h = vreinterpret_u8_u16(f32x4_to_f16(ld_f32(src, i)));
        let out = &mut dst[2 * i..2 * i + 8];
        // SAFETY: `out` has 8 bytes; `st1` has no alignment requirement.
        unsafe { vst1_u8(out.as_mut_ptr(), h) };
        i += 4;
    }
    for j in i..n {
        dst[2 * j..2 * j + 2].copy_from_slice(&crate::f32_to_f16(src[j]).to_le_bytes());
    }
}

/// `y[i] += a * x[i]` over the shorter length (multiply, then add: bit-identical to scalar).
///
/// # Safety
/// The CPU must have NEON.
#[target_feature(enable = "neon")]
pub unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let mut i = 0;
    while i + 4 <= n {
        let v = vaddq_f32(ld_f32(y, i), vmulq_n_f32(ld_f32(x, i), a));
        let out = &mut y[i..i + 4];
        // SAFETY: `out` has 4 elements.
        unsafe { vst1q_f32(out.as_mut_ptr(), v) };
        i += 4;
    }
    for j in i..n {
        y[j] += a * x[j];
    }
}
