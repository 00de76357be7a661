//! Small random-weight models of every registered architecture, written here with `GgufWriter`:
//! each loads, a batched prompt gives the same logits as the same tokens fed one at a time
//! (and as other chunkings), `Logits::From` returns the tail of `Logits::All`, and what only
//! metadata switches on (llama 3's `rope_freqs`, qwen2's biases
//! and NeoX rope, gemma3's sliding layers with a ring-buffer cache shorter than the sequence,
//! gemma2's soft-caps and alternating windows) changes the output where it should and nowhere
//! else. An unknown architecture is a clear
//! error.

use std::sync::Arc;

use rollama_engine::backend::CpuBackend;
use rollama_engine::gguf::GgmlType;
use rollama_engine::gguf::{GgufFile, GgufWriter};
use rollama_engine::model::{self, Logits, Model, ModelError};

const N_VOCAB: usize = 48;
/// Longer than every sliding window below, so the windows and the ring buffer take effect.
const N_TOKENS: usize = 13;

/// A deterministic stream of uniform values in [-1, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

/// The shape and switches of a synthetic model.
#[derive(Clone)]
struct Spec {
    arch: &'static str,
    n_embd: usize,
    n_layer: usize,
    n_ff: usize,
    n_head: usize,
    n_head_kv: usize,
    head_dim: usize,
    sliding_window: Option<u32>,
    /// qwen2: q/k/v biases.
    biases: bool,
    /// A separate output projection (else tied to the embeddings).
    output: bool,
    /// llama 3: per-pair rope frequency divisors.
    rope_freqs: bool,
    /// gemma 2: attention and final logit soft-caps written to the file.
    softcaps: Option<(f32, f32)>,
    /// `blk.0.attn_q.weight` stored (as zeros) in this type instead of F32.
    q_type: Option<GgmlType>,
    seed: u64,
}

fn llama() -> Spec {
    Spec {
        arch: "llama",
        n_embd: 32,
        n_layer: 2,
        n_ff: 48,
        n_head: 4,
        n_head_kv: 2,
        head_dim: 8,
        sliding_window: None,
        biases: false,
        output: true,
        rope_freqs: false,
        softcaps: None,
        q_type: None,
        seed: 1,
    }
}

fn qwen2() -> Spec {
    Spec { arch: "qwen2", biases: true, seed: 2, ..llama() }
}

fn gemma3() -> Spec {
    // Seven layers: five sliding, the sixth global, the seventh sliding again.
    Spec { arch: "gemma3", n_layer: 7, head_dim: 16, sliding_window: Some(4), output: false, seed: 3, ..llama() }
}

fn gemma2() -> Spec {
    Spec { arch: "gemma2", n_layer: 3, head_dim: 16, sliding_window: Some(4), output: false, seed: 4, ..llama() }
}

