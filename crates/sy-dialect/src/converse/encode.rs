//! Canonical request → Bedrock Converse body (the model id goes in the URL, not here).
//!
//! Choices: turns merged and tool results first (Converse rejects non-alternating turns and blank
//! text); a leading assistant turn is refused rather than preceded by an invented user turn; a
//! tool result with no content gets the text `(empty)` because Converse rejects empty content;
//! when the history holds tool blocks but no tools are declared, the named tools are declared with
//! an open object schema because Converse requires a tool configuration then; `tool_choice: none`
//! drops the tools when the history has no tool blocks and is refused otherwise (Converse has no
//! `none`); `parallel_tool_calls: false` is dropped and listed (Converse cannot enforce it);
//! image URLs are refused except `s3://` locations (the gateway must fetch others first);
//! reasoning settings and `top_k` are sent in Anthropic's shape for Claude models only; for other
//! models, text or media after tool results in a user turn joins the last result (they refuse
//! turns that mix the two).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Number;
use serde_json::value::RawValue;

use super::TARGET;
use crate::anthropic::{JSON_TOOL, check_forced_answer_tool};
use crate::canonical::{
    CacheBreakpoint, DocumentSource, ImageSource, Part, PartKind, Reasoning, Request,
    ResponseFormat, Role, Setting, ToolChoice,
};
use crate::ids::{CONVERSE_ID, CONVERSE_TOOL_NAME, rewrite_id};
use crate::limits::within;
use crate::media::{converse_document_name, image_format};
use crate::tool_names::ToolNames;
use crate::turns::{alternating_turns, has_tool_blocks, tool_turn_without_thinking};
use crate::{DialectError, EncodeOptions, Encoded, StructuredOutputMode, Translation};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<SystemBlock<'a>>,
    #[serde(skip_serializing_if = "InferenceConfig::is_empty")]
    inference_config: InferenceConfig<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_model_request_fields: Option<AdditionalFields<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutputConfig<'a>>,
    /// Claude's matched stop sequence is a model-specific answer field, sent only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_model_response_field_paths: Option<[&'static str; 1]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum SystemBlock<'a> {
    Text(&'a str),
    CachePoint(CachePoint),
}

/// `{"type": "default"}`: the prompt up to the block before it may be cached.
#[derive(Serialize)]
struct CachePoint {
    r#type: &'static str,
}

const CACHE_POINT: CachePoint = CachePoint { r#type: "default" };

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<&'a Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<&'a Number>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
}

