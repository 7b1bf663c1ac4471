//! Killable and timed waits: before the wait, during it, racing a grant, and the successor
//! wake-ups of the abort path.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use super::{assert_clean, spawn_with_handle, until_queued};
use crate::{KillHandle, Killed, RwSem, TimedOut, clear_current_kill};

#[test]
fn kill_before_the_wait_fails_at_once_and_stays_raised() {
    let sem = RwSem::new(0);
    let w = sem.write();
    thread::scope(|s| {
        s.spawn(|| {
            KillHandle::current().kill();
            assert_eq!(sem.read_killable().err(), Some(Killed));
            assert_eq!(sem.write_killable().err(), Some(Killed));
            // Still raised: a later wait fails too, until cleared.
            assert_eq!(sem.read_killable().err(), Some(Killed));
            assert!(KillHandle::current().is_killed());
            clear_current_kill();
            assert!(!KillHandle::current().is_killed());
            assert_eq!(sem.try_read().map(|_| ()), None);
        });
    });
    assert!(!sem.has_waiters(), "a killed wait left a trace");
    drop(w);
    assert_clean(&sem);
}

#[test]
fn kill_pending_does_not_fail_an_uncontended_acquisition() {
    // As in the kernel, only a wait is killable: a free lock is taken.
    let sem = RwSem::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            KillHandle::current().kill();
            assert!(sem.read_killable().is_ok());
            assert!(sem.write_killable().is_ok());
            clear_current_kill();
        });
    });
    assert_clean(&sem);
}

#[test]
fn kill_during_a_write_wait() {
    let sem = RwSem::new(0);
    let r = sem.read();
    thread::scope(|s| {
        let (handle, join) = spawn_with_handle(s, || sem.write_killable().map(|_| ()));
        until_queued(&sem, 1);
        handle.kill();
        assert_eq!(join.join().unwrap(), Err(Killed));
        assert!(!sem.has_waiters());
        assert_eq!(sem.reader_count(), 1);
    });
    drop(r);
    assert_clean(&sem);
}

#[test]
fn kill_during_a_read_wait() {
    let sem = RwSem::new(0);
    let w = sem.write();
    thread::scope(|s| {
        let (handle, join) = spawn_with_handle(s, || sem.read_killable().map(|_| ()));
        until_queued(&sem, 1);
        handle.kill();
        assert_eq!(join.join().unwrap(), Err(Killed));
        assert!(!sem.has_waiters());
        assert!(sem.is_write_locked());
    });
    drop(w);
    assert_clean(&sem);
}

#[test]
fn a_kill_does_not_abort_an_unkillable_wait() {
    let sem = RwSem::new(0);
    let w = sem.write();
    thread::scope(|s| {
        let (handle, join) = spawn_with_handle(s, || {
            let v = *sem.read();
            clear_current_kill();
            v
        });
        until_queued(&sem, 1);
        handle.kill();
        // The waiter wakes, sees it is not killable and sleeps again, still queued.
        until_queued(&sem, 1);
        drop(w);
        assert_eq!(join.join().unwrap(), 0);
    });
    assert_clean(&sem);
}

#[test]
fn readers_behind_a_killed_writer_get_the_lock() {
    let sem = RwSem::new(0);
    let r0 = sem.read();
    let reader_in = Barrier::new(2);
    thread::scope(|s| {
        let (writer, wjoin) = spawn_with_handle(s, || sem.write_killable().map(|_| ()));
        until_queued(&sem, 1);
        let rjoin = s.spawn(|| {
            let _g = sem.read();
            reader_in.wait();
            reader_in.wait();
        });
        until_queued(&sem, 2);
        writer.kill();
        assert_eq!(wjoin.join().unwrap(), Err(Killed));
        // The reader must get in while r0 is still held: nobody else would wake it.
        reader_in.wait();
        assert_eq!(sem.reader_count(), 2);
        reader_in.wait();
        rjoin.join().unwrap();
    });
    drop(r0);
    assert_clean(&sem);
}

