//! AVX2 + FMA + F16C kernels for the k-quants and their Q8_K activations.
//!
//! Per super-block the integer work is exact: `maddubs` multiplies unsigned weight values with
//! signed activations into i16 pairs, `madd` applies the group scale and widens to i32, and
//! only the super-block total is converted to f32 and scaled. Group offsets (the mins of Q4_K and
//! Q5_K, the -32 of Q6_K) are handled as in ggml: through `bsums` or a second `maddubs`.

use std::arch::x86_64::*;

use super::avx2::{f16x, hsum, ld128, ld256, pack_i32_to_i8, st256};
use crate::quant::q4_k::scales_mins;
use crate::quant::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::types::QK_K;

/// Q8_K activations; bit-identical to `quant::q8_k::quantize`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    let sign = _mm256_set1_ps(-0.0);
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        // SAFETY (all loads below): `x` has exactly QK_K floats and k < QK_K / 8.
        let ld = |k: usize| unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * k)) };
        let mut m = _mm256_setzero_ps();
        for k in 0..QK_K / 8 {
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, ld(k)));
        }
        let m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
        let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        if amax == 0.0 {
            *b = bytemuck::Zeroable::zeroed();
            continue;
        }
        // The sign of the scale comes from the first element of largest magnitude.
        let target = _mm256_set1_ps(amax);
        let mut max = amax;
        for k in 0..QK_K / 8 {
            let hit = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_andnot_ps(sign, ld(k)), target));
            if hit != 0 {
                max = x[8 * k + hit.trailing_zeros() as usize];
                break;
            }
        }
        let iscale = -127.0 / max;
        let vs = _mm256_set1_ps(iscale);
        let cap = _mm256_set1_epi32(127);
        let ones8 = _mm256_set1_epi8(1);
        let ones16 = _mm256_set1_epi16(1);
        for g in 0..QK_K / 32 {
            let q: [__m256i; 4] = std::array::from_fn(|k| {
                let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
                    vs,
                    ld(4 * g + k),
                ));
                _mm256_min_epi32(_mm256_cvtps_epi32(r), cap)
            });
            let bytes = pack_i32_to_i8(q);
            st256(&mut b.qs[32 * g..], bytes);
            // Sums of 16: byte pairs, then quads, then two horizontal adds per 128-bit lane.
            let s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, bytes), ones16);
            let h = _mm256_hadd_epi32(s32, s32);
            let h = _mm256_hadd_epi32(h, h);
            b.bsums[2 * g] = _mm256_extract_epi32::<0>(h) as i16;
            b.bsums[2 * g + 1] = _mm256_extract_epi32::<4>(h) as i16;
        }
        b.d = 1.0 / iscale;
    }
}

/// The integer sum of `mins[j] * (bsums[2j] + bsums[2j + 1])` of Q4_K/Q5_K.
#[inline(always)]
fn mins_dot(mn: &[u8; 8], bsums: &[i16; 16]) -> i32 {
    (0..8).map(|j| mn[j] as i32 * (bsums[2 * j] as i32 + bsums[2 * j + 1] as i32)).sum()
}

/// Q4_K weights times Q8_K activations, in the order of `quant::q4_k::vec_dot`.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (a, b) in x.iter().zip(y) {
        let (sc, mn) = scales_mins(&a.scales);
        let mut sumi = _mm256_setzero_si256();
        for c in 0..4 {
            let q4 = ld256(&a.qs[32 * c..]);
            let lo = _mm256_and_si256(q4, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
            let pl = _mm256_maddubs_epi16(lo, ld256(&b.qs[64 * c..]));
            let ph = _mm256_maddubs_epi16(hi, ld256(&b.qs[64 * c + 32..]));
            let pl = _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * c] as i16), pl);
            let ph = _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * c + 1] as i16), ph);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        // The order of `quant::q4_k::vec_dot` (llama.cpp's repacked kernel).
        acc = (hsum_i32(sumi) as f32).mul_add(f16x(a.d) * b.d, acc);
        acc_m = (mins_dot(&mn, &b.bsums) as f32).mul_add(f16x(a.dmin) * b.d, acc_m);
    }
    acc - acc_m
}

/// The wrapping sum of eight i32 lanes (exact: super-block sums stay far below 2^31).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}

