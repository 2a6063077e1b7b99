//! The translation lane, shared by every ingress dialect: a request is decoded once into the
//! canonical model (for OpenAI Chat callers only when a planned target needs it) and encoded for
//! each target tried; the answer comes back through the target's codec and the caller's.

use std::sync::OnceLock;

use sy_core::{ErrorKind, GatewayError};
use sy_dialect::canonical::{Request as Canonical, Response, Usage};
use sy_dialect::{
    Decoded, DialectError, EncodeOptions, Encoded, ResponseMeta, Translation, anthropic, converse,
    gemini, openai_chat,
};
use sy_provider::Dialect;
use sy_router::Target;
use sy_store::Tokens;

/// The output ceiling sent to an upstream that requires one (Anthropic) when neither the
/// request nor the model's catalogue entry gives one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// One request in the canonical model: an OpenAI Chat body decoded on first use, or a request
/// another dialect's lane has decoded already.
#[derive(Debug)]
pub struct Translator<'a> {
    body: &'a [u8],
    decoded: OnceLock<Result<Decoded, GatewayError>>,
}

impl<'a> Translator<'a> {
    /// An OpenAI Chat Completions body, decoded only if a target needs it.
    pub fn openai_chat(body: &'a [u8]) -> Self {
        Self {
            body,
            decoded: OnceLock::new(),
        }
    }

    /// A request already decoded by its lane.
    pub fn decoded(decoded: Decoded) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(decoded));
        Self {
            body: &[],
            decoded: cell,
        }
    }

    pub fn request(&self) -> Result<&Canonical, GatewayError> {
        self.decoded
            .get_or_init(|| {
                openai_chat::decode_request(self.body).map_err(|e| refusal(e, "this gateway"))
            })
            .as_ref()
            .map(|decoded| &decoded.request)
            .map_err(Clone::clone)
    }

    /// The request in `dialect` for `target`, or why that target cannot take it.
    pub fn encode(
        &self,
        dialect: Dialect,
        target: &Target,
        provider: &str,
    ) -> Result<Encoded, GatewayError> {
        let request = self.request()?;
        let mut options = EncodeOptions::new(target.upstream_model.as_ref());
        options.default_max_tokens = target
            .capabilities
            .max_output_tokens
            .and_then(|max| u32::try_from(max).ok())
            .unwrap_or(DEFAULT_MAX_TOKENS);
        let encoded = match dialect {
            Dialect::Anthropic => anthropic::encode_request(request, &options),
            Dialect::Converse => converse::encode_request(request, &options),
            Dialect::Gemini => gemini::encode_request(request, &options),
            Dialect::OpenAiChat => openai_chat::encode_request(request, &options),
        };
        encoded.map_err(|e| refusal(e, provider))
    }
}

/// A codec's refusal as the caller's 400, naming the field and the provider.
pub fn refusal(error: DialectError, provider: &str) -> GatewayError {
    match error {
        DialectError::Untranslatable {
            field,
            target,
            reason,
        } => GatewayError::invalid_param(
            &field,
            format!("`{field}` cannot be sent to the provider `{provider}` ({target}): {reason}"),
        ),
        DialectError::Invalid { field, reason } => {
            GatewayError::invalid_param(&field, format!("`{field}`: {reason}"))
        }
        DialectError::Upstream { reason } => GatewayError::new(ErrorKind::UpstreamFailed, reason),
    }
}

/// A whole answer in `dialect`, decoded.
pub fn decode_answer(
    dialect: Dialect,
    body: &[u8],
    translation: &Translation,
) -> Result<Response, DialectError> {
    match dialect {
        Dialect::Anthropic => anthropic::decode_response(body, translation),
        Dialect::Converse => converse::decode_response(body, translation),
        Dialect::Gemini => gemini::decode_response(body, translation),
        Dialect::OpenAiChat => openai_chat::decode_response(body, translation),
    }
}

/// The gateway's identity for the answer the caller sees.
pub fn meta(request_id: &str, model: &str) -> ResponseMeta {
    ResponseMeta {
        id: format!("chatcmpl-{request_id}"),
        model: model.to_owned(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

/// Canonical usage is already in the ledger's disjoint buckets.
pub fn tokens(usage: &Usage) -> Tokens {
    Tokens {
        input: usage.input_uncached,
        cache_read: usage.input_cache_read,
        cache_write: usage.input_cache_write,
        output: usage.output,
        reasoning: usage.reasoning,
    }
}
