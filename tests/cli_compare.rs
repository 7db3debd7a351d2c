//! `isingscope forward-compare` and `simulate --moments-only`.

mod common;

use std::path::Path;

use common::{assert_fails, csv_rows, isingscope, stderr};
use isingscope::io::npy;
use isingscope::model::stats::moments_at_bin;

/// The rows of errors.csv: (beta text, method, [err_m, err_C, err_D], status).
fn error_rows(p: &Path) -> Vec<(String, String, Option<[f64; 3]>, String)> {
    let text = std::fs::read_to_string(p).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("beta,method,err_m,err_C,err_D,status"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 6, "{l}");
            let errs = if f[2].is_empty() {
                None
            } else {
                Some([f[2], f[3], f[4]].map(|x| x.parse::<f64>().unwrap()))
            };
            (f[0].to_string(), f[1].to_string(), errs, f[5].to_string())
        })
        .collect()
}

fn run_ok(args: &[&str]) {
    let o = isingscope(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
}

/// Every errors.csv row for N ≤ 12 equals the squared errors recomputed
/// from `forward` and `exact` run by hand on the written network with the
/// row's beta (CSV values are written with 17 significant digits, which
/// round-trip f64). Tolerance: the forward kernels sum some terms in
/// parallel, so a rerun may move an entry of m, C or D by δ ≲ 1e-15 (a few
/// ulps of values ≤ 1). A mean of squared differences `e = mean(x − y)²`
/// then moves by at most `2 δ √e + δ²`. A difference of definition
/// (normalisation, diagonal, time index) changes `e` by O(1) factors.
#[test]
fn every_row_equals_forward_against_exact() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("cmp");
    let outs = out.to_str().unwrap();
    run_ok(&[
        "forward-compare",
        "--n",
        "7",
        "--j0",
        "1",
        "--dj",
        "0.6",
        "--h0",
        "0.3",
        "--seed",
        "4",
        "--beta-from",
        "0.3",
        "--beta-to",
        "1.5",
        "--points",
        "3",
        "--steps",
        "4",
        "--out",
        outs,
    ]);
    let rows = error_rows(&out.join("errors.csv"));
    assert_eq!(rows.len(), 3 * 7, "3 betas x 7 methods");
    let j = out.join("J.csv");
    let h = out.join("H.csv");
    for (beta, method, errs, status) in rows {
        let e = d.path().join(format!("exact-{beta}"));
        if !e.exists() {
            run_ok(&[
                "exact",
                "--couplings",
                j.to_str().unwrap(),
                "--fields",
                h.to_str().unwrap(),
                "--beta",
                &beta,
                "--steps",
                "4",
                "--out",
                e.to_str().unwrap(),
            ]);
        }
        let f = d.path().join(format!("fwd-{beta}-{method}"));
        let o = isingscope(&[
            "forward",
            "--method",
            &method,
            "--couplings",
            j.to_str().unwrap(),
            "--fields",
            h.to_str().unwrap(),
            "--beta",
            &beta,
            "--steps",
            "4",
            "--out",
            f.to_str().unwrap(),
        ]);
        if status != "ok" {
            assert_eq!(status, "diverged");
            assert!(errs.is_none());
            assert!(
                !o.status.success(),
                "{method} at {beta}: forward should fail too"
            );
            continue;
        }
        assert!(o.status.success(), "{}", stderr(&o));
        let m_f = csv_rows(&f.join("m.csv"), false).pop().unwrap();
        let m_e = csv_rows(&e.join("m.csv"), false).pop().unwrap();
        let c_f = csv_rows(&f.join("C.csv"), false);
        let c_e = csv_rows(&e.join("C.csv"), false);
        let d_f = csv_rows(&f.join("D.csv"), false);
        let d_e = csv_rows(&e.join("D.csv"), false);
        let n = m_e.len();
        let err_m = m_f
            .iter()
            .zip(&m_e)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / n as f64;
        let (mut sc, mut sd) = (0.0, 0.0);
        for i in 0..n {
            for k in 0..n {
                if i != k {
                    sc += (c_f[i][k] - c_e[i][k]).powi(2);
                }
                sd += (d_f[i][k] - d_e[i][k]).powi(2);
            }
        }
        let want = [err_m, sc / (n * (n - 1)) as f64, sd / (n * n) as f64];
        let got = errs.unwrap();
        for q in 0..3 {
            assert!(
                (got[q] - want[q]).abs() <= 2e-15 * want[q].sqrt() + 1e-30,
                "{method} at beta {beta}, error {q}: {} vs {}",
                got[q],
                want[q]
            );
        }
    }
}

