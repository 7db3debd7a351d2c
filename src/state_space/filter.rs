//! Forward pass: the per-neuron Laplace (Newton) filter.
//!
//! For one neuron (index dropped) and transitions `t = 0..T-1`:
//!
//! ```text
//! prediction   theta_o(0) = mu0 = 0,        Sigma_o(0) = Sigma0
//!              theta_o(t) = theta_f(t-1),   Sigma_o(t) = Sigma_f(t-1) + Q      (t > 0)
//! update       theta_f(t) = argmax L(theta),
//!              L(theta) = theta . Y_t - sum_r softplus(theta . F^r(t))
//!                         - 1/2 (theta - theta_o)^T Sigma_o^{-1} (theta - theta_o)
//!              Sigma_f(t) = H(theta_f)^{-1},  H = sum_r p_r (1 - p_r) F^r F^r^T + Sigma_o^{-1}
//! ```
//!
//! `L` is strictly concave, so Newton's method with a backtracking safeguard
//! (halve the step until `L` does not decrease) converges to the unique
//! maximiser from any start. Once a step has cut the gradient more than
//! ten-fold, the next steps reuse that Hessian factor (chord steps, linear
//! convergence at a rate of the size of the remaining error), which saves
//! most Hessian evaluations in warm-started EM iterations. Iteration stops
//! when `max_k |grad_k| / R` at the current iterate is below the tolerance;
//! `H` is then evaluated at that same final iterate (the reference stores it
//! at the penultimate one; the difference vanishes with a tight tolerance).
//! The Gram part of `H` runs over the distinct 0/1 patterns and only their
//! active entries. All solves use Cholesky factors; the precision
//! `Sigma_o^{-1}` is formed from the Cholesky factor of
//! `Sigma_o = Sigma_f + Q`, positive definite even where `Q` collapses to 0.
//!
//! Laplace log evidence contribution of each transition (the `2 pi` terms
//! cancel):
//!
//! ```text
//! L(theta_f) + 1/2 log det Sigma_f - 1/2 log det Sigma_o
//! ```

use super::linalg::{cholesky_in_place, cholesky_inverse, cholesky_solve, dot, half_log_det};
use super::model::DataSummary;
use crate::progress::StopToken;
use crate::{Error, Result};

/// Settings of the Newton solve of each filter update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NewtonOptions {
    /// Stop when `max_k |grad_k| / R` falls below this (default `1e-10`;
    /// the reference uses 1e-5 in its default filter and 1e-9 in `ref_tight`).
    pub tol: f64,
    /// Newton steps per update before giving up (the iterate is kept and the
    /// solve counted as unconverged).
    pub max_iter: usize,
}

impl Default for NewtonOptions {
    fn default() -> Self {
        Self {
            tol: 1e-10,
            max_iter: 100,
        }
    }
}

/// Reusable buffers of one filter run (one per worker thread).
pub(crate) struct FilterScratch {
    d: usize,
    sig: Vec<f64>,
    sig_trial: Vec<f64>,
    eta: Vec<f64>,
    eta_trial: Vec<f64>,
    grad: Vec<f64>,
    delta: Vec<f64>,
    theta: Vec<f64>,
    theta_trial: Vec<f64>,
    diff: Vec<f64>,
    diff_trial: Vec<f64>,
    pd: Vec<f64>,
    pd_trial: Vec<f64>,
    hess: Vec<f64>,
    chol_o: Vec<f64>,
    work: Vec<f64>,
    /// Work done so far by this scratch's filter runs: floating-point
    /// operations counted from the sizes (a multiply-add = 2) and CPU
    /// seconds, for the Newton solves (Gram products, activations,
    /// Hessian factorisations, solves) and for the covariance algebra
    /// (factor and inverse of `Sigma_o`, inverse of the final Hessian).
    pub(crate) cost: FilterCost,
}

