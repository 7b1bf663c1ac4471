//! Builds the liburcu shim of the benches when the `liburcu` feature is on; does nothing
//! otherwise.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=csrc/urcu_shim.c");
    #[cfg(feature = "liburcu")]
    build_liburcu_shim();
}

#[cfg(feature = "liburcu")]
fn build_liburcu_shim() {
    cc::Build::new()
        .file("csrc/urcu_shim.c")
        .opt_level(2)
        .warnings(true)
        .compile("urcu_shim");
    // liburcu-memb.pc: `-lurcu-common -lurcu-memb`; the shim needs the flavour's library first.
    println!("cargo::rustc-link-lib=dylib=urcu-memb");
    println!("cargo::rustc-link-lib=dylib=urcu-common");
}
