//! Trial-aligned analysis: the columns of an intervals table survive
//! loading and `bin` (trials.csv), and the PSTH equals the trial average
//! computed here directly from the raster's bits.

use std::path::Path;
use std::process::Command;

use hdf5_pure::{AttrValue, FileBuilder};
use isingscope::io::{LoadOptions, Loaded, load_path};
use isingscope::psth::{TrialTable, compute_psth, select_trials};
use isingscope::spikes::SpikeRaster;
use rand::{RngExt, SeedableRng};

/// A pynwb-like file: `/units` with two units, and `/intervals/trials` with
/// four trials, a string `stimulus` (one value holds a comma and a quote),
/// a float `contrast` whose values need all 17 digits, an int32 `n_reps`,
/// and a ragged `events` column (with `events_index`) that cannot label a
/// trial with one value, listed in the table's `colnames`.
const STIMULUS: [&str; 4] = ["grating", "dots, \"fast\"", "grating", "blank"];
const CONTRAST: [f64; 4] = [0.1, 1.0 / 3.0, 0.25, 0.0];
const N_REPS: [i32; 4] = [3, -1, 7, 0];
const START: [f64; 4] = [1.0, 2.5, 4.0, 5.5];
const STOP: [f64; 4] = [1.5, 3.0, 4.75, 6.0];

fn write_trials_nwb(path: &Path) {
    let mut b = FileBuilder::new();
    b.set_attr("nwb_version", AttrValue::VarLenString("2.7.0".into()));
    let mut u = b.create_group("units");
    u.create_dataset("spike_times")
        .with_f64_data(&[1.05, 2.55, 4.05, 5.55, 1.2, 4.3]);
    u.create_dataset("spike_times_index").with_u32_data(&[4, 6]);
    u.create_dataset("id").with_i64_data(&[11, 12]);
    b.add_group(u.finish());
    let mut iv = b.create_group("intervals");
    let mut tr = iv.create_group("trials");
    tr.set_attr(
        "colnames",
        AttrValue::VarLenStringArray(
            [
                "start_time",
                "stop_time",
                "stimulus",
                "contrast",
                "n_reps",
                "events",
            ]
            .map(String::from)
            .to_vec(),
        ),
    );
    tr.create_dataset("id").with_i64_data(&[0, 1, 2, 3]);
    tr.create_dataset("start_time").with_f64_data(&START);
    tr.create_dataset("stop_time").with_f64_data(&STOP);
    tr.create_dataset("stimulus").with_vlen_strings(&STIMULUS);
    tr.create_dataset("contrast").with_f64_data(&CONTRAST);
    tr.create_dataset("n_reps").with_i32_data(&N_REPS);
    tr.create_dataset("events")
        .with_f64_data(&[1.1, 1.2, 2.6, 4.2, 5.7]);
    tr.create_dataset("events_index")
        .with_u8_data(&[2, 3, 4, 5]);
    iv.add_group(tr.finish());
    b.add_group(iv.finish());
    b.write(path).unwrap();
}

#[test]
fn nwb_trial_columns_are_loaded_in_table_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trials.nwb");
    write_trials_nwb(&p);
    let Loaded::Spikes(s) = load_path(&p, &LoadOptions::default()).unwrap() else {
        panic!("expected spike trains");
    };
    let t = s.interval_table("trials").unwrap();
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    // id, start/stop and the ragged `events` are not per-trial columns.
    assert_eq!(names, vec!["stimulus", "contrast", "n_reps"]);
    assert_eq!(t.columns[0].values, STIMULUS.map(String::from).to_vec());
    let contrast: Vec<f64> = t.columns[1]
        .values
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(contrast, CONTRAST.to_vec(), "floats round-trip exactly");
    assert_eq!(t.columns[2].values, N_REPS.map(|v| v.to_string()).to_vec());
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn bin_writes_trials_csv_with_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let nwb = dir.path().join("trials.nwb");
    write_trials_nwb(&nwb);
    let out = dir.path().join("out/raster.npy");
    let o = Command::new(env!("CARGO_BIN_EXE_isingscope"))
        .args(["bin", nwb.to_str().unwrap(), "--bin-ms", "50"])
        .args(["--intervals", "trials", "--pre", "0.1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (header, rows) = read_csv(&dir.path().join("out/trials.csv"));
    assert_eq!(
        header,
        vec!["trial", "start", "stop", "stimulus", "contrast", "n_reps"]
    );
    // `info` names the columns too.
    let o = Command::new(env!("CARGO_BIN_EXE_isingscope"))
        .arg("info")
        .arg(&nwb)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("trials: 4 rows") && text.contains("columns stimulus, contrast, n_reps"),
        "{text}"
    );
    assert_eq!(rows.len(), 4);
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row[0], k.to_string());
        assert_eq!(row[1].parse::<f64>().unwrap(), START[k]);
        assert_eq!(row[2].parse::<f64>().unwrap(), STOP[k]);
        assert_eq!(row[3], STIMULUS[k]);
        assert_eq!(row[4].parse::<f64>().unwrap(), CONTRAST[k]);
        assert_eq!(row[5].parse::<i32>().unwrap(), N_REPS[k]);
    }
    // The raster's trials are the table's rows: unit 11 spikes 0.05 s
    // after each event, i.e. in bin (0.1 + 0.05) / 0.05 = 3 of each trial.
    let r = isingscope::io::npy::read_raster(&out).unwrap();
    assert_eq!(r.n_trials(), 4);
    for k in 0..4 {
        assert!(r.get(k, 3, 0), "trial {k}");
    }

    // An events CSV with a condition column.
    let ev = dir.path().join("events.csv");
    std::fs::write(&ev, "stimulus,time,side\nA,1.0,left\nB,2.5,right\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_isingscope"))
        .args(["bin", nwb.to_str().unwrap(), "--bin-ms", "50", "--align"])
        .arg(&ev)
        .args(["--post", "0.2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (header, rows) = read_csv(&dir.path().join("out/trials.csv"));
    assert_eq!(header, vec!["trial", "start", "stimulus", "side"]);
    assert_eq!(rows[1], vec!["1", "2.5", "B", "right"]);

    // Continuous binning writes no trials.csv (and an old one is not
    // touched: it is simply not an output).
    let out2 = dir.path().join("cont/raster.npy");
    let o = Command::new(env!("CARGO_BIN_EXE_isingscope"))
        .args(["bin", nwb.to_str().unwrap(), "--bin-ms", "50", "--out"])
        .arg(&out2)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!dir.path().join("cont/trials.csv").exists());
}

