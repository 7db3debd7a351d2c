//! Standard errors of maximum-likelihood (H, J) and the significance of
//! every coupling (z, two-sided p, Benjamini–Hochberg).
//!
//! **Observed Fisher information.** Neuron i's total negative
//! log-likelihood over the n transitions has Hessian
//!
//! ```text
//! F_i = Σ_t w_i(t) x̃(t) x̃(t)ᵀ + n λ diag(0, 1, …, 1),
//! w_i(t) = 1 − tanh² h_i(t),   x̃ = (1, x_1(t−1), …, x_N(t−1))
//! ```
//!
//! at the estimate; with λ > 0 this is the Hessian of the *penalised*
//! objective (the posterior curvature under the Gaussian prior the penalty
//! stands for), and the standard errors are those of the penalised
//! estimate ([`StandardErrors::penalised`] says so). The covariance of
//! `θ_i = (H_i, J_i1 … J_iN)` is `F_i⁻¹` (asymptotic, n → ∞); the standard
//! errors are the square roots of its diagonal. Neurons are independent
//! problems, so there is no cross-neuron covariance.
//!
//! **Cost.** With `x_j = c (2u_j − 1)`, where u is the indicator of the
//! listed units of the previous bin (the active ones, c = +1, or the
//! silent ones when more than half are active, c = −1),
//! `x_j x_k = 4 u_j u_k − 2u_j − 2u_k + 1`, so F_i needs only
//! `S0 = Σ w`, `Sc = Σ c w`, `U_j = Σ w u_j`, `V_j = Σ c w u_j` and the
//! pair sums `P_jk = Σ w u_j u_k`: one data pass costing
//! `n · N · a²/2` additions (a = number of listed units per bin, at most
//! N/2), done in 64 × 64 tiles of (j, k) held in cache for 16 receiving
//! neurons at a time (vectorised over the 16). Each F_i is then factorised
//! by a blocked Cholesky and `diag(F_i⁻¹)` read off `L⁻¹` (`(N+1)³/3`
//! multiply-adds per neuron, matrix products through `matrixmultiply`).
//! The pass is cheap at the low firing rates of recordings (a ≪ N) and
//! grows as a² with activity.

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use crate::meanfield::kernels::{tanh_fast, tanh_fast_fma};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Standard errors of effective (H, J) (same index order as the estimate:
/// `j[(i, k)]` is the s.e. of the coupling from k at t−1 to i at t).
#[derive(Clone, Debug, PartialEq)]
pub struct StandardErrors {
    /// s.e. of every `H_i`.
    pub h: DVector<f64>,
    /// s.e. of every `J_ik`.
    pub j: DMatrix<f64>,
    /// True when the L2 penalty was included in the Hessian (λ > 0).
    pub penalised: bool,
    /// Transitions the information was summed over.
    pub transitions: usize,
}

/// Receiving neurons per block (vector width of the pair sums).
const NB: usize = 16;
/// Tile side in presynaptic units (one 64-bit word of the raster).
const TILE: usize = 64;

/// The listed-unit bits and sign of every transition's previous bin.
struct Lists {
    words: usize,
    /// `u[k*words ..]`: bits of the listed units of transition k.
    u: Vec<u64>,
    /// c per transition (+1: active units listed, −1: silent units).
    c: Vec<f64>,
}

fn lists(raster: &SpikeRaster) -> Lists {
    let n = raster.n_units();
    let words = n.div_ceil(64);
    let per = raster.n_bins() - 1;
    let total = raster.n_trials() * per;
    let mut u = Vec::with_capacity(total * words);
    let mut c = Vec::with_capacity(total);
    for r in 0..raster.n_trials() {
        for t in 1..raster.n_bins() {
            let prev = raster.row(r, t - 1);
            let active: u32 = prev.iter().map(|w| w.count_ones()).sum();
            let silent = 2 * active as usize > n;
            for (wi, &w) in prev.iter().enumerate() {
                let mut x = if silent { !w } else { w };
                if wi == words - 1 && !n.is_multiple_of(64) {
                    x &= (1u64 << (n % 64)) - 1;
                }
                u.push(x);
            }
            c.push(if silent { -1.0 } else { 1.0 });
        }
    }
    Lists { words, u, c }
}

/// Weights `w_i(t)` of the neurons `i0..i0+b` at every transition and the
/// sums S0, Sc, U, V of the module docs.
struct BlockSums {
    /// `w[k*NB + ii]`.
    w: Vec<f64>,
    s0: [f64; NB],
    sc: [f64; NB],
    /// `u[j*NB + ii]`.
    u: Vec<f64>,
    v: Vec<f64>,
}

#[inline(always)]
fn block_sums_generic<const FMA: bool>(
    l: &Lists,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    i0: usize,
    b: usize,
) -> BlockSums {
    let n = h.len();
    let total = l.c.len();
    // Columns of J restricted to the block, transposed: jt[k*NB + ii].
    let mut jt = vec![0.0; n * NB];
    for k in 0..n {
        for ii in 0..b {
            jt[k * NB + ii] = j[(i0 + ii, k)];
        }
    }
    let mut rowsum = [0.0; NB];
    let mut hb = [0.0; NB];
    for ii in 0..b {
        rowsum[ii] = j.row(i0 + ii).sum();
        hb[ii] = h[i0 + ii];
    }
    let mut out = BlockSums {
        w: vec![0.0; total * NB],
        s0: [0.0; NB],
        sc: [0.0; NB],
        u: vec![0.0; n * NB],
        v: vec![0.0; n * NB],
    };
    for k in 0..total {
        let c = l.c[k];
        let mut f = [0.0; NB];
        for ii in 0..NB {
            f[ii] = hb[ii] - c * rowsum[ii];
        }
        let bits = &l.u[k * l.words..(k + 1) * l.words];
        let mut acc = [0.0; NB];
        for (wi, &word) in bits.iter().enumerate() {
            let mut x = word;
            while x != 0 {
                let jj = wi * 64 + x.trailing_zeros() as usize;
                x &= x - 1;
                let col = &jt[jj * NB..(jj + 1) * NB];
                for ii in 0..NB {
                    acc[ii] += col[ii];
                }
            }
        }
        let w = &mut out.w[k * NB..(k + 1) * NB];
        for ii in 0..NB {
            let hi = f[ii] + 2.0 * c * acc[ii];
            let th = if FMA {
                tanh_fast_fma(hi)
            } else {
                tanh_fast(hi)
            };
            w[ii] = if ii < b { 1.0 - th * th } else { 0.0 };
            out.s0[ii] += w[ii];
            out.sc[ii] += c * w[ii];
        }
        for (wi, &word) in bits.iter().enumerate() {
            let mut x = word;
            while x != 0 {
                let jj = wi * 64 + x.trailing_zeros() as usize;
                x &= x - 1;
                let (uu, vv) = (
                    &mut out.u[jj * NB..(jj + 1) * NB],
                    &mut out.v[jj * NB..(jj + 1) * NB],
                );
                for ii in 0..NB {
                    uu[ii] += w[ii];
                    vv[ii] += c * w[ii];
                }
            }
        }
    }
    out
}

/// Pair sums `P_jk` (k > j) of one 64 × 64 tile of (j, k) for a block:
/// `tile[(jl*TILE + kl)*NB + ii]`.
#[inline(always)]
fn tile_generic(l: &Lists, w: &[f64], jb: usize, kb: usize, tile: &mut [f64]) {
    tile.iter_mut().for_each(|x| *x = 0.0);
    for k in 0..l.c.len() {
        let wj = l.u[k * l.words + jb];
        let wk = l.u[k * l.words + kb];
        if wj == 0 || wk == 0 {
            continue;
        }
        let wt: &[f64; NB] = w[k * NB..(k + 1) * NB].try_into().expect("NB weights");
        let mut x = wj;
        while x != 0 {
            let jl = x.trailing_zeros() as usize;
            x &= x - 1;
            // Same word: only k > j (the diagonal is set directly).
            let mut y = if jb == kb {
                if jl == 63 {
                    0
                } else {
                    wk & (!0u64 << (jl + 1))
                }
            } else {
                wk
            };
            while y != 0 {
                let kl = y.trailing_zeros() as usize;
                y &= y - 1;
                let dst: &mut [f64; NB] = (&mut tile[(jl * TILE + kl) * NB..][..NB])
                    .try_into()
                    .expect("NB sums");
                for ii in 0..NB {
                    dst[ii] += wt[ii];
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn block_sums_avx2(
    l: &Lists,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    i0: usize,
    b: usize,
) -> BlockSums {
    block_sums_generic::<true>(l, h, j, i0, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_avx2(l: &Lists, w: &[f64], jb: usize, kb: usize, tile: &mut [f64]) {
    tile_generic(l, w, jb, kb, tile)
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn block_sums(l: &Lists, h: &DVector<f64>, j: &DMatrix<f64>, i0: usize, b: usize) -> BlockSums {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports the features this build enables.
        return unsafe { block_sums_avx2(l, h, j, i0, b) };
    }
    block_sums_generic::<false>(l, h, j, i0, b)
}

fn tile(l: &Lists, w: &[f64], jb: usize, kb: usize, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports the features this build enables.
        unsafe { tile_avx2(l, w, jb, kb, out) };
        return;
    }
    tile_generic(l, w, jb, kb, out)
}

/// Standard errors of the effective (H, J) fitted by maximum likelihood
/// with penalty `l2` to every transition of `raster` (see the module docs).
/// Errors if a neuron's information matrix is not positive definite (a
/// parameter the data do not determine, e.g. a unit that never fires with
/// λ = 0, or a presynaptic unit that is always silent).
pub fn standard_errors(
    raster: &SpikeRaster,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    l2: f64,
) -> Result<StandardErrors> {
    let n = raster.n_units();
    if raster.n_trials() == 0 || raster.n_bins() < 2 || n == 0 {
        return Err(Error::NotEnoughData(format!(
            "standard errors need at least 2 bins, 1 trial and 1 unit; the raster is {:?}",
            raster.shape()
        )));
    }
    if h.len() != n || j.shape() != (n, n) {
        return Err(Error::shape(
            "fields and couplings",
            format!("{n} and {n} x {n} (the raster's units)"),
            format!("{} and {} x {}", h.len(), j.nrows(), j.ncols()),
        ));
    }
    let l = lists(raster);
    let total = l.c.len();
    let pen = total as f64 * l2;
    let m = n + 1;
    let blocks: Vec<usize> = (0..n).step_by(NB).collect();
    let results: Vec<Result<Vec<Vec<f64>>>> = blocks
        .par_iter()
        .map(|&i0| {
            let b = NB.min(n - i0);
            let s = block_sums(&l, h, j, i0, b);
            // F of every neuron of the block, row-major m × m.
            let mut f: Vec<Vec<f64>> = (0..b).map(|_| vec![0.0; m * m]).collect();
            let mut buf = vec![0.0; TILE * TILE * NB];
            for jb in 0..l.words {
                for kb in jb..l.words {
                    tile(&l, &s.w, jb, kb, &mut buf);
                    let jn = TILE.min(n - jb * 64);
                    let kn = TILE.min(n - kb * 64);
                    // Only the lower triangle is read by the Cholesky
                    // factorisation: write row kk+1, columns jj+1 < kk+1,
                    // along rows (contiguous in every neuron's matrix).
                    for kl in 0..kn {
                        for jl in 0..jn {
                            let (jj, kk) = (jb * 64 + jl, kb * 64 + kl);
                            if kk <= jj {
                                continue;
                            }
                            let p = &buf[(jl * TILE + kl) * NB..][..NB];
                            for (ii, fi) in f.iter_mut().enumerate() {
                                fi[(kk + 1) * m + jj + 1] = 4.0 * p[ii]
                                    - 2.0 * s.u[jj * NB + ii]
                                    - 2.0 * s.u[kk * NB + ii]
                                    + s.s0[ii];
                            }
                        }
                    }
                }
            }
            let mut out = Vec::with_capacity(b);
            for (ii, mut fi) in f.into_iter().enumerate() {
                fi[0] = s.s0[ii];
                for jj in 0..n {
                    fi[(jj + 1) * m] = 2.0 * s.v[jj * NB + ii] - s.sc[ii];
                    fi[(jj + 1) * m + jj + 1] = s.s0[ii] + pen;
                }
                cholesky_in_place(&mut fi, m).map_err(|k| {
                    Error::NotEnoughData(format!(
                        "the information matrix of neuron {} is singular at {} (the data do not determine this parameter; add an L2 penalty or drop units that never or always fire)",
                        i0 + ii,
                        if k == 0 { "its field".to_string() } else { format!("its coupling from unit {}", k - 1) }
                    ))
                })?;
                out.push(inverse_diagonal(&fi, m));
            }
            Ok(out)
        })
        .collect();
    let mut se_h = DVector::zeros(n);
    let mut se_j = DMatrix::zeros(n, n);
    for (&i0, res) in blocks.iter().zip(results) {
        for (ii, var) in res?.into_iter().enumerate() {
            let i = i0 + ii;
            se_h[i] = var[0].sqrt();
            for k in 0..n {
                se_j[(i, k)] = var[k + 1].sqrt();
            }
        }
    }
    Ok(StandardErrors {
        h: se_h,
        j: se_j,
        penalised: l2 > 0.0,
        transitions: total,
    })
}

/// Block size of the Cholesky factorisation and of the triangular inverse.
const CB: usize = 64;

/// `C += alpha · A B` on row-major strided blocks (raw pointers: the
/// blocks of one matrix may be disjoint parts of the same buffer).
///
/// # Safety
/// The pointers must cover the given shapes and strides; C must not
/// overlap A or B.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm(
    mm: usize,
    kk: usize,
    nn: usize,
    alpha: f64,
    a: *const f64,
    lda: usize,
    b: *const f64,
    rsb: isize,
    csb: isize,
    beta: f64,
    c: *mut f64,
    ldc: usize,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        matrixmultiply::dgemm(
            mm,
            kk,
            nn,
            alpha,
            a,
            lda as isize,
            1,
            b,
            rsb,
            csb,
            beta,
            c,
            ldc as isize,
            1,
        );
    }
}

/// Lower Cholesky factor of the row-major m × m matrix `a` in its lower
/// triangle (left-looking, by blocks of [`CB`] columns). Reads only the
/// lower triangle and the diagonal of `a`. `Err(k)`: the
/// leading k+1 minor is not positive definite.
fn cholesky_in_place(a: &mut [f64], m: usize) -> std::result::Result<(), usize> {
    let scale = (0..m).map(|i| a[i * m + i]).fold(0.0, f64::max);
    for k0 in (0..m).step_by(CB) {
        let k1 = (k0 + CB).min(m);
        let kb = k1 - k0;
        if k0 > 0 {
            // A[k0.., k0..k1] −= L[k0.., 0..k0] L[k0..k1, 0..k0]ᵀ
            let p = a.as_mut_ptr();
            // SAFETY: columns 0..k0 (read) and k0..k1 (written) of rows
            // k0..m are disjoint; all indices are inside the m × m buffer.
            unsafe {
                gemm(
                    m - k0,
                    k0,
                    kb,
                    -1.0,
                    p.add(k0 * m),
                    m,
                    p.add(k0 * m),
                    1,
                    m as isize,
                    1.0,
                    p.add(k0 * m + k0),
                    m,
                );
            }
        }
        // Factor the diagonal block (unblocked, kb³/6).
        for jj in k0..k1 {
            let mut d = a[jj * m + jj];
            for q in k0..jj {
                d -= a[jj * m + q] * a[jj * m + q];
            }
            if d.is_nan() || d <= 1e-13 * scale {
                return Err(jj);
            }
            let lj = d.sqrt();
            a[jj * m + jj] = lj;
            for i in jj + 1..k1 {
                let mut x = a[i * m + jj];
                for q in k0..jj {
                    x -= a[i * m + q] * a[jj * m + q];
                }
                a[i * m + jj] = x / lj;
            }
        }
        if k1 == m {
            break;
        }
        // Panel below: L[k1.., K] = A[k1.., K] L_KK⁻ᵀ, as one product with
        // the explicit inverse of the small triangle.
        let mut w = vec![0.0; kb * kb];
        for r in 0..kb {
            w[r * kb + r] = 1.0;
            for p in 0..r {
                let l = a[(k0 + r) * m + k0 + p];
                for c in 0..=p {
                    w[r * kb + c] -= l * w[p * kb + c];
                }
            }
            let d = a[(k0 + r) * m + k0 + r];
            for c in 0..=r {
                w[r * kb + c] /= d;
            }
        }
        let rows = m - k1;
        let mut panel = vec![0.0; rows * kb];
        // SAFETY: reads rows k1..m, columns k0..k1 of `a` and all of `w`
        // (Wᵀ through swapped strides); writes the separate `panel`.
        unsafe {
            gemm(
                rows,
                kb,
                kb,
                1.0,
                a.as_ptr().add(k1 * m + k0),
                m,
                w.as_ptr(),
                1,
                kb as isize,
                0.0,
                panel.as_mut_ptr(),
                kb,
            );
        }
        for r in 0..rows {
            a[(k1 + r) * m + k0..(k1 + r) * m + k1].copy_from_slice(&panel[r * kb..(r + 1) * kb]);
        }
    }
    Ok(())
}

/// `diag(A⁻¹)` from the lower Cholesky factor L of A (row-major, lower
/// triangle of `l`): `Z = L⁻¹` by block rows, then the squared column
/// norms of Z.
fn inverse_diagonal(l: &[f64], m: usize) -> Vec<f64> {
    let mut z = vec![0.0; m * m];
    for i0 in (0..m).step_by(CB) {
        let i1 = (i0 + CB).min(m);
        let ib = i1 - i0;
        // Z[i0..i1, K] = −Σ_{P=K..I−1} L[I, P] Z[P, K] for every block K < I.
        for k0 in (0..i0).step_by(CB) {
            let k1 = (k0 + CB).min(i0);
            // SAFETY: reads L (another buffer) and rows k0..i0 of Z,
            // writes rows i0..i1 of Z; in bounds.
            unsafe {
                let zp = z.as_mut_ptr();
                gemm(
                    ib,
                    i0 - k0,
                    k1 - k0,
                    -1.0,
                    l.as_ptr().add(i0 * m + k0),
                    m,
                    zp.add(k0 * m + k0),
                    m as isize,
                    1,
                    0.0,
                    zp.add(i0 * m + k0),
                    m,
                );
            }
        }
        // Forward substitution with L[I, I]: rows of the block in order.
        for i in i0..i1 {
            z[i * m + i] = 1.0;
            for p in i0..i {
                let lip = l[i * m + p];
                if lip != 0.0 {
                    for c in 0..=p {
                        z[i * m + c] -= lip * z[p * m + c];
                    }
                }
            }
            let d = l[i * m + i];
            for c in 0..=i {
                z[i * m + c] /= d;
            }
        }
    }
    let mut var = vec![0.0; m];
    for i in 0..m {
        for (c, v) in var.iter_mut().enumerate().take(i + 1) {
            let x = z[i * m + c];
            *v += x * x;
        }
    }
    var
}

/// Significance of every coupling: `z = J/se`, two-sided normal p-values
/// and the Benjamini–Hochberg decision at false-discovery rate `q` over
/// all N² entries (self-couplings included; they are parameters of the
/// model like any other).
#[derive(Clone, Debug, PartialEq)]
pub struct Significance {
    /// `J_ik / se_ik`.
    pub z: DMatrix<f64>,
    /// Two-sided p-value `erfc(|z|/√2)`.
    pub p: DMatrix<f64>,
    /// Rejected by BH at `q` (coupling declared non-zero).
    pub significant: DMatrix<bool>,
    /// The FDR level used.
    pub q: f64,
}

/// z, p and BH at level `q` (0 < q < 1) for couplings `j` with standard
/// errors `se` (same shape).
pub fn significance(j: &DMatrix<f64>, se: &DMatrix<f64>, q: f64) -> Result<Significance> {
    if !(q > 0.0 && q < 1.0) {
        return Err(Error::param("fdr", q, "the FDR level must lie in (0, 1)"));
    }
    if j.shape() != se.shape() {
        return Err(Error::shape(
            "standard errors",
            format!("{} x {}", j.nrows(), j.ncols()),
            format!("{} x {}", se.nrows(), se.ncols()),
        ));
    }
    let z = j.zip_map(se, |a, s| a / s);
    let p = z.map(|x| libm::erfc(x.abs() / std::f64::consts::SQRT_2));
    let significant = benjamini_hochberg(p.as_slice(), q);
    Ok(Significance {
        significant: DMatrix::from_vec(j.nrows(), j.ncols(), significant),
        z,
        p,
        q,
    })
}

/// Benjamini–Hochberg step-up: reject the k smallest p-values, k the
/// largest rank with `p_(k) ≤ k q / m`. NaN p-values are never rejected
/// (and count in m).
pub fn benjamini_hochberg(p: &[f64], q: f64) -> Vec<bool> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut k = 0;
    for (rank, &idx) in order.iter().enumerate() {
        if p[idx] <= (rank + 1) as f64 * q / m as f64 {
            k = rank + 1;
        }
    }
    let mut out = vec![false; m];
    for &idx in &order[..k] {
        out[idx] = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_cholesky_inverse_matches_nalgebra() {
        // m = 150 spans three Cholesky blocks; compare with nalgebra's
        // inverse to rounding (condition number ~ 1e2, so 1e-10 relative).
        let m = 150;
        let b = DMatrix::from_fn(m, m + 20, |i, k| {
            (((i * 7 + k * 13) % 17) as f64 - 8.0) / 9.0
        });
        let a = &b * b.transpose() + DMatrix::identity(m, m);
        // Upper triangle NaN: the factorisation must read only the lower.
        let mut buf: Vec<f64> = (0..m * m)
            .map(|x| {
                if x % m > x / m {
                    f64::NAN
                } else {
                    a[(x / m, x % m)]
                }
            })
            .collect();
        cholesky_in_place(&mut buf, m).expect("positive definite");
        let d = inverse_diagonal(&buf, m);
        let inv = a.try_inverse().expect("invertible");
        for i in 0..m {
            assert!(
                (d[i] - inv[(i, i)]).abs() < 1e-10 * inv[(i, i)].abs(),
                "{i}: {} vs {}",
                d[i],
                inv[(i, i)]
            );
        }
    }

    #[test]
    fn bh_rejects_the_step_up_set() {
        // m = 5, q = 0.1: thresholds 0.02, 0.04, 0.06, 0.08, 0.10; the
        // sorted p are 0.01, 0.03, 0.05, 0.09, 0.5: the largest k with
        // p_(k) ≤ k q/m is k = 3 (0.05 ≤ 0.06; 0.09 > 0.08, 0.5 > 0.1).
        let p = [0.5, 0.03, 0.05, 0.01, 0.09];
        assert_eq!(
            benjamini_hochberg(&p, 0.1),
            vec![false, true, true, true, false]
        );
    }
}
