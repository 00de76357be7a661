//! Choosing the next token from logits, with llama.cpp's chain and order: repetition
//! penalties, top-k, typical-p, top-p, min-p, temperature, then a draw with a seeded
//! generator; or, with mirostat on, temperature then the mirostat controller in place of the
//! truncating stages (as llama.cpp's common sampler builds it). Temperature 0 is greedy.
//!
//! [`SamplerOptions`] holds the four settings every caller sets; [`ChainOptions`] the rest,
//! whose defaults (Ollama's) leave the chain as plain top-k/top-p/temperature. The stages
//! themselves live in [`stages`]. The sampler remembers the recent tokens it is told of
//! ([`Sampler::accept`]) for the penalties.

pub mod stages;

use std::collections::VecDeque;

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

/// The rest of the chain, with Ollama's defaults (all neutral).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainOptions {
    /// How many recent tokens the penalties look at; 0 turns them off. The generation loop
    /// turns a negative value into the context length.
    pub repeat_last_n: i32,
    /// Divides a repeated token's positive logit (multiplies a negative one); 1 is off.
    pub repeat_penalty: f32,
    /// Subtracted once from a repeated token's logit.
    pub presence_penalty: f32,
    /// Subtracted from a repeated token's logit once per occurrence.
    pub frequency_penalty: f32,
    /// Locally typical sampling's mass; 1 is off.
    pub typical_p: f32,
    /// Drop tokens less likely than this fraction of the best one; 0 is off.
    pub min_p: f32,
    /// 0 off, 1 mirostat, 2 mirostat 2.0.
    pub mirostat: u8,
    /// The target surprise (bits).
    pub mirostat_tau: f32,
    /// The controller's learning rate.
    pub mirostat_eta: f32,
}

impl Default for ChainOptions {
    fn default() -> Self {
        ChainOptions {
            repeat_last_n: 64,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            typical_p: 1.0,
            min_p: 0.0,
            mirostat: 0,
            mirostat_tau: 5.0,
            mirostat_eta: 0.1,
        }
    }
}

impl ChainOptions {
    fn penalizes(&self) -> bool {
        self.mirostat == 0
            && self.repeat_last_n != 0
            && !(self.repeat_penalty == 1.0 && self.presence_penalty == 0.0 && self.frequency_penalty == 0.0)
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
    chain: ChainOptions,
    rng: Rng,
    /// Reused candidate list: (token, logit), then (token, probability).
    candidates: Vec<(u32, f32)>,
    /// The last `repeat_last_n` accepted tokens, oldest first.
    recent: VecDeque<u32>,
    /// Reused copy of the logit row when penalties change it.
    penalized: Vec<f32>,
    /// Mirostat's running target, starting at twice tau.
    mu: f32,
}

impl Sampler {
    pub fn new(opts: SamplerOptions) -> Sampler {
        Sampler::with_chain(opts, ChainOptions::default())
    }

