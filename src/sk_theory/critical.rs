//! The order/disorder phase boundary (spec §6.5).
//!
//! The transition is the linear instability of m = 0, `dM/dm|₀ = 1`:
//!
//! ```text
//! H0 = 0:  β J0 k0(βΔJ) = 1,            k0(b) = E_x[1 − tanh²(b x)]
//! H0 > 0:  (J0/H0) E_x[tanh(βH0 + βΔJ x)] = 1
//! ```
//!
//! Both left sides increase with β (for H0 = 0, `b k0(b)` increases to
//! `√(2/π)`; for H0 > 0, `E tanh(β(H0 + ΔJ x))` increases to
//! `2Φ(H0/ΔJ) − 1`), so β_c is unique when it exists and is found by
//! bracketing and Brent's method. An ordered phase exists iff J0 > 0 and
//! `ΔJ < √(2/π) J0` (H0 = 0), resp. `(J0/H0)(2Φ(H0/ΔJ) − 1) > 1`, which needs
//! `H0 < J0` (H0 > 0).
//!
//! For large `b = βΔJ` (up to 10⁶ next to the asymptote) the Gaussian
//! expectations are rewritten in the field variable `y = b x`, where the
//! integrand is `sech² y` times a smooth Gaussian factor:
//! `k0(b) = (1/b) ∫ sech²(y) φ(y/b) dy` and (by parts)
//! `E tanh(w + b x) = 1 − ∫ sech²(y) Φ((y − w)/b) dy`.

use super::quadrature::{Rule, normal_cdf};
use std::f64::consts::{FRAC_2_PI, PI};

/// Step and half-width of the trapezoid rule in y = b x (sech² has double
/// poles at ±iπ/2: error ≈ exp(−π²/0.2) ≈ 4e-22; tail sech²(20) ≈ 2e-17).
const Y_STEP: f64 = 0.2;
const Y_HALF_WIDTH: f64 = 20.0;

/// `sech² y = 1 − tanh² y`, computed without cancellation for large |y|.
#[inline]
fn sech2(y: f64) -> f64 {
    let e = (-2.0 * y.abs()).exp();
    4.0 * e / ((1.0 + e) * (1.0 + e))
}

/// `k0(b) = E_x[1 − tanh²(b x)]`, b ≥ 0.
pub(crate) fn k0(b: f64) -> f64 {
    if b <= 1.0 { k0_x(b) } else { k0_y(b) }
}

/// [`k0`] as a trapezoid sum in x.
fn k0_x(b: f64) -> f64 {
    let r = Rule::gaussian(b);
    r.nodes
        .iter()
        .zip(&r.weights)
        .map(|(&x, &p)| p * sech2(x))
        .sum()
}

/// [`k0`] as `(1/b) ∫ sech²(y) φ(y/b) dy` (trapezoid in y = b x), b > 0.
fn k0_y(b: f64) -> f64 {
    let n = (Y_HALF_WIDTH / Y_STEP).round() as i64;
    let inv = 1.0 / b;
    let mut s = 0.0;
    for k in -n..=n {
        let y = k as f64 * Y_STEP;
        let z = y * inv;
        s += sech2(y) * (-0.5 * z * z).exp();
    }
    s * Y_STEP * inv / (2.0 * PI).sqrt()
}

/// `E_x tanh(w + b x)`, b ≥ 0.
pub(crate) fn shifted_tanh_mean(w: f64, b: f64) -> f64 {
    if b <= 1.0 {
        shifted_tanh_mean_x(w, b)
    } else {
        shifted_tanh_mean_y(w, b)
    }
}

/// [`shifted_tanh_mean`] as a trapezoid sum in x.
fn shifted_tanh_mean_x(w: f64, b: f64) -> f64 {
    let r = Rule::gaussian(b);
    r.nodes
        .iter()
        .zip(&r.weights)
        .map(|(&x, &p)| p * (w + x).tanh())
        .sum()
}

/// [`shifted_tanh_mean`] as `1 − ∫ sech²(y) Φ((y − w)/b) dy`, b > 0.
fn shifted_tanh_mean_y(w: f64, b: f64) -> f64 {
    let n = (Y_HALF_WIDTH / Y_STEP).round() as i64;
    let mut s = 0.0;
    for k in -n..=n {
        let y = k as f64 * Y_STEP;
        s += sech2(y) * normal_cdf((y - w) / b);
    }
    1.0 - s * Y_STEP
}

