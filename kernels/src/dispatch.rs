//! Kernel tables: for each weight type, the activation format ggml pairs it with, the quantizer
//! that produces that format, the weight-row-times-activation-row dot product, and optionally a
//! four-activation-row variant and a tiled many-weight-rows-times-many-activation-rows variant
//! that batched matmuls use.
//!
//! One table per CPU level is built on first use: it starts from the scalar kernels and each
//! architecture module overwrites the entries it has faster versions of. Entries are `unsafe fn`
//! pointers because the SIMD ones may only run on CPUs with the matching features; a table for
//! level L only ever holds kernels that need L or less, and callers only use tables for levels
//! `cpu::supports` confirmed, which is what makes calling through them sound.

use std::sync::OnceLock;

use crate::cpu::{Level, ALL_LEVELS};
use crate::quant::{self, float};
use crate::GgmlType;

/// Converts one f32 row to the activation format (`out` is exactly that row's bytes).
pub(crate) type QuantizeFn = unsafe fn(&[f32], &mut [u8]);
/// Dot product of one weight row with one activation row (both exactly a row's bytes).
pub(crate) type DotFn = unsafe fn(&[u8], &[u8]) -> f32;
/// Dot products of one weight row with four activation rows, each bit-identical to `DotFn` on
/// that row (so a batch computes exactly what single rows would).
pub(crate) type Dot4Fn = unsafe fn(&[u8], [&[u8]; 4]) -> [f32; 4];
/// A register-tiled product of `rows` consecutive weight rows (`w`) with the first `n - n % 4` of
/// `n` activation rows (`acts`, `n` rows of equal length): `out(t, r, v)` receives activation
/// row `t`'s results for weight rows `r..r + v.len()`, each bit-identical to `DotFn` on that
/// pair.
pub(crate) type GemmFn =
    unsafe fn(w: &[u8], rows: usize, acts: &[u8], n: usize, out: &mut dyn FnMut(usize, usize, &[f32]));
/// Dot products of four weight rows with one activation row, each bit-identical to `DotFn`.
pub(crate) type Rows4Fn = unsafe fn([&[u8]; 4], &[u8]) -> [f32; 4];
/// Dot product of two f32 slices.
pub(crate) type F32DotFn = unsafe fn(&[f32], &[f32]) -> f32;

/// The kernels of one weight type at one level.
#[derive(Clone, Copy)]
pub(crate) struct TypeKernels {
    /// The activation format (`vec_dot_type` in ggml).
    pub act: GgmlType,
    pub quantize: QuantizeFn,
    pub dot: DotFn,
    /// A faster path for four activation rows at once, where one exists.
    pub dot4: Option<Dot4Fn>,
    /// A faster path for many weight rows times four activation rows, where one exists.
    pub gemm: Option<GemmFn>,
    /// A faster path for four weight rows times one activation row (decoding), each result
    /// bit-identical to `dot` on that row.
    pub rows4: Option<Rows4Fn>,
}

/// Kernels indexed by ggml type id, plus the f32 dot.
pub(crate) struct Table {
    pub types: [Option<TypeKernels>; 40],
    pub dot_f32: F32DotFn,
    pub axpy: unsafe fn(f32, &[f32], &mut [f32]),
}

impl Table {
    pub(crate) fn get(&self, ty: GgmlType) -> Option<TypeKernels> {
        self.types.get(ty.id() as usize).copied().flatten()
    }

    pub(crate) fn set(&mut self, ty: GgmlType, k: TypeKernels) {
        self.types[ty.id() as usize] = Some(k);
    }

    /// Replaces the dot product of `ty` (which must already have an entry).
    pub(crate) fn set_dot(&mut self, ty: GgmlType, dot: DotFn) {
        if let Some(k) = &mut self.types[ty.id() as usize] {
            k.dot = dot;
        }
    }

    /// Installs a four-row dot product for `ty` (which must already have an entry).
    pub(crate) fn set_dot4(&mut self, ty: GgmlType, dot4: Dot4Fn) {
        if let Some(k) = &mut self.types[ty.id() as usize] {
            k.dot4 = Some(dot4);
        }
    }

    /// Installs a four-weight-row product for `ty` (which must already have an entry).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn set_rows4(&mut self, ty: GgmlType, rows4: Rows4Fn) {
        if let Some(k) = &mut self.types[ty.id() as usize] {
            k.rows4 = Some(rows4);
        }
    }

    /// Installs a tiled product for `ty` (which must already have an entry).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn set_gemm(&mut self, ty: GgmlType, gemm: GemmFn) {
        if let Some(k) = &mut self.types[ty.id() as usize] {
            k.gemm = Some(gemm);
        }
    }

    /// Replaces the quantizer of every type whose activations are `act`.
    pub(crate) fn set_quantize(&mut self, act: GgmlType, quantize: QuantizeFn) {
        for k in self.types.iter_mut().flatten() {
            if k.act == act {
                k.quantize = quantize;
            }
        }
    }
}

