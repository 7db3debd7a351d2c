//! The transient: the time-dependent recursion for m(t), q(t) from an
//! initial magnetisation m0 (the relaxation the app animates).
//!
//! ```text
//! m(t) = E_x ⟨tanh(h + a m(t−1) + b x)⟩_h                                   t ≥ 1
//! q(1) = m0 · m(1)
//! q(t) = E_xy ⟨tanh(h + a m(t−1) + b x) tanh(h + a m(t−2) + b(q(t−1) x + √(1−q(t−1)²) y))⟩_h,  t ≥ 2
//! ```
//!
//! with `a = βJ0`, `b = βΔJ`, `h ~ U[−βH0, βH0]`. The initial state is a
//! product state with magnetisation m0 independent of the couplings and
//! fields (all spins +1 for m0 = 1), so `q(1) = ⟨s_i(1) s_i(0)⟩ = m(1) m0`.

use super::SkPoint;
use super::stationary::{Workspace, magnetisation_map, overlap_map};
use crate::{Error, Result};

/// One step of the transient.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RelaxStep {
    /// Time t ≥ 1 (number of synchronous updates since the start).
    pub t: usize,
    /// Magnetisation m(t).
    pub m: f64,
    /// One-step self-overlap `q(t) = (1/N) Σ_i ⟨s_i(t) s_i(t−1)⟩`.
    pub q: f64,
}

/// Iterate the N → ∞ dynamics for `steps` updates from a product state with
/// magnetisation `m0 ∈ [−1, 1]`; returns t = 1..=steps.
///
/// Cost per step: one 1-D and one 2-D Gaussian expectation (≈ 10–100 µs).
///
/// ```
/// use isingscope::sk_theory::{relax, SkPoint};
/// let p = SkPoint { beta: 2.0, j0: 1.0, dj: 0.5, h0: 0.0 };
/// let path = relax(&p, 1.0, 50).unwrap();
/// assert_eq!(path.len(), 50);
/// assert!(path[49].m > 0.5 && path[49].m < path[0].m);
/// ```
pub fn relax(p: &SkPoint, m0: f64, steps: usize) -> Result<Vec<RelaxStep>> {
    p.validate()?;
    if !m0.is_finite() || m0.abs() > 1.0 {
        return Err(Error::param(
            "m0",
            m0,
            "the initial magnetisation must lie in [-1, 1]",
        ));
    }
    let e = p.effective();
    let mut ws = Workspace::default();
    let mut out = Vec::with_capacity(steps);
    let (mut m_prev2, mut m_prev, mut q_prev) = (m0, m0, 0.0);
    for t in 1..=steps {
        let m = magnetisation_map(&e, m_prev, &mut ws).0;
        let q = if t == 1 {
            m * m0
        } else {
            overlap_map(&e, e.a * m_prev, e.a * m_prev2, q_prev, &mut ws).0
        };
        out.push(RelaxStep { t, m, q });
        m_prev2 = m_prev;
        m_prev = m;
        q_prev = q;
    }
    Ok(out)
}
