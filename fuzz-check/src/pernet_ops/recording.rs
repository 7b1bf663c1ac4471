//! Pernet operations that record every callback into a shared [`Log`], fail or panic on
//! command, stop at driver-controlled gates, and check the grace period between `pre_exit` and
//! `exit` themselves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use netns_core::{NetError, NetNs, PernetOperations};
use rcu::{Cookie, Domain};

/// The panic message of an `init` told to panic; the fuzz panic hook stays quiet for it.
pub const PLANNED_PANIC: &str = "pernet_ops: planned init panic";

/// Ops slots the driver uses.
pub const SLOTS: usize = 4;

/// A callback kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// `init`.
    Init,
    /// `pre_exit`.
    PreExit,
    /// `exit`.
    Exit,
    /// `exit_batch`.
    ExitBatch,
}

/// One callback, as recorded when it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The ops instance.
    pub ops: u64,
    /// The callback.
    pub phase: Phase,
    /// The namespace cookies (one, or the batch of `exit_batch`, sorted).
    pub nets: Vec<u64>,
    /// `init` succeeded (always true for the other phases).
    pub ok: bool,
}

/// Which gates are closed: per slot, per phase (`Init`, `PreExit`, `Exit`).
type Gates = [[bool; 3]; SLOTS];

/// The shared record of callbacks, findings and gates.
#[derive(Debug, Default)]
pub struct Log {
    events: Mutex<Vec<Event>>,
    violations: Mutex<Vec<String>>,
    gates: Mutex<Gates>,
    opened: Condvar,
    /// The grace-period cookie taken at each `(ops, net)` pre_exit.
    pre_exit_cookies: Mutex<HashMap<(u64, u64), Cookie>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The longest a callback waits at a gate: a gate left closed is a driver bug, not a hang.
const GATE_BOUND: Duration = Duration::from_secs(30);

impl Log {
    /// Events from index `from` on.
    pub fn events_since(&self, from: usize) -> Vec<Event> {
        lock(&self.events)[from..].to_vec()
    }

    /// The number of events so far.
    pub fn len(&self) -> usize {
        lock(&self.events).len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Findings made inside callbacks.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }

    fn violation(&self, what: String) {
        lock(&self.violations).push(what);
    }

    fn record(&self, ops: u64, phase: Phase, mut nets: Vec<u64>, ok: bool) {
        nets.sort_unstable();
        lock(&self.events).push(Event {
            ops,
            phase,
            nets,
            ok,
        });
    }

    /// Closes or opens the gate of `slot` for `phase` (`Init`, `PreExit` or `Exit`).
    pub fn set_gate(&self, slot: usize, phase: Phase, closed: bool) {
        let i = match phase {
            Phase::Init => 0,
            Phase::PreExit => 1,
            _ => 2,
        };
        lock(&self.gates)[slot][i] = closed;
        self.opened.notify_all();
    }

    /// Opens every gate.
    pub fn open_all(&self) {
        *lock(&self.gates) = Gates::default();
        self.opened.notify_all();
    }

    /// Whether any gate is closed.
    pub fn any_gate_closed(&self) -> bool {
        lock(&self.gates).iter().flatten().any(|c| *c)
    }

