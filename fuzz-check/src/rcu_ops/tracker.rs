//! The reference model's memory: which read sections are active, which values were retired
//! under which sections, which callbacks and drops ran.
//!
//! The checks are built so that timing cannot produce a false finding: a section is recorded as
//! active only after its guard exists and recorded as ended just before its guard is dropped,
//! so "a section of the snapshot is still active" always means a guard that really is alive.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// Read sections active at some instant.
pub type Snapshot = BTreeSet<u64>;

#[derive(Debug, Default)]
struct Inner {
    active: BTreeSet<u64>,
    next_section: u64,
    /// Values unpublished (replaced, removed, deferred) and the sections active then.
    retired: HashMap<u64, Snapshot>,
    next_value: u64,
    /// How often each value was dropped.
    drops: HashMap<u64, u32>,
    /// How often each callback ran, by id.
    callback_runs: Vec<u32>,
    violations: Vec<String>,
}

/// Shared by the driver, the worker threads, callbacks and tracked values.
#[derive(Debug, Default)]
pub struct Tracker {
    inner: Mutex<Inner>,
}

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new section id (not yet active).
    pub fn new_section(&self) -> u64 {
        let mut g = self.lock();
        g.next_section += 1;
        g.next_section
    }

    /// Section `id`'s guard now exists.
    pub fn begin(&self, id: u64) {
        self.lock().active.insert(id);
    }

    /// Section `id`'s guard is about to be dropped.
    pub fn end(&self, id: u64) {
        assert!(
            self.lock().active.remove(&id),
            "driver: section {id} ended twice"
        );
    }

    /// The sections active now.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().active.clone()
    }

    /// Whether no section is active.
    pub fn quiescent(&self) -> bool {
        self.lock().active.is_empty()
    }

    /// The sections of `snap` still active.
    pub fn still_active(&self, snap: &Snapshot) -> Vec<u64> {
        let g = self.lock();
        snap.intersection(&g.active).copied().collect()
    }

    /// Records a finding made off the driver thread (callbacks, drops on the worker).
    pub fn violation(&self, what: String) {
        self.lock().violations.push(what);
    }

    /// The findings so far.
    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// A new tracked value.
    pub fn value(self: &Arc<Self>) -> Tracked {
        let mut g = self.lock();
        g.next_value += 1;
        Tracked {
            id: g.next_value,
            tracker: Arc::clone(self),
        }
    }

    /// Value `id` is being unpublished now: it may be freed only after the sections active now.
    pub fn retire(&self, id: u64) {
        let mut g = self.lock();
        let snap = g.active.clone();
        g.retired.insert(id, snap);
    }

    fn dropped(&self, id: u64) {
        let mut g = self.lock();
        let n = {
            let n = g.drops.entry(id).or_insert(0);
            *n += 1;
            *n
        };
        if n > 1 {
            g.violations.push(format!("value {id} dropped {n} times"));
        }
        match g.retired.get(&id) {
            None => g
                .violations
                .push(format!("value {id} dropped while still published")),
            Some(snap) => {
                let alive: Vec<u64> = snap.intersection(&g.active).copied().collect();
                if !alive.is_empty() {
                    g.violations.push(format!(
                        "value {id} freed while sections {alive:?} that could see it are active \
                         (a grace period ended too early)"
                    ));
                }
            }
        }
    }

    /// A new callback id; `snapshot` is the sections it must wait for.
    pub fn new_callback(self: &Arc<Self>) -> (u64, impl FnOnce() + Send + 'static) {
        let mut g = self.lock();
        let id = g.callback_runs.len() as u64;
        g.callback_runs.push(0);
        let snap = g.active.clone();
        drop(g);
        let tracker = Arc::clone(self);
        (id, move || tracker.callback_ran(id, &snap))
    }

    fn callback_ran(&self, id: u64, snap: &Snapshot) {
        let mut g = self.lock();
        g.callback_runs[id as usize] += 1;
        let runs = g.callback_runs[id as usize];
        if runs > 1 {
            g.violations.push(format!("callback {id} ran {runs} times"));
        }
        let alive: Vec<u64> = snap.intersection(&g.active).copied().collect();
        if !alive.is_empty() {
            g.violations.push(format!(
                "callback {id} ran while sections {alive:?} that began before it are active"
            ));
        }
    }

    /// Callbacks queued so far.
    pub fn callbacks_queued(&self) -> usize {
        self.lock().callback_runs.len()
    }

    /// The callbacks among the first `n` that have not run exactly once.
    pub fn callbacks_not_run_once(&self, n: usize) -> Vec<(usize, u32)> {
        let g = self.lock();
        g.callback_runs[..n]
            .iter()
            .enumerate()
            .filter(|(_, runs)| **runs != 1)
            .map(|(i, runs)| (i, *runs))
            .collect()
    }

    /// Values created but not dropped exactly once.
    pub fn values_not_dropped_once(&self) -> Vec<(u64, u32)> {
        let g = self.lock();
        (1..=g.next_value)
            .map(|id| (id, g.drops.get(&id).copied().unwrap_or(0)))
            .filter(|(_, n)| *n != 1)
            .collect()
    }
}

/// A value whose drop checks that no section that could still see it is active.
#[derive(Debug)]
pub struct Tracked {
    /// The value's id.
    pub id: u64,
    tracker: Arc<Tracker>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.tracker.dropped(self.id);
    }
}
