//! A port of the Linux network-namespace registry (`net/core/net_namespace.c`, as it stands
//! after `net_mutex` became `pernet_ops_rwsem`), built on sleepable RCU ([`rcu`]) and a killable
//! reader-writer semaphore ([`rwsem`]).
//!
//! # When to use it
//!
//! To replay the lifecycle of network namespaces outside the kernel: pernet subsystems with
//! `init`/`pre_exit`/`exit`/`exit_batch` and private data, `copy_net_ns`, batched
//! `cleanup_net`, nsids and per-uid `max_net_namespaces` limits, with the kernel's ordering
//! rules, in a process you can test, fuzz and measure. Its lock-mode switch reproduces the
//! pre-4.16 `net_mutex` behaviour next to today's, so both designs can be measured in one run.
//!
//! It is not a way to create real kernel namespaces, and it has no RTNL, no devices and no
//! `exit_rtnl` step.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use netns_core::{CLONE_NEWNET, NetError, NetNs, PernetOperations, Registry};
//!
//! #[derive(Default)]
//! struct Loopback {
//!     exits: AtomicUsize,
//! }
//!
//! impl PernetOperations for Loopback {
//!     type Data = ();
//!     fn exit(&self, _net: &NetNs, _data: &()) {
//!         self.exits.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! let registry = Registry::new();
//! let loopback = Arc::new(Loopback::default());
//! registry.register_pernet_device(&loopback)?;
//!
//! let cred = registry.init_cred().clone(); // uid 0 in the initial user namespace
//! let net = registry.copy_net_ns(CLONE_NEWNET, &cred, &registry.init_net())?;
//! drop(net); // the last put_net queues it for cleanup_net
//! registry.wait_cleanup_idle();
//! assert_eq!(loopback.exits.load(Ordering::Relaxed), 1);
//! # Ok::<(), NetError>(())
//! ```
//!
//! Creations are charged as the kernel charges them: to the creator's euid in its user
//! namespace, then to each ancestor namespace's owner, each level against its own per-uid
//! `max_net_namespaces`.
//!
//! ```
//! use netns_core::{CLONE_NEWNET, Cred, Kuid, NetError, Registry, UserNamespace};
//!
//! let registry = Registry::new();
//! // uid 1000 creates a user namespace; inside it, uid 5 may create at most 2 namespaces.
//! let container = UserNamespace::new_child(registry.init_user_ns(), Kuid(1000), 2);
//! let cred = Cred::new(&container, Kuid(5));
//! let init_net = registry.init_net();
//! let nets = [
//!     registry.copy_net_ns(CLONE_NEWNET, &cred, &init_net)?,
//!     registry.copy_net_ns(CLONE_NEWNET, &cred, &init_net)?,
//! ];
//! let third = registry.copy_net_ns(CLONE_NEWNET, &cred, &init_net);
//! assert_eq!(third.unwrap_err(), NetError::NoSpace);
//! assert_eq!(container.net_namespaces_of(Kuid(5)), 2);
//! assert_eq!(registry.init_user_ns().net_namespaces_of(Kuid(1000)), 2);
//! drop(nets);
//! registry.wait_cleanup_idle(); // charges go at the end of the cleanup batch
//! assert_eq!(container.net_namespaces_of(Kuid(5)), 0);
//! # Ok::<(), NetError>(())
//! ```
//!
//! # Guarantees
//!
//! - **Ordering.** `init` runs over the ops list in order (subsys ops, then device ops, each in
//!   registration order); every undo runs in exact reverse. In a cleanup batch every `pre_exit`
//!   of every ops on every namespace happens before one expedited grace period, which happens
//!   before every `exit`; each ops gets one `exit_batch` per batch, after its exits.
//! - **Pairing.** Every successful `init` of an (ops, namespace) pair is matched by exactly one
//!   `exit` (and one `pre_exit`), whether the namespace dies, the setup of a later ops fails, or
//!   the ops is unregistered; a failed `init` gets none.
//! - **Progress.** Creation and cleanup take `pernet_ops_rwsem` for read in
//!   [`LockMode::Shared`], so a creator never waits for a cleanup's grace period. A creator
//!   waiting for the lock (or for the backlog bound) can be killed with
//!   [`rwsem::KillHandle::kill`] and gets [`NetError::Interrupted`] with nothing leaked. The last
//!   `put_net` never runs exits itself; it pushes the namespace on a lock-free list.
//! - **Panics.** A panicking callback is caught: an `init` panic fails that init; a panic in a
//!   teardown callback is counted and the teardown goes on for every other ops and namespace.
//! - **Misuse.** Registering the same ops twice, unregistering unknown ops, and calling back into
//!   the registry from a pernet callback return errors ([`NetError`]) or panic with a message,
//!   never hang.
//!
//! # Costs
//!
//! - Creation with no ops: a ucount charge per user-namespace level (one compare-and-swap each,
//!   no lock: the [`Cred`] carries its ucounts entry), two allocations (the namespace and its
//!   list node), `pernet_ops_rwsem` for read and `net_rwsem` for write (to append to the
//!   list). The private-data array is allocated by the first ops that has data.
//! - Destruction: the last `put_net` is one compare-and-swap, plus a wake-up of the worker when
//!   the cleanup list was empty. Each batch costs one expedited grace period and one RCU barrier
//!   whatever its size, plus the callbacks; per namespace it unlinks the list node (freed by an
//!   RCU callback) and frees the namespace.
//! - Throughput (no ops, one creating thread, cleanup included, 2-core machine): about 2.5
//!   million create+destroy cycles per second (400 ns each in `netns-bench`'s `netns_cycle`).
//! - Parallel creation (`cargo run --release -p netns-bench --example creators [-- --ops
//!   work|kernel]`, 2-core machine, two pinned creators against one, medians of seven rounds,
//!   namespaces kept until the clock stops):
//!   - with pernet operations that only do work of their own (`--ops work`: about 19 us a
//!     creation), [`LockMode::Shared`] runs creations in parallel, 1.83-1.93x over four runs,
//!     where [`LockMode::Exclusive`] serialises them (0.81-0.87x);
//!   - with the bench's kernel-like operations (about 50 us a creation), 1.41-1.81x over five
//!     runs (Exclusive 0.73-0.92x): their `init`s share a `rtnl` mutex and global tables, and
//!     fill about 100 KiB per namespace, so part of each creation is serial or bound by memory
//!     bandwidth, as in the kernel;
//!   - with no operations a creation is about 80 ns, and two creators reach only 0.47-0.57x of
//!     one in five runs of 500,000 namespaces per thread (0.19-0.77x in shorter runs; Exclusive
//!     0.56-0.66x): each creation writes the cache lines of `pernet_ops_rwsem`,
//!     `net_rwsem`, the list's tail, the ucount and the user namespace, as in the kernel, and a
//!     line moves between these two cores in about 35 ns, so the creators mostly wait for
//!     lines (and, when `net_rwsem` stays contended, for each other's wake-ups).
//!
//!   Releasing each namespace as the next is made, so that the worker dismantles alongside on
//!   the same two cores, gives 1.74-2.28x with the `work` operations, 1.42-1.87x with the
//!   kernel-like ones and 0.81-1.00x with none. Above 2x, the single creator is the one slowed: the
//!   worker it wakes often runs on its CPU.
//! - [`NetNs::net_generic`]: one RCU dereference and one load under a read guard.
//! - nsids: [`NetNs::peernet2id`] and [`NetNs::get_net_ns_by_id`] take no lock, only a read
//!   section of the registry's domain (`peernet2id` scans the table, like the kernel's
//!   `idr_for_each`). [`NetNs::peernet2id_alloc`] takes the namespace's `nsid_lock`, copies its
//!   table (a few entries) and frees the old copy after a grace period; a namespace that never
//!   numbers a peer allocates no table.
//!
//! # Limitations
//!
//! - No uid maps: a [`Kuid`] is the same uid in every user namespace, and user namespaces carry
//!   only what network namespaces need (an owner and the `max_net_namespaces` limit).
//! - Per-net private data needs `Default` (the kernel zero-fills it) and is freed after a grace
//!   period rather than immediately, because readers may hold passive references.
//!
//! # Features
//!
//! - `test-hooks`: fault injection for torture twins and fuzzing (not a stable API).
//! - `model`: a reference model of the registry and recording pernet ops, for fuzzing and
//!   deterministic tests (`netns_core::model`; not a stable API).
//!
//! # Minimum Rust version
//!
//! 1.85.

