//! The lanes for callers of the Anthropic, Bedrock Runtime and OpenAI Responses dialects.
//!
//! Each endpoint decodes its body into the canonical model (its head gives the model and whether
//! to stream); from there one pipeline serves them all: admit and plan, encode for each target
//! tried (or, for the same dialect, pass the caller's bytes through with only the model edited),
//! and encode the answer, whole or event by event, back in the caller's dialect.

pub mod anthropic;
pub mod bedrock;
mod count;
mod errors;
pub mod responses;

use std::borrow::Cow;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use sy_core::{ErrorKind, GatewayError};
use sy_dialect::anthropic::AnthropicStreamEncoder;
use sy_dialect::canonical::{Part, PartKind, Request as Canonical, ResponseFormat};
use sy_dialect::converse::ConverseStreamEncoder;
use sy_dialect::openai_chat::ChunkEncoder;
use sy_dialect::openai_responses::{RequestEcho, ResponsesStreamEncoder};
use sy_dialect::{
    Decoded, DialectError, ResponseMeta, Translation, anthropic as ant, converse, openai_chat,
    openai_responses,
};
use sy_provider::{Dialect, Operation, Provider};
use sy_router::{Needs, Target};
use sy_wire::openai::BodyEdit;
use sy_wire::openai::head::edit_body;

use crate::admission::Slot;
use crate::dispatch::{Dispatched, Outgoing, anthropic_beta_header, dispatch};
use crate::metrics::Outcome;
use crate::native;
use crate::plan;
use crate::relay::{
    self, Egress, InvokeStream, Native, TappedSse, TranslatedStream, deadline, streamed,
};
use crate::request::RequestContext;
use crate::state::Gateway;
use crate::translate::{self, Translator};

pub use errors::ErrorShape;

/// An Anthropic caller's beta flags, from its `anthropic-beta` headers.
pub fn anthropic_betas(headers: &HeaderMap) -> Vec<String> {
    ant::betas_from_header(
        headers
            .get_all("anthropic-beta")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// The caller's dialect, which decides the answer's encoding and framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// Anthropic `POST /v1/messages`.
    Anthropic,
    /// Bedrock `POST /model/{id}/converse` and `/converse-stream`.
    Converse,
    /// Bedrock `POST /model/{id}/invoke(-with-response-stream)` with an Anthropic-on-Bedrock body.
    InvokeAnthropic,
    /// Bedrock `POST /model/{id}/invoke(-with-response-stream)` with an OpenAI chat body.
    InvokeChat,
    /// OpenAI `POST /v1/responses`.
    Responses,
}

impl Ingress {
    pub fn errors(self) -> ErrorShape {
        match self {
            Self::Anthropic => ErrorShape::Anthropic,
            Self::Converse | Self::InvokeAnthropic | Self::InvokeChat => ErrorShape::Bedrock,
            Self::Responses => ErrorShape::OpenAi,
        }
    }

    /// The model format the caller's body is in, which Bedrock models of that family take
    /// natively through InvokeModel.
    fn native_format(self) -> Option<Dialect> {
        match self {
            Self::Anthropic | Self::InvokeAnthropic => Some(Dialect::Anthropic),
            Self::InvokeChat => Some(Dialect::OpenAiChat),
            Self::Converse | Self::Responses => None,
        }
    }

    /// The upstream dialect whose requests are the caller's own bytes, passed through.
    fn pass_through(self) -> Option<Dialect> {
        match self {
            Self::Anthropic => Some(Dialect::Anthropic),
            Self::Converse => Some(Dialect::Converse),
            _ => None,
        }
    }
}

/// A decoded call, ready to route.
pub struct Call {
    pub ingress: Ingress,
    /// The gateway model name the caller asked for.
    pub model: String,
    pub stream: bool,
    /// The canonical request, or the caller's field no other dialect can carry (then only the
    /// lanes that send the caller's own body can serve it).
    pub decoded: Result<Decoded, DialectError>,
    /// What a Responses answer repeats of its request.
    pub echo: Option<RequestEcho>,
    /// The caller's body as sent, for the pass-through lane.
    pub body: Bytes,
}

/// A body's `model` and `stream`, borrowed where they can be (the pass-through edit needs the
/// model's place in the text).
#[derive(Deserialize)]
struct ModelHead<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
}

