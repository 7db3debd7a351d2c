//! The L2 penalty of maximum likelihood chosen by k-fold cross-validation.
//!
//! Folds are whole trials (trial r in fold r mod k) or, for a single
//! recording, k contiguous blocks of bins (each block treated as a trial;
//! the k−1 transitions across block boundaries are dropped). For every
//! fold the model is fitted on the other folds along a log grid of λ,
//! from the largest down, each fit warm-started from the previous one
//! (strongly penalised fits converge in a few passes and start the next
//! close to its optimum). The score is the held-out log-likelihood per
//! bin per neuron (nats); its s.e. is the spread over folds / √k. The
//! chosen λ maximises the mean score.

use nalgebra::{DMatrix, DVector};

use super::ml::{MlFit, objective};
use crate::progress::{Progress, StopToken};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Options of the cross-validation.
#[derive(Clone, Debug, PartialEq)]
pub struct CvOptions {
    /// Number of folds k (≥ 2, default 5).
    pub folds: usize,
    /// Explicit λ grid; `None`: [`default_grid`] of `grid_len` values.
    pub grid: Option<Vec<f64>>,
    /// Length of the default grid (8).
    pub grid_len: usize,
    /// Fit settings other than λ (gradient tolerance, pass cap).
    pub fit: MlFit,
}

impl Default for CvOptions {
    fn default() -> Self {
        Self {
            folds: 5,
            grid: None,
            grid_len: 8,
            fit: MlFit {
                // A gradient of 1e-4 leaves each neuron's objective within
                // ~|g|²/(2·curvature) ≲ 1e-6 nats of its optimum, below the
                // 1e-5–1e-3 differences between grid points that decide the
                // choice; it saves about a third of the passes (warm starts
                // at small λ converge in 3–5).
                tol: 1e-4,
                ..Default::default()
            },
        }
    }
}

/// Log grid of λ with `λ·n` from 1 to 10⁴ (n training transitions): from
/// a prior standard deviation of the couplings of order 1 to one of order
/// 0.01, in `len` steps, largest first.
pub fn default_grid(train_transitions: usize, len: usize) -> Vec<f64> {
    let n = train_transitions.max(1) as f64;
    let len = len.max(2);
    (0..len)
        .map(|k| 10f64.powf(4.0 - 4.0 * k as f64 / (len - 1) as f64) / n)
        .collect()
}

/// The cross-validation curve and the choice.
#[derive(Clone, Debug, PartialEq)]
pub struct CvResult {
    /// λ values, as evaluated (largest first).
    pub l2: Vec<f64>,
    /// Mean held-out log-likelihood per bin per neuron (nats).
    pub heldout_loglik: Vec<f64>,
    /// Its standard error over folds.
    pub se: Vec<f64>,
    /// Index of the chosen λ (largest mean score).
    pub chosen: usize,
    /// Number of folds.
    pub folds: usize,
    /// "trials" or "blocks".
    pub unit: &'static str,
}

impl CvResult {
    /// The chosen λ.
    pub fn chosen_l2(&self) -> f64 {
        self.l2[self.chosen]
    }
}

/// Cross-validate λ on `raster` (see the module docs). Reports progress
/// in fits (folds × grid).
pub fn cross_validate_l2(
    raster: &SpikeRaster,
    opts: &CvOptions,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<CvResult> {
    let k = opts.folds;
    if k < 2 {
        return Err(Error::param("folds", k, "need at least 2 folds"));
    }
    let (rr, tt, n) = raster.shape();
    let (data, unit) = if rr >= k {
        (raster.clone(), "trials")
    } else if rr == 1 {
        let len = tt / k;
        if len < 3 {
            return Err(Error::NotEnoughData(format!(
                "{k}-fold cross-validation needs at least {} bins; the raster has {tt}",
                3 * k
            )));
        }
        let parts: Vec<SpikeRaster> = (0..k)
            .map(|f| raster.slice_bins(f * len..(f + 1) * len))
            .collect::<Result<_>>()?;
        (SpikeRaster::concat_trials(&parts)?, "blocks")
    } else {
        return Err(Error::NotEnoughData(format!(
            "{k}-fold cross-validation over trials needs at least {k} trials; the raster has {rr} (use fewer folds)"
        )));
    };
    let rd = data.n_trials();
    let fold_sets: Vec<(SpikeRaster, SpikeRaster)> = (0..k)
        .map(|f| {
            let pick = |keep: bool| -> Result<SpikeRaster> {
                let parts: Vec<SpikeRaster> = (0..rd)
                    .filter(|r| (r % k == f) != keep)
                    .map(|r| data.slice_trials(r..r + 1))
                    .collect::<Result<_>>()?;
                SpikeRaster::concat_trials(&parts)
            };
            Ok((pick(true)?, pick(false)?))
        })
        .collect::<Result<_>>()?;
    let train_n = fold_sets[0].0.n_trials() * (data.n_bins() - 1);
    let grid = match &opts.grid {
        Some(g) => {
            if g.is_empty() || g.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(Error::param(
                    "l2 grid",
                    format!("{g:?}"),
                    "needs finite values >= 0",
                ));
            }
            let mut g = g.clone();
            g.sort_by(|a, b| b.total_cmp(a));
            g
        }
        None => default_grid(train_n, opts.grid_len),
    };
    let total = (k * grid.len()) as u64;
    let mut scores = vec![vec![0.0; k]; grid.len()];
    let mut done = 0;
    for (f, (train, test)) in fold_sets.iter().enumerate() {
        let mut start: Option<(DVector<f64>, DMatrix<f64>)> = None;
        for (g, &l2) in grid.iter().enumerate() {
            stop.check()?;
            let fit = MlFit {
                l2,
                ..opts.fit.clone()
            }
            .validate()?;
            let est = fit.fit_from(
                train,
                start.as_ref().map(|(h, j)| (h, j)),
                &crate::progress::NoProgress,
                stop,
            )?;
            let obj = objective(test, &est.h, &est.j, 0.0)?;
            scores[g][f] = -obj.nll.sum() / n as f64;
            start = Some((est.h, est.j));
            done += 1;
            progress.report(done, total);
        }
    }
    let kf = k as f64;
    let mean: Vec<f64> = scores.iter().map(|s| s.iter().sum::<f64>() / kf).collect();
    let se: Vec<f64> = scores
        .iter()
        .zip(&mean)
        .map(|(s, m)| (s.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (kf - 1.0) / kf).sqrt())
        .collect();
    let chosen = (0..grid.len())
        .max_by(|&a, &b| mean[a].total_cmp(&mean[b]))
        .unwrap_or(0);
    Ok(CvResult {
        l2: grid,
        heldout_loglik: mean,
        se,
        chosen,
        folds: k,
        unit,
    })
}
