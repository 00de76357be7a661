//! `POST /api/generate` and `POST /api/chat`: resolve the model, build the prompt, queue for
//! the model, then stream (or collect) the answer with Ollama's statistics.

use std::time::{Duration, Instant};

use rollama_engine::generate::{generate_with, GenerateStats, TokenLogprob};
use rollama_engine::grammar::Grammar;
use rollama_engine::json::Format;
use rollama_engine::tokenizer::Tokenizer;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::http::{LineSink, Reply, Request};
use super::models::Resolved;
use super::options::Options;
use super::{time, AppState};
use crate::sched::{KeepAlive, Lease};

/// Fields every inference request shares.
struct Common {
    resolved: Resolved,
    opts: Options,
    keep_alive: KeepAlive,
    stream: bool,
    format: Option<Format>,
    /// Whether a full context shifts (`shift`, default true) or ends generation.
    shift: bool,
    /// `logprobs: true` with its `top_logprobs` (0 to 20) alternatives.
    logprobs: Option<usize>,
}

/// Reads `model` (or its old name `name`), `options`, `keep_alive`, `stream`, `format`,
/// `grammar`, `shift`, `logprobs` and `top_logprobs`.
fn common(state: &AppState, body: &Map<String, Value>) -> Result<Common, ApiError> {
    let name = str_field(body, "model")?.or(str_field(body, "name")?).unwrap_or("");
    let mut resolved = state.resolve(name)?;
    let mut opts = Options::default();
    opts.apply(&resolved.params)?;
    if let Some(v) = body.get("options").filter(|v| !v.is_null()) {
        let map = v.as_object().ok_or_else(|| ApiError::bad_request("options must be an object"))?;
        opts.apply(map)?;
    }
    resolved.key.load = opts.load_options();
    let keep_alive = match body.get("keep_alive").filter(|v| !v.is_null()) {
        None => state.default_keep_alive,
        Some(v) => crate::sched::parse_keep_alive(v).map_err(ApiError::bad_request)?,
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("stream must be a boolean")),
    };
    let format = parse_format(body.get("format"))?;
    // A top-level `grammar` takes the place of `options.grammar`.
    if let Some(g) = str_field(body, "grammar")? {
        opts.grammar = (!g.is_empty()).then(|| g.to_string());
    }
    check_grammar(opts.grammar.as_deref(), format.is_some())?;
    let shift = match body.get("shift") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("shift must be a boolean")),
    };
    let logprobs = match body.get("logprobs") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("logprobs must be a boolean")),
    };
    let top_logprobs = match body.get("top_logprobs") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .filter(|&n| n <= 20)
            .ok_or_else(|| ApiError::bad_request("top_logprobs must be between 0 and 20"))? as usize,
    };
    let logprobs = logprobs.then_some(top_logprobs);
    Ok(Common { resolved, opts, keep_alive, stream, format, shift, logprobs })
}

/// `format`: absent, null or "" for none, "json" for any JSON object, or a JSON schema object.
/// The prompt is left as it is (as Ollama does); the format only constrains decoding. A schema
/// is compiled here so that one outside the supported subset is a 400 before any queueing.
fn parse_format(v: Option<&Value>) -> Result<Option<Format>, ApiError> {
    let format = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) if s == "json" => Format::Json,
        Some(Value::String(s)) => {
            return Err(ApiError::bad_request(format!(
                "invalid format {s:?}: expected \"json\" or a JSON schema object"
            )))
        }
        Some(schema @ Value::Object(_)) => Format::Schema(schema.clone()),
        Some(_) => return Err(ApiError::bad_request("invalid format: expected \"json\" or a JSON schema object")),
    };
    format.compile().map_err(|e| ApiError::bad_request(format!("invalid format: {e}")))?;
    Ok(Some(format))
}

/// A grammar is parsed here so that a bad one is a 400 naming its line and column before any
/// queueing. It cannot be combined with `format` (both would have to hold at once, which a
/// grammar can express by itself).
fn check_grammar(grammar: Option<&str>, with_format: bool) -> Result<(), ApiError> {
    let Some(g) = grammar else { return Ok(()) };
    if with_format {
        return Err(ApiError::bad_request("format and grammar cannot both be set"));
    }
    Grammar::parse(g).map_err(|e| ApiError::bad_request(format!("invalid grammar: {e}")))?;
    Ok(())
}

pub(super) fn str_field<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(format!("{key} must be a string"))),
    }
}

fn reject_images(body: &Map<String, Value>) -> Result<(), ApiError> {
    let has_images = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
    let in_messages = body
        .get("messages")
        .and_then(Value::as_array)
        .is_some_and(|ms| ms.iter().any(|m| m.get("images").is_some_and(has_images)));
    if body.get("images").is_some_and(has_images) || in_messages {
        return Err(ApiError::bad_request("this model does not support image input (it has no vision projector)"));
    }
    Ok(())
}