/// The table for `level`; a level the CPU lacks gets the best supported one below it.
pub(crate) fn table(level: Level) -> &'static Table {
    static TABLES: [OnceLock<Table>; ALL_LEVELS.len()] = [const { OnceLock::new() }; ALL_LEVELS.len()];
    let level = crate::cpu::capped(level);
    TABLES[level.index()].get_or_init(|| build(level))
}

/// The table for `cpu::level()`.
pub(crate) fn current() -> &'static Table {
    table(crate::cpu::level())
}

/// Byte-slice adapters around typed scalar kernels, so that every table entry has one signature.
macro_rules! bytes_dot {
    ($name:ident, $f:path, $w:ty, $a:ty) => {
        fn $name(w: &[u8], a: &[u8]) -> f32 {
            $f(bytemuck::cast_slice::<u8, $w>(w), bytemuck::cast_slice::<u8, $a>(a))
        }
    };
}
macro_rules! bytes_quantize {
    ($name:ident, $f:path, $a:ty) => {
        fn $name(x: &[f32], out: &mut [u8]) {
            $f(x, bytemuck::cast_slice_mut::<u8, $a>(out))
        }
    };
}

use quant::{
    BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1,
    BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1,
};

bytes_quantize!(quantize_q8_0, quant::q8_0::quantize, BlockQ8_0);
bytes_quantize!(quantize_q8_1, quant::q8_1::quantize, BlockQ8_1);
bytes_quantize!(quantize_q8_k, quant::q8_k::quantize, BlockQ8K);
bytes_dot!(dot_q4_0, quant::q4_0::vec_dot, BlockQ4_0, BlockQ8_0);
bytes_dot!(dot_q4_1, quant::q4_1::vec_dot, BlockQ4_1, BlockQ8_1);
bytes_dot!(dot_q5_0, quant::q5_0::vec_dot, BlockQ5_0, BlockQ8_0);
bytes_dot!(dot_q5_1, quant::q5_1::vec_dot, BlockQ5_1, BlockQ8_1);
bytes_dot!(dot_q8_0, quant::q8_0::vec_dot, BlockQ8_0, BlockQ8_0);
bytes_dot!(dot_iq4_nl, quant::iq4_nl::vec_dot, BlockIq4Nl, BlockQ8_0);
bytes_dot!(dot_q2_k, quant::q2_k::vec_dot, BlockQ2K, BlockQ8K);
bytes_dot!(dot_q3_k, quant::q3_k::vec_dot, BlockQ3K, BlockQ8K);
bytes_dot!(dot_q4_k, quant::q4_k::vec_dot, BlockQ4K, BlockQ8K);
bytes_dot!(dot_q5_k, quant::q5_k::vec_dot, BlockQ5K, BlockQ8K);
bytes_dot!(dot_q6_k, quant::q6_k::vec_dot, BlockQ6K, BlockQ8K);
bytes_dot!(dot_iq4_xs, quant::iq4_xs::vec_dot, BlockIq4Xs, BlockQ8K);

fn axpy_scalar(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// The scalar kernels of `ty`, if it has any.
fn scalar(ty: GgmlType) -> Option<TypeKernels> {
    use GgmlType::*;
    let k = |act, quantize: QuantizeFn, dot: DotFn| {
        Some(TypeKernels { act, quantize, dot, dot4: None, gemm: None, rows4: None })
    };
    match ty {
        F32 => k(F32, float::quantize_f32, float::vec_dot_f32),
        F16 => k(F16, float::quantize_f16, float::vec_dot_f16),
        BF16 => k(BF16, float::quantize_bf16, float::vec_dot_bf16),
        Q4_0 => k(Q8_0, quantize_q8_0, dot_q4_0),
        Q4_1 => k(Q8_1, quantize_q8_1, dot_q4_1),
        Q5_0 => k(Q8_0, quantize_q8_0, dot_q5_0),
        Q5_1 => k(Q8_1, quantize_q8_1, dot_q5_1),
        Q8_0 => k(Q8_0, quantize_q8_0, dot_q8_0),
        IQ4_NL => k(Q8_0, quantize_q8_0, dot_iq4_nl),
        Q2_K => k(Q8_K, quantize_q8_k, dot_q2_k),
        Q3_K => k(Q8_K, quantize_q8_k, dot_q3_k),
        Q4_K => k(Q8_K, quantize_q8_k, dot_q4_k),
        Q5_K => k(Q8_K, quantize_q8_k, dot_q5_k),
        Q6_K => k(Q8_K, quantize_q8_k, dot_q6_k),
        IQ4_XS => k(Q8_K, quantize_q8_k, dot_iq4_xs),
        _ => None,
    }
}

fn build(level: Level) -> Table {
    let mut t = Table { types: [None; 40], dot_f32: float::dot_f32, axpy: axpy_scalar };
    for ty in GgmlType::ALL {
        if let Some(k) = scalar(ty) {
            t.set(ty, k);
        }
    }
    #[cfg(target_arch = "x86_64")]
    crate::x86_64::upgrade(&mut t, level);
    #[cfg(target_arch = "aarch64")]
    crate::aarch64::upgrade(&mut t, level);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = level;
    t
}
