//! Canonical stream events → Responses SSE events, one event at a time.
//!
//! The order the SDK helpers depend on: `response.created` first, then `response.in_progress`;
//! every item announced by `response.output_item.added` (and a message's text part by
//! `response.content_part.added`) before its deltas; `*.done` events innermost first;
//! `sequence_number` counting every event from 0; one terminal event carrying the whole
//! response. Text and argument fragments go out as they arrive; only what the `*.done` events
//! and the terminal response must repeat is kept.
//!
//! A message or reasoning item closes when any other item begins. Function call items stay open
//! until the answer finishes, because some upstreams interleave the arguments of parallel calls.
//! The terminal event waits for [`ResponsesStreamEncoder::end`], since some upstreams (Converse)
//! send usage after the finish. A failure sends OpenAI's live `error` event, with the error both
//! nested (which openai-python raises on) and flat (the documented shape), then
//! `response.failed`; nothing follows. There is no `[DONE]`.

use serde_json::{Map, Value, json};

use super::echo::RequestEcho;
use super::object::{
    Status, function_call_item, item_id, message_item, reasoning_item, response_object,
    summary_part, text_part,
};
use crate::ResponseMeta;
use crate::canonical::{StreamError, StreamErrorKind, StreamEvent, Usage};
use crate::openai_chat::error_type_and_code;
use crate::sse::SseEvent;

