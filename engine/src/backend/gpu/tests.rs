//! Every op of the GPU backend against the CPU backend on random data, at sizes that are not
//! multiples of the workgroup sizes, each within a per-op normalized mean squared error, with
//! both arith parts (f64 where the adapter has it, plain f32); and, with f64, the ops of the
//! llama architecture and the Q4_0/Q4_1/Q5_0/Q8_0 matmuls equal to the CPU's to the bit.
//!
//! The tests run on whatever Vulkan adapter exists (lavapipe, Mesa's software driver, counts).
//! Without one they print a note and pass, unless `ROLLAMA_REQUIRE_GPU=1` (set by CI after
//! installing lavapipe), which makes a missing adapter a failure.

use std::sync::{Arc, OnceLock};

use half::f16;
use rollama_kernels::GgmlType;
use wgpu::util::DeviceExt;

use super::{Arith, GpuBackend, GpuBuf};
use crate::backend::{Attention, Backend, CpuBackend, KvShape, Rope, RopeKind, WeightSource};
use crate::gguf::{GgufFile, GgufWriter};

/// The shared backend (compiling every kernel once), or None when there is no adapter.
pub(crate) fn gpu() -> Option<&'static GpuBackend> {
    static GPU: OnceLock<Option<GpuBackend>> = OnceLock::new();
    GPU.get_or_init(|| match GpuBackend::new() {
        Ok(g) => {
            eprintln!("GPU tests on {}", g.adapter_name());
            Some(g)
        }
        Err(e) => {
            if std::env::var("ROLLAMA_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("ROLLAMA_REQUIRE_GPU=1 but no GPU backend: {e}");
            }
            eprintln!("skipping GPU tests: {e}");
            None
        }
    })
    .as_ref()
}

/// The shared backend, then one with the other arith part where the adapter allows it, then
/// (where the f32 one took subgroup variants) an f32 one with the fallbacks.
fn backends() -> Vec<&'static GpuBackend> {
    static OTHER: OnceLock<Option<GpuBackend>> = OnceLock::new();
    static FALLBACK: OnceLock<Option<GpuBackend>> = OnceLock::new();
    let Some(g) = gpu() else { return Vec::new() };
    let other = match g.arith() {
        Arith::F64 => Arith::F32,
        Arith::F32 => Arith::F64,
    };
    let o = OTHER.get_or_init(|| GpuBackend::open_with(true, Some(other)).ok());
    let mut v: Vec<&'static GpuBackend> = std::iter::once(g).chain(o.as_ref()).collect();
    if v.iter().any(|b| b.arith() == Arith::F32 && b.variants().subgroups) {
        let f = FALLBACK.get_or_init(|| GpuBackend::open_variants(true, Some(Arith::F32), false).ok());
        v.extend(f.as_ref());
    }
    v
}

/// A backend with f64 steps, where the adapter has f64.
fn exact_gpu() -> Option<&'static GpuBackend> {
    backends().into_iter().find(|g| g.arith() == Arith::F64)
}

