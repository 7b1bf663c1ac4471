//! `netns-bench`: the seed experiments of the net_mutex -> pernet_ops_rwsem change.

use std::process::ExitCode;

use clap::Parser;
use netns_bench::cli::{Cli, Command};
use netns_bench::experiment::Experiment;
use netns_bench::{kernel, report};

/// Per-thread heaps with lock-free frees from other threads, like the kernel's per-CPU slab caches;
/// glibc's arena locks would serialise the cleanup worker's frees with the creating thread's
/// allocations, a contention the kernel does not have (crate docs, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let result = match Cli::parse().into_command() {
        Command::Seed(args) => report::model(Experiment::Seed, args.iterations, &args.model),
        Command::Cycle(args) => report::model(Experiment::Cycle, args.iterations, &args.model),
        Command::Kernel(args) => report::kernel(&args),
        Command::KernelChild { iterations } => {
            return ExitCode::from(kernel::child_main(iterations).clamp(0, 255) as u8);
        }
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("netns-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
