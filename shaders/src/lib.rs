//! The WGSL compute shaders of the GPU backend, embedded in the binary.
//!
//! Each kernel is one [`Shader`]: its source is the concatenation of a few `.wgsl` parts
//! (WGSL has no includes), for instance the byte readers of `quant.wgsl`, a weight type's
//! decoding (`mm_q4_k.wgsl`) and the matmul body (`matmul.wgsl`). Kernels whose rounding
//! follows the CPU backend's start with one of two arith parts ([`Arith`]): f64 steps that
//! round as the CPU does, on adapters with f64, or plain f32 elsewhere. Every kernel has the same
//! binding shape: binding 0 is a uniform params struct (bound with a dynamic offset, so that
//! one buffer serves every dispatch of a command buffer), bindings 1.. are storage buffers,
//! read-only or read-write as [`Shader::storage`] says. Each params struct has a `#[repr(C)]`
//! mirror here with its padding spelled out. `cargo test` parses and validates every kernel
//! with naga and checks the declared bindings against the source, with no GPU needed.

use bytemuck::{Pod, Zeroable};

macro_rules! wgsl {
    ($($name:ident = $file:literal;)*) => {
        $(pub const $name: &str = include_str!(concat!("../wgsl/", $file));)*
    };
}

wgsl! {
    ARITH_F32 = "arith_f32.wgsl";
    ARITH_F64 = "arith_f64.wgsl";
    SILU = "silu.wgsl";
    MATMUL_PARAMS = "matmul_params.wgsl";
    MATMUL_LANES = "matmul_lanes.wgsl";
    LANES_Q8 = "lanes_q8.wgsl";
    MM_Q6_K_LANES = "mm_q6_k_lanes.wgsl";
    MATMUL_SERIAL = "matmul_serial.wgsl";
    MM_Q4_K_SERIAL = "mm_q4_k_serial.wgsl";
    QUANT = "quant.wgsl";
    GET_ROWS = "get_rows.wgsl";
    RMS_NORM = "rms_norm.wgsl";
    QUANTIZE_Q8 = "quantize_q8.wgsl";
    QUANTIZE_Q8K = "quantize_q8k.wgsl";
    MATMUL = "matmul.wgsl";
    MM_F32 = "mm_f32.wgsl";
    MM_F16 = "mm_f16.wgsl";
    MM_Q4_0_LANES = "mm_q4_0_lanes.wgsl";
    MM_Q4_1_LANES = "mm_q4_1_lanes.wgsl";
    MM_Q5_0_LANES = "mm_q5_0_lanes.wgsl";
    MM_Q8_0_LANES = "mm_q8_0_lanes.wgsl";
    ROPE = "rope.wgsl";
    KV_STORE = "kv_store.wgsl";
    ATTENTION = "attention.wgsl";
    F16 = "f16.wgsl";
    ADD = "add.wgsl";
    ADD_BIAS = "add_bias.wgsl";
    SCALE = "scale.wgsl";
    SOFTCAP = "softcap.wgsl";
    SWIGLU = "swiglu.wgsl";
    GEGLU = "geglu.wgsl";
    GEMV = "gemv.wgsl";
    ATTENTION_F32 = "attention_f32.wgsl";
    READ_SUM = "read_sum.wgsl";
    NORM_BODY = "norm_body.wgsl";
    ADD_RMS_NORM = "add_rms_norm.wgsl";
    KV_ROW_STORE = "kv_row_store.wgsl";
    ATTENTION_PARAMS = "attention_params.wgsl";
    Q8_CHUNKS = "q8_chunks.wgsl";
    NORM_QUANT = "norm_quant.wgsl";
    SWIGLU_QUANT = "swiglu_quant.wgsl";
    GV_COMMON = "gv_common.wgsl";
    GV_Q4_0 = "gv_q4_0.wgsl";
    GV_Q4_1 = "gv_q4_1.wgsl";
    GV_Q5_0 = "gv_q5_0.wgsl";
    GV_Q8_0 = "gv_q8_0.wgsl";
    GV_Q4_K = "gv_q4_k.wgsl";
    GV_Q6_K = "gv_q6_k.wgsl";
    ARGMAX = "argmax.wgsl";
    GEMV_SHARED = "gemv_shared.wgsl";
    GEMV_SUBGROUP = "gemv_subgroup.wgsl";
}

