//! Tests of the Modelfile parser, renderer and typed parameters, including cases from
//! Ollama's own parser tests.

use super::*;

#[test]
fn parses_every_instruction() {
    let src = "# comment\nFROM ./model.gguf\nparameter temperature 0.7\nPARAMETER stop <|im_end|>\nPARAMETER stop \"<|im_start|>\"\n\
               TEMPLATE \"\"\"{{ .System }}\n{{ .Prompt }}\"\"\"\nSYSTEM You are a pirate.\nADAPTER ./lora.gguf\nLICENSE \"\"\"MIT\nLicense\"\"\"\n\
               MESSAGE user Hello there\nMESSAGE assistant \"Ahoy!\"\nREQUIRES 0.14.0\n";
    let m = Modelfile::parse(src).unwrap();
    assert_eq!(m.from(), Some("./model.gguf"));
    assert_eq!(m.template(), Some("{{ .System }}\n{{ .Prompt }}"));
    assert_eq!(m.system(), Some("You are a pirate."));
    assert_eq!(m.adapters(), ["./lora.gguf"]);
    assert_eq!(m.licenses(), ["MIT\nLicense"]);
    assert_eq!(m.messages(), [("user", "Hello there"), ("assistant", "Ahoy!")]);
    assert_eq!(m.requires(), Some("0.14.0"));
    let p = m.parameters().unwrap();
    assert_eq!(p.get("temperature"), Some(&ParamValue::Float(0.7)));
    assert_eq!(p.get("stop"), Some(&ParamValue::StringList(vec!["<|im_end|>".into(), "<|im_start|>".into()])));
    assert_eq!(p.to_json(), serde_json::json!({"temperature": 0.7, "stop": ["<|im_end|>", "<|im_start|>"]}));
}

#[test]
fn errors_name_the_line() {
    assert_eq!(Modelfile::parse("PARAMETER top_k 1\n").unwrap_err().to_string(), "no FROM line");
    assert_eq!(Modelfile::parse("FROM x\nSYSTEM \"\"\"unterminated\n").unwrap_err().msg, "unexpected EOF");
    assert_eq!(Modelfile::parse("FROM x\nSYSTEM \"abc\n").unwrap_err().msg, "unexpected EOF");
    let e = Modelfile::parse("FROM x\n\nPARAMETER foo 1\n").unwrap_err();
    assert_eq!(e.to_string(), "(line 3): unknown parameter 'foo'");
    let e = Modelfile::parse("FROM x\nPARAMETER num_ctx lots\n").unwrap_err();
    assert_eq!(e.to_string(), "(line 2): invalid int value [lots] for parameter 'num_ctx'");
    assert!(Modelfile::parse("FROM x\nPARAMETER use_mmap maybe\n").unwrap_err().msg.contains("use_mmap"));
    let e = Modelfile::parse("FROM x\nBOGUS y\n").unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(e.msg.starts_with("command must be one of"));
    assert_eq!(Modelfile::parse("FROM x\nMESSAGE tool hi\n").unwrap_err().msg, ERR_INVALID_ROLE);
    assert!(Modelfile::parse("FROM x\nREQUIRES banana\n").is_err());
    assert!(Modelfile::parse("FROM").is_err());
}

#[test]
fn instructions_are_case_insensitive_and_values_keep_inner_spaces() {
    let m = Modelfile::parse("from  llama3.2 \nsystem   be  brief \t\nPaRaMeTeR seed 42").unwrap();
    assert_eq!(m.from(), Some("llama3.2"));
    assert_eq!(m.system(), Some("be  brief"));
    assert_eq!(m.parameters().unwrap().get("seed"), Some(&ParamValue::Int(42)));
}

#[test]
fn deprecated_parameters_warn_and_drop() {
    let m = Modelfile::parse("FROM x\nPARAMETER mirostat 2\nPARAMETER top_k 5\n").unwrap();
    assert_eq!(m.warnings, ["warning: parameter mirostat is deprecated"]);
    assert_eq!(m.parameters().unwrap().to_json(), serde_json::json!({"top_k": 5}));
}

#[test]
fn renders_like_ollama_show_and_round_trips() {
    let src = "FROM /blobs/sha256-abc\nTEMPLATE \"\"\"{{ if .System }}\"sys\"{{ end }}\n{{ .Prompt }}\"\"\"\nSYSTEM \" padded \"\n\
               PARAMETER stop <|eot_id|>\nPARAMETER temperature 0.7\nLICENSE plain\nMESSAGE user \"two\nlines\"\n";
    let m = Modelfile::parse(src).unwrap();
    let out = m.to_string();
    assert_eq!(
        out,
        "FROM /blobs/sha256-abc\nTEMPLATE \"\"\"{{ if .System }}\"sys\"{{ end }}\n{{ .Prompt }}\"\"\"\nSYSTEM \" padded \"\n\
         PARAMETER stop <|eot_id|>\nPARAMETER temperature 0.7\nLICENSE plain\nMESSAGE user \"two\nlines\"\n"
    );
    let again = Modelfile::parse(&out).unwrap();
    assert_eq!(
        again.commands.iter().map(|c| (&c.name, &c.args)).collect::<Vec<_>>(),
        m.commands.iter().map(|c| (&c.name, &c.args)).collect::<Vec<_>>()
    );
}

