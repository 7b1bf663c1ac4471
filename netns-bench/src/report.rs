//! What the subcommands print: aligned tables for people, or one JSON object with `--json`.

use serde_json::{Value, json};

use crate::cli::{KernelArgs, ModelArgs};
use crate::experiment::{self, Calibration, Experiment, ModeResult, Report};
use crate::kernel::{self, Figure, KernelCalibration, KernelRun, Source};
use crate::plot::{self, Series};
use crate::progress::Progress;
use crate::table::{self, Table};
use crate::workload;

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    // SAFETY: an all-zero `utsname` is a valid value of this plain C struct of byte arrays.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is valid and writable for the duration of the call.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return "unknown".into();
    }
    let bytes: Vec<u8> = uts
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The `time(1)` line of the seed: `0.03user 67.49system 1:08.34elapsed 98%CPU`.
pub fn time_line(run_user: f64, run_system: f64, elapsed: std::time::Duration, cpu: f64) -> String {
    format!(
        "{run_user:.2}user {run_system:.2}system {}elapsed {cpu:.0}%CPU",
        table::clock(elapsed)
    )
}

fn figure_text(name: &str, f: &Figure) -> String {
    match &f.source {
        Source::Measured => format!("{name} {}", table::short(f.value)),
        Source::Reference(why) => {
            format!(
                "{name} {} (reference machine; not measured here: {why})",
                table::short(f.value)
            )
        }
    }
}

/// The calibration block printed by every subcommand.
pub fn calibration_text(cal: &KernelCalibration) -> String {
    format!(
        "kernel calibration (Linux {}):\n  {}\n  {}\n  {}\n  one grace period = {:.1} creations; one process = {:.1} creations\n",
        kernel_release(),
        figure_text("one unshare(CLONE_NEWNET), median:", &cal.unshare),
        figure_text(
            "one global grace period (membarrier GLOBAL), median:",
            &cal.grace_period
        ),
        figure_text(
            "one `bash -c exit` (fork, exec, wait), median:",
            &cal.process
        ),
        cal.grace_period_per_unshare(),
        cal.process_per_unshare(),
    )
}

fn figure_json(f: &Figure) -> Value {
    match &f.source {
        Source::Measured => json!({ "seconds": f.value.as_secs_f64(), "measured": true }),
        Source::Reference(why) => {
            json!({ "seconds": f.value.as_secs_f64(), "measured": false, "why": why })
        }
    }
}

/// The calibration as a JSON object.
pub fn calibration_json(cal: &KernelCalibration) -> Value {
    json!({
        "kernel": kernel_release(),
        "unshare": figure_json(&cal.unshare),
        "grace_period": figure_json(&cal.grace_period),
        "process": figure_json(&cal.process),
    })
}

/// Runs and reports the `kernel` subcommand.
pub fn kernel(args: &KernelArgs) -> Result<String, String> {
    let calibration = KernelCalibration::measure();
    let mut progress = Progress::new("kernel unshare", args.iterations);
    let run = kernel::run_in_child(args.iterations, |done| progress.set(done));
    progress.finish();
    let run = run.map_err(|e| e.to_string())?;
    Ok(if args.json {
        kernel_json(&run, &calibration)
    } else {
        kernel_table(&run, &calibration)
    })
}

/// The `kernel` report as a table.
pub fn kernel_table(run: &KernelRun, cal: &KernelCalibration) -> String {
    let share = run.cpu.share_of(run.elapsed);
    let mut t = Table::new([
        "run",
        "iterations",
        "elapsed",
        "user",
        "system",
        "CPU",
        "per call",
    ]);
    t.row([
        format!("kernel {}", kernel_release()),
        run.iterations.to_string(),
        table::clock(run.elapsed),
        table::secs(run.cpu.user),
        table::secs(run.cpu.system),
        format!("{share:.0}%"),
        table::short(run.elapsed / run.iterations.max(1) as u32),
    ]);
    format!(
        "kernel: {} sequential unshare(CLONE_NEWNET) in one process, the seed's C loop\n\n{}\n  {}\n  (seed, 4.14 with net_mutex:       0.03user 23.14system 1:39.85elapsed 23%CPU)\n  (seed, 4.15 with pernet_ops_rwsem: 0.03user 67.49system 1:08.34elapsed 98%CPU)\n  median call {}\n\n{}",
        run.iterations,
        t.render(),
        time_line(
            run.cpu.user.as_secs_f64(),
            run.cpu.system.as_secs_f64(),
            run.elapsed,
            share
        ),
        table::short(run.median_call),
        calibration_text(cal),
    )
}

