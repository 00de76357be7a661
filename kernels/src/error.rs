//! The error type of every fallible kernel entry point.

use crate::GgmlType;

/// What went wrong in a kernel call. Kernels never panic on bad shapes; they return one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// The operation has no implementation for this tensor type.
    #[error("{op} is not supported for tensor type {ty}")]
    Unsupported { ty: GgmlType, op: &'static str },
    /// A buffer's length does not match the shape it was given with.
    #[error("{what}: expected {expected} elements or bytes, got {got}")]
    ShapeMismatch { what: &'static str, expected: usize, got: usize },
    /// A row length is not a whole number of blocks of the type.
    #[error("row length {len} is not a multiple of the {ty} block length {block}")]
    BadRowLength { ty: GgmlType, len: usize, block: usize },
    /// A size computed from the shape does not fit in `usize`.
    #[error("size of {what} overflows")]
    Overflow { what: &'static str },
}
