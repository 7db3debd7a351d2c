//! The order-parameter maps and the stationary solution (see the module
//! docs of [`crate::sk_theory`] for the equations and the method).

use super::critical::{k0, shifted_tanh_mean};
use super::field::{FieldAverage, SMALL_WIDTH};
use super::quadrature::{HALF_WIDTH, Rule, gaussian_step, uniform_gaussian_density};
use super::{Effective, SkPoint, SkStationary};
use crate::{Error, Result};

/// Newton iterations allowed for m or q before giving up.
const MAX_NEWTON: usize = 200;

/// Whether a Newton-type iteration has converged after taking `step`
/// (previous step `prev`): either the step is at rounding level relative
/// to `scale`, or quadratic convergence, estimated from the last two steps
/// (`|error after step| ≈ C step²` with `C ≈ |step|/prev²`), puts the
/// remaining error below 1e-16.
fn converged(step: f64, prev: f64, scale: f64) -> bool {
    let a = step.abs();
    a <= 1e-15 * scale || (prev != 0.0 && a * a * a <= 1e-16 * prev * prev)
}

/// Reusable quadrature storage for the maps (no allocation per evaluation
/// once warmed up).
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    /// Rule for the x-expectation of the magnetisation map (scale b).
    field: Rule,
    field_b: Option<f64>,
    /// Inner rule of the overlap map (scale b√(1−q)).
    inner: Rule,
    /// Outer rule of the overlap map (distribution of h + b√q z).
    outer: Rule,
    /// Scratch for product rules.
    uniform: Rule,
    gauss: Rule,
    /// Lattice path: weights of the inner (x) and outer (c) rules, and
    /// `tanh`, `1 − tanh²` on the argument lattice for the two means.
    lat_x: Vec<f64>,
    lat_c: Vec<f64>,
    lat_t1: Vec<f64>,
    lat_k1: Vec<f64>,
    lat_t2: Vec<f64>,
    lat_k2: Vec<f64>,
}

impl Workspace {
    fn field_rule(&mut self, b: f64) -> &Rule {
        if self.field_b != Some(b) {
            self.field.set_gaussian(b);
            self.field_b = Some(b);
        }
        &self.field
    }

    /// Set `self.outer` to the distribution of `c = h + σ z`,
    /// h ~ U[−w, w], z ~ N(0, 1): the exact-density grid when that is the
    /// cheaper rule, else the product of a Gauss–Legendre rule in h and a
    /// trapezoid rule in z (needed when σ ≪ w, where the density has edges
    /// too sharp for a coarse grid).
    fn set_outer(&mut self, w: f64, sigma: f64) {
        if w == 0.0 {
            self.outer.set_gaussian(sigma);
            return;
        }
        self.uniform.set_uniform(w);
        self.gauss.set_gaussian(sigma);
        let product_len = self.uniform.len() * self.gauss.len();
        if sigma > 0.0 && Rule::uniform_gaussian_len(w, sigma) <= product_len {
            self.outer.set_uniform_gaussian(w, sigma);
        } else {
            self.outer.nodes.clear();
            self.outer.weights.clear();
            for (&h, &ph) in self.uniform.nodes.iter().zip(&self.uniform.weights) {
                for (&z, &pz) in self.gauss.nodes.iter().zip(&self.gauss.weights) {
                    self.outer.nodes.push(h + z);
                    self.outer.weights.push(ph * pz);
                }
            }
        }
    }
}

/// `M(m) = E_x ⟨tanh(h + a m + b x)⟩_h`, `dM/dm = a E_x ⟨1 − tanh²⟩_h` and
/// `d²M/dm² = a² E_x ⟨−2 tanh (1 − tanh²)⟩_h`.
pub(crate) fn magnetisation_map(e: &Effective, m: f64, ws: &mut Workspace) -> (f64, f64, f64) {
    let fa = FieldAverage::new(e.w);
    let rule = ws.field_rule(e.b);
    let g0 = e.a * m;
    let (mut t, mut k, mut d) = (0.0, 0.0, 0.0);
    for (&x, &p) in rule.nodes.iter().zip(&rule.weights) {
        let (ti, ki, di) = fa.tanh_derivatives(g0 + x);
        t += p * ti;
        k += p * ki;
        d += p * di;
    }
    (t, e.a * k, e.a * e.a * d)
}

