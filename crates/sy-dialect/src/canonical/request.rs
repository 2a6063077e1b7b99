//! A canonical request: the conversation, the tools, and the generation settings.

use serde_json::Number;

use super::RawJson;

/// Which dialect a request was decoded from. Encoders use it to name a refused field by its path
/// in the caller's own request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    OpenAiChat,
    OpenAiResponses,
    Anthropic,
    Converse,
    /// Built in code; fields are named by their canonical names.
    Canonical,
}

/// The request-level settings whose names differ per dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    Temperature,
    TopP,
    TopK,
    Stop,
    Candidates,
    ToolChoice,
    ParallelToolCalls,
    ResponseFormat,
    Reasoning,
    OutputEffort,
    AnthropicBetas,
}

impl Origin {
    /// The JSON path of `setting` in a request of this dialect.
    pub(crate) fn path(self, setting: Setting) -> &'static str {
        use Setting as S;
        match (self, setting) {
            (Self::OpenAiChat, S::Stop) => "stop",
            (Self::OpenAiChat, S::Candidates) => "n",
            (Self::OpenAiChat, S::ResponseFormat) => "response_format",
            (Self::OpenAiChat, S::Reasoning) => "reasoning_effort",
            (Self::OpenAiResponses, S::ResponseFormat) => "text.format",
            (Self::OpenAiResponses, S::Reasoning) => "reasoning.effort",
            (Self::Anthropic, S::Stop) => "stop_sequences",
            (Self::Anthropic, S::ParallelToolCalls) => "tool_choice.disable_parallel_tool_use",
            (Self::Anthropic, S::ResponseFormat) => "output_config.format",
            (Self::Anthropic, S::Reasoning) => "thinking",
            (Self::Anthropic, S::OutputEffort) => "output_config.effort",
            (Self::Converse, S::Temperature) => "inferenceConfig.temperature",
            (Self::Converse, S::TopP) => "inferenceConfig.topP",
            (Self::Converse, S::TopK) => "additionalModelRequestFields.top_k",
            (Self::Converse, S::Stop) => "inferenceConfig.stopSequences",
            (Self::Converse, S::ToolChoice) => "toolConfig.toolChoice",
            (Self::Converse, S::ResponseFormat) => "outputConfig.textFormat",
            (Self::Converse, S::Reasoning) => "additionalModelRequestFields.thinking",
            (Self::Converse, S::OutputEffort) => "outputConfig.effort",
            (Self::Converse, S::AnthropicBetas) => "additionalModelRequestFields.anthropic_beta",
            // A header on Anthropic's API (in the body only on Bedrock's InvokeModel).
            (_, S::AnthropicBetas) => "anthropic-beta",
            (_, S::Temperature) => "temperature",
            (_, S::TopP) => "top_p",
            (_, S::TopK) => "top_k",
            (_, S::Stop) => "stop",
            (_, S::Candidates) => "n",
            (_, S::ToolChoice) => "tool_choice",
            (_, S::ParallelToolCalls) => "parallel_tool_calls",
            (_, S::ResponseFormat) => "response_format",
            (_, S::Reasoning) => "reasoning",
            (_, S::OutputEffort) => "effort",
        }
    }
}

