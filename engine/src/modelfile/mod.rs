//! Modelfiles: parsing (Ollama's `parser.ParseFile` state machine, so quoting and
//! whitespace behave identically), rendering back the way `ollama show --modelfile` does,
//! and typed `PARAMETER` values ([`Parameters`]) that convert to and from the JSON params
//! layer of the model store (where `stop` is an array).
//!
//! A [`Modelfile`] is a list of [`Command`]s in file order, named as Ollama names them:
//! `model` for FROM, `template`, `system`, `adapter`, `license`, `message` (args
//! `"role: content"`), `requires`, `draft`, `renderer`, `parser`, or the parameter key.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelfileError {
    /// 1-based line the error was found on, when there is one.
    pub line: Option<usize>,
    pub msg: String,
}

impl ModelfileError {
    fn at(line: usize, msg: impl Into<String>) -> ModelfileError {
        ModelfileError { line: Some(line), msg: msg.into() }
    }

    fn bare(msg: impl Into<String>) -> ModelfileError {
        ModelfileError { line: None, msg: msg.into() }
    }
}

impl fmt::Display for ModelfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "(line {l}): {}", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for ModelfileError {}

const ERR_INVALID_COMMAND: &str = "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", \"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"";
const ERR_INVALID_ROLE: &str = "message role must be one of \"system\", \"user\", or \"assistant\"";

/// Largest Modelfile accepted, in bytes.
pub const MAX_MODELFILE: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub args: String,
    /// Line the instruction starts on (0 for commands built in code).
    pub line: usize,
}

impl Command {
    pub fn new(name: &str, args: &str) -> Command {
        Command { name: name.to_string(), args: args.to_string(), line: 0 }
    }
}

impl fmt::Display for Command {
    /// One Modelfile line, as Ollama's `Command.String()` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name.as_str() {
            "model" => write!(f, "FROM {}", self.args),
            "license" | "template" | "system" | "adapter" | "renderer" | "parser" | "requires" | "draft" => {
                write!(f, "{} {}", self.name.to_uppercase(), quote(&self.args))
            }
            "message" => {
                let (role, msg) = self.args.split_once(": ").unwrap_or((&self.args, ""));
                write!(f, "MESSAGE {role} {}", quote(msg))
            }
            _ => write!(f, "PARAMETER {} {}", self.name, quote(&self.args)),
        }
    }
}

/// Ollama's `quote`: quotes only values that need it to survive a re-parse.
fn quote(s: &str) -> String {
    if s.contains('\n') || s.starts_with(' ') || s.ends_with(' ') {
        if s.contains('"') {
            return format!("\"\"\"{s}\"\"\"");
        }
        return format!("\"{s}\"");
    }
    s.to_string()
}

