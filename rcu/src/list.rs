//! `RcuList`: a doubly linked list with RCU readers (`list_add_tail_rcu`, `list_del_rcu`,
//! `list_for_each_entry_rcu`).
//!
//! Readers walk `next` pointers only; writers are serialised by a mutex and also maintain
//! `prev` pointers and the tail, so both insertion at the tail and removal through a handle are
//! O(1). A removed node keeps its `next` pointer, so a reader standing on it continues to the
//! rest of the list, and it is freed only after a grace period.
//!
//! # Invariants
//!
//! 1. Every node reachable from `head` was allocated by this list and is not yet freed.
//! 2. `prev`, `tail` and the links of reachable nodes change only under `writer`.
//! 3. A node is freed only after a grace period that starts after it became unreachable.
//! 4. A `ListEntry` names a reachable node of the list whose id it carries; it is consumed by
//!    `remove`, so each node is removed at most once.
//!
//! # Orderings
//!
//! Links are stored with `Release` after the node is initialised and loaded with `Acquire` by
//! readers, so a reader that reaches a node sees its value. Unlinking needs no ordering of its
//! own: the grace period (invariant 3) orders readers before the free.

use crate::domain::{Domain, ReadSection};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

struct Node<T> {
    value: T,
    next: AtomicPtr<Node<T>>,
    /// Writer-only (invariant 2).
    prev: AtomicPtr<Node<T>>,
}

/// Unique list ids for `ListEntry` checks.
static NEXT_LIST_ID: AtomicU64 = AtomicU64::new(1);

/// An RCU list bound to one [`Domain`]: readers iterate under a guard of that domain and are
/// never blocked by writers; writers are serialised internally.
pub struct RcuList<T: Send + Sync + 'static> {
    head: AtomicPtr<Node<T>>,
    /// Writer lock; holds the tail (invariant 2).
    writer: Mutex<TailPtr<T>>,
    len: AtomicUsize,
    id: u64,
    domain: Domain,
    _owns: PhantomData<Box<Node<T>>>,
}

struct TailPtr<T>(*mut Node<T>);
// SAFETY: only dereferenced under the writer lock.
unsafe impl<T: Send> Send for TailPtr<T> {}

// SAFETY: readers on any thread get `&T` (T: Sync); nodes are freed on the worker (T: Send).
unsafe impl<T: Send + Sync + 'static> Send for RcuList<T> {}
// SAFETY: as above; shared mutation goes through atomics and the writer lock.
unsafe impl<T: Send + Sync + 'static> Sync for RcuList<T> {}

/// The handle of one element, returned by [`RcuList::push_back`] and consumed by
/// [`RcuList::remove`].
#[must_use = "without the entry the element cannot be removed"]
pub struct ListEntry<T> {
    node: *mut Node<T>,
    list: u64,
}

// SAFETY: the entry is an opaque token; the node it names is only touched through the list,
// under its writer lock.
unsafe impl<T: Send + Sync> Send for ListEntry<T> {}
// SAFETY: as above; `&ListEntry` gives no access to the node.
unsafe impl<T: Send + Sync> Sync for ListEntry<T> {}

impl<T> fmt::Debug for ListEntry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListEntry")
            .field("list", &self.list)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static + fmt::Debug> fmt::Debug for RcuList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.domain.read();
        f.debug_list().entries(self.iter(&guard)).finish()
    }
}

