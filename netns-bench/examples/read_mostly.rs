//! Two threads at 99% reads on `rwsem`, `std` and `parking_lot`, interleaved round by round:
//! `cargo run --release -p netns-bench --example read_mostly [-- --ops N] [--rounds R]
//! [--write-every W]`.
//!
//! The criterion group `rwsem_read_mostly` measures the same loop, one lock after another, so a
//! burst of load on this shared machine lands on one lock's samples and not the others'. Here
//! every round runs the three locks back to back (in a rotating order), and the medians over
//! the rounds are compared, which is the figure the `rwsem` docs quote.
//!
//! Each round has two threads pinned to distinct CPUs share `N` operations (default 20
//! million); thread `t` writes once in every `W` operations (default 100, i.e. 1% writes; 1
//! makes every operation a write), at an offset of its own, and reads otherwise. The printed
//! throughput is operations per second of wall time from the threads' common start to the
//! later finish.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use netns_bench::locks::CounterLock;

/// By default one operation in a hundred is a write (1% writes), as in the criterion group.
const DEFAULT_WRITE_EVERY: u64 = 100;

/// One round on a fresh lock: `ops` operations over two pinned threads, one in `write_every` a
/// write. Returns the wall time, and checks that every write landed (a lock that lost one would
/// be measured doing less).
fn round<L: CounterLock>(ops: u64, write_every: u64) -> Duration {
    let lock = L::new();
    let start = Barrier::new(3);
    let per_thread = ops / 2;
    let mut began = Instant::now();
    let writes: u64 = std::thread::scope(|s| {
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let (lock, start) = (&lock, &start);
                s.spawn(move || {
                    netns_bench::affinity::pin_to_cpu(t as usize);
                    let offset = t * write_every / 2;
                    start.wait();
                    let mut writes = 0;
                    for i in 0..per_thread {
                        if i % write_every == offset {
                            lock.write_add(1);
                            writes += 1;
                        } else {
                            black_box(lock.read_value());
                        }
                    }
                    writes
                })
            })
            .collect();
        start.wait();
        began = Instant::now();
        threads
            .into_iter()
            .map(|t| t.join().expect("a benchmark thread panicked"))
            .sum()
    });
    let elapsed = began.elapsed();
    assert_eq!(lock.read_value(), writes, "{}: writes were lost", L::NAME);
    elapsed
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Args {
    ops: u64,
    rounds: usize,
    write_every: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        ops: 20_000_000,
        rounds: 7,
        write_every: DEFAULT_WRITE_EVERY,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let value = argv.next().ok_or(format!("{arg} needs a value"))?;
        let n: u64 = value
            .parse()
            .map_err(|_| format!("{arg}: not a number: {value:?}"))?;
        match arg.as_str() {
            "--ops" if n >= 200 => args.ops = n,
            "--ops" => return Err("--ops must be at least 200".into()),
            "--rounds" if n >= 1 => args.rounds = n as usize,
            "--rounds" => return Err("--rounds must be at least 1".into()),
            "--write-every" if n >= 1 => args.write_every = n,
            "--write-every" => return Err("--write-every must be at least 1".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let Args {
        ops,
        rounds,
        write_every,
    } = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("read_mostly: {e}");
            eprintln!("usage: read_mostly [--ops N] [--rounds R] [--write-every W]");
            return ExitCode::from(2);
        }
    };
    type Run = fn(u64, u64) -> Duration;
    fn entry<L: CounterLock>() -> (&'static str, Run) {
        (L::NAME, round::<L>)
    }
    let locks: [(&str, Run); 3] = [
        entry::<rwsem::RwSem<u64>>(),
        entry::<std::sync::RwLock<u64>>(),
        entry::<parking_lot::RwLock<u64>>(),
    ];
    // A discarded warm-up round for each lock.
    for (_, run) in &locks {
        run(ops / 10, write_every);
    }
    let mut rates: [Vec<f64>; 3] = Default::default();
    for r in 0..rounds {
        let mut line = format!("round {}:", r + 1);
        for k in 0..locks.len() {
            // Rotate the order so no lock always runs first after a pause.
            let idx = (k + r) % locks.len();
            let (name, run) = locks[idx];
            let mops = ops as f64 / run(ops, write_every).as_secs_f64() / 1e6;
            rates[idx].push(mops);
            line += &format!(" {name} {mops:.1}");
        }
        println!("{line} (M ops/s)");
    }
    let [mut a, mut b, mut c] = rates;
    let (rw, st, pl) = (median(&mut a), median(&mut b), median(&mut c));
    let share = 100.0 / write_every as f64;
    println!(
        "median of {rounds} rounds, {ops} operations each, two pinned threads, \
         {share:.3}% writes (M ops/s):"
    );
    println!("  rwsem {rw:.1}  std {st:.1}  parking_lot {pl:.1}");
    println!(
        "  rwsem / parking_lot {:.2}x  rwsem / std {:.2}x",
        rw / pl,
        rw / st
    );
    ExitCode::SUCCESS
}
