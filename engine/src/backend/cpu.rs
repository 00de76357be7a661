//! The CPU backend: weights read in place from the file mapping, activations in host
//! memory, matrix products by the `rollama-kernels` crate over a persistent thread pool.
//!
//! The elementwise ops here follow ggml's CPU code closely (f64 sums in RMSNorm, RoPE
//! angles built by repeated multiplication, an f16 KV cache with f16 queries in the q·k
//! product) because greedy decoding is checked token for token against llama.cpp.

use std::sync::{Arc, Mutex};

use half::f16;
use rollama_kernels::attention::flash_attn_rows;
use rollama_kernels::quant::{q4_k, q8_k, BlockQ4K, BlockQ8K};
use rollama_kernels::{dequantize_row, matmul, GgmlType, ThreadPool, WeightView, QK_K};

use super::{Attention, Backend, KvShape, Rope, RopeKind, WeightSource};
use crate::gguf::GgufFile;
use crate::model::ModelError;

/// A weight as the CPU backend holds it.
pub enum CpuWeight {
    /// A matrix `[rows, cols]` in a ggml type, read in place from the mapped file.
    Mapped { file: Arc<GgufFile>, start: usize, len: usize, ty: GgmlType, rows: usize, cols: usize },
    /// A vector (norm scales, biases) converted to f32 at load.
    Vector(Vec<f32>),
}

impl CpuWeight {
    fn view(&self) -> WeightView<'_> {
        match self {
            CpuWeight::Mapped { file, start, len, ty, rows, cols } => {
                WeightView { ty: *ty, rows: *rows, cols: *cols, data: &file.bytes()[*start..*start + *len] }
            }
            CpuWeight::Vector(v) => {
                WeightView { ty: GgmlType::F32, rows: 1, cols: v.len(), data: bytemuck::cast_slice(v) }
            }
        }
    }

    fn vector(&self) -> &[f32] {
        match self {
            CpuWeight::Vector(v) => v,
            CpuWeight::Mapped { .. } => panic!("a matrix weight used where a vector was expected"),
        }
    }
}

/// One layer's cache: keys and values as f16, `[slots, width]`. A full layer has a slot per
/// position of the context; a sliding-window layer has `window` slots used as a ring, position
/// p living in slot p % slots.
pub struct CpuKvLayer {
    k: Vec<f16>,
    v: Vec<f16>,
    k_width: usize,
    v_width: usize,
    slots: usize,
}

pub struct CpuKv {
    layers: Vec<CpuKvLayer>,
}

pub struct CpuBackend {
    pool: ThreadPool,
    /// The last few chunks' rotation tables (see [`RopeTable`]).
    rope_tables: Mutex<Vec<Arc<RopeTable>>>,
}

impl CpuBackend {
    pub fn new(n_threads: usize) -> CpuBackend {
        CpuBackend { pool: ThreadPool::new(n_threads.max(1)), rope_tables: Mutex::new(Vec::new()) }
    }

    /// The cosines and sines of positions `pos0..pos0 + rows` under `rope`: made once per
    /// chunk and rope setting, not once per layer and for q and k each (every layer of a chunk
    /// rotates by the same angles, and `cosf`/`sinf` were a few percent of a prompt).
    fn rope_table(&self, rope: &Rope, n_dims: usize, pos0: usize, rows: usize) -> Arc<RopeTable> {
        let mut tables = self.rope_tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables.iter().find(|t| t.is_for(rope, n_dims, pos0, rows)) {
            return Arc::clone(t);
        }
        let t = Arc::new(RopeTable::new(rope, n_dims, pos0, rows));
        // Gemma 3 alternates two settings (local and global layers); a few more are kept for
        // other models sharing this backend.
        if tables.len() >= 4 {
            tables.remove(0);
        }
        tables.push(Arc::clone(&t));
        t
    }
}

