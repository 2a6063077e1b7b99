//! Budgets: what a key or a tenant may spend in a period, held at admission and settled by the
//! usage ledger.
//!
//! Money here is integer nano-USD (1e-9). A request reserves an upper bound of its cost against
//! each budget that applies, in one transaction that either holds all of them or none: the
//! conditional upsert `spent + reserved + amount <= limit` is atomic per counter on both backends,
//! and the transaction makes the set atomic. The ledger settles each hold when it writes the
//! request's usage record, in the same transaction (see `usage.rs`): the reservation is replaced by
//! the actual cost, rounded up to the nano-dollar. A hold whose node died before settling is
//! released when it expires ([`Store::release_expired_holds`]).
//!
//! Counters are keyed by the period's first instant, computed by the caller in the budget's time
//! zone; a new period is simply a new counter, so no job ever resets anything.

use std::collections::BTreeMap;

use crate::rows::{Columns, corrupt};
// `Backend` is named by `with_pool!`.
use crate::{Backend, Store, StoreError, with_pool};

/// Nano-USD in one dollar.
pub const NANO_PER_USD: i64 = 1_000_000_000;

/// A spending limit over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The limit in nano-USD.
    pub limit_nano: i64,
    pub period: BudgetPeriod,
    /// The IANA time zone whose calendar bounds the period (`UTC` unless set).
    pub tz: String,
    /// A soft budget lets requests through when spent, and only warns.
    pub soft: bool,
}

/// How long a budget's period lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetPeriod {
    Day,
    /// Monday to Monday.
    Week,
    Month,
    /// Never resets.
    Total,
}

impl BudgetPeriod {
    /// `day`, `week`, `month` or `total`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Day, Self::Week, Self::Month, Self::Total]
            .into_iter()
            .find(|p| p.name() == name)
    }

    pub fn name(&self) -> &'static str {
        match self {
            BudgetPeriod::Day => "day",
            BudgetPeriod::Week => "week",
            BudgetPeriod::Month => "month",
            BudgetPeriod::Total => "total",
        }
    }
}

/// Whose budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BudgetScope {
    Key,
    Tenant,
}

impl BudgetScope {
    pub fn name(&self) -> &'static str {
        match self {
            BudgetScope::Key => "key",
            BudgetScope::Tenant => "tenant",
        }
    }

    fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "key" => Ok(BudgetScope::Key),
            "tenant" => Ok(BudgetScope::Tenant),
            other => Err(corrupt("scope", format_args!("unknown scope `{other}`"))),
        }
    }
}

/// One budget a request must fit, in the period it is admitted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetAsk<'a> {
    pub scope: BudgetScope,
    pub owner: &'a str,
    /// The period's first instant, Unix milliseconds (0 for a total budget).
    pub period_start: i64,
    pub limit_nano: i64,
    pub soft: bool,
}

/// Where a budget stands in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub scope: BudgetScope,
    pub owner: String,
    pub period_start: i64,
    pub limit_nano: i64,
    /// Settled spending.
    pub spent_nano: i64,
    /// Held by requests in flight (including the one just admitted, when held).
    pub reserved_nano: i64,
}

impl Standing {
    /// Spent and held together exceed the limit (only a soft budget gets there by admission).
    pub fn is_over(&self) -> bool {
        self.spent_nano.saturating_add(self.reserved_nano) > self.limit_nano
    }
}

/// The outcome of [`Store::reserve_budgets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every budget holds the amount; their standings after the hold, in the order asked.
    Held(Vec<Standing>),
    /// A hard budget cannot fit the amount; nothing was held anywhere.
    Refused(Standing),
}

const RESERVE: &str = "INSERT INTO budget_counters \
     (scope, owner_id, period_start, spent_nano, reserved_nano) VALUES ($1, $2, $3, 0, $4) \
     ON CONFLICT (scope, owner_id, period_start) DO UPDATE \
     SET reserved_nano = budget_counters.reserved_nano + excluded.reserved_nano \
     WHERE $5 OR budget_counters.spent_nano + budget_counters.reserved_nano \
     + excluded.reserved_nano <= $6 \
     RETURNING spent_nano, reserved_nano";

const INSERT_HOLD: &str = "INSERT INTO budget_holds \
     (request_id, scope, owner_id, period_start, amount_nano, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

const STANDING: &str = "SELECT spent_nano, reserved_nano FROM budget_counters \
     WHERE scope = $1 AND owner_id = $2 AND period_start = $3";

