//! `rollama run NAME` against the server: one answer, or a chat REPL that keeps the
//! conversation, with ollama's slash commands (/set parameter, /set system, /show, /clear,
//! /bye), `"""` for multi-line input, and Ctrl-C to stop an answer.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{client, CliError};

pub struct RemoteRun {
    pub model: String,
    pub system: Option<String>,
    pub options: Map<String, Value>,
}

/// Set by Ctrl-C; an answer being streamed stops (the connection is dropped, which stops
/// the generation on the server), and the prompt comes back.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    // If a handler cannot be installed, Ctrl-C keeps its default meaning: quit.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}

impl RemoteRun {
    pub fn run(mut self, prompt: Option<String>) -> Result<(), CliError> {
        // Load first, so a bad name fails before any typing, as ollama does.
        client::post("/api/chat", &json!({ "model": self.model, "messages": [] }))?;
        let mut history: Vec<Value> = Vec::new();
        if let Some(p) = prompt {
            self.turn(&mut history, &p, &Arc::new(AtomicBool::new(false)))?;
            if std::io::stdout().is_terminal() {
                println!();
            }
            return Ok(());
        }
        let stdin = std::io::stdin();
        let tty = stdin.is_terminal();
        let interrupted = if tty { interrupt_flag() } else { Arc::new(AtomicBool::new(false)) };
        let mut lines = stdin.lock().lines();
        loop {
            if tty {
                eprint!(">>> ");
            }
            let Some(line) = lines.next() else { break };
            let mut line = line?;
            if let Some(rest) = line.strip_prefix("\"\"\"") {
                // Multi-line: read until a line ending with """.
                let mut text = rest.to_string();
                loop {
                    if let Some(end) = text.strip_suffix("\"\"\"") {
                        text = end.to_string();
                        break;
                    }
                    match lines.next() {
                        Some(l) => {
                            text.push('\n');
                            text.push_str(&l?);
                        }
                        None => break,
                    }
                }
                line = text;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.starts_with('/') && !self.command(trimmed, &mut history)? {
                break;
            }
            if trimmed.starts_with('/') {
                continue;
            }
            interrupted.store(false, Ordering::SeqCst);
            self.turn(&mut history, &line, &interrupted)?;
            println!("\n");
        }
        Ok(())
    }

    /// A slash command; false for /bye.
    fn command(&mut self, line: &str, history: &mut Vec<Value>) -> Result<bool, CliError> {
        let mut parts = line.splitn(3, char::is_whitespace);
        match (parts.next(), parts.next(), parts.next()) {
            (Some("/bye"), ..) => return Ok(false),
            (Some("/clear"), ..) => {
                history.clear();
                eprintln!("Cleared session context");
            }
            (Some("/set"), Some("system"), Some(text)) => {
                self.system = Some(text.to_string());
                eprintln!("Set system message.");
            }
            (Some("/set"), Some("parameter"), Some(kv)) => match kv.split_once(char::is_whitespace) {
                Some((k, v)) => {
                    let v = v.trim();
                    let value = serde_json::from_str::<Value>(v).unwrap_or_else(|_| json!(v));
                    self.options.insert(k.to_string(), value);
                    eprintln!("Set parameter '{k}' to '{v}'");
                }
                None => eprintln!("Usage: /set parameter <name> <value>"),
            },
            (Some("/show"), Some(what), _) => {
                let v = client::post("/api/show", &json!({ "model": self.model }))?;
                match what {
                    "modelfile" | "parameters" | "template" | "system" | "license" => {
                        println!("{}", v[what].as_str().unwrap_or(""));
                    }
                    "info" => println!("{}", serde_json::to_string_pretty(&v["details"]).unwrap_or_default()),
                    _ => eprintln!("Usage: /show info|modelfile|parameters|template|system|license"),
                }
            }
            (Some("/?" | "/help"), ..) => eprintln!(
                "Available Commands:\n  /set parameter <name> <value>\n  /set system <text>\n  /show info|modelfile|parameters|template|system|license\n  /clear\n  /bye\n\nUse \"\"\" to begin a multi-line message."
            ),
            _ => eprintln!("Unknown command '{line}'. Type /? for help"),
        }
        Ok(true)
    }

    fn turn(&self, history: &mut Vec<Value>, prompt: &str, interrupted: &AtomicBool) -> Result<(), CliError> {
        let mut messages = Vec::new();
        if let Some(s) = &self.system {
            messages.push(json!({"role": "system", "content": s}));
        }
        messages.extend(history.iter().cloned());
        messages.push(json!({"role": "user", "content": prompt}));
        let body = json!({ "model": self.model, "messages": messages, "options": self.options, "stream": true });
        let mut answer = String::new();
        let mut out = std::io::stdout().lock();
        client::stream("/api/chat", &body, |v| {
            let piece = v["message"]["content"].as_str().unwrap_or("");
            answer.push_str(piece);
            out.write_all(piece.as_bytes()).and_then(|_| out.flush()).is_ok() && !interrupted.load(Ordering::SeqCst)
        })?;
        history.push(json!({"role": "user", "content": prompt}));
        history.push(json!({"role": "assistant", "content": answer}));
        Ok(())
    }
}
