//! Bedrock Converse request body → canonical request (for callers using the AWS SDKs).
//!
//! Policy: a `cachePoint` block becomes a cache breakpoint on the system block, content block or
//! tool before it (one with nothing before it is dropped and listed); `performanceConfig`,
//! `serviceTier`, `requestMetadata` and `additionalModelResponseFieldPaths` are dropped and
//! listed; guardrails, prompt variables, S3 sources, video, audio, citations, search results and
//! `additionalModelRequestFields` other than `thinking`, `top_k` and `anthropic_beta` are refused
//! (target `canonical`); unknown fields are invalid.

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
use crate::media::media_type_of_format;
use crate::openai_chat::TARGET_CANONICAL;
use crate::{Decoded, DialectError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    #[serde(default)]
    messages: Vec<Box<RawValue>>,
    #[serde(default)]
    system: Vec<Box<RawValue>>,
    inference_config: Option<InferenceConfig>,
    tool_config: Option<ToolConfig>,
    additional_model_request_fields: Option<BTreeMap<String, Value>>,
    output_config: Option<OutputConfig>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InferenceConfig {
    max_tokens: Option<u32>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    #[serde(default)]
    stop_sequences: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig {
    tools: Vec<Box<RawValue>>,
    tool_choice: Option<WireToolChoice>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum WireToolChoice {
    Auto {},
    Any {},
    Tool { name: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputConfig {
    text_format: Option<TextFormat>,
    effort: Option<String>,
}

#[derive(Deserialize)]
struct TextFormat {
    structure: Structure,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Structure {
    json_schema: JsonSchema,
}

#[derive(Deserialize)]
struct JsonSchema {
    /// A JSON document inside a string.
    schema: String,
    name: Option<String>,
    description: Option<String>,
}

const ADVISORY: &[&str] = &[
    "performanceConfig",
    "serviceTier",
    "requestMetadata",
    "additionalModelResponseFieldPaths",
    "modelId",
    "projectIdentifier",
];
const UNTRANSLATABLE: &[&str] = &["guardrailConfig", "promptVariables"];

pub(super) fn decode_request(body: &[u8]) -> Result<Decoded, DialectError> {
    let body: Body = serde_json::from_slice(body).map_err(|e| DialectError::from_json(&e))?;
    let mut dropped = Vec::new();
    for (name, value) in &body.rest {
        if value.is_null() {
            continue;
        }
        if ADVISORY.contains(&name.as_str()) {
            if name != "modelId" {
                dropped.push(name.clone());
            }
        } else if UNTRANSLATABLE.contains(&name.as_str()) {
            return Err(refused(name, "exists only in Bedrock"));
        } else {
            return Err(DialectError::invalid(name.as_str(), "unknown field"));
        }
    }
    let mut request = Request::new(Origin::Converse);
    for (i, raw) in body.system.iter().enumerate() {
        let origin = format!("system[{i}]");
        match union_member(raw, &origin)? {
            ("text", value) => request.system.push(SystemPart {
                text: string(&value, &origin)?,
                origin,
                cache: None,
            }),
            ("cachePoint", value) => {
                let mark = cache_point(&value, &origin)?;
                let last = request.system.last_mut().map(|part| &mut part.cache);
                place_cache(last, mark, &mut dropped);
            }
            (other, _) => {
                return Err(refused(
                    &origin,
                    &format!("`{other}` system blocks exist only in Bedrock"),
                ));
            }
        }
    }
    for (i, raw) in body.messages.iter().enumerate() {
        request.messages.push(decode_message(raw, i, &mut dropped)?);
    }
    if let Some(config) = body.inference_config {
        if let Some(t) = &config.temperature
            && !within(t, 0.0, 1.0)
        {
            return Err(DialectError::invalid(
                "inferenceConfig.temperature",
                "must be between 0 and 1",
            ));
        }
        if let Some(p) = &config.top_p
            && !within(p, 0.0, 1.0)
        {
            return Err(DialectError::invalid(
                "inferenceConfig.topP",
                "must be between 0 and 1",
            ));
        }
        request.max_output_tokens = config.max_tokens;
        request.temperature = config.temperature;
        request.top_p = config.top_p;
        request.stop = config.stop_sequences;
    }
    if let Some(config) = body.tool_config {
        for (i, raw) in config.tools.iter().enumerate() {
            match decode_tool(raw, i)? {
                Tool::Definition(tool) => request.tools.push(tool),
                Tool::CachePoint(mark) => {
                    let last = request.tools.last_mut().map(|tool| &mut tool.cache);
                    place_cache(last, mark, &mut dropped);
                }
            }
        }
        request.tool_choice = config.tool_choice.map(|choice| match choice {
            WireToolChoice::Auto {} => ToolChoice::Auto,
            WireToolChoice::Any {} => ToolChoice::Required,
            WireToolChoice::Tool { name } => ToolChoice::Named(name),
        });
    }
    for (name, value) in body.additional_model_request_fields.unwrap_or_default() {
        let field = format!("additionalModelRequestFields.{name}");
        match name.as_str() {
            "top_k" => {
                request.top_k = Some(
                    value
                        .as_u64()
                        .and_then(|k| u32::try_from(k).ok())
                        .ok_or_else(|| {
                            DialectError::invalid(field.as_str(), "expected a whole number")
                        })?,
                );
            }
            "thinking" => request.reasoning = Some(decode_thinking(&value, &field)?),
            "anthropic_beta" => {
                request.anthropic_betas = crate::anthropic::betas_from_json(&value, &field)?;
            }
            _ => {
                return Err(refused(
                    &field,
                    "model-specific fields cannot be translated",
                ));
            }
        }
    }
    if let Some(config) = body.output_config {
        if let Some(format) = config.text_format {
            let schema = RawJson::parse(&format.structure.json_schema.schema).ok_or_else(|| {
                DialectError::invalid(
                    "outputConfig.textFormat.structure.jsonSchema.schema",
                    "not valid JSON",
                )
            })?;
            request.response_format = Some(ResponseFormat::JsonSchema {
                name: format.structure.json_schema.name,
                description: format.structure.json_schema.description,
                schema,
                strict: None,
            });
        }
        if let Some(effort) = config.effort {
            let effort = Effort::parse(&effort)
                .ok_or_else(|| DialectError::invalid("outputConfig.effort", "unknown effort"))?;
            request.reasoning = Some(match request.reasoning {
                Some(Reasoning::Adaptive(_)) => Reasoning::Adaptive(Some(effort)),
                Some(other) => {
                    // A thinking budget leaves no place for an effort beside it.
                    dropped.push("outputConfig.effort".to_owned());
                    other
                }
                None => Reasoning::OutputEffort(effort),
            });
        }
    }
    Ok(Decoded { request, dropped })
}

fn refused(field: &str, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET_CANONICAL, reason)
}

/// A Converse union: an object with exactly one member.
fn union_member(
    raw: &RawValue,
    origin: &str,
) -> Result<(&'static str, Box<RawValue>), DialectError> {
    let object: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw.get())
        .map_err(|e| DialectError::invalid(origin, e.to_string()))?;
    let mut members = object.into_iter();
    match (members.next(), members.next()) {
        (Some((name, value)), None) => Ok((known_member(&name), value)),
        _ => Err(DialectError::invalid(
            origin,
            "a content block has exactly one member",
        )),
    }
}

/// Interns member names so matches stay on `&'static str`; anything unknown is `unknown`.
fn known_member(name: &str) -> &'static str {
    const MEMBERS: &[&str] = &[
        "text",
        "image",
        "document",
        "video",
        "audio",
        "toolUse",
        "toolResult",
        "guardContent",
        "cachePoint",
        "reasoningContent",
        "citationsContent",
        "searchResult",
        "json",
        "toolSpec",
        "systemTool",
    ];
    MEMBERS
        .iter()
        .find(|m| **m == name)
        .copied()
        .unwrap_or("unknown")
}

fn string(value: &RawValue, origin: &str) -> Result<String, DialectError> {
    serde_json::from_str(value.get())
        .map_err(|_| DialectError::invalid(origin, "expected a string"))
}

fn parse<T: serde::de::DeserializeOwned>(
    value: &RawValue,
    field: String,
) -> Result<T, DialectError> {
    serde_json::from_str(value.get()).map_err(|e| DialectError::invalid(field, e.to_string()))
}

#[derive(Deserialize)]
struct WireMessage {
    role: String,
    content: Vec<Box<RawValue>>,
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
    let mut content = Vec::with_capacity(message.content.len());
    for (j, raw) in message.content.iter().enumerate() {
        let origin = format!("{path}.content[{j}]");
        decode_block(raw, &origin, dropped, &mut content)?;
    }
    Ok(Message {
        role,
        content,
        origin: path,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToolUse {
    tool_use_id: String,
    name: String,
    input: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToolResult {
    tool_use_id: String,
    content: Vec<Box<RawValue>>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum WireReasoning {
    ReasoningText {
        text: String,
        signature: Option<String>,
    },
    RedactedContent(String),
}

/// Decodes one content block onto `content`; a `cachePoint` marks the part before it.
fn decode_block(
    raw: &RawValue,
    origin: &str,
    dropped: &mut Vec<String>,
    content: &mut Vec<Part>,
) -> Result<(), DialectError> {
    let (member, value) = union_member(raw, origin)?;
    let field = format!("{origin}.{member}");
    let kind = match member {
        "text" => PartKind::Text(string(&value, origin)?),
        "json" => PartKind::Json(RawJson::from_raw(value)),
        "image" => PartKind::Image(decode_image(parse(&value, field)?, origin)?),
        "document" => PartKind::Document(decode_document(parse(&value, field)?, origin)?),
        "toolUse" => {
            let wire: WireToolUse = parse(&value, field)?;
            PartKind::ToolCall(ToolCall {
                id: wire.tool_use_id,
                name: wire.name,
                arguments: RawJson::from_raw(wire.input),
            })
        }
        "toolResult" => {
            let wire: WireToolResult = parse(&value, field)?;
            let mut content = Vec::with_capacity(wire.content.len());
            for (k, raw) in wire.content.iter().enumerate() {
                let inner = format!("{origin}.toolResult.content[{k}]");
                decode_block(raw, &inner, dropped, &mut content)?;
            }
            PartKind::ToolResult(ToolResult {
                call_id: wire.tool_use_id,
                content,
                is_error: wire.status.as_deref() == Some("error"),
            })
        }
        "reasoningContent" => match parse(&value, field)? {
            WireReasoning::ReasoningText { text, signature } => {
                PartKind::Reasoning(ReasoningBlock { text, signature })
            }
            WireReasoning::RedactedContent(data) => PartKind::RedactedReasoning(data),
        },
        "cachePoint" => {
            let mark = cache_point(&value, origin)?;
            place_cache(
                content.last_mut().map(|part| &mut part.cache),
                mark,
                dropped,
            );
            return Ok(());
        }
        other => {
            return Err(refused(
                origin,
                &format!("`{other}` content is not translated"),
            ));
        }
    };
    content.push(Part::new(kind, origin));
    Ok(())
}

/// A `cachePoint` block's value (`{"type": "default", "ttl"?: "5m" | "1h"}`) at `origin`.
fn cache_point(value: &RawValue, origin: &str) -> Result<CacheBreakpoint, DialectError> {
    #[derive(Deserialize)]
    struct WireCachePoint {
        r#type: String,
        ttl: Option<String>,
    }
    let field = format!("{origin}.cachePoint");
    let wire: WireCachePoint = parse(value, field.clone())?;
    if wire.r#type != "default" {
        return Err(DialectError::invalid(
            format!("{field}.type"),
            "expected `default`",
        ));
    }
    let one_hour = CacheBreakpoint::one_hour_ttl(wire.ttl.as_deref())
        .ok_or_else(|| DialectError::invalid(format!("{field}.ttl"), "expected `5m` or `1h`"))?;
    Ok(CacheBreakpoint {
        one_hour,
        origin: field,
    })
}

/// Puts a `cachePoint` on the item before it; with none there (or one already marked), the point
/// closes nothing new and is dropped and listed.
fn place_cache(
    item: Option<&mut Option<CacheBreakpoint>>,
    mark: CacheBreakpoint,
    dropped: &mut Vec<String>,
) {
    match item {
        Some(slot @ None) => *slot = Some(mark),
        _ => dropped.push(mark.origin),
    }
}

fn decode_image(value: Value, origin: &str) -> Result<Image, DialectError> {
    let format = value
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let media_type = media_type_of_format(format).ok_or_else(|| {
        DialectError::invalid(
            format!("{origin}.image.format"),
            "expected png, jpeg, gif or webp",
        )
    })?;
    let bytes = value
        .pointer("/source/bytes")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            refused(
                &format!("{origin}.image.source"),
                "only inline image bytes are translated, not S3 locations",
            )
        })?;
    Ok(Image {
        source: ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: bytes.to_owned(),
        },
    })
}

fn decode_document(value: Value, origin: &str) -> Result<Document, DialectError> {
    let format = value
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = value.get("name").and_then(Value::as_str).map(str::to_owned);
    let source = match (format, value.get("source")) {
        ("pdf", Some(source)) if source.get("bytes").is_some() => DocumentSource::Pdf {
            data: source
                .get("bytes")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        },
        (_, Some(source)) if source.get("text").is_some() => DocumentSource::Text(
            source
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        ("txt" | "md", Some(source)) if source.get("bytes").is_some() => {
            return Err(refused(
                &format!("{origin}.document"),
                "text documents are translated from `text` sources, not bytes",
            ));
        }
        _ => {
            return Err(refused(
                &format!("{origin}.document"),
                "only PDF bytes and text sources are translated",
            ));
        }
    };
    Ok(Document { source, name })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireToolSpec {
    name: String,
    description: Option<String>,
    input_schema: InputSchema,
    strict: Option<bool>,
}

#[derive(Deserialize)]
struct InputSchema {
    json: Box<RawValue>,
}

/// An entry of `toolConfig.tools`.
enum Tool {
    Definition(ToolDefinition),
    CachePoint(CacheBreakpoint),
}

fn decode_tool(raw: &RawValue, i: usize) -> Result<Tool, DialectError> {
    let origin = format!("toolConfig.tools[{i}]");
    match union_member(raw, &origin)? {
        ("toolSpec", value) => {
            let spec: WireToolSpec = parse(&value, origin.clone())?;
            Ok(Tool::Definition(ToolDefinition {
                name: spec.name,
                description: spec.description,
                parameters: Some(RawJson::from_raw(spec.input_schema.json)),
                strict: spec.strict,
                origin,
                cache: None,
            }))
        }
        ("cachePoint", value) => Ok(Tool::CachePoint(cache_point(&value, &origin)?)),
        _ => Err(refused(&origin, "only toolSpec tools are translated")),
    }
}

fn decode_thinking(value: &Value, field: &str) -> Result<Reasoning, DialectError> {
    match value.get("type").and_then(Value::as_str) {
        Some("enabled") => value
            .get("budget_tokens")
            .and_then(Value::as_u64)
            .and_then(|b| u32::try_from(b).ok())
            .map(Reasoning::Budget)
            .ok_or_else(|| {
                DialectError::invalid(format!("{field}.budget_tokens"), "expected a whole number")
            }),
        Some("adaptive") => Ok(Reasoning::Adaptive(None)),
        Some("disabled") => Ok(Reasoning::Disabled),
        _ => Err(DialectError::invalid(
            format!("{field}.type"),
            "expected enabled, adaptive or disabled",
        )),
    }
}
