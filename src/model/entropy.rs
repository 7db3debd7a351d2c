//! Entropy production (time irreversibility) of kinetic Ising trajectories.
//!
//! For one transition `s(t−1) → s(t)` the log ratio of the forward
//! probability to that of the reversed transition under the same kernel is
//!
//! ```text
//! ω = Σ_i [s_i(t) h_i(s(t−1)) − log 2cosh h_i(s(t−1))]
//!   − Σ_i [s_i(t−1) h_i(s(t)) − log 2cosh h_i(s(t))]
//! ```
//!
//! (effective fields, β included). Its mean over the dynamics is the entropy
//! production σ per step, in nats. Three ways to get it:
//!
//! * exactly for small N ([`crate::model::exact`]);
//! * [`estimate_entropy_production`]: the sample mean of ω over every
//!   observed transition of a raster, with a standard error — valid for any
//!   N and also away from stationarity;
//! * [`stationary_entropy_production`]: `σ = Σ_il J_il (D_il − D_li)` from
//!   delayed covariances, which holds at stationarity (spec §5).

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::KineticIsing;
use super::exact::log_2cosh;
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// A Monte-Carlo estimate with its standard error.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    /// The estimate.
    pub mean: f64,
    /// Its standard error (from independent trials, or batch means when
    /// there are fewer than 10 trials).
    pub std_error: f64,
    /// Number of transitions averaged.
    pub samples: u64,
}

/// `σ = Σ_il J_il (D_il − D_li)` for effective couplings J and delayed
/// covariances D (both N × N, `[i, l]`: i at t, l at t−1).
pub fn stationary_entropy_production(j_eff: &DMatrix<f64>, d: &DMatrix<f64>) -> Result<f64> {
    if j_eff.shape() != d.shape() || j_eff.nrows() != j_eff.ncols() {
        return Err(Error::shape(
            "delayed covariance D",
            format!("{} x {} like J", j_eff.nrows(), j_eff.ncols()),
            format!("{} x {}", d.nrows(), d.ncols()),
        ));
    }
    let n = d.nrows();
    let mut s = 0.0;
    for i in 0..n {
        for l in 0..n {
            s += j_eff[(i, l)] * (d[(i, l)] - d[(l, i)]);
        }
    }
    Ok(s)
}

/// Effective fields of a packed configuration: `h = βH − Σ_l βJ_{·l} + 2 Σ_{l up} βJ_{·l}`.
fn fields_of(base: &[f64], j2: &DMatrix<f64>, words: &[u64], out: &mut [f64]) {
    out.copy_from_slice(base);
    for l in crate::spikes::ActiveUnits::new(words) {
        for (o, &c) in out.iter_mut().zip(j2.column(l).iter()) {
            *o += c;
        }
    }
}

/// Mean log ratio ω per transition over every transition in `raster`
/// (bins t−1 → t for t = 1..T, all trials), under `model`.
///
/// Errors if the raster's unit count differs from the model's or it has
/// fewer than two bins.
pub fn estimate_entropy_production(model: &KineticIsing, raster: &SpikeRaster) -> Result<Estimate> {
    let n = model.n();
    if raster.n_units() != n {
        return Err(Error::shape("raster units", n, raster.n_units()));
    }
    if raster.n_bins() < 2 || raster.n_trials() == 0 {
        return Err(Error::NotEnoughData(
            "entropy production needs at least one transition (2 bins)".into(),
        ));
    }
    let j_eff = model.effective_j();
    let h_eff = model.effective_h();
    let base: Vec<f64> = (0..n).map(|i| h_eff[i] - j_eff.row(i).sum()).collect();
    let j2 = &j_eff * 2.0;
    let transitions = raster.n_bins() - 1;
    // Per trial: the sum of ω and, for batch means, sums over 10 time blocks.
    const BATCHES: usize = 10;
    let per_trial: Vec<(f64, [f64; BATCHES], [usize; BATCHES])> = (0..raster.n_trials())
        .into_par_iter()
        .map(|r| {
            let mut prev_f = vec![0.0; n];
            let mut now_f = vec![0.0; n];
            fields_of(&base, &j2, raster.row(r, 0), &mut prev_f);
            let mut total = 0.0;
            let mut batch = [0.0; BATCHES];
            let mut count = [0usize; BATCHES];
            for t in 1..raster.n_bins() {
                fields_of(&base, &j2, raster.row(r, t), &mut now_f);
                let mut w = 0.0;
                for i in 0..n {
                    let s_now = raster.spin(r, t, i);
                    let s_prev = raster.spin(r, t - 1, i);
                    w += s_now * prev_f[i] - log_2cosh(prev_f[i]);
                    w -= s_prev * now_f[i] - log_2cosh(now_f[i]);
                }
                total += w;
                let b = (t - 1) * BATCHES / transitions;
                batch[b] += w;
                count[b] += 1;
                std::mem::swap(&mut prev_f, &mut now_f);
            }
            (total, batch, count)
        })
        .collect();
    let samples = (raster.n_trials() * transitions) as u64;
    let mean = per_trial.iter().map(|x| x.0).sum::<f64>() / samples as f64;
    // Independent units for the standard error: trials if there are enough,
    // otherwise time batches (nearly independent when they are long
    // compared with the correlation time).
    let units: Vec<f64> = if per_trial.len() >= 10 {
        per_trial.iter().map(|x| x.0 / transitions as f64).collect()
    } else {
        per_trial
            .iter()
            .flat_map(|x| {
                (0..BATCHES)
                    .filter(|&b| x.2[b] > 0)
                    .map(move |b| x.1[b] / x.2[b] as f64)
            })
            .collect()
    };
    let k = units.len() as f64;
    let std_error = if units.len() > 1 {
        let mu = units.iter().sum::<f64>() / k;
        (units.iter().map(|u| (u - mu).powi(2)).sum::<f64>() / (k - 1.0) / k).sqrt()
    } else {
        f64::NAN
    };
    Ok(Estimate {
        mean,
        std_error,
        samples,
    })
}
