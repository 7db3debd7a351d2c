//! `isingscope fit`: exact maximum likelihood or mean-field moment matching
//! of (H, J) to a raster.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use super::progress_bar::CliProgress;
use super::{ensure_dir, write_text};
use crate::fit::MlFit;
use crate::io::text;
use crate::meanfield::Method;
use crate::meanfield::inverse::{MomentMatching, MomentTargets};
use crate::progress::{FitInfo, StopToken};

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
    let raster = crate::io::read_raster_file(&a.raster)?;
    let n = raster.n_units() as u64;
    // J, its gradient and curvature: a few N x N matrices of doubles.
    super::ensure_memory(
        &format!(
            "fitting the N x N couplings of {} (N = {n})",
            a.raster.display()
        ),
        n.saturating_mul(n).saturating_mul(4 * 8),
        "select fewer units when binning",
    )?;
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
    let outputs = ["J.csv", "H.csv", "fit_info.csv"].map(|f| a.out.join(f));
    super::check_outputs(&outputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
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
