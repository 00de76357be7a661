//! Register-tiled AVX-512 VNNI GEMM for the 32-element block formats (Q4_0, Q4_1, Q5_0, Q8_0):
//! panels of sixteen weight rows times pairs of activation rows, every output bit-identical to
//! `avx512::vec_dot_*` (and so to the AVX2 kernels).
//!
//! The float work of one output is that of the row kernels: per block, eight i32 lanes (lane
//! `g` the exact sum of the products of elements `4g..4g + 4`) are converted to f32 and folded
//! into an 8-lane accumulator by one FMA with `d_w * d_a`, blocks in order, then `hsum`; Q4_1
//! adds its `m * s` terms, summed by FMA in block order, at the end.
//!
//! Here the lanes are turned sideways: a panel's weights are interleaved so that 32-bit lane
//! `r` of vector `g` holds row `r`'s elements `4g..4g + 4`, and `vpdpbusd` against the
//! activation's four bytes of group `g` (broadcast) gives lane `g` of sixteen outputs at once.
//! An output's eight lanes then live in eight accumulators, one per `g`, and the scale product
//! is one multiply for sixteen rows. Per block and sixteen outputs that is 8 `vpdpbusd`, 8
//! conversions, 8 FMAs and 1 multiply, where a register of two outputs' eight lanes each (the
//! layout of the row kernels) needs 8 multiplies more; no lane shuffling is left, and `hsum`
//! becomes vertical adds in its order.
//!
//! The integer work is reorganized, exactly: the weights are unsigned bytes `u = w + off`
//! (nibbles as stored; Q5_0's fifth bit adds 16; Q8_0 flips the sign bit), `vpdpbusd`
//! multiplies them by the signed activations directly, which sums `w * a + off * a`, so each
//! lane starts at `-off * (sum of the four activations)`: it then ends at the same exact
//! integer as the row kernel's.
//!
//! Weights are interleaved once per call for a block of rows (the call covers a chunk of weight
//! rows), activations once per group of four rows and row block, into per-thread buffers.
//!
//! `vec_dot_q4_k_x4_gemm` is the AVX-512 version of the Q4_K kernel in llama.cpp's repacked gemm
//! order that the engine runs for prompts (one weight row, four activation rows).

use std::arch::x86_64::*;
use std::cell::RefCell;

use super::avx2::{ld128, ld256};
use crate::quant::q4_k::scales_mins;
use crate::quant::{BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ8K, BlockQ8_0, BlockQ8_1};

/// Rows per panel: one per 32-bit lane.
pub(super) const PANEL: usize = 16;

/// One block of a panel: vector `g` holds elements `4g..4g + 4` of the sixteen rows as unsigned
/// bytes (row `r` in lane `r`), then the rows' scales and (Q4_1) minimums as f32.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct PanelBlock {
    u: [__m512i; 8],
    d: [f32; PANEL],
    m: [f32; PANEL],
}

/// One activation row's block as the panel loop reads it.
#[derive(Clone, Copy)]
#[repr(C)]
struct ColBlock {
    /// Per group `g`: `-off * (sum of qs[g]'s four bytes)`, where `vpdpbusd` starts.
    init: [i32; 8],
    /// The 32 signed bytes, four per group.
    qs: [i32; 8],
    /// The scale, and (Q8_1) the `s` field, as f32.
    d: f32,
    s: f32,
}

thread_local! {
    /// The interleaved weight panels of the current row block.
    static PANELS: RefCell<Vec<PanelBlock>> = const { RefCell::new(Vec::new()) };
    /// The current four activation rows.
    static COLS: RefCell<Vec<ColBlock>> = const { RefCell::new(Vec::new()) };
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

/// An f16 field as f32.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn f16(b: [u8; 2]) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(u16::from_le_bytes(b) as i16)))
}

