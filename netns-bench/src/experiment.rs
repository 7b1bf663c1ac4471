//! The experiments on the registry: calibration, `seed` and `cycle`, each lock mode on a fresh
//! registry with the [`crate::workload`] registered and its readers running.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netns_core::{BacklogPolicy, CLONE_NEWNET, LockMode, Net, Registry, Stats};

use crate::cputime::{CpuTimes, thread_cpu_clock, thread_cpu_time};
use crate::kernel::KernelCalibration;
use crate::progress::Progress;
use crate::workload::{Readers, Workload};

/// Which experiment a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Experiment {
    /// N sequential `copy_net_ns(CLONE_NEWNET)` from one thread, each dropping the previous net.
    Seed,
    /// One short-lived "process" per iteration that creates a net and exits.
    Cycle,
}

impl Experiment {
    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Seed => "seed",
            Experiment::Cycle => "cycle",
        }
    }
}

/// One lock configuration to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeSpec {
    /// The registry's lock mode.
    pub lock: LockMode,
    /// The cleanup-backlog bound, if any (creators wait at it).
    pub backlog_bound: Option<usize>,
}

impl ModeSpec {
    /// `exclusive`, `shared`, or `shared, bound N`.
    pub fn label(&self) -> String {
        let base = match self.lock {
            LockMode::Exclusive => "exclusive",
            LockMode::Shared => "shared",
        };
        match self.backlog_bound {
            Some(bound) => format!("{base}, bound {bound}"),
            None => base.to_string(),
        }
    }

    /// The key of this mode in the JSON report.
    pub fn key(&self) -> String {
        self.label().replace(", bound ", "_bound_")
    }
}

/// The modelled costs, measured and calibrated against the kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The kernel's figures the model is scaled against.
    pub kernel: KernelCalibration,
    /// One `copy_net_ns` with the workload registered (median of a short seed loop, timed like
    /// the kernel's `unshare`).
    pub creation: Duration,
    /// Cleanup work per net, measured by dismantling a batch with no readers running.
    pub cleanup_per_net: Duration,
    /// The grace period the model aims at: `creation` times the kernel's grace period over its
    /// `unshare`.
    pub target_grace_period: Duration,
    /// One `synchronize_expedited` on the registry's domain with the readers running (median).
    pub grace_period: Duration,
    /// The readers' section length that gives `grace_period`.
    pub reader_section: Duration,
    /// Number of reader threads.
    pub readers: usize,
    /// The work of one modelled process (`cycle`): `creation` times the kernel's `bash -c exit`
    /// over its `unshare`.
    pub process: Duration,
}

impl Calibration {
    /// Kernel time over model time: how much faster the model runs than the kernel.
    pub fn time_scale(&self) -> f64 {
        self.kernel.unshare.value.as_secs_f64() / self.creation.as_secs_f64()
    }
}

/// The measured result of one lock mode.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeResult {
    /// The configuration.
    pub spec: ModeSpec,
    /// Wall-clock time of the creating loop (the seed's `time` of its program).
    pub elapsed: Duration,
    /// CPU time of the creating thread (`seed`) or of all the modelled processes (`cycle`).
    pub cpu: CpuTimes,
    /// Time from the loop's end until the cleanup backlog was empty.
    pub drain: Duration,
    /// Registry statistics over the run (from the first creation until drained).
    pub stats: Stats,
    /// `(seconds since the loop started, backlog)` samples, until drained.
    pub backlog: Vec<(f64, u64)>,
    /// Read-side sections the readers completed during the run.
    pub reader_sections: u64,
}

impl ModeResult {
    /// The creating thread's CPU share, in percent.
    pub fn cpu_pct(&self) -> f64 {
        self.cpu.share_of(self.elapsed)
    }
}

