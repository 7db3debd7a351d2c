//! Mean-field forward methods and exact maximum likelihood (issue 4).
//!
//! Groups:
//! * `forward_N512`: each method on the paper's network recipe (N = 512,
//!   H0 = 0.5, J0 = 1, ΔJ = 0.1, β = β_c = 1.1108, start m = +1), 128 steps
//!   — except Plefka2[t] o2 (16 steps) and Plefka[t−1] o1 (4 steps), whose
//!   per-step cost is constant; multiply those by 8 and 32 for 128 steps.
//! * `ml_N512_T100k`: exact ML of a 512-unit raster with 100,000 bins at 5 %
//!   and 50 % activity (simulated SK networks).
//!
//! Reference times (spec §8, Python, same machine, CPU s for 128 steps):
//! nMF 0.20, TAP 2.37, Plefka[t] o1 1.42, Plefka[t] o2 7.8, Plefka2[t] o2 69,
//! Plefka[t−1] o1 ≈ 2900.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use isingscope::fit::MlFit;
use isingscope::meanfield::{ForwardOptions, Method, forward};
use isingscope::model::simulate::{InitialState, SimulationOptions, simulate};
use isingscope::model::{KineticIsing, SkParams};
use isingscope::progress::{NoProgress, StopToken};
use nalgebra::DVector;
use rand::SeedableRng;

/// The paper's recipe at β_c. Near β_c, Plefka[t] o2 runs away on some
/// draws (spec §2.4; on the seed-512 draw at step 105); the published
/// network stays bounded, so we take the first seed from 512 on whose draw
/// every method survives 128 steps.
fn paper_network() -> KineticIsing {
    let m0 = DVector::from_element(512, 1.0);
    for seed in 512..612 {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        let model = SkParams {
            n: 512,
            j0: 1.0,
            dj: 0.1,
            h0: 0.5,
            beta: 1.1108397534245904,
        }
        .draw(&mut rng)
        .expect("valid parameters");
        let opts = ForwardOptions::new(128);
        if forward(
            Method::PlefkaTO2,
            &model,
            &m0,
            &opts,
            &NoProgress,
            &StopToken::new(),
        )
        .is_ok()
        {
            eprintln!("network seed {seed}");
            return model;
        }
    }
    panic!("no bounded Plefka[t] o2 run among 100 draws")
}

fn forward_methods(c: &mut Criterion) {
    let model = paper_network();
    let m0 = DVector::from_element(512, 1.0);
    let mut g = c.benchmark_group("forward_N512");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
    for (method, steps) in [
        (Method::PlefkaT1TO1, 128),
        (Method::PlefkaT1TO2, 128),
        (Method::PlefkaTO1, 128),
        (Method::PlefkaTO2, 128),
        (Method::Plefka2TO1, 128),
        (Method::Plefka2TO2, 16),
        (Method::PlefkaT1O1, 4),
    ] {
        let opts = ForwardOptions::new(steps);
        g.bench_function(format!("{method}/{steps}_steps"), |b| {
            b.iter(|| {
                let r = forward(method, &model, &m0, &opts, &NoProgress, &StopToken::new())
                    .expect("forward run");
                black_box(r.summary.len())
            })
        });
    }
    g.finish();
}

fn ml(c: &mut Criterion) {
    let mut g = c.benchmark_group("ml_N512_T100k");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(100));
    g.measurement_time(Duration::from_secs(20));
    // 5 %: fields near atanh(2·0.05 − 1) = −1.47; 50 %: no fields.
    for (label, h0_shift, dj) in [("activity_5pct", -1.47, 0.3), ("activity_50pct", 0.0, 0.5)] {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        let sk = SkParams {
            n: 512,
            j0: 0.0,
            dj,
            h0: 0.2,
            beta: 1.0,
        }
        .draw(&mut rng)
        .expect("params");
        let h = sk.h().map(|x| x + h0_shift);
        let model = KineticIsing::new(h, sk.j().clone(), 1.0).expect("model");
        let opts = SimulationOptions {
            steps: 99_999,
            trials: 1,
            init: InitialState::Random,
        };
        let raster =
            simulate(&model, &opts, &mut rng, &NoProgress, &StopToken::new()).expect("simulation");
        eprintln!("{label}: active fraction {:.3}", raster.active_fraction());
        let fit = MlFit::default().validate().expect("valid");
        g.bench_function(label, |b| {
            b.iter(|| {
                let est = fit
                    .fit(&raster, &NoProgress, &StopToken::new())
                    .expect("fit");
                black_box(est.info.iterations)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, forward_methods, ml);
criterion_main!(benches);
