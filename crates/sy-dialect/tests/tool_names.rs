//! Tool names a target does not allow (E27): an MCP client's `github.create_issue` and an
//! Anthropic caller's 100-character name are sent renamed to every target that refuses them, the
//! same name wherever the request names the tool, and the target's calls come back, whole and
//! streamed, under the caller's names.

use serde_json::{Value, json};
use sy_dialect::canonical::{OutputBlock, StreamEvent};
use sy_dialect::{EncodeOptions, Translation, anthropic, converse, gemini, openai_chat};

const DOTTED: &str = "github.create_issue";

fn long_name() -> String {
    format!("lookup_{}", "x".repeat(93))
}

/// An OpenAI request that declares, forces and has already called both tools.
fn request(long: &str) -> Vec<u8> {
    let tool = |name: &str| {
        json!({ "type": "function", "function": { "name": name,
                "parameters": { "type": "object", "properties": {} } } })
    };
    let call = |id: &str, name: &str| json!({ "id": id, "type": "function", "function": { "name": name, "arguments": "{}" } });
    json!({
        "model": "m",
        "tools": [tool(DOTTED), tool(long)],
        "tool_choice": { "type": "function", "function": { "name": DOTTED } },
        "messages": [
            { "role": "user", "content": "File it." },
            { "role": "assistant", "content": null,
              "tool_calls": [call("call_1", DOTTED), call("call_2", long)] },
            { "role": "tool", "tool_call_id": "call_1", "content": "ok" },
            { "role": "tool", "tool_call_id": "call_2", "content": "ok" },
        ],
    })
    .to_string()
    .into_bytes()
}

/// Every string in `value` (keys and values).
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

fn encode(target: &str, body: &[u8], model: &str) -> (Value, Translation) {
    let decoded =
        openai_chat::decode_request(body).unwrap_or_else(|e| panic!("the request decodes: {e}"));
    let options = EncodeOptions::new(model);
    let encoded = match target {
        "anthropic" => anthropic::encode_request(&decoded.request, &options),
        "converse" => converse::encode_request(&decoded.request, &options),
        "gemini" => gemini::encode_request(&decoded.request, &options),
        _ => openai_chat::encode_request(&decoded.request, &options),
    }
    .unwrap_or_else(|e| panic!("{target} refused: {e}"));
    let body = serde_json::from_slice(&encoded.body)
        .unwrap_or_else(|e| panic!("{target} wrote JSON: {e}"));
    (body, encoded.translation)
}

fn sent_name(translation: &Translation, caller: &str) -> Option<String> {
    translation
        .renamed_tools
        .iter()
        .find(|(_, c)| c == caller)
        .map(|(sent, _)| sent.clone())
}

#[test]
fn names_a_target_refuses_are_sent_renamed_everywhere_the_request_names_them() {
    let long = long_name();
    let body = request(&long);
    // (target, does it rename the dotted name, does it rename the long one)
    for (target, dotted, long_renamed) in [
        ("openai_chat", true, true),
        ("anthropic", true, false),
        ("converse", true, true),
        ("gemini", false, true),
    ] {
        let (wire, translation) = encode(target, &body, "model-x");
        let mut texts = Vec::new();
        strings(&wire, &mut texts);
        for (caller, renamed) in [(DOTTED, dotted), (long.as_str(), long_renamed)] {
            match sent_name(&translation, caller) {
                Some(sent) => {
                    assert!(renamed, "{target} renamed {caller}");
                    assert!(!texts.iter().any(|t| t == caller), "{target} sent {caller}");
                    assert!(sent.len() <= 64 && !sent.contains('.'), "{target}: {sent}");
                    // Declared, forced (where the target can force a tool) and called: the
                    // same name every time.
                    let uses = texts.iter().filter(|t| **t == sent).count();
                    assert!(uses >= 2, "{target}: {sent} used {uses} times");
                }
                None => {
                    assert!(!renamed, "{target} kept {caller}");
                    assert!(texts.iter().any(|t| t == caller), "{target} lost {caller}");
                }
            }
        }
        // Deterministic: the same request, the same names.
        assert_eq!(encode(target, &body, "model-x").1, translation, "{target}");
    }
}

