//! Content digests: `sha256:<64 hex>` as manifests and the API spell them, `sha256-<64 hex>` as
//! blob file names spell them.
//!
//! A [`Digest`] can only be built by [`Digest::parse`] (which checks the exact form Ollama's
//! `^sha256[:-][0-9a-fA-F]{64}$` accepts) or from a hash we computed, so every blob path made
//! from one is a single plain file name: the validation that closed CVE-2024-37032, where a
//! manifest digest such as `../../etc/x` became a path.

use std::fmt;

use sha2::{Digest as _, Sha256};

use super::StoreError;

/// A validated sha256 digest, kept as 64 lowercase hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<hex>` or `sha256-<hex>` (64 hex digits, either case). Anything else,
    /// including surrounding whitespace, is [`StoreError::InvalidDigest`].
    pub fn parse(s: &str) -> Result<Digest, StoreError> {
        let invalid = || StoreError::InvalidDigest(truncate_for_message(s));
        let rest = s.strip_prefix("sha256").ok_or_else(invalid)?;
        let hex = rest.strip_prefix(':').or_else(|| rest.strip_prefix('-')).ok_or_else(invalid)?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        // Lowercase: the files on disk are named from lowercase hex, so an uppercase spelling
        // of the same digest must find the same blob.
        Ok(Digest { hex: hex.to_ascii_lowercase() })
    }

    /// The digest of a finished hash.
    pub(crate) fn from_hasher(hasher: Sha256) -> Digest {
        Digest { hex: to_hex(&hasher.finalize()) }
    }

    /// The digest of some bytes.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        let mut h = Sha256::new();
        h.update(bytes);
        Digest::from_hasher(h)
    }

    /// The 64 lowercase hex characters.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The blob file name, `sha256-<hex>`.
    pub fn file_name(&self) -> String {
        format!("sha256-{}", self.hex)
    }

    /// The 12-hex-digit short id `ollama list` shows.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

/// Displays as `sha256:<hex>`, the form manifests and API responses use.
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest(sha256:{})", self.hex)
    }
}

impl std::str::FromStr for Digest {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Digest, StoreError> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Error messages quote the rejected input; a hostile one could be megabytes long.
pub(crate) fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 100;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "29fdb92e57cf0827ded04ae6461b5931d01fa595843f55d36f5b275a52087dd2";

    #[test]
    fn both_separators_and_either_case_are_accepted() {
        let a = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        let b = Digest::parse(&format!("sha256-{HEX}")).unwrap();
        let c = Digest::parse(&format!("sha256:{}", HEX.to_uppercase())).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_string(), format!("sha256:{HEX}"));
        assert_eq!(a.file_name(), format!("sha256-{HEX}"));
        assert_eq!(a.short(), "29fdb92e57cf");
    }

    #[test]
    fn malformed_digests_are_rejected() {
        let bad = [
            String::new(),
            "sha256:".into(),
            HEX.into(),
            format!("sha256:{}", &HEX[..63]),
            format!("sha256:{HEX}0"),
            format!("sha256:{}g", &HEX[..63]),
            format!("sha512:{HEX}"),
            format!("SHA256:{HEX}"),
            format!("sha256_{HEX}"),
            format!(" sha256:{HEX}"),
            format!("sha256:{HEX}\n"),
            format!("sha256:{HEX}\0"),
            // The Probllama payloads: a digest that is really a path.
            "sha256:../../../../etc/passwd".into(),
            format!("../sha256-{HEX}"),
            format!("sha256-{HEX}/../../x"),
            format!("sha256:{}/..", &HEX[..61]),
            "sha256:é".repeat(40),
        ];
        for s in &bad {
            assert!(matches!(Digest::parse(s), Err(StoreError::InvalidDigest(_))), "{s:?}");
        }
    }

    #[test]
    fn hashing_matches_known_values() {
        assert_eq!(Digest::of_bytes(b"").hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(Digest::of_bytes(b"abc").hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn serde_round_trip_validates() {
        let d = Digest::parse(&format!("sha256-{HEX}")).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"sha256:{HEX}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:../x\"").is_err());
    }

    #[test]
    fn long_inputs_are_truncated_in_messages() {
        let e = Digest::parse(&"x".repeat(10_000)).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
    }
}
