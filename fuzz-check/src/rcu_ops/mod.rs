//! `rcu_ops`: schedules of read sections, grace periods, callbacks, cookies and RCU structures
//! on one [`Domain`], run on real threads and checked after every step.
//!
//! A grace period of SRCU may legitimately wait for some readers that began after it (each
//! grace period flips the phase twice), so the model does not predict exactly when a waiter
//! returns. It checks what must hold whatever the timing:
//!
//! - **Safety**: `synchronize`, `synchronize_expedited`, `cond_synchronize` and
//!   `swap_synchronize` never return while a section that began before them is active; no
//!   callback runs and no retired value ([`RcuCell::replace`], [`RcuList::remove`],
//!   [`Domain::defer_drop`]) is freed while a section that began before its retirement is
//!   active; every callback and every value runs or drops exactly once; `barrier` returns only
//!   after every earlier callback ran; a cookie polls done only once the sections active when it
//!   was taken have ended, and it polls done after any full grace period that began after it.
//! - **Liveness**: once no section is active, every waiting call returns within the bound, and
//!   every `start_poll` cookie completes.
//! - **Contents**: readers see the latest published cell value and exactly the list elements
//!   the model holds, in order.
//!
//! A waiting call that may legitimately still wait is settled: it has returned or sleeps.
//!
//! TODO(#7): the callback bound and its overflow policies, the stall hook and the default
//! domain are not in the schedule alphabet.

pub mod seeds;
mod thread;
pub mod tracker;

use std::sync::Arc;
use std::time::Instant;

use rcu::{Cookie, Domain, ListEntry, OwnedReadGuard, RcuCell, RcuList};

use crate::harness::{BOUND, Settled, Worker};
use crate::schedule::{OpCodec, Schedule, pick};
use thread::{Cmd, Reply, serve};
use tracker::{Snapshot, Tracked, Tracker};

/// The deepest a thread nests read sections.
const MAX_DEPTH: usize = 4;

/// One operation of a logical thread. Indices pick among the live owned guards, cookies or
/// list entries, modulo their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Enter a (nested) read section.
    Read,
    /// Leave the innermost read section.
    Unlock,
    /// Enter an owned read section (`read_owned`), which any thread may end.
    ReadOwned,
    /// End an owned read section on this thread (`srcu_up_read` elsewhere).
    UnlockOwned(u8),
    /// `synchronize` or `synchronize_expedited`.
    Synchronize {
        /// Use the expedited variant.
        expedited: bool,
    },
    /// `call` with a checking callback.
    Call,
    /// `defer_drop` of a tracked value.
    DeferDrop,
    /// `barrier`.
    Barrier,
    /// `get_state` or `start_poll`.
    Cookie {
        /// Use `start_poll`.
        start: bool,
    },
    /// `poll` of a cookie.
    Poll(u8),
    /// `cond_synchronize` on a cookie.
    CondSynchronize(u8),
    /// `RcuCell::replace`.
    CellReplace,
    /// `RcuCell::read`.
    CellRead,
    /// `RcuCell::swap_synchronize`.
    CellSwap,
    /// `RcuList::push_back`.
    ListPush,
    /// `RcuList::remove`.
    ListRemove(u8),
    /// `RcuList::iter`.
    ListIter,
}

impl OpCodec for Op {
    fn decode(opcode: u8, arg: u8) -> Self {
        match pick(opcode, 17) {
            0 => Op::Read,
            1 => Op::Unlock,
            2 => Op::ReadOwned,
            3 => Op::UnlockOwned(arg),
            4 => Op::Synchronize {
                expedited: arg & 1 == 1,
            },
            5 => Op::Call,
            6 => Op::DeferDrop,
            7 => Op::Barrier,
            8 => Op::Cookie {
                start: arg & 1 == 1,
            },
            9 => Op::Poll(arg),
            10 => Op::CondSynchronize(arg),
            11 => Op::CellReplace,
            12 => Op::CellRead,
            13 => Op::CellSwap,
            14 => Op::ListPush,
            15 => Op::ListRemove(arg),
            _ => Op::ListIter,
        }
    }

