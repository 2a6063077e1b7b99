//! Errors in the shape each ingress dialect's SDK expects (PROTOCOLS §6.4, §7.7, §11.12): the
//! status, the body and the headers that make the SDK raise the right exception and retry only
//! what may succeed when retried.

use axum::body::Body;
use axum::response::Response;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use sy_core::{ErrorKind, GatewayError};
use tracing::warn;

use crate::dispatch::DispatchError;
use crate::metrics::Outcome;
use crate::request::RequestContext;
use crate::sigv4::SigV4Error;

/// Whose error shape a caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    OpenAi,
    Anthropic,
    Bedrock,
}

impl ErrorShape {
    /// Renders `error` for the client and closes the request's accounting.
    pub fn respond(self, ctx: RequestContext, error: &GatewayError) -> Response {
        match self {
            Self::OpenAi => crate::openai::respond(ctx, error),
            Self::Anthropic => anthropic(ctx, error),
            Self::Bedrock => bedrock(ctx, error),
        }
    }
}

impl ErrorShape {
    /// Answers a dispatch that found no deployment: an upstream's own rejection, when the caller
    /// can read its body (the same dialect), as it was sent; anything else in this shape.
    pub fn respond_to_dispatch(self, ctx: RequestContext, failure: DispatchError) -> Response {
        match failure {
            DispatchError::Upstream {
                error,
                status,
                headers,
                body,
                same_dialect: true,
            } if matches!(error.kind, ErrorKind::UpstreamRejected { .. }) => {
                crate::openai::pass_back(ctx, status, &headers, body)
            }
            failure => self.respond(ctx, failure.error()),
        }
    }
}

/// Anthropic's status and `error.type`. Overload is Anthropic's own 529, which its SDK retries.
fn anthropic_status_and_type(error: &GatewayError) -> (u16, &'static str) {
    match &error.kind {
        ErrorKind::Saturated { .. } | ErrorKind::UpstreamUnavailable { .. } => {
            (529, "overloaded_error")
        }
        ErrorKind::UpstreamTimeout => (504, "timeout_error"),
        _ => {
            let status = error.status();
            let kind = match status {
                401 => "authentication_error",
                402 => "billing_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                500.. => "api_error",
                _ => "invalid_request_error",
            };
            (status, kind)
        }
    }
}

fn anthropic(ctx: RequestContext, error: &GatewayError) -> Response {
    let (status, kind) = anthropic_status_and_type(error);
    let mut detail = json!({ "type": kind, "message": error.message });
    if error.kind == ErrorKind::BudgetExceeded {
        // Anthropic's own spend-limit refusal, which clients know not to retry.
        detail["details"] = json!({ "error_code": "enforced_spend_limit_reached" });
    }
    let body = json!({ "type": "error", "error": detail, "request_id": ctx.id.as_str() });
    let mut response = json_response(status, body.to_string());
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(ctx.id.as_str()) {
        headers.insert("request-id", id);
    }
    retry_headers(error, headers);
    finish(ctx, response, error)
}

/// Bedrock's exception name and status (x-amzn-ErrorType). Budgets are a quota (400, not retried);
/// throttling stays a retryable 429, upstream failures a retryable 500.
pub fn bedrock_code_and_status(error: &GatewayError) -> (&'static str, u16) {
    match &error.kind {
        ErrorKind::InvalidRequest { .. }
        | ErrorKind::PayloadTooLarge
        | ErrorKind::UnsupportedMediaType => ("ValidationException", 400),
        ErrorKind::Unauthenticated {
            code: "key_expired",
        } => ("ExpiredTokenException", 403),
        ErrorKind::Unauthenticated { .. } => ("UnrecognizedClientException", 403),
        ErrorKind::PermissionDenied { .. } => ("AccessDeniedException", 403),
        ErrorKind::ModelNotFound | ErrorKind::RouteNotFound => ("ResourceNotFoundException", 404),
        ErrorKind::RateLimited { .. } | ErrorKind::UpstreamRejected { status: 429, .. } => {
            ("ThrottlingException", 429)
        }
        ErrorKind::BudgetExceeded => ("ServiceQuotaExceededException", 400),
        ErrorKind::UpstreamRejected { status: 403, .. } => ("AccessDeniedException", 403),
        ErrorKind::UpstreamRejected { status: 404, .. } => ("ResourceNotFoundException", 404),
        ErrorKind::UpstreamRejected { status, .. } if *status < 500 => ("ValidationException", 400),
        // An upstream that failed or could not be reached may answer a retry: boto3 retries
        // InternalServerException, not ModelErrorException.
        ErrorKind::UpstreamRejected { .. } | ErrorKind::UpstreamFailed => {
            ("InternalServerException", 500)
        }
        ErrorKind::UpstreamTimeout => ("ModelTimeoutException", 408),
        ErrorKind::Saturated { .. }
        | ErrorKind::UpstreamUnavailable { .. }
        | ErrorKind::NotRoutable
        | ErrorKind::StateUnavailable => ("ServiceUnavailableException", 503),
        ErrorKind::UpstreamAuth { .. } | ErrorKind::Internal => ("InternalServerException", 500),
    }
}

fn bedrock(ctx: RequestContext, error: &GatewayError) -> Response {
    let (code, status) = bedrock_code_and_status(error);
    let body = json!({ "message": error.message });
    let mut response = json_response(status, body.to_string());
    let headers = response.headers_mut();
    headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    if let Ok(id) = HeaderValue::from_str(ctx.id.as_str()) {
        headers.insert("x-amzn-requestid", id);
    }
    retry_headers(error, headers);
    finish(ctx, response, error)
}

/// A SigV4 verification failure, in the 403 shapes AWS itself answers with.
pub fn sigv4(mut ctx: RequestContext, error: SigV4Error) -> Response {
    let mut response = error.into_response(ctx.id.as_str());
    ctx.write_headers(response.headers_mut());
    ctx.status = response.status().as_u16();
    ctx.outcome = Outcome::Failed;
    response
}

fn json_response(status: u16, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn retry_headers(error: &GatewayError, headers: &mut HeaderMap) {
    if let Some(after) = error.retry_after() {
        let secs = after.as_secs_f64().ceil().max(1.0) as u64;
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if error.kind == ErrorKind::BudgetExceeded {
        headers.insert("x-should-retry", HeaderValue::from_static("false"));
    }
}

fn finish(mut ctx: RequestContext, mut response: Response, error: &GatewayError) -> Response {
    let status = response.status();
    if status.is_server_error() {
        warn!(request_id = %ctx.id, status = status.as_u16(), error = %error.message, "request failed");
    }
    ctx.write_headers(response.headers_mut());
    ctx.status = status.as_u16();
    ctx.outcome = Outcome::Failed;
    response
}