fn write(spec: &Spec) -> Vec<u8> {
    let a = spec.arch;
    let mut w = GgufWriter::new();
    w.add_str("general.architecture", a);
    w.add_u32(&format!("{a}.embedding_length"), spec.n_embd as u32);
    w.add_u32(&format!("{a}.block_count"), spec.n_layer as u32);
    w.add_u32(&format!("{a}.feed_forward_length"), spec.n_ff as u32);
    w.add_u32(&format!("{a}.attention.head_count"), spec.n_head as u32);
    w.add_u32(&format!("{a}.attention.head_count_kv"), spec.n_head_kv as u32);
    w.add_u32(&format!("{a}.attention.key_length"), spec.head_dim as u32);
    w.add_u32(&format!("{a}.attention.value_length"), spec.head_dim as u32);
    w.add_u32(&format!("{a}.context_length"), 256);
    w.add_f32(&format!("{a}.attention.layer_norm_rms_epsilon"), 1e-6);
    w.add_f32(&format!("{a}.rope.freq_base"), 100_000.0);
    if let Some((attn, last)) = spec.softcaps {
        w.add_f32(&format!("{a}.attn_logit_softcapping"), attn);
        w.add_f32(&format!("{a}.final_logit_softcapping"), last);
    }
    if let Some(win) = spec.sliding_window {
        w.add_u32(&format!("{a}.attention.sliding_window"), win);
    }
    // A SentencePiece vocabulary of single letters; the tests feed token ids directly.
    let mut tokens = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
    tokens.extend((3..N_VOCAB).map(|i| format!("t{i}")));
    let token_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    w.add_str("tokenizer.ggml.model", "llama");
    w.add_str_array("tokenizer.ggml.tokens", &token_refs);
    w.add_f32_array("tokenizer.ggml.scores", &vec![0.0; N_VOCAB]);
    let mut types = vec![1i32; N_VOCAB];
    types[0] = 2;
    types[1] = 3;
    types[2] = 3;
    w.add_i32_array("tokenizer.ggml.token_type", &types);

    let mut rng = Lcg(spec.seed);
    let q_type = spec.q_type;
    let (d, hd, ff) = (spec.n_embd, spec.head_dim, spec.n_ff);
    let (q_w, kv_w) = (spec.n_head * hd, spec.n_head_kv * hd);
    let mut t = |name: &str, dims: &[usize], scale: f32, offset: f32| {
        let n: usize = dims.iter().product();
        let v: Vec<f32> = rng.vec(n, scale).into_iter().map(|x| x + offset).collect();
        let dims: Vec<u64> = dims.iter().map(|&x| x as u64).collect();
        match q_type.filter(|_| name == "blk.0.attn_q.weight") {
            Some(ty) => {
                let bytes = ty.row_bytes(dims[0] as usize).unwrap() * dims[1] as usize;
                w.add_tensor(name, ty, &dims, vec![0; bytes]).expect("valid tensor");
            }
            None => {
                w.add_f32_tensor(name, &dims, &v).expect("valid tensor");
            }
        }
    };
    t("token_embd.weight", &[d, N_VOCAB], 1.0, 0.0);
    t("output_norm.weight", &[d], 0.1, 1.0);
    if spec.output {
        t("output.weight", &[d, N_VOCAB], 0.3, 0.0);
    }
    let proj = 1.0 / (d as f32).sqrt();
    for il in 0..spec.n_layer {
        let n = |s: &str| format!("blk.{il}.{s}");
        t(&n("attn_norm.weight"), &[d], 0.1, 1.0);
        t(&n("attn_q.weight"), &[d, q_w], 2.0 * proj, 0.0);
        t(&n("attn_k.weight"), &[d, kv_w], 2.0 * proj, 0.0);
        t(&n("attn_v.weight"), &[d, kv_w], proj, 0.0);
        t(&n("attn_output.weight"), &[q_w, d], proj, 0.0);
        t(&n("ffn_norm.weight"), &[d], 0.1, 1.0);
        t(&n("ffn_gate.weight"), &[d, ff], proj, 0.0);
        t(&n("ffn_up.weight"), &[d, ff], proj, 0.0);
        t(&n("ffn_down.weight"), &[ff, d], 1.0 / (ff as f32).sqrt(), 0.0);
        if spec.biases {
            t(&n("attn_q.bias"), &[q_w], 0.5, 0.0);
            t(&n("attn_k.bias"), &[kv_w], 0.5, 0.0);
            t(&n("attn_v.bias"), &[kv_w], 0.5, 0.0);
        }
        if spec.arch == "gemma3" {
            t(&n("attn_q_norm.weight"), &[hd], 0.1, 1.0);
            t(&n("attn_k_norm.weight"), &[hd], 0.1, 1.0);
        }
        if spec.arch.starts_with("gemma") {
            t(&n("post_attention_norm.weight"), &[d], 0.1, 1.0);
            t(&n("post_ffw_norm.weight"), &[d], 0.1, 1.0);
        }
    }
    if spec.rope_freqs {
        // From a stream of its own, so that the other tensors are the same with or without it.
        let f: Vec<f32> = Lcg(7).vec(hd / 2, 0.5).into_iter().map(|x| x + 2.0).collect();
        w.add_f32_tensor("rope_freqs.weight", &[hd as u64 / 2], &f).expect("valid tensor");
    }
    w.to_bytes()
}

fn load(spec: &Spec) -> Result<Box<dyn Model>, ModelError> {
    let file = GgufFile::from_bytes(write(spec)).expect("the writer's output parses");
    model::load_file(Arc::new(file), Arc::new(CpuBackend::new(2)))
}

fn prompt() -> Vec<u32> {
    let mut rng = Lcg(99);
    (0..N_TOKENS).map(|_| 3 + ((rng.next() + 1.0) * 0.5 * (N_VOCAB - 3) as f32) as u32 % (N_VOCAB as u32 - 3)).collect()
}

