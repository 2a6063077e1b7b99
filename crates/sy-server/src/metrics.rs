//! Prometheus metrics: requests by endpoint and status, tokens by model and provider, latency, in-flight.

use std::sync::atomic::AtomicI64;
use std::time::Duration;

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sy_wire::openai::Usage;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    status: u16,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: SharedLabel,
    provider: SharedLabel,
    kind: &'static str,
}

/// A label value shared with the request (an `Arc` clone, not a string copy per request).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct SharedLabel(Arc<str>);

impl EncodeLabelValue for SharedLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    duration: Family<EndpointLabels, Histogram>,
    in_flight: Gauge<i64, AtomicI64>,
}

/// How a request ended, for the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
    /// The client went away before the answer was complete.
    ClientAborted,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::ClientAborted => "client_aborted",
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("switchyard");
        let requests = Family::<RequestLabels, Counter>::default();
        let tokens = Family::<TokenLabels, Counter>::default();
        let duration = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register("requests", "Requests answered", requests.clone());
        registry.register("tokens", "Tokens reported by upstreams", tokens.clone());
        registry.register(
            "request_duration_seconds",
            "Time from request to the end of the answer",
            duration.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests in flight",
            in_flight.clone(),
        );
        Self {
            registry,
            requests,
            tokens,
            duration,
            in_flight,
        }
    }

    pub fn started(&self) {
        self.in_flight.inc();
    }

    pub fn finished(
        &self,
        endpoint: &'static str,
        status: u16,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        self.in_flight.dec();
        self.requests
            .get_or_create(&RequestLabels {
                endpoint,
                status,
                outcome: outcome.label(),
            })
            .inc();
        self.duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(elapsed.as_secs_f64());
    }

    pub fn usage(&self, model: &Arc<str>, provider: &Arc<str>, usage: &Usage) {
        let cached = usage.cached_tokens().min(usage.prompt_tokens);
        let reasoning = usage.reasoning_tokens().min(usage.completion_tokens);
        for (kind, n) in [
            ("input", usage.prompt_tokens - cached),
            ("cache_read", cached),
            ("output", usage.completion_tokens - reasoning),
            ("reasoning", reasoning),
        ] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: SharedLabel(model.clone()),
                        provider: SharedLabel(provider.clone()),
                        kind,
                    })
                    .inc_by(n);
            }
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
