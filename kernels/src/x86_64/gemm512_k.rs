//! Register-tiled AVX-512 VNNI GEMM for Q4_K in llama.cpp's repacked-gemm order: panels of
//! sixteen weight rows times four Q8_K activation rows per pass over the super-blocks, each
//! result bit-identical to `quant::q4_k::vec_dot_x4_gemm_scalar` (and so to
//! `gemm512::vec_dot_q4_k_x4_gemm`, which computes one weight row at a time).
//!
//! The float steps of each output are the scalar kernel's: per super-block, per 64 elements `c`
//! in order, `acc = fma(sumi_c, d_w * d_a, acc)` and `acc_m = fma(imin_c, dmin_w * d_a, acc_m)`;
//! the result is `acc - acc_m`. Only the integer sums, which are exact, are computed
//! differently, with one weight row per 32-bit lane (as in `gemm512`):
//!
//! - A panel's nibbles are unpacked and interleaved once per call: vector `8 (2c + h) + g` holds,
//!   in lane `r`, row `r`'s low (`h` = 0) or high (`h` = 1) nibbles of bytes `32c + 4g..+4`.
//!   `vpdpbusd` against the activation's matching four bytes (broadcast) adds four products to
//!   each of sixteen rows.
//! - Four such steps sum sixteen elements, at most 16 * 15 * 128 in size: an i16, so `vpdpwssd`
//!   against the group scale (`(sc, 0)` as an i16 pair) multiplies it exactly into `sumi_c`.
//! - `imin_c` is `vpmaddwd` and `vpdpwssd` of each row's mins (`(m, m)` pairs) against the
//!   activation's `bsums` pairs, read straight from the block.
//!
//! Per super-block and sixteen outputs that is 64 `vpdpbusd`, 16 `vpdpwssd`, 8 products for the
//! mins and 8 conversions and FMAs: no shuffles in the loop.

use std::arch::x86_64::*;
use std::cell::RefCell;

use super::gemm512::{fill_panels, transpose, PANEL};
use crate::quant::q4_k::scales_mins;
use crate::quant::{BlockQ4K, BlockQ8K};

/// One super-block of a panel of sixteen weight rows, row `r` in lane `r` of every vector.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct PanelBlock {
    /// Vector `8 (2c + h) + g`: nibbles `h` of bytes `32c + 4g..32c + 4g + 4` of `qs`.
    q: [__m512i; 64],
    /// Vector `2c + h`: group scale `sc[2c + h]`, an i16 pair `(sc, 0)`.
    sc: [[i32; PANEL]; 8],
    /// Vector `2c + h`: the pair `(mn[2c + h], mn[2c + h])`.
    mn: [[i32; PANEL]; 8],
    /// The rows' `d` and `dmin` as f32.
    d: [f32; PANEL],
    dmin: [f32; PANEL],
}

thread_local! {
    /// The interleaved weight panels of the current row block.
    static PANELS: RefCell<Vec<PanelBlock>> = const { RefCell::new(Vec::new()) };
}

/// Interleaved weights per row block: small enough to stay in L2 while every group of four
/// activation rows streams over them.
const ROW_BLOCK_BYTES: usize = 256 * 1024;

/// An f16 field as f32.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn f16(b: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(u16::from_le_bytes(b) as i16)))
}

/// Interleaves one super-block of sixteen rows (`rows[r]` is row `r`'s block) into `p`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn interleave(p: &mut PanelBlock, rows: [&BlockQ4K; PANEL]) {
    // Loops, not `map` with closures: those were calls, not inlined (12% of a small call).
    let m4 = _mm256_set1_epi8(0x0F);
    let (mut lo, mut hi) = ([_mm256_setzero_si256(); PANEL], [_mm256_setzero_si256(); PANEL]);
    for c in 0..4 {
        for r in 0..PANEL {
            // SAFETY: bytes 32c..32c + 32 of a 128-byte `qs`; no alignment requirement.
            let q = unsafe { _mm256_loadu_si256(rows[r].qs[32 * c..].as_ptr().cast()) };
            lo[r] = _mm256_and_si256(q, m4);
            hi[r] = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
        }
        p.q[16 * c..16 * c + 8].copy_from_slice(&transpose(lo));
        p.q[16 * c + 8..16 * c + 16].copy_from_slice(&transpose(hi));
    }
    // Written in place as scalars: the loop reads them as vectors much later, so no store is
    // forwarded to a wider load.
    for (r, b) in rows.into_iter().enumerate() {
        let (s, m) = scales_mins(&b.scales);
        for j in 0..8 {
            p.sc[j][r] = s[j] as i32;
            p.mn[j][r] = m[j] as i32 * 0x0001_0001;
        }
        p.d[r] = f16(b.d);
        p.dmin[r] = f16(b.dmin);
    }
}

/// 16 lanes from `s`.
#[inline]
#[target_feature(enable = "avx512f")]
fn lanes<T: bytemuck::Pod>(s: &[T; PANEL]) -> __m512i {
    assert!(size_of::<T>() == 4);
    // SAFETY: 64 bytes are readable (16 four-byte elements); no alignment requirement.
    unsafe { _mm512_loadu_si512(s.as_ptr().cast()) }
}

/// Dword `k` of an activation block's `qs`.
#[inline(always)]
fn qs_dword(b: &BlockQ8K, k: usize) -> i32 {
    i32::from_le_bytes([b.qs[4 * k] as u8, b.qs[4 * k + 1] as u8, b.qs[4 * k + 2] as u8, b.qs[4 * k + 3] as u8])
}