pub fn generate_route(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let c = common(state, &body)?;
    reject_images(&body)?;
    let prompt = str_field(&body, "prompt")?.unwrap_or("");
    let system = str_field(&body, "system")?;
    let template = str_field(&body, "template")?;
    let raw = body.get("raw").and_then(Value::as_bool).unwrap_or(false);
    let context: Vec<u32> = match body.get("context") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| ApiError::bad_request("context must be an array of token ids"))?,
    };
    if raw && (template.is_some() || system.is_some() || !context.is_empty()) {
        return Err(ApiError::bad_request("raw mode does not support template, system, or context"));
    }
    if prompt.is_empty() && context.is_empty() {
        return load_or_unload(state, c, false);
    }
    let text = if raw { prompt.to_string() } else { c.resolved.render_generate(template, system, prompt)? };
    let job = Job { state: state.clone(), c, text, context, chat: false, raw };
    Ok(job.reply())
}

pub fn chat_route(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let model_given = str_field(&body, "model")?.or(str_field(&body, "name")?).is_some_and(|m| !m.is_empty());
    if !model_given {
        return Err(ApiError::bad_request("model is required"));
    }
    let c = common(state, &body)?;
    reject_images(&body)?;
    if body.get("tools").and_then(Value::as_array).is_some_and(|t| !t.is_empty()) && !c.resolved.supports_tools() {
        return Err(ApiError::bad_request(format!("{} does not support tools", c.resolved.name)));
    }
    let messages = match body.get("messages") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ms)) => ms.clone(),
        Some(_) => return Err(ApiError::bad_request("messages must be an array")),
    };
    if messages.is_empty() {
        return load_or_unload(state, c, true);
    }
    let text = c.resolved.render_chat(str_field(&body, "template")?, &messages, body.get("tools"))?;
    let job = Job { state: state.clone(), c, text, context: Vec::new(), chat: true, raw: false };
    Ok(job.reply())
}

/// An empty prompt (or message list) loads the model, or with keep_alive 0 unloads it.
fn load_or_unload(state: &AppState, c: Common, chat: bool) -> Result<Reply, ApiError> {
    let name = c.resolved.name.clone();
    let reason = if c.keep_alive == KeepAlive::For(Duration::ZERO) {
        state.sched.unload(&c.resolved.key.id);
        "unload"
    } else {
        state.sched.preload(&c.resolved.key, c.keep_alive).map_err(ApiError::from)?;
        "load"
    };
    let mut v = json!({"model": name, "created_at": time::now(), "done": true, "done_reason": reason});
    if chat {
        v["message"] = json!({"role": "assistant", "content": ""});
    } else {
        v["response"] = json!("");
    }
    Ok(Reply::Json(200, v))
}

/// One generation, run on its own thread by the HTTP layer.
struct Job {
    state: AppState,
    c: Common,
    /// The rendered prompt text.
    text: String,
    /// Token ids of the conversation so far (generate's `context`).
    context: Vec<u32>,
    chat: bool,
    raw: bool,
}

impl Job {
    fn reply(self) -> Reply {
        if self.c.stream {
            Reply::Stream(Box::new(move |sink: &mut dyn LineSink| self.run_streamed(sink)))
        } else {
            Reply::Later(Box::new(move || self.run_collected()))
        }
    }

    fn chunk(&self, text: &str) -> Value {
        let mut v = json!({"model": self.c.resolved.name, "created_at": time::now()});
        if self.chat {
            v["message"] = json!({"role": "assistant", "content": text});
        } else {
            v["response"] = json!(text);
        }
        v["done"] = json!(false);
        v
    }

    fn run_streamed(self, sink: &mut dyn LineSink) {
        let result = self.run(&mut |piece, logprobs| {
            let mut v = self.chunk(piece);
            if self.c.logprobs.is_some() {
                v["logprobs"] = json!(logprobs);
            }
            sink.send(&v)
        });
        match result {
            Ok(done) => {
                sink.send(&done);
            }
            // After the 200 header, an error can only be a final line.
            Err(e) => {
                sink.send(&e.body());
            }
        }
    }

    fn run_collected(self) -> Reply {
        let mut text = String::new();
        let mut all_logprobs: Vec<Value> = Vec::new();
        match self.run(&mut |piece, logprobs| {
            text.push_str(piece);
            all_logprobs.extend_from_slice(logprobs);
            true
        }) {
            Ok(mut done) => {
                if self.c.logprobs.is_some() {
                    done["logprobs"] = json!(all_logprobs);
                }
                if self.chat {
                    done["message"]["content"] = json!(text);
                } else {
                    done["response"] = json!(text);
                }
                Reply::Json(200, done)
            }
            Err(e) => Reply::Json(e.status, e.body()),
        }
    }

