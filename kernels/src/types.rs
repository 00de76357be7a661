//! The ggml tensor element types that GGUF files can name, with their block geometry.
//!
//! `GgmlType` carries the numeric id used in GGUF tensor infos. Every type knows how many elements
//! make a block and how many bytes a block takes, including types this crate has no kernels for,
//! so that a loader can validate tensor sizes before it decides whether it can run a model.

use std::fmt;

/// Elements per super-block of the k-quants and the i-quants (`QK_K` in ggml).
pub const QK_K: usize = 256;

/// A ggml tensor element type, numbered as in `enum ggml_type`.
///
/// Ids that ggml has retired (4, 5: Q4_2/Q4_3; 31..=33: Q4_0_4_4 and friends; 36..=38: the
/// interleaved IQ4_NL layouts) have no variant, because current GGUF files cannot contain them.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// Per-type facts: name, elements per block, bytes per block. Sizes follow `ggml-common.h`.
struct Traits {
    name: &'static str,
    block_len: usize,
    block_bytes: usize,
}

const fn t(name: &'static str, block_len: usize, block_bytes: usize) -> Traits {
    Traits { name, block_len, block_bytes }
}

impl GgmlType {
    /// Every type, in id order.
    pub const ALL: [GgmlType; 32] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::Q8_K,
        GgmlType::IQ2_XXS,
        GgmlType::IQ2_XS,
        GgmlType::IQ3_XXS,
        GgmlType::IQ1_S,
        GgmlType::IQ4_NL,
        GgmlType::IQ3_S,
        GgmlType::IQ2_S,
        GgmlType::IQ4_XS,
        GgmlType::I8,
        GgmlType::I16,
        GgmlType::I32,
        GgmlType::I64,
        GgmlType::F64,
        GgmlType::IQ1_M,
        GgmlType::BF16,
        GgmlType::TQ1_0,
        GgmlType::TQ2_0,
        GgmlType::MXFP4,
    ];

    /// The type with ggml id `id`, or `None` for unknown and retired ids.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        GgmlType::ALL.iter().copied().find(|t| t.id() == id)
    }

    /// The ggml id, as stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        self as u32
    }

    fn traits(self) -> Traits {
        use GgmlType::*;
        // The byte counts spell out the block structs of ggml-common.h, field by field, so a
        // reader can check them against the C definitions.
        match self {
            F32 => t("F32", 1, 4),
            F16 => t("F16", 1, 2),
            BF16 => t("BF16", 1, 2),
            F64 => t("F64", 1, 8),
            I8 => t("I8", 1, 1),
            I16 => t("I16", 1, 2),
            I32 => t("I32", 1, 4),
            I64 => t("I64", 1, 8),
            Q4_0 => t("Q4_0", 32, 2 + 16),
            Q4_1 => t("Q4_1", 32, 2 + 2 + 16),
            Q5_0 => t("Q5_0", 32, 2 + 4 + 16),
            Q5_1 => t("Q5_1", 32, 2 + 2 + 4 + 16),
            Q8_0 => t("Q8_0", 32, 2 + 32),
            Q8_1 => t("Q8_1", 32, 2 + 2 + 32),
            // scales[16], qs[64], d, dmin
            Q2_K => t("Q2_K", QK_K, 16 + 64 + 2 + 2),
            // hmask[32], qs[64], scales[12], d
            Q3_K => t("Q3_K", QK_K, 32 + 64 + 12 + 2),
            // d, dmin, scales[12], qs[128]
            Q4_K => t("Q4_K", QK_K, 2 + 2 + 12 + 128),
            // d, dmin, scales[12], qh[32], qs[128]
            Q5_K => t("Q5_K", QK_K, 2 + 2 + 12 + 32 + 128),
            // ql[128], qh[64], scales[16], d
            Q6_K => t("Q6_K", QK_K, 128 + 64 + 16 + 2),
            // f32 d, qs[256], i16 bsums[16]
            Q8_K => t("Q8_K", QK_K, 4 + 256 + 32),
            // d, u16 qs[32]
            IQ2_XXS => t("IQ2_XXS", QK_K, 2 + 64),
            // d, u16 qs[32], scales[8]
            IQ2_XS => t("IQ2_XS", QK_K, 2 + 64 + 8),
            // d, qs[96]
            IQ3_XXS => t("IQ3_XXS", QK_K, 2 + 96),
            // d, qs[32], u16 qh[8]
            IQ1_S => t("IQ1_S", QK_K, 2 + 32 + 16),
            // d, qs[16]
            IQ4_NL => t("IQ4_NL", 32, 2 + 16),
            // d, qs[64], qh[8], signs[32], scales[4]
            IQ3_S => t("IQ3_S", QK_K, 2 + 64 + 8 + 32 + 4),
            // d, qs[64], qh[8], scales[8]
            IQ2_S => t("IQ2_S", QK_K, 2 + 64 + 8 + 8),
            // d, scales_h, scales_l[4], qs[128]
            IQ4_XS => t("IQ4_XS", QK_K, 2 + 2 + 4 + 128),
            // qs[32], qh[16], scales[8] (no d: it lives in the scales)
            IQ1_M => t("IQ1_M", QK_K, 32 + 16 + 8),
            // qs[48], qh[4], d
            TQ1_0 => t("TQ1_0", QK_K, 48 + 4 + 2),
            // qs[64], d
            TQ2_0 => t("TQ2_0", QK_K, 64 + 2),
            // e (E8M0), qs[16]
            MXFP4 => t("MXFP4", 32, 1 + 16),
        }
    }

    /// The name ggml's tools print, e.g. `"Q4_K"`.
    pub fn name(self) -> &'static str {
        self.traits().name
    }

    /// Elements per block: 1 for plain numbers, 32 for the legacy quants, 256 for k-quants.
    pub fn block_len(self) -> usize {
        self.traits().block_len
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        self.traits().block_bytes
    }

    /// Bytes taken by a row of `n` elements; `None` if `n` is not a whole number of blocks or
    /// the size overflows.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        let tr = self.traits();
        if !n.is_multiple_of(tr.block_len) {
            return None;
        }
        (n / tr.block_len).checked_mul(tr.block_bytes)
    }

    /// Whether `dequantize_row` and `matmul` support this type.
    pub fn has_kernels(self) -> bool {
        use GgmlType::*;
        matches!(
            self,
            F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_NL | IQ4_XS
        )
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_retired_ids_are_unknown() {
        for ty in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
        }
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 40, 1000, u32::MAX] {
            assert_eq!(GgmlType::from_id(id), None, "id {id}");
        }
    }

    #[test]
    fn block_sizes_match_ggml() {
        // Bits per weight as ggml documents them, which pins block_bytes / block_len.
        let expect = [
            (GgmlType::Q4_0, 18),
            (GgmlType::Q4_1, 20),
            (GgmlType::Q5_0, 22),
            (GgmlType::Q5_1, 24),
            (GgmlType::Q8_0, 34),
            (GgmlType::Q8_1, 36),
            (GgmlType::Q2_K, 84),
            (GgmlType::Q3_K, 110),
            (GgmlType::Q4_K, 144),
            (GgmlType::Q5_K, 176),
            (GgmlType::Q6_K, 210),
            (GgmlType::Q8_K, 292),
            (GgmlType::IQ2_XXS, 66),
            (GgmlType::IQ2_XS, 74),
            (GgmlType::IQ3_XXS, 98),
            (GgmlType::IQ1_S, 50),
            (GgmlType::IQ4_NL, 18),
            (GgmlType::IQ3_S, 110),
            (GgmlType::IQ2_S, 82),
            (GgmlType::IQ4_XS, 136),
            (GgmlType::IQ1_M, 56),
            (GgmlType::TQ1_0, 54),
            (GgmlType::TQ2_0, 66),
            (GgmlType::MXFP4, 17),
        ];
        for (ty, bytes) in expect {
            assert_eq!(ty.block_bytes(), bytes, "{ty}");
        }
        assert_eq!(GgmlType::Q4_K.row_bytes(512), Some(288));
        assert_eq!(GgmlType::Q4_K.row_bytes(100), None);
        assert_eq!(GgmlType::F32.row_bytes(usize::MAX), None);
        assert_eq!(GgmlType::F16.row_bytes(7), Some(14));
    }
}
