//! The GPU backend: WGSL compute shaders (crate `rollama-shaders`) run through wgpu on Vulkan.
//!
//! Weights are uploaded once as their raw GGUF block bytes and dequantized in the shaders;
//! activations ([`GpuBuf`]) and the f16 KV cache ([`GpuKv`]) live in device memory. Ops only
//! record dispatches (see [`device::Recorder`]); `read` submits them and waits, so a decode
//! step is one submission. Matrix products quantize the activations on the device to the
//! format ggml pairs with the weight type (Q8_0, Q8_1, Q8_K) and take exact integer dot
//! products per block, as the CPU backend does, so that the two agree to rounding.
//!
//! Vulkan is loaded at run time: a machine without it gets [`GpuError::NoAdapter`], and
//! `ROLLAMA_GPU=0` gives [`GpuError::Disabled`].
//!
//! `profile.rs` times submissions, copies and single matmul kernels for the benchmarks
//! (`rollama-benches gpu`).

mod bandwidth;
mod device;
mod profile;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rollama_kernels::GgmlType;
use rollama_shaders as sh;
use wgpu::util::DeviceExt;

pub use self::device::GpuError;
use self::device::{block_on, ensure, groups_2d, next_id, Bind, Kernel, Prequant, Recorder, Scratch, DATA_WINDOW};
pub use self::profile::{KernelTime, Submission, Timing};
use super::{Attention, Backend, KvShape, Rope, RopeKind, WeightSource};
use crate::model::ModelError;
pub use rollama_shaders::Arith;

/// The most rows a norm also writes quantized (a decode step's, or a few of them).
const NORM_QUANT_ROWS: usize = 8;
/// The most values SwiGLU also writes quantized.
const SWIGLU_QUANT_LEN: usize = NORM_QUANT_ROWS << 16;
/// Flags of the quantized copies an op writes (`Recorder::wanted`, the kernels' `quant`).
const Q8: u32 = 1;
const Q8K: u32 = 2;

/// An activation buffer: `len` f32s in device memory.
pub struct GpuBuf {
    buf: wgpu::Buffer,
    len: usize,
    id: u64,
}

/// A weight in device memory: a matrix as its GGUF bytes, a vector as f32. A matrix larger
/// than the adapter's largest storage binding (lavapipe's is 128 MiB, less than a 150k-token
/// vocabulary's embeddings) is held in parts of whole rows, each its own buffer, and every op
/// on it runs once per part.
pub struct GpuWeight {
    parts: Vec<WeightPart>,
    ty: GgmlType,
    rows: usize,
    cols: usize,
    /// Its bytes in the backend's count of weight memory, given back when it is dropped.
    _claim: Claim,
}

/// Bytes counted against [`GpuBackend`]'s weight memory while held.
struct Claim {
    bytes: u64,
    used: Arc<AtomicU64>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Rows `row0..row0 + rows` of a weight.
struct WeightPart {
    buf: wgpu::Buffer,
    id: u64,
    row0: usize,
    rows: usize,
}

struct GpuKvLayer {
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    ids: (u64, u64),
    k_width: usize,
    v_width: usize,
    slots: usize,
}

/// The KV cache: per layer, keys and values as f16 pairs packed in u32 words, `[slots, width]`
/// (a ring of `window` slots for a sliding layer, as in the CPU backend).
pub struct GpuKv {
    layers: Vec<GpuKvLayer>,
}

struct Kernels {
    get_rows: Kernel,
    rms_norm: Kernel,
    add_rms_norm: Kernel,
    quantize_q8: Kernel,
    quantize_q8k: Kernel,
    rope: Kernel,
    kv_store: Kernel,
    attention: Kernel,
    add: Kernel,
    add_bias: Kernel,
    scale: Kernel,
    softcap: Kernel,
    swiglu: Kernel,
    swiglu_quant: Kernel,
    geglu: Kernel,
    argmax: Kernel,
    /// The benchmarks' read-bandwidth kernel.
    read_sum: Kernel,
    /// By ggml type id, for the backend's arith.
    matmul: Vec<(u32, sh::MatmulShader, Kernel)>,
}

pub struct GpuBackend {
    adapter: wgpu::AdapterInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    kernels: Arc<Kernels>,
    rec: Mutex<Recorder>,
    /// Bytes of the largest storage binding: the size of a weight part.
    max_binding: AtomicU64,
    arith: sh::Arith,
    /// The kernel variants the adapter's features picked.
    variants: sh::Variants,
    /// ggml's GELU table (see `geglu.wgsl`), uploaded once.
    gelu_table: (wgpu::Buffer, u64),
    /// Bound where a kernel's optional buffer is absent (rope's keys).
    placeholder: (wgpu::Buffer, u64),
    /// Bytes of weights held now, over every model loaded on this backend.
    weights_used: Arc<AtomicU64>,
    /// The most weight bytes to hold (`ROLLAMA_GPU_MEMORY`, [`GpuBackend::set_memory_limit`]);
    /// None: as many as the device takes.
    weights_limit: Mutex<Option<u64>>,
}

impl GpuBackend {
    /// Opens the best Vulkan adapter, a software one (lavapipe) included, and compiles every
    /// kernel.
    pub fn new() -> Result<GpuBackend, GpuError> {
        GpuBackend::open(true)
    }

