//! Building a model: the pieces `/api/create` is made of.
//!
//! A [`ModelBuilder`] collects layers (GGUF weights copied into the store while hashed, text
//! layers for template, system prompt, license, parameters and messages), derives the config
//! blob from the GGUF metadata, and writes the manifest last, so a model appears complete or
//! not at all. Progress goes to a callback as the status strings Ollama streams. Every blob
//! the builder writes or reuses is pinned until it is dropped, so a concurrent delete or prune
//! cannot collect a layer between its creation and the manifest that references it.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::manifest::*;
use super::{Digest, Name, Store, StoreError};
use crate::gguf::GgufFile;

/// Most bytes read back from an existing params layer when merging.
const MAX_PARAMS_BYTES: u64 = 1 << 20;

/// A message layer entry, serialized with Ollama's field order (`role`, then `content`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// Assembles a model's layers and config, then writes its manifest.
pub struct ModelBuilder<'s> {
    store: &'s Store,
    layers: Vec<Layer>,
    config: ModelConfig,
    /// Blobs this builder added to the store (reported as `writing layer`); the others were
    /// already there (`using already created layer`).
    created: HashSet<Digest>,
    pins: Vec<Digest>,
}

impl<'s> ModelBuilder<'s> {
    /// An empty model.
    pub fn new(store: &'s Store) -> ModelBuilder<'s> {
        ModelBuilder {
            store,
            layers: Vec::new(),
            config: ModelConfig::default(),
            created: HashSet::new(),
            pins: Vec::new(),
        }
    }

    /// A model that starts as a copy of an existing one (`FROM <model>`): its layers and config.
    pub fn from_model(store: &'s Store, name: &Name) -> Result<ModelBuilder<'s>, StoreError> {
        let manifest = store.manifest(name)?;
        let mut b = ModelBuilder::new(store);
        for d in manifest.digests() {
            b.pin(d.clone());
        }
        b.config = store.read_config(&manifest)?;
        b.layers = manifest.layers;
        Ok(b)
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    /// For settings the GGUF does not determine (`renderer`, `parser`, `requires`).
    pub fn config_mut(&mut self) -> &mut ModelConfig {
        &mut self.config
    }

    /// Adds a GGUF file from disk (`FROM ./model.gguf`): checks that it parses and is not an
    /// adapter, copies it into the store while hashing, and takes the config from its metadata.
    pub fn add_gguf_file(&mut self, path: &Path, progress: &mut dyn FnMut(&str)) -> Result<Layer, StoreError> {
        progress("creating model layer");
        let gguf = GgufFile::open(path)?;
        gguf_kind(&gguf)?;
        let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
        let w = self.store.write_blob(None, file, Some(path), true)?;
        self.pins.push(w.digest.clone());
        if !w.existed {
            self.created.insert(w.digest.clone());
        }
        self.add_gguf(&gguf, w.digest, w.size)
    }

    /// Adds a GGUF blob already in the store (uploaded through `/api/blobs`, or `FROM
    /// sha256:...`).
    pub fn add_gguf_blob(&mut self, digest: &Digest, progress: &mut dyn FnMut(&str)) -> Result<Layer, StoreError> {
        progress("parsing GGUF");
        self.pin(digest.clone());
        let size = self.store.blob_size(digest)?.ok_or_else(|| StoreError::BlobNotFound(digest.clone()))?;
        let gguf = GgufFile::open(self.store.blob_path(digest))?;
        self.add_gguf(&gguf, digest.clone(), size)
    }

    fn add_gguf(&mut self, gguf: &GgufFile, digest: Digest, size: u64) -> Result<Layer, StoreError> {
        let kind = gguf_kind(gguf)?;
        let arch = gguf.get_str("general.architecture").ok().flatten().unwrap_or("unknown").to_string();
        let projector = matches!(kind, "projector" | "mmproj") || arch == "clip";
        let media_type = if projector { MEDIA_TYPE_PROJECTOR } else { MEDIA_TYPE_MODEL };
        if projector {
            push_unique(&mut self.config.model_families, &arch);
        } else {
            // New weights replace the base model's, and with them everything derived from them.
            self.layers.retain(|l| l.media_type != MEDIA_TYPE_MODEL);
            self.config.model_format = "gguf".into();
            self.config.model_family = arch.clone();
            self.config.model_families = vec![arch];
            self.config.model_type = parameter_size(gguf);
            self.config.file_type = file_type(gguf);
        }
        let layer = Layer::new(media_type, digest, size);
        self.layers.push(layer.clone());
        Ok(layer)
    }

    /// Sets the prompt template, replacing the base model's (under either media type).
    pub fn set_template(&mut self, template: &str, progress: &mut dyn FnMut(&str)) -> Result<Layer, StoreError> {
        progress("creating template layer");
        self.layers.retain(|l| l.media_type != MEDIA_TYPE_PROMPT);
        self.replace_layer(MEDIA_TYPE_TEMPLATE, template.as_bytes())
    }

    /// Sets the system prompt, replacing the base model's.
    pub fn set_system(&mut self, system: &str, progress: &mut dyn FnMut(&str)) -> Result<Layer, StoreError> {
        progress("creating system layer");
        self.replace_layer(MEDIA_TYPE_SYSTEM, system.as_bytes())
    }

    /// Adds a license; licenses accumulate, as in Ollama.
    pub fn add_license(&mut self, license: &str, progress: &mut dyn FnMut(&str)) -> Result<Layer, StoreError> {
        progress("creating license layer");
        let layer = self.blob_layer(MEDIA_TYPE_LICENSE, license.as_bytes())?;
        self.layers.push(layer.clone());
        Ok(layer)
    }

    /// Sets default options. Keys the base model has and `params` lacks are kept, as Ollama
    /// merges them; the layer is the merged object with sorted keys, as Go writes a map.
    pub fn set_parameters(
        &mut self,
        params: &serde_json::Map<String, serde_json::Value>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<Layer>, StoreError> {
        let mut merged: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for layer in self.layers.iter().filter(|l| l.media_type == MEDIA_TYPE_PARAMS) {
            let text = self.store.read_blob_string(&layer.digest, MAX_PARAMS_BYTES)?;
            let base: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
                .map_err(|e| StoreError::CorruptBlob { digest: layer.digest.clone(), reason: e.to_string() })?;
            merged.extend(base);
        }
        merged.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
        if merged.is_empty() {
            return Ok(None);
        }
        progress("creating parameters layer");
        self.replace_layer(MEDIA_TYPE_PARAMS, &go_json(&merged)).map(Some)
    }

    /// Sets the messages prepended to every chat, replacing the base model's.
    pub fn set_messages(&mut self, messages: &[Message], progress: &mut dyn FnMut(&str)) -> Result<Layer, StoreError> {
        progress("creating messages layer");
        self.replace_layer(MEDIA_TYPE_MESSAGES, &go_json(messages))
    }

    fn replace_layer(&mut self, media_type: &str, bytes: &[u8]) -> Result<Layer, StoreError> {
        let layer = self.blob_layer(media_type, bytes)?;
        self.layers.retain(|l| l.media_type != media_type);
        self.layers.push(layer.clone());
        Ok(layer)
    }

    fn blob_layer(&mut self, media_type: &str, bytes: &[u8]) -> Result<Layer, StoreError> {
        let w = self.store.write_blob(None, bytes, None, true)?;
        self.pins.push(w.digest.clone());
        if !w.existed {
            self.created.insert(w.digest.clone());
        }
        Ok(Layer::new(media_type, w.digest, w.size))
    }

    fn pin(&mut self, digest: Digest) {
        self.store.pin(&digest);
        self.pins.push(digest);
    }

    /// Writes the config blob and then the manifest under `name`, removes the blobs that only
    /// the replaced model (if any) used, and reports `success`. Returns the name written (an
    /// existing model's case wins) and the manifest's digest.
    pub fn write(mut self, name: &Name, progress: &mut dyn FnMut(&str)) -> Result<(Name, Digest), StoreError> {
        if !self.layers.iter().any(|l| l.media_type == MEDIA_TYPE_MODEL) {
            return Err(StoreError::InvalidInput("the model has no weights (no GGUF model layer)".into()));
        }
        progress("creating config layer");
        let mut config = self.config.clone();
        // Ollama fills in the Docker image fields the same way whatever the host.
        if config.architecture.is_empty() {
            config.architecture = "amd64".into();
        }
        if config.os.is_empty() {
            config.os = "linux".into();
        }
        config.rootfs =
            RootFs { kind: "layers".into(), diff_ids: self.layers.iter().map(|l| l.digest.to_string()).collect() };
        let config_layer = self.blob_layer(MEDIA_TYPE_CONFIG, &config.to_bytes())?;
        for layer in self.layers.iter().chain(std::iter::once(&config_layer)) {
            if self.created.contains(&layer.digest) {
                progress(&format!("writing layer {}", layer.digest));
            } else {
                progress(&format!("using already created layer {}", layer.digest));
            }
        }
        let manifest = Manifest::new(config_layer, std::mem::take(&mut self.layers));
        progress("writing manifest");
        let replaced = match self.store.resolve(name)? {
            Some(old) => self.store.manifest(&old).ok(),
            None => None,
        };
        let written = self.store.write_manifest(name, &manifest)?;
        if let Some(old) = replaced {
            let pins = self.store.lock_pins();
            // Our own pins are still held, so nothing the new manifest uses can go.
            self.store.remove_unreferenced(&pins, old.digests())?;
        }
        progress("success");
        Ok(written)
    }
}

impl Drop for ModelBuilder<'_> {
    fn drop(&mut self) {
        for d in &self.pins {
            self.store.unpin(d);
        }
    }
}

/// `general.type` (`model` when absent), refusing adapters, which are not weights.
fn gguf_kind(gguf: &GgufFile) -> Result<&str, StoreError> {
    let kind = gguf.get_str("general.type").ok().flatten().unwrap_or("model");
    if kind == "adapter" {
        return Err(StoreError::InvalidInput(
            "the GGUF file is a LoRA adapter, not a model (adapters are not supported yet)".into(),
        ));
    }
    Ok(kind)
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// The parameter size Ollama shows: the tensors' element count as [`human_number`] writes it
/// (SmolLM2-135M is `134.52M`). A file without tensors falls back to `general.size_label`.
fn parameter_size(gguf: &GgufFile) -> String {
    let count = gguf.tensors.iter().fold(0u64, |acc, t| acc.saturating_add(t.n_elements()));
    if count == 0 {
        if let Ok(Some(label)) = gguf.get_str("general.size_label") {
            return label.to_string();
        }
    }
    human_number(count)
}

/// The quantization name: `general.file_type` through llama.cpp's table, or, when the key is
/// absent, the type holding most of the weight bytes.
fn file_type(gguf: &GgufFile) -> String {
    if let Ok(Some(id)) = gguf.get_u64("general.file_type") {
        return file_type_name(id).to_string();
    }
    let mut bytes_by_type: BTreeMap<&'static str, u64> = BTreeMap::new();
    for t in gguf.tensors.iter().filter(|t| t.dims.len() >= 2) {
        *bytes_by_type.entry(t.ty.name()).or_insert(0) += t.size;
    }
    bytes_by_type.into_iter().max_by_key(|&(_, b)| b).map_or_else(|| "unknown".to_string(), |(n, _)| n.to_string())
}

/// llama.cpp's `llama_ftype` ids (`general.file_type`) by the names Ollama shows.
pub fn file_type_name(id: u64) -> &'static str {
    match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        4 => "Q4_1_F16",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        33 => "Q4_0_4_4",
        34 => "Q4_0_4_8",
        35 => "Q4_0_8_8",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4",
        _ => "unknown",
    }
}

/// Ollama's `format.HumanNumber`: `8.0B`, `134.52M`, `12K`, `999`.
pub fn human_number(n: u64) -> String {
    const THOUSAND: u64 = 1_000;
    const MILLION: u64 = 1_000_000;
    const BILLION: u64 = 1_000_000_000;
    let scaled = |unit: u64, decimals: usize, suffix: &str| {
        let x = n as f64 / unit as f64;
        if x == x.floor() {
            format!("{x:.0}{suffix}")
        } else {
            format!("{x:.decimals$}{suffix}")
        }
    };
    if n >= BILLION {
        scaled(BILLION, 1, "B")
    } else if n >= MILLION {
        scaled(MILLION, 2, "M")
    } else if n >= THOUSAND {
        format!("{:.0}K", n as f64 / THOUSAND as f64)
    } else {
        n.to_string()
    }
}

/// Checks a file name of `/api/create`'s `files` map as Ollama does (Go's `fs.ValidPath`,
/// plus no `\` or `:`): relative, `/`-separated, no empty, `.` or `..` element. The server
/// never reads a path a client names, but the name is echoed and used as a layer's `from`.
pub fn validate_create_file_path(path: &str) -> Result<(), StoreError> {
    let bad = path.is_empty()
        || path == "."
        || path.contains(['\\', ':', '\0'])
        || path.split('/').any(|el| el.is_empty() || el == "." || el == "..");
    if bad {
        return Err(StoreError::InvalidInput(format!(
            "file path must be relative: {}",
            super::digest::truncate_for_message(path)
        )));
    }
    Ok(())
}
