//! Fetching image URLs for targets that only take inline images, without becoming an SSRF proxy.
//!
//! Only when the operator enables `[images] fetch_urls`. Each URL must be `https://`; its host is
//! resolved here and every address it resolves to must be public ([`address::is_public`]); the
//! connection then goes to exactly a vetted address (no second lookup, so DNS rebinding cannot
//! swap in an internal one), TLS is verified for the URL's host, redirects are not followed, and
//! the answer must be a PNG, JPEG, GIF or WebP (by its `Content-Type` and by its first bytes)
//! within the size and time limits.

mod address;
#[cfg(test)]
mod tests;

pub use address::is_public;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use http::uri::Scheme;
use http::{Request as HttpRequest, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use sy_config::ImageSettings;
use sy_core::GatewayError;
use sy_dialect::canonical::{ImageSource, Request};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Most image URLs fetched for one request.
pub const MAX_IMAGES: usize = 16;
/// Images fetched at the same time for one request.
const CONCURRENCY: usize = 4;

/// How image URLs are fetched: which addresses are allowed and which certificates are trusted.
#[derive(Clone)]
pub struct ImageFetcher {
    allow: fn(IpAddr) -> bool,
    tls: TlsConnector,
}

impl std::fmt::Debug for ImageFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageFetcher").finish_non_exhaustive()
    }
}

impl ImageFetcher {
    /// Public addresses only, and the platform's root certificates (as for upstreams).
    pub fn public() -> Result<Self, String> {
        let config = sy_provider::tls_client_config()?;
        Ok(Self::with_tls(is_public, config))
    }

    /// An address policy and a root store of the caller's choosing. Only code can call this (the
    /// config cannot): tests use it to fetch from a loopback server with a throwaway certificate.
    pub fn with_policy(
        allow: fn(IpAddr) -> bool,
        roots: rustls::RootCertStore,
    ) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self::with_tls(allow, config))
    }

    fn with_tls(allow: fn(IpAddr) -> bool, mut config: rustls::ClientConfig) -> Self {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            allow,
            tls: TlsConnector::from(Arc::new(config)),
        }
    }
}

/// Replaces every image URL in `request` with the image's bytes, inline, or says which image
/// could not be fetched and why (a 400 naming the image's field and the URL's host).
pub async fn inline_url_images(
    request: &mut Request,
    settings: &ImageSettings,
    fetcher: &ImageFetcher,
) -> Result<(), GatewayError> {
    let wanted: Vec<(String, String)> = request
        .url_images_mut()
        .into_iter()
        .filter_map(|(origin, source)| match source {
            // Cloud storage references are for the targets that read them (Converse's S3,
            // Gemini's Cloud Storage), not for the gateway.
            ImageSource::Url(url) if url.starts_with("s3://") || url.starts_with("gs://") => None,
            ImageSource::Url(url) => Some((origin.to_owned(), url.clone())),
            ImageSource::Base64 { .. } => None,
        })
        .collect();
    if wanted.len() > MAX_IMAGES {
        let origin = wanted
            .get(MAX_IMAGES)
            .map_or("messages", |(o, _)| o.as_str());
        return Err(GatewayError::invalid_param(
            origin,
            format!(
                "the request has {} image URLs; the gateway fetches at most {MAX_IMAGES} per request",
                wanted.len()
            ),
        ));
    }
    // At most CONCURRENCY at a time, in order; the first failure ends the others (dropped).
    let mut fetched = Vec::with_capacity(wanted.len());
    let mut pending = FuturesOrdered::new();
    let mut queue = wanted.iter();
    loop {
        while pending.len() < CONCURRENCY {
            let Some((origin, url)) = queue.next() else {
                break;
            };
            pending.push_back(fetch_for(origin, url, settings, fetcher));
        }
        match pending.next().await {
            Some(image) => fetched.push(image?),
            None => break,
        }
    }
    let mut fetched = wanted
        .iter()
        .map(|(origin, _)| origin)
        .zip(fetched)
        .peekable();
    for (origin, source) in request.url_images_mut() {
        if let Some((_, image)) = fetched.next_if(|(wanted, _)| *wanted == origin) {
            *source = image;
        }
    }
    Ok(())
}

async fn fetch_for(
    origin: &str,
    url: &str,
    settings: &ImageSettings,
    fetcher: &ImageFetcher,
) -> Result<ImageSource, GatewayError> {
    fetch(url, settings, fetcher)
        .await
        .map_err(|why| GatewayError::invalid_param(origin, why.message(origin)))
}

/// Why one image could not be fetched: the URL's host (when it has one) and the reason.
#[derive(Debug)]
struct Refused {
    host: Option<String>,
    why: String,
}

impl Refused {
    fn message(&self, origin: &str) -> String {
        match &self.host {
            Some(host) => {
                format!(
                    "the image at `{origin}` cannot be fetched from `{host}`: {}",
                    self.why
                )
            }
            None => format!("the image at `{origin}` cannot be fetched: {}", self.why),
        }
    }
}

