//! The errors of the killable and timed waits.

use std::error::Error;
use std::fmt;

/// A killable wait was aborted because the thread's kill flag is raised
/// (the kernel's `-EINTR` from `down_read_killable`/`down_write_killable`).
///
/// The lock was not taken and the semaphore carries no trace of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Killed;

impl fmt::Display for Killed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wait for the rwsem aborted: the thread was killed")
    }
}

impl Error for Killed {}

/// A timed wait ran out of time before the lock was granted.
///
/// The lock was not taken and the semaphore carries no trace of the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimedOut;

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wait for the rwsem timed out")
    }
}

impl Error for TimedOut {}
