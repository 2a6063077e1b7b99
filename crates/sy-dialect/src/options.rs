//! What a codec needs from its caller, and what it hands back besides the body.

use crate::DialectError;
use crate::canonical::Request;

/// Settings for encoding a request for an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// The upstream's model id (Bedrock and Gemini put it in the URL; the body encoders of OpenAI
    /// and Anthropic write it into the body).
    pub model: String,
    /// The output limit sent when the request has none and the target requires one (Anthropic's
    /// `max_tokens`); the route's configured default.
    pub default_max_tokens: u32,
    /// Whether the gateway fetches image URLs itself. Targets that take no URLs (Converse, Gemini)
    /// refuse URL images either way: the gateway resolves them through
    /// [`Request::url_images_mut`] before encoding.
    pub allow_url_fetch: bool,
    /// How a JSON schema answer is asked of Anthropic and Converse.
    pub structured_output: StructuredOutputMode,
}

impl EncodeOptions {
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            default_max_tokens: 4096,
            allow_url_fetch: false,
            structured_output: StructuredOutputMode::Native,
        }
    }
}

/// How a JSON schema answer is asked of a target without OpenAI's `response_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuredOutputMode {
    /// The target's own output format (`output_config.format`, `outputConfig.textFormat`), which
    /// newer models support.
    Native,
    /// A tool the model is forced to call, whose arguments are the answer; the answer is turned
    /// back into text and reported as a normal end of turn.
    ForcedTool,
}

/// An encoded upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The JSON body, key order of schemas and arguments preserved.
    pub body: Vec<u8>,
    /// What reading the answer back needs to know about this encoding.
    pub translation: Translation,
    /// JSON paths of harmless fields the target has no place for and that were left out.
    pub dropped: Vec<String>,
}

/// An encoder's wire struct written as the body, in a buffer sized for `request` up front.
pub(crate) fn encode_body(
    body: &impl serde::Serialize,
    request: &Request,
) -> Result<Vec<u8>, DialectError> {
    let mut bytes = Vec::with_capacity(request.encoded_len_hint());
    serde_json::to_writer(&mut bytes, body)
        .map_err(|e| DialectError::invalid("$", e.to_string()))?;
    Ok(bytes)
}

/// What an encoding did that the answer's decoder must undo.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Translation {
    /// The forced tool standing in for a JSON schema answer, whose call is really the answer text.
    pub json_tool: Option<String>,
    /// Tools the target was sent under another name, as (name sent, caller's name).
    pub renamed_tools: Vec<(String, String)>,
}

impl Translation {
    /// Gives a tool call's `name` (as the target sent it) the caller's name back.
    pub fn restore_tool_name(&self, name: &mut String) {
        if let Some((_, caller)) = self.renamed_tools.iter().find(|(sent, _)| sent == name) {
            name.clone_from(caller);
        }
    }
}

/// A decoded ingress request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub request: Request,
    /// JSON paths of harmless fields that have no meaning outside the caller's dialect.
    pub dropped: Vec<String>,
}

/// What the caller is shown as the answer's identity: the gateway's id, the model name the caller
/// asked for, and (OpenAI) the creation time in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMeta {
    pub id: String,
    pub model: String,
    pub created: u64,
}
