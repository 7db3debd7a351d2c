//! The kinetic Ising core against exact answers: simulation statistics vs
//! the exact 2^N solution, and entropy production estimates vs exact values.

use isingscope::model::entropy::{estimate_entropy_production, stationary_entropy_production};
use isingscope::model::exact::{ExactInit, evolve_exact};
use isingscope::model::simulate::{InitialState, SimulationOptions, simulate};
use isingscope::model::stats::moments_at_bin;
use isingscope::model::{KineticIsing, SkParams};
use isingscope::progress::{NoProgress, StopToken};
use nalgebra::DMatrix;
use rand::SeedableRng;

fn rng(seed: u64) -> rand::rngs::Xoshiro256PlusPlus {
    rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// An asymmetric N = 6 network with strong enough couplings that m, C and D
/// are far from their independent-spin values.
fn test_network(seed: u64) -> KineticIsing {
    SkParams { n: 6, j0: 0.6, dj: 1.2, h0: 0.5, beta: 1.0 }
        .draw(&mut rng(seed))
        .unwrap()
}

#[test]
fn simulation_statistics_match_the_exact_solution() {
    let model = test_network(11);
    let steps = 8;
    let trials = 500_000;
    let exact = evolve_exact(&model, &ExactInit::AllUp, steps).unwrap();
    let opts = SimulationOptions { steps, trials, init: InitialState::AllUp };
    let raster = simulate(&model, &opts, &mut rng(12), &NoProgress, &StopToken::new()).unwrap();
    // Tolerances from the sample size. Each trial is independent, so the
    // sample mean of a ±1 variable has standard error sqrt(1 − m²)/sqrt(R)
    // ≤ 1/sqrt(R) = 1.41e-3. A covariance estimate <s_i s_k> − m_i m_k adds
    // the errors of the product term, |m_k|·se(m_i) + |m_i|·se(m_k) ≤ 2/sqrt(R),
    // so its standard error is at most 3/sqrt(R). We allow 5 standard errors
    // (two-sided tail 6e-7 per entry, ~1e-3 over the ~600 entries compared).
    let se = 1.0 / (trials as f64).sqrt();
    let tol_m = 5.0 * se;
    let tol_cd = 5.0 * 3.0 * se;
    for (t, ex) in exact.iter().enumerate() {
        let mo = moments_at_bin(&raster, t + 1).unwrap();
        for i in 0..6 {
            assert!(
                (mo.m[i] - ex.m[i]).abs() < tol_m,
                "m_{i}({}) = {} vs exact {}",
                t + 1,
                mo.m[i],
                ex.m[i]
            );
            for k in 0..6 {
                assert!((mo.c[(i, k)] - ex.c[(i, k)]).abs() < tol_cd, "C at t={}", t + 1);
                assert!((mo.d[(i, k)] - ex.d[(i, k)]).abs() < tol_cd, "D at t={}", t + 1);
            }
        }
    }
    // The comparison is sensitive: the exact D is far from symmetric and far
    // from zero, so transposed indices or a missing coupling would fail.
    let d = &exact[steps - 1].d;
    let asym = (d - d.transpose()).abs().max();
    assert!(asym > 3.0 * tol_cd, "test network too weakly asymmetric: {asym}");
}

#[test]
fn simulation_from_a_product_distribution_matches_exact() {
    let model = test_network(21);
    let m0 = vec![0.8, -0.5, 0.0, 0.3, -0.9, 0.6];
    let exact = evolve_exact(&model, &ExactInit::Product(m0.clone()), 3).unwrap();
    let trials = 200_000;
    let opts = SimulationOptions { steps: 3, trials, init: InitialState::Magnetisations(m0.clone()) };
    let raster = simulate(&model, &opts, &mut rng(22), &NoProgress, &StopToken::new()).unwrap();
    // Same standard-error bound as above: 5/sqrt(R) for magnetisations.
    let tol = 5.0 / (trials as f64).sqrt();
    let m_init = moments_at_bin(&raster, 1).unwrap().m_prev;
    for i in 0..6 {
        assert!((m_init[i] - m0[i]).abs() < tol);
    }
    for (t, ex) in exact.iter().enumerate() {
        let mo = moments_at_bin(&raster, t + 1).unwrap();
        for i in 0..6 {
            assert!((mo.m[i] - ex.m[i]).abs() < tol);
        }
    }
}

#[test]
fn simulation_is_reproducible_and_independent_of_thread_count() {
    let model = test_network(5);
    let opts = SimulationOptions { steps: 20, trials: 64, init: InitialState::Random };
    let a = simulate(&model, &opts, &mut rng(3), &NoProgress, &StopToken::new()).unwrap();
    let b = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| simulate(&model, &opts, &mut rng(3), &NoProgress, &StopToken::new()).unwrap());
    assert_eq!(a, b);
    let c = simulate(&model, &opts, &mut rng(4), &NoProgress, &StopToken::new()).unwrap();
    assert_ne!(a, c);
}

#[test]
fn large_networks_single_trial_match_batched_trials() {
    // N = 300 exercises several row blocks, a partial last block and a
    // multi-word state. A single trial and a batch take different code paths
    // (row-block parallel vs trial-batch parallel); with the same per-trial
    // seed they must produce the same trajectory.
    let model = SkParams { n: 300, j0: 1.0, dj: 0.8, h0: 0.3, beta: 1.3 }
        .draw(&mut rng(9))
        .unwrap();
    let opts = SimulationOptions { steps: 30, trials: 8, init: InitialState::Random };
    let batch = simulate(&model, &opts, &mut rng(10), &NoProgress, &StopToken::new()).unwrap();
    // Replay the first trial alone: the simulator draws one seed per trial
    // from the caller's RNG, so a 1-trial run from the same RNG is trial 0.
    let single_opts = SimulationOptions { trials: 1, ..opts };
    let single = simulate(&model, &single_opts, &mut rng(10), &NoProgress, &StopToken::new()).unwrap();
    for t in 0..=30 {
        assert_eq!(single.row(0, t), batch.row(0, t), "bin {t}");
    }
}

