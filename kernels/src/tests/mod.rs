//! Tests that cut across modules: the SIMD-versus-scalar harness, accuracy budgets against f32,
//! matmul against a naive reference, and malformed inputs.

mod accuracy;
mod harness;
mod matmul;
mod util;
