//! State-space kinetic Ising fit at lab scale (issues 6 and 18). A plain
//! `harness = false` benchmark: every figure is one timed run (these fits
//! take seconds to minutes), printed with the load average next to it, and
//! the baseline runs in the same process invocation.
//!
//! `cargo bench --no-default-features --bench state_space -- [CASE...]`,
//! cases (default all):
//!
//! * `floor`: this machine's dense FMA rate, a `matrixmultiply` DGEMM of
//!   256 × 256 matrices on every worker thread at once (flops = 2 n^3 per
//!   product, summed over threads).
//! * `small`: N = 16, T = 150, R = 200 (the paper's generator, seed 1): our fit
//!   to per-neuron convergence (the CLI default) and with 120 fixed plain
//!   iterations, against `benches/state_space_baseline.py` (a dense
//!   per-neuron NumPy Newton filter/smoother EM written from the spec; and
//!   its numba-compiled form when numba and scipy import) on the same raster.
//!   The baseline runs `BASELINE_ITERS` EM iterations and its 120-iteration
//!   time is extrapolated as first + 119 × median warm iteration.
//! * `lab-sample` (not in the default set): neurons 0..6 of the lab case
//!   fitted to convergence; the whole fit's time is extrapolated from their
//!   E-steps and CPU time per E-step (for a loaded machine, where the full
//!   run takes too long to wait for).
//! * `lab-profile` (not in the default set): neurons 0..8 of the lab case,
//!   one cold and three warm plain E-steps: CPU seconds per neuron E-step,
//!   Hessians and activation passes per filter update, stage figures.
//! * `lab-check=A..B` (not in the default set): neurons A..B of the lab
//!   case, converging fit against 120 plain iterations (evidence, theta
//!   distance in posterior s.d.).
//! * `lab-init=Q,..` (not in the default set): neurons 0..2, 300
//!   accelerated E-steps from `q_init = 0.5` and from each listed value.
//! * `lab`: the 100-unit lab case, generated here: 100 units with base
//!   rates 2–20 % per 10 ms bin, 1,800 trials of 151 bins (T = 150
//!   transitions), trial-locked rate changes (a stimulus response from bin
//!   40 to 90 and a slow drift) and weak couplings; fitted to per-neuron
//!   convergence on all cores. Reports E-steps per neuron, the stage times
//!   and their distance to the FMA floor (counted flops / measured rate).
//!
//! Needs `python3` with numpy for the baseline (set `ISINGSCOPE_PYTHON` to
//! another interpreter); without it the baseline is reported as skipped.

use std::io::Write as _;
use std::process::Command;
use std::time::Instant;

