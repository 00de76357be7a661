//! The generation loop: feed a prompt, then sample, emit and feed back one token at a time
//! until an end-of-generation token, the token budget or the context's end.
//!
//! With a [`Format`], each step's token must also be admitted by a [`Matcher`]: the sampler
//! proposes, the matcher checks only that token's bytes (rejection sampling, so agreeing with
//! the model costs one check per step), and generation stops as soon as the value closes. A
//! token is also refused if the value could not be closed in the tokens left afterwards, so a
//! budget (`num_predict`, or the context) that runs low closes the value rather than cutting it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::json::{self, Format, Matcher};
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
    /// Constrain the output to JSON, or to a JSON schema.
    pub format: Option<Format>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions { num_predict: -1, sampler: SamplerOptions::default(), stop: Vec::new(), format: None }
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
    // A bad schema is refused before a request gets here (the server compiles it first); for
    // other callers it is an error naming `format`.
    let mut matcher = match &opts.format {
        None => None,
        Some(f) => Some(Matcher::new(Arc::new(
            f.compile().map_err(|reason| ModelError::BadHparam { key: "format".into(), reason })?,
        ))),
    };

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
        let id = match &mut matcher {
            None => sampler.sample(&logits),
            Some(m) => {
                // Tokens this one leaves for closing the value: the budget, and the context.
                let mut left = session.n_ctx().saturating_sub(session.pos() + 1);
                if opts.num_predict >= 0 {
                    left = left.min((opts.num_predict as usize).saturating_sub(tokens.len() + 1));
                }
                let mut next = None;
                let picked = sampler.sample_where(&logits, |id| {
                    next = json::admit(m, tok, id, left);
                    next.is_some()
                });
                // Nothing fits (a vocabulary without the bytes the value needs): give up here.
                let (Some(picked), Some(after)) = (picked, next) else { break };
                *m = after;
                picked
            }
        };
        if tok.is_eog(id) {
            done_reason = DoneReason::Stop;
            break;
        }
        tokens.push(id);
        let closed = matcher.as_ref().is_some_and(Matcher::is_done);
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
        if closed {
            done_reason = DoneReason::Stop;
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