    /// [`GpuBackend::new`] with the given arithmetic ([`Arith::F64`] fails on an adapter
    /// without f64), whatever the adapter's default.
    pub fn with_arith(arith: Arith) -> Result<GpuBackend, GpuError> {
        GpuBackend::open_with(true, Some(arith))
    }

    /// The backend a server or CLI should use, as `ROLLAMA_GPU` says: `0` none, `1` the best
    /// adapter even a software one, unset (or anything else) a real GPU only (discrete,
    /// integrated or virtual): a CPU-emulated Vulkan device is slower than the CPU backend.
    /// A panic inside the driver stack is reported as [`GpuError::Device`].
    pub fn auto() -> Result<GpuBackend, GpuError> {
        let software = std::env::var("ROLLAMA_GPU").is_ok_and(|v| v.trim() == "1");
        std::panic::catch_unwind(|| GpuBackend::open(software)).unwrap_or_else(|p| {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(GpuError::Device(msg.unwrap_or_else(|| "panicked".into())))
        })
    }

    fn open(software: bool) -> Result<GpuBackend, GpuError> {
        GpuBackend::open_with(software, None)
    }

    /// Opens the backend with the given arithmetic, or (None) the default: [`sh::Arith::F64`],
    /// whose kernels round as the CPU backend's, where the adapter has f64 and either is a
    /// software rasterizer (lavapipe, whose f64 is the host CPU's and costs what f32 does) or
    /// `ROLLAMA_GPU_F64=1` asks for it; else plain f32. A real GPU defaults to f32 because
    /// many run f64 at 1/32 to 1/64 of the f32 rate, which the f64 steps of every matmul block
    /// and attention position would pay; `ROLLAMA_GPU_F64=0` turns f64 off everywhere.
    ///
    /// Kernel variants follow the adapter's features: subgroups (unless
    /// `ROLLAMA_GPU_SUBGROUPS=0`) give the f32 products' shuffle reduction.
    pub(crate) fn open_with(software: bool, arith: Option<sh::Arith>) -> Result<GpuBackend, GpuError> {
        let off = std::env::var("ROLLAMA_GPU_SUBGROUPS").is_ok_and(|v| v.trim() == "0");
        GpuBackend::open_variants(software, arith, !off)
    }

    /// [`GpuBackend::open_with`], subgroup variants only if `subgroups` allows them.
    pub(crate) fn open_variants(
        software: bool,
        arith: Option<sh::Arith>,
        subgroups: bool,
    ) -> Result<GpuBackend, GpuError> {
        let (adapter, device, queue) = device::open(software)?;
        let variants = sh::Variants { subgroups: subgroups && device.features().contains(wgpu::Features::SUBGROUP) };
        let has_f64 = device.features().contains(wgpu::Features::SHADER_F64);
        let wanted = match std::env::var("ROLLAMA_GPU_F64").as_deref().map(str::trim) {
            Ok("1") => true,
            Ok("0") => false,
            _ => adapter.get_info().device_type == wgpu::DeviceType::Cpu,
        };
        let arith = match arith {
            Some(sh::Arith::F64) if !has_f64 => return Err(GpuError::Device("the adapter has no f64".into())),
            Some(a) => a,
            None if has_f64 && wanted => sh::Arith::F64,
            None => sh::Arith::F32,
        };
        let mut n = 0;
        let mut k = |s: &sh::Shader, data: &'static [u32]| {
            n += 1;
            Kernel::new(&device, n, s, arith, data)
        };
        let kernels = Kernels {
            get_rows: k(&sh::GET_ROWS_K, &[2]),
            rms_norm: k(&sh::RMS_NORM_K, &[]),
            add_rms_norm: k(&sh::ADD_RMS_NORM_K, &[]),
            quantize_q8: k(&sh::QUANTIZE_Q8_K, &[]),
            quantize_q8k: k(&sh::QUANTIZE_Q8K_K, &[]),
            rope: k(&sh::ROPE_K, &[1]),
            kv_store: k(&sh::KV_STORE_K, &[]),
            attention: match arith {
                sh::Arith::F32 => k(&sh::ATTENTION_F32_K, &[]),
                sh::Arith::F64 => k(&sh::ATTENTION_K, &[]),
            },
            add: k(&sh::ADD_K, &[]),
            add_bias: k(&sh::ADD_BIAS_K, &[]),
            scale: k(&sh::SCALE_K, &[]),
            softcap: k(&sh::SOFTCAP_K, &[]),
            swiglu: k(&sh::SWIGLU_K, &[]),
            swiglu_quant: k(&sh::SWIGLU_QUANT_K, &[]),
            geglu: k(&sh::GEGLU_K, &[]),
            argmax: k(&sh::ARGMAX_K, &[]),
            read_sum: k(&sh::READ_SUM_K, &[]),
            matmul: sh::matmul_types()
                .filter_map(|ty| sh::matmul_for(ty, arith, variants).map(|m| (ty, m, k(&m.shader, &[]))))
                .collect(),
        };
        let max_binding = device.limits().max_storage_buffer_binding_size.into();
        let rec = Mutex::new(Recorder::new(&device));
        let adapter = adapter.get_info();
        let gelu_table = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("gelu table"),
            contents: bytemuck::cast_slice(super::ggml_math::gelu_f16_table()),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let gelu_table = (gelu_table, next_id());
        let placeholder = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("placeholder"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let placeholder = (placeholder, next_id());
        Ok(GpuBackend {
            adapter,
            device,
            queue,
            kernels: Arc::new(kernels),
            rec,
            max_binding,
            arith,
            variants,
            gelu_table,
            placeholder,
            weights_used: Arc::new(AtomicU64::new(0)),
            weights_limit: Mutex::new(memory_limit_from_env()),
        })
    }

