//! Register-tiled AVX-512 VNNI GEMM for Q4_K in llama.cpp's repacked-gemm order: four weight
//! rows times four Q8_K activation rows per pass over the super-blocks, each of the sixteen
//! results bit-identical to `quant::q4_k::vec_dot_x4_gemm_scalar` (and so to
//! `gemm512::vec_dot_q4_k_x4_gemm`, which computes one weight row at a time).
//!
//! The sixteen outputs of a tile live in the sixteen f32 lanes of one vector, lane `4r + t` for
//! weight row `r` and activation row `t` (128-bit lane `r`, dword `t`). The float steps of each
//! lane are the scalar kernel's: per super-block, per 64 elements `c` in order,
//! `acc = fma(sumi_c, d_w * d_a, acc)` and `acc_m = fma(imin_c, dmin_w * d_a, acc_m)`; the result
//! is `acc - acc_m`. Only the integer sums, which are exact, are computed differently:
//!
//! - The nibbles of 16 bytes of each of the four weight rows sit in 128-bit lanes `0..4` of one
//!   vector, and `vpdpbusd` multiplies them by the same 16 bytes of one activation row in all
//!   four lanes: the products of all four weight rows with that activation row at once, four
//!   per dword. Each dword sums 8 products (at most 15360 in size, an i16).
//! - The group scales are applied by `vpmaddwd` after `vpackssdw` (exact: the values fit),
//!   which also halves the dwords per output; one shuffle and add then leave `sumi_c` of all
//!   sixteen outputs in their lanes.
//! - The mins' sums `imin_c` come from `vpmaddwd` and `vpdpwssd` of the mins against `bsums`.
//!
//! The activations are packed once per call (a call covers a chunk of weight rows) into a
//! per-thread buffer: each 16 bytes already copied to all four lanes, so that `vpdpbusd` reads
//! them straight from memory, and the `bsums` rearranged so that broadcast loads serve a chunk.
//!
//! Weight scale bytes are unpacked for four rows at once with ggml's 32-bit mask arithmetic
//! (`kmask1..3`), one row per 128-bit lane.

use std::arch::x86_64::*;
use std::cell::RefCell;

use crate::quant::{BlockQ4K, BlockQ8K};

/// Four activation rows' super-block `i`, rearranged for the tile loop.
#[derive(Clone, Copy, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Packed {
    /// `q[t][k]`: bytes `16k..16k + 16` of activation row `t` in all four 128-bit lanes.
    q: [[[u8; 64]; 16]; 4],
    /// `bs[k][t]`: `bsums[2k]` and `bsums[2k + 1]` of activation row `t` as an i16 pair
    /// (chunk `c` uses `k = 2c` and `2c + 1`).
    bs: [[u32; 4]; 8],
    /// The scales of the four activation rows.
    d: [f32; 4],
}

thread_local! {
    /// The packed activations of the current call.
    static PACK: RefCell<Vec<Packed>> = const { RefCell::new(Vec::new()) };
}

/// Fills `pack` from the four activation rows (each at least `pack.len()` blocks).
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn pack(pack: &mut [Packed], acts: [&[BlockQ8K]; 4]) {
    for (i, p) in pack.iter_mut().enumerate() {
        for (t, a) in acts.iter().enumerate() {
            let b = &a[i];
            for k in 0..8 {
                p.bs[k][t] = (b.bsums[2 * k] as u16 as u32) | ((b.bsums[2 * k + 1] as u16 as u32) << 16);
            }
            p.d[t] = b.d;
            for k in 0..16 {
                // SAFETY: `q[t][k]` is 64 writable bytes; the store has no alignment requirement.
                unsafe { _mm512_storeu_si512(p.q[t][k].as_mut_ptr().cast(), bcast128(&b.qs[16 * k..])) };
            }
        }
    }
}

/// 16 bytes from the start of `s`.
#[inline]
#[target_feature(enable = "avx2")]
fn ld128<T: bytemuck::Pod>(s: &[T]) -> __m128i {
    let b: &[u8] = bytemuck::cast_slice(s);
    assert!(b.len() >= 16);
    // SAFETY: 16 bytes are readable (checked above); the load has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// 32 bytes from the start of `s`.
#[inline]
#[target_feature(enable = "avx2")]
fn ld256<T: bytemuck::Pod>(s: &[T]) -> __m256i {
    let b: &[u8] = bytemuck::cast_slice(s);
    assert!(b.len() >= 32);
    // SAFETY: 32 bytes are readable (checked above); the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// 64 bytes.
#[inline]
#[target_feature(enable = "avx512f")]
fn ld512(s: &[u8; 64]) -> __m512i {
    // SAFETY: 64 bytes are readable; the load has no alignment requirement.
    unsafe { _mm512_loadu_si512(s.as_ptr().cast()) }
}

/// 16 bytes of `s` in all four 128-bit lanes.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn bcast128<T: bytemuck::Pod>(s: &[T]) -> __m512i {
    _mm512_broadcast_i32x4(ld128(s))
}

/// `[a, b]` as one vector.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn join(a: __m256i, b: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b)
}