/// Rotation angles' cosines and sines for a run of positions, computed as ggml does.
struct RopeTable {
    freq_base: f32,
    freq_scale: f32,
    freq_factors: Option<Vec<f32>>,
    n_dims: usize,
    pos0: usize,
    rows: usize,
    /// Per row, `n_dims / 2` cosines, then as many sines, one per pair.
    cs: Vec<f32>,
}

impl RopeTable {
    fn new(rope: &Rope, n_dims: usize, pos0: usize, rows: usize) -> RopeTable {
        let theta_scale = rope.freq_base.powf(-2.0 / n_dims as f32);
        let half = n_dims / 2;
        let mut cs = vec![0f32; rows * 2 * half];
        for (t, cache) in cs.chunks_exact_mut((2 * half).max(1)).enumerate().take(rows) {
            // The angle of pair i is pos * base^(-2i/n_dims), built by repeated multiplication
            // as ggml does, so that rounding matches.
            let mut theta = (pos0 + t) as f32;
            for j in 0..half {
                let ff = rope.freq_factors.as_ref().map_or(1.0, |f| f[j]);
                let th = rope.freq_scale * (theta / ff);
                cache[j] = th.cos();
                cache[half + j] = th.sin();
                theta *= theta_scale;
            }
        }
        RopeTable {
            freq_base: rope.freq_base,
            freq_scale: rope.freq_scale,
            freq_factors: rope.freq_factors.as_ref().map(|f| f.to_vec()),
            n_dims,
            pos0,
            rows,
            cs,
        }
    }

    /// Whether this table holds what `rope` needs (the same bits, not just equal values).
    fn is_for(&self, rope: &Rope, n_dims: usize, pos0: usize, rows: usize) -> bool {
        let same_factors = match (self.freq_factors.as_deref(), rope.freq_factors.as_deref()) {
            (None, None) => true,
            (Some(a), Some(b)) => a.iter().map(|x| x.to_bits()).eq(b.iter().map(|x| x.to_bits())),
            _ => false,
        };
        self.n_dims == n_dims
            && self.pos0 == pos0
            && self.rows >= rows
            && self.freq_base.to_bits() == rope.freq_base.to_bits()
            && self.freq_scale.to_bits() == rope.freq_scale.to_bits()
            && same_factors
    }
}

impl Backend for CpuBackend {
    type Weight = CpuWeight;
    type Buf = Vec<f32>;
    type Kv = CpuKv;

    fn name(&self) -> String {
        format!("cpu ({:?}, {} threads)", rollama_kernels::cpu::level(), self.pool.n_threads())
    }

    fn load_weight(&self, src: WeightSource<'_>) -> Result<CpuWeight, ModelError> {
        let info = src.info;
        let data = src.file.tensor_data(info);
        if info.dims.len() == 1 {
            let mut v = vec![0f32; info.dims[0] as usize];
            dequantize_row(info.ty, data, &mut v).map_err(|e| ModelError::tensor(&info.name, e.to_string()))?;
            return Ok(CpuWeight::Vector(v));
        }
        if !info.ty.has_kernels() {
            return Err(ModelError::UnsupportedType { tensor: info.name.clone(), ty: info.ty.name() });
        }
        let start = (src.file.data_offset + info.offset) as usize;
        Ok(CpuWeight::Mapped {
            file: Arc::clone(src.file),
            start,
            len: data.len(),
            ty: info.ty,
            rows: info.n_rows() as usize,
            cols: info.row_len() as usize,
        })
    }

    fn weight_dims(&self, w: &CpuWeight) -> (usize, usize) {
        match w {
            CpuWeight::Mapped { rows, cols, .. } => (*rows, *cols),
            CpuWeight::Vector(v) => (1, v.len()),
        }
    }

    fn buffer(&self, len: usize) -> Vec<f32> {
        vec![0.0; len]
    }

    fn write(&self, x: &mut Vec<f32>, data: &[f32]) {
        x[..data.len()].copy_from_slice(data);
    }