fn cpu() -> CpuBackend {
    CpuBackend::new(2)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    /// Uniform in [-1, 1).
    fn f(&mut self) -> f32 {
        (self.next() as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn upload(g: &GpuBackend, x: &[f32]) -> GpuBuf {
    let b = g.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(x),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    });
    GpuBuf { buf: b, len: x.len(), id: super::next_id() }
}

fn read(g: &GpuBackend, b: &GpuBuf, len: usize) -> Vec<f32> {
    let mut out = Vec::new();
    g.read(b, len, &mut out);
    out
}

/// sum((a - b)^2) / sum(b^2).
fn nmse(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let num: f64 = got.iter().zip(want).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum();
    let den: f64 = want.iter().map(|&b| f64::from(b).powi(2)).sum();
    if den == 0.0 {
        num
    } else {
        num / den
    }
}

fn check(op: &str, got: &[f32], want: &[f32], tol: f64) {
    assert!(got.iter().all(|v| v.is_finite()), "{op}: non-finite output");
    let e = nmse(got, want);
    eprintln!("{op}: nmse {e:e}");
    assert!(e <= tol, "{op}: nmse {e:e} > {tol:e}");
}

/// Asserts `got` equals `want` to the bit (0 and -0 aside, and a subnormal CPU result that the
/// GPU flushed to zero: WGSL lets f32 subnormals flush, and NVIDIA's Vulkan driver does so).
fn same_bits(op: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    let flushed = |g: f32, w: f32| g == 0.0 && w.is_subnormal();
    let bad: Vec<usize> = (0..want.len())
        .filter(|&i| got[i] != want[i] && !(got[i].is_nan() && want[i].is_nan()) && !flushed(got[i], want[i]))
        .collect();
    if let Some(&i) = bad.first() {
        panic!("{op}: {} of {} differ; first at {i}: gpu {:e} cpu {:e}", bad.len(), want.len(), got[i], want[i]);
    }
    eprintln!("{op}: all {} equal", want.len());
}

/// Random bytes of a `[rows, cols]` matrix in `ty`, with every scale field set to a sane f16
/// so that values stay finite and of order one.
fn random_matrix(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let row_bytes = ty.row_bytes(cols).unwrap();
    if ty == GgmlType::F32 {
        return bytemuck::cast_slice(&rng.vec(rows * cols)).to_vec();
    }
    if ty == GgmlType::F16 {
        return rng.vec(rows * cols).iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect();
    }
    let mut data = rng.bytes(rows * row_bytes);
    let (block, fields): (usize, &[usize]) = match ty {
        GgmlType::Q4_0 => (18, &[0]),
        GgmlType::Q4_1 => (20, &[0, 2]),
        GgmlType::Q5_0 => (22, &[0]),
        GgmlType::Q8_0 => (34, &[0]),
        GgmlType::Q4_K => (144, &[0, 2]),
        GgmlType::Q6_K => (210, &[208]),
        _ => unreachable!(),
    };
    for b in data.chunks_exact_mut(block) {
        for &f in fields {
            let v = f16::from_f32(0.002 + 0.02 * (rng.f() + 1.0));
            b[f..f + 2].copy_from_slice(&v.to_le_bytes());
        }
    }
    data
}

/// A GGUF in memory holding one tensor `w` with `dims` (GGUF order: row length first).
fn gguf(ty: GgmlType, dims: &[u64], data: Vec<u8>) -> Arc<GgufFile> {
    let mut w = GgufWriter::new();
    w.add_str("general.architecture", "test");
    w.add_tensor("w", ty, dims, data).unwrap();
    Arc::new(GgufFile::from_bytes(w.to_bytes()).unwrap())
}

fn weights(file: &Arc<GgufFile>, g: &GpuBackend) -> (crate::backend::cpu::CpuWeight, super::GpuWeight) {
    let info = file.tensor_info("w").unwrap();
    let c = cpu().load_weight(WeightSource { file, info }).unwrap();
    let w = g.load_weight(WeightSource { file, info }).unwrap();
    (c, w)
}

const TYPES: [GgmlType; 8] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
];

fn cols_for(ty: GgmlType) -> usize {
    match ty {
        GgmlType::F32 | GgmlType::F16 => 100,
        GgmlType::Q4_K | GgmlType::Q6_K => 768,
        _ => 320,
    }
}

#[test]
fn get_rows_every_type() {
    for g in backends() {
        let mut rng = Rng(1);
        for ty in TYPES {
            let (rows, cols) = (19, cols_for(ty));
            let file = gguf(ty, &[cols as u64, rows as u64], random_matrix(&mut rng, ty, rows, cols));
            let (cw, gw) = weights(&file, g);
            let ids = [3u32, 0, 18, 7, 7, 11];
            let mut want = vec![0f32; ids.len() * cols];
            cpu().get_rows(&cw, &ids, &mut want);
            let mut out = g.buffer(ids.len() * cols);
            g.get_rows(&gw, &ids, &mut out);
            check(&format!("get_rows {}", ty.name()), &read(g, &out, want.len()), &want, 1e-14);
        }
    }
}

#[test]
fn matmul_every_type() {
    for g in backends() {
        let mut rng = Rng(2);
        for ty in TYPES {
            // 37 weight rows, activation batches of 1 (decoding), 3 and 13 (tiles of 8 and a rest).
            let (rows, cols) = (37, cols_for(ty));
            let file = gguf(ty, &[cols as u64, rows as u64], random_matrix(&mut rng, ty, rows, cols));
            let (cw, gw) = weights(&file, g);
            for n in [1, 3, 13] {
                let x = rng.vec(n * cols);
                let mut want = vec![0f32; n * rows];
                cpu().matmul(&cw, &x, n, &mut want);
                let mut out = g.buffer(n * rows);
                g.matmul(&gw, &upload(g, &x), n, &mut out);
                check(&format!("matmul {} n={n}", ty.name()), &read(g, &out, want.len()), &want, 1e-11);
            }
        }
    }
}