/// How often the backlog is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// How much measuring [`calibrate`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalibrationPlan {
    /// Nets created and released first, to warm the allocator and the caches up.
    pub warm_up_nets: usize,
    /// Nets whose creation times give the creation cost (their median).
    pub nets: usize,
    /// Grace periods timed per round (their median).
    pub grace_periods: usize,
    /// Rounds of adjusting the readers' section length towards the target grace period.
    pub rounds: usize,
}

impl Default for CalibrationPlan {
    /// The binary's plan: about a second on the reference machine.
    fn default() -> CalibrationPlan {
        CalibrationPlan {
            warm_up_nets: 300,
            nets: 400,
            grace_periods: 9,
            rounds: 4,
        }
    }
}

fn new_registry(spec: ModeSpec, name: &str) -> Arc<Registry> {
    Arc::new(
        Registry::builder()
            .lock_mode(spec.lock)
            .max_cleanup_backlog(spec.backlog_bound)
            .backlog_policy(BacklogPolicy::Wait)
            .name(name)
            .build(),
    )
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// Measures the model's costs and sets the readers' section length so that one grace period is
/// to one modelled creation what the kernel's is to one `unshare`.
pub fn calibrate(
    kernel: KernelCalibration,
    readers: usize,
    plan: CalibrationPlan,
) -> Result<Calibration, String> {
    let spec = ModeSpec {
        lock: LockMode::Shared,
        backlog_bound: None,
    };
    let registry = new_registry(spec, "calibrate");
    let workload = Workload::register(&registry).map_err(|e| format!("registering ops: {e}"))?;
    let init_net = registry.init_net();
    let cred = registry.init_cred().clone();
    let create = || {
        registry
            .copy_net_ns(CLONE_NEWNET, &cred, &init_net)
            .map_err(|e| format!("copy_net_ns: {e}"))
    };
    for _ in 0..plan.warm_up_nets {
        drop(create()?);
    }
    registry.wait_cleanup_idle();

    // Creation as the kernel's calibration times `unshare`: a short seed loop, each call
    // releasing the previous net, so cleanup runs alongside as it does in the kernel's loop.
    let nets_to_time = plan.nets.max(1);
    let mut times = Vec::with_capacity(nets_to_time);
    let mut current = registry.init_net();
    for _ in 0..nets_to_time {
        let t = Instant::now();
        current = registry
            .copy_net_ns(CLONE_NEWNET, &cred, &current)
            .map_err(|e| format!("copy_net_ns: {e}"))?;
        times.push(t.elapsed());
    }
    drop(current);
    registry.wait_cleanup_idle();
    let creation = median(times);

    // Cleanup alone: dismantle a batch of kept nets, with nothing else running.
    let nets = (0..nets_to_time)
        .map(|_| create())
        .collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    drop(nets);
    registry.wait_cleanup_idle();
    let cleanup_per_net = t.elapsed() / nets_to_time as u32;

    let target_grace_period = creation.mul_f64(kernel.grace_period_per_unshare());
    let process = creation.mul_f64(kernel.process_per_unshare());
    let mut section = target_grace_period;
    let mut grace_period = registry_grace_period(&registry, plan.grace_periods);
    if readers > 0 {
        let readers = Readers::start(
            &registry,
            workload.generic_ids(),
            readers,
            target_grace_period,
        );
        for round in 0..plan.rounds {
            readers.set_section(section);
            // Let every reader enter a section of the new length.
            std::thread::sleep(section * 2);
            grace_period = registry_grace_period(&registry, plan.grace_periods);
            if round + 1 == plan.rounds {
                break;
            }
            let factor = target_grace_period.as_secs_f64() / grace_period.as_secs_f64().max(1e-9);
            section = section.mul_f64(factor.clamp(0.25, 4.0));
        }
        readers.stop();
    }
    workload
        .unregister(&registry)
        .map_err(|e| format!("unregistering ops: {e}"))?;
    Ok(Calibration {
        kernel,
        creation,
        cleanup_per_net,
        target_grace_period,
        grace_period,
        reader_section: section,
        readers,
        process,
    })
}

fn registry_grace_period(registry: &Registry, samples: usize) -> Duration {
    let samples = (0..samples.max(1))
        .map(|_| {
            let t = Instant::now();
            registry.domain().synchronize_expedited();
            t.elapsed()
        })
        .collect();
    median(samples)
}

/// Samples the registry's backlog every [`SAMPLE_EVERY`] on its own thread.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(f64, u64)>>,
}

