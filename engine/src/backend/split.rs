//! Partial offload: a model's first layers on one backend and its last layers on another, as
//! Ollama's `num_gpu` (a count of layers) asks: `SplitBackend<CpuBackend, GpuBackend>` runs
//! the layers that do not fit, or were not asked for, on the CPU.
//!
//! Every weight and every layer's KV cache lives on one side ([`Placement`] decides by tensor
//! name and layer index), and an op runs where its weight or cache lives. Activations follow:
//! an activation buffer has a home (the side that wrote it last) and is copied to the other
//! side only when an op there reads it, and only as many values as that op reads. Ops
//! without weights (residual adds, SwiGLU, scaling) run on side B if any of their inputs is
//! there, so that activations cross once per boundary: a decode step with the CPU's layers
//! first copies one or two rows to the GPU (the residual stream's, and the last sub-block's
//! output where the next layer adds it), and reads back only what the head leaves (an id or
//! logits) or, when the head is on the CPU, its input row.
//!
//! Nothing here knows which backend is which; the tests split a model between two CPU
//! backends, whose results must then equal one CPU backend's to the bit.

use std::cell::{Ref, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Attention, Backend, KvShape, Rope, WeightSource};
use crate::model::ModelError;

/// Which tensors go to side B: the layers from `first_b` on, and the tensors outside the
/// layers (embeddings, output norm and projection) when `rest_on_b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub n_layer: usize,
    pub first_b: usize,
    pub rest_on_b: bool,
}

impl Placement {
    /// `b_layers` on side B counted as llama.cpp and Ollama count offloaded layers: the last
    /// repeating layers first, then the output as one more (`n_layer + 1` is everything).
    pub fn last_layers(n_layer: usize, b_layers: usize) -> Placement {
        Placement { n_layer, first_b: n_layer - b_layers.min(n_layer), rest_on_b: b_layers > n_layer }
    }

    pub fn layer_on_b(&self, layer: usize) -> bool {
        layer >= self.first_b
    }

    /// Whether a GGUF tensor belongs on side B: `blk.N.*` by its layer, others by `rest_on_b`.
    pub fn tensor_on_b(&self, name: &str) -> bool {
        match layer_of(name) {
            Some(il) => self.layer_on_b(il),
            None => self.rest_on_b,
        }
    }
}

/// The layer of a GGUF tensor named `blk.N.*`.
pub(crate) fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("blk.").and_then(|r| r.split('.').next()).and_then(|n| n.parse::<usize>().ok())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

pub enum SplitWeight<A: Backend, B: Backend> {
    A(A::Weight),
    B(B::Weight),
}

/// An activation buffer with a copy on each side that has needed it. `home` holds the
/// current values; the other side's first `mirrored` values equal them. A side's buffer is
/// made when first used; a new buffer is zeros on both sides.
pub struct SplitBuf<A: Backend, B: Backend> {
    len: usize,
    sides: RefCell<Sides<A, B>>,
}

struct Sides<A: Backend, B: Backend> {
    a: Option<A::Buf>,
    b: Option<B::Buf>,
    home: Side,
    mirrored: usize,
}

/// Both sides' caches, each with every layer's entry; a layer on the other side has an
/// empty one there.
pub struct SplitKv<A: Backend, B: Backend> {
    a: A::Kv,
    b: B::Kv,
    shapes: Vec<KvShape>,
}

pub struct SplitBackend<A: Backend, B: Backend> {
    /// Shared: a server splits every model it loads over the same two backends.
    a: Arc<A>,
    b: Arc<B>,
    placement: Placement,
    /// Bytes of the file's tensors loaded on side B (what /api/ps calls `size_vram`).
    bytes_b: AtomicU64,
    bytes_all: AtomicU64,
    /// Activation values copied between the sides, and how many copies.
    copied: AtomicU64,
    copies: AtomicU64,
}

impl<A: Backend, B: Backend> SplitBackend<A, B> {
    pub fn new(a: Arc<A>, b: Arc<B>, placement: Placement) -> Self {
        let zero = || AtomicU64::new(0);
        SplitBackend { a, b, placement, bytes_b: zero(), bytes_all: zero(), copied: zero(), copies: zero() }
    }

    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// Bytes of tensor data loaded on side B and in all, so far.
    pub fn loaded_bytes(&self) -> (u64, u64) {
        (self.bytes_b.load(Ordering::Relaxed), self.bytes_all.load(Ordering::Relaxed))
    }

