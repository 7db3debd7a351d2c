//! `isingscope fit`: exact maximum likelihood or mean-field moment matching
//! of (H, J) to a raster.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use super::progress_bar::CliProgress;
use super::{ensure_dir, write_text};
use crate::fit::MlFit;
use crate::fit::check::{self, CheckOptions, Holdout};
use crate::fit::cv::{CvOptions, cross_validate_l2};
use crate::fit::{significance, standard_errors, surrogate};
use crate::io::text;
use crate::meanfield::Method;
use crate::meanfield::inverse::{MomentMatching, MomentTargets};
use crate::progress::{FitInfo, StopToken};
use crate::spikes::SpikeRaster;
use nalgebra::{DMatrix, DVector};

/// Arguments of `isingscope fit`.
#[derive(Debug, Args)]
#[command(
    after_help = "Methods: ml (exact maximum likelihood of every transition, N independent convex problems), or a mean-field method (plefka-t1-t-o1/nmf, plefka-t1-t-o2/tap, plefka-t-o1, plefka-t-o2, plefka-t1-o1, plefka2-t-o1, plefka2-t-o2) fitted by moment matching.\n\nMoment matching treats the raster as stationary: the targets m(t), D(t) are averaged over every transition t-1 -> t with t >= 2 (all trials), the 'previous' m(t-1), C(t-1), D(t-1) over the transitions one bin earlier (spec section 3.1 with time averages). Cut transients off the raster first if it does not start stationary.\n\nOutput: DIR/J.csv (N x N, row i = receiving neuron), DIR/H.csv (N values) -- raw values, i.e. the fitted effective parameters divided by --beta; DIR/fit_info.csv: a '#' line with the method, iterations and why it stopped, a header 'iteration,objective', one row per iteration (ml: penalised log-likelihood per transition; moment matching: max of the mean squared m and D errors).\n\nChecks (every method): DIR/model_check.csv: a first line '# multistable: yes|no; ...', the header 'moment,i,j,observed,predicted,observed_se' and one row per m_i (j empty), C_ij (i < j) and D_ij; 'predicted' comes from simulating the fitted model from the data's own states (one simulated trial per observed trial, started from its first bin; or 64 segments started at evenly spaced bins of a single recording), 'observed_se' from the spread over groups of trials or blocks of bins. Free runs from 8 random states are compared with it; when one differs (some |dm| > 0.1) the model is multistable and a 'warning: model check:' line says so; another such line says when the data-started simulation does not reproduce the data (m of at least 1 % of the units, or C of at least 1 % of the pairs, off by more than 5 combined standard errors: typically synchrony from shared input, which the model cannot represent). DIR/ll_gain.csv: per unit, the one-step-ahead log-likelihood of the fit and of the independent (rate-only) model (nats per bin) and the gain (nats per bin, bits per spike), on held-out data with --holdout, else in-sample. A fit that stops at its iteration cap or whose log-likelihood is below the independent model's prints one 'warning:' line naming the method and the reason.\n\nml only: DIR/J_se.csv (N x N) and DIR/H_se.csv: standard errors from the observed Fisher information (each neuron's Hessian at the optimum, inverted; with --l2 > 0 the penalised Hessian), raw units (divided by --beta). --fdr Q: DIR/J_significant.csv (0/1, N x N): Benjamini-Hochberg at false-discovery rate Q over all N x N couplings of z = J/se (two-sided normal p-values). --l2 cv: k-fold cross-validation (--folds, default 5; whole trials, or contiguous blocks of a single recording) over a log grid of 8 values (L2 x transitions from 1 to 10^4), warm-started; DIR/cv.csv (header 'l2,heldout_loglik,se'; log-likelihood per bin per neuron, nats) and the chosen value in fit_info.csv's '#' line.\n\n--holdout trials|block: fit on the rest and check on the held-out part (trials: every 5th whole trial; block: the last --holdout-fraction of the bins). Default none: fit on everything, checks in-sample.\n\nReliability (ml only). --surrogate shuffle: refit on a surrogate with the couplings destroyed -- each unit's trials permuted independently (its PSTH is kept exactly), or, for a single recording, each unit's train shifted circularly by its own random offset of T/10..9T/10 bins (rates kept) -- seeded by --seed; DIR/surrogate.csv: a '#' line saying how the surrogate was made, the header 'q,significant_data,significant_surrogate,n_tested' and one row: the off-diagonal couplings passing Benjamini-Hochberg at q (--fdr, default 0.05) in the data fit and in the surrogate fit, of n_tested = N(N-1) (self-couplings describe a unit's own history, which the surrogate keeps); the same line on stderr. --split-half: fit the even and the odd trials (or the first and second half of the bins) separately; DIR/split_half.csv: a '# correlation: r; ...' line, the header 'i,j,J_half1,J_half2' and one row per off-diagonal pair (raw units); r on stderr.\n\nDIR/units.csv (column,unit_id,label) is written when a units.csv (as 'bin' writes it) lies beside the raster."
)]
pub struct FitArgs {
    /// Raster (.npy, (T, N) or (R, T, N), 0/1 or -1/+1).
    pub raster: PathBuf,
    /// `ml` or a mean-field method.
    #[arg(long, default_value = "ml")]
    pub method: String,
    /// L2 penalty on the couplings (ml only; per transition), or `cv` to
    /// choose it by cross-validation.
    #[arg(long)]
    pub l2: Option<String>,
    /// Inverse temperature: the fitted effective parameters are divided by it.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Iteration cap (default 200 data passes for ml, 10000 for moment matching).
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Shard options (ml only): rows A..B of J.csv and H.csv, fit_info.csv, shard_manifest.ron.
    #[command(flatten)]
    pub shard: super::shard::ShardArgs,
    // --- issue 13: checks, standard errors, significance, CV ---
    /// Benjamini-Hochberg false-discovery rate for DIR/J_significant.csv (ml only).
    #[arg(long)]
    pub fdr: Option<f64>,
    /// Folds of `--l2 cv`.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Hold out `trials` (every 5th whole trial) or a `block` (last bins) for the checks; `none` fits on everything.
    #[arg(long, default_value = "none")]
    pub holdout: String,
    /// Fraction of bins held out by `--holdout block`.
    #[arg(long, default_value_t = 0.2)]
    pub holdout_fraction: f64,
    /// `shuffle`: refit on a surrogate with the couplings destroyed (trials permuted per unit, or circular shifts) and write DIR/surrogate.csv (ml only).
    #[arg(long)]
    pub surrogate: Option<String>,
    /// Seed of the --surrogate shuffle.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fit two halves of the data (even/odd trials, or first/second half of the bins) and write DIR/split_half.csv (ml only).
    #[arg(long)]
    pub split_half: bool,
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
    if a.fdr.is_some() && !is_ml {
        bail!("--fdr applies to --method ml only (mean-field fits have no standard errors)");
    }
    if let Some(q) = a.fdr
        && !(q > 0.0 && q < 1.0)
    {
        bail!("--fdr must lie in (0, 1), got {q}");
    }
    if let Some(kind) = &a.surrogate {
        let k = kind.trim().to_ascii_lowercase();
        if k != "shuffle" && k != "shuffle-trials" {
            bail!("--surrogate must be 'shuffle', got '{kind}'");
        }
    }
    if (a.surrogate.is_some() || a.split_half) && !is_ml {
        bail!("--surrogate and --split-half apply to --method ml only");
    }
    let l2 = match a.l2.as_deref().map(str::trim) {
        None => L2Choice::Fixed(0.0),
        Some(x) if x.eq_ignore_ascii_case("cv") => L2Choice::Cv,
        Some(x) => match x.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => L2Choice::Fixed(v),
            _ => bail!("--l2 must be a number >= 0 or 'cv', got '{x}'"),
        },
    };
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
    if a.shard.is_set() {
        if !is_ml {
            bail!("--neurons/--shard apply to --method ml only");
        }
        let L2Choice::Fixed(l2) = l2 else {
            bail!("--l2 cv needs every neuron; choose --l2 first, then shard");
        };
        if a.fdr.is_some()
            || a.surrogate.is_some()
            || a.split_half
            || !a.holdout.trim().eq_ignore_ascii_case("none")
        {
            bail!(
                "--fdr, --holdout, --surrogate and --split-half need every neuron; shards write J and H only (run the checks on the merged fit)"
            );
        }
        return fit_ml_shard(&a, l2, &raster);
    }
    let ctx = || format!("{}", a.raster.display());
    let holdout = match a.holdout.trim().to_ascii_lowercase().as_str() {
        "none" => Holdout::None,
        "trials" => Holdout::Trials { every: 5 },
        "block" => Holdout::Block {
            fraction: a.holdout_fraction,
        },
        other => bail!("--holdout must be none, trials or block, got '{other}'"),
    };
    let parts = check::split(&raster, holdout).with_context(ctx)?;
    let train = &parts.train;
    let mut cv_result = None;
    let (h, j, info, label, used_l2) = match method {
        None => {
            let lambda = match l2 {
                L2Choice::Fixed(v) => v,
                L2Choice::Cv => {
                    let mut opts = CvOptions {
                        folds: a.folds,
                        ..Default::default()
                    };
                    if let Some(m) = a.max_iter {
                        opts.fit.max_iter = m;
                    }
                    let bar = CliProgress::new("cross-validating L2");
                    let cv = cross_validate_l2(train, &opts, &bar, &StopToken::new())
                        .with_context(ctx)?;
                    bar.finish();
                    let v = cv.chosen_l2();
                    cv_result = Some(cv);
                    v
                }
            };
            let mut params = MlFit {
                l2: lambda,
                ..Default::default()
            };
            if let Some(m) = a.max_iter {
                params.max_iter = m;
            }
            let bar = CliProgress::new("maximum likelihood");
            let est = params
                .validate()?
                .fit(train, &bar, &StopToken::new())
                .with_context(ctx)?;
            bar.finish();
            (est.h, est.j, est.info, "ml".to_string(), Some(lambda))
        }
        Some(method) => {
            let targets = MomentTargets::from_raster(train).with_context(ctx)?;
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
            (fit.h, fit.j, fit.info, method.name().to_string(), None)
        }
    };
    // Every file this command may write is checked before any is written.
    let outputs = [
        "J.csv",
        "H.csv",
        "fit_info.csv",
        "J_se.csv",
        "H_se.csv",
        "J_significant.csv",
        "units.csv",
        "cv.csv",
        "ll_gain.csv",
        "model_check.csv",
        "surrogate.csv",
        "split_half.csv",
    ]
    .map(|f| a.out.join(f));
    super::check_outputs(&outputs.iter().map(PathBuf::as_path).collect::<Vec<_>>())?;
    ensure_dir(&a.out)?;
    text::write_matrix(&a.out.join("J.csv"), &(&j / a.beta))?;
    text::write_vector(&a.out.join("H.csv"), (&h / a.beta).as_slice())?;
    let mut head = format!("method: {label}");
    if let Some(v) = used_l2 {
        let _ = write!(head, "; l2: {v:e}");
        if let Some(cv) = &cv_result {
            let _ = write!(
                head,
                " (chosen by {}-fold cross-validation over {})",
                cv.folds, cv.unit
            );
        }
    }
    write_text(&a.out.join("fit_info.csv"), &fit_info_csv(&head, &info))?;
    let se_j = write_checks(
        &a,
        &raster,
        &parts,
        &h,
        &j,
        &info,
        &label,
        method.is_some(),
        used_l2,
    )?;
    if let Some(l2) = used_l2 {
        write_reliability(&a, train, &j, se_j.as_ref(), l2)?;
    }
    if let Some(cv) = &cv_result {
        let mut s = String::from("l2,heldout_loglik,se\n");
        for k in 0..cv.l2.len() {
            let _ = writeln!(
                s,
                "{:e},{:.17e},{:.17e}",
                cv.l2[k], cv.heldout_loglik[k], cv.se[k]
            );
        }
        write_text(&a.out.join("cv.csv"), &s)?;
    }
    copy_units(&a)?;
    Ok(())
}

