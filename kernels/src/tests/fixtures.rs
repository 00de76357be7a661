//! Our formats against independent implementations, from files made by
//! `python3 scripts/gen_kernel_fixtures.py` (see its docstring for what each file holds).
//!
//! - `<type>.dequant.bin`: random well-formed blocks and their f32 values as gguf-py (llama.cpp's
//!   Python GGUF package) dequantizes them; [`crate::dequantize_row`] must give the same bits.
//! - `<type>.quantize.bin`: an f32 row with awkward blocks and the bytes that gguf-py (F32, F16,
//!   BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) or ggml's C reference quantizers (Q2_K..Q6_K) make of
//!   it; [`crate::quantize_row`] must give the same bytes, except Q8_0 (see
//!   `q8_0_differs_from_the_portable_reference_only_in_rounding`).
//!
//! Each file is `b"RKFX"`, little-endian u32 version (1), element count `n` and byte count `m`,
//! then the `m` bytes of the quantized row, then `n` f32 values. The files are compiled in, so
//! the tests need no Python.

use crate::GgmlType;

/// One fixture file, parsed.
struct Fixture {
    raw: &'static [u8],
    values: Vec<f32>,
}

fn parse(file: &'static [u8]) -> Fixture {
    let word = |i: usize| u32::from_le_bytes(file[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    assert_eq!(&file[..4], b"RKFX", "not a fixture file");
    assert_eq!(word(1), 1, "fixture version");
    let (n, m) = (word(2), word(3));
    assert_eq!(file.len(), 16 + m + 4 * n, "fixture size");
    let raw = &file[16..16 + m];
    let values = file[16 + m..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    Fixture { raw, values }
}

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name))
    };
}

/// Every type with kernels, with gguf-py's dequantization of random blocks.
fn dequant_fixtures() -> Vec<(GgmlType, &'static [u8])> {
    use GgmlType::*;
    vec![
        (F32, fixture!("f32.dequant.bin")),
        (F16, fixture!("f16.dequant.bin")),
        (BF16, fixture!("bf16.dequant.bin")),
        (Q4_0, fixture!("q4_0.dequant.bin")),
        (Q4_1, fixture!("q4_1.dequant.bin")),
        (Q5_0, fixture!("q5_0.dequant.bin")),
        (Q5_1, fixture!("q5_1.dequant.bin")),
        (Q8_0, fixture!("q8_0.dequant.bin")),
        (Q2_K, fixture!("q2_k.dequant.bin")),
        (Q3_K, fixture!("q3_k.dequant.bin")),
        (Q4_K, fixture!("q4_k.dequant.bin")),
        (Q5_K, fixture!("q5_k.dequant.bin")),
        (Q6_K, fixture!("q6_k.dequant.bin")),
        (IQ4_NL, fixture!("iq4_nl.dequant.bin")),
        (IQ4_XS, fixture!("iq4_xs.dequant.bin")),
    ]
}

/// The types whose quantizers we check byte for byte, with the reference's output.
fn quantize_fixtures() -> Vec<(GgmlType, &'static [u8])> {
    use GgmlType::*;
    vec![
        (F32, fixture!("f32.quantize.bin")),
        (F16, fixture!("f16.quantize.bin")),
        (BF16, fixture!("bf16.quantize.bin")),
        (Q4_0, fixture!("q4_0.quantize.bin")),
        (Q4_1, fixture!("q4_1.quantize.bin")),
        (Q5_0, fixture!("q5_0.quantize.bin")),
        (Q5_1, fixture!("q5_1.quantize.bin")),
        (Q2_K, fixture!("q2_k.quantize.bin")),
        (Q3_K, fixture!("q3_k.quantize.bin")),
        (Q4_K, fixture!("q4_k.quantize.bin")),
        (Q5_K, fixture!("q5_k.quantize.bin")),
        (Q6_K, fixture!("q6_k.quantize.bin")),
    ]
}

