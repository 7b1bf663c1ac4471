//! `RcuCell`: an RCU-protected pointer (`rcu_assign_pointer` / `rcu_dereference` as a type).
//!
//! # Orderings
//!
//! Publishing swaps the pointer with `AcqRel`: the `Release` half makes the new value's
//! initialisation visible to readers that load it with `Acquire`; the `Acquire` half makes the
//! old value's contents visible to the thread that will drop it. Reclamation waits for a grace
//! period of the cell's domain, which orders every reader that could still see the old pointer
//! before the drop.

use crate::domain::{Domain, ReadSection};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, Ordering};

/// An RCU-protected pointer to a heap value, bound to one [`Domain`]; never null (use
/// `RcuCell<Option<T>>` for a nullable one).
///
/// Readers borrow the current value for the life of their read guard; writers publish a new
/// value and the old one is dropped after a grace period.
pub struct RcuCell<T: Send + Sync + 'static> {
    /// Always a pointer from `Box::into_raw`, owned by the cell.
    ptr: AtomicPtr<T>,
    domain: Domain,
    _owns: PhantomData<Box<T>>,
}

// SAFETY: the cell hands out `&T` to readers on any thread (needs `T: Sync`) and drops values
// on the domain's worker (needs `T: Send`); it holds no thread-bound state.
unsafe impl<T: Send + Sync + 'static> Send for RcuCell<T> {}
// SAFETY: as above; all shared access goes through the atomic pointer.
unsafe impl<T: Send + Sync + 'static> Sync for RcuCell<T> {}

impl<T: fmt::Debug + Send + Sync + 'static> fmt::Debug for RcuCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.domain.read();
        // SAFETY: the pointer is valid while a read section of the cell's domain is open.
        let value = unsafe { &*self.ptr.load(Ordering::Acquire) };
        let out = f.debug_struct("RcuCell").field("value", value).finish();
        drop(guard);
        out
    }
}

impl<T: Send + Sync + 'static> RcuCell<T> {
    /// A cell holding `value`, protected by `domain`.
    pub fn new(domain: &Domain, value: T) -> Self {
        Self {
            ptr: AtomicPtr::new(Box::into_raw(Box::new(value))),
            domain: domain.clone(),
            _owns: PhantomData,
        }
    }

    /// The domain this cell is bound to.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Reads the current value (`rcu_dereference`); the reference lives as long as the guard.
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another domain.
    #[inline]
    #[track_caller]
    pub fn read<'g, G: ReadSection>(&self, guard: &'g G) -> &'g T {
        assert!(
            guard.belongs_to(&self.domain),
            "rcu: RcuCell read under a guard of another domain"
        );
        // SAFETY: the pointer came from `Box::into_raw` and is dropped only after a grace
        // period that starts after it was unpublished; `guard` is a read section of the
        // cell's domain that began before any such grace period ends, so the value outlives
        // `'g`.
        unsafe { &*self.ptr.load(Ordering::Acquire) }
    }

    /// Publishes `value` (`rcu_assign_pointer`); the old value is dropped on the domain's
    /// worker after a grace period (deferred drop, never blocks for a grace period).
    pub fn replace(&self, value: T) {
        let old = self.swap_raw(value);
        self.domain.defer_drop(old);
    }

    /// Publishes `value`, waits for a grace period and returns the old value.
    ///
    /// # Panics
    ///
    /// If called inside a read section of the cell's domain (see [`Domain::synchronize`]).
    #[track_caller]
    pub fn swap_synchronize(&self, value: T) -> T {
        let old = self.swap_raw(value);
        self.domain.synchronize();
        *old.into_box()
    }

    /// Mutable access. Readers may still hold references obtained under earlier guards, so
    /// this waits for a grace period first.
    ///
    /// # Panics
    ///
    /// If called inside a read section of the cell's domain.
    #[track_caller]
    pub fn get_mut(&mut self) -> &mut T {
        self.domain.synchronize();
        // SAFETY: `&mut self` excludes new readers through this cell, and the grace period
        // ended every read section that could hold a reference from before.
        unsafe { &mut *self.ptr.load(Ordering::Relaxed) }
    }

    /// Takes the value out, after a grace period (see [`get_mut`](Self::get_mut)).
    ///
    /// # Panics
    ///
    /// If called inside a read section of the cell's domain.
    #[track_caller]
    pub fn into_inner(self) -> T {
        self.domain.synchronize();
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the pointer is owned by the cell (from `Box::into_raw`), no reader can reach
        // it any more (grace period above), and `this` is never dropped.
        let value = unsafe { Box::from_raw(this.ptr.load(Ordering::Relaxed)) };
        // SAFETY: `this` is forgotten, so the domain handle is moved out exactly once.
        drop(unsafe { std::ptr::read(&this.domain) });
        *value
    }

    fn swap_raw(&self, value: T) -> OwnedPtr<T> {
        let new = Box::into_raw(Box::new(value));
        OwnedPtr(self.ptr.swap(new, Ordering::AcqRel))
    }
}

impl<T: Send + Sync + 'static> Drop for RcuCell<T> {
    fn drop(&mut self) {
        // Readers may still hold references handed out under their guards, so the last value
        // is dropped after a grace period too.
        let old = OwnedPtr(*self.ptr.get_mut());
        self.domain.defer_drop(old);
    }
}

/// An unpublished value, owned by whoever drops it.
struct OwnedPtr<T>(*mut T);

// SAFETY: the pointer is uniquely owned (unpublished from a cell); sending it sends the `T`.
unsafe impl<T: Send> Send for OwnedPtr<T> {}

impl<T> OwnedPtr<T> {
    fn into_box(self) -> Box<T> {
        let p = self.0;
        std::mem::forget(self);
        // SAFETY: the pointer came from `Box::into_raw` and is owned by `self`.
        unsafe { Box::from_raw(p) }
    }
}

impl<T> Drop for OwnedPtr<T> {
    fn drop(&mut self) {
        // SAFETY: as in `into_box`.
        drop(unsafe { Box::from_raw(self.0) });
    }
}
