//! The typed errors of the model store, and the class of HTTP answer each one deserves.

use std::path::PathBuf;

use super::digest::Digest;
use crate::gguf::GgufError;

/// Why a store operation failed. Each variant carries what the message needs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid model name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("invalid digest format {0:?}")]
    InvalidDigest(String),
    /// Ollama's exact wording for a blob upload whose content does not hash to its name.
    #[error("digest mismatch, expected \"{expected}\", got \"{actual}\"")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// The name as the user wrote it (or its shortest display form).
    #[error("model '{0}' not found")]
    ModelNotFound(String),
    #[error("blob \"{0}\" not found")]
    BlobNotFound(Digest),
    #[error("corrupt manifest {path}: {reason}")]
    CorruptManifest { path: PathBuf, reason: String },
    #[error("corrupt blob {digest}: {reason}")]
    CorruptBlob { digest: Digest, reason: String },
    /// A request-supplied value that cannot be stored (bad JSON shape, a path that is not
    /// relative, an adapter given as a model, ...).
    #[error("{0}")]
    InvalidInput(String),
    /// Reading the client's data (an upload body) failed.
    #[error("reading the upload: {0}")]
    Read(#[source] std::io::Error),
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot locate the model store: {0}")]
    NoRoot(String),
}

/// How a server should answer an error: 400, 404 or 500.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    BadRequest,
    NotFound,
    Internal,
}

impl StoreError {
    pub fn class(&self) -> ErrorClass {
        match self {
            StoreError::InvalidName { .. }
            | StoreError::InvalidDigest(_)
            | StoreError::DigestMismatch { .. }
            | StoreError::InvalidInput(_)
            | StoreError::Read(_) => ErrorClass::BadRequest,
            // A GGUF the client supplied is a bad request; one we cannot open is our problem.
            StoreError::Gguf(GgufError::Open { .. } | GgufError::Io(_)) => ErrorClass::Internal,
            StoreError::Gguf(_) => ErrorClass::BadRequest,
            StoreError::ModelNotFound(_) | StoreError::BlobNotFound(_) => ErrorClass::NotFound,
            StoreError::CorruptManifest { .. }
            | StoreError::CorruptBlob { .. }
            | StoreError::Io { .. }
            | StoreError::NoRoot(_) => ErrorClass::Internal,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        StoreError::Io { path: path.into(), source }
    }
}
