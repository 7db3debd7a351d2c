//! `isingscope forward`: a Plefka mean-field forward run.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};
use nalgebra::DVector;

use super::model_cmds::load_model;
use super::progress_bar::CliProgress;
use super::{check_outputs, ensure_dir, ensure_finite, ensure_memory, write_text};
use crate::io::text;
use crate::meanfield::{ForwardOptions, Method, Quadrature, forward as run_forward};
use crate::progress::StopToken;

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
    // m(t) for every step (T + 1 vectors of N doubles) and the summary rows.
    ensure_memory(
        &format!("--steps {}", a.steps),
        crate::io::memory::bytes_of(a.steps as u64 + 1, (n as u64 + 8) * 8),
        "use fewer --steps",
    )?;
    let outputs = ["m.csv", "C.csv", "D.csv", "summary.csv"].map(|f| a.out.join(f));
    check_outputs(&outputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
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
    let hint = format!(
        "the couplings {} or fields are too large for double precision (overflow); scale them down",
        a.couplings.display()
    );
    let hint = hint.as_str();
    ensure_finite(
        &format!("{method} m(t)"),
        res.m.iter().flat_map(|m| m.iter()),
        hint,
    )?;
    ensure_finite(
        &format!("{method} entropy production"),
        res.summary.iter().map(|r| &r.entropy_production),
        hint,
    )?;
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
