//! JSON carried through verbatim: tool arguments and schemas keep their key order and number
//! spelling, because property order steers structured output and arguments are the model's own text.

use serde_json::value::RawValue;

/// A JSON document kept as text. Always valid JSON.
#[derive(Debug, Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// A tool call's arguments from OpenAI's JSON-string form (Chat and Responses): an empty
    /// string means none; anything else must be JSON, since other dialects need an object.
    pub(crate) fn tool_arguments(text: &str, field: &str) -> Result<Self, crate::DialectError> {
        if text.trim().is_empty() {
            return Ok(Self::empty_object());
        }
        Self::parse(text).ok_or_else(|| {
            crate::DialectError::untranslatable(
                field,
                "canonical",
                "the arguments are not valid JSON, and other dialects need a JSON object",
            )
        })
    }

    /// Parses `text`; `None` when it is not one valid JSON value.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str::<Box<RawValue>>(text).ok().map(Self)
    }

    /// `{}`: the arguments of a call that sent none.
    #[expect(clippy::expect_used, reason = "`{}` is a valid JSON literal")]
    pub fn empty_object() -> Self {
        Self(RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON"))
    }

    pub(crate) fn from_raw(raw: Box<RawValue>) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    pub(crate) fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// Whether the document is a JSON object (arguments and schemas must be one in most dialects).
    pub fn is_object(&self) -> bool {
        self.as_str().trim_start().starts_with('{')
    }

    /// Whether the document is `{}` (a tool's parameters given but empty).
    pub fn is_empty_object(&self) -> bool {
        let text = self.as_str().trim();
        text.strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
            .is_some_and(|inside| inside.trim().is_empty())
    }
}

impl PartialEq for RawJson {
    /// Equal when the JSON values are equal, whatever the spacing.
    fn eq(&self, other: &Self) -> bool {
        let left: Result<serde_json::Value, _> = serde_json::from_str(self.as_str());
        let right: Result<serde_json::Value, _> = serde_json::from_str(other.as_str());
        matches!((left, right), (Ok(l), Ok(r)) if l == r)
    }
}
