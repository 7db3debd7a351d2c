//! Exact maximum likelihood: gradient check, recovery of simulated SK
//! networks at the 1/√T rate, penalty, cancellation and bad inputs.

use isingscope::Error;
use isingscope::fit::MlFit;
use isingscope::fit::ml::objective;
use isingscope::model::SkParams;
use isingscope::model::simulate::{InitialState, SimulationOptions, simulate};
use isingscope::progress::{NoProgress, StopToken, TerminationReason};
use isingscope::spikes::SpikeRaster;
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};

fn rng(seed: u64) -> rand::rngs::Xoshiro256PlusPlus {
    rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed)
}

fn sk_raster(n: usize, steps: usize, seed: u64) -> (isingscope::model::KineticIsing, SpikeRaster) {
    let mut r = rng(seed);
    let model = SkParams {
        n,
        j0: 0.5,
        dj: 0.6,
        h0: 0.5,
        beta: 1.0,
    }
    .draw(&mut r)
    .unwrap();
    let opts = SimulationOptions {
        steps,
        trials: 1,
        init: InitialState::Random,
    };
    let raster = simulate(&model, &opts, &mut r, &NoProgress, &StopToken::new()).unwrap();
    (model, raster)
}

/// Central differences of the objective agree with the analytic gradient.
/// The objective is smooth with third derivatives O(1), so the step 1e-5
/// leaves a truncation error ~1e-10 and rounding ~1e-16/1e-5 = 1e-11;
/// we allow 1e-8.
#[test]
fn gradient_matches_finite_differences() {
    let n = 7;
    let mut r = rng(3);
    let x: Vec<u8> = (0..2 * 300 * n)
        .map(|_| u8::from(r.random::<f64>() < 0.3))
        .collect();
    // Two trials; a unit more often active than silent in some rows
    // exercises the silent-list branch.
    let mut raster = SpikeRaster::from_binary(2, 300, n, &x).unwrap();
    for t in (0..300).step_by(3) {
        for i in 0..n {
            raster.set(1, t, i, true);
        }
    }
    let h = DVector::from_fn(n, |i, _| 0.1 * i as f64 - 0.3);
    let j = DMatrix::from_fn(n, n, |i, k| 0.2 * ((i * 3 + k * 5) % 7) as f64 / 7.0 - 0.1);
    let l2 = 0.05;
    let obj = objective(&raster, &h, &j, l2).unwrap();
    let eps = 1e-5;
    for i in 0..n {
        let (mut hp, mut hm) = (h.clone(), h.clone());
        hp[i] += eps;
        hm[i] -= eps;
        let fd = (objective(&raster, &hp, &j, l2).unwrap().f[i]
            - objective(&raster, &hm, &j, l2).unwrap().f[i])
            / (2.0 * eps);
        assert!(
            (fd - obj.grad_h[i]).abs() < 1e-8,
            "dH_{i}: {fd} vs {}",
            obj.grad_h[i]
        );
        for k in 0..n {
            let (mut jp, mut jm) = (j.clone(), j.clone());
            jp[(i, k)] += eps;
            jm[(i, k)] -= eps;
            let fd = (objective(&raster, &h, &jp, l2).unwrap().f[i]
                - objective(&raster, &h, &jm, l2).unwrap().f[i])
                / (2.0 * eps);
            assert!(
                (fd - obj.grad_j[(i, k)]).abs() < 1e-8,
                "dJ_{i}{k}: {fd} vs {}",
                obj.grad_j[(i, k)]
            );
        }
    }
    // The objective itself against a direct evaluation on ±1 spins.
    let mut direct = vec![0.0; n];
    let mut count = 0.0;
    for tr in 0..2 {
        for t in 1..300 {
            count += 1.0;
            for i in 0..n {
                let hi = h[i]
                    + (0..n)
                        .map(|k| j[(i, k)] * raster.spin(tr, t - 1, k))
                        .sum::<f64>();
                direct[i] +=
                    hi.abs() + (-2.0 * hi.abs()).exp().ln_1p() - raster.spin(tr, t, i) * hi;
            }
        }
    }
    for (d, &nll) in direct.iter().zip(obj.nll.iter()) {
        assert!((d / count - nll).abs() < 1e-13);
    }
}

/// RMS error of the fitted effective couplings against the truth.
fn rms_j_error(raster: &SpikeRaster, truth: &DMatrix<f64>) -> (f64, usize) {
    let est = MlFit::default()
        .validate()
        .unwrap()
        .fit(raster, &NoProgress, &StopToken::new())
        .unwrap();
    assert_eq!(est.info.reason, TerminationReason::Converged);
    assert!(est.max_gradient <= 1e-6);
    let d = &est.j - truth;
    (
        (d.norm_squared() / d.len() as f64).sqrt(),
        est.info.iterations,
    )
}

