//! The wait queue: one node per sleeping waiter, on the waiter's own stack.
//!
//! Nodes are linked into an intrusive FIFO owned by [`crate::raw::RawRwSem`] and guarded by
//! its queue mutex. The invariants cited here by number are those listed in [`crate::raw`].
//!
//! # Orderings
//!
//! Links are plain `Cell`s ordered by the queue mutex (invariant 1). A node's `state` is the
//! one atomic here; it is stored and loaded only in [`crate::raw`], whose Orderings section
//! argues both sides (a `Release` store by the granter, an `Acquire` load by the owner).

use std::cell::Cell;
use std::marker::PhantomPinned;
use std::ptr;
#[cfg(not(loom))]
use std::time::Instant;

use crate::sync::{self, AtomicU8, Thread};

/// The node's owner is still waiting.
pub(crate) const WAITING: u8 = 0;
/// The node was unlinked and granted the lock (invariant 5).
pub(crate) const GRANTED: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A reader.
    Read,
    /// A writer.
    Write,
}

/// One waiter's queue node; it lives on the waiter's stack, pinned (invariant 4).
pub(crate) struct Waiter {
    pub(crate) kind: Kind,
    /// [`WAITING`] or [`GRANTED`].
    pub(crate) state: AtomicU8,
    /// The waiting thread, unparked by grants and wake-ups.
    pub(crate) thread: Thread,
    /// Neighbours in the queue (invariant 1).
    prev: Cell<*const Waiter>,
    next: Cell<*const Waiter>,
    /// When the node was queued (the hand-off bound runs from here).
    #[cfg(not(loom))]
    queued_at: Instant,
    /// When an aborting waiter woke this one (test builds: the successor-wake latency).
    #[cfg(all(test, not(loom)))]
    pub(crate) abort_wake_at: Cell<Option<Instant>>,
    /// Failed attempts at the front (the hand-off bound under loom, which has no clock).
    #[cfg(loom)]
    misses: Cell<u32>,
    _pinned: PhantomPinned,
}

impl Waiter {
    pub(crate) fn new(kind: Kind) -> Waiter {
        Waiter {
            kind,
            state: AtomicU8::new(WAITING),
            thread: sync::current_thread(),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            #[cfg(not(loom))]
            queued_at: Instant::now(),
            #[cfg(all(test, not(loom)))]
            abort_wake_at: Cell::new(None),
            #[cfg(loom)]
            misses: Cell::new(0),
            _pinned: PhantomPinned,
        }
    }

    /// Called after a failed attempt at the front; returns whether the writer has waited past
    /// the hand-off bound.
    pub(crate) fn missed_past_bound(&self) -> bool {
        #[cfg(loom)]
        {
            // No clock under loom: the second miss counts as "past the bound", so models
            // explore both the stealing and the hand-off paths.
            self.misses.set(self.misses.get() + 1);
            self.misses.get() >= 2
        }
        #[cfg(not(loom))]
        {
            self.queued_at.elapsed() >= crate::raw::HANDOFF_BOUND
        }
    }
}

/// The FIFO of waiters (invariant 1).
pub(crate) struct Queue {
    head: *const Waiter,
    tail: *const Waiter,
    pub(crate) len: usize,
    /// Writers ever linked and unlinked (test builds: the torture test's barge detector).
    #[cfg(all(test, not(loom)))]
    pub(crate) writer_counts: (u64, u64),
}

// SAFETY: the raw pointers are only dereferenced with the queue's mutex held (invariant 1), and
// the nodes they point to stay alive while linked (invariant 4).
unsafe impl Send for Queue {}

impl Queue {
    pub(crate) const fn new() -> Queue {
        Queue {
            head: ptr::null(),
            tail: ptr::null(),
            len: 0,
            #[cfg(all(test, not(loom)))]
            writer_counts: (0, 0),
        }
    }

