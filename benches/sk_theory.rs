//! Speed of the exact SK theory (issue 5): the app redraws curves and phase
//! diagrams from these while a slider moves.
//!
//! Groups:
//! * `stationary_point/<case>`: one `solve_stationary` from scratch (target
//!   < 1 ms): disordered and ordered points, H0 = 0 and H0 > 0, and a steep
//!   one (βΔJ = 2.8).
//! * `grid_100x100/<case>`: β ∈ [0, 4] × ΔJ ∈ [0, 1] at J0 = 1 (target
//!   < 1 s on 2 cores), for H0 = 0 (the paper's Fig. 2-3) and H0 = 0.5.
//! * `critical_line_101`: β_c(ΔJ) at 101 values of ΔJ ∈ [0, 1].
//! * `relax_100_steps`: the transient m(t), q(t), 100 steps.
//!
//! Everything is deterministic (no random numbers involved).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use isingscope::progress::{NoProgress, StopToken};
use isingscope::sk_theory::{
    GridAxis, SkParameter, SkPoint, critical_beta, grid, relax, solve_stationary,
};

fn stationary_point(c: &mut Criterion) {
    let mut g = c.benchmark_group("stationary_point");
    g.sample_size(20).measurement_time(Duration::from_secs(2));
    let cases = [
        (
            "disordered_H0=0",
            SkPoint {
                beta: 1.0,
                j0: 1.0,
                dj: 0.5,
                h0: 0.0,
            },
        ),
        (
            "ordered_H0=0",
            SkPoint {
                beta: 1.5,
                j0: 1.0,
                dj: 0.5,
                h0: 0.0,
            },
        ),
        (
            "ordered_steep_H0=0",
            SkPoint {
                beta: 4.0,
                j0: 1.0,
                dj: 0.7,
                h0: 0.0,
            },
        ),
        (
            "disordered_H0=0.5",
            SkPoint {
                beta: 0.8,
                j0: 1.0,
                dj: 0.2,
                h0: 0.5,
            },
        ),
        (
            "ordered_H0=0.5",
            SkPoint {
                beta: 2.0,
                j0: 1.0,
                dj: 0.2,
                h0: 0.5,
            },
        ),
        (
            "ordered_steep_H0=0.5",
            SkPoint {
                beta: 4.0,
                j0: 1.0,
                dj: 0.7,
                h0: 0.5,
            },
        ),
    ];
    for (name, p) in cases {
        g.bench_function(name, |b| {
            b.iter(|| solve_stationary(black_box(&p)).expect("valid"))
        });
    }
    g.finish();
}

fn grid_100x100(c: &mut Criterion) {
    let mut g = c.benchmark_group("grid_100x100");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for h0 in [0.0, 0.5] {
        let base = SkPoint {
            beta: 1.0,
            j0: 1.0,
            dj: 0.5,
            h0,
        };
        g.bench_function(format!("beta_x_dj_H0={h0}"), |b| {
            b.iter(|| {
                let rows = GridAxis::linspace(SkParameter::Dj, 0.0, 1.0, 100).expect("axis");
                let cols = GridAxis::linspace(SkParameter::Beta, 0.0, 4.0, 100).expect("axis");
                grid(&base, rows, cols, &NoProgress, &StopToken::new()).expect("valid")
            })
        });
    }
    g.finish();
}

fn critical_and_relax(c: &mut Criterion) {
    let mut g = c.benchmark_group("phase_boundary_and_transient");
    g.sample_size(20).measurement_time(Duration::from_secs(2));
    g.bench_function("critical_line_101", |b| {
        b.iter(|| {
            (0..=100)
                .map(|i| critical_beta(1.0, i as f64 * 0.01, black_box(0.0)))
                .collect::<Vec<_>>()
        })
    });
    let p = SkPoint {
        beta: 1.5,
        j0: 1.0,
        dj: 0.5,
        h0: 0.0,
    };
    g.bench_function("relax_100_steps", |b| {
        b.iter(|| relax(black_box(&p), 1.0, 100).expect("valid"))
    });
    g.finish();
}

criterion_group!(benches, stationary_point, grid_100x100, critical_and_relax);
criterion_main!(benches);
