//! Bedrock URLs for every model-id shape, SigV4 against a boto3-made vector, error classification
//! and event-stream framing against the worked examples of the protocol notes.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use sy_config::{BedrockAuth, CredentialOrigin, Timeouts};
use sy_core::{ErrorKind, Secret};

use super::eventstream::{
    EventStreamReader, FrameDecoder, MessageType, event_frame, exception_frame,
};
use super::*;
use crate::body::{BodyError, UpstreamBody};
use crate::error::ErrorClass;

fn sigv4(endpoint: &str, token: Option<&str>) -> BedrockUpstream {
    let auth = BedrockAuth::SigV4 {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: token.map(Secret::new),
        origin: CredentialOrigin::Config,
    };
    BedrockUpstream::new(endpoint, "us-east-1", &auth, &Timeouts::default()).expect("upstream")
}

/// `(model id, the path segment on the wire)`: every character outside `A-Za-z0-9-._~` encoded.
const MODEL_IDS: &[(&str, &str)] = &[
    (
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic.claude-3-5-sonnet-20240620-v1%3A0",
    ),
    (
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "us.anthropic.claude-3-7-sonnet-20250219-v1%3A0",
    ),
    ("openai.gpt-oss-120b-1:0", "openai.gpt-oss-120b-1%3A0"),
    (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0",
    ),
    (
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
        "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Famazon.nova-pro-v1%3A0",
    ),
];

#[test]
fn urls_keep_the_model_id_in_one_encoded_segment() {
    let upstream = sigv4("https://bedrock-runtime.us-east-1.amazonaws.com", None);
    for (id, segment) in MODEL_IDS {
        let uri = upstream
            .uri(Operation::Converse { stream: false }, id)
            .expect("uri");
        assert_eq!(
            uri.to_string(),
            format!("https://bedrock-runtime.us-east-1.amazonaws.com/model/{segment}/converse")
        );
    }
    let prefixed = sigv4("http://127.0.0.1:9/bedrock/", None);
    let actions = [
        (Operation::Converse { stream: true }, "converse-stream"),
        (Operation::Invoke { stream: false }, "invoke"),
        (
            Operation::Invoke { stream: true },
            "invoke-with-response-stream",
        ),
        (Operation::CountTokens, "count-tokens"),
    ];
    for (operation, action) in actions {
        let uri = prefixed.uri(operation, "m:1").expect("uri");
        assert_eq!(
            uri.to_string(),
            format!("http://127.0.0.1:9/bedrock/model/m%3A1/{action}")
        );
    }
}

#[test]
fn an_endpoint_without_a_host_or_with_a_query_is_refused_at_start() {
    let auth = BedrockAuth::ApiKey {
        key: Secret::new("k"),
        origin: CredentialOrigin::Config,
    };
    for endpoint in [
        "bedrock.example",
        "/model",
        "http://127.0.0.1:9/bedrock?x=1",
    ] {
        let built = BedrockUpstream::new(endpoint, "us-east-1", &auth, &Timeouts::default());
        assert!(built.is_err(), "{endpoint} was taken");
    }
}

/// Routes are kept up to a bound; past it they are built for each request, as right as before.
#[test]
fn routes_past_the_kept_ones_are_built_alike() {
    let upstream = sigv4("https://bedrock-runtime.us-east-1.amazonaws.com", None);
    for _ in 0..2 {
        for i in 0..super::MAX_ROUTES + 8 {
            for (operation, action) in [
                (Operation::Converse { stream: true }, "converse-stream"),
                (Operation::Invoke { stream: false }, "invoke"),
            ] {
                let uri = upstream
                    .uri(operation, &format!("vendor.model-{i}-v1:0"))
                    .expect("uri");
                assert_eq!(
                    uri.path(),
                    format!("/model/vendor.model-{i}-v1%3A0/{action}")
                );
            }
        }
    }
    assert_eq!(upstream.routes.read().unwrap().len(), super::MAX_ROUTES);
}