/// A seeded random raster, 70 units (two packed words per row).
fn random_raster(r: usize, t: usize, n: usize, p: f64, seed: u64) -> SpikeRaster {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let x: Vec<u8> = (0..r * t * n)
        .map(|_| u8::from(rng.random_bool(p)))
        .collect();
    SpikeRaster::from_binary(r, t, n, &x).unwrap()
}

/// Rates are integer counts over `R·w`, computed the same way both sides:
/// equal to a few ulps (relative 1e-12). The population s.e. is a one-pass
/// variance in the library and a two-pass one here: with rates up to
/// 1/w = 200 Hz and R ≤ 9 the cancellation error is below 1e-16 · 200² · R
/// ≈ 1e-10 Hz², so the s.e. agrees to 1e-6 Hz absolute.
#[test]
fn psth_equals_the_direct_trial_average_per_condition() {
    let (rr, tt, n) = (9, 13, 70);
    let w = 0.005;
    let x = random_raster(rr, tt, n, 0.2, 7);
    let trials = TrialTable {
        event_s: (0..rr).map(|k| k as f64).collect(),
        pre_s: 0.02,
        columns: vec![isingscope::io::IntervalColumn {
            name: "stimulus".into(),
            values: (0..rr)
                .map(|k| ["left", "right", "left"][k % 3].to_string())
                .collect(),
        }],
    };
    let direct = |set: &[usize]| {
        let mut rate = vec![0.0; n * tt];
        let mut pop = vec![vec![0.0; set.len()]; tt];
        for (k, &r) in set.iter().enumerate() {
            for t in 0..tt {
                for i in 0..n {
                    if x.get(r, t, i) {
                        rate[i * tt + t] += 1.0 / (set.len() as f64 * w);
                        pop[t][k] += 1.0 / (n as f64 * w);
                    }
                }
            }
        }
        let mean: Vec<f64> = pop
            .iter()
            .map(|p| p.iter().sum::<f64>() / p.len() as f64)
            .collect();
        let se: Vec<f64> = pop
            .iter()
            .zip(&mean)
            .map(|(p, m)| {
                let var = p.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (p.len() - 1) as f64;
                (var / p.len() as f64).sqrt()
            })
            .collect();
        (rate, mean, se)
    };
    let check = |set: &[usize]| {
        let p = compute_psth(&x, w, trials.pre_s, set).unwrap();
        let (rate, mean, se) = direct(set);
        assert_eq!(p.n_trials, set.len());
        for (a, b) in p.rate_hz.iter().zip(&rate) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        for t in 0..tt {
            assert!((p.population_hz[t] - mean[t]).abs() <= 1e-12 * mean[t].max(1.0));
            assert!((p.population_se_hz[t] - se[t]).abs() <= 1e-6, "{t}");
        }
        p
    };
    let all: Vec<usize> = (0..rr).collect();
    let overall = check(&all);
    assert!((overall.bin_start(4) - (-0.02 + 4.0 * w)).abs() < 1e-15);
    let groups = trials.conditions("stimulus").unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].value, "left");
    assert_eq!(groups[0].trials, vec![0, 2, 3, 5, 6, 8]);
    assert_eq!(groups[1].trials, vec![1, 4, 7]);
    // Each condition's PSTH is the average over its own trials, and the
    // trial-weighted mean of the conditions is the overall PSTH.
    let per: Vec<_> = groups.iter().map(|g| check(&g.trials)).collect();
    for k in 0..n * tt {
        let weighted = per
            .iter()
            .map(|p| p.rate_hz[k] * p.n_trials as f64)
            .sum::<f64>()
            / rr as f64;
        assert!((weighted - overall.rate_hz[k]).abs() < 1e-9);
    }
    // The two conditions differ (random data): grouping is not a no-op.
    assert_ne!(per[0].rate_hz, per[1].rate_hz);
    // Selecting a condition's trials keeps their bits.
    let sub = select_trials(&x, &groups[1].trials).unwrap();
    assert_eq!(sub.n_trials(), 3);
    for t in 0..tt {
        for i in 0..n {
            assert_eq!(sub.get(2, t, i), x.get(7, t, i));
        }
    }
}
