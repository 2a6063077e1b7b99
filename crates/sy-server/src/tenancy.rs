//! Managing tenants and keys: the operations behind the admin API and the `switchyard keys` and
//! `switchyard tenants` commands, with one set of request shapes, checks, JSON views and stable
//! error codes for both.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sy_config::{format_rfc3339_utc, parse_rfc3339_utc};
use sy_store::{
    Budget, BudgetPeriod, BudgetScope, Dimension, KeyFilter, KeyPatch, KeyRecord, Limits, NewKey,
    NewTenant, Store, StoreError, Tenant, TenantPatch, UsageQuery, mint_key,
};

/// A failed operation, with an HTTP status and a code that never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl AdminError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", message)
    }

    fn from_store(e: StoreError, not_found: &'static str) -> Self {
        match e {
            StoreError::Invalid(m) => Self::invalid(m),
            StoreError::NotFound(m) => Self::new(404, not_found, m),
            StoreError::Conflict(m) => Self::new(409, "conflict", m),
            e @ (StoreError::Unavailable(_) | StoreError::Url(_) | StoreError::Migration(_)) => {
                Self::new(503, "store_unavailable", e.to_string())
            }
        }
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// Reads a JSON request body into `T`, naming the offending field when it does not fit.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let text = inner.to_string();
        if path == "." {
            AdminError::invalid(format!("the body is not a valid request: {text}"))
        } else {
            AdminError::invalid(format!("`{path}`: {text}"))
        }
    })
}

/// A field that may be absent (leave it), `null` (clear it) or a value (set it).
fn patch<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// `POST /admin/v1/tenants`, `switchyard tenants create`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub id: String,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u32>,
    /// Data residency: the only deployment regions the tenant's requests may use.
    pub regions: Option<Vec<String>>,
    /// Budget in dollars, an exact decimal string (`"25.00"`).
    pub budget_usd: Option<Value>,
    /// `day`, `week`, `month` (default) or `total`.
    pub budget_period: Option<String>,
    /// IANA time zone of the budget's calendar (default `UTC`).
    pub budget_tz: Option<String>,
    /// `hard` (default: refuse) or `soft` (allow and warn).
    pub budget_enforcement: Option<String>,
}

/// `PATCH /admin/v1/tenants/{id}`, `switchyard tenants update`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    #[serde(default, deserialize_with = "patch")]
    pub rpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "patch")]
    pub tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "patch")]
    pub max_concurrent: Option<Option<u32>>,
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "patch")]
    pub regions: Option<Option<Vec<String>>>,
    /// `null` removes the budget.
    #[serde(default, deserialize_with = "patch")]
    pub budget_usd: Option<Option<Value>>,
    pub budget_period: Option<String>,
    pub budget_tz: Option<String>,
    pub budget_enforcement: Option<String>,
}

/// `POST /admin/v1/keys`, `switchyard keys create`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub tenant: String,
    pub name: Option<String>,
    /// Model names the key may use; absent means every model.
    pub models: Option<Vec<String>>,
    /// RFC 3339 UTC time or date after which the key stops working.
    pub expires_at: Option<String>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_concurrent: Option<u32>,
    /// Also issue an access key pair for SigV4 (Bedrock-style) clients.
    #[serde(default)]
    pub aws_access_key: bool,
    /// Whether calls with the key may steer routing (x-switchyard-deployment, x-switchyard-region).
    #[serde(default)]
    pub routing_hints: bool,
    /// Budget in dollars, an exact decimal string (`"25.00"`).
    pub budget_usd: Option<Value>,
    /// `day`, `week`, `month` (default) or `total`.
    pub budget_period: Option<String>,
    /// IANA time zone of the budget's calendar (default `UTC`).
    pub budget_tz: Option<String>,
    /// `hard` (default: refuse) or `soft` (allow and warn).
    pub budget_enforcement: Option<String>,
}

