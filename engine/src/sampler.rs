//! Choosing the next token from logits: greedy, or top-k, then top-p, then temperature,
//! then a draw from the softmax with a seeded generator (llama.cpp's chain order).

/// Sampling settings with Ollama's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerOptions {
    /// 0 (or less) means greedy.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 or less keeps all.
    pub top_k: i32,
    /// Keep the smallest set of most likely tokens whose probability reaches p; 1 keeps all.
    pub top_p: f32,
    /// None seeds from the clock.
    pub seed: Option<u64>,
}

impl Default for SamplerOptions {
    fn default() -> Self {
        SamplerOptions { temperature: 0.8, top_k: 40, top_p: 0.9, seed: None }
    }
}

/// A small, fast, seedable generator (SplitMix64 then xoshiro256**): sampling needs
/// reproducibility for a seed, not cryptographic strength.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng { s: [next(), next(), next(), next()] }
    }

    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

pub struct Sampler {
    opts: SamplerOptions,
    rng: Rng,
    /// Reused candidate list: (token, logit), then (token, probability).
    candidates: Vec<(u32, f32)>,
}

impl Sampler {
    pub fn new(opts: SamplerOptions) -> Sampler {
        let seed = opts.seed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
        });
        Sampler { opts, rng: Rng::new(seed), candidates: Vec::new() }
    }

    pub fn options(&self) -> &SamplerOptions {
        &self.opts
    }

    /// Picks the next token. `logits` must not be empty.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.opts.temperature <= 0.0 || self.opts.top_k == 1 {
            return argmax(logits);
        }
        let c = &mut self.candidates;
        c.clear();
        c.extend(logits.iter().enumerate().filter(|(_, l)| !l.is_nan()).map(|(i, &l)| (i as u32, l)));
        if c.is_empty() {
            return 0;
        }
        // Top-k: a partial selection, then sort only the kept ones.
        let k = if self.opts.top_k > 0 { (self.opts.top_k as usize).min(c.len()) } else { c.len() };
        if k < c.len() {
            c.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            c.truncate(k);
        }
        c.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        // Top-p on the softmax of the (untempered) logits, as llama.cpp's chain does.
        if self.opts.top_p < 1.0 {
            softmax_in_place(c, 1.0);
            let mut cum = 0.0;
            let mut keep = c.len();
            for (i, &(_, p)) in c.iter().enumerate() {
                cum += p;
                if cum >= self.opts.top_p {
                    keep = i + 1;
                    break;
                }
            }
            c.truncate(keep.max(1));
            // Back to log space so the temperature applies to the kept logits.
            for e in c.iter_mut() {
                e.1 = e.1.ln();
            }
        }
        softmax_in_place(c, self.opts.temperature);
        let mut r = self.rng.next_f64() as f32;
        for &(id, p) in c.iter() {
            if r < p {
                return id;
            }
            r -= p;
        }
        c.last().map_or(0, |&(id, _)| id)
    }
}

impl Sampler {
    /// Picks the next token among those `accept` admits, by rejection: the unconstrained choice
    /// first (so a constraint that agrees with the model costs one check), then, when that is
    /// refused, another draw from what is left of the kept candidates, and last the whole
    /// vocabulary by falling logit (a partial sort of the best few before a full sort). None if
    /// no token is admitted.
    pub fn sample_where(&mut self, logits: &[f32], mut accept: impl FnMut(u32) -> bool) -> Option<u32> {
        let first = self.sample(logits);
        if accept(first) {
            return Some(first);
        }
        let mut tried = vec![first];
        if self.opts.temperature <= 0.0 || self.opts.top_k == 1 {
            // Greedy: the next best few by a scan each (cheaper than sorting the vocabulary
            // when the constraint refuses only the model's first choices, as it usually does).
            for _ in 0..4 {
                let (mut best, mut best_v) = (None, f32::NEG_INFINITY);
                for (i, &v) in logits.iter().enumerate() {
                    if v > best_v && !tried.contains(&(i as u32)) {
                        (best, best_v) = (Some(i as u32), v);
                    }
                }
                let Some(id) = best else { break };
                if accept(id) {
                    return Some(id);
                }
                tried.push(id);
            }
        } else {
            // `candidates` holds the truncated distribution `sample` drew from.
            let mut c = std::mem::take(&mut self.candidates);
            c.retain(|&(id, _)| id != first);
            while !c.is_empty() {
                let total: f32 = c.iter().map(|e| e.1).sum();
                let mut r = self.rng.next_f64() as f32 * total;
                let mut pick = c.len() - 1;
                for (i, &(_, p)) in c.iter().enumerate() {
                    if r < p {
                        pick = i;
                        break;
                    }
                    r -= p;
                }
                let (id, _) = c.swap_remove(pick);
                if accept(id) {
                    self.candidates = c;
                    return Some(id);
                }
                tried.push(id);
            }
            self.candidates = c;
        }
        let mut all: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(i, l)| !l.is_nan() && !tried.contains(&(*i as u32)))
            .map(|(i, &l)| (i as u32, l))
            .collect();
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        const FIRST: usize = 64;
        if all.len() > FIRST {
            all.select_nth_unstable_by(FIRST - 1, by_logit);
            let (best, rest) = all.split_at_mut(FIRST);
            best.sort_unstable_by(by_logit);
            if let Some(&(id, _)) = best.iter().find(|e| accept(e.0)) {
                return Some(id);
            }
            rest.sort_unstable_by(by_logit);
            return rest.iter().find(|e| accept(e.0)).map(|e| e.0);
        }
        all.sort_unstable_by(by_logit);
        all.iter().find(|e| accept(e.0)).map(|e| e.0)
    }
}

