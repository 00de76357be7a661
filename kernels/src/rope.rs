//! The rotation step of RoPE, given each pair's cosine and sine: the same two fused
//! multiply-adds per pair as ggml's `rope_yarn` rotation, compiled with FMA instructions (and
//! so vectorized) where the CPU has them. A fused multiply-add rounds once whatever computes
//! it, so every level gives the same bits; without the `fma` target feature the compiler
//! calls the C library's `fmaf` for each one, which was most of the step's time.

/// Rotates the first `2 * cos.len()` dimensions of `head` in pairs: `(j, j + cos.len())`
/// (`neox`, GPT-NeoX's halves) or `(2j, 2j + 1)`; pair `j` by the angle with `cos[j]` and
/// `sin[j]`.
pub fn rotate(neox: bool, head: &mut [f32], cos: &[f32], sin: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::level() >= crate::cpu::Level::Avx2 {
        // SAFETY: the level says the CPU has AVX2 and FMA.
        unsafe { rotate_fma(neox, head, cos, sin) };
        return;
    }
    rotate_scalar(neox, head, cos, sin);
}

/// [`rotate`] as portable code: the twin of the FMA build.
pub fn rotate_scalar(neox: bool, head: &mut [f32], cos: &[f32], sin: &[f32]) {
    body(neox, head, cos, sin);
}

/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rotate_fma(neox: bool, head: &mut [f32], cos: &[f32], sin: &[f32]) {
    body(neox, head, cos, sin);
}

#[inline(always)]
fn body(neox: bool, head: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len().min(sin.len()).min(head.len() / 2);
    let (cos, sin) = (&cos[..half], &sin[..half]);
    let turn = |x0: f32, x1: f32, c: f32, s: f32| (x0.mul_add(c, -(x1 * s)), x0.mul_add(s, x1 * c));
    if neox {
        let (lo, rest) = head.split_at_mut(half);
        for (((a, b), &c), &s) in lo.iter_mut().zip(&mut rest[..half]).zip(cos).zip(sin) {
            (*a, *b) = turn(*a, *b, c, s);
        }
    } else {
        for ((pair, &c), &s) in head[..2 * half].chunks_exact_mut(2).zip(cos).zip(sin) {
            (pair[0], pair[1]) = turn(pair[0], pair[1], c, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_rotates_as_the_scalar_code() {
        let mut x = 7u64;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 10f32.powi((x % 9) as i32 - 4)
        };
        for half in [1, 3, 8, 31, 64, 128] {
            for neox in [false, true] {
                let head: Vec<f32> = (0..2 * half + 3).map(|_| next()).collect();
                let (cos, sin): (Vec<f32>, Vec<f32>) = (0..half).map(|_| (next(), next())).unzip();
                let mut want = head.clone();
                rotate_scalar(neox, &mut want, &cos, &sin);
                let mut got = head.clone();
                rotate(neox, &mut got, &cos, &sin);
                assert_eq!(
                    got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "half {half}, neox {neox}"
                );
                // Dimensions past the rotated ones pass through.
                assert_eq!(got[2 * half..], head[2 * half..]);
            }
        }
    }
}
