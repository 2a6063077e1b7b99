//! Gemini SSE (`alt=sse`) chunks → canonical stream events, one `data:` payload at a time.
//!
//! Each chunk holds only new parts; function calls arrive whole (start + one argument fragment),
//! each with its own tool index in arrival order even when parallel calls share a chunk or a name.
//! A call's arguments are held until a part that does not continue it arrives, as a later part
//! with `args` but no `name` carries more of the call before it (E21); a nameless call with no
//! call before it is an error.
//! `usageMetadata` is cumulative: it is reported with the finish and again if a later chunk
//! changes it. A stream that ends without a finish reason is an error (Gemini has no in-band one).

use crate::Translation;
use crate::canonical::{FinishReason, RawJson, StreamError, StreamErrorKind, StreamEvent, Usage};

use super::response::{Chunk, finish_reason, merge_arguments, tool_call};

#[derive(Debug)]
pub struct GeminiStreamDecoder {
    translation: Translation,
    started: bool,
    tool_calls: u32,
    /// The last call's index and arguments, sent once a part that does not continue it arrives
    /// (a later part with `args` but no `name` carries more of it, E21).
    held_arguments: Option<(u32, RawJson)>,
    finished: bool,
    done: bool,
    usage: Option<Usage>,
}

impl GeminiStreamDecoder {
    pub fn new(translation: &Translation) -> Self {
        Self {
            translation: translation.clone(),
            started: false,
            tool_calls: 0,
            held_arguments: None,
            finished: false,
            done: false,
            usage: None,
        }
    }

    /// One SSE `data:` payload (a `GenerateContentResponse`).
    pub fn push(&mut self, data: &[u8]) -> Vec<StreamEvent> {
        if self.done {
            return Vec::new();
        }
        let chunk: Chunk = match serde_json::from_slice(data) {
            Ok(chunk) => chunk,
            Err(e) => {
                return self.fail(
                    StreamErrorKind::Protocol,
                    format!("unreadable Gemini chunk: {e}"),
                );
            }
        };
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                upstream_id: chunk.response_id.clone(),
                upstream_model: chunk.model_version.clone(),
            });
        }
        let usage = chunk.usage_metadata.map(|u| u.to_canonical());
        let answer_id = chunk.response_id.unwrap_or_default();
        let Some(candidate) = chunk.candidates.into_iter().next() else {
            if chunk.prompt_feedback.and_then(|f| f.block_reason).is_some() {
                self.finish(FinishReason::ContentFilter, usage, &mut out);
            } else {
                self.update_usage(usage, &mut out);
            }
            return out;
        };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                if call.continues_previous()
                    && let Some((_, arguments)) = &mut self.held_arguments
                {
                    match merge_arguments(arguments, call.args.as_deref()) {
                        Ok(merged) => *arguments = merged,
                        Err(e) => {
                            out.extend(self.fail(StreamErrorKind::Protocol, e));
                            return out;
                        }
                    }
                    continue;
                }
                self.release_arguments(&mut out);
                let index = self.tool_calls;
                let position = usize::try_from(index).unwrap_or(usize::MAX);
                let signature = part.thought_signature.as_deref();
                let call = match tool_call(call, signature, &answer_id, position, &self.translation)
                {
                    Ok(call) => call,
                    Err(e) => {
                        out.extend(self.fail(StreamErrorKind::Protocol, e));
                        return out;
                    }
                };
                self.tool_calls += 1;
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id: call.id,
                    name: call.name,
                });
                self.held_arguments = Some((index, call.arguments));
            } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                self.release_arguments(&mut out);
                out.push(if part.thought {
                    StreamEvent::ReasoningDelta(text)
                } else {
                    StreamEvent::TextDelta(text)
                });
            }
        }
        match candidate.finish_reason {
            Some(reason) if !self.finished => match finish_reason(&reason, self.tool_calls > 0) {
                Ok(reason) => self.finish(reason, usage, &mut out),
                Err(message) => {
                    out.extend(self.fail(StreamErrorKind::ModelError, message));
                }
            },
            _ => self.update_usage(usage, &mut out),
        }
        out
    }

    /// The upstream stream ended; without a finish reason the answer was cut short.
    pub fn end(&mut self) -> Vec<StreamEvent> {
        if self.done || self.finished {
            self.done = true;
            return Vec::new();
        }
        self.fail(
            StreamErrorKind::Truncated,
            "the Gemini stream ended without a finish reason",
        )
    }

    /// Sends the held call's arguments: nothing can continue that call any more.
    fn release_arguments(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, arguments)) = self.held_arguments.take() {
            out.push(StreamEvent::ToolCallArgsDelta {
                index,
                fragment: arguments.as_str().to_owned(),
            });
        }
    }

    fn finish(&mut self, reason: FinishReason, usage: Option<Usage>, out: &mut Vec<StreamEvent>) {
        self.release_arguments(out);
        self.finished = true;
        out.push(StreamEvent::Finish {
            reason,
            stop_sequence: None,
        });
        if let Some(usage) = usage.or(self.usage) {
            self.usage = Some(usage);
            out.push(StreamEvent::Usage(usage));
        }
    }

    /// Before the finish, usage is only remembered; after it, a change is reported.
    fn update_usage(&mut self, usage: Option<Usage>, out: &mut Vec<StreamEvent>) {
        let Some(usage) = usage else { return };
        let changed = self.usage != Some(usage);
        self.usage = Some(usage);
        if self.finished && changed {
            out.push(StreamEvent::Usage(usage));
        }
    }

    fn fail(&mut self, kind: StreamErrorKind, message: impl Into<String>) -> Vec<StreamEvent> {
        self.done = true;
        vec![StreamEvent::Error(StreamError::new(kind, message))]
    }
}
