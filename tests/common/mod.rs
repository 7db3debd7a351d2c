//! Helpers shared by the tests that run the `isingscope` binary.
#![allow(dead_code)] // each test file uses a subset

use std::path::Path;
use std::process::{Command, Output};

/// Run the binary with `args` and capture its output.
pub fn isingscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isingscope"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The run's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert a failed run with a one-line error containing every `needle`.
pub fn assert_fails(o: &Output, needles: &[&str]) {
    assert!(!o.status.success(), "expected failure");
    let e = stderr(o);
    assert_eq!(e.trim().lines().count(), 1, "one-line error, got: {e}");
    for n in needles {
        assert!(e.contains(n), "error '{e}' should mention '{n}'");
    }
}

/// Numeric rows of a comma-separated file, skipping `#` lines and, if
/// `header`, the first remaining line.
pub fn csv_rows(p: &Path, header: bool) -> Vec<Vec<f64>> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(usize::from(header))
        .map(|l| l.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .collect()
}
