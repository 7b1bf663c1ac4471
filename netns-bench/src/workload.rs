//! The modelled workload: pernet operations shaped like the kernel's, each doing real work, and
//! RCU reader threads whose sections make grace periods as long as the kernel's.
//!
//! # The operations
//!
//! [`KERNEL_OPS`] lists the pernet operations a 6.x kernel with IPv4, IPv6, netfilter and a few
//! tunnels registers, in registration order: subsys operations first, then device operations
//! (`loopback`, `default_device` and the tunnels' fallback devices). For each net an `init`
//! builds what the real subsystem builds, scaled to the size of the kernel's tables:
//!
//! - **sysctl entries** (`sysctls`): one named, tunable value per entry, as the kernel registers
//!   `/proc/sys/net/...` files for every namespace (about 800 in all, like the kernel's);
//! - **hash tables** (`buckets`): zeroed bucket arrays (the fib, netdev name/index, ...);
//! - **control sockets** (`sockets`): one buffer per modelled CPU, as ICMP, TCP and friends keep
//!   per-CPU control sockets in every namespace.
//!
//! Each state is reached through the `rcu` crate, by a small handle: operations with private
//! data keep it in an [`rcu::RcuCell`] reached with `net_generic` (as `ipip` or `nf_tables` do);
//! the others add it to a global [`rcu::RcuList`] of per-net objects (as global hash tables keyed
//! by net do). Teardown unpublishes the handle in `pre_exit` (where the kernel's operation has
//! one), else in `exit`, else in `exit_batch`, and frees the bulk of the state in `exit` (or
//! `exit_batch`) on the cleanup worker, after the batch's grace period, as the kernel's exit
//! methods free what their `init` allocated; the handles are freed after a further grace period
//! on the domain's worker, as `kfree_rcu` would. Operations that own devices (`loopback`, the
//! tunnels) register them under a global `rtnl` mutex in `init` and unregister them under it
//! once per batch in `exit_batch`, as `default_device_exit_batch` does, so creation and cleanup
//! contend on it as in the kernel.
//!
//! # The readers
//!
//! [`Readers`] are threads that walk the namespace list under an RCU guard, read each net's
//! private data, and sleep inside the section before leaving it (SRCU allows that). A grace
//! period waits for the sections that began before it, so the section length sets the grace
//! period's length; [`crate::experiment`] calibrates it to the kernel's ratio of grace period to
//! namespace creation.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use netns_core::{NetError, NetGenericId, NetNs, PernetOperations, Registry};
use rcu::{Domain, ListEntry, RcuCell, RcuList};

/// CPUs modelled for per-CPU control sockets (the reference machine has two).
pub const MODEL_CPUS: usize = 2;
/// Bytes of one modelled control socket (a kernel `struct sock` with its buffers is of this
/// order).
pub const SOCKET_BYTES: usize = 1024;

/// The shape of one pernet operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsSpec {
    /// The kernel's name for it (without `_net_ops`).
    pub name: &'static str,
    /// Registered with `register_pernet_device` (else `register_pernet_subsys`).
    pub device: bool,
    /// Keeps its per-net state in private data (`net_generic`).
    pub private: bool,
    /// Has a `pre_exit`.
    pub pre_exit: bool,
    /// Has an `exit_batch`.
    pub exit_batch: bool,
    /// Devices registered in `init` under `rtnl` and unregistered in `exit_batch` under it.
    pub devices: u8,
    /// Unregisters every device left in the batch's nets in `exit_batch` (`default_device`).
    pub flush_devices: bool,
    /// sysctl entries per net.
    pub sysctls: u16,
    /// Hash buckets per net.
    pub buckets: u32,
    /// Control sockets per modelled CPU.
    pub sockets: u8,
}

const fn subsys(name: &'static str, sysctls: u16, buckets: u32, sockets: u8) -> OpsSpec {
    OpsSpec {
        name,
        device: false,
        private: false,
        pre_exit: false,
        exit_batch: false,
        devices: 0,
        flush_devices: false,
        sysctls,
        buckets,
        sockets,
    }
}

