//! State-space kinetic Ising model: reference parity (the authors' code with
//! converged Newton solves, `ref_tight`), entropy flow, recovery on
//! synthetic data, edge cases and the CLI.
//!
//! Reference files are copies from `shared/reference/state_space/` (see its
//! README for shapes and tolerances); the raster there is `(T+1, R, N)`
//! `[bin, trial, neuron]` and is transposed to our `(R, T+1, N)` on load.

// Index loops over (t, i, k) mirror the array layout documented above.
#![allow(clippy::needless_range_loop)]

use std::path::PathBuf;
use std::sync::OnceLock;

use isingscope::io::npy;
use isingscope::progress::{NoProgress, StopToken, TerminationReason};
use isingscope::spikes::SpikeRaster;
use isingscope::state_space::{StateSpaceFit, StateSpaceResult, ThetaSeries};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/state_space")
        .join(name)
}

fn load(name: &str) -> (Vec<usize>, Vec<f64>) {
    npy::read_f64(&data(name)).unwrap()
}

/// The reference raster `(T+1, R, N)` as our `(R, T+1, N)`.
fn reference_raster() -> SpikeRaster {
    let (shape, x) = load("spikes.npy");
    let (bins, trials, n) = (shape[0], shape[1], shape[2]);
    let mut raster = SpikeRaster::zeros(trials, bins, n).unwrap();
    for t in 0..bins {
        for r in 0..trials {
            for i in 0..n {
                if x[(t * trials + r) * n + i] == 1.0 {
                    raster.set(r, t, i, true);
                }
            }
        }
    }
    raster
}

fn theta(name: &str) -> ThetaSeries {
    let (shape, x) = load(name);
    ThetaSeries::from_shape(&shape, x).unwrap()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs())
        .fold(0.0, f64::max)
}

fn squared(x: &ThetaSeries) -> Vec<f64> {
    x.as_slice().iter().map(|v| v * v).collect()
}

/// The full 120-iteration fit of the reference data, shared by the tests
/// that need it (it takes a few seconds in the debug profile).
fn full_fit() -> &'static StateSpaceResult {
    static FIT: OnceLock<StateSpaceResult> = OnceLock::new();
    FIT.get_or_init(|| {
        StateSpaceFit::default()
            .fit(&reference_raster(), &NoProgress, &StopToken::new())
            .unwrap()
    })
}

/// First E-step with the initial hyperparameters (Q = 0.5 I, Sigma0 = I,
/// mu0 = 0) against `ref_tight/estep1_*`. The README's pass criteria for an
/// implementation that converges each Newton solve: means within 1e-6,
/// variances within 1e-6 relative; the evidence of iteration 1 within 1e-6
/// relative (an independent re-implementation agreed to 1e-11).
#[test]
fn first_e_step_matches_reference() {
    let fit = StateSpaceFit {
        max_iter: 1,
        ..Default::default()
    }
    .fit(&reference_raster(), &NoProgress, &StopToken::new())
    .unwrap();
    let d_f = max_abs_diff(
        fit.theta_filtered.as_slice(),
        theta("estep1_theta_f.npy").as_slice(),
    );
    let d_s = max_abs_diff(
        fit.theta_smoothed.as_slice(),
        theta("estep1_theta_s.npy").as_slice(),
    );
    let v_f = max_rel_diff(
        &squared(&fit.sd_filtered),
        theta("estep1_sigma_f_diag.npy").as_slice(),
    );
    let v_s = max_rel_diff(
        &squared(&fit.sd_smoothed),
        theta("estep1_sigma_s_diag.npy").as_slice(),
    );
    let (_, llk) = load("mllk_per_iter.npy");
    let e = (fit.evidence() - llk[0]).abs() / llk[0].abs();
    eprintln!(
        "estep1: theta_f {d_f:e}, theta_s {d_s:e}, var_f {v_f:e}, var_s {v_s:e}, evidence {e:e}"
    );
    assert!(d_f < 1e-6 && d_s < 1e-6, "means: {d_f:e}, {d_s:e}");
    assert!(v_f < 1e-6 && v_s < 1e-6, "variances: {v_f:e}, {v_s:e}");
    assert!(e < 1e-6, "evidence: {} vs {}", fit.evidence(), llk[0]);
    assert_eq!(fit.info.iterations, 1);
    assert_eq!(fit.newton_unconverged, 0);
}