/// How a kernel uses one of its storage bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

use Access::{Read as R, ReadWrite as RW};

/// The arithmetic a kernel's `fmaf`, `divf`, `sqrtf`, `expf_libm` and wide sums use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// Plain f32 with the driver's fma, division and exp (`arith_f32.wgsl`).
    F32,
    /// f64 steps that round as the CPU backend (ggml's x86 build) does (`arith_f64.wgsl`);
    /// needs the adapter's f64 support (wgpu's `SHADER_F64`).
    F64,
}

/// One compute kernel: entry point `main`, its source parts, its storage bindings (1..).
#[derive(Debug, Clone, Copy)]
pub struct Shader {
    pub name: &'static str,
    pub parts: &'static [&'static str],
    pub storage: &'static [Access],
    /// Whether the source starts with an arith part.
    pub arith: bool,
    /// Whether it takes subgroup operations (wgpu's `Features::SUBGROUP`).
    pub subgroups: bool,
}

impl Shader {
    /// The whole source: the arith part if the kernel takes one, then the parts in order.
    pub fn source(&self, arith: Arith) -> String {
        let first = match (self.arith, arith) {
            (false, _) => "",
            (true, Arith::F32) => ARITH_F32,
            (true, Arith::F64) => ARITH_F64,
        };
        let mut src = first.to_string();
        src.push_str(&self.parts.concat());
        src
    }
}

