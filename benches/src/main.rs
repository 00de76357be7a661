//! End-to-end throughput of the real test models (pp and tg, as llama-bench reports them),
//! all in one run so that the numbers compare, and generation against its memory-bandwidth
//! bound: each generated token reads every weight once, so tg can be at most the machine's read
//! bandwidth (measured here, with the same threads) over the bytes of weights read per token.
//!
//! Usage: cargo run --release -p rollama-benches -- [-p 512] [-n 128] [-r 3] [-t THREADS] [MODEL.gguf...]
//! With no model given it measures the three reference models in ~/.cache/rollama/models
//! (fetched by scripts/fetch_models.py). Kernel benches: `cargo bench -p rollama-kernels`.
//!
//! `cargo run --release -p rollama-benches -- gpu [--small] [--make-7b PATH] [MODEL.gguf...]`
//! measures the GPU backend instead (see [`gpu`]): copy bandwidth, each matmul kernel's
//! achieved bandwidth against it, a decode step split into GPU time and host overhead, and pp
//! and tg against the bandwidth bound; `--make-7b PATH` first writes a random-weight Llama 2
//! 7B-shaped Q4_K_M model there ([`synth`]; `--layers N` for fewer layers) and measures it,
//! `--make-smollm2 PATH` likewise one shaped and typed as SmolLM2-135M-Instruct.Q4_1.

mod gpu;
mod synth;

use std::path::PathBuf;
use std::sync::Arc;

use std::time::Instant;

use rollama_engine::backend::CpuBackend;
use rollama_engine::bench::{measure, Test};
use rollama_engine::gguf::GgufFile;
use rollama_engine::model;
use rollama_engine::sampler::Rng;

struct Args {
    pp: usize,
    tg: usize,
    reps: usize,
    threads: usize,
    models: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { pp: 512, tg: 128, reps: 3, threads: rollama_kernels::default_threads(), models: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num =
            |flag: &str| it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{flag} needs a number"));
        match arg.as_str() {
            "-p" => a.pp = num("-p")?,
            "-n" => a.tg = num("-n")?,
            "-r" => a.reps = num("-r")?,
            "-t" => a.threads = num("-t")?.max(1),
            _ => a.models.push(PathBuf::from(arg)),
        }
    }
    if a.models.is_empty() {
        let dir = models_dir();
        let names =
            ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"];
        a.models = names.iter().map(|f| dir.join(f)).filter(|p| p.exists()).collect();
    }
    Ok(a)
}

/// Where the reference models are: `ROLLAMA_MODELS_DIR`, else ~/.cache/rollama/models.
fn models_dir() -> PathBuf {
    std::env::var_os("ROLLAMA_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/rollama/models"))
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().is_some_and(|a| a == "gpu" || a == "--gpu") {
        gpu::main(&argv[1..]);
        return;
    }
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let backend = Arc::new(CpuBackend::new(args.threads));
    let pool = rollama_kernels::ThreadPool::new(args.threads);
    let bandwidth = read_bandwidth(&pool);
    println!("read bandwidth, {} threads: {:.2} GB/s", args.threads, bandwidth / 1e9);
    println!("| model | backend | test | t/s | bound t/s | of bound |\n| --- | --- | ---: | ---: | ---: | ---: |");
    let mut rng = Rng::new(7);
    for path in &args.models {
        let model = match model::load(path, Arc::clone(&backend)) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                continue;
            }
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let bound = GgufFile::open(path).map(|f| bandwidth / bytes_per_token(&f) as f64).unwrap_or(f64::NAN);
        for (n, test, label) in [(args.pp, Test::Pp(args.pp), "pp"), (args.tg, Test::Tg(args.tg), "tg")] {
            if n == 0 {
                continue;
            }
            match measure(&*model, test, args.reps, &mut rng) {
                Ok(r) => {
                    let (b, of) = match test {
                        Test::Tg(_) => (format!("{bound:.1}"), format!("{:.0}%", 100.0 * r.mean / bound)),
                        Test::Pp(_) => (String::new(), String::new()),
                    };
                    println!(
                        "| {name} | {} | {label}{n} | {:.2} ± {:.2} | {b} | {of} |",
                        model.backend_name(),
                        r.mean,
                        r.stddev
                    )
                }
                Err(e) => eprintln!("{name} {label}{n}: {e}"),
            }
        }
    }
}

/// Bytes of weights one generated token reads: every tensor but the token embeddings (of
/// which one row is read), unless they double as the output projection.
fn bytes_per_token(f: &GgufFile) -> u64 {
    let tied = f.tensor_info("output.weight").is_none();
    f.tensors.iter().filter(|t| tied || t.name != "token_embd.weight").map(|t| t.size).sum()
}

/// Sustained read bandwidth in bytes/s: `pool`'s threads summing disjoint parts of a buffer
/// far larger than the caches, best of several passes.
fn read_bandwidth(pool: &rollama_kernels::ThreadPool) -> f64 {
    const LEN: usize = 512 << 20;
    let buf: Vec<u64> = (0..LEN / 8).map(|i| i as u64).collect();
    let parts = pool.n_threads() * 8;
    let chunk = buf.len().div_ceil(parts);
    let sums: Vec<std::sync::atomic::AtomicU64> = (0..parts).map(|_| Default::default()).collect();
    let mut best = f64::INFINITY;
    for _ in 0..6 {
        let t = Instant::now();
        pool.run(parts, &|i| {
            let part = &buf[(i * chunk).min(buf.len())..((i + 1) * chunk).min(buf.len())];
            // Eight independent lanes let the compiler vectorize and keep loads in flight.
            let mut acc = [0u64; 8];
            for c in part.chunks_exact(8) {
                for j in 0..8 {
                    acc[j] = acc[j].wrapping_add(c[j]);
                }
            }
            let s = acc.iter().fold(0u64, |a, &b| a.wrapping_add(b));
            sums[i].store(s, std::sync::atomic::Ordering::Relaxed);
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&sums);
    LEN as f64 / best
}
