//! The functions templates may call (Go's builtins plus Ollama's `json`, `currentDate`,
//! `yesterdayDate`, `toTypeScriptType`) and the ways values become text: Go's `fmt` `%v` printing, `printf`'s
//! common verbs, and `encoding/json` marshalling (HTML-escaping included, as Go does).

use super::value::Value;
use std::fmt::Write as _;

/// Longest string a function may build; keeps `printf`/`print` doubling loops bounded.
const MAX_STRING: usize = super::exec::MAX_OUTPUT;

const NAMES: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "json",
    "currentDate",
    "yesterdayDate",
    "toTypeScriptType",
];

pub(crate) fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args for {name}: want {n} got {}", args.len()));
    }
    Ok(())
}

fn capped(s: String) -> Result<Value, String> {
    if s.len() > MAX_STRING {
        return Err("result exceeds the size limit".to_string());
    }
    Ok(Value::from(s))
}

pub(crate) fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    match name {
        "not" => {
            want(name, &args, 1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        "eq" => {
            if args.len() < 2 {
                return Err(format!("wrong number of args for eq: want at least 2 got {}", args.len()));
            }
            for b in &args[1..] {
                if equal(&args[0], b)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => {
            want(name, &args, 2)?;
            Ok(Value::Bool(!equal(&args[0], &args[1])?))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let ord = less(&args[0], &args[1])?;
            let eq = equal(&args[0], &args[1])?;
            Ok(Value::Bool(match name {
                "lt" => ord,
                "le" => ord || eq,
                "gt" => !ord && !eq,
                _ => !ord,
            }))
        }
        "len" => {
            want(name, &args, 1)?;
            Ok(Value::Int(match args[0].inner() {
                Value::String(s) => s.len() as i64,
                Value::List(l) => l.len() as i64,
                Value::Map(m) => m.len() as i64,
                Value::Null => 0,
                other => return Err(format!("len of type {}", other.type_name())),
            }))
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".to_string());
            };
            let mut v = first.clone();
            for k in keys {
                v = match (v.inner(), k.inner()) {
                    (Value::List(l), _) => {
                        let i = as_index(k)?;
                        l.get(i).cloned().ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    (Value::String(s), _) => {
                        let i = as_index(k)?;
                        Value::Int(*s.as_bytes().get(i).ok_or_else(|| format!("index out of range: {i}"))? as i64)
                    }
                    (Value::Map(m), Value::String(key)) => m.get(key).cloned().unwrap_or(Value::Null),
                    (Value::Map(_), _) => return Err(format!("value has type {}; should be string", k.type_name())),
                    (Value::Null, _) => return Err("index of untyped nil".to_string()),
                    (other, _) => return Err(format!("can't index item of type {}", other.type_name())),
                };
            }
            Ok(v)
        }
        "slice" => {
            let Some((first, idx)) = args.split_first() else {
                return Err("wrong number of args for slice: want at least 1 got 0".to_string());
            };
            if idx.len() > 3 {
                return Err(format!("too many slice indexes: {}", idx.len()));
            }
            let len = match first.inner() {
                Value::String(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Null => return Err("slice of untyped nil".to_string()),
                other => return Err(format!("can't slice item of type {}", other.type_name())),
            };
            let mut ix = [0, len, len];
            for (n, k) in idx.iter().enumerate() {
                ix[n] = as_index(k)?;
                if ix[n] > len {
                    return Err(format!("index out of range: {}", ix[n]));
                }
            }
            if idx.len() < 2 {
                ix[1] = len;
            }
            if ix[0] > ix[1] {
                return Err(format!("invalid slice index: {} > {}", ix[0], ix[1]));
            }
            match first.inner() {
                Value::String(s) => {
                    if idx.len() == 3 {
                        return Err("cannot 3-index slice a string".to_string());
                    }
                    match s.get(ix[0]..ix[1]) {
                        Some(sub) => Ok(Value::str(sub)),
                        // Go slices bytes; a cut inside a UTF-8 sequence keeps the raw bytes.
                        None => Ok(Value::from(String::from_utf8_lossy(&s.as_bytes()[ix[0]..ix[1]]).into_owned())),
                    }
                }
                Value::List(l) => Ok(Value::list(l[ix[0]..ix[1]].to_vec())),
                _ => unreachable!("checked above"),
            }
        }
        "print" => capped(sprint_args(&args)),
        "println" => {
            let mut s = args.iter().map(sprint).collect::<Vec<_>>().join(" ");
            s.push('\n');
            capped(s)
        }
        "printf" => {
            let Some((f, rest)) = args.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".to_string());
            };
            let Some(f) = f.as_str() else {
                return Err(format!("wrong type for value; expected string; got {}", f.type_name()));
            };
            capped(sprintf(f, rest))
        }
        "json" => {
            want(name, &args, 1)?;
            capped(to_json(&args[0]))
        }
        // Ollama's date functions take (and ignore) string arguments.
        "currentDate" | "yesterdayDate" => {
            if let Some(a) = args.iter().find(|a| a.as_str().is_none()) {
                return Err(format!("wrong type for value; expected string; got {}", a.type_name()));
            }
            Ok(Value::from(date_string(if name == "currentDate" { 0 } else { 1 })))
        }
        "toTypeScriptType" => {
            want(name, &args, 1)?;
            Ok(Value::from(typescript_type(&args[0])))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn as_index(v: &Value) -> Result<usize, String> {
    match v.inner() {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        Value::Int(i) => Err(format!("index out of range: {i}")),
        Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 1e15 => Ok(*f as usize),
        other => Err(format!("cannot index slice/array with type {}", other.type_name())),
    }
}

/// Go's `eq` on basic values. Ints and floats compare by value (Go would refuse mixing them;
/// accepting it only turns an error into the obvious answer).
fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a.inner(), b.inner()) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            return Err("non-comparable type".to_string());
        }
        _ => return Err("incompatible types for comparison".to_string()),
    })
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match (a.inner(), b.inner()) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Int(x), Value::Float(y)) => (*x as f64) < *y,
        (Value::Float(x), Value::Int(y)) => *x < (*y as f64),
        (Value::String(x), Value::String(y)) => x < y,
        _ => return Err("invalid type for comparison".to_string()),
    })
}

