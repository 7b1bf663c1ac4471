//! The crate's private synchronisation facade.
//!
//! Every atomic, mutex, thread handle and park call the algorithm uses comes from here, so the
//! same source runs on std in normal builds and on loom's models under `--cfg loom`
//! (`tests/loom.rs`). Loom has no timed park; under loom a timed wait parks without a deadline
//! and timeouts are modelled as kills instead.
//!
//! Under loom, parking is built from a loom `Mutex` and `Condvar` per thread rather than loom's
//! own `park`/`unpark`: loom lets `Thread::unpark` wake a thread that is blocked on a loom
//! `Mutex`, which then trips loom's internal assertion, and kills unpark threads wherever they
//! are, including while they wait for the queue mutex.

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
pub(crate) use parker::{Thread, current as current_thread, park};

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

/// Gives the CPU to another thread (a loom yield under loom).
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// A CPU hint inside a bounded spin; under loom a yield so the model makes progress.
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Thread parking under loom (see the module docs).
#[cfg(loom)]
mod parker {
    // A std `Arc`: the handle lives in a loom thread-local, which loom drops outside its
    // execution when a model deadlocks, where dropping a loom `Arc` would abort the process.
    // The parker's own loom mutex orders every use of it, so the count needs no modelling.
    use loom::sync::{Condvar, Mutex};
    use std::sync::Arc;

    /// One thread's wake-up token.
    #[derive(Debug)]
    struct Parker {
        token: Mutex<bool>,
        wake: Condvar,
        id: loom::thread::ThreadId,
    }

    /// A handle to unpark one thread, like `std::thread::Thread`.
    #[derive(Clone, Debug)]
    pub(crate) struct Thread(Arc<Parker>);

    impl Thread {
        /// Makes the thread's token available and wakes it if it is parked.
        pub(crate) fn unpark(&self) {
            *self.0.token.lock().unwrap() = true;
            self.0.wake.notify_one();
        }

        /// The thread's id.
        pub(crate) fn id(&self) -> loom::thread::ThreadId {
            self.0.id
        }
    }

    loom::thread_local! {
        static CURRENT: Thread = Thread(Arc::new(Parker {
            token: Mutex::new(false),
            wake: Condvar::new(),
            id: loom::thread::current().id(),
        }));
    }

    /// The calling thread's handle.
    pub(crate) fn current() -> Thread {
        CURRENT.with(Thread::clone)
    }

    /// Blocks until the calling thread's token is available, and consumes it.
    pub(crate) fn park() {
        CURRENT.with(|t| {
            let mut token = t.0.token.lock().unwrap();
            while !*token {
                token = t.0.wake.wait(token).unwrap();
            }
            *token = false;
        });
    }
}
