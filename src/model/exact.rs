//! The exact evolution of the full distribution over 2^N configurations.
//!
//! For N ≤ [`MAX_EXACT_N`] the probability `p_t(s)` of every configuration is
//! propagated through the synchronous kernel
//! `P(s'|s) = Π_i exp(s'_i h_i(s)) / (2 cosh h_i(s))` (effective fields).
//! This is the ground truth for every test of the simulator, the mean-field
//! methods and the entropy-production estimators.
//!
//! Configuration index: bit i of the index set ⇔ `s_i = +1`.
//!
//! Per step, with `p = p_{t−1}` and `p' = p_t`:
//!
//! ```text
//! m_i(t)      = Σ_s p(s) tanh h_i(s)
//! <s_i(t)s_l(t−1)> = Σ_s p(s) tanh h_i(s) s_l
//! C_ik(t)     = Σ_s' p'(s') s'_i s'_k − m_i m_k
//! σ(t)        = E[log P(s(t)|s(t−1)) − log P(s(t−1)|s(t))]
//! ```
//!
//! The entropy production σ(t) is the expected log ratio of the forward
//! transition to the same kernel applied backwards (spec §5). Writing
//! `L(s) = Σ_i log 2cosh h_i(s)`:
//! `E[log P(s(t)|s(t−1))] = Σ_s p(s) Σ_i [h_i tanh h_i − log 2cosh h_i]` and
//! `E[log P(s(t−1)|s(t))] = Σ_i H_i m_i(t−1) + Σ_il J_il <s_i(t−1) s_l(t)>
//! − Σ_s' p'(s') L(s')`, all computable from p and p' alone.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::KineticIsing;
use crate::{Error, Result};

/// The largest N the exact solver accepts (4^N work per step).
pub const MAX_EXACT_N: usize = 12;

/// `log(2 cosh x)` without overflow.
#[inline]
pub fn log_2cosh(x: f64) -> f64 {
    let a = x.abs();
    a + (-2.0 * a).exp().ln_1p()
}

/// Statistics after one exact step.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactStep {
    /// `m_i(t)`.
    pub m: DVector<f64>,
    /// `C_ik(t)`.
    pub c: DMatrix<f64>,
    /// `D_il(t) = <s_i(t) s_l(t−1)> − m_i(t) m_l(t−1)`.
    pub d: DMatrix<f64>,
    /// Entropy production σ(t) of the transition t−1 → t, nats.
    pub entropy_production: f64,
}

/// The exact distribution of a small network, advanced step by step.
#[derive(Clone, Debug)]
pub struct ExactEvolver {
    n: usize,
    h_eff: DVector<f64>,
    j_eff: DMatrix<f64>,
    /// Effective fields of every configuration, `[s * n + i]`.
    fields: Vec<f64>,
    /// `p_t(s)`.
    p: Vec<f64>,
}

/// The initial distribution: a product of independent spins.
#[derive(Clone, Debug, PartialEq)]
pub enum ExactInit {
    /// All spins +1 with certainty.
    AllUp,
    /// Independent spins with means `m0` (`P(s_i = +1) = (1 + m0_i)/2`).
    Product(Vec<f64>),
}

impl ExactEvolver {
    /// Prepare the evolution. Errors if N > [`MAX_EXACT_N`] or `m0` is invalid.
    pub fn new(model: &KineticIsing, init: &ExactInit) -> Result<Self> {
        let n = model.n();
        if n > MAX_EXACT_N {
            return Err(Error::param(
                "N",
                n,
                format!(
                    "the exact solver enumerates 2^N states and accepts N <= {MAX_EXACT_N}; use simulation for larger networks"
                ),
            ));
        }
        if n == 0 {
            return Err(Error::param("N", 0, "the network has no spins"));
        }
        let h_eff = model.effective_h();
        let j_eff = model.effective_j();
        let states = 1usize << n;
        let mut fields = vec![0.0; states * n];
        for s in 0..states {
            for i in 0..n {
                let mut f = h_eff[i];
                for l in 0..n {
                    f += j_eff[(i, l)] * spin(s, l);
                }
                fields[s * n + i] = f;
            }
        }
        let p = match init {
            ExactInit::AllUp => {
                let mut p = vec![0.0; states];
                p[states - 1] = 1.0;
                p
            }
            ExactInit::Product(m0) => {
                if m0.len() != n {
                    return Err(Error::shape("initial magnetisations m0", n, m0.len()));
                }
                if let Some(bad) = m0.iter().find(|x| !(x.abs() <= 1.0)) {
                    return Err(Error::param("m0", bad, "magnetisations must lie in [-1, 1]"));
                }
                (0..states)
                    .map(|s| {
                        (0..n)
                            .map(|i| 0.5 * (1.0 + spin(s, i) * m0[i]))
                            .product()
                    })
                    .collect()
            }
        };
        Ok(Self {
            n,
            h_eff,
            j_eff,
            fields,
            p,
        })
    }

