//! Store tests on temporary directories: blobs, models created from tiny GGUF files, listing,
//! copying and deleting with shared blobs, garbage collection, and stores laid out exactly as
//! Ollama writes them, damaged ones included.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::*;
use crate::gguf::GgufWriter;

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rollama-store-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A tiny llama GGUF: 3 tensors, 4*8 + 8 + 4*8 = 72 parameters, file type Q4_1.
fn tiny_gguf(path: &Path, tweak: f32) {
    let mut w = GgufWriter::new();
    w.add_str("general.architecture", "llama")
        .add_str("general.name", "tiny")
        .add_str("general.size_label", "135M")
        .add_u32("general.file_type", 3)
        .add_u32("llama.block_count", 1);
    w.add_f32_tensor("token_embd.weight", &[8, 4], &[tweak; 32]).unwrap();
    w.add_f32_tensor("output_norm.weight", &[8], &[1.0; 8]).unwrap();
    w.add_f32_tensor("output.weight", &[8, 4], &[0.5; 32]).unwrap();
    w.write_file(path).unwrap();
}

/// Creates `model` from a tiny GGUF with the given system prompt; returns the statuses.
fn create(store: &Store, dir: &Path, model: &str, system: &str, tweak: f32) -> Vec<String> {
    let gguf = dir.join(format!("tiny-{tweak}.gguf"));
    tiny_gguf(&gguf, tweak);
    let mut statuses = Vec::new();
    let mut progress = |s: &str| statuses.push(s.to_string());
    let mut b = ModelBuilder::new(store);
    b.add_gguf_file(&gguf, &mut progress).unwrap();
    b.set_template("{{ .System }}<|user|>{{ .Prompt }}", &mut progress).unwrap();
    b.set_system(system, &mut progress).unwrap();
    let params = serde_json::json!({"stop": ["<|im_end|>"], "temperature": 0.7});
    b.set_parameters(params.as_object().unwrap(), &mut progress).unwrap();
    b.set_messages(&[Message { role: "user".into(), content: "hi".into() }], &mut progress).unwrap();
    b.add_license("MIT", &mut progress).unwrap();
    b.write(&name(model), &mut progress).unwrap();
    statuses
}

#[test]
fn blob_writes_verify_digests_and_leave_nothing_on_mismatch() {
    let dir = TempDir::new("blobs");
    let store = Store::open(&dir.0).unwrap();
    let data = b"hello blob".repeat(100_000);
    let digest = Digest::of_bytes(&data);

    let (d, n) = store.write_blob_from_reader(Some(&digest), &data[..]).unwrap();
    assert_eq!((d.clone(), n), (digest.clone(), data.len() as u64));
    assert!(store.has_blob(&digest));
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), data);
    assert_eq!(store.blob_path(&digest), dir.0.join("blobs").join(format!("sha256-{}", digest.hex())));
    // Writing it again is harmless.
    assert_eq!(store.write_blob_from_reader(None, &data[..]).unwrap().0, digest);

    let wrong = Digest::of_bytes(b"something else");
    let e = store.write_blob_from_reader(Some(&wrong), &b"other content"[..]).unwrap_err();
    assert!(matches!(&e, StoreError::DigestMismatch { expected, .. } if *expected == wrong), "{e}");
    assert!(e.to_string().starts_with("digest mismatch, expected \"sha256:"), "{e}");
    assert_eq!(e.class(), ErrorClass::BadRequest);
    assert!(!store.has_blob(&wrong));

    // A client that fails mid-upload leaves nothing either.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "gone"));
            }
            self.0 -= 1;
            buf[0] = 1;
            Ok(1)
        }
    }
    assert!(matches!(store.write_blob_from_reader(None, Failing(10)), Err(StoreError::Read(_))));
    assert_eq!(files(&dir.0), vec![format!("blobs/sha256-{}", digest.hex())]);
}

