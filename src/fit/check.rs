//! Checks of a fitted kinetic Ising model that cannot mislead: hold-out
//! that respects trials, a model check started from the data's own
//! states, the per-unit log-likelihood gain over the independent model,
//! and warnings for fits that failed.
//!
//! **Why start from the data.** Models fitted to recordings are often
//! multistable: common input is explained as recurrent excitation, and the
//! mostly silent state where the data live is one of several stable states
//! of the fitted dynamics. A simulation from a random ±1 state can run to
//! another one (m ≈ +1) and make a good fit look absurd. The check here
//! simulates from observed states (one simulated trial per observed trial,
//! or K segments started at evenly spaced bins of a single recording) and
//! compares m, C and D with the observed values and their sampling
//! standard errors; free runs from random states are kept apart, and when
//! it ends far from the data-started one the model is declared multistable.

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;

use super::ml::objective;
use crate::model::KineticIsing;
use crate::model::simulate::{InitialState, SimulationOptions, simulate};
use crate::model::stats::{Moments, time_averaged_moments};
use crate::progress::{FitInfo, NoProgress, StopToken, TerminationReason};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Which transitions are held out of the fit.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Holdout {
    /// Fit on everything (checks are then in-sample).
    None,
    /// Hold out whole trials: every `every`-th trial (trials
    /// `every−1, 2·every−1, …`), so each held-out trial is a complete
    /// stimulus-aligned sequence and the held-out set covers every phase
    /// of the trial.
    Trials {
        /// Hold out one trial in this many (≥ 2).
        every: usize,
    },
    /// Hold out the last `fraction` of the bins as one contiguous block
    /// (for a single long recording).
    Block {
        /// Fraction of bins held out, in (0, 1).
        fraction: f64,
    },
}

impl Holdout {
    /// Whole trials when the raster has more than one trial, else a
    /// contiguous block; 20 % either way.
    pub fn auto(raster: &SpikeRaster) -> Self {
        if raster.n_trials() > 1 {
            Holdout::Trials { every: 5 }
        } else {
            Holdout::Block { fraction: 0.2 }
        }
    }
}

/// Training and held-out parts of a raster.
#[derive(Clone, Debug)]
pub struct Split {
    /// Transitions to fit.
    pub train: SpikeRaster,
    /// Held-out transitions (`None` for [`Holdout::None`]).
    pub test: Option<SpikeRaster>,
    /// One line saying what was held out, for the UI and the CLI.
    pub description: String,
}

/// Split `raster` as `holdout` says.
pub fn split(raster: &SpikeRaster, holdout: Holdout) -> Result<Split> {
    let (rr, tt, _) = raster.shape();
    match holdout {
        Holdout::None => Ok(Split {
            train: raster.clone(),
            test: None,
            description: "no hold-out: the checks are in-sample".into(),
        }),
        Holdout::Trials { every } => {
            if every < 2 {
                return Err(Error::param("holdout every", every, "must be at least 2"));
            }
            if rr < every {
                return Err(Error::NotEnoughData(format!(
                    "holding out every {every}th trial needs at least {every} trials; the raster has {rr} (use a block hold-out)"
                )));
            }
            let (mut train, mut test) = (Vec::new(), Vec::new());
            for r in 0..rr {
                let part = raster.slice_trials(r..r + 1)?;
                if r % every == every - 1 {
                    test.push(part);
                } else {
                    train.push(part);
                }
            }
            let n_test = test.len();
            Ok(Split {
                train: SpikeRaster::concat_trials(&train)?,
                test: Some(SpikeRaster::concat_trials(&test)?),
                description: format!("held out {n_test} of {rr} whole trials (every {every}th)"),
            })
        }
        Holdout::Block { fraction } => {
            if !(fraction > 0.0 && fraction < 1.0) {
                return Err(Error::param(
                    "holdout fraction",
                    fraction,
                    "must lie in (0, 1)",
                ));
            }
            let held = ((tt as f64 * fraction).round() as usize).max(1);
            if tt < 4 || held + 2 > tt {
                return Err(Error::NotEnoughData(format!(
                    "a block hold-out of {fraction} needs more bins than the raster's {tt}"
                )));
            }
            let cut = tt - held;
            Ok(Split {
                train: raster.slice_bins(0..cut)?,
                // Bin cut−1 is the past of the first held-out transition.
                test: Some(raster.slice_bins(cut - 1..tt)?),
                description: format!(
                    "held out the last {held} of {tt} bins as one block{}",
                    if rr > 1 { " of every trial" } else { "" }
                ),
            })
        }
    }
}

