//! The `state-space` and `synth-state-space` subcommands through the binary.

use std::path::Path;
use std::process::Output;

mod common;
use common::{csv_rows, isingscope, stderr};

use isingscope::io::npy;
use isingscope::state_space::ThetaSeries;
use isingscope::state_space::entropy_flow::{
    Quadrature, grand_mean_rates, mean_field_entropy_flow,
};

fn csv(p: &Path) -> Vec<Vec<f64>> {
    csv_rows(p, false)
}

#[test]
fn synth_then_fit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let synth = d.join("synth");
    let o = isingscope(&[
        "synth-state-space",
        "--n",
        "4",
        "--t",
        "30",
        "--r",
        "60",
        "--seed",
        "3",
        "--out",
        synth.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let raster = npy::read_raster(&synth.join("spikes.npy")).unwrap();
    assert_eq!(raster.shape(), (60, 31, 4));
    let (shape, _) = npy::read_f64(&synth.join("theta.npy")).unwrap();
    assert_eq!(shape, vec![30, 4, 5]);

    let fit = d.join("fit");
    let o = isingscope(&[
        "state-space",
        synth.join("spikes.npy").to_str().unwrap(),
        "--max-iter",
        "8",
        "--tol",
        "0",
        "--out",
        fit.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("8 EM iterations"));
    for name in ["theta_smoothed.npy", "theta_filtered.npy", "theta_sd.npy"] {
        let (shape, x) = npy::read_f64(&fit.join(name)).unwrap();
        assert_eq!(shape, vec![30, 4, 5], "{name}");
        assert!(x.iter().all(|v| v.is_finite()));
    }
    let q = csv(&fit.join("Q.csv"));
    assert_eq!((q.len(), q[0].len()), (4, 5));
    assert!(q.iter().flatten().all(|&v| v > 0.0));
    let ev = csv(&fit.join("evidence.csv"));
    assert_eq!(ev.len(), 8);
    let nf = std::fs::read_to_string(fit.join("neuron_fit.csv")).unwrap();
    assert_eq!(nf.lines().next(), Some("neuron,e_steps,reason,evidence"));
    assert_eq!(nf.lines().count(), 5);
    assert!(
        nf.lines()
            .skip(1)
            .all(|l| l.contains(",8,reached the iteration cap,"))
    );

    // Default: per-neuron convergence with SQUAREM; the stopping reasons and
    // E-steps are reported, each neuron within --max-iter.
    let conv = d.join("conv");
    let o = isingscope(&[
        "state-space",
        synth.join("spikes.npy").to_str().unwrap(),
        "--out",
        conv.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("neurons converged"), "{out}");
    let nf = std::fs::read_to_string(conv.join("neuron_fit.csv")).unwrap();
    for l in nf.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        let e_steps: usize = f[1].parse().unwrap();
        assert!((1..=120).contains(&e_steps), "{l}");
        assert!(
            f[2] == "converged" || f[2] == "reached the iteration cap",
            "{l}"
        );
    }
    // entropy_flow.csv is the library's mean-field flow of the smoothed theta.
    let text = std::fs::read_to_string(fit.join("entropy_flow.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t,total,forward,reverse"));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 30);
    let (shape, x) = npy::read_f64(&fit.join("theta_smoothed.npy")).unwrap();
    let theta = ThetaSeries::from_shape(&shape, x).unwrap();
    let mf = mean_field_entropy_flow(&theta, &grand_mean_rates(&raster), Quadrature::Riemann100)
        .unwrap();
    for (t, row) in rows.iter().enumerate() {
        assert_eq!(row[0], t as f64);
        assert_eq!(row[1], mf.flow.total[t]);
        assert_eq!(row[2], mf.flow.forward[t]);
        assert_eq!(row[3], mf.flow.reverse[t]);
    }

    // The sampling estimator with a seed is reproducible.
    let s1 = d.join("s1");
    let s2 = d.join("s2");
    for s in [&s1, &s2] {
        let o = isingscope(&[
            "state-space",
            synth.join("spikes.npy").to_str().unwrap(),
            "--max-iter",
            "2",
            "--flow",
            "sampling",
            "--seed",
            "9",
            "--out",
            s.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(
        std::fs::read_to_string(s1.join("entropy_flow.csv")).unwrap(),
        std::fs::read_to_string(s2.join("entropy_flow.csv")).unwrap()
    );
}

#[test]
fn error_paths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let out = out.to_str().unwrap();
    let fails = |o: Output, needles: &[&str]| {
        assert!(!o.status.success());
        let e = stderr(&o);
        for n in needles {
            assert!(e.contains(n), "error '{e}' should mention '{n}'");
        }
    };
    // NaN in the raster.
    let nan = d.join("nan.npy");
    let mut x = vec![0.0; 2 * 3 * 2];
    x[3] = f64::NAN;
    npy::write_f64(&nan, &[2, 3, 2], &x).unwrap();
    fails(
        isingscope(&["state-space", nan.to_str().unwrap(), "--out", out]),
        &["nan.npy", "NaN"],
    );
    // A single bin.
    let one = d.join("one.npy");
    npy::write_f64(&one, &[2, 1, 2], &[0.0, 1.0, 1.0, 0.0]).unwrap();
    fails(
        isingscope(&["state-space", one.to_str().unwrap(), "--out", out]),
        &["one.npy", "at least 2 bins"],
    );
    // Missing file, bad tolerance.
    fails(
        isingscope(&["state-space", "missing.npy", "--out", out]),
        &["missing.npy"],
    );
    let ok = d.join("ok.npy");
    npy::write_f64(&ok, &[1, 3, 2], &[0.0, 1.0, 1.0, 0.0, 1.0, 1.0]).unwrap();
    fails(
        isingscope(&[
            "state-space",
            ok.to_str().unwrap(),
            "--tol",
            "-1",
            "--out",
            out,
        ]),
        &["tol"],
    );
    fails(
        isingscope(&["synth-state-space", "--n", "0", "--out", out]),
        &["n"],
    );
}
