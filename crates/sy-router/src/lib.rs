//! Switchyard routing: given the model a client asked for, which deployments may serve it and in what order.
//!
//! Invariant: a routing decision is a function of the table, the deployments' health and the inputs in
//! [`PlanInput`] (time, randomness); it does no I/O and reads no clock.

mod health;
mod needs;
mod retry;
mod strategy;
#[cfg(test)]
mod tests;

pub use health::{HealthPolicy, HealthRef, TargetHealth};
pub use needs::Needs;
pub use retry::{MAX_RETRY_AFTER, RetryBudget, backoff};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sy_config::{Capabilities, Config, PricePoint, Routing, Timeouts};

/// One place a request can go.
#[derive(Debug)]
pub struct Target {
    /// The deployment's name, reported in `x-switchyard-deployment`.
    pub deployment: Arc<str>,
    /// The provider's name, reported in `x-switchyard-provider`.
    pub provider: Arc<str>,
    /// Index of the provider in the config's provider list.
    pub provider_index: usize,
    /// The upstream's own model id.
    pub upstream_model: Arc<str>,
    pub weight: u32,
    /// List prices, oldest first.
    pub prices: Vec<PricePoint>,
    /// Copied into the next table on reload, so a cooling deployment stays cooled.
    pub health: HealthRef,
    /// The licence window `[from, until)` of the partner agreement covering the provider, if any.
    pub licence: Option<(i64, i64)>,
    /// The provider is a primary partner: preferred under every strategy while healthy.
    pub primary: bool,
    pub region: Option<Arc<str>>,
    pub capabilities: Capabilities,
    /// Time limits for requests to this deployment.
    pub timeouts: Timeouts,
}

impl Target {
    /// Input plus output price per million tokens at `now_unix`, if known.
    pub fn price_at(&self, now_unix: i64) -> Option<i64> {
        self.price_point_at(now_unix)
            .map(|p| p.input.0.saturating_add(p.output.0))
    }

    /// The price in force at `now_unix`: the latest entry whose `effective_from` has passed
    /// (half-open windows, `[from, next from)`).
    pub fn price_point_at(&self, now_unix: i64) -> Option<PricePoint> {
        self.prices
            .iter()
            .rev()
            .find(|p| p.effective_from <= now_unix)
            .copied()
    }
}

/// A model clients may ask for.
#[derive(Debug)]
pub struct Route {
    pub name: Arc<str>,
    pub routing: Routing,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub targets: Vec<Target>,
    /// Smooth weighted round-robin order of target indices, for `weighted` routing.
    weighted_order: Vec<usize>,
    /// `0..targets.len()`, the failover order of every strategy but lowest-cost.
    config_order: Vec<usize>,
    /// For lowest-cost: from each instant prices change, the targets cheapest first.
    cost_orders: Vec<(i64, Vec<usize>)>,
    /// What each decision checks per target, packed together so the scan stays in cache.
    gates: Vec<Gate>,
    /// Every target's health, contiguous; `Target::health` points into it.
    health: Arc<[TargetHealth]>,
    /// Advances once per weighted decision.
    turn: AtomicU64,
}

/// The per-target facts one routing decision checks.
#[derive(Debug)]
struct Gate {
    caps: u8,
    max_context: u64,
    max_output: u64,
    licence: (i64, i64),
    primary: bool,
}

impl Gate {
    fn of(t: &Target) -> Self {
        Self {
            caps: needs::capability_bits(&t.capabilities),
            max_context: t.capabilities.max_context_tokens.unwrap_or(u64::MAX),
            max_output: t.capabilities.max_output_tokens.unwrap_or(u64::MAX),
            licence: t.licence.unwrap_or((i64::MIN, i64::MAX)),
            primary: t.primary,
        }
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    UnknownModel,
    /// The request named a deployment the model does not have.
    UnknownDeployment(String),
    /// No deployment can serve the request; one reason per deployment.
    Unsatisfied(Vec<(Arc<str>, String)>),
    /// Deployments could serve it, but none is licensed now.
    NotLicensed,
}

/// Where a deployment stands for one decision (ordered: healthy ones compare greater).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    /// Cannot serve the request: never in the plan.
    Unfit,
    /// Could serve it, but outside its licence window: never in the plan.
    Unlicensed,
    /// Cooling down: last resort.
    Cooling,
    Healthy,
    /// Healthy and a primary partner: ahead of every other.
    HealthyPrimary,
}

