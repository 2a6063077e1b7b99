//! Rate limits at admission: a caller's key and tenant limits checked before any upstream call,
//! and the OpenAI-style rate-limit headers that tell a client where it stands.

use std::fmt::Write as _;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use sy_config::{RedisPolicy, Storage};
use sy_core::{ErrorKind, GatewayError};
use sy_limits::{AdmitError, Ask, Grant, Limiter, RateStatus, Resource, Scope, Window};
use tracing::warn;

use crate::auth::Caller;

/// The limiter the config asks for: shared through Redis when `storage.redis_url` is set.
pub fn limiter(storage: &Storage) -> Result<Limiter, String> {
    match &storage.redis {
        None => Ok(Limiter::local()),
        Some(redis) => {
            let policy = match redis.policy {
                RedisPolicy::FailOpen => sy_limits::RedisPolicy::FailOpen,
                RedisPolicy::FailClosed => sy_limits::RedisPolicy::FailClosed,
            };
            Limiter::redis(redis.url.expose(), &redis.prefix, policy).map_err(|e| e.to_string())
        }
    }
}

/// A refused admission: the error for the client and the windows for its headers.
pub struct Refusal {
    pub error: GatewayError,
    pub status: Option<RateStatus>,
}

/// Admits a request of `caller` estimated at `tokens`, or says why not.
pub async fn admit(
    limiter: &Limiter,
    caller: &Caller,
    tokens: u64,
    lease: &str,
) -> Result<Option<Grant>, Refusal> {
    if !caller.has_limits() {
        return Ok(None);
    }
    let rules = caller.rules();
    let ask = Ask {
        rules: &rules,
        tokens,
        lease,
    };
    match limiter.admit(&ask).await {
        Ok(grant) => Ok(Some(grant)),
        Err(AdmitError::Limited(denied)) => {
            let whose = match denied.scope {
                Scope::Key => format!("the key `{}`", denied.id),
                Scope::Tenant => format!("the tenant `{}`", denied.id),
            };
            let (resource, what) = match denied.resource {
                Resource::Requests => ("requests", format!("{} requests per minute", denied.limit)),
                Resource::Tokens => ("tokens", format!("{} tokens per minute", denied.limit)),
                Resource::Concurrency => {
                    ("requests", format!("{} concurrent requests", denied.limit))
                }
            };
            let wait = denied.retry_after;
            Err(Refusal {
                error: GatewayError::new(
                    ErrorKind::RateLimited {
                        resource,
                        retry_after: wait,
                    },
                    format!(
                        "rate limit reached for {whose}: {what}; retry in {}",
                        go_duration(wait)
                    ),
                ),
                status: Some(denied.status),
            })
        }
        Err(AdmitError::Unavailable(reason)) => {
            warn!(%reason, "rate limits cannot be checked; refusing (storage.redis_policy = \"fail-closed\")");
            Err(Refusal {
                error: GatewayError::new(
                    ErrorKind::StateUnavailable,
                    "the gateway cannot check rate limits right now; retry shortly",
                ),
                status: None,
            })
        }
    }
}

static LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
static REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
static RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
static LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
static REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
static RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");

/// OpenAI's `x-ratelimit-*` headers for the gateway's own limits. They replace an upstream's:
/// the client's limits are the gateway's, not the gateway's account with the provider.
pub fn write_headers(status: &RateStatus, headers: &mut HeaderMap) {
    let mut put = |window: Option<Window>, names: [&HeaderName; 3]| {
        let Some(w) = window else { return };
        headers.insert(names[0].clone(), HeaderValue::from(w.limit));
        headers.insert(names[1].clone(), HeaderValue::from(w.remaining));
        if let Ok(v) = HeaderValue::from_str(&go_duration(w.reset)) {
            headers.insert(names[2].clone(), v);
        }
    };
    put(
        status.requests,
        [&LIMIT_REQUESTS, &REMAINING_REQUESTS, &RESET_REQUESTS],
    );
    put(
        status.tokens,
        [&LIMIT_TOKENS, &REMAINING_TOKENS, &RESET_TOKENS],
    );
}

/// A duration as OpenAI writes resets: `12ms`, `1s`, `1.5s`, `6m0s`.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let mut out = String::new();
    let minutes = ms / 60_000;
    if minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let rest = ms % 60_000;
    let (secs, frac) = (rest / 1000, rest % 1000);
    if frac == 0 {
        let _ = write!(out, "{secs}s");
    } else {
        let frac = format!("{frac:03}");
        let _ = write!(out, "{secs}.{}s", frac.trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_openai_resets() {
        assert_eq!(go_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(1250)), "1.25s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_millis(61_001)), "1m1.001s");
    }

    #[test]
    fn headers_carry_both_windows() {
        let status = RateStatus {
            requests: Some(Window {
                limit: 60,
                remaining: 59,
                reset: Duration::from_secs(1),
            }),
            tokens: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit-tokens", HeaderValue::from(5));
        write_headers(&status, &mut headers);
        assert_eq!(headers["x-ratelimit-limit-requests"], "60");
        assert_eq!(headers["x-ratelimit-remaining-requests"], "59");
        assert_eq!(headers["x-ratelimit-reset-requests"], "1s");
        // An upstream's token header is left alone when the gateway has no token limit.
        assert_eq!(headers["x-ratelimit-limit-tokens"], "5");
    }
}
