//! `rwsem_ops`: schedules of lock operations on one [`RwSem`], run on real threads and checked
//! against [`model::Model`] after every step.
//!
//! Each logical thread is an OS thread ([`crate::harness`]). A step sends one operation to its
//! thread; an acquisition the model says must wait is expected to leave the thread asleep (and
//! [`RwSem::has_waiters`] set), any other operation to return with the model's outcome. After
//! every step the driver checks every queued thread is still asleep, that the threads a release,
//! downgrade or kill let in were granted, and the semaphore's observers (`is_locked`,
//! `is_write_locked`, `has_waiters`, `reader_count`). The protected value independently checks
//! exclusion: a reader never sees a writer inside, a writer never sees anyone.
//!
//! Steps that do not apply (a lock request from a thread that holds or waits, a release from a
//! thread that holds nothing) are skipped: the driver moves on. At the end every hold is
//! released until the queue drains, and the semaphore must be free.
//!
//! TODO(#7): lock stealing and the hand-off bound need a writer arriving while a woken writer
//! has not yet taken the lock; the step-by-step driver settles every grant before the next
//! step, so that window is left to the loom models and the locktorture harness.

pub mod model;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::time::Duration;

use rwsem::{KillHandle, RwSem, RwSemReadGuard, RwSemWriteGuard};

use crate::harness::{BOUND, Port, Worker};
use crate::schedule::{OpCodec, Schedule, pick};
use model::{Expect, Kind, Model, Wait};

/// The timeout of the timed waits: they expire, since nothing else runs while they wait.
const TIMEOUT: Duration = Duration::from_millis(1);

/// One operation of a logical thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `read`, `read_killable` or `read_timeout`.
    Read(Wait),
    /// `write`, `write_killable` or `write_timeout`.
    Write(Wait),
    /// `try_read`.
    TryRead,
    /// `try_write`.
    TryWrite,
    /// Drop the thread's guard.
    Release,
    /// `RwSemWriteGuard::downgrade`.
    Downgrade,
    /// Raise the thread's kill flag (from the driver, through its `KillHandle`).
    Kill,
    /// Lower the thread's kill flag.
    ClearKill,
}

const WAITS: [Wait; 3] = [Wait::Plain, Wait::Killable, Wait::Timeout];

impl OpCodec for Op {
    fn decode(opcode: u8, arg: u8) -> Self {
        let wait = WAITS[pick(arg, WAITS.len())];
        match pick(opcode, 8) {
            0 => Op::Read(wait),
            1 => Op::Write(wait),
            2 => Op::TryRead,
            3 => Op::TryWrite,
            4 => Op::Release,
            5 => Op::Downgrade,
            6 => Op::Kill,
            _ => Op::ClearKill,
        }
    }

    fn encode(&self) -> (u8, u8) {
        let wait = |w: &Wait| WAITS.iter().position(|x| x == w).expect("listed") as u8;
        match self {
            Op::Read(w) => (0, wait(w)),
            Op::Write(w) => (1, wait(w)),
            Op::TryRead => (2, 0),
            Op::TryWrite => (3, 0),
            Op::Release => (4, 0),
            Op::Downgrade => (5, 0),
            Op::Kill => (6, 0),
            Op::ClearKill => (7, 0),
        }
    }
}

/// The value under the lock: who is inside, as seen by the holders themselves.
#[derive(Debug, Default)]
struct Inside {
    /// The writing thread plus one, or 0.
    writer: AtomicUsize,
    /// Read holders.
    readers: AtomicUsize,
}

/// A command for a worker thread.
#[derive(Debug)]
enum Cmd {
    Acquire(Kind, Wait),
    Try(Kind),
    Release,
    Downgrade,
}

/// A worker's reply: the outcome and, if the holder saw a broken exclusion, what it saw.
#[derive(Debug)]
struct Reply {
    outcome: Expect,
    violation: Option<String>,
}

