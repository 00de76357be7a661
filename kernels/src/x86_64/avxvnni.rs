//! AVX-VNNI kernels for the 32-element block formats, bit-identical to the AVX2 ones in `avx2`.
//!
//! The VEX-encoded AVX-VNNI of Alder Lake and Zen 5 has one instruction these kernels need,
//! the 256-bit `vpdpbusd`: u8 x i8 products, four neighbours summed into an i32 lane, exactly.
//! It replaces the AVX2 kernels' `maddubs` + `madd` pair, which computes the same lanes (it never
//! saturates on these operands, see `avx512::sign_split`), as ggml's `mul_sum_us8_pairs_float`
//! and `mul_sum_i8_pairs_float` do under `__AVXVNNI__`. Signed weights go through ggml's sign
//! trick (`|x|` as the unsigned operand, the sign of `x` moved onto `y`). Every float operation
//! is the AVX2 kernel's, in its order: one 8-lane FMA per block with the block's scale, Q4_1's
//! and Q5_1's `m * s` sums as a scalar `mul_add`, one `hsum` at the end. So results are equal
//! bit for bit.
//!
//! No CPU we test on has the VEX encoding, and no emulator we can reach runs it, so the kernel
//! body is one macro, `vnni_kernels!`, expanded twice: `vex` (`avxvnni`, installed for
//! `Level::AvxVnni`) and, for tests only, `evex` (`avx512vnni` + `avx512vl`: the same 256-bit
//! instruction, EVEX-encoded, with the same result), which runs on any AVX-512 VNNI CPU and is
//! checked against the AVX2 kernels. The two copies differ only in the feature string and the
//! intrinsic that names the instruction.
//!
//! The weight unpacking is plain AVX2 and shared; the public entry points are `unsafe` only
//! because the CPU must have the features.

use std::arch::x86_64::*;

use super::avx2::{bits_to_bytes, ld128, nibbles};
use crate::quant::iq4_nl::KVALUES;
use crate::quant::{BlockIq4Nl, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0};

// ---------------------------------------------------------------------------------------------
// Weight unpacking (the bytes each AVX2 kernel forms, shared by both copies)
// ---------------------------------------------------------------------------------------------

/// Q4_0's 32 weights as signed bytes, `nibble - 8`.
#[inline]
#[target_feature(enable = "avx2")]
fn unpack_q4_0(a: &BlockQ4_0) -> __m256i {
    _mm256_sub_epi8(nibbles(&a.qs), _mm256_set1_epi8(8))
}

/// Q5_0's 32 weights as signed bytes, `(nibble | bit << 4) - 16`: where the 5th bit is clear,
/// OR-ing 0xF0 onto the nibble yields nibble - 16; where it is set, the nibble alone is it.
#[inline]
#[target_feature(enable = "avx2")]
fn unpack_q5_0(a: &BlockQ5_0) -> __m256i {
    let high = _mm256_andnot_si256(bits_to_bytes(a.qh), _mm256_set1_epi8(0xF0u8 as i8));
    _mm256_or_si256(nibbles(&a.qs), high)
}

/// Q8_0's 32 weights.
#[inline]
#[target_feature(enable = "avx2")]
fn unpack_q8_0(a: &BlockQ8_0) -> __m256i {
    super::avx2::ld256(&a.qs)
}

/// IQ4_NL's 32 weights as signed bytes, the nibbles looked up in the table by a byte shuffle.
#[inline]
#[target_feature(enable = "avx2")]
fn unpack_iq4_nl(a: &BlockIq4Nl) -> __m256i {
    let (table, m4) = (ld128(&KVALUES), _mm_set1_epi8(0x0F));
    let t = ld128(&a.qs);
    let lo = _mm_shuffle_epi8(table, _mm_and_si128(t, m4));
    let hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16::<4>(t), m4));
    _mm256_set_m128i(hi, lo)
}

/// Q4_1's 32 weights as unsigned bytes (the nibbles).
#[inline]
#[target_feature(enable = "avx2")]
fn unpack_q4_1(a: &BlockQ4_1) -> __m256i {
    nibbles(&a.qs)
}

/// Q5_1's 32 weights as unsigned bytes, `nibble | bit << 4`.
#[inline]
#[target_feature(enable = "avx2")]
fn unpack_q5_1(a: &BlockQ5_1) -> __m256i {
    _mm256_or_si256(nibbles(&a.qs), _mm256_and_si256(bits_to_bytes(a.qh), _mm256_set1_epi8(0x10)))
}

