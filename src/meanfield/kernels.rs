//! Numerical building blocks shared by the mean-field methods: a
//! vectorisable `tanh`, parallel matrix products and matrix-vector products.
//!
//! * [`tanh_fast`] is branch-free (so LLVM vectorises loops over it):
//!   `tanh|x| = −e/(2 + e)` with `e = expm1(−2|x|)`, the `expm1` from a
//!   Cody–Waite range reduction `y = n ln2 + r`, `|r| ≤ ln2/2`, a degree-13
//!   Taylor polynomial for `e^r − 1` (truncation < 1e-17) and
//!   `expm1(y) = 2ⁿ(e^r − 1) + (2ⁿ − 1)`. Accuracy: a few ulps relative,
//!   checked against `f64::tanh` in the tests. NaN propagates.
//! * [`par_gemm`] splits the columns of the product over rayon tasks, each a
//!   `matrixmultiply` kernel through nalgebra (`DMatrix` is column-major, so
//!   column blocks are contiguous).

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;

/// ln 2 split so that `n·LN2_HI` is exact for |n| < 2¹¹ (fdlibm's values).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// 1.5·2⁵²: adding and subtracting rounds to the nearest integer and leaves
/// the integer in the low mantissa bits.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;

/// `a·b + c`, fused when `FMA` (only instantiate `FMA = true` inside
/// functions compiled with the `fma` target feature: elsewhere `mul_add`
/// is a slow library call).
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `e^y − 1` for `y ∈ [−40, 0]` (what [`tanh_fast`] needs), branch-free.
#[inline(always)]
fn expm1_nonpos<const FMA: bool>(y: f64) -> f64 {
    let t = y * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = (y - n * LN2_HI) - n * LN2_LO;
    // e^r − 1 = r + r²/2! + … + r¹³/13!, Horner from the top.
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362880.0,
        1.0 / 3628800.0,
        1.0 / 39916800.0,
        1.0 / 479001600.0,
        1.0 / 6227020800.0,
    ];
    let mut p = C[11];
    for &c in C[..11].iter().rev() {
        p = madd::<FMA>(p, r, c);
    }
    let em = madd::<FMA>(r * r, p, r);
    // 2ⁿ from the integer in t's low bits (n ∈ [−58, 0]).
    let ni = (t.to_bits() as i64).wrapping_sub(ROUND_MAGIC.to_bits() as i64);
    let scale = f64::from_bits(((ni + 1023) as u64) << 52);
    madd::<FMA>(scale, em, scale - 1.0)
}

/// `tanh(x)` to a few ulps, branch-free and vectorisable. NaN in, NaN out.
#[inline(always)]
pub fn tanh_fast(x: f64) -> f64 {
    tanh_fast_impl::<false>(x)
}

/// [`tanh_fast`] with fused multiply-adds; for kernels compiled with the
/// `fma` target feature.
#[inline(always)]
pub fn tanh_fast_fma(x: f64) -> f64 {
    tanh_fast_impl::<true>(x)
}

#[inline(always)]
fn tanh_fast_impl<const FMA: bool>(x: f64) -> f64 {
    let a = x.abs();
    // For |x| ≥ 20, 1 − tanh|x| < 1e-17: the result rounds to ±1. The
    // comparison keeps NaN (NaN > 20 is false).
    let a = if a > 20.0 { 20.0 } else { a };
    let e = expm1_nonpos::<FMA>(-2.0 * a);
    let t = -e / (2.0 + e);
    t.copysign(x)
}

/// `tanh(x)·tanh(y)` with one division instead of two:
/// `tanh|x| tanh|y| = e_x e_y / ((2 + e_x)(2 + e_y))`, `e = expm1(−2|·|)`,
/// sign from `x·y`. A few ulps, like [`tanh_fast`]; `FMA` as in
/// [`tanh_fast_fma`].
#[inline(always)]
pub fn tanh_product_fast<const FMA: bool>(x: f64, y: f64) -> f64 {
    let clamp = |v: f64| {
        let a = v.abs();
        if a > 20.0 { 20.0 } else { a }
    };
    let ex = expm1_nonpos::<FMA>(-2.0 * clamp(x));
    let ey = expm1_nonpos::<FMA>(-2.0 * clamp(y));
    let p = (ex * ey) / ((2.0 + ex) * (2.0 + ey));
    p.copysign(x * y)
}

