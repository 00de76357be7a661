//! `POST /api/create` (the current JSON form and the document's Modelfile form) and the
//! blob endpoints it relies on (`HEAD`/`POST /api/blobs/:digest`).

use std::path::{Path, PathBuf};

use rollama_engine::gguf::GgufFile;
use rollama_engine::modelfile::{Modelfile, Parameters};
use rollama_engine::store::{
    validate_create_file_path, Digest, Message, ModelBuilder, Name, StoreError, MEDIA_TYPE_TEMPLATE,
};
use rollama_engine::template;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::generate::str_field;
use super::http::{LineSink, Reply, Request};
use super::models::parse_name;
use super::AppState;

pub fn blob_exists(state: &AppState, digest: &str) -> Result<Reply, ApiError> {
    let d = Digest::parse(digest).map_err(|_| ApiError::bad_request(format!("invalid digest format {digest:?}")))?;
    if state.store.has_blob(&d) {
        Ok(Reply::Empty(200))
    } else {
        Err(ApiError::not_found(format!("blob \"{d}\" not found")))
    }
}

pub fn blob_upload(state: &AppState, req: &mut Request, digest: &str) -> Result<Reply, ApiError> {
    let d = Digest::parse(digest).map_err(|_| ApiError::bad_request(format!("invalid digest format {digest:?}")))?;
    if state.store.has_blob(&d) {
        // Ollama answers 200 for a blob it already has, without reading the body.
        return Ok(Reply::Empty(200));
    }
    let (reader, _len) = req.reader();
    state.store.write_blob_from_reader(Some(&d), reader)?;
    Ok(Reply::Empty(201))
}

/// What a create request asks for, whichever form it came in.
#[derive(Default)]
struct Plan {
    name: String,
    /// A GGUF on the server's disk (the Modelfile form's `FROM ./file.gguf`).
    from_path: Option<PathBuf>,
    /// A GGUF blob already uploaded.
    from_blob: Option<Digest>,
    /// An existing model to start from.
    from_model: Option<String>,
    template: Option<String>,
    system: Option<String>,
    parameters: Map<String, Value>,
    messages: Option<Vec<Message>>,
    licenses: Vec<String>,
}

pub fn create(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    let body = req.json()?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(true);
    let mut statuses: Vec<String> = Vec::new();
    let plan = if body.contains_key("modelfile") || body.contains_key("path") {
        statuses.push("parsing modelfile".into());
        plan_from_modelfile(&body)?
    } else {
        plan_from_json(&body)?
    };
    let name = parse_name(&plan.name)?;
    if plan.from_path.is_none() && plan.from_blob.is_none() && plan.from_model.is_none() {
        return Err(ApiError::bad_request("neither 'from' or 'files' was specified"));
    }
    let state = state.clone();
    let run = move |emit: &mut dyn FnMut(&str) -> bool| -> Result<(), ApiError> {
        for s in &statuses {
            emit(s);
        }
        execute(&state, &name, plan, &mut |s| {
            emit(s);
        })
    };
    if stream {
        Ok(Reply::Stream(Box::new(move |sink: &mut dyn LineSink| {
            let result = run(&mut |s| sink.send(&json!({ "status": s })));
            if let Err(e) = result {
                sink.send(&e.body());
            }
        })))
    } else {
        Ok(Reply::Later(Box::new(move || {
            let mut last = String::new();
            match run(&mut |s| {
                last = s.to_string();
                true
            }) {
                Ok(()) => Reply::Json(200, json!({ "status": last })),
                Err(e) => Reply::Json(e.status, e.body()),
            }
        })))
    }
}

/// The current form: `{model, from, files, template, system, parameters, messages, license}`.
fn plan_from_json(body: &Map<String, Value>) -> Result<Plan, ApiError> {
    let mut p = Plan {
        name: str_field(body, "model")?.or(str_field(body, "name")?).unwrap_or("").to_string(),
        ..Plan::default()
    };
    if let Some(from) = str_field(body, "from")?.filter(|f| !f.is_empty()) {
        match Digest::parse(from) {
            Ok(d) => p.from_blob = Some(d),
            Err(_) => p.from_model = Some(from.to_string()),
        }
    }
    if let Some(files) = body.get("files").filter(|v| !v.is_null()) {
        let files = files.as_object().ok_or_else(|| ApiError::bad_request("files must be an object"))?;
        for (file, digest) in files {
            validate_create_file_path(file)?;
            let digest = digest
                .as_str()
                .filter(|d| !d.is_empty())
                .ok_or_else(|| ApiError::bad_request("invalid digest format"))?;
            let d = Digest::parse(digest)?;
            if p.from_blob.replace(d).is_some() {
                return Err(ApiError::bad_request("only one GGUF file per model is supported (split GGUFs are not)"));
            }
        }
    }
    if body.get("adapters").and_then(Value::as_object).is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::bad_request("adapters are not supported yet"));
    }
    if body.get("quantize").or(body.get("quantization")).is_some_and(|q| !q.is_null() && q != "") {
        return Err(ApiError::bad_request("quantizing while creating is not supported yet"));
    }
    p.template = str_field(body, "template")?.map(str::to_string);
    p.system = str_field(body, "system")?.map(str::to_string);
    if let Some(params) = body.get("parameters").filter(|v| !v.is_null()) {
        let params = params.as_object().ok_or_else(|| ApiError::bad_request("parameters must be an object"))?;
        p.parameters = check_parameters(params)?;
    }
    if let Some(msgs) = body.get("messages").filter(|v| !v.is_null()) {
        let msgs: Vec<Message> =
            serde_json::from_value(msgs.clone()).map_err(|e| ApiError::bad_request(format!("messages: {e}")))?;
        p.messages = Some(msgs);
    }
    p.licenses = match body.get("license") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request("license must be a string or a list of strings"))?,
        Some(_) => return Err(ApiError::bad_request("license must be a string or a list of strings")),
    };
    Ok(p)
}

