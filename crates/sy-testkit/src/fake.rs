//! What every vendor fake shares: a loopback server that records each request whole, then
//! answers it from the current script (the n-th step of a sequence for the n-th request).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::body::KitBody;
use crate::server::{Recorded, serve};

/// A script that may be a sequence of scripts, one per request.
pub(crate) trait Steps: Clone + Send + 'static {
    /// The script for the request that is `turn`-th (from 0) since the script was set.
    fn for_turn(&self, turn: usize) -> Self;
}

/// Picks the `turn`-th step; the last one repeats.
pub(crate) fn nth<S: Clone>(steps: &[S], turn: usize) -> Option<S> {
    steps.get(turn.min(steps.len().saturating_sub(1))).cloned()
}

/// How a fake answers one recorded request: with the script in force and the request's number.
pub(crate) type Answer<S> = dyn Fn(&Recorded, S, u64) -> Response<KitBody> + Send + Sync;

struct Shared<S> {
    script: Mutex<S>,
    turn: AtomicU64,
    requests: Mutex<Vec<Recorded>>,
    next_request: AtomicU64,
    answer: Box<Answer<S>>,
}

/// The server behind a vendor fake. Dropping it stops the server and its connections.
pub(crate) struct FakeServer<S> {
    addr: SocketAddr,
    shared: Arc<Shared<S>>,
    task: JoinHandle<()>,
}

impl<S: Steps + Sync> FakeServer<S> {
    #[expect(
        clippy::expect_used,
        reason = "test support: failing to bind loopback should fail the test loudly"
    )]
    pub async fn start(script: S, answer: Box<Answer<S>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("sy-testkit: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("sy-testkit: local_addr");
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            turn: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            next_request: AtomicU64::new(1),
            answer,
        });
        let state = Arc::clone(&shared);
        let task = tokio::spawn(serve(listener, move |req| handle(Arc::clone(&state), req)));
        Self { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    pub fn set_script(&self, script: S) {
        *lock(&self.shared.script) = script;
        self.shared.turn.store(0, Ordering::SeqCst);
    }
}

impl<S> Drop for FakeServer<S> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<S> std::fmt::Debug for FakeServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn handle<S: Steps>(shared: Arc<Shared<S>>, req: Request<Incoming>) -> Response<KitBody> {
    let request_no = shared.next_request.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("sy-testkit: reading body: {e}"),
            );
        }
    };
    let recorded = Recorded {
        method: parts.method.as_str().to_owned(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: parts.headers,
        body,
    };
    lock(&shared.requests).push(recorded.clone());
    let turn = shared.turn.fetch_add(1, Ordering::SeqCst) as usize;
    let script = lock(&shared.script).for_turn(turn);
    (shared.answer)(&recorded, script, request_no)
}

fn plain(status: StatusCode, text: String) -> Response<KitBody> {
    let mut resp = Response::new(KitBody::full(text));
    *resp.status_mut() = status;
    resp
}

/// A response with `status`, these headers and `body`.
pub(crate) fn respond(
    status: u16,
    headers: &[(&'static str, String)],
    body: KitBody,
) -> Response<KitBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            resp.headers_mut()
                .append(HeaderName::from_static(name), value);
        }
    }
    resp
}

/// A JSON answer.
pub(crate) fn json(
    status: u16,
    mut headers: Vec<(&'static str, String)>,
    value: &serde_json::Value,
) -> Response<KitBody> {
    headers.push(("content-type", "application/json".to_owned()));
    respond(status, &headers, KitBody::full(value.to_string()))
}

/// `json` cut into three fragments at character boundaries, as vendors stream tool arguments.
pub(crate) fn fragments(json: &str) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    let third = chars.len().div_ceil(3).max(1);
    chars
        .chunks(third)
        .map(|c| c.iter().collect::<String>())
        .collect()
}

/// The script routed to `model`: the first route whose name equals it, else `otherwise`.
pub(crate) fn route_model<'a, S>(
    routes: &'a [(String, S)],
    otherwise: &'a S,
    model: &str,
) -> &'a S {
    routes
        .iter()
        .find(|(name, _)| name == model)
        .map_or(otherwise, |(_, script)| script)
}
