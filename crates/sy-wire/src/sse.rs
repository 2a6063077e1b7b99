//! Server-sent events: an incremental, zero-copy parser over arbitrary byte chunks, and the writer.
//!
//! The parser accepts LF, CR and CRLF line endings split anywhere across chunks, joins multi-line
//! `data:` fields with `\n`, and keeps each event's raw bytes so a relay can forward them untouched.

use bytes::{Bytes, BytesMut};

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event exactly as received, including its terminating blank line.
    pub raw: Bytes,
    /// The `event:` field, if any.
    pub event: Option<Bytes>,
    /// The `data:` lines joined with `\n` (empty when the event had none, e.g. a comment).
    pub data: Bytes,
    /// Whether any `data:` line was present.
    pub has_data: bool,
}

/// Incremental SSE parser. Feed chunks with [`push`](Self::push), drain with [`next_event`](Self::next_event).
#[derive(Debug, Default)]
pub struct SseParser {
    buf: BytesMut,
    /// Offset in `buf` where the next unscanned line of the current event starts.
    scanned: usize,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes received but not yet part of a complete event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete event, if the buffer holds one.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let (end, next) = line_end(&self.buf, self.scanned, false)?;
            let blank = end == self.scanned;
            if blank && self.scanned == 0 {
                // A blank line with no event before it dispatches nothing.
                let _ = self.buf.split_to(next);
                continue;
            }
            self.scanned = next;
            if blank {
                self.scanned = 0;
                return Some(parse_fields(self.buf.split_to(next).freeze()));
            }
        }
    }

    /// At end of stream: whatever is left as a final event (an event not closed by a blank line),
    /// or `None` when the buffer is empty or holds only whitespace.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            self.buf.clear();
            return None;
        }
        self.scanned = 0;
        let raw = self.buf.split().freeze();
        Some(parse_fields(raw))
    }
}

/// Finds the end of the line starting at `from`: `(end of content, start of next line)`.
/// A trailing `\r` is ambiguous (a CRLF may be split) unless `at_eof`.
fn line_end(buf: &[u8], from: usize, at_eof: bool) -> Option<(usize, usize)> {
    let rest = buf.get(from..)?;
    let i = memchr::memchr2(b'\n', b'\r', rest)?;
    let end = from + i;
    if buf[end] == b'\n' {
        return Some((end, end + 1));
    }
    match buf.get(end + 1) {
        Some(b'\n') => Some((end, end + 2)),
        Some(_) => Some((end, end + 1)),
        None if at_eof => Some((end, end + 1)),
        None => None,
    }
}

/// Splits a complete event into its fields.
fn parse_fields(raw: Bytes) -> SseEvent {
    let mut event = None;
    let mut data_parts: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let (end, next) = line_end(&raw, pos, true).unwrap_or((raw.len(), raw.len()));
        let line = &raw[pos..end];
        if !line.is_empty() && line[0] != b':' {
            let (name, value_start) = match memchr::memchr(b':', line) {
                Some(c) => {
                    let skip = usize::from(line.get(c + 1) == Some(&b' '));
                    (&line[..c], pos + c + 1 + skip)
                }
                None => (line, end),
            };
            match name {
                b"data" => data_parts.push((value_start, end)),
                b"event" => event = Some(raw.slice(value_start..end)),
                _ => {}
            }
        }
        pos = next;
    }
    let has_data = !data_parts.is_empty();
    let data = match data_parts.as_slice() {
        [] => Bytes::new(),
        [(s, e)] => raw.slice(*s..*e),
        parts => {
            let mut joined = BytesMut::new();
            for (i, (s, e)) in parts.iter().enumerate() {
                if i > 0 {
                    joined.extend_from_slice(b"\n");
                }
                joined.extend_from_slice(&raw[*s..*e]);
            }
            joined.freeze()
        }
    };
    SseEvent {
        raw,
        event,
        data,
        has_data,
    }
}

/// Writes one `data:` event (the payload must hold no raw newlines, as serialized JSON never does).
pub fn data_event(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

/// Writes one event with an `event:` line.
pub fn named_event(name: &str, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + name.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk);
            while let Some(e) = parser.next_event() {
                out.push(e);
            }
        }
        out.extend(parser.finish());
        out
    }

    fn datas(events: &[SseEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.data).into_owned())
            .collect()
    }

    const STREAM: &[u8] = b"data: {\"a\":1}\n\nevent: ping\ndata: x\n\n: keep-alive\n\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n";

    #[test]
    fn parses_whole_stream() {
        let events = parse_all(&[STREAM]);
        assert_eq!(
            datas(&events),
            ["{\"a\":1}", "x", "", "line1\nline2", "[DONE]"]
        );
        assert_eq!(events[1].event.as_deref(), Some(&b"ping"[..]));
        assert!(!events[2].has_data, "comments carry no data");
        let raw: Vec<u8> = events.iter().flat_map(|e| e.raw.to_vec()).collect();
        assert_eq!(raw, STREAM, "raw bytes concatenate back to the input");
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let expected = parse_all(&[STREAM]);
        for cut in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(cut);
            assert_eq!(parse_all(&[a, b]), expected, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(parse_all(&bytes), expected, "byte by byte");
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let crlf = b"data: a\r\n\r\ndata: b\r\ndata: c\r\n\r\n";
        for cut in 0..=crlf.len() {
            let (x, y) = crlf.split_at(cut);
            assert_eq!(datas(&parse_all(&[x, y])), ["a", "b\nc"], "split at {cut}");
        }
        assert_eq!(datas(&parse_all(&[b"data: a\r\rdata: b\r\r"])), ["a", "b"]);
    }

    #[test]
    fn optional_space_and_unterminated_tail() {
        let events = parse_all(&[b"data:nospace\n\ndata: tail"]);
        assert_eq!(datas(&events), ["nospace", "tail"]);
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        assert_eq!(datas(&parse_all(&[b"\n\n\r\ndata: a\n\n"])), ["a"]);
    }

    #[test]
    fn writer_round_trips() {
        let e = parse_all(&[&named_event("message_start", b"{}"), &data_event(b"[DONE]")]);
        assert_eq!(datas(&e), ["{}", "[DONE]"]);
        assert_eq!(e[0].event.as_deref(), Some(&b"message_start"[..]));
    }
}