const fn s(name: &'static str, parts: &'static [&'static str], storage: &'static [Access]) -> Shader {
    Shader { name, parts, storage, arith: false, subgroups: false }
}

/// A kernel that starts with an arith part.
const fn sa(name: &'static str, parts: &'static [&'static str], storage: &'static [Access]) -> Shader {
    Shader { name, parts, storage, arith: true, subgroups: false }
}

pub const GET_ROWS_K: Shader = s("get_rows", &[F16, QUANT, GET_ROWS], &[R, R, RW]);
pub const RMS_NORM_K: Shader = sa("rms_norm", &[F16, Q8_CHUNKS, NORM_QUANT, RMS_NORM, NORM_BODY], &[R, R, RW, RW, RW]);
pub const ADD_RMS_NORM_K: Shader =
    sa("add_rms_norm", &[F16, Q8_CHUNKS, NORM_QUANT, ADD_RMS_NORM, NORM_BODY], &[RW, R, R, RW, RW, RW]);
pub const QUANTIZE_Q8_K: Shader = sa("quantize_q8", &[F16, Q8_CHUNKS, QUANTIZE_Q8], &[R, RW]);
pub const QUANTIZE_Q8K_K: Shader = sa("quantize_q8k", &[F16, Q8_CHUNKS, QUANTIZE_Q8K], &[R, RW]);
pub const ROPE_K: Shader = sa("rope", &[ROPE], &[R, RW, RW]);
pub const KV_STORE_K: Shader = s("kv_store", &[F16, KV_STORE], &[R, R, RW, RW]);
pub const ATTENTION_K: Shader =
    sa("attention", &[F16, ATTENTION_PARAMS, KV_ROW_STORE, ATTENTION], &[R, R, R, RW, RW, RW]);
/// The attention kernel of [`Arith::F32`]: positions in parallel (see its source).
pub const ATTENTION_F32_K: Shader =
    s("attention_f32", &[F16, ATTENTION_PARAMS, KV_ROW_STORE, ATTENTION_F32], &[R, R, R, RW, RW, RW]);
/// The benchmarks' read-bandwidth kernel.
pub const READ_SUM_K: Shader = s("read_sum", &[READ_SUM], &[R, RW]);
pub const ADD_K: Shader = s("add", &[ADD], &[R, RW]);
pub const ADD_BIAS_K: Shader = s("add_bias", &[ADD_BIAS], &[R, RW]);
pub const SCALE_K: Shader = s("scale", &[SCALE], &[RW]);
pub const SOFTCAP_K: Shader = s("softcap", &[SOFTCAP], &[RW]);
pub const SWIGLU_K: Shader = sa("swiglu", &[SILU, SWIGLU], &[R, R, RW]);
/// SwiGLU that also writes its result quantized (decode steps).
pub const SWIGLU_QUANT_K: Shader = sa("swiglu_quant", &[F16, SILU, Q8_CHUNKS, SWIGLU_QUANT], &[R, R, RW, RW, RW]);
pub const GEGLU_K: Shader = s("geglu", &[F16, GEGLU], &[R, R, R, RW]);
pub const ARGMAX_K: Shader = s("argmax", &[ARGMAX], &[R, RW]);

/// The activation format a matmul kernel reads (ggml's `vec_dot_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActFormat {
    /// The f32 activations themselves.
    F32,
    /// Q8_0/Q8_1 blocks of 32, 10 words each (see `quantize_q8.wgsl`).
    Q8,
    /// Q8_K blocks of 256, 65 words each (see `quantize_q8k.wgsl`).
    Q8K,
}

impl ActFormat {
    /// Words of one activation row of `cols` values.
    pub fn row_words(self, cols: usize) -> usize {
        match self {
            ActFormat::F32 => cols,
            ActFormat::Q8 => cols / 32 * 10,
            ActFormat::Q8K => cols / 256 * 65,
        }
    }
}

/// A matmul kernel for one weight type.
#[derive(Debug, Clone, Copy)]
pub struct MatmulShader {
    pub shader: Shader,
    pub act: ActFormat,
    /// Activation rows one workgroup multiplies (the tile height, `TN` in the body).
    pub tile: usize,
    /// Weight rows one workgroup computes (`RPW` in the body).
    pub rows_per_group: usize,
    /// Elements per unit of the body's loop (`MatmulParams::units` = cols / unit, rounded up).
    pub unit: usize,
}

/// A kernel on `matmul.wgsl` (float weights): 16 invocations share a row's units of 32.
const fn mm(name: &'static str, parts: &'static [&'static str], act: ActFormat) -> MatmulShader {
    MatmulShader { shader: s(name, parts, &[R, R, RW]), act, tile: 8, rows_per_group: 4, unit: 32 }
}

/// A kernel on `matmul_lanes.wgsl`: 8 invocations are the 8 lanes of ggml's accumulator; a
/// unit is one block of `unit` elements.
const fn mm_lanes(name: &'static str, part: &'static [&'static str], act: ActFormat, unit: usize) -> MatmulShader {
    MatmulShader { shader: sa(name, part, &[R, R, RW]), act, tile: 8, rows_per_group: 8, unit }
}

/// Products of float weights by ggml type id (`GgmlType as u32`), with either arith.
pub const MATMULS: &[(u32, MatmulShader)] = &[
    (0, mm("matmul_f32", &[F16, QUANT, MM_F32, MATMUL_PARAMS, MATMUL], ActFormat::F32)),
    (1, mm("matmul_f16", &[F16, QUANT, MM_F16, MATMUL_PARAMS, MATMUL], ActFormat::F32)),
];

/// Products of quantized weights by ggml type id for [`Arith::F64`]: the CPU's summation
/// orders. Q4_0/Q4_1/Q5_0/Q8_0 and Q6_K take ggml's eight lanes (`matmul_lanes.wgsl`), Q4_K
/// its single f32 chain per row (`matmul_serial.wgsl`, one invocation per weight row and
/// activation row). On the H200 the 7B decoded at 18 t/s with these against 124 with
/// [`GEMVS`].
pub const MATMULS_F64: &[(u32, MatmulShader)] = &[
    (
        2,
        mm_lanes(
            "matmul_q4_0_lanes",
            &[F16, QUANT, MM_Q4_0_LANES, LANES_Q8, MATMUL_PARAMS, MATMUL_LANES],
            ActFormat::Q8,
            32,
        ),
    ),
    (
        3,
        mm_lanes(
            "matmul_q4_1_lanes",
            &[F16, QUANT, MM_Q4_1_LANES, LANES_Q8, MATMUL_PARAMS, MATMUL_LANES],
            ActFormat::Q8,
            32,
        ),
    ),
    (
        6,
        mm_lanes(
            "matmul_q5_0_lanes",
            &[F16, QUANT, MM_Q5_0_LANES, LANES_Q8, MATMUL_PARAMS, MATMUL_LANES],
            ActFormat::Q8,
            32,
        ),
    ),
    (
        8,
        mm_lanes(
            "matmul_q8_0_lanes",
            &[F16, QUANT, MM_Q8_0_LANES, LANES_Q8, MATMUL_PARAMS, MATMUL_LANES],
            ActFormat::Q8,
            32,
        ),
    ),
    (
        12,
        MatmulShader {
            shader: sa("matmul_q4_k_serial", &[F16, QUANT, MM_Q4_K_SERIAL, MATMUL_PARAMS, MATMUL_SERIAL], &[R, R, RW]),
            act: ActFormat::Q8K,
            tile: 1,
            rows_per_group: 64,
            unit: 256,
        },
    ),
    (14, mm_lanes("matmul_q6_k_lanes", &[F16, QUANT, MM_Q6_K_LANES, MATMUL_PARAMS, MATMUL_LANES], ActFormat::Q8K, 256)),
];

/// A kernel on `gemv.wgsl`: a team of 32 invocations per weight row, four rows per workgroup,
/// pieces of 32 weights, tiles of eight activation rows; its teams sum through shared memory,
/// or by subgroup shuffles (`subgroups`).
const fn gv(name: &'static str, parts: &'static [&'static str], act: ActFormat, subgroups: bool) -> MatmulShader {
    let shader = Shader { name, parts, storage: &[R, R, RW], arith: false, subgroups };
    MatmulShader { shader, act, tile: 8, rows_per_group: 4, unit: 32 }
}

/// The two tables of `gemv.wgsl` kernels from one list of (type id, name, type part,
/// activation format): one ending in the shared-memory reduction, one in the subgroup one.
macro_rules! gemv_tables {
    ($shared:ident, $subgroup:ident: $(($ty:literal, $name:literal, $part:ident, $act:ident)),* $(,)?) => {
        /// Products of quantized weights by ggml type id for [`Arith::F32`], decoding and
        /// prompts alike: they sum in their own order. The same types as [`MATMULS_F64`],
        /// each reading the same activation format.
        pub const $shared: &[(u32, MatmulShader)] = &[$(
            ($ty, gv($name, &[F16, QUANT, GV_COMMON, $part, MATMUL_PARAMS, GEMV, GEMV_SHARED], ActFormat::$act, false)),
        )*];
        /// [`GEMVS`] for adapters with subgroups.
        pub const $subgroup: &[(u32, MatmulShader)] = &[$(
            ($ty, gv(concat!($name, "_sg"), &[F16, QUANT, GV_COMMON, $part, MATMUL_PARAMS, GEMV, GEMV_SUBGROUP], ActFormat::$act, true)),
        )*];
    };
}

gemv_tables! {
    GEMVS, GEMVS_SUBGROUP:
    (2, "gemv_q4_0", GV_Q4_0, Q8),
    (3, "gemv_q4_1", GV_Q4_1, Q8),
    (6, "gemv_q5_0", GV_Q5_0, Q8),
    (8, "gemv_q8_0", GV_Q8_0, Q8),
    (12, "gemv_q4_k", GV_Q4_K, Q8K),
    (14, "gemv_q6_k", GV_Q6_K, Q8K),
}

/// What an adapter offers that picks among kernel variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Variants {
    /// Subgroup operations (wgpu's `Features::SUBGROUP`).
    pub subgroups: bool,
}

/// The matmul kernel of ggml type `ty` with `arith` on an adapter offering `v`, if there is one.
pub fn matmul_for(ty: u32, arith: Arith, v: Variants) -> Option<MatmulShader> {
    let quantized = match (arith, v.subgroups) {
        (Arith::F64, _) => MATMULS_F64,
        (Arith::F32, false) => GEMVS,
        (Arith::F32, true) => GEMVS_SUBGROUP,
    };
    MATMULS.iter().chain(quantized).find(|(t, _)| *t == ty).map(|(_, m)| *m)
}

/// The ggml type ids with a matmul kernel (with either arith), which are also those that
/// `get_rows.wgsl` dequantizes.
pub fn matmul_types() -> impl Iterator<Item = u32> {
    MATMULS.iter().chain(GEMVS).map(|(t, _)| *t)
}

/// Whether `get_rows.wgsl` dequantizes ggml type `ty` (see [`matmul_types`]).
pub fn get_rows_supports(ty: u32) -> bool {
    matmul_types().any(|t| t == ty)
}

/// Every kernel, for building pipelines up front and for the validation test.
pub fn all() -> Vec<Shader> {
    let mut v = vec![
        GET_ROWS_K,
        RMS_NORM_K,
        ADD_RMS_NORM_K,
        QUANTIZE_Q8_K,
        QUANTIZE_Q8K_K,
        ROPE_K,
        KV_STORE_K,
        ATTENTION_K,
        ATTENTION_F32_K,
        READ_SUM_K,
        ADD_K,
        ADD_BIAS_K,
        SCALE_K,
        SOFTCAP_K,
        SWIGLU_K,
        SWIGLU_QUANT_K,
        GEGLU_K,
        ARGMAX_K,
    ];
    v.extend(MATMULS.iter().chain(MATMULS_F64).chain(GEMVS).chain(GEMVS_SUBGROUP).map(|(_, m)| m.shader));
    v
}

// ---------------------------------------------------------------------------------------
// Params mirrors: each matches the `Params` struct of its `.wgsl`, field for field.
// ---------------------------------------------------------------------------------------

/// `get_rows.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GetRowsParams {
    pub cols: u32,
    pub n: u32,
    pub row_bytes: u32,
    pub ty: u32,
    pub out0: u32,
    /// The table part's first row and rows (ids outside are another part's).
    pub row0: u32,
    pub part_rows: u32,
    pub _pad: u32,
}

/// `argmax.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ArgmaxParams {
    pub width: u32,
    pub rows: u32,
    pub _pad: [u32; 2],
}

/// `read_sum.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ReadSumParams {
    pub len: u32,
    pub magic: u32,
    pub _pad: [u32; 2],
}

