//! AWS Signature Version 4 for Bedrock Runtime requests, with the `aws-sigv4` crate's defaults:
//! service name `bedrock`, the path encoded once more in the canonical URI, the SHA-256 of the
//! exact body bytes, and the session token signed when there is one.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use sy_core::{GatewayError, Secret};

/// Bedrock's signing name: the host says `bedrock-runtime`, the signature says `bedrock`.
pub const SIGNING_NAME: &str = "bedrock";

/// Signs requests for one key pair and region.
pub struct SigV4Signer {
    access_key_id: String,
    identity: Identity,
    region: String,
}

impl fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl SigV4Signer {
    pub fn new(
        access_key_id: &str,
        secret_access_key: &Secret,
        session_token: Option<&Secret>,
        region: &str,
    ) -> Self {
        let credentials = Credentials::new(
            access_key_id,
            secret_access_key.expose(),
            session_token.map(|t| t.expose().to_owned()),
            None,
            "switchyard-config",
        );
        Self {
            access_key_id: access_key_id.to_owned(),
            identity: credentials.into(),
            region: region.to_owned(),
        }
    }

    /// Adds `x-amz-date`, `authorization` (and `x-amz-security-token`) to `request`, signing its
    /// method, URI, every header it carries now (but `user-agent`, which proxies rewrite) and
    /// `body`, which must be the bytes the request sends.
    pub fn sign(
        &self,
        request: &mut Request<Full<Bytes>>,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), GatewayError> {
        let failed = |e: &dyn fmt::Display| {
            GatewayError::internal(format!("cannot sign the Bedrock request: {e}"))
        };
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(SIGNING_NAME)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let uri = request.uri().to_string();
        let mut headers = Vec::with_capacity(request.headers().len());
        for (name, value) in request.headers() {
            let value = value.to_str().map_err(|e| failed(&e))?;
            headers.push((name.as_str(), value));
        }
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri,
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| failed(&e))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        // Keep the signature out of debug output like every other credential header.
        if let Some(value) = request.headers_mut().get_mut(http::header::AUTHORIZATION) {
            value.set_sensitive(true);
        }
        Ok(())
    }
}
