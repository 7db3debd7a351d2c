//! Moments of spin trajectories: magnetisations m, equal-time covariances C
//! and delayed covariances D.
//!
//! With ±1 spins `s`:
//!
//! ```text
//! m_i    = <s_i(t)>
//! C_ik   = <s_i(t) s_k(t)>   − m_i m_k            (C_ii = 1 − m_i²)
//! D_il   = <s_i(t) s_l(t−1)> − m_i(t) m_l(t−1)    (row i: later time)
//! ```
//!
//! Counting is done on bit columns: for the chosen rows of the raster every
//! unit's states form one packed bit vector, and every pairwise count is the
//! popcount of an AND of two such vectors. The cost is `N² · rows / 64` word
//! operations whatever the firing rate, and pairs run in parallel.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Magnetisations and covariances of ±1 spins (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    /// `m_i(t)`, length N.
    pub m: DVector<f64>,
    /// `m_l(t−1)`, the magnetisations the delayed covariance refers to.
    pub m_prev: DVector<f64>,
    /// Equal-time covariance `C_ik`, N × N, symmetric.
    pub c: DMatrix<f64>,
    /// Delayed covariance `D_il` (i at t, l at t−1), N × N.
    pub d: DMatrix<f64>,
    /// Number of (trial, transition) samples the averages are over.
    pub samples: u64,
}

/// Packed per-unit bit vectors over a list of rows.
struct BitColumns {
    words: usize,
    /// `cols[i * words ..]`: bit k set if unit i is active in row k.
    cols: Vec<u64>,
}

impl BitColumns {
    fn build(raster: &SpikeRaster, rows: &[(usize, usize)]) -> Self {
        let n = raster.n_units();
        let words = rows.len().div_ceil(64).max(1);
        let mut cols = vec![0u64; n * words];
        for (k, &(r, t)) in rows.iter().enumerate() {
            for i in raster.active_units(r, t) {
                cols[i * words + k / 64] |= 1 << (k % 64);
            }
        }
        Self { words, cols }
    }
    fn col(&self, i: usize) -> &[u64] {
        &self.cols[i * self.words..(i + 1) * self.words]
    }
    fn count(&self, i: usize) -> u64 {
        self.col(i).iter().map(|w| w.count_ones() as u64).sum()
    }
}

#[inline]
fn and_count(a: &[u64], b: &[u64]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x & y).count_ones() as u64)
        .sum()
}

/// Moments from paired row lists: `now[k]` is a sample at time t and
/// `prev[k]` the same trial at t−1.
fn moments_from_rows(
    raster: &SpikeRaster,
    now: &[(usize, usize)],
    prev: &[(usize, usize)],
) -> Moments {
    let n = raster.n_units();
    let a = BitColumns::build(raster, now);
    let b = BitColumns::build(raster, prev);
    let count_now: Vec<u64> = (0..n).map(|i| a.count(i)).collect();
    let count_prev: Vec<u64> = (0..n).map(|i| b.count(i)).collect();
    // Pairwise counts, one row per unit in parallel.
    let rows: Vec<(Vec<u64>, Vec<u64>)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let ai = a.col(i);
            let pc: Vec<u64> = (0..n).map(|k| and_count(ai, a.col(k))).collect();
            let pd: Vec<u64> = (0..n).map(|l| and_count(ai, b.col(l))).collect();
            (pc, pd)
        })
        .collect();
    moments_from_counts(
        now.len() as u64,
        &count_now,
        &count_prev,
        |i, k| rows[i].0[k],
        |i, l| rows[i].1[l],
    )
}

/// Moments from counts over `samples` paired samples (time t and t−1 of
/// the same trial): `count_now[i]` = samples with unit i active at t,
/// `count_prev[l]` = samples with l active at t−1, `pair_now(i, k)` =
/// samples with i and k both active at t (called for i ≠ k), `pair_delayed(i,
/// l)` = samples with i active at t and l active at t−1.
///
/// With firing frequencies p = count / samples, `m = 2p − 1` and
/// `<s_i s_k> = 1 − 2p_i − 2p_k + 4p_ik`. Every moment routine of the crate
/// that counts goes through this one formula, so the same counts give
/// bit-identical moments whichever way they were gathered.
pub(crate) fn moments_from_counts(
    samples: u64,
    count_now: &[u64],
    count_prev: &[u64],
    pair_now: impl Fn(usize, usize) -> u64,
    pair_delayed: impl Fn(usize, usize) -> u64,
) -> Moments {
    let n = count_now.len();
    let s = samples as f64;
    let p: Vec<f64> = count_now.iter().map(|&c| c as f64 / s).collect();
    let q: Vec<f64> = count_prev.iter().map(|&c| c as f64 / s).collect();
    let m = DVector::from_fn(n, |i, _| 2.0 * p[i] - 1.0);
    let m_prev = DVector::from_fn(n, |i, _| 2.0 * q[i] - 1.0);
    let c = DMatrix::from_fn(n, n, |i, k| {
        if i == k {
            1.0 - m[i] * m[i]
        } else {
            1.0 - 2.0 * p[i] - 2.0 * p[k] + 4.0 * (pair_now(i, k) as f64 / s) - m[i] * m[k]
        }
    });
    let d = DMatrix::from_fn(n, n, |i, l| {
        1.0 - 2.0 * p[i] - 2.0 * q[l] + 4.0 * (pair_delayed(i, l) as f64 / s) - m[i] * m_prev[l]
    });
    Moments {
        m,
        m_prev,
        c,
        d,
        samples,
    }
}