#[test]
fn calls_come_back_under_the_callers_names_whole_and_streamed() {
    let long = long_name();
    let (_, translation) = encode("converse", &request(&long), "model-x");
    let sent = sent_name(&translation, DOTTED).expect("renamed");

    let whole = json!({
        "output": { "message": { "role": "assistant", "content": [
            { "toolUse": { "toolUseId": "t1", "name": sent, "input": {} } } ] } },
        "stopReason": "tool_use",
        "usage": { "inputTokens": 1, "outputTokens": 1, "totalTokens": 2 },
    });
    let answer =
        converse::decode_response(whole.to_string().as_bytes(), &translation).expect("decodes");
    let names: Vec<&str> = answer
        .content
        .iter()
        .filter_map(|b| match b {
            OutputBlock::ToolCall(call) => Some(call.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, [DOTTED]);

    let mut decoder = converse::ConverseStreamDecoder::new(&translation);
    let start = json!({ "contentBlockIndex": 0,
                        "start": { "toolUse": { "toolUseId": "t1", "name": sent } } });
    let events = decoder.push("contentBlockStart", start.to_string().as_bytes());
    assert!(
        events.iter().any(|e| matches!(e,
            StreamEvent::ToolCallStart { name, .. } if name == DOTTED)),
        "{events:?}"
    );

    // Without the translation (another request's answer) the name stays as sent.
    let plain = converse::decode_response(whole.to_string().as_bytes(), &Translation::default())
        .expect("decodes");
    assert!(matches!(&plain.content[0], OutputBlock::ToolCall(c) if c.name == sent));
}

#[test]
fn every_targets_answer_decoder_gives_the_callers_name_back() {
    let long = long_name();
    let answers = |sent: &str| {
        [
            (
                "anthropic",
                json!({ "id": "m1", "type": "message", "role": "assistant", "model": "c",
                        "content": [{ "type": "tool_use", "id": "t1", "name": sent, "input": {} }],
                        "stop_reason": "tool_use", "usage": { "input_tokens": 1, "output_tokens": 1 } }),
            ),
            (
                "openai_chat",
                json!({ "id": "c1", "object": "chat.completion", "created": 1, "model": "g",
                        "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
                            "role": "assistant", "content": null, "tool_calls": [{ "id": "t1",
                            "type": "function", "function": { "name": sent, "arguments": "{}" } }] } }] }),
            ),
            (
                "gemini",
                json!({ "candidates": [{ "content": { "role": "model", "parts": [
                            { "functionCall": { "id": "t1", "name": sent, "args": {} } }] },
                        "finishReason": "STOP" }] }),
            ),
        ]
    };
    for (caller, target) in [
        (DOTTED, "anthropic"),
        (DOTTED, "openai_chat"),
        (long.as_str(), "gemini"),
    ] {
        let (_, translation) = encode(target, &request(&long), "model-x");
        let sent = sent_name(&translation, caller).expect("renamed");
        let (_, answer) = answers(&sent)
            .into_iter()
            .find(|(dialect, _)| *dialect == target)
            .expect("an answer");
        let body = answer.to_string();
        let decoded = match target {
            "anthropic" => anthropic::decode_response(body.as_bytes(), &translation),
            "gemini" => gemini::decode_response(body.as_bytes(), &translation),
            _ => openai_chat::decode_response(body.as_bytes(), &translation),
        }
        .expect("decodes");
        assert!(
            matches!(&decoded.content[..], [OutputBlock::ToolCall(c)] if c.name == caller),
            "{target}: {:?}",
            decoded.content
        );
    }
}
