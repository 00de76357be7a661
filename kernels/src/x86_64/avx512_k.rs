//! AVX-512 (F/BW/VL/VNNI) kernels for the k-quants Q4_K and Q6_K, bit-identical to the AVX2
//! ones in `avx2_k`.
//!
//! Only integer work changes: 64 weights per 512-bit register, `maddubs` for the products (it
//! cannot saturate: weights are below 64) and `vpdpwssd` to apply the group scales and
//! accumulate. The f32 steps see the same values in the same order as in `avx2_k`: for Q4_K the
//! super-block's integer totals; for Q6_K the same eight i32 lanes per super-block (the two
//! halves of the 16-lane accumulator hold disjoint parts of each AVX2 lane, added exactly).

use std::arch::x86_64::*;

use super::avx2::{hsum, ld128, ld256};
use super::avx512::{f16s, opaque_zero};
use crate::quant::{BlockQ4K, BlockQ6K, BlockQ8K};

/// Loads 64 bytes from the front of `s`.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn ld512<T: bytemuck::Pod>(s: &[T]) -> __m512i {
    let b: &[u8] = bytemuck::cast_slice(s);
    assert!(b.len() >= 64);
    // SAFETY: 64 bytes are readable (checked above); the load has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// A 32-byte vector in both halves of a 512-bit one.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn dup256(v: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(v), v)
}

/// 16-bit shift counts: 0 in the low half of a 512-bit vector, `K` in the high half.
#[inline]
#[target_feature(enable = "avx2,avx512f")]
fn counts_hi<const K: i16>() -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_setzero_si512(), _mm256_set1_epi16(K))
}

// ---------------------------------------------------------------------------------------------
// Q4_K
// ---------------------------------------------------------------------------------------------

/// A Q4_K super-block unpacked: chunk c's 64 values (group 2c from the low nibbles, then group
/// 2c + 1 from the high ones), the matching i16 scales, and each min twice as an i16 (for
/// `bsums`, which hold two sums per group).
struct Q4K {
    q: [__m512i; 4],
    scale: [__m512i; 4],
    mins: __m256i,
}

/// The eight 6-bit scales and mins as bytes, unpacked with 32-bit words as ggml does
/// (`get_scale_min_k4` for all groups at once; `quant::q4_k::scales_mins` is the byte-wise twin).
#[inline(always)]
fn scales_mins_u64(q: &[u8; 12]) -> (u64, u64) {
    const K1: u32 = 0x3f3f_3f3f;
    const K2: u32 = 0x0f0f_0f0f;
    const K3: u32 = 0x0303_0303;
    let w = |i: usize| u32::from_le_bytes([q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]]);
    let (u0, u1, u2) = (w(0), w(1), w(2));
    let sc_hi = (u2 & K2) | (((u0 >> 6) & K3) << 4);
    let mn_hi = ((u2 >> 4) & K2) | (((u1 >> 6) & K3) << 4);
    ((u0 & K1) as u64 | (sc_hi as u64) << 32, (u1 & K1) as u64 | (mn_hi as u64) << 32)
}

#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn unpack_q4_k(a: &BlockQ4K) -> Q4K {
    let (sc, mn) = scales_mins_u64(&a.scales);
    let m4 = _mm512_set1_epi8(0x0F);
    let shift = counts_hi::<4>();
    let q = std::array::from_fn(|c| _mm512_and_si512(_mm512_srlv_epi16(dup256(ld256(&a.qs[32 * c..])), shift), m4));
    let s16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(sc as i64)));
    let scale = std::array::from_fn(|c| {
        let idx = _mm512_inserti64x4::<1>(_mm512_set1_epi16(2 * c as i16), _mm256_set1_epi16(2 * c as i16 + 1));
        _mm512_permutexvar_epi16(idx, s16)
    });
    let mn = _mm_cvtsi64_si128(mn as i64);
    let mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn, mn));
    Q4K { q, scale, mins }
}

/// `(sum(sc[g] * q.q8), sum(m[g] * bsums))` of one super-block: the two integer totals the
/// AVX2 kernel converts.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
fn q4_k_sums(w: &Q4K, b: &BlockQ8K) -> (i32, i32) {
    let mut sumi = _mm512_setzero_si512();
    for c in 0..4 {
        let p = _mm512_maddubs_epi16(w.q[c], ld512(&b.qs[64 * c..]));
        sumi = _mm512_dpwssd_epi32(sumi, p, w.scale[c]);
    }
    let s8 = _mm256_add_epi32(_mm512_castsi512_si256(sumi), _mm512_extracti64x4_epi64::<1>(sumi));
    let m8 = _mm256_madd_epi16(ld256(&b.bsums), w.mins);
    // Both totals at once: lane 0 the sums, lane 1 the mins.
    let t = _mm256_hadd_epi32(s8, m8);
    let t = _mm256_hadd_epi32(t, t);
    let t = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256::<1>(t));
    (_mm_cvtsi128_si32(t), _mm_extract_epi32::<1>(t))
}

/// Q4_K weights times Q8_K activations; bit-identical to `avx2_k::vec_dot_q4_k`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    let z = opaque_zero();
    for (a, b) in x.iter().zip(y) {
        let (sumi, summ) = q4_k_sums(&unpack_q4_k(a), b);
        acc = (sumi as f32).mul_add(f16s(a.d, z) * b.d, acc);
        acc_m = (summ as f32).mul_add(f16s(a.dmin, z) * b.d, acc_m);
    }
    acc - acc_m
}

