//! Canonical answer → the caller's Response object.
//!
//! Consecutive text blocks form one `message` item with one `output_text` part (a stream cannot
//! tell text blocks apart, and both forms must agree); each tool call is a `function_call` item
//! whose `call_id` is the upstream's call id. Reasoning text becomes a `reasoning` item with one
//! summary part only when the caller asked for summaries; signatures and redacted reasoning have
//! no readable form here and are left out. In an incomplete answer the last item is marked
//! `incomplete`, as OpenAI marks the item that was cut.

use serde_json::Value;

use super::echo::RequestEcho;
use super::object::{
    Status, function_call_item, item_id, message_item, reasoning_item, response_object,
    summary_part, text_part,
};
use crate::canonical::{OutputBlock, Response};
use crate::{DialectError, ResponseMeta};

/// One output item before ids and statuses are given.
enum Item<'a> {
    Message(String),
    FunctionCall(&'a crate::canonical::ToolCall),
    Reasoning(&'a str),
}

pub(super) fn encode_response(
    response: &Response,
    meta: &ResponseMeta,
    echo: &RequestEcho,
) -> Result<Vec<u8>, DialectError> {
    let mut items: Vec<Item<'_>> = Vec::new();
    for block in &response.content {
        match block {
            OutputBlock::Text(text) => match items.last_mut() {
                Some(Item::Message(joined)) => joined.push_str(text),
                _ => items.push(Item::Message(text.clone())),
            },
            OutputBlock::ToolCall(call) => items.push(Item::FunctionCall(call)),
            OutputBlock::Reasoning(reasoning) if echo.summaries => {
                items.push(Item::Reasoning(&reasoning.text));
            }
            OutputBlock::Reasoning(_) | OutputBlock::RedactedReasoning(_) => {}
        }
    }
    let status = Status::of_finish(response.finish_reason);
    let last = items.len().saturating_sub(1);
    let output: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let state = match status {
                Status::Incomplete(_) if index == last => "incomplete",
                _ => "completed",
            };
            match item {
                Item::Message(text) => {
                    message_item(&item_id(meta, "msg", index), vec![text_part(text)], state)
                }
                Item::FunctionCall(call) => function_call_item(
                    &item_id(meta, "fc", index),
                    &call.id,
                    &call.name,
                    call.arguments.as_str(),
                    state,
                ),
                Item::Reasoning(text) => {
                    reasoning_item(&item_id(meta, "rs", index), vec![summary_part(text)])
                }
            }
        })
        .collect();
    let object = response_object(meta, echo, &status, output, response.usage.as_ref());
    serde_json::to_vec(&object).map_err(|e| DialectError::upstream(e.to_string()))
}