fn unquote(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix("\"\"\"") {
        return if s.len() >= 6 && s.ends_with("\"\"\"") { Some(&rest[..rest.len() - 3]) } else { None };
    }
    if let Some(rest) = s.strip_prefix('"') {
        return if s.len() >= 2 && s.ends_with('"') { Some(&rest[..rest.len() - 1]) } else { None };
    }
    Some(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Nil,
    Name,
    Value,
    Parameter,
    Message,
    Comment,
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_newline(c: char) -> bool {
    c == '\r' || c == '\n'
}

/// Ollama's `parseRuneForState`. `None` as the rune means "nothing to keep".
fn next_state(c: char, s: State) -> Result<(State, Option<char>), &'static str> {
    Ok(match s {
        State::Nil if c == '#' => (State::Comment, None),
        State::Nil if is_space(c) || is_newline(c) => (State::Nil, None),
        State::Nil => (State::Name, Some(c)),
        State::Name if c.is_ascii_alphabetic() => (State::Name, Some(c)),
        State::Name if is_space(c) => (State::Value, None),
        State::Name => return Err(ERR_INVALID_COMMAND),
        State::Value if is_newline(c) || is_space(c) => (State::Nil, Some(c)),
        State::Value => (State::Value, Some(c)),
        State::Parameter if c.is_ascii_alphanumeric() || c == '_' => (State::Parameter, Some(c)),
        State::Parameter if is_space(c) => (State::Value, None),
        State::Message if c.is_ascii_alphabetic() => (State::Message, Some(c)),
        State::Message if is_space(c) => (State::Value, None),
        State::Parameter | State::Message => return Err("unexpected EOF"),
        State::Comment if is_newline(c) => (State::Nil, None),
        State::Comment => (State::Comment, None),
    })
}

fn is_valid_command(s: &str) -> bool {
    matches!(
        s.to_lowercase().as_str(),
        "from"
            | "license"
            | "template"
            | "system"
            | "adapter"
            | "draft"
            | "renderer"
            | "parser"
            | "parameter"
            | "message"
            | "requires"
    )
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Modelfile {
    pub commands: Vec<Command>,
    /// Warnings produced while parsing (deprecated parameters), for the caller to show.
    pub warnings: Vec<String>,
}

impl Modelfile {
    /// Parses a Modelfile. Beyond Ollama's syntax checks it validates what `ollama create`
    /// would reject later: unknown or mistyped parameters, bad REQUIRES, so that every error
    /// can name its line.
    pub fn parse(src: &str) -> Result<Modelfile, ModelfileError> {
        if src.len() > MAX_MODELFILE {
            return Err(ModelfileError::bare("Modelfile too large"));
        }
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        let mut f = Modelfile::default();
        let mut cmd = Command::new("", "");
        let mut curr = State::Nil;
        let mut line = 1usize;
        let mut buf = String::new();
        let mut role = String::new();
        for c in src.chars() {
            if is_newline(c) {
                line += 1;
            }
            let (mut next, r) = match next_state(c, curr) {
                Ok(x) => x,
                Err("unexpected EOF") => return Err(ModelfileError::at(line, format!("unexpected EOF: {buf}"))),
                Err(e) => return Err(ModelfileError::at(line, e)),
            };
            if next != curr {
                match curr {
                    State::Name => {
                        if !is_valid_command(&buf) {
                            return Err(ModelfileError::at(line, ERR_INVALID_COMMAND));
                        }
                        let s = buf.to_lowercase();
                        cmd.line = line;
                        match s.as_str() {
                            "from" => cmd.name = "model".to_string(),
                            "parameter" => next = State::Parameter,
                            "message" => {
                                next = State::Message;
                                cmd.name = s;
                            }
                            _ => cmd.name = s,
                        }
                    }
                    State::Parameter => cmd.name = buf.clone(),
                    State::Message => {
                        if !matches!(buf.as_str(), "system" | "user" | "assistant") {
                            return Err(ModelfileError::at(line, ERR_INVALID_ROLE));
                        }
                        role = buf.clone();
                    }
                    State::Comment | State::Nil => {}
                    State::Value => {
                        let unq = unquote(buf.trim()).map(str::to_string);
                        match unq {
                            Some(s) if !r.is_some_and(is_space) => {
                                let s = if role.is_empty() { s } else { format!("{}: {s}", std::mem::take(&mut role)) };
                                cmd.args = s;
                                f.push(cmd.clone())?;
                            }
                            _ => {
                                // Inside quotes, or a space within a bare value: keep going.
                                if let Some(r) = r {
                                    buf.push(r);
                                }
                                continue;
                            }
                        }
                    }
                }
                buf.clear();
                curr = next;
            }
            if let Some(r) = r.filter(|r| !r.is_control()) {
                buf.push(r);
            }
        }
        match curr {
            State::Comment | State::Nil => {}
            State::Value => {
                let Some(s) = unquote(buf.trim()) else {
                    return Err(ModelfileError::at(cmd.line, "unexpected EOF"));
                };
                cmd.args = if role.is_empty() { s.to_string() } else { format!("{role}: {s}") };
                f.push(cmd)?;
            }
            _ => return Err(ModelfileError::at(line, "unexpected EOF")),
        }
        if !f.commands.iter().any(|c| c.name == "model") {
            return Err(ModelfileError::bare("no FROM line"));
        }
        Ok(f)
    }

    /// Parses raw bytes: UTF-8 (with or without a BOM) or UTF-16 with a BOM, the encodings
    /// Ollama's parser accepts.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Modelfile, ModelfileError> {
        let utf16 = |be: bool| -> Result<String, ModelfileError> {
            let units: Vec<u16> = bytes[2..]
                .chunks_exact(2)
                .map(|c| if be { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) })
                .collect();
            String::from_utf16(&units).map_err(|_| ModelfileError::bare("invalid UTF-16 in Modelfile"))
        };
        let text = match bytes {
            [0xff, 0xfe, ..] => utf16(false)?,
            [0xfe, 0xff, ..] => utf16(true)?,
            _ => String::from_utf8(bytes.to_vec()).map_err(|_| ModelfileError::bare("invalid UTF-8 in Modelfile"))?,
        };
        Modelfile::parse(&text)
    }

    /// Validates and appends one parsed command.
    fn push(&mut self, cmd: Command) -> Result<(), ModelfileError> {
        match cmd.name.as_str() {
            "model" | "template" | "system" | "adapter" | "license" | "message" | "draft" | "renderer" | "parser" => {}
            "requires" => {
                if !valid_semver(&cmd.args) {
                    return Err(ModelfileError::at(cmd.line, "requires must be a valid semver (e.g. 0.14.0)"));
                }
            }
            key => {
                if DEPRECATED.contains(&key) {
                    self.warnings.push(format!("warning: parameter {key} is deprecated"));
                } else {
                    parse_param(key, &cmd.args).map_err(|m| ModelfileError::at(cmd.line, m))?;
                }
            }
        }
        self.commands.push(cmd);
        Ok(())
    }

    fn args_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.commands.iter().filter(move |c| c.name == name).map(|c| c.args.as_str())
    }

    /// The first FROM (a path, blob or model name).
    pub fn from(&self) -> Option<&str> {
        self.args_of("model").next()
    }

    /// The last TEMPLATE, as Ollama keeps the last one.
    pub fn template(&self) -> Option<&str> {
        self.args_of("template").last()
    }

    pub fn system(&self) -> Option<&str> {
        self.args_of("system").last()
    }

    pub fn adapters(&self) -> Vec<&str> {
        self.args_of("adapter").collect()
    }

    pub fn licenses(&self) -> Vec<&str> {
        self.args_of("license").collect()
    }

    pub fn requires(&self) -> Option<&str> {
        self.args_of("requires").last()
    }

    /// MESSAGE lines as (role, content).
    pub fn messages(&self) -> Vec<(&str, &str)> {
        self.args_of("message").map(|a| a.split_once(": ").unwrap_or((a, ""))).collect()
    }

    /// The typed parameters (deprecated ones dropped).
    pub fn parameters(&self) -> Result<Parameters, ModelfileError> {
        let mut p = Parameters::default();
        for c in &self.commands {
            if is_instruction(&c.name) || DEPRECATED.contains(&c.name.as_str()) {
                continue;
            }
            let v = parse_param(&c.name, &c.args).map_err(|m| ModelfileError::at(c.line, m))?;
            p.set(&c.name, v);
        }
        Ok(p)
    }
}

impl fmt::Display for Modelfile {
    /// Ollama's `Modelfile.String()`: one command per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.commands {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

fn is_instruction(name: &str) -> bool {
    matches!(
        name,
        "model"
            | "template"
            | "system"
            | "adapter"
            | "license"
            | "message"
            | "requires"
            | "draft"
            | "renderer"
            | "parser"
    )
}

/// `X.Y.Z` with an optional `v`, pre-release and build suffix (golang.org/x/mod/semver,
/// which also accepts `X` and `X.Y`).
fn valid_semver(s: &str) -> bool {
    let s = s.strip_prefix('v').unwrap_or(s);
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0')))
        && (parts.len() == 3 || core.len() == s.len())
}

mod params;

pub use params::{param_kind, parse_param, ParamKind, ParamValue, Parameters, DEPRECATED, PARAMETERS};

#[cfg(test)]
mod tests;
