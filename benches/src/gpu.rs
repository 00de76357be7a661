//! `e2e-bench gpu`: the GPU backend against the GPU's own bandwidth.
//!
//! 1. Bandwidth, after a second of load so that clocks have risen: a large buffer-to-buffer
//!    copy repeated in one submission, and a compute kernel that reads a buffer once. The
//!    faster of the two is the bound that every share below is of.
//! 2. Each matmul kernel (one per weight type) on a weight larger than the caches (128 MiB by
//!    default, against an H100's 50 MB of L2): one activation row (decode) as GB/s of weight
//!    read and its share of the bound, and a prompt-sized batch as GFLOP/s. The
//!    products are timed back to back in one submission, each waiting for the one before (they
//!    write the same output), as a decode step's do; the activations are quantized once.
//! 3. Per model, a decode step split into the GPU's time and the host's (recording, submission,
//!    waiting, reading the logits back), then pp and tg as `rollama bench` measures them, tg
//!    next to its bound: the bytes of weights one token reads over the bandwidth bound.
//!
//! Times are GPU timestamps where the adapter has them, else the wall clock around submit and
//! wait (which then includes the submission's latency). The copy bandwidth counts the bytes
//! read plus the bytes written, as CUDA's `bandwidthTest` does, since both cross the memory
//! bus; a weight read by a kernel counts once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rollama_engine::backend::{Backend, GpuBackend};
use rollama_engine::bench::{measure, Test};
use rollama_engine::gguf::{GgmlType, GgufFile};
use rollama_engine::model::{self, Logits, Model};
use rollama_engine::sampler::Rng;

use crate::synth;

const USAGE: &str = "usage: e2e-bench gpu [--small] [--copy-mib N] [--weight-mib N] [--no-kernels]
       [-p 512] [-n 128] [-r 3] [--steps 32] [--check N] [--no-split] [--num-gpu N]
       [--make-smollm2 PATH] [--make-7b PATH [--layers 32]] [MODEL.gguf...]
  --check N: first decode N greedy tokens on the CPU and on the GPU and compare them (0: skip)
  --no-split: skip the per-kernel split of decode steps (a timestamp before each dispatch)
  --num-gpu N: also pp and tg with the last N layers on the GPU and the rest on the CPU
      (partial offload, as Ollama's num_gpu; default: half the layers; 0: skip)
  --make-smollm2 PATH, --make-7b PATH: write a random-weight model of that shape there, then
  measure it (with the models given; with neither, ~/.cache/rollama/models' SmolLM2)";

struct Args {
    copy_mib: u64,
    weight_mib: u64,
    cols: usize,
    /// Activation rows of the prompt-sized product.
    batch: usize,
    /// Seconds each kernel measurement aims at.
    target_s: f64,
    /// Seconds of reads before the first measurement.
    warm_s: f64,
    kernels: bool,
    pp: usize,
    tg: usize,
    reps: usize,
    steps: usize,
    /// Greedy tokens compared against the CPU backend per model (0: none).
    check: usize,
    /// Time each dispatch of a few decode steps (per-kernel table).
    kernel_split: bool,
    make_7b: Option<PathBuf>,
    make_smol: Option<PathBuf>,
    layers: usize,
    /// Layers on the GPU for the partial-offload run (None: half; Some(0): none).
    num_gpu: Option<usize>,
    models: Vec<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        copy_mib: 256,
        weight_mib: 128,
        cols: 4096,
        batch: 512,
        target_s: 0.05,
        warm_s: 1.0,
        kernels: true,
        pp: 512,
        tg: 128,
        reps: 3,
        steps: 32,
        check: 16,
        kernel_split: true,
        make_7b: None,
        make_smol: None,
        layers: 32,
        num_gpu: None,
        models: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut num = |flag: &str| {
            it.next().and_then(|v| v.parse::<usize>().ok()).ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))
        };
        match arg.as_str() {
            // Sizes at which a software rasterizer (lavapipe) answers in seconds.
            "--small" => {
                (a.copy_mib, a.weight_mib, a.cols, a.batch, a.target_s, a.warm_s) = (16, 2, 1024, 32, 0.02, 0.0);
                (a.pp, a.tg, a.reps, a.steps, a.check) = (16, 4, 1, 4, 4);
            }
            "--copy-mib" => a.copy_mib = num(arg)? as u64,
            "--weight-mib" => a.weight_mib = num(arg)? as u64,
            "--no-kernels" => a.kernels = false,
            "-p" => a.pp = num(arg)?,
            "-n" => a.tg = num(arg)?,
            "-r" => a.reps = num(arg)?.max(1),
            "--steps" => a.steps = num(arg)?.max(1),
            "--layers" => a.layers = num(arg)?.max(1),
            "--check" => a.check = num(arg)?,
            "--num-gpu" => a.num_gpu = Some(num(arg)?),
            "--no-split" => a.kernel_split = false,
            "--make-7b" | "--make-smollm2" => {
                let path = it.next().ok_or_else(|| format!("{arg} needs a path\n{USAGE}"))?.into();
                *if arg == "--make-7b" { &mut a.make_7b } else { &mut a.make_smol } = Some(path);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            f if f.starts_with('-') => return Err(format!("unknown flag {f}\n{USAGE}")),
            _ => a.models.push(PathBuf::from(arg)),
        }
    }
    if a.models.is_empty() && a.make_7b.is_none() && a.make_smol.is_none() {
        let smol = crate::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
        a.models.extend(smol.exists().then_some(smol));
    }
    Ok(a)
}

