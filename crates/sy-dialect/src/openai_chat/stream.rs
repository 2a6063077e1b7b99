//! Canonical stream events → `chat.completion.chunk` objects, one event at a time.
//!
//! The rules the official clients depend on: `role` only in the first chunk; a tool call's `id`,
//! `type` and `name` only in its first delta; tool-call `index` dense from 0 in call order;
//! `choices[].index` always 0; one `finish_reason`; `"usage":null` on every chunk and one final
//! usage chunk with empty `choices` only when the caller asked for usage. The caller writes
//! `data: [DONE]` after [`ChunkEncoder::end`] unless a [`Chunk::Error`] was produced.
//!
//! Chunks are written as JSON text directly, keys in OpenAI's order (`id`, `object`, `created`,
//! `model`, `choices`, `usage`): this runs once per streamed token, and building a value tree for
//! each chunk only to serialize it at once cost more than the rest of the translation.

use std::collections::BTreeMap;

use serde_json::Value;

use super::response::{WireUsage, finish_reason_name};
use crate::ResponseMeta;
use crate::canonical::{StreamError, StreamErrorKind, StreamEvent, Usage};

/// One `data:` payload for the caller: its JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// A `chat.completion.chunk` object.
    Data(String),
    /// An in-band error object; the stream ends after it, without `[DONE]`.
    Error(String),
}

impl Chunk {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Data(s) | Self::Error(s) => s,
        }
    }

    pub fn into_string(self) -> String {
        match self {
            Self::Data(s) | Self::Error(s) => s,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error(_))
    }

    /// The JSON text parsed back, for callers that edit a chunk or compare it structurally.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }
}

/// The state of one answer being re-framed as chat completion chunks.
#[derive(Debug)]
pub struct ChunkEncoder {
    /// `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,` — the same on every chunk.
    prefix: String,
    include_usage: bool,
    started: bool,
    finished: bool,
    failed: bool,
    /// Upstream tool index → (our dense index, whether any argument text was sent).
    tools: BTreeMap<u32, (u32, bool)>,
    usage: Option<Usage>,
    /// The chunk being written; reused so that a chunk costs no allocation of its own.
    buf: String,
}

impl ChunkEncoder {
    /// `include_usage`: the caller's `stream_options.include_usage`.
    pub fn new(meta: ResponseMeta, include_usage: bool) -> Self {
        let mut prefix = String::with_capacity(meta.id.len() + meta.model.len() + 80);
        prefix.push_str("{\"id\":");
        push_json_str(&mut prefix, &meta.id);
        prefix.push_str(",\"object\":\"chat.completion.chunk\",\"created\":");
        push_u64(&mut prefix, meta.created);
        prefix.push_str(",\"model\":");
        push_json_str(&mut prefix, &meta.model);
        prefix.push(',');
        Self {
            prefix,
            include_usage,
            started: false,
            finished: false,
            failed: false,
            tools: BTreeMap::new(),
            usage: None,
            // Room for a typical chunk, so the first ones do not grow it step by step.
            buf: String::with_capacity(256),
        }
    }

    /// Encodes one event; the chunks it makes, in order.
    pub fn push(&mut self, event: StreamEvent) -> Vec<Chunk> {
        let mut out = Vec::new();
        self.push_with(event, |json, error| out.push(chunk(json, error)));
        out
    }

    /// The upstream stream ended: the usage chunk if asked for, or an error if the answer never
    /// finished. The caller then writes `[DONE]` unless the last chunk was an error.
    pub fn end(&mut self) -> Vec<Chunk> {
        let mut out = Vec::new();
        self.end_with(|json, error| out.push(chunk(json, error)));
        out
    }