#[test]
fn create_from_a_tiny_gguf_writes_an_ollama_model() {
    let dir = TempDir::new("create");
    let store = Store::open(dir.0.join("models")).unwrap();
    let statuses = create(&store, &dir.0, "tiny", "You are terse.", 0.25);

    assert_eq!(
        statuses[..7],
        [
            "creating model layer",
            "creating template layer",
            "creating system layer",
            "creating parameters layer",
            "creating messages layer",
            "creating license layer",
            "creating config layer",
        ]
    );
    assert!(statuses[7..14].iter().all(|s| s.starts_with("writing layer sha256:")), "{statuses:?}");
    assert_eq!(statuses[14..], ["writing manifest", "success"]);

    let models = store.list().unwrap();
    assert_eq!(models.len(), 1);
    let m = &models[0];
    assert_eq!(m.name.display_shortest(), "tiny:latest");
    let path = store.manifest_path(&m.name);
    assert!(path.ends_with("manifests/registry.ollama.ai/library/tiny/latest"));
    let bytes = fs::read(&path).unwrap();
    assert_eq!(m.digest, Digest::of_bytes(&bytes));
    assert!(bytes.ends_with(b"}\n"), "Go's encoder ends with a newline");
    assert_eq!(m.size, m.manifest.layers.iter().map(|l| l.size).sum::<u64>() + m.manifest.config.size);

    let media: Vec<_> = m.manifest.layers.iter().map(|l| l.media_type.as_str()).collect();
    assert_eq!(
        media,
        [
            MEDIA_TYPE_MODEL,
            MEDIA_TYPE_TEMPLATE,
            MEDIA_TYPE_SYSTEM,
            MEDIA_TYPE_PARAMS,
            MEDIA_TYPE_MESSAGES,
            MEDIA_TYPE_LICENSE
        ]
    );
    let gguf_bytes = fs::read(dir.0.join("tiny-0.25.gguf")).unwrap();
    assert_eq!(m.manifest.model_layer().unwrap().digest, Digest::of_bytes(&gguf_bytes));
    let text = |mt: &str| store.read_blob_string(&m.manifest.layers_of(mt).next().unwrap().digest, 1 << 20).unwrap();
    assert_eq!(text(MEDIA_TYPE_SYSTEM), "You are terse.");
    assert_eq!(text(MEDIA_TYPE_PARAMS), "{\"stop\":[\"\\u003c|im_end|\\u003e\"],\"temperature\":0.7}\n");
    assert_eq!(text(MEDIA_TYPE_MESSAGES), "[{\"role\":\"user\",\"content\":\"hi\"}]\n");

    let config = store.read_config(&m.manifest).unwrap();
    assert_eq!(config.model_format, "gguf");
    assert_eq!(config.model_family, "llama");
    assert_eq!(config.model_families, ["llama"]);
    assert_eq!(config.model_type, "72");
    assert_eq!(config.file_type, "Q4_1");
    assert_eq!((config.architecture.as_str(), config.os.as_str()), ("amd64", "linux"));
    assert_eq!(config.rootfs.diff_ids.len(), 6);

    // Creating the same model again reuses every layer.
    let again = create(&store, &dir.0, "tiny", "You are terse.", 0.25);
    assert!(again[7..14].iter().all(|s| s.starts_with("using already created layer sha256:")), "{again:?}");
    assert_eq!(store.list().unwrap()[0].digest, m.digest);
}

#[test]
fn replacing_a_model_removes_layers_only_it_used() {
    let dir = TempDir::new("replace");
    let store = Store::open(dir.0.join("models")).unwrap();
    create(&store, &dir.0, "a", "one", 0.25);
    create(&store, &dir.0, "b", "shared", 0.25);
    let old = store.manifest(&name("a")).unwrap();
    let old_system = old.layers_of(MEDIA_TYPE_SYSTEM).next().unwrap().digest.clone();
    create(&store, &dir.0, "a", "two", 0.25);
    assert!(!store.has_blob(&old_system), "the replaced system prompt is unreferenced");
    for d in store.manifest(&name("a")).unwrap().digests().chain(store.manifest(&name("b")).unwrap().digests()) {
        assert!(store.has_blob(d));
    }
}

