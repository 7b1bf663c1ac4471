//! The hand-written schedules of the seed corpus, one per known race.
//!
//! `cargo run -p fuzz-check --example write_seeds` writes them to `fuzz/seeds/<target>/<name>`
//! in their canonical encoding; the `corpus` test checks that the files on disk are exactly
//! these (so the corpus is reproducible) and replays every file in the folders, including
//! any added by hand or minimised from a crash.

use crate::rwsem_ops::Op as R;
use crate::rwsem_ops::model::Wait::{Killable, Plain, Timeout};
use crate::schedule::Schedule;

/// A named seed: the file name and its bytes.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The file name inside the target's folder.
    pub name: &'static str,
    /// The canonical encoding of the schedule.
    pub bytes: Vec<u8>,
}

pub(crate) fn seed<O: crate::schedule::OpCodec>(name: &'static str, s: Schedule<O>) -> Seed {
    Seed {
        name,
        bytes: s.to_bytes(),
    }
}

/// The seeds of every target, as `(target, seeds)`.
pub fn all() -> Vec<(&'static str, Vec<Seed>)> {
    vec![
        ("rwsem_ops", rwsem_ops()),
        ("rcu_ops", crate::rcu_ops::seeds::all()),
        ("pernet_ops", crate::pernet_ops::seeds::all()),
    ]
}

/// Seeds for `rwsem_ops`.
pub fn rwsem_ops() -> Vec<Seed> {
    vec![
        // A killed writer with a reader queued behind it while a writer holds: the reader stays
        // queued until the holder leaves, then runs.
        seed(
            "kill-writer-queued-behind-writer",
            Schedule::new(
                3,
                [
                    (0, R::Write(Plain)),
                    (1, R::Write(Killable)),
                    (2, R::Read(Plain)),
                    (1, R::Kill),
                    (0, R::Release),
                    (2, R::Release),
                    (1, R::ClearKill),
                    (1, R::Write(Killable)),
                ],
            ),
        ),
        // A killed writer at the front with readers holding: the readers queued behind it must
        // join the holders at once (the kernel's missing-wake bug).
        seed(
            "kill-front-writer-wakes-readers",
            Schedule::new(
                4,
                [
                    (0, R::Read(Plain)),
                    (1, R::Write(Killable)),
                    (2, R::Read(Plain)),
                    (3, R::Read(Killable)),
                    (1, R::Kill),
                    (0, R::Release),
                    (2, R::Release),
                    (3, R::Release),
                ],
            ),
        ),
        // Writer preference and try-locks that never pass waiters.
        seed(
            "writer-preference-and-trylocks",
            Schedule::new(
                3,
                [
                    (0, R::Read(Plain)),
                    (1, R::Write(Plain)),
                    (2, R::TryRead),
                    (2, R::TryWrite),
                    (2, R::Read(Plain)),
                    (0, R::Release),
                    (1, R::Downgrade),
                    (1, R::Release),
                    (2, R::Release),
                ],
            ),
        ),
        // FIFO grants with reader batching.
        seed(
            "fifo-reader-batch",
            Schedule::new(
                4,
                [
                    (0, R::Write(Plain)),
                    (1, R::Read(Plain)),
                    (2, R::Read(Killable)),
                    (3, R::Write(Plain)),
                    (0, R::Release),
                    (1, R::Release),
                    (2, R::Release),
                    (3, R::Release),
                ],
            ),
        ),
        // Timed waits that expire at the front and in the middle of the queue.
        seed(
            "timeouts-leave-no-trace",
            Schedule::new(
                3,
                [
                    (0, R::Write(Plain)),
                    (1, R::Read(Timeout)),
                    (2, R::Write(Timeout)),
                    (1, R::Read(Plain)),
                    (2, R::Write(Timeout)),
                    (2, R::Read(Timeout)),
                    (0, R::Release),
                    (2, R::Write(Timeout)),
                    (1, R::Release),
                ],
            ),
        ),
        // A pending kill fails only waits, not a lock available at once; clearing it restores
        // normal waits.
        seed(
            "kill-flag-before-the-wait",
            Schedule::new(
                2,
                [
                    (0, R::Kill),
                    (0, R::Write(Killable)),
                    (1, R::Kill),
                    (1, R::Read(Killable)),
                    (1, R::ClearKill),
                    (1, R::Read(Killable)),
                    (0, R::Downgrade),
                    (0, R::Release),
                    (1, R::Release),
                ],
            ),
        ),
        // A kill of a thread in an unkillable wait only wakes it; it must sleep again.
        seed(
            "kill-plain-waiter-is-spurious-wake",
            Schedule::new(
                2,
                [
                    (0, R::Write(Plain)),
                    (1, R::Read(Plain)),
                    (1, R::Kill),
                    (0, R::Release),
                    (1, R::Release),
                ],
            ),
        ),
        // Downgrade grants the front readers but no writer queued behind them.
        seed(
            "downgrade-wakes-readers-not-writers",
            Schedule::new(
                4,
                [
                    (0, R::Write(Plain)),
                    (1, R::Read(Plain)),
                    (2, R::Write(Killable)),
                    (3, R::Read(Plain)),
                    (0, R::Downgrade),
                    (0, R::Release),
                    (1, R::Release),
                    (2, R::Release),
                ],
            ),
        ),
    ]
}
