//! OpenAI Responses request body (`ResponseCreateParams`) → canonical request and request echo.
//!
//! Policy, following the reject-vs-drop rules of the other ingress codecs:
//! - stored state (`store: true` set explicitly, `previous_response_id`, `conversation`,
//!   `background: true`) is invalid: this release keeps no responses, and OpenAI's own default
//!   `store` is only refused when the caller spells it out;
//! - built-in tools and their choices, `prompt` templates, logprobs, and `context_management` are
//!   refused with target `canonical`: they change the answer and exist only inside OpenAI;
//! - advisory fields (`metadata`, `safety_identifier`, `prompt_cache_key`,
//!   `prompt_cache_retention`, `service_tier`, `max_tool_calls`, `text.verbosity`,
//!   `stream_options.include_obfuscation`, `include` entries) are dropped and listed;
//! - `truncation: "auto"` is dropped and listed: the gateway never truncates, so a request that
//!   fits is answered exactly as asked and one that does not fails loudly instead of silently;
//! - `user` becomes the canonical end-user id, as in Chat Completions;
//! - unknown fields (`stop`, `n`, `seed`, ... are not part of this dialect) are invalid.

use crate::openai_chat::decode_effort;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Number, Value, json};

use super::TARGET_CANONICAL;
use super::echo::RequestEcho;
use super::input::decode_input;
use crate::canonical::{
    Origin, RawJson, Request, ResponseFormat, SystemPart, ToolChoice, ToolDefinition,
};
use crate::limits::within;
use crate::{Decoded, DialectError};

