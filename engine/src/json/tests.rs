//! The matcher on valid and invalid byte streams, the schema layer, and the validator.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{validate, Format, Matcher, Schema};

fn any() -> Matcher {
    Matcher::new(Arc::new(Schema::any_value()))
}

fn with(schema: Value) -> Matcher {
    Matcher::new(Arc::new(Schema::compile(&schema).unwrap()))
}

/// Whether `text` is accepted whole and leaves a complete value.
fn complete(mut m: Matcher, text: &str) -> bool {
    m.feed(text.as_bytes()) && m.can_end()
}

/// Whether `text` is a valid prefix (accepted, complete or not).
fn prefix(mut m: Matcher, text: &str) -> bool {
    m.feed(text.as_bytes())
}

#[test]
fn accepts_valid_json() {
    for t in [
        "{}",
        "[]",
        r#"{"a": 1, "b": [true, false, null], "c": {"d": "e"}}"#,
        "-0.5e+10",
        "0",
        "12",
        "1.25E-3",
        "1e99",
        r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \u20AC""#,
        "\"héllo wörld 日本 🎉\"",
        "[1,2,[3,[4]]]",
        "{\n  \"a\": [\n    1,\n    2\n  ]\n}",
        "true",
        "null",
    ] {
        assert!(complete(any(), t), "{t}");
        // Every byte sequence the matcher accepts whole, serde_json parses.
        serde_json::from_str::<Value>(t).unwrap();
    }
}

#[test]
fn rejects_invalid_json() {
    for t in [
        "{,}",
        "[1,]",
        "{\"a\" 1}",
        "{\"a\":}",
        "01",
        "-",
        "1.",
        "1e",
        "+1",
        ".5",
        "tru ",
        "nul1",
        "\"a\nb\"",
        "\"\\x\"",
        "\"\\u12g4\"",
        "\"\\ud800\"",
        "{'a': 1}",
        "1e400",
        "[1 2]",
        "}",
        " {}",
        "{}}",
        "{\"a\":1,}",
    ] {
        assert!(!complete(any(), t), "{t:?} must not be accepted as a whole value");
    }
    // Invalid UTF-8 inside strings: a stray continuation byte, an overlong form, a surrogate.
    for bytes in [&b"\"\x80\""[..], b"\"\xC0\xAF\"", b"\"\xED\xA0\x80\"", b"\"\xF5\x80\x80\x80\"", b"\"\xE2\x82\""] {
        let mut m = any();
        assert!(!(m.feed(bytes) && m.can_end()), "{bytes:?}");
    }
}

#[test]
fn prefixes_and_completion() {
    let mut m = any();
    assert!(m.feed(b"{\"a\": [1, 2"));
    assert!(!m.can_end() && !m.is_done());
    assert_eq!(m.min_close(), 2); // "]}"
    assert!(m.feed(b"]}"));
    assert!(m.is_done());
    // Only whitespace may follow a closed value.
    assert!(m.try_feed(b" ").is_some());
    assert!(m.try_feed(b"x").is_none());
    // A root number can end, but is not done: more digits may come.
    let mut m = any();
    assert!(m.feed(b"-12"));
    assert!(m.can_end() && !m.is_done());
    // Plain JSON mode wants an object.
    let json = Matcher::new(Arc::new(Format::Json.compile().unwrap()));
    assert!(json.try_feed(b"[").is_none() && json.try_feed(b"\"").is_none());
    assert!(complete(json, "{\"k\": [1, \"v\"]}"));
}

#[test]
fn whitespace_is_bounded() {
    assert!(prefix(any(), &format!("[{}1", " ".repeat(10))));
    assert!(!prefix(any(), &format!("[{}1", " ".repeat(11))));
    assert!(!prefix(any(), &format!("{{\"a\":1{}", " ".repeat(11))));
    // One line break per gap: indentation yes, blank lines no.
    assert!(prefix(any(), "{\n        \"a\":\n  1,\n  \"b\""));
    assert!(!prefix(any(), "{\n\n"));
    assert!(!prefix(any(), "[1 \n \r"));
    // No whitespace before the value begins.
    assert!(!prefix(any(), " "));
    assert!(!prefix(any(), "\n{"));
    // Inside strings, whitespace is content and is not counted.
    assert!(complete(any(), &format!("\"{}\"", " ".repeat(100))));
}

