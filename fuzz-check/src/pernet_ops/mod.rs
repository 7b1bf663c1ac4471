//! `pernet_ops`: schedules of registrations, namespace creation and destruction, reference
//! handling, nsids, private-data reads, cleanup steps and barriers on one [`Registry`] in
//! [`CleanupMode::Manual`], run on real threads and checked after every step.
//!
//! Up to four logical threads run the operations that can wait (`register_pernet_*`,
//! `unregister_pernet_*`, `copy_net_ns`, `cleanup_net`, `net_ns_barrier`); the others (clone and
//! drop of [`Net`] handles, `maybe_get_net`, `peernet2id_alloc`, `get_net_ns_by_id`,
//! `net_generic`) run on the driver. Ops callbacks stop at driver-controlled gates, which is how
//! a schedule holds a namespace mid-setup or mid-teardown while another thread registers, and a
//! kill aborts a creator queued behind a registration. An operation that waits is seen asleep
//! and the driver moves on; once every gate is open, every waiting operation must finish within
//! the bound.
//!
//! Checks (the model and recording ops of `netns_core::model`, feature `model`): the pairing
//! state machine on every callback as it happens (with the grace period between `pre_exit` and
//! `exit` checked inside the callback); the exact result and callback sequence of every
//! operation that ran alone; and, whenever every thread is idle, the namespace list, the
//! counters, the pairs, the reference counts, the private data and the
//! nsid tables against the model. At the end every gate opens, every handle drops, cleanup
//! runs until the list is empty, every ops is unregistered, and all counts must be zero.
//!
//! Not covered yet:
//! - TODO(#7): read sections of the registry's domain held across steps (a list walk or a
//!   `net_generic` reader parked mid-read), so that a grace period that does not wait for
//!   readers shows up here too; today `rcu_ops` alone checks the RCU core.
//! - TODO(#7): the `try_*` variants, [`LockMode::Exclusive`](netns_core::LockMode), the
//!   cleanup-backlog bound and `max_net_namespaces` limits (`NoSpace`) are not in the schedule
//!   alphabet; the registry always runs in its default shared lock mode with no limits.

mod op;
pub mod seeds;
mod thread;

pub use op::Op;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::channel;

use netns_core::{CleanupMode, Net, NetError, NetGenericId, PassiveNet, Registry, RegistryBuilder};
use rwsem::KillHandle;

use crate::harness::{BOUND, Settled, Worker};
use crate::schedule::{Schedule, pick};
use netns_core::model::{
    Event, Log, Model, PLANNED_PANIC, Pair, Payload, Phase, RecordingOps, SLOTS, Spec, grouped,
};
use thread::{Cmd, Reply, serve};

/// An operation a thread has in flight.
#[derive(Debug)]
enum Pending {
    Copy,
    Register(u64),
    Unregister(u64),
    /// `cleanup_net` and the namespaces queued when it was called.
    Cleanup(Vec<u64>),
    Barrier,
}

/// The ops in one slot.
#[derive(Debug)]
struct SlotOps {
    ops: Arc<RecordingOps>,
    id: Option<NetGenericId<Payload>>,
    registered: bool,
}

/// Runs the schedule encoded in `data` (the fuzz target's entry point).
pub fn run_bytes(data: &[u8]) {
    run(&Schedule::from_bytes(data));
}

/// Runs `schedule`, panicking with a description of the first divergence from the model.
pub fn run(schedule: &Schedule<Op>) {
    run_with(schedule, Registry::builder());
}

/// Runs `schedule` on a registry built from `builder` (a deliberately broken one, for the
/// checker's own tests); the cleanup mode is always [`CleanupMode::Manual`].
pub fn run_with(schedule: &Schedule<Op>, builder: RegistryBuilder) {
    quiet_planned_panics();
    let registry = Arc::new(
        builder
            .cleanup_mode(CleanupMode::Manual)
            .name("fuzz")
            .build(),
    );
    let mut d = Driver::new(schedule.threads, &registry);
    for (i, step) in schedule.steps.iter().enumerate() {
        let when = format!("step {i} ({:?} on t{})", step.op, step.thread);
        d.step(step.thread, step.op, &when);
        if step.op.may_release_waiters() || !d.any_pending() {
            d.after_step(&when);
        } else {
            // Nothing this step did can let a waiting operation go on: save the settle.
            d.observe(&when);
        }
    }
    d.finish();
}

