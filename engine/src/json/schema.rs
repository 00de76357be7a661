//! JSON schemas compiled for the matcher, and a validator for the same subset.
//!
//! Supported: `type` (one or an array of object, array, string, number, integer, boolean,
//! null), `properties`, `required`, `additionalProperties` (false or a schema), `items`,
//! `enum`, `const` and `anyOf` (`oneOf` is read as `anyOf`: the matcher commits to the first
//! alternative a value's first byte fits, so the value validates against at least that one).
//! Other keywords (lengths, patterns, bounds) are ignored by both the matcher and [`validate`];
//! `$ref` is refused, since a schema here is a tree and a reference could make it a cycle.
//!
//! An object with `properties` is written with its properties in the schema map's order (which
//! serde_json keeps sorted by name), each at most once, optional ones skippable, and no others:
//! whatever `additionalProperties` says, such an object validates.

use serde_json::Value;

/// Index of a node in [`Schema::nodes`]; a node's children always have smaller indices.
pub(super) type NodeId = usize;

/// Caps that keep a hostile schema from costing more than a request should.
const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 4096;
const MAX_LITERALS: usize = 1024;
const MAX_LITERAL_BYTES: usize = 64 * 1024;

pub(super) const ANY: NodeId = 0;
pub(super) const ANY_OBJECT: NodeId = 1;
pub(super) const ANY_ARRAY: NodeId = 2;
pub(super) const STRING: NodeId = 3;
pub(super) const NUMBER: NodeId = 4;
pub(super) const INTEGER: NodeId = 5;
pub(super) const WORDS: NodeId = 6;
pub(super) const BOOLEAN: NodeId = 7;
pub(super) const NULL: NodeId = 8;

/// One property of an object node.
#[derive(Debug, Clone)]
pub(super) struct Prop {
    /// The key as JSON text, quotes included (serde_json's escaping, so it is canonical).
    pub key: Vec<u8>,
    pub node: NodeId,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    /// Any JSON value.
    Any,
    /// With `props`, exactly those keys in order (optional ones skippable); without, any keys
    /// whose values match `free` (None: no keys at all, `{}` only).
    Object {
        props: Vec<Prop>,
        free: Option<NodeId>,
    },
    Array {
        items: NodeId,
    },
    String,
    Number,
    Integer,
    /// One of these JSON texts, byte for byte (enum, const, true/false/null).
    Literals(Vec<Vec<u8>>),
    /// The first alternative whose first byte fits.
    Union(Vec<NodeId>),
}

/// A compiled schema: the nodes, the root, and each node's shortest complete value in bytes
/// (what closing the value costs, so generation can close it before its token budget ends).
#[derive(Debug, Clone)]
pub struct Schema {
    pub(super) nodes: Vec<Node>,
    pub(super) min_len: Vec<usize>,
    pub(super) root: NodeId,
}

impl Schema {
    fn base() -> Schema {
        let words = |w: &[&str]| Node::Literals(w.iter().map(|s| s.as_bytes().to_vec()).collect());
        let nodes = vec![
            Node::Any,
            Node::Object { props: Vec::new(), free: Some(ANY) },
            Node::Array { items: ANY },
            Node::String,
            Node::Number,
            Node::Integer,
            words(&["true", "false", "null"]),
            words(&["true", "false"]),
            words(&["null"]),
        ];
        let min_len = vec![1, 2, 2, 2, 1, 1, 4, 4, 4];
        Schema { nodes, min_len, root: ANY }
    }

    /// Plain JSON mode: any object.
    pub fn any_object() -> Schema {
        Schema { root: ANY_OBJECT, ..Schema::base() }
    }

    /// Any JSON value at the root.
    pub fn any_value() -> Schema {
        Schema::base()
    }

    pub fn compile(schema: &Value) -> Result<Schema, String> {
        let mut s = Schema::base();
        s.root = s.node(schema, 0)?;
        Ok(s)
    }

    fn push(&mut self, node: Node) -> Result<NodeId, String> {
        if self.nodes.len() >= MAX_NODES {
            return Err(format!("format schema is too large (more than {MAX_NODES} parts)"));
        }
        let min = match &node {
            Node::Any | Node::Number | Node::Integer => 1,
            Node::String | Node::Array { .. } => 2,
            Node::Object { props, .. } => object_min_len(props, &self.min_len),
            Node::Literals(l) => l.iter().map(Vec::len).min().unwrap_or(0),
            Node::Union(alts) => alts.iter().map(|&a| self.min_len[a]).min().unwrap_or(0),
        };
        self.nodes.push(node);
        self.min_len.push(min);
        Ok(self.nodes.len() - 1)
    }

