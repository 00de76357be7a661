//! Quantized dot products against the exact dot of the dequantized weights with the original
//! f32 activations, within a budget derived from how the activations were quantized.
//!
//! For Q8_0/Q8_1 activations each element is off by at most half a step (`d / 2`, `d = amax/127`
//! of its block) plus the f16 rounding of `d` times up to 127 steps; Q8_1 also rounds
//! `s = d * sum(q)` to f16, which the offset `m` multiplies. Q8_K keeps `d` in f32. F16/BF16
//! activations are off by their relative precision. Summation adds a little f32 noise on top.

use super::util::{activations, kernel_types, lengths, weights, Rng};
use crate::cpu;
use crate::dispatch::table;
use crate::quant::{BlockQ4_1, BlockQ5_1};
use crate::GgmlType;

/// An upper bound on |quantized dot - exact dot| for weights `w` (dequantized) and activations `x`.
pub(super) fn budget(ty: GgmlType, act: GgmlType, w: &[f32], x: &[f32], raw: &[u8]) -> f64 {
    let mag: f64 = w.iter().zip(x).map(|(w, x)| (w * x).abs() as f64).sum();
    let per_elem: f64 = match act {
        GgmlType::F32 => 0.0,
        GgmlType::F16 => w.iter().zip(x).map(|(w, x)| (w * x).abs() as f64 * 2f64.powi(-11)).sum(),
        GgmlType::BF16 => w.iter().zip(x).map(|(w, x)| (w * x).abs() as f64 * 2f64.powi(-8)).sum(),
        _ => {
            let bl = act.block_len();
            w.chunks(bl)
                .zip(x.chunks(bl))
                .map(|(wb, xb)| {
                    let d = xb.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64 / 127.0;
                    let step = if act == GgmlType::Q8_K { 0.5 } else { 0.5 + 127.0 * 2f64.powi(-11) };
                    wb.iter().map(|w| w.abs() as f64).sum::<f64>() * d * step * 1.001
                })
                .sum()
        }
    };
    // The offset term of Q4_1/Q5_1: |m| * |s| * 2^-11 per block, |s| <= sum |x|.
    let offsets: f64 = match ty {
        GgmlType::Q4_1 | GgmlType::Q5_1 => {
            let m = |b: &[u8]| {
                let bytes = if ty == GgmlType::Q4_1 {
                    bytemuck::pod_read_unaligned::<BlockQ4_1>(b).m
                } else {
                    bytemuck::pod_read_unaligned::<BlockQ5_1>(b).m
                };
                crate::f16_to_f32(u16::from_le_bytes(bytes)).abs() as f64
            };
            raw.chunks(ty.block_bytes())
                .zip(x.chunks(32))
                .map(|(b, xb)| m(b) * xb.iter().map(|v| v.abs() as f64).sum::<f64>() * 1.01 * 2f64.powi(-11))
                .sum()
        }
        _ => 0.0,
    };
    per_elem + offsets + 2e-5 * mag + 1e-6
}

#[test]
fn quantized_dots_are_within_budget_of_f32() {
    let mut rng = Rng::new(10);
    for level in cpu::supported_levels() {
        let t = table(level);
        for ty in kernel_types() {
            let k = t.get(ty).unwrap();
            for n in lengths(ty) {
                for _ in 0..3 {
                    let raw = weights(&mut rng, ty, n);
                    let x = activations(&mut rng, n);
                    let mut w = vec![0.0; n];
                    crate::dequantize_row(ty, &raw, &mut w).unwrap();
                    let exact: f64 = w.iter().zip(&x).map(|(w, x)| *w as f64 * *x as f64).sum();
                    let ab = k.act.row_bytes(n).unwrap();
                    let mut a = vec![0u64; ab.div_ceil(8)];
                    let a = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut a)[..ab];
                    // SAFETY: the table is for a level this CPU supports.
                    let got = unsafe {
                        (k.quantize)(&x, a);
                        (k.dot)(&raw, a)
                    };
                    let err = (got as f64 - exact).abs();
                    let tol = budget(ty, k.act, &w, &x, &raw);
                    assert!(
                        err <= tol,
                        "{ty} level {} n = {n}: got {got}, exact {exact}, err {err:e} > {tol:e}",
                        level.name()
                    );
                }
            }
        }
    }
}

/// Quantize then dequantize: the error of each element stays within the format's step.
#[test]
fn round_trip_error_bounds() {
    let mut rng = Rng::new(11);
    let n = 32 * 40;
    for ty in
        [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::F16, GgmlType::BF16]
    {
        let x = activations(&mut rng, n);
        let mut raw = vec![0u8; ty.row_bytes(n).unwrap()];
        crate::quantize_row(ty, &x, &mut raw).unwrap();
        let mut y = vec![0.0; n];
        crate::dequantize_row(ty, &raw, &mut y).unwrap();
        for (xb, yb) in x.chunks(32).zip(y.chunks(32)) {
            let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let (min, max) = xb.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            // Steps: symmetric formats span [-amax, amax] in 2^bits steps (the clamp at the top
            // can cost a whole step); the offset formats span [min, max].
            let tol = match ty {
                GgmlType::Q4_0 => amax / 8.0 * 1.01,
                GgmlType::Q5_0 => amax / 16.0 * 1.01,
                GgmlType::Q8_0 => amax / 127.0 * 0.57,
                GgmlType::Q4_1 => (max - min) / 15.0 * 0.51 + (amax + max - min) * 2f32.powi(-10),
                GgmlType::Q5_1 => (max - min) / 31.0 * 0.51 + (amax + max - min) * 2f32.powi(-10),
                GgmlType::F16 => amax * 2f32.powi(-11),
                _ => amax * 2f32.powi(-8),
            };
            for (a, b) in xb.iter().zip(yb) {
                assert!((a - b).abs() <= tol + 1e-7, "{ty}: {a} -> {b}, tol {tol}");
            }
        }
    }
}

#[test]
fn q4_0_known_block() {
    let mut raw = vec![0u8; 18];
    raw[..2].copy_from_slice(&crate::f32_to_f16(0.5).to_le_bytes());
    for j in 0..16 {
        raw[2 + j] = j as u8 | ((15 - j as u8) << 4);
    }
    let mut y = [0.0; 32];
    crate::dequantize_row(GgmlType::Q4_0, &raw, &mut y).unwrap();
    for j in 0..16 {
        assert_eq!(y[j], 0.5 * (j as f32 - 8.0));
        assert_eq!(y[j + 16], 0.5 * (7.0 - j as f32));
    }
}

#[test]
fn iq4_nl_known_block() {
    let mut raw = vec![0u8; 18];
    raw[..2].copy_from_slice(&crate::f32_to_f16(2.0).to_le_bytes());
    for j in 0..16 {
        raw[2 + j] = j as u8 | ((15 - j as u8) << 4);
    }
    let mut y = [0.0; 32];
    crate::dequantize_row(GgmlType::IQ4_NL, &raw, &mut y).unwrap();
    let k = crate::quant::iq4_nl::KVALUES;
    for j in 0..16 {
        assert_eq!(y[j], 2.0 * k[j] as f32);
        assert_eq!(y[j + 16], 2.0 * k[15 - j] as f32);
    }
}