/// Per-unit one-step-ahead log-likelihood of a fitted model against the
/// independent (rate-only) model, on the given transitions.
#[derive(Clone, Debug, PartialEq)]
pub struct LlGain {
    /// Mean log-likelihood per transition of each unit under the model
    /// (nats).
    pub model: DVector<f64>,
    /// The same under the independent model with the training rates.
    pub independent: DVector<f64>,
    /// `model − independent`, nats per bin.
    pub nats_per_bin: DVector<f64>,
    /// The total gain over the transitions divided by the unit's spikes
    /// in them, in bits (NaN for a unit without spikes).
    pub bits_per_spike: DVector<f64>,
    /// Transitions evaluated.
    pub transitions: usize,
    /// Whether they were held out of the fit.
    pub heldout: bool,
}

impl LlGain {
    /// Population mean of the gain (nats per bin per unit).
    pub fn mean_nats_per_bin(&self) -> f64 {
        self.nats_per_bin.mean()
    }
    /// Population mean of the model's log-likelihood per bin per unit.
    pub fn mean_model(&self) -> f64 {
        self.model.mean()
    }
    /// Population mean of the independent model's.
    pub fn mean_independent(&self) -> f64 {
        self.independent.mean()
    }
}

/// Effective fields of the independent model: `atanh(2q − 1)` with the
/// firing probability q of every target bin (bins ≥ 1) of `train`,
/// shrunk as `(k + ½)/(n + 1)` so that a unit that never fires gets a
/// finite field.
pub fn independent_fields(train: &SpikeRaster) -> DVector<f64> {
    let n = train.n_units();
    let counts = target_counts(train);
    let samples = (train.n_trials() * train.n_bins().saturating_sub(1)) as f64;
    DVector::from_fn(n, |i, _| {
        let q = (counts[i] as f64 + 0.5) / (samples + 1.0);
        (2.0 * q - 1.0).atanh()
    })
}

/// Active counts of every unit over bins 1.. of every trial.
fn target_counts(raster: &SpikeRaster) -> Vec<u64> {
    let mut counts = raster.unit_counts();
    for r in 0..raster.n_trials() {
        for i in raster.active_units(r, 0) {
            counts[i] -= 1;
        }
    }
    counts
}

/// Log-likelihood gain of effective `(h, j)` over the independent model
/// with fields `h_indep` on the transitions of `data`.
pub fn ll_gain(
    data: &SpikeRaster,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    h_indep: &DVector<f64>,
    heldout: bool,
) -> Result<LlGain> {
    let obj = objective(data, h, j, 0.0)?;
    let n = data.n_units();
    let transitions = data.n_trials() * (data.n_bins() - 1);
    let nf = transitions as f64;
    let counts = target_counts(data);
    let model = -&obj.nll;
    let independent = DVector::from_fn(n, |i, _| {
        let hi = h_indep[i];
        let m = 2.0 * counts[i] as f64 / nf - 1.0;
        hi * m - crate::model::exact::log_2cosh(hi)
    });
    let nats_per_bin = &model - &independent;
    let bits_per_spike = DVector::from_fn(n, |i, _| {
        if counts[i] == 0 {
            f64::NAN
        } else {
            nats_per_bin[i] * nf / (counts[i] as f64 * std::f64::consts::LN_2)
        }
    });
    Ok(LlGain {
        model,
        independent,
        nats_per_bin,
        bits_per_spike,
        transitions,
        heldout,
    })
}

