//! The pass-through SSE relay: upstream events are forwarded as they complete, bytes untouched,
//! while a tap reads usage. When the gateway itself asked for usage, the usage chunk (and the
//! `"usage":null` fields it implies) are removed so the client sees exactly what it asked for.
//! Azure OpenAI's opening chunk of prompt-filter verdicts, with no choices, is not relayed either:
//! OpenAI never sends one, and the usual `chunk.choices[0]` of SDK users fails on it (E17).

use std::collections::VecDeque;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memchr::memmem::Finder;
use sy_provider::UpstreamBody;
use sy_wire::openai::usage::{Usage, UsageProbe, may_carry_usage};
use sy_wire::sse::{SseEvent, SseParser};
use tokio::time::Instant;

/// Searchers built once rather than per event, as `memmem::find` would (see
/// `sy_wire::openai::usage::may_carry_usage`).
static FINISH_REASON: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"finish_reason\":\""));
static PROMPT_FILTER: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"prompt_filter_results\""));

/// How a relayed stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream finished the stream properly.
    Completed,
    /// The upstream failed mid-stream; the client got an in-band error event.
    Failed(String),
}

#[derive(Debug)]
pub struct SseRelay {
    body: UpstreamBody,
    parser: SseParser,
    out: VecDeque<Bytes>,
    strip_usage: bool,
    idle: Duration,
    deadline: Instant,
    pub usage: Option<Usage>,
    saw_done: bool,
    saw_finish: bool,
    /// No event has been relayed yet (where Azure's filter verdicts come).
    at_start: bool,
    pub end: Option<StreamEnd>,
}

impl SseRelay {
    pub fn new(body: UpstreamBody, strip_usage: bool, idle: Duration, deadline: Instant) -> Self {
        Self {
            body,
            parser: SseParser::new(),
            out: VecDeque::new(),
            strip_usage,
            idle,
            deadline,
            usage: None,
            saw_done: false,
            saw_finish: false,
            at_start: true,
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
            match tokio::time::timeout(wait, self.body.chunk()).await {
                Err(_) => {
                    let reason = if Instant::now() >= self.deadline {
                        "the upstream exceeded the total time limit"
                    } else {
                        "the upstream went silent mid-stream"
                    };
                    self.fail(reason.to_owned());
                }
                Ok(Some(Ok(chunk))) => {
                    self.parser.push(&chunk);
                    while let Some(event) = self.parser.next_event() {
                        self.take(event);
                    }
                }
                Ok(Some(Err(e))) => self.fail(format!("the upstream stream broke: {e}")),
                Ok(None) => self.finish(),
            }
        }
    }

    fn take(&mut self, event: SseEvent) {
        let data = &event.data[..];
        if data == b"[DONE]" {
            self.saw_done = true;
            self.out.push_back(event.raw);
            return;
        }
        if self.at_start {
            if is_filter_verdict(data) {
                return;
            }
            self.at_start = false;
        }
        if !self.saw_finish && FINISH_REASON.find(data).is_some() {
            self.saw_finish = true;
        }
        if may_carry_usage(data)
            && let Some(probe) = UsageProbe::parse(data)
            && let Some(usage) = probe.usage.clone()
        {
            self.usage = Some(usage);
            if self.strip_usage && probe.has_no_choices() {
                return;
            }
        }
        if self.strip_usage
            && let Some(edited) = without_null_usage(&event.raw)
        {
            self.out.push_back(edited);
            return;
        }
        self.out.push_back(event.raw);
    }

    fn finish(&mut self) {
        if let Some(tail) = self.parser.finish() {
            self.take(tail);
        }
        if self.saw_done {
            self.end = Some(StreamEnd::Completed);
        } else if self.saw_finish {
            // Some OpenAI-compatible servers end after the finish chunk without `[DONE]`; clients
            // waiting for the terminator still get one.
            self.out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
            self.end = Some(StreamEnd::Completed);
        } else {
            self.fail("the upstream closed the stream before it was complete".to_owned());
        }
    }

    /// Ends the stream with an in-band OpenAI error event and no `[DONE]`, so no client
    /// mistakes a cut stream for a complete answer.
    fn fail(&mut self, reason: String) {
        let body = sy_wire::openai::ErrorBody::new(
            reason.clone(),
            "server_error",
            None,
            Some("upstream_stream_error"),
        );
        self.out
            .push_back(sy_wire::sse::data_event(&body.to_json()));
        self.end = Some(StreamEnd::Failed(reason));
    }
}