/// The `kernel` report as one JSON object (with a trailing newline).
pub fn kernel_json(run: &KernelRun, cal: &KernelCalibration) -> String {
    let value = json!({
        "experiment": "kernel",
        "iterations": run.iterations,
        "kernel": {
            "elapsed_s": run.elapsed.as_secs_f64(),
            "user_s": run.cpu.user.as_secs_f64(),
            "system_s": run.cpu.system.as_secs_f64(),
            "cpu_pct": run.cpu.share_of(run.elapsed),
            "median_call_s": run.median_call.as_secs_f64(),
        },
        "calibration": calibration_json(cal),
    });
    format!("{value}\n")
}

/// Runs and reports `seed` or `cycle`.
pub fn model(experiment: Experiment, iterations: u64, args: &ModelArgs) -> Result<String, String> {
    let report = experiment::run(experiment, iterations, args)?;
    if let Some(path) = &args.plot {
        let series: Vec<Series> = report
            .modes
            .iter()
            .map(|m| Series {
                label: m.spec.label(),
                points: downsample(&m.backlog, 2000),
            })
            .collect();
        let title = format!(
            "{}: cleanup backlog, {} iterations per mode",
            experiment.name(),
            report.iterations
        );
        plot::draw_backlog(path, &title, &series)?;
    }
    let mut text = if args.json {
        model_json(&report)
    } else {
        model_table(&report)
    };
    if let (Some(path), false) = (&args.plot, args.json) {
        text.push_str(&format!("\nbacklog plot written to {}\n", path.display()));
    }
    Ok(text)
}

/// Keeps at most about `max` points, each the highest backlog of its stretch of samples, so
/// peaks survive.
pub fn downsample(points: &[(f64, u64)], max: usize) -> Vec<(f64, u64)> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let chunk = points.len().div_ceil(max);
    points
        .chunks(chunk)
        .map(|c| {
            let peak = c.iter().map(|p| p.1).max().unwrap_or(0);
            (c[0].0, peak)
        })
        .collect()
}

fn describe(experiment: Experiment, iterations: u64) -> String {
    match experiment {
        Experiment::Seed => format!(
            "seed: {iterations} sequential copy_net_ns(CLONE_NEWNET) from one thread, each \
             releasing the previous net"
        ),
        Experiment::Cycle => format!(
            "cycle: {iterations} x (start a process, copy_net_ns(CLONE_NEWNET), exit), the \
             model of `unshare -n bash -c exit` in a loop"
        ),
    }
}

fn kernel_reference(experiment: Experiment) -> &'static str {
    match experiment {
        Experiment::Seed => {
            "the kernel patch measured 1.46x (1:39.85 at 23% CPU -> 1:08.34 at 98% CPU)"
        }
        Experiment::Cycle => "the kernel series measured 5.8x (1m40s -> 17s)",
    }
}

/// The workload's and the calibration's parameters, one per line, indented.
pub fn parameters_text(cal: &Calibration) -> String {
    let ops = workload::summary();
    format!(
        "parameters:\n  \
         ops: {} subsys + {} device ({} with private data, {} with pre_exit, {} with exit_batch, \
         {} under rtnl)\n  \
         per net: {} sysctl entries, {} hash buckets, {} control sockets of {} bytes\n  \
         RCU reader threads: {}, each sleeping {} inside its sections\n  \
         model: creation {} (median), cleanup {} per net, grace period {} (target {} = {:.1} \
         creations, as the kernel's)\n  \
         cycle's process work: {} ({:.1} creations, as the kernel's `bash -c exit`)\n  \
         time scale: the model runs {:.1}x faster than the kernel ({} / {})\n",
        ops.subsys,
        ops.device,
        ops.private,
        ops.pre_exit,
        ops.exit_batch,
        ops.rtnl,
        ops.sysctls,
        ops.buckets,
        ops.sockets,
        workload::SOCKET_BYTES,
        cal.readers,
        table::short(cal.reader_section),
        table::short(cal.creation),
        table::short(cal.cleanup_per_net),
        table::short(cal.grace_period),
        table::short(cal.target_grace_period),
        cal.kernel.grace_period_per_unshare(),
        table::short(cal.process),
        cal.kernel.process_per_unshare(),
        cal.time_scale(),
        table::short(cal.kernel.unshare.value),
        table::short(cal.creation),
    )
}

