//! `rollama`: a local LLM runner compatible with Ollama: the HTTP API server (`api`), its
//! model scheduler (`sched`) and the command line (`cli`), which is a client of the server
//! except where it runs a GGUF file in-process.

mod api;
mod cli;
mod sched;

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
