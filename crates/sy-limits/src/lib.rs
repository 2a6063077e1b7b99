//! Rate limits per key and per tenant: requests per minute and tokens per minute as token buckets
//! (continuously refilled, the whole minute's allowance available as a burst, as the model vendors
//! do it), and concurrent requests as leases. Kept in process on one node, or shared through Redis
//! with atomic Lua scripts so several nodes enforce one limit together.
//!
//! Admission is all or nothing across every rule of a request: a request refused by one rule takes
//! nothing from the others.
//!
//! Invariant: a grant's hold ends when the grant is dropped, without blocking: in process at once,
//! in Redis by a task spawned on the current runtime (and otherwise by the lease's TTL).

mod bucket;
mod decide;
mod local;
mod remote;
pub mod testing;
#[cfg(test)]
mod tests;

pub use bucket::MAX_LIMIT;

use std::sync::Arc;
use std::time::Duration;

use decide::{Held, has_limits};
use local::{Clock, LocalLimiter};
use remote::Remote;

/// Whose limit a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Key,
    Tenant,
}

/// One holder's limits; `None` means unlimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub scope: Scope,
    /// The key id or tenant id.
    pub id: Arc<str>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u32>,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// Usually the key's rule and its tenant's rule.
    pub rules: &'a [Rule],
    /// Estimated tokens (input + output budget), corrected later with [`Grant::settle`].
    /// A request estimated above a whole minute's allowance is charged the allowance.
    pub tokens: u64,
    /// Unique per request (the request id): names the concurrency lease.
    pub lease: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Requests,
    Tokens,
    Concurrency,
}

/// One limit's state, for the rate-limit headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again.
    pub reset: Duration,
}

/// The tightest request and token windows across a request's rules (least remaining).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateStatus {
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
}

/// Why a request was refused by a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub scope: Scope,
    pub id: Arc<str>,
    pub resource: Resource,
    pub limit: u64,
    /// When a retry could be admitted (for concurrency: a short fixed hint).
    pub retry_after: Duration,
    pub status: RateStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmitError {
    Limited(Denied),
    /// Redis is unreachable and the policy is to fail closed.
    Unavailable(String),
}

/// What to do while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisPolicy {
    /// Keep serving, enforcing the limits per node in process until Redis is back.
    FailOpen,
    /// Refuse requests that have limits until Redis is back.
    FailClosed,
}

/// Where the counters live, for `/readyz` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Local,
    Redis {
        reachable: bool,
        policy: RedisPolicy,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("redis_url: {0}")]
    Url(String),
}

/// How to reach Redis and what to do when it cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Every key starts with `<prefix>:` (tests use a unique one).
    pub prefix: String,
    pub policy: RedisPolicy,
    /// How long a concurrency lease outlives a grant that is never released (a crashed node, a
    /// grant dropped outside a runtime). Longer than any request should last. Default 15 minutes.
    pub lease_ttl: Duration,
    /// Per connection attempt. Default 1 s.
    pub connection_timeout: Duration,
    /// Per command. Default 500 ms.
    pub response_timeout: Duration,
    /// After a failure, how long Redis is left alone before a PING probes it again. Default 1 s.
    pub retry_interval: Duration,
}