    pub fn with_chain(opts: SamplerOptions, chain: ChainOptions) -> Sampler {
        let seed = opts.seed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
        });
        let mu = 2.0 * chain.mirostat_tau;
        Sampler {
            opts,
            chain,
            rng: Rng::new(seed),
            candidates: Vec::new(),
            recent: VecDeque::new(),
            penalized: Vec::new(),
            mu,
        }
    }

    pub fn options(&self) -> &SamplerOptions {
        &self.opts
    }

    pub fn chain(&self) -> &ChainOptions {
        &self.chain
    }

    /// Records a token of the sequence (prompt or generated) for the penalties' window.
    pub fn accept(&mut self, id: u32) {
        let n = self.chain.repeat_last_n;
        if n == 0 {
            return;
        }
        self.recent.push_back(id);
        if n > 0 && self.recent.len() > n as usize {
            self.recent.pop_front();
        }
    }

    /// Whether every choice is the first largest logit (`argmax`) as the model gives it:
    /// greedy, and no penalties to change the logits first.
    pub fn is_plain_greedy(&self) -> bool {
        self.greedy() && !self.chain.penalizes()
    }

    fn greedy(&self) -> bool {
        self.opts.temperature <= 0.0 || (self.chain.mirostat == 0 && self.opts.top_k == 1)
    }

    /// Picks the next token. `logits` must not be empty.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let mut pen = std::mem::take(&mut self.penalized);
        let id = {
            let logits = self.penalties_into(logits, &mut pen);
            self.sample_penalized(logits)
        };
        self.penalized = pen;
        id
    }

    /// Applies the penalties into `buf` and returns it, or `logits` when they are off.
    fn penalties_into<'a>(&self, logits: &'a [f32], buf: &'a mut Vec<f32>) -> &'a [f32] {
        if !self.chain.penalizes() || self.recent.is_empty() {
            return logits;
        }
        buf.clear();
        buf.extend_from_slice(logits);
        let (a, b) = self.recent.as_slices();
        let recent: Vec<u32> = a.iter().chain(b).copied().collect();
        let c = &self.chain;
        stages::penalties(buf, &recent, c.repeat_penalty, c.frequency_penalty, c.presence_penalty);
        buf
    }

    /// The chain after the penalties.
    fn sample_penalized(&mut self, logits: &[f32]) -> u32 {
        if self.greedy() {
            return argmax(logits);
        }
        let c = &mut self.candidates;
        c.clear();
        c.extend(logits.iter().enumerate().filter(|(_, l)| !l.is_nan()).map(|(i, &l)| (i as u32, l)));
        if c.is_empty() {
            return 0;
        }
        let ch = &self.chain;
        if ch.mirostat == 1 || ch.mirostat == 2 {
            let t = self.opts.temperature;
            for e in c.iter_mut() {
                e.1 /= t;
            }
            return if ch.mirostat == 1 {
                stages::mirostat_v1(c, &mut self.mu, ch.mirostat_tau, ch.mirostat_eta, logits.len(), &mut self.rng)
            } else {
                stages::mirostat_v2(c, &mut self.mu, ch.mirostat_tau, ch.mirostat_eta, &mut self.rng)
            };
        }
        stages::top_k(c, self.opts.top_k);
        stages::typical(c, ch.typical_p);
        stages::top_p(c, self.opts.top_p);
        stages::min_p(c, ch.min_p);
        stages::softmax(c, self.opts.temperature);
        let i = stages::draw(c, &mut self.rng);
        c.get(i).map_or(0, |e| e.0)
    }
}

impl Sampler {
    /// Picks the next token among those `accept` admits, by rejection: the unconstrained choice
    /// first (so a constraint that agrees with the model costs one check), then, when that is
    /// refused, another draw from what is left of the kept candidates, and last the whole
    /// vocabulary by falling logit (a partial sort of the best few before a full sort). None if
    /// no token is admitted.
    pub fn sample_where(&mut self, logits: &[f32], accept: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut pen = std::mem::take(&mut self.penalized);
        let id = {
            let logits = self.penalties_into(logits, &mut pen);
            self.sample_where_penalized(logits, accept)
        };
        self.penalized = pen;
        id
    }

