//! One attention head over an f16 KV cache, computed step for step as ggml's CPU flash
//! attention does (`ggml_compute_forward_flash_attn_ext_f16`), so results round exactly as
//! llama.cpp's: the query is rounded to f16; each score is an f16·f16 dot product summed in
//! the order of ggml's AVX-512 `ggml_vec_dot_f16`; the softmax is online, and the running sum
//! of values is kept in f16, rescaled when a new maximum appears, each update one fused
//! multiply-add. The AVX2 path (`x86_64/attention.rs`) is bit-identical to the scalar one.

use std::ops::Range;

use half::f16;

use crate::cpu::{self, Level};

/// Attention of one query head `q` (length = key dim) over `positions`, whose keys and
/// values `key(p)` and `value(p)` return (wherever they live: a cache ring, the current
/// batch); writes the value-dim result to `out`. Scores are `q·k * scale`, or with a
/// soft-cap `cap * tanh(q·k * (scale / cap))` (ggml folds the scale into the cap).
pub fn flash_attn_head<'a>(
    q: &[f32],
    key: impl Fn(usize) -> &'a [f16],
    value: impl Fn(usize) -> &'a [f16],
    positions: Range<usize>,
    scale: f32,
    softcap: Option<f32>,
    out: &mut [f32],
) {
    let qh: Vec<f16> = q.iter().map(|&x| f16::from_f32(x)).collect();
    let mut acc = vec![f16::ZERO; out.len()];
    let ops = ops();
    let (mut sum, mut max) = (0f32, f32::NEG_INFINITY);
    for p in positions {
        let dot = (ops.dot)(key(p), &qh);
        let s = match softcap {
            None => dot * scale,
            Some(cap) => cap * (dot * (scale / cap)).tanh(),
        };
        let (mut ms, mut vs) = (1f32, 1f32);
        if s > max {
            ms = (max - s).exp();
            max = s;
            (ops.scale)(&mut acc, ms);
        } else {
            vs = (s - max).exp();
        }
        (ops.mad)(&mut acc, value(p), vs);
        // An FMA in ggml's build (its C++ is compiled with contraction allowed).
        sum = sum.mul_add(ms, vs);
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = a.to_f32() * inv;
    }
}

/// The three vector steps, per instruction-set level.
#[derive(Clone, Copy)]
pub(crate) struct OpsTable {
    pub(crate) dot: fn(&[f16], &[f16]) -> f32,
    pub(crate) mad: fn(&mut [f16], &[f16], f32),
    pub(crate) scale: fn(&mut [f16], f32),
}

fn ops() -> OpsTable {
    ops_for(cpu::level())
}

fn ops_for(level: Level) -> OpsTable {
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx2 {
        return crate::x86_64::attention::OPS_AVX2;
    }
    #[cfg(target_arch = "aarch64")]
    if level >= Level::Neon {
        return crate::aarch64::attention::OPS_NEON;
    }
    let _ = level;
    OpsTable { dot: dot_f16, mad: mad_f16, scale: scale_f16 }
}

/// Steps of 64 elements into four 16-lane accumulators (ggml's GGML_F16_STEP/EPR on
/// AVX-512), folded pairwise, then a tree over the lanes; leftovers summed in f64.
pub(crate) fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    const LANES: usize = 16;
    const STEP: usize = 64;
    let n = a.len().min(b.len());
    let np = n - n % STEP;
    let mut acc = [[0f32; LANES]; STEP / LANES];
    for i in (0..np).step_by(STEP) {
        for (j, lanes) in acc.iter_mut().enumerate() {
            for (l, v) in lanes.iter_mut().enumerate() {
                let k = i + j * LANES + l;
                *v = a[k].to_f32().mul_add(b[k].to_f32(), *v);
            }
        }
    }
    let x: [f32; LANES] = std::array::from_fn(|l| (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]));
    let h8: [f32; 8] = std::array::from_fn(|l| x[l] + x[l + 8]);
    let h4: [f32; 4] = std::array::from_fn(|l| h8[l] + h8[l + 4]);
    let mut total = f64::from((h4[0] + h4[2]) + (h4[1] + h4[3]));
    for k in np..n {
        total += f64::from(a[k].to_f32() * b[k].to_f32());
    }
    total as f32
}

