//! A same-dialect Anthropic stream relayed to an Anthropic caller, while a decoder reads the events
//! on the side for usage and for how the stream ended: Anthropic's SSE byte for byte, or Claude on
//! Bedrock's InvokeModelWithResponseStream, whose `chunk` frames each carry one Messages event
//! (base64) that is written out as that SSE event. A stream that breaks or ends before
//! `message_stop` gets Anthropic's `event: error`, so it never looks complete.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};
use sy_dialect::Translation;
use sy_dialect::anthropic::AnthropicStreamDecoder;
use sy_dialect::canonical::{StreamEvent, Usage};
use sy_provider::UpstreamBody;
use sy_provider::bedrock::eventstream::{EventStreamReader, Frame};
use sy_wire::sse::SseParser;
use tokio::time::Instant;

use super::StreamEnd;
use super::egress::named_event;

/// Where the upstream's events come from.
enum Source {
    Sse {
        body: UpstreamBody,
        parser: SseParser,
    },
    Invoke(EventStreamReader),
}

pub struct TappedSse {
    source: Source,
    decoder: AnthropicStreamDecoder,
    idle: Duration,
    deadline: Instant,
    finished: bool,
    /// The latest usage the upstream reported.
    pub usage: Option<Usage>,
    pub end: Option<StreamEnd>,
}

impl TappedSse {
    /// `invoke`: the body is Bedrock's InvokeModelWithResponseStream, not SSE.
    pub fn new(body: UpstreamBody, invoke: bool, idle: Duration, deadline: Instant) -> Self {
        let source = if invoke {
            Source::Invoke(EventStreamReader::new(body))
        } else {
            Source::Sse {
                body,
                parser: SseParser::new(),
            }
        };
        Self {
            source,
            decoder: AnthropicStreamDecoder::new(&Translation::default()),
            idle,
            deadline,
            finished: false,
            usage: None,
            end: None,
        }
    }

    /// The next bytes for the client, or `None` when the stream is over.
    pub async fn next(&mut self) -> Option<Bytes> {
        if self.end.is_some() {
            return None;
        }
        let wait = self
            .idle
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let read = match &mut self.source {
            Source::Sse { body, parser } => {
                let read = tokio::time::timeout(wait, body.chunk()).await;
                match read {
                    Ok(Some(Ok(chunk))) => {
                        parser.push(&chunk);
                        let mut events = Vec::new();
                        while let Some(event) = parser.next_event() {
                            if event.has_data {
                                let name = event
                                    .event
                                    .as_deref()
                                    .and_then(|n| std::str::from_utf8(n).ok());
                                events.extend(self.decoder.push(name, &event.data));
                            }
                        }
                        self.observe(events);
                        return Some(chunk);
                    }
                    Ok(Some(Err(e))) => Err(format!("the upstream stream broke: {e}")),
                    Ok(None) => Ok(None),
                    Err(_) => Err(String::new()),
                }
            }
            Source::Invoke(reader) => match tokio::time::timeout(wait, reader.next()).await {
                Ok(Some(Ok(frame))) => Ok(Some(frame)),
                Ok(Some(Err(e))) => Err(e.to_string()),
                Ok(None) => Ok(None),
                Err(_) => Err(String::new()),
            },
        };
        match read {
            Ok(Some(frame)) => self.unwrap_frame(&frame),
            Ok(None) if self.finished => {
                self.end = Some(StreamEnd::Completed);
                None
            }
            Ok(None) => {
                self.fail("the upstream stream ended before the answer finished".to_owned())
            }
            Err(reason) if !reason.is_empty() => self.fail(reason),
            Err(_) if Instant::now() >= self.deadline => {
                self.fail("the upstream exceeded the total time limit".to_owned())
            }
            Err(_) => self.fail("the upstream went silent mid-stream".to_owned()),
        }
    }

    /// One InvokeModelWithResponseStream frame as the Messages event it carries.
    fn unwrap_frame(&mut self, frame: &Frame) -> Option<Bytes> {
        if frame.is_failure() {
            let message = serde_json::from_slice::<Value>(&frame.payload)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&frame.payload).into_owned());
            let kind = match frame.name.as_ref() {
                "throttlingException" => "rate_limit_error",
                "serviceUnavailableException" => "overloaded_error",
                "modelTimeoutException" => "timeout_error",
                "validationException" => "invalid_request_error",
                _ => "api_error",
            };
            return self.fail_with(kind, format!("{}: {message}", frame.name));
        }
        let event = serde_json::from_slice::<Value>(&frame.payload)
            .ok()
            .and_then(|chunk| {
                let bytes = chunk["bytes"].as_str()?;
                base64::engine::general_purpose::STANDARD.decode(bytes).ok()
            })
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
        let Some(event) = event else {
            return self.fail(format!("an unreadable `{}` frame from Bedrock", frame.name));
        };
        let name = event["type"].as_str().unwrap_or("message").to_owned();
        let data = event.to_string();
        let events = self.decoder.push(Some(&name), data.as_bytes());
        self.observe(events);
        Some(named_event(&name, &event))
    }

    fn observe(&mut self, events: Vec<StreamEvent>) {
        for event in events {
            match event {
                StreamEvent::Usage(usage) => self.usage = Some(usage),
                StreamEvent::Finish { .. } => self.finished = true,
                // The upstream's own error event has reached the client as it was sent.
                StreamEvent::Error(e) => self.end = Some(StreamEnd::Failed(e.message)),
                _ => {}
            }
        }
    }

    fn fail(&mut self, reason: String) -> Option<Bytes> {
        self.fail_with("api_error", reason)
    }

    fn fail_with(&mut self, kind: &str, reason: String) -> Option<Bytes> {
        let data = json!({
            "type": "error",
            "error": { "type": kind, "message": reason },
        });
        self.end = Some(StreamEnd::Failed(reason));
        Some(named_event("error", &data))
    }
}
