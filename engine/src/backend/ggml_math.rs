//! Elementwise functions computed exactly as ggml's CPU backend computes them, so that
//! activations round the same way as in llama.cpp (whose outputs the tests compare with,
//! token for token). ggml's SiLU (its own vectorized `expf`) lives in the kernels crate
//! (`rollama_kernels::activation`), which has SIMD versions of it; ggml's GELU reads a table
//! of f16 values indexed by the f16 rounding of the input (`GGML_GELU_FP16`), built here the
//! same way.

/// ggml's `ggml_gelu_f32`: the tanh approximation, with the FMA its C contracts to.
pub fn gelu_f32(x: f32) -> f32 {
    const GELU_COEF_A: f32 = 0.044715;
    // ggml writes sqrt(2/pi) in full; rounding the f64 gives the same f32 as its C literal.
    const SQRT_2_OVER_PI: f32 = 0.797_884_560_802_865_4_f64 as f32;
    let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh())
}

/// gelu of every f16 value, rounded to f16 (ggml's `ggml_table_gelu_f16`), held widened to
/// f32 (the same values; a lookup then needs no conversion back).
pub(crate) fn gelu_f16_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX).map(|i| half::f16::from_f32(gelu_f32(half::f16::from_bits(i).to_f32())).to_f32()).collect()
    })
}

/// ggml's GELU on the CPU (`ggml_vec_gelu_f32` with `GGML_GELU_FP16`): 0 below -10, the
/// identity above 10, else the table entry of the input rounded to f16. One element at a time:
/// the reference `geglu` is tested against.
#[cfg(test)]
pub fn gelu_table(x: f32) -> f32 {
    gelu_from(gelu_f16_table(), x, half::f16::from_f32(x).to_bits())
}

#[inline(always)]
fn gelu_from(table: &[f32], x: f32, x16: u16) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        table[usize::from(x16)]
    }
}

/// `out[i] = gelu_table(gate[i]) * up[i]`. The f16 roundings of a stretch of inputs are made
/// by one slice conversion (F16C where the CPU has it, the same round-to-nearest-even), not
/// one feature-checked call per element.
pub fn geglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    let table = gelu_f16_table();
    let mut h = [half::f16::ZERO; 256];
    for ((g, u), o) in gate.chunks(256).zip(up.chunks(256)).zip(out.chunks_mut(256)) {
        let h = &mut h[..g.len()];
        h.convert_from_f32_slice(g);
        for (((o, &g), &u), &h) in o.iter_mut().zip(g).zip(u).zip(h.iter()) {
            *o = gelu_from(table, g, h.to_bits()) * u;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gelu_table_is_close_to_gelu() {
        for i in -1200..1200 {
            let x = i as f32 / 100.0;
            let want = 0.5 * x as f64 * (1.0 + libm_erf(x as f64 / 2f64.sqrt()));
            // The tanh form differs from the exact one by < 1e-3; f16 rounding adds ~1e-3 relative.
            assert!((gelu_table(x) as f64 - want).abs() <= 2e-3 * want.abs().max(1.0) + 1e-3, "{x}");
        }
        assert_eq!(gelu_table(-10.0), 0.0);
        assert_eq!(gelu_table(12.5), 12.5);
    }

    #[test]
    fn geglu_is_gelu_table_times_up() {
        let n = 1000;
        let gate: Vec<f32> = (0..n).map(|i| (i as f32 - 500.0) * 0.0371).collect();
        let up: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let mut out = vec![f32::NAN; n];
        geglu(&gate, &up, &mut out);
        for i in 0..n {
            assert_eq!(out[i].to_bits(), (gelu_table(gate[i]) * up[i]).to_bits(), "{i}");
        }
    }

    /// erf by its series / continued fraction is more than the test needs: Abramowitz-Stegun 7.1.26.
    fn libm_erf(x: f64) -> f64 {
        let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
        let y = 1.0
            - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592)
                * t
                * (-x * x).exp();
        y.copysign(x)
    }

    use super::*;
}
