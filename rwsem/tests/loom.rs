//! Loom models of the semaphore's protocols, each with a deliberately broken twin that loom
//! must catch. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p rwsem --test loom`.
//!
//! When a broken twin deadlocks, loom panics and unwinds the model outside its execution, where
//! touching a loom object aborts the whole binary; so the models share state through a std
//! `Arc` and keep guards that are held across a join in `ManuallyDrop`.
//!
//! Under loom, time does not pass: timed waits are not modelled here (their abort path is the
//! kill's), and the hand-off bound is "the second failed attempt at the front".
#![cfg(loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use std::mem::ManuallyDrop;

use loom::sync::Mutex;
use loom::thread;
use rwsem::{KillHandle, Killed, RwSem, loom_bugs};
use std::sync::Arc;

/// Shared state of a model: the semaphore plus counters of who is inside.
struct Shared {
    sem: RwSem<()>,
    readers_in: AtomicUsize,
    writers_in: AtomicUsize,
    writer_done: AtomicUsize,
    /// Exclusion or ordering failures seen inside sections; checked after the guards are gone
    /// (a panic while holding a guard would unwind through the lock under loom).
    violations: AtomicUsize,
    handle: Mutex<Option<KillHandle>>,
}

impl Shared {
    fn new(bug: u8) -> Arc<Shared> {
        Arc::new(Shared {
            sem: RwSem::with_bug((), bug),
            readers_in: AtomicUsize::new(0),
            writers_in: AtomicUsize::new(0),
            writer_done: AtomicUsize::new(0),
            violations: AtomicUsize::new(0),
            handle: Mutex::new(None),
        })
    }

    /// A write section that checks exclusion.
    fn write_section(&self) {
        let others = self.writers_in.fetch_add(1, SeqCst) + self.readers_in.load(SeqCst);
        self.check(others == 0);
        self.writers_in.fetch_sub(1, SeqCst);
        self.writer_done.fetch_add(1, SeqCst);
    }

    /// A read section that checks exclusion.
    fn read_section(&self) {
        self.readers_in.fetch_add(1, SeqCst);
        self.check(self.writers_in.load(SeqCst) == 0);
        self.readers_in.fetch_sub(1, SeqCst);
    }

    fn check(&self, ok: bool) {
        if !ok {
            self.violations.fetch_add(1, SeqCst);
        }
    }

    /// The slot is a loom mutex so that the kill flag's creation happens before the kill.
    fn publish_handle(&self) {
        let handle = KillHandle::current();
        *self.handle.lock().unwrap() = Some(handle);
    }

    fn take_handle(&self) -> KillHandle {
        loop {
            let taken = self.handle.lock().unwrap().take();
            if let Some(h) = taken {
                return h;
            }
            thread::yield_now();
        }
    }

    fn until_waiters(&self) {
        while !self.sem.has_waiters() {
            thread::yield_now();
        }
    }

    fn assert_clean(&self) {
        assert_eq!(
            self.violations.load(SeqCst),
            0,
            "exclusion or ordering violated"
        );
        assert!(!self.sem.is_locked(), "lock left held");
        assert!(!self.sem.has_waiters(), "waiters flag left set");
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

// --- two writers ---------------------------------------------------------------------------

fn two_writers(bug: u8) {
    model(move || {
        let s = Shared::new(bug);
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || {
                    let _g = s.sem.write();
                    s.write_section();
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(s.writer_done.load(SeqCst), 2);
        s.assert_clean();
    });
}

#[test]
fn loom_two_writers() {
    two_writers(loom_bugs::NONE);
}

#[test]
#[should_panic(expected = "deadlock")]
fn loom_two_writers_broken_unlock_forgets_to_wake() {
    two_writers(loom_bugs::SKIP_UNLOCK_WAKE);
}

// --- reader vs writer ----------------------------------------------------------------------

fn reader_vs_writer(bug: u8) {
    model(move || {
        let s = Shared::new(bug);
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.sem.read();
                s.read_section();
            })
        };
        {
            let _g = s.sem.write();
            s.write_section();
        }
        r.join().unwrap();
        s.assert_clean();
    });
}

