//! CPU time of the calling thread, split into user and system time as `time(1)` prints it.
//!
//! On Linux the total is the thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`), which includes the
//! time run since the last scheduler tick, and the system part comes from
//! `getrusage(RUSAGE_THREAD)`, whose figures for a running thread advance only at ticks (a few
//! milliseconds): fine for the split over a long run, too coarse for a total over a short one.
//! Elsewhere the whole CPU clock is reported as user time and the system time as zero.

use std::io;
use std::ops::Sub;
use std::time::Duration;

/// User and system CPU time consumed by one thread (or, for a child process, by that process).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Time spent running the thread's own code.
    pub user: Duration,
    /// Time the kernel spent working on the thread's behalf (system calls, page faults).
    pub system: Duration,
}

impl CpuTimes {
    /// User plus system time.
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The share of `elapsed` that this CPU time covers, in percent (`time(1)`'s `%CPU`).
    ///
    /// Returns 0 for a zero `elapsed`.
    pub fn share_of(&self, elapsed: Duration) -> f64 {
        if elapsed.is_zero() {
            return 0.0;
        }
        100.0 * self.total().as_secs_f64() / elapsed.as_secs_f64()
    }
}

impl Sub for CpuTimes {
    type Output = CpuTimes;

    /// The CPU time between two readings; saturates at zero instead of underflowing.
    fn sub(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
}

/// The CPU time the calling thread has used so far.
#[cfg(target_os = "linux")]
pub fn thread_cpu_time() -> io::Result<CpuTimes> {
    let total = thread_cpu_clock()?;
    let system = rusage(libc::RUSAGE_THREAD)?.system.min(total);
    Ok(CpuTimes {
        user: total - system,
        system,
    })
}

/// The CPU time the calling thread has used so far (total only; see the module docs).
#[cfg(not(target_os = "linux"))]
pub fn thread_cpu_time() -> io::Result<CpuTimes> {
    Ok(CpuTimes {
        user: thread_cpu_clock()?,
        system: Duration::ZERO,
    })
}

/// The calling thread's CPU clock: its total CPU time, to the nanosecond.
pub fn thread_cpu_clock() -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The CPU time used by every child process that has been waited for, summed.
///
/// The difference of two readings around a `wait` is the CPU time of the child waited for.
pub fn children_cpu_time() -> io::Result<CpuTimes> {
    rusage(libc::RUSAGE_CHILDREN)
}

fn rusage(who: libc::c_int) -> io::Result<CpuTimes> {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call, and `who` is one
    // of the constants getrusage accepts.
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(CpuTimes {
        user: timeval(usage.ru_utime),
        system: timeval(usage.ru_stime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;
    use std::time::Instant;

    #[test]
    fn busy_thread_accumulates_its_cpu_time_and_waiting_does_not() {
        // Spin for 20 ms of this thread's CPU time, however busy the machine is.
        let before = thread_cpu_time().unwrap();
        let clock0 = thread_cpu_clock().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        while thread_cpu_clock().unwrap() - clock0 < Duration::from_millis(20)
            && Instant::now() < deadline
        {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let busy = (thread_cpu_time().unwrap() - before).total();
        assert!(
            busy >= Duration::from_millis(18) && busy < Duration::from_millis(60),
            "20 ms of CPU counted as {busy:?}"
        );

        // Another thread's work is not this thread's time.
        let before = thread_cpu_time().unwrap();
        std::thread::spawn(|| {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(30) {
                black_box(0);
            }
        })
        .join()
        .unwrap();
        let idle = thread_cpu_time().unwrap() - before;
        assert!(
            idle.total() < Duration::from_millis(10),
            "waiting counted {idle:?}"
        );
    }

    #[test]
    fn short_stretches_are_counted_to_the_microsecond() {
        // getrusage alone would report 0 or a whole tick for 300 us of work.
        let before = thread_cpu_time().unwrap();
        let clock0 = thread_cpu_clock().unwrap();
        while thread_cpu_clock().unwrap() - clock0 < Duration::from_micros(300) {
            black_box(0);
        }
        let spent = (thread_cpu_time().unwrap() - before).total();
        assert!(
            spent >= Duration::from_micros(250) && spent < Duration::from_millis(3),
            "{spent:?}"
        );
    }

    #[test]
    fn share_is_percent_of_elapsed() {
        let t = CpuTimes {
            user: Duration::from_millis(300),
            system: Duration::from_millis(200),
        };
        assert!((t.share_of(Duration::from_secs(1)) - 50.0).abs() < 1e-9);
        assert_eq!(t.share_of(Duration::ZERO), 0.0);
        let d = t - CpuTimes {
            user: Duration::from_millis(400),
            system: Duration::ZERO,
        };
        assert_eq!(d.user, Duration::ZERO);
        assert_eq!(d.system, Duration::from_millis(200));
    }
}
