//! The real kernel, measured: the seed's `unshare(CLONE_NEWNET)` loop run in a child process,
//! and the calibration figures (one `unshare`, one global grace period, one process start) that
//! the modelled workload is scaled against.
//!
//! The loop runs in a re-executed copy of this binary (the hidden `kernel-child` subcommand), so
//! the namespaces it creates never replace the namespace of the process that reports, and its
//! CPU time is that of one single-threaded process, as with the seed's C program. The child
//! measures itself (elapsed time and its own user and system time around the loop) and writes
//! one line per event on its standard output:
//!
//! ```text
//! progress <iterations done>
//! done <iterations> <elapsed ns> <user ns> <system ns> <median call ns>
//! error <errno> <message>
//! ```

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cputime::{CpuTimes, thread_cpu_time};

/// Name of the hidden subcommand that runs the loop in the child process.
pub const CHILD_SUBCOMMAND: &str = "kernel-child";

/// One `unshare(CLONE_NEWNET)` on the project's reference machine (2 cores, Linux 6.18), used
/// when this machine does not allow the call.
pub const REFERENCE_UNSHARE: Duration = Duration::from_micros(700);
/// One `membarrier(MEMBARRIER_CMD_GLOBAL)` (a kernel `synchronize_rcu()`) on the reference
/// machine, used when this machine refuses the command.
pub const REFERENCE_GRACE_PERIOD: Duration = Duration::from_millis(9);
/// One `bash -c exit` (fork, exec, exit, wait) on the reference machine, used when bash cannot be
/// started.
pub const REFERENCE_PROCESS: Duration = Duration::from_micros(2_300);

/// `unshare(CLONE_NEWNET)` calls in the calibration loop: long enough that the kernel's cleanup
/// runs alongside, as in the seed's loop, and its median is the loop's steady cost.
pub const UNSHARE_SAMPLES: u64 = 400;

/// `membarrier` command numbers (`include/uapi/linux/membarrier.h`).
const MEMBARRIER_CMD_QUERY: libc::c_int = 0;
const MEMBARRIER_CMD_GLOBAL: libc::c_int = 1;

/// Why the kernel loop could not be measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// The kernel refused `unshare(CLONE_NEWNET)` (EPERM: not root and no `CAP_SYS_ADMIN`, or a
    /// sandbox forbids new namespaces), or this is not Linux.
    NotPermitted(String),
    /// The child failed in another way (could not start, another errno, bad report).
    Failed(String),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::NotPermitted(why) => write!(
                f,
                "this process may not create network namespaces ({why}); the kernel loop needs \
                 Linux and CAP_SYS_ADMIN (run as root)"
            ),
            KernelError::Failed(why) => write!(f, "the kernel loop failed: {why}"),
        }
    }
}

impl std::error::Error for KernelError {}

/// The result of the kernel loop: the same columns as a modelled run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelRun {
    /// Number of `unshare(CLONE_NEWNET)` calls made.
    pub iterations: u64,
    /// Wall-clock time of the whole loop.
    pub elapsed: Duration,
    /// CPU time of the looping process during the loop.
    pub cpu: CpuTimes,
    /// Median duration of one call.
    pub median_call: Duration,
}

/// Runs `iterations` calls of `unshare(CLONE_NEWNET)` in a child process and returns its report.
///
/// `on_progress` is called with the number of calls done so far, a few hundred times per run.
pub fn run_in_child(
    iterations: u64,
    mut on_progress: impl FnMut(u64),
) -> Result<KernelRun, KernelError> {
    if !cfg!(target_os = "linux") {
        return Err(KernelError::NotPermitted(
            "network namespaces exist on Linux only".into(),
        ));
    }
    let exe = std::env::current_exe()
        .map_err(|e| KernelError::Failed(format!("cannot find this program's path: {e}")))?;
    let mut child = Command::new(exe)
        .arg(CHILD_SUBCOMMAND)
        .arg(iterations.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| KernelError::Failed(format!("cannot start the child process: {e}")))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let mut outcome = Err(KernelError::Failed(
        "the child ended without a report".into(),
    ));
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| KernelError::Failed(format!("reading the child: {e}")))?;
        match parse_child_line(&line) {
            Some(ChildLine::Progress(done)) => on_progress(done),
            Some(ChildLine::Done(run)) => outcome = Ok(run),
            Some(ChildLine::Error(errno, message)) => {
                outcome = Err(if errno == libc::EPERM {
                    KernelError::NotPermitted(message)
                } else {
                    KernelError::Failed(message)
                })
            }
            None => {
                outcome = Err(KernelError::Failed(format!(
                    "unexpected line from child: {line}"
                )))
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| KernelError::Failed(format!("waiting for the child: {e}")))?;
    if outcome.is_ok() && !status.success() {
        return Err(KernelError::Failed(format!(
            "the child exited with {status}"
        )));
    }
    outcome
}

