//! Which instruction-set level the kernels may use, detected once per process.
//!
//! `level()` is the level every kernel table is built for: the best the CPU offers, capped by the
//! environment variable `ROLLAMA_CPU` (`scalar`, `avx2`, `avxvnni`, `avx512`, `amx`, `neon`,
//! `dotprod`) so that a user can rule out a misbehaving path and tests can exercise the slower
//! ones. Detection happens at run time, never through `target-cpu=native`, so one binary runs on
//! every x86-64 and arm64 CPU.
//!
//! Each architecture has a ladder of levels, lowest first. A level is usable when the CPU has its
//! own features; the ladder is not strictly nested (an Ice Lake has AVX-512 VNNI but not the VEX
//! AVX-VNNI of Alder Lake), so `supported_levels` checks every rung and kernels installed for a
//! level check the exact features they need (see `x86_64::upgrade`). Comparisons between levels
//! (`<`, `>=`) are meaningful within one architecture's ladder only.

use std::sync::OnceLock;

/// An instruction-set level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Portable Rust; the reference implementation of every kernel.
    Scalar,
    /// x86-64 with AVX2, FMA and F16C (Haswell, Zen 1 and later).
    Avx2,
    /// AVX2 plus the VEX-encoded AVX-VNNI (Alder Lake, Zen 5): 256-bit u8 x i8 dot products.
    AvxVnni,
    /// AVX2 plus AVX-512 F/BW/VL/VNNI (Ice Lake, Sapphire Rapids, Zen 4 and later).
    Avx512,
    /// AVX-512 plus AMX-INT8 tiles, with the tile state granted by the kernel (Sapphire Rapids).
    Amx,
    /// arm64 Advanced SIMD (every arm64 CPU).
    Neon,
    /// NEON plus the SDOT/UDOT dot-product instructions (Cortex-A76, Apple M1 and later).
    NeonDot,
}

/// Every level, in the order of the ladders; the index is the level's table slot.
pub const ALL_LEVELS: [Level; 7] =
    [Level::Scalar, Level::Avx2, Level::AvxVnni, Level::Avx512, Level::Amx, Level::Neon, Level::NeonDot];

impl Level {
    /// Lower-case name, as `ROLLAMA_CPU` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::AvxVnni => "avxvnni",
            Level::Avx512 => "avx512",
            Level::Amx => "amx",
            Level::Neon => "neon",
            Level::NeonDot => "dotprod",
        }
    }

    /// Parses a `ROLLAMA_CPU` value (case-insensitive).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" | "none" | "generic" => Some(Level::Scalar),
            "avx2" => Some(Level::Avx2),
            "avxvnni" | "avx-vnni" => Some(Level::AvxVnni),
            "avx512" | "avx-512" => Some(Level::Avx512),
            "amx" => Some(Level::Amx),
            "neon" => Some(Level::Neon),
            "dotprod" | "neon-dotprod" => Some(Level::NeonDot),
            _ => None,
        }
    }

    /// The levels of this build's architecture, lowest first.
    pub fn ladder() -> &'static [Level] {
        #[cfg(target_arch = "x86_64")]
        return &[Level::Scalar, Level::Avx2, Level::AvxVnni, Level::Avx512, Level::Amx];
        #[cfg(target_arch = "aarch64")]
        return &[Level::Scalar, Level::Neon, Level::NeonDot];
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        return &[Level::Scalar];
    }

    /// This level's slot in [`ALL_LEVELS`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Whether this CPU (and OS) can run the kernels of `level`.
pub fn supports(level: Level) -> bool {
    static SUPPORTED: OnceLock<[bool; ALL_LEVELS.len()]> = OnceLock::new();
    SUPPORTED.get_or_init(|| ALL_LEVELS.map(detect_one))[level.index()]
}

/// The best level this CPU supports, ignoring `ROLLAMA_CPU`.
pub fn detected() -> Level {
    Level::ladder().iter().copied().rfind(|&l| supports(l)).unwrap_or(Level::Scalar)
}

/// The highest supported level of this architecture's ladder at or below `cap`; a cap from
/// another architecture (say `neon` on x86-64) caps nothing.
pub fn capped(cap: Level) -> Level {
    if !Level::ladder().contains(&cap) {
        return detected();
    }
    Level::ladder().iter().copied().rfind(|&l| l <= cap && supports(l)).unwrap_or(Level::Scalar)
}

