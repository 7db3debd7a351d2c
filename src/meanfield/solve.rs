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
