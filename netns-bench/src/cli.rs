//! The command line: `netns-bench [seed|cycle|kernel] [OPTIONS]`, `seed` when no subcommand is
//! given.

use clap::{Args, Parser, Subcommand};

/// Reproduces the LKML net_mutex -> pernet_ops_rwsem experiments on the netns-core registry.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(name = "netns-bench", version, about, long_about = None)]
pub struct Cli {
    /// The experiment to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The experiments.
#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Time the real kernel: the seed's `unshare(CLONE_NEWNET)` loop in a child process.
    ///
    /// Needs Linux and the right to create network namespaces (root or CAP_SYS_ADMIN); prints a
    /// clear message otherwise.
    Kernel(KernelArgs),
    /// Runs the kernel loop in this process (used by `kernel` in its child process).
    #[command(name = crate::kernel::CHILD_SUBCOMMAND, hide = true)]
    KernelChild {
        /// Number of `unshare(CLONE_NEWNET)` calls.
        iterations: u64,
    },
}

/// Options of `kernel`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct KernelArgs {
    /// Number of sequential `unshare(CLONE_NEWNET)` calls (the seed made 100000).
    #[arg(short = 'n', long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}
