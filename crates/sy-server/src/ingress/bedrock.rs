//! Bedrock Runtime ingress, for callers using boto3 and the other AWS SDKs with their endpoint
//! pointed here: `POST /model/{modelId}/converse`, `/converse-stream`, `/invoke` and
//! `/invoke-with-response-stream`. The model id is a gateway model name, percent-decoded as AWS
//! encodes it. Callers authenticate with `Authorization: Bearer` (what boto3 sends with
//! `AWS_BEARER_TOKEN_BEDROCK`) or sign with SigV4 using a gateway-issued access key pair.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value};
use sy_core::GatewayError;
use sy_dialect::{Decoded, anthropic as ant, converse, openai_chat};
use sy_provider::Dialect;

use super::count::{Counting, count};
use super::{Accepted, Call, ErrorShape, Ingress, errors, invalid, lenient, run};
use crate::native::BEDROCK_ANTHROPIC_VERSION;
use crate::plan;
use crate::request::RequestContext;
use crate::sigv4::{self, Payload, SignedRequest};
use crate::state::Gateway;

const SHAPE: ErrorShape = ErrorShape::Bedrock;

pub async fn converse(
    State(gateway): State<Gateway>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    serve_converse(gateway, model, request, false).await
}

pub async fn converse_stream(
    State(gateway): State<Gateway>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    serve_converse(gateway, model, request, true).await
}

pub async fn invoke(
    State(gateway): State<Gateway>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    serve_invoke(gateway, model, request, false).await
}

pub async fn invoke_stream(
    State(gateway): State<Gateway>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    serve_invoke(gateway, model, request, true).await
}

/// Bedrock's CountTokens (`{"input": {"converse": ...}}` or `{"input": {"invokeModel": ...}}`):
/// asked of the model's Bedrock deployment when it has one, else estimated.
pub async fn count_tokens(
    State(gateway): State<Gateway>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    let accepted = match accept(&gateway, request, "count_tokens").await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let input = serde_json::from_slice::<Value>(&accepted.body)
        .ok()
        .filter(|body| body["input"].is_object());
    if input.is_none() {
        let e = GatewayError::invalid_param(
            "input",
            "the body must be {\"input\": {\"converse\": {...}}} or {\"input\": {\"invokeModel\": {...}}}",
        );
        return SHAPE.respond(accepted.ctx, &e);
    }
    let counting = Counting {
        shape: SHAPE,
        dialect: Dialect::Converse,
        body_for: &|body, _| Ok(body.clone()),
        estimate: &|tokens| serde_json::json!({ "inputTokens": tokens }),
    };
    count(&gateway, accepted, model, &counting).await
}

/// An operation this gateway does not serve under `/model/`, answered as Bedrock does.
pub async fn unknown_operation(State(gateway): State<Gateway>, uri: http::Uri) -> Response {
    let ctx = RequestContext::start(&gateway, "unknown");
    let operation = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    let e = GatewayError::new(
        sy_core::ErrorKind::RouteNotFound,
        format!(
            "the Bedrock Runtime operation `{operation}` is not served by this gateway; it serves converse, converse-stream, invoke, invoke-with-response-stream and count-tokens"
        ),
    );
    SHAPE.respond(ctx, &e)
}

async fn serve_converse(
    gateway: Gateway,
    model: String,
    request: Request,
    stream: bool,
) -> Response {
    let endpoint = if stream {
        "converse_stream"
    } else {
        "converse"
    };
    let Accepted {
        ctx,
        slot,
        parts,
        body,
    } = match accept(&gateway, request, endpoint).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let mut decoded = match lenient(converse::decode_request(&body)) {
        Ok(decoded) => decoded,
        Err(e) => return SHAPE.respond(ctx, &e),
    };
    if let Ok(decoded) = &mut decoded {
        decoded.request.stream = stream;
    }
    let call = Call {
        ingress: Ingress::Converse,
        model,
        stream,
        decoded,
        echo: None,
        body,
    };
    run(gateway, ctx, slot, &parts.headers, call).await
}