/// `k = E_x ⟨1 − tanh²(h + a m + b x)⟩_h` and `S/N = E_x ⟨log 2cosh g − g tanh g⟩_h`.
pub(crate) fn susceptibility_and_entropy(e: &Effective, m: f64, ws: &mut Workspace) -> (f64, f64) {
    let fa = FieldAverage::new(e.w);
    let rule = ws.field_rule(e.b);
    let g0 = e.a * m;
    let (mut k, mut s) = (0.0, 0.0);
    for (&x, &p) in rule.nodes.iter().zip(&rule.weights) {
        k += p * fa.sech2(g0 + x);
        s += p * fa.entropy(g0 + x);
    }
    (k, s)
}

/// Relative cost of one `tanh` against one multiply-add (for choosing
/// between the quadrature layouts of the overlap map).
const TANH_COST: usize = 20;

/// The overlap map for fields with means `g1` (time t) and `g2` (time t−1)
/// and previous overlap `q`:
/// `Q = E ⟨tanh(h + g1 + u) tanh(h + g2 + v)⟩_h`, `(u, v)` Gaussian with
/// variances b² and covariance b² q (q ∈ [−1, 1]); returns
/// `(Q, dQ/dq)` with `dQ/dq = b² E⟨(1 − tanh²(·))(1 − tanh²(·))⟩_h`
/// (Price's theorem).
///
/// Computed as `Σ_k W_k F(g1 + c_k) F(g2 + c_k)` with
/// `F(c) = E_x tanh(c + b√(1−q) x)` and `c_k, W_k` a rule for `h + b√q z`.
/// Two layouts, whichever is cheaper:
///
/// * **lattice**: both rules use one common step Δ in argument space (the
///   finer of the two steps [`super::quadrature::gaussian_step`] asks for),
///   so every argument `g + c_k + x_j = g + (k + j)Δ` lies on one lattice:
///   `tanh` is evaluated once per lattice point and the double sum is a
///   correlation of multiply-adds. Needs `σ = b√q > 0` or `w = 0`.
/// * **direct**: each rule with its own step (or the h × z product rule when
///   σ ≪ w), one `tanh` per pair of nodes.
pub(crate) fn overlap_map(
    e: &Effective,
    g1: f64,
    g2: f64,
    q: f64,
    ws: &mut Workspace,
) -> (f64, f64) {
    let q = q.clamp(-1.0, 1.0);
    let sigma = e.b * q.abs().sqrt();
    let s = e.b * (1.0 - q.abs()).sqrt();
    if sigma == 0.0 && s == 0.0 {
        // No coupling disorder: closed form of the field average, Q' = 0.
        let fa = FieldAverage::new(e.w);
        return (fa.tanh_product(g1, g2), 0.0);
    }
    if q >= 0.0 && (e.w == 0.0 || sigma > 0.0) {
        let arg_step = |scale: f64| {
            if scale > 0.0 {
                scale * gaussian_step(scale)
            } else {
                f64::INFINITY
            }
        };
        let delta = arg_step(s).min(arg_step(sigma));
        // Costs in f64: with σ or s tiny (q → 1 deep in the ordered phase)
        // the lattice would need astronomically many nodes, and the counts
        // would overflow usize.
        let kx = (HALF_WIDTH * s / delta).floor();
        let kc = ((e.w + HALF_WIDTH * sigma) / delta).floor();
        let means = if g1 == g2 { 1.0 } else { 2.0 };
        let tanh_cost = TANH_COST as f64;
        let lattice_cost = (2.0 * kc + 1.0) * (2.0 * kx + 1.0) * 2.0 * means
            + (2.0 * (kc + kx) + 1.0) * tanh_cost * means;
        let direct_cost =
            direct_outer_len(e.w, sigma) as f64 * gaussian_len(s) as f64 * tanh_cost * means;
        if lattice_cost <= direct_cost {
            return overlap_lattice(e, g1, g2, sigma, s, delta, kc as usize, kx as usize, ws);
        }
    }
    overlap_direct(e, g1, g2, q, sigma, s, ws)
}

/// Nodes of [`Rule::gaussian`] at scale s.
fn gaussian_len(s: f64) -> usize {
    if s > 0.0 {
        2 * (HALF_WIDTH / gaussian_step(s)).floor() as usize + 1
    } else {
        1
    }
}

