//! Switchyard dialects: the canonical model every request and answer passes through when the caller
//! and the upstream speak different dialects, and one codec per dialect to and from it.