#[derive(Debug)]
enum Kind {
    Message {
        text: String,
    },
    Reasoning {
        text: String,
    },
    FunctionCall {
        /// The canonical tool call index its argument fragments refer to.
        index: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

#[derive(Debug)]
struct Item {
    id: String,
    kind: Kind,
    /// `in_progress` while open, then `completed` or `incomplete`.
    status: &'static str,
}

impl Item {
    fn is_open(&self) -> bool {
        self.status == "in_progress"
    }

    fn to_value(&self) -> Value {
        match &self.kind {
            Kind::Message { text } => message_item(&self.id, vec![text_part(text)], self.status),
            Kind::Reasoning { text } => reasoning_item(&self.id, vec![summary_part(text)]),
            Kind::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => function_call_item(&self.id, call_id, name, arguments, self.status),
        }
    }
}

/// The state of one answer being re-framed as Responses events.
#[derive(Debug)]
pub struct ResponsesStreamEncoder {
    meta: ResponseMeta,
    echo: RequestEcho,
    sequence: u64,
    started: bool,
    /// How the answer finished; the terminal event waits for [`Self::end`].
    finish: Option<Status>,
    /// A terminal event went out; nothing may follow.
    closed: bool,
    items: Vec<Item>,
    usage: Option<Usage>,
}

impl ResponsesStreamEncoder {
    pub fn new(meta: ResponseMeta, echo: RequestEcho) -> Self {
        Self {
            meta,
            echo,
            sequence: 0,
            started: false,
            finish: None,
            closed: false,
            items: Vec::new(),
            usage: None,
        }
    }

    pub fn push(&mut self, event: StreamEvent) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        match event {
            StreamEvent::Error(error) => {
                self.fail(&error, &mut out);
                return out;
            }
            StreamEvent::Usage(usage) => {
                self.usage = Some(usage);
                return out;
            }
            _ if self.finish.is_some() => return out,
            _ => {}
        }
        self.start(&mut out);
        match event {
            StreamEvent::TextDelta(text) if !text.is_empty() => self.text_delta(text, &mut out),
            StreamEvent::ReasoningDelta(text) if self.echo.summaries && !text.is_empty() => {
                self.reasoning_delta(text, &mut out);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.close_where(|kind| !matches!(kind, Kind::FunctionCall { .. }), &mut out);
                let kind = Kind::FunctionCall {
                    index,
                    call_id: id,
                    name,
                    arguments: String::new(),
                };
                let output_index = self.open_item("fc", kind);
                let item = self.items[output_index].to_value();
                self.emit(
                    &mut out,
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": item }),
                );
            }
            StreamEvent::ToolCallArgsDelta { index, fragment } => {
                self.arguments_delta(index, fragment, &mut out);
            }
            StreamEvent::Finish { reason, .. } => {
                let status = Status::of_finish(reason);
                let last = self.items.len().saturating_sub(1);
                for output_index in 0..self.items.len() {
                    if self.items[output_index].is_open() {
                        let cut = matches!(status, Status::Incomplete(_)) && output_index == last;
                        let state = if cut { "incomplete" } else { "completed" };
                        self.close(output_index, state, &mut out);
                    }
                }
                self.finish = Some(status);
            }
            _ => {}
        }
        out
    }

    /// The upstream stream ended: the terminal `response.completed` or `response.incomplete`, or
    /// a failure if the answer never finished.
    pub fn end(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.closed {
            return out;
        }
        let Some(status) = self.finish.take() else {
            let error = StreamError::new(
                StreamErrorKind::Truncated,
                "the upstream stream ended before the answer finished",
            );
            self.fail(&error, &mut out);
            return out;
        };
        let event = match status {
            Status::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        let response = self.response(&status);
        self.emit(&mut out, event, json!({ "response": response }));
        self.closed = true;
        out
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        for event in ["response.created", "response.in_progress"] {
            let response = self.response(&Status::InProgress);
            self.emit(out, event, json!({ "response": response }));
        }
    }

    fn text_delta(&mut self, text: String, out: &mut Vec<SseEvent>) {
        let output_index = match self.items.last() {
            Some(item) if item.is_open() && matches!(item.kind, Kind::Message { .. }) => {
                self.items.len() - 1
            }
            _ => {
                self.close_where(|_| true, out);
                let output_index = self.open_item(
                    "msg",
                    Kind::Message {
                        text: String::new(),
                    },
                );
                let id = self.items[output_index].id.clone();
                let item = message_item(&id, Vec::new(), "in_progress");
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": item }),
                );
                self.emit(
                    out,
                    "response.content_part.added",
                    json!({ "item_id": id, "output_index": output_index, "content_index": 0, "part": text_part("") }),
                );
                output_index
            }
        };
        let item = &mut self.items[output_index];
        if let Kind::Message { text: joined } = &mut item.kind {
            joined.push_str(&text);
        }
        let id = item.id.clone();
        self.emit(
            out,
            "response.output_text.delta",
            json!({ "item_id": id, "output_index": output_index, "content_index": 0, "delta": text, "logprobs": [] }),
        );
    }

    fn reasoning_delta(&mut self, text: String, out: &mut Vec<SseEvent>) {
        let output_index = match self.items.last() {
            Some(item) if item.is_open() && matches!(item.kind, Kind::Reasoning { .. }) => {
                self.items.len() - 1
            }
            _ => {
                self.close_where(|_| true, out);
                let output_index = self.open_item(
                    "rs",
                    Kind::Reasoning {
                        text: String::new(),
                    },
                );
                let id = self.items[output_index].id.clone();
                let item = reasoning_item(&id, Vec::new());
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({ "output_index": output_index, "item": item }),
                );
                self.emit(
                    out,
                    "response.reasoning_summary_part.added",
                    json!({ "item_id": id, "output_index": output_index, "summary_index": 0, "part": summary_part("") }),
                );
                output_index
            }
        };
        let item = &mut self.items[output_index];
        if let Kind::Reasoning { text: joined } = &mut item.kind {
            joined.push_str(&text);
        }
        let id = item.id.clone();
        self.emit(
            out,
            "response.reasoning_summary_text.delta",
            json!({ "item_id": id, "output_index": output_index, "summary_index": 0, "delta": text }),
        );
    }

