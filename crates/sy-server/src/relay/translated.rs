//! A stream from an upstream of another dialect than the caller's, re-framed one event at a time:
//! the upstream's server-sent events (OpenAI, Anthropic, Gemini) or Bedrock's event-stream frames
//! are decoded into canonical events, and [`Egress`] encodes and frames them for the caller. An
//! upstream failure mid-stream ends with an in-band error in the caller's dialect, never with the
//! dialect's clean end.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use sy_dialect::Translation;
use sy_dialect::anthropic::AnthropicStreamDecoder;
use sy_dialect::canonical::{StreamError, StreamErrorKind, StreamEvent, Usage};
use sy_dialect::converse::ConverseStreamDecoder;
use sy_dialect::gemini::GeminiStreamDecoder;
use sy_dialect::openai_chat::ChunkDecoder;
use sy_provider::bedrock::eventstream::{EventStreamReader, Frame, MessageType};
use sy_provider::{Dialect, UpstreamBody};
use sy_wire::sse::{SseEvent, SseParser};
use tokio::time::Instant;

use super::StreamEnd;
use super::egress::Egress;

/// Where upstream events come from.
enum Source {
    Sse {
        body: UpstreamBody,
        parser: SseParser,
    },
    EventStream(EventStreamReader),
}

/// What reads upstream events into canonical ones.
enum Decoder {
    Chat(ChunkDecoder),
    Anthropic(AnthropicStreamDecoder),
    Converse(ConverseStreamDecoder),
    Gemini(GeminiStreamDecoder),
}

/// One upstream unit read, or why none came.
enum Read {
    Events(Vec<StreamEvent>),
    Ended,
    Failed(String),
}

pub struct TranslatedStream {
    source: Source,
    decoder: Decoder,
    egress: Egress,
    out: VecDeque<Bytes>,
    idle: Duration,
    deadline: Instant,
    /// The latest usage the upstream reported.
    pub usage: Option<Usage>,
    pub end: Option<StreamEnd>,
}

