//! The reference model of one `RwSem` as the deterministic driver sees it.
//!
//! Between steps the semaphore is settled: every grant that a release made possible has been
//! made, so a non-empty queue always means the lock is held. The model therefore needs no
//! timing: writer preference, FIFO order with reader batching, try-locks that never pass
//! waiters, kill and timeout outcomes and downgrade all follow from the holders, the queue and
//! the kill flags.

use std::collections::VecDeque;

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A shared (read) hold or wait.
    Read,
    /// An exclusive (write) hold or wait.
    Write,
}

/// How a blocking acquisition waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// `read`/`write`: only a grant ends the wait.
    Plain,
    /// `*_killable`: a kill ends it (at once if the flag is already raised).
    Killable,
    /// `*_timeout` with a short timeout: the wait expires unless granted at once.
    Timeout,
}

/// What the model predicts for a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The lock is taken.
    Granted,
    /// A try-lock fails.
    Busy,
    /// A killable wait fails with `Killed`.
    Killed,
    /// A timed wait fails with `TimedOut`.
    TimedOut,
    /// The caller queues and sleeps.
    Blocked,
}

/// Holders, the FIFO queue and the kill flags of one semaphore.
#[derive(Clone, Debug)]
pub struct Model {
    hold: Vec<Option<Kind>>,
    queue: VecDeque<(usize, Kind, Wait)>,
    killed: Vec<bool>,
}

impl Model {
    /// An unlocked semaphore used by `threads` threads, none killed.
    pub fn new(threads: usize) -> Self {
        Model {
            hold: vec![None; threads],
            queue: VecDeque::new(),
            killed: vec![false; threads],
        }
    }

    /// What thread `t` holds.
    pub fn hold(&self, t: usize) -> Option<Kind> {
        self.hold[t]
    }

    /// Whether thread `t` is queued.
    pub fn is_queued(&self, t: usize) -> bool {
        self.queue.iter().any(|&(q, _, _)| q == t)
    }

