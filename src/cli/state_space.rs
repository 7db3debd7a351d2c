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
use crate::state_space::{StateSpaceFit, ThetaSeries};

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
    after_help = "Input: RASTER.npy of shape (R trials, T+1 bins, N units), 0/1 (or -1/+1); transition t maps bin t to bin t+1.\n\nOutput (T = bins - 1, D = N + 1): DIR/theta_smoothed.npy and DIR/theta_filtered.npy, float64 (T, N, D): [t, i, 0] = field h_i(t), [t, i, 1+j] = coupling J_ij(t) from neuron j (bin t) to neuron i (bin t+1); DIR/theta_sd.npy (smoothed posterior standard deviations, same shape); DIR/Q.csv (N rows x D, diagonal state-noise variances); DIR/evidence.csv (Laplace log evidence per EM iteration, nats); DIR/entropy_flow.csv (header t,total,forward,reverse; nats per bin; forward = conditional entropy S_fwd, reverse = cross-entropy S_rev of the reversed transition, total = reverse - forward)."
)]
pub struct StateSpaceArgs {
    /// Spike raster (.npy, (R, T+1, N)).
    pub raster: PathBuf,
    /// EM iterations (at most, with --tol).
    #[arg(long, default_value_t = 120)]
    pub max_iter: usize,
    /// Stop once the relative change of the log evidence falls below this.
    #[arg(long)]
    pub tol: Option<f64>,
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
    let outputs = [
        "theta_smoothed.npy",
        "theta_filtered.npy",
        "theta_sd.npy",
        "Q.csv",
        "evidence.csv",
        "entropy_flow.csv",
    ]
    .map(|f| a.out.join(f));
    super::check_outputs(&outputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    let params = StateSpaceFit {
        max_iter: a.max_iter,
        tol: a.tol,
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
    let flow = match a.flow {
        FlowArg::MeanField | FlowArg::MeanFieldGh => {
            let quad = if matches!(a.flow, FlowArg::MeanField) {
                Quadrature::Riemann100
            } else {
                Quadrature::GaussHermite(40)
            };
            mean_field_entropy_flow(&fit.theta_smoothed, &grand_mean_rates(&raster), quad)?.flow
        }
        FlowArg::Sampling => {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
            sampling_entropy_flow(&fit.theta_smoothed, a.flow_trajectories, 0.5, &mut rng)?.flow
        }
    };
    write_flow(&a.out.join("entropy_flow.csv"), &flow)?;
    println!(
        "{} EM iterations ({}), log evidence {:.6}; mean entropy flow from t = 3: {:.6} nats/bin",
        fit.info.iterations,
        fit.info.reason,
        fit.evidence(),
        flow.mean_total_from(3)
    );
    Ok(())
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