async fn serve_invoke(gateway: Gateway, model: String, request: Request, stream: bool) -> Response {
    let endpoint = if stream { "invoke_stream" } else { "invoke" };
    let Accepted {
        ctx,
        slot,
        parts,
        body,
    } = match accept(&gateway, request, endpoint).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let (ingress, mut decoded) = match decode_native(&body) {
        Ok(found) => found,
        Err(e) => return SHAPE.respond(ctx, &e),
    };
    decoded.request.stream = stream;
    // The caller's dialect reports usage on every stream.
    decoded.request.stream_usage = stream;
    let call = Call {
        ingress,
        model,
        stream,
        decoded: Ok(decoded),
        echo: None,
        body,
    };
    run(gateway, ctx, slot, &parts.headers, call).await
}

/// An InvokeModel body in one of the native formats the gateway reads: Anthropic-on-Bedrock
/// (`anthropic_version`, no `model`, no `stream`) or OpenAI chat (`messages`, as for gpt-oss).
fn decode_native(body: &[u8]) -> Result<(Ingress, Decoded), GatewayError> {
    let mut object: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        GatewayError::invalid(format!("the request body is not a JSON object: {e}"))
    })?;
    // The operation, not the body, decides streaming.
    object.remove("stream");
    if let Some(version) = object.remove("anthropic_version") {
        if version.as_str() != Some(BEDROCK_ANTHROPIC_VERSION) {
            return Err(GatewayError::invalid_param(
                "anthropic_version",
                format!("`anthropic_version` must be \"{BEDROCK_ANTHROPIC_VERSION}\""),
            ));
        }
        // Beta flags ride in the body on Bedrock (Anthropic's own API takes them as a header).
        let betas = object.remove("anthropic_beta");
        let mut decoded = ant::decode_request(&to_bytes(&object)).map_err(invalid)?;
        if let Some(betas) = betas {
            decoded.request.anthropic_betas =
                ant::betas_from_json(&betas, "anthropic_beta").map_err(invalid)?;
        }
        return Ok((Ingress::InvokeAnthropic, decoded));
    }
    if object.contains_key("messages") {
        object.remove("stream_options");
        let decoded = openai_chat::decode_request(&to_bytes(&object)).map_err(invalid)?;
        return Ok((Ingress::InvokeChat, decoded));
    }
    Err(GatewayError::invalid(format!(
        "the InvokeModel body is in no format this gateway reads: send an Anthropic Messages body with \"anthropic_version\": \"{BEDROCK_ANTHROPIC_VERSION}\", or an OpenAI chat body with `messages` (or use Converse)"
    )))
}

fn to_bytes(object: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(object).unwrap_or_default()
}

/// Admits a request and authenticates it: a SigV4 signature is verified over the raw path and the
/// body (so the body is read first), a bearer key before the body is read.
async fn accept(
    gateway: &Gateway,
    request: Request,
    endpoint: &'static str,
) -> Result<Accepted, Response> {
    let mut ctx = RequestContext::start(gateway, endpoint);
    let slot = match gateway.admission().admit() {
        Ok(slot) => slot,
        Err(e) => return Err(SHAPE.respond(ctx, &e)),
    };
    let (parts, body) = request.into_parts();
    let signed = sigv4::is_signed(&parts.headers);
    if !signed && let Err(e) = plan::authenticate(gateway, &mut ctx, &parts.headers).await {
        return Err(SHAPE.respond(ctx, &e));
    }
    let body: Bytes = match gateway
        .admission()
        .read_json_body(&parts.headers, body)
        .await
    {
        Ok(body) => body,
        Err(e) => return Err(SHAPE.respond(ctx, &e)),
    };
    if signed && let Some(auth) = gateway.auth() {
        let request = SignedRequest::new(
            &parts.method,
            &parts.uri,
            &parts.headers,
            Payload::Body(&body),
        );
        match auth.authenticate_sigv4(&request).await {
            Ok(caller) => ctx.caller = Some(caller),
            Err(e) => return Err(errors::sigv4(ctx, e)),
        }
    }
    Ok(Accepted {
        ctx,
        slot,
        parts,
        body,
    })
}
