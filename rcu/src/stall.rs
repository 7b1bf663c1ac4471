//! Stall reports: a grace period that waits past a bound names the readers holding it.
//!
//! Loom builds never wait long enough to stall, so the clock is unused there.
#![cfg_attr(loom, allow(dead_code))]

use crate::protocol::Record;
use std::fmt;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// A reader thread that holds a grace period back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StalledReader {
    /// The thread's id.
    pub thread_id: ThreadId,
    /// The thread's name, if it has one.
    pub thread_name: Option<String>,
}

/// What a stall hook receives: the grace period that waits and the readers it waits for.
#[derive(Clone, Debug)]
pub struct StallReport {
    /// The domain's name (see [`DomainBuilder::name`](crate::DomainBuilder::name)).
    pub domain: Option<String>,
    /// How long the grace period has waited on readers so far.
    pub waited: Duration,
    /// Threads inside a read section that began before the grace period.
    pub readers: Vec<StalledReader>,
    /// Owned read sections ([`OwnedReadGuard`](crate::OwnedReadGuard)) that hold the grace
    /// period; they are not tied to a thread, so only their number is known.
    pub owned_sections: usize,
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rcu grace period stalled for {:?}", self.waited)?;
        if let Some(name) = &self.domain {
            write!(f, " in domain {name:?}")?;
        }
        write!(f, "; blocking readers:")?;
        for r in &self.readers {
            match &r.thread_name {
                Some(n) => write!(f, " {n:?} ({:?})", r.thread_id)?,
                None => write!(f, " {:?}", r.thread_id)?,
            }
        }
        if self.owned_sections > 0 {
            write!(f, " and {} owned section(s)", self.owned_sections)?;
        }
        Ok(())
    }
}

/// The hook type.
pub(crate) type StallHook = Arc<dyn Fn(&StallReport) + Send + Sync>;

/// A domain's stall settings.
pub(crate) struct StallConfig {
    pub(crate) timeout: Duration,
    pub(crate) hook: StallHook,
    pub(crate) domain: Option<String>,
}

impl fmt::Debug for StallConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StallConfig")
            .field("timeout", &self.timeout)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// How long a parked grace period sleeps between rescans when no stall bound is set. Wake-ups
/// come from the last reader out, so this only bounds the cost of a lost race with a spurious
/// unpark; one second keeps an idle waiter cheap.
const IDLE_RESCAN: Duration = Duration::from_secs(1);

/// Tracks one grace period's wait against its stall bound.
pub(crate) struct StallClock<'a> {
    cfg: Option<&'a StallConfig>,
    start: Instant,
    next_report: Duration,
}

impl<'a> StallClock<'a> {
    /// Starts timing a wait that has just become slow.
    pub(crate) fn start(cfg: Option<&'a StallConfig>) -> Self {
        Self {
            cfg,
            start: Instant::now(),
            next_report: cfg.map_or(Duration::MAX, |c| c.timeout),
        }
    }

    /// How long to park before the next check.
    pub(crate) fn next_wake(&self) -> Duration {
        match self.cfg {
            None => IDLE_RESCAN,
            Some(_) => self
                .next_report
                .saturating_sub(self.start.elapsed())
                .min(IDLE_RESCAN),
        }
    }

    /// Calls the hook if the wait has passed the next report time; later reports follow at
    /// doubling intervals.
    pub(crate) fn check(&mut self, pending: &[*const Record], owned_sections: usize) {
        let Some(cfg) = self.cfg else { return };
        let waited = self.start.elapsed();
        if waited < self.next_report {
            return;
        }
        self.next_report = self.next_report.saturating_mul(2).max(waited);
        let readers = pending
            .iter()
            .filter_map(|&r| {
                // SAFETY: records live as long as their domain (protocol invariant 5), and the
                // caller holds the grace-period lock of a live domain.
                let rec = unsafe { &*r };
                crate::sync::lock(&rec.owner)
                    .as_ref()
                    .map(|t| StalledReader {
                        thread_id: t.id(),
                        thread_name: t.name().map(str::to_owned),
                    })
            })
            .collect();
        let report = StallReport {
            domain: cfg.domain.clone(),
            waited,
            readers,
            owned_sections,
        };
        (cfg.hook)(&report);
    }
}