/// Recovery of an SK network (N = 64) from T = 100,000 and T = 25,000
/// simulated transitions. ML is consistent with covariance I⁻¹/T, so the
/// RMS error should halve when T quadruples. The squared RMS error averages
/// 4096 squared errors; even if their correlations cut the effective count
/// to ~1000, its relative standard deviation is √(2/1000) ≈ 4.5%, i.e.
/// ≈ 2.2% for the RMS and ≈ 3.2% for the ratio of two independent fits.
/// We allow 15% (≈ 4.5 sd). The size is also checked: for weakly correlated
/// ±1 inputs I ≈ w̄·Id per coupling, so RMS ≈ 1/√(T w̄) with w̄ the mean of
/// 1 − tanh² h (between ~0.5 and 1 here): we require RMS·√T in [1, 1.6].
#[test]
fn ml_recovers_sk_couplings_at_the_inverse_sqrt_t_rate() {
    let n = 64;
    let (model, long) = sk_raster(n, 100_000, 17);
    // The short data: an independent run of the same network.
    let mut r = rng(99);
    let opts = SimulationOptions {
        steps: 25_000,
        trials: 1,
        init: InitialState::Random,
    };
    let short = simulate(&model, &opts, &mut r, &NoProgress, &StopToken::new()).unwrap();
    let truth = model.effective_j();
    let (e_long, it_long) = rms_j_error(&long, &truth);
    let (e_short, it_short) = rms_j_error(&short, &truth);
    let ratio = e_short / e_long;
    eprintln!(
        "RMS J error: T=100k {e_long:.5} ({it_long} passes), T=25k {e_short:.5} ({it_short} passes), ratio {ratio:.3}, rms*sqrt(T) {:.3}",
        e_long * (100_000f64).sqrt()
    );
    assert!((ratio - 2.0).abs() < 0.3, "error ratio {ratio}, expected 2");
    let scaled = e_long * (100_000f64).sqrt();
    assert!((1.0..1.6).contains(&scaled), "RMS·√T = {scaled}");
}

/// At the optimum the penalised gradient vanishes (checked by an
/// independent evaluation), and a strong penalty shrinks J towards 0: in
/// the quadratic approximation Ĵ_λ ≈ (F + λ)⁻¹ F Ĵ₀ with Fisher information
/// F ≈ w̄ S per transition, w̄ ≤ 1 and S ≈ identity for weakly correlated
/// inputs, so λ = 1 shrinks by w̄/(w̄ + 1) ≤ 1/2.
#[test]
fn l2_penalty_is_a_stationary_point_and_shrinks() {
    let (_, raster) = sk_raster(20, 4_000, 5);
    let fit = |l2: f64| {
        MlFit {
            l2,
            ..Default::default()
        }
        .validate()
        .unwrap()
        .fit(&raster, &NoProgress, &StopToken::new())
        .unwrap()
    };
    let weak = fit(1e-3);
    let strong = fit(1.0);
    let obj = objective(&raster, &weak.h, &weak.j, 1e-3).unwrap();
    assert!(obj.grad_h.amax() <= 1e-6 && obj.grad_j.amax() <= 1e-6);
    assert!(
        strong.j.norm() < 0.5 * weak.j.norm(),
        "{} vs {}",
        strong.j.norm(),
        weak.j.norm()
    );
    // The trace is a (penalised) log-likelihood: it never decreases.
    for w in weak.info.objective.windows(2) {
        assert!(w[1] >= w[0] - 1e-12);
    }
}

#[test]
fn bad_inputs_and_cancel() {
    assert!(
        MlFit {
            l2: -1.0,
            ..Default::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        MlFit {
            tol: 0.0,
            ..Default::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        MlFit {
            max_iter: 0,
            ..Default::default()
        }
        .validate()
        .is_err()
    );
    let one_bin = SpikeRaster::zeros(1, 1, 4).unwrap();
    let v = MlFit::default().validate().unwrap();
    assert!(matches!(
        v.fit(&one_bin, &NoProgress, &StopToken::new()),
        Err(Error::NotEnoughData(_))
    ));
    let (_, raster) = sk_raster(8, 500, 1);
    let stop = StopToken::new();
    stop.stop();
    let est = v.fit(&raster, &NoProgress, &stop).unwrap();
    assert_eq!(est.info.reason, TerminationReason::Cancelled);
    assert!(objective(&raster, &DVector::zeros(3), &DMatrix::zeros(3, 3), 0.0).is_err());
}

/// The fit is bitwise reproducible and independent of the thread count.
#[test]
fn ml_is_reproducible_across_thread_counts() {
    let (_, raster) = sk_raster(16, 3_000, 9);
    let v = MlFit::default().validate().unwrap();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| v.fit(&raster, &NoProgress, &StopToken::new()).unwrap())
    };
    let a = run(1);
    let b = run(3);
    assert_eq!(a, b);
    assert_eq!(a, run(1));
}
