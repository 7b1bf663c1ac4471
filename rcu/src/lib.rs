//! Sleepable RCU (read-copy-update) for threads, after Linux SRCU: readers that may block,
//! independent domains, grace periods, deferred callbacks, a real barrier and polled cookies.
//!
//! # When to use it
//!
//! Use `rcu` for data that is read far more often than it changes, when readers must not
//! wait for writers and may block (sleep, take locks, do I/O) while they hold what they read:
//! configuration snapshots, registries, routing tables, lists walked by many threads. A writer
//! publishes a new version and frees the old one once every reader that could still see it is
//! done (a *grace period*).
//!
//! Do not use it when writes are as frequent as reads (a lock is simpler and as fast), when
//! readers never block and you only need memory reclamation (an epoch scheme such as
//! crossbeam-epoch also works), or when you cannot afford a writer waiting for the slowest
//! reader (`synchronize` waits for it; `call` and [`RcuCell::replace`] do not).
//!
//! # Example
//!
//! ```
//! use rcu::{Domain, RcuCell, RcuList};
//! use std::sync::Arc;
//!
//! let domain = Domain::new();
//! let config = Arc::new(RcuCell::new(&domain, String::from("v1")));
//!
//! let reader = {
//!     let (domain, config) = (domain.clone(), config.clone());
//!     std::thread::spawn(move || {
//!         let guard = domain.read(); // a read section; it may block
//!         let seen: &String = config.read(&guard);
//!         assert!(seen == "v1" || seen == "v2");
//!     }) // the section ends when `guard` drops
//! };
//!
//! config.replace(String::from("v2")); // "v1" is dropped after a grace period
//! reader.join().unwrap();
//!
//! let list = RcuList::new(&domain);
//! let a = list.push_back(1);
//! list.push_back(2);
//! list.remove(a); // freed after a grace period
//! let guard = domain.read();
//! assert_eq!(list.iter(&guard).copied().collect::<Vec<_>>(), [2]);
//! drop(guard);
//!
//! domain.synchronize(); // every section that began before this call has ended
//! domain.barrier(); // every callback queued before this call (the deferred drops) has run
//! ```
//!
//! Sections that end on another thread, polled grace periods and a stall hook:
//!
//! ```
//! use rcu::Domain;
//! use std::time::Duration;
//!
//! let domain = Domain::builder()
//!     .name("routes")
//!     .callback_bound(100_000)
//!     .on_stall(Duration::from_secs(5), |report| {
//!         // Libraries do not print; the hook decides. `report` names the reader threads.
//!         let _ = report.to_string();
//!     })
//!     .build();
//!
//! let guard = domain.read_owned(); // Send + 'static (srcu_down_read)
//! std::thread::spawn(move || drop(guard)).join().unwrap(); // srcu_up_read elsewhere
//!
//! let cookie = domain.start_poll(); // a grace period will happen without anyone waiting
//! while !domain.poll(cookie) {
//!     std::thread::yield_now();
//! }
//! domain.cond_synchronize(cookie); // returns at once: the cookie is reached
//! ```
//!
//! The process also has a lazily created [`default_domain`], with free functions [`read`],
//! [`synchronize`], [`call`], [`defer_drop`] and [`barrier`].
//!
//! # Guarantees
//!
//! * **Grace periods.** If a read section begins before `synchronize` is called, the section
//!   ends (its guard's drop) *happens before* `synchronize` returns. If it begins after, it may
//!   overlap. Everything the caller of `synchronize` wrote before the call is visible to every
//!   section that `synchronize` did not wait for. `synchronize_expedited`, `cond_synchronize`
//!   on a cookie, and a `poll` that returns `true` give the same guarantee relative to the
//!   moment the cookie was taken.
//! * **Callbacks.** A callback queued with [`Domain::call`] (or a value given to
//!   [`Domain::defer_drop`]) runs exactly once, after a grace period that starts after the
//!   `call`; so every section that began before the `call` has ended before it runs. The
//!   callback's run happens before [`Domain::barrier`] returns for every barrier called after
//!   the `call`. Callbacks run on the domain's worker thread (one per domain, started on first
//!   use, named `rcu-worker:NAME`), except that a caller past the callback bound may run a batch
//!   itself ([`Overflow::Help`]). No order between callbacks is promised.
//! * **Domains.** Readers of one domain never hold back another domain's grace periods.
//! * **Progress.** Read lock and unlock are wait-free: they never wait for writers or other
//!   readers. Concurrent `synchronize` callers share grace periods (N callers cost at most two).
//!   A grace period spins briefly, then parks; the last reader it waits for wakes it.
//! * **Misuse.** `synchronize`, `synchronize_expedited`, `cond_synchronize` and `barrier`
//!   called inside a read section of the same domain on the same thread panic with a message
//!   naming the mistake instead of deadlocking; so does `barrier` inside a callback of the same
//!   domain. The check stays on in release builds (cost below).
//! * **Panics.** A panic inside a read section drops the guard while unwinding, which ends the
//!   section. A panicking callback is caught; the other callbacks still run, and the panic is
//!   counted in [`Stats::callback_panics`].
//! * **Threads.** No registration: a thread's first read of a domain creates its record, and the
//!   thread's exit releases it for reuse by later threads.
//!
//! # Costs
//!
//! Figures measured on this project's 2-core test machine (an AMD EPYC virtual machine); see
//! the `netns-bench` crate for the criterion benches that compare against crossbeam-epoch and
//! liburcu in one run.
//!
//! * **Read lock + unlock:** a thread-local lookup (a one-entry cache of the last domain used)
//!   and two plain loads and stores of the thread's own cache line, with compiler-only barriers;
//!   no atomic read-modify-write and no fence. About 2 ns: in two runs of `cargo bench -p
//!   netns-bench --features liburcu`, 1.80 and 2.07 ns against crossbeam-epoch's `pin()` + drop
//!   at 2.72 and 3.13 ns (0.66x) and liburcu-memb's inline read side at 1.99 and 2.36 ns
//!   (0.88-0.90x). Nested sections cost less. Read-mostly workloads scale with cores, since
//!   readers write only their own line: with 0.1% of operations replacing an [`RcuCell`]'s
//!   value (`rcu_read_mostly`), two threads pinned to distinct cores made 357-413 M
//!   operations/s against one thread's 235-304 M (1.36-1.52x), where crossbeam-epoch went
//!   from 301-339 M on one thread to 266-267 M on two.
//! * **Fence fallback** (kernel without membarrier, or [`DomainBuilder::force_fence_fallback`]):
//!   one `fence(SeqCst)` on lock and two on unlock, about 7 ns.
//! * **Owned sections** ([`Domain::read_owned`]): two atomic read-modify-writes and three fences.
//! * **Grace period:** two `membarrier` system calls, two phase flips and a scan of the domain's
//!   reader records: 0.5-0.85 µs with no reader inside (0.80-0.84 µs in the benches, where
//!   liburcu-memb, which makes the same two system calls, took 0.82-0.86 µs). A membarrier interrupts every CPU that runs a thread of this
//!   process. A domain that no thread has read yet needs no membarrier: about 0.1 µs.
//! * **Callbacks:** one boxed closure each and one short mutex hold; a batch shares one grace
//!   period, and the worker lets a small batch fill for up to 1 ms unless someone waits in
//!   `barrier`. 4.6-6.2 M callbacks/s for `call` + `barrier` on 10,000 deferred drops in the
//!   `rcu_call_barrier` bench, against liburcu's `call_rcu` + `rcu_barrier` at 0.95 M/s in the
//!   same runs (7-12 M/s measured ad hoc without the bench harness).
//! * **Misuse detection:** one thread-local lookup per `synchronize`/`barrier` (a few
//!   nanoseconds beside a grace period's half microsecond); nothing on the read side.
//! * **Per domain:** a few hundred bytes, one record (128 bytes) per thread that has read it,
//!   and one worker thread once a callback or `start_poll` needs it. **Per thread:** a small
//!   vector indexed by domain id.
//!
//! # Limitations
//!
//! * membarrier is Linux-only (4.14+); elsewhere, or where the kernel or a seccomp filter
//!   refuses it, every domain uses the fence fallback. The choice is made per domain when it is
//!   built; [`Domain::uses_membarrier`] reports it.
//! * The read side's pairing with membarrier is outside Rust's memory model (as for every
//!   membarrier-based RCU): it relies on the kernel running a full barrier on every CPU that
//!   runs a thread of the process. Loom checks the same protocol in fence mode only.
//! * A leaked guard (`mem::forget`) holds every later grace period of its domain forever, like a
//!   leaked lock guard; the stall hook names the thread.
//! * Misuse detection cannot see owned sections: waiting for a grace period while the same
//!   thread holds an [`OwnedReadGuard`] of the domain deadlocks (the stall hook reports it).
//! * A reader record is kept until its domain is dropped (it is reused by later threads, so the
//!   count is bounded by the most threads that read the domain at once).
//! * Past the callback bound, a caller inside a read section of the domain (or the domain's
//!   worker) cannot wait, so its callback is queued beyond the bound and counted in
//!   [`Stats::over_bound`].
//!
//! # Features
//!
//! `test-hooks` enables deliberately broken grace periods for this crate's torture twins; it
//! is not part of the public API. Under `--cfg loom` a hidden `model` module exposes the
//! protocol to the loom models in `tests/loom.rs`.
//!
//! # Minimum Rust version
//!
//! 1.85 (edition 2024).

