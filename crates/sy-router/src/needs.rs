//! What a request needs from a deployment (capabilities, context, region, a named deployment), and why
//! a deployment falls short, in words an operator or client can act on.

use sy_config::Capabilities;

/// The requirements of one request, read from its body and (when allowed) its routing hints.
#[derive(Debug, Clone, Default)]
pub struct Needs<'a> {
    pub chat: bool,
    pub embeddings: bool,
    pub streaming: bool,
    pub tools: bool,
    pub vision: bool,
    pub json_schema: bool,
    /// An estimate of the prompt's size in tokens.
    pub input_tokens: u64,
    /// The output budget the client asked for.
    pub output_tokens: Option<u64>,
    /// Only deployments in one of these regions (data residency).
    pub regions: Option<&'a [&'a str]>,
    /// Only this deployment.
    pub deployment: Option<&'a str>,
}

/// Capability bits, so the hot path compares one byte instead of six booleans.
pub(crate) fn capability_bits(caps: &Capabilities) -> u8 {
    u8::from(caps.chat)
        | u8::from(caps.embeddings) << 1
        | u8::from(caps.streaming) << 2
        | u8::from(caps.tools) << 3
        | u8::from(caps.vision) << 4
        | u8::from(caps.json_schema) << 5
}

impl Needs<'_> {
    /// The capability bits this request needs.
    pub(crate) fn bits(&self) -> u8 {
        u8::from(self.chat)
            | u8::from(self.embeddings) << 1
            | u8::from(self.streaming) << 2
            | u8::from(self.tools) << 3
            | u8::from(self.vision) << 4
            | u8::from(self.json_schema) << 5
    }

    /// Whether a deployment can serve the request: the hot-path check, no strings built.
    pub fn satisfied_by(
        &self,
        deployment: &str,
        caps: &Capabilities,
        region: Option<&str>,
    ) -> bool {
        (!self.chat || caps.chat)
            && (!self.embeddings || caps.embeddings)
            && (!self.streaming || caps.streaming)
            && (!self.tools || caps.tools)
            && (!self.vision || caps.vision)
            && (!self.json_schema || caps.json_schema)
            && self
                .output_tokens
                .zip(caps.max_output_tokens)
                .is_none_or(|(asked, max)| asked <= max)
            && caps
                .max_context_tokens
                .is_none_or(|window| self.input_tokens + self.output_tokens.unwrap_or(0) <= window)
            && self.deployment.is_none_or(|d| d == deployment)
            && self
                .regions
                .is_none_or(|regions| region.is_some_and(|r| regions.contains(&r)))
    }

    /// Why a deployment with these capabilities and region cannot serve the request, if it cannot.
    pub fn unmet(
        &self,
        deployment: &str,
        caps: &Capabilities,
        region: Option<&str>,
    ) -> Option<String> {
        if self.deployment.is_some_and(|d| d != deployment) {
            return Some("not the deployment the request named".to_owned());
        }
        if let Some(regions) = self.regions
            && !region.is_some_and(|r| regions.contains(&r))
        {
            return Some(format!(
                "runs in {}, outside the requested regions ({})",
                region.unwrap_or("an unspecified region"),
                regions.join(", ")
            ));
        }
        let missing = [
            (self.chat && !caps.chat, "chat completions"),
            (self.embeddings && !caps.embeddings, "embeddings"),
            (self.streaming && !caps.streaming, "streaming"),
            (self.tools && !caps.tools, "tools"),
            (self.vision && !caps.vision, "images (vision)"),
            (self.json_schema && !caps.json_schema, "JSON schema output"),
        ];
        if let Some((_, what)) = missing.iter().find(|(miss, _)| *miss) {
            return Some(format!("does not support {what}"));
        }
        if let (Some(asked), Some(max)) = (self.output_tokens, caps.max_output_tokens)
            && asked > max
        {
            return Some(format!(
                "produces at most {max} output tokens, {asked} were asked for"
            ));
        }
        if let Some(window) = caps.max_context_tokens {
            let needed = self.input_tokens + self.output_tokens.unwrap_or(0);
            if needed > window {
                return Some(format!(
                    "has a context window of {window} tokens, the request needs about {needed}"
                ));
            }
        }
        None
    }
}
