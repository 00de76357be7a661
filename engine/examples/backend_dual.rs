//! Runs a reference prompt and one decode step on the CPU and the GPU backend in lockstep
//! (a backend that does every op on both) and prints, per op, how far the GPU's output is
//! from the CPU's, so that the first op that departs by more than rounding stands out.
//! Usage: backend_dual MODEL REFERENCE.json [CASE_INDEX]
use std::sync::Arc;

use rollama_engine::backend::cpu::{CpuKv, CpuWeight};
use rollama_engine::backend::gpu::{GpuBuf, GpuKv, GpuWeight};
use rollama_engine::backend::{Attention, Backend, CpuBackend, GpuBackend, KvShape, Rope, WeightSource};
use rollama_engine::model::{self, Logits, ModelError};

struct Dual {
    c: CpuBackend,
    g: GpuBackend,
    /// Ops whose CPU result is copied over the GPU's after the comparison, so that the next
    /// ops start from equal inputs (`DUAL_SYNC=all` or a comma-separated list of op names).
    sync: Vec<String>,
    quiet: bool,
    /// The GPU's copy of the last buffer checked (after a forward pass: the logits).
    last: std::sync::Mutex<Vec<f32>>,
}

impl Dual {
    fn check(&self, op: &str, b: &mut (Vec<f32>, GpuBuf)) {
        let mut g = Vec::new();
        self.g.read(&b.1, b.0.len(), &mut g);
        let (mut worst, mut at, mut scale) = (0f32, 0, 0f32);
        for (i, (&x, &y)) in b.0.iter().zip(&g).enumerate() {
            scale = scale.max(x.abs());
            if (x - y).abs() > worst {
                (worst, at) = ((x - y).abs(), i);
            }
        }
        let rel = worst / scale.max(1e-30);
        *self.last.lock().unwrap() = g.clone();
        let flag = if rel > 1e-3 { "  <<<" } else { "" };
        if self.sync.iter().any(|s| s == "all" || s == op) && !self.sync.iter().any(|s| s == &format!("-{op}")) {
            self.g.write(&mut b.1, &b.0);
        }
        if self.quiet {
            return;
        }
        println!(
            "{op:12} len {:7} max|d| {worst:.3e} (rel {rel:.1e}) at {at}: cpu {} gpu {}{flag}",
            b.0.len(),
            b.0[at],
            g[at]
        );
    }
}