impl std::fmt::Debug for TranslatedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranslatedStream")
            .field("usage", &self.usage)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl TranslatedStream {
    /// `dialect` is the upstream's; `event_stream`: the body is AWS event-stream frames (Bedrock's
    /// ConverseStream, or InvokeModelWithResponseStream carrying `dialect`'s native events);
    /// `egress` encodes for the caller.
    pub fn new(
        dialect: Dialect,
        event_stream: bool,
        body: UpstreamBody,
        translation: &Translation,
        egress: Egress,
        idle: Duration,
        deadline: Instant,
    ) -> Self {
        let sse = |body| Source::Sse {
            body,
            parser: SseParser::new(),
        };
        if event_stream && dialect != Dialect::Converse {
            // InvokeModelWithResponseStream: native events, one per `chunk` frame.
            let decoder = match dialect {
                Dialect::Anthropic => Decoder::Anthropic(AnthropicStreamDecoder::new(translation)),
                _ => Decoder::Chat(ChunkDecoder::new(translation)),
            };
            return Self::with(
                Source::EventStream(EventStreamReader::new(body)),
                decoder,
                egress,
                idle,
                deadline,
            );
        }
        let (source, decoder) = match dialect {
            Dialect::Converse => (
                Source::EventStream(EventStreamReader::new(body)),
                Decoder::Converse(ConverseStreamDecoder::new(translation)),
            ),
            Dialect::Gemini => (
                sse(body),
                Decoder::Gemini(GeminiStreamDecoder::new(translation)),
            ),
            Dialect::Anthropic => (
                sse(body),
                Decoder::Anthropic(AnthropicStreamDecoder::new(translation)),
            ),
            Dialect::OpenAiChat => (sse(body), Decoder::Chat(ChunkDecoder::new(translation))),
        };
        Self::with(source, decoder, egress, idle, deadline)
    }

    fn with(
        source: Source,
        decoder: Decoder,
        egress: Egress,
        idle: Duration,
        deadline: Instant,
    ) -> Self {
        Self {
            source,
            decoder,
            egress,
            out: VecDeque::new(),
            idle,
            deadline,
            usage: None,
            end: None,
        }
    }

    /// The next bytes for the client, or `None` when the stream is over.
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(bytes) = self.out.pop_front() {
                return Some(bytes);
            }
            if self.end.is_some() {
                return None;
            }
            let wait = self
                .idle
                .min(self.deadline.saturating_duration_since(Instant::now()));
            let read = match tokio::time::timeout(wait, self.read()).await {
                Ok(read) => read,
                Err(_) if Instant::now() >= self.deadline => {
                    Read::Failed("the upstream exceeded the total time limit".to_owned())
                }
                Err(_) => Read::Failed("the upstream went silent mid-stream".to_owned()),
            };
            match read {
                Read::Events(events) => self.encode(events),
                Read::Ended => self.finish(),
                Read::Failed(reason) => self.fail(reason),
            }
        }
    }

    /// Reads the next upstream unit: a chunk of SSE bytes or one event-stream frame.
    async fn read(&mut self) -> Read {
        match &mut self.source {
            Source::Sse { body, parser } => match body.chunk().await {
                Some(Ok(chunk)) => {
                    parser.push(&chunk);
                    let mut events = Vec::new();
                    while let Some(event) = parser.next_event() {
                        append(&mut events, decode_sse(&mut self.decoder, &event));
                    }
                    Read::Events(events)
                }
                Some(Err(e)) => Read::Failed(format!("the upstream stream broke: {e}")),
                None => {
                    let events = parser
                        .finish()
                        .map(|tail| decode_sse(&mut self.decoder, &tail))
                        .unwrap_or_default();
                    if events.is_empty() {
                        Read::Ended
                    } else {
                        // The tail's events first; the next read ends the stream.
                        Read::Events(events)
                    }
                }
            },
            Source::EventStream(reader) => match reader.next().await {
                Some(Ok(first)) => {
                    // The frames that came in the same delivery are one answer for the client.
                    let mut events = Vec::new();
                    let mut next = Some(first);
                    while let Some(frame) = next {
                        // Usage reported earlier in this delivery counts as reported.
                        let have_usage = self.usage.is_some()
                            || events.iter().any(|e| matches!(e, StreamEvent::Usage(_)));
                        append(
                            &mut events,
                            decode_frame(&mut self.decoder, &frame, have_usage),
                        );
                        next = reader.next_buffered();
                    }
                    Read::Events(events)
                }
                Some(Err(e)) => Read::Failed(e.to_string()),
                None => Read::Ended,
            },
        }
    }

    fn encode(&mut self, events: Vec<StreamEvent>) {
        for event in events {
            if let StreamEvent::Usage(usage) = &event {
                self.usage = Some(*usage);
            }
            let failed = match &event {
                StreamEvent::Error(e) => Some(e.message.clone()),
                _ => None,
            };
            let errored = self.egress.push(event, &mut self.out);
            if let Some(reason) = failed.or_else(|| errored.then(String::new)) {
                self.end = Some(StreamEnd::Failed(reason));
                return;
            }
        }
    }

    fn finish(&mut self) {
        let events = match &mut self.decoder {
            Decoder::Chat(d) => d.end(),
            Decoder::Anthropic(d) => d.end(),
            Decoder::Converse(d) => d.end(),
            Decoder::Gemini(d) => d.end(),
        };
        self.encode(events);
        if self.end.is_some() {
            return;
        }
        if self.egress.end(&mut self.out) {
            self.end = Some(StreamEnd::Failed(
                "the upstream stream ended before the answer finished".to_owned(),
            ));
            return;
        }
        self.end = Some(StreamEnd::Completed);
    }

    /// Ends with an in-band error in the caller's dialect.
    fn fail(&mut self, reason: String) {
        self.egress.fail(&reason, &mut self.out);
        self.end = Some(StreamEnd::Failed(reason));
    }
}

