//! GGUF: the file format that carries a model's metadata and tensors.
//!
//! [`GgufFile`] parses a file (memory-mapped) into its metadata ([`Value`]s under string keys)
//! and its [`TensorInfo`]s, then hands out tensors as zero-copy byte views of the mapping.
//! [`GgufWriter`] produces files the reader (and llama.cpp) accept; tests use it to build
//! small random-weight models.
//!
//! Every file is treated as hostile: counts and lengths are capped and checked against the
//! bytes that remain before anything is allocated, every offset and size is computed with
//! overflow-checked arithmetic, and every failure is a [`GgufError`] naming the field.

mod error;
mod reader;
mod value;
mod writer;

pub use error::GgufError;
pub use reader::{GgufFile, TensorInfo, MAX_DIMS};
pub use value::{Value, ValueType};
pub use writer::GgufWriter;
// Tensor types come from the kernels crate; re-exported so users of GGUF need not depend on it.
pub use rollama_kernels::GgmlType;

/// "GGUF" read as a little-endian u32.
pub const MAGIC: u32 = 0x4655_4747;
/// The alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

#[cfg(test)]
mod tests;
