//! Logical threads as real OS threads, driven one command at a time.
//!
//! Each [`Worker`] owns an OS thread that waits for a command, runs it (possibly blocking in the
//! code under test) and replies. The driver sends one command, then [`settle`](Worker::settle)s:
//! either the reply arrives, or the thread is seen asleep (in a futex wait: a parked lock waiter
//! or grace-period waiter) and stays asleep, which is how "would block" is detected without
//! hooks inside the code under test. Every wait is bounded by [`BOUND`]: a thread that neither
//! replies nor sleeps within it, or a reply that never comes, is a finding (a panic naming the
//! thread and the command), never a hang.
//!
//! Sleep detection reads `/proc/self/task/TID/status`: the thread must be in state `S` at two
//! samples [`SAMPLE_GAP`] apart with no context switch in between. Linux only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest the driver waits for a thread to reply or fall asleep. Generous, because the
/// machine may be loaded; far below libFuzzer's `-timeout=10` so a hang is reported as the
/// finding it is rather than as a timeout.
pub const BOUND: Duration = Duration::from_secs(3);

/// The gap between the two samples that show a thread asleep. Lock hand-overs of the code under
/// test take microseconds; a thread that sleeps this long with no context switch is parked.
pub const SAMPLE_GAP: Duration = Duration::from_micros(300);

/// How a command ended, as far as the driver can see.
#[derive(Debug)]
pub enum Settled<R> {
    /// The command completed with this reply.
    Replied(R),
    /// The command is blocked: the thread sleeps inside it.
    Asleep,
}

/// The thread's side: receives commands and sends replies.
#[derive(Debug)]
pub struct Port<C, R> {
    rx: Receiver<C>,
    tx: Sender<R>,
    started: Arc<AtomicU64>,
}

impl<C, R> Port<C, R> {
    /// The next command, or `None` once the driver has gone.
    pub fn recv(&self) -> Option<C> {
        let cmd = self.rx.recv().ok()?;
        // SeqCst for simplicity: the driver only polls this counter.
        self.started.fetch_add(1, Ordering::SeqCst);
        Some(cmd)
    }

    /// Replies to the current command.
    pub fn reply(&self, reply: R) {
        // The driver may have given up on this thread (a finding); nothing to do then.
        let _ = self.tx.send(reply);
    }
}

/// The driver's side of one logical thread.
#[derive(Debug)]
pub struct Worker<C, R> {
    name: String,
    tx: Option<Sender<C>>,
    rx: Receiver<R>,
    started: Arc<AtomicU64>,
    sent: u64,
    pending: Option<String>,
    tid: libc::pid_t,
    handle: Option<JoinHandle<()>>,
}