    fn sample_where_penalized(&mut self, logits: &[f32], mut accept: impl FnMut(u32) -> bool) -> Option<u32> {
        let first = self.sample_penalized(logits);
        if accept(first) {
            return Some(first);
        }
        let mut tried = vec![first];
        if self.greedy() {
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

    #[test]
    fn plain_greedy_is_greedy_without_penalties() {
        let greedy = SamplerOptions { temperature: 0.0, ..Default::default() };
        let plain = |o: &SamplerOptions, c: ChainOptions| Sampler::with_chain(o.clone(), c).is_plain_greedy();
        assert!(plain(&greedy, ChainOptions::default()));
        assert!(plain(&SamplerOptions { top_k: 1, ..Default::default() }, ChainOptions::default()));
        assert!(!plain(&SamplerOptions::default(), ChainOptions::default()));
        assert!(!plain(&greedy, ChainOptions { repeat_penalty: 1.1, ..Default::default() }));
        assert!(!plain(&greedy, ChainOptions { presence_penalty: 0.5, ..Default::default() }));
        // Penalties over an empty window change nothing.
        assert!(plain(&greedy, ChainOptions { repeat_penalty: 1.1, repeat_last_n: 0, ..Default::default() }));
    }

    #[test]
    fn the_repeat_penalty_steers_greedy_away_from_recent_tokens() {
        let chain = ChainOptions { repeat_penalty: 2.0, ..Default::default() };
        let mut s = Sampler::with_chain(SamplerOptions { temperature: 0.0, ..Default::default() }, chain);
        let logits = [1.0f32, 3.0, 2.0];
        assert_eq!(s.sample(&logits), 1);
        s.accept(1);
        // 3 / 2 = 1.5 < 2: token 2 now wins.
        assert_eq!(s.sample(&logits), 2);
        // A window of 1 forgets token 1 once another token is accepted.
        let chain = ChainOptions { repeat_penalty: 2.0, repeat_last_n: 1, ..Default::default() };
        let mut s = Sampler::with_chain(SamplerOptions { temperature: 0.0, ..Default::default() }, chain);
        s.accept(1);
        s.accept(0);
        assert_eq!(s.sample(&logits), 1);
        // repeat_last_n 0 turns the penalties off.
        let chain = ChainOptions { repeat_penalty: 2.0, repeat_last_n: 0, ..Default::default() };
        let mut s = Sampler::with_chain(SamplerOptions { temperature: 0.0, ..Default::default() }, chain);
        s.accept(1);
        assert_eq!(s.sample(&logits), 1);
    }

    #[test]
    fn presence_and_frequency_penalties_lower_drawn_frequencies() {
        // Two equal tokens; token 0 seen three times. A frequency penalty of ln 3 / 3 per
        // occurrence makes its odds 1:3 (probability 0.25); a presence penalty of ln 3 the same.
        let logits = [0.0f32, 0.0];
        let opts = SamplerOptions { temperature: 1.0, top_k: 0, top_p: 1.0, seed: Some(13) };
        for chain in [
            ChainOptions { frequency_penalty: 3f32.ln() / 3.0, ..Default::default() },
            ChainOptions { presence_penalty: 3f32.ln(), ..Default::default() },
        ] {
            let mut s = Sampler::with_chain(opts.clone(), chain);
            for _ in 0..3 {
                s.accept(0);
            }
            let n = 20_000;
            let zeros = (0..n).filter(|_| s.sample(&logits) == 0).count() as f64 / n as f64;
            assert!((zeros - 0.25).abs() < 0.02, "{zeros}");
        }
    }

    #[test]
    fn min_p_and_typical_p_never_yield_cut_tokens() {
        // p ~ [0.64, 0.24, 0.09, 0.03]: min_p 0.2 keeps tokens 0 and 1 (0.09 / 0.64 < 0.2).
        let logits = [3.0f32, 2.0, 1.0, 0.0];
        let opts = SamplerOptions { temperature: 1.0, top_k: 0, top_p: 1.0, seed: Some(17) };
        let mut s = Sampler::with_chain(opts.clone(), ChainOptions { min_p: 0.2, ..Default::default() });
        let mut seen = [0usize; 4];
        for _ in 0..2000 {
            seen[s.sample(&logits) as usize] += 1;
        }
        assert!(seen[2] + seen[3] == 0 && seen[1] > 0, "{seen:?}");
        // A dominant token with a flat tail: typical_p 0.5 keeps only the dominant one.
        let logits = [6.0f32, 0.0, 0.0, 0.0, 0.0];
        let mut s = Sampler::with_chain(opts, ChainOptions { typical_p: 0.5, ..Default::default() });
        assert!((0..500).all(|_| s.sample(&logits) == 0));
    }

    #[test]
    fn mirostat_replaces_top_k() {
        // top_k 1 would be greedy; with mirostat 2 and a high tau the draws vary.
        let logits: Vec<f32> = (0..100).map(|i| -(i as f32) * 0.05).collect();
        let opts = SamplerOptions { temperature: 1.0, top_k: 1, top_p: 1.0, seed: Some(23) };
        let mut s = Sampler::with_chain(opts, ChainOptions { mirostat: 2, mirostat_tau: 8.0, ..Default::default() });
        let draws: Vec<u32> = (0..100).map(|_| s.sample(&logits)).collect();
        assert!(draws.iter().any(|&t| t != 0), "{draws:?}");
    }
}