/// Fills `cols` with one activation row's blocks; `off` is the weight format's unsigned offset.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pack_col<A: ActBlock>(cols: &mut [ColBlock], act: &[A], off: u8) {
    let offs = _mm256_set1_epi8(off as i8);
    for (c, b) in cols.iter_mut().zip(act) {
        let q = ld256(b.qs());
        let init = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), offs, q));
        // SAFETY: `init` and `qs` are eight writable i32 each; the stores have no alignment
        // requirement.
        unsafe {
            _mm256_storeu_si256(c.init.as_mut_ptr().cast(), init);
            _mm256_storeu_si256(c.qs.as_mut_ptr().cast(), q);
        }
        c.d = f16(b.d());
        c.s = f16(b.s());
    }
}

/// Interleaves one block of sixteen rows (`rows[r]` is row `r`'s block) into `p`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn interleave<W: WeightBlock>(p: &mut PanelBlock, rows: [&W; PANEL], unpack: impl Fn(&W) -> __m512i) {
    let mut u = [_mm256_setzero_si256(); PANEL];
    for r in 0..PANEL {
        u[r] = _mm512_castsi512_si256(unpack(rows[r]));
    }
    p.u = transpose(u);
    // Written in place as scalars: the loop reads them as vectors much later, so no store is
    // forwarded to a wider load.
    for (r, b) in rows.into_iter().enumerate() {
        p.d[r] = f16(b.d());
        p.m[r] = if W::HAS_MIN { f16(b.m()) } else { 0.0 };
    }
}

/// Sixteen rows of eight dwords to eight vectors of sixteen: dword `g` of row `r` to lane `r`
/// of vector `g`.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
pub(super) fn transpose(rows: [__m256i; PANEL]) -> [__m512i; 8] {
    // Loops, not `from_fn` with closures: those may stay calls, without the target features.
    // Row k in the low half, row k + 8 in the high one; each 128-bit lane then holds four
    // dwords of one row, and the 4x4 transposes below work on all four lanes at once.
    let mut z = [_mm512_setzero_si512(); 8];
    for k in 0..8 {
        z[k] = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(rows[k]), rows[k + 8]);
    }
    // Lane of t[2j]: rows 2j, 2j + 1 interleaved, dwords 0, 1 (of the lane's four); t[2j + 1]: 2, 3.
    let mut t = [_mm512_setzero_si512(); 8];
    for j in 0..4 {
        t[2 * j] = _mm512_unpacklo_epi32(z[2 * j], z[2 * j + 1]);
        t[2 * j + 1] = _mm512_unpackhi_epi32(z[2 * j], z[2 * j + 1]);
    }
    // Lane of u[4h + c]: dword c of the lane, rows 4h..4h + 4.
    let mut u = [_mm512_setzero_si512(); 8];
    for h in 0..2 {
        for c in 0..2 {
            let (a, b) = (t[4 * h + c], t[4 * h + 2 + c]);
            u[4 * h + 2 * c] = _mm512_unpacklo_epi64(a, b);
            u[4 * h + 2 * c + 1] = _mm512_unpackhi_epi64(a, b);
        }
    }
    // Lanes 0, 2 of u[c] hold dword c of rows 0..4 and 8..12, lanes 1, 3 dword c + 4; u[4 + c]
    // the same of rows 4..8 and 12..16. Vector g takes rows in order: 0..4, 4..8, 8..12, 12..16.
    let lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    let hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    let mut v = [_mm512_setzero_si512(); 8];
    for c in 0..4 {
        v[c] = _mm512_permutex2var_epi64(u[c], lo, u[4 + c]);
        v[c + 4] = _mm512_permutex2var_epi64(u[c], hi, u[4 + c]);
    }
    v
}

/// Interleaves the first `nb` blocks of weight rows `rows` of `w` (`per_row` blocks each) into
/// `panels`, `nb` entries per panel, panel `k` holding rows `rows.start + 16k..`: `make` builds
/// each entry from the sixteen rows' blocks. A last partial panel repeats its final row (the
/// caller drops those outputs).
#[inline(always)]
pub(super) fn fill_panels<W, P>(
    panels: &mut [P],
    nb: usize,
    w: &[W],
    per_row: usize,
    rows: std::ops::Range<usize>,
    mut make: impl FnMut(&mut P, [&W; PANEL]),
) {
    for (k, panel) in panels.chunks_exact_mut(nb).enumerate() {
        let row = |j: usize| (rows.start + k * PANEL + j).min(rows.end - 1);
        for (i, p) in panel.iter_mut().enumerate() {
            make(p, std::array::from_fn(|j| &w[row(j) * per_row + i]));
        }
    }
}

