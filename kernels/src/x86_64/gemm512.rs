//! Register-tiled AVX-512 VNNI GEMM for the 32-element block formats (Q4_0, Q4_1, Q5_0, Q8_0):
//! a tile of up to four weight rows times four activation rows per pass over the blocks, every
//! output bit-identical to `avx512::vec_dot_*` (and so to the AVX2 kernels).
//!
//! The float work of one output is that of the row kernels: per block, eight i32 lanes (each the
//! exact sum of four neighbouring products) are converted to f32 and folded into an 8-lane
//! accumulator by one FMA with `d_w * d_a`, blocks in order, then `hsum`; Q4_1 adds its `m * s`
//! terms, summed by FMA in block order, at the end. Here two outputs share a 512-bit accumulator
//! (activation rows `2h` and `2h + 1` in its low and high halves), so a tile of 4 x 4 outputs
//! lives in eight registers.
//!
//! The integer work is reorganized, exactly: each weight block is unpacked once per tile into
//! unsigned bytes `u = w + off` (nibbles as stored; Q5_0's fifth bit adds 16; Q8_0 flips the
//! sign bit), duplicated in both halves, and `vpdpbusd` multiplies it by the signed activations
//! directly. That sums `(w + off) * a = w * a + off * a`, so the accumulator starts at
//! `-off * (sum of the four activations)` per lane, computed once per activation block when the
//! four activation rows are packed: the lane then ends at the same exact integer as before.
//!
//! Packing happens once per call (the call covers a chunk of weight rows), into a per-thread
//! buffer laid out in the order the tile loop reads it: per block, both activation pairs' bytes,
//! start values, scale vectors and (Q4_1) the `s` fields.
//!
//! `vec_dot_q4_k_x4_gemm` is the AVX-512 version of the Q4_K kernel in llama.cpp's repacked gemm
//! order that the engine runs for prompts (one weight row, four activation rows).

use std::arch::x86_64::*;
use std::cell::RefCell;

use super::avx2::{ld128, ld256};
use crate::quant::q4_k::scales_mins;
use crate::quant::{BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ8K, BlockQ8_0, BlockQ8_1};

/// Four activation rows' block `i`, in the tile loop's layout.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Packed {
    /// Rows `2h` (low half) and `2h + 1` (high half), 32 signed bytes each.
    qs: [__m512i; 2],
    /// `-off * (sum of each lane's four bytes of qs)`: where `vpdpbusd` starts.
    init: [__m512i; 2],
    /// The activation scales as f32, eight lanes per row.
    d: [__m512; 2],
    /// Q4_1 only: the `s` field of row `t` in lanes `4r + t` (any `r`).
    s: __m512,
}

thread_local! {
    /// The packed activations of the current call.
    static PACK: RefCell<Vec<Packed>> = const { RefCell::new(Vec::new()) };
}

/// Field access of the weight blocks, statically dispatched (a function pointer here would be
/// called, not inlined, in the hot loop).
trait WeightBlock: bytemuck::Pod {
    /// The scale (f16 bits).
    fn d(&self) -> [u8; 2];
    /// The minimum (f16 bits) of the formats that have one (`HAS_MIN`).
    fn m(&self) -> [u8; 2] {
        [0; 2]
    }
    const HAS_MIN: bool = false;
}

/// Field access of the activation blocks.
trait ActBlock: bytemuck::Pod {
    fn d(&self) -> [u8; 2];
    fn qs(&self) -> &[i8; 32];
    /// `d * sum(qs)` (f16 bits), where the format has it.
    fn s(&self) -> [u8; 2] {
        [0; 2]
    }
}

