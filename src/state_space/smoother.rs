//! Backward pass: Rauch–Tung–Striebel smoother with lag-one covariances
//! (state transition `F = I`), per neuron.
//!
//! ```text
//! theta_s(T-1) = theta_f(T-1),  Sigma_s(T-1) = Sigma_f(T-1); for t = T-2 .. 0:
//! A(t)        = Sigma_f(t) Sigma_o(t+1)^{-1}
//! theta_s(t)  = theta_f(t) + A(t) (theta_s(t+1) - theta_o(t+1))
//! Sigma_s(t)  = Sigma_f(t) + A(t) (Sigma_s(t+1) - Sigma_o(t+1)) A(t)^T
//! C(t)        = A(t) Sigma_s(t+1) = Cov(theta(t), theta(t+1) | all data)
//! ```
//!
//! with `theta_o(t+1) = theta_f(t)` and `Sigma_o(t+1) = Sigma_f(t) + Q`. The
//! predicted precision `P(t+1) = Sigma_o(t+1)^{-1}` comes from the filter
//! (formed there from a Cholesky factor); since `Sigma_f(t) = Sigma_o(t+1) - Q`
//! with `Q` diagonal, the gain is `A(t) = I - Q P(t+1)`, formed in `O(D^2)`,
//! so a step costs two `D^3` products (`A Delta`, then `(A Delta) A^T`). Only what the M-step and the output need is kept: the smoothed
//! means, the diagonals of `Sigma_s(t)`, `Sigma_s(0)` in full and the sums
//!
//! ```text
//! S_k = sum_{t=1}^{T-1} (theta_s(t)_k - theta_s(t-1)_k)^2 + Sigma_s(t)_kk + Sigma_s(t-1)_kk - 2 C(t-1)_kk
//! ```

use super::linalg::{dot, gemm, symmetrize};

/// Reusable buffers of one smoother run (one per worker thread).
pub(crate) struct SmootherScratch {
    d: usize,
    gain: Vec<f64>,
    tmp: Vec<f64>,
    delta: Vec<f64>,
    sig_next: Vec<f64>,
    sig_cur: Vec<f64>,
    diff: Vec<f64>,
    /// Flops counted from the sizes (two `D^3` products a step, multiply-add
    /// = 2) and CPU seconds of this scratch's smoother runs.
    pub(crate) flops: f64,
    pub(crate) secs: f64,
}

impl SmootherScratch {
    pub(crate) fn new(d: usize) -> Self {
        Self {
            d,
            gain: vec![0.0; d * d],
            tmp: vec![0.0; d * d],
            delta: vec![0.0; d * d],
            sig_next: vec![0.0; d * d],
            sig_cur: vec![0.0; d * d],
            diff: vec![0.0; d],
            flops: 0.0,
            secs: 0.0,
        }
    }
}