/// Rows of many pieces, so that each invocation of the f32 products takes several.
#[test]
fn matmul_wide_rows() {
    for g in backends() {
        let mut rng = Rng(14);
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K] {
            let (rows, cols) = (9, 2816);
            let file = gguf(ty, &[cols as u64, rows as u64], random_matrix(&mut rng, ty, rows, cols));
            let (cw, gw) = weights(&file, g);
            for n in [1, 5, 9] {
                let x = rng.vec(n * cols);
                let mut want = vec![0f32; n * rows];
                cpu().matmul(&cw, &x, n, &mut want);
                let mut out = g.buffer(n * rows);
                g.matmul(&gw, &upload(g, &x), n, &mut out);
                check(&format!("wide matmul {} n={n}", ty.name()), &read(g, &out, want.len()), &want, 1e-11);
            }
        }
    }
}

/// A matrix larger than the largest storage binding is held in parts of whole rows; products
/// and row lookups over the parts equal those over one buffer (to the bit with f64 steps).
#[test]
fn weights_split_across_bindings() {
    let Some(g) = gpu() else { return };
    // Its own backend: the cap applies to every weight loaded after it.
    let g = GpuBackend::open_with(true, Some(g.arith())).unwrap();
    let mut rng = Rng(40);
    for ty in [GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q4_1] {
        let (rows, cols) = (45, cols_for(ty));
        let data = random_matrix(&mut rng, ty, rows, cols);
        let row_bytes = ty.row_bytes(cols).unwrap() as u64;
        let file = gguf(ty, &[cols as u64, rows as u64], data);
        // Parts of 10 rows (the last one 5).
        g.set_max_binding(10 * row_bytes + 3);
        let (cw, gw) = weights(&file, &g);
        assert_eq!(gw.parts.len(), 5, "{}", ty.name());
        g.set_max_binding(row_bytes - 1);
        let info = file.tensor_info("w").unwrap();
        assert!(g.load_weight(WeightSource { file: &file, info }).is_err(), "a row larger than a binding");
        g.set_max_binding(u64::from(u32::MAX));
        for n in [1, 6] {
            let x = rng.vec(n * cols);
            let mut want = vec![0f32; n * rows];
            cpu().matmul(&cw, &x, n, &mut want);
            let mut out = g.buffer(n * rows);
            g.matmul(&gw, &upload(&g, &x), n, &mut out);
            let what = format!("split matmul {} n={n}", ty.name());
            if g.arith() == Arith::F64 {
                same_bits(&what, &read(&g, &out, want.len()), &want);
            } else {
                check(&what, &read(&g, &out, want.len()), &want, 1e-11);
            }
        }
        let ids = [44u32, 0, 9, 10, 29, 30, 31, 40];
        let mut want = vec![0f32; ids.len() * cols];
        cpu().get_rows(&cw, &ids, &mut want);
        let mut out = g.buffer(ids.len() * cols);
        g.get_rows(&gw, &ids, &mut out);
        same_bits(&format!("split get_rows {}", ty.name()), &read(&g, &out, want.len()), &want);
    }
}

/// The measuring entry points of `profile.rs`: a timed product gives the same result as
/// `matmul`, and with profiling on each submission is reported (with its GPU time where the
/// adapter has timestamps). The only test that turns profiling on, since the backend is shared.
#[test]
fn profiling_and_timed_kernels() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng(20);
    let (ty, rows, cols, n) = (GgmlType::Q4_K, 37, 768, 3);
    let data = random_matrix(&mut rng, ty, rows, cols);
    assert!(g.upload_matrix(ty, rows + 1, cols, &data).is_err(), "a size that does not match");
    let w = g.upload_matrix(ty, rows, cols, &data).unwrap();
    let (cw, _) = weights(&gguf(ty, &[cols as u64, rows as u64], data), g);
    let x = rng.vec(n * cols);
    let mut want = vec![0f32; n * rows];
    cpu().matmul(&cw, &x, n, &mut want);
    let xb = upload(g, &x);
    let mut out = g.buffer(n * rows);
    let t = g.time_matmuls(&w, &xb, n, &mut out, 4);
    assert!(t.seconds > 0.0 && t.gpu_clock == g.has_timestamps(), "{t:?}");
    check("time_matmuls", &read(g, &out, want.len()), &want, 1e-11);
    let c = g.time_copies(1 << 20, 3);
    assert!(c.seconds > 0.0, "{c:?}");

    g.set_profiling(true);
    g.take_submissions();
    let mut one = g.buffer(rows);
    g.matmul(&w, &xb, 1, &mut one);
    read(g, &one, rows);
    let subs = g.take_submissions();
    g.set_profiling(false);
    assert!(!subs.is_empty());
    if g.has_timestamps() {
        assert!(subs.iter().any(|s| s.gpu_seconds.is_some_and(|t| t > 0.0)), "{subs:?}");
    }
    assert!(g.take_submissions().is_empty(), "nothing is recorded while profiling is off");
}