/// Each i16 lane of a 128-bit lane set to byte `j` of that lane of the source (zero-extended)
/// by `vpshufb`.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn pick16(j: i32) -> __m512i {
    _mm512_set1_epi16((0x8000u16 as i16) | j as i16)
}

/// Each dword of a 128-bit lane set to the i16 pair (byte `j`, byte `j`) of that lane.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn pick_pair(j: i32) -> __m512i {
    _mm512_set1_epi32(((0x8000 | j as u32) * 0x0001_0001) as i32)
}

/// One tile: four weight rows `w` (each at least `pack.len()` super-blocks) times the packed
/// activations. Returns `out[r][t]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn tile(w: [&[BlockQ4K]; 4], pack: &[Packed]) -> [[f32; 4]; 4] {
    let nb = pack.len();
    let (w0, w1, w2, w3) = (&w[0][..nb], &w[1][..nb], &w[2][..nb], &w[3][..nb]);
    let m4 = _mm512_set1_epi8(0x0F);
    let (k1, k2, k3) = (_mm512_set1_epi32(0x3f3f_3f3f), _mm512_set1_epi32(0x0f0f_0f0f), _mm512_set1_epi32(0x0303_0303));
    let u2_shift = _mm512_set_epi32(0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0);
    // Word 0 (d) of 128-bit lane r to words 4r..4r + 4, word 1 (dmin) to words 16 + 4r...
    let dd_idx = _mm512_set_epi16(
        25, 25, 25, 25, 17, 17, 17, 17, 9, 9, 9, 9, 1, 1, 1, 1, 24, 24, 24, 24, 16, 16, 16, 16, 8, 8, 8, 8, 0, 0, 0, 0,
    );
    // The `vpshufb` controls of chunk c: its two group scales, its two mins.
    let pick_sl = [pick16(0), pick16(2), pick16(4), pick16(6)];
    let pick_sh = [pick16(1), pick16(3), pick16(5), pick16(7)];
    let pick_ma = [pick_pair(8), pick_pair(10), pick_pair(12), pick_pair(14)];
    let pick_mb = [pick_pair(9), pick_pair(11), pick_pair(13), pick_pair(15)];
    let mut acc = _mm512_setzero_ps();
    let mut acc_m = _mm512_setzero_ps();
    for i in 0..nb {
        // No closures in this loop: they would not inherit the target features, and calls to
        // them would not be inlined.
        let (b0, b1, b2, b3) = (&w0[i], &w1[i], &w2[i], &w3[i]);
        let p = &pack[i];
        // The first 16 bytes of each weight block, one row per 128-bit lane: dwords
        // [d | dmin << 16, u0, u1, u2], u0..u2 the packed scales and mins.
        let hdr = join(
            _mm256_set_m128i(ld128(bytemuck::bytes_of(b1)), ld128(bytemuck::bytes_of(b0))),
            _mm256_set_m128i(ld128(bytemuck::bytes_of(b3)), ld128(bytemuck::bytes_of(b2))),
        );
        // ggml's kmask unpacking: bytes 0..8 of each lane the eight scales, 8..16 the mins.
        let u01 = _mm512_shuffle_epi32::<0b11_11_10_01>(hdr);
        let u22 = _mm512_shuffle_epi32::<0b11_11_11_11>(hdr);
        let lo = _mm512_and_si512(u01, k1);
        let hi = _mm512_or_si512(
            _mm512_and_si512(_mm512_srlv_epi32(u22, u2_shift), k2),
            _mm512_slli_epi32::<4>(_mm512_and_si512(_mm512_srli_epi32::<6>(u01), k3)),
        );
        let scm = _mm512_unpacklo_epi32(lo, hi);
        // d_w and dmin_w in lanes 4r + t, times d_a (lane t of each 128-bit lane).
        let dd = _mm512_permutexvar_epi16(dd_idx, hdr);
        let da = _mm512_broadcast_f32x4(_mm_castsi128_ps(ld128(&p.d)));
        let dx = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(dd)), da);
        let dmx = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(dd)), da);
        for c in 0..4 {
            // Bytes 32c..32c + 32 of each row's qs: the first 16 in x0, the rest in x1, row r
            // in 128-bit lane r.
            let o = 32 * c;
            let y01 = join(ld256(&b0.qs[o..]), ld256(&b1.qs[o..]));
            let y23 = join(ld256(&b2.qs[o..]), ld256(&b3.qs[o..]));
            let x0 = _mm512_shuffle_i64x2::<0b10_00_10_00>(y01, y23);
            let x1 = _mm512_shuffle_i64x2::<0b11_01_11_01>(y01, y23);
            let (wl0, wl1) = (_mm512_and_si512(x0, m4), _mm512_and_si512(x1, m4));
            let (wh0, wh1) =
                (_mm512_and_si512(_mm512_srli_epi16::<4>(x0), m4), _mm512_and_si512(_mm512_srli_epi16::<4>(x1), m4));
            // Per activation row, the (low, high) nibble groups' dword sums in lane r.
            macro_rules! dots {
                ($a:literal) => {{
                    let q = &p.q[$a][4 * c..4 * c + 4];
                    let z = _mm512_setzero_si512();
                    let l = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, wl0, ld512(&q[0])), wl1, ld512(&q[1]));
                    let h = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, wh0, ld512(&q[2])), wh1, ld512(&q[3]));
                    (l, h)
                }};
            }
            let dots = [dots!(0), dots!(1), dots!(2), dots!(3)];
            // Scales: every dword fits an i16, so `vpackssdw` is exact; each output keeps two
            // dwords, [t a, t b, t' a, t' b] per 128-bit lane.
            let (sl, sh) = (_mm512_shuffle_epi8(scm, pick_sl[c]), _mm512_shuffle_epi8(scm, pick_sh[c]));
            macro_rules! scaled {
                ($t:literal) => {{
                    let l = _mm512_madd_epi16(_mm512_packs_epi32(dots[$t].0, dots[$t + 1].0), sl);
                    _mm512_castsi512_ps(_mm512_dpwssd_epi32(l, _mm512_packs_epi32(dots[$t].1, dots[$t + 1].1), sh))
                }};
            }
            let (v01, v23) = (scaled!(0), scaled!(2));
            let sumi = _mm512_add_epi32(
                _mm512_castps_si512(_mm512_shuffle_ps::<0b10_00_10_00>(v01, v23)),
                _mm512_castps_si512(_mm512_shuffle_ps::<0b11_01_11_01>(v01, v23)),
            );
            // Mins: mn[2c] * (bsums[4c] + bsums[4c + 1]) + mn[2c + 1] * (bsums[4c + 2] + ...).
            let (ma, mb) = (_mm512_shuffle_epi8(scm, pick_ma[c]), _mm512_shuffle_epi8(scm, pick_mb[c]));
            let imin =
                _mm512_dpwssd_epi32(_mm512_madd_epi16(bcast128(&p.bs[2 * c]), ma), bcast128(&p.bs[2 * c + 1]), mb);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), dx, acc);
            acc_m = _mm512_fmadd_ps(_mm512_cvtepi32_ps(imin), dmx, acc_m);
        }
    }
    let mut out = [0.0f32; 16];
    // SAFETY: 16 f32 are writable; the store has no alignment requirement.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), _mm512_sub_ps(acc, acc_m)) };
    std::array::from_fn(|r| std::array::from_fn(|t| out[4 * r + t]))
}

