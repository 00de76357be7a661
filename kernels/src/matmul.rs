//! Quantized matrix times activations: `out[t][r] = dot(W[r], x[t])`, the one op that dominates
//! inference time.
//!
//! A call first converts every activation row to the weight type's paired format (once per call,
//! not per weight row), then splits the weight rows into chunks that the pool's threads take in
//! turn. Within a chunk, a tile of activation rows is held in cache while each weight row is
//! streamed past it, so for n > 1 every weight byte is read once per tile rather than once per
//! activation row. Where the type has a tiled kernel (`gemm`), the activation rows in groups of
//! four take it instead: it unpacks the chunk's weights once and runs every group against them,
//! a few weight rows at a time in registers, with results bit-identical to the per-row kernels. Nothing is allocated per weight row; the activation buffer is a per-thread
//! scratch vector reused across calls.

use std::cell::RefCell;
use std::ops::Range;

use crate::dispatch::{self, Table, TypeKernels};
use crate::pool::ThreadPool;
use crate::{GgmlType, KernelError};

/// A row-major weight matrix in its storage format: `rows` rows of `cols` elements, each row
/// `ty.row_bytes(cols)` bytes, typically borrowed from a memory-mapped model file.
#[derive(Clone, Copy, Debug)]
pub struct WeightView<'a> {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
}

impl<'a> WeightView<'a> {
    /// Checks that `cols` is a whole number of blocks and `data` holds exactly `rows` rows.
    pub fn new(ty: GgmlType, rows: usize, cols: usize, data: &'a [u8]) -> Result<Self, KernelError> {
        let view = WeightView { ty, rows, cols, data };
        view.check()?;
        Ok(view)
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.ty.row_bytes(self.cols).unwrap_or(0)
    }

    /// The bytes of row `r`. Panics if `r >= rows` (like slice indexing).
    pub fn row(&self, r: usize) -> &'a [u8] {
        assert!(r < self.rows, "row {r} out of {} rows", self.rows);
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }

    /// Validates the shape; the fields are public, so `matmul` re-checks a view it is given.
    fn check(&self) -> Result<usize, KernelError> {
        let rb = row_bytes(self.ty, self.cols)?;
        let total = rb.checked_mul(self.rows).ok_or(KernelError::Overflow { what: "weight matrix" })?;
        if self.data.len() != total {
            return Err(KernelError::ShapeMismatch { what: "weight bytes", expected: total, got: self.data.len() });
        }
        Ok(rb)
    }
}

/// `ty.row_bytes(n)` with the reason for a failure.
pub(crate) fn row_bytes(ty: GgmlType, n: usize) -> Result<usize, KernelError> {
    if !n.is_multiple_of(ty.block_len()) {
        return Err(KernelError::BadRowLength { ty, len: n, block: ty.block_len() });
    }
    ty.row_bytes(n).ok_or(KernelError::Overflow { what: "row" })
}

/// `out[t * rows + r] = dot(W row r, x row t)` for `t` in `0..n`: `x` is `[n, cols]` and `out`
/// is `[n, rows]`, both row-major f32. Runs on `pool`; shape errors are returned, not panicked.
pub fn matmul(pool: &ThreadPool, w: WeightView, x: &[f32], n: usize, out: &mut [f32]) -> Result<(), KernelError> {
    matmul_with(dispatch::current(), pool, w, x, n, out)
}

/// Activation rows per tile: 8 rows of a 1536-wide Q8_0 row are ~13 KB, well inside L1/L2.
const TILE_T: usize = 8;

/// A raw pointer that tasks may share because each writes a disjoint set of indices.
#[derive(Clone, Copy)]
struct SharedMut<T>(*mut T);
// SAFETY: the pointer is only used to write disjoint elements from different threads, and the
// owner of the slice waits (in `ThreadPool::run`) until all writes are done.
unsafe impl<T: Send> Sync for SharedMut<T> {}
unsafe impl<T: Send> Send for SharedMut<T> {}
impl<T> SharedMut<T> {
    /// Taking `self` makes closures capture the whole wrapper (which is `Sync`), not the field.
    fn get(self) -> *mut T {
        self.0
    }
}