pub fn main(args: &[String]) {
    let mut a = parse_args(args).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let g = match GpuBackend::new() {
        Ok(g) => Arc::new(g),
        Err(e) => {
            eprintln!("no GPU backend: {e} (a Vulkan loader and driver are needed; ROLLAMA_GPU=0 must be unset)");
            std::process::exit(1)
        }
    };
    let clock = if g.has_timestamps() { "GPU timestamps" } else { "wall clock (no timestamp queries)" };
    println!("adapter: {}; timed by {clock}", g.adapter_name());

    // Clocks rise only under load: a second of reads first, so the first numbers are not
    // those of an idle GPU.
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < a.warm_s {
        g.time_reads(a.copy_mib << 20, 4);
    }
    let copy = copy_bandwidth(&g, a.copy_mib << 20, a.target_s);
    let read = read_bandwidth(&g, a.copy_mib << 20, a.target_s);
    // The bound: the faster of the two ways to move bytes, so that shares of it are not
    // flattered by a slow copy engine.
    let copy = copy.max(read);
    println!("bandwidth bound: {:.1} GB/s", copy / 1e9);
    if a.kernels {
        kernels(&g, &a, copy);
    }
    let smol = a.make_smol.clone().map(|p| (p, synth::Spec::smollm2()));
    let big = a.make_7b.clone().map(|p| (p, synth::Spec { n_layer: a.layers, ..synth::Spec::llama2_7b() }));
    for (path, spec) in smol.into_iter().chain(big) {
        let t = Instant::now();
        match synth::write(&path, &spec, 7) {
            Ok(bytes) => {
                println!(
                    "\nwrote {} (random weights, {} layers, {:.2} GB) in {:.1} s",
                    path.display(),
                    spec.n_layer,
                    bytes as f64 / 1e9,
                    t.elapsed().as_secs_f64()
                );
                a.models.push(path);
            }
            Err(e) => eprintln!("{}: {e}", path.display()),
        }
    }
    for path in &a.models {
        if let Err(e) = model_bench(&g, path, &a, copy) {
            eprintln!("{}: {e}", path.display());
        }
    }
}

