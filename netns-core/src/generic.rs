//! Per-namespace private data (`net_generic`, `struct net_generic`, `net_generic_ids`).
//!
//! Every namespace owns an array of slots, one per private-data id, published through an
//! [`RcuCell`]. Readers find their data with one RCU dereference and one load. Writers (the
//! thread that runs an ops' `init` or its undo on that namespace, under `pernet_ops_rwsem`) store
//! into a slot in place when the array is long enough; otherwise they copy the array into a longer
//! one, publish it, and let the old one be freed after a grace period (the kernel's
//! `net_assign_generic`), so a reader never loses sight of an existing pointer.
//!
//! A slot points to a [`GenericBox`], which starts with the registration's unique key. A
//! [`NetGenericId<T>`](crate::NetGenericId) carries the same key, so a stale id (of an ops that was
//! unregistered, its slot since reused by another type) finds a key mismatch and gets `None`
//! instead of a value of the wrong type.
//!
//! # Invariants
//!
//! 1. For a given namespace, slots are written only by the thread that holds `pernet_ops_rwsem`
//!    and runs `ops_init` or the undo of the ops owning the slot on that namespace; setup, cleanup
//!    and (un)registration never do this concurrently for the same namespace and ops.
//! 2. A non-null slot points to a live `GenericBox<T>` whose `key` identifies the registration,
//!    and each key belongs to exactly one `T`.
//! 3. A box is freed only after its slot was cleared, and only after a grace period of the
//!    registry's domain (readers that loaded the pointer are within a read section), except by
//!    the writer of invariant 1, which never frees a box while it still hands out references to it.
//!
//! # Orderings
//!
//! - Storing a box pointer is `Release` and `net_generic`'s load is `Acquire`: a reader that sees
//!   the pointer sees the initialised box.
//! - Copying slots into a grown array uses `Relaxed` loads: only the writer of invariant 1 stores
//!   to them, and it is the thread copying. The new array is published by `RcuCell::replace`,
//!   which orders its contents before the publication.

use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Slots in a new namespace's array before any id was allocated (the kernel starts with 13
/// pointers including its header; this port has no header).
pub(crate) const INITIAL_NET_GEN_PTRS: usize = 8;

/// Registration keys; 0 is never used, so a zeroed key can never match.
static NEXT_GENERIC_KEY: AtomicU64 = AtomicU64::new(1);

/// A fresh, never reused registration key.
pub(crate) fn new_generic_key() -> u64 {
    NEXT_GENERIC_KEY.fetch_add(1, Ordering::Relaxed)
}

/// The slot array of one namespace (`struct net_generic`).
pub(crate) struct GenericArray {
    slots: Box<[AtomicPtr<()>]>,
}

impl GenericArray {
    /// An array of `len` empty slots.
    pub(crate) fn new(len: usize) -> Self {
        Self {
            slots: (0..len).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
        }
    }

    /// The number of slots.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slot `id`, if the array is long enough.
    pub(crate) fn slot(&self, id: usize) -> Option<&AtomicPtr<()>> {
        self.slots.get(id)
    }

