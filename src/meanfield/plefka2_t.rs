//! Plefka2[t]: a pairwise reference model that keeps, for each ordered pair
//! (i, l), the coupling from s_l(t−1) to s_i(t) and expands the rest
//! (spec §2.6).
//!
//! With `g_i = H_i + Σ_j J_ij m_j(t−1)`, `C' = C(t−1)`, `D' = D(t−1)`,
//! `m'_l = m_l(t−1)`, `p_l(s) = (1 + s m'_l)/2` for `s = ±1` (effective H, J):
//!
//! ```text
//! order 2:
//!   V_i    = (J C' Jᵀ)_ii
//!   V_il   = V_i − 2 J_il (J C')_il + J_il² C'_ll           (variance without l)
//!   W_il   = (J D' Jᵀ)_il − J_il Σ_n J_ln D'_ln
//!   h_il(s)= g_i + (J_il + W_il)(s − m'_l)
//!   θ_il(s) solves θ = h_il(s) − V_il tanh θ
//!   μ_il   = Σ_s p_l(s) tanh θ_il(s)
//!   D_il   = Σ_s p_l(s) s tanh θ_il(s) − μ_il m'_l
//!   m_i    = (1/N) Σ_l μ_il
//!   C_ik   = Σ_s p_k(s) (s − m'_k) tanh θ_ik(s),
//!            θ_ik(s) solves θ = g_i + (J C' Jᵀ)_ik (s − m'_k) − V_i tanh θ
//!   C ← (C + Cᵀ)/2,  C_ii = 1 − m_i²
//! ```
//!
//! As in the reference, C uses the partner's previous magnetisation `m'_k`
//! and the full `V_i` (spec §7.7).
//!
//! **Order 1** (the reference's version is broken, spec §2.6): keep only
//! the terms of first order in the expanded couplings. V, V_il, W and
//! `J C' Jᵀ` are all second order, so
//!
//! ```text
//!   θ_il(s) = g_i + J_il (s − m'_l)          (no reaction term)
//!   μ_il, D_il, m_i as above
//!   C_ik    = tanh(g_i) Σ_s p_k(s)(s − m'_k) = 0   (i ≠ k),   C_ii = 1 − m_i²
//! ```
//!
//! Order 1 needs neither C' nor D' and costs 2N² tanh per step; order 2 needs
//! four O(N³) products and 4N² scalar root solves (bracketed, see
//! [`super::solve`]).

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::Net;
use super::kernels::{par_gemm, par_gemm_nt, tanh_fast};
use super::plefka_t::variance_diag;
use super::solve::solve_theta_tanh;

/// m and D of order 1.
pub(super) fn m_d_o1(net: &Net, m_prev: &DVector<f64>) -> (DVector<f64>, DMatrix<f64>) {
    let n = m_prev.len();
    let g = net.field(m_prev);
    let mut d = DMatrix::<f64>::zeros(n, n);
    let mut mu = DMatrix::<f64>::zeros(n, n);
    d.as_mut_slice()
        .par_chunks_mut(n.max(1))
        .zip(mu.as_mut_slice().par_chunks_mut(n.max(1)))
        .enumerate()
        .for_each(|(l, (dcol, mucol))| {
            let ml = m_prev[l];
            let (pp, pm) = (0.5 * (1.0 + ml), 0.5 * (1.0 - ml));
            let jcol = net.j.column(l);
            for i in 0..n {
                let jil = jcol[i];
                let tp = tanh_fast(g[i] + jil * (1.0 - ml));
                let tm = tanh_fast(g[i] + jil * (-1.0 - ml));
                let mu_il = pp * tp + pm * tm;
                mucol[i] = mu_il;
                dcol[i] = pp * tp - pm * tm - mu_il * ml;
            }
        });
    let m = row_means(&mu);
    (m, d)
}