use isingscope::progress::{NoProgress, StopToken};
use isingscope::spikes::SpikeRaster;
use isingscope::state_space::synth::{GpTruth, simulate_spikes};
use isingscope::state_space::{
    DEFAULT_TOL, StageCost, StateSpaceFit, StateSpaceResult, ThetaSeries,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

const BASELINE_ITERS: usize = 4;

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn say(s: &str) {
    println!("{s}   [load {}]", load());
    std::io::stdout().flush().ok();
}

/// Dense DGEMM rate of all worker threads at once (flop/s).
fn fma_rate() -> f64 {
    let n = 256;
    let a: Vec<f64> = (0..n * n).map(|k| (k % 7) as f64 * 0.1).collect();
    let b: Vec<f64> = (0..n * n).map(|k| (k % 5) as f64 * 0.2).collect();
    let reps = 40;
    let threads = rayon::current_num_threads();
    let clock = Instant::now();
    rayon::broadcast(|_| {
        let mut c = vec![0.0; n * n];
        for _ in 0..reps {
            // SAFETY: a, b, c are n x n row-major buffers of the stated size.
            unsafe {
                matrixmultiply::dgemm(
                    n,
                    n,
                    n,
                    1.0,
                    a.as_ptr(),
                    n as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
            std::hint::black_box(&c);
        }
    });
    let secs = clock.elapsed().as_secs_f64();
    (threads * reps) as f64 * 2.0 * (n * n * n) as f64 / secs
}

fn converging() -> StateSpaceFit {
    StateSpaceFit {
        tol: Some(DEFAULT_TOL),
        accelerate: true,
        ..Default::default()
    }
}

/// CPU seconds of this process so far (user + system, all threads), from
/// `/proc/self/stat` (clock ticks of 10 ms); NaN where unavailable. Under
/// load the wall time of a fit grows with the other processes' share of
/// the cores, its CPU time much less, so both are reported.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line.
    let Some(rest) = stat.rfind(')').map(|k| &stat[k + 2..]) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |k: usize| f.get(k).and_then(|x| x.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Fit and return (wall seconds, CPU seconds, result).
fn timed_fit(p: &StateSpaceFit, raster: &SpikeRaster) -> (f64, f64, StateSpaceResult) {
    let cpu = cpu_secs();
    let clock = Instant::now();
    let r = p.fit(raster, &NoProgress, &StopToken::new()).expect("fit");
    (clock.elapsed().as_secs_f64(), cpu_secs() - cpu, r)
}

fn e_steps(r: &StateSpaceResult) -> String {
    let mut its: Vec<usize> = r.neuron_info.iter().map(|f| f.iterations).collect();
    its.sort_unstable();
    let total: usize = its.iter().sum();
    let conv = r
        .neuron_info
        .iter()
        .filter(|f| f.reason == isingscope::progress::TerminationReason::Converged)
        .count();
    format!(
        "E-steps per neuron min {} median {} max {} (total {total}); {conv}/{} converged; extrapolations {:?}",
        its[0],
        its[its.len() / 2],
        its[its.len() - 1],
        its.len(),
        r.extrapolations
    )
}

fn stages(r: &StateSpaceResult, rate: Option<f64>) {
    let w = r.timing.work;
    say(&format!(
        "    data summary {:.2} s wall (serial); EM {:.2} s wall",
        r.timing.summary_seconds, r.timing.em_seconds
    ));
    let threads = rayon::current_num_threads() as f64;
    let u = w.updates.max(1) as f64;
    say(&format!(
        "    {} filter updates: {:.2} Hessians (sparse Gram + Cholesky) and {:.2} activation passes per update",
        w.updates,
        w.hessians as f64 / u,
        w.activation_passes as f64 / u
    ));
    for (name, c) in [
        ("filter Newton (Gram, Hessian Cholesky, solves)", w.newton),
        (
            "filter covariances (Sigma_o factor+inverse, Sigma_f inverse)",
            w.covariance,
        ),
        ("smoother (2 D^3 products per bin)", w.smoother),
    ] {
        let StageCost { flops, cpu_seconds } = c;
        let achieved = flops / cpu_seconds.max(1e-12);
        let floor = rate.map(|r| {
            format!(
                "; floor {:.2} CPU s at {:.1} Gflop/s per core, {:.1}x from it",
                flops / (r / threads),
                r / threads / 1e9,
                cpu_seconds / (flops / (r / threads))
            )
        });
        say(&format!(
            "    {name}: {:.3e} flop, {cpu_seconds:.2} CPU s, {:.2} Gflop/s{}",
            flops,
            achieved / 1e9,
            floor.unwrap_or_default()
        ));
    }
}

fn python() -> String {
    std::env::var("ISINGSCOPE_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Baseline figures: wall (first, warm median, total) and CPU (first,
/// warm median) seconds.
struct Baseline {
    first: f64,
    warm: f64,
    total: f64,
    cpu_first: f64,
    cpu_warm: f64,
}

fn baseline(raster_path: &std::path::Path, variant: &str) -> Option<Baseline> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/state_space_baseline.py"
    );
    let out = Command::new(python())
        .arg(script)
        .arg(raster_path)
        .arg(BASELINE_ITERS.to_string())
        .arg(variant)
        .output()
        .ok()?;
    if !out.status.success() {
        let e = String::from_utf8_lossy(&out.stderr);
        say(&format!(
            "  baseline {variant}: skipped ({})",
            e.lines().last().unwrap_or("failed")
        ));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Option<f64> {
        let k = text.find(&format!("\"{name}\": "))? + name.len() + 4;
        let rest = &text[k..];
        let end = rest.find([',', '}'])?;
        rest[..end].trim().parse().ok()
    };
    Some(Baseline {
        first: field("first_s")?,
        warm: field("warm_s_median")?,
        total: field("total_s")?,
        cpu_first: field("cpu_first_s")?,
        cpu_warm: field("cpu_warm_s_median")?,
    })
}

fn small(rate: Option<f64>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let theta = GpTruth::paper(16, 150).draw(&mut rng).expect("valid");
    let raster = simulate_spikes(&theta, 200, 0.2, &mut rng).expect("valid");
    say("small: N = 16, T = 150, R = 200");
    let (t_conv, c_conv, conv) = timed_fit(&converging(), &raster);
    say(&format!(
        "  ours, to convergence (CLI default): {t_conv:.2} s wall, {c_conv:.2} CPU s; {}; evidence {:.3}",
        e_steps(&conv),
        conv.evidence()
    ));
    stages(&conv, rate);
    let (t_fixed, c_fixed, fixed) = timed_fit(&StateSpaceFit::default(), &raster);
    say(&format!(
        "  ours, 120 plain EM iterations: {t_fixed:.2} s wall, {c_fixed:.2} CPU s ({:.4} s wall per iteration); evidence {:.3} (converged fit {:+.3})",
        t_fixed / 120.0,
        fixed.evidence(),
        conv.evidence() - fixed.evidence()
    ));
    let dir = std::env::temp_dir().join(format!("isingscope-ss-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("spikes.npy");
    isingscope::io::npy::write_raster(&path, &raster).expect("write raster");
    for variant in ["numpy", "numba"] {
        if let Some(b) = baseline(&path, variant) {
            let full = b.first + 119.0 * b.warm;
            let cpu_full = b.cpu_first + 119.0 * b.cpu_warm;
            say(&format!(
                "  baseline {variant} ({BASELINE_ITERS} iterations run, {:.2} s): first {:.3} s, warm {:.3} s per iteration; 120 iterations ≈ {full:.1} s wall, {cpu_full:.1} CPU s. Speed-up, wall: {:.1}x per iteration (ours fixed), {:.1}x ours-to-convergence vs its 120 iterations; CPU: {:.1}x per iteration, {:.1}x to convergence",
                b.total,
                b.first,
                b.warm,
                b.warm / (t_fixed / 120.0),
                full / t_conv,
                b.cpu_warm / (c_fixed / 120.0),
                cpu_full / c_conv
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The 100-unit lab case: base rates 2–20 %, trial-locked modulation, weak
/// couplings; kinetic Ising dynamics so that couplings are present.
fn lab_raster(seed: u64) -> SpikeRaster {
    let (n, t_steps, trials) = (100, 150, 1800);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let base: Vec<f64> = (0..n).map(|_| rng.random_range(0.02..0.20)).collect();
    let gain: Vec<f64> = (0..n).map(|_| rng.random_range(-0.8..1.5)).collect();
    let phase: Vec<f64> = (0..n)
        .map(|_| rng.random_range(0.0..std::f64::consts::TAU))
        .collect();
    let mut theta = ThetaSeries::zeros(t_steps, n);
    let logit = |p: f64| (p / (1.0 - p)).ln();
    for t in 0..t_steps {
        let stim = if (40..90).contains(&t) { 1.0 } else { 0.0 };
        for i in 0..n {
            let drift = 0.3 * (std::f64::consts::TAU * t as f64 / 150.0 + phase[i]).sin();
            // Mean input from couplings ~ 0.1 * 10 % * 100 = 1 per bin is
            // compensated in the field so that rates stay near the base.
            let row = theta.row_mut(t, i);
            row[0] = logit(base[i]) + gain[i] * stim + drift;
            for j in 0..n {
                let c = ((i * 31 + j * 17) % 23) as f64 / 23.0 - 0.5;
                row[1 + j] = 0.15 * c;
            }
        }
    }
    simulate_spikes(&theta, trials, 0.1, &mut rng).expect("valid")
}

fn lab(rate: Option<f64>) {
    let clock = Instant::now();
    let raster = lab_raster(18);
    let generated = clock.elapsed().as_secs_f64();
    say(&format!(
        "lab: N = 100, T = 150, R = 1800 (generated in {generated:.1} s; active fraction {:.3})",
        raster.active_fraction()
    ));
    // Two plain iterations: the cost of one E-step of all 100 neurons.
    let (t2, c2, two) = timed_fit(
        &StateSpaceFit {
            max_iter: 2,
            ..Default::default()
        },
        &raster,
    );
    say(&format!(
        "  ours, 2 plain EM iterations (all neurons): {t2:.1} s wall, {c2:.1} CPU s; {:.2} s wall, {:.2} CPU s per iteration",
        t2 / 2.0,
        c2 / 2.0
    ));
    stages(&two, rate);

    // To convergence, with a progress line every 5 % of the E-step budget
    // (N x max_iter; a converged neuron counts its remaining ones).
    let clock = Instant::now();
    let last = std::sync::atomic::AtomicU64::new(0);
    let progress = |done: u64, total: u64| {
        let pct = done * 20 / total.max(1);
        if last.fetch_max(pct, std::sync::atomic::Ordering::Relaxed) < pct {
            say(&format!(
                "    progress {}% of the E-step budget after {:.0} s",
                pct * 5,
                clock.elapsed().as_secs_f64()
            ));
        }
    };
    let conv = converging()
        .fit(&raster, &progress, &StopToken::new())
        .expect("fit");
    let t_conv = clock.elapsed().as_secs_f64();
    say(&format!(
        "  ours, to convergence on {} threads: {t_conv:.1} s wall (target < 120 s); {}; evidence {:.2}",
        rayon::current_num_threads(),
        e_steps(&conv),
        conv.evidence()
    ));
    stages(&conv, rate);
    let clock = Instant::now();
    let m0 = isingscope::state_space::entropy_flow::grand_mean_rates(&raster);
    let flow = isingscope::state_space::entropy_flow::mean_field_entropy_flow(
        &conv.theta_smoothed,
        &m0,
        isingscope::state_space::entropy_flow::Quadrature::Riemann100,
    )
    .expect("flow");
    say(&format!(
        "    entropy flow (mean field, serial): {:.3} s; mean {:.4} nats/bin",
        clock.elapsed().as_secs_f64(),
        flow.flow.mean_total_from(3)
    ));
}

/// Converge a sample of neurons of the lab case (neurons 0..6, whose base
/// rates are independent draws) in one fit on all threads and extrapolate
/// the whole fit: its CPU time is about 100 x (mean E-steps per neuron) x
/// (CPU seconds per neuron E-step, measured here), its wall time on an
/// idle machine that over the number of cores (longest-first scheduling
/// keeps both busy; the slowest neuron bounds it from below).
fn lab_sample(rate: Option<f64>) {
    let raster = lab_raster(18);
    let picks = 0..6;
    let (wall, cpu, r) = timed_fit(
        &StateSpaceFit {
            neurons: Some(picks.clone()),
            ..converging()
        },
        &raster,
    );
    let steps: Vec<usize> = r.neuron_info.iter().map(|f| f.iterations).collect();
    let total: usize = steps.iter().sum();
    say(&format!(
        "  lab sample: neurons {picks:?} to convergence: {wall:.1} s wall, {cpu:.1} CPU s; {}",
        e_steps(&r)
    ));
    stages(&r, rate);
    let mean = total as f64 / steps.len() as f64;
    let per = cpu / total as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let total_cpu = 100.0 * mean * per;
    say(&format!(
        "  lab extrapolated: {mean:.1} E-steps per neuron x {per:.2} CPU s per neuron E-step x 100 neurons = {total_cpu:.0} CPU s, {:.0} s wall on {cores} idle cores (target < 120 s)",
        total_cpu / cores
    ));
}

/// Per-E-step profile of the lab case: neurons `0..8` (independent base
/// rates) run 3 plain EM iterations (the first from the cold start, so its
/// Newton work is the largest); the stage figures are per fitted neuron
/// and E-step, and scaled by 100 neurons they give one E-step of the
/// whole fit. Short enough to run under `perf record`.
fn lab_profile(rate: Option<f64>) {
    let raster = lab_raster(18);
    let picks = 0..8;
    let fit = |iters: usize| {
        timed_fit(
            &StateSpaceFit {
                neurons: Some(picks.clone()),
                max_iter: iters,
                ..Default::default()
            },
            &raster,
        )
    };
    let (w1, c1, one) = fit(1);
    let (w4, c4, four) = fit(4);
    let n = picks.len() as f64;
    say(&format!(
        "  lab profile, neurons {picks:?}: 1 plain EM iteration {w1:.2} s wall, {c1:.2} CPU s; 4 iterations {w4:.2} s wall, {c4:.2} CPU s; so {:.3} CPU s per neuron for the cold E-step and {:.3} per warm one: {:.1} CPU s ({:.1} s wall on 2 cores) per warm E-step of all 100 neurons",
        c1 / n,
        (c4 - c1) / (3.0 * n),
        100.0 * (c4 - c1) / (3.0 * n),
        50.0 * (c4 - c1) / (3.0 * n)
    ));
    say("    cold E-step (stage totals over the 8 neurons):");
    stages(&one, rate);
    say("    1 cold + 3 warm E-steps:");
    stages(&four, rate);
}

fn parse_range(s: &str) -> std::ops::Range<usize> {
    let (a, b) = s.split_once("..").expect("a range a..b");
    a.parse().expect("range start")..b.parse().expect("range end")
}

/// Root mean square and largest distance of neuron `i`'s smoothed theta in
/// `a` from that in `b`, in units of `b`'s posterior s.d., over all
/// `(t, k)`.
fn theta_distance(a: &StateSpaceResult, b: &StateSpaceResult, i: usize) -> (f64, f64) {
    let (mut ss, mut max, mut count) = (0.0, 0.0f64, 0.0);
    for t in 0..a.n_steps() {
        let (x, y, sd) = (
            a.theta_smoothed.row(t, i),
            b.theta_smoothed.row(t, i),
            b.sd_smoothed.row(t, i),
        );
        for k in 0..x.len() {
            let z = (x[k] - y[k]) / sd[k];
            ss += z * z;
            max = max.max(z.abs());
            count += 1.0;
        }
    }
    ((ss / count).sqrt(), max)
}

/// Median of neuron `i`'s coupling entries of `Q`.
fn median_q_j(r: &StateSpaceResult, i: usize) -> f64 {
    let mut v: Vec<f64> = r.q.row(i).iter().skip(1).copied().collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// "What must hold" at lab scale, per neuron of `rows`: the converging fit
/// (CLI default) against 120 plain EM iterations (the reference's
/// behaviour): evidences, the accepted E-step at which the converging fit
/// passed the plain fit's final evidence, and the distance of theta.
fn lab_check(rows: std::ops::Range<usize>) {
    let raster = lab_raster(18);
    let (w_p, c_p, plain) = timed_fit(
        &StateSpaceFit {
            neurons: Some(rows.clone()),
            ..Default::default()
        },
        &raster,
    );
    let (w_c, c_c, conv) = timed_fit(
        &StateSpaceFit {
            neurons: Some(rows.clone()),
            ..converging()
        },
        &raster,
    );
    say(&format!(
        "  lab neurons {rows:?}: 120 plain EM iterations {w_p:.1} s wall, {c_p:.1} CPU s; converging {w_c:.1} s wall, {c_c:.1} CPU s, {}",
        e_steps(&conv)
    ));
    for i in rows.clone() {
        // neuron_info is indexed from the first fitted neuron.
        let k = i - rows.start;
        let ep = plain.neuron_info[k]
            .objective
            .last()
            .copied()
            .unwrap_or(f64::NAN);
        let tr = &conv.neuron_info[k].objective;
        let passed = tr.iter().position(|&v| v >= ep).map(|k| k + 1);
        let (rms, max) = theta_distance(&conv, &plain, i);
        say(&format!(
            "    neuron {i}: plain {ep:.3}, converging {:.3} after {} E-steps ({:?}; passed the plain fit at accepted E-step {passed:?}); theta from the plain fit: rms {rms:.3} s.d., max {max:.2} s.d.; Q_field {:.3e}, median Q_J {:.3e}",
            tr.last().copied().unwrap_or(f64::NAN),
            conv.neuron_info[k].iterations,
            conv.neuron_info[k].reason,
            conv.q[(i, 0)],
            median_q_j(&conv, i)
        ));
    }
}

/// Does a smaller initial `Q` shorten EM on the lab case? Neurons 0..2,
/// accelerated, 300 E-steps from `q_init = 0.5` (the reference start) and
/// from each value of the comma-separated list; evidences at fixed
/// E-step counts relative to the 300-step fit from 0.5.
fn lab_init(list: &str) {
    let rows = 0..2;
    let raster = lab_raster(18);
    let run = |q: f64| {
        timed_fit(
            &StateSpaceFit {
                neurons: Some(rows.clone()),
                max_iter: 300,
                accelerate: true,
                q_init: q,
                ..Default::default()
            },
            &raster,
        )
    };
    let (_, _, reference) = run(0.5);
    for q in std::iter::once(0.5).chain(list.split(',').map(|x| x.parse().expect("q_init"))) {
        let (w, c, r) = run(q);
        for i in rows.clone() {
            let e_ref = reference.neuron_info[i]
                .objective
                .last()
                .copied()
                .unwrap_or(f64::NAN);
            let tr = &r.neuron_info[i].objective;
            let at = |k: usize| tr.get(k - 1).map_or(f64::NAN, |v| v - e_ref);
            let (rms, max) = theta_distance(&r, &reference, i);
            say(&format!(
                "    q_init {q:e}, neuron {i} ({w:.1} s wall, {c:.1} CPU s): evidence minus that of 300 E-steps from 0.5 ({e_ref:.2}) after 10 accepted E-steps {:+.2}, 20 {:+.2}, 30 {:+.2}, 40 {:+.2}, 60 {:+.2}, 100 {:+.2}, 300 {:+.2}; theta after 300 from that fit: rms {rms:.3}, max {max:.2} s.d.; Q_field {:.3e}, median Q_J {:.3e}",
                at(10),
                at(20),
                at(30),
                at(40),
                at(60),
                at(100),
                at(tr.len()),
                r.q[(i, 0)],
                median_q_j(&r, i)
            ));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |c: &str| args.is_empty() || args.iter().any(|a| a == c);
    let rate = fma_rate();
    say(&format!(
        "floor: dense DGEMM (matrixmultiply, 256^3) on {} threads: {:.1} Gflop/s",
        rayon::current_num_threads(),
        rate / 1e9
    ));
    let rate = Some(rate);
    if want("small") {
        small(rate);
    }
    if want("lab") {
        lab(rate);
    } else if want("lab-sample") {
        lab_sample(rate);
    }
    for a in &args {
        if let Some(rows) = a.strip_prefix("lab-check=") {
            lab_check(parse_range(rows));
        } else if let Some(qs) = a.strip_prefix("lab-init=") {
            lab_init(qs);
        }
    }
    if args.iter().any(|a| a == "lab-profile") {
        lab_profile(rate);
    }
}