impl WeightBlock for BlockQ4_0 {
    fn d(&self) -> [u8; 2] {
        self.d
    }
}
impl WeightBlock for BlockQ5_0 {
    fn d(&self) -> [u8; 2] {
        self.d
    }
}
impl WeightBlock for BlockQ8_0 {
    fn d(&self) -> [u8; 2] {
        self.d
    }
}
impl WeightBlock for BlockQ4_1 {
    fn d(&self) -> [u8; 2] {
        self.d
    }
    fn m(&self) -> [u8; 2] {
        self.m
    }
    const HAS_MIN: bool = true;
}
impl ActBlock for BlockQ8_0 {
    fn d(&self) -> [u8; 2] {
        self.d
    }
    fn qs(&self) -> &[i8; 32] {
        &self.qs
    }
}
impl ActBlock for BlockQ8_1 {
    fn d(&self) -> [u8; 2] {
        self.d
    }
    fn qs(&self) -> &[i8; 32] {
        &self.qs
    }
    fn s(&self) -> [u8; 2] {
        self.s
    }
}

/// `[f16(lo) x 8 | f16(hi) x 8]` as f32.
#[inline]
#[target_feature(enable = "avx2,f16c,avx512f")]
fn f16_pair(lo: [u8; 2], hi: [u8; 2]) -> __m512 {
    let (lo, hi) = (u16::from_le_bytes(lo) as i16, u16::from_le_bytes(hi) as i16);
    _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)))
}

/// Four f16 fields as f32 in lanes `4r + t = f[t]` (`per_row == false`) or `f[r]`
/// (`per_row == true`).
#[inline]
#[target_feature(enable = "avx2,f16c,avx512f")]
fn f16_grid(f: [[u8; 2]; 4], per_row: bool) -> __m512 {
    let v = f.map(|b| u16::from_le_bytes(b) as i16);
    let x = _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, v[3], v[2], v[1], v[0]));
    let idx = if per_row {
        _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0)
    } else {
        _mm512_set_epi32(3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0)
    };
    _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(x))
}

/// Fills `pack` with the four activation rows' blocks; `off` is the weight format's unsigned
/// offset, `with_s` whether to fill `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pack<A: ActBlock>(pack: &mut [Packed], acts: [&[A]; 4], off: u8, with_s: bool) {
    let offs = _mm512_set1_epi8(off as i8);
    for (i, p) in pack.iter_mut().enumerate() {
        let b = [&acts[0][i], &acts[1][i], &acts[2][i], &acts[3][i]];
        for h in 0..2 {
            let q = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(ld256(b[2 * h].qs())), ld256(b[2 * h + 1].qs()));
            p.qs[h] = q;
            let corr = _mm512_dpbusd_epi32(_mm512_setzero_si512(), offs, q);
            p.init[h] = _mm512_sub_epi32(_mm512_setzero_si512(), corr);
            p.d[h] = f16_pair(b[2 * h].d(), b[2 * h + 1].d());
        }
        p.s = if with_s { f16_grid(b.map(|b| b.s()), false) } else { _mm512_setzero_ps() };
    }
}

/// One weight block as the tile loop reads it: the 32 unsigned bytes `w + off`, the scale and
/// (Q4_1) the minimum as f32. Unpacked once per call, then read by every activation quad.
#[derive(Clone, Copy)]
#[repr(C)]
struct Unpacked {
    u: [u8; 32],
    d: f32,
    m: f32,
}

thread_local! {
    /// The unpacked weight rows of the current row block.
    static UNPACKED: RefCell<Vec<Unpacked>> = const { RefCell::new(Vec::new()) };
}

/// Unpacked weights per row block: small enough to stay in L2 next to the packed activations
/// while every activation quad streams over them.
const ROW_BLOCK_BYTES: usize = 256 * 1024;

/// Unpacks the blocks of `w` (whole rows) into `u`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn unpack_rows<W: WeightBlock>(w: &[W], u: &mut [Unpacked], unpack: impl Fn(&W) -> __m512i) {
    let f16 = |b: [u8; 2]| _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(u16::from_le_bytes(b) as i16)));
    for (b, u) in w.iter().zip(u.iter_mut()) {
        let v = _mm512_castsi512_si256(unpack(b));
        // SAFETY: `u.u` is 32 writable bytes; the store has no alignment requirement.
        unsafe { _mm256_storeu_si256(u.u.as_mut_ptr().cast(), v) };
        u.d = f16(b.d());
        u.m = if W::HAS_MIN { f16(b.m()) } else { 0.0 };
    }
}

