//! Budgets at admission: before a request is sent anywhere, an upper bound of its cost is held
//! against its key's and its tenant's budgets for the current period, all or none.
//!
//! The store is the authority shared by every node, but a round trip per request would cost more
//! than the gateway itself, so each node leases money from it (`Store::lease_budgets`) and hands it
//! out in memory: a request takes its bound from the node's lease and gives back what it did not
//! spend when it ends; its usage record then moves its actual cost from reserved to spent in the
//! store. A lease asks for a sixty-fourth of the budget at a time, but never more than the budget
//! has left beyond what the request needs, so near the end of a budget every node asks for exactly
//! what each request needs and concurrent requests on any number of nodes are admitted exactly up
//! to the limit. Each node gives back leases it has not used for a few seconds, beats a heartbeat,
//! and releases the holds of nodes whose heartbeat stopped.
//!
//! The bound is the most the request can cost on any deployment its plan may try: its input
//! estimate at the dearest input rate (cache writes included) plus its output ceiling
//! (`max_tokens`, else the model's maximum output, else [`DEFAULT_OUTPUT_BOUND`]) at the dearest
//! output rate. A hard budget is never overspent by concurrent requests; it can be passed only by
//! a provider billing more than that bound. Deployments with no known price cost nothing here:
//! the ledger records them as unpriced.

pub mod period;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use sy_core::{ErrorKind, GatewayError};
use sy_router::Target;
use sy_store::{
    BudgetPeriod, BudgetScope, CounterKey, Lease, LeaseAsk, NANO_PER_USD, Standing, Store,
};
use tracing::warn;

use crate::auth::Caller;

/// The output ceiling of a request that sets none, on a model whose maximum output is unknown.
pub const DEFAULT_OUTPUT_BOUND: u64 = 4096;

/// How often each node beats its heartbeat, gives back idle leases and looks for silent nodes.
const TICK: Duration = Duration::from_secs(5);

/// A lease not used for this long goes back to the store.
const IDLE: Duration = Duration::from_secs(5);

/// A node silent for this long is taken for dead and what it held is released.
const SILENT: Duration = Duration::from_secs(120);

/// A lease asks for this fraction of the budget at a time (when the budget can spare it).
const LEASE_DIVISOR: i64 = 64;

/// How many times an admission goes back for more lease when concurrent requests took it first.
const LEASE_TRIES: usize = 5;

/// A budget as the request path uses it, with its zone looked up once.
#[derive(Debug, Clone)]
pub struct CachedBudget {
    pub limit_nano: i64,
    pub period: BudgetPeriod,
    pub tz: TimeZone,
    pub tz_name: Arc<str>,
    pub soft: bool,
}

impl CachedBudget {
    pub fn from_record(budget: &sy_store::Budget) -> Self {
        let tz = period::zone(&budget.tz).unwrap_or_else(|reason| {
            // Written through the admin API or CLI, which check the name: only a database edited
            // by hand (or a zone dropped from the tz database) gets here.
            warn!(%reason, "budget time zone unknown; using UTC");
            TimeZone::UTC
        });
        Self {
            limit_nano: budget.limit_nano,
            period: budget.period,
            tz,
            tz_name: budget.tz.as_str().into(),
            soft: budget.soft,
        }
    }
}

/// The most `input_tokens` plus the request's output can cost on any of `targets`, in nano-USD,
/// rounded up.
pub fn upper_bound_nano(
    targets: &[&Target],
    input_tokens: u64,
    output_tokens: Option<u64>,
    now_unix: i64,
) -> i64 {
    let pico = targets
        .iter()
        .filter_map(|target| {
            let price = target.price_point_at(now_unix)?;
            let input_rate = price
                .input
                .0
                .max(price.cache_write.0)
                .max(price.cache_read.0);
            let output_rate = price.output.0.max(price.reasoning.0);
            let output = output_tokens
                .or(target.capabilities.max_output_tokens)
                .unwrap_or(DEFAULT_OUTPUT_BOUND);
            Some(
                i128::from(input_tokens) * i128::from(input_rate)
                    + i128::from(output) * i128::from(output_rate),
            )
        })
        .max()
        .unwrap_or(0);
    let nano = (pico.max(0) as u128).div_ceil(1000);
    i64::try_from(nano).unwrap_or(i64::MAX)
}

