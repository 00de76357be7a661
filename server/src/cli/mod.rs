//! The command line: argument definitions and one module per subcommand.

mod bench;
mod client;
mod create;
mod manage;
mod options;
mod perplexity;
mod progress;
mod remote_run;
mod run;
mod serve;
mod tokenize;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rollama_engine::backend::CpuBackend;
use rollama_engine::model::{self, Model};

/// Every error a command can end with, shown to the user as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Model(#[from] rollama_engine::model::ModelError),
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Parser)]
#[command(name = "rollama", version, about = "Run large language models locally (Ollama-compatible)")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the Ollama-compatible HTTP server (OLLAMA_HOST, default 127.0.0.1:11434).
    Serve,
    /// Generate from a model: one answer to PROMPT, or an interactive session without it.
    Run(run::RunArgs),
    /// List the models in the store.
    #[command(alias = "ls")]
    List,
    /// Create a model from a Modelfile.
    Create(create::CreateArgs),
    /// Show a model's details, Modelfile, parameters, template, system message or license.
    Show(manage::ShowArgs),
    /// Copy a model under a new name.
    Cp(manage::CopyArgs),
    /// Remove models.
    Rm(manage::NamesArgs),
    /// List the models loaded in memory.
    Ps,
    /// Unload a model.
    Stop(manage::NameArgs),
    /// Pull a model from a registry.
    Pull(manage::NameArgs),
    /// Push a model to a registry.
    Push(manage::NameArgs),
    /// Print the token ids of TEXT as a JSON array.
    Tokenize(tokenize::TokenizeArgs),
    /// Measure perplexity over a text file, as llama-perplexity does.
    Perplexity(perplexity::PerplexityArgs),
    /// Measure prompt processing and generation speed, as llama-bench does.
    Bench(bench::BenchArgs),
}

pub fn dispatch(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve => serve::run(),
        Command::Run(a) => run::run(a),
        Command::List => manage::list(),
        Command::Create(a) => create::run(a),
        Command::Show(a) => manage::show(a),
        Command::Cp(a) => manage::copy(a),
        Command::Rm(a) => manage::remove(a),
        Command::Ps => manage::ps(),
        Command::Stop(a) => manage::stop(a),
        Command::Pull(a) => manage::transfer(a, false),
        Command::Push(a) => manage::transfer(a, true),
        Command::Tokenize(a) => tokenize::run(a),
        Command::Perplexity(a) => perplexity::run(a),
        Command::Bench(a) => bench::run(a),
    }
}

/// Loads a GGUF model on the CPU backend with `threads` workers (0: one per physical core).
pub fn load_model(path: &std::path::Path, threads: usize) -> Result<Box<dyn Model>, CliError> {
    let threads = if threads == 0 { rollama_kernels::default_threads() } else { threads };
    let backend = Arc::new(CpuBackend::new(threads));
    Ok(model::load(path, backend)?)
}
