//! Log-likelihood of observed spike trains under a kinetic Ising model.
//!
//! `L = Σ_t Σ_i [s_i(t) h_i(t) − log 2cosh h_i(t)]`, with effective fields
//! `h_i(t) = βH_i + Σ_j βJ_ij s_j(t−1)`, summed over the transitions of every
//! trial. Reported per transition and per neuron (nats), so that values
//! compare across datasets; a model that predicts nothing (h = 0) scores
//! `−log 2 ≈ −0.693`.

use rayon::prelude::*;

use super::KineticIsing;
use super::exact::log_2cosh;
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Mean log-likelihood per transition and neuron (nats) of the transitions
/// into bins `bins` (each `t` in the range uses bin `t − 1` as its past;
/// `bins.start` must be ≥ 1) of every trial.
pub fn mean_log_likelihood(
    model: &KineticIsing,
    raster: &SpikeRaster,
    bins: std::ops::Range<usize>,
) -> Result<f64> {
    let n = model.n();
    if raster.n_units() != n {
        return Err(Error::shape("raster units", n, raster.n_units()));
    }
    if bins.start == 0 || bins.end > raster.n_bins() || bins.is_empty() {
        return Err(Error::param(
            "bins",
            format!("{}..{}", bins.start, bins.end),
            format!("need 1 <= start < end <= {}", raster.n_bins()),
        ));
    }
    let j = model.effective_j();
    let h = model.effective_h();
    let base: Vec<f64> = (0..n).map(|i| h[i] - j.row(i).sum()).collect();
    let j2 = &j * 2.0;
    let total: f64 = (0..raster.n_trials())
        .into_par_iter()
        .map(|r| {
            let mut f = vec![0.0; n];
            let mut sum = 0.0;
            for t in bins.clone() {
                f.copy_from_slice(&base);
                for l in raster.active_units(r, t - 1) {
                    for (o, &c) in f.iter_mut().zip(j2.column(l).iter()) {
                        *o += c;
                    }
                }
                for (i, &fi) in f.iter().enumerate() {
                    sum += raster.spin(r, t, i) * fi - log_2cosh(fi);
                }
            }
            sum
        })
        .sum();
    Ok(total / (raster.n_trials() * bins.len() * n) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};

    #[test]
    fn matches_a_direct_sum() {
        let x: Vec<u8> = (0..2 * 6 * 3)
            .map(|k| (k % 4 == 1 || k % 7 == 0) as u8)
            .collect();
        let raster = SpikeRaster::from_binary(2, 6, 3, &x).unwrap();
        let j = DMatrix::from_fn(3, 3, |i, k| 0.3 * i as f64 - 0.2 * k as f64 + 0.1);
        let h = DVector::from_vec(vec![0.2, -0.4, 0.1]);
        let model = KineticIsing::new(h.clone(), j.clone(), 1.3).unwrap();
        let mut direct = 0.0;
        for r in 0..2 {
            for t in 2..6 {
                for i in 0..3 {
                    let mut f = h[i];
                    for l in 0..3 {
                        f += j[(i, l)] * raster.spin(r, t - 1, l);
                    }
                    f *= 1.3;
                    direct += raster.spin(r, t, i) * f - (2.0 * f.cosh()).ln();
                }
            }
        }
        let got = mean_log_likelihood(&model, &raster, 2..6).unwrap();
        assert!((got - direct / (2.0 * 4.0 * 3.0)).abs() < 1e-12);
        assert!(mean_log_likelihood(&model, &raster, 0..6).is_err());
    }
}