impl Sampler {
    fn start(registry: &Arc<Registry>, start: Instant) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (registry, flag) = (Arc::clone(registry), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("backlog-sampler".into())
            .spawn(move || {
                let mut samples = Vec::new();
                while !flag.load(Ordering::Relaxed) {
                    samples.push((start.elapsed().as_secs_f64(), registry.backlog() as u64));
                    std::thread::sleep(SAMPLE_EVERY);
                }
                samples.push((start.elapsed().as_secs_f64(), registry.backlog() as u64));
                samples
            })
            .expect("cannot start the sampler thread");
        Sampler { stop, thread }
    }

    fn finish(self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler thread panicked")
    }
}

fn stats_delta(before: &Stats, after: &Stats) -> Stats {
    Stats {
        created: after.created - before.created,
        destroyed: after.destroyed - before.destroyed,
        batches: after.batches - before.batches,
        batched_nets: after.batched_nets - before.batched_nets,
        grace_periods: after.grace_periods - before.grace_periods,
        batch_grace_periods: after.batch_grace_periods - before.batch_grace_periods,
        barriers: after.barriers - before.barriers,
        batch_barriers: after.batch_barriers - before.batch_barriers,
        backlog_waits: after.backlog_waits - before.backlog_waits,
        ..*after
    }
}