    fn encode(&self) -> (u8, u8) {
        match *self {
            Op::Read => (0, 0),
            Op::Unlock => (1, 0),
            Op::ReadOwned => (2, 0),
            Op::UnlockOwned(k) => (3, k),
            Op::Synchronize { expedited } => (4, u8::from(expedited)),
            Op::Call => (5, 0),
            Op::DeferDrop => (6, 0),
            Op::Barrier => (7, 0),
            Op::Cookie { start } => (8, u8::from(start)),
            Op::Poll(k) => (9, k),
            Op::CondSynchronize(k) => (10, k),
            Op::CellReplace => (11, 0),
            Op::CellRead => (12, 0),
            Op::CellSwap => (13, 0),
            Op::ListPush => (14, 0),
            Op::ListRemove(k) => (15, k),
            Op::ListIter => (16, 0),
        }
    }
}

/// What the threads share: the domain and the structures under test.
#[derive(Debug)]
struct Shared {
    domain: Domain,
    cell: RcuCell<Tracked>,
    list: RcuList<Tracked>,
    tracker: Arc<Tracker>,
}

/// A cookie the driver holds.
#[derive(Debug)]
struct CookieRec {
    cookie: Cookie,
    /// The step that took it.
    taken: usize,
    /// The sections active when it was taken.
    snapshot: Snapshot,
    /// Taken with `start_poll`: must complete on its own once readers are gone.
    started: bool,
    /// A full grace period began after it and ended: it must poll done.
    must_be_done: bool,
}

/// A waiting call in flight.
#[derive(Debug)]
struct Waiting {
    /// The step that issued it.
    step: usize,
    /// The step at which the cookies it covers were taken (`cond_synchronize`: its cookie's),
    /// or `None` for `barrier`, which implies no grace period.
    covers_cookies_before: Option<usize>,
}

/// Runs the schedule encoded in `data` (the fuzz target's entry point).
pub fn run_bytes(data: &[u8]) {
    run(&Schedule::from_bytes(data));
}

/// Runs `schedule`, panicking with a description of the first violation.
pub fn run(schedule: &Schedule<Op>) {
    run_with(schedule, Domain::builder().name("fuzz").build());
}

/// Runs `schedule` on a given domain (a deliberately broken one, for the checker's own tests).
pub fn run_with(schedule: &Schedule<Op>, domain: Domain) {
    let tracker = Arc::new(Tracker::default());
    let first = tracker.value();
    let shared = Arc::new(Shared {
        cell: RcuCell::new(&domain, first),
        list: RcuList::new(&domain),
        domain,
        tracker,
    });
    let mut d = Driver::new(schedule.threads, &shared);
    for (i, step) in schedule.steps.iter().enumerate() {
        d.step(i, step.thread, step.op);
        d.settle_waiting();
        d.check_violations(&format!(
            "after step {i} ({:?} on t{})",
            step.op, step.thread
        ));
    }
    d.finish(shared);
}

struct Driver {
    shared: Arc<Shared>,
    workers: Vec<Worker<Cmd, Reply>>,
    /// Each thread's open sections, innermost last.
    sections: Vec<Vec<u64>>,
    owned: Vec<(u64, OwnedReadGuard)>,
    cookies: Vec<CookieRec>,
    /// The id of the value the cell publishes.
    cell: u64,
    /// The list's elements in order, with their entries.
    list: Vec<(u64, ListEntry<Tracked>)>,
    waiting: Vec<Option<Waiting>>,
}

impl Driver {
    fn new(threads: usize, shared: &Arc<Shared>) -> Self {
        let workers = (0..threads)
            .map(|t| {
                let shared = Arc::clone(shared);
                Worker::spawn(&format!("rcu-t{t}"), move |port| serve(&shared, &port))
            })
            .collect();
        let cell = {
            let guard = shared.domain.read();
            shared.cell.read(&guard).id
        };
        Driver {
            shared: Arc::clone(shared),
            workers,
            sections: vec![Vec::new(); threads],
            owned: Vec::new(),
            cookies: Vec::new(),
            cell,
            list: Vec::new(),
            waiting: (0..threads).map(|_| None).collect(),
        }
    }

    fn tracker(&self) -> &Tracker {
        &self.shared.tracker
    }

