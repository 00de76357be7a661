//! The stages of the sampler chain, each a function over the candidate list `(token, value)`,
//! with llama.cpp's semantics (src/llama-sampling.cpp): repetition penalties on logits,
//! top-k, locally typical sampling, top-p, min-p, temperature, and the two mirostat
//! controllers that replace the truncating stages when enabled.
//!
//! A candidate's value is a logit until a stage needs probabilities; stages that need them
//! ([`typical`], [`top_p`]) leave log-probabilities behind, which differ from the logits by a
//! constant per list, so the stages after them (min-p, temperature) see the same distribution.

use std::collections::HashMap;

use super::Rng;

/// llama.cpp's `penalties` sampler over the whole logit row (indexed by token): each token
/// seen `count > 0` times in the recent window has its logit divided by `repeat` when positive
/// (multiplied when not), then lowered by `count * frequency + presence`.
pub fn penalties(logits: &mut [f32], recent: &[u32], repeat: f32, frequency: f32, presence: f32) {
    if recent.is_empty() || (repeat == 1.0 && frequency == 0.0 && presence == 0.0) {
        return;
    }
    let mut counts: HashMap<u32, u32> = HashMap::with_capacity(recent.len());
    for &t in recent {
        *counts.entry(t).or_insert(0) += 1;
    }
    for (&t, &n) in &counts {
        // A token id beyond the row (a caller's mistake) is skipped rather than a panic.
        let Some(l) = logits.get_mut(t as usize) else { continue };
        if *l <= 0.0 {
            *l *= repeat;
        } else {
            *l /= repeat;
        }
        *l -= n as f32 * frequency + presence;
    }
}

/// Sorts by falling value (ties by token id, so runs are reproducible) and keeps the best `k`;
/// `k <= 0` keeps all.
pub fn top_k(c: &mut Vec<(u32, f32)>, k: i32) {
    let k = if k > 0 { (k as usize).min(c.len()) } else { c.len() };
    if k == 0 {
        return;
    }
    let by_value = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if k < c.len() {
        // A partial selection first, so only the kept ones are sorted.
        c.select_nth_unstable_by(k - 1, by_value);
        c.truncate(k);
    }
    c.sort_unstable_by(by_value);
}

