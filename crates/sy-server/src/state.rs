//! The gateway's shared state: the live routing snapshot, the providers, admission and metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use sy_config::{AuthMode, Config};
use sy_limits::Limiter;
use sy_provider::Provider;
use sy_router::RoutingTable;
use sy_store::Store;

use crate::admission::Admission;
use crate::auth::Authenticator;
use crate::budget::Budgets;
use crate::images::ImageFetcher;
use crate::ledger::Ledger;
use crate::metrics::Metrics;

/// Everything a request needs from one config: swapped as a whole, never mutated.
#[derive(Debug)]
pub struct Snapshot {
    pub table: RoutingTable,
    pub providers: Vec<Arc<Provider>>,
    pub config: Config,
}

impl Snapshot {
    pub fn build(config: Config, previous: Option<&Snapshot>) -> Result<Self, String> {
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
            table: RoutingTable::from_config_after(&config, previous.map(|p| &p.table)),
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

/// Produces a fresh config for a reload (re-reading the file the gateway started from).
pub type ConfigSource = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

struct Inner {
    snapshot: ArcSwap<Snapshot>,
    admission: Admission,
    metrics: Metrics,
    draining: AtomicBool,
    source: Option<ConfigSource>,
    store: Option<Store>,
    /// Present in `keys` mode.
    auth: Option<Authenticator>,
    limiter: Limiter,
    /// Present with a store: every request's usage record goes through it.
    ledger: Option<Ledger>,
    budgets: Arc<Budgets>,
    /// How image URLs are fetched under `[images] fetch_urls`: built on first use.
    image_fetcher: OnceLock<ImageFetcher>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("snapshot", &self.snapshot)
            .field("draining", &self.draining)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway without a store: open mode only, no admin API for tenants and keys.
    pub fn new(config: Config) -> Result<Self, String> {
        Self::with_source(config, None, None)
    }

    /// A gateway that can reload (`source` re-reads the config on SIGHUP or
    /// `POST /admin/v1/reload`) and keeps tenants and keys in `store` (required in `keys` mode).
    /// Must be called inside the Tokio runtime: it starts the task that follows key changes.
    pub fn with_source(
        config: Config,
        source: Option<ConfigSource>,
        store: Option<Store>,
    ) -> Result<Self, String> {
        let admission = Admission::new(&config.server);
        let auth = match (config.auth, &store) {
            (AuthMode::Open, _) => None,
            (AuthMode::Keys, Some(store)) => {
                let auth = Authenticator::new(store.clone());
                auth.follow_changes();
                Some(auth)
            }
            (AuthMode::Keys, None) => {
                return Err("auth.mode = \"keys\" needs the store".to_owned());
            }
        };
        let limiter = crate::limits::limiter(&config.storage)?;
        let ledger = store
            .as_ref()
            .map(|store| Ledger::start(store.clone(), config.ledger.durability));
        let budgets = Arc::new(Budgets::default());
        if let (AuthMode::Keys, Some(store)) = (config.auth, &store) {
            Budgets::tend(Arc::clone(&budgets), store.clone());
        }
        let snapshot = Snapshot::build(config, None)?;
        Ok(Self {
            inner: Arc::new(Inner {
                snapshot: ArcSwap::from_pointee(snapshot),
                admission,
                metrics: Metrics::new(),
                draining: AtomicBool::new(false),
                source,
                store,
                auth,
                limiter,
                ledger,
                budgets,
                image_fetcher: OnceLock::new(),
            }),
        })
    }

    /// Re-reads the config and swaps the routing snapshot atomically. A config that does not validate
    /// is rejected with the reason and the running one keeps serving; requests in flight finish on
    /// the snapshot they started with. Server settings (address, limits, TLS on or off) need a
    /// restart; renewed TLS certificate files are served to new connections.
    pub fn reload(&self) -> Result<ReloadReport, String> {
        let source = self.inner.source.as_ref().ok_or_else(|| {
            "this gateway was started without a config source to reload".to_owned()
        })?;
        let config = source()?;
        let previous = self.snapshot();
        let mut ignored = Vec::new();
        let (old, new) = (&previous.config.server, &config.server);
        if old.listen != new.listen
            || old.max_body_bytes != new.max_body_bytes
            || old.max_concurrent_requests != new.max_concurrent_requests
            || old.tls.is_some() != new.tls.is_some()
        {
            ignored.push("[server] settings change only on restart".to_owned());
        }
        let (old_storage, new_storage) = (&previous.config.storage, &config.storage);
        if old_storage.url != new_storage.url || old_storage.redis != new_storage.redis {
            ignored.push("[storage] settings change only on restart".to_owned());
        }
        if previous.config.auth != config.auth {
            ignored.push("auth.mode changes only on restart".to_owned());
        }
        let snapshot = Snapshot::build(config, Some(&previous))?;
        let report = ReloadReport {
            models: snapshot.config.models.len(),
            providers: snapshot.providers.len(),
            ignored,
        };
        self.inner.snapshot.store(Arc::new(snapshot));
        Ok(report)
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    pub(crate) fn admission(&self) -> &Admission {
        &self.inner.admission
    }

    pub fn store(&self) -> Option<&Store> {
        self.inner.store.as_ref()
    }

    pub(crate) fn auth(&self) -> Option<&Authenticator> {
        self.inner.auth.as_ref()
    }

    pub fn ledger(&self) -> Option<&Ledger> {
        self.inner.ledger.as_ref()
    }

    pub fn budgets(&self) -> &Budgets {
        &self.inner.budgets
    }

    pub fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// How image URLs are fetched: public addresses and the platform's root certificates, unless
    /// [`Gateway::set_image_fetcher`] chose otherwise.
    pub(crate) fn image_fetcher(&self) -> Result<&ImageFetcher, sy_core::GatewayError> {
        if let Some(fetcher) = self.inner.image_fetcher.get() {
            return Ok(fetcher);
        }
        let fetcher = ImageFetcher::public().map_err(|e| {
            sy_core::GatewayError::new(sy_core::ErrorKind::Internal, format!("image fetching: {e}"))
        })?;
        Ok(self.inner.image_fetcher.get_or_init(|| fetcher))
    }

    /// Fetches image URLs with `fetcher` instead (tests: a loopback server and its throwaway
    /// certificate). Code only, never config. False if a fetcher was already in use.
    pub fn set_image_fetcher(&self, fetcher: ImageFetcher) -> bool {
        self.inner.image_fetcher.set(fetcher).is_ok()
    }

    /// Marks the gateway as shutting down: `/readyz` fails so load balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }
}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    pub models: usize,
    pub providers: usize,
    /// Parts of the new config that take effect only after a restart.
    pub ignored: Vec<String>,
}
