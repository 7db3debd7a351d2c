//! Scalar root finding for the TAP-type self-consistency equations.
//!
//! Two equations appear (effective parameters):
//!
//! ```text
//! TAP (Plefka[t−1,t] and Plefka[t], order 2):   m = tanh(g − m V),   m ∈ [−1, 1]
//! Plefka2[t], order 2:                          θ = h − V tanh θ,    θ ∈ [h − |V|, h + |V|]
//! ```
//!
//! Both roots lie in a known bracket whatever the sign of V: for TAP,
//! `F(m) = tanh(g − mV) − m` has `F(−1) ≥ 0 ≥ F(1)`; for the θ equation,
//! `G(θ) = θ − h + V tanh θ` has `G(h − |V|) ≤ 0 ≤ G(h + |V|)`. For V ≥ 0
//! the root is unique.
//!
//! The published code runs plain Newton until `|F| ≤ 1e-15` with no
//! iteration cap; with V ≈ 5, h ≈ 1.9 Newton on G cycles forever (spec
//! §2.6). Here Newton steps are taken only while they stay strictly inside
//! the current bracket, which shrinks with every evaluation; otherwise the
//! step is a bisection. The loop stops at `|F| ≤ 1e-15` (the reference's
//! tolerance), when the step or the bracket falls below a few ulps, or after
//! [`MAX_ITER`] evaluations. Because the bracket always contains a root,
//! the answer is accurate to the bracket width even in the worst case.

/// Absolute tolerance on the residual, as in the reference code.
pub const TOL: f64 = 1e-15;

/// Iteration cap (bisection alone reaches 1e-16 of a width-2 bracket in 55).
pub const MAX_ITER: usize = 100;

/// Lockstep sweeps of [`solve_theta_tanh_batch`] before the remaining
/// entries are finished one at a time (Newton from θ = h usually needs 4–6).
const LOCKSTEP_SWEEPS: usize = 10;

/// Result of one safeguarded Newton solve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Root {
    /// The root estimate.
    pub x: f64,
    /// Function evaluations used.
    pub iterations: usize,
    /// Whether a stopping criterion (not the cap) ended the loop.
    pub converged: bool,
}

/// Safeguarded Newton for `f` with derivative on `[lo, hi]`, where
/// `f(lo)` and `f(hi)` have opposite signs (or one is zero), starting at
/// `x0` (clamped into the bracket). `fdf(x)` returns `(f(x), f'(x))`.
/// Non-finite input yields a non-finite `x`, so callers' divergence checks
/// see it.
pub fn newton_bracketed(
    mut fdf: impl FnMut(f64) -> (f64, f64),
    mut lo: f64,
    mut hi: f64,
    x0: f64,
) -> Root {
    if !(lo.is_finite() && hi.is_finite() && x0.is_finite()) {
        return Root {
            x: f64::NAN,
            iterations: 0,
            converged: false,
        };
    }
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    // Orientation: `rising` if f(lo) ≤ 0 ≤ f(hi).
    let (flo, _) = fdf(lo);
    if flo == 0.0 {
        return Root {
            x: lo,
            iterations: 1,
            converged: true,
        };
    }
    let rising = flo < 0.0;
    let mut x = x0.clamp(lo, hi);
    for it in 1..=MAX_ITER {
        let (f, df) = fdf(x);
        if !f.is_finite() {
            return Root {
                x: f64::NAN,
                iterations: it,
                converged: false,
            };
        }
        if f.abs() <= TOL {
            return Root {
                x,
                iterations: it,
                converged: true,
            };
        }
        // Shrink the bracket around the sign change.
        if (f < 0.0) == rising {
            lo = x;
        } else {
            hi = x;
        }
        let newton = x - f / df;
        let next = if df != 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        let ulps = 4.0 * f64::EPSILON * x.abs().max(1e-300);
        if (next - x).abs() <= ulps || hi - lo <= ulps {
            return Root {
                x: next,
                iterations: it,
                converged: true,
            };
        }
        x = next;
    }
    Root {
        x,
        iterations: MAX_ITER,
        converged: false,
    }
}

