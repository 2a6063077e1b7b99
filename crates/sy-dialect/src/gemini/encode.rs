//! Canonical request → Gemini `generateContent` body (the model id goes in the URL).
//!
//! Choices: tool schemas go in `parametersJsonSchema` and the answer schema in
//! `responseJsonSchema` (full JSON Schema, unlike the OpenAPI subset of `parameters`); function
//! calls and responses carry the call id (Gemini accepts and echoes ids) and a response finds its
//! function name from the call with that id; a text tool result becomes `{"result": text}` (or
//! `{"error": text}` when flagged), a single JSON result is sent as is; a call's thought signature,
//! carried in its id since Gemini answered it, goes back beside the call, and for Gemini 3 a model
//! turn of calls without one gets Google's stand-in on its first call; reasoning blocks are
//! dropped and listed (Gemini replays its own thought signatures, not other providers'); image URLs
//! are refused except `gs://` and Gemini Files API URIs; `user` and `parallel_tool_calls: false`
//! are dropped and listed.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Number;
use serde_json::value::RawValue;

use super::TARGET;
use crate::canonical::{
    DocumentSource, ImageSource, Part, PartKind, Reasoning, Request, ResponseFormat, Role, Setting,
    ToolChoice, ToolResult,
};
use crate::ids::{GEMINI_TOOL_NAME, split_thought_signature};
use crate::limits::within;
use crate::media::registered_image_type;
use crate::tool_names::ToolNames;
use crate::turns::alternating_turns;
use crate::{DialectError, EncodeOptions, Encoded, Translation};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<Content<'a>>,
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tools<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
    #[serde(skip_serializing_if = "GenerationConfig::is_empty")]
    generation_config: GenerationConfig<'a>,
}