#[derive(Deserialize)]
struct Body {
    /// A string or a list of items, told apart before parsing (raw JSON cannot be buffered).
    input: Option<Box<RawValue>>,
    instructions: Option<String>,
    tools: Option<Vec<Box<RawValue>>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    max_output_tokens: Option<u32>,
    temperature: Option<Number>,
    top_p: Option<Number>,
    text: Option<TextConfig>,
    reasoning: Option<ReasoningConfig>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    store: Option<bool>,
    truncation: Option<String>,
    include: Option<Vec<String>>,
    metadata: Option<Value>,
    user: Option<String>,
    /// Everything else, sorted out by name below.
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextConfig {
    format: Option<Box<RawValue>>,
    verbosity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasoningConfig {
    effort: Option<String>,
    summary: Option<String>,
    /// The older name of `summary`.
    generate_summary: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamOptions {
    include_obfuscation: Option<bool>,
}

/// Fields with no meaning outside OpenAI that leave the answer itself unchanged.
const ADVISORY: &[&str] = &[
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
    // Counts calls to built-in tools, which are refused anyway.
    "max_tool_calls",
];

/// Fields that need responses stored by the gateway.
const STATEFUL: &[&str] = &["previous_response_id", "conversation"];

/// Fields that change the answer and have no equivalent in other dialects.
const UNTRANSLATABLE: &[&str] = &["prompt", "top_logprobs", "context_management"];

pub(super) const NOT_STORED: &str = "stored responses are not enabled on this gateway; send the whole conversation in `input` with `store: false`";

pub(super) fn decode_request(body: &[u8]) -> Result<(Decoded, RequestEcho), DialectError> {
    let body: Body = serde_json::from_slice(body).map_err(|e| DialectError::from_json(&e))?;
    let mut dropped = Vec::new();
    let mut echo = RequestEcho::default();
    sort_out_rest(&body.rest, &mut dropped)?;
    if body.store == Some(true) {
        return Err(DialectError::invalid("store", NOT_STORED));
    }

    let mut request = Request::new(Origin::OpenAiResponses);
    if let Some(instructions) = body.instructions {
        request.system.push(SystemPart {
            text: instructions.clone(),
            origin: "instructions".to_owned(),
            cache: None,
        });
        echo.instructions = Some(instructions);
    }
    let input = body
        .input
        .ok_or_else(|| DialectError::invalid("input", "required: the gateway keeps no state"))?;
    decode_input(&input, &mut request, &mut dropped)?;

    for (i, raw) in body.tools.iter().flatten().enumerate() {
        let tool = decode_tool(raw, i)?;
        echo.tools.push(json!({
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters.as_ref().map(|p| raw_to_value(p.as_str())),
            "strict": tool.strict,
        }));
        request.tools.push(tool);
    }
    if let Some(choice) = body.tool_choice.filter(|c| !c.is_null()) {
        request.tool_choice = Some(decode_tool_choice(&choice)?);
        echo.tool_choice = choice;
    }
    request.parallel_tool_calls = body.parallel_tool_calls;
    echo.parallel_tool_calls = body.parallel_tool_calls.unwrap_or(true);
    request.max_output_tokens = body.max_output_tokens;
    echo.max_output_tokens = body.max_output_tokens;
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
    request.temperature.clone_from(&body.temperature);
    request.top_p.clone_from(&body.top_p);
    echo.temperature = body.temperature;
    echo.top_p = body.top_p;

    if let Some(text) = body.text {
        if text.verbosity.is_some() {
            dropped.push("text.verbosity".to_owned());
        }
        if let Some(format) = text.format {
            request.response_format = decode_format(&format)?;
            echo.text_format = raw_to_value(format.get());
        }
    }
    if let Some(reasoning) = body.reasoning {
        request.reasoning = reasoning
            .effort
            .as_deref()
            .map(|text| decode_effort("reasoning.effort", text))
            .transpose()?;
        let summary = reasoning.summary.or(reasoning.generate_summary);
        if let Some(summary) = &summary
            && !matches!(summary.as_str(), "auto" | "concise" | "detailed")
        {
            return Err(DialectError::invalid(
                "reasoning.summary",
                "expected auto, concise or detailed",
            ));
        }
        echo.summaries = summary.is_some();
        echo.reasoning = Some(json!({ "effort": reasoning.effort, "summary": summary }));
    }

    request.stream = body.stream.unwrap_or(false);
    // The Responses stream always ends with the usage in `response.completed`.
    request.stream_usage = request.stream;
    if body
        .stream_options
        .is_some_and(|o| o.include_obfuscation.is_some())
    {
        dropped.push("stream_options.include_obfuscation".to_owned());
    }
    match body.truncation.as_deref() {
        None | Some("disabled") => {}
        Some("auto") => dropped.push("truncation".to_owned()),
        Some(_) => {
            return Err(DialectError::invalid(
                "truncation",
                "expected auto or disabled",
            ));
        }
    }
    for (i, entry) in body.include.iter().flatten().enumerate() {
        if entry == "message.output_text.logprobs" {
            return Err(refused(
                &format!("include[{i}]"),
                "log probabilities exist only in OpenAI",
            ));
        }
        // The rest asks for built-in tool outputs or OpenAI-sealed reasoning, neither produced here.
        dropped.push(format!("include[{i}]"));
    }
    match body.metadata {
        None | Some(Value::Null) => {}
        Some(metadata @ Value::Object(_)) => {
            dropped.push("metadata".to_owned());
            echo.metadata = metadata;
        }
        Some(_) => return Err(DialectError::invalid("metadata", "must be an object")),
    }
    request.user.clone_from(&body.user);
    echo.user = body.user;
    Ok((Decoded { request, dropped }, echo))
}

fn sort_out_rest(
    rest: &BTreeMap<String, Value>,
    dropped: &mut Vec<String>,
) -> Result<(), DialectError> {
    for (name, value) in rest {
        let name = name.as_str();
        if name == "model" || value.is_null() {
            continue;
        }
        if ADVISORY.contains(&name) {
            dropped.push(name.to_owned());
        } else if STATEFUL.contains(&name) {
            return Err(DialectError::invalid(name, NOT_STORED));
        } else if name == "background" {
            if value != &Value::Bool(false) {
                return Err(DialectError::invalid(name, NOT_STORED));
            }
        } else if UNTRANSLATABLE.contains(&name) {
            if value != &Value::Bool(false) && value != &json!(0) {
                return Err(refused(name, "no other dialect has this"));
            }
        } else {
            return Err(DialectError::invalid(name, "unknown field"));
        }
    }
    Ok(())
}

pub(super) fn refused(field: &str, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET_CANONICAL, reason)
}

/// A JSON value for the echo; the text was parsed once already, so this does not fail.
fn raw_to_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Read the `type` first: raw JSON (the schema) cannot pass through serde's tagged-enum buffering.
#[derive(Deserialize)]
struct Tagged {
    r#type: String,
}

#[derive(Deserialize)]
struct FunctionTool {
    name: String,
    description: Option<String>,
    parameters: Option<Box<RawValue>>,
    strict: Option<bool>,
}

fn decode_tool(raw: &RawValue, i: usize) -> Result<ToolDefinition, DialectError> {
    let origin = format!("tools[{i}]");
    let invalid = |e: serde_json::Error| DialectError::invalid(origin.as_str(), e.to_string());
    let tagged: Tagged = serde_json::from_str(raw.get()).map_err(invalid)?;
    if tagged.r#type != "function" {
        return Err(refused(
            &origin,
            &format!(
                "the built-in tool `{}` runs inside OpenAI; no other provider has it",
                tagged.r#type
            ),
        ));
    }
    let tool: FunctionTool = serde_json::from_str(raw.get()).map_err(invalid)?;
    Ok(ToolDefinition {
        name: tool.name,
        description: tool.description,
        parameters: tool.parameters.map(RawJson::from_raw),
        strict: tool.strict,
        origin,
        cache: None,
    })
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
                .get("name")
                .and_then(Value::as_str)
                .map(|name| ToolChoice::Named(name.to_owned()))
                .ok_or_else(|| DialectError::invalid("tool_choice.name", "missing")),
            Some(other) => Err(refused(
                "tool_choice",
                &format!("the `{other}` tool choice exists only in OpenAI"),
            )),
            None => Err(DialectError::invalid("tool_choice.type", "missing")),
        },
        _ => Err(DialectError::invalid(
            "tool_choice",
            "expected a string or an object",
        )),
    }
}

/// `text.format` is flat in Responses: `{type: json_schema, name, schema, strict, description}`.
#[derive(Deserialize)]
struct JsonSchemaFormat {
    name: Option<String>,
    description: Option<String>,
    schema: Box<RawValue>,
    strict: Option<bool>,
}

fn decode_format(raw: &RawValue) -> Result<Option<ResponseFormat>, DialectError> {
    let invalid = |e: serde_json::Error| DialectError::invalid("text.format", e.to_string());
    let tagged: Tagged = serde_json::from_str(raw.get()).map_err(invalid)?;
    Ok(match tagged.r#type.as_str() {
        "text" => None,
        "json_object" => Some(ResponseFormat::JsonObject),
        "json_schema" => {
            let format: JsonSchemaFormat = serde_json::from_str(raw.get()).map_err(invalid)?;
            Some(ResponseFormat::JsonSchema {
                name: format.name,
                description: format.description,
                schema: RawJson::from_raw(format.schema),
                strict: format.strict,
            })
        }
        other => {
            return Err(DialectError::invalid(
                "text.format.type",
                format!("unknown format `{other}`"),
            ));
        }
    })
}
