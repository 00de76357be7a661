//! Models in the store: name resolution for inference, and the endpoints that list, show,
//! copy, delete and tokenize (`/api/tags`, `/api/ps`, `/api/show`, `/api/copy`,
//! `/api/delete`, `/api/tokenize`, `/api/detokenize`, `/api/embed`, `/api/embeddings`).

use std::sync::Arc;

use rollama_engine::gguf::{GgufFile, Value as GgufValue};
use rollama_engine::store::{
    ErrorClass, Manifest, ModelEntry, Name, StoreError, MEDIA_TYPE_LICENSE, MEDIA_TYPE_MESSAGES, MEDIA_TYPE_PARAMS,
    MEDIA_TYPE_SYSTEM,
};
use rollama_engine::template::{self, Template};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::generate::str_field;
use super::http::{Reply, Request};
use super::{time, AppState};
use crate::sched::ModelKey;

/// Largest template, system or params layer read back from the store.
const MAX_TEXT_LAYER: u64 = 1 << 20;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match e.class() {
            ErrorClass::BadRequest => 400,
            ErrorClass::NotFound => 404,
            ErrorClass::Internal => 500,
        };
        ApiError::new(status, e.to_string())
    }
}

/// A model ready for inference: where its weights are and how to prompt it.
pub struct Resolved {
    /// The name to report (`model:tag` for the default registry and namespace).
    pub name: String,
    pub key: ModelKey,
    pub template: Template,
    pub system: Option<String>,
    pub params: Map<String, Value>,
    pub messages: Vec<template::Message>,
}

impl AppState {
    /// Finds a model by name (case-insensitively), with its template, system and params.
    pub fn resolve(&self, requested: &str) -> Result<Resolved, ApiError> {
        let name = parse_name(requested).map_err(|_| ApiError::model_not_found(requested))?;
        let entry = self.store.model(&name).map_err(|e| match e {
            StoreError::ModelNotFound(_) => ApiError::model_not_found(requested),
            e => e.into(),
        })?;
        let m = &entry.manifest;
        let model_layer =
            m.model_layer().ok_or_else(|| ApiError::internal(format!("model '{requested}' has no weights layer")))?;
        let template_src = match m.template_layer() {
            Some(l) => Some(self.store.read_blob_string(&l.digest, MAX_TEXT_LAYER)?),
            None => None,
        };
        let template = match template_src {
            Some(src) => Template::parse(&src).map_err(|e| ApiError::internal(format!("the model's template: {e}")))?,
            None => Template::default_template(),
        };
        let system = self.text_layer(m, MEDIA_TYPE_SYSTEM)?;
        let params = match self.text_layer(m, MEDIA_TYPE_PARAMS)? {
            None => Map::new(),
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("the model's parameters: {e}")))?
            }
        };
        let messages = match self.text_layer(m, MEDIA_TYPE_MESSAGES)? {
            None => Vec::new(),
            Some(text) => {
                let v: Vec<Value> = serde_json::from_str(&text)
                    .map_err(|e| ApiError::internal(format!("the model's messages: {e}")))?;
                v.iter().map(|m| message(m)).collect::<Result<_, _>>()?
            }
        };
        let display = entry.name.display_shortest();
        Ok(Resolved {
            key: ModelKey {
                id: entry.digest.hex().to_string(),
                name: display.clone(),
                path: self.store.blob_path(&model_layer.digest),
                load: Default::default(),
            },
            name: display,
            template,
            system,
            params,
            messages,
        })
    }

    fn text_layer(&self, m: &Manifest, media_type: &str) -> Result<Option<String>, ApiError> {
        match m.layers_of(media_type).last() {
            None => Ok(None),
            Some(l) => Ok(Some(self.store.read_blob_string(&l.digest, MAX_TEXT_LAYER)?)),
        }
    }
}

/// A model name from a request; Ollama's wording when it is malformed.
pub fn parse_name(s: &str) -> Result<Name, ApiError> {
    Name::parse(s).map_err(|_| ApiError::bad_request("invalid model name"))
}

