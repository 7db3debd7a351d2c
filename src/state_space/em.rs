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
//! own EM ([`fit_neuron`]) to its own stopping point; the driver in
//! [`super`] hands neurons to the worker threads and sums the evidences.
//!
//! ## Stopping and acceleration (per neuron)
//!
//! With a tolerance `tol`, neuron `i` stops after the first accepted E-step
//! `k` with, over the window of the last `W = 10` accepted E-steps,
//!
//! ```text
//! |l_i(k) - l_i(k-W)| <= W * tol * |l_i(k)|                    (its evidence term)
//! max_k |Q_i,kk(k) - Q_i,kk(k-W)| <= param_tol * max_k Q_i,kk   (its Q)
//! max_kl |Sigma0_i,kl(k) - Sigma0_i,kl(k-W)| <= param_tol * max_kl |Sigma0_i,kl|
//! ```
//!
//! (hyperparameters as used by those E-steps; changes relative to the
//! neuron's own scale, so an entry of `Q` collapsing towards 0 does not
//! block convergence). The window is why the rule is safe with SQUAREM:
//! the stabilising EM step after an accepted extrapolation gains little
//! even where each cycle still gains much more, and a rule on consecutive
//! E-steps stopped there (N = 16, T = 150, R = 200: 3.2 nats below the
//! 120-iteration plain fit; now 17.2 nats above it in 729 instead of
//! 1,920 E-steps). Nothing here reads another neuron, so a neuron's result
//! does not depend on which other neurons are fitted.
//!
//! Acceleration is SQUAREM (Varadhan & Roland 2008, step length S3) on the
//! vector `u = (log Q_i,kk)`, with one step length per entry: from an
//! accepted point `u0`, two EM maps give `u1 = M(u0)`, `u2 = M(u1)`; with
//! `r_k = u1_k - u0_k`, `v_k = u2_k - 2 u1_k + u0_k` and
//! `alpha_k = -min(cap, max(1, |r_k| / |v_k|))`, the extrapolated point is
//! `u'_k = u0_k - 2 alpha_k r_k + alpha_k^2 v_k` (`alpha_k = -1` gives
//! plain EM, `u'_k = u2_k`); `Sigma0` at `u'` is the plain EM one,
//! `Sigma0(u2)`.
//!
//! Why per entry: where couplings are constant in time their `Q` entries
//! go to the boundary 0, and EM approaches it harmonically
//! (`Q <- Q (1 - c Q)`, i.e. `Q ~ 1 / (c k)`), while the field's entry
//! converges linearly to an interior value. Along a harmonic sequence the
//! per-entry step gives `u' = u0 - 1` per cycle (`Q` divided by e every
//! two E-steps), along a linear one it lands on the fixed point; one
//! shared step length (classical S3, `|r| / |v|` over the whole vector)
//! is set by the entries with the largest curvature and moved the others
//! too little, or too far (on the lab case the field's `Q` jumped by 25 %
//! at every extrapolation and the parameter rule never held). Measured on
//! the lab case (N = 100, R = 1,800), neurons 0 and 1, 300 E-steps: the
//! shared step ended 0.5 and 12.9 nats below the per-entry one, which
//! passes the shared step's 300-E-step evidence after 60 E-steps for
//! neuron 1; on the N = 16 case above, 729 E-steps (all 16 neurons
//! converged, +17.2 nats) against 834 (one neuron at the cap, +15.2). The
//! cap
//! starts at 4 and adapts (see `MAX_STEP`). `Sigma0` is not extrapolated:
//! linear steps in its entries pushed it towards singular matrices, a
//! stationary point of EM with a lower evidence (mu0 = 0 is fixed, so a
//! direction of `Sigma0` near 0 pins `theta(0)` there and the M-step keeps
//! it near 0); on the N = 16 case four neurons ended 2-4.6 nats below the
//! plain 120-iteration fit that way. The E-step at an accepted `u'` is
//! also the first E-step of the next cycle (`u0 := u'`), so a cycle costs
//! two E-steps. Safeguard: `u'` is accepted only if its E-step evidence is
//! at least that of `u1`, the best point known; otherwise the neuron falls
//! back to the plain EM point `u2`. The accepted evidences therefore never
//! decrease beyond what plain EM itself does (Laplace-approximation noise).

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
    /// Work done by this worker so far, by stage.
    pub(crate) fn stage_work(&self) -> StageWork {
        let c = self.filter.cost;
        StageWork {
            newton: StageCost {
                flops: c.newton_flops,
                cpu_seconds: c.newton_secs,
            },
            covariance: StageCost {
                flops: c.cov_flops,
                cpu_seconds: c.cov_secs,
            },
            smoother: StageCost {
                flops: self.smoother.flops,
                cpu_seconds: self.smoother.secs,
            },
            updates: c.updates,
            hessians: c.hessians,
            activation_passes: c.activation_passes,
        }
    }
}

