//! The pieces of a Response object shared by whole and streamed answers: ids, output items,
//! status, usage, and the object itself.
//!
//! Ids: the response id is the gateway's id with a `resp_` prefix (kept when already there);
//! item ids add a type prefix (`msg_`, `fc_`, `rs_`) and the item's output index to the same
//! base, so they are unique and stable for one answer without any state.

use serde_json::{Map, Value, json};

use super::echo::RequestEcho;
use crate::ResponseMeta;
use crate::canonical::{FinishReason, Usage};

pub(super) fn response_id(meta: &ResponseMeta) -> String {
    format!("resp_{}", base_id(meta))
}

pub(super) fn item_id(meta: &ResponseMeta, prefix: &str, output_index: usize) -> String {
    format!("{prefix}_{}_{output_index}", base_id(meta))
}

fn base_id(meta: &ResponseMeta) -> &str {
    meta.id.strip_prefix("resp_").unwrap_or(&meta.id)
}

/// Where an answer stands, as the Response `status` and its details.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Status {
    InProgress,
    Completed,
    /// `incomplete_details.reason`: `max_output_tokens` or `content_filter`.
    Incomplete(&'static str),
    /// The `error` object of a failed response.
    Failed(Value),
}

impl Status {
    /// No finish reason exists in Responses: cut answers are `incomplete` with a reason, tool
    /// calls are told by the `function_call` items.
    pub(super) fn of_finish(reason: FinishReason) -> Self {
        match reason {
            FinishReason::MaxTokens | FinishReason::ContextWindowExceeded => {
                Self::Incomplete("max_output_tokens")
            }
            FinishReason::ContentFilter => Self::Incomplete("content_filter"),
            FinishReason::EndTurn | FinishReason::StopSequence | FinishReason::ToolCalls => {
                Self::Completed
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Incomplete(_) => "incomplete",
            Self::Failed(_) => "failed",
        }
    }
}

/// The whole Response object.
pub(super) fn response_object(
    meta: &ResponseMeta,
    echo: &RequestEcho,
    status: &Status,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    let mut object = Map::new();
    let fields = [
        ("id", json!(response_id(meta))),
        ("object", json!("response")),
        ("created_at", json!(meta.created)),
        ("status", json!(status.name())),
        ("model", json!(meta.model)),
        ("output", Value::Array(output)),
        ("usage", usage.map_or(Value::Null, usage_object)),
        (
            "incomplete_details",
            match status {
                Status::Incomplete(reason) => json!({ "reason": reason }),
                _ => Value::Null,
            },
        ),
        (
            "error",
            match status {
                Status::Failed(error) => error.clone(),
                _ => Value::Null,
            },
        ),
    ];
    for (name, value) in fields {
        object.insert(name.to_owned(), value);
    }
    echo.write_into(&mut object);
    Value::Object(object)
}

/// Responses counts cache reads inside `input_tokens` and reasoning inside `output_tokens`; the
/// canonical buckets are disjoint, so this adds them up.
pub(super) fn usage_object(usage: &Usage) -> Value {
    let mut input_details = json!({ "cached_tokens": usage.input_cache_read });
    if usage.input_cache_write > 0 {
        input_details["cache_write_tokens"] = json!(usage.input_cache_write);
    }
    json!({
        "input_tokens": usage.input_total(),
        "input_tokens_details": input_details,
        "output_tokens": usage.output_total(),
        "output_tokens_details": { "reasoning_tokens": usage.reasoning },
        "total_tokens": usage.total(),
    })
}

pub(super) fn text_part(text: &str) -> Value {
    json!({ "type": "output_text", "text": text, "annotations": [], "logprobs": [] })
}

pub(super) fn message_item(id: &str, parts: Vec<Value>, status: &str) -> Value {
    json!({ "type": "message", "id": id, "role": "assistant", "status": status, "content": parts })
}

pub(super) fn function_call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status,
    })
}

pub(super) fn summary_part(text: &str) -> Value {
    json!({ "type": "summary_text", "text": text })
}

pub(super) fn reasoning_item(id: &str, summary: Vec<Value>) -> Value {
    json!({ "type": "reasoning", "id": id, "summary": summary })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> ResponseMeta {
        ResponseMeta {
            id: id.to_owned(),
            model: "m".to_owned(),
            created: 0,
        }
    }

    #[test]
    fn ids_share_one_base_and_keep_an_existing_prefix() {
        assert_eq!(response_id(&meta("gw-1")), "resp_gw-1");
        assert_eq!(response_id(&meta("resp_abc")), "resp_abc");
        assert_eq!(item_id(&meta("resp_abc"), "fc", 2), "fc_abc_2");
    }
}