const EXPIRE_HOLDS: &str = "UPDATE budget_holds SET released = TRUE \
     WHERE NOT released AND expires_at <= $1 \
     RETURNING scope, owner_id, period_start, amount_nano";

/// Released holds whose request never settled are kept a week, then forgotten.
const FORGET_HOLDS: &str = "DELETE FROM budget_holds WHERE released AND expires_at <= $1";

const FORGET_AFTER_MS: i64 = 7 * 24 * 3600 * 1000;

/// Settles one counter: `$4` spent, `$5` no longer held.
pub(crate) const SETTLE_COUNTER: &str = "UPDATE budget_counters \
     SET spent_nano = spent_nano + $4, reserved_nano = reserved_nano - $5 \
     WHERE scope = $1 AND owner_id = $2 AND period_start = $3";

impl Store {
    /// Holds `amount_nano` against every budget in `asks` for the request, all or none, until
    /// its usage record settles it or `expires_at` (Unix ms) passes. A hard budget refuses when
    /// its spent and held money plus `amount_nano` would exceed its limit; a soft one holds anyway.
    pub async fn reserve_budgets(
        &self,
        request_id: &str,
        asks: &[BudgetAsk<'_>],
        amount_nano: i64,
        expires_at: i64,
    ) -> Result<Reservation, StoreError> {
        if amount_nano < 0 {
            return Err(StoreError::Invalid(format!(
                "a budget hold of {amount_nano} nano-USD is negative"
            )));
        }
        // Counters are locked in one global order, so two requests never wait on each other.
        let mut order: Vec<&BudgetAsk<'_>> = asks.iter().collect();
        order.sort_by(|a, b| {
            (a.scope, a.owner, a.period_start).cmp(&(b.scope, b.owner, b.period_start))
        });
        let mut held: Vec<Standing> = Vec::with_capacity(asks.len());
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for ask in order {
                let fits_fresh = ask.soft || amount_nano <= ask.limit_nano;
                let row = if fits_fresh {
                    sqlx::query(RESERVE)
                        .bind(ask.scope.name())
                        .bind(ask.owner)
                        .bind(ask.period_start)
                        .bind(amount_nano)
                        .bind(ask.soft)
                        .bind(ask.limit_nano)
                        .fetch_optional(&mut *tx)
                        .await?
                } else {
                    None
                };
                let Some(row) = row else {
                    let now = sqlx::query(STANDING)
                        .bind(ask.scope.name())
                        .bind(ask.owner)
                        .bind(ask.period_start)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let (spent_nano, reserved_nano) = match now {
                        Some(row) => (row.int("spent_nano")?, row.int("reserved_nano")?),
                        None => (0, 0),
                    };
                    // Dropping the transaction rolls back what this request held so far.
                    return Ok(Reservation::Refused(Standing {
                        scope: ask.scope,
                        owner: ask.owner.to_owned(),
                        period_start: ask.period_start,
                        limit_nano: ask.limit_nano,
                        spent_nano,
                        reserved_nano,
                    }));
                };
                sqlx::query(INSERT_HOLD)
                    .bind(request_id)
                    .bind(ask.scope.name())
                    .bind(ask.owner)
                    .bind(ask.period_start)
                    .bind(amount_nano)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                held.push(Standing {
                    scope: ask.scope,
                    owner: ask.owner.to_owned(),
                    period_start: ask.period_start,
                    limit_nano: ask.limit_nano,
                    spent_nano: row.int("spent_nano")?,
                    reserved_nano: row.int("reserved_nano")?,
                });
            }
            tx.commit().await?;
        });
        // Report in the order asked.
        held.sort_by_key(|s| {
            asks.iter()
                .position(|a| a.scope == s.scope && a.owner == s.owner)
                .unwrap_or(usize::MAX)
        });
        Ok(Reservation::Held(held))
    }

    /// Spent and held money of one budget in one period (zero when nothing was ever held).
    pub async fn budget_standing(
        &self,
        scope: BudgetScope,
        owner: &str,
        period_start: i64,
    ) -> Result<(i64, i64), StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(STANDING)
                .bind(scope.name())
                .bind(owner)
                .bind(period_start)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok((row.int("spent_nano")?, row.int("reserved_nano")?)),
                None => Ok((0, 0)),
            }
        })
    }

    /// Gives back what expired holds reserved (their node died before settling them) and forgets
    /// released holds older than a week. Returns how many holds were released. A released hold
    /// that settles later still counts its cost as spent.
    pub async fn release_expired_holds(&self, now_ms: i64) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows = sqlx::query(EXPIRE_HOLDS)
                .bind(now_ms)
                .fetch_all(&mut *tx)
                .await?;
            let mut totals: BTreeMap<(BudgetScope, String, i64), i64> = BTreeMap::new();
            for row in &rows {
                let key = (
                    BudgetScope::parse(&row.text("scope")?)?,
                    row.text("owner_id")?,
                    row.int("period_start")?,
                );
                *totals.entry(key).or_default() += row.int("amount_nano")?;
            }
            for ((scope, owner, period_start), held) in &totals {
                sqlx::query(SETTLE_COUNTER)
                    .bind(scope.name())
                    .bind(owner)
                    .bind(period_start)
                    .bind(0_i64)
                    .bind(held)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(FORGET_HOLDS)
                .bind(now_ms.saturating_sub(FORGET_AFTER_MS))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(rows.len() as u64)
        })
    }
}

