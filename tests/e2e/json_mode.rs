//! `format: "json"` and `format: {schema}` over real HTTP with each of the three real models
//! (SmolLM2, Gemma 3, Qwen2.5-Coder): every answer must parse (and validate against its
//! schema), whatever the prompt, and stop by itself; plus the 400s for bad formats, and the
//! cost of the constraint per decode step.
//!
//! A value cut off by `num_predict` would be a `length` stop; the matcher refuses tokens that
//! would leave the value unclosable within the tokens left, so in practice every answer here
//! closes and stops, and the tests require all of them to.

use std::sync::Arc;
use std::time::Instant;

use rollama_engine::gguf::GgufFile;
use rollama_engine::json::{self, validate, Format, Matcher};
use rollama_engine::sampler::{Sampler, SamplerOptions};
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

/// The sha256 of each real model file (../shared/reference/README.md).
fn model_digest(model: &str) -> &'static str {
    match model {
        "smollm2" => "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "gemma3" => "sha256:a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "qwen2" => "sha256:1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        other => panic!("unknown model {other}"),
    }
}

/// Uploads the SmolLM2 GGUF as a blob and creates `name` from it.
fn create_smollm2(s: &TestServer, name: &str) {
    create_model(s, "smollm2", name);
}

/// Uploads a real model's GGUF as a blob and creates `name` from it (the server detects the
/// chat template; the Gemma 3 file is a base model and gets `{{ .Prompt }}`).
fn create_model(s: &TestServer, model: &str, name: &str) {
    let digest = model_digest(model);
    let resp =
        ureq::post(&s.url(&format!("/api/blobs/{digest}"))).send(std::fs::File::open(model_path(model)).unwrap());
    assert_eq!(resp.unwrap().status(), 201);
    let (code, v) = post(s, "/api/create", &json!({"model": name, "files": {"model.gguf": digest}, "stream": false}));
    assert_eq!(code, 200, "{v}");
}

/// Sends one non-streamed request; returns (text, done_reason).
fn ask(s: &TestServer, chat: bool, prompt: &str, format: &Value, options: Value) -> (String, String) {
    let mut body = json!({"model": "smol", "stream": false, "format": format, "options": options});
    if chat {
        body["messages"] = json!([{"role": "user", "content": prompt}]);
    } else {
        body["prompt"] = json!(prompt);
    }
    let (code, v) = post(s, if chat { "/api/chat" } else { "/api/generate" }, &body);
    assert_eq!(code, 200, "{v}");
    let text = if chat { &v["message"]["content"] } else { &v["response"] };
    (text.as_str().unwrap().to_string(), v["done_reason"].as_str().unwrap_or("").to_string())
}

/// The same sampling settings for request `i`: greedy, or 0.8 with a seed.
fn options(i: usize, num_predict: usize) -> Value {
    if i.is_multiple_of(2) {
        json!({"temperature": 0, "num_predict": num_predict})
    } else {
        json!({"temperature": 0.8, "seed": i, "num_predict": num_predict})
    }
}

#[test]
fn json_mode_always_gives_json_smollm2() {
    json_mode_suite("smollm2");
}

#[test]
fn json_mode_always_gives_json_gemma3() {
    json_mode_suite("gemma3");
}

#[test]
fn json_mode_always_gives_json_qwen2() {
    json_mode_suite("qwen2");
}

/// 50 varied JSON-mode requests (generate and chat; greedy and seeded sampling) to `model`.
fn json_mode_suite(model: &str) {
    let s = TestServer::start();
    create_model(&s, model, "smol");
    let prompts = [
        "Tell me a story.",
        "List three fruits and their colors as JSON.",
        "What is the capital of France?",
        "Describe a cat in JSON with name, age and color.",
        "Write a haiku about the sea.",
        "Give me a JSON object for a book: title, author, year.",
        "Count from one to ten.",
        "Translate 'hello' into Spanish, French and German.",
        "Who are you?",
        "Return the weather in Paris as JSON.",
        "Explain recursion briefly.",
        "{\"name\":",
        "Make a shopping list.",
        "What is 2 + 2?",
        "Generate a user profile with nested address.",
        "Say nothing.",
        "Produce an array of five prime numbers inside an object.",
        "Write Python code that prints hello.",
        "Summarize the plot of Hamlet.",
        "Emoji time: 🎉 ünïcödé, please echo it.",
        "The quick brown fox",
        "Give me a recipe with ingredients and steps.",
        "Why is the sky blue?",
        "A JSON with a key called \"quote\" containing a \"quoted\" word.",
        "Rate these movies from 1 to 10: Alien, Up, Heat.",
    ];
    let t0 = Instant::now();
    let (mut stopped, mut parsed) = (0, 0);
    for i in 0..50 {
        let prompt = prompts[i % prompts.len()];
        let chat = (i / 2) % 3 == 1;
        let (text, reason) = ask(&s, chat, prompt, &json!("json"), options(i, 48 + (i % 3) * 24));
        eprintln!("{i:2} {reason:6} {text:?}");
        if reason == "stop" {
            stopped += 1;
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => {
                assert!(v.is_object(), "JSON mode must give an object: {text}");
                parsed += 1;
            }
            Err(e) => panic!("request {i} ({prompt:?}, done_reason {reason}): {e}: {text:?}"),
        }
    }
    eprintln!("{model} json mode: {parsed}/50 parsed, {stopped}/50 done_reason stop, in {:.1?}", t0.elapsed());
    assert_eq!((parsed, stopped), (50, 50));
}

