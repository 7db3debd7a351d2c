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
//! `S0 = Σ w`, `Sc = Σ c w`, `V_j = Σ c w u_j` and the pair sums
//! `P_jk = Σ w u_j u_k` (`P_jj = U_j = Σ w u_j`): `n · N · a²/2`
//! additions (a = number of listed units per bin, at most N/2). They are
//! summed for [`NB`] receiving neurons at a time (one vector per listed
//! pair) unit by unit: for unit j, every transition listing it adds its
//! weights to j's sums with itself and the later listed units, kept in
//! one small table that stays in the L1/L2 cache, then added to row j of
//! the matrices. Each F_i is then factorised by a blocked Cholesky and
//! `diag(F_i⁻¹)` read off `L⁻¹` (`(N+1)³/3` multiply-adds per neuron,
//! matrix products through `matrixmultiply`). The pass is cheap at the
//! low firing rates of recordings (a ≪ N) and grows as a² with activity;
//! at N = 512 and 6 % activity it is bound by this scattered
//! read-add-write of one 64-byte vector per listed pair and lane group
//! (`benches/fit_checks.rs` measures that rate beside it).

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

use super::ml::{list_units, listing};
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

/// Receiving neurons per block: one 512-bit vector of f64 (two 256-bit).
const NB: usize = 32;
/// At most this many listed (transition, unit) entries per chunk of
/// transitions (12 bytes each: about 400 MB).
const CHUNK_ENTRIES: usize = 1 << 25;
/// Information matrices of at most this many bytes are accumulated at
/// once (a group of blocks); at least one block.
const GROUP_BYTES: usize = 1 << 28;
/// Entries ahead whose weights are prefetched.
const PREFETCH: usize = 6;

/// A hint to bring `p`'s cache line close (any address: a prefetch never
/// faults).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching does not access memory architecturally; any
    // address is allowed.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Transitions whose weights are held at once (16,384 × 32 lanes × 8
/// bytes = 4 MB): the unit-by-unit pass reads them in a scattered order,
/// and smaller sets cost more in adding each unit's table to the matrices
/// than they save in cache misses (at N = 512: 2^12 slower by 15 %,
/// 2^13 and 2^16 within noise of this).
const SUB: usize = 1 << 14;

/// The listed units (see the module docs) of a range of transitions, by
/// transition and by unit.
struct Chunk {
    /// c per transition (+1: active units listed, −1: silent units).
    c: Vec<f64>,
    /// `idx[start[t]..start[t + 1]]`: listed units of transition t,
    /// ascending.
    start: Vec<u32>,
    idx: Vec<u32>,
    /// Entries `ustart[j]..ustart[j + 1]` of `ut`/`uoff`/`uend` are the
    /// transitions listing unit j, ascending, the position of j in `idx`
    /// for each, and the end of that transition's list (so j and the
    /// units after it are `idx[uoff..uend]`).
    ustart: Vec<u32>,
    ut: Vec<u32>,
    uoff: Vec<u32>,
    uend: Vec<u32>,
}

/// Transition k (over trials, then bins 1..) has previous bin
/// `row(k / per, k % per)`.
fn previous_row(raster: &SpikeRaster, k: usize) -> &[u64] {
    let per = raster.n_bins() - 1;
    raster.row(k / per, k % per)
}

/// Memory bounds of the pass (the defaults are [`CHUNK_ENTRIES`] and
/// [`GROUP_BYTES`]; tests shrink them to exercise the chunked paths).
#[derive(Clone, Copy, Debug)]
struct Limits {
    chunk_entries: usize,
    group_bytes: usize,
}

const LIMITS: Limits = Limits {
    chunk_entries: CHUNK_ENTRIES,
    group_bytes: GROUP_BYTES,
};

