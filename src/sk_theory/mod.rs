//! Exact large-N theory of the asymmetric Sherrington–Kirkpatrick model
//! (spec `meanfield-sk.md` §6; Aguilera, Igarashi & Shimazaki 2023).
//!
//! ## The model
//!
//! N → ∞ spins with synchronous updates (see [`crate::model`]), couplings
//! `J_ij ~ N(J0/N, ΔJ²/N)` drawn independently for every ordered pair (fully
//! asymmetric) and quenched fields `H_i ~ U[−H0, H0]`, all multiplied by β.
//! Write `a = βJ0`, `b = βΔJ`, `w = βH0`; every result depends on these three
//! numbers only. With x, y iid standard normal, `E` the Gaussian expectation
//! and `⟨·⟩_h` the average over `h ~ U[−w, w]`:
//!
//! ```text
//! m(t) = E_x ⟨tanh(h + a m(t−1) + b x)⟩_h
//! q(t) = E_xy ⟨tanh(h + a m(t−1) + b x) ·
//!             tanh(h + a m(t−2) + b(q(t−1) x + √(1−q(t−1)²) y))⟩_h
//! ```
//!
//! m is the population magnetisation and `q = (1/N) Σ_i ⟨s_i(t) s_i(t−1)⟩`
//! the one-step self-overlap (non-centred). At stationarity
//! (`m(t) = m(t−1) = m`, `q(t) = q(t−1) = q`):
//!
//! ```text
//! k     = E_x ⟨1 − tanh²(h + a m + b x)⟩_h
//! σ/N   = b² (1 − q) k                          entropy production per spin and step
//! S/N   = E_x ⟨log 2cosh g − g tanh g⟩_h,  g = h + a m + b x   (conditional entropy)
//! S_r/N = S/N + σ/N                             time-reversed conditional cross-entropy
//! ```
//!
//! all in nats. The order/disorder transition (continuous) is the linear
//! instability of m = 0: `a k0(b) = 1` with `k0(b) = E[1 − tanh²(b x)]` when
//! H0 = 0, and `(J0/H0) E[tanh(w + b x)] = 1` when H0 > 0. An ordered phase
//! exists only for `ΔJ < √(2/π) J0` (H0 = 0), resp. `H0 < J0` and
//! `(J0/H0)(2Φ(H0/ΔJ) − 1) > 1` (H0 > 0). There is no spin-glass phase.
//!
//! ## How it is solved
//!
//! * m alone (it does not involve q): the positive root of `M(m) − m` by
//!   Newton's method with the analytic derivative, started to the right of
//!   the root where it converges monotonically (M is concave for m > 0), so
//!   there is no critical slowing down near β_c (fixed-point iteration
//!   converges only like a power law there). m = 0 in the disordered phase.
//! * q given m: writing the two correlated fields as a common part
//!   `h + b√q z` plus independent parts `b√(1−q) x₁,₂`, the q-map becomes a
//!   1-D integral of `F(c)²`, `F(c) = E_x tanh(c + b√(1−q) x)`, against the
//!   density of `c = h + b√q z` (a Gaussian convolved with the uniform
//!   field distribution, exact through `erfc`). The map is increasing and
//!   convex in q, so Newton's method (derivative by Price's theorem:
//!   `b² E[F'(c)²]`) from `q = m²` (a lower bound) converges monotonically.
//!   For H0 = 0 in the disordered phase q = 0 exactly (spec §6.2); for
//!   H0 > 0 q > 0 there and is solved. Both rules share one step in
//!   argument space, so all arguments `c + x` fall on one lattice: one
//!   `tanh` per lattice point, and the double sum is a correlation of
//!   multiply-adds (no 2-D grid of `tanh` as in a direct product rule).
//! * Quadrature: see [`quadrature`] (trapezoid rules with the step set in
//!   argument space, error ≲ 1e-13 for every βΔJ) and [`field`] (closed
//!   forms for the uniform-field averages, with our own [`li2`]).
//!
//! ## Entry points
//!
//! [`solve_stationary`], [`critical_beta`], [`critical_j0`],
//! [`ordered_dj_limit`], [`relax`] (the transient m(t), q(t)) and [`grid`]
//! (any [`SkQuantity`] over a 2-D parameter grid, in parallel).

mod critical;
pub mod dilog;
mod dynamics;
pub mod field;
mod grid;
pub mod quadrature;
mod stationary;

pub use critical::{critical_beta, critical_j0, ordered_dj_limit};
pub use dilog::li2;
pub use dynamics::{RelaxStep, relax};
pub use grid::{GridAxis, SkGrid, SkParameter, grid};
pub use stationary::{solve_stationary, solve_stationary_near};

