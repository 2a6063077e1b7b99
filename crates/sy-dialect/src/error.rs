//! The one error type of the dialect codecs: malformed input, input a target cannot express, or an
//! upstream answer that cannot be read.

use std::fmt;

/// Why a translation step failed. Every variant names where, so the edge can render a precise 400
/// (or 502 for [`DialectError::Upstream`]) in the caller's dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialectError {
    /// The input does not follow its own dialect (bad JSON, wrong type, value out of the dialect's
    /// range). `field` is a JSON path into the input, e.g. `messages[1].content`.
    Invalid { field: String, reason: String },
    /// The input is valid but the target dialect cannot express it without changing its meaning.
    /// `field` is a JSON path into the caller's request; `target` names the upstream dialect.
    Untranslatable {
        field: String,
        target: &'static str,
        reason: String,
    },
    /// The upstream answered with something that is not a usable answer in its own dialect
    /// (malformed body, or a finish reason that means the model failed).
    Upstream { reason: String },
}

impl DialectError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn untranslatable(
        field: impl Into<String>,
        target: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::Untranslatable {
            field: field.into(),
            target,
            reason: reason.into(),
        }
    }

    pub(crate) fn upstream(reason: impl Into<String>) -> Self {
        Self::Upstream {
            reason: reason.into(),
        }
    }

    /// A body that failed to parse as its dialect's JSON. serde_json's message carries the line and
    /// column; the path is unknown at this level, so the field is the document root.
    pub(crate) fn from_json(err: &serde_json::Error) -> Self {
        Self::invalid("$", err.to_string())
    }
}

impl fmt::Display for DialectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { field, reason } => write!(f, "invalid `{field}`: {reason}"),
            Self::Untranslatable {
                field,
                target,
                reason,
            } => write!(f, "`{field}` cannot be sent to {target}: {reason}"),
            Self::Upstream { reason } => write!(f, "unusable upstream answer: {reason}"),
        }
    }
}

impl std::error::Error for DialectError {}
