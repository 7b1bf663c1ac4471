//! Misuse detection: which semaphores the current thread holds.
//!
//! With `debug_assertions` or the `misuse-checks` feature, every guard records the address of
//! its semaphore in a thread-local list while it lives. The slow paths consult the list before
//! they would sleep: a thread that already holds a semaphore and would queue on it again can
//! only deadlock (`write` while holding it in any mode; `read` while a writer waits or while
//! holding it for write), so it panics with a clear message instead. Without either, the list
//! does not exist and these calls compile to nothing; the fast paths then cost what they cost
//! without checks (the crate docs give the measured difference).
//!
//! Under loom all model threads share one OS thread, so the checks are off there.

#[cfg(all(any(debug_assertions, feature = "misuse-checks"), not(loom)))]
mod imp {
    use std::cell::RefCell;

    std::thread_local! {
        /// Addresses of the semaphores this thread holds, one entry per guard.
        static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn acquired(key: usize) {
        let _ = HELD.try_with(|held| held.borrow_mut().push(key));
    }

    pub(crate) fn released(key: usize) {
        let _ = HELD.try_with(|held| {
            let mut held = held.borrow_mut();
            if let Some(i) = held.iter().rposition(|&k| k == key) {
                held.swap_remove(i);
            }
        });
    }

    pub(crate) fn holds(key: usize) -> bool {
        HELD.try_with(|held| held.borrow().contains(&key))
            .unwrap_or(false)
    }
}

#[cfg(not(all(any(debug_assertions, feature = "misuse-checks"), not(loom))))]
mod imp {
    #[inline(always)]
    pub(crate) fn acquired(_key: usize) {}

    #[inline(always)]
    pub(crate) fn released(_key: usize) {}

    #[inline(always)]
    pub(crate) fn holds(_key: usize) -> bool {
        false
    }
}

pub(crate) use imp::{acquired, holds, released};

/// Whether misuse detection is compiled in.
#[cfg(all(test, not(loom)))]
pub(crate) const ENABLED: bool = cfg!(all(
    any(debug_assertions, feature = "misuse-checks"),
    not(loom)
));
