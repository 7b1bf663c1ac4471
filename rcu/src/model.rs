//! The protocol as loom sees it (`--cfg loom` only; not part of the public API).
//!
//! Loom cannot run the thread-local lookup or membarrier, so models drive the same reader
//! records, grace-period driver and callback queue that `Domain` uses, with explicit records
//! and the fence fallback. Each fault switch breaks one step on purpose, so every model has a
//! twin that loom must catch.

use crate::callbacks::{CallbackQueue, GraceSource, Overflow};
use crate::gp::{GpDriver, RecordList, WaitPolicy};
use crate::protocol::{Faults, ReaderShared, Record};
use crate::sync::{Arc, Mutex, Ordering, lock};
use crossbeam_utils::CachePadded;
use std::marker::PhantomData;

/// Which step to break.
#[derive(Clone, Copy, Debug, Default)]
pub struct ModelFaults {
    /// Grace periods do not wait for readers.
    pub skip_wait: bool,
    /// Grace periods flip and wait once instead of twice.
    pub single_flip: bool,
    /// Cookies accept the end of a grace period already running.
    pub early_cookie: bool,
    /// `barrier` returns once its callbacks are taken, before they have run.
    pub barrier_ignores_running: bool,
    /// A parking grace period does not ask readers to wake it.
    pub no_wake_flag: bool,
}

/// One domain's protocol state, without thread-local lookup.
#[derive(Debug)]
pub struct ModelDomain {
    shared: ReaderShared,
    records: RecordList,
    gp: GpDriver,
    queue: CallbackQueue,
}

/// One reader's record.
#[derive(Debug)]
pub struct ModelReader {
    domain: Arc<ModelDomain>,
    record: Arc<CachePadded<Record>>,
}

impl ModelDomain {
    /// A domain in fence mode (loom cannot model membarrier).
    pub fn new(faults: ModelFaults) -> Arc<Self> {
        let f = Faults {
            skip_wait: faults.skip_wait,
            single_flip: faults.single_flip,
            early_cookie: faults.early_cookie,
            barrier_ignores_running: faults.barrier_ignores_running,
            no_wake_flag: faults.no_wake_flag,
        };
        Arc::new(Self {
            shared: ReaderShared::new(true, (0, 1)),
            records: Mutex::new(Vec::new()),
            gp: GpDriver::new(f),
            queue: CallbackQueue::new(1 << 20, Overflow::Help, f),
        })
    }

    /// Registers a reader record (what the thread-local slow path does).
    pub fn reader(this: &Arc<Self>) -> ModelReader {
        let record = Arc::new(CachePadded::new(Record::new(&this.shared, 1)));
        record.claimed.store(true, Ordering::Relaxed);
        lock(&this.records).push(record.clone());
        ModelReader {
            domain: this.clone(),
            record,
        }
    }

    fn policy(&self) -> WaitPolicy<'_> {
        WaitPolicy {
            expedited: false,
            _marker: PhantomData,
        }
    }

    /// `read_owned` (`srcu_down_read`); returns the phase index for [`Self::up_read`].
    pub fn down_read(&self) -> usize {
        self.shared.down_read()
    }

    /// Ends an owned section (`srcu_up_read`).
    pub fn up_read(&self, phase: usize) {
        self.shared.up_read(phase);
    }

    /// `synchronize`.
    pub fn synchronize(&self) {
        self.gp.wait_for(
            self.gp.snapshot(),
            &self.shared,
            &self.records,
            &self.policy(),
        );
    }

    /// `get_state`.
    pub fn get_state(&self) -> u64 {
        self.gp.snapshot()
    }

    /// `poll`.
    pub fn poll(&self, cookie: u64) -> bool {
        self.gp.done(cookie)
    }

    /// `cond_synchronize`.
    pub fn cond_synchronize(&self, cookie: u64) {
        self.gp
            .wait_for(cookie, &self.shared, &self.records, &self.policy());
    }

    /// `call`.
    pub fn call(&self, f: impl FnOnce() + Send + 'static) {
        self.queue.push(Box::new(f), self, &|| true);
    }

    /// `barrier`.
    pub fn barrier(&self) {
        self.queue.barrier();
    }

    /// Runs the worker loop until [`Self::shutdown`] and an empty queue.
    pub fn run_worker(&self) {
        self.queue.worker_loop(self);
    }

    /// Tells the worker to finish.
    pub fn shutdown(&self) {
        self.queue.shutdown();
    }
}

impl GraceSource for ModelDomain {
    fn cookie(&self) -> u64 {
        self.gp.snapshot()
    }
    fn wait(&self, cookie: u64) {
        self.cond_synchronize(cookie);
    }
    fn reached(&self, cookie: u64) -> bool {
        self.gp.done(cookie)
    }
}

impl ModelReader {
    /// `read_lock`.
    pub fn lock(&self) {
        self.domain.shared.read_lock(&self.record);
    }

    /// `read_unlock`.
    pub fn unlock(&self) {
        self.record.read_unlock();
    }
}
