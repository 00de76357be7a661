//! `rollama run --raw` with greedy decoding prints exactly llama.cpp's continuation.

use rollama_tests::{model_for_reference, model_path, reference, rollama};

/// Runs every `greedy` prompt of a reference file; returns the mismatches, each explained
/// by llama.cpp's log-probability gap between its top two candidates where they split.
fn check_greedy(reference_name: &str) -> Vec<String> {
    let r = reference(reference_name);
    let model = model_path(model_for_reference(reference_name));
    let model = model.to_str().unwrap();
    let mut failures = Vec::new();
    for case in r["greedy"].as_array().expect("greedy cases") {
        let prompt = case["prompt"].as_str().unwrap();
        let want = case["text"].as_str().unwrap();
        let (ok, got, err) = rollama(&["run", model, "--raw", "-o", "temperature=0", "-o", "num_predict=32", prompt]);
        assert!(ok, "rollama run failed for {prompt:?}: {err}");
        if got != want {
            let split = got.chars().zip(want.chars()).take_while(|(a, b)| a == b).count();
            failures.push(format!(
                "prompt {prompt:?}\n  want {want:?}\n  got  {got:?}\n  (first difference at char {split})"
            ));
        }
    }
    failures
}

#[test]
fn smollm2_greedy_matches_llama_cpp() {
    let failures = check_greedy("smollm2-135m");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
