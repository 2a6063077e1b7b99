//! Who is calling: the key presented with a request, resolved to its record and tenant.
//!
//! Keys are looked up by their SHA-256, so the lookup's timing says nothing about any stored
//! secret, and the final check compares hashes in constant time. Lookups are cached in memory
//! (hits and misses alike): the hot path makes no database round trip. A background task follows
//! the store's change feed and drops cached entries that changed on any node, so a revocation
//! takes effect everywhere within about [`REFRESH`].
//!
//! SigV4 callers (Bedrock clients signing with a gateway-issued access key pair) are found by
//! their access key id in a cache of their own, then checked exactly as bearer keys are.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use moka::future::Cache;
use sy_core::{ErrorKind, GatewayError, Secret, constant_time_eq};
use sy_limits::{Rule, Scope};
use sy_store::{KeyRecord, Store, StoreError, Tenant, hash_key};

use crate::budget::CachedBudget;
use crate::sigv4::{Authorization, SigV4Error, SignedRequest};
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

/// A key's SigV4 pair: the secret access key is an HMAC key, so it is held as given.
#[derive(Debug)]
struct AccessKey {
    key: Arc<CachedKey>,
    secret: Secret,
}

/// Resolves presented keys, with caches kept fresh from the store's change feed.
#[derive(Debug, Clone)]
pub struct Authenticator {
    store: Store,
    keys: Cache<[u8; 32], Option<Arc<CachedKey>>>,
    /// By access key id, for SigV4 callers.
    access_keys: Cache<Arc<str>, Option<Arc<AccessKey>>>,
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
            access_keys: Cache::builder()
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
        self.caller(key).await
    }

    /// The caller a SigV4-signed request comes from. The signature is verified before anything
    /// about the key is revealed; then the key is refused exactly as a bearer key would be
    /// (revoked, expired, disabled tenant), wrapped in [`SigV4Error::Refused`].
    pub async fn authenticate_sigv4(
        &self,
        request: &SignedRequest<'_>,
    ) -> Result<Caller, SigV4Error> {
        let authorization = Authorization::parse(request.headers, std::time::SystemTime::now())?;
        let access_key = self
            .access_key(authorization.access_key_id)
            .await
            .map_err(SigV4Error::Refused)?
            .ok_or(SigV4Error::UnknownAccessKey)?;
        authorization.verify(request, &access_key.secret)?;
        self.caller(access_key.key.clone())
            .await
            .map_err(SigV4Error::Refused)
    }

    async fn access_key(&self, id: &str) -> Result<Option<Arc<AccessKey>>, GatewayError> {
        // Gateway ids are `AKSY` and 16 base32 characters; anything far from that shape is not
        // worth a store round trip or a cache entry.
        if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let store = &self.store;
        self.access_keys
            .try_get_with(Arc::from(id), async move {
                let record = store.key_by_access_key_id(id).await?;
                Ok::<_, StoreError>(record.and_then(|mut r| {
                    let secret = Secret::new(r.secret_access_key.take()?);
                    Some(Arc::new(AccessKey {
                        key: Arc::new(CachedKey::from_record(r)),
                        secret,
                    }))
                }))
            })
            .await
            .map_err(|e| unavailable(&e))
    }

    /// The checks every found key passes, however it was presented.
    async fn caller(&self, key: Arc<CachedKey>) -> Result<Caller, GatewayError> {
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
        let store = &self.store;
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
                            if let Some(id) = &key.access_key_id {
                                this.access_keys.invalidate(id.as_str()).await;
                            }
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
    use crate::sigv4::testing::{MODEL_IDS, Received, Signing, path_segment};
    use crate::tenancy::{CreateKey, Tenancy, UpdateTenant};
    use http::HeaderValue;

    /// A store with tenant `acme` and one key with an access key pair; returns the key's
    /// `(id, access_key_id, secret_access_key)`.
    async fn store_with_key(expires_at: Option<&str>) -> (Store, [String; 3]) {
        let store = Store::open("sqlite::memory:", None).await.unwrap();
        let created = Tenancy { store: &store }
            .create_key(CreateKey {
                tenant: "acme".to_owned(),
                aws_access_key: true,
                expires_at: expires_at.map(str::to_owned),
                ..CreateKey::default()
            })
            .await
            .unwrap();
        let field = |name: &str| created[name].as_str().unwrap().to_owned();
        let ids = [
            field("id"),
            field("access_key_id"),
            field("secret_access_key"),
        ];
        (store, ids)
    }

    fn signed(access_key_id: &str, secret: &str) -> Received {
        let target = format!("/model/{}/converse", path_segment(MODEL_IDS[0]));
        Signing::new(access_key_id, secret, target).sign()
    }

    async fn authenticate(store: &Store, received: &Received) -> Result<Caller, SigV4Error> {
        // A fresh authenticator each time: its caches must not hide the store's changes here.
        Authenticator::new(store.clone())
            .authenticate_sigv4(&received.request())
            .await
    }

    #[tokio::test]
    async fn a_signed_request_resolves_to_its_key_and_tenant() {
        let (store, [id, access_key_id, secret]) = store_with_key(None).await;
        let received = signed(&access_key_id, &secret);
        let auth = Authenticator::new(store.clone());
        for _ in 0..2 {
            let caller = auth.authenticate_sigv4(&received.request()).await.unwrap();
            assert_eq!(&*caller.key.id, id.as_str());
            assert_eq!(&*caller.tenant.id, "acme");
        }
        // The second lookup came from the cache: it works with the store closed.
        store.close().await;
        assert!(auth.authenticate_sigv4(&received.request()).await.is_ok());
    }

    #[tokio::test]
    async fn unknown_access_keys_and_wrong_secrets_are_refused() {
        let (store, [_, access_key_id, secret]) = store_with_key(None).await;
        let unknown = authenticate(&store, &signed("AKSYUNKNOWN234567ABC", &secret)).await;
        assert_eq!(unknown.unwrap_err(), SigV4Error::UnknownAccessKey);
        let junk = authenticate(&store, &signed("not-an-id", &secret)).await;
        assert_eq!(junk.unwrap_err(), SigV4Error::UnknownAccessKey);
        let wrong = authenticate(
            &store,
            &signed(&access_key_id, "0000000000000000000000000000000000000000"),
        )
        .await;
        assert_eq!(wrong.unwrap_err(), SigV4Error::SignatureMismatch);
    }

    #[tokio::test]
    async fn revoked_and_expired_keys_are_refused_as_bearer_keys_are() {
        let (store, [id, access_key_id, secret]) = store_with_key(None).await;
        Tenancy { store: &store }.revoke_key(&id).await.unwrap();
        let error = authenticate(&store, &signed(&access_key_id, &secret))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SigV4Error::Refused(e) if e.kind == ErrorKind::Unauthenticated { code: "key_revoked" }),
            "{error:?}"
        );
        assert_eq!(error.code(), "UnrecognizedClientException");
        assert_eq!(error.status(), 403);

        let (store, [_, access_key_id, secret]) = store_with_key(Some("2020-01-01")).await;
        let error = authenticate(&store, &signed(&access_key_id, &secret))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SigV4Error::Refused(e) if e.kind == ErrorKind::Unauthenticated { code: "key_expired" }),
            "{error:?}"
        );
        assert_eq!(error.code(), "ExpiredTokenException");

        // A revoked key's status is not revealed to a request that is not signed with it.
        let (store, [id, access_key_id, _]) = store_with_key(None).await;
        Tenancy { store: &store }.revoke_key(&id).await.unwrap();
        let forged = authenticate(
            &store,
            &signed(&access_key_id, "0000000000000000000000000000000000000000"),
        )
        .await;
        assert_eq!(forged.unwrap_err(), SigV4Error::SignatureMismatch);
    }

    #[tokio::test]
    async fn a_disabled_tenant_is_refused() {
        let (store, [_, access_key_id, secret]) = store_with_key(None).await;
        Tenancy { store: &store }
            .update_tenant(
                "acme",
                UpdateTenant {
                    disabled: Some(true),
                    ..UpdateTenant::default()
                },
            )
            .await
            .unwrap();
        let error = authenticate(&store, &signed(&access_key_id, &secret))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SigV4Error::Refused(e) if matches!(e.kind, ErrorKind::PermissionDenied { code: "tenant_disabled" })),
            "{error:?}"
        );
        assert_eq!(error.code(), "AccessDeniedException");
    }

    #[tokio::test]
    async fn a_bearer_key_and_its_access_key_pair_are_one_caller() {
        let store = Store::open("sqlite::memory:", None).await.unwrap();
        let created = Tenancy { store: &store }
            .create_key(CreateKey {
                tenant: "acme".to_owned(),
                aws_access_key: true,
                ..CreateKey::default()
            })
            .await
            .unwrap();
        let auth = Authenticator::new(store);
        let bearer = auth
            .authenticate(&headers(&[(
                "authorization",
                &format!("Bearer {}", created["key"].as_str().unwrap()),
            )]))
            .await
            .unwrap();
        let received = signed(
            created["access_key_id"].as_str().unwrap(),
            created["secret_access_key"].as_str().unwrap(),
        );
        let signed = auth.authenticate_sigv4(&received.request()).await.unwrap();
        assert_eq!(bearer.key.id, signed.key.id);
        assert_eq!(bearer.rules(), signed.rules());
    }

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
