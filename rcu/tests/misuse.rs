//! Misuse detection: waiting for a grace period from inside one's own read section.
//!
//! Each misuse runs on its own thread; the test expects that thread to panic with the right
//! message within a generous deadline, so a missing check fails the test (the misuse would
//! otherwise deadlock) instead of hanging it.

use rcu::Domain;
use std::sync::mpsc::channel;
use std::time::Duration;

/// Runs `f` on a new thread and returns its panic message; fails if it does not panic.
fn panic_message(f: impl FnOnce() + Send + 'static) -> String {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let msg = r.err().map(|e| match e.downcast::<String>() {
            Ok(s) => *s,
            Err(e) => e
                .downcast_ref::<&str>()
                .map_or_else(String::new, |s| s.to_string()),
        });
        let _ = tx.send(msg);
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the misuse was not detected: the call deadlocked")
        .expect("the misuse was not detected: the call returned")
}

#[test]
fn synchronize_inside_read_section_panics() {
    let msg = panic_message(|| {
        let d = Domain::new();
        let _g = d.read();
        d.synchronize();
    });
    assert!(
        msg.contains("synchronize called inside a read section of the same domain"),
        "{msg}"
    );
}

#[test]
fn synchronize_expedited_inside_nested_read_section_panics() {
    let msg = panic_message(|| {
        let d = Domain::new();
        let _outer = d.read();
        let _inner = d.read();
        d.synchronize_expedited();
    });
    assert!(
        msg.contains("synchronize_expedited called inside a read section of the same domain"),
        "{msg}"
    );
}

#[test]
fn barrier_inside_read_section_panics() {
    let msg = panic_message(|| {
        let d = Domain::new();
        d.call(|| {});
        let _g = d.read();
        d.barrier();
    });
    assert!(
        msg.contains("barrier called inside a read section of the same domain"),
        "{msg}"
    );
}

#[test]
fn cond_synchronize_inside_read_section_panics() {
    let msg = panic_message(|| {
        let d = Domain::new();
        let c = d.get_state();
        let _g = d.read();
        d.cond_synchronize(c);
    });
    assert!(
        msg.contains("cond_synchronize called inside a read section of the same domain"),
        "{msg}"
    );
}

#[test]
fn cell_swap_synchronize_inside_read_section_panics() {
    let msg = panic_message(|| {
        let d = Domain::new();
        let cell = rcu::RcuCell::new(&d, 1);
        let _g = d.read();
        let _ = cell.swap_synchronize(2);
    });
    assert!(
        msg.contains("synchronize called inside a read section"),
        "{msg}"
    );
}

#[test]
fn other_domains_may_synchronize_inside_a_read_section() {
    let a = Domain::new();
    let b = Domain::new();
    let _g = a.read();
    b.synchronize();
    b.barrier();
}

#[test]
fn synchronize_after_the_section_ends_is_fine() {
    let d = Domain::new();
    let g = d.read();
    drop(g);
    d.synchronize();
    assert!(!d.in_read_section());
}

#[test]
fn barrier_inside_a_callback_panics_with_a_clear_message() {
    let d = Domain::new();
    let (tx, rx) = channel();
    let d2 = d.clone();
    d.call(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d2.barrier()));
        let msg = r.err().and_then(|e| match e.downcast::<String>() {
            Ok(s) => Some(*s),
            Err(e) => e.downcast_ref::<&str>().map(|s| s.to_string()),
        });
        tx.send(msg).unwrap();
    });
    let msg = rx
        .recv()
        .unwrap()
        .expect("barrier in a callback did not panic");
    assert!(
        msg.contains("barrier called from a callback of the same domain"),
        "{msg}"
    );
    d.barrier();
}

#[test]
fn synchronize_inside_a_callback_is_allowed() {
    let d = Domain::new();
    let (tx, rx) = channel();
    let d2 = d.clone();
    d.call(move || {
        d2.synchronize();
        tx.send(()).unwrap();
    });
    rx.recv().unwrap();
}
