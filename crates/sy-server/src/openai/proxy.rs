//! The pass-through lane for OpenAI-dialect requests to OpenAI-dialect upstreams: the body is
//! forwarded as bytes with only `model` rewritten, and the answer is relayed untouched while a tap
//! reads usage.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};
use sy_core::{ErrorKind, GatewayError};
use sy_provider::{Dialect, Operation, Provider};

use sy_router::{Needs, Target};
use sy_wire::openai::head::edit_body;
use sy_wire::openai::{BodyEdit, ChatHead, EmbeddingsHead, HeadError, UsageProbe};

use super::error::{copy_client_headers, respond};
use crate::admission::Slot;
use crate::dispatch::{Dispatched, Outgoing, dispatch};
use crate::ingress::ErrorShape;
use crate::metrics::Outcome;
use crate::native;
use crate::plan::{self, authenticate};
use crate::relay::{self, Egress, SseRelay, TranslatedStream, deadline, streamed};
use crate::request::RequestContext;
use crate::state::Gateway;
use crate::translate::{self, Translator};
use sy_dialect::openai_chat::ChunkEncoder;

/// What the lane needs from a request head.
struct Head<'a> {
    model: Cow<'a, str>,
    stream: bool,
    client_wants_usage: bool,
    has_stream_options: bool,
    /// What the request needs from a deployment (hints are added from the headers).
    needs: Needs<'static>,
}

pub async fn chat_completions(State(gateway): State<Gateway>, request: Request) -> Response {
    proxy(gateway, request, Operation::ChatCompletions, |text| {
        ChatHead::parse(text).map(|h| Head {
            stream: h.is_stream(),
            client_wants_usage: h.wants_stream_usage(),
            has_stream_options: h.stream_options.is_some(),
            needs: Needs {
                chat: true,
                streaming: h.is_stream(),
                tools: h.uses_tools(),
                vision: h.has_images(),
                json_schema: h.wants_json_schema(),
                input_tokens: estimate_tokens(h.messages.get()),
                output_tokens: h.output_budget(),
                ..Needs::default()
            },
            model: h.model,
        })
    })
    .await
}

pub async fn embeddings(State(gateway): State<Gateway>, request: Request) -> Response {
    proxy(gateway, request, Operation::Embeddings, |text| {
        EmbeddingsHead::parse(text).map(|h| Head {
            needs: Needs {
                embeddings: true,
                input_tokens: estimate_tokens(h.input.get()),
                ..Needs::default()
            },
            model: h.model,
            stream: false,
            client_wants_usage: false,
            has_stream_options: false,
        })
    })
    .await
}

/// About four bytes of JSON per token: enough to keep a request away from a window it cannot fit.
fn estimate_tokens(json: &str) -> u64 {
    (json.len() as u64).div_ceil(4)
}

fn head_error(e: HeadError) -> GatewayError {
    match e.param {
        Some(param) => GatewayError::invalid_param(param, e.message),
        None => GatewayError::invalid(e.message),
    }
}