    /// Caps the bytes of weights this backend holds (None: no cap but the device's): a
    /// load past it fails with [`ModelError::OutOfDeviceMemory`], as one past the device's
    /// memory does, and the loader then puts fewer layers here.
    pub fn set_memory_limit(&self, bytes: Option<u64>) {
        *self.weights_limit.lock().unwrap_or_else(|e| e.into_inner()) = bytes;
    }

    /// Counts `bytes` of weights for `tensor`, or refuses them past the limit.
    fn claim(&self, tensor: &str, bytes: u64) -> Result<Claim, ModelError> {
        let limit = *self.weights_limit.lock().unwrap_or_else(|e| e.into_inner());
        let used = self.weights_used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let claim = Claim { bytes, used: Arc::clone(&self.weights_used) };
        match limit {
            Some(max) if used > max => Err(ModelError::OutOfDeviceMemory {
                tensor: tensor.to_string(),
                reason: format!("{used} bytes of weights would pass the limit of {max} (ROLLAMA_GPU_MEMORY)"),
                held: used - bytes,
            }),
            _ => Ok(claim),
        }
    }

    /// Runs `make` (which creates buffers) and turns the device running out of memory
    /// meanwhile into an error instead of wgpu's panic.
    /// `bytes` is what the buffers hold, already claimed.
    fn allocating<T>(&self, tensor: &str, bytes: u64, make: impl FnOnce() -> T) -> Result<T, ModelError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let made = make();
        match block_on(scope.pop()) {
            None => Ok(made),
            Some(e) => Err(ModelError::OutOfDeviceMemory {
                tensor: tensor.to_string(),
                reason: e.to_string(),
                held: self.weights_used.load(Ordering::Relaxed).saturating_sub(bytes),
            }),
        }
    }

    /// The adapter in use, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)".
    pub fn adapter_name(&self) -> String {
        let a = &self.adapter;
        format!("{} ({:?}, {:?})", a.name, a.backend, a.device_type)
    }

    /// The arithmetic of the kernels: F64 where they round as the CPU backend's.
    pub fn arith(&self) -> sh::Arith {
        self.arith
    }

    /// The kernel variants in use.
    pub fn variants(&self) -> sh::Variants {
        self.variants
    }

    fn dispatch(&self, k: &Kernel, params: &impl bytemuck::Pod, binds: &[Bind<'_>], groups: [u32; 3]) {
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.dispatch(&self.device, &self.queue, k, bytemuck::bytes_of(params), binds, groups);
    }

    fn elementwise(&self, k: &Kernel, len: usize, s: f32, width: usize, binds: &[Bind<'_>]) {
        if len == 0 {
            return;
        }
        let p = sh::EltParams { len: len as u32, s, width: width as u32, _pad: 0 };
        self.dispatch(k, &p, binds, groups_2d(len.div_ceil(256)));
    }

    fn upload(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        })
    }

