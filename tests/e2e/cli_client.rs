//! The `rollama` commands that are clients of the server (create, list, show, run, cp, rm,
//! ps, stop, pull), against a real server found through OLLAMA_HOST.

use std::io::Write;
use std::process::{Command, Stdio};

use rollama_tests::{model_path, rollama_bin, TestServer};

/// Runs `rollama ARGS` with OLLAMA_HOST pointing at `s`, feeding `stdin`.
fn client(s: &TestServer, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(rollama_bin())
        .args(args)
        .env("OLLAMA_HOST", &s.base)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_drives_a_server() {
    let s = TestServer::start();
    let dir = std::env::temp_dir().join(format!("rollama-cli-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let modelfile = dir.join("Modelfile");
    std::fs::write(
        &modelfile,
        format!("FROM {}\nPARAMETER temperature 0\nPARAMETER num_predict 12\n", model_path("smollm2").display()),
    )
    .unwrap();

    let (ok, _, err) = client(&s, &["create", "smol", "-f", modelfile.to_str().unwrap()], "");
    assert!(ok, "{err}");
    assert!(err.contains("success"), "{err}");
    // A second create uploads nothing and reuses every layer.
    let (ok, _, err) = client(&s, &["create", "smol", "-f", modelfile.to_str().unwrap()], "");
    assert!(ok && !err.contains("uploading") && err.contains("using already created layer"), "{err}");

    let (ok, out, _) = client(&s, &["list"], "");
    assert!(ok);
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("NAME"), "{out}");
    assert!(lines.next().unwrap().starts_with("smol:latest"), "{out}");

    let (ok, out, _) = client(&s, &["show", "smol", "--template"], "");
    assert!(ok && out.contains("<|im_start|>"), "{out}");
    let (ok, out, _) = client(&s, &["show", "smol", "--parameters"], "");
    assert!(ok && out.contains("num_predict") && out.contains("temperature"), "{out}");
    let (ok, out, _) = client(&s, &["show", "smol"], "");
    assert!(ok && out.contains("architecture") && out.contains("llama"), "{out}");

    // One answer, then a REPL with a slash command and a multi-line message.
    let (ok, answer, err) = client(&s, &["run", "smol", "What is 2+2?"], "");
    assert!(ok && !answer.trim().is_empty(), "{err}");
    let (ok, out, err) =
        client(&s, &["run", "smol"], "What is 2+2?\n/set parameter num_predict 4\n\"\"\"Two\nlines\"\"\"\n/bye\n");
    assert!(ok, "{err}");
    assert!(out.starts_with(answer.trim_end()), "REPL answer {out:?} vs one-shot {answer:?}");
    assert!(err.contains("Set parameter 'num_predict' to '4'"), "{err}");

    let (ok, out, _) = client(&s, &["ps"], "");
    assert!(ok && out.contains("smol:latest"), "{out}");
    // The tests' server runs on the CPU (ROLLAMA_GPU=0), with the default context.
    assert!(out.contains("PROCESSOR") && out.contains("CONTEXT") && out.contains("100% CPU     4096"), "{out}");
    let (ok, _, err) = client(&s, &["stop", "smol"], "");
    assert!(ok, "{err}");
    let (_, out, _) = client(&s, &["ps"], "");
    assert!(!out.contains("smol:latest"), "{out}");

    let (ok, out, _) = client(&s, &["cp", "smol", "smol2"], "");
    assert!(ok && out.contains("copied"), "{out}");
    let (ok, _, _) = client(&s, &["rm", "smol"], "");
    assert!(ok);
    let (_, out, _) = client(&s, &["list"], "");
    assert!(out.contains("smol2:latest") && !out.contains("smol:latest"), "{out}");
    let (ok, _, err) = client(&s, &["rm", "smol"], "");
    assert!(!ok && err.contains("not found"), "{err}");
    let (ok, _, err) = client(&s, &["run", "ghost", "hi"], "");
    assert!(!ok && err.contains("not found"), "{err}");
    let (ok, _, err) = client(&s, &["pull", "smol"], "");
    // The default registry (https://registry.ollama.ai) cannot be resolved from the test
    // machine: a clear error naming it, not a hang.
    assert!(!ok && err.contains("registry.ollama.ai"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
