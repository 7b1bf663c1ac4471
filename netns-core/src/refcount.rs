//! The active reference count of a namespace (`net->ns.count`, a `refcount_t`).
//!
//! Zero is terminal: once the last `put_net` brought the count to zero the namespace is queued
//! for dismantling, and `maybe_get_net` (`refcount_inc_not_zero`) must fail from then on, or a
//! caller would hold a reference to a namespace whose exits are running.
//!
//! # Orderings
//!
//! The scheme is `Arc`'s:
//! - increments through an existing reference are `Relaxed`: the new reference is derived from
//!   one the caller already holds, so nothing new needs to be published;
//! - `inc_not_zero` succeeds with `Acquire` (like `Weak::upgrade`): the new holder obtained the
//!   namespace through a path that holds no reference (a list walk, an nsid lookup), so it
//!   synchronises with the count itself before using the namespace;
//! - `dec_and_test` decrements with `Release` and, when it reaches zero, issues an `Acquire`
//!   fence: every use of the namespace through any reference happens before the dismantling that
//!   the zero triggers.

use crate::sync::{AtomicUsize, Ordering, fence};

/// Counts above this abort the process, like `Arc` and the kernel's saturating `refcount_t`: an
/// overflow would let a later decrement free a namespace still in use.
const MAX_REFCOUNT: usize = isize::MAX as usize;

/// A reference count for which zero is final.
pub struct ActiveCount {
    /// Number of active references. Never incremented from zero (see `inc_not_zero`); a value
    /// above [`MAX_REFCOUNT`] aborts.
    count: AtomicUsize,
}

impl std::fmt::Debug for ActiveCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ActiveCount").field(&self.get()).finish()
    }
}

impl ActiveCount {
    /// A count holding `initial` references.
    pub fn new(initial: usize) -> Self {
        Self {
            count: AtomicUsize::new(initial),
        }
    }

    /// `get_net`/`refcount_inc`: adds a reference through one the caller holds.
    pub fn inc(&self) {
        let old = self.count.fetch_add(1, Ordering::Relaxed);
        if old > MAX_REFCOUNT {
            std::process::abort();
        }
    }

    /// `maybe_get_net`/`refcount_inc_not_zero`: adds a reference unless the count is zero.
    pub fn inc_not_zero(&self) -> bool {
        let mut current = self.count.load(Ordering::Relaxed);
        loop {
            if current == 0 {
                return false;
            }
            if current > MAX_REFCOUNT {
                std::process::abort();
            }
            match self.count.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// A deliberately broken `inc_not_zero` (it resurrects a zero count) for the loom model's
    /// twin.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn inc_not_zero_broken(&self) -> bool {
        self.count.fetch_add(1, Ordering::Acquire);
        true
    }

    /// `refcount_dec_and_test`: drops a reference; `true` if it was the last one.
    pub fn dec_and_test(&self) -> bool {
        if self.count.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        // Acquire: every access made through the other references happens before what the last
        // holder does next (queueing the namespace for dismantling).
        fence(Ordering::Acquire);
        true
    }

    /// The current count (a racy snapshot).
    pub fn get(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}
