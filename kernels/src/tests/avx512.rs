//! The AVX-512 kernels against the AVX2 ones, bit for bit.
//!
//! The end-to-end tests compare greedy output with llama.cpp token for token at the default
//! level, which is AVX-512 where the CPU has it; llama.cpp's rounding is reproduced by the AVX2
//! kernels, so the AVX-512 ones must give exactly their results, not merely close ones. The
//! shared harness separately checks every level against scalar.

use super::util::{activations, weights, Rng};
use crate::cpu::{self, Level};
use crate::dispatch::table;
use crate::GgmlType;

/// Every type with an AVX-512 kernel.
const TYPES: [GgmlType; 6] =
    [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K];

/// Whether this CPU runs AVX-512; prints a note when it does not.
fn have_avx512() -> bool {
    let ok = cpu::supports(Level::Avx512);
    if !ok {
        println!("skipping: this CPU lacks AVX-512 F/BW/VL/VNNI");
    }
    ok
}

/// Block counts: one block, odd and even counts, more than a few vectors' worth.
fn lengths(ty: GgmlType) -> Vec<usize> {
    [1, 2, 3, 5, 8, 17, 47].iter().map(|&k| k * ty.block_len()).collect()
}

/// `n` activations quantized to `act` with the scalar quantizer, in u64 storage (Q8_K's f32
/// fields want alignment).
fn quantized(rng: &mut Rng, act: GgmlType, n: usize) -> Vec<u64> {
    let x = activations(rng, n);
    let bytes = act.row_bytes(n).unwrap();
    let mut a = vec![0u64; bytes.div_ceil(8)];
    let quantize = table(Level::Scalar).types.iter().flatten().find(|k| k.act == act).unwrap().quantize;
    // SAFETY: scalar kernels run on every CPU.
    unsafe { quantize(&x, &mut bytemuck::cast_slice_mut::<u64, u8>(&mut a)[..bytes]) };
    a
}

#[test]
fn dot_products_match_avx2_bit_for_bit() {
    if !have_avx512() {
        return;
    }
    let (avx2, avx512) = (table(Level::Avx2), table(Level::Avx512));
    let mut rng = Rng::new(512);
    for ty in TYPES {
        let (s, f) = (avx2.get(ty).unwrap(), avx512.get(ty).unwrap());
        assert!(!std::ptr::fn_addr_eq(s.dot, f.dot), "{ty}: no AVX-512 dot installed");
        for n in lengths(ty) {
            for _ in 0..8 {
                let w = weights(&mut rng, ty, n);
                let a = quantized(&mut rng, s.act, n);
                let a = &bytemuck::cast_slice::<u64, u8>(&a)[..s.act.row_bytes(n).unwrap()];
                // SAFETY: both tables are for levels this CPU supports.
                let (want, got) = unsafe { ((s.dot)(&w, a), (f.dot)(&w, a)) };
                assert_eq!(want.to_bits(), got.to_bits(), "{ty} dot, n = {n}: avx2 {want}, avx512 {got}");
            }
        }
    }
}

#[test]
fn dot4_match_avx2_dot_bit_for_bit() {
    if !have_avx512() {
        return;
    }
    let (avx2, avx512) = (table(Level::Avx2), table(Level::Avx512));
    let mut rng = Rng::new(513);
    for ty in TYPES {
        let (s, f) = (avx2.get(ty).unwrap(), avx512.get(ty).unwrap());
        let dot4 = f.dot4.unwrap_or_else(|| panic!("{ty}: no AVX-512 dot4 installed"));
        for n in lengths(ty) {
            for _ in 0..4 {
                let w = weights(&mut rng, ty, n);
                let bytes = s.act.row_bytes(n).unwrap();
                let acts: Vec<Vec<u64>> = (0..4).map(|_| quantized(&mut rng, s.act, n)).collect();
                let a = |t: usize| &bytemuck::cast_slice::<u64, u8>(&acts[t])[..bytes];
                // SAFETY: both tables are for levels this CPU supports.
                let got = unsafe { dot4(&w, [a(0), a(1), a(2), a(3)]) };
                for (t, got) in got.into_iter().enumerate() {
                    // SAFETY: as above.
                    let want = unsafe { (s.dot)(&w, a(t)) };
                    assert_eq!(want.to_bits(), got.to_bits(), "{ty} dot4 row {t}, n = {n}: avx2 {want}, avx512 {got}");
                }
            }
        }
    }
}