/// Nano-USD as dollars for people: `12.50`, `0.000123`.
pub fn format_usd_nano(nano: i64) -> String {
    crate::ledger::format_usd(i128::from(nano) * 1000)
}

/// Money of one counter this node may hand out without asking the store.
#[derive(Debug)]
struct LocalLease {
    available: i64,
    last_used: Instant,
}

/// Admission against budgets: this node's leases and the soft-budget warnings already given.
#[derive(Debug, Default)]
pub struct Budgets {
    leases: Mutex<HashMap<CounterKey, LocalLease>>,
    /// Soft budgets reported as exceeded, by counter: one warning each.
    warned: Mutex<HashSet<CounterKey>>,
}

/// What a request holds against budgets until it ends.
#[derive(Debug, Clone)]
pub struct Hold {
    pub counters: Vec<CounterKey>,
    pub amount_nano: i64,
}

/// What admission decided.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Money was held: the request gives back what it did not spend when it ends.
    pub hold: Option<Hold>,
    /// Soft budgets the request went past, for the response header.
    pub over_soft: Vec<String>,
}

struct Ask<'a> {
    counter: CounterKey,
    budget: &'a CachedBudget,
    end: Option<i64>,
}

impl Budgets {
    /// Holds `amount_nano` against the caller's budgets, or refuses the request.
    pub async fn admit(
        &self,
        store: &Store,
        caller: &Caller,
        amount_nano: i64,
        now_ms: i64,
    ) -> Result<Admitted, GatewayError> {
        let owners = [
            (BudgetScope::Key, &caller.key.id, caller.key.budget.as_ref()),
            (
                BudgetScope::Tenant,
                &caller.tenant.id,
                caller.tenant.budget.as_ref(),
            ),
        ];
        let mut asks = Vec::with_capacity(2);
        for (scope, owner, budget) in owners {
            let Some(budget) = budget else { continue };
            let (period_start, end) = period::bounds(budget.period, &budget.tz, now_ms)
                .map_err(GatewayError::internal)?;
            asks.push(Ask {
                counter: CounterKey {
                    scope,
                    owner: owner.to_string(),
                    period_start,
                },
                budget,
                end,
            });
        }
        if asks.is_empty() {
            return Ok(Admitted::default());
        }
        for _ in 0..LEASE_TRIES {
            let short = match self.take(&asks, amount_nano) {
                Ok(()) => return Ok(self.admitted(&asks, amount_nano)),
                Err(short) => short,
            };
            let counters: Vec<CounterKey> = short
                .iter()
                .map(|(i, _)| asks[*i].counter.clone())
                .collect();
            let lease_asks: Vec<LeaseAsk<'_>> = short
                .iter()
                .zip(&counters)
                .map(|((i, need), counter)| {
                    let budget = asks[*i].budget;
                    LeaseAsk {
                        counter,
                        limit_nano: budget.limit_nano,
                        soft: budget.soft,
                        want_nano: (*need).max(budget.limit_nano / LEASE_DIVISOR),
                        need_nano: *need,
                    }
                })
                .collect();
            match store.lease_budgets(&lease_asks, now_ms).await {
                Ok(Lease::Granted(granted)) => {
                    self.credit(&counters, &granted);
                    self.warn_if_over(&granted);
                }
                Ok(Lease::Refused(standing)) => {
                    let ask = asks.iter().find(|a| a.counter == standing.counter);
                    return Err(match ask {
                        Some(ask) => exceeded(&standing, ask.budget, ask.end, amount_nano),
                        None => GatewayError::internal("a budget refused for a counter not asked"),
                    });
                }
                Err(e) if asks.iter().all(|a| a.budget.soft) => {
                    warn!(error = %e, "budgets cannot be checked; soft budgets let the request through");
                    return Ok(Admitted::default());
                }
                Err(e) => {
                    warn!(error = %e, "budgets cannot be checked; refusing");
                    return Err(GatewayError::new(
                        ErrorKind::StateUnavailable,
                        "the gateway cannot check budgets right now; retry shortly",
                    ));
                }
            }
        }
        Err(GatewayError::new(
            ErrorKind::StateUnavailable,
            "too many concurrent requests are competing for this budget; retry shortly",
        ))
    }