/// `1/33, 1/31, …, 1/1`.
const INV_ODD: [f64; 17] = {
    let mut a = [0.0; 17];
    let mut i = 0;
    while i < 17 {
        a[i] = 1.0 / (33 - 2 * i) as f64;
        i += 1;
    }
    a
};

/// `log(2 cosh x) = |x| + log1p(e^{−2|x|})`, branch-free and vectorisable,
/// to ~1e-16 absolute. `log1p(u) = 2 atanh(z)`, `z = u/(2+u) ∈ [0, 1/3]`,
/// summed as the odd series `2(z + z³/3 + … + z³⁵/35)` (truncation
/// < (1/3)³⁷ < 3e-18).
#[inline(always)]
pub fn log_2cosh_fast(x: f64) -> f64 {
    log_2cosh_impl::<false>(x)
}

/// [`log_2cosh_fast`] with fused multiply-adds (see [`tanh_fast_fma`]).
#[inline(always)]
pub fn log_2cosh_fast_fma(x: f64) -> f64 {
    log_2cosh_impl::<true>(x)
}

#[inline(always)]
fn log_2cosh_impl<const FMA: bool>(x: f64) -> f64 {
    let a = x.abs();
    // For |x| > 20 the log1p term (< 4.3e-18) is dropped by rounding anyway.
    let c = if a > 20.0 { 20.0 } else { a };
    let u = expm1_nonpos::<FMA>(-2.0 * c) + 1.0;
    let z = u / (2.0 + u);
    let z2 = z * z;
    let mut p = 1.0 / 35.0;
    for c in INV_ODD {
        p = madd::<FMA>(p, z2, c);
    }
    a + 2.0 * z * p
}

/// `C = A · B`, in parallel blocks: blocks of columns of C, or for tall,
/// narrow products (`n < m`, e.g. J times a stack of T < N vectors) blocks
/// of rows, so each task packs only its share of the large operand A.
pub fn par_gemm(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let (m, k) = a.shape();
    let n = b.ncols();
    assert_eq!(k, b.nrows(), "par_gemm: shapes");
    if n < m {
        // A (m × k, column-major): element (i, l) at i + l·m.
        return gemm_rows(m, k, a.as_slice(), (1, m), b);
    }
    let mut c = DMatrix::<f64>::zeros(m, n);
    if m == 0 || n == 0 {
        return c;
    }
    // One block of columns per thread (at least 32 columns): every block
    // packs all of A again, which at N = 512 costs about as much as a
    // tenth of the multiply-adds, so fewer blocks beat finer balancing.
    let threads = rayon::current_num_threads().max(1);
    let per = n.div_ceil(threads).max(32).min(n);
    c.as_mut_slice()
        .par_chunks_mut(per * m)
        .enumerate()
        .for_each(|(blk, chunk)| {
            let c0 = blk * per;
            let cols = chunk.len() / m;
            let mut cview = nalgebra::DMatrixViewMut::from_slice(chunk, m, cols);
            cview.gemm(1.0, a, &b.columns(c0, cols), 0.0);
        });
    c
}

/// `C = Aᵀ · B` from `at` = Aᵀ (k × m, column-major), on the calling
/// thread (`matrixmultiply` reads Aᵀ through swapped strides; nalgebra's
/// `tr_mul` would take one dot product per entry instead).
pub fn gemm_tn(at: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let (k, m) = at.shape();
    let n = b.ncols();
    assert_eq!(k, b.nrows(), "gemm_tn: shapes");
    let mut c = DMatrix::<f64>::zeros(m, n);
    if m == 0 || n == 0 {
        return c;
    }
    // SAFETY: A = atᵀ is m × k with element (i, l) at l + i·k, i.e.
    // strides (k, 1) into `at`; B is k × n with strides (1, k); C is m × n
    // with strides (1, m). All indices stay inside the three buffers.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            at.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            1,
            k as isize,
            0.0,
            c.as_mut_ptr(),
            1,
            m as isize,
        );
    }
    c
}

