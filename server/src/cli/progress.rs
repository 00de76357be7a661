//! Progress of streamed operations (create, pull, push): each new status on its own line,
//! and for statuses with `total`/`completed` a bar redrawn in place on a terminal.

use std::io::{IsTerminal, Write};

use serde_json::Value;

pub struct Progress {
    last: String,
    tty: bool,
    drawing: bool,
}

impl Progress {
    pub fn new() -> Progress {
        Progress { last: String::new(), tty: std::io::stderr().is_terminal(), drawing: false }
    }

    /// Shows one status object of the stream.
    pub fn status(&mut self, v: &Value) {
        let status = v["status"].as_str().unwrap_or("");
        let mut err = std::io::stderr().lock();
        match (v["total"].as_u64(), v["completed"].as_u64()) {
            (Some(total), completed) if total > 0 => {
                let done = completed.unwrap_or(0).min(total);
                let pct = done * 100 / total;
                if self.tty {
                    let width = 25;
                    let filled = (done * width / total) as usize;
                    let bar = format!("{}{}", "█".repeat(filled), " ".repeat(width as usize - filled));
                    let _ = write!(
                        err,
                        "\r{status} {pct:3}% ▕{bar}▏ {}/{}  ",
                        super::manage::human_bytes(done),
                        super::manage::human_bytes(total)
                    );
                    self.drawing = true;
                } else if status != self.last {
                    let _ = writeln!(err, "{status} ({})", super::manage::human_bytes(total));
                }
            }
            _ if status != self.last => {
                if self.drawing {
                    let _ = writeln!(err);
                    self.drawing = false;
                }
                let _ = writeln!(err, "{status}");
            }
            _ => {}
        }
        self.last = status.to_string();
    }

    pub fn finish(&mut self) {
        if self.drawing {
            eprintln!();
            self.drawing = false;
        }
    }
}
