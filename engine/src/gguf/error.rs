//! The typed errors of GGUF parsing and writing.

use std::path::PathBuf;

/// Why a GGUF file was rejected. Each variant names the field or tensor at fault.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a GGUF file (magic bytes {found:02x?})")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    #[error("file truncated while reading {field} at offset {offset} (file is {file_len} bytes)")]
    Truncated { field: String, offset: u64, file_len: u64 },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{field}: value {value} exceeds the limit of {limit}")]
    TooLarge { field: String, value: u64, limit: u64 },
    #[error("duplicate metadata key {0:?}")]
    DuplicateKey(String),
    #[error("duplicate tensor name {0:?}")]
    DuplicateTensor(String),
    #[error("tensor {name:?} has unknown ggml type id {id}")]
    UnknownTensorType { name: String, id: u32 },
    #[error("tensor {name:?}: {reason}")]
    BadTensor { name: String, reason: String },
    #[error("metadata key {0:?} is missing")]
    MissingKey(String),
    #[error("metadata key {key:?} has type {found}, expected {expected}")]
    WrongType { key: String, expected: &'static str, found: &'static str },
    #[error("tensor {0:?} is missing")]
    MissingTensor(String),
}

impl GgufError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        GgufError::Invalid { field: field.into(), reason: reason.into() }
    }
}
