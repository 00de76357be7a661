//! `rollama serve`: the Ollama-compatible HTTP API, configured from the environment.

use super::CliError;

pub fn run() -> Result<(), CliError> {
    let config = crate::api::Config::from_env().map_err(CliError::Usage)?;
    let server = crate::api::serve(&config).map_err(CliError::Io)?;
    eprintln!(
        "rollama {} listening on {} (models in {})",
        crate::api::VERSION,
        server.addr,
        config.models_dir.display()
    );
    server.wait();
    Ok(())
}
