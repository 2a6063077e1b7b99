//! Gemini answers (`GenerateContentResponse`, whole or one stream chunk) → canonical.
//!
//! A turn that ends in function calls reports `STOP`, so "tool calls" is told from the parts.
//! Calls without an id (older models) get a stable synthesized one. Usage: `promptTokenCount`
//! includes cached content, `candidatesTokenCount` excludes thoughts, `toolUsePromptTokenCount`
//! is input too.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::canonical::{
    FinishReason, OutputBlock, RawJson, ReasoningBlock, Response, ToolCall, Usage,
};
use crate::ids::{synthesize_call_id, with_thought_signature};
use crate::{DialectError, Translation};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Chunk {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    pub prompt_feedback: Option<PromptFeedback>,
    pub usage_metadata: Option<UsageMetadata>,
    pub model_version: Option<String>,
    pub response_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    pub content: Option<Content>,
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Content {
    #[serde(default)]
    pub parts: Vec<WirePart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WirePart {
    pub text: Option<String>,
    #[serde(default)]
    pub thought: bool,
    pub function_call: Option<FunctionCall>,
    /// Gemini 3 signs its function calls (the first of parallel ones) and wants the signature
    /// back on the replayed call.
    pub thought_signature: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct FunctionCall {
    pub id: Option<String>,
    pub name: Option<String>,
    pub args: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    pub block_reason: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl UsageMetadata {
    pub(crate) fn to_canonical(self) -> Usage {
        Usage {
            input_uncached: self
                .prompt_token_count
                .saturating_sub(self.cached_content_token_count)
                + self.tool_use_prompt_token_count,
            input_cache_read: self.cached_content_token_count,
            input_cache_write: 0,
            output: self.candidates_token_count,
            reasoning: self.thoughts_token_count,
        }
    }
}

/// Gemini's finish reason, given whether the answer called functions. Failures are errors.
pub(crate) fn finish_reason(reason: &str, called_functions: bool) -> Result<FinishReason, String> {
    Ok(match reason {
        "STOP" | "FINISH_REASON_UNSPECIFIED" | "OTHER" | "LANGUAGE" if called_functions => {
            FinishReason::ToolCalls
        }
        "STOP" | "FINISH_REASON_UNSPECIFIED" | "OTHER" | "LANGUAGE" => FinishReason::EndTurn,
        "MAX_TOKENS" => FinishReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER"
        | "NO_IMAGE" => FinishReason::ContentFilter,
        other => return Err(format!("the model failed: {other}")),
    })
}

/// The function call of a part as a canonical call, its thought signature (if any) carried in
/// its id; `position` counts calls in the answer.
impl FunctionCall {
    /// A part with `args` but no `name` carries more of the call before it (E21).
    pub(crate) fn continues_previous(&self) -> bool {
        self.name.as_deref().is_none_or(str::is_empty)
    }
}

/// The arguments of a call and those of a nameless part that continues it, as one object: the
/// later part's keys are added, and win.
pub(crate) fn merge_arguments(
    arguments: &RawJson,
    more: Option<&RawValue>,
) -> Result<RawJson, String> {
    let Some(more) = more else {
        return Ok(arguments.clone());
    };
    let object = |raw: &str| serde_json::from_str::<Map<String, Value>>(raw).ok();
    let (first, then) = (arguments.as_str(), more.get());
    let (Some(mut merged), Some(added)) = (object(first), object(then)) else {
        return Err("a function call continued with arguments that are not an object".to_owned());
    };
    let text = if added.is_empty() {
        return Ok(arguments.clone());
    } else if merged.is_empty() {
        then.to_owned()
    } else if added.keys().all(|key| !merged.contains_key(key)) {
        // Spliced as text, so the keys keep the order the model wrote them in.
        let head = first.trim_end().strip_suffix('}').unwrap_or(first);
        let tail = then.trim_start().strip_prefix('{').unwrap_or(then);
        format!("{head},{tail}")
    } else {
        merged.extend(added);
        serde_json::to_string(&merged).map_err(|e| e.to_string())?
    };
    RawJson::parse(&text).ok_or_else(|| "merged arguments are not JSON".to_owned())
}

pub(crate) fn tool_call(
    call: FunctionCall,
    signature: Option<&str>,
    answer_id: &str,
    position: usize,
    translation: &Translation,
) -> Result<ToolCall, String> {
    let mut name = call
        .name
        .filter(|n| !n.is_empty())
        .ok_or("a function call without a name")?;
    let id = call
        .id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| synthesize_call_id(answer_id, position, &name));
    let id = match signature.filter(|s| !s.is_empty()) {
        Some(signature) => with_thought_signature(&id, signature),
        None => id,
    };
    // Ids are made from the name sent, which is what the upstream saw.
    translation.restore_tool_name(&mut name);
    let arguments = call
        .args
        .map_or_else(RawJson::empty_object, RawJson::from_raw);
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

pub(super) fn decode_response(
    body: &[u8],
    translation: &Translation,
) -> Result<Response, DialectError> {
    let chunk: Chunk =
        serde_json::from_slice(body).map_err(|e| DialectError::upstream(e.to_string()))?;
    let usage = chunk.usage_metadata.map(UsageMetadata::to_canonical);
    let answer_id = chunk.response_id.clone().unwrap_or_default();
    let Some(candidate) = chunk.candidates.into_iter().next() else {
        // A blocked prompt has no candidates.
        return match chunk.prompt_feedback.and_then(|f| f.block_reason) {
            Some(_) => Ok(Response {
                upstream_id: chunk.response_id,
                upstream_model: chunk.model_version,
                content: Vec::new(),
                finish_reason: FinishReason::ContentFilter,
                stop_sequence: None,
                usage,
            }),
            None => Err(DialectError::upstream("the answer has no candidates")),
        };
    };
    let mut content = Vec::new();
    let mut calls = 0;
    for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
        if let Some(call) = part.function_call {
            if call.continues_previous()
                && let Some(OutputBlock::ToolCall(previous)) = content.last_mut()
            {
                previous.arguments = merge_arguments(&previous.arguments, call.args.as_deref())
                    .map_err(DialectError::upstream)?;
                continue;
            }
            let signature = part.thought_signature.as_deref();
            content.push(OutputBlock::ToolCall(
                tool_call(call, signature, &answer_id, calls, translation)
                    .map_err(DialectError::upstream)?,
            ));
            calls += 1;
        } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
            content.push(if part.thought {
                OutputBlock::Reasoning(ReasoningBlock {
                    text,
                    signature: None,
                })
            } else {
                OutputBlock::Text(text)
            });
        }
    }
    let reason = candidate.finish_reason.as_deref().unwrap_or("STOP");
    Ok(Response {
        upstream_id: chunk.response_id,
        upstream_model: chunk.model_version,
        content,
        finish_reason: finish_reason(reason, calls > 0).map_err(DialectError::upstream)?,
        stop_sequence: None,
        usage,
    })
}