impl<T: Send + Sync + 'static> RcuList<T> {
    /// An empty list protected by `domain`.
    pub fn new(domain: &Domain) -> Self {
        Self {
            head: AtomicPtr::new(std::ptr::null_mut()),
            writer: Mutex::new(TailPtr(std::ptr::null_mut())),
            len: AtomicUsize::new(0),
            id: NEXT_LIST_ID.fetch_add(1, Ordering::Relaxed),
            domain: domain.clone(),
            _owns: PhantomData,
        }
    }

    /// The domain this list is bound to.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Appends `value` (`list_add_tail_rcu`) in O(1); readers see it from their next step on.
    pub fn push_back(&self, value: T) -> ListEntry<T> {
        let node = Box::into_raw(Box::new(Node {
            value,
            next: AtomicPtr::new(std::ptr::null_mut()),
            prev: AtomicPtr::new(std::ptr::null_mut()),
        }));
        let mut tail = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: `node` is ours until published; `tail.0` is reachable (invariants 1, 2).
        unsafe {
            (*node).prev.store(tail.0, Ordering::Relaxed);
            match tail.0.is_null() {
                true => self.head.store(node, Ordering::Release),
                false => (*tail.0).next.store(node, Ordering::Release),
            }
        }
        tail.0 = node;
        self.len.fetch_add(1, Ordering::Relaxed);
        ListEntry {
            node,
            list: self.id,
        }
    }

    /// Unlinks the element named by `entry` (`list_del_rcu`) in O(1); readers already on it
    /// continue, and it is dropped on the domain's worker after a grace period.
    ///
    /// # Panics
    ///
    /// If `entry` belongs to another list.
    #[track_caller]
    pub fn remove(&self, entry: ListEntry<T>) {
        self.check_entry(&entry);
        let mut tail = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: `entry` is of this list (checked above) and the writer lock is held.
        let node = unsafe { self.unlink_locked(&mut tail, entry) };
        drop(tail);
        // Invariant 3.
        self.domain.defer_drop(node);
    }

    /// Unlinks every element named by `entries` (a `list_del_rcu` each) under one hold of the
    /// writer lock, O(1) per element, and frees them all with ONE deferred drop after a grace
    /// period. Use it to dismantle a batch: [`remove`](Self::remove) pays one callback per
    /// element.
    ///
    /// # Panics
    ///
    /// If an entry belongs to another list. The entries before it are removed and freed as
    /// usual; the offending entry and those after it are left untouched.
    #[track_caller]
    pub fn remove_many<I: IntoIterator<Item = ListEntry<T>>>(&self, entries: I) {
        let mut unlinked = Vec::new();
        let mut tail = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for entry in entries {
                self.check_entry(&entry);
                // SAFETY: `entry` is of this list (checked above) and the writer lock is held.
                unlinked.push(unsafe { self.unlink_locked(&mut tail, entry) });
            }
        }));
        drop(tail);
        if !unlinked.is_empty() {
            // Invariant 3, for the whole batch at once.
            self.domain.defer_drop(unlinked);
        }
        if let Err(panic) = checked {
            std::panic::resume_unwind(panic);
        }
    }

    #[track_caller]
    fn check_entry(&self, entry: &ListEntry<T>) {
        assert!(
            entry.list == self.id,
            "rcu: ListEntry removed from a list it does not belong to"
        );
    }

    /// Unlinks `entry`'s node and returns it, to be freed after a grace period.
    ///
    /// # Safety
    ///
    /// * `entry` belongs to this list (its `list` id is `self.id`);
    /// * `tail` is the guard of this list's writer lock.
    unsafe fn unlink_locked(&self, tail: &mut TailPtr<T>, entry: ListEntry<T>) -> NodeBox<T> {
        let node = entry.node;
        // SAFETY: invariant 4: `node` is reachable in this list and not yet removed (the caller
        // guarantees the entry is ours); its neighbours are reachable too, and the writer lock
        // is held (invariant 2).
        unsafe {
            let prev = (*node).prev.load(Ordering::Relaxed);
            let next = (*node).next.load(Ordering::Relaxed);
            match prev.is_null() {
                true => self.head.store(next, Ordering::Release),
                false => (*prev).next.store(next, Ordering::Release),
            }
            match next.is_null() {
                true => tail.0 = prev,
                false => (*next).prev.store(prev, Ordering::Relaxed),
            }
        }
        self.len.fetch_sub(1, Ordering::Relaxed);
        NodeBox(node)
    }

    /// Iterates the elements in order (`list_for_each_entry_rcu`); references live as long as
    /// the guard. Elements pushed or removed during the walk may or may not be seen.
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another domain.
    #[track_caller]
    pub fn iter<'g, G: ReadSection>(&self, guard: &'g G) -> Iter<'g, T> {
        assert!(
            guard.belongs_to(&self.domain),
            "rcu: RcuList iterated under a guard of another domain"
        );
        Iter {
            next: self.head.load(Ordering::Acquire),
            _guard: PhantomData,
        }
    }

    /// The number of elements (a snapshot).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the list is empty (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Send + Sync + 'static> Drop for RcuList<T> {
    fn drop(&mut self) {
        // Readers may still hold references from earlier guards: free after a grace period.
        let mut nodes = Vec::with_capacity(*self.len.get_mut());
        let mut p = *self.head.get_mut();
        while !p.is_null() {
            // SAFETY: reachable nodes are valid (invariant 1) and we have `&mut self`.
            let next = unsafe { (*p).next.load(Ordering::Relaxed) };
            nodes.push(NodeBox(p));
            p = next;
        }
        if !nodes.is_empty() {
            self.domain.defer_drop(nodes);
        }
    }
}

/// An unlinked node, owned by whoever drops it.
struct NodeBox<T>(*mut Node<T>);

// SAFETY: the node is unreachable by writers and will be freed once; sending it sends the `T`.
unsafe impl<T: Send> Send for NodeBox<T> {}

impl<T> Drop for NodeBox<T> {
    fn drop(&mut self) {
        // SAFETY: the node came from `Box::into_raw` and is owned by `self` (invariant 3).
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// An iterator over an [`RcuList`] under a guard (see [`RcuList::iter`]).
pub struct Iter<'g, T> {
    next: *const Node<T>,
    _guard: PhantomData<&'g T>,
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

impl<'g, T> Iterator for Iter<'g, T> {
    type Item = &'g T;

    #[inline]
    fn next(&mut self) -> Option<&'g T> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: the node was reachable when this read section loaded its link; it is freed
        // only after a grace period that this section holds back (invariant 3).
        let node = unsafe { &*self.next };
        self.next = node.next.load(Ordering::Acquire);
        Some(&node.value)
    }
}