impl OpsSpec {
    const fn private(mut self) -> OpsSpec {
        self.private = true;
        self
    }
    const fn pre_exit(mut self) -> OpsSpec {
        self.pre_exit = true;
        self
    }
    const fn exit_batch(mut self) -> OpsSpec {
        self.exit_batch = true;
        self
    }
    /// A device operation whose `init` registers one device (`loopback`, a tunnel's fallback).
    const fn device(mut self) -> OpsSpec {
        self.device = true;
        self.devices = 1;
        self.exit_batch = true;
        self
    }
    /// A device operation that unregisters every remaining device (`default_device`).
    const fn flush(mut self) -> OpsSpec {
        self.device = true;
        self.flush_devices = true;
        self.exit_batch = true;
        self
    }
    /// Whether `init` and `exit_batch` take `rtnl`.
    pub const fn rtnl(&self) -> bool {
        self.devices > 0 || self.flush_devices
    }
}

/// The kernel-shaped operations, in registration order. Sizes follow a 6.x kernel: the sysctl
/// counts are those of `/proc/sys/net` per namespace (ipv4 about 150 plus 3 x 35 devconf
/// entries, ipv6 about 50 plus 3 x 55, core 20, netfilter about 40), buckets those of the
/// per-net hash tables (netdev 2 x 256, fib 256, ...), sockets the per-CPU control sockets.
pub const KERNEL_OPS: &[OpsSpec] = &[
    subsys("net_defaults", 4, 0, 0),
    subsys("proc_net", 8, 0, 0),
    subsys("sysctl_core", 20, 0, 0),
    subsys("netlink", 2, 64, 0),
    subsys("rtnetlink", 0, 0, 1),
    subsys("genl", 0, 0, 1),
    subsys("netdev", 0, 512, 0),
    subsys("dev_proc", 6, 0, 0),
    subsys("dev_mc", 2, 0, 0),
    subsys("fib_notifier", 0, 16, 0),
    subsys("fib_rules", 0, 0, 0).pre_exit(),
    subsys("sock_inuse", 0, 0, 1),
    subsys("proto", 2, 0, 0),
    subsys("unix", 1, 256, 0),
    subsys("packet", 2, 0, 0),
    subsys("ipv4_mib", 0, 64, 0),
    subsys("ipv4_sysctl", 150, 0, 0),
    subsys("devinet", 105, 0, 0),
    subsys("fib", 2, 256, 0).exit_batch(),
    subsys("arp", 30, 32, 0),
    subsys("icmp", 6, 0, 1),
    subsys("igmp", 4, 0, 1),
    subsys("raw", 0, 256, 0),
    subsys("udp", 4, 128, 0),
    subsys("tcp_sk", 60, 0, 1).exit_batch(),
    subsys("tcp_metrics", 0, 256, 0).exit_batch(),
    subsys("ping", 2, 64, 0),
    subsys("inet_peer", 0, 64, 0),
    subsys("inet6", 50, 0, 0),
    subsys("addrconf", 165, 64, 0).pre_exit(),
    subsys("ip6_route", 20, 256, 0).exit_batch(),
    subsys("ndisc", 0, 0, 1),
    subsys("icmpv6", 4, 0, 1),
    subsys("igmp6", 2, 0, 1),
    subsys("tcpv6", 0, 0, 1).exit_batch(),
    subsys("xfrm", 8, 256, 0),
    subsys("nf_log", 10, 0, 0),
    subsys("nf_conntrack", 20, 0, 0)
        .private()
        .pre_exit()
        .exit_batch(),
    subsys("nf_tables", 2, 64, 0).private().pre_exit(),
    subsys("nf_defrag", 4, 64, 0).private(),
    OpsSpec {
        sysctls: 60,
        ..subsys("loopback", 0, 0, 0)
    }
    .device(),
    subsys("default_device", 0, 0, 0).flush(),
    subsys("ipip", 0, 128, 0).device().private(),
    subsys("ip_gre", 0, 128, 0).device().private(),
    subsys("ip6_tunnel", 0, 128, 0).device().private(),
    subsys("sit", 0, 128, 0).device().private(),
];

/// The names of every operation's sysctl entries, built once (the kernel's `ctl_table`s are
/// static too; what each net gets is its own tree of entries pointing at them).
fn sysctl_names(index: usize) -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
    &NAMES.get_or_init(|| {
        KERNEL_OPS
            .iter()
            .map(|spec| {
                (0..spec.sysctls)
                    .map(|i| &*Box::leak(format!("net.{}.entry{i}", spec.name).into_boxed_str()))
                    .collect()
            })
            .collect()
    })[index]
}

