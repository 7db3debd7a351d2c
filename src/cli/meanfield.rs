//! Subcommands of the mean-field and fitting part: `forward`, `fit`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use nalgebra::DVector;

use super::ensure_dir;
use super::model_cmds::load_model;
use super::progress_bar::CliProgress;
use crate::fit::MlFit;
use crate::io::{npy, text};
use crate::meanfield::inverse::{MomentMatching, MomentTargets};
use crate::meanfield::{ForwardOptions, Method, Quadrature, forward as run_forward};
use crate::progress::{FitInfo, StopToken};

/// Rule for the Gaussian integrals of Plefka[t-1].
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum QuadratureArg {
    /// The published code's 20-point Riemann sum on [-4, 4] (reproduces its numbers).
    Riemann20,
    /// Gauss-Hermite with --gh-nodes nodes (accurate).
    GaussHermite,
}

/// Arguments of `isingscope forward`.
#[derive(Debug, Args)]
#[command(
    after_help = "Methods: plefka-t1-t-o1 (alias nmf), plefka-t1-t-o2 (alias tap), plefka-t-o1, plefka-t-o2, plefka-t1-o1, plefka2-t-o1, plefka2-t-o2.\n\nOutput: DIR/m.csv (T rows x N; row t = magnetisations after t+1 steps), DIR/C.csv and DIR/D.csv (after the last step; D[i][l] = <s_i(t) s_l(t-1)> - m_i(t) m_l(t-1), row = later time), DIR/summary.csv (header line, then one row per step t = 0..T, row 0 = the initial state: t, mean_m, mean_C_offdiag (mean over i != k), mean_C_all (all N^2 entries), mean_D (all N^2 entries), sigma = sum_il J_il (D_il - D_li) with the effective J = beta J, nats per step).\n\nA run that diverges (non-finite values or |C_ik| > 1) stops with an error naming the step; nothing is written."
)]
pub struct ForwardArgs {
    /// Mean-field method (see below).
    #[arg(long)]
    pub method: String,
    /// Couplings J (CSV, N x N, row i = receiving neuron: J[i][j] from j at t-1 to i at t).
    #[arg(long)]
    pub couplings: PathBuf,
    /// Fields H (CSV, N values; default zero).
    #[arg(long)]
    pub fields: Option<PathBuf>,
    /// Inverse temperature beta (multiplies H and J).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Initial magnetisations m0 (CSV, N values in [-1, 1]); default all +1.
    #[arg(long)]
    pub m0: Option<PathBuf>,
    /// Number of steps T.
    #[arg(long)]
    pub steps: usize,
    /// Gaussian quadrature (Plefka[t-1] only).
    #[arg(long, value_enum, default_value_t = QuadratureArg::Riemann20)]
    pub quadrature: QuadratureArg,
    /// Nodes of the Gauss-Hermite rule.
    #[arg(long, default_value_t = 20)]
    pub gh_nodes: usize,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// `isingscope forward`.
pub fn forward(a: ForwardArgs) -> anyhow::Result<()> {
    let method = Method::from_name(&a.method)?;
    let model = load_model(&a.couplings, a.fields.as_deref(), a.beta)?;
    let n = model.n();
    let m0 = match &a.m0 {
        Some(p) => {
            let m0 = text::read_vector(p)?;
            if m0.len() != n {
                bail!(
                    "{}: {} values, but {} is {n} x {n}: N must agree",
                    p.display(),
                    m0.len(),
                    a.couplings.display()
                );
            }
            m0
        }
        None => DVector::from_element(n, 1.0),
    };
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let opts = ForwardOptions {
        steps: a.steps,
        quadrature: match a.quadrature {
            QuadratureArg::Riemann20 => Quadrature::Riemann20,
            QuadratureArg::GaussHermite => Quadrature::GaussHermite(a.gh_nodes),
        },
        snapshots: Vec::new(),
    };
    let bar = CliProgress::new(format!("{method} forward"));
    let res = run_forward(method, &model, &m0, &opts, &bar, &StopToken::new())?;
    bar.finish();
    let Some(last) = res.last() else {
        bail!("no steps were run");
    };
    ensure_dir(&a.out)?;
    text::write_rows(
        &a.out.join("m.csv"),
        res.m.iter().skip(1).map(|m| m.as_slice()),
    )?;
    text::write_matrix(&a.out.join("C.csv"), &last.c)?;
    text::write_matrix(&a.out.join("D.csv"), &last.d)?;
    let mut s = String::from("t,mean_m,mean_C_offdiag,mean_C_all,mean_D,sigma\n");
    for r in &res.summary {
        writeln!(
            s,
            "{},{:.17e},{:.17e},{:.17e},{:.17e},{:.17e}",
            r.step, r.mean_m, r.mean_c_offdiag, r.mean_c_all, r.mean_d, r.entropy_production
        )?;
    }
    write_text(&a.out.join("summary.csv"), &s)
}

/// Arguments of `isingscope fit`.
#[derive(Debug, Args)]
#[command(
    after_help = "Methods: ml (exact maximum likelihood of every transition, N independent convex problems), or a mean-field method (plefka-t1-t-o1/nmf, plefka-t1-t-o2/tap, plefka-t-o1, plefka-t-o2, plefka-t1-o1, plefka2-t-o1, plefka2-t-o2) fitted by moment matching.\n\nMoment matching treats the raster as stationary: the targets m(t), D(t) are averaged over every transition t-1 -> t with t >= 2 (all trials), the 'previous' m(t-1), C(t-1), D(t-1) over the transitions one bin earlier (spec section 3.1 with time averages). Cut transients off the raster first if it does not start stationary.\n\nOutput: DIR/J.csv (N x N, row i = receiving neuron), DIR/H.csv (N values) -- raw values, i.e. the fitted effective parameters divided by --beta; DIR/fit_info.csv: a '#' line with the method, iterations and why it stopped, a header 'iteration,objective', one row per iteration (ml: penalised log-likelihood per transition; moment matching: max of the mean squared m and D errors)."
)]
pub struct FitArgs {
    /// Raster (.npy, (T, N) or (R, T, N), 0/1 or -1/+1).
    pub raster: PathBuf,
    /// `ml` or a mean-field method.
    #[arg(long, default_value = "ml")]
    pub method: String,
    /// L2 penalty on the couplings (ml only; per transition).
    #[arg(long)]
    pub l2: Option<f64>,
    /// Inverse temperature: the fitted effective parameters are divided by it.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Iteration cap (default 200 data passes for ml, 10000 for moment matching).
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// `isingscope fit`.
pub fn fit(a: FitArgs) -> anyhow::Result<()> {
    if !(a.beta.is_finite() && a.beta > 0.0) {
        bail!("--beta must be a positive number, got {}", a.beta);
    }
    let is_ml = a.method.trim().eq_ignore_ascii_case("ml");
    let method = if is_ml {
        None
    } else {
        Some(Method::from_name(&a.method)?)
    };
    if a.l2.is_some() && !is_ml {
        bail!("--l2 applies to --method ml only");
    }
    let raster = npy::read_raster(&a.raster)?;
    let ctx = || format!("{}", a.raster.display());
    let (h, j, info, label) = match method {
        None => {
            let mut params = MlFit {
                l2: a.l2.unwrap_or(0.0),
                ..Default::default()
            };
            if let Some(m) = a.max_iter {
                params.max_iter = m;
            }
            let bar = CliProgress::new("maximum likelihood");
            let est = params
                .validate()?
                .fit(&raster, &bar, &StopToken::new())
                .with_context(ctx)?;
            bar.finish();
            (est.h, est.j, est.info, "ml".to_string())
        }
        Some(method) => {
            let targets = MomentTargets::from_raster(&raster).with_context(ctx)?;
            let mut params = MomentMatching::default();
            if let Some(m) = a.max_iter {
                params.max_iter = m;
            }
            let bar = CliProgress::new(format!("{method} moment matching"));
            let fit = params
                .validate()?
                .fit(method, &targets, &bar, &StopToken::new())
                .with_context(ctx)?;
            bar.finish();
            (fit.h, fit.j, fit.info, method.name().to_string())
        }
    };
    ensure_dir(&a.out)?;
    text::write_matrix(&a.out.join("J.csv"), &(j / a.beta))?;
    text::write_vector(&a.out.join("H.csv"), (h / a.beta).as_slice())?;
    write_text(&a.out.join("fit_info.csv"), &fit_info_csv(&label, &info))
}

/// `fit_info.csv` text (see `fit --help`).
fn fit_info_csv(method: &str, info: &FitInfo) -> String {
    let mut s = format!(
        "# method: {method}; objective: {}; iterations: {}; stopped: {}\niteration,objective\n",
        info.objective_name, info.iterations, info.reason
    );
    for (k, v) in info.objective.iter().enumerate() {
        let _ = writeln!(s, "{},{v:.17e}", k + 1);
    }
    s
}

fn write_text(p: &Path, s: &str) -> anyhow::Result<()> {
    std::fs::write(p, s).with_context(|| format!("cannot write {}", p.display()))
}