/// Options of the data-started model check.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOptions {
    /// Segments started from a single recording's states (default 64).
    pub segments: usize,
    /// Cap on simulated transitions (default 200,000).
    pub max_transitions: usize,
    /// |Δm| between the free and the data-started run above which the
    /// model is declared multistable (default 0.1).
    pub multistable_gap: f64,
    /// Seed of the simulations.
    pub seed: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            segments: 64,
            max_transitions: 200_000,
            multistable_gap: 0.1,
            seed: 7,
        }
    }
}

/// Standard errors of observed moments (same shapes as [`Moments`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MomentErrors {
    /// s.e. of `m_i`.
    pub m: DVector<f64>,
    /// s.e. of `C_ik`.
    pub c: DMatrix<f64>,
    /// s.e. of `D_il`.
    pub d: DMatrix<f64>,
    /// Number of independent groups the s.e. was estimated from.
    pub groups: usize,
}

/// The model check's result.
#[derive(Clone, Debug)]
pub struct ModelCheck {
    /// How the simulations were started, one line.
    pub description: String,
    /// Observed time-averaged moments.
    pub observed: Moments,
    /// Sampling standard errors of the observed moments, from the spread
    /// of the moments over groups of trials (or contiguous blocks of bins
    /// of one recording): honest under autocorrelation.
    pub observed_se: MomentErrors,
    /// Moments of the data-started simulation.
    pub predicted: Moments,
    /// With trials: observed `m_i(t)` per bin (`[(i, t)]`, N × T).
    pub m_t_observed: Option<DMatrix<f64>>,
    /// With trials: the data-started simulation's `m_i(t)`.
    pub m_t_predicted: Option<DMatrix<f64>>,
    /// Magnetisations of free runs from 8 random states (second half of
    /// each run, after its transient; averaged over the runs).
    pub free_m: DVector<f64>,
    /// Largest `|m − predicted.m|` over the free runs and units, and the
    /// unit where it occurs.
    pub free_gap: (f64, usize),
    /// True when a free run ends in another state than the data-started
    /// one (`free_gap` above the threshold).
    pub multistable: bool,
}

/// How many standard errors of a difference between the simulated and the
/// observed moment count as "not reproduced". The simulation has about the
/// observed moments' own sampling noise, so the difference has s.e. ≈
/// √2 · se; 5 of those leaves a per-moment false-alarm rate below 1e-3
/// even when the s.e. is estimated from about ten groups (t tails).
pub const MISMATCH_Z: f64 = 5.0;

/// Moments the data-started simulation does not reproduce.
#[derive(Clone, Debug, PartialEq)]
pub struct MomentMismatch {
    /// Units whose m differs by more than [`MISMATCH_Z`] combined s.e.
    pub m_units: usize,
    /// Largest |Δm| and its unit.
    pub m_worst: (f64, usize),
    /// Pairs i < k whose C differs by more than [`MISMATCH_Z`] combined s.e.
    pub c_pairs: usize,
    /// Pairs compared.
    pub c_total: usize,
    /// Largest |ΔC| over the pairs.
    pub c_worst: f64,
}

impl MomentMismatch {
    /// Whether the model check failed: m of at least 1 % of the units, or
    /// C of at least 1 % of the pairs (at least one of either: with few
    /// units one pair 5 combined s.e. off is already real).
    pub fn failed(&self, n: usize) -> bool {
        let m_min = n.div_ceil(100).max(1);
        let c_min = self.c_total.div_ceil(100).max(1);
        self.m_units >= m_min || self.c_pairs >= c_min
    }
}