/// 120 EM iterations against `ref_tight`. README pass criteria: theta_s
/// within 1e-4, Q_final_diag within 1e-4 relative, evidence (every
/// iteration) within 1e-6 relative. The smoothed variances are held to the
/// same 1e-4 relative as Q (they depend on Q through the same EM path).
#[test]
fn em_matches_reference_after_120_iterations() {
    let fit = full_fit();
    assert_eq!(fit.info.iterations, 120);
    assert_eq!(fit.info.reason, TerminationReason::MaxIterations);
    let d_s = max_abs_diff(
        fit.theta_smoothed.as_slice(),
        theta("theta_s.npy").as_slice(),
    );
    let v_s = max_rel_diff(
        &squared(&fit.sd_smoothed),
        theta("sigma_s_diag.npy").as_slice(),
    );
    let (_, q_ref) = load("Q_final_diag.npy");
    let q_ours: Vec<f64> = (0..12)
        .flat_map(|i| (0..13).map(move |k| (i, k)))
        .map(|(i, k)| fit.q[(i, k)])
        .collect();
    let d_q = max_rel_diff(&q_ours, &q_ref);
    let (_, llk) = load("mllk_per_iter.npy");
    let d_e = max_rel_diff(&fit.info.objective, &llk);
    eprintln!("120 iterations: theta_s {d_s:e}, var_s {v_s:e}, Q {d_q:e}, evidence {d_e:e}");
    assert!(d_s < 1e-4, "theta_s: {d_s:e}");
    assert!(v_s < 1e-4, "sigma_s diag: {v_s:e}");
    assert!(d_q < 1e-4, "Q: {d_q:e}");
    assert!(d_e < 1e-6, "evidence: {d_e:e}");
    assert!(fit.warnings.is_empty(), "{:?}", fit.warnings);
}

/// Against the ground truth the README reports smoothed RMSE 0.2728
/// (couplings) and 0.1446 (fields) for the reference estimate, and 94.6 %
/// coverage of ±1.96 sd for couplings. Our fit equals ref_tight to 1e-4, so
/// the same numbers must come out (to 1e-3, far below the differences a
/// wrong estimator would make).
#[test]
fn reference_fit_recovers_the_truth_like_the_reference() {
    let fit = full_fit();
    let truth = theta("theta_true.npy");
    let (mut se_j, mut se_h, mut nj, mut nh, mut cover) = (0.0, 0.0, 0usize, 0usize, 0usize);
    for t in 0..truth.n_steps() {
        for i in 0..12 {
            for k in 0..13 {
                let e = fit.theta_smoothed.get(t, i, k) - truth.get(t, i, k);
                if k == 0 {
                    se_h += e * e;
                    nh += 1;
                } else {
                    se_j += e * e;
                    nj += 1;
                    cover += usize::from(e.abs() <= 1.96 * fit.sd_smoothed.get(t, i, k));
                }
            }
        }
    }
    let (rmse_j, rmse_h) = ((se_j / nj as f64).sqrt(), (se_h / nh as f64).sqrt());
    let coverage = cover as f64 / nj as f64;
    eprintln!("truth: RMSE J {rmse_j}, h {rmse_h}, coverage {coverage}");
    assert!((rmse_j - 0.2728).abs() < 1e-3 && (rmse_h - 0.1446).abs() < 1e-3);
    assert!((coverage - 0.946).abs() < 1e-3);
}

/// The fit is a pure function of the data and hyperparameters: the EM runs
/// per neuron, so the thread schedule cannot change a bit of the result.
#[test]
fn fit_is_deterministic() {
    let raster = reference_raster().slice_bins(0..21).unwrap();
    let p = StateSpaceFit {
        max_iter: 5,
        ..Default::default()
    };
    let a = p.fit(&raster, &NoProgress, &StopToken::new()).unwrap();
    let b = p.fit(&raster, &NoProgress, &StopToken::new()).unwrap();
    assert_eq!(a.theta_smoothed, b.theta_smoothed);
    assert_eq!(a.info.objective, b.info.objective);
}

