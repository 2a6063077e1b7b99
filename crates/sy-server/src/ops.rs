//! Operations endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use std::time::Duration;

use sy_limits::{Health, RedisPolicy};

use crate::state::Gateway;

const STORE_PING: Duration = Duration::from_secs(2);

pub async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// Ready while a config is loaded, the store answers and the gateway is not draining for shutdown.
/// Shared limits are reported too: with Redis unreachable the gateway stays ready under
/// `fail-open` (limits hold per node) and is not ready under `fail-closed`.
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
    let store = match gateway.store() {
        None => serde_json::json!(null),
        Some(store) => match tokio::time::timeout(STORE_PING, store.ping()).await {
            Ok(Ok(())) => serde_json::json!({ "backend": store.backend(), "reachable": true }),
            Ok(Err(e)) => {
                serde_json::json!({ "backend": store.backend(), "reachable": false, "error": e.to_string() })
            }
            Err(_) => {
                serde_json::json!({ "backend": store.backend(), "reachable": false, "error": "no answer in time" })
            }
        },
    };
    let store_ok = store.is_null() || store["reachable"] == true;
    let (limits, limits_ok) = match gateway.limiter().health() {
        Health::Local => (serde_json::json!({ "backend": "local" }), true),
        Health::Redis { reachable, policy } => {
            let (policy, enforcing, ok) = match (reachable, policy) {
                (true, RedisPolicy::FailOpen) => ("fail-open", "shared", true),
                (true, RedisPolicy::FailClosed) => ("fail-closed", "shared", true),
                (false, RedisPolicy::FailOpen) => {
                    ("fail-open", "per-node (redis unreachable)", true)
                }
                (false, RedisPolicy::FailClosed) => {
                    ("fail-closed", "refusing (redis unreachable)", false)
                }
            };
            (
                serde_json::json!({ "backend": "redis", "reachable": reachable, "policy": policy, "enforcing": enforcing }),
                ok,
            )
        }
    };
    let ledger = gateway.ledger().map_or(
        serde_json::Value::Null,
        |l| serde_json::json!({ "writing": !l.failing() }),
    );
    let ready = store_ok && limits_ok;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "models": snapshot.config.models.len(),
        "providers": snapshot.providers.len(),
        "store": store,
        "limits": limits,
        "ledger": ledger,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
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
