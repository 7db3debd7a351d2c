//! Plefka[t−1,t]: the reference model keeps no coupling at all, neither
//! from t−1 nor at t (spec §2.1–2.2). Order 1 is naive mean field (nMF),
//! order 2 the dynamical TAP equations.
//!
//! With `g_i = H_i + Σ_j J_ij m_j(t−1)`, `a_j = 1 − m_j(t−1)²`,
//! `A_i = 1 − m_i(t)²` (effective H, J):
//!
//! ```text
//! order 1:  m_i = tanh g_i
//!           C   = diag(A)
//!           D_il = A_i J_il a_l
//! order 2:  V_i = Σ_j J_ij² a_j,   m_i = tanh(g_i − m_i V_i)
//!           C_ik = A_i A_k Σ_j J_ij J_kj a_j  (i ≠ k),   C_ii = A_i
//!           D_il = A_i J_il a_l (1 + 2 J_il m_i m_l(t−1))
//! ```
//!
//! Neither order reads C(t−1) or D(t−1): the dynamics propagate m only, so
//! the forward pass can skip the O(N³) C of order 2 at steps where nobody
//! asks for it. The per-step summaries then come from closed forms that
//! cost a few matrix-vector products (derived next to each function).

use nalgebra::{DMatrix, DVector};

use super::kernels::{gemm_tn, par_gemm_nt_sym, par_gemv_t};
use super::solve::solve_tap;
use super::{Net, StepSummary};

/// `a = 1 − m²` elementwise.
pub(super) fn one_minus_sq(m: &DVector<f64>) -> DVector<f64> {
    m.map(|x| 1.0 - x * x)
}

/// Order 1 (nMF) magnetisations `m_i = tanh(H_i + Σ_j J_ij m_j(t−1))`.
pub(super) fn m_o1(net: &Net, m_prev: &DVector<f64>) -> DVector<f64> {
    net.field(m_prev).map(f64::tanh)
}

/// Order 2 (TAP) magnetisations: `m_i = tanh(g_i − m_i V_i)`,
/// `V_i = Σ_j J_ij² a_j`, each solved from the start `m_i(t−1)`.
pub(super) fn m_o2(net: &Net, m_prev: &DVector<f64>) -> DVector<f64> {
    step_o2(net, m_prev).0
}

/// Order 1 delayed covariance `D_il = A_i J_il a_l`.
pub(super) fn d_o1(net: &Net, m: &DVector<f64>, m_prev: &DVector<f64>) -> DMatrix<f64> {
    let a = one_minus_sq(m_prev);
    let big_a = one_minus_sq(m);
    DMatrix::from_fn(m.len(), m.len(), |i, l| big_a[i] * net.j[(i, l)] * a[l])
}

/// Order 2 delayed covariance `D_il = A_i J_il a_l (1 + 2 J_il m_i m_l(t−1))`.
pub(super) fn d_o2(net: &Net, m: &DVector<f64>, m_prev: &DVector<f64>) -> DMatrix<f64> {
    let a = one_minus_sq(m_prev);
    let big_a = one_minus_sq(m);
    DMatrix::from_fn(m.len(), m.len(), |i, l| {
        let jil = net.j[(i, l)];
        big_a[i] * jil * a[l] * (1.0 + 2.0 * jil * m[i] * m_prev[l])
    })
}

/// Order 2 equal-time covariance `C_ik = A_i A_k (J diag(a) Jᵀ)_ik`,
/// `C_ii = A_i` (one O(N³) product).
pub(super) fn c_o2(net: &Net, m: &DVector<f64>, m_prev: &DVector<f64>) -> DMatrix<f64> {
    let a = one_minus_sq(m_prev);
    let big_a = one_minus_sq(m);
    let mut ja = net.j.clone();
    for (l, mut col) in ja.column_iter_mut().enumerate() {
        col *= a[l];
    }
    let mut c = par_gemm_nt_sym(&ja, &net.j);
    let n = m.len();
    for k in 0..n {
        for i in 0..n {
            c[(i, k)] = if i == k {
                big_a[i]
            } else {
                big_a[i] * big_a[k] * c[(i, k)]
            };
        }
    }
    c
}

/// Diagonal covariance `C = diag(1 − m²)` (order-1 methods).
pub(super) fn c_diag(m: &DVector<f64>) -> DMatrix<f64> {
    DMatrix::from_diagonal(&one_minus_sq(m))
}

/// One order-1 (nMF) step without forming C or D: the new magnetisations
/// `m_i = tanh(H_i + (J m(t−1))_i)` and the step summary in closed form.
/// With `D_il = A_i J_il a_l`:
/// `Σ D = Aᵀ (J a)`, `σ = Σ_il (J_il − J_li) D_il = Aᵀ ((K∘J) a)`
/// (`K = J − Jᵀ`), off-diagonal C zero. `J m`, `J a` and `(K∘J) a` come
/// from one fused pass over J and K∘J (the whole cost of the step).
pub(super) fn step_o1(net: &Net, m_prev: &DVector<f64>) -> (DVector<f64>, StepSummary) {
    let n = m_prev.len() as f64;
    let a = one_minus_sq(m_prev);
    let [jm, ja, kja] = net.panels_o1().gemv(
        &[m_prev.as_slice(), a.as_slice()],
        &[(0, 0), (0, 1), (1, 1)],
    );
    // Field, then tanh, exactly as `m_o1_packed` does, so `forward` and a
    // `Propagator` give identical m.
    let m = DVector::from_fn(jm.len(), |i, _| (jm[i] + net.h[i]).tanh());
    let big_a = one_minus_sq(&m);
    let dot = |x: &[f64]| big_a.iter().zip(x).map(|(p, q)| p * q).sum::<f64>();
    let summary = StepSummary {
        step: 0,
        mean_m: m.mean(),
        mean_c_offdiag: 0.0,
        mean_c_all: big_a.sum() / (n * n),
        mean_d: dot(&ja) / (n * n),
        entropy_production: dot(&kja),
    };
    (m, summary)
}