#[test]
fn cancellation_before_and_between_iterations() {
    let raster = reference_raster().slice_bins(0..11).unwrap();
    let stop = StopToken::new();
    stop.stop();
    let e = StateSpaceFit::default()
        .fit(&raster, &NoProgress, &stop)
        .unwrap_err();
    assert!(matches!(e, isingscope::Error::Cancelled));
    // Progress counts E-steps over all neurons (N · max_iter in total; a
    // finished neuron counts max_iter). Stop when at most 60 E-steps are
    // left: every neuron has started (at most one per worker is still
    // running), so the fit ends as Cancelled with every neuron's last
    // complete E-step.
    let n = raster.shape().2;
    let stop = StopToken::new();
    let progress = |done: u64, total: u64| {
        assert_eq!(total, (120 * n) as u64);
        if done >= (120 * n - 60) as u64 {
            stop.stop();
        }
    };
    let fit = StateSpaceFit::default()
        .fit(&raster, &progress, &stop)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fit.info.reason, TerminationReason::Cancelled);
    assert!(fit.neuron_info.iter().all(|f| f.iterations >= 1));
    assert!(
        fit.neuron_info
            .iter()
            .any(|f| f.reason == TerminationReason::Cancelled && f.iterations < 120)
    );
}

#[test]
fn bad_hyperparameters_are_rejected() {
    for p in [
        StateSpaceFit {
            max_iter: 0,
            ..Default::default()
        },
        StateSpaceFit {
            tol: Some(-1.0),
            ..Default::default()
        },
        StateSpaceFit {
            q_init: 0.0,
            ..Default::default()
        },
        StateSpaceFit {
            sigma0_init: f64::NAN,
            ..Default::default()
        },
        StateSpaceFit {
            q_floor: Some(-1e-3),
            ..Default::default()
        },
        StateSpaceFit {
            param_tol: f64::NAN,
            ..Default::default()
        },
        StateSpaceFit {
            param_tol: -0.1,
            ..Default::default()
        },
    ] {
        assert!(p.validate().is_err(), "{p:?}");
    }
}

// ---------------------------------------------------------------- entropy flow

use isingscope::state_space::entropy_flow::{
    Quadrature, grand_mean_rates, mean_field_entropy_flow, sampling_entropy_flow, shuffle_trials,
};
use isingscope::state_space::synth::{GpTruth, simulate_spikes};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

/// Mean-field flow with the 100-point Riemann rule against the reference,
/// from the true parameters and from ref_tight's smoothed estimate, with
/// m(0) = grand mean rate of the raster. A pure function of theta: the
/// README expects agreement to ~1e-12 (summation-order rounding of
/// O(10)-sized sums over 100 nodes and 12 neurons).
#[test]
fn mean_field_flow_matches_reference() {
    let m0 = grand_mean_rates(&reference_raster());
    for (theta_file, flow_file) in [
        ("theta_true.npy", "mf_entropy_flow_true.npy"),
        ("theta_s.npy", "mf_entropy_flow_est.npy"),
    ] {
        let mf = mean_field_entropy_flow(&theta(theta_file), &m0, Quadrature::Riemann100).unwrap();
        let (shape, want) = load(flow_file);
        assert_eq!(shape, vec![200, 3]);
        let mut worst: f64 = 0.0;
        for t in 0..200 {
            for (c, got) in [mf.flow.total[t], mf.flow.forward[t], mf.flow.reverse[t]]
                .into_iter()
                .enumerate()
            {
                worst = worst.max((got - want[t * 3 + c]).abs());
            }
        }
        eprintln!("{flow_file}: max abs diff {worst:e}");
        assert!(worst < 1e-12, "{flow_file}: {worst:e}");
        if theta_file == "theta_true.npy" {
            let (_, rates) = load("mf_rate_true.npy");
            assert!(max_abs_diff(&mf.rates, &rates) < 1e-13);
            // Gauss-Hermite differs at the ~1e-4 relative level (README),
            // well above rounding, well below the flow itself.
            let gh = mean_field_entropy_flow(&theta(theta_file), &m0, Quadrature::GaussHermite(40))
                .unwrap();
            let rel = (gh.flow.mean_total_from(3) - mf.flow.mean_total_from(3)).abs()
                / mf.flow.mean_total_from(3);
            assert!(rel > 1e-7 && rel < 1e-3, "{rel:e}");
        }
    }
}