    /// The queued threads, front first.
    pub fn queued(&self) -> impl Iterator<Item = usize> + '_ {
        self.queue.iter().map(|&(t, _, _)| t)
    }

    /// Whether anyone holds the lock.
    pub fn locked(&self) -> bool {
        self.hold.iter().any(Option::is_some)
    }

    /// Whether a writer holds the lock.
    pub fn write_locked(&self) -> bool {
        self.hold.contains(&Some(Kind::Write))
    }

    /// The number of read holders.
    pub fn readers(&self) -> usize {
        self.hold.iter().filter(|h| **h == Some(Kind::Read)).count()
    }

    /// Whether anyone waits.
    pub fn has_waiters(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether a request of `kind` could be granted right now without waiting. With anyone
    /// queued nobody gets in: writer preference for readers, no barging for anyone.
    fn available(&self, kind: Kind) -> bool {
        self.queue.is_empty()
            && match kind {
                Kind::Read => !self.write_locked(),
                Kind::Write => !self.locked(),
            }
    }

    /// Thread `t` (holding nothing, not queued) asks for the lock.
    pub fn acquire(&mut self, t: usize, kind: Kind, wait: Wait) -> Expect {
        debug_assert!(self.hold[t].is_none() && !self.is_queued(t));
        if self.available(kind) {
            // Like the kernel, a lock available without waiting is taken even with a kill
            // pending.
            self.hold[t] = Some(kind);
            return Expect::Granted;
        }
        match wait {
            Wait::Killable if self.killed[t] => Expect::Killed,
            // A timed wait queues, expires and leaves as if it never came: nobody else can act
            // while it waits, so the state is unchanged.
            Wait::Timeout => Expect::TimedOut,
            Wait::Plain | Wait::Killable => {
                self.queue.push_back((t, kind, wait));
                Expect::Blocked
            }
        }
    }

    /// Thread `t` tries for the lock without waiting.
    pub fn try_acquire(&mut self, t: usize, kind: Kind) -> Expect {
        if self.available(kind) {
            self.hold[t] = Some(kind);
            Expect::Granted
        } else {
            Expect::Busy
        }
    }

    /// Thread `t` releases its hold; returns the threads granted as a result.
    pub fn release(&mut self, t: usize) -> Vec<usize> {
        assert!(
            self.hold[t].take().is_some(),
            "model: release without a hold"
        );
        self.grant_front()
    }

    /// Thread `t` turns its write hold into a read hold; returns the threads granted.
    pub fn downgrade(&mut self, t: usize) -> Vec<usize> {
        assert_eq!(
            self.hold[t],
            Some(Kind::Write),
            "model: downgrade without the write lock"
        );
        self.hold[t] = Some(Kind::Read);
        self.grant_front()
    }

    /// Raises thread `t`'s kill flag. Returns whether a killable wait of `t` was aborted, and
    /// the threads granted because it left the queue.
    pub fn kill(&mut self, t: usize) -> (bool, Vec<usize>) {
        self.killed[t] = true;
        let Some(pos) = self
            .queue
            .iter()
            .position(|&(q, _, w)| q == t && w == Wait::Killable)
        else {
            return (false, Vec::new());
        };
        self.queue.remove(pos);
        (true, self.grant_front())
    }

    /// Lowers thread `t`'s kill flag.
    pub fn clear_kill(&mut self, t: usize) {
        self.killed[t] = false;
    }

    /// Grants whatever the front of the queue can now have: the run of readers at the front
    /// when no writer holds the lock, or the front writer when the lock is free.
    fn grant_front(&mut self) -> Vec<usize> {
        let mut granted = Vec::new();
        match self.queue.front() {
            Some(&(_, Kind::Read, _)) if !self.write_locked() => {
                while let Some(&(t, Kind::Read, _)) = self.queue.front() {
                    self.queue.pop_front();
                    self.hold[t] = Some(Kind::Read);
                    granted.push(t);
                }
            }
            Some(&(t, Kind::Write, _)) if !self.locked() => {
                self.queue.pop_front();
                self.hold[t] = Some(Kind::Write);
                granted.push(t);
            }
            _ => {}
        }
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_writer_lets_the_readers_behind_it_in() {
        let mut m = Model::new(3);
        assert_eq!(m.acquire(0, Kind::Read, Wait::Plain), Expect::Granted);
        assert_eq!(m.acquire(1, Kind::Write, Wait::Killable), Expect::Blocked);
        assert_eq!(m.acquire(2, Kind::Read, Wait::Plain), Expect::Blocked);
        assert_eq!(m.kill(1), (true, vec![2]));
        assert_eq!(m.readers(), 2);
        assert!(!m.has_waiters());
    }

    #[test]
    fn releases_grant_in_fifo_order_with_reader_batching() {
        let mut m = Model::new(4);
        assert_eq!(m.acquire(0, Kind::Write, Wait::Plain), Expect::Granted);
        assert_eq!(m.acquire(1, Kind::Read, Wait::Plain), Expect::Blocked);
        assert_eq!(m.acquire(2, Kind::Read, Wait::Killable), Expect::Blocked);
        assert_eq!(m.acquire(3, Kind::Write, Wait::Plain), Expect::Blocked);
        assert_eq!(m.try_acquire(0, Kind::Read), Expect::Busy);
        assert_eq!(m.release(0), vec![1, 2]);
        assert_eq!(m.release(1), vec![]);
        assert_eq!(m.release(2), vec![3]);
        assert!(m.write_locked());
    }

    #[test]
    fn killed_threads_fail_only_when_they_would_wait() {
        let mut m = Model::new(2);
        m.kill(0);
        assert_eq!(m.acquire(0, Kind::Write, Wait::Killable), Expect::Granted);
        assert_eq!(m.downgrade(0), vec![]);
        m.kill(1);
        assert_eq!(m.acquire(1, Kind::Write, Wait::Killable), Expect::Killed);
        assert_eq!(m.acquire(1, Kind::Write, Wait::Timeout), Expect::TimedOut);
        assert_eq!(m.acquire(1, Kind::Read, Wait::Killable), Expect::Granted);
    }
}
