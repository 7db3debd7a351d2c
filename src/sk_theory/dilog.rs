//! The real dilogarithm `Li₂(x) = −∫₀ˣ log(1 − t)/t dt` for `x ≤ 1`.
//!
//! Needed by the closed form of the uniform-field average of the
//! conditional entropy (spec §6.2, `P(y) = −[y log(1 + e^{2y}) + Li₂(−e^{2y})]`).
//!
//! Method: the argument is mapped into `[−1, 1/2]` with
//!
//! * inversion, `x < −1`: `Li₂(x) = −π²/6 − ½ log²(−x) − Li₂(1/x)`;
//! * reflection, `1/2 < x ≤ 1`: `Li₂(x) = π²/6 − log x · log(1 − x) − Li₂(1 − x)`;
//!
//! and there summed as the Bernoulli series in `u = −log(1 − x)`,
//! `Li₂(x) = Σ_{n≥0} B_n u^{n+1}/(n+1)! = u − u²/4 + Σ_{k≥1} B_{2k} u^{2k+1}/(2k+1)!`,
//! where `|u| ≤ log 2`. The terms shrink like `(u/2π)^{2k}`, so ten terms
//! reach the double-precision rounding level (relative error ≈ 1e-16).

use std::f64::consts::PI;

/// `B_{2k}/(2k+1)!` for k = 1..=10 (Bernoulli numbers B₂ = 1/6, B₄ = −1/30, …).
const BERNOULLI_COEF: [f64; 10] = [
    1.0 / 6.0 / 6.0,
    -1.0 / 30.0 / 120.0,
    1.0 / 42.0 / 5040.0,
    -1.0 / 30.0 / 362_880.0,
    5.0 / 66.0 / 39_916_800.0,
    -691.0 / 2730.0 / 6_227_020_800.0,
    7.0 / 6.0 / 1_307_674_368_000.0,
    -3617.0 / 510.0 / 355_687_428_096_000.0,
    43_867.0 / 798.0 / 121_645_100_408_832_000.0,
    -174_611.0 / 330.0 / 51_090_942_171_709_440_000.0,
];

/// Bernoulli series for `x ∈ [−1, 1/2]` (`u = −log(1 − x) ∈ [−log 2, log 2]`).
fn li2_core(x: f64) -> f64 {
    let u = -(-x).ln_1p();
    let u2 = u * u;
    // Horner in u² for the odd tail, from the smallest term up.
    let mut tail = 0.0;
    for &c in BERNOULLI_COEF.iter().rev() {
        tail = tail * u2 + c;
    }
    u - 0.25 * u2 + u * u2 * tail
}

