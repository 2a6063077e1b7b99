//! Canonical request → Anthropic Messages body.
//!
//! Choices: consecutive same-role turns are merged and tool results lead their turn; a
//! conversation must open with a user turn (refused otherwise, rather than inventing one);
//! `max_tokens` falls back to the caller-supplied default; temperatures above 1 are refused, not
//! clamped; tool-use ids outside `^[a-zA-Z0-9_-]+$` (or over 64 characters) are rewritten the same
//! way in calls and results; a reasoning effort (OpenAI's) becomes a thinking budget (low 1024,
//! medium 2048, high 4096) that must stay below `max_tokens`, while an effort without thinking
//! (Anthropic's or Converse's own) stays `output_config.effort`; forcing a tool while thinking is
//! refused (Anthropic rejects it); reasoning without a signature (from another provider) is
//! dropped and listed, since Anthropic rejects unsigned thinking; cache breakpoints become
//! `cache_control` on their blocks (none on thinking, none inside tool results: dropped and
//! listed). Beta flags are not in the body: Anthropic's API takes them as the `anthropic-beta`
//! header, which the server sends from `Request::anthropic_betas`.

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Number;
use serde_json::value::RawValue;

use super::TARGET;
use crate::canonical::{
    CacheBreakpoint, DocumentSource, ImageSource, Part, PartKind, Reasoning, Request,
    ResponseFormat, Role, Setting, ToolChoice,
};
use crate::ids::{ANTHROPIC_ID, ANTHROPIC_TOOL_NAME, rewrite_id};
use crate::limits::within;
use crate::media::{image_format, registered_image_type};
use crate::tool_names::ToolNames;
use crate::turns::{alternating_turns, tool_turn_without_thinking};
use crate::{DialectError, EncodeOptions, Encoded, StructuredOutputMode, Translation};

/// The forced tool standing in for a JSON schema answer.
pub(crate) const JSON_TOOL: &str = "json_response";