/// See [`FilterScratch::cost`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FilterCost {
    /// Filter updates (one per neuron, transition and E-step).
    pub updates: u64,
    /// Hessians formed and factored (sparse Gram product + Cholesky).
    pub hessians: u64,
    /// Passes over the patterns for the activations (start of each update
    /// and every trial point of the line search).
    pub activation_passes: u64,
    pub newton_flops: f64,
    pub newton_secs: f64,
    pub cov_flops: f64,
    pub cov_secs: f64,
}

impl FilterScratch {
    pub(crate) fn new(d: usize, max_patterns: usize) -> Self {
        Self {
            d,
            sig: vec![0.0; max_patterns],
            sig_trial: vec![0.0; max_patterns],
            eta: vec![0.0; d],
            eta_trial: vec![0.0; d],
            grad: vec![0.0; d],
            delta: vec![0.0; d],
            theta: vec![0.0; d],
            theta_trial: vec![0.0; d],
            diff: vec![0.0; d],
            diff_trial: vec![0.0; d],
            pd: vec![0.0; d],
            pd_trial: vec![0.0; d],
            hess: vec![0.0; d * d],
            chol_o: vec![0.0; d * d],
            work: vec![0.0; d * d],
            cost: FilterCost::default(),
        }
    }
}

/// What a filter pass reports besides the filtered moments.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FilterOutcome {
    /// Laplace log evidence of this neuron (nats).
    pub evidence: f64,
    /// Updates whose Newton solve did not reach the tolerance.
    pub unconverged: usize,
}

/// For the patterns of transition `t`, `sig_p = sigmoid(theta . F_p)` and
/// `eta = sum_p c_p sig_p F_p` (the expected part of the gradient, length
/// `D`); returns `sum_p c_p softplus(theta . F_p)`. One `exp` per pattern
/// serves both; `softplus(x) = max(x, 0) + ln(1 + e^-|x|)` is summed as the
/// log of a running product of the factors `(1 + e^-|x|)^c_p` (each in
/// `[1, 2^c_p]`, renormalised before it can overflow), so the pass needs
/// one `ln` per ~500 patterns instead of a `log1p` per pattern (that
/// `log1p` was 15 % of the fit's time). Rounding: each factor carries one
/// rounding of `1 + e` (relative 1.1e-16), so the sum is off by at most
/// about `1.1e-16 R` nats (2e-13 for 1,800 trials).
fn activations(
    summary: &DataSummary,
    t: usize,
    theta: &[f64],
    sig: &mut [f64],
    eta: &mut [f64],
) -> f64 {
    eta.fill(0.0);
    let mut linear = 0.0;
    let mut logs = 0.0;
    let mut prod = 1.0f64;
    for (slot, p) in sig.iter_mut().zip(summary.patterns(t)) {
        let act = summary.active(p);
        let mut x = theta[0];
        for &j in act {
            x += theta[1 + j as usize];
        }
        let e = (-x.abs()).exp();
        let one_e = 1.0 + e;
        let inv = 1.0 / one_e;
        let s = if x >= 0.0 { inv } else { e * inv };
        *slot = s;
        let c = summary.count(p);
        linear += c * x.max(0.0);
        if c == 1.0 {
            prod *= one_e;
        } else if c <= 64.0 {
            prod *= one_e.powi(c as i32);
        } else {
            logs += c * e.ln_1p();
        }
        // After one more factor (at most 2^64) prod stays below 1e170.
        if prod > 1e150 {
            logs += prod.ln();
            prod = 1.0;
        }
        let cs = c * s;
        eta[0] += cs;
        for &j in act {
            eta[1 + j as usize] += cs;
        }
    }
    linear + logs + prod.ln()
}

/// `L(theta)` given the log-partition sum; fills `diff = theta - theta_o`
/// and `pd = P diff`.
fn objective(
    theta: &[f64],
    y: &[f64],
    theta_o: &[f64],
    prec: &[f64],
    log_partition: f64,
    diff: &mut [f64],
    pd: &mut [f64],
) -> f64 {
    let d = theta.len();
    for k in 0..d {
        diff[k] = theta[k] - theta_o[k];
    }
    for (k, pk) in pd.iter_mut().enumerate() {
        *pk = dot(&prec[k * d..(k + 1) * d], diff);
    }
    dot(theta, y) - log_partition - 0.5 * dot(diff, pd)
}

