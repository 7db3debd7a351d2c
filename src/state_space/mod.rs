//! State-space kinetic Ising model: time-varying fields `h_i(t)` and
//! asymmetric couplings `J_ij(t)` estimated from trial-structured spike
//! trains by a Laplace filter, an RTS smoother and EM (issue 6; Ishihara &
//! Shimazaki 2025). Spec: `shared/spec/state-space.md`.
//!
//! ## Model (0/1 spikes)
//!
//! The raster has shape `(R trials, T+1 bins, N units)`; transition `t` maps
//! bin `t` to bin `t+1`, so there are `T` parameter time steps.
//!
//! ```text
//! P(s_i(t+1) = 1 | s(t)) = sigmoid(h_i(t) + sum_j J_ij(t) s_j(t))        (observation)
//! theta_i(t) = (h_i(t), J_i0(t), .., J_i,N-1(t))                          (D = N + 1)
//! theta_i(0) ~ Normal(0, Sigma0_i),  theta_i(t+1) = theta_i(t) + xi,  xi ~ Normal(0, Q_i)
//! ```
//!
//! `J_ij` is the coupling from `j` (bin `t`) to `i` (bin `t+1`), self
//! couplings included; `Q_i` is diagonal. Neurons are independent a priori
//! and the likelihood factorises over neurons, so the posterior factorises
//! exactly: every neuron runs its own filter/smoother/EM, in parallel
//! (rayon), with memory `O(workers · T · D^2)`.
//!
//! * [`model`]: observation model, data summary (distinct patterns, `Y`).
//! * `filter`, `smoother`, `em`: the E- and M-steps (equations in each).
//! * [`entropy_flow`]: entropy flow over time (mean-field and sampling
//!   estimators), trial-shuffled surrogate.
//! * [`synth`]: Gaussian-process ground truth and a spike simulator.
//!
//! Entry point: [`StateSpaceFit::fit`].
//!
//! ```no_run
//! use isingscope::state_space::StateSpaceFit;
//! use isingscope::progress::{NoProgress, StopToken};
//! # fn demo(raster: &isingscope::spikes::SpikeRaster) -> isingscope::Result<()> {
//! let fit = StateSpaceFit { max_iter: 50, ..Default::default() }.fit(raster, &NoProgress, &StopToken::new())?;
//! println!("h_0(0) = {} ± {}", fit.theta_smoothed.h(0, 0), fit.sd_smoothed.h(0, 0));
//! # Ok(()) }
//! ```

mod em;
pub mod entropy_flow;
mod filter;
mod linalg;
pub mod model;
mod smoother;
pub mod synth;
mod theta;

pub use filter::NewtonOptions;
pub use model::DataSummary;
pub use theta::ThetaSeries;

use nalgebra::DMatrix;
use rayon::prelude::*;

use crate::progress::{FitInfo, Progress, StopToken, TerminationReason};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};
use em::{MStepOptions, NeuronState, Workspace, em_iteration};

/// Hyperparameters of a state-space fit (unchecked; see
/// [`StateSpaceFit::validate`]). Defaults follow the reference: 120 EM
/// iterations, `Q = 0.5 I`, `Sigma0 = I`, no early stopping, no `Q` floor.
#[derive(Clone, Debug, PartialEq)]
pub struct StateSpaceFit {
    /// EM iterations to run at most (default 120, as in the paper's figures).
    pub max_iter: usize,
    /// Optional early stop: end once the relative change of the total log
    /// evidence, `|l_k - l_{k-1}| / |l_k|`, falls below this. `None` (the
    /// reference behaviour) always runs `max_iter` iterations.
    pub tol: Option<f64>,
    /// Initial diagonal of every `Q_i` (default 0.5).
    pub q_init: f64,
    /// Initial `Sigma0_i = sigma0_init · I` (default 1).
    pub sigma0_init: f64,
    /// Optional lower bound on the entries of `Q` after each M-step; keeps
    /// the predicted covariances well conditioned when a parameter is
    /// nearly constant. Floored entries are listed in the warnings.
    pub q_floor: Option<f64>,
    /// Newton solve of each filter update.
    pub newton: NewtonOptions,
    /// Fit only the receiving neurons `start ≤ i < end` (a shard; `None`:
    /// all). The posterior factorises over neurons, so a shard's neurons
    /// are bitwise those of the full fit (see [`crate::shard`]); the
    /// result's arrays keep all N rows, zero outside the range.
    pub neurons: Option<std::ops::Range<usize>>,
}

impl Default for StateSpaceFit {
    fn default() -> Self {
        Self {
            max_iter: 120,
            tol: None,
            q_init: 0.5,
            sigma0_init: 1.0,
            q_floor: None,
            newton: NewtonOptions::default(),
            neurons: None,
        }
    }
}