#[test]
fn loom_reader_vs_writer() {
    reader_vs_writer(loom_bugs::NONE);
}

#[test]
#[should_panic(expected = "exclusion or ordering violated")]
fn loom_reader_vs_writer_broken_steal_ignores_readers() {
    reader_vs_writer(loom_bugs::STEAL_IGNORES_READERS);
}

// --- pending writer ------------------------------------------------------------------------

/// A writer meets a reader with nobody queued, so it takes the pending path (invariant 8 of
/// `raw`); a second reader arrives meanwhile and must neither get in past the writer's claim
/// nor queue behind a writer that is not queued. Whether the writer takes the lock while
/// pending or gives up and queues, everyone finishes, exclusion holds and the word ends clean.
fn pending_writer(bug: u8) {
    model(move || {
        let s = Shared::new(bug);
        let first = s.sem.read();
        s.readers_in.fetch_add(1, SeqCst);
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.sem.write();
                s.write_section();
            })
        };
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.sem.read();
                s.read_section();
            })
        };
        thread::yield_now();
        s.check(s.writers_in.load(SeqCst) == 0);
        s.readers_in.fetch_sub(1, SeqCst);
        drop(first);
        w.join().unwrap();
        r.join().unwrap();
        assert_eq!(s.writer_done.load(SeqCst), 1);
        s.assert_clean();
        // A pending claim left behind would turn every later reader away.
        assert!(s.sem.try_read().is_some(), "writer-pending flag left set");
    });
}

#[test]
fn loom_pending_writer() {
    pending_writer(loom_bugs::NONE);
}

#[test]
#[should_panic(expected = "exclusion or ordering violated")]
fn loom_pending_writer_broken_ignores_readers() {
    pending_writer(loom_bugs::PENDING_IGNORES_READERS);
}

// --- writer preference ---------------------------------------------------------------------

fn writer_preference(bug: u8) {
    model(move || {
        let s = Shared::new(bug);
        let held = s.sem.read();
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.sem.write();
                s.write_section();
            })
        };
        s.until_waiters();
        // This reader arrives while the writer is queued: it must run after the writer.
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.sem.read();
                // The reader must get in only after the writer queued before it.
                s.check(s.writer_done.load(SeqCst) == 1);
                s.read_section();
            })
        };
        drop(held);
        w.join().unwrap();
        r.join().unwrap();
        s.assert_clean();
    });
}

#[test]
fn loom_writer_preference() {
    writer_preference(loom_bugs::NONE);
}

#[test]
#[should_panic(expected = "exclusion or ordering violated")]
fn loom_writer_preference_broken_readers_barge() {
    writer_preference(loom_bugs::READERS_BARGE);
}

// --- a killed writer with a reader queued behind it ------------------------------------------

fn killed_writer_reader_behind(bug: u8) {
    model(move || {
        let s = Shared::new(bug);
        // Not dropped if the join below panics on a deadlock (see `unwind_safe`).
        let held = ManuallyDrop::new(s.sem.read());
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                s.publish_handle();
                let r = s.sem.write_killable().map(|_| ());
                rwsem::clear_current_kill();
                r
            })
        };
        s.until_waiters();
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.sem.read();
                s.read_section();
            })
        };
        s.take_handle().kill();
        // The reader must get in while we still hold our read lock: nobody else would wake it.
        r.join().unwrap();
        drop(ManuallyDrop::into_inner(held));
        assert_eq!(w.join().unwrap(), Err(Killed));
        s.assert_clean();
    });
}

#[test]
fn loom_killed_writer_reader_behind_runs() {
    killed_writer_reader_behind(loom_bugs::NONE);
}

