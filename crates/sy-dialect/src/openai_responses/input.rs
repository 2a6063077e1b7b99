//! The Responses `input` (a string, or a list of items) → canonical conversation.
//!
//! Items map one to one onto canonical turns, in order: messages by role, `function_call` items
//! onto assistant tool calls (the `call_id` is the id results refer to; the item `id` is not),
//! `function_call_output` items onto user tool results. `system` and `developer` messages join
//! the system prompt after `instructions`, losing their position as in Chat Completions.
//! Reasoning items carry their summary text as unsigned reasoning, which upstreams that need a
//! signature drop and list. `item_reference` needs stored items and is invalid; items of
//! built-in tools are refused.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::decode::{NOT_STORED, refused};
use crate::DialectError;
use crate::canonical::{
    Document, DocumentSource, Image, ImageSource, Message, Part, PartKind, RawJson, ReasoningBlock,
    Request, Role, SystemPart, ToolCall, ToolResult,
};
use crate::media::parse_data_url;

pub(super) fn decode_input(
    raw: &RawValue,
    request: &mut Request,
    dropped: &mut Vec<String>,
) -> Result<(), DialectError> {
    if raw.get().trim_start().starts_with('"') {
        let text: String = serde_json::from_str(raw.get())
            .map_err(|e| DialectError::invalid("input", e.to_string()))?;
        request.messages.push(Message {
            role: Role::User,
            content: vec![Part::new(PartKind::Text(text), "input")],
            origin: "input".to_owned(),
        });
        return Ok(());
    }
    let items: Vec<Box<RawValue>> = serde_json::from_str(raw.get())
        .map_err(|_| DialectError::invalid("input", "expected a string or a list of items"))?;
    for (i, item) in items.iter().enumerate() {
        decode_item(item, &format!("input[{i}]"), request, dropped)?;
    }
    Ok(())
}

/// The fields that say what an item is; a message may leave out its `type`.
#[derive(Deserialize)]
struct ItemHead {
    r#type: Option<String>,
}

#[derive(Deserialize)]
struct MessageItem {
    role: String,
    content: Content,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<WirePart>),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart {
    InputText {
        text: String,
    },
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    InputImage {
        image_url: Option<String>,
        file_id: Option<String>,
        detail: Option<String>,
    },
    InputFile {
        file_data: Option<String>,
        file_url: Option<String>,
        file_id: Option<String>,
        filename: Option<String>,
    },
    InputAudio {},
}

#[derive(Deserialize)]
struct FunctionCallItem {
    call_id: String,
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct FunctionCallOutputItem {
    call_id: String,
    output: Content,
}

#[derive(Deserialize)]
struct ReasoningItem {
    #[serde(default)]
    summary: Vec<SummaryText>,
    encrypted_content: Option<String>,
}

#[derive(Deserialize)]
struct SummaryText {
    text: String,
}

fn decode_item(
    raw: &RawValue,
    path: &str,
    request: &mut Request,
    dropped: &mut Vec<String>,
) -> Result<(), DialectError> {
    let invalid = |e: serde_json::Error| DialectError::invalid(path, e.to_string());
    let head: ItemHead = serde_json::from_str(raw.get()).map_err(invalid)?;
    match head.r#type.as_deref().unwrap_or("message") {
        "message" => {
            let item: MessageItem = serde_json::from_str(raw.get()).map_err(invalid)?;
            decode_message(item, path, request, dropped)?;
        }
        "function_call" => {
            let item: FunctionCallItem = serde_json::from_str(raw.get()).map_err(invalid)?;
            let call = ToolCall {
                id: item.call_id,
                name: item.name,
                arguments: RawJson::tool_arguments(&item.arguments, &format!("{path}.arguments"))?,
            };
            push_turn(request, Role::Assistant, PartKind::ToolCall(call), path);
        }
        "function_call_output" => {
            let item: FunctionCallOutputItem = serde_json::from_str(raw.get()).map_err(invalid)?;
            let result = ToolResult {
                call_id: item.call_id,
                content: user_parts(item.output, &format!("{path}.output"), dropped)?,
                is_error: false,
            };
            push_turn(request, Role::User, PartKind::ToolResult(result), path);
        }
        "reasoning" => {
            let item: ReasoningItem = serde_json::from_str(raw.get()).map_err(invalid)?;
            if item.encrypted_content.is_some() {
                // Sealed by OpenAI for OpenAI; no other provider can read it.
                dropped.push(format!("{path}.encrypted_content"));
            }
            let text: Vec<String> = item.summary.into_iter().map(|s| s.text).collect();
            if !text.is_empty() {
                let block = ReasoningBlock {
                    text: text.join("\n\n"),
                    signature: None,
                };
                push_turn(request, Role::Assistant, PartKind::Reasoning(block), path);
            }
        }
        "item_reference" => return Err(DialectError::invalid(path, NOT_STORED)),
        other => {
            return Err(refused(
                path,
                &format!("`{other}` items belong to built-in tools, which exist only in OpenAI"),
            ));
        }
    }
    Ok(())
}

fn push_turn(request: &mut Request, role: Role, kind: PartKind, path: &str) {
    request.messages.push(Message {
        role,
        content: vec![Part::new(kind, path)],
        origin: path.to_owned(),
    });
}

