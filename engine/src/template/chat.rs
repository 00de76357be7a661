//! Ollama's prompt building on top of the template engine (its `template.Execute`):
//! - prompt + suffix (fill-in-the-middle) renders once with `.Prompt`/`.Suffix`;
//! - messages mode (the template uses `.Messages`): one render with the collated messages,
//!   `.System` set to all system messages joined, `.Tools`, `.Think`;
//! - legacy mode: one render per user turn with `.System`/`.Prompt`/`.Response`, the last
//!   render cut after `{{ .Response }}` so the prompt ends where the model answers.

use super::value::{Map, Value};
use super::{Template, TemplateError};

/// One chat message as the API carries it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
    pub thinking: String,
    /// Base64 images; templates only see how many there are.
    pub images: Vec<String>,
    pub tool_calls: Vec<ToolCall>,
    pub tool_name: String,
    pub tool_call_id: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.to_string(), content: content.to_string(), ..Message::default() }
    }
}

/// A tool call made by the assistant. `arguments` prints as JSON, like Ollama's
/// `ToolCallFunctionArguments`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub index: i64,
    pub name: String,
    pub arguments: Value,
}

/// Everything a render can use (Ollama's `template.Values`).
#[derive(Debug, Clone, Default)]
pub struct Values<'a> {
    pub messages: &'a [Message],
    /// The request's tools as JSON-shaped values (keys are the JSON names; templates reach
    /// them with Go's field names, `.Function.Name`).
    pub tools: Option<&'a Value>,
    /// `/api/generate` with a `suffix`: both non-empty selects fill-in-the-middle.
    pub prompt: &'a str,
    pub suffix: &'a str,
    pub think: bool,
    pub is_think_set: bool,
}

/// Ollama's `collate`: all system contents joined by a blank line, and consecutive messages
/// of the same role merged with "\n\n" (tool messages are never merged).
fn collate(msgs: &[Message]) -> (String, Vec<Message>) {
    let mut system = Vec::new();
    let mut out: Vec<Message> = Vec::new();
    for m in msgs {
        if m.role == "system" {
            system.push(m.content.as_str());
        }
        match out.last_mut() {
            Some(last) if last.role == m.role && m.role != "tool" => {
                last.content.push_str("\n\n");
                last.content.push_str(&m.content);
            }
            _ => out.push(m.clone()),
        }
    }
    (system.join("\n\n"), out)
}

fn message_value(m: &Message) -> Value {
    let calls: Vec<Value> = m
        .tool_calls
        .iter()
        .map(|c| {
            let function = Map::new()
                .with("Index", c.index)
                .with("Name", c.name.as_str())
                .with("Arguments", Value::json_printed(c.arguments.clone()));
            Value::map(Map::new().with("ID", c.id.as_str()).with("Function", function))
        })
        .collect();
    Value::map(
        Map::new()
            .with("Role", m.role.as_str())
            .with("Content", m.content.as_str())
            .with("Thinking", m.thinking.as_str())
            .with("Images", Value::list(m.images.iter().map(|i| Value::str(i)).collect()))
            .with("ToolCalls", calls)
            .with("ToolName", m.tool_name.as_str())
            .with("ToolCallID", m.tool_call_id.as_str()),
    )
}

/// Tools print as JSON (Ollama's `Tools.String()`), and so does each tool.
fn tools_value(tools: Option<&Value>) -> Value {
    match tools.map(Value::inner) {
        Some(Value::List(l)) => {
            Value::json_printed(Value::list(l.iter().map(|t| Value::json_printed(t.clone())).collect()))
        }
        Some(Value::Null) | None => Value::json_printed(Value::list(Vec::new())),
        Some(other) => Value::json_printed(other.clone()),
    }
}

/// Renders a prompt exactly as Ollama's `Template.Execute` does.
pub fn render(t: &Template, v: &Values<'_>) -> Result<String, TemplateError> {
    let (system, messages) = collate(v.messages);
    if !v.prompt.is_empty() && !v.suffix.is_empty() {
        let data = Map::new()
            .with("Prompt", v.prompt)
            .with("Suffix", v.suffix)
            .with("Response", "")
            .with("Think", v.think)
            .with("IsThinkSet", v.is_think_set);
        return t.execute(&Value::map(data));
    }
    if t.uses("messages") || t.uses("document") {
        let data = Map::new()
            .with("System", system)
            .with("Messages", Value::list(messages.iter().map(message_value).collect()))
            .with("Tools", tools_value(v.tools))
            .with("Response", "")
            .with("Think", v.think)
            .with("IsThinkSet", v.is_think_set);
        return t.execute(&Value::map(data));
    }

    // `.First` (true on the first turn's render) is what Ollama's early legacy templates
    // used to place the system prompt once; current Ollama no longer sets it.
    let legacy = |system: &str, prompt: &str, response: &str, first: bool| {
        Value::map(
            Map::new()
                .with("First", first)
                .with("System", system)
                .with("Prompt", prompt)
                .with("Response", response)
                .with("Think", v.think)
                .with("IsThinkSet", v.is_think_set),
        )
    };
    let mut out = String::new();
    let (mut system, mut prompt, mut response) = (String::new(), String::new(), String::new());
    for m in &messages {
        let flush = match m.role.as_str() {
            "system" => !prompt.is_empty() || !response.is_empty(),
            "user" => !response.is_empty(),
            _ => false,
        };
        if flush {
            out.push_str(&t.execute(&legacy(&system, &prompt, &response, out.is_empty()))?);
            system.clear();
            prompt.clear();
            response.clear();
        }
        match m.role.as_str() {
            "system" => system = m.content.clone(),
            "user" => prompt = m.content.clone(),
            "assistant" => response = m.content.clone(),
            _ => {}
        }
    }
    out.push_str(&t.execute_truncated(&legacy(&system, &prompt, &response, out.is_empty()))?);
    if out.len() > super::exec::MAX_OUTPUT {
        return Err(TemplateError::at("", 0, "template output exceeds its size limit"));
    }
    Ok(out)
}

