//! `rollama perplexity MODEL FILE`: llama-perplexity's method. The text is tokenized once,
//! cut into chunks of `ctx` tokens (the first replaced by BOS where the model adds one),
//! and the loss counts only the second half of each chunk, where every prediction has at
//! least ctx/2 tokens of context.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use rollama_engine::model::Logits;
use rollama_engine::sampler::log_softmax_at;

use super::CliError;

#[derive(Args)]
pub struct PerplexityArgs {
    /// Path to a GGUF model file.
    model: PathBuf,
    /// The text file to score.
    file: PathBuf,
    /// Tokens per chunk.
    #[arg(long, default_value_t = 512)]
    ctx: usize,
    /// Worker threads (0: one per physical core).
    #[arg(short = 't', long, default_value_t = 0)]
    threads: usize,
}

pub fn run(a: PerplexityArgs) -> Result<(), CliError> {
    if a.ctx < 4 {
        return Err(CliError::Usage("--ctx must be at least 4".into()));
    }
    let text = std::fs::read_to_string(&a.file).map_err(|source| CliError::File { path: a.file.clone(), source })?;
    let model = super::load_model(&a.model, a.threads)?;
    let tok = model.tokenizer();
    let tokens = tok.encode(&text, true, false);
    let n_chunks = tokens.len() / a.ctx;
    if n_chunks == 0 {
        return Err(CliError::Usage(format!("{} tokens is fewer than one chunk of {}", tokens.len(), a.ctx)));
    }
    let bos = if tok.add_bos() { tok.bos() } else { None };
    let n_vocab = model.hparams().n_vocab;
    let first = a.ctx / 2;
    eprintln!("{} tokens, {n_chunks} chunks of {}", tokens.len(), a.ctx);

    let (mut nll, mut count) = (0f64, 0usize);
    let t0 = Instant::now();
    for c in 0..n_chunks {
        let mut chunk = tokens[c * a.ctx..(c + 1) * a.ctx].to_vec();
        if let Some(bos) = bos {
            chunk[0] = bos;
        }
        let mut session = model.try_new_session(a.ctx)?;
        let logits = model.forward(&mut session, &chunk, Logits::From(first))?;
        // Only rows first.. come back (the projection onto a large vocabulary is costly):
        // returned row j is chunk row first + j, which predicts token first + j + 1.
        for i in first..a.ctx - 1 {
            let j = i - first;
            nll -= log_softmax_at(&logits[j * n_vocab..(j + 1) * n_vocab], chunk[i + 1] as usize);
            count += 1;
        }
        eprint!("[{}]{:.4},", c + 1, (nll / count as f64).exp());
    }
    eprintln!();
    eprintln!(
        "{:.2} seconds, {:.1} tokens/s",
        t0.elapsed().as_secs_f64(),
        (n_chunks * a.ctx) as f64 / t0.elapsed().as_secs_f64()
    );
    println!("PPL = {:.4}", (nll / count as f64).exp());
    Ok(())
}