    fn storage(&self, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Records the quantization of `rows` activation rows of `x` to the format `w`'s kernel
    /// reads, into the scratch buffer it returns; None where the kernel reads f32.
    fn quantize_act(&self, rec: &mut Recorder, w: &GpuWeight, x: &GpuBuf, rows: usize) -> Option<(wgpu::Buffer, u64)> {
        let (_, mm, _) = self.matmul_kernel(w);
        let cols = w.cols;
        assert!(x.len >= rows * cols, "matmul activations too small");
        if let Some(pq) = rec.prequant.as_ref().filter(|p| p.src == x.id && p.len == rows * cols) {
            let (ready, flag) = match mm.act {
                sh::ActFormat::Q8 if cols.is_multiple_of(32) => (pq.q8.clone(), Q8),
                sh::ActFormat::Q8K if cols.is_multiple_of(256) => (pq.q8k.clone(), Q8K),
                _ => (None, 0),
            };
            if ready.is_some() {
                return ready;
            }
            // The op that made x quantizes this format too from now on.
            let key = pq.key;
            *rec.wanted.entry(key).or_insert(0) |= flag;
        }
        let (qk, block) = match mm.act {
            sh::ActFormat::F32 => return None,
            sh::ActFormat::Q8K => (&self.kernels.quantize_q8k, 256),
            sh::ActFormat::Q8 => (&self.kernels.quantize_q8, 32),
        };
        let usage = wgpu::BufferUsages::STORAGE;
        let s = ensure(&self.device, &mut rec.scratch, (rows * mm.act.row_words(cols) * 4) as u64, usage);
        let (sbuf, sid) = (s.buf.clone(), s.id);
        let p = sh::QuantizeParams { cols: cols as u32, n: rows as u32, _pad: [0; 2] };
        let binds = [buf(x), Bind::Buf(&sbuf, sid)];
        // Q8_K: a workgroup per block; Q8: eight blocks per workgroup.
        let groups = groups_2d((rows * cols / block).div_ceil(if block == 256 { 1 } else { 8 }));
        rec.dispatch(&self.device, &self.queue, qk, bytemuck::bytes_of(&p), &binds, groups);
        Some((sbuf, sid))
    }

    /// Records `out = a · wᵀ` for `rows` activation rows `a` already in the kernel's format,
    /// one dispatch per part of `w`.
    fn record_matmul(&self, rec: &mut Recorder, w: &GpuWeight, a: Bind<'_>, rows: usize, out: &GpuBuf) {
        let (_, mm, k) = self.matmul_kernel(w);
        let cols = w.cols;
        assert!(out.len >= rows * w.rows, "matmul output too small");
        for part in &w.parts {
            let p = sh::MatmulParams {
                rows: part.rows as u32,
                cols: cols as u32,
                n: rows as u32,
                row_bytes: w.ty.row_bytes(cols).expect("checked at load") as u32,
                units: cols.div_ceil(mm.unit) as u32,
                a_row: mm.act.row_words(cols) as u32,
                // As the CPU backend: Q4_K matrices with a multiple of 8 rows take a batch's
                // first n % 4 rows singly, the rest in groups of four (llama.cpp's repacked
                // kernels).
                single: if w.ty == GgmlType::Q4_K && w.rows.is_multiple_of(8) { rows % 4 } else { rows } as u32,
                row0: part.row0 as u32,
                out_stride: w.rows as u32,
                _pad: [0; 3],
            };
            let mut groups = groups_2d(part.rows.div_ceil(mm.rows_per_group));
            groups[2] = rows.div_ceil(mm.tile) as u32;
            let binds = [Bind::Buf(&part.buf, part.id), a, buf(out)];
            rec.dispatch(&self.device, &self.queue, k, bytemuck::bytes_of(&p), &binds, groups);
        }
    }

    /// The weight `name`, a `rows` x `cols` matrix of `ty` (its GGUF bytes `data`, already
    /// checked to be that size), uploaded and counted against the memory limit.
    fn upload_matrix_as(
        &self,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: &[u8],
    ) -> Result<GpuWeight, ModelError> {
        let claim = self.claim(name, data.len() as u64)?;
        let parts = self.allocating(name, claim.bytes, || self.upload_matrix_parts(name, ty, rows, cols, data))?;
        let parts = parts.map_err(|e| ModelError::tensor(name, e))?;
        Ok(GpuWeight { parts, ty, rows, cols, _claim: claim })
    }

    /// Uploads a `rows` x `cols` matrix of `ty` (its GGUF bytes `data`, already checked to be
    /// that size) in parts of at most the largest storage binding.
    fn upload_matrix_parts(
        &self,
        label: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: &[u8],
    ) -> Result<Vec<WeightPart>, String> {
        let row_bytes = ty.row_bytes(cols).ok_or("row size overflows")?;
        let max = self.max_binding.load(std::sync::atomic::Ordering::Relaxed);
        let per = usize::try_from(max / row_bytes.max(1) as u64).unwrap_or(usize::MAX).min(rows.max(1));
        if per == 0 {
            return Err("a row is larger than the GPU's largest storage binding".into());
        }
        let parts = (0..rows)
            .step_by(per)
            .map(|row0| {
                let n = per.min(rows - row0);
                let buf = self.upload(label, &data[row0 * row_bytes..(row0 + n) * row_bytes]);
                WeightPart { buf, id: next_id(), row0, rows: n }
            })
            .collect();
        Ok(parts)
    }

    /// Pretends the device's largest binding is `bytes`, which caps weight parts, caches and
    /// activation buffers: tests give small models the limits of large ones this way.
    #[doc(hidden)]
    pub fn set_max_binding(&self, bytes: u64) {
        self.max_binding.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records attention (see `Backend::attention`); with `store`, the kernel also writes
    /// the single row's keys and values into the cache.
    #[allow(clippy::too_many_arguments)]
    fn record_attention(
        &self,
        q: &GpuBuf,
        k: &GpuBuf,
        v: &GpuBuf,
        kv: &GpuKv,
        layer: usize,
        a: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut GpuBuf,
        store: bool,
    ) {
        if rows == 0 {
            return;
        }
        let l = &kv.layers[layer];
        assert!(a.head_dim <= sh::ATTENTION_MAX_HEAD_DIM, "head_dim {} > 256", a.head_dim);
        assert!(a.n_head_kv * a.head_dim <= l.k_width.min(l.v_width));
        let p = sh::AttentionParams {
            n_head: a.n_head as u32,
            head_dim: a.head_dim as u32,
            group: (a.n_head / a.n_head_kv) as u32,
            pos0: pos0 as u32,
            k_width: l.k_width as u32,
            v_width: l.v_width as u32,
            slots: l.slots as u32,
            window: a.window.unwrap_or(0) as u32,
            scale: a.scale,
            softcap: a.softcap.unwrap_or(0.0),
            store: u32::from(store),
            _pad: 0,
        };
        let binds = [buf(q), buf(k), buf(v), Bind::Buf(&l.k, l.ids.0), Bind::Buf(&l.v, l.ids.1), buf(out)];
        self.dispatch(&self.kernels.attention, &p, &binds, [a.n_head as u32, rows as u32, 1]);
    }

    /// Records RoPE on `x` (`n_heads` heads per row) and, when given, on `k` in the same
    /// dispatches.
    #[allow(clippy::too_many_arguments)]
    fn record_rope(
        &self,
        x: &mut GpuBuf,
        k: Option<(&mut GpuBuf, usize)>,
        rope: &Rope,
        n_heads: usize,
        head_dim: usize,
        pos0: usize,
        rows: usize,
    ) {
        let n_dims = rope.n_dims.min(head_dim);
        let half = n_dims / 2;
        if rows == 0 || half == 0 {
            return;
        }
        let (kb, n_heads_k) = match k {
            Some((k, n)) => (buf(k), n),
            None => (Bind::Buf(&self.placeholder.0, self.placeholder.1), 0),
        };
        let theta_scale = rope.freq_base.powf(-2.0 / n_dims as f32);
        // Rows per dispatch so that the (cos, sin) table fits the data window.
        let per = (DATA_WINDOW as usize / (half * 8)).max(1);
        let mut t0 = 0;
        while t0 < rows {
            let n = per.min(rows - t0);
            let mut cs = Vec::with_capacity(n * half * 2);
            for t in t0..t0 + n {
                // As the CPU backend: the angle by repeated multiplication, libm's cos and sin.
                let mut theta = (pos0 + t) as f32;
                for i in 0..half {
                    let ff = rope.freq_factors.as_ref().map_or(1.0, |f| f[i]);
                    let th = rope.freq_scale * (theta / ff);
                    cs.push(th.cos());
                    cs.push(th.sin());
                    theta *= theta_scale;
                }
            }
            let p = sh::RopeParams {
                n_heads: n_heads as u32,
                head_dim: head_dim as u32,
                n_dims: n_dims as u32,
                rows: n as u32,
                neox: u32::from(rope.kind == RopeKind::Neox),
                row0: t0 as u32,
                n_heads_k: n_heads_k as u32,
                _pad: 0,
            };
            let binds = [Bind::Data(bytemuck::cast_slice(&cs)), buf(x), kb];
            let groups = groups_2d((n * (n_heads + n_heads_k) * half).div_ceil(64));
            self.dispatch(&self.kernels.rope, &p, &binds, groups);
            t0 += n;
        }
    }

    /// Records out = rms_norm(x) * w, after x += y when `y` is given. A decode step's norm
    /// (at most [`NORM_QUANT_ROWS`] rows) also writes its output quantized in the formats the
    /// products after it have wanted (`Recorder::wanted`), which they then take
    /// (`Recorder::prequant`) instead of a quantizing dispatch.
    #[allow(clippy::too_many_arguments)]
    fn record_norm(
        &self,
        y: Option<&GpuBuf>,
        x: &GpuBuf,
        w: &GpuWeight,
        eps: f32,
        rows: usize,
        width: usize,
        out: &GpuBuf,
    ) {
        if rows == 0 {
            return;
        }
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        let decode = rows <= NORM_QUANT_ROWS;
        let key = ("norm", rows * width);
        // Blocks of consecutive values are a row's blocks where the block divides the width.
        let fits = if width.is_multiple_of(256) { Q8 | Q8K } else { Q8 * u32::from(width.is_multiple_of(32)) };
        let formats = if decode { rec.wanted.get(&key).copied().unwrap_or(0) & fits } else { 0 };
        let (quant, [q8, q8k]) = quant_copies(&self.device, &mut rec.norm_quant, formats, rows * width);
        let p = sh::RmsNormParams { width: width as u32, eps, rows: rows as u32, quant };
        let [b8, b8k] = [&q8, &q8k].map(|c| self.bind_or_placeholder(c));
        let params = bytemuck::bytes_of(&p);
        match y {
            Some(y) => {
                let binds = [buf(x), buf(y), weight(w), buf(out), b8, b8k];
                rec.dispatch(&self.device, &self.queue, &self.kernels.add_rms_norm, params, &binds, groups_2d(rows));
            }
            None => {
                let binds = [buf(x), weight(w), buf(out), b8, b8k];
                rec.dispatch(&self.device, &self.queue, &self.kernels.rms_norm, params, &binds, groups_2d(rows));
            }
        }
        if decode {
            // Even with no format wanted yet: the products that miss one teach `wanted`.
            rec.prequant = Some(Prequant { key, src: out.id, len: rows * width, q8, q8k });
        }
    }

    /// A quantized copy's binding, or the placeholder where the op writes none.
    fn bind_or_placeholder<'a>(&'a self, copy: &'a Option<(wgpu::Buffer, u64)>) -> Bind<'a> {
        let (b, id) = copy.as_ref().unwrap_or(&self.placeholder);
        Bind::Buf(b, *id)
    }

    fn matmul_kernel(&self, w: &GpuWeight) -> &(u32, sh::MatmulShader, Kernel) {
        self.kernels.matmul.iter().find(|(t, ..)| *t == w.ty as u32).expect("type checked at load")
    }
}

/// The buffers an op writes its output's Q8 and Q8_K copies into (those of `formats`, for `len`
/// values, from `slots`), and the kernels' `quant` flags of those.
/// `ROLLAMA_GPU_MEMORY`: the most bytes of weights on the GPU, as a number with an optional
/// K, M or G (powers of 1024); unset or unreadable, no limit but the device's.
fn memory_limit_from_env() -> Option<u64> {
    parse_bytes(&std::env::var("ROLLAMA_GPU_MEMORY").ok()?)
}

fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, shift) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 10),
        (i, 'm' | 'M') => (&s[..i], 20),
        (i, 'g' | 'G') => (&s[..i], 30),
        _ => (s, 0),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

