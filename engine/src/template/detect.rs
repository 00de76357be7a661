//! Template detection, like Ollama's `detectChatTemplate`: a GGUF's Jinja
//! `tokenizer.chat_template` is compared by Levenshtein distance with the Jinja templates
//! of Ollama's `template/index.json`; under 100 edits the nearest wins and its Go template
//! and stop words are used. Where that finds nothing (long tool-calling templates) rollama
//! falls back to family markers in the Jinja text, so common models still chat correctly.
//! A file with no chat template (a base model) gets nothing: the default `{{ .Prompt }}`.

use std::sync::OnceLock;

/// The library templates shipped in `library/` (name, Go template, params JSON).
const LIBRARY: &[(&str, &str, Option<&str>)] = &[
    ("chatml", include_str!("library/chatml.gotmpl"), Some(include_str!("library/chatml.json"))),
    ("llama2-chat", include_str!("library/llama2-chat.gotmpl"), Some(include_str!("library/llama2-chat.json"))),
    (
        "llama3-instruct",
        include_str!("library/llama3-instruct.gotmpl"),
        Some(include_str!("library/llama3-instruct.json")),
    ),
    ("mistral-instruct", include_str!("library/mistral-instruct.gotmpl"), None),
    (
        "gemma-instruct",
        include_str!("library/gemma-instruct.gotmpl"),
        Some(include_str!("library/gemma-instruct.json")),
    ),
    (
        "gemma3-instruct",
        include_str!("library/gemma3-instruct.gotmpl"),
        Some(include_str!("library/gemma3-instruct.json")),
    ),
    ("phi-3", include_str!("library/phi-3.gotmpl"), Some(include_str!("library/phi-3.json"))),
];

const INDEX: &str = include_str!("library/index.json");

/// Names of the shipped library templates.
pub const LIBRARY_NAMES: &[&str] =
    &["chatml", "llama2-chat", "llama3-instruct", "mistral-instruct", "gemma-instruct", "gemma3-instruct", "phi-3"];

/// Ollama accepts the nearest template only below this distance.
const MAX_DISTANCE: usize = 100;

/// How a template was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectedBy {
    /// Ollama's rule: Levenshtein distance to an index.json entry, below 100.
    Levenshtein(usize),
    /// rollama's fallback: a family marker found in the Jinja template.
    Marker(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub name: &'static str,
    /// The Go template text.
    pub template: &'static str,
    /// Stop sequences from the template's params file (may be empty).
    pub stop: Vec<String>,
    /// The whole params file (e.g. gemma3's also sets temperature); an empty object if none.
    pub parameters: serde_json::Value,
    pub by: DetectedBy,
}

/// A shipped library template by name.
pub fn library_template(name: &str) -> Option<Detected> {
    let &(name, template, params) = LIBRARY.iter().find(|(n, _, _)| *n == name)?;
    let parameters: serde_json::Value = params
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
    let stop = parameters
        .get("stop")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Some(Detected { name, template, stop, parameters, by: DetectedBy::Marker("") })
}

