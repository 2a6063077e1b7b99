//! Test support: requests signed by the AWS SDK's own signer (`aws-sigv4` with the defaults the
//! SDKs use for Bedrock: double-encoded path, normalised path, no content-hash header), described
//! as the gateway receives them.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::{Payload, SignedRequest};

pub const HOST: &str = "gw.example.com:4000";
pub const REGION: &str = "us-east-1";

/// The model ids Bedrock clients send, in every shape PROTOCOLS.md §7.1 lists.
pub const MODEL_IDS: [&str; 4] = [
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "openai.gpt-oss-120b-1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
];

pub const OPERATIONS: [&str; 4] = [
    "converse",
    "converse-stream",
    "invoke",
    "invoke-with-response-stream",
];

/// A model id as botocore puts it in the path: everything outside `A-Za-z0-9-._~` percent-encoded.
pub fn path_segment(model_id: &str) -> String {
    model_id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A signed request as it reaches the server over HTTP/1.1: origin-form target and a Host header.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn request(&self) -> SignedRequest<'_> {
        SignedRequest::new(
            &self.method,
            &self.uri,
            &self.headers,
            Payload::Body(&self.body),
        )
    }

    pub fn set_header(&mut self, name: &'static str, value: &str) {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }

    pub fn authorization(&self) -> String {
        self.headers["authorization"].to_str().unwrap().to_owned()
    }
}

/// What to sign; [`Signing::new`] gives a Converse call with JSON content signed now.
#[derive(Debug, Clone)]
pub struct Signing<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
    pub session_token: Option<&'a str>,
    pub service: &'a str,
    pub at: SystemTime,
    /// Origin-form target: path and optional query, already percent-encoded.
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl<'a> Signing<'a> {
    pub fn new(access_key_id: &'a str, secret: &'a str, target: String) -> Self {
        Self {
            access_key_id,
            secret,
            session_token: None,
            service: "bedrock",
            at: SystemTime::now(),
            target,
            headers: vec![
                ("host", HOST.to_owned()),
                ("content-type", "application/json".to_owned()),
            ],
            body: br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#.to_vec(),
        }
    }

    /// Signs with the SDK's signer and returns the request as the gateway would receive it.
    pub fn sign(&self) -> Received {
        let identity: Identity = Credentials::new(
            self.access_key_id,
            self.secret,
            self.session_token.map(str::to_owned),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name(self.service)
            .time(self.at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let url = format!("http://{HOST}{}", self.target);
        let signable = SignableRequest::new(
            "POST",
            url,
            self.headers.iter().map(|(n, v)| (*n, v.as_str())),
            SignableBody::Bytes(&self.body),
        )
        .unwrap();
        let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::builder()
            .method(Method::POST)
            .uri(self.target.as_str());
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        let mut request = request.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        let (parts, ()) = request.into_parts();
        Received {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: self.body.clone(),
        }
    }
}