/// `vec_dot_q4_k` for four activation rows; bit-identical to `avx2_k::vec_dot_q4_k_x4`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q4_k_x4(x: &[BlockQ4K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let mut acc = [0.0f32; 4];
    let mut acc_m = [0.0f32; 4];
    let z = opaque_zero();
    for (i, a) in x.iter().enumerate() {
        let w = unpack_q4_k(a);
        let (dx, dmx) = (f16s(a.d, z), f16s(a.dmin, z));
        for t in 0..4 {
            let b = &y[t][i];
            let (sumi, summ) = q4_k_sums(&w, b);
            acc[t] = (sumi as f32).mul_add(dx * b.d, acc[t]);
            acc_m[t] = (summ as f32).mul_add(dmx * b.d, acc_m[t]);
        }
    }
    [0, 1, 2, 3].map(|t| acc[t] - acc_m[t])
}

// ---------------------------------------------------------------------------------------------
// Q6_K
// ---------------------------------------------------------------------------------------------

/// A Q6_K super-block unpacked: `q[p]` holds the unsigned values (0..64) of AVX2's vectors 2p
/// and 2p + 1 (elements 64p..64p + 64), `scale[p]` their i16 scales (one per 16 elements), and
/// `sc16` the 16 scales for the offset term.
struct Q6K {
    q: [__m512i; 4],
    scale: [__m512i; 4],
    sc16: __m256i,
}

#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw")]
fn unpack_q6_k(a: &BlockQ6K) -> Q6K {
    let m4 = _mm512_set1_epi8(0x0F);
    let m30 = _mm512_set1_epi8(0x30);
    // Bits 4-5 of each value come from qh: bits 0-1 for quarter 0 (shift left 4), 2-3 for
    // quarter 1 (left 2), 4-5 for quarter 2 (in place), 6-7 for quarter 3 (right 2).
    let (shl, shr) = (_mm512_inserti64x4::<1>(_mm512_set1_epi16(4), _mm256_set1_epi16(2)), counts_hi::<2>());
    let mut q = [_mm512_setzero_si512(); 4];
    for h in 0..2 {
        let l = ld512(&a.ql[64 * h..]);
        let hb = dup256(ld256(&a.qh[32 * h..]));
        let lo_hi = _mm512_and_si512(_mm512_sllv_epi16(hb, shl), m30);
        let hi_hi = _mm512_and_si512(_mm512_srlv_epi16(hb, shr), m30);
        q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m4), lo_hi);
        q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16::<4>(l), m4), hi_hi);
    }
    let sc16 = _mm256_cvtepi8_epi16(ld128(&a.scales));
    let s = _mm512_castsi256_si512(sc16);
    let scale = std::array::from_fn(|p| {
        // 128-bit lane k takes scale 4p + k.
        let k = 4 * p as i64;
        let lane = |k: i64| k * 0x0001_0001_0001_0001;
        let idx = _mm512_set_epi64(
            lane(k + 3),
            lane(k + 3),
            lane(k + 2),
            lane(k + 2),
            lane(k + 1),
            lane(k + 1),
            lane(k),
            lane(k),
        );
        _mm512_permutexvar_epi16(idx, s)
    });
    Q6K { q, scale, sc16 }
}

/// The eight i32 lanes the AVX2 kernel converts for one super-block: its `sumi` after the
/// offset is taken out.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vnni")]
fn q6_k_lanes(w: &Q6K, b: &BlockQ8K) -> __m256i {
    let mut acc = _mm512_setzero_si512();
    for p in 0..4 {
        let prod = _mm512_maddubs_epi16(w.q[p], ld512(&b.qs[64 * p..]));
        acc = _mm512_dpwssd_epi32(acc, prod, w.scale[p]);
    }
    let sumi = _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64::<1>(acc));
    // `avx2_k::q6_offset`.
    let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(ld256(&b.bsums), w.sc16));
    _mm256_sub_epi32(sumi, offset)
}

/// Q6_K weights times Q8_K activations; bit-identical to `avx2_k::vec_dot_q6_k`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q6_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let z = opaque_zero();
    for (a, b) in x.iter().zip(y) {
        let sumi = q6_k_lanes(&unpack_q6_k(a), b);
        let d = b.d * f16s(a.d, z);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// `vec_dot_q6_k` for four activation rows; bit-identical to `avx2_k::vec_dot_q6_k_x4`.
///
/// # Safety
/// The CPU must support AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn vec_dot_q6_k_x4(x: &[BlockQ6K], y: [&[BlockQ8K]; 4]) -> [f32; 4] {
    let mut acc = [_mm256_setzero_ps(); 4];
    let z = opaque_zero();
    for (i, a) in x.iter().enumerate() {
        let w = unpack_q6_k(a);
        let dx = f16s(a.d, z);
        for t in 0..4 {
            let b = &y[t][i];
            let sumi = q6_k_lanes(&w, b);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * dx), _mm256_cvtepi32_ps(sumi), acc[t]);
        }
    }
    acc.map(|a| hsum(a))
}
