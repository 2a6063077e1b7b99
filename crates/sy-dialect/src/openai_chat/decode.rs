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

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
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

/// The body's fields, read in one pass (see [`BodyVisitor`]); messages and tools are kept as raw
/// JSON and decoded one by one, so that an error can name its index.
#[derive(Default)]
struct Body<'a> {
    messages: Vec<&'a RawValue>,
    tools: Vec<&'a RawValue>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    max_completion_tokens: Option<u32>,
    max_tokens: Option<u32>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    n: Option<u32>,
    stop: Option<TextOr<String>>,
    response_format: Option<&'a RawValue>,
    reasoning_effort: Option<String>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    user: Option<String>,
    /// The advisory fields given (not null).
    advisory: Vec<&'static str>,
    /// The first other field that cannot be taken: unknown, or refused.
    rejected: Option<DialectError>,
}

/// The names the body's reader knows; any other is sorted out by name (advisory, refused or
/// unknown).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Model,
    Messages,
    Tools,
    ToolChoice,
    ParallelToolCalls,
    MaxCompletionTokens,
    MaxTokens,
    Temperature,
    TopP,
    N,
    Stop,
    ResponseFormat,
    ReasoningEffort,
    Stream,
    StreamOptions,
    User,
    Other(String),
}

impl Field {
    /// A typed field's name and its bit among the fields seen; `None` for the others.
    fn typed(&self) -> Option<(&'static str, u32)> {
        let (name, index) = match self {
            Self::Model => ("model", 0),
            Self::Messages => ("messages", 1),
            Self::Tools => ("tools", 2),
            Self::ToolChoice => ("tool_choice", 3),
            Self::ParallelToolCalls => ("parallel_tool_calls", 4),
            Self::MaxCompletionTokens => ("max_completion_tokens", 5),
            Self::MaxTokens => ("max_tokens", 6),
            Self::Temperature => ("temperature", 7),
            Self::TopP => ("top_p", 8),
            Self::N => ("n", 9),
            Self::Stop => ("stop", 10),
            Self::ResponseFormat => ("response_format", 11),
            Self::ReasoningEffort => ("reasoning_effort", 12),
            Self::Stream => ("stream", 13),
            Self::StreamOptions => ("stream_options", 14),
            Self::User => ("user", 15),
            Self::Other(_) => return None,
        };
        Some((name, 1 << index))
    }
}

/// Reads the body field by field. serde's `flatten`, which would collect the other fields, runs
/// every field of every request through its generic buffering; this reader only looks at names.
struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a chat completion request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body<'de>, A::Error> {
        let mut body = Body::default();
        let mut seen = 0_u32;
        while let Some(field) = map.next_key::<Field>()? {
            // A repeated field is refused, as a derived reader would (not "the last one wins").
            if let Some((name, bit)) = field.typed() {
                if seen & bit != 0 {
                    return Err(de::Error::duplicate_field(name));
                }
                seen |= bit;
            }
            match field {
                Field::Model => {
                    map.next_value::<IgnoredAny>()?;
                }
                Field::Messages => body.messages = map.next_value()?,
                Field::Tools => body.tools = map.next_value::<Option<_>>()?.unwrap_or_default(),
                Field::ToolChoice => body.tool_choice = map.next_value()?,
                Field::ParallelToolCalls => body.parallel_tool_calls = map.next_value()?,
                Field::MaxCompletionTokens => body.max_completion_tokens = map.next_value()?,
                Field::MaxTokens => body.max_tokens = map.next_value()?,
                Field::Temperature => body.temperature = map.next_value()?,
                Field::TopP => body.top_p = map.next_value()?,
                Field::N => body.n = map.next_value()?,
                Field::Stop => body.stop = map.next_value()?,
                Field::ResponseFormat => body.response_format = map.next_value()?,
                Field::ReasoningEffort => body.reasoning_effort = map.next_value()?,
                Field::Stream => body.stream = map.next_value()?,
                Field::StreamOptions => body.stream_options = map.next_value()?,
                Field::User => body.user = map.next_value()?,
                Field::Other(name) => {
                    let value: Value = map.next_value()?;
                    if let Err(e) = sort_out(&name, &value, &mut body.advisory) {
                        body.rejected.get_or_insert(e);
                    }
                }
            }
        }
        if seen & Field::Messages.typed().map_or(0, |(_, bit)| bit) == 0 {
            return Err(de::Error::missing_field("messages"));
        }
        Ok(body)
    }
}

