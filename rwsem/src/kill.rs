//! Per-thread kill state: the crate's model of the kernel's "fatal signal pending".
//!
//! Each thread owns one [`KillState`], created lazily the first time the thread asks for it.
//! A [`KillHandle`] is a shared reference to it that may travel to other threads. Raising the
//! flag ([`KillHandle::kill`]) makes every killable wait of the owning thread, present or
//! future, fail with [`Killed`](crate::Killed) until the flag is cleared, and unparks the
//! thread so that a wait in progress notices at once.
//!
//! # Orderings
//!
//! `killed` is stored with `Release` by [`KillHandle::kill`] before the owner's thread is
//! unparked, and loaded with `Acquire` by the waiter after every return from park. The park /
//! unpark pair itself synchronises (an unpark makes the token available; the park that
//! consumes it happens after the unpark), so a waiter that checked the flag, saw it clear and
//! then parked is woken by the unpark that follows the store and sees the flag on its next
//! check. Nothing else is published through this flag, so `Acquire`/`Release` is enough.

use std::fmt;

use crate::sync::{Arc, AtomicBool, Thread, current_thread};
use std::sync::atomic::Ordering::{Acquire, Release};

/// The kill flag of one thread and the handle used to wake that thread.
pub(crate) struct KillState {
    /// Raised by [`KillHandle::kill`], lowered by [`KillHandle::clear`].
    killed: AtomicBool,
    /// The owning thread, unparked by every kill.
    thread: Thread,
}

impl KillState {
    /// Whether the owning thread has a kill pending.
    pub(crate) fn is_killed(&self) -> bool {
        self.killed.load(Acquire)
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static CURRENT: Arc<KillState> = Arc::new(KillState {
        killed: AtomicBool::new(false),
        thread: current_thread(),
    });
}

#[cfg(loom)]
loom::thread_local! {
    static CURRENT: Arc<KillState> = Arc::new(KillState {
        killed: AtomicBool::new(false),
        thread: current_thread(),
    });
}

/// The calling thread's kill state.
pub(crate) fn current_state() -> Arc<KillState> {
    CURRENT.with(Arc::clone)
}

/// A handle on one thread's kill flag (the kernel's pending fatal signal).
///
/// Obtain it on the thread it should control with [`KillHandle::current`], then send or share
/// it with whoever may need to abort that thread's waits. Raising it wakes the thread if it is
/// parked on any [`RwSem`](crate::RwSem); every killable wait of the thread then fails with
/// [`Killed`](crate::Killed) until [`clear`](KillHandle::clear) is called, including waits
/// that start later. Non-killable waits (`read`, `write`, the timed ones) ignore it.
///
/// The handle stays valid after its thread exits; raising it then has no effect. A kill
/// unparks the thread wherever it is parked, so a park-based wait outside this crate (a channel
/// receive, `std::thread::park`) sees one spurious wake-up, which such waits tolerate anyway.
///
/// # Examples
///
/// ```
/// use rwsem::{KillHandle, Killed, RwSem};
/// use std::sync::mpsc;
///
/// let sem = RwSem::new(0);
/// let held = sem.write();
/// std::thread::scope(|s| {
///     let (tx, rx) = mpsc::channel();
///     let sem = &sem;
///     let waiter = s.spawn(move || {
///         tx.send(KillHandle::current()).unwrap();
///         sem.read_killable().map(|_| ())
///     });
///     let handle = rx.recv().unwrap();
///     handle.kill();
///     assert_eq!(waiter.join().unwrap(), Err(Killed));
/// });
/// drop(held);
/// ```
#[derive(Clone)]
pub struct KillHandle {
    state: Arc<KillState>,
}

impl KillHandle {
    /// Returns the handle of the calling thread.
    pub fn current() -> KillHandle {
        KillHandle {
            state: current_state(),
        }
    }

    /// Raises the kill flag and wakes the thread if it is parked.
    ///
    /// A wait that was already granted the lock when the kill lands keeps it and succeeds;
    /// otherwise the wait returns [`Killed`](crate::Killed) and leaves no trace in the lock.
    pub fn kill(&self) {
        self.state.killed.store(true, Release);
        self.state.thread.unpark();
    }

    /// Whether the flag is raised.
    pub fn is_killed(&self) -> bool {
        self.state.is_killed()
    }

    /// Lowers the flag, so killable waits of the thread block normally again.
    pub fn clear(&self) {
        self.state.killed.store(false, Release);
    }
}

impl fmt::Debug for KillHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillHandle")
            .field("thread", &self.state.thread.id())
            .field("killed", &self.is_killed())
            .finish()
    }
}

/// Lowers the calling thread's kill flag; short for `KillHandle::current().clear()`.
pub fn clear_current_kill() {
    CURRENT.with(|state| state.killed.store(false, Release));
}
