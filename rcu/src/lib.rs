//! Sleepable RCU (read-copy-update) for threads, modelled on Linux SRCU: independent domains,
//! cheap read sections that may block, grace periods, deferred callbacks, a real barrier and
//! polled grace-period cookies.
//!
//! ```
//! use rcu::{Domain, RcuCell};
//!
//! let domain = Domain::new();
//! let config = RcuCell::new(&domain, String::from("v1"));
//! {
//!     let guard = domain.read();
//!     assert_eq!(config.read(&guard), "v1");
//! }
//! config.replace(String::from("v2")); // "v1" is dropped after a grace period
//! domain.barrier();
//! ```

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