/// What one operation sets up in one net.
///
/// The tables come from the process's global allocator, which the binary sets to mimalloc so
/// that the cleanup worker's frees of the creating thread's allocations cost what they cost in
/// the kernel's per-CPU slab caches (see "The allocator" in the crate docs).
#[derive(Debug)]
pub struct NetState {
    /// The net's sysctl entries, a sorted tree as `__register_sysctl_table` builds.
    sysctls: BTreeMap<&'static str, AtomicI64>,
    buckets: Box<[AtomicUsize]>,
    sockets: Vec<Box<[u8]>>,
}

impl NetState {
    fn build(index: usize) -> NetState {
        let spec = &KERNEL_OPS[index];
        let sysctls = sysctl_names(index)
            .iter()
            .enumerate()
            .map(|(i, name)| (*name, AtomicI64::new(i as i64)))
            .collect();
        let buckets = (0..spec.buckets).map(|_| AtomicUsize::new(0)).collect();
        let sockets = (0..usize::from(spec.sockets) * MODEL_CPUS)
            .map(|_| vec![0u8; SOCKET_BYTES].into_boxed_slice())
            .collect();
        NetState {
            sysctls,
            buckets,
            sockets,
        }
    }

    /// The handle published for readers.
    fn publish(&self) -> Published {
        Published {
            first_value: self
                .sysctls
                .values()
                .next()
                .map_or(0, |v| v.load(Ordering::Relaxed)),
            entries: self.sysctls.len() + self.buckets.len() + self.sockets.len(),
        }
    }
}

/// What readers reach of one operation's state in one net, through RCU: a small handle, as the
/// kernel publishes pointers to per-net objects while the bulk behind them is owned by the
/// subsystem and freed by its `exit` once the batch's grace period has passed.
#[derive(Debug)]
pub struct Published {
    first_value: i64,
    entries: usize,
}

impl Published {
    /// What a reader does with the handle.
    fn read(&self) -> i64 {
        self.first_value + self.entries as i64
    }
}

/// A modelled network device.
#[derive(Debug)]
struct Device {
    /// Index in [`KERNEL_OPS`] of the operation that registered it.
    owner: usize,
    name: String,
    stats: Box<[AtomicU64; 24]>,
}

/// State shared by every operation of one registry: the RCU domain and the `rtnl` lock with the
/// device table it protects (`dev_base`, keyed by net cookie).
#[derive(Debug)]
pub struct World {
    domain: Domain,
    rtnl: Mutex<HashMap<u64, Vec<Device>>>,
    devices_registered: AtomicU64,
}

impl World {
    fn register_device(&self, owner: usize, net: &NetNs) {
        let device = Device {
            owner,
            name: format!("{}{}", KERNEL_OPS[owner].name, net.cookie()),
            stats: Box::new(std::array::from_fn(|_| AtomicU64::new(0))),
        };
        let mut dev_base = self.rtnl.lock().unwrap_or_else(|e| e.into_inner());
        dev_base.entry(net.cookie()).or_default().push(device);
        self.devices_registered.fetch_add(1, Ordering::Relaxed);
    }

    /// Unregisters, in one `rtnl` section, the devices of `owner` (or all devices when `owner`
    /// is `None`) in the given nets, and frees them after a grace period.
    fn unregister_devices(&self, owner: Option<usize>, cookies: impl Iterator<Item = u64>) {
        let mut gone = Vec::new();
        {
            let mut dev_base = self.rtnl.lock().unwrap_or_else(|e| e.into_inner());
            for cookie in cookies {
                let Some(devices) = dev_base.get_mut(&cookie) else {
                    continue;
                };
                match owner {
                    None => gone.append(devices),
                    Some(owner) => {
                        let (mine, rest): (Vec<_>, Vec<_>) =
                            devices.drain(..).partition(|d| d.owner == owner);
                        *devices = rest;
                        gone.extend(mine);
                    }
                }
                if devices.is_empty() {
                    dev_base.remove(&cookie);
                }
            }
        }
        for device in gone {
            debug_assert!(!device.name.is_empty() && device.stats.len() == 24);
            self.domain.defer_drop(device);
        }
    }

