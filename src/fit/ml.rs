//! Exact maximum likelihood of (H, J) from spike trains (spec §3.3).
//!
//! For every observed transition `x = s(t−1) → y = s(t)` (±1 spins, every
//! trial, every bin t ≥ 1) the model gives
//! `log P(y | x) = Σ_i [y_i h_i − log 2cosh h_i]`, `h_i = H_i + Σ_j J_ij x_j`
//! (effective parameters). The log-likelihood splits into one problem per
//! receiving neuron i, in `θ_i = (H_i, J_i1 … J_iN)`; we minimise
//!
//! ```text
//! f_i(θ_i) = (1/n) Σ_t [log 2cosh h_i(t) − y_i(t) h_i(t)] + (λ/2) Σ_j J_ij²
//! ∂f_i/∂H_i  = −(1/n) Σ_t r_i(t),          r_i(t) = y_i(t) − tanh h_i(t)
//! ∂f_i/∂J_ij = −(1/n) Σ_t r_i(t) x_j(t) + λ J_ij
//! ```
//!
//! (n transitions, λ = `l2`), a convex logistic-type problem (strictly
//! convex for λ > 0).
//!
//! **Sparsity.** With `x_j = 2b_j − 1` (b the 0/1 raster),
//! `h(t) = H − Σ_j J_·j + 2 Σ_{j active} J_·j`: the fields of all N neurons
//! are a sum of the columns of J over the active units of the previous bin,
//! or, when more than half are active, `H + Σ_j J_·j − 2 Σ_{j silent} J_·j`.
//! The gradient is the same scatter in reverse: column j accumulates
//! `±r(t)` over the bins where j is in the listed set. One pass over the
//! data costs `2 n N min(p, 1−p) N` additions plus `n N` tanh/log-cosh
//! (vectorised), whatever the raster's length in memory.
//!
//! **Solver.** All N problems advance together, one data pass per
//! iteration (the pass evaluates every neuron's trial point). Each neuron
//! runs L-BFGS (memory 10) with a backtracking Armijo line search. The
//! initial inverse Hessian is `(w̄_i S + λ)⁻¹`, where
//! `S = (1/n) Σ_t x̃ x̃ᵀ`, `x̃ = (1, x)`, is the data's second-moment matrix
//! (exact Hessian when the weights `1 − tanh² h_i(t)` are constant, equal to
//! their mean `w̄_i`), applied through one eigendecomposition of S. The
//! start is the independent-neuron optimum `H_i = atanh(mean y_i)`, `J = 0`.
//! A neuron stops when `max |∇f_i| ≤ tol`; the fit stops when all have.
//!
//! **Shards.** With [`MlFit::neurons`] only a range of receiving neurons
//! is fitted: the pass evaluates just those rows (each row's sums are the
//! same whichever other rows are present) and every neuron stops on its own
//! gradient, so a shard reproduces its rows of the full fit bit for bit.
//! The pass costs the same per row whatever the row's spike count, so equal
//! row counts balance shards.
//!
//! A unit that never (or always) fires has no finite optimum for λ = 0:
//! its field runs towards ∓∞ until the gradient tolerance is met (|h| of
//! order ½ log(2/tol)). Use λ > 0 to keep such estimates finite.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rayon::prelude::*;

use crate::meanfield::kernels::{log_2cosh_fast, log_2cosh_fast_fma, tanh_fast, tanh_fast_fma};
use crate::progress::{FitInfo, Progress, StopToken, TerminationReason};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Hyperparameters of the maximum-likelihood fit.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MlFit {
    /// L2 penalty λ on the couplings (per transition; see the module docs).
    pub l2: f64,
    /// Maximum number of data passes.
    pub max_iter: usize,
    /// Stop a neuron when every partial derivative of its mean objective
    /// is at most this in magnitude.
    pub tol: f64,
    /// Fit only the receiving neurons `start ≤ i < end` (a shard; `None`:
    /// all). Each neuron's problem and stopping rule are its own and a row's
    /// arithmetic in a data pass does not depend on the other rows, so a
    /// shard's rows are bitwise those of the full fit (see [`crate::shard`]).
    #[serde(default)]
    pub neurons: Option<std::ops::Range<usize>>,
}

impl Default for MlFit {
    fn default() -> Self {
        Self {
            l2: 0.0,
            max_iter: 200,
            tol: 1e-6,
            neurons: None,
        }
    }
}

