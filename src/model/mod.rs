//! The kinetic Ising model with synchronous (parallel) updates.
//!
//! Spins are ±1. Given the previous configuration `s(t-1)`, every spin is
//! redrawn independently:
//!
//! ```text
//! h_i(t) = H_i + Σ_j J_ij s_j(t-1)
//! P(s_i(t) = +1 | s(t-1)) = (1 + tanh(β h_i(t))) / 2
//! ```
//!
//! `J[(i, j)]` (row `i`, column `j`) is the coupling **from neuron `j` at
//! `t-1` to neuron `i` at `t`**. J is not symmetric and its diagonal
//! (self-coupling) is used. We store the raw `H`, `J` and `β` and hand the
//! *effective* parameters `βH`, `βJ` to every numerical kernel, as the
//! published code does.
//!
//! Submodules: [`simulate`] (fast sampling of many trials), [`stats`]
//! (moments m, C, D from rasters), [`exact`] (the full 2^N distribution for
//! small N), [`entropy`] (entropy production).

pub mod entropy;
pub mod exact;
pub mod likelihood;
pub mod live;
pub mod moment_stream;
pub mod simulate;
pub mod stats;

use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use crate::{Error, Result};

/// A kinetic Ising network: raw fields `H` (length N), raw couplings `J`
/// (N × N, `J[(i, j)]` from j at t-1 to i at t) and inverse temperature β.
#[derive(Clone, Debug, PartialEq)]
pub struct KineticIsing {
    h: DVector<f64>,
    j: DMatrix<f64>,
    beta: f64,
}

impl KineticIsing {
    /// Validate and build. Errors: `J` not square, `H` of another length,
    /// any non-finite entry, or β negative / non-finite.
    pub fn new(h: DVector<f64>, j: DMatrix<f64>, beta: f64) -> Result<Self> {
        if j.nrows() != j.ncols() {
            return Err(Error::shape(
                "couplings J",
                "a square matrix",
                format!("{} x {}", j.nrows(), j.ncols()),
            ));
        }
        if h.len() != j.nrows() {
            return Err(Error::shape(
                "fields H",
                format!("{} values (one per row of J)", j.nrows()),
                format!("{} values", h.len()),
            ));
        }
        if let Some(i) = h.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite {
                what: "fields H".into(),
                location: format!("entry {i}"),
            });
        }
        if let Some(k) = j.iter().position(|x| !x.is_finite()) {
            let n = j.nrows();
            return Err(Error::NonFinite {
                what: "couplings J".into(),
                location: format!("row {}, column {}", k % n, k / n),
            });
        }
        if !beta.is_finite() || beta < 0.0 {
            return Err(Error::param(
                "beta",
                beta,
                "the inverse temperature must be finite and >= 0",
            ));
        }
        Ok(Self { h, j, beta })
    }

    /// Number of spins N.
    pub fn n(&self) -> usize {
        self.h.len()
    }
    /// Raw fields H.
    pub fn h(&self) -> &DVector<f64> {
        &self.h
    }
    /// Raw couplings J (`J[(i, j)]`: from j at t-1 to i at t).
    pub fn j(&self) -> &DMatrix<f64> {
        &self.j
    }
    /// Inverse temperature β.
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// The same network at another β.
    pub fn with_beta(&self, beta: f64) -> Result<Self> {
        Self::new(self.h.clone(), self.j.clone(), beta)
    }
    /// Effective fields βH.
    pub fn effective_h(&self) -> DVector<f64> {
        &self.h * self.beta
    }
    /// Effective couplings βJ.
    pub fn effective_j(&self) -> DMatrix<f64> {
        &self.j * self.beta
    }

    /// Effective local fields `β (H_i + Σ_j J_ij s_j)` for a ±1 configuration
    /// `s` (length N) written into `out` (length N).
    pub fn effective_fields_into(&self, s: &[f64], out: &mut [f64]) {
        let n = self.n();
        for (i, o) in out.iter_mut().enumerate().take(n) {
            *o = self.h[i];
        }
        for (jj, &sj) in s.iter().enumerate().take(n) {
            let col = self.j.column(jj);
            for (o, &c) in out.iter_mut().zip(col.iter()) {
                *o += c * sj;
            }
        }
        for o in out.iter_mut().take(n) {
            *o *= self.beta;
        }
    }
}