/// `PATCH /admin/v1/keys/{id}`, `switchyard keys update`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    #[serde(default, deserialize_with = "patch")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    pub models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "patch")]
    pub expires_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    pub rpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "patch")]
    pub tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "patch")]
    pub max_concurrent: Option<Option<u32>>,
    pub routing_hints: Option<bool>,
    /// `null` removes the budget.
    #[serde(default, deserialize_with = "patch")]
    pub budget_usd: Option<Option<Value>>,
    pub budget_period: Option<String>,
    pub budget_tz: Option<String>,
    pub budget_enforcement: Option<String>,
}

/// `GET /admin/v1/usage`, `switchyard usage`: filters, a time range and what to group by.
#[derive(Debug, Default, Clone)]
pub struct UsageParams {
    pub tenant: Option<String>,
    pub key: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// RFC 3339 UTC time or date, inclusive.
    pub since: Option<String>,
    /// RFC 3339 UTC time or date, exclusive.
    pub until: Option<String>,
    /// Comma separated: tenant, key, model, provider, deployment, region, status, day.
    pub group_by: Option<String>,
}

impl UsageParams {
    fn query(self) -> Result<UsageQuery, AdminError> {
        let instant = |name: &str, text: Option<String>| {
            text.map(|t| {
                parse_rfc3339_utc(&t).map(|s| s * 1000).ok_or_else(|| {
                    AdminError::invalid(format!(
                        "`{name}`: `{t}` is not a date (2026-11-01) or a UTC time (2026-11-01T00:00:00Z)"
                    ))
                })
            })
            .transpose()
        };
        let group_by = self
            .group_by
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(|g| {
                Dimension::parse(g).ok_or_else(|| {
                    AdminError::invalid(format!(
                        "`group_by`: unknown dimension `{g}`; expected tenant, key, model, provider, deployment, region, status or day"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UsageQuery {
            tenant: self.tenant,
            key_id: self.key,
            model: self.model,
            provider: self.provider,
            since_ms: instant("since", self.since)?,
            until_ms: instant("until", self.until)?,
            group_by,
        })
    }
}

fn check_limits(
    rpm: Option<u64>,
    tpm: Option<u64>,
    max_concurrent: Option<u32>,
) -> Result<(), AdminError> {
    for (name, value) in [
        ("rpm", rpm),
        ("tpm", tpm),
        ("max_concurrent", max_concurrent.map(u64::from)),
    ] {
        if value == Some(0) {
            return Err(AdminError::invalid(format!(
                "`{name}` must be at least 1 (leave it out, or null, for no limit)"
            )));
        }
    }
    Ok(())
}

fn check_models(models: Option<&Vec<String>>) -> Result<(), AdminError> {
    if let Some(models) = models
        && (models.is_empty() || models.iter().any(|m| m.trim().is_empty()))
    {
        return Err(AdminError::invalid(
            "`models` lists model names a key may use; leave it out (or null) for every model",
        ));
    }
    Ok(())
}

fn check_regions(regions: Option<&Vec<String>>) -> Result<(), AdminError> {
    if let Some(regions) = regions
        && (regions.is_empty()
            || regions
                .iter()
                .any(|r| r.trim().is_empty() || r.contains(',')))
    {
        return Err(AdminError::invalid(
            "`regions` lists the deployment regions a tenant's requests may use (e.g. [\"eu-west-1\"]); leave it out (or null) for any region",
        ));
    }
    Ok(())
}

/// The budget fields of a request, checked.
struct BudgetFields<'a> {
    usd: Option<Option<&'a Value>>,
    period: Option<&'a str>,
    tz: Option<&'a str>,
    enforcement: Option<&'a str>,
}

impl BudgetFields<'_> {
    fn any(&self) -> bool {
        self.usd.is_some()
            || self.period.is_some()
            || self.tz.is_some()
            || self.enforcement.is_some()
    }

    /// The budget to store: `None` leaves it as it is, `Some(None)` removes it. `current` is the
    /// stored budget, which fields left out keep.
    fn resolve(&self, current: Option<&Budget>) -> Result<Option<Option<Budget>>, AdminError> {
        if !self.any() {
            return Ok(None);
        }
        let limit_nano = match self.usd {
            Some(None) => {
                if self.period.is_some() || self.tz.is_some() || self.enforcement.is_some() {
                    return Err(AdminError::invalid(
                        "`budget_usd` is null, which removes the budget; leave out budget_period, budget_tz and budget_enforcement",
                    ));
                }
                return Ok(Some(None));
            }
            Some(Some(Value::String(text))) => crate::budget::parse_usd(text)
                .map_err(|e| AdminError::invalid(format!("`budget_usd`: {e}")))?,
            Some(Some(other)) => {
                return Err(AdminError::invalid(format!(
                    "`budget_usd`: give dollars as a decimal string, e.g. \"{other}\", so no precision is lost"
                )));
            }
            None => match current {
                Some(budget) => budget.limit_nano,
                None => {
                    return Err(AdminError::invalid(
                        "budget_period, budget_tz and budget_enforcement need `budget_usd` (there is no budget yet)",
                    ));
                }
            },
        };
        let period = match self.period {
            Some(name) => BudgetPeriod::parse(name).ok_or_else(|| {
                AdminError::invalid(format!(
                    "`budget_period`: unknown period `{name}`; expected day, week, month or total"
                ))
            })?,
            None => current.map_or(BudgetPeriod::Month, |b| b.period),
        };
        let tz = match self.tz {
            Some(name) => {
                let zone = crate::budget::period::zone(name)
                    .map_err(|e| AdminError::invalid(format!("`budget_tz`: {e}")))?;
                // Store the database's own spelling of the name.
                zone.iana_name().unwrap_or(name).to_owned()
            }
            None => current.map_or_else(|| "UTC".to_owned(), |b| b.tz.clone()),
        };
        let soft = match self.enforcement {
            Some("hard") => false,
            Some("soft") => true,
            Some(other) => {
                return Err(AdminError::invalid(format!(
                    "`budget_enforcement`: unknown enforcement `{other}`; expected hard or soft"
                )));
            }
            None => current.is_some_and(|b| b.soft),
        };
        Ok(Some(Some(Budget {
            limit_nano,
            period,
            tz,
            soft,
        })))
    }
}

fn expiry(text: &str) -> Result<i64, AdminError> {
    parse_rfc3339_utc(text).map(|s| s * 1000).ok_or_else(|| {
        AdminError::invalid(format!(
            "`expires_at`: `{text}` is not a date (2027-01-01) or a UTC time (2027-01-01T00:00:00Z)"
        ))
    })
}

fn time(ms: i64) -> String {
    format_rfc3339_utc(ms.div_euclid(1000))
}

/// The operations, on one store.
#[derive(Debug, Clone)]
pub struct Tenancy<'a> {
    pub store: &'a Store,
}

impl Tenancy<'_> {
    pub async fn create_tenant(&self, req: CreateTenant) -> Result<Value, AdminError> {
        check_limits(req.rpm, req.tpm, req.max_concurrent)?;
        check_regions(req.regions.as_ref())?;
        let budget = BudgetFields {
            usd: req.budget_usd.as_ref().map(Some),
            period: req.budget_period.as_deref(),
            tz: req.budget_tz.as_deref(),
            enforcement: req.budget_enforcement.as_deref(),
        }
        .resolve(None)?
        .flatten();
        let new = NewTenant {
            id: req.id,
            limits: Limits {
                rpm: req.rpm,
                tpm: req.tpm,
                max_concurrent: req.max_concurrent,
            },
            regions: req.regions,
            budget,
        };
        let tenant = self.store.create_tenant(&new).await.map_err(|e| match e {
            StoreError::Conflict(_) => AdminError::new(
                409,
                "tenant_exists",
                format!("a tenant `{}` already exists", new.id),
            ),
            e => AdminError::from_store(e, "tenant_not_found"),
        })?;
        Ok(tenant_json(&tenant))
    }

    pub async fn tenants(&self) -> Result<Value, AdminError> {
        let tenants = self
            .store
            .tenants()
            .await
            .map_err(|e| AdminError::from_store(e, "tenant_not_found"))?;
        Ok(json!({ "object": "list", "data": tenants.iter().map(tenant_json).collect::<Vec<_>>() }))
    }

    /// A tenant, with where its budget stands in the current period.
    pub async fn tenant(&self, id: &str) -> Result<Value, AdminError> {
        let found = self.store.tenant(id).await;
        let budget = found
            .as_ref()
            .ok()
            .cloned()
            .flatten()
            .and_then(|t| t.budget);
        let mut view = tenant_view(id, found)?;
        self.add_standing(&mut view, BudgetScope::Tenant, id, budget.as_ref())
            .await?;
        Ok(view)
    }

    /// Adds `period_start`, `resets_at`, `spent_usd` and `held_usd` to a view's budget.
    async fn add_standing(
        &self,
        view: &mut Value,
        scope: BudgetScope,
        owner: &str,
        budget: Option<&Budget>,
    ) -> Result<(), AdminError> {
        let Some(budget) = budget else {
            return Ok(());
        };
        let zone = crate::budget::CachedBudget::from_record(budget);
        let (start, end) = crate::budget::period::bounds(budget.period, &zone.tz, Store::now_ms())
            .map_err(|e| AdminError::new(500, "internal", e))?;
        let (spent, held) = self
            .store
            .budget_standing(scope, owner, start)
            .await
            .map_err(|e| AdminError::from_store(e, "not_found"))?;
        if let Some(Value::Object(map)) = view.get_mut("budget") {
            let local = |ms| crate::budget::period::local_time(ms, &zone.tz);
            map.insert("period_start".into(), json!(local(start)));
            map.insert("resets_at".into(), json!(end.map(local)));
            map.insert(
                "spent_usd".into(),
                json!(crate::budget::format_usd_nano(spent)),
            );
            map.insert(
                "held_usd".into(),
                json!(crate::budget::format_usd_nano(held)),
            );
        }
        Ok(())
    }

    pub async fn update_tenant(&self, id: &str, req: UpdateTenant) -> Result<Value, AdminError> {
        check_limits(
            req.rpm.flatten(),
            req.tpm.flatten(),
            req.max_concurrent.flatten(),
        )?;
        check_regions(req.regions.as_ref().and_then(Option::as_ref))?;
        let fields = BudgetFields {
            usd: req.budget_usd.as_ref().map(Option::as_ref),
            period: req.budget_period.as_deref(),
            tz: req.budget_tz.as_deref(),
            enforcement: req.budget_enforcement.as_deref(),
        };
        let budget = if fields.any() {
            let current = match self.store.tenant(id).await {
                Ok(Some(tenant)) => tenant.budget,
                found => return tenant_view(id, found),
            };
            fields.resolve(current.as_ref())?
        } else {
            None
        };
        let patch = TenantPatch {
            rpm: req.rpm,
            tpm: req.tpm,
            max_concurrent: req.max_concurrent,
            disabled: req.disabled,
            regions: req.regions,
            budget,
        };
        tenant_view(id, self.store.update_tenant(id, &patch).await)
    }

    /// Creates a key, creating its tenant (with no limits) when it does not exist yet. The answer
    /// is the only place the secret (and the secret access key) ever appears.
    pub async fn create_key(&self, req: CreateKey) -> Result<Value, AdminError> {
        check_limits(req.rpm, req.tpm, req.max_concurrent)?;
        check_models(req.models.as_ref())?;
        let expires_at = req.expires_at.as_deref().map(expiry).transpose()?;
        let budget = BudgetFields {
            usd: req.budget_usd.as_ref().map(Some),
            period: req.budget_period.as_deref(),
            tz: req.budget_tz.as_deref(),
            enforcement: req.budget_enforcement.as_deref(),
        }
        .resolve(None)?
        .flatten();
        self.store
            .ensure_tenant(&req.tenant)
            .await
            .map_err(|e| AdminError::from_store(e, "tenant_not_found"))?;
        let material = mint_key(req.aws_access_key);
        let (access_key_id, secret_access_key) = material.aws.clone().unzip();
        let new = NewKey {
            id: material.id.clone(),
            tenant: req.tenant,
            name: req.name,
            prefix: material.prefix.clone(),
            hash: material.hash,
            models: req.models,
            limits: Limits {
                rpm: req.rpm,
                tpm: req.tpm,
                max_concurrent: req.max_concurrent,
            },
            expires_at,
            access_key_id,
            secret_access_key,
            routing_hints: req.routing_hints,
            budget,
        };
        let record = self
            .store
            .create_key(&new)
            .await
            .map_err(|e| AdminError::from_store(e, "tenant_not_found"))?;
        let mut view = key_json(&record);
        if let Value::Object(map) = &mut view {
            map.insert("key".into(), Value::String(material.secret));
            if let Some((id, secret)) = material.aws {
                map.insert("access_key_id".into(), Value::String(id));
                map.insert("secret_access_key".into(), Value::String(secret));
            }
        }
        Ok(view)
    }

    pub async fn keys(
        &self,
        tenant: Option<String>,
        include_revoked: bool,
    ) -> Result<Value, AdminError> {
        let filter = KeyFilter {
            tenant,
            include_revoked,
        };
        let keys = self
            .store
            .keys(&filter)
            .await
            .map_err(|e| AdminError::from_store(e, "key_not_found"))?;
        Ok(json!({ "object": "list", "data": keys.iter().map(key_json).collect::<Vec<_>>() }))
    }

    /// A key, with where its budget stands in the current period.
    pub async fn key(&self, id: &str) -> Result<Value, AdminError> {
        let found = self.store.key(id).await;
        let budget = found
            .as_ref()
            .ok()
            .cloned()
            .flatten()
            .and_then(|k| k.budget);
        let mut view = key_view(id, found)?;
        self.add_standing(&mut view, BudgetScope::Key, id, budget.as_ref())
            .await?;
        Ok(view)
    }

    pub async fn update_key(&self, id: &str, req: UpdateKey) -> Result<Value, AdminError> {
        check_limits(
            req.rpm.flatten(),
            req.tpm.flatten(),
            req.max_concurrent.flatten(),
        )?;
        check_models(req.models.as_ref().and_then(Option::as_ref))?;
        let expires_at = match req.expires_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => Some(Some(expiry(&text)?)),
        };
        let fields = BudgetFields {
            usd: req.budget_usd.as_ref().map(Option::as_ref),
            period: req.budget_period.as_deref(),
            tz: req.budget_tz.as_deref(),
            enforcement: req.budget_enforcement.as_deref(),
        };
        let budget = if fields.any() {
            let current = match self.store.key(id).await {
                Ok(Some(key)) => key.budget,
                found => return key_view(id, found),
            };
            fields.resolve(current.as_ref())?
        } else {
            None
        };
        let patch = KeyPatch {
            name: req.name,
            models: req.models,
            expires_at,
            rpm: req.rpm,
            tpm: req.tpm,
            max_concurrent: req.max_concurrent,
            routing_hints: req.routing_hints,
            budget,
        };
        key_view(id, self.store.update_key(id, &patch).await)
    }

