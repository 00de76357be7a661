//! The generation loop: feed a prompt, then sample, emit and feed back one token at a time
//! until an end-of-generation token or the token budget.
//!
//! When the sequence fills the context it is shifted as Ollama and llama.cpp do: the first
//! `num_keep` tokens stay, half of the rest is dropped, and generation goes on. The cache is
//! rebuilt rather than edited (a new session fed the kept tokens): sliding-window layers keep
//! a ring of positions that cannot be shifted in place, and re-feeding is correct for every
//! architecture at the cost of one prompt-sized forward pass per shift. `num_predict` -2
//! instead stops when the context is full.
//!
//! With a [`Format`], each step's token must also be admitted by a [`Matcher`]: the sampler
//! proposes, the matcher checks only that token's bytes (rejection sampling, so agreeing with
//! the model costs one check per step), and generation stops as soon as the value closes. A
//! token is also refused if the value could not be closed in the tokens left afterwards, so a
//! budget (`num_predict`, or the context) that runs low closes the value rather than cutting it.
//! A GBNF `grammar` constrains the output the same way, through a [`grammar::Matcher`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::grammar::{self, Grammar};
use crate::json::{self, Format, Matcher};
use crate::model::{Logits, Model, ModelError, Session};
use crate::sampler::{ChainOptions, Sampler, SamplerOptions};
use crate::stop::StopMatcher;
use crate::tokenizer::StreamDecoder;

/// How long to generate, and how to choose tokens.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Most tokens to generate; -1 means no limit (the context shifts), -2 until the context
    /// is full.
    pub num_predict: i64,
    pub sampler: SamplerOptions,
    /// Penalties, typical-p, min-p and mirostat.
    pub chain: ChainOptions,
    /// Tokens kept at the start of the sequence when the context shifts.
    pub num_keep: usize,
    /// Whether a full context shifts (Ollama's `shift`); when false generation stops there.
    pub shift: bool,
    /// Report each generated token's log-probability with this many most likely
    /// alternatives (Ollama's `logprobs` and `top_logprobs`); None reports nothing.
    pub logprobs: Option<usize>,
    /// Generation ends where any of these appears; it is not part of the output.
    pub stop: Vec<String>,
    /// Constrain the output to JSON, or to a JSON schema.
    pub format: Option<Format>,
    /// Constrain the output to this GBNF grammar (llama.cpp's format, start rule `root`).
    /// Setting it together with `format` is an error: the two cannot both hold.
    pub grammar: Option<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            num_predict: -1,
            sampler: SamplerOptions::default(),
            chain: ChainOptions::default(),
            num_keep: 4,
            shift: true,
            logprobs: None,
            stop: Vec::new(),
            format: None,
            grammar: None,
        }
    }
}

/// A constraint on the output: a JSON value or a grammar, each a matcher with the same
/// interface.
enum Constraint {
    Json(Matcher),
    Grammar(grammar::Matcher),
}

impl Constraint {
    fn new(opts: &GenerateOptions) -> Result<Option<Constraint>, ModelError> {
        let bad = |key: &str, reason: String| ModelError::BadHparam { key: key.into(), reason };
        match (&opts.format, &opts.grammar) {
            (Some(_), Some(_)) => Err(bad("grammar", "format and grammar cannot both be set".into())),
            (Some(f), None) => {
                Ok(Some(Constraint::Json(Matcher::new(Arc::new(f.compile().map_err(|r| bad("format", r))?)))))
            }
            (None, Some(g)) => {
                let g = Grammar::parse(g).map_err(|e| bad("grammar", e.to_string()))?;
                Ok(Some(Constraint::Grammar(grammar::Matcher::new(Arc::new(g)))))
            }
            (None, None) => Ok(None),
        }
    }

    fn admit(&self, tok: &crate::tokenizer::Tokenizer, id: u32, left: usize) -> Option<Constraint> {
        match self {
            Constraint::Json(m) => json::admit(m, tok, id, left).map(Constraint::Json),
            Constraint::Grammar(m) => grammar::admit(m, tok, id, left).map(Constraint::Grammar),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Constraint::Json(m) => m.is_done(),
            Constraint::Grammar(m) => m.is_done(),
        }
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
    /// The tokens the session holds at the end, when they are known (see [`generate_from`]):
    /// after a context shift these are no longer the history, prompt and output end to end.
    pub sequence: Option<Vec<u32>>,
    /// One entry per generated token when [`GenerateOptions::logprobs`] asks for them.
    pub logprobs: Vec<TokenLogprob>,
}

/// A generated token's log-probability under the model (the raw logits, before the
/// sampler's changes, as Ollama reports it), with the most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f32,
    /// (token, log-probability), most likely first.
    pub top: Vec<(u32, f32)>,
}

