//! `rollama perplexity` on the Apache-2.0 license text is within 1% of llama-perplexity.

use rollama_tests::{model_for_reference, model_path, reference_ppl, rollama};

const TEXT: &str = "/usr/share/common-licenses/Apache-2.0";

fn check_ppl(reference_name: &str) {
    let model = model_path(model_for_reference(reference_name));
    let (ok, out, err) = rollama(&["perplexity", model.to_str().unwrap(), TEXT]);
    assert!(ok, "rollama perplexity failed: {err}");
    let last = out.lines().last().unwrap_or("");
    let ppl: f64 =
        last.strip_prefix("PPL = ").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("last line {last:?}"));
    let want = reference_ppl(reference_name);
    let rel = (ppl - want).abs() / want;
    eprintln!("{reference_name}: PPL {ppl:.4}, llama.cpp {want:.4}, off by {:.3}%", rel * 100.0);
    assert!(rel < 0.01, "{reference_name}: PPL {ppl} is {:.2}% away from llama.cpp's {want}", rel * 100.0);
}

#[test]
fn smollm2_perplexity_within_one_percent() {
    check_ppl("smollm2-135m");
}

#[test]
fn gemma3_perplexity_within_one_percent() {
    check_ppl("gemma3-270m");
}

#[test]
fn qwen2_perplexity_within_one_percent() {
    check_ppl("qwen2.5-coder-0.5b");
}
