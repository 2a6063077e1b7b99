//! Provider-level behaviour: each kind builds its adapter and classifies by its own conventions.

use http::{HeaderMap, StatusCode};
use sy_config::{
    BedrockAuth, CredentialOrigin, Provider as ProviderConfig, ProviderKind, Timeouts,
};
use sy_core::Secret;

use super::*;

fn provider(kind: ProviderKind) -> Provider {
    Provider::new(&ProviderConfig {
        name: "p".into(),
        kind,
        timeouts: Timeouts::default(),
    })
    .expect("provider")
}

#[test]
fn each_kind_classifies_by_its_own_conventions() {
    let gemini = provider(ProviderKind::Gemini {
        base_url: "https://generativelanguage.googleapis.com".into(),
        api_key: Secret::new("k"),
    });
    let openai = provider(ProviderKind::OpenAi {
        base_url: "https://api.openai.com/v1".into(),
        api_key: Secret::new("k"),
        stream_usage: true,
    });
    let bad_key = br#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
    let headers = HeaderMap::new();
    assert_eq!(
        gemini
            .classify(StatusCode::BAD_REQUEST, &headers, bad_key)
            .status(),
        502
    );
    assert_eq!(
        openai
            .classify(StatusCode::BAD_REQUEST, &headers, bad_key)
            .status(),
        400
    );
    assert!(openai.stream_usage && !gemini.stream_usage);

    let anthropic = provider(ProviderKind::Anthropic {
        base_url: "https://api.anthropic.com".into(),
        api_key: Secret::new("k"),
        version: "2023-06-01".into(),
    });
    let overloaded =
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let e = anthropic.upstream_error(
        StatusCode::from_u16(529).expect("status"),
        &headers,
        overloaded,
    );
    assert_eq!(
        (e.provider.as_str(), e.code.as_deref()),
        ("p", Some("overloaded_error"))
    );

    let bedrock = provider(ProviderKind::Bedrock {
        region: "us-east-1".into(),
        endpoint: "https://bedrock-runtime.us-east-1.amazonaws.com".into(),
        auth: BedrockAuth::ApiKey {
            key: Secret::new("k"),
            origin: CredentialOrigin::Config,
        },
    });
    let mut h = HeaderMap::new();
    h.insert(
        "x-amzn-errortype",
        "ThrottlingException".parse().expect("header"),
    );
    h.insert("x-amzn-RequestId", "abc-123".parse().expect("header"));
    let throttled = bedrock.classify(StatusCode::BAD_REQUEST, &h, br#"{"message":"slow"}"#);
    assert_eq!(throttled.status(), 429);
    assert!(throttled.retryable());
    assert_eq!(upstream_request_id(&h), Some("abc-123"));
}

#[test]
fn operation_names_are_stable() {
    assert_eq!(Operation::ChatCompletions.name(), "chat_completions");
    assert_eq!(
        Operation::Converse { stream: true }.name(),
        "converse_stream"
    );
    assert_eq!(
        Operation::GenerateContent { stream: true }.name(),
        "stream_generate_content"
    );
}
