//! Readers versus grace periods: who holds `synchronize` back and who does not.

mod common;

use common::{hold_reader, stays_quiet, wait_stall_naming, watched};
use rcu::Domain;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::thread;

fn reader_before_synchronize_holds_it_back(fences: bool) {
    let (d, stalls) = watched(fences);
    assert_eq!(d.uses_membarrier(), !fences && d.uses_membarrier());
    let (leave, reader) = hold_reader(&d, "old-reader");
    let (done_tx, done_rx) = channel();
    let d2 = d.clone();
    let sync = thread::spawn(move || {
        d2.synchronize();
        done_tx.send(()).unwrap();
    });
    let report = wait_stall_naming(&stalls, "old-reader");
    assert_eq!(report.domain.as_deref(), Some("watched"));
    assert!(
        done_rx.try_recv().is_err(),
        "synchronize returned while an older reader was inside"
    );
    leave.send(()).unwrap();
    reader.join().unwrap();
    done_rx.recv().unwrap();
    sync.join().unwrap();
}

#[test]
fn reader_before_synchronize_holds_it_back_membarrier() {
    reader_before_synchronize_holds_it_back(false);
}

#[test]
fn reader_before_synchronize_holds_it_back_fence_fallback() {
    reader_before_synchronize_holds_it_back(true);
}

#[test]
fn forced_fence_fallback_is_reported() {
    let d = Domain::builder().force_fence_fallback(true).build();
    assert!(!d.uses_membarrier());
    let g = d.read();
    drop(g);
    d.synchronize();
}

#[test]
fn reader_after_synchronize_started_does_not_hold_it() {
    let (d, stalls) = watched(false);
    let (leave_old, old) = hold_reader(&d, "old");
    let d2 = d.clone();
    let sync = thread::spawn(move || d2.synchronize());
    wait_stall_naming(&stalls, "old");
    // The grace period is running: a reader that starts now must not hold it back.
    let (leave_new, new) = hold_reader(&d, "new");
    leave_old.send(()).unwrap();
    old.join().unwrap();
    sync.join().unwrap();
    leave_new.send(()).unwrap();
    new.join().unwrap();
}

#[test]
fn nested_sections_hold_until_the_outermost_ends() {
    let (d, stalls) = watched(false);
    let (inner_done_tx, inner_done_rx) = channel();
    let (leave_tx, leave_rx) = channel::<()>();
    let d2 = d.clone();
    let reader = thread::Builder::new()
        .name("nester".into())
        .spawn(move || {
            let outer = d2.read();
            let inner = d2.read();
            assert!(d2.in_read_section());
            drop(inner);
            assert!(d2.in_read_section());
            inner_done_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            drop(outer);
            assert!(!d2.in_read_section());
        })
        .unwrap();
    inner_done_rx.recv().unwrap();
    let (done_tx, done_rx) = channel();
    let d3 = d.clone();
    let sync = thread::spawn(move || {
        d3.synchronize();
        done_tx.send(()).unwrap();
    });
    wait_stall_naming(&stalls, "nester");
    assert!(done_rx.try_recv().is_err());
    leave_tx.send(()).unwrap();
    reader.join().unwrap();
    done_rx.recv().unwrap();
    sync.join().unwrap();
}

#[test]
fn sleeping_reader_is_waited_for() {
    let d = Domain::new();
    let finished = Arc::new(AtomicBool::new(false));
    let (entered_tx, entered_rx) = channel();
    let (d2, f2) = (d.clone(), finished.clone());
    let reader = thread::spawn(move || {
        let g = d2.read();
        entered_tx.send(()).unwrap();
        thread::sleep(std::time::Duration::from_millis(20));
        f2.store(true, Ordering::Relaxed);
        drop(g);
    });
    entered_rx.recv().unwrap();
    d.synchronize();
    assert!(
        finished.load(Ordering::Relaxed),
        "synchronize returned before the sleeping reader left"
    );
    reader.join().unwrap();
}

#[test]
fn expedited_waits_for_readers_too() {
    let (d, stalls) = watched(false);
    let (leave, reader) = hold_reader(&d, "r");
    let (done_tx, done_rx) = channel();
    let d2 = d.clone();
    let sync = thread::spawn(move || {
        d2.synchronize_expedited();
        done_tx.send(()).unwrap();
    });
    wait_stall_naming(&stalls, "r");
    assert!(done_rx.try_recv().is_err());
    leave.send(()).unwrap();
    reader.join().unwrap();
    sync.join().unwrap();
}