#[derive(Debug, PartialEq)]
enum ChildLine {
    Progress(u64),
    Done(KernelRun),
    Error(i32, String),
}

fn parse_child_line(line: &str) -> Option<ChildLine> {
    let mut words = line.splitn(2, ' ');
    let tag = words.next()?;
    let rest = words.next().unwrap_or("");
    match tag {
        "progress" => rest.trim().parse().ok().map(ChildLine::Progress),
        "done" => {
            let n: Vec<u64> = rest
                .split(' ')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let [iterations, elapsed, user, system, median] = n[..] else {
                return None;
            };
            Some(ChildLine::Done(KernelRun {
                iterations,
                elapsed: Duration::from_nanos(elapsed),
                cpu: CpuTimes {
                    user: Duration::from_nanos(user),
                    system: Duration::from_nanos(system),
                },
                median_call: Duration::from_nanos(median),
            }))
        }
        "error" => {
            let mut parts = rest.splitn(2, ' ');
            let errno = parts.next()?.parse().ok()?;
            Some(ChildLine::Error(
                errno,
                parts.next().unwrap_or("").to_string(),
            ))
        }
        _ => None,
    }
}

/// The body of the child process: the seed's C loop. Returns the process exit code.
pub fn child_main(iterations: u64) -> i32 {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let step = (iterations / 200).max(1);
    let mut calls = Vec::with_capacity(iterations.min(1 << 24) as usize);
    let cpu0 = match thread_cpu_time() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(
                out,
                "error {} getrusage: {e}",
                e.raw_os_error().unwrap_or(0)
            );
            return 2;
        }
    };
    let start = Instant::now();
    for i in 0..iterations {
        let t = Instant::now();
        if let Err(e) = unshare_net() {
            let _ = writeln!(
                out,
                "error {} unshare(CLONE_NEWNET): {e}",
                e.raw_os_error().unwrap_or(0)
            );
            return 2;
        }
        calls.push(t.elapsed());
        if (i + 1) % step == 0 {
            let _ = writeln!(out, "progress {}", i + 1);
            let _ = out.flush();
        }
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu_time().unwrap_or(cpu0) - cpu0;
    calls.sort_unstable();
    let median = calls.get(calls.len() / 2).copied().unwrap_or_default();
    let _ = writeln!(
        out,
        "done {iterations} {} {} {} {}",
        elapsed.as_nanos(),
        cpu.user.as_nanos(),
        cpu.system.as_nanos(),
        median.as_nanos()
    );
    0
}

#[cfg(target_os = "linux")]
fn unshare_net() -> io::Result<()> {
    // SAFETY: unshare takes flags only; CLONE_NEWNET moves this (single-threaded) process into a
    // new network namespace and touches no memory of ours.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn unshare_net() -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::EPERM))
}

/// Times `membarrier(MEMBARRIER_CMD_GLOBAL)`, which waits for a kernel RCU grace period: the
/// median of `samples` calls.
pub fn time_global_grace_period(samples: usize) -> io::Result<Duration> {
    if !cfg!(target_os = "linux") {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "membarrier is Linux-only",
        ));
    }
    let supported = membarrier(MEMBARRIER_CMD_QUERY)?;
    if supported & MEMBARRIER_CMD_GLOBAL == 0 {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel does not offer MEMBARRIER_CMD_GLOBAL",
        ));
    }
    median_of(samples, || membarrier(MEMBARRIER_CMD_GLOBAL).map(drop))
}

#[cfg(target_os = "linux")]
fn membarrier(cmd: libc::c_int) -> io::Result<libc::c_int> {
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_int) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as libc::c_int)
    }
}

#[cfg(not(target_os = "linux"))]
fn membarrier(_cmd: libc::c_int) -> io::Result<libc::c_int> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "membarrier is Linux-only",
    ))
}

/// Times one `bash -c exit` (start, exit, wait): the process part of the kernel's `cycle`
/// experiment. The median of `samples` runs.
pub fn time_process_start(samples: usize) -> io::Result<Duration> {
    median_of(samples, || {
        let status = Command::new("bash")
            .args(["-c", "exit"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("bash: {status}")))
        }
    })
}

