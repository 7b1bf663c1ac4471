//! Queue order: writer preference, reader batching and the hand-off.

use std::sync::{Barrier, mpsc};
use std::thread;
use std::time::Instant;

use super::{assert_clean, spawn_with_handle, spin_until, until_queued};
use crate::raw::HANDOFF_BOUND;
use crate::{RwSem, RwSemWriteGuard};

#[test]
fn writer_preference_a_queued_writer_goes_before_later_readers() {
    let sem = RwSem::new(Vec::new());
    let r0 = sem.read();
    thread::scope(|s| {
        let w = s.spawn(|| sem.write().push("writer"));
        until_queued(&sem, 1);
        // A reader arriving now may not join r0: it queues behind the writer.
        assert!(sem.try_read().is_none());
        let r = s.spawn(|| {
            let g = sem.read();
            assert_eq!(*g, ["writer"], "the reader got in before the queued writer");
        });
        until_queued(&sem, 2);
        assert_eq!(sem.reader_count(), 1);
        drop(r0);
        w.join().unwrap();
        r.join().unwrap();
    });
    assert_clean(&sem);
}

#[test]
fn a_release_grants_the_whole_run_of_front_readers() {
    const RUN: usize = 3;
    let sem = RwSem::new(0);
    let w = sem.write();
    let run_in = Barrier::new(RUN + 1);
    thread::scope(|s| {
        for i in 0..RUN {
            s.spawn(|| {
                let _g = sem.read();
                run_in.wait();
                run_in.wait();
            });
            until_queued(&sem, i + 1);
        }
        let writer = s.spawn(|| *sem.write() += 1);
        until_queued(&sem, RUN + 1);
        let late_reader = s.spawn(|| *sem.read());
        until_queued(&sem, RUN + 2);
        drop(w);
        // All three readers hold the lock together; the writer and the reader behind it wait.
        run_in.wait();
        assert_eq!(sem.raw().queue_len(), 2);
        assert!(!sem.is_write_locked());
        assert_eq!(sem.reader_count(), RUN);
        run_in.wait();
        writer.join().unwrap();
        assert_eq!(
            late_reader.join().unwrap(),
            1,
            "the late reader ran after the writer"
        );
    });
    assert_clean(&sem);
}

#[test]
fn release_of_a_writer_wakes_the_front_writer() {
    let sem = RwSem::new(0);
    let w = sem.write();
    thread::scope(|s| {
        let a = s.spawn(|| *sem.write() += 1);
        until_queued(&sem, 1);
        drop(w);
        a.join().unwrap();
    });
    assert_eq!(*sem.read(), 1);
    assert_clean(&sem);
}

#[test]
fn hand_off_after_the_bound_grants_the_front_writer_directly() {
    let sem = RwSem::new(0);
    let r = sem.read();
    thread::scope(|s| {
        // Keeps the writer inside its section until the test has looked at the lock (a
        // channel, not a barrier, so that a failing test releases the writer as it unwinds).
        let (checked, checked_rx) = mpsc::channel::<()>();
        let sem_ref = &sem;
        let (handle, writer) = spawn_with_handle(s, move || {
            let mut g = sem_ref.write();
            *g += 1;
            crate::clear_current_kill();
            let _ = checked_rx.recv();
        });
        until_queued(&sem, 1);
        let t0 = Instant::now();
        while t0.elapsed() < HANDOFF_BOUND * 2 {
            thread::yield_now();
        }
        // A kill wakes the (unkillable) writer: it re-checks at the front, finds the bound
        // passed and claims the hand-off.
        handle.kill();
        spin_until("hand-off claimed", || sem.raw().is_handoff_pending());
        // Nobody may take the lock now, and the release hands it over in the same step: the
        // lock is write-held the moment our read lock is gone.
        drop(r);
        assert!(
            sem.is_write_locked(),
            "the release did not hand the lock over"
        );
        assert!(!sem.raw().is_handoff_pending());
        drop(checked);
        writer.join().unwrap();
    });
    assert_clean(&sem);
}

#[test]
fn a_waiter_within_the_bound_does_not_claim_a_hand_off() {
    let sem = RwSem::new(0);
    let w = sem.write();
    thread::scope(|s| {
        let a = s.spawn(|| *sem.write() += 1);
        until_queued(&sem, 1);
        // A writer release wakes the front writer rather than handing over (the bound has not
        // passed unless this thread was descheduled for a millisecond, which we tolerate).
        let t0 = Instant::now();
        drop(w);
        if t0.elapsed() < HANDOFF_BOUND / 2 {
            assert!(!sem.raw().is_handoff_pending());
        }
        a.join().unwrap();
    });
    assert_clean(&sem);
}

#[test]
fn downgrade_with_a_pending_hand_off_keeps_it() {
    let sem = RwSem::new(0);
    let w = sem.write();
    thread::scope(|s| {
        let (checked, checked_rx) = mpsc::channel::<()>();
        let sem_ref = &sem;
        let (handle, writer) = spawn_with_handle(s, move || {
            let mut g = sem_ref.write();
            *g += 1;
            crate::clear_current_kill();
            let _ = checked_rx.recv();
        });
        until_queued(&sem, 1);
        let t0 = Instant::now();
        while t0.elapsed() < HANDOFF_BOUND * 2 {
            thread::yield_now();
        }
        handle.kill();
        spin_until("hand-off claimed", || sem.raw().is_handoff_pending());
        let r = RwSemWriteGuard::downgrade(w);
        assert!(sem.try_read().is_none());
        drop(r);
        assert!(sem.is_write_locked());
        drop(checked);
        writer.join().unwrap();
    });
    assert_clean(&sem);
}
