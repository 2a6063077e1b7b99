//! The caller's side of a translated stream: canonical events encoded in the caller's dialect and
//! framed for its transport — `data:` lines (OpenAI Chat), named SSE events (Anthropic, OpenAI
//! Responses), or AWS event-stream frames (Bedrock ConverseStream and
//! InvokeModelWithResponseStream).

use std::collections::VecDeque;
use std::time::Instant;

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use sy_dialect::SseEvent;
use sy_dialect::anthropic::AnthropicStreamEncoder;
use sy_dialect::canonical::{StreamError, StreamErrorKind, StreamEvent, Usage};
use sy_dialect::converse::{ConverseEvent, ConverseStreamEncoder};
use sy_dialect::openai_chat::{Chunk, ChunkEncoder};
use sy_dialect::openai_responses::ResponsesStreamEncoder;
use sy_provider::bedrock::eventstream::{event_frame, exception_frame};

/// An encoder for the caller's dialect, with its framing.
pub enum Egress {
    /// OpenAI `chat.completion.chunk` objects as `data:` lines, then `data: [DONE]`.
    Chat(ChunkEncoder),
    /// Anthropic Messages events, each with its `event:` line.
    Anthropic(AnthropicStreamEncoder),
    /// OpenAI Responses events, each with its `event:` line; no `[DONE]`.
    Responses(Box<ResponsesStreamEncoder>),
    /// ConverseStream events in event-stream frames.
    Converse(ConverseStreamEncoder),
    /// InvokeModelWithResponseStream for a model-native body: each native event's JSON, base64 in
    /// a `chunk` frame, as Bedrock sends it.
    Invoke(Box<InvokeStream>),
}

/// The native encoders InvokeModelWithResponseStream wraps.
pub enum Native {
    /// Anthropic-on-Bedrock: Messages events.
    Anthropic(AnthropicStreamEncoder),
    /// OpenAI chat format (e.g. gpt-oss): chunk objects.
    Chat(ChunkEncoder),
}

pub struct InvokeStream {
    native: Native,
    usage: Usage,
    started: Instant,
    first_byte_ms: Option<u64>,
}

impl InvokeStream {
    pub fn new(native: Native) -> Self {
        Self {
            native,
            usage: Usage::default(),
            started: Instant::now(),
            first_byte_ms: None,
        }
    }
}

impl Egress {
    /// Encodes one event into `out`; says whether it ended the stream with an error.
    pub fn push(&mut self, event: StreamEvent, out: &mut VecDeque<Bytes>) -> bool {
        match self {
            Self::Chat(encoder) => {
                let mut errored = false;
                encoder.push_with(event, |json, error| errored |= data(json, error, out));
                errored
            }
            Self::Anthropic(encoder) => named(encoder.push(event), out),
            Self::Responses(encoder) => named(encoder.push(event), out),
            Self::Converse(encoder) => frames(encoder.push(event), out),
            Self::Invoke(invoke) => invoke.push(event, out),
        }
    }

    /// The upstream ended: what the caller's dialect closes with. Says whether that was an error
    /// (the answer never finished).
    pub fn end(&mut self, out: &mut VecDeque<Bytes>) -> bool {
        match self {
            Self::Chat(encoder) => {
                let mut errored = false;
                encoder.end_with(|json, error| errored |= data(json, error, out));
                if !errored {
                    out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
                }
                errored
            }
            Self::Anthropic(encoder) => named(encoder.end(), out),
            Self::Responses(encoder) => named(encoder.end(), out),
            Self::Converse(encoder) => frames(encoder.end(), out),
            Self::Invoke(invoke) => invoke.end(out),
        }
    }

    /// The stream broke for a reason outside the answer (transport, framing, time limits): an
    /// in-band error in the caller's dialect.
    pub fn fail(&mut self, reason: &str, out: &mut VecDeque<Bytes>) {
        if let Self::Chat(_) = self {
            // OpenAI's shape for a broken upstream, as the pass-through relay sends it too.
            let body = sy_wire::openai::ErrorBody::new(
                reason.to_owned(),
                "server_error",
                None,
                Some("upstream_stream_error"),
            );
            out.push_back(sy_wire::sse::data_event(&body.to_json()));
            return;
        }
        let error = StreamError {
            kind: StreamErrorKind::Server,
            message: reason.to_owned(),
        };
        self.push(StreamEvent::Error(error), out);
    }
}