/// Ranges of transitions listing at most `chunk_entries` units each.
fn plan_chunks(raster: &SpikeRaster, total: usize, chunk_entries: usize) -> Vec<(usize, usize)> {
    let n = raster.n_units();
    let mut out = Vec::new();
    let (mut k0, mut entries) = (0, 0);
    for k in 0..total {
        let a = listing(previous_row(raster, k), n).1;
        if entries + a > chunk_entries && k > k0 {
            out.push((k0, k));
            (k0, entries) = (k, 0);
        }
        entries += a;
    }
    out.push((k0, total));
    out
}

fn build_chunk(raster: &SpikeRaster, k0: usize, k1: usize) -> Chunk {
    let n = raster.n_units();
    let len = k1 - k0;
    let mut c = Vec::with_capacity(len);
    let mut start = Vec::with_capacity(len + 1);
    let mut idx = Vec::new();
    let mut count = vec![0u32; n + 1];
    let mut listed = Vec::new();
    start.push(0);
    for k in k0..k1 {
        let row = previous_row(raster, k);
        let silent = listing(row, n).0;
        list_units(row, n, silent, &mut listed);
        for &j in &listed {
            idx.push(j as u32);
            count[j + 1] += 1;
        }
        start.push(idx.len() as u32);
        c.push(if silent { -1.0 } else { 1.0 });
    }
    for j in 0..n {
        count[j + 1] += count[j];
    }
    let ustart = count.clone();
    let mut fill = count;
    let mut ut = vec![0u32; idx.len()];
    let mut uoff = vec![0u32; idx.len()];
    let mut uend = vec![0u32; idx.len()];
    for t in 0..len {
        for off in start[t]..start[t + 1] {
            let j = idx[off as usize] as usize;
            let q = fill[j] as usize;
            fill[j] += 1;
            ut[q] = t as u32;
            uoff[q] = off;
            uend[q] = start[t + 1];
        }
    }
    Chunk {
        c,
        start,
        idx,
        ustart,
        ut,
        uoff,
        uend,
    }
}

/// One value per lane of a block, aligned to a cache line (a 64-byte
/// vector that straddles two lines costs a split load or store).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Lanes([f64; NB]);

impl Lanes {
    const ZERO: Lanes = Lanes([0.0; NB]);
}

impl std::ops::Index<usize> for Lanes {
    type Output = f64;
    #[inline(always)]
    fn index(&self, ii: usize) -> &f64 {
        &self.0[ii]
    }
}

impl std::ops::IndexMut<usize> for Lanes {
    #[inline(always)]
    fn index_mut(&mut self, ii: usize) -> &mut f64 {
        &mut self.0[ii]
    }
}

/// The running sums of one block of NB receiving neurons `i0..i0 + b`.
struct Block {
    i0: usize,
    b: usize,
    /// `jt[k]`: `J_{i0+ii, k}` for the block's lanes (0 beyond b).
    jt: Vec<Lanes>,
    /// `H_i − c Σ_k J_ik` for c = +1 and −1.
    base: [[f64; NB]; 2],
    s0: [f64; NB],
    sc: [f64; NB],
    /// `v[j] = Σ c w u_j`.
    v: Vec<Lanes>,
    /// Row-major m × m information matrix of each lane, pair sums
    /// `P_jk` (k ≥ j; `P_jj = U_j`) in the upper triangle at
    /// `(j + 1, k + 1)` until [`finish`].
    f: Vec<Vec<f64>>,
}

impl Block {
    /// The block's matrices are taken from `pool` (any contents: they
    /// are zeroed before the pass) or allocated.
    fn new(
        h: &DVector<f64>,
        j: &DMatrix<f64>,
        i0: usize,
        m: usize,
        pool: &mut Vec<Vec<f64>>,
    ) -> Self {
        let n = h.len();
        let b = NB.min(n - i0);
        let jt = (0..n)
            .map(|k| {
                Lanes(std::array::from_fn(|ii| {
                    if ii < b { j[(i0 + ii, k)] } else { 0.0 }
                }))
            })
            .collect();
        let mut base = [[0.0; NB]; 2];
        for ii in 0..b {
            let rowsum = j.row(i0 + ii).sum();
            base[0][ii] = h[i0 + ii] - rowsum;
            base[1][ii] = h[i0 + ii] + rowsum;
        }
        Block {
            i0,
            b,
            jt,
            base,
            s0: [0.0; NB],
            sc: [0.0; NB],
            v: vec![Lanes::ZERO; n],
            f: (0..b)
                .map(|_| pool.pop().unwrap_or_else(|| vec![0.0; m * m]))
                .collect(),
        }
    }
}