fn quant_copies(
    device: &wgpu::Device,
    slots: &mut [Option<Scratch>; 2],
    formats: u32,
    len: usize,
) -> (u32, [Option<(wgpu::Buffer, u64)>; 2]) {
    let kinds = [(Q8, sh::ActFormat::Q8), (Q8K, sh::ActFormat::Q8K)];
    let copies = std::array::from_fn(|i| {
        let (flag, format) = kinds[i];
        (formats & flag != 0).then(|| {
            let bytes = (format.row_words(len) * 4) as u64;
            let s = ensure(device, &mut slots[i], bytes, wgpu::BufferUsages::STORAGE);
            (s.buf.clone(), s.id)
        })
    });
    (formats, copies)
}

fn buf(b: &GpuBuf) -> Bind<'_> {
    Bind::Buf(&b.buf, b.id)
}

/// A vector weight (one part).
fn weight(w: &GpuWeight) -> Bind<'_> {
    Bind::Buf(&w.parts[0].buf, w.parts[0].id)
}

impl Backend for GpuBackend {
    type Weight = GpuWeight;
    type Buf = GpuBuf;
    type Kv = GpuKv;

    fn name(&self) -> String {
        let arith = match self.arith {
            sh::Arith::F64 => "f64 steps, CPU rounding",
            sh::Arith::F32 if self.variants.subgroups => "f32, subgroups",
            sh::Arith::F32 => "f32",
        };
        format!("gpu ({}; {arith})", self.adapter_name())
    }

