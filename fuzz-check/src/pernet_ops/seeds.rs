//! Seeds for `pernet_ops`: the races the kernel has had around `pernet_ops_rwsem`.

use super::Op as P;
use crate::schedule::Schedule;
use crate::seeds::{Seed, seed};

/// `Gate` argument: slot `slot`, phase 0 (`init`), 1 (`pre_exit`) or 2 (`exit`).
const fn gate(slot: u8, phase: u8) -> P {
    P::Gate(slot | phase << 2)
}

const fn reg(slot: u8, device: bool, fail_nth: u8, panic: bool) -> P {
    P::Register {
        slot,
        device,
        fail_nth,
        panic,
    }
}

const fn unreg(slot: u8) -> P {
    P::Unregister {
        slot,
        wrong_kind: false,
    }
}

/// The `pernet_ops` seeds.
pub fn all() -> Vec<Seed> {
    vec![
        // Init and exit order across subsys and device ops, a whole lifecycle alone.
        seed(
            "lifecycle-subsys-and-device-order",
            Schedule::new(
                1,
                [
                    (0, reg(0, true, 0, false)),
                    (0, reg(1, false, 0, false)),
                    (0, reg(2, false, 0, false)),
                    (0, P::Copy),
                    (0, P::Copy),
                    (0, P::Generic(0)),
                    (0, P::Generic(5)),
                    (0, P::Drop(0)),
                    (0, P::Cleanup),
                    (0, unreg(1)),
                    (0, P::Drop(0)),
                    (0, P::Cleanup),
                ],
            ),
        ),
        // Registration while a namespace is mid-setup: the creator stops inside an init, the
        // registration waits for the write lock, a second creator queues behind it.
        seed(
            "register-while-net-mid-setup",
            Schedule::new(
                3,
                [
                    (0, reg(0, false, 0, false)),
                    (0, gate(0, 0)),
                    (0, P::Copy),
                    (1, reg(1, true, 0, false)),
                    (2, P::Copy),
                    (0, P::Open),
                    (0, P::Drop(0)),
                    (0, P::Cleanup),
                ],
            ),
        ),
        // Registration while a namespace is mid-teardown: cleanup_net stops in a pre_exit, a
        // registration and a creator wait; the dying net is still listed and must not be
        // initialised by the new ops after its exits.
        seed(
            "register-while-net-mid-teardown",
            Schedule::new(
                3,
                [
                    (0, reg(0, false, 0, false)),
                    (0, P::Copy),
                    (0, P::Copy),
                    (0, P::Drop(0)),
                    (0, gate(0, 1)),
                    (1, P::Cleanup),
                    (2, reg(1, false, 0, false)),
                    (0, P::Copy),
                    (0, P::Open),
                    (0, P::Generic(1)),
                ],
            ),
        ),
        // Lookup by id of a dying namespace: the id stays until cleanup, but resolves to
        // nothing once the count is zero; a new id is never given to a dying peer.
        seed(
            "lookup-by-id-of-dying-net",
            Schedule::new(
                2,
                [
                    (0, P::Copy),
                    (0, P::Copy),
                    (0, P::Copy),
                    (0, P::IdAlloc(0x10)),
                    (0, P::IdAlloc(0x20)),
                    (0, P::Drop(1)),
                    (0, P::ById(0x00)),
                    (0, P::ById(0x10)),
                    (0, P::IdAlloc(0x10)),
                    (0, P::MaybeGet(1)),
                    (1, P::Cleanup),
                    (0, P::IdAlloc(0x20)),
                    (0, P::ById(0x00)),
                    (0, P::IdAlloc(0x30)),
                ],
            ),
        ),
        // Init failure on the k-th namespace during registration (rollback of the earlier
        // ones), and during a later setup (rollback of the earlier ops), and a panicking init.
        seed(
            "init-failure-on-kth-net",
            Schedule::new(
                1,
                [
                    (0, reg(0, false, 0, false)),
                    (0, P::Copy),
                    (0, P::Copy),
                    (0, P::Copy),
                    (0, reg(1, false, 3, false)),
                    (0, reg(2, true, 4, false)),
                    (0, P::Copy),
                    (0, reg(3, true, 2, true)),
                    (0, P::Copy),
                    (0, P::Copy),
                    (0, P::Drop(0)),
                    (0, P::Cleanup),
                ],
            ),
        ),
        // A creator killed while queued behind a registration: EINTR, nothing leaked, and the
        // creator queued behind it still runs.
        seed(
            "kill-creator-queued-behind-writer",
            Schedule::new(
                4,
                [
                    (0, reg(0, false, 0, false)),
                    (0, P::Copy),
                    (0, gate(1, 0)),
                    (1, reg(1, false, 0, false)),
                    (2, P::Copy),
                    (3, P::Copy),
                    (2, P::Kill),
                    (0, P::Open),
                    (2, P::ClearKill),
                    (2, P::Copy),
                ],
            ),
        ),
        // Misuse: double registration, wrong-kind and repeated unregistration, a barrier
        // against a running cleanup.
        seed(
            "misuse-and-barrier",
            Schedule::new(
                2,
                [
                    (0, reg(0, false, 0, false)),
                    (0, reg(0, false, 0, false)),
                    (
                        0,
                        P::Unregister {
                            slot: 0,
                            wrong_kind: true,
                        },
                    ),
                    (0, P::Copy),
                    (0, P::Drop(0)),
                    (0, gate(0, 2)),
                    (0, P::Cleanup),
                    (1, P::Barrier),
                    (1, P::Open),
                    (0, unreg(0)),
                    (0, unreg(0)),
                ],
            ),
        ),
    ]
}