/// Removes the top-level `"usage":null` that `include_usage` adds to every chunk.
/// The pattern cannot occur inside a JSON string, where quotes are escaped.
fn without_null_usage(raw: &[u8]) -> Option<Bytes> {
    static NULL_USAGE: LazyLock<[Finder<'static>; 2]> = LazyLock::new(|| {
        [
            Finder::new(b",\"usage\":null"),
            Finder::new(b"\"usage\":null,"),
        ]
    });
    for finder in NULL_USAGE.iter() {
        let pattern = finder.needle();
        if let Some(at) = finder.find(raw) {
            let mut out = BytesMut::with_capacity(raw.len());
            out.extend_from_slice(&raw[..at]);
            out.extend_from_slice(&raw[at + pattern.len()..]);
            return Some(out.freeze());
        }
    }
    None
}

/// Azure's `{"choices":[],"id":"","created":0,"model":"","prompt_filter_results":[…]}`: verdicts
/// with no choices and no usage.
fn is_filter_verdict(data: &[u8]) -> bool {
    PROMPT_FILTER.find(data).is_some()
        && UsageProbe::parse(data)
            .is_some_and(|probe| probe.usage.is_none() && probe.has_no_choices())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay_of(frames: &[&'static [u8]], strip: bool) -> SseRelay {
        let chunks: Vec<Result<Bytes, sy_provider::BodyError>> =
            frames.iter().map(|f| Ok(Bytes::from_static(f))).collect();
        let body = UpstreamBody::Local(Box::pin(futures_util::stream::iter(chunks)));
        SseRelay::new(
            body,
            strip,
            Duration::from_secs(5),
            Instant::now() + Duration::from_secs(5),
        )
    }

    async fn drain(relay: &mut SseRelay) -> String {
        let mut out = Vec::new();
        while let Some(b) = relay.next().await {
            out.extend_from_slice(&b);
        }
        String::from_utf8(out).expect("utf8")
    }

    const WITH_USAGE: &[u8] = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}],\"usage\":null}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n";

    #[tokio::test]
    async fn forwards_bytes_untouched_and_taps_usage() {
        let mut relay = relay_of(&[&WITH_USAGE[..30], &WITH_USAGE[30..]], false);
        assert_eq!(drain(&mut relay).await.as_bytes(), WITH_USAGE);
        assert_eq!(relay.usage.as_ref().map(|u| u.total_tokens), Some(4));
        assert_eq!(relay.end, Some(StreamEnd::Completed));
    }

    #[tokio::test]
    async fn strips_what_the_gateway_asked_for() {
        let mut relay = relay_of(&[WITH_USAGE], true);
        let out = drain(&mut relay).await;
        assert_eq!(
            out,
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(relay.usage.as_ref().map(|u| u.prompt_tokens), Some(3));
    }

    #[tokio::test]
    async fn azure_filter_verdicts_before_the_answer_are_not_relayed() {
        const VERDICT: &[u8] = b"data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}}]}\n\n";
        const ANSWER: &[u8] = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\",\"content_filter_results\":{}}],\"id\":\"c1\"}\n\n";
        const DONE: &[u8] = b"data: [DONE]\n\n";
        let mut relay = relay_of(&[VERDICT, ANSWER, DONE], false);
        assert_eq!(drain(&mut relay).await.as_bytes(), [ANSWER, DONE].concat());
        assert_eq!(relay.end, Some(StreamEnd::Completed));
        // Past the first relayed event nothing is held back, whatever it holds.
        let mut relay = relay_of(&[ANSWER, VERDICT, DONE], false);
        assert_eq!(
            drain(&mut relay).await.as_bytes(),
            [ANSWER, VERDICT, DONE].concat()
        );
    }

    #[tokio::test]
    async fn a_cut_stream_ends_with_an_error_event_and_no_done() {
        let mut relay = relay_of(
            &[b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n"],
            false,
        );
        let out = drain(&mut relay).await;
        assert!(out.ends_with("\n\n"));
        assert!(out.contains("\"error\":{"), "{out}");
        assert!(!out.contains("[DONE]"));
        assert!(matches!(relay.end, Some(StreamEnd::Failed(_))));
    }

    #[tokio::test]
    async fn a_finished_stream_without_done_gets_one() {
        let mut relay = relay_of(
            &[b"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"],
            false,
        );
        assert!(drain(&mut relay).await.ends_with("data: [DONE]\n\n"));
        assert_eq!(relay.end, Some(StreamEnd::Completed));
    }

    #[tokio::test(start_paused = true)]
    async fn silence_mid_stream_times_out() {
        let stream = futures_util::stream::iter(vec![Ok(Bytes::from_static(b"data: {}\n\n"))])
            .chain(futures_util::stream::pending());
        let body = UpstreamBody::Local(Box::pin(stream));
        let mut relay = SseRelay::new(
            body,
            false,
            Duration::from_secs(2),
            Instant::now() + Duration::from_secs(60),
        );
        let out = drain(&mut relay).await;
        assert!(out.contains("went silent"), "{out}");
    }

    use futures_util::StreamExt;
}
