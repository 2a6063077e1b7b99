//! Validation of the upstream kinds that speak their own dialect: `bedrock`, `anthropic`, `gemini`.

use sy_core::Secret;

use crate::model::{BedrockAuth, CredentialOrigin, ProviderKind};
use crate::raw::RawProvider;
use crate::validate::Checker;

const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";
const DEFAULT_GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";

pub(crate) fn bedrock(c: &mut Checker<'_>, path: &str, raw: &RawProvider) -> Option<ProviderKind> {
    let region = region(c, path, raw);
    let endpoint = match (raw.base_url.as_deref(), region.as_deref()) {
        (Some(url), _) => c.url(&format!("{path}.base_url"), url),
        (None, Some(region)) => Some(default_bedrock_endpoint(region)),
        (None, None) => None,
    };
    let auth = bedrock_auth(c, path, raw);
    Some(ProviderKind::Bedrock {
        region: region?,
        endpoint: endpoint?,
        auth: auth?,
    })
}

/// The region from the config, else `AWS_REGION` (or `AWS_DEFAULT_REGION`), as the AWS SDKs do.
fn region(c: &mut Checker<'_>, path: &str, raw: &RawProvider) -> Option<String> {
    let key = format!("{path}.region");
    let region = match raw.region.clone() {
        Some(region) => region,
        None => match c
            .env_var("AWS_REGION")
            .or_else(|| c.env_var("AWS_DEFAULT_REGION"))
        {
            Some(region) => region,
            None => {
                c.error(
                    key,
                    "is required (e.g. \"us-east-1\"), or set AWS_REGION in the environment",
                );
                return None;
            }
        },
    };
    if is_region(&region) {
        Some(region)
    } else {
        c.error(
            key,
            format!("`{region}` is not an AWS region such as \"us-east-1\""),
        );
        None
    }
}

/// Lower-case words joined by `-` (`us-east-1`, `us-gov-west-1`): it becomes part of a host name.
fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The public Bedrock Runtime endpoint of `region` (China's regions live under `amazonaws.com.cn`).
fn default_bedrock_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://bedrock-runtime.{region}.{suffix}")
}

/// Credentials named in the config win; without any, the standard AWS variables are read, the
/// Bedrock API key first (boto3 prefers `AWS_BEARER_TOKEN_BEDROCK` over a key pair too).
fn bedrock_auth(c: &mut Checker<'_>, path: &str, raw: &RawProvider) -> Option<BedrockAuth> {
    let pair_in_config = raw.access_key_id.is_some()
        || raw.secret_access_key.is_some()
        || raw.session_token.is_some();
    if let Some(key) = raw.api_key.as_deref() {
        if pair_in_config {
            c.error(
                format!("{path}.api_key"),
                "give either api_key (a Bedrock API key) or access_key_id and secret_access_key, not both",
            );
            return None;
        }
        let key = c.secret(&format!("{path}.api_key"), key)?;
        return Some(BedrockAuth::ApiKey {
            key,
            origin: CredentialOrigin::Config,
        });
    }
    if pair_in_config {
        let mut required = |name: &str, value: Option<&str>| {
            let key = format!("{path}.{name}");
            match value {
                Some(value) => c.secret(&key, value),
                None => {
                    c.error(
                        key,
                        "is required when the config names AWS credentials (access_key_id and secret_access_key go together)",
                    );
                    None
                }
            }
        };
        let access_key_id = required("access_key_id", raw.access_key_id.as_deref());
        let secret_access_key = required("secret_access_key", raw.secret_access_key.as_deref());
        let session_token = match raw.session_token.as_deref() {
            Some(token) => Some(c.secret(&format!("{path}.session_token"), token)?),
            None => None,
        };
        return Some(BedrockAuth::SigV4 {
            access_key_id: access_key_id?.expose().to_owned(),
            secret_access_key: secret_access_key?,
            session_token,
            origin: CredentialOrigin::Config,
        });
    }
    if let Some(key) = c.env_var("AWS_BEARER_TOKEN_BEDROCK") {
        return Some(BedrockAuth::ApiKey {
            key: Secret::new(key),
            origin: CredentialOrigin::Environment,
        });
    }
    match (
        c.env_var("AWS_ACCESS_KEY_ID"),
        c.env_var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret)) => Some(BedrockAuth::SigV4 {
            access_key_id,
            secret_access_key: Secret::new(secret),
            session_token: c.env_var("AWS_SESSION_TOKEN").map(Secret::new),
            origin: CredentialOrigin::Environment,
        }),
        _ => {
            c.error(
                path,
                "no AWS credentials: set access_key_id and secret_access_key (or api_key) here, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_BEARER_TOKEN_BEDROCK) in the environment",
            );
            None
        }
    }
}

pub(crate) fn anthropic(
    c: &mut Checker<'_>,
    path: &str,
    raw: &RawProvider,
) -> Option<ProviderKind> {
    let base_url = root_url(c, path, raw, DEFAULT_ANTHROPIC_BASE_URL, "/v1");
    let api_key = required_api_key(c, path, raw);
    let version = raw
        .anthropic_version
        .clone()
        .unwrap_or_else(|| DEFAULT_ANTHROPIC_VERSION.to_owned());
    let valid_version = !version.is_empty() && version.bytes().all(|b| b.is_ascii_graphic());
    if !valid_version {
        c.error(
            format!("{path}.anthropic_version"),
            format!("`{version}` is not a version such as \"{DEFAULT_ANTHROPIC_VERSION}\""),
        );
    }
    Some(ProviderKind::Anthropic {
        base_url: base_url?,
        api_key: api_key?,
        version: valid_version.then_some(version)?,
    })
}

pub(crate) fn gemini(c: &mut Checker<'_>, path: &str, raw: &RawProvider) -> Option<ProviderKind> {
    let base_url = root_url(c, path, raw, DEFAULT_GEMINI_BASE_URL, "/v1beta");
    let api_key = required_api_key(c, path, raw);
    Some(ProviderKind::Gemini {
        base_url: base_url?,
        api_key: api_key?,
    })
}

/// The API root: the gateway appends the versioned path itself, so a URL that already ends with
/// it would double it (`/v1/v1/messages`), which upstreams answer with a confusing 404.
fn root_url(
    c: &mut Checker<'_>,
    path: &str,
    raw: &RawProvider,
    default: &str,
    version_path: &str,
) -> Option<String> {
    let key = format!("{path}.base_url");
    let url = c.url(&key, raw.base_url.as_deref().unwrap_or(default))?;
    if url.ends_with(version_path) {
        c.error(
            key,
            format!(
                "give the API root without `{version_path}` (the gateway appends it), e.g. \"{default}\""
            ),
        );
        return None;
    }
    Some(url)
}

fn required_api_key(c: &mut Checker<'_>, path: &str, raw: &RawProvider) -> Option<Secret> {
    let key = format!("{path}.api_key");
    match raw.api_key.as_deref() {
        Some(value) => c.secret(&key, value),
        None => {
            c.error(key, "is required for this kind");
            None
        }
    }
}