/// `vec_dot_q4_k` for four activation rows: scales, mins and nibbles are unpacked once per
/// super-block; each row's arithmetic is exactly that of the single-row kernel.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_k_x4(x: &[BlockQ4K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = [0.0f32; 4];
    let mut acc_m = [0.0f32; 4];
    for (i, a) in x.iter().enumerate() {
        let (sc, mn) = scales_mins(&a.scales);
        let scale: [__m256i; 8] = std::array::from_fn(|j| _mm256_set1_epi16(sc[j] as i16));
        let q: [__m256i; 8] = std::array::from_fn(|j| {
            let q4 = ld256(&a.qs[32 * (j / 2)..]);
            if j % 2 == 0 {
                _mm256_and_si256(q4, m4)
            } else {
                _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4)
            }
        });
        let (dx, dmx) = (f16x(a.d), f16x(a.dmin));
        for t in 0..4 {
            let b = &y[t][i];
            let mut sumi = _mm256_setzero_si256();
            for c in 0..4 {
                let pl = _mm256_madd_epi16(scale[2 * c], _mm256_maddubs_epi16(q[2 * c], ld256(&b.qs[64 * c..])));
                let ph = _mm256_madd_epi16(
                    scale[2 * c + 1],
                    _mm256_maddubs_epi16(q[2 * c + 1], ld256(&b.qs[64 * c + 32..])),
                );
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
            }
            acc[t] = (hsum_i32(sumi) as f32).mul_add(dx * b.d, acc[t]);
            acc_m[t] = (mins_dot(&mn, &b.bsums) as f32).mul_add(dmx * b.d, acc_m[t]);
        }
    }
    [0, 1, 2, 3].map(|t| acc[t] - acc_m[t])
}

/// Q4_K weights times four Q8_K activation rows in the order of `quant::q4_k::vec_dot_x4_gemm`
/// (llama.cpp's AVX-512 repacked gemm): one FMA per 64 elements rather than per super-block.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_k_x4_gemm(x: &[BlockQ4K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = [0.0f32; 4];
    let mut acc_m = [0.0f32; 4];
    for (i, a) in x.iter().enumerate() {
        let (sc, mn) = scales_mins(&a.scales);
        let scale: [__m256i; 8] = std::array::from_fn(|j| _mm256_set1_epi16(sc[j] as i16));
        let q: [__m256i; 8] = std::array::from_fn(|j| {
            let q4 = ld256(&a.qs[32 * (j / 2)..]);
            if j % 2 == 0 {
                _mm256_and_si256(q4, m4)
            } else {
                _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4)
            }
        });
        let (dx, dmx) = (f16x(a.d), f16x(a.dmin));
        for t in 0..4 {
            let b = &y[t][i];
            for c in 0..4 {
                let pl = _mm256_madd_epi16(scale[2 * c], _mm256_maddubs_epi16(q[2 * c], ld256(&b.qs[64 * c..])));
                let ph = _mm256_madd_epi16(
                    scale[2 * c + 1],
                    _mm256_maddubs_epi16(q[2 * c + 1], ld256(&b.qs[64 * c + 32..])),
                );
                let imin = crate::quant::q4_k::mins_dot_pair(&mn, &b.bsums, c);
                acc[t] = (hsum_i32(_mm256_add_epi32(pl, ph)) as f32).mul_add(dx * b.d, acc[t]);
                acc_m[t] = (imin as f32).mul_add(dmx * b.d, acc_m[t]);
            }
        }
    }
    [0, 1, 2, 3].map(|t| acc[t] - acc_m[t])
}

/// Q5_K weights times Q8_K activations.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q5_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let sixteen = _mm256_set1_epi8(16);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let (sc, mn) = scales_mins(&a.scales);
        let qh = ld256(&a.qh);
        let mut sumi = _mm256_setzero_si256();
        for c in 0..4 {
            // 16 where the chunk's high bit is set: bit 2c for the low nibbles, 2c+1 for the high.
            let bit = |k: i32| {
                let m = _mm256_set1_epi8((1u8 << k) as i8);
                _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, m), m), sixteen)
            };
            let (hl, hh) = (bit(2 * c as i32), bit(2 * c as i32 + 1));
            let q4 = ld256(&a.qs[32 * c..]);
            let lo = _mm256_or_si256(_mm256_and_si256(q4, m4), hl);
            let hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4), hh);
            let pl = _mm256_maddubs_epi16(lo, ld256(&b.qs[64 * c..]));
            let ph = _mm256_maddubs_epi16(hi, ld256(&b.qs[64 * c + 32..]));
            let pl = _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * c] as i16), pl);
            let ph = _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * c + 1] as i16), ph);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        let d = b.d * f16x(a.d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        acc_m += b.d * f16x(a.dmin) * mins_dot(&mn, &b.bsums) as f32;
    }
    hsum(acc) - acc_m
}