/// `C = A · B` for an m × k matrix A stored in `a` with strides
/// `(row, column)`, k × n column-major B: blocks of at least 64 rows of C,
/// one per thread, each a `matrixmultiply::dgemm` call writing its rows of
/// C in place.
fn gemm_rows(
    m: usize,
    k: usize,
    a: &[f64],
    strides: (usize, usize),
    b: &DMatrix<f64>,
) -> DMatrix<f64> {
    let n = b.ncols();
    assert_eq!(b.nrows(), k, "gemm_rows: shapes");
    assert!(
        m == 0 || k == 0 || (m - 1) * strides.0 + (k - 1) * strides.1 < a.len(),
        "gemm_rows: A too short"
    );
    let mut c = DMatrix::<f64>::zeros(m, n);
    if m == 0 || n == 0 {
        return c;
    }
    let threads = rayon::current_num_threads().max(1);
    let per = m.div_ceil(threads).max(64).min(m);
    let c_addr = c.as_mut_ptr() as usize;
    (0..m.div_ceil(per)).into_par_iter().for_each(|blk| {
        let r0 = blk * per;
        let rows = per.min(m - r0);
        let c_ptr = c_addr as *mut f64;
        // SAFETY: rows r0..r0+rows of A start at offset r0·strides.0 and
        // stay inside `a` (checked above); B is k × n with strides (1, k);
        // the C rows start at r0 with strides (1, m). Tasks write disjoint
        // rows of C, which outlives the parallel loop.
        unsafe {
            matrixmultiply::dgemm(
                rows,
                k,
                n,
                1.0,
                a.as_ptr().add(r0 * strides.0),
                strides.0 as isize,
                strides.1 as isize,
                b.as_ptr(),
                1,
                k as isize,
                0.0,
                c_ptr.add(r0),
                1,
                m as isize,
            );
        }
    });
    c
}

/// `C = A · Bᵀ` (A m × k, B n × k), columns of C in parallel blocks;
/// `matrixmultiply` reads Bᵀ through swapped strides, so B is not
/// transposed first (a 2 MB copy per product at N = 512).
pub fn par_gemm_nt(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let (m, k) = a.shape();
    let n = b.nrows();
    assert_eq!(b.ncols(), k, "par_gemm_nt: shapes");
    let mut c = DMatrix::<f64>::zeros(m, n);
    if m == 0 || n == 0 {
        return c;
    }
    let threads = rayon::current_num_threads().max(1);
    let per = n.div_ceil(2 * threads).max(32).min(n);
    c.as_mut_slice()
        .par_chunks_mut(per * m)
        .enumerate()
        .for_each(|(blk, chunk)| {
            let c0 = blk * per;
            let cols = chunk.len() / m;
            // SAFETY: A is m × k with strides (1, m); columns c0..c0+cols
            // of Bᵀ are rows of B (n × k, column-major): offset c0, strides
            // (n, 1) (row index of Bᵀ = column of B); the chunk is the
            // m × cols block of C with strides (1, m). All in bounds.
            unsafe {
                matrixmultiply::dgemm(
                    m,
                    k,
                    cols,
                    1.0,
                    a.as_ptr(),
                    1,
                    m as isize,
                    b.as_ptr().add(c0),
                    n as isize,
                    1,
                    0.0,
                    chunk.as_mut_ptr(),
                    1,
                    m as isize,
                );
            }
        });
    c
}