struct Driver {
    registry: Arc<Registry>,
    log: Arc<Log>,
    model: Model,
    workers: Vec<Worker<Cmd, Reply>>,
    kills: Vec<KillHandle>,
    killed: Vec<bool>,
    pending: Vec<Option<Pending>>,
    slots: Vec<Option<SlotOps>>,
    next_ops: u64,
    /// Active references the driver holds: (cookie, handle).
    handles: Vec<(u64, Net)>,
    /// A passive reference to every namespace ever created.
    passive: BTreeMap<u64, PassiveNet>,
    /// Events fed to the model so far.
    observed: usize,
    /// Namespaces dismantled by cleanups, by their return values.
    cleaned_count: usize,
}

impl Driver {
    fn new(threads: usize, registry: &Arc<Registry>) -> Self {
        let mut workers = Vec::new();
        let mut kills = Vec::new();
        for t in 0..threads {
            let (kill_tx, kill_rx) = channel();
            let registry = Arc::clone(registry);
            workers.push(Worker::spawn(&format!("pernet-t{t}"), move |port| {
                let _ = kill_tx.send(KillHandle::current());
                serve(&registry, &port);
            }));
            kills.push(kill_rx.recv_timeout(BOUND).expect("kill handle"));
        }
        Driver {
            registry: Arc::clone(registry),
            log: Arc::new(Log::default()),
            model: Model::new(registry.init_net().cookie()),
            workers,
            kills,
            killed: vec![false; threads],
            pending: (0..threads).map(|_| None).collect(),
            slots: (0..SLOTS).map(|_| None).collect(),
            next_ops: 0,
            handles: Vec::new(),
            passive: BTreeMap::new(),
            observed: 0,
            cleaned_count: 0,
        }
    }

    fn any_pending(&self) -> bool {
        self.pending.iter().any(Option::is_some)
    }

    fn registration_pending(&self) -> bool {
        self.pending
            .iter()
            .any(|p| matches!(p, Some(Pending::Register(_) | Pending::Unregister(_))))
    }

    fn cleanup_pending(&self) -> bool {
        self.pending
            .iter()
            .any(|p| matches!(p, Some(Pending::Cleanup(_))))
    }

    /// Feeds new callbacks to the pairing state machine.
    fn observe(&mut self, when: &str) {
        let events = self.log.events_since(self.observed);
        self.observed += events.len();
        if let Err(e) = self.model.observe(&events) {
            panic!("{when}: callback out of order: {e}");
        }
        let v = self.log.violations();
        assert!(v.is_empty(), "{when}: {}", v.join("; "));
    }

    fn step(&mut self, t: usize, op: Op, when: &str) {
        match op {
            Op::Kill => {
                self.killed[t] = true;
                self.kills[t].kill();
            }
            Op::ClearKill => {
                self.killed[t] = false;
                self.kills[t].clear();
            }
            Op::Gate(k) => {
                let phase = [Phase::Init, Phase::PreExit, Phase::Exit][usize::from(k >> 2) % 3];
                self.log.set_gate(usize::from(k & 3), phase, true);
            }
            Op::Open => self.log.open_all(),
            Op::Clone(k) if !self.handles.is_empty() => {
                let (c, net) = &self.handles[pick(k, self.handles.len())];
                let (c, net) = (*c, Net::get_net(net));
                self.model.nets.get_mut(&c).expect("known").refs += 1;
                self.handles.push((c, net));
            }
            Op::Drop(k) if !self.handles.is_empty() => {
                let (c, net) = self.handles.remove(pick(k, self.handles.len()));
                self.model.nets.get_mut(&c).expect("known").refs -= 1;
                Net::put_net(net);
            }
            Op::MaybeGet(k) if !self.passive.is_empty() => {
                let (&c, p) = self
                    .passive
                    .iter()
                    .nth(pick(k, self.passive.len()))
                    .unwrap();
                let got = p.maybe_get_net();
                let alive = self.model.nets[&c].refs > 0;
                assert_eq!(got.is_some(), alive, "{when}: maybe_get_net on net {c}");
                if let Some(net) = got {
                    self.model.nets.get_mut(&c).expect("known").refs += 1;
                    self.handles.push((c, net));
                }
            }
            Op::IdAlloc(k) if !self.handles.is_empty() && !self.cleanup_pending() => {
                let (a, net) = &self.handles[pick(k & 15, self.handles.len())];
                let (&b, peer) = self
                    .passive
                    .iter()
                    .nth(pick(k >> 4, self.passive.len()))
                    .unwrap();
                if *a != b {
                    let got = net.peernet2id_alloc(peer);
                    let want = self.model.peernet2id_alloc(*a, b);
                    assert_eq!(got, want, "{when}: peernet2id_alloc({a}, {b})");
                }
            }
            Op::ById(k) if !self.handles.is_empty() && !self.cleanup_pending() => {
                let (a, net) = &self.handles[pick(k & 15, self.handles.len())];
                let id = i32::from(k >> 4);
                let got = net.get_net_ns_by_id(id);
                let want = self.model.get_net_ns_by_id(*a, id);
                assert_eq!(
                    got.as_ref().map(|n| n.cookie()),
                    want,
                    "{when}: get_net_ns_by_id"
                );
                if let Some(n) = got {
                    self.model.nets.get_mut(&n.cookie()).expect("known").refs += 1;
                    self.handles.push((n.cookie(), n));
                }
            }
            Op::Generic(k) if !self.handles.is_empty() && !self.registration_pending() => {
                let (c, _) = self.handles[pick(k >> 2, self.handles.len())];
                self.check_generic(c, usize::from(k & 3), when);
            }
            Op::Copy | Op::Register { .. } | Op::Unregister { .. } | Op::Cleanup | Op::Barrier
                if self.pending[t].is_none() =>
            {
                self.start(t, op, when);
            }
            // The step does not apply: move on.
            _ => {}
        }
    }