/// Replaces values by softmax(value / temperature), in place.
pub fn softmax(c: &mut [(u32, f32)], temperature: f32) {
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

fn to_log(c: &mut [(u32, f32)]) {
    for e in c.iter_mut() {
        e.1 = e.1.ln();
    }
}

/// Locally typical sampling (Meister et al.): keeps the tokens whose surprise is closest to
/// the distribution's entropy until their mass exceeds `p`. `p >= 1` is off. Expects `c`
/// sorted by falling value and leaves it so.
pub fn typical(c: &mut Vec<(u32, f32)>, p: f32) {
    if p >= 1.0 || c.len() <= 1 {
        return;
    }
    softmax(c, 1.0);
    let entropy: f32 = -c.iter().filter(|e| e.1 > 0.0).map(|e| e.1 * e.1.ln()).sum::<f32>();
    let mut order: Vec<(usize, f32)> = c.iter().enumerate().map(|(i, e)| (i, (-e.1.ln() - entropy).abs())).collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut cum = 0.0;
    let mut keep = order.len();
    for (n, &(i, _)) in order.iter().enumerate() {
        cum += c[i].1;
        if cum > p {
            keep = n + 1;
            break;
        }
    }
    let mut kept: Vec<usize> = order[..keep].iter().map(|e| e.0).collect();
    // Back in probability order, which the later stages expect.
    kept.sort_unstable();
    let mut out: Vec<(u32, f32)> = kept.iter().map(|&i| c[i]).collect();
    to_log(&mut out);
    *c = out;
}

/// Nucleus sampling: keeps the smallest prefix whose probability reaches `p`; `p >= 1` is off.
/// Expects `c` sorted by falling value.
pub fn top_p(c: &mut Vec<(u32, f32)>, p: f32) {
    if p >= 1.0 || c.len() <= 1 {
        return;
    }
    softmax(c, 1.0);
    let mut cum = 0.0;
    let mut keep = c.len();
    for (i, &(_, q)) in c.iter().enumerate() {
        cum += q;
        if cum >= p {
            keep = i + 1;
            break;
        }
    }
    c.truncate(keep.max(1));
    // Back to log space so the temperature applies to the kept values.
    to_log(c);
}

/// Keeps the tokens whose probability is at least `p` times the best one's; `p <= 0` is off.
/// Works on logits (or log-probabilities): the cut is `max + ln p`.
pub fn min_p(c: &mut Vec<(u32, f32)>, p: f32) {
    if p <= 0.0 || c.len() <= 1 {
        return;
    }
    let max = c.iter().map(|e| e.1).fold(f32::NEG_INFINITY, f32::max);
    let cut = max + p.min(1.0).ln();
    c.retain(|e| e.1 >= cut);
}

/// Draws one token from probabilities `c` (which sum to 1); returns its index in `c`.
pub fn draw(c: &[(u32, f32)], rng: &mut Rng) -> usize {
    let mut r = rng.next_f64() as f32;
    for (i, &(_, p)) in c.iter().enumerate() {
        if r < p {
            return i;
        }
        r -= p;
    }
    c.len().saturating_sub(1)
}

/// Mirostat 1 (Basu et al., as llama.cpp implements it): estimates the Zipf exponent from the
/// best `m = 100` tokens, keeps the k that target surprise `mu`, draws, then moves `mu` by
/// `eta` times the error between the observed surprise and `tau`. `c` holds tempered logits.
pub fn mirostat_v1(c: &mut Vec<(u32, f32)>, mu: &mut f32, tau: f32, eta: f32, n_vocab: usize, rng: &mut Rng) -> u32 {
    top_k(c, 0);
    softmax(c, 1.0);
    let m = 100usize;
    let (mut sum_ti_bi, mut sum_ti_sq) = (0.0f32, 0.0f32);
    for i in 0..(m - 1).min(c.len().saturating_sub(1)) {
        let t_i = ((i + 2) as f32 / (i + 1) as f32).ln();
        let b_i = (c[i].1 / c[i + 1].1).ln();
        if b_i.is_finite() {
            sum_ti_bi += t_i * b_i;
            sum_ti_sq += t_i * t_i;
        }
    }
    let s_hat = if sum_ti_sq > 0.0 { sum_ti_bi / sum_ti_sq } else { 1.0 };
    let eps = s_hat - 1.0;
    let k = ((eps * 2f32.powf(*mu)) / (1.0 - (n_vocab as f32).powf(-eps))).powf(1.0 / s_hat);
    // A degenerate estimate (NaN, infinity) keeps everything rather than panicking.
    let k = if k.is_finite() && k >= 1.0 {
        (k as usize).min(c.len())
    } else if k.is_finite() {
        1
    } else {
        c.len()
    };
    c.truncate(k.max(1));
    finish_mirostat(c, mu, tau, eta, rng)
}

/// Mirostat 2: keeps the tokens whose surprise `-log2 p` is at most `mu` (at least one),
/// draws, and updates `mu` as mirostat 1 does. `c` holds tempered logits.
pub fn mirostat_v2(c: &mut Vec<(u32, f32)>, mu: &mut f32, tau: f32, eta: f32, rng: &mut Rng) -> u32 {
    top_k(c, 0);
    softmax(c, 1.0);
    let keep = c.iter().position(|e| -e.1.log2() > *mu).unwrap_or(c.len());
    c.truncate(keep.max(1));
    finish_mirostat(c, mu, tau, eta, rng)
}

fn finish_mirostat(c: &mut [(u32, f32)], mu: &mut f32, tau: f32, eta: f32, rng: &mut Rng) -> u32 {
    let sum: f32 = c.iter().map(|e| e.1).sum();
    for e in c.iter_mut() {
        e.1 /= sum;
    }
    let i = draw(c, rng);
    let surprise = -c[i].1.log2();
    *mu -= eta * (surprise - tau);
    c[i].0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(values: &[f32]) -> Vec<(u32, f32)> {
        values.iter().enumerate().map(|(i, &v)| (i as u32, v)).collect()
    }

    fn ids(c: &[(u32, f32)]) -> Vec<u32> {
        c.iter().map(|e| e.0).collect()
    }

    #[test]
    fn penalties_follow_llama_cpp() {
        let mut l = vec![2.0, -2.0, 1.0, 3.0];
        // Token 0 seen twice, token 1 once, token 3 never; token 99 is out of range.
        penalties(&mut l, &[0, 1, 0, 99], 2.0, 0.5, 0.25);
        assert_eq!(l[0], 2.0 / 2.0 - 2.0 * 0.5 - 0.25);
        assert_eq!(l[1], -2.0 * 2.0 - 0.5 - 0.25);
        assert_eq!((l[2], l[3]), (1.0, 3.0));
        // Neutral settings change nothing.
        let mut d = vec![2.0, -2.0];
        penalties(&mut d, &[0, 1], 1.0, 0.0, 0.0);
        assert_eq!(d, vec![2.0, -2.0]);
    }

    #[test]
    fn top_k_keeps_the_best_sorted() {
        let mut c = list(&[0.1, 0.9, 0.5, 0.7]);
        top_k(&mut c, 2);
        assert_eq!(ids(&c), vec![1, 3]);
        let mut c = list(&[0.1, 0.9, 0.5]);
        top_k(&mut c, 0);
        assert_eq!(ids(&c), vec![1, 2, 0]);
    }

    #[test]
    fn typical_drops_tokens_far_from_the_entropy() {
        // One dominant token and a flat tail: the entropy is low, so the dominant token (whose
        // surprise is near it) is kept and the improbable tail is cut.
        let mut c = list(&[5.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        typical(&mut c, 0.5);
        assert_eq!(ids(&c), vec![0]);
        // Off at 1.
        let mut c = list(&[5.0, 0.0, 0.0]);
        typical(&mut c, 1.0);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn top_p_keeps_the_nucleus() {
        // Probabilities ~ [0.64, 0.24, 0.09, 0.03].
        let mut c = list(&[3.0, 2.0, 1.0, 0.0]);
        top_p(&mut c, 0.8);
        assert_eq!(ids(&c), vec![0, 1]);
    }

    #[test]
    fn min_p_cuts_relative_to_the_best() {
        // p ratios to the best: 1, e^-1 ~ 0.37, e^-2 ~ 0.14, e^-3 ~ 0.05.
        let mut c = list(&[3.0, 2.0, 1.0, 0.0]);
        min_p(&mut c, 0.1);
        assert_eq!(ids(&c), vec![0, 1, 2]);
        let mut c = list(&[3.0, 2.0, 1.0, 0.0]);
        min_p(&mut c, 0.0);
        assert_eq!(c.len(), 4);
    }

    /// Mean surprise (under the untruncated distribution) of 3000 draws at target `tau`.
    fn mean_surprise(version: u8, tau: f32) -> f32 {
        let logits: Vec<f32> = (0..1000).map(|i| -((i + 1) as f32).ln() * 1.1).collect();
        let mut full = list(&logits);
        softmax(&mut full, 1.0);
        let mut rng = Rng::new(9);
        let mut mu = 2.0 * tau;
        let mut total = 0.0;
        for _ in 0..3000 {
            let mut c = list(&logits);
            let id = match version {
                1 => mirostat_v1(&mut c, &mut mu, tau, 0.1, logits.len(), &mut rng),
                _ => mirostat_v2(&mut c, &mut mu, tau, 0.1, &mut rng),
            };
            total += -full[id as usize].1.log2();
        }
        total / 3000.0
    }

    #[test]
    fn mirostat_2_steers_the_surprise_toward_tau() {
        // The controller measures surprise in the truncated distribution, so the full one's
        // surprise is only near tau; what must hold is that it rises with tau.
        let (lo, hi) = (mean_surprise(2, 2.0), mean_surprise(2, 5.0));
        assert!(hi > lo + 1.0 && (lo - 2.0).abs() < 2.0, "tau 2: {lo}, tau 5: {hi}");
    }

    #[test]
    fn mirostat_1_steers_the_surprise_toward_tau() {
        let (lo, hi) = (mean_surprise(1, 2.0), mean_surprise(1, 5.0));
        assert!(hi > lo + 1.0 && (lo - 2.0).abs() < 2.0, "tau 2: {lo}, tau 5: {hi}");
    }
}
