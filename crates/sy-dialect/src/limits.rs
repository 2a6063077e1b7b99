//! Numeric range checks. Values are compared, never rewritten: a number the target accepts is sent
//! exactly as the caller wrote it.

use serde_json::Number;

/// Whether `value` lies in `[low, high]`.
pub(crate) fn within(value: &Number, low: f64, high: f64) -> bool {
    value.as_f64().is_some_and(|v| (low..=high).contains(&v))
}
