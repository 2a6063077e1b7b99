//! Anthropic URLs and auth headers, and how its errors are classified.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use sy_config::Timeouts;
use sy_core::{ErrorKind, Secret};

use super::*;
use crate::error::ErrorClass;

fn upstream(base: &str) -> AnthropicUpstream {
    AnthropicUpstream::new(
        base,
        &Secret::new("sk-ant-1"),
        "2023-06-01",
        &Timeouts::default(),
    )
    .expect("upstream")
}

#[test]
fn urls_and_secrets() {
    let up = upstream("https://api.anthropic.com/");
    assert_eq!(
        up.uri(Operation::Messages)
            .map(ToString::to_string)
            .as_deref(),
        Some("https://api.anthropic.com/v1/messages")
    );
    assert_eq!(
        up.uri(Operation::CountTokens)
            .map(ToString::to_string)
            .as_deref(),
        Some("https://api.anthropic.com/v1/messages/count_tokens")
    );
    assert!(up.uri(Operation::ChatCompletions).is_none());
    assert!(up.api_key.is_sensitive());
    assert!(!format!("{up:?}").contains("sk-ant-1"));
}

#[tokio::test]
async fn other_dialects_are_refused_before_any_io() {
    let e = upstream("http://127.0.0.1:1")
        .send(
            "ant",
            Operation::Converse { stream: false },
            bytes::Bytes::new(),
            None,
        )
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::NotRoutable);
}

#[test]
fn a_spend_limit_is_no_throttle_to_wait_out() {
    let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your specified workspace API usage limits.","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_1"}"#;
    let e = parse_error(
        "ant",
        StatusCode::TOO_MANY_REQUESTS,
        &HeaderMap::new(),
        body,
    );
    assert_eq!(e.class, ErrorClass::Failed);
    let gateway = e.to_gateway_error();
    assert_eq!(
        gateway.status(),
        502,
        "not a 429 the caller's SDK would retry"
    );
    // The same inside a stream.
    let e = parse_stream_error("ant", body);
    assert_eq!(e.class, ErrorClass::Failed);
    // A plain rate limit stays one.
    let plain = br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#;
    let e = parse_error(
        "ant",
        StatusCode::TOO_MANY_REQUESTS,
        &HeaderMap::new(),
        plain,
    );
    assert_eq!(e.class, ErrorClass::RateLimited);
}

#[test]
fn errors_by_type() {
    let body = |kind: &str| {
        format!(
            r#"{{"type":"error","error":{{"type":"{kind}","message":"m"}},"request_id":"req_body"}}"#
        )
    };
    let cases: &[(u16, &str, ErrorClass, u16, bool)] = &[
        (529, "overloaded_error", ErrorClass::Overloaded, 503, true),
        (429, "rate_limit_error", ErrorClass::RateLimited, 429, true),
        (
            401,
            "authentication_error",
            ErrorClass::CredentialsRefused,
            502,
            false,
        ),
        (
            403,
            "permission_error",
            ErrorClass::CredentialsRefused,
            502,
            false,
        ),
        (402, "billing_error", ErrorClass::Failed, 502, true),
        (
            400,
            "invalid_request_error",
            ErrorClass::Rejected,
            400,
            false,
        ),
        (413, "request_too_large", ErrorClass::Rejected, 413, false),
        (500, "api_error", ErrorClass::Failed, 502, true),
        (504, "timeout_error", ErrorClass::Timeout, 504, true),
    ];
    for &(status, kind, class, gateway_status, retryable) in cases {
        let e = parse_error(
            "ant",
            StatusCode::from_u16(status).expect("status"),
            &HeaderMap::new(),
            body(kind).as_bytes(),
        );
        assert_eq!((e.class, e.code.as_deref()), (class, Some(kind)));
        assert_eq!(e.request_id.as_deref(), Some("req_body"));
        let gateway = e.to_gateway_error();
        assert_eq!(
            (gateway.status(), gateway.retryable()),
            (gateway_status, retryable),
            "{kind}"
        );
    }
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "12".parse().expect("header"));
    headers.insert("request-id", "req_header".parse().expect("header"));
    let e = parse_error(
        "ant",
        StatusCode::from_u16(529).expect("status"),
        &headers,
        body("overloaded_error").as_bytes(),
    );
    assert_eq!(e.request_id.as_deref(), Some("req_header"));
    assert_eq!(
        e.to_gateway_error().retry_after(),
        Some(Duration::from_secs(12))
    );
    let plain = parse_error(
        "ant",
        StatusCode::BAD_GATEWAY,
        &HeaderMap::new(),
        b"<html>bad gateway</html>",
    );
    assert_eq!(
        (plain.class, plain.message.as_deref()),
        (ErrorClass::Failed, Some("<html>bad gateway</html>"))
    );
}

#[test]
fn stream_error_events_take_the_status_of_their_type() {
    let e = parse_stream_error(
        "ant",
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!((e.status, e.class), (529, ErrorClass::Overloaded));
    assert_eq!(e.message.as_deref(), Some("Overloaded"));
    assert!(e.retryable());
}