    /// The current distribution `p_t(s)` over the 2^N configurations.
    pub fn distribution(&self) -> &[f64] {
        &self.p
    }

    /// Magnetisations of the current distribution.
    pub fn magnetisations(&self) -> DVector<f64> {
        DVector::from_fn(self.n, |i, _| {
            self.p.iter().enumerate().map(|(s, &ps)| ps * spin(s, i)).sum()
        })
    }

    /// Advance one synchronous step and return the statistics of the new
    /// time step.
    pub fn step(&mut self) -> ExactStep {
        let n = self.n;
        let states = 1usize << n;
        let m_prev = self.magnetisations();
        // New distribution: Σ_s p(s) P(·|s), the kernel built by doubling.
        let p_new = self
            .p
            .par_iter()
            .enumerate()
            .fold(
                || (vec![0.0; states], vec![0.0; states]),
                |(mut acc, mut q), (s, &ps)| {
                    if ps == 0.0 {
                        return (acc, q);
                    }
                    q[0] = ps;
                    for i in 0..n {
                        let up = 0.5 * (1.0 + self.fields[s * n + i].tanh());
                        let half = 1usize << i;
                        for k in 0..half {
                            q[k | half] = q[k] * up;
                            q[k] *= 1.0 - up;
                        }
                    }
                    for (a, &x) in acc.iter_mut().zip(q.iter()) {
                        *a += x;
                    }
                    (acc, q)
                },
            )
            .map(|(acc, _)| acc)
            .reduce(
                || vec![0.0; states],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            );
        // Quantities that need only p and the fields.
        let mut m = DVector::<f64>::zeros(n);
        let mut d_nc = DMatrix::<f64>::zeros(n, n); // <s_i(t) s_l(t−1)>
        let mut forward = 0.0;
        for (s, &ps) in self.p.iter().enumerate() {
            if ps == 0.0 {
                continue;
            }
            for i in 0..n {
                let h = self.fields[s * n + i];
                let th = h.tanh();
                m[i] += ps * th;
                forward += ps * (h * th - log_2cosh(h));
                for l in 0..n {
                    d_nc[(i, l)] += ps * th * spin(s, l);
                }
            }
        }
        // Quantities of the new distribution.
        let mut c_nc = DMatrix::<f64>::zeros(n, n);
        let mut mean_l_new = 0.0;
        for (s, &ps) in p_new.iter().enumerate() {
            if ps == 0.0 {
                continue;
            }
            let mut l_sum = 0.0;
            for i in 0..n {
                l_sum += log_2cosh(self.fields[s * n + i]);
                for k in 0..n {
                    c_nc[(i, k)] += ps * spin(s, i) * spin(s, k);
                }
            }
            mean_l_new += ps * l_sum;
        }
        // E[log P(s(t−1)|s(t))] = Σ_i H_i m_i(t−1) + Σ_il J_il <s_i(t−1) s_l(t)> − E[L(s(t))].
        let mut backward = -mean_l_new;
        for i in 0..n {
            backward += self.h_eff[i] * m_prev[i];
            for l in 0..n {
                backward += self.j_eff[(i, l)] * d_nc[(l, i)];
            }
        }
        let c = DMatrix::from_fn(n, n, |i, k| c_nc[(i, k)] - m[i] * m[k]);
        let d = DMatrix::from_fn(n, n, |i, l| d_nc[(i, l)] - m[i] * m_prev[l]);
        self.p = p_new;
        ExactStep {
            m,
            c,
            d,
            entropy_production: forward - backward,
        }
    }
}