    fn kv_cache(&self, layers: &[KvShape], n_ctx: usize) -> Result<CpuKv, ModelError> {
        // The whole cache is sized before any of it is allocated: a size past the machine's
        // memory (or past the address space) is an error, not an aborted process. Pages are
        // zeroed lazily, so a large cache that fits costs only what is filled.
        let bytes = layers.iter().try_fold(0u64, |sum, s| {
            let slots = s.slots(n_ctx) as u64;
            slots.checked_mul((s.k_width + s.v_width) as u64)?.checked_mul(2)?.checked_add(sum)
        });
        let limit = host_memory().unwrap_or(isize::MAX as u64).min(isize::MAX as u64);
        match bytes {
            Some(b) if b <= limit => {}
            _ => return Err(ModelError::ContextTooLarge { n_ctx, bytes, limit }),
        }
        Ok(CpuKv {
            layers: layers
                .iter()
                .map(|s| {
                    let slots = s.slots(n_ctx);
                    CpuKvLayer {
                        k: vec![f16::ZERO; slots * s.k_width],
                        v: vec![f16::ZERO; slots * s.v_width],
                        k_width: s.k_width,
                        v_width: s.v_width,
                        slots,
                    }
                })
                .collect(),
        })
    }

    fn get_rows(&self, table: &CpuWeight, ids: &[u32], out: &mut Vec<f32>) {
        let w = table.view();
        for (t, &id) in ids.iter().enumerate() {
            let dst = &mut out[t * w.cols..(t + 1) * w.cols];
            dequantize_row(w.ty, w.row(id as usize), dst).expect("embedding type checked at load");
        }
    }

    fn rms_norm(&self, x: &Vec<f32>, weight: &CpuWeight, eps: f32, rows: usize, width: usize, out: &mut Vec<f32>) {
        let w = weight.vector();
        if width == 0 {
            return;
        }
        // Rows in groups of four: each row's sum of squares is still one sequential f64 sum in
        // ggml's order, but four of them interleave, where one alone waits on every add.
        self.rows_in_parallel(&mut out[..rows * width], 4 * width, &|g, dst| {
            let src = &x[4 * g * width..][..dst.len()];
            let sums = squares_by_row(src, width);
            for ((dst, src), sum) in dst.chunks_exact_mut(width).zip(src.chunks_exact(width)).zip(sums) {
                let mean = (sum / width as f64) as f32;
                let scale = 1.0 / (mean + eps).sqrt();
                for ((d, &s), &g) in dst.iter_mut().zip(src).zip(w) {
                    // ggml scales first and multiplies by the weight in a separate op.
                    *d = (s * scale) * g;
                }
            }
        });
    }

    fn matmul(&self, w: &CpuWeight, x: &Vec<f32>, rows: usize, out: &mut Vec<f32>) {
        let view = w.view();
        // llama.cpp repacks Q4_K matrices (rows a multiple of 8) and multiplies groups of four
        // activation rows in another order than single rows; see `matmul_q4_k_groups`.
        let single = if view.ty == GgmlType::Q4_K && view.rows.is_multiple_of(8) { rows % 4 } else { rows };
        let (c, r) = (view.cols, view.rows);
        matmul(&self.pool, view, &x[..single * c], single, &mut out[..single * r])
            .expect("matmul shapes are fixed by the architecture");
        if single < rows {
            self.matmul_q4_k_groups(view, &x[single * c..rows * c], rows - single, &mut out[single * r..rows * r]);
        }
    }

    fn matmul_many(&self, ws: &[&CpuWeight], x: &Vec<f32>, rows: usize, outs: &mut [&mut Vec<f32>]) {
        if rows != 1 || ws.is_empty() {
            // Prompts: one matmul each (the Q4_K grouping above applies per matrix).
            ws.iter().zip(outs.iter_mut()).for_each(|(w, out)| self.matmul(w, x, rows, out));
            return;
        }
        // Decoding: one dispatch over the pool for all of them.
        let views: Vec<WeightView<'_>> = ws.iter().map(|w| w.view()).collect();
        let cols = views[0].cols;
        let mut dsts: Vec<&mut [f32]> = outs.iter_mut().zip(&views).map(|(o, v)| &mut o[..v.rows]).collect();
        rollama_kernels::matmul_many(&self.pool, &views, &x[..cols], 1, &mut dsts)
            .expect("matmul shapes are fixed by the architecture");
    }