#[test]
fn parameters_json_round_trip_and_show_text() {
    let j =
        serde_json::json!({"num_ctx": 4096, "stop": ["a", "b"], "temperature": 0.1, "use_mmap": false, "unknown": 1});
    let p = Parameters::from_json(&j).unwrap();
    assert_eq!(p.get("num_ctx"), Some(&ParamValue::Int(4096)));
    assert_eq!(
        p.to_json(),
        serde_json::json!({"num_ctx": 4096, "stop": ["a", "b"], "temperature": 0.1, "use_mmap": false})
    );
    assert!(Parameters::from_json(&serde_json::json!({"num_ctx": "big"})).unwrap_err().contains("num_ctx"));
    let p = Parameters::from_json(&serde_json::json!({"stop": ["<|im_end|>"], "temperature": 0.7})).unwrap();
    assert_eq!(p.show_text(), format!("{:<30} \"<|im_end|>\"\n{:<30} 0.7", "stop", "temperature"));
    let cmds: Vec<String> = p.commands().iter().map(|c| c.to_string()).collect();
    assert_eq!(cmds, ["PARAMETER stop <|im_end|>", "PARAMETER temperature 0.7"]);
}

fn cmds(src: &str) -> Vec<(String, String)> {
    Modelfile::parse(src).unwrap().commands.into_iter().map(|c| (c.name, c.args)).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Cases from Ollama's parser tests (with real parameter names, which rollama checks).
#[test]
fn ollama_parser_cases() {
    assert_eq!(cmds("FROM \"FOO  BAR  \""), pairs(&[("model", "FOO  BAR  ")]));
    assert_eq!(cmds("FROM     FOOO BAR    "), pairs(&[("model", "FOOO BAR")]));
    assert_eq!(cmds("FROM /what/is/the path "), pairs(&[("model", "/what/is/the path")]));
    assert_eq!(cmds("PARAMETER seed 1\nFROM foo"), pairs(&[("seed", "1"), ("model", "foo")]));
    assert_eq!(
        cmds(
            "\nFROM foo\nMESSAGE system \"\"\"\nYou are a multiline file parser. Always parse things.\n\"\"\"\n\t\t\t"
        ),
        pairs(&[("model", "foo"), ("message", "system: \nYou are a multiline file parser. Always parse things.\n")])
    );
    assert_eq!(cmds("FROM foo\nSYSTEM \"\"\"\"\"\"\n"), pairs(&[("model", "foo"), ("system", "")]));
    assert_eq!(cmds("FROM foo\nSYSTEM \"'\"\n"), pairs(&[("model", "foo"), ("system", "'")]));
    assert_eq!(
        cmds("FROM foo\nSYSTEM \"\"\"''\"'\"\"'\"\"'\"'''''\"\"'\"\"'\"\"\"\n"),
        pairs(&[("model", "foo"), ("system", "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'")])
    );
    assert_eq!(
        cmds("FROM foo\nTEMPLATE \"\"\"\n{{ .Prompt }}\n\"\"\""),
        pairs(&[("model", "foo"), ("template", "\n{{ .Prompt }}\n")])
    );
    for stop in ["### User:", "### User: ", "\"### User:\"", "\"\"\"### User:\"\"\""] {
        assert_eq!(cmds(&format!("FROM foo\nPARAMETER stop {stop}\n"))[1].1, "### User:");
    }
    assert_eq!(cmds("FROM foo\nPARAMETER stop \"### User: \"\n")[1].1, "### User: ");
    assert!(Modelfile::parse("FROM foo\nSYSTEM \"\"\"This is a multiline system.\"\"\n").is_err());
    assert!(Modelfile::parse("\nFROM foo\nPARAMETER seed\n").is_err());
    assert!(Modelfile::parse("\nFROM foo\nMESSAGE system").is_err());
    assert_eq!(Modelfile::parse("\nFROM foo\nBADCOMMAND param1 value1\n").unwrap_err().line, Some(3));
    assert_eq!(cmds("FROM test\n\tSYSTEM 你好👋"), pairs(&[("model", "test"), ("system", "你好👋")]));
}

#[test]
fn utf16_and_bom() {
    let text = "FROM bob\nPARAMETER num_ctx 4096\nSYSTEM You are a utf16 file.\n";
    let mut le = vec![0xff, 0xfe];
    let mut be = vec![0xfe, 0xff];
    for u in text.encode_utf16() {
        le.extend(u.to_le_bytes());
        be.extend(u.to_be_bytes());
    }
    let want = pairs(&[("model", "bob"), ("num_ctx", "4096"), ("system", "You are a utf16 file.")]);
    for bytes in [le, be, [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat()] {
        let got: Vec<_> =
            Modelfile::parse_bytes(&bytes).unwrap().commands.into_iter().map(|c| (c.name, c.args)).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn hostile_input_never_panics() {
    let parts = [
        "FROM",
        " ",
        "\"",
        "\"\"\"",
        "\n",
        "\r\n",
        "#",
        "PARAMETER",
        "stop",
        "MESSAGE",
        "user",
        "x",
        "\t",
        "é",
        "\u{feff}",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        let mut s = String::new();
        for _ in 0..(seed % 16) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push_str(parts[(seed % parts.len() as u64) as usize]);
        }
        let _ = Modelfile::parse(&s).map(|m| m.to_string());
    }
}
