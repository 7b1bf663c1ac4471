//! The classic reader-writer lock suite.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use super::{assert_clean, until_queued};
use crate::{RwSem, RwSemWriteGuard};

#[test]
fn smoke() {
    let sem = RwSem::new(());
    drop(sem.read());
    drop(sem.write());
    drop((sem.read(), sem.read()));
    drop(sem.write());
    assert_clean(&sem);
}

#[test]
fn const_new_in_a_static() {
    static SEM: RwSem<usize> = RwSem::new(7);
    *SEM.write() += 1;
    assert_eq!(*SEM.read(), 8);
}

#[test]
fn many_readers_hold_the_lock_together() {
    const N: usize = 6;
    let sem = RwSem::new(5);
    // Each reader waits inside its section for all others: only shared holding lets it pass.
    let inside = Barrier::new(N);
    thread::scope(|s| {
        for _ in 0..N {
            s.spawn(|| {
                let g = sem.read();
                inside.wait();
                assert_eq!(*g, 5);
            });
        }
    });
    assert_clean(&sem);
}

#[test]
fn writers_and_readers_exclude() {
    const THREADS: usize = 4;
    const ITERS: usize = if cfg!(miri) { 20 } else { 2_000 };
    // The value is a pair that a writer keeps equal; a reader seeing them differ saw a writer.
    let sem = RwSem::new((0usize, 0usize));
    thread::scope(|s| {
        for t in 0..THREADS {
            let sem = &sem;
            s.spawn(move || {
                for i in 0..ITERS {
                    if (i + t) % 4 == 0 {
                        let mut g = sem.write();
                        g.0 += 1;
                        thread::yield_now();
                        g.1 += 1;
                    } else {
                        let g = sem.read();
                        assert_eq!(g.0, g.1);
                    }
                }
            });
        }
    });
    let (a, b) = sem.into_inner();
    assert_eq!(a, b);
    assert_eq!(a, THREADS * ITERS / 4);
}

#[test]
fn panic_while_holding_write_releases_without_poisoning() {
    let sem = Arc::new(RwSem::new(1));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut g = sem.write();
        *g = 2;
        panic!("boom");
    }));
    assert!(r.is_err());
    assert_eq!(*sem.read(), 2, "value kept, no poisoning");
    assert_clean(&sem);
}

#[test]
fn panic_while_holding_read_releases() {
    let sem = RwSem::new(1);
    let r = thread::scope(|s| {
        s.spawn(|| {
            let _g = sem.read();
            panic!("boom");
        })
        .join()
    });
    assert!(r.is_err());
    assert_clean(&sem);
}

#[test]
fn try_read_and_try_write_under_contention() {
    let sem = RwSem::new(0);
    let w = sem.write();
    assert!(sem.try_read().is_none());
    assert!(sem.try_write().is_none());
    drop(w);
    let r = sem.read();
    assert!(sem.try_read().is_some(), "readers share");
    assert!(sem.try_write().is_none());
    // With a writer queued behind the reader, neither try may pass it.
    thread::scope(|s| {
        s.spawn(|| drop(sem.write()));
        until_queued(&sem, 1);
        assert!(
            sem.try_read().is_none(),
            "try_read barged past a queued writer"
        );
        assert!(sem.try_write().is_none());
        drop(r);
    });
    assert_clean(&sem);
}

#[test]
fn into_inner_and_drop_run_the_destructor_once() {
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = AtomicUsize::new(0);
    let sem = RwSem::new(Counted(&drops));
    let inner = sem.into_inner();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(inner);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(RwSem::new(Counted(&drops)));
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn get_mut_and_unsized() {
    let mut sem = RwSem::new(vec![1]);
    sem.get_mut().push(2);
    assert_eq!(*sem.read(), [1, 2]);
    let boxed: Box<RwSem<[u8]>> = Box::new(RwSem::new([1, 2, 3]));
    boxed.write()[0] = 9;
    assert_eq!(&*boxed.read(), &[9, 2, 3]);
}

#[test]
fn downgrade_is_atomic() {
    // Writers add 1; the downgrading thread sets a marker and must still see it after the
    // downgrade: no writer may slip in between.
    const WRITERS: usize = 4;
    const ITERS: usize = 500;
    let sem = RwSem::new(0usize);
    thread::scope(|s| {
        for _ in 0..WRITERS {
            s.spawn(|| {
                for _ in 0..ITERS {
                    *sem.write() += 1;
                }
            });
        }
        for _ in 0..ITERS {
            let mut w = sem.write();
            *w += 1_000_000;
            let marker = *w;
            let r = RwSemWriteGuard::downgrade(w);
            thread::yield_now();
            assert_eq!(*r, marker);
        }
    });
    assert_eq!(sem.into_inner(), WRITERS * ITERS + ITERS * 1_000_000);
}

#[test]
fn downgrade_lets_queued_readers_in_but_no_writer() {
    let sem = RwSem::new(0);
    let w = sem.write();
    let both_in = Barrier::new(2);
    thread::scope(|s| {
        let reader = s.spawn(|| {
            let g = sem.read();
            both_in.wait();
            *g
        });
        until_queued(&sem, 1);
        let writer = s.spawn(|| *sem.write());
        until_queued(&sem, 2);
        let r = RwSemWriteGuard::downgrade(w);
        // The queued reader runs while we hold our read lock; the writer must not.
        both_in.wait();
        assert!(!sem.is_write_locked());
        assert_eq!(sem.raw().queue_len(), 1, "the writer stays queued");
        drop(r);
        assert_eq!(reader.join().unwrap(), 0);
        writer.join().unwrap();
    });
    assert_clean(&sem);
}

#[test]
fn debug_shows_value_or_locked() {
    let sem = RwSem::new(3);
    assert!(format!("{sem:?}").contains("data: 3"));
    let w = sem.write();
    assert!(format!("{sem:?}").contains("<locked>"));
    assert_eq!(format!("{w:?}"), "3");
}
