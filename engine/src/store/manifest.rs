//! Manifests (Docker image manifest schema 2 with Ollama's media types) and the model config
//! blob they point to.
//!
//! A [`Manifest`] lists a config [`Layer`] and the content layers (GGUF weights, template,
//! system prompt, parameters, ...), each by digest and size. [`ModelConfig`] is the JSON in
//! the config blob. Both serialize the way Ollama's Go code does ([`go_json`]): fields in Go's
//! struct order, `<`, `>`, `&` escaped, a trailing newline, so a model created here has the
//! bytes (and digests) Ollama would give it. Reading is lenient about what Ollama may add
//! (unknown fields are ignored) and strict about what makes paths (every digest is validated).

use serde::{Deserialize, Deserializer, Serialize};

use super::digest::Digest;

/// The manifest's own media type.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The config layer's media type.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// GGUF weights.
pub const MEDIA_TYPE_MODEL: &str = "application/vnd.ollama.image.model";
/// A LoRA adapter (GGUF).
pub const MEDIA_TYPE_ADAPTER: &str = "application/vnd.ollama.image.adapter";
/// A vision/audio projector (GGUF).
pub const MEDIA_TYPE_PROJECTOR: &str = "application/vnd.ollama.image.projector";
/// The Go prompt template.
pub const MEDIA_TYPE_TEMPLATE: &str = "application/vnd.ollama.image.template";
/// The template's legacy name, still found in old stores.
pub const MEDIA_TYPE_PROMPT: &str = "application/vnd.ollama.image.prompt";
/// The system prompt.
pub const MEDIA_TYPE_SYSTEM: &str = "application/vnd.ollama.image.system";
/// Default options as a JSON object (`stop` is an array).
pub const MEDIA_TYPE_PARAMS: &str = "application/vnd.ollama.image.params";
/// A license text; a manifest may hold several.
pub const MEDIA_TYPE_LICENSE: &str = "application/vnd.ollama.image.license";
/// Messages prepended to every chat, as a JSON array.
pub const MEDIA_TYPE_MESSAGES: &str = "application/vnd.ollama.image.messages";
/// Embeddings of old models; ignored.
pub const MEDIA_TYPE_EMBED: &str = "application/vnd.ollama.image.embed";

/// Most bytes a manifest file may have. Real ones are about 1 KiB; MLX models with a layer
/// per tensor reach a few hundred KiB.
pub const MAX_MANIFEST_BYTES: u64 = 8 << 20;
/// Most layers in one manifest.
pub const MAX_LAYERS: usize = 65_536;
/// Most bytes a config blob may have.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// One blob a manifest references.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// The model (or file) this layer was taken from; Go's `omitempty`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// Tensor name of per-tensor layers (newer MLX models); Go's `omitempty`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl Layer {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Layer {
        Layer { media_type: media_type.to_string(), digest, size, from: String::new(), name: String::new() }
    }
}

/// A schema-2 manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Layer,
    #[serde(deserialize_with = "null_as_empty")]
    pub layers: Vec<Layer>,
}

impl Manifest {
    /// A schema-2 manifest of Ollama's media type.
    pub fn new(config: Layer, layers: Vec<Layer>) -> Manifest {
        Manifest { schema_version: 2, media_type: MEDIA_TYPE_MANIFEST.to_string(), config, layers }
    }

