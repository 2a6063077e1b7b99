//! OpenAI Chat Completions request body → canonical request.
//!
//! Policy: `system` and `developer` messages, wherever they are, become the system prompt in order
//! (their position between turns is lost, as no other dialect can place them there). Advisory
//! fields (`metadata`, `store`, `service_tier`, `seed`, penalties, `logit_bias`, prompt-cache
//! hints, `safety_identifier`, `verbosity`, message `name`, image `detail`,
//! `stream_options.include_obfuscation`) are dropped and listed. Fields that would change the
//! answer and exist nowhere else (`logprobs`, audio, `prediction`, legacy `functions`, custom and
//! allowed-tools choices, file ids, web search) are refused with target `canonical`. Unknown fields
//! are invalid, as they are for OpenAI itself.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use super::TARGET_CANONICAL;
use crate::canonical::{
    Document, DocumentSource, Effort, Image, ImageSource, Message, Origin, Part, PartKind, RawJson,
    Reasoning, Request, ResponseFormat, Role, SystemPart, ToolCall, ToolChoice, ToolDefinition,
    ToolResult,
};
use crate::limits::within;
use crate::media::parse_data_url;
use crate::{Decoded, DialectError};

#[derive(Deserialize)]
struct Body {
    messages: Vec<Box<RawValue>>,
    #[serde(default)]
    tools: Vec<Box<RawValue>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    max_completion_tokens: Option<u32>,
    max_tokens: Option<u32>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    n: Option<u32>,
    stop: Option<Stop>,
    response_format: Option<Box<RawValue>>,
    reasoning_effort: Option<String>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    user: Option<String>,
    /// Everything else, sorted out by name below.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
    include_obfuscation: Option<bool>,
}

/// Fields with no meaning outside OpenAI that leave the answer itself unchanged.
const ADVISORY: &[&str] = &[
    "metadata",
    "store",
    "service_tier",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
    "safety_identifier",
    "verbosity",
];

/// Fields that change the answer and have no equivalent in other dialects.
const UNTRANSLATABLE: &[&str] = &[
    "logprobs",
    "top_logprobs",
    "audio",
    "prediction",
    "functions",
    "function_call",
    "web_search_options",
];

pub(super) fn decode_request(body: &[u8]) -> Result<Decoded, DialectError> {
    let body: Body = serde_json::from_slice(body).map_err(|e| DialectError::from_json(&e))?;
    let mut dropped = Vec::new();
    sort_out_rest(&body.rest, &mut dropped)?;

    let mut request = Request::new(Origin::OpenAiChat);
    for (i, raw) in body.messages.iter().enumerate() {
        decode_message(raw, i, &mut request, &mut dropped)?;
    }
    for (i, raw) in body.tools.iter().enumerate() {
        request.tools.push(decode_tool(raw, i)?);
    }
    request.tool_choice = body
        .tool_choice
        .as_ref()
        .map(decode_tool_choice)
        .transpose()?;
    request.parallel_tool_calls = body.parallel_tool_calls;
    request.max_output_tokens = body.max_completion_tokens.or(body.max_tokens);
    if let Some(t) = &body.temperature
        && !within(t, 0.0, 2.0)
    {
        return Err(DialectError::invalid(
            "temperature",
            "must be between 0 and 2",
        ));
    }
    if let Some(p) = &body.top_p
        && !within(p, 0.0, 1.0)
    {
        return Err(DialectError::invalid("top_p", "must be between 0 and 1"));
    }
    request.temperature = body.temperature;
    request.top_p = body.top_p;
    request.candidates = match body.n {
        Some(0) => return Err(DialectError::invalid("n", "must be at least 1")),
        Some(n) => n,
        None => 1,
    };
    request.stop = match body.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(list)) if list.len() > 4 => {
            return Err(DialectError::invalid("stop", "at most 4 stop sequences"));
        }
        Some(Stop::Many(list)) => list,
    };
    request.response_format = body
        .response_format
        .as_deref()
        .map(decode_response_format)
        .transpose()?
        .flatten();
    request.reasoning = body
        .reasoning_effort
        .as_deref()
        .map(|text| decode_effort("reasoning_effort", text))
        .transpose()?;
    request.stream = body.stream.unwrap_or(false);
    if let Some(options) = body.stream_options {
        request.stream_usage = options.include_usage.unwrap_or(false);
        if options.include_obfuscation.is_some() {
            dropped.push("stream_options.include_obfuscation".to_owned());
        }
    }
    request.user = body.user;
    Ok(Decoded { request, dropped })
}

