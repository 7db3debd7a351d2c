//! Expectation–maximisation for one neuron: E-step (filter, smoother),
//! M-step, Laplace log evidence.
//!
//! M-step (diagonal `Q`, full `Sigma0`, `mu0 = 0` and `F = I` fixed):
//!
//! ```text
//! Q_kk   = S_k / (T - 1)                      (S_k from the smoother; needs T >= 2)
//! Sigma0 = Sigma_s(0) + theta_s(0) theta_s(0)^T
//! ```
//!
//! The evidence recorded for an iteration is computed from that
//! iteration's filter, so it belongs to the hyperparameters *used* in the
//! E-step (the output of the previous M-step), as in the reference.
//! The posterior factorises exactly over neurons, so each neuron runs its
//! own EM; the driver in [`super`] runs all neurons in lock-step, one EM
//! iteration at a time, and sums the evidences.

use super::filter::{FilterScratch, NewtonOptions, filter_neuron};
use super::model::DataSummary;
use super::smoother::{SmootherScratch, smooth_neuron};
use crate::Result;
use crate::progress::StopToken;

/// Persistent per-neuron state across EM iterations (`T × D` arrays).
#[derive(Clone, Debug)]
pub(crate) struct NeuronState {
    pub theta_f: Vec<f64>,
    pub theta_s: Vec<f64>,
    pub var_f: Vec<f64>,
    pub var_s: Vec<f64>,
    /// Diagonal of `Q` (length `D`).
    pub q: Vec<f64>,
    /// `Sigma0` (`D × D`).
    pub sigma0: Vec<f64>,
    /// Evidence of the last E-step (nats).
    pub evidence: f64,
    /// Newton solves that missed the tolerance, summed over iterations.
    pub unconverged: usize,
    /// Entries of `Q` raised to the floor in the last M-step.
    pub floored: Vec<bool>,
}

impl NeuronState {
    pub(crate) fn new(n_steps: usize, d: usize, q_init: f64, sigma0_init: f64) -> Self {
        let mut sigma0 = vec![0.0; d * d];
        for k in 0..d {
            sigma0[k * d + k] = sigma0_init;
        }
        Self {
            theta_f: vec![0.0; n_steps * d],
            theta_s: vec![0.0; n_steps * d],
            var_f: vec![0.0; n_steps * d],
            var_s: vec![0.0; n_steps * d],
            q: vec![q_init; d],
            sigma0,
            evidence: 0.0,
            unconverged: 0,
            floored: vec![false; d],
        }
    }
}

/// Buffers of one worker: `O(T · D^2)` for the filtered covariances and
/// predicted precisions, plus `O(D^2)` scratch.
pub(crate) struct Workspace {
    sigma_f: Vec<f64>,
    prec_o: Vec<f64>,
    q_sums: Vec<f64>,
    sigma_s0: Vec<f64>,
    filter: FilterScratch,
    smoother: SmootherScratch,
}

impl Workspace {
    pub(crate) fn new(n_steps: usize, d: usize, max_patterns: usize) -> Self {
        Self {
            sigma_f: vec![0.0; n_steps * d * d],
            prec_o: vec![0.0; n_steps * d * d],
            q_sums: vec![0.0; d],
            sigma_s0: vec![0.0; d * d],
            filter: FilterScratch::new(d, max_patterns),
            smoother: SmootherScratch::new(d),
        }
    }
}

/// M-step options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MStepOptions {
    pub q_floor: Option<f64>,
}

/// One EM iteration (E-step, M-step) of neuron `i`.
pub(crate) fn em_iteration(
    summary: &DataSummary,
    i: usize,
    st: &mut NeuronState,
    ws: &mut Workspace,
    newton: &NewtonOptions,
    mstep: &MStepOptions,
    stop: &StopToken,
) -> Result<()> {
    let d = summary.dim();
    let n_steps = summary.n_steps();
    let out = filter_neuron(
        summary,
        i,
        &st.q,
        &st.sigma0,
        newton,
        &mut st.theta_f,
        &mut st.var_f,
        &mut ws.sigma_f,
        &mut ws.prec_o,
        &mut ws.filter,
        stop,
    )?;
    st.evidence = out.evidence;
    st.unconverged += out.unconverged;
    smooth_neuron(
        &st.theta_f,
        &ws.sigma_f,
        &ws.prec_o,
        &st.q,
        &mut st.theta_s,
        &mut st.var_s,
        &mut ws.q_sums,
        &mut ws.sigma_s0,
        &mut ws.smoother,
    );
    // M-step. With a single transition there is no pair (t-1, t) to learn
    // Q from; Q keeps its value.
    if n_steps >= 2 {
        let denom = (n_steps - 1) as f64;
        for k in 0..d {
            // Var(theta(t) - theta(t-1)) >= 0 exactly; clip rounding below 0.
            let mut qk = (ws.q_sums[k] / denom).max(0.0);
            st.floored[k] = false;
            if let Some(floor) = mstep.q_floor
                && qk < floor
            {
                qk = floor;
                st.floored[k] = true;
            }
            st.q[k] = qk;
        }
    }
    for k in 0..d {
        for l in 0..d {
            st.sigma0[k * d + l] = ws.sigma_s0[k * d + l] + st.theta_s[k] * st.theta_s[l];
        }
    }
    Ok(())
}
