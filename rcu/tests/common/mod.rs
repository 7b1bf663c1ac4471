//! Helpers shared by the functional tests.
#![allow(dead_code)]

use rcu::{Domain, StallReport};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// A domain whose stall hook reports every stall (after 1 ms) on the returned channel, so a
/// test can learn, without sleeping, that a grace period is waiting on readers.
pub fn watched(fences: bool) -> (Domain, Receiver<StallReport>) {
    let (tx, rx) = channel();
    let tx = std::sync::Mutex::new(tx);
    let d = Domain::builder()
        .name("watched")
        .force_fence_fallback(fences)
        .on_stall(Duration::from_millis(1), move |r| {
            let _ = tx.lock().unwrap().send(r.clone());
        })
        .build();
    (d, rx)
}

/// Spawns a named thread that enters a read section of `d`, reports it, and leaves when told.
pub fn hold_reader(
    d: &Domain,
    name: &str,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (entered_tx, entered_rx) = channel();
    let (leave_tx, leave_rx) = channel::<()>();
    let d = d.clone();
    let h = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let g = d.read();
            entered_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            drop(g);
        })
        .unwrap();
    entered_rx.recv().unwrap();
    (leave_tx, h)
}

/// How long a test waits for a stall report that must come (within a millisecond or so when
/// the code is right); a generous bound so that broken code fails instead of hanging.
pub const STALL_DEADLINE: Duration = Duration::from_secs(20);

/// Waits until a stall report naming `thread` arrives.
pub fn wait_stall_naming(rx: &Receiver<StallReport>, thread: &str) -> StallReport {
    loop {
        let r = rx
            .recv_timeout(STALL_DEADLINE)
            .expect("no stall report: the grace period did not wait for the reader");
        if r.readers
            .iter()
            .any(|t| t.thread_name.as_deref() == Some(thread))
        {
            return r;
        }
    }
}

/// A negative check: nothing arrives on `rx` within a short window. Used only to show that
/// something is still blocked; a broken implementation fails it at once.
pub fn stays_quiet<T>(rx: &Receiver<T>) -> bool {
    rx.recv_timeout(Duration::from_millis(30)).is_err()
}