/// One API message (`{role, content, images?, tool_calls?, ...}`) for the template.
pub fn message(v: &Value) -> Result<template::Message, ApiError> {
    let obj = v.as_object().ok_or_else(|| ApiError::bad_request("each message must be an object"))?;
    let text = |k: &str| -> Result<String, ApiError> { Ok(str_field(obj, k)?.unwrap_or("").to_string()) };
    let mut m = template::Message::new(&text("role")?.to_lowercase(), &text("content")?);
    m.thinking = text("thinking")?;
    m.tool_name = text("tool_name")?;
    m.tool_call_id = text("tool_call_id")?;
    if let Some(calls) = obj.get("tool_calls").and_then(Value::as_array) {
        for (i, c) in calls.iter().enumerate() {
            let f = &c["function"];
            m.tool_calls.push(template::ToolCall {
                id: c["id"].as_str().unwrap_or("").to_string(),
                index: f["index"].as_i64().unwrap_or(i as i64),
                name: f["name"].as_str().unwrap_or("").to_string(),
                arguments: template::Value::from_json(&f["arguments"]),
            });
        }
    }
    Ok(m)
}

impl Resolved {
    /// The prompt of `/api/generate`: the request's template and system override the model's.
    pub fn render_generate(
        &self,
        template: Option<&str>,
        system: Option<&str>,
        prompt: &str,
    ) -> Result<String, ApiError> {
        let t = self.template_or(template)?;
        let mut msgs = Vec::new();
        if let Some(s) = system.or(self.system.as_deref()).filter(|s| !s.is_empty()) {
            msgs.push(template::Message::new("system", s));
        }
        msgs.push(template::Message::new("user", prompt));
        template::render(&t, &template::Values { messages: &msgs, ..Default::default() })
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }

    /// The prompt of `/api/chat`: the model's MESSAGEs, then its SYSTEM unless the
    /// conversation brings one, then the conversation; a request's `template` overrides the
    /// model's.
    pub fn render_chat(
        &self,
        template: Option<&str>,
        messages: &[Value],
        tools: Option<&Value>,
    ) -> Result<String, ApiError> {
        let t = self.template_or(template)?;
        let mut all = self.messages.clone();
        for m in messages {
            all.push(message(m)?);
        }
        let tools = tools.filter(|t| !t.is_null()).map(template::Value::from_json);
        template::render_chat(&t, self.system.as_deref(), &all, tools.as_ref(), None)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }

    /// A request's template (a parse error is a 400 naming its position), or the model's.
    fn template_or(&self, template: Option<&str>) -> Result<Template, ApiError> {
        match template.filter(|t| !t.is_empty()) {
            Some(src) => Template::parse(src).map_err(|e| ApiError::bad_request(e.to_string())),
            None => Ok(self.template.clone()),
        }
    }

    pub fn supports_tools(&self) -> bool {
        self.template.uses("tools")
    }
}

fn details(state: &AppState, m: &Manifest) -> Value {
    let c = state.store.read_config(m).unwrap_or_default();
    json!({
        "parent_model": "",
        "format": if c.model_format.is_empty() { "gguf" } else { c.model_format.as_str() },
        "family": c.model_family,
        "families": if c.model_families.is_empty() { Value::Null } else { json!(c.model_families) },
        "parameter_size": c.model_type,
        "quantization_level": c.file_type,
    })
}

fn entry_json(state: &AppState, e: &ModelEntry) -> Value {
    let name = e.name.display_shortest();
    json!({
        "name": name,
        "model": name,
        "modified_at": time::rfc3339(e.modified_at),
        "size": e.size,
        "digest": e.digest.hex(),
        "details": details(state, &e.manifest),
    })
}

pub fn tags(state: &AppState) -> Result<Reply, ApiError> {
    let models: Vec<Value> = state.store.list()?.iter().map(|e| entry_json(state, e)).collect();
    Ok(Reply::Json(200, json!({ "models": models })))
}

pub fn ps(state: &AppState) -> Result<Reply, ApiError> {
    let mut models = Vec::new();
    for p in state.sched.ps() {
        let details = Name::parse(&p.key.name)
            .ok()
            .and_then(|n| state.store.manifest(&n).ok())
            .map_or(Value::Null, |m| details(state, &m));
        models.push(json!({
            "name": p.key.name,
            "model": p.key.name,
            "size": p.size,
            "digest": p.key.id,
            "details": details,
            "expires_at": p.expires_at.map_or_else(|| "2318-11-25T00:00:00.000000000Z".to_string(), time::rfc3339),
            "size_vram": p.size_vram,
            "context_length": p.context_length,
        }));
    }
    Ok(Reply::Json(200, json!({ "models": models })))
}

