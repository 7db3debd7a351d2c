//! Cost of the issue-13 checks next to the fit they check, timed side by
//! side in the same run (plain timing, no criterion: each figure is a
//! few runs of many seconds).
//!
//! * `se`: ML fit alone vs the standard errors of that fit, N = 512,
//!   T = 100,000 bins, 5 % activity (the ML benchmark's data).
//!   `se2`: the same at 2 % activity.
//!   Beside it, the floor of the standard errors' pass on this machine:
//!   the measured rate of its scattered read-add-write (one 32-lane row
//!   of an N-row table per listed pair, in the data's own lists) times
//!   the number of such updates, over 2 cores.
//! * `cv`: 5-fold CV over 8 L2 values, N = 100, T = 360,000 bins, 5 %
//!   activity, next to one plain ML fit of the same data.
//!
//! `cargo bench --no-default-features --bench fit_checks [-- se|cv]`.

use std::time::Instant;

use isingscope::fit::MlFit;
use isingscope::fit::cv::{CvOptions, cross_validate_l2};
use isingscope::fit::standard_errors;
use isingscope::model::simulate::{InitialState, SimulationOptions, simulate};
use isingscope::model::{KineticIsing, SkParams};
use isingscope::progress::{NoProgress, StopToken};
use isingscope::spikes::SpikeRaster;
use rand::SeedableRng;

/// An SK network's simulation at about `rate` activity per bin.
fn data(n: usize, steps: usize, dj: f64, rate: f64) -> SpikeRaster {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
    let sk = SkParams {
        n,
        j0: 0.0,
        dj,
        h0: 0.2,
        beta: 1.0,
    }
    .draw(&mut rng)
    .expect("params");
    // Fields near atanh(2·rate − 1) (−1.47 for 5 %).
    let shift = (2.0 * rate - 1.0).atanh();
    let h = sk.h().map(|x| x + shift);
    let model = KineticIsing::new(h, sk.j().clone(), 1.0).expect("model");
    let opts = SimulationOptions {
        steps: steps - 1,
        trials: 1,
        init: InitialState::Random,
    };
    simulate(&model, &opts, &mut rng, &NoProgress, &StopToken::new()).expect("simulation")
}

/// Listed units (active, or silent when more than half are active) of
/// every transition's previous bin, as the standard errors list them.
fn lists(raster: &SpikeRaster) -> Vec<Vec<u32>> {
    let n = raster.n_units();
    let mut out = Vec::new();
    for r in 0..raster.n_trials() {
        for t in 1..raster.n_bins() {
            let row = raster.row(r, t - 1);
            let active: Vec<u32> = (0..n)
                .filter(|&j| row[j / 64] >> (j % 64) & 1 == 1)
                .map(|j| j as u32)
                .collect();
            out.push(if 2 * active.len() > n {
                (0..n as u32).filter(|j| !active.contains(j)).collect()
            } else {
                active
            });
        }
    }
    out
}

/// Lanes per update of the pass (its block of receiving neurons).
const LANES: usize = 32;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Row([f64; LANES]);

/// Nanoseconds per update `table[k] += w` (one LANES-wide row) in the
/// order of the lists: for every list and every listed j, j and the
/// units after it. One thread.
fn scatter_add_ns(lists: &[Vec<u32>], n: usize) -> (f64, f64) {
    let mut table = vec![Row([0.0; LANES]); n];
    let mut updates = 0u64;
    let t0 = Instant::now();
    for (t, l) in lists.iter().enumerate() {
        let w = Row(std::array::from_fn(|ii| (t + ii) as f64 * 1e-9));
        for (p, _) in l.iter().enumerate() {
            for &k in &l[p..] {
                let row = &mut table[k as usize];
                for ii in 0..LANES {
                    row.0[ii] += w.0[ii];
                }
                updates += 1;
            }
        }
    }
    let ns = t0.elapsed().as_secs_f64() * 1e9 / updates as f64;
    (ns, std::hint::black_box(table[0].0[0]))
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    // The case at the ML benchmark's 5 % (6 % measured), and at
    // 2 %: the pass grows as the square of the listed units per bin, the
    // fit linearly.
    for (name, rate) in [("se", 0.05), ("se2", 0.02)] {
        if !run(name) {
            continue;
        }
        let raster = data(512, 100_000, 0.3, rate);
        println!(
            "{name}: N = 512, T = 100,000, active fraction {:.3}",
            raster.active_fraction()
        );
        let all = lists(&raster);
        let pairs: f64 = all
            .iter()
            .map(|l| (l.len() * (l.len() + 1) / 2) as f64)
            .sum();
        let (ns, _) = scatter_add_ns(&all[..20_000], 512);
        let floor = pairs * 512usize.div_ceil(LANES) as f64 * ns * 1e-9 / 2.0;
        println!(
            "pass floor: {pairs:.3e} listed pairs x {} lane groups x {ns:.2} ns per {LANES}-lane update (measured now, one thread) / 2 cores = {floor:.2} s",
            512usize.div_ceil(LANES)
        );
        let fit = MlFit::default().validate().expect("valid");
        for rep in 0..3 {
            let t0 = Instant::now();
            let est = fit
                .fit(&raster, &NoProgress, &StopToken::new())
                .expect("fit");
            let t_fit = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let se = standard_errors(&raster, &est.h, &est.j, 0.0).expect("se");
            let t_se = t1.elapsed().as_secs_f64();
            println!(
                "rep {rep}: fit {t_fit:.2} s ({} passes), standard errors {t_se:.2} s = {:.0} % of the fit (pass floor alone {:.0} %); mean se(J) {:.4}; load {}",
                est.info.iterations,
                100.0 * t_se / t_fit,
                100.0 * floor / t_fit,
                se.j.mean(),
                load().trim()
            );
        }
    }
    if run("cv") {
        let raster = data(100, 360_000, 0.5, 0.05);
        println!(
            "cv: N = 100, T = 360,000, active fraction {:.3}",
            raster.active_fraction()
        );
        let t0 = Instant::now();
        let est = MlFit::default()
            .validate()
            .expect("valid")
            .fit(&raster, &NoProgress, &StopToken::new())
            .expect("fit");
        let t_fit = t0.elapsed().as_secs_f64();
        println!(
            "one ML fit: {t_fit:.2} s ({} passes); load {}",
            est.info.iterations,
            load().trim()
        );
        let t1 = Instant::now();
        let cv = cross_validate_l2(
            &raster,
            &CvOptions::default(),
            &NoProgress,
            &StopToken::new(),
        )
        .expect("cv");
        println!(
            "5-fold CV x 8 L2 values: {:.1} s, chose l2 = {:e}; load {}",
            t1.elapsed().as_secs_f64(),
            cv.chosen_l2(),
            load().trim()
        );
    }
}
