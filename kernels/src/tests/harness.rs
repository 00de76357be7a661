//! Every fast path against its scalar twin, at every level this CPU supports.
//!
//! Quantizers must agree bit for bit (they round the same floats the same way); dot products must
//! agree to float-summation-order noise. Levels the CPU lacks are skipped with a note, not failed.

use super::util::{activations, kernel_types, lengths, weights, Rng};
use crate::cpu::{self, Level};
use crate::dispatch::table;
use crate::GgmlType;

/// The levels to compare against scalar; prints what is skipped.
fn fast_levels() -> Vec<Level> {
    let levels: Vec<Level> = cpu::supported_levels().into_iter().filter(|&l| l > Level::Scalar).collect();
    for &l in Level::ladder().iter().skip(1) {
        if !levels.contains(&l) {
            println!("skipping level {}: this CPU lacks it", l.name());
        }
    }
    levels
}

#[test]
fn quantizers_match_scalar_bit_for_bit() {
    let scalar = table(Level::Scalar);
    let mut rng = Rng::new(1);
    for level in fast_levels() {
        let fast = table(level);
        for act in [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K, GgmlType::F16, GgmlType::F32] {
            // Any weight type paired with `act` carries its quantizer.
            let Some(ty) = kernel_types().into_iter().find(|&t| scalar.get(t).unwrap().act == act) else {
                continue;
            };
            let (s, f) = (scalar.get(ty).unwrap(), fast.get(ty).unwrap());
            for n in lengths(ty) {
                let mut x = activations(&mut rng, n);
                if n >= 64 {
                    // An all-zero block and a block whose extreme appears with both signs.
                    let b = act.block_len().min(n / 2).max(1);
                    x[..b].fill(0.0);
                    x[b] = 3.0;
                    x[b + 1] = -3.0;
                }
                let bytes = act.row_bytes(n).unwrap();
                // u64 storage keeps Q8_K's f32 fields aligned.
                let mut a = vec![0u64; bytes.div_ceil(8)];
                let mut b = vec![0u64; bytes.div_ceil(8)];
                let (a, b) = (
                    &mut bytemuck::cast_slice_mut::<u64, u8>(&mut a)[..bytes],
                    &mut bytemuck::cast_slice_mut::<u64, u8>(&mut b)[..bytes],
                );
                // SAFETY: both tables are for levels this CPU supports.
                unsafe {
                    (s.quantize)(&x, a);
                    (f.quantize)(&x, b);
                }
                assert_eq!(a, b, "{} quantizer, level {}, n = {n}", act.name(), level.name());
            }
        }
    }
}

#[test]
fn dot_products_match_scalar() {
    let scalar = table(Level::Scalar);
    let mut rng = Rng::new(2);
    for level in fast_levels() {
        let fast = table(level);
        for ty in kernel_types() {
            let (s, f) = (scalar.get(ty).unwrap(), fast.get(ty).unwrap());
            assert_eq!(s.act, f.act);
            for n in lengths(ty) {
                for _ in 0..4 {
                    let w = weights(&mut rng, ty, n);
                    let x = activations(&mut rng, n);
                    let mut a = vec![0u64; s.act.row_bytes(n).unwrap().div_ceil(8)];
                    let a = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut a)[..s.act.row_bytes(n).unwrap()];
                    // SAFETY: both tables are for levels this CPU supports.
                    let (want, got) = unsafe {
                        (s.quantize)(&x, a);
                        ((s.dot)(&w, a), (f.dot)(&w, a))
                    };
                    // Only the f32 summation order differs, so the error scales with the sum of
                    // the magnitudes of the terms, which dequantizing lets us bound.
                    let mut wf = vec![0.0; n];
                    crate::dequantize_row(ty, &w, &mut wf).unwrap();
                    let mag: f64 = wf.iter().zip(&x).map(|(w, x)| (w * x).abs() as f64).sum();
                    let tol = 1e-5 * mag + 1e-6;
                    assert!(
                        ((want - got) as f64).abs() <= tol,
                        "{ty} dot, level {}, n = {n}: scalar {want}, fast {got}, tol {tol}",
                        level.name()
                    );
                }
            }
        }
    }
}

#[test]
fn float_helpers_match_scalar() {
    let scalar = table(Level::Scalar);
    let mut rng = Rng::new(3);
    for level in fast_levels() {
        let fast = table(level);
        for n in [0, 1, 5, 8, 9, 31, 32, 33, 63, 100, 1000, 1031] {
            let a = activations(&mut rng, n);
            let b = activations(&mut rng, n);
            // SAFETY: both tables are for levels this CPU supports.
            let (want, got) = unsafe { ((scalar.dot_f32)(&a, &b), (fast.dot_f32)(&a, &b)) };
            let mag: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            assert!((want - got).abs() <= 1e-5 * mag + 1e-6, "dot_f32 n = {n}: {want} vs {got}");

            let (mut y1, mut y2) = (b.clone(), b.clone());
            // SAFETY: as above.
            unsafe {
                (scalar.axpy)(0.75, &a, &mut y1);
                (fast.axpy)(0.75, &a, &mut y2);
            }
            for (p, q) in y1.iter().zip(&y2) {
                assert!((p - q).abs() <= 1e-6 * (1.0 + p.abs()), "axpy n = {n}: {p} vs {q}");
            }
        }
    }
}

/// `ROLLAMA_CPU` caps the level: a child test process run with `ROLLAMA_CPU=scalar` must see
/// `Level::Scalar` and still compute correct matmuls.
#[test]
fn env_cap_is_honoured() {
    if std::env::var("ROLLAMA_KERNELS_CHILD").is_ok() {
        assert_eq!(cpu::level(), Level::Scalar);
        let pool = crate::ThreadPool::new(2);
        let mut rng = Rng::new(4);
        let w = weights(&mut rng, GgmlType::Q4_1, 64 * 96);
        let x = activations(&mut rng, 96);
        let view = crate::WeightView::new(GgmlType::Q4_1, 64, 96, &w).unwrap();
        let mut out = vec![0.0; 64];
        crate::matmul(&pool, view, &x, 1, &mut out).unwrap();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args(["--exact", "tests::harness::env_cap_is_honoured", "--test-threads=1"])
        .env("ROLLAMA_CPU", "scalar")
        .env("ROLLAMA_KERNELS_CHILD", "1")
        .status()
        .unwrap();
    assert!(status.success(), "child run with ROLLAMA_CPU=scalar failed");
}
