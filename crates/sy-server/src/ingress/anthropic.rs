//! Anthropic Messages ingress: `POST /v1/messages` and `POST /v1/messages/count_tokens`, for
//! callers using the Anthropic SDK (`x-api-key` or Bearer).

use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::json;
use sy_dialect::anthropic as ant;
use sy_provider::Dialect;

use super::count::{Counting, count};
use super::{
    Accepted, Call, ErrorShape, Ingress, accept, lenient, pass_through_body, read_head, run,
};
use crate::state::Gateway;

const SHAPE: ErrorShape = ErrorShape::Anthropic;

pub async fn messages(State(gateway): State<Gateway>, request: Request) -> Response {
    let Accepted {
        ctx,
        slot,
        parts,
        body,
    } = match accept(&gateway, request, "messages", SHAPE).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let decoded =
        read_head(&body).and_then(|head| Ok((head, lenient(ant::decode_request(&body))?)));
    let ((model, stream), decoded) = match decoded {
        Ok(found) => found,
        Err(e) => return SHAPE.respond(ctx, &e),
    };
    let call = Call {
        ingress: Ingress::Anthropic,
        model,
        stream,
        decoded,
        echo: None,
        body,
    };
    run(gateway, ctx, slot, &parts.headers, call).await
}

/// Counts a request's input tokens: by the model's own Anthropic deployment when the plan has
/// one, else estimated (and said so in `x-switchyard-estimated`).
pub async fn count_tokens(State(gateway): State<Gateway>, request: Request) -> Response {
    let accepted = match accept(&gateway, request, "count_tokens", SHAPE).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let model = match read_head(&accepted.body) {
        Ok((model, _)) => model,
        Err(e) => return SHAPE.respond(accepted.ctx, &e),
    };
    let counting = Counting {
        shape: SHAPE,
        dialect: Dialect::Anthropic,
        body_for: &|body, target| pass_through_body(body, &target.upstream_model),
        estimate: &|tokens| json!({ "input_tokens": tokens }),
    };
    count(&gateway, accepted, model, &counting).await
}