    /// Devices currently registered (all nets).
    pub fn devices(&self) -> usize {
        self.rtnl
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }
}

/// Private data of an operation that has some: its state, published through RCU.
#[derive(Debug, Default)]
pub struct PrivateState {
    published: OnceLock<RcuCell<Option<Published>>>,
    bulk: Mutex<Option<NetState>>,
}

impl PrivateState {
    /// Unpublishes the handle; readers already holding it keep it until their section ends.
    fn unpublish(&self) {
        if let Some(cell) = self.published.get() {
            cell.replace(None);
        }
    }

    /// Frees the bulk of the state here, on the calling (cleanup) thread.
    fn free(&self) {
        let bulk = self.bulk.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(bulk);
    }
}

/// An operation with private data.
#[derive(Debug)]
pub struct PrivateOps {
    index: usize,
    world: Arc<World>,
}

/// An operation without private data: its per-net handles live in a global RCU list, their
/// bulk in a table keyed by net.
#[derive(Debug)]
pub struct GlobalOps {
    index: usize,
    world: Arc<World>,
    objects: RcuList<Published>,
    by_net: Mutex<HashMap<u64, GlobalSlot>>,
}

/// One net's entry of a [`GlobalOps`].
#[derive(Debug)]
struct GlobalSlot {
    entry: Option<ListEntry<Published>>,
    bulk: Option<NetState>,
}

impl GlobalOps {
    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<u64, GlobalSlot>> {
        self.by_net.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn unpublish(&self, net: &NetNs) {
        let entry = self
            .slots()
            .get_mut(&net.cookie())
            .and_then(|slot| slot.entry.take());
        if let Some(entry) = entry {
            self.objects.remove(entry);
        }
    }

    fn free(&self, net: &NetNs) {
        let bulk = {
            let mut slots = self.slots();
            let bulk = slots
                .get_mut(&net.cookie())
                .and_then(|slot| slot.bulk.take());
            if slots
                .get(&net.cookie())
                .is_some_and(|slot| slot.entry.is_none())
            {
                slots.remove(&net.cookie());
            }
            bulk
        };
        drop(bulk);
    }
}

fn teardown_step(spec: &OpsSpec) -> Step {
    if spec.pre_exit {
        Step::PreExit
    } else if spec.exit_batch && !spec.rtnl() {
        Step::ExitBatch
    } else {
        Step::Exit
    }
}

#[derive(PartialEq)]
enum Step {
    PreExit,
    Exit,
    ExitBatch,
}

impl PernetOperations for PrivateOps {
    type Data = PrivateState;

    fn name(&self) -> &str {
        KERNEL_OPS[self.index].name
    }

    fn init(&self, net: &NetNs, data: &PrivateState) -> Result<(), NetError> {
        let spec = &KERNEL_OPS[self.index];
        let bulk = NetState::build(self.index);
        let cell = RcuCell::new(&self.world.domain, Some(bulk.publish()));
        if data.published.set(cell).is_err() {
            return Err(NetError::Errno(libc::EEXIST));
        }
        *data.bulk.lock().unwrap_or_else(|e| e.into_inner()) = Some(bulk);
        for _ in 0..spec.devices {
            self.world.register_device(self.index, net);
        }
        Ok(())
    }

    fn pre_exit(&self, _net: &NetNs, data: &PrivateState) {
        if teardown_step(&KERNEL_OPS[self.index]) == Step::PreExit {
            data.unpublish();
        }
    }

    fn exit(&self, _net: &NetNs, data: &PrivateState) {
        let step = teardown_step(&KERNEL_OPS[self.index]);
        if step == Step::Exit {
            data.unpublish();
        }
        if step != Step::ExitBatch {
            data.free();
        }
    }

    fn exit_batch(&self, batch: &[(&NetNs, &PrivateState)]) {
        let spec = &KERNEL_OPS[self.index];
        if teardown_step(spec) == Step::ExitBatch {
            for (_, data) in batch {
                data.unpublish();
                data.free();
            }
        }
        if spec.rtnl() {
            let owner = if spec.flush_devices {
                None
            } else {
                Some(self.index)
            };
            self.world
                .unregister_devices(owner, batch.iter().map(|(n, _)| n.cookie()));
        }
    }
}

impl PernetOperations for GlobalOps {
    type Data = ();

