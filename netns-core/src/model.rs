//! A sequential reference model of a registry and recording pernet operations, for fuzzing
//! and deterministic tests (feature `model`; not part of the stable API).
//!
//! [`RecordingOps`] records every callback into a shared [`Log`] as it returns, fails or panics
//! on the init call it is told to, stops at gates a driver opens and closes (which is how a test
//! holds a namespace mid-setup or mid-teardown), and checks inside `exit` that a grace period of
//! the registry's domain has elapsed since its `pre_exit`.
//!
//! [`Model`] has three parts:
//!
//! - **Pairing** ([`Model::observe`]): every recorded callback drives a state machine per
//!   `(ops, net)` pair: `init` (ok or failed), then one `pre_exit`, one `exit`, then the ops'
//!   `exit_batch`. Anything out of order is a finding at once, whatever runs concurrently.
//! - **Exact predictions** for an operation that runs alone ([`Model::expect_copy`],
//!   [`Model::expect_register`], [`Model::expect_unregister`], [`Model::expect_cleanup`]): its
//!   result and its whole callback sequence, inits in list order and every undo in reverse.
//! - **State**: registered ops in list order, namespaces with their reference counts, the list,
//!   nsid tables, for a driver to compare with the registry whenever nothing runs.
//!
//! The driver that runs schedules on threads against a [`Registry`](crate::Registry) in
//! [`CleanupMode::Manual`](crate::CleanupMode::Manual) and the fuzz targets are in the
//! workspace's `fuzz-check` crate and `fuzz/` folder.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rcu::{Cookie, Domain};

use crate::{NetError, NetNs, PernetOperations};

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

// ---------------------------------------------------------------------------------------------
// The model.

/// Where an `(ops, net)` pair is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pair {
    /// `init` failed: no teardown callback may follow.
    Failed,
    /// `init` succeeded.
    Inited,
    /// `pre_exit` ran.
    PreExited,
    /// `exit` ran.
    Exited,
    /// The ops' `exit_batch` covered this namespace: the pair is finished.
    Batched,
}

/// One namespace the model knows.
#[derive(Clone, Debug, Default)]
pub struct NetModel {
    /// Active references the driver holds.
    pub refs: usize,
    /// `cleanup_net` dismantled it.
    pub cleaned: bool,
    /// The ids it gave its peers.
    pub nsids: BTreeMap<i32, u64>,
    /// `init_net`: never dies, not counted as live.
    pub init: bool,
}

/// The model.
#[derive(Debug, Default)]
pub struct Model {
    /// Registered subsys ops, in registration order.
    pub subsys: Vec<u64>,
    /// Registered device ops, in registration order.
    pub device: Vec<u64>,
    /// Every ops instance's behaviour.
    pub specs: HashMap<u64, Spec>,
    /// `init` calls each instance has had.
    pub inits: HashMap<u64, u32>,
    /// `init_net` and every namespace created (cookie order is creation order).
    pub nets: BTreeMap<u64, NetModel>,
    /// The namespace list (cookies), as far as the model knows its order.
    pub list: Vec<u64>,
    /// Pair states.
    pub pairs: HashMap<(u64, u64), Pair>,
    /// Namespaces a completed `cleanup_net` must have dismantled.
    pub must_be_cleaned: HashSet<u64>,
    /// Successful creations.
    pub created: u64,
    /// Failed creations (any error but `WouldBlock`, interrupted waits included).
    pub setup_failures: u64,
}

impl Model {
    /// A registry with only `init_net` (cookie `init_net`) on its list.
    pub fn new(init_net: u64) -> Self {
        let mut m = Model::default();
        m.nets.insert(
            init_net,
            NetModel {
                refs: 1,
                init: true,
                ..NetModel::default()
            },
        );
        m.list.push(init_net);
        m
    }

    /// The ops list: subsys then device ops.
    pub fn ops_list(&self) -> Vec<u64> {
        self.subsys.iter().chain(&self.device).copied().collect()
    }

    /// Whether instance `id` is registered.
    pub fn registered(&self, id: u64) -> bool {
        self.subsys.contains(&id) || self.device.contains(&id)
    }

    /// Namespaces on the list whose count reached zero (queued for cleanup).
    pub fn queued(&self) -> Vec<u64> {
        self.list
            .iter()
            .copied()
            .filter(|c| self.nets[c].refs == 0)
            .collect()
    }

    /// Namespaces with active references.
    pub fn live(&self) -> usize {
        self.nets.values().filter(|n| n.refs > 0 && !n.init).count()
    }

