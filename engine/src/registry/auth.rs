//! Answers a registry's `WWW-Authenticate` challenge. `Bearer realm=...,service=...,scope=...`
//! fetches a token from the realm, which must be on the registry's own host, with the user's
//! Basic credentials if any; `Basic` sends the credentials themselves. Either way credentials
//! only ever go to the registry's host. Ollama's ed25519-signed requests are not implemented.

use std::collections::HashMap;
use std::io::Read;

use super::client::host_of;
use super::{Credentials, RegistryError};

/// Most bytes of a token answer.
const MAX_TOKEN_ANSWER: u64 = 64 << 10;

/// The `Authorization` header value that answers `challenge` from the registry at `host`.
pub(crate) fn answer(
    agent: &ureq::Agent,
    host: &str,
    challenge: &str,
    credentials: Option<&Credentials>,
) -> Result<String, RegistryError> {
    let (scheme, params) = parse_challenge(challenge)
        .ok_or_else(|| RegistryError::Unauthorized(format!("unsupported challenge {challenge:?}")))?;
    let basic = credentials.map(|c| format!("Basic {}", base64(format!("{}:{}", c.user, c.password).as_bytes())));
    if scheme.eq_ignore_ascii_case("basic") {
        return basic.ok_or_else(|| {
            RegistryError::Unauthorized(
                "the registry wants credentials: set ROLLAMA_REGISTRY_USER and ROLLAMA_REGISTRY_PASSWORD".into(),
            )
        });
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(RegistryError::Unauthorized(format!("unsupported challenge scheme {scheme:?}")));
    }
    let realm = params.get("realm").ok_or_else(|| RegistryError::Unauthorized("challenge without a realm".into()))?;
    // Since Ollama 0.14.3 the realm must be on the registry's host: a registry must not be
    // able to send the user's credentials (or signature) anywhere else.
    if !host_of(realm).is_some_and(|h| h.eq_ignore_ascii_case(host)) {
        return Err(RegistryError::Unauthorized(format!("token realm {realm:?} is not on the registry's host {host}")));
    }
    let mut url = realm.clone();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for key in ["service", "scope"] {
        if let Some(v) = params.get(key) {
            url.push(sep);
            url.push_str(key);
            url.push('=');
            url.push_str(&percent_encode(v));
            sep = '&';
        }
    }
    let mut req = agent.get(&url);
    if let Some(b) = &basic {
        req = req.set("Authorization", b);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) => {
            return Err(RegistryError::Unauthorized(match credentials {
                None => format!(
                    "the token realm answered {code} to anonymous access; set ROLLAMA_REGISTRY_USER and ROLLAMA_REGISTRY_PASSWORD"
                ),
                Some(_) => format!("the token realm refused the credentials in ROLLAMA_REGISTRY_USER ({code})"),
            }));
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(RegistryError::Network { what: "fetching a registry token".into(), reason: t.to_string() })
        }
    };
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(MAX_TOKEN_ANSWER)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Network { what: "fetching a registry token".into(), reason: e.to_string() })?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| RegistryError::Unauthorized(format!("the token realm's answer is not JSON: {e}")))?;
    let token = v
        .get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| RegistryError::Unauthorized("the token realm's answer has no token".into()))?;
    Ok(format!("Bearer {token}"))
}

/// `Scheme k="v",k2="v2"` into the scheme and its parameters.
fn parse_challenge(h: &str) -> Option<(String, HashMap<String, String>)> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key, value.to_string());
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some((scheme.to_string(), params))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="http://h:5000/token",service="registry",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "http://h:5000/token");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!((s.as_str(), p["realm"].as_str()), ("Basic", "Registry Realm"));
        assert!(parse_challenge("").is_none());
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }

    #[test]
    fn realm_on_another_host_is_refused() {
        let agent = ureq::AgentBuilder::new().build();
        let e = answer(&agent, "127.0.0.1:5000", r#"Bearer realm="http://evil.example/token""#, None).unwrap_err();
        assert!(e.to_string().contains("not on the registry's host"), "{e}");
    }
}
