//! The response body used by both servers: a precomputed program of frames, pauses and a failure.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// One instruction of a streamed body.
#[derive(Debug, Clone)]
pub enum Step {
    /// Emit these bytes as one body frame.
    Data(Bytes),
    /// Wait before the next step.
    Pause(Duration),
    /// Abort the body with an I/O error (the client sees a truncated response). The abort comes
    /// [`FAIL_GRACE`] later so that the frames before it are flushed rather than discarded.
    Fail,
}

/// How long [`Step::Fail`] waits before aborting.
pub const FAIL_GRACE: Duration = Duration::from_millis(10);

/// Called once when a streamed body is dropped before it reached its end.
pub(crate) type EarlyClose = Arc<dyn Fn() + Send + Sync>;

/// A response body: either one buffered chunk or a program of [`Step`]s played as separate frames.
pub struct KitBody {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Steps {
        steps: Arc<[Step]>,
        next: usize,
        sleep: Option<Pin<Box<Sleep>>>,
        finished: bool,
        failing: bool,
        on_early_close: Option<EarlyClose>,
    },
}

impl KitBody {
    /// A complete body sent with a `content-length`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let chunk = if bytes.is_empty() { None } else { Some(bytes) };
        Self {
            inner: Inner::Full(chunk),
        }
    }

    pub fn empty() -> Self {
        Self {
            inner: Inner::Full(None),
        }
    }

    /// A streamed body played from `steps`, one frame per [`Step::Data`].
    pub fn steps(steps: impl Into<Arc<[Step]>>) -> Self {
        Self::steps_inner(steps.into(), None)
    }

    pub(crate) fn steps_inner(steps: Arc<[Step]>, on_early_close: Option<EarlyClose>) -> Self {
        Self {
            inner: Inner::Steps {
                steps,
                next: 0,
                sleep: None,
                finished: false,
                failing: false,
                on_early_close,
            },
        }
    }
}

impl Body for KitBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().inner {
            Inner::Full(chunk) => Poll::Ready(chunk.take().map(|b| Ok(Frame::data(b)))),
            Inner::Steps {
                steps,
                next,
                sleep,
                finished,
                failing,
                ..
            } => loop {
                if let Some(s) = sleep {
                    if s.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *sleep = None;
                }
                let Some(step) = steps.get(*next) else {
                    *finished = true;
                    return Poll::Ready(None);
                };
                *next += 1;
                match step {
                    Step::Data(bytes) => {
                        // Handing over the last frame counts as finishing: the rest is hyper's job.
                        *finished = *next == steps.len();
                        return Poll::Ready(Some(Ok(Frame::data(bytes.clone()))));
                    }
                    Step::Pause(d) if d.is_zero() => {}
                    Step::Pause(d) => *sleep = Some(Box::pin(tokio::time::sleep(*d))),
                    Step::Fail if !*failing => {
                        // Let hyper flush what it buffered first: an error drops the write buffer.
                        *failing = true;
                        *next -= 1;
                        *sleep = Some(Box::pin(tokio::time::sleep(FAIL_GRACE)));
                    }
                    Step::Fail => {
                        *finished = true;
                        *next = steps.len();
                        return Poll::Ready(Some(Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "sy-testkit: stream cut on purpose",
                        ))));
                    }
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(chunk) => chunk.is_none(),
            Inner::Steps { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(chunk) => {
                SizeHint::with_exact(chunk.as_ref().map_or(0, |b| b.len() as u64))
            }
            Inner::Steps { .. } => SizeHint::default(),
        }
    }
}

impl Drop for KitBody {
    fn drop(&mut self) {
        if let Inner::Steps {
            finished: false,
            on_early_close: Some(hook),
            ..
        } = &self.inner
        {
            hook();
        }
    }
}

impl fmt::Debug for KitBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Full(chunk) => f
                .debug_struct("KitBody::Full")
                .field("len", &chunk.as_ref().map_or(0, Bytes::len))
                .finish(),
            Inner::Steps { steps, next, .. } => f
                .debug_struct("KitBody::Steps")
                .field("steps", &steps.len())
                .field("next", next)
                .finish(),
        }
    }
}