/// `--l2`: a value or cross-validation.
enum L2Choice {
    Fixed(f64),
    Cv,
}

/// Standard errors, significance, log-likelihood gain, the data-started
/// model check and the failure warning (issue 13). Returns the standard
/// errors of the effective J when they were computed.
#[allow(clippy::too_many_arguments)]
fn write_checks(
    a: &FitArgs,
    raster: &SpikeRaster,
    parts: &check::Split,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    info: &FitInfo,
    label: &str,
    moment_matching: bool,
    l2: Option<f64>,
) -> anyhow::Result<Option<DMatrix<f64>>> {
    let ctx = || format!("{}", a.raster.display());
    let mut se_j = None;
    if let Some(l2) = l2 {
        match standard_errors(&parts.train, h, j, l2) {
            Ok(se) => {
                text::write_matrix(&a.out.join("J_se.csv"), &(&se.j / a.beta))?;
                text::write_vector(&a.out.join("H_se.csv"), (&se.h / a.beta).as_slice())?;
                if let Some(q) = a.fdr {
                    let sig = significance(j, &se.j, q)?;
                    let m = sig.significant.map(|b| f64::from(u8::from(b)));
                    let mut s = String::new();
                    for i in 0..m.nrows() {
                        let row: Vec<String> = m.row(i).iter().map(|v| format!("{v}")).collect();
                        let _ = writeln!(s, "{}", row.join(","));
                    }
                    write_text(&a.out.join("J_significant.csv"), &s)?;
                }
                se_j = Some(se.j);
            }
            Err(e) => eprintln!("warning: standard errors not written: {e}"),
        }
    }
    let h_ind = check::independent_fields(&parts.train);
    let gain = match &parts.test {
        Some(test) => check::ll_gain(test, h, j, &h_ind, true),
        None => check::ll_gain(raster, h, j, &h_ind, false),
    }
    .with_context(ctx)?;
    let method_name = if moment_matching {
        format!("{label} moment matching")
    } else {
        "maximum likelihood".to_string()
    };
    if let Some(w) = check::assess_fit(&method_name, moment_matching, info, Some(&gain)) {
        eprintln!("warning: {w}");
    }
    let mut s = format!(
        "# {}; {} transitions; mean gain {:.6e} nats per bin per unit\ncolumn,model_loglik,independent_loglik,gain_nats_per_bin,gain_bits_per_spike\n",
        parts.description,
        gain.transitions,
        gain.mean_nats_per_bin()
    );
    for i in 0..gain.model.len() {
        let _ = writeln!(
            s,
            "{i},{:.17e},{:.17e},{:.17e},{:.17e}",
            gain.model[i], gain.independent[i], gain.nats_per_bin[i], gain.bits_per_spike[i]
        );
    }
    write_text(&a.out.join("ll_gain.csv"), &s)?;
    let mc = check::model_check(raster, h, j, &CheckOptions::default(), &StopToken::new())
        .with_context(ctx)?;
    if mc.multistable {
        eprintln!("warning: model check: {}", mc.multistability_message());
    }
    if let Some(m) = mc.moments_message() {
        eprintln!("warning: model check: {m}");
    }
    write_text(&a.out.join("model_check.csv"), &model_check_csv(&mc))?;
    Ok(se_j)
}