/// The `seed` or `cycle` report as tables.
pub fn model_table(report: &Report) -> String {
    let mut t = Table::new([
        "mode",
        "elapsed",
        "user",
        "system",
        "CPU",
        "batches",
        "mean batch",
        "max batch",
        "grace periods",
        "peak backlog",
        "drain",
    ]);
    for m in &report.modes {
        t.row([
            m.spec.label(),
            table::clock(m.elapsed),
            table::secs(m.cpu.user),
            table::secs(m.cpu.system),
            format!("{:.0}%", m.cpu_pct()),
            m.stats.batches.to_string(),
            format!("{:.1}", m.stats.mean_batch_size()),
            m.stats.max_batch.to_string(),
            m.stats.grace_periods.to_string(),
            m.stats.peak_backlog.to_string(),
            table::short(m.drain),
        ]);
    }
    let mut out = format!(
        "{}\n\n{}\n",
        describe(report.experiment, report.iterations),
        t.render()
    );
    let width = report
        .modes
        .iter()
        .map(|m| m.spec.label().len())
        .max()
        .unwrap_or(0)
        + 1;
    for m in &report.modes {
        let label = format!("{}:", m.spec.label());
        out.push_str(&format!(
            "{label:<width$} {}\n",
            time_line(
                m.cpu.user.as_secs_f64(),
                m.cpu.system.as_secs_f64(),
                m.elapsed,
                m.cpu_pct()
            )
        ));
    }
    if let Some(speedup) = report.speedup() {
        out.push_str(&format!(
            "\nspeedup: shared is {speedup:.2}x faster than exclusive ({})\n",
            kernel_reference(report.experiment)
        ));
    }
    out.push('\n');
    out.push_str(&parameters_text(&report.calibration));
    out.push('\n');
    out.push_str(&calibration_text(&report.calibration.kernel));
    out
}

fn mode_json(m: &ModeResult) -> Value {
    json!({
        "elapsed_s": m.elapsed.as_secs_f64(),
        "user_s": m.cpu.user.as_secs_f64(),
        "system_s": m.cpu.system.as_secs_f64(),
        "cpu_pct": m.cpu_pct(),
        "drain_s": m.drain.as_secs_f64(),
        "batches": m.stats.batches,
        "mean_batch": m.stats.mean_batch_size(),
        "max_batch": m.stats.max_batch,
        "grace_periods": m.stats.grace_periods,
        "barriers": m.stats.barriers,
        "peak_backlog": m.stats.peak_backlog,
        "backlog_waits": m.stats.backlog_waits,
        "created": m.stats.created,
        "destroyed": m.stats.destroyed,
        "reader_sections": m.reader_sections,
        "backlog_bound": m.spec.backlog_bound,
    })
}

