//! Canonical request → OpenAI Chat Completions body (OpenAI, Azure and OpenAI-compatible upstreams).
//!
//! Choices: the system prompt becomes one leading `system` message (parts joined by a blank line,
//! as compatible servers' chat templates often take a single string); the output limit is sent as
//! `max_completion_tokens` (reasoning models refuse `max_tokens`); streaming always asks for usage,
//! which the gateway needs for billing; a tool result flagged as an error is prefixed with
//! `Error: ` because OpenAI has no flag; reasoning blocks and `top_k` are dropped and listed.

use serde::Serialize;
use serde_json::Number;
use serde_json::value::RawValue;

use super::TARGET;
use crate::canonical::{
    DocumentSource, ImageSource, Message, Part, PartKind, Reasoning, Request, ResponseFormat, Role,
    Setting, ToolChoice,
};
use crate::ids::OPENAI_TOOL_NAME;
use crate::limits::within;
use crate::media::data_url;
use crate::tool_names::ToolNames;
use crate::{DialectError, EncodeOptions, Encoded, Translation};

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<&'a Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<&'a Number>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<WireResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage<'a> {
    System {
        content: String,
    },
    User {
        content: WireContent<'a>,
    },
    Assistant {
        content: Option<WireContent<'a>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: String,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireContent<'a> {
    Text(&'a str),
    Parts(Vec<WirePart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl },
    File { file: WireFile<'a> },
}

#[derive(Serialize)]
struct ImageUrl {
    url: String,
}

#[derive(Serialize)]
struct WireFile<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'a str>,
    file_data: String,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    r#type: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    r#type: &'static str,
    function: WireFunctionDef<'a>,
}

#[derive(Serialize)]
struct WireFunctionDef<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Named {
        r#type: &'static str,
        function: NamedFunction<'a>,
    },
}

#[derive(Serialize)]
struct NamedFunction<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireResponseFormat<'a> {
    JsonObject,
    JsonSchema { json_schema: WireJsonSchema<'a> },
}

#[derive(Serialize)]
struct WireJsonSchema<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    schema: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

pub(super) fn encode_request(
    request: &Request,
    options: &EncodeOptions,
) -> Result<Encoded, DialectError> {
    let origin = request.origin;
    let mut dropped = Vec::new();
    // No prompt-cache breakpoints here: the provider caches prompts on its own.
    crate::canonical::drop_cache_breakpoints(request, &mut dropped);
    if request.candidates > 1 {
        return Err(untranslatable(
            origin.path(Setting::Candidates),
            "only one choice can be translated back",
        ));
    }
    if request.stop.len() > 4 {
        return Err(untranslatable(
            origin.path(Setting::Stop),
            "OpenAI takes at most 4 stop sequences",
        ));
    }
    if let Some(t) = &request.temperature
        && !within(t, 0.0, 2.0)
    {
        return Err(untranslatable(
            origin.path(Setting::Temperature),
            "OpenAI takes 0 to 2",
        ));
    }
    if request.top_k.is_some() {
        dropped.push(origin.path(Setting::TopK).to_owned());
    }
    if !request.anthropic_betas.is_empty() {
        dropped.push(origin.path(Setting::AnthropicBetas).to_owned());
    }
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        let joined: Vec<&str> = request.system.iter().map(|p| p.text.as_str()).collect();
        messages.push(WireMessage::System {
            content: joined.join("\n\n"),
        });
    }
    let names = ToolNames::for_request(request, OPENAI_TOOL_NAME);
    for message in &request.messages {
        encode_message(message, &names, &mut messages, &mut dropped)?;
    }
    let mut tools = Vec::with_capacity(request.tools.len());
    for tool in &request.tools {
        tools.push(WireTool {
            r#type: "function",
            function: WireFunctionDef {
                name: names.sent(&tool.name),
                description: tool.description.as_deref(),
                parameters: tool.parameters.as_ref().map(|p| p.as_raw()),
                strict: tool.strict,
            },
        });
    }
    let body = Body {
        model: &options.model,
        messages,
        tools,
        tool_choice: request
            .tool_choice
            .as_ref()
            .map(|choice| encode_tool_choice(choice, &names)),
        parallel_tool_calls: request.parallel_tool_calls,
        max_completion_tokens: request.max_output_tokens,
        temperature: request.temperature.as_ref(),
        top_p: request.top_p.as_ref(),
        stop: &request.stop,
        response_format: request.response_format.as_ref().map(encode_response_format),
        reasoning_effort: request.reasoning.and_then(encode_reasoning),
        stream: request.stream,
        stream_options: request.stream.then_some(StreamOptions {
            include_usage: true,
        }),
        user: request.user.as_deref(),
    };
    let body = crate::options::encode_body(&body, request)?;
    Ok(Encoded {
        body,
        translation: Translation {
            renamed_tools: names.into_sent_to_caller(),
            ..Translation::default()
        },
        dropped,
    })
}

fn untranslatable(field: impl Into<String>, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET, reason)
}