/// Order-1 (nMF) magnetisations from one pass over the packed J (the same
/// sums, in the same order, as [`step_o1`], so the two agree bit for bit),
/// and `J a` with `a = 1 − m(t−1)²` for the step's mean D: the pass is
/// bound by reading J, so the second product is almost free.
pub(super) fn m_o1_packed(net: &Net, m_prev: &DVector<f64>) -> (DVector<f64>, Vec<f64>) {
    let a = one_minus_sq(m_prev);
    let [jm, ja] = net
        .panels_j()
        .gemv(&[m_prev.as_slice(), a.as_slice()], &[(0, 0), (0, 1)]);
    let m = DVector::from_fn(jm.len(), |i, _| (jm[i] + net.h[i]).tanh());
    (m, ja)
}

/// The closed-form summaries of [`step_o1`] for steps 1..=T at once, from
/// the magnetisations `ms = [m(0), …, m(T)]` and `ja[t − 1] = J a(t)`
/// (from [`m_o1_packed`]), `a(t) = 1 − m(t−1)²`. σ(t) needs
/// `(K∘J) a(t)`; stacking the a(t) as the columns of an N × T matrix turns
/// those T matrix-vector products into one matrix product, which reads
/// K∘J once instead of once per step and runs at GEMM speed (on the
/// calling thread: split over two threads it measured slower, the
/// hand-off and the second thread's packing buffers costing more than the
/// ~1 ms product). Returns T summaries (steps 1..=T).
pub(super) fn summaries_o1(net: &Net, ms: &[DVector<f64>], ja: &[Vec<f64>]) -> Vec<StepSummary> {
    let steps = ms.len().saturating_sub(1).min(ja.len());
    let n = net.h.len();
    let nf = n as f64;
    let mut a_cols = DMatrix::<f64>::zeros(n, steps);
    for (mut col, m_prev) in a_cols.column_iter_mut().zip(ms) {
        col.copy_from(&one_minus_sq(m_prev));
    }
    let kja = gemm_tn(net.kj_t(), &a_cols);
    ms[1..=steps]
        .iter()
        .zip(ja.iter().zip(kja.column_iter()))
        .map(|(m, (ja_t, kja_t))| {
            let big_a = one_minus_sq(m);
            let dot = |x: &[f64]| big_a.iter().zip(x).map(|(p, q)| p * q).sum::<f64>();
            StepSummary {
                step: 0,
                mean_m: m.mean(),
                mean_c_offdiag: 0.0,
                mean_c_all: big_a.sum() / (nf * nf),
                mean_d: dot(ja_t) / (nf * nf),
                entropy_production: dot(kja_t.as_slice()),
            }
        })
        .collect()
}

/// One TAP step without forming C or D: the magnetisations of [`m_o2`]
/// and the step summary in closed form. With `u = Jᵀ A`, `V = J² a`,
/// `b = a ∘ m(t−1)`, `K = J − Jᵀ`:
/// `Σ_{i≠k} C_ik = Σ_j a_j u_j² − Σ_i A_i² V_i`,
/// `Σ D = Σ_i A_i [(J a)_i + 2 m_i (J² b)_i]`,
/// `σ = Σ_i A_i [((K∘J) a)_i + 2 m_i ((K∘J²) b)_i]`.
/// Everything before the root solve comes from one fused pass over the
/// packed J, J², K∘J, K∘J²; `u` needs the new m, so it is a second pass
/// over J.
pub(super) fn step_o2(net: &Net, m_prev: &DVector<f64>) -> (DVector<f64>, StepSummary) {
    let nn = m_prev.len();
    let n = nn as f64;
    let a = one_minus_sq(m_prev);
    let b = a.component_mul(m_prev);
    let [jm, v, ja, jsb, kja, kjsb] = net.panels_o2().gemv(
        &[m_prev.as_slice(), a.as_slice(), b.as_slice()],
        &[(0, 0), (1, 1), (0, 1), (1, 2), (2, 1), (3, 2)],
    );
    let m = DVector::from_fn(nn, |i, _| solve_tap(jm[i] + net.h[i], v[i], m_prev[i]));
    let big_a = one_minus_sq(&m);
    let u = par_gemv_t(&net.j, &big_a);
    let offdiag: f64 = (0..nn).map(|j| a[j] * u[j] * u[j]).sum::<f64>()
        - (0..nn).map(|i| big_a[i] * big_a[i] * v[i]).sum::<f64>();
    let sum_d: f64 = (0..nn)
        .map(|i| big_a[i] * (ja[i] + 2.0 * m[i] * jsb[i]))
        .sum();
    let sigma: f64 = (0..nn)
        .map(|i| big_a[i] * (kja[i] + 2.0 * m[i] * kjsb[i]))
        .sum();
    let summary = StepSummary {
        step: 0,
        mean_m: m.mean(),
        mean_c_offdiag: if nn > 1 {
            offdiag / (n * (n - 1.0))
        } else {
            0.0
        },
        mean_c_all: (offdiag + big_a.sum()) / (n * n),
        mean_d: sum_d / (n * n),
        entropy_production: sigma,
    };
    (m, summary)
}