impl InvokeStream {
    fn push(&mut self, event: StreamEvent, out: &mut VecDeque<Bytes>) -> bool {
        if let StreamEvent::Usage(usage) = &event {
            self.usage = *usage;
        }
        self.first_byte_ms
            .get_or_insert_with(|| self.started.elapsed().as_millis() as u64);
        let payloads = match &mut self.native {
            Native::Anthropic(encoder) => native_events(encoder.push(event)),
            Native::Chat(encoder) => native_chunks(encoder.push(event)),
        };
        self.wrap(payloads, out)
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) -> bool {
        let payloads = match &mut self.native {
            Native::Anthropic(encoder) => native_events(encoder.end()),
            Native::Chat(encoder) => native_chunks(encoder.end()),
        };
        self.wrap(payloads, out)
    }

    /// Frames native events as `chunk` events; an error event becomes an exception frame.
    fn wrap(&self, events: Vec<NativeEvent>, out: &mut VecDeque<Bytes>) -> bool {
        for event in events {
            if event.error {
                let payload = serde_json::from_str(&event.json).unwrap_or_default();
                let (exception, message) = invoke_exception(&payload);
                let body = json!({ "message": message }).to_string();
                push_frame(exception_frame(exception, body.as_bytes()), out);
                return true;
            }
            let json = if event.last {
                self.with_invocation_metrics(&event.json)
            } else {
                event.json
            };
            let bytes = base64::engine::general_purpose::STANDARD.encode(json);
            let chunk = json!({ "bytes": bytes }).to_string();
            push_frame(event_frame("chunk", chunk.as_bytes()), out);
        }
        false
    }

    /// The last native event with the counts Bedrock adds to it.
    fn with_invocation_metrics(&self, json: &str) -> String {
        let mut payload: Value = serde_json::from_str(json).unwrap_or_default();
        if let Some(object) = payload.as_object_mut() {
            object.insert(
                "amazon-bedrock-invocationMetrics".to_owned(),
                json!({
                    "inputTokenCount": self.usage.input_total(),
                    "outputTokenCount": self.usage.output_total(),
                    "invocationLatency": self.started.elapsed().as_millis() as u64,
                    "firstByteLatency": self.first_byte_ms.unwrap_or_default(),
                }),
            );
        }
        payload.to_string()
    }
}

/// One native event for a `chunk` frame: its JSON, whether it is an error, and whether it is the
/// last of the answer (Anthropic's `message_stop`, or the chat usage chunk this stream always
/// asks for), which carries Bedrock's counts. Only those two are parsed again.
struct NativeEvent {
    json: String,
    error: bool,
    last: bool,
}

/// Bedrock's exception for a native error event: throttling and overload stay retryable.
fn invoke_exception(payload: &Value) -> (&'static str, String) {
    let error = &payload["error"];
    let kind = error["type"].as_str().unwrap_or_default();
    let code = error["code"].as_str().unwrap_or_default();
    let message = error["message"]
        .as_str()
        .unwrap_or("the model stream failed")
        .to_owned();
    let exception = match (kind, code) {
        ("rate_limit_error", _) | (_, "rate_limit_exceeded") => "throttlingException",
        ("overloaded_error", _) | (_, "overloaded") => "serviceUnavailableException",
        ("invalid_request_error", _) => "validationException",
        ("timeout_error", _) | (_, "timeout") => "modelTimeoutException",
        _ => "modelStreamErrorException",
    };
    (exception, message)
}

fn native_events(events: Vec<SseEvent>) -> Vec<NativeEvent> {
    events
        .into_iter()
        .filter(|e| e.event != "ping")
        .map(|e| NativeEvent {
            error: e.event == "error",
            last: e.event == "message_stop",
            json: e.data,
        })
        .collect()
}

fn native_chunks(chunks: Vec<Chunk>) -> Vec<NativeEvent> {
    chunks
        .into_iter()
        .map(|chunk| {
            let value = chunk.to_value();
            NativeEvent {
                error: chunk.is_error(),
                last: value.get("usage").is_some_and(Value::is_object),
                json: value.to_string(),
            }
        })
        .collect()
}

