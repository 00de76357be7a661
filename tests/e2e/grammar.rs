//! `grammar` (GBNF) over real HTTP with SmolLM2: varied grammars, as the top-level field and as
//! `options.grammar`, on /api/generate and /api/chat, greedy and sampled. Every answer is
//! checked by plain Rust code written for its grammar (not by the matcher under test) and must
//! end by itself (`done_reason` "stop"); plus the 400s for bad grammars.

use std::sync::Arc;
use std::time::Instant;

use rollama_engine::gguf::GgufFile;
use rollama_engine::grammar::{self, Grammar, Matcher};
use rollama_engine::tokenizer::Tokenizer;
use rollama_tests::{model_path, TestServer};
use serde_json::{json, Value};

fn post(s: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let (code, text) = match ureq::post(&s.url(path)).send_json(body.clone()) {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{path}: {e}"),
    };
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Uploads the SmolLM2 GGUF as a blob and creates `name` from it.
fn create_smollm2(s: &TestServer, name: &str) {
    let digest = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
    let file = std::fs::File::open(model_path("smollm2")).unwrap();
    assert_eq!(ureq::post(&s.url(&format!("/api/blobs/{digest}"))).send(file).unwrap().status(), 201);
    let (code, v) = post(s, "/api/create", &json!({"model": name, "files": {"model.gguf": digest}, "stream": false}));
    assert_eq!(code, 200, "{v}");
}

// ---------------------------------------------------------------------------------------------
// Checkers, one per grammar, written by hand
// ---------------------------------------------------------------------------------------------

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `"[" [0-9]+ ("," " "? [0-9]+)* "]"`
fn is_number_list(t: &str) -> bool {
    let Some(inner) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else { return false };
    inner
        .split(',')
        .enumerate()
        .all(|(i, item)| digits(if i == 0 { item } else { item.strip_prefix(' ').unwrap_or(item) }))
}

/// `[0-9]{4} "-" [0-9]{2} "-" [0-9]{2}`
fn is_date(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// `[A-Z] [a-z]{2,8} (" " [A-Z] [a-z]{2,8}){0,2}`
fn is_name(t: &str) -> bool {
    let words: Vec<&str> = t.split(' ').collect();
    (1..=3).contains(&words.len())
        && words.iter().all(|w| {
            let mut cs = w.chars();
            cs.next().is_some_and(|c| c.is_ascii_uppercase()) && {
                let rest: Vec<char> = cs.collect();
                (2..=8).contains(&rest.len()) && rest.iter().all(|c| c.is_ascii_lowercase())
            }
        })
}

/// The arithmetic grammar followed by `=`: a recursive-descent recognizer.
fn is_arithmetic(t: &str) -> bool {
    fn expr(b: &[u8], i: &mut usize) -> bool {
        term(b, i) && {
            while *i < b.len() && (b[*i] == b'+' || b[*i] == b'-') {
                *i += 1;
                if !term(b, i) {
                    return false;
                }
            }
            true
        }
    }
    fn term(b: &[u8], i: &mut usize) -> bool {
        factor(b, i) && {
            while *i < b.len() && (b[*i] == b'*' || b[*i] == b'/') {
                *i += 1;
                if !factor(b, i) {
                    return false;
                }
            }
            true
        }
    }
    fn factor(b: &[u8], i: &mut usize) -> bool {
        if b.get(*i) == Some(&b'(') {
            *i += 1;
            if !expr(b, i) || b.get(*i) != Some(&b')') {
                return false;
            }
            *i += 1;
            return true;
        }
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    }
    let Some(body) = t.strip_suffix('=') else { return false };
    let mut i = 0;
    expr(body.as_bytes(), &mut i) && i == body.len()
}

/// `"Answer: " [^\n]{1,40} "\n"`
fn is_answer_line(t: &str) -> bool {
    let Some(mid) = t.strip_prefix("Answer: ").and_then(|t| t.strip_suffix('\n')) else { return false };
    !mid.contains('\n') && (1..=40).contains(&mid.chars().count())
}

/// `[а-я]{3,10}` (Cyrillic lower case)
fn is_cyrillic_word(t: &str) -> bool {
    (3..=10).contains(&t.chars().count()) && t.chars().all(|c| ('а'..='я').contains(&c))
}

/// `"{" " "? "\"answer\":" " "? ("true" | "false") " "? "}"`: all sixteen strings.
fn is_bool_object(t: &str) -> bool {
    let ws = ["", " "];
    ws.iter().any(|a| {
        ws.iter()
            .any(|b| ws.iter().any(|c| ["true", "false"].iter().any(|v| t == format!("{{{a}\"answer\":{b}{v}{c}}}"))))
    })
}

struct Case {
    grammar: &'static str,
    prompt: &'static str,
    check: fn(&str) -> bool,
}

const CASES: &[Case] = &[
    Case {
        grammar: r#"root ::= "yes" | "no""#,
        prompt: "Is the sky blue? Answer yes or no.",
        check: |t| t == "yes" || t == "no",
    },
    Case {
        grammar: r#"root ::= "[" [0-9]+ ("," " "? [0-9]+)* "]""#,
        prompt: "List the first five prime numbers.",
        check: is_number_list,
    },
    Case {
        grammar:
            "root ::= expr \"=\"\nexpr ::= term ((\"+\" | \"-\") term)*\nterm ::= factor ((\"*\" | \"/\") factor)*\n\
                  factor ::= [0-9]+ | \"(\" expr \")\"",
        prompt: "Write an arithmetic expression that equals ten.",
        check: is_arithmetic,
    },
    Case {
        grammar: r#"root ::= [0-9]{4} "-" [0-9]{2} "-" [0-9]{2}"#,
        prompt: "When did the first person walk on the moon? Give the date.",
        check: is_date,
    },
    Case {
        grammar:
            "# a capitalized name of one to three words\nroot ::= word (\" \" word){0,2}\nword ::= [A-Z] [a-z]{2,8}",
        prompt: "Who wrote Hamlet?",
        check: is_name,
    },
    Case {
        grammar: "root ::= \"Answer: \" [^\\n]{1,40} \"\\n\"",
        prompt: "Why is the sky blue?",
        check: is_answer_line,
    },
    Case { grammar: "root ::= [а-я]{3,10}", prompt: "Say hello in Russian.", check: is_cyrillic_word },
    Case {
        grammar: "root ::= \"{\" ws \"\\\"answer\\\":\" ws (\"true\" | \"false\") ws \"}\"\nws ::= \" \"?",
        prompt: "Is water wet? Reply in JSON.",
        check: is_bool_object,
    },
];

/// Sends one non-streamed request with the grammar top-level or in `options`; returns
/// (text, done_reason).
fn ask(s: &TestServer, chat: bool, in_options: bool, case: &Case, mut options: Value) -> (String, String) {
    let mut body = json!({"model": "smol", "stream": false});
    if in_options {
        options["grammar"] = json!(case.grammar);
    } else {
        body["grammar"] = json!(case.grammar);
    }
    body["options"] = options;
    if chat {
        body["messages"] = json!([{"role": "user", "content": case.prompt}]);
    } else {
        body["prompt"] = json!(case.prompt);
    }
    let (code, v) = post(s, if chat { "/api/chat" } else { "/api/generate" }, &body);
    assert_eq!(code, 200, "{v}");
    let text = if chat { &v["message"]["content"] } else { &v["response"] };
    (text.as_str().unwrap().to_string(), v["done_reason"].as_str().unwrap_or("").to_string())
}

#[test]
fn every_answer_matches_its_grammar_and_stops() {
    let s = TestServer::start();
    create_smollm2(&s, "smol");
    for (i, case) in CASES.iter().enumerate() {
        for (j, (chat, in_options)) in [(false, false), (true, true), (i % 2 == 0, i % 2 == 1)].into_iter().enumerate()
        {
            let options = if j == 0 {
                json!({"temperature": 0, "num_predict": 64})
            } else {
                json!({"temperature": 0.8, "seed": i * 3 + j, "num_predict": 64})
            };
            let (text, reason) = ask(&s, chat, in_options, case, options);
            eprintln!("{i}.{j} chat={chat} {reason:6} {text:?}");
            assert!((case.check)(&text), "grammar {:?} (request {i}.{j}) gave {text:?}", case.grammar);
            assert_eq!(reason, "stop", "grammar {:?} (request {i}.{j}) gave {text:?}", case.grammar);
        }
    }
}

#[test]
fn a_tight_budget_still_closes_the_grammar() {
    let s = TestServer::start();
    create_smollm2(&s, "smol");
    // min_close keeps the list closable: with 6 tokens it must reach `]` in time.
    let case = &CASES[1];
    for seed in 0..3 {
        let (text, reason) =
            ask(&s, seed % 2 == 0, false, case, json!({"temperature": 1.0, "seed": seed, "num_predict": 6}));
        assert!(is_number_list(&text), "{text:?}");
        assert_eq!(reason, "stop", "{text:?}");
    }
    // Streamed, the pieces put together match, and the last line says stop.
    let body = json!({"model": "smol", "prompt": "When was Rust 1.0 released?", "grammar": CASES[3].grammar,
        "options": {"temperature": 0.8, "seed": 1, "num_predict": 32}});
    let text = ureq::post(&s.url("/api/generate")).send_json(body).unwrap().into_string().unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let all: String = lines.iter().filter_map(|l| l["response"].as_str()).collect();
    assert!(is_date(&all), "{all:?}");
    assert_eq!(lines.last().unwrap()["done_reason"], "stop", "{text}");
}

#[test]
fn bad_grammars_are_400s_naming_the_place() {
    let s = TestServer::start();
    create_smollm2(&s, "smol");
    let cases = [
        (
            json!({"grammar": "root ::= \"a\"\nfoo ::= bar"}),
            "invalid grammar: 2:9: rule `bar` is used but never defined",
        ),
        (json!({"grammar": "root ::= [a-z"}), "invalid grammar: 1:10: unterminated character class"),
        (json!({"grammar": "start ::= \"a\""}), "invalid grammar: 1:1: grammar has no `root` rule"),
        (json!({"grammar": "root ::= root \"a\" | \"b\""}), "invalid grammar: 1:1: rule `root` is left-recursive"),
        (json!({"options": {"grammar": "root ::= \"a\"{5000}"}}), "invalid grammar: 1:14: repetition count 5000"),
        (json!({"grammar": 7}), "grammar must be a string"),
        (json!({"options": {"grammar": ["root ::= \"a\""]}}), "option \"grammar\" must be of type string"),
        (json!({"grammar": "root ::= \"a\"", "format": "json"}), "format and grammar cannot both be set"),
    ];
    for (extra, want) in cases {
        for path in ["/api/generate", "/api/chat"] {
            let mut body = json!({"model": "smol", "prompt": "hi", "messages": [{"role": "user", "content": "hi"}]});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let (code, v) = post(&s, path, &body);
            assert_eq!(code, 400, "{extra}: {v}");
            let msg = v["error"].as_str().unwrap();
            assert!(msg.starts_with(want), "{extra}: got {msg:?}, want {want:?}");
        }
    }
    // "" means no grammar.
    let body = json!({"model": "smol", "prompt": "hi", "grammar": "", "stream": false, "options": {"num_predict": 2}});
    assert_eq!(post(&s, "/api/generate", &body).0, 200);
}

/// The worst case of a step: the sampler's choices all refused, so every token of SmolLM2's
/// vocabulary is checked (a decode step is ~25 ms here). Most tokens fail on their first byte.
#[test]
fn checking_the_whole_vocabulary_is_cheap() {
    let g = GgufFile::open(model_path("smollm2")).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    for case in CASES {
        let m = Matcher::new(Arc::new(Grammar::parse(case.grammar).unwrap()));
        let t = Instant::now();
        let admitted = (0..tok.n_vocab() as u32).filter(|&id| grammar::admit(&m, &tok, id, 1000).is_some()).count();
        let took = t.elapsed();
        eprintln!("{:?}: {admitted} of {} tokens admitted in {took:.1?}", case.grammar, tok.n_vocab());
        assert!(admitted > 0);
        assert!(took.as_millis() < 200, "{took:?}");
    }
}
