//! `rollama`: a local LLM runner compatible with Ollama. This binary holds the command line;
//! the HTTP API joins it later. Model files are GGUF paths for now.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
