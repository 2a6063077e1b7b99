//! Anthropic Messages request body → canonical request.
//!
//! Policy: `cache_control` marks on system blocks, content blocks and tools become cache
//! breakpoints (targets without prompt caching drop and list them), and the top-level automatic
//! one a breakpoint on the last cacheable block; `service_tier`, `inference_geo`, thinking
//! `display` and tool `input_examples`/`defer_loading`/`eager_input_streaming` are dropped and
//! listed; server tools, MCP servers, containers, search results, citations config on documents
//! and file/URL document sources are refused (target `canonical`); unknown fields are invalid.
//! `metadata.user_id` becomes the end-user id.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use crate::canonical::{
    CacheBreakpoint, Document, DocumentSource, Effort, Image, ImageSource, Message, Origin, Part,
    PartKind, RawJson, Reasoning, ReasoningBlock, Request, ResponseFormat, Role, SystemPart,
    ToolCall, ToolChoice, ToolDefinition, ToolResult,
};
use crate::limits::within;
use crate::openai_chat::TARGET_CANONICAL;
use crate::{Decoded, DialectError};

#[derive(Deserialize)]
struct Body {
    max_tokens: Option<u32>,
    messages: Vec<Box<RawValue>>,
    system: Option<SystemContent>,
    #[serde(default)]
    tools: Vec<Box<RawValue>>,
    tool_choice: Option<WireToolChoice>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    top_k: Option<u32>,
    #[serde(default)]
    stop_sequences: Vec<String>,
    thinking: Option<WireThinking>,
    output_config: Option<OutputConfig>,
    metadata: Option<Metadata>,
    stream: Option<bool>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SystemContent {
    Text(String),
    Blocks(Vec<SystemBlock>),
}

#[derive(Deserialize)]
struct SystemBlock {
    text: String,
    cache_control: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireToolChoice {
    Auto {
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        disable_parallel_tool_use: Option<bool>,
    },
    None {},
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireThinking {
    Enabled {
        budget_tokens: u32,
        display: Option<String>,
    },
    Adaptive {
        display: Option<String>,
    },
    Disabled {},
}

#[derive(Deserialize)]
struct OutputConfig {
    format: Option<WireFormat>,
    effort: Option<String>,
}

#[derive(Deserialize)]
struct WireFormat {
    r#type: String,
    schema: Box<RawValue>,
}

#[derive(Deserialize)]
struct Metadata {
    user_id: Option<String>,
}

const ADVISORY: &[&str] = &["service_tier", "inference_geo"];
const UNTRANSLATABLE: &[&str] = &["container", "mcp_servers", "context_management"];

pub(super) fn decode_request(body: &[u8]) -> Result<Decoded, DialectError> {
    let body: Body = serde_json::from_slice(body).map_err(|e| DialectError::from_json(&e))?;
    let mut dropped = Vec::new();
    for (name, value) in &body.rest {
        if name == "model" || name == "cache_control" || value.is_null() {
            continue;
        }
        if ADVISORY.contains(&name.as_str()) {
            dropped.push(name.clone());
        } else if UNTRANSLATABLE.contains(&name.as_str()) {
            return Err(refused(name, "no other dialect has this"));
        } else {
            return Err(DialectError::invalid(name.as_str(), "unknown field"));
        }
    }
    let mut request = Request::new(Origin::Anthropic);
    request.max_output_tokens = Some(
        body.max_tokens
            .ok_or_else(|| DialectError::invalid("max_tokens", "required"))?,
    );
    match body.system {
        Some(SystemContent::Text(text)) => request.system.push(SystemPart {
            text,
            origin: "system".to_owned(),
            cache: None,
        }),
        Some(SystemContent::Blocks(blocks)) => {
            for (i, block) in blocks.into_iter().enumerate() {
                let origin = format!("system[{i}]");
                let cache = cache_mark(block.cache_control, &origin)?;
                request.system.push(SystemPart {
                    text: block.text,
                    origin,
                    cache,
                });
            }
        }
        None => {}
    }
    for (i, raw) in body.messages.iter().enumerate() {
        request.messages.push(decode_message(raw, i, &mut dropped)?);
    }
    // Automatic caching: Anthropic puts the breakpoint on the last block it can cache, which is
    // where an explicit mark would go for this request.
    let automatic = body.rest.get("cache_control").cloned();
    if let Some(mark) = cache_mark_at(automatic, "cache_control".to_owned())? {
        let last = request
            .messages
            .last_mut()
            .and_then(|m| m.content.iter_mut().rev().find(|p| cacheable(&p.kind)));
        match last {
            Some(part) if part.cache.is_none() => part.cache = Some(mark),
            Some(_) => {}
            None => dropped.push(mark.origin),
        }
    }
    for (i, raw) in body.tools.iter().enumerate() {
        request.tools.push(decode_tool(raw, i, &mut dropped)?);
    }
    if let Some(choice) = body.tool_choice {
        let (choice, disable_parallel) = match choice {
            WireToolChoice::Auto {
                disable_parallel_tool_use,
            } => (ToolChoice::Auto, disable_parallel_tool_use),
            WireToolChoice::Any {
                disable_parallel_tool_use,
            } => (ToolChoice::Required, disable_parallel_tool_use),
            WireToolChoice::Tool {
                name,
                disable_parallel_tool_use,
            } => (ToolChoice::Named(name), disable_parallel_tool_use),
            WireToolChoice::None {} => (ToolChoice::None, None),
        };
        request.tool_choice = Some(choice);
        request.parallel_tool_calls = disable_parallel.map(|disable| !disable);
    }
    if let Some(t) = &body.temperature
        && !within(t, 0.0, 1.0)
    {
        return Err(DialectError::invalid(
            "temperature",
            "must be between 0 and 1",
        ));
    }
    if let Some(p) = &body.top_p
        && !within(p, 0.0, 1.0)
    {
        return Err(DialectError::invalid("top_p", "must be between 0 and 1"));
    }
    request.temperature = body.temperature;
    request.top_p = body.top_p;
    request.top_k = body.top_k;
    request.stop = body.stop_sequences;
    let effort = match body
        .output_config
        .as_ref()
        .and_then(|c| c.effort.as_deref())
    {
        Some(text) => Some(Effort::parse(text).ok_or_else(|| {
            DialectError::invalid("output_config.effort", format!("unknown effort `{text}`"))
        })?),
        None => None,
    };
    request.reasoning = match body.thinking {
        Some(WireThinking::Enabled {
            budget_tokens,
            display,
        }) => {
            if display.is_some() {
                dropped.push("thinking.display".to_owned());
            }
            if effort.is_some() {
                dropped.push("output_config.effort".to_owned());
            }
            Some(Reasoning::Budget(budget_tokens))
        }
        Some(WireThinking::Adaptive { display }) => {
            if display.is_some() {
                dropped.push("thinking.display".to_owned());
            }
            Some(Reasoning::Adaptive(effort))
        }
        Some(WireThinking::Disabled {}) => Some(Reasoning::Disabled),
        None => effort.map(Reasoning::OutputEffort),
    };
    if let Some(WireFormat { r#type, schema }) = body.output_config.and_then(|c| c.format) {
        if r#type != "json_schema" {
            return Err(DialectError::invalid(
                "output_config.format.type",
                "expected json_schema",
            ));
        }
        request.response_format = Some(ResponseFormat::JsonSchema {
            name: None,
            description: None,
            schema: RawJson::from_raw(schema),
            strict: None,
        });
    }
    request.user = body.metadata.and_then(|m| m.user_id);
    request.stream = body.stream.unwrap_or(false);
    // Anthropic streams always carry usage.
    request.stream_usage = request.stream;
    Ok(Decoded { request, dropped })
}

fn refused(field: &str, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET_CANONICAL, reason)
}

#[derive(Deserialize)]
struct WireMessage {
    role: String,
    content: Content,
}

/// A string or a list of blocks. Kept raw: tool inputs inside must keep their key order, and raw
/// JSON cannot pass through serde's untagged-enum buffering.
type Content = Box<RawValue>;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
        cache_control: Option<Value>,
        citations: Option<Value>,
    },
    Image {
        source: Source,
        cache_control: Option<Value>,
    },
    Document {
        source: Source,
        title: Option<String>,
        context: Option<String>,
        citations: Option<Value>,
        cache_control: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        /// Tool results hold only text, images and documents, so a `Value` loses nothing.
        content: Option<Value>,
        is_error: Option<bool>,
        cache_control: Option<Value>,
    },
    Thinking {
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
}

/// Read apart from [`Block`]: raw JSON cannot pass through serde's tagged-enum buffering.
#[derive(Deserialize)]
struct ToolUseBlock {
    id: String,
    name: String,
    input: Box<RawValue>,
    cache_control: Option<Value>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source {
    Base64 { media_type: String, data: String },
    Url { url: String },
    Text { data: String },
    File {},
    Content {},
}

fn decode_message(
    raw: &RawValue,
    i: usize,
    dropped: &mut Vec<String>,
) -> Result<Message, DialectError> {
    let path = format!("messages[{i}]");
    let message: WireMessage = serde_json::from_str(raw.get())
        .map_err(|e| DialectError::invalid(path.as_str(), e.to_string()))?;
    let role = match message.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => {
            return Err(DialectError::invalid(
                format!("{path}.role"),
                "expected user or assistant",
            ));
        }
    };
    let content = decode_content(&message.content, &path, dropped)?;
    Ok(Message {
        role,
        content,
        origin: path,
    })
}

fn decode_content(
    content: &RawValue,
    path: &str,
    dropped: &mut Vec<String>,
) -> Result<Vec<Part>, DialectError> {
    let invalid =
        |e: serde_json::Error| DialectError::invalid(format!("{path}.content"), e.to_string());
    if content.get().trim_start().starts_with('"') {
        let text: String = serde_json::from_str(content.get()).map_err(invalid)?;
        return Ok(vec![Part::new(
            PartKind::Text(text),
            format!("{path}.content"),
        )]);
    }
    let blocks: Vec<Box<RawValue>> = serde_json::from_str(content.get()).map_err(invalid)?;
    blocks
        .iter()
        .enumerate()
        .map(|(j, raw)| decode_block(raw, &format!("{path}.content[{j}]"), dropped))
        .collect()
}

fn decode_block(
    raw: &RawValue,
    origin: &str,
    dropped: &mut Vec<String>,
) -> Result<Part, DialectError> {
    if block_type(raw).as_deref() == Some("tool_use") {
        let call: ToolUseBlock = serde_json::from_str(raw.get())
            .map_err(|e| DialectError::invalid(origin, e.to_string()))?;
        let kind = PartKind::ToolCall(ToolCall {
            id: call.id,
            name: call.name,
            arguments: RawJson::from_raw(call.input),
        });
        let mut part = Part::new(kind, origin);
        part.cache = cache_mark(call.cache_control, origin)?;
        return Ok(part);
    }
    let block: Block = serde_json::from_str(raw.get()).map_err(|e| {
        // Server-tool and other blocks exist only in Anthropic; say so rather than "unknown variant".
        match block_type(raw) {
            Some(kind) if !KNOWN_BLOCKS.contains(&kind.as_str()) => {
                refused(origin, &format!("`{kind}` blocks exist only in Anthropic"))
            }
            _ => DialectError::invalid(origin, e.to_string()),
        }
    })?;
    let mut note = |present: bool, field: &str| {
        if present {
            dropped.push(format!("{origin}.{field}"));
        }
    };
    let mut cache = None;
    let kind = match block {
        Block::Text {
            text,
            cache_control,
            citations,
        } => {
            cache = cache_mark(cache_control, origin)?;
            note(citations.is_some(), "citations");
            PartKind::Text(text)
        }
        Block::Image {
            source,
            cache_control,
        } => {
            cache = cache_mark(cache_control, origin)?;
            let source = match source {
                Source::Base64 { media_type, data } => ImageSource::Base64 { media_type, data },
                Source::Url { url } => ImageSource::Url(url),
                _ => {
                    return Err(refused(
                        &format!("{origin}.source"),
                        "only base64 and URL images are translated",
                    ));
                }
            };
            PartKind::Image(Image { source })
        }
        Block::Document {
            source,
            title,
            context,
            citations,
            cache_control,
        } => {
            cache = cache_mark(cache_control, origin)?;
            if context.is_some() || citations.is_some() {
                return Err(refused(
                    origin,
                    "document context and citations exist only in Anthropic",
                ));
            }
            let source = match source {
                Source::Base64 { media_type, data } if media_type == "application/pdf" => {
                    DocumentSource::Pdf { data }
                }
                Source::Text { data } => DocumentSource::Text(data),
                _ => {
                    return Err(refused(
                        &format!("{origin}.source"),
                        "only base64 PDF and text documents are translated",
                    ));
                }
            };
            PartKind::Document(Document {
                source,
                name: title,
            })
        }
        Block::ToolResult {
            tool_use_id,
            content,
            is_error,
            cache_control,
        } => {
            cache = cache_mark(cache_control, origin)?;
            let content = match content {
                Some(content) => {
                    let raw = serde_json::value::to_raw_value(&content)
                        .map_err(|e| DialectError::invalid(origin, e.to_string()))?;
                    decode_content(&raw, origin, dropped)?
                }
                None => Vec::new(),
            };
            PartKind::ToolResult(ToolResult {
                call_id: tool_use_id,
                content,
                is_error: is_error.unwrap_or(false),
            })
        }
        Block::Thinking {
            thinking,
            signature,
        } => PartKind::Reasoning(ReasoningBlock {
            text: thinking,
            // An empty signature stands for "none" (the gateway shows reasoning from other
            // providers that way).
            signature: signature.filter(|s| !s.is_empty()),
        }),
        Block::RedactedThinking { data } => PartKind::RedactedReasoning(data),
    };
    let mut part = Part::new(kind, origin);
    part.cache = cache;
    Ok(part)
}

/// A `cache_control` mark (`{"type": "ephemeral", "ttl"?: "5m" | "1h"}`) on the item at `origin`.
fn cache_mark(value: Option<Value>, origin: &str) -> Result<Option<CacheBreakpoint>, DialectError> {
    cache_mark_at(value, format!("{origin}.cache_control"))
}

/// Blocks Anthropic caches up to: all but thinking.
fn cacheable(kind: &PartKind) -> bool {
    !matches!(
        kind,
        PartKind::Reasoning(_) | PartKind::RedactedReasoning(_)
    )
}

/// A `cache_control` mark found at `field`.
fn cache_mark_at(
    value: Option<Value>,
    field: String,
) -> Result<Option<CacheBreakpoint>, DialectError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if value.get("type").and_then(Value::as_str) != Some("ephemeral") {
        return Err(DialectError::invalid(field, "expected type `ephemeral`"));
    }
    let ttl = match value.get("ttl") {
        None | Some(Value::Null) => None,
        Some(ttl) => Some(ttl.as_str().unwrap_or_default()),
    };
    let one_hour = CacheBreakpoint::one_hour_ttl(ttl)
        .ok_or_else(|| DialectError::invalid(format!("{field}.ttl"), "expected `5m` or `1h`"))?;
    Ok(Some(CacheBreakpoint {
        one_hour,
        origin: field,
    }))
}