fn median_of(samples: usize, mut f: impl FnMut() -> io::Result<()>) -> io::Result<Duration> {
    let mut times = Vec::with_capacity(samples.max(1));
    for _ in 0..samples.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

/// Where a calibration figure came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Measured on this machine now.
    Measured,
    /// Not measurable here (the reason); the reference machine's figure is used instead.
    Reference(String),
}

/// One calibration figure and its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The duration.
    pub value: Duration,
    /// Measured here, or the reference value and why.
    pub source: Source,
}

impl Figure {
    fn from(result: Result<Duration, String>, reference: Duration) -> Figure {
        match result {
            Ok(value) => Figure {
                value,
                source: Source::Measured,
            },
            Err(why) => Figure {
                value: reference,
                source: Source::Reference(why),
            },
        }
    }
}

/// The kernel's costs that the modelled workload is scaled against.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelCalibration {
    /// One `unshare(CLONE_NEWNET)` (median of a loop of [`UNSHARE_SAMPLES`] in a child process).
    pub unshare: Figure,
    /// One global RCU grace period (`membarrier(MEMBARRIER_CMD_GLOBAL)`, median).
    pub grace_period: Figure,
    /// One `bash -c exit`, the process around each step of the `cycle` experiment (median).
    pub process: Figure,
}

impl KernelCalibration {
    /// Measures the three figures on this machine (about a second), falling back to the
    /// reference machine's figure for each one this machine cannot measure.
    ///
    /// TODO(#6): each figure is the median of one short run, so it moves with the machine's
    /// load (the grace period from 9 to 15 ms here); repeated runs or a longer loop would make
    /// the scale steadier at the price of start-up time.
    pub fn measure() -> KernelCalibration {
        let unshare = run_in_child(UNSHARE_SAMPLES, |_| {})
            .map(|r| r.median_call)
            .map_err(|e| match e {
                KernelError::NotPermitted(why) => why,
                KernelError::Failed(why) => why,
            });
        let grace_period = time_global_grace_period(9).map_err(|e| e.to_string());
        let process = time_process_start(7).map_err(|e| e.to_string());
        KernelCalibration {
            unshare: Figure::from(unshare, REFERENCE_UNSHARE),
            grace_period: Figure::from(grace_period, REFERENCE_GRACE_PERIOD),
            process: Figure::from(process, REFERENCE_PROCESS),
        }
    }

    /// The reference machine's figures, without measuring anything.
    pub fn reference(why: &str) -> KernelCalibration {
        let f = |value| Figure {
            value,
            source: Source::Reference(why.to_string()),
        };
        KernelCalibration {
            unshare: f(REFERENCE_UNSHARE),
            grace_period: f(REFERENCE_GRACE_PERIOD),
            process: f(REFERENCE_PROCESS),
        }
    }

    /// Grace period over creation: how many namespace creations fit in one grace period.
    pub fn grace_period_per_unshare(&self) -> f64 {
        self.grace_period.value.as_secs_f64() / self.unshare.value.as_secs_f64()
    }

    /// Process start over creation.
    pub fn process_per_unshare(&self) -> f64 {
        self.process.value.as_secs_f64() / self.unshare.value.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_lines_parse() {
        assert_eq!(
            parse_child_line("progress 500"),
            Some(ChildLine::Progress(500))
        );
        let Some(ChildLine::Done(run)) = parse_child_line("done 10 7000000 1000 6000000 650000")
        else {
            panic!("done line not parsed")
        };
        assert_eq!(run.iterations, 10);
        assert_eq!(run.elapsed, Duration::from_millis(7));
        assert_eq!(run.cpu.system, Duration::from_millis(6));
        assert_eq!(run.median_call, Duration::from_micros(650));
        assert_eq!(
            parse_child_line("error 1 unshare(CLONE_NEWNET): Operation not permitted"),
            Some(ChildLine::Error(
                1,
                "unshare(CLONE_NEWNET): Operation not permitted".into()
            ))
        );
        assert_eq!(parse_child_line("done 1 2 3"), None);
        assert_eq!(parse_child_line("hello"), None);
    }

    #[test]
    fn ratios_of_the_reference_figures() {
        let cal = KernelCalibration::reference("test");
        assert!((cal.grace_period_per_unshare() - 9.0 / 0.7).abs() < 1e-9);
        assert!((cal.process_per_unshare() - 2.3 / 0.7).abs() < 1e-9);
    }
}