#[test]
fn rms_norm_and_bias() {
    for g in backends() {
        let mut rng = Rng(3);
        let (rows, width) = (5, 300);
        let file = gguf(GgmlType::F32, &[width as u64], bytemuck::cast_slice(&rng.vec(width)).to_vec());
        let (cw, gw) = weights(&file, g);
        let x = rng.vec(rows * width);
        let mut want = vec![0f32; rows * width];
        cpu().rms_norm(&x, &cw, 1e-6, rows, width, &mut want);
        let mut out = g.buffer(rows * width);
        g.rms_norm(&upload(g, &x), &gw, 1e-6, rows, width, &mut out);
        check("rms_norm", &read(g, &out, want.len()), &want, 1e-12);

        cpu().add_bias(&mut want, &cw, rows);
        g.add_bias(&mut out, &gw, rows);
        check("add_bias", &read(g, &out, want.len()), &want, 1e-14);
    }
}

#[test]
fn rope_both_kinds() {
    for g in backends() {
        let mut rng = Rng(4);
        let (n_heads, head_dim, rows, pos0) = (3, 40, 6, 1000);
        for (kind, n_dims, factors) in [
            (RopeKind::Normal, 40, None),
            (RopeKind::Neox, 40, None),
            (RopeKind::Neox, 32, Some(Arc::new((0..16).map(|i| 1.0 + i as f32 * 0.5).collect::<Vec<_>>()))),
            (RopeKind::Normal, 24, Some(Arc::new((0..12).map(|i| 1.0 + i as f32).collect::<Vec<_>>()))),
        ] {
            let rope = Rope { kind, n_dims, freq_base: 10000.0, freq_scale: 0.5, freq_factors: factors };
            let mut want = rng.vec(rows * n_heads * head_dim);
            let mut x = upload(g, &want);
            cpu().rope(&mut want, &rope, n_heads, head_dim, pos0, rows);
            g.rope(&mut x, &rope, n_heads, head_dim, pos0, rows);
            check(&format!("rope {kind:?} n_dims={n_dims}"), &read(g, &x, want.len()), &want, 1e-12);
        }
    }
}

#[test]
fn elementwise_ops() {
    for g in backends() {
        let mut rng = Rng(5);
        let len = 1000;
        let (a, b) = (rng.vec(len).iter().map(|v| v * 6.0).collect::<Vec<_>>(), rng.vec(len));
        let (ga, gb) = (upload(g, &a), upload(g, &b));

        let mut want = vec![0f32; len];
        let mut out = g.buffer(len);
        cpu().swiglu(&a, &b, len, &mut want);
        g.swiglu(&ga, &gb, len, &mut out);
        check("swiglu", &read(g, &out, len), &want, 1e-12);

        cpu().geglu(&a, &b, len, &mut want);
        g.geglu(&ga, &gb, len, &mut out);
        check("geglu", &read(g, &out, len), &want, 1e-9);

        let mut x = a.clone();
        let mut gx = upload(g, &a);
        cpu().scale(&mut x, 0.37, len);
        g.scale(&mut gx, 0.37, len);
        check("scale", &read(g, &gx, len), &x, 0.0);

        cpu().softcap(&mut x, 1.3, len);
        g.softcap(&mut gx, 1.3, len);
        check("softcap", &read(g, &gx, len), &x, 1e-12);

        cpu().add(&mut x, &b, len);
        g.add(&mut gx, &gb, len);
        check("add", &read(g, &gx, len), &x, 1e-14);

        // Rows 2..5 of `a` (width 100) to rows 6..9 of `x`.
        cpu().copy_rows(&a, 2, &mut x, 6, 3, 100);
        g.copy_rows(&ga, 2, &mut gx, 6, 3, 100);
        check("copy_rows", &read(g, &gx, len), &x, 1e-12);
    }
}

