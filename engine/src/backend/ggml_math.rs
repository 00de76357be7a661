//! Elementwise functions computed exactly as ggml's CPU backend computes them, so that
//! activations round the same way as in llama.cpp (whose outputs the tests compare with,
//! token for token). ggml's SiLU uses its own vectorized `expf` (a polynomial adapted from
//! Arm's optimized routines), not the C library's; this is that polynomial, one lane at a
//! time, with the same fused multiply-adds. Its GELU reads a table of f16 values indexed by
//! the f16 rounding of the input (`GGML_GELU_FP16`), built here the same way.

/// ggml's AVX-512 `ggml_v_expf`, for one value.
pub fn v_expf(x: f32) -> f32 {
    let r = f32::from_bits(0x4b40_0000); // 0x1.8p23: adding it rounds to an integer
    let z = x.mul_add(f32::from_bits(0x3fb8_aa3b), r); // x * log2(e) + r
    let n = z - r;
    // b = x - n*ln2 (in two parts, each a fused negated multiply-add).
    let b = (-n).mul_add(f32::from_bits(0x35bf_be8e), (-n).mul_add(f32::from_bits(0x3f31_7200), x));
    let u = b * b;
    let j = f32::from_bits(0x3c07_2010)
        .mul_add(b, f32::from_bits(0x3d2b_9f17))
        .mul_add(u, f32::from_bits(0x3e2a_af33).mul_add(b, f32::from_bits(0x3eff_fedb)))
        .mul_add(u, f32::from_bits(0x3f7f_fff6).mul_add(b, 1.0));
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    scalef(j, n as i32)
}

/// j * 2^n without intermediate overflow (AVX-512 `scalef` for integral n in [-192, 192]).
fn scalef(j: f32, n: i32) -> f32 {
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    if n > 127 {
        j * pow2(127) * pow2(n - 127)
    } else if n < -126 {
        j * pow2(-126) * pow2(n + 126)
    } else {
        j * pow2(n)
    }
}

/// ggml's vectorized SiLU: x / (1 + v_expf(-x)).
pub fn v_silu(x: f32) -> f32 {
    x / (1.0 + v_expf(0.0 - x))
}

/// ggml's `ggml_gelu_f32`: the tanh approximation, with the FMA its C contracts to.
pub fn gelu_f32(x: f32) -> f32 {
    const GELU_COEF_A: f32 = 0.044715;
    // ggml writes sqrt(2/pi) in full; rounding the f64 gives the same f32 as its C literal.
    const SQRT_2_OVER_PI: f32 = 0.797_884_560_802_865_4_f64 as f32;
    let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh())
}

/// gelu of every f16 value, rounded to f16 (ggml's `ggml_table_gelu_f16`).
fn gelu_f16_table() -> &'static [half::f16] {
    static TABLE: std::sync::OnceLock<Vec<half::f16>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX).map(|i| half::f16::from_f32(gelu_f32(half::f16::from_bits(i).to_f32()))).collect()
    })
}

/// ggml's GELU on the CPU (`ggml_vec_gelu_f32` with `GGML_GELU_FP16`): 0 below -10, the
/// identity above 10, else the table entry of the input rounded to f16.
pub fn gelu_table(x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        gelu_f16_table()[usize::from(half::f16::from_f32(x).to_bits())].to_f32()
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

    #[test]
    fn constants_are_ggmls() {
        // Each bit pattern against the hexadecimal float literal of ggml's source, written as
        // (hex mantissa) * 2^exponent and compared exactly.
        let hex = |mantissa: u32, exp: i32| (mantissa as f64) * 2f64.powi(exp);
        let cases = [
            (0x4b40_0000u32, hex(0x18, 19)),    // 0x1.8p23
            (0x3fb8_aa3b, hex(0x1715476, -24)), // 0x1.715476p+0
            (0x35bf_be8e, hex(0x17f7d1c, -44)), // 0x1.7f7d1cp-20
            (0x3f31_7200, hex(0x162e4, -17)),   // 0x1.62e4p-1
            (0x3c07_2010, hex(0x10e4020, -31)), // 0x1.0e4020p-7
            (0x3d2b_9f17, hex(0x1573e2e, -29)), // 0x1.573e2ep-5
            (0x3e2a_af33, hex(0x1555e66, -27)), // 0x1.555e66p-3
            (0x3eff_fedb, hex(0x1fffdb6, -26)), // 0x1.fffdb6p-2
            (0x3f7f_fff6, hex(0x1ffffec, -25)), // 0x1.ffffecp-1
        ];
        for (bits, want) in cases {
            assert_eq!(f32::from_bits(bits) as f64, want, "{bits:#x}");
        }
    }

    #[test]
    fn v_expf_is_within_two_ulps_of_exp() {
        let mut x = -100.0f32;
        while x < 88.0 {
            let (got, want) = (v_expf(x), (x as f64).exp());
            let ulp = (want as f32).to_bits().abs_diff(got.to_bits());
            assert!(ulp <= 2, "x={x}: {got} vs {want} ({ulp} ulps)");
            x += 0.0137;
        }
        assert_eq!(v_expf(-200.0), 0.0);
        assert_eq!(v_expf(200.0), f32::INFINITY);
    }

    #[test]
    fn v_silu_matches_the_definition() {
        for x in [-20.0f32, -3.5, -0.1, 0.0, 0.7, 4.0, 30.0] {
            let want = x as f64 / (1.0 + (-x as f64).exp());
            assert!((v_silu(x) as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "{x}");
        }
    }
}
