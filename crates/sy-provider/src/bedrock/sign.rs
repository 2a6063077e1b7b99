//! AWS Signature Version 4 for Bedrock Runtime requests: service name `bedrock`, the path encoded
//! once more in the canonical URI, the SHA-256 of the exact body bytes, and the session token
//! signed when there is one.
//!
//! The canonical request is built by [`canonical`](super::canonical), the module that also
//! verifies what SDK clients sign to the gateway; the signing key and the signature come from
//! `aws-sigv4`'s SigV4 functions, the key derived once per UTC day rather than per request. The
//! crate's whole-request signer parses, copies and sorts the request afresh on every call: on the
//! gateway's request path that cost as much as all of the translation besides. Tests check every
//! signature against that signer, for every model id shape and credential kind.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderName, HeaderValue, Request};
use http_body_util::Full;
use sy_core::{GatewayError, Secret};

use super::canonical::{
    ALGORITHM, OutgoingParts, canonical_query, canonical_uri, outgoing_canonical_request,
    sha256_hex, string_to_sign,
};

/// Bedrock's signing name: the host says `bedrock-runtime`, the signature says `bedrock`.
pub const SIGNING_NAME: &str = "bedrock";

const AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
/// Left unsigned, as `aws-sigv4` leaves them: set by the signature itself, or rewritten on the
/// way (proxies change `user-agent`, tracing adds `x-amzn-trace-id`, `transfer-encoding` is hop
/// by hop).
const UNSIGNED: [&str; 4] = [
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

/// What a signature takes from the URL, in canonical form.
#[derive(Debug)]
pub(crate) struct SignedTarget<'a> {
    /// The `host` header's value as sent (see [`host`]).
    pub host: &'a str,
    pub canonical_uri: &'a str,
    pub canonical_query: &'a str,
}

/// Signs requests for one key pair and region.
pub struct SigV4Signer {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<HeaderValue>,
    region: String,
    /// The signing key (an HMAC-SHA256) of the latest UTC day signed for, with that day's number.
    day_key: Mutex<Option<(u64, [u8; 32])>>,
}

impl fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SigV4Signer {
    pub fn new(
        access_key_id: &str,
        secret_access_key: &Secret,
        session_token: Option<&Secret>,
        region: &str,
    ) -> Self {
        let session_token = session_token.and_then(|t| {
            let mut value = HeaderValue::from_str(t.expose()).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.clone(),
            session_token,
            region: region.to_owned(),
            day_key: Mutex::new(None),
        }
    }

    /// Adds `x-amz-date`, `authorization` (and `x-amz-security-token`) to `request`, signing its
    /// method, URI, every header it carries now (but `user-agent`, which proxies rewrite) and
    /// `body`, which must be the bytes the request sends.
    pub fn sign(
        &self,
        request: &mut Request<Full<Bytes>>,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), GatewayError> {
        let host = host(request.uri()).unwrap_or_default().to_owned();
        let path = canonical_uri(request.uri().path());
        let query = canonical_query(request.uri().query().unwrap_or_default());
        let target = SignedTarget {
            host: &host,
            canonical_uri: &path,
            canonical_query: &query,
        };
        self.sign_for(request, &target, body, time)
    }

    /// [`sign`](Self::sign) with the parts that depend only on the URL already worked out
    /// (the gateway's Bedrock upstream keeps them per model and operation).
    pub(crate) fn sign_for(
        &self,
        request: &mut Request<Full<Bytes>>,
        target: &SignedTarget<'_>,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), GatewayError> {
        let since_epoch = time.duration_since(SystemTime::UNIX_EPOCH).map_err(|_| {
            GatewayError::internal("cannot sign the Bedrock request: clock before 1970")
        })?;
        let amz_date = amz_date(since_epoch.as_secs());
        let date = &amz_date[..8];
        let headers = request.headers_mut();
        headers.insert(AMZ_DATE, header_value(&amz_date)?);
        if let Some(token) = &self.session_token {
            headers.insert(SECURITY_TOKEN, token.clone());
        }
        // The signed headers in canonical order, read off the map in one pass (a stable sort
        // keeps a name's values in the order they are sent).
        let mut signed: Vec<(&str, &[u8])> = Vec::with_capacity(8);
        for (name, value) in request.headers() {
            if !UNSIGNED.contains(&name.as_str()) {
                signed.push((name.as_str(), value.as_bytes()));
            }
        }
        if !request.headers().contains_key(HOST) {
            signed.push(("host", target.host.as_bytes()));
        }
        signed.sort_by(|a, b| a.0.cmp(b.0));
        let mut signed_text = String::with_capacity(64);
        for (i, (name, _)) in signed.iter().enumerate() {
            if i == 0 || signed[i - 1].0 != *name {
                if i > 0 {
                    signed_text.push(';');
                }
                signed_text.push_str(name);
            }
        }
        let payload_hash = sha256_hex(body);
        let canonical = outgoing_canonical_request(&OutgoingParts {
            method: request.method().as_str(),
            canonical_uri: target.canonical_uri,
            canonical_query: target.canonical_query,
            headers: &signed,
            signed_headers_text: &signed_text,
            payload_hash: &payload_hash,
        });
        let scope = [date, "/", &self.region, "/", SIGNING_NAME, "/aws4_request"].concat();
        let string_to_sign = string_to_sign(&amz_date, &scope, &canonical);
        let signature =
            calculate_signature(self.day_key(since_epoch, time)?, string_to_sign.as_bytes());
        let mut authorization = header_value(
            &[
                ALGORITHM,
                " Credential=",
                &self.access_key_id,
                "/",
                &scope,
                ", SignedHeaders=",
                &signed_text,
                ", Signature=",
                &signature,
            ]
            .concat(),
        )?;
        // Keep the signature out of debug output like every other credential header.
        authorization.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, authorization);
        Ok(())
    }

