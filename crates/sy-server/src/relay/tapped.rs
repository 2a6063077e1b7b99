//! A same-dialect Anthropic stream relayed to an Anthropic caller byte for byte, while a decoder
//! reads the events on the side for usage and for how the stream ended. A stream that breaks or
//! ends before `message_stop` gets Anthropic's `event: error`, so it never looks complete.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use sy_dialect::Translation;
use sy_dialect::anthropic::AnthropicStreamDecoder;
use sy_dialect::canonical::{StreamEvent, Usage};
use sy_provider::UpstreamBody;
use sy_wire::sse::SseParser;
use tokio::time::Instant;

use super::StreamEnd;
use super::egress::named_event;

pub struct TappedSse {
    body: UpstreamBody,
    parser: SseParser,
    decoder: AnthropicStreamDecoder,
    idle: Duration,
    deadline: Instant,
    finished: bool,
    /// The latest usage the upstream reported.
    pub usage: Option<Usage>,
    pub end: Option<StreamEnd>,
}

impl TappedSse {
    pub fn new(body: UpstreamBody, idle: Duration, deadline: Instant) -> Self {
        Self {
            body,
            parser: SseParser::new(),
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
        match tokio::time::timeout(wait, self.body.chunk()).await {
            Ok(Some(Ok(chunk))) => {
                self.parser.push(&chunk);
                while let Some(event) = self.parser.next_event() {
                    if event.has_data {
                        let name = event
                            .event
                            .as_deref()
                            .and_then(|n| std::str::from_utf8(n).ok());
                        let events = self.decoder.push(name, &event.data);
                        self.observe(events);
                    }
                }
                Some(chunk)
            }
            Ok(Some(Err(e))) => self.fail(format!("the upstream stream broke: {e}")),
            Ok(None) if self.finished => {
                self.end = Some(StreamEnd::Completed);
                None
            }
            Ok(None) => {
                self.fail("the upstream stream ended before the answer finished".to_owned())
            }
            Err(_) if Instant::now() >= self.deadline => {
                self.fail("the upstream exceeded the total time limit".to_owned())
            }
            Err(_) => self.fail("the upstream went silent mid-stream".to_owned()),
        }
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
        let data = json!({
            "type": "error",
            "error": { "type": "api_error", "message": reason },
        });
        self.end = Some(StreamEnd::Failed(reason));
        Some(named_event("error", &data))
    }
}
