//! Amazon Bedrock Runtime: `POST {endpoint}/model/{model id}/{operation}`, signed with SigV4
//! (service `bedrock`) or carrying a Bedrock API key; its errors; its event-stream framing.

pub mod canonical;
mod error;
pub mod eventstream;
mod sign;
#[cfg(test)]
mod tests;

pub use error::{exception_status, parse_error, parse_stream_error};
pub use sign::SigV4Signer;
use sign::SignedTarget;

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http::uri::{Authority, Parts, PathAndQuery, Scheme};
use http::{Method, Request, Uri};
use http_body_util::Full;
use sy_config::{BedrockAuth, Timeouts};
use sy_core::GatewayError;

use crate::client::{self, HttpClient};
use crate::transport::{USER_AGENT_VALUE, encode_path_segment, exchange, not_served, sensitive};
use crate::{Operation, UpstreamResponse};

/// The model's content type for InvokeModelWithResponseStream (InvokeModel takes `Accept`).
static BEDROCK_ACCEPT: HeaderName = HeaderName::from_static("x-amzn-bedrock-accept");
static JSON: HeaderValue = HeaderValue::from_static("application/json");

pub struct BedrockUpstream {
    /// The scheme and host of `https://bedrock-runtime.{region}.amazonaws.com` or of a configured
    /// base URL, parsed once: a request's URL is built around them.
    scheme: Scheme,
    authority: Authority,
    /// A configured base URL's path prefix (kept before `/model/...`) without its last `/`;
    /// usually empty.
    prefix: String,
    /// The `host` a signature covers (the authority without a default port).
    host: String,
    /// Each model's URL per operation, and its canonical path for signing, built on first use:
    /// the same few are asked for again and again, and building them is most of what a request
    /// costs besides its body. Bounded; past the bound a route is built for each request.
    routes: RwLock<Vec<Arc<Route>>>,
    auth: Auth,
    client: HttpClient,
}

/// Routes kept at most; a deployment list is far shorter.
const MAX_ROUTES: usize = 64;

/// A model's URL for one operation, and the path a signature covers.
struct Route {
    action: &'static str,
    model: Box<str>,
    uri: Uri,
    canonical_uri: Box<str>,
}

enum Auth {
    SigV4(SigV4Signer),
    /// `Authorization: Bearer <Bedrock API key>`, no signing.
    Bearer(HeaderValue),
}

impl fmt::Debug for BedrockUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Auth::SigV4(signer) => format!("{signer:?}"),
            Auth::Bearer(_) => "Bearer(<redacted>)".to_owned(),
        };
        f.debug_struct("BedrockUpstream")
            .field(
                "endpoint",
                &format_args!("{}://{}{}", self.scheme, self.authority, self.prefix),
            )
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

impl BedrockUpstream {
    pub fn new(
        endpoint: &str,
        region: &str,
        auth: &BedrockAuth,
        timeouts: &Timeouts,
    ) -> Result<Self, String> {
        let auth = match auth {
            BedrockAuth::SigV4 {
                access_key_id,
                secret_access_key,
                session_token,
                ..
            } => Auth::SigV4(SigV4Signer::new(
                access_key_id,
                secret_access_key,
                session_token.as_ref(),
                region,
            )),
            BedrockAuth::ApiKey { key, .. } => {
                Auth::Bearer(sensitive(&format!("Bearer {}", key.expose()))?)
            }
        };
        let endpoint = endpoint.trim_end_matches('/');
        let parsed: Uri = endpoint
            .parse()
            .map_err(|e| format!("the Bedrock endpoint {endpoint:?} is not a URL: {e}"))?;
        let (Some(scheme), Some(authority)) = (parsed.scheme(), parsed.authority()) else {
            return Err(format!(
                "the Bedrock endpoint {endpoint:?} needs a scheme and a host"
            ));
        };
        if parsed.query().is_some() {
            return Err(format!(
                "the Bedrock endpoint {endpoint:?} cannot have a query"
            ));
        }
        Ok(Self {
            scheme: scheme.clone(),
            authority: authority.clone(),
            prefix: parsed.path().trim_end_matches('/').to_owned(),
            host: sign::host(&parsed).unwrap_or_default().to_owned(),
            routes: RwLock::new(Vec::new()),
            auth,
            client: client::build(timeouts.connect)?,
        })
    }

