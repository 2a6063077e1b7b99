//! [`FakeBedrock`]: a Bedrock Runtime on 127.0.0.1 that checks every request's SigV4 signature
//! (or Bedrock API key), records it, and answers Converse, ConverseStream, InvokeModel,
//! InvokeModelWithResponseStream and CountTokens from a [`BedrockScript`], streams as real
//! event-stream frames.

mod answer;
mod frames;
mod sigv4;

pub use frames::{decode_frames, event_frame, exception_frame};
pub use sigv4::{AuthMode, AuthRefusal, BedrockCredentials, check_authorization};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use crate::fake::{FakeServer, Steps, nth};
use crate::server::Recorded;

/// What a [`FakeBedrock`] answers. The operation in the path decides the shape: the content
/// variants answer Converse with JSON and ConverseStream with event-stream frames.
#[derive(Debug, Clone)]
pub enum BedrockScript {
    /// The assistant says `pieces` joined (one `contentBlockDelta` per piece when streamed), stop
    /// reason `end_turn`, with this usage. InvokeModel gets an Anthropic Messages body, its stream
    /// `chunk` events; CountTokens gets `{"inputTokens": input_tokens}`.
    Reply {
        pieces: Vec<String>,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// A stream that fails: `messageStart` and the first `after` deltas, then an exception frame
    /// (`:exception-type` as given, e.g. `throttlingException`) with `{"message"}`, then the end.
    /// A non-streaming operation gets the same exception as an HTTP error.
    StreamException {
        pieces: Vec<String>,
        after: usize,
        exception_type: String,
        message: String,
    },
    /// The stream of [`Reply`](Self::Reply), cut after `keep_bytes` bytes (mid-frame, most likely)
    /// with a clean end of body: only the frame CRCs and lengths tell.
    Truncated {
        pieces: Vec<String>,
        keep_bytes: usize,
    },
    /// An HTTP error as Bedrock sends it: `x-amzn-ErrorType: {error_type}:...` and
    /// `{"message": ...}`.
    Error {
        status: u16,
        error_type: String,
        message: String,
    },
    /// One `toolUse` block calling `name` with the JSON `arguments`, stop reason `tool_use`;
    /// ConverseStream sends a `contentBlockStart` with `start.toolUse{toolUseId,name}`, then
    /// `contentBlockDelta`s with `delta.toolUse.input` fragments.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// The n-th request gets the n-th script; the last one repeats.
    Sequence(Vec<BedrockScript>),
    /// The script of the route named by the model id in the path (percent-decoded), else
    /// `otherwise`. Sequences inside count the requests to the whole fake.
    ByModel {
        routes: Vec<(String, BedrockScript)>,
        otherwise: Box<BedrockScript>,
    },
}

impl BedrockScript {
    /// A reply of `pieces`; 11 input tokens, one output token per piece.
    pub fn reply(pieces: &[&str]) -> Self {
        Self::Reply {
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            input_tokens: 11,
            output_tokens: pieces.len() as u64,
        }
    }

    pub fn error(status: u16, error_type: &str, message: &str) -> Self {
        Self::Error {
            status,
            error_type: error_type.to_owned(),
            message: message.to_owned(),
        }
    }

    /// 429 `ThrottlingException`, as Bedrock throttles on-demand traffic.
    pub fn throttled() -> Self {
        Self::error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        )
    }

    /// A call of tool `name` with `arguments` (a JSON object); 11 input tokens, 17 output.
    pub fn tool_call(name: &str, arguments: &serde_json::Value) -> Self {
        Self::ToolCall {
            id: "tooluse_TestToolCall0000001".to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_string(),
            input_tokens: 11,
            output_tokens: 17,
        }
    }

    /// `routes` by the model id in the path, `otherwise` for any other model.
    pub fn by_model(routes: Vec<(&str, BedrockScript)>, otherwise: BedrockScript) -> Self {
        Self::ByModel {
            routes: routes
                .into_iter()
                .map(|(model, script)| (model.to_owned(), script))
                .collect(),
            otherwise: Box::new(otherwise),
        }
    }

    pub fn stream_exception(
        pieces: &[&str],
        after: usize,
        exception_type: &str,
        message: &str,
    ) -> Self {
        Self::StreamException {
            pieces: pieces.iter().map(|p| (*p).to_owned()).collect(),
            after,
            exception_type: exception_type.to_owned(),
            message: message.to_owned(),
        }
    }
}

impl Steps for BedrockScript {
    fn for_turn(&self, turn: usize) -> Self {
        match self {
            Self::Sequence(steps) => nth(steps, turn)
                .map(|s| s.for_turn(0))
                .unwrap_or_else(|| Self::reply(&[""])),
            Self::ByModel { routes, otherwise } => Self::ByModel {
                routes: routes
                    .iter()
                    .map(|(model, script)| (model.clone(), script.for_turn(turn)))
                    .collect(),
                otherwise: Box::new(otherwise.for_turn(turn)),
            },
            other => other.clone(),
        }
    }
}

/// A fake Bedrock Runtime. Requests must be signed for its credentials' region (service
/// `bedrock`, within five minutes) or carry its API key; others get Bedrock's 403 with
/// `x-amzn-ErrorType` naming why, and are recorded all the same.
#[derive(Debug)]
pub struct FakeBedrock {
    server: FakeServer<BedrockScript>,
    credentials: BedrockCredentials,
    frame_split: Arc<AtomicUsize>,
}

impl FakeBedrock {
    /// Serves `script` for [`BedrockCredentials::test`].
    pub async fn start(script: BedrockScript) -> Self {
        Self::start_with(BedrockCredentials::test(), script).await
    }

    pub async fn start_with(credentials: BedrockCredentials, script: BedrockScript) -> Self {
        let frame_split = Arc::new(AtomicUsize::new(0));
        let accepted = credentials.clone();
        let split = Arc::clone(&frame_split);
        let server = FakeServer::start(
            script,
            Box::new(move |request: &Recorded, script, request_no| {
                let auth = check_authorization(
                    &request.method,
                    &request.path_and_query,
                    &request.headers,
                    &request.body,
                    &accepted,
                    SystemTime::now(),
                );
                match auth {
                    Err(refusal) => answer::refused(&refusal, request_no),
                    Ok(_) => {
                        answer::answer(request, &script, request_no, split.load(Ordering::Relaxed))
                    }
                }
            }),
        )
        .await;
        Self {
            server,
            credentials,
            frame_split,
        }
    }

    /// `http://127.0.0.1:PORT`, the endpoint to configure as `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    pub fn credentials(&self) -> &BedrockCredentials {
        &self.credentials
    }

    /// Every request received so far, in arrival order, refused ones included.
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }

    /// The model ids of the requests received, percent-decoded from their paths.
    pub fn model_ids(&self) -> Vec<Option<String>> {
        self.requests()
            .iter()
            .map(|r| answer::route(&r.path_and_query).map(|(id, _)| id))
            .collect()
    }

    pub fn set_script(&self, script: BedrockScript) {
        self.server.set_script(script);
    }

    /// Sends streamed bodies in pieces of `bytes` bytes regardless of frame boundaries (0, the
    /// default: one frame per piece), as real HTTP chunking does.
    pub fn split_frames_every(&self, bytes: usize) {
        self.frame_split.store(bytes, Ordering::Relaxed);
    }
}