    fn step(&mut self, i: usize, t: usize, op: Op) {
        if self.workers[t].is_pending() {
            // The thread waits inside an earlier call: move on.
            return;
        }
        let reading = !self.sections[t].is_empty();
        let what = format!("step {i}: t{t} {op:?}");
        match op {
            Op::Read if self.sections[t].len() < MAX_DEPTH => {
                let id = self.tracker().new_section();
                self.call(t, Cmd::Read(id), what);
                self.sections[t].push(id);
            }
            Op::Unlock if reading => {
                self.sections[t].pop();
                self.call(t, Cmd::Unlock, what);
            }
            Op::ReadOwned => {
                let id = self.tracker().new_section();
                match self.call(t, Cmd::ReadOwned(id), what) {
                    Reply::Owned(g) => self.owned.push((id, g)),
                    r => panic!("unexpected reply {r:?}"),
                }
            }
            Op::UnlockOwned(k) if !self.owned.is_empty() => {
                let (id, g) = self.owned.remove(pick(k, self.owned.len()));
                self.call(t, Cmd::DropOwned(id, g), what);
            }
            Op::Synchronize { expedited } if !reading => {
                self.start_waiting(t, Cmd::Synchronize { expedited }, what, i, Some(i));
            }
            Op::Call => {
                self.call(t, Cmd::Call, what);
            }
            Op::DeferDrop => {
                let v = self.shared.tracker.value();
                self.call(t, Cmd::DeferDrop(v), what);
            }
            Op::Barrier if !reading => self.start_waiting(t, Cmd::Barrier, what, i, None),
            Op::Cookie { start } => {
                let snapshot = self.tracker().snapshot();
                match self.call(t, Cmd::Cookie { start }, what) {
                    Reply::Cookie(cookie) => self.cookies.push(CookieRec {
                        cookie,
                        taken: i,
                        snapshot,
                        started: start,
                        must_be_done: false,
                    }),
                    r => panic!("unexpected reply {r:?}"),
                }
            }
            Op::Poll(k) if !self.cookies.is_empty() => {
                let c = pick(k, self.cookies.len());
                let cookie = self.cookies[c].cookie;
                match self.call(t, Cmd::Poll(cookie), what.clone()) {
                    Reply::Polled(done) => self.check_poll(c, done, &what),
                    r => panic!("unexpected reply {r:?}"),
                }
            }
            Op::CondSynchronize(k) if !reading && !self.cookies.is_empty() => {
                let c = &self.cookies[pick(k, self.cookies.len())];
                let cmd = Cmd::CondSynchronize(c.cookie, c.snapshot.clone());
                let taken = c.taken;
                self.start_waiting(t, cmd, what, i, Some(taken + 1));
            }
            Op::CellReplace => {
                let v = self.shared.tracker.value();
                let id = v.id;
                self.call(t, Cmd::CellReplace(v), what);
                self.cell = id;
            }
            Op::CellRead => match self.call(t, Cmd::CellRead, what.clone()) {
                Reply::Value(id) => {
                    assert_eq!(
                        id, self.cell,
                        "{what}: the cell read a stale or wrong value"
                    )
                }
                r => panic!("unexpected reply {r:?}"),
            },
            Op::CellSwap if !reading => {
                let v = self.shared.tracker.value();
                let new = v.id;
                let old = self.cell;
                self.start_waiting(t, Cmd::CellSwap(v, old), what, i, Some(i));
                self.cell = new;
            }
            Op::ListPush => {
                let v = self.shared.tracker.value();
                let id = v.id;
                match self.call(t, Cmd::ListPush(v), what) {
                    Reply::Entry(e) => self.list.push((id, e)),
                    r => panic!("unexpected reply {r:?}"),
                }
            }
            Op::ListRemove(k) if !self.list.is_empty() => {
                let (id, e) = self.list.remove(pick(k, self.list.len()));
                self.call(t, Cmd::ListRemove(id, e), what);
            }
            Op::ListIter => match self.call(t, Cmd::ListIter, what.clone()) {
                Reply::Values(ids) => {
                    let model: Vec<u64> = self.list.iter().map(|(id, _)| *id).collect();
                    assert_eq!(ids, model, "{what}: the list walk differs from the model");
                }
                r => panic!("unexpected reply {r:?}"),
            },
            // The step does not apply to the thread's state: move on.
            _ => {}
        }
    }

    /// Sends a command that must complete without waiting and returns its reply.
    fn call(&mut self, t: usize, cmd: Cmd, what: String) -> Reply {
        self.workers[t].send(cmd, what);
        let reply = self.workers[t].wait();
        if let Reply::Violation(v) = &reply {
            panic!("{}: {v}", self.workers[t].name());
        }
        reply
    }

    /// Sends a call that may wait for readers; it is settled after each step.
    fn start_waiting(
        &mut self,
        t: usize,
        cmd: Cmd,
        what: String,
        step: usize,
        covers: Option<usize>,
    ) {
        self.workers[t].send(cmd, what);
        self.waiting[t] = Some(Waiting {
            step,
            covers_cookies_before: covers,
        });
    }

