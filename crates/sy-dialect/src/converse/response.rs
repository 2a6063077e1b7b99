//! Bedrock Converse answers: upstream body → canonical, canonical → the caller's body, and the
//! stop-reason and usage vocabularies both ways.
//!
//! Converse's `inputTokens` excludes cache reads and writes (already the canonical buckets) and
//! `outputTokens` includes any reasoning, which Converse does not count apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::anthropic::unforce;
use crate::canonical::{
    FinishReason, OutputBlock, RawJson, ReasoningBlock, Response, ToolCall, Usage,
};
use crate::ids::{CONVERSE_ID, rewrite_id};
use crate::{DialectError, Translation};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    output: Output,
    stop_reason: String,
    usage: Option<WireUsage>,
    additional_model_response_fields: Option<Value>,
}

#[derive(Deserialize)]
struct Output {
    message: WireMessage,
}

#[derive(Deserialize)]
struct WireMessage {
    /// Union members, each an object with one member; unknown members (citations, images from
    /// newer models) are tolerated and skipped.
    content: Vec<BTreeMap<String, Box<RawValue>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireToolUse {
    tool_use_id: String,
    name: String,
    input: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum WireReasoning {
    ReasoningText {
        text: String,
        signature: Option<String>,
    },
    RedactedContent(String),
}

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    cache_read_input_tokens: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    cache_write_input_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl WireUsage {
    pub(crate) fn to_canonical(self) -> Usage {
        Usage {
            input_uncached: self.input_tokens,
            input_cache_read: self.cache_read_input_tokens,
            input_cache_write: self.cache_write_input_tokens,
            output: self.output_tokens,
            reasoning: 0,
        }
    }

    pub(crate) fn from_canonical(usage: &Usage) -> Self {
        Self {
            input_tokens: usage.input_uncached,
            output_tokens: usage.output_total(),
            total_tokens: usage.total(),
            cache_read_input_tokens: usage.input_cache_read,
            cache_write_input_tokens: usage.input_cache_write,
        }
    }
}

/// Model failures (malformed output or tool use) are errors, not finish reasons.
pub(crate) fn finish_reason(reason: &str) -> Result<FinishReason, DialectError> {
    Ok(match reason {
        "end_turn" => FinishReason::EndTurn,
        "stop_sequence" => FinishReason::StopSequence,
        "max_tokens" => FinishReason::MaxTokens,
        "model_context_window_exceeded" => FinishReason::ContextWindowExceeded,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        "malformed_model_output" | "malformed_tool_use" => {
            return Err(DialectError::upstream(format!(
                "the model failed: {reason}"
            )));
        }
        other => {
            return Err(DialectError::upstream(format!(
                "unknown stopReason `{other}`"
            )));
        }
    })
}

pub(crate) fn stop_reason_name(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::EndTurn => "end_turn",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::MaxTokens => "max_tokens",
        FinishReason::ContextWindowExceeded => "model_context_window_exceeded",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "content_filtered",
    }
}

pub(super) fn decode_response(
    body: &[u8],
    translation: &Translation,
) -> Result<Response, DialectError> {
    let wire: WireResponse =
        serde_json::from_slice(body).map_err(|e| DialectError::upstream(e.to_string()))?;
    let json_tool = translation.json_tool.as_deref();
    let (mut answered_by_tool, mut real_calls) = (false, false);
    let mut content = Vec::new();
    let unreadable = |e: serde_json::Error| DialectError::upstream(e.to_string());
    for block in wire.output.message.content {
        for (member, value) in block {
            content.push(match member.as_str() {
                "text" => OutputBlock::Text(serde_json::from_str(value.get()).map_err(unreadable)?),
                "toolUse" => {
                    let call: WireToolUse =
                        serde_json::from_str(value.get()).map_err(unreadable)?;
                    if Some(call.name.as_str()) == json_tool {
                        answered_by_tool = true;
                        OutputBlock::Text(call.input.get().to_owned())
                    } else {
                        real_calls = true;
                        let mut name = call.name;
                        translation.restore_tool_name(&mut name);
                        OutputBlock::ToolCall(ToolCall {
                            id: call.tool_use_id,
                            name,
                            arguments: RawJson::from_raw(call.input),
                        })
                    }
                }
                "reasoningContent" => {
                    match serde_json::from_str(value.get()).map_err(unreadable)? {
                        WireReasoning::ReasoningText { text, signature } => {
                            OutputBlock::Reasoning(ReasoningBlock { text, signature })
                        }
                        WireReasoning::RedactedContent(data) => {
                            OutputBlock::RedactedReasoning(data)
                        }
                    }
                }
                _ => continue,
            });
        }
    }
    let reason = unforce(
        finish_reason(&wire.stop_reason)?,
        answered_by_tool,
        real_calls,
    );
    // Claude on Bedrock reports the matched sequence when asked for `/stop_sequence`.
    let stop_sequence = wire
        .additional_model_response_fields
        .as_ref()
        .and_then(|f| f.get("stop_sequence"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Response {
        upstream_id: None,
        upstream_model: None,
        content,
        finish_reason: reason,
        stop_sequence,
        usage: wire.usage.map(WireUsage::to_canonical),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutResponse<'a> {
    output: OutOutput<'a>,
    stop_reason: &'static str,
    usage: WireUsage,
    metrics: Metrics,
}

#[derive(Serialize)]
struct OutOutput<'a> {
    message: OutMessage<'a>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum OutBlock<'a> {
    Text(&'a str),
    ToolUse(OutToolUse<'a>),
    ReasoningContent(OutReasoning<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutToolUse<'a> {
    tool_use_id: String,
    name: &'a str,
    input: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum OutReasoning<'a> {
    ReasoningText {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<&'a str>,
    },
    RedactedContent(&'a str),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metrics {
    pub latency_ms: u64,
}

/// `latency_ms`: the time the gateway took, reported in Converse's required `metrics`.
pub(super) fn encode_response(
    response: &Response,
    latency_ms: u64,
) -> Result<Vec<u8>, DialectError> {
    let content = response
        .content
        .iter()
        .map(|block| match block {
            OutputBlock::Text(text) => OutBlock::Text(text),
            OutputBlock::ToolCall(call) => OutBlock::ToolUse(OutToolUse {
                tool_use_id: rewrite_id(&call.id, CONVERSE_ID),
                name: &call.name,
                input: call.arguments.as_raw(),
            }),
            OutputBlock::Reasoning(r) => OutBlock::ReasoningContent(OutReasoning::ReasoningText {
                text: &r.text,
                signature: r.signature.as_deref(),
            }),
            OutputBlock::RedactedReasoning(data) => {
                OutBlock::ReasoningContent(OutReasoning::RedactedContent(data))
            }
        })
        .collect();
    let out = OutResponse {
        output: OutOutput {
            message: OutMessage {
                role: "assistant",
                content,
            },
        },
        stop_reason: stop_reason_name(response.finish_reason),
        usage: WireUsage::from_canonical(&response.usage.unwrap_or_default()),
        metrics: Metrics { latency_ms },
    };
    serde_json::to_vec(&out).map_err(|e| DialectError::upstream(e.to_string()))
}