#[test]
fn killing_a_middle_waiter_keeps_the_queue_order() {
    let sem = RwSem::new(Vec::new());
    let w = sem.write();
    thread::scope(|s| {
        let a = s.spawn(|| sem.write().push('a'));
        until_queued(&sem, 1);
        let (b, bjoin) = spawn_with_handle(s, || sem.write_killable().map(|mut g| g.push('b')));
        until_queued(&sem, 2);
        let c = s.spawn(|| sem.write().push('c'));
        until_queued(&sem, 3);
        b.kill();
        assert_eq!(bjoin.join().unwrap(), Err(Killed));
        assert_eq!(sem.raw().queue_len(), 2);
        assert!(
            sem.is_write_locked(),
            "aborting a middle waiter must not release anything"
        );
        drop(w);
        a.join().unwrap();
        c.join().unwrap();
    });
    assert_eq!(sem.into_inner(), ['a', 'c']);
}

/// Runs `rounds` races between a release that grants the waiter and an abort of the wait.
/// The release comes `delay(round)` after the waiter is seen queued (or gone, for a timed wait
/// that expired first).
fn race_grant_against_abort(
    rounds: usize,
    reader: bool,
    abort: impl Fn(&KillHandle) + Sync,
    wait: impl Fn(&RwSem<usize>, bool) -> bool + Sync,
    delay: impl Fn(usize) -> Duration,
) -> (usize, usize) {
    let (mut won, mut aborted) = (0, 0);
    for round in 0..rounds {
        let sem = RwSem::new(0usize);
        let w = sem.write();
        let go = Barrier::new(2);
        let got = thread::scope(|s| {
            let (handle, join) = spawn_with_handle(s, || wait(&sem, reader));
            while sem.raw().queue_len() == 0 && !join.is_finished() {
                thread::yield_now();
            }
            let (go, abort) = (&go, &abort);
            s.spawn(move || {
                go.wait();
                abort(&handle);
            });
            go.wait();
            let t0 = Instant::now();
            let delay = delay(round);
            while t0.elapsed() < delay {
                std::hint::spin_loop();
            }
            drop(w);
            join.join().unwrap()
        });
        if got {
            won += 1
        } else {
            aborted += 1
        }
        // Either outcome, the semaphore ends as if the waiter was granted and released, or
        // never came.
        assert_clean(&sem);
        assert_eq!(sem.into_inner(), usize::from(got));
    }
    (won, aborted)
}

#[test]
fn kill_racing_a_grant() {
    for reader in [false, true] {
        let (won, aborted) = race_grant_against_abort(
            100,
            reader,
            |handle| handle.kill(),
            |sem, reader| {
                let got = if reader {
                    sem.read_killable().is_ok()
                } else {
                    sem.write_killable().is_ok()
                };
                if got {
                    // Record the success: the caller checks the value against the outcome.
                    *sem.write() += 1;
                }
                got
            },
            |_| Duration::ZERO,
        );
        assert_eq!(won + aborted, 100);
    }
}

#[test]
fn timeout_racing_a_grant() {
    for reader in [false, true] {
        let (won, aborted) = race_grant_against_abort(
            50,
            reader,
            |_| {},
            |sem, reader| {
                let d = Duration::from_millis(1);
                let got = if reader {
                    sem.read_timeout(d).is_ok()
                } else {
                    sem.write_timeout(d).is_ok()
                };
                if got {
                    *sem.write() += 1;
                }
                got
            },
            // Releases spread around the deadline.
            |round| Duration::from_micros(100 * (round % 15) as u64),
        );
        assert_eq!(won + aborted, 50);
    }
}

#[test]
fn timeouts_expire_and_leave_no_trace() {
    let sem = RwSem::new(0);
    let w = sem.write();
    thread::scope(|s| {
        s.spawn(|| {
            let t0 = Instant::now();
            assert_eq!(
                sem.read_timeout(Duration::from_millis(5)).err(),
                Some(TimedOut)
            );
            assert_eq!(
                sem.write_timeout(Duration::from_millis(5)).err(),
                Some(TimedOut)
            );
            assert!(t0.elapsed() >= Duration::from_millis(10));
            assert_eq!(sem.write_timeout(Duration::ZERO).err(), Some(TimedOut));
        });
    });
    assert!(!sem.has_waiters());
    drop(w);
    assert!(sem.read_timeout(Duration::ZERO).is_ok());
    assert!(sem.write_timeout(Duration::MAX).is_ok());
    assert_clean(&sem);
}

#[test]
fn kill_handle_is_send_sync_debug_and_clonable() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<KillHandle>();
    let h = KillHandle::current();
    assert!(!h.is_killed());
    let h2 = h.clone();
    h2.kill();
    assert!(h.is_killed());
    assert!(format!("{h:?}").contains("killed: true"));
    h.clear();
    assert!(!h2.is_killed());
}