    /// Checks `net_generic` of the slot's ops on namespace `c` (which the driver holds).
    fn check_generic(&self, c: u64, slot: usize, when: &str) {
        let Some(s) = &self.slots[slot] else { return };
        let Some(id) = s.id else { return };
        let net = &self.handles.iter().find(|(h, _)| *h == c).expect("held").1;
        let guard = self.registry.domain().read();
        let data = net.net_generic(id, &guard);
        let inited = self.model.pairs.get(&(s.ops.id, c)) == Some(&Pair::Inited);
        let want = s.registered && inited;
        match data {
            Some(p) => {
                assert!(
                    want,
                    "{when}: net_generic of ops {} on net {c} should be empty",
                    s.ops.id
                );
                let (o, n) = (p.ops.load(SEQ), p.net.load(SEQ));
                assert!(
                    o == s.ops.id && n == c,
                    "{when}: net_generic holds ops {o}, net {n}"
                );
            }
            None => assert!(
                !want,
                "{when}: net_generic of ops {} on net {c} is empty",
                s.ops.id
            ),
        }
    }

    /// Sends an operation that may wait to thread `t`.
    fn start(&mut self, t: usize, op: Op, when: &str) {
        let solo = !self.any_pending();
        let (cmd, pending) = match op {
            Op::Copy => (Cmd::Copy, Pending::Copy),
            Op::Register {
                slot,
                device,
                fail_nth,
                panic,
            } => {
                if self.registration_pending() {
                    return;
                }
                let slot = usize::from(slot);
                let ops = match &self.slots[slot] {
                    Some(s) if s.registered => Arc::clone(&s.ops),
                    _ => {
                        self.next_ops += 1;
                        let spec = Spec {
                            slot,
                            device,
                            fail_nth: u32::from(fail_nth),
                            panic,
                        };
                        self.model.add_spec(self.next_ops, spec);
                        let ops = RecordingOps::new(self.next_ops, spec, &self.log, self.domain());
                        let ops = Arc::new(ops);
                        self.slots[slot] = Some(SlotOps {
                            ops: Arc::clone(&ops),
                            id: None,
                            registered: false,
                        });
                        ops
                    }
                };
                let id = ops.id;
                (Cmd::Register(ops), Pending::Register(id))
            }
            Op::Unregister { slot, wrong_kind } => {
                let Some(s) = &self.slots[usize::from(slot)] else {
                    return;
                };
                if self.registration_pending() {
                    return;
                }
                let ops = Arc::clone(&s.ops);
                let id = ops.id;
                (Cmd::Unregister(ops, wrong_kind), Pending::Unregister(id))
            }
            Op::Cleanup => (Cmd::Cleanup, Pending::Cleanup(self.model.queued())),
            Op::Barrier => (Cmd::Barrier, Pending::Barrier),
            _ => unreachable!("only waiting operations are started"),
        };
        let from = self.log.len();
        self.workers[t].send(cmd, when.to_string());
        // With every gate open nothing can hold the operation for long (it may sleep briefly,
        // for a grace period or the RCU worker): wait for it, keeping it exact if it is alone.
        let settled = if self.log.any_gate_closed() {
            self.workers[t].settle()
        } else {
            Settled::Replied(self.workers[t].wait())
        };
        match settled {
            Settled::Replied(reply) => {
                let events = self.log.events_since(from);
                self.finish_op(t, pending, reply, solo.then_some(events.as_slice()), when);
            }
            Settled::Asleep => self.pending[t] = Some(pending),
        }
        self.observe(when);
    }

