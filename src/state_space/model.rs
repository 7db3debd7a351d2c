//! The observation model and the data summary the filter works on.
//!
//! Each neuron is a logistic regression on the previous population state:
//!
//! ```text
//! P(s_i(t+1) = 1 | s(t)) = sigmoid(theta_i(t) . F(t)),   F(t) = (1, s_1(t), .., s_N(t))
//! l_{i,t}(theta) = theta . Y_{i,t} - sum_r softplus(theta . F^r(t))
//! Y_{i,t}        = sum_r s^r_i(t+1) F^r(t)
//! ```
//!
//! The design rows `F^r(t)` depend on the bin and the trial but not on the
//! receiving neuron `i`, and they are 0/1 vectors. [`DataSummary`] therefore
//! stores, per transition, the *distinct* previous-bin patterns with their
//! multiplicities (trials with identical patterns share one weight in the
//! likelihood, gradient and Hessian) as sparse lists of active units, and the
//! sufficient statistics `Y_{i,t}`. It is built in one pass over the raster.

use std::collections::HashMap;

use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// `log(1 + e^x)` without overflow or loss of precision for large `|x|`.
#[inline]
pub fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// `1 / (1 + e^-x)` without overflow.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Distinct previous-bin patterns per transition and the sufficient
/// statistics `Y_{i,t}`, shared by every neuron's filter.
#[derive(Clone, Debug)]
pub struct DataSummary {
    n_steps: usize,
    n_units: usize,
    n_trials: usize,
    /// `step_patterns[t]..step_patterns[t+1]`: the patterns of transition `t`.
    step_patterns: Vec<usize>,
    /// Number of trials with each pattern.
    counts: Vec<f64>,
    /// `pattern_active[p]..pattern_active[p+1]`: range of `active` for pattern `p`.
    pattern_active: Vec<usize>,
    /// Active unit indices of every pattern, ascending.
    active: Vec<u32>,
    /// `Y[t, i, k]`, `(T, N, N+1)` C order.
    y: Vec<f64>,
    /// Spikes per neuron in the presynaptic bins `0..T` (all trials).
    pre_counts: Vec<u64>,
    /// Spikes per neuron in the postsynaptic bins `1..=T` (all trials).
    post_counts: Vec<u64>,
}

impl DataSummary {
    /// Summarise a raster of shape `(R trials, T+1 bins, N units)`; there
    /// are `T` transitions. Needs at least 2 bins, 1 trial and 1 unit.
    pub fn new(raster: &SpikeRaster) -> Result<Self> {
        let (n_trials, n_bins, n_units) = raster.shape();
        if n_trials == 0 || n_units == 0 {
            return Err(Error::NotEnoughData(format!(
                "the raster has {n_trials} trials and {n_units} units; need at least one of each"
            )));
        }
        if n_bins < 2 {
            return Err(Error::NotEnoughData(format!(
                "the raster has {n_bins} time bin(s); the state-space model needs at least 2 bins (1 transition)"
            )));
        }
        if n_units > u32::MAX as usize {
            return Err(Error::param("units", n_units, "too many units"));
        }
        let n_steps = n_bins - 1;
        let d = n_units + 1;
        let mut step_patterns = Vec::with_capacity(n_steps + 1);
        let mut counts = Vec::new();
        let mut pattern_active = vec![0];
        let mut active = Vec::new();
        let mut y = vec![0.0; n_steps * n_units * d];
        let mut pre_counts = vec![0u64; n_units];
        let mut post_counts = vec![0u64; n_units];
        let mut index: HashMap<&[u64], usize> = HashMap::with_capacity(n_trials);
        let mut prev_active: Vec<usize> = Vec::with_capacity(n_units);
        for t in 0..n_steps {
            step_patterns.push(counts.len());
            index.clear();
            for r in 0..n_trials {
                let row = raster.row(r, t);
                let first = counts.len();
                let p = *index.entry(row).or_insert(first);
                if p == first {
                    counts.push(0.0);
                    active.extend(raster.active_units(r, t).map(|u| u as u32));
                    pattern_active.push(active.len());
                }
                counts[p] += 1.0;
                prev_active.clear();
                prev_active.extend(raster.active_units(r, t));
                for &j in &prev_active {
                    pre_counts[j] += 1;
                }
                for i in raster.active_units(r, t + 1) {
                    post_counts[i] += 1;
                    let yi = &mut y[(t * n_units + i) * d..(t * n_units + i + 1) * d];
                    yi[0] += 1.0;
                    for &j in &prev_active {
                        yi[1 + j] += 1.0;
                    }
                }
            }
        }
        step_patterns.push(counts.len());
        Ok(Self {
            n_steps,
            n_units,
            n_trials,
            step_patterns,
            counts,
            pattern_active,
            active,
            y,
            pre_counts,
            post_counts,
        })
    }