    /// Usage totals per group: token buckets and exact cost. `cost_usd` is null when any request
    /// of the row has no known price (`priced_cost_usd` then holds what is known).
    pub async fn usage(&self, params: UsageParams) -> Result<Value, AdminError> {
        let query = params.query()?;
        let rows = self
            .store
            .usage_report(&query)
            .await
            .map_err(|e| AdminError::from_store(e, "not_found"))?;
        let rows: Vec<Value> = rows
            .iter()
            .map(|row| {
                let mut view = serde_json::Map::new();
                for (dimension, value) in &row.group {
                    view.insert(dimension.name().to_owned(), json!(value));
                }
                let priced = crate::ledger::format_usd(row.cost_pico);
                view.extend([
                    ("requests".to_owned(), json!(row.requests)),
                    ("input_tokens".to_owned(), json!(row.tokens.input)),
                    ("cache_read_tokens".to_owned(), json!(row.tokens.cache_read)),
                    (
                        "cache_write_tokens".to_owned(),
                        json!(row.tokens.cache_write),
                    ),
                    ("output_tokens".to_owned(), json!(row.tokens.output)),
                    ("reasoning_tokens".to_owned(), json!(row.tokens.reasoning)),
                    (
                        "cost_usd".to_owned(),
                        if row.unpriced_requests == 0 {
                            json!(priced)
                        } else {
                            Value::Null
                        },
                    ),
                    ("priced_cost_usd".to_owned(), json!(priced)),
                    ("unpriced_requests".to_owned(), json!(row.unpriced_requests)),
                ]);
                Value::Object(view)
            })
            .collect();
        Ok(json!({ "rows": rows }))
    }

