//! The usage ledger: one record per request (tokens in disjoint buckets, cost as an exact
//! decimal), written to the store off the request path in batches, or before the response
//! completes with `ledger.durability = "sync"`.

mod rate;
mod writer;

pub use rate::{buckets, cost_pico, format_usd};
pub use writer::Ledger;