impl<C: Send + 'static, R: Send + 'static> Worker<C, R> {
    /// Starts an OS thread named `name` running `body` with its [`Port`].
    pub fn spawn(name: &str, body: impl FnOnce(Port<C, R>) + Send + 'static) -> Self {
        let (cmd_tx, cmd_rx) = channel();
        let (reply_tx, reply_rx) = channel();
        let (tid_tx, tid_rx) = channel();
        let started = Arc::new(AtomicU64::new(0));
        let port = Port {
            rx: cmd_rx,
            tx: reply_tx,
            started: Arc::clone(&started),
        };
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                let _ = tid_tx.send(unsafe { libc::gettid() });
                body(port);
            })
            .expect("spawning a fuzz worker thread");
        let tid = tid_rx
            .recv_timeout(BOUND)
            .unwrap_or_else(|_| panic!("{name}: the thread did not start"));
        Worker {
            name: name.to_string(),
            tx: Some(cmd_tx),
            rx: reply_rx,
            started,
            sent: 0,
            pending: None,
            tid,
            handle: Some(handle),
        }
    }

    /// The thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a command is in flight (sent, not yet replied to).
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Sends a command; `what` names it in findings.
    ///
    /// # Panics
    ///
    /// If a command is already in flight (a driver bug).
    pub fn send(&mut self, cmd: C, what: impl Into<String>) {
        assert!(
            self.pending.is_none(),
            "{}: command sent while another is in flight",
            self.name
        );
        self.tx
            .as_ref()
            .expect("the command channel is open until drop")
            .send(cmd)
            .unwrap_or_else(|_| panic!("{}: the thread has died", self.name));
        self.sent += 1;
        self.pending = Some(what.into());
    }

    /// The reply, if it has arrived.
    ///
    /// # Panics
    ///
    /// If the thread died (a panic in the code under test or in a check on the thread).
    pub fn poll(&mut self) -> Option<R> {
        match self.rx.try_recv() {
            Ok(r) => {
                self.pending = None;
                Some(r)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => panic!(
                "{}: the thread died during {:?} (see its panic above)",
                self.name, self.pending
            ),
        }
    }

    /// Waits for the reply to the command in flight.
    ///
    /// # Panics
    ///
    /// If it does not come within [`BOUND`] (a lost wake-up or a hang), or the thread died.
    pub fn wait(&mut self) -> R {
        match self.rx.recv_timeout(BOUND) {
            Ok(r) => {
                self.pending = None;
                r
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "{}: {} did not complete within {:?}: a lost wake-up or a hang",
                self.name,
                self.pending.as_deref().unwrap_or("?"),
                BOUND
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "{}: the thread died during {:?} (see its panic above)",
                self.name, self.pending
            ),
        }
    }

    /// Waits until the command in flight has either replied or is asleep inside the code under
    /// test.
    ///
    /// # Panics
    ///
    /// If neither happens within [`BOUND`] (a livelock or a spin that never parks), or the
    /// thread died.
    pub fn settle(&mut self) -> Settled<R> {
        let deadline = Instant::now() + BOUND;
        // First make sure the thread has taken the command: before that it sleeps in `recv`.
        while self.started.load(Ordering::SeqCst) < self.sent {
            if let Some(r) = self.poll() {
                return Settled::Replied(r);
            }
            assert!(
                Instant::now() < deadline,
                "{}: the thread did not start {:?} within {BOUND:?}",
                self.name,
                self.pending
            );
            std::thread::yield_now();
        }
        loop {
            if let Some(r) = self.poll() {
                return Settled::Replied(r);
            }
            if asleep(self.tid) {
                // It may have replied just before falling asleep in `recv`.
                if let Some(r) = self.poll() {
                    return Settled::Replied(r);
                }
                return Settled::Asleep;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {} neither completed nor slept within {BOUND:?}: a livelock",
                self.name,
                self.pending.as_deref().unwrap_or("?")
            );
            std::thread::yield_now();
        }
    }

    /// Like [`settle`](Self::settle), for a command that must block: checks that the thread is
    /// (still) asleep.
    ///
    /// # Panics
    ///
    /// If it replied: the reply is formatted into the message with `describe`.
    pub fn expect_asleep(&mut self, describe: impl FnOnce(R) -> String) {
        if let Settled::Replied(r) = self.settle() {
            panic!(
                "{}: {} should still be blocked but returned {}",
                self.name,
                self.pending.as_deref().unwrap_or("the command"),
                describe(r)
            );
        }
    }
}

impl<C, R> Drop for Worker<C, R> {
    fn drop(&mut self) {
        // Closing the command channel ends the thread's loop.
        self.tx = None;
        if let Some(handle) = self.handle.take() {
            // A thread still blocked in the code under test cannot be joined: it is left behind
            // (only after a finding, since a clean run drains every wait first).
            if self.pending.is_none() {
                let _ = handle.join();
            }
        }
    }
}

/// Whether the thread `tid` of this process sleeps and stays asleep across [`SAMPLE_GAP`].
fn asleep(tid: libc::pid_t) -> bool {
    let Some(first) = sample(tid) else {
        return false;
    };
    if first.0 != 'S' {
        return false;
    }
    std::thread::sleep(SAMPLE_GAP);
    sample(tid) == Some(first)
}

/// The thread's scheduler state letter and its total context switches.
fn sample(tid: libc::pid_t) -> Option<(char, u64)> {
    let path = format!("/proc/self/task/{tid}/status");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {path} (the drivers need Linux /proc): {e}"));
    let mut state = None;
    let mut switches = 0u64;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("State:") {
            state = rest.trim().chars().next();
        } else if let Some(rest) = line
            .strip_prefix("voluntary_ctxt_switches:")
            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        {
            switches += rest.trim().parse::<u64>().ok()?;
        }
    }
    Some((state?, switches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

    #[test]
    fn a_blocked_command_is_seen_asleep_and_a_quick_one_replies() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let g = Arc::clone(&gate);
        let mut w: Worker<bool, u32> = Worker::spawn("w0", move |port| {
            while let Some(block) = port.recv() {
                if block {
                    let (m, cv) = &*g;
                    let mut open = m.lock().unwrap();
                    while !*open {
                        open = cv.wait(open).unwrap();
                    }
                }
                port.reply(7);
            }
        });
        w.send(false, "quick");
        assert!(matches!(w.settle(), Settled::Replied(7)));
        w.send(true, "blocking");
        assert!(matches!(w.settle(), Settled::Asleep));
        w.expect_asleep(|r| r.to_string());
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        assert_eq!(w.wait(), 7);
    }

    #[test]
    #[should_panic(expected = "should still be blocked")]
    fn a_command_that_returns_when_it_should_block_is_a_finding() {
        let mut w: Worker<(), ()> = Worker::spawn("w1", |port| {
            while port.recv().is_some() {
                port.reply(());
            }
        });
        w.send((), "op");
        w.expect_asleep(|()| "()".to_string());
    }
}
