//! Time series of kinetic Ising parameters `theta[t, i, k]`.

use crate::{Error, Result};

/// Parameters of the time-varying kinetic Ising model for `T` transitions:
/// a `(T, N, N+1)` array in C order, index order `[t, i, k]`.
///
/// * `k = 0`: field `h_i(t)` of neuron `i` for the transition from bin `t`
///   to bin `t+1`;
/// * `k = 1 + j`: coupling `J_ij(t)` **from** neuron `j` at bin `t` **to**
///   neuron `i` at bin `t+1` (row = receiving neuron).
///
/// The same layout holds posterior means, posterior standard deviations and
/// true parameters, so all of them can be written as one `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct ThetaSeries {
    n_steps: usize,
    n_units: usize,
    data: Vec<f64>,
}

impl ThetaSeries {
    /// All-zero parameters for `n_steps` transitions and `n_units` neurons.
    pub fn zeros(n_steps: usize, n_units: usize) -> Self {
        Self {
            n_steps,
            n_units,
            data: vec![0.0; n_steps * n_units * (n_units + 1)],
        }
    }

    /// Wrap a `(T, N, N+1)` C-order array. Fails if the length does not
    /// match or a value is not finite.
    pub fn from_vec(n_steps: usize, n_units: usize, data: Vec<f64>) -> Result<Self> {
        let expected = n_steps * n_units * (n_units + 1);
        if data.len() != expected {
            return Err(Error::shape(
                "theta series",
                format!(
                    "({n_steps}, {n_units}, {}) = {expected} values",
                    n_units + 1
                ),
                format!("{} values", data.len()),
            ));
        }
        if let Some(k) = data.iter().position(|v| !v.is_finite()) {
            let d = n_units + 1;
            return Err(Error::NonFinite {
                what: "theta series".into(),
                location: format!(
                    "t = {}, i = {}, k = {}",
                    k / (n_units * d),
                    (k / d) % n_units,
                    k % d
                ),
            });
        }
        Ok(Self {
            n_steps,
            n_units,
            data,
        })
    }

    /// Build from a `(T, N, N+1)` shape as read from an `.npy` file.
    pub fn from_shape(shape: &[usize], data: Vec<f64>) -> Result<Self> {
        match shape {
            &[t, n, d] if d == n + 1 => Self::from_vec(t, n, data),
            _ => Err(Error::shape(
                "theta series",
                "(T, N, N+1)",
                format!("{shape:?}"),
            )),
        }
    }

    /// Number of transitions `T`.
    pub fn n_steps(&self) -> usize {
        self.n_steps
    }
    /// Number of neurons `N`.
    pub fn n_units(&self) -> usize {
        self.n_units
    }
    /// Parameters per neuron `D = N + 1`.
    pub fn dim(&self) -> usize {
        self.n_units + 1
    }
    /// `[T, N, N+1]`, for writing with [`crate::io::npy::write_f64`].
    pub fn shape(&self) -> [usize; 3] {
        [self.n_steps, self.n_units, self.n_units + 1]
    }
    /// The flat C-order data.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }
    /// Mutable flat C-order data.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.data
    }
    /// `theta_i(t)`: the `N+1` parameters of neuron `i` at transition `t`,
    /// `(h_i, J_i0, .., J_i,N-1)`.
    #[inline]
    pub fn row(&self, t: usize, i: usize) -> &[f64] {
        let d = self.dim();
        let s = (t * self.n_units + i) * d;
        &self.data[s..s + d]
    }
    /// Mutable `theta_i(t)`.
    #[inline]
    pub fn row_mut(&mut self, t: usize, i: usize) -> &mut [f64] {
        let d = self.dim();
        let s = (t * self.n_units + i) * d;
        &mut self.data[s..s + d]
    }
    /// Entry `[t, i, k]`.
    #[inline]
    pub fn get(&self, t: usize, i: usize, k: usize) -> f64 {
        self.row(t, i)[k]
    }
    /// Field `h_i(t)`.
    #[inline]
    pub fn h(&self, t: usize, i: usize) -> f64 {
        self.get(t, i, 0)
    }
    /// Coupling `J_ij(t)` from `j` (bin `t`) to `i` (bin `t+1`).
    #[inline]
    pub fn j(&self, t: usize, i: usize, j: usize) -> f64 {
        self.get(t, i, 1 + j)
    }
    /// Every parameter multiplied by `beta` (the gain perturbation of the
    /// paper: `theta -> beta * theta`).
    pub fn scaled(&self, beta: f64) -> Self {
        Self {
            n_steps: self.n_steps,
            n_units: self.n_units,
            data: self.data.iter().map(|v| beta * v).collect(),
        }
    }
}