/// At β = 0 every method is exact; the errors shrink at least like β²
/// (any approximation exact at β = 0 with smooth equations has an O(β)
/// error, so its square halves by 4 when β halves: allow 0.3), and each
/// order-2 method beats its order-1 version at small β in m and C. In D
/// only Plefka[t] and Plefka2[t] must win: TAP's D is nMF's
/// `A_i J_il a_l` times `1 + 2 J_il m_i m_l'`, and like nMF it leaves out
/// the `J C(t−1)` term that makes both wrong at the same order (spec §2.1,
/// §2.2), so TAP is not expected to improve D.
#[test]
fn errors_vanish_as_beta_goes_to_zero_and_order_two_wins() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("cmp");
    run_ok(&[
        "forward-compare",
        "--n",
        "8",
        "--j0",
        "1",
        "--dj",
        "0.5",
        "--h0",
        "0.5",
        "--seed",
        "2",
        "--beta-from",
        "0.05",
        "--beta-to",
        "0.2",
        "--points",
        "4",
        "--steps",
        "6",
        "--methods",
        "nmf,tap,plefka-t-o1,plefka-t-o2,plefka2-t-o1,plefka2-t-o2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let rows = error_rows(&out.join("errors.csv"));
    let err = |beta: &str, m: &str| -> [f64; 3] {
        rows.iter()
            .find(|r| r.0 == beta && r.1 == m)
            .and_then(|r| r.2)
            .unwrap_or_else(|| panic!("{m} at {beta}"))
    };
    for m in [
        "plefka-t1-t-o1",
        "plefka-t1-t-o2",
        "plefka-t-o1",
        "plefka-t-o2",
        "plefka2-t-o1",
        "plefka2-t-o2",
    ] {
        let (small, large) = (err("0.1", m), err("0.2", m));
        for q in 0..3 {
            if large[q] > 1e-28 {
                assert!(
                    small[q] <= 0.3 * large[q],
                    "{m}: error {q} at beta 0.1 is {} vs {} at 0.2",
                    small[q],
                    large[q]
                );
            }
        }
    }
    for (o1, o2) in [
        ("plefka-t1-t-o1", "plefka-t1-t-o2"),
        ("plefka-t-o1", "plefka-t-o2"),
        ("plefka2-t-o1", "plefka2-t-o2"),
    ] {
        for beta in ["0.05", "0.1"] {
            let (a, b) = (err(beta, o1), err(beta, o2));
            let moments = if o1 == "plefka-t1-t-o1" { 0..2 } else { 0..3 };
            for q in moments {
                assert!(
                    b[q] < a[q],
                    "{o2} should beat {o1} at beta {beta} (error {q}): {} vs {}",
                    b[q],
                    a[q]
                );
            }
        }
    }
}

/// `simulate --moments-only` draws the same trials as the full-raster
/// `simulate` with the same seed: its final C and D equal the moments of
/// the recorded raster at the last bin, and C_t.npy / D_t.npy hold every
/// step.
#[test]
fn moments_only_matches_the_recorded_raster() {
    let d = tempfile::tempdir().unwrap();
    let full = d.path().join("full");
    let mo = d.path().join("mo");
    let common_args = [
        "simulate", "--n", "70", "--steps", "9", "--trials", "150", "--seed", "3", "--init",
        "random", "--h0", "0.4",
    ];
    let mut a = common_args.to_vec();
    a.extend(["--out", full.to_str().unwrap()]);
    run_ok(&a);
    let mut b = common_args.to_vec();
    b.extend(["--moments-only", "--out", mo.to_str().unwrap()]);
    run_ok(&b);
    assert!(!mo.join("spikes.npy").exists());
    let raster = npy::read_raster(&full.join("spikes.npy")).unwrap();
    let m_rows = csv_rows(&mo.join("m.csv"), false);
    assert_eq!(m_rows.len(), 9);
    let (shape_c, c_t) = npy::read_f64(&mo.join("C_t.npy")).unwrap();
    let (shape_d, d_t) = npy::read_f64(&mo.join("D_t.npy")).unwrap();
    assert_eq!(shape_c, vec![9, 70, 70]);
    assert_eq!(shape_d, vec![9, 70, 70]);
    for t in 1..=9 {
        let want = moments_at_bin(&raster, t).unwrap();
        assert_eq!(
            m_rows[t - 1],
            want.m.iter().copied().collect::<Vec<_>>(),
            "m at {t}"
        );
        for i in 0..70 {
            for k in 0..70 {
                let at = (t - 1) * 4900 + i * 70 + k;
                assert_eq!(c_t[at], want.c[(i, k)], "C step {t}");
                assert_eq!(d_t[at], want.d[(i, k)], "D step {t}");
            }
        }
        if t == 9 {
            let c = csv_rows(&mo.join("C.csv"), false);
            let dd = csv_rows(&mo.join("D.csv"), false);
            assert_eq!(c[3][5], want.c[(3, 5)]);
            assert_eq!(dd[6][2], want.d[(6, 2)]);
        }
    }
    assert_eq!(
        std::fs::read_to_string(full.join("J.csv")).unwrap(),
        std::fs::read_to_string(mo.join("J.csv")).unwrap()
    );
    // --final-only: no per-step arrays, same final moments.
    let fo = d.path().join("fo");
    let mut c = common_args.to_vec();
    c.extend([
        "--moments-only",
        "--final-only",
        "--out",
        fo.to_str().unwrap(),
    ]);
    run_ok(&c);
    assert!(!fo.join("C_t.npy").exists());
    assert_eq!(
        std::fs::read_to_string(fo.join("C.csv")).unwrap(),
        std::fs::read_to_string(mo.join("C.csv")).unwrap()
    );
}

#[test]
fn bad_arguments_fail_in_one_line() {
    let d = tempfile::tempdir().unwrap();
    let o = d.path().join("x");
    let os = o.to_str().unwrap();
    assert_fails(
        &isingscope(&[
            "forward-compare",
            "--n",
            "20",
            "--beta",
            "1",
            "--reference",
            "exact",
            "--out",
            os,
        ]),
        &["12"],
    );
    assert_fails(
        &isingscope(&["forward-compare", "--n", "4", "--out", os]),
        &["--beta"],
    );
    assert_fails(
        &isingscope(&[
            "forward-compare",
            "--n",
            "4",
            "--beta",
            "1",
            "--methods",
            "bogus",
            "--out",
            os,
        ]),
        &["bogus"],
    );
    assert_fails(
        &isingscope(&["forward-compare", "--n", "4", "--beta=-1", "--out", os]),
        &["beta"],
    );
}