/// Gradient `grad = Y - eta - P diff` (`eta` from [`activations`]).
fn gradient(y: &[f64], eta: &[f64], pd: &[f64], grad: &mut [f64]) {
    for (((g, y), e), pd) in grad.iter_mut().zip(y).zip(eta).zip(pd) {
        *g = y - e - pd;
    }
}

/// Lower triangle (row-major) of `H = sum_p c_p s_p (1 - s_p) F_p F_p^T + P`
/// from the sigmoids of [`activations`]. Only the active entries of each 0/1
/// pattern enter the Gram product.
fn hessian(summary: &DataSummary, t: usize, sig: &[f64], prec: &[f64], hess: &mut [f64]) {
    let d = summary.dim();
    assert_eq!(hess.len(), d * d, "Hessian buffer must be D x D");
    hess.copy_from_slice(prec);
    let base = hess.as_mut_ptr();
    for (&s, p) in sig.iter().zip(summary.patterns(t)) {
        let w = summary.count(p) * s * (1.0 - s);
        let act = summary.active(p);
        hess[0] += w;
        for (m, &j) in act.iter().enumerate() {
            let k = 1 + j as usize;
            // SAFETY: `DataSummary` stores the active units of a pattern in
            // ascending order and each is < N = d - 1. So k = 1 + j <= d - 1,
            // and every l in act[..=m] satisfies l <= j, hence the offsets
            // k * d and k * d + 1 + l are < d * d = hess.len(). This is the
            // hot loop of the whole fit (the sparse Gram product); bounds
            // checks here cost about a third of its time.
            unsafe {
                let row = base.add(k * d);
                *row += w;
                for &l in act.get_unchecked(..=m) {
                    *row.add(1 + l as usize) += w;
                }
            }
        }
    }
}

/// Log posterior `L`, its gradient and full Hessian of `-L` at `theta` for
/// neuron `i`, transition `t` (used by the finite-difference tests).
#[cfg(test)]
pub(crate) fn log_posterior(
    summary: &DataSummary,
    t: usize,
    i: usize,
    theta: &[f64],
    theta_o: &[f64],
    prec: &[f64],
) -> (f64, Vec<f64>, Vec<f64>) {
    let d = theta.len();
    let mut sig = vec![0.0; summary.patterns(t).len()];
    let mut eta = vec![0.0; d];
    let lp = activations(summary, t, theta, &mut sig, &mut eta);
    let (mut diff, mut pd) = (vec![0.0; d], vec![0.0; d]);
    let y = summary.y(t, i);
    let l = objective(theta, y, theta_o, prec, lp, &mut diff, &mut pd);
    let (mut g, mut h) = (vec![0.0; d], vec![0.0; d * d]);
    gradient(y, &eta, &pd, &mut g);
    hessian(summary, t, &sig, prec, &mut h);
    super::linalg::symmetrize_from_lower(&mut h, d);
    (l, g, h)
}

