//! SigV4 verification against requests signed by the AWS SDK's signer and a boto3 test vector.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Uri};
use sy_core::Secret;
use sy_provider::bedrock::canonical;

use super::testing::{HOST, MODEL_IDS, OPERATIONS, Received, Signing, path_segment};
use super::*;

const AKID: &str = "AKSYEXAMPLE234567ABC";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn converse_target(model_id: &str) -> String {
    format!("/model/{}/converse", path_segment(model_id))
}

/// Parses and verifies at the present time with `secret`.
fn verify_with(received: &Received, secret: &str) -> Result<(), SigV4Error> {
    let request = received.request();
    let auth = Authorization::parse(request.headers, SystemTime::now())?;
    auth.verify(&request, &Secret::new(secret))
}

fn verify(received: &Received) -> Result<(), SigV4Error> {
    verify_with(received, SECRET)
}

#[test]
fn every_model_id_shape_and_operation_verifies() {
    for model_id in MODEL_IDS {
        for operation in OPERATIONS {
            let target = format!("/model/{}/{operation}", path_segment(model_id));
            let received = Signing::new(AKID, SECRET, target.clone()).sign();
            assert_eq!(
                received.uri.path(),
                target,
                "the path reaches us still encoded"
            );
            let auth = Authorization::parse(&received.headers, SystemTime::now()).unwrap();
            assert_eq!(auth.access_key_id, AKID);
            assert_eq!(auth.region, "us-east-1");
            assert_eq!(auth.service, "bedrock");
            assert_eq!(verify(&received), Ok(()), "{target}");
        }
    }
}

#[test]
fn a_literal_colon_in_the_path_verifies_too() {
    // The Anthropic SDK's Bedrock client sends `:` unencoded; the signer encodes it once.
    let target = "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/invoke".to_owned();
    let received = Signing::new(AKID, SECRET, target).sign();
    assert_eq!(verify(&received), Ok(()));
}

#[test]
fn a_path_prefix_and_a_query_are_signed_as_sent() {
    let target = format!("/bedrock{}?b=2&a=x%2Fy&a=1", converse_target(MODEL_IDS[3]));
    let received = Signing::new(AKID, SECRET, target).sign();
    assert_eq!(verify(&received), Ok(()));
}

#[test]
fn http2_authority_stands_in_for_the_host_header() {
    let mut received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    received.headers.remove("host");
    received.uri = format!("https://{HOST}{}", received.uri).parse().unwrap();
    assert_eq!(verify(&received), Ok(()));
}

#[test]
fn a_declared_content_hash_is_checked_against_the_body() {
    let mut signing = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0]));
    let hash = canonical::sha256_hex(&signing.body);
    signing.headers.push(("x-amz-content-sha256", hash));
    let received = signing.sign();
    assert_eq!(verify(&received), Ok(()));

    let mut lying = received.clone();
    lying.body = b"{}".to_vec();
    assert_eq!(verify(&lying), Err(SigV4Error::ContentHashMismatch));
}

#[test]
fn a_tampered_body_fails() {
    let mut received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    received.body = br#"{"messages":[{"role":"user","content":[{"text":"bye"}]}]}"#.to_vec();
    assert_eq!(verify(&received), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn a_tampered_path_fails() {
    let received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    for target in [
        converse_target(MODEL_IDS[1]),
        // The same model id decoded: it routes alike but was not what the client signed.
        "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse".to_owned(),
        format!("/model/{}/invoke", path_segment(MODEL_IDS[0])),
    ] {
        let mut tampered = received.clone();
        tampered.uri = target.parse().unwrap();
        assert_eq!(
            verify(&tampered),
            Err(SigV4Error::SignatureMismatch),
            "{target}"
        );
    }
}

#[test]
fn a_tampered_signed_header_fails() {
    let mut received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    received.set_header("host", "elsewhere.example.com");
    assert_eq!(verify(&received), Err(SigV4Error::SignatureMismatch));
}

#[test]
fn the_wrong_secret_fails() {
    let received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    assert_eq!(
        verify_with(&received, "another-secret-another-secret-another-se"),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn host_must_be_signed() {
    let mut received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    let authorization = received.authorization().replace(
        "SignedHeaders=content-type;host;x-amz-date",
        "SignedHeaders=content-type;x-amz-date",
    );
    received.set_header("authorization", &authorization);
    let error = verify(&received).unwrap_err();
    assert_eq!(error.code(), "IncompleteSignatureException");
    assert!(error.message().contains("'Host'"), "{error}");
}

#[test]
fn a_stale_request_is_refused_as_aws_words_it() {
    let mut signing = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0]));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    signing.at = now - Duration::from_secs(16 * 60);
    let received = signing.sign();
    let error = Authorization::parse(&received.headers, now).unwrap_err();
    assert_eq!(
        error,
        SigV4Error::Expired {
            signed: "20261118T105040Z".to_owned(),
            earliest: "20261118T105140Z".to_owned(),
            now: "20261118T110640Z".to_owned(),
        }
    );
    assert_eq!(error.code(), "InvalidSignatureException");
    assert_eq!(
        error.message(),
        "Signature expired: 20261118T105040Z is now earlier than 20261118T105140Z (20261118T110640Z - 15 min.)"
    );

    // Within the window either way is fine.
    signing.at = now - Duration::from_secs(14 * 60);
    assert!(Authorization::parse(&signing.sign().headers, now).is_ok());
    signing.at = now + Duration::from_secs(14 * 60);
    assert!(Authorization::parse(&signing.sign().headers, now).is_ok());
}

#[test]
fn a_request_from_the_future_is_refused() {
    let mut signing = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0]));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    signing.at = now + Duration::from_secs(16 * 60);
    let error = Authorization::parse(&signing.sign().headers, now).unwrap_err();
    assert_eq!(error.code(), "InvalidSignatureException");
    assert_eq!(
        error.message(),
        "Signature not yet current: 20261118T112240Z is still later than 20261118T112140Z (20261118T110640Z + 15 min.)"
    );
}

