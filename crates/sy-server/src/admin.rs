//! The admin API (`/admin/v1/...`), opened by `auth.admin_key`. Errors carry stable codes.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::{info, warn};

use crate::state::Gateway;

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    answer(
        status,
        serde_json::json!({ "error": { "code": code, "message": message } }),
    )
}

/// Compares in time independent of where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `Authorization: Bearer <admin key>`; the answer to send when it fails.
#[expect(
    clippy::result_large_err,
    reason = "the error is the response itself, built once on a cold path"
)]
fn authorize(gateway: &Gateway, headers: &HeaderMap) -> Result<(), Response> {
    let snapshot = gateway.snapshot();
    let Some(expected) = snapshot.config.admin_key.as_ref() else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin API is off: set auth.admin_key in the config",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.expose().as_bytes()) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin key is required (Authorization: Bearer ...)",
        ))
    }
}

/// `POST /admin/v1/reload`: re-read the config and swap the routing snapshot.
pub async fn reload(State(gateway): State<Gateway>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorize(&gateway, &headers) {
        return denied;
    }
    match gateway.reload() {
        Ok(report) => {
            info!(
                models = report.models,
                providers = report.providers,
                "config reloaded"
            );
            for note in &report.ignored {
                warn!("reload: {note}");
            }
            answer(
                StatusCode::OK,
                serde_json::json!({
                    "status": "reloaded",
                    "models": report.models,
                    "providers": report.providers,
                    "ignored": report.ignored,
                }),
            )
        }
        Err(reason) => {
            warn!("reload rejected, the running config keeps serving: {reason}");
            error(StatusCode::BAD_REQUEST, "invalid_config", &reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
