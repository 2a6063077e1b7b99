//! Checks that need the exact bytes of an encoded body (key order), or the request hook for URL
//! images, which the JSON-value fixtures cannot express.

use sy_dialect::canonical::ImageSource;
use sy_dialect::{EncodeOptions, anthropic, converse, gemini, openai_chat};

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[test]
fn tool_arguments_keep_the_models_key_order() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"go"},
        {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",
         "function":{"name":"f","arguments":"{\"zeta\":1,\"alpha\":2}"}}]},
        {"role":"tool","tool_call_id":"c1","content":"ok"}]}"#;
    let decoded = openai_chat::decode_request(body).map_err(|e| e.to_string());
    let request = decoded.map(|d| d.request);
    let encoded = request.and_then(|r| {
        anthropic::encode_request(&r, &EncodeOptions::new("claude")).map_err(|e| e.to_string())
    });
    let body = encoded.map(|e| text(&e.body)).unwrap_or_default();
    assert!(body.contains(r#""input":{"zeta":1,"alpha":2}"#), "{body}");
}

#[test]
fn tool_schemas_keep_property_order() {
    let body = br#"{"max_tokens":10,"messages":[{"role":"user","content":"hi"}],
        "tools":[{"name":"f","input_schema":{"type":"object","properties":{"zeta":{},"alpha":{}}}}]}"#;
    let request = anthropic::decode_request(body).map(|d| d.request);
    let encoded = request.and_then(|r| openai_chat::encode_request(&r, &EncodeOptions::new("gpt")));
    let body = encoded.map(|e| text(&e.body)).unwrap_or_default();
    assert!(
        body.contains(r#""properties":{"zeta":{},"alpha":{}}"#),
        "{body}"
    );
}

#[test]
fn fetched_url_images_can_replace_urls_before_encoding() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":[
        {"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}"#;
    let Ok(decoded) = openai_chat::decode_request(body) else {
        panic!("decodes");
    };
    let mut request = decoded.request;
    let options = EncodeOptions {
        allow_url_fetch: true,
        ..EncodeOptions::new("anthropic.claude-x")
    };
    assert!(converse::encode_request(&request, &options).is_err());
    let mut urls = request.url_images_mut();
    assert_eq!(urls.len(), 1);
    let (origin, source) = &mut urls[0];
    assert_eq!(*origin, "messages[0].content[0]");
    **source = ImageSource::Base64 {
        media_type: "image/png".to_owned(),
        data: "iVBOR".to_owned(),
    };
    drop(urls);
    let encoded = converse::encode_request(&request, &options).map(|e| text(&e.body));
    assert_eq!(
        encoded.ok().as_deref(),
        Some(
            r#"{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"iVBOR"}}}]}]}"#
        )
    );
}

/// Encoders size their buffer from `encoded_len_hint`, so that writing a body never copies it
/// into a larger one. A conversation with every common part must fit in every dialect.
#[test]
fn a_conversation_is_encoded_within_its_size_hint_in_every_dialect() {
    let body = br#"{"model":"m","temperature":0.3,"max_tokens":256,"stop":["END"],"messages":[
        {"role":"system","content":"You are a concise support assistant for an online shop. Answer in plain English."},
        {"role":"user","content":[{"type":"text","text":"Where is order NW-48213? It says \"label created\"."},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}}]},
        {"role":"assistant","content":"Let me look that up.","tool_calls":[{"id":"call_1","type":"function",
            "function":{"name":"track_order","arguments":"{\"order\":\"NW-48213\"}"}}]},
        {"role":"tool","tool_call_id":"call_1","content":"{\"status\":\"label created\",\"days\":4}"},
        {"role":"user","content":"Can I still change the tent colour from olive to orange?"}],
        "tools":[{"type":"function","function":{"name":"track_order","description":"Look up an order",
            "parameters":{"type":"object","properties":{"order":{"type":"string"}},"required":["order"]}}}]}"#;
    let request = match openai_chat::decode_request(body) {
        Ok(decoded) => decoded.request,
        Err(e) => panic!("the conversation does not decode: {e}"),
    };
    let hint = request.encoded_len_hint();
    let options = EncodeOptions::new("model");
    for (dialect, encoded) in [
        ("openai", openai_chat::encode_request(&request, &options)),
        ("anthropic", anthropic::encode_request(&request, &options)),
        ("converse", converse::encode_request(&request, &options)),
        ("gemini", gemini::encode_request(&request, &options)),
    ] {
        let body = match encoded {
            Ok(encoded) => encoded.body,
            Err(e) => panic!("{dialect}: {e}"),
        };
        assert!(
            body.len() <= hint && body.capacity() == hint,
            "{dialect}: {} bytes in a buffer of {} (hint {hint})",
            body.len(),
            body.capacity()
        );
    }
}

#[test]
fn a_body_that_is_not_utf8_is_refused_as_invalid() {
    let body = b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9\"}]}";
    match openai_chat::decode_request(body) {
        Err(sy_dialect::DialectError::Invalid { field, reason }) => {
            assert_eq!(field, "$");
            assert!(reason.contains("not UTF-8"), "{reason}");
        }
        other => panic!("expected an invalid body, got {other:?}"),
    }
}