/// All rows' logits from feeding `tokens` in chunks of the given sizes.
fn run_chunked(m: &dyn Model, tokens: &[u32], sizes: &[usize]) -> Vec<f32> {
    let mut s = m.new_session(64);
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes.iter().cycle() {
        if at == tokens.len() {
            break;
        }
        let end = (at + n).min(tokens.len());
        out.extend(m.forward(&mut s, &tokens[at..end], Logits::All).expect("forward"));
        at = end;
    }
    assert_eq!(s.pos(), tokens.len());
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Batched, one-at-a-time and mixed chunkings agree, and `From` is the tail of `All`.
fn check_consistent(spec: &Spec) -> Vec<f32> {
    let m = load(spec).unwrap_or_else(|e| panic!("{}: {e}", spec.arch));
    let tokens = prompt();
    let batched = run_chunked(&*m, &tokens, &[N_TOKENS]);
    assert_eq!(batched.len(), N_TOKENS * N_VOCAB);
    assert!(batched.iter().all(|v| v.is_finite()), "{}: non-finite logits", spec.arch);
    for sizes in [&[1][..], &[5, 3], &[2, 7]] {
        let other = run_chunked(&*m, &tokens, sizes);
        let diff = max_diff(&batched, &other);
        assert!(diff <= 1e-4, "{}: chunks {sizes:?} differ from one batch by {diff}", spec.arch);
    }
    let mut s = m.new_session(64);
    let tail = m.forward(&mut s, &tokens, Logits::From(9)).expect("forward");
    assert_eq!(tail, batched[9 * N_VOCAB..], "{}: Logits::From(9)", spec.arch);
    let mut s = m.new_session(64);
    let last = m.forward(&mut s, &tokens, Logits::Last).expect("forward");
    assert_eq!(last, batched[(N_TOKENS - 1) * N_VOCAB..], "{}: Logits::Last", spec.arch);
    batched
}

/// The first row (token position) where two logit tables differ by more than noise.
fn first_different_row(a: &[f32], b: &[f32]) -> Option<usize> {
    (0..N_TOKENS).find(|&r| max_diff(&a[r * N_VOCAB..(r + 1) * N_VOCAB], &b[r * N_VOCAB..(r + 1) * N_VOCAB]) > 1e-4)
}

#[test]
fn llama_batched_equals_one_at_a_time() {
    check_consistent(&llama());
}

#[test]
fn llama3_rope_freqs_change_every_position_but_the_first() {
    let plain = check_consistent(&llama());
    let scaled = check_consistent(&Spec { rope_freqs: true, ..llama() });
    // At position 0 every rotation is the identity, whatever the frequencies.
    assert_eq!(first_different_row(&plain, &scaled), Some(1));
}

#[test]
fn llama_ignores_a_sliding_window_key_as_llama_cpp_does() {
    let full = check_consistent(&llama());
    let windowed = check_consistent(&Spec { sliding_window: Some(4), ..llama() });
    assert_eq!(first_different_row(&full, &windowed), None);
}

#[test]
fn qwen2_batched_equals_one_at_a_time() {
    check_consistent(&qwen2());
}

#[test]
fn qwen2_uses_neox_rope_and_its_biases() {
    // The same tensors read as llama (adjacent-pair rope) give other logits from position 1 on.
    let spec = qwen2();
    let qwen = check_consistent(&spec);
    let as_llama = check_consistent(&Spec { arch: "llama", ..spec.clone() });
    assert_eq!(first_different_row(&qwen, &as_llama), Some(1));
    // A qwen2 file without its biases is refused rather than run as something else.
    let err = load(&Spec { biases: false, ..spec }).err().expect("refused");
    assert!(err.to_string().contains("attn_q.bias"), "{err}");
}

#[test]
fn gemma3_batched_equals_one_at_a_time_with_a_window_shorter_than_the_prompt() {
    check_consistent(&gemma3());
}

#[test]
fn gemma3_sliding_window_matters_only_past_the_window() {
    let windowed = check_consistent(&gemma3());
    // A window as long as the context makes every layer attend to everything.
    let full = check_consistent(&Spec { sliding_window: Some(1024), ..gemma3() });
    assert_eq!(first_different_row(&windowed, &full), Some(4));
}

#[test]
fn gemma3_without_a_window_is_all_global() {
    let full = check_consistent(&Spec { sliding_window: Some(1024), ..gemma3() });
    let none = check_consistent(&Spec { sliding_window: None, ..gemma3() });
    // Same attention spans; only the sliding layers' RoPE base (10000 vs the file's) differs.
    assert_eq!(first_different_row(&full, &none), Some(1));
}

#[test]
fn gemma3_generation_past_the_window_matches_a_batched_prompt() {
    // Prompt of 3, then ten single tokens: the ring of 4 wraps twice; the last step must see
    // exactly what a 13-token batch sees at its last row.
    let m = load(&gemma3()).expect("loads");
    let tokens = prompt();
    let mut s = m.new_session(64);
    m.forward(&mut s, &tokens[..3], Logits::Last).expect("prompt");
    let mut last = Vec::new();
    for &t in &tokens[3..] {
        last = m.forward(&mut s, &[t], Logits::Last).expect("step");
    }
    let mut b = m.new_session(64);
    let batched = m.forward(&mut b, &tokens, Logits::Last).expect("batch");
    assert!(max_diff(&last, &batched) <= 1e-4);
}

#[test]
fn gemma2_batched_equals_one_at_a_time_and_its_caps_bound_the_logits() {
    let capped = check_consistent(&Spec { softcaps: Some((0.5, 0.25)), ..gemma2() });
    assert!(capped.iter().all(|v| v.abs() <= 0.25), "final soft-cap not applied");
    // Caps far above every score leave the model as if uncapped; tight ones change it.
    let loose = check_consistent(&Spec { softcaps: Some((1e6, 1e6)), ..gemma2() });
    assert_eq!(first_different_row(&capped, &loose), Some(0));
}

#[test]
fn gemma2_sliding_window_matters_only_past_the_window() {
    let windowed = check_consistent(&gemma2());
    let full = check_consistent(&Spec { sliding_window: Some(1024), ..gemma2() });
    assert_eq!(first_different_row(&windowed, &full), Some(4));
}

#[test]
fn every_architecture_embeds_into_its_width() {
    for spec in [llama(), qwen2(), gemma2(), gemma3()] {
        let m = load(&spec).expect("loads");
        let tokens = prompt();
        let e = m.embed(&tokens).expect("embeds");
        assert_eq!(e.len(), spec.n_embd, "{}", spec.arch);
        assert!(e.iter().all(|v| v.is_finite()) && e.iter().any(|&v| v != 0.0), "{}", spec.arch);
        assert_eq!(m.embed(&tokens).expect("embeds"), e, "{}: not deterministic", spec.arch);
        assert_ne!(m.embed(&tokens[..5]).expect("embeds"), e, "{}", spec.arch);
    }
}

#[test]
fn unknown_architecture_is_named_with_the_supported_ones() {
    let err = load(&Spec { arch: "mamba", ..llama() }).err().expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, ModelError::UnsupportedArchitecture { .. }), "{msg}");
    for name in ["mamba", "llama", "qwen2", "gemma2", "gemma3"] {
        assert!(msg.contains(name), "{msg:?} does not name {name}");
    }
}