/// Calls `f(reps)` (which returns seconds for `reps` repetitions) with as many repetitions as
/// fill `target_s` (at most `max_reps`); the best of three, in seconds per repetition.
fn per_rep(target_s: f64, max_reps: usize, mut f: impl FnMut(usize) -> f64) -> f64 {
    f(1);
    let once = f(1).max(1e-7);
    let reps = ((target_s / once) as usize).clamp(1, max_reps);
    (0..3).map(|_| f(reps) / reps as f64).fold(f64::INFINITY, f64::min)
}

/// Device-to-device copy bandwidth in bytes moved (read + written) per second.
fn copy_bandwidth(g: &GpuBackend, bytes: u64, target_s: f64) -> f64 {
    let bytes = bytes.min(g.max_buffer_size()) / 256 * 256;
    let t = per_rep(target_s, 1000, |reps| g.time_copies(bytes, reps).seconds);
    let moved = 2.0 * bytes as f64 / t;
    println!(
        "copy {} MiB: {:.1} GB/s moved (read + write), {:.1} GB/s read; {:.1} µs per copy",
        bytes >> 20,
        moved / 1e9,
        moved / 2e9,
        t * 1e6
    );
    moved
}

/// Read bandwidth of a compute kernel that reads each byte once, in bytes per second.
fn read_bandwidth(g: &GpuBackend, bytes: u64, target_s: f64) -> f64 {
    let t = per_rep(target_s, 1000, |reps| g.time_reads(bytes, reps).seconds);
    let read = bytes as f64 / t;
    println!("read {} MiB by a kernel: {:.1} GB/s; {:.1} µs per read", bytes >> 20, read / 1e9, t * 1e6);
    read
}

/// Every matmul kernel on a weight of at least `a.weight_mib` MiB.
fn kernels(g: &GpuBackend, a: &Args, copy: f64) {
    use GgmlType::*;
    let cols = a.cols;
    println!("\nmatmul kernels: one activation row (decode), then {} rows (prompt)", a.batch);
    println!("| type | weight | MiB | decode µs | GB/s | of bound | prompt ms | GFLOP/s |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut rng = Rng::new(42);
    let mut x = g.buffer(a.batch * cols);
    let act: Vec<f32> = (0..a.batch * cols).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
    g.write(&mut x, &act);
    for ty in [F32, F16, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K] {
        let row_bytes = ty.row_bytes(cols).expect("cols a multiple of 256");
        let rows = ((a.weight_mib << 20) as usize).div_ceil(row_bytes).next_multiple_of(64);
        let w = match g.upload_matrix(ty, rows, cols, &random_matrix(ty, rows, cols, &mut rng)) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{}: {e}", ty.name());
                continue;
            }
        };
        let mut out = g.buffer(a.batch * rows);
        let bytes = (rows * row_bytes) as f64;
        let dec = per_rep(a.target_s, 2000, |reps| g.time_matmuls(&w, &x, 1, &mut out, reps).seconds);
        let pp = per_rep(a.target_s, 200, |reps| g.time_matmuls(&w, &x, a.batch, &mut out, reps).seconds);
        let flops = 2.0 * (rows * cols * a.batch) as f64;
        println!(
            "| {} | {rows} x {cols} | {:.1} | {:.1} | {:.1} | {:.0}% | {:.2} | {:.0} |",
            ty.name(),
            bytes / (1 << 20) as f64,
            dec * 1e6,
            bytes / dec / 1e9,
            100.0 * bytes / dec / copy,
            pp * 1e3,
            flops / pp / 1e9
        );
    }
}

/// `rows` x `cols` of `ty`: a few random rows quantized, repeated in a random order (the
/// values do not matter to the speed, only that they are valid blocks).
fn random_matrix(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    const POOL: usize = 16;
    let row_bytes = ty.row_bytes(cols).expect("checked by the caller");
    let mut pool = vec![0u8; POOL * row_bytes];
    let mut v = vec![0f32; cols];
    for row in pool.chunks_exact_mut(row_bytes) {
        v.iter_mut().for_each(|x| *x = rng.next_f64() as f32 * 2.0 - 1.0);
        rollama_kernels::quantize_row(ty, &v, row).expect("a type with a quantizer");
    }
    let mut out = Vec::with_capacity(rows * row_bytes);
    for _ in 0..rows {
        let i = (rng.next_u64() % POOL as u64) as usize;
        out.extend_from_slice(&pool[i * row_bytes..(i + 1) * row_bytes]);
    }
    out
}