    fn add_bias(&self, x: &mut Vec<f32>, bias: &CpuWeight, rows: usize) {
        let b = bias.vector();
        for row in x[..rows * b.len()].chunks_exact_mut(b.len()) {
            for (v, &bv) in row.iter_mut().zip(b) {
                *v += bv;
            }
        }
    }

    fn rope(&self, x: &mut Vec<f32>, rope: &Rope, n_heads: usize, head_dim: usize, pos0: usize, rows: usize) {
        let n_dims = rope.n_dims.min(head_dim);
        let width = n_heads * head_dim;
        let table = self.rope_table(rope, n_dims, pos0, rows);
        let half = n_dims / 2;
        let neox = rope.kind == RopeKind::Neox;
        self.rows_in_parallel(&mut x[..rows * width], width, &|t, row| {
            let (cos, sin) = table.cs[t * 2 * half..(t + 1) * 2 * half].split_at(half);
            for head in row.chunks_exact_mut(head_dim) {
                rollama_kernels::rope::rotate(neox, head, cos, sin);
            }
        });
    }

    fn kv_store(&self, kv: &mut CpuKv, layer: usize, k: &Vec<f32>, v: &Vec<f32>, pos0: usize, rows: usize) {
        let l = &mut kv.layers[layer];
        let (kw, vw) = (l.k_width, l.v_width);
        // Rows that a later row of the same batch would overwrite in the ring are skipped.
        for t in rows.saturating_sub(l.slots)..rows {
            let slot = (pos0 + t) % l.slots;
            for (d, &s) in l.k[slot * kw..(slot + 1) * kw].iter_mut().zip(&k[t * kw..(t + 1) * kw]) {
                *d = f16::from_f32(s);
            }
            for (d, &s) in l.v[slot * vw..(slot + 1) * vw].iter_mut().zip(&v[t * vw..(t + 1) * vw]) {
                *d = f16::from_f32(s);
            }
        }
    }

    fn attention(
        &self,
        q: &Vec<f32>,
        k: &Vec<f32>,
        v: &Vec<f32>,
        kv: &CpuKv,
        layer: usize,
        a: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut Vec<f32>,
    ) {
        let l = &kv.layers[layer];
        let hd = a.head_dim;
        let q_width = a.n_head * hd;
        let group = a.n_head / a.n_head_kv;
        // This batch's keys and values, rounded to f16 as the cache will hold them.
        let (kw, vw) = (l.k_width, l.v_width);
        let k_new: Vec<f16> = k[..rows * kw].iter().map(|&x| f16::from_f32(x)).collect();
        let v_new: Vec<f16> = v[..rows * vw].iter().map(|&x| f16::from_f32(x)).collect();
        // Position p of kv head h: from this batch, or from the cache (a ring slot).
        let key = |p: usize, h: usize| -> &[f16] {
            let (src, row) = if p >= pos0 { (&k_new, p - pos0) } else { (&l.k, p % l.slots) };
            &src[row * kw + h * hd..row * kw + (h + 1) * hd]
        };
        let value = |p: usize, h: usize| -> &[f16] {
            let (src, row) = if p >= pos0 { (&v_new, p - pos0) } else { (&l.v, p % l.slots) };
            &src[row * vw + h * hd..row * vw + (h + 1) * hd]
        };
        // A task takes `per` query heads of one token that share a kv head, so that each key
        // and value row is widened once for all of them: the whole GQA group, or for short
        // batches (decode) the largest part of it that still leaves a task per thread.
        let threads = self.pool.n_threads();
        let per = (1..=group).rev().find(|&d| group.is_multiple_of(d) && rows * (a.n_head / d) >= threads).unwrap_or(1);
        let tasks_per_token = a.n_head / per;
        let task = |i: usize, dst: &mut [f32]| {
            let (t, h) = (i / tasks_per_token, i % tasks_per_token * per);
            let pos = pos0 + t;
            // The ring of a sliding layer holds the window's earlier positions, so every
            // position read here is either in the cache or in this batch.
            let first = a.window.map_or(0, |w| (pos + 1).saturating_sub(w));
            let kvh = h / group;
            // [per, hd]: query heads h..h + per of token t.
            let qrows = &q[t * q_width + h * hd..t * q_width + (h + per) * hd];
            let ranges = vec![first..pos + 1; per];
            // ggml's CPU flash attention step for step (see rollama_kernels::attention).
            flash_attn_rows(qrows, &ranges, |p| key(p, kvh), |p| value(p, kvh), a.scale, a.softcap, dst);
        };
        assert!(out.len() >= rows * q_width && q.len() >= rows * q_width);
        assert!(a.n_head_kv * hd <= kw.min(vw));
        // One chunk per task: heads h..h + per of token t, contiguous in `out`.
        self.pool.run_chunks_mut(&mut out[..rows * q_width], per * hd, &task);
    }