#[test]
fn a_weight_type_without_kernels_is_named_at_load() {
    // Q8_1 is an activation format: valid in a GGUF, but no backend multiplies by it.
    let err = load(&Spec { q_type: Some(GgmlType::Q8_1), ..llama() }).err().expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, ModelError::UnsupportedType { .. }), "{msg}");
    assert!(msg.contains("blk.0.attn_q.weight") && msg.contains("Q8_1"), "{msg}");
    // A type the kernels have loads.
    assert!(load(&Spec { q_type: Some(GgmlType::Q4_0), ..llama() }).is_ok());
}

#[test]
fn heads_the_gpu_cannot_hold_are_refused_there_at_load() {
    let spec = Spec { n_head: 2, n_head_kv: 1, head_dim: 320, ..llama() };
    assert!(load(&spec).is_ok(), "the CPU takes any head width");
    let Ok(gpu) = rollama_engine::backend::GpuBackend::new() else { return };
    let file = GgufFile::from_bytes(write(&spec)).expect("the writer's output parses");
    let err = model::load_file(Arc::new(file), Arc::new(gpu)).err().expect("refused on the GPU");
    let msg = err.to_string();
    assert!(matches!(err, ModelError::BadHparam { .. }) && msg.contains("320"), "{msg}");
    // Odd head widths: the GPU's cache holds f16 pairs. Refused at load, not at the first
    // request (a split with the GPU too).
    let spec = Spec { head_dim: 9, ..llama() };
    assert!(load(&spec).is_ok(), "the CPU takes odd head widths");
    let bytes = write(&spec);
    let gpu = Arc::new(rollama_engine::backend::GpuBackend::new().expect("opened above"));
    let file = Arc::new(GgufFile::from_bytes(bytes).expect("the writer's output parses"));
    let err = model::load_file(Arc::clone(&file), Arc::clone(&gpu)).err().expect("refused on the GPU");
    assert!(matches!(err, ModelError::BadHparam { .. }) && err.to_string().contains("even"), "{err}");
    let cpu_be = Arc::new(CpuBackend::new(1));
    let err = model::load_offloaded(file, &cpu_be, &gpu, Some(1), &Default::default()).err().expect("refused split");
    assert!(matches!(err, ModelError::BadHparam { .. }), "{err}");
}

