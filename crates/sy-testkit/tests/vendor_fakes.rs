//! FakeBedrock, FakeAnthropic and FakeGemini over real loopback connections: what they accept,
//! what they refuse, and the wire shapes they answer with.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::{h1, read_all};
use http::{HeaderMap, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::{Value, json};
use sy_testkit::bedrock::{AuthMode, check_authorization, decode_frames};
use sy_testkit::{
    AnthropicScript, BedrockCredentials, BedrockScript, FakeAnthropic, FakeBedrock, FakeGemini,
    GeminiScript,
};

async fn post(url: &str, headers: &[(&str, &str)], body: &str) -> Response<Incoming> {
    let mut request = Request::post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    h1().request(
        request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap(),
    )
    .await
    .unwrap()
}

async fn json_of(response: Response<Incoming>) -> Value {
    let (body, failed) = read_all(response).await;
    assert!(!failed);
    serde_json::from_slice(&body).unwrap()
}

/// The Converse call boto3 1.43.11 signed in the protocol notes, as it arrived.
fn boto3_request() -> (HeaderMap, &'static str, SystemTime) {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "127.0.0.1:9"),
        ("content-type", "application/json"),
        ("x-amz-date", "20261126T092929Z"),
        ("x-amz-security-token", "TOKEN123"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=c5e1789a3b7a88c59ebbdcb388de4fd2de9d5b1db299bf27fe1dc125b067c1b2",
        ),
        ("user-agent", "Boto3/1.43.11"),
    ] {
        headers.insert(name, value.parse().unwrap());
    }
    let body = r#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 10}}"#;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_685_369);
    (headers, body, at)
}

const BOTO3_PATH: &str = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse";

#[test]
fn the_signature_check_accepts_boto3_and_refuses_every_alteration() {
    let credentials = BedrockCredentials::test();
    let (headers, body, at) = boto3_request();
    let check = |path: &str, headers: &HeaderMap, body: &str, creds: &BedrockCredentials, now| {
        check_authorization("POST", path, headers, body.as_bytes(), creds, now)
    };
    assert_eq!(
        check(BOTO3_PATH, &headers, body, &credentials, at),
        Ok(AuthMode::SigV4)
    );
    assert_eq!(
        check(
            BOTO3_PATH,
            &headers,
            body,
            &credentials,
            at + Duration::from_secs(299)
        ),
        Ok(AuthMode::SigV4),
        "within five minutes"
    );

    let refused = |result: Result<AuthMode, sy_testkit::bedrock::AuthRefusal>| {
        let refusal = result.unwrap_err();
        (refusal.error_type, refusal.message)
    };
    let (kind, _) = refused(check(
        BOTO3_PATH,
        &headers,
        &body.replace("10", "11"),
        &credentials,
        at,
    ));
    assert_eq!(kind, "InvalidSignatureException", "a tampered body");
    let single_encoded = "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse";
    let (kind, _) = refused(check(single_encoded, &headers, body, &credentials, at));
    assert_eq!(
        kind, "InvalidSignatureException",
        "another path than the one signed"
    );
    let (kind, message) = refused(check(
        BOTO3_PATH,
        &headers,
        body,
        &credentials,
        at + Duration::from_secs(600),
    ));
    assert_eq!(kind, "InvalidSignatureException");
    assert!(
        message.starts_with(
            "Signature expired: 20261126T092929Z is now earlier than 20261126T093429Z"
        ),
        "{message}"
    );

    let mut wrong_secret = credentials.clone();
    wrong_secret.secret_access_key.push('x');
    assert_eq!(
        refused(check(BOTO3_PATH, &headers, body, &wrong_secret, at)).0,
        "InvalidSignatureException"
    );
    let mut other_region = credentials.clone();
    other_region.region = "us-west-2".into();
    assert!(
        refused(check(BOTO3_PATH, &headers, body, &other_region, at))
            .1
            .contains("valid region")
    );
    let mut other_key = credentials.clone();
    other_key.access_key_id = "AKIDOTHER".into();
    assert_eq!(
        refused(check(BOTO3_PATH, &headers, body, &other_key, at)).0,
        "UnrecognizedClientException"
    );
    let mut no_token = headers.clone();
    no_token.remove("x-amz-security-token");
    assert_eq!(
        refused(check(BOTO3_PATH, &no_token, body, &credentials, at)).0,
        "UnrecognizedClientException"
    );
    let mut unsigned_header = headers.clone();
    unsigned_header.insert("content-type", "text/plain".parse().unwrap());
    assert_eq!(
        refused(check(BOTO3_PATH, &unsigned_header, body, &credentials, at)).0,
        "InvalidSignatureException"
    );
}

