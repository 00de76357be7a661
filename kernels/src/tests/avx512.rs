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

/// Four weight rows against one activation row (decoding) equal the AVX2 `dot` of each row, for
/// random rows and for rows of extreme bytes.
#[test]
fn rows4_match_avx2_dot_bit_for_bit() {
    if !have_avx512() {
        return;
    }
    let (avx2, avx512) = (table(Level::Avx2), table(Level::Avx512));
    let mut rng = Rng::new(515);
    for ty in GEMM_TYPES {
        let (s, f) = (avx2.get(ty).unwrap(), avx512.get(ty).unwrap());
        let rows4 = f.rows4.unwrap_or_else(|| panic!("{ty}: no AVX-512 rows4 installed"));
        for n in lengths(ty) {
            for round in 0..6 {
                let mut w: Vec<Vec<u8>> = (0..4).map(|_| weights(&mut rng, ty, n)).collect();
                if round >= 2 {
                    // One row of extreme bytes with the random row's scales put back.
                    let fill = [0x00u8, 0xFF, 0x80, 0x7F][round - 2];
                    let template = w[round % 4].clone();
                    w[round % 4].fill(fill);
                    restore_scales(ty, &mut w[round % 4], &template);
                }
                let a = quantized(&mut rng, s.act, n);
                let a = &bytemuck::cast_slice::<u64, u8>(&a)[..s.act.row_bytes(n).unwrap()];
                // SAFETY: both tables are for levels this CPU supports.
                let got = unsafe { rows4([&w[0], &w[1], &w[2], &w[3]], a) };
                for (r, got) in got.into_iter().enumerate() {
                    // SAFETY: as above.
                    let want = unsafe { (s.dot)(&w[r], a) };
                    assert_eq!(want.to_bits(), got.to_bits(), "{ty} rows4 row {r}, n = {n}: avx2 {want}, avx512 {got}");
                }
            }
        }
    }
}

/// Every type with an AVX-512 tiled product.
const GEMM_TYPES: [GgmlType; 4] = [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0];

/// The tiled product of `rows` weight rows (one buffer) with four activation rows, as `[r][t]`.
fn run_gemm(gemm: crate::dispatch::GemmFn, w: &[u8], rows: usize, a: [&[u8]; 4]) -> Vec<[f32; 4]> {
    let mut out = vec![[f32::NAN; 4]; rows];
    let mut seen = vec![[false; 4]; rows];
    let acts: Vec<u8> = a.concat();
    // SAFETY: only called with tables for levels this CPU supports.
    unsafe {
        gemm(w, rows, &acts, 4, &mut |t, r0, v| {
            for (r, v) in (r0..).zip(v) {
                assert!(!seen[r][t], "row {r} t {t} written twice");
                seen[r][t] = true;
                out[r][t] = *v;
            }
        })
    };
    assert!(seen.iter().flatten().all(|&s| s), "an output was not written");
    out
}

#[test]
fn gemm_matches_avx2_dot_bit_for_bit() {
    if !have_avx512() {
        return;
    }
    let (avx2, avx512) = (table(Level::Avx2), table(Level::Avx512));
    let mut rng = Rng::new(515);
    for ty in GEMM_TYPES {
        let (s, f) = (avx2.get(ty).unwrap(), avx512.get(ty).unwrap());
        let gemm = f.gemm.unwrap_or_else(|| panic!("{ty}: no AVX-512 gemm installed"));
        // Row counts around the panel height of sixteen, so every partial panel runs.
        for rows in [1, 2, 3, 5, 13, 15, 16, 17, 31, 33] {
            for n in lengths(ty) {
                let w = weights(&mut rng, ty, rows * n);
                let (wb, ab) = (ty.row_bytes(n).unwrap(), s.act.row_bytes(n).unwrap());
                let acts: Vec<Vec<u64>> = (0..4).map(|_| quantized(&mut rng, s.act, n)).collect();
                let a = |t: usize| &bytemuck::cast_slice::<u64, u8>(&acts[t])[..ab];
                let got = run_gemm(gemm, &w, rows, [a(0), a(1), a(2), a(3)]);
                for (r, got) in got.iter().enumerate() {
                    for (t, got) in got.iter().enumerate() {
                        // SAFETY: the table is for a level this CPU supports.
                        let want = unsafe { (s.dot)(&w[r * wb..(r + 1) * wb], a(t)) };
                        assert_eq!(
                            want.to_bits(),
                            got.to_bits(),
                            "{ty} gemm rows {rows} r {r} t {t}, n = {n}: avx2 {want}, gemm {got}"
                        );
                    }
                }
            }
        }
    }
}