    /// The signing key of `time`'s UTC day, derived once per day; the lock is held only to read
    /// or replace it.
    fn day_key(&self, since_epoch: Duration, time: SystemTime) -> Result<[u8; 32], GatewayError> {
        let day = since_epoch.as_secs() / 86_400;
        let cached = *self
            .day_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((cached_day, key)) = cached
            && cached_day == day
        {
            return Ok(key);
        }
        let derived = generate_signing_key(
            self.secret_access_key.expose(),
            time,
            &self.region,
            SIGNING_NAME,
        );
        let key = <[u8; 32]>::try_from(derived.as_ref()).map_err(|_| {
            GatewayError::internal("cannot sign the Bedrock request: a signing key not 32 bytes")
        })?;
        *self
            .day_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((day, key));
        Ok(key)
    }
}

fn header_value(text: &str) -> Result<HeaderValue, GatewayError> {
    HeaderValue::from_str(text)
        .map_err(|e| GatewayError::internal(format!("cannot sign the Bedrock request: {e}")))
}

/// The `host` the request will carry: the authority, without a port that is the scheme's default
/// (hyper leaves it out of `Host`, and AWS signs what is sent).
pub(crate) fn host(uri: &http::Uri) -> Option<&str> {
    let authority = uri.authority()?;
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    if authority.port_u16().is_some() && authority.port_u16() == default_port {
        Some(authority.host())
    } else {
        Some(authority.as_str())
    }
}

/// `YYYYMMDD'T'HHMMSS'Z'` for seconds since the epoch (UTC), written digit by digit (this runs
/// for every request; the formatting machinery is a lot of code for sixteen characters).
fn amz_date(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let (year, month, day) = sy_config::civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    let mut out = String::with_capacity(16);
    push_digits(&mut out, year, 4);
    push_digits(&mut out, month, 2);
    push_digits(&mut out, day, 2);
    out.push('T');
    push_digits(&mut out, of_day / 3600, 2);
    push_digits(&mut out, of_day % 3600 / 60, 2);
    push_digits(&mut out, of_day % 60, 2);
    out.push('Z');
    out
}

/// The last `width` decimal digits of `value` (not negative), zero-padded.
fn push_digits(out: &mut String, value: i64, width: u32) {
    for place in (0..width).rev() {
        let digit = u32::try_from(value / 10_i64.pow(place) % 10).unwrap_or(0);
        out.push(char::from_digit(digit, 10).unwrap_or('0'));
    }
}