// ---------------------------------------------------------------------------------------------
// The kernel body
// ---------------------------------------------------------------------------------------------

/// `dot` and `dot4` of a weight type with signed weights and Q8_0 activations (`avx2::$dot`'s
/// and `avx2::vec_dot_q4_0_x4`'s arithmetic). Expanded inside a `vnni_kernels!` module, whose
/// `dot_i8` it calls.
macro_rules! dots_q8_0 {
    ($feat:literal, $cpu:literal; $dot:ident, $dot4:ident, $w:ty, $unpack:ident) => {
        #[doc = concat!("`avx2::", stringify!($dot), "` with `vpdpbusd`, bit-identical to it.")]
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $cpu, ".")]
        #[target_feature(enable = $feat)]
        pub unsafe fn $dot(x: &[$w], y: &[BlockQ8_0]) -> f32 {
            let mut acc = _mm256_setzero_ps();
            for (a, b) in x.iter().zip(y) {
                let d = _mm256_set1_ps(f16x(a.d) * f16x(b.d));
                acc = _mm256_fmadd_ps(d, dot_i8($unpack(a), ld256(&b.qs)), acc);
            }
            hsum(acc)
        }

        #[doc = concat!("`", stringify!($dot), "` for four activation rows: the weights are unpacked once per")]
        /// block; each row's arithmetic is exactly that of the single-row kernel.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $cpu, ".")]
        #[target_feature(enable = $feat)]
        pub unsafe fn $dot4(x: &[$w], y: [&[BlockQ8_0]; 4]) -> [f32; 4] {
            let mut acc = [_mm256_setzero_ps(); 4];
            for (i, a) in x.iter().enumerate() {
                let dx = f16x(a.d);
                let qx = $unpack(a);
                for (acc, y) in acc.iter_mut().zip(y) {
                    let b = &y[i];
                    let d = _mm256_set1_ps(dx * f16x(b.d));
                    *acc = _mm256_fmadd_ps(d, dot_i8(qx, ld256(&b.qs)), *acc);
                }
            }
            acc.map(|a| hsum(a))
        }
    };
}

/// `dot` and `dot4` of a weight type with unsigned weights, a per-block minimum `m` and Q8_1
/// activations (`avx2::vec_dot_q4_1`'s and `avx2::vec_dot_q4_1_x4`'s arithmetic). Expanded
/// inside a `vnni_kernels!` module, whose `dot_u8_i8` it calls.
macro_rules! dots_q8_1 {
    ($feat:literal, $cpu:literal; $dot:ident, $dot4:ident, $w:ty, $unpack:ident) => {
        #[doc = concat!("`avx2::", stringify!($dot), "` with `vpdpbusd`, bit-identical to it.")]
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $cpu, ".")]
        #[target_feature(enable = $feat)]
        pub unsafe fn $dot(x: &[$w], y: &[BlockQ8_1]) -> f32 {
            let mut acc = _mm256_setzero_ps();
            let mut summs = 0.0f32;
            for (a, b) in x.iter().zip(y) {
                // ggml's C is built with fused multiply-adds allowed, so this sum is an FMA there.
                summs = f16x(a.m).mul_add(f16x(b.s), summs);
                let d = _mm256_set1_ps(f16x(a.d) * f16x(b.d));
                acc = _mm256_fmadd_ps(d, dot_u8_i8($unpack(a), ld256(&b.qs)), acc);
            }
            hsum(acc) + summs
        }

        #[doc = concat!("`", stringify!($dot), "` for four activation rows (see `vec_dot_q4_0_x4`).")]
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $cpu, ".")]
        #[target_feature(enable = $feat)]
        pub unsafe fn $dot4(x: &[$w], y: [&[BlockQ8_1]; 4]) -> [f32; 4] {
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut summs = [0.0f32; 4];
            for (i, a) in x.iter().enumerate() {
                let (dx, mx) = (f16x(a.d), f16x(a.m));
                let qx = $unpack(a);
                for t in 0..4 {
                    let b = &y[t][i];
                    summs[t] = mx.mul_add(f16x(b.s), summs[t]);
                    let d = _mm256_set1_ps(dx * f16x(b.d));
                    acc[t] = _mm256_fmadd_ps(d, dot_u8_i8(qx, ld256(&b.qs)), acc[t]);
                }
            }
            [0, 1, 2, 3].map(|t| hsum(acc[t]) + summs[t])
        }
    };
}

