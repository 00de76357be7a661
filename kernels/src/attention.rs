//! One attention head over an f16 KV cache, computed step for step as ggml's CPU flash
//! attention does (`ggml_compute_forward_flash_attn_ext_f16`), so results round exactly as
//! llama.cpp's: the query is rounded to f16; each score is an f16·f16 dot product summed in
//! the order of ggml's AVX-512 `ggml_vec_dot_f16`; the softmax is online, and the running sum
//! of values is kept in f16, rescaled when a new maximum appears, each update one fused
//! multiply-add. The AVX2 path (`x86_64/attention.rs`) is bit-identical to the scalar one.
//!
//! [`flash_attn_head`] runs one query row; [`flash_attn_rows`] runs several rows that read the
//! same keys and values (the query heads of one GQA group) in lockstep over the positions, so
//! that each key and value row is loaded and widened once for all of them. Its per-row float
//! operations are those of `flash_attn_head`, in the same order, so each row's result is the
//! same to the bit. The per-position vector steps of that loop are a [`RowOps`]: a scalar one
//! here, AVX2 in `x86_64/attention.rs`, AVX-512 in `x86_64/attention512.rs`.

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
    head_with(ops(), q, &key, &value, positions, Score { scale, softcap }, out);
}

/// How a dot product becomes a score.
#[derive(Clone, Copy)]
pub(crate) struct Score {
    scale: f32,
    softcap: Option<f32>,
}

impl Score {
    #[inline(always)]
    fn of(self, dot: f32) -> f32 {
        match self.softcap {
            None => dot * self.scale,
            Some(cap) => cap * (dot * (self.scale / cap)).tanh(),
        }
    }
}