enum Held<'a> {
    None,
    Read(RwSemReadGuard<'a, Inside>),
    Write(RwSemWriteGuard<'a, Inside>),
}

/// Runs the schedule encoded in `data` (the fuzz target's entry point).
pub fn run_bytes(data: &[u8]) {
    run(&Schedule::from_bytes(data));
}

/// Runs `schedule`, panicking with a description of the first divergence from the model.
pub fn run(schedule: &Schedule<Op>) {
    let sem = Arc::new(RwSem::new(Inside::default()));
    let mut driver = Driver::new(schedule.threads, &sem);
    for (i, step) in schedule.steps.iter().enumerate() {
        driver.step(i, step.thread, step.op);
        driver.check(&format!(
            "after step {i} ({:?} on t{})",
            step.op, step.thread
        ));
    }
    driver.drain();
    driver.check("after the drain");
    assert!(
        !sem.is_locked() && !sem.has_waiters(),
        "the semaphore is not free at the end"
    );
}

struct Driver {
    sem: Arc<RwSem<Inside>>,
    model: Model,
    workers: Vec<Worker<Cmd, Reply>>,
    kills: Vec<KillHandle>,
}

impl Driver {
    fn new(threads: usize, sem: &Arc<RwSem<Inside>>) -> Self {
        let mut workers = Vec::new();
        let mut kills = Vec::new();
        for t in 0..threads {
            let (kill_tx, kill_rx) = channel();
            let sem = Arc::clone(sem);
            workers.push(Worker::spawn(&format!("rwsem-t{t}"), move |port| {
                let _ = kill_tx.send(KillHandle::current());
                serve(t, &sem, &port);
            }));
            kills.push(kill_rx.recv_timeout(BOUND).expect("kill handle"));
        }
        Driver {
            sem: Arc::clone(sem),
            model: Model::new(threads),
            workers,
            kills,
        }
    }

    fn step(&mut self, i: usize, t: usize, op: Op) {
        let idle = !self.workers[t].is_pending();
        let hold = self.model.hold(t);
        let what = format!("step {i}: t{t} {op:?}");
        match op {
            Op::Read(w) | Op::Write(w) if idle && hold.is_none() => {
                let kind = if matches!(op, Op::Read(_)) {
                    Kind::Read
                } else {
                    Kind::Write
                };
                let expect = self.model.acquire(t, kind, w);
                self.workers[t].send(Cmd::Acquire(kind, w), what);
                if expect == Expect::Blocked {
                    self.workers[t].expect_asleep(|r| format!("{r:?}"));
                } else {
                    self.expect(t, expect);
                }
            }
            Op::TryRead | Op::TryWrite if idle && hold.is_none() => {
                let kind = if op == Op::TryRead {
                    Kind::Read
                } else {
                    Kind::Write
                };
                let expect = self.model.try_acquire(t, kind);
                self.workers[t].send(Cmd::Try(kind), what);
                self.expect(t, expect);
            }
            Op::Release if idle && hold.is_some() => {
                self.workers[t].send(Cmd::Release, what);
                let granted = self.model.release(t);
                self.expect(t, Expect::Granted);
                self.expect_granted(&granted);
            }
            Op::Downgrade if idle && hold == Some(Kind::Write) => {
                self.workers[t].send(Cmd::Downgrade, what);
                let granted = self.model.downgrade(t);
                self.expect(t, Expect::Granted);
                self.expect_granted(&granted);
            }
            Op::Kill => {
                let (aborted, granted) = self.model.kill(t);
                self.kills[t].kill();
                if aborted {
                    self.expect(t, Expect::Killed);
                }
                self.expect_granted(&granted);
            }
            Op::ClearKill => {
                self.model.clear_kill(t);
                self.kills[t].clear();
            }
            // The step does not apply to the thread's state: move on.
            _ => {}
        }
    }

    /// Waits for thread `t`'s reply and compares it with the model's outcome.
    fn expect(&mut self, t: usize, expect: Expect) {
        let name = self.workers[t].name().to_string();
        let reply = self.workers[t].wait();
        if let Some(v) = reply.violation {
            panic!("{name}: exclusion broken: {v}");
        }
        assert_eq!(
            reply.outcome, expect,
            "{name}: outcome differs from the model"
        );
    }

    fn expect_granted(&mut self, granted: &[usize]) {
        for &g in granted {
            self.expect(g, Expect::Granted);
        }
    }

    /// Every queued thread still sleeps; the observers agree with the model.
    fn check(&mut self, when: &str) {
        let queued: Vec<usize> = self.model.queued().collect();
        for t in queued {
            self.workers[t].expect_asleep(|r| format!("{r:?} {when}"));
        }
        let m = &self.model;
        let s = &self.sem;
        assert_eq!(s.is_locked(), m.locked(), "is_locked {when}: {m:?}");
        assert_eq!(
            s.is_write_locked(),
            m.write_locked(),
            "is_write_locked {when}: {m:?}"
        );
        assert_eq!(
            s.has_waiters(),
            m.has_waiters(),
            "has_waiters {when}: {m:?}"
        );
        assert_eq!(s.reader_count(), m.readers(), "reader_count {when}: {m:?}");
    }

    /// Releases every hold, round after round, until nobody holds or waits.
    fn drain(&mut self) {
        for round in 0.. {
            let holders: Vec<usize> = (0..self.workers.len())
                .filter(|&t| self.model.hold(t).is_some())
                .collect();
            if holders.is_empty() {
                break;
            }
            assert!(
                round <= self.workers.len(),
                "the drain does not converge: {:?}",
                self.model
            );
            for t in holders {
                self.step(usize::MAX, t, Op::Release);
                self.check(&format!("draining t{t}"));
            }
        }
        assert!(
            !self.model.has_waiters(),
            "model: waiters with the lock free"
        );
    }
}

/// A worker thread's loop: runs commands against `sem`, reporting what the holders see.
fn serve(t: usize, sem: &RwSem<Inside>, port: &Port<Cmd, Reply>) {
    let mut held = Held::None;
    while let Some(cmd) = port.recv() {
        let mut violation = None;
        let outcome = match cmd {
            Cmd::Acquire(kind, wait) => {
                let got = match (kind, wait) {
                    (Kind::Read, Wait::Plain) => Ok(Held::Read(sem.read())),
                    (Kind::Read, Wait::Killable) => sem
                        .read_killable()
                        .map(Held::Read)
                        .map_err(|_| Expect::Killed),
                    (Kind::Read, Wait::Timeout) => sem
                        .read_timeout(TIMEOUT)
                        .map(Held::Read)
                        .map_err(|_| Expect::TimedOut),
                    (Kind::Write, Wait::Plain) => Ok(Held::Write(sem.write())),
                    (Kind::Write, Wait::Killable) => sem
                        .write_killable()
                        .map(Held::Write)
                        .map_err(|_| Expect::Killed),
                    (Kind::Write, Wait::Timeout) => sem
                        .write_timeout(TIMEOUT)
                        .map(Held::Write)
                        .map_err(|_| Expect::TimedOut),
                };
                match got {
                    Ok(h) => {
                        violation = enter(t, &h);
                        held = h;
                        Expect::Granted
                    }
                    Err(e) => e,
                }
            }
            Cmd::Try(kind) => {
                let got = match kind {
                    Kind::Read => sem.try_read().map(Held::Read),
                    Kind::Write => sem.try_write().map(Held::Write),
                };
                match got {
                    Some(h) => {
                        violation = enter(t, &h);
                        held = h;
                        Expect::Granted
                    }
                    None => Expect::Busy,
                }
            }
            Cmd::Release => {
                leave(&held);
                held = Held::None;
                Expect::Granted
            }
            Cmd::Downgrade => {
                held = match std::mem::replace(&mut held, Held::None) {
                    Held::Write(g) => {
                        g.readers.fetch_add(1, Ordering::SeqCst);
                        g.writer.store(0, Ordering::SeqCst);
                        Held::Read(RwSemWriteGuard::downgrade(g))
                    }
                    other => other,
                };
                Expect::Granted
            }
        };
        port.reply(Reply { outcome, violation });
    }
}

/// Records that thread `t` got in; returns what was wrong about who else was inside.
fn enter(t: usize, held: &Held<'_>) -> Option<String> {
    match held {
        Held::None => None,
        Held::Read(g) => {
            g.readers.fetch_add(1, Ordering::SeqCst);
            match g.writer.load(Ordering::SeqCst) {
                0 => None,
                w => Some(format!("reader t{t} got in while t{} writes", w - 1)),
            }
        }
        Held::Write(g) => {
            let (w, r) = (
                g.writer.load(Ordering::SeqCst),
                g.readers.load(Ordering::SeqCst),
            );
            g.writer.store(t + 1, Ordering::SeqCst);
            (w != 0 || r != 0)
                .then(|| format!("writer t{t} got in with writer {w} and {r} readers"))
        }
    }
}

/// Records that the holder of `held` leaves.
fn leave(held: &Held<'_>) {
    match held {
        Held::None => {}
        Held::Read(g) => {
            g.readers.fetch_sub(1, Ordering::SeqCst);
        }
        Held::Write(g) => g.writer.store(0, Ordering::SeqCst),
    }
}
