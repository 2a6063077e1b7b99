//! The admin API (`/admin/v1/...`), opened by `auth.admin_key`: reload, tenants and keys.
//! Answers are JSON; errors carry stable codes (`{"error": {"code", "message"}}`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::{info, warn};

use sy_core::constant_time_eq;

use crate::state::Gateway;
use crate::tenancy::{AdminError, Tenancy, parse};

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

fn failed(e: &AdminError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(status, e.code, &e.message)
}

/// Authorizes the call, then runs `op` on the store and answers with its JSON (or its error).
async fn manage<F>(gateway: &Gateway, headers: &HeaderMap, created: bool, op: F) -> Response
where
    F: AsyncFnOnce(Tenancy<'_>) -> Result<serde_json::Value, AdminError>,
{
    if let Err(denied) = authorize(gateway, headers) {
        return denied;
    }
    let Some(store) = gateway.store() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "this gateway runs without a store",
        );
    };
    match op(Tenancy { store }).await {
        Ok(body) if created => answer(StatusCode::CREATED, body),
        Ok(body) => answer(StatusCode::OK, body),
        Err(e) => {
            if e.status >= 500 {
                warn!(code = e.code, "admin call failed: {}", e.message);
            }
            failed(&e)
        }
    }
}

pub async fn create_tenant(State(g): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    manage(&g, &headers, true, async |t| {
        t.create_tenant(parse(&body)?).await
    })
    .await
}

pub async fn list_tenants(State(g): State<Gateway>, headers: HeaderMap) -> Response {
    manage(&g, &headers, false, async |t| t.tenants().await).await
}

pub async fn get_tenant(
    State(g): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    manage(&g, &headers, false, async |t| t.tenant(&id).await).await
}

pub async fn update_tenant(
    State(g): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    manage(&g, &headers, false, async |t| {
        t.update_tenant(&id, parse(&body)?).await
    })
    .await
}

/// `DELETE /admin/v1/tenants/{id}` disables the tenant: its keys are refused until it is enabled
/// again (`PATCH` with `"disabled": false`). Nothing is erased, so usage stays attributable.
pub async fn disable_tenant(
    State(g): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let disable = crate::tenancy::UpdateTenant {
        disabled: Some(true),
        ..Default::default()
    };
    manage(&g, &headers, false, async |t| {
        t.update_tenant(&id, disable).await
    })
    .await
}

pub async fn create_key(State(g): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    manage(&g, &headers, true, async |t| {
        t.create_key(parse(&body)?).await
    })
    .await
}

pub async fn list_keys(
    State(g): State<Gateway>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let tenant = query.get("tenant").cloned();
    let include_revoked = query
        .get("include_revoked")
        .is_some_and(|v| v == "true" || v == "1");
    manage(&g, &headers, false, async |t| {
        t.keys(tenant, include_revoked).await
    })
    .await
}

pub async fn get_key(
    State(g): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    manage(&g, &headers, false, async |t| t.key(&id).await).await
}

pub async fn update_key(
    State(g): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    manage(&g, &headers, false, async |t| {
        t.update_key(&id, parse(&body)?).await
    })
    .await
}

/// `DELETE /admin/v1/keys/{id}` and `POST /admin/v1/keys/{id}/revoke`.
pub async fn revoke_key(
    State(g): State<Gateway>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    manage(&g, &headers, false, async |t| t.revoke_key(&id).await).await
}

/// `GET /admin/v1/usage?tenant=&key=&model=&provider=&since=&until=&group_by=model,provider`.
pub async fn usage(
    State(g): State<Gateway>,
    Query(mut query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let params = crate::tenancy::UsageParams {
        tenant: query.remove("tenant"),
        key: query.remove("key"),
        model: query.remove("model"),
        provider: query.remove("provider"),
        since: query.remove("since"),
        until: query.remove("until"),
        group_by: query.remove("group_by"),
    };
    if let Some(unknown) = query.keys().next() {
        let e = AdminError::invalid(format!("unknown query parameter `{unknown}`"));
        return manage(&g, &headers, false, async |_| Err(e)).await;
    }
    manage(&g, &headers, false, async |t| {
        // Records still queued in this node's ledger are part of the answer.
        if let Some(ledger) = g.ledger() {
            ledger.flush().await;
        }
        t.usage(params).await
    })
    .await
}
