//! Stop sequences on a stream of text: text that might be the start of a stop string is
//! held back until it resolves, and the stop string itself is never emitted.

/// Watches generated text for any of a set of stop strings.
#[derive(Debug, Clone, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Text received but not yet released: it ends with a prefix of some stop string.
    held: String,
}

/// What to do with a piece of generated text.
#[derive(Debug, PartialEq, Eq)]
pub struct StopStep {
    /// Text safe to send now.
    pub emit: String,
    /// A stop string was found: generation ends (the stop string and anything after it
    /// are dropped).
    pub stopped: bool,
}

impl StopMatcher {
    /// Empty stop strings are ignored.
    pub fn new(stops: &[String]) -> StopMatcher {
        StopMatcher { stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(), held: String::new() }
    }

    /// Feeds the next piece of text.
    pub fn push(&mut self, piece: &str) -> StopStep {
        if self.stops.is_empty() {
            return StopStep { emit: piece.to_string(), stopped: false };
        }
        self.held.push_str(piece);
        // The earliest full match of any stop string ends the text there.
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let emit = self.held[..at].to_string();
            self.held.clear();
            return StopStep { emit, stopped: true };
        }
        // Hold back the longest suffix that is a proper prefix of a stop string.
        let keep = self.stops.iter().map(|s| longest_suffix_prefix(&self.held, s)).max().unwrap_or(0);
        let cut = self.held.len() - keep;
        let emit = self.held[..cut].to_string();
        self.held.drain(..cut);
        StopStep { emit, stopped: false }
    }

    /// Releases whatever is held at the end of generation (it never became a stop string).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`, on char
/// boundaries of `text`.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let max = (stop.len() - 1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && stop.starts_with(&text[text.len() - n..]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool, String) {
        let mut m = StopMatcher::new(&stops.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut out = String::new();
        let mut trace = String::new();
        for p in pieces {
            let step = m.push(p);
            out.push_str(&step.emit);
            trace.push_str(&format!("[{}]", step.emit));
            if step.stopped {
                return (out, true, trace);
            }
        }
        out.push_str(&m.finish());
        (out, false, trace)
    }

    #[test]
    fn a_stop_string_split_across_pieces_is_never_emitted() {
        let (out, stopped, trace) = run(&["<|end|>"], &["Hello", " wor", "ld<|", "en", "d|> more"]);
        assert_eq!((out.as_str(), stopped), ("Hello world", true));
        // "<|" and "<|en" were held back, not sent and then retracted.
        assert_eq!(trace, "[Hello][ wor][ld][][]");
    }

    #[test]
    fn a_false_start_is_released() {
        let (out, stopped, _) = run(&["STOP"], &["ST", "ART", " now"]);
        assert_eq!((out.as_str(), stopped), ("START now", false));
        let (out, stopped, _) = run(&["\n\n"], &["a\n", "b"]);
        assert_eq!((out.as_str(), stopped), ("a\nb", false));
    }

    #[test]
    fn the_earliest_of_several_stops_wins_and_held_text_flushes_at_the_end() {
        let (out, stopped, _) = run(&["cd", "b"], &["abcd"]);
        assert_eq!((out.as_str(), stopped), ("a", true));
        let (out, stopped, _) = run(&["xyz"], &["abc x"]);
        assert_eq!((out.as_str(), stopped), ("abc x", false));
        let (out, _, _) = run(&[], &["plain"]);
        assert_eq!(out, "plain");
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let (out, stopped, _) = run(&["é!"], &["café", "!"]);
        assert_eq!((out.as_str(), stopped), ("caf", true));
        let (out, stopped, _) = run(&["ü"], &["naïve"]);
        assert_eq!((out.as_str(), stopped), ("naïve", false));
    }
}
