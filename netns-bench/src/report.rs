//! What the subcommands print: aligned tables for people, or one JSON object with `--json`.

use serde_json::{Value, json};

use crate::cli::KernelArgs;
use crate::kernel::{self, Figure, KernelCalibration, KernelRun, Source};
use crate::progress::Progress;
use crate::table::{self, Table};

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