/// Nodes of the outer rule [`Workspace::set_outer`] would build.
fn direct_outer_len(w: f64, sigma: f64) -> usize {
    if w == 0.0 {
        return gaussian_len(sigma);
    }
    let product = 8 * (4.0 * w).ceil().max(1.0) as usize * gaussian_len(sigma);
    if sigma > 0.0 {
        Rule::uniform_gaussian_len(w, sigma).min(product)
    } else {
        product
    }
}

/// The lattice layout of [`overlap_map`] (q ≥ 0; σ > 0 or w = 0).
#[allow(clippy::too_many_arguments)]
fn overlap_lattice(
    e: &Effective,
    g1: f64,
    g2: f64,
    sigma: f64,
    s: f64,
    delta: f64,
    kc: usize,
    kx: usize,
    ws: &mut Workspace,
) -> (f64, f64) {
    // Inner weights φ(jΔ/s), outer weights φ(kΔ/σ) (w = 0) or the density
    // of h + σz at kΔ; both normalised.
    fill_weights(&mut ws.lat_x, kx, |j| {
        let x = j * delta / s;
        (-0.5 * x * x).exp()
    });
    if e.w == 0.0 {
        fill_weights(&mut ws.lat_c, kc, |k| {
            let z = k * delta / sigma;
            (-0.5 * z * z).exp()
        });
    } else {
        fill_weights(&mut ws.lat_c, kc, |k| {
            uniform_gaussian_density(k * delta, e.w, sigma)
        });
    }
    let half = kc + kx;
    fill_lattice(&mut ws.lat_t1, &mut ws.lat_k1, g1, delta, half);
    let same = g1 == g2;
    if !same {
        fill_lattice(&mut ws.lat_t2, &mut ws.lat_k2, g2, delta, half);
    }
    let nx = 2 * kx + 1;
    let (mut qv, mut dq) = (0.0, 0.0);
    for (k, &wk) in ws.lat_c.iter().enumerate() {
        // Outer node c_k = (k − kc)Δ; inner node x_j = (j − kx)Δ; their sum
        // is lattice index (k − kc) + (j − kx) + half = k + j.
        let t1 = dot(&ws.lat_x, &ws.lat_t1[k..k + nx]);
        let k1 = dot(&ws.lat_x, &ws.lat_k1[k..k + nx]);
        if same {
            qv += wk * t1 * t1;
            dq += wk * k1 * k1;
        } else {
            let t2 = dot(&ws.lat_x, &ws.lat_t2[k..k + nx]);
            let k2 = dot(&ws.lat_x, &ws.lat_k2[k..k + nx]);
            qv += wk * t1 * t2;
            dq += wk * k1 * k2;
        }
    }
    (qv, e.b * e.b * dq)
}

/// `out[i] = f(i − half) / Σ f` for i = 0..=2·half (f symmetric, ≥ 0).
fn fill_weights<F: Fn(f64) -> f64>(out: &mut Vec<f64>, half: usize, f: F) {
    out.clear();
    out.extend((0..=2 * half).map(|i| f(i as f64 - half as f64)));
    let total: f64 = out.iter().sum();
    for v in out.iter_mut() {
        *v /= total;
    }
}

/// `tanh(g + nΔ)` and `1 − tanh²(g + nΔ)` for n = −half..=half.
fn fill_lattice(t: &mut Vec<f64>, k: &mut Vec<f64>, g: f64, delta: f64, half: usize) {
    t.clear();
    k.clear();
    for i in 0..=2 * half {
        let th = (g + (i as f64 - half as f64) * delta).tanh();
        t.push(th);
        k.push(1.0 - th * th);
    }
}

