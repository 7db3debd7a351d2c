//! The `forward` and `fit` subcommands, run through the binary: outputs
//! against the reference data and every error path.

use std::path::{Path, PathBuf};

mod common;
use common::{assert_fails, csv_rows, isingscope, stderr};

fn rows(p: &Path, header: bool) -> Vec<Vec<f64>> {
    csv_rows(p, header)
}

fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/meanfield/forward")
        .join(p)
}

fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f64::max)
}

/// `forward --method tap` on reference case B writes the reference's
/// trajectory, final C, D and summary (17-digit CSV round trip; 1e-12 as in
/// the library test).
#[test]
fn forward_writes_the_reference_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tap");
    let (j, h, m0) = (data("J.csv"), data("H.csv"), data("m0.csv"));
    let o = isingscope(&[
        "forward",
        "--method",
        "tap",
        "--couplings",
        j.to_str().unwrap(),
        "--fields",
        h.to_str().unwrap(),
        "--m0",
        m0.to_str().unwrap(),
        "--steps",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = rows(&out.join("m.csv"), false);
    let want_m = rows(&data("P_t1_t_o2_m.csv"), false);
    assert_eq!(m.len(), 32);
    assert!(max_diff(&m, &want_m[1..]) < 1e-12);
    assert!(
        max_diff(
            &rows(&out.join("C.csv"), false),
            &rows(&data("P_t1_t_o2_C_T.csv"), false)
        ) < 1e-12
    );
    assert!(
        max_diff(
            &rows(&out.join("D.csv"), false),
            &rows(&data("P_t1_t_o2_D_T.csv"), false)
        ) < 1e-12
    );
    let s = rows(&out.join("summary.csv"), true);
    let want = rows(&data("P_t1_t_o2_summary.csv"), true);
    assert_eq!(s.len(), 33);
    for (a, b) in s.iter().zip(&want) {
        for k in 0..6 {
            assert!(
                (a[k] - b[k]).abs() <= 1e-12 * b[k].abs().max(1.0),
                "summary {a:?} vs {b:?}"
            );
        }
    }
    let head = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(head.starts_with("t,mean_m,mean_C_offdiag,mean_C_all,mean_D,sigma\n"));
}

#[test]
fn forward_error_paths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("o");
    let (j, h) = (data("J.csv"), data("H.csv"));
    let missing = d.join("nope.csv");
    let o = isingscope(&[
        "forward",
        "--method",
        "nmf",
        "--couplings",
        missing.to_str().unwrap(),
        "--steps",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, &["nope.csv"]);
    let short = d.join("h3.csv");
    std::fs::write(&short, "0.1\n0.2\n0.3\n").unwrap();
    let o = isingscope(&[
        "forward",
        "--method",
        "nmf",
        "--couplings",
        j.to_str().unwrap(),
        "--fields",
        short.to_str().unwrap(),
        "--steps",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, &["h3.csv", "N must agree"]);
    let o = isingscope(&[
        "forward",
        "--method",
        "m0-only",
        "--couplings",
        j.to_str().unwrap(),
        "--fields",
        h.to_str().unwrap(),
        "--steps",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, &["unknown mean-field method", "plefka-t1-t-o2"]);
    let o = isingscope(&[
        "forward",
        "--method",
        "tap",
        "--couplings",
        j.to_str().unwrap(),
        "--m0",
        short.to_str().unwrap(),
        "--steps",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&o, &["h3.csv", "N must agree"]);
    assert!(!out.exists(), "nothing is written on failure");
}

/// A strongly ferromagnetic network makes Plefka[t] o2 diverge: the CLI
/// reports the method and step.
#[test]
fn forward_reports_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 16;
    let line = vec![format!("{}", 3.0 / n as f64); n].join(",");
    let j = d.join("J.csv");
    std::fs::write(&j, vec![line; n].join("\n")).unwrap();
    let m0 = d.join("m0.csv");
    std::fs::write(&m0, vec!["0.01"; n].join("\n")).unwrap();
    let o = isingscope(&[
        "forward",
        "--method",
        "plefka-t-o2",
        "--couplings",
        j.to_str().unwrap(),
        "--m0",
        m0.to_str().unwrap(),
        "--steps",
        "50",
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    assert_fails(&o, &["Plefka[t] order 2 diverged at step"]);
}

#[test]
fn fit_ml_and_moment_matching_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sim = d.join("sim");
    let o = isingscope(&[
        "simulate",
        "--n",
        "6",
        "--j0",
        "0.3",
        "--dj",
        "0.5",
        "--h0",
        "0.3",
        "--steps",
        "3000",
        "--seed",
        "2",
        "--init",
        "random",
        "--out",
        sim.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let raster = sim.join("spikes.npy");
    let ml = d.join("ml");
    let o = isingscope(&[
        "fit",
        raster.to_str().unwrap(),
        "--method",
        "ml",
        "--l2",
        "1e-4",
        "--out",
        ml.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = rows(&ml.join("J.csv"), false);
    assert_eq!((j.len(), j[0].len()), (6, 6));
    assert_eq!(rows(&ml.join("H.csv"), false).len(), 6);
    let info = std::fs::read_to_string(ml.join("fit_info.csv")).unwrap();
    assert!(
        info.starts_with("# method: ml;") && info.contains("stopped: converged"),
        "{info}"
    );
    // The fitted couplings are close to the simulated ones (3000
    // transitions: standard error ≈ 1/√(3000·0.8) ≈ 0.02; 0.15 is > 5 s.e.).
    let truth = rows(&sim.join("J.csv"), false);
    assert!(max_diff(&j, &truth) < 0.15, "{}", max_diff(&j, &truth));
    // With beta = 2 the written (raw) parameters halve.
    let ml2 = d.join("ml2");
    let o = isingscope(&[
        "fit",
        raster.to_str().unwrap(),
        "--l2",
        "1e-4",
        "--beta",
        "2",
        "--out",
        ml2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j2 = rows(&ml2.join("J.csv"), false);
    assert!((j2[1][2] * 2.0 - j[1][2]).abs() < 1e-12);

    let mf = d.join("nmf");
    let o = isingscope(&[
        "fit",
        raster.to_str().unwrap(),
        "--method",
        "nmf",
        "--out",
        mf.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(rows(&mf.join("J.csv"), false).len(), 6);
    assert!(
        std::fs::read_to_string(mf.join("fit_info.csv"))
            .unwrap()
            .starts_with("# method: plefka-t1-t-o1;")
    );

    let o = isingscope(&[
        "fit",
        raster.to_str().unwrap(),
        "--method",
        "tap",
        "--l2",
        "1",
        "--out",
        mf.to_str().unwrap(),
    ]);
    assert_fails(&o, &["--l2 applies to --method ml only"]);
    let o = isingscope(&[
        "fit",
        raster.to_str().unwrap(),
        "--method",
        "plefka3",
        "--out",
        mf.to_str().unwrap(),
    ]);
    assert_fails(&o, &["unknown mean-field method"]);
    let o = isingscope(&[
        "fit",
        d.join("missing.npy").to_str().unwrap(),
        "--out",
        mf.to_str().unwrap(),
    ]);
    assert_fails(&o, &["missing.npy"]);
}
