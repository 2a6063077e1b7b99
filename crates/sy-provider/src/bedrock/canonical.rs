//! The canonical request and string to sign of SigV4: rebuilt from a request exactly as it
//! arrived to verify it, and built from the request the gateway sends to sign it.
//!
//! SigV4 for services other than S3 signs the request path URI-encoded once more than it was sent
//! (`%3A` on the wire is `%253A` in the canonical URI), so the path must be the raw request target,
//! never a decoded one: `/model/a:b` and `/model/a%3Ab` route alike but sign differently.

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// `AWS4-HMAC-SHA256`: the only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// What goes into the canonical request, borrowed from the request.
#[derive(Debug)]
pub struct CanonicalParts<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// Used for `host` when the request has no `Host` header (HTTP/2 sends `:authority`).
    pub authority: Option<&'a str>,
    /// Lower-case names, in the order the client listed them.
    pub signed_headers: &'a [&'a str],
    /// The signed list as the client wrote it (`a;b;c`).
    pub signed_headers_text: &'a str,
    /// Lower-case hex SHA-256 of the body.
    pub payload_hash: &'a str,
}

/// The canonical request, as bytes: header values need not be UTF-8.
pub fn canonical_request(parts: &CanonicalParts<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(parts.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(parts.raw_path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(parts.raw_query).as_bytes());
    out.push(b'\n');
    for name in parts.signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        canonical_header_value(parts, name, &mut out);
        out.push(b'\n');
    }
    end_canonical_request(out, parts.signed_headers_text, parts.payload_hash)
}

/// A request the gateway signs itself: its path and query already canonical, and its headers
/// already chosen and in canonical order (a name's values side by side, in the order sent).
#[derive(Debug)]
pub struct OutgoingParts<'a> {
    pub method: &'a str,
    pub canonical_uri: &'a str,
    pub canonical_query: &'a str,
    /// Lower-case names, sorted by name.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The distinct names joined by `;`.
    pub signed_headers_text: &'a str,
    pub payload_hash: &'a str,
}