/// `swiglu_quant.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SwigluQuantParams {
    pub len: u32,
    /// Bit 0: also write Q8 blocks, bit 1: Q8_K blocks.
    pub quant: u32,
    pub _pad: [u32; 2],
}

/// `rms_norm.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct RmsNormParams {
    pub width: u32,
    pub eps: f32,
    pub rows: u32,
    /// Bit 0: also write the output's Q8 blocks, bit 1: its Q8_K blocks.
    pub quant: u32,
}

/// `quantize_q8.wgsl` and `quantize_q8k.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct QuantizeParams {
    pub cols: u32,
    pub n: u32,
    pub _pad: [u32; 2],
}

/// `matmul_params.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MatmulParams {
    pub rows: u32,
    pub cols: u32,
    pub n: u32,
    pub row_bytes: u32,
    /// Units of 32 columns (rounded up).
    pub units: u32,
    /// Words per activation row.
    pub a_row: u32,
    /// Leading activation rows that take the single-row order (`matmul_serial.wgsl`).
    pub single: u32,
    /// The weight part's first row, and the output's row stride (the whole matrix's rows):
    /// out[t * out_stride + row0 + r] for row r of the part.
    pub row0: u32,
    pub out_stride: u32,
    pub _pad: [u32; 3],
}