impl TokenLogprob {
    fn new(logits: &[f32], id: u32, n_top: usize) -> TokenLogprob {
        let max = logits.iter().copied().filter(|l| !l.is_nan()).fold(f32::NEG_INFINITY, f32::max);
        let lse = max + logits.iter().filter(|l| !l.is_nan()).map(|&l| (l - max).exp()).sum::<f32>().ln();
        let at = |i: u32| logits.get(i as usize).map_or(f32::NEG_INFINITY, |&l| l - lse);
        let mut top: Vec<(u32, f32)> = Vec::new();
        if n_top > 0 {
            let mut all: Vec<(u32, f32)> =
                logits.iter().enumerate().filter(|(_, l)| !l.is_nan()).map(|(i, &l)| (i as u32, l)).collect();
            crate::sampler::stages::top_k(&mut all, n_top as i32);
            top = all.into_iter().map(|(i, _)| (i, at(i))).collect();
        }
        TokenLogprob { id, logprob: at(id), top }
    }
}

/// What a forward pass gives for choosing the next token.
enum Next {
    /// The last row's logits, for the sampler.
    Logits(Vec<f32>),
    /// The backend's greedy pick (None: no tokens were fed).
    Token(Option<u32>),
}

/// Runs `prompt` through the model at the session's position, then generates. `emit` gets
/// each piece of text (always whole UTF-8) and returns false to stop early. The session's
/// earlier tokens are unknown here, so the context can shift only when it starts empty.
pub fn generate(
    model: &dyn Model,
    session: &mut Session,
    prompt: &[u32],
    opts: &GenerateOptions,
    emit: impl FnMut(&str) -> bool,
) -> Result<GenerateStats, ModelError> {
    generate_from(model, session, &[], prompt, opts, emit)
}

/// [`generate`] for a session that already holds `history` (a cached prefix): with it the
/// context can shift, and the penalties see the whole recent window.
pub fn generate_from(
    model: &dyn Model,
    session: &mut Session,
    history: &[u32],
    prompt: &[u32],
    opts: &GenerateOptions,
    mut emit: impl FnMut(&str) -> bool,
) -> Result<GenerateStats, ModelError> {
    generate_with(model, session, history, prompt, opts, |text, _| emit(text))
}

