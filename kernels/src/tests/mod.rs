//! Tests that cut across modules: the SIMD-versus-scalar harness, accuracy budgets against f32,
//! fixtures from independent implementations, matmul against a naive reference, and malformed
//! inputs.

mod accuracy;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod fixtures;
mod harness;
mod matmul;
mod util;