#[test]
fn owned_guard_moves_to_another_thread_and_holds_grace_periods() {
    let (d, stalls) = watched(false);
    let guard = d.read_owned();
    let (done_tx, done_rx) = channel();
    let d2 = d.clone();
    let sync = thread::spawn(move || {
        d2.synchronize();
        done_tx.send(()).unwrap();
    });
    let report = loop {
        let r = stalls
            .recv_timeout(common::STALL_DEADLINE)
            .expect("no stall report");
        if r.owned_sections > 0 {
            break r;
        }
    };
    assert_eq!(report.owned_sections, 1);
    assert!(report.readers.is_empty());
    assert!(stays_quiet(&done_rx));
    // End the section on another thread (srcu_up_read from elsewhere).
    thread::spawn(move || drop(guard)).join().unwrap();
    done_rx.recv().unwrap();
    sync.join().unwrap();
}

#[test]
fn concurrent_synchronizers_share_grace_periods() {
    let (d, stalls) = watched(false);
    let (leave, reader) = hold_reader(&d, "blocker");
    let before = d.stats().grace_periods;
    let callers: Vec<_> = (0..6)
        .map(|_| {
            let d = d.clone();
            thread::spawn(move || d.synchronize())
        })
        .collect();
    wait_stall_naming(&stalls, "blocker");
    while d.__gp_waiters() < 6 {
        thread::yield_now();
    }
    leave.send(()).unwrap();
    reader.join().unwrap();
    for c in callers {
        c.join().unwrap();
    }
    let used = d.stats().grace_periods - before;
    assert!(
        (1..=2).contains(&used),
        "6 concurrent callers used {used} grace periods"
    );
}

#[test]
fn synchronize_without_readers_returns() {
    let d = Domain::new();
    for _ in 0..100 {
        d.synchronize();
    }
    assert_eq!(d.stats().grace_periods, 100);
    let _g = d.read_owned();
    let other = Domain::new();
    // A reader of one domain does not hold back another domain.
    let _r = d.read();
    other.synchronize();
}

#[test]
fn default_domain_free_functions() {
    let g = rcu::read();
    assert!(rcu::default_domain().in_read_section());
    drop(g);
    rcu::synchronize();
    rcu::synchronize_expedited();
    let (tx, rx) = channel();
    rcu::call(move || tx.send(7).unwrap());
    rcu::defer_drop(vec![1, 2, 3]);
    rcu::barrier();
    assert_eq!(rx.try_recv(), Ok(7));
    assert_eq!(rcu::default_domain().name(), Some("default"));
    drop(rcu::read_owned());
}

#[test]
fn thread_exit_releases_its_record() {
    let d = Domain::new();
    {
        let _g = d.read();
    }
    for _ in 0..20 {
        let d2 = d.clone();
        thread::spawn(move || {
            let _g = d2.read();
        })
        .join()
        .unwrap();
    }
    // The main thread and one recycled record for the short-lived threads.
    assert_eq!(d.__reader_records(), 2);
    d.synchronize();
}

#[test]
fn domain_ids_are_recycled_safely() {
    for _ in 0..50 {
        let d = Domain::new();
        let g = d.read();
        drop(g);
        d.synchronize();
        drop(d);
    }
    let d = Domain::new();
    let _g = d.read();
    assert!(d.in_read_section());
}

#[test]
fn read_during_thread_local_destruction_uses_a_transient_record() {
    struct ReadsOnDrop(Domain, std::sync::mpsc::Sender<bool>);
    impl Drop for ReadsOnDrop {
        fn drop(&mut self) {
            let g = self.0.read();
            let inside = self.0.in_read_section();
            drop(g);
            let _ = self.1.send(inside);
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<ReadsOnDrop>> = const { std::cell::RefCell::new(None) };
    }
    let d = Domain::new();
    let (tx, rx) = channel();
    let d2 = d.clone();
    thread::spawn(move || {
        // Registered before the crate's own thread-locals, so destroyed after them.
        LATE.with(|l| *l.borrow_mut() = Some(ReadsOnDrop(d2.clone(), tx)));
        drop(d2.read());
    })
    .join()
    .unwrap();
    // Whether or not the crate's locals were already gone, the section worked.
    rx.recv().unwrap();
    d.synchronize();
    assert!(d.__reader_records() <= 2);
}