/// Dot product, in four independent partial sums (lets the compiler use
/// vector registers; the order differs from a plain loop only by rounding).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..4 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The direct layout of [`overlap_map`]: one `tanh` per pair of nodes.
fn overlap_direct(
    e: &Effective,
    g1: f64,
    g2: f64,
    q: f64,
    sigma: f64,
    s: f64,
    ws: &mut Workspace,
) -> (f64, f64) {
    ws.inner.set_gaussian(s);
    if q < 0.0 {
        ws.uniform.set_uniform(e.w);
        ws.gauss.set_gaussian(sigma);
    } else {
        ws.set_outer(e.w, sigma);
    }
    let inner = &ws.inner;
    let f = |c: f64| -> (f64, f64) {
        let (mut t, mut k) = (0.0, 0.0);
        for (&x, &p) in inner.nodes.iter().zip(&inner.weights) {
            let th = (c + x).tanh();
            t += p * th;
            k += p * (1.0 - th * th);
        }
        (t, k)
    };
    let (mut qv, mut dq) = (0.0, 0.0);
    if q < 0.0 {
        // Anti-correlated Gaussian parts (only in transients with J0 < 0):
        // u = h + g1 + σz + s x₁, v = h + g2 − σz + s x₂; h and z separately.
        for (&h, &ph) in ws.uniform.nodes.iter().zip(&ws.uniform.weights) {
            for (&z, &pz) in ws.gauss.nodes.iter().zip(&ws.gauss.weights) {
                let (t1, k1) = f(g1 + h + z);
                let (t2, k2) = f(g2 + h - z);
                qv += ph * pz * t1 * t2;
                dq += ph * pz * k1 * k2;
            }
        }
        return (qv, e.b * e.b * dq);
    }
    let same = g1 == g2;
    for (&c, &wk) in ws.outer.nodes.iter().zip(&ws.outer.weights) {
        let (t1, k1) = f(g1 + c);
        let (t2, k2) = if same { (t1, k1) } else { f(g2 + c) };
        qv += wk * t1 * t2;
        dq += wk * k1 * k2;
    }
    (qv, e.b * e.b * dq)
}

/// Slope of the magnetisation map at m = 0: the phase is ordered iff it
/// exceeds 1. Evaluated as in [`super::critical`] (`a k0(b)` for H0 = 0,
/// `(a/w) E tanh(w + b x)` for H0 > 0: one `tanh` per node, and the same
/// numbers that locate β_c and J0_c), except for tiny w where the quotient
/// would cancel.
pub(crate) fn slope_at_zero(e: &Effective, ws: &mut Workspace) -> f64 {
    if e.w == 0.0 {
        e.a * k0(e.b)
    } else if e.w >= SMALL_WIDTH {
        e.a / e.w * shifted_tanh_mean(e.w, e.b)
    } else {
        magnetisation_map(e, 0.0, ws).1
    }
}