/// What `{{ x }}` writes: Go prints a missing value as `<no value>`.
pub(crate) fn print_action(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        _ => sprint(v),
    }
}

/// Go's `fmt.Sprint` of one value (`%v`).
pub(crate) fn sprint(v: &Value) -> String {
    let mut s = String::new();
    write_v(&mut s, v);
    s
}

fn write_v(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float_g(*f)),
        Value::String(s) => out.push_str(s),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.sorted().into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, e);
            }
            out.push(']');
        }
        Value::Json(inner) => out.push_str(&to_json(inner)),
    }
}

/// `fmt.Sprint`: a space between operands when neither side is a string.
fn sprint_args(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Value::String(_));
        if i > 0 && !is_str && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        write_v(&mut out, a);
    }
    out
}

/// Shortest digits and decimal exponent of a finite float: 1234.5 -> ("12345", 3).
fn float_digits(f: f64) -> (String, i32) {
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    (mant.replace('.', ""), exp.parse().unwrap_or(0))
}

fn format_exp(neg: bool, digits: &str, exp: i32, min_exp_digits: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    let _ = write!(s, "e{}{:0w$}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs(), w = min_exp_digits);
    s
}

fn format_fixed(neg: bool, digits: &str, exp: i32) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        s.push_str(digits);
    } else if point as usize >= digits.len() {
        s.push_str(digits);
        s.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        s.push_str(&digits[..point as usize]);
        s.push('.');
        s.push_str(&digits[point as usize..]);
    }
    s
}

fn special_float(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_string())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else if f == 0.0 {
        Some(if f.is_sign_negative() { "-0" } else { "0" }.to_string())
    } else {
        None
    }
}

/// Go's `%v` for a float64: strconv's 'g' with the shortest digits, which switches to the
/// exponent form when the decimal exponent is below -4 or at least 6 (`1e+06`).
pub(crate) fn format_float_g(f: f64) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let (digits, exp) = float_digits(f);
    if !(-4..6).contains(&exp) {
        format_exp(f < 0.0, &digits, exp, 2)
    } else {
        format_fixed(f < 0.0, &digits, exp)
    }
}

/// `encoding/json`'s float format: fixed unless very small or large, `e-7` not `e-07`.
fn format_float_json(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (digits, exp) = float_digits(f);
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        format_exp(f < 0.0, &digits, exp, 1)
    } else {
        format_fixed(f < 0.0, &digits, exp)
    }
}

