//! Per-request context: the gateway's request id, timing, what routing decided, and how it ended.
//! Dropping the context records the request (metrics, debug log) exactly once, however it ended:
//! a handler dropped mid-way or a stream abandoned by its client counts as client-aborted.

use std::sync::Arc;
use std::time::Instant;

use http::HeaderValue;
use http::header::{HeaderMap, HeaderName};
use sy_config::PricePoint;
use sy_core::RequestId;
use sy_limits::{Grant, RateStatus};
use sy_store::{Tokens, UsageRecord};
use sy_wire::openai::Usage;
use tracing::debug;

use crate::auth::Caller;
use crate::metrics::Outcome;
use crate::state::Gateway;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_PROVIDER: HeaderName = HeaderName::from_static("x-switchyard-provider");
static X_DEPLOYMENT: HeaderName = HeaderName::from_static("x-switchyard-deployment");
static X_ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
static X_UPSTREAM_REQUEST_ID: HeaderName =
    HeaderName::from_static("x-switchyard-upstream-request-id");
static X_COST: HeaderName = HeaderName::from_static("x-switchyard-cost-usd");
static X_BUDGET_WARNING: HeaderName = HeaderName::from_static("x-switchyard-budget-warning");
static X_DROPPED: HeaderName = HeaderName::from_static("x-switchyard-dropped-params");

/// Which deployment answered, reported in the routing headers and the usage record.
#[derive(Debug, Clone, Default)]
pub struct Routed {
    pub provider: Option<Arc<str>>,
    pub deployment: Option<Arc<str>>,
    pub upstream_model: Option<Arc<str>>,
    pub region: Option<Arc<str>>,
    /// The deployment's price when the request was sent (`None`: unknown).
    pub price: Option<PricePoint>,
    pub attempts: u32,
    pub upstream_request_id: Option<HeaderValue>,
    /// The caller's fields the answering target had no place for, as listed to the caller.
    pub dropped: Option<HeaderValue>,
}

#[derive(Debug)]
pub struct RequestContext {
    pub id: RequestId,
    pub started: Instant,
    pub endpoint: &'static str,
    pub model: Option<Arc<str>>,
    pub routed: Routed,
    pub status: u16,
    pub outcome: Outcome,
    pub usage: Option<Usage>,
    /// Usage of a translated answer, already in disjoint buckets (the upstream's own counts).
    pub translated_usage: Option<Tokens>,
    /// The authenticated caller (none in open mode).
    pub caller: Option<Caller>,
    /// The request's hold on its rate limits: released, and its token estimate corrected, on drop.
    pub grant: Option<Grant>,
    /// Where the caller stands against its limits, for the rate-limit headers.
    pub rate: Option<RateStatus>,
    /// When the request arrived, in Unix milliseconds (the usage record's time).
    pub started_unix_ms: i64,
    pub stream: bool,
    /// Input tokens estimated from the request, for a record without reported usage.
    pub input_estimate: u64,
    /// Stream events delivered to the client: the output estimate of an abandoned stream.
    pub delivered_events: u64,
    /// From arrival to the first byte of the answer's body reaching the client (streams).
    pub first_byte: Option<std::time::Duration>,
    /// Money held against the caller's budgets: what the request did not spend goes back when it
    /// ends, and its usage record settles its cost.
    pub budget_hold: Option<crate::budget::Hold>,
    /// Soft budgets this request went past (`key key_…`, `tenant acme`), reported in a header.
    pub over_soft_budgets: Vec<String>,
    /// The usage record was already written (durability "sync").
    recorded: bool,
    gateway: Gateway,
}

impl RequestContext {
    pub fn start(gateway: &Gateway, endpoint: &'static str) -> Self {
        gateway.metrics().started();
        Self {
            id: RequestId::mint(),
            started: Instant::now(),
            endpoint,
            model: None,
            routed: Routed::default(),
            status: 0,
            outcome: Outcome::ClientAborted,
            usage: None,
            translated_usage: None,
            caller: None,
            grant: None,
            rate: None,
            started_unix_ms: sy_store::Store::now_ms(),
            stream: false,
            input_estimate: 0,
            delivered_events: 0,
            first_byte: None,
            budget_hold: None,
            over_soft_budgets: Vec::new(),
            recorded: false,
            gateway: gateway.clone(),
        }
    }