/// Many activation groups and more weight rows than one interleaved row block holds (the gemm
/// interleaves 256 KiB of weights at a time): every output still equals the row kernel's.
#[test]
fn gemm_over_row_blocks_and_activation_groups_matches_avx2_dot() {
    if !have_avx512() {
        return;
    }
    let (avx2, avx512) = (table(Level::Avx2), table(Level::Avx512));
    let mut rng = Rng::new(517);
    for ty in GEMM_TYPES {
        let (s, gemm) = (avx2.get(ty).unwrap(), avx512.get(ty).unwrap().gemm.unwrap());
        // 128 blocks a row: three panels of 16 rows fill a row block, so 130 rows take three,
        // the last with a partial panel.
        let (rows, cols, n) = (130, 128 * 32, 14);
        let (wb, ab) = (ty.row_bytes(cols).unwrap(), s.act.row_bytes(cols).unwrap());
        let w = weights(&mut rng, ty, rows * cols);
        let acts: Vec<u8> = (0..n)
            .flat_map(|_| bytemuck::cast_slice::<u64, u8>(&quantized(&mut rng, s.act, cols))[..ab].to_vec())
            .collect();
        let mut out = vec![f32::NAN; n * rows];
        let mut seen = vec![0u8; n * rows];
        // SAFETY: the table is for a level this CPU supports.
        unsafe {
            gemm(&w, rows, &acts, n, &mut |t, r0, v| {
                for (r, v) in (r0..).zip(v) {
                    out[t * rows + r] = *v;
                    seen[t * rows + r] += 1;
                }
            })
        };
        for t in 0..n {
            for r in 0..rows {
                let i = t * rows + r;
                // The last n % 4 activation rows are the caller's to compute.
                assert_eq!(seen[i], u8::from(t < n - n % 4), "{ty} t {t} r {r} written {} times", seen[i]);
                if t < n - n % 4 {
                    // SAFETY: as above.
                    let want = unsafe { (s.dot)(&w[r * wb..(r + 1) * wb], &acts[t * ab..(t + 1) * ab]) };
                    assert_eq!(want.to_bits(), out[i].to_bits(), "{ty} gemm r {r} t {t}: avx2 {want}, gemm {}", out[i]);
                }
            }
        }
    }
}

/// The tiled product on weights and activations at the edges of their ranges.
#[test]
fn gemm_extreme_values_match_avx2() {
    if !have_avx512() {
        return;
    }
    let (avx2, avx512) = (table(Level::Avx2), table(Level::Avx512));
    let mut rng = Rng::new(516);
    for ty in GEMM_TYPES {
        let (s, gemm) = (avx2.get(ty).unwrap(), avx512.get(ty).unwrap().gemm.unwrap());
        let (n, rows) = (3 * ty.block_len(), 5);
        let (wb, ab) = (ty.row_bytes(n).unwrap(), s.act.row_bytes(n).unwrap());
        let mut w = Vec::new();
        for fill in [0x00u8, 0xFF, 0x80, 0x7F, 0x55] {
            let mut row = vec![fill; wb];
            restore_scales(ty, &mut row, &weights(&mut rng, ty, n));
            w.extend_from_slice(&row);
        }
        let xs: [Vec<f32>; 4] = [
            activations(&mut rng, n),
            vec![1.0; n],
            (0..n).map(|i| if i % 2 == 0 { -1.0 } else { 1.0 }).collect(),
            vec![-1.0; n],
        ];
        let acts: Vec<Vec<u64>> = xs
            .iter()
            .map(|x| {
                let mut a = vec![0u64; ab.div_ceil(8)];
                // SAFETY: the table is for a level this CPU supports.
                unsafe { (s.quantize)(x, &mut bytemuck::cast_slice_mut::<u64, u8>(&mut a)[..ab]) };
                a
            })
            .collect();
        let a = |t: usize| &bytemuck::cast_slice::<u64, u8>(&acts[t])[..ab];
        let got = run_gemm(gemm, &w, rows, [a(0), a(1), a(2), a(3)]);
        for (r, got) in got.iter().enumerate() {
            for (t, got) in got.iter().enumerate() {
                // SAFETY: as above.
                let want = unsafe { (s.dot)(&w[r * wb..(r + 1) * wb], a(t)) };
                assert_eq!(want.to_bits(), got.to_bits(), "{ty} gemm extreme r {r} t {t}: avx2 {want}, gemm {got}");
            }
        }
    }
}

