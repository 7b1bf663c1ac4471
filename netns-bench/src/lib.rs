//! Experiments and benchmarks for `rcu`, `rwsem` and `netns-core`.

pub mod cli;
pub mod cputime;
pub mod kernel;
pub mod plot;
pub mod progress;
pub mod report;
pub mod table;