#[test]
fn every_type_with_kernels_has_a_dequant_fixture() {
    let covered: Vec<GgmlType> = dequant_fixtures().into_iter().map(|(t, _)| t).collect();
    for ty in super::util::kernel_types() {
        assert!(covered.contains(&ty), "{ty} has kernels but no dequant fixture");
    }
}

#[test]
fn dequantize_matches_gguf_py_bit_for_bit() {
    for (ty, file) in dequant_fixtures() {
        let f = parse(file);
        let mut got = vec![0.0f32; f.values.len()];
        crate::dequantize_row(ty, f.raw, &mut got).unwrap();
        for (i, (g, w)) in got.iter().zip(&f.values).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{ty} element {i}: ours {g:e}, gguf-py {w:e}");
        }
    }
}

#[test]
fn quantize_matches_reference_byte_for_byte() {
    for (ty, file) in quantize_fixtures() {
        let f = parse(file);
        let mut got = vec![0u8; f.raw.len()];
        crate::quantize_row(ty, &f.values, &mut got).unwrap();
        let bb = ty.block_bytes();
        for (b, (g, w)) in got.chunks(bb).zip(f.raw.chunks(bb)).enumerate() {
            assert_eq!(g, w, "{ty} block {b} differs from the reference");
        }
    }
}

/// Our Q8_0 quantizer is the one ggml's x86 build runs (`id = 127 / amax`, ties to even), so that
/// activations match llama.cpp's; gguf-py follows the portable C reference (`id = 1 / d`, ties
/// away from zero). The scales agree exactly and a value may differ by one step, only where the
/// scaled value lies within rounding noise of a half-integer (on the fixture's row, none does).
#[test]
fn q8_0_differs_from_the_portable_reference_only_in_rounding() {
    let f = parse(fixture!("q8_0.quantize.bin"));
    let mut got = vec![0u8; f.raw.len()];
    crate::quantize_row(GgmlType::Q8_0, &f.values, &mut got).unwrap();
    for ((g, w), x) in got.chunks(34).zip(f.raw.chunks(34)).zip(f.values.chunks(32)) {
        assert_eq!(g[..2], w[..2], "Q8_0 scale");
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for ((&qg, &qw), &v) in g[2..].iter().zip(&w[2..]).zip(x) {
            if qg != qw {
                let scaled = v * 127.0 / amax;
                assert!((qg as i8 as i32 - qw as i8 as i32).abs() == 1, "Q8_0 {qg} vs {qw}");
                assert!((scaled.abs().fract() - 0.5).abs() < 1e-5, "Q8_0 {v} scaled {scaled}");
            }
        }
    }
}

/// Quantize then dequantize: each super-block stays within a per-type RMS error budget, relative
/// to its own RMS. A check that does not lean on the reference bytes (which a broken ggml build
/// could have produced) and covers more data than the fixtures.
#[test]
fn k_quant_round_trips_are_within_rms_budget() {
    use GgmlType::*;
    // Relative RMS error on normal data with 1% outliers (x20): one fewer bit roughly doubles it.
    // Measured maxima over these 16 super-blocks: 0.31, 0.23, 0.12, 0.054, 0.034.
    let budgets = [(Q2_K, 0.40), (Q3_K, 0.30), (Q4_K, 0.15), (Q5_K, 0.075), (Q6_K, 0.045)];
    let mut rng = super::util::Rng::new(21);
    let x = super::util::activations(&mut rng, 256 * 16);
    for (ty, budget) in budgets {
        let mut raw = vec![0u8; ty.row_bytes(x.len()).unwrap()];
        crate::quantize_row(ty, &x, &mut raw).unwrap();
        let mut y = vec![0.0f32; x.len()];
        crate::dequantize_row(ty, &raw, &mut y).unwrap();
        for (xb, yb) in x.chunks(256).zip(y.chunks(256)) {
            let rms = (xb.iter().map(|v| v * v).sum::<f32>() / 256.0).sqrt();
            let err = (xb.iter().zip(yb).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / 256.0).sqrt();
            assert!(err <= budget * rms, "{ty}: RMS error {err} > {budget} * {rms}");
        }
    }
}