    fn name(&self) -> &str {
        KERNEL_OPS[self.index].name
    }

    fn init(&self, net: &NetNs, _data: &()) -> Result<(), NetError> {
        let spec = &KERNEL_OPS[self.index];
        if spec.sysctls > 0 || spec.buckets > 0 || spec.sockets > 0 {
            let bulk = NetState::build(self.index);
            let entry = Some(self.objects.push_back(bulk.publish()));
            let slot = GlobalSlot {
                entry,
                bulk: Some(bulk),
            };
            let old = self.slots().insert(net.cookie(), slot);
            if let Some(entry) = old.and_then(|old| old.entry) {
                self.objects.remove(entry);
                return Err(NetError::Errno(libc::EEXIST));
            }
        }
        for _ in 0..spec.devices {
            self.world.register_device(self.index, net);
        }
        Ok(())
    }

    fn pre_exit(&self, net: &NetNs, _data: &()) {
        if teardown_step(&KERNEL_OPS[self.index]) == Step::PreExit {
            self.unpublish(net);
        }
    }

    fn exit(&self, net: &NetNs, _data: &()) {
        let step = teardown_step(&KERNEL_OPS[self.index]);
        if step == Step::Exit {
            self.unpublish(net);
        }
        if step != Step::ExitBatch {
            self.free(net);
        }
    }

    fn exit_batch(&self, batch: &[(&NetNs, &())]) {
        let spec = &KERNEL_OPS[self.index];
        if teardown_step(spec) == Step::ExitBatch {
            for (net, _) in batch {
                self.unpublish(net);
                self.free(net);
            }
        }
        if spec.rtnl() {
            // `default_device` unregisters every device left in the batch's nets.
            let owner = if spec.flush_devices {
                None
            } else {
                Some(self.index)
            };
            self.world
                .unregister_devices(owner, batch.iter().map(|(n, _)| n.cookie()));
        }
    }
}

/// The workload's operations, registered on one registry.
#[derive(Debug)]
pub struct Workload {
    world: Arc<World>,
    private: Vec<(Arc<PrivateOps>, NetGenericId<PrivateState>)>,
    global: Vec<Arc<GlobalOps>>,
}

impl Workload {
    /// Registers every operation of [`KERNEL_OPS`] on `registry`, in order.
    pub fn register(registry: &Registry) -> Result<Workload, NetError> {
        let world = Arc::new(World {
            domain: registry.domain().clone(),
            rtnl: Mutex::new(HashMap::new()),
            devices_registered: AtomicU64::new(0),
        });
        let mut workload = Workload {
            world: Arc::clone(&world),
            private: Vec::new(),
            global: Vec::new(),
        };
        for (index, spec) in KERNEL_OPS.iter().enumerate() {
            let world = Arc::clone(&world);
            if spec.private {
                let ops = Arc::new(PrivateOps { index, world });
                let id = if spec.device {
                    registry.register_pernet_device(&ops)?
                } else {
                    registry.register_pernet_subsys(&ops)?
                };
                workload.private.push((ops, id));
            } else {
                let objects = RcuList::new(registry.domain());
                let ops = Arc::new(GlobalOps {
                    index,
                    world,
                    objects,
                    by_net: Mutex::default(),
                });
                if spec.device {
                    registry.register_pernet_device(&ops)?;
                } else {
                    registry.register_pernet_subsys(&ops)?;
                }
                workload.global.push(ops);
            }
        }
        Ok(workload)
    }

    /// Unregisters every operation, in reverse order of registration.
    pub fn unregister(self, registry: &Registry) -> Result<(), NetError> {
        let mut private = self.private;
        let mut global = self.global;
        for spec in KERNEL_OPS.iter().rev() {
            match (spec.private, spec.device) {
                (true, true) => registry.unregister_pernet_device(&private.pop().unwrap().0)?,
                (true, false) => registry.unregister_pernet_subsys(&private.pop().unwrap().0)?,
                (false, true) => registry.unregister_pernet_device(&global.pop().unwrap())?,
                (false, false) => registry.unregister_pernet_subsys(&global.pop().unwrap())?,
            }
        }
        Ok(())
    }

