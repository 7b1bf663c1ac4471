//! The command line: `netns-bench [seed|cycle|kernel] [OPTIONS]`; `seed` when no subcommand is
//! given, so `netns-bench --iterations 1000` runs a short seed experiment.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Reproduces the LKML net_mutex -> pernet_ops_rwsem experiments on the netns-core registry.
///
/// With no subcommand, runs `seed`: the experiment of the patch that turned net_mutex into
/// pernet_ops_rwsem, in both lock modes, with a modelled kernel-like workload.
#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "netns-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// The experiment to run (default: seed).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `seed`, when no subcommand is given.
    #[command(flatten)]
    pub seed: SeedArgs,
}

impl Cli {
    /// The subcommand to run, with `seed` standing in for none.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Seed(self.seed))
    }
}

/// The experiments.
#[derive(Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// N sequential copy_net_ns(CLONE_NEWNET) from one thread, Exclusive then Shared (default).
    ///
    /// Each creation releases the previous net, so the cleanup worker dismantles while the
    /// thread creates, as in the seed's `unshare(CLONE_NEWNET)` loop. Prints elapsed time, the
    /// creating thread's user and system CPU time and CPU share per mode, and the speedup.
    Seed(SeedArgs),
    /// Create and destroy one net per iteration, as `unshare -n bash -c exit` in a loop.
    ///
    /// Each iteration starts a thread (the process) that does the modelled work of a process
    /// start, creates a net, and exits, releasing it; the loop waits for the thread but not for
    /// the net's cleanup, as the shell waits for its child.
    Cycle(CycleArgs),
    /// Time the real kernel: the seed's unshare(CLONE_NEWNET) loop in a child process.
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

/// Options of `seed`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct SeedArgs {
    /// Number of sequential creations per mode (the seed made 100000).
    #[arg(short = 'n', long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: u64,
    /// Options shared with `cycle`.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Options of `cycle`.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct CycleArgs {
    /// Number of create-and-destroy iterations per mode (the kernel series made 10000).
    #[arg(short = 'n', long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: u64,
    /// Options shared with `seed`.
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Options of the modelled experiments.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct ModelArgs {
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Draw the cleanup backlog over time, per mode, into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Also run Shared mode with this cleanup-backlog bound (creators wait at it).
    #[arg(long, value_name = "NETS")]
    pub backlog_bound: Option<NonZeroUsize>,
    /// RCU reader threads sleeping inside their sections (0: grace periods stay short).
    #[arg(long, default_value_t = 4)]
    pub readers: usize,
    /// Scale against the reference machine's kernel figures instead of measuring this kernel.
    #[arg(long)]
    pub reference_kernel: bool,
}

impl Default for ModelArgs {
    fn default() -> ModelArgs {
        ModelArgs {
            json: false,
            plot: None,
            backlog_bound: None,
            readers: 4,
            reference_kernel: false,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("netns-bench").chain(args.iter().copied()))
            .map(Cli::into_command)
    }

    #[test]
    fn no_arguments_run_the_seed_with_its_defaults() {
        let Command::Seed(args) = parse(&[]).unwrap() else {
            panic!("not seed")
        };
        assert_eq!(args.iterations, 100_000);
        assert_eq!(args.model, ModelArgs::default());
    }

    #[test]
    fn top_level_options_belong_to_the_seed() {
        let Command::Seed(args) = parse(&["-n", "50", "--json", "--plot", "b.svg"]).unwrap() else {
            panic!("not seed")
        };
        assert_eq!(args.iterations, 50);
        assert!(args.model.json);
        assert_eq!(args.model.plot, Some(PathBuf::from("b.svg")));
    }

    #[test]
    fn subcommands_parse_their_options() {
        let Command::Cycle(args) = parse(&["cycle"]).unwrap() else {
            panic!("not cycle")
        };
        assert_eq!(args.iterations, 10_000);
        let Command::Cycle(args) = parse(&[
            "cycle",
            "--iterations",
            "7",
            "--backlog-bound",
            "64",
            "--readers",
            "0",
        ])
        .unwrap() else {
            panic!("not cycle")
        };
        assert_eq!((args.iterations, args.model.readers), (7, 0));
        assert_eq!(args.model.backlog_bound, NonZeroUsize::new(64));
        let Command::Kernel(args) = parse(&["kernel", "-n", "3", "--json"]).unwrap() else {
            panic!("not kernel")
        };
        assert_eq!((args.iterations, args.json), (3, true));
        assert_eq!(
            parse(&["kernel-child", "5"]).unwrap(),
            Command::KernelChild { iterations: 5 }
        );
    }

    #[test]
    fn bad_input_is_refused_with_a_message() {
        let err = parse(&["-n", "0"]).unwrap_err().to_string();
        assert!(err.contains("0"), "{err}");
        assert!(parse(&["seed", "--backlog-bound", "0"]).is_err());
        assert!(parse(&["cycle", "-n", "many"]).is_err());
        assert!(parse(&["kernel", "--plot", "x.svg"]).is_err());
        assert!(
            parse(&["--json", "kernel"]).is_err(),
            "seed options before a subcommand"
        );
        assert!(parse(&["frobnicate"]).is_err());
    }

    #[test]
    fn every_subcommand_has_help() {
        for sub in ["seed", "cycle", "kernel"] {
            let err = parse(&[sub, "--help"]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
            assert!(err.to_string().contains("--iterations"), "{sub}: {err}");
        }
        let top = parse(&["--help"]).unwrap_err().to_string();
        for sub in ["seed", "cycle", "kernel"] {
            assert!(top.contains(sub), "{top}");
        }
        assert!(
            !top.contains("kernel-child"),
            "the child subcommand is hidden"
        );
    }

    #[test]
    fn the_command_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
