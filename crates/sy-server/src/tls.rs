//! HTTPS serving: the rustls server configuration, and a handshake bounded in time.
//!
//! The certificate is picked per handshake from the live config snapshot, so a reload that reads
//! renewed files serves them to new connections without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::ring::default_provider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sy_config::Tls;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tracing::debug;

use crate::state::Gateway;

/// How long a client may take to complete its handshake: a silent or slow client must not hold
/// a connection (a task and a file descriptor) for longer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts TLS on freshly accepted sockets. Cheap to clone.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: tokio_rustls::TlsAcceptor,
    timeout: Duration,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// TLS 1.2 and 1.3 with the ring provider, ALPN offering h2 then HTTP/1.1.
    pub fn new(gateway: &Gateway, tls: &Tls) -> Result<Self, rustls::Error> {
        let resolver = LiveIdentity {
            gateway: gateway.clone(),
            at_start: tls.identity.clone(),
        };
        let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            timeout: HANDSHAKE_TIMEOUT,
        })
    }

    /// Completes the handshake on `socket`, or gives up after [`HANDSHAKE_TIMEOUT`]. A failure is
    /// the client's (plain HTTP on this port, an untrusted certificate, a scanner), so it is
    /// logged at debug and the connection is dropped.
    pub async fn handshake(
        &self,
        socket: TcpStream,
        peer: SocketAddr,
    ) -> Option<TlsStream<TcpStream>> {
        match tokio::time::timeout(self.timeout, self.inner.accept(socket)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                debug!(%peer, timeout_ms = self.timeout.as_millis() as u64, "TLS handshake timed out");
                None
            }
        }
    }

    #[cfg(test)]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The certificate of the config in force; the one the server started with if a reload dropped
/// `[server] tls` (turning TLS off takes a restart, like every listener setting).
#[derive(Debug)]
struct LiveIdentity {
    gateway: Gateway,
    at_start: Arc<CertifiedKey>,
}

impl ResolvesServerCert for LiveIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let snapshot = self.gateway.snapshot();
        let identity = snapshot
            .config
            .server
            .tls
            .as_ref()
            .map_or_else(|| self.at_start.clone(), |tls| tls.identity.clone());
        Some(identity)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use sy_config::{MapEnv, load_str};
    use tokio::net::TcpListener;

    use super::*;

    fn identity() -> Tls {
        let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            generated.signing_key.serialize_der(),
        ));
        let identity =
            CertifiedKey::from_der(vec![generated.cert.der().clone()], key, &default_provider())
                .unwrap();
        Tls {
            cert_path: "cert.pem".into(),
            key_path: "key.pem".into(),
            identity: Arc::new(identity),
        }
    }

    fn gateway(tls: &Tls) -> Gateway {
        let mut config = load_str(
            "[providers.sim]\nkind = \"simulator\"\n[[models]]\nname = \"m\"\n\
             deployments = [{ provider = \"sim\", model = \"m\" }]\n",
            None,
            &MapEnv::default(),
        )
        .unwrap();
        config.server.tls = Some(tls.clone());
        Gateway::new(config).unwrap()
    }

    #[tokio::test]
    async fn a_silent_client_is_dropped_when_the_handshake_times_out() {
        let tls = identity();
        let acceptor = TlsAcceptor::new(&gateway(&tls), &tls)
            .unwrap()
            .with_timeout(Duration::from_millis(100));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _silent = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (socket, peer) = listener.accept().await.unwrap();

        let started = Instant::now();
        assert!(acceptor.handshake(socket, peer).await.is_none());
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn offers_h2_then_http1() {
        let tls = identity();
        let acceptor = TlsAcceptor::new(&gateway(&tls), &tls).unwrap();
        assert_eq!(
            acceptor.inner.config().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
