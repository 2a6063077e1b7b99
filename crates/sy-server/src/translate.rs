//! The translation lane, shared by every ingress dialect: a request is decoded once into the
//! canonical model (for OpenAI Chat callers only when a planned target needs it) and encoded for
//! each target tried; the answer comes back through the target's codec and the caller's. Under
//! `[images] fetch_urls`, a target that takes no image URLs gets the request with those images
//! fetched and inlined.

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

use crate::images;
use crate::state::{Gateway, Snapshot};

/// Who refuses a request that fails to decode (no provider is involved yet).
pub const THIS_GATEWAY: &str = "this gateway";

/// The output ceiling sent to an upstream that requires one (Anthropic) when neither the
/// request nor the model's catalogue entry gives one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// One request in the canonical model: an OpenAI Chat body decoded on first use, or a request
/// another dialect's lane has decoded already.
#[derive(Debug)]
pub struct Translator<'a> {
    body: &'a [u8],
    decoded: OnceLock<Result<Decoded, GatewayError>>,
    /// The request with its image URLs fetched, for targets that refuse those URLs.
    inlined: Option<Inlined>,
    /// Why the request has no canonical form, for refusals that name the target.
    refused: Option<DialectError>,
}

/// The request with its image URLs replaced by the images' bytes, or why they could not be.
#[derive(Debug)]
struct Inlined {
    /// Where the URL images were in the caller's request: a refusal naming one of these is
    /// answered by encoding `request` instead.
    origins: Vec<String>,
    request: Result<Canonical, GatewayError>,
}

impl<'a> Translator<'a> {
    /// An OpenAI Chat Completions body, decoded only if a target needs it.
    pub fn openai_chat(body: &'a [u8]) -> Self {
        Self {
            body,
            decoded: OnceLock::new(),
            inlined: None,
            refused: None,
        }
    }

    /// A request already decoded by its lane, or the field that kept it out of the canonical
    /// model (then only targets that take the caller's own bytes can serve it, and every other
    /// target refuses it naming itself).
    pub fn decoded(decoded: Result<Decoded, DialectError>) -> Self {
        let cell = OnceLock::new();
        let refused = decoded.as_ref().err().cloned();
        let _ = cell.set(decoded.map_err(|e| refusal(e, THIS_GATEWAY)));
        Self {
            body: &[],
            decoded: cell,
            inlined: None,
            refused,
        }
    }

    pub fn request(&self) -> Result<&Canonical, GatewayError> {
        self.decoded
            .get_or_init(|| {
                openai_chat::decode_request(self.body).map_err(|e| refusal(e, THIS_GATEWAY))
            })
            .as_ref()
            .map(|decoded| &decoded.request)
            .map_err(Clone::clone)
    }

    /// Under `[images] fetch_urls`, when a target of `plan` would refuse the request's image
    /// URLs, fetches them once and keeps a copy of the request with the images inline.
    ///
    /// Encoding runs synchronously inside dispatch (one target after another), so the fetch
    /// cannot wait for the first refusal there; instead each planned target's encoder is asked
    /// here, before dispatch, and only a refusal that names an image URL costs a fetch. Targets
    /// that take URLs (Anthropic) still get the URL; a failed fetch refuses only the targets that
    /// needed it.
    pub async fn fetch_images_if_needed(
        &mut self,
        gateway: &Gateway,
        snapshot: &Snapshot,
        plan: &[&Target],
    ) {
        let settings = snapshot.config.images;
        if !settings.fetch_urls {
            return;
        }
        let translated: Vec<(Dialect, &Target)> = plan
            .iter()
            .filter_map(|target| {
                let dialect = snapshot.providers.get(target.provider_index)?.dialect();
                (dialect != Dialect::OpenAiChat).then_some((dialect, *target))
            })
            .collect();
        if translated.is_empty() {
            return;
        }
        // A request that does not decode is refused when it is encoded.
        let Ok(original) = self.request() else {
            return;
        };
        let mut inlined = original.clone();
        let origins: Vec<String> = inlined
            .url_images_mut()
            .iter()
            .map(|(origin, _)| (*origin).to_owned())
            .collect();
        let refused = |(dialect, target): &(Dialect, &Target)| {
            matches!(
                encode_as(original, *dialect, target),
                Err(DialectError::Untranslatable { field, .. }) if origins.contains(&field)
            )
        };
        if origins.is_empty() || !translated.iter().any(refused) {
            return;
        }
        let request = match gateway.image_fetcher() {
            Ok(fetcher) => images::inline_url_images(&mut inlined, &settings, fetcher)
                .await
                .map(|()| inlined),
            Err(e) => Err(e),
        };
        self.inlined = Some(Inlined { origins, request });
    }

    /// The request in `dialect` for `target`, or why that target cannot take it.
    pub fn encode(
        &self,
        dialect: Dialect,
        target: &Target,
        provider: &str,
    ) -> Result<Encoded, GatewayError> {
        if let Some(e) = &self.refused {
            return Err(refusal(e.clone(), provider));
        }
        let request = self.request()?;
        let mut encoded = encode_as(request, dialect, target);
        if let (Err(DialectError::Untranslatable { field, .. }), Some(inlined)) =
            (&encoded, &self.inlined)
            && inlined.origins.contains(field)
        {
            let request = inlined.request.as_ref().map_err(Clone::clone)?;
            encoded = encode_as(request, dialect, target);
        }
        let mut encoded = encoded.map_err(|e| refusal(e, provider))?;
        // What decoding left out is left out for every target.
        if let Some(Ok(decoded)) = self.decoded.get()
            && !decoded.dropped.is_empty()
        {
            encoded
                .dropped
                .splice(0..0, decoded.dropped.iter().cloned());
        }
        Ok(encoded)
    }
}

fn encode_as(
    request: &Canonical,
    dialect: Dialect,
    target: &Target,
) -> Result<Encoded, DialectError> {
    let mut options = EncodeOptions::new(target.upstream_model.as_ref());
    options.default_max_tokens = target
        .capabilities
        .max_output_tokens
        .and_then(|max| u32::try_from(max).ok())
        .unwrap_or(DEFAULT_MAX_TOKENS);
    match dialect {
        Dialect::Anthropic => anthropic::encode_request(request, &options),
        Dialect::Converse => converse::encode_request(request, &options),
        Dialect::Gemini => gemini::encode_request(request, &options),
        Dialect::OpenAiChat => openai_chat::encode_request(request, &options),
    }
}

/// A codec's refusal as the caller's 400, naming the field and the provider.
pub fn refusal(error: DialectError, provider: &str) -> GatewayError {
    match error {
        // Decoding found a field with no place in the canonical model: no provider is named.
        DialectError::Untranslatable { field, reason, .. } if provider == THIS_GATEWAY => {
            GatewayError::invalid_param(
                &field,
                format!("`{field}` cannot be translated for any other provider: {reason}"),
            )
        }
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
        id: ["chatcmpl-", request_id].concat(),
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