/// Reads `model` (required) and `stream` from a JSON body.
pub fn read_head(body: &[u8]) -> Result<(String, bool), GatewayError> {
    let head: ModelHead<'_> = serde_json::from_slice(body)
        .map_err(|e| GatewayError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let model = head
        .model
        .filter(|m| !m.is_empty())
        .ok_or_else(|| GatewayError::invalid_param("model", "`model` is required"))?;
    Ok((model.into_owned(), head.stream.unwrap_or(false)))
}

/// A request's needs of a deployment, from its canonical form.
fn needs_of(request: &Canonical, body_len: usize) -> Needs<'static> {
    let parts = || {
        request
            .messages
            .iter()
            .flat_map(|m| m.content.iter())
            .map(|p: &Part| &p.kind)
    };
    Needs {
        chat: true,
        streaming: request.stream,
        tools: !request.tools.is_empty(),
        vision: parts().any(|k| matches!(k, PartKind::Image(_))),
        json_schema: matches!(
            request.response_format,
            Some(ResponseFormat::JsonSchema { .. })
        ),
        // About four bytes of JSON per token, as on the OpenAI lane.
        input_tokens: (body_len as u64).div_ceil(4),
        output_tokens: request.max_output_tokens.map(u64::from),
        ..Needs::default()
    }
}

/// Routes a decoded call and answers in the caller's dialect.
pub async fn run(
    gateway: Gateway,
    mut ctx: RequestContext,
    slot: Slot,
    headers: &HeaderMap,
    call: Call,
) -> Response {
    let shape = call.ingress.errors();
    if let Ok(decoded) = &call.decoded
        && decoded.request.messages.is_empty()
    {
        // Every vendor refuses a conversation with no turns; so does the gateway, before routing.
        let field = if call.ingress == Ingress::Responses {
            "input"
        } else {
            "messages"
        };
        let e = GatewayError::invalid_param(field, format!("`{field}` must not be empty"));
        return shape.respond(ctx, &e);
    }
    ctx.model = Some(call.model.as_str().into());
    ctx.stream = call.stream;
    let needs = match &call.decoded {
        Ok(decoded) => needs_of(&decoded.request, call.body.len()),
        Err(_) => Needs {
            chat: true,
            streaming: call.stream,
            input_tokens: (call.body.len() as u64).div_ceil(4),
            ..Needs::default()
        },
    };
    ctx.input_estimate = needs.input_tokens;
    let snapshot = gateway.snapshot();
    let planned =
        match plan::admit_and_plan(&gateway, &mut ctx, &snapshot, headers, &call.model, &needs)
            .await
        {
            Ok(planned) => planned,
            Err(e) => return shape.respond(ctx, &e),
        };
    let Call {
        ingress,
        model,
        stream,
        mut decoded,
        echo,
        body,
    } = call;
    // An Anthropic caller's beta flags come in a header; other callers' are in their bodies.
    let caller_betas = if ingress == Ingress::Anthropic {
        anthropic_betas(headers)
    } else {
        Vec::new()
    };
    if let Ok(decoded) = &mut decoded
        && !caller_betas.is_empty()
    {
        decoded.request.anthropic_betas.clone_from(&caller_betas);
    }
    let caller_beta_header = anthropic_beta_header(&caller_betas);
    let mut translator = Translator::decoded(decoded);
    // Before dispatch, whose per-target encoding is synchronous: see the method's comment.
    translator
        .fetch_images_if_needed(&gateway, &snapshot, &planned.targets)
        .await;
    let body_for = |target: &Target, provider: &Provider| {
        let dialect = provider.dialect();
        if ingress.pass_through() == Some(dialect) {
            if dialect == Dialect::Converse {
                // The model id is in the path: the body goes as the caller sent it (guardrails
                // and all); the answer is read back through the Converse codec.
                return Ok(Outgoing {
                    operation: dialect.chat_operation(stream),
                    body: body.clone(),
                    added_stream_usage: false,
                    translated: Some((Dialect::Converse, Translation::default())),
                    caller_reads_errors: true,
                    dropped: Vec::new(),
                    anthropic_beta: None,
                });
            }
            return pass_through_body(&body, &target.upstream_model).map(|body| Outgoing {
                operation: dialect.chat_operation(stream),
                body,
                added_stream_usage: false,
                translated: None,
                caller_reads_errors: true,
                dropped: Vec::new(),
                anthropic_beta: caller_beta_header.clone(),
            });
        }
        if dialect == Dialect::Converse
            && let Some(native) = ingress.native_format()
            && native::family(&target.upstream_model) == Some(native)
        {
            // The model takes the caller's own format through InvokeModel: nothing is lost to
            // Converse. An Anthropic caller's answer needs no translation either.
            let body = native::invoke_body(native, &body, stream, &caller_betas)?;
            let translated =
                (ingress != Ingress::Anthropic).then(|| (native, Translation::default()));
            return Ok(Outgoing {
                operation: Operation::Invoke { stream },
                body,
                added_stream_usage: false,
                translated,
                // Bedrock's errors, rendered in the caller's shape.
                caller_reads_errors: false,
                dropped: Vec::new(),
                anthropic_beta: None,
            });
        }
        let encoded = translator.encode(dialect, target, &provider.name)?;
        // Anthropic's API takes the beta flags as a header; Bedrock's encoder put them in the body.
        let anthropic_beta = match dialect {
            Dialect::Anthropic => anthropic_beta_header(&translator.request()?.anthropic_betas),
            _ => None,
        };
        Ok(Outgoing {
            operation: dialect.chat_operation(stream),
            body: Bytes::from(encoded.body),
            added_stream_usage: false,
            translated: Some((dialect, encoded.translation)),
            caller_reads_errors: false,
            dropped: encoded.dropped,
            anthropic_beta,
        })
    };
    let result = dispatch(
        &mut ctx,
        &snapshot,
        &planned.targets,
        planned.max_attempts,
        &body_for,
    )
    .await;
    let mut dispatched = match result {
        Ok(d) => d,
        Err(failure) => return shape.respond_to_dispatch(ctx, failure),
    };
    let answer = Answer {
        ingress,
        model,
        echo,
    };
    match dispatched.translated.take() {
        None if stream => answer.pass_through_stream(ctx, slot, dispatched),
        None => answer.pass_through_whole(ctx, dispatched).await,
        Some((dialect, translation)) if stream => {
            answer.translated_stream(ctx, slot, dispatched, dialect, &translation)
        }
        Some((dialect, translation)) => {
            answer
                .translated_whole(ctx, dispatched, dialect, &translation)
                .await
        }
    }
}