#[test]
fn simulated_fields_use_receiving_rows() {
    // Neuron 1 copies neuron 0 with a strong coupling J[1][0]; neuron 0 is
    // driven only by a strong positive field. If rows and columns were
    // swapped, neuron 0 would follow neuron 1 instead.
    let mut j = DMatrix::zeros(2, 2);
    j[(1, 0)] = 20.0;
    let h = nalgebra::DVector::from_vec(vec![20.0, 0.0]);
    let model = KineticIsing::new(h, j, 1.0).unwrap();
    let opts = SimulationOptions { steps: 5, trials: 3, init: InitialState::Given(vec![false, false]) };
    let r = simulate(&model, &opts, &mut rng(1), &NoProgress, &StopToken::new()).unwrap();
    for tr in 0..3 {
        assert!(r.get(tr, 1, 0), "neuron 0 follows its field");
        assert!(!r.get(tr, 1, 1), "neuron 1 copies neuron 0's previous state (-1)");
        assert!(r.get(tr, 2, 1), "then neuron 1 copies +1");
    }
}

/// Symmetrise, or add an antisymmetric part of strength `a` to, a network.
fn with_antisymmetry(model: &KineticIsing, a: f64) -> KineticIsing {
    let j = model.j();
    let sym = (j + j.transpose()) * 0.5;
    let anti = (j - j.transpose()) * 0.5;
    KineticIsing::new(model.h().clone(), sym + anti * a, model.beta()).unwrap()
}

#[test]
fn entropy_production_vanishes_for_symmetric_couplings() {
    // Synchronous dynamics with symmetric J obeys detailed balance, so the
    // stationary entropy production is zero: exactly, and within sampling
    // error for the trajectory estimate.
    let model = with_antisymmetry(&test_network(31), 0.0);
    let exact = evolve_exact(&model, &ExactInit::AllUp, 1000).unwrap();
    assert!(exact[999].entropy_production.abs() < 1e-12);
    let opts = SimulationOptions { steps: 160, trials: 2000, init: InitialState::AllUp };
    let raster = simulate(&model, &opts, &mut rng(32), &NoProgress, &StopToken::new()).unwrap();
    // Discard 100 steps of relaxation; the test is meaningful only if the
    // exact σ(t) left in the window is negligible against the standard error.
    let est = estimate_entropy_production(&model, &raster.slice_bins(100..161).unwrap()).unwrap();
    let residual = exact[99..160].iter().map(|e| e.entropy_production.abs()).fold(0.0, f64::max);
    assert!(residual < 0.1 * est.std_error, "not relaxed: {residual}");
    assert!(est.mean.abs() < 4.0 * est.std_error, "σ = {} ± {}", est.mean, est.std_error);
    assert!(est.std_error < 0.01);
}

#[test]
fn entropy_production_grows_with_antisymmetry_and_matches_exact() {
    let base = test_network(41);
    let mut previous = 0.0;
    for (k, a) in [0.5, 1.0, 2.0].into_iter().enumerate() {
        let model = with_antisymmetry(&base, a);
        let exact = evolve_exact(&model, &ExactInit::AllUp, 1000).unwrap();
        let sigma = exact[999].entropy_production;
        assert!(sigma > previous, "σ must grow with the antisymmetric part: {sigma} after {previous}");
        previous = sigma;
        // The stationary coupling form agrees with the full expression.
        let form = stationary_entropy_production(&model.effective_j(), &exact[999].d).unwrap();
        assert!((form - sigma).abs() < 1e-10, "{form} vs {sigma}");
        // Trajectory estimate after relaxation (100 steps): within 4
        // standard errors of the exact stationary value.
        let opts = SimulationOptions { steps: 160, trials: 2000, init: InitialState::AllUp };
        let raster =
            simulate(&model, &opts, &mut rng(42 + k as u64), &NoProgress, &StopToken::new()).unwrap();
        let est = estimate_entropy_production(&model, &raster.slice_bins(100..161).unwrap()).unwrap();
        let drift = exact[99..160].iter().map(|e| (e.entropy_production - sigma).abs()).fold(0.0, f64::max);
        assert!(drift < 0.1 * est.std_error, "not relaxed: {drift}");
        assert!(
            (est.mean - sigma).abs() < 4.0 * est.std_error,
            "a = {a}: estimate {} ± {} vs exact {sigma}",
            est.mean,
            est.std_error
        );
        assert!(sigma > 8.0 * est.std_error, "the signal is resolved");
    }
}

#[test]
fn entropy_production_estimate_follows_a_relaxing_system() {
    // Away from stationarity the trajectory estimate targets the exact σ(t)
    // of each transition (the H and log-cosh terms do not cancel there).
    let model = test_network(51);
    let exact = evolve_exact(&model, &ExactInit::AllUp, 3).unwrap();
    let opts = SimulationOptions { steps: 3, trials: 200_000, init: InitialState::AllUp };
    let raster = simulate(&model, &opts, &mut rng(52), &NoProgress, &StopToken::new()).unwrap();
    for t in 1..=3 {
        let est = estimate_entropy_production(&model, &raster.slice_bins(t - 1..t + 1).unwrap()).unwrap();
        let sigma = exact[t - 1].entropy_production;
        assert!((est.mean - sigma).abs() < 4.0 * est.std_error, "t = {t}: {} ± {} vs {sigma}", est.mean, est.std_error);
    }
}