    /// Revokes a key for good; every node refuses it within seconds.
    pub async fn revoke_key(&self, id: &str) -> Result<Value, AdminError> {
        key_view(id, self.store.revoke_key(id).await)
    }
}

/// A looked-up tenant as JSON, or 404 `tenant_not_found`.
fn tenant_view(id: &str, found: Result<Option<Tenant>, StoreError>) -> Result<Value, AdminError> {
    match found {
        Ok(Some(tenant)) => Ok(tenant_json(&tenant)),
        Ok(None) => Err(AdminError::new(
            404,
            "tenant_not_found",
            format!("no tenant `{id}`"),
        )),
        Err(e) => Err(AdminError::from_store(e, "tenant_not_found")),
    }
}

/// A looked-up key as JSON, or 404 `key_not_found`.
fn key_view(id: &str, found: Result<Option<KeyRecord>, StoreError>) -> Result<Value, AdminError> {
    match found {
        Ok(Some(key)) => Ok(key_json(&key)),
        Ok(None) => Err(AdminError::new(
            404,
            "key_not_found",
            format!("no key `{id}`"),
        )),
        Err(e) => Err(AdminError::from_store(e, "key_not_found")),
    }
}

fn limits_json(limits: &Limits) -> Value {
    json!({
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "max_concurrent": limits.max_concurrent,
    })
}

