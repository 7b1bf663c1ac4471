//! Experiments and benchmarks for `rcu`, `rwsem` and `netns-core`.

pub mod cli;
pub mod cputime;
pub mod kernel;
#[cfg(feature = "liburcu")]
pub mod liburcu;
pub mod plot;
pub mod progress;
pub mod report;
pub mod table;