/// Moments at bin `t` (≥ 1) across trials: `m(t)`, `C(t)`, `D(t)` with
/// `D_il(t) = <s_i(t) s_l(t−1)> − m_i(t) m_l(t−1)`.
pub fn moments_at_bin(raster: &SpikeRaster, t: usize) -> Result<Moments> {
    if t == 0 || t >= raster.n_bins() {
        return Err(Error::param(
            "bin",
            t,
            format!("need 1 <= t < {} (D looks one bin back)", raster.n_bins()),
        ));
    }
    if raster.n_trials() == 0 || raster.n_units() == 0 {
        return Err(Error::NotEnoughData("the raster is empty".into()));
    }
    let now: Vec<_> = (0..raster.n_trials()).map(|r| (r, t)).collect();
    let prev: Vec<_> = (0..raster.n_trials()).map(|r| (r, t - 1)).collect();
    Ok(moments_from_rows(raster, &now, &prev))
}

/// Time-averaged moments for stationary data: averages over every
/// transition (bins 1..T of every trial), so `m` is the mean over bins
/// 1..T and `m_prev` over bins 0..T−1.
pub fn time_averaged_moments(raster: &SpikeRaster) -> Result<Moments> {
    if raster.n_bins() < 2 || raster.n_trials() == 0 || raster.n_units() == 0 {
        return Err(Error::NotEnoughData(format!(
            "time-averaged moments need at least 2 bins, 1 trial and 1 unit; the raster is {:?}",
            raster.shape()
        )));
    }
    let mut now = Vec::with_capacity(raster.n_trials() * (raster.n_bins() - 1));
    let mut prev = Vec::with_capacity(now.capacity());
    for r in 0..raster.n_trials() {
        for t in 1..raster.n_bins() {
            now.push((r, t));
            prev.push((r, t - 1));
        }
    }
    Ok(moments_from_rows(raster, &now, &prev))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct evaluation of the definitions on ±1 spins.
    fn naive(raster: &SpikeRaster) -> (Vec<f64>, DMatrix<f64>, DMatrix<f64>) {
        let (rr, tt, n) = raster.shape();
        let mut rows = Vec::new();
        for r in 0..rr {
            for t in 1..tt {
                let now: Vec<f64> = (0..n).map(|i| raster.spin(r, t, i)).collect();
                let pre: Vec<f64> = (0..n).map(|i| raster.spin(r, t - 1, i)).collect();
                rows.push((now, pre));
            }
        }
        let s = rows.len() as f64;
        let m: Vec<f64> = (0..n)
            .map(|i| rows.iter().map(|x| x.0[i]).sum::<f64>() / s)
            .collect();
        let mp: Vec<f64> = (0..n)
            .map(|i| rows.iter().map(|x| x.1[i]).sum::<f64>() / s)
            .collect();
        let c = DMatrix::from_fn(n, n, |i, k| {
            rows.iter().map(|x| x.0[i] * x.0[k]).sum::<f64>() / s - m[i] * m[k]
        });
        let d = DMatrix::from_fn(n, n, |i, l| {
            rows.iter().map(|x| x.0[i] * x.1[l]).sum::<f64>() / s - m[i] * mp[l]
        });
        (m, c, d)
    }

    #[test]
    fn bit_counting_matches_the_definitions() {
        let (rr, tt, n) = (3, 50, 70);
        let x: Vec<u8> = (0..rr * tt * n)
            .map(|k| ((k * 2654435761usize) >> 7) % 5 < 2)
            .map(u8::from)
            .collect();
        let raster = SpikeRaster::from_binary(rr, tt, n, &x).unwrap();
        let mo = time_averaged_moments(&raster).unwrap();
        let (m, c, d) = naive(&raster);
        for i in 0..n {
            assert!((mo.m[i] - m[i]).abs() < 1e-12);
            for k in 0..n {
                assert!((mo.c[(i, k)] - c[(i, k)]).abs() < 1e-12);
                assert!((mo.d[(i, k)] - d[(i, k)]).abs() < 1e-12);
            }
        }
        assert_eq!(mo.samples, (rr * (tt - 1)) as u64);
    }

    #[test]
    fn rejects_too_short_rasters() {
        let r = SpikeRaster::zeros(2, 1, 3).unwrap();
        assert!(time_averaged_moments(&r).is_err());
        assert!(moments_at_bin(&r, 0).is_err());
    }
}