    fn domain(&self) -> &rcu::Domain {
        self.registry.domain()
    }

    /// Applies a finished operation to the model; `solo` carries its callbacks when it ran
    /// alone, for the exact comparison.
    fn finish_op(
        &mut self,
        t: usize,
        pending: Pending,
        reply: Reply,
        solo: Option<&[Event]>,
        when: &str,
    ) {
        let name = self.workers[t].name().to_string();
        match (pending, reply) {
            (Pending::Copy, Reply::Copy(result)) => {
                let cookie = match (&result, solo) {
                    (Ok(net), _) => Some(net.cookie()),
                    (Err(_), Some(events)) => events.first().map(|e| e.nets[0]),
                    (Err(_), None) => None,
                };
                if let (Some(events), Some(cookie)) = (solo, cookie) {
                    self.observe_before(events.len());
                    let (want, want_events) = self.model.expect_copy(cookie);
                    let got = result.as_ref().map(|_| ()).map_err(Clone::clone);
                    compare(
                        &name,
                        "copy_net_ns",
                        &got,
                        &want,
                        events,
                        &want_events,
                        when,
                    );
                } else if let (Some(_), None) = (solo, cookie) {
                    // Failed with no callback: only a kill, a limit or a backlog can do that.
                    let e = result.as_ref().expect_err("no cookie means an error");
                    assert!(
                        *e == NetError::Interrupted && self.killed[t],
                        "{when}: {name}: copy_net_ns failed with {e:?} and no callback ran"
                    );
                }
                if let Err(NetError::Interrupted) = &result {
                    assert!(self.killed[t], "{when}: {name}: Interrupted without a kill");
                }
                self.model
                    .apply_copy(&result.as_ref().map(|n| n.cookie()).map_err(Clone::clone));
                if let Ok(net) = result {
                    let c = net.cookie();
                    self.passive.insert(c, Net::to_passive(&net));
                    self.handles.push((c, net));
                }
            }
            (Pending::Register(x), Reply::Register(result)) => {
                let already = self.model.registered(x);
                if already {
                    assert_eq!(result, Err(NetError::AlreadyRegistered), "{when}: {name}");
                } else {
                    if let Some(events) = solo {
                        self.observe_before(events.len());
                        let (want, want_events) = self.model.expect_register(x);
                        let got = result.map(|_| ());
                        compare(&name, "register", &got, &want, events, &want_events, when);
                    }
                    let slot = self.model.specs[&x].slot;
                    let s = self.slots[slot].as_mut().expect("slot of a registration");
                    s.registered = result.is_ok();
                    s.id = result.as_ref().ok().copied();
                    self.model.apply_register(x, result.is_ok());
                }
            }
            (Pending::Unregister(x), Reply::Unregister(result, wrong_kind)) => {
                let want = if !self.model.registered(x) {
                    Err(NetError::NotRegistered)
                } else if wrong_kind {
                    Err(NetError::Invalid)
                } else {
                    Ok(())
                };
                if let Some(events) = solo {
                    let want_events = if want.is_ok() {
                        self.model.expect_unregister(x)
                    } else {
                        Vec::new()
                    };
                    compare(
                        &name,
                        "unregister",
                        &result,
                        &want,
                        events,
                        &want_events,
                        when,
                    );
                } else {
                    assert_eq!(result, want, "{when}: {name}: unregister");
                }
                if result.is_ok() {
                    self.model.apply_unregister(x);
                    let slot = self.model.specs[&x].slot;
                    if let Some(s) = self.slots[slot].as_mut() {
                        s.registered = false;
                    }
                }
            }
            (Pending::Cleanup(queued), Reply::Cleanup(n)) => {
                self.cleaned_count += n;
                if let Some(events) = solo {
                    let (want, want_events) = self.model.expect_cleanup();
                    compare(
                        &name,
                        "cleanup_net",
                        &Ok(n),
                        &Ok(want),
                        events,
                        &want_events,
                        when,
                    );
                    for c in self.model.queued() {
                        self.model.clean(c);
                    }
                } else {
                    self.model.must_be_cleaned.extend(queued);
                }
            }
            (Pending::Barrier, Reply::Barrier) => {
                if let Some(events) = solo {
                    assert!(events.is_empty(), "{when}: net_ns_barrier ran callbacks");
                }
            }
            (p, r) => panic!("{when}: {name}: reply {r:?} to {p:?}"),
        }
    }

