//! Issue 13, CLI contract of `isingscope fit`: standard errors, BH
//! significance, units.csv, CV, whole-trial hold-out, model_check.csv,
//! and the warning for a failed moment-matching fit.

mod common;
mod fit_data;

use common::{csv_rows, isingscope, stderr};
use fit_data::burst_raster;

#[test]
fn fit_writes_the_checks_and_flags_tap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let raster = burst_raster();
    let n = raster.n_units();
    let path = d.join("spikes.npy");
    isingscope::io::npy::write_raster(&path, &raster).unwrap();
    // units.csv as `bin` writes it: unit ids 0, 3, 6, ...
    let mut units = String::from("column,unit_id,label,rate_hz,active_bins,merged_spikes\n");
    for k in 0..n {
        units.push_str(&format!("{k},{},good,1.5,10,0\n", 3 * k));
    }
    std::fs::write(d.join("units.csv"), units).unwrap();

    let out = d.join("ml");
    let o = isingscope(&[
        "fit",
        path.to_str().unwrap(),
        "--l2",
        "cv",
        "--fdr",
        "0.05",
        "--holdout",
        "trials",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The fit itself is fine (converged, above the independent model);
    // its model check says that the bursts' synchrony is not reproduced.
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning:")).collect();
    assert!(
        warnings
            .iter()
            .all(|l| l.starts_with("warning: model check:")),
        "ML flagged: {err}"
    );
    assert!(
        warnings.iter().any(|l| l.contains("shared input")),
        "common input not named: {err}"
    );
    let se = csv_rows(&out.join("J_se.csv"), false);
    assert_eq!((se.len(), se[0].len()), (n, n));
    assert!(se.iter().flatten().all(|&x| x > 0.0 && x.is_finite()));
    assert_eq!(csv_rows(&out.join("H_se.csv"), false).len(), n);
    let sig = csv_rows(&out.join("J_significant.csv"), false);
    assert_eq!((sig.len(), sig[0].len()), (n, n));
    assert!(sig.iter().flatten().all(|&x| x == 0.0 || x == 1.0));
    // The burst third excites itself in the fit: some couplings among
    // units 0..8 are significant.
    assert!((0..8).any(|i| (0..8).any(|k| sig[i][k] == 1.0)));
    let u = std::fs::read_to_string(out.join("units.csv")).unwrap();
    let mut lines = u.lines();
    assert_eq!(lines.next(), Some("column,unit_id,label"));
    assert_eq!(lines.nth(2), Some("2,6,good"));
    let cv = std::fs::read_to_string(out.join("cv.csv")).unwrap();
    assert!(cv.starts_with("l2,heldout_loglik,se\n"));
    assert_eq!(cv.lines().count(), 9);
    let info = std::fs::read_to_string(out.join("fit_info.csv")).unwrap();
    let first = info.lines().next().unwrap();
    assert!(
        first.contains("l2: ") && first.contains("5-fold cross-validation over trials"),
        "{first}"
    );
    let mc = std::fs::read_to_string(out.join("model_check.csv")).unwrap();
    let mut lines = mc.lines();
    assert!(lines.next().unwrap().starts_with("# multistable: "));
    assert_eq!(
        lines.next(),
        Some("moment,i,j,observed,predicted,observed_se")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), n + n * (n - 1) / 2 + n * n);
    assert!(rows[0].starts_with("m,0,,"));
    let gain = std::fs::read_to_string(out.join("ll_gain.csv")).unwrap();
    assert!(
        gain.starts_with("# held out 8 of 40 whole trials"),
        "{gain}"
    );

    // TAP on the same data: flagged with one warning line naming the
    // method and pointing to ML.
    let tap = d.join("tap");
    let o = isingscope(&[
        "fit",
        path.to_str().unwrap(),
        "--method",
        "tap",
        "--out",
        tap.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let warn: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains("moment matching"))
        .collect();
    assert_eq!(warn.len(), 1, "{err}");
    assert!(
        warn[0].contains("no solution") && warn[0].contains("--method ml"),
        "{}",
        warn[0]
    );
    assert!(tap.join("model_check.csv").is_file());
    assert!(!tap.join("J_se.csv").exists());
    let o = isingscope(&[
        "fit",
        path.to_str().unwrap(),
        "--method",
        "tap",
        "--fdr",
        "0.05",
        "--out",
        tap.to_str().unwrap(),
    ]);
    common::assert_fails(&o, &["--fdr applies to --method ml only"]);
}