#[test]
fn session_tokens_are_refused() {
    let mut signing = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0]));
    signing.session_token = Some("TOKEN123");
    let received = signing.sign();
    assert!(received.headers.contains_key("x-amz-security-token"));
    let error = verify(&received).unwrap_err();
    assert_eq!(error, SigV4Error::SessionToken);
    assert_eq!(error.code(), "UnrecognizedClientException");
    assert!(error.message().starts_with(error::INVALID_TOKEN_MESSAGE));
}

#[test]
fn a_scope_for_another_service_is_refused() {
    let mut signing = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0]));
    signing.service = "bedrock-runtime";
    let error = verify(&signing.sign()).unwrap_err();
    assert_eq!(error.code(), "InvalidSignatureException");
    assert!(error.message().contains("'bedrock'"), "{error}");
}

#[test]
fn a_scope_date_other_than_the_request_day_is_refused() {
    let mut received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    let authorization = received.authorization();
    let date = &received.headers["x-amz-date"].to_str().unwrap()[..8];
    let wrong = authorization.replace(&format!("/{date}/"), "/20000101/");
    received.set_header("authorization", &wrong);
    assert!(matches!(verify(&received), Err(SigV4Error::WrongScope(m)) if m.contains("20000101")));
}

#[test]
fn malformed_authorization_headers_are_refused() {
    let received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    let now = SystemTime::now();

    let mut missing = received.headers.clone();
    missing.remove("authorization");
    let error = Authorization::parse(&missing, now).unwrap_err();
    assert_eq!(error, SigV4Error::MissingAuthenticationToken);
    assert_eq!(error.code(), "MissingAuthenticationTokenException");
    assert_eq!(error.message(), "Missing Authentication Token");

    let good = received.authorization();
    let signature = good.rsplit_once("Signature=").unwrap().1;
    let credential = format!("Credential={AKID}/");
    for (value, expect) in [
        ("AWS4-HMAC-SHA256".to_owned(), "must be"),
        ("Bearer sk-sy-secret".to_owned(), "must be"),
        (
            "AWS4-HMAC-SHA512 Credential=a/b/c/d/e".to_owned(),
            "must be",
        ),
        (
            good.replace(&format!(", Signature={signature}"), ""),
            "'Signature'",
        ),
        (good.replace("SignedHeaders=", "Signed="), "'SignedHeaders'"),
        (
            good.replace(&credential, "Credential="),
            "5 slash-delimited",
        ),
        (good.replace("/aws4_request", ""), "5 slash-delimited"),
        (
            good.replace("content-type;host", "content-type;;host"),
            "SignedHeaders",
        ),
    ] {
        let mut headers = received.headers.clone();
        headers.insert("authorization", HeaderValue::from_str(&value).unwrap());
        let error = Authorization::parse(&headers, now).unwrap_err();
        assert_eq!(error.code(), "IncompleteSignatureException", "{value}");
        assert!(error.message().contains(expect), "{value}: {error}");
        assert!(!error.message().contains("sk-sy-secret"), "never echoed");
    }

    let mut headers = received.headers.clone();
    headers.insert(
        "x-amz-date",
        HeaderValue::from_static("2026-11-26T09:29:29Z"),
    );
    let error = Authorization::parse(&headers, now).unwrap_err();
    assert!(error.message().contains("X-Amz-Date"), "{error}");
    headers.remove("x-amz-date");
    let error = Authorization::parse(&headers, now).unwrap_err();
    assert!(error.message().contains("X-Amz-Date"), "{error}");
}

#[test]
fn only_sigv4_headers_are_taken_for_signed() {
    let received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    assert!(is_signed(&received.headers));
    let mut bearer = HeaderMap::new();
    bearer.insert("authorization", HeaderValue::from_static("Bearer sk-sy-x"));
    assert!(!is_signed(&bearer));
    assert!(!is_signed(&HeaderMap::new()));
}

