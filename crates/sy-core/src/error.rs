//! One classification for every failure: what happened, who caused it, and whether a retry may help.
//! Errors are rendered once, at the edge, in the caller's dialect.

use std::fmt;
use std::time::Duration;

/// Who caused a failure. Decides the status class and what is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    Client,
    Upstream,
    Gateway,
}

/// What went wrong, independent of any dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed JSON or a request the gateway cannot accept (400).
    InvalidRequest { param: Option<String> },
    /// No key, or a key that is unknown, revoked or expired (401). `code` is stable for clients.
    Unauthenticated { code: &'static str },
    /// A valid key that may not do this, e.g. use this model (403).
    PermissionDenied { code: &'static str },
    /// Over a key's or tenant's limit (429 + Retry-After). `resource` is `requests` or `tokens`.
    RateLimited {
        resource: &'static str,
        retry_after: Duration,
    },
    /// A key's or tenant's budget cannot cover the request (429, not worth retrying before the
    /// period resets or an operator raises the budget).
    BudgetExceeded,
    /// The gateway's own state (key store, shared limits) cannot be reached (503).
    StateUnavailable,
    /// No configured model by that name (404).
    ModelNotFound,
    /// No such endpoint (404).
    RouteNotFound,
    /// The request body is over the configured limit (413).
    PayloadTooLarge,
    /// The request's content type is not JSON (415).
    UnsupportedMediaType,
    /// The model exists but no deployment may serve it now, e.g. no licence in force (503).
    NotRoutable,
    /// The gateway is at its concurrency limit or shutting down (503 + Retry-After).
    Saturated { retry_after: Duration },
    /// An upstream answered with a client error that is passed back faithfully.
    /// `retry_after`: how long the upstream asked to wait, when it said (e.g. in its body).
    UpstreamRejected {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// An upstream refused the gateway's own credentials (502, never 401).
    UpstreamAuth { provider: String, status: u16 },
    /// An upstream is overloaded or unavailable (503).
    UpstreamUnavailable { retry_after: Option<Duration> },
    /// An upstream failed: connection refused, reset, 5xx, a broken stream (502).
    UpstreamFailed,
    /// An upstream did not answer in time (504).
    UpstreamTimeout,
    /// A bug or an unexpected state inside the gateway (500).
    Internal,
}

/// A failure on its way to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    pub kind: ErrorKind,
    pub message: String,
}

impl GatewayError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest { param: None }, message)
    }

    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::InvalidRequest {
                param: Some(param.to_owned()),
            },
            message,
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The HTTP status in the OpenAI-style convention the contract uses.
    pub fn status(&self) -> u16 {
        match &self.kind {
            ErrorKind::InvalidRequest { .. } => 400,
            ErrorKind::Unauthenticated { .. } => 401,
            ErrorKind::PermissionDenied { .. } => 403,
            ErrorKind::RateLimited { .. } | ErrorKind::BudgetExceeded => 429,
            ErrorKind::StateUnavailable => 503,
            ErrorKind::ModelNotFound | ErrorKind::RouteNotFound => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Saturated { .. }
            | ErrorKind::UpstreamUnavailable { .. }
            | ErrorKind::NotRoutable => 503,
            ErrorKind::UpstreamRejected { status, .. } => *status,
            ErrorKind::UpstreamAuth { .. } | ErrorKind::UpstreamFailed => 502,
            ErrorKind::UpstreamTimeout => 504,
            ErrorKind::Internal => 500,
        }
    }

    pub fn blame(&self) -> Blame {
        match &self.kind {
            ErrorKind::InvalidRequest { .. }
            | ErrorKind::Unauthenticated { .. }
            | ErrorKind::PermissionDenied { .. }
            | ErrorKind::RateLimited { .. }
            | ErrorKind::BudgetExceeded
            | ErrorKind::ModelNotFound
            | ErrorKind::RouteNotFound
            | ErrorKind::PayloadTooLarge
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::UpstreamRejected { .. } => Blame::Client,
            ErrorKind::UpstreamAuth { .. }
            | ErrorKind::UpstreamUnavailable { .. }
            | ErrorKind::UpstreamFailed
            | ErrorKind::UpstreamTimeout => Blame::Upstream,
            ErrorKind::Saturated { .. }
            | ErrorKind::NotRoutable
            | ErrorKind::StateUnavailable
            | ErrorKind::Internal => Blame::Gateway,
        }
    }

    /// Whether trying another deployment (or the same one later) may succeed.
    pub fn retryable(&self) -> bool {
        match &self.kind {
            ErrorKind::UpstreamRejected { status, .. } => *status == 429 || *status == 408,
            ErrorKind::UpstreamUnavailable { .. }
            | ErrorKind::UpstreamFailed
            | ErrorKind::UpstreamTimeout
            | ErrorKind::Saturated { .. } => true,
            _ => false,
        }
    }

    /// How long the caller should wait before retrying, when the gateway knows.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            ErrorKind::Saturated { retry_after } | ErrorKind::RateLimited { retry_after, .. } => {
                Some(*retry_after)
            }
            ErrorKind::StateUnavailable => Some(Duration::from_secs(1)),
            ErrorKind::UpstreamUnavailable { retry_after }
            | ErrorKind::UpstreamRejected { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn param(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::InvalidRequest { param } => param.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status())
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        let auth = GatewayError::new(
            ErrorKind::UpstreamAuth {
                provider: "azure".into(),
                status: 401,
            },
            "x",
        );
        assert_eq!(
            auth.status(),
            502,
            "upstream auth failures never blame the caller's key"
        );
        assert_eq!(
            GatewayError::new(ErrorKind::UpstreamTimeout, "x").status(),
            504
        );
        assert_eq!(
            GatewayError::new(
                ErrorKind::UpstreamRejected {
                    status: 429,
                    retry_after: None
                },
                "x"
            )
            .status(),
            429
        );
        assert!(
            GatewayError::new(
                ErrorKind::UpstreamRejected {
                    status: 429,
                    retry_after: None
                },
                "x"
            )
            .retryable()
        );
        assert!(
            !GatewayError::new(
                ErrorKind::UpstreamRejected {
                    status: 400,
                    retry_after: None
                },
                "x"
            )
            .retryable()
        );
        assert!(!GatewayError::invalid("bad").retryable());
    }
}
