//! Who is calling: the key presented with a request, resolved to its record and tenant.
//!
//! Keys are looked up by their SHA-256, so the lookup's timing says nothing about any stored
//! secret, and the final check compares hashes in constant time. Lookups are cached in memory
//! (hits and misses alike): the hot path makes no database round trip. A background task follows
//! the store's change feed and drops cached entries that changed on any node, so a revocation
//! takes effect everywhere within about [`REFRESH`].

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use moka::future::Cache;
use sy_core::{ErrorKind, GatewayError, constant_time_eq};
use sy_limits::{Rule, Scope};
use sy_store::{KeyRecord, Store, StoreError, Tenant, hash_key};

use crate::budget::CachedBudget;
use tracing::{info, warn};

/// How often the change feed is read.
pub const REFRESH: Duration = Duration::from_secs(1);
/// How far back each read of the change feed looks, so a write committed late or stamped by a
/// slightly slow clock on another node is still seen.
const LOOKBACK_MS: i64 = 30_000;
/// A safety net: even an entry the change feed somehow missed is re-read this often.
const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_CAPACITY: u64 = 100_000;

/// An authenticated caller: the key and its tenant, with their limits ready for admission.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Arc<CachedKey>,
    pub tenant: Arc<CachedTenant>,
}

impl Caller {
    pub fn may_use(&self, model: &str) -> bool {
        self.key
            .models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model))
    }

    /// The rules a request of this caller is admitted against: the key's, then its tenant's.
    pub fn rules(&self) -> [Rule; 2] {
        [self.key.rule.clone(), self.tenant.rule.clone()]
    }

    /// Whether this caller may steer routing with request headers.
    pub fn may_hint(&self) -> bool {
        self.key.routing_hints
    }

    /// The tenant's data residency: the only regions its requests may be served from.
    pub fn regions(&self) -> Option<&[String]> {
        self.tenant.regions.as_deref()
    }

    pub fn has_budget(&self) -> bool {
        self.key.budget.is_some() || self.tenant.budget.is_some()
    }

    pub fn has_limits(&self) -> bool {
        has_limits(&self.key.rule) || has_limits(&self.tenant.rule)
    }
}

fn has_limits(rule: &Rule) -> bool {
    rule.rpm.is_some() || rule.tpm.is_some() || rule.max_concurrent.is_some()
}

/// What the request path needs of a key record.
#[derive(Debug)]
pub struct CachedKey {
    pub id: Arc<str>,
    pub tenant: Arc<str>,
    hash: [u8; 32],
    models: Option<Box<[String]>>,
    expires_at: Option<i64>,
    revoked: bool,
    routing_hints: bool,
    rule: Rule,
    pub budget: Option<CachedBudget>,
}

impl CachedKey {
    fn from_record(record: KeyRecord) -> Self {
        let id: Arc<str> = record.id.into();
        Self {
            rule: Rule {
                scope: Scope::Key,
                id: id.clone(),
                rpm: record.limits.rpm,
                tpm: record.limits.tpm,
                max_concurrent: record.limits.max_concurrent,
            },
            id,
            tenant: record.tenant.into(),
            hash: record.hash,
            models: record.models.map(Vec::into_boxed_slice),
            expires_at: record.expires_at,
            revoked: record.revoked_at.is_some(),
            routing_hints: record.routing_hints,
            budget: record.budget.as_ref().map(CachedBudget::from_record),
        }
    }
}

#[derive(Debug)]
pub struct CachedTenant {
    pub id: Arc<str>,
    disabled: bool,
    regions: Option<Box<[String]>>,
    rule: Rule,
    pub budget: Option<CachedBudget>,
}

impl CachedTenant {
    fn from_record(tenant: Tenant) -> Self {
        let id: Arc<str> = tenant.id.into();
        Self {
            rule: Rule {
                scope: Scope::Tenant,
                id: id.clone(),
                rpm: tenant.limits.rpm,
                tpm: tenant.limits.tpm,
                max_concurrent: tenant.limits.max_concurrent,
            },
            id,
            disabled: tenant.disabled,
            regions: tenant.regions.map(Vec::into_boxed_slice),
            budget: tenant.budget.as_ref().map(CachedBudget::from_record),
        }
    }
}