/// The canonical request of [`OutgoingParts`]: the same text [`canonical_request`] builds from
/// the request once sent, without looking its headers up again by name.
pub fn outgoing_canonical_request(parts: &OutgoingParts<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    for line in [parts.method, parts.canonical_uri, parts.canonical_query] {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    for (i, (name, value)) in parts.headers.iter().enumerate() {
        if i > 0 && parts.headers[i - 1].0 == *name {
            out.push(b',');
        } else {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
        }
        push_trimmed(value, &mut out);
    }
    if !parts.headers.is_empty() {
        out.push(b'\n');
    }
    end_canonical_request(out, parts.signed_headers_text, parts.payload_hash)
}

/// The blank line after the headers, the signed header list and the payload hash.
fn end_canonical_request(
    mut out: Vec<u8>,
    signed_headers_text: &str,
    payload_hash: &str,
) -> Vec<u8> {
    out.push(b'\n');
    out.extend_from_slice(signed_headers_text.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// `ALGORITHM \n amz-date \n scope \n hex(SHA-256(canonical request))`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let hash = sha256_hex(canonical_request);
    [ALGORITHM, "\n", amz_date, "\n", scope, "\n", &hash].concat()
}

/// Lower-case hex SHA-256, with the implementation `aws-sigv4` signs with (one SHA-256 on the
/// signing path instead of two).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The raw path with dot segments and empty segments removed (as the AWS SDKs do before signing),
/// then every byte outside the unreserved set and `/` percent-encoded, `%` included.
pub fn canonical_uri(raw_path: &str) -> String {
    let normalized = normalize_path(raw_path);
    let mut out = String::with_capacity(normalized.len() + 16);
    for &b in normalized.as_bytes() {
        if b == b'/' {
            out.push('/');
        } else {
            push_encoded(&mut out, b);
        }
    }
    out
}

/// RFC 3986 dot-segment removal, with `//` collapsed: `/a/./b/../c//d/` becomes `/a/c/d/`.
fn normalize_path(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 1);
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    let trailing = ["/", "/.", "/.."].iter().any(|end| raw_path.ends_with(end));
    if out.is_empty() || trailing {
        out.push('/');
    }
    out
}

/// Pairs percent-decoded, then re-encoded with the unreserved set, sorted by name then value.
/// A name without `=` has an empty value. `+` is a literal plus, as RFC 3986 has it.
pub fn canonical_query(raw_query: &str) -> String {
    if raw_query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(name), reencode(value))
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(raw_query.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

fn reencode(component: &str) -> String {
    let mut out = String::with_capacity(component.len());
    for b in percent_decode(component.as_bytes()) {
        push_encoded(&mut out, b);
    }
    out
}

/// `%XX` becomes the byte; a `%` not followed by two hex digits stays as it is.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let decoded = (input[i] == b'%')
            .then(|| {
                Some((
                    hex_value(*input.get(i + 1)?)?,
                    hex_value(*input.get(i + 2)?)?,
                ))
            })
            .flatten();
        match decoded {
            Some((high, low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            None => {
                out.push(input[i]);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Unreserved bytes (`A-Z a-z 0-9 - . _ ~`) as they are, anything else as `%XX` (upper-case hex).
fn push_encoded(out: &mut String, b: u8) {
    if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
        out.push(char::from(b));
    } else {
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        out.push('%');
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// Every value of the header, each trimmed with runs of spaces collapsed, joined by `,`. `host`
/// falls back to the request's authority. A signed header the request lacks has an empty value,
/// so the signatures simply disagree.
fn canonical_header_value(parts: &CanonicalParts<'_>, name: &str, out: &mut Vec<u8>) {
    let mut values = parts.headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        if name.eq_ignore_ascii_case("host")
            && let Some(authority) = parts.authority
        {
            push_trimmed(authority.as_bytes(), out);
        }
        return;
    }
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_trimmed(value.as_bytes(), out);
    }
}

fn push_trimmed(value: &[u8], out: &mut Vec<u8>) {
    let mut previous_space = true; // drops leading spaces
    let start = out.len();
    for &b in value {
        if b == b' ' {
            if !previous_space {
                out.push(b' ');
            }
            previous_space = true;
        } else {
            out.push(b);
            previous_space = false;
        }
    }
    if out.len() > start && out.last() == Some(&b' ') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_once_more_than_sent() {
        assert_eq!(
            canonical_uri("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"
        );
        assert_eq!(
            canonical_uri(
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x-v1%3A0/invoke"
            ),
            "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A1%253Ainference-profile%252Fus.x-v1%253A0/invoke"
        );
        // A client that sends `:` unencoded signs it encoded once.
        assert_eq!(
            canonical_uri("/model/a-v1:0/converse"),
            "/model/a-v1%3A0/converse"
        );
        assert_eq!(canonical_uri("/a b/~c"), "/a%20b/~c");
    }

    #[test]
    fn paths_are_normalised_as_the_sdks_do() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//a//b"), "/a/b");
        assert_eq!(canonical_uri("/a/./b/../c/"), "/a/c/");
        assert_eq!(canonical_uri("/a/b/.."), "/a/");
        assert_eq!(canonical_uri("/../a"), "/a");
    }

    #[test]
    fn queries_are_sorted_and_strictly_encoded() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(canonical_query("flag&x=a%2fb"), "flag=&x=a%2Fb");
        assert_eq!(canonical_query("x=a b+c*"), "x=a%20b%2Bc%2A");
        assert_eq!(canonical_query("x=100%"), "x=100%25");
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", "  one   two  ".parse().unwrap());
        headers.append("x-a", "three".parse().unwrap());
        let parts = CanonicalParts {
            method: "POST",
            raw_path: "/",
            raw_query: "",
            headers: &headers,
            authority: Some("gw:4000"),
            signed_headers: &["host", "x-a", "x-missing"],
            signed_headers_text: "host;x-a;x-missing",
            payload_hash: "e3",
        };
        let text = String::from_utf8(canonical_request(&parts)).unwrap();
        assert_eq!(
            text,
            "POST\n/\n\nhost:gw:4000\nx-a:one two,three\nx-missing:\n\nhost;x-a;x-missing\ne3"
        );
    }

    #[test]
    fn outgoing_requests_canonicalise_as_received_ones_do() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", "  one   two  ".parse().unwrap());
        headers.append("content-type", "application/json".parse().unwrap());
        headers.append("x-a", "three".parse().unwrap());
        let received = String::from_utf8(canonical_request(&CanonicalParts {
            method: "POST",
            raw_path: "/model/a:b/converse",
            raw_query: "",
            headers: &headers,
            authority: Some("gw:4000"),
            signed_headers: &["content-type", "host", "x-a"],
            signed_headers_text: "content-type;host;x-a",
            payload_hash: "e3",
        }))
        .unwrap();
        let sent = String::from_utf8(outgoing_canonical_request(&OutgoingParts {
            method: "POST",
            canonical_uri: &canonical_uri("/model/a:b/converse"),
            canonical_query: "",
            headers: &[
                ("content-type", b"application/json"),
                ("host", b"gw:4000"),
                ("x-a", b"  one   two  "),
                ("x-a", b"three"),
            ],
            signed_headers_text: "content-type;host;x-a",
            payload_hash: "e3",
        }))
        .unwrap();
        assert_eq!(sent, received);
        assert!(sent.contains("\nx-a:one two,three\n\n"), "{sent}");
    }
}