fn sort_out_rest(
    rest: &BTreeMap<String, Value>,
    dropped: &mut Vec<String>,
) -> Result<(), DialectError> {
    for (name, value) in rest {
        if name == "model" || value.is_null() {
            continue;
        }
        if ADVISORY.contains(&name.as_str()) {
            dropped.push(name.clone());
        } else if name == "modalities" {
            if value
                .as_array()
                .is_some_and(|m| m.iter().any(|v| v != "text"))
            {
                return Err(refused(name, "only text output can be translated"));
            }
        } else if UNTRANSLATABLE.contains(&name.as_str()) {
            if value != &Value::Bool(false) {
                return Err(refused(name, "no other dialect has this"));
            }
        } else {
            return Err(DialectError::invalid(name.as_str(), "unknown field"));
        }
    }
    Ok(())
}

fn refused(field: &str, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET_CANONICAL, reason)
}

#[derive(Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage {
    System(Instruction),
    Developer(Instruction),
    User {
        content: Content,
        name: Option<String>,
    },
    Assistant {
        content: Option<Content>,
        refusal: Option<String>,
        #[serde(default)]
        tool_calls: Vec<WireToolCall>,
        name: Option<String>,
        audio: Option<Value>,
        function_call: Option<Value>,
    },
    Tool {
        tool_call_id: String,
        content: Content,
    },
    Function {},
}

