//! Gemini URLs and auth headers, and how its errors are classified.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use sy_config::Timeouts;
use sy_core::Secret;

use super::*;
use crate::error::ErrorClass;

fn upstream() -> GeminiUpstream {
    GeminiUpstream::new(
        "https://generativelanguage.googleapis.com/",
        &Secret::new("AIza-1"),
        &Timeouts::default(),
    )
    .expect("upstream")
}

#[test]
fn urls_name_the_model_and_ask_for_sse_when_streaming() {
    let up = upstream();
    let url = |operation, model| up.uri(operation, model).expect("uri").to_string();
    let base = "https://generativelanguage.googleapis.com/v1beta";
    assert_eq!(
        url(
            Operation::GenerateContent { stream: false },
            "gemini-2.5-flash"
        ),
        format!("{base}/models/gemini-2.5-flash:generateContent")
    );
    assert_eq!(
        url(
            Operation::GenerateContent { stream: true },
            "models/gemini-2.5-pro"
        ),
        format!("{base}/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
    );
    assert_eq!(
        url(Operation::CountTokens, "tunedModels/my model"),
        format!("{base}/tunedModels/my%20model:countTokens")
    );
    assert!(up.uri(Operation::Messages, "m").is_err());
    assert!(up.api_key.is_sensitive());
    assert!(!format!("{up:?}").contains("AIza-1"));
}

#[test]
fn a_wrong_key_is_the_gateways_fault_though_gemini_says_400() {
    let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
    let e = parse_error("gem", StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
    assert_eq!(e.class, ErrorClass::CredentialsRefused);
    assert_eq!(e.code.as_deref(), Some("INVALID_ARGUMENT"));
    assert_eq!(e.to_gateway_error().status(), 502);
}

#[test]
fn throttling_says_how_long_to_wait_in_the_body() {
    let body = br#"[{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}]"#;
    let e = parse_error(
        "gem",
        StatusCode::TOO_MANY_REQUESTS,
        &HeaderMap::new(),
        body,
    );
    assert_eq!(e.class, ErrorClass::RateLimited);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert!(e.to_gateway_error().retryable());
    let cases: &[(u16, &str, ErrorClass)] = &[
        (503, "UNAVAILABLE", ErrorClass::Overloaded),
        (504, "DEADLINE_EXCEEDED", ErrorClass::Timeout),
        (500, "INTERNAL", ErrorClass::Failed),
        (403, "PERMISSION_DENIED", ErrorClass::CredentialsRefused),
        (404, "NOT_FOUND", ErrorClass::Rejected),
        (400, "FAILED_PRECONDITION", ErrorClass::Rejected),
    ];
    for &(status, name, class) in cases {
        let body = format!(r#"{{"error":{{"code":{status},"message":"m","status":"{name}"}}}}"#);
        let e = parse_error(
            "gem",
            StatusCode::from_u16(status).expect("status"),
            &HeaderMap::new(),
            body.as_bytes(),
        );
        assert_eq!(e.class, class, "{name}");
    }
}
