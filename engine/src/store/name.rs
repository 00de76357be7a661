//! Model names: `[scheme://][host/][namespace/]model[:tag]`, parsed the way Ollama parses them.
//!
//! A [`Name`] is always complete and valid: [`Name::parse`] fills the missing parts with
//! Ollama's defaults (`registry.ollama.ai`, `library`, `latest`) and checks every part against
//! the character rules (each part starts with `[A-Za-z0-9_]`; host `[\w.:-]{1,350}`, namespace
//! `[\w-]{1,80}`, model and tag `[\w.-]{1,80}`). Those rules are also what keeps manifest paths
//! inside the store: no part can be empty, `.` or `..`, or hold `/`, `\` or NUL, so
//! [`Name::manifest_rel_path`] is always four plain components.
//!
//! Names keep the case they were written in (the manifest path uses it, as Ollama's does), but
//! two names that differ only in case are the same model: see [`Name::eq_fold`].

use std::fmt;
use std::path::PathBuf;

use super::digest::truncate_for_message;
use super::StoreError;

pub const DEFAULT_HOST: &str = "registry.ollama.ai";
pub const DEFAULT_NAMESPACE: &str = "library";
pub const DEFAULT_TAG: &str = "latest";
pub const DEFAULT_SCHEME: &str = "https";

const MAX_HOST_LEN: usize = 350;
const MAX_PART_LEN: usize = 80;
/// The longest string that could be a valid name: `https://`, the parts and separators.
const MAX_NAME_LEN: usize = 8 + MAX_HOST_LEN + 3 * MAX_PART_LEN + 3;

/// Which part of a name a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartKind {
    Host,
    Namespace,
    Model,
    Tag,
}

impl PartKind {
    fn label(self) -> &'static str {
        match self {
            PartKind::Host => "host",
            PartKind::Namespace => "namespace",
            PartKind::Model => "model",
            PartKind::Tag => "tag",
        }
    }

    fn max_len(self) -> usize {
        match self {
            PartKind::Host => MAX_HOST_LEN,
            _ => MAX_PART_LEN,
        }
    }

    /// The characters allowed after the first one (which must be `[A-Za-z0-9_]`).
    fn allows(self, c: u8) -> bool {
        c.is_ascii_alphanumeric()
            || c == b'_'
            || c == b'-'
            || (c == b'.' && self != PartKind::Namespace)
            || (c == b':' && self == PartKind::Host)
    }
}

/// Checks one part against its rule; the reason names the part.
pub fn validate_part(kind: PartKind, s: &str) -> Result<(), String> {
    let label = kind.label();
    if s.is_empty() {
        return Err(format!("{label} is empty"));
    }
    if s.len() > kind.max_len() {
        return Err(format!("{label} is longer than {} characters", kind.max_len()));
    }
    let bytes = s.as_bytes();
    if !(bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_') {
        return Err(format!("{label} must start with a letter, digit or underscore"));
    }
    if let Some(&c) = bytes[1..].iter().find(|&&c| !kind.allows(c)) {
        let shown = if c.is_ascii_graphic() { format!("{:?}", c as char) } else { format!("byte 0x{c:02x}") };
        return Err(format!("{label} contains {shown}"));
    }
    Ok(())
}

/// A complete, valid model name.
#[derive(Clone)]
pub struct Name {
    scheme: &'static str,
    host: String,
    namespace: String,
    model: String,
    tag: String,
}