use crate::{Error, Result};

/// One parameter point of the asymmetric SK model (raw values; β multiplies
/// the other three).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkPoint {
    /// Inverse temperature β ≥ 0.
    pub beta: f64,
    /// Mean coupling times N, J0 (any finite value; an ordered phase needs J0 > 0).
    pub j0: f64,
    /// Coupling spread ΔJ ≥ 0 (standard deviation times √N).
    pub dj: f64,
    /// Half-width H0 ≥ 0 of the uniform field distribution.
    pub h0: f64,
}

impl SkPoint {
    /// Check that all values are finite and β, ΔJ, H0 are ≥ 0.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("beta", self.beta),
            ("j0", self.j0),
            ("dj", self.dj),
            ("h0", self.h0),
        ] {
            if !v.is_finite() {
                return Err(Error::param(name, v, "must be a finite number"));
            }
        }
        for (name, v) in [("beta", self.beta), ("dj", self.dj), ("h0", self.h0)] {
            if v < 0.0 {
                return Err(Error::param(name, v, "must be >= 0"));
            }
        }
        Ok(())
    }

    /// The effective parameters `(a, b, w) = (βJ0, βΔJ, βH0)`.
    pub(crate) fn effective(&self) -> Effective {
        Effective {
            a: self.beta * self.j0,
            b: self.beta * self.dj,
            w: self.beta * self.h0,
        }
    }
}

/// Effective parameters `a = βJ0`, `b = βΔJ`, `w = βH0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Effective {
    pub a: f64,
    pub b: f64,
    pub w: f64,
}

/// The stationary state at one [`SkPoint`] (per spin, nats).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkStationary {
    /// Magnetisation m ≥ 0 (the positive branch in the ordered phase; by
    /// symmetry −m is the other).
    pub m: f64,
    /// One-step self-overlap `q = (1/N) Σ_i ⟨s_i(t) s_i(t−1)⟩`.
    pub q: f64,
    /// Mean susceptibility `k = E⟨1 − tanh²(g)⟩`.
    pub k: f64,
    /// Entropy production per spin and step, `σ/N = (βΔJ)² (1 − q) k`.
    pub sigma_per_n: f64,
    /// Conditional entropy per spin `S_{u|u−1}/N`.
    pub s_per_n: f64,
    /// Time-reversed conditional cross-entropy per spin, `S_r/N = S/N + σ/N`.
    pub sr_per_n: f64,
    /// True in the ordered phase (m > 0 branch chosen).
    pub ordered: bool,
}

impl SkStationary {
    /// Connected one-step self-correlation `q − m²`.
    pub fn q_minus_m2(&self) -> f64 {
        self.q - self.m * self.m
    }

    /// The value of one [`SkQuantity`].
    pub fn get(&self, quantity: SkQuantity) -> f64 {
        match quantity {
            SkQuantity::M => self.m,
            SkQuantity::Q => self.q,
            SkQuantity::QMinusM2 => self.q_minus_m2(),
            SkQuantity::K => self.k,
            SkQuantity::SigmaPerN => self.sigma_per_n,
            SkQuantity::SPerN => self.s_per_n,
            SkQuantity::SrPerN => self.sr_per_n,
        }
    }
}

/// A stationary quantity that can be mapped over a grid or plotted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SkQuantity {
    /// Magnetisation m.
    M,
    /// One-step self-overlap q.
    Q,
    /// Connected self-correlation q − m².
    QMinusM2,
    /// Mean susceptibility k.
    K,
    /// Entropy production per spin σ/N (nats per step).
    SigmaPerN,
    /// Conditional entropy per spin S/N (nats).
    SPerN,
    /// Time-reversed cross-entropy per spin S_r/N (nats).
    SrPerN,
}

impl SkQuantity {
    /// Every quantity, in the CLI's column order.
    pub const ALL: [SkQuantity; 7] = [
        SkQuantity::M,
        SkQuantity::Q,
        SkQuantity::QMinusM2,
        SkQuantity::K,
        SkQuantity::SigmaPerN,
        SkQuantity::SPerN,
        SkQuantity::SrPerN,
    ];

    /// A short label with the symbol, for axes and legends.
    pub fn label(self) -> &'static str {
        match self {
            SkQuantity::M => "m",
            SkQuantity::Q => "q",
            SkQuantity::QMinusM2 => "q − m²",
            SkQuantity::K => "k",
            SkQuantity::SigmaPerN => "σ/N",
            SkQuantity::SPerN => "S/N",
            SkQuantity::SrPerN => "S_r/N",
        }
    }
}