    /// Feeds recorded callbacks to the pairing state machine; returns the first violation.
    pub fn observe(&mut self, events: &[Event]) -> Result<(), String> {
        for e in events {
            if e.phase == Phase::Init {
                *self.inits.entry(e.ops).or_insert(0) += 1;
            }
            for &net in &e.nets {
                let key = (e.ops, net);
                let now = self.pairs.get(&key).copied();
                let next = match (e.phase, now) {
                    (Phase::Init, None) if e.ok => Pair::Inited,
                    (Phase::Init, None) => Pair::Failed,
                    (Phase::PreExit, Some(Pair::Inited)) => Pair::PreExited,
                    (Phase::Exit, Some(Pair::PreExited)) => Pair::Exited,
                    (Phase::ExitBatch, Some(Pair::Exited)) => Pair::Batched,
                    _ => {
                        return Err(format!(
                            "{:?} of ops {} on net {net} in state {now:?}",
                            e.phase, e.ops
                        ));
                    }
                };
                self.pairs.insert(key, next);
            }
        }
        Ok(())
    }

    /// The callbacks of `ops_undo_list(ops, nets)`: over `ops` in reverse every `pre_exit`, then
    /// per ops in reverse every `exit` and one `exit_batch`.
    fn undo(ops: &[u64], nets: &[u64], out: &mut Vec<Event>) {
        for &x in ops.iter().rev() {
            for &n in nets {
                out.push(event(x, Phase::PreExit, vec![n], true));
            }
        }
        for &x in ops.iter().rev() {
            for &n in nets {
                out.push(event(x, Phase::Exit, vec![n], true));
            }
            out.push(event(x, Phase::ExitBatch, nets.to_vec(), true));
        }
    }

    /// Whether instance `x`'s next init fails, counting the calls predicted so far in `extra`.
    fn next_init_fails(&self, x: u64, extra: &mut HashMap<u64, u32>) -> bool {
        let e = extra.entry(x).or_insert(0);
        *e += 1;
        self.inits.get(&x).copied().unwrap_or(0) + *e == self.specs[&x].fail_nth
    }

    /// `copy_net_ns` run alone, creating namespace `cookie`: the result and the callbacks.
    pub fn expect_copy(&self, cookie: u64) -> (Result<(), NetError>, Vec<Event>) {
        let list = self.ops_list();
        let mut out = Vec::new();
        let mut extra = HashMap::new();
        for (k, &x) in list.iter().enumerate() {
            if self.next_init_fails(x, &mut extra) {
                out.push(event(x, Phase::Init, vec![cookie], false));
                Self::undo(&list[..k], &[cookie], &mut out);
                return (Err(self.specs[&x].error()), out);
            }
            out.push(event(x, Phase::Init, vec![cookie], true));
        }
        (Ok(()), out)
    }

    /// Records the outcome of a `copy_net_ns` (alone or not).
    pub fn apply_copy(&mut self, result: &Result<u64, NetError>) {
        match result {
            Ok(cookie) => {
                self.created += 1;
                self.nets.insert(
                    *cookie,
                    NetModel {
                        refs: 1,
                        ..NetModel::default()
                    },
                );
                self.list.push(*cookie);
            }
            Err(NetError::WouldBlock) => {}
            Err(_) => self.setup_failures += 1,
        }
    }

    /// `register_pernet_*` of a new instance run alone: the result and the callbacks.
    /// The instance's spec must be known ([`Model::add_spec`]).
    pub fn expect_register(&self, x: u64) -> (Result<(), NetError>, Vec<Event>) {
        let spec = self.specs[&x];
        let nets = self.list.clone();
        let mut out = Vec::new();
        let mut extra = HashMap::new();
        for (k, &n) in nets.iter().enumerate() {
            if self.next_init_fails(x, &mut extra) {
                out.push(event(x, Phase::Init, vec![n], false));
                Self::undo(&[x], &nets[..k], &mut out);
                return (Err(spec.error()), out);
            }
            out.push(event(x, Phase::Init, vec![n], true));
        }
        (Ok(()), out)
    }

    /// Makes instance `x` known, before its first registration.
    pub fn add_spec(&mut self, x: u64, spec: Spec) {
        self.specs.insert(x, spec);
    }

    /// Records the outcome of a registration (alone or not).
    pub fn apply_register(&mut self, x: u64, ok: bool) {
        let spec = self.specs[&x];
        if ok {
            if spec.device {
                self.device.push(x);
            } else {
                self.subsys.push(x);
            }
        }
    }

    /// `unregister_pernet_*` run alone: the callbacks.
    pub fn expect_unregister(&self, x: u64) -> Vec<Event> {
        let mut out = Vec::new();
        Self::undo(&[x], &self.list, &mut out);
        out
    }