/// The vector in the protocol notes: boto3 1.43.11 signed this Converse call, and the signature
/// was recomputed independently.
#[test]
fn signatures_match_a_boto3_vector() {
    let signer = SigV4Signer::new(
        "AKIDEXAMPLE",
        &Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        Some(&Secret::new("TOKEN123")),
        "us-east-1",
    );
    let body = br#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 10}}"#;
    let mut request = Request::post(
        "http://127.0.0.1:9/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
    )
    .header("content-type", "application/json")
    .body(Full::new(Bytes::from_static(body)))
    .expect("request");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_685_369); // 2026-11-26T09:29:29Z
    signer.sign(&mut request, body, at).expect("signed");
    let headers = request.headers();
    assert_eq!(headers["x-amz-date"], "20261126T092929Z");
    assert_eq!(headers["x-amz-security-token"], "TOKEN123");
    assert_eq!(
        headers["authorization"],
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/bedrock/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
         Signature=c5e1789a3b7a88c59ebbdcb388de4fd2de9d5b1db299bf27fe1dc125b067c1b2"
    );
    assert!(headers["authorization"].is_sensitive());
}

#[test]
fn requests_are_signed_per_attempt_and_bearer_keys_are_not_signed() {
    let upstream = sigv4(
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        Some("tok"),
    );
    let body = Bytes::from_static(br#"{"messages":[]}"#);
    let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let first = upstream
        .request(
            Operation::Invoke { stream: true },
            "m",
            body.clone(),
            at(1_795_685_369),
        )
        .expect("request");
    let retry = upstream
        .request(
            Operation::Invoke { stream: true },
            "m",
            body.clone(),
            at(1_795_685_400),
        )
        .expect("request");
    let auth = |r: &Request<Full<Bytes>>| {
        r.headers()["authorization"]
            .to_str()
            .map(str::to_owned)
            .unwrap_or_default()
    };
    assert_ne!(
        auth(&first),
        auth(&retry),
        "a retry carries a fresh signature"
    );
    assert_eq!(first.headers()["x-amzn-bedrock-accept"], "application/json");
    let signed = auth(&first);
    assert!(
        signed.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amzn-bedrock-accept,"
        ),
        "user-agent is left unsigned, as proxies rewrite it: {signed}"
    );

    let bearer = BedrockUpstream::new(
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        "us-east-1",
        &BedrockAuth::ApiKey {
            key: Secret::new("bedrock-api-key-1"),
            origin: CredentialOrigin::Environment,
        },
        &Timeouts::default(),
    )
    .expect("upstream");
    let request = bearer
        .request(Operation::Invoke { stream: false }, "m", body, at(0))
        .expect("request");
    assert_eq!(
        request.headers()["authorization"],
        "Bearer bedrock-api-key-1"
    );
    assert_eq!(request.headers()["accept"], "application/json");
    assert!(request.headers().get("x-amz-date").is_none());
    assert!(!format!("{bearer:?}").contains("bedrock-api-key-1"));
    assert!(!format!("{upstream:?}").contains("EXAMPLEKEY"));
}

#[tokio::test]
async fn other_dialects_are_refused_before_any_io() {
    let upstream = sigv4("http://127.0.0.1:1", None);
    let e = upstream
        .send("br", Operation::ChatCompletions, "m", Bytes::new())
        .await
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::NotRoutable);
    assert!(e.message.contains("`br` (bedrock)"), "{}", e.message);
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_static(k),
                http::HeaderValue::from_static(v),
            )
        })
        .collect()
}