/// [`MlFit`] after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidMlFit(MlFit);

impl MlFit {
    /// Check ranges: λ ≥ 0 finite, `max_iter ≥ 1`, `tol > 0`.
    pub fn validate(self) -> Result<ValidMlFit> {
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return Err(Error::param(
                "l2",
                self.l2,
                "the L2 penalty must be finite and >= 0",
            ));
        }
        if self.max_iter == 0 {
            return Err(Error::param("max_iter", 0, "must be at least 1"));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(Error::param("tol", self.tol, "must be a positive number"));
        }
        if let Some(r) = &self.neurons
            && r.start >= r.end
        {
            return Err(Error::param(
                "neurons",
                format!("{}..{}", r.start, r.end),
                "need a non-empty range start..end of receiving neurons",
            ));
        }
        Ok(ValidMlFit(self))
    }
}

/// The fitted parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MlEstimate {
    /// Receiving neurons fitted (`0..N` unless [`MlFit::neurons`] is set);
    /// row `r` of `h` and `j` is neuron `neurons.start + r`.
    pub neurons: std::ops::Range<usize>,
    /// Effective fields βH (one per fitted neuron; length N by default).
    pub h: DVector<f64>,
    /// Effective couplings βJ (`[r, j]`: from j at t−1 to neuron
    /// `neurons.start + r` at t; N × N by default).
    pub j: DMatrix<f64>,
    /// Mean log-likelihood per transition at the estimate (nats, summed
    /// over neurons, penalty not included).
    pub log_likelihood: f64,
    /// Largest |∂f_i/∂θ| over all neurons at the estimate.
    pub max_gradient: f64,
    /// Per-iteration penalised log-likelihood per transition, iterations
    /// (data passes) and why it stopped.
    pub info: FitInfo,
}

/// Mean objective of every neuron and its gradient at (H, J).
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// `f_i` (penalty included), length N.
    pub f: DVector<f64>,
    /// `(1/n) Σ_t [log 2cosh h_i − y_i h_i]` without the penalty.
    pub nll: DVector<f64>,
    /// `∂f_i/∂H_i`.
    pub grad_h: DVector<f64>,
    /// `∂f_i/∂J_ij`.
    pub grad_j: DMatrix<f64>,
    /// Mean of `1 − tanh² h_i` over transitions.
    pub mean_weight: DVector<f64>,
}

/// Check that a raster has transitions to fit.
fn check_raster(raster: &SpikeRaster) -> Result<()> {
    if raster.n_units() == 0 || raster.n_trials() == 0 || raster.n_bins() < 2 {
        return Err(Error::NotEnoughData(format!(
            "maximum likelihood needs at least 2 bins, 1 trial and 1 unit; the raster is {:?}",
            raster.shape()
        )));
    }
    Ok(())
}

/// The objective of module docs and its gradient at effective (H, J), for
/// checks and for callers that want the likelihood of given parameters.
pub fn objective(
    raster: &SpikeRaster,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    l2: f64,
) -> Result<Objective> {
    check_raster(raster)?;
    let n = raster.n_units();
    if h.len() != n || j.shape() != (n, n) {
        return Err(Error::shape(
            "fields and couplings",
            format!("{n} and {n} x {n} (the raster's units)"),
            format!("{} and {} x {}", h.len(), j.nrows(), j.ncols()),
        ));
    }
    Ok(evaluate(raster, 0, h, j, l2))
}

/// Per-thread sums of one data pass.
struct Acc {
    /// Σ [log 2cosh h − y h] per neuron.
    nll: Vec<f64>,
    /// Σ r per neuron.
    rsum: Vec<f64>,
    /// Σ c_t r (c_t = +1 for rows summed over active units, −1 over silent).
    rc: Vec<f64>,
    /// Σ (1 − tanh²).
    w: Vec<f64>,
    /// `g[j*m + r]` = Σ_t c_t r_r(t) over bins where j is listed (m rows).
    g: Vec<f64>,
    /// Scratch: fields, then residuals.
    buf: Vec<f64>,
    /// Scratch: y as ±1.
    y: Vec<f64>,
    /// Scratch: listed units.
    list: Vec<usize>,
}