    /// Activation values copied between the sides so far, and in how many copies.
    pub fn copied(&self) -> (u64, u64) {
        (self.copied.load(Ordering::Relaxed), self.copies.load(Ordering::Relaxed))
    }

    fn layer_side(&self, layer: usize) -> Side {
        if self.placement.layer_on_b(layer) {
            Side::B
        } else {
            Side::A
        }
    }

    /// Where an op without weights runs: on B if any input is there, else on A.
    fn side_of(&self, bufs: &[&SplitBuf<A, B>]) -> Side {
        if bufs.iter().any(|x| x.sides.borrow().home == Side::B) {
            Side::B
        } else {
            Side::A
        }
    }

    /// Makes the first `n` values of `x` current on `side`, copying them from its home.
    fn ensure(&self, x: &SplitBuf<A, B>, side: Side, n: usize) {
        let n = n.min(x.len);
        let mut s = x.sides.borrow_mut();
        let s = &mut *s;
        let (a, b) = (&*self.a, &*self.b);
        let copy = s.home != side && s.mirrored < n;
        // A side's buffer is made zeroed when first needed: a new buffer's values. A home
        // that differs from the other side was written, so it has its buffer.
        match side {
            Side::A => _ = s.a.get_or_insert_with(|| a.buffer(x.len)),
            Side::B => _ = s.b.get_or_insert_with(|| b.buffer(x.len)),
        }
        if !copy {
            return;
        }
        let mut host = Vec::new();
        match (s.home, s.a.as_mut(), s.b.as_mut()) {
            (Side::A, Some(a_buf), Some(b_buf)) => {
                a.read(a_buf, n, &mut host);
                b.write(b_buf, &host);
            }
            (Side::B, Some(a_buf), Some(b_buf)) => {
                b.read(b_buf, n, &mut host);
                a.write(a_buf, &host);
            }
            _ => unreachable!("a written home has its buffer"),
        }
        s.mirrored = n;
        self.copied.fetch_add(n as u64, Ordering::Relaxed);
        self.copies.fetch_add(1, Ordering::Relaxed);
    }

    fn kv_shapes(&self, layers: &[KvShape], side: Side) -> Vec<KvShape> {
        let empty = KvShape { k_width: 0, v_width: 0, window: Some(1) };
        layers.iter().enumerate().map(|(il, s)| if self.layer_side(il) == side { *s } else { empty }).collect()
    }
}

/// One side of a split, so that each op is written once for both.
trait Part<A: Backend, B: Backend> {
    const SIDE: Side;
    type Be: Backend;
    fn be(s: &SplitBackend<A, B>) -> &Self::Be;
    fn buf(s: &Sides<A, B>) -> Option<&<Self::Be as Backend>::Buf>;
    fn buf_mut(s: &mut Sides<A, B>) -> &mut Option<<Self::Be as Backend>::Buf>;
    /// The weight if it lives on this side.
    fn weight(w: &SplitWeight<A, B>) -> Option<&<Self::Be as Backend>::Weight>;
    fn kv(kv: &SplitKv<A, B>) -> &<Self::Be as Backend>::Kv;
    fn kv_mut(kv: &mut SplitKv<A, B>) -> &mut <Self::Be as Backend>::Kv;
}

struct OnA;
struct OnB;

impl<A: Backend, B: Backend> Part<A, B> for OnA {
    const SIDE: Side = Side::A;
    type Be = A;
    fn be(s: &SplitBackend<A, B>) -> &A {
        &s.a
    }
    fn buf(s: &Sides<A, B>) -> Option<&A::Buf> {
        s.a.as_ref()
    }
    fn buf_mut(s: &mut Sides<A, B>) -> &mut Option<A::Buf> {
        &mut s.a
    }
    fn weight(w: &SplitWeight<A, B>) -> Option<&A::Weight> {
        match w {
            SplitWeight::A(w) => Some(w),
            SplitWeight::B(_) => None,
        }
    }
    fn kv(kv: &SplitKv<A, B>) -> &A::Kv {
        &kv.a
    }
    fn kv_mut(kv: &mut SplitKv<A, B>) -> &mut A::Kv {
        &mut kv.a
    }
}

