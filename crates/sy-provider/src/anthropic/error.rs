//! Anthropic's errors: `{"type":"error","error":{"type","message"},"request_id"}`, as an HTTP
//! answer or as an `event: error` inside a stream (whose HTTP status is already 200).

use http::{HeaderMap, StatusCode};

use crate::error::{
    ErrorClass, UpstreamError, header_text, json, retry_after, string_at, text_excerpt,
};

/// Parses a non-2xx Anthropic answer. The request id comes from the `request-id` header, else the
/// body's `request_id`.
pub fn parse_error(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> UpstreamError {
    let status = status.as_u16();
    let mut error = from_body(provider, status, body);
    error.class = error
        .code
        .as_deref()
        .and_then(class_of)
        .unwrap_or_else(|| ErrorClass::from_status(status));
    if spend_limit_reached(body) {
        error.class = SPEND_LIMIT;
    }
    error.retry_after = retry_after(headers);
    error.request_id = header_text(headers, &["request-id"]).or(error.request_id);
    error
}

/// Parses the `data:` of an `event: error` inside a stream; the status is the one the error type
/// stands for (`overloaded_error` → 529).
pub fn parse_stream_error(provider: &str, data: &[u8]) -> UpstreamError {
    let mut error = from_body(provider, 500, data);
    if let Some(code) = error.code.as_deref() {
        error.status = type_status(code);
        error.class = class_of(code).unwrap_or_else(|| ErrorClass::from_status(error.status));
    }
    if spend_limit_reached(data) {
        error.class = SPEND_LIMIT;
    }
    error
}

/// A `rate_limit_error` that is the account's spend limit, not a rate: waiting does not lift it,
/// so it is no throttle to retry but the gateway's account unable to pay, as `billing_error`.
const SPEND_LIMIT: ErrorClass = ErrorClass::Failed;

fn spend_limit_reached(body: &[u8]) -> bool {
    json(body).is_some_and(|document| {
        document
            .pointer("/error/details/error_code")
            .and_then(|code| code.as_str())
            == Some("enforced_spend_limit_reached")
    })
}

fn from_body(provider: &str, status: u16, body: &[u8]) -> UpstreamError {
    let document = json(body);
    let error = document.as_ref().and_then(|d| d.get("error"));
    UpstreamError {
        provider: provider.to_owned(),
        status,
        code: error.and_then(|e| string_at(e, "type")),
        message: match error {
            Some(error) => string_at(error, "message"),
            None if document.is_none() => text_excerpt(body),
            None => None,
        },
        retry_after: None,
        request_id: document.as_ref().and_then(|d| string_at(d, "request_id")),
        class: ErrorClass::from_status(status),
    }
}

/// What an Anthropic error type means, where it says more than the status.
fn class_of(kind: &str) -> Option<ErrorClass> {
    Some(match kind {
        "authentication_error" | "permission_error" => ErrorClass::CredentialsRefused,
        "rate_limit_error" => ErrorClass::RateLimited,
        "overloaded_error" => ErrorClass::Overloaded,
        "timeout_error" => ErrorClass::Timeout,
        // The gateway's account cannot pay: another deployment may serve the request.
        "api_error" | "billing_error" => ErrorClass::Failed,
        "invalid_request_error" | "not_found_error" | "request_too_large" => ErrorClass::Rejected,
        _ => return None,
    })
}

/// The HTTP status Anthropic documents for an error type.
fn type_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}