/// Weights at the edges of their ranges (every byte 0x00, 0xFF, 0x80), where a saturating or
/// sign-dependent integer step would show, against extreme activations.
#[test]
fn extreme_values_match_avx2() {
    if !have_avx512() {
        return;
    }
    let (avx2, avx512) = (table(Level::Avx2), table(Level::Avx512));
    let mut rng = Rng::new(514);
    for ty in TYPES {
        let (s, f) = (avx2.get(ty).unwrap(), avx512.get(ty).unwrap());
        let n = 3 * ty.block_len();
        for fill in [0x00u8, 0xFF, 0x80, 0x7F] {
            // Every byte `fill`, then the (finite, modest) scales of a random row put back.
            let mut w = vec![fill; ty.row_bytes(n).unwrap()];
            restore_scales(ty, &mut w, &weights(&mut rng, ty, n));
            for x in
                [activations(&mut rng, n), vec![1.0; n], (0..n).map(|i| if i % 2 == 0 { -1.0 } else { 1.0 }).collect()]
            {
                let bytes = s.act.row_bytes(n).unwrap();
                let mut a = vec![0u64; bytes.div_ceil(8)];
                let a = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut a)[..bytes];
                // SAFETY: both tables are for levels this CPU supports.
                let (want, got) = unsafe {
                    (s.quantize)(&x, a);
                    ((s.dot)(&w, a), (f.dot)(&w, a))
                };
                assert_eq!(want.to_bits(), got.to_bits(), "{ty} fill {fill:#x}: avx2 {want}, avx512 {got}");
            }
        }
    }
}

/// Copies the float scale fields of every block of `template` into `w`.
fn restore_scales(ty: GgmlType, w: &mut [u8], template: &[u8]) {
    use crate::quant::*;
    use std::mem::offset_of;
    let fields: &[usize] = match ty {
        GgmlType::Q4_0 => &[offset_of!(BlockQ4_0, d)],
        GgmlType::Q4_1 => &[offset_of!(BlockQ4_1, d), offset_of!(BlockQ4_1, m)],
        GgmlType::Q5_0 => &[offset_of!(BlockQ5_0, d)],
        GgmlType::Q8_0 => &[offset_of!(BlockQ8_0, d)],
        GgmlType::Q4_K => &[offset_of!(BlockQ4K, d), offset_of!(BlockQ4K, dmin)],
        GgmlType::Q6_K => &[offset_of!(BlockQ6K, d)],
        _ => &[],
    };
    let bb = ty.block_bytes();
    for (wb, tb) in w.chunks_exact_mut(bb).zip(template.chunks_exact(bb)) {
        for &off in fields {
            wb[off..off + 2].copy_from_slice(&tb[off..off + 2]);
        }
    }
}

/// Not a test: ns per block (32 or 256 weights) of each dot kernel at AVX2 and AVX-512 (best of many runs, one
/// thread, data in cache). `cargo test --release -p rollama-kernels avx512_timing -- --ignored --nocapture`
#[test]
#[ignore]
fn avx512_timing() {
    if !have_avx512() {
        return;
    }
    let mut rng = Rng::new(7);
    for ty in TYPES {
        let n = 1536;
        let rows = 256;
        let k = table(Level::Avx2).get(ty).unwrap();
        let w: Vec<Vec<u8>> = (0..rows).map(|_| weights(&mut rng, ty, n)).collect();
        let bytes = k.act.row_bytes(n).unwrap();
        let acts: Vec<Vec<u64>> = (0..4).map(|_| quantized(&mut rng, k.act, n)).collect();
        let a = |t: usize| &bytemuck::cast_slice::<u64, u8>(&acts[t])[..bytes];
        let mut line = format!("{:>5}", ty.name());
        for level in [Level::Avx2, Level::Avx512] {
            let k = table(level).get(ty).unwrap();
            let time = |f: &dyn Fn() -> f32| {
                let mut best = f64::MAX;
                for _ in 0..200 {
                    let t = std::time::Instant::now();
                    std::hint::black_box(f());
                    best = best.min(t.elapsed().as_secs_f64());
                }
                best * 1e9 / (rows * n / ty.block_len()) as f64
            };
            // SAFETY: both tables are for levels this CPU supports.
            let one = time(&|| w.iter().map(|w| unsafe { (k.dot)(w, a(0)) }).sum());
            let four = k.dot4.map(|d4| {
                time(&|| w.iter().map(|w| unsafe { d4(w, [a(0), a(1), a(2), a(3)]) }.iter().sum::<f32>()).sum()) / 4.0
            });
            line += &format!(
                " | {}: dot {one:6.2} ns/block, dot4 {:6.2} ns/block/row",
                level.name(),
                four.unwrap_or(f64::NAN)
            );
        }
        println!("{line}");
    }
}
