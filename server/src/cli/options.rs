//! `-o KEY=VALUE` generation options, with Ollama's names and defaults.

use rollama_engine::generate::GenerateOptions;
use rollama_engine::sampler::SamplerOptions;

use super::CliError;

/// The options a command line can set.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub generate: GenerateOptions,
    pub num_ctx: usize,
    pub num_thread: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            generate: GenerateOptions { num_predict: -1, sampler: SamplerOptions::default(), stop: Vec::new(), format: None },
            num_ctx: 2048,
            num_thread: 0,
        }
    }
}

impl RunOptions {
    /// Applies `KEY=VALUE` pairs in order; an unknown key or a bad value is an error naming it.
    pub fn parse(pairs: &[String]) -> Result<RunOptions, CliError> {
        let mut o = RunOptions::default();
        for pair in pairs {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("option {pair:?} is not KEY=VALUE")))?;
            let (key, value) = (key.trim(), value.trim());
            let bad = |what: &str| CliError::Usage(format!("option {key}: {value:?} is not {what}"));
            match key {
                "temperature" => o.generate.sampler.temperature = value.parse().map_err(|_| bad("a number"))?,
                "top_k" => o.generate.sampler.top_k = value.parse().map_err(|_| bad("an integer"))?,
                "top_p" => o.generate.sampler.top_p = value.parse().map_err(|_| bad("a number"))?,
                "seed" => {
                    let seed: i64 = value.parse().map_err(|_| bad("an integer"))?;
                    // Ollama treats a negative seed as "random".
                    o.generate.sampler.seed = u64::try_from(seed).ok();
                }
                "num_predict" => o.generate.num_predict = value.parse().map_err(|_| bad("an integer"))?,
                "num_ctx" => {
                    o.num_ctx = value.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(|| bad("a positive integer"))?
                }
                "num_thread" => o.num_thread = value.parse().map_err(|_| bad("a non-negative integer"))?,
                _ => {
                    return Err(CliError::Usage(format!(
                        "unknown option {key:?} (known: temperature, top_k, top_p, seed, num_predict, num_ctx, num_thread)"
                    )))
                }
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_options_and_names_bad_ones() {
        let o = RunOptions::parse(&["temperature=0".into(), "num_predict=32".into(), "seed=-1".into()]).unwrap();
        assert_eq!(o.generate.sampler.temperature, 0.0);
        assert_eq!(o.generate.num_predict, 32);
        assert_eq!(o.generate.sampler.seed, None);
        let e = RunOptions::parse(&["top_k=x".into()]).unwrap_err().to_string();
        assert!(e.contains("top_k"), "{e}");
        let e = RunOptions::parse(&["bogus=1".into()]).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        assert!(RunOptions::parse(&["num_ctx=0".into()]).is_err());
    }
}