/// The exact flow of a small network by enumerating all 2^N states:
/// propagate p_t(s) and average log P(s'|s) - log P(s|s') over p_t(s)P(s'|s).
fn exact_flow(theta: &ThetaSeries, p_init: f64) -> Vec<f64> {
    let n = theta.n_units();
    let states = 1usize << n;
    let bit = |s: usize, i: usize| (s >> i) & 1 == 1;
    let log_kernel = |t: usize, from: usize, to: usize| -> f64 {
        (0..n)
            .map(|i| {
                let row = theta.row(t, i);
                let a = row[0]
                    + (0..n)
                        .filter(|&j| bit(from, j))
                        .map(|j| row[1 + j])
                        .sum::<f64>();
                let lp1 = -(1.0 + (-a).exp()).ln();
                let lp0 = -(1.0 + a.exp()).ln();
                if bit(to, i) { lp1 } else { lp0 }
            })
            .sum()
    };
    let mut p: Vec<f64> = (0..states)
        .map(|s| {
            (0..n)
                .map(|i| if bit(s, i) { p_init } else { 1.0 - p_init })
                .product()
        })
        .collect();
    let mut out = Vec::new();
    for t in 0..theta.n_steps() {
        let mut next = vec![0.0; states];
        let mut flow = 0.0;
        for s in 0..states {
            for s2 in 0..states {
                let lk = log_kernel(t, s, s2);
                let w = p[s] * lk.exp();
                next[s2] += w;
                flow += w * (lk - log_kernel(t, s2, s));
            }
        }
        out.push(flow);
        p = next;
    }
    out
}

/// The sampling estimator is unbiased: against exact enumeration for N = 3
/// its error stays within 5 standard errors (its own SEM estimate) at
/// every transition.
#[test]
fn sampling_flow_matches_exact_enumeration() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let truth = GpTruth {
        coupling_mean: 0.5,
        coupling_variance: 1.0,
        field_mean: -0.5,
        ..GpTruth::paper(3, 6)
    }
    .draw(&mut rng)
    .unwrap();
    let exact = exact_flow(&truth, 0.5);
    let s = sampling_entropy_flow(&truth, 20_000, 0.5, &mut rng).unwrap();
    for t in 0..6 {
        let err = (s.flow.total[t] - exact[t]).abs();
        assert!(
            err < 5.0 * s.total_sem[t],
            "t={t}: {} vs exact {} (sem {})",
            s.flow.total[t],
            exact[t],
            s.total_sem[t]
        );
        assert!(s.total_sem[t] > 0.0 && s.total_sem[t] < 0.02);
        assert!((s.flow.total[t] - (s.flow.reverse[t] - s.flow.forward[t])).abs() < 1e-12);
    }
}

/// The surrogate keeps each neuron's spike count in every bin (rates) and
/// is a different raster; with seeded RNGs it is reproducible.
#[test]
fn shuffled_surrogate_keeps_rates() {
    let raster = reference_raster();
    let a = shuffle_trials(&raster, &mut Xoshiro256PlusPlus::seed_from_u64(1)).unwrap();
    let b = shuffle_trials(&raster, &mut Xoshiro256PlusPlus::seed_from_u64(1)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, raster);
    for t in [0, 57, 200] {
        for i in 0..12 {
            let count = |x: &SpikeRaster| (0..200).filter(|&r| x.get(r, t, i)).count();
            assert_eq!(count(&a), count(&raster));
        }
    }
}

// ---------------------------------------------------------------- recovery

