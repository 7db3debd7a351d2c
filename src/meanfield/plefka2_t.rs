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
//! four O(N³) products and 4N² scalar root solves (bracketed Newton run
//! in lockstep over each column, see [`super::solve`]).

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::Net;
use super::kernels::{par_gemm, par_gemm_nt, par_gemm_nt_sym, tanh_fast, tanh_fast_fma};
use super::plefka_t::variance_diag;
use super::solve::{BatchScratch, solve_theta_tanh_batch};

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
            let jcol = &net.j.as_slice()[l * n..(l + 1) * n];
            column_o1(jcol, g.as_slice(), m_prev[l], dcol, mucol);
        });
    let m = row_means(&mu);
    (m, d)
}

/// One column l of order 1: `μ_il`, `D_il` for every i (AVX2 build chosen
/// at run time).
fn column_o1(jcol: &[f64], g: &[f64], ml: f64, dcol: &mut [f64], mucol: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features this build enables.
            unsafe { column_o1_avx2(jcol, g, ml, dcol, mucol) };
            return;
        }
    }
    column_o1_generic::<false>(jcol, g, ml, dcol, mucol);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn column_o1_avx2(jcol: &[f64], g: &[f64], ml: f64, dcol: &mut [f64], mucol: &mut [f64]) {
    column_o1_generic::<true>(jcol, g, ml, dcol, mucol);
}

#[inline(always)]
fn column_o1_generic<const FMA: bool>(
    jcol: &[f64],
    g: &[f64],
    ml: f64,
    dcol: &mut [f64],
    mucol: &mut [f64],
) {
    let (pp, pm) = (0.5 * (1.0 + ml), 0.5 * (1.0 - ml));
    for (((&jil, &gi), d), mu) in jcol
        .iter()
        .zip(g)
        .zip(dcol.iter_mut())
        .zip(mucol.iter_mut())
    {
        let th = |x: f64| if FMA { tanh_fast_fma(x) } else { tanh_fast(x) };
        let tp = th(gi + jil * (1.0 - ml));
        let tm = th(gi + jil * (-1.0 - ml));
        let mu_il = pp * tp + pm * tm;
        *mu = mu_il;
        *d = pp * tp - pm * tm - mu_il * ml;
    }
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
        .for_each_init(
            || ColumnScratch::new(n),
            |sc, (l, (dcol, mucol))| {
                let ml = m_prev[l];
                let (pp, pm) = (0.5 * (1.0 + ml), 0.5 * (1.0 - ml));
                let cll = c_prev[(l, l)];
                let jdl = jd_self[l];
                let (jcol, jccol, jdjcol) = (
                    &net.j.as_slice()[l * n..(l + 1) * n],
                    &jc.as_slice()[l * n..(l + 1) * n],
                    &jdj.as_slice()[l * n..(l + 1) * n],
                );
                // Both conditions s = ±1 in one batch: entries [0, n) for
                // s = +1, [n, 2n) for s = −1. Slices and zips (no index
                // arithmetic or bounds checks), so the loop vectorises.
                let (hp, hm) = sc.h.split_at_mut(n);
                let (vp, vm) = sc.v.split_at_mut(n);
                let rows = jcol
                    .iter()
                    .zip(jccol)
                    .zip(jdjcol)
                    .zip(g.iter())
                    .zip(v.iter());
                let outs = hp
                    .iter_mut()
                    .zip(hm.iter_mut())
                    .zip(vp.iter_mut().zip(vm.iter_mut()));
                for (((((&jil, &jc_il), &jdj_il), &gi), &vi), ((hp, hm), (vp, vm))) in
                    rows.zip(outs)
                {
                    let v_il = vi - 2.0 * jil * jc_il + jil * jil * cll;
                    let delta = jil + jdj_il - jil * jdl;
                    *hp = gi + delta * (1.0 - ml);
                    *hm = gi + delta * (-1.0 - ml);
                    *vp = v_il;
                    *vm = v_il;
                }
                solve_theta_tanh_batch(&sc.h, &sc.v, &mut sc.t, &mut sc.ws);
                let (tps, tms) = sc.t.split_at(n);
                for (((mu, d), &tp), &tm) in mucol.iter_mut().zip(dcol.iter_mut()).zip(tps).zip(tms)
                {
                    let mu_il = pp * tp + pm * tm;
                    *mu = mu_il;
                    *d = pp * tp - pm * tm - mu_il * ml;
                }
            },
        );
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
    let cov = par_gemm_nt_sym(jc, &net.j);
    let v = DVector::from_fn(n, |i, _| cov[(i, i)]);
    let mut c = DMatrix::<f64>::zeros(n, n);
    c.as_mut_slice()
        .par_chunks_mut(n.max(1))
        .enumerate()
        .for_each_init(
            || ColumnScratch::new(n),
            |sc, (k, col)| {
                let mk = m_prev[k];
                let (pp, pm) = (0.5 * (1.0 + mk), 0.5 * (1.0 - mk));
                let covcol = &cov.as_slice()[k * n..(k + 1) * n];
                let (hp, hm) = sc.h.split_at_mut(n);
                let (vp, vm) = sc.v.split_at_mut(n);
                let rows = covcol.iter().zip(g.iter()).zip(v.iter());
                let outs = hp
                    .iter_mut()
                    .zip(hm.iter_mut())
                    .zip(vp.iter_mut().zip(vm.iter_mut()));
                for (((&dk, &gi), &vi), ((hp, hm), (vp, vm))) in rows.zip(outs) {
                    *hp = gi + dk * (1.0 - mk);
                    *hm = gi + dk * (-1.0 - mk);
                    *vp = vi;
                    *vm = vi;
                }
                solve_theta_tanh_batch(&sc.h, &sc.v, &mut sc.t, &mut sc.ws);
                let (tp, tm) = sc.t.split_at(n);
                for ((c, &a), &b) in col.iter_mut().zip(tp).zip(tm) {
                    *c = pp * (1.0 - mk) * a + pm * (-1.0 - mk) * b;
                }
            },
        );
    symmetrize(&mut c);
    for (i, &mi) in m.iter().enumerate() {
        c[(i, i)] = 1.0 - mi * mi;
    }
    c
}