    fn load_weight(&self, src: WeightSource<'_>) -> Result<GpuWeight, ModelError> {
        let info = src.info;
        let data = src.file.tensor_data(info);
        let unsupported = || ModelError::UnsupportedType { tensor: info.name.clone(), ty: info.ty.name() };
        if info.dims.len() == 1 {
            let mut v = vec![0f32; info.dims[0] as usize];
            rollama_kernels::dequantize_row(info.ty, data, &mut v)
                .map_err(|e| ModelError::tensor(&info.name, e.to_string()))?;
            let claim = self.claim(&info.name, v.len() as u64 * 4)?;
            let buf = self.allocating(&info.name, claim.bytes, || self.upload(&info.name, bytemuck::cast_slice(&v)))?;
            let part = WeightPart { buf, id: next_id(), row0: 0, rows: 1 };
            return Ok(GpuWeight { parts: vec![part], ty: GgmlType::F32, rows: 1, cols: v.len(), _claim: claim });
        }
        if !sh::get_rows_supports(info.ty as u32) {
            return Err(unsupported());
        }
        let (rows, cols) = (info.n_rows() as usize, info.row_len() as usize);
        self.upload_matrix_as(&info.name, info.ty, rows, cols, data)
    }

    fn weight_dims(&self, w: &GpuWeight) -> (usize, usize) {
        (w.rows, w.cols)
    }

    fn buffer(&self, len: usize) -> GpuBuf {
        // The model keeps its chunks within `max_buffer_len` (see `Hparams::max_batch`); past
        // the device's limit wgpu would fail at the first bind instead.
        let max = self.max_binding.load(Ordering::Relaxed);
        assert!(
            len as u64 * 4 <= max.max(4),
            "an activation buffer of {len} values exceeds the largest binding ({max} bytes)"
        );
        GpuBuf { buf: self.storage(len as u64 * 4), len, id: next_id() }
    }

    /// Submits what was recorded first: the queue's write lands after those commands and
    /// before any recorded later.
    fn write(&self, x: &mut GpuBuf, data: &[f32]) {
        assert!(data.len() <= x.len, "writing {} values into a buffer of {}", data.len(), x.len);
        if data.is_empty() {
            return;
        }
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.submit(&self.queue);
        rec.written(x.id);
        self.queue.write_buffer(&x.buf, 0, bytemuck::cast_slice(data));
    }

    fn kv_cache(&self, layers: &[KvShape], n_ctx: usize) -> Result<GpuKv, ModelError> {
        // Each layer's keys and values are one binding each: past the largest binding, or
        // past the device's memory, the context does not fit here.
        let max = self.max_binding.load(Ordering::Relaxed);
        let mut total = 0u64;
        for s in layers {
            let slots = s.slots(n_ctx) as u64;
            let widest = s.k_width.max(s.v_width) as u64;
            let layer =
                slots.checked_mul(widest * 2).filter(|&b| b <= max).ok_or_else(|| ModelError::OutOfDeviceMemory {
                    tensor: "KV cache".into(),
                    reason: format!("{n_ctx} positions of {widest} values exceed the largest binding of {max} bytes"),
                    held: self.weights_used.load(Ordering::Relaxed),
                })?;
            total = total.saturating_add(layer * 2);
        }
        let layers = self.allocating("KV cache", total, || {
            layers
                .iter()
                .map(|s| {
                    let slots = s.slots(n_ctx);
                    assert!(s.k_width % 2 == 0 && s.v_width % 2 == 0, "cache rows are packed in f16 pairs");
                    GpuKvLayer {
                        k: self.storage((slots * s.k_width * 2) as u64),
                        v: self.storage((slots * s.v_width * 2) as u64),
                        ids: (next_id(), next_id()),
                        k_width: s.k_width,
                        v_width: s.v_width,
                        slots,
                    }
                })
                .collect()
        })?;
        Ok(GpuKv { layers })
    }

