//! OpenAI `chat.completion.chunk` streams → canonical stream events, one `data:` payload at a
//! time, for callers of other dialects answered by OpenAI-dialect upstreams (OpenAI, Azure,
//! compatible servers, the simulator).
//!
//! A tool call's `id` and `name` come in its first delta; later deltas carry only its upstream
//! `index` and argument fragments. Canonical indexes count calls in arrival order from 0; a new
//! `id` at an upstream index already in use starts a new call (servers that leave `index` out).
//! Ids are kept as the upstream wrote them, as the answer decoder does; one missing is made up
//! stably per answer and position. The finish comes one chunk before the usage chunk (empty
//! `choices`) when usage was asked for, so the finish is held until the usage arrives or the
//! stream ends. Azure's first chunk may have no choices at all (`prompt_filter_results`) and an
//! empty id and model; it only starts the answer.
//!
//! `[DONE]` ends the answer: a missing finish reason then means a normal stop, as in a whole
//! answer. A stream that ends without `[DONE]` and without a finish reason was cut short.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::response::{WireUsage, finish_reason};
use crate::Translation;
use crate::canonical::{FinishReason, StreamError, StreamErrorKind, StreamEvent};
use crate::ids::synthesize_call_id;

#[derive(Deserialize)]
struct WireChunk {
    id: Option<String>,
    model: Option<String>,
    choices: Option<Vec<WireChoice>>,
    usage: Option<WireUsage>,
    error: Option<WireErrorField>,
}

