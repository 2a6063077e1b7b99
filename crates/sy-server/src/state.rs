//! The gateway's shared state: the live routing snapshot, the providers, admission and metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use sy_config::Config;
use sy_provider::Provider;
use sy_router::RoutingTable;

use crate::admission::Admission;
use crate::metrics::Metrics;

/// Everything a request needs from one config: swapped as a whole, never mutated.
#[derive(Debug)]
pub struct Snapshot {
    pub table: RoutingTable,
    pub providers: Vec<Arc<Provider>>,
    pub config: Config,
}

impl Snapshot {
    pub fn build(config: Config) -> Result<Self, String> {
        let providers = config
            .providers
            .iter()
            .map(|p| {
                Provider::new(p)
                    .map(Arc::new)
                    .map_err(|e| format!("provider `{}`: {e}", p.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            table: RoutingTable::from_config(&config),
            providers,
            config,
        })
    }
}

/// Shared by every request handler.
#[derive(Debug, Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    snapshot: ArcSwap<Snapshot>,
    admission: Admission,
    metrics: Metrics,
    draining: AtomicBool,
}

impl Gateway {
    pub fn new(config: Config) -> Result<Self, String> {
        let admission = Admission::new(&config.server);
        let snapshot = Snapshot::build(config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                snapshot: ArcSwap::from_pointee(snapshot),
                admission,
                metrics: Metrics::new(),
                draining: AtomicBool::new(false),
            }),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    pub(crate) fn admission(&self) -> &Admission {
        &self.inner.admission
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Marks the gateway as shutting down: `/readyz` fails so load balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }
}