thread_local! {
    /// Quantized activations of the current call; u64 elements keep Q8_K's f32 fields aligned.
    static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn matmul_with(
    table: &Table,
    pool: &ThreadPool,
    w: WeightView,
    x: &[f32],
    n: usize,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let k = table.get(w.ty).ok_or(KernelError::Unsupported { ty: w.ty, op: "matmul" })?;
    let w_row = w.check()?;
    let (rows, cols) = (w.rows, w.cols);
    let x_len = n.checked_mul(cols).ok_or(KernelError::Overflow { what: "activations" })?;
    if x.len() != x_len {
        return Err(KernelError::ShapeMismatch { what: "activations", expected: x_len, got: x.len() });
    }
    let out_len = n.checked_mul(rows).ok_or(KernelError::Overflow { what: "output" })?;
    if out.len() != out_len {
        return Err(KernelError::ShapeMismatch { what: "output", expected: out_len, got: out.len() });
    }
    if out_len == 0 {
        return Ok(());
    }
    let a_row = row_bytes(k.act, cols)?;
    let a_len = a_row.checked_mul(n).ok_or(KernelError::Overflow { what: "quantized activations" })?;

    if k.act == GgmlType::F32 {
        // F32 weights take the activations as they are.
        run_dots(pool, k, w.data, w_row, bytemuck::cast_slice(x), a_row, rows, n, out);
        return Ok(());
    }
    let mut owned = Vec::new();
    SCRATCH.with(|cell| {
        // A nested call on this thread (not something the engine does) gets its own buffer.
        let mut borrowed = cell.try_borrow_mut();
        let buf: &mut Vec<u64> = match borrowed.as_mut() {
            Ok(b) => b,
            Err(_) => &mut owned,
        };
        let words = a_len.div_ceil(8);
        if buf.len() < words {
            buf.resize(words, 0);
        }
        let acts: &mut [u8] = &mut bytemuck::cast_slice_mut(buf.as_mut_slice())[..a_len];
        quantize_rows(pool, k, x, cols, acts, a_row, n);
        run_dots(pool, k, w.data, w_row, acts, a_row, rows, n, out);
    });
    Ok(())
}

/// Converts the `n` rows of `x` into `acts`, in parallel when there are several.
fn quantize_rows(pool: &ThreadPool, k: TypeKernels, x: &[f32], cols: usize, acts: &mut [u8], a_row: usize, n: usize) {
    if n < 4 || pool.n_threads() == 1 {
        for (xr, ar) in x.chunks_exact(cols).zip(acts.chunks_exact_mut(a_row)) {
            // SAFETY: the table was built for a level the CPU supports (see `dispatch`).
            unsafe { (k.quantize)(xr, ar) };
        }
        return;
    }
    let n_tasks = n.min(4 * pool.n_threads());
    let per = n.div_ceil(n_tasks);
    let base = SharedMut(acts.as_mut_ptr());
    pool.run(n_tasks, &|task| {
        let (t0, t1) = (task * per, ((task + 1) * per).min(n));
        for t in t0..t1 {
            // SAFETY: rows t0..t1 belong to this task alone, and t < n keeps the range inside
            // `acts` (n * a_row bytes), which outlives `run`.
            let ar = unsafe { std::slice::from_raw_parts_mut(base.get().add(t * a_row), a_row) };
            // SAFETY: the table was built for a level the CPU supports.
            unsafe { (k.quantize)(&x[t * cols..(t + 1) * cols], ar) };
        }
    });
}

/// The dot-product phase: weight rows split into chunks over the pool.
#[allow(clippy::too_many_arguments)]
fn run_dots(
    pool: &ThreadPool,
    k: TypeKernels,
    wdata: &[u8],
    w_row: usize,
    acts: &[u8],
    a_row: usize,
    rows: usize,
    n: usize,
    out: &mut [f32],
) {
    // For prompts, about four chunks per thread balances uneven progress. Decoding takes one
    // chunk per thread: its matmuls are small and hundreds per token, and each task start
    // costs a contended claim plus a first four rows that nothing prefetched; at four chunks
    // per thread SmolLM2's tg was 15-20% slower (153-178 against 187-194 t/s, 2 threads).
    // A floor keeps tiny matrices from paying more in task hand-out than in work.
    let threads = pool.n_threads();
    let (per_thread, min_chunk) = if n == 1 { (1, 16) } else { (4, 4) };
    let chunk = rows.div_ceil(per_thread * threads).max(min_chunk).min(rows);
    let n_tasks = rows.div_ceil(chunk);
    let dst = SharedMut(out.as_mut_ptr());
    pool.run(n_tasks, &|task| {
        let (r0, r1) = (task * chunk, ((task + 1) * chunk).min(rows));
        let act = |t: usize| &acts[t * a_row..(t + 1) * a_row];
        let mut t0 = 0;
        if let Some(gemm) = k.gemm {
            // Groups of four activation rows against the whole chunk, register-tiled; the
            // remaining rows (n % 4) take the paths below.
            let n4 = n - n % 4;
            if n4 > 0 {
                let mut put = |t: usize, r: usize, v: &[f32]| {
                    assert!(t < n4 && r + v.len() <= r1 - r0, "gemm output outside its tile");
                    // SAFETY: row t's outputs r0 + r.. (inside the chunk, checked above) are
                    // written by this task only and lie inside `out` (t < n4 <= n); `out`
                    // outlives `run`.
                    unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), dst.get().add(t * rows + r0 + r), v.len()) };
                };
                let w = &wdata[r0 * w_row..r1 * w_row];
                // SAFETY: the table was built for a level the CPU supports.
                unsafe { gemm(w, r1 - r0, &acts[..n4 * a_row], n4, &mut put) };
                t0 = n4;
            }
        }
        if n == 1 && k.rows4.is_some() {
            decode_rows(k, wdata, w_row, act(0), r0..r1, dst);
            return;
        }
        while t0 < n {
            let t1 = (t0 + TILE_T).min(n);
            for r in r0..r1 {
                let wr = &wdata[r * w_row..(r + 1) * w_row];
                // SAFETY (both writes): (t, r) is written by this task only (r is in its chunk),
                // and t * rows + r < n * rows = out.len(); `out` outlives `run`.
                let put = |t: usize, v: f32| unsafe { *dst.get().add(t * rows + r) = v };
                let mut t = t0;
                if let Some(dot4) = k.dot4 {
                    while t + 4 <= t1 {
                        // SAFETY: the table was built for a level the CPU supports.
                        let v = unsafe { dot4(wr, [act(t), act(t + 1), act(t + 2), act(t + 3)]) };
                        (0..4).for_each(|j| put(t + j, v[j]));
                        t += 4;
                    }
                }
                for t in t..t1 {
                    // SAFETY: the table was built for a level the CPU supports.
                    put(t, unsafe { (k.dot)(wr, act(t)) });
                }
            }
            t0 = t1;
        }
    });
}