/// An `/api/generate` prompt as Ollama builds it: with a suffix, fill-in-the-middle on the
/// bare prompt; otherwise the request's system (else the model's), the model's MESSAGEs
/// (unless the request carries `context`), then the prompt as a user message.
pub fn render_generate(
    t: &Template,
    system: Option<&str>,
    model_messages: &[Message],
    has_context: bool,
    prompt: &str,
    suffix: &str,
    think: Option<bool>,
) -> Result<String, TemplateError> {
    let mut msgs = Vec::new();
    let mut v = Values { think: think.unwrap_or(false), is_think_set: think.is_some(), ..Values::default() };
    if !suffix.is_empty() {
        v.prompt = prompt;
        v.suffix = suffix;
        return render(t, &v);
    }
    if let Some(s) = system.filter(|s| !s.is_empty()) {
        msgs.push(Message::new("system", s));
    }
    if !has_context {
        msgs.extend_from_slice(model_messages);
    }
    msgs.push(Message::new("user", prompt));
    v.messages = &msgs;
    render(t, &v)
}

/// Which Ollama struct a JSON object of a tool definition decodes into; its fields'
/// declaration order is the order Go marshals them in.
#[derive(Clone, Copy)]
enum ToolPart {
    Tool,
    Function,
    Parameters,
    Property,
    Other,
}

impl ToolPart {
    fn order(self) -> &'static [&'static str] {
        match self {
            ToolPart::Tool => &["type", "items", "function"],
            ToolPart::Function => &["name", "description", "parameters"],
            ToolPart::Parameters => &["type", "$defs", "items", "required", "properties"],
            ToolPart::Property => &["anyOf", "type", "items", "description", "enum", "properties", "required"],
            ToolPart::Other => &[],
        }
    }

    fn child(self, key: &str) -> ToolPart {
        match (self, key) {
            (ToolPart::Tool, "function") => ToolPart::Function,
            (ToolPart::Function, "parameters") => ToolPart::Parameters,
            (ToolPart::Parameters | ToolPart::Property, "items" | "anyOf") => ToolPart::Property,
            _ => ToolPart::Other,
        }
    }
}

/// Converts a request's `tools` JSON into a template value whose objects keep the field
/// order of Ollama's Go structs (`Tool`, `ToolFunction`, `ToolFunctionParameters`,
/// `ToolProperty`), so `{{ json .Tools }}` and `{{ .Tools }}` print what Ollama prints.
/// Keys the structs do not know follow, sorted; property names are sorted (serde_json
/// does not keep the request's order).
pub fn tools_from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Array(a) => Value::list(a.iter().map(|t| tool_value(t, ToolPart::Tool)).collect()),
        other => tool_value(other, ToolPart::Tool),
    }
}

fn tool_value(v: &serde_json::Value, part: ToolPart) -> Value {
    match v {
        serde_json::Value::Object(o) => {
            let order = part.order();
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort_by_key(|k| (order.iter().position(|x| x == k).unwrap_or(order.len()), k.as_str()));
            let mut m = Map::new();
            for k in keys {
                let inner = match (part, k.as_str()) {
                    (ToolPart::Parameters | ToolPart::Property, "properties") => match &o[k] {
                        serde_json::Value::Object(props) => {
                            let mut pm = Map::new();
                            for (name, p) in props {
                                pm.insert(name.clone(), tool_value(p, ToolPart::Property));
                            }
                            Value::map(pm)
                        }
                        other => Value::from_json(other),
                    },
                    _ => tool_value(&o[k], part.child(k)),
                };
                m.insert(k.clone(), inner);
            }
            // Ollama's Tool, ToolFunction and ToolFunctionParameters print themselves as
            // JSON (`{{ .Function }}` in qwen2.5's template relies on it).
            match part {
                ToolPart::Tool | ToolPart::Function | ToolPart::Parameters => Value::json_printed(Value::map(m)),
                ToolPart::Property | ToolPart::Other => Value::map(m),
            }
        }
        serde_json::Value::Array(a) => Value::list(a.iter().map(|e| tool_value(e, part)).collect()),
        other => Value::from_json(other),
    }
}

