//! AVX2 + FMA + F16C dot products of the less common Q8_K-paired weight types: Q2_K, Q3_K and
//! IQ4_XS, after ggml's `ggml_vec_dot_{q2_K,q3_K,iq4_xs}_q8_K` for AVX2.
//!
//! As in `avx2_k`, the integer work of a super-block is exact (`maddubs` into i16 pairs, `madd`
//! with the group scale into i32 lanes); each super-block's eight i32 lanes are then folded into
//! eight f32 accumulators by an FMA and summed once at the end. The lane contents and the FMA
//! order are ggml's, so the f32 rounding is too; against the scalar twins in `quant` only the
//! summation order differs.

use std::arch::x86_64::*;

use super::avx2::{f16x, hsum, ld128, ld256};
use crate::quant::iq4_nl::KVALUES;
use crate::quant::{BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ8K};

/// The i16 multiplier vector for the 32 bytes of groups `2i` and `2i + 1` out of eight i16
/// scales held in both 128-bit lanes of `scales`: scale `2i` across the low lane, `2i + 1`
/// across the high one (ggml's `get_scale_shuffle_q3k(i)`).
#[inline]
#[target_feature(enable = "avx2")]
fn scale_pair(scales: __m256i, i: usize) -> __m256i {
    let b = 4 * i as i16;
    let lo = _mm_set1_epi16(b | ((b + 1) << 8));
    let hi = _mm_set1_epi16((b + 2) | ((b + 3) << 8));
    _mm256_shuffle_epi8(scales, _mm256_set_m128i(hi, lo))
}

/// Sixteen i8 group scales widened to i16, as two vectors that each hold eight of them in both
/// lanes (groups 0..8, then 8..16), ready for [`scale_pair`].
#[inline]
#[target_feature(enable = "avx2")]
fn scale_halves(scales8: __m128i) -> [__m256i; 2] {
    let all = _mm256_cvtepi8_epi16(scales8);
    let (l, h) = (_mm256_castsi256_si128(all), _mm256_extracti128_si256::<1>(all));
    [_mm256_set_m128i(l, l), _mm256_set_m128i(h, h)]
}

/// Q2_K weights times Q8_K activations: the mins through `bsums` first, then the 2-bit values
/// unsigned against the activations, both into the same eight f32 lanes.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q2_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    let m3 = _mm256_set1_epi8(3);
    let m4 = _mm_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    for (a, b) in x.iter().zip(y) {
        let d = b.d * f16x(a.d);
        let dmin = -b.d * f16x(a.dmin);
        let mins_and_scales = ld128(&a.scales);
        let scales8 = _mm_and_si128(mins_and_scales, m4);
        let mins8 = _mm_and_si128(_mm_srli_epi16::<4>(mins_and_scales), m4);
        let prod = _mm256_madd_epi16(_mm256_cvtepi8_epi16(mins8), ld256(&b.bsums));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);

        let scales = scale_halves(scales8);
        let mut sumi = _mm256_setzero_si256();
        for (h, &sc) in scales.iter().enumerate() {
            let q2 = ld256(&a.qs[32 * h..]);
            // Shift 2k selects the 32 elements 128h + 32k.. (groups 8h + 2k and 8h + 2k + 1).
            let q = [
                _mm256_and_si256(q2, m3),
                _mm256_and_si256(_mm256_srli_epi16::<2>(q2), m3),
                _mm256_and_si256(_mm256_srli_epi16::<4>(q2), m3),
                _mm256_and_si256(_mm256_srli_epi16::<6>(q2), m3),
            ];
            let p: [__m256i; 4] = std::array::from_fn(|k| {
                let p16 = _mm256_maddubs_epi16(q[k], ld256(&b.qs[128 * h + 32 * k..]));
                _mm256_madd_epi16(scale_pair(sc, k), p16)
            });
            let p01 = _mm256_add_epi32(p[0], p[1]);
            let p23 = _mm256_add_epi32(p[2], p[3]);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p01, p23));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// The sixteen 6-bit Q3_K group scales minus 32, unpacked with 32-bit masks as ggml does
