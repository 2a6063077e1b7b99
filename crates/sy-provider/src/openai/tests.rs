//! URL shapes and status classification for OpenAI-style upstreams.

use http::HeaderMap;
use sy_config::{AzureApi, ProviderKind, Timeouts};
use sy_core::{ErrorKind, Secret};

use super::*;

fn upstream(kind: ProviderKind) -> OpenAiUpstream {
    OpenAiUpstream::new(&kind, &Timeouts::default()).expect("upstream")
}

#[test]
fn url_shapes() {
    let openai = upstream(ProviderKind::OpenAi {
        base_url: "https://api.openai.com/v1".into(),
        api_key: Secret::new("k"),
        stream_usage: true,
    });
    assert_eq!(
        openai
            .uri(Operation::ChatCompletions, "gpt-4o")
            .expect("uri"),
        "https://api.openai.com/v1/chat/completions"
    );
    let azure = upstream(ProviderKind::Azure {
        endpoint: "https://contoso.openai.azure.com".into(),
        api_key: Secret::new("k"),
        api: AzureApi::Deployments {
            api_version: "2024-10-21".into(),
        },
        stream_usage: true,
    });
    assert_eq!(
        azure.uri(Operation::Embeddings, "emb prod/1").expect("uri"),
        "https://contoso.openai.azure.com/openai/deployments/emb%20prod%2F1/embeddings?api-version=2024-10-21"
    );
    let v1 = upstream(ProviderKind::Azure {
        endpoint: "https://contoso.openai.azure.com".into(),
        api_key: Secret::new("k"),
        api: AzureApi::V1,
        stream_usage: true,
    });
    assert_eq!(
        v1.uri(Operation::ChatCompletions, "dep").expect("uri"),
        "https://contoso.openai.azure.com/openai/v1/chat/completions"
    );
}

#[test]
fn auth_headers_are_sensitive() {
    let azure = upstream(ProviderKind::Azure {
        endpoint: "https://x.openai.azure.com".into(),
        api_key: Secret::new("azure-key-123"),
        api: AzureApi::V1,
        stream_usage: true,
    });
    let (name, value) = azure.auth.as_ref().expect("auth");
    assert_eq!(name, "api-key");
    assert!(value.is_sensitive());
    assert!(!format!("{azure:?}").contains("azure-key-123"));
    let compatible = upstream(ProviderKind::OpenAiCompatible {
        base_url: "http://127.0.0.1:1/v1".into(),
        api_key: None,
        stream_usage: true,
    });
    assert!(compatible.auth.is_none());
}

#[test]
fn classification() {
    let headers = HeaderMap::new();
    let body = br#"{"error":{"message":"Incorrect API key provided"}}"#;
    let auth = classify_status(
        "azure-eastus",
        http::StatusCode::UNAUTHORIZED,
        &headers,
        body,
    );
    assert_eq!(auth.status(), 502);
    assert!(auth.message.contains("`azure-eastus`"));
    assert!(auth.message.contains("Incorrect API key provided"));

    let rate = classify_status("p", http::StatusCode::TOO_MANY_REQUESTS, &headers, b"");
    assert!(matches!(
        rate.kind,
        ErrorKind::UpstreamRejected { status: 429, .. }
    ));
    assert!(rate.retryable());

    let mut h = HeaderMap::new();
    h.insert("retry-after", "7".parse().expect("header"));
    let overloaded = classify_status("p", http::StatusCode::SERVICE_UNAVAILABLE, &h, b"");
    assert_eq!(overloaded.status(), 503);
    assert_eq!(
        overloaded.retry_after(),
        Some(std::time::Duration::from_secs(7))
    );

    assert_eq!(
        classify_status("p", http::StatusCode::INTERNAL_SERVER_ERROR, &headers, b"x").status(),
        502
    );
    assert_eq!(
        classify_status("p", http::StatusCode::GATEWAY_TIMEOUT, &headers, b"").status(),
        504
    );
    assert_eq!(
        classify_status("p", http::StatusCode::BAD_REQUEST, &headers, b"").status(),
        400
    );
}
