//! Token usage as OpenAI reports it, and a cheap probe that reads only `usage` from a body or chunk.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// OpenAI's usage object. `prompt_tokens` includes cached tokens; `completion_tokens` includes reasoning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: u64,
    /// Prompt tokens written to the cache (billed apart since GPT-5.6); part of `prompt_tokens`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .map_or(0, |d| d.cached_tokens)
    }

    pub fn cache_write_tokens(&self) -> u64 {
        self.prompt_tokens_details
            .as_ref()
            .map_or(0, |d| d.cache_write_tokens)
    }

    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details
            .as_ref()
            .map_or(0, |d| d.reasoning_tokens)
    }
}

/// Reads `usage` and whether `choices` is empty from a response body or stream chunk; other fields are skipped.
#[derive(Debug, Deserialize)]
pub struct UsageProbe<'a> {
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default, borrow)]
    choices: Option<&'a RawValue>,
}

impl<'a> UsageProbe<'a> {
    pub fn parse(json: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(json).ok()
    }

    /// A chunk with no choices (the usage-only chunk `include_usage` adds at the end of a stream).
    pub fn has_no_choices(&self) -> bool {
        self.choices
            .is_none_or(|c| matches!(c.get().trim(), "[]" | "null"))
    }
}

/// Quick byte test: could this JSON carry a non-null `usage` object? Avoids parsing every chunk.
pub fn may_carry_usage(json: &[u8]) -> bool {
    // Searchers built once: `memmem::find` builds one on every call, which for a chunk of a few
    // hundred bytes costs more than the search itself.
    static USAGE: LazyLock<[Finder<'static>; 2]> =
        LazyLock::new(|| [Finder::new(b"\"usage\":{"), Finder::new(b"\"usage\": {")]);
    USAGE.iter().any(|finder| finder.find(json).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usage_from_a_final_chunk() {
        let chunk = br#"{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}}"#;
        assert!(may_carry_usage(chunk));
        let probe = UsageProbe::parse(chunk).expect("probe");
        assert!(probe.has_no_choices());
        let usage = probe.usage.expect("usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (9, 2));
        assert_eq!((usage.cached_tokens(), usage.reasoning_tokens()), (4, 1));
    }

    #[test]
    fn ordinary_chunks_are_skipped_cheaply() {
        let chunk = br#"{"choices":[{"index":0,"delta":{"content":"\"usage\":{"}}],"usage":null}"#;
        // The escaped quote inside content cannot match the structural pattern.
        assert!(!may_carry_usage(chunk));
        let probe = UsageProbe::parse(chunk).expect("probe");
        assert!(!probe.has_no_choices());
        assert!(probe.usage.is_none());
    }
}
