//! Small dense kernels on flat `d × d` buffers for the per-neuron filter and
//! smoother: in-place Cholesky, triangular solves, inverse of a symmetric
//! positive-definite matrix through its Cholesky factor, and `gemm` through
//! nalgebra views (which call matrixmultiply for `d > 5`).
//!
//! Triangular factors are stored row-major in the lower triangle
//! (`l[i * d + j]`, `j <= i`); the strict upper triangle of a factor buffer
//! holds its transpose and is never read by the solves. Symmetric matrices are stored full, so
//! row- and column-major agree.

use nalgebra::{DMatrixViewMut, Dyn, MatrixView};

/// Define `$name` as a call of `$imp`, compiled a second time with AVX2
/// and FMA enabled and chosen at run time when the CPU has them (the
/// baseline x86-64 target has only SSE2; these kernels are 2-lane bound
/// without it).
macro_rules! with_avx2 {
    ($(#[$doc:meta])* $name:ident => $imp:ident ($($arg:ident : $ty:ty),*) $(-> $ret:ty)?) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn fast($($arg: $ty),*) $(-> $ret)? {
                    $imp($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA (checked above),
                    // the only requirement of calling a target-feature fn.
                    return unsafe { fast($($arg),*) };
                }
            }
            $imp($($arg),*)
        }
    };
}

with_avx2!(
    /// Factor the symmetric positive-definite matrix `a` (its lower triangle
    /// is read) in place as `L L^T`; `false` if it is not numerically
    /// positive definite (see `cholesky_in_place_impl`).
    cholesky_in_place => cholesky_in_place_impl(a: &mut [f64], d: usize) -> bool
);
with_avx2!(
    /// Solve `L L^T x = b` in place.
    cholesky_solve => cholesky_solve_impl(l: &[f64], d: usize, b: &mut [f64])
);
with_avx2!(
    /// `out = (L L^T)^{-1}` using `work` for `L^{-1}`.
    cholesky_inverse => cholesky_inverse_impl(l: &[f64], d: usize, work: &mut [f64], out: &mut [f64])
);

/// `sum_k a_k b_k` over the common length, with eight independent
/// accumulators so that the loop vectorises and is not bound by the
/// latency of one running sum.
#[inline(always)]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0.0f64; 8];
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Panel width of the blocked Cholesky factorisation.
const CHOL_BLOCK: usize = 24;

/// Factor the symmetric positive-definite matrix `a` (its lower triangle is
/// read) in place as `L L^T` (both triangles are overwritten). Returns
/// `false` (leaving `a` partly overwritten) if a pivot is not positive and
/// finite, i.e. the matrix is not numerically positive definite.
#[inline(always)]
fn cholesky_in_place_impl(a: &mut [f64], d: usize) -> bool {
    // Right-looking (outer-product) form on the upper triangle, row-major:
    // every inner loop is a contiguous axpy, so it vectorises, and each
    // pivot costs one division. The result U (A = U^T U) is then copied to
    // the lower triangle as L = U^T.
    for i in 0..d {
        for j in 0..i {
            a[j * d + i] = a[i * d + j];
        }
    }
    // Blocked: within a panel of NB rows the rank-1 updates touch only the
    // panel; the trailing matrix then gets one rank-NB update through
    // matrixmultiply's DGEMM (full square, twice the flops of the triangle
    // but several times the speed of the axpy loop for D of about 100).
    let mut kb = 0;
    while kb < d {
        let ke = (kb + CHOL_BLOCK).min(d);
        for j in kb..ke {
            let (head, tail) = a.split_at_mut((j + 1) * d);
            let row_j = &mut head[j * d..];
            let pivot = row_j[j];
            if !(pivot > 0.0 && pivot.is_finite()) {
                return false;
            }
            let u = pivot.sqrt();
            row_j[j] = u;
            let r = 1.0 / u;
            for x in row_j[j + 1..].iter_mut() {
                *x *= r;
            }
            let row_j = &head[j * d..];
            for (i, row_i) in (j + 1..ke).zip(tail.chunks_exact_mut(d)) {
                let f = row_j[i];
                if f != 0.0 {
                    for (x, y) in row_i[i..].iter_mut().zip(&row_j[i..]) {
                        *x -= f * y;
                    }
                }
            }
        }
        if ke < d {
            let m = d - ke;
            let nb = ke - kb;
            // A22 -= U12^T U12, U12 = rows kb..ke, columns ke..d.
            let (top, bottom) = a.split_at_mut(ke * d);
            let u12 = top[kb * d + ke..].as_ptr();
            let c = bottom[ke..].as_mut_ptr();
            // SAFETY: U12 is nb x m inside rows kb..ke of `top` (row stride
            // d, last element at (ke-1)*d + d-1 < ke*d); C is m x m inside
            // rows ke..d of `bottom` starting at column ke (last element at
            // (m-1)*d + ke + m-1 = (d-ke-1)*d + d-1 < m*d). They do not overlap.
            unsafe {
                matrixmultiply::dgemm(
                    m, nb, m, -1.0, u12, 1, d as isize, u12, d as isize, 1, 1.0, c, d as isize, 1,
                );
            }
        }
        kb = ke;
    }
    for i in 0..d {
        for j in 0..i {
            a[i * d + j] = a[j * d + i];
        }
    }
    true
}