/// Recovery on data from our own generator at the reference setting
/// (N = 12, T = 200, R = 200, 120 EM iterations). Criteria from the issue:
/// smoothed-coupling RMSE no worse than the reference implementation's
/// 0.2728 on this setting; 95 % credible intervals (±1.96 sd) cover the
/// truth 90–99 % of the time; the evidence never decreases by more than
/// Laplace-approximation noise (1e-6 relative; the reference trace rises
/// monotonically at this tolerance, checked here too).
#[test]
fn recovers_synthetic_ground_truth() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2025);
    let truth = GpTruth::paper(12, 200).draw(&mut rng).unwrap();
    let raster = simulate_spikes(&truth, 200, 0.2, &mut rng).unwrap();
    let fit = StateSpaceFit::default()
        .fit(&raster, &NoProgress, &StopToken::new())
        .unwrap();
    let (mut se, mut count, mut cover) = (0.0, 0usize, 0usize);
    for t in 0..200 {
        for i in 0..12 {
            for k in 1..13 {
                let e = fit.theta_smoothed.get(t, i, k) - truth.get(t, i, k);
                se += e * e;
                count += 1;
                cover += usize::from(e.abs() <= 1.96 * fit.sd_smoothed.get(t, i, k));
            }
        }
    }
    let rmse = (se / count as f64).sqrt();
    let coverage = cover as f64 / count as f64;
    eprintln!(
        "synthetic: RMSE J {rmse}, coverage {coverage}, rate {}",
        raster.active_fraction()
    );
    assert!(rmse <= 0.2728, "RMSE {rmse}");
    assert!((0.90..=0.99).contains(&coverage), "coverage {coverage}");
    let check_monotone = |trace: &[f64]| {
        for k in 1..trace.len() {
            assert!(
                trace[k] >= trace[k - 1] - 1e-6 * trace[k].abs(),
                "iteration {k}: {} -> {}",
                trace[k - 1],
                trace[k]
            );
        }
    };
    check_monotone(&fit.info.objective);
    check_monotone(&load("mllk_per_iter.npy").1);
    assert!(fit.info.objective.last() > fit.info.objective.first());
}

// ---------------------------------------------------------------- edge cases

fn assert_all_finite(fit: &StateSpaceResult) {
    for x in [
        &fit.theta_smoothed,
        &fit.theta_filtered,
        &fit.sd_smoothed,
        &fit.sd_filtered,
    ] {
        assert!(x.as_slice().iter().all(|v| v.is_finite()));
    }
    assert!(fit.q.iter().all(|v| v.is_finite()));
    assert!(fit.info.objective.iter().all(|v| v.is_finite()));
}

/// Neuron 2 never fires. As presynaptic neuron its column of regressors is
/// all zero, so the data say nothing about J_i2: the posterior of that
/// component equals the random-walk prior, exactly decoupled from the
/// others (the data Hessian has a zero row and column there). Then the
/// smoothed mean is 0, Q's M-step is a fixed point (Q = 0.5 stays), Sigma0
/// stays 1, and the variance at transition t is 1 + 0.5 t (the spec
/// reports this for the reference code). As postsynaptic neuron its
/// parameters are flagged non-identifiable; its field is pushed far below
/// the others' but stays finite.
#[test]
fn silent_neuron_is_flagged_and_gives_prior_variances() {
    let full = reference_raster().slice_bins(0..61).unwrap();
    let mut raster = full.clone();
    for r in 0..raster.n_trials() {
        for t in 0..raster.n_bins() {
            raster.set(r, t, 2, false);
        }
    }
    let fit = StateSpaceFit {
        max_iter: 10,
        ..Default::default()
    }
    .fit(&raster, &NoProgress, &StopToken::new())
    .unwrap();
    assert_all_finite(&fit);
    assert_eq!(fit.silent_presynaptic, vec![2]);
    assert_eq!(fit.silent_postsynaptic, vec![2]);
    assert!(!fit.is_identifiable(0, 3) && fit.is_identifiable(0, 2) && !fit.is_identifiable(2, 0));
    assert!(fit.warnings.iter().any(|w| w.contains("never spike")));
    for i in [0, 1, 5, 11] {
        assert!(
            (fit.q[(i, 3)] - 0.5).abs() < 1e-12,
            "Q[{i}, 3] = {}",
            fit.q[(i, 3)]
        );
        assert!((fit.sigma0[i][(3, 3)] - 1.0).abs() < 1e-12);
        for t in 0..60 {
            let var = fit.sd_smoothed.get(t, i, 3).powi(2);
            assert!(
                (var - (1.0 + 0.5 * t as f64)).abs() < 1e-9 * (1.0 + t as f64),
                "t={t}: {var}"
            );
            assert!(fit.theta_smoothed.get(t, i, 3).abs() < 1e-9);
        }
    }
    let h_silent = (0..60)
        .map(|t| fit.theta_smoothed.h(t, 2))
        .fold(f64::MIN, f64::max);
    let h_min_other = (0..60)
        .flat_map(|t| [0, 1, 3, 4].map(|i| fit.theta_smoothed.h(t, i)))
        .fold(f64::MAX, f64::min);
    assert!(h_silent < h_min_other, "{h_silent} vs {h_min_other}");
}