/// One activation row (`act`) times weight rows `rows` of `wdata`, into `dst[r]`: four rows at
/// a time where the type has a four-row kernel, each result bit-identical to `k.dot`.
fn decode_rows(k: TypeKernels, wdata: &[u8], w_row: usize, act: &[u8], rows: Range<usize>, dst: SharedMut<f32>) {
    let (mut r, r1) = (rows.start, rows.end);
    if let Some(rows4) = k.rows4 {
        while r + 4 <= r1 {
            // The four rows are read interleaved, which hides them from the hardware's stream
            // prefetcher when rows are short; fetch the next four ahead.
            prefetch(&wdata[((r + 4) * w_row).min(wdata.len())..((r + 8) * w_row).min(wdata.len())]);
            let wr = |j: usize| &wdata[(r + j) * w_row..(r + j + 1) * w_row];
            // SAFETY: the table was built for a level the CPU supports.
            let v = unsafe { rows4([wr(0), wr(1), wr(2), wr(3)], act) };
            for (j, v) in v.into_iter().enumerate() {
                // SAFETY: the caller gives this task rows r0..r1 of `dst` alone, inside it.
                unsafe { *dst.get().add(r + j) = v };
            }
            r += 4;
        }
    }
    for r in r..r1 {
        // SAFETY: the table was built for a level the CPU supports; the write as above.
        unsafe { *dst.get().add(r) = (k.dot)(&wdata[r * w_row..(r + 1) * w_row], act) };
    }
}

