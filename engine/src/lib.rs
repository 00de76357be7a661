//! The inference engine: GGUF files, tokenizers, model architectures over a compute backend,
//! the KV cache and the sampler. It does no HTTP and knows nothing of the CLI.

pub mod backend;
pub mod bench;
pub mod chat;
pub mod generate;
pub mod gguf;
pub mod grammar;
pub mod json;
pub mod model;
pub mod modelfile;
pub mod registry;
pub mod sampler;
pub mod stop;
pub mod store;
pub mod template;
pub mod tokenizer;
