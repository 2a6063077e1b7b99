//! Gemini's errors: `{"error":{"code","message","status","details"}}` (the streaming endpoint may
//! wrap it in a one-element array). Throttling says how long to wait in a `RetryInfo` detail.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::{ErrorClass, UpstreamError, json, retry_after, string_at, text_excerpt};

pub fn parse_error(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> UpstreamError {
    let status = status.as_u16();
    let document = json(body).map(|d| match d {
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    });
    let error = document.as_ref().and_then(|d| d.get("error"));
    let details: &[Value] = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let code = error.and_then(|e| string_at(e, "status"));
    let class = if details.iter().any(names_a_bad_api_key) {
        // Gemini answers a wrong key with 400 INVALID_ARGUMENT; the fault is the gateway's key.
        ErrorClass::CredentialsRefused
    } else {
        code.as_deref()
            .and_then(class_of)
            .unwrap_or_else(|| ErrorClass::from_status(status))
    };
    UpstreamError {
        provider: provider.to_owned(),
        status,
        code,
        message: match error {
            Some(error) => string_at(error, "message"),
            None if document.is_none() => text_excerpt(body),
            None => None,
        },
        retry_after: retry_after(headers).or_else(|| details.iter().find_map(retry_delay)),
        request_id: None,
        class,
    }
}

/// An `ErrorInfo` detail whose reason is about the API key (`API_KEY_INVALID`, `API_KEY_EXPIRED`...).
fn names_a_bad_api_key(detail: &Value) -> bool {
    detail
        .get("reason")
        .and_then(Value::as_str)
        .is_some_and(|reason| reason.starts_with("API_KEY_"))
}

/// A `RetryInfo` detail's `retryDelay`, a protobuf duration such as `"7s"` or `"0.5s"`.
fn retry_delay(detail: &Value) -> Option<Duration> {
    let text = detail.get("retryDelay")?.as_str()?;
    let seconds: f64 = text.strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// What a Google RPC status means.
fn class_of(status: &str) -> Option<ErrorClass> {
    Some(match status {
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => ErrorClass::CredentialsRefused,
        "RESOURCE_EXHAUSTED" => ErrorClass::RateLimited,
        "UNAVAILABLE" => ErrorClass::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorClass::Timeout,
        "INTERNAL" | "UNKNOWN" => ErrorClass::Failed,
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "NOT_FOUND" | "OUT_OF_RANGE" => {
            ErrorClass::Rejected
        }
        _ => return None,
    })
}