    fn arguments_delta(&mut self, index: u32, fragment: String, out: &mut Vec<SseEvent>) {
        let found = self.items.iter().position(|item| {
            item.is_open() && matches!(item.kind, Kind::FunctionCall { index: i, .. } if i == index)
        });
        let Some(output_index) = found else {
            let error = StreamError::new(
                StreamErrorKind::Protocol,
                format!("arguments for tool call {index} arrived outside the call"),
            );
            self.fail(&error, out);
            return;
        };
        if fragment.is_empty() {
            return;
        }
        let item = &mut self.items[output_index];
        if let Kind::FunctionCall { arguments, .. } = &mut item.kind {
            arguments.push_str(&fragment);
        }
        let id = item.id.clone();
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({ "item_id": id, "output_index": output_index, "delta": fragment }),
        );
    }

    fn open_item(&mut self, prefix: &str, kind: Kind) -> usize {
        let output_index = self.items.len();
        self.items.push(Item {
            id: item_id(&self.meta, prefix, output_index),
            kind,
            status: "in_progress",
        });
        output_index
    }

    fn close_where(&mut self, which: impl Fn(&Kind) -> bool, out: &mut Vec<SseEvent>) {
        for output_index in 0..self.items.len() {
            let item = &self.items[output_index];
            if item.is_open() && which(&item.kind) {
                self.close(output_index, "completed", out);
            }
        }
    }

    /// The `*.done` events of one item, innermost first.
    fn close(&mut self, output_index: usize, status: &'static str, out: &mut Vec<SseEvent>) {
        let item = &mut self.items[output_index];
        item.status = status;
        let id = item.id.clone();
        let mut empty_arguments = false;
        if let Kind::FunctionCall { arguments, .. } = &mut item.kind
            && arguments.is_empty()
        {
            // A call that never got arguments gets `{}`, so clients do not parse "".
            arguments.push_str("{}");
            empty_arguments = true;
        }
        let done = match &self.items[output_index].kind {
            Kind::Message { text } => vec![
                (
                    "response.output_text.done",
                    json!({ "item_id": id, "output_index": output_index, "content_index": 0, "text": text, "logprobs": [] }),
                ),
                (
                    "response.content_part.done",
                    json!({ "item_id": id, "output_index": output_index, "content_index": 0, "part": text_part(text) }),
                ),
            ],
            Kind::Reasoning { text } => vec![
                (
                    "response.reasoning_summary_text.done",
                    json!({ "item_id": id, "output_index": output_index, "summary_index": 0, "text": text }),
                ),
                (
                    "response.reasoning_summary_part.done",
                    json!({ "item_id": id, "output_index": output_index, "summary_index": 0, "part": summary_part(text) }),
                ),
            ],
            Kind::FunctionCall {
                name, arguments, ..
            } => {
                let mut done = Vec::new();
                if empty_arguments {
                    done.push((
                        "response.function_call_arguments.delta",
                        json!({ "item_id": id, "output_index": output_index, "delta": arguments }),
                    ));
                }
                done.push((
                    "response.function_call_arguments.done",
                    json!({ "item_id": id, "output_index": output_index, "name": name, "arguments": arguments }),
                ));
                done
            }
        };
        let item = self.items[output_index].to_value();
        for (event, fields) in done {
            self.emit(out, event, fields);
        }
        self.emit(
            out,
            "response.output_item.done",
            json!({ "output_index": output_index, "item": item }),
        );
    }

    /// OpenAI's live failure: an `error` event, then `response.failed` with what was produced.
    fn fail(&mut self, error: &StreamError, out: &mut Vec<SseEvent>) {
        self.start(out);
        let (kind, code) = error_type_and_code(error.kind);
        let message = &error.message;
        self.emit(
            out,
            "error",
            json!({
                "code": code, "message": message, "param": null,
                "error": { "type": kind, "code": code, "message": message, "param": null },
            }),
        );
        // The SDK types allow only a few codes on a failed response.
        let failed_code = match error.kind {
            StreamErrorKind::RateLimited => "rate_limit_exceeded",
            StreamErrorKind::InvalidRequest => "invalid_prompt",
            _ => "server_error",
        };
        let status = Status::Failed(json!({ "code": failed_code, "message": message }));
        let response = self.response(&status);
        self.emit(out, "response.failed", json!({ "response": response }));
        self.closed = true;
    }

    fn response(&self, status: &Status) -> Value {
        let output = match status {
            Status::InProgress => Vec::new(),
            _ => self.items.iter().map(Item::to_value).collect(),
        };
        let usage = match status {
            Status::InProgress => None,
            _ => self.usage.as_ref(),
        };
        response_object(&self.meta, &self.echo, status, output, usage)
    }

    fn emit(&mut self, out: &mut Vec<SseEvent>, event: &'static str, fields: Value) {
        let mut data = Map::new();
        data.insert("type".to_owned(), json!(event));
        data.insert("sequence_number".to_owned(), json!(self.sequence));
        if let Value::Object(fields) = fields {
            data.extend(fields);
        }
        self.sequence += 1;
        out.push(SseEvent::new(event, &Value::Object(data)));
    }
}
