//! Dispatch: try the plan's targets in order until one answers. Failover happens only before any
//! byte of a response has reached the client, and only for failures another deployment may not share.

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use sy_core::GatewayError;
use sy_dialect::Translation;
use sy_provider::{Dialect, Operation, Provider, UpstreamResponse, upstream_request_id};
use sy_router::{MAX_RETRY_AFTER, PlanInput, Target, backoff};
use tracing::warn;

use crate::relay;
use crate::request::RequestContext;
use crate::state::Snapshot;

/// Error bodies larger than this are cut when read for classification.
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// A successful upstream answer, with what produced it.
#[derive(Debug)]
pub struct Dispatched {
    pub response: UpstreamResponse,
    pub provider: Arc<Provider>,
    /// The gateway added `stream_options.include_usage`; the usage chunk must be stripped.
    pub added_stream_usage: bool,
    /// The time limits of the deployment that answered.
    pub timeouts: sy_config::Timeouts,
    /// The request was translated for an upstream of this dialect; its answer must be too.
    pub translated: Option<(Dialect, Translation)>,
}

/// What one target is sent.
#[derive(Debug)]
pub struct Outgoing {
    pub operation: Operation,
    pub body: Bytes,
    /// The gateway asked for streamed usage the client did not ask for.
    pub added_stream_usage: bool,
    /// Set when the body was translated into the upstream's dialect.
    pub translated: Option<(Dialect, Translation)>,
    /// The upstream's error bodies mean the same to the caller (same dialect), so they may be
    /// passed back as sent. Not so for a native body sent through another vendor's API (Claude
    /// on Bedrock's InvokeModel answers its errors in Bedrock's shape).
    pub caller_reads_errors: bool,
    /// Paths of the caller's harmless fields this target has no place for, left out (listed to
    /// the caller in `x-switchyard-dropped-params`).
    pub dropped: Vec<String>,
    /// The caller's beta flags, for an Anthropic upstream's `anthropic-beta` header.
    pub anthropic_beta: Option<HeaderValue>,
}

/// Why no deployment answered.
#[derive(Debug)]
pub enum DispatchError {
    /// The gateway's own classification (connect error, timeout, ...).
    Gateway(GatewayError),
    /// The last upstream answered with an error status; its answer is kept so a caller of the
    /// same dialect gets it back faithfully.
    Upstream {
        error: GatewayError,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        /// The upstream speaks the caller's dialect (its error body means the same to it).
        same_dialect: bool,
    },
}

impl DispatchError {
    pub fn error(&self) -> &GatewayError {
        match self {
            Self::Gateway(e) | Self::Upstream { error: e, .. } => e,
        }
    }
}

/// The list `x-switchyard-dropped-params` carries, when something was dropped. A path that is
/// not plain ASCII (an unknown key the caller named oddly) is left out of the header.
fn dropped_params(dropped: &[String]) -> Option<HeaderValue> {
    let printable = dropped
        .iter()
        .filter(|path| path.bytes().all(|b| (0x20..0x7f).contains(&b)));
    let mut text = String::new();
    for path in printable {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(path);
    }
    if text.is_empty() {
        return None;
    }
    // Taken as it is, without another copy.
    HeaderValue::try_from(text).ok()
}

/// The `anthropic-beta` header for `betas`, when there are any.
pub fn anthropic_beta_header(betas: &[String]) -> Option<HeaderValue> {
    if betas.is_empty() {
        return None;
    }
    HeaderValue::from_str(&betas.join(",")).ok()
}

/// What to send to one target. An `InvalidRequest` error means this target cannot take the
/// request (e.g. a field its dialect cannot express): the next target is tried, and the error is
/// the answer only if no target can.
pub type BodyFor<'a> =
    dyn Fn(&Target, &Provider) -> Result<Outgoing, GatewayError> + Send + Sync + 'a;