    /// Parses manifest bytes, checking the limits and the schema version; the error is a
    /// reason for the caller to attach to the file's path.
    pub fn from_bytes(bytes: &[u8]) -> Result<Manifest, String> {
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(format!("{} bytes, over the limit of {MAX_MANIFEST_BYTES}", bytes.len()));
        }
        // The layer cap is checked after parsing; the byte cap above already bounds the work.
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if m.schema_version != 2 {
            return Err(format!("unsupported schemaVersion {}", m.schema_version));
        }
        if m.layers.len() > MAX_LAYERS {
            return Err(format!("{} layers, over the limit of {MAX_LAYERS}", m.layers.len()));
        }
        Ok(m)
    }

    /// The bytes Ollama writes for this manifest.
    pub fn to_bytes(&self) -> Vec<u8> {
        go_json(self)
    }

    /// Config plus layers, in bytes: what `/api/tags` reports as `size`.
    pub fn total_size(&self) -> u64 {
        self.layers.iter().fold(self.config.size, |acc, l| acc.saturating_add(l.size))
    }

    /// Every digest the manifest references: the config first, then the layers in order.
    pub fn digests(&self) -> impl Iterator<Item = &Digest> {
        std::iter::once(&self.config.digest).chain(self.layers.iter().map(|l| &l.digest))
    }

    /// The layers of one media type, in order.
    pub fn layers_of<'a>(&'a self, media_type: &'a str) -> impl Iterator<Item = &'a Layer> + 'a {
        self.layers.iter().filter(move |l| l.media_type == media_type)
    }

    /// The GGUF weights layer (the first, as Ollama takes it).
    pub fn model_layer(&self) -> Option<&Layer> {
        self.layers_of(MEDIA_TYPE_MODEL).next()
    }

    /// The template layer, under its current or its legacy (`.prompt`) media type.
    pub fn template_layer(&self) -> Option<&Layer> {
        self.layers.iter().find(|l| l.media_type == MEDIA_TYPE_TEMPLATE || l.media_type == MEDIA_TYPE_PROMPT)
    }
}

/// The container image "rootfs" Ollama kept for the Docker spec: the layers' digests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub diff_ids: Vec<String>,
}

/// The config blob: what `/api/tags` and `/api/show` report as a model's details.
/// Field order is Ollama's `ConfigV2`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    #[serde(default)]
    pub model_format: String,
    #[serde(default)]
    pub model_family: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub model_families: Vec<String>,
    /// The parameter size, e.g. `134.52M` (shown as `parameter_size`).
    #[serde(default)]
    pub model_type: String,
    /// The quantization, e.g. `Q4_K_M` (shown as `quantization_level`).
    #[serde(default)]
    pub file_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub renderer: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parser: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requires: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub rootfs: RootFs,
}

impl ModelConfig {
    /// Parses a config blob; registries and newer Ollama versions add fields, which are ignored.
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelConfig, String> {
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(format!("{} bytes, over the limit of {MAX_CONFIG_BYTES}", bytes.len()));
        }
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// The bytes Ollama writes for this config.
    pub fn to_bytes(&self) -> Vec<u8> {
        go_json(self)
    }
}