    pub(crate) fn push_back(&mut self, node: &Waiter) {
        node.prev.set(self.tail);
        node.next.set(ptr::null());
        if self.tail.is_null() {
            self.head = node;
        } else {
            // SAFETY: `tail` is linked, hence alive (invariant 4); we hold the queue lock
            // (invariant 1).
            unsafe { (*self.tail).next.set(node) };
        }
        self.tail = node;
        self.len += 1;
        #[cfg(all(test, not(loom)))]
        if node.kind == Kind::Write {
            self.writer_counts.0 += 1;
        }
    }

    /// Unlinks `node`, which must be linked in this queue.
    pub(crate) fn unlink(&mut self, node: &Waiter) {
        let (prev, next) = (node.prev.get(), node.next.get());
        if prev.is_null() {
            self.head = next;
        } else {
            // SAFETY: linked neighbours are alive (invariant 4); queue lock held (invariant 1).
            unsafe { (*prev).next.set(next) };
        }
        if next.is_null() {
            self.tail = prev;
        } else {
            // SAFETY: as above.
            unsafe { (*next).prev.set(prev) };
        }
        node.prev.set(ptr::null());
        node.next.set(ptr::null());
        self.len -= 1;
        #[cfg(all(test, not(loom)))]
        if node.kind == Kind::Write {
            self.writer_counts.1 += 1;
        }
    }

    pub(crate) fn front(&self) -> Option<&Waiter> {
        // SAFETY: a linked node is alive (invariant 4) and the caller holds the queue lock,
        // through `&self` borrowed from the guard (invariant 1).
        unsafe { self.head.as_ref() }
    }

    pub(crate) fn is_front(&self, node: &Waiter) -> bool {
        ptr::eq(self.head, node)
    }

    /// The number of readers at the front before the first writer.
    pub(crate) fn front_reader_run(&self) -> usize {
        let mut n = 0;
        let mut cur = self.head;
        // SAFETY: as in `front`.
        while let Some(node) = unsafe { cur.as_ref() } {
            if node.kind != Kind::Read {
                break;
            }
            n += 1;
            cur = node.next.get();
        }
        n
    }
}

/// Thread handles collected under the queue lock and unparked after it is released.
pub(crate) struct WakeList {
    threads: [Option<Thread>; WakeList::CAPACITY],
    len: usize,
}

impl WakeList {
    /// Wakes beyond this many happen under the queue lock, which is correct, only slower.
    const CAPACITY: usize = 8;

    pub(crate) fn new() -> WakeList {
        WakeList {
            threads: Default::default(),
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, thread: Thread) {
        if self.len == Self::CAPACITY {
            thread.unpark();
        } else {
            self.threads[self.len] = Some(thread);
            self.len += 1;
        }
    }

    /// Whether no wake-up is pending.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn wake_all(&mut self) {
        for slot in &mut self.threads[..self.len] {
            if let Some(thread) = slot.take() {
                thread.unpark();
            }
        }
        self.len = 0;
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        self.wake_all();
    }
}

/// Successor wake-up latencies after an abort, recorded in test builds for the torture test.
#[cfg(all(test, not(loom)))]
pub(crate) mod successor_latency {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    static SAMPLES: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

    /// Records the latency from an abort's wake-up to the woken waiter running.
    pub(crate) fn record(since: Instant) {
        let d = since.elapsed();
        SAMPLES.lock().unwrap_or_else(|e| e.into_inner()).push(d);
    }

    /// Takes every sample recorded so far.
    pub(crate) fn take() -> Vec<Duration> {
        std::mem::take(&mut *SAMPLES.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Queue {
    /// Stamps the waiters an abort's wake-up may wake (test builds), or clears the stamps:
    /// the front writer, or the run of front readers.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn stamp_front_for_abort_wake(&self, at: Option<Instant>) {
        let mut cur = self.head;
        // SAFETY: linked nodes are alive (invariant 4) and the caller holds the queue lock.
        while let Some(node) = unsafe { cur.as_ref() } {
            node.abort_wake_at.set(at);
            if node.kind == Kind::Write {
                break;
            }
            cur = node.next.get();
            // SAFETY: as above.
            if unsafe { cur.as_ref() }.is_some_and(|next| next.kind == Kind::Write) {
                break;
            }
        }
    }
}