/// The caller's bytes with only the top-level `model` rewritten.
fn pass_through_body(body: &Bytes, upstream_model: &str) -> Result<Bytes, GatewayError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| GatewayError::invalid("the request body is not valid UTF-8"))?;
    // Borrowed from the text (when it has no escapes), so the edit can splice the bytes.
    #[derive(Deserialize)]
    struct Model<'a> {
        #[serde(borrow)]
        model: Cow<'a, str>,
    }
    let head: Model<'_> = serde_json::from_str(text)
        .map_err(|e| GatewayError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let model = head.model;
    let edit = BodyEdit {
        model: upstream_model,
        include_usage: false,
    };
    edit_body(text, &model, false, edit).map_err(|e| GatewayError::invalid(e.message))
}

/// What encoding the answer needs to know about the call.
struct Answer {
    ingress: Ingress,
    model: String,
    echo: Option<RequestEcho>,
}

impl Answer {
    fn meta(&self, ctx: &RequestContext) -> ResponseMeta {
        let id = ctx.id.as_str();
        let id = match self.ingress {
            Ingress::Anthropic | Ingress::InvokeAnthropic => format!("msg_{id}"),
            Ingress::InvokeChat => format!("chatcmpl-{id}"),
            Ingress::Responses => format!("resp_{id}"),
            Ingress::Converse => id.to_owned(),
        };
        ResponseMeta {
            id,
            model: self.model.clone(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// The answer in the caller's dialect.
    fn encode(
        &self,
        answer: &sy_dialect::canonical::Response,
        meta: &ResponseMeta,
        latency_ms: u64,
    ) -> Result<Vec<u8>, DialectError> {
        match self.ingress {
            Ingress::Anthropic | Ingress::InvokeAnthropic => ant::encode_response(answer, meta),
            Ingress::Converse => converse::encode_response(answer, latency_ms),
            Ingress::InvokeChat => openai_chat::encode_response(answer, meta),
            Ingress::Responses => {
                let echo = self.echo.clone().unwrap_or_default();
                openai_responses::encode_response(answer, meta, &echo)
            }
        }
    }

    /// The encoder and framing for a streamed answer.
    fn egress(&self, meta: ResponseMeta) -> Egress {
        match self.ingress {
            Ingress::Anthropic => Egress::Anthropic(AnthropicStreamEncoder::new(meta)),
            Ingress::Converse => Egress::Converse(ConverseStreamEncoder::new()),
            Ingress::InvokeAnthropic => Egress::Invoke(Box::new(InvokeStream::new(
                Native::Anthropic(AnthropicStreamEncoder::new(meta)),
            ))),
            Ingress::InvokeChat => Egress::Invoke(Box::new(InvokeStream::new(Native::Chat(
                ChunkEncoder::new(meta, true),
            )))),
            Ingress::Responses => {
                let echo = self.echo.clone().unwrap_or_default();
                Egress::Responses(Box::new(ResponsesStreamEncoder::new(meta, echo)))
            }
        }
    }

    /// The headers a streamed answer starts with.
    fn stream_headers(&self, ctx: &RequestContext) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match self.ingress {
            Ingress::Anthropic | Ingress::Responses => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
            }
            Ingress::Converse | Ingress::InvokeAnthropic | Ingress::InvokeChat => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/vnd.amazon.eventstream"),
                );
                if self.ingress != Ingress::Converse {
                    headers.insert(
                        "x-amzn-bedrock-content-type",
                        HeaderValue::from_static("application/json"),
                    );
                }
            }
        }
        self.identity_headers(ctx, &mut headers);
        headers
    }

    /// The request id under the dialect's own header name.
    fn identity_headers(&self, ctx: &RequestContext, headers: &mut HeaderMap) {
        let Ok(id) = HeaderValue::from_str(ctx.id.as_str()) else {
            return;
        };
        match self.ingress.errors() {
            ErrorShape::Anthropic => headers.insert("request-id", id),
            ErrorShape::Bedrock => headers.insert("x-amzn-requestid", id),
            ErrorShape::OpenAi => None,
        };
    }

    async fn translated_whole(
        self,
        mut ctx: RequestContext,
        mut dispatched: Dispatched,
        dialect: Dialect,
        translation: &Translation,
    ) -> Response {
        let shape = self.ingress.errors();
        let bytes = match relay::read_whole(&ctx, &mut dispatched).await {
            Ok(bytes) => bytes,
            Err(e) => return shape.respond(ctx, &e),
        };
        let provider = dispatched.provider.name.clone();
        let answer = match translate::decode_answer(dialect, &bytes, translation) {
            Ok(answer) => answer,
            Err(e) => {
                let message = format!(
                    "upstream provider `{provider}` answered in a form the gateway cannot read: {e}"
                );
                return shape.respond(ctx, &GatewayError::new(ErrorKind::UpstreamFailed, message));
            }
        };
        ctx.translated_usage = answer.usage.as_ref().map(translate::tokens);
        let meta = self.meta(&ctx);
        let latency_ms = ctx.started.elapsed().as_millis() as u64;
        let json = match self.encode(&answer, &meta, latency_ms) {
            Ok(json) => json,
            Err(e) => return shape.respond(ctx, &translate::refusal(e, &provider)),
        };
        let mut response = Response::new(Body::from(json));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.ingress == Ingress::InvokeAnthropic || self.ingress == Ingress::InvokeChat {
            // InvokeModel reports its counts in headers.
            if let Some(usage) = &answer.usage {
                headers.insert(
                    "x-amzn-bedrock-input-token-count",
                    HeaderValue::from(usage.input_total()),
                );
                headers.insert(
                    "x-amzn-bedrock-output-token-count",
                    HeaderValue::from(usage.output_total()),
                );
            }
            headers.insert(
                "x-amzn-bedrock-invocation-latency",
                HeaderValue::from(latency_ms),
            );
        }
        self.identity_headers(&ctx, headers);
        complete(ctx, response).await
    }

    fn translated_stream(
        self,
        ctx: RequestContext,
        slot: Slot,
        dispatched: Dispatched,
        dialect: Dialect,
        translation: &Translation,
    ) -> Response {
        let egress = self.egress(self.meta(&ctx));
        let event_stream = relay::is_event_stream(&dispatched.response.headers);
        let relay = TranslatedStream::new(
            dialect,
            event_stream,
            dispatched.response.body,
            translation,
            egress,
            dispatched.timeouts.idle,
            deadline(&ctx, &dispatched.timeouts),
        );
        let headers = self.stream_headers(&ctx);
        streamed(ctx, slot, headers, relay)
    }

    /// A same-dialect answer, relayed as sent; its usage is read on the way.
    async fn pass_through_whole(
        self,
        mut ctx: RequestContext,
        mut dispatched: Dispatched,
    ) -> Response {
        let shape = self.ingress.errors();
        let bytes = match relay::read_whole(&ctx, &mut dispatched).await {
            Ok(bytes) => bytes,
            Err(e) => return shape.respond(ctx, &e),
        };
        ctx.translated_usage = ant::decode_response(&bytes, &Translation::default())
            .ok()
            .and_then(|answer| answer.usage)
            .as_ref()
            .map(translate::tokens);
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = dispatched.response.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.identity_headers(&ctx, headers);
        complete(ctx, response).await
    }

    /// A same-dialect stream, relayed event by event as sent; its usage is read on the way.
    fn pass_through_stream(
        self,
        ctx: RequestContext,
        slot: Slot,
        dispatched: Dispatched,
    ) -> Response {
        // Claude on Bedrock answers InvokeModelWithResponseStream in event-stream frames.
        let invoke = relay::is_event_stream(&dispatched.response.headers);
        let relay = TappedSse::new(
            dispatched.response.body,
            invoke,
            dispatched.timeouts.idle,
            deadline(&ctx, &dispatched.timeouts),
        );
        let headers = self.stream_headers(&ctx);
        streamed(ctx, slot, headers, relay)
    }
}

