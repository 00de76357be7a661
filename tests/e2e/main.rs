//! End-to-end tests: the engine and the `rollama` binary on the real models, checked against
//! the llama.cpp reference outputs in ../shared/reference.

mod cli;
mod gguf_compat;
mod greedy;
mod perplexity;
mod synthetic;
mod tokenize;
