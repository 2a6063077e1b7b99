//! [`FakeUpstream`]: a scriptable, recording OpenAI-style upstream on 127.0.0.1, HTTP/1.1 and h2c.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::body::KitBody;
use crate::responses::{Ctx, respond};
use crate::script::Script;

/// One request as the fake upstream received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// The body as JSON, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The first value of header `name`, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Debug)]
struct Shared {
    script: Mutex<Script>,
    /// Requests answered by the current script, for [`Script::Sequence`].
    script_turn: AtomicU64,
    requests: Mutex<Vec<Recorded>>,
    next_request: AtomicU64,
    closed_early: watch::Sender<usize>,
}

/// A fake OpenAI-compatible upstream. Dropping it stops the server and its connections.
#[derive(Debug)]
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeUpstream {
    /// Binds `127.0.0.1:0` and serves `script` until dropped.
    #[expect(
        clippy::expect_used,
        reason = "test support: failing to bind loopback should fail the test loudly"
    )]
    pub async fn start(script: Script) -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("sy-testkit: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("sy-testkit: local_addr");
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            script_turn: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            next_request: AtomicU64::new(1),
            closed_early: watch::Sender::new(0),
        });
        let state = Arc::clone(&shared);
        let task = tokio::spawn(serve(listener, move |req| handle(Arc::clone(&state), req)));
        FakeUpstream { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order (recorded once its body was read).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Replaces the behaviour for requests arriving from now on.
    pub fn set_script(&self, script: Script) {
        *lock(&self.shared.script) = script;
        self.shared.script_turn.store(0, Ordering::SeqCst);
    }

    /// Streaming responses whose body was dropped (client gone) before its last frame was sent.
    pub fn closed_early(&self) -> usize {
        *self.shared.closed_early.borrow()
    }

    /// Waits until [`closed_early`](Self::closed_early) reaches `n`; `false` on timeout.
    pub async fn wait_for_closed_early(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.closed_early.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<KitBody> {
    let request_no = shared.next_request.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let mut resp = Response::new(KitBody::full(format!("sy-testkit: reading body: {e}")));
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return resp;
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let ctx = Ctx::new(request_no, &path_and_query, &body);
    lock(&shared.requests).push(Recorded {
        method: parts.method.as_str().to_owned(),
        path_and_query,
        headers: parts.headers,
        body,
    });
    let script = match lock(&shared.script).clone() {
        Script::Sequence(steps) => {
            let turn = shared.script_turn.fetch_add(1, Ordering::SeqCst) as usize;
            steps
                .get(turn.min(steps.len().saturating_sub(1)))
                .cloned()
                .unwrap_or(Script::Hang)
        }
        other => other,
    };
    let counter = Arc::clone(&shared);
    let on_early_close = Arc::new(move || counter.closed_early.send_modify(|n| *n += 1));
    match respond(&script, &ctx, on_early_close) {
        Some(resp) => resp,
        // Held until hyper drops this future (client gone or server stopped).
        None => std::future::pending().await,
    }
}

/// Accepts connections on `listener` forever, serving each with `handler` over HTTP/1.1 or h2c.
/// Connection tasks live in a [`JoinSet`], so aborting this future's task closes them all.
pub(crate) async fn serve<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<KitBody>> + Send + 'static,
{
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next() => continue,
        };
        let (stream, _) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Typically EMFILE; back off instead of spinning.
                tracing::warn!(error = %e, "sy-testkit: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let builder = Arc::clone(&builder);
        let handler = handler.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let fut = handler(req);
                async move { Ok::<_, Infallible>(fut.await) }
            });
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "sy-testkit: connection ended with an error");
            }
        });
    }
}