impl RedisOptions {
    pub fn new(prefix: impl Into<String>, policy: RedisPolicy) -> Self {
        Self {
            prefix: prefix.into(),
            policy,
            lease_ttl: Duration::from_secs(15 * 60),
            connection_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(500),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// The limiter, cheap to clone.
#[derive(Debug, Clone)]
pub struct Limiter {
    inner: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Local(Arc<LocalLimiter>),
    Redis(Arc<Remote>),
}

impl Limiter {
    /// Counters in this process.
    pub fn local() -> Self {
        Self::local_with(Clock::real())
    }

    fn local_with(clock: Clock) -> Self {
        Self {
            inner: Backend::Local(Arc::new(LocalLimiter::new(clock))),
        }
    }

    /// Counters in Redis under `prefix` (tests use a unique one). Never fails because Redis is
    /// down: only a malformed URL is an error; reachability is tracked and reported by [`Limiter::health`].
    pub fn redis(url: &str, prefix: &str, policy: RedisPolicy) -> Result<Self, LimitError> {
        Self::redis_with(url, RedisOptions::new(prefix, policy))
    }

    /// [`Limiter::redis`] with every option. Returns at once: the connection is made in the
    /// background when called inside a tokio runtime, else on first use.
    ///
    /// Keys: `<prefix>:{lim}:<k|t>:<id>:rate` (a hash of the request and token buckets, expiring
    /// 130 s after last use) and `<prefix>:{lim}:<k|t>:<id>:leases` (a sorted set of lease names
    /// scored by expiry, removed with its last lease). The one hash tag `{lim}` keeps all of a
    /// request's keys in one cluster slot.
    pub fn redis_with(url: &str, options: RedisOptions) -> Result<Self, LimitError> {
        // The URL may carry a password: the error names the problem, never the URL.
        let client = redis::Client::open(url).map_err(|e| LimitError::Url(e.to_string()))?;
        Ok(Self {
            inner: Backend::Redis(Remote::new(client, options)),
        })
    }

    /// Admits a request against every rule at once, or refuses it and takes nothing.
    pub async fn admit(&self, ask: &Ask<'_>) -> Result<Grant, AdmitError> {
        let rules: Vec<&Rule> = ask.rules.iter().filter(|r| has_limits(r)).collect();
        // Nothing to count: no lock, no I/O.
        if rules.is_empty() {
            return Ok(Grant::free());
        }
        match &self.inner {
            Backend::Local(local) => Grant::local(local, ask, &rules),
            Backend::Redis(remote) => remote.admit(ask, &rules).await,
        }
    }

    pub fn health(&self) -> Health {
        match &self.inner {
            Backend::Local(_) => Health::Local,
            Backend::Redis(remote) => remote.health(),
        }
    }

    /// Waits until the Redis releases of grants dropped so far have been applied (or have failed),
    /// e.g. before shutting down. Each is bounded by the Redis timeouts. At once for local counters.
    pub async fn flush(&self) {
        if let Backend::Redis(remote) = &self.inner {
            remote.flush().await;
        }
    }
}

/// An admitted request's hold on its limits. Dropping it ends the concurrency lease and applies the
/// token correction given to [`Grant::settle`] (none: the estimate stands).
#[derive(Debug)]
pub struct Grant {
    status: RateStatus,
    release: Option<Release>,
}

/// What a grant gives back when dropped.
#[derive(Debug)]
struct Release {
    held: Vec<Held>,
    actual: Option<u64>,
    to: Backing,
}

#[derive(Debug)]
enum Backing {
    Local(Arc<LocalLimiter>),
    Redis {
        remote: Arc<Remote>,
        lease: Box<str>,
    },
}

impl Grant {
    /// The windows after this request was admitted, for the rate-limit headers.
    pub fn status(&self) -> &RateStatus {
        &self.status
    }

    /// The request's real token count, once known: the difference from the estimate is given back
    /// (or taken) when the grant is dropped.
    pub fn settle(&mut self, actual_tokens: u64) {
        if let Some(release) = &mut self.release {
            release.actual = Some(actual_tokens);
        }
    }

    fn free() -> Self {
        Self {
            status: RateStatus::default(),
            release: None,
        }
    }

    fn holding(status: RateStatus, held: Vec<Held>, to: Backing) -> Self {
        let release = (!held.is_empty()).then_some(Release {
            held,
            actual: None,
            to,
        });
        Self { status, release }
    }

    fn local(
        local: &Arc<LocalLimiter>,
        ask: &Ask<'_>,
        rules: &[&Rule],
    ) -> Result<Self, AdmitError> {
        let (levels, held) = local.admit(ask, rules).map_err(AdmitError::Limited)?;
        let status = decide::status(rules, &levels);
        Ok(Self::holding(status, held, Backing::Local(local.clone())))
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        let Some(release) = self.release.take() else {
            return;
        };
        match release.to {
            Backing::Local(local) => local.release(&release.held, release.actual),
            Backing::Redis { remote, lease } => {
                remote.release(release.held, &lease, release.actual)
            }
        }
    }
}
