//! Shared test helpers: pernet operations that record every callback in one event log.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use netns_core::{CLONE_NEWNET, CleanupMode, Net, NetError, NetNs, PernetOperations, Registry};
use rcu::Domain;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Init,
    PreExit,
    Exit,
    ExitBatch,
}

/// One callback, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub ops: &'static str,
    pub kind: Kind,
    /// The namespace's cookie (0 for exit_batch).
    pub net: u64,
    /// For exit_batch: the cookies of the batch.
    pub batch: Vec<u64>,
    /// The registry's grace-period count when the callback ran.
    pub grace_periods: u64,
}

/// The shared log plus a way for callbacks to read the registry's counters.
#[derive(Clone, Default)]
pub struct Log {
    events: Arc<Mutex<Vec<Event>>>,
    registry: Arc<OnceLock<Weak<Registry>>>,
}

impl Log {
    pub fn attach(&self, registry: &Arc<Registry>) {
        let _ = self.registry.set(Arc::downgrade(registry));
    }

    fn grace_periods(&self) -> u64 {
        self.registry
            .get()
            .and_then(Weak::upgrade)
            .map_or(0, |registry| registry.stats().grace_periods)
    }

    fn push(&self, ops: &'static str, kind: Kind, net: u64, batch: Vec<u64>) {
        let grace_periods = self.grace_periods();
        self.events.lock().unwrap().push(Event {
            ops,
            kind,
            net,
            batch,
            grace_periods,
        });
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    pub fn snapshot(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

/// Per-namespace data of [`Rec`]: remembers the namespace it was created for.
#[derive(Default, Debug)]
pub struct RecData {
    pub cookie: AtomicU64,
    pub inits: AtomicUsize,
}

type Hook = Box<dyn Fn(Kind, &NetNs) + Send + Sync>;

/// Pernet operations that log every callback, can fail `init` on chosen namespaces, and run a
/// hook inside each callback.
pub struct Rec {
    pub name: &'static str,
    pub log: Log,
    pub fail_on: Mutex<HashSet<u64>>,
    pub fail_all: std::sync::atomic::AtomicBool,
    pub hook: Option<Hook>,
}

impl Rec {
    pub fn new(name: &'static str, log: &Log) -> Arc<Rec> {
        Arc::new(Self::plain(name, log))
    }

    pub fn plain(name: &'static str, log: &Log) -> Rec {
        Rec {
            name,
            log: log.clone(),
            fail_on: Mutex::new(HashSet::new()),
            fail_all: std::sync::atomic::AtomicBool::new(false),
            hook: None,
        }
    }

    pub fn with_hook(
        name: &'static str,
        log: &Log,
        hook: impl Fn(Kind, &NetNs) + Send + Sync + 'static,
    ) -> Arc<Rec> {
        Arc::new(Rec {
            hook: Some(Box::new(hook)),
            ..Self::plain(name, log)
        })
    }

    pub fn fail_init_on(&self, cookie: u64) {
        self.fail_on.lock().unwrap().insert(cookie);
    }

    fn run_hook(&self, kind: Kind, net: &NetNs) {
        if let Some(hook) = &self.hook {
            hook(kind, net);
        }
    }
}

impl PernetOperations for Rec {
    type Data = RecData;

    fn name(&self) -> &str {
        self.name
    }

    fn init(&self, net: &NetNs, data: &RecData) -> Result<(), NetError> {
        self.log
            .push(self.name, Kind::Init, net.cookie(), Vec::new());
        self.run_hook(Kind::Init, net);
        if self.fail_all.load(Ordering::Relaxed)
            || self.fail_on.lock().unwrap().contains(&net.cookie())
        {
            return Err(NetError::Errno(95));
        }
        data.cookie.store(net.cookie(), Ordering::Relaxed);
        data.inits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn pre_exit(&self, net: &NetNs, data: &RecData) {
        assert_eq!(
            data.cookie.load(Ordering::Relaxed),
            net.cookie(),
            "data of another net"
        );
        self.log
            .push(self.name, Kind::PreExit, net.cookie(), Vec::new());
        self.run_hook(Kind::PreExit, net);
    }

    fn exit(&self, net: &NetNs, data: &RecData) {
        assert_eq!(
            data.cookie.load(Ordering::Relaxed),
            net.cookie(),
            "data of another net"
        );
        self.log
            .push(self.name, Kind::Exit, net.cookie(), Vec::new());
        self.run_hook(Kind::Exit, net);
    }

    fn exit_batch(&self, batch: &[(&NetNs, &RecData)]) {
        let cookies = batch.iter().map(|(net, _)| net.cookie()).collect();
        self.log.push(self.name, Kind::ExitBatch, 0, cookies);
        if let Some((net, _)) = batch.first() {
            self.run_hook(Kind::ExitBatch, net);
        }
    }
}

/// A manual-cleanup registry in an `Arc`, with `log` attached.
pub fn manual_registry(log: &Log) -> Arc<Registry> {
    let registry = Arc::new(
        Registry::builder()
            .cleanup_mode(CleanupMode::Manual)
            .build(),
    );
    log.attach(&registry);
    registry
}

/// A new namespace created with the registry's `init_cred` (uid 0 in its initial user namespace).
pub fn new_net(registry: &Registry) -> Net {
    registry
        .copy_net_ns(CLONE_NEWNET, registry.init_cred(), &registry.init_net())
        .expect("copy_net_ns")
}

/// Events of `kind` (optionally of one ops), as (ops, net) pairs.
pub fn of_kind(events: &[Event], kind: Kind) -> Vec<(&'static str, u64)> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.ops, e.net))
        .collect()
}

/// The ops names of the events of `kind`, in order.
pub fn ops_order(events: &[Event], kind: Kind) -> Vec<&'static str> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.ops)
        .collect()
}

/// A domain cookie helper: whether a grace period has passed since `cookie`.
pub fn passed(domain: &Domain, cookie: rcu::Cookie) -> bool {
    domain.poll(cookie)
}
