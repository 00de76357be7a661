//! matmul against a naive f32 reference, its consistency with the per-row kernels, and the
//! errors it returns for malformed shapes.

use super::util::{activations, kernel_types, weights, Rng};
use crate::cpu;
use crate::dispatch::table;
use crate::matmul::matmul_with;
use crate::{GgmlType, KernelError, ThreadPool, WeightView};

#[test]
fn matmul_matches_naive_reference() {
    let mut rng = Rng::new(20);
    let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
    for level in cpu::supported_levels() {
        let t = table(level);
        for ty in kernel_types() {
            let k = t.get(ty).unwrap();
            let cols = if ty.block_len() == 256 { 512 } else { 96 };
            // 37 rows: not a multiple of any chunk size.
            let rows = 37;
            let w = weights(&mut rng, ty, rows * cols);
            let view = WeightView::new(ty, rows, cols, &w).unwrap();
            let mut wf = vec![0.0; rows * cols];
            crate::dequantize_row(ty, &w, &mut wf).unwrap();
            for n in [1, 7, 9] {
                let x = activations(&mut rng, n * cols);
                // What the kernels promise per element: the row kernel on the quantized row.
                let ab = k.act.row_bytes(cols).unwrap();
                let mut per_row = vec![0.0f32; n * rows];
                for tt in 0..n {
                    let mut a = vec![0u64; ab.div_ceil(8)];
                    let a = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut a)[..ab];
                    // SAFETY: the table is for a level this CPU supports.
                    unsafe { (k.quantize)(&x[tt * cols..(tt + 1) * cols], a) };
                    for r in 0..rows {
                        // SAFETY: as above.
                        per_row[tt * rows + r] = unsafe { (k.dot)(view.row(r), a) };
                    }
                }
                for pool in &pools {
                    let mut out = vec![f32::NAN; n * rows];
                    matmul_with(t, pool, view, &x, n, &mut out).unwrap();
                    assert_eq!(out, per_row, "{ty} level {} n = {n} threads = {}", level.name(), pool.n_threads());
                    // And close to the f32 reference.
                    for tt in 0..n {
                        for r in 0..rows {
                            let wr = &wf[r * cols..(r + 1) * cols];
                            let xr = &x[tt * cols..(tt + 1) * cols];
                            let exact: f64 = wr.iter().zip(xr).map(|(a, b)| *a as f64 * *b as f64).sum();
                            let raw = &w[r * view.row_bytes()..(r + 1) * view.row_bytes()];
                            let tol = super::accuracy::budget(ty, k.act, wr, xr, raw);
                            let got = out[tt * rows + r] as f64;
                            assert!((got - exact).abs() <= tol, "{ty}: {got} vs {exact} (tol {tol})");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn matmul_public_entry_point_and_large_n() {
    // n large enough that activation quantization is spread over the pool too.
    let mut rng = Rng::new(21);
    let pool = ThreadPool::new(2);
    let (rows, cols, n) = (50, 256, 33);
    let w = weights(&mut rng, GgmlType::Q4_K, rows * cols);
    let x = activations(&mut rng, n * cols);
    let view = WeightView::new(GgmlType::Q4_K, rows, cols, &w).unwrap();
    let mut out = vec![0.0; n * rows];
    crate::matmul(&pool, view, &x, n, &mut out).unwrap();
    let mut one = vec![0.0; rows];
    for t in [0, 13, 32] {
        crate::matmul(&pool, view, &x[t * cols..(t + 1) * cols], 1, &mut one).unwrap();
        assert_eq!(&out[t * rows..(t + 1) * rows], &one[..], "row {t} of a batch equals the same row alone");
    }
}

#[test]
fn matmul_many_equals_one_matmul_per_matrix() {
    // Matrices of mixed types (so mixed activation formats: Q8_0, Q8_1, Q8_K, F32) and row
    // counts, one input; 1 row (one fused dispatch) and 3 rows (one matmul each).
    let mut rng = Rng::new(22);
    let cols = 512;
    let mats: Vec<(GgmlType, usize)> = vec![
        (GgmlType::Q4_1, 37),
        (GgmlType::Q6_K, 8),
        (GgmlType::Q5_0, 64),
        (GgmlType::Q4_K, 5),
        (GgmlType::F32, 3),
        (GgmlType::Q8_0, 21),
    ];
    let data: Vec<Vec<u8>> = mats.iter().map(|&(ty, rows)| weights(&mut rng, ty, rows * cols)).collect();
    let views: Vec<WeightView> =
        mats.iter().zip(&data).map(|(&(ty, rows), d)| WeightView::new(ty, rows, cols, d).unwrap()).collect();
    for threads in [1, 2, 3] {
        let pool = ThreadPool::new(threads);
        for n in [1, 3] {
            let x = activations(&mut rng, n * cols);
            let mut outs: Vec<Vec<f32>> = views.iter().map(|v| vec![f32::NAN; n * v.rows]).collect();
            let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
            crate::matmul_many(&pool, &views, &x, n, &mut refs).unwrap();
            for (v, got) in views.iter().zip(&outs) {
                let mut want = vec![0.0; n * v.rows];
                crate::matmul(&pool, *v, &x, n, &mut want).unwrap();
                let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{} n = {n} threads = {threads}", v.ty);
            }
        }
    }
    // Shapes are checked as matmul checks them.
    let pool = ThreadPool::new(2);
    let x = activations(&mut rng, cols);
    let mut a = vec![0.0; 37];
    let mut b = vec![0.0; 7];
    assert!(crate::matmul_many(&pool, &views[..2], &x, 1, &mut [&mut a, &mut b]).is_err());
    assert!(crate::matmul_many(&pool, &views[..2], &x[1..], 1, &mut [&mut a[..], &mut b[..]]).is_err());
    assert!(crate::matmul_many(&pool, &views[..2], &x, 1, &mut [&mut a[..]]).is_err());
}

#[test]
fn malformed_inputs_are_errors() {
    let pool = ThreadPool::new(2);
    let w = vec![0u8; 4 * 20]; // 4 rows of 32 Q4_1 weights
    assert!(matches!(WeightView::new(GgmlType::Q4_1, 4, 32, &w[1..]), Err(KernelError::ShapeMismatch { .. })));
    assert!(matches!(WeightView::new(GgmlType::Q4_1, 4, 33, &w), Err(KernelError::BadRowLength { .. })));
    assert!(matches!(WeightView::new(GgmlType::Q4_1, usize::MAX, 32, &w), Err(KernelError::Overflow { .. })));
    let view = WeightView::new(GgmlType::Q4_1, 4, 32, &w).unwrap();
    let x = vec![0.0; 64];
    let mut out = vec![0.0; 8];
    assert!(crate::matmul(&pool, view, &x[..63], 2, &mut out).is_err());
    assert!(crate::matmul(&pool, view, &x, 2, &mut out[..7]).is_err());
    assert!(crate::matmul(&pool, view, &x, usize::MAX, &mut out).is_err());
    crate::matmul(&pool, view, &x, 2, &mut out).unwrap();
    crate::matmul(&pool, view, &[], 0, &mut []).unwrap();
    // A view built by hand with inconsistent fields is caught too.
    let bad = WeightView { ty: GgmlType::Q4_1, rows: 5, cols: 32, data: &w };
    assert!(crate::matmul(&pool, bad, &x[..32], 1, &mut out[..5]).is_err());
    // Types without kernels.
    let iq = vec![0u8; 66];
    let view = WeightView::new(GgmlType::IQ2_XXS, 1, 256, &iq).unwrap();
    let e = crate::matmul(&pool, view, &[0.0; 256], 1, &mut [0.0]).unwrap_err();
    assert_eq!(e, KernelError::Unsupported { ty: GgmlType::IQ2_XXS, op: "matmul" });
    println!("{e}");

    let mut y = vec![0.0; 32];
    assert!(crate::dequantize_row(GgmlType::Q4_1, &w[..19], &mut y).is_err());
    assert!(crate::dequantize_row(GgmlType::Q4_1, &w[..20], &mut y[..31]).is_err());
    assert!(crate::dequantize_row(GgmlType::IQ2_XXS, &iq, &mut [0.0; 256]).is_err());
    assert!(crate::quantize_row(GgmlType::Q8_0, &y, &mut [0u8; 33]).is_err());
    assert!(crate::quantize_row(GgmlType::IQ4_XS, &[0.0; 256], &mut [0u8; 136]).is_err());
    assert_eq!(crate::vec_dot_f32(&[1.0, 2.0, 3.0], &[4.0, 5.0]), 14.0);
}

#[test]
fn unaligned_weight_data_is_fine() {
    // Views at odd byte offsets, as inside a memory-mapped file.
    let mut rng = Rng::new(22);
    let pool = ThreadPool::new(2);
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q6_K] {
        let (rows, cols) = (9, if ty.block_len() == 256 { 256 } else { 64 });
        let w = weights(&mut rng, ty, rows * cols);
        let mut shifted = vec![0u8; w.len() + 1];
        shifted[1..].copy_from_slice(&w);
        let x = activations(&mut rng, cols);
        let (mut a, mut b) = (vec![0.0; rows], vec![0.0; rows]);
        crate::matmul(&pool, WeightView::new(ty, rows, cols, &w).unwrap(), &x, 1, &mut a).unwrap();
        crate::matmul(&pool, WeightView::new(ty, rows, cols, &shifted[1..]).unwrap(), &x, 1, &mut b).unwrap();
        assert_eq!(a, b, "{ty}");
    }
}
