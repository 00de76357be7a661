//! Typed `PARAMETER` values: the option keys Ollama accepts (the JSON tags of `api.Options`
//! and `api.Runner`), their types, and [`Parameters`], which converts to and from the JSON
//! params layer (where `stop` is an array) and renders `/api/show`'s `parameters` text.

use super::Command;

/// The JSON type of each option key (api.Options and api.Runner json tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Int,
    Float,
    Bool,
    StringList,
}

pub const PARAMETERS: &[(&str, ParamKind)] = &[
    ("num_ctx", ParamKind::Int),
    ("num_batch", ParamKind::Int),
    ("num_gpu", ParamKind::Int),
    ("main_gpu", ParamKind::Int),
    ("use_mmap", ParamKind::Bool),
    ("num_thread", ParamKind::Int),
    ("num_keep", ParamKind::Int),
    ("seed", ParamKind::Int),
    ("num_predict", ParamKind::Int),
    ("draft_num_predict", ParamKind::Int),
    ("top_k", ParamKind::Int),
    ("top_p", ParamKind::Float),
    ("min_p", ParamKind::Float),
    ("typical_p", ParamKind::Float),
    ("repeat_last_n", ParamKind::Int),
    ("temperature", ParamKind::Float),
    ("repeat_penalty", ParamKind::Float),
    ("presence_penalty", ParamKind::Float),
    ("frequency_penalty", ParamKind::Float),
    ("stop", ParamKind::StringList),
];

/// Accepted but ignored, with a warning, as Ollama does.
pub const DEPRECATED: &[&str] = &[
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
];

pub fn param_kind(key: &str) -> Option<ParamKind> {
    PARAMETERS.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    /// Ollama parses options as float32; keeping f32 keeps `0.7` printing as `0.7`.
    Float(f32),
    Bool(bool),
    StringList(Vec<String>),
}

impl ParamValue {
    /// JSON as Ollama's params layer stores it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Int(i) => (*i).into(),
            ParamValue::Float(f) => {
                // Through the f32's shortest decimal form, so 0.7 stays 0.7 and not 0.699999988.
                let short: f64 = f.to_string().parse().unwrap_or(f64::from(*f));
                serde_json::Number::from_f64(short).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            ParamValue::Bool(b) => (*b).into(),
            ParamValue::StringList(v) => v.clone().into(),
        }
    }

    /// Each value as Go's `%v` writes it (one per stop word), for PARAMETER lines.
    pub fn to_args(&self) -> Vec<String> {
        match self {
            ParamValue::Int(i) => vec![i.to_string()],
            ParamValue::Float(f) => vec![go_float(*f)],
            ParamValue::Bool(b) => vec![b.to_string()],
            ParamValue::StringList(v) => v.clone(),
        }
    }

    /// Each value as Go's `%#v` writes it, for `/api/show`'s `parameters`.
    fn to_show(&self) -> Vec<String> {
        match self {
            ParamValue::StringList(v) => v.iter().map(|s| crate::template::go_quote(s)).collect(),
            other => other.to_args(),
        }
    }
}

/// Go's `%v` of a float decoded from JSON (float64): shortest digits, `e+06` style above 1e6.
fn go_float(f: f32) -> String {
    let short: f64 = f.to_string().parse().unwrap_or(f64::from(f));
    crate::template::format_float_g(short)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Types one PARAMETER value; errors name the key and echo Ollama's wording.
pub fn parse_param(key: &str, value: &str) -> Result<ParamValue, String> {
    let Some(kind) = param_kind(key) else {
        return Err(format!("unknown parameter '{key}'"));
    };
    let bad = |t: &str| format!("invalid {t} value [{value}] for parameter '{key}'");
    Ok(match kind {
        ParamKind::Int => ParamValue::Int(value.parse().map_err(|_| bad("int"))?),
        ParamKind::Float => {
            let f: f32 = value.parse().map_err(|_| bad("float"))?;
            if !f.is_finite() {
                return Err(bad("float"));
            }
            ParamValue::Float(f)
        }
        ParamKind::Bool => ParamValue::Bool(parse_bool(value).ok_or_else(|| bad("bool"))?),
        ParamKind::StringList => ParamValue::StringList(vec![value.to_string()]),
    })
}

/// Typed parameters in first-set order. `stop` accumulates; other keys keep the last value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parameters {
    entries: Vec<(String, ParamValue)>,
}

impl Parameters {
    pub fn get(&self, key: &str) -> Option<&ParamValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets a value; string lists (stop) append to what is there.
    pub fn set(&mut self, key: &str, v: ParamValue) {
        match (self.entries.iter_mut().find(|(k, _)| k == key), v) {
            (Some((_, ParamValue::StringList(old))), ParamValue::StringList(new)) => old.extend(new),
            (Some(slot), v) => slot.1 = v,
            (None, v) => self.entries.push((key.to_string(), v)),
        }
    }

    /// The params-layer JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.entries {
            m.insert(k.clone(), v.to_json());
        }
        serde_json::Value::Object(m)
    }

    /// Reads a params layer (or a request's `parameters`). Unknown keys are skipped, as
    /// Ollama's `Options.FromMap` does; a value of the wrong type is an error naming the key.
    pub fn from_json(v: &serde_json::Value) -> Result<Parameters, String> {
        let obj = v.as_object().ok_or("parameters must be a JSON object")?;
        let mut p = Parameters::default();
        for (k, v) in obj {
            let Some(kind) = param_kind(k) else { continue };
            let bad = |t: &str| format!("option \"{k}\" must be of type {t}");
            let pv = match kind {
                ParamKind::Int => match v.as_i64() {
                    Some(i) => ParamValue::Int(i),
                    None => match v.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => ParamValue::Int(f as i64),
                        _ => return Err(bad("integer")),
                    },
                },
                ParamKind::Float => ParamValue::Float(v.as_f64().ok_or_else(|| bad("float"))? as f32),
                ParamKind::Bool => ParamValue::Bool(v.as_bool().ok_or_else(|| bad("boolean"))?),
                ParamKind::StringList => match v {
                    serde_json::Value::String(s) => ParamValue::StringList(vec![s.clone()]),
                    serde_json::Value::Array(a) => ParamValue::StringList(
                        a.iter()
                            .map(|s| s.as_str().map(str::to_string).ok_or_else(|| bad("array of strings")))
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => return Err(bad("array of strings")),
                },
            };
            p.set(k, pv);
        }
        Ok(p)
    }

    /// PARAMETER commands (one per stop word), for a generated Modelfile.
    pub fn commands(&self) -> Vec<Command> {
        let mut out = Vec::new();
        for (k, v) in &self.entries {
            for a in v.to_args() {
                out.push(Command::new(k, &a));
            }
        }
        out
    }

    /// `/api/show`'s `parameters` text: key padded to 30 columns, then Go's `%#v`.
    pub fn show_text(&self) -> String {
        let mut lines = Vec::new();
        for (k, v) in &self.entries {
            for a in v.to_show() {
                lines.push(format!("{k:<30} {a}"));
            }
        }
        lines.join("\n")
    }
}
