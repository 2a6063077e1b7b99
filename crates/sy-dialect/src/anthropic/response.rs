//! Anthropic Messages answers: upstream body → canonical, canonical → the caller's body, and the
//! stop-reason and usage vocabularies both ways.
//!
//! Anthropic's `input_tokens` excludes cache reads and writes (the canonical buckets already);
//! `output_tokens` includes thinking, counted apart only in `output_tokens_details.thinking_tokens`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::canonical::{
    FinishReason, OutputBlock, RawJson, ReasoningBlock, Response, ToolCall, Usage,
};
use crate::ids::{ANTHROPIC_CALLER_ID, rewrite_id};
use crate::{DialectError, ResponseMeta, Translation};

#[derive(Deserialize)]
struct WireResponse {
    id: Option<String>,
    model: Option<String>,
    content: Vec<Box<RawValue>>,
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    usage: Option<WireUsage>,
}

/// Read apart from [`WireBlock`]: raw JSON cannot pass through serde's tagged-enum buffering.
#[derive(Deserialize)]
struct ToolUse {
    id: String,
    name: String,
    input: Box<RawValue>,
}

#[derive(Deserialize)]
struct Tagged {
    r#type: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    /// Server-tool blocks; the gateway sends no server tools, so none are expected.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize, Serialize, Default, Clone, Copy)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default, skip_serializing)]
    pub output_tokens_details: Option<OutputDetails>,
}

#[derive(Debug, Deserialize, Default, Clone, Copy)]
pub(crate) struct OutputDetails {
    #[serde(default)]
    thinking_tokens: u64,
}

impl WireUsage {
    pub(crate) fn to_canonical(self) -> Usage {
        let reasoning = self.output_tokens_details.map_or(0, |d| d.thinking_tokens);
        Usage {
            input_uncached: self.input_tokens,
            input_cache_read: self.cache_read_input_tokens,
            input_cache_write: self.cache_creation_input_tokens,
            output: self.output_tokens.saturating_sub(reasoning),
            reasoning,
        }
    }

    pub(crate) fn from_canonical(usage: &Usage) -> Self {
        Self {
            input_tokens: usage.input_uncached,
            cache_creation_input_tokens: usage.input_cache_write,
            cache_read_input_tokens: usage.input_cache_read,
            output_tokens: usage.output_total(),
            output_tokens_details: None,
        }
    }
}

pub(crate) fn finish_reason(reason: &str) -> Result<FinishReason, DialectError> {
    Ok(match reason {
        "end_turn" | "pause_turn" => FinishReason::EndTurn,
        "stop_sequence" => FinishReason::StopSequence,
        "max_tokens" => FinishReason::MaxTokens,
        "model_context_window_exceeded" => FinishReason::ContextWindowExceeded,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => {
            return Err(DialectError::upstream(format!(
                "unknown stop_reason `{other}`"
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
        FinishReason::ContentFilter => "refusal",
    }
}

/// A forced answer tool ends its turn normally: the caller asked for an answer, not a tool call.
pub(crate) fn unforce(
    reason: FinishReason,
    answered_by_tool: bool,
    real_calls: bool,
) -> FinishReason {
    if reason == FinishReason::ToolCalls && answered_by_tool && !real_calls {
        FinishReason::EndTurn
    } else {
        reason
    }
}

pub(super) fn decode_response(
    body: &[u8],
    translation: &Translation,
) -> Result<Response, DialectError> {
    let wire: WireResponse =
        serde_json::from_slice(body).map_err(|e| DialectError::upstream(e.to_string()))?;
    let json_tool = translation.json_tool.as_deref();
    let mut content = Vec::with_capacity(wire.content.len());
    let (mut answered_by_tool, mut real_calls) = (false, false);
    let unreadable = |e: serde_json::Error| DialectError::upstream(e.to_string());
    for raw in wire.content {
        let tagged: Tagged = serde_json::from_str(raw.get()).map_err(unreadable)?;
        if tagged.r#type == "tool_use" {
            let call: ToolUse = serde_json::from_str(raw.get()).map_err(unreadable)?;
            if Some(call.name.as_str()) == json_tool {
                answered_by_tool = true;
                content.push(OutputBlock::Text(call.input.get().to_owned()));
            } else {
                real_calls = true;
                let mut name = call.name;
                translation.restore_tool_name(&mut name);
                content.push(OutputBlock::ToolCall(ToolCall {
                    id: call.id,
                    name,
                    arguments: RawJson::from_raw(call.input),
                }));
            }
            continue;
        }
        let block: WireBlock = serde_json::from_str(raw.get()).map_err(unreadable)?;
        content.push(match block {
            WireBlock::Text { text } => OutputBlock::Text(text),
            WireBlock::Thinking {
                thinking,
                signature,
            } => OutputBlock::Reasoning(ReasoningBlock {
                text: thinking,
                signature,
            }),
            WireBlock::RedactedThinking { data } => OutputBlock::RedactedReasoning(data),
            WireBlock::Other => continue,
        });
    }
    let reason = finish_reason(wire.stop_reason.as_deref().unwrap_or("end_turn"))?;
    Ok(Response {
        upstream_id: wire.id,
        upstream_model: wire.model,
        content,
        finish_reason: unforce(reason, answered_by_tool, real_calls),
        stop_sequence: wire.stop_sequence,
        usage: wire.usage.map(WireUsage::to_canonical),
    })
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: &'a str,
    r#type: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
    usage: WireUsage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutBlock<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: &'a RawValue,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

pub(super) fn encode_response(
    response: &Response,
    meta: &ResponseMeta,
) -> Result<Vec<u8>, DialectError> {
    let content = response
        .content
        .iter()
        .map(|block| match block {
            OutputBlock::Text(text) => OutBlock::Text { text },
            OutputBlock::ToolCall(call) => OutBlock::ToolUse {
                id: rewrite_id(&call.id, ANTHROPIC_CALLER_ID),
                name: &call.name,
                input: call.arguments.as_raw(),
            },
            // Unsigned reasoning (other providers) is shown with an empty signature, which the
            // request decoder reads back as none.
            OutputBlock::Reasoning(r) => OutBlock::Thinking {
                thinking: &r.text,
                signature: r.signature.as_deref().unwrap_or(""),
            },
            OutputBlock::RedactedReasoning(data) => OutBlock::RedactedThinking { data },
        })
        .collect();
    let out = OutResponse {
        id: &meta.id,
        r#type: "message",
        role: "assistant",
        model: &meta.model,
        content,
        stop_reason: stop_reason_name(response.finish_reason),
        stop_sequence: response.stop_sequence.as_deref(),
        usage: WireUsage::from_canonical(&response.usage.unwrap_or_default()),
    };
    serde_json::to_vec(&out).map_err(|e| DialectError::upstream(e.to_string()))
}
