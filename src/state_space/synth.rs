//! Synthetic ground truth for the state-space model: every field and
//! coupling series is an independent Gaussian-process draw over
//! `t = 0..T-1` with a squared-exponential kernel,
//!
//! ```text
//! K(t, t') = variance · exp(-(t - t')^2 / (2 length^2)) + 1e-13 δ(t, t'),   mean mu
//! ```
//!
//! (the paper's generator: couplings mean `5/N`, variance `10/N`, length 30
//! bins; fields mean −3, variance 1, length 50), and a simulator of 0/1
//! spikes from a parameter series. Draws use the caller's seeded RNG; the
//! numbers differ from NumPy's generator, the distribution is the same.

use nalgebra::{DMatrix, SymmetricEigen};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

use super::model::sigmoid;
use super::theta::ThetaSeries;
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Settings of the Gaussian-process ground truth (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct GpTruth {
    /// Number of neurons `N`.
    pub n: usize,
    /// Number of transitions `T` (the raster will have `T + 1` bins).
    pub n_steps: usize,
    /// Mean of every coupling series (paper: `5/N`).
    pub coupling_mean: f64,
    /// Variance of every coupling series (paper: `10/N`).
    pub coupling_variance: f64,
    /// Length scale of the couplings in bins (paper: 30).
    pub coupling_length: f64,
    /// Mean of every field series (paper: −3).
    pub field_mean: f64,
    /// Variance of every field series (paper: 1).
    pub field_variance: f64,
    /// Length scale of the fields in bins (paper: 50).
    pub field_length: f64,
}

impl GpTruth {
    /// The paper's generator for `n` neurons and `n_steps` transitions.
    pub fn paper(n: usize, n_steps: usize) -> Self {
        let nf = n.max(1) as f64;
        Self {
            n,
            n_steps,
            coupling_mean: 5.0 / nf,
            coupling_variance: 10.0 / nf,
            coupling_length: 30.0,
            field_mean: -3.0,
            field_variance: 1.0,
            field_length: 50.0,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(Error::param("n", 0, "need at least one neuron"));
        }
        if self.n_steps == 0 {
            return Err(Error::param("T", 0, "need at least one transition"));
        }
        for (name, v) in [
            ("coupling_mean", self.coupling_mean),
            ("field_mean", self.field_mean),
        ] {
            if !v.is_finite() {
                return Err(Error::param(name, v, "must be finite"));
            }
        }
        for (name, v) in [
            ("coupling_variance", self.coupling_variance),
            ("field_variance", self.field_variance),
            ("coupling_length", self.coupling_length),
            ("field_length", self.field_length),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(name, v, "must be a positive number"));
            }
        }
        Ok(())
    }

    /// Draw `theta` (`(T, N, N+1)`). Order: all couplings (neuron by
    /// neuron, presynaptic index fastest), then all fields.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<ThetaSeries> {
        self.validate()?;
        let (n, t_steps) = (self.n, self.n_steps);
        let coupling = GpSampler::new(t_steps, self.coupling_variance, self.coupling_length);
        let field = GpSampler::new(t_steps, self.field_variance, self.field_length);
        let mut theta = ThetaSeries::zeros(t_steps, n);
        let mut series = vec![0.0; t_steps];
        for i in 0..n {
            for j in 0..n {
                coupling.sample(self.coupling_mean, rng, &mut series);
                for (t, v) in series.iter().enumerate() {
                    theta.row_mut(t, i)[1 + j] = *v;
                }
            }
        }
        for i in 0..n {
            field.sample(self.field_mean, rng, &mut series);
            for (t, v) in series.iter().enumerate() {
                theta.row_mut(t, i)[0] = *v;
            }
        }
        Ok(theta)
    }
}

/// Samples a zero-mean Gaussian process on `0..T` through the symmetric
/// square root of its (numerically singular) kernel matrix: negative
/// rounding eigenvalues are clipped to 0, so no Cholesky of an
/// ill-conditioned matrix is needed.
struct GpSampler {
    /// `V diag(sqrt(max(lambda, 0)))`, `T × T`.
    factor: DMatrix<f64>,
}

impl GpSampler {
    fn new(t_steps: usize, variance: f64, length: f64) -> Self {
        let k = DMatrix::from_fn(t_steps, t_steps, |a, b| {
            let dt = a as f64 - b as f64;
            variance * (-dt * dt / (2.0 * length * length)).exp() + if a == b { 1e-13 } else { 0.0 }
        });
        let eig = SymmetricEigen::new(k);
        let mut factor = eig.eigenvectors;
        for (c, lambda) in eig.eigenvalues.iter().enumerate() {
            let s = lambda.max(0.0).sqrt();
            factor.column_mut(c).scale_mut(s);
        }
        Self { factor }
    }

