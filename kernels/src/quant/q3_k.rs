//! Q3_K: 256 weights as 3-bit signed values in 16 groups of 16 with 6-bit scales:
//! `x = d * (sc - 32) * q`, `q` in -4..=3. The low 2 bits sit in `qs` as in Q2_K; a *clear* bit
//! in `hmask` subtracts 4. Bit `4h + j` of `hmask[l]` belongs to element 128h + 32j + l.

use bytemuck::{Pod, Zeroable};

use super::q4_k::nearest_int_k;
use super::q8_k::BlockQ8K;
use super::{f16, signed_max, to_f16};
use crate::types::QK_K;

/// ggml's `block_q3_K`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    /// Sixteen 6-bit scales, packed (see `scales`).
    pub scales: [u8; 12],
    /// Super-block scale (f16 bits).
    pub d: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);

/// The sixteen group scales minus 32. Group j's low 4 bits are the low (j < 8) or high (j >= 8)
/// nibble of byte j % 8; its high 2 bits are bits 2*(j/4).. of byte 8 + j % 4.
#[inline(always)]
pub(crate) fn scales(raw: &[u8; 12]) -> [i8; 16] {
    let mut s = [0i8; 16];
    for (j, s) in s.iter_mut().enumerate() {
        let lo = if j < 8 { raw[j] & 0x0F } else { raw[j - 8] >> 4 };
        let hi = (raw[8 + j % 4] >> (2 * (j / 4))) & 3;
        *s = (lo | (hi << 4)) as i8 - 32;
    }
    s
}

/// The signed 3-bit value of element `i` (0..256).
#[inline(always)]
fn value(b: &BlockQ3K, i: usize) -> i8 {
    let (h, r) = (i / 128, i % 128);
    let (j, l) = (r / 32, r % 32);
    let low = ((b.qs[32 * h + l] >> (2 * j)) & 3) as i8;
    let bit = 1u8 << (4 * h + j);
    low - if b.hmask[l] & bit != 0 { 0 } else { 4 }
}

/// `dequantize_row_q3_K`.
pub fn dequantize(x: &[BlockQ3K], y: &mut [f32]) {
    for (b, y) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d_all = f16(b.d);
        let sc = scales(&b.scales);
        for (g, y) in y.chunks_exact_mut(16).enumerate() {
            let dl = d_all * sc[g] as f32;
            for (l, y) in y.iter_mut().enumerate() {
                *y = dl * value(b, 16 * g + l) as f32;
            }
        }
    }
}

/// ggml's `make_q3_quants` with `do_rmse`: a symmetric fit `x ~ scale * l` (`l` in
/// -nmax..nmax) weighted by `x^2`, started from the signed extreme mapping to `-nmax` and then
/// improved one element at a time (up to five sweeps) wherever that raises the least-squares
/// fit. Writes `l + nmax` to `levels` and returns the scale; float operations in ggml's order.
fn make_q3_quants(x: &[f32], nmax: i32, levels: &mut [i8]) -> f32 {
    let (amax, max) = signed_max(x);
    if amax < 1e-15 {
        levels[..x.len()].fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (l, &v) in levels.iter_mut().zip(x) {
        let q = nearest_int_k(iscale * v).clamp(-nmax, nmax - 1);
        *l = q as i8;
        let w = v * v;
        sumlx += w * v * q as f32;
        suml2 += w * q as f32 * q as f32;
    }
    for _ in 0..5 {
        let mut changed = false;
        for (l, &v) in levels.iter_mut().zip(x) {
            let w = v * v;
            let lf = *l as f32;
            let mut slx = sumlx - w * v * lf;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * lf * lf;
                let new_l = nearest_int_k(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != *l as i32 {
                    let nf = new_l as f32;
                    slx += w * v * nf;
                    sl2 += w * nf * nf;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *l = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for l in levels[..x.len()].iter_mut() {
        *l += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// `quantize_row_q3_K_ref`: a `make_q3_quants` fit per group of 16, 6-bit signed scales
/// against the largest (signed) one, then every element requantized against its stored scale;
/// the third bit of each level goes to `hmask`.
pub fn quantize(x: &[f32], y: &mut [BlockQ3K]) {
    let mut l = [0i8; QK_K];
    for (x, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut gs = [0.0f32; QK_K / 16];
        let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
        for (g, s) in gs.iter_mut().enumerate() {
            *s = make_q3_quants(&x[16 * g..16 * g + 16], 4, &mut l[16 * g..16 * g + 16]);
            if s.abs() > amax {
                amax = s.abs();
                max_scale = *s;
            }
        }
        b.scales = [0; 12];
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (j, &s) in gs.iter().enumerate() {
                // ggml narrows to int8_t before clamping.
                let q = ((nearest_int_k(iscale * s) as i8).clamp(-32, 31) + 32) as u8;
                if j < 8 {
                    b.scales[j] = q & 0x0F;
                } else {
                    b.scales[j - 8] |= (q & 0x0F) << 4;
                }
                b.scales[8 + j % 4] |= (q >> 4) << (2 * (j / 4));
            }
            b.d = to_f16(1.0 / iscale);
        } else {
            b.d = to_f16(0.0);
        }
        let sc = scales(&b.scales);
        for (g, &s) in sc.iter().enumerate() {
            let d = f16(b.d) * s as f32;
            if d == 0.0 {
                continue;
            }
            for i in 16 * g..16 * g + 16 {
                l[i] = (nearest_int_k(x[i] / d).clamp(-4, 3) + 4) as i8;
            }
        }
        b.hmask = [0; QK_K / 8];
        for (j, l) in l.iter_mut().enumerate() {
            if *l > 3 {
                b.hmask[j % 32] |= 1 << (j / 32);
                *l -= 4;
            }
        }
        for h in 0..2 {
            for j in 0..32 {
                let q = [0, 32, 64, 96].map(|k| l[128 * h + j + k] as u8);
                b.qs[32 * h + j] = q[0] | (q[1] << 2) | (q[2] << 4) | (q[3] << 6);
            }
        }
    }
}

/// `ggml_vec_dot_q3_K_q8_K`.
pub fn vec_dot(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in x.iter().zip(y) {
        let sc = scales(&a.scales);
        let mut sumi = 0i32;
        for (g, &s) in sc.iter().enumerate() {
            let dot: i32 = (0..16).map(|l| value(a, 16 * g + l) as i32 * b.qs[16 * g + l] as i32).sum();
            sumi += s as i32 * dot;
        }
        sumf += (f16(a.d) * b.d) * sumi as f32;
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_unpacking_matches_ggml_word_shuffle() {
        // ggml unpacks with 32-bit masks; check our per-byte reading against that formulation.
        let raw: [u8; 12] = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0xa5, 0x5a, 0xc3, 0x3c];
        let w = |i: usize| u32::from_le_bytes(raw[4 * i..4 * i + 4].try_into().unwrap());
        let (a0, a1, tmp) = (w(0), w(1), w(2));
        let (k1, k2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
        let words = [
            (a0 & k2) | ((tmp & k1) << 4),
            (a1 & k2) | (((tmp >> 2) & k1) << 4),
            ((a0 >> 4) & k2) | (((tmp >> 4) & k1) << 4),
            ((a1 >> 4) & k2) | (((tmp >> 6) & k1) << 4),
        ];
        let expect: Vec<i8> = words.iter().flat_map(|w| w.to_le_bytes()).map(|b| b as i8 - 32).collect();
        assert_eq!(scales(&raw).to_vec(), expect);
    }
}
