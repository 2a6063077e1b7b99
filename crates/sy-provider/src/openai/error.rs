//! How an OpenAI-style upstream's non-2xx answer is classified.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use sy_core::{ErrorKind, GatewayError};
use sy_wire::openai::error::upstream_message;

/// Classifies an upstream's non-2xx response. Client errors are passed back faithfully, except that a
/// refusal of the gateway's own credentials becomes 502 naming the provider (never 401, which would
/// blame the caller's key).
pub fn classify_status(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> GatewayError {
    let detail = upstream_message(body)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let code = status.as_u16();
    let (kind, message) = match code {
        401 | 403 => (
            ErrorKind::UpstreamAuth {
                provider: provider.to_owned(),
                status: code,
            },
            format!(
                "upstream provider `{provider}` rejected the gateway's credentials (HTTP {code}){detail}"
            ),
        ),
        400..=499 => (
            ErrorKind::UpstreamRejected { status: code },
            format!("upstream provider `{provider}` rejected the request (HTTP {code}){detail}"),
        ),
        503 | 529 => (
            ErrorKind::UpstreamUnavailable {
                retry_after: retry_after(headers),
            },
            format!("upstream provider `{provider}` is unavailable (HTTP {code}){detail}"),
        ),
        504 => (
            ErrorKind::UpstreamTimeout,
            format!("upstream provider `{provider}` timed out (HTTP 504){detail}"),
        ),
        _ => (
            ErrorKind::UpstreamFailed,
            format!("upstream provider `{provider}` failed (HTTP {code}){detail}"),
        ),
    };
    GatewayError::new(kind, message)
}

/// `retry-after-ms` (milliseconds) or `retry-after` (seconds); HTTP dates are ignored.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    read("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| read("retry-after").map(Duration::from_secs_f64))
}