fn index() -> &'static [(String, Vec<char>)] {
    static INDEX_ENTRIES: OnceLock<Vec<(String, Vec<char>)>> = OnceLock::new();
    INDEX_ENTRIES.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(INDEX).unwrap_or_default();
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        let name = e.get("name")?.as_str()?.to_string();
                        let t = e.get("template")?.as_str()?.chars().collect();
                        Some((name, t))
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Levenshtein distance over chars (runes, as Go's library counts), giving up with `None`
/// once it is certain to reach `limit`.
fn levenshtein(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) >= limit {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min >= limit {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d < limit).then_some(d)
}

/// Ollama's `template.Named`: the nearest index entry if closer than 100 edits (the first
/// of equals wins, as in Ollama's loop).
fn nearest(jinja: &str) -> Option<(String, usize)> {
    let s: Vec<char> = jinja.chars().collect();
    let mut best: Option<(String, usize)> = None;
    for (name, t) in index() {
        let limit = best.as_ref().map_or(MAX_DISTANCE, |b| b.1);
        if let Some(d) = levenshtein(&s, t, limit) {
            best = Some((name.clone(), d));
        }
    }
    best
}

/// Family markers, most specific first.
fn by_marker(jinja: &str, architecture: Option<&str>) -> Option<(&'static str, &'static str)> {
    let markers: &[(&str, &str)] = &[
        ("<|start_header_id|>", "llama3-instruct"),
        ("<|im_start|>", "chatml"),
        ("<start_of_turn>", "gemma"),
        ("<<SYS>>", "llama2-chat"),
        ("[INST]", "mistral-instruct"),
        ("<|end|>", "phi-3"),
    ];
    let &(marker, name) = markers.iter().find(|(m, _)| jinja.contains(m))?;
    let name = if name == "gemma" { gemma_for(architecture) } else { name };
    Some((marker, name))
}

fn gemma_for(architecture: Option<&str>) -> &'static str {
    match architecture {
        Some(a) if a.starts_with("gemma3") => "gemma3-instruct",
        _ => "gemma-instruct",
    }
}

/// Picks a template for a model from its `tokenizer.chat_template` (Ollama's rule first,
/// then rollama's marker fallback); `general.architecture` tells Gemma 3 from older Gemma.
pub fn detect(chat_template: Option<&str>, architecture: Option<&str>) -> Option<Detected> {
    if let Some(jinja) = chat_template.filter(|t| !t.is_empty()) {
        if let Some((name, d)) = nearest(jinja) {
            let mut t = library_template(&name)?;
            t.by = DetectedBy::Levenshtein(d);
            return Some(t);
        }
        if let Some((marker, name)) = by_marker(jinja, architecture) {
            let mut t = library_template(name)?;
            t.by = DetectedBy::Marker(marker);
            return Some(t);
        }
    }
    // No chat template: usually a base model, which Ollama gives the bare `{{ .Prompt }}`
    // template; a chat framing would make it continue the markup instead of the text.
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_basics() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(levenshtein(&c("kitten"), &c("sitting"), 100), Some(3));
        assert_eq!(levenshtein(&c(""), &c("abc"), 100), Some(3));
        assert_eq!(levenshtein(&c("abc"), &c("xyz"), 2), None);
    }

    #[test]
    fn every_index_entry_detects_as_itself() {
        assert_eq!(index().len(), 19);
        for (name, t) in index() {
            let s: String = t.iter().collect();
            let d = detect(Some(&s), None).unwrap();
            assert_eq!(d.name, name.as_str());
            assert_eq!(d.by, DetectedBy::Levenshtein(0));
        }
    }

    #[test]
    fn library_templates_all_parse() {
        for name in LIBRARY_NAMES {
            let t = library_template(name).unwrap();
            super::super::Template::parse(t.template).unwrap();
        }
        assert_eq!(library_template("chatml").unwrap().stop, ["<|im_start|>", "<|im_end|>"]);
        assert!(library_template("mistral-instruct").unwrap().stop.is_empty());
        assert_eq!(library_template("gemma3-instruct").unwrap().parameters["temperature"], 0.1);
    }

    #[test]
    fn fallbacks() {
        assert_eq!(
            detect(Some("{{ '<|im_start|>' }} something very different ".repeat(20).as_str()), None).unwrap().name,
            "chatml"
        );
        // Gemma markup picks the template for the architecture.
        let gemma = "{{ '<start_of_turn>' }} something very different ".repeat(20);
        assert_eq!(detect(Some(&gemma), Some("gemma3")).unwrap().name, "gemma3-instruct");
        assert_eq!(detect(Some(&gemma), Some("gemma2")).unwrap().name, "gemma-instruct");
        assert_eq!(detect(None, Some("gemma3")), None);
        assert_eq!(detect(Some("plain text"), None), None);
    }
}
