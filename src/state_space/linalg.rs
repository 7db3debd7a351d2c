//! Small dense kernels on flat `d × d` buffers for the per-neuron filter and
//! smoother: in-place Cholesky, triangular solves, inverse of a symmetric
//! positive-definite matrix through its Cholesky factor, and `gemm` through
//! nalgebra views (which call matrixmultiply for `d > 5`).
//!
//! Triangular factors are stored row-major in the lower triangle
//! (`l[i * d + j]`, `j <= i`); the strict upper triangle of a factor buffer
//! is left untouched and never read. Symmetric matrices are stored full, so
//! row- and column-major agree.

use nalgebra::{DMatrixViewMut, Dyn, MatrixView};

/// Factor the symmetric positive-definite matrix `a` (its lower triangle is
/// read) in place as `L L^T`. Returns `false` (leaving `a` partly
/// overwritten) if a pivot is not positive and finite, i.e. the matrix is
/// not numerically positive definite.
pub(crate) fn cholesky_in_place(a: &mut [f64], d: usize) -> bool {
    for i in 0..d {
        let (done, rest) = a.split_at_mut(i * d);
        let row_i = &mut rest[..d];
        for j in 0..i {
            let row_j = &done[j * d..j * d + j + 1];
            let dot: f64 = row_i[..j].iter().zip(&row_j[..j]).map(|(x, y)| x * y).sum();
            row_i[j] = (row_i[j] - dot) / row_j[j];
        }
        let dot: f64 = row_i[..i].iter().map(|x| x * x).sum();
        let pivot = row_i[i] - dot;
        if !(pivot > 0.0 && pivot.is_finite()) {
            return false;
        }
        row_i[i] = pivot.sqrt();
    }
    true
}

/// Solve `L L^T x = b` in place (`l` from [`cholesky_in_place`]).
pub(crate) fn cholesky_solve(l: &[f64], d: usize, b: &mut [f64]) {
    // L y = b
    for i in 0..d {
        let row = &l[i * d..i * d + i];
        let dot: f64 = row.iter().zip(&b[..i]).map(|(x, y)| x * y).sum();
        b[i] = (b[i] - dot) / l[i * d + i];
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
pub(crate) fn cholesky_inverse(l: &[f64], d: usize, work: &mut [f64], out: &mut [f64]) {
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
        for d in [1, 2, 5, 13] {
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
