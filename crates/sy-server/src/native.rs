//! Bodies for Bedrock's InvokeModel in a model family's native format. Claude on Bedrock takes
//! the Anthropic Messages body and OpenAI's open-weight models (gpt-oss) the chat completions
//! body, so callers already speaking that format reach those models without going through
//! Converse, and lose nothing to it.

use bytes::Bytes;
use serde_json::{Map, Value};
use sy_core::GatewayError;
use sy_provider::Dialect;

/// The `anthropic_version` Claude on Bedrock requires in the body.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// The native format of a Bedrock model id (base id, inference profile or ARN), for the families
/// whose native format is a dialect the gateway speaks.
pub fn family(model_id: &str) -> Option<Dialect> {
    if model_id.contains("anthropic.") {
        Some(Dialect::Anthropic)
    } else if model_id.contains("openai.") {
        Some(Dialect::OpenAiChat)
    } else {
        None
    }
}

/// A caller's body in `format`, as InvokeModel takes it: no `model` (the id is in the path);
/// for Claude no `stream` (the operation decides), Bedrock's `anthropic_version`, and the
/// caller's `anthropic-beta` flags as `anthropic_beta` (Bedrock takes them in the body); for chat
/// no `stream_options` (Bedrock reports the counts itself) and `stream` as the operation decides.
pub fn invoke_body(
    format: Dialect,
    body: &[u8],
    stream: bool,
    betas: &[String],
) -> Result<Bytes, GatewayError> {
    let mut object: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| GatewayError::invalid(format!("the request body is not valid JSON: {e}")))?;
    object.remove("model");
    if format == Dialect::Anthropic {
        object.remove("stream");
        object.insert(
            "anthropic_version".to_owned(),
            Value::from(BEDROCK_ANTHROPIC_VERSION),
        );
        if !betas.is_empty() {
            object.insert("anthropic_beta".to_owned(), Value::from(betas.to_vec()));
        }
    } else {
        object.remove("stream_options");
        object.insert("stream".to_owned(), Value::from(stream));
    }
    serde_json::to_vec(&object)
        .map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("re-encoding the body failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_by_model_id_shape() {
        for id in [
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        ] {
            assert_eq!(family(id), Some(Dialect::Anthropic), "{id}");
        }
        assert_eq!(family("openai.gpt-oss-120b-1:0"), Some(Dialect::OpenAiChat));
        assert_eq!(family("amazon.nova-pro-v1:0"), None);
        assert_eq!(family("meta.llama3-70b-instruct-v1:0"), None);
    }

    #[test]
    fn bodies_lose_model_and_gain_what_bedrock_needs() {
        let claude = invoke_body(
            Dialect::Anthropic,
            br#"{"model":"m","stream":true,"max_tokens":5,"messages":[]}"#,
            true,
            &[],
        )
        .unwrap();
        let claude: Value = serde_json::from_slice(&claude).unwrap();
        assert_eq!(
            claude,
            serde_json::json!({ "anthropic_version": BEDROCK_ANTHROPIC_VERSION, "max_tokens": 5, "messages": [] })
        );
        let chat = invoke_body(
            Dialect::OpenAiChat,
            br#"{"model":"m","stream_options":{"include_usage":true},"messages":[]}"#,
            false,
            &[],
        )
        .unwrap();
        let chat: Value = serde_json::from_slice(&chat).unwrap();
        assert_eq!(chat, serde_json::json!({ "messages": [], "stream": false }));
        assert!(invoke_body(Dialect::OpenAiChat, b"[1]", false, &[]).is_err());

        let betas = ["context-1m-2025-08-07".to_owned()];
        let claude = invoke_body(
            Dialect::Anthropic,
            br#"{"model":"m","max_tokens":5,"messages":[]}"#,
            false,
            &betas,
        )
        .unwrap();
        let claude: Value = serde_json::from_slice(&claude).unwrap();
        assert_eq!(
            claude["anthropic_beta"],
            serde_json::json!(["context-1m-2025-08-07"])
        );
    }
}
