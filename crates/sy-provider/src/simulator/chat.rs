//! Simulated chat completions: the reply is derived from the request, so the same request always
//! gets the same answer; streams are paced by the configured time to first token and token rate.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use sy_config::SimulatorSettings;
use sy_wire::openai::chat::*;
use sy_wire::openai::usage::Usage;
use sy_wire::sse;

use super::{estimate_tokens, json_response, stable_hash, unix_now};
use crate::UpstreamResponse;
use crate::body::{BodyError, UpstreamBody};

/// What the simulator decided to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub id: String,
    pub pieces: Vec<String>,
    pub tool_call: Option<(String, String, String)>,
    pub finish_reason: &'static str,
    pub usage: Usage,
}

pub(super) fn decide(request: &ChatRequest<'_>, raw: &[u8]) -> Result<Reply, String> {
    if request.n.unwrap_or(1) != 1 {
        return Err("the simulator answers one choice only (`n` must be 1)".into());
    }
    let prompt_tokens: u64 = request
        .messages
        .iter()
        .map(|m| 3 + m.content.as_ref().map_or(0, |c| estimate_tokens(&c.text())))
        .sum();
    let last = request.messages.last();
    let last_text = last
        .and_then(|m| m.content.as_ref())
        .map(Content::text)
        .unwrap_or_default();
    let excerpt: String = last_text.split_whitespace().collect::<Vec<_>>().join(" ");
    let excerpt: String = excerpt.chars().take(80).collect();
    let id = format!("chatcmpl-sim{:016x}", stable_hash(raw));

    if let Some(name) = tool_to_call(request, last.map(|m| m.role.as_ref()), &last_text) {
        let arguments = serde_json::json!({ "input": excerpt }).to_string();
        let call_id = format!(
            "call_sim{:012x}",
            stable_hash(name.as_bytes()) & 0xffff_ffff_ffff
        );
        let completion_tokens = estimate_tokens(&arguments) + 4;
        return Ok(Reply {
            id,
            pieces: Vec::new(),
            tool_call: Some((call_id, name, arguments)),
            finish_reason: "tool_calls",
            usage: usage(prompt_tokens, completion_tokens),
        });
    }

    let text = match last.map(|m| m.role.as_ref()) {
        Some("tool") => format!("The tool answered: {excerpt}"),
        _ if excerpt.is_empty() => "Hello from the Switchyard simulator.".to_owned(),
        _ => format!("Simulated answer to \"{excerpt}\" from the Switchyard simulator."),
    };
    let mut pieces: Vec<String> = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        pieces.push(if i == 0 {
            word.to_owned()
        } else {
            format!(" {word}")
        });
    }
    let limit = request
        .max_completion_tokens
        .or(request.max_tokens)
        .map(|n| n as usize);
    let finish_reason = match limit {
        Some(limit) if limit < pieces.len() => {
            pieces.truncate(limit);
            "length"
        }
        _ => "stop",
    };
    let completion_tokens = pieces.len() as u64;
    Ok(Reply {
        id,
        pieces,
        tool_call: None,
        finish_reason,
        usage: usage(prompt_tokens, completion_tokens),
    })
}

/// Calls a tool when the client forces one, or (with `auto`) when the user's last message names it.
fn tool_to_call(
    request: &ChatRequest<'_>,
    last_role: Option<&str>,
    last_text: &str,
) -> Option<String> {
    let tools = request.tools.as_ref()?;
    let names: Vec<&str> = tools
        .iter()
        .filter(|t| t.kind == "function")
        .filter_map(|t| t.function.as_ref().map(|f| f.name.as_ref()))
        .collect();
    if last_role != Some("user") {
        return None;
    }
    match &request.tool_choice {
        Some(ToolChoice::Named { function }) => Some(function.name.to_string()),
        Some(ToolChoice::Mode(mode)) if mode == "none" => None,
        Some(ToolChoice::Mode(mode)) if mode == "required" => {
            names.first().map(|n| (*n).to_owned())
        }
        _ => names
            .into_iter()
            .find(|n| last_text.contains(n))
            .map(str::to_owned),
    }
}

fn usage(prompt_tokens: u64, completion_tokens: u64) -> Usage {
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        prompt_tokens_details: None,
        completion_tokens_details: None,
    }
}

pub(super) async fn answer(
    settings: &SimulatorSettings,
    model: &str,
    body: &[u8],
) -> Result<UpstreamResponse, String> {
    let request: ChatRequest<'_> =
        serde_json::from_slice(body).map_err(|e| format!("invalid chat request: {e}"))?;
    let reply = decide(&request, body)?;
    let created = unix_now();
    if request.stream != Some(true) {
        tokio::time::sleep(settings.ttft + pace(settings, reply.pieces.len())).await;
        return Ok(json_response(
            StatusCode::OK,
            completion(&reply, model, created),
        ));
    }
    let include_usage = request
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let events = stream_events(&reply, model, created, include_usage);
    let mut response = json_response(StatusCode::OK, Vec::new());
    response.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    response
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response.body = paced(events, settings.clone());
    Ok(response)
}