/// Runs one experiment in one lock mode on a fresh registry.
///
/// `progress` receives the number of iterations done.
pub fn run_mode(
    experiment: Experiment,
    spec: ModeSpec,
    iterations: u64,
    cal: &Calibration,
    progress: &mut Progress,
) -> Result<ModeResult, String> {
    let registry = new_registry(spec, &spec.key());
    let workload = Workload::register(&registry).map_err(|e| format!("registering ops: {e}"))?;
    let readers = (cal.readers > 0).then(|| {
        Readers::start(
            &registry,
            workload.generic_ids(),
            cal.readers,
            cal.reader_section,
        )
    });
    // Let the readers settle into their staggered sections.
    std::thread::sleep(cal.reader_section * 2);
    let sections_before = readers.as_ref().map_or(0, Readers::sections);
    let before = registry.stats();
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let sampler = Sampler::start(&registry, start);
    let loop_thread = {
        let (registry, done, process) = (Arc::clone(&registry), Arc::clone(&done), cal.process);
        std::thread::Builder::new()
            .name(format!("{}-creator", experiment.name()))
            .spawn(move || match experiment {
                Experiment::Seed => seed_loop(&registry, iterations, &done, start),
                Experiment::Cycle => cycle_loop(&registry, iterations, &done, process, start),
            })
            .map_err(|e| format!("cannot start the creating thread: {e}"))?
    };
    while !loop_thread.is_finished() {
        progress.set(done.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
    progress.set(done.load(Ordering::Relaxed));
    let (elapsed, cpu) = loop_thread
        .join()
        .map_err(|_| "the creating thread panicked")??;
    registry.wait_cleanup_idle();
    let drain = start.elapsed().saturating_sub(elapsed);
    let backlog = sampler.finish();
    let stats = stats_delta(&before, &registry.stats());
    let reader_sections = readers.map_or(0, |r| r.stop()) - sections_before;
    workload
        .unregister(&registry)
        .map_err(|e| format!("unregistering ops: {e}"))?;
    Ok(ModeResult {
        spec,
        elapsed,
        cpu,
        drain,
        stats,
        backlog,
        reader_sections,
    })
}

type LoopResult = Result<(Duration, CpuTimes), String>;

/// The seed's loop: each creation replaces the thread's net, whose last reference it drops.
fn seed_loop(registry: &Registry, iterations: u64, done: &AtomicU64, start: Instant) -> LoopResult {
    let cred = registry.init_cred().clone();
    let cpu0 = thread_cpu_time().map_err(|e| e.to_string())?;
    let mut current: Net = registry.init_net();
    for i in 0..iterations {
        current = registry
            .copy_net_ns(CLONE_NEWNET, &cred, &current)
            .map_err(|e| format!("copy_net_ns failed at iteration {i}: {e}"))?;
        if i % 256 == 0 {
            done.store(i, Ordering::Relaxed);
        }
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu_time().map_err(|e| e.to_string())? - cpu0;
    done.store(iterations, Ordering::Relaxed);
    // Like the seed's process exiting: the last net is released, its cleanup not waited for.
    drop(current);
    Ok((elapsed, cpu))
}

/// `unshare -n bash -c exit` per iteration: a new thread (the process) does half the modelled
/// process work, creates a net, does the other half and exits, releasing the net; the loop waits
/// for it (as the shell waits for its child), not for the net's cleanup.
fn cycle_loop(
    registry: &Arc<Registry>,
    iterations: u64,
    done: &AtomicU64,
    process: Duration,
    start: Instant,
) -> LoopResult {
    let total = Arc::new(Mutex::new(CpuTimes::default()));
    for i in 0..iterations {
        let (registry, total) = (Arc::clone(registry), Arc::clone(&total));
        let child = std::thread::Builder::new()
            .name("modelled-process".into())
            .spawn(move || -> Result<(), String> {
                let cpu0 = thread_cpu_time().map_err(|e| e.to_string())?;
                burn_cpu(process / 2);
                let net = registry
                    .copy_net_ns(CLONE_NEWNET, registry.init_cred(), &registry.init_net())
                    .map_err(|e| format!("copy_net_ns failed at iteration {i}: {e}"))?;
                burn_cpu(process / 2);
                drop(net);
                let cpu = thread_cpu_time().map_err(|e| e.to_string())? - cpu0;
                let mut sum = total.lock().unwrap_or_else(|e| e.into_inner());
                sum.user += cpu.user;
                sum.system += cpu.system;
                Ok(())
            })
            .map_err(|e| format!("cannot start a modelled process: {e}"))?;
        child
            .join()
            .map_err(|_| "a modelled process panicked".to_string())??;
        done.store(i + 1, Ordering::Relaxed);
    }
    let elapsed = start.elapsed();
    let cpu = *total.lock().unwrap_or_else(|e| e.into_inner());
    Ok((elapsed, cpu))
}

/// Spends `work` of the calling thread's CPU time computing (a modelled process's own work).
pub fn burn_cpu(work: Duration) {
    let Ok(start) = thread_cpu_clock() else {
        return;
    };
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    loop {
        for _ in 0..256 {
            x = std::hint::black_box(x.rotate_left(5).wrapping_mul(0x5851_f42d_4c95_7f2d) ^ 1);
        }
        match thread_cpu_clock() {
            Ok(now) if now - start < work => {}
            _ => break,
        }
    }
}

/// The result of one experiment: every mode, with the calibration it ran under.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Which experiment.
    pub experiment: Experiment,
    /// Iterations per mode.
    pub iterations: u64,
    /// The calibration.
    pub calibration: Calibration,
    /// One result per mode, in the order run (Exclusive, Shared, then Shared with the bound).
    pub modes: Vec<ModeResult>,
}

impl Report {
    /// The result of the mode with this lock and no bound.
    pub fn mode(&self, lock: LockMode) -> Option<&ModeResult> {
        self.modes
            .iter()
            .find(|m| m.spec.lock == lock && m.spec.backlog_bound.is_none())
    }

    /// Exclusive elapsed over Shared elapsed.
    pub fn speedup(&self) -> Option<f64> {
        let exclusive = self.mode(LockMode::Exclusive)?;
        let shared = self.mode(LockMode::Shared)?;
        Some(exclusive.elapsed.as_secs_f64() / shared.elapsed.as_secs_f64().max(1e-12))
    }
}

/// The modes an experiment runs: Exclusive, Shared, and Shared with `bound` if given.
pub fn modes(bound: Option<usize>) -> Vec<ModeSpec> {
    let mut modes = vec![
        ModeSpec {
            lock: LockMode::Exclusive,
            backlog_bound: None,
        },
        ModeSpec {
            lock: LockMode::Shared,
            backlog_bound: None,
        },
    ];
    if let Some(bound) = bound {
        modes.push(ModeSpec {
            lock: LockMode::Shared,
            backlog_bound: Some(bound),
        });
    }
    modes
}

/// Calibrates, then runs `experiment` in every mode of [`modes`].
pub fn run(
    experiment: Experiment,
    iterations: u64,
    args: &crate::cli::ModelArgs,
) -> Result<Report, String> {
    let kernel = if args.reference_kernel {
        KernelCalibration::reference("--reference-kernel given")
    } else {
        KernelCalibration::measure()
    };
    let calibration = calibrate(kernel, args.readers, CalibrationPlan::default())?;
    let mut results = Vec::new();
    for spec in modes(args.backlog_bound.map(|b| b.get())) {
        let label = format!("{} {}", experiment.name(), spec.label());
        let mut progress = Progress::new(&label, iterations);
        let result = run_mode(experiment, spec, iterations, &calibration, &mut progress);
        progress.finish();
        results.push(result?);
    }
    Ok(Report {
        experiment,
        iterations,
        calibration,
        modes: results,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A calibration for tests: short reader sections, no process work, nothing measured.
    pub(crate) fn test_calibration(readers: usize) -> Calibration {
        Calibration {
            kernel: KernelCalibration::reference("test"),
            creation: Duration::from_micros(100),
            cleanup_per_net: Duration::from_micros(50),
            target_grace_period: Duration::from_micros(300),
            grace_period: Duration::from_micros(300),
            reader_section: Duration::from_micros(300),
            readers,
            process: Duration::from_micros(20),
        }
    }

    fn run(experiment: Experiment, spec: ModeSpec, iterations: u64) -> ModeResult {
        let mut progress = Progress::new("test", iterations);
        run_mode(
            experiment,
            spec,
            iterations,
            &test_calibration(1),
            &mut progress,
        )
        .unwrap()
    }

    fn assert_consistent(r: &ModeResult, iterations: u64) {
        let s = &r.stats;
        assert_eq!(s.created, iterations, "{s:?}");
        assert_eq!(
            s.destroyed, iterations,
            "every net was dismantled before the report: {s:?}"
        );
        assert_eq!(s.batched_nets, iterations, "{s:?}");
        assert!(s.batches >= 1 && s.batches <= iterations, "{s:?}");
        assert!(
            s.max_batch >= 1 && s.max_batch as u64 <= iterations,
            "{s:?}"
        );
        let mean = s.mean_batch_size();
        assert!(
            (mean * s.batches as f64 - iterations as f64).abs() < 1e-6,
            "{s:?}"
        );
        assert!(mean <= s.max_batch as f64, "{s:?}");
        assert!(
            s.grace_periods >= s.batches,
            "one grace period per batch at least: {s:?}"
        );
        assert!(
            s.peak_backlog >= 1 && s.peak_backlog as u64 <= iterations,
            "{s:?}"
        );
        assert_eq!(s.live, 0, "{s:?}");
        assert!(!r.elapsed.is_zero());
        assert!(
            r.cpu.total() <= r.elapsed + Duration::from_millis(20),
            "{r:?}"
        );
        let last = r.backlog.last().expect("the sampler took samples");
        assert_eq!(last.1, 0, "sampled after draining");
        assert!(
            r.backlog.windows(2).all(|w| w[0].0 <= w[1].0),
            "samples in time order"
        );
        assert!(
            r.backlog.iter().all(|p| p.1 <= s.peak_backlog as u64),
            "{s:?}"
        );
    }

    #[test]
    fn tiny_seed_run_has_consistent_stats_in_both_modes() {
        for spec in modes(None) {
            let r = run(Experiment::Seed, spec, 40);
            assert_eq!(r.spec, spec);
            assert_consistent(&r, 40);
        }
    }

    #[test]
    fn tiny_cycle_run_has_consistent_stats() {
        let spec = ModeSpec {
            lock: LockMode::Shared,
            backlog_bound: None,
        };
        let r = run(Experiment::Cycle, spec, 12);
        assert_consistent(&r, 12);
        // Each modelled process burns at least its work.
        assert!(
            r.cpu.total() >= test_calibration(1).process * 12,
            "{:?}",
            r.cpu
        );
    }

    #[test]
    fn backlog_bound_caps_the_backlog() {
        let spec = ModeSpec {
            lock: LockMode::Shared,
            backlog_bound: Some(2),
        };
        // Sections of 5 ms make every batch far slower than a creation, so without the bound
        // the backlog would pass it many times over.
        let cal = Calibration {
            reader_section: Duration::from_millis(5),
            ..test_calibration(2)
        };
        let mut progress = Progress::new("test", 30);
        let r = run_mode(Experiment::Seed, spec, 30, &cal, &mut progress).unwrap();
        assert_consistent(&r, 30);
        // Creators wait at the bound before creating; the net each creation replaces is
        // released after it, so the backlog may pass the bound by that one net.
        assert!(r.stats.peak_backlog <= 3, "{:?}", r.stats);
        assert!(r.stats.backlog_waits > 0, "{:?}", r.stats);
    }

    #[test]
    fn calibration_hits_its_target_grace_period() {
        let plan = CalibrationPlan {
            warm_up_nets: 2,
            nets: 5,
            grace_periods: 3,
            rounds: 3,
        };
        let cal = calibrate(KernelCalibration::reference("test"), 2, plan).unwrap();
        assert!(!cal.creation.is_zero() && !cal.cleanup_per_net.is_zero());
        let ratio = cal.target_grace_period.as_secs_f64() / cal.creation.as_secs_f64();
        assert!((ratio - cal.kernel.grace_period_per_unshare()).abs() < 1e-6);
        assert!((cal.process.as_secs_f64() / cal.creation.as_secs_f64() - 2.3 / 0.7).abs() < 1e-3);
        // Sleeping readers stretch the grace period towards the target (loosely: the machine
        // is shared and the plan tiny).
        assert!(cal.grace_period >= cal.target_grace_period / 4, "{cal:?}");
        assert!((cal.time_scale() - 0.7e-3 / cal.creation.as_secs_f64()).abs() < 1e-6);
    }

    #[test]
    fn mode_labels_and_keys() {
        let m = modes(Some(64));
        let labels: Vec<String> = m.iter().map(ModeSpec::label).collect();
        assert_eq!(labels, ["exclusive", "shared", "shared, bound 64"]);
        assert_eq!(m[2].key(), "shared_bound_64");
        assert_eq!(modes(None).len(), 2);
    }

    #[test]
    fn burn_cpu_spends_about_the_requested_cpu_time() {
        let before = thread_cpu_time().unwrap();
        burn_cpu(Duration::from_millis(5));
        let spent = (thread_cpu_time().unwrap() - before).total();
        assert!(
            spent >= Duration::from_millis(5) && spent < Duration::from_millis(50),
            "{spent:?}"
        );
    }
}
