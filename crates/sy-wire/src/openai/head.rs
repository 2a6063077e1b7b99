//! The few fields the gateway reads from an OpenAI request before forwarding it as bytes,
//! and the byte-level edit that rewrites `model` (and asks for streamed usage) without re-encoding.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The head of a Chat Completions request. Parsing it validates the whole document's syntax;
/// every other field stays in the original bytes.
#[derive(Debug, Deserialize)]
pub struct ChatHead<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub messages: &'a RawValue,
    #[serde(default)]
    pub stream: Option<bool>,
    /// Present whenever the key is, `null` included, so an edit never adds a second key.
    #[serde(default, borrow, deserialize_with = "present")]
    pub stream_options: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub tools: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub response_format: Option<&'a RawValue>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
}

/// Keeps a field's raw value even when it is `null` (plain `Option` would read `null` as absent).
fn present<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'a RawValue>, D::Error> {
    <&'a RawValue>::deserialize(d).map(Some)
}

/// `stream_options`, read only when present.
#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// The head of an Embeddings request.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsHead<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub input: &'a RawValue,
    #[serde(default, borrow)]
    pub encoding_format: Option<Cow<'a, str>>,
}

/// Why a request head was refused; rendered as a 400 naming `param` when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError {
    pub param: Option<&'static str>,
    pub message: String,
}

impl HeadError {
    fn param(param: &'static str, message: impl Into<String>) -> Self {
        Self {
            param: Some(param),
            message: message.into(),
        }
    }
}

/// Parses `body` as a JSON object into a head, mapping serde's errors to clear messages.
/// Deepest nesting of arrays and objects a request may have. Real requests stay far below it
/// (tool schemas included); parsers downstream, ours and the upstreams', recurse on depth.
pub const MAX_JSON_DEPTH: usize = 128;