/// Adds one unit's events to a delivery's. Mostly a delivery holds one unit: its list is kept
/// rather than copied.
fn append(events: &mut Vec<StreamEvent>, decoded: Vec<StreamEvent>) {
    if events.is_empty() {
        *events = decoded;
    } else {
        events.extend(decoded);
    }
}

/// One event-stream frame: a ConverseStream event, an InvokeModelWithResponseStream `chunk`, or
/// an exception.
fn decode_frame(decoder: &mut Decoder, frame: &Frame, have_usage: bool) -> Vec<StreamEvent> {
    if frame.message_type == MessageType::Error {
        // A generic error frame is no event of any stream: it ends this one with its code.
        return match decoder {
            Decoder::Converse(decoder) => decoder.error(&frame.name, &frame.payload),
            _ => ConverseStreamDecoder::new(&Translation::default())
                .error(&frame.name, &frame.payload),
        };
    }
    match decoder {
        Decoder::Converse(decoder) => decoder.push(&frame.name, &frame.payload),
        decoder if frame.name == "chunk" && !frame.is_failure() => {
            unwrap_chunk(decoder, &frame.payload, have_usage)
        }
        // Bedrock's exceptions are the same for every operation.
        _ => ConverseStreamDecoder::new(&Translation::default()).push(&frame.name, &frame.payload),
    }
}

fn decode_sse(decoder: &mut Decoder, event: &SseEvent) -> Vec<StreamEvent> {
    if !event.has_data {
        return Vec::new();
    }
    match decoder {
        Decoder::Anthropic(d) => {
            let name = event
                .event
                .as_deref()
                .and_then(|n| std::str::from_utf8(n).ok());
            d.push(name, &event.data)
        }
        Decoder::Gemini(d) => d.push(&event.data),
        Decoder::Chat(d) => d.push(&event.data),
        Decoder::Converse(_) => Vec::new(),
    }
}