#[test]
fn schemas_always_validate_smollm2() {
    schema_suite("smollm2");
}

#[test]
fn schemas_always_validate_gemma3() {
    schema_suite("gemma3");
}

#[test]
fn schemas_always_validate_qwen2() {
    schema_suite("qwen2");
}

/// 20 schema requests to `model`, each answer validated against its schema.
fn schema_suite(model: &str) {
    let s = TestServer::start();
    create_model(&s, model, "smol");
    let person = json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]});
    let cases: Vec<(&str, Value)> = vec![
        ("Describe a person.", person.clone()),
        ("Tell me about Ada Lovelace.", person),
        (
            "Is the sky blue?",
            json!({"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"], "additionalProperties": false}),
        ),
        (
            "Pick a color.",
            json!({"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}}, "required": ["color"]}),
        ),
        (
            "List some fruits.",
            json!({"type": "object", "properties": {"fruits": {"type": "array", "items": {"type": "string"}}}, "required": ["fruits"]}),
        ),
        ("Give some numbers.", json!({"type": "array", "items": {"type": "integer"}})),
        (
            "A point in 3D.",
            json!({"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}, "z": {"type": "number"}}, "required": ["x", "y", "z"], "additionalProperties": false}),
        ),
        (
            "A company with its address.",
            json!({"type": "object", "properties": {"name": {"type": "string"}, "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}, "required": ["city", "zip"]}}, "required": ["name", "address"]}),
        ),
        ("Status?", json!({"enum": ["ok", "error", 3, null]})),
        ("The answer.", json!({"const": {"answer": 42}})),
        (
            "Maybe a name.",
            json!({"type": "object", "properties": {"name": {"type": ["string", "null"]}}, "required": ["name"]}),
        ),
        (
            "Tell me a story.",
            json!({"type": "object", "properties": {"title": {"type": "string"}, "chapters": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}, "text": {"type": "string"}}, "required": ["n", "text"]}}}, "required": ["title", "chapters"]}),
        ),
        ("How many legs has a spider?", json!({"type": "integer"})),
        (
            "Weather report.",
            json!({"type": "object", "properties": {"temp": {"type": "number"}, "unit": {"enum": ["C", "F"]}, "rain": {"type": "boolean"}}, "required": ["temp", "unit", "rain"], "additionalProperties": false}),
        ),
        ("Some scores.", json!({"type": "object", "additionalProperties": {"type": "integer"}})),
        ("Anything.", json!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "boolean"}}]})),
        ("A matrix.", json!({"type": "array", "items": {"type": "array", "items": {"type": "number"}}})),
        (
            "Optional fields.",
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "boolean"}}, "required": ["b"], "additionalProperties": false}),
        ),
        (
            "A to-do list.",
            json!({"type": "object", "properties": {"todos": {"type": "array", "items": {"type": "object", "properties": {"task": {"type": "string"}, "done": {"type": "boolean"}}, "required": ["task", "done"], "additionalProperties": false}}}, "required": ["todos"], "additionalProperties": false}),
        ),
        ("Nothing at all.", json!({"type": "null"})),
    ];
    let t0 = Instant::now();
    let mut valid = 0;
    for (i, (prompt, schema)) in cases.iter().enumerate() {
        let (text, reason) = ask(&s, i % 2 == 1, prompt, schema, options(i, 96));
        eprintln!("{i:2} {reason:6} {text:?}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{prompt:?} ({reason}): {e}: {text:?}"));
        validate(&v, schema).unwrap_or_else(|e| panic!("{prompt:?}: {text} does not validate: {e}"));
        assert_eq!(reason, "stop", "{prompt:?}: {text}");
        valid += 1;
    }
    eprintln!("{model} schemas: {valid}/{} validated, in {:.1?}", cases.len(), t0.elapsed());
    assert_eq!(valid, 20);
}

