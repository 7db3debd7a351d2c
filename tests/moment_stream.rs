//! Streamed moments of simulated trials (`model::moment_stream`) against
//! the raster that `simulate` records with the same seed.

use isingscope::model::moment_stream::{
    KeptSteps, MomentStreamOptions, StreamedMoments, simulate_moments,
};
use isingscope::model::simulate::{InitialState, SimulationOptions, simulate};
use isingscope::model::stats::moments_at_bin;
use isingscope::model::{KineticIsing, SkParams};
use isingscope::progress::{NoProgress, StopToken};
use isingscope::spikes::SpikeRaster;
use rand::SeedableRng;

fn network(n: usize, seed: u64) -> KineticIsing {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    SkParams {
        n,
        j0: 1.0,
        dj: 0.5,
        h0: 0.3,
        beta: 1.0,
    }
    .draw(&mut rng)
    .expect("network")
}

fn stream(
    model: &KineticIsing,
    sim: &SimulationOptions,
    kept: KeptSteps,
    chunk: usize,
    seed: u64,
) -> StreamedMoments {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let opts = MomentStreamOptions {
        sim: sim.clone(),
        kept,
        chunk_trials: chunk,
    };
    simulate_moments(model, &opts, &mut rng, &NoProgress, &StopToken::new()).expect("stream")
}

/// One chunk holding every trial draws exactly the trials `simulate` draws,
/// and the counts go through the same formula as `moments_at_bin`: the
/// moments must be bit-identical at every step. Sizes cross the 64-unit and
/// 64-trial word boundaries; 9 trials use the column kernel, 130 the
/// pattern tables.
#[test]
fn single_chunk_equals_the_recorded_raster_bit_for_bit() {
    for &(n, trials) in &[(70usize, 130usize), (64, 9), (5, 200)] {
        let model = network(n, 3);
        let sim = SimulationOptions {
            steps: 12,
            trials,
            init: InitialState::Random,
        };
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(11);
        let raster = simulate(&model, &sim, &mut rng, &NoProgress, &StopToken::new()).unwrap();
        let every = stream(&model, &sim, KeptSteps::Every, trials, 11);
        assert_eq!(every.kept_steps(), (1..=12).collect::<Vec<_>>().as_slice());
        for t in 1..=12 {
            let want = moments_at_bin(&raster, t).unwrap();
            let got = every.moments(t - 1).unwrap();
            assert_eq!(got, want, "n {n} trials {trials} step {t}");
            assert_eq!(every.m_at(t), want.m, "m at step {t}");
        }
        let last = stream(&model, &sim, KeptSteps::Final, trials, 11);
        assert_eq!(last.kept_steps(), &[12]);
        assert_eq!(
            last.moments(0).unwrap(),
            moments_at_bin(&raster, 12).unwrap()
        );
        assert!(last.moments(1).is_none());
    }
}

/// Several chunks: each chunk is the raster `simulate` records for that many
/// trials when called in turn with the same RNG; the pooled moments are
/// compared with sums over all trials computed directly in f64 (a different
/// formula: agreement to rounding, 1e-12).
#[test]
fn chunks_pool_into_the_moments_of_all_trials() {
    let n = 37;
    let steps = 6;
    let model = network(n, 8);
    let init = InitialState::Magnetisations(vec![0.4; n]);
    let sizes = [50usize, 50, 30];
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(2);
    let rasters: Vec<SpikeRaster> = sizes
        .iter()
        .map(|&c| {
            let o = SimulationOptions {
                steps,
                trials: c,
                init: init.clone(),
            };
            simulate(&model, &o, &mut rng, &NoProgress, &StopToken::new()).unwrap()
        })
        .collect();
    let sim = SimulationOptions {
        steps,
        trials: 130,
        init: init.clone(),
    };
    let got = stream(&model, &sim, KeptSteps::Every, 50, 2);
    assert_eq!(got.trials(), 130);
    let spin = |r: &SpikeRaster, k: usize, t: usize, i: usize| r.spin(k, t, i);
    let r_tot = 130.0;
    for t in 1..=steps {
        let mo = got.moments(t - 1).unwrap();
        let mut m = vec![0.0; n];
        let mut mp = vec![0.0; n];
        for r in &rasters {
            for k in 0..r.n_trials() {
                for i in 0..n {
                    m[i] += spin(r, k, t, i) / r_tot;
                    mp[i] += spin(r, k, t - 1, i) / r_tot;
                }
            }
        }
        for i in 0..n {
            assert!((mo.m[i] - m[i]).abs() < 1e-12, "m step {t} unit {i}");
            for k in 0..n {
                let (mut ss, mut sd) = (0.0, 0.0);
                for r in &rasters {
                    for tr in 0..r.n_trials() {
                        ss += spin(r, tr, t, i) * spin(r, tr, t, k);
                        sd += spin(r, tr, t, i) * spin(r, tr, t - 1, k);
                    }
                }
                let c = ss / r_tot - m[i] * m[k];
                let d = sd / r_tot - m[i] * mp[k];
                assert!((mo.c[(i, k)] - c).abs() < 1e-12, "C step {t} ({i}, {k})");
                assert!((mo.d[(i, k)] - d).abs() < 1e-12, "D step {t} ({i}, {k})");
            }
        }
    }
}

#[test]
fn bad_options_are_refused() {
    let model = network(4, 1);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    for (steps, trials, chunk) in [(0usize, 10usize, 10usize), (5, 0, 10), (5, 10, 0)] {
        let opts = MomentStreamOptions {
            sim: SimulationOptions {
                steps,
                trials,
                init: InitialState::AllUp,
            },
            kept: KeptSteps::Final,
            chunk_trials: chunk,
        };
        assert!(simulate_moments(&model, &opts, &mut rng, &NoProgress, &StopToken::new()).is_err());
    }
}
