//! Subcommands of the state-space model: `state-space` (fit) and
//! `synth-state-space` (Gaussian-process ground truth and spikes).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use super::ensure_dir;
use super::progress_bar::CliProgress;
use crate::io::{npy, text};
use crate::progress::StopToken;
use crate::state_space::entropy_flow::{
    EntropyFlow, Quadrature, grand_mean_rates, mean_field_entropy_flow, sampling_entropy_flow,
};
use crate::state_space::synth::{GpTruth, simulate_spikes};
use crate::state_space::{
    DEFAULT_PARAM_TOL, DEFAULT_TOL, StateSpaceFit, StateSpaceResult, ThetaSeries,
};

/// Entropy-flow estimator for `entropy_flow.csv`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FlowArg {
    /// Gaussian mean-field with the reference's 100-point Riemann rule (the paper's method).
    MeanField,
    /// Gaussian mean-field with 40-point Gauss-Hermite quadrature.
    MeanFieldGh,
    /// Monte-Carlo average over simulated trajectories (exact in expectation; use for small N).
    Sampling,
}

/// Arguments of `isingscope state-space`.
#[derive(Debug, Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Input: RASTER.npy of shape (R trials, T+1 bins, N units), 0/1 (or -1/+1); transition t maps bin t to bin t+1.\n\nOutput (T = bins - 1, D = N + 1): DIR/theta_smoothed.npy and DIR/theta_filtered.npy, float64 (T, N, D): [t, i, 0] = field h_i(t), [t, i, 1+j] = coupling J_ij(t) from neuron j (bin t) to neuron i (bin t+1); DIR/theta_sd.npy (smoothed posterior standard deviations, same shape); DIR/Q.csv (N rows x D, diagonal state-noise variances); DIR/evidence.csv (Laplace log evidence per EM iteration, nats, summed over neurons; a neuron that stopped contributes its last value); DIR/neuron_fit.csv (neuron,e_steps,reason,evidence: each neuron's E-steps, why it stopped, its final evidence term); DIR/entropy_flow.csv (header t,total,forward,reverse; nats per bin; forward = conditional entropy S_fwd, reverse = cross-entropy S_rev of the reversed transition, total = reverse - forward)."
)]
pub struct StateSpaceArgs {
    /// Spike raster (.npy, (R, T+1, N)).
    pub raster: PathBuf,
    /// EM E-steps per neuron at most (exactly this many with --tol 0).
    #[arg(long, default_value_t = 120)]
    pub max_iter: usize,
    /// Per-neuron convergence: a neuron stops once the relative change of its
    /// own log-evidence term over its last 10 E-steps is at most 10 × this and
    /// its Q and Sigma0 changed by at most --param-tol of their scale over
    /// them; SQUAREM-accelerated. 0 = run exactly --max-iter plain EM
    /// iterations (the reference behaviour).
    #[arg(long, default_value_t = DEFAULT_TOL)]
    pub tol: f64,
    /// With --tol: relative change of each neuron's Q and Sigma0 over its last 10 E-steps that counts as converged.
    #[arg(long, default_value_t = DEFAULT_PARAM_TOL)]
    pub param_tol: f64,
    /// With --tol: plain EM steps, no SQUAREM extrapolation.
    #[arg(long)]
    pub no_accel: bool,
    /// Lower bound on the entries of Q after each M-step.
    #[arg(long)]
    pub q_floor: Option<f64>,
    /// Entropy-flow estimator.
    #[arg(long, value_enum, default_value_t = FlowArg::MeanField)]
    pub flow: FlowArg,
    /// Trajectories for --flow sampling.
    #[arg(long, default_value_t = 500)]
    pub flow_trajectories: usize,
    /// Seed of the random number generator (sampling flow).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Shard options: theta_*.npy of shape (T, B-A, N+1) and Q.csv for neurons A..B, evidence_neurons.csv (one row per EM iteration, one column per neuron), shard_manifest.ron; the entropy flow is computed by `merge`.
    #[command(flatten)]
    pub shard: super::shard::ShardArgs,
}