    /// Feeds the events before the last `n` to the model (those of earlier operations), so that
    /// a prediction starts from the right init counts.
    fn observe_before(&mut self, n: usize) {
        let upto = self.log.len() - n;
        if upto > self.observed {
            let events = self.log.events_since(self.observed);
            let events = &events[..upto - self.observed];
            self.observed = upto;
            if let Err(e) = self.model.observe(events) {
                panic!("callback out of order: {e}");
            }
        }
    }

    /// Settles every operation in flight; with every gate open they must all finish.
    fn settle_pending(&mut self, when: &str) {
        for t in 0..self.workers.len() {
            let Some(_) = &self.pending[t] else { continue };
            let reply = if self.log.any_gate_closed() {
                match self.workers[t].settle() {
                    Settled::Replied(r) => Some(r),
                    Settled::Asleep => None,
                }
            } else {
                Some(self.workers[t].wait())
            };
            if let Some(reply) = reply {
                let pending = self.pending[t].take().expect("checked");
                self.finish_op(t, pending, reply, None, when);
            }
        }
    }

    fn after_step(&mut self, when: &str) {
        self.settle_pending(when);
        self.observe(when);
        if !self.any_pending() {
            self.check_quiescent(when);
        }
    }

    /// With every thread idle, the registry must match the model exactly.
    fn check_quiescent(&mut self, when: &str) {
        let list: Vec<u64> = {
            let guard = self.registry.domain().read();
            self.registry
                .for_each_net_rcu(&guard)
                .map(|n| n.cookie())
                .collect()
        };
        for c in self.model.list.clone() {
            if !list.contains(&c) {
                let refs = self.model.nets[&c].refs;
                assert_eq!(
                    refs, 0,
                    "{when}: net {c} with {refs} references left the list"
                );
                self.model.clean(c);
            }
        }
        for c in &list {
            assert!(
                self.model.list.contains(c),
                "{when}: unknown or dismantled net {c} listed"
            );
        }
        for c in &self.model.must_be_cleaned {
            assert!(
                !list.contains(c),
                "{when}: a finished cleanup_net left queued net {c}"
            );
        }
        self.model.list = list;
        let cleaned = self.model.nets.values().filter(|n| n.cleaned).count();
        assert_eq!(
            self.cleaned_count, cleaned,
            "{when}: cleanup_net return values"
        );

        let s = self.registry.stats();
        let m = &self.model;
        let queued = m.queued().len();
        assert_eq!(s.live, m.live(), "{when}: Stats::live");
        assert_eq!(s.queued, queued, "{when}: Stats::queued");
        assert_eq!(s.dismantling, 0, "{when}: Stats::dismantling");
        assert_eq!(self.registry.backlog(), queued, "{when}: backlog");
        assert_eq!(s.created, m.created, "{when}: Stats::created");
        assert_eq!(s.destroyed, cleaned as u64, "{when}: Stats::destroyed");
        assert_eq!(
            s.setup_failures, m.setup_failures,
            "{when}: Stats::setup_failures"
        );
        assert_eq!(
            s.ops_registered,
            m.ops_list().len(),
            "{when}: Stats::ops_registered"
        );
        assert!(
            !self.registry.pernet_ops_locked(),
            "{when}: pernet_ops_rwsem held while idle"
        );

        // Pairs: every registered ops is set up on every listed net, nothing else is.
        for (&(x, c), &pair) in &m.pairs {
            let should = m.registered(x) && m.list.contains(&c);
            let done = matches!(pair, Pair::Failed | Pair::Batched);
            assert!(
                if should { pair == Pair::Inited } else { done },
                "{when}: ops {x} on net {c} is {pair:?}"
            );
        }
        for &x in &m.ops_list() {
            for &c in &m.list {
                assert!(
                    m.pairs.contains_key(&(x, c)),
                    "{when}: ops {x} never ran init on {c}"
                );
            }
        }
        for (c, net) in &self.handles {
            assert_eq!(
                net.refcount(),
                m.nets[c].refs,
                "{when}: refcount of net {c}"
            );
        }
        let held: Vec<u64> = self.handles.iter().map(|(c, _)| *c).collect();
        for c in held {
            for slot in 0..SLOTS {
                self.check_generic(c, slot, when);
            }
        }
        // nsids: every id the model knows is there, and resolves unless the peer is dying.
        for (&a, na) in &self.model.nets {
            let Some((_, net)) = self.handles.iter().find(|(h, _)| *h == a) else {
                continue;
            };
            for (&id, &peer) in &na.nsids {
                assert_eq!(
                    net.peernet2id(&self.passive[&peer]),
                    Some(id),
                    "{when}: nsid"
                );
                let got = net.get_net_ns_by_id(id).map(|n| n.cookie());
                let alive = self.model.nets[&peer].refs > 0;
                assert_eq!(
                    got,
                    alive.then_some(peer),
                    "{when}: get_net_ns_by_id({a}, {id})"
                );
            }
        }
    }