mod callback;
mod cleanup;
mod cred;
mod error;
mod generic;
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod hooks;
#[cfg(feature = "model")]
pub mod model;
mod net;
mod nsid;
mod ops;
mod pernet;
mod registry;
mod stats;
mod sync;
mod user_ns;

#[cfg(loom)]
#[doc(hidden)]
pub mod llist;
#[cfg(not(loom))]
mod llist;

#[cfg(loom)]
#[doc(hidden)]
pub mod refcount;
#[cfg(not(loom))]
mod refcount;

#[cfg(loom)]
#[doc(hidden)]
pub mod work;
#[cfg(not(loom))]
mod work;

pub use callback::{CallbackPanic, CallbackPhase};
pub use cred::{Cred, Kuid};
pub use error::NetError;
pub use generic::NetGenericId;
pub use net::{Net, NetNs, PassiveNet};
pub use ops::PernetOperations;
pub use registry::{BacklogPolicy, CLONE_NEWNET, CleanupMode, LockMode, Registry, RegistryBuilder};
pub use stats::Stats;
pub use user_ns::UserNamespace;

/// The read guard of a registry's RCU domain (re-exported from `rcu`), taken with
/// `registry.domain().read()`.
pub use rcu::ReadGuard;

#[cfg(test)]
mod tests {
    /// The handles a user shares between threads are `Send + Sync`.
    #[test]
    fn shared_types_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::Registry>();
        assert_send_sync::<crate::Net>();
        assert_send_sync::<crate::NetNs>();
        assert_send_sync::<crate::PassiveNet>();
        assert_send_sync::<crate::UserNamespace>();
        assert_send_sync::<crate::Cred>();
        assert_send_sync::<crate::NetError>();
    }
}