#[test]
fn from_model_inherits_and_overrides() {
    let dir = TempDir::new("from");
    let store = Store::open(dir.0.join("models")).unwrap();
    create(&store, &dir.0, "base", "base system", 0.25);
    let mut b = ModelBuilder::from_model(&store, &name("BASE")).unwrap();
    let mut statuses = Vec::new();
    let mut progress = |s: &str| statuses.push(s.to_string());
    b.set_system("derived", &mut progress).unwrap();
    let params = serde_json::json!({"temperature": 0.1, "num_ctx": 512});
    b.set_parameters(params.as_object().unwrap(), &mut progress).unwrap();
    b.write(&name("user/derived:v1"), &mut progress).unwrap();

    let m = store.manifest(&name("user/derived:v1")).unwrap();
    assert_eq!(m.layers_of(MEDIA_TYPE_SYSTEM).count(), 1);
    let text = |mt: &str| store.read_blob_string(&m.layers_of(mt).next().unwrap().digest, 1 << 20).unwrap();
    assert_eq!(text(MEDIA_TYPE_SYSTEM), "derived");
    assert_eq!(
        text(MEDIA_TYPE_PARAMS),
        "{\"num_ctx\":512,\"stop\":[\"\\u003c|im_end|\\u003e\"],\"temperature\":0.1}\n"
    );
    assert_eq!(m.model_layer(), store.manifest(&name("base")).unwrap().model_layer());
    assert_eq!(store.read_config(&m).unwrap().model_family, "llama");
    assert!(statuses.iter().any(|s| s.starts_with("using already created layer")));
    let names: Vec<_> = store.list().unwrap().iter().map(|e| e.name.display_shortest()).collect();
    assert!(names.contains(&"user/derived:v1".to_string()) && names.contains(&"base:latest".to_string()));
}

#[test]
fn copy_and_delete_keep_shared_blobs() {
    let dir = TempDir::new("delete");
    let store = Store::open(dir.0.join("models")).unwrap();
    create(&store, &dir.0, "a", "only in a", 0.25);
    create(&store, &dir.0, "other", "only in other", 0.5);
    let a = store.manifest(&name("a")).unwrap();

    assert_eq!(store.copy(&name("A:LATEST"), &name("example.com/me/copy:x")).unwrap(), name("example.com/me/copy:x"));
    let copy = store.model(&name("example.com/me/copy:x")).unwrap();
    assert_eq!(copy.digest, store.model(&name("a")).unwrap().digest, "a copy keeps the manifest's bytes");
    assert_eq!(copy.name.display_shortest(), "example.com/me/copy:x");

    store.delete(&name("a")).unwrap();
    assert!(a.digests().all(|d| store.has_blob(d)), "the copy still uses every blob");
    assert!(matches!(store.model(&name("a")), Err(StoreError::ModelNotFound(n)) if n == "a:latest"));

    store.delete(&name("example.com/me/copy:x")).unwrap();
    let other = store.manifest(&name("other")).unwrap();
    for l in &a.layers {
        // Template, params, messages and license are the same text in both models.
        assert_eq!(store.has_blob(&l.digest), other.digests().any(|d| *d == l.digest), "{}", l.media_type);
    }
    assert!(!store.manifests_dir().join("example.com").exists(), "empty directories are removed");
    assert!(store.manifests_dir().join("registry.ollama.ai/library/other").exists());

    let e = store.delete(&name("a")).unwrap_err();
    assert_eq!((e.to_string().as_str(), e.class()), ("model 'a:latest' not found", ErrorClass::NotFound));
    assert!(matches!(store.copy(&name("nope"), &name("x")), Err(StoreError::ModelNotFound(_))));

    store.delete(&name("other")).unwrap();
    assert_eq!(files(store.root()), Vec::<String>::new());
}