    /// The private-data ids, for readers.
    pub fn generic_ids(&self) -> Vec<NetGenericId<PrivateState>> {
        self.private.iter().map(|(_, id)| *id).collect()
    }

    /// Per-net objects currently published in the global lists (all operations).
    pub fn global_objects(&self) -> usize {
        self.global.iter().map(|ops| ops.objects.len()).sum()
    }

    /// Devices currently registered.
    pub fn devices(&self) -> usize {
        self.world.devices()
    }

    /// Devices registered since the workload was registered.
    pub fn devices_registered(&self) -> u64 {
        self.world.devices_registered.load(Ordering::Relaxed)
    }
}

/// Counters of the reader threads.
#[derive(Debug, Default)]
struct ReaderCounters {
    stop: AtomicBool,
    sections: AtomicU64,
    nets_seen: AtomicU64,
    section_nanos: AtomicU64,
}

/// RCU reader threads that walk the namespace list and sleep inside their sections.
#[derive(Debug)]
pub struct Readers {
    counters: Arc<ReaderCounters>,
    threads: Vec<JoinHandle<()>>,
}

/// Nets a reader looks at in one section.
const NETS_PER_SECTION: usize = 8;

impl Readers {
    /// Starts `count` readers on `registry`, each holding its sections for `section`.
    ///
    /// Readers start staggered over one section so that their sections do not begin together.
    pub fn start(
        registry: &Arc<Registry>,
        ids: Vec<NetGenericId<PrivateState>>,
        count: usize,
        section: Duration,
    ) -> Readers {
        let counters = Arc::new(ReaderCounters::default());
        counters
            .section_nanos
            .store(section.as_nanos() as u64, Ordering::Relaxed);
        let threads = (0..count)
            .map(|i| {
                let (registry, counters, ids) =
                    (Arc::clone(registry), Arc::clone(&counters), ids.clone());
                let offset = section * i as u32 / count.max(1) as u32;
                std::thread::Builder::new()
                    .name(format!("rcu-reader-{i}"))
                    .spawn(move || reader_loop(&registry, &counters, &ids, offset))
                    .expect("cannot start a reader thread")
            })
            .collect();
        Readers { counters, threads }
    }

