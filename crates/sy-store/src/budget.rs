//! Budgets: what a key or a tenant may spend in a period, leased to gateway nodes and settled by
//! the usage ledger.
//!
//! Money here is integer nano-USD (1e-9). The store is the authority: one counter per budget and
//! period holds what is spent (settled) and what is reserved (held by nodes). A node asks for a
//! lease ([`Store::lease_budgets`]): in one transaction that either grants every counter asked or
//! none, each counter row is locked and its lease granted only if `spent + reserved + lease` stays
//! within a hard limit. The node then hands that money out to requests in memory, taking it back
//! (less what they cost) when they end, and returns what it does not need
//! ([`Store::return_budget_lease`]). The usage ledger settles each request's actual cost, rounded
//! up to the nano-dollar, in the same transaction as its record: the cost moves from reserved to
//! spent. What a node holds is also kept per node (`budget_node_holds`), so a node that died is
//! found by its stale heartbeat and its holds released ([`Store::budget_heartbeat`]).
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

/// One budget in one period: a counter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CounterKey {
    pub scope: BudgetScope,
    pub owner: String,
    /// The period's first instant, Unix milliseconds (0 for a total budget).
    pub period_start: i64,
}

/// A lease asked of one counter: `want` if it fits, else at least `need`, else nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseAsk<'a> {
    pub counter: &'a CounterKey,
    pub limit_nano: i64,
    pub soft: bool,
    pub want_nano: i64,
    pub need_nano: i64,
}

/// Where a budget stands in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub counter: CounterKey,
    pub limit_nano: i64,
    /// Settled spending.
    pub spent_nano: i64,
    /// Held by nodes: leased, held by requests in flight, or spent and not yet settled.
    pub reserved_nano: i64,
}

impl Standing {
    /// Spent and held together exceed the limit (only a soft budget gets there).
    pub fn is_over(&self) -> bool {
        self.spent_nano.saturating_add(self.reserved_nano) > self.limit_nano
    }
}

/// The outcome of [`Store::lease_budgets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// Every counter granted; the amount granted and the standing after it, in the order asked.
    Granted(Vec<(i64, Standing)>),
    /// A hard budget cannot spare even what was needed; nothing was granted anywhere.
    Refused(Standing),
}

/// Locks a counter (creating it at zero) and reads it.
const LOCK_COUNTER: &str = "INSERT INTO budget_counters \
     (scope, owner_id, period_start, spent_nano, reserved_nano) VALUES ($1, $2, $3, 0, 0) \
     ON CONFLICT (scope, owner_id, period_start) DO UPDATE \
     SET reserved_nano = budget_counters.reserved_nano \
     RETURNING spent_nano, reserved_nano";

/// Moves money into or out of a counter: `$4` more spent, `$5` more reserved (either negative).
pub(crate) const ADJUST_COUNTER: &str = "UPDATE budget_counters \
     SET spent_nano = spent_nano + $4, reserved_nano = reserved_nano + $5 \
     WHERE scope = $1 AND owner_id = $2 AND period_start = $3";

/// Adds `$6` to what node `$1` holds against a counter, and notes it is alive.
const ADD_NODE_HOLD: &str = "INSERT INTO budget_node_holds \
     (node_id, scope, owner_id, period_start, amount_nano, heartbeat_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (node_id, scope, owner_id, period_start) DO UPDATE \
     SET amount_nano = budget_node_holds.amount_nano + excluded.amount_nano, \
     heartbeat_at = excluded.heartbeat_at";

/// Takes `$5` off what node `$1` holds against a counter; no row when it was released.
pub(crate) const TAKE_NODE_HOLD: &str = "UPDATE budget_node_holds \
     SET amount_nano = amount_nano - $5 \
     WHERE node_id = $1 AND scope = $2 AND owner_id = $3 AND period_start = $4 \
     RETURNING amount_nano";

const STANDING: &str = "SELECT spent_nano, reserved_nano FROM budget_counters \
     WHERE scope = $1 AND owner_id = $2 AND period_start = $3";

const HEARTBEAT: &str = "UPDATE budget_node_holds SET heartbeat_at = $2 WHERE node_id = $1";

const RELEASE_STALE: &str = "DELETE FROM budget_node_holds WHERE heartbeat_at < $1 AND node_id <> $2 \
     RETURNING scope, owner_id, period_start, amount_nano";