/// One panel (`p`, one entry per block) times two activation rows: lane `r` of the result is
/// output `(r, t)` for `t` = 0, 1.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn pair(p: &[PanelBlock], c0: &[ColBlock], c1: &[ColBlock], has_min: bool) -> [__m512; 2] {
    let nb = p.len();
    let (c0, c1) = (&c0[..nb], &c1[..nb]);
    let z = _mm512_setzero_ps();
    let (mut x0, mut x1) = ([z; 8], [z; 8]);
    let (mut m0, mut m1) = (z, z);
    for i in 0..nb {
        let (b, a0, a1) = (&p[i], &c0[i], &c1[i]);
        // SAFETY: 16 f32 each; the loads have no alignment requirement.
        let (d, m) = unsafe { (_mm512_loadu_ps(b.d.as_ptr()), _mm512_loadu_ps(b.m.as_ptr())) };
        let d0 = _mm512_mul_ps(d, _mm512_set1_ps(a0.d));
        let d1 = _mm512_mul_ps(d, _mm512_set1_ps(a1.d));
        macro_rules! group {
            ($($g:literal)*) => {$({
                let u = b.u[$g];
                let s0 = _mm512_dpbusd_epi32(_mm512_set1_epi32(a0.init[$g]), u, _mm512_set1_epi32(a0.qs[$g]));
                let s1 = _mm512_dpbusd_epi32(_mm512_set1_epi32(a1.init[$g]), u, _mm512_set1_epi32(a1.qs[$g]));
                x0[$g] = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(s0), x0[$g]);
                x1[$g] = _mm512_fmadd_ps(d1, _mm512_cvtepi32_ps(s1), x1[$g]);
            })*};
        }
        group!(0 1 2 3 4 5 6 7);
        if has_min {
            m0 = _mm512_fmadd_ps(m, _mm512_set1_ps(a0.s), m0);
            m1 = _mm512_fmadd_ps(m, _mm512_set1_ps(a1.s), m1);
        }
    }
    // `hsum`'s additions, lane for lane: lanes g + (g + 4), then 0 + 2 and 1 + 3, then those two.
    let hsum = |x: [__m512; 8], m: __m512| {
        let (s0, s1) = (_mm512_add_ps(x[0], x[4]), _mm512_add_ps(x[1], x[5]));
        let (s2, s3) = (_mm512_add_ps(x[2], x[6]), _mm512_add_ps(x[3], x[7]));
        let v = _mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3));
        if has_min {
            _mm512_add_ps(v, m)
        } else {
            v
        }
    };
    [hsum(x0, m0), hsum(x1, m1)]
}

/// Interleaved weights per row block: small enough to stay in L2 next to the packed activations
/// while every activation pair streams over them.
const ROW_BLOCK_BYTES: usize = 256 * 1024;