/// `C = A · Bᵀ` for products known to be symmetric (`J C Jᵀ` with C
/// symmetric, `J diag(a) Jᵀ`): for each of four row panels only the part
/// on and right of the diagonal block is multiplied, the rest mirrored —
/// 5/8 of the work. Equal to [`par_gemm_nt`] up to rounding.
///
/// Each panel is one `matrixmultiply::dgemm` call that reads `Bᵀ` through
/// swapped strides and writes straight into C (nothing transposed,
/// allocated per block or copied back); the panels (work 4 : 3 : 2 : 1)
/// go to two tasks of equal work, {0, 3} and {1, 2}, so A's panel and
/// each B column are packed once rather than once per square block.
pub fn par_gemm_nt_sym(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let n = a.nrows();
    let k = a.ncols();
    assert_eq!(b.shape(), (n, k), "par_gemm_nt_sym: shapes");
    if n < 256 {
        return par_gemm_nt(a, b);
    }
    let blk = n.div_ceil(4);
    let starts: Vec<usize> = (0..n).step_by(blk).collect();
    let mut c = DMatrix::<f64>::zeros(n, n);
    // The panels are disjoint regions of C; the address travels as an
    // integer so the closure is Send.
    let c_addr = c.as_mut_ptr() as usize;
    let panel = |r0: usize| {
        let rows = blk.min(n - r0);
        let cols = n - r0;
        let c_ptr = c_addr as *mut f64;
        // SAFETY: A is n × k column-major, so rows r0..r0+rows start at
        // offset r0 with strides (1, n); Bᵀ's columns r0..n are rows of B,
        // starting at offset r0 with strides (n, 1) (row index of Bᵀ =
        // column of B). The C panel (r0.., r0..) starts at r0 + r0·n with
        // strides (1, n); all indices stay inside the matrices, and
        // different panels write disjoint rows of C, which outlives the
        // parallel section.
        unsafe {
            matrixmultiply::dgemm(
                rows,
                k,
                cols,
                1.0,
                a.as_ptr().add(r0),
                1,
                n as isize,
                b.as_ptr().add(r0),
                n as isize,
                1,
                0.0,
                c_ptr.add(r0 + r0 * n),
                1,
                n as isize,
            );
        }
    };
    let groups: Vec<Vec<usize>> = match starts.as_slice() {
        [p0, p1, p2, p3] => vec![vec![*p0, *p3], vec![*p1, *p2]],
        other => other.iter().map(|&r0| vec![r0]).collect(),
    };
    groups
        .par_iter()
        .for_each(|g| g.iter().for_each(|&r0| panel(r0)));
    // Mirror the part right of each diagonal block into the lower
    // triangle, in 32 × 32 tiles so the transposed reads stay in cache.
    const TILE: usize = 32;
    for &r0 in &starts {
        let rows = blk.min(n - r0);
        for i0 in (r0..r0 + rows).step_by(TILE) {
            for j0 in (r0 + rows..n).step_by(TILE) {
                for j in j0..(j0 + TILE).min(n) {
                    for i in i0..(i0 + TILE).min(r0 + rows) {
                        c[(j, i)] = c[(i, j)];
                    }
                }
            }
        }
    }
    c
}

/// Below this many multiply-adds a matrix-vector product runs on the
/// calling thread: at N = 512 (2.6e5) it takes tens of µs, less than
/// waking a worker costs on a loaded machine.
const PAR_GEMV_MIN: usize = 1 << 20;

/// `out = A[r0 .. r0 + out.len(), :] x`, column by column (contiguous).
fn gemv_rows(a: &DMatrix<f64>, x: &DVector<f64>, r0: usize, out: &mut [f64]) {
    let m = a.nrows();
    let rows = out.len();
    for (jj, &xj) in x.iter().enumerate() {
        let col = &a.as_slice()[jj * m + r0..jj * m + r0 + rows];
        for (o, &c) in out.iter_mut().zip(col) {
            *o += c * xj;
        }
    }
}

/// `y = A x`, rows of y computed in parallel blocks for large A.
pub fn par_gemv(a: &DMatrix<f64>, x: &DVector<f64>) -> DVector<f64> {
    let (m, n) = a.shape();
    debug_assert_eq!(n, x.len());
    let mut y = DVector::<f64>::zeros(m);
    if m * n < PAR_GEMV_MIN {
        gemv_rows(a, x, 0, y.as_mut_slice());
        return y;
    }
    let per = m.div_ceil(rayon::current_num_threads().max(1)).max(64);
    y.as_mut_slice()
        .par_chunks_mut(per)
        .enumerate()
        .for_each(|(blk, out)| gemv_rows(a, x, blk * per, out));
    y
}

/// `y = Aᵀ x` (column dot products), in parallel over columns.
pub fn par_gemv_t(a: &DMatrix<f64>, x: &DVector<f64>) -> DVector<f64> {
    let m = a.nrows();
    let xs = x.as_slice();
    let dot = |col: &[f64]| col.iter().zip(xs).map(|(c, v)| c * v).sum::<f64>();
    let v: Vec<f64> = if a.len() < PAR_GEMV_MIN {
        a.as_slice().chunks(m.max(1)).map(dot).collect()
    } else {
        a.as_slice().par_chunks(m.max(1)).map(dot).collect()
    };
    DVector::from_vec(v)
}

/// Rows per register block of [`Panels::gemv`]: 4 AVX2 vectors per output.
const FUSED_ROWS: usize = 16;