impl Store {
    /// Leases money of every counter in `asks` to this node, all or none. Each counter grants its
    /// `want` when it fits under a hard limit, else its `need` when that fits, else the whole
    /// lease is refused; a soft budget grants `want` always.
    pub async fn lease_budgets(
        &self,
        asks: &[LeaseAsk<'_>],
        now_ms: i64,
    ) -> Result<Lease, StoreError> {
        if asks
            .iter()
            .any(|a| a.need_nano < 0 || a.want_nano < a.need_nano)
        {
            return Err(StoreError::Invalid(
                "a budget lease needs 0 <= need <= want".into(),
            ));
        }
        // Counters are locked in one global order, so two nodes never wait on each other.
        let mut order: Vec<usize> = (0..asks.len()).collect();
        order.sort_by(|&a, &b| asks[a].counter.cmp(asks[b].counter));
        let mut granted: Vec<Option<(i64, Standing)>> = vec![None; asks.len()];
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for &i in &order {
                let ask = &asks[i];
                let c = ask.counter;
                let row = sqlx::query(LOCK_COUNTER)
                    .bind(c.scope.name())
                    .bind(&c.owner)
                    .bind(c.period_start)
                    .fetch_one(&mut *tx)
                    .await?;
                let (spent, reserved) = (row.int("spent_nano")?, row.int("reserved_nano")?);
                let free = ask.limit_nano.saturating_sub(spent).saturating_sub(reserved);
                let grant = if ask.soft || ask.want_nano <= free {
                    ask.want_nano
                } else if ask.need_nano <= free {
                    ask.need_nano
                } else {
                    // Dropping the transaction rolls back what was granted so far.
                    return Ok(Lease::Refused(Standing {
                        counter: c.clone(),
                        limit_nano: ask.limit_nano,
                        spent_nano: spent,
                        reserved_nano: reserved,
                    }));
                };
                if grant > 0 {
                    sqlx::query(ADJUST_COUNTER)
                        .bind(c.scope.name())
                        .bind(&c.owner)
                        .bind(c.period_start)
                        .bind(0_i64)
                        .bind(grant)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(ADD_NODE_HOLD)
                        .bind(&*self.node)
                        .bind(c.scope.name())
                        .bind(&c.owner)
                        .bind(c.period_start)
                        .bind(grant)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                granted[i] = Some((
                    grant,
                    Standing {
                        counter: c.clone(),
                        limit_nano: ask.limit_nano,
                        spent_nano: spent,
                        reserved_nano: reserved.saturating_add(grant),
                    },
                ));
            }
            tx.commit().await?;
        });
        Ok(Lease::Granted(granted.into_iter().flatten().collect()))
    }

    /// Gives back `amount_nano` of this node's lease on a counter.
    pub async fn return_budget_lease(
        &self,
        counter: &CounterKey,
        amount_nano: i64,
    ) -> Result<(), StoreError> {
        if amount_nano <= 0 {
            return Ok(());
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let held = sqlx::query(TAKE_NODE_HOLD)
                .bind(&*self.node)
                .bind(counter.scope.name())
                .bind(&counter.owner)
                .bind(counter.period_start)
                .bind(amount_nano)
                .fetch_optional(&mut *tx)
                .await?;
            // A hold already released as stale left reserved then: nothing more to give back.
            if held.is_some() {
                sqlx::query(ADJUST_COUNTER)
                    .bind(counter.scope.name())
                    .bind(&counter.owner)
                    .bind(counter.period_start)
                    .bind(0_i64)
                    .bind(-amount_nano)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Notes that this node is alive, and releases what nodes silent since `stale_before_ms`
    /// held. Returns how many holds were released.
    pub async fn budget_heartbeat(
        &self,
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(HEARTBEAT)
                .bind(&*self.node)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let rows = sqlx::query(RELEASE_STALE)
                .bind(stale_before_ms)
                .bind(&*self.node)
                .fetch_all(&mut *tx)
                .await?;
            let mut totals: BTreeMap<CounterKey, i64> = BTreeMap::new();
            for row in &rows {
                *totals.entry(counter_of(row)?).or_default() += row.int("amount_nano")?;
            }
            for (c, held) in &totals {
                sqlx::query(ADJUST_COUNTER)
                    .bind(c.scope.name())
                    .bind(&c.owner)
                    .bind(c.period_start)
                    .bind(0_i64)
                    .bind(-held)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(rows.len() as u64)
        })
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
}

fn counter_of(row: &impl Columns) -> Result<CounterKey, StoreError> {
    Ok(CounterKey {
        scope: BudgetScope::parse(&row.text("scope")?)?,
        owner: row.text("owner_id")?,
        period_start: row.int("period_start")?,
    })
}

/// What settling a batch of usage records does: per counter (in lock order), the cost that moves
/// from reserved to spent.
#[derive(Debug, Default)]
pub(crate) struct Settlement {
    pub(crate) counters: BTreeMap<CounterKey, i64>,
}

impl Settlement {
    pub(crate) fn add(&mut self, counters: &[CounterKey], cost_nano: i64) {
        for c in counters {
            let spent = self.counters.entry(c.clone()).or_default();
            *spent = spent.saturating_add(cost_nano);
        }
    }
}

/// A record's cost as a budget counts it: nano-USD rounded up, so rounding never lets a budget
/// be overspent; an unknown price counts as nothing (it cannot be known).
pub fn cost_nano(cost_pico: Option<i64>) -> i64 {
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