/// Where a backend's largest buffer holds fewer than 512 activation rows, prompts go through
/// in chunks that fit (here 5 of 13 tokens, with a binding shrunk to that) and give the CPU's
/// logits; a single row wider than the buffer is refused at load instead of failing on the
/// first request.
#[test]
fn chunks_shrink_to_the_largest_gpu_buffer() {
    use rollama_engine::backend::gpu::Arith;
    use rollama_engine::backend::GpuBackend;
    let Ok(gpu) = GpuBackend::with_arith(Arith::F64) else { return };
    let spec = Spec { n_ff: 200, ..llama() };
    let tokens = prompt();
    let want = run_chunked(&*load(&spec).unwrap(), &tokens, &[N_TOKENS]);
    // Five rows of the widest activation (the feed-forward's 200 values), and a little more.
    gpu.set_max_binding(5 * 200 * 4 + 12);
    let gpu = Arc::new(gpu);
    let file = Arc::new(GgufFile::from_bytes(write(&spec)).expect("the writer's output parses"));
    let m = model::load_file(Arc::clone(&file), Arc::clone(&gpu)).expect("loads with small buffers");
    assert_eq!(m.hparams().max_batch(&*gpu, 512), 5);
    let got = run_chunked(&*m, &tokens, &[N_TOKENS]);
    let diff = max_diff(&got, &want);
    assert!(diff < 0.01, "chunks of 5 on the GPU differ from the CPU's one batch by {diff}");
    // 150 values cannot hold one row of the feed-forward's 200.
    gpu.set_max_binding(150 * 4);
    let err = model::load_file(file, gpu).err().expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, ModelError::BadHparam { .. }) && msg.contains("feed_forward_length"), "{msg}");
}

/// Logits of every chunking of [`check_consistent`] and greedy ids, from `m`.
fn outputs(m: &dyn Model) -> (Vec<Vec<f32>>, Vec<u32>) {
    let tokens = prompt();
    let logits = [&[N_TOKENS][..], &[1], &[5, 3]].iter().map(|sizes| run_chunked(m, &tokens, sizes)).collect();
    let mut s = m.new_session(64);
    let mut ids = vec![m.forward_greedy(&mut s, &tokens).expect("forward").expect("an id")];
    for _ in 0..4 {
        let next = m.forward_greedy(&mut s, &[*ids.last().unwrap()]).expect("forward").expect("an id");
        ids.push(next);
    }
    (logits, ids)
}