/// One model: the decode step split, then pp and tg with tg's bound.
fn model_bench(g: &Arc<GpuBackend>, path: &std::path::Path, a: &Args, copy: f64) -> Result<(), String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let t = Instant::now();
    let model = model::load(path, Arc::clone(g)).map_err(|e| e.to_string())?;
    let load_s = t.elapsed().as_secs_f64();
    let weights = GgufFile::open(path).map(|f| crate::bytes_per_token(&f) as f64).map_err(|e| e.to_string())?;
    let bound = copy / weights;
    println!(
        "\n{name}: loaded in {load_s:.1} s; {:.1} MB of weights per token, bound {:.1} t/s at the bandwidth bound",
        weights / 1e6,
        bound
    );
    if a.check > 0 {
        greedy_check(path, &*model, a.check)?;
    }
    let s = step_split(g, &*model, a.steps).map_err(|e| e.to_string())?;
    println!("decode step, mean of {} steps (ms):", a.steps);
    println!("| wall | GPU | host overhead | recording | submissions | GPU of wall | t/s | of bound |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let gpu = s.gpu.map_or("n/a".into(), |v| format!("{:.3}", v * 1e3));
    let over = s.gpu.map_or("n/a".into(), |v| format!("{:.3}", (s.wall - v) * 1e3));
    let share = s.gpu.map_or("n/a".into(), |v| format!("{:.0}%", 100.0 * v / s.wall));
    println!(
        "| {:.3} | {gpu} | {over} | {:.3} | {:.1} | {share} | {:.1} | {:.0}% |",
        s.wall * 1e3,
        s.record * 1e3,
        s.submits,
        1.0 / s.wall,
        100.0 / s.wall / bound
    );
    // The host's time after recording: the wait includes the GPU's time, so "wait - GPU" is
    // the latency of starting and of noticing the end; "other" is what no column covers.
    println!("after recording (ms): finish: wgpu encodes the command buffer; upload: the arenas' write_buffer;");
    println!("wait: submit's end to the result mapped (map_async, device.poll); copy out: reading the mapped bytes");
    println!("| finish | upload | submit | wait | wait - GPU | copy out | other |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let latency = s.gpu.map_or("n/a".into(), |v| format!("{:.3}", (s.wait - v) * 1e3));
    let other = s.wall - s.record - s.finish - s.upload - s.submit - s.wait - s.map;
    println!(
        "| {:.3} | {:.3} | {:.3} | {:.3} | {latency} | {:.3} | {:.3} |",
        s.finish * 1e3,
        s.upload * 1e3,
        s.submit * 1e3,
        s.wait * 1e3,
        s.map * 1e3,
        other * 1e3
    );
    if a.kernel_split {
        kernel_split(g, &*model, a.steps).map_err(|e| e.to_string())?;
    }
    println!("| model | test | t/s | bound t/s | of bound |\n| --- | ---: | ---: | ---: | ---: |");
    pp_tg(&*model, a, |test, label, r| {
        let (b, of) = match test {
            Test::Tg(_) => (format!("{bound:.1}"), format!("{:.0}%", 100.0 * r.mean / bound)),
            Test::Pp(_) => (String::new(), String::new()),
        };
        println!("| {name} | {label} | {:.2} ± {:.2} | {b} | {of} |", r.mean, r.stddev);
    })?;
    let n_layer = model.hparams().n_layer;
    drop(model);
    offload_bench(g, path, a, a.num_gpu.unwrap_or(n_layer / 2), &name)
}

/// pp and tg with the last `layers` layers on the GPU and the rest on the CPU (one pool
/// thread per core): what partial offload costs, activations crossing once per boundary.
fn offload_bench(
    g: &Arc<GpuBackend>,
    path: &std::path::Path,
    a: &Args,
    layers: usize,
    name: &str,
) -> Result<(), String> {
    if layers == 0 {
        return Ok(());
    }
    let cpu = Arc::new(rollama_engine::backend::CpuBackend::new(rollama_kernels::default_threads()));
    let file = Arc::new(GgufFile::open(path).map_err(|e| e.to_string())?);
    let (model, share) =
        model::load_offloaded(file, &cpu, g, Some(layers), &Default::default()).map_err(|e| e.to_string())?;
    println!("partial offload: {} ({:.0}% of the weights on the GPU)", model.backend_name(), share * 100.0);
    println!("| model | layers on the GPU | test | t/s |\n| --- | ---: | ---: | ---: |");
    pp_tg(&*model, a, |_, label, r| println!("| {name} | {layers} | {label} | {:.2} ± {:.2} |", r.mean, r.stddev))
}

/// Measures the pp and tg tests the flags ask for (a count of 0 skips one) and hands each
/// result to `row` with its label ("pp512").
fn pp_tg(
    model: &dyn Model,
    a: &Args,
    mut row: impl FnMut(Test, &str, &rollama_engine::bench::Rate),
) -> Result<(), String> {
    let mut rng = Rng::new(7);
    for (n, test, label) in [(a.pp, Test::Pp(a.pp), "pp"), (a.tg, Test::Tg(a.tg), "tg")] {
        if n == 0 {
            continue;
        }
        let r = measure(model, test, a.reps, &mut rng).map_err(|e| e.to_string())?;
        row(test, &format!("{label}{n}"), &r);
    }
    Ok(())
}

/// Decodes `steps` greedy tokens after a fixed random prompt on the GPU model and on the same
/// file loaded on the CPU backend, each from its own previous token, and prints how many
/// tokens agree and the largest logit difference over the steps where they still agree.
fn greedy_check(path: &std::path::Path, gpu: &dyn Model, steps: usize) -> Result<(), String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu =
        model::load(path, Arc::new(rollama_engine::backend::CpuBackend::new(threads))).map_err(|e| e.to_string())?;
    let n_vocab = gpu.hparams().n_vocab as u64;
    let mut rng = Rng::new(11);
    let prompt: Vec<u32> = (0..8).map(|_| (rng.next_u64() % n_vocab) as u32).collect();
    let argmax = |l: &[f32]| {
        l.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as u32
    };
    let mut sessions = (cpu.new_session(prompt.len() + steps + 1), gpu.new_session(prompt.len() + steps + 1));
    let (mut input_c, mut input_g) = (prompt.clone(), prompt);
    let (mut agree, mut worst, mut scale) = (0, 0f32, 0f32);
    for _ in 0..steps {
        let lc = cpu.forward(&mut sessions.0, &input_c, Logits::Last).map_err(|e| e.to_string())?;
        let lg = gpu.forward(&mut sessions.1, &input_g, Logits::Last).map_err(|e| e.to_string())?;
        let (tc, tg) = (argmax(&lc), argmax(&lg));
        if tc != tg {
            break;
        }
        agree += 1;
        for (x, y) in lc.iter().zip(&lg) {
            worst = worst.max((x - y).abs());
            scale = scale.max(x.abs());
        }
        (input_c, input_g) = (vec![tc], vec![tg]);
    }
    println!(
        "greedy check against the CPU: {agree} of {steps} tokens equal; max |logit difference| {worst:.3e} (max |logit| {scale:.3})"
    );
    Ok(())
}