/// One trial, and the shortest rasters: 2 bins (one transition: Q cannot
/// be learned and keeps its initial value, with a warning) and 3 bins.
/// One bin is an error that says what is needed.
#[test]
fn tiny_rasters() {
    let raster = reference_raster();
    let one_trial = raster.slice_trials(0..1).unwrap();
    let fit = StateSpaceFit {
        max_iter: 20,
        ..Default::default()
    }
    .fit(&one_trial, &NoProgress, &StopToken::new())
    .unwrap();
    assert_all_finite(&fit);
    assert_eq!(fit.n_steps(), 200);

    let two_bins = raster.slice_bins(0..2).unwrap();
    let fit = StateSpaceFit {
        max_iter: 5,
        ..Default::default()
    }
    .fit(&two_bins, &NoProgress, &StopToken::new())
    .unwrap();
    assert_all_finite(&fit);
    assert_eq!(fit.n_steps(), 1);
    assert!(fit.q.iter().all(|&q| q == 0.5));
    assert!(
        fit.warnings
            .iter()
            .any(|w| w.contains("only one transition"))
    );

    let three_bins = raster.slice_trials(0..1).unwrap().slice_bins(0..3).unwrap();
    let fit = StateSpaceFit {
        max_iter: 5,
        ..Default::default()
    }
    .fit(&three_bins, &NoProgress, &StopToken::new())
    .unwrap();
    assert_all_finite(&fit);
    assert_eq!(fit.theta_smoothed.shape(), [2, 12, 13]);

    let e = StateSpaceFit::default()
        .fit(
            &raster.slice_bins(0..1).unwrap(),
            &NoProgress,
            &StopToken::new(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("at least 2 bins"), "{e}");
}

/// A Q floor keeps every entry at or above it and is reported.
#[test]
fn q_floor_is_applied_and_reported() {
    let raster = reference_raster().slice_bins(0..41).unwrap();
    let fit = StateSpaceFit {
        max_iter: 30,
        q_floor: Some(0.02),
        ..Default::default()
    }
    .fit(&raster, &NoProgress, &StopToken::new())
    .unwrap();
    assert!(fit.q.iter().all(|&q| q >= 0.02));
    assert!(fit.q.iter().any(|&q| q == 0.02));
    assert!(
        fit.warnings
            .iter()
            .any(|w| w.contains("raised to the floor"))
    );
}

/// NaN in an input file is a clear error, not a NaN output.
#[test]
fn nan_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan.npy");
    let mut x = vec![0.0; 2 * 3 * 2];
    x[4] = f64::NAN;
    npy::write_f64(&p, &[2, 3, 2], &x).unwrap();
    let e = npy::read_raster(&p).unwrap_err().to_string();
    assert!(
        e.contains("nan.npy") && e.contains("NaN") && e.contains("bin 2, unit 0"),
        "{e}"
    );
    let e = ThetaSeries::from_vec(1, 1, vec![0.0, f64::NAN])
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite") && e.contains("k = 1"), "{e}");
}

