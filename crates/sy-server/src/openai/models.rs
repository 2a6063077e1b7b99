//! `GET /v1/models`: the model names configured on this gateway that the caller may use.

use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{CONTENT_TYPE, HeaderValue};
use std::time::{SystemTime, UNIX_EPOCH};
use sy_wire::openai::models::ModelList;

use super::error::respond;
use crate::metrics::Outcome;
use crate::plan::authenticate;
use crate::request::RequestContext;
use crate::state::Gateway;

pub async fn list_models(State(gateway): State<Gateway>, request: Request) -> Response {
    let mut ctx = RequestContext::start(&gateway, "models");
    if let Err(e) = authenticate(&gateway, &mut ctx, request.headers()).await {
        return respond(ctx, &e);
    }
    let snapshot = gateway.snapshot();
    let caller = ctx.caller.as_ref();
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let list = ModelList::new(
        snapshot
            .table
            .routes()
            .filter(|r| caller.is_none_or(|c| c.may_use(&r.name)))
            .map(|r| (&*r.name, "switchyard")),
        created,
    );
    let mut response = Response::new(serde_json::to_vec(&list).unwrap_or_default().into());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    ctx.write_headers(response.headers_mut());
    ctx.status = 200;
    ctx.outcome = Outcome::Completed;
    response
}
