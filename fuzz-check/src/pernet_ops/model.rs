//! The sequential reference model of one registry in manual cleanup mode.
//!
//! It has three parts:
//!
//! - **Pairing** ([`Model::observe`]): every recorded callback drives a state machine per
//!   `(ops, net)` pair: `init` (ok or failed), then one `pre_exit`, one `exit` (the callback
//!   itself checks a grace period since its `pre_exit`), then the ops' `exit_batch`. Anything
//!   out of order is a finding at once, whatever runs concurrently.
//! - **Exact predictions** for an operation that runs alone (no other thread in the registry):
//!   its result and its whole callback sequence ([`Model::expect_copy`] and friends), in list
//!   order for inits and in reverse for every undo.
//! - **State** (registered ops in list order, namespaces with their reference counts, nsid
//!   tables), compared with the registry whenever every thread is idle (`check_quiescent` in
//!   the driver).

use std::collections::{BTreeMap, HashMap, HashSet};

use netns_core::NetError;

use super::recording::{Event, Phase, Spec};

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