impl ModelCheck {
    /// Compare the simulated moments with the observed ones in units of
    /// the observed moments' sampling error (see [`MISMATCH_Z`]).
    pub fn mismatch(&self) -> MomentMismatch {
        let n = self.observed.m.len();
        let off = |d: f64, se: f64| d.abs() > MISMATCH_Z * std::f64::consts::SQRT_2 * se.max(1e-3);
        let mut out = MomentMismatch {
            m_units: 0,
            m_worst: (0.0, 0),
            c_pairs: 0,
            c_total: n * n.saturating_sub(1) / 2,
            c_worst: 0.0,
        };
        for i in 0..n {
            let d = self.predicted.m[i] - self.observed.m[i];
            if off(d, self.observed_se.m[i]) {
                out.m_units += 1;
            }
            if d.abs() > out.m_worst.0 {
                out.m_worst = (d.abs(), i);
            }
            for k in i + 1..n {
                let d = self.predicted.c[(i, k)] - self.observed.c[(i, k)];
                if off(d, self.observed_se.c[(i, k)]) {
                    out.c_pairs += 1;
                }
                out.c_worst = out.c_worst.max(d.abs());
            }
        }
        out
    }

    /// One line when the data-started simulation does not reproduce the
    /// data (None when it does): which moments, by how much, and what that
    /// usually means.
    pub fn moments_message(&self) -> Option<String> {
        let n = self.observed.m.len();
        let mm = self.mismatch();
        if !mm.failed(n) {
            return None;
        }
        let mut parts = Vec::new();
        if mm.m_units > 0 {
            parts.push(format!(
                "the rates (m) of {} of {n} units differ from the data by more than {MISMATCH_Z} s.e. (largest |dm| = {:.3} at unit {})",
                mm.m_units, mm.m_worst.0, mm.m_worst.1
            ));
        }
        if mm.c_pairs > 0 {
            parts.push(format!(
                "the equal-time covariances (C) of {} of {} pairs differ by more than {MISMATCH_Z} s.e. (largest |dC| = {:.3}); the kinetic Ising model has no equal-time couplings, so synchrony from shared input (common drive, stimulus-locked bursts) cannot be represented and the couplings absorb it",
                mm.c_pairs, mm.c_total, mm.c_worst
            ));
        }
        Some(format!(
            "the fitted model does not reproduce the data: {}; read its couplings as a description of these data, not as connections",
            parts.join("; ")
        ))
    }

    /// One line on multistability for stderr and the app.
    pub fn multistability_message(&self) -> String {
        let (gap, unit) = self.free_gap;
        if self.multistable {
            format!(
                "the fitted model has more than one stable state: run freely from random states it ends far from the data (|dm| = {gap:.2} at unit {unit}), while started from the data's own states it stays where the data are; simulations of this model depend on where they start, so start them from observed states"
            )
        } else {
            format!(
                "free runs from random states end where the data-started one does (largest |dm| = {gap:.3})"
            )
        }
    }
}