#[test]
fn nesting_depth_is_capped() {
    assert!(prefix(any(), &"[".repeat(60)));
    assert!(!prefix(any(), &"[".repeat(70)));
    assert!(!prefix(any(), &"{\"a\":".repeat(70)));
}

#[test]
fn numbers_and_literals_hand_back_the_byte_that_ends_them() {
    assert!(complete(any(), "[1,-0.5e+10,0,true]"));
    assert!(complete(any(), "{\"a\":0.0}"));
    let m = with(json!({"enum": [1, 12, "x"]}));
    assert!(complete(m.clone(), "1") && complete(m.clone(), "12") && complete(m.clone(), "\"x\""));
    assert!(!prefix(m.clone(), "2") && !prefix(m.clone(), "13") && !prefix(m, "\"y"));
    let arr = with(json!({"type": "array", "items": {"enum": [1, 12]}}));
    assert!(complete(arr.clone(), "[1,12,1]"));
    assert!(!prefix(arr, "[1,2"));
}

#[test]
fn schema_constraints() {
    let person = json!({
        "type": "object",
        "properties": {
            "age": {"type": "integer"},
            "name": {"type": "string"},
            "nick": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"enum": ["cat", "dog"]},
            "ok": {"type": "boolean"},
            "addr": {"type": "object", "properties": {"zip": {"type": ["string", "null"]}}, "required": ["zip"]}
        },
        "required": ["age", "name", "kind", "addr"],
        "additionalProperties": false
    });
    let m = with(person.clone());
    // serde_json keeps properties sorted: addr, age, kind, name, nick, ok, tags.
    let good = r#"{"addr": {"zip": null}, "age": 42, "kind": "dog", "name": "Rex", "tags": ["a"]}"#;
    assert!(complete(m.clone(), good));
    validate(&serde_json::from_str(good).unwrap(), &person).unwrap();
    assert!(!prefix(m.clone(), r#"{"age": 42"#), "a required property cannot be skipped");
    assert!(!prefix(m.clone(), r#"{"addr": {"zip": null}, "age": 4.5"#), "integers have no fraction");
    assert!(!prefix(m.clone(), r#"{"addr": {"zip": null}, "age": 4, "kind": "cow"#));
    assert!(!prefix(m.clone(), r#"{"addr": {"zip": null}, "age": 4, "kind": "cat", "name": "x", "other""#));
    assert!(!prefix(m.clone(), r#"{"addr": {"zip": null}, "age": 4, "kind": "cat"}"#), "name is required");
    assert!(!prefix(m, r#"{"addr": {"zip": 5"#));
    let c = with(json!({"const": {"a": [1, 2]}}));
    assert!(complete(c.clone(), r#"{"a":[1,2]}"#) && !prefix(c, r#"{"a": "#));
    let u = with(json!({"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "boolean"}}]}));
    assert!(complete(u.clone(), "[true,false]") && complete(u.clone(), "7") && !prefix(u, "\""));
    let free = with(json!({"type": "object", "additionalProperties": {"type": "number"}}));
    assert!(complete(free.clone(), r#"{"x": 1, "y": 2.5}"#) && !prefix(free, r#"{"x": "a"#));
    let empty = with(json!({"type": "object", "additionalProperties": false}));
    assert!(complete(empty.clone(), "{}") && !prefix(empty, "{\""));
}

#[test]
fn min_close_tracks_required_properties() {
    let m = with(
        json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a", "b"]}),
    );
    // {"a":"","b":0}
    assert_eq!(m.min_close(), 14);
    let mut m2 = m.clone();
    assert!(m2.feed(b"{\"a\":\"xyz"));
    assert_eq!(m2.min_close(), "\",\"b\":0}".len());
}

#[test]
fn hostile_and_unsupported_schemas_are_errors() {
    let mut deep = json!({"type": "string"});
    for _ in 0..100 {
        deep = json!({"type": "array", "items": deep});
    }
    assert!(Schema::compile(&deep).unwrap_err().contains("deeper"));
    assert!(Schema::compile(&json!({"$ref": "#/x"})).is_err());
    assert!(Schema::compile(&json!({"type": "strnig"})).unwrap_err().contains("strnig"));
    assert!(Schema::compile(&json!({"enum": []})).is_err());
    assert!(Schema::compile(&json!(false)).is_err());
    assert!(Schema::compile(&json!(3)).is_err());
    let closed = json!({"type": "object", "properties": {}, "required": ["x"], "additionalProperties": false});
    assert!(Schema::compile(&closed).is_err());
}

#[test]
fn validator() {
    let s = json!({
        "type": "object",
        "properties": {"n": {"type": "integer"}, "l": {"type": "array", "items": {"enum": ["a", "b"]}}},
        "required": ["n"],
        "additionalProperties": false
    });
    assert!(validate(&json!({"n": 3, "l": ["a"]}), &s).is_ok());
    assert!(validate(&json!({"n": 3.0}), &s).is_ok());
    assert!(validate(&json!({"n": 3.5}), &s).is_err());
    assert!(validate(&json!({"l": []}), &s).is_err());
    assert!(validate(&json!({"n": 1, "l": ["c"]}), &s).is_err());
    assert!(validate(&json!({"n": 1, "x": 0}), &s).is_err());
    assert!(validate(&json!([1]), &s).is_err());
    assert!(validate(&json!(null), &json!({"type": ["string", "null"]})).is_ok());
    assert!(validate(&json!(1), &json!({"anyOf": [{"type": "string"}, {"const": 1}]})).is_ok());
}

/// Random walks through the matcher: at each step a random admitted byte, and once the budget
/// runs low only bytes that bring the end closer. Every walk must close within its budget (so
/// `min_close` never promises what no byte can keep), and what it wrote must parse and validate.
#[test]
fn random_walks_close_in_budget_and_validate() {
    let schemas = [
        json!({}),
        json!({"type": "object"}),
        json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "array", "items": {"enum": ["x", 1, null]}},
            "c": {"type": "object", "properties": {"d": {"type": ["string", "null"]}}, "required": ["d"]}}, "required": ["a", "c"],
            "additionalProperties": false}),
        json!({"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "object", "additionalProperties": {"type": "boolean"}}]}}),
    ];
    let alphabet: Vec<u8> = b"{}[]\",:-+.eE0123456789 \n\\/abcdeflnrstuxyzAF\xc3\xa9\xe2\x82\xac".to_vec();
    let mut rng = crate::sampler::Rng::new(9);
    for schema in &schemas {
        let compiled = Arc::new(Schema::compile(schema).unwrap());
        for _ in 0..1000 {
            let budget = compiled.min_len[compiled.root] + (rng.next_u64() % 120) as usize;
            let mut m = Matcher::new(compiled.clone());
            let mut text = Vec::new();
            while !m.is_done() && !(m.can_end() && (text.len() > 3 || text.len() >= budget)) {
                let left = budget.saturating_sub(text.len() + 1);
                let ok: Vec<(u8, Matcher)> = alphabet
                    .iter()
                    .filter_map(|&b| m.try_feed(&[b]).map(|a| (b, a)))
                    .filter(|(_, a)| a.can_end() || a.min_close() <= left)
                    .collect();
                assert!(!ok.is_empty(), "stuck after {:?} with {left} left", String::from_utf8_lossy(&text));
                let (b, a) = ok[(rng.next_u64() % ok.len() as u64) as usize].clone();
                text.push(b);
                m = a;
            }
            assert!(text.len() <= budget, "{:?} over {budget}", String::from_utf8_lossy(&text));
            let s = String::from_utf8(text).unwrap();
            let v: Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            validate(&v, schema).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        }
    }
}