#[test]
fn names_match_ignoring_case() {
    let dir = TempDir::new("case");
    let store = Store::open(dir.0.join("models")).unwrap();
    create(&store, &dir.0, "Tiny:Q4", "s", 0.25);
    assert_eq!(store.resolve(&name("tiny:q4")).unwrap(), Some(name("Tiny:Q4")));
    assert_eq!(store.model(&name("TINY:q4")).unwrap().name.display_shortest(), "Tiny:Q4");
    // Writing under another case keeps the stored name.
    create(&store, &dir.0, "tiny:q4", "t", 0.25);
    let names: Vec<_> = store.list().unwrap().iter().map(|e| e.name.display_shortest()).collect();
    assert_eq!(names, ["Tiny:Q4"]);
    assert_eq!(store.copy(&name("tiny:Q4"), &name("TINY:Q4")).unwrap(), name("Tiny:Q4"));
    store.delete(&name("TINY:Q4")).unwrap();
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn bad_gguf_inputs_are_rejected_before_anything_is_stored() {
    let dir = TempDir::new("badgguf");
    let store = Store::open(dir.0.join("models")).unwrap();
    let mut progress = |_: &str| {};

    let junk = dir.0.join("junk.gguf");
    fs::write(&junk, b"GGUF").unwrap(); // CVE-2024-39720: a 4-byte "GGUF" crashed create
    let e = ModelBuilder::new(&store).add_gguf_file(&junk, &mut progress).unwrap_err();
    assert!(matches!(e, StoreError::Gguf(_)) && e.class() == ErrorClass::BadRequest, "{e}");

    let adapter = dir.0.join("adapter.gguf");
    let mut w = GgufWriter::new();
    w.add_str("general.architecture", "llama").add_str("general.type", "adapter");
    w.write_file(&adapter).unwrap();
    let e = ModelBuilder::new(&store).add_gguf_file(&adapter, &mut progress).unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput(_)), "{e}");

    let missing = Digest::of_bytes(b"never uploaded");
    assert!(matches!(
        ModelBuilder::new(&store).add_gguf_blob(&missing, &mut progress),
        Err(StoreError::BlobNotFound(_))
    ));
    let e = ModelBuilder::new(&store).write(&name("empty"), &mut progress).unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput(_)), "{e}");
    assert!(store.list().unwrap().is_empty());
    assert!(files(store.root()).is_empty(), "nothing was stored");
}

#[test]
fn gguf_blobs_uploaded_first_make_models() {
    let dir = TempDir::new("blobcreate");
    let store = Store::open(dir.0.join("models")).unwrap();
    let gguf = dir.0.join("t.gguf");
    tiny_gguf(&gguf, 1.0);
    let (digest, _) = store.write_blob_from_reader(None, fs::File::open(&gguf).unwrap()).unwrap();
    let mut statuses = Vec::new();
    let mut progress = |s: &str| statuses.push(s.to_string());
    let mut b = ModelBuilder::new(&store);
    b.add_gguf_blob(&digest, &mut progress).unwrap();
    b.write(&name("fromblob"), &mut progress).unwrap();
    assert_eq!(statuses[0], "parsing GGUF");
    assert!(statuses.contains(&format!("using already created layer {digest}")), "{statuses:?}");
    assert_eq!(store.manifest(&name("fromblob")).unwrap().model_layer().unwrap().digest, digest);
}

const H1: &str = "6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa";

/// Lays out a store the way `ollama pull` leaves it: blobs named by their real hashes and a
/// manifest with the registry's bytes.
fn ollama_store(root: &Path) -> (Vec<u8>, Vec<u8>) {
    let blob = |bytes: &[u8]| -> (String, usize) {
        let d = Digest::of_bytes(bytes);
        fs::create_dir_all(root.join("blobs")).unwrap();
        fs::write(root.join("blobs").join(d.file_name()), bytes).unwrap();
        (d.to_string(), bytes.len())
    };
    let (model, model_n) = blob(b"GGUF pretend weights");
    let (template, template_n) = blob(b"{{ if .System }}<|start_header_id|>system<|end_header_id|>{{ end }}");
    let (params, params_n) = blob(br#"{"stop":["<|start_header_id|>","<|end_header_id|>","<|eot_id|>"]}"#);
    let config_bytes = format!(
        r#"{{"model_format":"gguf","model_family":"llama","model_families":["llama"],"model_type":"3.2B","file_type":"Q4_K_M","architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{model}","{template}","{params}"]}}}}"#
    );
    let (config, config_n) = blob(config_bytes.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{config}","size":{config_n}}},"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"{model}","size":{model_n}}},{{"mediaType":"application/vnd.ollama.image.template","digest":"{template}","size":{template_n}}},{{"mediaType":"application/vnd.ollama.image.params","digest":"{params}","size":{params_n}}}]}}"#
    );
    let dir = root.join("manifests/registry.ollama.ai/library/llama3.2");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("latest"), &manifest).unwrap();
    // The same model pulled from another registry, pretty-printed as some registries serve it.
    let pretty = serde_json::to_vec_pretty(&serde_json::from_str::<serde_json::Value>(&manifest).unwrap()).unwrap();
    let dir = root.join("manifests/hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Q4_K_M"), &pretty).unwrap();
    (manifest.into_bytes(), pretty)
}

