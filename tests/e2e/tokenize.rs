//! Tokenizer output against every `tokenize` entry of the three reference files, decoding
//! round trips on the same texts, and the time a 100 KB text takes.

use rollama_engine::gguf::GgufFile;
use rollama_engine::tokenizer::{StreamDecoder, TokenId, Tokenizer};

const REFERENCES: [&str; 3] = ["smollm2-135m", "gemma3-270m", "qwen2.5-coder-0.5b"];

fn load(reference: &str) -> Tokenizer {
    let path = rollama_tests::model_path(rollama_tests::model_for_reference(reference));
    let g = GgufFile::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("tokenizer of {}: {e}", path.display()))
}

/// `ids` with each token's vocabulary text, for failure messages.
fn show(tok: &Tokenizer, ids: &[TokenId]) -> String {
    let items: Vec<String> =
        ids.iter().map(|&id| format!("{id} {:?}", tok.token_text(id).unwrap_or("<out of range>"))).collect();
    format!("[{}]", items.join(", "))
}

/// A readable account of where `got` departs from `want`.
fn diff(tok: &Tokenizer, want: &[TokenId], got: &[TokenId]) -> String {
    let at = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
    format!(
        "  first difference at index {at}\n  want {}\n  got  {}\n  want from there {}\n  got  from there {}",
        show(tok, want),
        show(tok, got),
        show(tok, &want[at..]),
        show(tok, &got[at..]),
    )
}

struct Case {
    text: String,
    add_special: bool,
    parse_special: bool,
    ids: Vec<TokenId>,
}

fn cases(reference: &str) -> Vec<Case> {
    let json = rollama_tests::reference(reference);
    let entries = json["tokenize"].as_array().unwrap_or_else(|| panic!("{reference}: no tokenize array"));
    entries
        .iter()
        .map(|e| Case {
            text: e["text"].as_str().expect("text").to_string(),
            add_special: e["add_special"].as_bool().expect("add_special"),
            parse_special: e["parse_special"].as_bool().expect("parse_special"),
            ids: e["ids"].as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as TokenId).collect(),
        })
        .collect()
}

#[test]
fn tokenize_matches_llama_cpp() {
    let mut failures = Vec::new();
    for reference in REFERENCES {
        let tok = load(reference);
        let cases = cases(reference);
        let mut passed = 0;
        for case in &cases {
            let got = tok.encode(&case.text, case.add_special, case.parse_special);
            if got == case.ids {
                passed += 1;
            } else {
                failures.push(format!(
                    "{reference}: {:?} (add_special {}, parse_special {})\n{}",
                    case.text,
                    case.add_special,
                    case.parse_special,
                    diff(&tok, &case.ids, &got)
                ));
            }
        }
        eprintln!("{reference}: {passed}/{} tokenize entries match llama.cpp", cases.len());
    }
    assert!(failures.is_empty(), "{} tokenize entries differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn tokenize_round_trips() {
    let mut failures = Vec::new();
    for reference in REFERENCES {
        let tok = load(reference);
        for case in cases(reference) {
            // Without BOS/EOS, and rendering control tokens exactly when they were parsed, the
            // text comes back unchanged: none of the three vocabularies adds a space prefix.
            let ids = tok.encode(&case.text, false, case.parse_special);
            let back = tok.decode(&ids, case.parse_special);
            if back != case.text {
                failures.push(format!("{reference}: {:?} decodes to {back:?}", case.text));
            }
            // Streaming one token at a time gives the same text, in whole characters.
            let mut dec = StreamDecoder::with_special(case.parse_special);
            let mut streamed = String::new();
            for &id in &ids {
                streamed.push_str(&dec.push(&tok, id));
            }
            streamed.push_str(&dec.finish());
            if streamed != case.text {
                failures.push(format!("{reference}: {:?} streams to {streamed:?}", case.text));
            }
        }
    }
    assert!(failures.is_empty(), "round trips fail:\n{}", failures.join("\n"));
}

#[test]
fn tokenize_special_ids_and_end_of_generation() {
    let smollm = load("smollm2-135m");
    assert_eq!(smollm.model_kind(), "gpt2");
    assert!(!smollm.add_bos());
    for text in ["<|im_end|>", "<|endoftext|>"] {
        let id = smollm.encode(text, false, true)[0];
        assert!(smollm.is_eog(id), "{text} ends generation");
    }
    assert!(!smollm.is_eog(smollm.encode("<|im_start|>", false, true)[0]));

    let gemma = load("gemma3-270m");
    assert_eq!(gemma.model_kind(), "llama");
    assert_eq!((gemma.bos(), gemma.eos(), gemma.n_vocab()), (Some(2), Some(1), 262_144));
    assert!(gemma.add_bos() && !gemma.add_eos());
    assert!(gemma.is_eog(1) && gemma.is_eog(106)); // <eos>, <end_of_turn>
    assert!(!gemma.is_eog(105)); // <start_of_turn>
    assert_eq!(gemma.decode(&[2, 105], false), "");
    assert_eq!(gemma.decode(&[2, 105], true), "<bos><start_of_turn>");

    let qwen = load("qwen2.5-coder-0.5b");
    let im_end = qwen.encode("<|im_end|>", false, true);
    assert_eq!(im_end, [151645]);
    assert!(qwen.is_eog(151645) && qwen.is_eog(151643));
    assert_eq!(qwen.token_text(151657), Some("<tool_call>"));
    // A user-defined token is matched whole even when special tokens are not parsed.
    assert_eq!(qwen.encode("<tool_call>", false, false), [151657]);
    // Unused padding entries render as nothing.
    assert_eq!(qwen.decode(&[151700], true), "");
}

/// A 100 KB text of mixed prose, code, numbers and non-Latin scripts.
fn big_text() -> String {
    let para = "The quick brown fox (jumps) over 1234567 lazy dogs; naïve café déjà vu.\n\
                \tfn main() { println!(\"{}\", x ** 2); }  // trailing   \n\
                日本語のテキスト、emoji 🦙🚀, <|im_start|>user\nhi<|im_end|><start_of_turn>\n\n";
    para.repeat(100_000 / para.len() + 1)
}

#[test]
fn tokenize_speed_on_100kb() {
    // Mixed text, then degenerate inputs: one endless word, whitespace and newline runs that
    // user-defined tokens and the look-ahead rule chew on, digits, and emoji byte fallback.
    let texts = [
        ("mixed", big_text()),
        ("one word", "abcdefghij".repeat(10_000)),
        ("spaces", " ".repeat(100_000)),
        ("newlines", "\n\n \t".repeat(25_000)),
        ("digits", "1234567890".repeat(10_000)),
        ("emoji", "🦙".repeat(25_000)),
    ];
    for reference in REFERENCES {
        let tok = load(reference);
        for (what, text) in &texts {
            for parse_special in [false, true] {
                let t = std::time::Instant::now();
                let ids = tok.encode(text, true, parse_special);
                let elapsed = t.elapsed();
                eprintln!(
                    "{reference}: {what}: {} bytes -> {} tokens in {:.1} ms (parse_special {parse_special})",
                    text.len(),
                    ids.len(),
                    elapsed.as_secs_f64() * 1e3
                );
            }
        }
    }
}
