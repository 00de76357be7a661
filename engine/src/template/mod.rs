//! Prompt templates: Go's `text/template` as Ollama uses it, written from Go's semantics.
//!
//! `lexer` splits source into text and action tokens (applying `{{-`/`-}}` trimming),
//! `parser` builds the tree (checking variables and structure), `exec` walks it against a
//! [`Value`] using `funcs` for builtins and printing. On top of the engine, `chat` is
//! Ollama's prompt building (messages mode, legacy per-turn mode, `{{ .Response }}`
//! handling) and `detect` picks a library template for a GGUF's Jinja chat template.
//! `library/` holds the Go templates and stop words taken from Ollama's repository.

mod chat;
mod detect;
mod exec;
mod funcs;
mod lexer;
mod parser;
mod value;

pub use chat::{
    chat_prompt, render, render_chat, render_generate, tools_from_json, ChatPrompt, Message, PromptError, ToolCall,
    Truncation, Values,
};
pub use detect::{detect, library_template, Detected, DetectedBy, LIBRARY_NAMES};
pub use value::{Map, Value};

/// Go's `%v` of a float64, shared with the Modelfile renderer.
pub(crate) use funcs::{format_float_g, go_quote};

use parser::{Arg, Node, Pipe};

/// Largest template source accepted, in bytes.
pub const MAX_SOURCE: usize = 1 << 20;

/// A parse or execution error, positioned like Go's `template: :line:col: message`
/// (line from 1, column as the byte offset within the line, as Go counts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl TemplateError {
    pub(crate) fn at(src: &str, pos: usize, msg: &str) -> TemplateError {
        let pos = pos.min(src.len());
        let before = src.as_bytes().get(..pos).unwrap_or(&[]);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let col = before.iter().rposition(|&b| b == b'\n').map_or(pos, |nl| pos - nl - 1);
        TemplateError { line, col, msg: msg.to_string() }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template: :{}:{}: {}", self.line, self.col, self.msg)
    }
}

impl std::error::Error for TemplateError {}

/// A parsed template. Like Ollama's `template.Parse`, a template that mentions neither
/// `.Messages` nor `.Response` gets `{{ .Response }}` appended.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    root: Vec<Node>,
    /// Lower-cased identifiers used anywhere (Ollama's `Vars()`), sorted and deduplicated.
    vars: Vec<String>,
}

/// Ollama's default when a model has no template.
pub const DEFAULT_TEMPLATE: &str = "{{ .Prompt }}";

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        if src.len() > MAX_SOURCE {
            return Err(TemplateError::at("", 0, "template source exceeds its size limit"));
        }
        let toks = lexer::lex(src)?;
        let mut root = parser::parse(src, toks)?;
        let mut vars = Vec::new();
        collect_vars(&root, &mut vars);
        if !vars.iter().any(|v| v == "messages" || v == "response") {
            let pos = src.len();
            root.push(Node::Action(Pipe {
                pos,
                decl: Vec::new(),
                is_assign: false,
                cmds: vec![parser::Cmd { pos, args: vec![(Arg::Field(vec!["Response".to_string()]), pos)] }],
            }));
            vars.push("response".to_string());
        }
        vars.sort();
        vars.dedup();
        Ok(Template { src: src.to_string(), root, vars })
    }

    /// The template Ollama uses when none is given.
    pub fn default_template() -> Template {
        Template::parse(DEFAULT_TEMPLATE).expect("the default template parses")
    }

    /// Renders with `data` as dot and `$`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        exec::execute(&self.src, &self.root, data)
    }

    /// Whether any field or variable chain names `field` (case-insensitive, like Ollama's
    /// `Vars()`); `uses("messages")` selects messages mode.
    pub fn uses(&self, field: &str) -> bool {
        let f = field.to_lowercase();
        self.vars.binary_search(&f).is_ok()
    }

    /// The identifiers Ollama's `Vars()` reports, lower-cased and sorted.
    pub fn vars(&self) -> &[String] {
        &self.vars
    }

    /// The source text, as given.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Executes the tree cut after the first `.Response` field (Ollama's legacy final pass,
    /// which leaves the prompt open for the model's answer).
    pub(crate) fn execute_truncated(&self, data: &Value) -> Result<String, TemplateError> {
        let mut cut = false;
        let nodes = truncate_list(&self.root, &mut cut).unwrap_or_default();
        exec::execute(&self.src, &nodes, data)
    }
}

