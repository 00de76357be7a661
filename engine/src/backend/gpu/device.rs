//! The device side of the GPU backend: adapter selection, the compiled kernels, and the
//! recorder that turns ops into one command buffer.
//!
//! Every op becomes a dispatch recorded into the pending [`wgpu::CommandEncoder`], inside
//! one compute pass that stays open until a copy or the submission needs the encoder; nothing
//! reaches the GPU until [`Recorder::submit`], which [`Recorder::read`] calls (so a decode
//! step, whose only read is its logits, is one submission). A dispatch's params go to a host
//! arena that is uploaded with one `write_buffer` just before that submission and bound with a
//! dynamic offset; small host data (token ids, RoPE tables) goes to a second arena the same
//! way. Bind groups depend only on buffers, so they are cached by buffer ids.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use rollama_shaders::{Access, Arith, Shader};

use super::profile::{Profiler, SubmitTimes};

/// Why no GPU backend could be made.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("the GPU is disabled (ROLLAMA_GPU=0)")]
    Disabled,
    #[error("no GPU adapter found (Vulkan)")]
    NoAdapter,
    #[error("only a software adapter ({0}); ROLLAMA_GPU=1 uses it")]
    SoftwareOnly(String),
    #[error("could not open the GPU device: {0}")]
    Device(String),
}

/// Bytes of params per dispatch: the arena's slot size, which is also the offset alignment
/// every adapter accepts for uniform buffers.
pub(crate) const PARAMS_SLOT: u64 = 256;
const PARAMS_CAP: u64 = 1 << 20;
/// The host data arena, and the window of it one binding sees.
pub(crate) const DATA_WINDOW: u64 = 1 << 20;
const DATA_CAP: u64 = 8 << 20;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A process-unique id for a buffer, the key of the bind group cache.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Polls a wgpu future to completion. On native backends they are ready at once or after
/// the device has been polled, so a spinning executor is enough.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// Opens the best Vulkan adapter: a discrete GPU over an integrated one over a software
/// rasterizer (lavapipe, taken only with `software`), unless `ROLLAMA_GPU=0` turns the GPU off.
pub(crate) fn open(software: bool) -> Result<(wgpu::Adapter, wgpu::Device, wgpu::Queue), GpuError> {
    if std::env::var("ROLLAMA_GPU").is_ok_and(|v| v.trim() == "0") {
        return Err(GpuError::Disabled);
    }
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::VULKAN;
    desc.flags = wgpu::InstanceFlags::empty().with_env();
    let instance = wgpu::Instance::new(desc);
    let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let adapter = block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN))
        .into_iter()
        .min_by_key(rank)
        .ok_or(GpuError::NoAdapter)?;
    let info = adapter.get_info();
    if !software && info.device_type == wgpu::DeviceType::Cpu {
        return Err(GpuError::SoftwareOnly(info.name));
    }
    let desc = wgpu::DeviceDescriptor {
        label: Some("rollama"),
        // Timestamps cost nothing until a profiler writes them (see `profile.rs`); f64
        // arithmetic lets kernels round as the CPU backend does (see `GpuBackend::open_with`);
        // subgroups pick the products' shuffle variant.
        required_features: adapter.features()
            & (wgpu::Features::TIMESTAMP_QUERY
                | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
                | wgpu::Features::SHADER_F64
                | wgpu::Features::SUBGROUP),
        // Weights need the adapter's largest storage bindings, not WebGPU's 128 MiB default.
        required_limits: adapter.limits(),
        ..Default::default()
    };
    let (device, queue) = block_on(adapter.request_device(&desc)).map_err(|e| GpuError::Device(e.to_string()))?;
    Ok((adapter, device, queue))
}

/// One compiled kernel and the layout of its bind group.
pub(crate) struct Kernel {
    pub(crate) name: &'static str,
    id: u32,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    /// Storage bindings (1-based) bound to the host data arena instead of a buffer.
    data_bindings: &'static [u32],
    /// How each storage binding is used (to know which buffers a dispatch writes).
    storage: &'static [Access],
}