#[derive(Deserialize)]
struct Instruction {
    content: Content,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart {
    Text { text: String },
    Refusal { refusal: String },
    ImageUrl { image_url: ImageUrl },
    InputAudio {},
    File { file: WireFile },
}

#[derive(Deserialize)]
struct ImageUrl {
    url: String,
    detail: Option<String>,
}

#[derive(Deserialize)]
struct WireFile {
    file_data: Option<String>,
    file_id: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    arguments: String,
}

fn decode_message(
    raw: &RawValue,
    i: usize,
    request: &mut Request,
    dropped: &mut Vec<String>,
) -> Result<(), DialectError> {
    let path = format!("messages[{i}]");
    let message: WireMessage = serde_json::from_str(raw.get())
        .map_err(|e| DialectError::invalid(path.as_str(), e.to_string()))?;
    match message {
        WireMessage::System(instruction) | WireMessage::Developer(instruction) => {
            if instruction.name.is_some() {
                dropped.push(format!("{path}.name"));
            }
            for (text, origin) in text_only(instruction.content, &path)? {
                request.system.push(SystemPart { text, origin });
            }
        }
        WireMessage::User { content, name } => {
            if name.is_some() {
                dropped.push(format!("{path}.name"));
            }
            let content = user_parts(content, &path, dropped)?;
            request.messages.push(Message {
                role: Role::User,
                content,
                origin: path,
            });
        }
        WireMessage::Assistant {
            content,
            refusal,
            tool_calls,
            name,
            audio,
            function_call,
        } => {
            if name.is_some() {
                dropped.push(format!("{path}.name"));
            }
            if audio.is_some() {
                return Err(refused(
                    &format!("{path}.audio"),
                    "audio replies exist only in OpenAI",
                ));
            }
            if function_call.is_some() {
                return Err(refused(
                    &format!("{path}.function_call"),
                    "legacy function calls are not translated; use tool_calls",
                ));
            }
            let mut parts = Vec::new();
            if let Some(content) = content {
                for (text, origin) in text_only(content, &path)? {
                    parts.push(Part::new(PartKind::Text(text), origin));
                }
            }
            if let Some(refusal) = refusal {
                parts.push(Part::new(
                    PartKind::Text(refusal),
                    format!("{path}.refusal"),
                ));
            }
            for (j, call) in tool_calls.into_iter().enumerate() {
                let origin = format!("{path}.tool_calls[{j}]");
                let arguments = RawJson::tool_arguments(
                    &call.function.arguments,
                    &format!("{origin}.function.arguments"),
                )?;
                parts.push(Part::new(
                    PartKind::ToolCall(ToolCall {
                        id: call.id,
                        name: call.function.name,
                        arguments,
                    }),
                    origin,
                ));
            }
            request.messages.push(Message {
                role: Role::Assistant,
                content: parts,
                origin: path,
            });
        }
        WireMessage::Tool {
            tool_call_id,
            content,
        } => {
            let content = text_only(content, &path)?
                .into_iter()
                .map(|(text, origin)| Part::new(PartKind::Text(text), origin))
                .collect();
            request.messages.push(Message {
                role: Role::User,
                content: vec![Part::new(
                    PartKind::ToolResult(ToolResult {
                        call_id: tool_call_id,
                        content,
                        is_error: false,
                    }),
                    path.clone(),
                )],
                origin: path,
            });
        }
        WireMessage::Function {} => {
            return Err(refused(
                &path,
                "legacy function messages are not translated; use tool messages",
            ));
        }
    }
    Ok(())
}

/// Text of a message that only takes text (system, developer, assistant, tool), with the path of
/// each piece.
fn text_only(content: Content, path: &str) -> Result<Vec<(String, String)>, DialectError> {
    match content {
        Content::Text(text) => Ok(vec![(text, format!("{path}.content"))]),
        Content::Parts(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(j, part)| {
                let origin = format!("{path}.content[{j}]");
                match part {
                    WirePart::Text { text } => Ok((text, origin)),
                    WirePart::Refusal { refusal } => Ok((refusal, origin)),
                    _ => Err(DialectError::invalid(origin, "only text is allowed here")),
                }
            })
            .collect(),
    }
}

fn user_parts(
    content: Content,
    path: &str,
    dropped: &mut Vec<String>,
) -> Result<Vec<Part>, DialectError> {
    let parts = match content {
        Content::Text(text) => {
            return Ok(vec![Part::new(
                PartKind::Text(text),
                format!("{path}.content"),
            )]);
        }
        Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.into_iter().enumerate() {
        let origin = format!("{path}.content[{j}]");
        let kind = match part {
            WirePart::Text { text } | WirePart::Refusal { refusal: text } => PartKind::Text(text),
            WirePart::ImageUrl { image_url } => {
                if image_url.detail.is_some() {
                    dropped.push(format!("{origin}.image_url.detail"));
                }
                PartKind::Image(Image {
                    source: image_source(image_url.url, &origin)?,
                })
            }
            WirePart::InputAudio {} => {
                return Err(refused(
                    &format!("{origin}.input_audio"),
                    "audio input is not translated",
                ));
            }
            WirePart::File { file } => PartKind::Document(document(file, &origin)?),
        };
        out.push(Part::new(kind, origin));
    }
    Ok(out)
}

fn image_source(url: String, origin: &str) -> Result<ImageSource, DialectError> {
    if url.starts_with("data:") {
        let (media_type, data) = parse_data_url(&url).ok_or_else(|| {
            DialectError::invalid(
                format!("{origin}.image_url.url"),
                "a data URL must be base64",
            )
        })?;
        return Ok(ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        });
    }
    Ok(ImageSource::Url(url))
}

fn document(file: WireFile, origin: &str) -> Result<Document, DialectError> {
    if file.file_id.is_some() {
        return Err(refused(
            &format!("{origin}.file.file_id"),
            "files uploaded to OpenAI cannot be read by other providers",
        ));
    }
    let data_url = file.file_data.ok_or_else(|| {
        DialectError::invalid(format!("{origin}.file"), "needs file_data or file_id")
    })?;
    let field = format!("{origin}.file.file_data");
    match parse_data_url(&data_url) {
        Some(("application/pdf", data)) => Ok(Document {
            source: DocumentSource::Pdf {
                data: data.to_owned(),
            },
            name: file.filename,
        }),
        Some((other, _)) => Err(refused(
            &field,
            &format!("documents of type {other} are not translated; only PDF"),
        )),
        None => Err(DialectError::invalid(field, "must be a base64 data URL")),
    }
}

/// Read the `type` first: raw JSON (the schema) cannot pass through serde's tagged-enum buffering.
#[derive(Deserialize)]
struct Tagged {
    r#type: String,
}

#[derive(Deserialize)]
struct FunctionTool {
    function: WireFunctionDef,
}

#[derive(Deserialize)]
struct WireFunctionDef {
    name: String,
    description: Option<String>,
    parameters: Option<Box<RawValue>>,
    strict: Option<bool>,
}

fn decode_tool(raw: &RawValue, i: usize) -> Result<ToolDefinition, DialectError> {
    let origin = format!("tools[{i}]");
    let invalid = |e: serde_json::Error| DialectError::invalid(origin.as_str(), e.to_string());
    let tagged: Tagged = serde_json::from_str(raw.get()).map_err(invalid)?;
    match tagged.r#type.as_str() {
        "function" => {
            let FunctionTool { function } = serde_json::from_str(raw.get()).map_err(invalid)?;
            Ok(ToolDefinition {
                name: function.name,
                description: function.description,
                parameters: function.parameters.map(RawJson::from_raw),
                strict: function.strict,
                origin,
            })
        }
        "custom" => Err(refused(
            &origin,
            "free-form custom tools exist only in OpenAI",
        )),
        other => Err(DialectError::invalid(
            format!("{origin}.type"),
            format!("unknown tool type `{other}`"),
        )),
    }
}

