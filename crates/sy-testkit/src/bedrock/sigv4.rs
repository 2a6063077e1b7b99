//! Checking a request's SigV4 signature the way AWS does: from the raw request target (never a
//! decoded path), the headers the client listed as signed, the body bytes received and the known
//! credentials, recomputed with `aws-sigv4`.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::date_time::{DateTime, Format};
use http::HeaderMap;

/// The credentials a [`FakeBedrock`](super::FakeBedrock) accepts.
#[derive(Debug, Clone)]
pub struct BedrockCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// When set, requests must carry (and sign) this `x-amz-security-token`.
    pub session_token: Option<String>,
    /// The region signatures must be scoped to.
    pub region: String,
    /// The Bedrock API key accepted as `Authorization: Bearer`.
    pub api_key: String,
}

impl BedrockCredentials {
    /// AWS's documentation example key pair, a session token, `us-east-1` and a made-up API key.
    pub fn test() -> Self {
        Self {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("TOKEN123".into()),
            region: "us-east-1".into(),
            api_key: "bedrock-api-key-test".into(),
        }
    }
}

/// Why a request was refused, as AWS names it (answered with 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRefusal {
    pub error_type: &'static str,
    pub message: String,
}

impl AuthRefusal {
    fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }
}

/// How an accepted request authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    SigV4,
    Bearer,
}

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
/// How far a signature's time may be from the server's clock.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Checks a request's `Authorization`: a Bedrock API key as Bearer, or a SigV4 signature for
/// service `bedrock` in the credentials' region, within five minutes of `now`.
pub fn check_authorization(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    credentials: &BedrockCredentials,
    now: SystemTime,
) -> Result<AuthMode, AuthRefusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(authorization) = header("authorization") else {
        return Err(AuthRefusal::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    if let Some(token) = authorization.strip_prefix("Bearer ") {
        return if token == credentials.api_key {
            Ok(AuthMode::Bearer)
        } else {
            Err(AuthRefusal::new(
                "UnrecognizedClientException",
                INVALID_TOKEN,
            ))
        };
    }
    let claimed = Claimed::parse(authorization)?;
    if claimed.access_key_id != credentials.access_key_id {
        return Err(AuthRefusal::new(
            "UnrecognizedClientException",
            INVALID_TOKEN,
        ));
    }
    if header("x-amz-security-token") != credentials.session_token.as_deref() {
        return Err(AuthRefusal::new(
            "UnrecognizedClientException",
            INVALID_TOKEN,
        ));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| {
        AuthRefusal::new(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthRefusal::new(
            "IncompleteSignatureException",
            format!("X-Amz-Date {amz_date} is not of the form YYYYMMDDTHHMMSSZ"),
        )
    })?;
    check_scope(&claimed, amz_date, &credentials.region)?;
    check_skew(amz_date, signed_at, now)?;
    let expected = recompute(
        method,
        path_and_query,
        headers,
        body,
        &claimed,
        credentials,
        signed_at,
    )?;
    if expected.signed_headers == claimed.signed_headers && expected.signature == claimed.signature
    {
        Ok(AuthMode::SigV4)
    } else {
        Err(AuthRefusal::new(
            "InvalidSignatureException",
            SIGNATURE_MISMATCH,
        ))
    }
}

/// The parts of `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug)]
struct Claimed {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    terminator: String,
    signed_headers: String,
    signature: String,
}

impl Claimed {
    fn parse(authorization: &str) -> Result<Self, AuthRefusal> {
        let incomplete = || {
            AuthRefusal::new(
                "IncompleteSignatureException",
                format!(
                    "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization={authorization}"
                ),
            )
        };
        let rest = authorization
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(incomplete)?;
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => return Err(incomplete()),
            }
        }
        let scope: Vec<&str> = credential.ok_or_else(incomplete)?.split('/').collect();
        let [access_key_id, date, region, service, terminator] = scope[..] else {
            return Err(incomplete());
        };
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            terminator: terminator.to_owned(),
            signed_headers: signed_headers.ok_or_else(incomplete)?.to_owned(),
            signature: signature.ok_or_else(incomplete)?.to_owned(),
        })
    }
}

fn check_scope(claimed: &Claimed, amz_date: &str, region: &str) -> Result<(), AuthRefusal> {
    let invalid = |message: String| Err(AuthRefusal::new("InvalidSignatureException", message));
    if !amz_date.starts_with(&claimed.date) || claimed.date.len() != 8 {
        return invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            claimed.date,
            amz_date.get(..8).unwrap_or(amz_date)
        ));
    }
    if claimed.region != region {
        return invalid(format!(
            "Credential should be scoped to a valid region. (expected '{region}', got '{}')",
            claimed.region
        ));
    }
    if claimed.service != "bedrock" {
        return invalid("Credential should be scoped to correct service: 'bedrock'.".to_owned());
    }
    if claimed.terminator != "aws4_request" {
        return invalid(
            "Credential should be scoped with a valid terminator: 'aws4_request'".to_owned(),
        );
    }
    Ok(())
}

fn check_skew(amz_date: &str, signed_at: SystemTime, now: SystemTime) -> Result<(), AuthRefusal> {
    let stamp = |t: SystemTime| amz_stamp(t).unwrap_or_default();
    if signed_at + MAX_SKEW < now {
        return Err(AuthRefusal::new(
            "InvalidSignatureException",
            format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
                stamp(now - MAX_SKEW),
                stamp(now)
            ),
        ));
    }
    if signed_at > now + MAX_SKEW {
        return Err(AuthRefusal::new(
            "InvalidSignatureException",
            format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
                stamp(now + MAX_SKEW),
                stamp(now)
            ),
        ));
    }
    Ok(())
}

struct Expected {
    signed_headers: String,
    signature: String,
}

/// Signs the request again over what was received. Only the headers the client listed are
/// signed, and nothing is excluded, so the listed set must match exactly.
fn recompute(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    claimed: &Claimed,
    credentials: &BedrockCredentials,
    signed_at: SystemTime,
) -> Result<Expected, AuthRefusal> {
    let mismatch = || AuthRefusal::new("InvalidSignatureException", SIGNATURE_MISMATCH);
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(mismatch)?;
    let mut listed = Vec::new();
    for name in claimed.signed_headers.split(';') {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(mismatch());
        }
        listed.extend(values.into_iter().map(|v| (name, v)));
    }
    let identity: Identity = Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "sy-testkit",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&credentials.region)
        .name("bedrock")
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    let signable = SignableRequest::new(
        method,
        format!("http://{host}{path_and_query}"),
        listed.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|_| mismatch())?;
    let (instructions, signature) = sign(signable, &params)
        .map_err(|_| mismatch())?
        .into_parts();
    let signed_headers = instructions
        .headers()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.split("SignedHeaders=").nth(1))
        .and_then(|rest| rest.split(',').next())
        .ok_or_else(mismatch)?
        .to_owned();
    Ok(Expected {
        signed_headers,
        signature,
    })
}

/// `20261126T092929Z` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    let parsed = DateTime::from_str(&rfc3339, Format::DateTime).ok()?;
    SystemTime::try_from(parsed).ok()
}

/// A time as `20261126T092929Z`.
pub(crate) fn amz_stamp(time: SystemTime) -> Option<String> {
    let text = DateTime::from(time).fmt(Format::DateTime).ok()?;
    let compact: String = text.chars().filter(|c| *c != '-' && *c != ':').collect();
    // Whole seconds only: a fractional part would read `.123Z`.
    Some(match compact.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => compact,
    })
}