impl Backend for Dual {
    type Weight = (CpuWeight, GpuWeight);
    type Buf = (Vec<f32>, GpuBuf);
    type Kv = (CpuKv, GpuKv);
    fn name(&self) -> String {
        format!("{} + {}", self.c.name(), self.g.name())
    }
    fn load_weight(&self, src: WeightSource<'_>) -> Result<Self::Weight, ModelError> {
        let s2 = WeightSource { file: src.file, info: src.info };
        Ok((self.c.load_weight(src)?, self.g.load_weight(s2)?))
    }
    fn weight_dims(&self, w: &Self::Weight) -> (usize, usize) {
        self.c.weight_dims(&w.0)
    }
    fn buffer(&self, len: usize) -> Self::Buf {
        (self.c.buffer(len), self.g.buffer(len))
    }
    fn write(&self, x: &mut Self::Buf, data: &[f32]) {
        self.c.write(&mut x.0, data);
        self.g.write(&mut x.1, data);
    }
    fn kv_cache(&self, layers: &[KvShape], n_ctx: usize) -> Result<Self::Kv, ModelError> {
        Ok((self.c.kv_cache(layers, n_ctx)?, self.g.kv_cache(layers, n_ctx)?))
    }
    fn get_rows(&self, t: &Self::Weight, ids: &[u32], out: &mut Self::Buf) {
        self.c.get_rows(&t.0, ids, &mut out.0);
        self.g.get_rows(&t.1, ids, &mut out.1);
        self.check("get_rows", out);
    }
    fn rms_norm(&self, x: &Self::Buf, w: &Self::Weight, eps: f32, rows: usize, width: usize, out: &mut Self::Buf) {
        self.c.rms_norm(&x.0, &w.0, eps, rows, width, &mut out.0);
        self.g.rms_norm(&x.1, &w.1, eps, rows, width, &mut out.1);
        self.check("rms_norm", out);
    }
    fn matmul(&self, w: &Self::Weight, x: &Self::Buf, rows: usize, out: &mut Self::Buf) {
        self.c.matmul(&w.0, &x.0, rows, &mut out.0);
        self.g.matmul(&w.1, &x.1, rows, &mut out.1);
        self.check("matmul", out);
    }
    fn add_bias(&self, x: &mut Self::Buf, b: &Self::Weight, rows: usize) {
        self.c.add_bias(&mut x.0, &b.0, rows);
        self.g.add_bias(&mut x.1, &b.1, rows);
        self.check("add_bias", x);
    }
    fn rope(&self, x: &mut Self::Buf, r: &Rope, n_heads: usize, head_dim: usize, pos0: usize, rows: usize) {
        self.c.rope(&mut x.0, r, n_heads, head_dim, pos0, rows);
        self.g.rope(&mut x.1, r, n_heads, head_dim, pos0, rows);
        self.check("rope", x);
    }
    fn kv_store(&self, kv: &mut Self::Kv, layer: usize, k: &Self::Buf, v: &Self::Buf, pos0: usize, rows: usize) {
        self.c.kv_store(&mut kv.0, layer, &k.0, &v.0, pos0, rows);
        self.g.kv_store(&mut kv.1, layer, &k.1, &v.1, pos0, rows);
    }
    fn attention(
        &self,
        q: &Self::Buf,
        k: &Self::Buf,
        v: &Self::Buf,
        kv: &Self::Kv,
        layer: usize,
        a: &Attention,
        pos0: usize,
        rows: usize,
        out: &mut Self::Buf,
    ) {
        self.c.attention(&q.0, &k.0, &v.0, &kv.0, layer, a, pos0, rows, &mut out.0);
        self.g.attention(&q.1, &k.1, &v.1, &kv.1, layer, a, pos0, rows, &mut out.1);
        self.check("attention", out);
    }
    fn swiglu(&self, gate: &Self::Buf, up: &Self::Buf, len: usize, out: &mut Self::Buf) {
        self.c.swiglu(&gate.0, &up.0, len, &mut out.0);
        self.g.swiglu(&gate.1, &up.1, len, &mut out.1);
        self.check("swiglu", out);
    }
    fn geglu(&self, gate: &Self::Buf, up: &Self::Buf, len: usize, out: &mut Self::Buf) {
        self.c.geglu(&gate.0, &up.0, len, &mut out.0);
        self.g.geglu(&gate.1, &up.1, len, &mut out.1);
        self.check("geglu", out);
    }
    fn scale(&self, x: &mut Self::Buf, s: f32, len: usize) {
        self.c.scale(&mut x.0, s, len);
        self.g.scale(&mut x.1, s, len);
        self.check("scale", x);
    }
    fn softcap(&self, x: &mut Self::Buf, cap: f32, len: usize) {
        self.c.softcap(&mut x.0, cap, len);
        self.g.softcap(&mut x.1, cap, len);
        self.check("softcap", x);
    }
    fn add(&self, x: &mut Self::Buf, y: &Self::Buf, len: usize) {
        self.c.add(&mut x.0, &y.0, len);
        self.g.add(&mut x.1, &y.1, len);
        self.check("add", x);
    }
    fn copy_rows(&self, src: &Self::Buf, sr: usize, dst: &mut Self::Buf, dr: usize, rows: usize, width: usize) {
        self.c.copy_rows(&src.0, sr, &mut dst.0, dr, rows, width);
        self.g.copy_rows(&src.1, sr, &mut dst.1, dr, rows, width);
        self.check("copy_rows", dst);
    }
    fn read(&self, x: &Self::Buf, len: usize, out: &mut Vec<f32>) {
        self.c.read(&x.0, len, out);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
    let idx: usize = args.get(3).map_or(0, |s| s.parse().unwrap());
    let prompt = r["greedy"][idx]["prompt"].as_str().unwrap();
    let sync = std::env::var("DUAL_SYNC").unwrap_or_default().split(',').map(String::from).collect();
    let quiet = std::env::var_os("DUAL_QUIET").is_some();
    let be =
        Arc::new(Dual { c: CpuBackend::new(2), g: GpuBackend::new().unwrap(), sync, quiet, last: Default::default() });
    let m = model::load(&args[1], Arc::clone(&be)).unwrap();
    let tokens = m.tokenizer().encode(prompt, true, true);
    let mut s = m.new_session(256);
    let steps: usize = std::env::var("DUAL_STEPS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut logits = m.forward(&mut s, &tokens, Logits::Last).unwrap();
    for step in 0..steps {
        let g = be.last.lock().unwrap().clone();
        let (c2, g2) = (top2(&logits), top2(&g));
        let drift = (c2[0].1 - logprob(&g, c2[0].0)).abs();
        let max_abs = logits.iter().zip(&g).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        println!(
            "step {step:2}: cpu {:?} gap {:.4} | gpu {:?} | drift {drift:.4} max|dlogit| {max_abs:.4}{}",
            c2[0],
            c2[0].1 - c2[1].1,
            g2[0],
            if c2[0].0 == g2[0].0 { "" } else { "  SPLIT" }
        );
        logits = m.forward(&mut s, &[c2[0].0], Logits::Last).unwrap();
    }
}

fn logprob(l: &[f32], id: u32) -> f64 {
    let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z = l.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln() + max;
    l[id as usize] as f64 - z
}

fn top2(l: &[f32]) -> [(u32, f64); 2] {
    let mut idx: Vec<usize> = (0..l.len()).collect();
    idx.sort_by(|&a, &b| l[b].total_cmp(&l[a]));
    [(idx[0] as u32, logprob(l, idx[0] as u32)), (idx[1] as u32, logprob(l, idx[1] as u32))]
}