// ------------------------------------------------ convergence stopping (issue 18)

/// A synthetic case small enough for CI (debug profile): the paper's
/// Gaussian-process generator at N = 6, T = 60, R = 150.
fn small_synthetic() -> SpikeRaster {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(18);
    let truth = GpTruth::paper(6, 60).draw(&mut rng).unwrap();
    simulate_spikes(&truth, 150, 0.2, &mut rng).unwrap()
}

fn converging() -> StateSpaceFit {
    StateSpaceFit {
        tol: Some(isingscope::state_space::DEFAULT_TOL),
        accelerate: true,
        ..Default::default()
    }
}

/// The fixed-count, plain-EM fit of [`small_synthetic`] (the reference
/// behaviour, 120 iterations) and the converging, accelerated one.
fn small_fits() -> &'static (StateSpaceResult, StateSpaceResult) {
    static FITS: OnceLock<(StateSpaceResult, StateSpaceResult)> = OnceLock::new();
    FITS.get_or_init(|| {
        let raster = small_synthetic();
        let fixed = StateSpaceFit::default()
            .fit(&raster, &NoProgress, &StopToken::new())
            .unwrap();
        let conv = converging()
            .fit(&raster, &NoProgress, &StopToken::new())
            .unwrap();
        (fixed, conv)
    })
}

/// Convergence stopping with SQUAREM against the 120-iteration plain EM:
/// fewer E-steps and an evidence at least as high (EM increases it, so a
/// point nearer the fixed point cannot be lower). The 120-iteration fit is
/// itself not converged here (1,000 plain iterations gain 3.9 nats more and
/// move theta by up to 6 posterior s.d.), so the converged theta cannot be
/// within one s.d. of it at every (t, i, k); what is checked is that it is
/// within one s.d. in the root mean square over all of them (measured
/// 0.31; a fit stopped far from both, or on a different stationary point,
/// is off by several s.d. over whole neurons).
#[test]
fn convergence_stopping_keeps_the_answer() {
    let (fixed, conv) = small_fits();
    assert!(
        conv.evidence() >= fixed.evidence(),
        "{} < {}",
        conv.evidence(),
        fixed.evidence()
    );
    let total: usize = conv.neuron_info.iter().map(|f| f.iterations).sum();
    assert!(total < 120 * 6, "E-steps {total}");
    assert!(
        conv.neuron_info
            .iter()
            .any(|f| f.reason == TerminationReason::Converged)
    );
    assert!(conv.extrapolations.0 > 0, "no extrapolation accepted");
    let (mut sum, mut count) = (0.0, 0.0);
    for t in 0..conv.n_steps() {
        for i in 0..6 {
            for k in 0..7 {
                let e = conv.theta_smoothed.get(t, i, k) - fixed.theta_smoothed.get(t, i, k);
                let sd = fixed.sd_smoothed.get(t, i, k);
                sum += (e / sd).powi(2);
                count += 1.0;
            }
        }
    }
    let rms = (sum / count).sqrt();
    assert!(rms <= 1.0, "rms distance {rms} posterior s.d.");
}

/// The N = 16, T = 150, R = 200 case of the benchmark (the paper's
/// generator, seed 1), where the stopping rule on consecutive E-steps
/// ended 3.2 nats below the 120-iteration plain fit: the converged fit's
/// evidence is at least as high, in fewer E-steps. Release build only
/// (about 10 s there, minutes in debug):
/// `cargo test --release --no-default-features --test state_space -- --ignored`.
#[test]
#[ignore = "slow in debug builds; run with --release"]
fn convergence_stopping_keeps_the_answer_at_n16() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let truth = GpTruth::paper(16, 150).draw(&mut rng).unwrap();
    let raster = simulate_spikes(&truth, 200, 0.2, &mut rng).unwrap();
    let fixed = StateSpaceFit::default()
        .fit(&raster, &NoProgress, &StopToken::new())
        .unwrap();
    let conv = converging()
        .fit(&raster, &NoProgress, &StopToken::new())
        .unwrap();
    assert!(
        conv.evidence() >= fixed.evidence(),
        "{} < {}",
        conv.evidence(),
        fixed.evidence()
    );
    let total: usize = conv.neuron_info.iter().map(|f| f.iterations).sum();
    assert!(total < 120 * 16, "E-steps {total}");
}

