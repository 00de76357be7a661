//! `rollama tokenize MODEL TEXT`: the token ids as one JSON array.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use rollama_engine::gguf::GgufFile;
use rollama_engine::tokenizer::Tokenizer;

use super::CliError;

#[derive(Args)]
pub struct TokenizeArgs {
    /// Path to a GGUF model file.
    model: PathBuf,
    /// The text to tokenize.
    text: String,
    /// Treat special-token texts such as `<|im_start|>` as plain text.
    #[arg(long)]
    no_parse_special: bool,
    /// Do not add BOS/EOS tokens even where the model's metadata asks for them.
    #[arg(long)]
    no_add_special: bool,
}

pub fn run(a: TokenizeArgs) -> Result<(), CliError> {
    // Only the vocabulary is needed: no weights are touched.
    let file = Arc::new(GgufFile::open(&a.model).map_err(rollama_engine::model::ModelError::from)?);
    let tok = Tokenizer::from_gguf(&file).map_err(rollama_engine::model::ModelError::from)?;
    let ids = tok.encode(&a.text, !a.no_add_special, !a.no_parse_special);
    println!("{}", serde_json::to_string(&ids).expect("ids serialize"));
    Ok(())
}