impl Route {
    /// The cheapest-first order in force at `now_unix`.
    fn cost_order(&self, now_unix: i64) -> &[usize] {
        let at = self
            .cost_orders
            .partition_point(|(from, _)| *from <= now_unix);
        self.cost_orders
            .get(at.saturating_sub(1))
            .map_or(&self.config_order[..], |(_, order)| &order[..])
    }
}

/// What a routing decision needs besides the table: the time and a random number.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput {
    /// Monotonic milliseconds, for health.
    pub now_ms: u64,
    /// Wall-clock seconds since the Unix epoch, for price effective dates.
    pub now_unix: i64,
    /// Fresh randomness, for least-latency's two choices.
    pub random: u64,
}

/// Every model's route, built once per config.
#[derive(Debug, Default)]
pub struct RoutingTable {
    routes: HashMap<Arc<str>, Route>,
    /// Model names in config order, for listings.
    order: Vec<Arc<str>>,
    policy: HealthPolicy,
    budget: RetryBudget,
}

impl RoutingTable {
    pub fn from_config(config: &Config) -> Self {
        Self::from_config_after(config, None)
    }

    /// Builds the table for a reloaded config, keeping the health of deployments that remain
    /// (same model, same deployment name).
    pub fn from_config_after(config: &Config, previous: Option<&RoutingTable>) -> Self {
        let mut table = Self::default();
        for model in &config.models {
            let previous_route = previous.and_then(|p| p.routes.get(model.name.as_str()));
            // Validation guarantees every provider exists; a deployment whose provider does not is
            // skipped, so target `i` and health slot `i` always describe the same deployment.
            let kept: Vec<(&sy_config::Deployment, usize)> = model
                .deployments
                .iter()
                .filter_map(|d| {
                    let index = config.providers.iter().position(|p| p.name == d.provider)?;
                    Some((d, index))
                })
                .collect();
            let health: Arc<[TargetHealth]> = kept
                .iter()
                .map(|(d, _)| {
                    previous_route
                        .and_then(|r| r.targets.iter().find(|t| *t.deployment == *d.name))
                        .map_or_else(TargetHealth::default, |t| TargetHealth::copy_of(&t.health))
                })
                .collect();
            let targets: Vec<Target> = kept
                .iter()
                .enumerate()
                .map(|(index, &(d, provider_index))| {
                    let agreement = config.agreement_for(&d.provider);
                    Target {
                        licence: agreement.map(|a| (a.licensed_from, a.licensed_until)),
                        primary: agreement.is_some_and(|a| a.primary),
                        region: d.region.as_deref().map(Arc::from),
                        capabilities: d.capabilities,
                        timeouts: d.timeouts,
                        deployment: d.name.as_str().into(),
                        provider: d.provider.as_str().into(),
                        provider_index,
                        upstream_model: d.upstream_model.as_str().into(),
                        weight: d.weight,
                        prices: d.prices.clone(),
                        health: HealthRef::new(health.clone(), index),
                    }
                })
                .collect();
            let weights: Vec<u32> = targets.iter().map(|t| t.weight).collect();
            let name: Arc<str> = model.name.as_str().into();
            table.order.push(name.clone());
            table.routes.insert(
                name.clone(),
                Route {
                    name,
                    routing: model.routing,
                    max_attempts: model.max_attempts,
                    weighted_order: strategy::smooth_weighted_order(&weights),
                    config_order: (0..targets.len()).collect(),
                    cost_orders: strategy::cost_orders(&targets),
                    gates: targets.iter().map(Gate::of).collect(),
                    health,
                    turn: AtomicU64::new(0),
                    targets,
                },
            );
        }
        table
    }

    pub fn route(&self, model: &str) -> Option<&Route> {
        self.routes.get(model)
    }

    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    pub fn retry_budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// The targets to try for `model`, first choice first. Only deployments that can serve `needs`
    /// and are inside their licence window are in a plan; primary partners go first under every
    /// strategy; deployments cooling down come last, so they are tried only when nothing else
    /// answers. One pass, two small allocations.
    pub fn plan(
        &self,
        model: &str,
        input: &PlanInput,
        needs: &Needs<'_>,
    ) -> Result<Vec<&Target>, PlanError> {
        self.plan_at_most(model, input, needs, usize::MAX)
    }