/// The safeguard: a neuron's accepted evidences never decrease beyond the
/// Laplace-approximation noise that plain EM itself shows (1e-6 relative,
/// as in `recovers_synthetic_ground_truth`), and the per-neuron traces add
/// up to the total trace.
#[test]
fn safeguard_never_decreases_a_neurons_evidence() {
    let (_, conv) = small_fits();
    for (i, f) in conv.neuron_info.iter().enumerate() {
        for k in 1..f.objective.len() {
            assert!(
                f.objective[k] >= f.objective[k - 1] - 1e-6 * f.objective[k].abs(),
                "neuron {i}, accepted E-step {k}: {} -> {}",
                f.objective[k - 1],
                f.objective[k]
            );
        }
        assert!(f.iterations >= f.objective.len() && f.iterations <= 120);
    }
    let last: f64 = conv
        .neuron_info
        .iter()
        .map(|f| *f.objective.last().unwrap())
        .sum();
    assert_eq!(last, conv.evidence());
}

/// Schedule independence: a one-thread pool (neurons strictly in queue
/// order, one workspace reused by all) gives the same bits as the default
/// pool. (That a neuron's fit reads no other neuron's EM is checked against
/// single-neuron fits in the library's unit tests.)
#[test]
fn neurons_are_fitted_independently() {
    let raster = small_synthetic();
    let (_, conv) = small_fits();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| {
            converging()
                .fit(&raster, &NoProgress, &StopToken::new())
                .unwrap()
        });
    assert_eq!(one.theta_smoothed, conv.theta_smoothed);
    assert_eq!(one.sd_smoothed, conv.sd_smoothed);
    assert_eq!(one.q, conv.q);
    for (a, b) in one.neuron_info.iter().zip(&conv.neuron_info) {
        assert_eq!(a, b);
    }
}

/// Without acceleration, a tolerance only cuts each neuron's EM short: its
/// evidence trace is bit-for-bit the prefix of its trace in the fixed
/// 120-iteration run, it ends where its own evidence change first met the
/// tolerance or later (the parameter criterion must hold too), and the
/// kept iterations of each neuron differ (per-neuron, not joint, stopping).
#[test]
fn plain_tolerance_stops_each_neuron_on_its_own() {
    let raster = reference_raster().slice_bins(0..41).unwrap();
    let fixed = StateSpaceFit::default()
        .fit(&raster, &NoProgress, &StopToken::new())
        .unwrap();
    let tol = 1e-5;
    let fit = StateSpaceFit {
        tol: Some(tol),
        param_tol: 0.05,
        ..Default::default()
    }
    .fit(&raster, &NoProgress, &StopToken::new())
    .unwrap();
    assert_eq!(fit.extrapolations, (0, 0));
    for (i, (f, g)) in fit.neuron_info.iter().zip(&fixed.neuron_info).enumerate() {
        let k = f.objective.len();
        assert_eq!(f.iterations, k, "neuron {i}");
        assert_eq!(&f.objective[..], &g.objective[..k], "neuron {i}");
        if f.reason == TerminationReason::Converged {
            // The evidence criterion over the window of 10 E-steps.
            let first = (10..g.objective.len())
                .find(|&m| {
                    (g.objective[m] - g.objective[m - 10]).abs()
                        <= 10.0 * tol * g.objective[m].abs()
                })
                .unwrap();
            assert!(
                k > first,
                "neuron {i} stopped at {k}, evidence criterion first met at {}",
                first + 1
            );
        } else {
            assert_eq!(k, 120);
        }
    }
    let counts: std::collections::BTreeSet<usize> =
        fit.neuron_info.iter().map(|f| f.iterations).collect();
    assert!(counts.len() > 1, "all neurons stopped together: {counts:?}");
}
