//! End-to-end tests: the engine and the `rollama` binary on the real models, checked against
//! the llama.cpp reference outputs in ../shared/reference.

mod api;
mod cli;
mod cli_client;
mod curl_examples;
mod gguf_compat;
mod gpu;
mod grammar;
mod greedy;
mod json_mode;
mod options;
mod perplexity;
mod python_client;
mod registry;
mod synthetic;
mod tokenize;
