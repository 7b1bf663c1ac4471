//! Replays the checked-in seed corpus of every fuzz target through the same drivers and
//! checkers the fuzzer runs, on stable, and checks that the corpus files are exactly what the
//! seed generator writes.

use std::path::PathBuf;

fn seeds_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

/// Every file in the target's seed folder, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = seeds_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("seed file"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for (name, bytes) in corpus(target) {
        eprintln!("replaying {target}/{name}");
        run(&bytes);
    }
}

#[test]
fn corpus_files_match_the_generator() {
    for (target, seeds) in fuzz_check::seeds::all() {
        for seed in seeds {
            let path = seeds_dir(target).join(seed.name);
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run `cargo run -p fuzz-check --example write_seeds`",
                    path.display()
                )
            });
            assert_eq!(
                on_disk,
                seed.bytes,
                "{} differs from its schedule; run `cargo run -p fuzz-check --example write_seeds`",
                path.display()
            );
        }
    }
}

#[test]
fn replay_rwsem_ops() {
    replay("rwsem_ops", fuzz_check::rwsem_ops::run_bytes);
}

#[test]
fn replay_rcu_ops() {
    replay("rcu_ops", fuzz_check::rcu_ops::run_bytes);
}

#[test]
fn replay_pernet_ops() {
    replay("pernet_ops", fuzz_check::pernet_ops::run_bytes);
}
