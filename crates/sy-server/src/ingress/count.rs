//! Token counting (Anthropic `count_tokens`, Bedrock `count-tokens`): asked of the model's first
//! planned deployment that speaks the caller's dialect, through its own count endpoint, else
//! estimated from the body's size and said so in `x-switchyard-estimated`. Counting spends no
//! tokens, so it holds no budget and is not priced.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use sy_core::{ErrorKind, GatewayError};
use sy_provider::{Dialect, Operation};
use sy_router::{Needs, Target};

use super::{Accepted, ErrorShape, anthropic_betas};
use crate::dispatch::anthropic_beta_header;
use crate::metrics::Outcome;
use crate::plan;
use crate::request::RequestContext;
use crate::state::Gateway;

/// Largest count answer read from an upstream.
const MAX_COUNT_ANSWER: usize = 64 * 1024;

/// How one dialect counts.
pub struct Counting<'a> {
    pub shape: ErrorShape,
    /// The upstream dialect whose count endpoint takes the caller's body.
    pub dialect: Dialect,
    /// The caller's body as that upstream takes it.
    pub body_for: &'a (dyn Fn(&Bytes, &Target) -> Result<Bytes, GatewayError> + Sync),
    /// The dialect's answer for an estimated count.
    pub estimate: &'a (dyn Fn(u64) -> Value + Sync),
}

pub async fn count(
    gateway: &Gateway,
    accepted: Accepted,
    model: String,
    counting: &Counting<'_>,
) -> Response {
    let Accepted {
        mut ctx,
        slot: _slot,
        parts,
        body,
    } = accepted;
    let shape = counting.shape;
    ctx.model = Some(model.as_str().into());
    let needs = Needs {
        chat: true,
        output_tokens: Some(0),
        ..Needs::default()
    };
    let snapshot = gateway.snapshot();
    let planned =
        match plan::admit_and_plan(gateway, &mut ctx, &snapshot, &parts.headers, &model, &needs)
            .await
        {
            Ok(planned) => planned,
            Err(e) => return shape.respond(ctx, &e),
        };
    let own = planned.targets.iter().find_map(|target| {
        let provider = snapshot.providers.get(target.provider_index)?;
        (provider.dialect() == counting.dialect).then_some((*target, provider))
    });
    let Some((target, provider)) = own else {
        // About four bytes of JSON per token, as admission estimates.
        let estimate = (counting.estimate)((body.len() as u64).div_ceil(4));
        return answer(ctx, shape, estimate.to_string().into_bytes(), true);
    };
    // Anthropic's API takes the beta flags as a header (Bedrock's, in the body as sent).
    let anthropic_beta = match counting.dialect {
        Dialect::Anthropic => anthropic_beta_header(&anthropic_betas(&parts.headers)),
        _ => None,
    };
    let sent = match (counting.body_for)(&body, target) {
        Ok(body) => {
            provider
                .send(
                    Operation::CountTokens,
                    &target.upstream_model,
                    body,
                    anthropic_beta,
                    // Counting is quick, so the first-byte limit bounds it as it does a stream's start.
                    target.timeouts.head(true),
                )
                .await
        }
        Err(e) => Err(e),
    };
    let mut upstream = match sent {
        Ok(upstream) => upstream,
        Err(e) => return shape.respond(ctx, &e),
    };
    let read =
        crate::relay::read_bounded(&mut upstream.body, MAX_COUNT_ANSWER, target.timeouts.idle)
            .await;
    let Ok(bytes) = read else {
        let e = GatewayError::new(
            ErrorKind::UpstreamFailed,
            format!("upstream provider `{}` broke off its answer", provider.name),
        );
        return shape.respond(ctx, &e);
    };
    if !upstream.status.is_success() {
        let e = provider.classify(upstream.status, &upstream.headers, &bytes);
        return shape.respond(ctx, &e);
    }
    answer(ctx, shape, bytes.to_vec(), false)
}

fn answer(mut ctx: RequestContext, shape: ErrorShape, body: Vec<u8>, estimated: bool) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if estimated {
        headers.insert("x-switchyard-estimated", HeaderValue::from_static("true"));
    }
    let id_header = match shape {
        ErrorShape::Anthropic => Some("request-id"),
        ErrorShape::Bedrock => Some("x-amzn-requestid"),
        ErrorShape::OpenAi => None,
    };
    if let (Some(name), Ok(id)) = (id_header, HeaderValue::from_str(ctx.id.as_str())) {
        headers.insert(name, id);
    }
    ctx.write_headers(headers);
    ctx.status = 200;
    ctx.outcome = Outcome::Completed;
    response
}