/// `--surrogate` and `--split-half` on the training transitions, with the
/// data fit's L2 (see `fit --help`).
fn write_reliability(
    a: &FitArgs,
    train: &SpikeRaster,
    j: &DMatrix<f64>,
    se_j: Option<&DMatrix<f64>>,
    l2: f64,
) -> anyhow::Result<()> {
    let ctx = || format!("{}", a.raster.display());
    let mut fit = MlFit {
        l2,
        ..Default::default()
    };
    if let Some(m) = a.max_iter {
        fit.max_iter = m;
    }
    if a.surrogate.is_some() {
        let Some(se_j) = se_j else {
            bail!(
                "--surrogate needs the standard errors of the data fit, which could not be computed (see the warning above)"
            );
        };
        let opts = surrogate::SurrogateOptions {
            q: a.fdr.unwrap_or(0.05),
            seed: a.seed,
            fit: fit.clone(),
        };
        let bar = CliProgress::new("surrogate fit");
        let c = surrogate::surrogate_check(train, j, se_j, &opts, &bar, &StopToken::new())
            .with_context(ctx)?;
        bar.finish();
        eprintln!("surrogate: {}", c.summary());
        write_text(
            &a.out.join("surrogate.csv"),
            &format!(
                "# {}\nq,significant_data,significant_surrogate,n_tested\n{},{},{},{}\n",
                c.description, c.q, c.significant_data, c.significant_surrogate, c.n_tested
            ),
        )?;
    }
    if a.split_half {
        let bar = CliProgress::new("split-half fits");
        let sh = surrogate::split_half(train, &fit.validate()?, &bar, &StopToken::new())
            .with_context(ctx)?;
        bar.finish();
        eprintln!(
            "split-half: correlation of the off-diagonal couplings r = {:.4} ({})",
            sh.correlation, sh.description
        );
        let mut s = format!(
            "# correlation: {:.6}; {}\ni,j,J_half1,J_half2\n",
            sh.correlation, sh.description
        );
        let n = sh.j_a.nrows();
        for i in 0..n {
            for k in (0..n).filter(|&k| k != i) {
                let _ = writeln!(
                    s,
                    "{i},{k},{:.17e},{:.17e}",
                    sh.j_a[(i, k)] / a.beta,
                    sh.j_b[(i, k)] / a.beta
                );
            }
        }
        write_text(&a.out.join("split_half.csv"), &s)?;
    }
    Ok(())
}

