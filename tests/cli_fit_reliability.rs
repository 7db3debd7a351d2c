//! Issue 13, CLI: `fit --surrogate shuffle` writes surrogate.csv and
//! `--split-half` writes split_half.csv, with the same numbers the library
//! gives for the same raster, settings and seed.

mod common;

use common::{assert_fails, csv_rows, isingscope, stderr};
use isingscope::fit::surrogate::{SurrogateOptions, split_half, surrogate_check};
use isingscope::fit::{MlFit, standard_errors};
use isingscope::model::KineticIsing;
use isingscope::model::simulate::{InitialState, SimulationOptions, simulate};
use isingscope::progress::{NoProgress, StopToken};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;

#[test]
fn fit_writes_surrogate_and_split_half() {
    // 12 units in a ring (unit i excites i+1 by 0.8), 40 trials of 150 bins.
    let n = 12;
    let j = DMatrix::from_fn(n, n, |i, k| if i == (k + 1) % n { 0.8 } else { 0.0 });
    let model = KineticIsing::new(DVector::from_element(n, -1.0), j, 1.0).unwrap();
    let opts = SimulationOptions {
        steps: 150,
        trials: 40,
        init: InitialState::Random,
    };
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(4);
    let raster = simulate(&model, &opts, &mut rng, &NoProgress, &StopToken::new()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spikes.npy");
    isingscope::io::npy::write_raster(&path, &raster).unwrap();
    let out = dir.path().join("fit");
    let o = isingscope(&[
        "fit",
        path.to_str().unwrap(),
        "--surrogate",
        "shuffle",
        "--seed",
        "3",
        "--fdr",
        "0.1",
        "--split-half",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("surrogate: "), "{err}");
    assert!(err.contains("split-half: correlation"), "{err}");

    // The library on the same raster (no hold-out, L2 = 0, seed 3, q 0.1).
    let fit = MlFit::default().validate().unwrap();
    let est = fit.fit(&raster, &NoProgress, &StopToken::new()).unwrap();
    let se = standard_errors(&raster, &est.h, &est.j, 0.0).unwrap();
    let sopts = SurrogateOptions {
        q: 0.1,
        seed: 3,
        ..Default::default()
    };
    let c = surrogate_check(
        &raster,
        &est.j,
        &se.j,
        &sopts,
        &NoProgress,
        &StopToken::new(),
    )
    .unwrap();
    let text = std::fs::read_to_string(out.join("surrogate.csv")).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("# each unit's 40 trials permuted")
    );
    assert_eq!(
        lines.next(),
        Some("q,significant_data,significant_surrogate,n_tested")
    );
    assert_eq!(
        lines.next().map(str::to_string),
        Some(format!(
            "0.1,{},{},{}",
            c.significant_data,
            c.significant_surrogate,
            n * (n - 1)
        ))
    );
    // The ring's 12 couplings of 0.8 pass in the data.
    assert!(c.significant_data >= n, "{}", c.summary());

    let sh = split_half(&raster, &fit, &NoProgress, &StopToken::new()).unwrap();
    let text = std::fs::read_to_string(out.join("split_half.csv")).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "# correlation: {:.6}; even vs odd",
            sh.correlation
        )),
        "{first}"
    );
    assert_eq!(text.lines().nth(1), Some("i,j,J_half1,J_half2"));
    let rows = csv_rows(&out.join("split_half.csv"), true);
    assert_eq!(rows.len(), n * (n - 1));
    // Row order: i, then j != i; values printed with 17 digits.
    let r = &rows[1];
    assert_eq!((r[0], r[1]), (0.0, 2.0));
    assert!((r[2] - sh.j_a[(0, 2)]).abs() <= 1e-15 * sh.j_a[(0, 2)].abs().max(1.0));
    assert!((r[3] - sh.j_b[(0, 2)]).abs() <= 1e-15 * sh.j_b[(0, 2)].abs().max(1.0));

    let o = isingscope(&[
        "fit",
        path.to_str().unwrap(),
        "--method",
        "tap",
        "--surrogate",
        "shuffle",
        "--out",
        dir.path().join("tap").to_str().unwrap(),
    ]);
    assert_fails(&o, &["--surrogate", "ml only"]);
}
