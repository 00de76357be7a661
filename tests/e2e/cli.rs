//! The `rollama` command line: tokenize against every reference entry, and clear errors
//! (never a panic) for corrupted model files and bad arguments.

use rollama_tests::{model_for_reference, model_path, reference, rollama};

#[test]
fn tokenize_command_equals_every_reference_entry() {
    for name in ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"] {
        let model = model_path(model_for_reference(name));
        let model = model.to_str().unwrap();
        let r = reference(name);
        let mut failures = Vec::new();
        for case in r["tokenize"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let mut args = vec!["tokenize", model, text];
            if !case["parse_special"].as_bool().unwrap() {
                args.push("--no-parse-special");
            }
            if !case["add_special"].as_bool().unwrap() {
                args.push("--no-add-special");
            }
            let (ok, out, err) = rollama(&args);
            assert!(ok, "{name}: tokenize {text:?} failed: {err}");
            let got: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out:?}: {e}"));
            if got != case["ids"] {
                failures.push(format!(
                    "{name} {text:?} (parse_special {}): want {} got {}",
                    case["parse_special"], case["ids"], got
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// A copy of the first `len` bytes of the real SmolLM2 file, possibly with a byte changed.
fn damaged_copy(dir: &std::path::Path, len: usize, poke: Option<(usize, u8)>) -> std::path::PathBuf {
    let src = std::fs::read(model_path("smollm2")).unwrap();
    let mut bytes = src[..len.min(src.len())].to_vec();
    if let Some((at, v)) = poke {
        bytes[at] = v;
    }
    let path = dir.join(format!("damaged-{len}-{poke:?}.gguf"));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn truncated_and_corrupted_models_give_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("rollama-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let full = std::fs::metadata(model_path("smollm2")).unwrap().len() as usize;
    // Cuts inside the magic, the header counts, the metadata, the tensor infos and the data.
    let cuts = [0, 3, 7, 15, 23, 100, 1000, 100_000, 1_500_000, full / 2, full - 1];
    let pokes =
        [None, Some((0, b'X')), Some((4, 9)), Some((9, 0xff)), Some((17, 0x7f)), Some((24, 0xff)), Some((30, 0xff))];
    for (i, &cut) in cuts.iter().enumerate() {
        for poke in if i + 1 == cuts.len() { &pokes[..] } else { &pokes[..1] } {
            let len = if poke.is_some() { full } else { cut };
            let path = damaged_copy(&dir, len, *poke);
            let p = path.to_str().unwrap();
            let (ok, out, err) = rollama(&["run", p, "--raw", "-o", "num_predict=1", "hi"]);
            assert!(!ok, "{p}: a damaged model ran: {out}");
            assert!(err.starts_with("Error: "), "{p}: {err}");
            assert!(!err.contains("panicked"), "{p}: {err}");
            std::fs::remove_file(&path).unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_are_named() {
    let model = model_path("smollm2");
    let model = model.to_str().unwrap();
    let (ok, _, err) = rollama(&["run", model, "-o", "temperature=warm", "hi"]);
    assert!(!ok && err.contains("temperature"), "{err}");
    let (ok, _, err) = rollama(&["run", model, "-o", "nonsense=1", "hi"]);
    assert!(!ok && err.contains("nonsense"), "{err}");
    let (ok, _, err) = rollama(&["run", "/no/such/model.gguf", "hi"]);
    assert!(!ok && err.contains("/no/such/model.gguf"), "{err}");
}

#[test]
fn run_is_reproducible_with_a_seed_and_stops_at_num_predict() {
    let model = model_path("smollm2");
    let model = model.to_str().unwrap();
    let args = [
        "run",
        model,
        "--raw",
        "--verbose",
        "-o",
        "temperature=0.9",
        "-o",
        "seed=7",
        "-o",
        "num_predict=12",
        "Once upon a time",
    ];
    let (ok1, a, e1) = rollama(&args);
    let (ok2, b, _) = rollama(&args);
    assert!(ok1 && ok2, "{e1}");
    assert_eq!(a, b, "the same seed must give the same text");
    assert!(!a.is_empty());
    // --verbose reports on stderr; stdout holds the answer alone.
    assert!(e1.contains("eval: 12 tokens") || e1.contains("done: stop"), "{e1}");
    let (_, c, _) = rollama(&[
        "run",
        model,
        "--raw",
        "-o",
        "temperature=0.9",
        "-o",
        "seed=8",
        "-o",
        "num_predict=12",
        "Once upon a time",
    ]);
    assert_ne!(a, c, "another seed should give another text");
}

#[test]
fn run_without_a_prompt_reads_turns_from_stdin_until_bye() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let model = model_path("smollm2");
    let mut child = Command::new(rollama_tests::rollama_bin())
        .args(["run", model.to_str().unwrap(), "-o", "temperature=0", "-o", "num_predict=8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two turns, then /bye: the line after /bye must never be answered.
    child.stdin.take().unwrap().write_all(b"What is 2+2?\nAnd 3+3?\n/bye\nNever answered\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    // The first turn is framed exactly like a one-shot run, so greedy gives the same answer;
    // the second turn continues the same session and answers something more.
    let (ok, first, err) =
        rollama(&["run", model.to_str().unwrap(), "-o", "temperature=0", "-o", "num_predict=8", "What is 2+2?"]);
    assert!(ok, "{err}");
    assert!(!first.is_empty());
    let rest =
        text.strip_prefix(&format!("{first}\n")).unwrap_or_else(|| panic!("{text:?} does not start with {first:?}"));
    assert!(rest.ends_with('\n') && rest.trim().len() > 1, "second answer missing: {rest:?}");
}