/// Below this many matrix entries [`Panels::gemv`] stays on the calling
/// thread. At N = 512 (2.6e5 entries per matrix, 2–4 MB read from L3 per
/// call, tens of µs) splitting the rows over two cores saves more than the
/// hand-off costs; below that the hand-off dominates.
const PAR_FUSED_MIN: usize = 1 << 19;

/// K column-major N × N matrices repacked into row panels for repeated
/// fused matrix-vector products ([`Panels::gemv`]).
///
/// Why: in column-major storage a block of 16 rows touches a new 4 KB page
/// in every column, which the hardware prefetchers do not follow, so a
/// register-blocked pass over J runs at L3 latency instead of bandwidth
/// (≈ 150 µs per step at N = 512). Packed, each block of 16 rows is one
/// contiguous stream: layout `[block][column l][matrix k][row r]`, rows
/// past N zero. Packing costs one copy, repaid after a few steps.
#[derive(Debug)]
pub struct Panels<const K: usize> {
    n: usize,
    data: Vec<f64>,
}

impl<const K: usize> Panels<K> {
    /// Pack K matrices given entrywise: `entries(j_il, j_li)` returns the
    /// K entries at (i, l) as functions of `J_il` and `J_li` (the matrices
    /// used here are all of that form: J, J∘J, (J − Jᵀ)∘J, …), so nothing
    /// but J itself needs to exist in column-major form. `j` is N × N.
    pub fn from_j(j: &DMatrix<f64>, entries: impl Fn(f64, f64) -> [f64; K]) -> Self {
        let n = j.nrows();
        assert_eq!(j.shape(), (n, n), "Panels: J must be square");
        let js = j.as_slice();
        let blocks = n.div_ceil(FUSED_ROWS);
        let mut data = Vec::with_capacity(blocks * n * K * FUSED_ROWS);
        for b in 0..blocks {
            let r0 = b * FUSED_ROWS;
            let rows = FUSED_ROWS.min(n - r0);
            for l in 0..n {
                let mut group = [[0.0; FUSED_ROWS]; K];
                for r in 0..rows {
                    let i = r0 + r;
                    // J_li: row l of column i; the 16 columns of a block
                    // are read as 16 sequential streams.
                    let e = entries(js[l * n + i], js[i * n + l]);
                    for (g, x) in group.iter_mut().zip(e) {
                        g[r] = x;
                    }
                }
                for g in &group {
                    data.extend_from_slice(g);
                }
            }
        }
        Self { n, data }
    }

    /// For every term `(k, x)` of `terms`, `out_t = A_k vecs[x]` (length
    /// N), all from one pass over the panels; sums run over columns in
    /// ascending order with fused multiply-adds where the CPU has them.
    /// The two halves of the rows run on two threads for large N.
    pub fn gemv<const T: usize>(
        &self,
        vecs: &[&[f64]],
        terms: &[(usize, usize); T],
    ) -> [Vec<f64>; T] {
        let n = self.n;
        for v in vecs {
            assert_eq!(v.len(), n, "Panels::gemv: vector length");
        }
        for &(a, x) in terms {
            assert!(a < K && x < vecs.len(), "Panels::gemv: term index");
        }
        let blocks = n.div_ceil(FUSED_ROWS);
        let mut out: [Vec<f64>; T] = std::array::from_fn(|_| vec![0.0; blocks * FUSED_ROWS]);
        let panel = n * K * FUSED_ROWS;
        if n * n * K < PAR_FUSED_MIN || rayon::current_num_threads() < 2 || blocks < 2 {
            let mut outs: Vec<&mut [f64]> = out.iter_mut().map(|o| o.as_mut_slice()).collect();
            panel_rows::<K, T>(&self.data, n, vecs, terms, &mut outs);
        } else {
            let mid = blocks / 2;
            let (dlo, dhi) = self.data.split_at(mid * panel);
            let mut lo = Vec::with_capacity(T);
            let mut hi = Vec::with_capacity(T);
            for o in out.iter_mut() {
                let (a, b) = o.split_at_mut(mid * FUSED_ROWS);
                lo.push(a);
                hi.push(b);
            }
            rayon::join(
                || panel_rows::<K, T>(dlo, n, vecs, terms, &mut lo),
                || panel_rows::<K, T>(dhi, n, vecs, terms, &mut hi),
            );
        }
        for o in out.iter_mut() {
            o.truncate(n);
        }
        out
    }
}

