//! Q6_K: 256 weights as 6-bit values in 16 groups of 16, each with a signed 8-bit scale, and one
//! f16 super-block scale: `x = d * sc * (q - 32)`. The low 4 bits are in `ql`, the high 2 bits in
//! `qh`; each half of 128 elements uses 64 bytes of `ql` and 32 of `qh` (see `unpack_half`).

use bytemuck::{Pod, Zeroable};

use super::q4_k::nearest_int_k;
use super::q8_k::BlockQ8K;
use super::{f16, signed_max, to_f16};
use crate::types::QK_K;

/// ggml's `block_q6_K`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    /// Scale per 16 elements.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale (f16 bits).
    pub d: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);

/// The 128 values (-32..=31) of half `h`. Element l of each quarter takes: quarter 0 the low
/// nibble of `ql[l]` and bits 0-1 of `qh[l]`, quarter 1 the low nibble of `ql[l+32]` and bits
/// 2-3, quarter 2 the high nibble of `ql[l]` and bits 4-5, quarter 3 the high nibble of
/// `ql[l+32]` and bits 6-7.
#[inline(always)]
pub(crate) fn unpack_half(b: &BlockQ6K, h: usize) -> [i8; 128] {
    let ql = &b.ql[64 * h..64 * h + 64];
    let qh = &b.qh[32 * h..32 * h + 32];
    let mut v = [0i8; 128];
    for l in 0..32 {
        v[l] = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i8 - 32;
        v[l + 32] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
        v[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
        v[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
    }
    v
}

/// `dequantize_row_q6_K`: `d * sc` first, then times the value, in that order.
pub fn dequantize(x: &[BlockQ6K], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16(b.d);
        for h in 0..2 {
            let v = unpack_half(b, h);
            for (i, &q) in v.iter().enumerate() {
                y[128 * h + i] = d * b.scales[8 * h + i / 16] as f32 * q as f32;
            }
        }
    }
}

/// ggml's `make_qx_quants` with `rmse_type = 1` and no importance weights: a symmetric fit
/// `x ~ scale * (L - nmax)` (`L` in 0..2*nmax) weighted by `x^2`, the signed extreme mapping to
/// `-nmax`, then 18 nearby grid spacings tried and the best least-squares scale kept. Writes
/// the levels to `l` and returns the scale; float operations in ggml's order.
pub(crate) fn make_qx_quants(x: &[f32], nmax: i32, l: &mut [i8]) -> f32 {
    let (amax, max) = signed_max(x);
    if amax < GROUP_MAX_EPS {
        l[..x.len()].fill(0);
        return 0.0;
    }
    let fit = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &v in x {
            let q = nearest_int_k(iscale * v).clamp(-nmax, nmax - 1) as f32;
            let w = v * v;
            sumlx += w * v * q;
            suml2 += w * q * q;
        }
        (sumlx, suml2)
    };
    let levels = |iscale: f32, l: &mut [i8]| {
        for (l, &v) in l.iter_mut().zip(x) {
            *l = (nmax + nearest_int_k(iscale * v).clamp(-nmax, nmax - 1)) as i8;
        }
    };
    let iscale = -(nmax as f32) / max;
    levels(iscale, l);
    let (sumlx, suml2) = fit(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = fit(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            levels(iscale, l);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// ggml's `GROUP_MAX_EPS`: below this a group counts as all zeros.
const GROUP_MAX_EPS: f32 = 1e-15;

/// `quantize_row_q6_K_ref`: a `make_qx_quants` fit per group of 16, the group scales quantized
/// to i8 against the largest (signed) one, then every element requantized against its stored
/// scale.
pub fn quantize(x: &[f32], y: &mut [BlockQ6K]) {
    let mut l = [0i8; QK_K];
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut scales = [0.0f32; QK_K / 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for (g, s) in scales.iter_mut().enumerate() {
            *s = make_qx_quants(&x[16 * g..16 * g + 16], 32, &mut l[16 * g..16 * g + 16]);
            if s.abs() > max_abs_scale {
                max_abs_scale = s.abs();
                max_scale = *s;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            *b = BlockQ6K::zeroed();
            continue;
        }
        let iscale = -128.0 / max_scale;
        b.d = to_f16(1.0 / iscale);
        for (q, &s) in b.scales.iter_mut().zip(&scales) {
            *q = nearest_int_k(iscale * s).min(127) as i8;
        }
        for g in 0..QK_K / 16 {
            let d = f16(b.d) * b.scales[g] as f32;
            if d == 0.0 {
                continue;
            }
            for i in 16 * g..16 * g + 16 {
                l[i] = (nearest_int_k(x[i] / d).clamp(-32, 31) + 32) as i8;
            }
        }
        for h in 0..2 {
            let (l, ql, qh) = (&l[128 * h..], &mut b.ql[64 * h..64 * h + 64], &mut b.qh[32 * h..32 * h + 32]);
            for j in 0..32 {
                let q = [l[j], l[j + 32], l[j + 64], l[j + 96]].map(|v| v as u8);
                ql[j] = (q[0] & 0x0F) | ((q[2] & 0x0F) << 4);
                ql[j + 32] = (q[1] & 0x0F) | ((q[3] & 0x0F) << 4);
                qh[j] = (q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6);
            }
        }
    }
}

/// `ggml_vec_dot_q6_K_q8_K`.
pub fn vec_dot(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let mut sumi = 0i32;
        for h in 0..2 {
            let v = unpack_half(a, h);
            for g in 0..8 {
                let q8 = &b.qs[128 * h + 16 * g..128 * h + 16 * g + 16];
                let s: i32 = v[16 * g..16 * g + 16].iter().zip(q8).map(|(&p, &q)| p as i32 * q as i32).sum();
                sumi += a.scales[8 * h + g] as i32 * s;
            }
        }
        sumf += (b.d * f16(a.d)) * sumi as f32;
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::to_f16;

    #[test]
    fn known_block() {
        // Every value 6-bit 40 (=> 8 after the -32 offset), scales 1..16, d = 0.5.
        let mut b = BlockQ6K::zeroed();
        b.d = to_f16(0.5);
        for (i, s) in b.scales.iter_mut().enumerate() {
            *s = i as i8 + 1;
        }
        b.ql = [0x88; 128]; // low 4 bits of 40 = 8
        b.qh = [0b10_10_10_10; 64]; // high 2 bits of 40 = 2
        let mut y = [0.0; 256];
        dequantize(&[b], &mut y);
        for (i, &v) in y.iter().enumerate() {
            assert_eq!(v, 0.5 * (i / 16 + 1) as f32 * 8.0, "element {i}");
        }
    }
}