pub fn tenant_json(tenant: &Tenant) -> Value {
    let mut view = json!({
        "object": "tenant",
        "id": tenant.id,
        "disabled": tenant.disabled,
        "regions": tenant.regions,
        "created_at": time(tenant.created_at),
        "updated_at": time(tenant.updated_at),
    });
    merge(&mut view, limits_json(&tenant.limits));
    merge(
        &mut view,
        json!({ "budget": tenant.budget.as_ref().map(budget_json) }),
    );
    view
}

/// A budget as the admin API shows it, in the request fields' terms.
fn budget_json(budget: &Budget) -> Value {
    json!({
        "usd": crate::budget::format_usd_nano(budget.limit_nano),
        "period": budget.period.name(),
        "tz": budget.tz,
        "enforcement": if budget.soft { "soft" } else { "hard" },
    })
}

/// A key as the admin API shows it: never the secret, never the secret access key.
pub fn key_json(key: &KeyRecord) -> Value {
    let status = if key.revoked_at.is_some() {
        "revoked"
    } else if key.expires_at.is_some_and(|at| at <= Store::now_ms()) {
        "expired"
    } else {
        "active"
    };
    let mut view = json!({
        "object": "key",
        "id": key.id,
        "tenant": key.tenant,
        "name": key.name,
        "prefix": key.prefix,
        "status": status,
        "models": key.models,
        "expires_at": key.expires_at.map(time),
        "revoked_at": key.revoked_at.map(time),
        "access_key_id": key.access_key_id,
        "routing_hints": key.routing_hints,
        "created_at": time(key.created_at),
        "updated_at": time(key.updated_at),
    });
    merge(&mut view, limits_json(&key.limits));
    merge(
        &mut view,
        json!({ "budget": key.budget.as_ref().map(budget_json) }),
    );
    view
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_tell_absent_from_null() {
        let req: UpdateKey =
            parse(br#"{"rpm": null, "tpm": 100}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(req.rpm, Some(None));
        assert_eq!(req.tpm, Some(Some(100)));
        assert_eq!(req.max_concurrent, None);
    }

    #[test]
    fn bad_fields_are_named() {
        let e = parse::<CreateKey>(br#"{"tenant": "acme", "rpm": "many"}"#)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.code, "invalid_request");
        assert!(e.message.contains("rpm"), "{}", e.message);
        let e = parse::<CreateKey>(br#"{"tenant": "acme", "colour": "red"}"#)
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(e.message.contains("colour"), "{}", e.message);
    }

    #[test]
    fn zero_limits_are_refused() {
        assert!(check_limits(Some(0), None, None).is_err());
        assert!(check_limits(None, None, Some(0)).is_err());
        assert!(check_limits(Some(1), Some(1), Some(1)).is_ok());
    }
}
