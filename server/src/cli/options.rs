//! `-o KEY=VALUE` generation options, with Ollama's names and defaults: the same set the
//! API's `options` takes (the README's option table), where an unknown key is an error.

use rollama_engine::generate::GenerateOptions;

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
        RunOptions { generate: GenerateOptions::default(), num_ctx: 2048, num_thread: 0 }
    }
}

impl RunOptions {
    /// Applies `KEY=VALUE` pairs in order; an unknown key or a bad value is an error naming it.
    pub fn parse(pairs: &[String]) -> Result<RunOptions, CliError> {
        let mut o = RunOptions::default();
        for pair in pairs {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| CliError::Usage(format!("option {pair:?} is not KEY=VALUE")))?;
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
                    o.num_ctx =
                        value.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(|| bad("a positive integer"))?
                }
                "num_thread" => o.num_thread = value.parse().map_err(|_| bad("a non-negative integer"))?,
                "num_keep" => o.generate.num_keep = value.parse().map_err(|_| bad("a non-negative integer"))?,
                "repeat_last_n" => {
                    let n: i32 = value.parse().map_err(|_| bad("an integer"))?;
                    o.generate.chain.repeat_last_n = n.max(-1);
                }
                "mirostat" => {
                    let m: i64 = value.parse().map_err(|_| bad("an integer"))?;
                    o.generate.chain.mirostat = if m == 1 || m == 2 { m as u8 } else { 0 };
                }
                "repeat_penalty" | "presence_penalty" | "frequency_penalty" | "typical_p" | "min_p"
                | "mirostat_tau" | "mirostat_eta" => {
                    let v: f32 = value.parse().map_err(|_| bad("a number"))?;
                    let c = &mut o.generate.chain;
                    *match key {
                        "repeat_penalty" => &mut c.repeat_penalty,
                        "presence_penalty" => &mut c.presence_penalty,
                        "frequency_penalty" => &mut c.frequency_penalty,
                        "typical_p" => &mut c.typical_p,
                        "min_p" => &mut c.min_p,
                        "mirostat_tau" => &mut c.mirostat_tau,
                        _ => &mut c.mirostat_eta,
                    } = v;
                }
                "stop" => o.generate.stop.push(value.to_string()),
                // Accepted and ignored, as the README's option table says why.
                "tfs_z"
                | "penalize_newline"
                | "numa"
                | "num_batch"
                | "num_gqa"
                | "num_gpu"
                | "main_gpu"
                | "low_vram"
                | "f16_kv"
                | "logits_all"
                | "vocab_only"
                | "use_mmap"
                | "use_mlock"
                | "embedding_only"
                | "rope_frequency_base"
                | "rope_frequency_scale" => {}
                _ => return Err(CliError::Usage(format!("unknown option {key:?} (see the README's option table)"))),
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
        let o = RunOptions::parse(&["repeat_penalty=1.2".into(), "mirostat=2".into(), "tfs_z=0.5".into()]).unwrap();
        assert_eq!((o.generate.chain.repeat_penalty, o.generate.chain.mirostat), (1.2, 2));
        assert!(RunOptions::parse(&["min_p=lots".into()]).unwrap_err().to_string().contains("min_p"));
    }
}