/// Q4_K in llama.cpp's repacked gemm order: the AVX-512 kernel against the AVX2 one.
#[test]
fn q4_k_gemm_order_matches_avx2_bit_for_bit() {
    use crate::quant::{BlockQ4K, BlockQ8K};
    use crate::x86_64::{avx2_k, gemm512};
    if !have_avx512() {
        return;
    }
    let mut rng = Rng::new(517);
    for n in lengths(GgmlType::Q4_K) {
        for round in 0..6 {
            let mut w = weights(&mut rng, GgmlType::Q4_K, n);
            if round == 5 {
                // Every nibble 15 and every 6-bit scale and min 63, against extreme activations.
                let fill = weights(&mut rng, GgmlType::Q4_K, n);
                w.fill(0xFF);
                restore_scales(GgmlType::Q4_K, &mut w, &fill);
            }
            let acts: Vec<Vec<u64>> = (0..4).map(|_| quantized(&mut rng, GgmlType::Q8_K, n)).collect();
            let bytes = GgmlType::Q8_K.row_bytes(n).unwrap();
            let a =
                |t: usize| bytemuck::cast_slice::<u8, BlockQ8K>(&bytemuck::cast_slice::<u64, u8>(&acts[t])[..bytes]);
            let x: &[BlockQ4K] = bytemuck::cast_slice(&w);
            // SAFETY: this CPU has AVX-512 (checked above), which includes AVX2.
            let (want, got) = unsafe {
                (
                    avx2_k::vec_dot_q4_k_x4_gemm(x, [a(0), a(1), a(2), a(3)]),
                    gemm512::vec_dot_q4_k_x4_gemm(x, [a(0), a(1), a(2), a(3)]),
                )
            };
            for t in 0..4 {
                assert_eq!(
                    want[t].to_bits(),
                    got[t].to_bits(),
                    "Q4_K gemm order row {t}, n = {n}: avx2 {}, avx512 {}",
                    want[t],
                    got[t]
                );
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

/// Not a test: ns per block (32 or 256 weights) and output of each dot kernel at AVX2 and
/// AVX-512 (dot4 and gemm: per block per activation row; best of many runs, one thread, data in
/// cache). `cargo test --release -p rollama-kernels avx512_timing -- --ignored --nocapture`
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
            let all: Vec<u8> = w.concat();
            let gemm = k.gemm.map(|g| {
                time(&|| {
                    let mut s = 0.0f32;
                    // SAFETY: the table is for a level this CPU supports.
                    let acts = [a(0), a(1), a(2), a(3)].concat();
                    unsafe { g(&all, rows, &acts, 4, &mut |_, _, v| s += v.iter().sum::<f32>()) };
                    s
                }) / 4.0
            });
            if ty == GgmlType::Q4_K {
                let x4 = |f: unsafe fn(&[crate::quant::BlockQ4K], [&[crate::quant::BlockQ8K]; 4]) -> [f32; 4]| {
                    let a = |t: usize| bytemuck::cast_slice::<u8, crate::quant::BlockQ8K>(a(t));
                    time(&|| {
                        w.iter()
                            // SAFETY: only timed where this CPU has AVX-512.
                            .map(|w| {
                                unsafe { f(bytemuck::cast_slice(w), [a(0), a(1), a(2), a(3)]) }.iter().sum::<f32>()
                            })
                            .sum()
                    }) / 4.0
                };
                let f = match level {
                    Level::Avx2 => crate::x86_64::avx2_k::vec_dot_q4_k_x4_gemm,
                    _ => crate::x86_64::gemm512::vec_dot_q4_k_x4_gemm,
                };
                line += &format!(" | {}: x4_gemm {:5.2}", level.name(), x4(f));
            }
            line += &format!(
                " | {}: dot {one:5.2}, dot4 {:5.2}, gemm {:5.2}",
                level.name(),
                four.unwrap_or(f64::NAN),
                gemm.unwrap_or(f64::NAN)
            );
        }
        println!("{line} (ns/block/output)");
    }
}

/// Not a test: a prompt-sized matmul (one thread) with and without the tiled kernels, and the
/// bare kernels on pre-quantized rows, in ns per block per output, best of several runs.
/// `cargo test --release -p rollama-kernels gemm_matmul_timing -- --ignored --nocapture`
#[test]
#[ignore]
fn gemm_matmul_timing() {
    use crate::dispatch::Table;
    use crate::matmul::matmul_with;
    use crate::{ThreadPool, WeightView};
    if !have_avx512() {
        return;
    }
    let pool = ThreadPool::new(1);
    let mut rng = Rng::new(8);
    let with = table(Level::Avx512);
    let mut without = Table { types: with.types, dot_f32: with.dot_f32, axpy: with.axpy };
    for k in without.types.iter_mut().flatten() {
        k.gemm = None;
    }
    for ty in GEMM_TYPES {
        for (rows, cols, n) in [(896, 896, 32), (896, 4864, 32), (4864, 896, 32), (896, 896, 128)] {
            let w = weights(&mut rng, ty, rows * cols);
            let view = WeightView::new(ty, rows, cols, &w).unwrap();
            let x = activations(&mut rng, n * cols);
            let mut out = vec![0.0f32; n * rows];
            let mut line = format!("{:>5} {rows}x{cols} n {n}:", ty.name());
            for (name, t) in [("dot4", &without), ("gemm", with)] {
                let mut best = f64::MAX;
                for _ in 0..30 {
                    let s = std::time::Instant::now();
                    matmul_with(t, &pool, view, &x, n, &mut out).unwrap();
                    best = best.min(s.elapsed().as_secs_f64());
                }
                line += &format!(" {name} {:5.2}", best * 1e9 / (rows * n * cols / 32) as f64);
            }
            let k = with.get(ty).unwrap();
            let ab = k.act.row_bytes(cols).unwrap();
            let mut q = vec![0u8; ab * n];
            for (xr, qr) in x.chunks_exact(cols).zip(q.chunks_exact_mut(ab)) {
                // SAFETY: the table is for a level this CPU supports.
                unsafe { (k.quantize)(xr, qr) };
            }
            let a = |t: usize| &q[t * ab..(t + 1) * ab];
            for (name, g) in [("raw dot4", None), ("raw gemm", k.gemm)] {
                let mut best = f64::MAX;
                for _ in 0..30 {
                    let s = std::time::Instant::now();
                    let mut sum = 0.0f32;
                    match g {
                        // SAFETY: as above.
                        Some(g) => unsafe { g(&w, rows, &q, n, &mut |_, _, v| sum += v[0]) },
                        None => {
                            for t in (0..n).step_by(4) {
                                for r in 0..rows {
                                    // SAFETY: as above.
                                    sum += unsafe {
                                        k.dot4.unwrap()(view.row(r), [a(t), a(t + 1), a(t + 2), a(t + 3)])[0]
                                    };
                                }
                            }
                        }
                    }
                    std::hint::black_box(sum);
                    best = best.min(s.elapsed().as_secs_f64());
                }
                line += &format!(" {name} {:5.2}", best * 1e9 / (rows * n * cols / 32) as f64);
            }
            println!("{line} ns/block/output (dot4, gemm: through matmul, quantization included)");
        }
    }
}