/// (`quant::q3_k::scales` is the per-byte reading; its test checks the two agree).
#[inline]
#[target_feature(enable = "avx2")]
fn q3_k_scales_x(raw: &[u8; 12]) -> __m128i {
    let w = |i: usize| u32::from_le_bytes([raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]]);
    let (a0, a1, tmp) = (w(0), w(1), w(2));
    let (k1, k2) = (0x0303_0303u32, 0x0F0F_0F0Fu32);
    let s = _mm_set_epi32(
        (((a1 >> 4) & k2) | (((tmp >> 6) & k1) << 4)) as i32,
        (((a0 >> 4) & k2) | (((tmp >> 4) & k1) << 4)) as i32,
        ((a1 & k2) | (((tmp >> 2) & k1) << 4)) as i32,
        ((a0 & k2) | ((tmp & k1) << 4)) as i32,
    );
    _mm_sub_epi8(s, _mm_set1_epi8(32))
}

/// Q3_K weights times Q8_K activations: the low 2 bits unsigned against the activations, minus
/// 4 times the activations where the high bit is clear (a second `maddubs`), then the signed
/// 6-bit group scales.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q3_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    let m3 = _mm256_set1_epi8(3);
    let four = _mm256_set1_epi8(4);
    let zero = _mm256_setzero_si256();
    let mut acc = _mm256_setzero_ps();
    for (a, b) in x.iter().zip(y) {
        let d = b.d * f16x(a.d);
        let scales = scale_halves(q3_k_scales_x(&a.scales));
        let hbits = ld256(&a.hmask);
        let mut sumi = _mm256_setzero_si256();
        for (h, &sc) in scales.iter().enumerate() {
            let q3 = ld256(&a.qs[32 * h..]);
            let low = [
                _mm256_and_si256(q3, m3),
                _mm256_and_si256(_mm256_srli_epi16::<2>(q3), m3),
                _mm256_and_si256(_mm256_srli_epi16::<4>(q3), m3),
                _mm256_and_si256(_mm256_srli_epi16::<6>(q3), m3),
            ];
            let p: [__m256i; 4] = std::array::from_fn(|k| {
                // 4 where bit 4h + k of the mask byte is clear, else 0.
                let m = _mm256_set1_epi8((1u8 << (4 * h + k)) as i8);
                let high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, m), zero), four);
                let q8 = ld256(&b.qs[128 * h + 32 * k..]);
                let p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(low[k], q8), _mm256_maddubs_epi16(high, q8));
                _mm256_madd_epi16(scale_pair(sc, k), p16)
            });
            let p01 = _mm256_add_epi32(p[0], p[1]);
            let p23 = _mm256_add_epi32(p[2], p[3]);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p01, p23));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// IQ4_XS weights times Q8_K activations: nibbles become levels through a byte shuffle of the
/// 16-entry table, and signed-by-signed products go through `maddubs` by moving the sign of the
/// level onto the activation.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq4_xs(x: &[BlockIq4Xs], y: &[BlockQ8K]) -> f32 {
    let values = ld128(&KVALUES);
    let m4 = _mm_set1_epi8(0x0F);
    let levels = |q: __m128i| {
        _mm256_set_m128i(
            _mm_shuffle_epi8(values, _mm_and_si128(_mm_srli_epi16::<4>(q), m4)),
            _mm_shuffle_epi8(values, _mm_and_si128(q, m4)),
        )
    };
    let mut acc = _mm256_setzero_ps();
    for (a, b) in x.iter().zip(y) {
        let mut sh = u16::from_le_bytes(a.scales_h);
        let mut sumi1 = _mm256_setzero_si256();
        let mut sumi2 = _mm256_setzero_si256();
        for ib in (0..8).step_by(2) {
            let q1 = levels(ld128(&a.qs[16 * ib..]));
            let q2 = levels(ld128(&a.qs[16 * ib + 16..]));
            let y1 = ld256(&b.qs[32 * ib..]);
            let y2 = ld256(&b.qs[32 * ib + 32..]);
            let p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(q1, q1), _mm256_sign_epi8(y1, q1));
            let p2 = _mm256_maddubs_epi16(_mm256_sign_epi8(q2, q2), _mm256_sign_epi8(y2, q2));
            let sl = a.scales_l[ib / 2];
            let ls1 = ((sl & 0x0F) as i16 | ((sh << 4) & 0x30) as i16) - 32;
            let ls2 = ((sl >> 4) as i16 | ((sh << 2) & 0x30) as i16) - 32;
            sh >>= 4;
            sumi1 = _mm256_add_epi32(_mm256_madd_epi16(p1, _mm256_set1_epi16(ls1)), sumi1);
            sumi2 = _mm256_add_epi32(_mm256_madd_epi16(p2, _mm256_set1_epi16(ls2)), sumi2);
        }
        let d = f16x(a.d) * b.d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi1, sumi2)), acc);
    }
    hsum(acc)
}