/// Solve the TAP equation `m = tanh(g − m V)` for `m ∈ [−1, 1]`, starting
/// from `start` (the reference starts from the previous magnetisation).
#[inline]
pub fn solve_tap(g: f64, v: f64, start: f64) -> f64 {
    if v == 0.0 {
        return g.tanh();
    }
    newton_bracketed(
        |x| {
            let t = (g - x * v).tanh();
            (t - x, -v * (1.0 - t * t) - 1.0)
        },
        -1.0,
        1.0,
        start,
    )
    .x
}

/// Solve `θ = h − V tanh θ`, starting from `θ = h` (as the reference does),
/// and return `tanh θ`.
#[inline]
pub fn solve_theta_tanh(h: f64, v: f64) -> f64 {
    if v == 0.0 {
        return h.tanh();
    }
    let a = v.abs();
    let theta = newton_bracketed(
        |th| {
            let t = th.tanh();
            (th - h + v * t, 1.0 + v * (1.0 - t * t))
        },
        h - a,
        h + a,
        h,
    )
    .x;
    theta.tanh()
}

/// Work arrays for [`solve_theta_tanh_batch`]: the iterate, bracket and
/// done flag of every entry, twice (each sweep reads one copy and writes
/// the other).
#[derive(Clone, Debug, Default)]
pub struct BatchScratch {
    bufs: [[Vec<f64>; 4]; 2],
}

/// Solve `θ_k = h_k − v_k tanh θ_k` for every k and write `tanh θ_k` into
/// `out`: the safeguarded Newton of [`newton_bracketed`] run in lockstep
/// over the whole batch (branch-free, so it vectorises; an AVX2/FMA build
/// is chosen at run time). An entry stops moving once `|G| ≤ TOL` or its
/// step falls below 4 ulps; after a few sweeps the entries still moving
/// are finished by [`newton_bracketed`] from their current bracket.
pub fn solve_theta_tanh_batch(h: &[f64], v: &[f64], out: &mut [f64], ws: &mut BatchScratch) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features this build enables.
            unsafe { batch_avx512(h, v, out, ws) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features this build enables.
            unsafe { batch_avx2(h, v, out, ws) };
            return;
        }
    }
    batch_generic::<false>(h, v, out, ws);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn batch_avx2(h: &[f64], v: &[f64], out: &mut [f64], ws: &mut BatchScratch) {
    batch_generic::<true>(h, v, out, ws);
}

/// The same with 8-wide vectors: the sweep is a long dependent chain (a
/// degree-13 polynomial and up to three divisions), so twice the lanes per
/// chain hides more of its latency, even where 512-bit operations are
/// executed as two 256-bit halves (AMD Zen 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn batch_avx512(h: &[f64], v: &[f64], out: &mut [f64], ws: &mut BatchScratch) {
    batch_generic::<true>(h, v, out, ws);
}