/// Solve `L L^T x = b` in place (`l` from [`cholesky_in_place`]).
#[inline(always)]
fn cholesky_solve_impl(l: &[f64], d: usize, b: &mut [f64]) {
    // L y = b
    for i in 0..d {
        let sum = dot(&l[i * d..i * d + i], &b[..i]);
        b[i] = (b[i] - sum) / l[i * d + i];
    }
    // L^T x = y
    for i in (0..d).rev() {
        b[i] /= l[i * d + i];
        let bi = b[i];
        let row = &l[i * d..i * d + i];
        for (bk, lk) in b[..i].iter_mut().zip(row) {
            *bk -= lk * bi;
        }
    }
}

/// `sum_i ln L_ii`, i.e. half the log-determinant of `L L^T`.
pub(crate) fn half_log_det(l: &[f64], d: usize) -> f64 {
    (0..d).map(|i| l[i * d + i].ln()).sum()
}

/// `out = (L L^T)^{-1}` (full symmetric), using `work` (`d * d`) for
/// `L^{-1}`. Costs about `d^3 / 3` multiply-adds.
#[inline(always)]
fn cholesky_inverse_impl(l: &[f64], d: usize, work: &mut [f64], out: &mut [f64]) {
    // Rows of M = L^{-1} (lower triangular): row_i = (e_i - sum_{k<i} L_ik row_k) / L_ii.
    work.fill(0.0);
    for i in 0..d {
        let (done, rest) = work.split_at_mut(i * d);
        let row_i = &mut rest[..d];
        row_i[i] = 1.0;
        for k in 0..i {
            let lik = l[i * d + k];
            if lik != 0.0 {
                let row_k = &done[k * d..k * d + k + 1];
                for (x, y) in row_i[..=k].iter_mut().zip(row_k) {
                    *x -= lik * y;
                }
            }
        }
        let inv = 1.0 / l[i * d + i];
        for x in row_i[..=i].iter_mut() {
            *x *= inv;
        }
    }
    // out = M^T M: out_ij = sum_{k >= max(i,j)} M_ki M_kj; lower triangle first.
    out.fill(0.0);
    for k in 0..d {
        let row_k = &work[k * d..k * d + k + 1];
        for i in 0..=k {
            let mki = row_k[i];
            if mki != 0.0 {
                let out_i = &mut out[i * d..i * d + i + 1];
                for (o, m) in out_i.iter_mut().zip(&row_k[..=i]) {
                    *o += mki * m;
                }
            }
        }
    }
    symmetrize_from_lower(out, d);
}