    /// `x-request-id` and the routing headers of the contract.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(self.id.as_str()) {
            headers.insert(X_REQUEST_ID.clone(), v);
        }
        let routed = &self.routed;
        if let Some(p) = routed
            .provider
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            headers.insert(X_PROVIDER.clone(), p);
        }
        if let Some(d) = routed
            .deployment
            .as_deref()
            .and_then(|d| HeaderValue::from_str(d).ok())
        {
            headers.insert(X_DEPLOYMENT.clone(), d);
        }
        headers.insert(X_ATTEMPTS.clone(), HeaderValue::from(routed.attempts));
        if let Some(id) = &routed.upstream_request_id {
            headers.insert(X_UPSTREAM_REQUEST_ID.clone(), id.clone());
        }
        if let Some(dropped) = &routed.dropped {
            headers.insert(X_DROPPED.clone(), dropped.clone());
        }
        if let Some(rate) = &self.rate {
            crate::limits::write_headers(rate, headers);
        }
        if !self.over_soft_budgets.is_empty()
            && let Ok(v) = HeaderValue::from_str(&format!(
                "soft budget exceeded: {}",
                self.over_soft_budgets.join(", ")
            ))
        {
            headers.insert(X_BUDGET_WARNING.clone(), v);
        }
    }

    /// `x-switchyard-cost-usd`, the answer's exact cost, when the operator enables it and the
    /// price is known.
    pub fn write_cost_header(&self, headers: &mut HeaderMap) {
        if !self.gateway.snapshot().config.ledger.cost_header {
            return;
        }
        let (tokens, _) = self.tokens();
        if let Some(pico) = self.cost_pico(&tokens)
            && let Ok(v) = HeaderValue::from_str(&crate::ledger::format_usd(i128::from(pico)))
        {
            headers.insert(X_COST.clone(), v);
        }
    }

    /// The request's usage in disjoint buckets and where the counts come from.
    fn tokens(&self) -> (Tokens, &'static str) {
        let aborted = self.outcome == Outcome::ClientAborted && self.routed.attempts > 0;
        if let Some(tokens) = self.translated_usage {
            return (tokens, "reported");
        }
        match &self.usage {
            Some(usage) => (crate::ledger::buckets(usage), "reported"),
            // Abandoned or cut short: what was asked and what was delivered, never zero.
            None if aborted || (self.stream && self.delivered_events > 0) => (
                Tokens {
                    input: self.input_estimate,
                    output: self.delivered_events,
                    ..Tokens::default()
                },
                "estimated",
            ),
            None => (Tokens::default(), "none"),
        }
    }

    fn cost_pico(&self, tokens: &Tokens) -> Option<i64> {
        match &self.routed.price {
            Some(price) => crate::ledger::cost_pico(tokens, price),
            // Nothing was sent anywhere: nothing to price.
            None if self.routed.attempts == 0 => Some(0),
            None => None,
        }
    }

    /// With `ledger.durability = "sync"`, writes the usage record now, so the response completes
    /// only once it is durable; otherwise (and for a request with no record) does nothing and the
    /// record is queued when the context drops.
    pub async fn finish_sync(&mut self) {
        let Some(ledger) = self.gateway.ledger() else {
            return;
        };
        if ledger.durability() != sy_config::Durability::Sync {
            return;
        }
        if let Some(record) = self.usage_record() {
            // Boxed: the store's write is a future of kilobytes, and a streamed answer's body
            // holds the space of every future it awaits for as long as the stream lasts.
            Box::pin(ledger.write_now(record)).await;
            self.recorded = true;
        }
    }

    /// The request's usage record, once it knows which model was asked for.
    fn usage_record(&self) -> Option<UsageRecord> {
        let model = self.model.as_deref()?;
        let routed = &self.routed;
        let (tokens, source) = self.tokens();
        let cost_pico = self.cost_pico(&tokens);
        let status = match self.outcome {
            Outcome::Completed => "completed",
            Outcome::ClientAborted => "client_aborted",
            Outcome::Failed if routed.attempts == 0 => "refused",
            Outcome::Failed => "failed",
        };
        Some(UsageRecord {
            request_id: self.id.as_str().to_owned(),
            started_at: self.started_unix_ms,
            tenant: self.caller.as_ref().map(|c| c.tenant.id.to_string()),
            key_id: self.caller.as_ref().map(|c| c.key.id.to_string()),
            model: model.to_owned(),
            served_model: routed.upstream_model.as_deref().map(str::to_owned),
            provider: routed.provider.as_deref().map(str::to_owned),
            deployment: routed.deployment.as_deref().map(str::to_owned),
            region: routed.region.as_deref().map(str::to_owned),
            endpoint: self.endpoint.to_owned(),
            status: status.to_owned(),
            http_status: self.status,
            attempts: routed.attempts,
            latency_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            ttft_ms: self
                .first_byte
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            stream: self.stream,
            tokens,
            usage_source: source.to_owned(),
            cost_pico,
            budget_counters: self
                .budget_hold
                .as_ref()
                .map(|hold| hold.counters.clone())
                .unwrap_or_default(),
        })
    }

    /// Records the rate-limit admission so its windows are reported and its hold released.
    pub fn hold(&mut self, grant: Grant) {
        self.rate = Some(*grant.status());
        self.grant = Some(grant);
    }
}

