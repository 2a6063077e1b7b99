//! Errors rendered in OpenAI's shape and status conventions, with retry hints the SDKs honour.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use sy_core::{ErrorKind, GatewayError};
use sy_wire::openai::ErrorBody;
use tracing::warn;

use crate::metrics::Outcome;
use crate::request::RequestContext;

/// OpenAI's `type` and `code` for a gateway error.
fn type_and_code(error: &GatewayError) -> (&str, Option<&str>) {
    match &error.kind {
        ErrorKind::InvalidRequest { .. } => ("invalid_request_error", None),
        ErrorKind::Unauthenticated { code } => ("invalid_request_error", Some(*code)),
        ErrorKind::PermissionDenied { code } => ("permission_error", Some(*code)),
        // OpenAI's own 429s say which window ran out in `type`.
        ErrorKind::RateLimited { resource, .. } => (*resource, Some("rate_limit_exceeded")),
        // OpenAI's own answer when an account's quota is spent.
        ErrorKind::BudgetExceeded => ("insufficient_quota", Some("budget_exceeded")),
        ErrorKind::StateUnavailable => ("server_error", Some("state_unavailable")),
        ErrorKind::ModelNotFound => ("invalid_request_error", Some("model_not_found")),
        ErrorKind::RouteNotFound => ("invalid_request_error", Some("unknown_url")),
        ErrorKind::PayloadTooLarge => ("invalid_request_error", Some("request_too_large")),
        ErrorKind::UnsupportedMediaType => {
            ("invalid_request_error", Some("unsupported_media_type"))
        }
        ErrorKind::Saturated { .. } => ("server_error", Some("gateway_overloaded")),
        ErrorKind::NotRoutable => ("server_error", Some("no_routable_deployment")),
        ErrorKind::UpstreamRejected { status: 429, .. } => {
            ("rate_limit_error", Some("rate_limit_exceeded"))
        }
        ErrorKind::UpstreamRejected { .. } => ("invalid_request_error", None),
        ErrorKind::UpstreamAuth { .. } => ("server_error", Some("upstream_auth_failed")),
        ErrorKind::UpstreamUnavailable { .. } => ("server_error", Some("upstream_unavailable")),
        ErrorKind::UpstreamFailed => ("server_error", Some("upstream_error")),
        ErrorKind::UpstreamTimeout => ("server_error", Some("upstream_timeout")),
        ErrorKind::Internal => ("server_error", None),
    }
}

/// Renders `error` for the client and closes the request's accounting.
pub fn respond(mut ctx: RequestContext, error: &GatewayError) -> Response {
    let (kind, code) = type_and_code(error);
    let body = ErrorBody::new(error.message.clone(), kind, error.param(), code);
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(body.to_json()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(after) = error.retry_after() {
        let secs = after.as_secs_f64().ceil().max(1.0) as u64;
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        headers.insert(
            "retry-after-ms",
            HeaderValue::from(after.as_millis() as u64),
        );
    }
    if error.kind == ErrorKind::BudgetExceeded {
        // SDKs retry every 429 unless told not to; a spent budget stays spent.
        headers.insert("x-should-retry", HeaderValue::from_static("false"));
    }
    if status.is_server_error() {
        warn!(request_id = %ctx.id, status = status.as_u16(), error = %error.message, "request failed");
    }
    ctx.write_headers(headers);
    ctx.status = status.as_u16();
    ctx.outcome = Outcome::Failed;
    response
}

/// An upstream's own error answer, passed back faithfully: same status, same body, and the
/// headers a client needs to act on it (content type, retry and rate-limit hints).
pub fn pass_back(
    mut ctx: RequestContext,
    status: StatusCode,
    upstream: &HeaderMap,
    body: Bytes,
) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    copy_client_headers(upstream, headers);
    ctx.write_headers(headers);
    ctx.status = status.as_u16();
    ctx.outcome = Outcome::Failed;
    response
}

/// Upstream headers that mean the same to a client of the same dialect.
pub fn copy_client_headers(upstream: &HeaderMap, out: &mut HeaderMap) {
    for (name, value) in upstream {
        let n = name.as_str();
        if n == "content-type"
            || n == "retry-after"
            || n == "retry-after-ms"
            || n == "x-should-retry"
            || n == "x-amzn-errortype"
            || n.starts_with("x-ratelimit-")
        {
            out.append(name.clone(), value.clone());
        }
    }
}

/// Unknown paths answer in OpenAI's shape too.
pub async fn not_found(
    axum::extract::State(gateway): axum::extract::State<crate::state::Gateway>,
    uri: http::Uri,
) -> Response {
    let ctx = RequestContext::start(&gateway, "unknown");
    respond(
        ctx,
        &GatewayError::new(
            ErrorKind::RouteNotFound,
            format!("no such endpoint: {}", uri.path()),
        ),
    )
}