#[test]
fn http_errors_are_named_by_x_amzn_errortype_or_the_body() {
    let e = parse_error(
        "br",
        StatusCode::BAD_REQUEST,
        &headers(&[
            (
                "x-amzn-errortype",
                "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            ),
            ("x-amzn-requestid", "req-1"),
        ]),
        br#"{"message":"The provided model identifier is invalid."}"#,
    );
    assert_eq!(e.code.as_deref(), Some("ValidationException"));
    assert_eq!(
        e.message.as_deref(),
        Some("The provided model identifier is invalid.")
    );
    assert_eq!(e.request_id.as_deref(), Some("req-1"));
    assert_eq!(e.class, ErrorClass::Rejected);
    assert_eq!(e.to_gateway_error().status(), 400);

    let e = parse_error(
        "br",
        StatusCode::FORBIDDEN,
        &HeaderMap::new(),
        br#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","Message":"The security token included in the request is invalid."}"#,
    );
    assert_eq!(e.code.as_deref(), Some("UnrecognizedClientException"));
    assert_eq!(
        e.message.as_deref(),
        Some("The security token included in the request is invalid.")
    );
    let gateway = e.to_gateway_error();
    assert_eq!(
        gateway.status(),
        502,
        "the gateway's credentials, never the caller's"
    );
    assert!(
        gateway
            .message
            .contains("`br` rejected the gateway's credentials")
    );
}

#[test]
fn error_names_decide_the_class_where_the_status_says_less() {
    let cases: &[(u16, &str, ErrorClass, u16, bool)] = &[
        (
            429,
            "ThrottlingException",
            ErrorClass::RateLimited,
            429,
            true,
        ),
        (
            400,
            "ThrottlingException",
            ErrorClass::RateLimited,
            429,
            true,
        ),
        (
            429,
            "ModelNotReadyException",
            ErrorClass::RateLimited,
            429,
            true,
        ),
        (
            400,
            "ServiceQuotaExceededException",
            ErrorClass::RateLimited,
            429,
            true,
        ),
        (
            503,
            "ServiceUnavailableException",
            ErrorClass::Overloaded,
            503,
            true,
        ),
        (408, "ModelTimeoutException", ErrorClass::Timeout, 504, true),
        (
            500,
            "InternalServerException",
            ErrorClass::Failed,
            502,
            true,
        ),
        (424, "ModelErrorException", ErrorClass::Failed, 502, true),
        (400, "ValidationException", ErrorClass::Rejected, 400, false),
        (
            404,
            "ResourceNotFoundException",
            ErrorClass::Rejected,
            404,
            false,
        ),
        (
            403,
            "AccessDeniedException",
            ErrorClass::CredentialsRefused,
            502,
            false,
        ),
        (
            403,
            "InvalidSignatureException",
            ErrorClass::CredentialsRefused,
            502,
            false,
        ),
        (
            403,
            "ExpiredTokenException",
            ErrorClass::CredentialsRefused,
            502,
            false,
        ),
        (502, "SomethingNew", ErrorClass::Failed, 502, true),
    ];
    for &(status, code, class, gateway_status, retryable) in cases {
        let mut h = HeaderMap::new();
        h.insert("x-amzn-errortype", code.parse().expect("header"));
        let status = StatusCode::from_u16(status).expect("status");
        let e = parse_error("br", status, &h, br#"{"message":"m"}"#);
        assert_eq!(e.class, class, "{code}");
        let gateway = e.to_gateway_error();
        assert_eq!(gateway.status(), gateway_status, "{code}");
        assert_eq!(gateway.retryable(), retryable, "{code}");
    }
    let mut h = headers(&[("x-amzn-errortype", "ServiceUnavailableException")]);
    h.insert("retry-after", "3".parse().expect("header"));
    let e = parse_error("br", StatusCode::SERVICE_UNAVAILABLE, &h, b"not json");
    assert_eq!(e.message.as_deref(), Some("not json"));
    assert_eq!(
        e.to_gateway_error().retry_after(),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn stream_exceptions_carry_the_status_their_type_stands_for() {
    let e = parse_stream_error("br", "throttlingException", br#"{"message":"slow down"}"#);
    assert_eq!(
        (e.status, e.code.as_deref()),
        (429, Some("ThrottlingException"))
    );
    assert!(e.retryable(), "throttling stays retryable (E36)");
    assert_eq!(e.message.as_deref(), Some("slow down"));
    let e = parse_stream_error(
        "br",
        "modelStreamErrorException",
        br#"{"message":"boom","originalStatusCode":500}"#,
    );
    assert_eq!((e.status, e.class), (424, ErrorClass::Failed));
    let e = parse_stream_error("br", "validationException", br#"{"message":"bad"}"#);
    assert_eq!((e.status, e.class), (400, ErrorClass::Rejected));
    assert_eq!(exception_status("serviceUnavailableException"), 503);
    assert_eq!(exception_status("internalServerException"), 500);
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The worked examples in the protocol notes (decoded by botocore).
const DELTA_FRAME: &str = "0000009f00000057c37babff0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c7461223a7b2274657874223a224869227d2c2270223a2261626364227df2ace5ff";
const THROTTLING_FRAME: &str = "0000008800000061de0175f40f3a657863657074696f6e2d747970650700137468726f74746c696e67457863657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74797065070009657863657074696f6e7b226d657373616765223a22736c6f7720646f776e227d832ee072";
const DELTA_PAYLOAD: &[u8] = br#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abcd"}"#;

#[test]
fn frames_are_written_byte_for_byte_as_bedrock_writes_them() {
    let event = event_frame("contentBlockDelta", DELTA_PAYLOAD).expect("frame");
    assert_eq!(event.as_ref(), hex(DELTA_FRAME).as_slice());
    let exception =
        exception_frame("throttlingException", br#"{"message":"slow down"}"#).expect("frame");
    assert_eq!(exception.as_ref(), hex(THROTTLING_FRAME).as_slice());
}

#[test]
fn frames_decode_whatever_the_chunk_boundaries() {
    let mut stream = hex(DELTA_FRAME);
    stream.extend(hex(THROTTLING_FRAME));
    stream.extend(event_frame("messageStop", br#"{"stopReason":"end_turn"}"#).expect("frame"));
    for piece in [1, 7, 12, 16, 159, stream.len()] {
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        for chunk in stream.chunks(piece) {
            decoder.push(Bytes::copy_from_slice(chunk));
            while let Some(frame) = decoder.next_frame().expect("valid") {
                frames.push(frame);
            }
        }
        decoder.finish().expect("ends on a frame boundary");
        let names: Vec<(MessageType, &str)> = frames
            .iter()
            .map(|f| (f.message_type, f.name.as_ref()))
            .collect();
        assert_eq!(
            names,
            [
                (MessageType::Event, "contentBlockDelta"),
                (MessageType::Exception, "throttlingException"),
                (MessageType::Event, "messageStop"),
            ],
            "pieces of {piece}"
        );
        assert_eq!(frames[0].payload.as_ref(), DELTA_PAYLOAD);
        assert!(frames[1].is_failure() && !frames[0].is_failure());
    }
}

#[test]
fn a_corrupt_crc_is_an_error_not_silence() {
    let good = hex(DELTA_FRAME);
    for (what, index) in [
        ("message CRC", good.len() - 1),
        ("payload", 120),
        ("prelude CRC", 9),
    ] {
        let mut bad = good.clone();
        bad[index] ^= 0x01;
        let mut decoder = FrameDecoder::new();
        decoder.push(Bytes::copy_from_slice(&bad));
        let e = decoder.next_frame().expect_err(what);
        assert!(e.0.contains("corrupt event-stream frame"), "{what}: {e}");
        assert!(decoder.next_frame().is_err(), "{what}: the error sticks");
        assert!(decoder.finish().is_err(), "{what}");
    }
}

#[test]
fn a_truncated_or_absurd_frame_is_an_error() {
    let good = hex(DELTA_FRAME);
    for cut in [5, 12, 100, good.len() - 1] {
        let mut decoder = FrameDecoder::new();
        decoder.push(Bytes::copy_from_slice(&good[..cut]));
        assert_eq!(decoder.next_frame(), Ok(None), "cut at {cut}");
        let e = decoder.finish().expect_err("truncated");
        assert!(e.0.contains("ended inside a frame"), "{e}");
    }
    let mut decoder = FrameDecoder::new();
    decoder.push(Bytes::from_static(&[
        0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
    ]));
    let e = decoder.next_frame().expect_err("4 GiB frame");
    assert!(e.0.contains("declares 4294967295 bytes"), "{e}");
}

#[test]
fn error_frames_carry_their_code_and_message() {
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue as Value, Message};
    let string = |s: &'static str| Value::String(s.into());
    let message = Message::new(Bytes::new())
        .add_header(Header::new(":message-type", string("error")))
        .add_header(Header::new(":error-code", string("InternalFailure")))
        .add_header(Header::new(":error-message", string("try again")));
    let mut bytes = Vec::new();
    write_message_to(&message, &mut bytes).expect("written");
    let mut decoder = FrameDecoder::new();
    decoder.push(Bytes::copy_from_slice(&bytes));
    let frame = decoder.next_frame().expect("valid").expect("whole");
    assert_eq!(frame.message_type, MessageType::Error);
    assert_eq!(frame.name, "InternalFailure");
    assert_eq!(frame.payload.as_ref(), b"try again");
}

#[tokio::test]
async fn the_reader_reports_a_body_that_ends_mid_frame() {
    let good = hex(DELTA_FRAME);
    let chunks: Vec<Result<Bytes, BodyError>> = vec![
        Ok(Bytes::copy_from_slice(&good[..50])),
        Ok(Bytes::copy_from_slice(&good[50..])),
        Ok(Bytes::copy_from_slice(&good[..30])),
    ];
    let body = UpstreamBody::Local(Box::pin(futures_util::stream::iter(chunks)));
    let mut reader = EventStreamReader::new(body);
    let first = reader.next().await.expect("a frame").expect("valid");
    assert_eq!(first.name, "contentBlockDelta");
    let cut = reader
        .next()
        .await
        .expect("an error")
        .expect_err("truncated");
    assert!(cut.0.contains("ended inside a frame"), "{cut}");
    assert!(reader.next().await.is_none());

    let body = UpstreamBody::full(Bytes::from(good));
    let mut reader = EventStreamReader::new(body);
    assert!(reader.next().await.is_some_and(|f| f.is_ok()));
    assert!(reader.next().await.is_none(), "a clean end");
}

/// Frames that came in one delivery are taken without waiting; a corrupt one among them is left
/// for `next` to report, after the good frames before it.
#[tokio::test]
async fn the_reader_hands_over_the_frames_already_received() {
    let good = hex(DELTA_FRAME);
    let mut corrupt = good.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let delivery = [good.clone(), good.clone(), good[..20].to_vec()].concat();
    let chunks: Vec<Result<Bytes, BodyError>> = vec![
        Ok(Bytes::from(delivery)),
        Ok(Bytes::from([good[20..].to_vec(), corrupt].concat())),
    ];
    let body = UpstreamBody::Local(Box::pin(futures_util::stream::iter(chunks)));
    let mut reader = EventStreamReader::new(body);
    assert!(reader.next_buffered().is_none(), "nothing received yet");
    assert!(reader.next().await.is_some_and(|f| f.is_ok()));
    let second = reader.next_buffered().expect("the second frame is at hand");
    assert_eq!(second.name, "contentBlockDelta");
    assert!(reader.next_buffered().is_none(), "the third is not whole");
    assert!(reader.next().await.is_some_and(|f| f.is_ok()));
    assert!(
        reader.next_buffered().is_none(),
        "a corrupt frame is not handed over"
    );
    let broken = reader.next().await.expect("an error").expect_err("corrupt");
    assert!(broken.0.contains("corrupt"), "{broken}");
    assert!(reader.next().await.is_none());
    assert!(reader.next_buffered().is_none());
}

/// What `aws-sigv4`'s whole-request signer puts in `authorization` for `request` as it stands
/// (with `x-amz-date` and any session token already on it, as the signer adds them).
fn crate_authorization(
    request: &Request<Full<Bytes>>,
    body: &[u8],
    token: Option<&str>,
    time: SystemTime,
) -> String {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let credentials = aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token.map(str::to_owned),
        None,
        "test",
    );
    let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("bedrock")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    // The headers the gateway had before signing: the signer adds these two itself.
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "authorization" | "x-amz-date" | "x-amz-security-token"
            )
        })
        .map(|(name, value)| (name.as_str(), value.to_str().expect("text")))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        request.uri().to_string(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
    let mut expected = Request::new(());
    instructions.apply_to_request_http1x(&mut expected);
    expected.headers()["authorization"]
        .to_str()
        .expect("text")
        .to_owned()
}

/// Every signature equals what `aws-sigv4`'s whole-request signer computes for the same request:
/// every model id shape (`:`, inference profiles, ARNs with `/`, and characters no real id has),
/// every operation, with and without a session token, on AWS's endpoint and on a local one with a
/// port, and across a UTC midnight (the signing key is kept per day).
#[test]
fn signatures_equal_those_of_the_aws_sigv4_request_signer() {
    let model_ids = [
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "openai.gpt-oss-120b-1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123xyz",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
        "odd id+with spaces/and%signs~é",
    ];
    let operations = [
        Operation::Converse { stream: false },
        Operation::Converse { stream: true },
        Operation::Invoke { stream: false },
        Operation::Invoke { stream: true },
        Operation::CountTokens,
    ];
    let midnight = 1_795_737_600; // 2026-11-27T00:00:00Z
    let times = [midnight - 1, midnight, midnight + 3_599, 1_795_685_369];
    let body =
        Bytes::from_static(br#"{"messages":[{"role":"user","content":[{"text":"hi  there"}]}]}"#);
    let mut checked = 0;
    for endpoint in [
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        "http://127.0.0.1:18080/prefix",
    ] {
        for token in [None, Some("session-token/with+chars==")] {
            let upstream = sigv4(endpoint, token);
            for model in model_ids {
                for operation in operations {
                    for secs in times {
                        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
                        let request = upstream
                            .request(operation, model, body.clone(), at)
                            .expect("request");
                        let ours = request.headers()["authorization"].to_str().expect("text");
                        let theirs = crate_authorization(&request, &body, token, at);
                        assert_eq!(
                            ours, theirs,
                            "{endpoint} {model} {operation:?} {secs} {token:?}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 2 * 7 * 5 * 4);
}
