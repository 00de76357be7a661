//! `rollama create NAME -f Modelfile`: parses the Modelfile here, uploads the GGUF it names
//! as a blob (skipped when the server has it), then asks the server to assemble the model,
//! showing its statuses; as the ollama CLI does.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use rollama_engine::modelfile::Modelfile;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use super::{client, CliError};

#[derive(Args)]
pub struct CreateArgs {
    /// The new model's name.
    model: String,
    /// The Modelfile (default: ./Modelfile).
    #[arg(short = 'f', long = "file", default_value = "Modelfile")]
    file: PathBuf,
}

pub fn run(a: CreateArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&a.file).map_err(|source| CliError::File { path: a.file.clone(), source })?;
    let mf = Modelfile::parse(&text).map_err(|e| CliError::Usage(format!("{}: {e}", a.file.display())))?;
    for w in &mf.warnings {
        eprintln!("warning: {w}");
    }
    let base = a.file.parent().map(Path::to_path_buf).unwrap_or_default();
    let from = mf.from().ok_or_else(|| CliError::Usage("no FROM line".into()))?;
    let mut req = Map::new();
    req.insert("model".into(), json!(a.model));
    req.insert("stream".into(), json!(true));
    let path = resolve(from, &base);
    if path.is_file() {
        let digest = upload(&path)?;
        let file_name = path.file_name().map_or("model.gguf".into(), |n| n.to_string_lossy().into_owned());
        req.insert("files".into(), json!({ file_name: digest }));
    } else {
        req.insert("from".into(), json!(from));
    }
    if let Some(t) = mf.template() {
        req.insert("template".into(), json!(t));
    }
    if let Some(s) = mf.system() {
        req.insert("system".into(), json!(s));
    }
    let licenses = mf.licenses();
    if !licenses.is_empty() {
        req.insert("license".into(), json!(licenses));
    }
    let params = mf.parameters().map_err(|e| CliError::Usage(format!("{}: {e}", a.file.display())))?;
    if !params.is_empty() {
        req.insert("parameters".into(), params.to_json());
    }
    let messages: Vec<Value> = mf.messages().iter().map(|(r, c)| json!({"role": r, "content": c})).collect();
    if !messages.is_empty() {
        req.insert("messages".into(), json!(messages));
    }
    if !mf.adapters().is_empty() {
        return Err(CliError::Usage("ADAPTER is not supported yet".into()));
    }
    let mut bar = super::progress::Progress::new();
    client::stream("/api/create", &Value::Object(req), |v| {
        bar.status(v);
        true
    })?;
    bar.finish();
    Ok(())
}

/// FROM as a path: `~/`, absolute, or relative to the Modelfile's folder.
fn resolve(from: &str, base: &Path) -> PathBuf {
    if let Some(rest) = from.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let p = PathBuf::from(from);
    if p.is_relative() {
        base.join(p)
    } else {
        p
    }
}

/// Hashes the file and uploads it unless the server already has it; returns its digest.
fn upload(path: &Path) -> Result<String, CliError> {
    let file_err = |source| CliError::File { path: path.to_path_buf(), source };
    let mut f = std::fs::File::open(path).map_err(file_err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(file_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let digest = format!("sha256:{hex}");
    if !client::head(&format!("/api/blobs/{digest}"))? {
        eprintln!(
            "uploading {} ({})",
            path.display(),
            super::manage::human_bytes(std::fs::metadata(path).map_or(0, |m| m.len()))
        );
        client::post_file(&format!("/api/blobs/{digest}"), path)?;
    }
    Ok(digest)
}
