//! Misuse detection: a clear panic instead of a self-deadlock.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread;

use super::{assert_clean, until_queued};
use crate::RwSem;

fn panic_message(r: std::thread::Result<()>) -> String {
    let e = r.expect_err("expected a misuse panic");
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        e.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default()
    }
}

#[test]
fn write_while_holding_read_panics() {
    if !crate::misuse::ENABLED {
        return;
    }
    let sem = RwSem::new(0);
    let msg = panic_message(catch_unwind(AssertUnwindSafe(|| {
        let _r = sem.read();
        drop(sem.write());
    })));
    assert!(msg.contains("would deadlock"), "{msg}");
    assert_clean(&sem);
}

#[test]
fn write_while_holding_write_panics() {
    if !crate::misuse::ENABLED {
        return;
    }
    let sem = RwSem::new(0);
    let msg = panic_message(catch_unwind(AssertUnwindSafe(|| {
        let _w = sem.write();
        let _ = sem.write_killable();
    })));
    assert!(msg.contains("already holds"), "{msg}");
    assert_clean(&sem);
}

#[test]
fn read_while_holding_write_panics() {
    if !crate::misuse::ENABLED {
        return;
    }
    let sem = RwSem::new(0);
    let msg = panic_message(catch_unwind(AssertUnwindSafe(|| {
        let _w = sem.write();
        drop(sem.read());
    })));
    assert!(msg.contains("would deadlock"), "{msg}");
    assert_clean(&sem);
}

#[test]
fn recursive_read_while_a_writer_waits_panics() {
    if !crate::misuse::ENABLED {
        return;
    }
    let sem = RwSem::new(0);
    thread::scope(|s| {
        let r = sem.read();
        // Recursive reads are fine while no writer waits.
        drop(sem.read());
        let w = s.spawn(|| drop(sem.write()));
        until_queued(&sem, 1);
        let msg = panic_message(catch_unwind(AssertUnwindSafe(|| drop(sem.read()))));
        assert!(msg.contains("recursive read"), "{msg}");
        assert_eq!(
            sem.raw().queue_len(),
            1,
            "the failed read left a node behind"
        );
        drop(r);
        w.join().unwrap();
    });
    assert_clean(&sem);
}

#[test]
fn try_calls_never_panic_on_a_held_lock() {
    let sem = RwSem::new(0);
    let r = sem.read();
    assert!(sem.try_write().is_none());
    assert!(sem.try_read().is_some());
    drop(r);
    let w = sem.write();
    assert!(sem.try_read().is_none());
    drop(w);
    assert_clean(&sem);
}

#[test]
fn other_locks_are_not_confused() {
    let a = RwSem::new(0);
    let b = RwSem::new(0);
    let _ra = a.read();
    drop(b.write());
    let _wb = b.write();
    drop(a.read());
}
