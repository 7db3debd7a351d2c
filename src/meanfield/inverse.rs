//! The inverse problem by moment matching (spec §3.1–3.2).
//!
//! Given target moments of one (stationary) step — `m(t)`, `D(t)` — and the
//! previous step's `m(t−1)`, `C(t−1)`, `D(t−1)`, find effective fields and
//! couplings for which the method's one-step prediction reproduces the
//! targets. Starting from `H = 0`, `J = 0`, repeat:
//!
//! ```text
//! (m̂, D̂) = method's one-step prediction from the fixed previous moments
//! ΔH = m − m̂,   ΔJ = D − D̂                 (N × N, diagonal included)
//! Plefka[t−1,t] only: ΔH_i ≤ 0 where H_i > 5, ΔH_i ≥ 0 where H_i < −5
//! H += η_H ΔH,  J += η_J ΔJ                 (η_H = 0.1, η_J = 1/√N)
//! stop when mean(ΔH²) < 1e-12 and mean(ΔJ²) < 1e-12, or after 10 000 iterations
//! ```
//!
//! This is a fixed-point ("Boltzmann-learning"-style) iteration, not the
//! gradient of a stated objective; it has no step-size control, so for
//! data a method cannot represent it may drift (spec §3.2). Non-finite
//! predictions stop it with [`Error::Diverged`]. The fitted H, J are
//! effective (β-scaled) parameters.

use nalgebra::{DMatrix, DVector};

use super::{Method, Net, Quadrature, Rule, predict_m_d};
use crate::model::stats::Moments;
use crate::progress::{FitInfo, Progress, StopToken, TerminationReason};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Moments the inverse problem matches (all ±1-spin statistics).
#[derive(Clone, Debug, PartialEq)]
pub struct MomentTargets {
    /// Target `m_i(t)`.
    pub m: DVector<f64>,
    /// Target `D_il(t)` (row = later time).
    pub d: DMatrix<f64>,
    /// `m_i(t−1)`.
    pub m_prev: DVector<f64>,
    /// `C_ik(t−1)`.
    pub c_prev: DMatrix<f64>,
    /// `D_il(t−1)`.
    pub d_prev: DMatrix<f64>,
}

impl MomentTargets {
    /// Number of spins N.
    pub fn n(&self) -> usize {
        self.m.len()
    }

    /// Check shapes and finiteness.
    pub fn validate(&self) -> Result<()> {
        let n = self.n();
        if n == 0 {
            return Err(Error::NotEnoughData(
                "no spins in the target moments".into(),
            ));
        }
        if self.m_prev.len() != n {
            return Err(Error::shape("m(t-1)", n, self.m_prev.len()));
        }
        for (what, x) in [
            ("D(t)", &self.d),
            ("C(t-1)", &self.c_prev),
            ("D(t-1)", &self.d_prev),
        ] {
            if x.shape() != (n, n) {
                return Err(Error::shape(
                    what,
                    format!("{n} x {n}"),
                    format!("{} x {}", x.nrows(), x.ncols()),
                ));
            }
            if x.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: what.into(),
                    location: "some entry".into(),
                });
            }
        }
        if self
            .m
            .iter()
            .chain(self.m_prev.iter())
            .any(|v| !v.is_finite() || v.abs() > 1.0)
        {
            return Err(Error::param(
                "m",
                "out of range",
                "magnetisations must be finite and in [-1, 1]",
            ));
        }
        Ok(())
    }

    /// Targets from a raster, treating it as stationary (spec §3.1 with
    /// time averages in place of the per-slot averages): the targets are
    /// the moments of every transition t−1 → t with t ≥ 2, and the
    /// "previous" moments those of the transitions one bin earlier
    /// (t ≥ 1, t ≤ T−2), averaged over all trials. So
    /// `m_prev` = mean of bins 1..T−1, `C_prev` their covariance, `D_prev`
    /// their delayed covariance with bins 0..T−2, consistently with the
    /// centring of `D`. Needs at least 3 bins. Transients at the start of
    /// each trial are included; slice them off first if the data are not
    /// stationary from the first bin.
    pub fn from_raster(raster: &SpikeRaster) -> Result<Self> {
        let t = raster.n_bins();
        if t < 3 {
            return Err(Error::NotEnoughData(format!(
                "moment matching needs at least 3 time bins per trial (the raster has {t})"
            )));
        }
        let now = crate::model::stats::time_averaged_moments(&raster.slice_bins(1..t)?)?;
        let before = crate::model::stats::time_averaged_moments(&raster.slice_bins(0..t - 1)?)?;
        Ok(Self::from_moments(&now, &before))
    }

    /// Targets from the moments of step t (`now`) and step t−1 (`before`).
    pub fn from_moments(now: &Moments, before: &Moments) -> Self {
        Self {
            m: now.m.clone(),
            d: now.d.clone(),
            m_prev: before.m.clone(),
            c_prev: before.c.clone(),
            d_prev: before.d.clone(),
        }
    }
}

