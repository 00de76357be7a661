//! Generation options from JSON (request `options` and a model's params layer), with
//! Ollama's defaults and its merge order: defaults, then the model's parameters, then the
//! request. A known option of the wrong type is an error naming it; unknown ones are ignored
//! (Ollama logs and ignores them).

use rollama_engine::generate::GenerateOptions;
use rollama_engine::model::LoadOptions;
use rollama_engine::sampler::{ChainOptions, SamplerOptions};
use serde_json::{Map, Value};

use super::error::ApiError;

/// Everything the server reads from `options`.
#[derive(Debug, Clone)]
pub struct Options {
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    /// Negative: random.
    pub seed: i64,
    pub num_predict: i64,
    pub num_ctx: usize,
    pub num_thread: usize,
    /// RoPE overrides; 0 keeps the file's value (Ollama's and llama.cpp's "unset").
    pub rope_frequency_base: f32,
    pub rope_frequency_scale: f32,
    /// Layers on the GPU: 0 keeps the model on the CPU; any other value (Ollama's -1 default,
    /// or a count: there is no partial offload) puts all of it on the GPU when there is one.
    pub num_gpu: i64,
    pub stop: Vec<String>,
    /// Tokens kept at the start when the context shifts or a prompt is cut.
    pub num_keep: usize,
    /// Penalties, typical-p, min-p and mirostat (Ollama's defaults: all neutral).
    pub chain: ChainOptions,
    /// A GBNF grammar the output must match ("" is none); checked where the request is read.
    pub grammar: Option<String>,
}

/// The context length when neither the model nor the request sets one.
pub const DEFAULT_NUM_CTX: usize = 4096;

impl Default for Options {
    fn default() -> Self {
        Options {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.9,
            seed: -1,
            num_predict: -1,
            num_ctx: DEFAULT_NUM_CTX,
            num_thread: 0,
            rope_frequency_base: 0.0,
            rope_frequency_scale: 0.0,
            num_gpu: -1,
            stop: Vec::new(),
            num_keep: 4,
            chain: ChainOptions::default(),
            grammar: None,
        }
    }
}

/// The JSON type an option must have.
enum Kind {
    Int,
    Float,
    Bool,
    StringList,
    String,
}

/// Every option of the API document with its type; those without a field in [`Options`]
/// are accepted and ignored (see the README's option table): tfs_z (removed from
/// llama.cpp), penalize_newline (deprecated in Ollama), and the loading and memory knobs
/// (numa, num_batch, num_gqa, main_gpu, low_vram, f16_kv, logits_all, vocab_only,
/// use_mmap, use_mlock, embedding_only) that this engine decides for itself. num_gpu is
/// the number of layers on the GPU (see [`LoadOptions::gpu_layers`]).
/// rope_frequency_base/scale are load-time settings: a model is loaded again with them.
const KNOWN: &[(&str, Kind)] = &[
    ("num_keep", Kind::Int),
    ("seed", Kind::Int),
    ("num_predict", Kind::Int),
    ("top_k", Kind::Int),
    ("top_p", Kind::Float),
    ("min_p", Kind::Float),
    ("tfs_z", Kind::Float),
    ("typical_p", Kind::Float),
    ("repeat_last_n", Kind::Int),
    ("temperature", Kind::Float),
    ("repeat_penalty", Kind::Float),
    ("presence_penalty", Kind::Float),
    ("frequency_penalty", Kind::Float),
    ("mirostat", Kind::Int),
    ("mirostat_tau", Kind::Float),
    ("mirostat_eta", Kind::Float),
    ("penalize_newline", Kind::Bool),
    ("stop", Kind::StringList),
    ("numa", Kind::Bool),
    ("num_ctx", Kind::Int),
    ("num_batch", Kind::Int),
    ("num_gqa", Kind::Int),
    ("num_gpu", Kind::Int),
    ("main_gpu", Kind::Int),
    ("low_vram", Kind::Bool),
    ("f16_kv", Kind::Bool),
    ("logits_all", Kind::Bool),
    ("vocab_only", Kind::Bool),
    ("use_mmap", Kind::Bool),
    ("use_mlock", Kind::Bool),
    ("embedding_only", Kind::Bool),
    ("rope_frequency_base", Kind::Float),
    ("rope_frequency_scale", Kind::Float),
    ("num_thread", Kind::Int),
    ("grammar", Kind::String),
];

impl Options {
    /// The settings that decide how a model is loaded (a change loads another instance).
    pub fn load_options(&self) -> LoadOptions {
        let set = |v: f32| (v.is_finite() && v > 0.0).then_some(v);
        LoadOptions {
            rope_freq_base: set(self.rope_frequency_base),
            rope_freq_scale: set(self.rope_frequency_scale),
            // Negative (Ollama's default -1): as many as fit (`model::load_offloaded`).
            gpu_layers: usize::try_from(self.num_gpu).ok(),
        }
    }

