//! `isingscope forward-compare`: every forward mean-field method against the
//! true dynamics (exact or simulated) over a range of β.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use rand::SeedableRng;

use super::model_cmds::load_model;
use super::progress_bar::CliProgress;
use super::{ensure_dir, write_text};
use crate::io::text;
use crate::meanfield::compare::{
    CompareInit, CompareOptions, MAX_EXACT_N, MethodStatus, Reference, compare_forward,
};
use crate::meanfield::{Method, Quadrature};
use crate::model::SkParams;
use crate::progress::{NoProgress, StopToken};

/// The reference dynamics.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReferenceArg {
    /// The exact 2^N distribution (N <= 12).
    Exact,
    /// --trials simulated trials of the true dynamics.
    Simulation,
}

/// The initial state.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CompareInitArg {
    /// All spins +1 (m0 = 1).
    Ones,
    /// Independent spins +1/-1 with probability 1/2 (m0 = 0).
    Random,
}

/// Arguments of `isingscope forward-compare`.
#[derive(Debug, Args)]
#[command(
    allow_negative_numbers = true,
    after_help = "Network: an SK draw (--n --j0 --dj --h0 --seed, drawn as `simulate` draws it: J_ij ~ Normal(J0/N, DJ^2/N), H_i ~ Uniform[-H0, H0]) or --couplings J.csv [--fields H.csv]. beta multiplies H and J, as in `forward` and `exact`.\n\nEvery method runs --steps T steps from the initial state; so does the reference (exact for N <= 12, else --trials simulated trials seeded with --seed at every beta).\n\nOutput: DIR/errors.csv, header `beta,method,err_m,err_C,err_D,status`, one row per beta and method: squared errors against the reference at step T, averaged over neurons (m), over pairs i != k (C), over all N^2 entries (D); D[i][l] = <s_i(T) s_l(T-1)> - m_i(T) m_l(T-1). `method` as `forward --method` names it; status `ok`, or `diverged` (errors left empty; the step and reason go to stderr). beta is written exactly, so every row can be recomputed from `forward --couplings DIR/J.csv --fields DIR/H.csv --beta B --steps T` and `exact` (or `simulate --moments-only`) with the same options. Also DIR/J.csv, DIR/H.csv (raw network) and DIR/mean_m.csv (header `beta,t,reference,METHOD...`: mean over neurons of m(t), t = 0..T; empty where a method diverged)."
)]
pub struct ForwardCompareArgs {
    /// Number of neurons N of the SK draw.
    #[arg(long, default_value_t = 512)]
    pub n: usize,
    /// Coupling mean times N.
    #[arg(long, default_value_t = 1.0)]
    pub j0: f64,
    /// Coupling spread DJ (standard deviation times sqrt(N)).
    #[arg(long, default_value_t = 0.5)]
    pub dj: f64,
    /// Field half-width H0.
    #[arg(long, default_value_t = 0.5)]
    pub h0: f64,
    /// Seed of the network draw and of the simulated trials.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Couplings J (CSV, N x N, row i = receiving neuron) instead of an SK draw.
    #[arg(long, conflicts_with_all = ["n", "j0", "dj", "h0"])]
    pub couplings: Option<PathBuf>,
    /// Fields H for --couplings (CSV, N values; default zero).
    #[arg(long, requires = "couplings")]
    pub fields: Option<PathBuf>,
    /// One inverse temperature (instead of a sweep).
    #[arg(long, conflicts_with_all = ["beta_from", "beta_to", "points"])]
    pub beta: Option<f64>,
    /// First beta of the sweep.
    #[arg(long, requires_all = ["beta_to", "points"])]
    pub beta_from: Option<f64>,
    /// Last beta of the sweep.
    #[arg(long, requires = "beta_from")]
    pub beta_to: Option<f64>,
    /// Number of evenly spaced beta values from --beta-from to --beta-to.
    #[arg(long, requires = "beta_from")]
    pub points: Option<usize>,
    /// Steps T; errors are taken at step T.
    #[arg(long, default_value_t = 128)]
    pub steps: usize,
    /// Reference dynamics (default: exact for N <= 12, else simulation).
    #[arg(long, value_enum)]
    pub reference: Option<ReferenceArg>,
    /// Simulated trials R of the simulation reference.
    #[arg(long, default_value_t = 1000)]
    pub trials: usize,
    /// Initial state of every method and the reference.
    #[arg(long, value_enum, default_value_t = CompareInitArg::Ones)]
    pub init: CompareInitArg,
    /// Methods to run, comma-separated `forward --method` names (default all).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// The β values of a run: one, or `points` evenly spaced from `from` to `to`.
fn beta_grid(a: &ForwardCompareArgs) -> anyhow::Result<Vec<f64>> {
    let betas = match (a.beta, a.beta_from, a.beta_to, a.points) {
        (Some(b), None, None, None) => vec![b],
        (None, Some(b0), Some(b1), Some(k)) => {
            if k == 0 {
                bail!("--points must be at least 1");
            }
            if k == 1 {
                vec![b0]
            } else {
                (0..k)
                    .map(|i| b0 + (b1 - b0) * i as f64 / (k - 1) as f64)
                    .collect()
            }
        }
        _ => bail!("give --beta B, or --beta-from B0 --beta-to B1 --points K"),
    };
    if let Some(b) = betas.iter().find(|b| !(b.is_finite() && **b >= 0.0)) {
        bail!("beta must be a finite number >= 0, got {b}");
    }
    Ok(betas)
}

/// `isingscope forward-compare`.
pub fn forward_compare(a: ForwardCompareArgs) -> anyhow::Result<()> {
    let betas = beta_grid(&a)?;
    let methods: Vec<Method> = if a.methods.is_empty() {
        Method::ALL.to_vec()
    } else {
        a.methods
            .iter()
            .map(|m| Method::from_name(m))
            .collect::<Result<_, _>>()?
    };
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let base = match &a.couplings {
        Some(jp) => load_model(jp, a.fields.as_deref(), 1.0)?,
        None => {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(a.seed);
            SkParams {
                n: a.n,
                j0: a.j0,
                dj: a.dj,
                h0: a.h0,
                beta: 1.0,
            }
            .draw(&mut rng)?
        }
    };
    let n = base.n();
    let reference = match a.reference {
        Some(ReferenceArg::Exact) => Reference::Exact,
        Some(ReferenceArg::Simulation) => Reference::Simulation {
            trials: a.trials,
            seed: a.seed,
        },
        None if n <= MAX_EXACT_N => Reference::Exact,
        None => Reference::Simulation {
            trials: a.trials,
            seed: a.seed,
        },
    };
    if matches!(reference, Reference::Simulation { trials: 0, .. }) {
        bail!("--trials must be at least 1");
    }
    let opts = CompareOptions {
        steps: a.steps,
        init: match a.init {
            CompareInitArg::Ones => CompareInit::AllUp,
            CompareInitArg::Random => CompareInit::Random,
        },
        reference,
        methods: methods.clone(),
        quadrature: Quadrature::Riemann20,
    };
    ensure_dir(&a.out)?;
    let bar = CliProgress::new("forward-compare");
    let stop = StopToken::new();
    let mut errors = String::from("beta,method,err_m,err_C,err_D,status\n");
    let mut means = String::from("beta,t,reference");
    for m in &methods {
        write!(means, ",{}", m.name())?;
    }
    means.push('\n');
    for (k, &beta) in betas.iter().enumerate() {
        let model = base.with_beta(beta)?;
        let res = compare_forward(&model, &opts, &NoProgress, &stop)
            .with_context(|| format!("beta = {beta}"))?;
        for mc in &res.methods {
            match (&mc.status, &mc.errors) {
                (MethodStatus::Ok, Some(e)) => writeln!(
                    errors,
                    "{beta},{},{:.17e},{:.17e},{:.17e},ok",
                    mc.method.name(),
                    e.m,
                    e.c,
                    e.d
                )?,
                (MethodStatus::Diverged(why), _) => {
                    eprintln!(
                        "warning: {} diverged at beta = {beta} ({why}); its errors are left empty",
                        mc.method.name()
                    );
                    writeln!(errors, "{beta},{},,,,diverged", mc.method.name())?;
                }
                (MethodStatus::Ok, None) => {
                    writeln!(errors, "{beta},{},,,,no result", mc.method.name())?
                }
            }
        }
        for t in 0..=a.steps {
            write!(means, "{beta},{t},{:.17e}", res.reference_mean_m[t])?;
            for mc in &res.methods {
                match &mc.mean_m {
                    Some(mm) => write!(means, ",{:.17e}", mm[t])?,
                    None => means.push(','),
                }
            }
            means.push('\n');
        }
        crate::progress::Progress::report(&bar, k as u64 + 1, betas.len() as u64);
    }
    bar.finish();
    text::write_matrix(&a.out.join("J.csv"), base.j())?;
    text::write_vector(&a.out.join("H.csv"), base.h().as_slice())?;
    write_text(&a.out.join("mean_m.csv"), &means)?;
    write_text(&a.out.join("errors.csv"), &errors)
}