impl<A: Backend, B: Backend> Part<A, B> for OnB {
    const SIDE: Side = Side::B;
    type Be = B;
    fn be(s: &SplitBackend<A, B>) -> &B {
        &s.b
    }
    fn buf(s: &Sides<A, B>) -> Option<&B::Buf> {
        s.b.as_ref()
    }
    fn buf_mut(s: &mut Sides<A, B>) -> &mut Option<B::Buf> {
        &mut s.b
    }
    fn weight(w: &SplitWeight<A, B>) -> Option<&B::Weight> {
        match w {
            SplitWeight::B(w) => Some(w),
            SplitWeight::A(_) => None,
        }
    }
    fn kv(kv: &SplitKv<A, B>) -> &B::Kv {
        &kv.b
    }
    fn kv_mut(kv: &mut SplitKv<A, B>) -> &mut B::Kv {
        &mut kv.b
    }
}

/// Calls `self.$f::<P>(args)` with `P` the part of `$side`.
macro_rules! on {
    ($side:expr, $self:ident . $f:ident ( $($arg:expr),* $(,)? )) => {
        match $side {
            Side::A => $self.$f::<OnA>($($arg),*),
            Side::B => $self.$f::<OnB>($($arg),*),
        }
    };
}

/// The smaller of two optional limits (None: no limit).
fn tighter(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    a.into_iter().chain(b).min()
}

fn side_of_weight<A: Backend, B: Backend>(w: &SplitWeight<A, B>) -> Side {
    match w {
        SplitWeight::A(_) => Side::A,
        SplitWeight::B(_) => Side::B,
    }
}

