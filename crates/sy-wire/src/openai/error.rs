//! OpenAI's error body: `{"error":{"message","type","param","code"}}`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    pub fn new(
        message: impl Into<String>,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        Self {
            error: ErrorObject {
                message: message.into(),
                kind: kind.to_owned(),
                param: param.map(str::to_owned),
                code: code.map(str::to_owned),
            },
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#.to_vec())
    }
}

/// Pulls a human message out of an upstream error body in any of the shapes seen in the field:
/// OpenAI's `{"error":{"message"}}`, `{"error":"text"}`, `{"message"}`, `{"detail"}`, or plain text.
pub fn upstream_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Any {
        error: Option<serde_json::Value>,
        message: Option<String>,
        detail: Option<serde_json::Value>,
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    match serde_json::from_str::<Any>(text) {
        Ok(any) => any
            .error
            .and_then(|e| match e {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Object(o) => {
                    o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
                }
                _ => None,
            })
            .or(any.message)
            .or_else(|| {
                any.detail.map(|d| match d {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
            }),
        Err(_) => Some(text.chars().take(300).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_matches_openai() {
        let body = ErrorBody::new("bad", "invalid_request_error", Some("model"), None);
        assert_eq!(
            String::from_utf8(body.to_json()).expect("utf8"),
            r#"{"error":{"message":"bad","type":"invalid_request_error","param":"model","code":null}}"#
        );
    }

    #[test]
    fn messages_from_every_upstream_shape() {
        let cases: [(&[u8], Option<&str>); 6] = [
            (br#"{"error":{"message":"m1","type":"x"}}"#, Some("m1")),
            (br#"{"error":"m2"}"#, Some("m2")),
            (br#"{"message":"m3"}"#, Some("m3")),
            (br#"{"detail":"m4"}"#, Some("m4")),
            (b"plain text", Some("plain text")),
            (b"  ", None),
        ];
        for (body, expected) in cases {
            assert_eq!(upstream_message(body).as_deref(), expected);
        }
    }
}
