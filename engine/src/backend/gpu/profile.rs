//! Measuring the GPU backend, for the benchmarks (`rollama-benches gpu`): how long the GPU
//! spends on each submission, how fast it copies memory, and how fast one matmul kernel runs.
//!
//! While profiling is on, the [`Recorder`] opens every command buffer with a timestamp and
//! closes it with another ([`Profiler::begin`], [`Profiler::end`]), so that a decode step's
//! GPU time can be told from the host's time to record, submit and wait for it. A timestamp is
//! an empty compute pass that writes one at its start: that needs only
//! `wgpu::Features::TIMESTAMP_QUERY` (the device asks for it where the adapter has it), and
//! wgpu's Vulkan backend writes it at the bottom of the pipe, that is once all earlier commands
//! are done. Where the adapter has no timestamps, [`Submission::gpu_seconds`] is None and the
//! measurements below fall back to the wall clock around submit and wait.

use std::time::Instant;

use rollama_kernels::GgmlType;

use super::device::{Bind, Recorder};
use super::{GpuBackend, GpuBuf, GpuWeight};
use crate::model::ModelError;

/// Timestamps one profiler can hold between two [`GpuBackend::take_submissions`].
const QUERIES: u32 = 4096;

/// One command buffer submitted while profiling was on. The host's seconds are measured
/// around each call, so that what a step spends between recording and having its result
/// can be told apart.
#[derive(Debug, Clone, Copy)]
pub struct Submission {
    /// When the host had recorded it and called submit.
    pub submitted: Instant,
    /// The GPU's time from its start to its end; None without timestamps (or once the
    /// profiler's queries ran out before a take).
    pub gpu_seconds: Option<f64>,
    /// Finishing the command buffer: wgpu turns the recorded passes into Vulkan commands
    /// (barriers included) here, not while recording.
    pub finish_seconds: f64,
    /// Writing the params and data arenas (`write_buffer`).
    pub upload_seconds: f64,
    /// `queue.submit`: wgpu's checks and resource tracking, then the driver's submit.
    pub submit_seconds: f64,
    /// For the submission a read waited for: from the end of submit until the GPU was done
    /// and the read-back buffer mapped (`map_async` and `device.poll`), which includes the
    /// GPU's own time.
    pub wait_seconds: f64,
    /// For the submission a read waited for: copying the mapped bytes out and unmapping.
    pub map_seconds: f64,
}

/// The host's seconds inside one [`Recorder::submit`], see [`Submission`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SubmitTimes {
    pub(crate) finish: f64,
    pub(crate) upload: f64,
    pub(crate) submit: f64,
}

/// A measured span of GPU work.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub seconds: f64,
    /// Measured by GPU timestamps (else by the host's clock around submit and wait).
    pub gpu_clock: bool,
}

struct Queries {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Queries written since the last take.
    used: u32,
}

/// GPU time spent in one kernel, summed over the dispatches timed (see
/// [`GpuBackend::set_dispatch_timing`]).
#[derive(Debug, Clone)]
pub struct KernelTime {
    pub name: &'static str,
    pub dispatches: usize,
    /// From each dispatch's timestamp to the next one: its run, and the barrier and launch
    /// before the next dispatch.
    pub seconds: f64,
}

