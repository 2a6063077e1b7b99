//! A canonical answer: content, why it ended, and what it cost in tokens.

use super::{ReasoningBlock, ToolCall};

/// A whole (non-streamed) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The upstream's id for the answer, when it gives one (for logs; the caller sees the
    /// gateway's id, see `ResponseMeta`).
    pub upstream_id: Option<String>,
    /// The model that answered, as the upstream reports it.
    pub upstream_model: Option<String>,
    pub content: Vec<OutputBlock>,
    pub finish_reason: FinishReason,
    /// The stop sequence that ended the answer, when the upstream says which.
    pub stop_sequence: Option<String>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputBlock {
    Text(String),
    ToolCall(ToolCall),
    Reasoning(ReasoningBlock),
    RedactedReasoning(String),
}

/// Why an answer ended. Failures of the model (malformed output) are not finish reasons: decoders
/// turn them into errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model finished its turn.
    EndTurn,
    /// A caller-given stop sequence was produced.
    StopSequence,
    /// The output token limit was reached.
    MaxTokens,
    /// The context window was exhausted.
    ContextWindowExceeded,
    /// The model wants tool results.
    ToolCalls,
    /// A safety system or the model refused or cut the answer.
    ContentFilter,
}

/// Token counts in disjoint buckets: no count is included in another, so the totals are sums.
///
/// Providers overlap these differently (OpenAI's prompt count includes cache reads, Anthropic's
/// input count excludes them; output counts include reasoning), and each codec converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Input tokens neither read from nor written to a prompt cache.
    pub input_uncached: u64,
    pub input_cache_read: u64,
    pub input_cache_write: u64,
    /// Output tokens other than reasoning.
    pub output: u64,
    /// Reasoning (thinking) output tokens, when the provider counts them separately.
    pub reasoning: u64,
}

impl Usage {
    pub fn input_total(&self) -> u64 {
        self.input_uncached + self.input_cache_read + self.input_cache_write
    }

    pub fn output_total(&self) -> u64 {
        self.output + self.reasoning
    }

    pub fn total(&self) -> u64 {
        self.input_total() + self.output_total()
    }
}