/// Run the filter for neuron `i` over all transitions.
///
/// * `theta_f` (`T × D`): on entry the warm start of each Newton solve (the
///   previous EM iteration's filtered means, zeros at first); on exit the
///   filtered means. `var_f` (`T × D`) receives the filtered variances.
/// * `sigma_f`, `prec_o` (`T × D × D`): filtered covariances and predicted
///   precisions `Sigma_o(t)^{-1}`, kept for the smoother.
/// * `q` (diagonal of `Q`, length `D`), `sigma0` (`D × D`): hyperparameters.
#[allow(clippy::too_many_arguments)]
pub(crate) fn filter_neuron(
    summary: &DataSummary,
    i: usize,
    q: &[f64],
    sigma0: &[f64],
    opts: &NewtonOptions,
    theta_f: &mut [f64],
    var_f: &mut [f64],
    sigma_f: &mut [f64],
    prec_o: &mut [f64],
    s: &mut FilterScratch,
    stop: &StopToken,
) -> Result<FilterOutcome> {
    let d = s.d;
    let d2 = d * d;
    let n_trials = summary.n_trials() as f64;
    let mut outcome = FilterOutcome::default();
    let zero = vec![0.0; d];
    let mut theta_o = vec![0.0; d];
    let df = d as f64;
    // Cholesky D^3/3, inverse from the factor 2 D^3/3, solve 2 D^2 (flops).
    let chol_flops = df * df * df / 3.0;
    let inv_flops = 2.0 * df * df * df / 3.0;
    for t in 0..summary.n_steps() {
        stop.check()?;
        let clock = std::time::Instant::now();
        // Prediction.
        if t == 0 {
            theta_o.copy_from_slice(&zero);
            s.chol_o.copy_from_slice(sigma0);
        } else {
            theta_o.copy_from_slice(&theta_f[(t - 1) * d..t * d]);
            s.chol_o.copy_from_slice(&sigma_f[(t - 1) * d2..t * d2]);
            for (k, qk) in q.iter().enumerate() {
                s.chol_o[k * d + k] += qk;
            }
        }
        if !cholesky_in_place(&mut s.chol_o, d) {
            return Err(diverged(
                t,
                format!(
                    "the predicted covariance of neuron {i} at transition {t} is not positive definite"
                ),
            ));
        }
        let prec = &mut prec_o[t * d2..(t + 1) * d2];
        cholesky_inverse(&s.chol_o, d, &mut s.work, prec);
        let prec = &prec_o[t * d2..(t + 1) * d2];
        let y = summary.y(t, i);
        let n_pat = summary.patterns(t).len();
        // Flops of one evaluation of the activations (per active entry one
        // add into the activation and one into eta) and of one sparse Gram
        // product (a multiply-add per entry of
        // the lower triangle of each pattern's active block).
        let (act_flops, gram_flops) = summary.patterns(t).fold((0.0, 0.0), |(a, g), p| {
            let m = summary.active(p).len() as f64 + 1.0;
            (a + 2.0 * m + 8.0, g + m * (m + 1.0) + 3.0)
        });
        let mid = std::time::Instant::now();
        s.cost.cov_secs += (mid - clock).as_secs_f64();
        s.cost.cov_flops += chol_flops + inv_flops;

        // Newton iterations from the warm start. A fresh Hessian is formed
        // for the first step and whenever the previous step reduced the
        // gradient less than 10-fold; otherwise the previous factor is
        // reused (a chord step, still an ascent direction). The factor
        // used for Sigma_f is always formed at the final iterate.
        s.theta.copy_from_slice(&theta_f[t * d..(t + 1) * d]);
        s.cost.updates += 1;
        s.cost.activation_passes += 1;
        let lp = activations(summary, t, &s.theta, &mut s.sig[..n_pat], &mut s.eta);
        let mut obj = objective(&s.theta, y, &theta_o, prec, lp, &mut s.diff, &mut s.pd);
        gradient(y, &s.eta, &s.pd, &mut s.grad);
        let mut converged = false;
        let mut factor_at_current = false;
        let mut have_factor = false;
        let mut prev_gmax = f64::INFINITY;
        for it in 0..=opts.max_iter {
            let gmax = s.grad.iter().fold(0.0f64, |m, g| m.max(g.abs())) / n_trials;
            if !gmax.is_finite() {
                return Err(diverged(
                    t,
                    format!("non-finite gradient for neuron {i} at transition {t}"),
                ));
            }
            if gmax < opts.tol {
                converged = true;
                break;
            }
            if it == opts.max_iter {
                break;
            }
            if !(have_factor && gmax < 0.1 * prev_gmax) {
                s.cost.newton_flops += gram_flops + chol_flops;
                s.cost.hessians += 1;
                hessian(summary, t, &s.sig[..n_pat], prec, &mut s.hess);
                if !cholesky_in_place(&mut s.hess, d) {
                    return Err(not_pd(i, t));
                }
                have_factor = true;
                factor_at_current = true;
            }
            prev_gmax = gmax;
            s.delta.copy_from_slice(&s.grad);
            cholesky_solve(&s.hess, d, &mut s.delta);
            // Backtracking: accept the largest step 2^-m that does not
            // decrease L (beyond rounding).
            let mut step = 1.0;
            let mut accepted = false;
            s.cost.newton_flops += 2.0 * df * df;
            while step >= 1e-10 {
                s.cost.newton_flops += act_flops + 2.0 * df * df;
                s.cost.activation_passes += 1;
                for k in 0..d {
                    s.theta_trial[k] = s.theta[k] + step * s.delta[k];
                }
                let lp = activations(
                    summary,
                    t,
                    &s.theta_trial,
                    &mut s.sig_trial[..n_pat],
                    &mut s.eta_trial,
                );
                let obj_trial = objective(
                    &s.theta_trial,
                    y,
                    &theta_o,
                    prec,
                    lp,
                    &mut s.diff_trial,
                    &mut s.pd_trial,
                );
                if obj_trial >= obj - 1e-12 * (1.0 + obj.abs()) {
                    std::mem::swap(&mut s.theta, &mut s.theta_trial);
                    std::mem::swap(&mut s.sig, &mut s.sig_trial);
                    std::mem::swap(&mut s.eta, &mut s.eta_trial);
                    std::mem::swap(&mut s.diff, &mut s.diff_trial);
                    std::mem::swap(&mut s.pd, &mut s.pd_trial);
                    obj = obj_trial;
                    accepted = true;
                    break;
                }
                step *= 0.5;
            }
            if !accepted {
                // No ascent left at rounding level: keep the iterate.
                break;
            }
            factor_at_current = false;
            gradient(y, &s.eta, &s.pd, &mut s.grad);
        }
        if !factor_at_current {
            s.cost.newton_flops += gram_flops + chol_flops;
            s.cost.hessians += 1;
            hessian(summary, t, &s.sig[..n_pat], prec, &mut s.hess);
            if !cholesky_in_place(&mut s.hess, d) {
                return Err(not_pd(i, t));
            }
        }
        if !converged {
            outcome.unconverged += 1;
        }
        // Hessian factor is at the final iterate.
        let mid2 = std::time::Instant::now();
        s.cost.newton_secs += (mid2 - mid).as_secs_f64();
        theta_f[t * d..(t + 1) * d].copy_from_slice(&s.theta);
        let sf = &mut sigma_f[t * d2..(t + 1) * d2];
        cholesky_inverse(&s.hess, d, &mut s.work, sf);
        for k in 0..d {
            var_f[t * d + k] = sf[k * d + k];
        }
        outcome.evidence += obj - half_log_det(&s.hess, d) - half_log_det(&s.chol_o, d);
        s.cost.cov_flops += inv_flops;
        s.cost.cov_secs += mid2.elapsed().as_secs_f64();
    }
    Ok(outcome)
}