    /// [`push`](Self::push) without the intermediate chunks: `emit` gets each chunk's JSON text
    /// and whether it is an error object, borrowed only for the call.
    pub fn push_with(&mut self, event: StreamEvent, mut emit: impl FnMut(&str, bool)) {
        if self.failed {
            return;
        }
        match event {
            StreamEvent::Error(error) => return self.fail(&error, &mut emit),
            StreamEvent::Usage(usage) => {
                self.usage = Some(usage);
                return;
            }
            // Reasoning has no place in a chat completion.
            StreamEvent::ReasoningDelta(_)
            | StreamEvent::ReasoningSignature(_)
            | StreamEvent::RedactedReasoning(_) => return,
            _ => {}
        }
        if self.finished {
            return;
        }
        if let StreamEvent::ToolCallArgsDelta { index, fragment } = &event
            && !fragment.is_empty()
            && !self.tools.contains_key(index)
        {
            let error = StreamError::new(
                StreamErrorKind::Protocol,
                "tool call arguments arrived before the call started",
            );
            return self.fail(&error, &mut emit);
        }
        if !self.started {
            self.started = true;
            self.open();
            self.buf
                .push_str("{\"role\":\"assistant\",\"content\":\"\"}");
            self.close(None, &mut emit);
        }
        match event {
            StreamEvent::TextDelta(text) if !text.is_empty() => {
                self.open();
                self.buf.push_str("{\"content\":");
                push_json_str(&mut self.buf, &text);
                self.buf.push('}');
                self.close(None, &mut emit);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let dense = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                self.tools.insert(index, (dense, false));
                self.open_tool_call(dense);
                self.buf.push_str(",\"id\":");
                push_json_str(&mut self.buf, &id);
                self.buf
                    .push_str(",\"type\":\"function\",\"function\":{\"name\":");
                push_json_str(&mut self.buf, &name);
                self.buf.push_str(",\"arguments\":\"\"}}]}");
                self.close(None, &mut emit);
            }
            StreamEvent::ToolCallArgsDelta { index, fragment } if !fragment.is_empty() => {
                // Checked above: the call has started.
                if let Some((dense, sent)) = self.tools.get_mut(&index) {
                    *sent = true;
                    let dense = *dense;
                    self.arguments_chunk(dense, &fragment, &mut emit);
                }
            }
            StreamEvent::Finish { reason, .. } => {
                // A call that never got arguments gets `{}`, so clients do not parse "".
                let empty: Vec<u32> = self
                    .tools
                    .values()
                    .filter(|(_, sent)| !sent)
                    .map(|(dense, _)| *dense)
                    .collect();
                for dense in empty {
                    self.arguments_chunk(dense, "{}", &mut emit);
                }
                self.finished = true;
                self.open();
                self.buf.push_str("{}");
                self.close(Some(finish_reason_name(reason)), &mut emit);
            }
            _ => {}
        }
    }

    /// [`end`](Self::end) without the intermediate chunks, as [`push_with`](Self::push_with).
    pub fn end_with(&mut self, mut emit: impl FnMut(&str, bool)) {
        if self.failed {
            return;
        }
        if !self.finished {
            let error = StreamError::new(
                StreamErrorKind::Truncated,
                "the upstream stream ended before the answer finished",
            );
            return self.fail(&error, &mut emit);
        }
        if !self.include_usage {
            return;
        }
        let usage = WireUsage::from_canonical(&self.usage.unwrap_or_default());
        self.buf.clear();
        self.buf.push_str(&self.prefix);
        self.buf.push_str("\"choices\":[],\"usage\":");
        match serde_json::to_string(&usage) {
            Ok(usage) => self.buf.push_str(&usage),
            // Plain counts always serialize.
            Err(_) => self.buf.push_str("null"),
        }
        self.buf.push('}');
        emit(&self.buf, false);
    }

    /// OpenAI's in-band error object. Types follow OpenAI's own (`invalid_request_error`,
    /// `server_error`); the code tells the class, so throttling stays recognisable as retryable.
    fn fail(&mut self, error: &StreamError, emit: &mut impl FnMut(&str, bool)) {
        self.failed = true;
        let (kind, code) = error_type_and_code(error.kind);
        self.buf.clear();
        self.buf.push_str("{\"error\":{\"message\":");
        push_json_str(&mut self.buf, &error.message);
        self.buf.push_str(",\"type\":");
        push_json_str(&mut self.buf, kind);
        self.buf.push_str(",\"param\":null,\"code\":");
        push_json_str(&mut self.buf, code);
        self.buf.push_str("}}");
        emit(&self.buf, true);
    }

    fn arguments_chunk(&mut self, dense: u32, arguments: &str, emit: &mut impl FnMut(&str, bool)) {
        self.open_tool_call(dense);
        self.buf.push_str(",\"function\":{\"arguments\":");
        push_json_str(&mut self.buf, arguments);
        self.buf.push_str("}}]}");
        self.close(None, emit);
    }

    /// Starts a chunk, up to its delta.
    fn open(&mut self) {
        self.buf.clear();
        self.buf.push_str(&self.prefix);
        self.buf.push_str("\"choices\":[{\"index\":0,\"delta\":");
    }

    /// Starts a chunk whose delta is one tool call, up to the call's `index`.
    fn open_tool_call(&mut self, dense: u32) {
        self.open();
        self.buf.push_str("{\"tool_calls\":[{\"index\":");
        push_u64(&mut self.buf, dense.into());
    }