fn model_field(body: &Map<String, Value>) -> Result<String, ApiError> {
    let name = str_field(body, "model")?.or(str_field(body, "name")?).unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    Ok(name.to_string())
}

pub fn show(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let requested = model_field(&body)?;
    let verbose = body.get("verbose").and_then(Value::as_bool).unwrap_or(false);
    let name = parse_name(&requested)?;
    let entry = state.store.model(&name).map_err(|e| match e {
        StoreError::ModelNotFound(_) => ApiError::model_not_found(&requested),
        e => e.into(),
    })?;
    let r = state.resolve(&requested)?;
    let m = &entry.manifest;
    let licenses: Vec<String> = m
        .layers_of(MEDIA_TYPE_LICENSE)
        .map(|l| state.store.read_blob_string(&l.digest, MAX_TEXT_LAYER))
        .collect::<Result<_, _>>()?;
    let gguf = GgufFile::open(&r.key.path).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut model_info = Map::new();
    for (k, v) in &gguf.metadata {
        if k == "general.name" || k == "tokenizer.chat_template" {
            continue;
        }
        model_info.insert(k.clone(), gguf_json(v, verbose));
    }
    let template_src = r.template.source().to_string();
    let mut caps = vec!["completion"];
    if r.template.uses("tools") {
        caps.push("tools");
    }
    if r.template.uses("suffix") {
        caps.push("insert");
    }
    let v = json!({
        "license": licenses.join("\n"),
        "modelfile": modelfile_text(&entry.name, &r, &licenses),
        "parameters": parameters_text(&r.params),
        "template": template_src,
        "system": r.system.clone().unwrap_or_default(),
        "details": details(state, m),
        "messages": r.messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect::<Vec<_>>(),
        "model_info": model_info,
        "capabilities": caps,
        "modified_at": time::rfc3339(entry.modified_at),
    });
    Ok(Reply::Json(200, v))
}

/// GGUF metadata as JSON; without `verbose`, arrays longer than 5 become `[]` (as Ollama does).
fn gguf_json(v: &GgufValue, verbose: bool) -> Value {
    match v {
        GgufValue::Array { items, .. } if !verbose && items.len() > 5 => json!([]),
        GgufValue::Array { items, .. } => Value::Array(items.iter().map(|i| gguf_json(i, verbose)).collect()),
        GgufValue::String(s) => json!(s),
        GgufValue::Bool(b) => json!(b),
        GgufValue::F32(f) => json!(f),
        GgufValue::F64(f) => json!(f),
        other => other.as_i64().map_or_else(|| json!(other.as_u64()), |i| json!(i)),
    }
}

/// `/api/show`'s `parameters`: each key padded to 30 columns, then the value as Go's `%#v`
/// prints it (strings quoted), one line per value (`stop` repeats).
fn parameters_text(params: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let values = match &params[k] {
            Value::Array(items) => items.clone(),
            v => vec![v.clone()],
        };
        for v in values {
            let shown = match &v {
                Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
                other => other.to_string(),
            };
            out.push(format!("{k:<30} {shown}"));
        }
    }
    out.join("\n")
}

/// The Modelfile `/api/show` generates, in Ollama's layout.
fn modelfile_text(name: &Name, r: &Resolved, licenses: &[String]) -> String {
    let mut s = format!(
        "# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, replace FROM with:\n# FROM {}\n\nFROM {}\n",
        name.display_shortest(),
        r.key.path.display()
    );
    let src = r.template.source();
    if !src.is_empty() {
        s.push_str(&format!("TEMPLATE \"\"\"{src}\"\"\"\n"));
    }
    if let Some(sys) = &r.system {
        s.push_str(&format!("SYSTEM \"\"\"{sys}\"\"\"\n"));
    }
    for line in parameters_text(&r.params).lines() {
        let mut parts = line.splitn(2, ' ');
        let key = parts.next().unwrap_or("");
        let value = parts.next().unwrap_or("").trim();
        s.push_str(&format!("PARAMETER {key} {value}\n"));
    }
    for m in &r.messages {
        s.push_str(&format!("MESSAGE {} \"\"\"{}\"\"\"\n", m.role, m.content));
    }
    for l in licenses {
        s.push_str(&format!("LICENSE \"\"\"{l}\"\"\"\n"));
    }
    s
}