/// Go's `json.Marshal`, keys in stored order, `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub(crate) fn to_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float_json(*f)),
        Value::String(s) => json_string(out, s),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, e);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                write_json(out, e);
            }
            out.push('}');
        }
        Value::Json(inner) => write_json(out, inner),
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `strconv.Quote` for `%q` (and for values that Ollama prints quoted).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `fmt.Sprintf` for the verbs templates use: %s %v %d %q %t %f %g %e %x %X %c %%, with
/// flags `-`, `0`, `+`, width and precision. Go's error forms for a bad or missing operand.
pub(crate) fn sprintf(f: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = f.chars().peekable();
    let mut argi = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut zero, mut plus) = (false, false, false);
        while let Some(&fl) = it.peek() {
            match fl {
                '-' => minus = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            it.next();
        }
        let mut width = 0usize;
        while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
            width = (width * 10 + d as usize).min(1 << 16);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = 0usize;
            while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
                p = (p * 10 + d as usize).min(1 << 16);
                it.next();
            }
            prec = Some(p);
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        // Wide fields repeated many times could build a huge string; stop early, the caller
        // reports the size error.
        if out.len() > MAX_STRING {
            break;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        let bad = || format!("%!{verb}({}={})", arg.type_name(), sprint(arg));
        let body = match (verb, arg.inner()) {
            ('v', _) => sprint(arg),
            ('s', Value::String(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            },
            ('s', _) => sprint(arg),
            ('q', Value::String(s)) => go_quote(s),
            ('q', Value::Int(i)) => char::from_u32(*i as u32).map_or_else(bad, |c| format!("'{c}'")),
            ('d', Value::Int(i)) => {
                if plus && *i >= 0 {
                    format!("+{i}")
                } else {
                    i.to_string()
                }
            }
            ('t', Value::Bool(b)) => b.to_string(),
            ('c', Value::Int(i)) => char::from_u32(*i as u32).map_or_else(bad, String::from),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('X', Value::Int(i)) => format!("{i:X}"),
            ('x', Value::String(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F', Value::Float(x)) => format!("{:.*}", prec.unwrap_or(6), x),
            ('f' | 'F', Value::Int(_)) => bad(),
            ('e', Value::Float(x)) => {
                let s = format!("{:.*e}", prec.unwrap_or(6), x);
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let e: i32 = e.parse().unwrap_or(0);
                format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.unsigned_abs())
            }
            ('g', Value::Float(x)) => format_float_g(*x),
            _ => bad(),
        };
        let len = body.chars().count();
        if len >= width {
            out.push_str(&body);
        } else if minus {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', width - len));
        } else if zero && matches!(verb, 'd' | 'f' | 'e' | 'g' | 'x' | 'X') {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', width - len));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', width - len));
            out.push_str(&body);
        }
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..].iter().map(|a| format!("{}={}", a.type_name(), sprint(a))).collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

/// Ollama's `ToolProperty.ToTypeScriptType`: `anyOf` alternatives, or the JSON Schema
/// type(s) mapped to TypeScript; anything that is not a property is `any`.
fn typescript_type(v: &Value) -> String {
    let Value::Map(m) = v.inner() else {
        return "any".to_string();
    };
    if let Some(Value::List(any_of)) = m.get("anyOf").map(Value::inner) {
        if !any_of.is_empty() {
            return any_of.iter().map(typescript_type).collect::<Vec<_>>().join(" | ");
        }
    }
    let map = |t: &str| match t {
        "string" => "string",
        "number" | "integer" => "number",
        "boolean" => "boolean",
        "array" => "any[]",
        "object" => "Record<string, any>",
        "null" => "null",
        _ => "any",
    };
    match m.get("type").map(Value::inner) {
        Some(Value::String(t)) => map(t).to_string(),
        Some(Value::List(ts)) if !ts.is_empty() => {
            ts.iter().map(|t| map(t.as_str().unwrap_or(""))).collect::<Vec<_>>().join(" | ")
        }
        _ => "any".to_string(),
    }
}

/// Today's (or `days_ago` days before) date as Go's `2006-01-02`, in UTC.
fn date_string(days_ago: i64) -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400) - days_ago);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::super::value::Map;
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float_g(0.7), "0.7");
        assert_eq!(format_float_g(4096.0), "4096");
        assert_eq!(format_float_g(1e21), "1e+21");
        assert_eq!(format_float_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_json(1e21), "1e+21");
        assert_eq!(format_float_json(1.5e-7), "1.5e-7");
        assert_eq!(format_float_json(100.0), "100");
    }

    #[test]
    fn json_escapes_html_like_go() {
        let m = Map::new().with("a", "<b>&\"\n").with("n", Value::Float(2.5)).with("l", vec![Value::Null, true.into()]);
        assert_eq!(to_json(&Value::map(m)), r#"{"a":"\u003cb\u003e\u0026\"\n","n":2.5,"l":[null,true]}"#);
    }

    #[test]
    fn printf_verbs() {
        assert_eq!(sprintf("%s\n\n%s", &["a".into(), "b".into()]), "a\n\nb");
        assert_eq!(
            sprintf("%d|%5d|%-3d|%03d", &[1i64.into(), 2i64.into(), 3i64.into(), 4i64.into()]),
            "1|    2|3  |004"
        );
        assert_eq!(
            sprintf("%q %v %t", &["x\"".into(), Value::list(vec![1i64.into()]), true.into()]),
            "\"x\\\"\" [1] true"
        );
        assert_eq!(sprintf("%d", &["x".into()]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &["x".into()]), "x %!s(MISSING)");
        assert_eq!(sprintf("%.2f", &[Value::Float(1.0 / 3.0)]), "0.33");
    }

    #[test]
    fn print_spaces_between_non_strings() {
        assert_eq!(sprint_args(&[1i64.into(), 2i64.into(), "a".into(), 3i64.into()]), "1 2a3");
        assert_eq!(sprint(&Value::map(Map::new().with("b", 1i64).with("a", "x"))), "map[a:x b:1]");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(date_string(0).len(), 10);
    }
}
