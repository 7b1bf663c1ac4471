//! Fault injection for the torture tests' busted twins and for fuzzing (feature `test-hooks`).
//!
//! Not part of the stable API: a registry built with faults deliberately breaks the kernel's
//! rules, so that a harness can prove it notices.

use std::sync::atomic::{AtomicU64, Ordering};

/// Faults to inject, passed to `RegistryBuilder::faults`.
#[derive(Debug, Default)]
pub struct Faults {
    /// Skip every n-th `exit` call (0: never).
    skip_exit_every: u64,
    /// `exit` calls seen so far.
    exits: AtomicU64,
}

impl Faults {
    /// Skips every `n`-th `exit` callback (`n == 0` disables the fault).
    pub fn skip_every_nth_exit(n: u64) -> Self {
        Self {
            skip_exit_every: n,
            exits: AtomicU64::new(0),
        }
    }

    /// Whether the `exit` about to run must be skipped.
    pub(crate) fn skip_exit(&self) -> bool {
        if self.skip_exit_every == 0 {
            return false;
        }
        let n = self.exits.fetch_add(1, Ordering::Relaxed) + 1;
        n % self.skip_exit_every == 0
    }
}
