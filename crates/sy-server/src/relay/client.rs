//! Handing an answer to the client: a whole answer read within the deployment's time limits, a
//! stream whose accounting closes when it ends (or when the client leaves), and the deadline every
//! read of an upstream answer keeps.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use sy_core::{ErrorKind, GatewayError};
use tokio::time::Instant;

use super::{ReadError, SseRelay, StreamEnd, TappedSse, TranslatedStream, read_bounded};
use crate::admission::Slot;
use crate::dispatch::Dispatched;
use crate::metrics::Outcome;
use crate::request::RequestContext;

/// Streams `relay` to the client. The request's context and admission slot live inside the body
/// stream, so the request is accounted for when the stream ends, or when the client leaves.
pub fn streamed(
    mut ctx: RequestContext,
    slot: Slot,
    mut headers: HeaderMap,
    relay: impl ClientStream,
) -> Response {
    ctx.write_headers(&mut headers);
    ctx.status = StatusCode::OK.as_u16();
    struct Flow<R> {
        relay: R,
        ctx: RequestContext,
        _slot: Slot,
    }
    // Boxed: `unfold` moves its state into and out of every step, and the flow (the relay and
    // the request's context) is over a kilobyte.
    let flow = Box::new(Flow {
        relay,
        ctx,
        _slot: slot,
    });
    let body = futures_util::stream::unfold(flow, |mut flow| async move {
        match flow.relay.next().await {
            Some(bytes) => {
                let ctx = &mut flow.ctx;
                ctx.delivered_events += 1;
                ctx.first_byte.get_or_insert_with(|| ctx.started.elapsed());
                Some((Ok::<Bytes, std::convert::Infallible>(bytes), flow))
            }
            None => {
                flow.relay.close(&mut flow.ctx);
                // The stream's last byte waits for a durable record under "sync" durability.
                flow.ctx.finish_sync().await;
                // Dropping the flow records the request and frees its admission slot.
                drop(flow);
                None
            }
        }
    });
    // The body keeps the space of every future a step awaits until the stream ends: with a
    // thousand streams open, each kilobyte here is a megabyte of the gateway's memory.
    debug_assert!(
        std::mem::size_of_val(&body) <= 2048,
        "a streamed body holds {} bytes",
        std::mem::size_of_val(&body)
    );
    let mut response = Response::new(Body::from_stream(body));
    *response.headers_mut() = headers;
    response
}

/// A stream of answer bytes for the client, and what its end tells the request's accounting.
pub trait ClientStream: Send + 'static {
    fn next(&mut self) -> impl std::future::Future<Output = Option<Bytes>> + Send;
    fn close(&mut self, ctx: &mut RequestContext);
}

fn outcome(end: Option<&StreamEnd>) -> Outcome {
    match end {
        Some(StreamEnd::Completed) => Outcome::Completed,
        _ => Outcome::Failed,
    }
}

impl ClientStream for SseRelay {
    fn next(&mut self) -> impl std::future::Future<Output = Option<Bytes>> + Send {
        SseRelay::next(self)
    }

    fn close(&mut self, ctx: &mut RequestContext) {
        ctx.usage = self.usage.take();
        ctx.outcome = outcome(self.end.as_ref());
    }
}

impl ClientStream for TranslatedStream {
    fn next(&mut self) -> impl std::future::Future<Output = Option<Bytes>> + Send {
        TranslatedStream::next(self)
    }

    fn close(&mut self, ctx: &mut RequestContext) {
        ctx.translated_usage = self.usage.as_ref().map(crate::translate::tokens);
        ctx.outcome = outcome(self.end.as_ref());
    }
}

/// The end of the deployment's total time budget for this request.
pub fn deadline(ctx: &RequestContext, timeouts: &sy_config::Timeouts) -> Instant {
    Instant::from_std(ctx.started) + timeouts.total.max(Duration::from_millis(1))
}

impl ClientStream for TappedSse {
    fn next(&mut self) -> impl std::future::Future<Output = Option<Bytes>> + Send {
        TappedSse::next(self)
    }

    fn close(&mut self, ctx: &mut RequestContext) {
        ctx.translated_usage = self.usage.as_ref().map(crate::translate::tokens);
        ctx.outcome = outcome(self.end.as_ref());
    }
}

/// Largest non-streamed upstream answer the gateway will hold.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// Reads a whole answer, within the deployment's idle and total time limits.
pub async fn read_whole(
    ctx: &RequestContext,
    dispatched: &mut Dispatched,
) -> Result<Bytes, GatewayError> {
    let timeouts = dispatched.timeouts;
    let remaining = deadline(ctx, &timeouts).saturating_duration_since(Instant::now());
    let body = &mut dispatched.response.body;
    let read = tokio::time::timeout(
        remaining,
        read_bounded(body, MAX_RESPONSE_BODY, timeouts.idle),
    )
    .await
    .unwrap_or(Err(ReadError::Idle));
    read.map_err(|e| {
        let (kind, what) = match e {
            ReadError::Idle => (
                ErrorKind::UpstreamTimeout,
                "did not finish its answer in time".to_owned(),
            ),
            ReadError::TooLarge => (
                ErrorKind::UpstreamFailed,
                format!("answered with more than {MAX_RESPONSE_BODY} bytes"),
            ),
            ReadError::Broken(reason) => (
                ErrorKind::UpstreamFailed,
                format!("broke off its answer: {reason}"),
            ),
        };
        let provider = &dispatched.provider.name;
        GatewayError::new(kind, format!("upstream provider `{provider}` {what}"))
    })
}