/// Checked hyperparameters, ready to [`fit`](ValidStateSpaceFit::fit).
#[derive(Clone, Debug, PartialEq)]
pub struct ValidStateSpaceFit(StateSpaceFit);

impl StateSpaceFit {
    /// Check every hyperparameter; errors name the field and the allowed range.
    pub fn validate(&self) -> Result<ValidStateSpaceFit> {
        if self.max_iter == 0 {
            return Err(Error::param(
                "max_iter",
                0,
                "need at least one EM iteration",
            ));
        }
        if let Some(tol) = self.tol
            && !(tol.is_finite() && tol > 0.0)
        {
            return Err(Error::param("tol", tol, "must be a positive number"));
        }
        for (name, v) in [("q_init", self.q_init), ("sigma0_init", self.sigma0_init)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(name, v, "must be a positive number"));
            }
        }
        if let Some(f) = self.q_floor
            && !(f.is_finite() && f >= 0.0)
        {
            return Err(Error::param("q_floor", f, "must be a non-negative number"));
        }
        if !(self.newton.tol.is_finite() && self.newton.tol > 0.0) {
            return Err(Error::param(
                "newton.tol",
                self.newton.tol,
                "must be a positive number",
            ));
        }
        if self.newton.max_iter == 0 {
            return Err(Error::param(
                "newton.max_iter",
                0,
                "need at least one Newton step",
            ));
        }
        if let Some(r) = &self.neurons {
            if r.start >= r.end {
                return Err(Error::param(
                    "neurons",
                    format!("{}..{}", r.start, r.end),
                    "need a non-empty range start..end of receiving neurons",
                ));
            }
            if self.tol.is_some() {
                return Err(Error::param(
                    "tol",
                    self.tol.unwrap_or_default(),
                    "the early stop watches the total evidence of all neurons, so a shard would stop at a different iteration than the full fit; run shards without tol",
                ));
            }
        }
        Ok(ValidStateSpaceFit(self.clone()))
    }

    /// Validate, then fit (see [`ValidStateSpaceFit::fit`]).
    pub fn fit(
        &self,
        raster: &SpikeRaster,
        progress: &dyn Progress,
        stop: &StopToken,
    ) -> Result<StateSpaceResult> {
        self.validate()?.fit(raster, progress, stop)
    }
}

/// A fitted state-space model. Arrays of parameters are [`ThetaSeries`]
/// of shape `(T, N, N+1)`, index `[t, i, k]`: `k = 0` field `h_i(t)`,
/// `k = 1+j` coupling `J_ij(t)` from `j` (bin `t`) to `i` (bin `t+1`).
#[derive(Clone, Debug)]
pub struct StateSpaceResult {
    /// Smoothed posterior means `E[theta(t) | all data]`.
    pub theta_smoothed: ThetaSeries,
    /// Filtered posterior means `E[theta(t) | data up to bin t+1]`.
    pub theta_filtered: ThetaSeries,
    /// Smoothed posterior standard deviations (square roots of the
    /// diagonals of each neuron's `D × D` posterior covariance).
    pub sd_smoothed: ThetaSeries,
    /// Filtered posterior standard deviations.
    pub sd_filtered: ThetaSeries,
    /// Diagonal state-noise variances after the last M-step: row `i` =
    /// neuron, column `k` as in `theta` (`N × (N+1)`).
    pub q: DMatrix<f64>,
    /// Initial covariance `Sigma0_i` of each neuron after the last M-step
    /// (`D × D`; the initial mean stays 0).
    pub sigma0: Vec<DMatrix<f64>>,
    /// Laplace log evidence (nats) per EM iteration, for the
    /// hyperparameters used in that iteration's E-step; iterations run and
    /// why the fit stopped.
    pub info: FitInfo,
    /// Receiving neurons fitted (`0..N` unless [`StateSpaceFit::neurons`]
    /// is set); rows outside it are zero.
    pub neurons: std::ops::Range<usize>,
    /// Laplace log evidence per EM iteration and fitted neuron:
    /// `[iteration][i - neurons.start]` (nats); `info.objective[k]` is the
    /// sum of row k over all neurons, in neuron order.
    pub evidence_per_neuron: Vec<Vec<f64>>,
    /// Neurons that never spike in bins `0..T`: their outgoing couplings
    /// `J_ij` (column `1+j`) are not identifiable (posterior = prior, its
    /// variance grows linearly in `t`).
    pub silent_presynaptic: Vec<usize>,
    /// Neurons that never spike in bins `1..=T`: none of their parameters
    /// `theta_i` are identifiable (the field drifts towards −∞).
    pub silent_postsynaptic: Vec<usize>,
    /// Newton solves (over all neurons, transitions and iterations) that
    /// did not reach the tolerance.
    pub newton_unconverged: usize,
    /// Human-readable notes (Q floored or collapsed, unconverged solves,
    /// silent neurons, a single transition).
    pub warnings: Vec<String>,
}