fn pace(settings: &SimulatorSettings, tokens: usize) -> Duration {
    if settings.tokens_per_second > 0.0 {
        Duration::from_secs_f64(tokens as f64 / settings.tokens_per_second)
    } else {
        Duration::ZERO
    }
}

fn completion(reply: &Reply, model: &str, created: u64) -> Vec<u8> {
    let text: String = reply.pieces.concat();
    let tool_calls = reply.tool_call.as_ref().map(|(id, name, args)| {
        vec![ToolCall {
            id,
            kind: "function",
            function: FunctionCall {
                name,
                arguments: args,
            },
        }]
    });
    let body = ChatCompletion {
        id: &reply.id,
        object: "chat.completion",
        created,
        model,
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: if tool_calls.is_some() {
                    None
                } else {
                    Some(&text)
                },
                refusal: None,
                tool_calls,
            },
            finish_reason: reply.finish_reason,
            logprobs: None,
        }],
        usage: &reply.usage,
        system_fingerprint: None,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The stream as (is a content token, event bytes), ending with `[DONE]`.
pub(super) fn stream_events(
    reply: &Reply,
    model: &str,
    created: u64,
    include_usage: bool,
) -> Vec<(bool, Bytes)> {
    let usage_field = include_usage.then_some(None);
    let chunk = |delta: Delta<'_>, finish: Option<&str>| -> Bytes {
        let chunk = ChatChunk {
            id: &reply.id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
                logprobs: None,
            }],
            usage: usage_field,
        };
        sse::data_event(&serde_json::to_vec(&chunk).unwrap_or_default())
    };
    let mut events = vec![(
        false,
        chunk(
            Delta {
                role: Some("assistant"),
                content: if reply.tool_call.is_some() {
                    None
                } else {
                    Some("")
                },
                tool_calls: None,
            },
            None,
        ),
    )];
    for piece in &reply.pieces {
        events.push((
            true,
            chunk(
                Delta {
                    content: Some(piece),
                    ..Delta::default()
                },
                None,
            ),
        ));
    }
    if let Some((id, name, args)) = &reply.tool_call {
        // The call opens with its id and name, then its arguments arrive in fragments.
        let call = |id: Option<&str>, name: Option<&str>, arguments: &str| -> Bytes {
            let delta = Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: 0,
                    id,
                    kind: id.map(|_| "function"),
                    function: FunctionDelta { name, arguments },
                }]),
                ..Delta::default()
            };
            chunk(delta, None)
        };
        events.push((true, call(Some(id), Some(name), "")));
        let mid = args.len() / 2;
        let split = (0..=mid)
            .rev()
            .find(|i| args.is_char_boundary(*i))
            .unwrap_or(0);
        for part in [&args[..split], &args[split..]] {
            events.push((true, call(None, None, part)));
        }
    }
    events.push((false, chunk(Delta::default(), Some(reply.finish_reason))));
    if include_usage {
        let last = ChatChunk {
            id: &reply.id,
            object: "chat.completion.chunk",
            created,
            model,
            choices: Vec::new(),
            usage: Some(Some(&reply.usage)),
        };
        events.push((
            false,
            sse::data_event(&serde_json::to_vec(&last).unwrap_or_default()),
        ));
    }
    events.push((false, sse::data_event(b"[DONE]")));
    events
}

/// Releases events at the configured pace; cuts the stream after `fail_after_chunks` content chunks.
fn paced(events: Vec<(bool, Bytes)>, settings: SimulatorSettings) -> UpstreamBody {
    let interval = pace(&settings, 1);
    let stream = futures_util::stream::unfold(
        (events.into_iter(), 0u32, true),
        move |(mut events, mut sent, first)| {
            let settings = settings.clone();
            async move {
                let (is_token, bytes) = events.next()?;
                if first {
                    tokio::time::sleep(settings.ttft).await;
                } else if is_token && !interval.is_zero() {
                    tokio::time::sleep(interval).await;
                }
                if is_token {
                    if settings
                        .fail_after_chunks
                        .is_some_and(|limit| sent >= limit)
                    {
                        let cut = Err(BodyError(format!(
                            "simulated failure: stream cut after {sent} chunks"
                        )));
                        return Some((cut, (Vec::new().into_iter(), sent, false)));
                    }
                    sent += 1;
                }
                Some((Ok(bytes), (events, sent, false)))
            }
        },
    );
    UpstreamBody::Local(Box::pin(stream))
}

/// Concatenates a stream's events, for tests.
#[cfg(test)]
pub(super) fn concat(events: &[(bool, Bytes)]) -> Bytes {
    let mut out = bytes::BytesMut::new();
    for (_, e) in events {
        out.extend_from_slice(e);
    }
    out.freeze()
}
