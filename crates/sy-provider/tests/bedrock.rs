//! The Bedrock adapter against FakeBedrock over real HTTP on 127.0.0.1: the fake recomputes every
//! SigV4 signature, so a wrong path encoding, body hash, scope or secret fails these tests.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{provider, read_all, read_json, send};
use serde_json::{Value, json};
use sy_config::{BedrockAuth, CredentialOrigin, ProviderKind};
use sy_core::{ErrorKind, Secret};
use sy_provider::bedrock::eventstream::{EventStreamReader, MessageType};
use sy_provider::bedrock::parse_stream_error;
use sy_provider::{Operation, Provider};
use sy_testkit::{BedrockCredentials, BedrockScript, FakeBedrock};

const CONVERSE: Operation = Operation::Converse { stream: false };
const CONVERSE_STREAM: Operation = Operation::Converse { stream: true };

/// Every model-id shape of the protocol notes: base id, inference profile, another vendor's id,
/// and ARNs holding `/` and `:`.
const MODEL_IDS: &[&str] = &[
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "openai.gpt-oss-120b-1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
    "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
];

fn sigv4_with(fake: &FakeBedrock, credentials: &BedrockCredentials) -> Provider {
    provider(
        "bedrock-use1",
        ProviderKind::Bedrock {
            region: credentials.region.clone(),
            endpoint: fake.base_url(),
            auth: BedrockAuth::SigV4 {
                access_key_id: credentials.access_key_id.clone(),
                secret_access_key: Secret::new(credentials.secret_access_key.clone()),
                session_token: credentials.session_token.clone().map(Secret::new),
                origin: CredentialOrigin::Config,
            },
        },
    )
}

fn sigv4(fake: &FakeBedrock) -> Provider {
    sigv4_with(fake, fake.credentials())
}

fn bearer(fake: &FakeBedrock, key: &str) -> Provider {
    provider(
        "bedrock-key",
        ProviderKind::Bedrock {
            region: "us-east-1".into(),
            endpoint: fake.base_url(),
            auth: BedrockAuth::ApiKey {
                key: Secret::new(key),
                origin: CredentialOrigin::Environment,
            },
        },
    )
}

fn converse_body() -> Value {
    json!({ "messages": [{ "role": "user", "content": [{ "text": "hi" }] }],
            "inferenceConfig": { "maxTokens": 10 } })
}