/// Resolves presented keys, with caches kept fresh from the store's change feed.
#[derive(Debug, Clone)]
pub struct Authenticator {
    store: Store,
    keys: Cache<[u8; 32], Option<Arc<CachedKey>>>,
    tenants: Cache<Arc<str>, Option<Arc<CachedTenant>>>,
}

impl Authenticator {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            keys: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
            tenants: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }

    /// The caller a request's key belongs to, or the 401/403 to answer with.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, GatewayError> {
        let Some(secret) = presented_key(headers) else {
            return Err(unauthenticated(
                "missing_api_key",
                "no API key was given: send it as `Authorization: Bearer KEY`",
            ));
        };
        let hash = hash_key(secret);
        let store = &self.store;
        let key = self
            .keys
            .try_get_with(hash, async move {
                let record = store.key_by_hash(&hash).await?;
                Ok::<_, StoreError>(record.map(|r| Arc::new(CachedKey::from_record(r))))
            })
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(key) = key.filter(|k| constant_time_eq(&k.hash, &hash)) else {
            return Err(unauthenticated(
                "invalid_api_key",
                "the API key is not valid for this gateway",
            ));
        };
        if key.revoked {
            return Err(unauthenticated(
                "key_revoked",
                format!("the API key `{}` has been revoked", key.id),
            ));
        }
        if key.expires_at.is_some_and(|at| at <= Store::now_ms()) {
            return Err(unauthenticated(
                "key_expired",
                format!("the API key `{}` has expired", key.id),
            ));
        }
        let tenant_id = key.tenant.clone();
        let tenant = self
            .tenants
            .try_get_with(tenant_id.clone(), async move {
                let tenant = store.tenant(&tenant_id).await?;
                Ok::<_, StoreError>(tenant.map(|t| Arc::new(CachedTenant::from_record(t))))
            })
            .await
            .map_err(|e| unavailable(&e))?;
        match tenant {
            Some(tenant) if !tenant.disabled => Ok(Caller { key, tenant }),
            _ => Err(GatewayError::new(
                ErrorKind::PermissionDenied {
                    code: "tenant_disabled",
                },
                format!("the tenant `{}` of this key is disabled", key.tenant),
            )),
        }
    }

    /// Follows the store's change feed until the process ends, dropping changed cache entries.
    pub fn follow_changes(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut since = Store::now_ms();
            let mut failing = false;
            let mut tick = tokio::time::interval(REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = Store::now_ms();
                match this.store.changes_since(since - LOOKBACK_MS).await {
                    Ok(changes) => {
                        for key in &changes.keys {
                            this.keys.invalidate(&key.hash).await;
                        }
                        for tenant in changes.tenants {
                            this.tenants.invalidate(tenant.as_str()).await;
                        }
                        since = now;
                        if std::mem::take(&mut failing) {
                            info!("key store reachable again; key changes are followed");
                        }
                    }
                    Err(e) => {
                        if !failing {
                            warn!(error = %e, "cannot read key changes from the store; cached keys stay as they are until it is back");
                            failing = true;
                        }
                    }
                }
            }
        })
    }
}

/// `Authorization: Bearer KEY`, or `x-api-key: KEY` as the Anthropic SDK sends it.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, key) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| key.trim())
            .filter(|k| !k.is_empty());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

fn unauthenticated(code: &'static str, message: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorKind::Unauthenticated { code }, message)
}

fn unavailable(e: &StoreError) -> GatewayError {
    warn!(error = %e, "key lookup failed");
    GatewayError::new(
        ErrorKind::StateUnavailable,
        "the gateway cannot check API keys right now; retry shortly",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                *name,
                HeaderValue::from_str(value).unwrap_or_else(|_| panic!("{value}")),
            );
        }
        map
    }

    #[test]
    fn reads_the_key_as_the_sdks_send_it() {
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer sk-sy-abc")])),
            Some("sk-sy-abc")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer  sk-sy-abc ")])),
            Some("sk-sy-abc")
        );
        assert_eq!(
            presented_key(&headers(&[("x-api-key", "sk-sy-abc")])),
            Some("sk-sy-abc")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(presented_key(&HeaderMap::new()), None);
    }
}