/// A chat request's prompt: the model's `system` goes first unless the conversation
/// already starts with a system message (as Ollama's chat handler does), then [`render`].
pub fn render_chat(
    t: &Template,
    system: Option<&str>,
    messages: &[Message],
    tools: Option<&Value>,
    think: Option<bool>,
) -> Result<String, TemplateError> {
    let mut all = Vec::with_capacity(messages.len() + 1);
    if let Some(s) = system.filter(|s| !s.is_empty()) {
        if messages.first().is_none_or(|m| m.role != "system") {
            all.push(Message::new("system", s));
        }
    }
    all.extend_from_slice(messages);
    let v = Values {
        messages: &all,
        tools,
        think: think.unwrap_or(false),
        is_think_set: think.is_some(),
        ..Values::default()
    };
    render(t, &v)
}

/// Why a chat prompt could not be built.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptError {
    Template(TemplateError),
    /// The tokenizer callback failed; its message.
    Tokenize(String),
}

impl std::fmt::Display for PromptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PromptError::Template(e) => e.fmt(f),
            PromptError::Tokenize(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PromptError {}

impl From<TemplateError> for PromptError {
    fn from(e: TemplateError) -> PromptError {
        PromptError::Template(e)
    }
}

/// A rendered chat prompt and the images it refers to as `[img-N]`, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPrompt {
    pub prompt: String,
    pub images: Vec<String>,
}

/// Where truncation may start: a tool result never loses the assistant turn whose tool
/// call produced it (Ollama's `toolBlockStartIndex`).
fn tool_block_start(msgs: &[Message], idx: usize) -> usize {
    if idx == 0 || idx >= msgs.len() || msgs[idx].role != "tool" {
        return idx;
    }
    let mut start = idx;
    while start > 0 && msgs[start - 1].role == "tool" {
        start -= 1;
    }
    match start.checked_sub(1) {
        Some(a) if msgs[a].role == "assistant" && !msgs[a].tool_calls.is_empty() => a,
        _ => idx,
    }
}

/// How [`chat_prompt`] fits a conversation into the context window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    pub num_ctx: usize,
    /// What one image costs when the model has a projector (Ollama counts 768); `None`
    /// when images are not counted.
    pub image_tokens: Option<usize>,
}

/// Ollama's `chatPrompt`: with `truncation`, drops the oldest messages until the prompt fits
/// `num_ctx` tokens (keeping system messages and always the last message); then tags images
/// `[img-N]` (replacing a `[img]` placeholder or prefixing the content) and renders.
pub fn chat_prompt(
    t: &Template,
    msgs: &[Message],
    tools: Option<&Value>,
    think: Option<bool>,
    truncation: Option<Truncation>,
    count_tokens: &mut dyn FnMut(&str) -> Result<usize, String>,
) -> Result<ChatPrompt, PromptError> {
    let render_msgs = |m: &[Message]| {
        let v = Values {
            messages: m,
            tools,
            think: think.unwrap_or(false),
            is_think_set: think.is_some(),
            ..Values::default()
        };
        render(t, &v)
    };
    let mut system: Vec<Message> = Vec::new();
    let mut start = 0;
    if let Some(Truncation { num_ctx, image_tokens }) = truncation.filter(|_| !msgs.is_empty()) {
        let last = msgs.len() - 1;
        for i in 0..=last {
            let s = tool_block_start(msgs, i);
            system = msgs[..s].iter().filter(|m| m.role == "system").cloned().collect();
            let mut candidate = system.clone();
            candidate.extend_from_slice(&msgs[s..]);
            let p = render_msgs(&candidate)?;
            let mut n = count_tokens(&p).map_err(PromptError::Tokenize)?;
            if let Some(per) = image_tokens {
                n += msgs[s..].iter().map(|m| per * m.images.len()).sum::<usize>();
            }
            if n <= num_ctx || i == last {
                start = s;
                break;
            }
        }
    }
    let mut kept: Vec<Message> = msgs[start..].to_vec();
    let mut images = Vec::new();
    for m in &mut kept {
        let mut prefix = String::new();
        for img in &m.images {
            let tag = format!("[img-{}]", images.len());
            images.push(img.clone());
            if m.content.contains("[img]") {
                m.content = m.content.replacen("[img]", &tag, 1);
            } else {
                prefix.push_str(&tag);
            }
        }
        if !prefix.is_empty() {
            m.content.insert_str(0, &prefix);
        }
    }
    system.extend(kept);
    Ok(ChatPrompt { prompt: render_msgs(&system)?, images })
}