/// `outs[i] = ws[i] · x` for matrices that share their input (a layer's q, k and v, or its gate
/// and up), each result what [`matmul`] gives. Decoding (`n == 1`) runs all of them as one
/// dispatch over the pool, the input quantized once per activation format: a decode step is
/// hundreds of small matmuls, and each dispatch ends with threads waiting for the slowest.
/// Prompts (`n > 1`) take one [`matmul`] per matrix.
pub fn matmul_many(
    pool: &ThreadPool,
    ws: &[WeightView],
    x: &[f32],
    n: usize,
    outs: &mut [&mut [f32]],
) -> Result<(), KernelError> {
    if ws.len() != outs.len() {
        return Err(KernelError::ShapeMismatch { what: "outputs", expected: ws.len(), got: outs.len() });
    }
    if n != 1 || ws.iter().any(|w| w.cols == 0) {
        for (w, out) in ws.iter().zip(outs.iter_mut()) {
            matmul(pool, *w, x, n, out)?;
        }
        return Ok(());
    }
    let table = dispatch::current();
    // Per matrix: its kernels, row bytes, and which of the quantized inputs it reads.
    let mut plan = Vec::with_capacity(ws.len());
    // Quantized inputs by format, in u64s so that Q8_K's f32 fields are aligned.
    let mut acts: Vec<(GgmlType, Vec<u64>, usize)> = Vec::new();
    for (w, out) in ws.iter().zip(outs.iter()) {
        let k = table.get(w.ty).ok_or(KernelError::Unsupported { ty: w.ty, op: "matmul" })?;
        let w_row = w.check()?;
        if x.len() != w.cols {
            return Err(KernelError::ShapeMismatch { what: "activations", expected: w.cols, got: x.len() });
        }
        if out.len() != w.rows {
            return Err(KernelError::ShapeMismatch { what: "output", expected: w.rows, got: out.len() });
        }
        let a = match acts.iter().position(|(t, ..)| *t == k.act) {
            Some(a) => a,
            None => {
                let len = row_bytes(k.act, w.cols)?;
                let mut buf = vec![0u64; len.div_ceil(8)];
                let bytes = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut buf)[..len];
                if k.act == GgmlType::F32 {
                    // F32 weights read the input as it is.
                    bytes.copy_from_slice(bytemuck::cast_slice(x));
                } else {
                    // SAFETY: the table was built for a level the CPU supports (see `dispatch`).
                    unsafe { (k.quantize)(x, bytes) };
                }
                acts.push((k.act, buf, len));
                acts.len() - 1
            }
        };
        plan.push((k, w_row, a));
    }
    // The matrices laid end to end and cut into one chunk of bytes per thread, so that threads
    // get equal reads whatever the types (a Q6_K row costs more than a Q5_0 one). Row r of a
    // matrix goes to the task whose range holds its first byte, rounded to whole groups of four.
    let total: usize = ws.iter().zip(&plan).map(|(w, p)| w.rows * p.1).sum();
    if total == 0 {
        return Ok(());
    }
    let threads = pool.n_threads();
    let chunk = total.div_ceil(threads);
    let dsts: Vec<SharedMut<f32>> = outs.iter_mut().map(|o| SharedMut(o.as_mut_ptr())).collect();
    pool.run(threads, &|task| {
        let (b0, b1) = (task * chunk, ((task + 1) * chunk).min(total));
        let mut first = 0;
        for (i, w) in ws.iter().enumerate() {
            let (k, w_row, a) = plan[i];
            // The first row starting at or after byte b, in groups of four.
            let row_at = |b: usize| (b.saturating_sub(first).div_ceil(w_row).next_multiple_of(4)).min(w.rows);
            let (lo, hi) = (row_at(b0), if task + 1 == threads { w.rows } else { row_at(b1) });
            if lo < hi {
                let act = &bytemuck::cast_slice::<u64, u8>(&acts[a].1)[..acts[a].2];
                decode_rows(k, w.data, w_row, act, lo..hi, dsts[i]);
            }
            first += w.rows * w_row;
        }
    });
    Ok(())
}

/// Asks the CPU to bring `bytes` into the cache (a hint; nothing where there is no instruction).
#[inline]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch never faults and reads nothing architecturally; the address is
        // inside `bytes`.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