#[test]
fn bad_formats_are_400s_and_json_mode_streams() {
    let s = TestServer::start();
    create_smollm2(&s, "smol");
    let mut deep = json!({"type": "string"});
    for _ in 0..100 {
        deep = json!({"type": "array", "items": deep});
    }
    for (format, needle) in [
        (deep, "deeper"),
        (json!({"enum": []}), "enum"),
        (json!("xml"), "invalid format"),
        (json!(5), "invalid format"),
        (json!({"type": "strnig"}), "strnig"),
        (json!({"$ref": "#/defs/a"}), "$ref"),
    ] {
        for path in ["/api/generate", "/api/chat"] {
            let body = json!({"model": "smol", "prompt": "hi", "messages": [{"role": "user", "content": "hi"}], "format": format});
            let (code, v) = post(&s, path, &body);
            assert_eq!(code, 400, "{format}: {v}");
            assert!(v["error"].as_str().unwrap().contains(needle), "{format}: {v}");
        }
    }
    // Streamed, the pieces put together are one JSON object, and the last line says stop.
    let body = json!({"model": "smol", "messages": [{"role": "user", "content": "Tell me a story."}], "format": "json",
        "options": {"temperature": 0.8, "seed": 3, "num_predict": 40}});
    let text = ureq::post(&s.url("/api/chat")).send_json(body).unwrap().into_string().unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let all: String = lines.iter().filter_map(|l| l["message"]["content"].as_str()).collect();
    assert!(serde_json::from_str::<Value>(&all).unwrap().is_object(), "{all:?}");
    assert_eq!(lines.last().unwrap()["done_reason"], "stop", "{text}");
    // "" means no format at all.
    let (code, _) = post(
        &s,
        "/api/generate",
        &json!({"model": "smol", "prompt": "hi", "format": "", "stream": false, "options": {"num_predict": 2}}),
    );
    assert_eq!(code, 200);
}

/// The constraint's cost per decode step on SmolLM2's full vocabulary: sampling plus the
/// matcher's check, next to plain sampling, with the model's favourite token admitted (the
/// common case) and refused (a fallback down the ranking). A decode step is ~25 ms here.
#[test]
fn constraint_cost_per_step() {
    let g = GgufFile::open(model_path("smollm2")).unwrap();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let n_vocab = tok.n_vocab();
    let text = r#"{"name": "Ada Lovelace", "born": 1815, "fields": ["mathematics", "computing"], "notes": {"first_program": true, "quote": "That brain of mine is something more than merely mortal."}}"#;
    let ids = tok.encode(text, false, false);
    let schema = Arc::new(Format::Json.compile().unwrap());
    let mut logits = vec![0f32; n_vocab];
    for (i, l) in logits.iter_mut().enumerate() {
        *l = ((i * 7919) % 1000) as f32 / 100.0;
    }
    let eos = tok.eos().unwrap_or(0);
    for (label, temperature) in [("greedy", 0.0), ("t=0.8", 0.8)] {
        for refuse_top in [false, true] {
            let mut sampler = Sampler::new(SamplerOptions { temperature, top_k: 40, top_p: 0.9, seed: Some(1) });
            let mut m = Matcher::new(schema.clone());
            let (mut plain, mut constrained, mut checks) = (0.0, 0.0, 0usize);
            for &want in &ids {
                // The model's favourite: the text's next token, or EOS (refused mid-value).
                let top = if refuse_top { eos } else { want };
                let mut l = logits.clone();
                l[top as usize] = 100.0;
                l[want as usize] = if refuse_top { 99.0 } else { 100.0 };
                let t = Instant::now();
                std::hint::black_box(sampler.sample(&l));
                plain += t.elapsed().as_secs_f64();
                let t = Instant::now();
                let id = sampler.sample_where(&l, |id| {
                    checks += 1;
                    json::admit(&m, &tok, id, 1000).is_some()
                });
                constrained += t.elapsed().as_secs_f64();
                assert!(id.is_some());
                // Follow the text, whatever was sampled, so every step sits inside the value.
                m = m.try_feed(&tok.token_bytes(want, false)).expect("the text is valid JSON");
            }
            let n = ids.len() as f64;
            eprintln!(
                "{label}, top token {}: plain sampling {:.3} ms/step, sampling + constraint {:.3} ms/step, {:.2} checks/step (vocabulary {n_vocab})",
                if refuse_top { "refused" } else { "admitted" },
                plain / n * 1e3,
                constrained / n * 1e3,
                checks as f64 / n
            );
            // The guard against scanning the vocabulary: a handful of checks per step, never
            // thousands. The time bound is loose because other tests share the cores; measured
            // alone it is well under 5% of a ~25 ms decode step.
            assert!(checks as f64 / n <= 3.0, "{checks} checks in {n} steps");
            assert!(constrained / n < 5e-3, "{:.3} ms per step", constrained / n * 1e3);
        }
    }
}
