//! OpenAI `chat.completion.chunk` streams → canonical stream events, one `data:` payload at a
//! time, for callers of other dialects answered by OpenAI-dialect upstreams (OpenAI, Azure,
//! compatible servers, the simulator).
//!
//! A tool call's `id` and `name` come in its first delta; later deltas carry only its upstream
//! `index` and argument fragments. Canonical indexes count calls in arrival order from 0. The
//! finish comes one chunk before the usage chunk (empty `choices`) when usage was asked for, so
//! the finish is held until the usage arrives or the stream ends. Azure's first chunk may have no
//! choices at all (`prompt_filter_results`); it only starts the answer.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::response::{WireUsage, finish_reason};
use crate::Translation;
use crate::canonical::{FinishReason, StreamError, StreamErrorKind, StreamEvent};

#[derive(Deserialize)]
struct WireChunk {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    delta: WireDelta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireDelta {
    content: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolDelta>,
}

#[derive(Deserialize)]
struct WireToolDelta {
    #[serde(default)]
    index: u32,
    id: Option<String>,
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ChunkDecoder {
    started: bool,
    /// Upstream tool index → canonical index.
    tools: BTreeMap<u32, u32>,
    /// The finish seen, waiting for a usage chunk that may follow it.
    finish: Option<FinishReason>,
    finished: bool,
    done: bool,
}

impl ChunkDecoder {
    pub fn new(_translation: &Translation) -> Self {
        Self {
            started: false,
            tools: BTreeMap::new(),
            finish: None,
            finished: false,
            done: false,
        }
    }

    /// One SSE `data:` payload: a chunk object, an in-band error, or `[DONE]`.
    pub fn push(&mut self, data: &[u8]) -> Vec<StreamEvent> {
        if self.done {
            return Vec::new();
        }
        if data.trim_ascii() == b"[DONE]" {
            return self.end();
        }
        let chunk: WireChunk = match serde_json::from_slice(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                let message = format!("unreadable chat completion chunk: {e}");
                return self.fail(StreamErrorKind::Protocol, message);
            }
        };
        if let Some(error) = chunk.error {
            return self.fail(error_kind(&error), error.message.unwrap_or_default());
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                upstream_id: chunk.id,
                upstream_model: chunk.model,
            });
        }
        // The gateway never asks for more than one choice.
        if let Some(choice) = chunk.choices.into_iter().next() {
            self.delta(choice.delta, &mut out);
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(Some(&reason)));
            }
        }
        if let Some(usage) = chunk.usage {
            // Usage comes last: the held finish goes out first, then the counts.
            self.release_finish(&mut out);
            out.push(StreamEvent::Usage(usage.to_canonical()));
        }
        out
    }

    fn delta(&mut self, delta: WireDelta, out: &mut Vec<StreamEvent>) {
        if let Some(text) = delta.reasoning_content.or(delta.reasoning)
            && !text.is_empty()
        {
            out.push(StreamEvent::ReasoningDelta(text));
        }
        for text in [delta.content, delta.refusal].into_iter().flatten() {
            if !text.is_empty() {
                out.push(StreamEvent::TextDelta(text));
            }
        }
        for call in delta.tool_calls {
            let (name, arguments) = call
                .function
                .map(|f| (f.name, f.arguments))
                .unwrap_or_default();
            let index = match self.tools.get(&call.index) {
                Some(index) => *index,
                None => {
                    let index = self.tools.len() as u32;
                    self.tools.insert(call.index, index);
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: call.id.unwrap_or_else(|| format!("call_{index}")),
                        name: name.unwrap_or_default(),
                    });
                    index
                }
            };
            if let Some(fragment) = arguments.filter(|a| !a.is_empty()) {
                out.push(StreamEvent::ToolCallArgsDelta { index, fragment });
            }
        }
    }

    fn release_finish(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(reason) = self.finish.take() {
            self.finished = true;
            out.push(StreamEvent::Finish {
                reason,
                stop_sequence: None,
            });
        }
    }

    /// The upstream stream ended (`[DONE]` or end of body): a held finish goes out; with no
    /// finish at all, the answer was cut short.
    pub fn end(&mut self) -> Vec<StreamEvent> {
        if self.done {
            return Vec::new();
        }
        let mut out = Vec::new();
        self.release_finish(&mut out);
        if !self.finished {
            return self.fail(
                StreamErrorKind::Truncated,
                "the upstream stream ended before the answer finished".to_owned(),
            );
        }
        self.done = true;
        out
    }

    fn fail(&mut self, kind: StreamErrorKind, message: String) -> Vec<StreamEvent> {
        self.done = true;
        vec![StreamEvent::Error(StreamError::new(kind, message))]
    }
}