/// The timestamps of the submissions since the last take.
pub(crate) struct Profiler {
    queries: Option<Queries>,
    /// Per submission: what is known of it so far, and the indices of its first and last
    /// timestamps.
    submits: Vec<(Submission, Option<(u32, u32)>)>,
    /// The first timestamp of the command buffer being recorded.
    open: Option<u32>,
    /// Whether each dispatch gets a timestamp (needs TIMESTAMP_QUERY_INSIDE_PASSES).
    per_dispatch: bool,
    /// The timestamp index and kernel of each dispatch stamped since the last take.
    dispatches: Vec<(u32, &'static str)>,
    kernels: Vec<KernelTime>,
}

impl Profiler {
    fn new(device: &wgpu::Device) -> Profiler {
        let queries = device.features().contains(wgpu::Features::TIMESTAMP_QUERY).then(|| {
            let set = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("profiler"),
                ty: wgpu::QueryType::Timestamp,
                count: QUERIES,
            });
            let buffer = |usage| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("profiler"),
                    size: u64::from(QUERIES) * 8,
                    usage,
                    mapped_at_creation: false,
                })
            };
            Queries {
                set,
                resolve: buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
                readback: buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
                used: 0,
            }
        });
        Profiler {
            queries,
            submits: Vec::new(),
            open: None,
            per_dispatch: false,
            dispatches: Vec::new(),
            kernels: Vec::new(),
        }
    }

    /// Writes the next timestamp into `encoder`, returning its index (None when there is none).
    fn stamp(&mut self, encoder: &mut wgpu::CommandEncoder) -> Option<u32> {
        let q = self.queries.as_mut().filter(|q| q.used < QUERIES)?;
        let writes = wgpu::ComputePassTimestampWrites {
            query_set: &q.set,
            beginning_of_pass_write_index: Some(q.used),
            end_of_pass_write_index: None,
        };
        let desc = wgpu::ComputePassDescriptor { label: Some("timestamp"), timestamp_writes: Some(writes) };
        drop(encoder.begin_compute_pass(&desc));
        q.used += 1;
        Some(q.used - 1)
    }

    /// Called for a new command buffer, before anything is recorded into it.
    pub(crate) fn begin(&mut self, encoder: &mut wgpu::CommandEncoder) {
        // Room for the closing timestamp too, so that every opened one is closed.
        let room = self.queries.as_ref().is_some_and(|q| q.used + 2 <= QUERIES);
        self.open = if room { self.stamp(encoder) } else { None };
    }

    /// Called just before the command buffer is finished and submitted.
    pub(crate) fn end(&mut self, encoder: &mut wgpu::CommandEncoder) {
        let first = self.open.take();
        let span = first.and_then(|f| self.stamp(encoder).map(|last| (f, last)));
        let s = Submission {
            submitted: Instant::now(),
            gpu_seconds: None,
            finish_seconds: 0.0,
            upload_seconds: 0.0,
            submit_seconds: 0.0,
            wait_seconds: 0.0,
            map_seconds: 0.0,
        };
        self.submits.push((s, span));
    }

    /// Writes a timestamp before a dispatch of kernel `name` into the open pass, when
    /// per-dispatch timing is on (and room is left for the command buffer's closing one).
    pub(crate) fn stamp_dispatch(&mut self, pass: &mut wgpu::ComputePass<'static>, name: &'static str) {
        if !self.per_dispatch || self.open.is_none() {
            return;
        }
        let Some(q) = self.queries.as_mut().filter(|q| q.used + 2 <= QUERIES) else { return };
        pass.write_timestamp(&q.set, q.used);
        self.dispatches.push((q.used, name));
        q.used += 1;
    }

    /// Called once the command buffer [`Profiler::end`] closed is submitted.
    pub(crate) fn submitted(&mut self, t: SubmitTimes) {
        if let Some((s, _)) = self.submits.last_mut() {
            (s.finish_seconds, s.upload_seconds, s.submit_seconds) = (t.finish, t.upload, t.submit);
        }
    }

    /// Called when a read has waited for the last submission and copied its result out.
    pub(crate) fn read(&mut self, wait: f64, map: f64) {
        if let Some((s, _)) = self.submits.last_mut() {
            s.wait_seconds += wait;
            s.map_seconds += map;
        }
    }
}