/// Whether structured output may be asked for by forcing the answer tool (Claude, here and on
/// Bedrock): not while thinking, not over a tool choice the caller made, not over a tool of the
/// same name.
pub(crate) fn check_forced_answer_tool(
    request: &Request,
    field: &str,
    thinking_on: bool,
    target: &'static str,
) -> Result<(), DialectError> {
    let refuse = |reason: &str| Err(DialectError::untranslatable(field, target, reason));
    if thinking_on {
        return refuse("the answer tool would be forced, which Claude forbids while thinking");
    }
    if !matches!(request.tool_choice, None | Some(ToolChoice::Auto)) {
        return refuse("the answer tool must be forced, but the request already chooses tools");
    }
    if request.tools.iter().any(|t| t.name == JSON_TOOL) {
        return refuse("a tool already has the answer tool's name");
    }
    Ok(())
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<TextBlock<'a>>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<&'a Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<&'a Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<WireThinking>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutputConfig<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct TextBlock<'a> {
    r#type: &'static str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<CachedBlock<'a>>,
}

/// A content block with the cache breakpoint it may carry.
#[derive(Serialize)]
struct CachedBlock<'a> {
    #[serde(flatten)]
    block: Block<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

/// `{"type": "ephemeral", "ttl"?: "1h"}`.
#[derive(Serialize)]
struct CacheControl {
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<&'static str>,
}

fn cache_control(mark: Option<&CacheBreakpoint>) -> Option<CacheControl> {
    mark.map(|mark| CacheControl {
        r#type: "ephemeral",
        ttl: mark.one_hour.then_some("1h"),
    })
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: Source<'a>,
    },
    Document {
        source: Source<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<&'a str>,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: &'a RawValue,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        content: Vec<Block<'a>>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source<'a> {
    Base64 {
        media_type: &'a str,
        data: &'a str,
    },
    Url {
        url: &'a str,
    },
    Text {
        media_type: &'static str,
        data: &'a str,
    },
}

#[derive(Serialize)]
struct WireTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

#[derive(Serialize)]
struct WireToolChoice<'a> {
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireThinking {
    Enabled { budget_tokens: u32 },
    Adaptive,
}

#[derive(Serialize)]
struct OutputConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<WireFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effort: Option<&'static str>,
}

#[derive(Serialize)]
struct WireFormat<'a> {
    r#type: &'static str,
    schema: &'a RawValue,
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

pub(super) fn encode_request(
    request: &Request,
    options: &EncodeOptions,
) -> Result<Encoded, DialectError> {
    let origin = request.origin;
    let mut dropped = Vec::new();
    if request.candidates > 1 {
        return Err(untranslatable(
            origin.path(Setting::Candidates),
            "Anthropic returns one answer per request",
        ));
    }
    if let Some(t) = &request.temperature
        && !within(t, 0.0, 1.0)
    {
        return Err(untranslatable(
            origin.path(Setting::Temperature),
            "Anthropic takes 0 to 1",
        ));
    }
    let max_tokens = request
        .max_output_tokens
        .unwrap_or(options.default_max_tokens);
    let empty_schema = empty_object_schema();
    let names = ToolNames::for_request(request, ANTHROPIC_TOOL_NAME);

    let mut messages = Vec::new();
    for (i, turn) in alternating_turns(&request.messages).into_iter().enumerate() {
        if i == 0 && turn.role != Role::User {
            return Err(untranslatable(
                turn.origin,
                "Anthropic conversations must start with a user turn",
            ));
        }
        let mut content = Vec::with_capacity(turn.parts.len());
        for part in turn.parts {
            let Some(block) = encode_part(part, &names, &mut dropped)? else {
                continue;
            };
            let mut mark = part.cache.as_ref();
            if matches!(
                block,
                Block::Thinking { .. } | Block::RedactedThinking { .. }
            ) && let Some(thinking_mark) = mark.take()
            {
                // Anthropic takes no cache mark on thinking blocks.
                dropped.push(thinking_mark.origin.clone());
            }
            content.push(CachedBlock {
                block,
                cache_control: cache_control(mark),
            });
        }
        if content.is_empty() {
            continue;
        }
        let role = match turn.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(WireMessage { role, content });
    }

    let mut tools = Vec::with_capacity(request.tools.len() + 1);
    for tool in &request.tools {
        tools.push(WireTool {
            name: names.sent(&tool.name),
            description: tool.description.as_deref(),
            input_schema: tool
                .parameters
                .as_ref()
                .filter(|p| !p.is_empty_object())
                .map_or(empty_schema, |p| p.as_raw()),
            strict: tool.strict,
            cache_control: cache_control(tool.cache.as_ref()),
        });
    }

    let mut thinking = encode_thinking(request, max_tokens)?;
    if thinking.is_some() && tool_turn_without_thinking(&request.messages) {
        // The answer goes on without thinking rather than failing on Claude's replay rule.
        thinking = None;
        dropped.push(origin.path(Setting::Reasoning).to_owned());
    }
    let thinking_on = matches!(
        thinking,
        Some(WireThinking::Enabled { .. } | WireThinking::Adaptive)
    );
    let mut tool_choice = request.tool_choice.as_ref().map(|choice| match choice {
        ToolChoice::Auto => choice_of("auto", None),
        ToolChoice::None => choice_of("none", None),
        ToolChoice::Required => choice_of("any", None),
        ToolChoice::Named(name) => choice_of("tool", Some(names.sent(name))),
    });
    // Anthropic's `none` choice takes no parallel setting (nothing is called to run in parallel).
    if request.parallel_tool_calls == Some(false) && request.tool_choice != Some(ToolChoice::None) {
        tool_choice
            .get_or_insert_with(|| choice_of("auto", None))
            .disable_parallel_tool_use = Some(true);
    }
    if thinking_on
        && matches!(
            request.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Named(_))
        )
    {
        return Err(untranslatable(
            origin.path(Setting::ToolChoice),
            "Anthropic does not allow forcing a tool while thinking is on",
        ));
    }

    let mut translation = Translation::default();
    let mut format = None;
    match &request.response_format {
        None => {}
        Some(ResponseFormat::JsonObject) => {
            return Err(untranslatable(
                origin.path(Setting::ResponseFormat),
                "Anthropic has no JSON mode without a schema",
            ));
        }
        Some(ResponseFormat::JsonSchema {
            schema,
            description,
            strict,
            ..
        }) => match options.structured_output {
            StructuredOutputMode::Native => {
                format = Some(WireFormat {
                    r#type: "json_schema",
                    schema: schema.as_raw(),
                });
            }
            StructuredOutputMode::ForcedTool => {
                let field = origin.path(Setting::ResponseFormat);
                check_forced_answer_tool(request, field, thinking_on, TARGET)?;
                tools.push(WireTool {
                    name: JSON_TOOL,
                    description: description.as_deref(),
                    input_schema: schema.as_raw(),
                    strict: *strict,
                    cache_control: None,
                });
                let forced = choice_of("tool", Some(JSON_TOOL));
                tool_choice = Some(WireToolChoice {
                    disable_parallel_tool_use: tool_choice
                        .and_then(|c| c.disable_parallel_tool_use),
                    ..forced
                });
                translation.json_tool = Some(JSON_TOOL.to_owned());
            }
        },
    }
    let effort = match request.reasoning {
        Some(Reasoning::Adaptive(Some(effort)) | Reasoning::OutputEffort(effort)) => {
            Some(effort.as_str())
        }
        _ => None,
    };
    let output_config =
        (format.is_some() || effort.is_some()).then_some(OutputConfig { format, effort });

    let body = Body {
        model: &options.model,
        max_tokens,
        system: request
            .system
            .iter()
            .filter(|p| !p.text.is_empty())
            .map(|p| TextBlock {
                r#type: "text",
                text: &p.text,
                cache_control: cache_control(p.cache.as_ref()),
            })
            .collect(),
        messages,
        tools,
        tool_choice,
        temperature: request.temperature.as_ref(),
        top_p: request.top_p.as_ref(),
        top_k: request.top_k,
        stop_sequences: &request.stop,
        thinking,
        output_config,
        metadata: request.user.as_deref().map(|user_id| Metadata { user_id }),
        stream: request.stream,
    };
    let body = crate::options::encode_body(&body, request)?;
    translation.renamed_tools = names.into_sent_to_caller();
    Ok(Encoded {
        body,
        translation,
        dropped,
    })
}

