//! The registry client: `pull` and `push` of models over the OCI distribution protocol (the
//! Docker registry v2 API), as Ollama speaks it to registry.ollama.ai or any private registry.
//!
//! [`client::Client`] sends requests to one registry host and answers its 401 challenges
//! (`auth.rs`); [`pull()`] fetches a manifest and its blobs (Range parts in parallel, resumable
//! from `<blob>-partial` files, one shared download per blob, sha256 verified before a blob
//! becomes visible) and writes the manifest last; [`push()`] uploads the blobs the registry
//! lacks and then the manifest. Progress is reported as [`Status`] objects, the statuses
//! Ollama streams from `/api/pull` and `/api/push`.

mod auth;
mod client;
mod pull;
mod push;

use serde::Serialize;

use crate::store::{Digest, ErrorClass, StoreError};

pub use pull::pull;
pub use push::push;

/// Checks, before any request, that the registry of `name` can be reached with `options`
/// (http needs `insecure`), so a server can answer with an error status instead of a stream
/// that fails at once.
pub fn check(name: &crate::store::Name, options: &Options) -> Result<(), RegistryError> {
    client::Client::new(name, options).map(|_| ())
}

/// One progress report, serialized as Ollama's `{"status", "digest", "total", "completed"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<u64>,
}

impl Status {
    pub fn new(status: impl Into<String>) -> Status {
        Status { status: status.into(), digest: None, total: None, completed: None }
    }
    pub(crate) fn progress(verb: &str, digest: &Digest, total: u64, completed: u64) -> Status {
        Status {
            status: format!("{verb} {}", digest.short()),
            digest: Some(digest.to_string()),
            total: Some(total),
            completed: Some(completed),
        }
    }
}

/// Basic credentials for a registry's token realm (or its Basic challenge). They are only ever
/// sent to the registry's own host.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    /// `ROLLAMA_REGISTRY_USER` and `ROLLAMA_REGISTRY_PASSWORD`, when both are set.
    pub fn from_env() -> Option<Credentials> {
        let user = std::env::var("ROLLAMA_REGISTRY_USER").ok().filter(|v| !v.is_empty())?;
        let password = std::env::var("ROLLAMA_REGISTRY_PASSWORD").unwrap_or_default();
        Some(Credentials { user, password })
    }
}

impl std::fmt::Debug for Credentials {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

/// How to reach the registry.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Plain http instead of https (Ollama's `insecure`).
    pub insecure: bool,
    pub credentials: Option<Credentials>,
}

/// Why a pull or push failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Ollama's wording for a manifest the registry does not have.
    #[error("model '{0}' not found")]
    NotFound(String),
    #[error("insecure protocol http: pass insecure to use a plain-http registry")]
    InsecureNotAllowed,
    /// A request that got no answer (connection refused, reset, timed out).
    #[error("{what}: {reason}")]
    Network { what: String, reason: String },
    /// An answer the protocol does not allow at this point.
    #[error("{what}: the registry answered {status}: {body}")]
    Unexpected { what: String, status: u16, body: String },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("invalid manifest from the registry: {0}")]
    BadManifest(String),
    #[error("digest mismatch, expected \"{expected}\", got \"{actual}\"")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> RegistryError {
        match e {
            StoreError::DigestMismatch { expected, actual } => RegistryError::DigestMismatch { expected, actual },
            other => RegistryError::Store(other),
        }
    }
}

impl RegistryError {
    /// The HTTP status a server should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            RegistryError::NotFound(_) => 404,
            RegistryError::InsecureNotAllowed => 400,
            RegistryError::Unauthorized(_) => 401,
            RegistryError::Store(e) => match e.class() {
                ErrorClass::BadRequest => 400,
                ErrorClass::NotFound => 404,
                ErrorClass::Internal => 500,
            },
            _ => 500,
        }
    }

    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> RegistryError {
        RegistryError::Io { path: path.into(), source }
    }
}