async fn fetch(
    url: &str,
    settings: &ImageSettings,
    fetcher: &ImageFetcher,
) -> Result<ImageSource, Refused> {
    let Ok(uri) = url.parse::<Uri>() else {
        return Err(Refused {
            host: None,
            why: "it is not a valid URL".to_owned(),
        });
    };
    let refused = |why: String| Refused {
        host: uri.host().map(str::to_owned),
        why,
    };
    if uri.scheme() != Some(&Scheme::HTTPS) {
        return Err(refused(
            "only https:// image URLs are fetched (or send the image inline as a data: URL)"
                .to_owned(),
        ));
    }
    match uri.authority() {
        None => return Err(refused("the URL has no host".to_owned())),
        Some(a) if a.as_str().contains('@') => {
            return Err(refused("URLs with credentials are not fetched".to_owned()));
        }
        Some(_) => {}
    }
    let work = async {
        let (addrs, server_name) = resolve(&uri, fetcher).await?;
        get(&uri, addrs, server_name, settings.max_bytes, fetcher).await
    };
    let (media_type, bytes) = tokio::time::timeout(settings.timeout, work)
        .await
        .map_err(|_| {
            format!(
                "no complete answer within {} ms",
                settings.timeout.as_millis()
            )
        })
        .and_then(|r| r)
        .map_err(refused)?;
    Ok(ImageSource::Base64 {
        media_type: media_type.to_owned(),
        data: base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
}

/// The addresses the URL's host resolves to, every one of them vetted; and the name TLS checks.
async fn resolve(
    uri: &Uri,
    fetcher: &ImageFetcher,
) -> Result<(Vec<SocketAddr>, ServerName<'static>), String> {
    let host = uri.host().unwrap_or_default();
    // An IPv6 literal comes bracketed.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(443);
    let server_name = ServerName::try_from(bare.to_owned())
        .map_err(|_| "the host is not a valid name for TLS".to_owned())?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| format!("the host cannot be resolved ({e})"))?
        .collect();
    if addrs.is_empty() {
        return Err("the host resolves to no address".to_owned());
    }
    // Refused if any address is not public: a name that mixes public and internal addresses is
    // not one to trust with either.
    if let Some(bad) = addrs.iter().find(|a| !(fetcher.allow)(a.ip())) {
        return Err(format!(
            "it resolves to {}, which is not a public address; the gateway fetches images only from public addresses",
            bad.ip()
        ));
    }
    Ok((addrs, server_name))
}

/// One GET to one of the vetted addresses, the body read within `max_bytes`.
async fn get(
    uri: &Uri,
    addrs: Vec<SocketAddr>,
    server_name: ServerName<'static>,
    max_bytes: usize,
    fetcher: &ImageFetcher,
) -> Result<(&'static str, Bytes), String> {
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(tcp) = tcp else {
        return Err(format!(
            "cannot connect ({})",
            last.map_or_else(|| "no address".to_owned(), |e| e.to_string())
        ));
    };
    let _ = tcp.set_nodelay(true);
    let tls = fetcher
        .tls
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("TLS failed ({e})"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| format!("HTTP failed ({e})"))?;
    // The connection ends with this fetch (dropped, or cut at the timeout).
    let connection = AbortOnDrop(tokio::spawn(connection));
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = HttpRequest::get(path)
        .header(HOST, uri.authority().map_or("", |a| a.as_str()))
        .header(USER_AGENT, "switchyard")
        .header(ACCEPT, "image/png, image/jpeg, image/gif, image/webp")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot build the request ({e})"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP failed ({e})"))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(format!(
            "it answered with a redirect ({status}); redirects are not followed"
        ));
    }
    if !status.is_success() {
        return Err(format!("it answered with status {status}"));
    }
    let declared = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = image_type(declared).ok_or_else(|| {
        format!(
            "its answer is `{}`, not a PNG, JPEG, GIF or WebP image",
            if declared.is_empty() {
                "of no content type"
            } else {
                declared
            }
        )
    })?;
    let too_large = || format!("the image is larger than the gateway's limit of {max_bytes} bytes");
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > max_bytes as u64) {
        return Err(too_large());
    }
    let mut body = response.into_body();
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("the answer broke off ({e})"))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    drop(connection);
    if sniff(&bytes) != Some(media_type) {
        return Err(format!("its answer is not a {media_type} image"));
    }
    Ok((media_type, bytes.freeze()))
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The media type of an image every target takes, from a `Content-Type` value.
fn image_type(content_type: &str) -> Option<&'static str> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    ["image/png", "image/jpeg", "image/gif", "image/webp"]
        .into_iter()
        .find(|t| t.eq_ignore_ascii_case(essence))
}

/// The media type the bytes' signature shows.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        Some("image/webp")
    } else {
        None
    }
}
