//! The in-place frame reader against `aws-smithy-eventstream`'s reader, on generated frames:
//! valid ones with every header type, and ones corrupted before and after their CRCs were
//! computed (so the header parser, not only the checksum, meets bad bytes).

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::DateTime;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;

use super::{EventStreamError, Frame, FrameDecoder, MessageType, known_name};

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        (0..self.below(max + 1))
            .map(|_| self.next() as u8)
            .collect()
    }
}

const NAMES: &[&str] = &[
    ":message-type",
    ":event-type",
    ":exception-type",
    ":error-code",
    ":error-message",
    ":content-type",
    "x-amzn-requestid",
    "",
    "é",
];
const STRINGS: &[&str] = &[
    "event",
    "exception",
    "error",
    "contentBlockDelta",
    "throttlingException",
    "somethingNew",
    "application/json",
    "",
    "ünïcode ✓",
];

fn header_value(rng: &mut Rng) -> HeaderValue {
    match rng.below(10) {
        0 => HeaderValue::Bool(true),
        1 => HeaderValue::Bool(false),
        2 => HeaderValue::Byte(rng.next() as i8),
        3 => HeaderValue::Int16(rng.next() as i16),
        4 => HeaderValue::Int32(rng.next() as i32),
        5 => HeaderValue::Int64(rng.next() as i64 >> 20),
        6 => HeaderValue::ByteArray(Bytes::from(rng.bytes(40))),
        7 => HeaderValue::Timestamp(DateTime::from_millis(rng.next() as i64 >> 24)),
        8 => HeaderValue::Uuid(u128::from(rng.next()) << 64 | u128::from(rng.next())),
        _ => HeaderValue::String(rng.pick(STRINGS).to_owned().into()),
    }
}

/// A valid frame: mostly shaped as Bedrock's (a message type and its name header, in either
/// order), with stray, repeated and non-string headers around them.
fn valid_frame(rng: &mut Rng) -> Vec<u8> {
    let string = |s: &str| HeaderValue::String(s.to_owned().into());
    let mut headers = match rng.below(4) {
        0 => vec![
            (":message-type", string("event")),
            (":event-type", string(rng.pick(STRINGS))),
        ],
        1 => vec![
            (":message-type", string("exception")),
            (":exception-type", string(rng.pick(STRINGS))),
        ],
        2 => vec![
            (":message-type", string("error")),
            (":error-code", string(rng.pick(STRINGS))),
            (":error-message", string(rng.pick(STRINGS))),
        ],
        _ => Vec::new(),
    };
    if rng.below(2) == 0 {
        headers.reverse();
    }
    for _ in 0..rng.below(4) {
        let value = if rng.below(2) == 0 {
            header_value(rng)
        } else {
            string(rng.pick(STRINGS))
        };
        let at = rng.below(headers.len() + 1);
        headers.insert(at, (rng.pick(NAMES), value));
    }
    let mut message = Message::new(Bytes::from(rng.bytes(200)));
    for (name, value) in headers {
        message = message.add_header(Header::new(name, value));
    }
    let mut out = Vec::new();
    write_message_to(&message, &mut out).expect("a valid message is written");
    out
}

/// Recomputes both CRCs, so a corruption reaches the header parser.
fn reseal(frame: &mut [u8]) {
    let prelude = crc32fast::hash(&frame[..8]).to_be_bytes();
    frame[8..12].copy_from_slice(&prelude);
    let end = frame.len() - 4;
    let message = crc32fast::hash(&frame[..end]).to_be_bytes();
    frame[end..].copy_from_slice(&message);
}

fn corrupted(rng: &mut Rng, mut frame: Vec<u8>) -> Vec<u8> {
    let headers_end = 12 + u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]) as usize;
    match rng.below(5) {
        0 => {}
        1 => {
            let at = rng.below(frame.len());
            frame[at] ^= 1 << rng.below(8);
        }
        2 if headers_end > 12 => {
            let at = 12 + rng.below(headers_end - 12);
            frame[at] = rng.next() as u8;
            reseal(&mut frame);
        }
        3 => {
            let len = (rng.below(frame.len() - 15) as u32).to_be_bytes();
            frame[4..8].copy_from_slice(&len);
            reseal(&mut frame);
        }
        _ => {
            let garbage = rng.bytes(frame.len() - 16);
            frame[12..12 + garbage.len()].copy_from_slice(&garbage);
            reseal(&mut frame);
        }
    }
    frame
}

/// What the crate's reader makes of `bytes`, read into a [`Frame`] by the rules of
/// [`super::read`]: `:message-type` and the type's name header by their first occurrence.
fn oracle(bytes: &[u8]) -> Result<Frame, ()> {
    let message = read_message_from(bytes).map_err(|_| ())?;
    let header = |name: &str| -> Option<String> {
        let first = message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)?;
        first
            .value()
            .as_string()
            .ok()
            .map(|s| s.as_str().to_owned())
    };
    let (message_type, name_header) = match header(":message-type").as_deref() {
        Some("event") => (MessageType::Event, ":event-type"),
        Some("exception") => (MessageType::Exception, ":exception-type"),
        Some("error") => (MessageType::Error, ":error-code"),
        _ => return Err(()),
    };
    let name = known_name(&header(name_header).ok_or(())?)
        .into_owned()
        .into();
    let payload = match message_type {
        MessageType::Error => Bytes::from(header(":error-message").unwrap_or_default()),
        _ => message.payload().clone(),
    };
    Ok(Frame {
        message_type,
        name,
        payload,
    })
}

fn ours(bytes: &[u8]) -> Result<Frame, EventStreamError> {
    let mut decoder = FrameDecoder::new();
    decoder.push(Bytes::copy_from_slice(bytes));
    match decoder.next_frame()? {
        Some(frame) => {
            decoder.finish()?;
            Ok(frame)
        }
        None => Err(decoder
            .finish()
            .expect_err("an unfinished frame is an error")),
    }
}

#[test]
fn frames_are_read_as_the_crate_reads_them() {
    let mut rng = Rng(0x5eed_f00d_cafe_d00d);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..20_000 {
        let frame = valid_frame(&mut rng);
        let frame = corrupted(&mut rng, frame);
        match (oracle(&frame), ours(&frame)) {
            (Ok(expected), Ok(got)) => {
                assert_eq!(got, expected, "case {case}: {frame:02x?}");
                accepted += 1;
            }
            (Err(()), Err(_)) => refused += 1,
            (expected, got) => {
                panic!("case {case}: the crate read {expected:?}, ours {got:?}: {frame:02x?}")
            }
        }
    }
    // Both outcomes are common, so neither side of the comparison is vacuous.
    assert!(
        accepted > 2_000 && refused > 2_000,
        "{accepted} read, {refused} refused"
    );
}

#[test]
fn a_frame_from_one_chunk_is_read_without_copying_it() {
    let chunk = super::event_frame("contentBlockDelta", b"{\"x\":1}").expect("frame");
    let mut decoder = FrameDecoder::new();
    decoder.push(chunk.clone());
    let frame = decoder.next_frame().expect("valid").expect("whole");
    assert_eq!(frame.payload.as_ref(), b"{\"x\":1}");
    let range = chunk.as_ptr_range();
    assert!(
        range.contains(&frame.payload.as_ptr()),
        "the payload is a slice of the chunk"
    );
}