    fn get_rows(&self, table: &GpuWeight, ids: &[u32], out: &mut GpuBuf) {
        let row_bytes = table.ty.row_bytes(table.cols).expect("checked at load");
        assert!(out.len >= ids.len() * table.cols);
        for (c, chunk) in ids.chunks(16384).enumerate() {
            // Each part writes the output rows whose ids it holds.
            for part in &table.parts {
                let p = sh::GetRowsParams {
                    cols: table.cols as u32,
                    n: chunk.len() as u32,
                    row_bytes: row_bytes as u32,
                    ty: table.ty as u32,
                    out0: (c * 16384 * table.cols) as u32,
                    row0: part.row0 as u32,
                    part_rows: part.rows as u32,
                    _pad: 0,
                };
                let binds = [Bind::Buf(&part.buf, part.id), Bind::Data(bytemuck::cast_slice(chunk)), buf(out)];
                let groups = groups_2d((chunk.len() * table.cols).div_ceil(256));
                self.dispatch(&self.kernels.get_rows, &p, &binds, groups);
            }
        }
    }

    fn rms_norm(&self, x: &GpuBuf, w: &GpuWeight, eps: f32, rows: usize, width: usize, out: &mut GpuBuf) {
        self.record_norm(None, x, w, eps, rows, width, out);
    }

    fn matmul(&self, w: &GpuWeight, x: &GpuBuf, rows: usize, out: &mut GpuBuf) {
        if rows == 0 {
            return;
        }
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        let act = self.quantize_act(&mut rec, w, x, rows);
        let a = match &act {
            Some((b, id)) => Bind::Buf(b, *id),
            None => buf(x),
        };
        self.record_matmul(&mut rec, w, a, rows, out);
    }

    fn max_head_dim(&self) -> Option<usize> {
        Some(sh::ATTENTION_MAX_HEAD_DIM)
    }

    fn needs_even_heads(&self) -> bool {
        true
    }

    fn weight_bytes_held(&self) -> u64 {
        self.weights_used.load(Ordering::Relaxed)
    }

    fn max_buffer_len(&self) -> Option<usize> {
        usize::try_from(self.max_binding.load(Ordering::Relaxed) / 4).ok()
    }

    fn matmul_many(&self, ws: &[&GpuWeight], x: &GpuBuf, rows: usize, outs: &mut [&mut GpuBuf]) {
        if rows == 0 {
            return;
        }
        // The input is quantized once for every run of matrices that read the same format.
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        let mut act: Option<(sh::ActFormat, Option<(wgpu::Buffer, u64)>)> = None;
        for (w, out) in ws.iter().zip(outs.iter_mut()) {
            let fmt = self.matmul_kernel(w).1.act;
            if act.as_ref().is_none_or(|(f, _)| *f != fmt) {
                act = Some((fmt, self.quantize_act(&mut rec, w, x, rows)));
            }
            let a = match &act {
                Some((_, Some((b, id)))) => Bind::Buf(b, *id),
                _ => buf(x),
            };
            self.record_matmul(&mut rec, w, a, rows, out);
        }
    }

    fn add_bias(&self, x: &mut GpuBuf, bias: &GpuWeight, rows: usize) {
        let b = bias.cols;
        self.elementwise(&self.kernels.add_bias, rows * b, 0.0, b, &[weight(bias), buf(x)]);
    }

    fn rope(&self, x: &mut GpuBuf, rope: &Rope, n_heads: usize, head_dim: usize, pos0: usize, rows: usize) {
        self.record_rope(x, None, rope, n_heads, head_dim, pos0, rows);
    }

    fn rope_qk(
        &self,
        q: &mut GpuBuf,
        k: &mut GpuBuf,
        rope: &Rope,
        n_head: usize,
        n_head_kv: usize,
        head_dim: usize,
        pos0: usize,
        rows: usize,
    ) {
        self.record_rope(q, Some((k, n_head_kv)), rope, n_head, head_dim, pos0, rows);
    }

    fn add_rms_norm(
        &self,
        x: &mut GpuBuf,
        y: &GpuBuf,
        w: &GpuWeight,
        eps: f32,
        rows: usize,
        width: usize,
        out: &mut GpuBuf,
    ) {
        self.record_norm(Some(y), x, w, eps, rows, width, out);
    }

    fn kv_store(&self, kv: &mut GpuKv, layer: usize, k: &GpuBuf, v: &GpuBuf, pos0: usize, rows: usize) {
        let l = &kv.layers[layer];
        // Rows that a later row of the same batch would overwrite in the ring are skipped.
        let t0 = rows.saturating_sub(l.slots);
        let n = rows - t0;
        if n == 0 {
            return;
        }
        let (kw, vw) = (l.k_width / 2, l.v_width / 2);
        let p = sh::KvStoreParams {
            t0: t0 as u32,
            rows: n as u32,
            pos0: pos0 as u32,
            slots: l.slots as u32,
            k_words: kw as u32,
            v_words: vw as u32,
            _pad: [0; 2],
        };
        let binds = [buf(k), buf(v), Bind::Buf(&l.k, l.ids.0), Bind::Buf(&l.v, l.ids.1)];
        self.dispatch(&self.kernels.kv_store, &p, &binds, groups_2d((n * kw.max(vw)).div_ceil(64)));
    }