fn untranslatable(field: impl Into<String>, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET, reason)
}

fn choice_of<'a>(kind: &'static str, name: Option<&'a str>) -> WireToolChoice<'a> {
    WireToolChoice {
        r#type: kind,
        name,
        disable_parallel_tool_use: None,
    }
}

/// `{"type":"object","properties":{}}`, the schema of a tool declared without one; parsed once.
#[expect(clippy::expect_used, reason = "a constant, valid JSON literal")]
fn empty_object_schema() -> &'static RawValue {
    static SCHEMA: LazyLock<Box<RawValue>> = LazyLock::new(|| {
        RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned())
            .expect("valid JSON")
    });
    &SCHEMA
}

fn encode_thinking(
    request: &Request,
    max_tokens: u32,
) -> Result<Option<WireThinking>, DialectError> {
    let field = request.origin.path(Setting::Reasoning);
    let budget = match request.reasoning {
        None | Some(Reasoning::Disabled | Reasoning::OutputEffort(_)) => return Ok(None),
        Some(Reasoning::Adaptive(_)) => return Ok(Some(WireThinking::Adaptive)),
        Some(Reasoning::Effort(effort)) => effort.budget_tokens(),
        Some(Reasoning::Budget(budget)) if budget < 1024 => {
            return Err(untranslatable(
                field,
                "Anthropic needs a thinking budget of at least 1024 tokens",
            ));
        }
        Some(Reasoning::Budget(budget)) => budget,
    };
    if budget >= max_tokens {
        return Err(untranslatable(
            field,
            &format!("the thinking budget ({budget}) must be below max_tokens ({max_tokens})"),
        ));
    }
    Ok(Some(WireThinking::Enabled {
        budget_tokens: budget,
    }))
}

fn encode_part<'a>(
    part: &'a Part,
    names: &'a ToolNames,
    dropped: &mut Vec<String>,
) -> Result<Option<Block<'a>>, DialectError> {
    Ok(Some(match &part.kind {
        PartKind::Text(text) => Block::Text { text },
        PartKind::Json(json) => Block::Text {
            text: json.as_str(),
        },
        PartKind::Image(image) => Block::Image {
            source: match &image.source {
                ImageSource::Base64 { media_type, data } => {
                    if image_format(media_type).is_none() {
                        return Err(untranslatable(
                            part.origin.as_str(),
                            &format!(
                                "Anthropic takes png, jpeg, gif or webp images, not {media_type}"
                            ),
                        ));
                    }
                    Source::Base64 {
                        media_type: registered_image_type(media_type),
                        data,
                    }
                }
                ImageSource::Url(url) => Source::Url { url },
            },
        },
        PartKind::Document(document) => Block::Document {
            source: match &document.source {
                DocumentSource::Pdf { data } => Source::Base64 {
                    media_type: "application/pdf",
                    data,
                },
                DocumentSource::Text(text) => Source::Text {
                    media_type: "text/plain",
                    data: text,
                },
            },
            title: document.name.as_deref(),
        },
        PartKind::ToolCall(call) => Block::ToolUse {
            id: rewrite_id(&call.id, ANTHROPIC_ID),
            name: names.sent(&call.name),
            input: if call.arguments.is_object() {
                call.arguments.as_raw()
            } else {
                return Err(untranslatable(
                    part.origin.as_str(),
                    "Anthropic tool input must be a JSON object",
                ));
            },
        },
        PartKind::ToolResult(result) => {
            let mut content = Vec::with_capacity(result.content.len());
            for inner in &result.content {
                if let Some(mark) = &inner.cache {
                    dropped.push(mark.origin.clone());
                }
                match &inner.kind {
                    PartKind::Text(_)
                    | PartKind::Json(_)
                    | PartKind::Image(_)
                    | PartKind::Document(_) => {
                        content.extend(encode_part(inner, names, dropped)?);
                    }
                    _ => {
                        return Err(untranslatable(
                            inner.origin.as_str(),
                            "not allowed in a tool result",
                        ));
                    }
                }
            }
            Block::ToolResult {
                tool_use_id: rewrite_id(&result.call_id, ANTHROPIC_ID),
                content,
                is_error: result.is_error,
            }
        }
        PartKind::Reasoning(reasoning) => match &reasoning.signature {
            Some(signature) => Block::Thinking {
                thinking: &reasoning.text,
                signature,
            },
            None => {
                dropped.push(part.origin.clone());
                return Ok(None);
            }
        },
        PartKind::RedactedReasoning(data) => Block::RedactedThinking { data },
    }))
}
