//! OpenAI Chat Completions answers: the upstream body → canonical, canonical → the caller's body,
//! and the usage object both ways.
//!
//! OpenAI counts cache reads and writes inside `prompt_tokens` and reasoning inside
//! `completion_tokens`; the canonical buckets are disjoint, so reading subtracts and writing adds.
//! Reasoning blocks have no place in a chat completion and are left out of the caller's answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{FinishReason, OutputBlock, RawJson, Response, ToolCall, Usage};
use crate::{DialectError, ResponseMeta, Translation};

#[derive(Deserialize)]
struct WireResponse {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    refusal: Option<String>,
    /// Vendor fields used by compatible servers for visible reasoning.
    reasoning_content: Option<String>,
    #[serde(default, deserialize_with = "super::vendor_text")]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    /// A JSON string per the spec; some compatible servers send an object.
    arguments: Value,
}

#[derive(Deserialize, Serialize, Default)]
pub(crate) struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize, Serialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    cache_write_tokens: u64,
}

#[derive(Deserialize, Serialize, Default)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl WireUsage {
    pub(crate) fn to_canonical(&self) -> Usage {
        let prompt = self.prompt_tokens_details.as_ref();
        let read = prompt.map_or(0, |d| d.cached_tokens);
        let write = prompt.map_or(0, |d| d.cache_write_tokens);
        let reasoning = self
            .completion_tokens_details
            .as_ref()
            .map_or(0, |d| d.reasoning_tokens);
        Usage {
            input_uncached: self.prompt_tokens.saturating_sub(read + write),
            input_cache_read: read,
            input_cache_write: write,
            output: self.completion_tokens.saturating_sub(reasoning),
            reasoning,
        }
    }

    pub(crate) fn from_canonical(usage: &Usage) -> Self {
        Self {
            prompt_tokens: usage.input_total(),
            completion_tokens: usage.output_total(),
            total_tokens: usage.total(),
            prompt_tokens_details: Some(PromptDetails {
                cached_tokens: usage.input_cache_read,
                cache_write_tokens: usage.input_cache_write,
            }),
            completion_tokens_details: Some(CompletionDetails {
                reasoning_tokens: usage.reasoning,
            }),
        }
    }
}

pub(super) fn decode_response(
    body: &[u8],
    translation: &Translation,
) -> Result<Response, DialectError> {
    let wire: WireResponse =
        serde_json::from_slice(body).map_err(|e| DialectError::upstream(e.to_string()))?;
    // The gateway never asks for more than one choice.
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| DialectError::upstream("the answer has no choices"))?;
    let mut content = Vec::new();
    let reasoning = choice
        .message
        .reasoning_content
        .or(choice.message.reasoning);
    if let Some(reasoning) = reasoning.filter(|r| !r.is_empty()) {
        content.push(OutputBlock::Reasoning(crate::canonical::ReasoningBlock {
            text: reasoning,
            signature: None,
        }));
    }
    if let Some(text) = choice.message.content.filter(|t| !t.is_empty()) {
        content.push(OutputBlock::Text(text));
    }
    if let Some(refusal) = choice.message.refusal {
        content.push(OutputBlock::Text(refusal));
    }
    for call in choice.message.tool_calls {
        let mut name = call.function.name;
        translation.restore_tool_name(&mut name);
        content.push(OutputBlock::ToolCall(ToolCall {
            id: call.id,
            name,
            arguments: arguments(&call.function.arguments)?,
        }));
    }
    Ok(Response {
        upstream_id: wire.id,
        upstream_model: wire.model,
        content,
        finish_reason: finish_reason(choice.finish_reason.as_deref()),
        stop_sequence: None,
        usage: wire.usage.as_ref().map(WireUsage::to_canonical),
    })
}

fn arguments(value: &Value) -> Result<RawJson, DialectError> {
    let parsed = match value {
        Value::String(text) if text.trim().is_empty() => Some(RawJson::empty_object()),
        Value::String(text) => RawJson::parse(text),
        Value::Null => Some(RawJson::empty_object()),
        other => RawJson::parse(&other.to_string()),
    };
    parsed.ok_or_else(|| DialectError::upstream("tool call arguments are not valid JSON"))
}

/// Unknown and missing reasons (`eos`, ...) from compatible servers mean a normal stop.
pub(crate) fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("length") => FinishReason::MaxTokens,
        Some("tool_calls" | "function_call" | "tool_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        _ => FinishReason::EndTurn,
    }
}

pub(crate) fn finish_reason_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::EndTurn | FinishReason::StopSequence => "stop",
        FinishReason::MaxTokens | FinishReason::ContextWindowExceeded => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [OutChoice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<WireUsage>,
}

#[derive(Serialize)]
struct OutChoice<'a> {
    index: u32,
    message: OutMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
}

#[derive(Serialize)]
struct OutToolCall<'a> {
    id: &'a str,
    r#type: &'static str,
    function: OutFunction<'a>,
}

#[derive(Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

pub(super) fn encode_response(
    response: &Response,
    meta: &ResponseMeta,
) -> Result<Vec<u8>, DialectError> {
    let mut text: Option<String> = None;
    let mut tool_calls = Vec::new();
    for block in &response.content {
        match block {
            OutputBlock::Text(t) => text.get_or_insert_with(String::new).push_str(t),
            OutputBlock::ToolCall(call) => tool_calls.push(OutToolCall {
                id: &call.id,
                r#type: "function",
                function: OutFunction {
                    name: &call.name,
                    arguments: call.arguments.as_str(),
                },
            }),
            OutputBlock::Reasoning(_) | OutputBlock::RedactedReasoning(_) => {}
        }
    }
    let out = OutResponse {
        id: &meta.id,
        object: "chat.completion",
        created: meta.created,
        model: &meta.model,
        choices: [OutChoice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                content: text,
                refusal: None,
                tool_calls,
            },
            logprobs: None,
            finish_reason: finish_reason_name(response.finish_reason),
        }],
        usage: response.usage.as_ref().map(WireUsage::from_canonical),
    };
    serde_json::to_vec(&out).map_err(|e| DialectError::upstream(e.to_string()))
}