fn encode_message<'a>(
    message: &'a Message,
    names: &'a ToolNames,
    out: &mut Vec<WireMessage<'a>>,
    dropped: &mut Vec<String>,
) -> Result<(), DialectError> {
    match message.role {
        Role::User => {
            // Tool results become `tool` messages, ahead of the user's other content.
            let mut rest = Vec::new();
            for part in &message.content {
                match &part.kind {
                    PartKind::ToolResult(result) => out.push(WireMessage::Tool {
                        tool_call_id: &result.call_id,
                        content: tool_result_text(&result.content, result.is_error)?,
                    }),
                    _ => rest.push(user_part(part)?),
                }
            }
            if !rest.is_empty() {
                let content = match rest.as_slice() {
                    [WirePart::Text { text }] => WireContent::Text(text),
                    _ => WireContent::Parts(rest),
                };
                out.push(WireMessage::User { content });
            }
        }
        Role::Assistant => {
            let mut texts = Vec::new();
            let mut tool_calls = Vec::new();
            for part in &message.content {
                match &part.kind {
                    PartKind::Text(text) => texts.push(WirePart::Text { text }),
                    PartKind::ToolCall(call) => tool_calls.push(WireToolCall {
                        id: &call.id,
                        r#type: "function",
                        function: WireFunctionCall {
                            name: names.sent(&call.name),
                            arguments: call.arguments.as_str(),
                        },
                    }),
                    // OpenAI takes no reasoning back; the model re-reasons from the visible turns.
                    PartKind::Reasoning(_) | PartKind::RedactedReasoning(_) => {
                        dropped.push(part.origin.clone());
                    }
                    _ => {
                        return Err(untranslatable(
                            part.origin.as_str(),
                            "assistant turns carry only text and tool calls in OpenAI",
                        ));
                    }
                }
            }
            if texts.is_empty() && tool_calls.is_empty() {
                return Ok(());
            }
            let content = match texts.as_slice() {
                [] => None,
                [WirePart::Text { text }] => Some(WireContent::Text(text)),
                _ => Some(WireContent::Parts(texts)),
            };
            out.push(WireMessage::Assistant {
                content,
                tool_calls,
            });
        }
    }
    Ok(())
}

fn user_part(part: &Part) -> Result<WirePart<'_>, DialectError> {
    Ok(match &part.kind {
        PartKind::Text(text) => WirePart::Text { text },
        PartKind::Json(json) => WirePart::Text {
            text: json.as_str(),
        },
        PartKind::Image(image) => WirePart::ImageUrl {
            image_url: ImageUrl {
                url: match &image.source {
                    ImageSource::Base64 { media_type, data } => data_url(media_type, data),
                    ImageSource::Url(url) => url.clone(),
                },
            },
        },
        PartKind::Document(document) => match &document.source {
            DocumentSource::Pdf { data } => WirePart::File {
                file: WireFile {
                    filename: document.name.as_deref(),
                    file_data: data_url("application/pdf", data),
                },
            },
            DocumentSource::Text(text) => WirePart::Text { text },
        },
        _ => {
            return Err(untranslatable(
                part.origin.as_str(),
                "user turns carry only text, images and files in OpenAI",
            ));
        }
    })
}

/// OpenAI tool results are text only.
fn tool_result_text(content: &[Part], is_error: bool) -> Result<String, DialectError> {
    let mut text = String::from(if is_error { "Error: " } else { "" });
    for part in content {
        match &part.kind {
            PartKind::Text(t) => text.push_str(t),
            PartKind::Json(json) => text.push_str(json.as_str()),
            _ => {
                return Err(untranslatable(
                    part.origin.as_str(),
                    "OpenAI tool results carry only text",
                ));
            }
        }
    }
    Ok(text)
}

fn encode_tool_choice<'a>(choice: &'a ToolChoice, names: &'a ToolNames) -> WireToolChoice<'a> {
    match choice {
        ToolChoice::Auto => WireToolChoice::Mode("auto"),
        ToolChoice::None => WireToolChoice::Mode("none"),
        ToolChoice::Required => WireToolChoice::Mode("required"),
        ToolChoice::Named(name) => WireToolChoice::Named {
            r#type: "function",
            function: NamedFunction {
                name: names.sent(name),
            },
        },
    }
}

fn encode_response_format(format: &ResponseFormat) -> WireResponseFormat<'_> {
    match format {
        ResponseFormat::JsonObject => WireResponseFormat::JsonObject,
        ResponseFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => WireResponseFormat::JsonSchema {
            json_schema: WireJsonSchema {
                name: name.as_deref().unwrap_or("response"),
                description: description.as_deref(),
                schema: schema.as_raw(),
                strict: *strict,
            },
        },
    }
}

/// Budgets become the nearest effort level; "disabled" is the default and is left out.
fn encode_reasoning(reasoning: Reasoning) -> Option<&'static str> {
    match reasoning {
        Reasoning::Disabled | Reasoning::Adaptive(None) => None,
        Reasoning::Effort(effort)
        | Reasoning::Adaptive(Some(effort))
        | Reasoning::OutputEffort(effort) => Some(effort.as_str()),
        Reasoning::Budget(tokens) => Some(crate::canonical::Effort::from_budget(tokens).as_str()),
    }
}
