//! The listening socket and connection loop: HTTP/1.1 and HTTP/2 on one port (h2c in plain text,
//! h2 by ALPN under TLS), TCP_NODELAY on every accepted socket, and a graceful shutdown that lets
//! in-flight answers finish within a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::state::Gateway;
use crate::tls::TlsAcceptor;
use crate::{admin, ingress, openai, ops};

/// Largest request head (request line and headers) the gateway reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A bound gateway, ready to serve.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    gateway: Gateway,
    /// Present when `[server] tls` is configured.
    tls: Option<TlsAcceptor>,
}

impl Server {
    /// Binds the configured address (or `addr` when given, e.g. port 0 in tests), serving HTTPS
    /// when the config has `[server] tls`.
    pub async fn bind(gateway: Gateway, addr: Option<SocketAddr>) -> std::io::Result<Self> {
        let snapshot = gateway.snapshot();
        let addr = addr.unwrap_or(snapshot.config.server.listen);
        let tls = snapshot
            .config
            .server
            .tls
            .as_ref()
            .map(|tls| TlsAcceptor::new(&gateway, tls))
            .transpose()
            .map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            gateway,
            tls,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests and streams
    /// finish for up to the configured grace period, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let grace = self.gateway.snapshot().config.server.shutdown_grace;
        let app = router(self.gateway.clone());
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // Request heads are bounded (431 beyond): no client needs more, and each connection's
        // read buffer stays small. Bodies stream through and are bounded by max_body_bytes.
        builder.http1().max_buf_size(MAX_HEAD_BYTES);
        builder.http2().max_header_list_size(MAX_HEAD_BYTES as u32);
        let builder = Arc::new(builder);
        let graceful = GracefulShutdown::new();
        // Dropped when shutdown begins, which ends handshakes still under way: a client that has
        // not finished one has no request in flight, so shutdown need not wait for it.
        let (shutting_down, shutdown_begun) = watch::channel(());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            // Out of file descriptors and the like: back off instead of spinning.
                            warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = socket.set_nodelay(true);
                    let connection = Connection {
                        builder: builder.clone(),
                        app: app.clone(),
                        // Taken here, where the shutdown handle lives. A connection still in its
                        // TLS handshake when shutdown begins is dropped instead (below).
                        watcher: graceful.watcher(),
                    };
                    match &self.tls {
                        None => {
                            tokio::spawn(connection.serve(socket));
                        }
                        // The handshake runs in the connection's own task: the loop never waits on a client.
                        Some(tls) => {
                            let tls = tls.clone();
                            let mut shutdown_begun = shutdown_begun.clone();
                            tokio::spawn(async move {
                                let stream = tokio::select! {
                                    stream = tls.handshake(socket, peer) => stream,
                                    _ = shutdown_begun.changed() => None,
                                };
                                if let Some(stream) = stream {
                                    connection.serve(stream).await;
                                }
                            });
                        }
                    }
                }
                () = &mut shutdown => break,
            }
        }
        drop(self.listener);
        drop(shutting_down);
        self.gateway.start_draining();
        info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: no new connections, finishing in-flight requests"
        );
        tokio::select! {
            () = graceful.shutdown() => info!("all connections finished"),
            () = tokio::time::sleep(grace) => warn!("shutdown grace period over; closing the remaining connections"),
        }
    }
}

/// One accepted connection, before its protocol is known.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    watcher: Watcher,
}

impl Connection {
    /// Serves HTTP/1.1 or HTTP/2 (told apart by the client's preface) until the connection ends
    /// or graceful shutdown closes it.
    async fn serve<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = TowerToHyperService::new(self.app);
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        let _ = self.watcher.watch(conn.into_owned()).await;
    }
}

pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/responses", post(ingress::responses::create))
        .route("/v1/messages", post(ingress::anthropic::messages))
        .route(
            "/v1/messages/count_tokens",
            post(ingress::anthropic::count_tokens),
        )
        .route("/model/{model}/converse", post(ingress::bedrock::converse))
        .route(
            "/model/{model}/converse-stream",
            post(ingress::bedrock::converse_stream),
        )
        .route("/model/{model}/invoke", post(ingress::bedrock::invoke))
        .route(
            "/model/{model}/invoke-with-response-stream",
            post(ingress::bedrock::invoke_stream),
        )
        .route(
            "/model/{model}/count-tokens",
            post(ingress::bedrock::count_tokens),
        )
        .route(
            "/model/{model}/{operation}",
            axum::routing::any(ingress::bedrock::unknown_operation),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/admin/v1/reload", post(admin::reload))
        .route(
            "/admin/v1/tenants",
            post(admin::create_tenant).get(admin::list_tenants),
        )
        .route(
            "/admin/v1/tenants/{id}",
            get(admin::get_tenant)
                .patch(admin::update_tenant)
                .delete(admin::disable_tenant),
        )
        .route(
            "/admin/v1/keys",
            post(admin::create_key).get(admin::list_keys),
        )
        .route(
            "/admin/v1/keys/{id}",
            get(admin::get_key)
                .patch(admin::update_key)
                .delete(admin::revoke_key),
        )
        .route("/admin/v1/keys/{id}/revoke", post(admin::revoke_key))
        .route("/admin/v1/usage", get(admin::usage))
        .fallback(openai::not_found)
        .with_state(gateway)
}