#[tokio::test]
async fn bedrock_refuses_unsigned_requests_and_split_model_ids() {
    let fake = FakeBedrock::start(BedrockScript::reply(&["hi"])).await;
    let url = |path: &str| format!("{}{path}", fake.base_url());
    let response = post(
        &url(BOTO3_PATH),
        &[("content-type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/"
    );
    assert!(response.headers().contains_key("x-amzn-requestid"));
    assert_eq!(
        json_of(response).await,
        json!({ "message": "Missing Authentication Token" })
    );

    let bearer = format!("Bearer {}", fake.credentials().api_key);
    let auth = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    // An ARN whose `/` was not encoded reaches Bedrock as two segments.
    let split = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse";
    let response = post(&url(split), &auth, "{}").await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        json_of(response).await["message"],
        "The provided model identifier is invalid."
    );
    let response = post(&url("/model/m/converse"), &auth, "{}").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        fake.requests().len(),
        3,
        "refused requests are recorded too"
    );
}

#[tokio::test]
async fn bedrock_streams_are_well_formed_event_streams() {
    let fake = FakeBedrock::start(BedrockScript::stream_exception(
        &["a", "b"],
        2,
        "modelStreamErrorException",
        "boom",
    ))
    .await;
    fake.split_frames_every(5);
    let bearer = format!("Bearer {}", fake.credentials().api_key);
    let response = post(
        &format!("{}/model/m/converse-stream", fake.base_url()),
        &[("authorization", bearer.as_str())],
        "{}",
    )
    .await;
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let (body, failed) = read_all(response).await;
    assert!(!failed);
    let frames = decode_frames(&body).unwrap();
    let kinds: Vec<(&str, &str)> = frames
        .iter()
        .map(|(k, n, _)| (k.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("event", "messageStart"),
            ("event", "contentBlockDelta"),
            ("event", "contentBlockDelta"),
            ("exception", "modelStreamErrorException")
        ]
    );
    let payload: Value = serde_json::from_slice(&frames[3].2).unwrap();
    assert_eq!(payload, json!({ "message": "boom" }));
}

#[tokio::test]
async fn anthropic_checks_its_headers() {
    let fake = FakeAnthropic::start(AnthropicScript::reply(&["hi"])).await;
    let url = format!("{}/v1/messages", fake.base_url());
    let body = r#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let no_key = post(&url, &[("anthropic-version", "2023-06-01")], body).await;
    assert_eq!(no_key.status(), 401);
    assert_eq!(
        json_of(no_key).await["error"]["type"],
        "authentication_error"
    );
    let key = sy_testkit::anthropic::TEST_API_KEY;
    let no_version = post(&url, &[("x-api-key", key)], body).await;
    assert_eq!(no_version.status(), 400);
    assert_eq!(
        json_of(no_version).await["error"]["message"],
        "anthropic-version: header is required"
    );
    let ok = post(
        &url,
        &[("x-api-key", key), ("anthropic-version", "2023-06-01")],
        body,
    )
    .await;
    assert!(
        ok.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let message = json_of(ok).await;
    assert_eq!(
        (message["type"].as_str(), message["stop_reason"].as_str()),
        (Some("message"), Some("end_turn"))
    );
}

#[tokio::test]
async fn gemini_streams_an_array_without_alt_sse_and_takes_a_key_parameter() {
    let fake = FakeGemini::start(GeminiScript::reply(&["a", "b"])).await;
    let base = fake.base_url();
    let key = sy_testkit::gemini::TEST_API_KEY;
    let no_key = post(
        &format!("{base}/v1beta/models/g:generateContent"),
        &[],
        "{}",
    )
    .await;
    assert_eq!(no_key.status(), 403);
    assert_eq!(
        json_of(no_key).await["error"]["status"],
        "PERMISSION_DENIED"
    );
    let array = post(
        &format!("{base}/v1beta/models/g:streamGenerateContent?key={key}"),
        &[],
        "{}",
    )
    .await;
    assert!(
        array.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let chunks = json_of(array).await;
    assert_eq!(chunks.as_array().map(Vec::len), Some(2));
    assert_eq!(chunks[1]["candidates"][0]["finishReason"], "STOP");
}
