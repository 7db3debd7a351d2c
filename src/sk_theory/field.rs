//! Averages over the quenched field `h ~ U[−w, w]` (`w = βH0`), in closed
//! form (spec §6.2):
//!
//! ```text
//! ⟨tanh(h+g)⟩_h          = [log cosh(g+w) − log cosh(g−w)] / (2w)
//! ⟨1 − tanh²(h+g)⟩_h     = [tanh(g+w) − tanh(g−w)] / (2w)
//! ⟨log 2cosh(h+g) − (h+g) tanh(h+g)⟩_h = [P(g+w) − P(g−w)] / (2w),
//!     P(y) = −[y log(1 + e^{2y}) + Li₂(−e^{2y})]
//! ⟨tanh(h+A) tanh(h+B)⟩_h = 1 − coth(A−B)·[⟨tanh(h+A)⟩_h − ⟨tanh(h+B)⟩_h]
//! ```
//!
//! The last line follows from `tanh x tanh y = 1 − coth(x−y)(tanh x − tanh y)`
//! with `x − y = A − B` independent of h; it is the spec's `Q(u)` form.
//! For `w <` [`SMALL_WIDTH`] the differences over `2w` would cancel, so a
//! 5-point Gauss–Legendre average is used instead (error `O(w¹⁰)`, < 1e-17).
//! For `w = 0` the functions reduce to the plain ones.

use super::dilog::li2;
use super::quadrature::{GL5_NODES, GL5_WEIGHTS};
use std::f64::consts::{LN_2, PI};

/// Below this half-width the Gauss–Legendre average replaces the closed forms.
pub const SMALL_WIDTH: f64 = 0.05;

/// `log cosh x`, without overflow.
#[inline]
pub fn log_cosh(x: f64) -> f64 {
    let a = x.abs();
    a + (-2.0 * a).exp().ln_1p() - LN_2
}

/// `log 2cosh y − y tanh y`: the entropy (nats) of a ±1 spin in field y.
#[inline]
pub fn spin_entropy(y: f64) -> f64 {
    let a = y.abs();
    // log 2cosh a − a tanh a = log(1 + e^{−2a}) + a (1 − tanh a)
    //                        = log1p(e^{−2a}) + 2a e^{−2a}/(1 + e^{−2a}).
    let e = (-2.0 * a).exp();
    e.ln_1p() + 2.0 * a * e / (1.0 + e)
}

/// Antiderivative of [`spin_entropy`]: `P(y) = −[y log(1+e^{2y}) + Li₂(−e^{2y})]`,
/// evaluated for y > 0 through the inversion formula of Li₂ as
/// `π²/6 − y log(1+e^{−2y}) + Li₂(−e^{−2y})` (no cancelling `2y²` terms).
#[inline]
pub fn spin_entropy_antiderivative(y: f64) -> f64 {
    if y <= 0.0 {
        let e = (2.0 * y).exp();
        -(y * e.ln_1p() + li2(-e))
    } else {
        let e = (-2.0 * y).exp();
        PI * PI / 6.0 - y * e.ln_1p() + li2(-e)
    }
}

/// `log cosh(y + d) − log cosh y` without cancellation for small `d`:
/// `log1p(2 sinh²(d/2) + tanh(y) sinh d)`.
#[inline]
fn log_cosh_increment(y: f64, d: f64) -> f64 {
    if d.abs() < 1.0 {
        let sh = (0.5 * d).sinh();
        (2.0 * sh * sh + y.tanh() * d.sinh()).ln_1p()
    } else {
        log_cosh(y + d) - log_cosh(y)
    }
}

/// The uniform field distribution `h ~ U[−w, w]` and averages over it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FieldAverage {
    /// Half-width `w = βH0 ≥ 0` (effective units).
    pub w: f64,
}

impl FieldAverage {
    /// Averages over `h ~ U[−w, w]`.
    pub fn new(w: f64) -> Self {
        Self { w }
    }

    #[inline]
    fn gl5<F: Fn(f64) -> f64>(&self, f: F) -> f64 {
        GL5_NODES
            .iter()
            .zip(GL5_WEIGHTS)
            .map(|(&t, wt)| wt * f(self.w * t))
            .sum()
    }

    /// `⟨tanh(h + g)⟩_h`.
    #[inline]
    pub fn tanh(&self, g: f64) -> f64 {
        let w = self.w;
        if w == 0.0 {
            g.tanh()
        } else if w < SMALL_WIDTH {
            self.gl5(|h| (g + h).tanh())
        } else {
            (log_cosh(g + w) - log_cosh(g - w)) / (2.0 * w)
        }
    }

    /// `⟨1 − tanh²(h + g)⟩_h`, the mean susceptibility of one spin.
    #[inline]
    pub fn sech2(&self, g: f64) -> f64 {
        let w = self.w;
        if w == 0.0 {
            let t = g.tanh();
            1.0 - t * t
        } else if w < SMALL_WIDTH {
            self.gl5(|h| {
                let t = (g + h).tanh();
                1.0 - t * t
            })
        } else {
            ((g + w).tanh() - (g - w).tanh()) / (2.0 * w)
        }
    }

