//! The pooled upstream HTTP client: HTTP/1.1 and HTTP/2 (ALPN), rustls with the platform's roots, TCP_NODELAY.

use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds one client (one connection pool) for one provider.
pub fn build(connect_timeout: Duration) -> Result<HttpClient, String> {
    install_crypto_provider();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("cannot load the system's TLS root certificates: {e}"))?;
    let https = builder
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https))
}

/// A rustls client config with the same roots and crypto provider as the upstream client, for
/// the gateway's other outbound TLS (fetching image URLs) so one place decides what is trusted.
pub fn tls_client_config() -> Result<rustls::ClientConfig, String> {
    use hyper_rustls::ConfigBuilderExt;
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("cannot set up TLS: {e}"))?
    .with_native_roots()
    .map_err(|e| format!("cannot load the system's TLS root certificates: {e}"))?
    .with_no_client_auth())
}

/// rustls needs one process-wide crypto provider; ring keeps aws-lc out of the build.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