fn decode_message(
    item: MessageItem,
    path: &str,
    request: &mut Request,
    dropped: &mut Vec<String>,
) -> Result<(), DialectError> {
    match item.role.as_str() {
        "system" | "developer" => {
            for (text, origin) in text_only(item.content, path)? {
                request.system.push(SystemPart {
                    text,
                    origin,
                    cache: None,
                });
            }
        }
        "user" => {
            let content = user_parts(item.content, &format!("{path}.content"), dropped)?;
            request.messages.push(Message {
                role: Role::User,
                content,
                origin: path.to_owned(),
            });
        }
        "assistant" => {
            let content = text_only(item.content, path)?
                .into_iter()
                .map(|(text, origin)| Part::new(PartKind::Text(text), origin))
                .collect();
            request.messages.push(Message {
                role: Role::Assistant,
                content,
                origin: path.to_owned(),
            });
        }
        other => {
            return Err(DialectError::invalid(
                format!("{path}.role"),
                format!("unknown role `{other}`"),
            ));
        }
    }
    Ok(())
}

/// Text of a message that only takes text (system, developer, assistant), with each piece's path.
fn text_only(content: Content, path: &str) -> Result<Vec<(String, String)>, DialectError> {
    match content {
        Content::Text(text) => Ok(vec![(text, format!("{path}.content"))]),
        Content::Parts(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(j, part)| {
                let origin = format!("{path}.content[{j}]");
                match part {
                    WirePart::InputText { text } | WirePart::OutputText { text } => {
                        Ok((text, origin))
                    }
                    WirePart::Refusal { refusal } => Ok((refusal, origin)),
                    _ => Err(DialectError::invalid(origin, "only text is allowed here")),
                }
            })
            .collect(),
    }
}

/// Parts of a user message or a function call output; `path` names the content itself.
fn user_parts(
    content: Content,
    path: &str,
    dropped: &mut Vec<String>,
) -> Result<Vec<Part>, DialectError> {
    let parts = match content {
        Content::Text(text) => return Ok(vec![Part::new(PartKind::Text(text), path)]),
        Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.into_iter().enumerate() {
        let origin = format!("{path}[{j}]");
        let kind = match part {
            WirePart::InputText { text } => PartKind::Text(text),
            WirePart::InputImage {
                image_url,
                file_id,
                detail,
            } => {
                // `auto` is what every other provider does anyway; only a real choice is lost.
                if detail.as_deref().is_some_and(|d| d != "auto") {
                    dropped.push(format!("{origin}.detail"));
                }
                PartKind::Image(Image {
                    source: image_source(image_url, file_id, &origin)?,
                })
            }
            WirePart::InputFile {
                file_data,
                file_url,
                file_id,
                filename,
            } => PartKind::Document(document(file_data, file_url, file_id, filename, &origin)?),
            WirePart::InputAudio {} => {
                return Err(refused(&origin, "audio input is not translated"));
            }
            WirePart::OutputText { .. } | WirePart::Refusal { .. } => {
                return Err(DialectError::invalid(
                    origin,
                    "assistant output parts belong in assistant messages",
                ));
            }
        };
        out.push(Part::new(kind, origin));
    }
    Ok(out)
}

fn image_source(
    url: Option<String>,
    file_id: Option<String>,
    origin: &str,
) -> Result<ImageSource, DialectError> {
    if file_id.is_some() {
        return Err(refused(
            &format!("{origin}.file_id"),
            "files uploaded to OpenAI cannot be read by other providers",
        ));
    }
    let url = url.ok_or_else(|| {
        DialectError::invalid(origin, "needs image_url (file ids are not supported)")
    })?;
    if !url.starts_with("data:") {
        return Ok(ImageSource::Url(url));
    }
    let (media_type, data) = parse_data_url(&url).ok_or_else(|| {
        DialectError::invalid(format!("{origin}.image_url"), "a data URL must be base64")
    })?;
    Ok(ImageSource::Base64 {
        media_type: media_type.to_owned(),
        data: data.to_owned(),
    })
}

fn document(
    file_data: Option<String>,
    file_url: Option<String>,
    file_id: Option<String>,
    filename: Option<String>,
    origin: &str,
) -> Result<Document, DialectError> {
    if file_id.is_some() {
        return Err(refused(
            &format!("{origin}.file_id"),
            "files uploaded to OpenAI cannot be read by other providers",
        ));
    }
    if file_url.is_some() {
        return Err(refused(
            &format!("{origin}.file_url"),
            "documents are not fetched by URL; send file_data",
        ));
    }
    let data_url = file_data
        .ok_or_else(|| DialectError::invalid(origin, "needs file_data, file_url or file_id"))?;
    let field = format!("{origin}.file_data");
    match parse_data_url(&data_url) {
        Some(("application/pdf", data)) => Ok(Document {
            source: DocumentSource::Pdf {
                data: data.to_owned(),
            },
            name: filename,
        }),
        Some((other, _)) => Err(refused(
            &field,
            &format!("documents of type {other} are not translated; only PDF"),
        )),
        None => Err(DialectError::invalid(field, "must be a base64 data URL")),
    }
}