/// Write a `(T, N, N+1)` series.
fn write_theta(path: &Path, theta: &ThetaSeries) -> anyhow::Result<()> {
    npy::write_f64(path, &theta.shape(), theta.as_slice())?;
    Ok(())
}

/// Write the flow as CSV with header `t,total,forward,reverse`.
fn write_flow(path: &Path, flow: &EntropyFlow) -> anyhow::Result<()> {
    let mut s = String::from("t,total,forward,reverse\n");
    for t in 0..flow.len() {
        writeln!(
            s,
            "{t},{},{},{}",
            flow.total[t], flow.forward[t], flow.reverse[t]
        )?;
    }
    super::write_text(path, &s)
}

/// `isingscope state-space`.
pub fn state_space(a: StateSpaceArgs) -> anyhow::Result<()> {
    let raster = crate::io::read_raster_file(&a.raster)?;
    {
        // Each neuron keeps a D x D posterior covariance per transition
        // (D = N + 1): N * D^2 * T doubles at least.
        let (n, d) = (raster.n_units() as u64, raster.n_units() as u64 + 1);
        let t = raster.n_bins() as u64;
        super::ensure_memory(
            &format!(
                "the state-space model of {} (N = {n}, {t} bins)",
                a.raster.display()
            ),
            n.saturating_mul(d)
                .saturating_mul(d)
                .saturating_mul(t)
                .saturating_mul(8),
            "select fewer units when binning, or fewer bins",
        )?;
    }
    if !(a.tol.is_finite() && a.tol >= 0.0) {
        bail!(
            "--tol must be a non-negative number (0 = fixed iteration count), got {}",
            a.tol
        );
    }
    let converging = a.tol > 0.0;
    if a.shard.is_set() {
        return state_space_shard(&a, &raster);
    }
    let outputs = [
        "theta_smoothed.npy",
        "theta_filtered.npy",
        "theta_sd.npy",
        "Q.csv",
        "evidence.csv",
        "entropy_flow.csv",
        "neuron_fit.csv",
    ]
    .map(|f| a.out.join(f));
    super::check_outputs(&outputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    let params = StateSpaceFit {
        max_iter: a.max_iter,
        tol: converging.then_some(a.tol),
        param_tol: a.param_tol,
        accelerate: converging && !a.no_accel,
        q_floor: a.q_floor,
        ..Default::default()
    }
    .validate()?;
    ensure_dir(&a.out)?;
    let bar = CliProgress::new("EM iterations");
    let fit = params
        .fit(&raster, &bar, &StopToken::new())
        .with_context(|| format!("fitting {}", a.raster.display()))?;
    bar.finish();
    for w in &fit.warnings {
        eprintln!("warning: {w}");
    }
    write_theta(&a.out.join("theta_smoothed.npy"), &fit.theta_smoothed)?;
    write_theta(&a.out.join("theta_filtered.npy"), &fit.theta_filtered)?;
    write_theta(&a.out.join("theta_sd.npy"), &fit.sd_smoothed)?;
    text::write_matrix(&a.out.join("Q.csv"), &fit.q)?;
    text::write_vector(&a.out.join("evidence.csv"), &fit.info.objective)?;
    super::write_text(&a.out.join("neuron_fit.csv"), &neuron_fit_csv(&fit))?;
    let flow = entropy_flow(
        a.flow,
        a.flow_trajectories,
        a.seed,
        &fit.theta_smoothed,
        &raster,
    )?;
    write_flow(&a.out.join("entropy_flow.csv"), &flow)?;
    println!(
        "{} EM iterations ({}), log evidence {:.6}; mean entropy flow from t = 3: {:.6} nats/bin",
        fit.info.iterations,
        fit.info.reason,
        fit.evidence(),
        flow.mean_total_from(3)
    );
    println!("{}", per_neuron_summary(&fit));
    Ok(())
}

/// Header of `neuron_fit.csv`.
pub(super) const NEURON_FIT_HEADER: &str = "neuron,e_steps,reason,evidence\n";

/// One row per fitted neuron: `neuron,e_steps,reason,evidence` (neuron
/// numbers from `fit.neurons.start`, so shards' rows concatenate into the
/// single run's file).
fn neuron_fit_csv(fit: &StateSpaceResult) -> String {
    let mut s = String::from(NEURON_FIT_HEADER);
    for (k, f) in fit.neuron_info.iter().enumerate() {
        let ev = f.objective.last().copied().unwrap_or(f64::NAN);
        let i = fit.neurons.start + k;
        let _ = writeln!(s, "{i},{},{},{ev}", f.iterations, f.reason);
    }
    s
}

/// E-steps per neuron (min/median/max), how many converged, extrapolations.
fn per_neuron_summary(fit: &StateSpaceResult) -> String {
    let mut its: Vec<usize> = fit.neuron_info.iter().map(|f| f.iterations).collect();
    its.sort_unstable();
    let converged = fit
        .neuron_info
        .iter()
        .filter(|f| f.reason == crate::progress::TerminationReason::Converged)
        .count();
    let (acc, rej) = fit.extrapolations;
    format!(
        "per neuron: E-steps min {} / median {} / max {}; {converged} of {} neurons converged; SQUAREM extrapolations accepted {acc}, rejected {rej} (DIR/neuron_fit.csv)",
        its.first().copied().unwrap_or(0),
        its.get(its.len() / 2).copied().unwrap_or(0),
        its.last().copied().unwrap_or(0),
        its.len()
    )
}

/// The entropy flow of smoothed parameters (also computed by `merge`,
/// which needs every neuron).
pub(super) fn entropy_flow(
    flow: FlowArg,
    trajectories: usize,
    seed: u64,
    theta_smoothed: &ThetaSeries,
    raster: &crate::spikes::SpikeRaster,
) -> anyhow::Result<EntropyFlow> {
    Ok(match flow {
        FlowArg::MeanField | FlowArg::MeanFieldGh => {
            let quad = if matches!(flow, FlowArg::MeanField) {
                Quadrature::Riemann100
            } else {
                Quadrature::GaussHermite(40)
            };
            mean_field_entropy_flow(theta_smoothed, &grand_mean_rates(raster), quad)?.flow
        }
        FlowArg::Sampling => {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            sampling_entropy_flow(theta_smoothed, trajectories, 0.5, &mut rng)?.flow
        }
    })
}

/// Write the entropy-flow file of a (merged) state-space output folder.
pub(super) fn write_entropy_flow(path: &Path, flow: &EntropyFlow) -> anyhow::Result<()> {
    write_flow(path, flow)
}

/// Rows `range` of a `(T, N, D)` series as a `(T, B-A, D)` array.
pub(super) fn theta_rows(theta: &ThetaSeries, range: &std::ops::Range<usize>) -> Vec<f64> {
    let mut out = Vec::with_capacity(theta.n_steps() * range.len() * theta.dim());
    for t in 0..theta.n_steps() {
        for i in range.clone() {
            out.extend_from_slice(theta.row(t, i));
        }
    }
    out
}

/// `state-space --neurons A..B | --shard k/K`: the rows of the parameter
/// arrays and of Q, the per-neuron evidence, then the manifest.
fn state_space_shard(
    a: &StateSpaceArgs,
    raster: &crate::spikes::SpikeRaster,
) -> anyhow::Result<()> {
    let n = raster.n_units();
    let range = a.shard.range(n)?.unwrap_or(0..n);
    // Every neuron stops on its own, so a shard's neurons end exactly as
    // they do in a single run (same options).
    let converging = a.tol > 0.0;
    let params = StateSpaceFit {
        max_iter: a.max_iter,
        tol: converging.then_some(a.tol),
        param_tol: a.param_tol,
        accelerate: converging && !a.no_accel,
        q_floor: a.q_floor,
        neurons: Some(range.clone()),
        ..Default::default()
    }
    .validate()?;
    ensure_dir(&a.out)?;
    super::shard::clear_manifest(&a.out)?;
    let bar = CliProgress::new(format!(
        "EM iterations, neurons {}..{}",
        range.start, range.end
    ));
    let fit = params
        .fit(raster, &bar, &StopToken::new())
        .with_context(|| format!("fitting {}", a.raster.display()))?;
    bar.finish();
    for w in &fit.warnings {
        eprintln!("warning: {w}");
    }
    let (t, d) = (fit.theta_smoothed.n_steps(), fit.theta_smoothed.dim());
    let shape = [t, range.len(), d];
    for (name, th) in [
        ("theta_smoothed.npy", &fit.theta_smoothed),
        ("theta_filtered.npy", &fit.theta_filtered),
        ("theta_sd.npy", &fit.sd_smoothed),
    ] {
        npy::write_f64(&a.out.join(name), &shape, &theta_rows(th, &range))?;
    }
    let q = fit.q.rows(range.start, range.len()).into_owned();
    text::write_matrix(&a.out.join("Q.csv"), &q)?;
    text::write_rows(
        &a.out.join("evidence_neurons.csv"),
        fit.evidence_per_neuron.iter().map(|r| r.as_slice()),
    )?;
    super::write_text(&a.out.join("neuron_fit.csv"), &neuron_fit_csv(&fit))?;
    let p = params.params();
    let flow = a
        .flow
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let options = [
        ("max_iter", p.max_iter.to_string()),
        ("tol", format!("{:?}", p.tol)),
        ("param_tol", format!("{:?}", p.param_tol)),
        ("accelerate", p.accelerate.to_string()),
        ("q_floor", format!("{:?}", p.q_floor)),
        ("q_init", p.q_init.to_string()),
        ("sigma0_init", p.sigma0_init.to_string()),
        ("newton", format!("{:?}", p.newton)),
        ("flow", flow),
        ("flow_trajectories", a.flow_trajectories.to_string()),
        ("seed", a.seed.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    super::shard::write_manifest(
        &a.out,
        "state-space",
        &a.raster,
        n,
        options,
        &range,
        &[
            "theta_smoothed.npy",
            "theta_filtered.npy",
            "theta_sd.npy",
            "Q.csv",
            "evidence_neurons.csv",
            "neuron_fit.csv",
        ],
    )
}

/// Arguments of `isingscope synth-state-space`.
#[derive(Debug, Args)]
#[command(
    after_help = "Ground truth of the paper: every coupling J_ij(t) a Gaussian-process draw (mean 5/N, variance 10/N, squared-exponential length 30 bins), every field h_i(t) one with mean -3, variance 1, length 50; bin 0 i.i.d. Bernoulli(0.2).\n\nOutput: DIR/spikes.npy (R, T+1, N) uint8 0/1; DIR/theta.npy float64 (T, N, N+1), [t, i, 0] = h_i(t), [t, i, 1+j] = J_ij(t) from j (bin t) to i (bin t+1)."
)]
pub struct SynthStateSpaceArgs {
    /// Number of neurons N.
    #[arg(long, default_value_t = 12)]
    pub n: usize,
    /// Number of transitions T (the raster has T+1 bins).
    #[arg(long, default_value_t = 200)]
    pub t: usize,
    /// Number of trials R.
    #[arg(long, default_value_t = 200)]
    pub r: usize,
    /// Seed of the random number generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// `isingscope synth-state-space`.
pub fn synth_state_space(a: SynthStateSpaceArgs) -> anyhow::Result<()> {
    if a.r == 0 {
        bail!("--r must be at least 1");
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let theta = GpTruth::paper(a.n, a.t).draw(&mut rng)?;
    let raster = simulate_spikes(&theta, a.r, 0.2, &mut rng)?;
    ensure_dir(&a.out)?;
    npy::write_raster(&a.out.join("spikes.npy"), &raster)?;
    write_theta(&a.out.join("theta.npy"), &theta)?;
    Ok(())
}