/// Takes the request whole (not the `HeaderMap` extractor, which would clone every header).
async fn proxy(
    gateway: Gateway,
    request: Request,
    operation: Operation,
    parse: impl for<'a> Fn(&'a str) -> Result<Head<'a>, HeadError>,
) -> Response {
    let endpoint = operation.name();
    let mut ctx = RequestContext::start(&gateway, endpoint);
    let slot = match gateway.admission().admit() {
        Ok(slot) => slot,
        Err(e) => return respond(ctx, &e),
    };
    let (parts, body) = request.into_parts();
    // Before the body is read: an unauthenticated caller costs no more than its headers.
    if let Err(e) = authenticate(&gateway, &mut ctx, &parts.headers).await {
        return respond(ctx, &e);
    }
    let bytes = match gateway
        .admission()
        .read_json_body(&parts.headers, body)
        .await
    {
        Ok(bytes) => bytes,
        Err(e) => return respond(ctx, &e),
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return respond(
            ctx,
            &GatewayError::invalid("the request body is not valid UTF-8"),
        );
    };
    let head = match parse(text) {
        Ok(head) => head,
        Err(e) => return respond(ctx, &head_error(e)),
    };
    ctx.model = Some(head.model.as_ref().into());
    ctx.stream = head.stream;
    ctx.input_estimate = head.needs.input_tokens;
    let snapshot = gateway.snapshot();
    let planned = match plan::admit_and_plan(
        &gateway,
        &mut ctx,
        &snapshot,
        &parts.headers,
        &head.model,
        &head.needs,
    )
    .await
    {
        Ok(planned) => planned,
        Err(e) => return respond(ctx, &e),
    };
    let (plan, max_attempts) = (planned.targets, planned.max_attempts);

    let mut translator = Translator::openai_chat(&bytes);
    if operation == Operation::ChatCompletions {
        // Before dispatch, whose per-target encoding is synchronous: see the method's comment.
        translator
            .fetch_images_if_needed(&gateway, &snapshot, &plan)
            .await;
    }
    let body_for = |target: &Target, provider: &Provider| {
        let dialect = provider.dialect();
        if dialect != Dialect::OpenAiChat {
            if operation != Operation::ChatCompletions {
                return Err(GatewayError::invalid(format!(
                    "the provider `{}` serves no {} endpoint",
                    provider.name,
                    operation.name()
                )));
            }
            if dialect == Dialect::Converse
                && native::family(&target.upstream_model) == Some(Dialect::OpenAiChat)
            {
                // gpt-oss on Bedrock takes the chat body natively through InvokeModel.
                let body = native::invoke_body(Dialect::OpenAiChat, &bytes, head.stream, &[]);
                return body.map(|body| Outgoing {
                    operation: Operation::Invoke {
                        stream: head.stream,
                    },
                    body,
                    added_stream_usage: false,
                    translated: Some((Dialect::OpenAiChat, sy_dialect::Translation::default())),
                    caller_reads_errors: false,
                    dropped: Vec::new(),
                    anthropic_beta: None,
                });
            }
            // Another dialect: decoded once, encoded for this target.
            let encoded = translator.encode(dialect, target, &provider.name)?;
            return Ok(Outgoing {
                operation: dialect.chat_operation(head.stream),
                body: Bytes::from(encoded.body),
                added_stream_usage: false,
                translated: Some((dialect, encoded.translation)),
                caller_reads_errors: false,
                dropped: encoded.dropped,
                anthropic_beta: None,
            });
        }
        // The pass-through lane: the same bytes with only the model (and usage option) edited.
        let include_usage = head.stream && !head.client_wants_usage && provider.stream_usage;
        let edit = BodyEdit {
            model: &target.upstream_model,
            include_usage,
        };
        edit_body(text, &head.model, head.has_stream_options, edit)
            .map(|body| Outgoing {
                operation,
                body,
                added_stream_usage: include_usage,
                translated: None,
                caller_reads_errors: true,
                dropped: Vec::new(),
                anthropic_beta: None,
            })
            .map_err(head_error)
    };
    let result = dispatch(&mut ctx, &snapshot, &plan, max_attempts, &body_for).await;
    let mut dispatched = match result {
        Ok(d) => d,
        Err(failure) => return ErrorShape::OpenAi.respond_to_dispatch(ctx, failure),
    };
    if let Some((dialect, translation)) = dispatched.translated.take() {
        let include_usage = head.client_wants_usage;
        return if head.stream {
            translated_stream(ctx, slot, dispatched, dialect, &translation, include_usage)
        } else {
            translated_whole(ctx, slot, dispatched, dialect, &translation).await
        };
    }
    let is_sse = dispatched
        .response
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if head.stream && is_sse {
        stream(ctx, slot, dispatched)
    } else {
        whole(ctx, slot, dispatched).await
    }
}

