//! The user-facing semaphore and its guards, on top of [`crate::raw`].

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::error::{Killed, TimedOut};
use crate::misuse;
use crate::raw::{RawRwSem, WaitSpec};

/// A writer-preferring reader-writer semaphore whose waits can be killed, timed out or tried.
///
/// Shaped like [`std::sync::RwLock<T>`], behaving like the Linux `rw_semaphore`. See the
/// [crate documentation](crate) for the guarantees, the kernel names and the costs.
///
/// There is no poisoning: a panic while a guard is held releases the lock like any other drop,
/// and later users see whatever the panicking thread left behind (as with `parking_lot`).
///
/// # Examples
///
/// ```
/// use rwsem::RwSem;
///
/// let sem = RwSem::new(vec![1, 2]);
/// {
///     let r1 = sem.read();
///     let r2 = sem.read(); // readers share the lock
///     assert_eq!(r1.len() + r2.len(), 4);
/// }
/// sem.write().push(3);
/// assert_eq!(sem.into_inner(), [1, 2, 3]);
/// ```
pub struct RwSem<T: ?Sized> {
    raw: RawRwSem,
    data: UnsafeCell<T>,
}

// SAFETY: the semaphore owns its `T`; sending it sends the `T`.
unsafe impl<T: ?Sized + Send> Send for RwSem<T> {}
// SAFETY: a shared `RwSem` hands out `&mut T` to one writer at a time (needs `T: Send`, as the
// writer may be any thread) and `&T` to many readers at once (needs `T: Sync`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwSem<T> {}

/// RAII read access to an [`RwSem`]: `up_read` on drop.
///
/// Not `Send`: it must be dropped on the thread that took it.
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct RwSemReadGuard<'a, T: ?Sized> {
    sem: &'a RwSem<T>,
    _not_send: PhantomData<*const ()>,
}

/// RAII write access to an [`RwSem`]: `up_write` on drop.
///
/// Not `Send`: it must be dropped on the thread that took it.
#[must_use = "if unused the RwSem will immediately unlock"]
pub struct RwSemWriteGuard<'a, T: ?Sized> {
    sem: &'a RwSem<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing a read guard shares `&T`, which needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwSemReadGuard<'_, T> {}
// SAFETY: sharing a write guard shares `&T` only (`DerefMut` needs `&mut`), which needs
// `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwSemWriteGuard<'_, T> {}