/// `C ← (C + Cᵀ)/2` in place, in pairs of 8 × 8 tiles read whole before
/// they are written (a strided element-by-element loop over a 512-row
/// matrix stalls on cache-set conflicts and 4 KB aliasing).
fn symmetrize(c: &mut DMatrix<f64>) {
    const W: usize = 8;
    let n = c.nrows();
    let cs = c.as_mut_slice();
    for k0 in (0..n).step_by(W) {
        let wk = W.min(n - k0);
        for i0 in (k0..n).step_by(W) {
            let wi = W.min(n - i0);
            // a[kk][ii] = C[i0 + ii, k0 + kk] (column k), b[ii][kk] =
            // C[k0 + kk, i0 + ii] (column i).
            let mut a = [[0.0; W]; W];
            let mut b = [[0.0; W]; W];
            for (kk, row) in a.iter_mut().take(wk).enumerate() {
                let off = (k0 + kk) * n + i0;
                row[..wi].copy_from_slice(&cs[off..off + wi]);
            }
            for (ii, row) in b.iter_mut().take(wi).enumerate() {
                let off = (i0 + ii) * n + k0;
                row[..wk].copy_from_slice(&cs[off..off + wk]);
            }
            for kk in 0..wk {
                for ii in 0..wi {
                    let s = 0.5 * (a[kk][ii] + b[ii][kk]);
                    a[kk][ii] = s;
                    b[ii][kk] = s;
                }
            }
            for (kk, row) in a.iter().take(wk).enumerate() {
                let off = (k0 + kk) * n + i0;
                cs[off..off + wi].copy_from_slice(&row[..wi]);
            }
            for (ii, row) in b.iter().take(wi).enumerate() {
                let off = (i0 + ii) * n + k0;
                cs[off..off + wk].copy_from_slice(&row[..wk]);
            }
        }
    }
}

/// Per-task buffers: fields and variances of the 2N root problems of one
/// column (s = +1 then s = −1), their solutions `tanh θ`, solver scratch.
struct ColumnScratch {
    h: Vec<f64>,
    v: Vec<f64>,
    t: Vec<f64>,
    ws: BatchScratch,
}

impl ColumnScratch {
    fn new(n: usize) -> Self {
        Self {
            h: vec![0.0; 2 * n],
            v: vec![0.0; 2 * n],
            t: vec![0.0; 2 * n],
            ws: BatchScratch::default(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetrize_matches_the_elementwise_formula() {
        // 13: tiles of 8 with a partial tail; (a + b)/2 is the same
        // floating-point operation in either order, so equality is exact.
        let c = DMatrix::from_fn(13, 13, |i, k| ((i * 7 + k * 3) as f64).sin());
        let mut s = c.clone();
        symmetrize(&mut s);
        let want = DMatrix::from_fn(13, 13, |i, k| 0.5 * (c[(i, k)] + c[(k, i)]));
        assert_eq!(s, want);
    }
}