/// One tile: four unpacked weight rows `w` (each at least `pack.len()` blocks) times the packed
/// activations. Returns `out[r][t]`.
///
/// The eight accumulators are named variables, not an array, so that they stay in registers.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile(w: [&[Unpacked]; 4], pack: &[Packed], has_min: bool) -> [[f32; 4]; 4] {
    let nb = pack.len();
    // Not `w.map(..)`: that closure was not inlined (a call per row per tile, ~5% of a prompt).
    let (w0, w1, w2, w3) = (&w[0][..nb], &w[1][..nb], &w[2][..nb], &w[3][..nb]);
    let z = _mm512_setzero_ps();
    let (mut a00, mut a01, mut a10, mut a11, mut a20, mut a21, mut a30, mut a31) = (z, z, z, z, z, z, z, z);
    let mut summ = z;
    let per_row = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    for (i, p) in pack.iter().enumerate() {
        let (q0, q1, s0, s1, d0, d1) = (p.qs[0], p.qs[1], p.init[0], p.init[1], p.d[0], p.d[1]);
        macro_rules! row {
            ($w:ident, $x0:ident, $x1:ident) => {{
                let b = &$w[i];
                let u = _mm512_broadcast_i64x4(ld256(&b.u));
                let d = _mm512_set1_ps(b.d);
                let l0 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(s0, u, q0));
                let l1 = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(s1, u, q1));
                $x0 = _mm512_fmadd_ps(_mm512_mul_ps(d, d0), l0, $x0);
                $x1 = _mm512_fmadd_ps(_mm512_mul_ps(d, d1), l1, $x1);
            }};
        }
        row!(w0, a00, a01);
        row!(w1, a10, a11);
        row!(w2, a20, a21);
        row!(w3, a30, a31);
        if has_min {
            // Lanes 4r + t: row r's minimum times activation row t's `s`.
            let m = _mm_set_ps(w3[i].m, w2[i].m, w1[i].m, w0[i].m);
            summ = _mm512_fmadd_ps(_mm512_permutexvar_ps(per_row, _mm512_castps128_ps512(m)), p.s, summ);
        }
    }
    // All sixteen `hsum`s at once: the same additions, lane for lane.
    let mut sums = hsum16([[a00, a01], [a10, a11], [a20, a21], [a30, a31]]);
    if has_min {
        // summ's lanes 4r + t to the sums' 4t + r.
        let idx = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
        sums = _mm512_add_ps(sums, _mm512_permutexvar_ps(idx, summ));
    }
    let mut v = [0.0f32; 16];
    // SAFETY: 16 f32 are writable; the store has no alignment requirement.
    unsafe { _mm512_storeu_ps(v.as_mut_ptr(), sums) };
    [[v[0], v[4], v[8], v[12]], [v[1], v[5], v[9], v[13]], [v[2], v[6], v[10], v[14]], [v[3], v[7], v[11], v[15]]]
}

/// `hsum` of the sixteen 8-lane halves of a tile's accumulators, transposed: `acc[r][h]` holds
/// output `(r, 2h)` in its low half and `(r, 2h + 1)` in its high one; lane `4t + r` of the
/// result is output `(r, t)`. Each output gets exactly `hsum`'s additions (lanes `i + (i + 4)`,
/// then `0 + 2` and `1 + 3`, then those two), only sixteen outputs per instruction.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn hsum16(acc: [[__m512; 2]; 4]) -> __m512 {
    // Row r: 128-bit lane t = lanes 0..4 of output (r, t) plus its lanes 4..8.
    let s = acc.map(|[a, b]| {
        _mm512_add_ps(_mm512_shuffle_f32x4::<0b10_00_10_00>(a, b), _mm512_shuffle_f32x4::<0b11_01_11_01>(a, b))
    });
    // Rows r, r + 1: lane t = [s0 + s2, s1 + s3] of (r, t), then the same of (r + 1, t).
    let pair = |a: __m512, b: __m512| {
        _mm512_add_ps(_mm512_shuffle_ps::<0b01_00_01_00>(a, b), _mm512_shuffle_ps::<0b11_10_11_10>(a, b))
    };
    let (t01, t23) = (pair(s[0], s[1]), pair(s[2], s[3]));
    // Lane t: the two partial sums of rows 0..4 added, row r in element r.
    _mm512_add_ps(_mm512_shuffle_ps::<0b10_00_10_00>(t01, t23), _mm512_shuffle_ps::<0b11_01_11_01>(t01, t23))
}