/// Simulate the fitted effective `(h, j)` from the states of `raster` and
/// compare (see the module docs). With trials (R > 1): one simulated trial
/// per observed trial (evenly spaced trials if R·T exceeds the cap),
/// started from its first bin, of the same length. Without: `segments`
/// runs started at bins `k·T/K`, each `T/K` bins long (total capped).
pub fn model_check(
    raster: &SpikeRaster,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    opts: &CheckOptions,
    stop: &StopToken,
) -> Result<ModelCheck> {
    let (rr, tt, n) = raster.shape();
    if tt < 3 || n == 0 || rr == 0 {
        return Err(Error::NotEnoughData(format!(
            "the model check needs at least 3 bins; the raster is {:?}",
            raster.shape()
        )));
    }
    let model = KineticIsing::new(h.clone(), j.clone(), 1.0)?;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(opts.seed);
    let observed = time_averaged_moments(raster)?;
    let state = |r: usize, t: usize| (0..n).map(|i| raster.get(r, t, i)).collect::<Vec<_>>();
    let (sim, description, per_bin) = if rr > 1 {
        let keep = (opts.max_transitions / (tt - 1)).clamp(1, rr);
        let trials: Vec<usize> = (0..keep).map(|k| k * rr / keep).collect();
        let init = InitialState::PerTrial(trials.iter().map(|&r| state(r, 0)).collect());
        let sim = simulate(
            &model,
            &SimulationOptions {
                steps: tt - 1,
                trials: keep,
                init,
            },
            &mut rng,
            &NoProgress,
            stop,
        )?;
        let desc = format!(
            "one simulated trial per observed trial ({keep} of {rr}), started from the trial's first bin, {tt} bins each"
        );
        (sim, desc, true)
    } else {
        let total = tt.min(opts.max_transitions);
        let k = opts.segments.clamp(1, (total / 3).max(1));
        let len = (total / k).max(3);
        let starts: Vec<usize> = (0..k).map(|s| s * (tt - len) / k.max(1)).collect();
        let init = InitialState::PerTrial(starts.iter().map(|&t| state(0, t)).collect());
        let sim = simulate(
            &model,
            &SimulationOptions {
                steps: len - 1,
                trials: k,
                init,
            },
            &mut rng,
            &NoProgress,
            stop,
        )?;
        let desc = format!(
            "{k} simulated segments of {len} bins, started from observed states at evenly spaced bins"
        );
        (sim, desc, false)
    };
    let predicted = time_averaged_moments(&sim)?;
    let (m_t_observed, m_t_predicted) = if per_bin {
        (Some(m_per_bin(raster)), Some(m_per_bin(&sim)))
    } else {
        (None, None)
    };
    let observed_se = moment_errors(raster)?;
    // Free runs from 8 random states, together as long as the
    // data-started check; a single random start can fall into the data's
    // state by chance while most would not.
    let runs = 8;
    let steps = (sim.n_trials() * (sim.n_bins() - 1) / runs).clamp(200, opts.max_transitions);
    let free = simulate(
        &model,
        &SimulationOptions {
            steps,
            trials: runs,
            init: InitialState::Random,
        },
        &mut rng,
        &NoProgress,
        stop,
    )?;
    let half = free.slice_bins(steps / 2..steps + 1)?;
    let free_m = time_averaged_moments(&half)?.m;
    let (mut gap, mut unit) = (0.0, 0);
    for r in 0..runs {
        let m_r = time_averaged_moments(&half.slice_trials(r..r + 1)?)?.m;
        for i in 0..n {
            let d = (m_r[i] - predicted.m[i]).abs();
            if d > gap {
                (gap, unit) = (d, i);
            }
        }
    }
    Ok(ModelCheck {
        description,
        observed,
        observed_se,
        predicted,
        m_t_observed,
        m_t_predicted,
        free_m,
        free_gap: (gap, unit),
        multistable: gap > opts.multistable_gap,
    })
}

/// `m_i(t)` over trials, N × T.
fn m_per_bin(raster: &SpikeRaster) -> DMatrix<f64> {
    let (rr, tt, n) = raster.shape();
    let mut m = DMatrix::<f64>::zeros(n, tt);
    for r in 0..rr {
        for t in 0..tt {
            for i in raster.active_units(r, t) {
                m[(i, t)] += 1.0;
            }
        }
    }
    m.map(|c: f64| 2.0 * c / rr as f64 - 1.0)
}

