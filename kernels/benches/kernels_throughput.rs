//! Matmul throughput per weight type at every CPU level this machine supports, and the thread
//! pool's dispatch cost. Uses only the public API: the level is chosen by re-running this binary
//! with `ROLLAMA_CPU` set, exactly as a user would cap it.
//!
//! `cargo bench -p rollama-kernels` (add `-- quick` for fewer repetitions).

use std::time::Instant;

use rollama_kernels::{cpu, matmul, GgmlType, ThreadPool, WeightView};

/// Deterministic filler: random bytes with sane f16 scales are unnecessary for timing, but NaNs
/// can slow some float paths, so every byte is kept small.
fn weight_bytes(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let n = ty.row_bytes(cols).unwrap() * rows;
    let mut s = 0x1234_5678u32;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as u8) & 0x3B // clears bits that would make f16/f32 fields huge or NaN
        })
        .collect()
}

fn time<F: FnMut()>(mut f: F, min_secs: f64) -> f64 {
    f();
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        let dt = t.elapsed().as_secs_f64();
        if dt >= min_secs {
            return dt / iters as f64;
        }
        iters *= 2;
    }
}

fn run_level(quick: bool) {
    let secs = if quick { 0.05 } else { 0.3 };
    let level = cpu::level().name();
    // (type, rows, cols): SmolLM2-135M-like shapes; k-quants need cols % 256 == 0.
    let cases = [
        (GgmlType::Q4_1, 1536, 576),
        (GgmlType::Q4_0, 1536, 576),
        (GgmlType::Q5_0, 1536, 576),
        (GgmlType::Q8_0, 1536, 576),
        (GgmlType::Q4_K, 576, 1536),
        (GgmlType::Q6_K, 576, 1536),
        (GgmlType::F16, 1536, 576),
        (GgmlType::F32, 1536, 576),
    ];
    for threads in [1, 2] {
        let pool = ThreadPool::new(threads);
        for (ty, rows, cols) in cases {
            let w = weight_bytes(ty, rows, cols);
            let view = WeightView::new(ty, rows, cols, &w).unwrap();
            let x: Vec<f32> = (0..cols * 64).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
            let mut out = vec![0.0; rows * 64];
            let t1 = time(|| matmul(&pool, view, &x[..cols], 1, &mut out[..rows]).unwrap(), secs);
            let t64 = time(|| matmul(&pool, view, &x, 64, &mut out).unwrap(), secs);
            println!(
                "{level:>6} {threads}T {:>5} {rows}x{cols}: matvec {:7.1} us {:6.2} GB/s | n=64 {:7.2} GFLOP/s",
                ty.name(),
                t1 * 1e6,
                w.len() as f64 / t1 / 1e9,
                2.0 * (rows * cols * 64) as f64 / t64 / 1e9,
            );
        }
    }
    let pool = ThreadPool::new(2);
    let t = time(|| pool.run(8, &|_| {}), secs);
    println!("{level:>6} pool dispatch (2 threads, 8 empty tasks): {:.2} us", t * 1e6);
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    if std::env::var("ROLLAMA_BENCH_CHILD").is_ok() {
        run_level(quick);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for level in cpu::supported_levels() {
        let mut cmd = std::process::Command::new(&exe);
        if quick {
            cmd.arg("quick");
        }
        let status = cmd.env("ROLLAMA_CPU", level.name()).env("ROLLAMA_BENCH_CHILD", "1").status().unwrap();
        assert!(status.success());
    }
}