/// The spin (±1) of unit `i` in configuration index `s`.
#[inline]
pub fn spin(s: usize, i: usize) -> f64 {
    if (s >> i) & 1 == 1 { 1.0 } else { -1.0 }
}

/// Run `steps` exact steps from `init`; element t is the state after t+1 steps.
pub fn evolve_exact(model: &KineticIsing, init: &ExactInit, steps: usize) -> Result<Vec<ExactStep>> {
    let mut ev = ExactEvolver::new(model, init)?;
    Ok((0..steps).map(|_| ev.step()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SkParams;
    use rand::SeedableRng;

    fn small_model(seed: u64, n: usize) -> KineticIsing {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        SkParams { n, j0: 0.5, dj: 0.8, h0: 0.4, beta: 1.2 }
            .draw(&mut rng)
            .unwrap()
    }

    #[test]
    fn probability_is_conserved() {
        let model = small_model(1, 7);
        let mut ev = ExactEvolver::new(&model, &ExactInit::Product(vec![0.3; 7])).unwrap();
        for _ in 0..20 {
            ev.step();
            let total: f64 = ev.distribution().iter().sum();
            assert!((total - 1.0).abs() < 1e-13, "total probability {total}");
            assert!(ev.distribution().iter().all(|&p| p >= 0.0));
        }
    }

    #[test]
    fn single_spin_matches_closed_form() {
        // One spin with self-coupling: m(t) = E[tanh(βH + βJ s(t−1))], i.e.
        // m(t) = a + b m(t−1) with a = (tanh(u+v)+tanh(u−v))/2, b = (tanh(u+v)−tanh(u−v))/2.
        let model = KineticIsing::new(
            DVector::from_vec(vec![0.3]),
            DMatrix::from_vec(1, 1, vec![0.7]),
            1.5,
        )
        .unwrap();
        let (u, v): (f64, f64) = (1.5 * 0.3, 1.5 * 0.7);
        let a = 0.5 * ((u + v).tanh() + (u - v).tanh());
        let b = 0.5 * ((u + v).tanh() - (u - v).tanh());
        let steps = evolve_exact(&model, &ExactInit::AllUp, 5).unwrap();
        let mut m = 1.0;
        for st in steps {
            let m_new = a + b * m;
            assert!((st.m[0] - m_new).abs() < 1e-14);
            // D = <s(t)s(t−1)> − m(t)m(t−1) = Var(s(t−1)) · b.
            assert!((st.d[(0, 0)] - b * (1.0 - m * m)).abs() < 1e-14);
            m = m_new;
        }
    }

    #[test]
    fn symmetric_couplings_produce_no_entropy_at_stationarity() {
        let mut model = small_model(3, 6);
        let j = model.j().clone();
        let sym = (&j + j.transpose()) * 0.5;
        model = KineticIsing::new(model.h().clone(), sym, model.beta()).unwrap();
        let steps = evolve_exact(&model, &ExactInit::AllUp, 200).unwrap();
        let last = steps.last().unwrap();
        assert!(last.entropy_production.abs() < 1e-10, "{}", last.entropy_production);
    }

    #[test]
    fn stationary_entropy_production_equals_coupling_form() {
        // At stationarity σ = Σ_il J_il (D_il − D_li) (spec §5).
        let model = small_model(5, 6);
        let steps = evolve_exact(&model, &ExactInit::AllUp, 300).unwrap();
        let last = steps.last().unwrap();
        let j = model.effective_j();
        let sigma2: f64 = (0..6)
            .flat_map(|i| (0..6).map(move |l| (i, l)))
            .map(|(i, l)| j[(i, l)] * (last.d[(i, l)] - last.d[(l, i)]))
            .sum();
        assert!(last.entropy_production > 1e-3);
        assert!((last.entropy_production - sigma2).abs() < 1e-10);
    }

    #[test]
    fn rejects_large_networks() {
        let model = small_model(1, 13);
        let e = ExactEvolver::new(&model, &ExactInit::AllUp).unwrap_err();
        assert!(e.to_string().contains("N <= 12"), "{e}");
    }
}
