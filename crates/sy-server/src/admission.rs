//! Admission: bounded concurrency and bounded bodies. Over the limit, requests are shed with
//! 503 + Retry-After instead of queueing and growing memory.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sy_config::Server;
use sy_core::{ErrorKind, GatewayError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    max_body_bytes: usize,
}

/// Held for as long as a request is in flight, including its streamed response.
pub type Slot = OwnedSemaphorePermit;

impl Admission {
    pub fn new(server: &Server) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(server.max_concurrent_requests)),
            max_body_bytes: server.max_body_bytes,
        }
    }

    pub fn admit(&self) -> Result<Slot, GatewayError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            GatewayError::new(
                ErrorKind::Saturated {
                    retry_after: Duration::from_secs(1),
                },
                "the gateway is at its concurrency limit; retry shortly",
            )
        })
    }

    /// Reads a JSON request body within the size limit.
    pub async fn read_json_body(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Bytes, GatewayError> {
        if let Some(content_type) = headers.get(CONTENT_TYPE) {
            let ok = content_type
                .to_str()
                .map(|v| {
                    let essence = v.split(';').next().unwrap_or("").trim();
                    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
                })
                .unwrap_or(false);
            if !ok {
                return Err(GatewayError::new(
                    ErrorKind::UnsupportedMediaType,
                    "the request body must be JSON (Content-Type: application/json)",
                ));
            }
        }
        let too_large = || {
            GatewayError::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "the request body is larger than the gateway's limit of {} bytes",
                    self.max_body_bytes
                ),
            )
        };
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body_bytes as u64) {
            return Err(too_large());
        }
        match Limited::new(body, self.max_body_bytes).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
            Err(e) => Err(GatewayError::invalid(format!(
                "the request body could not be read: {e}"
            ))),
        }
    }
}
