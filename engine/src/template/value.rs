//! The data a template sees: a small dynamic `Value` (null, bool, int, float, string, list,
//! ordered map) standing in for the Go structs and maps Ollama hands to `text/template`.
//!
//! Values are cheap to clone (strings, lists and maps sit behind `Arc`) because templates
//! such as gemma3's evaluate `slice $.Messages $i` once per message; cloning deep data there
//! would make rendering quadratic in the conversation's bytes.

use std::sync::Arc;

/// One template value. `Json` wraps a value whose Go type has a `String()` method that
/// JSON-encodes it (Ollama's `Tools`, `Tool` and tool-call `Arguments`): it behaves like the
/// inner value everywhere except when printed, where it prints as JSON.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(Arc<str>),
    List(Arc<Vec<Value>>),
    Map(Arc<Map>),
    Json(Arc<Value>),
}

/// A map that keeps insertion order, like the fields of a Go struct. Printing and ranging
/// follow Go's map semantics (sorted keys); JSON encoding keeps the stored order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

impl Map {
    pub fn new() -> Map {
        Map::default()
    }

    /// Sets `key`, replacing an existing entry in place so that order stays stable.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        let key = key.into();
        let value = value.into();
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }

    /// Builder form of [`Map::insert`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Map {
        self.insert(key, value);
        self
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Entries in Go's map order: sorted by key.
    pub fn sorted(&self) -> Vec<(&str, &Value)> {
        let mut v: Vec<_> = self.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::String(Arc::from(s))
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    pub fn map(m: Map) -> Value {
        Value::Map(Arc::new(m))
    }

    /// Marks a value as one whose Go type prints itself as JSON (see the enum's docs).
    pub fn json_printed(v: Value) -> Value {
        Value::Json(Arc::new(v))
    }

    /// The value with any `Json` wrapper removed.
    pub fn inner(&self) -> &Value {
        let mut v = self;
        while let Value::Json(inner) = v {
            v = inner;
        }
        v
    }

    /// Go's truth rule for `if`, `with`, `and`, `or`, `not`: the zero value of its type and
    /// empty containers are false; a missing value (nil) is false.
    pub fn truth(&self) -> bool {
        match self.inner() {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Json(_) => unreachable!("inner() strips Json"),
        }
    }

    /// The Go type name used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self.inner() {
            Value::Null => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Json(_) => unreachable!("inner() strips Json"),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.inner() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts parsed JSON (request tools, tool-call arguments). Object keys keep the order
    /// serde_json gives them.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            // Go decodes every JSON number into float64; keeping that type makes printing and
            // comparison behave as they do in Ollama.
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => {
                let mut m = Map::new();
                for (k, v) in o {
                    m.insert(k.clone(), Value::from_json(v));
                }
                Value::map(m)
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Arc::from(s))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::list(v)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::map(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truth_follows_go() {
        assert!(!Value::Null.truth());
        assert!(!Value::str("").truth());
        assert!(Value::str("x").truth());
        assert!(!Value::Int(0).truth());
        assert!(!Value::Float(0.0).truth());
        assert!(!Value::list(vec![]).truth());
        assert!(!Value::map(Map::new()).truth());
        assert!(Value::json_printed(Value::list(vec![Value::Null])).truth());
    }

    #[test]
    fn map_insert_replaces_in_place() {
        let m = Map::new().with("a", 1i64).with("b", 2i64).with("a", 3i64);
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(m.get("a"), Some(&Value::Int(3)));
    }
}
