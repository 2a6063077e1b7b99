//! Operations endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::Gateway;

pub async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// Ready while a config is loaded and the gateway is not draining for shutdown.
pub async fn readyz(State(gateway): State<Gateway>) -> Response {
    if gateway.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"draining"}"#,
        )
            .into_response();
    }
    let snapshot = gateway.snapshot();
    let body = serde_json::json!({
        "status": "ready",
        "models": snapshot.config.models.len(),
        "providers": snapshot.providers.len(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub async fn metrics(State(gateway): State<Gateway>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gateway.metrics().encode(),
    )
        .into_response()
}
