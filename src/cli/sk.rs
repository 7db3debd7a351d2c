//! Subcommands of the exact SK theory: `sk-theory` (stationary quantities
//! along a β sweep) and `sk-critical` (the critical line β_c(ΔJ)).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use clap::Args;

use super::ensure_dir;
use crate::sk_theory::{SkPoint, critical_beta, solve_stationary_near};

/// Arguments of `isingscope sk-theory`.
#[derive(Debug, Args)]
#[command(
    after_help = "Output: CSV with header beta,m,q,q_minus_m2,sigma_per_n,s_per_n,sr_per_n and one row per beta (N -> infinity stationary state: magnetisation m >= 0, one-step self-overlap q, q - m^2, entropy production per spin and step sigma/N, conditional entropy S/N and time-reversed cross-entropy S_r/N, in nats)."
)]
pub struct SkTheoryArgs {
    /// Mean coupling times N: J_ij ~ Normal(J0/N, DJ^2/N).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub j0: f64,
    /// Coupling spread DJ (standard deviation times sqrt(N)), >= 0.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub dj: f64,
    /// Field half-width: H_i ~ Uniform[-H0, H0], >= 0.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub h0: f64,
    /// First inverse temperature of the sweep (>= 0).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub beta_from: f64,
    /// Last inverse temperature of the sweep (>= 0).
    #[arg(long, default_value_t = 4.0, allow_negative_numbers = true)]
    pub beta_to: f64,
    /// Number of equally spaced beta values K (>= 1).
    #[arg(long, default_value_t = 101)]
    pub points: usize,
    /// Output CSV file.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Arguments of `isingscope sk-critical`.
#[derive(Debug, Args)]
#[command(
    after_help = "Output: CSV with header dj,beta_c and one row per DJ; beta_c is empty where there is no order/disorder transition (DJ >= sqrt(2/pi) J0 for H0 = 0; (J0/H0)(2 Phi(H0/DJ) - 1) <= 1 for H0 > 0, e.g. H0 >= J0)."
)]
pub struct SkCriticalArgs {
    /// Mean coupling times N.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub j0: f64,
    /// Field half-width H0 (>= 0).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub h0: f64,
    /// First coupling spread DJ (>= 0).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub dj_from: f64,
    /// Last coupling spread DJ (>= 0).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub dj_to: f64,
    /// Number of equally spaced DJ values K (>= 1).
    #[arg(long, default_value_t = 101)]
    pub points: usize,
    /// Output CSV file.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// `K` equally spaced values from `from` to `to` (just `from` if K = 1).
fn linspace(from: f64, to: f64, points: usize) -> impl Iterator<Item = f64> {
    (0..points).map(move |i| {
        if points == 1 {
            from
        } else {
            from + (to - from) * i as f64 / (points - 1) as f64
        }
    })
}

/// Check that every named value is finite and, for the `nonneg` ones, >= 0.
fn check(finite: &[(&str, f64)], nonneg: &[&str], points: usize) -> anyhow::Result<()> {
    if points == 0 {
        bail!("--points must be at least 1");
    }
    for &(name, v) in finite {
        if !v.is_finite() {
            bail!("--{name} must be a finite number, got {v}");
        }
        if nonneg.contains(&name) && v < 0.0 {
            bail!("--{name} must be >= 0, got {v}");
        }
    }
    Ok(())
}

/// Write `text` to `path`, creating the parent directory.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_dir(dir)?;
    }
    super::write_text(path, text)
}

/// `isingscope sk-theory`.
pub fn sk_theory(a: SkTheoryArgs) -> anyhow::Result<()> {
    check(
        &[
            ("j0", a.j0),
            ("dj", a.dj),
            ("h0", a.h0),
            ("beta-from", a.beta_from),
            ("beta-to", a.beta_to),
        ],
        &["dj", "h0", "beta-from", "beta-to"],
        a.points,
    )?;
    let mut csv = String::from("beta,m,q,q_minus_m2,sigma_per_n,s_per_n,sr_per_n\n");
    let mut prev = None;
    for beta in linspace(a.beta_from, a.beta_to, a.points) {
        let p = SkPoint {
            beta,
            j0: a.j0,
            dj: a.dj,
            h0: a.h0,
        };
        let s = solve_stationary_near(&p, prev.as_ref())
            .with_context(|| format!("SK theory at beta = {beta}"))?;
        writeln!(
            csv,
            "{beta},{},{},{},{},{},{}",
            s.m,
            s.q,
            s.q_minus_m2(),
            s.sigma_per_n,
            s.s_per_n,
            s.sr_per_n
        )?;
        prev = Some(s);
    }
    write_file(&a.out, &csv)
}

/// `isingscope sk-critical`.
pub fn sk_critical(a: SkCriticalArgs) -> anyhow::Result<()> {
    check(
        &[
            ("j0", a.j0),
            ("h0", a.h0),
            ("dj-from", a.dj_from),
            ("dj-to", a.dj_to),
        ],
        &["h0", "dj-from", "dj-to"],
        a.points,
    )?;
    let mut csv = String::from("dj,beta_c\n");
    for dj in linspace(a.dj_from, a.dj_to, a.points) {
        match critical_beta(a.j0, dj, a.h0) {
            Some(b) => writeln!(csv, "{dj},{b}")?,
            None => writeln!(csv, "{dj},")?,
        }
    }
    write_file(&a.out, &csv)
}