#[test]
fn argmax_picks_as_the_sampler_does() {
    for g in backends() {
        let mut rng = Rng(9);
        // Widths around the workgroup's 256 and a vocabulary's size; rows with ties (the
        // first wins), NaNs and infinities (never picked, +inf aside), and nothing to pick.
        for width in [1, 7, 255, 256, 257, 49_153] {
            let mut rows: Vec<Vec<f32>> = (0..4).map(|_| rng.vec(width)).collect();
            let tie = width / 3;
            rows[1][tie] = 5.0;
            rows[1][width - 1] = 5.0;
            rows[2].iter_mut().step_by(3).for_each(|v| *v = f32::NAN);
            rows[2][width / 2] = f32::NEG_INFINITY;
            if width > 1 {
                rows[2][width - 2] = f32::INFINITY;
            }
            rows[3]
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = if i % 2 == 0 { f32::NAN } else { f32::NEG_INFINITY });
            let host: Vec<f32> = rows.concat();
            let want: Vec<u32> = rows.iter().map(|r| crate::sampler::argmax(r)).collect();
            let got = g.argmax(&upload(g, &host), rows.len(), width);
            assert_eq!(got, want, "width {width}");
            assert_eq!(want[3], 0);
            // One row of many, as the head asks for after a decode step.
            assert_eq!(g.argmax(&upload(g, &rows[1]), 1, width), vec![want[1]]);
        }
        assert!(g.argmax(&g.buffer(4), 0, 4).is_empty());
    }
}

/// Prefills a cache over two batches and attends a third, on both backends; `exact` asks
/// for bit-equal results instead of the tolerance.
fn attention_case(g: &GpuBackend, rng: &mut Rng, a: Attention, window: Option<usize>, batches: [usize; 3]) {
    attention_with(g, rng, a, window, batches, false)
}

fn attention_with(
    g: &GpuBackend,
    rng: &mut Rng,
    a: Attention,
    window: Option<usize>,
    batches: [usize; 3],
    exact: bool,
) {
    let kw = a.n_head_kv * a.head_dim;
    let qw = a.n_head * a.head_dim;
    let n_ctx = batches.iter().sum::<usize>().max(64);
    let shape = [KvShape { k_width: kw, v_width: kw, window }];
    let c = cpu();
    let mut ckv = c.kv_cache(&shape, n_ctx).unwrap();
    let mut gkv = g.kv_cache(&shape, n_ctx).unwrap();
    let mut pos = 0;
    for (i, &rows) in batches.iter().enumerate() {
        let (q, k, v) = (rng.vec(rows * qw), rng.vec(rows * kw), rng.vec(rows * kw));
        let (gq, gk, gv) = (upload(g, &q), upload(g, &k), upload(g, &v));
        let mut want = vec![0f32; rows * qw];
        c.attention(&q, &k, &v, &ckv, 0, &a, pos, rows, &mut want);
        let mut out = g.buffer(rows * qw);
        g.attention(&gq, &gk, &gv, &gkv, 0, &a, pos, rows, &mut out);
        let what = format!("attention {a:?} window={window:?} batch {i} ({rows} rows at {pos})");
        if exact {
            same_bits(&what, &read(g, &out, want.len()), &want);
        } else {
            // The CPU rounds its running sum of values to f16 at every position (ggml's
            // flash attention); f32 steps do not. That rounding error walks: its square
            // grows about as (2^-12)^2 / 3 per position attended.
            let f32_steps = g.arith() == crate::backend::gpu::Arith::F32;
            let tol = if f32_steps { 1e-7 + 5e-8 * (pos + rows) as f64 } else { 1e-7 };
            check(&what, &read(g, &out, want.len()), &want, tol);
        }
        c.kv_store(&mut ckv, 0, &k, &v, pos, rows);
        g.kv_store(&mut gkv, 0, &gk, &gv, pos, rows);
        pos += rows;
    }
}

