//! `rollama serve`: the Ollama-compatible HTTP API, configured from the environment.

use super::CliError;

pub fn run() -> Result<(), CliError> {
    let config = crate::api::Config::from_env().map_err(CliError::Usage)?;
    let (server, backends) = crate::api::serve(&config).map_err(CliError::Io)?;
    // The first line says where it listens (scripts and the tests read it).
    eprintln!(
        "rollama {} listening on {} (models in {})",
        crate::api::VERSION,
        server.addr,
        config.models_dir.display()
    );
    eprintln!("rollama: {backends}");
    server.wait();
    Ok(())
}
