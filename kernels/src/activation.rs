//! The SiLU-gated feed-forward activation (`silu(gate) * up`) computed exactly as ggml's CPU
//! backend computes it, so that activations round as in llama.cpp (whose outputs the tests
//! compare with, token for token). ggml's SiLU uses its own vectorized `expf` (a polynomial
//! adapted from Arm's optimized routines), not the C library's: [`v_expf`] is that polynomial
//! one lane at a time with the same fused multiply-adds, the scalar twin of the AVX2 version
//! that [`swiglu`] runs where the CPU has it.

/// ggml's AVX-512 `ggml_v_expf`, for one value.
#[inline(always)]
pub fn v_expf(x: f32) -> f32 {
    let (j, n) = expf_parts(x);
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    scalef(j, n as i32)
}

/// The polynomial `j` and the integral power `n` with exp(x) = j * 2^n.
#[inline(always)]
pub(crate) fn expf_parts(x: f32) -> (f32, f32) {
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
    (j, n)
}

/// j * 2^n without intermediate overflow (AVX-512 `scalef` for integral n in [-192, 192]).
#[inline(always)]
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
#[inline(always)]
pub fn v_silu(x: f32) -> f32 {
    x / (1.0 + v_expf(0.0 - x))
}

/// `out[i] = v_silu(gate[i]) * up[i]` over the shortest of the three, with SIMD where the CPU
/// has it (bit-identical to the scalar loop).
pub fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::level() >= crate::cpu::Level::Avx2 {
        // SAFETY: the level says the CPU has AVX2 and FMA.
        unsafe { crate::x86_64::activation::swiglu(gate, up, out) };
        return;
    }
    swiglu_scalar(gate, up, out);
}

/// The portable twin of [`swiglu`].
pub fn swiglu_scalar(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = v_silu(g) * u;
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn swiglu_matches_its_scalar_twin_bit_for_bit() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 40.0
        };
        for n in [0, 1, 7, 8, 9, 31, 100, 1536, 1543] {
            let mut gate: Vec<f32> = (0..n).map(|_| next()).collect();
            let up: Vec<f32> = (0..n).map(|_| next()).collect();
            // Values whose exponent leaves scalef's plain range, and special values.
            for (i, v) in [-95.0f32, 95.0, 120.0, -150.0, 0.0, -0.0, f32::INFINITY, f32::NAN].iter().enumerate() {
                if i < n {
                    gate[(i * 13) % n] = *v;
                }
            }
            let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
            swiglu_scalar(&gate, &up, &mut a);
            swiglu(&gate, &up, &mut b);
            for i in 0..n {
                assert_eq!(a[i].to_bits(), b[i].to_bits(), "n = {n}, i = {i}, gate {}", gate[i]);
            }
        }
    }
}
