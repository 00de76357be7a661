//! End-to-end throughput of the real test models (pp and tg, as llama-bench reports them),
//! all in one run so that the numbers compare.
//!
//! Usage: cargo run --release -p rollama-benches -- [-p 512] [-n 128] [-r 3] [-t THREADS] [MODEL.gguf...]
//! With no model given it measures the three reference models in ~/.cache/rollama/models
//! (fetched by scripts/fetch_models.py). Kernel benches: `cargo bench -p rollama-kernels`.

use std::path::PathBuf;
use std::sync::Arc;

use rollama_engine::backend::CpuBackend;
use rollama_engine::bench::{measure, Test};
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
        let dir = std::env::var_os("ROLLAMA_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/rollama/models"));
        let names =
            ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"];
        a.models = names.iter().map(|f| dir.join(f)).filter(|p| p.exists()).collect();
    }
    Ok(a)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let backend = Arc::new(CpuBackend::new(args.threads));
    println!("| model | backend | test | t/s |\n| --- | --- | ---: | ---: |");
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
        for (n, test, label) in [(args.pp, Test::Pp(args.pp), "pp"), (args.tg, Test::Tg(args.tg), "tg")] {
            if n == 0 {
                continue;
            }
            match measure(&*model, test, args.reps, &mut rng) {
                Ok(r) => {
                    println!("| {name} | {} | {label}{n} | {:.2} ± {:.2} |", model.backend_name(), r.mean, r.stddev)
                }
                Err(e) => eprintln!("{name} {label}{n}: {e}"),
            }
        }
    }
}
