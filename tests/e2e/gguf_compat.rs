//! The GGUF reader and writer against an independent implementation: the `gguf` Python
//! package (maintained with llama.cpp). Files we write must read back the same there, and
//! the real models must read the same here as there.

use std::process::Command;

use rollama_engine::gguf::{GgmlType, GgufFile, GgufWriter, Value, ValueType};
use rollama_tests::model_path;

/// Python that prints a file's metadata (scalars and array lengths) and tensor table as JSON.
const DUMP: &str = r#"
import json, sys
from gguf import GGUFReader, GGUFValueType
r = GGUFReader(sys.argv[1])
kv = {}
for k, f in r.fields.items():
    if k.startswith("GGUF."):
        continue
    t = f.types[0]
    if t == GGUFValueType.ARRAY:
        kv[k] = {"array_len": len(f.data)}
    elif t == GGUFValueType.STRING:
        kv[k] = bytes(f.parts[f.data[0]]).decode("utf-8", "replace")
    else:
        kv[k] = f.parts[f.data[0]].tolist()[0]
tensors = [[t.name, [int(d) for d in t.shape], int(t.tensor_type), int(t.data_offset)] for t in r.tensors]
print(json.dumps({"kv": kv, "tensors": tensors}))
"#;

fn python_dump(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new("python3").args(["-c", DUMP]).arg(path).output().expect("python3");
    assert!(out.status.success(), "python gguf failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The same view of a file through our reader.
fn our_dump(g: &GgufFile) -> serde_json::Value {
    let mut kv = serde_json::Map::new();
    for (k, v) in &g.metadata {
        let j = match v {
            Value::Array { items, .. } => serde_json::json!({"array_len": items.len()}),
            Value::String(s) => serde_json::json!(s),
            Value::Bool(b) => serde_json::json!(b),
            Value::F32(f) => serde_json::json!(f64::from(*f)),
            Value::F64(f) => serde_json::json!(f),
            v => match v.as_i64() {
                Some(i) => serde_json::json!(i),
                None => serde_json::json!(v.as_u64()),
            },
        };
        kv.insert(k.clone(), j);
    }
    let tensors: Vec<serde_json::Value> =
        g.tensors.iter().map(|t| serde_json::json!([t.name, t.dims, t.ty.id(), g.data_offset + t.offset])).collect();
    serde_json::json!({"kv": kv, "tensors": tensors})
}

#[test]
fn files_we_write_read_the_same_in_python() {
    let mut w = GgufWriter::new();
    w.add_str("general.architecture", "llama")
        .add_u32("general.alignment", 64)
        .add_u32("llama.block_count", 2)
        .add_f32("llama.rope.freq_base", 10000.0)
        .add_bool("tokenizer.ggml.add_bos_token", true)
        .add("i64", Value::I64(-7))
        .add_str_array("tokenizer.ggml.tokens", &["<s>", "a", "b"])
        .add(
            "nested",
            Value::Array {
                elem: ValueType::Array,
                items: vec![Value::Array { elem: ValueType::U8, items: vec![Value::U8(1)] }],
            },
        );
    w.add_f32_tensor("output_norm.weight", &[8], &[1.0; 8]).unwrap();
    w.add_tensor("token_embd.weight", GgmlType::Q8_0, &[32, 3], vec![0u8; 3 * 34]).unwrap();
    let path = std::env::temp_dir().join(format!("rollama-compat-{}.gguf", std::process::id()));
    w.write_file(&path).unwrap();
    let ours = our_dump(&GgufFile::open(&path).unwrap());
    let theirs = python_dump(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn real_models_read_the_same_as_in_python() {
    for name in ["smollm2", "gemma3", "qwen2"] {
        let path = model_path(name);
        let ours = our_dump(&GgufFile::open(&path).unwrap());
        let theirs = python_dump(&path);
        assert_eq!(ours["tensors"], theirs["tensors"], "{name}: tensor tables differ");
        for (k, v) in theirs["kv"].as_object().unwrap() {
            let mine = &ours["kv"][k];
            let same = match (v.as_f64(), mine.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                _ => v == mine,
            };
            assert!(same, "{name}: {k}: python {v} ours {mine}");
        }
    }
}
