//! Subcommands of the model core: `simulate`, `stats`, `exact`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use nalgebra::DVector;
use rand::SeedableRng;

use super::progress_bar::CliProgress;
use super::sim_moments::write_simulated_moments;
use super::{check_outputs, ensure_dir, ensure_finite, ensure_memory, write_text};
use crate::io::{npy, text};
use crate::model::entropy::{estimate_entropy_production, stationary_entropy_production};
use crate::model::exact::{ExactEvolver, ExactInit};
use crate::model::simulate::{InitialState, SimulationOptions, simulate as run_simulation};
use crate::model::stats::time_averaged_moments;
use crate::model::{KineticIsing, SkParams};
use crate::progress::StopToken;

/// Initial configuration of every trial.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InitArg {
    /// All spins +1.
    Ones,
    /// Each spin +1 or -1 with probability 1/2.
    Random,
}

/// Arguments of `isingscope simulate`.
#[derive(Debug, Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Output: DIR/spikes.npy, shape (R, T+1, N) uint8 0/1 (bin 0 = initial state, bin t = after t updates; 1 = spin +1), DIR/J.csv (N x N raw couplings, row i = receiving neuron), DIR/H.csv (N raw fields).\n\nWith --moments-only no raster is written; instead, averaged over the R trials (spins +1/-1): DIR/m.csv (T rows x N; row t = magnetisations after t+1 steps), DIR/C.csv and DIR/D.csv (after the last step; D[i][l] = <s_i(t) s_l(t-1)> - m_i(t) m_l(t-1), row = later time), and unless --final-only DIR/C_t.npy and DIR/D_t.npy, float64 of shape (T, N, N), index t = after t+1 steps. The same definitions as `forward` and `exact`."
)]
pub struct SimulateArgs {
    /// Number of neurons N (SK network; ignored with --couplings).
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    /// Coupling mean times N: J_ij ~ Normal(J0/N, DJ^2/N).
    #[arg(long, default_value_t = 1.0)]
    pub j0: f64,
    /// Coupling spread DJ (standard deviation times sqrt(N)).
    #[arg(long, default_value_t = 0.5)]
    pub dj: f64,
    /// Field half-width: H_i ~ Uniform[-H0, H0].
    #[arg(long, default_value_t = 0.0)]
    pub h0: f64,
    /// Inverse temperature beta (multiplies H and J).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Number of synchronous updates T per trial.
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Number of independent trials R.
    #[arg(long, default_value_t = 1)]
    pub trials: usize,
    /// Seed of the random number generator (network and spikes).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Initial state of every trial.
    #[arg(long, value_enum, default_value_t = InitArg::Ones)]
    pub init: InitArg,
    /// Simulate these couplings (CSV, N x N, row i = receiving neuron) instead of drawing an SK network.
    #[arg(long)]
    pub couplings: Option<PathBuf>,
    /// Fields H for --couplings (CSV, N values; default all zero).
    #[arg(long, requires = "couplings")]
    pub fields: Option<PathBuf>,
    /// Do not record the raster: count m(t), C(t), D(t) over trials while
    /// simulating and write those (see below).
    #[arg(long)]
    pub moments_only: bool,
    /// With --moments-only: keep C and D of the final step only.
    #[arg(long, requires = "moments_only")]
    pub final_only: bool,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// Read couplings and optional fields, checking that their sizes agree.
pub(crate) fn load_model(
    couplings: &Path,
    fields: Option<&Path>,
    beta: f64,
) -> anyhow::Result<KineticIsing> {
    let j = text::read_square_matrix(couplings)?;
    let h = match fields {
        Some(p) => {
            let h = text::read_vector(p)?;
            if h.len() != j.nrows() {
                bail!(
                    "{}: {} fields, but {} is {} x {}: N must agree",
                    p.display(),
                    h.len(),
                    couplings.display(),
                    j.nrows(),
                    j.ncols()
                );
            }
            h
        }
        None => DVector::zeros(j.nrows()),
    };
    Ok(KineticIsing::new(h, j, beta)?)
}

/// `isingscope simulate`.
pub fn simulate(a: SimulateArgs) -> anyhow::Result<()> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(a.seed);
    if a.couplings.is_none() {
        // J is N x N doubles, drawn and kept alongside the raster.
        ensure_memory(
            &format!("--n {}", a.n),
            crate::io::memory::bytes_of((a.n as u64).saturating_mul(a.n as u64), 16),
            "use a smaller --n",
        )?;
    }
    let model = match &a.couplings {
        Some(jp) => load_model(jp, a.fields.as_deref(), a.beta)?,
        None => SkParams {
            n: a.n,
            j0: a.j0,
            dj: a.dj,
            h0: a.h0,
            beta: a.beta,
        }
        .draw(&mut rng)?,
    };
    if a.trials == 0 {
        bail!("--trials must be at least 1");
    }
    // The raster: R x (T + 1) rows of ceil(N / 64) words.
    let rows = (a.trials as u64).saturating_mul((a.steps as u64).saturating_add(1));
    ensure_memory(
        &format!(
            "--trials {} x --steps {} (N = {})",
            a.trials,
            a.steps,
            model.n()
        ),
        rows.saturating_mul(model.n().div_ceil(64) as u64 * 8),
        "use fewer --trials or --steps",
    )?;
    let outputs = ["spikes.npy", "J.csv", "H.csv"].map(|f| a.out.join(f));
    check_outputs(&outputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    ensure_dir(&a.out)?;
    let opts = SimulationOptions {
        steps: a.steps,
        trials: a.trials,
        init: match a.init {
            InitArg::Ones => InitialState::AllUp,
            InitArg::Random => InitialState::Random,
        },
    };
    if a.moments_only {
        write_simulated_moments(&model, opts, a.final_only, &mut rng, &a.out)?;
        text::write_matrix(&a.out.join("J.csv"), model.j())?;
        text::write_vector(&a.out.join("H.csv"), model.h().as_slice())?;
        return Ok(());
    }
    let bar = CliProgress::new("simulating");
    let raster = run_simulation(&model, &opts, &mut rng, &bar, &StopToken::new())?;
    bar.finish();
    npy::write_raster(&a.out.join("spikes.npy"), &raster)?;
    text::write_matrix(&a.out.join("J.csv"), model.j())?;
    text::write_vector(&a.out.join("H.csv"), model.h().as_slice())?;
    Ok(())
}

/// Arguments of `isingscope stats`.
#[derive(Debug, Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Output: DIR/m.csv (N values), DIR/C.csv (N x N equal-time covariance), DIR/D.csv (N x N delayed covariance, D[i][l] = <s_i(t) s_l(t-1)> - m_i m_l', row = later time), all time-averaged over every bin after the first and over trials, spins +1/-1. With --couplings also DIR/entropy_production.txt: first token the entropy production per step (nats), estimated from the observed transitions."
)]
pub struct StatsArgs {
    /// Raster (.npy, (T, N) or (R, T, N), 0/1 or -1/+1).
    pub raster: PathBuf,
    /// Couplings J (CSV, N x N, row i = receiving neuron) for the entropy production.
    #[arg(long)]
    pub couplings: Option<PathBuf>,
    /// Fields H (CSV, N values; default zero) for the entropy production.
    #[arg(long, requires = "couplings")]
    pub fields: Option<PathBuf>,
    /// Inverse temperature beta for --couplings.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// `isingscope stats`.
pub fn stats(a: StatsArgs) -> anyhow::Result<()> {
    let raster = crate::io::read_raster_file(&a.raster)?;
    let n = raster.n_units() as u64;
    // m, C and D with their accumulators: a few N x N matrices of doubles.
    ensure_memory(
        &format!("the N x N moments of {} (N = {n})", a.raster.display()),
        n.saturating_mul(n).saturating_mul(4 * 8),
        "select fewer units when binning",
    )?;
    let model = match &a.couplings {
        Some(jp) => {
            let model = load_model(jp, a.fields.as_deref(), a.beta)?;
            if model.n() != raster.n_units() {
                bail!(
                    "{}: couplings are for N = {} neurons but {} has {} units",
                    jp.display(),
                    model.n(),
                    a.raster.display(),
                    raster.n_units()
                );
            }
            Some(model)
        }
        None => None,
    };
    let moments =
        time_averaged_moments(&raster).with_context(|| format!("{}", a.raster.display()))?;
    let mut outputs = vec![
        a.out.join("m.csv"),
        a.out.join("C.csv"),
        a.out.join("D.csv"),
    ];
    if model.is_some() {
        outputs.push(a.out.join("entropy_production.txt"));
    }
    check_outputs(&outputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    ensure_dir(&a.out)?;
    text::write_vector(&a.out.join("m.csv"), moments.m.as_slice())?;
    text::write_matrix(&a.out.join("C.csv"), &moments.c)?;
    text::write_matrix(&a.out.join("D.csv"), &moments.d)?;
    if let Some(model) = model {
        let est = estimate_entropy_production(&model, &raster)?;
        let stationary = stationary_entropy_production(&model.effective_j(), &moments.d)?;
        let mut s = String::new();
        writeln!(s, "{} ", est.mean)?;
        writeln!(
            s,
            "# entropy production per step (nats): mean log ratio of forward to reversed transitions over {} transitions; standard error {}",
            est.samples, est.std_error
        )?;
        writeln!(
            s,
            "# stationary form sum_il J_il (D_il - D_li) from the time-averaged D: {stationary}"
        )?;
        write_text(&a.out.join("entropy_production.txt"), &s)?;
    }
    Ok(())
}

/// Arguments of `isingscope exact`.
#[derive(Debug, Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Output: DIR/m.csv (T rows x N; row t = magnetisations after t+1 steps), DIR/C.csv and DIR/D.csv (after the last step; D row = later time), DIR/entropy_production.txt (first token: entropy production of the last step, nats), DIR/entropy_production.csv (one value per step)."
)]
pub struct ExactArgs {
    /// Couplings J (CSV, N x N, row i = receiving neuron j -> i), N <= 12.
    #[arg(long)]
    pub couplings: PathBuf,
    /// Fields H (CSV, N values).
    #[arg(long)]
    pub fields: PathBuf,
    /// Inverse temperature beta (multiplies H and J).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Number of steps T.
    #[arg(long)]
    pub steps: usize,
    /// Initial magnetisations (CSV, N values in [-1, 1]) of a product distribution; default all spins +1.
    #[arg(long)]
    pub m0: Option<PathBuf>,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// `isingscope exact`.
pub fn exact(a: ExactArgs) -> anyhow::Result<()> {
    let model = load_model(&a.couplings, Some(&a.fields), a.beta)?;
    let init = match &a.m0 {
        Some(p) => {
            let m0 = text::read_vector(p)?;
            if m0.len() != model.n() {
                bail!(
                    "{}: {} values, but the network has N = {}",
                    p.display(),
                    m0.len(),
                    model.n()
                );
            }
            ExactInit::Product(m0.iter().copied().collect())
        }
        None => ExactInit::AllUp,
    };
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    // m(t) for every step: T x N doubles, plus one per step.
    ensure_memory(
        &format!("--steps {}", a.steps),
        crate::io::memory::bytes_of(a.steps as u64, (model.n() as u64 + 1) * 8 + 24),
        "use fewer --steps",
    )?;
    let outputs = [
        "m.csv",
        "C.csv",
        "D.csv",
        "entropy_production.csv",
        "entropy_production.txt",
    ]
    .map(|f| a.out.join(f));
    check_outputs(&outputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    let mut ev =
        ExactEvolver::new(&model, &init).with_context(|| format!("{}", a.couplings.display()))?;
    let bar = CliProgress::new("exact evolution");
    let n = model.n();
    let hint = "use fewer --steps";
    let mut m_rows: Vec<Vec<f64>> = crate::io::memory::try_with_capacity("m(t)", a.steps, hint)?;
    let mut sigma: Vec<f64> =
        crate::io::memory::try_with_capacity("entropy production", a.steps, hint)?;
    let mut last = None;
    for t in 0..a.steps {
        let st = ev.step();
        m_rows.push(st.m.iter().copied().collect::<Vec<f64>>());
        sigma.push(st.entropy_production);
        last = Some(st);
        crate::progress::Progress::report(&bar, t as u64 + 1, a.steps as u64);
    }
    bar.finish();
    let Some(last) = last else {
        bail!("no steps were run");
    };
    let hint = format!(
        "the couplings {} or fields {} are too large for double precision (overflow); scale them down",
        a.couplings.display(),
        a.fields.display()
    );
    let hint = hint.as_str();
    ensure_finite("exact m(t)", m_rows.iter().flatten(), hint)?;
    ensure_finite("exact C", last.c.iter(), hint)?;
    ensure_finite("exact D", last.d.iter(), hint)?;
    ensure_finite("exact entropy production", sigma.iter(), hint)?;
    ensure_dir(&a.out)?;
    text::write_rows(&a.out.join("m.csv"), m_rows.iter().map(|r| r.as_slice()))?;
    text::write_matrix(&a.out.join("C.csv"), &last.c)?;
    text::write_matrix(&a.out.join("D.csv"), &last.d)?;
    text::write_vector(&a.out.join("entropy_production.csv"), &sigma)?;
    write_text(
        &a.out.join("entropy_production.txt"),
        &format!(
            "{} \n# exact entropy production of step {} (nats), N = {n}\n",
            last.entropy_production, a.steps
        ),
    )
}
