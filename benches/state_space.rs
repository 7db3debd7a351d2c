//! State-space kinetic Ising fit (issue 6), seeded synthetic data from the
//! paper's Gaussian-process generator.
//!
//! * `em_full/N=12,T=75,R=200`: the paper's Fig. 2 setting, all 120 EM
//!   iterations (filter, smoother, M-step, evidence) on both cores.
//! * `em_iterations/N=80,T=150,R=500`: the paper's Fig. 4 setting. A full
//!   run is 120 iterations; the bench times fits of 1 and 3 iterations so
//!   that (3-iteration time − 1-iteration time) / 2 is the cost of a warm
//!   iteration and 1-iteration time that of the cold first one; the full
//!   run extrapolates to `t1 + 119 · t_warm`.
//! * `entropy_flow/N=80,T=150`: mean-field flow (Riemann rule) and the
//!   sampling estimator with 500 trajectories.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use isingscope::progress::{NoProgress, StopToken};
use isingscope::spikes::SpikeRaster;
use isingscope::state_space::entropy_flow::{
    Quadrature, grand_mean_rates, mean_field_entropy_flow, sampling_entropy_flow,
};
use isingscope::state_space::synth::{GpTruth, simulate_spikes};
use isingscope::state_space::{StateSpaceFit, ThetaSeries};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

fn data(n: usize, t: usize, r: usize, seed: u64) -> (ThetaSeries, SpikeRaster) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let theta = GpTruth::paper(n, t).draw(&mut rng).expect("valid settings");
    let raster = simulate_spikes(&theta, r, 0.2, &mut rng).expect("valid settings");
    (theta, raster)
}

fn fit(raster: &SpikeRaster, iterations: usize) -> f64 {
    StateSpaceFit {
        max_iter: iterations,
        ..Default::default()
    }
    .fit(raster, &NoProgress, &StopToken::new())
    .expect("fit")
    .evidence()
}

fn em_full(c: &mut Criterion) {
    let mut g = c.benchmark_group("em_full");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let (_, raster) = data(12, 75, 200, 0);
    g.bench_function("N=12,T=75,R=200", |b| {
        b.iter(|| black_box(fit(&raster, 120)))
    });
    g.finish();
}

fn em_iterations(c: &mut Criterion) {
    let mut g = c.benchmark_group("em_iterations");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30));
    let (_, raster) = data(80, 150, 500, 1);
    for iterations in [1, 3] {
        g.bench_function(format!("N=80,T=150,R=500/iterations={iterations}"), |b| {
            b.iter(|| black_box(fit(&raster, iterations)))
        });
    }
    g.finish();
}

fn entropy_flow(c: &mut Criterion) {
    let mut g = c.benchmark_group("entropy_flow");
    g.sample_size(10);
    let (theta, raster) = data(80, 150, 500, 1);
    let m0 = grand_mean_rates(&raster);
    g.bench_function("mean_field/N=80,T=150", |b| {
        b.iter(|| {
            black_box(mean_field_entropy_flow(&theta, &m0, Quadrature::Riemann100).expect("flow"))
        })
    });
    g.bench_function("sampling_500/N=80,T=150", |b| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        b.iter(|| black_box(sampling_entropy_flow(&theta, 500, 0.5, &mut rng).expect("flow")))
    });
    g.finish();
}

criterion_group!(benches, em_full, em_iterations, entropy_flow);
criterion_main!(benches);