const KNOWN_BLOCKS: &[&str] = &[
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
];

fn block_type(raw: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct Tagged {
        r#type: String,
    }
    serde_json::from_str::<Tagged>(raw.get())
        .ok()
        .map(|t| t.r#type)
}

#[derive(Deserialize)]
struct WireTool {
    r#type: Option<String>,
    name: String,
    description: Option<String>,
    input_schema: Option<Box<RawValue>>,
    strict: Option<bool>,
    cache_control: Option<Value>,
}

const TOOL_FIELDS: &[&str] = &[
    "type",
    "name",
    "description",
    "input_schema",
    "strict",
    "cache_control",
];

fn decode_tool(
    raw: &RawValue,
    i: usize,
    dropped: &mut Vec<String>,
) -> Result<ToolDefinition, DialectError> {
    let origin = format!("tools[{i}]");
    let tool: WireTool = serde_json::from_str(raw.get())
        .map_err(|e| DialectError::invalid(origin.as_str(), e.to_string()))?;
    if let Some(kind) = tool.r#type.as_deref()
        && kind != "custom"
    {
        return Err(refused(
            &origin,
            &format!("server tool `{kind}` exists only in Anthropic"),
        ));
    }
    // Everything else (input_examples, defer_loading, ...) is advisory.
    let fields: BTreeMap<String, serde::de::IgnoredAny> = serde_json::from_str(raw.get())
        .map_err(|e| DialectError::invalid(origin.as_str(), e.to_string()))?;
    for name in fields.keys().filter(|k| !TOOL_FIELDS.contains(&k.as_str())) {
        dropped.push(format!("{origin}.{name}"));
    }
    Ok(ToolDefinition {
        name: tool.name,
        description: tool.description,
        parameters: tool.input_schema.map(RawJson::from_raw),
        strict: tool.strict,
        cache: cache_mark(tool.cache_control, &origin)?,
        origin,
    })
}