fn decode_tool_choice(value: &Value) -> Result<ToolChoice, DialectError> {
    match value {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(DialectError::invalid(
                "tool_choice",
                "expected auto, none or required",
            )),
        },
        Value::Object(object) => match object.get("type").and_then(Value::as_str) {
            Some("function") => object
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .map(|name| ToolChoice::Named(name.to_owned()))
                .ok_or_else(|| DialectError::invalid("tool_choice.function.name", "missing")),
            Some("allowed_tools" | "custom") => Err(refused(
                "tool_choice",
                "allowed-tools and custom tool choices are not translated",
            )),
            _ => Err(DialectError::invalid(
                "tool_choice.type",
                "unknown tool choice",
            )),
        },
        _ => Err(DialectError::invalid(
            "tool_choice",
            "expected a string or an object",
        )),
    }
}

#[derive(Deserialize)]
struct JsonSchemaFormat {
    json_schema: WireJsonSchema,
}

#[derive(Deserialize)]
struct WireJsonSchema {
    name: Option<String>,
    description: Option<String>,
    schema: Option<Box<RawValue>>,
    strict: Option<bool>,
}

fn decode_response_format(raw: &RawValue) -> Result<Option<ResponseFormat>, DialectError> {
    let invalid = |e: serde_json::Error| DialectError::invalid("response_format", e.to_string());
    let tagged: Tagged = serde_json::from_str(raw.get()).map_err(invalid)?;
    Ok(match tagged.r#type.as_str() {
        "text" => None,
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => {
            let JsonSchemaFormat { json_schema } =
                serde_json::from_str(raw.get()).map_err(invalid)?;
            Some(match json_schema.schema {
                Some(schema) => ResponseFormat::JsonSchema {
                    name: json_schema.name,
                    description: json_schema.description,
                    schema: RawJson::from_raw(schema),
                    strict: json_schema.strict,
                },
                None => ResponseFormat::JsonObject,
            })
        }
        other => {
            return Err(DialectError::invalid(
                "response_format.type",
                format!("unknown format `{other}`"),
            ));
        }
    })
}

/// OpenAI's reasoning effort (`none` turns reasoning off); shared with the Responses decoder,
/// which names the field differently.
pub(crate) fn decode_effort(field: &str, text: &str) -> Result<Reasoning, DialectError> {
    if text == "none" {
        return Ok(Reasoning::Disabled);
    }
    Effort::parse(text)
        .map(Reasoning::Effort)
        .ok_or_else(|| DialectError::invalid(field, format!("unknown effort `{text}`")))
}