pub fn copy(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let src = str_field(&body, "source")?.unwrap_or("");
    let dst = str_field(&body, "destination")?.unwrap_or("");
    let dst_name = parse_name(dst)?;
    let src_name = Name::parse(src).map_err(|_| ApiError::not_found(format!("model \"{src}\" not found")))?;
    state.store.copy(&src_name, &dst_name).map_err(|e| match e {
        StoreError::ModelNotFound(_) => ApiError::not_found(format!("model \"{src}\" not found")),
        e => e.into(),
    })?;
    Ok(Reply::Empty(200))
}

pub fn delete(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let requested = model_field(&body)?;
    let name = Name::parse(&requested).map_err(|_| ApiError::model_not_found(&requested))?;
    if let Ok(entry) = state.store.model(&name) {
        state.sched.unload(entry.digest.hex());
    }
    state.store.delete(&name).map_err(|e| match e {
        StoreError::ModelNotFound(_) => ApiError::model_not_found(&requested),
        e => e.into(),
    })?;
    Ok(Reply::Empty(200))
}

/// The loaded model for tokenizer-only requests (no queueing behind generations).
fn loaded(state: &AppState, body: &Map<String, Value>) -> Result<Arc<crate::sched::Loaded>, ApiError> {
    let requested = model_field(body)?;
    let r = state.resolve(&requested)?;
    Ok(state.sched.model(&r.key)?)
}

pub fn tokenize(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let content = str_field(&body, "content")?.or(str_field(&body, "prompt")?).unwrap_or("").to_string();
    let m = loaded(state, &body)?;
    let tokens = m.model.tokenizer().encode(&content, false, true);
    Ok(Reply::Json(200, json!({ "model": m.key.name, "tokens": tokens })))
}

pub fn detokenize(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let tokens: Vec<u32> = match body.get("tokens") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| ApiError::bad_request("tokens must be an array of token ids"))?,
    };
    let m = loaded(state, &body)?;
    let tok = m.model.tokenizer();
    if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= tok.n_vocab()) {
        return Err(ApiError::bad_request(format!("token id {bad} is outside the vocabulary of {}", tok.n_vocab())));
    }
    Ok(Reply::Json(200, json!({ "model": m.key.name, "content": tok.decode(&tokens, false) })))
}

pub fn embed(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let inputs: Vec<String> = match body.get("input") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("invalid input type"))?,
        Some(_) => return Err(ApiError::bad_request("invalid input type")),
    };
    let truncate = body.get("truncate").and_then(Value::as_bool).unwrap_or(true);
    let dimensions = body.get("dimensions").and_then(Value::as_u64).map(|d| d as usize);
    let state = state.clone();
    let requested = model_field(&body)?;
    let r = state.resolve(&requested)?;
    Ok(Reply::Later(Box::new(move || {
        let t0 = std::time::Instant::now();
        let result = (|| -> Result<Value, ApiError> {
            let m = state.sched.model(&r.key)?;
            let mut vectors = Vec::new();
            let mut count = 0;
            for text in &inputs {
                let (mut v, n) = super::embed::embedding(&*m.model, text, truncate)?;
                count += n;
                if let Some(d) = dimensions.filter(|&d| d > 0 && d < v.len()) {
                    v.truncate(d);
                }
                super::embed::normalize(&mut v);
                vectors.push(v);
            }
            Ok(json!({
                "model": r.name,
                "embeddings": vectors,
                "total_duration": t0.elapsed().as_nanos() as u64,
                "load_duration": 0,
                "prompt_eval_count": count,
            }))
        })();
        match result {
            Ok(v) => Reply::Json(200, v),
            Err(e) => Reply::Json(e.status, e.body()),
        }
    })))
}

pub fn embeddings(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let requested = model_field(&body)?;
    let prompt = str_field(&body, "prompt")?.unwrap_or("").to_string();
    let state = state.clone();
    let r = state.resolve(&requested)?;
    Ok(Reply::Later(Box::new(move || {
        let result = (|| -> Result<Value, ApiError> {
            if prompt.is_empty() {
                return Ok(json!({ "embedding": [] }));
            }
            let m = state.sched.model(&r.key)?;
            let (v, _) = super::embed::embedding(&*m.model, &prompt, true)?;
            Ok(json!({ "embedding": v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>() }))
        })();
        match result {
            Ok(v) => Reply::Json(200, v),
            Err(e) => Reply::Json(e.status, e.body()),
        }
    })))
}