/// The index of the largest logit (the first one on ties), ignoring NaNs.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}

/// Replaces each logit by softmax(logit / temperature).
fn softmax_in_place(c: &mut [(u32, f32)], temperature: f32) {
    let max = c.iter().map(|e| e.1).fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for e in c.iter_mut() {
        e.1 = ((e.1 - max) / temperature).exp();
        sum += e.1;
    }
    for e in c.iter_mut() {
        e.1 /= sum;
    }
}

/// log softmax of one logit row at `target`, in f64: the per-token loss of perplexity.
pub fn log_softmax_at(logits: &[f32], target: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    logits[target] as f64 - max - sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_picks_the_first_maximum() {
        let mut s = Sampler::new(SamplerOptions { temperature: 0.0, ..Default::default() });
        assert_eq!(s.sample(&[0.1, 3.0, -1.0, 3.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 1.0, 2.0]), 2);
    }

    #[test]
    fn top_k_one_is_greedy_whatever_the_temperature() {
        let mut s = Sampler::new(SamplerOptions { temperature: 5.0, top_k: 1, top_p: 1.0, seed: Some(1) });
        for _ in 0..100 {
            assert_eq!(s.sample(&[0.0, 0.5, 0.4]), 1);
        }
    }

    #[test]
    fn top_k_never_yields_tokens_outside_the_k_best() {
        let logits: Vec<f32> = (0..100).map(|i| i as f32 * 0.01).collect();
        let mut s = Sampler::new(SamplerOptions { temperature: 10.0, top_k: 3, top_p: 1.0, seed: Some(7) });
        for _ in 0..500 {
            assert!(s.sample(&logits) >= 97);
        }
    }

    #[test]
    fn top_p_cuts_the_tail() {
        // Probabilities ~ [0.64, 0.24, 0.09, 0.03]: top_p 0.8 keeps only the first two.
        let logits = [3.0f32, 2.0, 1.0, 0.0];
        let mut s = Sampler::new(SamplerOptions { temperature: 1.0, top_k: 0, top_p: 0.8, seed: Some(3) });
        let mut seen = [0usize; 4];
        for _ in 0..2000 {
            seen[s.sample(&logits) as usize] += 1;
        }
        assert_eq!(seen[2] + seen[3], 0, "{seen:?}");
        assert!(seen[0] > seen[1] && seen[1] > 0, "{seen:?}");
    }

    #[test]
    fn temperature_follows_the_softmax_statistically() {
        // With temperature 1 and no truncation, frequencies approach softmax([0, ln 3]) = [0.25, 0.75].
        let logits = [0.0f32, 3f32.ln()];
        let mut s = Sampler::new(SamplerOptions { temperature: 1.0, top_k: 0, top_p: 1.0, seed: Some(11) });
        let n = 20_000;
        let ones = (0..n).filter(|_| s.sample(&logits) == 1).count() as f64 / n as f64;
        assert!((ones - 0.75).abs() < 0.02, "{ones}");
    }

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
        let opts = SamplerOptions { temperature: 1.2, top_k: 20, top_p: 0.95, seed: Some(42) };
        let (mut a, mut b) = (Sampler::new(opts.clone()), Sampler::new(opts));
        let da: Vec<u32> = (0..200).map(|_| a.sample(&logits)).collect();
        let db: Vec<u32> = (0..200).map(|_| b.sample(&logits)).collect();
        assert_eq!(da, db);
        assert!(da.iter().any(|&t| t != da[0]), "a temperature of 1.2 must not be deterministic across draws");
    }

    #[test]
    fn sample_where_only_returns_admitted_tokens() {
        let logits: Vec<f32> = (0..300).map(|i| ((i * 37) % 101) as f32 * 0.05).collect();
        for temperature in [0.0, 0.8] {
            let mut s = Sampler::new(SamplerOptions { temperature, top_k: 40, top_p: 0.9, seed: Some(5) });
            for _ in 0..50 {
                let id = s.sample_where(&logits, |t| t % 7 == 3).unwrap();
                assert_eq!(id % 7, 3);
            }
            assert_eq!(s.sample_where(&logits, |_| false), None);
            // The only admitted token is far down the ranking: the full-vocabulary fallback finds it.
            assert_eq!(s.sample_where(&logits, |t| t == 0), Some(0));
        }
        // Greedy with a constraint picks the best admitted token.
        let mut s = Sampler::new(SamplerOptions { temperature: 0.0, ..Default::default() });
        assert_eq!(s.sample_where(&[1.0, 5.0, 3.0, 4.0], |t| t != 1), Some(3));
    }

    #[test]
    fn log_softmax_matches_a_direct_computation() {
        let logits = [1.0f32, 2.0, 3.0];
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        assert!((log_softmax_at(&logits, 2) - (3f64.exp() / z).ln()).abs() < 1e-12);
    }
}
