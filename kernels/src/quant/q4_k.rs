//! Q4_K: 256 weights in 8 groups of 32; 4-bit values with a 6-bit scale and a 6-bit min per
//! group, both multiplied by the super-block's f16 `d` and `dmin`: `x = d*sc*q - dmin*m`.
//! Chunk c of 64 elements uses `qs[32c..32c+32]`: low nibbles are group 2c, high nibbles 2c+1.

use bytemuck::{Pod, Zeroable};

use super::f16;
use super::q8_k::BlockQ8K;
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
/// with `d_w * d_a`; the mins are subtracted at the end. Uses AVX2 where the CPU has it (the
/// results are identical).
pub fn vec_dot_x4_gemm(x: &[BlockQ4K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::level() >= crate::cpu::Level::Avx2 {
        // SAFETY: the level says the CPU has AVX2, FMA and F16C.
        return unsafe { crate::x86_64::avx2_k::vec_dot_q4_k_x4_gemm(x, y) };
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
}