impl Kernel {
    /// Compiles `shader` with the `arith` part where it takes one. Binding 0 (params) and the `data_bindings` take dynamic offsets.
    pub(crate) fn new(
        device: &wgpu::Device,
        id: u32,
        shader: &Shader,
        arith: Arith,
        data_bindings: &'static [u32],
    ) -> Kernel {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader.name),
            source: wgpu::ShaderSource::Wgsl(shader.source(arith).into()),
        });
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, access) in shader.storage.iter().enumerate() {
            let binding = i as u32 + 1;
            entries.push(wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: *access == Access::Read },
                    has_dynamic_offset: data_bindings.contains(&binding),
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(shader.name), entries: &entries });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(shader.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(shader.name),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Kernel { name: shader.name, id, pipeline, layout, data_bindings, storage: shader.storage }
    }
}

/// A storage binding of a dispatch: a buffer (with its id), or bytes for the data arena.
#[derive(Clone, Copy)]
pub(crate) enum Bind<'a> {
    Buf(&'a wgpu::Buffer, u64),
    Data(&'a [u8]),
}

/// A reusable device buffer that grows on demand (quantized activations, read-back staging).
pub(crate) struct Scratch {
    pub(crate) buf: wgpu::Buffer,
    pub(crate) id: u64,
    size: u64,
}

/// Bindings of one dispatch at most: params and up to seven storage buffers.
const MAX_BINDS: usize = 8;

/// A bind group's identity: the kernel and the ids of the buffers bound, params first.
/// Fixed-size, so that looking one up allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct BindKey {
    kernel: u32,
    len: u8,
    ids: [u64; MAX_BINDS],
}

/// Quantized copies of a buffer's rows that a norm wrote in the same dispatch as the rows
/// (see `norm_quant.wgsl`): the products that read that buffer next take them instead of
/// quantizing it. Valid until a dispatch, copy or host write changes the buffer.
pub(crate) struct Prequant {
    /// Which op and size made it: the key of `Recorder::wanted`.
    pub(crate) key: (&'static str, usize),
    pub(crate) src: u64,
    /// Values quantized from the buffer's start, in blocks of consecutive values (so rows of
    /// any width that the block divides).
    pub(crate) len: usize,
    pub(crate) q8: Option<(wgpu::Buffer, u64)>,
    pub(crate) q8k: Option<(wgpu::Buffer, u64)>,
}

/// The pending command buffer and what it needs at submission.
pub(crate) struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    /// The compute pass that consecutive dispatches share. wgpu encodes every pass as its own
    /// Vulkan command buffer plus one for the barriers before it, so a pass per dispatch
    /// cost two command buffers per op; within one pass wgpu still puts the barriers
    /// between dispatches, as each dispatch is its own usage scope. It is ended before any
    /// other command goes into the encoder (see [`Recorder::encoder`]).
    pass: Option<wgpu::ComputePass<'static>>,
    /// The kernel whose pipeline `pass` has set (0: none).
    pass_kernel: u32,
    params: Vec<u8>,
    data: Vec<u8>,
    params_buf: wgpu::Buffer,
    data_buf: wgpu::Buffer,
    data_id: u64,
    params_id: u64,
    bind_groups: HashMap<BindKey, wgpu::BindGroup>,
    pub(crate) scratch: Option<Scratch>,
    staging: Option<Scratch>,
    /// Timestamps around each submission, while a benchmark asks for them.
    pub(crate) profiler: Option<Profiler>,
    pub(crate) prequant: Option<Prequant>,
    /// The formats (bit 0: Q8, bit 1: Q8_K) that the products after an op of a size have
    /// wanted: an op quantizes only those, learned from the products that missed them.
    pub(crate) wanted: HashMap<(&'static str, usize), u32>,
    /// The buffers norms quantize their output into (Q8, Q8_K), and SwiGLU its.
    pub(crate) norm_quant: [Option<Scratch>; 2],
    pub(crate) swiglu_quant: [Option<Scratch>; 2],
    /// The ids `argmax` writes, for reading back.
    pub(crate) argmax_out: Option<Scratch>,
}

impl Recorder {
    pub(crate) fn new(device: &wgpu::Device) -> Recorder {
        let params_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params arena"),
            size: PARAMS_CAP,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let data_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("data arena"),
            size: DATA_CAP,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Recorder {
            encoder: None,
            pass: None,
            pass_kernel: 0,
            params: Vec::new(),
            data: Vec::new(),
            params_buf,
            data_buf,
            data_id: next_id(),
            params_id: next_id(),
            bind_groups: HashMap::new(),
            scratch: None,
            staging: None,
            profiler: None,
            prequant: None,
            wanted: HashMap::new(),
            norm_quant: [None, None],
            swiglu_quant: [None, None],
            argmax_out: None,
        }
    }