/// Decode steps again with a timestamp before every dispatch (which perturbs the timing, so
/// apart from [`step_split`]): each kernel's GPU time per step, its barrier and launch gap
/// included, slowest first.
fn kernel_split(g: &GpuBackend, model: &dyn Model, steps: usize) -> Result<(), rollama_engine::model::ModelError> {
    let n_vocab = model.hparams().n_vocab as u64;
    let mut rng = Rng::new(5);
    let prompt: Vec<u32> = (0..8).map(|_| (rng.next_u64() % n_vocab) as u32).collect();
    let mut session = model.new_session(prompt.len() + steps + 2);
    model.forward(&mut session, &prompt, Logits::Last)?;
    g.set_profiling(true);
    if !g.set_dispatch_timing(true) {
        println!("(no timestamps inside compute passes: no per-kernel split)");
        g.set_profiling(false);
        return Ok(());
    }
    g.take_submissions();
    g.take_kernel_times();
    let mut total = 0.0;
    for _ in 0..steps {
        model.forward(&mut session, &[(rng.next_u64() % n_vocab) as u32], Logits::Last)?;
        total += g.take_submissions().iter().filter_map(|s| s.gpu_seconds).sum::<f64>();
    }
    let times = g.take_kernel_times();
    g.set_profiling(false);
    let n = steps as f64;
    println!(
        "per kernel, timestamp before each dispatch, mean of {steps} steps: GPU {:.3} ms per step",
        total / n * 1e3
    );
    println!("| kernel | dispatches | µs per step | µs per dispatch | share |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for k in &times {
        println!(
            "| {} | {:.0} | {:.1} | {:.2} | {:.0}% |",
            k.name,
            k.dispatches as f64 / n,
            k.seconds / n * 1e6,
            k.seconds / k.dispatches.max(1) as f64 * 1e6,
            100.0 * k.seconds / total.max(1e-12)
        );
    }
    Ok(())
}