/// Floating-point operations (counted from the problem size; a
/// multiply-add counts 2) and CPU seconds (summed over worker threads) of
/// one stage of the E-steps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageCost {
    /// Floating-point operations counted from the sizes.
    pub flops: f64,
    /// CPU seconds, summed over worker threads.
    pub cpu_seconds: f64,
}

/// Work of the E-steps by stage, summed over neurons and E-steps: the
/// filter's Newton solves (sparse Gram products over the distinct patterns,
/// activations, Hessian Cholesky factors and solves), its covariance algebra
/// (factor and inverse of each predicted covariance, inverse of each final
/// Hessian) and the smoother (two `D^3` products per transition).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageWork {
    /// Filter: Newton solves.
    pub newton: StageCost,
    /// Filter: covariance factors and inverses.
    pub covariance: StageCost,
    /// Smoother.
    pub smoother: StageCost,
    /// Filter updates (one per neuron, transition and E-step).
    pub updates: u64,
    /// Hessians formed and factored by the Newton solves (the last one of
    /// each update, at the final iterate, gives `Sigma_f`).
    pub hessians: u64,
    /// Passes over the distinct patterns computing the activations (one
    /// at the start of each update, one per line-search trial point).
    pub activation_passes: u64,
}

impl StageWork {
    pub(crate) fn add(&mut self, o: &StageWork) {
        for (a, b) in [
            (&mut self.newton, &o.newton),
            (&mut self.covariance, &o.covariance),
            (&mut self.smoother, &o.smoother),
        ] {
            a.flops += b.flops;
            a.cpu_seconds += b.cpu_seconds;
        }
        self.updates += o.updates;
        self.hessians += o.hessians;
        self.activation_passes += o.activation_passes;
    }
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

/// One EM iteration (E-step, M-step) of neuron `i`: the E-step uses
/// `st.q`, `st.sigma0` and records their evidence in `st.evidence`; the
/// M-step then overwrites `st.q`, `st.sigma0` with the update.
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

/// Initial (and smallest) cap on the SQUAREM step length `|alpha|`.
/// Uncapped S3 steps overshoot along the slowly converging `Sigma0` and
/// collapsing-`Q` directions (on a N = 6, T = 60, R = 150 synthetic case
/// two thirds of them were rejected by the safeguard); a fixed cap of 4,
/// on the other hand, is far too timid where plain EM converges at a rate
/// near 1 (N = 16, T = 150, R = 200: 1,000 accelerated E-steps ended below
/// the evidence of 500 plain ones). So the cap adapts as in Varadhan and
/// Roland's SQUAREM: it grows by [`STEP_GROWTH`] after an accepted step
/// that was cut to it and shrinks by the same factor (not below this
/// value) after a rejected one.
const MAX_STEP: f64 = 4.0;
/// Factor by which the step cap grows or shrinks (see [`MAX_STEP`]).
const STEP_GROWTH: f64 = 4.0;
/// Accepted E-steps between the two points compared by the stopping rule:
/// one SQUAREM cycle (an extrapolated E-step and its stabilising EM step).
/// Comparing consecutive E-steps stopped neurons right after an
/// extrapolation, whose stabilising step gains little even where each cycle
/// still gains ten times more (N = 16 case: stopped 3.2 nats below the
/// 120-iteration plain fit).
const SPAN: usize = 10;

/// Per-neuron EM settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EmOptions {
    pub max_iter: usize,
    pub tol: Option<f64>,
    pub param_tol: f64,
    pub accelerate: bool,
    pub newton: NewtonOptions,
    pub mstep: MStepOptions,
}