#[test]
fn attention_variants() {
    for g in backends() {
        let mut rng = Rng(6);
        let base = Attention { n_head: 6, n_head_kv: 2, head_dim: 80, scale: 0.11, window: None, softcap: None };
        attention_case(g, &mut rng, base, None, [7, 5, 1]);
        attention_case(g, &mut rng, Attention { softcap: Some(1.5), ..base }, None, [3, 1, 4]);
        // A sliding window over a ring shorter than the first batch.
        attention_case(g, &mut rng, Attention { window: Some(4), ..base }, Some(4), [7, 2, 3]);
        let big = Attention { n_head: 4, n_head_kv: 4, head_dim: 256, scale: 0.06, window: None, softcap: Some(50.0) };
        attention_case(g, &mut rng, big, None, [2, 1, 1]);
        let small = Attention { n_head: 9, n_head_kv: 3, head_dim: 64, scale: 0.125, window: None, softcap: None };
        attention_case(g, &mut rng, small, None, [5, 1, 1]);
        // Past the f32 kernel's blocks of 128 positions, in full and in a window of 150.
        attention_case(g, &mut rng, small, None, [200, 70, 1]);
        attention_case(g, &mut rng, Attention { window: Some(150), ..small }, Some(150), [140, 130, 2]);
    }
}

/// With f64 steps, the ops of the llama architecture and the Q4_0/Q4_1/Q5_0/Q8_0/Q4_K/Q6_K
/// matmuls give the CPU backend's results to the bit (on which end-to-end equality of greedy decoding rests:
/// one differently rounded activation can flip a Q8 rounding, and the difference grows).
#[test]
fn llama_ops_round_as_the_cpu_with_f64() {
    let Some(g) = exact_gpu() else {
        eprintln!("skipping: no adapter with f64");
        return;
    };
    let mut rng = Rng(30);
    // Values over several orders of magnitude, as activations are.
    let spread = |rng: &mut Rng, n: usize| -> Vec<f32> {
        (0..n).map(|_| rng.f() * 10f32.powi((rng.next() % 5) as i32 - 2)).collect()
    };
    for width in [576, 300] {
        let rows = 6;
        let w = spread(&mut rng, width);
        let file = gguf(GgmlType::F32, &[width as u64], bytemuck::cast_slice(&w).to_vec());
        let (cw, gw) = weights(&file, g);
        let x = spread(&mut rng, rows * width);
        let mut want = vec![0f32; rows * width];
        cpu().rms_norm(&x, &cw, 1e-5, rows, width, &mut want);
        let mut out = g.buffer(rows * width);
        g.rms_norm(&upload(g, &x), &gw, 1e-5, rows, width, &mut out);
        same_bits(&format!("rms_norm width {width}"), &read(g, &out, want.len()), &want);
    }
    for ty in TYPES.into_iter().filter(|t| !matches!(t, GgmlType::F32 | GgmlType::F16)) {
        let k = ty.block_len() == 256;
        // Q4_K takes a batch in groups of four only with a multiple of 8 rows (37: never).
        for (cols, rows) in if k { [(768, 37), (512, 40)] } else { [(320, 37), (576, 37)] } {
            let file = gguf(ty, &[cols as u64, rows as u64], random_matrix(&mut rng, ty, rows, cols));
            let (cw, gw) = weights(&file, g);
            for n in [1, 3, 13] {
                let x = spread(&mut rng, n * cols);
                let mut want = vec![0f32; n * rows];
                cpu().matmul(&cw, &x, n, &mut want);
                let mut out = g.buffer(n * rows);
                g.matmul(&gw, &upload(g, &x), n, &mut out);
                same_bits(&format!("matmul {} {rows}x{cols} n={n}", ty.name()), &read(g, &out, want.len()), &want);
            }
        }
    }
    for kind in [RopeKind::Normal, RopeKind::Neox] {
        let (n_heads, head_dim, rows) = (3, 64, 5);
        let rope = Rope { kind, n_dims: 64, freq_base: 100000.0, freq_scale: 1.0, freq_factors: None };
        let mut want = spread(&mut rng, rows * n_heads * head_dim);
        let mut x = upload(g, &want);
        cpu().rope(&mut want, &rope, n_heads, head_dim, 777, rows);
        g.rope(&mut x, &rope, n_heads, head_dim, 777, rows);
        same_bits(&format!("rope {kind:?}"), &read(g, &x, want.len()), &want);
    }
    let len = 4099;
    let (a, b) = (spread(&mut rng, len).iter().map(|v| v * 3.0).collect::<Vec<_>>(), spread(&mut rng, len));
    let (ga, gb) = (upload(g, &a), upload(g, &b));
    let mut want = vec![0f32; len];
    let mut out = g.buffer(len);
    cpu().swiglu(&a, &b, len, &mut want);
    g.swiglu(&ga, &gb, len, &mut out);
    same_bits("swiglu", &read(g, &out, len), &want);
    cpu().geglu(&a, &b, len, &mut want);
    g.geglu(&ga, &gb, len, &mut out);
    same_bits("geglu", &read(g, &out, len), &want);
    let mut x = a.clone();
    let mut gx = upload(g, &a);
    cpu().add(&mut x, &b, len);
    g.add(&mut gx, &gb, len);
    same_bits("add", &read(g, &gx, len), &x);
    // SmolLM2's heads, and a head whose width leaves a tail past the 64-wide steps.
    let smol = Attention { n_head: 9, n_head_kv: 3, head_dim: 64, scale: 0.125, window: None, softcap: None };
    attention_with(g, &mut rng, smol, None, [7, 5, 1], true);
    let tail = Attention { n_head: 6, n_head_kv: 2, head_dim: 80, scale: 0.11, window: None, softcap: None };
    attention_with(g, &mut rng, tail, None, [6, 1, 3], true);
}