fn head_with<'a>(
    ops: OpsTable,
    q: &[f32],
    key: &impl Fn(usize) -> &'a [f16],
    value: &impl Fn(usize) -> &'a [f16],
    positions: Range<usize>,
    score: Score,
    out: &mut [f32],
) {
    let qh: Vec<f16> = q.iter().map(|&x| f16::from_f32(x)).collect();
    let mut acc = vec![f16::ZERO; out.len()];
    let (mut sum, mut max) = (0f32, f32::NEG_INFINITY);
    for p in positions {
        let s = score.of((ops.dot)(key(p), &qh));
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

/// Attention of several query rows over the same keys and values: row `r` of `q`
/// (`[rows, key dim]`, `rows = positions.len()`) attends over `positions[r]` and writes row `r`
/// of `out` (`[rows, value dim]`). Each row's result is, to the bit, what [`flash_attn_head`]
/// gives for it alone; the rows only share the loads and conversions of the keys and values.
pub fn flash_attn_rows<'a>(
    q: &[f32],
    positions: &[Range<usize>],
    key: impl Fn(usize) -> &'a [f16],
    value: impl Fn(usize) -> &'a [f16],
    scale: f32,
    softcap: Option<f32>,
    out: &mut [f32],
) {
    rows_at(cpu::level(), q, positions, &key, &value, Score { scale, softcap }, out);
}

fn rows_at<'a>(
    level: Level,
    q: &[f32],
    positions: &[Range<usize>],
    key: &impl Fn(usize) -> &'a [f16],
    value: &impl Fn(usize) -> &'a [f16],
    score: Score,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if level >= Level::Avx512 {
            // SAFETY: this level has AVX-512 F, AVX2, FMA and F16C.
            return unsafe { crate::x86_64::attention512::attend(q, positions, key, value, score, out) };
        }
        if level >= Level::Avx2 {
            // SAFETY: this level has AVX2, FMA and F16C.
            return unsafe { crate::x86_64::attention::attend(q, positions, key, value, score, out) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    if level >= Level::Neon {
        // No multi-row kernel here yet: each row on its own, with the NEON steps.
        let n = positions.len().max(1);
        let (dk, dv) = (q.len() / n, out.len() / n);
        for ((q, p), o) in q.chunks_exact(dk).zip(positions).zip(out.chunks_exact_mut(dv)) {
            head_with(ops_for(level), q, key, value, p.clone(), score, o);
        }
        return;
    }
    attend_rows(&mut ScalarRows, q, positions, key, value, score, out);
}

/// The per-position vector steps of [`flash_attn_rows`], for the rows `active` (indices into
/// the row-major buffers, in increasing order) whose ranges hold the current position.
pub(crate) trait RowOps {
    /// `sums[j]` = the 64-element steps of `k · q_r` (the first `dk - dk % 64` elements), in
    /// [`dot_f16`]'s order and folded as it folds them, for `r = active[j]`; `q` is
    /// `[rows, dk]`, f16 values widened to f32, and `k` is `dk` long.
    fn dots(&mut self, k: &[f16], q: &[f32], dk: usize, active: &[usize], sums: &mut [f32]);
    /// `acc_r = f16(v * vs[j] + acc_r)`, fused, for `r = active[j]`; `acc` is `[rows, dv]`, `v`
    /// is `dv` long.
    fn mad(&mut self, v: &[f16], acc: &mut [f16], dv: usize, active: &[usize], vs: &[f32]);
    /// `acc = f16(acc * s)`.
    fn scale(&mut self, acc: &mut [f16], s: f32);
}

/// The loop of [`head_with`] over several rows at once: per position, one call of each vector
/// step for all rows that attend to it, and per row the same scalar softmax steps. Always
/// inlined, so that the SIMD entry points, compiled for their instruction set, inline their
/// steps and the scalar FMAs here into one loop.
#[inline(always)]
pub(crate) fn attend_rows<'a, O: RowOps>(
    ops: &mut O,
    q: &[f32],
    positions: &[Range<usize>],
    key: &impl Fn(usize) -> &'a [f16],
    value: &impl Fn(usize) -> &'a [f16],
    score: Score,
    out: &mut [f32],
) {
    let n = positions.len();
    if n == 0 {
        return;
    }
    assert!(q.len().is_multiple_of(n) && out.len().is_multiple_of(n), "q and out must hold one row per range");
    let (dk, dv) = (q.len() / n, out.len() / n);
    let np = dk - dk % 64;
    // [n, dk]: the queries rounded to f16, kept as f32.
    let qh: Vec<f32> = q.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
    // [n, dv]: the running sums of values.
    let mut acc = vec![f16::ZERO; n * dv];
    let (mut sum, mut max) = (vec![0f32; n], vec![f32::NEG_INFINITY; n]);
    let (mut active, mut sums, mut vs) = (Vec::with_capacity(n), vec![0f32; n], vec![0f32; n]);
    let lo = positions.iter().map(|r| r.start).min().unwrap_or(0);
    let hi = positions.iter().map(|r| r.end).max().unwrap_or(0);
    for p in lo..hi {
        active.clear();
        active.extend((0..n).filter(|&r| positions[r].contains(&p)));
        if active.is_empty() {
            continue;
        }
        let m = active.len();
        let k = &key(p)[..dk];
        ops.dots(k, &qh, dk, &active, &mut sums[..m]);
        for (j, &r) in active.iter().enumerate() {
            let tail = k[np..].iter().zip(&qh[r * dk + np..(r + 1) * dk]).map(|(x, &y)| x.to_f32() * y);
            let s = score.of(dot_tail(sums[j], tail));
            let (mut ms, mut v) = (1f32, 1f32);
            if s > max[r] {
                ms = (max[r] - s).exp();
                max[r] = s;
                ops.scale(&mut acc[r * dv..(r + 1) * dv], ms);
            } else {
                v = (s - max[r]).exp();
            }
            vs[j] = v;
            // An FMA, as in `head_with`.
            sum[r] = sum[r].mul_add(ms, v);
        }
        ops.mad(&value(p)[..dv], &mut acc, dv, &active, &vs[..m]);
    }
    for r in 0..n {
        let inv = if sum[r] == 0.0 { 0.0 } else { 1.0 / sum[r] };
        for (o, a) in out[r * dv..(r + 1) * dv].iter_mut().zip(&acc[r * dv..(r + 1) * dv]) {
            *o = a.to_f32() * inv;
        }
    }
}

/// The portable [`RowOps`]: each row on its own, as [`dot_f16`], [`mad_f16`] and
/// [`scale_f16`] do it.
struct ScalarRows;

impl RowOps for ScalarRows {
    fn dots(&mut self, k: &[f16], q: &[f32], dk: usize, active: &[usize], sums: &mut [f32]) {
        for (s, &r) in sums.iter_mut().zip(active) {
            let q = &q[r * dk..(r + 1) * dk];
            *s = dot_steps(dk - dk % 64, |i| k[i].to_f32(), |i| q[i]);
        }
    }

    fn mad(&mut self, v: &[f16], acc: &mut [f16], dv: usize, active: &[usize], vs: &[f32]) {
        for (&r, &s) in active.iter().zip(vs) {
            mad_f16(&mut acc[r * dv..(r + 1) * dv], v, s);
        }
    }

    fn scale(&mut self, acc: &mut [f16], s: f32) {
        scale_f16(acc, s);
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
    let n = a.len().min(b.len());
    let np = n - n % 64;
    let sum = dot_steps(np, |k| a[k].to_f32(), |k| b[k].to_f32());
    dot_tail(sum, a[np..n].iter().zip(&b[np..n]).map(|(x, y)| x.to_f32() * y.to_f32()))
}

/// The first `np` (a multiple of 64) elements of [`dot_f16`]: four 16-lane accumulators, one
/// FMA per element, folded pairwise and then by a tree over the lanes.
fn dot_steps(np: usize, a: impl Fn(usize) -> f32, b: impl Fn(usize) -> f32) -> f32 {
    const LANES: usize = 16;
    const STEP: usize = 64;
    let mut acc = [[0f32; LANES]; STEP / LANES];
    for i in (0..np).step_by(STEP) {
        for (j, lanes) in acc.iter_mut().enumerate() {
            for (l, v) in lanes.iter_mut().enumerate() {
                let k = i + j * LANES + l;
                *v = a(k).mul_add(b(k), *v);
            }
        }
    }
    let x: [f32; LANES] = std::array::from_fn(|l| (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]));
    let h8: [f32; 8] = std::array::from_fn(|l| x[l] + x[l + 8]);
    let h4: [f32; 4] = std::array::from_fn(|l| h8[l] + h8[l + 4]);
    (h4[0] + h4[2]) + (h4[1] + h4[3])
}

/// The end of [`dot_f16`]: the leftover `products` after the 64-element steps (each rounded
/// to f32), added to `sum` in f64 one by one.
#[inline(always)]
fn dot_tail(sum: f32, products: impl Iterator<Item = f32>) -> f32 {
    let mut total = f64::from(sum);
    for x in products {
        total += f64::from(x);
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

    /// Keys whose scores drift upwards with the position, with spikes, so that the running
    /// maximum changes many times over a long range.
    fn drifting_keys(n_pos: usize, dk: usize, seed: u64) -> Vec<f16> {
        let mut k = random_f16(n_pos * dk, seed);
        for p in 0..n_pos {
            let gain = 0.5 + p as f32 / n_pos as f32 + if p % 37 == 5 { 1.5 } else { 0.0 };
            for x in &mut k[p * dk..(p + 1) * dk] {
                *x = f16::from_f32(x.to_f32() * gain);
            }
        }
        k
    }

    #[test]
    fn rows_are_bit_identical_to_one_head_at_a_time() {
        let n_pos = 300;
        let range_sets: [&[Range<usize>]; 4] = [
            // One token's query heads: a shared range.
            &[0..300, 0..300, 0..300, 0..300],
            // Consecutive tokens of a sliding window, rows of different lengths, an empty row.
            &[3..250, 10..251, 17..252, 24..253, 31..254, 38..255, 45..299],
            &[0..1, 7..8, 120..121, 0..0, 299..300],
            &[100..300, 0..150, 50..51],
        ];
        for (dk, dv) in [(64, 64), (80, 80), (128, 128), (256, 256), (40, 40), (72, 72), (96, 64)] {
            let keys = drifting_keys(n_pos, dk, dk as u64);
            let values = random_f16(n_pos * dv, 7 + dv as u64);
            let key = |p: usize| &keys[p * dk..(p + 1) * dk];
            let value = |p: usize| &values[p * dv..(p + 1) * dv];
            for ranges in range_sets {
                let n = ranges.len();
                let q: Vec<f32> = random_f16(n * dk, 11 + n as u64).iter().map(|x| x.to_f32() * 1.7).collect();
                for softcap in [None, Some(4.0)] {
                    let score = Score { scale: 0.6, softcap };
                    let mut want = vec![0f32; n * dv];
                    for r in 0..n {
                        let (qr, o) = (&q[r * dk..(r + 1) * dk], &mut want[r * dv..(r + 1) * dv]);
                        head_with(ops_for(Level::Scalar), qr, &key, &value, ranges[r].clone(), score, o);
                    }
                    for level in cpu::supported_levels() {
                        let mut got = vec![f32::NAN; n * dv];
                        rows_at(level, &q, ranges, &key, &value, score, &mut got);
                        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                            assert_eq!(
                                g.to_bits(),
                                w.to_bits(),
                                "{level:?} dk={dk} dv={dv} ranges={ranges:?} softcap={softcap:?} row {} dim {}",
                                i / dv,
                                i % dv
                            );
                        }
                    }
                }
            }
        }
    }

    /// Not a test: ns per query row and key of the rows kernel in a prompt's shape (four query
    /// heads of one token over 512 keys, heads of 256 as Gemma 3's), at the dispatched level.
    /// `cargo test --release -p rollama-kernels attention_rows_timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn attention_rows_timing() {
        for (n_pos, d) in [(512, 256), (512, 64)] {
            let keys = drifting_keys(n_pos, d, 3);
            let values = random_f16(n_pos * d, 4);
            let key = |p: usize| &keys[p * d..(p + 1) * d];
            let value = |p: usize| &values[p * d..(p + 1) * d];
            let q: Vec<f32> = random_f16(4 * d, 5).iter().map(|x| x.to_f32()).collect();
            let ranges = vec![0..n_pos; 4];
            let mut out = vec![0f32; 4 * d];
            let mut best = f64::MAX;
            for _ in 0..200 {
                let t = std::time::Instant::now();
                flash_attn_rows(&q, &ranges, key, value, 0.06, None, &mut out);
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!(
                "{:?}, 4 rows of {d} over {n_pos} keys: {:.2} ns per row and key",
                cpu::level(),
                best * 1e9 / (4 * n_pos) as f64
            );
        }
    }

    #[test]
    fn the_maximum_moves_in_the_rows_test() {
        // Guards the test above: its keys must make the running maximum change many times.
        let (dk, n_pos) = (64, 300);
        let keys = drifting_keys(n_pos, dk, dk as u64);
        let q: Vec<f32> = random_f16(dk, 11 + 4).iter().map(|x| x.to_f32() * 1.7).collect();
        let qh: Vec<f16> = q.iter().map(|&x| f16::from_f32(x)).collect();
        let mut max = f32::NEG_INFINITY;
        let mut changes = 0;
        for p in 0..n_pos {
            let s = dot_f16(&keys[p * dk..(p + 1) * dk], &qh) * 0.6;
            if s > max {
                max = s;
                changes += 1;
            }
        }
        assert!(changes >= 5, "{changes} changes");
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
