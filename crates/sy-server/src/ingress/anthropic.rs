//! Anthropic Messages ingress: `POST /v1/messages` and `POST /v1/messages/count_tokens`, for
//! callers using the Anthropic SDK (`x-api-key` or Bearer).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{CONTENT_TYPE, HeaderValue};
use serde_json::json;
use sy_dialect::anthropic as ant;
use sy_provider::{Dialect, Operation};
use sy_router::Needs;

use super::{
    Accepted, Call, ErrorShape, Ingress, accept, lenient, pass_through_body, read_head, run,
};
use crate::metrics::Outcome;
use crate::plan;
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
/// one, else estimated from the body's size (and said so in `x-switchyard-estimated`).
pub async fn count_tokens(State(gateway): State<Gateway>, request: Request) -> Response {
    let Accepted {
        mut ctx,
        slot: _slot,
        parts,
        body,
    } = match accept(&gateway, request, "count_tokens", SHAPE).await {
        Ok(accepted) => accepted,
        Err(response) => return response,
    };
    let model = match read_head(&body) {
        Ok((model, _)) => model,
        Err(e) => return SHAPE.respond(ctx, &e),
    };
    ctx.model = Some(model.as_str().into());
    let needs = Needs {
        chat: true,
        output_tokens: Some(0),
        ..Needs::default()
    };
    let snapshot = gateway.snapshot();
    let planned = match plan::admit_and_plan(
        &gateway,
        &mut ctx,
        &snapshot,
        &parts.headers,
        &model,
        &needs,
    )
    .await
    {
        Ok(planned) => planned,
        Err(e) => return SHAPE.respond(ctx, &e),
    };
    let anthropic = planned.targets.iter().find_map(|target| {
        let provider = snapshot.providers.get(target.provider_index)?;
        (provider.dialect() == Dialect::Anthropic).then_some((target, provider))
    });
    if let Some((target, provider)) = anthropic {
        let sent = match pass_through_body(&body, &target.upstream_model) {
            Ok(edited) => {
                provider
                    .send(
                        Operation::CountTokens,
                        &target.upstream_model,
                        edited,
                        &target.timeouts,
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        let upstream = match sent {
            Ok(upstream) => upstream,
            Err(e) => return SHAPE.respond(ctx, &e),
        };
        let read =
            crate::relay::read_bounded(&mut { upstream.body }, 1024 * 1024, target.timeouts.idle)
                .await;
        let Ok(answer) = read else {
            let e = sy_core::GatewayError::new(
                sy_core::ErrorKind::UpstreamFailed,
                format!("upstream provider `{}` broke off its answer", provider.name),
            );
            return SHAPE.respond(ctx, &e);
        };
        if !upstream.status.is_success() {
            let e = provider.classify(upstream.status, &upstream.headers, &answer);
            return SHAPE.respond(ctx, &e);
        }
        return answer_json(ctx, answer.to_vec(), false);
    }
    // About four bytes of JSON per token, as admission estimates.
    let estimate = (body.len() as u64).div_ceil(4);
    answer_json(
        ctx,
        json!({ "input_tokens": estimate }).to_string().into_bytes(),
        true,
    )
}

fn answer_json(
    mut ctx: crate::request::RequestContext,
    body: Vec<u8>,
    estimated: bool,
) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if estimated {
        headers.insert("x-switchyard-estimated", HeaderValue::from_static("true"));
    }
    if let Ok(id) = HeaderValue::from_str(ctx.id.as_str()) {
        headers.insert("request-id", id);
    }
    ctx.write_headers(headers);
    ctx.status = 200;
    ctx.outcome = Outcome::Completed;
    response
}
