//! The lexer: splits template source into text and the tokens of `{{ }}` actions, the way
//! Go's `text/template/parse` lexer does. Trim markers (`{{- ` and ` -}}`) are applied
//! here, so the parser only ever sees already-trimmed text; comments vanish here too.

use super::TemplateError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    /// A bare word: a keyword (`if`, `range`, ...), a function name, `true`/`false`/`nil`.
    Ident(String),
    /// `.Name` (one element of a field chain).
    Field(String),
    /// `.` alone.
    Dot,
    /// `$` or `$name` (the `$` included).
    Variable(String),
    Str(String),
    Number(String),
    Char(char),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// A token and the byte offset where it starts.
pub(crate) type Spanned = (Tok, usize);

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_trim_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn lex(src: &str) -> Result<Vec<Spanned>, TemplateError> {
    let b = src.as_bytes();
    let mut out: Vec<Spanned> = Vec::new();
    let mut pos = 0;
    // Set by a right trim marker: the next text drops its leading whitespace.
    let mut trim_next = false;
    loop {
        let start = pos;
        let next = src[pos..].find(LEFT).map(|i| i + pos);
        let text_end = next.unwrap_or(src.len());
        let mut text = &src[pos..text_end];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            trim_next = false;
        }
        let Some(ldelim) = next else {
            if !text.is_empty() {
                out.push((Tok::Text(text.to_string()), start));
            }
            return Ok(out);
        };
        // A left trim marker is "{{-" followed by whitespace.
        let after = ldelim + LEFT.len();
        let left_trim = b.get(after) == Some(&b'-') && b.get(after + 1).is_some_and(|&c| is_trim_space(c));
        if left_trim {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        if !text.is_empty() {
            out.push((Tok::Text(text.to_string()), start));
        }
        pos = if left_trim { after + 2 } else { after };
        // Comments: "{{/*" or "{{- /*", closed by "*/}}" or "*/ -}}".
        if src[pos..].starts_with("/*") {
            let Some(end) = src[pos + 2..].find("*/") else {
                return Err(TemplateError::at(src, ldelim, "unclosed comment"));
            };
            pos = pos + 2 + end + 2;
            if let Some(p) = right_trim_at(src, pos) {
                pos = p;
                trim_next = true;
            } else if src[pos..].starts_with(RIGHT) {
                pos += RIGHT.len();
            } else {
                return Err(TemplateError::at(src, ldelim, "comment ends before closing delimiter"));
            }
            continue;
        }
        out.push((Tok::LeftDelim, ldelim));
        let (p, trimmed) = lex_action(src, pos, &mut out)?;
        pos = p;
        trim_next = trimmed;
    }
}

/// If a right trim marker (" -}}" with any whitespace before the dash) starts at `pos`,
/// returns the position after it.
fn right_trim_at(src: &str, pos: usize) -> Option<usize> {
    let b = src.as_bytes();
    if !b.get(pos).is_some_and(|&c| is_trim_space(c)) {
        return None;
    }
    let mut p = pos;
    while b.get(p).is_some_and(|&c| is_trim_space(c)) {
        p += 1;
    }
    if src[p..].starts_with("-}}") {
        Some(p + 3)
    } else {
        None
    }
}

/// Lexes the inside of one action up to and including its closing delimiter. Returns the
/// position after it and whether it ended with a right trim marker.
fn lex_action(src: &str, mut pos: usize, out: &mut Vec<Spanned>) -> Result<(usize, bool), TemplateError> {
    let b = src.as_bytes();
    let mut parens = 0usize;
    loop {
        if let Some(p) = right_trim_at(src, pos) {
            if parens > 0 {
                return Err(TemplateError::at(src, pos, "unclosed left paren"));
            }
            out.push((Tok::RightDelim, pos));
            return Ok((p, true));
        }
        if src[pos..].starts_with(RIGHT) {
            if parens > 0 {
                return Err(TemplateError::at(src, pos, "unclosed left paren"));
            }
            out.push((Tok::RightDelim, pos));
            return Ok((pos + RIGHT.len(), false));
        }
        let Some(&c) = b.get(pos) else {
            return Err(TemplateError::at(src, pos, "unclosed action"));
        };
        let start = pos;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                while b.get(pos).is_some_and(|&c| is_trim_space(c)) {
                    pos += 1;
                }
                out.push((Tok::Space, start));
            }
            b'(' => {
                parens += 1;
                pos += 1;
                out.push((Tok::LParen, start));
            }
            b')' => {
                if parens == 0 {
                    return Err(TemplateError::at(src, pos, "unexpected right paren"));
                }
                parens -= 1;
                pos += 1;
                out.push((Tok::RParen, start));
            }
            b'|' => {
                pos += 1;
                out.push((Tok::Pipe, start));
            }
            b',' => {
                pos += 1;
                out.push((Tok::Comma, start));
            }
            b'=' => {
                pos += 1;
                out.push((Tok::Assign, start));
            }
            b':' => {
                if b.get(pos + 1) != Some(&b'=') {
                    return Err(TemplateError::at(src, pos, "expected :="));
                }
                pos += 2;
                out.push((Tok::Declare, start));
            }
            b'"' => {
                let (s, p) = lex_quote(src, pos)?;
                pos = p;
                out.push((Tok::Str(s), start));
            }
            b'`' => {
                let Some(end) = src[pos + 1..].find('`') else {
                    return Err(TemplateError::at(src, pos, "unterminated raw quoted string"));
                };
                out.push((Tok::Str(src[pos + 1..pos + 1 + end].to_string()), start));
                pos = pos + 1 + end + 1;
            }
            b'\'' => {
                let (ch, p) = lex_char(src, pos)?;
                pos = p;
                out.push((Tok::Char(ch), start));
            }
            b'$' => {
                pos += 1;
                while let Some(ch) = src[pos..].chars().next().filter(|&ch| is_alnum(ch)) {
                    pos += ch.len_utf8();
                }
                out.push((Tok::Variable(src[start..pos].to_string()), start));
            }
            b'.' => {
                // A number such as ".5", a field ".Name", or the dot itself.
                if b.get(pos + 1).is_some_and(|c| c.is_ascii_digit()) {
                    pos = lex_number(src, pos)?;
                    out.push((Tok::Number(src[start..pos].to_string()), start));
                } else {
                    pos += 1;
                    while let Some(ch) = src[pos..].chars().next().filter(|&ch| is_alnum(ch)) {
                        pos += ch.len_utf8();
                    }
                    if pos == start + 1 {
                        out.push((Tok::Dot, start));
                    } else {
                        out.push((Tok::Field(src[start + 1..pos].to_string()), start));
                    }
                }
            }
            b'0'..=b'9' | b'+' | b'-' => {
                pos = lex_number(src, pos)?;
                out.push((Tok::Number(src[start..pos].to_string()), start));
            }
            _ => {
                let ch = src[pos..].chars().next().unwrap_or('\0');
                if !is_alnum(ch) {
                    return Err(TemplateError::at(src, pos, &format!("unexpected {ch:?} in command")));
                }
                while let Some(ch) = src[pos..].chars().next().filter(|&ch| is_alnum(ch)) {
                    pos += ch.len_utf8();
                }
                out.push((Tok::Ident(src[start..pos].to_string()), start));
            }
        }
    }
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Scans a number the way Go's lexer does (sign, digits, fraction, exponent, hex/octal/binary
/// prefixes, underscores); validation of the text happens when the parser converts it.
fn lex_number(src: &str, mut pos: usize) -> Result<usize, TemplateError> {
    let b = src.as_bytes();
    let start = pos;
    if matches!(b.get(pos), Some(b'+' | b'-')) {
        pos += 1;
    }
    let mut seen = false;
    while let Some(&c) = b.get(pos) {
        let exp_sign =
            matches!(c, b'+' | b'-') && matches!(b.get(pos.wrapping_sub(1)), Some(b'e' | b'E' | b'p' | b'P'));
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || (exp_sign && seen) {
            seen = true;
            pos += 1;
        } else {
            break;
        }
    }
    if !seen {
        return Err(TemplateError::at(src, start, "bad number syntax"));
    }
    Ok(pos)
}