/// A model split between two backends at every layer (`num_gpu` from 0 to all, the output
/// included) computes what one backend does: activations cross between them whole and in
/// order. Split between two CPU backends, to the bit; between the CPU and a GPU where a
/// Vulkan adapter exists, the same greedy tokens and logits within 0.01 (these f32
/// weights' products on the GPU do not round as the CPU's, unlike the quantized ones: gpu.rs
/// checks a real model's split to the bit).
#[test]
fn a_model_split_between_backends_equals_one_backend() {
    use rollama_engine::backend::{Backend, Placement, SplitBackend};
    fn split<B: Backend>(spec: &Spec, b: B, b_layers: usize) -> Box<dyn Model> {
        let file = Arc::new(GgufFile::from_bytes(write(spec)).expect("the writer's output parses"));
        let split = SplitBackend::new(
            Arc::new(CpuBackend::new(1)),
            Arc::new(b),
            Placement::last_layers(spec.n_layer, b_layers),
        );
        model::load_file(file, Arc::new(split)).expect("loads split")
    }
    let gpu = || rollama_engine::backend::GpuBackend::with_arith(rollama_engine::backend::gpu::Arith::F64).ok();
    for spec in [llama(), qwen2(), gemma3(), gemma2()] {
        let whole = outputs(&*load(&spec).unwrap());
        for b_layers in 0..=spec.n_layer + 1 {
            let m = split(&spec, CpuBackend::new(2), b_layers);
            assert_eq!(outputs(&*m), whole, "{}: {b_layers} layers on the second CPU backend", spec.arch);
            if let Some(g) = gpu().filter(|g| g.arith() == rollama_engine::backend::gpu::Arith::F64) {
                let m = split(&spec, g, b_layers);
                let (logits, ids) = outputs(&*m);
                assert_eq!(ids, whole.1, "{}: {b_layers} layers on {}", spec.arch, m.backend_name());
                for (g, c) in logits.iter().zip(&whole.0) {
                    let diff = max_diff(g, c);
                    assert!(diff < 0.01, "{}: {b_layers} layers on the GPU: logits differ by {diff}", spec.arch);
                }
            }
        }
    }
}

/// Activations cross between split backends only at the boundary: a decode step with the
/// middle layer first on the second backend copies one token's residual row there (and
/// where the architecture adds it late, the last sub-block's output), and, the output
/// staying on the first backend, the head's input row back.
#[test]
fn a_split_decode_step_copies_only_at_the_boundary() {
    use rollama_engine::backend::{Placement, SplitBackend};
    for spec in [llama(), gemma3()] {
        let file = Arc::new(GgufFile::from_bytes(write(&spec)).expect("the writer's output parses"));
        let placement = Placement::last_layers(spec.n_layer, spec.n_layer / 2);
        let split = Arc::new(SplitBackend::new(Arc::new(CpuBackend::new(1)), Arc::new(CpuBackend::new(1)), placement));
        let m = model::load_file(file, Arc::clone(&split)).expect("loads split");
        let mut s = m.new_session(64);
        let id = m.forward_greedy(&mut s, &prompt()).unwrap().unwrap();
        let before = split.copied();
        m.forward_greedy(&mut s, &[id]).unwrap();
        let (values, copies) = (split.copied().0 - before.0, split.copied().1 - before.1);
        eprintln!("{}: {copies} copies, {values} values", spec.arch);
        // llama adds the last sub-block's output in the next layer's fused add+norm, so that
        // row crosses too; gemma 3 adds it before.
        let rows = if spec.arch == "llama" { 3 } else { 2 };
        assert_eq!((values, copies), (rows * spec.n_embd as u64, rows), "{}", spec.arch);
    }
}

/// A context whose cache cannot exist is an error when the session is made, on every
/// backend, not an aborted process: past the address space, past the machine's memory, past
/// the GPU's largest binding. A session that fits still works afterwards.
#[test]
fn a_session_too_large_for_memory_is_an_error() {
    let m = load(&llama()).unwrap();
    for n_ctx in [usize::MAX, 1 << 50] {
        let err = m.try_new_session(n_ctx).err().expect("refused");
        assert!(matches!(err, ModelError::ContextTooLarge { .. }), "{err}");
        assert!(err.to_string().contains("KV cache"), "{err}");
    }
    assert!(m.try_new_session(64).is_ok());
    let Ok(gpu) = rollama_engine::backend::GpuBackend::new() else { return };
    let file = Arc::new(GgufFile::from_bytes(write(&llama())).expect("the writer's output parses"));
    let g = model::load_file(file, Arc::new(gpu)).expect("loads on the GPU");
    let err = g.try_new_session(1 << 40).err().expect("refused");
    assert!(matches!(err, ModelError::OutOfDeviceMemory { .. }), "{err}");
    let mut s = g.try_new_session(64).expect("a small one fits");
    assert!(g.forward_greedy(&mut s, &prompt()).unwrap().is_some());
}