    /// A longer copy (at least `len` slots) with the same pointers (invariant 1 makes the
    /// relaxed loads exact).
    pub(crate) fn grown(&self, len: usize) -> Self {
        let grown = Self::new(len.max(self.len()));
        for (from, to) in self.slots.iter().zip(grown.slots.iter()) {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        grown
    }
}

/// One ops' private data for one namespace. `repr(C)` puts `key` at offset 0 for every `T`, so a
/// reader can check the key before it knows the type (invariant 2).
#[repr(C)]
pub(crate) struct GenericBox<T> {
    pub(crate) key: u64,
    pub(crate) value: T,
}

/// Reads the key of the box `ptr` points to.
///
/// # Safety
///
/// `ptr` must point to a live `GenericBox<T>` for some `T` (invariant 2).
pub(crate) unsafe fn box_key(ptr: *const ()) -> u64 {
    // SAFETY: every `GenericBox<T>` is `repr(C)` with a leading `u64`, so the start of the
    // allocation is a valid, aligned `u64` whatever `T` is.
    unsafe { ptr.cast::<u64>().read() }
}

/// A type-erased box scheduled for freeing after a grace period.
pub(crate) struct DeferredFree {
    ptr: *mut (),
    drop_box: unsafe fn(*mut ()),
}

// SAFETY: the box holds a `T: Send + Sync` (the `PernetOperations::Data` bound), and it is only
// dropped once, by whoever owns the `DeferredFree`.
unsafe impl Send for DeferredFree {}

impl DeferredFree {
    /// Wraps the box at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `Box::<GenericBox<T>>::into_raw` with `drop_box` its matching
    /// [`drop_generic_box::<T>`], `T: Send + Sync`, and nothing else may free it.
    pub(crate) unsafe fn new(ptr: *mut (), drop_box: unsafe fn(*mut ())) -> Self {
        Self { ptr, drop_box }
    }
}

impl Drop for DeferredFree {
    fn drop(&mut self) {
        // SAFETY: `new`'s contract: `drop_box` matches `ptr` and we own the box.
        unsafe { (self.drop_box)(self.ptr) }
    }
}

/// Frees a `GenericBox<T>` given as an erased pointer.
///
/// # Safety
///
/// `ptr` must come from `Box::<GenericBox<T>>::into_raw` and not have been freed.
pub(crate) unsafe fn drop_generic_box<T>(ptr: *mut ()) {
    // SAFETY: the caller guarantees the pointer's origin and ownership.
    drop(unsafe { Box::from_raw(ptr.cast::<GenericBox<T>>()) });
}

/// The private-data id allocator (`net_generic_ids`, an IDA): lowest free id first.
#[derive(Debug, Default)]
pub(crate) struct Ida {
    used: Vec<bool>,
}

/// Ids stop here (`ENOMEM`); far above any realistic number of pernet operations.
pub(crate) const MAX_GENERIC_IDS: usize = 1 << 16;

impl Ida {
    /// `ida_alloc`: the lowest free id, or `None` when all [`MAX_GENERIC_IDS`] are taken.
    pub(crate) fn alloc(&mut self) -> Option<usize> {
        if let Some(id) = self.used.iter().position(|used| !used) {
            self.used[id] = true;
            return Some(id);
        }
        if self.used.len() >= MAX_GENERIC_IDS {
            return None;
        }
        self.used.push(true);
        Some(self.used.len() - 1)
    }

    /// `ida_free`.
    pub(crate) fn free(&mut self, id: usize) {
        debug_assert!(self.used[id], "freeing an id that is not allocated");
        self.used[id] = false;
        while self.used.last() == Some(&false) {
            self.used.pop();
        }
    }
}

/// The typed handle of an ops' private-data id: what `*ops->id` is in the kernel, plus the type.
///
/// Returned by [`Registry::register_pernet_subsys`](crate::Registry::register_pernet_subsys) and
/// friends; pass it to [`NetNs::net_generic`](crate::NetNs::net_generic). Operations whose `Data`
/// is zero-sized get no id ([`id`](NetGenericId::id) is `None`) and `net_generic` finds nothing.
pub struct NetGenericId<T> {
    pub(crate) slot: Option<u32>,
    pub(crate) key: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> NetGenericId<T> {
    pub(crate) fn new(slot: Option<usize>, key: u64) -> Self {
        let slot = slot.map(|s| u32::try_from(s).expect("ids are bounded by MAX_GENERIC_IDS"));
        Self {
            slot,
            key,
            _type: PhantomData,
        }
    }

    /// The numeric id (the slot index), or `None` for operations without private data.
    pub fn id(&self) -> Option<u32> {
        self.slot
    }
}

impl<T> Clone for NetGenericId<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for NetGenericId<T> {}

impl<T> PartialEq for NetGenericId<T> {
    fn eq(&self, other: &Self) -> bool {
        self.slot == other.slot && self.key == other.key
    }
}

impl<T> Eq for NetGenericId<T> {}

impl<T> std::fmt::Debug for NetGenericId<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetGenericId")
            .field("id", &self.slot)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Ida;

    #[test]
    fn ida_hands_out_the_lowest_free_id() {
        let mut ida = Ida::default();
        assert_eq!(
            (ida.alloc(), ida.alloc(), ida.alloc()),
            (Some(0), Some(1), Some(2))
        );
        ida.free(1);
        assert_eq!(ida.alloc(), Some(1));
        ida.free(2);
        ida.free(1);
        ida.free(0);
        assert_eq!(ida.alloc(), Some(0));
    }
}