/// How one neuron's EM ended.
#[derive(Clone, Debug)]
pub(crate) struct NeuronFit {
    /// State at the last accepted E-step (and the M-step that followed it).
    pub state: NeuronState,
    /// Evidence of every accepted E-step, in order (nats).
    pub trace: Vec<f64>,
    /// E-steps run (accepted or not); bounded by `max_iter`.
    pub e_steps: usize,
    pub reason: crate::progress::TerminationReason,
    /// Extrapolations accepted / rejected by the safeguard.
    pub accepted: usize,
    pub rejected: usize,
}

/// The SQUAREM vector of one neuron: `log Q_kk`.
fn to_u(q: &[f64], u: &mut Vec<f64>) {
    u.clear();
    u.extend(q.iter().map(|&x| x.max(f64::MIN_POSITIVE).ln()));
}

/// Inverse of [`to_u`]; `false` if the result is not finite.
fn from_u(u: &[f64], floor: Option<f64>, q: &mut [f64]) -> bool {
    for (qk, uk) in q.iter_mut().zip(u) {
        *qk = uk.exp();
        if let Some(f) = floor {
            *qk = qk.max(f);
        }
    }
    q.iter().all(|x| x.is_finite() && *x >= 0.0)
}

/// Whether the hyperparameters moved by at most `param_tol` relative to
/// their own scale (see the module doc).
fn params_converged(q_old: &[f64], s_old: &[f64], q: &[f64], s: &[f64], param_tol: f64) -> bool {
    let q_scale = q.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let s_scale = s.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let dq = q
        .iter()
        .zip(q_old)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    let ds = s
        .iter()
        .zip(s_old)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    dq <= param_tol * q_scale && ds <= param_tol * s_scale
}

/// SQUAREM step lengths, one per entry (see the module doc):
/// `alpha_k = -min(step_max, max(1, |r_k| / |v_k|))` (`-1`, plain EM,
/// where `v_k = 0`), and whether any was cut to `step_max`.
fn step_lengths(u0: &[f64], u1: &[f64], u2: &[f64], step_max: f64) -> (Vec<f64>, bool) {
    let mut capped = false;
    let alphas = (0..u0.len())
        .map(|k| {
            let r = u1[k] - u0[k];
            let v = u2[k] - 2.0 * u1[k] + u0[k];
            let a = if v != 0.0 {
                -(r.abs() / v.abs()).max(1.0)
            } else {
                -1.0
            };
            capped |= a <= -step_max;
            a.max(-step_max)
        })
        .collect();
    (alphas, capped)
}

/// The extrapolated point `u'_k = u0_k - 2 alpha_k r_k + alpha_k^2 v_k`.
fn extrapolate(u0: &[f64], u1: &[f64], u2: &[f64], alphas: &[f64]) -> Vec<f64> {
    (0..u0.len())
        .map(|k| {
            let r = u1[k] - u0[k];
            let v = u2[k] - 2.0 * u1[k] + u0[k];
            u0[k] - 2.0 * alphas[k] * r + alphas[k] * alphas[k] * v
        })
        .collect()
}

