//! Issue 13: the trial-shuffled surrogate (couplings destroyed, PSTHs
//! kept) and split-half reliability of the couplings.

use isingscope::fit::MlFit;
use isingscope::fit::standard_errors;
use isingscope::fit::surrogate::{
    SurrogateOptions, count_significant, halves, shuffle, split_half, surrogate_check,
};
use isingscope::model::KineticIsing;
use isingscope::model::simulate::{InitialState, SimulationOptions, simulate};
use isingscope::progress::{NoProgress, StopToken};
use isingscope::spikes::SpikeRaster;
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};

fn rng(seed: u64) -> rand::rngs::Xoshiro256PlusPlus {
    rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// `trials` trials of `bins` bins in the stationary regime: each trial is
/// simulated 20 bins longer from a random state and those 20 transient
/// bins are cut (a random ±1 start is far more active than the data, a
/// transient every trial would share).
fn sim(model: &KineticIsing, bins: usize, trials: usize, seed: u64) -> SpikeRaster {
    let opts = SimulationOptions {
        steps: bins + 20,
        trials,
        init: InitialState::Random,
    };
    let r = simulate(model, &opts, &mut rng(seed), &NoProgress, &StopToken::new()).unwrap();
    r.slice_bins(20..bins + 20).unwrap()
}

/// Off-diagonal couplings non-zero with probability `p`, of size
/// ±U(0.4, 0.8); no self-couplings; fields U(−1.2, −0.6) (units fire in
/// roughly 10–25 % of bins).
fn network(n: usize, p: f64, seed: u64) -> KineticIsing {
    let mut r = rng(seed);
    let j = DMatrix::from_fn(n, n, |i, k| {
        if i != k && r.random::<f64>() < p {
            let s = if r.random::<f64>() < 0.5 { -1.0 } else { 1.0 };
            s * r.random_range(0.4..0.8)
        } else {
            0.0
        }
    });
    let h = DVector::from_fn(n, |_, _| r.random_range(-1.2..-0.6));
    KineticIsing::new(h, j, 1.0).unwrap()
}

/// Trial-averaged count of active trials of every (bin, unit).
fn psth(r: &SpikeRaster) -> Vec<u32> {
    let (rr, tt, n) = r.shape();
    let mut out = vec![0; tt * n];
    for tr in 0..rr {
        for t in 0..tt {
            for i in 0..n {
                out[t * n + i] += u32::from(r.get(tr, t, i));
            }
        }
    }
    out
}

#[test]
fn trial_shuffle_keeps_every_psth_exactly_and_is_seeded() {
    let raster = sim(&network(12, 0.2, 1), 60, 30, 2);
    let a = shuffle(&raster, 5).unwrap();
    // A permutation of each unit's trials leaves the number of trials in
    // which it fires at every bin unchanged: integer counts, exact.
    assert_eq!(psth(&a.raster), psth(&raster));
    assert_eq!(a.raster.shape(), raster.shape());
    assert_eq!(a.raster, shuffle(&raster, 5).unwrap().raster);
    assert_ne!(a.raster, raster, "30! permutations: identity is ~1e-32");
    assert_ne!(a.raster, shuffle(&raster, 6).unwrap().raster);
    // Each unit's trials are whole trials of the original (a permutation):
    // every surrogate trial of unit 0 equals some original trial of unit 0.
    let train = |r: &SpikeRaster, tr: usize, i: usize| -> Vec<bool> {
        (0..r.n_bins()).map(|t| r.get(tr, t, i)).collect()
    };
    for tr in 0..raster.n_trials() {
        let s = train(&a.raster, tr, 0);
        assert!((0..raster.n_trials()).any(|q| train(&raster, q, 0) == s));
    }
}

#[test]
fn circular_shift_without_trials_keeps_every_rate_exactly() {
    let raster = sim(&network(10, 0.2, 3), 2_000, 1, 4);
    let s = shuffle(&raster, 9).unwrap();
    assert_eq!(s.raster.unit_counts(), raster.unit_counts());
    assert!(s.description.contains("circularly"));
    // Unit i's train is the original rotated by one offset in
    // [T/10, T − T/10].
    let tt = raster.n_bins();
    for i in 0..raster.n_units() {
        let found = (tt / 10..=tt - tt / 10)
            .any(|d| (0..tt).all(|t| raster.get(0, t, i) == s.raster.get(0, (t + d) % tt, i)));
        assert!(found, "unit {i} is not a rotation of its train");
    }
}

#[test]
fn surrogate_passes_few_couplings_where_the_data_pass_most() {
    // N = 20, 100 trials of 200 bins (19,900 transitions). The couplings
    // |J| ≥ 0.4 have standard errors near 1/√(n w̄ var x) ≈ 0.012 here
    // (n ≈ 2e4, w̄ ≈ 0.6, var x ≈ 0.6), z ≳ 30: BH at q = 0.05 must pass
    // nearly all of them (we ask for 90 %). In the surrogate each pair of
    // units is aligned in 1 % of trials (a residual coupling ≲ 0.008, under
    // one s.e.) and otherwise independent: under the complete null BH keeps
    // P(any rejection) ≤ q, so the count is q·N(N−1) at most in the sense
    // the issue asks ("q-fraction or fewer").
    let q = 0.05;
    for seed in [21, 22] {
        let truth = network(20, 0.15, seed);
        let raster = sim(&truth, 200, 100, seed + 50);
        let fit = MlFit::default().validate().unwrap();
        let est = fit.fit(&raster, &NoProgress, &StopToken::new()).unwrap();
        let se = standard_errors(&raster, &est.h, &est.j, 0.0).unwrap();
        let opts = SurrogateOptions {
            q,
            seed,
            ..Default::default()
        };
        let c = surrogate_check(
            &raster,
            &est.j,
            &se.j,
            &opts,
            &NoProgress,
            &StopToken::new(),
        )
        .unwrap();
        let n = 20;
        let true_nonzero = (0..n)
            .flat_map(|i| (0..n).map(move |k| (i, k)))
            .filter(|&(i, k)| i != k && truth.j()[(i, k)] != 0.0)
            .count();
        eprintln!(
            "seed {seed}: {} true couplings; {}",
            true_nonzero,
            c.summary()
        );
        assert_eq!(c.n_tested, n * (n - 1));
        assert_eq!(
            c.significant_data,
            count_significant(&est.j, &se.j, q).unwrap()
        );
        assert!(
            c.significant_data as f64 >= 0.9 * true_nonzero as f64,
            "seed {seed}: data pass {} of {true_nonzero} true couplings",
            c.significant_data
        );
        assert!(
            c.significant_surrogate as f64 <= q * c.n_tested as f64,
            "seed {seed}: surrogate passes {} of {}",
            c.significant_surrogate,
            c.n_tested
        );
        assert!(c.summary().contains("permuted"));
    }
}

#[test]
fn split_half_correlation_is_high_with_strong_couplings_and_near_zero_without() {
    // Halves: even/odd trials of 60 trials of 250 bins (~7,500 transitions
    // each). With estimation noise σ² (mean s.e.² of the halves) and the
    // spread v of the true off-diagonal couplings, the expected
    // correlation is ρ₀ = v/(v + σ²); the sample correlation of m = 380
    // pairs has s.d. ≈ (1 − ρ₀²)/√m, so we ask for ρ₀ − 4 of them.
    // Without couplings the halves' estimates are independent noise: the
    // null s.d. of a correlation of m pairs is 1/√(m − 1); we ask |r| ≤ 4
    // of them.
    let n = 20;
    let m = (n * (n - 1)) as f64;
    let fit = MlFit::default().validate().unwrap();
    let strong = network(n, 0.2, 31);
    let raster = sim(&strong, 250, 60, 32);
    let sh = split_half(&raster, &fit, &NoProgress, &StopToken::new()).unwrap();
    assert!(sh.description.contains("even vs odd"));
    let (a, b, _) = halves(&raster).unwrap();
    let mut sigma2 = 0.0;
    for (part, j) in [(&a, &sh.j_a), (&b, &sh.j_b)] {
        let est = fit.fit(part, &NoProgress, &StopToken::new()).unwrap();
        assert_eq!(&est.j, j, "split_half fits the halves as given");
        let se = standard_errors(part, &est.h, &est.j, 0.0).unwrap();
        let s: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&k| k != i).map(move |k| (i, k)))
            .map(|ik| se.j[ik].powi(2))
            .sum();
        sigma2 += s / m / 2.0;
    }
    let off: Vec<f64> = (0..n)
        .flat_map(|i| (0..n).filter(move |&k| k != i).map(move |k| (i, k)))
        .map(|ik| strong.j()[ik])
        .collect();
    let mean = off.iter().sum::<f64>() / m;
    let v = off.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m;
    let rho0 = v / (v + sigma2);
    eprintln!("strong: r = {}, expected {rho0}", sh.correlation);
    assert!(
        sh.correlation >= rho0 - 4.0 * (1.0 - rho0 * rho0) / m.sqrt(),
        "split-half r = {} vs expected {rho0}",
        sh.correlation
    );
    assert!(rho0 > 0.9, "the test network is meant to be strong: {rho0}");

    // Independent units (J = 0), one long recording: first vs second half.
    let h = DVector::from_fn(n, |i, _| -1.0 + 0.02 * i as f64);
    let indep = KineticIsing::new(h, DMatrix::zeros(n, n), 1.0).unwrap();
    let raster = sim(&indep, 15_000, 1, 33);
    let sh = split_half(&raster, &fit, &NoProgress, &StopToken::new()).unwrap();
    assert!(sh.description.contains("first vs second half"));
    eprintln!("independent: r = {}", sh.correlation);
    assert!(
        sh.correlation.abs() <= 4.0 / (m - 1.0).sqrt(),
        "independent network: r = {}",
        sh.correlation
    );
}
