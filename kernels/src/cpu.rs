//! Which instruction-set level the kernels may use, detected once per process.
//!
//! `level()` is the level every kernel table is built for: the best the CPU offers, capped by the
//! environment variable `ROLLAMA_CPU` (`scalar`, `avx2` or `avx512`) so that a user can rule out a
//! misbehaving path and tests can exercise the slower ones. Detection happens at run time, never
//! through `target-cpu=native`, so one binary runs on every x86-64 CPU.

use std::sync::OnceLock;

/// An instruction-set level. Each level implies the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Portable Rust; the reference implementation of every kernel.
    Scalar,
    /// x86-64 with AVX2, FMA and F16C (Haswell, Zen 1 and later).
    Avx2,
    /// AVX2 plus AVX-512 F/BW/VL/VNNI (Ice Lake, Zen 4 and later).
    Avx512,
}

impl Level {
    /// Lower-case name, as `ROLLAMA_CPU` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Parses a `ROLLAMA_CPU` value (case-insensitive).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" | "none" | "generic" => Some(Level::Scalar),
            "avx2" => Some(Level::Avx2),
            "avx512" | "avx-512" => Some(Level::Avx512),
            _ => None,
        }
    }
}

/// The best level this CPU supports, ignoring `ROLLAMA_CPU`.
pub fn detected() -> Level {
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

/// The level kernels run at: `detected()` capped by `ROLLAMA_CPU`. Read once and cached.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = std::env::var("ROLLAMA_CPU").ok().and_then(|v| Level::parse(&v));
        match cap {
            Some(cap) => cap.min(detected()),
            None => detected(),
        }
    })
}

/// Every level this CPU can run, lowest first; tests compare each against `Level::Scalar`.
pub fn supported_levels() -> Vec<Level> {
    [Level::Scalar, Level::Avx2, Level::Avx512].into_iter().filter(|&l| l <= detected()).collect()
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
    if !avx2 {
        return Level::Scalar;
    }
    let avx512 = is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni");
    if avx512 {
        Level::Avx512
    } else {
        Level::Avx2
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Scalar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        assert_eq!(Level::parse("AVX2"), Some(Level::Avx2));
        assert_eq!(Level::parse(" scalar "), Some(Level::Scalar));
        assert_eq!(Level::parse("neon"), None);
        assert!(Level::Scalar < Level::Avx2 && Level::Avx2 < Level::Avx512);
        assert!(level() <= detected());
        assert_eq!(supported_levels()[0], Level::Scalar);
        println!("cpu level: detected {}, in use {}", detected().name(), level().name());
    }
}