/// Relays a complete (non-streamed) answer, reading its usage.
async fn whole(mut ctx: RequestContext, _slot: Slot, mut dispatched: Dispatched) -> Response {
    let bytes = match relay::read_whole(&ctx, &mut dispatched).await {
        Ok(bytes) => bytes,
        Err(e) => return respond(ctx, &e),
    };
    let upstream = dispatched.response;
    ctx.usage = UsageProbe::parse(&bytes).and_then(|p| p.usage);
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = upstream.status;
    copy_client_headers(&upstream.headers, response.headers_mut());
    ctx.write_headers(response.headers_mut());
    ctx.write_cost_header(response.headers_mut());
    ctx.status = upstream.status.as_u16();
    ctx.outcome = Outcome::Completed;
    ctx.finish_sync().await;
    response
}

/// Relays an SSE stream event by event. The request's context and admission slot live inside the
/// body stream, so the request is accounted for when the stream ends, or when the client leaves.
fn stream(ctx: RequestContext, slot: Slot, dispatched: Dispatched) -> Response {
    let Dispatched {
        response: upstream,
        added_stream_usage,
        timeouts,
        ..
    } = dispatched;
    let relay = SseRelay::new(
        upstream.body,
        added_stream_usage,
        timeouts.idle,
        deadline(&ctx, &timeouts),
    );
    let mut headers = HeaderMap::new();
    copy_client_headers(&upstream.headers, &mut headers);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    streamed(ctx, slot, headers, relay)
}

/// Reads a whole answer from an upstream of another dialect and answers in OpenAI's.
async fn translated_whole(
    mut ctx: RequestContext,
    _slot: Slot,
    mut dispatched: Dispatched,
    dialect: Dialect,
    translation: &sy_dialect::Translation,
) -> Response {
    let answer = match relay::read_whole(&ctx, &mut dispatched).await {
        Ok(bytes) => translate::decode_answer(dialect, &bytes, translation),
        Err(e) => return respond(ctx, &e),
    };
    let provider = dispatched.provider;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let message = format!(
                "upstream provider `{}` answered in a form the gateway cannot read: {e}",
                provider.name
            );
            return respond(ctx, &GatewayError::new(ErrorKind::UpstreamFailed, message));
        }
    };
    ctx.translated_usage = answer.usage.as_ref().map(translate::tokens);
    let model = ctx.model.as_deref().unwrap_or_default().to_owned();
    let meta = translate::meta(ctx.id.as_str(), &model);
    let json = match sy_dialect::openai_chat::encode_response(&answer, &meta) {
        Ok(json) => json,
        Err(e) => return respond(ctx, &translate::refusal(e, &provider.name)),
    };
    let mut response = Response::new(Body::from(json));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    ctx.write_headers(response.headers_mut());
    ctx.write_cost_header(response.headers_mut());
    ctx.status = StatusCode::OK.as_u16();
    ctx.outcome = Outcome::Completed;
    ctx.finish_sync().await;
    response
}

/// Re-frames a stream from an upstream of another dialect as OpenAI chunks, event by event.
fn translated_stream(
    ctx: RequestContext,
    slot: Slot,
    dispatched: Dispatched,
    dialect: Dialect,
    translation: &sy_dialect::Translation,
    include_usage: bool,
) -> Response {
    let Dispatched {
        response: upstream,
        timeouts,
        ..
    } = dispatched;
    let model = ctx.model.as_deref().unwrap_or_default().to_owned();
    let relay = TranslatedStream::new(
        dialect,
        relay::is_event_stream(&upstream.headers),
        upstream.body,
        translation,
        Egress::Chat(ChunkEncoder::new(
            translate::meta(ctx.id.as_str(), &model),
            include_usage,
        )),
        timeouts.idle,
        deadline(&ctx, &timeouts),
    );
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    streamed(ctx, slot, headers, relay)
}
