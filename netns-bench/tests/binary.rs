//! The binary end to end: help, bad input, the kernel loop, and a tiny `cycle` run with JSON and
//! a plot.

use std::process::{Command, Output};

fn netns_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netns-bench"))
        .args(args)
        .output()
        .expect("cannot run netns-bench")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_the_subcommands_and_each_has_its_own() {
    let top = netns_bench(&["--help"]);
    assert!(top.status.success());
    for sub in ["seed", "cycle", "kernel"] {
        assert!(stdout(&top).contains(sub), "{}", stdout(&top));
        let o = netns_bench(&[sub, "--help"]);
        assert!(o.status.success(), "{sub}: {}", stderr(&o));
        assert!(stdout(&o).contains("--iterations"), "{sub}: {}", stdout(&o));
    }
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let o = netns_bench(&["cycle", "--iterations", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--iterations"), "{}", stderr(&o));
}

#[test]
fn kernel_loop_reports_or_explains_why_not() {
    let o = netns_bench(&["kernel", "-n", "3", "--json"]);
    if o.status.success() {
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["experiment"], "kernel");
        assert_eq!(v["iterations"], 3);
        assert!(v["kernel"]["elapsed_s"].as_f64().unwrap() > 0.0);
    } else {
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("may not create network namespaces"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn tiny_cycle_prints_json_and_draws_the_backlog() {
    let dir = std::env::temp_dir().join(format!("netns-bench-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("backlog.svg");
    let o = netns_bench(&[
        "cycle",
        "-n",
        "6",
        "--readers",
        "1",
        "--reference-kernel",
        "--json",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["experiment"], "cycle");
    assert_eq!(v["iterations"], 6);
    for mode in ["exclusive", "shared"] {
        assert!(v[mode]["elapsed_s"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v[mode]["cpu_pct"].as_f64().unwrap() >= 0.0, "{v}");
        assert_eq!(v[mode]["created"], 6, "{v}");
        assert!(v["peak_backlog"][mode].as_u64().unwrap() >= 1, "{v}");
    }
    assert!(v["speedup"].as_f64().unwrap() > 0.0);
    assert_eq!(v["calibration"]["grace_period"]["measured"], false);
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("exclusive") && drawn.contains("shared"));
    std::fs::remove_dir_all(&dir).unwrap();
}
