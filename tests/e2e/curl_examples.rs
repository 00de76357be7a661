//! Every curl example of the API document (../shared/ollama-api.md), run as written against
//! a real server (only the address changed), with models named as the examples name them
//! (copies of SmolLM2 that answer at most 48 tokens, so the test stays short).

use std::process::Command;

use rollama_tests::{model_path, reference_dir, TestServer};
use serde_json::{json, Value};

/// The shell blocks of the document that run curl, in order.
fn examples() -> Vec<String> {
    let doc =
        std::fs::read_to_string(reference_dir().join("../ollama-api.md")).expect("ollama-api.md beside reference/");
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in doc.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```shell") => block = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                if b.trim_start().starts_with("curl") {
                    out.push(b.clone());
                }
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// What each example must answer: the HTTP status, and for 200 a check of the body.
fn expected(cmd: &str) -> u16 {
    if cmd.contains("/api/push") || cmd.starts_with("curl -I") {
        404 // That model (push) or blob (HEAD) is not on this server.
    } else if cmd.contains("-T model.bin") {
        400 // model.bin here does not hash to the document's digest.
    } else {
        200
    }
}

#[test]
fn every_curl_example_of_the_api_document() {
    let s = TestServer::start();
    let gguf = model_path("smollm2");
    // The models the examples use, each a SmolLM2 with a short answer.
    for name in ["llama2", "mistral", "llama2:13b"] {
        let modelfile = format!("FROM {}\nPARAMETER num_predict 48\n", gguf.display());
        let r =
            ureq::post(&s.url("/api/create")).send_json(json!({"name": name, "modelfile": modelfile, "stream": false}));
        assert_eq!(r.map(|r| r.status()).unwrap_or(0), 200, "creating {name}");
    }
    let dir = std::env::temp_dir().join(format!("rollama-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.bin"), b"not the document's blob").unwrap();

    let all = examples();
    assert!(all.len() >= 15, "found only {} curl examples", all.len());
    for cmd in &all {
        let cmd = cmd.replace("http://localhost:11434", &s.base);
        // -s: quiet; -w: the status on a last line of its own.
        let with_status = cmd.replacen("curl ", "curl -s -w '\\n%{http_code}' ", 1);
        let out = Command::new("sh").arg("-c").arg(&with_status).current_dir(&dir).output().expect("sh");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        let status: u16 = status.trim().parse().unwrap_or_else(|_| panic!("{cmd}\n-> {text:?}"));
        assert_eq!(status, expected(cmd.trim()), "{cmd}\n-> {body}");
        if status == 200 && !cmd.starts_with("curl -I") && !body.trim().is_empty() {
            // Every answer is JSON or NDJSON, and a stream ends with `done` or `success`.
            let lines: Vec<Value> = body
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{cmd}\n{l:?}: {e}")))
                .collect();
            let last = lines.last().unwrap();
            if cmd.contains("/api/pull") {
                // The pull streams from registry.ollama.ai over https, which the test machine
                // (no internet) cannot resolve: the stream says what failed, naming the host.
                assert_eq!(lines[0]["status"], "pulling manifest", "{cmd}\n-> {body}");
                let err = last["error"].as_str().unwrap_or_else(|| panic!("{cmd}\n-> {body}"));
                assert!(err.contains("registry.ollama.ai"), "{cmd}\n-> {body}");
                continue;
            }
            assert!(last.get("error").is_none(), "{cmd}\n-> {body}");
            if cmd.contains("/api/generate") || cmd.contains("/api/chat") {
                assert_eq!(last["done"], true, "{cmd}\n-> {body}");
            }
            if cmd.contains("\"format\": \"json\"") && lines.len() == 1 {
                // JSON mode: the whole answer is a JSON value.
                let text = last["response"].as_str().or(last["message"]["content"].as_str()).unwrap_or("");
                serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{cmd}\n{text:?}: {e}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