/// Add one chunk's transitions to a block: the weights
/// `w = 1 − tanh² h` of its lanes at every transition, then for every
/// unit j and every transition listing it, `w` into the pair sums of j
/// with itself and every later listed unit (accumulated in `acc`, one
/// vector per unit, small enough for the L1 cache, then added to row j of
/// each lane's matrix).
#[inline(always)]
fn add_chunk_generic<const FMA: bool>(ch: &Chunk, blk: &mut Block, m: usize) {
    let n = blk.v.len();
    let len = ch.c.len();
    let mut w = vec![Lanes::ZERO; SUB.min(len)];
    let mask = n.next_power_of_two() - 1;
    let mut acc = vec![Lanes::ZERO; mask + 1];
    let acc = &mut acc[..=mask];
    // Next entry of every unit's transition list.
    let mut cursor: Vec<usize> = ch.ustart[..n].iter().map(|&x| x as usize).collect();
    for t0 in (0..len).step_by(SUB) {
        let t1 = (t0 + SUB).min(len);
        for (t, wt) in (t0..t1).zip(w.iter_mut()) {
            let c = ch.c[t];
            let mut a = [0.0; NB];
            for &k in &ch.idx[ch.start[t] as usize..ch.start[t + 1] as usize] {
                let col = &blk.jt[k as usize];
                for ii in 0..NB {
                    a[ii] += col[ii];
                }
            }
            let base = &blk.base[usize::from(c < 0.0)];
            let mut cw = [0.0; NB];
            for ii in 0..NB {
                let hi = base[ii] + 2.0 * c * a[ii];
                let th = if FMA {
                    tanh_fast_fma(hi)
                } else {
                    tanh_fast(hi)
                };
                wt[ii] = if ii < blk.b { 1.0 - th * th } else { 0.0 };
                cw[ii] = c * wt[ii];
                blk.s0[ii] += wt[ii];
                blk.sc[ii] += cw[ii];
            }
            for &k in &ch.idx[ch.start[t] as usize..ch.start[t + 1] as usize] {
                let v = &mut blk.v[k as usize];
                for ii in 0..NB {
                    v[ii] += cw[ii];
                }
            }
        }
        for jj in 0..n {
            let e = ch.ustart[jj + 1] as usize;
            let mut q = cursor[jj];
            if q == e || ch.ut[q] as usize >= t1 {
                continue;
            }
            acc[jj..].iter_mut().for_each(|a| *a = Lanes::ZERO);
            while q < e && (ch.ut[q] as usize) < t1 {
                // The weights are read in a scattered order: ask for a
                // later entry's now.
                if let Some(&tp) = ch.ut.get(q + PREFETCH) {
                    prefetch(w.as_ptr().wrapping_add((tp as usize).wrapping_sub(t0)));
                }
                let t = ch.ut[q] as usize;
                let wt = w[t - t0];
                for &k in &ch.idx[ch.uoff[q] as usize..ch.uend[q] as usize] {
                    // k < n ≤ mask + 1: the mask changes nothing but lets
                    // the compiler drop the bounds check.
                    let a = &mut acc[k as usize & mask];
                    for ii in 0..NB {
                        a[ii] += wt[ii];
                    }
                }
                q += 1;
            }
            cursor[jj] = q;
            for (ii, fi) in blk.f.iter_mut().enumerate() {
                let row = &mut fi[(jj + 1) * m + jj + 1..(jj + 1) * m + n + 1];
                for (x, a) in row.iter_mut().zip(&acc[jj..]) {
                    *x += a[ii];
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn add_chunk_avx512(ch: &Chunk, blk: &mut Block, m: usize) {
    add_chunk_generic::<true>(ch, blk, m)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_chunk_avx2(ch: &Chunk, blk: &mut Block, m: usize) {
    add_chunk_generic::<true>(ch, blk, m)
}

fn add_chunk(ch: &Chunk, blk: &mut Block, m: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features this build enables.
            return unsafe { add_chunk_avx512(ch, blk, m) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { add_chunk_avx2(ch, blk, m) };
        }
    }
    add_chunk_generic::<false>(ch, blk, m)
}

/// Turn lane `ii`'s pair sums into its information matrix (lower
/// triangle, row-major; see the module docs), then factorise it and
/// return `diag(F⁻¹)`; `Err(k)` names the parameter whose minor is
/// singular.
fn finish(blk: &Block, ii: usize, f: &mut [f64], pen: f64) -> std::result::Result<Vec<f64>, usize> {
    let n = blk.v.len();
    let m = n + 1;
    let (s0, sc) = (blk.s0[ii], blk.sc[ii]);
    let u: Vec<f64> = (0..n).map(|j| f[(j + 1) * m + j + 1]).collect();
    // Upper triangle (pair sums) to lower (information), by 32 × 32 tiles
    // so the strided writes stay in cache.
    const T: usize = 32;
    for j0 in (0..n).step_by(T) {
        for k0 in (j0..n).step_by(T) {
            for j in j0..(j0 + T).min(n) {
                for k in (j + 1).max(k0)..(k0 + T).min(n) {
                    f[(k + 1) * m + j + 1] =
                        4.0 * f[(j + 1) * m + k + 1] - 2.0 * u[j] - 2.0 * u[k] + s0;
                }
            }
        }
    }
    f[0] = s0;
    for j in 0..n {
        f[(j + 1) * m] = 2.0 * blk.v[j][ii] - sc;
        f[(j + 1) * m + j + 1] = s0 + pen;
    }
    cholesky_in_place(f, m)?;
    Ok(inverse_diagonal(f, m))
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
    standard_errors_within(raster, h, j, l2, LIMITS)
}

fn standard_errors_within(
    raster: &SpikeRaster,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    l2: f64,
    limits: Limits,
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
    let total = raster.n_trials() * (raster.n_bins() - 1);
    let pen = total as f64 * l2;
    let m = n + 1;
    let plan = plan_chunks(raster, total, limits.chunk_entries);
    // Built once when the whole raster is one chunk; else per group.
    let single = (plan.len() == 1).then(|| build_chunk(raster, plan[0].0, plan[0].1));
    // Blocks per group: within the memory bound, even (two cores), and
    // the groups equal.
    let n_blocks = n.div_ceil(NB);
    let mut most = (limits.group_bytes / (m * m * 8 * NB)).max(1);
    if most > 1 {
        most -= most % 2;
    }
    let groups = n_blocks.div_ceil(most);
    let mut per = n_blocks.div_ceil(groups);
    if per % 2 == 1 && per < most {
        per += 1;
    }
    let per_group = per * NB;
    let mut se_h = DVector::zeros(n);
    let mut se_j = DMatrix::zeros(n, n);
    // Matrices of the previous group, reused (no new pages to fault in).
    let mut pool = Vec::new();
    for g0 in (0..n).step_by(per_group) {
        let mut blocks: Vec<Block> = (g0..(g0 + per_group).min(n))
            .step_by(NB)
            .map(|i0| Block::new(h, j, i0, m, &mut pool))
            .collect();
        // Zeroed by writing, in parallel: a fresh (calloc'd) buffer's
        // first touch by the pass would be a read, and the copy-on-write
        // fault after it costs a TLB shoot-down on every core.
        blocks
            .par_iter_mut()
            .for_each(|blk| blk.f.iter_mut().for_each(|f| f.fill(0.0)));
        for &(k0, k1) in &plan {
            let built;
            let ch = match &single {
                Some(ch) => ch,
                None => {
                    built = build_chunk(raster, k0, k1);
                    &built
                }
            };
            blocks.par_iter_mut().for_each(|blk| add_chunk(ch, blk, m));
        }
        let lanes: Vec<(usize, usize, Vec<f64>)> = blocks
            .iter_mut()
            .enumerate()
            .flat_map(|(bi, blk)| {
                std::mem::take(&mut blk.f)
                    .into_iter()
                    .enumerate()
                    .map(move |(ii, f)| (bi, ii, f))
            })
            .collect();
        // (neuron and diag(F⁻¹), or the error; the buffer back to the pool)
        type Finished = (Result<(usize, Vec<f64>)>, Vec<f64>);
        let vars: Vec<Finished> = lanes
            .into_par_iter()
            .map(|(bi, ii, mut f)| {
                let blk = &blocks[bi];
                let i = blk.i0 + ii;
                let res = finish(blk, ii, &mut f, pen).map(|v| (i, v)).map_err(|k| {
                    Error::NotEnoughData(format!(
                        "the information matrix of neuron {i} is singular at {} (the data do not determine this parameter; add an L2 penalty or drop units that never or always fire)",
                        if k == 0 { "its field".to_string() } else { format!("its coupling from unit {}", k - 1) }
                    ))
                });
                (res, f)
            })
            .collect();
        for (res, f) in vars {
            pool.push(f);
            let (i, var) = res?;
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
        invert_diagonal_block(a, m, k0, kb, &mut w, kb);
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

/// `out = L_KK⁻¹` for the kb × kb diagonal block of the lower triangle of
/// the row-major m × m `l` starting at (k0, k0): lower triangular, row
/// stride `ld`, by forward substitution (kb³/6 multiply-adds; the blocks
/// are small). The rest of `out`'s rows is zeroed.
fn invert_diagonal_block(l: &[f64], m: usize, k0: usize, kb: usize, out: &mut [f64], ld: usize) {
    out.iter_mut().for_each(|x| *x = 0.0);
    for r in 0..kb {
        out[r * ld + r] = 1.0;
        for p in 0..r {
            let lrp = l[(k0 + r) * m + k0 + p];
            for c in 0..=p {
                out[r * ld + c] -= lrp * out[p * ld + c];
            }
        }
        let d = l[(k0 + r) * m + k0 + r];
        for c in 0..=r {
            out[r * ld + c] /= d;
        }
    }
}

/// `diag(A⁻¹)` from the lower Cholesky factor L of A (row-major, lower
/// triangle of `l`): `Z = L⁻¹` by block rows, then the squared column
/// norms of Z. Block row I of Z is `Z[I, I] = L_II⁻¹` and, left of it,
/// `Z[I, K] = −L_II⁻¹ Σ_{P=K..I−1} L[I, P] Z[P, K]`: matrix products but
/// for the small inverse of the diagonal block.
fn inverse_diagonal(l: &[f64], m: usize) -> Vec<f64> {
    let mut z = vec![0.0; m * m];
    let mut tmp = vec![0.0; CB * m];
    let mut tinv = vec![0.0; CB * CB];
    for i0 in (0..m).step_by(CB) {
        let i1 = (i0 + CB).min(m);
        let ib = i1 - i0;
        invert_diagonal_block(l, m, i0, ib, &mut tinv, CB);
        if i0 > 0 {
            // tmp[.., 0..i0] = −Σ_P L[I, P] Z[P, K], block column K at a
            // time (Z[P, K] is zero for P < K).
            for k0 in (0..i0).step_by(CB) {
                let k1 = (k0 + CB).min(i0);
                // SAFETY: reads L and rows k0..i0 of Z, writes the
                // separate `tmp`; every index is inside its buffer.
                unsafe {
                    gemm(
                        ib,
                        i0 - k0,
                        k1 - k0,
                        -1.0,
                        l.as_ptr().add(i0 * m + k0),
                        m,
                        z.as_ptr().add(k0 * m + k0),
                        m as isize,
                        1,
                        0.0,
                        tmp.as_mut_ptr().add(k0),
                        m,
                    );
                }
            }
            // Z[I, 0..i0] = L_II⁻¹ tmp.
            // SAFETY: reads `tinv` and `tmp`, writes rows i0..i1,
            // columns 0..i0 of Z; in bounds.
            unsafe {
                gemm(
                    ib,
                    ib,
                    i0,
                    1.0,
                    tinv.as_ptr(),
                    CB,
                    tmp.as_ptr(),
                    m as isize,
                    1,
                    0.0,
                    z.as_mut_ptr().add(i0 * m),
                    m,
                );
            }
        }
        for r in 0..ib {
            z[(i0 + r) * m + i0..(i0 + r) * m + i0 + r + 1]
                .copy_from_slice(&tinv[r * CB..r * CB + r + 1]);
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

    /// Several blocks (n = 70: two full, one partial), many chunks and
    /// one block per group give the same standard errors as one chunk and
    /// one group (to rounding: only the order of the sums differs), and
    /// both equal the inverse of the Hessian summed directly (1e-9).
    #[test]
    fn chunks_and_groups_change_nothing() {
        let (n, tt, trials) = (70, 300, 2);
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut uniform = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<u8> = (0..trials * tt * n)
            .map(|_| u8::from(uniform() < 0.15))
            .collect();
        let mut raster = SpikeRaster::from_binary(trials, tt, n, &x).unwrap();
        // Some rows more than half active: the silent units are listed.
        for t in (0..tt).step_by(5) {
            for i in 0..50 {
                raster.set(1, t, i, true);
            }
        }
        let h = DVector::from_fn(n, |i, _| 0.02 * i as f64 - 1.0);
        let j = DMatrix::from_fn(n, n, |i, k| {
            0.2 * ((i * 3 + k * 5) % 11) as f64 / 11.0 - 0.1
        });
        let whole = standard_errors(&raster, &h, &j, 0.01).unwrap();
        let small = Limits {
            chunk_entries: 97,
            group_bytes: 1,
        };
        assert!(plan_chunks(&raster, trials * (tt - 1), small.chunk_entries).len() > 50);
        let pieces = standard_errors_within(&raster, &h, &j, 0.01, small).unwrap();
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
        for i in 0..n {
            assert!(rel(pieces.h[i], whole.h[i]) < 1e-12, "H_{i}");
            for k in 0..n {
                assert!(rel(pieces.j[(i, k)], whole.j[(i, k)]) < 1e-12, "J_{i}{k}");
            }
        }
        for i in [0, 31, 32, 69] {
            let mut f = DMatrix::<f64>::zeros(n + 1, n + 1);
            for r in 0..trials {
                for t in 1..tt {
                    let mut xt = DVector::from_element(n + 1, 1.0);
                    for k in 0..n {
                        xt[k + 1] = raster.spin(r, t - 1, k);
                    }
                    let hi = h[i] + (0..n).map(|k| j[(i, k)] * xt[k + 1]).sum::<f64>();
                    f += &xt * xt.transpose() * (1.0 - hi.tanh().powi(2));
                }
            }
            for k in 1..=n {
                f[(k, k)] += (trials * (tt - 1)) as f64 * 0.01;
            }
            let inv = f.try_inverse().unwrap();
            assert!(rel(whole.h[i], inv[(0, 0)].sqrt()) < 1e-9, "H_{i} direct");
            for k in 0..n {
                assert!(
                    rel(whole.j[(i, k)], inv[(k + 1, k + 1)].sqrt()) < 1e-9,
                    "J_{i}{k} direct"
                );
            }
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