/// Where a field outside the typed ones goes: the advisory list, a refusal, or nowhere (a null,
/// or text-only `modalities`).
fn sort_out(
    name: &str,
    value: &Value,
    advisory: &mut Vec<&'static str>,
) -> Result<(), DialectError> {
    if value.is_null() {
        return Ok(());
    }
    if let Some(known) = ADVISORY.iter().find(|known| **known == name) {
        advisory.push(known);
    } else if name == "modalities" {
        if value
            .as_array()
            .is_some_and(|m| m.iter().any(|v| v != "text"))
        {
            return Err(refused(name, "only text output can be translated"));
        }
    } else if UNTRANSLATABLE.contains(&name) {
        if value != &Value::Bool(false) {
            return Err(refused(name, "no other dialect has this"));
        }
    } else {
        return Err(DialectError::invalid(name, "unknown field"));
    }
    Ok(())
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
    // Read as text, as the messages below and the head the gateway parses first are: serde_json
    // has a copy of its parser for each kind of input, and a request that runs one copy fetches
    // half the code of one that runs two.
    let body = std::str::from_utf8(body)
        .map_err(|e| DialectError::invalid("$", format!("the body is not UTF-8: {e}")))?;
    let mut json = serde_json::Deserializer::from_str(body);
    let body = json
        .deserialize_map(BodyVisitor)
        .and_then(|body| json.end().map(|()| body))
        .map_err(|e| DialectError::from_json(&e))?;
    if let Some(rejected) = body.rejected {
        return Err(rejected);
    }
    // Sorted, as a listing of what was dropped reads best in a stable order.
    let mut dropped: Vec<String> = body
        .advisory
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    dropped.sort_unstable();

    let mut request = Request::new(Origin::OpenAiChat);
    request.messages.reserve(body.messages.len());
    request.tools.reserve(body.tools.len());
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
        Some(TextOr::Text(s)) => vec![s],
        Some(TextOr::Items(list)) if list.len() > 4 => {
            return Err(DialectError::invalid("stop", "at most 4 stop sequences"));
        }
        Some(TextOr::Items(list)) => list,
    };
    request.response_format = body
        .response_format
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

fn refused(field: &str, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET_CANONICAL, reason)
}

