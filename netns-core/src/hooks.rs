//! Fault injection for the torture tests' busted twins and for fuzzing (feature `test-hooks`).
//!
//! Not part of the stable API: a registry built with faults deliberately breaks the kernel's
//! rules, so that a harness can prove it notices.
//!
//! # Orderings
//!
//! The exit counter is `Relaxed`: it only picks which exit to skip.

use std::sync::atomic::{AtomicU64, Ordering};

/// Faults to inject, passed to `RegistryBuilder::faults`.
#[derive(Debug, Default)]
pub struct Faults {
    /// Skip every n-th `exit` call (0: never).
    skip_exit_every: u64,
    /// `exit` calls seen so far.
    exits: AtomicU64,
    /// `cleanup_net` does not wait for its grace period (it still counts it).
    skip_batch_grace_period: bool,
}

impl Faults {
    /// Skips every `n`-th `exit` callback (`n == 0` disables the fault).
    pub fn skip_every_nth_exit(n: u64) -> Self {
        Self {
            skip_exit_every: n,
            ..Self::default()
        }
    }

    /// Makes `cleanup_net` skip the wait of its one grace period per batch (a synchronize that
    /// does not wait), while still counting it in the statistics.
    pub fn skip_batch_grace_period() -> Self {
        Self {
            skip_batch_grace_period: true,
            ..Self::default()
        }
    }

    /// Adds the batch grace-period fault to these faults.
    pub fn and_skip_batch_grace_period(mut self) -> Self {
        self.skip_batch_grace_period = true;
        self
    }

    /// Whether the `exit` about to run must be skipped.
    pub(crate) fn skip_exit(&self) -> bool {
        if self.skip_exit_every == 0 {
            return false;
        }
        let n = self.exits.fetch_add(1, Ordering::Relaxed) + 1;
        n % self.skip_exit_every == 0
    }

    /// Whether `cleanup_net` must skip its grace period.
    pub(crate) fn skips_batch_grace_period(&self) -> bool {
        self.skip_batch_grace_period
    }
}
