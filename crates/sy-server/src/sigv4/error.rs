//! Why a SigV4-signed request was refused, rendered as Bedrock (and every AWS JSON service)
//! answers: the exception's name in `x-amzn-ErrorType`, `{"message": "..."}` as the body.
//!
//! boto3 reads the code from the header and raises `client.exceptions.<Code>`, so the names and
//! messages follow AWS's own, word for word where clients are known to match on them.

use std::fmt;

use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use sy_core::{ErrorKind, GatewayError};

/// Bedrock's words for an access key it does not know (and for a session token it cannot accept).
pub const INVALID_TOKEN_MESSAGE: &str = "The security token included in the request is invalid.";
/// Bedrock's words for a signature that does not match.
pub const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// A SigV4 refusal. Checks that need no secret come first, so an unsigned probe learns nothing
/// about which access keys exist or whether they are revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigV4Error {
    /// No `Authorization` header at all.
    MissingAuthenticationToken,
    /// An `Authorization` header, or a header it depends on, that is not complete SigV4.
    Incomplete(String),
    /// A well-formed credential scoped to the wrong date, service or terminator.
    WrongScope(String),
    /// The request carries `x-amz-security-token`: gateway access keys are long-term keys.
    SessionToken,
    /// No usable key has this access key id.
    UnknownAccessKey,
    /// The signature does not match the request.
    SignatureMismatch,
    /// `x-amz-content-sha256` is not the SHA-256 of the body.
    ContentHashMismatch,
    /// `x-amz-date` is older than the clock-skew window. Times as `YYYYMMDD'T'HHMMSS'Z'`.
    Expired {
        signed: String,
        earliest: String,
        now: String,
    },
    /// `x-amz-date` is further ahead than the clock-skew window.
    NotYetCurrent {
        signed: String,
        latest: String,
        now: String,
    },
    /// A verified key the gateway refuses exactly as it would a bearer key (revoked, expired, a
    /// disabled tenant), or the key store could not be read.
    Refused(GatewayError),
}

impl SigV4Error {
    /// The AWS exception name, for `x-amzn-ErrorType`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::WrongScope(_)
            | Self::SignatureMismatch
            | Self::ContentHashMismatch
            | Self::Expired { .. }
            | Self::NotYetCurrent { .. } => "InvalidSignatureException",
            Self::SessionToken | Self::UnknownAccessKey => "UnrecognizedClientException",
            Self::Refused(error) => match &error.kind {
                ErrorKind::Unauthenticated {
                    code: "key_expired",
                } => "ExpiredTokenException",
                ErrorKind::Unauthenticated { .. } => "UnrecognizedClientException",
                ErrorKind::PermissionDenied { .. } => "AccessDeniedException",
                ErrorKind::StateUnavailable => "ServiceUnavailableException",
                _ => "InternalServerException",
            },
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused(error) => match &error.kind {
                ErrorKind::Unauthenticated { .. } | ErrorKind::PermissionDenied { .. } => {
                    StatusCode::FORBIDDEN
                }
                ErrorKind::StateUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            _ => StatusCode::FORBIDDEN,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::MissingAuthenticationToken => "Missing Authentication Token".to_owned(),
            Self::Incomplete(message) | Self::WrongScope(message) => message.clone(),
            Self::SessionToken => format!(
                "{INVALID_TOKEN_MESSAGE} Gateway access keys have no session token: sign without x-amz-security-token (unset AWS_SESSION_TOKEN)."
            ),
            Self::UnknownAccessKey => INVALID_TOKEN_MESSAGE.to_owned(),
            Self::SignatureMismatch => SIGNATURE_MISMATCH_MESSAGE.to_owned(),
            Self::ContentHashMismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned()
            }
            Self::Expired {
                signed,
                earliest,
                now,
            } => format!(
                "Signature expired: {signed} is now earlier than {earliest} ({now} - 15 min.)"
            ),
            Self::NotYetCurrent {
                signed,
                latest,
                now,
            } => format!(
                "Signature not yet current: {signed} is still later than {latest} ({now} + 15 min.)"
            ),
            Self::Refused(error) => error.message.clone(),
        }
    }

    /// The answer a Bedrock client expects, carrying the gateway's request id as
    /// `x-amzn-RequestId` (as Bedrock does) so a failure can be found in the logs.
    pub fn into_response(self, request_id: &str) -> Response {
        let body = serde_json::json!({ "message": self.message() }).to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.code()));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        response
    }
}

impl fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for SigV4Error {}
