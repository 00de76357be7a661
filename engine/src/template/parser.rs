//! The parser: turns the lexer's tokens into the tree that `exec` walks, following Go's
//! `text/template/parse` grammar (pipelines, commands, operands, `if`/`range`/`with` with
//! `else`, `else if`, `else with`, `break`, `continue`) and its parse-time checks (undefined
//! variables, misplaced `end`/`else`/`break`). Nesting is capped so hostile input cannot
//! exhaust the stack.

use super::lexer::{Spanned, Tok};
use super::value::Value;
use super::TemplateError;

/// Deepest nesting of control structures and parentheses accepted.
pub(crate) const MAX_DEPTH: usize = 100;

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Break,
    Continue,
}

#[derive(Clone, Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Clone, Debug)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<(Arg, usize)>,
}

#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Literal(Value),
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B` (`$x` is kept with its `$`).
    Variable(String, Vec<String>),
    /// A function name.
    Ident(String),
    /// A parenthesized pipeline.
    Pipe(Box<Pipe>),
    /// `(pipeline).A.B`
    Chain(Box<Arg>, Vec<String>),
}

enum Stop {
    Eof,
    End,
    Else(usize),
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Spanned>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
}

pub(crate) fn parse(src: &str, toks: Vec<Spanned>) -> Result<Vec<Node>, TemplateError> {
    let mut p = Parser { src, toks, i: 0, vars: vec!["$".to_string()], range_depth: 0, depth: 0 };
    let (list, end) = p.list()?;
    match end {
        Stop::Eof => Ok(list),
        Stop::End => Err(p.err_prev("unexpected {{end}}")),
        Stop::Else(pos) => Err(TemplateError::at(src, pos, "unexpected {{else}}")),
    }
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> TemplateError {
        let pos = self.toks.get(self.i).map_or(self.src.len(), |t| t.1);
        TemplateError::at(self.src, pos, msg)
    }

    fn err_prev(&self, msg: &str) -> TemplateError {
        let pos = self.toks.get(self.i.saturating_sub(1)).map_or(self.src.len(), |t| t.1);
        TemplateError::at(self.src, pos, msg)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.src.len(), |t| t.1)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.0.clone());
        self.i += 1;
        t
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(&Tok::Space) {
            self.i += 1;
        }
    }

    fn expect_right(&mut self, ctx: &str) -> Result<(), TemplateError> {
        self.skip_space();
        match self.next() {
            Some(Tok::RightDelim) => Ok(()),
            _ => Err(self.err_prev(&format!("unexpected token in {ctx}"))),
        }
    }

    fn enter(&mut self) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("template nesting too deep"));
        }
        Ok(())
    }

    /// Parses nodes until end of input, `{{end}}` or `{{else}}` (whose delimiters are
    /// consumed, except what follows `else`).
    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let Some(tok) = self.next() else {
                return Ok((nodes, Stop::Eof));
            };
            match tok {
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::LeftDelim => {
                    self.skip_space();
                    let kw_pos = self.pos();
                    let kw = match self.peek() {
                        Some(Tok::Ident(k)) => Some(k.clone()),
                        _ => None,
                    };
                    match kw.as_deref() {
                        Some("end") => {
                            self.i += 1;
                            self.expect_right("end")?;
                            return Ok((nodes, Stop::End));
                        }
                        Some("else") => {
                            self.i += 1;
                            return Ok((nodes, Stop::Else(kw_pos)));
                        }
                        Some(k @ ("if" | "range" | "with")) => {
                            let k = k.to_string();
                            self.i += 1;
                            nodes.push(self.control(&k)?);
                        }
                        Some(k @ ("break" | "continue")) => {
                            let is_break = k == "break";
                            self.i += 1;
                            if self.range_depth == 0 {
                                return Err(TemplateError::at(
                                    self.src,
                                    kw_pos,
                                    &format!(
                                        "{{{{{}}}}} outside {{{{range}}}}",
                                        if is_break { "break" } else { "continue" }
                                    ),
                                ));
                            }
                            self.expect_right(if is_break { "break" } else { "continue" })?;
                            nodes.push(if is_break { Node::Break } else { Node::Continue });
                        }
                        Some(k @ ("define" | "template" | "block")) => {
                            return Err(TemplateError::at(self.src, kw_pos, &format!("{{{{{k}}}}} is not supported")));
                        }
                        _ => {
                            let pipe = self.pipeline("command", false)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err(self.err_prev(&format!("unexpected {other:?}"))),
            }
        }
    }

    /// `if`/`range`/`with` after its keyword: pipeline, body, optional else, end.
    fn control(&mut self, kind: &str) -> Result<Node, TemplateError> {
        self.enter()?;
        let mark = self.vars.len();
        let pipe = self.pipeline(kind, kind == "range")?;
        if pipe.cmds.is_empty() {
            return Err(self.err_prev(&format!("missing value for {kind}")));
        }
        if kind == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.list()?;
        if kind == "range" {
            self.range_depth -= 1;
        }
        let else_list = match end {
            Stop::Eof => return Err(self.err(&format!("unexpected EOF in {kind}"))),
            Stop::End => None,
            Stop::Else(_) => {
                self.skip_space();
                // `{{else if ...}}` and `{{else with ...}}` chain into a nested control that
                // shares this one's {{end}}.
                let chained = matches!(self.peek(), Some(Tok::Ident(k))
                    if (k == "if" && kind == "if") || (k == "with" && kind == "with"));
                if chained {
                    self.i += 1;
                    Some(vec![self.control(kind)?])
                } else {
                    self.expect_right("else")?;
                    let (l, end2) = self.list()?;
                    match end2 {
                        Stop::End => Some(l),
                        Stop::Eof => return Err(self.err(&format!("unexpected EOF in {kind}"))),
                        Stop::Else(p) => return Err(TemplateError::at(self.src, p, "expected end; found {{else}}")),
                    }
                }
            }
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        let b = Branch { pipe, list, else_list };
        Ok(match kind {
            "if" => Node::If(b),
            "range" => Node::Range(b),
            _ => Node::With(b),
        })
    }

    /// A pipeline up to `}}` (consumed), with an optional declaration.
    fn pipeline(&mut self, ctx: &str, multi_decl: bool) -> Result<Pipe, TemplateError> {
        self.skip_space();
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut is_assign = false;
        if let Some(Tok::Variable(_)) = self.peek() {
            let save = self.i;
            if let Some((names, assign)) = self.declaration(multi_decl)? {
                for n in &names {
                    if assign {
                        if !self.vars.contains(n) {
                            return Err(TemplateError::at(self.src, pos, &format!("undefined variable \"{n}\"")));
                        }
                    } else {
                        self.vars.push(n.clone());
                    }
                }
                decl = names;
                is_assign = assign;
            } else {
                self.i = save;
            }
        }
        let cmds = self.commands(ctx, Tok::RightDelim)?;
        if cmds.is_empty() && !decl.is_empty() {
            return Err(self.err_prev(&format!("missing value for {ctx}")));
        }
        if cmds.is_empty() && ctx == "command" {
            return Err(self.err_prev("missing value for command"));
        }
        Ok(Pipe { pos, decl, is_assign, cmds })
    }

    /// Tries `$x :=`, `$x =` or (for range) `$i, $x :=`. Returns None if this is not one.
    fn declaration(&mut self, multi: bool) -> Result<Option<(Vec<String>, bool)>, TemplateError> {
        let Some(Tok::Variable(first)) = self.next() else {
            return Ok(None);
        };
        self.skip_space();
        match self.next() {
            Some(Tok::Declare) => Ok(Some((vec![first], false))),
            Some(Tok::Assign) => Ok(Some((vec![first], true))),
            Some(Tok::Comma) if multi => {
                self.skip_space();
                let Some(Tok::Variable(second)) = self.next() else {
                    return Err(self.err_prev("range can only initialize variables"));
                };
                self.skip_space();
                match self.next() {
                    Some(Tok::Declare) => Ok(Some((vec![first, second], false))),
                    Some(Tok::Assign) => Ok(Some((vec![first, second], true))),
                    _ => Err(self.err_prev("expected := or = in range declaration")),
                }
            }
            Some(Tok::Comma) => Err(self.err_prev("too many declarations")),
            _ => Ok(None),
        }
    }

    /// Commands separated by `|` up to `end` (consumed).
    fn commands(&mut self, ctx: &str, end: Tok) -> Result<Vec<Cmd>, TemplateError> {
        let mut cmds = Vec::new();
        let mut after_pipe = false;
        loop {
            self.skip_space();
            if self.peek() == Some(&end) {
                if after_pipe {
                    return Err(self.err("missing command"));
                }
                self.i += 1;
                return Ok(cmds);
            }
            let pos = self.pos();
            let mut args = Vec::new();
            loop {
                self.skip_space();
                match self.peek() {
                    Some(Tok::Pipe) => {
                        self.i += 1;
                        after_pipe = true;
                        break;
                    }
                    Some(t) if *t == end => break,
                    None => return Err(self.err(&format!("unclosed action in {ctx}"))),
                    _ => {}
                }
                let apos = self.pos();
                after_pipe = false;
                let arg = self.operand()?;
                args.push((arg, apos));
                match self.peek() {
                    Some(Tok::Space | Tok::Pipe) => {}
                    Some(t) if *t == end => {}
                    _ => return Err(self.err("unexpected token in operand")),
                }
            }
            if args.is_empty() {
                return Err(TemplateError::at(self.src, pos, "missing value for command"));
            }
            cmds.push(Cmd { pos, args });
        }
    }

    /// One operand: a term followed by any field accesses written directly after it.
    fn operand(&mut self) -> Result<Arg, TemplateError> {
        let pos = self.pos();
        let term = match self.next() {
            Some(Tok::Dot) => Arg::Dot,
            Some(Tok::Field(f)) => Arg::Field(vec![f]),
            Some(Tok::Variable(v)) => {
                if !self.vars.contains(&v) {
                    return Err(TemplateError::at(self.src, pos, &format!("undefined variable \"{v}\"")));
                }
                Arg::Variable(v, Vec::new())
            }
            Some(Tok::Str(s)) => Arg::Literal(Value::from(s)),
            Some(Tok::Char(c)) => Arg::Literal(Value::Int(c as i64)),
            Some(Tok::Number(n)) => Arg::Literal(
                parse_number(&n)
                    .ok_or_else(|| TemplateError::at(self.src, pos, &format!("bad number syntax: \"{n}\"")))?,
            ),
            Some(Tok::Ident(id)) => match id.as_str() {
                "true" => Arg::Literal(Value::Bool(true)),
                "false" => Arg::Literal(Value::Bool(false)),
                "nil" => Arg::Nil,
                "if" | "range" | "with" | "else" | "end" | "break" | "continue" | "define" | "template" | "block" => {
                    return Err(TemplateError::at(self.src, pos, &format!("unexpected <{id}> in operand")));
                }
                _ => {
                    if !super::funcs::exists(&id) {
                        return Err(TemplateError::at(self.src, pos, &format!("function \"{id}\" not defined")));
                    }
                    Arg::Ident(id)
                }
            },
            Some(Tok::LParen) => {
                self.enter()?;
                let inner = self.paren_pipeline()?;
                self.depth -= 1;
                Arg::Pipe(Box::new(inner))
            }
            _ => return Err(self.err_prev("unexpected token in operand")),
        };
        let mut fields = Vec::new();
        while let Some(Tok::Field(f)) = self.peek() {
            fields.push(f.clone());
            self.i += 1;
        }
        if fields.is_empty() {
            return Ok(term);
        }
        Ok(match term {
            Arg::Field(mut f) => {
                f.extend(fields);
                Arg::Field(f)
            }
            Arg::Variable(v, mut f) => {
                f.extend(fields);
                Arg::Variable(v, f)
            }
            Arg::Dot => return Err(TemplateError::at(self.src, pos, "unexpected . after term \".\"")),
            Arg::Literal(_) | Arg::Nil => {
                return Err(TemplateError::at(self.src, pos, "unexpected field access on a constant"));
            }
            other => Arg::Chain(Box::new(other), fields),
        })
    }

    fn paren_pipeline(&mut self) -> Result<Pipe, TemplateError> {
        self.skip_space();
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut is_assign = false;
        if let Some(Tok::Variable(_)) = self.peek() {
            let save = self.i;
            if let Some((names, assign)) = self.declaration(false)? {
                for n in &names {
                    if assign && !self.vars.contains(n) {
                        return Err(TemplateError::at(self.src, pos, &format!("undefined variable \"{n}\"")));
                    }
                    if !assign {
                        self.vars.push(n.clone());
                    }
                }
                decl = names;
                is_assign = assign;
            } else {
                self.i = save;
            }
        }
        let cmds = self.commands("parenthesized pipeline", Tok::RParen)?;
        if cmds.is_empty() {
            return Err(TemplateError::at(self.src, pos, "missing value for parenthesized pipeline"));
        }
        Ok(Pipe { pos, decl, is_assign, cmds })
    }
}

/// Converts a number literal the way Go's parser does for an `interface{}` argument: an
/// integer if it is one, otherwise a float.
fn parse_number(s: &str) -> Option<Value> {
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let radix = |p: &str, r: u32| i64::from_str_radix(p, r).ok();
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        radix(h, 16)
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        radix(o, 8)
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        radix(b, 2)
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        radix(&body[1..], 8)
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Value::Int(if neg { i.checked_neg()? } else { i }));
    }
    if body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) {
        let f: f64 = body.parse().ok()?;
        // An integral float such as 1e3 is still an integer constant in Go.
        return Some(Value::Float(if neg { -f } else { f }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn p(s: &str) -> Result<Vec<Node>, TemplateError> {
        parse(s, lex(s)?)
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("42"), Some(Value::Int(42)));
        assert_eq!(parse_number("-0x10"), Some(Value::Int(-16)));
        assert_eq!(parse_number("1.5"), Some(Value::Float(1.5)));
        assert_eq!(parse_number("1x"), None);
    }

    #[test]
    fn structural_errors_name_the_position() {
        let e = p("a\n{{ if .X }}b").unwrap_err().to_string();
        assert!(e.starts_with("template: :2:"), "{e}");
        assert!(p("{{ end }}").is_err());
        assert!(p("{{ else }}").is_err());
        assert!(p("{{ break }}").is_err());
        assert!(p("{{ $x }}").unwrap_err().to_string().contains("undefined variable \"$x\""));
        assert!(p("{{ nosuchfn 1 }}").unwrap_err().to_string().contains("function \"nosuchfn\" not defined"));
        assert!(p("{{ }}").is_err());
        assert!(p("{{ if }}{{ end }}").is_err());
        assert!(p("{{ .X | }}").is_err());
        assert!(p("{{ | .X }}").is_err());
    }

    #[test]
    fn variables_are_scoped_to_their_control() {
        assert!(p("{{ if 1 }}{{ $x := 1 }}{{ end }}{{ $x }}").is_err());
        assert!(p("{{ $x := 1 }}{{ if 1 }}{{ $x = 2 }}{{ end }}{{ $x }}").is_ok());
        assert!(p("{{ range $i, $m := .M }}{{ $i }}{{ end }}").is_ok());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "{{ if 1 }}".repeat(MAX_DEPTH + 1) + &"{{ end }}".repeat(MAX_DEPTH + 1);
        assert!(p(&s).unwrap_err().to_string().contains("too deep"));
        let s = "{{ ".to_string() + &"(".repeat(MAX_DEPTH + 5) + "1" + &")".repeat(MAX_DEPTH + 5) + " }}";
        assert!(p(&s).is_err());
    }
}
