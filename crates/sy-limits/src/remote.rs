//! Counters in Redis, shared by every node: one Lua script admits atomically across all the keys of
//! a request, another releases; Redis's own clock; a fallback while Redis cannot be reached.
//!
//! Key layout, all under one hash tag so a request's keys share a cluster slot whatever the rules:
//! `<prefix>:{lim}:<k|t>:<id>:rate` (hash: requests and tokens buckets) and
//! `<prefix>:{lim}:<k|t>:<id>:leases` (sorted set: lease name scored by expiry). A tag derived from a
//! holder's id would not do: a tenant's keys would then be named differently by requests of
//! different keys, and the tenant's limit would not be shared.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Script, ScriptInvocation};
use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot};
use tracing::{debug, info, warn};

use crate::decide::{self, CONCURRENCY_RETRY, Held, Levels};
use crate::local::{Clock, LocalLimiter};
use crate::{AdmitError, Ask, Denied, Health, RedisOptions, RedisPolicy, Resource, Rule, Scope};
use crate::{Backing, Grant};

static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("admit.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("release.lua")));

/// Buckets expire this long after their last use. A bucket refills from the deepest debt to full in
/// two minutes, so by then it is full, the same as absent; the margin absorbs clock skew.
const IDLE_TTL_MS: u64 = 130_000;

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

pub(crate) struct Remote {
    client: redis::Client,
    /// Made on first use inside a runtime: the manager spawns tasks on the current one.
    conn: OnceLock<ConnectionManager>,
    options: RedisOptions,
    /// UNKNOWN until the first answer or failure, then UP or DOWN.
    state: AtomicU8,
    /// Per-node limits while Redis is down and the policy is to fail open.
    fallback: Arc<LocalLimiter>,
    /// Releases spawned and not yet finished, for [`Remote::flush`].
    pending: AtomicUsize,
    drained: Notify,
}

// By hand: the client's connection info may hold a password.
impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("prefix", &self.options.prefix)
            .field("policy", &self.options.policy)
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Remote {
    pub fn new(client: redis::Client, options: RedisOptions) -> Arc<Self> {
        let remote = Arc::new(Self {
            client,
            conn: OnceLock::new(),
            options,
            state: AtomicU8::new(UNKNOWN),
            fallback: Arc::new(LocalLimiter::new(Clock::real())),
            pending: AtomicUsize::new(0),
            drained: Notify::new(),
        });
        // Connect in the background so health() is known early; without a runtime, on first use.
        if let Ok(runtime) = Handle::try_current() {
            let weak = Arc::downgrade(&remote);
            runtime.spawn(async move {
                let Some(remote) = weak.upgrade() else { return };
                match remote.ping().await {
                    Ok(()) => remote.mark_up(),
                    Err(error) => remote.mark_down(&error),
                }
            });
        }
        remote
    }

    pub fn health(&self) -> Health {
        Health::Redis {
            reachable: self.state.load(Ordering::Relaxed) == UP,
            policy: self.options.policy,
        }
    }

    pub async fn admit(
        self: &Arc<Self>,
        ask: &Ask<'_>,
        rules: &[&Rule],
    ) -> Result<Grant, AdmitError> {
        // While down, don't even try: the probe says when Redis is back.
        if self.state.load(Ordering::Relaxed) == DOWN {
            return self.fall_back(ask, rules);
        }
        let mut call = ADMIT.prepare_invoke();
        for rule in rules {
            call.key(self.key(rule.scope, &rule.id, "rate"))
                .key(self.key(rule.scope, &rule.id, "leases"));
        }
        call.arg(ask.lease)
            .arg(millis(self.options.lease_ttl))
            .arg(IDLE_TTL_MS);
        for rule in rules {
            call.arg(limit_arg(rule.rpm))
                .arg(limit_arg(rule.tpm))
                .arg(
                    rule.tpm
                        .map_or(0, |tpm| decide::token_charge(ask.tokens, tpm)),
                )
                .arg(limit_arg(rule.max_concurrent.map(u64::from)));
        }
        // The call runs in its own task: if the caller goes away meanwhile (a client hanging up),
        // a grant the script made is dropped there, which releases it, instead of holding a lease
        // until its TTL.
        let (reply_to, reply) = oneshot::channel();
        let remote = self.clone();
        let owned: Vec<Rule> = rules.iter().map(|&rule| rule.clone()).collect();
        let (tokens, lease) = (ask.tokens, Box::<str>::from(ask.lease));
        tokio::spawn(async move {
            let outcome = remote.run::<Vec<i64>>(&call).await;
            let _ = reply_to.send(remote.conclude(outcome, &owned, tokens, lease));
        });
        match reply.await {
            Ok(Some(Ok(grant))) => Ok(grant),
            Ok(Some(Err(denied))) => Err(AdmitError::Limited(denied)),
            // Redis failed (already recorded), or the runtime is shutting down.
            Ok(None) | Err(_) => self.fall_back(ask, rules),
        }
    }

    /// Turns the script's outcome into a grant or a refusal; `None` when Redis failed.
    fn conclude(
        self: &Arc<Self>,
        outcome: Result<Vec<i64>, String>,
        rules: &[Rule],
        tokens: u64,
        lease: Box<str>,
    ) -> Option<Result<Grant, Denied>> {
        let reply = match outcome {
            Ok(reply) => reply,
            Err(error) => {
                self.mark_down(&error);
                return None;
            }
        };
        let rules: Vec<&Rule> = rules.iter().collect();
        let Some(verdict) = read_reply(&reply, &rules, tokens) else {
            // Only a script out of step with this code could answer so; fail like Redis down.
            self.mark_down("unexpected reply from the admission script");
            return None;
        };
        self.mark_up();
        Some(verdict.map(|levels| {
            Grant::holding(
                decide::status(&rules, &levels),
                decide::holds(&rules, tokens),
                Backing::Redis {
                    remote: self.clone(),
                    lease,
                },
            )
        }))
    }

    fn fall_back(&self, ask: &Ask<'_>, rules: &[&Rule]) -> Result<Grant, AdmitError> {
        match self.options.policy {
            RedisPolicy::FailOpen => Grant::local(&self.fallback, ask, rules),
            RedisPolicy::FailClosed => Err(AdmitError::Unavailable(
                "the rate-limit store (redis) is unreachable".into(),
            )),
        }
    }

    /// Ends a grant in Redis without blocking the dropping thread: spawned on the current runtime,
    /// or skipped without one (leases then end by their TTL, token corrections are lost).
    pub fn release(self: &Arc<Self>, held: Vec<Held>, lease: &str, actual: Option<u64>) {
        let work: Vec<(&Held, Option<(u64, i64)>)> = held
            .iter()
            .map(|h| (h, h.correction(actual)))
            .filter(|(h, correction)| h.lease || correction.is_some())
            .collect();
        if work.is_empty() {
            return;
        }
        let Ok(runtime) = Handle::try_current() else {
            debug!(
                prefix = %self.options.prefix,
                "grant dropped outside a runtime: its redis leases end by their TTL"
            );
            return;
        };
        let mut call = RELEASE.prepare_invoke();
        for (h, _) in &work {
            call.key(self.key(h.scope, &h.id, "rate"))
                .key(self.key(h.scope, &h.id, "leases"));
        }
        call.arg(lease).arg(IDLE_TTL_MS);
        for (h, correction) in &work {
            let (tpm, delta) =
                correction.map_or((-1, 0), |(tpm, delta)| (limit_arg(Some(tpm)), delta));
            call.arg(tpm).arg(delta).arg(i64::from(h.lease));
        }
        let keys_and_args = call;
        self.pending.fetch_add(1, Ordering::AcqRel);
        let pending = Pending(self.clone());
        runtime.spawn(async move {
            let remote = &pending.0;
            if let Err(error) = remote.run::<i64>(&keys_and_args).await {
                remote.mark_down(&error);
            }
            drop(pending);
        });
    }

    /// Waits until every release spawned so far has reached Redis or failed.
    pub async fn flush(&self) {
        loop {
            let drained = self.drained.notified();
            let mut drained = std::pin::pin!(drained);
            drained.as_mut().enable();
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            drained.await;
        }
    }

    fn key(&self, scope: Scope, id: &str, kind: &str) -> String {
        let scope = match scope {
            Scope::Key => 'k',
            Scope::Tenant => 't',
        };
        format!("{}:{{lim}}:{scope}:{id}:{kind}", self.options.prefix)
    }

    fn connection(&self) -> Result<ConnectionManager, String> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.options.connection_timeout))
            .set_response_timeout(Some(self.options.response_timeout))
            // No retries inside a call: a request waits at most one attempt; the probe retries.
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| e.to_string())?;
        Ok(self.conn.get_or_init(|| conn).clone())
    }

    /// One script call, bounded in time whatever the connection is doing.
    async fn run<T: FromRedisValue>(&self, call: &ScriptInvocation<'_>) -> Result<T, String> {
        let mut conn = self.connection()?;
        // Connect, then at worst EVALSHA, SCRIPT LOAD and EVALSHA again.
        let budget = self.options.connection_timeout + self.options.response_timeout * 3;
        match tokio::time::timeout(budget, call.invoke_async(&mut conn)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    async fn ping(&self) -> Result<(), String> {
        let mut conn = self.connection()?;
        let budget = self.options.connection_timeout + self.options.response_timeout;
        let ping = redis::cmd("PING");
        match tokio::time::timeout(budget, ping.query_async::<String>(&mut conn)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    fn mark_up(&self) {
        let previous = self.state.swap(UP, Ordering::AcqRel);
        if previous == DOWN {
            info!(prefix = %self.options.prefix, "redis reachable again: rate limits shared across nodes");
        }
    }

    /// Records a failure; on the transition, logs once and starts probing until Redis answers.
    fn mark_down(self: &Arc<Self>, error: &str) {
        if self.state.swap(DOWN, Ordering::AcqRel) == DOWN {
            return;
        }
        let consequence = match self.options.policy {
            RedisPolicy::FailOpen => "rate limits enforced per node until it is back",
            RedisPolicy::FailClosed => "requests with limits refused until it is back",
        };
        warn!(prefix = %self.options.prefix, %error, "redis unreachable: {consequence}");
        if let Ok(runtime) = Handle::try_current() {
            runtime.spawn(probe(Arc::downgrade(self)));
        }
    }
}

/// PINGs every `retry_interval` until Redis answers or the limiter is gone.
async fn probe(remote: Weak<Remote>) {
    loop {
        let Some(interval) = remote.upgrade().map(|r| r.options.retry_interval) else {
            return;
        };
        tokio::time::sleep(interval).await;
        let Some(remote) = remote.upgrade() else {
            return;
        };
        // Someone else's call found it back (and a later failure started another probe).
        if remote.state.load(Ordering::Relaxed) != DOWN {
            return;
        }
        match remote.ping().await {
            Ok(()) => return remote.mark_up(),
            Err(error) => {
                debug!(prefix = %remote.options.prefix, %error, "redis still unreachable")
            }
        }
    }
}

/// Counts a spawned release until it ends, even if its runtime drops it unfinished.
struct Pending(Arc<Remote>);

impl Drop for Pending {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

/// Reads the admission script's reply (see admit.lua): the levels after the request when admitted,
/// the refusal when not; `None` when the reply does not have the expected shape.
fn read_reply(reply: &[i64], rules: &[&Rule], tokens: u64) -> Option<Result<Vec<Levels>, Denied>> {
    let (&[admitted, rule, resource], per_rule) = reply.split_first_chunk::<3>()?;
    if per_rule.len() != rules.len() * 3 {
        return None;
    }
    let levels: Vec<Levels> = per_rule
        .chunks_exact(3)
        .map(|c| Levels {
            requests: c[0],
            tokens: c[1],
            leases: u64::try_from(c[2]).unwrap_or(0),
        })
        .collect();
    if admitted == 1 {
        return Some(Ok(levels));
    }
    // The refusal is worked out again in Rust from the same levels with the same rules, for the
    // retry hint and the headers; the script's own verdict names the refusal if they ever differ.
    if let Some(denied) = decide::refusal(rules, &levels, tokens) {
        return Some(Err(denied));
    }
    let refusing = rules.get(usize::try_from(rule).ok()?.checked_sub(1)?)?;
    let (resource, limit) = match resource {
        1 => (Resource::Requests, refusing.rpm?),
        2 => (Resource::Tokens, refusing.tpm?),
        _ => (Resource::Concurrency, u64::from(refusing.max_concurrent?)),
    };
    Some(Err(Denied {
        scope: refusing.scope,
        id: refusing.id.clone(),
        resource,
        limit,
        retry_after: CONCURRENCY_RETRY,
        status: decide::status(rules, &levels),
    }))
}

/// A limit as the scripts take it: -1 for none.
fn limit_arg(limit: Option<u64>) -> i64 {
    limit.map_or(-1, |l| {
        i64::try_from(crate::bucket::clamp_limit(l)).unwrap_or(i64::MAX)
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::units;

    fn rule(rpm: Option<u64>, max: Option<u32>) -> Rule {
        Rule {
            scope: Scope::Tenant,
            id: "t".into(),
            rpm,
            tpm: None,
            max_concurrent: max,
        }
    }

    #[test]
    fn reads_an_admission() {
        let r = rule(Some(10), None);
        let reply = [1, 0, 0, units(9), 0, 0];
        let levels = read_reply(&reply, &[&r], 0)
            .expect("shape")
            .expect("admitted");
        assert_eq!(levels[0].requests, units(9));
    }

    #[test]
    fn reads_a_refusal() {
        let r = rule(None, Some(2));
        let reply = [0, 1, 3, 0, 0, 2];
        let denied = read_reply(&reply, &[&r], 0)
            .expect("shape")
            .expect_err("refused");
        assert_eq!(denied.resource, Resource::Concurrency);
        assert_eq!(denied.limit, 2);
    }

    #[test]
    fn rejects_a_malformed_reply() {
        let r = rule(Some(10), None);
        assert!(read_reply(&[1, 0], &[&r], 0).is_none());
        assert!(read_reply(&[1, 0, 0, 1, 2], &[&r], 0).is_none());
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let remote = Remote::new(
            redis::Client::open("redis://127.0.0.1:1").expect("url"),
            RedisOptions::new("sy", RedisPolicy::FailOpen),
        );
        assert_eq!(remote.key(Scope::Key, "k1", "rate"), "sy:{lim}:k:k1:rate");
        assert_eq!(
            remote.key(Scope::Tenant, "acme", "leases"),
            "sy:{lim}:t:acme:leases"
        );
    }

    #[test]
    fn debug_never_shows_the_url() {
        let remote = Remote::new(
            redis::Client::open("redis://:hunter2@127.0.0.1:1").expect("url"),
            RedisOptions::new("sy", RedisPolicy::FailOpen),
        );
        assert!(!format!("{remote:?}").contains("hunter2"));
    }
}