/// Hyperparameters of moment matching (defaults: spec §3.2).
#[derive(Clone, Debug, PartialEq)]
pub struct MomentMatching {
    /// Learning rate of H (default 0.1).
    pub eta_h: f64,
    /// Learning rate of J (default `None` = 1/√N).
    pub eta_j: Option<f64>,
    /// Stop when both mean(ΔH²) and mean(ΔJ²) fall below this (1e-12).
    pub tol: f64,
    /// Iteration cap (10 000).
    pub max_iter: usize,
    /// Gaussian rule for Plefka[t−1].
    pub quadrature: Quadrature,
}

impl Default for MomentMatching {
    fn default() -> Self {
        Self {
            eta_h: 0.1,
            eta_j: None,
            tol: 1e-12,
            max_iter: 10_000,
            quadrature: Quadrature::Riemann20,
        }
    }
}

/// [`MomentMatching`] after validation.
#[derive(Clone, Debug)]
pub struct ValidMomentMatching {
    params: MomentMatching,
    rule: Rule,
}

impl MomentMatching {
    /// Check ranges.
    pub fn validate(self) -> Result<ValidMomentMatching> {
        if !(self.eta_h.is_finite() && self.eta_h > 0.0) {
            return Err(Error::param(
                "eta_h",
                self.eta_h,
                "must be a positive number",
            ));
        }
        if let Some(e) = self.eta_j
            && !(e.is_finite() && e > 0.0)
        {
            return Err(Error::param("eta_j", e, "must be a positive number"));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(Error::param("tol", self.tol, "must be a positive number"));
        }
        if self.max_iter == 0 {
            return Err(Error::param("max_iter", 0, "must be at least 1"));
        }
        let rule = self.quadrature.rule()?;
        Ok(ValidMomentMatching { params: self, rule })
    }
}

/// Result of moment matching: effective parameters and the trace.
#[derive(Clone, Debug, PartialEq)]
pub struct MomentFit {
    /// The method fitted.
    pub method: Method,
    /// Effective fields βH.
    pub h: DVector<f64>,
    /// Effective couplings βJ (row = receiving neuron).
    pub j: DMatrix<f64>,
    /// `mean(ΔH²)` per iteration.
    pub error_h: Vec<f64>,
    /// `mean(ΔJ²)` per iteration.
    pub error_j: Vec<f64>,
    /// Objective = `max(mean ΔH², mean ΔJ²)` per iteration, iterations, reason.
    pub info: FitInfo,
}

impl ValidMomentMatching {
    /// The validated hyperparameters.
    pub fn params(&self) -> &MomentMatching {
        &self.params
    }

    /// Run the iteration for `method` on `targets`. Reports progress in
    /// iterations (of `max_iter`), honours `stop` (returning the current
    /// parameters with reason `Cancelled`).
    pub fn fit(
        &self,
        method: Method,
        targets: &MomentTargets,
        progress: &dyn Progress,
        stop: &StopToken,
    ) -> Result<MomentFit> {
        targets.validate()?;
        let p = &self.params;
        let n = targets.n();
        let nf = n as f64;
        let eta_j = p.eta_j.unwrap_or(1.0 / nf.sqrt());
        let clip = matches!(method, Method::PlefkaT1TO1 | Method::PlefkaT1TO2);
        let mut h = DVector::<f64>::zeros(n);
        let mut j = DMatrix::<f64>::zeros(n, n);
        let mut info = FitInfo::new("max(mean squared m error, mean squared D error)");
        let (mut error_h, mut error_j) = (Vec::new(), Vec::new());
        info.reason = TerminationReason::MaxIterations;
        for it in 1..=p.max_iter {
            if stop.is_stopped() {
                info.reason = TerminationReason::Cancelled;
                break;
            }
            let net = Net::new(h.clone(), j.clone());
            let (m_hat, d_hat) = predict_m_d(
                method,
                &net,
                &targets.m_prev,
                &targets.c_prev,
                &targets.d_prev,
                &self.rule,
            );
            let mut dh = &targets.m - m_hat;
            let dj = &targets.d - d_hat;
            if clip {
                for (x, &hi) in dh.iter_mut().zip(h.iter()) {
                    if hi > 5.0 {
                        *x = x.min(0.0);
                    } else if hi < -5.0 {
                        *x = x.max(0.0);
                    }
                }
            }
            let eh = dh.norm_squared() / nf;
            let ej = dj.norm_squared() / (nf * nf);
            if !(eh.is_finite() && ej.is_finite()) {
                return Err(Error::Diverged {
                    method: format!("{} moment matching", method.paper_name()),
                    step: it,
                    reason: "the predicted moments became non-finite".into(),
                });
            }
            h.axpy(p.eta_h, &dh, 1.0);
            j += &dj * eta_j;
            error_h.push(eh);
            error_j.push(ej);
            info.objective.push(eh.max(ej));
            progress.objective(it, eh.max(ej));
            info.iterations = it;
            progress.report(it as u64, p.max_iter as u64);
            if eh < p.tol && ej < p.tol {
                info.reason = TerminationReason::Converged;
                break;
            }
        }
        Ok(MomentFit {
            method,
            h,
            j,
            error_h,
            error_j,
            info,
        })
    }
}

/// Moment matching with default hyperparameters (spec §3.2).
pub fn fit_moments(
    method: Method,
    targets: &MomentTargets,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<MomentFit> {
    MomentMatching::default()
        .validate()?
        .fit(method, targets, progress, stop)
}
