//! `rollama run MODEL [PROMPT]`: stream an answer to stdout, or chat interactively.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use rollama_engine::chat::ChatFormat;
use rollama_engine::generate::generate;
use rollama_engine::model::Model;

use super::options::RunOptions;
use super::CliError;

#[derive(Args)]
pub struct RunArgs {
    /// A model name (answered by the server) or a path to a GGUF file (run in-process).
    model: PathBuf,
    /// The prompt; without it, prompts are read line by line (type /bye to leave).
    prompt: Option<String>,
    /// Send the prompt as is, without the model's chat framing.
    #[arg(long)]
    raw: bool,
    /// A system message for the chat framing.
    #[arg(long)]
    system: Option<String>,
    /// Generation option KEY=VALUE: any option of the API (temperature, top_k, top_p, min_p,
    /// seed, num_predict, num_ctx, num_keep, repeat_penalty, stop, num_thread, ...).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Print timings to stderr after each answer.
    #[arg(long)]
    verbose: bool,
}

pub fn run(a: RunArgs) -> Result<(), CliError> {
    let opts = RunOptions::parse(&a.options)?;
    if !a.model.is_file() {
        let name = a.model.to_string_lossy().into_owned();
        if name.ends_with(".gguf") {
            return Err(CliError::File { path: a.model.clone(), source: std::io::ErrorKind::NotFound.into() });
        }
        let remote =
            super::remote_run::RemoteRun { model: name, system: a.system.clone(), options: options_json(&a.options) };
        return remote.run(a.prompt);
    }
    let model = super::load_model(&a.model, opts.num_thread)?;
    let format = if a.raw {
        ChatFormat::Raw
    } else {
        let file_template = rollama_engine::gguf::GgufFile::open(&a.model)
            .ok()
            .and_then(|g| g.get_str("tokenizer.chat_template").ok().flatten().map(str::to_string));
        ChatFormat::detect(file_template.as_deref())
    };
    let mut chat = Chat {
        model: &*model,
        session: model.try_new_session(opts.num_ctx.min(model.hparams().n_ctx_train))?,
        opts,
        format,
        turns: 0,
        verbose: a.verbose,
    };
    match a.prompt {
        Some(prompt) => {
            chat.turn(a.system.as_deref(), &prompt)?;
            if std::io::stdout().is_terminal() {
                println!();
            }
        }
        None => {
            let stdin = std::io::stdin();
            let interactive = stdin.is_terminal();
            let mut line = String::new();
            loop {
                if interactive {
                    eprint!(">>> ");
                }
                line.clear();
                if stdin.lock().read_line(&mut line)? == 0 {
                    break;
                }
                let prompt = line.trim_end_matches(['\r', '\n']);
                if prompt == "/bye" {
                    break;
                }
                if prompt.trim().is_empty() {
                    continue;
                }
                chat.turn(a.system.as_deref(), prompt)?;
                println!();
            }
        }
    }
    Ok(())
}

/// One conversation: turns share the session, so each turn feeds only its new text.
struct Chat<'a> {
    model: &'a dyn Model,
    session: rollama_engine::model::Session,
    opts: RunOptions,
    format: ChatFormat,
    turns: usize,
    verbose: bool,
}

impl Chat<'_> {
    fn turn(&mut self, system: Option<&str>, prompt: &str) -> Result<(), CliError> {
        let first = self.turns == 0;
        let text = self.format.render_turn(system, prompt, first);
        // BOS (where the model wants one) belongs only at the very start of the sequence.
        let tokens = self.model.tokenizer().encode(&text, first, true);
        let mut out = std::io::stdout().lock();
        let stats = generate(self.model, &mut self.session, &tokens, &self.opts.generate, |piece| {
            // A closed stdout (e.g. `| head`) ends the answer quietly.
            out.write_all(piece.as_bytes()).and_then(|_| out.flush()).is_ok()
        })?;
        self.turns += 1;
        if self.verbose {
            let rate = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64().max(1e-9);
            eprintln!(
                "\nprompt eval: {} tokens, {:.2} tokens/s\neval: {} tokens, {:.2} tokens/s\ndone: {}",
                stats.prompt_tokens,
                rate(stats.prompt_tokens, stats.prompt_duration),
                stats.eval_tokens,
                rate(stats.eval_tokens, stats.eval_duration),
                stats.done_reason.as_str()
            );
        }
        Ok(())
    }
}

/// `-o KEY=VALUE` pairs (already validated) as the JSON `options` of an API request.
fn options_json(pairs: &[String]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let value = serde_json::from_str::<serde_json::Value>(v)
                .unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
            (k.trim().to_string(), value)
        })
        .collect()
}
