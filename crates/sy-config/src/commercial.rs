//! Validation of the commercial tables: `[[prices]]` (exact decimals, effective dates) and
//! `[agreements.NAME]` (licence windows, revenue-share terms).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::model::{Agreement, PricePoint};
use crate::raw::{RawAgreement, RawPrice};
use crate::validate::Checker;

/// The price points of one deployment, oldest first: the config's `[[prices]]` for its provider
/// and model, or else the built-in price book's for the provider's kind and model.
pub(crate) fn prices_for(
    prices: &[PriceEntry],
    defaults: &[PriceEntry],
    provider: &str,
    kind: &str,
    model: &str,
) -> Vec<PricePoint> {
    let pick = |entries: &[PriceEntry], owner: &str| {
        let mut out: Vec<PricePoint> = entries
            .iter()
            .filter(|p| p.provider == owner && p.model == model)
            .map(|p| p.point)
            .collect();
        out.sort_by_key(|p| p.effective_from);
        out
    };
    let configured = pick(prices, provider);
    if configured.is_empty() {
        pick(defaults, kind)
    } else {
        configured
    }
}

/// The built-in price book (`prices/default.toml`), keyed by provider kind rather than name.
const DEFAULT_PRICES: &str = include_str!("../prices/default.toml");

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultBook {
    prices: Vec<DefaultPrice>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultPrice {
    kind: String,
    model: String,
    input: String,
    cache_read: Option<String>,
    cache_write: Option<String>,
    output: String,
    reasoning: Option<String>,
    effective_from: Option<String>,
}

/// The built-in price book's entries, `provider` holding the kind.
pub(crate) fn default_prices(c: &mut Checker<'_>) -> Vec<PriceEntry> {
    let book: DefaultBook = match toml::from_str(DEFAULT_PRICES) {
        Ok(book) => book,
        Err(e) => {
            c.error("(built-in price book)", e.to_string());
            return Vec::new();
        }
    };
    let raw: Vec<RawPrice> = book
        .prices
        .into_iter()
        .map(|p| RawPrice {
            provider: p.kind,
            model: p.model,
            input: p.input,
            cache_read: p.cache_read,
            cache_write: p.cache_write,
            output: p.output,
            reasoning: p.reasoning,
            effective_from: p.effective_from,
        })
        .collect();
    let kinds: HashSet<&str> = raw.iter().map(|p| p.provider.as_str()).collect();
    prices_checked(c, &raw, &kinds, "(built-in price book) prices")
}

/// A `[[prices]]` entry once validated.
pub(crate) struct PriceEntry {
    provider: String,
    model: String,
    point: PricePoint,
}

pub(crate) fn prices(
    c: &mut Checker<'_>,
    raw: &[RawPrice],
    providers: &HashSet<&str>,
) -> Vec<PriceEntry> {
    prices_checked(c, raw, providers, "prices")
}

fn prices_checked(
    c: &mut Checker<'_>,
    raw: &[RawPrice],
    providers: &HashSet<&str>,
    table: &str,
) -> Vec<PriceEntry> {
    let mut out = Vec::new();
    for (i, price) in raw.iter().enumerate() {
        let path = format!("{table}[{i}]");
        if !providers.contains(price.provider.as_str()) {
            c.error(
                format!("{path}.provider"),
                format!("unknown provider `{}`", price.provider),
            );
        }
        let mut decimal =
            |key: &str, value: Option<&str>| c.decimal(format!("{path}.{key}"), value);
        let input = decimal("input", Some(&price.input));
        let output = decimal("output", Some(&price.output));
        let cache_read = decimal("cache_read", price.cache_read.as_deref());
        let cache_write = decimal("cache_write", price.cache_write.as_deref());
        let reasoning = decimal("reasoning", price.reasoning.as_deref());
        let effective_from = match price.effective_from.as_deref() {
            None => Some(i64::MIN),
            text => c.instant(format!("{path}.effective_from"), text),
        };
        if let (Some(input), Some(output), Some(effective_from)) = (input, output, effective_from) {
            out.push(PriceEntry {
                provider: price.provider.clone(),
                model: price.model.clone(),
                point: PricePoint {
                    effective_from,
                    input,
                    cache_read: cache_read.unwrap_or(input),
                    cache_write: cache_write.unwrap_or(input),
                    output,
                    reasoning: reasoning.unwrap_or(output),
                },
            });
        }
    }
    out
}

pub(crate) fn agreements(
    c: &mut Checker<'_>,
    raw: &BTreeMap<String, RawAgreement>,
    providers: &HashSet<&str>,
) -> Vec<Agreement> {
    let mut covered: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::new();
    for (name, a) in raw {
        let path = format!("agreements.{name}");
        if a.providers.is_empty() {
            c.error(
                format!("{path}.providers"),
                "must name at least one provider",
            );
        }
        for (i, p) in a.providers.iter().enumerate() {
            if !providers.contains(p.as_str()) {
                c.error(
                    format!("{path}.providers[{i}]"),
                    format!("unknown provider `{p}`"),
                );
            } else if let Some(other) = covered.insert(p.as_str(), name.as_str()) {
                c.error(
                    format!("{path}.providers[{i}]"),
                    format!("provider `{p}` is already covered by agreement `{other}`"),
                );
            }
        }
        let mut instant =
            |key: &str, value: Option<&str>| c.instant(format!("{path}.{key}"), value);
        let from = instant("licensed_from", a.licensed_from.as_deref()).unwrap_or(i64::MIN);
        let until = instant("licensed_until", a.licensed_until.as_deref()).unwrap_or(i64::MAX);
        let share_until = instant("share_until", a.share_until.as_deref());
        if from >= until {
            c.error(
                format!("{path}.licensed_until"),
                "must be after licensed_from (the window is [from, until))",
            );
        }
        let mut decimal =
            |key: &str, value: Option<&str>| c.decimal(format!("{path}.{key}"), value);
        let revenue_share = decimal("revenue_share", a.revenue_share.as_deref());
        let cap = decimal("cap", a.cap.as_deref());
        if revenue_share.is_some_and(|s| s.0 > 1_000_000) {
            c.error(
                format!("{path}.revenue_share"),
                "is a fraction of the charge and must be between 0 and 1",
            );
        }
        out.push(Agreement {
            name: name.clone(),
            providers: a.providers.clone(),
            primary: a.primary.unwrap_or(false),
            licensed_from: from,
            licensed_until: until,
            revenue_share,
            cap,
            share_until,
            payment_term_days: a.payment_term_days,
        });
    }
    out
}
