//! AVX2+FMA SiLU-gated activation, lane for lane the scalar `activation::v_silu` (the same
//! fused multiply-adds, then an exact IEEE division), eight values at a time.

use std::arch::x86_64::*;

use crate::activation::v_silu;

/// `out[i] = v_silu(gate[i]) * up[i]`. A group of eight whose exponents fall outside the range
/// where `j * 2^n` is a single exact scaling (|n| > 126: outputs that are 0, huge or NaN
/// anyway) is done by the scalar function, as is the tail.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) {
    let n = out.len().min(gate.len()).min(up.len());
    let c = |bits: u32| _mm256_set1_ps(f32::from_bits(bits));
    let r = c(0x4b40_0000);
    let mut i = 0;
    while i + 8 <= n {
        let g: [f32; 8] = gate[i..i + 8].try_into().unwrap();
        let u: [f32; 8] = up[i..i + 8].try_into().unwrap();
        // SAFETY: [f32; 8] is 32 bytes; unaligned loads.
        let (gv, uv) = unsafe { (_mm256_loadu_ps(g.as_ptr()), _mm256_loadu_ps(u.as_ptr())) };
        let x = _mm256_sub_ps(_mm256_setzero_ps(), gv);
        let z = _mm256_fmadd_ps(x, c(0x3fb8_aa3b), r);
        let nn = _mm256_sub_ps(z, r);
        let b = _mm256_fnmadd_ps(nn, c(0x35bf_be8e), _mm256_fnmadd_ps(nn, c(0x3f31_7200), x));
        let uu = _mm256_mul_ps(b, b);
        let j = _mm256_fmadd_ps(
            _mm256_fmadd_ps(
                _mm256_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)),
                uu,
                _mm256_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)),
            ),
            uu,
            _mm256_fmadd_ps(c(0x3f7f_fff6), b, _mm256_set1_ps(1.0)),
        );
        // |n| <= 126 in every lane (NaN compares false, so it takes the scalar path too).
        let abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0), nn);
        let in_range = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(abs_n, _mm256_set1_ps(126.0))) == 0xff;
        if in_range {
            // 2^n built in the exponent field; j * 2^n is then the one rounding scalef makes.
            let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
                _mm256_cvtps_epi32(nn),
                _mm256_set1_epi32(127),
            )));
            let e = _mm256_mul_ps(j, pow2);
            let silu = _mm256_div_ps(gv, _mm256_add_ps(_mm256_set1_ps(1.0), e));
            let mut o = [0.0f32; 8];
            // SAFETY: [f32; 8] is 32 bytes.
            unsafe { _mm256_storeu_ps(o.as_mut_ptr(), _mm256_mul_ps(silu, uv)) };
            out[i..i + 8].copy_from_slice(&o);
        } else {
            for k in i..i + 8 {
                out[k] = v_silu(gate[k]) * up[k];
            }
        }
        i += 8;
    }
    for k in i..n {
        out[k] = v_silu(gate[k]) * up[k];
    }
}
