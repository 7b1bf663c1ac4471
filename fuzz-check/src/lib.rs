//! Deterministic drivers and reference-model checkers behind the cargo-fuzz targets in `fuzz/`.
//!
//! Every target decodes its input into a [`schedule::Schedule`]: a few logical threads and a
//! few dozen `(thread, op)` steps. A driver runs the steps one at a time on real OS threads
//! ([`harness`]); an operation that must wait is expected to leave its thread asleep, and the
//! driver moves on. After every step the code under test is compared with a small sequential
//! reference model; any divergence, lost wake-up or hang (every wait is bounded) is a panic
//! that libFuzzer records as a crash.
//!
//! The same functions replay the checked-in seed corpus (`fuzz/seeds/<target>/`) under
//! `cargo test`, on stable, so the corpus is a regression suite; [`seeds`] holds the readable
//! schedules that the corpus files are written from.
//!
//! | target | module | code under test |
//! |---|---|---|
//! | `rwsem_ops` | [`rwsem_ops`] | `rwsem::RwSem`: holders, writer preference, FIFO grants, kills, timeouts, downgrade |
//! | `rcu_ops` | [`rcu_ops`] | `rcu::Domain`: read sections vs grace periods, callbacks, barrier, cookies, `RcuCell`, `RcuList` |
//! | `pernet_ops` | [`pernet_ops`] | `netns_core::Registry`: (un)registration against namespaces mid-setup and mid-teardown, `copy_net_ns` with kills, references, nsids, `net_generic`, `cleanup_net`, `net_ns_barrier` |
//!
//! Linux only: sleep detection reads `/proc`.

pub mod harness;
pub mod pernet_ops;
pub mod rcu_ops;
pub mod rwsem_ops;
pub mod schedule;
pub mod seeds;