    /// Queues for the model, generates, and returns the final object.
    /// `emit` gets each piece of text with the `logprobs` entries of its tokens (none unless
    /// the request asked for them).
    fn run(&self, emit: &mut dyn FnMut(&str, &[Value]) -> bool) -> Result<Value, ApiError> {
        let t0 = Instant::now();
        let loaded_before = self.state.sched.is_loaded(&self.c.resolved.key);
        let lease: Lease = self.state.sched.acquire(&self.c.resolved.key, self.c.keep_alive)?;
        let load_duration = if loaded_before { Duration::ZERO } else { t0.elapsed() };
        let model = &*lease.loaded.model;
        let tok = model.tokenizer();
        // BOS (where the model wants it) only at the start of a conversation.
        let mut tokens = self.context.clone();
        tokens.extend(tok.encode(&self.text, self.context.is_empty(), true));
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= model.hparams().n_vocab) {
            return Err(ApiError::bad_request(format!("context holds token id {bad}, outside the vocabulary")));
        }
        // No more than the model was trained for, as Ollama caps num_ctx: a larger cache
        // only costs memory (and a hostile num_ctx would size it without bound).
        let n_ctx = self.c.opts.num_ctx.min(model.hparams().n_ctx_train);
        let num_keep = self.c.opts.num_keep;
        // A prompt that does not fit (with room for one token) keeps its first num_keep tokens
        // and its end, as Ollama cuts it.
        if tokens.len() >= n_ctx {
            let keep = num_keep.min(n_ctx / 2);
            let drop = tokens.len() - (n_ctx - 1);
            tokens.drain(keep..keep + drop);
        }
        let (mut session, cached) = lease.session_for(&tokens, n_ctx)?;
        let mut gen_opts = self.c.opts.generate_options();
        gen_opts.format = self.c.format.clone();
        gen_opts.shift = self.c.shift;
        gen_opts.logprobs = self.c.logprobs;
        // -1 generates without limit (shifting the context), -2 until the context is full;
        // Ollama treats other negative values as -1.
        if gen_opts.num_predict < -2 {
            gen_opts.num_predict = -1;
        }
        // num_thread caps the pool's threads for this request (0: all of them).
        let mut stats: GenerateStats = rollama_kernels::with_thread_limit(self.c.opts.num_thread, || {
            generate_with(model, &mut session, &tokens[..cached], &tokens[cached..], &gen_opts, |p, lps| {
                emit(p, &logprobs_json(tok, lps))
            })
        })?;
        let held = stats.sequence.take();
        let mut all = tokens;
        all.extend(&stats.tokens);
        // After a context shift the session holds the shifted sequence, not `all`.
        lease.keep_session(session, held.unwrap_or_else(|| all.clone()));
        drop(lease);

        let ns = |d: Duration| d.as_nanos() as u64;
        let mut done = self.chunk("");
        done["done"] = json!(true);
        done["done_reason"] = json!(stats.done_reason.as_str());
        done["total_duration"] = json!(ns(t0.elapsed()));
        done["load_duration"] = json!(ns(load_duration));
        done["prompt_eval_count"] = json!(stats.prompt_tokens);
        done["prompt_eval_duration"] = json!(ns(stats.prompt_duration));
        done["eval_count"] = json!(stats.eval_tokens);
        done["eval_duration"] = json!(ns(stats.eval_duration));
        if !self.chat && !self.raw {
            done["context"] = json!(all);
        }
        Ok(done)
    }
}

/// Ollama's `logprobs` entries: `{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}`.
fn logprobs_json(tok: &Tokenizer, list: &[TokenLogprob]) -> Vec<Value> {
    let entry = |id: u32, logprob: f32| {
        let bytes = tok.token_bytes(id, true).into_owned();
        json!({"token": String::from_utf8_lossy(&bytes), "logprob": logprob, "bytes": bytes})
    };
    list.iter()
        .map(|t| {
            let mut v = entry(t.id, t.logprob);
            v["top_logprobs"] = t.top.iter().map(|&(id, lp)| entry(id, lp)).collect();
            v
        })
        .collect()
}

impl From<crate::sched::SchedError> for ApiError {
    fn from(e: crate::sched::SchedError) -> ApiError {
        match e {
            crate::sched::SchedError::Busy => ApiError::new(503, e.to_string()),
            crate::sched::SchedError::Load(m) => m.into(),
        }
    }
}