/// Dword `k` of an activation block's `bsums`: the i16 pair `(bsums[2k], bsums[2k + 1])`.
#[inline(always)]
fn bsums_dword(b: &BlockQ8K, k: usize) -> i32 {
    (b.bsums[2 * k] as u16 as u32 | (b.bsums[2 * k + 1] as u16 as u32) << 16) as i32
}

/// One panel (`p`, one entry per super-block) times four activation rows: lane `r` of result
/// `t` is output `(r, t)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn quad(p: &[PanelBlock], a: [&[BlockQ8K]; 4]) -> [__m512; 4] {
    let nb = p.len();
    let a = [&a[0][..nb], &a[1][..nb], &a[2][..nb], &a[3][..nb]];
    let z = _mm512_setzero_ps();
    let (mut acc, mut acc_m) = ([z; 4], [z; 4]);
    for i in 0..nb {
        let b = &p[i];
        let y = [&a[0][i], &a[1][i], &a[2][i], &a[3][i]];
        let (d, dmin) = (_mm512_castsi512_ps(lanes(&b.d)), _mm512_castsi512_ps(lanes(&b.dmin)));
        let (mut dx, mut dmx) = ([d; 4], [dmin; 4]);
        for t in 0..4 {
            dx[t] = _mm512_mul_ps(d, _mm512_set1_ps(y[t].d));
            dmx[t] = _mm512_mul_ps(dmin, _mm512_set1_ps(y[t].d));
        }
        for c in 0..4 {
            let mut sumi = [_mm512_setzero_si512(); 4];
            for h in 0..2 {
                let sc = lanes(&b.sc[2 * c + h]);
                for half in 0..2 {
                    // Sixteen elements: groups 4 * half..4 * half + 4 of nibbles h of chunk c.
                    let mut s = [_mm512_setzero_si512(); 4];
                    for g in 4 * half..4 * half + 4 {
                        let k = 8 * (2 * c + h) + g;
                        let w = b.q[k];
                        for t in 0..4 {
                            s[t] = _mm512_dpbusd_epi32(s[t], w, _mm512_set1_epi32(qs_dword(y[t], k)));
                        }
                    }
                    for t in 0..4 {
                        sumi[t] = _mm512_dpwssd_epi32(sumi[t], s[t], sc);
                    }
                }
            }
            let (ma, mb) = (lanes(&b.mn[2 * c]), lanes(&b.mn[2 * c + 1]));
            for t in 0..4 {
                let m = _mm512_madd_epi16(_mm512_set1_epi32(bsums_dword(y[t], 2 * c)), ma);
                let imin = _mm512_dpwssd_epi32(m, _mm512_set1_epi32(bsums_dword(y[t], 2 * c + 1)), mb);
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[t]), dx[t], acc[t]);
                acc_m[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(imin), dmx[t], acc_m[t]);
            }
        }
    }
    for t in 0..4 {
        acc[t] = _mm512_sub_ps(acc[t], acc_m[t]);
    }
    acc
}

/// Q4_K weights, `rows` consecutive rows of `w` (each `w.len() / rows` blocks), times the
/// activation rows `acts` (any number): `out(t, r, v)` receives activation row `t`'s results for
/// weight rows `r..r + v.len()`, each bit-identical to
/// `quant::q4_k::vec_dot_x4_gemm_scalar(row r, acts)`. A last partial panel repeats its final
/// row, and a last partial group of activation rows its final row; the copies are dropped.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q4_k(w: &[BlockQ4K], rows: usize, acts: &[&[BlockQ8K]], out: &mut dyn FnMut(usize, usize, &[f32])) {
    let n = acts.len();
    let Some(per_row) = w.len().checked_div(rows) else { return };
    if n == 0 {
        return;
    }
    let nb = acts.iter().fold(per_row, |n, a| n.min(a.len()));
    if nb == 0 {
        // No blocks: every output is an empty sum, as the scalar kernel gives.
        let zeros = vec![0.0; rows];
        (0..n).for_each(|t| out(t, 0, &zeros));
        return;
    }
    let panels_per_block = (ROW_BLOCK_BYTES / (nb * size_of::<PanelBlock>())).max(1);
    let mut owned = Vec::new();
    PANELS.with(|cell| {
        // A nested call on this thread (not something the engine does) gets its own buffer.
        let mut borrowed = cell.try_borrow_mut();
        let buf: &mut Vec<PanelBlock> = match borrowed.as_mut() {
            Ok(b) => b,
            Err(_) => &mut owned,
        };
        let plen = panels_per_block.min(rows.div_ceil(PANEL)) * nb;
        if buf.len() < plen {
            // SAFETY: `PanelBlock` is plain vectors, for which all-zero bytes are valid.
            buf.resize(plen, unsafe { std::mem::zeroed() });
        }
        let mut r0 = 0;
        while r0 < rows {
            let r1 = (r0 + panels_per_block * PANEL).min(rows);
            let n_panels = (r1 - r0).div_ceil(PANEL);
            let panels = &mut buf[..n_panels * nb];
            fill_panels(panels, nb, w, per_row, r0..r1, |p, rows| interleave(p, rows));
            let panels = &*panels;
            for t0 in (0..n).step_by(4) {
                let y: [&[BlockQ8K]; 4] = std::array::from_fn(|j| acts[(t0 + j).min(n - 1)]);
                for (k, panel) in panels.chunks_exact(nb).enumerate() {
                    let v = quad(panel, y);
                    let r = r0 + k * PANEL;
                    for (j, v) in v.into_iter().enumerate().take(n - t0) {
                        let mut lanes = [0f32; PANEL];
                        // SAFETY: 16 f32 are writable; the store has no alignment requirement.
                        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), v) };
                        out(t0 + j, r, &lanes[..PANEL.min(r1 - r)]);
                    }
                }
            }
            r0 = r1;
        }
    });
}