mod callbacks;
mod cell;
mod domain;
mod gp;
mod list;
mod membarrier;
#[cfg(loom)]
#[doc(hidden)]
pub mod model;
mod protocol;
mod registry;
mod stall;
mod sync;

pub use callbacks::Overflow;
pub use cell::RcuCell;
pub use domain::{
    Cookie, DEFAULT_CALLBACK_BOUND, Domain, DomainBuilder, OwnedReadGuard, ReadGuard, ReadSection,
    Stats,
};
pub use list::{Iter, ListEntry, RcuList};
pub use stall::{StallReport, StalledReader};

use std::sync::OnceLock;

static DEFAULT_DOMAIN: OnceLock<Domain> = OnceLock::new();

/// The process's default domain, created on first use and never dropped.
pub fn default_domain() -> &'static Domain {
    DEFAULT_DOMAIN.get_or_init(|| Domain::builder().name("default").build())
}

/// Enters a read section of the default domain ([`Domain::read`]).
#[inline]
pub fn read() -> ReadGuard<'static> {
    default_domain().read()
}

/// Enters an owned read section of the default domain ([`Domain::read_owned`]).
pub fn read_owned() -> OwnedReadGuard {
    default_domain().read_owned()
}

/// Waits for a grace period of the default domain ([`Domain::synchronize`]).
#[track_caller]
pub fn synchronize() {
    default_domain().synchronize();
}

/// Waits for an expedited grace period of the default domain
/// ([`Domain::synchronize_expedited`]).
#[track_caller]
pub fn synchronize_expedited() {
    default_domain().synchronize_expedited();
}

/// Runs `f` after a grace period of the default domain ([`Domain::call`]).
pub fn call<F: FnOnce() + Send + 'static>(f: F) {
    default_domain().call(f);
}

/// Drops `value` after a grace period of the default domain ([`Domain::defer_drop`]).
pub fn defer_drop<T: Send + 'static>(value: T) {
    default_domain().defer_drop(value);
}

/// Waits for every callback queued on the default domain before the call ([`Domain::barrier`]).
#[track_caller]
pub fn barrier() {
    default_domain().barrier();
}