/// Standard errors of the time-averaged moments from G groups: trials
/// dealt round-robin into up to 32 groups, or a single recording cut into
/// 32 contiguous blocks; s.e. = sd over groups / √G.
fn moment_errors(raster: &SpikeRaster) -> Result<MomentErrors> {
    let (rr, tt, n) = raster.shape();
    let parts: Vec<SpikeRaster> = if rr > 1 {
        let g = rr.min(32);
        (0..g)
            .map(|k| {
                let trials: Vec<SpikeRaster> = (k..rr)
                    .step_by(g)
                    .map(|r| raster.slice_trials(r..r + 1))
                    .collect::<Result<_>>()?;
                SpikeRaster::concat_trials(&trials)
            })
            .collect::<Result<_>>()?
    } else {
        let g = (tt / 8).clamp(2, 32);
        (0..g)
            .map(|k| raster.slice_bins(k * tt / g..((k + 1) * tt / g)))
            .collect::<Result<_>>()?
    };
    let moments: Vec<Moments> = parts
        .iter()
        .map(time_averaged_moments)
        .collect::<Result<_>>()?;
    let g = moments.len() as f64;
    let sd = |f: &dyn Fn(&Moments) -> f64| {
        let mean = moments.iter().map(f).sum::<f64>() / g;
        let var = moments.iter().map(|x| (f(x) - mean).powi(2)).sum::<f64>() / (g - 1.0);
        (var / g).sqrt()
    };
    Ok(MomentErrors {
        m: DVector::from_fn(n, |i, _| sd(&|x: &Moments| x.m[i])),
        c: DMatrix::from_fn(n, n, |i, k| sd(&|x: &Moments| x.c[(i, k)])),
        d: DMatrix::from_fn(n, n, |i, k| sd(&|x: &Moments| x.d[(i, k)])),
        groups: moments.len(),
    })
}

/// Why a fit is not to be trusted.
#[derive(Clone, Debug, PartialEq)]
pub enum FitProblem {
    /// It stopped at its iteration cap without meeting its tolerance.
    IterationCap {
        /// Iterations run.
        iterations: usize,
    },
    /// Its iterates diverged.
    Diverged,
    /// Its log-likelihood is below the independent (rate-only) model's.
    BelowIndependent {
        /// Mean log-likelihood per bin per unit of the fit (nats).
        model: f64,
        /// The independent model's.
        independent: f64,
        /// Whether on held-out data.
        heldout: bool,
    },
}

/// A flagged fit: the method and every problem found.
#[derive(Clone, Debug, PartialEq)]
pub struct FitWarning {
    /// The method's name.
    pub method: String,
    /// True for mean-field moment matching.
    pub moment_matching: bool,
    /// What went wrong.
    pub problems: Vec<FitProblem>,
}

impl std::fmt::Display for FitWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reasons: Vec<String> = self
            .problems
            .iter()
            .map(|p| match p {
                FitProblem::IterationCap { iterations } => {
                    format!("stopped at its iteration cap ({iterations}) without converging")
                }
                FitProblem::Diverged => "diverged".into(),
                FitProblem::BelowIndependent {
                    model,
                    independent,
                    heldout,
                } => format!(
                    "its {} log-likelihood ({model:.4} nats per bin per unit) is below the independent model's ({independent:.4})",
                    if *heldout { "held-out" } else { "in-sample" }
                ),
            })
            .collect();
        write!(f, "{} {}", self.method, reasons.join(", and "))?;
        if self.moment_matching {
            write!(
                f,
                "; the method's equations have no solution for these moments (the data are outside what this mean-field approximation can represent), so these couplings are meaningless; use exact maximum likelihood (--method ml)"
            )?;
        } else {
            write!(f, "; do not trust these couplings")?;
        }
        Ok(())
    }
}

/// Flag a fit whose record or log-likelihood shows it failed; `None` when
/// nothing is wrong. `gain` is the log-likelihood check (held-out when
/// available).
pub fn assess_fit(
    method: &str,
    moment_matching: bool,
    info: &FitInfo,
    gain: Option<&LlGain>,
) -> Option<FitWarning> {
    let mut problems = Vec::new();
    match info.reason {
        TerminationReason::MaxIterations => problems.push(FitProblem::IterationCap {
            iterations: info.iterations,
        }),
        TerminationReason::Diverged => problems.push(FitProblem::Diverged),
        _ => {}
    }
    if let Some(g) = gain {
        let (model, independent) = (g.mean_model(), g.mean_independent());
        if model < independent || model.is_nan() {
            problems.push(FitProblem::BelowIndependent {
                model,
                independent,
                heldout: g.heldout,
            });
        }
    }
    (!problems.is_empty()).then(|| FitWarning {
        method: method.to_string(),
        moment_matching,
        problems,
    })
}