/// acc = f16(v * s + acc), fused.
pub(crate) fn mad_f16(acc: &mut [f16], v: &[f16], s: f32) {
    for (a, x) in acc.iter_mut().zip(v) {
        *a = f16::from_f32(x.to_f32().mul_add(s, a.to_f32()));
    }
}

/// acc = f16(acc * s).
pub(crate) fn scale_f16(acc: &mut [f16], s: f32) {
    for a in acc.iter_mut() {
        *a = f16::from_f32(a.to_f32() * s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_f16(n: usize, seed: u64) -> Vec<f16> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                f16::from_f32(((x >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0)
            })
            .collect()
    }

    #[test]
    fn every_level_is_bit_identical_to_scalar() {
        let scalar = ops_for(Level::Scalar);
        for level in cpu::supported_levels() {
            let fast = ops_for(level);
            for n in [1, 7, 63, 64, 65, 128, 200, 256] {
                let (a, b) = (random_f16(n, n as u64), random_f16(n, 99 + n as u64));
                assert_eq!((fast.dot)(&a, &b).to_bits(), (scalar.dot)(&a, &b).to_bits(), "dot {level:?} n={n}");
                let (mut x, mut y) = (random_f16(n, 5), random_f16(n, 5));
                (fast.mad)(&mut x, &a, 0.37);
                (scalar.mad)(&mut y, &a, 0.37);
                assert_eq!(x, y, "mad {level:?} n={n}");
                (fast.scale)(&mut x, 0.81);
                (scalar.scale)(&mut y, 0.81);
                assert_eq!(x, y, "scale {level:?} n={n}");
            }
        }
    }

    #[test]
    fn attention_equals_a_plain_softmax_within_f16_rounding() {
        let (dim, n_pos, stride) = (64, 37, 3 * 64);
        let k = random_f16(n_pos * stride, 1);
        let v = random_f16(n_pos * stride, 2);
        let q: Vec<f32> = random_f16(dim, 3).iter().map(|x| x.to_f32()).collect();
        let mut out = vec![0f32; dim];
        let scale = 0.125;
        flash_attn_head(
            &q,
            |p| &k[p * stride + 64..][..dim],
            |p| &v[p * stride + 64..][..dim],
            5..n_pos,
            scale,
            None,
            &mut out,
        );
        // Reference in f64.
        let scores: Vec<f64> = (5..n_pos)
            .map(|p| (0..dim).map(|i| q[i] as f64 * k[p * stride + 64 + i].to_f64()).sum::<f64>() * scale as f64)
            .collect();
        let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
        let z: f64 = w.iter().sum();
        for i in 0..dim {
            let want: f64 = (5..n_pos).zip(&w).map(|(p, w)| w * v[p * stride + 64 + i].to_f64()).sum::<f64>() / z;
            assert!((out[i] as f64 - want).abs() < 2e-2, "dim {i}: {} vs {want}", out[i]);
        }
    }

    #[test]
    fn softcap_bounds_the_scores() {
        let k = vec![f16::from_f32(2.0); 64 * 2];
        let v: Vec<f16> = (0..128).map(|i| f16::from_f32(if i < 64 { 1.0 } else { -1.0 })).collect();
        let q = vec![1.0f32; 64];
        let mut out = vec![0f32; 64];
        flash_attn_head(&q, |p| &k[p * 64..][..64], |p| &v[p * 64..][..64], 0..2, 1.0, Some(5.0), &mut out);
        // Equal scores: the average of +1 and -1.
        assert!(out.iter().all(|&o| o.abs() < 1e-3), "{out:?}");
    }
}
