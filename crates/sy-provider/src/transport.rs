//! What every HTTP adapter shares: the user agent, sensitive auth headers, path-segment encoding,
//! and sending one request through the pooled client.

use bytes::Bytes;
use http::Request;
use http::header::HeaderValue;
use http_body_util::Full;
use sy_core::{ErrorKind, GatewayError};

use crate::UpstreamResponse;
use crate::body::{UpstreamBody, describe_hyper_error};
use crate::client::HttpClient;

pub(crate) static USER_AGENT_VALUE: HeaderValue =
    HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION")));

/// A header value that holds a credential: marked sensitive so it never shows in debug output.
pub(crate) fn sensitive(value: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| "the API key contains characters not allowed in an HTTP header".to_owned())?;
    v.set_sensitive(true);
    Ok(v)
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so the value stays one path
/// segment (a Bedrock ARN's `/` and `:` included).
pub(crate) fn encode_path_segment(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Sends `request` and returns the upstream's head with its body still streaming.
pub(crate) async fn exchange(
    client: &HttpClient,
    provider: &str,
    request: Request<Full<Bytes>>,
) -> Result<UpstreamResponse, GatewayError> {
    let response = client.request(request).await.map_err(|e| {
        let what = if e.is_connect() {
            "cannot connect to"
        } else {
            "lost the connection to"
        };
        GatewayError::new(
            ErrorKind::UpstreamFailed,
            format!(
                "{what} upstream provider `{provider}`: {}",
                describe_hyper_error(&e)
            ),
        )
    })?;
    let (parts, body) = response.into_parts();
    Ok(UpstreamResponse {
        status: parts.status,
        headers: parts.headers,
        body: UpstreamBody::Http(body),
    })
}

/// An operation this provider's dialect has no endpoint for. Requests in another dialect reach
/// such a provider only once translation is routed to it; until then they stop here, clearly.
pub(crate) fn not_served(provider: &str, kind: &str, operation: crate::Operation) -> GatewayError {
    GatewayError::new(
        ErrorKind::NotRoutable,
        format!(
            "upstream provider `{provider}` ({kind}) has no `{}` endpoint; requests in another dialect are not routed to it yet",
            operation.name()
        ),
    )
}
