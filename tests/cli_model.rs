//! The `simulate`, `stats` and `exact` subcommands, run as a user would:
//! through the binary, checking outputs and every error path.

use std::path::Path;

mod common;
use common::{assert_fails, csv_rows, isingscope, stderr};

fn lines(p: &Path) -> Vec<Vec<f64>> {
    csv_rows(p, false)
}

#[test]
fn simulate_then_stats_then_exact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sim = d.join("sim");
    let o = isingscope(&[
        "simulate",
        "--n",
        "5",
        "--j0",
        "0.5",
        "--dj",
        "0.7",
        "--h0",
        "0.2",
        "--beta",
        "1.1",
        "--steps",
        "200",
        "--trials",
        "3",
        "--seed",
        "4",
        "--out",
        sim.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let raster = isingscope::io::npy::read_raster(&sim.join("spikes.npy")).unwrap();
    assert_eq!(raster.shape(), (3, 201, 5));
    assert!((0..5).all(|i| raster.get(0, 0, i)), "starts from all +1");
    let j = lines(&sim.join("J.csv"));
    assert_eq!((j.len(), j[0].len()), (5, 5));
    assert_eq!(lines(&sim.join("H.csv")).len(), 5);

    let st = d.join("stats");
    let o = isingscope(&[
        "stats",
        sim.join("spikes.npy").to_str().unwrap(),
        "--couplings",
        sim.join("J.csv").to_str().unwrap(),
        "--fields",
        sim.join("H.csv").to_str().unwrap(),
        "--beta",
        "1.1",
        "--out",
        st.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = lines(&st.join("m.csv"));
    assert_eq!(m.len(), 5);
    assert!(m.iter().all(|v| v[0].abs() <= 1.0));
    let c = lines(&st.join("C.csv"));
    for i in 0..5 {
        assert!((c[i][i] - (1.0 - m[i][0] * m[i][0])).abs() < 1e-12);
    }
    let ep = std::fs::read_to_string(st.join("entropy_production.txt")).unwrap();
    let first: f64 = ep.split_whitespace().next().unwrap().parse().unwrap();
    assert!(first.is_finite());

    let ex = d.join("exact");
    let o = isingscope(&[
        "exact",
        "--couplings",
        sim.join("J.csv").to_str().unwrap(),
        "--fields",
        sim.join("H.csv").to_str().unwrap(),
        "--beta",
        "1.1",
        "--steps",
        "7",
        "--out",
        ex.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = lines(&ex.join("m.csv"));
    assert_eq!((m.len(), m[0].len()), (7, 5));
    assert_eq!(lines(&ex.join("D.csv")).len(), 5);
    let ep = std::fs::read_to_string(ex.join("entropy_production.txt")).unwrap();
    assert!(ep.split_whitespace().next().unwrap().parse::<f64>().is_ok());
}

#[test]
fn exact_with_m0_matches_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("J.csv"), "0.2,-0.5\n0.9,0.1\n").unwrap();
    std::fs::write(d.join("H.csv"), "0.3\n-0.2\n").unwrap();
    std::fs::write(d.join("m0.csv"), "0.5\n-0.25\n").unwrap();
    let out = d.join("out");
    let o = isingscope(&[
        "exact",
        "--couplings",
        d.join("J.csv").to_str().unwrap(),
        "--fields",
        d.join("H.csv").to_str().unwrap(),
        "--beta",
        "2",
        "--steps",
        "1",
        "--m0",
        d.join("m0.csv").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // One step from independent spins: m_i = E[tanh(β(H_i + Σ_j J_ij s_j))]
    // over the product distribution of s, enumerated by hand.
    let (jm, h, m0, beta): ([[f64; 2]; 2], [f64; 2], [f64; 2], f64) =
        ([[0.2, -0.5], [0.9, 0.1]], [0.3, -0.2], [0.5, -0.25], 2.0);
    let mut expect = [0.0; 2];
    for s0 in [-1.0, 1.0] {
        for s1 in [-1.0, 1.0] {
            let p = 0.25 * (1.0 + s0 * m0[0]) * (1.0 + s1 * m0[1]);
            for i in 0..2 {
                expect[i] += p * (beta * (h[i] + jm[i][0] * s0 + jm[i][1] * s1)).tanh();
            }
        }
    }
    let m = lines(&out.join("m.csv"));
    for i in 0..2 {
        assert!((m[0][i] - expect[i]).abs() < 1e-14);
    }
}

#[test]
fn error_paths_name_the_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let out = out.to_str().unwrap();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();

    // Missing raster file.
    let o = isingscope(&["stats", &p("nope.npy"), "--out", out]);
    assert_fails(&o, &["nope.npy"]);

    // A raster with a value that is neither 0/1 nor ±1 (written as text
    // into an .npy: not a valid NPY file either way).
    std::fs::write(p("junk.npy"), "hello").unwrap();
    assert_fails(
        &isingscope(&["stats", &p("junk.npy"), "--out", out]),
        &["junk.npy", "not a valid .npy"],
    );

    // Wrong shape: a non-square J.
    std::fs::write(p("J.csv"), "1,2,3\n4,5,6\n").unwrap();
    std::fs::write(p("H.csv"), "0\n0\n").unwrap();
    let o = isingscope(&[
        "simulate",
        "--couplings",
        &p("J.csv"),
        "--fields",
        &p("H.csv"),
        "--steps",
        "3",
        "--out",
        out,
    ]);
    assert_fails(&o, &["J.csv", "square"]);

    // NaN in J.
    std::fs::write(p("J.csv"), "1,NaN\n0,1\n").unwrap();
    let o = isingscope(&[
        "simulate",
        "--couplings",
        &p("J.csv"),
        "--fields",
        &p("H.csv"),
        "--steps",
        "3",
        "--out",
        out,
    ]);
    assert_fails(&o, &["J.csv", "non-finite"]);

    // N mismatch between J and H.
    std::fs::write(p("J.csv"), "1,0\n0,1\n").unwrap();
    std::fs::write(p("H3.csv"), "0\n0\n0\n").unwrap();
    let o = isingscope(&[
        "exact",
        "--couplings",
        &p("J.csv"),
        "--fields",
        &p("H3.csv"),
        "--steps",
        "3",
        "--out",
        out,
    ]);
    assert_fails(&o, &["H3.csv", "3 fields", "N must agree"]);

    // N > 12 for exact.
    let big: String = (0..13).map(|_| vec!["0"; 13].join(",") + "\n").collect();
    std::fs::write(p("J13.csv"), big).unwrap();
    std::fs::write(p("H13.csv"), "0\n".repeat(13)).unwrap();
    let o = isingscope(&[
        "exact",
        "--couplings",
        &p("J13.csv"),
        "--fields",
        &p("H13.csv"),
        "--steps",
        "3",
        "--out",
        out,
    ]);
    assert_fails(&o, &["N <= 12"]);

    // Raster and couplings of different N.
    let raster = isingscope::spikes::SpikeRaster::zeros(1, 10, 3).unwrap();
    isingscope::io::npy::write_raster(&d.join("r3.npy"), &raster).unwrap();
    let o = isingscope(&[
        "stats",
        &p("r3.npy"),
        "--couplings",
        &p("J.csv"),
        "--out",
        out,
    ]);
    assert_fails(&o, &["J.csv", "N = 2", "3 units"]);

    // A raster with values other than 0/1/±1.
    let x: Vec<u8> = vec![0, 1, 3, 0];
    {
        use npyz::WriterBuilder;
        let f = std::fs::File::create(d.join("r_bad.npy")).unwrap();
        let mut w = npyz::WriteOptions::<u8>::new()
            .default_dtype()
            .shape(&[2, 2])
            .writer(f)
            .begin_nd()
            .unwrap();
        w.extend(x).unwrap();
        w.finish().unwrap();
    }
    assert_fails(
        &isingscope(&["stats", &p("r_bad.npy"), "--out", out]),
        &["r_bad.npy", "value 3"],
    );

    // An empty recording.
    let empty = isingscope::spikes::SpikeRaster::zeros(1, 1, 3).unwrap();
    isingscope::io::npy::write_raster(&d.join("r1.npy"), &empty).unwrap();
    assert_fails(
        &isingscope(&["stats", &p("r1.npy"), "--out", out]),
        &["r1.npy", "at least 2 bins"],
    );

    // Bad m0 length and bad beta.
    std::fs::write(p("m0.csv"), "0.1\n").unwrap();
    let o = isingscope(&[
        "exact",
        "--couplings",
        &p("J.csv"),
        "--fields",
        &p("H.csv"),
        "--steps",
        "2",
        "--m0",
        &p("m0.csv"),
        "--out",
        out,
    ]);
    assert_fails(&o, &["m0.csv", "N = 2"]);
    let o = isingscope(&[
        "exact",
        "--couplings",
        &p("J.csv"),
        "--fields",
        &p("H.csv"),
        "--steps",
        "2",
        "--beta",
        "-1",
        "--out",
        out,
    ]);
    assert_fails(&o, &["beta"]);
}

#[test]
fn help_documents_index_order() {
    let o = isingscope(&["simulate", "--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("row i = receiving neuron"));
    let o = isingscope(&["stats", "--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("row = later time"));
}
