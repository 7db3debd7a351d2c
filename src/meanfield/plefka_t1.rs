//! Plefka[t−1], order 1: the reference model keeps the couplings at t and
//! expands those from t−1, so the field on each spin is Gaussian (spec §2.5;
//! cf. the Mézard–Sakellariou mean field for asymmetric couplings).
//!
//! With `g_i = H_i + Σ_j J_ij m_j(t−1)`, `a_j = 1 − m_j(t−1)²`,
//! `Δ_i = Σ_j J_ij² a_j` (effective H, J) and `∫Dx` a Gaussian expectation:
//!
//! ```text
//! m_i  = ∫Dx tanh(g_i + x √Δ_i)
//! α_i  = ∫Dx (1 − tanh²(g_i + x √Δ_i))
//! D_il = α_i (J C(t−1))_il
//! ρ_ik = (J diag(a) Jᵀ)_ik / √(Δ_i Δ_k)            (1/√Δ := 0 where Δ = 0)
//! C_ik = ∫Dp Dn tanh(g_i + (p√(1+ρ) + n√(1−ρ)) √(Δ_i/2))
//!              · tanh(g_k + (p√(1+ρ) − n√(1−ρ)) √(Δ_k/2)) − m_i m_k   (i < k, mirrored)
//! C_ii = 1 − m_i²
//! ```
//!
//! (p, n independent standard normals: the two arguments are unit Gaussians
//! with correlation ρ.) For ρ > 1 − 1e-5 the n term is dropped and the
//! integral is 1-D over p, as in the reference; ρ < −1 (rounding) is
//! clamped to −1.
//!
//! Cost: two O(N³) products (`J C(t−1)`, `J diag(a) Jᵀ`) and N(N−1)/2
//! two-dimensional integrals of Q² points each (Q nodes of the 1-D rule).
//! The integrals dominate; pairs run in parallel over columns and the inner
//! loop over the n-nodes uses the branch-free `tanh_product_fast` (one division per node pair), which the
//! compiler vectorises (an AVX2/FMA build of the kernel is chosen at run time
//! where the CPU has it).

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::Net;
use super::kernels::{par_gemm_nt_sym, tanh_product_fast};
use super::plefka_t1_t::one_minus_sq;
use super::quadrature::Rule;

/// Correlations above this use the 1-D fallback (reference value).
const RHO_ONE_D: f64 = 1.0 - 1e-5;

/// `m_i` and `α_i` by the 1-D rule.
pub(super) fn m_alpha(
    net: &Net,
    m_prev: &DVector<f64>,
    rule: &Rule,
) -> (DVector<f64>, DVector<f64>, DVector<f64>, DVector<f64>) {
    let g = net.field(m_prev);
    let delta = super::kernels::par_gemv(net.j_sq(), &one_minus_sq(m_prev));
    let n = g.len();
    let mut m = DVector::zeros(n);
    let mut alpha = DVector::zeros(n);
    for i in 0..n {
        let sd = delta[i].max(0.0).sqrt();
        let (mut mi, mut ai) = (0.0, 0.0);
        for (&x, &w) in rule.nodes.iter().zip(&rule.weights) {
            let t = (g[i] + x * sd).tanh();
            mi += w * t;
            ai += w * (1.0 - t * t);
        }
        m[i] = mi;
        alpha[i] = ai;
    }
    (m, alpha, g, delta)
}

/// `D = diag(α) J C(t−1)`.
pub(super) fn d(net: &Net, alpha: &DVector<f64>, c_prev: &DMatrix<f64>) -> DMatrix<f64> {
    let mut jc = super::plefka_t::j_times_c(net, c_prev);
    for mut col in jc.column_iter_mut() {
        col.component_mul_assign(alpha);
    }
    jc
}

/// Equal-time covariances by the pairwise 2-D integrals.
pub(super) fn c(
    net: &Net,
    m: &DVector<f64>,
    m_prev: &DVector<f64>,
    g: &DVector<f64>,
    delta: &DVector<f64>,
    rule: &Rule,
) -> DMatrix<f64> {
    let n = m.len();
    let a = one_minus_sq(m_prev);
    let mut ja = net.j.clone();
    for (l, mut col) in ja.column_iter_mut().enumerate() {
        col *= a[l];
    }
    let cov = if n > 1 {
        par_gemm_nt_sym(&ja, &net.j)
    } else {
        DMatrix::zeros(n, n)
    };
    let inv_sd: Vec<f64> = delta
        .iter()
        .map(|&d| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 })
        .collect();
    // Per-spin scale √(Δ_i/2).
    let half_sd: Vec<f64> = delta.iter().map(|&d| (d.max(0.0) / 2.0).sqrt()).collect();
    let q = rule.len();
    let kernel = PairKernel {
        nodes: &rule.nodes,
        weights: &rule.weights,
    };
    let mut c = DMatrix::<f64>::zeros(n, n);
    // Column k holds the pairs i < k; columns are independent tasks.
    c.as_mut_slice()
        .par_chunks_mut(n.max(1))
        .enumerate()
        .for_each_init(
            || Scratch::new(q),
            |scratch, (k, col)| {
                for i in 0..k {
                    let rho = (cov[(i, k)] * inv_sd[i] * inv_sd[k]).max(-1.0);
                    let e = if rho > RHO_ONE_D {
                        kernel.one_d(g[i], g[k], half_sd[i], half_sd[k], rho)
                    } else {
                        kernel.two_d(scratch, g[i], g[k], half_sd[i], half_sd[k], rho)
                    };
                    col[i] = e - m[i] * m[k];
                }
                col[k] = 1.0 - m[k] * m[k];
            },
        );
    // Mirror the upper triangle.
    for k in 0..n {
        for i in 0..k {
            c[(k, i)] = c[(i, k)];
        }
    }
    c
}