    fn node(&mut self, v: &Value, depth: usize) -> Result<NodeId, String> {
        if depth > MAX_DEPTH {
            return Err(format!("format schema nests deeper than {MAX_DEPTH} levels"));
        }
        let o = match v {
            Value::Bool(true) => return Ok(ANY),
            Value::Bool(false) => return Err("format schema `false` admits no value".into()),
            Value::Object(o) => o,
            _ => return Err("format schema must be an object".into()),
        };
        if o.contains_key("$ref") {
            return Err("format schema: $ref is not supported".into());
        }
        if let Some(c) = o.get("const") {
            return self.literals(std::slice::from_ref(c));
        }
        if let Some(e) = o.get("enum") {
            let e = e.as_array().ok_or("format schema: enum must be an array")?;
            return self.literals(e);
        }
        if let Some(alts) = o.get("anyOf").or_else(|| o.get("oneOf")) {
            let alts =
                alts.as_array().filter(|a| !a.is_empty()).ok_or("format schema: anyOf must be a non-empty array")?;
            let ids = alts.iter().map(|a| self.node(a, depth + 1)).collect::<Result<Vec<_>, _>>()?;
            return self.push(Node::Union(ids));
        }
        match o.get("type") {
            None => {
                if o.contains_key("properties") || o.contains_key("additionalProperties") || o.contains_key("required")
                {
                    self.typed(o, "object", depth)
                } else if o.contains_key("items") {
                    self.typed(o, "array", depth)
                } else {
                    Ok(ANY)
                }
            }
            Some(Value::String(t)) => self.typed(o, t, depth),
            Some(Value::Array(ts)) if !ts.is_empty() => {
                let mut ids = Vec::new();
                for t in ts {
                    let t = t.as_str().ok_or("format schema: type must be a string or an array of strings")?;
                    ids.push(self.typed(o, t, depth)?);
                }
                self.push(Node::Union(ids))
            }
            Some(_) => Err("format schema: type must be a string or a non-empty array of strings".into()),
        }
    }

    fn typed(&mut self, o: &serde_json::Map<String, Value>, t: &str, depth: usize) -> Result<NodeId, String> {
        match t {
            "string" => Ok(STRING),
            "number" => Ok(NUMBER),
            "integer" => Ok(INTEGER),
            "boolean" => Ok(BOOLEAN),
            "null" => Ok(NULL),
            "array" => match o.get("items") {
                None | Some(Value::Bool(true)) => Ok(ANY_ARRAY),
                Some(items) => {
                    let items = self.node(items, depth + 1)?;
                    self.push(Node::Array { items })
                }
            },
            "object" => self.object(o, depth),
            other => Err(format!("format schema: unknown type {other:?}")),
        }
    }

    fn object(&mut self, o: &serde_json::Map<String, Value>, depth: usize) -> Result<NodeId, String> {
        let required: Vec<&str> = match o.get("required") {
            None => Vec::new(),
            Some(Value::Array(r)) => r
                .iter()
                .map(|k| k.as_str().ok_or("format schema: required must list strings"))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("format schema: required must be an array".into()),
        };
        let closed = matches!(o.get("additionalProperties"), Some(Value::Bool(false)));
        let mut props = Vec::new();
        match o.get("properties") {
            None => {}
            Some(Value::Object(p)) => {
                for (k, sub) in p {
                    let node = self.node(sub, depth + 1)?;
                    props.push(Prop { key: key_text(k), node, required: required.contains(&k.as_str()) });
                }
            }
            Some(_) => return Err("format schema: properties must be an object".into()),
        }
        for r in &required {
            if !props.iter().any(|p| p.key == key_text(r)) {
                if closed {
                    return Err(format!("format schema: required property {r:?} is not among the properties"));
                }
                props.push(Prop { key: key_text(r), node: ANY, required: true });
            }
        }
        if !props.is_empty() {
            return self.push(Node::Object { props, free: None });
        }
        let free = match o.get("additionalProperties") {
            None | Some(Value::Bool(true)) => Some(ANY),
            Some(Value::Bool(false)) => None,
            Some(s) => Some(self.node(s, depth + 1)?),
        };
        if free == Some(ANY) {
            return Ok(ANY_OBJECT);
        }
        self.push(Node::Object { props, free })
    }