fn lex_quote(src: &str, pos: usize) -> Result<(String, usize), TemplateError> {
    let mut out = String::new();
    let mut it = src[pos + 1..].char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, pos + 1 + i + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = it.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut code = 0u32;
                        for _ in 0..n {
                            let Some((_, h)) = it.next() else { break };
                            let Some(d) = h.to_digit(16) else {
                                return Err(TemplateError::at(src, pos, "invalid syntax in quoted string"));
                            };
                            code = code.saturating_mul(16).saturating_add(d);
                        }
                        match char::from_u32(code) {
                            Some(ch) => out.push(ch),
                            None => return Err(TemplateError::at(src, pos, "invalid syntax in quoted string")),
                        }
                    }
                    _ => return Err(TemplateError::at(src, pos, "invalid syntax in quoted string")),
                }
            }
            c => out.push(c),
        }
    }
    Err(TemplateError::at(src, pos, "unterminated quoted string"))
}

fn lex_char(src: &str, pos: usize) -> Result<(char, usize), TemplateError> {
    let rest = &src[pos + 1..];
    let mut it = rest.char_indices();
    let (c, end) = match it.next() {
        Some((_, '\\')) => {
            let e = it.next().map(|(_, e)| e);
            let c = match e {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('\\') => '\\',
                Some('\'') => '\'',
                Some('0') => '\0',
                _ => return Err(TemplateError::at(src, pos, "unterminated character constant")),
            };
            (c, it.next())
        }
        Some((_, c)) if c != '\'' && c != '\n' => (c, it.next()),
        _ => return Err(TemplateError::at(src, pos, "unterminated character constant")),
    };
    match end {
        Some((i, '\'')) => Ok((c, pos + 1 + i + 1)),
        _ => Err(TemplateError::at(src, pos, "unterminated character constant")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn trim_markers_eat_all_adjacent_whitespace() {
        assert_eq!(
            toks("a \n\t{{- .X -}}\n\n b"),
            vec![Tok::Text("a".into()), Tok::LeftDelim, Tok::Field("X".into()), Tok::RightDelim, Tok::Text("b".into())]
        );
    }

    #[test]
    fn a_dash_without_space_is_a_number() {
        assert_eq!(toks("{{-3}}"), vec![Tok::LeftDelim, Tok::Number("-3".into()), Tok::RightDelim]);
    }

    #[test]
    fn comments_vanish_and_can_trim() {
        assert_eq!(
            toks("a {{- /* c */ -}} b{{/* x */}}c"),
            vec![Tok::Text("a".into()), Tok::Text("b".into()), Tok::Text("c".into())]
        );
    }

    #[test]
    fn strings_and_chains() {
        assert_eq!(
            toks(r#"{{ $x.A.B "q\n" }}"#),
            vec![
                Tok::LeftDelim,
                Tok::Space,
                Tok::Variable("$x".into()),
                Tok::Field("A".into()),
                Tok::Field("B".into()),
                Tok::Space,
                Tok::Str("q\n".into()),
                Tok::Space,
                Tok::RightDelim
            ]
        );
    }

    #[test]
    fn unclosed_action_is_an_error() {
        assert!(lex("{{ .X").is_err());
        assert!(lex("{{ \"abc }}").is_err());
        assert!(lex("{{/* abc }}").is_err());
    }
}