/// One InvokeModelWithResponseStream `chunk`: its base64 `bytes` are one native event. Bedrock adds
/// its own token counts to the last event, which stand in for usage the model's events lack.
fn unwrap_chunk(decoder: &mut Decoder, payload: &[u8], have_usage: bool) -> Vec<StreamEvent> {
    let native = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|chunk| {
            let bytes = chunk["bytes"].as_str()?;
            base64::engine::general_purpose::STANDARD.decode(bytes).ok()
        });
    let Some(native) = native else {
        return vec![StreamEvent::Error(StreamError {
            kind: StreamErrorKind::Protocol,
            message: "an unreadable `chunk` frame from Bedrock".to_owned(),
        })];
    };
    let mut events = match decoder {
        Decoder::Anthropic(d) => {
            let name = serde_json::from_slice::<serde_json::Value>(&native)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned));
            d.push(name.as_deref(), &native)
        }
        Decoder::Chat(d) => d.push(&native),
        Decoder::Gemini(d) => d.push(&native),
        Decoder::Converse(_) => Vec::new(),
    };
    let reported = have_usage || events.iter().any(|e| matches!(e, StreamEvent::Usage(_)));
    if !reported
        && let Some(metrics) = serde_json::from_slice::<serde_json::Value>(&native)
            .ok()
            .map(|v| v["amazon-bedrock-invocationMetrics"].clone())
            .filter(serde_json::Value::is_object)
    {
        let count = |name: &str| metrics[name].as_u64().unwrap_or_default();
        events.push(StreamEvent::Usage(Usage {
            input_uncached: count("inputTokenCount"),
            output: count("outputTokenCount"),
            ..Usage::default()
        }));
    }
    events
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use sy_provider::bedrock::eventstream::{error_frame, event_frame};

    use super::super::egress::tests::chat_egress;
    use super::*;

    /// InvokeModelWithResponseStream frames carrying Anthropic events, all in one delivery.
    fn invoke_chunks(events: &[Value]) -> Bytes {
        let frames: Vec<Bytes> = events
            .iter()
            .map(|event| {
                let bytes = base64::engine::general_purpose::STANDARD.encode(event.to_string());
                event_frame("chunk", json!({ "bytes": bytes }).to_string().as_bytes())
                    .expect("a frame")
            })
            .collect();
        Bytes::from(frames.concat())
    }

    async fn drain(mut stream: TranslatedStream) -> (String, Option<StreamEnd>) {
        let mut text = Vec::new();
        while let Some(bytes) = stream.next().await {
            text.extend_from_slice(&bytes);
        }
        (String::from_utf8(text).expect("utf-8"), stream.end)
    }

    /// A generic error frame (not a modeled exception) ends a ConverseStream with an in-band
    /// error that names its code, before or after `messageStop`: never a clean end.
    #[tokio::test]
    async fn a_generic_error_frame_ends_a_converse_stream_with_its_code() {
        let frame = |name: &str, payload: Value| {
            event_frame(name, payload.to_string().as_bytes()).expect("a frame")
        };
        let start = frame("messageStart", json!({ "role": "assistant" }));
        let word = frame(
            "contentBlockDelta",
            json!({ "contentBlockIndex": 0, "delta": { "text": "Hel" } }),
        );
        let stop = frame("messageStop", json!({ "stopReason": "end_turn" }));
        let error =
            error_frame("InternalFailure", "The request processing has failed.").expect("a frame");
        for body in [
            [start.clone(), word.clone(), error.clone()].concat(),
            [start, word, stop, error].concat(),
        ] {
            let stream = TranslatedStream::new(
                Dialect::Converse,
                true,
                UpstreamBody::full(Bytes::from(body)),
                &Translation::default(),
                chat_egress(),
                Duration::from_secs(5),
                Instant::now() + Duration::from_secs(5),
            );
            let (text, end) = drain(stream).await;
            assert!(
                text.contains("InternalFailure: The request processing has failed."),
                "{text}"
            );
            assert!(!text.contains("[DONE]"), "{text}");
            assert!(matches!(end, Some(StreamEnd::Failed(_))), "{end:?}");
        }
    }

    /// Bedrock's invocation metrics stand in only for usage the model's events lack: when the
    /// model's usage came earlier in the same delivery, its cache buckets are kept.
    #[tokio::test]
    async fn usage_earlier_in_a_delivery_is_not_replaced_by_invocation_metrics() {
        let body = invoke_chunks(&[
            json!({ "type": "message_start", "message": { "id": "msg_1", "type": "message",
                "role": "assistant", "model": "claude", "content": [], "stop_reason": null,
                "usage": { "input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 1 } } }),
            json!({ "type": "content_block_start", "index": 0,
                "content_block": { "type": "text", "text": "" } }),
            json!({ "type": "content_block_delta", "index": 0,
                "delta": { "type": "text_delta", "text": "hi" } }),
            json!({ "type": "content_block_stop", "index": 0 }),
            json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn" },
                "usage": { "output_tokens": 5 } }),
            json!({ "type": "message_stop", "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": 100, "outputTokenCount": 5 } }),
        ]);
        let mut stream = TranslatedStream::new(
            Dialect::Anthropic,
            true,
            UpstreamBody::full(body),
            &Translation::default(),
            chat_egress(),
            Duration::from_secs(5),
            Instant::now() + Duration::from_secs(5),
        );
        let mut text = Vec::new();
        while let Some(bytes) = stream.next().await {
            text.extend_from_slice(&bytes);
        }
        assert!(text.ends_with(b"data: [DONE]\n\n"));
        assert_eq!(stream.end, Some(StreamEnd::Completed));
        let usage = stream.usage.expect("usage");
        assert_eq!(
            (usage.input_uncached, usage.input_cache_read, usage.output),
            (10, 90, 5)
        );
    }
}
