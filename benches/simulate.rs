//! Simulation throughput of the SK model (issue 2).
//!
//! Groups:
//! * `single_trial/N`: one trial, 1,000 synchronous steps per iteration.
//! * `batched_1000_trials/N`: 1,000 trials advanced together; a few steps
//!   per iteration at large N (the rate per step is what matters).
//! * `paper_setting`: N = 512, 128 steps × 1,000 trials, recording the raster
//!   (the setting of the mean-field paper's simulations).
//! * `memory_bandwidth`: streaming read of 256 MB, to compare with reading J
//!   (N² f64) once per step.
//!
//! Criterion reports time per iteration and elements (steps or trial-steps)
//! per second; coupling updates per second = trial-steps/s × N².

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use isingscope::model::SkParams;
use isingscope::model::simulate::{InitialState, SimulationOptions, Simulator, simulate};
use isingscope::progress::{NoProgress, StopToken};
use rand::SeedableRng;

fn network(n: usize) -> isingscope::model::KineticIsing {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    SkParams {
        n,
        j0: 1.0,
        dj: 0.5,
        h0: 0.0,
        beta: 1.0,
    }
    .draw(&mut rng)
    .expect("valid parameters")
}

fn single_trial(c: &mut Criterion) {
    let mut g = c.benchmark_group("single_trial");
    g.sample_size(10);
    for n in [128, 512, 1024, 2048] {
        let model = network(n);
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(2);
        let mut sim =
            Simulator::new(&model, 1, &InitialState::Random, &mut rng).expect("simulator");
        let steps = 1000;
        g.throughput(Throughput::Elements(steps));
        g.bench_function(format!("N={n}"), |b| {
            b.iter(|| {
                for _ in 0..steps {
                    sim.step();
                }
                black_box(sim.state(0)[0])
            })
        });
    }
    g.finish();
}

fn batched(c: &mut Criterion) {
    let mut g = c.benchmark_group("batched_1000_trials");
    g.sample_size(10);
    for n in [128, 512, 1024, 2048] {
        let model = network(n);
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut sim =
            Simulator::new(&model, 1000, &InitialState::Random, &mut rng).expect("simulator");
        let steps: u64 = match n {
            128 => 100,
            512 => 20,
            _ => 4,
        };
        g.throughput(Throughput::Elements(steps * 1000));
        g.bench_function(format!("N={n}"), |b| {
            b.iter(|| {
                for _ in 0..steps {
                    sim.step();
                }
                black_box(sim.state(0)[0])
            })
        });
    }
    g.finish();
}

fn paper_setting(c: &mut Criterion) {
    let mut g = c.benchmark_group("paper_setting");
    g.sample_size(10);
    // The mean-field paper's network: H0 = 0.5, J0 = 1, ΔJ = 0.1 at its
    // critical β = 1.1108 (spec §4).
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(5);
    let paper = SkParams {
        n: 512,
        j0: 1.0,
        dj: 0.1,
        h0: 0.5,
        beta: 1.110_839_753_424_590_4,
    }
    .draw(&mut rng)
    .expect("valid parameters");
    let opts = SimulationOptions {
        steps: 128,
        trials: 1000,
        init: InitialState::AllUp,
    };
    g.throughput(Throughput::Elements(128 * 1000));
    g.bench_function("paper_network_N=512_T=128_R=1000", |b| {
        b.iter(|| {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(4);
            let r =
                simulate(&paper, &opts, &mut rng, &NoProgress, &StopToken::new()).expect("runs");
            black_box(r.n_bins())
        })
    });
    // The same sizes on a disordered network (J0 = 1, ΔJ = 0.5, β = 1):
    // half the spins flip every step. The pattern-table kernel used for
    // batches does not depend on activity, so both should take the same
    // time; the pair guards against that changing.
    let model = network(512);
    let opts = SimulationOptions {
        steps: 128,
        trials: 1000,
        init: InitialState::AllUp,
    };
    g.throughput(Throughput::Elements(128 * 1000));
    g.bench_function("N=512_T=128_R=1000", |b| {
        b.iter(|| {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(4);
            let r =
                simulate(&model, &opts, &mut rng, &NoProgress, &StopToken::new()).expect("runs");
            black_box(r.n_bins())
        })
    });
    g.finish();
}

fn memory_bandwidth(c: &mut Criterion) {
    let mut g = c.benchmark_group("memory_bandwidth");
    g.sample_size(10);
    let data = vec![1.0f64; 32 << 20]; // 256 MB
    g.throughput(Throughput::Bytes((data.len() * 8) as u64));
    g.bench_function("read_256MB", |b| {
        b.iter(|| black_box(data.iter().sum::<f64>()))
    });
    g.finish();
}

criterion_group!(
    benches,
    single_trial,
    batched,
    paper_setting,
    memory_bandwidth
);
criterion_main!(benches);