/// One chunk as a `data:` event, written straight into the bytes sent; passes `error` through.
fn data(json: &str, error: bool, out: &mut VecDeque<Bytes>) -> bool {
    out.push_back(sy_wire::sse::data_event(json.as_bytes()));
    error
}

/// Named SSE events; an `error` event (Anthropic) or `response.failed` (Responses) ends the stream.
fn named(events: Vec<SseEvent>, out: &mut VecDeque<Bytes>) -> bool {
    let mut errored = false;
    for event in events {
        errored |= matches!(event.event, "error" | "response.failed");
        out.push_back(sy_wire::sse::named_event(
            event.event,
            event.data.as_bytes(),
        ));
    }
    errored
}

/// `event: NAME\ndata: JSON\n\n`, the JSON serialized straight into the bytes sent.
pub fn named_event(name: &str, data: &Value) -> Bytes {
    let mut buf = BytesMut::with_capacity(name.len() + 256).writer();
    buf.get_mut().put_slice(b"event: ");
    buf.get_mut().put_slice(name.as_bytes());
    buf.get_mut().put_slice(b"\ndata: ");
    // A Value always serializes, and writing to memory cannot fail.
    let _ = serde_json::to_writer(&mut buf, data);
    buf.get_mut().put_slice(b"\n\n");
    buf.into_inner().freeze()
}

fn frames(events: Vec<ConverseEvent>, out: &mut VecDeque<Bytes>) -> bool {
    let mut errored = false;
    for event in events {
        let payload = event.payload.to_string();
        let frame = if event.exception {
            errored = true;
            exception_frame(event.event_type, payload.as_bytes())
        } else {
            event_frame(event.event_type, payload.as_bytes())
        };
        push_frame(frame, out);
    }
    errored
}

fn push_frame(
    frame: Result<Bytes, sy_provider::bedrock::eventstream::EventStreamError>,
    out: &mut VecDeque<Bytes>,
) {
    match frame {
        Ok(bytes) => out.push_back(bytes),
        // Only a header or payload beyond the format's limits fails; ours are far below.
        Err(e) => tracing::error!(error = %e.0, "an event-stream frame could not be encoded"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use sy_dialect::ResponseMeta;
    use sy_dialect::canonical::FinishReason;

    use super::*;

    /// A chat egress for answer `c` of model `m`, created at 1, without usage.
    pub(crate) fn chat_egress() -> Egress {
        let meta = ResponseMeta {
            id: "c".into(),
            model: "m".into(),
            created: 1,
        };
        Egress::Chat(ChunkEncoder::new(meta, false))
    }

    #[test]
    fn chat_chunks_are_framed_as_data_events_then_done() {
        let mut egress = chat_egress();
        let mut out = VecDeque::new();
        assert!(!egress.push(StreamEvent::TextDelta("hi".into()), &mut out));
        let finish = StreamEvent::Finish {
            reason: FinishReason::EndTurn,
            stop_sequence: None,
        };
        assert!(!egress.push(finish, &mut out));
        assert!(!egress.end(&mut out));
        let prefix = r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":"#;
        let out: Vec<&[u8]> = out.iter().map(|b| &b[..]).collect();
        assert_eq!(
            out,
            [
                format!(r#"{prefix}{{"role":"assistant","content":""}},"finish_reason":null}}]}}"#)
                    + "\n\n",
                format!(r#"{prefix}{{"content":"hi"}},"finish_reason":null}}]}}"#) + "\n\n",
                format!(r#"{prefix}{{}},"finish_reason":"stop"}}]}}"#) + "\n\n",
                "data: [DONE]\n\n".to_owned(),
            ]
            .iter()
            .map(String::as_bytes)
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_chat_error_ends_without_done() {
        let mut egress = chat_egress();
        let mut out = VecDeque::new();
        assert!(!egress.push(StreamEvent::TextDelta("hi".into()), &mut out));
        assert!(egress.end(&mut out));
        let last = out.back().unwrap();
        assert!(last.starts_with(b"data: {\"error\":"), "{last:?}");
        assert!(last.ends_with(b"}}\n\n"), "{last:?}");
    }

    #[test]
    fn named_events_carry_their_name_and_json() {
        let event = named_event("content_block_delta", &json!({ "type": "x", "n": 1 }));
        assert_eq!(
            &event[..],
            b"event: content_block_delta\ndata: {\"n\":1,\"type\":\"x\"}\n\n"
        );
    }
}