/// The ops on one side: each makes its inputs current there, then runs that side's op.
/// Inputs are all made current before any is borrowed, since two may be one buffer.
impl<A: Backend, B: Backend> SplitBackend<A, B> {
    /// `x` on `P`'s side, after [`Self::ensure`] put what the op reads there.
    fn get<'x, P: Part<A, B>>(&self, x: &'x SplitBuf<A, B>) -> Ref<'x, <P::Be as Backend>::Buf> {
        Ref::map(x.sides.borrow(), |s| P::buf(s).expect("ensured before use"))
    }

    /// `x` on `P`'s side for an op to write: that side becomes its home. Where the home
    /// moves, values past those copied over (by [`Self::ensure`]) or written are stale: the
    /// model code reads back only what the chunk's ops wrote, never more.
    fn out<'x, P: Part<A, B>>(&self, x: &'x mut SplitBuf<A, B>) -> &'x mut <P::Be as Backend>::Buf {
        let len = x.len;
        let s = x.sides.get_mut();
        s.home = P::SIDE;
        s.mirrored = 0;
        P::buf_mut(s).get_or_insert_with(|| P::be(self).buffer(len))
    }

    /// `x`, read and written in place on `P`'s side (its first `n` values are read).
    fn inout<'x, P: Part<A, B>>(&self, x: &'x mut SplitBuf<A, B>, n: usize) -> &'x mut <P::Be as Backend>::Buf {
        self.ensure(x, P::SIDE, n);
        self.out::<P>(x)
    }

    fn weight<P: Part<A, B>>(w: &SplitWeight<A, B>) -> &<P::Be as Backend>::Weight {
        P::weight(w).expect("an op runs on its weight's side")
    }

    fn get_rows_on<P: Part<A, B>>(&self, table: &SplitWeight<A, B>, ids: &[u32], out: &mut SplitBuf<A, B>) {
        P::be(self).get_rows(Self::weight::<P>(table), ids, self.out::<P>(out));
    }

    #[allow(clippy::too_many_arguments)]
    fn rms_norm_on<P: Part<A, B>>(
        &self,
        x: &SplitBuf<A, B>,
        w: &SplitWeight<A, B>,
        eps: f32,
        rows: usize,
        width: usize,
        out: &mut SplitBuf<A, B>,
    ) {
        self.ensure(x, P::SIDE, rows * width);
        let x = self.get::<P>(x);
        P::be(self).rms_norm(&x, Self::weight::<P>(w), eps, rows, width, self.out::<P>(out));
    }

    fn matmul_on<P: Part<A, B>>(
        &self,
        w: &SplitWeight<A, B>,
        x: &SplitBuf<A, B>,
        rows: usize,
        out: &mut SplitBuf<A, B>,
    ) {
        let w = Self::weight::<P>(w);
        self.ensure(x, P::SIDE, rows * P::be(self).weight_dims(w).1);
        let x = self.get::<P>(x);
        P::be(self).matmul(w, &x, rows, self.out::<P>(out));
    }

    fn matmul_many_on<P: Part<A, B>>(
        &self,
        ws: &[&SplitWeight<A, B>],
        x: &SplitBuf<A, B>,
        rows: usize,
        outs: &mut [&mut SplitBuf<A, B>],
    ) {
        let ws: Vec<_> = ws.iter().map(|w| Self::weight::<P>(w)).collect();
        let cols = ws.first().map_or(0, |w| P::be(self).weight_dims(w).1);
        self.ensure(x, P::SIDE, rows * cols);
        let x = self.get::<P>(x);
        let mut outs: Vec<_> = outs.iter_mut().map(|o| self.out::<P>(o)).collect();
        P::be(self).matmul_many(&ws, &x, rows, &mut outs);
    }

    fn add_bias_on<P: Part<A, B>>(&self, x: &mut SplitBuf<A, B>, bias: &SplitWeight<A, B>, rows: usize) {
        let bias = Self::weight::<P>(bias);
        let n = rows * P::be(self).weight_dims(bias).1;
        P::be(self).add_bias(self.inout::<P>(x, n), bias, rows);
    }

    #[allow(clippy::too_many_arguments)]
    fn rope_qk_on<P: Part<A, B>>(
        &self,
        q: &mut SplitBuf<A, B>,
        k: &mut SplitBuf<A, B>,
        rope: &Rope,
        n_head: usize,
        n_head_kv: usize,
        head_dim: usize,
        pos0: usize,
        rows: usize,
    ) {
        let q = self.inout::<P>(q, rows * n_head * head_dim);
        let k = self.inout::<P>(k, rows * n_head_kv * head_dim);
        P::be(self).rope_qk(q, k, rope, n_head, n_head_kv, head_dim, pos0, rows);
    }

    #[allow(clippy::too_many_arguments)]
    fn attention_on<P: Part<A, B>>(
        &self,
        q: &SplitBuf<A, B>,
        k: &SplitBuf<A, B>,
        v: &SplitBuf<A, B>,
        kv: &SplitKv<A, B>,
        layer: usize,
        attn: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut SplitBuf<A, B>,
    ) {
        self.ensure_qkv::<P>(q, k, v, &kv.shapes[layer], attn, rows);
        let (q, k, v) = (self.get::<P>(q), self.get::<P>(k), self.get::<P>(v));
        P::be(self).attention(&q, &k, &v, P::kv(kv), layer, attn, pos0, rows, self.out::<P>(out));
    }

    fn ensure_qkv<P: Part<A, B>>(
        &self,
        q: &SplitBuf<A, B>,
        k: &SplitBuf<A, B>,
        v: &SplitBuf<A, B>,
        shape: &KvShape,
        attn: &Attention,
        rows: usize,
    ) {
        self.ensure(q, P::SIDE, rows * attn.n_head * attn.head_dim);
        self.ensure(k, P::SIDE, rows * shape.k_width);
        self.ensure(v, P::SIDE, rows * shape.v_width);
    }

    #[allow(clippy::too_many_arguments)]
    fn attention_store_on<P: Part<A, B>>(
        &self,
        q: &SplitBuf<A, B>,
        k: &SplitBuf<A, B>,
        v: &SplitBuf<A, B>,
        kv: &mut SplitKv<A, B>,
        layer: usize,
        attn: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut SplitBuf<A, B>,
    ) {
        self.ensure_qkv::<P>(q, k, v, &kv.shapes[layer], attn, rows);
        let (q, k, v) = (self.get::<P>(q), self.get::<P>(k), self.get::<P>(v));
        P::be(self).attention_store(&q, &k, &v, P::kv_mut(kv), layer, attn, pos0, rows, self.out::<P>(out));
    }

    #[allow(clippy::too_many_arguments)]
    fn kv_store_on<P: Part<A, B>>(
        &self,
        kv: &mut SplitKv<A, B>,
        layer: usize,
        k: &SplitBuf<A, B>,
        v: &SplitBuf<A, B>,
        pos0: usize,
        rows: usize,
    ) {
        let shape = kv.shapes[layer];
        self.ensure(k, P::SIDE, rows * shape.k_width);
        self.ensure(v, P::SIDE, rows * shape.v_width);
        let (k, v) = (self.get::<P>(k), self.get::<P>(v));
        P::be(self).kv_store(P::kv_mut(kv), layer, &k, &v, pos0, rows);
    }

    /// SwiGLU (`gelu` false) or GeGLU.
    fn glu_on<P: Part<A, B>>(
        &self,
        gate: &SplitBuf<A, B>,
        up: &SplitBuf<A, B>,
        len: usize,
        out: &mut SplitBuf<A, B>,
        gelu: bool,
    ) {
        self.ensure(gate, P::SIDE, len);
        self.ensure(up, P::SIDE, len);
        let (gate, up) = (self.get::<P>(gate), self.get::<P>(up));
        if gelu {
            P::be(self).geglu(&gate, &up, len, self.out::<P>(out));
        } else {
            P::be(self).swiglu(&gate, &up, len, self.out::<P>(out));
        }
    }

    /// `scale` (`cap` false) or `softcap` of `x` where it lives.
    fn scale_on<P: Part<A, B>>(&self, x: &mut SplitBuf<A, B>, s: f32, len: usize, cap: bool) {
        let x = self.inout::<P>(x, len);
        if cap {
            P::be(self).softcap(x, s, len);
        } else {
            P::be(self).scale(x, s, len);
        }
    }

    fn add_on<P: Part<A, B>>(&self, x: &mut SplitBuf<A, B>, y: &SplitBuf<A, B>, len: usize) {
        self.ensure(y, P::SIDE, len);
        let y = self.get::<P>(y);
        P::be(self).add(self.inout::<P>(x, len), &y, len);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_rms_norm_on<P: Part<A, B>>(
        &self,
        x: &mut SplitBuf<A, B>,
        y: &SplitBuf<A, B>,
        w: &SplitWeight<A, B>,
        eps: f32,
        rows: usize,
        width: usize,
        out: &mut SplitBuf<A, B>,
    ) {
        self.ensure(y, P::SIDE, rows * width);
        let y = self.get::<P>(y);
        let x = self.inout::<P>(x, rows * width);
        P::be(self).add_rms_norm(x, &y, Self::weight::<P>(w), eps, rows, width, self.out::<P>(out));
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_rows_on<P: Part<A, B>>(
        &self,
        src: &SplitBuf<A, B>,
        src_row: usize,
        dst: &mut SplitBuf<A, B>,
        dst_row: usize,
        rows: usize,
        width: usize,
    ) {
        self.ensure(src, P::SIDE, (src_row + rows) * width);
        let src = self.get::<P>(src);
        // Run on dst's home (see `copy_rows`), so the rows not copied keep their values.
        let dst = self.inout::<P>(dst, 0);
        P::be(self).copy_rows(&src, src_row, dst, dst_row, rows, width);
    }

    fn read_on<P: Part<A, B>>(&self, x: &SplitBuf<A, B>, len: usize, out: &mut Vec<f32>) {
        self.ensure(x, P::SIDE, len);
        P::be(self).read(&self.get::<P>(x), len, out);
    }

    fn argmax_on<P: Part<A, B>>(&self, x: &SplitBuf<A, B>, rows: usize, width: usize) -> Vec<u32> {
        self.ensure(x, P::SIDE, rows * width);
        P::be(self).argmax(&self.get::<P>(x), rows, width)
    }

    fn write_on<P: Part<A, B>>(&self, x: &mut SplitBuf<A, B>, data: &[f32]) {
        let len = x.len;
        let s = x.sides.get_mut();
        s.mirrored = 0;
        P::be(self).write(P::buf_mut(s).get_or_insert_with(|| P::be(self).buffer(len)), data);
    }
}

fn home<A: Backend, B: Backend>(x: &SplitBuf<A, B>) -> Side {
    x.sides.borrow().home
}

impl<A: Backend, B: Backend> Backend for SplitBackend<A, B> {
    type Weight = SplitWeight<A, B>;
    type Buf = SplitBuf<A, B>;
    type Kv = SplitKv<A, B>;

    fn name(&self) -> String {
        let p = self.placement;
        let on_b = if p.first_b < p.n_layer {
            let rest = if p.rest_on_b { " and the output" } else { "" };
            format!("layers {}-{}{rest}", p.first_b, p.n_layer - 1)
        } else if p.rest_on_b {
            "the output".to_string()
        } else {
            "nothing".to_string()
        };
        format!("{} for {on_b}; {} for the rest", self.b.name(), self.a.name())
    }

    fn load_weight(&self, src: WeightSource<'_>) -> Result<Self::Weight, ModelError> {
        let bytes = src.file.tensor_data(src.info).len() as u64;
        self.bytes_all.fetch_add(bytes, Ordering::Relaxed);
        if self.placement.tensor_on_b(&src.info.name) {
            self.bytes_b.fetch_add(bytes, Ordering::Relaxed);
            Ok(SplitWeight::B(self.b.load_weight(src)?))
        } else {
            Ok(SplitWeight::A(self.a.load_weight(src)?))
        }
    }

    fn weight_dims(&self, w: &Self::Weight) -> (usize, usize) {
        match w {
            SplitWeight::A(w) => self.a.weight_dims(w),
            SplitWeight::B(w) => self.b.weight_dims(w),
        }
    }

    fn buffer(&self, len: usize) -> Self::Buf {
        SplitBuf { len, sides: RefCell::new(Sides { a: None, b: None, home: Side::A, mirrored: len }) }
    }

    fn write(&self, x: &mut Self::Buf, data: &[f32]) {
        on!(home(x), self.write_on(x, data))
    }

    fn kv_cache(&self, layers: &[KvShape], n_ctx: usize) -> Result<Self::Kv, ModelError> {
        Ok(SplitKv {
            a: self.a.kv_cache(&self.kv_shapes(layers, Side::A), n_ctx)?,
            b: self.b.kv_cache(&self.kv_shapes(layers, Side::B), n_ctx)?,
            shapes: layers.to_vec(),
        })
    }

    fn get_rows(&self, table: &Self::Weight, ids: &[u32], out: &mut Self::Buf) {
        on!(side_of_weight(table), self.get_rows_on(table, ids, out))
    }

    fn rms_norm(&self, x: &Self::Buf, w: &Self::Weight, eps: f32, rows: usize, width: usize, out: &mut Self::Buf) {
        on!(side_of_weight(w), self.rms_norm_on(x, w, eps, rows, width, out))
    }

    fn matmul(&self, w: &Self::Weight, x: &Self::Buf, rows: usize, out: &mut Self::Buf) {
        on!(side_of_weight(w), self.matmul_on(w, x, rows, out))
    }

    fn max_head_dim(&self) -> Option<usize> {
        tighter(self.a.max_head_dim(), self.b.max_head_dim())
    }

    fn needs_even_heads(&self) -> bool {
        self.a.needs_even_heads() || self.b.needs_even_heads()
    }

    fn max_buffer_len(&self) -> Option<usize> {
        tighter(self.a.max_buffer_len(), self.b.max_buffer_len())
    }

    fn weight_bytes_held(&self) -> u64 {
        self.a.weight_bytes_held() + self.b.weight_bytes_held()
    }

    fn matmul_many(&self, ws: &[&Self::Weight], x: &Self::Buf, rows: usize, outs: &mut [&mut Self::Buf]) {
        let side = ws.first().map_or(Side::A, |w| side_of_weight(w));
        if ws.iter().all(|w| side_of_weight(w) == side) {
            on!(side, self.matmul_many_on(ws, x, rows, outs))
        } else {
            for (w, out) in ws.iter().zip(outs.iter_mut()) {
                self.matmul(w, x, rows, out);
            }
        }
    }

    fn add_bias(&self, x: &mut Self::Buf, bias: &Self::Weight, rows: usize) {
        on!(side_of_weight(bias), self.add_bias_on(x, bias, rows))
    }

    fn rope(&self, x: &mut Self::Buf, rope: &Rope, n_heads: usize, head_dim: usize, pos0: usize, rows: usize) {
        match home(x) {
            Side::A => self.a.rope(self.out::<OnA>(x), rope, n_heads, head_dim, pos0, rows),
            Side::B => self.b.rope(self.out::<OnB>(x), rope, n_heads, head_dim, pos0, rows),
        }
    }

    fn rope_qk(
        &self,
        q: &mut Self::Buf,
        k: &mut Self::Buf,
        rope: &Rope,
        n_head: usize,
        n_head_kv: usize,
        head_dim: usize,
        pos0: usize,
        rows: usize,
    ) {
        on!(self.side_of(&[q, k]), self.rope_qk_on(q, k, rope, n_head, n_head_kv, head_dim, pos0, rows))
    }

    fn kv_store(&self, kv: &mut Self::Kv, layer: usize, k: &Self::Buf, v: &Self::Buf, pos0: usize, rows: usize) {
        on!(self.layer_side(layer), self.kv_store_on(kv, layer, k, v, pos0, rows))
    }

    fn attention(
        &self,
        q: &Self::Buf,
        k: &Self::Buf,
        v: &Self::Buf,
        kv: &Self::Kv,
        layer: usize,
        attn: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut Self::Buf,
    ) {
        on!(self.layer_side(layer), self.attention_on(q, k, v, kv, layer, attn, pos0, rows, out))
    }

    fn attention_store(
        &self,
        q: &Self::Buf,
        k: &Self::Buf,
        v: &Self::Buf,
        kv: &mut Self::Kv,
        layer: usize,
        attn: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut Self::Buf,
    ) {
        on!(self.layer_side(layer), self.attention_store_on(q, k, v, kv, layer, attn, pos0, rows, out))
    }

    fn swiglu(&self, gate: &Self::Buf, up: &Self::Buf, len: usize, out: &mut Self::Buf) {
        on!(self.side_of(&[gate, up]), self.glu_on(gate, up, len, out, false))
    }

    fn geglu(&self, gate: &Self::Buf, up: &Self::Buf, len: usize, out: &mut Self::Buf) {
        on!(self.side_of(&[gate, up]), self.glu_on(gate, up, len, out, true))
    }

    fn scale(&self, x: &mut Self::Buf, s: f32, len: usize) {
        on!(home(x), self.scale_on(x, s, len, false))
    }

    fn softcap(&self, x: &mut Self::Buf, cap: f32, len: usize) {
        on!(home(x), self.scale_on(x, cap, len, true))
    }

    fn add(&self, x: &mut Self::Buf, y: &Self::Buf, len: usize) {
        on!(self.side_of(&[x, y]), self.add_on(x, y, len))
    }

    fn add_rms_norm(
        &self,
        x: &mut Self::Buf,
        y: &Self::Buf,
        weight: &Self::Weight,
        eps: f32,
        rows: usize,
        width: usize,
        out: &mut Self::Buf,
    ) {
        on!(side_of_weight(weight), self.add_rms_norm_on(x, y, weight, eps, rows, width, out))
    }

    fn copy_rows(
        &self,
        src: &Self::Buf,
        src_row: usize,
        dst: &mut Self::Buf,
        dst_row: usize,
        rows: usize,
        width: usize,
    ) {
        on!(home(dst), self.copy_rows_on(src, src_row, dst, dst_row, rows, width))
    }

    fn read(&self, x: &Self::Buf, len: usize, out: &mut Vec<f32>) {
        on!(home(x), self.read_on(x, len, out))
    }

    fn argmax(&self, x: &Self::Buf, rows: usize, width: usize) -> Vec<u32> {
        on!(home(x), self.argmax_on(x, rows, width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_counts_layers_from_the_last_and_the_output_after_them() {
        let p = Placement::last_layers(30, 10);
        assert_eq!(p, Placement { n_layer: 30, first_b: 20, rest_on_b: false });
        assert!(p.tensor_on_b("blk.20.attn_q.weight") && p.tensor_on_b("blk.29.ffn_down.weight"));
        assert!(!p.tensor_on_b("blk.19.attn_q.weight") && !p.tensor_on_b("blk.2.attn_q.weight"));
        assert!(!p.tensor_on_b("output.weight") && !p.tensor_on_b("token_embd.weight"));
        // Names that only look like layers are not layers.
        assert!(!p.tensor_on_b("blk.x.attn_q.weight"));
        assert!(!p.tensor_on_b("blk25.attn_q.weight"));
        let all = Placement::last_layers(30, 31);
        assert!(all.tensor_on_b("blk.0.attn_q.weight") && all.tensor_on_b("output_norm.weight"));
        assert_eq!(Placement::last_layers(30, 1000), all);
        let none = Placement::last_layers(30, 0);
        assert!(!none.tensor_on_b("blk.29.attn_q.weight") && !none.tensor_on_b("output.weight"));
    }
}