/// Means over the measured decode steps, in seconds.
struct Split {
    wall: f64,
    /// Sum of the step's submissions' GPU times (None without timestamps).
    gpu: Option<f64>,
    /// From the step's start to its first submission: recording the dispatches.
    record: f64,
    submits: f64,
    /// The host's time after recording, summed over the step's submissions (see
    /// `rollama_engine::backend::gpu::Submission`).
    finish: f64,
    upload: f64,
    submit: f64,
    wait: f64,
    map: f64,
}

fn step_split(g: &GpuBackend, model: &dyn Model, steps: usize) -> Result<Split, rollama_engine::model::ModelError> {
    let n_vocab = model.hparams().n_vocab as u64;
    let mut rng = Rng::new(3);
    let mut tok = || (rng.next_u64() % n_vocab) as u32;
    let prompt: Vec<u32> = (0..8).map(|_| tok()).collect();
    let warm = 2;
    let mut session = model.new_session(prompt.len() + warm + steps + 1);
    model.forward(&mut session, &prompt, Logits::Last)?;
    for _ in 0..warm {
        model.forward(&mut session, &[tok()], Logits::Last)?;
    }
    g.set_profiling(true);
    g.take_submissions();
    let (mut wall, mut gpu, mut record, mut submits) = (0.0, Some(0.0), 0.0, 0);
    let (mut finish, mut upload, mut submit, mut wait, mut map) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for _ in 0..steps {
        let t = tok();
        let start = Instant::now();
        model.forward(&mut session, &[t], Logits::Last)?;
        wall += start.elapsed().as_secs_f64();
        let subs = g.take_submissions();
        record += subs.first().map_or(0.0, |s| s.submitted.duration_since(start).as_secs_f64());
        submits += subs.len();
        gpu = gpu.zip(subs.iter().map(|s| s.gpu_seconds).sum::<Option<f64>>()).map(|(a, b)| a + b);
        for s in &subs {
            finish += s.finish_seconds;
            upload += s.upload_seconds;
            submit += s.submit_seconds;
            wait += s.wait_seconds;
            map += s.map_seconds;
        }
    }
    g.set_profiling(false);
    let n = steps as f64;
    Ok(Split {
        wall: wall / n,
        gpu: gpu.map(|v| v / n),
        record: record / n,
        submits: submits as f64 / n,
        finish: finish / n,
        upload: upload / n,
        submit: submit / n,
        wait: wait / n,
        map: map / n,
    })
}