/// The real dilogarithm `Li₂(x)` for `x ≤ 1` (NaN for `x > 1` or NaN, where
/// the real-argument function is complex or undefined).
///
/// Accurate to a few units in the last place (≈ 1e-15 relative) on the
/// whole half-line; `Li₂(1) = π²/6`, `Li₂(−∞) = −∞`.
///
/// ```
/// use isingscope::sk_theory::li2;
/// let pi2 = std::f64::consts::PI.powi(2);
/// assert!((li2(-1.0) + pi2 / 12.0).abs() < 1e-15);
/// assert!((li2(1.0) - pi2 / 6.0).abs() < 1e-15);
/// ```
pub fn li2(x: f64) -> f64 {
    if x.is_nan() || x > 1.0 {
        return f64::NAN;
    }
    if x == 1.0 {
        return PI * PI / 6.0;
    }
    if x == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x < -1.0 {
        let l = (-x).ln();
        return -PI * PI / 6.0 - 0.5 * l * l - li2_core(1.0 / x);
    }
    if x > 0.5 {
        return PI * PI / 6.0 - x.ln() * (-x).ln_1p() - li2_core(1.0 - x);
    }
    li2_core(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Li₂(x) = −∫₀ˣ log(1 − t)/t dt` by composite 20-point-per-panel
    /// Gauss–Legendre (independent of the series): the integrand is smooth on
    /// `[x, 0]` for `x ∈ [−4, 0]` and on `[0, x]` for `x ≤ 0.9`.
    fn li2_by_quadrature(x: f64) -> f64 {
        // 8-point Gauss–Legendre nodes and weights on [−1, 1].
        const N: [f64; 4] = [
            0.183_434_642_495_649_8,
            0.525_532_409_916_329,
            0.796_666_477_413_626_7,
            0.960_289_856_497_536_3,
        ];
        const W: [f64; 4] = [
            0.362_683_783_378_362,
            0.313_706_645_877_887_3,
            0.222_381_034_453_374_5,
            0.101_228_536_290_376_3,
        ];
        let panels = 400;
        let h = x / panels as f64;
        let f = |t: f64| if t == 0.0 { -1.0 } else { (-t).ln_1p() / t };
        let mut s = 0.0;
        for p in 0..panels {
            let mid = (p as f64 + 0.5) * h;
            for (n, w) in N.iter().zip(W) {
                s += w * (f(mid + 0.5 * h * n) + f(mid - 0.5 * h * n));
            }
        }
        -0.5 * h * s
    }

    #[test]
    fn special_values() {
        let pi2 = PI * PI;
        let l2 = 2f64.ln();
        assert!((li2(0.0)).abs() == 0.0);
        assert!((li2(1.0) - pi2 / 6.0).abs() < 1e-16);
        assert!((li2(-1.0) + pi2 / 12.0).abs() < 2e-16);
        assert!((li2(0.5) - (pi2 / 12.0 - 0.5 * l2 * l2)).abs() < 2e-16);
        // Li₂(−φ) with φ the golden ratio: −π²/10 − ½ log²φ... use the
        // two-argument identity instead: Li₂(1/φ²) = π²/15 − log²φ.
        let phi = 0.5 * (1.0 + 5f64.sqrt());
        let lp = phi.ln();
        assert!((li2(1.0 / (phi * phi)) - (pi2 / 15.0 - lp * lp)).abs() < 3e-16);
        assert!((li2(-phi) - (-pi2 / 10.0 - lp * lp)).abs() < 5e-16);
        assert!(li2(1.5).is_nan());
        assert!(li2(f64::NAN).is_nan());
    }

    #[test]
    fn matches_direct_quadrature() {
        for &x in &[
            -4.0, -2.5, -1.3, -1.0, -0.7, -0.3, -1e-3, 1e-3, 0.2, 0.5, 0.7, 0.9,
        ] {
            let q = li2_by_quadrature(x);
            assert!(
                (li2(x) - q).abs() < 1e-14 * q.abs().max(1.0),
                "x = {x}: series {} vs quadrature {q}",
                li2(x)
            );
        }
    }

    #[test]
    fn satisfies_functional_equations() {
        // Duplication: Li₂(x) + Li₂(−x) = ½ Li₂(x²), for |x| ≤ 1 and beyond
        // (x ≤ −1: −x ≥ 1 would be complex, so test x ∈ [−1, 1]).
        for i in 0..=200 {
            let x = -1.0 + 2.0 * i as f64 / 200.0;
            let lhs = li2(x) + li2(-x);
            let rhs = 0.5 * li2(x * x);
            assert!((lhs - rhs).abs() < 1e-15, "x = {x}: {lhs} vs {rhs}");
        }
        // Landen: Li₂(x) + Li₂(x/(x−1)) = −½ log²(1 − x), x < 1; this
        // couples the direct, reflected and inverted branches.
        for i in 0..=300 {
            let x = -30.0 + 30.9 * i as f64 / 300.0;
            let lhs = li2(x) + li2(x / (x - 1.0));
            let l = (-x).ln_1p();
            let rhs = -0.5 * l * l;
            assert!(
                (lhs - rhs).abs() < 2e-15 * rhs.abs().max(1.0),
                "x = {x}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn derivative_is_minus_log_one_minus_x_over_x() {
        // Central difference with step 1e-5: truncation error ≈ h²/6·|Li₂'''|
        // ≲ 1e-10, rounding ≈ 1e-16/1e-5 = 1e-11.
        for &x in &[-50.0, -3.0, -1.0, -0.4, 0.1, 0.45, 0.55, 0.8] {
            let h = 1e-5;
            let d = (li2(x + h) - li2(x - h)) / (2.0 * h);
            let exact = -(-x).ln_1p() / x;
            assert!((d - exact).abs() < 1e-9, "x = {x}: {d} vs {exact}");
        }
    }
}
