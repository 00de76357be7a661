//! `rollama bench MODEL`: prompt processing (pp) and generation (tg) speed, as llama-bench
//! measures them (see `rollama_engine::bench`).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use rollama_engine::backend::{CpuBackend, GpuBackend};
use rollama_engine::bench::{measure, Test};
use rollama_engine::gguf::GgufFile;
use rollama_engine::model::{self, LoadOptions, Model, ModelError};
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
    /// Run on the GPU, a software Vulkan device (lavapipe) included; fails without one.
    /// By default the backend is the server's choice: a real GPU if there is one
    /// (ROLLAMA_GPU=0 turns it off, =1 allows a software one), else the CPU.
    #[arg(long, conflicts_with = "cpu")]
    gpu: bool,
    /// Run on the CPU even where there is a GPU.
    #[arg(long)]
    cpu: bool,
    /// Layers on the GPU, the rest on the CPU, as Ollama's num_gpu counts them (llama-bench's
    /// -ngl): the last N layers, and past the layer count the output too. Default: all.
    #[arg(long = "num-gpu", short = 'g', conflicts_with = "cpu")]
    num_gpu: Option<usize>,
}

/// The model on the backend the flags ask for, and that backend's name.
fn load(a: &BenchArgs, threads: usize) -> Result<Box<dyn Model>, CliError> {
    let gpu = if a.cpu {
        None
    } else if a.gpu {
        Some(GpuBackend::new().map_err(|e| CliError::Usage(format!("--gpu: {e}")))?)
    } else {
        GpuBackend::auto().map_err(|e| eprintln!("bench: on the CPU: {e}")).ok()
    };
    let cpu = Arc::new(CpuBackend::new(threads));
    Ok(match gpu {
        Some(g) => {
            let file = Arc::new(GgufFile::open(&a.model).map_err(ModelError::from)?);
            model::load_offloaded(file, &cpu, &Arc::new(g), a.num_gpu, &LoadOptions::default())?.0
        }
        None => model::load(&a.model, cpu)?,
    })
}

pub fn run(a: BenchArgs) -> Result<(), CliError> {
    let threads = if a.threads == 0 { rollama_kernels::default_threads() } else { a.threads };
    let model = load(&a, threads)?;
    eprintln!("bench: backend {}", model.backend_name());
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