/// Run EM for neuron `i` alone, from `st` (initial hyperparameters in
/// `st.q`, `st.sigma0`), to its own stopping point. `on_e_step` is called
/// after every E-step (for progress). On a stop request the last accepted
/// state is returned with reason `Cancelled` (`Err(Cancelled)` if no
/// E-step completed).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fit_neuron(
    summary: &DataSummary,
    i: usize,
    mut st: NeuronState,
    ws: &mut Workspace,
    o: &EmOptions,
    stop: &StopToken,
    on_e_step: &dyn Fn(),
) -> Result<NeuronFit> {
    use crate::progress::TerminationReason as Reason;
    let mut fit = NeuronFit {
        state: st.clone(),
        trace: Vec::new(),
        e_steps: 0,
        reason: Reason::MaxIterations,
        accepted: 0,
        rejected: 0,
    };
    // Hyperparameters used by the last SPAN accepted E-steps, oldest first.
    let mut used: std::collections::VecDeque<(Vec<f64>, Vec<f64>)> =
        std::collections::VecDeque::with_capacity(SPAN);
    // Current cap on the SQUAREM step length |alpha|, and whether the
    // pending extrapolation was cut to it.
    let mut step_max = MAX_STEP;
    let mut capped = false;
    let (mut u0, mut u1, mut u2) = (Vec::new(), Vec::new(), Vec::new());
    // Which EM evaluation of the current SQUAREM cycle comes next.
    #[derive(PartialEq)]
    enum Phase {
        Base,
        Second,
        Extrapolated,
    }
    let mut phase = Phase::Base;
    // Evidence of u1 (the best point of the cycle) for the safeguard.
    let mut ev_u1 = f64::NEG_INFINITY;
    let mut fallback_q = Vec::new();
    let mut fallback_s = Vec::new();
    loop {
        if fit.e_steps == o.max_iter {
            fit.reason = Reason::MaxIterations;
            break;
        }
        if stop.is_stopped() {
            fit.reason = Reason::Cancelled;
            break;
        }
        let q_in = st.q.clone();
        let s_in = st.sigma0.clone();
        match em_iteration(summary, i, &mut st, ws, &o.newton, &o.mstep, stop) {
            Ok(()) => {}
            Err(crate::Error::Cancelled) => {
                fit.reason = Reason::Cancelled;
                break;
            }
            Err(e) => return Err(e),
        }
        fit.e_steps += 1;
        on_e_step();
        let accept = match phase {
            Phase::Extrapolated => {
                let ok = st.evidence.is_finite() && st.evidence >= ev_u1;
                if ok {
                    fit.accepted += 1;
                    if capped {
                        step_max *= STEP_GROWTH;
                    }
                } else {
                    fit.rejected += 1;
                    step_max = (step_max / STEP_GROWTH).max(MAX_STEP);
                }
                ok
            }
            _ => st.evidence.is_finite(),
        };
        if accept {
            fit.trace.push(st.evidence);
            // Compare with the accepted E-step SPAN steps back (a whole
            // SQUAREM cycle): the stabilising step after an extrapolation
            // gains little even far from convergence.
            let converged = match (o.tol, used.front()) {
                (Some(tol), Some((q_old, s_old))) if used.len() == SPAN => {
                    let prev = fit.trace[fit.trace.len() - 1 - SPAN];
                    (st.evidence - prev).abs() <= SPAN as f64 * tol * st.evidence.abs()
                        && params_converged(q_old, s_old, &q_in, &s_in, o.param_tol)
                }
                _ => false,
            };
            if used.len() == SPAN {
                used.pop_front();
            }
            used.push_back((q_in.clone(), s_in.clone()));
            fit.state = st.clone();
            if converged {
                fit.reason = Reason::Converged;
                break;
            }
        } else if phase != Phase::Extrapolated {
            // A non-finite evidence from a plain EM step: nothing to fall back to.
            return Err(crate::Error::Diverged {
                method: "state-space EM".into(),
                step: fit.e_steps,
                reason: format!("the log evidence of neuron {i} is not finite"),
            });
        }
        if !o.accelerate {
            continue;
        }
        // SQUAREM bookkeeping: st.q/st.sigma0 now hold M(input).
        match phase {
            Phase::Base => {
                to_u(&q_in, &mut u0);
                phase = Phase::Second;
            }
            Phase::Second => {
                ev_u1 = st.evidence;
                to_u(&q_in, &mut u1);
                to_u(&st.q, &mut u2);
                fallback_q.clone_from(&st.q);
                fallback_s.clone_from(&st.sigma0);
                // One step length per entry of Q (see the module doc).
                let (mut alphas, cut) = step_lengths(&u0, &u1, &u2, step_max);
                capped = cut;
                phase = Phase::Base;
                // An invalid extrapolated point (Sigma0 not positive
                // definite, typically along a long step) is not dropped:
                // alpha is halved towards -1 (plain EM) until it is valid.
                while alphas.iter().any(|&a| a < -1.0 - 1e-3 && a.is_finite()) {
                    let ext = extrapolate(&u0, &u1, &u2, &alphas);
                    if from_u(&ext, o.mstep.q_floor, &mut st.q) {
                        st.sigma0.clone_from(&fallback_s);
                        phase = Phase::Extrapolated;
                        break;
                    }
                    capped = false;
                    for a in alphas.iter_mut() {
                        *a = 0.5 * (*a - 1.0);
                    }
                }
                if phase != Phase::Extrapolated {
                    st.q.clone_from(&fallback_q);
                    st.sigma0.clone_from(&fallback_s);
                }
            }
            Phase::Extrapolated => {
                if accept {
                    // Continue from the stabilising EM step M(u').
                    to_u(&q_in, &mut u0);
                    phase = Phase::Second;
                } else {
                    st.q.clone_from(&fallback_q);
                    st.sigma0.clone_from(&fallback_s);
                    phase = Phase::Base;
                }
            }
        }
    }
    if fit.trace.is_empty() {
        return Err(crate::Error::Cancelled);
    }
    Ok(fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries converging linearly at different rates
    /// (`u_n = u* + rho^n e`): with one step length per entry the
    /// extrapolation lands on the fixed point of each (`alpha = -1 / (1 -
    /// rho)` makes `u0 - 2 alpha r + alpha^2 v = u*` exactly), which one
    /// shared step cannot do for two different rates. Rounding: a few ulp
    /// of `alpha^2 v` (about 10 here), so 1e-12.
    #[test]
    fn per_entry_steps_land_on_linear_fixed_points() {
        let star = [-6.0, -2.5, 0.3];
        let rho: [f64; 3] = [0.5, 0.9, 0.7];
        let e = [1.0, -0.4, 0.2];
        let u = |n: i32| -> Vec<f64> { (0..3).map(|k| star[k] + rho[k].powi(n) * e[k]).collect() };
        let (u0, u1, u2) = (u(0), u(1), u(2));
        let (alphas, capped) = step_lengths(&u0, &u1, &u2, 1e6);
        assert!(!capped);
        let ext = extrapolate(&u0, &u1, &u2, &alphas);
        for k in 0..3 {
            assert!(
                (ext[k] - star[k]).abs() < 1e-12,
                "{k}: {} vs {}",
                ext[k],
                star[k]
            );
        }
        // The cap bounds every step; a capped step reports it.
        let (alphas, capped) = step_lengths(&u0, &u1, &u2, 4.0);
        assert!(capped);
        assert!(alphas.iter().all(|&a| (-4.0..=-1.0).contains(&a)));
    }

    /// An entry of Q heading for the boundary 0 as EM does it,
    /// `Q <- Q (1 - c Q)` (harmonic), with `c Q0 = 1e-3`: the step in
    /// `u = log Q` is `alpha ~ -1 / (c Q0)` and the extrapolated point is
    /// `u0 - 1 + O(c Q0)` (Q divided by e per cycle, where two EM steps
    /// divide it by `1 - 2 c Q0`); the remainder is 4e-7 here, so 1e-5.
    #[test]
    fn per_entry_step_divides_a_collapsing_q_by_e() {
        let c: f64 = 1.0;
        let q0: f64 = 1e-3;
        let q1 = q0 * (1.0 - c * q0);
        let q2 = q1 * (1.0 - c * q1);
        let (u0, u1, u2) = (vec![q0.ln()], vec![q1.ln()], vec![q2.ln()]);
        let (alphas, _) = step_lengths(&u0, &u1, &u2, 1e6);
        let ext = extrapolate(&u0, &u1, &u2, &alphas);
        assert!((ext[0] - (u0[0] - 1.0)).abs() < 1e-5, "{}", ext[0] - u0[0]);
    }
}
