//! Seeds for `rcu_ops`: the grace-period races the kernel's rcutorture aims at.

use super::Op as C;
use crate::schedule::Schedule;
use crate::seeds::{Seed, seed};

/// The `rcu_ops` seeds.
pub fn all() -> Vec<Seed> {
    vec![
        // A reader that began before a grace period holds it; one that began after does not
        // have to.
        seed(
            "reader-holds-grace-period",
            Schedule::new(
                3,
                [
                    (0, C::Read),
                    (1, C::Synchronize { expedited: false }),
                    (2, C::Read),
                    (0, C::Unlock),
                    (2, C::Unlock),
                    (1, C::Synchronize { expedited: true }),
                ],
            ),
        ),
        // Nested sections, an owned section ended on another thread, expedited waits.
        seed(
            "nested-and-owned-sections",
            Schedule::new(
                3,
                [
                    (0, C::Read),
                    (0, C::Read),
                    (1, C::ReadOwned),
                    (2, C::Synchronize { expedited: true }),
                    (0, C::Unlock),
                    (2, C::UnlockOwned(0)),
                    (0, C::Unlock),
                ],
            ),
        ),
        // Callbacks and deferred drops wait for the readers before them; barrier waits for
        // every earlier callback.
        seed(
            "callbacks-and-barrier",
            Schedule::new(
                3,
                [
                    (0, C::Read),
                    (1, C::Call),
                    (1, C::DeferDrop),
                    (2, C::Barrier),
                    (1, C::Call),
                    (0, C::Unlock),
                    (1, C::Barrier),
                ],
            ),
        ),
        // Cookies: not done while a reader from before them runs, done after a full grace
        // period, start_poll completes on its own.
        seed(
            "cookies",
            Schedule::new(
                3,
                [
                    (0, C::Read),
                    (1, C::Cookie { start: false }),
                    (1, C::Cookie { start: true }),
                    (2, C::Poll(0)),
                    (2, C::CondSynchronize(0)),
                    (0, C::Unlock),
                    (1, C::Poll(0)),
                    (1, C::Poll(1)),
                    (0, C::Synchronize { expedited: false }),
                    (2, C::Poll(1)),
                ],
            ),
        ),
        // RcuCell: readers see the latest value; the old one is freed only after the readers
        // that could see it; swap_synchronize waits for them.
        seed(
            "cell-replace-and-swap",
            Schedule::new(
                3,
                [
                    (0, C::Read),
                    (0, C::CellRead),
                    (1, C::CellReplace),
                    (0, C::CellRead),
                    (2, C::CellSwap),
                    (1, C::CellRead),
                    (0, C::Unlock),
                    (1, C::CellRead),
                ],
            ),
        ),
        // RcuList: walks see the model's elements; removed nodes outlive the walkers.
        seed(
            "list-push-remove-walk",
            Schedule::new(
                2,
                [
                    (0, C::ListPush),
                    (0, C::ListPush),
                    (1, C::Read),
                    (1, C::ListIter),
                    (0, C::ListRemove(0)),
                    (1, C::ListIter),
                    (0, C::ListPush),
                    (0, C::ListIter),
                    (1, C::Unlock),
                    (0, C::ListRemove(1)),
                    (0, C::Barrier),
                ],
            ),
        ),
    ]
}