/// Smooth one neuron. Inputs from the filter: `theta_f` (`T × D`), `sigma_f`
/// and `prec_o` (`T × D × D`), `q` (diagonal of `Q`). Outputs: `theta_s`,
/// `var_s` (`T × D`), `q_sums` (`S_k`, length `D`), `sigma_s0` (`D × D`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn smooth_neuron(
    theta_f: &[f64],
    sigma_f: &[f64],
    prec_o: &[f64],
    q: &[f64],
    theta_s: &mut [f64],
    var_s: &mut [f64],
    q_sums: &mut [f64],
    sigma_s0: &mut [f64],
    s: &mut SmootherScratch,
) {
    let clock = std::time::Instant::now();
    let d = s.d;
    let d2 = d * d;
    let n_steps = theta_f.len() / d;
    let df = d as f64;
    s.flops += (n_steps - 1) as f64 * 4.0 * df * df * df;
    let last = n_steps - 1;
    q_sums.fill(0.0);
    theta_s[last * d..].copy_from_slice(&theta_f[last * d..]);
    s.sig_next.copy_from_slice(&sigma_f[last * d2..]);
    for k in 0..d {
        var_s[last * d + k] = s.sig_next[k * d + k];
    }
    for t in (0..last).rev() {
        let sf = &sigma_f[t * d2..(t + 1) * d2];
        let prec = &prec_o[(t + 1) * d2..(t + 2) * d2];
        // A = Sigma_f(t) P(t+1) = (Sigma_o(t+1) - Q) P(t+1) = I - Q P(t+1)
        // (F = I, Q diagonal): O(D^2) instead of a D^3 product.
        // Column-major: gain[k + l d] = A_kl = delta_kl - q_k P_kl; P is
        // symmetric, so column l of A is read from row l of P (contiguous).
        for l in 0..d {
            let p_l = &prec[l * d..(l + 1) * d];
            let col = &mut s.gain[l * d..(l + 1) * d];
            for ((g, qk), pkl) in col.iter_mut().zip(q).zip(p_l) {
                *g = -qk * pkl;
            }
            col[l] += 1.0;
        }
        // Mean: theta_s(t) = theta_f(t) + A diff, with
        // (A diff)_k = diff_k - q_k (P diff)_k (row k of P, contiguous).
        for k in 0..d {
            s.diff[k] = theta_s[(t + 1) * d + k] - theta_f[t * d + k];
        }
        for k in 0..d {
            let p_k = &prec[k * d..(k + 1) * d];
            theta_s[t * d + k] = theta_f[t * d + k] + s.diff[k] - q[k] * dot(p_k, &s.diff);
        }
        // Lag-one covariance diagonal C(t)_kk = (A Sigma_s(t+1))_kk
        // = Sigma_s(t+1)_kk - q_k (P Sigma_s(t+1))_kk (both symmetric:
        // row k of each, contiguous).
        for k in 0..d {
            let row = &s.sig_next[k * d..(k + 1) * d];
            let c = row[k] - q[k] * dot(&prec[k * d..(k + 1) * d], row);
            let jump = theta_s[(t + 1) * d + k] - theta_s[t * d + k];
            q_sums[k] += jump * jump + s.sig_next[k * d + k] - 2.0 * c;
        }
        // Delta = Sigma_s(t+1) - Sigma_f(t) - Q.
        for ((x, a), b) in s.delta.iter_mut().zip(&s.sig_next).zip(sf) {
            *x = a - b;
        }
        for (k, qk) in q.iter().enumerate() {
            s.delta[k * d + k] -= qk;
        }
        // Sigma_s(t) = Sigma_f(t) + A Delta A^T.
        gemm(&mut s.tmp, 1.0, &s.gain, false, &s.delta, false, 0.0, d);
        s.sig_cur.copy_from_slice(sf);
        gemm(&mut s.sig_cur, 1.0, &s.tmp, false, &s.gain, true, 1.0, d);
        symmetrize(&mut s.sig_cur, d);
        for k in 0..d {
            let v = s.sig_cur[k * d + k];
            var_s[t * d + k] = v;
            q_sums[k] += v;
        }
        std::mem::swap(&mut s.sig_next, &mut s.sig_cur);
    }
    sigma_s0.copy_from_slice(&s.sig_next);
    s.secs += clock.elapsed().as_secs_f64();
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};

    /// With linear-Gaussian quantities the smoother must agree with the
    /// direct solution of the joint Gaussian: build a 1-D random walk with
    /// Gaussian "observations" whose filter is exact (Kalman), run our
    /// smoother on the filter output and compare with the joint posterior
    /// obtained by inverting the full precision matrix.
    #[test]
    fn matches_joint_gaussian_posterior() {
        let n_steps = 6;
        let d = 1;
        let q = [0.3];
        let s0 = 1.5;
        let obs_prec = [2.0, 0.5, 1.0, 3.0, 0.7, 1.2];
        let obs = [0.4, -0.3, 1.0, 0.2, -0.8, 0.5];
        // Kalman filter in information form: posterior precision = prior
        // precision + obs precision; mean = (prior_prec * m_o + obs_prec * y) / prec.
        let mut theta_f = vec![0.0; n_steps];
        let mut sigma_f = vec![0.0; n_steps];
        let mut prec_o = vec![0.0; n_steps];
        for t in 0..n_steps {
            let (m_o, v_o) = if t == 0 {
                (0.0, s0)
            } else {
                (theta_f[t - 1], sigma_f[t - 1] + q[0])
            };
            prec_o[t] = 1.0 / v_o;
            let p = prec_o[t] + obs_prec[t];
            sigma_f[t] = 1.0 / p;
            theta_f[t] = (prec_o[t] * m_o + obs_prec[t] * obs[t]) / p;
        }
        let mut theta_s = vec![0.0; n_steps];
        let mut var_s = vec![0.0; n_steps];
        let mut q_sums = vec![0.0; 1];
        let mut sigma_s0 = vec![0.0; 1];
        let mut scratch = SmootherScratch::new(d);
        smooth_neuron(
            &theta_f,
            &sigma_f,
            &prec_o,
            &q,
            &mut theta_s,
            &mut var_s,
            &mut q_sums,
            &mut sigma_s0,
            &mut scratch,
        );
        // Joint precision of theta(0..T): random-walk prior + diagonal obs.
        let mut jp = DMatrix::<f64>::zeros(n_steps, n_steps);
        jp[(0, 0)] += 1.0 / s0;
        for t in 1..n_steps {
            jp[(t, t)] += 1.0 / q[0];
            jp[(t - 1, t - 1)] += 1.0 / q[0];
            jp[(t, t - 1)] -= 1.0 / q[0];
            jp[(t - 1, t)] -= 1.0 / q[0];
        }
        let mut b = DVector::zeros(n_steps);
        for t in 0..n_steps {
            jp[(t, t)] += obs_prec[t];
            b[t] = obs_prec[t] * obs[t];
        }
        let cov = jp.try_inverse().unwrap();
        let mean = &cov * b;
        let mut want_sums = 0.0;
        for t in 0..n_steps {
            assert!((theta_s[t] - mean[t]).abs() < 1e-12, "mean {t}");
            assert!((var_s[t] - cov[(t, t)]).abs() < 1e-12, "var {t}");
            if t > 0 {
                let jump = mean[t] - mean[t - 1];
                want_sums +=
                    jump * jump + cov[(t, t)] + cov[(t - 1, t - 1)] - 2.0 * cov[(t - 1, t)];
            }
        }
        assert!((q_sums[0] - want_sums).abs() < 1e-12);
        assert!((sigma_s0[0] - cov[(0, 0)]).abs() < 1e-12);
    }
}