/// [`generate_from`] whose `emit` also gets the log-probabilities (when asked for) of the
/// tokens generated since its last call: a piece's text and the tokens behind it travel
/// together, even when stop-string hold-back delays the text. Those of tokens that end up in a
/// stop string are never emitted (but stay in the stats).
pub fn generate_with(
    model: &dyn Model,
    session: &mut Session,
    history: &[u32],
    prompt: &[u32],
    opts: &GenerateOptions,
    mut emit: impl FnMut(&str, &[TokenLogprob]) -> bool,
) -> Result<GenerateStats, ModelError> {
    let tok = model.tokenizer();
    let mut chain = opts.chain.clone();
    if chain.repeat_last_n < 0 {
        // -1 means the whole context, as Ollama documents.
        chain.repeat_last_n = i32::try_from(session.n_ctx()).unwrap_or(i32::MAX);
    }
    let mut sampler = Sampler::with_chain(opts.sampler.clone(), chain);
    let known = history.len() == session.pos();
    // What the session holds, for rebuilding it at a shift (only when it is known).
    let mut sequence: Vec<u32> = if known { history.iter().chain(prompt).copied().collect() } else { Vec::new() };
    for &t in history.iter().chain(prompt) {
        sampler.accept(t);
    }
    let can_shift = known && opts.shift && opts.num_predict != -2;
    let mut decoder = StreamDecoder::new();
    let mut stops = StopMatcher::new(&opts.stop);
    // A bad schema or grammar is refused before a request gets here (the server compiles it
    // first); for other callers it is an error naming `format` or `grammar`.
    let mut matcher = Constraint::new(opts)?;

    // Greedy choices that nothing else reads the logits for (no penalties, constraint or
    // log-probabilities) are picked by the backend: a GPU then reads back an id, not a row.
    let by_backend = matcher.is_none() && opts.logprobs.is_none() && sampler.is_plain_greedy();
    let feed = |session: &mut Session, tokens: &[u32]| -> Result<Next, ModelError> {
        Ok(if by_backend {
            Next::Token(model.forward_greedy(session, tokens)?)
        } else {
            Next::Logits(model.forward(session, tokens, Logits::Last)?)
        })
    };

    let t0 = Instant::now();
    let mut next = feed(session, prompt)?;
    let prompt_duration = t0.elapsed();

    let t1 = Instant::now();
    let mut tokens = Vec::new();
    let mut logprobs = Vec::new();
    // How many of `logprobs` went out with the text so far.
    let mut sent = 0;
    let mut done_reason = DoneReason::Length;
    let mut stopped = false;
    loop {
        if opts.num_predict >= 0 && tokens.len() as i64 >= opts.num_predict {
            break;
        }
        let id = match (&next, &mut matcher) {
            (Next::Token(None), _) => break,
            (Next::Token(Some(id)), _) => *id,
            (Next::Logits(logits), _) if logits.is_empty() => break,
            (Next::Logits(logits), None) => sampler.sample(logits),
            (Next::Logits(logits), Some(m)) => {
                // Tokens this one leaves for closing the value: the budget, and the context
                // unless it shifts.
                let mut left = if can_shift { usize::MAX } else { session.n_ctx().saturating_sub(session.pos() + 1) };
                if opts.num_predict >= 0 {
                    left = left.min((opts.num_predict as usize).saturating_sub(tokens.len() + 1));
                }
                let mut admitted = None;
                let picked = sampler.sample_where(logits, |id| {
                    admitted = m.admit(tok, id, left);
                    admitted.is_some()
                });
                // Nothing fits (a vocabulary without the bytes the value needs): give up here.
                let (Some(picked), Some(after)) = (picked, admitted) else { break };
                *m = after;
                picked
            }
        };
        if tok.is_eog(id) {
            done_reason = DoneReason::Stop;
            break;
        }
        tokens.push(id);
        sampler.accept(id);
        if let (Some(n), Next::Logits(logits)) = (opts.logprobs, &next) {
            logprobs.push(TokenLogprob::new(logits, id, n));
        }
        let closed = matcher.as_ref().is_some_and(Constraint::is_done);
        let step = stops.push(&decoder.push(tok, id));
        if !step.emit.is_empty() {
            let more = emit(&step.emit, &logprobs[sent..]);
            sent = logprobs.len();
            if !more {
                done_reason = DoneReason::Stop;
                break;
            }
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
            if !can_shift {
                break;
            }
            // Keep the first num_keep tokens (leaving room to drop some), drop half the rest.
            let n_ctx = session.n_ctx();
            let keep = opts.num_keep.min(n_ctx.saturating_sub(4)).min(sequence.len());
            let discard = (sequence.len() - keep) / 2;
            if discard == 0 {
                break;
            }
            sequence.drain(keep..keep + discard);
            sequence.push(id);
            // Refilled from position 0 in the same cache: its memory is already there.
            session.truncate(0);
            next = feed(session, &sequence)?;
            continue;
        }
        if known {
            sequence.push(id);
        }
        next = feed(session, &[id])?;
    }
    if !stopped {
        // Whatever was held back as a possible stop string's start, and any incomplete UTF-8.
        let step = stops.push(&decoder.finish());
        let mut rest = step.emit;
        if !step.stopped {
            rest.push_str(&stops.finish());
        }
        if !rest.is_empty() || sent < logprobs.len() {
            emit(&rest, &logprobs[sent..]);
        }
    }
    Ok(GenerateStats {
        prompt_tokens: prompt.len(),
        prompt_duration,
        eval_tokens: tokens.len(),
        eval_duration: t1.elapsed(),
        done_reason,
        tokens,
        sequence: known.then_some(sequence),
        logprobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_are_the_log_softmax_with_the_best_alternatives() {
        let logits = [1.0f32, 3.0, 2.0, f32::NAN];
        let z: f32 = [1.0f32, 3.0, 2.0].iter().map(|l| l.exp()).sum();
        let t = TokenLogprob::new(&logits, 2, 2);
        assert!((t.logprob - (2f32.exp() / z).ln()).abs() < 1e-5);
        assert_eq!(t.top.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2]);
        assert!((t.top[0].1 - (3f32.exp() / z).ln()).abs() < 1e-5);
        assert!(TokenLogprob::new(&logits, 0, 0).top.is_empty());
    }

    #[test]
    fn a_grammar_is_checked_and_excludes_format() {
        let with = |format: Option<Format>, grammar: &str| GenerateOptions {
            format,
            grammar: Some(grammar.to_string()),
            ..GenerateOptions::default()
        };
        assert!(matches!(Constraint::new(&with(None, "root ::= \"a\"")), Ok(Some(Constraint::Grammar(_)))));
        let Err(ModelError::BadHparam { key, reason }) = Constraint::new(&with(Some(Format::Json), "root ::= \"a\""))
        else {
            panic!("format and grammar together must be refused")
        };
        assert_eq!((key.as_str(), reason.as_str()), ("grammar", "format and grammar cannot both be set"));
        let Err(ModelError::BadHparam { reason, .. }) = Constraint::new(&with(None, "root ::= \"a\"\nx ::= y")) else {
            panic!("an undefined rule must be refused")
        };
        assert_eq!(reason, "2:7: rule `y` is used but never defined");
    }
}