    /// Records a successful unregistration.
    pub fn apply_unregister(&mut self, x: u64) {
        self.subsys.retain(|&o| o != x);
        self.device.retain(|&o| o != x);
    }

    /// `cleanup_net` run alone: the number dismantled and the callbacks.
    pub fn expect_cleanup(&self) -> (usize, Vec<Event>) {
        let queued = self.queued();
        let mut out = Vec::new();
        if !queued.is_empty() {
            Self::undo(&self.ops_list(), &queued, &mut out);
        }
        (queued.len(), out)
    }

    /// Marks `cookie` dismantled: off the list, its ids forgotten by every survivor.
    pub fn clean(&mut self, cookie: u64) {
        self.list.retain(|&c| c != cookie);
        let net = self.nets.get_mut(&cookie).expect("known namespace");
        net.cleaned = true;
        net.nsids.clear();
        for other in self.nets.values_mut() {
            other.nsids.retain(|_, peer| *peer != cookie);
        }
    }

    /// `peernet2id_alloc(a, b)` with no cleanup in flight: the id, allocating the lowest free.
    pub fn peernet2id_alloc(&mut self, a: u64, b: u64) -> Option<i32> {
        // The kernel's order: a dying namespace assigns nothing; an existing id is returned
        // even for a dying peer; a new one is never given to a dying peer.
        if self.nets[&a].refs == 0 {
            return None;
        }
        if let Some((&id, _)) = self.nets[&a].nsids.iter().find(|(_, p)| **p == b) {
            return Some(id);
        }
        if self.nets[&b].refs == 0 {
            return None;
        }
        let table = &mut self.nets.get_mut(&a).expect("known").nsids;
        let id = (0..)
            .find(|i| !table.contains_key(i))
            .expect("an id is free");
        table.insert(id, b);
        Some(id)
    }

    /// `get_net_ns_by_id(a, id)` with no cleanup in flight: the peer, if it is not dying.
    pub fn get_net_ns_by_id(&self, a: u64, id: i32) -> Option<u64> {
        let peer = *self.nets[&a].nsids.get(&id)?;
        (self.nets[&peer].refs > 0).then_some(peer)
    }
}

fn event(ops: u64, phase: Phase, mut nets: Vec<u64>, ok: bool) -> Event {
    nets.sort_unstable();
    Event {
        ops,
        phase,
        nets,
        ok,
    }
}

/// Groups consecutive events of the same ops, phase and outcome, merging their namespaces, so
/// that sequences compare without depending on the order of namespaces inside one loop.
pub fn grouped(events: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in events {
        match out.last_mut() {
            Some(last)
                if last.ops == e.ops
                    && last.phase == e.phase
                    && last.ok == e.ok
                    && e.phase != Phase::ExitBatch =>
            {
                last.nets.extend(&e.nets);
                last.nets.sort_unstable();
            }
            _ => out.push(e.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ops: u64, phase: Phase, nets: &[u64], ok: bool) -> Event {
        event(ops, phase, nets.to_vec(), ok)
    }

    #[test]
    fn pairing_accepts_the_lifecycle_and_rejects_anything_out_of_order() {
        let mut m = Model::default();
        let life = [
            ev(1, Phase::Init, &[7], true),
            ev(1, Phase::PreExit, &[7], true),
            ev(1, Phase::Exit, &[7], true),
            ev(1, Phase::ExitBatch, &[7], true),
        ];
        assert_eq!(m.observe(&life), Ok(()));
        assert_eq!(m.pairs[&(1, 7)], Pair::Batched);
        assert!(m.observe(&[ev(1, Phase::Exit, &[7], true)]).is_err());
        assert!(m.observe(&[ev(2, Phase::Init, &[7], false)]).is_ok());
        assert!(m.observe(&[ev(2, Phase::PreExit, &[7], true)]).is_err());
        assert!(m.observe(&[ev(3, Phase::Exit, &[8], true)]).is_err());
    }

    #[test]
    fn a_failing_init_predicts_the_reverse_undo_of_the_ops_before_it() {
        let mut m = Model::new(1);
        for (x, fail_nth) in [(10, 0), (11, 1)] {
            let spec = Spec {
                slot: 0,
                device: false,
                fail_nth,
                panic: false,
            };
            m.add_spec(x, spec);
            m.subsys.push(x);
        }
        let (result, events) = m.expect_copy(5);
        assert_eq!(result, Err(NetError::Errno(100)));
        let want = [
            ev(10, Phase::Init, &[5], true),
            ev(11, Phase::Init, &[5], false),
            ev(10, Phase::PreExit, &[5], true),
            ev(10, Phase::Exit, &[5], true),
            ev(10, Phase::ExitBatch, &[5], true),
        ];
        assert_eq!(events, want);
    }
}