/// The positive root of `M(m) = m` (0 if the m = 0 solution is stable).
/// Halley's method (Newton's with the curvature) from the right of the
/// root: M is concave on m > 0, so the iterates approach the root from the
/// right; a bracket guards against rounding near β_c.
pub(crate) fn solve_m(
    e: &Effective,
    guess: Option<f64>,
    ws: &mut Workspace,
) -> Result<(f64, bool)> {
    if e.a <= 0.0 || slope_at_zero(e, ws) <= 1.0 {
        return Ok((0.0, false));
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    let mut m = match guess {
        Some(g) if g > 0.0 && g < 1.0 => g,
        _ => 1.0,
    };
    let mut prev_step = 0.0;
    for it in 0..MAX_NEWTON {
        let (mv, dm, d2m) = magnetisation_map(e, m, ws);
        let f = mv - m;
        if !f.is_finite() {
            return Err(Error::Diverged {
                method: "SK magnetisation (Halley)".into(),
                step: it + 1,
                reason: format!("non-finite map value at m = {m}"),
            });
        }
        if f == 0.0 {
            return Ok((m, true));
        }
        if f > 0.0 {
            lo = lo.max(m);
        } else {
            hi = hi.min(m);
        }
        // Halley's step (cubic convergence; M'' is free with the closed
        // forms), Newton's if Halley's denominator degenerates.
        let fp = dm - 1.0;
        let halley = 2.0 * fp * fp - f * d2m;
        let mut next = if fp < 0.0 && halley > 0.0 {
            m - 2.0 * f * fp / halley
        } else if fp < 0.0 {
            m - f / fp
        } else {
            f64::NAN
        };
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if converged(next - m, prev_step, m) || hi - lo <= 2e-16 * hi {
            return Ok((next, true));
        }
        prev_step = next - m;
        m = next;
    }
    // Only reached extremely close to β_c, where M(m) − m is below the
    // rounding level for every m in the bracket: any bracket point is as good.
    Ok((0.5 * (lo + hi), true))
}

/// The root of `Q(q) = q` in `[m², 1]` for fields with mean `g` (both times).
/// Newton from the left (`q = m²` is a lower bound by Jensen); Q is convex
/// and increasing, so the iterates increase monotonically to the root.
pub(crate) fn solve_q(
    e: &Effective,
    g: f64,
    m: f64,
    guess: Option<f64>,
    ws: &mut Workspace,
) -> Result<f64> {
    let (mut lo, mut hi) = ((m * m).min(1.0), 1.0f64);
    let mut q = match guess {
        Some(g) if g > lo && g < hi => g,
        _ => lo,
    };
    let mut prev_step = 0.0;
    for it in 0..MAX_NEWTON {
        let (qv, dq) = overlap_map(e, g, g, q, ws);
        let r = qv - q;
        if !r.is_finite() {
            return Err(Error::Diverged {
                method: "SK self-overlap (Newton)".into(),
                step: it + 1,
                reason: format!("non-finite map value at q = {q}"),
            });
        }
        if r == 0.0 {
            return Ok(q);
        }
        if r > 0.0 {
            lo = lo.max(q);
        } else {
            hi = hi.min(q);
        }
        let rp = dq - 1.0;
        let mut next = if rp < 0.0 { q - r / rp } else { f64::NAN };
        if !(next >= lo && next <= hi) {
            next = 0.5 * (lo + hi);
        }
        if converged(next - q, prev_step, 1.0) || hi - lo <= 1e-15 {
            return Ok(next);
        }
        prev_step = next - q;
        q = next;
    }
    Ok(0.5 * (lo + hi))
}

/// Solve the stationary equations at one parameter point.
///
/// Errors only for invalid parameters (non-finite, or negative β, ΔJ, H0).
///
/// Cost (release build): a few µs in the disordered phase with H0 = 0,
/// 30–100 µs for ordered points or H0 > 0 with βΔJ ≲ 1, ≈ 0.1–0.3 ms at
/// βΔJ ≈ 3. The q solve grows like (βΔJ)² (the argument lattice must
/// resolve tanh on a Gaussian of width βΔJ in two directions): ≈ 1 ms at
/// βΔJ = 20; and like βH0 for wide field distributions.
///
/// ```
/// use isingscope::sk_theory::{solve_stationary, SkPoint};
/// // β = 0: no order, maximal conditional entropy log 2.
/// let s = solve_stationary(&SkPoint { beta: 0.0, j0: 1.0, dj: 0.5, h0: 0.0 }).unwrap();
/// assert_eq!((s.m, s.q, s.sigma_per_n), (0.0, 0.0, 0.0));
/// assert!((s.s_per_n - 2f64.ln()).abs() < 1e-15);
/// // Deep in the ordered phase of the reference sweep (J0 = 1, ΔJ = 0.5).
/// let s = solve_stationary(&SkPoint { beta: 2.0, j0: 1.0, dj: 0.5, h0: 0.0 }).unwrap();
/// assert!(s.ordered && s.m > 0.7 && s.q > s.m * s.m);
/// ```
pub fn solve_stationary(p: &SkPoint) -> Result<SkStationary> {
    solve_stationary_near(p, None)
}

/// [`solve_stationary`] with a nearby solution as the starting guess (a
/// neighbouring grid point or the previous slider position). The answer
/// does not depend on the guess (the Newton iterations are safeguarded and
/// converge to the same root); it only saves iterations.
pub fn solve_stationary_near(p: &SkPoint, guess: Option<&SkStationary>) -> Result<SkStationary> {
    p.validate()?;
    let mut ws = Workspace::default();
    solve_with(p, guess, &mut ws)
}

/// [`solve_stationary_near`] with caller-owned storage.
pub(crate) fn solve_with(
    p: &SkPoint,
    guess: Option<&SkStationary>,
    ws: &mut Workspace,
) -> Result<SkStationary> {
    let e = p.effective();
    let (m, ordered) = solve_m(&e, guess.filter(|g| g.ordered).map(|g| g.m), ws)?;
    let g = e.a * m;
    let q = if e.w == 0.0 && m == 0.0 {
        0.0
    } else {
        solve_q(&e, g, m, guess.map(|g| g.q), ws)?
    };
    let (k, s) = susceptibility_and_entropy(&e, m, ws);
    let sigma = e.b * e.b * (1.0 - q) * k;
    Ok(SkStationary {
        m,
        q,
        k,
        sigma_per_n: sigma,
        s_per_n: s,
        sr_per_n: s + sigma,
        ordered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sk_theory::field::FieldAverage;

    /// The spec's route for the q-map: a 2-D trapezoid over (x, y) with the
    /// closed-form uniform average of the tanh product, on a fine grid.
    fn overlap_map_spec_route(e: &Effective, g1: f64, g2: f64, q: f64) -> f64 {
        let fa = FieldAverage::new(e.w);
        let n = 801;
        let h = 20.0 / (n - 1) as f64;
        let phi: Vec<f64> = (0..n)
            .map(|i| {
                let x = -10.0 + i as f64 * h;
                (-0.5 * x * x).exp()
            })
            .collect();
        let norm: f64 = phi.iter().sum();
        let r = (1.0 - q * q).sqrt();
        let mut acc = 0.0;
        for i in 0..n {
            let x = -10.0 + i as f64 * h;
            let a = g1 + e.b * x;
            for j in 0..n {
                let y = -10.0 + j as f64 * h;
                let b = g2 + e.b * (q * x + r * y);
                acc += phi[i] * phi[j] * fa.tanh_product(a, b);
            }
        }
        acc / (norm * norm)
    }

    #[test]
    fn overlap_map_matches_the_two_dimensional_closed_form_route() {
        // Covers the density grid (w ≳ σ), the product rule (σ ≪ w), w = 0
        // and unequal means (the transient). Step 0.025 on [−10, 10]: the
        // 2-D trapezoid error exp(−π²/(b·0.025)) ≈ 1e-86 for b ≤ 2.
        let cases = [
            (
                Effective {
                    a: 1.2,
                    b: 0.6,
                    w: 0.0,
                },
                0.3,
                0.3,
                0.4,
            ),
            (
                Effective {
                    a: 1.2,
                    b: 1.5,
                    w: 0.8,
                },
                0.2,
                0.2,
                0.3,
            ),
            (
                Effective {
                    a: 1.0,
                    b: 0.05,
                    w: 1.5,
                },
                0.1,
                0.1,
                0.2,
            ),
            (
                Effective {
                    a: 1.0,
                    b: 0.4,
                    w: 0.02,
                },
                0.4,
                -0.3,
                0.7,
            ),
            (
                Effective {
                    a: 1.0,
                    b: 2.0,
                    w: 3.0,
                },
                -0.5,
                0.9,
                0.05,
            ),
            (
                Effective {
                    a: 1.0,
                    b: 0.005,
                    w: 2.0,
                },
                0.1,
                0.1,
                0.2,
            ),
        ];
        let mut ws = Workspace::default();
        for (e, g1, g2, q) in cases {
            let fast = overlap_map(&e, g1, g2, q, &mut ws).0;
            let slow = overlap_map_spec_route(&e, g1, g2, q);
            assert!(
                (fast - slow).abs() < 1e-11,
                "{e:?} g1={g1} g2={g2} q={q}: {fast} vs {slow}"
            );
        }
    }

    #[test]
    fn lattice_and_direct_layouts_agree() {
        // The two layouts of the overlap map use different nodes; each is
        // accurate to ~1e-15, so they must agree to rounding level.
        let mut ws = Workspace::default();
        for (e, g1, g2, q) in [
            (
                Effective {
                    a: 1.0,
                    b: 2.8,
                    w: 0.0,
                },
                0.9,
                0.9,
                0.6f64,
            ),
            (
                Effective {
                    a: 1.0,
                    b: 0.7,
                    w: 0.0,
                },
                0.2,
                -0.4,
                0.3,
            ),
            (
                Effective {
                    a: 1.0,
                    b: 0.16,
                    w: 0.4,
                },
                0.0,
                0.0,
                0.05,
            ),
            (
                Effective {
                    a: 1.0,
                    b: 3.0,
                    w: 2.0,
                },
                0.5,
                0.5,
                0.9,
            ),
            (
                Effective {
                    a: 1.0,
                    b: 1.0,
                    w: 0.01,
                },
                0.3,
                0.1,
                0.99,
            ),
        ] {
            let sigma = e.b * q.sqrt();
            let s = e.b * (1.0 - q).sqrt();
            let step = |x: f64| x * gaussian_step(x);
            let delta = step(s).min(step(sigma));
            let kx = (HALF_WIDTH * s / delta).floor() as usize;
            let kc = ((e.w + HALF_WIDTH * sigma) / delta).floor() as usize;
            let lat = overlap_lattice(&e, g1, g2, sigma, s, delta, kc, kx, &mut ws);
            let dir = overlap_direct(&e, g1, g2, q, sigma, s, &mut ws);
            assert!(
                (lat.0 - dir.0).abs() < 1e-14,
                "{e:?} q={q}: {lat:?} vs {dir:?}"
            );
            assert!(
                (lat.1 - dir.1).abs() < 1e-13 * e.b * e.b,
                "{e:?} q={q}: {lat:?} vs {dir:?}"
            );
        }
    }

    #[test]
    fn map_derivatives_match_finite_differences() {
        let mut ws = Workspace::default();
        for e in [
            Effective {
                a: 1.5,
                b: 0.7,
                w: 0.0,
            },
            Effective {
                a: 1.5,
                b: 2.5,
                w: 0.6,
            },
        ] {
            for m in [0.1, 0.6] {
                let h = 1e-6;
                let d = (magnetisation_map(&e, m + h, &mut ws).0
                    - magnetisation_map(&e, m - h, &mut ws).0)
                    / (2.0 * h);
                let a = magnetisation_map(&e, m, &mut ws).1;
                assert!((d - a).abs() < 1e-8, "{e:?}: dM {d} vs {a}");
                let d2 = (magnetisation_map(&e, m + h, &mut ws).1
                    - magnetisation_map(&e, m - h, &mut ws).1)
                    / (2.0 * h);
                let a2 = magnetisation_map(&e, m, &mut ws).2;
                assert!((d2 - a2).abs() < 1e-8, "{e:?}: d2M {d2} vs {a2}");
            }
            for q in [0.2, 0.7] {
                let h = 1e-6;
                let g = 0.4;
                let d = (overlap_map(&e, g, g, q + h, &mut ws).0
                    - overlap_map(&e, g, g, q - h, &mut ws).0)
                    / (2.0 * h);
                let a = overlap_map(&e, g, g, q, &mut ws).1;
                assert!((d - a).abs() < 1e-7, "{e:?}: dQ {d} vs {a}");
            }
        }
    }

    #[test]
    fn slope_at_zero_agrees_with_the_magnetisation_map() {
        // Two independent routes: closed-form field averages in the map,
        // the β_c functions of `critical` in `slope_at_zero`.
        let mut ws = Workspace::default();
        for e in [
            Effective {
                a: 1.3,
                b: 0.0,
                w: 0.0,
            },
            Effective {
                a: 1.3,
                b: 0.6,
                w: 0.0,
            },
            Effective {
                a: 1.3,
                b: 2.5,
                w: 0.0,
            },
            Effective {
                a: 1.3,
                b: 0.4,
                w: 0.3,
            },
            Effective {
                a: 1.3,
                b: 3.0,
                w: 2.0,
            },
            Effective {
                a: 1.3,
                b: 0.2,
                w: 0.01,
            },
        ] {
            let (a, b) = (
                slope_at_zero(&e, &mut ws),
                magnetisation_map(&e, 0.0, &mut ws).1,
            );
            assert!((a - b).abs() < 1e-14, "{e:?}: {a} vs {b}");
        }
    }

    #[test]
    fn invalid_points_are_rejected() {
        for p in [
            SkPoint {
                beta: f64::NAN,
                j0: 1.0,
                dj: 0.5,
                h0: 0.0,
            },
            SkPoint {
                beta: 1.0,
                j0: 1.0,
                dj: -0.5,
                h0: 0.0,
            },
            SkPoint {
                beta: -1.0,
                j0: 1.0,
                dj: 0.5,
                h0: 0.0,
            },
            SkPoint {
                beta: 1.0,
                j0: f64::INFINITY,
                dj: 0.5,
                h0: 0.0,
            },
            SkPoint {
                beta: 1.0,
                j0: 1.0,
                dj: 0.5,
                h0: -0.1,
            },
        ] {
            assert!(solve_stationary(&p).is_err(), "{p:?}");
        }
    }
}
