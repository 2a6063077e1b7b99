//! OpenAI Responses ingress: `POST /v1/responses`, stateless. Stored responses
//! (`store: true`, `previous_response_id`) are refused by the codec with a 400 saying storage is
//! not enabled.

use axum::extract::{Request, State};
use axum::response::Response;
use sy_dialect::openai_responses;

use super::{Accepted, Call, ErrorShape, Ingress, accept, invalid, read_head, run};
use crate::state::Gateway;

const SHAPE: ErrorShape = ErrorShape::OpenAi;

pub async fn create(State(gateway): State<Gateway>, request: Request) -> Response {
    let Accepted {
        ctx,
        slot,
        parts,
        body,
    } = match accept(&gateway, request, "responses", SHAPE).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let decoded = read_head(&body).and_then(|head| {
        let decoded = openai_responses::decode_request_with_echo(&body).map_err(invalid)?;
        Ok((head, decoded))
    });
    let ((model, stream), (decoded, echo)) = match decoded {
        Ok(found) => found,
        Err(e) => return SHAPE.respond(ctx, &e),
    };
    let call = Call {
        ingress: Ingress::Responses,
        model,
        stream,
        decoded: Ok(decoded),
        echo: Some(echo),
        body,
    };
    run(gateway, ctx, slot, &parts.headers, call).await
}