/// `model_check.csv` text (see `fit --help`).
fn model_check_csv(mc: &check::ModelCheck) -> String {
    let mut s = format!(
        "# multistable: {}; {}; {}\nmoment,i,j,observed,predicted,observed_se\n",
        if mc.multistable { "yes" } else { "no" },
        mc.multistability_message(),
        mc.description
    );
    let (o, p, e) = (&mc.observed, &mc.predicted, &mc.observed_se);
    let n = o.m.len();
    for i in 0..n {
        let _ = writeln!(s, "m,{i},,{:.10e},{:.10e},{:.10e}", o.m[i], p.m[i], e.m[i]);
    }
    for i in 0..n {
        for k in i + 1..n {
            let _ = writeln!(
                s,
                "C,{i},{k},{:.10e},{:.10e},{:.10e}",
                o.c[(i, k)],
                p.c[(i, k)],
                e.c[(i, k)]
            );
        }
    }
    for i in 0..n {
        for k in 0..n {
            let _ = writeln!(
                s,
                "D,{i},{k},{:.10e},{:.10e},{:.10e}",
                o.d[(i, k)],
                p.d[(i, k)],
                e.d[(i, k)]
            );
        }
    }
    s
}

/// Copy `column,unit_id,label` from a `units.csv` beside the raster (as
/// `bin` writes it) to DIR/units.csv, so that rows of J carry unit ids.
fn copy_units(a: &FitArgs) -> anyhow::Result<()> {
    let Some(dir) = a.raster.parent() else {
        return Ok(());
    };
    let src = dir.join("units.csv");
    if !src.is_file() {
        return Ok(());
    }
    let text =
        std::fs::read_to_string(&src).with_context(|| format!("cannot read {}", src.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(ci), Some(ui)) = (col("column"), col("unit_id")) else {
        eprintln!(
            "warning: {} has no 'column' and 'unit_id' columns; units.csv not written",
            src.display()
        );
        return Ok(());
    };
    let li = col("label");
    let mut s = String::from("column,unit_id,label\n");
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |k: usize| f.get(k).copied().unwrap_or("");
        let _ = writeln!(s, "{},{},{}", get(ci), get(ui), li.map_or("", get));
    }
    write_text(&a.out.join("units.csv"), &s)
}