    /// Number of transitions `T` (bins − 1).
    pub fn n_steps(&self) -> usize {
        self.n_steps
    }
    /// Number of neurons `N`.
    pub fn n_units(&self) -> usize {
        self.n_units
    }
    /// Number of trials `R`.
    pub fn n_trials(&self) -> usize {
        self.n_trials
    }
    /// Parameters per neuron `D = N + 1`.
    pub fn dim(&self) -> usize {
        self.n_units + 1
    }
    /// Range of pattern indices for transition `t`.
    #[inline]
    pub fn patterns(&self, t: usize) -> std::ops::Range<usize> {
        self.step_patterns[t]..self.step_patterns[t + 1]
    }
    /// Total number of distinct patterns over all transitions (≤ `R · T`).
    pub fn n_patterns(&self) -> usize {
        self.counts.len()
    }
    /// Number of trials sharing pattern `p`.
    #[inline]
    pub fn count(&self, p: usize) -> f64 {
        self.counts[p]
    }
    /// Active units (presynaptic neurons that spiked) of pattern `p`.
    #[inline]
    pub fn active(&self, p: usize) -> &[u32] {
        &self.active[self.pattern_active[p]..self.pattern_active[p + 1]]
    }
    /// `Y_{i,t} = sum_r s^r_i(t+1) F^r(t)` (length `N+1`).
    #[inline]
    pub fn y(&self, t: usize, i: usize) -> &[f64] {
        let d = self.dim();
        let s = (t * self.n_units + i) * d;
        &self.y[s..s + d]
    }
    /// Spikes of each neuron in bins `0..T` (where it acts as presynaptic
    /// regressor), summed over trials.
    pub fn presynaptic_counts(&self) -> &[u64] {
        &self.pre_counts
    }
    /// Spikes of each neuron in bins `1..=T` (where it is the response),
    /// summed over trials.
    pub fn postsynaptic_counts(&self) -> &[u64] {
        &self.post_counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_and_sigmoid_are_stable() {
        assert_eq!(softplus(800.0), 800.0);
        assert!(softplus(-800.0) >= 0.0 && softplus(-800.0) < 1e-300);
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
        assert!((softplus(1.5) - (1.0 + 1.5f64.exp()).ln()).abs() < 1e-15);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(sigmoid(-800.0), 0.0);
        assert!((sigmoid(0.3) + sigmoid(-0.3) - 1.0).abs() < 1e-16);
    }

    #[test]
    fn summary_matches_direct_sums() {
        // 3 trials, 3 bins, 2 units; trials 0 and 2 share bin 0.
        #[rustfmt::skip]
        let x = [
            1, 0,  0, 1,  1, 1,
            0, 1,  1, 1,  0, 0,
            1, 0,  1, 0,  0, 1,
        ];
        let raster = SpikeRaster::from_binary(3, 3, 2, &x).unwrap();
        let s = DataSummary::new(&raster).unwrap();
        assert_eq!(s.n_steps(), 2);
        let p0: Vec<_> = s.patterns(0).collect();
        assert_eq!(p0.len(), 2);
        let weights: Vec<(f64, Vec<u32>)> = p0
            .iter()
            .map(|&p| (s.count(p), s.active(p).to_vec()))
            .collect();
        assert!(weights.contains(&(2.0, vec![0])) && weights.contains(&(1.0, vec![1])));
        // Y_{0,t=0}: neuron 0 fires in bin 1 in trials 1 and 2; their bin-0
        // rows are (1, 0,1) and (1, 1,0).
        assert_eq!(s.y(0, 0), &[2.0, 1.0, 1.0]);
        // Y_{1,t=0}: neuron 1 fires in bin 1 in trials 0, 1.
        assert_eq!(s.y(0, 1), &[2.0, 1.0, 1.0]);
        // t = 1: bin 1 rows (0,1), (1,1), (1,0); bin 2 rows (1,1), (0,0), (0,1).
        assert_eq!(s.y(1, 0), &[1.0, 0.0, 1.0]);
        assert_eq!(s.y(1, 1), &[2.0, 1.0, 1.0]);
        assert_eq!(s.presynaptic_counts(), &[4, 3]);
        assert_eq!(s.postsynaptic_counts(), &[3, 4]);
    }

    #[test]
    fn rejects_a_single_bin() {
        let raster = SpikeRaster::zeros(2, 1, 3).unwrap();
        assert!(
            DataSummary::new(&raster)
                .unwrap_err()
                .to_string()
                .contains("at least 2 bins")
        );
    }
}