impl InferenceConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_empty()
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Block<'a> {
    Text(&'a str),
    Json(&'a RawValue),
    Image(WireImage<'a>),
    Document(WireDocument<'a>),
    ToolUse(WireToolUse<'a>),
    ToolResult(WireToolResult<'a>),
    ReasoningContent(WireReasoning<'a>),
    CachePoint(CachePoint),
}

#[derive(Serialize)]
struct WireImage<'a> {
    format: &'static str,
    source: ImageBytes<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum ImageBytes<'a> {
    Bytes(&'a str),
    S3Location { uri: &'a str },
}

#[derive(Serialize)]
struct WireDocument<'a> {
    format: &'static str,
    name: String,
    source: DocumentBody<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum DocumentBody<'a> {
    Bytes(&'a str),
    Text(&'a str),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireToolUse<'a> {
    tool_use_id: String,
    name: &'a str,
    input: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireToolResult<'a> {
    tool_use_id: String,
    content: Vec<Block<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum WireReasoning<'a> {
    ReasoningText { text: &'a str, signature: &'a str },
    RedactedContent(&'a str),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'a> {
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum WireTool<'a> {
    ToolSpec(ToolSpec<'a>),
    CachePoint(CachePoint),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolSpec<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: InputSchema<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
struct InputSchema<'a> {
    json: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum WireToolChoice<'a> {
    Auto {},
    Any {},
    Tool { name: &'a str },
}

#[derive(Serialize)]
struct AdditionalFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    anthropic_beta: &'a [String],
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Thinking {
    Enabled { budget_tokens: u32 },
    Adaptive,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    text_format: Option<TextFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<&'static str>,
}

#[derive(Serialize)]
struct TextFormat<'a> {
    r#type: &'static str,
    structure: Structure<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Structure<'a> {
    json_schema: JsonSchema<'a>,
}

#[derive(Serialize)]
struct JsonSchema<'a> {
    /// Converse takes the schema as a JSON string.
    schema: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

/// Per-request state while encoding parts.
struct PartEncoder<'o> {
    options: &'o EncodeOptions,
    names: &'o ToolNames,
    documents: usize,
    dropped: Vec<String>,
    /// The model reads cache points (Claude and Nova); others have no prompt caching.
    caches: bool,
}

pub(super) fn encode_request(
    request: &Request,
    options: &EncodeOptions,
) -> Result<Encoded, DialectError> {
    let origin = request.origin;
    if request.candidates > 1 {
        return Err(untranslatable(
            origin.path(Setting::Candidates),
            "Converse returns one answer per request",
        ));
    }
    for (value, setting, name) in [
        (&request.temperature, Setting::Temperature, "temperature"),
        (&request.top_p, Setting::TopP, "topP"),
    ] {
        if let Some(v) = value
            && !within(v, 0.0, 1.0)
        {
            return Err(untranslatable(
                origin.path(setting),
                &format!("Converse takes {name} from 0 to 1"),
            ));
        }
    }
    if let Some(i) = request.stop.iter().position(String::is_empty) {
        return Err(untranslatable(
            format!("{}[{i}]", origin.path(Setting::Stop)),
            "Converse rejects empty stop sequences",
        ));
    }
    let claude = is_claude(&options.model);
    let names = ToolNames::for_request(request, CONVERSE_TOOL_NAME);
    let mut parts = PartEncoder {
        options,
        names: &names,
        documents: 0,
        dropped: Vec::new(),
        caches: claude || contains(&options.model, b"amazon.nova"),
    };
    let mut system = Vec::with_capacity(request.system.len());
    for part in &request.system {
        if !part.text.trim().is_empty() {
            system.push(SystemBlock::Text(&part.text));
        }
        if parts.cache_point(part.cache.as_ref(), !system.is_empty()) {
            system.push(SystemBlock::CachePoint(CACHE_POINT));
        }
    }

    let mut messages = Vec::new();
    for (i, turn) in alternating_turns(&request.messages).into_iter().enumerate() {
        if i == 0 && turn.role != Role::User {
            return Err(untranslatable(
                turn.origin,
                "Converse conversations must start with a user turn",
            ));
        }
        let mut content = Vec::with_capacity(turn.parts.len());
        for part in turn.parts {
            content.extend(parts.encode(part)?);
            if parts.cache_point(part.cache.as_ref(), !content.is_empty()) {
                content.push(Block::CachePoint(CACHE_POINT));
            }
        }
        if content.is_empty() {
            continue;
        }
        if !claude {
            fold_into_last_tool_result(&mut content);
        }
        let role = match turn.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(WireMessage { role, content });
    }

    let empty_schema = open_object_schema();
    let mut tools = Vec::with_capacity(request.tools.len() + 1);
    for tool in &request.tools {
        tools.push(WireTool::ToolSpec(ToolSpec {
            name: names.sent(&tool.name),
            description: tool.description.as_deref(),
            input_schema: InputSchema {
                json: tool
                    .parameters
                    .as_ref()
                    .filter(|p| !p.is_empty_object())
                    .map_or(empty_schema, |p| p.as_raw()),
            },
            strict: tool.strict,
        }));
        // Nova caches the system prompt and the messages, not the tools.
        if parts.cache_point(tool.cache.as_ref(), claude) {
            tools.push(WireTool::CachePoint(CACHE_POINT));
        }
    }
    let history_has_tools = has_tool_blocks(&request.messages);
    // Converse requires a tool configuration whenever the history has tool blocks.
    if history_has_tools {
        let declared: BTreeSet<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
        for name in called_tool_names(request) {
            if !declared.contains(name) {
                tools.push(WireTool::ToolSpec(ToolSpec {
                    name: names.sent(name),
                    description: None,
                    input_schema: InputSchema { json: empty_schema },
                    strict: None,
                }));
            }
        }
    }
    let mut tool_choice = match &request.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(WireToolChoice::Auto {}),
        Some(ToolChoice::Required) => Some(WireToolChoice::Any {}),
        Some(ToolChoice::Named(name)) => Some(WireToolChoice::Tool {
            name: names.sent(name),
        }),
        Some(ToolChoice::None) if history_has_tools => {
            return Err(untranslatable(
                origin.path(Setting::ToolChoice),
                "Converse has no `none` tool choice, and the tools cannot be left out because the history uses them",
            ));
        }
        Some(ToolChoice::None) => {
            tools.clear();
            None
        }
    };
    if request.parallel_tool_calls == Some(false) {
        parts
            .dropped
            .push(origin.path(Setting::ParallelToolCalls).to_owned());
    }
    // Converse has no end-user field (`requestMetadata` only tags invocation logs).
    if request.user.is_some() {
        parts.dropped.push("user".to_owned());
    }

    let mut reasoning = encode_reasoning(request, claude)?;
    if reasoning.is_some() && tool_turn_without_thinking(&request.messages) {
        // The answer goes on without thinking rather than failing on Claude's replay rule.
        reasoning = None;
        parts
            .dropped
            .push(origin.path(Setting::Reasoning).to_owned());
    }
    let thinking_on = reasoning.is_some();
    let forced = matches!(
        request.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Named(_))
    );
    if thinking_on && forced {
        return Err(untranslatable(
            origin.path(Setting::ToolChoice),
            "Claude does not allow forcing a tool while thinking is on",
        ));
    }
    let mut top_k = None;
    if let Some(k) = request.top_k {
        if claude {
            top_k = Some(k);
        } else {
            parts.dropped.push(origin.path(Setting::TopK).to_owned());
        }
    }

    let mut translation = Translation::default();
    let mut text_format = None;
    match &request.response_format {
        None => {}
        Some(ResponseFormat::JsonObject) => {
            return Err(untranslatable(
                origin.path(Setting::ResponseFormat),
                "Converse has no JSON mode without a schema",
            ));
        }
        Some(ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        }) => match options.structured_output {
            StructuredOutputMode::Native => {
                text_format = Some(TextFormat {
                    r#type: "json_schema",
                    structure: Structure {
                        json_schema: JsonSchema {
                            schema: schema.as_str(),
                            name: name.as_deref().unwrap_or("response"),
                            description: description.as_deref(),
                        },
                    },
                });
            }
            StructuredOutputMode::ForcedTool => {
                let field = origin.path(Setting::ResponseFormat);
                check_forced_answer_tool(request, field, thinking_on, TARGET)?;
                tools.push(WireTool::ToolSpec(ToolSpec {
                    name: JSON_TOOL,
                    description: description.as_deref(),
                    input_schema: InputSchema {
                        json: schema.as_raw(),
                    },
                    strict: *strict,
                }));
                tool_choice = Some(WireToolChoice::Tool { name: JSON_TOOL });
                translation.json_tool = Some(JSON_TOOL.to_owned());
            }
        },
    }
    let effort = match request.reasoning {
        Some(Reasoning::Adaptive(Some(effort)) | Reasoning::OutputEffort(effort)) if claude => {
            Some(effort.as_str())
        }
        _ => None,
    };
    let output_config = (text_format.is_some() || effort.is_some()).then_some(OutputConfig {
        text_format,
        effort,
    });

    let mut max_tokens = request.max_output_tokens;
    if let Some(Thinking::Enabled { budget_tokens }) = &reasoning {
        let limit = *max_tokens.get_or_insert(options.default_max_tokens);
        if *budget_tokens >= limit {
            return Err(untranslatable(
                origin.path(Setting::Reasoning),
                &format!(
                    "the thinking budget ({budget_tokens}) must be below the output limit ({limit})"
                ),
            ));
        }
    }
    // Claude on Bedrock takes Anthropic's beta flags in the body; no other model knows them.
    let mut anthropic_beta: &[String] = &[];
    if claude {
        anthropic_beta = &request.anthropic_betas;
    } else if !request.anthropic_betas.is_empty() {
        parts
            .dropped
            .push(origin.path(Setting::AnthropicBetas).to_owned());
    }
    let additional = (reasoning.is_some() || top_k.is_some() || !anthropic_beta.is_empty())
        .then_some(AdditionalFields {
            thinking: reasoning,
            top_k,
            anthropic_beta,
        });
    let body = Body {
        messages,
        system,
        inference_config: InferenceConfig {
            max_tokens,
            temperature: request.temperature.as_ref(),
            top_p: request.top_p.as_ref(),
            stop_sequences: &request.stop,
        },
        tool_config: (!tools.is_empty()).then_some(ToolConfig { tools, tool_choice }),
        additional_model_request_fields: additional,
        output_config,
        additional_model_response_field_paths: (claude && !request.stop.is_empty())
            .then_some(["/stop_sequence"]),
    };
    let bytes = crate::options::encode_body(&body, request)?;
    let dropped = parts.dropped;
    translation.renamed_tools = names.into_sent_to_caller();
    Ok(Encoded {
        body: bytes,
        translation,
        dropped,
    })
}

/// Converse models other than Claude refuse a turn that holds tool results beside other blocks
/// ("Conversation blocks and tool result blocks cannot be provided in the same turn"), so what
/// follows the results (they come first in a turn) joins the last result's content, which takes
/// the same text, images and documents.
fn fold_into_last_tool_result(content: &mut Vec<Block<'_>>) {
    let Some(last) = content
        .iter()
        .rposition(|block| matches!(block, Block::ToolResult(_)))
    else {
        return;
    };
    if last + 1 == content.len() {
        return;
    }
    let mut rest: Vec<Block<'_>> = content.drain(last + 1..).collect();
    // A cache point cannot go inside a tool result: one closes the turn instead.
    let cached = rest
        .iter()
        .any(|block| matches!(block, Block::CachePoint(_)));
    rest.retain(|block| !matches!(block, Block::CachePoint(_)));
    if let Some(Block::ToolResult(result)) = content.get_mut(last) {
        result.content.extend(rest);
    }
    if cached {
        content.push(Block::CachePoint(CACHE_POINT));
    }
}

fn untranslatable(field: impl Into<String>, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET, reason)
}

/// Bedrock model ids of Anthropic models: `anthropic.claude-…`, with or without a region prefix.
/// (Compared window by window: a substring searcher is a lot of code to bring in for one short id
/// per request.)
fn is_claude(model: &str) -> bool {
    contains(model, b"anthropic.") || contains(model, b"claude")
}

fn contains(model: &str, needle: &[u8]) -> bool {
    model.as_bytes().windows(needle.len()).any(|w| w == needle)
}

/// `{"type":"object","properties":{}}`, the schema of a tool declared without one; parsed once.
#[expect(clippy::expect_used, reason = "a constant, valid JSON literal")]
fn open_object_schema() -> &'static RawValue {
    static SCHEMA: LazyLock<Box<RawValue>> = LazyLock::new(|| {
        RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned())
            .expect("valid JSON")
    });
    &SCHEMA
}

/// Names of the tools called in the history, in first-call order.
fn called_tool_names(request: &Request) -> Vec<&str> {
    let mut seen = BTreeSet::new();
    request
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|p| match &p.kind {
            PartKind::ToolCall(call) => Some(call.name.as_str()),
            _ => None,
        })
        .filter(|name| seen.insert(*name))
        .collect()
}

fn encode_reasoning(request: &Request, claude: bool) -> Result<Option<Thinking>, DialectError> {
    let field = request.origin.path(Setting::Reasoning);
    let reasoning = match request.reasoning {
        None | Some(Reasoning::Disabled) => return Ok(None),
        Some(reasoning) => reasoning,
    };
    if !claude {
        let field = match reasoning {
            Reasoning::OutputEffort(_) => request.origin.path(Setting::OutputEffort),
            _ => field,
        };
        return Err(untranslatable(
            field,
            "reasoning settings on Converse are model-specific; only Claude models are supported",
        ));
    }
    Ok(Some(match reasoning {
        Reasoning::Adaptive(_) => Thinking::Adaptive,
        Reasoning::Effort(effort) => Thinking::Enabled {
            budget_tokens: effort.budget_tokens(),
        },
        Reasoning::Budget(budget) if budget < 1024 => {
            return Err(untranslatable(
                field,
                "Claude needs a thinking budget of at least 1024 tokens",
            ));
        }
        Reasoning::Budget(budget) => Thinking::Enabled {
            budget_tokens: budget,
        },
        // Claude takes an effort without thinking in `outputConfig.effort`.
        Reasoning::Disabled | Reasoning::OutputEffort(_) => return Ok(None),
    }))
}

impl<'a> PartEncoder<'a> {
    /// Whether a cache point follows the item `mark` is on. Where the model has no prompt
    /// caching, or the point cannot go (`placeable` false: nothing before it to close, or a part of
    /// the request the model does not cache), the mark is dropped and listed; an hour's lifetime
    /// becomes Bedrock's default five minutes, listed too.
    fn cache_point(&mut self, mark: Option<&CacheBreakpoint>, placeable: bool) -> bool {
        let Some(mark) = mark else {
            return false;
        };
        if !self.caches || !placeable {
            self.dropped.push(mark.origin.clone());
            return false;
        }
        if mark.one_hour {
            self.dropped.push(format!("{}.ttl", mark.origin));
        }
        true
    }

    fn encode(&mut self, part: &'a Part) -> Result<Option<Block<'a>>, DialectError> {
        Ok(Some(match &part.kind {
            PartKind::Text(text) if text.trim().is_empty() => return Ok(None),
            PartKind::Text(text) => Block::Text(text),
            PartKind::Json(json) => Block::Json(json.as_raw()),
            PartKind::Image(image) => Block::Image(self.image(&image.source, &part.origin)?),
            PartKind::Document(document) => {
                self.documents += 1;
                let name = converse_document_name(document.name.as_deref(), self.documents);
                Block::Document(match &document.source {
                    DocumentSource::Pdf { data } => WireDocument {
                        format: "pdf",
                        name,
                        source: DocumentBody::Bytes(data),
                    },
                    DocumentSource::Text(text) => WireDocument {
                        format: "txt",
                        name,
                        source: DocumentBody::Text(text),
                    },
                })
            }
            PartKind::ToolCall(call) => Block::ToolUse(WireToolUse {
                tool_use_id: rewrite_id(&call.id, CONVERSE_ID),
                name: self.names.sent(&call.name),
                input: call.arguments.as_raw(),
            }),
            PartKind::ToolResult(result) => {
                let mut content = Vec::with_capacity(result.content.len().max(1));
                for inner in &result.content {
                    if let Some(mark) = &inner.cache {
                        // Converse has no cache point inside a tool result.
                        self.dropped.push(mark.origin.clone());
                    }
                    match &inner.kind {
                        PartKind::Text(_)
                        | PartKind::Json(_)
                        | PartKind::Image(_)
                        | PartKind::Document(_) => {
                            content.extend(self.encode(inner)?);
                        }
                        _ => {
                            return Err(untranslatable(
                                inner.origin.as_str(),
                                "not allowed in a tool result",
                            ));
                        }
                    }
                }
                if content.is_empty() {
                    content.push(Block::Text("(empty)"));
                }
                Block::ToolResult(WireToolResult {
                    tool_use_id: rewrite_id(&result.call_id, CONVERSE_ID),
                    content,
                    status: result.is_error.then_some("error"),
                })
            }
            PartKind::Reasoning(reasoning) => match &reasoning.signature {
                Some(signature) => Block::ReasoningContent(WireReasoning::ReasoningText {
                    text: &reasoning.text,
                    signature,
                }),
                None => {
                    self.dropped.push(part.origin.clone());
                    return Ok(None);
                }
            },
            PartKind::RedactedReasoning(data) => {
                Block::ReasoningContent(WireReasoning::RedactedContent(data))
            }
        }))
    }

    fn image<'s>(
        &self,
        source: &'s ImageSource,
        origin: &str,
    ) -> Result<WireImage<'s>, DialectError> {
        match source {
            ImageSource::Base64 { media_type, data } => {
                let format = image_format(media_type).ok_or_else(|| {
                    untranslatable(
                        origin,
                        &format!("Converse takes png, jpeg, gif or webp images, not {media_type}"),
                    )
                })?;
                Ok(WireImage {
                    format,
                    source: ImageBytes::Bytes(data),
                })
            }
            ImageSource::Url(url) if url.starts_with("s3://") => {
                let extension = url
                    .rsplit_once('.')
                    .map(|(_, ext)| ext.to_ascii_lowercase());
                let format = extension
                    .as_deref()
                    .and_then(|ext| image_format(&format!("image/{ext}")))
                    .ok_or_else(|| {
                        untranslatable(origin, "the image format cannot be told from the S3 key")
                    })?;
                Ok(WireImage {
                    format,
                    source: ImageBytes::S3Location { uri: url },
                })
            }
            ImageSource::Url(_) => Err(untranslatable(
                origin,
                if self.options.allow_url_fetch {
                    "Converse takes no image URLs; the gateway must fetch the image before encoding"
                } else {
                    "Converse takes no image URLs and this route does not fetch them"
                },
            )),
        }
    }
}