#[derive(Deserialize)]
struct WireChoice {
    delta: Option<WireDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireDelta {
    content: Option<String>,
    reasoning_content: Option<String>,
    #[serde(default, deserialize_with = "super::vendor_text")]
    reasoning: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<WireToolDelta>>,
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

/// OpenAI's error object; some compatible servers send only a message string.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireErrorField {
    Object(WireError),
    Message(String),
}

#[derive(Deserialize)]
struct WireError {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<serde_json::Value>,
}

/// A tool call seen in this answer.
#[derive(Debug)]
struct ToolSlot {
    /// Canonical index.
    index: u32,
    /// The upstream id, when it gave one.
    id: Option<String>,
}

/// The state of one OpenAI chat completion stream being read into canonical events.
#[derive(Debug)]
pub struct ChunkDecoder {
    started: bool,
    /// The upstream answer id, for ids made up for calls that came without one.
    answer_id: String,
    translation: Translation,
    /// Upstream tool index → the call currently at that index.
    tools: BTreeMap<u32, ToolSlot>,
    tool_calls: u32,
    /// The finish seen, waiting for a usage chunk that may follow it.
    finish: Option<FinishReason>,
    finished: bool,
    done: bool,
}

impl ChunkDecoder {
    /// What the translation may have to undo is tool names (a JSON schema answer stays
    /// `response_format` for OpenAI-dialect upstreams, never a forced tool).
    pub fn new(translation: &Translation) -> Self {
        Self {
            translation: translation.clone(),
            started: false,
            answer_id: String::new(),
            tools: BTreeMap::new(),
            tool_calls: 0,
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
            if !self.finished && self.finish.is_none() {
                self.finish = Some(finish_reason(None));
            }
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
            return match error {
                WireErrorField::Object(error) => {
                    let kind = error_kind(&error);
                    self.fail(kind, error.message.unwrap_or_default())
                }
                WireErrorField::Message(message) => self.fail(StreamErrorKind::Server, message),
            };
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            let id = chunk.id.filter(|id| !id.is_empty());
            self.answer_id = id.clone().unwrap_or_default();
            out.push(StreamEvent::MessageStart {
                upstream_id: id,
                upstream_model: chunk.model.filter(|m| !m.is_empty()),
            });
        } else if self.answer_id.is_empty()
            && let Some(id) = chunk.id.filter(|id| !id.is_empty())
        {
            // Azure's filter chunk has no id; the first real chunk does.
            self.answer_id = id;
        }
        // The gateway never asks for more than one choice.
        if let Some(choice) = chunk.choices.into_iter().flatten().next() {
            self.delta(choice.delta.unwrap_or_default(), &mut out);
            // Some compatible servers write "" rather than null before the end.
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty())
                && !self.finished
            {
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
        for call in delta.tool_calls.unwrap_or_default() {
            let (name, arguments) = call
                .function
                .map(|f| (f.name, f.arguments))
                .unwrap_or_default();
            let id = call.id.filter(|id| !id.is_empty());
            let known = self
                .tools
                .get(&call.index)
                .filter(|slot| id.is_none() || slot.id == id)
                .map(|slot| slot.index);
            let index = match known {
                Some(index) => index,
                None => {
                    let index = self.tool_calls;
                    self.tool_calls += 1;
                    let mut name = name.unwrap_or_default();
                    self.translation.restore_tool_name(&mut name);
                    let position = usize::try_from(index).unwrap_or(usize::MAX);
                    let call_id = id
                        .clone()
                        .unwrap_or_else(|| synthesize_call_id(&self.answer_id, position, &name));
                    self.tools.insert(call.index, ToolSlot { index, id });
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: call_id,
                        name,
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
    /// finish at all, the answer was cut short. Nothing comes out after `[DONE]` or an error.
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

/// The class of an in-band OpenAI error, from its `type` or `code`; the gateway's own codes
/// (see `error_type_and_code`) read back to the class they were written for.
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
        (_, "model_error") => StreamErrorKind::ModelError,
        (_, "upstream_protocol_error") => StreamErrorKind::Protocol,
        (_, "stream_truncated") => StreamErrorKind::Truncated,
        (_, "insufficient_quota")
        | ("invalid_request_error" | "insufficient_quota" | "authentication_error", _) => {
            StreamErrorKind::InvalidRequest
        }
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
                decoded.extend(decoder.push(chunk.as_str().as_bytes()));
            }
        }
        for chunk in encoder.end() {
            decoded.extend(decoder.push(chunk.as_str().as_bytes()));
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

    #[test]
    fn done_without_a_finish_reason_is_a_normal_stop() {
        let events = decode(&[
            r#"{"choices":[{"delta":{"content":"a"},"finish_reason":""}]}"#,
            "[DONE]",
        ]);
        assert_eq!(
            events[1..],
            [
                StreamEvent::TextDelta("a".into()),
                StreamEvent::Finish {
                    reason: FinishReason::EndTurn,
                    stop_sequence: None
                },
            ]
        );
    }

    #[test]
    fn one_finish_even_when_repeated_and_usage_in_the_finish_chunk() {
        let events = decode(&[
            r#"{"choices":[{"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":2,"completion_tokens":1}}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1}}"#,
            "[DONE]",
        ]);
        let finishes: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Finish { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect();
        assert_eq!(finishes, vec![FinishReason::MaxTokens]);
        assert!(matches!(events.last(), Some(StreamEvent::Usage(_))));
    }

    #[test]
    fn calls_without_index_are_told_apart_by_id_and_missing_ids_are_made_up() {
        let events = decode(&[
            r#"{"id":"","choices":[]}"#,
            r#"{"id":"ans-1","choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":4,"function":{"name":"h"}}]}}]}"#,
            r#"{"choices":[{"delta":{"content":null,"tool_calls":null},"finish_reason":"tool_calls"}]}"#,
        ]);
        let starts: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallStart { index, id, name } => {
                    Some((*index, id.clone(), name.clone()))
                }
                _ => None,
            })
            .collect();
        let made_up = synthesize_call_id("ans-1", 2, "h");
        assert_eq!(
            starts,
            vec![
                (0, "a".to_owned(), "f".to_owned()),
                (1, "b".to_owned(), "g".to_owned()),
                (2, made_up, "h".to_owned()),
            ]
        );
        assert_eq!(
            events[0],
            StreamEvent::MessageStart {
                upstream_id: None,
                upstream_model: None
            }
        );
    }

    #[test]
    fn error_kinds_the_encoder_writes_read_back_the_same() {
        let kinds = [
            StreamErrorKind::InvalidRequest,
            StreamErrorKind::RateLimited,
            StreamErrorKind::Overloaded,
            StreamErrorKind::Server,
            StreamErrorKind::ModelError,
            StreamErrorKind::Timeout,
            StreamErrorKind::Protocol,
            StreamErrorKind::Truncated,
        ];
        for kind in kinds {
            let meta = ResponseMeta {
                id: "x".into(),
                model: "m".into(),
                created: 0,
            };
            let mut encoder = ChunkEncoder::new(meta, false);
            let error = StreamEvent::Error(StreamError::new(kind, "boom"));
            let mut decoder = ChunkDecoder::new(&Translation::default());
            let mut decoded: Vec<_> = encoder
                .push(error.clone())
                .into_iter()
                .flat_map(|chunk| decoder.push(chunk.as_str().as_bytes()))
                .collect();
            decoded.extend(decoder.end());
            assert_eq!(decoded, vec![error], "{kind:?}");
        }
    }

    #[test]
    fn a_bare_error_message_is_a_server_error() {
        let events = decode(&[r#"{"error":"model crashed"}"#]);
        assert_eq!(
            events,
            vec![StreamEvent::Error(StreamError::new(
                StreamErrorKind::Server,
                "model crashed"
            ))]
        );
    }
}