    fn swiglu(&self, gate: &Vec<f32>, up: &Vec<f32>, len: usize, out: &mut Vec<f32>) {
        self.rows_in_parallel(&mut out[..len], ELEMENTWISE_PIECE, &|i, o| {
            let at = i * ELEMENTWISE_PIECE;
            rollama_kernels::activation::swiglu(&gate[at..at + o.len()], &up[at..at + o.len()], o);
        });
    }

    fn geglu(&self, gate: &Vec<f32>, up: &Vec<f32>, len: usize, out: &mut Vec<f32>) {
        self.rows_in_parallel(&mut out[..len], ELEMENTWISE_PIECE, &|i, o| {
            let at = i * ELEMENTWISE_PIECE;
            super::ggml_math::geglu(&gate[at..at + o.len()], &up[at..at + o.len()], o);
        });
    }

    fn scale(&self, x: &mut Vec<f32>, s: f32, len: usize) {
        for v in &mut x[..len] {
            *v *= s;
        }
    }

    fn softcap(&self, x: &mut Vec<f32>, cap: f32, len: usize) {
        for v in &mut x[..len] {
            // As ggml's graph for gemma 2: scale by 1/cap, tanh, scale by cap.
            *v = (*v * (1.0 / cap)).tanh() * cap;
        }
    }

    fn add(&self, x: &mut Vec<f32>, y: &Vec<f32>, len: usize) {
        for (a, &b) in x[..len].iter_mut().zip(&y[..len]) {
            *a += b;
        }
    }

    fn copy_rows(&self, src: &Vec<f32>, src_row: usize, dst: &mut Vec<f32>, dst_row: usize, rows: usize, width: usize) {
        dst[dst_row * width..(dst_row + rows) * width].copy_from_slice(&src[src_row * width..(src_row + rows) * width]);
    }

    fn read(&self, x: &Vec<f32>, len: usize, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&x[..len]);
    }
}

/// Bytes of memory and swap this machine has (Linux's `/proc/meminfo`), or None elsewhere.
fn host_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = info.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    };
    Some((kib("MemTotal:")? + kib("SwapTotal:").unwrap_or(0)).saturating_mul(1024))
}

/// Elements per piece when an elementwise op is split over the pool (a multiple of 256, so
/// that `geglu`'s slices of 256 fall as they do in one piece; every element's result is the
/// same however the work is cut).
const ELEMENTWISE_PIECE: usize = 4096;

/// Below this many elements an op runs on the calling thread: handing out work costs more.
const PARALLEL_MIN: usize = 1 << 15;

