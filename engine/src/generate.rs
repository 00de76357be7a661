//! The generation loop: feed a prompt, then sample, emit and feed back one token at a time
//! until an end-of-generation token, the token budget or the context's end.

use std::time::{Duration, Instant};

use crate::model::{Logits, Model, ModelError, Session};
use crate::sampler::{Sampler, SamplerOptions};
use crate::stop::StopMatcher;
use crate::tokenizer::StreamDecoder;

/// How long to generate, and how to choose tokens.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most tokens to generate; negative means until the context is full.
    pub num_predict: i64,
    pub sampler: SamplerOptions,
    /// Generation ends where any of these appears; it is not part of the output.
    pub stop: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { num_predict: -1, sampler: SamplerOptions::default(), stop: Vec::new() }
    }
}

/// Why generation ended, as Ollama's `done_reason` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneReason {
    /// The model produced an end-of-generation token (or the caller stopped it).
    Stop,
    /// The token budget or the context ran out.
    Length,
}

impl DoneReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DoneReason::Stop => "stop",
            DoneReason::Length => "length",
        }
    }
}

/// What one generation did, for the statistics Ollama reports.
#[derive(Debug, Clone)]
pub struct GenerateStats {
    pub prompt_tokens: usize,
    pub prompt_duration: Duration,
    pub eval_tokens: usize,
    pub eval_duration: Duration,
    pub done_reason: DoneReason,
    /// The generated token ids, in order (end-of-generation token excluded).
    pub tokens: Vec<u32>,
}

/// Runs `prompt` through the model at the session's position, then generates. `emit` gets
/// each piece of text (always whole UTF-8) and returns false to stop early.
pub fn generate(
    model: &dyn Model,
    session: &mut Session,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut emit: impl FnMut(&str) -> bool,
) -> Result<GenerateStats, ModelError> {
    let tok = model.tokenizer();
    let mut sampler = Sampler::new(opts.sampler.clone());
    let mut decoder = StreamDecoder::new();
    let mut stops = StopMatcher::new(&opts.stop);

    let t0 = Instant::now();
    let mut logits = model.forward(session, prompt, Logits::Last)?;
    let prompt_duration = t0.elapsed();

    let t1 = Instant::now();
    let mut tokens = Vec::new();
    let mut done_reason = DoneReason::Length;
    let mut stopped = false;
    loop {
        if opts.num_predict >= 0 && tokens.len() as i64 >= opts.num_predict {
            break;
        }
        if logits.is_empty() {
            break;
        }
        let id = sampler.sample(&logits);
        if tok.is_eog(id) {
            done_reason = DoneReason::Stop;
            break;
        }
        tokens.push(id);
        let step = stops.push(&decoder.push(tok, id));
        if !step.emit.is_empty() && !emit(&step.emit) {
            done_reason = DoneReason::Stop;
            break;
        }
        if step.stopped {
            // The stop string's tokens stay in the cache, as Ollama's do, but not in the text.
            done_reason = DoneReason::Stop;
            stopped = true;
            break;
        }
        if session.pos() >= session.n_ctx() {
            break;
        }
        logits = model.forward(session, &[id], Logits::Last)?;
    }
    if !stopped {
        // Whatever was held back as a possible stop string's start, and any incomplete UTF-8.
        let step = stops.push(&decoder.finish());
        let mut rest = step.emit;
        if !step.stopped {
            rest.push_str(&stops.finish());
        }
        if !rest.is_empty() {
            emit(&rest);
        }
    }
    Ok(GenerateStats {
        prompt_tokens: prompt.len(),
        prompt_duration,
        eval_tokens: tokens.len(),
        eval_duration: t1.elapsed(),
        done_reason,
        tokens,
    })
}
