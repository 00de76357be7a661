//! The Ollama HTTP API. `serve` starts the server; `route` maps each request to its handler
//! (one module per endpoint family); errors become `{"error": ...}` with their status in one
//! place (`error.rs`).

mod create;
mod embed;
mod error;
mod generate;
mod http;
mod models;
pub(crate) mod options;
pub mod time;
mod transfer;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tiny_http::Method;

pub use error::ApiError;
pub use http::Server;
use http::{Reply, Request};
use rollama_engine::store::Store;

use crate::sched::{KeepAlive, Scheduler};

/// The version reported by `/api/version`: Ollama clients compare it, so it follows
/// Ollama's numbering for the API level implemented.
pub const VERSION: &str = concat!("0.6.0-rollama.", env!("CARGO_PKG_VERSION"));

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub sched: Scheduler,
    pub store: Arc<Store>,
    pub default_keep_alive: KeepAlive,
}

/// Server settings, from the environment as Ollama reads it.
pub struct Config {
    pub host: String,
    pub models_dir: std::path::PathBuf,
    pub keep_alive: KeepAlive,
    pub max_loaded: usize,
    pub max_queue: usize,
    pub threads: usize,
    pub workers: usize,
}

impl Config {
    /// OLLAMA_HOST, OLLAMA_MODELS, OLLAMA_KEEP_ALIVE, OLLAMA_MAX_LOADED_MODELS, OLLAMA_MAX_QUEUE.
    pub fn from_env() -> Result<Config, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let host = host_addr(var("OLLAMA_HOST").as_deref());
        let models_dir = match var("OLLAMA_MODELS") {
            Some(d) => d.into(),
            None => Store::default_root().map_err(|e| e.to_string())?,
        };
        let keep_alive = match var("OLLAMA_KEEP_ALIVE") {
            None => KeepAlive::For(Duration::from_secs(300)),
            Some(v) => {
                // A bare number is seconds here, as Ollama's envconfig reads it.
                let value = v.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(v));
                crate::sched::parse_keep_alive(&value).map_err(|e| format!("OLLAMA_KEEP_ALIVE: {e}"))?
            }
        };
        let num = |k: &str, default: usize| -> Result<usize, String> {
            var(k).map_or(Ok(default), |v| v.trim().parse().map_err(|_| format!("{k}: {v:?} is not a number")))
        };
        Ok(Config {
            host,
            models_dir,
            keep_alive,
            max_loaded: num("OLLAMA_MAX_LOADED_MODELS", 3)?,
            max_queue: num("OLLAMA_MAX_QUEUE", 512)?,
            threads: num("OLLAMA_NUM_THREADS", 0)?,
            workers: 8,
        })
    }
}

/// OLLAMA_HOST as `host`, `host:port`, `:port` or `scheme://host:port`, to a bind address.
pub fn host_addr(v: Option<&str>) -> String {
    let v = v.unwrap_or("").trim();
    let v = v.split_once("://").map_or(v, |(_, rest)| rest).trim_end_matches('/');
    let (host, port) = match v.rsplit_once(':') {
        // An IPv6 literal without a port has colons but ends in ']'.
        Some((h, p)) if !p.contains(']') => (h, p),
        _ => (v, "11434"),
    };
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let port = if port.is_empty() { "11434" } else { port };
    format!("{host}:{port}")
}

/// Starts the server with `config`; returns once it listens, with a line saying which
/// backend (CPU or GPU) models load on.
pub fn serve(config: &Config) -> std::io::Result<(Server, String)> {
    let store = Store::open(&config.models_dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    let state = AppState {
        sched: Scheduler::new(config.threads, config.max_loaded, config.max_queue),
        store: Arc::new(store),
        default_keep_alive: config.keep_alive,
    };
    let backends = state.sched.backends().to_string();
    let server = Server::start(&config.host, config.workers, Arc::new(move |req: &mut Request| route(&state, req)))?;
    Ok((server, backends))
}

fn route(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    use Method::{Delete, Get, Head, Post};
    let path = req.path().to_string();
    let method = req.method().clone();
    let blob = path.strip_prefix("/api/blobs/").map(str::to_string);
    // The methods each path answers; anything else is 405, an unknown path 404 (both as
    // plain text, as Ollama's router writes them).
    let methods: &[Method] = match path.as_str() {
        "/" | "/api/version" | "/api/tags" => &[Get, Head],
        "/api/ps" => &[Get],
        "/api/delete" => &[Delete],
        "/api/generate" | "/api/chat" | "/api/show" | "/api/copy" | "/api/create" | "/api/embed"
        | "/api/embeddings" | "/api/tokenize" | "/api/detokenize" | "/api/pull" | "/api/push" => &[Post],
        _ if blob.is_some() => &[Head, Post],
        _ => return Ok(Reply::Text(404, "404 page not found".into())),
    };
    if !methods.contains(&method) {
        return Ok(Reply::Text(405, "405 method not allowed".into()));
    }
    match path.as_str() {
        "/" => Ok(Reply::Text(200, "Ollama is running".into())),
        "/api/version" => Ok(Reply::Json(200, json!({ "version": VERSION }))),
        "/api/generate" => generate::generate_route(state, req),
        "/api/chat" => generate::chat_route(state, req),
        "/api/tags" => models::tags(state),
        "/api/ps" => models::ps(state),
        "/api/show" => models::show(state, req),
        "/api/copy" => models::copy(state, req),
        "/api/delete" => models::delete(state, req),
        "/api/create" => create::create(state, req),
        "/api/embed" => models::embed(state, req),
        "/api/embeddings" => models::embeddings(state, req),
        "/api/tokenize" => models::tokenize(state, req),
        "/api/detokenize" => models::detokenize(state, req),
        "/api/pull" => transfer::pull(state, req),
        "/api/push" => transfer::push(state, req),
        _ => {
            let digest = blob.unwrap_or_default();
            if method == Head {
                create::blob_exists(state, &digest)
            } else {
                create::blob_upload(state, req, &digest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_addr;

    #[test]
    fn ollama_host_forms() {
        assert_eq!(host_addr(None), "127.0.0.1:11434");
        assert_eq!(host_addr(Some("0.0.0.0")), "0.0.0.0:11434");
        assert_eq!(host_addr(Some("127.0.0.1:8080")), "127.0.0.1:8080");
        assert_eq!(host_addr(Some("http://localhost:9000/")), "localhost:9000");
        assert_eq!(host_addr(Some(":7000")), "127.0.0.1:7000");
        assert_eq!(host_addr(Some("[::1]")), "[::1]:11434");
        assert_eq!(host_addr(Some("[::1]:5000")), "[::1]:5000");
    }
}
