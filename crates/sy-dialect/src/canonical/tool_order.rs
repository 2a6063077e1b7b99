//! Parallel tool calls one after another, for callers whose content blocks cannot interleave
//! (Anthropic Messages, Converse).
//!
//! OpenAI-compatible upstreams may interleave the argument fragments of parallel calls: each
//! chunk names its call's index, so a fragment of call 0 may follow the start of call 1. A block
//! caller has no way to say that, and refusing the answer would fail a good tool loop. So a call
//! stays the open one until its arguments form a whole JSON value; a call that starts before then
//! is held, with its fragments, and released when the open call is whole, or when anything else
//! (text, reasoning, the finish) arrives. Calls sent one after another, as OpenAI sends them, pass
//! through fragment by fragment as before.

use super::StreamEvent;

#[derive(Debug, Default)]
pub(crate) struct ToolCallOrder {
    /// The call whose fragments pass through, and how far its arguments have come.
    open: Option<(u32, WholeJson)>,
    /// Calls started while the open one was not whole, in arrival order.
    held: Vec<HeldCall>,
}

#[derive(Debug)]
struct HeldCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
}

impl ToolCallOrder {
    /// Passes `event` to `emit`, or holds it; releases held calls (each its start, then its
    /// arguments in one fragment) before the event that lets them go.
    pub(crate) fn order(&mut self, event: StreamEvent, mut emit: impl FnMut(StreamEvent)) {
        match event {
            StreamEvent::ToolCallStart { index, id, name } => {
                let open_is_whole = self.open.as_ref().is_none_or(|(_, args)| args.whole);
                if open_is_whole && self.held.is_empty() {
                    self.open = Some((index, WholeJson::default()));
                    emit(StreamEvent::ToolCallStart { index, id, name });
                } else {
                    self.held.push(HeldCall {
                        index,
                        id,
                        name,
                        arguments: String::new(),
                    });
                }
            }
            StreamEvent::ToolCallArgsDelta { index, fragment } => match &mut self.open {
                Some((open, args)) if *open == index => {
                    args.feed(&fragment);
                    let whole = args.whole;
                    emit(StreamEvent::ToolCallArgsDelta { index, fragment });
                    if whole {
                        self.release(&mut emit, false);
                    }
                }
                _ => match self.held.iter_mut().find(|call| call.index == index) {
                    Some(call) => call.arguments.push_str(&fragment),
                    // A fragment of a call already closed: the encoder refuses it.
                    None => emit(StreamEvent::ToolCallArgsDelta { index, fragment }),
                },
            },
            // Neither opens nor closes a block.
            StreamEvent::MessageStart { .. } | StreamEvent::Usage(_) | StreamEvent::Error(_) => {
                emit(event);
            }
            _ => {
                self.release(&mut emit, true);
                // The encoder closes the tool block for whatever comes now.
                self.open = None;
                emit(event);
            }
        }
    }

    /// Releases held calls in order: all of them, or (`all` false) while the one released last
    /// is whole.
    fn release(&mut self, emit: &mut impl FnMut(StreamEvent), all: bool) {
        let mut released = 0;
        for call in &mut self.held {
            if !all && self.open.as_ref().is_some_and(|(_, args)| !args.whole) {
                break;
            }
            let mut args = WholeJson::default();
            args.feed(&call.arguments);
            self.open = Some((call.index, args));
            emit(StreamEvent::ToolCallStart {
                index: call.index,
                id: std::mem::take(&mut call.id),
                name: std::mem::take(&mut call.name),
            });
            if !call.arguments.is_empty() {
                emit(StreamEvent::ToolCallArgsDelta {
                    index: call.index,
                    fragment: std::mem::take(&mut call.arguments),
                });
            }
            released += 1;
        }
        self.held.drain(..released);
    }
}

/// Whether text fed so far holds a whole JSON object or array (tool arguments are objects): the
/// brackets outside strings balance after at least one opened.
#[derive(Debug, Default)]
struct WholeJson {
    depth: u32,
    in_string: bool,
    escaped: bool,
    whole: bool,
}

impl WholeJson {
    fn feed(&mut self, text: &str) {
        for byte in text.bytes() {
            if self.whole {
                return;
            }
            if self.in_string {
                match byte {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth > 0 => {
                    self.depth -= 1;
                    self.whole = self.depth == 0;
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(index: u32) -> StreamEvent {
        StreamEvent::ToolCallStart {
            index,
            id: format!("call_{index}"),
            name: format!("f{index}"),
        }
    }

    fn args(index: u32, fragment: &str) -> StreamEvent {
        StreamEvent::ToolCallArgsDelta {
            index,
            fragment: fragment.to_owned(),
        }
    }

    fn ordered(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
        let mut order = ToolCallOrder::default();
        let mut out = Vec::new();
        for event in events {
            order.order(event, |e| out.push(e));
        }
        out
    }

    #[test]
    fn calls_sent_one_after_another_pass_fragment_by_fragment() {
        let events = vec![
            start(0),
            args(0, "{\"a\":"),
            args(0, "1}"),
            start(1),
            args(1, "{\"b\":"),
            args(1, "2}"),
            StreamEvent::TextDelta("done".to_owned()),
        ];
        assert_eq!(ordered(events.clone()), events);
    }

    #[test]
    fn an_interleaved_call_is_held_until_the_open_one_is_whole() {
        let out = ordered(vec![
            start(0),
            args(0, "{\"city\":"),
            start(1),
            args(1, "{\"tz\":"),
            args(0, "\"Pa}ris\"}"),
            args(1, "\"Rome\"}"),
        ]);
        assert_eq!(
            out,
            vec![
                start(0),
                args(0, "{\"city\":"),
                args(0, "\"Pa}ris\"}"),
                start(1),
                args(1, "{\"tz\":"),
                args(1, "\"Rome\"}"),
            ]
        );
    }

    #[test]
    fn held_calls_are_released_in_order_before_whatever_else_comes() {
        let finish = StreamEvent::Finish {
            reason: crate::canonical::FinishReason::ToolCalls,
            stop_sequence: None,
        };
        let out = ordered(vec![
            start(0),
            start(1),
            start(2),
            args(2, "{\"c\":\"\\\"}\"}"),
            args(1, "{}"),
            StreamEvent::Usage(Default::default()),
            finish.clone(),
        ]);
        assert_eq!(
            out,
            vec![
                start(0),
                StreamEvent::Usage(Default::default()),
                start(1),
                args(1, "{}"),
                start(2),
                args(2, "{\"c\":\"\\\"}\"}"),
                finish,
            ]
        );
    }

    #[test]
    fn a_fragment_of_a_call_already_passed_goes_on_for_the_encoder_to_refuse() {
        let out = ordered(vec![
            start(0),
            args(0, "{}"),
            StreamEvent::TextDelta("x".to_owned()),
            args(0, "{}"),
        ]);
        assert_eq!(out.last(), Some(&args(0, "{}")));
    }

    #[test]
    fn whole_json_ignores_brackets_in_strings() {
        let mut json = WholeJson::default();
        json.feed("{\"a\":\"}]\\\\\"");
        assert!(!json.whole);
        json.feed(",\"b\":[1,{}]");
        assert!(!json.whole);
        json.feed("}");
        assert!(json.whole);
    }
}