impl GpuBackend {
    /// Whether the device writes GPU timestamps (else timings are the host's wall clock).
    pub fn has_timestamps(&self) -> bool {
        self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Turns the timing of every submission on or off (off, the default, costs nothing).
    pub fn set_profiling(&self, on: bool) {
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.submit(&self.queue);
        rec.profiler = on.then(|| Profiler::new(&self.device));
    }

    /// While profiling is on: whether each dispatch is timed too (see [`KernelTime`]); false
    /// where the adapter cannot write timestamps inside a compute pass.
    pub fn set_dispatch_timing(&self, on: bool) -> bool {
        let can = self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.submit(&self.queue);
        match rec.profiler.as_mut() {
            Some(p) => {
                p.per_dispatch = on && can;
                p.per_dispatch
            }
            None => false,
        }
    }

    /// The kernels' summed times since the last call, slowest first (after a
    /// [`GpuBackend::take_submissions`], which reads the timestamps).
    pub fn take_kernel_times(&self) -> Vec<KernelTime> {
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = rec.profiler.as_mut().map(|p| std::mem::take(&mut p.kernels)).unwrap_or_default();
        v.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        v
    }

    /// Submits what is pending and waits until the GPU is idle.
    pub fn finish(&self) {
        self.rec.lock().unwrap_or_else(|e| e.into_inner()).submit(&self.queue);
        self.wait();
    }

    fn wait(&self) {
        self.device.poll(wgpu::PollType::wait_indefinitely()).expect("waiting for the GPU");
    }

    /// The submissions since the last take (pending commands are submitted first), with
    /// their GPU times; empty while profiling is off. Waits for the GPU.
    pub fn take_submissions(&self) -> Vec<Submission> {
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        rec.submit(&self.queue);
        let Some(p) = rec.profiler.as_mut() else { return Vec::new() };
        let mut ticks = Vec::new();
        if let Some(q) = p.queries.as_mut().filter(|q| q.used > 0) {
            let bytes = u64::from(q.used) * 8;
            // Its own command buffer, which the profiler does not time.
            let mut encoder = self.device.create_command_encoder(&Default::default());
            encoder.resolve_query_set(&q.set, 0..q.used, &q.resolve, 0);
            encoder.copy_buffer_to_buffer(&q.resolve, 0, &q.readback, 0, bytes);
            self.queue.submit([encoder.finish()]);
            let slice = q.readback.slice(..bytes);
            slice.map_async(wgpu::MapMode::Read, |r| r.expect("mapping the timestamps"));
            self.wait();
            ticks.extend_from_slice(bytemuck::cast_slice::<u8, u64>(&slice.get_mapped_range().expect("mapped above")));
            q.readback.unmap();
            q.used = 0;
        } else {
            self.wait();
        }
        let ns = f64::from(self.queue.get_timestamp_period());
        // A dispatch's stamp is always followed by another one (the next dispatch's or the
        // command buffer's closing stamp), so its time is up to the next index.
        for (i, name) in std::mem::take(&mut p.dispatches) {
            let (Some(&t0), Some(&t1)) = (ticks.get(i as usize), ticks.get(i as usize + 1)) else { continue };
            if t1 < t0 {
                continue;
            }
            let seconds = (t1 - t0) as f64 * ns * 1e-9;
            match p.kernels.iter_mut().find(|k| k.name == name) {
                Some(k) => {
                    k.dispatches += 1;
                    k.seconds += seconds;
                }
                None => p.kernels.push(KernelTime { name, dispatches: 1, seconds }),
            }
        }
        p.submits
            .drain(..)
            .map(|(s, first)| {
                let gpu_seconds = first.and_then(|(i, j)| {
                    let (t0, t1) = (ticks[i as usize], ticks[j as usize]);
                    (t1 >= t0).then(|| (t1 - t0) as f64 * ns * 1e-9)
                });
                Submission { gpu_seconds, ..s }
            })
            .collect()
    }

    /// Records with `record` (one command buffer, unless the recorder's arenas fill up),
    /// submits and waits: the GPU time of what was submitted, or the wall time from the
    /// first submit to idle without timestamps.
    pub(crate) fn time_submission(&self, record: impl FnOnce(&mut Recorder)) -> Timing {
        let was_on = {
            let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
            rec.submit(&self.queue);
            rec.profiler.is_some()
        };
        if was_on {
            self.take_submissions();
        } else {
            self.set_profiling(true);
        }
        let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        record(&mut rec);
        rec.submit(&self.queue);
        drop(rec);
        self.wait();
        let done = Instant::now();
        let s = self.take_submissions();
        if !was_on {
            self.set_profiling(false);
        }
        match s.iter().map(|s| s.gpu_seconds).sum::<Option<f64>>() {
            Some(seconds) if !s.is_empty() => Timing { seconds, gpu_clock: true },
            _ => {
                let start = s.first().map_or(done, |s| s.submitted);
                Timing { seconds: done.duration_since(start).as_secs_f64(), gpu_clock: false }
            }
        }
    }

    /// The largest buffer the device allows, in bytes.
    pub fn max_buffer_size(&self) -> u64 {
        self.device.limits().max_buffer_size
    }

    /// `reps` copies of `bytes` bytes from one device buffer to another in one submission.
    /// The caller divides: a copy reads `bytes` and writes `bytes`.
    pub fn time_copies(&self, bytes: u64, reps: usize) -> Timing {
        let bytes = bytes.min(self.max_buffer_size()) / 256 * 256;
        let buffer = |usage| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        let src = buffer(wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST);
        let dst = buffer(wgpu::BufferUsages::COPY_DST);
        // Touch both once, so that first-use costs (allocation, zeroing) are not timed.
        {
            let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
            rec.encoder(&self.device).clear_buffer(&src, 0, None);
            rec.encoder(&self.device).copy_buffer_to_buffer(&src, 0, &dst, 0, bytes);
        }
        self.finish();
        self.time_submission(|rec| {
            for _ in 0..reps {
                rec.encoder(&self.device).copy_buffer_to_buffer(&src, 0, &dst, 0, bytes);
            }
        })
    }

    /// A `rows` x `cols` matrix of type `ty` from its GGUF bytes, as a model's weight.
    pub fn upload_matrix(&self, ty: GgmlType, rows: usize, cols: usize, data: &[u8]) -> Result<GpuWeight, ModelError> {
        let bad = |why: String| ModelError::tensor("benchmark matrix", why);
        if !rollama_shaders::get_rows_supports(ty as u32) {
            return Err(bad(format!("no GPU kernel for {}", ty.name())));
        }
        let need = ty.row_bytes(cols).map(|b| b * rows);
        if need != Some(data.len()) {
            return Err(bad(format!("{} bytes for {rows} x {cols} {}", data.len(), ty.name())));
        }
        self.upload_matrix_as("benchmark matrix", ty, rows, cols, data)
    }

    /// `reps` products of `w` with the same `rows` activation rows of `x` in one submission,
    /// the matmul kernel alone: the activations are quantized once beforehand. Each product
    /// writes `out`, so each waits for the one before, as a decode step's products do.
    pub fn time_matmuls(&self, w: &GpuWeight, x: &GpuBuf, rows: usize, out: &mut GpuBuf, reps: usize) -> Timing {
        // Into a buffer of its own: the recorder's scratch is shared, and another thread's
        // product may quantize into it before the timed ones run.
        let act = {
            let mut rec = self.rec.lock().unwrap_or_else(|e| e.into_inner());
            let shared = rec.scratch.take();
            let act = self.quantize_act(&mut rec, w, x, rows);
            rec.scratch = shared;
            act
        };
        self.finish();
        self.time_submission(|rec| {
            for _ in 0..reps {
                let a = match &act {
                    Some((b, id)) => Bind::Buf(b, *id),
                    None => super::buf(x),
                };
                self.record_matmul(rec, w, a, rows, out);
            }
        })
    }
}
