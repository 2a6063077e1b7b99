//! AWS Signature Version 4 verification, for Bedrock-dialect clients that sign with a
//! gateway-issued access key pair (boto3 and the other AWS SDKs with `endpoint_url` pointed here).
//!
//! Verification is pure and in two steps, so the secret lookup sits in between:
//! [`Authorization::parse`] checks everything that needs no secret (header syntax, credential
//! scope, the clock, session tokens), then [`Authorization::verify`] rebuilds the canonical
//! request and compares signatures in constant time. `Authenticator::authenticate_sigv4` wraps
//! both around the cached key lookup.
//!
//! The request must be described exactly as it arrived: the raw path before any percent-decoding
//! (axum's `OriginalUri`, as routers may strip a prefix), the raw query, every header.

mod authorization;
mod error;
#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use http::header::AUTHORIZATION;
use http::{HeaderMap, Method, Uri};
use sy_core::{Secret, constant_time_eq};

pub use authorization::Authorization;
pub use error::SigV4Error;

use sy_provider::bedrock::canonical::{
    ALGORITHM, CanonicalParts, canonical_request, sha256_hex, string_to_sign,
};

const CONTENT_SHA256: &str = "x-amz-content-sha256";

/// A request to verify, borrowed as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a Method,
    /// The path exactly as received, still percent-encoded.
    pub raw_path: &'a str,
    /// The query string as received, without the `?`; empty when there is none.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// The request target's authority, which stands in for `Host` on HTTP/2 (`:authority`).
    pub authority: Option<&'a str>,
    pub payload: Payload<'a>,
}

impl<'a> SignedRequest<'a> {
    /// Describes a request from its method, its original (undecoded) URI and its headers.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        payload: Payload<'a>,
    ) -> Self {
        Self {
            method,
            raw_path: uri.path(),
            raw_query: uri.query().unwrap_or_default(),
            headers,
            authority: uri.authority().map(http::uri::Authority::as_str),
            payload,
        }
    }
}

/// What the signature's payload hash is checked against. Only a whole body: AWS SDKs sign
/// Bedrock requests without `x-amz-content-sha256`, so the hash must be computed.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The whole body: its SHA-256 is computed, and must equal `x-amz-content-sha256` when sent.
    Body(&'a [u8]),
}

/// Whether the request carries a SigV4 `Authorization` header (rather than a bearer key).
pub fn is_signed(headers: &HeaderMap) -> bool {
    headers
        .get(AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(ALGORITHM.as_bytes()))
}

impl Authorization<'_> {
    /// Rebuilds the canonical request and checks the signature with the access key's secret.
    pub fn verify(&self, request: &SignedRequest<'_>, secret: &Secret) -> Result<(), SigV4Error> {
        let payload_hash = payload_hash(request)?;
        let canonical = canonical_request(&CanonicalParts {
            method: request.method.as_str(),
            raw_path: request.raw_path,
            raw_query: request.raw_query,
            headers: request.headers,
            authority: request.authority,
            signed_headers: &self.signed_headers,
            signed_headers_text: self.signed_headers_text,
            payload_hash: &payload_hash,
        });
        let string_to_sign = string_to_sign(self.amz_date, &self.scope(), &canonical);
        // The scope's date equals x-amz-date's day (checked in parse), so deriving the key from
        // the signing time uses the same date the client did.
        let key = generate_signing_key(secret.expose(), self.signed_at, self.region, self.service);
        let expected = calculate_signature(key, string_to_sign.as_bytes());
        if constant_time_eq(expected.as_bytes(), self.signature.as_bytes()) {
            Ok(())
        } else {
            Err(SigV4Error::SignatureMismatch)
        }
    }
}

/// The last line of the canonical request: the body's hex SHA-256.
fn payload_hash<'a>(request: &SignedRequest<'a>) -> Result<Cow<'a, str>, SigV4Error> {
    let declared = request
        .headers
        .get(CONTENT_SHA256)
        .map(|v| v.to_str().unwrap_or_default());
    let Payload::Body(body) = request.payload;
    let computed = sha256_hex(body);
    match declared {
        Some(declared) if declared != computed => Err(SigV4Error::ContentHashMismatch),
        _ => Ok(Cow::Owned(computed)),
    }
}
