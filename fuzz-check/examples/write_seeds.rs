//! Writes the seed corpus of every fuzz target from the schedules in `fuzz_check::seeds`:
//!
//! ```sh
//! cargo run -p fuzz-check --example write_seeds
//! ```
//!
//! Files go to `fuzz/seeds/<target>/<name>` (existing files of the same name are replaced,
//! others are kept).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    for (target, seeds) in fuzz_check::seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for seed in seeds {
            std::fs::write(dir.join(seed.name), &seed.bytes)?;
            println!("{target}/{} ({} bytes)", seed.name, seed.bytes.len());
        }
    }
    Ok(())
}