/// Parameters of the asymmetric Sherrington–Kirkpatrick ensemble:
/// `J_ij ~ Normal(J0/N, ΔJ²/N)` independently for every ordered pair
/// (diagonal included, `J_ij` and `J_ji` independent) and
/// `H_i ~ Uniform[−H0, H0]`. Raw values; β is applied by the model.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkParams {
    /// Number of spins N.
    pub n: usize,
    /// Coupling mean times N.
    pub j0: f64,
    /// Coupling standard deviation times √N (ΔJ, the paper's spread).
    pub dj: f64,
    /// Half-width of the uniform field distribution.
    pub h0: f64,
    /// Inverse temperature β.
    pub beta: f64,
}

impl SkParams {
    /// Check ranges: N ≥ 1, all finite, ΔJ ≥ 0, H0 ≥ 0, β ≥ 0.
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(Error::param("n", self.n, "need at least one spin"));
        }
        for (name, v) in [
            ("j0", self.j0),
            ("dj", self.dj),
            ("h0", self.h0),
            ("beta", self.beta),
        ] {
            if !v.is_finite() {
                return Err(Error::param(name, v, "must be finite"));
            }
        }
        for (name, v) in [("dj", self.dj), ("h0", self.h0), ("beta", self.beta)] {
            if v < 0.0 {
                return Err(Error::param(name, v, "must be >= 0"));
            }
        }
        Ok(())
    }

    /// Draw one network from the ensemble with the caller's seeded RNG.
    /// Fields are drawn first (N uniforms), then couplings column by column.
    pub fn draw<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Result<KineticIsing> {
        self.validate()?;
        let n = self.n;
        let h = DVector::from_fn(n, |_, _| self.h0 * (2.0 * rng.random::<f64>() - 1.0));
        let mean = self.j0 / n as f64;
        let sd = self.dj / (n as f64).sqrt();
        let j = DMatrix::from_fn(n, n, |_, _| {
            let z: f64 = StandardNormal.sample(rng);
            mean + sd * z
        });
        KineticIsing::new(h, j, self.beta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rejects_bad_shapes_and_values() {
        let j = DMatrix::zeros(3, 3);
        assert!(KineticIsing::new(DVector::zeros(2), j.clone(), 1.0).is_err());
        assert!(KineticIsing::new(DVector::zeros(3), DMatrix::zeros(3, 2), 1.0).is_err());
        assert!(KineticIsing::new(DVector::zeros(3), j.clone(), -1.0).is_err());
        let mut bad = j.clone();
        bad[(1, 2)] = f64::NAN;
        let e = KineticIsing::new(DVector::zeros(3), bad, 1.0).unwrap_err();
        assert!(e.to_string().contains("row 1, column 2"), "{e}");
    }

    #[test]
    fn fields_follow_row_receives_column_sends() {
        // J[(0, 1)] = 2: neuron 1 drives neuron 0 only.
        let mut j = DMatrix::zeros(2, 2);
        j[(0, 1)] = 2.0;
        let m = KineticIsing::new(DVector::from_vec(vec![0.5, -0.5]), j, 0.5).unwrap();
        let mut out = [0.0; 2];
        m.effective_fields_into(&[1.0, -1.0], &mut out);
        assert_eq!(out, [0.5 * (0.5 - 2.0), 0.5 * -0.5]);
    }

    #[test]
    fn sk_couplings_have_the_requested_mean_and_spread() {
        // N = 400: 160,000 couplings. The sample mean of J has standard error
        // (ΔJ/√N)/√(N²) = ΔJ/N^1.5 = 1.25e-4, so mean·N has standard error
        // ΔJ/√N = 0.025; we allow 4 standard errors (0.1). The sample variance
        // of n Gaussian draws has relative standard error √(2/n) = 0.35 %, so
        // sd·√N is within 1.4 % (4 s.e.) of ΔJ.
        let p = SkParams {
            n: 400,
            j0: 1.3,
            dj: 0.5,
            h0: 0.7,
            beta: 1.0,
        };
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        let m = p.draw(&mut rng).unwrap();
        let n = p.n as f64;
        let vals: Vec<f64> = m.j().iter().copied().collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (vals.len() - 1) as f64;
        assert!((mean * n - p.j0).abs() < 0.1, "mean*N = {}", mean * n);
        let spread = var.sqrt() * n.sqrt();
        assert!(
            (spread - p.dj).abs() < 0.014 * p.dj,
            "sd*sqrt(N) = {spread}"
        );
        assert!(m.h().iter().all(|&x| x.abs() <= p.h0));
        // Uniform on [-H0, H0] has sd H0/√3; 400 draws: s.e. of the mean H0/√1200.
        let hmean = m.h().mean();
        assert!(hmean.abs() < 4.0 * p.h0 / 1200f64.sqrt());
    }
}