#[test]
fn a_store_written_by_ollama_is_read_as_is() {
    let dir = TempDir::new("ollama");
    let (manifest, pretty) = ollama_store(&dir.0);
    // Very old Ollama named blobs with a colon.
    let legacy = Digest::of_bytes(b"legacy");
    fs::write(dir.0.join("blobs").join(format!("sha256:{}", legacy.hex())), b"legacy").unwrap();
    let before = files(&dir.0);

    let store = Store::open(&dir.0).unwrap();
    assert!(store.has_blob(&legacy), "legacy blob names are migrated");
    let mut models = store.list().unwrap();
    models.sort_by_key(|m| m.name.display_shortest());
    let names: Vec<_> = models.iter().map(|m| m.name.display_shortest()).collect();
    assert_eq!(names, ["hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "llama3.2:latest"]);
    assert_eq!(models[1].digest, Digest::of_bytes(&manifest));
    assert_eq!(models[0].digest, Digest::of_bytes(&pretty));
    assert_eq!(models[0].manifest, models[1].manifest);
    let m = &models[1].manifest;
    assert_eq!(models[1].size, m.layers.iter().map(|l| l.size).sum::<u64>() + m.config.size);
    let config = store.read_config(m).unwrap();
    assert_eq!((config.model_type.as_str(), config.file_type.as_str()), ("3.2B", "Q4_K_M"));
    let template = store.read_blob_string(&m.template_layer().unwrap().digest, 1 << 20).unwrap();
    assert!(template.starts_with("{{ if .System }}"));
    // Reading changed nothing but the legacy name.
    let after = files(&dir.0);
    assert_eq!(after.len(), before.len());
    assert_eq!(store.write_manifest(&name("llama3.2"), m).unwrap().1, Digest::of_bytes(&m.to_bytes()));
    // Prune of an intact store removes nothing but the unreferenced legacy blob.
    assert_eq!(store.prune().unwrap().blobs_removed, 1);
    assert!(m.digests().all(|d| store.has_blob(d)));
}

#[test]
fn damaged_manifests_are_errors_naming_the_file() {
    let dir = TempDir::new("damaged");
    ollama_store(&dir.0);
    let store = Store::open(&dir.0).unwrap();
    let good = store.manifest(&name("llama3.2")).unwrap();
    let model_digest = good.model_layer().unwrap().digest.clone();

    let bad_dir = store.manifests_dir().join("registry.ollama.ai/library/broken");
    fs::create_dir_all(&bad_dir).unwrap();
    let cases: [(&str, Vec<u8>); 5] = [
        ("garbage", b"\xff\xfe not json".to_vec()),
        ("empty", Vec::new()),
        ("traversal", fs::read(store.manifest_path(&name("llama3.2"))).unwrap()),
        ("huge", vec![b' '; (MAX_MANIFEST_BYTES + 10) as usize]),
        // A newer format that names the model blob: parsing fails, but GC must keep the blob.
        ("future", format!(r#"{{"schemaVersion":3,"manifests":[{{"digest":"{model_digest}"}}]}}"#).into_bytes()),
    ];
    for (tag, mut bytes) in cases {
        if tag == "traversal" {
            let text =
                String::from_utf8(bytes).unwrap().replace(&model_digest.to_string(), "sha256:../../../etc/passwd");
            bytes = text.into_bytes();
        }
        fs::write(bad_dir.join(tag), bytes).unwrap();
        let e = store.model(&name(&format!("broken:{tag}"))).unwrap_err();
        assert!(
            matches!(&e, StoreError::CorruptManifest { path, .. } if path.ends_with(format!("broken/{tag}"))),
            "{e}"
        );
        assert_eq!(e.class(), ErrorClass::Internal);
    }
    let (entries, errors) = store.scan().unwrap();
    assert_eq!((entries.len(), errors.len()), (2, 5));
    assert_eq!(store.list().unwrap().len(), 2);

    // Stray things in the tree are not models and do no harm.
    fs::write(store.manifests_dir().join("registry.ollama.ai/stray"), b"x").unwrap();
    fs::create_dir_all(store.manifests_dir().join("a/b/c/d/e")).unwrap();
    fs::write(store.manifests_dir().join("registry.ollama.ai/library/broken/.hidden"), b"x").unwrap();
    assert_eq!(store.scan().unwrap().1.len(), 5);

    // Deleting the good models keeps the blobs the unparsable manifests mention.
    store.delete(&name("llama3.2")).unwrap();
    store.delete(&name("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M")).unwrap();
    assert!(store.has_blob(&model_digest), "named by the future manifest");
    assert!(store.has_blob(&good.config.digest), "named by the traversal manifest");
    // Damaged manifests can themselves be deleted; then nothing protects the blobs.
    store.delete(&name("broken:future")).unwrap();
    assert!(store.has_blob(&model_digest));
    store.delete(&name("broken:traversal")).unwrap();
    assert_eq!(store.prune().unwrap().blobs_removed, 4);
    assert!(files(&store.blobs_dir()).is_empty());
}

#[test]
fn writing_a_manifest_requires_its_blobs() {
    let dir = TempDir::new("requires");
    let store = Store::open(&dir.0).unwrap();
    let (d, n) = store.write_blob_bytes(b"config").unwrap();
    let missing = Digest::parse(&format!("sha256:{H1}")).unwrap();
    let m = Manifest::new(Layer::new(MEDIA_TYPE_CONFIG, d.clone(), n), vec![Layer::new(MEDIA_TYPE_MODEL, missing, 1)]);
    assert!(matches!(store.write_manifest(&name("x"), &m), Err(StoreError::BlobNotFound(_))));
    assert!(!store.manifest_path(&name("x")).exists());
    let ok = Manifest::new(Layer::new(MEDIA_TYPE_CONFIG, d, n), Vec::new());
    let (written, digest) = store.write_manifest(&name("x"), &ok).unwrap();
    assert_eq!(written, name("x"));
    assert_eq!(digest, Digest::of_bytes(&fs::read(store.manifest_path(&written)).unwrap()));
    assert_eq!(files(&store.manifests_dir()), ["registry.ollama.ai/library/x/latest"], "no temporary file is left");
}

#[test]
fn prune_keeps_referenced_pinned_and_foreign_files() {
    let dir = TempDir::new("prune");
    let store = Store::open(dir.0.join("models")).unwrap();
    create(&store, &dir.0, "keep", "k", 0.25);
    let (orphan, orphan_n) = store.write_blob_bytes(b"orphan").unwrap();
    let partial = store.blobs_dir().join(format!("sha256-{H1}-partial"));
    fs::write(&partial, b"download in progress").unwrap();
    let stale = store.blobs_dir().join(".tmp-1-2-3");
    fs::write(&stale, b"crash leftover").unwrap();
    let old = SystemTime::now() - Duration::from_secs(2 * 3600);
    fs::File::options().write(true).open(&stale).unwrap().set_modified(old).unwrap();
    let fresh = store.blobs_dir().join(".tmp-4-5-6");
    fs::write(&fresh, b"being written").unwrap();

    // A model under construction pins its layers.
    let mut progress = |_: &str| {};
    let mut b = ModelBuilder::new(&store);
    let pinned = b.set_system("not yet in a manifest", &mut progress).unwrap().digest;

    let report = store.prune().unwrap();
    assert_eq!(report, PruneReport { blobs_removed: 1, bytes_removed: orphan_n });
    assert!(!store.has_blob(&orphan) && store.has_blob(&pinned));
    assert!(partial.exists() && fresh.exists() && !stale.exists());
    assert!(store.manifest(&name("keep")).unwrap().digests().all(|d| store.has_blob(d)));
    drop(b);
    assert_eq!(store.prune().unwrap().blobs_removed, 1);
    assert!(!store.has_blob(&pinned));
}

#[test]
fn helper_tables() {
    for (n, s) in [
        (0, "0"),
        (999, "999"),
        (1_000, "1K"),
        (1_499, "1K"),
        (72_000, "72K"),
        (1_000_000, "1M"),
        (134_515_008, "134.52M"),
        (1_235_814_400, "1.2B"),
        (8_030_261_248, "8.0B"),
        (7_000_000_000, "7B"),
        (70_553_706_496, "70.6B"),
    ] {
        assert_eq!(human_number(n), s, "{n}");
    }
    assert_eq!(file_type_name(2), "Q4_0");
    assert_eq!(file_type_name(15), "Q4_K_M");
    assert_eq!(file_type_name(32), "BF16");
    assert_eq!(file_type_name(5), "unknown");
    assert_eq!(file_type_name(u64::MAX), "unknown");

    for ok in ["model.gguf", "dir/model.gguf", "a/b/c", "..a", "a..b"] {
        validate_create_file_path(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "",
        ".",
        "..",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "a/",
        "./a",
        "a/.",
        "C:\\x",
        "c:x",
        "a\\..\\b",
        "a\0",
    ] {
        let e = validate_create_file_path(bad).unwrap_err();
        assert!(e.to_string().starts_with("file path must be relative"), "{bad:?}");
    }
    if std::env::var_os("OLLAMA_MODELS").is_none() && std::env::var_os("HOME").is_some() {
        assert!(Store::default_root().unwrap().ends_with(".ollama/models"));
    }
}

#[test]
fn manifests_without_layers_do_not_panic() {
    // CVE-2025-1975: Ollama indexed the first layer of a manifest that had none.
    let dir = TempDir::new("nolayers");
    let store = Store::open(&dir.0).unwrap();
    let (d, n) = store.write_blob_bytes(b"{}").unwrap();
    let empty = Manifest::new(Layer::new(MEDIA_TYPE_CONFIG, d, n), Vec::new());
    store.write_manifest(&name("hollow"), &empty).unwrap();
    let entry = store.model(&name("hollow")).unwrap();
    assert_eq!((entry.size, entry.manifest.model_layer()), (n, None));
    assert_eq!(store.read_config(&entry.manifest).unwrap(), ModelConfig::default());
    let b = ModelBuilder::from_model(&store, &name("hollow")).unwrap();
    assert!(matches!(b.write(&name("hollow2"), &mut |_| {}), Err(StoreError::InvalidInput(_))));
}

#[test]
fn concurrent_creates_survive_concurrent_garbage_collection() {
    let dir = TempDir::new("concurrent");
    let store = Store::open(dir.0.join("models")).unwrap();
    let gguf = dir.0.join("shared.gguf");
    tiny_gguf(&gguf, 2.0);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                store.prune().unwrap();
            }
        });
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let (store, gguf) = (&store, &gguf);
                s.spawn(move || {
                    for round in 0..3 {
                        let mut b = ModelBuilder::new(store);
                        b.add_gguf_file(gguf, &mut |_| {}).unwrap();
                        b.set_system(&format!("worker {i} round {round}"), &mut |_| {}).unwrap();
                        b.write(&name(&format!("m{i}")), &mut |_| {}).unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    for i in 0..4 {
        let m = store.manifest(&name(&format!("m{i}"))).unwrap();
        assert!(m.digests().all(|d| store.has_blob(d)), "m{i}");
    }
    // Only the four models' blobs remain: a GGUF, four system prompts, four configs.
    store.prune().unwrap();
    assert_eq!(files(&store.blobs_dir()).len(), 9);
}