/// Tries the plan: first each deployment in order (failover, no pause), then, while attempts and the
/// retry budget last, the deployments again from the top after a backoff (or the upstream's
/// `Retry-After`, when it is short enough to wait out).
pub async fn dispatch(
    ctx: &mut RequestContext,
    snapshot: &Snapshot,
    plan: &[&Target],
    max_attempts: u32,
    body_for: &BodyFor<'_>,
) -> Result<Dispatched, DispatchError> {
    // Kept in the context throughout, so a request abandoned mid-attempt is recorded with what
    // it was sent to.
    let budget = snapshot.table.retry_budget();
    budget.earn();
    let mut last: Option<DispatchError> = None;
    // Targets that cannot take the request, and the first such refusal.
    let mut refused = vec![false; plan.len()];
    let mut refusal: Option<GatewayError> = None;
    let attempts = max_attempts.max(1) as usize;
    for k in 0..attempts {
        let Some(&target) = plan.get(k % plan.len().max(1)) else {
            break;
        };
        if refused.iter().all(|r| *r) {
            break;
        }
        if refused[k % plan.len()] {
            continue;
        }
        let Some(provider) = snapshot.providers.get(target.provider_index).cloned() else {
            continue;
        };
        let outgoing = match body_for(target, &provider) {
            Ok(outgoing) => outgoing,
            Err(e) if matches!(e.kind, sy_core::ErrorKind::InvalidRequest { .. }) => {
                refused[k % plan.len()] = true;
                refusal.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(DispatchError::Gateway(e)),
        };
        if k > 0 && ctx.routed.attempts > 0 {
            if !budget.try_spend() {
                warn!(request_id = %ctx.id, "retry budget spent: not retrying");
                break;
            }
            if k >= plan.len() {
                let wait_for = last.as_ref().and_then(retry_after);
                if wait_for.is_some_and(|w| w > MAX_RETRY_AFTER) {
                    break;
                }
                let pause = backoff((k - plan.len()) as u32, sy_core::random_u64());
                tokio::time::sleep(pause.max(wait_for.unwrap_or_default())).await;
            }
        }
        ctx.routed.attempts += 1;
        ctx.routed.provider = Some(target.provider.clone());
        ctx.routed.deployment = Some(target.deployment.clone());
        ctx.routed.upstream_model = Some(target.upstream_model.clone());
        ctx.routed.region = target.region.clone();
        ctx.routed.price = target.price_point_at(plan_input_unix());
        let Outgoing {
            operation,
            body,
            added_stream_usage,
            translated,
            caller_reads_errors: same_dialect,
            dropped,
            anthropic_beta,
        } = outgoing;
        ctx.routed.dropped = dropped_params(&dropped);
        let attempt_started = Instant::now();
        // Never past the request's total limit, which earlier attempts have spent from.
        let head_timeout = target.timeouts.head(ctx.stream).min(
            relay::deadline(ctx, &target.timeouts)
                .saturating_duration_since(tokio::time::Instant::now()),
        );
        let sent = provider
            .send(
                operation,
                &target.upstream_model,
                body,
                anthropic_beta,
                head_timeout,
            )
            .await;
        let failure = match sent {
            Ok(response) if response.status.is_success() => {
                target.health.record_success(attempt_started.elapsed());
                ctx.routed.upstream_request_id = upstream_request_id(&response.headers)
                    .and_then(|v| http::HeaderValue::from_str(v).ok());
                return Ok(Dispatched {
                    response,
                    provider,
                    added_stream_usage,
                    timeouts: target.timeouts,
                    translated,
                });
            }
            Ok(response) => {
                ctx.routed.upstream_request_id = upstream_request_id(&response.headers)
                    .and_then(|v| http::HeaderValue::from_str(v).ok());
                let UpstreamResponse {
                    status,
                    headers,
                    mut body,
                } = response;
                let bytes = relay::read_bounded(&mut body, MAX_ERROR_BODY, target.timeouts.idle)
                    .await
                    .unwrap_or_default();
                let error = provider.classify(status, &headers, &bytes);
                DispatchError::Upstream {
                    error,
                    status,
                    headers,
                    body: bytes,
                    same_dialect,
                }
            }
            Err(error) => DispatchError::Gateway(error),
        };
        let retryable = failure.error().retryable();
        if retryable {
            // Only failures another deployment may not share count against this one's health.
            target
                .health
                .record_failure(monotonic_ms(), snapshot.table.policy());
        }
        warn!(
            request_id = %ctx.id,
            provider = %target.provider,
            deployment = %target.deployment,
            error = %failure.error(),
            retryable,
            "upstream attempt failed"
        );
        if !retryable {
            return Err(failure);
        }
        last = Some(failure);
    }
    Err(last
        .or_else(|| refusal.map(DispatchError::Gateway))
        .unwrap_or_else(|| {
            DispatchError::Gateway(GatewayError::internal("the model has no usable deployment"))
        }))
}

/// How long the upstream asked us to wait, from its error.
fn retry_after(failure: &DispatchError) -> Option<std::time::Duration> {
    match failure {
        // A header, else what the vendor said in its body (e.g. Gemini's RetryInfo).
        DispatchError::Upstream { headers, error, .. } => {
            sy_provider::retry_after(headers).or_else(|| error.retry_after())
        }
        DispatchError::Gateway(e) => e.retry_after(),
    }
}

/// Milliseconds on a monotonic clock that starts with the process.
pub fn monotonic_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The time and randomness one routing decision needs.
pub fn plan_input() -> PlanInput {
    PlanInput {
        now_ms: monotonic_ms(),
        now_unix: plan_input_unix(),
        random: sy_core::random_u64(),
    }
}

/// Seconds since the Unix epoch: licence windows and prices in force are judged by it.
fn plan_input_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_params_lists_printable_paths_only() {
        let listed = |paths: &[&str]| {
            let owned: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
            dropped_params(&owned).map(|v| v.to_str().unwrap_or("?").to_owned())
        };
        assert_eq!(listed(&[]), None);
        assert_eq!(listed(&["seed"]), Some("seed".to_owned()));
        assert_eq!(
            listed(&["seed", "odd\u{7f}key", "messages[1].name", "caf\u{e9}"]),
            Some("seed, messages[1].name".to_owned())
        );
        assert_eq!(listed(&["line\nbreak"]), None);
    }
}
