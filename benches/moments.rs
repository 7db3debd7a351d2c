//! End-to-end timing of the Plefka paper's reference statistics, side by
//! side in one run (issue 16):
//!
//! * `isingscope simulate --moments-only` (and `--final-only`) on the
//!   paper's network (N = 512, H0 = 0.5, J0 = 1, ΔJ = 0.1 at β_c = 1.1108),
//!   128 steps × 1,000 trials, outputs written;
//! * `benches/numpy_moments_baseline.py`: a NumPy loop over trials plus BLAS
//!   moments, writing the same files;
//! * `isingscope forward-compare` over 9 β values around β_c with the
//!   simulation reference (R = 1,000) and every method but Plefka[t−1] o1
//!   (the Mean-field lab's β sweep).
//!
//! Run: `cargo bench --no-default-features --bench moments` (needs python3
//! with NumPy for the baseline; without it the baseline is reported as
//! skipped). Prints wall seconds per run and the medians.

use std::process::Command;
use std::time::Instant;

use clap::Parser;
use isingscope::cli::{Cli, run};

const REPEATS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_cli(args: &[&str]) -> f64 {
    let cli = Cli::try_parse_from(args).expect("arguments parse");
    let t0 = Instant::now();
    run(cli.command.expect("a subcommand")).expect("the command runs");
    t0.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let out = dir.path().join("ours");
    let out_s = out.to_str().expect("utf-8 path");
    let base = dir.path().join("numpy");
    let base_s = base.to_str().expect("utf-8 path");
    for final_only in [true, false] {
        let mut args = vec![
            "isingscope",
            "simulate",
            "--n",
            "512",
            "--j0",
            "1",
            "--dj",
            "0.1",
            "--h0",
            "0.5",
            "--beta",
            "1.1108397534245904",
            "--steps",
            "128",
            "--trials",
            "1000",
            "--seed",
            "1",
            "--moments-only",
            "--out",
            out_s,
        ];
        if final_only {
            args.push("--final-only");
        }
        let ours: Vec<f64> = (0..REPEATS).map(|_| time_cli(&args)).collect();
        println!(
            "moments-only final_only={final_only}: ours median {:.3} s (all {:?})",
            median(ours.clone()),
            ours
        );
        let mut py = Command::new("python3");
        py.arg("benches/numpy_moments_baseline.py").arg(base_s);
        if final_only {
            py.arg("--final-only");
        }
        match py.output() {
            Ok(o) if o.status.success() => {
                print!("{}", String::from_utf8_lossy(&o.stdout));
                let text = String::from_utf8_lossy(&o.stdout);
                if let Some(m) = text
                    .split("median ")
                    .nth(1)
                    .and_then(|s| s.split(' ').next())
                    .and_then(|s| s.parse::<f64>().ok())
                {
                    println!("  ratio numpy / ours: {:.1}x", m / median(ours));
                }
            }
            _ => println!("  numpy baseline skipped (python3 with NumPy not available)"),
        }
    }
    let cmp = dir.path().join("cmp");
    let cmp_s = cmp.to_str().expect("utf-8 path");
    let sweep = [
        "isingscope",
        "forward-compare",
        "--n",
        "512",
        "--j0",
        "1",
        "--dj",
        "0.1",
        "--h0",
        "0.5",
        "--beta-from",
        "0.7",
        "--beta-to",
        "1.5",
        "--points",
        "9",
        "--steps",
        "128",
        "--trials",
        "1000",
        "--reference",
        "simulation",
        "--methods",
        "nmf,tap,plefka-t-o1,plefka-t-o2,plefka2-t-o1,plefka2-t-o2",
        "--out",
        cmp_s,
    ];
    let t = time_cli(&sweep);
    println!("forward-compare sweep N=512, 9 betas, 128 steps, R=1000, 6 methods: {t:.1} s");
}