/// Go writes a nil slice as `null`; read it as empty.
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Serializes as Go's `json.NewEncoder(w).Encode(v)` does: compact, with `<`, `>`, `&`, U+2028
/// and U+2029 escaped, and a newline at the end. Those characters can only occur inside JSON
/// strings, so replacing them in serde_json's output is exact.
pub fn go_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing these plain data types cannot fail (no maps with non-string keys).
    let s = serde_json::to_string(value).unwrap_or_default();
    let mut out = String::with_capacity(s.len() + 1);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa";
    const B: &str = "sha256:4fa551d4f938f68b8c1e6afa9d28befb70e3f33f75d0753248d530364aeea40f";
    const C: &str = "sha256:8ab4849b038cf0abc5b1c9b8ee1443dca6b93a045c2272180d985126eb40bf6f";
    const D: &str = "sha256:577073ffcc6ce95b9981eacc77d1039568639e5638e83044994560d9ef82ce1b";
    const E: &str = "sha256:3f8eb4da87fa7a3c9da615036b0dc418d31fef2a30b115ff33562588b32c691d";

    /// A manifest byte for byte as `ollama pull llama3` wrote it (registry JSON, no newline).
    fn ollama_manifest() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{D}","size":485}},"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"{A}","size":4661211424}},{{"mediaType":"application/vnd.ollama.image.license","digest":"{B}","size":12403}},{{"mediaType":"application/vnd.ollama.image.template","digest":"{C}","size":254}},{{"mediaType":"application/vnd.ollama.image.params","digest":"{E}","size":110}}]}}"#
        )
    }

    #[test]
    fn ollama_manifest_round_trips_byte_for_byte() {
        let text = ollama_manifest();
        let m = Manifest::from_bytes(text.as_bytes()).unwrap();
        assert_eq!(m.schema_version, 2);
        assert_eq!(m.media_type, MEDIA_TYPE_MANIFEST);
        assert_eq!(m.config.media_type, MEDIA_TYPE_CONFIG);
        assert_eq!(m.config.digest.to_string(), D);
        assert_eq!(m.layers.len(), 4);
        assert_eq!(m.model_layer().unwrap().size, 4_661_211_424);
        assert_eq!(m.template_layer().unwrap().digest.to_string(), C);
        assert_eq!(m.layers_of(MEDIA_TYPE_LICENSE).count(), 1);
        assert_eq!(m.total_size(), 485 + 4_661_211_424 + 12403 + 254 + 110);
        assert_eq!(m.digests().count(), 5);
        // Ollama's encoder adds only the trailing newline.
        assert_eq!(m.to_bytes(), format!("{text}\n").into_bytes());
    }

    #[test]
    fn legacy_and_extended_manifests_are_read() {
        // A `.prompt` template layer, a `from` field, Go's null layers and newer fields.
        let text = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_MANIFEST}","runner":"ollama","config":{{"mediaType":"{MEDIA_TYPE_CONFIG}","digest":"{D}","size":1}},"layers":[{{"mediaType":"{MEDIA_TYPE_PROMPT}","digest":"{C}","size":2,"from":"x"}}]}}"#
        );
        let m = Manifest::from_bytes(text.as_bytes()).unwrap();
        assert_eq!(m.template_layer().unwrap().from, "x");
        let nulls = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{MEDIA_TYPE_CONFIG}","digest":"{D}","size":1}},"layers":null}}"#
        );
        assert!(Manifest::from_bytes(nulls.as_bytes()).unwrap().layers.is_empty());
    }

    #[test]
    fn hostile_manifests_are_errors() {
        let traversal = ollama_manifest().replace(A, "sha256:../../../../tmp/owned");
        let bad = [
            String::new(),
            "null".into(),
            "[]".into(),
            "{".into(),
            "\u{0}".into(),
            traversal,
            ollama_manifest().replace("\"schemaVersion\":2", "\"schemaVersion\":1"),
            ollama_manifest().replace("4661211424", "-1"),
            ollama_manifest().replace("4661211424", "1e400"),
            ollama_manifest().replace("\"config\"", "\"konfig\""),
            format!("{}{}", ollama_manifest(), " ".repeat(9_000_000)),
        ];
        for b in &bad {
            assert!(Manifest::from_bytes(b.as_bytes()).is_err(), "{:?}", &b[..b.len().min(80)]);
        }
    }

    #[test]
    fn config_blob_round_trips_in_ollama_shape() {
        let text = r#"{"model_format":"gguf","model_family":"llama","model_families":["llama"],"model_type":"8.0B","file_type":"Q4_0","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:6a07","sha256:4fa5"]}}"#;
        let c = ModelConfig::from_bytes(text.as_bytes()).unwrap();
        assert_eq!((c.model_family.as_str(), c.model_type.as_str(), c.file_type.as_str()), ("llama", "8.0B", "Q4_0"));
        assert_eq!(c.to_bytes(), format!("{text}\n").into_bytes());
        // Newer Ollama drops the Docker fields and adds others; Go nils are null.
        let newer = r#"{"model_format":"gguf","model_family":"qwen3","model_families":null,"model_type":"4.0B","file_type":"Q4_K_M","renderer":"qwen3","capabilities":["completion"],"context_length":40960}"#;
        let c = ModelConfig::from_bytes(newer.as_bytes()).unwrap();
        assert_eq!(c.renderer, "qwen3");
        assert!(c.model_families.is_empty());
        assert!(ModelConfig::from_bytes(b"[1]").is_err());
    }

    #[test]
    fn go_json_escapes_like_go() {
        let v = serde_json::json!({"stop": ["<|im_end|>", "a&b", "\u{2028}"]});
        assert_eq!(
            String::from_utf8(go_json(&v)).unwrap(),
            "{\"stop\":[\"\\u003c|im_end|\\u003e\",\"a\\u0026b\",\"\\u2028\"]}\n"
        );
    }
}