/// The row blocks packed in `data` into `out[t]` (16 rows per block), the
/// AVX2/FMA build chosen at run time.
fn panel_rows<const K: usize, const T: usize>(
    data: &[f64],
    n: usize,
    vecs: &[&[f64]],
    terms: &[(usize, usize); T],
    out: &mut [&mut [f64]],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features this build enables.
            unsafe { panel_rows_avx2::<K, T>(data, n, vecs, terms, out) };
            return;
        }
    }
    panel_rows_generic::<K, T, false>(data, n, vecs, terms, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn panel_rows_avx2<const K: usize, const T: usize>(
    data: &[f64],
    n: usize,
    vecs: &[&[f64]],
    terms: &[(usize, usize); T],
    out: &mut [&mut [f64]],
) {
    // Explicit 4-wide vectors: left to the auto-vectoriser, some term
    // counts (e.g. two terms over one matrix) came out partly scalar with
    // the accumulators spilled to the stack, at twice the time.
    use std::arch::x86_64::{
        __m256d, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_set1_pd, _mm256_setzero_pd,
        _mm256_storeu_pd,
    };
    const R: usize = FUSED_ROWS;
    const Q: usize = R / 4;
    if n == 0 {
        return;
    }
    for (b, panel) in data.chunks_exact(n * K * R).enumerate() {
        let mut acc: [[__m256d; Q]; T] = [[_mm256_setzero_pd(); Q]; T];
        for (l, group) in panel.chunks_exact(K * R).enumerate() {
            for (acc_t, &(a, x)) in acc.iter_mut().zip(terms) {
                let col = &group[a * R..a * R + R];
                let xl = _mm256_set1_pd(vecs[x][l]);
                for (q, acc_q) in acc_t.iter_mut().enumerate() {
                    // SAFETY: `col` has R = 4·Q entries, so 4q..4q+4 is in
                    // bounds (unaligned load).
                    let v = unsafe { _mm256_loadu_pd(col.as_ptr().add(4 * q)) };
                    *acc_q = _mm256_fmadd_pd(v, xl, *acc_q);
                }
            }
        }
        for (o, acc_t) in out.iter_mut().zip(&acc) {
            let dst = &mut o[b * R..b * R + R];
            for (q, acc_q) in acc_t.iter().enumerate() {
                // SAFETY: `dst` has R entries (unaligned store).
                unsafe { _mm256_storeu_pd(dst.as_mut_ptr().add(4 * q), *acc_q) };
            }
        }
    }
}

#[inline(always)]
fn panel_rows_generic<const K: usize, const T: usize, const FMA: bool>(
    data: &[f64],
    n: usize,
    vecs: &[&[f64]],
    terms: &[(usize, usize); T],
    out: &mut [&mut [f64]],
) {
    const R: usize = FUSED_ROWS;
    if n == 0 {
        return;
    }
    for (b, panel) in data.chunks_exact(n * K * R).enumerate() {
        let mut acc = [[0.0f64; R]; T];
        for (l, group) in panel.chunks_exact(K * R).enumerate() {
            for (t, &(a, x)) in terms.iter().enumerate() {
                let col = &group[a * R..a * R + R];
                let xl = vecs[x][l];
                for r in 0..R {
                    acc[t][r] = madd::<FMA>(col[r], xl, acc[t][r]);
                }
            }
        }
        for (o, acc_t) in out.iter_mut().zip(&acc) {
            o[b * R..b * R + R].copy_from_slice(acc_t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_fast_matches_std_tanh() {
        // A few ulps: relative 4e-16 above |x| = 1e-3, absolute 1e-18 below.
        let mut worst: f64 = 0.0;
        let mut x = -25.0;
        while x <= 25.0 {
            let e = tanh_fast(x) - x.tanh();
            let scale = x.tanh().abs().max(1e-3);
            worst = worst.max(e.abs() / scale);
            x += 0.000_731;
        }
        assert!(worst < 1e-15, "worst relative error {worst}");
        for &x in &[0.0, 1e-300, -1e-10, 1e-5, 19.9, 20.1, 700.0, -1e300] {
            assert!(
                (tanh_fast(x) - x.tanh()).abs() <= 2e-16 * x.tanh().abs().max(1e-3),
                "{x}"
            );
        }
        assert!(tanh_fast(f64::NAN).is_nan());
        for &(x, y) in &[
            (0.3f64, -2.0f64),
            (-1e-9, -4.0),
            (25.0, 0.5),
            (0.0, 3.0),
            (-7.0, 1e-300),
        ] {
            let want = x.tanh() * y.tanh();
            let got = tanh_product_fast::<false>(x, y);
            assert!(
                (got - want).abs() <= 1e-15 * want.abs(),
                "{x} {y}: {got} vs {want}"
            );
        }
        assert!(tanh_product_fast::<false>(f64::NAN, 1.0).is_nan());
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("fma") {
            #[target_feature(enable = "fma")]
            fn fused(x: f64) -> f64 {
                tanh_fast_fma(x)
            }
            let mut x: f64 = -25.0;
            while x <= 25.0 {
                // SAFETY: the CPU has FMA.
                let e = unsafe { fused(x) } - x.tanh();
                assert!(e.abs() <= 1e-15 * x.tanh().abs().max(1e-3), "{x}");
                x += 0.0137;
            }
        }
        assert_eq!(tanh_fast(f64::INFINITY), 1.0);
    }

    #[test]
    fn log_2cosh_fast_matches_the_direct_formula() {
        let mut x: f64 = -30.0;
        while x <= 30.0 {
            let want = x.abs() + (-2.0 * x.abs()).exp().ln_1p();
            let got = log_2cosh_fast(x);
            assert!((got - want).abs() <= 4e-16 * want, "{x}: {got} vs {want}");
            x += 0.000_913;
        }
        assert!(log_2cosh_fast(f64::NAN).is_nan());
    }

    #[test]
    fn parallel_products_match_nalgebra() {
        let a = DMatrix::from_fn(70, 90, |i, j| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        let b = DMatrix::from_fn(90, 75, |i, j| ((i * 5 + j * 2) % 13) as f64 - 6.0);
        assert_eq!(par_gemm(&a, &b), &a * &b);
        // Tall and narrow: the row-split path (on two threads if present).
        let tall = DMatrix::from_fn(300, 90, |i, j| ((i * 3 + j * 7) % 17) as f64 - 8.0);
        assert_eq!(par_gemm(&tall, &b), &tall * &b);
        assert_eq!(gemm_tn(&tall.transpose(), &b), &tall * &b);
        let bt = b.transpose();
        assert_eq!(par_gemm_nt(&a, &bt), &a * &b);
        let j = DMatrix::from_fn(300, 300, |i, k| ((i * 7 + k * 3) % 11) as f64 - 5.0);
        let sym = DMatrix::from_fn(300, 300, |i, k| ((i + k) % 5) as f64);
        let jc = &j * &sym;
        assert_eq!(par_gemm_nt_sym(&jc, &j), &jc * j.transpose());
        // Panel products, serial (N = 37, not a multiple of the block)
        // and on two threads (N = 300): same sums as nalgebra's up to
        // rounding (the terms are small integers, so exactly equal).
        for n in [37, 300] {
            let j = DMatrix::from_fn(n, n, |i, k| ((i * 7 + k * 3) % 11) as f64 - 5.0);
            let x = DVector::from_fn(n, |i, _| (i % 7) as f64 - 3.0);
            let y = DVector::from_fn(n, |i, _| (i % 5) as f64 - 2.0);
            let kj = DMatrix::from_fn(n, n, |i, k| (j[(i, k)] - j[(k, i)]) * j[(i, k)]);
            let p = Panels::from_j(&j, |a, at| [a, (a - at) * a]);
            let [jx, jy, kjy] = p.gemv(&[x.as_slice(), y.as_slice()], &[(0, 0), (0, 1), (1, 1)]);
            assert_eq!(DVector::from_vec(jx), &j * &x);
            assert_eq!(DVector::from_vec(jy), &j * &y);
            assert_eq!(DVector::from_vec(kjy), &kj * &y);
        }
        let x = DVector::from_fn(90, |i, _| (i % 7) as f64 - 3.0);
        assert_eq!(par_gemv(&a, &x), &a * &x);
        let y = DVector::from_fn(70, |i, _| (i % 5) as f64 - 2.0);
        assert_eq!(par_gemv_t(&a, &y), a.transpose() * &y);
    }
}