impl Name {
    /// Parses a user-written name, filling in the defaults. The tag is split off only when the
    /// last `:` comes after the last `/` (so `host:5000/ns/model` has a port, not a tag).
    pub fn parse(s: &str) -> Result<Name, StoreError> {
        let invalid = |reason: String| StoreError::InvalidName { name: truncate_for_message(s), reason };
        if s.len() > MAX_NAME_LEN {
            return Err(invalid(format!("longer than {MAX_NAME_LEN} characters")));
        }
        let mut rest = s;
        let mut tag = DEFAULT_TAG;
        if s.rfind(':') > s.rfind('/') {
            let (before, after) = s.rsplit_once(':').unwrap_or((s, ""));
            rest = before;
            tag = after;
            if tag.is_empty() {
                return Err(invalid("tag is empty".into()));
            }
        }
        let (mut host, mut namespace, model) = (DEFAULT_HOST, DEFAULT_NAMESPACE, rest);
        let mut scheme = DEFAULT_SCHEME;
        let model = match model.rsplit_once('/') {
            None => model,
            Some((before, model)) => {
                match before.rsplit_once('/') {
                    None => namespace = before,
                    Some((h, ns)) => {
                        namespace = ns;
                        host = h;
                        if let Some((sch, h)) = host.split_once("://") {
                            scheme = match sch {
                                "https" => "https",
                                "http" => "http",
                                _ => return Err(invalid(format!("unsupported scheme {sch:?}"))),
                            };
                            host = h;
                        }
                    }
                }
                model
            }
        };
        Name::from_parts_with_scheme(scheme, host, namespace, model, tag).map_err(|e| match e {
            StoreError::InvalidName { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// Builds a name from its four parts, each checked (used when reading the manifests tree).
    pub fn from_parts(host: &str, namespace: &str, model: &str, tag: &str) -> Result<Name, StoreError> {
        Name::from_parts_with_scheme(DEFAULT_SCHEME, host, namespace, model, tag)
    }

    fn from_parts_with_scheme(
        scheme: &'static str,
        host: &str,
        namespace: &str,
        model: &str,
        tag: &str,
    ) -> Result<Name, StoreError> {
        for (kind, part) in
            [(PartKind::Host, host), (PartKind::Namespace, namespace), (PartKind::Model, model), (PartKind::Tag, tag)]
        {
            validate_part(kind, part).map_err(|reason| StoreError::InvalidName {
                name: truncate_for_message(&format!("{host}/{namespace}/{model}:{tag}")),
                reason,
            })?;
        }
        Ok(Name {
            scheme,
            host: host.to_string(),
            namespace: namespace.to_string(),
            model: model.to_string(),
            tag: tag.to_string(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    pub fn model(&self) -> &str {
        &self.model
    }
    pub fn tag(&self) -> &str {
        &self.tag
    }
    /// `https` unless the name was written with `http://` (which pulls must refuse unless
    /// `insecure` is set). The scheme is not part of the model's identity.
    pub fn scheme(&self) -> &str {
        self.scheme
    }

    /// The shortest form, as `ollama list` shows it: `model:tag` on the default host and
    /// namespace, `namespace/model:tag` on the default host, otherwise the full form.
    pub fn display_shortest(&self) -> String {
        if !self.host.eq_ignore_ascii_case(DEFAULT_HOST) {
            self.to_string()
        } else if !self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            format!("{}/{}:{}", self.namespace, self.model, self.tag)
        } else {
            format!("{}:{}", self.model, self.tag)
        }
    }

    /// Whether two names are the same model: every part equal ignoring ASCII case.
    pub fn eq_fold(&self, other: &Name) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
            && self.namespace.eq_ignore_ascii_case(&other.namespace)
            && self.model.eq_ignore_ascii_case(&other.model)
            && self.tag.eq_ignore_ascii_case(&other.tag)
    }

    /// `<host>/<namespace>/<model>/<tag>`, relative to the store's `manifests/` directory.
    pub fn manifest_rel_path(&self) -> PathBuf {
        [&self.host, &self.namespace, &self.model, &self.tag].iter().collect()
    }
}

/// The full form, `host/namespace/model:tag` (without the scheme).
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}:{}", self.host, self.namespace, self.model, self.tag)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

/// Exact (case-sensitive) equality of the four parts; the scheme is ignored because it does
/// not change which model is meant. Use [`Name::eq_fold`] to match as Ollama does.
impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.host == other.host
            && self.namespace == other.namespace
            && self.model == other.model
            && self.tag == other.tag
    }
}
impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.host, &self.namespace, &self.model, &self.tag).hash(state);
    }
}

impl std::str::FromStr for Name {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Name, StoreError> {
        Name::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, String, String, String) {
        let n = Name::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        (n.host().into(), n.namespace().into(), n.model().into(), n.tag().into())
    }

    fn t(h: &str, n: &str, m: &str, tag: &str) -> (String, String, String, String) {
        (h.into(), n.into(), m.into(), tag.into())
    }

    #[test]
    fn valid_names_and_their_defaults() {
        let r = DEFAULT_HOST;
        let cases = [
            ("llama3", t(r, "library", "llama3", "latest")),
            ("llama3.2:1b", t(r, "library", "llama3.2", "1b")),
            ("user/model", t(r, "user", "model", "latest")),
            ("user/model:v1.0-q4_K_M", t(r, "user", "model", "v1.0-q4_K_M")),
            ("example.com/ns/m:t", t("example.com", "ns", "m", "t")),
            ("localhost:5000/ns/m", t("localhost:5000", "ns", "m", "latest")),
            ("localhost:5000/ns/m:tag", t("localhost:5000", "ns", "m", "tag")),
            ("https://example.com/ns/m:t", t("example.com", "ns", "m", "t")),
            ("http://127.0.0.1:8080/a/b:c", t("127.0.0.1:8080", "a", "b", "c")),
            ("_/_/_:_", t("_", "_", "_", "_")),
            ("SmolLM2:135M", t(r, "library", "SmolLM2", "135M")),
            ("a", t(r, "library", "a", "latest")),
            ("m..x", t(r, "library", "m..x", "latest")),
        ];
        for (s, want) in cases {
            assert_eq!(parts(s), want, "{s}");
        }
        assert_eq!(Name::parse("http://h/n/m").unwrap().scheme(), "http");
        assert_eq!(Name::parse("n/m").unwrap().scheme(), "https");
    }

