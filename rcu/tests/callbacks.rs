//! Deferred work: `call`, `defer_drop`, `barrier`, the callback bound and polled cookies.

mod common;

use common::{hold_reader, stays_quiet, wait_stall_naming, watched};
use rcu::{Domain, Overflow};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::thread;

#[test]
fn callbacks_run_exactly_once_and_barrier_waits_for_them() {
    let d = Domain::new();
    const THREADS: usize = 4;
    const PER: usize = 500;
    let counters: Arc<Vec<AtomicUsize>> =
        Arc::new((0..THREADS * PER).map(|_| AtomicUsize::new(0)).collect());
    let callers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (d, counters) = (d.clone(), counters.clone());
            thread::spawn(move || {
                for i in 0..PER {
                    let c = counters.clone();
                    d.call(move || {
                        c[t * PER + i].fetch_add(1, Ordering::Relaxed);
                    });
                }
                // Each caller's barrier covers its own callbacks.
                d.barrier();
                for i in 0..PER {
                    assert_eq!(counters[t * PER + i].load(Ordering::Relaxed), 1);
                }
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
    d.barrier();
    assert!(counters.iter().all(|c| c.load(Ordering::Relaxed) == 1));
    let s = d.stats();
    assert_eq!(s.callbacks_queued, (THREADS * PER) as u64);
    assert_eq!(s.callbacks_run, (THREADS * PER) as u64);
    // Batching: far fewer grace periods than callbacks.
    assert!(s.callback_batches < s.callbacks_run, "{s:?}");
}

#[test]
fn callback_waits_for_a_grace_period() {
    let (d, stalls) = watched(false);
    let (leave, reader) = hold_reader(&d, "pinning");
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    d.call(move || r2.store(true, Ordering::SeqCst));
    wait_stall_naming(&stalls, "pinning");
    assert!(
        !ran.load(Ordering::SeqCst),
        "callback ran while an older reader was inside"
    );
    leave.send(()).unwrap();
    reader.join().unwrap();
    d.barrier();
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn barrier_waits_for_callbacks_blocked_by_a_reader() {
    let (d, stalls) = watched(false);
    let (leave, reader) = hold_reader(&d, "pin");
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let c = count.clone();
        d.call(move || {
            c.fetch_add(1, Ordering::SeqCst);
        });
    }
    let (done_tx, done_rx) = channel();
    let d2 = d.clone();
    let b = thread::spawn(move || {
        d2.barrier();
        done_tx.send(()).unwrap();
    });
    wait_stall_naming(&stalls, "pin");
    assert!(done_rx.try_recv().is_err());
    leave.send(()).unwrap();
    reader.join().unwrap();
    done_rx.recv().unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 10);
    b.join().unwrap();
}

#[test]
fn barrier_with_nothing_queued_returns() {
    let d = Domain::new();
    d.barrier();
    assert_eq!(d.stats().callbacks_queued, 0);
}

struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn defer_drop_drops_once_after_a_grace_period() {
    let d = Domain::new();
    let drops = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        d.defer_drop(DropCount(drops.clone()));
    }
    d.barrier();
    assert_eq!(drops.load(Ordering::SeqCst), 100);
}

#[test]
fn dropping_the_domain_runs_every_queued_callback() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = Domain::new();
    for _ in 0..50 {
        d.defer_drop(DropCount(drops.clone()));
    }
    drop(d);
    assert_eq!(drops.load(Ordering::SeqCst), 50);
}

#[test]
fn callback_may_drop_the_last_handle() {
    let d = Domain::new();
    let (tx, rx) = channel();
    let d2 = d.clone();
    drop(d);
    let d3 = d2.clone();
    d2.call(move || {
        drop(d3);
        tx.send(()).unwrap();
    });
    drop(d2);
    rx.recv().unwrap();
}