/// The shared driver: for each block of rows (sized by `ROW_BLOCK_BYTES`), unpacks the weights
/// once, then for each group of four activation rows packs them and runs tiles of four weight
/// rows over the block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm<W: WeightBlock, A: ActBlock>(
    w: &[u8],
    rows: usize,
    acts: &[u8],
    n: usize,
    out: &mut dyn FnMut(usize, usize, [f32; 4]),
    off: u8,
    unpack: impl Fn(&W) -> __m512i + Copy,
) {
    let w: &[W] = bytemuck::cast_slice(w);
    let acts: &[A] = bytemuck::cast_slice(acts);
    let (Some(per_row), Some(a_row)) = (w.len().checked_div(rows), acts.len().checked_div(n)) else { return };
    let nb = per_row.min(a_row);
    let act = |t: usize| &acts[t * a_row..][..nb];
    let block_rows = (ROW_BLOCK_BYTES / (nb.max(1) * size_of::<Unpacked>())).max(4) & !3;
    let (mut owned_p, mut owned_u) = (Vec::new(), Vec::new());
    PACK.with(|pcell| {
        UNPACKED.with(|ucell| {
            // A nested call on this thread (not something the engine does) gets its own buffers.
            let (mut pb, mut ub) = (pcell.try_borrow_mut(), ucell.try_borrow_mut());
            let pbuf: &mut Vec<Packed> = match pb.as_mut() {
                Ok(b) => b,
                Err(_) => &mut owned_p,
            };
            let ubuf: &mut Vec<Unpacked> = match ub.as_mut() {
                Ok(b) => b,
                Err(_) => &mut owned_u,
            };
            if pbuf.len() < nb {
                // SAFETY: `Packed` is plain vectors, for which all-zero bytes are valid.
                pbuf.resize(nb, unsafe { std::mem::zeroed() });
            }
            let ulen = block_rows.min(rows) * nb;
            if ubuf.len() < ulen {
                ubuf.resize(ulen, Unpacked { u: [0; 32], d: 0.0, m: 0.0 });
            }
            let mut r0 = 0;
            while r0 < rows {
                let r1 = (r0 + block_rows).min(rows);
                let u = &mut ubuf[..(r1 - r0) * nb];
                for r in r0..r1 {
                    unpack_rows(&w[r * per_row..][..nb], &mut u[(r - r0) * nb..][..nb], unpack);
                }
                let u = &*u;
                let row = |r: usize| &u[(r - r0) * nb..][..nb];
                for t0 in (0..n - n % 4).step_by(4) {
                    let p = &mut pbuf[..nb];
                    pack(p, [act(t0), act(t0 + 1), act(t0 + 2), act(t0 + 3)], off, W::HAS_MIN);
                    let p = &*p;
                    // Tiles of four rows; a last partial tile repeats its final row and drops
                    // the copies.
                    let mut r = r0;
                    while r < r1 {
                        let at = |j: usize| row((r + j).min(r1 - 1));
                        let v = tile([at(0), at(1), at(2), at(3)], p, W::HAS_MIN);
                        v.into_iter().take(r1 - r).enumerate().for_each(|(j, v)| out(t0, r + j, v));
                        r += 4;
                    }
                }
                r0 = r1;
            }
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Weight unpacking: a block's 32 values plus the format's offset, as unsigned bytes, in both
// 256-bit halves.
// ---------------------------------------------------------------------------------------------

/// A block's 16 bytes of packed nibbles as 32 bytes (low nibbles, then high ones, as
/// `avx2::nibbles`), in both halves.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn nibbles_x2(qs: &[u8; 16]) -> __m512i {
    let t = _mm512_broadcast_i32x4(ld128(qs));
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

/// Q5_0: `nibble + 16 * fifth bit` (the value plus 16).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn unpack_q5_0(b: &BlockQ5_0) -> __m512i {
    let nib = nibbles_x2(&b.qs);
    let bits = u32::from_le_bytes(b.qh) as u64;
    _mm512_mask_add_epi8(nib, bits | bits << 32, nib, _mm512_set1_epi8(16))
}

/// Q8_0: the value plus 128 (the sign bit flipped).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn unpack_q8_0(b: &BlockQ8_0) -> __m512i {
    let q = _mm512_broadcast_i64x4(ld256(&b.qs));
    _mm512_xor_si512(q, _mm512_set1_epi8(0x80u8 as i8))
}

// ---------------------------------------------------------------------------------------------
// Entry points: `rows` consecutive weight rows of `w` times four activation rows; `out(r, v)`
// receives row `r`'s four results, each bit-identical to the row kernel's.
// ---------------------------------------------------------------------------------------------

/// Q5_0 weights times four Q8_0 activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q5_0(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, [f32; 4])) {
    gemm::<BlockQ5_0, BlockQ8_0>(w, rows, acts, n, out, 16, |b| unpack_q5_0(b))
}

/// Q4_0 weights times four Q8_0 activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q4_0(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, [f32; 4])) {
    gemm::<BlockQ4_0, BlockQ8_0>(w, rows, acts, n, out, 8, |b| nibbles_x2(&b.qs))
}

/// Q8_0 weights times four Q8_0 activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q8_0(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, [f32; 4])) {
    gemm::<BlockQ8_0, BlockQ8_0>(w, rows, acts, n, out, 128, |b| unpack_q8_0(b))
}