    /// Applies one JSON map of options over these.
    pub fn apply(&mut self, map: &Map<String, Value>) -> Result<(), ApiError> {
        for (key, value) in map {
            let Some((_, kind)) = KNOWN.iter().find(|(k, _)| k == key) else { continue };
            let type_err = |t: &str| ApiError::bad_request(format!("option \"{key}\" must be of type {t}"));
            match kind {
                Kind::Int => {
                    // JSON numbers like 4.0 are accepted as integers, as Go's float64 decoding does.
                    let v = value.as_f64().filter(|f| f.fract() == 0.0).ok_or_else(|| type_err("integer"))?;
                    let v = v as i64;
                    match key.as_str() {
                        "seed" => self.seed = v,
                        "num_predict" => self.num_predict = v,
                        "top_k" => self.top_k = v.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                        "num_ctx" => {
                            self.num_ctx = usize::try_from(v)
                                .ok()
                                .filter(|&n| n > 0)
                                .ok_or_else(|| type_err("positive integer"))?
                        }
                        "num_thread" => self.num_thread = usize::try_from(v).unwrap_or(0),
                        "num_gpu" => self.num_gpu = v,
                        // A negative num_keep keeps nothing.
                        "num_keep" => self.num_keep = usize::try_from(v).unwrap_or(0),
                        "repeat_last_n" => self.chain.repeat_last_n = v.clamp(-1, i32::MAX as i64) as i32,
                        // Only 1 and 2 name a mirostat version; anything else is off, as in llama.cpp.
                        "mirostat" => self.chain.mirostat = if v == 1 || v == 2 { v as u8 } else { 0 },
                        _ => {}
                    }
                }
                Kind::Float => {
                    let v = value.as_f64().ok_or_else(|| type_err("float"))? as f32;
                    match key.as_str() {
                        "temperature" => self.temperature = v,
                        "top_p" => self.top_p = v,
                        "min_p" => self.chain.min_p = v,
                        "typical_p" => self.chain.typical_p = v,
                        "repeat_penalty" => self.chain.repeat_penalty = v,
                        "presence_penalty" => self.chain.presence_penalty = v,
                        "frequency_penalty" => self.chain.frequency_penalty = v,
                        "mirostat_tau" => self.chain.mirostat_tau = v,
                        "mirostat_eta" => self.chain.mirostat_eta = v,
                        "rope_frequency_base" => self.rope_frequency_base = v,
                        "rope_frequency_scale" => self.rope_frequency_scale = v,
                        _ => {}
                    }
                }
                Kind::Bool => {
                    value.as_bool().ok_or_else(|| type_err("boolean"))?;
                }
                Kind::StringList => {
                    let list = match value {
                        Value::String(s) => vec![s.clone()],
                        Value::Array(items) => items
                            .iter()
                            .map(|v| v.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| type_err("array of strings"))?,
                        _ => return Err(type_err("array of strings")),
                    };
                    self.stop = list;
                }
                Kind::String => {
                    let s = value.as_str().ok_or_else(|| type_err("string"))?;
                    // Only `grammar` is a string option.
                    self.grammar = (!s.is_empty()).then(|| s.to_string());
                }
            }
        }
        Ok(())
    }

    pub fn generate_options(&self) -> GenerateOptions {
        GenerateOptions {
            num_predict: self.num_predict,
            sampler: SamplerOptions {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                seed: u64::try_from(self.seed).ok(),
            },
            chain: self.chain.clone(),
            num_keep: self.num_keep,
            shift: true,
            logprobs: None,
            stop: self.stop.clone(),
            format: None,
            grammar: self.grammar.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn request_options_override_and_wrong_types_are_named() {
        let mut o = Options::default();
        o.apply(&map(
            json!({"temperature": 0, "num_predict": 12, "stop": ["\n"], "seed": 7, "mirostat": 0, "whatever": 1}),
        ))
        .unwrap();
        assert_eq!((o.temperature, o.num_predict, o.seed), (0.0, 12, 7));
        assert_eq!(o.stop, vec!["\n".to_string()]);
        let e = o.apply(&map(json!({"temperature": "hot"}))).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (400, "option \"temperature\" must be of type float"));
        let e = o.apply(&map(json!({"top_k": 1.5}))).unwrap_err();
        assert!(e.message.contains("top_k") && e.message.contains("integer"));
        assert!(o.apply(&map(json!({"use_mmap": 1}))).is_err());
        assert!(o.apply(&map(json!({"num_ctx": 0}))).is_err());
    }

    #[test]
    fn the_chain_options_reach_the_generation_options() {
        let mut o = Options::default();
        assert_eq!(o.generate_options().chain, ChainOptions::default());
        o.apply(&map(json!({
            "repeat_last_n": -1, "repeat_penalty": 1.3, "presence_penalty": 0.5, "frequency_penalty": 0.25,
            "typical_p": 0.7, "min_p": 0.05, "mirostat": 2, "mirostat_tau": 3.0, "mirostat_eta": 0.2, "num_keep": 8,
            "tfs_z": 0.9, "penalize_newline": true, "num_batch": 64, "rope_frequency_base": 10000.0
        })))
        .unwrap();
        let g = o.generate_options();
        let c = &g.chain;
        assert_eq!((c.repeat_last_n, c.repeat_penalty, c.presence_penalty, c.frequency_penalty), (-1, 1.3, 0.5, 0.25));
        assert_eq!((c.typical_p, c.min_p, c.mirostat, c.mirostat_tau, c.mirostat_eta), (0.7, 0.05, 2, 3.0, 0.2));
        assert_eq!(g.num_keep, 8);
        o.apply(&map(json!({"mirostat": 7}))).unwrap();
        assert_eq!(o.chain.mirostat, 0);
        assert!(o.apply(&map(json!({"penalize_newline": "yes"}))).is_err());
    }

    #[test]
    fn grammar_is_a_string_option() {
        let mut o = Options::default();
        o.apply(&map(json!({"grammar": "root ::= \"a\""}))).unwrap();
        assert_eq!(o.generate_options().grammar.as_deref(), Some("root ::= \"a\""));
        let e = o.apply(&map(json!({"grammar": 3}))).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (400, "option \"grammar\" must be of type string"));
        o.apply(&map(json!({"grammar": ""}))).unwrap();
        assert_eq!(o.grammar, None);
    }
}