/// Whether `body` nests arrays and objects deeper than `limit`. One pass over the bytes, skipping
/// strings; the document's syntax is checked by the parser, not here.
fn nests_deeper_than(body: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn parse_head<'a, T: Deserialize<'a>>(body: &'a str) -> Result<T, HeadError> {
    let trimmed = body.trim_start();
    if !trimmed.starts_with('{') {
        return Err(HeadError {
            param: None,
            message: "the request body must be a JSON object".into(),
        });
    }
    if nests_deeper_than(body, MAX_JSON_DEPTH) {
        return Err(HeadError {
            param: None,
            message: format!(
                "the request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
            ),
        });
    }
    serde_json::from_str(body).map_err(|e| {
        let text = e.to_string();
        if e.is_syntax() || e.is_eof() {
            return HeadError {
                param: None,
                message: format!("the request body is not valid JSON: {text}"),
            };
        }
        // Only on the error path: parse again, tracking the path, to name the offending field.
        let mut de = serde_json::Deserializer::from_str(body);
        let path = serde_path_to_error::deserialize::<_, T>(&mut de)
            .err()
            .map(|e| e.path().to_string());
        let param = [
            "model",
            "messages",
            "stream_options",
            "stream",
            "input",
            "encoding_format",
        ]
        .into_iter()
        .find(|p| {
            text.contains(&format!("`{p}`"))
                || path
                    .as_deref()
                    .is_some_and(|path| path.split('.').next() == Some(*p))
        });
        HeadError {
            param,
            message: format!("invalid request: {text}"),
        }
    })
}

impl<'a> ChatHead<'a> {
    pub fn parse(body: &'a str) -> Result<Self, HeadError> {
        let head: Self = parse_head(body)?;
        if head.model.is_empty() {
            return Err(HeadError::param("model", "`model` must not be empty"));
        }
        let messages = head.messages.get().trim_start();
        if !messages.starts_with('[') {
            return Err(HeadError::param("messages", "`messages` must be an array"));
        }
        if messages[1..].trim_start().starts_with(']') {
            return Err(HeadError::param(
                "messages",
                "`messages` must contain at least one message",
            ));
        }
        if let Some(options) = head.stream_options
            && options.get() != "null"
        {
            serde_json::from_str::<StreamOptions>(options.get()).map_err(|e| {
                HeadError::param("stream_options", format!("invalid `stream_options`: {e}"))
            })?;
        }
        Ok(head)
    }

    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the request declares tools.
    pub fn uses_tools(&self) -> bool {
        self.tools
            .is_some_and(|t| !matches!(t.get().trim(), "null" | "[]"))
    }

    /// Whether any message carries an image. A structural `"image_url"` key cannot occur inside a
    /// JSON string, where quotes are escaped.
    pub fn has_images(&self) -> bool {
        memchr::memmem::find(self.messages.get().as_bytes(), b"\"image_url\"").is_some()
    }

    /// Whether the client asked for output matching a JSON schema.
    pub fn wants_json_schema(&self) -> bool {
        self.response_format
            .is_some_and(|f| memchr::memmem::find(f.get().as_bytes(), b"\"json_schema\"").is_some())
    }

    /// The output budget the client set, if any.
    pub fn output_budget(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Whether the client asked for the usage chunk at the end of a stream.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .and_then(|raw| serde_json::from_str::<StreamOptions>(raw.get()).ok())
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

impl<'a> EmbeddingsHead<'a> {
    pub fn parse(body: &'a str) -> Result<Self, HeadError> {
        let head: Self = parse_head(body)?;
        if head.model.is_empty() {
            return Err(HeadError::param("model", "`model` must not be empty"));
        }
        let input = head.input.get().trim_start();
        if input == "null" || input == "[]" || input == "\"\"" {
            return Err(HeadError::param("input", "`input` must not be empty"));
        }
        if let Some(format) = head.encoding_format.as_deref()
            && format != "float"
            && format != "base64"
        {
            return Err(HeadError::param(
                "encoding_format",
                format!("`encoding_format` must be \"float\" or \"base64\", not \"{format}\""),
            ));
        }
        Ok(head)
    }
}

/// The edits the pass-through lane makes to a request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyEdit<'a> {
    /// The upstream's model id, replacing the client's model name.
    pub model: &'a str,
    /// Add `stream_options.include_usage: true` so the gateway can read usage from the stream.
    pub include_usage: bool,
}

/// Applies `edit` to `body`, whose parsed `model` field is `model`.
///
/// Fast path: when the client's model string was borrowed straight from the body (no escapes) and
/// `stream_options` is absent, the body is spliced as bytes, so unknown fields, key order and
/// whitespace survive untouched. Otherwise the top level is re-encoded with every value kept raw.
#[expect(
    clippy::ptr_arg,
    reason = "borrowed vs owned tells whether the model string points into `body`"
)]
pub fn edit_body(
    body: &str,
    model: &Cow<'_, str>,
    stream_options_present: bool,
    edit: BodyEdit<'_>,
) -> Result<Bytes, HeadError> {
    if let (Cow::Borrowed(current), false) = (model, edit.include_usage && stream_options_present) {
        let start = current.as_ptr() as usize - body.as_ptr() as usize;
        let end = start + current.len();
        if body.get(start..end) == Some(*current) {
            let mut out = BytesMut::with_capacity(body.len() + edit.model.len() + 40);
            let open = body.find('{').unwrap_or(0);
            if edit.include_usage {
                out.extend_from_slice(&body.as_bytes()[..=open]);
                out.extend_from_slice(br#""stream_options":{"include_usage":true},"#);
                out.extend_from_slice(&body.as_bytes()[open + 1..start]);
            } else {
                out.extend_from_slice(&body.as_bytes()[..start]);
            }
            write_json_string_contents(&mut out, edit.model);
            out.extend_from_slice(&body.as_bytes()[end..]);
            return Ok(out.freeze());
        }
    }
    reencode(body, edit)
}

/// Slow path: re-encode the top-level object; every other value keeps its raw text.
fn reencode(body: &str, edit: BodyEdit<'_>) -> Result<Bytes, HeadError> {
    let invalid = |e: serde_json::Error| HeadError {
        param: None,
        message: format!("the request body is not valid JSON: {e}"),
    };
    let mut fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(body).map_err(invalid)?;
    let model = serde_json::to_string(edit.model).map_err(invalid)?;
    fields.insert(
        "model".into(),
        RawValue::from_string(model).map_err(invalid)?,
    );
    if edit.include_usage {
        let mut options: serde_json::Map<String, serde_json::Value> = fields
            .get("stream_options")
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default();
        options.insert("include_usage".into(), serde_json::Value::Bool(true));
        let options = serde_json::to_string(&options).map_err(invalid)?;
        fields.insert(
            "stream_options".into(),
            RawValue::from_string(options).map_err(invalid)?,
        );
    }
    serde_json::to_vec(&fields)
        .map(Bytes::from)
        .map_err(invalid)
}

/// Writes `s` as the inside of a JSON string (escapes included, quotes not).
fn write_json_string_contents(out: &mut BytesMut, s: &str) {
    let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
}

#[cfg(test)]
mod tests {

    #[test]
    fn nesting_is_measured_outside_strings_only() {
        assert!(!nests_deeper_than(r#"{"a":[[1]]}"#, 3));
        assert!(nests_deeper_than(r#"{"a":[[[1]]]}"#, 3));
        assert!(!nests_deeper_than(r#"{"a":"[[[[[[\"[[[["}"#, 1));
        let deep = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":{}1{}}}]}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let e = ChatHead::parse(&deep).err().map(|e| e.message);
        assert!(e.is_some_and(|m| m.contains("levels deep")));
        let fine = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":{}1{}}}]}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(ChatHead::parse(&fine).is_ok());
    }

    use super::*;

    fn edit(body: &str, model: &str, include_usage: bool) -> String {
        let head = ChatHead::parse(body).expect("valid head");
        let out = edit_body(
            body,
            &head.model,
            head.stream_options.is_some(),
            BodyEdit {
                model,
                include_usage,
            },
        )
        .expect("edit");
        String::from_utf8(out.to_vec()).expect("utf8")
    }

    const BODY: &str = r#"{ "model" : "gpt-4o", "messages":[{"role":"user","content":"hi \"model\": x"}], "x_unknown": {"keep": [1, 2.50, null]}, "stream": true }"#;

    #[test]
    fn rewrites_only_the_model_bytes() {
        assert_eq!(
            edit(BODY, "gpt-4o-prod", false),
            BODY.replace("\"gpt-4o\"", "\"gpt-4o-prod\"")
        );
    }

    #[test]
    fn injects_include_usage_at_the_front() {
        let out = edit(BODY, "m", true);
        assert!(
            out.starts_with(r#"{"stream_options":{"include_usage":true}, "model" : "m","#),
            "{out}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid json");
        assert_eq!(v["x_unknown"]["keep"][1], serde_json::json!(2.50));
    }

    #[test]
    fn merges_into_existing_stream_options() {
        let body = r#"{"model":"a","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_obfuscation":false}}"#;
        let v: serde_json::Value = serde_json::from_str(&edit(body, "b", true)).expect("json");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["include_obfuscation"], false);
        assert_eq!(v["model"], "b");
    }

    #[test]
    fn a_null_stream_options_is_replaced_not_duplicated() {
        let body = r#"{"model":"a","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":null}"#;
        let head = ChatHead::parse(body).expect("head");
        assert!(!head.wants_stream_usage());
        let out = edit(body, "b", true);
        assert_eq!(out.matches("stream_options").count(), 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["stream_options"]["include_usage"], true);
        let untouched = edit(body, "b", false);
        assert_eq!(untouched, body.replace("\"a\"", "\"b\""));
    }

    #[test]
    fn escaped_model_names_take_the_slow_path() {
        let body =
            r#"{"model":"gpt\u002d4o","messages":[{"role":"user","content":"x"}],"extra":1}"#;
        let head = ChatHead::parse(body).expect("head");
        assert_eq!(head.model, "gpt-4o");
        let v: serde_json::Value =
            serde_json::from_str(&edit(body, "new\"name", false)).expect("json");
        assert_eq!(v["model"], "new\"name");
        assert_eq!(v["extra"], 1);
    }

    #[test]
    fn new_model_names_are_escaped() {
        let out = edit(BODY, "a\"b\\c", false);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["model"], "a\"b\\c");
    }

    #[test]
    fn heads_reject_bad_requests_clearly() {
        let cases = [
            ("[1,2]", None, "must be a JSON object"),
            ("{\"model\": \"m\", ", None, "not valid JSON"),
            (
                r#"{"messages":[{"role":"user","content":"x"}]}"#,
                Some("model"),
                "missing field `model`",
            ),
            (
                r#"{"model":"m"}"#,
                Some("messages"),
                "missing field `messages`",
            ),
            (
                r#"{"model":"m","messages":{}}"#,
                Some("messages"),
                "must be an array",
            ),
            (
                r#"{"model":"m","messages":[ ]}"#,
                Some("messages"),
                "at least one",
            ),
            (
                r#"{"model":7,"messages":[1]}"#,
                Some("model"),
                "invalid type",
            ),
            (
                r#"{"model":"","messages":[1]}"#,
                Some("model"),
                "must not be empty",
            ),
            (
                r#"{"model":"m","messages":[1],"stream":"yes"}"#,
                Some("stream"),
                "invalid type",
            ),
            (
                r#"{"model":"m","model":"n","messages":[1]}"#,
                Some("model"),
                "duplicate field",
            ),
        ];
        for (body, param, needle) in cases {
            let err = ChatHead::parse(body).expect_err(body);
            assert_eq!(err.param, param, "{body}: {err:?}");
            assert!(err.message.contains(needle), "{body}: {}", err.message);
        }
    }

    #[test]
    fn reads_what_routing_needs() {
        let body = r#"{"model":"m","max_tokens":50,"messages":[{"role":"user","content":[{"type":"text","text":"say \"image_url\""},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{}}}}"#;
        let head = ChatHead::parse(body).expect("head");
        assert!(head.has_images() && head.uses_tools() && head.wants_json_schema());
        assert_eq!(head.output_budget(), Some(50));
        let plain = r#"{"model":"m","messages":[{"role":"user","content":"describe \"image_url\": no"}],"tools":[],"response_format":{"type":"json_object"}}"#;
        let head = ChatHead::parse(plain).expect("head");
        assert!(!head.has_images(), "an escaped mention is not an image");
        assert!(!head.uses_tools() && !head.wants_json_schema());
    }

    #[test]
    fn stream_usage_flag() {
        let with =
            r#"{"model":"m","messages":[1],"stream":true,"stream_options":{"include_usage":true}}"#;
        assert!(ChatHead::parse(with).expect("head").wants_stream_usage());
        assert!(!ChatHead::parse(BODY).expect("head").wants_stream_usage());
    }

    #[test]
    fn embeddings_head() {
        let head =
            EmbeddingsHead::parse(r#"{"model":"e","input":["a","b"],"encoding_format":"base64"}"#)
                .expect("head");
        assert_eq!(head.encoding_format.as_deref(), Some("base64"));
        let err = EmbeddingsHead::parse(r#"{"model":"e","input":[]}"#).expect_err("empty");
        assert_eq!(err.param, Some("input"));
        let err = EmbeddingsHead::parse(r#"{"model":"e","input":"x","encoding_format":"int8"}"#)
            .expect_err("format");
        assert_eq!(err.param, Some("encoding_format"));
    }
}
