//! The reader-writer locks the `rwsem` bench and the `read_mostly` example compare, behind one
//! interface so that every lock runs the same loop.
//!
//! ```
//! use netns_bench::locks::CounterLock;
//!
//! fn bump<L: CounterLock>() -> u64 {
//!     let lock = L::new();
//!     lock.write_add(2);
//!     lock.read_value()
//! }
//! assert_eq!(bump::<rwsem::RwSem<u64>>(), 2);
//! assert_eq!(bump::<std::sync::RwLock<u64>>(), 2);
//! assert_eq!(bump::<parking_lot::RwLock<u64>>(), 2);
//! ```

/// A `u64` behind a reader-writer lock: a read section loads it, a write section adds to it.
///
/// The methods are `#[inline]` so that a bench in another crate measures the lock and not a
/// call.
pub trait CounterLock: Sync {
    /// The name the figures are printed under.
    const NAME: &'static str;
    /// A lock holding zero.
    fn new() -> Self;
    /// The value, read under a read lock.
    fn read_value(&self) -> u64;
    /// Adds `v` under a write lock.
    fn write_add(&self, v: u64);
}

impl CounterLock for rwsem::RwSem<u64> {
    const NAME: &'static str = "rwsem";
    fn new() -> Self {
        rwsem::RwSem::new(0)
    }
    #[inline]
    fn read_value(&self) -> u64 {
        *self.read()
    }
    #[inline]
    fn write_add(&self, v: u64) {
        *self.write() += v;
    }
}

/// `std`'s lock: a poisoned lock panics (nothing in the benches panics while holding one).
impl CounterLock for std::sync::RwLock<u64> {
    const NAME: &'static str = "std";
    fn new() -> Self {
        std::sync::RwLock::new(0)
    }
    #[inline]
    fn read_value(&self) -> u64 {
        *self.read().expect("no bench panics holding the lock")
    }
    #[inline]
    fn write_add(&self, v: u64) {
        *self.write().expect("no bench panics holding the lock") += v;
    }
}

impl CounterLock for parking_lot::RwLock<u64> {
    const NAME: &'static str = "parking_lot";
    fn new() -> Self {
        parking_lot::RwLock::new(0)
    }
    #[inline]
    fn read_value(&self) -> u64 {
        *self.read()
    }
    #[inline]
    fn write_add(&self, v: u64) {
        *self.write() += v;
    }
}