    /// [`RoutingTable::plan`], cut to its first `limit` targets: a request makes at most
    /// `max_attempts` attempts, so the gateway never needs more, and a long plan costs time to build.
    pub fn plan_at_most(
        &self,
        model: &str,
        input: &PlanInput,
        needs: &Needs<'_>,
        limit: usize,
    ) -> Result<Vec<&Target>, PlanError> {
        let route = self.routes.get(model).ok_or(PlanError::UnknownModel)?;
        let targets = &route.targets;
        if let Some(named) = needs.deployment
            && !targets.iter().any(|t| &*t.deployment == named)
        {
            return Err(PlanError::UnknownDeployment(named.to_owned()));
        }
        let need_bits = needs.bits();
        let output = needs.output_tokens.unwrap_or(0);
        let context = needs.input_tokens.saturating_add(output);
        // Hints are rare: resolve them before the hot loop so it stays small.
        let hinted: Option<Vec<bool>> = (needs.deployment.is_some() || needs.regions.is_some())
            .then(|| {
                targets
                    .iter()
                    .map(|t| {
                        needs.satisfied_by(&t.deployment, &t.capabilities, t.region.as_deref())
                    })
                    .collect()
            });
        let (now_unix, now_ms) = (input.now_unix, input.now_ms);
        let state: Vec<Standing> = route
            .gates
            .iter()
            .zip(route.health.iter())
            .enumerate()
            .map(|(i, (g, health))| {
                let fits = need_bits & !g.caps == 0
                    && output <= g.max_output
                    && context <= g.max_context
                    && hinted.as_ref().is_none_or(|h| h[i]);
                if !fits {
                    Standing::Unfit
                } else if now_unix < g.licence.0 || now_unix >= g.licence.1 {
                    Standing::Unlicensed
                } else if !health.admit(now_ms, &self.policy) {
                    Standing::Cooling
                } else if g.primary {
                    Standing::HealthyPrimary
                } else {
                    Standing::Healthy
                }
            })
            .collect();
        let capable = state.iter().any(|s| *s != Standing::Unfit);
        let licensed_capable = state.iter().any(|s| *s >= Standing::Cooling);
        if !capable {
            let reasons = targets
                .iter()
                .filter_map(|t| {
                    needs
                        .unmet(&t.deployment, &t.capabilities, t.region.as_deref())
                        .map(|why| (t.deployment.clone(), why))
                })
                .collect();
            return Err(PlanError::Unsatisfied(reasons));
        }
        if !licensed_capable {
            return Err(PlanError::NotLicensed);
        }
        let healthy = |i: &usize| state[*i] >= Standing::Healthy;
        let first = match route.routing {
            Routing::Priority | Routing::LowestCost => None,
            Routing::Weighted => {
                let turn = route.turn.fetch_add(1, Ordering::Relaxed);
                strategy::weighted_first(&route.weighted_order, turn, |i| healthy(&i))
            }
            Routing::LeastLatency => strategy::two_choices(
                state.iter().filter(|s| **s >= Standing::Healthy).count(),
                input.random,
                |rank| (0..targets.len()).filter(healthy).nth(rank),
                |i| targets[i].health.latency_us(),
            ),
        };
        let base: &[usize] = match route.routing {
            Routing::LowestCost => route.cost_order(input.now_unix),
            _ => &route.config_order,
        };
        let limit = limit.max(1);
        let mut plan = Vec::with_capacity(targets.len().min(limit));
        // Passes only for the standings present: usually one, over healthy non-primaries.
        let present = |s: Standing| state.contains(&s);
        for standing in [
            Standing::HealthyPrimary,
            Standing::Healthy,
            Standing::Cooling,
        ] {
            if !present(standing) {
                continue;
            }
            if let Some(f) = first.filter(|&f| state[f] == standing) {
                plan.push(&targets[f]);
            }
            let order = if standing == Standing::Cooling {
                &route.config_order[..]
            } else {
                base
            };
            for &i in order {
                if plan.len() >= limit {
                    return Ok(plan);
                }
                if state[i] == standing && Some(i) != first {
                    plan.push(&targets[i]);
                }
            }
        }
        plan.truncate(limit);
        Ok(plan)
    }

    /// Routes in config order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.order.iter().filter_map(|name| self.routes.get(name))
    }
}