    /// The pending encoder for a command other than a dispatch (a copy, a clear, a query):
    /// the open compute pass is ended first, since wgpu takes no other command while a pass
    /// is open.
    pub(crate) fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.end_pass();
        self.open_encoder(device)
    }

    fn end_pass(&mut self) {
        self.pass = None;
        self.pass_kernel = 0;
    }

    fn open_encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| {
            let mut encoder = device.create_command_encoder(&Default::default());
            if let Some(p) = &mut self.profiler {
                p.begin(&mut encoder);
            }
            encoder
        })
    }

    /// Records one dispatch of `k` over `groups` workgroups.
    pub(crate) fn dispatch(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        k: &Kernel,
        params: &[u8],
        binds: &[Bind<'_>],
        groups: [u32; 3],
    ) {
        assert!(params.len() as u64 <= PARAMS_SLOT);
        assert!(binds.len() < MAX_BINDS, "{}: {} bindings", k.name, binds.len());
        let data_len: u64 = binds
            .iter()
            .map(|b| match b {
                Bind::Data(d) => (d.len() as u64).next_multiple_of(PARAMS_SLOT),
                Bind::Buf(..) => 0,
            })
            .sum();
        assert!(data_len <= DATA_WINDOW, "{}: {data_len} bytes of host data in one dispatch", k.name);
        if self.params.len() as u64 + PARAMS_SLOT > PARAMS_CAP
            || self.data.len() as u64 + data_len + DATA_WINDOW > DATA_CAP
        {
            self.submit(queue);
        }
        // Dynamic offsets: params first, then each data binding in binding order.
        let mut offsets = [0u32; MAX_BINDS];
        let mut n_offsets = 1;
        offsets[0] = self.params.len() as u32;
        self.params.extend_from_slice(params);
        self.params.resize(self.params.len().next_multiple_of(PARAMS_SLOT as usize), 0);
        let mut key = BindKey { kernel: k.id, len: binds.len() as u8 + 1, ids: [0; MAX_BINDS] };
        key.ids[0] = self.params_id;
        for (i, b) in binds.iter().enumerate() {
            if let Bind::Buf(_, id) = b {
                if k.storage.get(i) == Some(&Access::ReadWrite) {
                    self.written(*id);
                }
            }
            key.ids[i + 1] = match b {
                Bind::Buf(_, id) => *id,
                Bind::Data(d) => {
                    debug_assert!(k.data_bindings.contains(&(i as u32 + 1)));
                    offsets[n_offsets] = self.data.len() as u32;
                    n_offsets += 1;
                    self.data.extend_from_slice(d);
                    self.data.resize(self.data.len().next_multiple_of(PARAMS_SLOT as usize), 0);
                    self.data_id
                }
            };
        }
        if self.pass.is_none() {
            let desc = wgpu::ComputePassDescriptor { label: Some("dispatches"), timestamp_writes: None };
            let pass = self.open_encoder(device).begin_compute_pass(&desc).forget_lifetime();
            self.pass = Some(pass);
            self.pass_kernel = 0;
        }
        // Buffers dropped by the model stay alive while a cached group holds them; a cap
        // keeps that bounded.
        if self.bind_groups.len() >= 4096 && !self.bind_groups.contains_key(&key) {
            self.bind_groups.clear();
        }
        let (params_buf, data_buf) = (&self.params_buf, &self.data_buf);
        let bind_group = self.bind_groups.entry(key).or_insert_with(|| {
            let mut entries = Vec::with_capacity(binds.len() + 1);
            entries.push(wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: params_buf,
                    offset: 0,
                    size: std::num::NonZeroU64::new(PARAMS_SLOT),
                }),
            });
            for (i, b) in binds.iter().enumerate() {
                let resource = match b {
                    Bind::Buf(buf, _) => buf.as_entire_binding(),
                    Bind::Data(_) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: data_buf,
                        offset: 0,
                        size: std::num::NonZeroU64::new(DATA_WINDOW),
                    }),
                };
                entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource });
            }
            device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(k.name),
                layout: &k.layout,
                entries: &entries,
            })
        });
        let pass = self.pass.as_mut().expect("opened above");
        if self.pass_kernel != k.id {
            pass.set_pipeline(&k.pipeline);
            self.pass_kernel = k.id;
        }
        pass.set_bind_group(0, &*bind_group, &offsets[..n_offsets]);
        if let Some(p) = &mut self.profiler {
            p.stamp_dispatch(pass, k.name);
        }
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
    }

    /// Forgets quantized copies of buffer `id`, which is being written.
    pub(crate) fn written(&mut self, id: u64) {
        if self.prequant.as_ref().is_some_and(|p| p.src == id) {
            self.prequant = None;
        }
    }

    /// Uploads the arenas and submits the pending commands (if any).
    pub(crate) fn submit(&mut self, queue: &wgpu::Queue) {
        self.end_pass();
        let Some(mut encoder) = self.encoder.take() else { return };
        if let Some(p) = &mut self.profiler {
            p.end(&mut encoder);
        }
        let t0 = Instant::now();
        // wgpu encodes the recorded passes into Vulkan commands here, not while recording.
        let commands = encoder.finish();
        let t1 = Instant::now();
        if !self.params.is_empty() {
            queue.write_buffer(&self.params_buf, 0, &self.params);
        }
        if !self.data.is_empty() {
            queue.write_buffer(&self.data_buf, 0, &self.data);
        }
        let t2 = Instant::now();
        queue.submit([commands]);
        let t3 = Instant::now();
        if let Some(p) = &mut self.profiler {
            p.submitted(SubmitTimes {
                finish: (t1 - t0).as_secs_f64(),
                upload: (t2 - t1).as_secs_f64(),
                submit: (t3 - t2).as_secs_f64(),
            });
        }
        self.params.clear();
        self.data.clear();
    }

    /// Copies the first `len` f32s of `src` to `out`, after everything recorded so far:
    /// submits and waits for the GPU.
    pub(crate) fn read<T: bytemuck::Pod>(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        src: &wgpu::Buffer,
        len: usize,
        out: &mut Vec<T>,
    ) {
        out.clear();
        let size = (len * std::mem::size_of::<T>()) as u64;
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let staging = ensure(device, &mut self.staging, size, usage).buf.clone();
        if len > 0 {
            self.encoder(device).copy_buffer_to_buffer(src, 0, &staging, 0, size);
        }
        self.submit(queue);
        if len == 0 {
            return;
        }
        let t0 = Instant::now();
        let slice = staging.slice(..size);
        slice.map_async(wgpu::MapMode::Read, |r| r.expect("mapping the read-back buffer"));
        device.poll(wgpu::PollType::wait_indefinitely()).expect("waiting for the GPU");
        let t1 = Instant::now();
        {
            let view = slice.get_mapped_range().expect("mapped above");
            out.extend_from_slice(bytemuck::cast_slice(&view));
        }
        staging.unmap();
        if let Some(p) = &mut self.profiler {
            p.read((t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64());
        }
    }
}

/// `slot` (scratch or staging) as a buffer of at least `size` bytes with `usage`.
pub(crate) fn ensure<'a>(
    device: &wgpu::Device,
    slot: &'a mut Option<Scratch>,
    size: u64,
    usage: wgpu::BufferUsages,
) -> &'a Scratch {
    let size = size.max(4).next_multiple_of(4);
    if slot.as_ref().is_none_or(|s| s.size < size) {
        let buf = device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false });
        *slot = Some(Scratch { buf, id: next_id(), size });
    }
    slot.as_ref().expect("just set")
}

/// Workgroup counts for `n` workgroups laid out as x + y * nwg.x (x at most 65535).
pub(crate) fn groups_2d(n: usize) -> [u32; 3] {
    let n = n.max(1);
    let x = n.min(32768);
    [x as u32, n.div_ceil(x) as u32, 1]
}