/// Q6_K weights times Q8_K activations, as ggml's AVX2 kernel: values are taken unsigned
/// (0..64) and the -32 offset is subtracted per lane through `bsums` (see `q6_offset`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q6_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in x.iter().zip(y) {
        let mut sumi = _mm256_setzero_si256();
        let (q, scale) = unpack_q6_k(a);
        for h in 0..2 {
            for k in 0..4 {
                let q8 = ld256(&b.qs[128 * h + 32 * k..]);
                let p = _mm256_maddubs_epi16(q[4 * h + k], q8);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale[4 * h + k], p));
            }
        }
        let sumi = _mm256_sub_epi32(sumi, q6_offset(a, b));
        let d = b.d * f16x(a.d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// `vec_dot_q6_k` for four activation rows (see `vec_dot_q4_k_x4`).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q6_k_x4(x: &[BlockQ6K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let mut acc = [_mm256_setzero_ps(); 4];
    for (i, a) in x.iter().enumerate() {
        let (q, scale) = unpack_q6_k(a);
        let dx = f16x(a.d);
        for t in 0..4 {
            let b = &y[t][i];
            let mut sumi = _mm256_setzero_si256();
            for j in 0..8 {
                let q8 = ld256(&b.qs[32 * j..]);
                let p = _mm256_maddubs_epi16(q[j], q8);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale[j], p));
            }
            let sumi = _mm256_sub_epi32(sumi, q6_offset(a, b));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * dx), _mm256_cvtepi32_ps(sumi), acc[t]);
        }
    }
    acc.map(|a| hsum(a))
}

/// The -32 offset of Q6_K as ggml's AVX2 kernel takes it out: `32 * (bsums[2l] * sc[2l] +
/// bsums[2l + 1] * sc[2l + 1])` from lane l, after the unsigned products. The lane totals (not
/// just their sum) decide how the f32 accumulation rounds, so this follows ggml exactly.
#[inline]
#[target_feature(enable = "avx2")]
fn q6_offset(a: &BlockQ6K, b: &BlockQ8K) -> __m256i {
    let sc = _mm256_cvtepi8_epi16(ld128(&a.scales));
    _mm256_slli_epi32::<5>(_mm256_madd_epi16(ld256(&b.bsums), sc))
}

/// The 256 unsigned 6-bit values of a Q6_K block as eight vectors of 32 (element order), and
/// the matching i16 scale vectors (two groups of 16 per vector).
#[inline]
#[target_feature(enable = "avx2")]
fn unpack_q6_k(a: &BlockQ6K) -> ([__m256i; 8], [__m256i; 8]) {
    let m4 = _mm256_set1_epi8(0x0F);
    let m2 = _mm256_set1_epi8(3);
    let mut q = [_mm256_setzero_si256(); 8];
    for h in 0..2 {
        let l1 = ld256(&a.ql[64 * h..]);
        let l2 = ld256(&a.ql[64 * h + 32..]);
        let hb = ld256(&a.qh[32 * h..]);
        // Quarter k: low nibbles of l1, l2, then high nibbles of l1, l2; high bits 2k..2k+2.
        let quarters = [
            _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16::<4>(_mm256_and_si256(hb, m2))),
            _mm256_or_si256(
                _mm256_and_si256(l2, m4),
                _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<2>(hb), m2)),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(l1), m4),
                _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<4>(hb), m2)),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(l2), m4),
                _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<6>(hb), m2)),
            ),
        ];
        q[4 * h..4 * h + 4].copy_from_slice(&quarters);
    }
    let scale = std::array::from_fn(|j| {
        let (s0, s1) = (a.scales[2 * j] as i16, a.scales[2 * j + 1] as i16);
        _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0))
    });
    (q, scale)
}
