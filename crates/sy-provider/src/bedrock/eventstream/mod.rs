//! AWS event-stream framing (`application/vnd.amazon.eventstream`): reading Bedrock's streamed
//! answers frame by frame, and writing frames for clients that speak the Bedrock dialect.
//!
//! Frame boundaries are unrelated to HTTP chunk boundaries, so bytes are buffered until a frame is
//! whole. Both CRCs are checked; a corrupt frame, or a body that ends inside one, is an error:
//! a stream cut short must never look like a clean end. Frames are read in place ([`read`]) and
//! written by `aws-smithy-eventstream`.

mod read;
#[cfg(test)]
mod read_tests;

use std::borrow::Cow;
use std::fmt;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Bytes, BytesMut};

use crate::body::UpstreamBody;

/// The prelude: total length, headers length, prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Prelude plus the message CRC: the smallest frame there is.
const MIN_FRAME_LEN: u32 = 16;
/// botocore's limits (24 MiB of payload, 128 KiB of headers) plus the framing. A longer length
/// is a corrupt prelude, and buffering for it would hold memory for nothing.
const MAX_FRAME_LEN: u32 = 24 * 1024 * 1024 + 128 * 1024 + MIN_FRAME_LEN;

/// `:message-type`: what a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// An event of the stream's union, named by `:event-type`.
    Event,
    /// A modeled exception, named by `:exception-type`, with a JSON `{"message"}` payload.
    Exception,
    /// A generic error, named by `:error-code`; its `:error-message` becomes the payload.
    Error,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub message_type: MessageType,
    /// The `:event-type`, `:exception-type` or `:error-code`; the names Bedrock sends are not
    /// copied (a stream has a frame per word).
    pub name: Cow<'static, str>,
    /// The payload (JSON for Bedrock's events and exceptions); for an error, its message.
    pub payload: Bytes,
}

impl Frame {
    /// Whether this frame ends the stream with a failure (an exception or an error).
    pub fn is_failure(&self) -> bool {
        self.message_type != MessageType::Event
    }
}

/// Why an event stream cannot be read (or a frame written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStreamError(pub String);

impl fmt::Display for EventStreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EventStreamError {}

/// Decodes frames from bytes fed in pieces of any size.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    /// A network chunk held as it came: mostly whole frames, read without copying them.
    chunk: Bytes,
    /// Where a frame cut across chunks is gathered. At most one of `chunk` and `buffer` holds
    /// bytes.
    buffer: BytesMut,
    /// A corrupt frame was seen; nothing after it can be trusted.
    failed: Option<EventStreamError>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a chunk as it arrived from the network; it is kept, not copied, until a frame in
    /// it turns out to continue in the next one.
    pub fn push(&mut self, chunk: Bytes) {
        if self.chunk.is_empty() && self.buffer.is_empty() {
            self.chunk = chunk;
            return;
        }
        if !self.chunk.is_empty() {
            self.buffer
                .extend_from_slice(&std::mem::take(&mut self.chunk));
        }
        self.buffer.extend_from_slice(&chunk);
    }

    /// The bytes not yet read as frames.
    fn unread(&self) -> &[u8] {
        if self.buffer.is_empty() {
            &self.chunk
        } else {
            &self.buffer
        }
    }

    /// The next whole frame, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.decode().inspect_err(|e| self.failed = Some(e.clone()))
    }

    /// Checks that the stream ended on a frame boundary; call it when the body ends.
    pub fn finish(&self) -> Result<(), EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let unread = self.unread().len();
        if unread > 0 {
            return Err(EventStreamError(format!(
                "the event stream ended inside a frame ({unread} bytes of it received)"
            )));
        }
        Ok(())
    }

    /// The frame at the front of the buffer once all of it has arrived, split off as its own
    /// `Bytes` (no copy when it came in one network chunk) and read in place.
    fn decode(&mut self) -> Result<Option<Frame>, EventStreamError> {
        let unread = self.unread();
        let Some(prelude) = unread.get(..PRELUDE_LEN) else {
            return Ok(None);
        };
        let total = u32::from_be_bytes([prelude[0], prelude[1], prelude[2], prelude[3]]);
        if !(MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&total) {
            return Err(EventStreamError(format!(
                "an event-stream frame declares {total} bytes, outside {MIN_FRAME_LEN}..={MAX_FRAME_LEN}"
            )));
        }
        let total = total as usize;
        if unread.len() < total {
            return Ok(None);
        }
        let whole = if self.buffer.is_empty() {
            self.chunk.split_to(total)
        } else {
            self.buffer.split_to(total).freeze()
        };
        read::read_frame(whole).map(Some)
    }
}