#[inline(always)]
fn batch_generic<const FMA: bool>(h: &[f64], v: &[f64], out: &mut [f64], ws: &mut BatchScratch) {
    use super::kernels::{tanh_fast, tanh_fast_fma};
    let tanh = |x: f64| if FMA { tanh_fast_fma(x) } else { tanh_fast(x) };
    let n = h.len().min(v.len()).min(out.len());
    let (h, v, out) = (&h[..n], &v[..n], &mut out[..n]);
    for buf in ws.bufs.iter_mut().flatten() {
        buf.clear();
        buf.resize(n, 0.0);
    }
    let [cur, nxt] = &mut ws.bufs;
    let [theta, lo, hi, _] = cur;
    for ((((th, l), u), &hk), &vk) in theta
        .iter_mut()
        .zip(lo.iter_mut())
        .zip(hi.iter_mut())
        .zip(h)
        .zip(v)
    {
        let a = vk.abs();
        *th = hk;
        *l = hk - a;
        *u = hk + a;
    }
    // Each sweep reads `src` and writes every entry of `dst` (a converged
    // entry copies itself), so no store is conditional.
    let (mut src, mut dst) = (cur, nxt);
    for _ in 0..LOCKSTEP_SWEEPS {
        let [th_in, lo_in, hi_in, done_in] = &*src;
        let [th_out, lo_out, hi_out, done_out] = &mut *dst;
        let ins = th_in
            .iter()
            .zip(lo_in)
            .zip(hi_in)
            .zip(done_in)
            .zip(h)
            .zip(v);
        let outs = th_out
            .iter_mut()
            .zip(lo_out.iter_mut())
            .zip(hi_out.iter_mut())
            .zip(done_out.iter_mut())
            .zip(out.iter_mut());
        for ((((((&x, &l), &u), &d), &hk), &vk), ((((th, lo), hi), dn), o)) in ins.zip(outs) {
            let t = tanh(x);
            let f = x - hk + vk * t;
            let sech2 = 1.0 - t * t;
            let df = 1.0 + vk * sech2;
            // G'' = −2 v tanh θ sech²θ.
            let d2f = -2.0 * vk * t * sech2;
            // The bracket [h − |v|, h + |v|] has G(lo) ≤ 0 ≤ G(hi).
            let neg = f < 0.0;
            let (l, u) = if neg { (x, u) } else { (l, x) };
            // Halley's step (cubic convergence: from θ = h typically 2
            // steps plus the finishing test below, instead of Newton's
            // 4–5 plus a residual check); a zero or negative denominator
            // gives a step outside the bracket, i.e. bisection.
            let step = 2.0 * f * df / (2.0 * df * df - f * d2f);
            let halley = x - step;
            // Non-short-circuit `&`, `|`: branches here would be
            // if-converted into masked loads and stores, which are
            // microcoded and very slow on AMD Zen.
            let inside = (halley > l) & (halley < u);
            let next = if inside { halley } else { 0.5 * (l + u) };
            let small = (f.abs() <= TOL) | ((next - x).abs() <= 4.0 * f64::EPSILON * x.abs());
            // Finishing on a tiny Halley step: Halley's error obeys
            // e' ≈ K e³ with K = (G''/2G')² − G'''/6G'; for v ≥ 0, G' ≥ 1,
            // |G''| ≤ 0.77 v, |G'''| ≤ 2 v, so K ≤ v/3 + 0.15 v² < v + v².
            // With |step| ≤ 1e-5 (e ≈ step, higher-order terms smaller by
            // a further ~1e-5 v) and step³ (v + v²) ≤ 1e-18, the new
            // iterate is within 1e-18 of the root (tighter than the
            // residual test |G| ≤ 1e-15) and its tanh follows from the
            // addition formula with tanh(step) = step (1 − step²/3) (next
            // term 2 step⁵/15 < 1e-26 relative): no further tanh needed.
            let s3 = step * step * step;
            let finish =
                inside & (vk >= 0.0) & (step.abs() <= 1e-5) & (s3.abs() * (vk + vk * vk) <= 1e-18);
            let tau = step * (1.0 - step * step * (1.0 / 3.0));
            let t_next = (t - tau) / (1.0 - t * tau);
            // NaN input: f is NaN, `small` and `finish` false, `next` NaN:
            // stays NaN.
            let was_done = d > 0.5;
            let stop = was_done | small;
            *th = if stop {
                x
            } else if finish {
                halley
            } else {
                next
            };
            *lo = l;
            *hi = u;
            *dn = if stop | finish { 1.0 } else { 0.0 };
            // tanh θ of the accepted iterate (recomputed, to a few ulps,
            // in later sweeps of the batch); entries still unconverged
            // after the sweeps are overwritten below.
            *o = if !stop & finish { t_next } else { t };
        }
        std::mem::swap(&mut src, &mut dst);
        let [theta, _, _, done] = &*src;
        if done.iter().all(|&d| d > 0.5) || theta.iter().any(|x| x.is_nan()) {
            break;
        }
    }
    // Stragglers (bisection steps, slow cases) finish one by one from
    // their current bracket, so one hard entry does not keep the whole
    // batch sweeping.
    let [theta, lo, hi, done] = &*src;
    let rows = theta.iter().zip(done).zip(lo).zip(hi).zip(h).zip(v);
    for ((((((&th, &d), &l), &u), &hk), &vk), o) in rows.zip(out.iter_mut()) {
        if d > 0.5 {
            continue;
        }
        let root = if th.is_nan() {
            th
        } else {
            newton_bracketed(
                |x| {
                    let t = x.tanh();
                    (x - hk + vk * t, 1.0 + vk * (1.0 - t * t))
                },
                l,
                u,
                th,
            )
            .x
        };
        *o = tanh(root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_root_satisfies_its_equation() {
        for &(g, v, s) in &[
            (0.3, 0.5, 0.0),
            (-2.0, 3.0, 0.9),
            (5.0, 0.01, -1.0),
            (0.0, 10.0, 0.5),
        ] {
            let m = solve_tap(g, v, s);
            assert!((m - (g - m * v).tanh()).abs() < 1e-14, "g={g} v={v}: m={m}");
        }
    }

    #[test]
    fn theta_solver_does_not_cycle_where_plain_newton_does() {
        // Plain Newton from θ = h on θ − h + V tanh θ with V = 5, h = 1.9
        // cycles (spec §2.6). Check that, then that ours converges.
        let (h, v) = (1.9f64, 5.0f64);
        let mut th = h;
        let mut resid = 1.0;
        for _ in 0..1000 {
            let t = th.tanh();
            resid = th - h + v * t;
            th -= resid / (1.0 + v * (1.0 - t * t));
        }
        assert!(resid.abs() > 1e-3, "plain Newton unexpectedly converged");
        let root = newton_bracketed(
            |th| {
                let t = th.tanh();
                (th - h + v * t, 1.0 + v * (1.0 - t * t))
            },
            h - v,
            h + v,
            h,
        );
        assert!(root.converged && root.iterations < MAX_ITER, "{root:?}");
        assert!((root.x - h + v * root.x.tanh()).abs() < 1e-14);
        let t = solve_theta_tanh(h, v);
        assert!((t - root.x.tanh()).abs() < 1e-15);
    }

    #[test]
    fn batch_solver_matches_the_scalar_solver() {
        // Same roots to a few ulps of θ (|θ| ≤ 12 here: 1e-14 absolute in
        // tanh θ), including the cycling case and negative variances.
        let h: Vec<f64> = (0..203).map(|k| (k as f64 * 0.37).sin() * 6.0).collect();
        let v: Vec<f64> = (0..203).map(|k| (k as f64 * 0.91).cos() * 6.0).collect();
        let mut h = h;
        let mut v = v;
        h.push(1.9);
        v.push(5.0);
        let mut out = vec![0.0; h.len()];
        solve_theta_tanh_batch(&h, &v, &mut out, &mut BatchScratch::default());
        for k in 0..h.len() {
            let t = solve_theta_tanh(h[k], v[k]);
            let th = out[k].atanh();
            if v[k] >= 0.0 {
                assert!(
                    (out[k] - t).abs() < 1e-14,
                    "h={} v={}: {} vs {t}",
                    h[k],
                    v[k],
                    out[k]
                );
            }
            // Every answer satisfies its equation (checked where atanh is
            // well conditioned).
            assert!(
                out[k].abs() > 0.999
                    || (th - h[k] + v[k] * out[k]).abs() < 1e-12 * (1.0 + h[k].abs()),
                "h={} v={}",
                h[k],
                v[k]
            );
        }
        let mut nan_out = [0.0];
        solve_theta_tanh_batch(
            &[f64::NAN],
            &[1.0],
            &mut nan_out,
            &mut BatchScratch::default(),
        );
        assert!(nan_out[0].is_nan());
    }

    #[test]
    fn theta_solver_handles_negative_variance_and_nan() {
        // V < 0 can appear when a mean-field C is not positive definite:
        // a root still lies in the bracket.
        let t = solve_theta_tanh(0.2, -3.0);
        let th = t.atanh();
        assert!((th - 0.2 - 3.0 * t).abs() < 1e-12, "{th}");
        assert!(solve_theta_tanh(f64::NAN, 1.0).is_nan());
        assert!(solve_tap(f64::NAN, 1.0, 0.0).is_nan());
    }
}