    fn attention(
        &self,
        q: &GpuBuf,
        k: &GpuBuf,
        v: &GpuBuf,
        kv: &GpuKv,
        layer: usize,
        a: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut GpuBuf,
    ) {
        self.record_attention(q, k, v, kv, layer, a, pos0, rows, out, false);
    }

    fn attention_store(
        &self,
        q: &GpuBuf,
        k: &GpuBuf,
        v: &GpuBuf,
        kv: &mut GpuKv,
        layer: usize,
        a: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut GpuBuf,
    ) {
        // One row whose keys and values fill the cache rows exactly: the attention kernel
        // stores them too (its slot is outside every window, so no workgroup reads it).
        let l = &kv.layers[layer];
        let width = a.n_head_kv * a.head_dim;
        if rows == 1 && l.k_width == width && l.v_width == width {
            self.record_attention(q, k, v, kv, layer, a, pos0, rows, out, true);
        } else {
            self.record_attention(q, k, v, kv, layer, a, pos0, rows, out, false);
            self.kv_store(kv, layer, k, v, pos0, rows);
        }
    }

    fn swiglu(&self, gate: &GpuBuf, up: &GpuBuf, len: usize, out: &mut GpuBuf) {
        // A decode step's few rows are quantized in the same pass, for the down projection.
        if len == 0 || !len.is_multiple_of(32) || len > SWIGLU_QUANT_LEN {
            self.elementwise(&self.kernels.swiglu, len, 0.0, 0, &[buf(gate), buf(up), buf(out)]);
            return;
        }
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        let key = ("swiglu", len);
        let fits = if len.is_multiple_of(256) { Q8 | Q8K } else { Q8 };
        let formats = rec.wanted.get(&key).copied().unwrap_or(0) & fits;
        let (quant, [q8, q8k]) = quant_copies(&self.device, &mut rec.swiglu_quant, formats, len);
        let p = sh::SwigluQuantParams { len: len as u32, quant, _pad: [0; 2] };
        let [b8, b8k] = [&q8, &q8k].map(|c| self.bind_or_placeholder(c));
        let binds = [buf(gate), buf(up), buf(out), b8, b8k];
        let groups = groups_2d((len / 4).div_ceil(256));
        rec.dispatch(&self.device, &self.queue, &self.kernels.swiglu_quant, bytemuck::bytes_of(&p), &binds, groups);
        rec.prequant = Some(Prequant { key, src: out.id, len, q8, q8k });
    }

    fn geglu(&self, gate: &GpuBuf, up: &GpuBuf, len: usize, out: &mut GpuBuf) {
        let table = Bind::Buf(&self.gelu_table.0, self.gelu_table.1);
        self.elementwise(&self.kernels.geglu, len, 0.0, 0, &[buf(gate), buf(up), table, buf(out)]);
    }

    fn scale(&self, x: &mut GpuBuf, s: f32, len: usize) {
        self.elementwise(&self.kernels.scale, len, s, 0, &[buf(x)]);
    }

    fn softcap(&self, x: &mut GpuBuf, cap: f32, len: usize) {
        self.elementwise(&self.kernels.softcap, len, cap, 0, &[buf(x)]);
    }

    fn add(&self, x: &mut GpuBuf, y: &GpuBuf, len: usize) {
        self.elementwise(&self.kernels.add, len, 0.0, 0, &[buf(y), buf(x)]);
    }

    fn copy_rows(&self, src: &GpuBuf, src_row: usize, dst: &mut GpuBuf, dst_row: usize, rows: usize, width: usize) {
        if rows * width == 0 {
            return;
        }
        assert!((src_row + rows) * width <= src.len && (dst_row + rows) * width <= dst.len);
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.written(dst.id);
        let (so, d0, size) = ((src_row * width * 4) as u64, (dst_row * width * 4) as u64, (rows * width * 4) as u64);
        rec.encoder(&self.device).copy_buffer_to_buffer(&src.buf, so, &dst.buf, d0, size);
    }

    fn read(&self, x: &GpuBuf, len: usize, out: &mut Vec<f32>) {
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.read(&self.device, &self.queue, &x.buf, len, out);
    }

    fn argmax(&self, x: &GpuBuf, rows: usize, width: usize) -> Vec<u32> {
        let mut ids = Vec::new();
        if rows == 0 {
            return ids;
        }
        assert!(rows * width <= x.len && rows <= 65535, "argmax of {rows} rows of {width} in a buffer of {}", x.len);
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let out = ensure(&self.device, &mut rec.argmax_out, (rows * 4) as u64, usage);
        let (out, id) = (out.buf.clone(), out.id);
        let p = sh::ArgmaxParams { width: width as u32, rows: rows as u32, _pad: [0; 2] };
        let binds = [buf(x), Bind::Buf(&out, id)];
        rec.dispatch(
            &self.device,
            &self.queue,
            &self.kernels.argmax,
            bytemuck::bytes_of(&p),
            &binds,
            [rows as u32, 1, 1],
        );
        rec.read(&self.device, &self.queue, &out, rows, &mut ids);
        ids
    }
}