    /// `(⟨tanh⟩_h, ⟨tanh'⟩_h, ⟨tanh''⟩_h)` at `h + g`, i.e.
    /// `⟨tanh⟩`, `⟨1 − tanh²⟩` and `⟨−2 tanh (1 − tanh²)⟩`, in one call
    /// (two `exp` and two `ln_1p` for the closed forms).
    #[inline]
    pub fn tanh_derivatives(&self, g: f64) -> (f64, f64, f64) {
        let w = self.w;
        let plain = |y: f64| {
            let t = y.tanh();
            let k = 1.0 - t * t;
            (t, k, -2.0 * t * k)
        };
        if w == 0.0 {
            plain(g)
        } else if w < SMALL_WIDTH {
            let (mut t, mut k, mut d) = (0.0, 0.0, 0.0);
            for (&x, wt) in GL5_NODES.iter().zip(GL5_WEIGHTS) {
                let (a, b, c) = plain(g + w * x);
                t += wt * a;
                k += wt * b;
                d += wt * c;
            }
            (t, k, d)
        } else {
            // For y = g ± w with e = exp(−2|y|): log cosh y = |y| + log1p(e) − log 2,
            // tanh y = sign(y)(1 − e)/(1 + e), 1 − tanh² y = 4e/(1 + e)².
            let parts = |y: f64| {
                let a = y.abs();
                let e = (-2.0 * a).exp();
                let lc = a + e.ln_1p();
                let t = ((1.0 - e) / (1.0 + e)).copysign(y);
                let k = 4.0 * e / ((1.0 + e) * (1.0 + e));
                (lc, t, k)
            };
            let (lp, tp, kp) = parts(g + w);
            let (lm, tm, km) = parts(g - w);
            let inv = 1.0 / (2.0 * w);
            ((lp - lm) * inv, (tp - tm) * inv, (kp - km) * inv)
        }
    }

    /// `⟨log 2cosh(h+g) − (h+g) tanh(h+g)⟩_h` (nats).
    #[inline]
    pub fn entropy(&self, g: f64) -> f64 {
        let w = self.w;
        if w == 0.0 {
            spin_entropy(g)
        } else if w < SMALL_WIDTH {
            self.gl5(|h| spin_entropy(g + h))
        } else {
            (spin_entropy_antiderivative(g + w) - spin_entropy_antiderivative(g - w)) / (2.0 * w)
        }
    }

    /// `⟨tanh(h + A) tanh(h + B)⟩_h` (same h in both factors).
    pub fn tanh_product(&self, a: f64, b: f64) -> f64 {
        let w = self.w;
        if w == 0.0 {
            return a.tanh() * b.tanh();
        }
        if w < SMALL_WIDTH {
            return self.gl5(|h| (a + h).tanh() * (b + h).tanh());
        }
        let d = a - b;
        if d == 0.0 {
            return 1.0 - self.sech2(a);
        }
        // ⟨tanh(h+A)⟩ − ⟨tanh(h+B)⟩ = [Δ(B+w, d) − Δ(B−w, d)]/(2w),
        // Δ(y, d) = log cosh(y + d) − log cosh y.
        let diff = (log_cosh_increment(b + w, d) - log_cosh_increment(b - w, d)) / (2.0 * w);
        1.0 - diff / d.tanh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sk_theory::quadrature::Rule;

    fn numeric<F: Fn(f64) -> f64>(w: f64, f: F) -> f64 {
        let mut r = Rule::default();
        r.set_uniform(w);
        r.nodes.iter().zip(&r.weights).map(|(&h, p)| p * f(h)).sum()
    }

    #[test]
    fn closed_forms_match_gauss_legendre_averages() {
        // The composite Gauss–Legendre rule is accurate to ~1e-13 relative
        // (see Rule::set_uniform), independent of the closed forms.
        for w in [0.01, 0.049, 0.051, 0.3, 1.0, 4.0, 9.0] {
            let fa = FieldAverage::new(w);
            for g in [-12.0, -3.1, -0.4, 0.0, 0.2, 1.7, 25.0] {
                let t = numeric(w, |h| (g + h).tanh());
                let k = numeric(w, |h| 1.0 - (g + h).tanh().powi(2));
                let s = numeric(w, |h| spin_entropy(g + h));
                assert!((fa.tanh(g) - t).abs() < 1e-13, "tanh w={w} g={g}");
                assert!((fa.sech2(g) - k).abs() < 1e-13, "sech2 w={w} g={g}");
                assert!(
                    (fa.entropy(g) - s).abs() < 1e-13,
                    "entropy w={w} g={g}: {} vs {s}",
                    fa.entropy(g)
                );
                for b in [g, g + 1e-9, g - 3e-4, g + 0.5, -g + 2.0] {
                    let p = numeric(w, |h| (g + h).tanh() * (b + h).tanh());
                    assert!(
                        (fa.tanh_product(g, b) - p).abs() < 1e-12,
                        "product w={w} a={g} b={b}: {} vs {p}",
                        fa.tanh_product(g, b)
                    );
                }
            }
        }
    }

    #[test]
    fn entropy_antiderivative_differentiates_to_spin_entropy() {
        for y in [-30.0, -2.0, -0.3, 0.0, 0.4, 3.0, 40.0] {
            let h = 1e-5;
            let d = (spin_entropy_antiderivative(y + h) - spin_entropy_antiderivative(y - h))
                / (2.0 * h);
            assert!((d - spin_entropy(y)).abs() < 1e-9, "y = {y}");
        }
        // P(y) + P(−y) = π²/6 (P' is even and P(0) = −Li₂(−1) = π²/12).
        for y in [0.1, 1.0, 7.0] {
            let s = spin_entropy_antiderivative(y) + spin_entropy_antiderivative(-y);
            assert!((s - PI * PI / 6.0).abs() < 1e-15);
        }
        assert!((spin_entropy(0.0) - LN_2).abs() < 1e-16);
    }
}
