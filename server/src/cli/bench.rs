//! `rollama bench MODEL`: prompt processing (pp) and generation (tg) speed, as llama-bench
//! measures them (see `rollama_engine::bench`).

use std::path::PathBuf;

use clap::Args;
use rollama_engine::bench::{measure, Test};
use rollama_engine::sampler::Rng;

use super::CliError;

#[derive(Args)]
pub struct BenchArgs {
    /// Path to a GGUF model file.
    model: PathBuf,
    /// Prompt tokens for the pp test (0 skips it).
    #[arg(short = 'p', long, default_value_t = 512)]
    prompt: usize,
    /// Generated tokens for the tg test (0 skips it).
    #[arg(short = 'n', long, default_value_t = 128)]
    gen: usize,
    /// Repetitions of each test.
    #[arg(short = 'r', long, default_value_t = 3)]
    reps: usize,
    /// Worker threads (0: one per physical core).
    #[arg(short = 't', long, default_value_t = 0)]
    threads: usize,
}

pub fn run(a: BenchArgs) -> Result<(), CliError> {
    let threads = if a.threads == 0 { rollama_kernels::default_threads() } else { a.threads };
    let model = super::load_model(&a.model, threads)?;
    let name = a.model.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    println!("| model | backend | threads | test | t/s |");
    println!("| --- | --- | ---: | ---: | ---: |");
    let mut rng = Rng::new(1234);
    for (n, test, label) in [(a.prompt, Test::Pp(a.prompt), "pp"), (a.gen, Test::Tg(a.gen), "tg")] {
        if n == 0 {
            continue;
        }
        let r = measure(&*model, test, a.reps, &mut rng)?;
        println!("| {name} | {} | {threads} | {label}{n} | {:.2} ± {:.2} |", model.backend_name(), r.mean, r.stddev);
    }
    Ok(())
}