impl Drop for RequestContext {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        if !self.recorded
            && let Some(ledger) = self.gateway.ledger()
            && let Some(record) = self.usage_record()
        {
            if record.cost_pico.is_none() {
                ledger.warn_unpriced(&record);
            }
            ledger.submit(record);
        }
        if let Some(hold) = self.budget_hold.take() {
            let (tokens, _) = self.tokens();
            let cost = sy_store::cost_nano(self.cost_pico(&tokens));
            self.gateway.budgets().release(&hold, cost);
        }
        if let Some(grant) = &mut self.grant {
            let reported = self
                .translated_usage
                .map(|t| t.input + t.cache_read + t.cache_write + t.output + t.reasoning)
                .or(self
                    .usage
                    .as_ref()
                    .map(|u| u.prompt_tokens + u.completion_tokens));
            match reported {
                Some(tokens) => grant.settle(tokens),
                // Refused or failed before any answer: no tokens were spent. A stream cut short
                // or abandoned keeps its estimate: part of it was.
                None if self.status >= 400 => grant.settle(0),
                None => {}
            }
        }
        let metrics = self.gateway.metrics();
        metrics.finished(self.endpoint, self.status, self.outcome, elapsed);
        if let (Some(usage), Some(model), Some(provider)) =
            (&self.usage, &self.model, &self.routed.provider)
        {
            metrics.usage(model, provider, usage);
        }
        debug!(
            request_id = %self.id,
            endpoint = self.endpoint,
            model = self.model.as_deref().unwrap_or(""),
            key = self.caller.as_ref().map_or("", |c| &*c.key.id),
            tenant = self.caller.as_ref().map_or("", |c| &*c.tenant.id),
            provider = self.routed.provider.as_deref().unwrap_or(""),
            deployment = self.routed.deployment.as_deref().unwrap_or(""),
            attempts = self.routed.attempts,
            status = self.status,
            outcome = ?self.outcome,
            prompt_tokens = self.usage.as_ref().map_or(0, |u| u.prompt_tokens),
            completion_tokens = self.usage.as_ref().map_or(0, |u| u.completion_tokens),
            elapsed_us = elapsed.as_micros() as u64,
            "request finished"
        );
    }
}