    fn literals(&mut self, values: &[Value]) -> Result<NodeId, String> {
        if values.is_empty() {
            return Err("format schema: enum must not be empty".into());
        }
        if values.len() > MAX_LITERALS {
            return Err(format!("format schema: enum has more than {MAX_LITERALS} values"));
        }
        let texts: Vec<Vec<u8>> = values.iter().map(|v| serde_json::to_vec(v).unwrap_or_default()).collect();
        if texts.iter().map(Vec::len).sum::<usize>() > MAX_LITERAL_BYTES {
            return Err("format schema: enum and const values are too long".into());
        }
        self.push(Node::Literals(texts))
    }

    /// Bytes needed to finish an object with `props` from after property `after` (None: right
    /// after `{`): each required property still to come (comma, key, colon, shortest value),
    /// then `}`.
    pub(super) fn rest_of_object(&self, props: &[Prop], after: Option<usize>) -> usize {
        let start = after.map_or(0, |a| a + 1);
        let mut n = 1;
        let mut first = after.is_none();
        for p in props[start.min(props.len())..].iter().filter(|p| p.required) {
            n += p.key.len() + 1 + self.min_len[p.node] + usize::from(!first);
            first = false;
        }
        n
    }
}

fn object_min_len(props: &[Prop], min_len: &[usize]) -> usize {
    let req: Vec<&Prop> = props.iter().filter(|p| p.required).collect();
    2 + req.iter().map(|p| p.key.len() + 1 + min_len[p.node]).sum::<usize>() + req.len().saturating_sub(1)
}

fn key_text(k: &str) -> Vec<u8> {
    serde_json::to_vec(&Value::String(k.to_string())).unwrap_or_default()
}

/// Checks `value` against `schema`, for the subset described in this module's docs.
pub fn validate(value: &Value, schema: &Value) -> Result<(), String> {
    check(value, schema, 0, "$")
}

fn check(v: &Value, s: &Value, depth: usize, at: &str) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: schema nests too deep"));
    }
    let o = match s {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{at}: schema false admits nothing")),
        Value::Object(o) => o,
        _ => return Err(format!("{at}: schema is not an object")),
    };
    if let Some(c) = o.get("const") {
        if v != c {
            return Err(format!("{at}: {v} is not the const {c}"));
        }
    }
    if let Some(e) = o.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{at}: {v} is not in the enum"));
        }
    }
    if let Some(alts) = o.get("anyOf").or_else(|| o.get("oneOf")).and_then(Value::as_array) {
        if !alts.iter().any(|a| check(v, a, depth + 1, at).is_ok()) {
            return Err(format!("{at}: {v} matches no alternative of anyOf"));
        }
    }
    match o.get("type") {
        None => {}
        Some(Value::String(t)) => check_type(v, t, at)?,
        Some(Value::Array(ts)) => {
            let fits = ts.iter().any(|t| t.as_str().is_some_and(|t| check_type(v, t, at).is_ok()));
            if !fits {
                return Err(format!("{at}: {v} is none of the types {}", Value::Array(ts.clone())));
            }
        }
        Some(_) => return Err(format!("{at}: bad type in schema")),
    }
    if let Value::Object(m) = v {
        let props = o.get("properties").and_then(Value::as_object);
        for r in o.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(r) = r.as_str() {
                if !m.contains_key(r) {
                    return Err(format!("{at}: required property {r:?} is missing"));
                }
            }
        }
        for (k, x) in m {
            let here = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(x, ps, depth + 1, &here)?,
                None => match o.get("additionalProperties") {
                    None => {}
                    Some(a) => check(x, a, depth + 1, &here).map_err(|e| format!("{e} (additional property)"))?,
                },
            }
        }
    }
    if let (Value::Array(a), Some(items)) = (v, o.get("items")) {
        for (i, x) in a.iter().enumerate() {
            check(x, items, depth + 1, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn check_type(v: &Value, t: &str, at: &str) -> Result<(), String> {
    let ok = match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{at}: {v} is not of type {t}"))
    }
}
