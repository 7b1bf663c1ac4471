//! The thread-safety shape of the public types, checked at compile time.

use rcu::{Cookie, Domain, ListEntry, OwnedReadGuard, RcuCell, RcuList, ReadGuard, Stats};
use static_assertions::{assert_impl_all, assert_not_impl_any};

assert_impl_all!(Domain: Clone, Send, Sync, std::fmt::Debug, Default);
assert_impl_all!(Cookie: Clone, Copy, Send, Sync, std::fmt::Debug, PartialEq, Eq);
assert_impl_all!(OwnedReadGuard: Send, Sync, std::fmt::Debug);
assert_not_impl_any!(ReadGuard<'static>: Send, Sync);
assert_impl_all!(RcuCell<String>: Send, Sync);
assert_impl_all!(RcuList<String>: Send, Sync);
assert_impl_all!(ListEntry<String>: Send, Sync);
assert_impl_all!(Stats: Copy, std::fmt::Debug, PartialEq);

#[test]
fn read_guard_is_one_pointer_wide() {
    assert_eq!(
        std::mem::size_of::<ReadGuard<'static>>(),
        std::mem::size_of::<usize>()
    );
}