/// Q4_1 weights times four Q8_1 activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q4_1(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, [f32; 4])) {
    gemm::<BlockQ4_1, BlockQ8_1>(w, rows, acts, n, out, 0, |b| nibbles_x2(&b.qs))
}

// ---------------------------------------------------------------------------------------------
// Q4_K in the repacked gemm order
// ---------------------------------------------------------------------------------------------

/// The sums of sixteen vectors' sixteen i32 lanes: lane `k` of the result is the sum of `v[k]`
/// (a transposing add tree; integer, so the order of the additions does not matter).
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn sum16(v: [__m512i; 16]) -> __m512i {
    let x: [__m512i; 8] = std::array::from_fn(|k| {
        let (a, b) = (v[2 * k], v[2 * k + 1]);
        _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
    });
    let y: [__m512i; 4] = std::array::from_fn(|k| {
        let (a, b) = (x[2 * k], x[2 * k + 1]);
        _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
    });
    // Each 128-bit lane of y[k] now holds partial sums of v[4k..4k + 4]; fold the lanes.
    let fold = |a: __m512i, b: __m512i| {
        _mm512_add_epi32(_mm512_shuffle_i32x4::<0b10_00_10_00>(a, b), _mm512_shuffle_i32x4::<0b11_01_11_01>(a, b))
    };
    fold(fold(y[0], y[1]), fold(y[2], y[3]))
}