/// The `seed` or `cycle` report as one JSON object (with a trailing newline).
pub fn model_json(report: &Report) -> String {
    let cal = &report.calibration;
    let mut value = json!({
        "experiment": report.experiment.name(),
        "iterations": report.iterations,
        "speedup": report.speedup(),
        "peak_backlog": report
            .modes
            .iter()
            .map(|m| (m.spec.key(), json!(m.stats.peak_backlog)))
            .collect::<serde_json::Map<_, _>>(),
        "parameters": {
            "readers": cal.readers,
            "reader_section_s": cal.reader_section.as_secs_f64(),
            "creation_s": cal.creation.as_secs_f64(),
            "cleanup_per_net_s": cal.cleanup_per_net.as_secs_f64(),
            "grace_period_s": cal.grace_period.as_secs_f64(),
            "target_grace_period_s": cal.target_grace_period.as_secs_f64(),
            "process_s": cal.process.as_secs_f64(),
            "time_scale": cal.time_scale(),
            "ops": workload::KERNEL_OPS.len(),
        },
        "calibration": calibration_json(&cal.kernel),
    });
    for m in &report.modes {
        value[m.spec.key()] = mode_json(m);
    }
    format!("{value}\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use netns_core::{LockMode, Stats};

    use super::*;
    use crate::cputime::CpuTimes;
    use crate::experiment::ModeSpec;
    use crate::experiment::tests::test_calibration;

    fn mode(
        lock: LockMode,
        bound: Option<usize>,
        secs: u64,
        cpu_ms: u64,
        peak: usize,
    ) -> ModeResult {
        ModeResult {
            spec: ModeSpec {
                lock,
                backlog_bound: bound,
            },
            elapsed: Duration::from_secs(secs),
            cpu: CpuTimes {
                user: Duration::from_millis(cpu_ms / 4),
                system: Duration::from_millis(cpu_ms - cpu_ms / 4),
            },
            drain: Duration::from_millis(12),
            stats: Stats {
                created: 100,
                destroyed: 100,
                batches: 10,
                batched_nets: 100,
                max_batch: 25,
                grace_periods: 10,
                peak_backlog: peak,
                ..Stats::default()
            },
            backlog: vec![(0.0, 0), (0.5, peak as u64), (1.0, 0)],
            reader_sections: 7,
        }
    }

    fn report(bound: bool) -> Report {
        let mut modes = vec![
            mode(LockMode::Exclusive, None, 100, 23_000, 40),
            mode(LockMode::Shared, None, 68, 66_640, 900),
        ];
        if bound {
            modes.push(mode(LockMode::Shared, Some(64), 70, 67_000, 65));
        }
        Report {
            experiment: Experiment::Seed,
            iterations: 100,
            calibration: test_calibration(4),
            modes,
        }
    }

    #[test]
    fn json_has_the_documented_keys() {
        let text = model_json(&report(true));
        assert!(text.ends_with('\n'));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["experiment"], "seed");
        assert_eq!(v["iterations"], 100);
        assert_eq!(v["exclusive"]["elapsed_s"], 100.0);
        assert!((v["exclusive"]["cpu_pct"].as_f64().unwrap() - 23.0).abs() < 1e-9);
        assert_eq!(v["shared"]["elapsed_s"], 68.0);
        assert!((v["shared"]["cpu_pct"].as_f64().unwrap() - 98.0).abs() < 1e-9);
        assert!((v["speedup"].as_f64().unwrap() - 100.0 / 68.0).abs() < 1e-9);
        assert_eq!(v["peak_backlog"]["exclusive"], 40);
        assert_eq!(v["peak_backlog"]["shared"], 900);
        assert_eq!(v["peak_backlog"]["shared_bound_64"], 65);
        assert_eq!(v["shared_bound_64"]["backlog_bound"], 64);
        assert_eq!(v["shared"]["mean_batch"], 10.0);
        assert_eq!(v["shared"]["max_batch"], 25);
        assert_eq!(v["parameters"]["readers"], 4);
        assert_eq!(v["calibration"]["unshare"]["measured"], false);
    }

    #[test]
    fn table_lists_every_mode_with_units_and_the_speedup() {
        let text = model_table(&report(false));
        assert!(
            text.starts_with("seed: 100 sequential copy_net_ns"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().collect();
        let header = lines.iter().position(|l| l.starts_with("mode ")).unwrap();
        assert!(lines[header + 1].starts_with("----"));
        let exclusive = lines[header + 2];
        let shared = lines[header + 3];
        assert!(
            exclusive.starts_with("exclusive") && shared.starts_with("shared"),
            "{text}"
        );
        assert_eq!(exclusive.len(), lines[header].len(), "aligned:\n{text}");
        assert!(
            exclusive.contains("1:40.00") && exclusive.contains("23%"),
            "{exclusive}"
        );
        assert!(
            shared.contains("1:08.00") && shared.contains("98%"),
            "{shared}"
        );
        assert!(
            shared.contains("16.66 s") && shared.contains("49.98 s"),
            "{shared}"
        );
        assert!(
            text.contains("shared:    16.66user 49.98system 1:08.00elapsed 98%CPU"),
            "{text}"
        );
        assert!(
            text.contains("speedup: shared is 1.47x faster than exclusive"),
            "{text}"
        );
        assert!(
            text.contains("parameters:\n  ops: 40 subsys + 6 device"),
            "{text}"
        );
        assert!(
            text.contains("RCU reader threads: 4, each sleeping"),
            "{text}"
        );
        assert!(text.contains("kernel calibration"), "{text}");
    }

    #[test]
    fn no_speedup_without_both_modes() {
        let mut r = report(false);
        r.modes.remove(0);
        assert_eq!(r.speedup(), None);
        assert!(!model_table(&r).contains("speedup"));
        let v: Value = serde_json::from_str(&model_json(&r)).unwrap();
        assert!(v["speedup"].is_null());
    }

    #[test]
    fn downsampling_keeps_peaks_and_order() {
        let points: Vec<(f64, u64)> = (0..10_000).map(|i| (i as f64, (i % 1000) as u64)).collect();
        let d = downsample(&points, 100);
        assert!(d.len() <= 100 && d.len() >= 50, "{}", d.len());
        assert_eq!(d.iter().map(|p| p.1).max(), Some(999));
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(downsample(&points[..10], 100), points[..10].to_vec());
    }

    #[test]
    fn kernel_report_has_the_seed_columns() {
        let run = KernelRun {
            iterations: 100_000,
            elapsed: Duration::from_millis(68_340),
            cpu: CpuTimes {
                user: Duration::from_millis(30),
                system: Duration::from_millis(67_490),
            },
            median_call: Duration::from_micros(680),
        };
        let cal = KernelCalibration::reference("test");
        let text = kernel_table(&run, &cal);
        assert!(
            text.contains("0.03user 67.49system 1:08.34elapsed 99%CPU"),
            "{text}"
        );
        assert!(text.contains("reference machine"), "{text}");
        let v: Value = serde_json::from_str(&kernel_json(&run, &cal)).unwrap();
        assert_eq!(v["experiment"], "kernel");
        assert_eq!(v["iterations"], 100_000);
        assert!((v["kernel"]["elapsed_s"].as_f64().unwrap() - 68.34).abs() < 1e-9);
        assert!(v["kernel"]["cpu_pct"].as_f64().unwrap() > 98.0);
    }
}