/// `rope.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct RopeParams {
    pub n_heads: u32,
    pub head_dim: u32,
    pub n_dims: u32,
    pub rows: u32,
    pub neox: u32,
    pub row0: u32,
    /// Heads per row of the second buffer (the keys); 0 for none.
    pub n_heads_k: u32,
    pub _pad: u32,
}

/// `kv_store.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct KvStoreParams {
    pub t0: u32,
    pub rows: u32,
    pub pos0: u32,
    pub slots: u32,
    pub k_words: u32,
    pub v_words: u32,
    pub _pad: [u32; 2],
}

/// `attention.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AttentionParams {
    pub n_head: u32,
    pub head_dim: u32,
    pub group: u32,
    pub pos0: u32,
    pub k_width: u32,
    pub v_width: u32,
    pub slots: u32,
    pub window: u32,
    pub scale: f32,
    pub softcap: f32,
    /// 1: also store the row's key and value in the cache (a decode step).
    pub store: u32,
    pub _pad: u32,
}

/// The elementwise kernels: add, add_bias, scale, softcap, swiglu, geglu.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct EltParams {
    pub len: u32,
    pub s: f32,
    pub width: u32,
    pub _pad: u32,
}

/// The largest head the attention kernel handles (64 invocations, 4 dimensions each).
pub const ATTENTION_MAX_HEAD_DIM: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sh: &Shader, arith: Arith) -> naga::Module {
        let src = sh.source(arith);
        naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{} {arith:?}: {}", sh.name, e.emit_to_string(&src)))
    }

    #[test]
    fn every_shader_parses_and_validates() {
        for sh in all() {
            for arith in [Arith::F32, Arith::F64] {
                let module = parse(&sh, arith);
                // The f16 packing builtins (quantizeToF16, pack2x16float) need this capability,
                // which wgpu grants on every native backend (Vulkan, Metal, DX12); f64 is
                // granted where the adapter has it, and only the F64 arith part uses it.
                let mut caps = naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32;
                if arith == Arith::F64 {
                    caps |= naga::valid::Capabilities::FLOAT64;
                }
                // Subgroups only for the variants that declare them (wgpu grants them where
                // the adapter has them).
                if sh.subgroups {
                    caps |= naga::valid::Capabilities::SUBGROUP;
                }
                let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
                if sh.subgroups {
                    v.subgroup_stages(naga::valid::ShaderStages::COMPUTE);
                    v.subgroup_operations(naga::valid::SubgroupOperationSet::all());
                }
                if let Err(e) = v.validate(&module) {
                    panic!("{} {arith:?}: {}", sh.name, e.emit_to_string(&sh.source(arith)));
                }
                assert!(module.entry_points.iter().any(|e| e.name == "main"), "{}: no main", sh.name);
            }
        }
    }

    #[test]
    fn declared_bindings_match_the_source() {
        for sh in all() {
            let module = parse(&sh, Arith::F64);
            let mut seen = vec![None; sh.storage.len() + 1];
            for (_, g) in module.global_variables.iter() {
                let Some(b) = &g.binding else { continue };
                assert_eq!(b.group, 0, "{}", sh.name);
                let slot = seen.get_mut(b.binding as usize).unwrap_or_else(|| panic!("{}: extra binding", sh.name));
                *slot = Some(g.space);
            }
            assert_eq!(seen[0], Some(naga::AddressSpace::Uniform), "{}: binding 0", sh.name);
            for (i, acc) in sh.storage.iter().enumerate() {
                let want = match acc {
                    Access::Read => naga::StorageAccess::LOAD,
                    Access::ReadWrite => naga::StorageAccess::LOAD | naga::StorageAccess::STORE,
                };
                assert_eq!(
                    seen[i + 1],
                    Some(naga::AddressSpace::Storage { access: want }),
                    "{}: binding {}",
                    sh.name,
                    i + 1
                );
            }
        }
    }

    #[test]
    fn params_are_multiples_of_16_bytes() {
        use std::mem::size_of;
        for (name, size) in [
            ("get_rows", size_of::<GetRowsParams>()),
            ("rms_norm", size_of::<RmsNormParams>()),
            ("quantize", size_of::<QuantizeParams>()),
            ("matmul", size_of::<MatmulParams>()),
            ("rope", size_of::<RopeParams>()),
            ("kv_store", size_of::<KvStoreParams>()),
            ("attention", size_of::<AttentionParams>()),
            ("elementwise", size_of::<EltParams>()),
            ("read_sum", size_of::<ReadSumParams>()),
            ("argmax", size_of::<ArgmaxParams>()),
            ("swiglu_quant", size_of::<SwigluQuantParams>()),
        ] {
            assert_eq!(size % 16, 0, "{name}");
        }
    }
}