    /// Ends a chunk after its delta and hands it out.
    fn close(&mut self, finish_reason: Option<&str>, emit: &mut impl FnMut(&str, bool)) {
        self.buf.push_str(",\"finish_reason\":");
        match finish_reason {
            Some(reason) => push_json_str(&mut self.buf, reason),
            None => self.buf.push_str("null"),
        }
        self.buf.push_str("}]");
        if self.include_usage {
            self.buf.push_str(",\"usage\":null");
        }
        self.buf.push('}');
        emit(&self.buf, false);
    }
}

fn chunk(json: &str, error: bool) -> Chunk {
    if error {
        Chunk::Error(json.to_owned())
    } else {
        Chunk::Data(json.to_owned())
    }
}

fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut plain = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte escaped is ASCII, so these are char boundaries.
        out.push_str(&s[plain..i]);
        plain = i + 1;
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// OpenAI's error `type` and `code` for a mid-stream failure; shared with the Responses dialect.
pub(crate) fn error_type_and_code(kind: StreamErrorKind) -> (&'static str, &'static str) {
    match kind {
        StreamErrorKind::InvalidRequest => ("invalid_request_error", "invalid_request"),
        StreamErrorKind::RateLimited => ("rate_limit_error", "rate_limit_exceeded"),
        StreamErrorKind::Overloaded => ("server_error", "overloaded"),
        StreamErrorKind::Server => ("server_error", "upstream_error"),
        StreamErrorKind::ModelError => ("server_error", "model_error"),
        StreamErrorKind::Timeout => ("server_error", "timeout"),
        StreamErrorKind::Protocol => ("server_error", "upstream_protocol_error"),
        StreamErrorKind::Truncated => ("server_error", "stream_truncated"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::canonical::FinishReason;

    fn encoder(include_usage: bool) -> ChunkEncoder {
        let meta = ResponseMeta {
            id: "chatcmpl-\"1\"".into(),
            model: "gpt-4o".into(),
            created: 1_700_000_000,
        };
        ChunkEncoder::new(meta, include_usage)
    }

    /// A stream with text, a call with arguments, a call without, reasoning and usage.
    fn representative() -> Vec<StreamEvent> {
        vec![
            StreamEvent::MessageStart {
                upstream_id: Some("up".into()),
                upstream_model: None,
            },
            StreamEvent::ReasoningDelta("hmm".into()),
            StreamEvent::TextDelta("Héllo \"x\"\n\u{1}\\".into()),
            StreamEvent::TextDelta(String::new()),
            StreamEvent::ToolCallStart {
                index: 3,
                id: "call_a".into(),
                name: "get_weather".into(),
            },
            StreamEvent::ToolCallArgsDelta {
                index: 3,
                fragment: "{\"city\":".into(),
            },
            StreamEvent::ToolCallStart {
                index: 7,
                id: "call_b".into(),
                name: "now".into(),
            },
            StreamEvent::ToolCallArgsDelta {
                index: 3,
                fragment: "\"Paris\"}".into(),
            },
            StreamEvent::Usage(Usage {
                input_uncached: 10,
                input_cache_read: 2,
                output: 5,
                ..Usage::default()
            }),
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None,
            },
            StreamEvent::TextDelta("after the finish".into()),
        ]
    }

    fn encode(include_usage: bool, events: Vec<StreamEvent>) -> Vec<Chunk> {
        let mut encoder = encoder(include_usage);
        let mut out: Vec<Chunk> = events.into_iter().flat_map(|e| encoder.push(e)).collect();
        out.extend(encoder.end());
        out
    }

    #[test]
    fn chunk_text_is_pinned() {
        let chunks = encode(true, representative());
        let prefix = r#"{"id":"chatcmpl-\"1\"","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","#;
        let texts: Vec<&str> = chunks.iter().map(Chunk::as_str).collect();
        assert_eq!(
            texts[0],
            format!(
                r#"{prefix}"choices":[{{"index":0,"delta":{{"role":"assistant","content":""}},"finish_reason":null}}],"usage":null}}"#
            )
        );
        assert_eq!(
            texts[1],
            format!(
                r#"{prefix}"choices":[{{"index":0,"delta":{{"content":"Héllo \"x\"\n\u0001\\"}},"finish_reason":null}}],"usage":null}}"#
            )
        );
        assert_eq!(
            texts[2],
            format!(
                r#"{prefix}"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"call_a","type":"function","function":{{"name":"get_weather","arguments":""}}}}]}},"finish_reason":null}}],"usage":null}}"#
            )
        );
        assert_eq!(
            texts[3],
            format!(
                r#"{prefix}"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"{{\"city\":"}}}}]}},"finish_reason":null}}],"usage":null}}"#
            )
        );
        assert_eq!(
            texts[7],
            format!(
                r#"{prefix}"choices":[{{"index":0,"delta":{{}},"finish_reason":"tool_calls"}}],"usage":null}}"#
            )
        );
        assert_eq!(chunks.len(), 9);
        assert!(chunks.iter().all(|c| !c.is_error()));
    }

    #[test]
    fn every_chunk_is_the_json_object_clients_expect() {
        let common = |delta: Value, finish: Value| {
            json!({
                "id": "chatcmpl-\"1\"", "object": "chat.completion.chunk",
                "created": 1_700_000_000u64, "model": "gpt-4o",
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
        };
        let call = |index: u32, arguments: &str| json!({ "tool_calls": [{ "index": index, "function": { "arguments": arguments } }] });
        let mut expected = vec![
            common(json!({ "role": "assistant", "content": "" }), Value::Null),
            common(json!({ "content": "Héllo \"x\"\n\u{1}\\" }), Value::Null),
            common(
                json!({ "tool_calls": [{ "index": 0, "id": "call_a", "type": "function",
                    "function": { "name": "get_weather", "arguments": "" } }] }),
                Value::Null,
            ),
            common(call(0, "{\"city\":"), Value::Null),
            common(
                json!({ "tool_calls": [{ "index": 1, "id": "call_b", "type": "function",
                    "function": { "name": "now", "arguments": "" } }] }),
                Value::Null,
            ),
            common(call(0, "\"Paris\"}"), Value::Null),
            // The call that got no arguments gets `{}` before the finish.
            common(call(1, "{}"), Value::Null),
            common(json!({}), json!("tool_calls")),
        ];
        let without_usage: Vec<Value> = encode(false, representative())
            .iter()
            .map(|c| serde_json::from_str(c.as_str()).unwrap())
            .collect();
        assert_eq!(without_usage, expected);

        for chunk in &mut expected {
            chunk["usage"] = Value::Null;
        }
        let mut usage_chunk = common(Value::Null, Value::Null);
        usage_chunk["choices"] = json!([]);
        usage_chunk["usage"] = json!({
            "prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
            "prompt_tokens_details": { "cached_tokens": 2 },
            "completion_tokens_details": { "reasoning_tokens": 0 },
        });
        expected.push(usage_chunk);
        let with_usage: Vec<Value> = encode(true, representative())
            .iter()
            .map(|c| serde_json::from_str(c.as_str()).unwrap())
            .collect();
        assert_eq!(with_usage, expected);
    }

    #[test]
    fn errors_are_objects_and_end_the_stream() {
        let error = StreamError::new(StreamErrorKind::RateLimited, "slow \"down\"");
        let chunks = encode(
            true,
            vec![
                StreamEvent::TextDelta("a".into()),
                StreamEvent::Error(error),
                StreamEvent::TextDelta("b".into()),
            ],
        );
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            chunks[2],
            Chunk::Error(
                r#"{"error":{"message":"slow \"down\"","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}"#
                    .into()
            )
        );

        // Arguments for a call never started: only the error, as the first chunk.
        let chunks = encode(
            false,
            vec![StreamEvent::ToolCallArgsDelta {
                index: 0,
                fragment: "{}".into(),
            }],
        );
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].to_value()["error"]["code"],
            "upstream_protocol_error"
        );

        // Never finished: truncated.
        let chunks = encode(false, vec![StreamEvent::TextDelta("a".into())]);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[2].to_value()["error"]["code"], "stream_truncated");
    }

    #[test]
    fn every_chunk_parses_whatever_the_text() {
        let mut all = String::new();
        for c in (0u32..0x300).filter_map(char::from_u32) {
            all.push(c);
        }
        all.push_str("\u{2028}\u{2029}\u{fffd}😀");
        for text in [all.as_str(), "\\", "\"", "\u{7f}", "</script>", ""] {
            let mut escaped = String::new();
            push_json_str(&mut escaped, text);
            assert_eq!(escaped, serde_json::to_string(text).unwrap());
            let events = vec![
                StreamEvent::TextDelta(text.into()),
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: text.into(),
                    name: text.into(),
                },
                StreamEvent::ToolCallArgsDelta {
                    index: 0,
                    fragment: text.into(),
                },
                StreamEvent::Finish {
                    reason: FinishReason::EndTurn,
                    stop_sequence: None,
                },
            ];
            for include_usage in [false, true] {
                for chunk in encode(include_usage, events.clone()) {
                    let value: Value = serde_json::from_str(chunk.as_str()).unwrap();
                    assert!(value.is_object());
                }
            }
        }
    }
}