    /// Changes the length of the readers' sections (from their next section on).
    pub fn set_section(&self, section: Duration) {
        self.counters
            .section_nanos
            .store(section.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Read-side sections completed so far.
    pub fn sections(&self) -> u64 {
        self.counters.sections.load(Ordering::Relaxed)
    }

    /// Stops and joins the readers; returns the number of sections they completed.
    pub fn stop(self) -> u64 {
        self.counters.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("a reader thread panicked");
        }
        self.counters.sections.load(Ordering::Relaxed)
    }
}

fn reader_loop(
    registry: &Registry,
    counters: &ReaderCounters,
    ids: &[NetGenericId<PrivateState>],
    offset: Duration,
) {
    std::thread::sleep(offset);
    let mut sum = 0i64;
    while !counters.stop.load(Ordering::Relaxed) {
        let guard = registry.domain().read();
        let mut seen = 0;
        for net in registry.for_each_net_rcu(&guard).take(NETS_PER_SECTION) {
            for id in ids {
                let state = net
                    .net_generic(*id, &guard)
                    .and_then(|data| data.published.get());
                if let Some(Some(state)) = state.map(|cell| cell.read(&guard)) {
                    sum = sum.wrapping_add(state.read());
                }
            }
            seen += 1;
        }
        // SRCU lets a reader sleep inside its section; the kernel's grace period is long for
        // other reasons (every CPU must pass a quiescent state), which this sleep stands for.
        let section = Duration::from_nanos(counters.section_nanos.load(Ordering::Relaxed));
        std::thread::sleep(section);
        drop(guard);
        counters.sections.fetch_add(1, Ordering::Relaxed);
        counters.nets_seen.fetch_add(seen, Ordering::Relaxed);
    }
    std::hint::black_box(sum);
}

/// Counts over [`KERNEL_OPS`], for the parameters printout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpsSummary {
    /// Subsys operations.
    pub subsys: usize,
    /// Device operations.
    pub device: usize,
    /// Operations with private data.
    pub private: usize,
    /// Operations with a `pre_exit`.
    pub pre_exit: usize,
    /// Operations with an `exit_batch`.
    pub exit_batch: usize,
    /// Operations that take `rtnl`.
    pub rtnl: usize,
    /// sysctl entries per net.
    pub sysctls: usize,
    /// Hash buckets per net.
    pub buckets: usize,
    /// Control sockets per net.
    pub sockets: usize,
}

/// Sums up [`KERNEL_OPS`].
pub fn summary() -> OpsSummary {
    let mut s = OpsSummary::default();
    for spec in KERNEL_OPS {
        if spec.device {
            s.device += 1;
        } else {
            s.subsys += 1;
        }
        s.private += usize::from(spec.private);
        s.pre_exit += usize::from(spec.pre_exit);
        s.exit_batch += usize::from(spec.exit_batch);
        s.rtnl += usize::from(spec.rtnl());
        s.sysctls += usize::from(spec.sysctls);
        s.buckets += spec.buckets as usize;
        s.sockets += usize::from(spec.sockets) * MODEL_CPUS;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use netns_core::CLONE_NEWNET;

    fn global_ops_with_state() -> usize {
        KERNEL_OPS
            .iter()
            .filter(|s| !s.private && (s.sysctls > 0 || s.buckets > 0 || s.sockets > 0))
            .count()
    }

    #[test]
    fn kernel_ops_have_the_kernel_shape() {
        let s = summary();
        assert_eq!((s.subsys, s.device), (40, 6));
        // Subsys operations come first, as the kernel's list keeps them before `first_device`.
        let first_device = KERNEL_OPS.iter().position(|o| o.device).unwrap();
        assert!(KERNEL_OPS[first_device..].iter().all(|o| o.device));
        assert_eq!(KERNEL_OPS[first_device].name, "loopback");
        assert!(
            s.private >= 5 && s.pre_exit >= 3 && s.exit_batch >= 5,
            "{s:?}"
        );
        assert!((700..=900).contains(&s.sysctls), "{s:?}");
        // Every operation that registers devices unregisters them in its exit_batch.
        assert!(KERNEL_OPS.iter().filter(|o| o.rtnl()).all(|o| o.exit_batch));
    }

    #[test]
    fn every_init_is_undone_and_readers_see_the_published_state() {
        let registry = Arc::new(Registry::new());
        let workload = Workload::register(&registry).unwrap();
        let world = Arc::clone(&workload.world);
        let lists: Vec<Arc<GlobalOps>> = workload.global.clone();
        let objects = || lists.iter().map(|o| o.objects.len()).sum::<usize>();
        let slots = || lists.iter().map(|o| o.slots().len()).sum::<usize>();
        let devices_per_net = KERNEL_OPS
            .iter()
            .map(|o| usize::from(o.devices))
            .sum::<usize>();
        assert_eq!(devices_per_net, 5, "loopback and four tunnels");
        // init_net got every operation's init at registration.
        assert_eq!(world.devices(), devices_per_net);
        assert_eq!(objects(), global_ops_with_state());

        let init_net = registry.init_net();
        let nets: Vec<_> = (0..3)
            .map(|_| registry.copy_net_ns(CLONE_NEWNET, registry.init_cred(), &init_net))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(world.devices(), 4 * devices_per_net);
        assert_eq!(objects(), 4 * global_ops_with_state());
        {
            let guard = registry.domain().read();
            for id in workload.generic_ids() {
                let data = nets[0]
                    .net_generic(id, &guard)
                    .expect("private data allocated");
                let cell = data.published.get().expect("init published the state");
                assert!(cell.read(&guard).is_some());
            }
        }

        let readers = Readers::start(
            &registry,
            workload.generic_ids(),
            2,
            Duration::from_micros(200),
        );
        drop(nets);
        registry.wait_cleanup_idle();
        assert_eq!(
            world.devices(),
            devices_per_net,
            "exit_batch unregistered the devices"
        );
        assert_eq!(
            objects(),
            global_ops_with_state(),
            "teardown unpublished the states"
        );
        while readers.sections() < 4 {
            std::thread::yield_now();
        }
        assert!(readers.stop() >= 4);

        workload.unregister(&registry).unwrap();
        assert_eq!(world.devices(), 0);
        assert_eq!(objects(), 0);
        assert_eq!(slots(), 0);
        assert_eq!(registry.stats().ops_registered, 0);
    }
}