/// Parameters must have the right types; unknown keys are dropped, as Ollama drops them.
fn check_parameters(params: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let typed = Parameters::from_json(&Value::Object(params.clone())).map_err(ApiError::bad_request)?;
    match typed.to_json() {
        Value::Object(m) => Ok(m),
        _ => Ok(Map::new()),
    }
}

/// The document's form: `{name, modelfile, path}`. `FROM` names a GGUF path (relative to the
/// Modelfile's folder when `path` is given), a blob digest, or an existing model.
fn plan_from_modelfile(body: &Map<String, Value>) -> Result<Plan, ApiError> {
    let name = str_field(body, "model")?.or(str_field(body, "name")?).unwrap_or("").to_string();
    let path = str_field(body, "path")?.map(PathBuf::from);
    let text = match str_field(body, "modelfile")? {
        Some(t) => t.to_string(),
        None => {
            let p = path.as_ref().ok_or_else(|| ApiError::bad_request("modelfile or path is required"))?;
            std::fs::read_to_string(p).map_err(|e| ApiError::bad_request(format!("reading {}: {e}", p.display())))?
        }
    };
    let base_dir = path.as_deref().and_then(Path::parent).map(Path::to_path_buf);
    let mf = Modelfile::parse(&text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut p = Plan { name, ..Plan::default() };
    let from = mf.from().ok_or_else(|| ApiError::bad_request("no FROM line"))?;
    if let Ok(d) = Digest::parse(from) {
        p.from_blob = Some(d);
    } else {
        let expanded = expand_path(from, base_dir.as_deref());
        if expanded.is_file() {
            p.from_path = Some(expanded);
        } else {
            p.from_model = Some(from.to_string());
        }
    }
    if !mf.adapters().is_empty() {
        return Err(ApiError::bad_request("ADAPTER is not supported yet"));
    }
    p.template = mf.template().map(str::to_string);
    p.system = mf.system().map(str::to_string);
    p.licenses = mf.licenses().into_iter().map(str::to_string).collect();
    let params = mf.parameters().map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Value::Object(m) = params.to_json() {
        p.parameters = m;
    }
    let messages: Vec<Message> = mf
        .messages()
        .into_iter()
        .map(|(role, content)| Message { role: role.to_string(), content: content.to_string() })
        .collect();
    if !messages.is_empty() {
        p.messages = Some(messages);
    }
    Ok(p)
}

/// `~/x`, absolute paths as is, relative paths against the Modelfile's folder.
fn expand_path(from: &str, base: Option<&Path>) -> PathBuf {
    if let Some(rest) = from.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let p = PathBuf::from(from);
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    }
}

fn execute(state: &AppState, name: &Name, plan: Plan, emit: &mut dyn FnMut(&str)) -> Result<(), ApiError> {
    let store = &*state.store;
    let mut b = match &plan.from_model {
        Some(base) => {
            let base_name = Name::parse(base).map_err(|_| ApiError::bad_request("invalid model name"))?;
            ModelBuilder::from_model(store, &base_name).map_err(|e| match e {
                StoreError::ModelNotFound(_) => ApiError::bad_request(format!("base model '{base}' not found")),
                e => e.into(),
            })?
        }
        None => ModelBuilder::new(store),
    };
    let mut gguf_path = None;
    if let Some(path) = &plan.from_path {
        b.add_gguf_file(path, emit)?;
        gguf_path = Some(path.clone());
    }
    if let Some(d) = &plan.from_blob {
        b.add_gguf_blob(d, emit)?;
        gguf_path = Some(store.blob_path(d));
    }
    let mut parameters = plan.parameters.clone();
    let has_template = b.layers().iter().any(|l| l.media_type == MEDIA_TYPE_TEMPLATE);
    match (&plan.template, gguf_path) {
        (Some(t), _) => {
            template::Template::parse(t).map_err(|e| ApiError::bad_request(format!("template error: {e}")))?;
            b.set_template(t, emit)?;
        }
        // New weights without a template: pick one from the file's chat template, as Ollama does.
        (None, Some(path)) if !has_template => {
            let g = GgufFile::open(&path).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let jinja = g.get_str("tokenizer.chat_template").ok().flatten();
            let arch = g.get_str("general.architecture").ok().flatten();
            if let Some(d) = template::detect(jinja, arch) {
                emit(&format!("using autodetected template {}", d.name));
                b.set_template(d.template, emit)?;
                if let Some(defaults) = d.parameters.as_object() {
                    for (k, v) in defaults {
                        parameters.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(s) = &plan.system {
        b.set_system(s, emit)?;
    }
    for l in &plan.licenses {
        b.add_license(l, emit)?;
    }
    if !parameters.is_empty() {
        b.set_parameters(&parameters, emit)?;
    }
    if let Some(m) = &plan.messages {
        b.set_messages(m, emit)?;
    }
    b.write(name, emit)?;
    Ok(())
}
