//! Budgets at admission: before a request is sent anywhere, an upper bound of its cost is held
//! against its key's and its tenant's budgets for the current period, all or none, in the store
//! (the authority shared by every node). The usage ledger settles the hold to the actual cost when
//! it writes the request's record; a hold its node never settled is released when it expires.
//!
//! The bound is the most the request can cost on any deployment its plan may try: its input
//! estimate at the dearest input rate (cache writes included) plus its output ceiling
//! (`max_tokens`, else the model's maximum output, else [`DEFAULT_OUTPUT_BOUND`]) at the dearest
//! output rate. A hard budget is never overspent by concurrent requests; it can be passed only by
//! a provider billing more than that bound. Deployments with no known price cost nothing here:
//! the ledger records them as unpriced.

pub mod period;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use sy_core::{ErrorKind, GatewayError};
use sy_router::Target;
use sy_store::{BudgetAsk, BudgetPeriod, BudgetScope, NANO_PER_USD, Reservation, Standing, Store};
use tracing::warn;

use crate::auth::Caller;

/// The output ceiling of a request that sets none, on a model whose maximum output is unknown.
pub const DEFAULT_OUTPUT_BOUND: u64 = 4096;

/// How long a hold lives without being settled before any node may give it back: longer than
/// any request runs, short enough that a dead node's holds do not block a budget for long.
const HOLD_LEASE: Duration = Duration::from_secs(3600);

/// How often each node looks for expired holds.
const REAP_EVERY: Duration = Duration::from_secs(60);

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

/// Admission against budgets, and the soft-budget warnings already given.
#[derive(Debug, Default)]
pub struct Budgets {
    /// Soft budgets reported as exceeded, by scope, owner and period: one warning each.
    warned: Mutex<HashSet<(BudgetScope, Arc<str>, i64)>>,
}

/// What admission decided.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Money was held: the request's usage record settles it.
    pub held: bool,
    /// Soft budgets the request went past, for the response header.
    pub over_soft: Vec<String>,
}

impl Budgets {
    /// Holds `amount_nano` against the caller's budgets, or refuses the request.
    pub async fn admit(
        &self,
        store: &Store,
        caller: &Caller,
        request_id: &str,
        amount_nano: i64,
        now_ms: i64,
    ) -> Result<Admitted, GatewayError> {
        let budgets = [
            (BudgetScope::Key, &caller.key.id, caller.key.budget.as_ref()),
            (
                BudgetScope::Tenant,
                &caller.tenant.id,
                caller.tenant.budget.as_ref(),
            ),
        ];
        let mut asks = Vec::with_capacity(2);
        let mut ends = Vec::with_capacity(2);
        for (scope, owner, budget) in budgets {
            let Some(budget) = budget else { continue };
            let (period_start, end) = period::bounds(budget.period, &budget.tz, now_ms)
                .map_err(GatewayError::internal)?;
            asks.push(BudgetAsk {
                scope,
                owner,
                period_start,
                limit_nano: budget.limit_nano,
                soft: budget.soft,
            });
            ends.push((scope, budget, end));
        }
        if asks.is_empty() {
            return Ok(Admitted::default());
        }
        let expires_at = now_ms.saturating_add(HOLD_LEASE.as_millis() as i64);
        let reserved = store
            .reserve_budgets(request_id, &asks, amount_nano, expires_at)
            .await;
        let standings = match reserved {
            Ok(Reservation::Held(standings)) => standings,
            Ok(Reservation::Refused(standing)) => {
                let (_, budget, end) = ends
                    .iter()
                    .find(|(scope, ..)| *scope == standing.scope)
                    .copied()
                    .ok_or_else(|| GatewayError::internal("budget refused for an unknown scope"))?;
                return Err(exceeded(&standing, budget, end, amount_nano));
            }
            Err(e) if asks.iter().all(|a| a.soft) => {
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
        };
        let mut admitted = Admitted {
            held: true,
            over_soft: Vec::new(),
        };
        for standing in standings.iter().filter(|s| s.is_over()) {
            let owner: Arc<str> = standing.owner.as_str().into();
            admitted
                .over_soft
                .push(format!("{} {}", standing.scope.name(), owner));
            let first = self
                .warned
                .lock()
                .map(|mut warned| warned.insert((standing.scope, owner, standing.period_start)))
                .unwrap_or(true);
            if first {
                warn!(
                    scope = standing.scope.name(),
                    owner = %standing.owner,
                    limit_usd = %format_usd_nano(standing.limit_nano),
                    spent_usd = %format_usd_nano(standing.spent_nano),
                    "soft budget exceeded; requests continue"
                );
            }
        }
        Ok(admitted)
    }

    /// Gives back, every minute, the holds of requests whose node died before settling them.
    pub fn reap_expired_holds(store: Store) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REAP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.release_expired_holds(sy_store::Store::now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => warn!(holds = n, "released expired budget holds"),
                    Err(e) => warn!(error = %e, "cannot release expired budget holds"),
                }
            }
        });
    }
}

fn exceeded(
    standing: &Standing,
    budget: &CachedBudget,
    end: Option<i64>,
    amount_nano: i64,
) -> GatewayError {
    let whose = match standing.scope {
        BudgetScope::Key => format!("the key `{}`", standing.owner),
        BudgetScope::Tenant => format!("the tenant `{}`", standing.owner),
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
            "the budget of {whose} ({} USD {per}) cannot cover this request: {} USD spent, {} USD held by requests in flight, and this request may cost up to {} USD{resets}",
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