    fn pass_gate(&self, slot: usize, i: usize) {
        let deadline = Instant::now() + GATE_BOUND;
        let mut gates = lock(&self.gates);
        while gates[slot][i] {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "pernet_ops: a gate was never opened");
            gates = self
                .opened
                .wait_timeout(gates, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// How a registered ops behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The driver slot (gates are per slot).
    pub slot: usize,
    /// Registered with `register_pernet_device` rather than `_subsys`.
    pub device: bool,
    /// The `init` call (counting from 1, over this instance's life) that fails; 0 for none.
    pub fail_nth: u32,
    /// The failing `init` panics instead of returning an error.
    pub panic: bool,
}

impl Spec {
    /// The error a failing `init` of this spec returns.
    pub fn error(&self) -> NetError {
        if self.panic {
            NetError::CallbackPanicked
        } else {
            NetError::Errno(100 + self.slot as i32)
        }
    }
}

/// Per-namespace private data: which ops initialised it for which namespace.
#[derive(Debug, Default)]
pub struct Payload {
    /// The ops instance id, set by `init`.
    pub ops: AtomicU64,
    /// The namespace cookie, set by `init`.
    pub net: AtomicU64,
}

/// A recording pernet ops.
#[derive(Debug)]
pub struct RecordingOps {
    /// Unique among the instances of a run.
    pub id: u64,
    /// Its behaviour.
    pub spec: Spec,
    inits: AtomicU32,
    log: Arc<Log>,
    domain: Domain,
}

impl RecordingOps {
    /// An instance recording into `log`, checking grace periods of `domain` (the registry's).
    pub fn new(id: u64, spec: Spec, log: &Arc<Log>, domain: &Domain) -> Self {
        RecordingOps {
            id,
            spec,
            inits: AtomicU32::new(0),
            log: Arc::clone(log),
            domain: domain.clone(),
        }
    }
}

impl PernetOperations for RecordingOps {
    type Data = Payload;

    fn name(&self) -> &str {
        "recording"
    }

    fn init(&self, net: &NetNs, data: &Payload) -> Result<(), NetError> {
        self.log.pass_gate(self.spec.slot, 0);
        let n = self.inits.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = n == self.spec.fail_nth;
        self.log
            .record(self.id, Phase::Init, vec![net.cookie()], !fail);
        if fail {
            if self.spec.panic {
                std::panic::panic_any(PLANNED_PANIC);
            }
            return Err(self.spec.error());
        }
        data.ops.store(self.id, Ordering::SeqCst);
        data.net.store(net.cookie(), Ordering::SeqCst);
        Ok(())
    }

    fn pre_exit(&self, net: &NetNs, data: &Payload) {
        self.log.pass_gate(self.spec.slot, 1);
        self.check_data(net, data, "pre_exit");
        lock(&self.log.pre_exit_cookies).insert((self.id, net.cookie()), self.domain.get_state());
        self.log
            .record(self.id, Phase::PreExit, vec![net.cookie()], true);
    }

    fn exit(&self, net: &NetNs, data: &Payload) {
        self.log.pass_gate(self.spec.slot, 2);
        self.check_data(net, data, "exit");
        let cookie = lock(&self.log.pre_exit_cookies).remove(&(self.id, net.cookie()));
        match cookie {
            None => self.log.violation(format!(
                "exit of ops {} on net {} without a pre_exit before it",
                self.id,
                net.cookie()
            )),
            Some(c) if !self.domain.poll(c) => self.log.violation(format!(
                "exit of ops {} on net {} with no grace period since its pre_exit",
                self.id,
                net.cookie()
            )),
            Some(_) => {}
        }
        self.log
            .record(self.id, Phase::Exit, vec![net.cookie()], true);
    }

    fn exit_batch(&self, batch: &[(&NetNs, &Payload)]) {
        let nets = batch.iter().map(|(net, _)| net.cookie()).collect();
        self.log.record(self.id, Phase::ExitBatch, nets, true);
    }
}

impl RecordingOps {
    fn check_data(&self, net: &NetNs, data: &Payload, phase: &str) {
        let (ops, owner) = (
            data.ops.load(Ordering::SeqCst),
            data.net.load(Ordering::SeqCst),
        );
        if ops != self.id || owner != net.cookie() {
            self.log.violation(format!(
                "{phase} of ops {} on net {} sees private data of ops {ops}, net {owner}",
                self.id,
                net.cookie()
            ));
        }
    }
}

/// Installs (once) a panic hook that stays quiet for [`PLANNED_PANIC`] and defers to the
/// previous hook (libFuzzer's abort, or the test harness's report) for anything else.
pub fn quiet_planned_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() == Some(&PLANNED_PANIC) {
                return;
            }
            previous(info);
        }));
    });
}
