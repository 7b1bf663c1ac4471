//! Experiments and benchmarks for `rcu`, `rwsem` and `netns-core`.
//!
//! The implementation lands with the crate's own issue; this library is empty until then.