impl StateSpaceResult {
    /// Number of transitions `T`.
    pub fn n_steps(&self) -> usize {
        self.theta_smoothed.n_steps()
    }
    /// Number of neurons `N`.
    pub fn n_units(&self) -> usize {
        self.theta_smoothed.n_units()
    }
    /// Whether the data inform parameter `k` of neuron `i` (`k = 0` field,
    /// `k = 1+j` coupling from `j`): false if `i` never spikes or `k` is a
    /// coupling from a neuron that never spikes.
    pub fn is_identifiable(&self, i: usize, k: usize) -> bool {
        if self.silent_postsynaptic.contains(&i) {
            return false;
        }
        k == 0 || !self.silent_presynaptic.contains(&(k - 1))
    }
    /// Final total log evidence (nats).
    pub fn evidence(&self) -> f64 {
        self.info.objective.last().copied().unwrap_or(f64::NAN)
    }
}

/// `Q` entries below this without a floor are reported as collapsed.
const Q_COLLAPSE: f64 = 1e-8;

impl ValidStateSpaceFit {
    /// The hyperparameters.
    pub fn params(&self) -> &StateSpaceFit {
        &self.0
    }

    /// Fit the model to a raster `(R trials, T+1 bins, N units)` (needs at
    /// least 2 bins). Runs EM for every neuron in parallel, one iteration
    /// at a time; reports `(iteration, max_iter)` after each iteration. A
    /// stop request between iterations ends the fit with
    /// [`TerminationReason::Cancelled`] and the last complete iteration's
    /// result; one detected inside an iteration (or before the first
    /// completes) returns [`Error::Cancelled`].
    pub fn fit(
        &self,
        raster: &SpikeRaster,
        progress: &dyn Progress,
        stop: &StopToken,
    ) -> Result<StateSpaceResult> {
        let p = &self.0;
        let summary = DataSummary::new(raster)?;
        let n_steps = summary.n_steps();
        let n = summary.n_units();
        let d = summary.dim();
        let max_patterns = (0..n_steps)
            .map(|t| summary.patterns(t).len())
            .max()
            .unwrap_or(0);
        let rows = p.neurons.clone().unwrap_or(0..n);
        if rows.end > n {
            return Err(Error::param(
                "neurons",
                format!("{}..{}", rows.start, rows.end),
                format!("the raster has {n} units (neurons 0..{n})"),
            ));
        }
        let mut states: Vec<NeuronState> = rows
            .clone()
            .map(|_| NeuronState::new(n_steps, d, p.q_init, p.sigma0_init))
            .collect();
        let mut evidence_per_neuron = Vec::new();
        let mstep = MStepOptions { q_floor: p.q_floor };
        let mut info = FitInfo::new("Laplace log evidence (nats)");
        info.reason = TerminationReason::MaxIterations;
        for iter in 0..p.max_iter {
            if stop.is_stopped() {
                if iter == 0 {
                    return Err(Error::Cancelled);
                }
                info.reason = TerminationReason::Cancelled;
                break;
            }
            states.par_iter_mut().enumerate().try_for_each_init(
                || Workspace::new(n_steps, d, max_patterns),
                |ws, (k, st)| {
                    em_iteration(&summary, rows.start + k, st, ws, &p.newton, &mstep, stop)
                },
            )?;
            evidence_per_neuron.push(states.iter().map(|s| s.evidence).collect::<Vec<f64>>());
            let evidence: f64 = states.iter().map(|s| s.evidence).sum();
            if !evidence.is_finite() {
                return Err(Error::Diverged {
                    method: "state-space EM".into(),
                    step: iter + 1,
                    reason: "the log evidence is not finite".into(),
                });
            }
            let previous = info.objective.last().copied();
            info.objective.push(evidence);
            info.iterations = iter + 1;
            progress.objective(iter + 1, evidence);
            progress.report((iter + 1) as u64, p.max_iter as u64);
            if let (Some(tol), Some(prev)) = (p.tol, previous)
                && (evidence - prev).abs() <= tol * evidence.abs()
            {
                info.reason = TerminationReason::Converged;
                break;
            }
        }
        let mut result = assemble(&summary, rows.start, states, info, p);
        result.neurons = rows;
        result.evidence_per_neuron = evidence_per_neuron;
        Ok(result)
    }
}