    /// Settles every waiting call: with no section active it must return (liveness); otherwise
    /// it has returned or sleeps.
    fn settle_waiting(&mut self) {
        for t in 0..self.workers.len() {
            if self.waiting[t].is_none() {
                continue;
            }
            let reply = if self.tracker().quiescent() {
                Some(self.workers[t].wait())
            } else {
                match self.workers[t].settle() {
                    Settled::Replied(r) => Some(r),
                    Settled::Asleep => None,
                }
            };
            if let Some(reply) = reply {
                let w = self.waiting[t].take().expect("checked above");
                if let Reply::Violation(v) = reply {
                    panic!("{} (call of step {}): {v}", self.workers[t].name(), w.step);
                }
                if let Some(before) = w.covers_cookies_before {
                    for c in self.cookies.iter_mut().filter(|c| c.taken < before) {
                        c.must_be_done = true;
                    }
                }
            }
        }
    }

    fn check_poll(&self, c: usize, done: bool, what: &str) {
        let rec = &self.cookies[c];
        if done {
            let alive = self.tracker().still_active(&rec.snapshot);
            assert!(
                alive.is_empty(),
                "{what}: cookie of step {} polls done while sections {alive:?} active when it \
                 was taken are still active",
                rec.taken
            );
        } else {
            assert!(
                !rec.must_be_done,
                "{what}: cookie of step {} is not done although a full grace period began after \
                 it and ended",
                rec.taken
            );
        }
    }

    fn check_violations(&self, when: &str) {
        let v = self.tracker().violations();
        assert!(v.is_empty(), "{when}: {}", v.join("; "));
    }

    /// Ends every section, lets every waiting call return, then tears everything down and
    /// checks that every callback and every value ran or dropped exactly once.
    fn finish(mut self, shared: Arc<Shared>) {
        for t in 0..self.workers.len() {
            while let Some(_id) = self.sections[t].pop() {
                self.call(t, Cmd::Unlock, format!("drain: t{t} unlock"));
            }
        }
        for (id, g) in std::mem::take(&mut self.owned) {
            self.tracker().end(id);
            drop(g);
        }
        self.settle_waiting();
        assert!(
            self.waiting.iter().all(Option::is_none),
            "waiting calls left after the drain"
        );
        self.check_violations("after the drain");
        let deadline = Instant::now() + BOUND;
        for c in self.cookies.iter().filter(|c| c.started) {
            while !shared.domain.poll(c.cookie) {
                assert!(
                    Instant::now() < deadline,
                    "start_poll cookie of step {} never completed with no readers",
                    c.taken
                );
                std::thread::yield_now();
            }
        }
        for c in 0..self.cookies.len() {
            let done = shared.domain.poll(self.cookies[c].cookie);
            self.check_poll(c, done, "at the end");
        }
        for (id, e) in std::mem::take(&mut self.list) {
            shared.tracker.retire(id);
            shared.list.remove(e);
        }
        shared.tracker.retire(self.cell);
        let tracker = Arc::clone(&shared.tracker);
        let callbacks = tracker.callbacks_queued();
        // Joins the threads, then drops the structures and the last domain handle, which runs
        // every queued callback before its worker stops.
        drop(self);
        let shared = Arc::try_unwrap(shared).expect("the threads have exited");
        drop(shared);
        let not_once = tracker.callbacks_not_run_once(callbacks);
        assert!(
            not_once.is_empty(),
            "callbacks not run exactly once: {not_once:?}"
        );
        let not_dropped = tracker.values_not_dropped_once();
        assert!(
            not_dropped.is_empty(),
            "values not dropped exactly once: {not_dropped:?}"
        );
        let v = tracker.violations();
        assert!(v.is_empty(), "at the end: {}", v.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The busted twin: a domain whose grace periods do not wait for readers must be caught by
    /// the seed that pins "a reader that began before a grace period holds it".
    #[test]
    #[should_panic(expected = "that began before it are still active")]
    fn a_grace_period_that_skips_readers_is_caught() {
        let seed = seeds::all()
            .into_iter()
            .find(|s| s.name == "reader-holds-grace-period")
            .expect("seed");
        let broken = Domain::builder().broken_skip_wait().build();
        run_with(&Schedule::from_bytes(&seed.bytes), broken);
    }
}