fn not_pd(i: usize, t: usize) -> Error {
    diverged(
        t,
        format!(
            "the posterior Hessian of neuron {i} at transition {t} is not positive definite (non-finite parameters?)"
        ),
    )
}

fn diverged(t: usize, reason: String) -> Error {
    Error::Diverged {
        method: "state-space filter".into(),
        step: t + 1,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spikes::SpikeRaster;

    fn small_summary() -> DataSummary {
        // 40 trials, 3 bins, 3 units, deterministic pseudo-random pattern.
        let (r, b, n) = (40, 3, 3);
        let x: Vec<u8> = (0..r * b * n)
            .map(|k| ((k * 2654435761usize) >> 7).is_multiple_of(3))
            .map(u8::from)
            .collect();
        DataSummary::new(&SpikeRaster::from_binary(r, b, n, &x).unwrap()).unwrap()
    }

    /// Central differences of L reproduce the analytic gradient, and
    /// central differences of the gradient reproduce -Hessian. Step 1e-5:
    /// truncation error O(h^2 |L'''|) ~ 1e-10 * R, rounding ~ 1e-16 |L| / h
    /// ~ 1e-10 here, so 1e-6 (relative to R = 40) is a safe bound that a
    /// wrong sign or missing term (O(1)) would break.
    #[test]
    fn gradient_and_hessian_match_finite_differences() {
        let s = small_summary();
        let d = 4;
        let theta = [-0.7, 0.4, -1.1, 0.9];
        let theta_o = [0.1, -0.2, 0.3, 0.0];
        // An SPD precision with off-diagonal terms.
        let mut prec = vec![0.0; d * d];
        for k in 0..d {
            for l in 0..d {
                prec[k * d + l] = if k == l {
                    2.0 + k as f64
                } else {
                    0.3 / (1 + k + l) as f64
                };
            }
        }
        for t in 0..2 {
            for i in 0..3 {
                let (_, g, h) = log_posterior(&s, t, i, &theta, &theta_o, &prec);
                let eps = 1e-5;
                for k in 0..d {
                    let mut tp = theta;
                    let mut tm = theta;
                    tp[k] += eps;
                    tm[k] -= eps;
                    let (lp, gp, _) = log_posterior(&s, t, i, &tp, &theta_o, &prec);
                    let (lm, gm, _) = log_posterior(&s, t, i, &tm, &theta_o, &prec);
                    let fd = (lp - lm) / (2.0 * eps);
                    assert!(
                        (fd - g[k]).abs() < 1e-6 * 40.0,
                        "grad t={t} i={i} k={k}: {fd} vs {}",
                        g[k]
                    );
                    for l in 0..d {
                        let fdh = -(gp[l] - gm[l]) / (2.0 * eps);
                        assert!(
                            (fdh - h[l * d + k]).abs() < 1e-6 * 40.0,
                            "hess t={t} i={i} ({l},{k}): {fdh} vs {}",
                            h[l * d + k]
                        );
                    }
                }
            }
        }
    }

    /// The filtered mean is the maximiser: gradient ~ 0 there, and the
    /// filtered covariance is the inverse Hessian at that point.
    #[test]
    fn filter_update_is_the_posterior_mode() {
        let s = small_summary();
        let d = 4;
        let t_steps = s.n_steps();
        let q = vec![0.5; d];
        let mut sigma0 = vec![0.0; d * d];
        for k in 0..d {
            sigma0[k * d + k] = 1.0;
        }
        let mut theta_f = vec![0.0; t_steps * d];
        let mut var_f = vec![0.0; t_steps * d];
        let mut sigma_f = vec![0.0; t_steps * d * d];
        let mut prec_o = vec![0.0; t_steps * d * d];
        let mut scratch = FilterScratch::new(d, 40);
        let out = filter_neuron(
            &s,
            1,
            &q,
            &sigma0,
            &NewtonOptions::default(),
            &mut theta_f,
            &mut var_f,
            &mut sigma_f,
            &mut prec_o,
            &mut scratch,
            &StopToken::new(),
        )
        .unwrap();
        assert_eq!(out.unconverged, 0);
        assert!(out.evidence.is_finite());
        for t in 0..t_steps {
            let theta_o: Vec<f64> = if t == 0 {
                vec![0.0; d]
            } else {
                theta_f[(t - 1) * d..t * d].to_vec()
            };
            let prec = &prec_o[t * d * d..(t + 1) * d * d];
            let (_, g, h) = log_posterior(&s, t, 1, &theta_f[t * d..(t + 1) * d], &theta_o, prec);
            assert!(g.iter().all(|x| x.abs() < 1e-10 * 40.0), "{g:?}");
            let h = nalgebra::DMatrix::from_row_slice(d, d, &h);
            let sf = nalgebra::DMatrix::from_row_slice(d, d, &sigma_f[t * d * d..(t + 1) * d * d]);
            assert!((h * sf - nalgebra::DMatrix::identity(d, d)).abs().max() < 1e-10);
        }
    }
}