    fn sample<R: Rng + ?Sized>(&self, mean: f64, rng: &mut R, out: &mut [f64]) {
        let t_steps = out.len();
        let z: Vec<f64> = (0..t_steps).map(|_| StandardNormal.sample(rng)).collect();
        for (t, o) in out.iter_mut().enumerate() {
            *o = mean
                + (0..t_steps)
                    .map(|c| self.factor[(t, c)] * z[c])
                    .sum::<f64>();
        }
    }
}

/// Simulate `n_trials` trials of 0/1 spikes from `theta`: bin 0 i.i.d.
/// Bernoulli(`p_init`) (the paper's generator uses 0.2), then
/// `P(s_i(t+1) = 1 | s(t)) = sigmoid(theta_i(t) . (1, s(t)))`. Returns a
/// raster `(R, T+1, N)`.
pub fn simulate_spikes<R: Rng + ?Sized>(
    theta: &ThetaSeries,
    n_trials: usize,
    p_init: f64,
    rng: &mut R,
) -> Result<SpikeRaster> {
    if n_trials == 0 {
        return Err(Error::param("trials", 0, "need at least one trial"));
    }
    if !(0.0..=1.0).contains(&p_init) {
        return Err(Error::param(
            "p_init",
            p_init,
            "a probability must lie in [0, 1]",
        ));
    }
    let (t_steps, n) = (theta.n_steps(), theta.n_units());
    let mut raster = SpikeRaster::zeros(n_trials, t_steps + 1, n)?;
    let mut active: Vec<usize> = Vec::with_capacity(n);
    for r in 0..n_trials {
        for i in 0..n {
            if rng.random::<f64>() < p_init {
                raster.set(r, 0, i, true);
            }
        }
        for t in 0..t_steps {
            active.clear();
            active.extend(raster.active_units(r, t));
            for i in 0..n {
                let row = theta.row(t, i);
                let a = row[0] + active.iter().map(|&j| row[1 + j]).sum::<f64>();
                if rng.random::<f64>() < sigmoid(a) {
                    raster.set(r, t + 1, i, true);
                }
            }
        }
    }
    Ok(raster)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The sample covariance of many draws matches the kernel: at lag 0 the
    /// variance, at lag = length scale `variance · e^{-1/2}`. 4000 draws:
    /// SE of a variance estimate ≈ var · sqrt(2/4000) ≈ 0.022 var, so 0.1
    /// var is > 4 SE.
    #[test]
    fn gp_draws_have_the_kernel_covariance() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        let sampler = GpSampler::new(40, 2.0, 10.0);
        let mut x = vec![0.0; 40];
        let (mut c0, mut c10, mut mean) = (0.0, 0.0, 0.0);
        let draws = 4000;
        for _ in 0..draws {
            sampler.sample(1.5, &mut rng, &mut x);
            mean += x[5];
            c0 += (x[5] - 1.5).powi(2);
            c10 += (x[5] - 1.5) * (x[15] - 1.5);
        }
        let d = draws as f64;
        assert!((mean / d - 1.5).abs() < 0.1);
        assert!((c0 / d - 2.0).abs() < 0.2, "{}", c0 / d);
        assert!((c10 / d - 2.0 * (-0.5f64).exp()).abs() < 0.2, "{}", c10 / d);
    }

    #[test]
    fn spikes_follow_the_fields() {
        // Constant fields, no couplings: rate = sigmoid(h).
        let mut theta = ThetaSeries::zeros(50, 2);
        for t in 0..50 {
            theta.row_mut(t, 0)[0] = -1.0;
            theta.row_mut(t, 1)[0] = 2.0;
        }
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(4);
        let raster = simulate_spikes(&theta, 400, 0.0, &mut rng).unwrap();
        assert_eq!(raster.shape(), (400, 51, 2));
        let counts = raster.unit_counts();
        let bins = 400.0 * 50.0;
        // SE of a rate from 20000 Bernoulli draws <= 0.0035; 0.015 > 4 SE.
        assert!((counts[0] as f64 / bins - sigmoid(-1.0)).abs() < 0.015);
        assert!((counts[1] as f64 / bins - sigmoid(2.0)).abs() < 0.015);
        assert!(simulate_spikes(&theta, 0, 0.2, &mut rng).is_err());
        let t = GpTruth::paper(3, 20).draw(&mut rng).unwrap();
        assert_eq!(t.shape(), [20, 3, 4]);
        assert!(GpTruth::paper(0, 20).draw(&mut rng).is_err());
    }
}