/// The fused ops (one dispatch each on the GPU) against the CPU's default of their parts:
/// add + rms_norm, RoPE on queries and keys, and attention that stores a decode step's row.
#[test]
fn fused_ops_equal_their_parts() {
    for g in backends() {
        let exact = g.arith() == Arith::F64;
        let compare = |what: &str, got: &[f32], want: &[f32], tol: f64| {
            if exact {
                same_bits(what, got, want)
            } else {
                check(what, got, want, tol)
            }
        };
        let c = cpu();
        let mut rng = Rng(12);

        let (rows, width) = (3, 576);
        let file = gguf(GgmlType::F32, &[width as u64], bytemuck::cast_slice(&rng.vec(width)).to_vec());
        let (cw, gw) = weights(&file, g);
        let (mut x, y) = (rng.vec(rows * width), rng.vec(rows * width));
        let (mut gx, gy) = (upload(g, &x), upload(g, &y));
        let mut want = vec![0f32; rows * width];
        c.add_rms_norm(&mut x, &y, &cw, 1e-5, rows, width, &mut want);
        let mut out = g.buffer(rows * width);
        g.add_rms_norm(&mut gx, &gy, &gw, 1e-5, rows, width, &mut out);
        compare("add_rms_norm: x", &read(g, &gx, x.len()), &x, 1e-14);
        compare("add_rms_norm: out", &read(g, &out, want.len()), &want, 1e-12);

        let rope = Rope { kind: RopeKind::Neox, n_dims: 64, freq_base: 10000.0, freq_scale: 1.0, freq_factors: None };
        let (n_head, n_head_kv, hd, rows, pos0) = (9, 3, 64, 4, 17);
        let (mut q, mut k) = (rng.vec(rows * n_head * hd), rng.vec(rows * n_head_kv * hd));
        let (mut gq, mut gk) = (upload(g, &q), upload(g, &k));
        c.rope_qk(&mut q, &mut k, &rope, n_head, n_head_kv, hd, pos0, rows);
        g.rope_qk(&mut gq, &mut gk, &rope, n_head, n_head_kv, hd, pos0, rows);
        compare("rope_qk: q", &read(g, &gq, q.len()), &q, 1e-12);
        compare("rope_qk: k", &read(g, &gk, k.len()), &k, 1e-12);

        // A ring of 8 slots under a window of 8: each decode step's store lands in the slot
        // of the position that just left the window.
        let a = Attention { n_head, n_head_kv, head_dim: hd, scale: 0.125, window: Some(8), softcap: None };
        let (kw, qw) = (n_head_kv * hd, n_head * hd);
        let shape = [KvShape { k_width: kw, v_width: kw, window: Some(8) }];
        let (mut ckv, mut gkv) = (c.kv_cache(&shape, 64).unwrap(), g.kv_cache(&shape, 64).unwrap());
        let mut pos = 0;
        for rows in [10, 1, 1, 1, 1] {
            let (q, k, v) = (rng.vec(rows * qw), rng.vec(rows * kw), rng.vec(rows * kw));
            let (gq, gk, gv) = (upload(g, &q), upload(g, &k), upload(g, &v));
            let mut want = vec![0f32; rows * qw];
            c.attention_store(&q, &k, &v, &mut ckv, 0, &a, pos, rows, &mut want);
            let mut out = g.buffer(rows * qw);
            g.attention_store(&gq, &gk, &gv, &mut gkv, 0, &a, pos, rows, &mut out);
            compare(&format!("attention_store at {pos}"), &read(g, &out, want.len()), &want, 1e-6);
            pos += rows;
        }
    }
}