impl Acc {
    /// Sums for `m` receiving neurons of an `n`-unit raster.
    fn new(m: usize, n: usize) -> Self {
        Self {
            nll: vec![0.0; m],
            rsum: vec![0.0; m],
            rc: vec![0.0; m],
            w: vec![0.0; m],
            g: vec![0.0; n * m],
            buf: vec![0.0; m],
            y: vec![0.0; m],
            list: Vec::with_capacity(n),
        }
    }
    fn merge(mut self, o: Acc) -> Acc {
        for (a, b) in [
            (&mut self.nll, &o.nll),
            (&mut self.rsum, &o.rsum),
            (&mut self.rc, &o.rc),
            (&mut self.w, &o.w),
            (&mut self.g, &o.g),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self
    }
}

/// Whether a previous bin lists its silent units (more than half of the
/// `n` units active) and how many units it lists. The ML pass and the
/// standard errors list bins the same way.
pub(super) fn listing(row: &[u64], n: usize) -> (bool, usize) {
    let active: usize = row.iter().map(|w| w.count_ones() as usize).sum();
    if 2 * active > n {
        (true, n - active)
    } else {
        (false, active)
    }
}

/// Indices of set bits (or, with `silent`, of clear bits below `n`).
pub(super) fn list_units(words: &[u64], n: usize, silent: bool, out: &mut Vec<usize>) {
    out.clear();
    for (wi, &w) in words.iter().enumerate() {
        let mut x = if silent { !w } else { w };
        if silent && wi == words.len() - 1 && !n.is_multiple_of(64) {
            x &= (1u64 << (n % 64)) - 1;
        }
        while x != 0 {
            out.push(wi * 64 + x.trailing_zeros() as usize);
            x &= x - 1;
        }
    }
}

/// Rows of J (receiving neurons) per cache block: a block of J and of the
/// gradient accumulator (B × N f64 each, 256 KB at N = 512) stays in L2
/// while a whole chunk of transitions is applied to it.
const ROW_BLOCK: usize = 64;

/// The listed units of every transition of a chunk, flattened.
#[derive(Default)]
struct ChunkLists {
    /// Units, transition after transition.
    units: Vec<usize>,
    /// `(start, end, c)` into `units` per transition; c = +1 (active
    /// units listed) or −1 (silent units listed).
    spans: Vec<(usize, usize, f64)>,
    /// `(trial, bin)` of the current (later) row per transition.
    rows: Vec<(usize, usize)>,
}

/// Transitions `range` (flat index k: trial k / per_trial, bin
/// k % per_trial + 1), processed block of rows by block of rows (see the
/// module docs for the sums). Rows are the receiving neurons
/// `row0 .. row0 + h.len()`; `j` is their `m × n` block, column-major.
/// Every row's arithmetic is the same whatever the other rows are. Inlined
/// into CPU-specific builds.
#[inline(always)]
fn accumulate_range_generic<const FMA: bool>(
    acc: &mut Acc,
    raster: &SpikeRaster,
    range: std::ops::Range<usize>,
    row0: usize,
    h: &[f64],
    j: &[f64],
    rowsum: &[f64],
) {
    let n = raster.n_units();
    let m = h.len();
    let per_trial = raster.n_bins() - 1;
    let mut lists = ChunkLists::default();
    let mut scratch = std::mem::take(&mut acc.list);
    for k in range {
        let (r, t) = (k / per_trial, k % per_trial + 1);
        let prev = raster.row(r, t - 1);
        let silent = listing(prev, n).0;
        list_units(prev, n, silent, &mut scratch);
        let start = lists.units.len();
        lists.units.extend_from_slice(&scratch);
        lists
            .spans
            .push((start, lists.units.len(), if silent { -1.0 } else { 1.0 }));
        lists.rows.push((r, t));
    }
    acc.list = scratch;
    for i0 in (0..m).step_by(ROW_BLOCK) {
        let i1 = (i0 + ROW_BLOCK).min(m);
        let bl = i1 - i0;
        for (&(s0, s1, c), &(r, t)) in lists.spans.iter().zip(&lists.rows) {
            let list = &lists.units[s0..s1];
            let buf = &mut acc.buf[..bl];
            for ((b, &hi), &rs) in buf.iter_mut().zip(&h[i0..i1]).zip(&rowsum[i0..i1]) {
                *b = hi - c * rs;
            }
            let c2 = 2.0 * c;
            let mut quads = list.chunks_exact(4);
            for q in &mut quads {
                let c0 = &j[q[0] * m + i0..][..bl];
                let c1 = &j[q[1] * m + i0..][..bl];
                let c2_ = &j[q[2] * m + i0..][..bl];
                let c3 = &j[q[3] * m + i0..][..bl];
                for ((((b, &a0), &a1), &a2), &a3) in buf.iter_mut().zip(c0).zip(c1).zip(c2_).zip(c3)
                {
                    *b += c2 * ((a0 + a1) + (a2 + a3));
                }
            }
            for &jj in quads.remainder() {
                let col = &j[jj * m + i0..jj * m + i1];
                for (b, &x) in buf.iter_mut().zip(col) {
                    *b += c2 * x;
                }
            }
            let cur = raster.row(r, t);
            let y = &mut acc.y[..bl];
            for (ii, yi) in y.iter_mut().enumerate() {
                let i = row0 + i0 + ii;
                *yi = (((cur[i / 64] >> (i % 64)) & 1) as f64) * 2.0 - 1.0;
            }
            let (nll, rsum) = (&mut acc.nll[i0..][..bl], &mut acc.rsum[i0..][..bl]);
            let (rc, w) = (&mut acc.rc[i0..][..bl], &mut acc.w[i0..][..bl]);
            let y = &y[..bl];
            for (((((b, &yi), nl), rs), rcc), ww) in buf
                .iter_mut()
                .zip(y)
                .zip(nll.iter_mut())
                .zip(rsum.iter_mut())
                .zip(rc.iter_mut())
                .zip(w.iter_mut())
            {
                let hi = *b;
                let (th, lc) = if FMA {
                    (tanh_fast_fma(hi), log_2cosh_fast_fma(hi))
                } else {
                    (tanh_fast(hi), log_2cosh_fast(hi))
                };
                *nl += lc - yi * hi;
                let res = yi - th;
                *rs += res;
                *rcc += c * res;
                *ww += 1.0 - th * th;
                *b = c * res;
            }
            for &jj in list {
                let g = &mut acc.g[jj * m + i0..][..bl];
                for (x, &v) in g.iter_mut().zip(buf.iter()) {
                    *x += v;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn accumulate_range_avx2(
    acc: &mut Acc,
    raster: &SpikeRaster,
    range: std::ops::Range<usize>,
    row0: usize,
    h: &[f64],
    j: &[f64],
    rowsum: &[f64],
) {
    accumulate_range_generic::<true>(acc, raster, range, row0, h, j, rowsum);
}

/// Dispatch to the AVX2 build where the CPU has it.
fn accumulate_range(
    acc: &mut Acc,
    raster: &SpikeRaster,
    range: std::ops::Range<usize>,
    row0: usize,
    h: &[f64],
    j: &[f64],
    rowsum: &[f64],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features this build enables.
            unsafe { accumulate_range_avx2(acc, raster, range, row0, h, j, rowsum) };
            return;
        }
    }
    accumulate_range_generic::<false>(acc, raster, range, row0, h, j, rowsum);
}

/// One pass over every transition of the raster, for the receiving
/// neurons `row0 .. row0 + h.len()` (`j`: their rows, all N columns).
fn evaluate(
    raster: &SpikeRaster,
    row0: usize,
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    l2: f64,
) -> Objective {
    let n = raster.n_units();
    let m = h.len();
    let (rr, tt) = (raster.n_trials(), raster.n_bins());
    let per_trial = tt - 1;
    let total = rr * per_trial;
    let rowsum: Vec<f64> = j.row_iter().map(|r| r.sum()).collect();
    let js = j.as_slice();
    let hs = h.as_slice();
    // A fixed number of contiguous groups, each summed in order and merged
    // in order: the result does not depend on the number of threads or on
    // scheduling (bitwise reproducible). Within a group, chunks of 256
    // transitions share their unit lists across row blocks.
    const GROUPS: usize = 8;
    const CHUNK: usize = 256;
    let per_group = total.div_ceil(GROUPS).max(1);
    let parts: Vec<Acc> = (0..GROUPS)
        .into_par_iter()
        .map(|g| {
            let mut acc = Acc::new(m, n);
            let (g0, g1) = ((g * per_group).min(total), ((g + 1) * per_group).min(total));
            let mut k = g0;
            while k < g1 {
                let end = (k + CHUNK).min(g1);
                accumulate_range(&mut acc, raster, k..end, row0, hs, js, &rowsum);
                k = end;
            }
            acc
        })
        .collect();
    let acc = parts
        .into_iter()
        .reduce(Acc::merge)
        .unwrap_or_else(|| Acc::new(m, n));
    let nf = total as f64;
    let nll = DVector::from_fn(m, |i, _| acc.nll[i] / nf);
    let f = DVector::from_fn(m, |i, _| nll[i] + 0.5 * l2 * j.row(i).norm_squared());
    let grad_h = DVector::from_fn(m, |i, _| -acc.rsum[i] / nf);
    // Σ_t r_i x_j = 2 g_ij − rc_i.
    let grad_j = DMatrix::from_fn(m, n, |i, jj| {
        -(2.0 * acc.g[jj * m + i] - acc.rc[i]) / nf + l2 * j[(i, jj)]
    });
    let mean_weight = DVector::from_fn(m, |i, _| acc.w[i] / nf);
    Objective {
        f,
        nll,
        grad_h,
        grad_j,
        mean_weight,
    }
}

/// `S = (1/n) Σ_t x̃ x̃ᵀ` over the previous bins of every transition,
/// `x̃ = (1, x)`, from bit counts: `E[x_j] = 2p_j − 1`,
/// `E[x_j x_k] = 1 − 2p_j − 2p_k + 4p_jk`.
fn second_moments(raster: &SpikeRaster) -> DMatrix<f64> {
    let n = raster.n_units();
    let (rr, tt) = (raster.n_trials(), raster.n_bins());
    let samples = rr * (tt - 1);
    let words = samples.div_ceil(64);
    let mut cols = vec![0u64; n * words];
    let mut k = 0;
    for r in 0..rr {
        for t in 0..tt - 1 {
            for i in raster.active_units(r, t) {
                cols[i * words + k / 64] |= 1 << (k % 64);
            }
            k += 1;
        }
    }
    let col = |i: usize| &cols[i * words..(i + 1) * words];
    let s = samples as f64;
    let p: Vec<f64> = (0..n)
        .map(|i| col(i).iter().map(|w| w.count_ones() as f64).sum::<f64>() / s)
        .collect();
    let pair: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|i| {
            (0..n)
                .map(|k| {
                    let c: u64 = col(i)
                        .iter()
                        .zip(col(k))
                        .map(|(a, b)| (a & b).count_ones() as u64)
                        .sum();
                    c as f64 / s
                })
                .collect()
        })
        .collect();
    DMatrix::from_fn(n + 1, n + 1, |a, b| match (a, b) {
        (0, 0) => 1.0,
        (0, k) | (k, 0) => 2.0 * p[k - 1] - 1.0,
        (a, b) if a == b => 1.0,
        (a, b) => 1.0 - 2.0 * p[a - 1] - 2.0 * p[b - 1] + 4.0 * pair[a - 1][b - 1],
    })
}

/// `(w S + λ)⁻¹` applied through the eigendecomposition `S = V Λ Vᵀ`.
struct Preconditioner {
    v: DMatrix<f64>,
    lambda: DVector<f64>,
    floor: f64,
}

impl Preconditioner {
    fn new(s: DMatrix<f64>) -> Self {
        let eig = SymmetricEigen::new(s);
        let max = eig.eigenvalues.amax().max(1e-300);
        Self {
            v: eig.eigenvectors,
            lambda: eig.eigenvalues,
            floor: 1e-10 * max,
        }
    }
    fn apply(&self, w: f64, l2: f64, q: &DVector<f64>) -> DVector<f64> {
        let mut z = self.v.tr_mul(q);
        for (zk, &lk) in z.iter_mut().zip(self.lambda.iter()) {
            *zk /= w * lk.max(self.floor) + l2 + 1e-12;
        }
        &self.v * z
    }
}

/// One neuron's L-BFGS state.
struct NeuronState {
    theta: DVector<f64>,
    f: f64,
    g: DVector<f64>,
    w: f64,
    mem_s: Vec<DVector<f64>>,
    mem_y: Vec<DVector<f64>>,
    dir: DVector<f64>,
    step: f64,
    slope: f64,
    trial: DVector<f64>,
    converged: bool,
}

const MEMORY: usize = 10;
const ARMIJO: f64 = 1e-4;

impl NeuronState {
    /// Two-loop recursion with the preconditioner as initial inverse Hessian.
    fn direction(&self, pre: &Preconditioner, l2: f64) -> DVector<f64> {
        let k = self.mem_s.len();
        let mut q = self.g.clone();
        let mut alpha = vec![0.0; k];
        for m in (0..k).rev() {
            let rho = 1.0 / self.mem_y[m].dot(&self.mem_s[m]);
            alpha[m] = rho * self.mem_s[m].dot(&q);
            q.axpy(-alpha[m], &self.mem_y[m], 1.0);
        }
        let mut z = pre.apply(self.w, l2, &q);
        for ((s, y), a) in self.mem_s.iter().zip(&self.mem_y).zip(&alpha) {
            let beta = y.dot(&z) / y.dot(s);
            z.axpy(a - beta, s, 1.0);
        }
        -z
    }

    /// Start a line search from the current point.
    fn new_search(&mut self, pre: &Preconditioner, l2: f64) {
        let mut d = self.direction(pre, l2);
        let mut slope = self.g.dot(&d);
        if slope.is_nan() || slope >= 0.0 {
            self.mem_s.clear();
            self.mem_y.clear();
            d = -pre.apply(self.w, l2, &self.g);
            slope = self.g.dot(&d);
        }
        self.dir = d;
        self.slope = slope;
        self.step = 1.0;
        self.trial = &self.theta + &self.dir;
    }
}

impl ValidMlFit {
    /// The validated hyperparameters.
    pub fn params(&self) -> &MlFit {
        &self.0
    }

    /// Fit effective (H, J) to every transition of `raster` (all trials).
    /// Reports progress in data passes (of `max_iter`); on `stop` returns
    /// the current estimate with reason `Cancelled`.
    pub fn fit(
        &self,
        raster: &SpikeRaster,
        progress: &dyn Progress,
        stop: &StopToken,
    ) -> Result<MlEstimate> {
        self.fit_from(raster, None, progress, stop)
    }

    /// [`ValidMlFit::fit`] started from given effective `(H, J)` instead of
    /// the independent-neuron optimum (warm start, e.g. along an L2 path in
    /// cross-validation).
    pub fn fit_from(
        &self,
        raster: &SpikeRaster,
        start: Option<(&DVector<f64>, &DMatrix<f64>)>,
        progress: &dyn Progress,
        stop: &StopToken,
    ) -> Result<MlEstimate> {
        check_raster(raster)?;
        if let Some((h0, j0)) = start {
            let n = raster.n_units();
            if h0.len() != n || j0.shape() != (n, n) {
                return Err(Error::shape(
                    "starting fields and couplings",
                    format!("{n} and {n} x {n}"),
                    format!("{} and {} x {}", h0.len(), j0.nrows(), j0.ncols()),
                ));
            }
        }
        let p = &self.0;
        let n = raster.n_units();
        let rows = p.neurons.clone().unwrap_or(0..n);
        if rows.end > n {
            return Err(Error::param(
                "neurons",
                format!("{}..{}", rows.start, rows.end),
                format!("the raster has {n} units (neurons 0..{n})"),
            ));
        }
        let (row0, m) = (rows.start, rows.len());
        let l2 = p.l2;
        let pre = Preconditioner::new(second_moments(raster));
        // Start: independent neurons.
        let counts = raster.unit_counts();
        let first_bins = (0..raster.n_trials())
            .flat_map(|r| raster.active_units(r, 0).collect::<Vec<_>>())
            .fold(vec![0u64; n], |mut v, i| {
                v[i] += 1;
                v
            });
        let samples = (raster.n_trials() * (raster.n_bins() - 1)) as f64;
        let mut h = DVector::from_fn(m, |r, _| {
            let i = row0 + r;
            let q = (counts[i] - first_bins[i]) as f64 / samples;
            (2.0 * q - 1.0).clamp(-1.0 + 1e-6, 1.0 - 1e-6).atanh()
        });
        let mut j = DMatrix::<f64>::zeros(m, n);
        if let Some((h0, j0)) = start {
            h.copy_from(&h0.rows(row0, m));
            j.copy_from(&j0.rows(row0, m));
        }
        let obj = evaluate(raster, row0, &h, &j, l2);
        let mut states: Vec<NeuronState> = (0..m)
            .map(|i| {
                let mut theta = DVector::zeros(n + 1);
                theta[0] = h[i];
                for jj in 0..n {
                    theta[jj + 1] = j[(i, jj)];
                }
                let mut g = DVector::zeros(n + 1);
                g[0] = obj.grad_h[i];
                for jj in 0..n {
                    g[jj + 1] = obj.grad_j[(i, jj)];
                }
                let converged = g.amax() <= p.tol;
                NeuronState {
                    trial: theta.clone(),
                    theta,
                    f: obj.f[i],
                    g,
                    w: obj.mean_weight[i].max(1e-6),
                    mem_s: Vec::new(),
                    mem_y: Vec::new(),
                    dir: DVector::zeros(n + 1),
                    step: 0.0,
                    slope: 0.0,
                    converged,
                }
            })
            .collect();
        states
            .par_iter_mut()
            .filter(|s| !s.converged)
            .for_each(|s| s.new_search(&pre, l2));
        let mut info = FitInfo::new("penalised log-likelihood per transition (nats)");
        info.reason = TerminationReason::MaxIterations;
        for it in 1..=p.max_iter {
            if stop.is_stopped() {
                info.reason = TerminationReason::Cancelled;
                break;
            }
            // Evaluate every neuron at its trial point.
            for (i, s) in states.iter().enumerate() {
                h[i] = s.trial[0];
                for jj in 0..n {
                    j[(i, jj)] = s.trial[jj + 1];
                }
            }
            let obj = evaluate(raster, row0, &h, &j, l2);
            if obj.f.iter().any(|x| !x.is_finite()) {
                return Err(Error::Diverged {
                    method: "maximum likelihood".into(),
                    step: it,
                    reason: "the log-likelihood became non-finite".into(),
                });
            }
            states.par_iter_mut().enumerate().for_each(|(i, s)| {
                if s.converged {
                    return;
                }
                let f_new = obj.f[i];
                if f_new <= s.f + ARMIJO * s.step * s.slope {
                    let mut g_new = DVector::zeros(n + 1);
                    g_new[0] = obj.grad_h[i];
                    for jj in 0..n {
                        g_new[jj + 1] = obj.grad_j[(i, jj)];
                    }
                    let sv = &s.trial - &s.theta;
                    let yv = &g_new - &s.g;
                    if sv.dot(&yv) > 1e-300 {
                        if s.mem_s.len() == MEMORY {
                            s.mem_s.remove(0);
                            s.mem_y.remove(0);
                        }
                        s.mem_s.push(sv);
                        s.mem_y.push(yv);
                    }
                    s.theta = s.trial.clone();
                    s.f = f_new;
                    s.g = g_new;
                    s.w = obj.mean_weight[i].max(1e-6);
                    if s.g.amax() <= p.tol {
                        s.converged = true;
                    } else {
                        s.new_search(&pre, l2);
                    }
                } else {
                    // Backtrack (quadratic interpolation, kept in [0.1, 0.5]).
                    let denom = 2.0 * (f_new - s.f - s.step * s.slope);
                    let mut next = if denom > 0.0 {
                        -s.slope * s.step * s.step / denom
                    } else {
                        0.5 * s.step
                    };
                    next = next.clamp(0.1 * s.step, 0.5 * s.step);
                    s.step = next;
                    if s.step * s.dir.amax() <= 1e-14 * (1.0 + s.theta.amax()) {
                        // No representable decrease left: the point is
                        // optimal to rounding.
                        s.converged = true;
                        s.trial = s.theta.clone();
                    } else {
                        s.trial = &s.theta + &s.dir * s.step;
                    }
                }
            });
            let total: f64 = states.iter().map(|s| s.f).sum();
            info.objective.push(-total);
            progress.objective(it, -total);
            info.iterations = it;
            progress.report(it as u64, p.max_iter as u64);
            if states.iter().all(|s| s.converged) {
                info.reason = TerminationReason::Converged;
                break;
            }
        }
        for (i, s) in states.iter().enumerate() {
            h[i] = s.theta[0];
            for jj in 0..n {
                j[(i, jj)] = s.theta[jj + 1];
            }
        }
        let max_gradient = states.iter().map(|s| s.g.amax()).fold(0.0, f64::max);
        let penalty: f64 = (0..m).map(|i| 0.5 * l2 * j.row(i).norm_squared()).sum();
        let total_f: f64 = states.iter().map(|s| s.f).sum();
        Ok(MlEstimate {
            neurons: rows,
            h,
            j,
            log_likelihood: -(total_f - penalty),
            max_gradient,
            info,
        })
    }
}