#[test]
fn panicking_callback_is_counted_and_others_run() {
    let d = Domain::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    d.call(|| panic!("callback failure on purpose"));
    d.call(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    d.barrier();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(d.stats().callback_panics, 1);
}

#[test]
fn cookies_poll_and_cond_synchronize() {
    let d = Domain::new();
    let c = d.get_state();
    assert!(!d.poll(c), "a fresh cookie cannot be reached yet");
    d.synchronize();
    assert!(d.poll(c));
    // cond_synchronize on a reached cookie returns at once without a grace period.
    let gps = d.stats().grace_periods;
    d.cond_synchronize(c);
    assert_eq!(d.stats().grace_periods, gps);
    let c2 = d.get_state();
    d.cond_synchronize(c2);
    assert!(d.poll(c2));
    assert_eq!(d.stats().grace_periods, gps + 1);
    assert_eq!(c2, c2);
    assert_ne!(c, c2);
}

#[test]
fn start_poll_drives_a_grace_period_without_waiting() {
    let (d, stalls) = watched(false);
    let (leave, reader) = hold_reader(&d, "poller-pin");
    let c = d.start_poll();
    wait_stall_naming(&stalls, "poller-pin");
    assert!(
        !d.poll(c),
        "cookie reached while an older reader was inside"
    );
    leave.send(()).unwrap();
    reader.join().unwrap();
    while !d.poll(c) {
        thread::yield_now();
    }
}

#[test]
fn get_state_starts_nothing() {
    let d = Domain::new();
    let c = d.get_state();
    d.barrier();
    assert!(!d.poll(c));
    assert_eq!(d.stats().grace_periods, 0);
}

#[test]
#[should_panic(expected = "cookie used with a domain other than the one that issued it")]
fn cookie_of_another_domain_panics() {
    let a = Domain::new();
    let b = Domain::new();
    let _ = b.poll(a.get_state());
}

#[test]
fn bound_blocks_callers_under_the_block_policy() {
    let (tx, stalls) = channel();
    let tx = std::sync::Mutex::new(tx);
    let d = Domain::builder()
        .callback_bound(4)
        .overflow(Overflow::Block)
        .on_stall(std::time::Duration::from_millis(1), move |r| {
            let _ = tx.lock().unwrap().send(r.clone());
        })
        .build();
    let (leave, reader) = hold_reader(&d, "bound-pin");
    let (progress_tx, progress_rx) = channel();
    let d2 = d.clone();
    let caller = thread::spawn(move || {
        for i in 0..6 {
            d2.call(|| {});
            progress_tx.send(i).unwrap();
        }
    });
    for i in 0..4 {
        assert_eq!(progress_rx.recv().unwrap(), i);
    }
    wait_stall_naming(&stalls, "bound-pin");
    assert!(
        stays_quiet(&progress_rx),
        "call went past the bound without blocking"
    );
    leave.send(()).unwrap();
    reader.join().unwrap();
    assert_eq!(progress_rx.recv().unwrap(), 4);
    assert_eq!(progress_rx.recv().unwrap(), 5);
    caller.join().unwrap();
    d.barrier();
    assert_eq!(d.stats().callbacks_run, 6);
}

#[test]
fn bound_makes_callers_help_under_the_help_policy() {
    let d = Domain::builder()
        .callback_bound(8)
        .overflow(Overflow::Help)
        .build();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..10_000 {
        let r = ran.clone();
        d.call(move || {
            r.fetch_add(1, Ordering::Relaxed);
        });
        let s = d.stats();
        assert!(
            s.callbacks_queued - s.callbacks_run <= 9,
            "queue grew past its bound: {s:?}"
        );
    }
    d.barrier();
    assert_eq!(ran.load(Ordering::Relaxed), 10_000);
}

#[test]
fn caller_inside_a_read_section_queues_past_the_bound() {
    let d = Domain::builder()
        .callback_bound(2)
        .overflow(Overflow::Block)
        .build();
    let g = d.read();
    for _ in 0..5 {
        d.call(|| {});
    }
    let s = d.stats();
    drop(g);
    d.barrier();
    assert!(s.over_bound >= 1, "{s:?}");
    assert_eq!(d.stats().callbacks_run, 5);
}