/// Copy the lower triangle of a row-major `d × d` buffer to the upper one.
pub(crate) fn symmetrize_from_lower(a: &mut [f64], d: usize) {
    for i in 0..d {
        for j in 0..i {
            a[j * d + i] = a[i * d + j];
        }
    }
}

/// Replace `a` by `(a + a^T) / 2`, removing rounding asymmetry.
pub(crate) fn symmetrize(a: &mut [f64], d: usize) {
    for i in 0..d {
        for j in 0..i {
            let m = 0.5 * (a[i * d + j] + a[j * d + i]);
            a[i * d + j] = m;
            a[j * d + i] = m;
        }
    }
}

/// Column-major view of a `d × d` buffer (optionally transposed, for free).
fn view(a: &[f64], d: usize, transposed: bool) -> MatrixView<'_, f64, Dyn, Dyn, Dyn, Dyn> {
    let (rs, cs) = if transposed { (d, 1) } else { (1, d) };
    MatrixView::from_slice_with_strides_generic(a, Dyn(d), Dyn(d), Dyn(rs), Dyn(cs))
}

/// `c = alpha * op(a) * op(b) + beta * c` on column-major `d × d` buffers,
/// `op` = transpose where asked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    c: &mut [f64],
    alpha: f64,
    a: &[f64],
    a_t: bool,
    b: &[f64],
    b_t: bool,
    beta: f64,
    d: usize,
) {
    let mut cv = DMatrixViewMut::from_slice(c, d, d);
    cv.gemm(alpha, &view(a, d, a_t), &view(b, d, b_t), beta);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn spd(d: usize) -> DMatrix<f64> {
        let b = DMatrix::from_fn(d, d, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4);
        &b * b.transpose() + DMatrix::identity(d, d) * 0.3
    }

    #[test]
    fn cholesky_solve_inverse_and_log_det_agree_with_nalgebra() {
        for d in [1, 2, 5, 13, 24, 25, 101] {
            let a = spd(d);
            let mut l: Vec<f64> = a.as_slice().to_vec();
            assert!(cholesky_in_place(&mut l, d));
            let chol = a.clone().cholesky().unwrap();
            let ld = chol.l();
            for i in 0..d {
                for j in 0..=i {
                    assert!((l[i * d + j] - ld[(i, j)]).abs() < 1e-12);
                }
            }
            let det = a.determinant();
            assert!((2.0 * half_log_det(&l, d) - det.ln()).abs() < 1e-10);
            let mut b: Vec<f64> = (0..d).map(|k| k as f64 - 1.5).collect();
            let x = chol.solve(&nalgebra::DVector::from_vec(b.clone()));
            cholesky_solve(&l, d, &mut b);
            for k in 0..d {
                assert!((b[k] - x[k]).abs() < 1e-10);
            }
            let mut work = vec![0.0; d * d];
            let mut inv = vec![0.0; d * d];
            cholesky_inverse(&l, d, &mut work, &mut inv);
            let prod = &a * DMatrix::from_column_slice(d, d, &inv);
            assert!((prod - DMatrix::identity(d, d)).abs().max() < 1e-10);
        }
    }

    #[test]
    fn cholesky_rejects_indefinite() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky_in_place(&mut a, 2));
        let mut nan = vec![f64::NAN];
        assert!(!cholesky_in_place(&mut nan, 1));
    }

    #[test]
    fn gemm_with_transposes() {
        let d = 7;
        let a = DMatrix::from_fn(d, d, |i, j| (i as f64) - 2.0 * j as f64);
        let b = DMatrix::from_fn(d, d, |i, j| (i * j) as f64 * 0.1 + 1.0);
        let mut c = vec![0.0; d * d];
        gemm(&mut c, 1.0, a.as_slice(), false, b.as_slice(), true, 0.0, d);
        let want = &a * b.transpose();
        assert!((DMatrix::from_column_slice(d, d, &c) - want).abs().max() < 1e-12);
    }
}