/// Q4_K weights times four Q8_K activation rows in the order of `quant::q4_k::vec_dot_x4_gemm`;
/// bit-identical to `avx2_k::vec_dot_q4_k_x4_gemm`.
///
/// Per super-block, the exact integer sums of each 64 elements `c` and activation row `t` come
/// from `vpdpbusd` (nibbles unsigned, activations signed), `vpmaddwd` with the group scales and
/// one add tree for all sixteen `(c, t)`; the mins' sums from `vpmaddwd` on `bsums`. The float
/// steps are the scalar kernel's, four activation rows in the lanes of one vector: per `c` in
/// order, `acc = fma(sumi, d_w * d_a, acc)` and `acc_m = fma(imin, dmin_w * d_a, acc_m)`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_k_x4_gemm(x: &[BlockQ4K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let n = y.iter().fold(x.len(), |n, r| n.min(r.len()));
    let shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    let m4 = _mm512_set1_epi8(0x0F);
    // Lanes (t, c) of the mins' pair sums to lanes 4c + t.
    let mins_idx = _mm512_set_epi32(15, 13, 7, 5, 14, 12, 6, 4, 11, 9, 3, 1, 10, 8, 2, 0);
    let mut acc = _mm_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for i in 0..n {
        let a = &x[i];
        let b = [&y[0][i], &y[1][i], &y[2][i], &y[3][i]];
        let (sc, mn) = scales_mins(&a.scales);
        let mut v = [_mm512_setzero_si512(); 16];
        for c in 0..4 {
            // Chunk c: its low nibbles (elements 64c..64c + 32) then its high ones.
            let q = _mm512_broadcast_i64x4(ld256(&a.qs[32 * c..]));
            let q = _mm512_and_si512(_mm512_srlv_epi64(q, shift), m4);
            let s = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_set1_epi32(sc[2 * c] as i32)),
                _mm256_set1_epi32(sc[2 * c + 1] as i32),
            );
            for t in 0..4 {
                let q8 = ld512(&b[t].qs[64 * c..]);
                // Each i32 lane is at most 4 * 15 * 128 in size, so it is its own low i16 and
                // `vpmaddwd` against (scale, 0) pairs multiplies it exactly.
                v[4 * c + t] = _mm512_madd_epi16(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, q8), s);
            }
        }
        let sumi = _mm512_cvtepi32_ps(sum16(v));
        // mins: lane g of row t is mn[g] * (bsums[2g] + bsums[2g + 1]); chunk c is g = 2c, 2c + 1.
        let mn16 = _mm256_cvtepu8_epi32(_mm_set_epi64x(0, u64::from_le_bytes(mn) as i64));
        let mn16 = _mm256_or_si256(mn16, _mm256_slli_epi32::<16>(mn16));
        let pm: [__m256i; 4] = std::array::from_fn(|t| _mm256_madd_epi16(ld256(&b[t].bsums), mn16));
        let (h01, h23) = (_mm256_hadd_epi32(pm[0], pm[1]), _mm256_hadd_epi32(pm[2], pm[3]));
        let imin = _mm512_cvtepi32_ps(_mm512_permutexvar_epi32(mins_idx, super::avx512::join(h01, h23)));
        let da = _mm_set_ps(b[3].d, b[2].d, b[1].d, b[0].d);
        let dx = _mm_mul_ps(_mm_set1_ps(super::avx2::f16x(a.d)), da);
        let dmx = _mm_mul_ps(_mm_set1_ps(super::avx2::f16x(a.dmin)), da);
        let (s, m): ([__m128; 4], [__m128; 4]) = (lanes4(sumi), lanes4(imin));
        for c in 0..4 {
            acc = _mm_fmadd_ps(s[c], dx, acc);
            acc_m = _mm_fmadd_ps(m[c], dmx, acc_m);
        }
    }
    let mut out = [0.0f32; 4];
    // SAFETY: four f32 are writable; the store has no alignment requirement.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), _mm_sub_ps(acc, acc_m)) };
    out
}

/// The four 128-bit lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn lanes4(v: __m512) -> [__m128; 4] {
    [
        _mm512_castps512_ps128(v),
        _mm512_extractf32x4_ps::<1>(v),
        _mm512_extractf32x4_ps::<2>(v),
        _mm512_extractf32x4_ps::<3>(v),
    ]
}

/// 64 bytes from the start of `s`.
#[inline]
#[target_feature(enable = "avx512f")]
fn ld512<T: bytemuck::Pod>(s: &[T]) -> __m512i {
    let b: &[u8] = bytemuck::cast_slice(s);
    assert!(b.len() >= 64);
    // SAFETY: 64 bytes are readable (checked above); the load has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}