/// A whole answer's last step: routing headers, the cost, and the request's record.
async fn complete(mut ctx: RequestContext, mut response: Response) -> Response {
    ctx.write_headers(response.headers_mut());
    ctx.write_cost_header(response.headers_mut());
    ctx.status = StatusCode::OK.as_u16();
    ctx.outcome = Outcome::Completed;
    ctx.finish_sync().await;
    response
}

/// A request accepted for work: its context, admission slot, head and body.
pub struct Accepted {
    pub ctx: RequestContext,
    pub slot: Slot,
    pub parts: http::request::Parts,
    pub body: Bytes,
}

/// Admits a request, authenticates it by key (Bearer or `x-api-key`) and reads its JSON body;
/// a refusal is already rendered in `shape`.
pub async fn accept(
    gateway: &Gateway,
    request: axum::extract::Request,
    endpoint: &'static str,
    shape: ErrorShape,
) -> Result<Accepted, Response> {
    let mut ctx = RequestContext::start(gateway, endpoint);
    let slot = match gateway.admission().admit() {
        Ok(slot) => slot,
        Err(e) => return Err(shape.respond(ctx, &e)),
    };
    let (parts, body) = request.into_parts();
    // Before the body is read: an unauthenticated caller costs no more than its headers.
    if let Err(e) = plan::authenticate(gateway, &mut ctx, &parts.headers).await {
        return Err(shape.respond(ctx, &e));
    }
    match gateway
        .admission()
        .read_json_body(&parts.headers, body)
        .await
    {
        Ok(body) => Ok(Accepted {
            ctx,
            slot,
            parts,
            body,
        }),
        Err(e) => Err(shape.respond(ctx, &e)),
    }
}

/// A codec's refusal of the caller's own request.
fn invalid(e: DialectError) -> GatewayError {
    translate::refusal(e, translate::THIS_GATEWAY)
}

/// A decode that may leave the request out of the canonical model: a field no other dialect can
/// carry still lets the lanes that send the caller's own body serve it; any other fault is the
/// caller's 400.
pub fn lenient(
    decoded: Result<Decoded, DialectError>,
) -> Result<Result<Decoded, DialectError>, GatewayError> {
    match decoded {
        Err(e @ DialectError::Untranslatable { .. }) => Ok(Err(e)),
        Err(e) => Err(invalid(e)),
        Ok(decoded) => Ok(Ok(decoded)),
    }
}