/// A decode step's norm (and SwiGLU) also writes its output quantized, and the products that
/// read the output take those blocks: the same results as quantizing apart, and none once
/// the output has been written again (here by an add).
#[test]
fn norms_quantize_for_the_products_after_them() {
    for shared in backends() {
        // Its own backend: which copies a norm writes is learned per backend, and another
        // test's norm on the shared one could replace this one's copies between the calls.
        let own = GpuBackend::open_with(true, Some(shared.arith())).unwrap();
        let g = &own;
        let exact = g.arith() == Arith::F64;
        let c = cpu();
        let mut rng = Rng(13);
        let (rows, width) = (2, 512);
        let file = gguf(GgmlType::F32, &[width as u64], bytemuck::cast_slice(&rng.vec(width)).to_vec());
        let (cn, gn) = weights(&file, g);
        for ty in [GgmlType::Q4_K, GgmlType::Q4_0, GgmlType::Q6_K, GgmlType::Q4_1] {
            let n_out = 37;
            let mfile = gguf(ty, &[width as u64, n_out as u64], random_matrix(&mut rng, ty, n_out, width));
            let (cw, gw) = weights(&mfile, g);
            let (x, y) = (rng.vec(rows * width), rng.vec(rows * width));
            let mut h = vec![0f32; rows * width];
            c.rms_norm(&x, &cn, 1e-5, rows, width, &mut h);
            let mut gh = g.buffer(rows * width);
            g.rms_norm(&upload(g, &x), &gn, 1e-5, rows, width, &mut gh);
            // The first product (Q4_K) taught the norm its format, Q8_K: from the second on,
            // the norm writes that copy for the products to take.
            if ty != GgmlType::Q4_K {
                let rec = g.rec.lock().unwrap();
                let pq = rec.prequant.as_ref().expect("a norm's copies");
                assert!(pq.src == gh.id && pq.q8k.is_some(), "{}: the norm wrote no Q8_K copy", ty.name());
            }
            for round in 0..2 {
                if round == 1 {
                    c.add(&mut h, &y, rows * width);
                    g.add(&mut gh, &upload(g, &y), rows * width);
                }
                let mut want = vec![0f32; rows * n_out];
                c.matmul(&cw, &h, rows, &mut want);
                let mut out = g.buffer(rows * n_out);
                g.matmul(&gw, &gh, rows, &mut out);
                let what = format!("{} after a norm, round {round}", ty.name());
                if exact {
                    same_bits(&what, &read(g, &out, want.len()), &want);
                } else {
                    check(&what, &read(g, &out, want.len()), &want, 1e-11);
                }
            }
            // SwiGLU quantizes its result the same way. The product is compared with the
            // CPU's of the GPU's SwiGLU output: with f32 steps, exp may differ by an ulp,
            // enough to move a rounding of the quantized activations.
            let mut act = vec![0f32; rows * width];
            c.swiglu(&x, &y, rows * width, &mut act);
            let mut gact = g.buffer(rows * width);
            g.swiglu(&upload(g, &x), &upload(g, &y), rows * width, &mut gact);
            let mut want = vec![0f32; rows * n_out];
            c.matmul(&cw, &read(g, &gact, act.len()), rows, &mut want);
            let mut out = g.buffer(rows * n_out);
            g.matmul(&gw, &gact, rows, &mut out);
            let what = format!("{} after swiglu", ty.name());
            if exact {
                same_bits("swiglu", &read(g, &gact, act.len()), &act);
                same_bits(&what, &read(g, &out, want.len()), &want);
            } else {
                check("swiglu", &read(g, &gact, act.len()), &act, 1e-12);
                check(&what, &read(g, &out, want.len()), &want, 1e-11);
            }
        }
    }
}

#[test]
fn memory_limits_read_as_bytes_with_binary_suffixes() {
    use super::parse_bytes;
    assert_eq!(parse_bytes("1000"), Some(1000));
    assert_eq!(parse_bytes(" 6G "), Some(6 << 30));
    assert_eq!(parse_bytes("512m"), Some(512 << 20));
    assert_eq!(parse_bytes("64K"), Some(64 << 10));
    assert_eq!(parse_bytes(""), None);
    assert_eq!(parse_bytes("G"), None);
    assert_eq!(parse_bytes("1.5G"), None);
    assert_eq!(parse_bytes("-1"), None);
    assert_eq!(parse_bytes("99999999999999999999G"), None);
    assert_eq!(parse_bytes("17179869184G"), None, "overflow");
}