/// The kernels, as a module compiled for the target features `features`, whose integer step is
/// the intrinsic `dpbusd` (`vpdpbusd` on 256 bits in one of its encodings); `cpu` names the
/// features in the `# Safety` notes.
macro_rules! vnni_kernels {
    ($(#[$attr:meta])* $vis:vis mod $m:ident, features = $feat:literal, dpbusd = $dpbusd:path, cpu = $cpu:literal) => {
        $(#[$attr])*
        $vis mod $m {
            use std::arch::x86_64::*;

            use super::{unpack_iq4_nl, unpack_q4_0, unpack_q4_1, unpack_q5_0, unpack_q5_1, unpack_q8_0};
            use crate::quant::{BlockIq4Nl, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
            use crate::x86_64::avx2::{f16x, hsum, ld256};

            /// Unsigned bytes times signed bytes, each four neighbouring products summed, as f32
            /// lanes: `avx2::dot_u8_i8` in one instruction.
            #[inline]
            #[target_feature(enable = $feat)]
            fn dot_u8_i8(ux: __m256i, sy: __m256i) -> __m256 {
                _mm256_cvtepi32_ps($dpbusd(_mm256_setzero_si256(), ux, sy))
            }

            /// Signed bytes times signed bytes (`avx2::dot_i8`): `|x|` is the unsigned operand
            /// and `y` takes the sign of `x` (where `x` is 0 the product is 0 either way).
            #[inline]
            #[target_feature(enable = $feat)]
            fn dot_i8(x: __m256i, y: __m256i) -> __m256 {
                dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
            }

            dots_q8_0!($feat, $cpu; vec_dot_q4_0, vec_dot_q4_0_x4, BlockQ4_0, unpack_q4_0);
            dots_q8_0!($feat, $cpu; vec_dot_q5_0, vec_dot_q5_0_x4, BlockQ5_0, unpack_q5_0);
            dots_q8_0!($feat, $cpu; vec_dot_q8_0, vec_dot_q8_0_x4, BlockQ8_0, unpack_q8_0);
            dots_q8_0!($feat, $cpu; vec_dot_iq4_nl, vec_dot_iq4_nl_x4, BlockIq4Nl, unpack_iq4_nl);
            dots_q8_1!($feat, $cpu; vec_dot_q4_1, vec_dot_q4_1_x4, BlockQ4_1, unpack_q4_1);
            dots_q8_1!($feat, $cpu; vec_dot_q5_1, vec_dot_q5_1_x4, BlockQ5_1, unpack_q5_1);
        }
    };
}

vnni_kernels! {
    /// The VEX-encoded copy, installed for `Level::AvxVnni` (Alder Lake, Zen 5).
    pub(crate) mod vex,
    features = "avx2,fma,f16c,avxvnni",
    dpbusd = _mm256_dpbusd_avx_epi32,
    cpu = "AVX2, FMA, F16C and AVX-VNNI"
}

vnni_kernels! {
    /// The EVEX-encoded twin of `vex`, for tests: the same source and the same 256-bit
    /// instruction, runnable on AVX-512 VNNI CPUs (Ice Lake, Zen 4), most of which lack the VEX
    /// form.
    #[cfg(test)]
    pub(crate) mod evex,
    features = "avx2,fma,f16c,avx512vnni,avx512vl",
    dpbusd = _mm256_dpbusd_epi32,
    cpu = "AVX2, FMA, F16C and AVX-512 VNNI+VL"
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    //! The EVEX twin against the AVX2 kernels bit for bit and against the scalar ones within the
    //! harness's tolerance; the VEX copy the same way where the CPU has AVX-VNNI; and the tables:
    //! only `Level::AvxVnni` holds the VEX kernels, and only on a CPU that has them.

    use super::{evex, vex};
    use crate::cpu::{self, Level};
    use crate::dispatch::table;
    use crate::quant::{self, BlockIq4Nl, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0};
    use crate::x86_64::avx2;
    use crate::GgmlType;

    /// SplitMix64, as the shared harness uses (whose helpers are private to `crate::tests`).
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1).
        fn f32(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
        }

        /// A modest f16 scale of either sign.
        fn scale(&mut self) -> [u8; 2] {
            let sign = if self.f32() < 0.5 { -1.0 } else { 1.0 };
            crate::f32_to_f16(sign * (0.001 + 0.02 * self.f32())).to_le_bytes()
        }
    }

    /// Block counts: one, odd and even, past any unrolling.
    const BLOCKS: [usize; 7] = [1, 2, 3, 7, 8, 31, 64];

    /// Byte patterns a whole weight row is filled with (scales put back): where a saturating or
    /// sign-dependent integer step would show (0x80 is -128 as a Q8_0 weight).
    const FILLS: [u8; 5] = [0x00, 0xFF, 0x80, 0x7F, 0x55];

    /// One type's kernels: the AVX2 and scalar references and the two VNNI copies.
    struct Case<W, A> {
        ty: GgmlType,
        /// Sets a block's float fields (random bits there would be NaN or huge).
        scales: fn(&mut W, &mut Rng),
        quantize: fn(&[f32], &mut [A]),
        scalar: fn(&[W], &[A]) -> f32,
        avx2: unsafe fn(&[W], &[A]) -> f32,
        evex: unsafe fn(&[W], &[A]) -> f32,
        evex4: unsafe fn(&[W], [&[A]; 4]) -> [f32; 4],
        vex: unsafe fn(&[W], &[A]) -> f32,
        vex4: unsafe fn(&[W], [&[A]; 4]) -> [f32; 4],
    }

    /// Weight rows: random, then each of `FILLS`; all with random scales.
    fn weight_rows<W: bytemuck::Pod>(rng: &mut Rng, blocks: usize, scales: fn(&mut W, &mut Rng)) -> Vec<Vec<W>> {
        let mut rows = Vec::new();
        for fill in [None].into_iter().chain(FILLS.map(Some)) {
            let mut w: Vec<W> = vec![bytemuck::Zeroable::zeroed(); blocks];
            for byte in bytemuck::cast_slice_mut::<W, u8>(&mut w) {
                *byte = fill.unwrap_or(rng.next_u64() as u8);
            }
            w.iter_mut().for_each(|b| scales(b, rng));
            rows.push(w);
        }
        rows
    }

    /// Activation rows of `n` floats: mostly normal with rare outliers, and the extremes (every
    /// value quantizing to +127, -127, or alternating).
    fn activation_rows(rng: &mut Rng, n: usize) -> Vec<Vec<f32>> {
        let random = (0..n)
            .map(|_| {
                let v = ((0..4).map(|_| rng.f32()).sum::<f32>() - 2.0) * 1.732;
                if rng.f32() < 0.01 {
                    v * 20.0
                } else {
                    v
                }
            })
            .collect();
        let alternating = (0..n).map(|i| if i % 2 == 0 { -1.0 } else { 1.0 }).collect();
        vec![random, vec![1.0; n], vec![-1.0; n], alternating]
    }

    /// The four activation rows quantized with the scalar quantizer.
    fn quantized<A: bytemuck::Pod>(case: &Case<impl bytemuck::Pod, A>, xs: &[Vec<f32>]) -> Vec<Vec<A>> {
        xs.iter()
            .map(|x| {
                let mut a: Vec<A> = vec![bytemuck::Zeroable::zeroed(); x.len() / 32];
                (case.quantize)(x, &mut a);
                a
            })
            .collect()
    }

    /// Runs `dot` and `dot4` of one VNNI copy against the AVX2 `dot`, bit for bit, on every
    /// weight row and activation row; returns how many results were compared.
    fn check_bits<W: bytemuck::Pod, A: bytemuck::Pod>(
        case: &Case<W, A>,
        copy: &str,
        dot: unsafe fn(&[W], &[A]) -> f32,
        dot4: unsafe fn(&[W], [&[A]; 4]) -> [f32; 4],
        seed: u64,
    ) -> usize {
        let mut rng = Rng(seed);
        let mut compared = 0;
        for blocks in BLOCKS {
            let xs = activation_rows(&mut rng, 32 * blocks);
            let acts = quantized(case, &xs);
            for (r, w) in weight_rows(&mut rng, blocks, case.scales).iter().enumerate() {
                let a = [&acts[0][..], &acts[1][..], &acts[2][..], &acts[3][..]];
                // SAFETY: callers pass kernels of a copy whose features this CPU has (checked),
                // which include AVX2, FMA and F16C.
                let four = unsafe { dot4(w, a) };
                for t in 0..4 {
                    // SAFETY: as above.
                    let (want, got) = unsafe { ((case.avx2)(w, a[t]), dot(w, a[t])) };
                    let ty = case.ty;
                    assert_eq!(want.to_bits(), got.to_bits(), "{ty} {copy} dot, {blocks} blocks, w {r}, a {t}");
                    assert_eq!(want.to_bits(), four[t].to_bits(), "{ty} {copy} dot4, {blocks} blocks, w {r}, a {t}");
                    compared += 2;
                }
            }
        }
        compared
    }

    /// The scalar twin against a VNNI `dot` within the shared harness's tolerance: only the f32
    /// summation order differs, so the error scales with the sum of the terms' magnitudes.
    fn check_scalar<W: bytemuck::Pod, A: bytemuck::Pod>(case: &Case<W, A>, dot: unsafe fn(&[W], &[A]) -> f32) {
        let mut rng = Rng(7);
        for blocks in BLOCKS {
            let n = 32 * blocks;
            let xs = activation_rows(&mut rng, n);
            let acts = quantized(case, &xs);
            for w in weight_rows(&mut rng, blocks, case.scales) {
                let mut wf = vec![0.0; n];
                crate::dequantize_row(case.ty, bytemuck::cast_slice(&w), &mut wf).unwrap();
                for (x, a) in xs.iter().zip(&acts) {
                    let mag: f64 = wf.iter().zip(x).map(|(w, x)| (w * x).abs() as f64).sum();
                    let tol = 1e-5 * mag + 1e-6;
                    let want = (case.scalar)(&w, a);
                    // SAFETY: callers pass a kernel whose features this CPU has (checked).
                    let got = unsafe { dot(&w, a) };
                    let ty = case.ty;
                    assert!(((want - got) as f64).abs() <= tol, "{ty} n = {n}: scalar {want}, vnni {got}, tol {tol}");
                }
            }
        }
    }

    /// Runs `f` on every type's case (a macro: the cases have different block types).
    macro_rules! for_each_case {
        ($f:ident) => {{
            $f(&Case {
                ty: GgmlType::Q4_0,
                scales: |b: &mut BlockQ4_0, r| b.d = r.scale(),
                quantize: quant::q8_0::quantize,
                scalar: quant::q4_0::vec_dot,
                avx2: avx2::vec_dot_q4_0,
                evex: evex::vec_dot_q4_0,
                evex4: evex::vec_dot_q4_0_x4,
                vex: vex::vec_dot_q4_0,
                vex4: vex::vec_dot_q4_0_x4,
            });
            $f(&Case {
                ty: GgmlType::Q4_1,
                scales: |b: &mut BlockQ4_1, r| (b.d, b.m) = (r.scale(), r.scale()),
                quantize: quant::q8_1::quantize,
                scalar: quant::q4_1::vec_dot,
                avx2: avx2::vec_dot_q4_1,
                evex: evex::vec_dot_q4_1,
                evex4: evex::vec_dot_q4_1_x4,
                vex: vex::vec_dot_q4_1,
                vex4: vex::vec_dot_q4_1_x4,
            });
            $f(&Case {
                ty: GgmlType::Q5_0,
                scales: |b: &mut BlockQ5_0, r| b.d = r.scale(),
                quantize: quant::q8_0::quantize,
                scalar: quant::q5_0::vec_dot,
                avx2: avx2::vec_dot_q5_0,
                evex: evex::vec_dot_q5_0,
                evex4: evex::vec_dot_q5_0_x4,
                vex: vex::vec_dot_q5_0,
                vex4: vex::vec_dot_q5_0_x4,
            });
            $f(&Case {
                ty: GgmlType::Q5_1,
                scales: |b: &mut BlockQ5_1, r| (b.d, b.m) = (r.scale(), r.scale()),
                quantize: quant::q8_1::quantize,
                scalar: quant::q5_1::vec_dot,
                avx2: avx2::vec_dot_q5_1,
                evex: evex::vec_dot_q5_1,
                evex4: evex::vec_dot_q5_1_x4,
                vex: vex::vec_dot_q5_1,
                vex4: vex::vec_dot_q5_1_x4,
            });
            $f(&Case {
                ty: GgmlType::Q8_0,
                scales: |b: &mut BlockQ8_0, r| b.d = r.scale(),
                quantize: quant::q8_0::quantize,
                scalar: quant::q8_0::vec_dot,
                avx2: avx2::vec_dot_q8_0,
                evex: evex::vec_dot_q8_0,
                evex4: evex::vec_dot_q8_0_x4,
                vex: vex::vec_dot_q8_0,
                vex4: vex::vec_dot_q8_0_x4,
            });
            $f(&Case {
                ty: GgmlType::IQ4_NL,
                scales: |b: &mut BlockIq4Nl, r| b.d = r.scale(),
                quantize: quant::q8_0::quantize,
                scalar: quant::iq4_nl::vec_dot,
                avx2: avx2::vec_dot_iq4_nl,
                evex: evex::vec_dot_iq4_nl,
                evex4: evex::vec_dot_iq4_nl_x4,
                vex: vex::vec_dot_iq4_nl,
                vex4: vex::vec_dot_iq4_nl_x4,
            });
        }};
    }

    /// Whether the EVEX twin runs here; prints a note when it does not.
    fn have_evex() -> bool {
        let ok = cpu::supports(Level::Avx2)
            && is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("avx512vl");
        if !ok {
            println!("skipping: this CPU lacks AVX-512 VNNI+VL, so the EVEX twin cannot run");
        }
        ok
    }

    /// Whether the VEX copy runs here; prints a note when it does not.
    fn have_vex() -> bool {
        let ok = cpu::supports(Level::AvxVnni);
        if !ok {
            println!("skipping: this CPU lacks AVX-VNNI, so the VEX copy cannot run (its twin is tested)");
        }
        ok
    }

    #[test]
    fn evex_twin_matches_avx2_bit_for_bit() {
        if !have_evex() {
            return;
        }
        fn run<W: bytemuck::Pod, A: bytemuck::Pod>(case: &Case<W, A>) {
            let n = check_bits(case, "evex", case.evex, case.evex4, 0x5EED ^ case.ty.id() as u64);
            println!("{}: {n} evex results equal avx2's", case.ty);
        }
        for_each_case!(run);
    }

    #[test]
    fn evex_twin_matches_scalar() {
        if !have_evex() {
            return;
        }
        fn run<W: bytemuck::Pod, A: bytemuck::Pod>(case: &Case<W, A>) {
            check_scalar(case, case.evex);
        }
        for_each_case!(run);
    }

    #[test]
    fn vex_copy_matches_avx2_bit_for_bit() {
        if !have_vex() {
            return;
        }
        fn run<W: bytemuck::Pod, A: bytemuck::Pod>(case: &Case<W, A>) {
            check_bits(case, "vex", case.vex, case.vex4, 0x5EED ^ case.ty.id() as u64);
            check_scalar(case, case.vex);
        }
        for_each_case!(run);
    }

    /// The VEX kernels sit in the `Level::AvxVnni` table and in no other; where the CPU lacks
    /// AVX-VNNI, asking for that table yields the best level below it (AVX2's), so the VEX
    /// kernels are never reachable there. AVX-512 keeps its own and AVX2's kernels.
    #[test]
    fn only_the_avxvnni_table_holds_vex_kernels() {
        use super::super as x86;
        use crate::dispatch::{Dot4Fn, DotFn};
        let dots: [DotFn; 6] = [
            x86::dot_q4_0_vnni,
            x86::dot_q4_1_vnni,
            x86::dot_q5_0_vnni,
            x86::dot_q5_1_vnni,
            x86::dot_q8_0_vnni,
            x86::dot_iq4_nl_vnni,
        ];
        let dot4s: [Dot4Fn; 6] = [
            x86::dot4_q4_0_vnni,
            x86::dot4_q4_1_vnni,
            x86::dot4_q5_0_vnni,
            x86::dot4_q5_1_vnni,
            x86::dot4_q8_0_vnni,
            x86::dot4_iq4_nl_vnni,
        ];
        let vex_dot = |f: DotFn| dots.iter().any(|&v| std::ptr::fn_addr_eq(v, f));
        let vex_dot4 = |f: Option<Dot4Fn>| f.is_some_and(|f| dot4s.iter().any(|&v| std::ptr::fn_addr_eq(v, f)));
        for level in cpu::supported_levels() {
            let t = table(level);
            for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::IQ4_NL]
            {
                let k = t.get(ty).unwrap();
                let here = level == Level::AvxVnni;
                assert_eq!(vex_dot(k.dot), here, "{ty} dot at level {}", level.name());
                assert_eq!(vex_dot4(k.dot4), here, "{ty} dot4 at level {}", level.name());
            }
        }
        if !cpu::supports(Level::AvxVnni) {
            let below = cpu::capped(Level::Avx2);
            assert!(std::ptr::eq(table(Level::AvxVnni), table(below)));
            println!("this CPU lacks AVX-VNNI: asking for its table gives the {} one", below.name());
        }
    }
}