/// The shared driver: for each block of rows (sized by `ROW_BLOCK_BYTES`), interleaves the
/// weights once, then for each group of four activation rows packs them and runs every panel of
/// the block against its two pairs.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn gemm<W: WeightBlock, A: ActBlock>(
    w: &[u8],
    rows: usize,
    acts: &[u8],
    n: usize,
    out: &mut dyn FnMut(usize, usize, &[f32]),
    off: u8,
    unpack: impl Fn(&W) -> __m512i + Copy,
) {
    let w: &[W] = bytemuck::cast_slice(w);
    let acts: &[A] = bytemuck::cast_slice(acts);
    let (Some(per_row), Some(a_row)) = (w.len().checked_div(rows), acts.len().checked_div(n)) else { return };
    let nb = per_row.min(a_row);
    if nb == 0 {
        // No blocks: every output is an empty sum, as the row kernels give.
        let zeros = vec![0.0; rows];
        (0..n - n % 4).for_each(|t| out(t, 0, &zeros));
        return;
    }
    let act = |t: usize| &acts[t * a_row..][..nb];
    let panels_per_block = (ROW_BLOCK_BYTES / (nb * size_of::<PanelBlock>())).max(1);
    let (mut owned_p, mut owned_c) = (Vec::new(), Vec::new());
    PANELS.with(|pcell| {
        COLS.with(|ccell| {
            // A nested call on this thread (not something the engine does) gets its own buffers.
            let (mut pb, mut cb) = (pcell.try_borrow_mut(), ccell.try_borrow_mut());
            let pbuf: &mut Vec<PanelBlock> = match pb.as_mut() {
                Ok(b) => b,
                Err(_) => &mut owned_p,
            };
            let cbuf: &mut Vec<ColBlock> = match cb.as_mut() {
                Ok(b) => b,
                Err(_) => &mut owned_c,
            };
            let plen = panels_per_block.min(rows.div_ceil(PANEL)) * nb;
            if pbuf.len() < plen {
                // SAFETY: `PanelBlock` is plain vectors, for which all-zero bytes are valid.
                pbuf.resize(plen, unsafe { std::mem::zeroed() });
            }
            if cbuf.len() < 4 * nb {
                cbuf.resize(4 * nb, ColBlock { init: [0; 8], qs: [0; 8], d: 0.0, s: 0.0 });
            }
            let mut r0 = 0;
            while r0 < rows {
                let r1 = (r0 + panels_per_block * PANEL).min(rows);
                let n_panels = (r1 - r0).div_ceil(PANEL);
                let panels = &mut pbuf[..n_panels * nb];
                fill_panels(panels, nb, w, per_row, r0..r1, |p, rows| interleave(p, rows, unpack));
                let panels = &*panels;
                for t0 in (0..n - n % 4).step_by(4) {
                    let cols = &mut cbuf[..4 * nb];
                    for (j, c) in cols.chunks_exact_mut(nb).enumerate() {
                        pack_col(c, act(t0 + j), off);
                    }
                    let col = |j: usize| &cols[j * nb..][..nb];
                    for (k, panel) in panels.chunks_exact(nb).enumerate() {
                        let mut v = [[0f32; PANEL]; 4];
                        for h in 0..2 {
                            let [a, b] = pair(panel, col(2 * h), col(2 * h + 1), W::HAS_MIN);
                            // SAFETY: 16 f32 are writable in each; no alignment requirement.
                            unsafe {
                                _mm512_storeu_ps(v[2 * h].as_mut_ptr(), a);
                                _mm512_storeu_ps(v[2 * h + 1].as_mut_ptr(), b);
                            }
                        }
                        let r = r0 + k * PANEL;
                        for (j, v) in v.iter().enumerate() {
                            out(t0 + j, r, &v[..PANEL.min(r1 - r)]);
                        }
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
// Entry points: `rows` consecutive weight rows of `w` times the activation rows in groups of
// four; `out(t, r, v)` receives activation row `t`'s results for weight rows `r..`, each
// bit-identical to the row kernel's.
// ---------------------------------------------------------------------------------------------

/// Q5_0 weights times four Q8_0 activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q5_0(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, &[f32])) {
    gemm::<BlockQ5_0, BlockQ8_0>(w, rows, acts, n, out, 16, |b| unpack_q5_0(b))
}

/// Q4_0 weights times four Q8_0 activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q4_0(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, &[f32])) {
    gemm::<BlockQ4_0, BlockQ8_0>(w, rows, acts, n, out, 8, |b| nibbles_x2(&b.qs))
}

/// Q8_0 weights times four Q8_0 activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q8_0(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, &[f32])) {
    gemm::<BlockQ8_0, BlockQ8_0>(w, rows, acts, n, out, 128, |b| unpack_q8_0(b))
}

/// Q4_1 weights times four Q8_1 activation rows.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn gemm_q4_1(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, &[f32])) {
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