#[derive(Serialize)]
struct Content<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    parts: Vec<WirePart<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum WirePart<'a> {
    Text(&'a str),
    InlineData {
        #[serde(rename = "mimeType")]
        mime_type: &'a str,
        data: &'a str,
    },
    FileData {
        #[serde(rename = "mimeType")]
        mime_type: &'static str,
        #[serde(rename = "fileUri")]
        file_uri: &'a str,
    },
    FunctionCall(Call<'a>),
    FunctionResponse {
        id: &'a str,
        name: &'a str,
        response: Response<'a>,
    },
    /// A function call with its thought signature, which sits beside `functionCall` in the part.
    #[serde(untagged)]
    SignedFunctionCall {
        #[serde(rename = "functionCall")]
        call: Call<'a>,
        #[serde(rename = "thoughtSignature")]
        signature: String,
    },
}

#[derive(Serialize, Clone, Copy)]
struct Call<'a> {
    id: &'a str,
    name: &'a str,
    args: &'a RawValue,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Response<'a> {
    Raw(&'a RawValue),
    Wrapped(BTreeMap<&'static str, String>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tools<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclaration<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<&'a RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'a> {
    function_calling_config: FunctionCallingConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionCallingConfig<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_function_names: Vec<&'a str>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<&'a Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<&'a Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
}

impl GenerationConfig<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.max_output_tokens.is_none()
            && self.stop_sequences.is_empty()
            && self.response_mime_type.is_none()
            && self.thinking_config.is_none()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    /// Tokens; 0 turns thinking off where the model allows it, -1 lets the model decide.
    thinking_budget: i64,
}

pub(super) fn encode_request(
    request: &Request,
    options: &EncodeOptions,
) -> Result<Encoded, DialectError> {
    let origin = request.origin;
    let mut dropped = Vec::new();
    // No prompt-cache breakpoints here: the provider caches prompts on its own.
    crate::canonical::drop_cache_breakpoints(request, &mut dropped);
    if request.candidates > 1 {
        return Err(untranslatable(
            origin.path(Setting::Candidates),
            "only one candidate can be translated back",
        ));
    }
    if let Some(t) = &request.temperature
        && !within(t, 0.0, 2.0)
    {
        return Err(untranslatable(
            origin.path(Setting::Temperature),
            "Gemini takes 0 to 2",
        ));
    }
    if request.stop.len() > 5 {
        return Err(untranslatable(
            origin.path(Setting::Stop),
            "Gemini takes at most 5 stop sequences",
        ));
    }
    if request.user.is_some() {
        dropped.push("user".to_owned());
    }
    if request.parallel_tool_calls == Some(false) {
        dropped.push(origin.path(Setting::ParallelToolCalls).to_owned());
    }
    if !request.anthropic_betas.is_empty() {
        dropped.push(origin.path(Setting::AnthropicBetas).to_owned());
    }
    let names = ToolNames::for_request(request, GEMINI_TOOL_NAME);
    let call_names: BTreeMap<&str, &str> = request
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|p| match &p.kind {
            PartKind::ToolCall(call) => Some((call.id.as_str(), names.sent(&call.name))),
            _ => None,
        })
        .collect();

    let mut contents = Vec::new();
    for (i, turn) in alternating_turns(&request.messages).into_iter().enumerate() {
        if i == 0 && turn.role != Role::User {
            return Err(untranslatable(
                turn.origin,
                "Gemini conversations must start with a user turn",
            ));
        }
        let mut parts = Vec::with_capacity(turn.parts.len());
        for part in turn.parts {
            if let Some(part) = encode_part(part, &names, &call_names, options, &mut dropped)? {
                parts.push(part);
            }
        }
        if parts.is_empty() {
            continue;
        }
        if turn.role == Role::Assistant && signs_function_calls(&options.model) {
            sign_unsigned_calls(&mut parts);
        }
        let role = match turn.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        contents.push(Content {
            role: Some(role),
            parts,
        });
    }

    let mut declarations = Vec::with_capacity(request.tools.len());
    for tool in &request.tools {
        declarations.push(FunctionDeclaration {
            name: names.sent(&tool.name),
            description: tool.description.as_deref(),
            parameters_json_schema: tool.parameters.as_ref().map(|p| p.as_raw()),
        });
    }
    let tool_config = request.tool_choice.as_ref().map(|choice| {
        let (mode, allowed_function_names) = match choice {
            ToolChoice::Auto => ("AUTO", Vec::new()),
            ToolChoice::None => ("NONE", Vec::new()),
            ToolChoice::Required => ("ANY", Vec::new()),
            ToolChoice::Named(name) => ("ANY", vec![names.sent(name)]),
        };
        ToolConfig {
            function_calling_config: FunctionCallingConfig {
                mode,
                allowed_function_names,
            },
        }
    });
    let (response_mime_type, response_json_schema) = match &request.response_format {
        None => (None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json"), Some(schema.as_raw()))
        }
    };
    let body = Body {
        system_instruction: {
            let parts: Vec<WirePart<'_>> = request
                .system
                .iter()
                .filter(|p| !p.text.is_empty())
                .map(|p| WirePart::Text(&p.text))
                .collect();
            (!parts.is_empty()).then_some(Content { role: None, parts })
        },
        contents,
        tools: if declarations.is_empty() {
            Vec::new()
        } else {
            vec![Tools {
                function_declarations: declarations,
            }]
        },
        tool_config,
        generation_config: GenerationConfig {
            temperature: request.temperature.as_ref(),
            top_p: request.top_p.as_ref(),
            top_k: request.top_k,
            max_output_tokens: request.max_output_tokens,
            stop_sequences: &request.stop,
            response_mime_type,
            response_json_schema,
            thinking_config: request.reasoning.map(|r| ThinkingConfig {
                thinking_budget: thinking_budget(r),
            }),
        },
    };
    let body = crate::options::encode_body(&body, request)?;
    Ok(Encoded {
        body,
        translation: Translation {
            renamed_tools: names.into_sent_to_caller(),
            ..Translation::default()
        },
        dropped,
    })
}

/// Whether the model refuses replayed function calls without their thought signature: Gemini 3
/// and later (1.x and 2.x models do not check).
fn signs_function_calls(model: &str) -> bool {
    model.contains("gemini-") && !model.contains("gemini-1") && !model.contains("gemini-2")
}

/// Google's documented stand-in for a signature the history does not have (calls made by another
/// provider, or whose id lost the signature on the way, e.g. cut to another dialect's id length).
const SKIP_SIGNATURE_CHECK: &str = "skip_thought_signature_validator";

/// A model turn whose calls carry no signature gets the stand-in on its first call, where Gemini
/// puts the signature of parallel calls.
fn sign_unsigned_calls(parts: &mut [WirePart<'_>]) {
    if parts
        .iter()
        .any(|part| matches!(part, WirePart::SignedFunctionCall { .. }))
    {
        return;
    }
    for part in parts.iter_mut() {
        if let WirePart::FunctionCall(call) = *part {
            *part = WirePart::SignedFunctionCall {
                call,
                signature: SKIP_SIGNATURE_CHECK.to_owned(),
            };
            return;
        }
    }
}

fn untranslatable(field: impl Into<String>, reason: &str) -> DialectError {
    DialectError::untranslatable(field, TARGET, reason)
}

fn thinking_budget(reasoning: Reasoning) -> i64 {
    match reasoning {
        Reasoning::Disabled => 0,
        Reasoning::Adaptive(None) => -1,
        Reasoning::Effort(effort)
        | Reasoning::Adaptive(Some(effort))
        | Reasoning::OutputEffort(effort) => i64::from(effort.budget_tokens()),
        Reasoning::Budget(budget) => i64::from(budget),
    }
}

fn encode_part<'a>(
    part: &'a Part,
    names: &'a ToolNames,
    call_names: &BTreeMap<&str, &'a str>,
    options: &EncodeOptions,
    dropped: &mut Vec<String>,
) -> Result<Option<WirePart<'a>>, DialectError> {
    Ok(Some(match &part.kind {
        PartKind::Text(text) => WirePart::Text(text),
        PartKind::Json(json) => WirePart::Text(json.as_str()),
        PartKind::Image(image) => match &image.source {
            ImageSource::Base64 { media_type, data } => WirePart::InlineData {
                mime_type: registered_image_type(media_type),
                data,
            },
            ImageSource::Url(url) => file_data(url, &part.origin, options.allow_url_fetch)?,
        },
        PartKind::Document(document) => match &document.source {
            DocumentSource::Pdf { data } => WirePart::InlineData {
                mime_type: "application/pdf",
                data,
            },
            DocumentSource::Text(text) => WirePart::Text(text),
        },
        PartKind::ToolCall(call) => {
            if !call.arguments.is_object() {
                return Err(untranslatable(
                    part.origin.as_str(),
                    "Gemini function arguments must be a JSON object",
                ));
            }
            let (id, signature) = split_thought_signature(&call.id);
            let call = Call {
                id,
                name: names.sent(&call.name),
                args: call.arguments.as_raw(),
            };
            match signature {
                Some(signature) => WirePart::SignedFunctionCall { call, signature },
                None => WirePart::FunctionCall(call),
            }
        }
        PartKind::ToolResult(result) => {
            let name = call_names.get(result.call_id.as_str()).ok_or_else(|| {
                untranslatable(
                    part.origin.as_str(),
                    "Gemini needs the function name of a result, and no call has this id",
                )
            })?;
            WirePart::FunctionResponse {
                id: split_thought_signature(&result.call_id).0,
                name,
                response: function_response(result)?,
            }
        }
        PartKind::Reasoning(_) | PartKind::RedactedReasoning(_) => {
            dropped.push(part.origin.clone());
            return Ok(None);
        }
    }))
}