/// Reads frames from an upstream body.
#[derive(Debug)]
pub struct EventStreamReader {
    body: UpstreamBody,
    decoder: FrameDecoder,
    done: bool,
}

impl EventStreamReader {
    pub fn new(body: UpstreamBody) -> Self {
        Self {
            body,
            decoder: FrameDecoder::new(),
            done: false,
        }
    }

    /// The next frame; `None` after the body ended cleanly on a frame boundary. A body that
    /// fails, or ends inside a frame, yields one error and then `None`.
    pub async fn next(&mut self) -> Option<Result<Frame, EventStreamError>> {
        if self.done {
            return None;
        }
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) => {}
                Err(e) => return self.fail(e),
            }
            match self.body.chunk().await {
                Some(Ok(bytes)) => self.decoder.push(bytes),
                Some(Err(e)) => {
                    return self.fail(EventStreamError(format!("the event stream broke: {e}")));
                }
                None => {
                    self.done = true;
                    return self.decoder.finish().err().map(Err);
                }
            }
        }
    }

    /// The next frame already received whole, without waiting for the network; `None` when
    /// the bytes at hand hold no whole frame. A corrupt frame is left for [`Self::next`] to
    /// report (the decoder keeps failing once it has failed).
    pub fn next_buffered(&mut self) -> Option<Frame> {
        if self.done {
            return None;
        }
        self.decoder.next_frame().ok().flatten()
    }

    fn fail(&mut self, e: EventStreamError) -> Option<Result<Frame, EventStreamError>> {
        self.done = true;
        Some(Err(e))
    }
}

/// The frame names of Bedrock Runtime's streams (ConverseStream's events, the InvokeModel
/// stream's `chunk`, the exceptions either sends mid-stream).
const KNOWN_NAMES: [&str; 13] = [
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
    "chunk",
    "internalServerException",
    "modelStreamErrorException",
    "modelTimeoutException",
    "serviceUnavailableException",
    "throttlingException",
    "validationException",
];

fn known_name(name: &str) -> Cow<'static, str> {
    match KNOWN_NAMES.iter().find(|known| **known == name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(name.to_owned()),
    }
}

/// An event frame: `:event-type`, `:content-type: application/json`, `:message-type: event`.
pub fn event_frame(event_type: &str, payload: &[u8]) -> Result<Bytes, EventStreamError> {
    encode(":event-type", event_type, "event", payload)
}

/// A modeled-exception frame (`throttlingException`, `validationException`, ...), the way Bedrock
/// reports a failure after the stream has started; the payload is JSON `{"message": ...}`.
pub fn exception_frame(exception_type: &str, payload: &[u8]) -> Result<Bytes, EventStreamError> {
    encode(":exception-type", exception_type, "exception", payload)
}

/// A generic error frame: `:error-code` and `:error-message` headers, `:message-type: error`, no
/// payload; how the protocol ends a stream on a failure that is not a modeled exception.
pub fn error_frame(code: &str, message: &str) -> Result<Bytes, EventStreamError> {
    write(
        Message::new(Bytes::new())
            .add_header(Header::new(":error-code", string(code)))
            .add_header(Header::new(":error-message", string(message)))
            .add_header(Header::new(":message-type", string("error"))),
    )
}

/// Headers in the order Bedrock sends them: the type, the content type, the message type.
fn encode(
    type_header: &'static str,
    type_name: &str,
    message_type: &'static str,
    payload: &[u8],
) -> Result<Bytes, EventStreamError> {
    write(
        Message::new(Bytes::copy_from_slice(payload))
            .add_header(Header::new(type_header, string(type_name)))
            .add_header(Header::new(":content-type", string("application/json")))
            .add_header(Header::new(":message-type", string(message_type))),
    )
}

fn string(value: &str) -> HeaderValue {
    HeaderValue::String(value.to_owned().into())
}

fn write(message: Message) -> Result<Bytes, EventStreamError> {
    let mut out = Vec::with_capacity(message.payload().len() + 128);
    write_message_to(&message, &mut out)
        .map_err(|e| EventStreamError(format!("cannot write an event-stream frame: {e}")))?;
    Ok(Bytes::from(out))
}
