//! `rollama bench MODEL`: prompt processing (pp) and generation (tg) speed, as llama-bench
//! measures them: pp feeds `-p` tokens in one batch, tg feeds `-n` tokens one at a time;
//! each test runs `-r` times after one warm-up, and reports the mean and deviation.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use rollama_engine::model::{Logits, Model};
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
    if a.prompt > 0 {
        let (mean, sd) = measure(a.reps, || pp(&*model, a.prompt, &mut rng))?;
        println!("| {name} | {} | {threads} | pp{} | {mean:.2} ± {sd:.2} |", model.backend_name(), a.prompt);
    }
    if a.gen > 0 {
        let (mean, sd) = measure(a.reps, || tg(&*model, a.gen, &mut rng))?;
        println!("| {name} | {} | {threads} | tg{} | {mean:.2} ± {sd:.2} |", model.backend_name(), a.gen);
    }
    Ok(())
}

/// Runs `test` once to warm up, then `reps` times; mean and standard deviation of tokens/s.
fn measure(reps: usize, mut test: impl FnMut() -> Result<f64, CliError>) -> Result<(f64, f64), CliError> {
    test()?;
    let rates: Vec<f64> = (0..reps.max(1)).map(|_| test()).collect::<Result<_, _>>()?;
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (rates.len().max(2) - 1) as f64;
    Ok((mean, var.sqrt()))
}

fn random_tokens(model: &dyn Model, n: usize, rng: &mut Rng) -> Vec<u32> {
    let n_vocab = model.hparams().n_vocab as u64;
    (0..n).map(|_| (rng.next_u64() % n_vocab) as u32).collect()
}

fn pp(model: &dyn Model, n: usize, rng: &mut Rng) -> Result<f64, CliError> {
    let tokens = random_tokens(model, n, rng);
    let mut session = model.new_session(n);
    let t = Instant::now();
    model.forward(&mut session, &tokens, Logits::Last)?;
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

fn tg(model: &dyn Model, n: usize, rng: &mut Rng) -> Result<f64, CliError> {
    let tokens = random_tokens(model, n, rng);
    let mut session = model.new_session(n);
    let t = Instant::now();
    for &tok in &tokens {
        model.forward(&mut session, &[tok], Logits::Last)?;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}