/// Q4_K weights, `rows` consecutive rows of `w` (each `w.len() / rows` blocks), times four Q8_K
/// activation rows: `out(r, v)` receives row `r`'s four results, each bit-identical to
/// `quant::q4_k::vec_dot_x4_gemm_scalar(row r, acts)`. A last partial tile repeats its final
/// row and drops the copies.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q4_k(w: &[BlockQ4K], rows: usize, acts: [&[BlockQ8K]; 4], out: &mut dyn FnMut(usize, [f32; 4])) {
    let Some(per_row) = w.len().checked_div(rows) else { return };
    let nb = acts.iter().fold(per_row, |n, a| n.min(a.len()));
    let row = |r: usize| &w[r * per_row..][..nb];
    let mut owned = Vec::new();
    PACK.with(|cell| {
        // A nested call on this thread gets its own buffer.
        let mut borrowed = cell.try_borrow_mut();
        let buf: &mut Vec<Packed> = match borrowed.as_mut() {
            Ok(b) => b,
            Err(_) => &mut owned,
        };
        if buf.len() < nb {
            buf.resize(nb, bytemuck::Zeroable::zeroed());
        }
        let p = &mut buf[..nb];
        pack(p, acts);
        let p = &*p;
        let mut r = 0;
        while r < rows {
            let at = |j: usize| row((r + j).min(rows - 1));
            let v = tile([at(0), at(1), at(2), at(3)], p);
            v.into_iter().take(rows - r).enumerate().for_each(|(j, v)| out(r + j, v));
            r += 4;
        }
    });
}
