//! Plefka[t]: the reference model keeps the couplings from t−1 and expands
//! only those at t, so correlations of the previous step enter (spec §2.3–2.4).
//!
//! With `g_i = H_i + Σ_j J_ij m_j(t−1)`, `A_i = 1 − m_i(t)²`,
//! `C' = C(t−1)` (effective H, J):
//!
//! ```text
//! order 1:  m_i = tanh g_i
//!           C   = diag(A)
//!           D_il = A_i (J C')_il
//! order 2:  V_i = (J C' Jᵀ)_ii,   m_i = tanh(g_i − m_i V_i)
//!           C_ik = A_i A_k (J C' Jᵀ)_ik  (i ≠ k),   C_ii = A_i
//!           D_il = A_i (J C')_il + 2 m_i A_i J_il m_l(t−1) (J C')_il
//! ```
//!
//! Order 1 propagates a diagonal C, so `J C'` is a column scaling and the
//! method coincides with nMF (spec §2.3); when C' is a full matrix (the
//! inverse problem feeds data covariances) the product is formed.
//! Order 2 costs two O(N³) products per step (`J C'`, then `(J C') Jᵀ`).
//!
//! Order 2 can run away on strongly ferromagnetic networks (spec §2.4): the
//! C update has gain ≈ (A·βJ0)² on the uniform mode. The forward pass
//! reports that as [`crate::Error::Diverged`] once |C_ik| exceeds 1.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::Net;
use super::kernels::{par_gemm, par_gemm_nt_sym};
use super::plefka_t1_t::one_minus_sq;
use super::solve::solve_tap;

/// Whether every off-diagonal entry is zero.
pub(super) fn is_diagonal(c: &DMatrix<f64>) -> bool {
    c.column_iter()
        .enumerate()
        .all(|(k, col)| col.iter().enumerate().all(|(i, &x)| i == k || x == 0.0))
}

/// `J diag(c)`: column l of J scaled by `c_l`.
pub(super) fn j_times_diag(net: &Net, c: &DVector<f64>) -> DMatrix<f64> {
    let mut jc = net.j.clone();
    for (l, mut col) in jc.column_iter_mut().enumerate() {
        col *= c[l];
    }
    jc
}

/// `J C'`, cheap when C' is diagonal.
pub(super) fn j_times_c(net: &Net, c_prev: &DMatrix<f64>) -> DMatrix<f64> {
    if is_diagonal(c_prev) {
        j_times_diag(net, &c_prev.diagonal())
    } else {
        par_gemm(&net.j, c_prev)
    }
}

/// Order 1 delayed covariance `D_il = A_i (J C')_il` from `jc = J C'`.
pub(super) fn d_o1(m: &DVector<f64>, jc: &DMatrix<f64>) -> DMatrix<f64> {
    let big_a = one_minus_sq(m);
    DMatrix::from_fn(m.len(), m.len(), |i, l| big_a[i] * jc[(i, l)])
}

/// `V_i = (J C' Jᵀ)_ii = Σ_l (J C')_il J_il`, O(N²) from `jc = J C'`.
pub(super) fn variance_diag(net: &Net, jc: &DMatrix<f64>) -> DVector<f64> {
    let n = jc.nrows();
    let mut v = DVector::zeros(n);
    for (col_jc, col_j) in jc.column_iter().zip(net.j.column_iter()) {
        for i in 0..n {
            v[i] += col_jc[i] * col_j[i];
        }
    }
    v
}

/// Order 2 magnetisations given `V` (TAP equation, start `m(t−1)`).
pub(super) fn m_o2(net: &Net, m_prev: &DVector<f64>, v: &DVector<f64>) -> DVector<f64> {
    let g = net.field(m_prev);
    DVector::from_fn(g.len(), |i, _| solve_tap(g[i], v[i], m_prev[i]))
}

/// Order 2 delayed covariance from `jc = J C'`.
pub(super) fn d_o2(
    net: &Net,
    m: &DVector<f64>,
    m_prev: &DVector<f64>,
    jc: &DMatrix<f64>,
) -> DMatrix<f64> {
    let n = m.len();
    let big_a = one_minus_sq(m);
    let mut d = DMatrix::<f64>::zeros(n, n);
    // Column by column over slices (vectorises), columns in parallel.
    d.as_mut_slice()
        .par_chunks_mut(n.max(1))
        .zip(jc.as_slice().par_chunks(n.max(1)))
        .zip(net.j.as_slice().par_chunks(n.max(1)))
        .zip(m_prev.as_slice().par_iter())
        .for_each(|(((dcol, jccol), jcol), &ml)| {
            let rows = jccol.iter().zip(jcol).zip(big_a.iter()).zip(m.iter());
            for (d, (((&x, &jil), &ai), &mi)) in dcol.iter_mut().zip(rows) {
                *d = ai * x + 2.0 * mi * ai * jil * ml * x;
            }
        });
    d
}

/// Order 2 equal-time covariance from `jc = J C'`: `A A ∘ (J C' Jᵀ)` off
/// the diagonal, `A` on it.
pub(super) fn c_o2(net: &Net, m: &DVector<f64>, jc: &DMatrix<f64>) -> DMatrix<f64> {
    let big_a = one_minus_sq(m);
    let mut c = par_gemm_nt_sym(jc, &net.j);
    let n = m.len();
    c.as_mut_slice()
        .par_chunks_mut(n.max(1))
        .zip(big_a.as_slice().par_iter())
        .enumerate()
        .for_each(|(k, (col, &ak))| {
            for (x, &ai) in col.iter_mut().zip(big_a.iter()) {
                *x *= ai * ak;
            }
            col[k] = ak;
        });
    c
}
