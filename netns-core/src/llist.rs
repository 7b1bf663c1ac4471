//! The lock-free cleanup list (`llist_add` / `llist_del_all` from `include/linux/llist.h`).
//!
//! Producers (the threads that drop the last active reference of a namespace) push nodes with one
//! compare-and-swap; the single consumer (whoever runs `cleanup_net`) detaches the whole list with
//! one swap. Because nodes are only ever pushed one at a time and removed all at once, the ABA
//! problem of a general lock-free stack cannot arise: a node is never popped and re-pushed while a
//! producer still holds a stale head.
//!
//! `push` reports whether the list was empty, which is the kernel's signal to queue the cleanup
//! work (`if (llist_add(...)) queue_work(...)`): the producer that turns the list non-empty is the
//! one that wakes the consumer, and every later producer knows the consumer is already due.
//!
//! # Invariants
//!
//! 1. A node is on at most one list at a time, and while it is on the list (from the successful
//!    CAS in `push` until `take_all` returns it) the list owns it: nobody else touches its link.
//! 2. The link of a node on the list points to the node pushed before it (or is null).
//!
//! # Orderings
//!
//! - `push`'s successful CAS is `Release`: it publishes the node's link and every write the
//!   producer made before (in `netns-core`: the namespace's final state) to the consumer.
//! - `take_all`'s swap is `Acquire` and pairs with that `Release`. Release sequences make every
//!   earlier push in the CAS chain visible too, so the consumer may walk all links.
//! - Failed CAS attempts and the head load in `push` are `Relaxed`: the producer learns nothing
//!   from them but the value to link to.

use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use crate::sync::{AtomicPtr, Ordering};

/// A type that can sit on an [`LList`]: it embeds the link field.
///
/// # Safety
///
/// `llist_link` must return the same field every time, and nothing but [`LList`] may store to it
/// while the node is on a list (invariant 1).
pub unsafe trait LListNode: Sized {
    /// The embedded link field.
    fn llist_link(&self) -> &AtomicPtr<Self>;
}

/// An intrusive multi-producer, single-consumer list of `T` nodes.
pub struct LList<T: LListNode> {
    /// Newest node, or null when empty. Written by `push` (CAS, `Release`) and `take_all` (swap,
    /// `Acquire`); see the module's "Orderings".
    head: AtomicPtr<T>,
    _owns: PhantomData<*mut T>,
}

// SAFETY: the list only moves node pointers between threads; ownership of each node passes from
// the producer to the consumer (invariant 1), so `T: Send` is what is needed.
unsafe impl<T: LListNode + Send> Send for LList<T> {}
// SAFETY: all shared access goes through the atomic head; see the `Send` argument.
unsafe impl<T: LListNode + Send> Sync for LList<T> {}

impl<T: LListNode> std::fmt::Debug for LList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LList")
            .field("empty", &self.is_empty())
            .finish()
    }
}

impl<T: LListNode> Default for LList<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: LListNode> LList<T> {
    /// An empty list.
    pub fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// `llist_add`: pushes `node` and returns `true` if the list was empty before.
    ///
    /// # Safety
    ///
    /// `node` must point to a live `T` that is on no list, and ownership of it passes to the list
    /// until [`take_all`](Self::take_all) hands it back (invariant 1).
    pub unsafe fn push(&self, node: NonNull<T>) -> bool {
        // SAFETY: the caller guarantees `node` is live and ours to link (invariant 1).
        let link = unsafe { node.as_ref() }.llist_link();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            link.store(head, Ordering::Relaxed);
            // Release: publishes the link just stored (invariant 2) and the producer's writes.
            match self.head.compare_exchange_weak(
                head,
                node.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return head.is_null(),
                Err(current) => head = current,
            }
        }
    }

    /// A deliberately broken push (a load and a separate store instead of a CAS) for the loom
    /// model's twin, which must catch the lost node.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    #[cfg(loom)]
    #[doc(hidden)]
    pub unsafe fn push_racy(&self, node: NonNull<T>) -> bool {
        // SAFETY: as in `push`.
        let link = unsafe { node.as_ref() }.llist_link();
        let head = self.head.load(Ordering::Acquire);
        link.store(head, Ordering::Relaxed);
        self.head.store(node.as_ptr(), Ordering::Release);
        head.is_null()
    }

    /// `llist_del_all`: detaches every node and returns them newest first (the kernel's order;
    /// `cleanup_net` walks its batch in this order too).
    pub fn take_all(&self) -> Drain<T> {
        // Acquire: pairs with the Release CAS of every push in the chain.
        let head = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        Drain {
            next: head,
            _owns: PhantomData,
        }
    }

    /// Whether the list is empty right now (a racy snapshot).
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }
}

/// The nodes detached by [`LList::take_all`], newest first. Dropping it before the end leaks the
/// remaining nodes (they stay owned by nobody), so consumers drain it fully.
pub struct Drain<T: LListNode> {
    next: *mut T,
    _owns: PhantomData<*mut T>,
}

impl<T: LListNode> std::fmt::Debug for Drain<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain")
            .field("empty", &self.next.is_null())
            .finish()
    }
}

impl<T: LListNode> Drain<T> {
    /// Whether no node is left.
    pub fn is_empty(&self) -> bool {
        self.next.is_null()
    }
}

impl<T: LListNode> Iterator for Drain<T> {
    type Item = NonNull<T>;

    fn next(&mut self) -> Option<NonNull<T>> {
        let current = NonNull::new(self.next)?;
        // SAFETY: `take_all` detached this node's chain, which this drain now owns (invariant 1);
        // the Acquire swap made its link (invariant 2) visible.
        let link = unsafe { current.as_ref() }.llist_link();
        self.next = link.load(Ordering::Relaxed);
        link.store(ptr::null_mut(), Ordering::Relaxed);
        Some(current)
    }
}