fn collect_vars(nodes: &[Node], out: &mut Vec<String>) {
    for n in nodes {
        match n {
            Node::Action(p) => pipe_vars(p, out),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                pipe_vars(&b.pipe, out);
                collect_vars(&b.list, out);
                if let Some(e) = &b.else_list {
                    collect_vars(e, out);
                }
            }
            Node::Text(_) | Node::Break | Node::Continue => {}
        }
    }
}

fn pipe_vars(p: &Pipe, out: &mut Vec<String>) {
    for c in &p.cmds {
        for (a, _) in &c.args {
            arg_vars(a, out);
        }
    }
}

fn arg_vars(a: &Arg, out: &mut Vec<String>) {
    match a {
        Arg::Field(f) => out.extend(f.iter().map(|s| s.to_lowercase())),
        Arg::Variable(v, f) => {
            out.push(v.to_lowercase());
            out.extend(f.iter().map(|s| s.to_lowercase()));
        }
        Arg::Pipe(p) => pipe_vars(p, out),
        Arg::Chain(inner, f) => {
            arg_vars(inner, out);
            out.extend(f.iter().map(|s| s.to_lowercase()));
        }
        Arg::Dot | Arg::Nil | Arg::Literal(_) | Arg::Ident(_) => {}
    }
}

// ---- Ollama's deleteNode: everything after the first `.Response` field goes ----
//
// The walk mirrors Ollama's: it is pre-order, looks into action pipelines (not into the
// pipelines of if/range/with), and drops a pipeline whose command lost all its arguments.

fn truncate_list(nodes: &[Node], cut: &mut bool) -> Option<Vec<Node>> {
    if *cut {
        return None;
    }
    let mut out = Vec::new();
    for n in nodes {
        if *cut {
            continue;
        }
        match n {
            Node::Action(p) => {
                if let Some(p) = truncate_pipe(p, cut) {
                    out.push(Node::Action(p));
                }
            }
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                let mut b = b.clone();
                b.list = truncate_list(&b.list, cut).unwrap_or_default();
                b.else_list = b.else_list.as_ref().and_then(|e| truncate_list(e, cut));
                out.push(match n {
                    Node::If(_) => Node::If(b),
                    Node::Range(_) => Node::Range(b),
                    _ => Node::With(b),
                });
            }
            other => out.push(other.clone()),
        }
    }
    Some(out)
}

fn truncate_pipe(p: &Pipe, cut: &mut bool) -> Option<Pipe> {
    if *cut {
        return None;
    }
    let mut cmds = Vec::new();
    for c in &p.cmds {
        let mut args = Vec::new();
        for (a, pos) in &c.args {
            if *cut {
                continue;
            }
            match a {
                Arg::Field(f) if f.iter().any(|s| s == "Response") => {
                    *cut = true;
                    args.push((a.clone(), *pos));
                }
                Arg::Pipe(inner) => {
                    if let Some(inner) = truncate_pipe(inner, cut) {
                        args.push((Arg::Pipe(Box::new(inner)), *pos));
                    }
                }
                _ => args.push((a.clone(), *pos)),
            }
        }
        if args.is_empty() {
            return None;
        }
        cmds.push(parser::Cmd { pos: c.pos, args });
    }
    if cmds.is_empty() {
        return None;
    }
    Some(Pipe { pos: p.pos, decl: p.decl.clone(), is_assign: p.is_assign, cmds })
}

#[cfg(test)]
mod tests;