static_assertions::assert_impl_all!(RwSem<u8>: Send, Sync);
static_assertions::assert_not_impl_any!(RwSem<std::cell::Cell<u8>>: Sync);
static_assertions::assert_impl_all!(RwSemReadGuard<'static, u8>: Sync);
static_assertions::assert_impl_all!(RwSemWriteGuard<'static, u8>: Sync);
static_assertions::assert_not_impl_any!(RwSemReadGuard<'static, u8>: Send);
static_assertions::assert_not_impl_any!(RwSemWriteGuard<'static, u8>: Send);
static_assertions::assert_not_impl_any!(RwSemReadGuard<'static, std::cell::Cell<u8>>: Sync);

impl<T> RwSem<T> {
    /// Creates an unlocked semaphore protecting `value` (`init_rwsem`).
    #[cfg(not(loom))]
    pub const fn new(value: T) -> RwSem<T> {
        RwSem {
            raw: RawRwSem::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Creates an unlocked semaphore protecting `value` (not `const` under loom).
    #[cfg(loom)]
    pub fn new(value: T) -> RwSem<T> {
        RwSem {
            raw: RawRwSem::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Creates a semaphore with the deliberate bug `bug` (see [`crate::loom_bugs`]); loom
    /// builds only, for the broken twins of the models.
    #[cfg(loom)]
    pub fn with_bug(value: T, bug: u8) -> RwSem<T> {
        RwSem {
            raw: RawRwSem::with_bug(bug),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the semaphore and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwSem<T> {
    fn read_guard(&self) -> RwSemReadGuard<'_, T> {
        misuse::acquired(self.raw.key());
        RwSemReadGuard {
            sem: self,
            _not_send: PhantomData,
        }
    }

    fn write_guard(&self) -> RwSemWriteGuard<'_, T> {
        misuse::acquired(self.raw.key());
        RwSemWriteGuard {
            sem: self,
            _not_send: PhantomData,
        }
    }

    /// Takes the lock for reading, sleeping while a writer holds it or waits for it
    /// (`down_read`).
    ///
    /// # Panics
    ///
    /// With misuse checks on (debug builds, or the `misuse-checks` feature): if the calling
    /// thread already holds this semaphore and would have to queue (a writer is waiting, or it
    /// holds the write lock), since that can only deadlock.
    #[inline]
    pub fn read(&self) -> RwSemReadGuard<'_, T> {
        match self.raw.read(WaitSpec::forever) {
            Ok(()) => self.read_guard(),
            Err(_) => unreachable!("an untimed, unkillable wait cannot abort"),
        }
    }

    /// Takes the lock for writing, sleeping while anyone holds it (`down_write`).
    ///
    /// # Panics
    ///
    /// With misuse checks on: if the calling thread already holds this semaphore in either
    /// mode, since that can only deadlock.
    #[inline]
    pub fn write(&self) -> RwSemWriteGuard<'_, T> {
        match self.raw.write(WaitSpec::forever) {
            Ok(()) => self.write_guard(),
            Err(_) => unreachable!("an untimed, unkillable wait cannot abort"),
        }
    }

    /// Takes the lock for reading if that needs no wait: no writer holds it and nobody waits
    /// (`down_read_trylock`). Never blocks and never passes queued waiters.
    #[inline]
    pub fn try_read(&self) -> Option<RwSemReadGuard<'_, T>> {
        self.raw.try_read().then(|| self.read_guard())
    }

    /// Takes the lock for writing if it is free and nobody waits (`down_write_trylock`).
    /// Never blocks and never passes queued waiters.
    #[inline]
    pub fn try_write(&self) -> Option<RwSemWriteGuard<'_, T>> {
        self.raw.try_write().then(|| self.write_guard())
    }

    /// Like [`read`](Self::read), giving up after `timeout`. A zero timeout still takes a lock
    /// that is available without waiting.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] if the lock was not granted in time; nothing of the attempt remains.
    ///
    /// # Panics
    ///
    /// As [`read`](Self::read).
    pub fn read_timeout(&self, timeout: Duration) -> Result<RwSemReadGuard<'_, T>, TimedOut> {
        match self.raw.read(|| WaitSpec::timeout(timeout)) {
            Ok(()) => Ok(self.read_guard()),
            Err(_) => Err(TimedOut),
        }
    }

    /// Like [`write`](Self::write), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] if the lock was not granted in time; nothing of the attempt remains.
    ///
    /// # Panics
    ///
    /// As [`write`](Self::write).
    pub fn write_timeout(&self, timeout: Duration) -> Result<RwSemWriteGuard<'_, T>, TimedOut> {
        match self.raw.write(|| WaitSpec::timeout(timeout)) {
            Ok(()) => Ok(self.write_guard()),
            Err(_) => Err(TimedOut),
        }
    }

    /// Like [`read`](Self::read), but a kill of the calling thread (see
    /// [`KillHandle`](crate::KillHandle)) aborts the wait (`down_read_killable`).
    ///
    /// As in the kernel, a lock available without waiting is taken even if a kill is pending;
    /// a wait with a kill pending fails at once.
    ///
    /// # Errors
    ///
    /// [`Killed`] if the thread's kill flag was raised before the lock was granted; nothing of
    /// the attempt remains. If the grant won the race with the kill, the call succeeds.
    ///
    /// # Panics
    ///
    /// As [`read`](Self::read).
    pub fn read_killable(&self) -> Result<RwSemReadGuard<'_, T>, Killed> {
        match self.raw.read(WaitSpec::killable) {
            Ok(()) => Ok(self.read_guard()),
            Err(_) => Err(Killed),
        }
    }

    /// Like [`write`](Self::write), but a kill of the calling thread aborts the wait
    /// (`down_write_killable`). Same rules as [`read_killable`](Self::read_killable).
    ///
    /// # Errors
    ///
    /// [`Killed`] if the thread's kill flag was raised before the lock was granted.
    ///
    /// # Panics
    ///
    /// As [`write`](Self::write).
    pub fn write_killable(&self) -> Result<RwSemWriteGuard<'_, T>, Killed> {
        match self.raw.write(WaitSpec::killable) {
            Ok(()) => Ok(self.write_guard()),
            Err(_) => Err(Killed),
        }
    }

    /// Returns the value mutably; no locking is needed since the borrow is exclusive.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Whether anyone holds the lock (`rwsem_is_locked`).
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Whether a writer holds the lock.
    pub fn is_write_locked(&self) -> bool {
        self.raw.is_write_locked()
    }

    /// Whether at least one thread is queued waiting for the lock (`rwsem_is_contended`).
    pub fn has_waiters(&self) -> bool {
        self.raw.has_waiters()
    }

    /// The number of read locks currently held: a snapshot, which may count for an instant a
    /// reader that is backing out of an attempt that found a writer holding or waiting for
    /// the lock (so may [`is_locked`](Self::is_locked)).
    pub fn reader_count(&self) -> usize {
        self.raw.reader_count()
    }

    /// The raw state machine, for in-crate tests.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn raw(&self) -> &RawRwSem {
        &self.raw
    }
}

impl<T: Default> Default for RwSem<T> {
    fn default() -> RwSem<T> {
        RwSem::new(T::default())
    }
}

impl<T> From<T> for RwSem<T> {
    fn from(value: T) -> RwSem<T> {
        RwSem::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwSem<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwSem");
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("readers", &self.reader_count())
            .field("write_locked", &self.is_write_locked())
            .field("has_waiters", &self.has_waiters())
            .finish()
    }
}

impl<'a, T: ?Sized> RwSemWriteGuard<'a, T> {
    /// Turns the write lock into a read lock atomically: no writer can take the lock in
    /// between, and readers queued at the front are let in with it (`downgrade_write`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rwsem::{RwSem, RwSemWriteGuard};
    ///
    /// let sem = RwSem::new(1);
    /// let mut w = sem.write();
    /// *w = 2;
    /// let r = RwSemWriteGuard::downgrade(w);
    /// assert_eq!(*r, 2);
    /// assert!(sem.try_read().is_some());
    /// assert!(sem.try_write().is_none());
    /// ```
    pub fn downgrade(this: Self) -> RwSemReadGuard<'a, T> {
        let this = ManuallyDrop::new(this);
        let sem = this.sem;
        // SAFETY: the guard proves we hold the write lock; `ManuallyDrop` keeps its drop from
        // releasing it, and the returned read guard takes over the resulting read lock. The
        // misuse entry keeps the same key and moves from one guard to the other.
        unsafe { sem.raw.downgrade() };
        RwSemReadGuard {
            sem,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwSemReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read lock, so no `&mut T` exists.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T: ?Sized> Deref for RwSemWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the write lock, so no other reference exists.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwSemWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the write lock, so no other reference exists.
        unsafe { &mut *self.sem.data.get() }
    }
}

impl<T: ?Sized> Drop for RwSemReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        misuse::released(self.sem.raw.key());
        // SAFETY: the guard holds a read lock and gives it up here.
        unsafe { self.sem.raw.unlock_read() };
    }
}

impl<T: ?Sized> Drop for RwSemWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        misuse::released(self.sem.raw.key());
        // SAFETY: the guard holds the write lock and gives it up here.
        unsafe { self.sem.raw.unlock_write() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwSemReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwSemWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwSemReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwSemWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