/// One message, read in a single pass: which fields a role takes is checked after reading, so no
/// message is buffered the way serde's tagged enums buffer (a copy of every string per message).
#[derive(Deserialize)]
struct WireMessage {
    role: WireRole,
    content: Option<Content>,
    name: Option<String>,
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
    tool_call_id: Option<String>,
    audio: Option<IgnoredAny>,
    function_call: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireRole {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

/// A string, or an array of `T`: a message's `content` (parts) and `stop` (sequences). Read by a
/// visitor rather than as an untagged enum, which buffers the value to try each shape in turn.
enum TextOr<T> {
    Text(String),
    Items(Vec<T>),
}

/// A message's content: a string, or an array of parts.
type Content = TextOr<WirePart>;

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TextOr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextOrVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for TextOrVisitor<T> {
            type Value = TextOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<TextOr<T>, E> {
                Ok(TextOr::Text(text.to_owned()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<TextOr<T>, E> {
                Ok(TextOr::Text(text))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextOr<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(TextOr::Items(items))
            }
        }
        deserializer.deserialize_any(TextOrVisitor(PhantomData))
    }
}

/// One content part, read like a message: its `type` says which of the fields it needs.
#[derive(Deserialize)]
struct WirePart {
    r#type: PartType,
    text: Option<String>,
    refusal: Option<String>,
    image_url: Option<ImageUrl>,
    file: Option<WireFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum PartType {
    Text,
    Refusal,
    ImageUrl,
    InputAudio,
    File,
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
    let path = item_path("messages", i);
    let message: WireMessage = serde_json::from_str(raw.get())
        .map_err(|e| DialectError::invalid(path.as_str(), e.to_string()))?;
    if message.name.is_some() && !matches!(message.role, WireRole::Tool | WireRole::Function) {
        dropped.push(format!("{path}.name"));
    }
    match message.role {
        WireRole::System | WireRole::Developer => {
            let content = required(message.content, &path, "content")?;
            for (text, origin) in text_only(content, &path)? {
                request.system.push(SystemPart {
                    text,
                    origin,
                    cache: None,
                });
            }
        }
        WireRole::User => {
            let content = required(message.content, &path, "content")?;
            let content = user_parts(content, &path, dropped)?;
            request.messages.push(Message {
                role: Role::User,
                content,
                origin: path,
            });
        }
        WireRole::Assistant => {
            if message.audio.is_some() {
                return Err(refused(
                    &format!("{path}.audio"),
                    "audio replies exist only in OpenAI",
                ));
            }
            if message.function_call.is_some() {
                return Err(refused(
                    &format!("{path}.function_call"),
                    "legacy function calls are not translated; use tool_calls",
                ));
            }
            let mut parts = Vec::with_capacity(1 + message.tool_calls.len());
            if let Some(content) = message.content {
                for (text, origin) in text_only(content, &path)? {
                    parts.push(Part::new(PartKind::Text(text), origin));
                }
            }
            if let Some(refusal) = message.refusal {
                parts.push(Part::new(
                    PartKind::Text(refusal),
                    field_path(&path, "refusal"),
                ));
            }
            for (j, call) in message.tool_calls.into_iter().enumerate() {
                let origin = item_path(&field_path(&path, "tool_calls"), j);
                let arguments = RawJson::tool_arguments(
                    &call.function.arguments,
                    &field_path(&origin, "function.arguments"),
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
        WireRole::Tool => {
            let call_id = required(message.tool_call_id, &path, "tool_call_id")?;
            let content = required(message.content, &path, "content")?;
            let content = text_only(content, &path)?
                .into_iter()
                .map(|(text, origin)| Part::new(PartKind::Text(text), origin))
                .collect();
            request.messages.push(Message {
                role: Role::User,
                content: vec![Part::new(
                    PartKind::ToolResult(ToolResult {
                        call_id,
                        content,
                        is_error: false,
                    }),
                    path.clone(),
                )],
                origin: path,
            });
        }
        WireRole::Function => {
            return Err(refused(
                &path,
                "legacy function messages are not translated; use tool messages",
            ));
        }
    }
    Ok(())
}

/// `{base}[{index}]`, the JSON path of an array item. Every message and part of every request
/// gets one, so paths are written without the formatting machinery, whose code costs more than
/// the rest of a path's work when it runs from cold caches.
fn item_path(base: &str, index: usize) -> String {
    let mut digits = itoa::Buffer::new();
    let index = digits.format(index);
    let mut path = String::with_capacity(base.len() + index.len() + 2);
    path.push_str(base);
    path.push('[');
    path.push_str(index);
    path.push(']');
    path
}

/// `{base}.{field}`.
fn field_path(base: &str, field: &str) -> String {
    [base, ".", field].concat()
}

/// A field the message's role or the part's type needs.
fn required<T>(value: Option<T>, path: &str, field: &str) -> Result<T, DialectError> {
    value.ok_or_else(|| DialectError::invalid(format!("{path}.{field}"), "missing"))
}

/// Text of a message that only takes text (system, developer, assistant, tool), with the path of
/// each piece.
fn text_only(content: Content, path: &str) -> Result<Vec<(String, String)>, DialectError> {
    match content {
        TextOr::Text(text) => Ok(vec![(text, field_path(path, "content"))]),
        TextOr::Items(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(j, part)| {
                let origin = item_path(&field_path(path, "content"), j);
                match part.r#type {
                    PartType::Text => Ok((required(part.text, &origin, "text")?, origin)),
                    PartType::Refusal => Ok((required(part.refusal, &origin, "refusal")?, origin)),
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
        TextOr::Text(text) => {
            return Ok(vec![Part::new(
                PartKind::Text(text),
                field_path(path, "content"),
            )]);
        }
        TextOr::Items(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    let content = field_path(path, "content");
    for (j, part) in parts.into_iter().enumerate() {
        let origin = item_path(&content, j);
        let kind = match part.r#type {
            PartType::Text => PartKind::Text(required(part.text, &origin, "text")?),
            PartType::Refusal => PartKind::Text(required(part.refusal, &origin, "refusal")?),
            PartType::ImageUrl => {
                let image_url = required(part.image_url, &origin, "image_url")?;
                if image_url.detail.is_some() {
                    dropped.push(format!("{origin}.image_url.detail"));
                }
                PartKind::Image(Image {
                    source: image_source(image_url.url, &origin)?,
                })
            }
            PartType::InputAudio => {
                return Err(refused(
                    &format!("{origin}.input_audio"),
                    "audio input is not translated",
                ));
            }
            PartType::File => {
                PartKind::Document(document(required(part.file, &origin, "file")?, &origin)?)
            }
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
    let origin = item_path("tools", i);
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
                cache: None,
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
