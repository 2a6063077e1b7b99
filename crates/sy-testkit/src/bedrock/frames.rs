//! Event-stream frames as Bedrock writes them, and a strict reader for tests.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Buf, Bytes};

/// An event frame: `:event-type`, `:content-type: application/json`, `:message-type: event`.
pub fn event_frame(event_type: &str, payload: &serde_json::Value) -> Bytes {
    frame(":event-type", event_type, "event", payload)
}

/// An exception frame (`throttlingException`, ...) with payload `{"message": message}`.
pub fn exception_frame(exception_type: &str, message: &str) -> Bytes {
    frame(
        ":exception-type",
        exception_type,
        "exception",
        &serde_json::json!({ "message": message }),
    )
}

fn frame(
    type_header: &'static str,
    name: &str,
    message_type: &'static str,
    payload: &serde_json::Value,
) -> Bytes {
    let string = |value: &str| HeaderValue::String(value.to_owned().into());
    let message = Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(type_header, string(name)))
        .add_header(Header::new(":content-type", string("application/json")))
        .add_header(Header::new(":message-type", string(message_type)));
    let mut out = Vec::new();
    // Only over-long headers or payloads fail to encode, and test payloads are small.
    let _ = write_message_to(&message, &mut out);
    Bytes::from(out)
}

/// Every frame of a whole event-stream body as `(:message-type, :event-type or :exception-type,
/// payload)`; an error for a corrupt or incomplete frame.
pub fn decode_frames(mut body: &[u8]) -> Result<Vec<(String, String, Bytes)>, String> {
    let mut frames = Vec::new();
    while body.has_remaining() {
        let message = read_message_from(&mut body).map_err(|e| e.to_string())?;
        let header = |name: &str| {
            message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == name)
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_owned())
        };
        let kind = header(":message-type").unwrap_or_default();
        let name = header(":event-type")
            .or_else(|| header(":exception-type"))
            .unwrap_or_default();
        frames.push((kind, name, message.payload().clone()));
    }
    Ok(frames)
}