#[test]
#[should_panic(expected = "deadlock")]
fn loom_killed_writer_reader_behind_broken_no_successor_wake() {
    killed_writer_reader_behind(loom_bugs::SKIP_SUCCESSOR_WAKE);
}

// --- kill racing the grant -----------------------------------------------------------------

fn kill_racing_grant(bug: u8, reader: bool) {
    model(move || {
        let s = Shared::new(bug);
        let held = s.sem.write();
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                s.publish_handle();
                let got = if reader {
                    s.sem.read_killable().map(|_g| s.read_section()).is_ok()
                } else {
                    s.sem.write_killable().map(|_g| s.write_section()).is_ok()
                };
                rwsem::clear_current_kill();
                got
            })
        };
        s.until_waiters();
        let k = {
            let s = s.clone();
            thread::spawn(move || s.take_handle().kill())
        };
        drop(held);
        k.join().unwrap();
        let got = w.join().unwrap();
        if !reader {
            assert_eq!(s.writer_done.load(SeqCst), usize::from(got));
        }
        s.assert_clean();
    });
}

#[test]
fn loom_kill_racing_grant_reader() {
    kill_racing_grant(loom_bugs::NONE, true);
}

#[test]
fn loom_kill_racing_grant_writer() {
    kill_racing_grant(loom_bugs::NONE, false);
}

#[test]
#[should_panic(expected = "lock left held")]
fn loom_kill_racing_grant_broken_abort_ignores_grant() {
    kill_racing_grant(loom_bugs::ABORT_IGNORES_GRANT, true);
}

// --- a reader backing out -----------------------------------------------------------------

/// A reader's fast path adds its bias before it looks at the word (invariant 9 of `raw`). Here
/// it meets a queued writer and backs out; if the held read lock is released while the bias is
/// still in the word, that release sees a reader left and wakes nobody, so backing out must
/// wake the writer: this reader is already killed and leaves without queueing, so nobody else
/// would. Either outcome of the read is allowed (the writer may have come and gone first).
fn reader_backs_out(bug: u8) {
    model(move || {
        let s = Shared::new(bug);
        let held = s.sem.read();
        s.readers_in.fetch_add(1, SeqCst);
        let w = {
            let s = s.clone();
            thread::spawn(move || {
                let _g = s.sem.write();
                s.write_section();
            })
        };
        s.until_waiters();
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                KillHandle::current().kill();
                if let Ok(_g) = s.sem.read_killable() {
                    s.read_section();
                }
                rwsem::clear_current_kill();
            })
        };
        s.readers_in.fetch_sub(1, SeqCst);
        drop(held);
        w.join().unwrap();
        r.join().unwrap();
        assert_eq!(s.writer_done.load(SeqCst), 1);
        s.assert_clean();
    });
}

#[test]
fn loom_reader_backs_out() {
    reader_backs_out(loom_bugs::NONE);
}

#[test]
#[should_panic(expected = "deadlock")]
fn loom_reader_backs_out_broken_skips_wake() {
    reader_backs_out(loom_bugs::BACK_OUT_SKIPS_WAKE);
}

// --- a killed reader -----------------------------------------------------------------------

fn killed_reader(bug: u8) {
    model(move || {
        let s = Shared::new(bug);
        let held = ManuallyDrop::new(s.sem.write());
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                s.publish_handle();
                let r = s.sem.read_killable().map(|_| ());
                rwsem::clear_current_kill();
                r
            })
        };
        s.until_waiters();
        s.take_handle().kill();
        assert_eq!(r.join().unwrap(), Err(Killed));
        assert!(!s.sem.has_waiters(), "the killed reader left a trace");
        drop(ManuallyDrop::into_inner(held));
        s.assert_clean();
    });
}

#[test]
fn loom_killed_reader() {
    killed_reader(loom_bugs::NONE);
}

#[test]
#[should_panic(expected = "the killed reader left a trace")]
fn loom_killed_reader_broken_abort_keeps_flags() {
    killed_reader(loom_bugs::ABORT_KEEPS_FLAGS);
}