impl CpuBackend {
    /// `f(t, row t of out)` for every row of `width` values in `out` (the last one may be
    /// shorter), spread over the pool in runs of rows when `out` is large (prompts), on this
    /// thread when small (decoding). Each row is computed alone, so the cut changes nothing.
    fn rows_in_parallel(&self, out: &mut [f32], width: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let width = width.max(1);
        let threads = self.pool.n_threads();
        if out.len() < PARALLEL_MIN || threads == 1 {
            for (t, row) in out.chunks_mut(width).enumerate() {
                f(t, row);
            }
            return;
        }
        let rows = out.len().div_ceil(width);
        let per = rows.div_ceil(4 * threads);
        self.pool.run_chunks_mut(out, per * width, &|i, chunk| {
            for (j, row) in chunk.chunks_mut(width).enumerate() {
                f(i * per + j, row);
            }
        });
    }

    /// `n` (a multiple of 4) activation rows times a Q4_K matrix, four rows at a time in the
    /// order of llama.cpp's repacked gemm (`q4_k::gemm`, a register-tiled kernel on AVX-512
    /// whose every result is `q4_k::vec_dot_x4_gemm`'s), so that prompts round as they do
    /// there. Single rows go through `rollama_kernels::matmul`, whose Q4_K dot is the repacked
    /// gemv's order.
    ///
    /// Which rows are single: llama.cpp's own matmul puts the `n % 4` leftover rows of a batch
    /// last, but `llama-server`, which produced the reference continuations, evaluates an
    /// n-token prompt as a batch of its first `n % 4` tokens and then one of the rest (every
    /// reference prompt of gemma3 and qwen2.5 reproduces token for token, and its top
    /// log-probabilities to 1e-3, only that way). So the single rows here are the first ones.
    fn matmul_q4_k_groups(&self, w: WeightView<'_>, x: &[f32], n: usize, out: &mut [f32]) {
        let (rows, cols) = (w.rows, w.cols);
        let nb = cols / QK_K;
        assert!(out.len() >= n * rows && x.len() >= n * cols);
        thread_local! {
            /// The quantized activations, reused across calls.
            static ACTS: std::cell::Cell<Vec<BlockQ8K>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut buf = ACTS.take();
        if buf.len() < n * nb {
            buf.resize(n * nb, <BlockQ8K as bytemuck::Zeroable>::zeroed());
        }
        let acts = &mut buf[..n * nb];
        // The dispatched quantizer is bit-identical to the scalar one; in parallel for long
        // prompts.
        let threads = self.pool.n_threads();
        let per = if n >= 16 && threads > 1 { n.div_ceil(4 * threads) } else { n };
        self.pool.run_chunks_mut(acts, per * nb, &|c, a| {
            let x = &x[c * per * cols..];
            for (xr, ar) in x.chunks_exact(cols).zip(a.chunks_exact_mut(nb)) {
                q8_k::quantize_fast(xr, ar);
            }
        });
        // Chunks of whole sixteen-row panels; each task runs its rows against every activation
        // row, the rows' interleaved weights staying in cache.
        let chunk = rows.div_ceil(4 * self.pool.n_threads()).clamp(16, 64).next_multiple_of(16);
        let wb: &[BlockQ4K] = bytemuck::cast_slice(w.data);
        let out_ptr = SyncPtr(out.as_mut_ptr());
        let acts: Vec<&[BlockQ8K]> = acts.chunks_exact(nb).take(n).collect();
        let task = |c: usize| {
            let (r0, r1) = (c * chunk, ((c + 1) * chunk).min(rows));
            q4_k::gemm(&wb[r0 * nb..r1 * nb], r1 - r0, &acts, &mut |t, r, v| {
                assert!(t < n && r + v.len() <= r1 - r0, "gemm output outside its chunk");
                // SAFETY: outputs (t, r0 + r..) are written by the task owning rows r0..r1 only
                // (checked above), and t * rows + r1 <= n * rows <= out.len(); `out` outlives
                // the run.
                unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), out_ptr.get().add(t * rows + r0 + r), v.len()) };
            });
        };
        self.pool.run(rows.div_ceil(chunk), &task);
        ACTS.set(buf);
    }
}