/// Gather per-neuron states (neurons `row0 ..`) into the result arrays and
/// warnings.
fn assemble(
    summary: &DataSummary,
    row0: usize,
    states: Vec<NeuronState>,
    info: FitInfo,
    p: &StateSpaceFit,
) -> StateSpaceResult {
    let n_steps = summary.n_steps();
    let n = summary.n_units();
    let d = summary.dim();
    let mut theta_smoothed = ThetaSeries::zeros(n_steps, n);
    let mut theta_filtered = ThetaSeries::zeros(n_steps, n);
    let mut sd_smoothed = ThetaSeries::zeros(n_steps, n);
    let mut sd_filtered = ThetaSeries::zeros(n_steps, n);
    let mut q = DMatrix::zeros(n, d);
    let mut sigma0 = Vec::with_capacity(n);
    let mut warnings = Vec::new();
    let mut floored = Vec::new();
    let mut collapsed = Vec::new();
    for (k, st) in states.iter().enumerate() {
        let i = row0 + k;
        for t in 0..n_steps {
            let r = t * d..(t + 1) * d;
            theta_smoothed
                .row_mut(t, i)
                .copy_from_slice(&st.theta_s[r.clone()]);
            theta_filtered
                .row_mut(t, i)
                .copy_from_slice(&st.theta_f[r.clone()]);
            for (o, v) in sd_smoothed
                .row_mut(t, i)
                .iter_mut()
                .zip(&st.var_s[r.clone()])
            {
                *o = v.max(0.0).sqrt();
            }
            for (o, v) in sd_filtered.row_mut(t, i).iter_mut().zip(&st.var_f[r]) {
                *o = v.max(0.0).sqrt();
            }
        }
        for k in 0..d {
            q[(i, k)] = st.q[k];
            if st.floored[k] {
                floored.push((i, k));
            } else if st.q[k] < Q_COLLAPSE {
                collapsed.push((i, k));
            }
        }
        sigma0.push(DMatrix::from_row_slice(d, d, &st.sigma0));
    }
    if !floored.is_empty() {
        warnings.push(format!(
            "{} entries of Q were raised to the floor {} in the last M-step (neuron, parameter): {}",
            floored.len(),
            p.q_floor.unwrap_or(0.0),
            list_pairs(&floored)
        ));
    }
    if !collapsed.is_empty() {
        warnings.push(format!(
            "{} entries of Q collapsed below {Q_COLLAPSE:e} (those parameters are effectively constant; set a Q floor to keep the filter well conditioned): {}",
            collapsed.len(),
            list_pairs(&collapsed)
        ));
    }
    let newton_unconverged: usize = states.iter().map(|s| s.unconverged).sum();
    if newton_unconverged > 0 {
        warnings.push(format!(
            "{newton_unconverged} Newton solves of the filter did not reach the tolerance {:e}",
            p.newton.tol
        ));
    }
    if n_steps < 2 {
        warnings.push(
            "only one transition (2 bins): Q cannot be estimated and keeps its initial value"
                .into(),
        );
    }
    let silent_presynaptic: Vec<usize> = (0..n)
        .filter(|&j| summary.presynaptic_counts()[j] == 0)
        .collect();
    let silent_postsynaptic: Vec<usize> = (0..n)
        .filter(|&i| summary.postsynaptic_counts()[i] == 0)
        .collect();
    if !silent_presynaptic.is_empty() {
        warnings.push(format!(
            "neurons {silent_presynaptic:?} never spike in bins 0..T: their outgoing couplings are not identifiable (posterior = prior)"
        ));
    }
    if !silent_postsynaptic.is_empty() {
        warnings.push(format!(
            "neurons {silent_postsynaptic:?} never spike in bins 1..T: their fields and incoming couplings are not identifiable"
        ));
    }
    StateSpaceResult {
        theta_smoothed,
        theta_filtered,
        sd_smoothed,
        sd_filtered,
        q,
        sigma0,
        info,
        neurons: 0..n,
        evidence_per_neuron: Vec::new(),
        silent_presynaptic,
        silent_postsynaptic,
        newton_unconverged,
        warnings,
    }
}

fn list_pairs(pairs: &[(usize, usize)]) -> String {
    let shown: Vec<String> = pairs
        .iter()
        .take(10)
        .map(|(i, k)| format!("({i}, {k})"))
        .collect();
    let more = if pairs.len() > 10 {
        format!(" and {} more", pairs.len() - 10)
    } else {
        String::new()
    };
    format!("{}{more}", shown.join(", "))
}
