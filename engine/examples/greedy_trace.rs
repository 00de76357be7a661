//! Greedy decoding with the top-5 log-probabilities at each step, next to a reference file's.
//! Usage: greedy_trace MODEL REFERENCE.json [CASE_INDEX]
use std::sync::Arc;

use rollama_engine::backend::CpuBackend;
use rollama_engine::model::{self, Logits};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = model::load(&args[1], Arc::new(CpuBackend::new(2))).unwrap();
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
    let idx: usize = args.get(3).map_or(0, |s| s.parse().unwrap());
    let case = &r["greedy"][idx];
    let prompt = case["prompt"].as_str().unwrap();
    let tokens = model.tokenizer().encode(prompt, true, true);
    let mut s = model.new_session(256);
    // GREEDY_TRACE_SPLIT=k feeds the first k prompt tokens as a batch of their own (as a
    // server that reuses a cached prefix would), to see how batching changes the rounding.
    let split: usize =
        std::env::var("GREEDY_TRACE_SPLIT").ok().and_then(|v| v.parse().ok()).unwrap_or(0).min(tokens.len() - 1);
    if split > 0 {
        model.forward(&mut s, &tokens[..split], Logits::Last).unwrap();
    }
    let mut logits = model.forward(&mut s, &tokens[split..], Logits::Last).unwrap();
    for step in 0..32 {
        let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln() + max;
        let mut idxs: Vec<usize> = (0..logits.len()).collect();
        idxs.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        let ours: Vec<String> = idxs[..3].iter().map(|&i| format!("{i}:{:.4}", logits[i] as f64 - z)).collect();
        let refs: Vec<String> = case["top_logprobs"][step].as_array().unwrap()[..3]
            .iter()
            .map(|p| format!("{}:{:.4}", p[0], p[1].as_f64().unwrap()))
            .collect();
        let want = case["greedy_ids"][step].as_u64().unwrap() as usize;
        println!(
            "{step:2} {} | ours {} | ref {}",
            if idxs[0] == want { "  " } else { "XX" },
            ours.join(" "),
            refs.join(" ")
        );
        logits = model.forward(&mut s, &[want as u32], Logits::Last).unwrap();
    }
}
