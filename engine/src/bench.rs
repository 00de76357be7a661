//! Throughput measurement shared by `rollama bench` and the benches crate, the way
//! llama-bench measures: prompt processing feeds N random tokens in one batch, generation
//! feeds N random tokens one at a time; each test runs once to warm up, then `reps` times.

use std::time::Instant;

use crate::model::{Logits, Model, ModelError};
use crate::sampler::Rng;

/// Tokens per second of one test: mean and sample standard deviation.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub mean: f64,
    pub stddev: f64,
}

/// Which test.
#[derive(Debug, Clone, Copy)]
pub enum Test {
    /// Prompt processing of N tokens.
    Pp(usize),
    /// Generation of N tokens.
    Tg(usize),
}

/// Runs `test` on `model` `reps` times after a warm-up.
pub fn measure(model: &dyn Model, test: Test, reps: usize, rng: &mut Rng) -> Result<Rate, ModelError> {
    let mut once = || -> Result<f64, ModelError> {
        let n = match test {
            Test::Pp(n) | Test::Tg(n) => n.max(1),
        };
        let n_vocab = model.hparams().n_vocab as u64;
        let tokens: Vec<u32> = (0..n).map(|_| (rng.next_u64() % n_vocab) as u32).collect();
        let mut session = model.new_session(n);
        let start = Instant::now();
        match test {
            Test::Pp(_) => {
                model.forward(&mut session, &tokens, Logits::Last)?;
            }
            Test::Tg(_) => {
                for &t in &tokens {
                    model.forward(&mut session, &[t], Logits::Last)?;
                }
            }
        }
        Ok(n as f64 / start.elapsed().as_secs_f64().max(1e-9))
    };
    once()?;
    let rates: Vec<f64> = (0..reps.max(1)).map(|_| once()).collect::<Result<_, _>>()?;
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (rates.len().max(2) - 1) as f64;
    Ok(Rate { mean, stddev: var.sqrt() })
}