/// PROTOCOLS.md §7.9: a Converse call boto3 signed (with a session token, which only the parse
/// step refuses), recomputed independently of both boto3 and aws-sigv4.
#[test]
fn matches_the_boto3_test_vector() {
    let body = br#"{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 10}}"#;
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("host", HeaderValue::from_static("127.0.0.1:9"));
    headers.insert("x-amz-date", HeaderValue::from_static("20261126T092929Z"));
    headers.insert("x-amz-security-token", HeaderValue::from_static("TOKEN123"));
    let uri: Uri = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        .parse()
        .unwrap();
    let request = SignedRequest::new(&Method::POST, &uri, &headers, Payload::Body(body));
    assert_eq!(
        canonical::sha256_hex(body),
        "6b3fb1113743f818c585a75770f34098524d3f047635eb6968d6cebad596eaeb"
    );
    let signed_headers = ["content-type", "host", "x-amz-date", "x-amz-security-token"];
    let canonical = canonical::canonical_request(&canonical::CanonicalParts {
        method: "POST",
        raw_path: request.raw_path,
        raw_query: request.raw_query,
        headers: &headers,
        authority: None,
        signed_headers: &signed_headers,
        signed_headers_text: "content-type;host;x-amz-date;x-amz-security-token",
        payload_hash: "6b3fb1113743f818c585a75770f34098524d3f047635eb6968d6cebad596eaeb",
    });
    assert_eq!(
        canonical::sha256_hex(&canonical),
        "10b86ea003a8cdb37b399aaf31c2739df391e53f6776c0da8b3e890f55e39429"
    );
    let auth = Authorization {
        access_key_id: "AKIDEXAMPLE",
        date: "20261126",
        region: "us-east-1",
        service: "bedrock",
        signed_headers_text: "content-type;host;x-amz-date;x-amz-security-token",
        signed_headers: signed_headers.to_vec(),
        signature: "c5e1789a3b7a88c59ebbdcb388de4fd2de9d5b1db299bf27fe1dc125b067c1b2",
        amz_date: "20261126T092929Z",
        signed_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_685_369),
    };
    assert_eq!(
        auth.verify(
            &request,
            &Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        ),
        Ok(())
    );
}

#[test]
fn refusals_render_as_bedrock_answers() {
    let response = SigV4Error::SignatureMismatch.into_response("req_123");
    assert_eq!(response.status(), 403);
    let headers = response.headers();
    assert_eq!(headers["x-amzn-errortype"], "InvalidSignatureException");
    assert_eq!(headers["x-amzn-requestid"], "req_123");
    assert_eq!(headers["content-type"], "application/json");

    let unknown = SigV4Error::UnknownAccessKey;
    assert_eq!(unknown.code(), "UnrecognizedClientException");
    assert_eq!(
        unknown.message(),
        "The security token included in the request is invalid."
    );
    assert_eq!(
        SigV4Error::SignatureMismatch.message(),
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    );
}

#[tokio::test]
async fn the_rendered_body_is_the_message_alone() {
    use http_body_util::BodyExt;
    let response = SigV4Error::UnknownAccessKey.into_response("req_1");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"message": "The security token included in the request is invalid."})
    );
}

#[test]
fn refused_keys_take_the_aws_exception_for_their_reason() {
    use sy_core::{ErrorKind, GatewayError};
    let refused = |kind| SigV4Error::Refused(GatewayError::new(kind, "the API key `key_1` ..."));
    let cases = [
        (
            refused(ErrorKind::Unauthenticated {
                code: "key_revoked",
            }),
            "UnrecognizedClientException",
            403,
        ),
        (
            refused(ErrorKind::Unauthenticated {
                code: "key_expired",
            }),
            "ExpiredTokenException",
            403,
        ),
        (
            refused(ErrorKind::PermissionDenied {
                code: "tenant_disabled",
            }),
            "AccessDeniedException",
            403,
        ),
        (
            refused(ErrorKind::StateUnavailable),
            "ServiceUnavailableException",
            503,
        ),
    ];
    for (error, code, status) in cases {
        assert_eq!(error.code(), code);
        assert_eq!(error.status(), status);
        assert_eq!(error.message(), "the API key `key_1` ...");
    }
}

#[test]
fn odd_signed_header_names_fail_cleanly() {
    let mut received = Signing::new(AKID, SECRET, converse_target(MODEL_IDS[0])).sign();
    let original = received.authorization();
    for list in [
        "content-type;host;x-amz-date;x y",
        "content-type;HOST;x-amz-date;\u{e9}",
    ] {
        let authorization = original.replace(
            "SignedHeaders=content-type;host;x-amz-date",
            &format!("SignedHeaders={list}"),
        );
        received.set_header("authorization", &authorization);
        assert!(verify(&received).is_err(), "{list}");
    }
}
