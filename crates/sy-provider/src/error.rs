//! An upstream's error as each family reports it, parsed into one shape, and what it means for the
//! gateway: who is at fault and whether another attempt may succeed.

use std::time::Duration;

use http::HeaderMap;
use sy_core::{ErrorKind, GatewayError};

/// An upstream's error answer (or an error inside its stream), parsed by its family's conventions.
/// The server renders it in the caller's dialect; [`to_gateway_error`](Self::to_gateway_error)
/// gives the gateway's classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    /// The configured provider name.
    pub provider: String,
    /// The HTTP status of the answer; for an error inside a stream, the status its type stands for.
    pub status: u16,
    /// The upstream's own error name: `ThrottlingException`, `overloaded_error`,
    /// `RESOURCE_EXHAUSTED`, `invalid_api_key`.
    pub code: Option<String>,
    pub message: Option<String>,
    /// How long the upstream asked the gateway to wait.
    pub retry_after: Option<Duration>,
    /// The upstream's id for the request (`x-amzn-RequestId`, `request-id`), for logs.
    pub request_id: Option<String>,
    pub class: ErrorClass,
}

/// What an upstream error means for the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The upstream refused the gateway's own credentials or account: never the caller's fault.
    CredentialsRefused,
    /// The request itself was refused (validation, unknown model, too large): passed back as is.
    Rejected,
    /// Throttled: another deployment, or the same one later, may serve it.
    RateLimited,
    /// The upstream is overloaded or unavailable.
    Overloaded,
    /// The upstream (or the model) ran out of time.
    Timeout,
    /// The upstream failed on its side.
    Failed,
}

impl ErrorClass {
    /// The class an HTTP status implies when the body names nothing more precise.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 | 403 => Self::CredentialsRefused,
            429 => Self::RateLimited,
            400..=499 => Self::Rejected,
            503 | 529 => Self::Overloaded,
            504 => Self::Timeout,
            _ => Self::Failed,
        }
    }

    pub fn retryable(self) -> bool {
        !matches!(self, Self::CredentialsRefused | Self::Rejected)
    }
}

impl UpstreamError {
    /// The gateway's error: statuses follow the contract (the upstream refusing the gateway's
    /// credentials is 502 naming the provider; throttling stays 429 and retryable).
    pub fn to_gateway_error(&self) -> GatewayError {
        let provider = &self.provider;
        let status = self.status;
        let detail = match (&self.code, &self.message) {
            (Some(code), Some(message)) => format!(": {code}: {message}"),
            (Some(text), None) | (None, Some(text)) => format!(": {text}"),
            (None, None) => String::new(),
        };
        let (kind, what) = match self.class {
            ErrorClass::CredentialsRefused => (
                ErrorKind::UpstreamAuth {
                    provider: provider.clone(),
                    status,
                },
                "rejected the gateway's credentials",
            ),
            ErrorClass::Rejected => (
                ErrorKind::UpstreamRejected {
                    status,
                    retry_after: self.retry_after,
                },
                "rejected the request",
            ),
            // Always 429, whatever status carried it, so that it stays retryable downstream.
            ErrorClass::RateLimited => (
                ErrorKind::UpstreamRejected {
                    status: 429,
                    retry_after: self.retry_after,
                },
                "is rate limiting the gateway",
            ),
            ErrorClass::Overloaded => (
                ErrorKind::UpstreamUnavailable {
                    retry_after: self.retry_after,
                },
                "is unavailable",
            ),
            ErrorClass::Timeout => (ErrorKind::UpstreamTimeout, "timed out"),
            ErrorClass::Failed => (ErrorKind::UpstreamFailed, "failed"),
        };
        GatewayError::new(
            kind,
            format!("upstream provider `{provider}` {what} (HTTP {status}){detail}"),
        )
    }

    pub fn retryable(&self) -> bool {
        self.class.retryable()
    }
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

/// The first of `names` present in `headers`, as text.
pub(crate) fn header_text(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::to_owned)
}

/// The body as JSON, or `None` (error bodies are small and read whole; some are not JSON at all).
pub(crate) fn json(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

/// A non-JSON error body, shortened for a message.
pub(crate) fn text_excerpt(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(300).collect())
}

/// A string member of a JSON object.
pub(crate) fn string_at(value: &serde_json::Value, key: &str) -> Option<String> {
    value.get(key).and_then(|v| v.as_str()).map(str::to_owned)
}