/// Brent's root finder on a bracket `[a, b]` with `f(a)·f(b) ≤ 0`; stops
/// when the bracket is narrower than `4 eps |x| + xtol`.
pub(crate) fn brent<F: FnMut(f64) -> f64>(mut f: F, mut a: f64, mut b: f64, xtol: f64) -> f64 {
    let mut fa = f(a);
    let mut fb = f(b);
    if fa == 0.0 {
        return a;
    }
    if fb == 0.0 {
        return b;
    }
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    for _ in 0..200 {
        if (fb > 0.0) == (fc > 0.0) {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + 0.5 * xtol;
        let mid = 0.5 * (c - b);
        if mid.abs() <= tol || fb == 0.0 {
            return b;
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * mid * s;
                q = 1.0 - s;
            } else {
                let qq = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * mid * qq * (qq - r) - (b - a) * (r - 1.0));
                q = (qq - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * mid * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = mid;
                e = d;
            }
        } else {
            d = mid;
            e = d;
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol { d } else { tol.copysign(mid) };
        fb = f(b);
    }
    b
}

fn valid(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

/// Critical inverse temperature β_c(J0, ΔJ, H0) of the order/disorder
/// transition, or `None` where there is none: J0 ≤ 0, `ΔJ ≥ √(2/π) J0`
/// (H0 = 0), `(J0/H0)(2Φ(H0/ΔJ) − 1) ≤ 1` (H0 > 0, which includes H0 ≥ J0),
/// or invalid arguments (non-finite, ΔJ < 0 or H0 < 0). Relative accuracy
/// ≈ 1e-13.
///
/// ```
/// use isingscope::sk_theory::critical_beta;
/// assert!((critical_beta(1.0, 0.0, 0.0).unwrap() - 1.0).abs() < 1e-14);
/// assert!((critical_beta(1.0, 0.5, 0.0).unwrap() - 1.3485).abs() < 1e-4);
/// assert_eq!(critical_beta(1.0, 0.8, 0.0), None); // beyond √(2/π) ≈ 0.798
/// assert_eq!(critical_beta(1.0, 0.2, 1.0), None); // H0 ≥ J0
/// ```
pub fn critical_beta(j0: f64, dj: f64, h0: f64) -> Option<f64> {
    if !valid(&[j0, dj, h0]) || dj < 0.0 || h0 < 0.0 || j0 <= 0.0 {
        return None;
    }
    if h0 == 0.0 {
        if dj == 0.0 {
            return Some(1.0 / j0);
        }
        // Solve b k0(b) = ΔJ/J0 for b = βΔJ; k0 ≤ 1 gives b ≥ ΔJ/J0.
        let r = dj / j0;
        if r >= (FRAC_2_PI).sqrt() {
            return None;
        }
        let g = |b: f64| b * k0(b) - r;
        let (lo, hi) = expand_bracket(g, r)?;
        let b = brent(g, lo, hi, 1e-15 * hi);
        return Some(b / dj);
    }
    if dj == 0.0 {
        // (J0/H0) tanh(β H0) = 1.
        return (h0 < j0).then(|| (h0 / j0).atanh() / h0);
    }
    let limit = j0 / h0 * libm::erf(h0 / (std::f64::consts::SQRT_2 * dj));
    if limit <= 1.0 {
        return None;
    }
    let psi = |beta: f64| j0 / h0 * shifted_tanh_mean(beta * h0, beta * dj) - 1.0;
    let (lo, hi) = expand_bracket(psi, 1.0 / j0)?;
    Some(brent(psi, lo, hi, 1e-15 * hi))
}

/// Find `[lo, hi]` with `f(lo) ≤ 0 < f(hi)` for an increasing f by doubling
/// from `start` (halving first if needed); `None` past 1e12 (no transition
/// within double precision).
fn expand_bracket<F: Fn(f64) -> f64>(f: F, start: f64) -> Option<(f64, f64)> {
    let mut lo = start;
    while f(lo) > 0.0 {
        lo *= 0.5;
        if lo < 1e-300 {
            return Some((0.0, lo * 2.0));
        }
    }
    let mut hi = 2.0 * lo;
    while f(hi) <= 0.0 {
        lo = hi;
        hi *= 2.0;
        if hi > 1e12 {
            return None;
        }
    }
    Some((lo, hi))
}

/// Critical mean coupling J0_c(β, ΔJ, H0): the phase is ordered iff
/// J0 > J0_c. `J0_c = 1/(β k0(βΔJ))` for H0 = 0 and
/// `H0 / E_x tanh(βH0 + βΔJ x)` for H0 > 0. `None` for β ≤ 0 (no finite
/// J0_c) or invalid arguments.
///
/// ```
/// use isingscope::sk_theory::critical_j0;
/// assert!((critical_j0(1.0, 0.0, 0.0).unwrap() - 1.0).abs() < 1e-15);
/// assert!(critical_j0(1.0, 0.5, 0.0).unwrap() > 1.0);
/// ```
pub fn critical_j0(beta: f64, dj: f64, h0: f64) -> Option<f64> {
    if !valid(&[beta, dj, h0]) || beta <= 0.0 || dj < 0.0 || h0 < 0.0 {
        return None;
    }
    if h0 == 0.0 {
        Some(1.0 / (beta * k0(beta * dj)))
    } else {
        let t = shifted_tanh_mean(beta * h0, beta * dj);
        (t > 0.0).then(|| h0 / t)
    }
}

/// The largest ΔJ for which an ordered phase exists at some β (the
/// asymptote of the critical line): `√(2/π) J0` for H0 = 0 and the root of
/// `(J0/H0)(2Φ(H0/ΔJ) − 1) = 1` for 0 < H0 < J0. `None` if J0 ≤ 0, H0 ≥ J0
/// or the arguments are invalid.
///
/// ```
/// use isingscope::sk_theory::ordered_dj_limit;
/// assert!((ordered_dj_limit(1.0, 0.0).unwrap() - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-15);
/// assert!((ordered_dj_limit(1.0, 0.5).unwrap() - 0.7413).abs() < 1e-4);
/// ```
pub fn ordered_dj_limit(j0: f64, h0: f64) -> Option<f64> {
    if !valid(&[j0, h0]) || j0 <= 0.0 || h0 < 0.0 || h0 >= j0 {
        return None;
    }
    if h0 == 0.0 {
        return Some(FRAC_2_PI.sqrt() * j0);
    }
    // erf(u) = H0/J0 with u = H0/(√2 ΔJ).
    let target = h0 / j0;
    let u = brent(|u| libm::erf(u) - target, 0.0, 10.0, 1e-16);
    Some(h0 / (std::f64::consts::SQRT_2 * u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_k0_forms_agree_at_the_switch_and_limits_hold() {
        // The x-form and the y-form are independent quadratures, each
        // accurate to ~1e-15 (see their step rules): they must agree.
        for b in [0.5, 1.0, 1.7, 3.0] {
            let (x, y) = (k0_x(b), k0_y(b));
            assert!((x - y).abs() < 1e-14, "k0({b}): {x} vs {y}");
            for w in [0.1, 0.7, 2.5] {
                let (x, y) = (shifted_tanh_mean_x(w, b), shifted_tanh_mean_y(w, b));
                assert!((x - y).abs() < 1e-14, "E tanh({w} + {b} x): {x} vs {y}");
            }
        }
        assert_eq!(k0(0.0), 1.0);
        // b k0(b) → √(2/π) − O(1/b²).
        let big = 1e6;
        assert!((big * k0(big) - FRAC_2_PI.sqrt()).abs() < 1e-11);
        // E tanh(w + b x) → erf(w/(√2 b)) as tanh → sign for large w, b.
        let (w, b) = (2000.0, 3000.0);
        let sign_limit = libm::erf(w / (std::f64::consts::SQRT_2 * b));
        assert!((shifted_tanh_mean(w, b) - sign_limit).abs() < 1e-6);
    }

    #[test]
    fn brent_finds_roots() {
        let r = brent(|x| x * x - 2.0, 0.0, 2.0, 1e-16);
        assert!((r - 2f64.sqrt()).abs() < 1e-15);
        let r = brent(|x| x.cos() - x, 0.0, 1.0, 1e-16);
        assert!((r.cos() - r).abs() < 1e-15);
    }
}