/// What settling a batch of usage records does to the counters: per counter (in lock order),
/// the cost spent and the reservation given back.
#[derive(Debug, Default)]
pub(crate) struct Settlement {
    pub(crate) counters: BTreeMap<(BudgetScope, String, i64), (i64, i64)>,
}

impl Settlement {
    /// Adds one settled hold (a row of `DELETE ... RETURNING` on `budget_holds`).
    pub(crate) fn add(&mut self, row: &impl Columns, cost_nano: i64) -> Result<(), StoreError> {
        let key = (
            BudgetScope::parse(&row.text("scope")?)?,
            row.text("owner_id")?,
            row.int("period_start")?,
        );
        let held = if row.flag("released")? {
            0
        } else {
            row.int("amount_nano")?
        };
        let entry = self.counters.entry(key).or_default();
        entry.0 = entry.0.saturating_add(cost_nano);
        entry.1 = entry.1.saturating_add(held);
        Ok(())
    }
}

/// A record's cost as a budget counts it: nano-USD rounded up, so rounding never lets a budget
/// be overspent; an unknown price counts as nothing (it cannot be known).
pub(crate) fn cost_nano(cost_pico: Option<i64>) -> i64 {
    cost_pico.map_or(0, |pico| {
        pico.max(0) / 1000 + i64::from(pico.max(0) % 1000 != 0)
    })
}

/// A budget as its four columns store it (all NULL, and not soft, for none).
#[derive(Debug)]
pub(crate) struct Stored<'a> {
    pub(crate) limit_nano: Option<i64>,
    pub(crate) period: Option<&'static str>,
    pub(crate) tz: Option<&'a str>,
    pub(crate) soft: bool,
}

impl<'a> Stored<'a> {
    pub(crate) fn of(budget: Option<&'a Budget>) -> Result<Self, StoreError> {
        match budget {
            None => Ok(Stored {
                limit_nano: None,
                period: None,
                tz: None,
                soft: false,
            }),
            Some(b) if b.limit_nano < 0 => Err(StoreError::Invalid(format!(
                "a budget of {} nano-USD is negative",
                b.limit_nano
            ))),
            Some(b) => Ok(Stored {
                limit_nano: Some(b.limit_nano),
                period: Some(b.period.name()),
                tz: Some(&b.tz),
                soft: b.soft,
            }),
        }
    }
}

pub(crate) fn from_row(row: &impl Columns) -> Result<Option<Budget>, StoreError> {
    let Some(limit_nano) = row.opt_int("budget_nano")? else {
        return Ok(None);
    };
    let period = row.opt_text("budget_period")?.unwrap_or_default();
    let period = BudgetPeriod::parse(&period)
        .ok_or_else(|| corrupt("budget_period", format_args!("unknown period `{period}`")))?;
    Ok(Some(Budget {
        limit_nano,
        period,
        tz: row
            .opt_text("budget_tz")?
            .unwrap_or_else(|| "UTC".to_owned()),
        soft: row.flag("budget_soft")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_round_up_to_the_nano_dollar() {
        assert_eq!(cost_nano(None), 0);
        assert_eq!(cost_nano(Some(0)), 0);
        assert_eq!(cost_nano(Some(1)), 1);
        assert_eq!(cost_nano(Some(1000)), 1);
        assert_eq!(cost_nano(Some(1001)), 2);
    }

    #[test]
    fn periods_parse_by_name() {
        for p in [
            BudgetPeriod::Day,
            BudgetPeriod::Week,
            BudgetPeriod::Month,
            BudgetPeriod::Total,
        ] {
            assert_eq!(BudgetPeriod::parse(p.name()), Some(p));
        }
        assert_eq!(BudgetPeriod::parse("30d"), None);
    }
}