    /// Takes `amount` from every counter's lease, or none when some lease is short; then says
    /// how much more each short counter needs.
    fn take(&self, asks: &[Ask<'_>], amount: i64) -> Result<(), Vec<(usize, i64)>> {
        let mut leases = lock(&self.leases);
        let short: Vec<(usize, i64)> = asks
            .iter()
            .enumerate()
            .filter_map(|(i, ask)| {
                let available = leases.get(&ask.counter).map_or(0, |l| l.available);
                (available < amount).then_some((i, amount - available))
            })
            .collect();
        if !short.is_empty() {
            return Err(short);
        }
        let now = Instant::now();
        for ask in asks {
            if let Some(lease) = leases.get_mut(&ask.counter) {
                lease.available -= amount;
                lease.last_used = now;
            }
        }
        Ok(())
    }

    fn credit(&self, counters: &[CounterKey], granted: &[(i64, Standing)]) {
        let mut leases = lock(&self.leases);
        let now = Instant::now();
        for (counter, (amount, _)) in counters.iter().zip(granted) {
            let lease = leases.entry(counter.clone()).or_insert(LocalLease {
                available: 0,
                last_used: now,
            });
            lease.available = lease.available.saturating_add(*amount);
            lease.last_used = now;
        }
    }

    fn admitted(&self, asks: &[Ask<'_>], amount_nano: i64) -> Admitted {
        let warned = lock(&self.warned);
        let over_soft = asks
            .iter()
            .filter(|a| a.budget.soft && warned.contains(&a.counter))
            .map(|a| format!("{} {}", a.counter.scope.name(), a.counter.owner))
            .collect();
        Admitted {
            hold: Some(Hold {
                counters: asks.iter().map(|a| a.counter.clone()).collect(),
                amount_nano,
            }),
            over_soft,
        }
    }

    /// A soft budget past its limit is logged once per period and reported on every request.
    fn warn_if_over(&self, granted: &[(i64, Standing)]) {
        for (_, standing) in granted.iter().filter(|(_, s)| s.is_over()) {
            if lock(&self.warned).insert(standing.counter.clone()) {
                warn!(
                    scope = standing.counter.scope.name(),
                    owner = %standing.counter.owner,
                    limit_usd = %format_usd_nano(standing.limit_nano),
                    spent_usd = %format_usd_nano(standing.spent_nano),
                    "soft budget exceeded; requests continue"
                );
            }
        }
    }

    /// A request ended having cost `cost_nano`: what it held and did not spend goes back to the
    /// node's lease (its record settles the cost in the store).
    pub fn release(&self, hold: &Hold, cost_nano: i64) {
        let mut leases = lock(&self.leases);
        for counter in &hold.counters {
            if let Some(lease) = leases.get_mut(counter) {
                lease.available = lease.available.saturating_add(hold.amount_nano - cost_nano);
            }
        }
    }

    /// Gives leases unused for `idle` back to the store (all of them with `Duration::ZERO`).
    pub async fn return_idle(&self, store: &Store, idle: Duration) {
        let returning: Vec<(CounterKey, i64)> = {
            let mut leases = lock(&self.leases);
            let now = Instant::now();
            let idle_keys: Vec<CounterKey> = leases
                .iter()
                .filter(|(_, l)| now.duration_since(l.last_used) >= idle)
                .map(|(c, _)| c.clone())
                .collect();
            idle_keys
                .into_iter()
                .filter_map(|c| leases.remove(&c).map(|l| (c, l.available)))
                .collect()
        };
        for (counter, amount) in returning {
            if let Err(e) = store.return_budget_lease(&counter, amount).await {
                // The node's hold stays counted until its heartbeat stops; better than losing it.
                warn!(error = %e, owner = %counter.owner, "cannot give a budget lease back");
            }
        }
    }

    /// Every few seconds: gives back idle leases, beats this node's heartbeat and releases what
    /// silent nodes held.
    pub fn tend(budgets: Arc<Budgets>, store: Store) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                budgets.return_idle(&store, IDLE).await;
                let now = Store::now_ms();
                let silent_since = now.saturating_sub(SILENT.as_millis() as i64);
                match store.budget_heartbeat(now, silent_since).await {
                    Ok(0) => {}
                    Ok(n) => warn!(holds = n, "released the budget holds of silent nodes"),
                    Err(e) => warn!(error = %e, "cannot beat the budget heartbeat"),
                }
            }
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent even if a holder panicked: every update is a single step.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn exceeded(
    standing: &Standing,
    budget: &CachedBudget,
    end: Option<i64>,
    amount_nano: i64,
) -> GatewayError {
    let whose = match standing.counter.scope {
        BudgetScope::Key => format!("the key `{}`", standing.counter.owner),
        BudgetScope::Tenant => format!("the tenant `{}`", standing.counter.owner),
    };
    let per = match budget.period {
        BudgetPeriod::Total => "in total".to_owned(),
        p => format!("per {} ({})", p.name(), budget.tz_name),
    };
    let resets = match end {
        Some(end) => format!("; it resets at {}", period::local_time(end, &budget.tz)),
        None => String::new(),
    };
    GatewayError::new(
        ErrorKind::BudgetExceeded,
        format!(
            "the budget of {whose} ({} USD {per}) cannot cover this request: {} USD spent, {} USD held for requests in flight, and this request may cost up to {} USD{resets}",
            format_usd_nano(standing.limit_nano),
            format_usd_nano(standing.spent_nano),
            format_usd_nano(standing.reserved_nano),
            format_usd_nano(amount_nano),
        ),
    )
}

/// Parses a budget in dollars as an exact decimal string (`"12.50"`, at most nine decimals) into
/// nano-USD.
pub fn parse_usd(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not an amount of dollars like \"25\" or \"12.50\"");
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (text.contains('.') && frac.is_empty()) {
        return Err(bad());
    }
    if frac.len() > 9 {
        return Err(format!(
            "`{text}` has more than nine decimals; budgets count in nano-dollars"
        ));
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac_nano: i64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(NANO_PER_USD)
        .and_then(|w| w.checked_add(frac_nano))
        .ok_or_else(|| format!("`{text}` is too large a budget"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_parse_exactly() {
        assert_eq!(parse_usd("25").unwrap(), 25 * NANO_PER_USD);
        assert_eq!(parse_usd("12.50").unwrap(), 12_500_000_000);
        assert_eq!(parse_usd("0.000000001").unwrap(), 1);
        assert_eq!(parse_usd("0").unwrap(), 0);
        for bad in [
            "",
            "-1",
            "1.",
            ".5",
            "1e3",
            "1,5",
            "0x10",
            " 1",
            "1.0000000001",
        ] {
            assert!(parse_usd(bad).is_err(), "{bad}");
        }
        assert!(parse_usd("99999999999999").is_err(), "overflows nano-USD");
        assert_eq!(format_usd_nano(12_500_000_000), "12.50");
        assert_eq!(format_usd_nano(1), "0.000000001");
    }
}
