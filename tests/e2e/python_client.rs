//! The official `ollama` Python client (installed by scripts/test.sh) against a real server:
//! create, list, show, generate, chat, copy, delete, embeddings, ps and errors.

use std::process::Command;

use rollama_tests::{model_path, repo_root, TestServer};

#[test]
fn the_official_python_client_works_unchanged() {
    let s = TestServer::start();
    let script = repo_root().join("tests/python/ollama_client.py");
    let out = Command::new("python3").arg(&script).arg(&s.base).arg(model_path("smollm2")).output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
}
