//! Quadrature rules for the Gaussian and uniform-field expectations.
//!
//! **Gaussian expectations** `E_x f(c + s x)`, x ~ N(0, 1), use the trapezoid
//! rule on `[−L, L]` (`L = 8`, tail mass 1.2e-15) with the weights `h φ(x_k)`
//! normalised to sum to one. Why the trapezoid rule and not Gauss–Hermite:
//! the integrands are `tanh`-like functions of `s x` whose nearest complex
//! singularities lie at distance `π/(2s)` from the real axis; the trapezoid
//! error then falls like `exp(−π²/(s h))` (spec §6.8), so choosing the step
//! in *argument space* ([`gaussian_step`]: `s h ≈ 0.25` for large s) gives
//! the same accuracy (≈ 1e-15) for every s, with the node count growing
//! only linearly in s. A fixed
//! low-order Gauss–Hermite rule instead loses accuracy as `tanh(s x)` steepens
//! (βΔJ up to 4 in the phase diagrams), and a high-order one wastes nodes
//! where the integrand is smooth. The step is also capped at [`MAX_STEP`]
//! (error of the Gaussian weight alone ≈ `2 exp(−2π²/h²)` = 6e-18).
//!
//! **Uniform-field averages** over `h ∈ [−w, w]` use the closed forms of
//! [`super::field`]; for small w (where those forms cancel) a 5-point
//! Gauss–Legendre rule ([`GL5_NODES`]), exact to degree 9, error `O(w¹⁰)`.

/// Half-width L of the Gaussian trapezoid grid (in standard deviations).
pub const HALF_WIDTH: f64 = 8.0;
/// `−log` of the target error of a trapezoid rule (e⁻³⁹ ≈ 1e-17, leaving
/// room for the prefactor).
pub const LOG_TOL: f64 = 39.0;
/// Largest trapezoid step in standard deviations (error of the Gaussian
/// weight alone `≈ 2 exp(−2π²/h²)` = 6e-18).
pub const MAX_STEP: f64 = 0.7;

/// Trapezoid step h (in standard deviations) for `E f(c + s x)` with f
/// analytic in the strip `|Im| < π/2` (tanh, sech², their products).
///
/// Shifting the contour to `Im x = d` bounds the error by
/// `exp(−2πd/h + d²/2)` (the Gaussian weight grows off the axis). The best
/// shift `d = 2π/h` is allowed when it stays below the singularity at
/// `π/(2s)`, i.e. `h ≥ 4s`: then the error is `exp(−2π²/h²)` and
/// `h =` [`MAX_STEP`]. Otherwise `d = π/(2s)` and we need
/// `π²/(s h) − π²/(8s²) ≥` [`LOG_TOL`]. For large s this is `s h ≤ π²/39 ≈
/// 0.25` in argument space: the node count grows linearly in s. Measured
/// (`E tanh²(s x)`, `E sech²(s x)` for s = 0.5…4): errors ≤ 2e-15.
pub fn gaussian_step(s: f64) -> f64 {
    if 4.0 * s <= MAX_STEP {
        MAX_STEP
    } else {
        let pi2 = std::f64::consts::PI * std::f64::consts::PI;
        MAX_STEP.min(pi2 / (LOG_TOL * s + pi2 / (8.0 * s)))
    }
}

/// Nodes of the 5-point Gauss–Legendre rule on `[−1, 1]`.
pub const GL5_NODES: [f64; 5] = [
    -0.906_179_845_938_664,
    -0.538_469_310_105_683,
    0.0,
    0.538_469_310_105_683,
    0.906_179_845_938_664,
];
/// Weights of [`GL5_NODES`] divided by 2 (so they average, summing to one).
pub const GL5_WEIGHTS: [f64; 5] = [
    0.236_926_885_056_189_1 / 2.0,
    0.478_628_670_499_366_5 / 2.0,
    0.568_888_888_888_888_9 / 2.0,
    0.478_628_670_499_366_5 / 2.0,
    0.236_926_885_056_189_1 / 2.0,
];

