//! Misuse detection: waiting for a grace period from inside one's own read section.

use rcu::Domain;
use std::sync::mpsc::channel;

#[test]
#[should_panic(expected = "synchronize called inside a read section of the same domain")]
fn synchronize_inside_read_section_panics() {
    let d = Domain::new();
    let _g = d.read();
    d.synchronize();
}

#[test]
#[should_panic(expected = "synchronize_expedited called inside a read section of the same domain")]
fn synchronize_expedited_inside_read_section_panics() {
    let d = Domain::new();
    let _outer = d.read();
    let _inner = d.read();
    d.synchronize_expedited();
}

#[test]
#[should_panic(expected = "barrier called inside a read section of the same domain")]
fn barrier_inside_read_section_panics() {
    let d = Domain::new();
    let _g = d.read();
    d.barrier();
}

#[test]
#[should_panic(expected = "cond_synchronize called inside a read section of the same domain")]
fn cond_synchronize_inside_read_section_panics() {
    let d = Domain::new();
    let c = d.get_state();
    let _g = d.read();
    d.cond_synchronize(c);
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
