//! The CLI's HTTP client of a running `rollama serve` (or Ollama itself): the base URL from
//! OLLAMA_HOST, JSON requests, NDJSON streams, and Ollama-style errors.

use std::io::{BufRead, BufReader};

use serde_json::Value;

use super::CliError;

/// The server's base URL, e.g. `http://127.0.0.1:11434`.
pub fn base_url() -> String {
    let host = std::env::var("OLLAMA_HOST").ok();
    let raw = host.as_deref().unwrap_or("").trim();
    let scheme = if raw.starts_with("https://") { "https" } else { "http" };
    let mut addr = crate::api::host_addr(Some(raw));
    // 0.0.0.0 is where a server listens, not where a client connects.
    if let Some(port) = addr.strip_prefix("0.0.0.0:") {
        addr = format!("127.0.0.1:{port}");
    }
    format!("{scheme}://{addr}")
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().build()
}

/// Turns a failed request into the server's `{"error": ...}` message, or a connection hint.
fn error(e: ureq::Error) -> CliError {
    match e {
        ureq::Error::Status(code, resp) => {
            let body = resp.into_string().unwrap_or_default();
            let msg = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(
                    || if body.trim().is_empty() { format!("HTTP {code}") } else { body.trim().to_string() },
                );
            CliError::Usage(msg)
        }
        ureq::Error::Transport(t) => CliError::Usage(format!(
            "could not connect to the server at {} ({t}); is `rollama serve` running?",
            base_url()
        )),
    }
}

pub fn get(path: &str) -> Result<Value, CliError> {
    let resp = agent().get(&format!("{}{path}", base_url())).call().map_err(error)?;
    resp.into_json().map_err(CliError::Io)
}

pub fn post(path: &str, body: &Value) -> Result<Value, CliError> {
    let resp = agent().post(&format!("{}{path}", base_url())).send_json(body.clone()).map_err(error)?;
    let text = resp.into_string()?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("bad JSON from the server: {e}")))
}

pub fn delete(path: &str, body: &Value) -> Result<(), CliError> {
    agent().request("DELETE", &format!("{}{path}", base_url())).send_json(body.clone()).map_err(error)?;
    Ok(())
}

/// Whether a blob exists on the server.
pub fn head(path: &str) -> Result<bool, CliError> {
    match agent().head(&format!("{}{path}", base_url())).call() {
        Ok(_) => Ok(true),
        Err(ureq::Error::Status(404, _)) => Ok(false),
        Err(e) => Err(error(e)),
    }
}

/// Uploads a file as the body of a POST.
pub fn post_file(path: &str, file: &std::path::Path) -> Result<(), CliError> {
    let f = std::fs::File::open(file).map_err(|source| CliError::File { path: file.to_path_buf(), source })?;
    agent().post(&format!("{}{path}", base_url())).send(f).map_err(error)?;
    Ok(())
}

/// POSTs and calls `line` for each NDJSON object of the streamed reply; an `error` line
/// ends the stream as an error. `line` returns false to stop reading.
pub fn stream(path: &str, body: &Value, mut line: impl FnMut(&Value) -> bool) -> Result<(), CliError> {
    let resp = agent().post(&format!("{}{path}", base_url())).send_json(body.clone()).map_err(error)?;
    let reader = BufReader::new(resp.into_reader());
    for l in reader.lines() {
        let l = l?;
        if l.trim().is_empty() {
            continue;
        }
        let v: Value =
            serde_json::from_str(&l).map_err(|e| CliError::Usage(format!("bad stream line from the server: {e}")))?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(CliError::Usage(e.to_string()));
        }
        if !line(&v) {
            break;
        }
    }
    Ok(())
}