    /// The request URL. The model id is one path segment with every character outside
    /// `A-Za-z0-9-._~` percent-encoded (`:` → `%3A`, an ARN's `/` → `%2F`): an unencoded `/`
    /// would split the segment, and Bedrock would not find the model.
    pub fn uri(&self, operation: Operation, upstream_model: &str) -> Result<Uri, GatewayError> {
        Ok(self.route(operation, upstream_model)?.uri.clone())
    }

    /// The route of `upstream_model` for `operation`: kept, or built (and kept while there is
    /// room).
    fn route(
        &self,
        operation: Operation,
        upstream_model: &str,
    ) -> Result<Arc<Route>, GatewayError> {
        let action = match operation {
            Operation::Converse { stream: false } => "converse",
            Operation::Converse { stream: true } => "converse-stream",
            Operation::Invoke { stream: false } => "invoke",
            Operation::Invoke { stream: true } => "invoke-with-response-stream",
            Operation::CountTokens => "count-tokens",
            other => {
                return Err(GatewayError::internal(format!(
                    "no Bedrock endpoint for `{}`",
                    other.name()
                )));
            }
        };
        let kept = |routes: &[Arc<Route>]| {
            routes
                .iter()
                .find(|r| r.action == action && *r.model == *upstream_model)
                .cloned()
        };
        if let Some(route) = kept(&self.routes.read().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(route);
        }
        let route = Arc::new(self.build_route(action, upstream_model)?);
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(route) = kept(&routes) {
            return Ok(route);
        }
        if routes.len() < MAX_ROUTES {
            routes.push(Arc::clone(&route));
        }
        Ok(route)
    }

    fn build_route(
        &self,
        action: &'static str,
        upstream_model: &str,
    ) -> Result<Route, GatewayError> {
        if upstream_model.is_empty() {
            return Err(GatewayError::internal("a Bedrock model id is empty"));
        }
        // Only the path is new for each model; the scheme and host were parsed once.
        let path = [
            self.prefix.as_str(),
            "/model/",
            &encode_path_segment(upstream_model),
            "/",
            action,
        ]
        .concat();
        let invalid = |e: &dyn fmt::Display| {
            GatewayError::internal(format!("cannot build the upstream URL from {path:?}: {e}"))
        };
        let mut parts = Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query =
            Some(PathAndQuery::try_from(path.as_str()).map_err(|e| invalid(&e))?);
        let uri = Uri::from_parts(parts).map_err(|e| invalid(&e))?;
        Ok(Route {
            action,
            model: upstream_model.into(),
            canonical_uri: canonical::canonical_uri(uri.path()).into(),
            uri,
        })
    }

    pub async fn send(
        &self,
        provider: &str,
        operation: Operation,
        upstream_model: &str,
        body: Bytes,
    ) -> Result<UpstreamResponse, GatewayError> {
        if !matches!(
            operation,
            Operation::Converse { .. } | Operation::Invoke { .. } | Operation::CountTokens
        ) {
            return Err(not_served(provider, "bedrock", operation));
        }
        let request = self.request(operation, upstream_model, body, SystemTime::now())?;
        exchange(&self.client, provider, request).await
    }

    /// The request as it goes on the wire, signed at `now` over exactly these bytes. Built
    /// afresh for every attempt, so a retry never reuses a stale signature. Public so that the
    /// translation benchmark times the builder the gateway uses.
    pub fn request(
        &self,
        operation: Operation,
        upstream_model: &str,
        body: Bytes,
        now: SystemTime,
    ) -> Result<Request<Full<Bytes>>, GatewayError> {
        let route = self.route(operation, upstream_model)?;
        // Built in place rather than through `Request::builder`, whose checks at every step are
        // code run for headers known to be valid.
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = route.uri.clone();
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, JSON.clone());
        headers.insert(USER_AGENT, USER_AGENT_VALUE.clone());
        match operation {
            Operation::Invoke { stream: false } => {
                headers.insert(ACCEPT, JSON.clone());
            }
            Operation::Invoke { stream: true } => {
                headers.insert(BEDROCK_ACCEPT.clone(), JSON.clone());
            }
            _ => {}
        }
        match &self.auth {
            Auth::SigV4(signer) => {
                let target = SignedTarget {
                    host: &self.host,
                    canonical_uri: &route.canonical_uri,
                    canonical_query: "",
                };
                signer.sign_for(&mut request, &target, &body, now)?;
            }
            Auth::Bearer(value) => {
                request.headers_mut().insert(AUTHORIZATION, value.clone());
            }
        }
        Ok(request)
    }
}