/// Per-task buffers for the n-node offsets.
struct Scratch {
    ni: Vec<f64>,
    nk: Vec<f64>,
    acc: Vec<f64>,
}

impl Scratch {
    fn new(q: usize) -> Self {
        Self {
            ni: vec![0.0; q],
            nk: vec![0.0; q],
            acc: vec![0.0; q],
        }
    }
}

/// The 1-D rule used for both axes of the pair integrals.
struct PairKernel<'a> {
    nodes: &'a [f64],
    weights: &'a [f64],
}

impl PairKernel<'_> {
    /// `Σ_p Σ_n w_p w_n tanh(g_i + s_i(c₊x_p + c₋x_n)) tanh(g_k + s_k(c₊x_p − c₋x_n))`
    /// with `s = √(Δ/2)`, `c± = √(1 ± ρ)`.
    fn two_d(&self, s: &mut Scratch, gi: f64, gk: f64, si: f64, sk: f64, rho: f64) -> f64 {
        let cp = (1.0 + rho).sqrt();
        let cm = (1.0 - rho).sqrt();
        for ((ni, nk), &x) in s.ni.iter_mut().zip(s.nk.iter_mut()).zip(self.nodes) {
            *ni = si * cm * x;
            *nk = sk * cm * x;
        }
        s.acc.iter_mut().for_each(|a| *a = 0.0);
        pair_sum(
            self.nodes,
            self.weights,
            &s.ni,
            &s.nk,
            &mut s.acc,
            gi,
            gk,
            si * cp,
            sk * cp,
        );
        s.acc.iter().zip(self.weights).map(|(a, w)| a * w).sum()
    }

    /// The 1-D fallback: `Σ_p w_p tanh(g_i + s_i c₊ x_p) tanh(g_k + s_k c₊ x_p)`.
    fn one_d(&self, gi: f64, gk: f64, si: f64, sk: f64, rho: f64) -> f64 {
        let cp = (1.0 + rho).sqrt();
        self.nodes
            .iter()
            .zip(self.weights)
            .map(|(&x, &w)| w * (gi + si * cp * x).tanh() * (gk + sk * cp * x).tanh())
            .sum()
    }
}

/// The hot loop: `acc[n] += w_p tanh(g_i + pi·x_p + ni[n]) tanh(g_k + pk·x_p − nk[n])`
/// for every p-node. Dispatches to an AVX2+FMA build when available.
#[allow(clippy::too_many_arguments)]
fn pair_sum(
    nodes: &[f64],
    weights: &[f64],
    ni: &[f64],
    nk: &[f64],
    acc: &mut [f64],
    gi: f64,
    gk: f64,
    pi: f64,
    pk: f64,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features this build enables.
            unsafe { pair_sum_avx2(nodes, weights, ni, nk, acc, gi, gk, pi, pk) };
            return;
        }
    }
    pair_sum_generic::<false>(nodes, weights, ni, nk, acc, gi, gk, pi, pk);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn pair_sum_avx2(
    nodes: &[f64],
    weights: &[f64],
    ni: &[f64],
    nk: &[f64],
    acc: &mut [f64],
    gi: f64,
    gk: f64,
    pi: f64,
    pk: f64,
) {
    pair_sum_generic::<true>(nodes, weights, ni, nk, acc, gi, gk, pi, pk);
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pair_sum_generic<const FMA: bool>(
    nodes: &[f64],
    weights: &[f64],
    ni: &[f64],
    nk: &[f64],
    acc: &mut [f64],
    gi: f64,
    gk: f64,
    pi: f64,
    pk: f64,
) {
    for (&xp, &wp) in nodes.iter().zip(weights) {
        let bi = gi + pi * xp;
        let bk = gk + pk * xp;
        for ((a, &u), &v) in acc.iter_mut().zip(ni).zip(nk) {
            *a += wp * tanh_product_fast::<FMA>(bi + u, bk - v);
        }
    }
}