/// Per row of `x` (up to four rows of `width`), in the first entries: the sum of its squares,
/// each product rounded to f32 and added in order in f64, as ggml's `rms_norm` sums them.
/// Four full rows run as four interleaved sums (the same additions, in the same order, per row).
fn squares_by_row(x: &[f32], width: usize) -> [f64; 4] {
    let mut s = [0f64; 4];
    if width == 0 {
        return s;
    }
    if x.len() >= 4 * width {
        let row = |r: usize| &x[r * width..(r + 1) * width];
        let (a, b, c, d) = (row(0), row(1), row(2), row(3));
        for i in 0..width {
            s[0] += f64::from(a[i] * a[i]);
            s[1] += f64::from(b[i] * b[i]);
            s[2] += f64::from(c[i] * c[i]);
            s[3] += f64::from(d[i] * d[i]);
        }
        return s;
    }
    for (s, r) in s.iter_mut().zip(x.chunks_exact(width)) {
        *s = r.iter().map(|&v| f64::from(v * v)).sum();
    }
    s
}

/// A raw pointer that may cross to the pool's threads; each task writes a disjoint part.
#[derive(Clone, Copy)]
struct SyncPtr(*mut f32);
// SAFETY: used only to hand disjoint output elements to pool tasks (see `matmul_q4_k_groups`).
unsafe impl Sync for SyncPtr {}
unsafe impl Send for SyncPtr {}
impl SyncPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rotation tables are shared across calls: a backend that has seen other settings,
    /// positions and frequency factors rotates exactly as a fresh one.
    #[test]
    fn rope_tables_are_reused_only_for_their_own_setting() {
        let base = |freq_base: f32, factors: Option<Vec<f32>>| Rope {
            kind: RopeKind::Neox,
            n_dims: 8,
            freq_base,
            freq_scale: 1.0,
            freq_factors: factors.map(Arc::new),
        };
        let settings = [
            (base(10000.0, None), 0, 5),
            (base(1e6, None), 0, 5),
            (base(10000.0, None), 0, 3),
            (base(10000.0, None), 2, 3),
            (base(10000.0, Some(vec![1.0, 2.0, 4.0, 8.0])), 2, 3),
            (base(10000.0, Some(vec![1.0, 2.0, 4.0, 9.0])), 2, 3),
            (Rope { freq_scale: 0.5, ..base(10000.0, None) }, 2, 3),
            (base(10000.0, None), 0, 5),
        ];
        let shared = CpuBackend::new(1);
        let (n_heads, head_dim) = (2, 8);
        for (rope, pos0, rows) in &settings {
            let x: Vec<f32> = (0..rows * n_heads * head_dim).map(|i| (i as f32 * 0.37).sin()).collect();
            let (mut a, mut b) = (x.clone(), x);
            shared.rope(&mut a, rope, n_heads, head_dim, *pos0, *rows);
            CpuBackend::new(1).rope(&mut b, rope, n_heads, head_dim, *pos0, *rows);
            assert_eq!(a, b, "base {} pos0 {pos0} rows {rows}", rope.freq_base);
        }
    }

    /// The rows of a norm go in groups of four; every row must still get exactly the sum a
    /// row alone gets (one sequential f64 sum), at any row count and width.
    #[test]
    fn grouped_sums_of_squares_equal_one_row_at_a_time() {
        let mut seed = 3u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 10f32.powi((seed % 7) as i32 - 3)
        };
        for width in [1, 3, 64, 255, 640] {
            for rows in 1..=9 {
                let x: Vec<f32> = (0..rows * width).map(|_| next()).collect();
                for group in x.chunks(4 * width) {
                    let got = &squares_by_row(group, width)[..group.len() / width];
                    let want: Vec<f64> =
                        group.chunks_exact(width).map(|r| r.iter().map(|&v| f64::from(v * v)).sum()).collect();
                    assert_eq!(
                        got.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
                        want.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
                        "width {width}, rows {rows}"
                    );
                }
            }
        }
    }
}
