//! Tests of the template engine against Go's `text/template` semantics and of Ollama's
//! prompt building, including golden renders of the library templates whose expected
//! bytes are Ollama's own `template/testdata` files.

use super::*;

fn run(src: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse(src)?.execute(data)
}

fn data() -> Value {
    let msgs = vec![
        Value::map(Map::new().with("Role", "user").with("Content", "hi")),
        Value::map(Map::new().with("Role", "assistant").with("Content", "yo")),
    ];
    Value::map(
        Map::new()
            .with("System", "sys")
            .with("Empty", "")
            .with("N", 3i64)
            .with("F", 2.5)
            .with("Messages", msgs)
            .with("Response", ""),
    )
}

fn ok(src: &str) -> String {
    run(src, &data()).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

// ---- Go semantics ----

#[test]
fn text_fields_and_trimming() {
    assert_eq!(ok("a {{ .System }} b"), "a sys b");
    assert_eq!(ok("a \n {{- .System -}} \n b"), "asysb");
    assert_eq!(ok("{{/* comment */}}x{{- /* c */}} y"), "x y");
    assert_eq!(ok("{{ .Missing }}|{{ .Missing.Deeper }}"), "<no value>|<no value>");
    assert_eq!(ok("{{ .N }} {{ .F }} {{ true }} {{ 1.5 }} {{ \"q\" }} {{ `r\\n` }}"), "3 2.5 true 1.5 q r\\n");
}

#[test]
fn conditionals_follow_go_truth() {
    assert_eq!(ok("{{ if .Empty }}a{{ else if .N }}b{{ else }}c{{ end }}"), "b");
    assert_eq!(ok("{{ if .Missing }}a{{ else }}c{{ end }}"), "c");
    assert_eq!(ok("{{ with .System }}[{{ . }}]{{ end }}{{ with .Empty }}x{{ else }}y{{ end }}"), "[sys]y");
    assert_eq!(ok("{{ with .Empty }}x{{ else with .N }}{{ . }}{{ end }}"), "3");
    assert_eq!(ok("{{ if and .System .Empty }}a{{ else }}b{{ end }}{{ or .Empty .N }}"), "b3");
    assert_eq!(ok("{{ and .N .System }}|{{ and .Empty .N }}|{{ not .Empty }}"), "sys||true");
    // `and` stops before an argument that would fail.
    assert_eq!(ok("{{ if and .Empty (index .Missing 1) }}a{{ end }}"), "");
}

#[test]
fn range_variables_break_continue_else() {
    assert_eq!(ok("{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}"), "user:hi;assistant:yo;");
    assert_eq!(ok("{{ range $i, $m := .Messages }}{{ $i }}={{ $m.Role }} {{ end }}"), "0=user 1=assistant ");
    assert_eq!(ok("{{ range $m := .Messages }}{{ $m.Content }}{{ end }}"), "hiyo");
    assert_eq!(ok("{{ range .Nothing }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        ok("{{ range .Messages }}{{ if eq .Role \"user\" }}{{ continue }}{{ end }}{{ .Content }}{{ end }}"),
        "yo"
    );
    assert_eq!(ok("{{ range .Messages }}{{ .Content }}{{ break }}{{ end }}"), "hi");
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(ok("{{ range .Messages }}{{ $.System }}{{ end }}"), "syssys");
    let m =
        Value::map(Map::new().with("M", Value::map(Map::new().with("b", 2i64).with("a", 1i64))).with("Response", ""));
    assert_eq!(run("{{ range $k, $v := .M }}{{ $k }}{{ $v }}{{ end }}", &m).unwrap(), "a1b2");
}

#[test]
fn variables_scope_and_assign() {
    assert_eq!(ok("{{ $x := 1 }}{{ range .Messages }}{{ $x = 2 }}{{ end }}{{ $x }}"), "2");
    assert_eq!(ok("{{ $x := \"a\" }}{{ if 1 }}{{ $x := \"b\" }}{{ $x }}{{ end }}{{ $x }}"), "ba");
    assert_eq!(
        ok("{{- $s := \"\" }}{{ range .Messages }}{{ $s = printf \"%s[%s]\" $s .Role }}{{ end }}{{ $s }}"),
        "[user][assistant]"
    );
}

#[test]
fn functions() {
    assert_eq!(
        ok("{{ eq .N 1 2 3 }} {{ ne .System \"x\" }} {{ lt 1 2 }} {{ ge 2.5 .F }} {{ gt \"b\" \"a\" }}"),
        "true true true true true"
    );
    assert_eq!(ok("{{ len .Messages }} {{ len .System }} {{ index .Messages 1 \"Role\" }}"), "2 3 assistant");
    assert_eq!(ok("{{ len (slice .Messages 1) }} {{ slice .System 1 2 }}"), "1 y");
    assert_eq!(ok("{{ $last := eq (len (slice $.Messages 1)) 1 }}{{ $last }}"), "true");
    assert_eq!(ok("{{ print 1 2 \"a\" }} {{ println \"x\" }}"), "1 2a x\n");
    assert_eq!(ok("{{ printf \"%s-%d-%v-%q\" .System .N .F .System }}"), "sys-3-2.5-\"sys\"");
    assert_eq!(ok("{{ .System | printf \"<%s>\" }}"), "<sys>");
    assert_eq!(ok("{{ json .Messages }}"), r#"[{"Role":"user","Content":"hi"},{"Role":"assistant","Content":"yo"}]"#);
    assert_eq!(ok("{{ json \"<a&b>\" }}"), r#""\u003ca\u0026b\u003e""#);
    assert_eq!(ok("{{ currentDate }}").len(), 10);
    assert_eq!(ok("{{ yesterdayDate }}").len(), 10);
}

#[test]
fn values_print_like_go() {
    assert_eq!(ok("{{ .Messages }}"), "[map[Content:hi Role:user] map[Content:yo Role:assistant]]");
    let tools =
        Value::json_printed(Value::list(vec![Value::json_printed(Value::map(Map::new().with("type", "function")))]));
    let d = Value::map(Map::new().with("Tools", tools).with("Response", ""));
    assert_eq!(
        run("{{ .Tools }}|{{ range .Tools }}{{ . }}{{ .Type }}{{ end }}", &d).unwrap(),
        r#"[{"type":"function"}]|{"type":"function"}function"#
    );
}

#[test]
fn errors_name_the_position() {
    let e = run("line1\n  {{ .System.Foo }}", &data()).unwrap_err();
    assert_eq!((e.line, e.col), (2, 5));
    assert!(e.to_string().starts_with("template: :2:5: "), "{e}");
    assert!(e.msg.contains("can't evaluate field Foo in type string"));
    let e = Template::parse("{{ if .X }}\n{{ else }}\n{{ end }}{{ end }}").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(run("{{ index .Messages 5 }}", &data()).unwrap_err().msg.contains("index out of range"));
    assert!(run("{{ .System 1 }}", &data()).is_err());
    assert!(run("{{ eq .Messages 1 }}", &data()).is_err());
    assert!(Template::parse("{{ .X ").is_err());
    assert!(Template::parse("{{ \"unterminated }}").is_err());
}

#[test]
fn uses_reports_fields_like_ollama_vars() {
    // Ollama's TestParse cases.
    let cases: &[(&str, &[&str])] = &[
        ("{{ .Prompt }}", &["prompt", "response"]),
        ("{{ .System }} {{ .Prompt }}", &["prompt", "response", "system"]),
        ("{{ .System }} {{ .Prompt }} {{ .Response }}", &["prompt", "response", "system"]),
        ("{{ with .Tools }}{{ . }}{{ end }} {{ .System }} {{ .Prompt }}", &["prompt", "response", "system", "tools"]),
        ("{{ range .Messages }}{{ .Role }} {{ .Content }}{{ end }}", &["content", "messages", "role"]),
    ];
    for (src, want) in cases {
        assert_eq!(Template::parse(src).unwrap().vars(), *want, "{src}");
    }
    let t = Template::parse("{{ if .Suffix }}{{ $.Messages }}{{ end }}").unwrap();
    assert!(t.uses("Messages") && t.uses("suffix") && !t.uses("tools"));
}

// ---- hostile input ----

#[test]
fn hostile_templates_fail_cleanly() {
    let deep = "{{ if 1 }}".repeat(5000) + &"{{ end }}".repeat(5000);
    assert!(Template::parse(&deep).is_err());
    let parens = "{{ ".to_string() + &"(".repeat(5000) + "1" + &")".repeat(5000) + " }}";
    assert!(Template::parse(&parens).is_err());
    assert!(run("{{ range 1000000000 }}x{{ end }}", &Value::Null).unwrap_err().msg.contains("limit"));
    let doubling = "{{ $s := \"xxxxxxxxxxxxxxxx\" }}{{ range 40 }}{{ $s = printf \"%s%s\" $s $s }}{{ end }}";
    assert!(run(doubling, &Value::Null).is_err());
    let big = "{{ range 100000 }}".to_string() + &"x".repeat(1000) + "{{ end }}";
    assert!(run(&big, &Value::Null).unwrap_err().msg.contains("size limit"));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A fixed pseudo-random walk over template fragments: parse and run must return, not panic.
    let parts = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "if",
        "else",
        "end",
        "range",
        "with",
        ".A",
        "$x",
        ":=",
        "=",
        "(",
        ")",
        "|",
        "\"s\"",
        "1",
        "eq",
        "len",
        "index",
        "slice",
        "printf",
        "\"%s%d\"",
        "break",
        "continue",
        "$",
        ",",
        "/*",
        "*/",
        "text\n",
        "$i, $m := .Messages",
        "'c'",
        "-1",
        "nil",
        "json",
        ".",
        "and",
        "or",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..(seed % 24) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(parts[(seed % parts.len() as u64) as usize]);
        }
        if let Ok(t) = Template::parse(&s) {
            let _ = t.execute(&data());
        }
    }
}

// ---- Ollama's prompt building ----

fn conv(system: bool) -> Vec<Message> {
    let mut v = Vec::new();
    if system {
        v.push(Message::new("system", "You are a helpful assistant."));
    }
    v.push(Message::new("user", "Hello, how are you?"));
    v.push(Message::new("assistant", "I'm doing great. How can I help you today?"));
    v.push(Message::new("user", "I'd like to show off how chat templating works!"));
    v
}

fn render_library(name: &str, msgs: &[Message]) -> String {
    let t = Template::parse(library_template(name).unwrap().template).unwrap();
    render(&t, &Values { messages: msgs, ..Values::default() }).unwrap()
}

/// Expected bytes: Ollama's `template/testdata/<name>.gotmpl/system-user-assistant-user`.
#[test]
fn library_templates_render_byte_for_byte() {
    let golden: &[(&str, &str)] = &[
        (
            "chatml",
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n",
        ),
        (
            "llama2-chat",
            "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello, how are you? [/INST] I'm doing great. How can I help you today?</s><s>[INST] <<SYS>><</SYS>>\n\nI'd like to show off how chat templating works! [/INST]",
        ),
        (
            "llama3-instruct",
            "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        ),
        (
            "mistral-instruct",
            "[INST] You are a helpful assistant.\n\nHello, how are you?[/INST] I'm doing great. How can I help you today?</s>[INST] I'd like to show off how chat templating works![/INST]",
        ),
        (
            "gemma-instruct",
            "<start_of_turn>user\nYou are a helpful assistant.\nHello, how are you?<end_of_turn>\n<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n",
        ),
        (
            "gemma3-instruct",
            "<start_of_turn>user\nYou are a helpful assistant.\n\nHello, how are you?<end_of_turn>\n<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n\n",
        ),
        (
            "phi-3",
            "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nHello, how are you?<|end|>\n<|assistant|>\nI'm doing great. How can I help you today?<|end|>\n<|user|>\nI'd like to show off how chat templating works!<|end|>\n<|assistant|>\n",
        ),
    ];
    assert_eq!(golden.len(), LIBRARY_NAMES.len());
    for (name, want) in golden {
        assert_eq!(render_library(name, &conv(true)), *want, "{name}");
    }
}

/// Expected bytes: Ollama's `template/testdata/<name>.gotmpl/user-assistant-user`.
#[test]
fn library_templates_render_byte_for_byte_without_system() {
    let golden: &[(&str, &str)] = &[
        ("chatml", "<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\nI'm doing great. How can I help you today?<|im_end|>\n<|im_start|>user\nI'd like to show off how chat templating works!<|im_end|>\n<|im_start|>assistant\n"),
        ("llama2-chat", "[INST] <<SYS>><</SYS>>\n\nHello, how are you? [/INST] I'm doing great. How can I help you today?</s><s>[INST] <<SYS>><</SYS>>\n\nI'd like to show off how chat templating works! [/INST]"),
        ("llama3-instruct", "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI'm doing great. How can I help you today?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nI'd like to show off how chat templating works!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
        ("mistral-instruct", "[INST] Hello, how are you?[/INST] I'm doing great. How can I help you today?</s>[INST] I'd like to show off how chat templating works![/INST]"),
        ("gemma-instruct", "<start_of_turn>user\nHello, how are you?<end_of_turn>\n<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n"),
        ("gemma3-instruct", "<start_of_turn>user\nHello, how are you?<end_of_turn>\n<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n\n"),
        ("phi-3", "<|user|>\nHello, how are you?<|end|>\n<|assistant|>\nI'm doing great. How can I help you today?<|end|>\n<|user|>\nI'd like to show off how chat templating works!<|end|>\n<|assistant|>\n"),
    ];
    assert_eq!(golden.len(), LIBRARY_NAMES.len());
    for (name, want) in golden {
        assert_eq!(render_library(name, &conv(false)), *want, "{name}");
    }
}

/// Without a system message (worked out by hand from the template text and Go's rules).
#[test]
fn library_templates_without_system() {
    let msgs = conv(false);
    assert_eq!(
        render_library("chatml", &msgs[..1]),
        "<|im_start|>user\nHello, how are you?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(render_library("llama2-chat", &msgs[..1]), "[INST] <<SYS>><</SYS>>\n\nHello, how are you? [/INST]");
    assert_eq!(render_library("mistral-instruct", &msgs[..1]), "[INST] Hello, how are you?[/INST]");
    assert_eq!(
        render_library("gemma3-instruct", &msgs),
        "<start_of_turn>user\nHello, how are you?<end_of_turn>\n<start_of_turn>model\nI'm doing great. How can I help you today?<end_of_turn>\n<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n\n"
    );
    assert_eq!(
        render_library("gemma-instruct", &msgs[..1]),
        "<start_of_turn>user\nHello, how are you?<end_of_turn>\n<start_of_turn>model\n"
    );
}

/// Ollama's TestExecuteWithMessages: legacy and messages templates give the same prompt.
#[test]
fn legacy_and_messages_modes_agree() {
    let msgs = vec![
        Message::new("system", "You are a helpful assistant!"),
        Message::new("user", "Hello friend!"),
        Message::new("assistant", "Hello human!"),
        Message::new("user", "What is your name?"),
    ];
    let want = "<|im_start|>system\nYou are a helpful assistant!<|im_end|>\n<|im_start|>user\nHello friend!<|im_end|>\n<|im_start|>assistant\nHello human!<|im_end|>\n<|im_start|>user\nWhat is your name?<|im_end|>\n<|im_start|>assistant\n";
    let legacy = "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n";
    let messages = "\n{{- range $index, $_ := .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n";
    for src in [legacy, messages] {
        let t = Template::parse(src).unwrap();
        assert_eq!(render(&t, &Values { messages: &msgs, ..Values::default() }).unwrap(), want);
    }

    let msgs = &msgs[1..];
    let want = "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] ";
    for src in [
        "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] ",
        "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] {{ .Response }}",
        "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}\n{{- range .Messages }}\n{{- if eq .Role \"user\" }}{{ .Content }}[/INST] {{ else if eq .Role \"assistant\" }}{{ .Content }}[INST] {{ end }}\n{{- end }}",
    ] {
        let t = Template::parse(src).unwrap();
        assert_eq!(render(&t, &Values { messages: msgs, ..Values::default() }).unwrap(), want, "{src}");
    }

    // A trailing assistant message is continued, not closed.
    let mut m = msgs.to_vec();
    m.push(Message::new("assistant", "My name is Ollama and I"));
    let want = "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] My name is Ollama and I";
    for src in [
        "[INST] {{ .Prompt }}[/INST] ",
        "[INST] {{ .Prompt }}[/INST] {{ .Response }}",
        "\n{{- range $i, $m := .Messages }}\n{{- if eq .Role \"user\" }}[INST] {{ .Content }}[/INST] {{ else if eq .Role \"assistant\" }}{{ .Content }}{{ end }}\n{{- end }}",
    ] {
        let t = Template::parse(src).unwrap();
        assert_eq!(render(&t, &Values { messages: &m, ..Values::default() }).unwrap(), want, "{src}");
    }
}

#[test]
fn suffix_and_default_template() {
    let t = Template::parse(
        "{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>\n{{- else }}{{ .Prompt }}\n{{- end }}",
    )
    .unwrap();
    let one = [Message::new("user", "hello")];
    assert_eq!(render(&t, &Values { messages: &one, ..Values::default() }).unwrap(), "hello");
    let v = Values { prompt: "def add(", suffix: "return x", ..Values::default() };
    assert_eq!(render(&t, &v).unwrap(), "<PRE> def add( <SUF>return x <MID>");

    let d = Template::default_template();
    let msgs = [Message::new("system", "S"), Message::new("user", "U")];
    assert_eq!(render(&d, &Values { messages: &msgs, ..Values::default() }).unwrap(), "U");
}

#[test]
fn collate_merges_same_roles_but_not_tools() {
    let t = Template::parse("{{ .System }}|{{ range .Messages }}{{ .Role }}={{ .Content }};{{ end }}").unwrap();
    let msgs = [
        Message::new("system", "a"),
        Message::new("system", "b"),
        Message::new("user", "Hello"),
        Message::new("user", "How are you?"),
        Message::new("tool", "sunny"),
        Message::new("tool", "72F"),
    ];
    assert_eq!(
        render(&t, &Values { messages: &msgs, ..Values::default() }).unwrap(),
        "a\n\nb|system=a\n\nb;user=Hello\n\nHow are you?;tool=sunny;tool=72F;"
    );
}

#[test]
fn render_chat_prepends_the_model_system_prompt() {
    let t = Template::parse(library_template("chatml").unwrap().template).unwrap();
    let msgs = [Message::new("user", "hi")];
    assert_eq!(
        render_chat(&t, Some("Be brief."), &msgs, None, None).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
    let msgs = [Message::new("system", "Own."), Message::new("user", "hi")];
    assert!(render_chat(&t, Some("Be brief."), &msgs, None, None).unwrap().starts_with("<|im_start|>system\nOwn."));
}

#[test]
fn tools_and_tool_calls_reach_templates() {
    let tools: serde_json::Value = serde_json::from_str(
        r#"[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","required":["city"],"properties":{"city":{"type":"string"}}}}}]"#,
    )
    .unwrap();
    let tools = Value::from_json(&tools);
    let mut call = Message::new("assistant", "");
    call.tool_calls.push(ToolCall {
        name: "get_weather".into(),
        arguments: Value::map(Map::new().with("city", "Paris")),
        ..ToolCall::default()
    });
    let msgs = [Message::new("user", "Weather?"), call];
    let src = "{{ if .Tools }}{{ range .Tools }}{{ .Function.Name }}{{ end }}|{{ json .Tools }}|{{ end }}\
               {{ range .Messages }}{{ range .ToolCalls }}{\"name\": \"{{ .Function.Name }}\", \"arguments\": {{ .Function.Arguments }}}{{ end }}{{ end }}";
    let t = Template::parse(src).unwrap();
    let out = render(&t, &Values { messages: &msgs, tools: Some(&tools), ..Values::default() }).unwrap();
    assert_eq!(
        out,
        r#"get_weather|[{"function":{"description":"Weather","name":"get_weather","parameters":{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}},"type":"function"}]|{"name": "get_weather", "arguments": {"city":"Paris"}}"#
    );
}

// ---- detection on the real models ----

fn model(name: &str) -> Option<crate::gguf::GgufFile> {
    let home = std::env::var_os("HOME")?;
    let path = std::path::Path::new(&home).join(".cache/rollama/models").join(name);
    if !path.exists() {
        eprintln!("skipping: {} not present", path.display());
        return None;
    }
    crate::gguf::GgufFile::open(path).ok()
}

fn detect_model(name: &str) -> Option<Detected> {
    let f = model(name)?;
    let jinja = f.get_str("tokenizer.chat_template").ok().flatten();
    let arch = f.get_str("general.architecture").ok().flatten();
    Some(detect(jinja, arch).expect("a template is detected"))
}

#[test]
fn detects_smollm2_as_chatml_by_levenshtein() {
    let Some(d) = detect_model("SmolLM2-135M-Instruct.Q4_1.gguf") else {
        return;
    };
    assert_eq!(d.name, "chatml");
    assert!(matches!(d.by, DetectedBy::Levenshtein(n) if n < 100), "{:?}", d.by);
    assert_eq!(d.stop, ["<|im_start|>", "<|im_end|>"]);
}

#[test]
fn detects_qwen25_coder_as_chatml_by_marker() {
    let Some(d) = detect_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf") else {
        return;
    };
    assert_eq!(d.name, "chatml");
    assert_eq!(d.by, DetectedBy::Marker("<|im_start|>"));
}

#[test]
fn a_gguf_without_a_chat_template_gets_none_like_ollama() {
    // The Gemma 3 270M test file is a base model with no chat template: Ollama gives it the
    // bare default template, and so do we.
    assert_eq!(detect(None, Some("gemma3")), None);
    assert_eq!(detect(Some(""), Some("qwen2")), None);
}

#[test]
fn tools_json_follows_ollama_struct_order() {
    let tools: serde_json::Value = serde_json::from_str(
        r#"[{"function":{"parameters":{"properties":{"b":{"description":"B","type":"string"},"a":{"type":["integer","null"]},"c":{"anyOf":[{"type":"string"},{"type":"array","items":{"type":"string"}}]}},"required":["a"],"type":"object"},"description":"d","name":"f"},"type":"function"}]"#,
    )
    .unwrap();
    let src = "{{ range .Messages }}{{ end }}{{ .Tools }}\n{{ range .Tools }}\
               {{ range $k, $p := .Function.Parameters.Properties }}{{ $k }}: {{ toTypeScriptType $p }}; {{ end }}{{ end }}";
    let t = Template::parse(src).unwrap();
    let v = tools_from_json(&tools);
    let out = render(&t, &Values { tools: Some(&v), ..Values::default() }).unwrap();
    let json = r#"[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","required":["a"],"properties":{"a":{"type":["integer","null"]},"b":{"type":"string","description":"B"},"c":{"anyOf":[{"type":"string"},{"type":"array","items":{"type":"string"}}]}}}}}]"#;
    assert_eq!(out, format!("{json}\na: number | null; b: string; c: string | any[]; "));
    let t = Template::parse("{{ range .Messages }}{{ end }}{{ range .Tools }}{{ .Function }}{{ end }}").unwrap();
    let out = render(&t, &Values { tools: Some(&v), ..Values::default() }).unwrap();
    assert!(out.starts_with(r#"{"name":"f","description":"d","parameters":{"type":"object""#), "{out}");
}

#[test]
fn generate_builds_messages_like_ollama() {
    let t = Template::parse(library_template("chatml").unwrap().template).unwrap();
    let out = render_generate(&t, Some("S"), &[Message::new("user", "m")], false, "p", "", None).unwrap();
    assert_eq!(out, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nm\n\np<|im_end|>\n<|im_start|>assistant\n");
    let fim =
        Template::parse("{{ if .Suffix }}<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}<MID>{{ else }}{{ .Prompt }}{{ end }}")
            .unwrap();
    assert_eq!(render_generate(&fim, None, &[], false, "a", "b", None).unwrap(), "<PRE>a<SUF>b<MID>");
}

#[test]
fn templates_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<Value>();
}

#[test]
fn legacy_first_marks_the_first_turn() {
    let t = Template::parse("{{ if .First }}<s>{{ end }}[{{ .Prompt }}]{{ .Response }}").unwrap();
    let msgs = [Message::new("user", "a"), Message::new("assistant", "b"), Message::new("user", "c")];
    assert_eq!(render(&t, &Values { messages: &msgs, ..Values::default() }).unwrap(), "<s>[a]b[c]");
}

#[test]
fn printf_width_bombs_are_capped() {
    let src = "{{ printf \"".to_string() + &"%65536d".repeat(2000) + "\"" + &" 1".repeat(2000) + " }}";
    assert!(run(&src, &Value::Null).is_err());
}

fn fit(num_ctx: usize) -> Option<Truncation> {
    Some(Truncation { num_ctx, image_tokens: None })
}

#[test]
fn chat_prompt_truncates_oldest_but_keeps_system_and_last() {
    let t = Template::parse("{{ range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}").unwrap();
    let msgs = [
        Message::new("system", "S"),
        Message::new("user", "aaaa"),
        Message::new("assistant", "bbbb"),
        Message::new("user", "cccc"),
    ];
    // One "token" per byte.
    let mut count = |s: &str| Ok::<usize, String>(s.len());
    let full = chat_prompt(&t, &msgs, None, None, fit(1000), &mut count).unwrap();
    assert_eq!(full.prompt, "[system:S][user:aaaa][assistant:bbbb][user:cccc]");
    let cut = chat_prompt(&t, &msgs, None, None, fit(30), &mut count).unwrap();
    assert_eq!(cut.prompt, "[system:S][user:cccc]");
    let tiny = chat_prompt(&t, &msgs, None, None, fit(1), &mut count).unwrap();
    assert_eq!(tiny.prompt, "[system:S][user:cccc]");
    let untruncated = chat_prompt(&t, &msgs, None, None, None, &mut count).unwrap();
    assert_eq!(untruncated.prompt, full.prompt);
}

#[test]
fn chat_prompt_tags_images_and_keeps_tool_blocks() {
    let t = Template::parse("{{ range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}").unwrap();
    let mut u = Message::new("user", "look [img] here");
    u.images = vec!["A".into(), "B".into()];
    let out = chat_prompt(&t, &[u], None, None, fit(100), &mut |s: &str| Ok(s.len())).unwrap();
    assert_eq!(out.prompt, "[user:[img-1]look [img-0] here]");
    assert_eq!(out.images, ["A", "B"]);

    let mut call = Message::new("assistant", "");
    call.tool_calls.push(ToolCall { name: "f".into(), ..ToolCall::default() });
    let msgs = [Message::new("user", "x".repeat(50).as_str()), call, Message::new("tool", "r")];
    let out = chat_prompt(&t, &msgs, None, None, fit(5), &mut |s: &str| Ok(s.len())).unwrap();
    assert_eq!(out.prompt, "[assistant:][tool:r]");
}
