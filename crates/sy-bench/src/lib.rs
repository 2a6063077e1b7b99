//! Switchyard benchmark support: the streaming load driver behind `sy-bench-stream`.
//!
//! [`driver`] opens chat-completion streams against one URL, either at a fixed rate (open loop,
//! every latency measured from the stream's *scheduled* start so a slow server cannot hide behind
//! a slowed-down client) or by keeping a fixed number of streams open (closed loop). [`stats`]
//! turns the per-stream outcomes into a JSON summary.

pub mod driver;
pub mod stats;