/// Gemini takes a JSON object as a function's response.
fn function_response(result: &ToolResult) -> Result<Response<'_>, DialectError> {
    if let [only] = result.content.as_slice()
        && let PartKind::Json(json) = &only.kind
        && json.is_object()
        && !result.is_error
    {
        return Ok(Response::Raw(json.as_raw()));
    }
    let mut text = String::new();
    for part in &result.content {
        match &part.kind {
            PartKind::Text(t) => text.push_str(t),
            PartKind::Json(json) => text.push_str(json.as_str()),
            _ => {
                return Err(untranslatable(
                    part.origin.as_str(),
                    "Gemini function responses carry only JSON, not images or documents",
                ));
            }
        }
    }
    let key = if result.is_error { "error" } else { "result" };
    Ok(Response::Wrapped(BTreeMap::from([(key, text)])))
}

/// Gemini reads only its own storage by URI: `gs://` (Vertex) and Files API URIs.
fn file_data<'a>(url: &'a str, origin: &str, fetching: bool) -> Result<WirePart<'a>, DialectError> {
    let own =
        url.starts_with("gs://") || url.starts_with("https://generativelanguage.googleapis.com/");
    if !own {
        return Err(untranslatable(
            origin,
            if fetching {
                "Gemini takes no arbitrary image URLs; the gateway must fetch the image before encoding"
            } else {
                "Gemini takes no arbitrary image URLs and this route does not fetch them"
            },
        ));
    }
    let extension = url
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let mime_type = match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => {
            return Err(untranslatable(
                origin,
                "the image type cannot be told from the URI",
            ));
        }
    };
    Ok(WirePart::FileData {
        mime_type,
        file_uri: url,
    })
}
