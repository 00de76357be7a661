//! Q4_K: 256 weights in 8 groups of 32; 4-bit values with a 6-bit scale and a 6-bit min per
//! group, both multiplied by the super-block's f16 `d` and `dmin`: `x = d*sc*q - dmin*m`.
//! Chunk c of 64 elements uses `qs[32c..32c+32]`: low nibbles are group 2c, high nibbles 2c+1.

use bytemuck::{Pod, Zeroable};

use super::q8_k::BlockQ8K;
use super::{f16, to_f16};
use crate::types::QK_K;

/// ggml's `block_q4_K`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ4K {
    /// Super-block scale for the group scales (f16 bits).
    pub d: [u8; 2],
    /// Super-block scale for the group mins (f16 bits).
    pub dmin: [u8; 2],
    /// Eight 6-bit scales and eight 6-bit mins, packed as `get_scale_min_k4` reads them.
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);

/// ggml's `get_scale_min_k4`: scale and min of group `j` (0..8). The first four groups use the
/// low 6 bits of bytes 0..8; the last four combine a nibble of bytes 8..12 with the top two bits
/// of bytes 0..8. Shared with Q5_K.
#[inline(always)]
pub(crate) fn scale_min(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// All eight (scales, mins).
#[inline(always)]
pub(crate) fn scales_mins(q: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..8 {
        (sc[j], mn[j]) = scale_min(j, q);
    }
    (sc, mn)
}

/// `dequantize_row_q4_K`.
pub fn dequantize(x: &[BlockQ4K], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (f16(b.d), f16(b.dmin));
        for c in 0..4 {
            let (sc1, m1) = scale_min(2 * c, &b.scales);
            let (sc2, m2) = scale_min(2 * c + 1, &b.scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let q = &b.qs[32 * c..32 * c + 32];
            let y = &mut y[64 * c..64 * c + 64];
            for l in 0..32 {
                y[l] = d1 * (q[l] & 0x0F) as f32 - m1;
                y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Quantization (ggml's reference quantizers; shared with Q2_K and Q5_K)
// ---------------------------------------------------------------------------------------------

/// ggml's `nearest_int` as the k-quant quantizers use it: adding 1.5 * 2^23 rounds to the nearest
/// integer (ties to even) and the mantissa holds the result. Within +-2^22 that is
/// `round_ties_even`; outside it (degenerate ratios) this keeps ggml's wrapped value too.
#[inline(always)]
pub(crate) fn nearest_int_k(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    (v.to_bits() as i32 & 0x007F_FFFF) - 0x0040_0000
}

/// ggml's `make_qkx2_quants`: the affine fit `x ~ scale * l - min` (`l` in 0..=nmax, `min` >= 0)
/// that minimizes the weighted error (absolute with `use_mad`, else squared), trying `nstep + 1`
/// grid spacings around `nmax / (max - min)` and refitting scale and min by least squares for
/// each. Writes the levels to `l` and returns `(scale, min)`. The float operations are ggml's,
/// one by one in its order (no fused multiply-adds), so the bytes match.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx2_quants(
    x: &[f32],
    weights: &[f32],
    nmax: i32,
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let n = x.len();
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        min = if x[i] < min { x[i] } else { min };
        max = if x[i] > max { x[i] } else { max };
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l[..n].fill(0);
        return (0.0, -min);
    }
    let err = |d: f32| if use_mad { d.abs() } else { d * d };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        l[i] = nearest_int_k(iscale * (x[i] - min)).clamp(0, nmax) as u8;
        best_error += weights[i] * err(scale * l[i] as f32 + min - x[i]);
    }
    if nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let q = nearest_int_k(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = q as u8;
            let (w, q) = (weights[i], q as f32);
            sum_l += w * q;
            sum_l2 += w * q * q;
            sum_xl += w * q * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                cur_error += weights[i] * err(this_scale * laux[i] as f32 + this_min - x[i]);
            }
            if cur_error < best_error {
                l[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// The first half of `quantize_row_q{4,5}_K_ref`: fits each group of 32 with
/// `make_qkx2_quants` (weights `sqrt(mean(x^2)) + |x|`), packs the 6-bit scales and mins with
/// their f16 super-scales into `scales`/`d`/`dmin`, and requantizes every element against the
/// stored (rounded) scale and min into `l` (levels 0..=nmax).
pub(crate) fn quantize_scales_k(
    x: &[f32],
    nmax: i32,
    rmin: f32,
    nstep: i32,
    l: &mut [u8; QK_K],
) -> ([u8; 12], [u8; 2], [u8; 2]) {
    let mut scales = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..8 {
        let xg = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xg {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let weights: [f32; 32] = std::array::from_fn(|i| av_x + xg[i].abs());
        (scales[j], mins[j]) = make_qkx2_quants(xg, &weights, nmax, &mut l[32 * j..], rmin, 0.1, nstep, false);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; 12];
    for j in 0..8 {
        // ggml stores the rounded value in a uint8_t before clamping.
        let ls = (nearest_int_k(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int_k(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let (d, dmin) = (to_f16(max_scale / 63.0), to_f16(max_min / 63.0));
    for j in 0..8 {
        let (sc, m) = scale_min(j, &packed);
        let dl = f16(d) * sc as f32;
        if dl == 0.0 {
            continue;
        }
        let dm = f16(dmin) * m as f32;
        for i in 32 * j..32 * j + 32 {
            l[i] = nearest_int_k((x[i] + dm) / dl).clamp(0, nmax) as u8;
        }
    }
    (packed, d, dmin)
}

/// `quantize_row_q4_K_ref` (what `llama-quantize` uses without an importance matrix).
pub fn quantize(x: &[f32], y: &mut [BlockQ4K]) {
    let mut l = [0u8; QK_K];
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        (b.scales, b.d, b.dmin) = quantize_scales_k(x, 15, -1.0, 20, &mut l);
        for c in 0..4 {
            for i in 0..32 {
                b.qs[32 * c + i] = l[64 * c + i] | (l[64 * c + 32 + i] << 4);
            }
        }
    }
}

/// Q4_K times Q8_K in the order of llama.cpp's x86 repacked kernel (`ggml_gemv_q4_K_8x8_q8_K`
/// and its gemm twin), which it runs for every Q4_K matrix with a multiple of 8 rows on AVX2
/// CPUs: per super-block the exact integer sums `sum(sc * q.q8)` and `sum(m * bsums)`, each
/// folded into its own f32 accumulator by an FMA with `d_w * d_a`; the mins are subtracted once
/// at the end. (`ggml_vec_dot_q4_K_q8_K` keeps 8-lane partial sums instead, which rounds
/// differently; the repacked order is what llama.cpp computes on the models we compare with.)
pub fn vec_dot(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (a, b) in x.iter().zip(y) {
        let (sc, mn) = scales_mins(&a.scales);
        let mut sumi = 0i32;
        for c in 0..4 {
            let q = &a.qs[32 * c..32 * c + 32];
            let q8 = &b.qs[64 * c..64 * c + 64];
            let (mut lo, mut hi) = (0i32, 0i32);
            for l in 0..32 {
                lo += (q[l] & 0x0F) as i32 * q8[l] as i32;
                hi += (q[l] >> 4) as i32 * q8[l + 32] as i32;
            }
            sumi = sumi.wrapping_add(sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi);
        }
        let summ: i32 = (0..8).map(|j| mn[j] as i32 * (b.bsums[2 * j] as i32 + b.bsums[2 * j + 1] as i32)).sum();
        // ggml's repacked kernel: the integer sums times (d_w * d_a), one FMA per super-block.
        acc = (sumi as f32).mul_add(f16(a.d) * b.d, acc);
        acc_m = (summ as f32).mul_add(f16(a.dmin) * b.d, acc_m);
    }
    acc - acc_m
}

/// `sum(m * bsums)` over the two groups (2c, 2c + 1) of the 64 elements from `64 * c`.
#[inline(always)]
pub(crate) fn mins_dot_pair(mn: &[u8; 8], bsums: &[i16; 16], c: usize) -> i32 {
    mn[2 * c] as i32 * (bsums[4 * c] as i32 + bsums[4 * c + 1] as i32)
        + mn[2 * c + 1] as i32 * (bsums[4 * c + 2] as i32 + bsums[4 * c + 3] as i32)
}

/// Q4_K times four Q8_K rows in the order of llama.cpp's AVX-512 repacked gemm
/// (`ggml_gemm_q4_K_8x8_q8_K`), which it runs for each group of four activation rows of a
/// batch (the rows left over use [`vec_dot`]'s gemv order): the exact integer sums of each 64
/// elements (two groups), and of their mins, each folded into an f32 accumulator by an FMA
/// with `d_w * d_a`; the mins are subtracted at the end. Uses AVX-512 or AVX2 where the CPU
/// has them (the results are identical).
pub fn vec_dot_x4_gemm(x: &[BlockQ4K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::cpu::Level;
        let level = crate::cpu::level();
        if matches!(level, Level::Avx512 | Level::Amx) {
            // SAFETY: the level says the CPU has AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
            return unsafe { crate::x86_64::gemm512::vec_dot_q4_k_x4_gemm(x, y) };
        }
        if level >= Level::Avx2 {
            // SAFETY: the level says the CPU has AVX2, FMA and F16C.
            return unsafe { crate::x86_64::avx2_k::vec_dot_q4_k_x4_gemm(x, y) };
        }
    }
    vec_dot_x4_gemm_scalar(x, y)
}

/// The portable twin of [`vec_dot_x4_gemm`].
pub fn vec_dot_x4_gemm_scalar(x: &[BlockQ4K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let mut acc = [0.0f32; 4];
    let mut acc_m = [0.0f32; 4];
    for (i, a) in x.iter().enumerate() {
        let (sc, mn) = scales_mins(&a.scales);
        for t in 0..4 {
            let b = &y[t][i];
            for c in 0..4 {
                let q = &a.qs[32 * c..32 * c + 32];
                let q8 = &b.qs[64 * c..64 * c + 64];
                let (mut lo, mut hi) = (0i32, 0i32);
                for l in 0..32 {
                    lo += (q[l] & 0x0F) as i32 * q8[l] as i32;
                    hi += (q[l] >> 4) as i32 * q8[l + 32] as i32;
                }
                let sumi = sc[2 * c] as i32 * lo + sc[2 * c + 1] as i32 * hi;
                acc[t] = (sumi as f32).mul_add(f16(a.d) * b.d, acc[t]);
                acc_m[t] = (mins_dot_pair(&mn, &b.bsums, c) as f32).mul_add(f16(a.dmin) * b.d, acc_m[t]);
            }
        }
    }
    [0, 1, 2, 3].map(|t| acc[t] - acc_m[t])
}

/// [`vec_dot_x4_gemm`] of each of `rows` consecutive weight rows of `w` (each `w.len() / rows`
/// blocks) with each activation row of `acts`: `out(t, r, v)` receives activation row `t`'s
/// results for weight rows `r..r + v.len()`. On AVX-512 CPUs a register-tiled kernel takes
/// panels of sixteen weight rows (see `x86_64::gemm512_k`); every result is bit-identical to
/// [`vec_dot_x4_gemm_scalar`] either way.
pub fn gemm(w: &[BlockQ4K], rows: usize, acts: &[&[BlockQ8K]], out: &mut dyn FnMut(usize, usize, &[f32])) {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::cpu::Level;
        if matches!(crate::cpu::level(), Level::Avx512 | Level::Amx) {
            // SAFETY: the level says the CPU has AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
            return unsafe { crate::x86_64::gemm512_k::gemm_q4_k(w, rows, acts, out) };
        }
    }
    gemm_with(w, rows, acts, out, vec_dot_x4_gemm)
}

/// The portable twin of [`gemm`].
pub fn gemm_scalar(w: &[BlockQ4K], rows: usize, acts: &[&[BlockQ8K]], out: &mut dyn FnMut(usize, usize, &[f32])) {
    gemm_with(w, rows, acts, out, vec_dot_x4_gemm_scalar)
}

/// [`gemm`] by a four-row kernel, the activation rows in groups of four (a last partial group
/// repeats its final row and drops the copies).
fn gemm_with(
    w: &[BlockQ4K],
    rows: usize,
    acts: &[&[BlockQ8K]],
    out: &mut dyn FnMut(usize, usize, &[f32]),
    x4: fn(&[BlockQ4K], [&[BlockQ8K]; 4]) -> [f32; 4],
) {
    let (Some(per_row), n) = (w.len().checked_div(rows), acts.len()) else { return };
    for t0 in (0..n).step_by(4) {
        let y: [&[BlockQ8K]; 4] = std::array::from_fn(|j| acts[(t0 + j).min(n - 1)]);
        let mut col = vec![[0f32; 4]; rows];
        for (r, v) in col.iter_mut().enumerate() {
            *v = x4(&w[r * per_row..][..per_row], y);
        }
        for j in 0..4.min(n - t0) {
            out(t0 + j, 0, &col.iter().map(|v| v[j]).collect::<Vec<f32>>());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::to_f16;

    #[test]
    fn scale_min_unpacking() {
        // Groups 0..4 read 6 bits directly; groups 4..8 splice a nibble and two high bits.
        let mut s = [0u8; 12];
        s[0] = 0b11_000101; // scale 0 = 5; its top bits feed scale 4
        s[4] = 0b01_001001; // min 0 = 9; its top bits feed min 4
        s[8] = 0b0111_0011; // scale 4 low nibble 3, min 4 low nibble 7
        assert_eq!(scale_min(0, &s), (5, 9));
        assert_eq!(scale_min(4, &s), (3 | (3 << 4), 7 | (1 << 4)));
    }

    #[test]
    fn known_block() {
        let mut b = BlockQ4K::zeroed();
        b.d = to_f16(0.5);
        b.dmin = to_f16(0.25);
        // All groups: scale 2, min 4 (groups 4..8 via the nibble bytes).
        for j in 0..4 {
            b.scales[j] = 2;
            b.scales[j + 4] = 4;
            b.scales[j + 8] = 2 | (4 << 4);
        }
        for (i, q) in b.qs.iter_mut().enumerate() {
            *q = (i % 16) as u8 | (((15 - i % 16) as u8) << 4);
        }
        let mut y = [0.0; 256];
        dequantize(&[b], &mut y);
        for c in 0..4 {
            for l in 0..32 {
                let i = 32 * c + l;
                assert_eq!(y[64 * c + l], 1.0 * (i % 16) as f32 - 1.0);
                assert_eq!(y[64 * c + 32 + l], 1.0 * (15 - i % 16) as f32 - 1.0);
            }
        }
    }

    #[test]
    fn gemm_order_simd_matches_scalar() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        let x: Vec<BlockQ4K> = (0..3)
            .map(|_| {
                let mut b: BlockQ4K = bytemuck::Zeroable::zeroed();
                b.d = to_f16((next() % 1000) as f32 * 1e-5);
                b.dmin = to_f16((next() % 1000) as f32 * 1e-5);
                b.scales.iter_mut().for_each(|v| *v = next() as u8);
                b.qs.iter_mut().for_each(|v| *v = next() as u8);
                b
            })
            .collect();
        let rows: Vec<Vec<f32>> =
            (0..4).map(|_| (0..3 * QK_K).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect()).collect();
        let acts: Vec<Vec<BlockQ8K>> = rows
            .iter()
            .map(|r| {
                let mut a = vec![bytemuck::Zeroable::zeroed(); 3];
                crate::quant::q8_k::quantize(r, &mut a);
                a
            })
            .collect();
        let y = [&acts[0][..], &acts[1][..], &acts[2][..], &acts[3][..]];
        let want = vec_dot_x4_gemm_scalar(&x, y);
        assert_eq!(vec_dot_x4_gemm(&x, y), want);
        // The same value as one row at a time, up to the f32 rounding of the order.
        for t in 0..4 {
            let one = vec_dot(&x, y[t]);
            assert!((one - want[t]).abs() <= 1e-4 * one.abs().max(1.0), "{one} vs {}", want[t]);
        }
    }

    /// Random weight blocks (modest scales) and activation blocks (any bytes, any `bsums`: the
    /// kernels must be exact for every input); `extreme` fills every nibble with 15, every
    /// 6-bit scale and min with 63 and every activation byte with -128.
    fn gemm_data(next: &mut impl FnMut() -> u32, blocks: usize, extreme: bool) -> (Vec<BlockQ4K>, Vec<BlockQ8K>) {
        let w = (0..blocks)
            .map(|_| {
                let mut b: BlockQ4K = bytemuck::Zeroable::zeroed();
                b.d = to_f16((next() % 1000) as f32 * 1e-5);
                b.dmin = to_f16((next() % 1000) as f32 * 1e-5);
                for v in b.scales.iter_mut().chain(b.qs.iter_mut()) {
                    *v = if extreme { 0xFF } else { next() as u8 };
                }
                b
            })
            .collect();
        let a = (0..blocks)
            .map(|_| {
                let mut b: BlockQ8K = bytemuck::Zeroable::zeroed();
                b.d = (next() % 1000) as f32 * 1e-4 + 1e-3;
                b.qs.iter_mut().for_each(|v| *v = if extreme { -128 } else { next() as i8 });
                if next().is_multiple_of(2) {
                    crate::quant::q8_k::fill_bsums(&mut b);
                } else {
                    b.bsums.iter_mut().for_each(|v| *v = next() as i16);
                }
                b
            })
            .collect();
        (w, a)
    }

    /// What a gemm entry point computes, as `[t][r]`; every output must be written once.
    fn run(n: usize, rows: usize, f: impl Fn(Sink<'_>)) -> Vec<Vec<f32>> {
        let mut got = vec![vec![f32::NAN; rows]; n];
        let mut seen = vec![vec![0u8; rows]; n];
        f(&mut |t, r0, v| {
            for (r, v) in (r0..).zip(v) {
                got[t][r] = *v;
                seen[t][r] += 1;
            }
        });
        assert!(seen.iter().flatten().all(|&s| s == 1), "an output was not written exactly once");
        got
    }
    type Sink<'a> = &'a mut dyn FnMut(usize, usize, &[f32]);

    #[test]
    fn gemm_matches_per_row_scalar_bit_for_bit() {
        let mut seed = 11u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        #[cfg(target_arch = "x86_64")]
        let tiled = crate::cpu::supports(crate::cpu::Level::Avx512);
        #[cfg(target_arch = "x86_64")]
        if !tiled {
            println!("skipping the AVX-512 panel kernel: this CPU lacks AVX-512 F/BW/VL/VNNI");
        }
        // Row counts around the panel height of sixteen; activation counts around groups of four.
        for (nb, rows, n) in [(1, 1, 4), (2, 3, 1), (3, 16, 5), (5, 17, 8), (8, 9, 3), (1, 33, 6), (2, 15, 2)] {
            for extreme in [false, true] {
                let (w, _) = gemm_data(&mut next, rows * nb, extreme);
                let acts: Vec<Vec<BlockQ8K>> = (0..n).map(|_| gemm_data(&mut next, nb, extreme).1).collect();
                let y: Vec<&[BlockQ8K]> = acts.iter().map(|a| &a[..]).collect();
                let want: Vec<Vec<f32>> = (0..n)
                    .map(|t| {
                        let a = [y[t], y[t], y[t], y[t]];
                        (0..rows).map(|r| vec_dot_x4_gemm_scalar(&w[r * nb..(r + 1) * nb], a)[0]).collect()
                    })
                    .collect();
                let check = |name: &str, got: &[Vec<f32>]| {
                    for (t, (got, want)) in got.iter().zip(&want).enumerate() {
                        for (r, (g, w)) in got.iter().zip(want).enumerate() {
                            assert_eq!(
                                g.to_bits(),
                                w.to_bits(),
                                "{name}: rows = {rows}, nb = {nb}, n = {n}, extreme = {extreme}, ({r}, {t}): {g} vs {w}"
                            );
                        }
                    }
                };
                check("gemm", &run(n, rows, |o| gemm(&w, rows, &y, o)));
                check("gemm_scalar", &run(n, rows, |o| gemm_scalar(&w, rows, &y, o)));
                #[cfg(target_arch = "x86_64")]
                if tiled {
                    // SAFETY: this CPU has AVX-512 (checked above).
                    let got = run(n, rows, |o| unsafe { crate::x86_64::gemm512_k::gemm_q4_k(&w, rows, &y, o) });
                    check("gemm512_k", &got);
                }
            }
        }
    }

    /// Not a test: ns per super-block per output of the per-row and tiled kernels (one thread,
    /// data in cache). `cargo test --release -p rollama-kernels gemm_timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn gemm_timing() {
        let mut seed = 5u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for (rows, nb, n) in [(64, 8, 4), (64, 19, 4), (128, 19, 4), (64, 8, 128), (64, 19, 128)] {
            let (w, _) = gemm_data(&mut next, rows * nb, false);
            let acts: Vec<Vec<BlockQ8K>> = (0..n).map(|_| gemm_data(&mut next, nb, false).1).collect();
            let y4 = [&acts[0][..], &acts[1][..], &acts[2][..], &acts[3][..]];
            let y: Vec<&[BlockQ8K]> = acts.iter().map(|a| &a[..]).collect();
            let time = |f: &dyn Fn() -> f32| {
                let mut best = f64::MAX;
                for _ in 0..300 {
                    let t = std::time::Instant::now();
                    std::hint::black_box(f());
                    best = best.min(t.elapsed().as_secs_f64());
                }
                best * 1e9 / (rows * nb * 4) as f64
            };
            let per_row = time(&|| (0..rows).map(|r| vec_dot_x4_gemm(&w[r * nb..(r + 1) * nb], y4)[0]).sum());
            let tiled = time(&|| {
                let mut s = 0.0;
                gemm(&w, rows, &y, &mut |_, _, v| s += v[0]);
                s
            }) * 4.0
                / n as f64;
            println!(
                "Q4_K gemm order, {rows} x {nb}, {n} activation rows: per row {per_row:.2}, gemm {tiled:.2} ns/super-block/output"
            );
        }
    }
}