    /// Opens every gate, lets every operation finish, drops every handle, cleans up until the
    /// list is empty, unregisters every ops; every count must then be zero.
    fn finish(mut self) {
        self.log.open_all();
        self.after_step("the drain");
        for (c, net) in std::mem::take(&mut self.handles) {
            self.model.nets.get_mut(&c).expect("known").refs -= 1;
            drop(net);
        }
        loop {
            let before = self.cleaned_count;
            self.start(0, Op::Cleanup, "the final cleanup");
            self.after_step("the final cleanup");
            if self.cleaned_count == before {
                break;
            }
        }
        for slot in 0..SLOTS {
            if self.slots[slot].as_ref().is_some_and(|s| s.registered) {
                let op = Op::Unregister {
                    slot: slot as u8,
                    wrong_kind: false,
                };
                self.start(0, op, "the final unregistration");
                self.after_step("the final unregistration");
            }
        }
        let s = self.registry.stats();
        assert_eq!(
            (s.live, s.queued, s.dismantling),
            (0, 0, 0),
            "counts at the end: {s:?}"
        );
        assert_eq!(s.ops_registered, 0, "ops left registered: {s:?}");
        assert_eq!(
            self.model.list.len(),
            1,
            "nets left on the list besides init_net"
        );
        for (&(x, c), &pair) in &self.model.pairs {
            assert!(
                matches!(pair, Pair::Failed | Pair::Batched),
                "ops {x} on net {c} ends {pair:?}"
            );
        }
    }
}

const SEQ: std::sync::atomic::Ordering = std::sync::atomic::Ordering::SeqCst;

/// Installs (once) a panic hook that stays quiet for [`PLANNED_PANIC`] (an `init` told to
/// panic) and defers to the previous hook (libFuzzer's abort, or the test harness's report) for
/// anything else.
fn quiet_planned_panics() {
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

/// Compares an operation's result and callbacks with the model's prediction.
fn compare<T: std::fmt::Debug + PartialEq>(
    name: &str,
    what: &str,
    got: &Result<T, NetError>,
    want: &Result<T, NetError>,
    events: &[Event],
    want_events: &[Event],
    when: &str,
) {
    assert_eq!(
        got, want,
        "{when}: {name}: {what} returned differently from the model"
    );
    let (g, w) = (grouped(events), grouped(want_events));
    assert_eq!(
        g, w,
        "{when}: {name}: {what} ran other callbacks than the model predicts"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(name: &str) -> Schedule<Op> {
        let seed = seeds::all()
            .into_iter()
            .find(|s| s.name == name)
            .expect("seed");
        Schedule::from_bytes(&seed.bytes)
    }

    /// The busted twin of the batch grace period: a `cleanup_net` that does not wait between the
    /// pre_exits and the exits must be caught.
    #[test]
    #[should_panic(expected = "with no grace period since its pre_exit")]
    fn a_cleanup_without_its_grace_period_is_caught() {
        let faults = netns_core::hooks::Faults::skip_batch_grace_period();
        run_with(
            &seed("lifecycle-subsys-and-device-order"),
            Registry::builder().faults(faults),
        );
    }

    /// The busted twin: a registry that skips every second `exit` must be caught.
    #[test]
    #[should_panic(expected = "cleanup_net ran other callbacks than the model predicts")]
    fn a_skipped_exit_is_caught() {
        let faults = netns_core::hooks::Faults::skip_every_nth_exit(2);
        run_with(
            &seed("lifecycle-subsys-and-device-order"),
            Registry::builder().faults(faults),
        );
    }
}
