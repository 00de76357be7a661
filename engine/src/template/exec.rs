//! The executor: walks the parse tree against a `Value`, with Go's semantics for dot,
//! variables (a scoped stack), `if`/`with`/`range` (with `break`/`continue`), field chains
//! (a missing key is nil, as with `missingkey=zero` on Ollama's `map[string]any`) and
//! function calls. Output size and the number of steps are capped so no template, however
//! hostile, can run unbounded.

use super::funcs;
use super::parser::{Arg, Branch, Cmd, Node, Pipe};
use super::value::Value;
use super::TemplateError;

/// Largest rendered output, in bytes.
pub(crate) const MAX_OUTPUT: usize = 64 << 20;
/// Most nodes, commands and range iterations one execution may evaluate.
pub(crate) const MAX_STEPS: u64 = 20_000_000;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct State<'a> {
    src: &'a str,
    out: String,
    vars: Vec<(String, Value)>,
    steps: u64,
}

pub(crate) fn execute(src: &str, nodes: &[Node], data: &Value) -> Result<String, TemplateError> {
    let mut s = State { src, out: String::new(), vars: vec![("$".to_string(), data.clone())], steps: 0 };
    s.walk(data, nodes)?;
    Ok(s.out)
}

impl State<'_> {
    fn err(&self, pos: usize, msg: &str) -> TemplateError {
        TemplateError::at(self.src, pos, msg)
    }

    fn step(&mut self, pos: usize) -> Result<(), TemplateError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.err(pos, "template execution exceeded its step limit"));
        }
        Ok(())
    }

    fn write(&mut self, pos: usize, s: &str) -> Result<(), TemplateError> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(self.err(pos, "template output exceeds its size limit"));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> Result<Flow, TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => self.write(0, t)?,
                Node::Action(pipe) => {
                    self.step(pipe.pos)?;
                    let v = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let s = funcs::print_action(&v);
                        self.write(pipe.pos, &s)?;
                    }
                }
                Node::If(b) | Node::With(b) => {
                    let is_with = matches!(node, Node::With(_));
                    self.step(b.pipe.pos)?;
                    let mark = self.vars.len();
                    let v = self.pipeline(dot, &b.pipe)?;
                    let flow = if v.truth() {
                        if is_with {
                            self.walk(&v, &b.list)?
                        } else {
                            self.walk(dot, &b.list)?
                        }
                    } else if let Some(e) = &b.else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => self.range(dot, b)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, dot: &Value, b: &Branch) -> Result<(), TemplateError> {
        let pos = b.pipe.pos;
        self.step(pos)?;
        let mark = self.vars.len();
        let v = self.commands(dot, &b.pipe.cmds)?;
        let decl = &b.pipe.decl;
        if !b.pipe.is_assign {
            for name in decl {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        let items: Vec<(Value, Value)> = match v.inner() {
            Value::Null => Vec::new(),
            Value::List(l) => l.iter().enumerate().map(|(i, e)| (Value::Int(i as i64), e.clone())).collect(),
            Value::Map(m) => m.sorted().into_iter().map(|(k, e)| (Value::str(k), e.clone())).collect(),
            Value::Int(n) => {
                if decl.len() > 1 {
                    return Err(self.err(pos, "can't use two variables ranging over an integer"));
                }
                if *n as u64 > MAX_STEPS {
                    return Err(self.err(pos, "template execution exceeded its step limit"));
                }
                (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            other => return Err(self.err(pos, &format!("range can't iterate over {}", funcs::sprint(other)))),
        };
        let empty = items.is_empty();
        for (key, elem) in items {
            self.step(pos)?;
            match (decl.len(), b.pipe.is_assign) {
                (0, _) => {}
                (1, false) => self.set_top(1, elem.clone()),
                (_, false) => {
                    self.set_top(2, key);
                    self.set_top(1, elem.clone());
                }
                (1, true) => self.assign(pos, &decl[0], elem.clone())?,
                (_, true) => {
                    self.assign(pos, &decl[0], key)?;
                    self.assign(pos, &decl[1], elem.clone())?;
                }
            }
            let inner = self.vars.len();
            let flow = self.walk(&elem, &b.list)?;
            self.vars.truncate(inner);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        if empty {
            if let Some(e) = &b.else_list {
                self.walk(dot, e)?;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn set_top(&mut self, n: usize, v: Value) {
        let len = self.vars.len();
        if let Some(slot) = self.vars.get_mut(len.wrapping_sub(n)) {
            slot.1 = v;
        }
    }

    fn assign(&mut self, pos: usize, name: &str, v: Value) -> Result<(), TemplateError> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.err(pos, &format!("undefined variable: {name}"))),
        }
    }

    fn var(&self, pos: usize, name: &str) -> Result<Value, TemplateError> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.err(pos, &format!("undefined variable: {name}"))),
        }
    }

    pub(crate) fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, TemplateError> {
        let v = self.commands(dot, &pipe.cmds)?;
        for name in &pipe.decl {
            if pipe.is_assign {
                self.assign(pipe.pos, name, v.clone())?;
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn commands(&mut self, dot: &Value, cmds: &[Cmd]) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for cmd in cmds {
            self.step(cmd.pos)?;
            last = Some(self.command(dot, cmd, last)?);
        }
        Ok(last.unwrap_or(Value::Null))
    }

    fn command(&mut self, dot: &Value, cmd: &Cmd, fin: Option<Value>) -> Result<Value, TemplateError> {
        let (first, pos) = &cmd.args[0];
        let pos = *pos;
        let has_args = cmd.args.len() > 1 || fin.is_some();
        match first {
            Arg::Ident(name) => self.call(dot, pos, name, &cmd.args[1..], fin),
            Arg::Nil => Err(self.err(pos, "nil is not a command")),
            _ => {
                if has_args {
                    let what = match first {
                        Arg::Field(f) | Arg::Variable(_, f) | Arg::Chain(_, f) if !f.is_empty() => {
                            format!("{} has arguments but cannot be invoked as function", f[f.len() - 1])
                        }
                        _ => "can't give argument to non-function".to_string(),
                    };
                    return Err(self.err(pos, &what));
                }
                self.arg(dot, first, pos)
            }
        }
    }

    fn arg(&mut self, dot: &Value, arg: &Arg, pos: usize) -> Result<Value, TemplateError> {
        match arg {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Null),
            Arg::Literal(v) => Ok(v.clone()),
            Arg::Field(f) => self.fields(pos, dot.clone(), f),
            Arg::Variable(name, f) => {
                let v = self.var(pos, name)?;
                self.fields(pos, v, f)
            }
            // A declaration inside parentheses lives until the enclosing control ends, as in Go.
            Arg::Pipe(p) => self.pipeline(dot, p),
            Arg::Chain(inner, f) => {
                let v = self.arg(dot, inner, pos)?;
                self.fields(pos, v, f)
            }
            Arg::Ident(name) => self.call(dot, pos, name, &[], None),
        }
    }

    fn fields(&self, pos: usize, mut v: Value, names: &[String]) -> Result<Value, TemplateError> {
        for name in names {
            v = match v.inner() {
                Value::Null => Value::Null,
                Value::Map(m) => match m.get(name) {
                    Some(x) => x.clone(),
                    None => m.get(&snake_case(name)).cloned().unwrap_or(Value::Null),
                },
                other => {
                    return Err(self.err(pos, &format!("can't evaluate field {name} in type {}", other.type_name())));
                }
            };
        }
        Ok(v)
    }

    fn call(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &str,
        args: &[(Arg, usize)],
        fin: Option<Value>,
    ) -> Result<Value, TemplateError> {
        // `and` and `or` evaluate their arguments lazily and return one of them.
        if name == "and" || name == "or" {
            let n = args.len() + usize::from(fin.is_some());
            if n == 0 {
                return Err(self.err(pos, &format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            let mut v = Value::Null;
            for (a, apos) in args {
                v = self.arg(dot, a, *apos)?;
                if v.truth() != (name == "and") {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for (a, apos) in args {
            vals.push(self.arg(dot, a, *apos)?);
        }
        if let Some(f) = fin {
            vals.push(f);
        }
        funcs::call(name, vals).map_err(|m| self.err(pos, &format!("error calling {name}: {m}")))
    }
}

/// `ToolCallID` -> `tool_call_id`: lets Go-style field names reach maps built from JSON
/// (request tools), whose keys are the structs' JSON tags.
fn snake_case(s: &str) -> String {
    let cs: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in cs.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = cs[i - 1];
            let next_lower = cs.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_matches_json_tags() {
        assert_eq!(snake_case("ToolCallID"), "tool_call_id");
        assert_eq!(snake_case("Function"), "function");
        assert_eq!(snake_case("Arguments"), "arguments");
        assert_eq!(snake_case("ToolName"), "tool_name");
    }
}