    #[test]
    fn invalid_names_are_rejected() {
        let long = "a".repeat(81);
        let cases = [
            "".to_string(),
            ":".into(),
            "model:".into(),
            ":tag".into(),
            "/model".into(),
            "ns/".into(),
            "//m".into(),
            "h//m".into(),
            "a/b/c/d".into(),
            "-model".into(),
            ".model".into(),
            "model:-tag".into(),
            "model:.tag".into(),
            "my model".into(),
            "model@sha256:abc".into(),
            "name.space/model".into(),
            "ns/mo:del/x".into(),
            "ftp://h/n/m".into(),
            "://h/n/m".into(),
            "mödel".into(),
            "model:tag:extra".into(),
            long.clone(),
            format!("m:{long}"),
            format!("{long}/m"),
            format!("{}/n/m", "h".repeat(351)),
            "x".repeat(10_000),
        ];
        for s in &cases {
            assert!(matches!(Name::parse(s), Err(StoreError::InvalidName { .. })), "{s:?} should be invalid");
        }
        // The limits themselves are fine.
        let ok80 = "a".repeat(80);
        Name::parse(&format!("{}/{ok80}/{ok80}:{ok80}", "h".repeat(350))).unwrap();
    }

    #[test]
    fn path_traversal_is_impossible() {
        let attacks = [
            "..",
            "../model",
            "../../etc/passwd",
            "ns/..",
            "../ns/model",
            "host/../model",
            "model:..",
            "model:../../x",
            "..:latest",
            ".../ns/m",
            "a\\..\\..\\b",
            "model\\..",
            "mo\0del",
            "model:t\0",
            "/etc/passwd",
            "/abs/ns/model",
            "C:\\Windows\\x",
            "h/n/m:..%2f",
            "%2e%2e/x",
            "model\n",
            " model",
            "./model",
        ];
        for s in attacks {
            match Name::parse(s) {
                Err(StoreError::InvalidName { .. }) => {}
                Ok(n) => panic!("{s:?} parsed as {n:?}"),
                Err(e) => panic!("{s:?}: unexpected error {e}"),
            }
        }
        // Every valid name's path is exactly four normal components.
        for s in ["a", "h.x:1/n/m:t", "m..x:t..y", "_/_/_"] {
            let p = Name::parse(s).unwrap().manifest_rel_path();
            let comps: Vec<_> = p.components().collect();
            assert_eq!(comps.len(), 4, "{s}");
            assert!(comps.iter().all(|c| matches!(c, std::path::Component::Normal(_))), "{s}");
        }
    }

    #[test]
    fn display_forms() {
        let cases = [
            ("llama3", "llama3:latest", "registry.ollama.ai/library/llama3:latest"),
            ("llama3:8b", "llama3:8b", "registry.ollama.ai/library/llama3:8b"),
            ("user/m", "user/m:latest", "registry.ollama.ai/user/m:latest"),
            ("h.io/library/m:t", "h.io/library/m:t", "h.io/library/m:t"),
            ("REGISTRY.ollama.ai/Library/M", "M:latest", "REGISTRY.ollama.ai/Library/M:latest"),
        ];
        for (s, short, full) in cases {
            let n = Name::parse(s).unwrap();
            assert_eq!(n.display_shortest(), short, "{s}");
            assert_eq!(n.to_string(), full, "{s}");
            // Both forms parse back to the same name.
            assert!(Name::parse(&n.display_shortest()).unwrap().eq_fold(&n));
            assert_eq!(Name::parse(&n.to_string()).unwrap(), n);
        }
    }

    #[test]
    fn matching_ignores_case_but_paths_keep_it() {
        let a = Name::parse("Llama3:Latest").unwrap();
        let b = Name::parse("registry.ollama.ai/library/llama3").unwrap();
        assert!(a.eq_fold(&b));
        assert_ne!(a, b);
        assert!(!a.eq_fold(&Name::parse("llama3:8b").unwrap()));
        assert_eq!(a.manifest_rel_path(), PathBuf::from("registry.ollama.ai/library/Llama3/Latest"));
        assert_eq!(Name::parse("http://x/y/z").unwrap(), Name::parse("x/y/z").unwrap());
    }

    #[test]
    fn from_parts_checks_each_part() {
        Name::from_parts("registry.ollama.ai", "library", "m", "latest").unwrap();
        for bad in [("", "n", "m", "t"), ("h", "n.x", "m", "t"), ("h", "n", "..", "t"), ("h", "n", "m", "a/b")] {
            assert!(Name::from_parts(bad.0, bad.1, bad.2, bad.3).is_err(), "{bad:?}");
        }
    }
}