/// Nodes of the 8-point Gauss–Legendre rule on `[−1, 1]` (positive half).
const GL8_NODES: [f64; 4] = [
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
/// Weights of [`GL8_NODES`] (on `[−1, 1]`, summing to 2 over all 8 nodes).
const GL8_WEIGHTS: [f64; 4] = [
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_5,
    0.101_228_536_290_376_3,
];

/// A discrete approximation of a probability distribution on the real line:
/// nodes and weights (summing to one) such that `E f ≈ Σ_k w_k f(x_k)`.
#[derive(Clone, Debug, Default)]
pub struct Rule {
    /// Nodes (in the variable of the distribution).
    pub nodes: Vec<f64>,
    /// Weights, non-negative, summing to one.
    pub weights: Vec<f64>,
}

impl Rule {
    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if the rule has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The trapezoid rule for `s·x`, x ~ N(0, 1): nodes are already scaled
    /// by `s ≥ 0` (so `E f(c + s x) ≈ Σ w_k f(c + node_k)`). For `s = 0` the
    /// rule is the single node 0.
    pub fn gaussian(s: f64) -> Self {
        let mut r = Self::default();
        r.set_gaussian(s);
        r
    }

    /// [`Rule::gaussian`] into existing storage (no allocation once the
    /// vectors are large enough).
    pub fn set_gaussian(&mut self, s: f64) {
        self.nodes.clear();
        self.weights.clear();
        if s <= 0.0 {
            self.nodes.push(0.0);
            self.weights.push(1.0);
            return;
        }
        let h = gaussian_step(s);
        let k_max = (HALF_WIDTH / h).floor() as i64;
        let mut total = 0.0;
        for k in -k_max..=k_max {
            let x = k as f64 * h;
            let w = (-0.5 * x * x).exp();
            self.nodes.push(s * x);
            self.weights.push(w);
            total += w;
        }
        for w in &mut self.weights {
            *w /= total;
        }
    }

    /// A rule for `c = h + σ z`, h ~ U[−w, w], z ~ N(0, 1) (the convolution
    /// of a uniform and a Gaussian distribution), on a uniform grid of step
    /// `δ = σ·gaussian_step(σ)` over `[−w − Lσ, w + Lσ]`, with weights
    /// `δ p(c_k)` normalised, where
    /// `p(c) = [Φ((c + w)/σ) − Φ((c − w)/σ)] / (2w)`.
    ///
    /// The density is entire and grows off the real axis like the Gaussian
    /// it is built from (its Fourier transform is `sinc(wk) exp(−σ²k²/2)`),
    /// so the step rule of [`gaussian_step`] applies unchanged (for w → 0 the
    /// rule becomes the plain Gaussian one). Requires `σ > 0`, `w > 0`.
    pub fn set_uniform_gaussian(&mut self, w: f64, sigma: f64) {
        self.nodes.clear();
        self.weights.clear();
        let delta = sigma * gaussian_step(sigma);
        let half = w + HALF_WIDTH * sigma;
        let k_max = (half / delta).floor() as i64;
        let mut total = 0.0;
        for k in -k_max..=k_max {
            let c = k as f64 * delta;
            let p = uniform_gaussian_density(c, w, sigma);
            self.nodes.push(c);
            self.weights.push(p);
            total += p;
        }
        for p in &mut self.weights {
            *p /= total;
        }
    }

    /// Number of nodes [`Rule::set_uniform_gaussian`] would use.
    pub fn uniform_gaussian_len(w: f64, sigma: f64) -> usize {
        let delta = sigma * gaussian_step(sigma);
        2 * ((w + HALF_WIDTH * sigma) / delta).floor() as usize + 1
    }

    /// Composite 8-point Gauss–Legendre rule for h ~ U[−w, w] with panels
    /// no wider than 1/2 (the integrands are analytic in the strip
    /// `|Im h| < π/2`; on a panel of half-width 1/4 the Bernstein-ellipse
    /// parameter is ≈ 12.6, error ≈ 12.6⁻¹⁶ ≈ 3e-18 relative; with panels of
    /// width 1 it would be 7e-13 for tanh²).
    pub fn set_uniform(&mut self, w: f64) {
        self.nodes.clear();
        self.weights.clear();
        if w <= 0.0 {
            self.nodes.push(0.0);
            self.weights.push(1.0);
            return;
        }
        let panels = (4.0 * w).ceil().max(1.0) as usize;
        let width = 2.0 * w / panels as f64;
        let scale = 0.5 / panels as f64; // weights on [−1,1] sum to 2 per panel
        for p in 0..panels {
            let mid = -w + (p as f64 + 0.5) * width;
            for (n, wt) in GL8_NODES.iter().zip(GL8_WEIGHTS) {
                for sign in [-1.0, 1.0] {
                    self.nodes.push(mid + sign * 0.5 * width * n);
                    self.weights.push(wt * scale);
                }
            }
        }
    }
}

/// Standard normal upper tail `1 − Φ(x) = erfc(x/√2)/2`, accurate in both tails.
pub fn normal_sf(x: f64) -> f64 {
    0.5 * libm::erfc(x * std::f64::consts::FRAC_1_SQRT_2)
}

/// Standard normal CDF `Φ(x)`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// Density of `h + σ z`, h ~ U[−w, w], z ~ N(0, 1), at c:
/// `[Φ((c + w)/σ) − Φ((c − w)/σ)]/(2w)`, computed without cancellation
/// (upper tails for `c ≥ 0`, the density is even; a 5-point Gauss–Legendre
/// average of the Gaussian density when `w < 0.1σ`, where the difference of
/// CDFs would cancel: error `O((w/σ)¹⁰)` < 1e-17 relative).
pub fn uniform_gaussian_density(c: f64, w: f64, sigma: f64) -> f64 {
    let c = c.abs();
    if w < 0.1 * sigma {
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        GL5_NODES
            .iter()
            .zip(GL5_WEIGHTS)
            .map(|(&t, wt)| {
                let z = (c - w * t) / sigma;
                wt * norm * (-0.5 * z * z).exp()
            })
            .sum()
    } else {
        (normal_sf((c - w) / sigma) - normal_sf((c + w) / sigma)) / (2.0 * w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_rule_integrates_moments_and_tanh() {
        // E x² = 1, E x⁴ = 3 for the unit-scale rule, up to the truncation
        // at |x| = 8: ∫_{|x|>8} x² φ ≈ 2·8 φ(8) = 8.1e-14, ∫_{|x|>8} x⁴ φ ≈
        // 2·8³ φ(8) = 5.2e-12 (the integrands used by the solver are bounded,
        // where the truncation costs 1.2e-15).
        let r = Rule::gaussian(1.0);
        let m2: f64 = r.nodes.iter().zip(&r.weights).map(|(x, w)| w * x * x).sum();
        let m4: f64 = r
            .nodes
            .iter()
            .zip(&r.weights)
            .map(|(x, w)| w * x.powi(4))
            .sum();
        assert!(
            (m2 - 1.0).abs() < 1.2e-13 && (m4 - 3.0).abs() < 7e-12,
            "{m2} {m4}"
        );
        // E tanh²(s x) must not depend on the step once resolved: compare the
        // default rule with one at a third of the step (error ≪ 1e-13).
        for s in [0.05, 0.18, 0.3, 0.5, 1.0, 2.0, 4.0, 20.0] {
            let r = Rule::gaussian(s);
            let fine: f64 = {
                let h = gaussian_step(s) / 3.0;
                let k = (HALF_WIDTH / h) as i64;
                let (mut num, mut den) = (0.0, 0.0);
                for i in -k..=k {
                    let x = i as f64 * h;
                    let w = (-0.5 * x * x).exp();
                    num += w * (s * x).tanh().powi(2);
                    den += w;
                }
                num / den
            };
            let v: f64 = r
                .nodes
                .iter()
                .zip(&r.weights)
                .map(|(x, w)| w * x.tanh().powi(2))
                .sum();
            assert!((v - fine).abs() < 1e-13, "s = {s}: {v} vs {fine}");
        }
    }

    #[test]
    fn uniform_gaussian_density_is_normalised_and_continuous_across_branches() {
        for (w, sigma) in [(0.3, 1.0), (2.0, 0.05), (0.01, 0.2), (1.0, 1.0)] {
            let mut r = Rule::default();
            r.set_uniform_gaussian(w, sigma);
            // variance of h + σz = w²/3 + σ².
            let var: f64 = r.nodes.iter().zip(&r.weights).map(|(c, p)| p * c * c).sum();
            assert!(
                (var - (w * w / 3.0 + sigma * sigma)).abs() < 1e-13,
                "{w} {sigma}: {var}"
            );
        }
        // The two formulas agree at the switch w = 0.1σ.
        let (sigma, c) = (1.0, 0.37);
        let w = 0.1 * sigma;
        let a = (normal_sf((c - w) / sigma) - normal_sf((c + w) / sigma)) / (2.0 * w);
        let b = uniform_gaussian_density(c, w * (1.0 - 1e-12), sigma);
        assert!((a - b).abs() < 1e-14, "{a} vs {b}");
    }

    #[test]
    fn uniform_rule_averages_tanh_squared() {
        // ⟨tanh²(h + g)⟩ over h ∈ [−w, w] = 1 − [tanh(g+w) − tanh(g−w)]/(2w).
        for (w, g) in [(0.05, 0.3), (1.0, -0.2), (7.3, 1.5)] {
            let mut r = Rule::default();
            r.set_uniform(w);
            let v: f64 = r
                .nodes
                .iter()
                .zip(&r.weights)
                .map(|(h, p)| p * (h + g).tanh().powi(2))
                .sum();
            let exact = 1.0 - ((g + w).tanh() - (g - w).tanh()) / (2.0 * w);
            assert!((v - exact).abs() < 1e-13, "w = {w}: {v} vs {exact}");
        }
    }
}
