//! What a [`FakeUpstream`](crate::FakeUpstream) answers: the [`Script`] enum and its constructors.

use std::time::Duration;

/// The behaviour of a fake upstream for the requests it receives.
///
/// The content-carrying variants ([`Reply`](Script::Reply), [`Stream`](Script::Stream),
/// [`StreamCut`](Script::StreamCut), [`ToolCall`](Script::ToolCall)) describe *what* to answer;
/// the request's `"stream": true` decides the *shape* (JSON or SSE), as a real upstream would.
/// On a `…/embeddings` path they answer an embeddings list instead.
#[derive(Clone, Debug)]
pub enum Script {
    /// `200 application/json` chat completion with `text` as the assistant message. For a
    /// streaming request: the same as a one-piece [`Stream`](Script::Stream). For
    /// `POST …/embeddings`: an embeddings list, one 3-float vector per input (base64 f32 LE when
    /// `encoding_format == "base64"`), with `usage.prompt_tokens = prompt_tokens`.
    Reply {
        text: String,
        prompt_tokens: u64,
        completion_tokens: u64,
    },
    /// `200 text/event-stream` of `chat.completion.chunk` events: a role chunk (`delta.role`
    /// `"assistant"`, content `""`), one chunk per piece (each preceded by `interval`), a finish
    /// chunk (`"stop"`), a usage chunk (`"choices":[]`) only when the request asked for
    /// `stream_options.include_usage` (then every other chunk carries `"usage":null`), and
    /// `data: [DONE]`. Each event is its own body frame. A non-streaming request gets a chat
    /// completion of the joined pieces.
    Stream {
        pieces: Vec<String>,
        interval: Duration,
        prompt_tokens: u64,
        completion_tokens: u64,
    },
    /// The first `after` events of the [`Stream`](Script::Stream) sequence (never `[DONE]`),
    /// then the body aborts with an error. Token counts are 5 and `pieces.len()`. A non-streaming
    /// request gets half of the JSON body, then the abort.
    StreamCut { pieces: Vec<String>, after: usize },
    /// Arbitrary status, headers and body (no content-type unless given).
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Accept the request and never answer; held until the client disconnects.
    Hang,
    /// `200 text/event-stream` whose body is exactly these frames, `interval` between them.
    RawSse {
        frames: Vec<Vec<u8>>,
        interval: Duration,
    },
    /// A tool call. Non-stream: message content `null` with one `tool_calls` entry, finish
    /// reason `"tool_calls"`. Stream: role chunk, a chunk opening the call (`arguments: ""`),
    /// two chunks of argument fragments, finish chunk, optional usage chunk, `[DONE]`.
    /// Token counts are 5 and 3.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    /// The n-th request gets the n-th script; the last one repeats.
    Sequence(Vec<Script>),
}

/// Prompt tokens reported by the constructors that do not take counts.
pub const DEFAULT_PROMPT_TOKENS: u64 = 5;

impl Script {
    /// A reply of `text`; 5 prompt tokens, one completion token per whitespace-separated word (min 1).
    pub fn reply(text: &str) -> Self {
        Script::Reply {
            text: text.to_owned(),
            prompt_tokens: DEFAULT_PROMPT_TOKENS,
            completion_tokens: text.split_whitespace().count().max(1) as u64,
        }
    }

    /// A stream of `pieces` with no pause; 5 prompt tokens, one completion token per piece.
    pub fn stream(pieces: &[&str]) -> Self {
        Self::stream_every(pieces, Duration::ZERO)
    }

    /// Like [`stream`](Self::stream), waiting `interval` before each piece.
    pub fn stream_every(pieces: &[&str], interval: Duration) -> Self {
        Script::Stream {
            pieces: owned(pieces),
            interval,
            prompt_tokens: DEFAULT_PROMPT_TOKENS,
            completion_tokens: pieces.len() as u64,
        }
    }

    pub fn stream_cut(pieces: &[&str], after: usize) -> Self {
        Script::StreamCut {
            pieces: owned(pieces),
            after,
        }
    }

    /// `status` with a plain body and no headers.
    pub fn status(status: u16, body: &str) -> Self {
        Script::Status {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    pub fn raw_sse(frames: &[&[u8]], interval: Duration) -> Self {
        Script::RawSse {
            frames: frames.iter().map(|f| f.to_vec()).collect(),
            interval,
        }
    }

    pub fn tool_call(id: &str, name: &str, arguments: &str) -> Self {
        Script::ToolCall {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        }
    }
}

/// An OpenAI error answer: `status`, `content-type: application/json` and
/// `{"error":{"message","type","param":null,"code"}}`.
pub fn openai_error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Script {
    let body = serde_json::json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    Script::Status {
        status,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.to_string(),
    }
}

fn owned(pieces: &[&str]) -> Vec<String> {
    pieces.iter().map(|p| (*p).to_owned()).collect()
}
