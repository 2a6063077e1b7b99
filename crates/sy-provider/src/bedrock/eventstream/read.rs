//! Reading one whole event-stream frame without copying it.
//!
//! `aws-smithy-eventstream` reads a frame into a `Message` that owns a copy of every header name,
//! header value and payload (its CRC-computing buffer has no zero-copy path), and it updates the
//! CRC a few bytes at a time. A ConverseStream answer is a frame per word, so that was about 110
//! allocations per streamed answer. Here the frame stays one `Bytes`: both CRCs are computed over
//! whole slices, the headers are validated in place, and the payload is a slice of the frame.
//! The crate still writes every frame the gateway sends, and its reader is the oracle this one is
//! tested against (`read_tests::frames_are_read_as_the_crate_reads_them`).
//!
//! Layout (big-endian): total length u32, headers length u32, prelude CRC u32 (of the first 8
//! bytes), headers, payload, message CRC u32 (of everything before it).

use bytes::Bytes;

use super::{EventStreamError, Frame, MessageType, PRELUDE_LEN, known_name};

const CRC_LEN: usize = 4;

/// Reads `frame`, which is exactly one frame long (its declared total length, at least 16).
pub(super) fn read_frame(frame: Bytes) -> Result<Frame, EventStreamError> {
    let body_end = frame.len() - CRC_LEN;
    if crc32fast::hash(&frame[..8]) != be_u32(&frame[8..PRELUDE_LEN]) {
        return Err(corrupt("the prelude checksum does not match"));
    }
    let headers_len = be_u32(&frame[4..8]) as usize;
    if headers_len > body_end - PRELUDE_LEN {
        return Err(corrupt("the headers are longer than the frame"));
    }
    if crc32fast::hash(&frame[..body_end]) != be_u32(&frame[body_end..]) {
        return Err(corrupt("the message checksum does not match"));
    }
    let headers_end = PRELUDE_LEN + headers_len;
    let headers = Known::read(&frame[PRELUDE_LEN..headers_end])?;
    let required = |value: Option<Value<'_>>, name: &str| {
        string(value).map(known_name).ok_or_else(|| {
            EventStreamError(format!("an event-stream frame has no `{name}` header"))
        })
    };
    let (message_type, name, payload) = match string(headers.message_type) {
        Some("event") => (
            MessageType::Event,
            required(headers.event_type, ":event-type")?,
            frame.slice(headers_end..body_end),
        ),
        Some("exception") => (
            MessageType::Exception,
            required(headers.exception_type, ":exception-type")?,
            frame.slice(headers_end..body_end),
        ),
        // A generic error has no payload of its own: its message is a header.
        Some("error") => (
            MessageType::Error,
            required(headers.error_code, ":error-code")?,
            string(headers.error_message)
                .map(|message| frame.slice_ref(message.as_bytes()))
                .unwrap_or_default(),
        ),
        Some(other) => {
            return Err(EventStreamError(format!(
                "an event-stream frame has the unknown :message-type `{other}`"
            )));
        }
        None => {
            return Err(EventStreamError(
                "an event-stream frame has no `:message-type` header".into(),
            ));
        }
    };
    Ok(Frame {
        message_type,
        name,
        payload,
    })
}

fn corrupt(why: &str) -> EventStreamError {
    EventStreamError(format!("corrupt event-stream frame: {why}"))
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(word)
}

/// A header's value, as far as reading a frame needs it.
#[derive(Clone, Copy)]
enum Value<'a> {
    String(&'a str),
    Other,
}

/// The headers a frame is read by, each the first header of its name (later ones are ignored,
/// as the crate ignores them), found in the one pass that checks every header.
#[derive(Default)]
struct Known<'a> {
    message_type: Option<Value<'a>>,
    event_type: Option<Value<'a>>,
    exception_type: Option<Value<'a>>,
    error_code: Option<Value<'a>>,
    error_message: Option<Value<'a>>,
}

impl<'a> Known<'a> {
    /// Reads a frame's headers whole: every one well formed, names and strings UTF-8.
    fn read(bytes: &'a [u8]) -> Result<Self, EventStreamError> {
        let mut known = Self::default();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (name, value) = next_header(&mut rest)?;
            let slot = match name {
                ":message-type" => &mut known.message_type,
                ":event-type" => &mut known.event_type,
                ":exception-type" => &mut known.exception_type,
                ":error-code" => &mut known.error_code,
                ":error-message" => &mut known.error_message,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        Ok(known)
    }
}

/// A header's string value; `None` when there is no such header or its value is not a string.
fn string(value: Option<Value<'_>>) -> Option<&str> {
    match value {
        Some(Value::String(s)) => Some(s),
        Some(Value::Other) | None => None,
    }
}

/// Reads the header at the front of `rest` and moves past it: a name (u8 length, UTF-8), a
/// type byte and a value whose size the type gives (strings and byte arrays: u16 length first).
fn next_header<'a>(rest: &mut &'a [u8]) -> Result<(&'a str, Value<'a>), EventStreamError> {
    let bad = |why: &str| corrupt(&format!("a header {why}"));
    let (&name_len, after) = rest.split_first().ok_or_else(|| bad("is empty"))?;
    let (name, after) = after
        .split_at_checked(usize::from(name_len))
        .ok_or_else(|| bad("name runs past the headers"))?;
    let name = std::str::from_utf8(name).map_err(|_| bad("name is not UTF-8"))?;
    let (&value_type, after) = after
        .split_first()
        .ok_or_else(|| bad("has no value type"))?;
    let fixed_len = match value_type {
        0 | 1 => Some(0), // true, false
        2 => Some(1),     // byte
        3 => Some(2),     // int16
        4 => Some(4),     // int32
        5 | 8 => Some(8), // int64, timestamp
        9 => Some(16),    // uuid
        6 | 7 => None,    // byte array, string
        other => return Err(bad(&format!("has the unknown value type {other}"))),
    };
    let (value, after) = match fixed_len {
        Some(len) => {
            let (_, after) = after
                .split_at_checked(len)
                .ok_or_else(|| bad("value runs past the headers"))?;
            (Value::Other, after)
        }
        None => {
            let (len, after) = after
                .split_at_checked(2)
                .ok_or_else(|| bad("value length runs past the headers"))?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let (bytes, after) = after
                .split_at_checked(len)
                .ok_or_else(|| bad("value runs past the headers"))?;
            let value = if value_type == 7 {
                Value::String(std::str::from_utf8(bytes).map_err(|_| bad("string is not UTF-8"))?)
            } else {
                Value::Other
            };
            (value, after)
        }
    };
    *rest = after;
    Ok((name, value))
}