/// The class of an in-band OpenAI error, from its `type` or `code`.
fn error_kind(error: &WireError) -> StreamErrorKind {
    let code = error
        .code
        .as_ref()
        .and_then(|c| c.as_str())
        .unwrap_or_default();
    match (error.kind.as_deref().unwrap_or_default(), code) {
        (_, "rate_limit_exceeded") | ("rate_limit_error" | "tokens" | "requests", _) => {
            StreamErrorKind::RateLimited
        }
        (_, "overloaded" | "upstream_unavailable") => StreamErrorKind::Overloaded,
        (_, "timeout" | "upstream_timeout") => StreamErrorKind::Timeout,
        ("invalid_request_error", _) => StreamErrorKind::InvalidRequest,
        _ => StreamErrorKind::Server,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResponseMeta;
    use crate::canonical::Usage;
    use crate::openai_chat::ChunkEncoder;

    fn decode(lines: &[&str]) -> Vec<StreamEvent> {
        let mut decoder = ChunkDecoder::new(&Translation::default());
        let mut out = Vec::new();
        for line in lines {
            out.extend(decoder.push(line.as_bytes()));
        }
        out.extend(decoder.end());
        out
    }

    #[test]
    fn text_then_finish_then_usage() {
        let events = decode(&[
            r#"{"id":"c1","model":"gpt","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":4}}}"#,
            "[DONE]",
        ]);
        let usage = Usage {
            input_uncached: 6,
            input_cache_read: 4,
            output: 3,
            ..Usage::default()
        };
        assert_eq!(
            events,
            vec![
                StreamEvent::MessageStart {
                    upstream_id: Some("c1".into()),
                    upstream_model: Some("gpt".into())
                },
                StreamEvent::TextDelta("Hel".into()),
                StreamEvent::TextDelta("lo".into()),
                StreamEvent::Finish {
                    reason: FinishReason::EndTurn,
                    stop_sequence: None
                },
                StreamEvent::Usage(usage),
            ]
        );
    }

    #[test]
    fn parallel_tool_calls_get_dense_indexes_in_arrival_order() {
        let events = decode(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":3,"id":"call_a","type":"function","function":{"name":"a","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":7,"id":"call_b","type":"function","function":{"name":"b","arguments":"{\"x\""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":3,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":7,"function":{"arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
        ]);
        let starts: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallStart { index, id, name } => {
                    Some((*index, id.as_str(), name.as_str()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(starts, vec![(0, "call_a", "a"), (1, "call_b", "b")]);
        let args: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallArgsDelta { index, fragment } => {
                    Some((*index, fragment.as_str()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(args, vec![(1, "{\"x\""), (0, "{}"), (1, ":1}")]);
        assert!(matches!(
            events.last(),
            Some(StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                ..
            })
        ));
    }

    #[test]
    fn azure_filter_chunk_reasoning_and_length() {
        let events = decode(&[
            r#"{"id":"","choices":[],"prompt_filter_results":[{"prompt_index":0}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"think"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"},"finish_reason":"length"}]}"#,
        ]);
        assert!(matches!(events[0], StreamEvent::MessageStart { .. }));
        assert_eq!(events[1], StreamEvent::ReasoningDelta("think".into()));
        assert_eq!(events[2], StreamEvent::TextDelta("a".into()));
        assert!(matches!(
            events[3],
            StreamEvent::Finish {
                reason: FinishReason::MaxTokens,
                ..
            }
        ));
        assert_eq!(events.len(), 4);
    }

    #[test]
    fn in_band_errors_truncation_and_garbage_end_the_stream() {
        let cases = [
            (
                vec![
                    r#"{"choices":[{"delta":{"content":"a"}}]}"#,
                    r#"{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#,
                ],
                StreamErrorKind::RateLimited,
            ),
            (
                vec![r#"{"choices":[{"delta":{"content":"a"}}]}"#],
                StreamErrorKind::Truncated,
            ),
            (vec!["{not json"], StreamErrorKind::Protocol),
        ];
        for (lines, kind) in cases {
            let events = decode(&lines);
            let errors: Vec<_> = events
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::Error(e) => Some(e.kind),
                    _ => None,
                })
                .collect();
            assert_eq!(errors, vec![kind], "{lines:?}");
            assert!(matches!(events.last(), Some(StreamEvent::Error(_))));
        }
    }

    #[test]
    fn what_the_encoder_writes_decodes_to_the_same_events() {
        let usage = Usage {
            input_uncached: 5,
            input_cache_read: 2,
            output: 7,
            reasoning: 3,
            ..Usage::default()
        };
        let events = vec![
            StreamEvent::MessageStart {
                upstream_id: None,
                upstream_model: None,
            },
            StreamEvent::TextDelta("hi".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallArgsDelta {
                index: 0,
                fragment: "{}".into(),
            },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None,
            },
            StreamEvent::Usage(usage),
        ];
        let meta = ResponseMeta {
            id: "x".into(),
            model: "m".into(),
            created: 0,
        };
        let mut encoder = ChunkEncoder::new(meta, true);
        let mut decoder = ChunkDecoder::new(&Translation::default());
        let mut decoded = Vec::new();
        for event in events.iter().cloned() {
            for chunk in encoder.push(event) {
                decoded.extend(decoder.push(chunk.into_value().to_string().as_bytes()));
            }
        }
        for chunk in encoder.end() {
            decoded.extend(decoder.push(chunk.into_value().to_string().as_bytes()));
        }
        decoded.extend(decoder.end());
        let kinds = |events: &[StreamEvent]| -> Vec<StreamEvent> {
            events
                .iter()
                .filter(|e| !matches!(e, StreamEvent::MessageStart { .. }))
                .cloned()
                .collect()
        };
        assert_eq!(kinds(&decoded), kinds(&events));
    }
}