/// The level kernels run at: `detected()` capped by `ROLLAMA_CPU`. Read once and cached.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var("ROLLAMA_CPU").ok().and_then(|v| Level::parse(&v)) {
        Some(cap) => capped(cap),
        None => detected(),
    })
}

/// Every level this CPU can run, lowest first; tests compare each against `Level::Scalar`.
pub fn supported_levels() -> Vec<Level> {
    Level::ladder().iter().copied().filter(|&l| supports(l)).collect()
}

#[cfg(target_arch = "x86_64")]
fn detect_one(level: Level) -> bool {
    let avx2 =
        || is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
    let avx512 = || {
        avx2()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni")
    };
    match level {
        Level::Scalar => true,
        Level::Avx2 => avx2(),
        Level::AvxVnni => avx2() && is_x86_feature_detected!("avxvnni"),
        Level::Avx512 => avx512(),
        Level::Amx => avx512() && amx::usable(),
        Level::Neon | Level::NeonDot => false,
    }
}

#[cfg(target_arch = "aarch64")]
fn detect_one(level: Level) -> bool {
    match level {
        Level::Scalar => true,
        Level::Neon => std::arch::is_aarch64_feature_detected!("neon"),
        Level::NeonDot => {
            std::arch::is_aarch64_feature_detected!("neon") && std::arch::is_aarch64_feature_detected!("dotprod")
        }
        _ => false,
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect_one(level: Level) -> bool {
    level == Level::Scalar
}

/// AMX detection: CPUID says whether the tiles exist, and Linux must grant this process the
/// (large) tile register state before the first tile instruction, or that instruction faults.
#[cfg(target_arch = "x86_64")]
pub(crate) mod amx {
    /// CPUID leaf 7 EDX: AMX-BF16 is bit 22, AMX-TILE bit 24, AMX-INT8 bit 25.
    // CPUID became a safe intrinsic in Rust 1.87; the `unsafe` keeps older compilers happy.
    #[allow(unused_unsafe)]
    fn cpuid_has_amx_int8() -> bool {
        // SAFETY: CPUID is available on every x86-64 CPU; leaf 7 exists when leaf 0 says so.
        let max_leaf = unsafe { std::arch::x86_64::__cpuid(0) }.eax;
        if max_leaf < 7 {
            return false;
        }
        // SAFETY: as above.
        let edx = unsafe { std::arch::x86_64::__cpuid_count(7, 0) }.edx;
        edx & (1 << 24) != 0 && edx & (1 << 25) != 0
    }

    /// Asks Linux for the AMX tile data state (XFEATURE 18) for this process.
    #[cfg(target_os = "linux")]
    fn request_tile_state() -> bool {
        const SYS_ARCH_PRCTL: i64 = 158;
        const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
        const XFEATURE_XTILEDATA: i64 = 18;
        let ret: i64;
        // SAFETY: arch_prctl(ARCH_REQ_XCOMP_PERM, 18) only changes this process's permitted
        // XSAVE features; it reads and writes no memory. The syscall clobbers rcx and r11.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret == 0
    }

    #[cfg(not(target_os = "linux"))]
    fn request_tile_state() -> bool {
        false
    }

    /// Whether tile instructions may run in this process (asks the OS once).
    pub(crate) fn usable() -> bool {
        cpuid_has_amx_int8() && request_tile_state()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_order() {
        assert_eq!(Level::parse("AVX2"), Some(Level::Avx2));
        assert_eq!(Level::parse(" scalar "), Some(Level::Scalar));
        assert_eq!(Level::parse("neon"), Some(Level::Neon));
        assert_eq!(Level::parse("sse9"), None);
        for l in ALL_LEVELS {
            assert_eq!(Level::parse(l.name()), Some(l));
        }
        assert!(Level::Scalar < Level::Avx2 && Level::Avx2 < Level::Avx512 && Level::Avx512 < Level::Amx);
        assert!(level() <= detected());
        assert_eq!(supported_levels()[0], Level::Scalar);
        assert_eq!(capped(Level::Scalar), Level::Scalar);
        assert!(capped(detected()) == detected());
        println!(
            "cpu levels: supported {:?}, detected {}, in use {}",
            supported_levels(),
            detected().name(),
            level().name()
        );
    }
}