/// One request to a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub origin: Origin,
    /// System instructions in order. Dialects that place them between turns lose that position.
    pub system: Vec<SystemPart>,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolDefinition>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` when the caller asked for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub max_output_tokens: Option<u32>,
    /// Kept as the caller wrote it; each encoder checks its target's range.
    pub temperature: Option<Number>,
    pub top_p: Option<Number>,
    pub top_k: Option<u32>,
    pub stop: Vec<String>,
    /// How many alternative answers the caller wants; only 1 can be translated.
    pub candidates: u32,
    pub response_format: Option<ResponseFormat>,
    pub reasoning: Option<Reasoning>,
    pub stream: bool,
    /// The caller asked for usage at the end of a stream (OpenAI `stream_options.include_usage`).
    pub stream_usage: bool,
    /// An end-user identifier for the upstream's abuse monitoring.
    pub user: Option<String>,
    /// Anthropic beta features the caller turned on (the `anthropic-beta` header, or
    /// `anthropic_beta` in a Bedrock body). Only Claude knows them; other targets drop them.
    pub anthropic_betas: Vec<String>,
}

impl Request {
    /// An empty request from code; fill the fields you need.
    pub fn new(origin: Origin) -> Self {
        Self {
            origin,
            system: Vec::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            tool_choice: None,
            parallel_tool_calls: None,
            max_output_tokens: None,
            temperature: None,
            top_p: None,
            top_k: None,
            stop: Vec::new(),
            candidates: 1,
            response_format: None,
            reasoning: None,
            stream: false,
            stream_usage: false,
            user: None,
            anthropic_betas: Vec::new(),
        }
    }

    /// About how many bytes this request's JSON body takes in any dialect: its texts, payloads
    /// and schemas, with room for the keys around them. Encoders size their output with it, so
    /// that writing a body does not grow the buffer step by step, copying it at every step.
    pub fn encoded_len_hint(&self) -> usize {
        let system: usize = self.system.iter().map(|p| p.text.len() + PER_ITEM).sum();
        let messages: usize = self
            .messages
            .iter()
            .map(|m| PER_ITEM + m.content.iter().map(part_len_hint).sum::<usize>())
            .sum();
        let tools: usize = self
            .tools
            .iter()
            .map(|t| {
                PER_ITEM
                    + t.name.len()
                    + t.description.as_ref().map_or(0, String::len)
                    + t.parameters.as_ref().map_or(0, |p| p.as_str().len())
            })
            .sum();
        let format = match &self.response_format {
            Some(ResponseFormat::JsonSchema { schema, .. }) => schema.as_str().len(),
            _ => 0,
        };
        256 + system + messages + tools + format
    }

    /// Every image given by URL, with where it came from, so a gateway that fetches URLs can
    /// replace them with bytes before encoding for a target that takes no URLs.
    pub fn url_images_mut(&mut self) -> Vec<(&str, &mut ImageSource)> {
        let mut out = Vec::new();
        for part in self.messages.iter_mut().flat_map(|m| m.content.iter_mut()) {
            collect_url_images(part, &mut out);
        }
        out
    }
}

/// What a part's keys and punctuation take, roughly, in any dialect.
const PER_ITEM: usize = 48;

fn part_len_hint(part: &Part) -> usize {
    PER_ITEM
        + match &part.kind {
            PartKind::Text(text) | PartKind::RedactedReasoning(text) => text.len(),
            PartKind::Image(Image {
                source: ImageSource::Base64 { data, .. },
            }) => data.len(),
            PartKind::Image(Image {
                source: ImageSource::Url(url),
            }) => url.len(),
            PartKind::Document(Document {
                source: DocumentSource::Pdf { data } | DocumentSource::Text(data),
                ..
            }) => data.len(),
            PartKind::Json(json) => json.as_str().len(),
            PartKind::ToolCall(call) => {
                call.id.len() + call.name.len() + call.arguments.as_str().len()
            }
            PartKind::ToolResult(result) => {
                result.call_id.len() + result.content.iter().map(part_len_hint).sum::<usize>()
            }
            PartKind::Reasoning(block) => {
                block.text.len() + block.signature.as_ref().map_or(0, String::len)
            }
        }
}

/// Lists every prompt-cache breakpoint's origin (system, turns with their tool results, tools) as
/// dropped, for targets without prompt caching.
pub(crate) fn drop_cache_breakpoints(request: &Request, dropped: &mut Vec<String>) {
    fn marks(parts: &[Part], dropped: &mut Vec<String>) {
        for part in parts {
            if let Some(mark) = &part.cache {
                dropped.push(mark.origin.clone());
            }
            if let PartKind::ToolResult(result) = &part.kind {
                marks(&result.content, dropped);
            }
        }
    }
    let system = request.system.iter().filter_map(|p| p.cache.as_ref());
    dropped.extend(system.map(|mark| mark.origin.clone()));
    for message in &request.messages {
        marks(&message.content, dropped);
    }
    let tools = request.tools.iter().filter_map(|t| t.cache.as_ref());
    dropped.extend(tools.map(|mark| mark.origin.clone()));
}

fn collect_url_images<'a>(part: &'a mut Part, out: &mut Vec<(&'a str, &'a mut ImageSource)>) {
    let Part { kind, origin, .. } = part;
    match kind {
        PartKind::Image(Image {
            source: source @ ImageSource::Url(_),
        }) => out.push((origin.as_str(), source)),
        PartKind::ToolResult(result) => {
            for inner in &mut result.content {
                collect_url_images(inner, out);
            }
        }
        _ => {}
    }
}

/// A piece of system instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemPart {
    pub text: String,
    /// JSON path in the caller's request.
    pub origin: String,
    pub cache: Option<CacheBreakpoint>,
}

/// A prompt-cache breakpoint on an item: the prompt up to and including it may be cached and read
/// back by later requests (Anthropic's `cache_control` on the item, Converse's `cachePoint` after
/// it). It changes price and latency, not the answer, so targets without prompt caching drop and
/// list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheBreakpoint {
    /// An hour rather than the provider's default five minutes.
    pub one_hour: bool,
    /// JSON path of the mark in the caller's request (for the dropped list).
    pub origin: String,
}

impl CacheBreakpoint {
    /// Whether a mark's `ttl` (Anthropic's and Converse's alike) asks for an hour; `None` for a
    /// lifetime neither takes.
    pub(crate) fn one_hour_ttl(ttl: Option<&str>) -> Option<bool> {
        match ttl {
            None | Some("5m") => Some(false),
            Some("1h") => Some(true),
            Some(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One turn. Tool results travel in user turns, as in Anthropic, Converse and Gemini.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
    /// JSON path of the turn in the caller's request.
    pub origin: String,
}

/// One content part and the JSON path it came from (for precise refusals).
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub kind: PartKind,
    pub origin: String,
    pub cache: Option<CacheBreakpoint>,
}

impl Part {
    pub fn new(kind: PartKind, origin: impl Into<String>) -> Self {
        Self {
            kind,
            origin: origin.into(),
            cache: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PartKind {
    Text(String),
    Image(Image),
    Document(Document),
    /// Structured data, e.g. a Converse tool result's `json` block.
    Json(RawJson),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    Reasoning(ReasoningBlock),
    /// Reasoning the provider encrypted; only replayable to the same provider family.
    RedactedReasoning(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub source: ImageSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `data` is standard base64, as every dialect's JSON carries it.
    Base64 {
        media_type: String,
        data: String,
    },
    Url(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub source: DocumentSource,
    /// A file name or title, when the caller gave one.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentSource {
    /// A base64 PDF.
    Pdf { data: String },
    /// A plain-text document.
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, as the model produced them.
    pub arguments: RawJson,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// Text, images, documents or JSON.
    pub content: Vec<Part>,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasoningBlock {
    pub text: String,
    /// The provider's signature over the reasoning; replayed verbatim.
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema for the arguments; `None` when the caller gave none.
    pub parameters: Option<RawJson>,
    pub strict: Option<bool>,
    pub origin: String,
    pub cache: Option<CacheBreakpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// Any JSON object, no schema.
    JsonObject,
    JsonSchema {
        name: Option<String>,
        description: Option<String>,
        schema: RawJson,
        strict: Option<bool>,
    },
}

/// How much the model should think before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reasoning {
    Disabled,
    Effort(Effort),
    /// A token budget for thinking.
    Budget(u32),
    /// The model decides how much to think, optionally guided by an effort.
    Adaptive(Option<Effort>),
    /// An effort for the whole answer with thinking not asked for (Anthropic's and Converse's
    /// `effort` without `thinking`). Claude gets it as its effort and does not think; targets
    /// without such a setting take it as a reasoning effort, their nearest.
    OutputEffort(Effort),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
    Max,
}

impl Effort {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "minimal" => Self::Minimal,
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "xhigh" => Self::XHigh,
            "max" => Self::Max,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::XHigh => "xhigh",
            Self::Max => "max",
        }
    }

    /// A thinking budget for targets that take tokens, not effort levels. The low end follows the
    /// common convention (low 1024, medium 2048, high 4096); Claude's floor is 1024.
    pub(crate) fn budget_tokens(self) -> u32 {
        match self {
            Self::Minimal | Self::Low => 1024,
            Self::Medium => 2048,
            Self::High => 4096,
            Self::XHigh => 8192,
            Self::Max => 16384,
        }
    }

    /// The effort level closest to a token budget (the inverse of [`Effort::budget_tokens`]).
    pub(crate) fn from_budget(budget: u32) -> Self {
        match budget {
            0..=1024 => Self::Low,
            1025..=2048 => Self::Medium,
            2049..=4096 => Self::High,
            4097..=8192 => Self::XHigh,
            _ => Self::Max,
        }
    }
}