/// m and D of order 2, also returning `J C'` (reused by C).
pub(super) fn m_d_o2(
    net: &Net,
    m_prev: &DVector<f64>,
    c_prev: &DMatrix<f64>,
    d_prev: &DMatrix<f64>,
) -> (DVector<f64>, DMatrix<f64>, DMatrix<f64>) {
    let n = m_prev.len();
    let g = net.field(m_prev);
    let jc = super::plefka_t::j_times_c(net, c_prev);
    let v = variance_diag(net, &jc);
    let jd = par_gemm(&net.j, d_prev);
    let jdj = par_gemm_nt(&jd, &net.j);
    // Σ_n J_ln D'_ln for every l.
    let mut jd_self = DVector::<f64>::zeros(n);
    for (jcol, dcol) in net.j.column_iter().zip(d_prev.column_iter()) {
        for l in 0..n {
            jd_self[l] += jcol[l] * dcol[l];
        }
    }
    let mut d = DMatrix::<f64>::zeros(n, n);
    let mut mu = DMatrix::<f64>::zeros(n, n);
    d.as_mut_slice()
        .par_chunks_mut(n.max(1))
        .zip(mu.as_mut_slice().par_chunks_mut(n.max(1)))
        .enumerate()
        .for_each(|(l, (dcol, mucol))| {
            let ml = m_prev[l];
            let (pp, pm) = (0.5 * (1.0 + ml), 0.5 * (1.0 - ml));
            let cll = c_prev[(l, l)];
            for i in 0..n {
                let jil = net.j[(i, l)];
                let v_il = v[i] - 2.0 * jil * jc[(i, l)] + jil * jil * cll;
                let delta = jil + jdj[(i, l)] - jil * jd_self[l];
                let tp = solve_theta_tanh(g[i] + delta * (1.0 - ml), v_il);
                let tm = solve_theta_tanh(g[i] + delta * (-1.0 - ml), v_il);
                let mu_il = pp * tp + pm * tm;
                mucol[i] = mu_il;
                dcol[i] = pp * tp - pm * tm - mu_il * ml;
            }
        });
    let m = row_means(&mu);
    (m, d, jc)
}

/// C of order 2 from `jc = J C'`.
pub(super) fn c_o2(
    net: &Net,
    m: &DVector<f64>,
    m_prev: &DVector<f64>,
    jc: &DMatrix<f64>,
) -> DMatrix<f64> {
    let n = m.len();
    let g = net.field(m_prev);
    let cov = par_gemm_nt(jc, &net.j);
    let v = DVector::from_fn(n, |i, _| cov[(i, i)]);
    let mut c = DMatrix::<f64>::zeros(n, n);
    c.as_mut_slice()
        .par_chunks_mut(n.max(1))
        .enumerate()
        .for_each(|(k, col)| {
            let mk = m_prev[k];
            let (pp, pm) = (0.5 * (1.0 + mk), 0.5 * (1.0 - mk));
            for i in 0..n {
                let dk = cov[(i, k)];
                let tp = solve_theta_tanh(g[i] + dk * (1.0 - mk), v[i]);
                let tm = solve_theta_tanh(g[i] + dk * (-1.0 - mk), v[i]);
                col[i] = pp * (1.0 - mk) * tp + pm * (-1.0 - mk) * tm;
            }
        });
    let mut sym = DMatrix::<f64>::zeros(n, n);
    for k in 0..n {
        for i in 0..n {
            sym[(i, k)] = if i == k {
                1.0 - m[i] * m[i]
            } else {
                0.5 * (c[(i, k)] + c[(k, i)])
            };
        }
    }
    sym
}

/// `m_i = (1/N) Σ_l μ_il`.
fn row_means(mu: &DMatrix<f64>) -> DVector<f64> {
    let n = mu.ncols().max(1) as f64;
    let mut m = DVector::<f64>::zeros(mu.nrows());
    for col in mu.column_iter() {
        m += col;
    }
    m / n
}
