//! Bedrock's errors: HTTP answers named by `x-amzn-ErrorType` (or the body's `__type`), and
//! exception frames inside event streams named by `:exception-type`.

use http::{HeaderMap, StatusCode};

use crate::error::{
    ErrorClass, UpstreamError, header_text, json, retry_after, string_at, text_excerpt,
};

/// Parses a non-2xx Bedrock answer: the code from `x-amzn-ErrorType` (its `:...` suffix dropped),
/// else the body's `__type` or `code` (a `namespace#` prefix dropped); the message from the body's
/// `message` or `Message`.
pub fn parse_error(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> UpstreamError {
    let document = json(body);
    let code = header_text(headers, &["x-amzn-errortype"])
        .or_else(|| {
            let document = document.as_ref()?;
            string_at(document, "__type").or_else(|| string_at(document, "code"))
        })
        .map(|code| normalise_code(&code))
        .filter(|code| !code.is_empty());
    let message = match &document {
        Some(document) => string_at(document, "message").or_else(|| string_at(document, "Message")),
        None => text_excerpt(body),
    };
    let status = status.as_u16();
    UpstreamError {
        provider: provider.to_owned(),
        status,
        class: code
            .as_deref()
            .and_then(class_of)
            .unwrap_or_else(|| ErrorClass::from_status(status)),
        code,
        message,
        retry_after: retry_after(headers),
        request_id: header_text(headers, &["x-amzn-requestid"]),
    }
}

/// An exception frame from a Bedrock event stream (`:exception-type`, JSON `{"message"}`), or an
/// `error` frame (`:error-code`, with its `:error-message` as `payload`).
pub fn parse_stream_error(provider: &str, name: &str, payload: &[u8]) -> UpstreamError {
    let code = normalise_code(name);
    let message = match json(payload) {
        Some(document) => {
            string_at(&document, "message").or_else(|| string_at(&document, "Message"))
        }
        None => text_excerpt(payload),
    };
    let status = exception_status(&code);
    UpstreamError {
        provider: provider.to_owned(),
        status,
        class: class_of(&code).unwrap_or_else(|| ErrorClass::from_status(status)),
        code: Some(code),
        message,
        retry_after: None,
        request_id: None,
    }
}

/// `ValidationException:http://internal.amazon.com/...` and `com.amazon.coral#ValidationException`
/// name `ValidationException`; event streams spell it `validationException`.
fn normalise_code(raw: &str) -> String {
    let code = raw.split(':').next().unwrap_or(raw);
    let code = code.rsplit('#').next().unwrap_or(code).trim();
    let mut chars = code.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The HTTP status Bedrock documents for an exception, for errors that arrive inside a stream
/// (whose HTTP status is already 200). Unknown names count as server errors.
pub fn exception_status(code: &str) -> u16 {
    match normalise_code(code).as_str() {
        "ValidationException" | "ServiceQuotaExceededException" | "ConflictException" => 400,
        "AccessDeniedException" => 403,
        "ResourceNotFoundException" => 404,
        "ModelTimeoutException" => 408,
        "ModelErrorException" | "ModelStreamErrorException" => 424,
        "ThrottlingException" | "ModelNotReadyException" => 429,
        "ServiceUnavailableException" => 503,
        _ => 500,
    }
}

/// What a Bedrock error name means, where it says more than the status.
fn class_of(code: &str) -> Option<ErrorClass> {
    Some(match code {
        // A quota of the gateway's account, not the caller's fault: another deployment may serve.
        "ThrottlingException"
        | "ModelNotReadyException"
        | "TooManyRequestsException"
        | "ServiceQuotaExceededException" => ErrorClass::RateLimited,
        "ServiceUnavailableException" => ErrorClass::Overloaded,
        "ModelTimeoutException" => ErrorClass::Timeout,
        "InternalServerException"
        | "InternalFailure"
        | "ModelErrorException"
        | "ModelStreamErrorException" => ErrorClass::Failed,
        // The gateway's key pair, token or API key, or what its IAM identity may do.
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException" => ErrorClass::CredentialsRefused,
        "ValidationException" | "ResourceNotFoundException" | "ConflictException" => {
            ErrorClass::Rejected
        }
        _ => return None,
    })
}
