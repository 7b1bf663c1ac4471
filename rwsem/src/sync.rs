//! The crate's private synchronisation facade.
//!
//! Every atomic, mutex, thread handle and park call the algorithm uses comes from here, so the
//! same source runs on std in normal builds and on loom's models under `--cfg loom`
//! (`tests/loom.rs`). Loom has no timed park; under loom a timed wait parks without a deadline
//! and timeouts are modelled as kills instead.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread::{Thread, current as current_thread, park};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread, current as current_thread, park};

use std::time::Instant;

/// Parks the current thread until it is unparked or `deadline` passes (spurious returns are
/// allowed; every caller re-checks its condition).
pub(crate) fn park_until(deadline: Option<Instant>) {
    #[cfg(not(loom))]
    match deadline {
        None => park(),
        Some(deadline) => {
            let now = Instant::now();
            if deadline > now {
                std::thread::park_timeout(deadline - now);
            }
        }
    }
    #[cfg(loom)]
    {
        // Loom cannot model time; a timed wait is modelled as an untimed one (see the module
        // docs), and tests/loom.rs aborts waits with kills instead.
        let _ = deadline;
        park();
    }
}

/// Whether a deadline has passed. Under loom time never passes.
pub(crate) fn deadline_passed(deadline: Option<Instant>) -> bool {
    #[cfg(not(loom))]
    {
        deadline.is_some_and(|d| Instant::now() >= d)
    }
    #[cfg(loom)]
    {
        let _ = deadline;
        false
    }
}

/// A CPU hint inside a bounded spin; under loom a yield so the model makes progress.
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
