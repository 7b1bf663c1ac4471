//! The worker threads of `rcu_ops`: each keeps its own stack of read guards and runs the
//! driver's commands, checking on the spot what only it can see (what a waiting call returned
//! to).

use rcu::{Cookie, ListEntry, OwnedReadGuard, ReadGuard};

use super::Shared;
use super::tracker::{Snapshot, Tracked};
use crate::harness::Port;

/// A command for a worker thread.
#[derive(Debug)]
pub(super) enum Cmd {
    Read(u64),
    Unlock,
    ReadOwned(u64),
    DropOwned(u64, OwnedReadGuard),
    Synchronize {
        expedited: bool,
    },
    Call,
    DeferDrop(Tracked),
    Barrier,
    Cookie {
        start: bool,
    },
    Poll(Cookie),
    /// The cookie and the sections active when it was taken.
    CondSynchronize(Cookie, Snapshot),
    CellReplace(Tracked),
    CellRead,
    /// The new value and the id of the value it replaces.
    CellSwap(Tracked, u64),
    ListPush(Tracked),
    ListRemove(u64, ListEntry<Tracked>),
    ListIter,
}

/// A worker's reply.
#[derive(Debug)]
pub(super) enum Reply {
    Done,
    Owned(OwnedReadGuard),
    Cookie(Cookie),
    Polled(bool),
    Value(u64),
    Values(Vec<u64>),
    Entry(ListEntry<Tracked>),
    Violation(String),
}

/// A worker thread's loop.
pub(super) fn serve(shared: &Shared, port: &Port<Cmd, Reply>) {
    let domain = shared.domain.clone();
    let tracker = &shared.tracker;
    let mut guards: Vec<(u64, ReadGuard<'_>)> = Vec::new();
    while let Some(cmd) = port.recv() {
        let reply = match cmd {
            Cmd::Read(id) => {
                guards.push((id, domain.read()));
                tracker.begin(id);
                Reply::Done
            }
            Cmd::Unlock => {
                let (id, g) = guards.pop().expect("driver: unlock without a section");
                tracker.end(id);
                drop(g);
                Reply::Done
            }
            Cmd::ReadOwned(id) => {
                let g = domain.read_owned();
                tracker.begin(id);
                Reply::Owned(g)
            }
            Cmd::DropOwned(id, g) => {
                tracker.end(id);
                drop(g);
                Reply::Done
            }
            Cmd::Synchronize { expedited } => {
                let snap = tracker.snapshot();
                if expedited {
                    domain.synchronize_expedited();
                } else {
                    domain.synchronize();
                }
                returned_early(tracker, &snap, "synchronize")
            }
            Cmd::Call => {
                let (_id, f) = tracker.new_callback();
                domain.call(f);
                Reply::Done
            }
            Cmd::DeferDrop(v) => {
                tracker.retire(v.id);
                domain.defer_drop(v);
                Reply::Done
            }
            Cmd::Barrier => {
                let n = tracker.callbacks_queued();
                domain.barrier();
                let missing = tracker.callbacks_not_run_once(n);
                if missing.is_empty() {
                    Reply::Done
                } else {
                    Reply::Violation(format!(
                        "barrier returned before callbacks ran exactly once: (id, runs) \
                         {missing:?}"
                    ))
                }
            }
            Cmd::Cookie { start } => Reply::Cookie(if start {
                domain.start_poll()
            } else {
                domain.get_state()
            }),
            Cmd::Poll(c) => Reply::Polled(domain.poll(c)),
            Cmd::CondSynchronize(c, snap) => {
                domain.cond_synchronize(c);
                if !domain.poll(c) {
                    Reply::Violation("cond_synchronize returned before its cookie was done".into())
                } else {
                    returned_early(tracker, &snap, "cond_synchronize")
                }
            }
            Cmd::CellReplace(v) => {
                let old = read_cell(shared, &guards);
                tracker.retire(old);
                shared.cell.replace(v);
                Reply::Done
            }
            Cmd::CellRead => Reply::Value(read_cell(shared, &guards)),
            Cmd::CellSwap(v, expected) => {
                tracker.retire(expected);
                let snap = tracker.snapshot();
                let old = shared.cell.swap_synchronize(v);
                if old.id != expected {
                    Reply::Violation(format!(
                        "swap_synchronize returned value {} instead of {expected}",
                        old.id
                    ))
                } else {
                    returned_early(tracker, &snap, "swap_synchronize")
                }
            }
            Cmd::ListPush(v) => Reply::Entry(shared.list.push_back(v)),
            Cmd::ListRemove(id, e) => {
                tracker.retire(id);
                shared.list.remove(e);
                Reply::Done
            }
            Cmd::ListIter => {
                let ids = match guards.last() {
                    Some((_, g)) => shared.list.iter(g).map(|v| v.id).collect(),
                    None => {
                        let g = domain.read();
                        shared.list.iter(&g).map(|v| v.id).collect()
                    }
                };
                Reply::Values(ids)
            }
        };
        port.reply(reply);
    }
    // The driver has gone: close what is still open (only after a finding).
    while let Some((id, g)) = guards.pop() {
        tracker.end(id);
        drop(g);
    }
}

/// The id of the value the cell publishes, read in the innermost section or a fresh one.
fn read_cell(shared: &Shared, guards: &[(u64, ReadGuard<'_>)]) -> u64 {
    match guards.last() {
        Some((_, g)) => shared.cell.read(g).id,
        None => {
            let g = shared.domain.read();
            shared.cell.read(&g).id
        }
    }
}

/// `Done`, or the violation if a section of `snap` is still active after a wait for readers.
fn returned_early(tracker: &super::Tracker, snap: &Snapshot, what: &str) -> Reply {
    let alive = tracker.still_active(snap);
    if alive.is_empty() {
        Reply::Done
    } else {
        Reply::Violation(format!(
            "{what} returned while sections {alive:?} that began before it are still active"
        ))
    }
}