#[tokio::test]
async fn converse_is_signed_correctly_for_every_model_id_shape() {
    let fake = FakeBedrock::start(BedrockScript::reply(&["Hello", " there"])).await;
    let bedrock = sigv4(&fake);
    for id in MODEL_IDS {
        let mut response = send(&bedrock, CONVERSE, id, &converse_body()).await;
        let body = read_json(&mut response).await;
        assert_eq!(response.status, 200, "{id}: {body}");
        assert_eq!(
            body["output"]["message"]["content"][0]["text"],
            "Hello there"
        );
        assert_eq!(body["usage"]["inputTokens"], 11);
    }
    let received: Vec<String> = fake.model_ids().into_iter().map(Option::unwrap).collect();
    assert_eq!(
        received, MODEL_IDS,
        "each id arrives whole, as one path segment"
    );
    let recorded = &fake.requests()[3];
    assert!(
        recorded.path_and_query.starts_with("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic"),
        "{}",
        recorded.path_and_query
    );
    assert_eq!(
        recorded.header("x-amz-security-token").as_deref(),
        Some("TOKEN123")
    );
    assert!(
        recorded
            .header("authorization")
            .unwrap()
            .contains("/us-east-1/bedrock/aws4_request")
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_blamed_on_the_gateway() {
    let fake = FakeBedrock::start(BedrockScript::reply(&["never"])).await;
    let mut wrong = fake.credentials().clone();
    wrong.secret_access_key = "not-the-secret".into();
    let bedrock = sigv4_with(&fake, &wrong);
    let mut response = send(&bedrock, CONVERSE, MODEL_IDS[0], &converse_body()).await;
    assert_eq!(response.status, 403);
    assert!(
        response.headers["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("InvalidSignatureException:")
    );
    let body = read_all(&mut response).await;
    let error = bedrock.upstream_error(response.status, &response.headers, &body);
    assert_eq!(error.code.as_deref(), Some("InvalidSignatureException"));
    assert!(
        error
            .message
            .unwrap()
            .starts_with("The request signature we calculated does not match")
    );
    let gateway = bedrock.classify(response.status, &response.headers, &body);
    assert_eq!(gateway.status(), 502);
    assert!(
        matches!(gateway.kind, ErrorKind::UpstreamAuth { ref provider, status: 403 } if provider == "bedrock-use1")
    );

    let mut other_region = fake.credentials().clone();
    other_region.region = "eu-west-1".into();
    let mut response = send(
        &sigv4_with(&fake, &other_region),
        CONVERSE,
        "m",
        &converse_body(),
    )
    .await;
    let body = read_json(&mut response).await;
    assert_eq!(response.status, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("scoped to a valid region"),
        "{body}"
    );
}

#[tokio::test]
async fn converse_stream_frames_decode_across_arbitrary_chunks() {
    let fake = FakeBedrock::start(BedrockScript::reply(&["Hel", "lo", "!"])).await;
    fake.split_frames_every(7);
    let bedrock = sigv4(&fake);
    let response = send(&bedrock, CONVERSE_STREAM, MODEL_IDS[3], &converse_body()).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.headers["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let mut reader = EventStreamReader::new(response.body);
    let mut events = Vec::new();
    while let Some(frame) = reader.next().await {
        let frame = frame.unwrap();
        assert_eq!(frame.message_type, MessageType::Event);
        let payload: Value = serde_json::from_slice(&frame.payload).unwrap();
        events.push((frame.name, payload));
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_ref()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    let text: String = events
        .iter()
        .filter_map(|(_, p)| p["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello!");
    assert_eq!(
        events[6].1["usage"],
        json!({ "inputTokens": 11, "outputTokens": 3, "totalTokens": 14 })
    );
}

#[tokio::test]
async fn a_mid_stream_exception_is_read_and_stays_retryable() {
    let fake = FakeBedrock::start(BedrockScript::stream_exception(
        &["a", "b", "c"],
        1,
        "throttlingException",
        "Too many tokens, please wait before trying again.",
    ))
    .await;
    let bedrock = sigv4(&fake);
    let response = send(&bedrock, CONVERSE_STREAM, MODEL_IDS[2], &converse_body()).await;
    assert_eq!(response.status, 200, "the stream had started");
    let mut reader = EventStreamReader::new(response.body);
    let mut frames = Vec::new();
    while let Some(frame) = reader.next().await {
        frames.push(frame.unwrap());
    }
    let last = frames.last().unwrap();
    assert_eq!(frames.len(), 3, "messageStart, one delta, the exception");
    assert!(last.is_failure());
    assert_eq!(
        (last.message_type, last.name.as_ref()),
        (MessageType::Exception, "throttlingException")
    );
    let error = parse_stream_error("bedrock-use1", &last.name, &last.payload);
    assert_eq!(error.status, 429);
    assert!(error.to_gateway_error().retryable());
}

#[tokio::test]
async fn a_truncated_stream_is_an_error_not_a_clean_end() {
    let fake = FakeBedrock::start(BedrockScript::Truncated {
        pieces: vec!["a".into(), "b".into()],
        keep_bytes: 200,
    })
    .await;
    let response = send(
        &sigv4(&fake),
        CONVERSE_STREAM,
        MODEL_IDS[0],
        &converse_body(),
    )
    .await;
    let mut reader = EventStreamReader::new(response.body);
    let mut last = None;
    while let Some(frame) = reader.next().await {
        last = Some(frame);
    }
    let error = last.unwrap().unwrap_err();
    assert!(error.0.contains("ended inside a frame"), "{error}");
}

#[tokio::test]
async fn http_errors_are_classified_by_their_bedrock_names() {
    let fake = FakeBedrock::start(BedrockScript::throttled()).await;
    let bedrock = sigv4(&fake);
    let cases: &[(BedrockScript, u16, bool)] = &[
        (BedrockScript::throttled(), 429, true),
        (
            BedrockScript::error(503, "ServiceUnavailableException", "Service unavailable"),
            503,
            true,
        ),
        (
            BedrockScript::error(408, "ModelTimeoutException", "Model timed out"),
            504,
            true,
        ),
        (
            BedrockScript::error(500, "InternalServerException", "Internal error"),
            502,
            true,
        ),
        (
            BedrockScript::error(400, "ValidationException", "Malformed input"),
            400,
            false,
        ),
        (
            BedrockScript::error(404, "ResourceNotFoundException", "Model not found"),
            404,
            false,
        ),
        (
            BedrockScript::error(
                403,
                "AccessDeniedException",
                "You don't have access to the model",
            ),
            502,
            false,
        ),
    ];
    for (script, status, retryable) in cases {
        fake.set_script(script.clone());
        let mut response = send(&bedrock, CONVERSE, MODEL_IDS[1], &converse_body()).await;
        let body = read_all(&mut response).await;
        let error = bedrock.classify(response.status, &response.headers, &body);
        assert_eq!(
            (error.status(), error.retryable()),
            (*status, *retryable),
            "{script:?}: {error}"
        );
        assert!(error.message.contains("`bedrock-use1`"), "{error}");
    }
    let response = send(&bedrock, CONVERSE, MODEL_IDS[1], &converse_body()).await;
    assert!(sy_provider::upstream_request_id(&response.headers).is_some());
}

#[tokio::test]
async fn bedrock_api_keys_are_sent_as_bearer() {
    let fake = FakeBedrock::start(BedrockScript::reply(&["ok"])).await;
    let key = fake.credentials().api_key.clone();
    let mut response = send(
        &bearer(&fake, &key),
        CONVERSE,
        MODEL_IDS[0],
        &converse_body(),
    )
    .await;
    let body = read_all(&mut response).await;
    assert_eq!(response.status, 200, "{body:?}");
    let recorded = &fake.requests()[0];
    assert_eq!(
        recorded.header("authorization"),
        Some(format!("Bearer {key}"))
    );
    assert!(recorded.header("x-amz-date").is_none());

    let response = send(
        &bearer(&fake, "wrong-key"),
        CONVERSE,
        MODEL_IDS[0],
        &converse_body(),
    )
    .await;
    assert_eq!(response.status, 403);
}

#[tokio::test]
async fn invoke_and_count_tokens() {
    let fake = FakeBedrock::start(BedrockScript::reply(&["Hi", "!"])).await;
    let bedrock = sigv4(&fake);
    let body = json!({ "anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                       "messages": [{ "role": "user", "content": "hi" }] });
    let mut response = send(
        &bedrock,
        Operation::Invoke { stream: false },
        MODEL_IDS[1],
        &body,
    )
    .await;
    let message = read_json(&mut response).await;
    assert_eq!(
        (
            response.status.as_u16(),
            message["content"][0]["text"].as_str()
        ),
        (200, Some("Hi!"))
    );
    assert_eq!(
        fake.requests()[0].header("accept").as_deref(),
        Some("application/json")
    );

    let response = send(
        &bedrock,
        Operation::Invoke { stream: true },
        MODEL_IDS[1],
        &body,
    )
    .await;
    assert_eq!(
        fake.requests()[1]
            .header("x-amzn-bedrock-accept")
            .as_deref(),
        Some("application/json")
    );
    let mut reader = EventStreamReader::new(response.body);
    let mut types = Vec::new();
    while let Some(frame) = reader.next().await {
        let frame = frame.unwrap();
        assert_eq!(frame.name, "chunk");
        let payload: Value = serde_json::from_slice(&frame.payload).unwrap();
        let inner = STANDARD.decode(payload["bytes"].as_str().unwrap()).unwrap();
        let event: Value = serde_json::from_slice(&inner).unwrap();
        types.push(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(types.first().map(String::as_str), Some("message_start"));
    assert_eq!(types.last().map(String::as_str), Some("message_stop"));

    let count = json!({ "input": { "converse": { "messages": [{ "role": "user", "content": [{ "text": "hi" }] }] } } });
    let mut response = send(&bedrock, Operation::CountTokens, MODEL_IDS[0], &count).await;
    assert_eq!(read_json(&mut response).await, json!({ "inputTokens": 11 }));
    assert!(fake.requests()[2].path_and_query.ends_with("/count-tokens"));
}

#[tokio::test]
async fn openai_bodies_are_not_sent_to_bedrock() {
    let fake = FakeBedrock::start(BedrockScript::reply(&["never"])).await;
    let error = sigv4(&fake)
        .send(
            Operation::ChatCompletions,
            "m",
            bytes::Bytes::new(),
            None,
            sy_config::Timeouts::default().head(false),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotRoutable);
    assert!(fake.requests().is_empty());
}