/// `fit_info.csv` text (see `fit --help`).
fn fit_info_csv(head: &str, info: &FitInfo) -> String {
    let mut s = format!(
        "# {head}; objective: {}; iterations: {}; stopped: {}\niteration,objective\n",
        info.objective_name, info.iterations, info.reason
    );
    for (k, v) in info.objective.iter().enumerate() {
        let _ = writeln!(s, "{},{v:.17e}", k + 1);
    }
    s
}

/// `fit --method ml --neurons A..B | --shard k/K`: the rows A..B of J.csv
/// and H.csv (same values and format as a full run), fit_info.csv of the
/// shard, then the manifest.
fn fit_ml_shard(a: &FitArgs, l2: f64, raster: &crate::spikes::SpikeRaster) -> anyhow::Result<()> {
    let n = raster.n_units();
    let range = a.shard.range(n)?.unwrap_or(0..n);
    let mut params = MlFit {
        l2,
        neurons: Some(range.clone()),
        ..Default::default()
    };
    if let Some(m) = a.max_iter {
        params.max_iter = m;
    }
    let params = params.validate()?;
    ensure_dir(&a.out)?;
    super::shard::clear_manifest(&a.out)?;
    let bar = CliProgress::new(format!(
        "maximum likelihood, neurons {}..{}",
        range.start, range.end
    ));
    let est = params
        .fit(raster, &bar, &StopToken::new())
        .with_context(|| format!("{}", a.raster.display()))?;
    bar.finish();
    text::write_matrix(&a.out.join("J.csv"), &(est.j / a.beta))?;
    text::write_vector(&a.out.join("H.csv"), (est.h / a.beta).as_slice())?;
    write_text(&a.out.join("fit_info.csv"), &fit_info_csv("ml", &est.info))?;
    let p = params.params();
    let options = [
        ("method", "ml".to_string()),
        ("l2", p.l2.to_string()),
        ("beta", a.beta.to_string()),
        ("max_iter", p.max_iter.to_string()),
        ("tol", p.tol.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    super::shard::write_manifest(
        &a.out,
        "fit-ml",
        &a.raster,
        n,
        options,
        &range,
        &["J.csv", "H.csv", "fit_info.csv"],
    )
}
