//! Built-in chat formats for `rollama run MODEL PROMPT` on a bare GGUF file, chosen by
//! recognizing the family of the file's `tokenizer.chat_template`.
//!
//! This is deliberately small: Ollama renders Go templates (a later part of the project,
//! which will replace this), but a GGUF path run from the command line needs some framing
//! to chat at all. Unknown templates fall back to the raw prompt.

/// A chat framing this module can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFormat {
    /// `<|im_start|>role\n...<|im_end|>` (Qwen, SmolLM, many others).
    ChatMl,
    /// `<start_of_turn>user\n...<end_of_turn>` (Gemma).
    Gemma,
    /// `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>` (Llama 3).
    Llama3,
    /// No framing: the prompt as typed.
    Raw,
}

impl ChatFormat {
    /// Recognizes a Jinja chat template by the markers it writes.
    pub fn detect(template: Option<&str>) -> ChatFormat {
        match template {
            Some(t) if t.contains("<|im_start|>") => ChatFormat::ChatMl,
            Some(t) if t.contains("<start_of_turn>") => ChatFormat::Gemma,
            Some(t) if t.contains("<|start_header_id|>") => ChatFormat::Llama3,
            _ => ChatFormat::Raw,
        }
    }

    /// The text of one user turn, ready for the assistant to answer. `first` is false for
    /// later turns of a conversation whose cache already holds the previous answer: those
    /// start by closing that answer (its end-of-turn token was generated but not fed back).
    pub fn render_turn(self, system: Option<&str>, user: &str, first: bool) -> String {
        let mut s = String::new();
        match self {
            ChatFormat::ChatMl => {
                if !first {
                    s.push_str("<|im_end|>\n");
                }
                if let (true, Some(sys)) = (first, system) {
                    s.push_str(&format!("<|im_start|>system\n{sys}<|im_end|>\n"));
                }
                s.push_str(&format!("<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"));
            }
            ChatFormat::Gemma => {
                if !first {
                    s.push_str("<end_of_turn>\n");
                }
                // Gemma has no system role: its template prepends the system text to the first user turn.
                let user = match (first, system) {
                    (true, Some(sys)) => format!("{sys}\n\n{user}"),
                    _ => user.to_string(),
                };
                s.push_str(&format!("<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"));
            }
            ChatFormat::Llama3 => {
                if !first {
                    s.push_str("<|eot_id|>");
                }
                if let (true, Some(sys)) = (first, system) {
                    s.push_str(&format!("<|start_header_id|>system<|end_header_id|>\n\n{sys}<|eot_id|>"));
                }
                s.push_str(&format!(
                    "<|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
                ));
            }
            ChatFormat::Raw => s.push_str(user),
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_families_and_renders_turns() {
        let f = ChatFormat::detect(Some("{% for m in messages %}<|im_start|>{{m.role}}..."));
        assert_eq!(f, ChatFormat::ChatMl);
        assert_eq!(
            f.render_turn(Some("Be brief."), "Hi", true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            f.render_turn(None, "More", false),
            "<|im_end|>\n<|im_start|>user\nMore<|im_end|>\n<|im_start|>assistant\n"
        );
        let g = ChatFormat::detect(Some("<start_of_turn>user"));
        assert_eq!(g.render_turn(None, "Hi", true), "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
        assert_eq!(ChatFormat::detect(None).render_turn(Some("x"), "Hi", true), "Hi");
    }
}
