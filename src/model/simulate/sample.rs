//! Drawing a new state from the local fields, 16 spins at a time.
//!
//! Spin i goes up with probability `P(+1) = (1 + tanh h_i)/2 = 1/(1 + e^{−2h_i})`
//! (h is the effective field βh, dimensionless). Two choices make this
//! cheap without giving up accuracy in either tail:
//!
//! * **The minority outcome is what is drawn.** With `a = |h|`, the spin
//!   takes the sign of h unless an event of probability
//!   `q = 1/(1 + e^{2a}) ≤ 1/2` happens. q is computed directly (never as
//!   `1 − p`), so a spin with h = +9 still turns down with its true
//!   probability 1.5e-8 instead of 0 after rounding p to 1.
//! * **Small numbers stay exact.** q is compared with 32 random bits turned
//!   into an f32, which is exact for small draws: probabilities are
//!   resolved to 2^−32 ≈ 2.3e-10 absolute, and q itself to f32 precision
//!   (~1e-7 relative).
//!
//! Randomness comes from [`TrialRng`]: 16 interleaved xoshiro128++ streams
//! per trial, so one call yields 16 draws in a few vector instructions.

/// Draws per [`TrialRng::next_block`] call (and spins per sampling lane).
pub(crate) const LANES: usize = 16;

/// A trial's own random stream: 16 xoshiro128++ generators side by side
/// (structure of arrays, so the update vectorises). Seeded from one `u64`
/// through SplitMix64, as the xoshiro authors recommend; a trial's draws do
/// not depend on how trials are split across threads.
#[derive(Clone, Debug)]
pub(crate) struct TrialRng {
    s: [[u32; LANES]; 4],
}

/// SplitMix64: expands a 64-bit seed into well-mixed words.
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl TrialRng {
    /// A stream seeded from `seed`.
    pub(crate) fn seed_from_u64(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [[0u32; LANES]; 4];
        let [s0, s1, s2, s3] = &mut s;
        for (((w0, w1), w2), w3) in s0.iter_mut().zip(s1).zip(s2).zip(s3) {
            let (a, b) = (splitmix64(&mut x), splitmix64(&mut x));
            *w0 = a as u32;
            *w1 = (a >> 32) as u32;
            *w2 = b as u32;
            *w3 = (b >> 32) as u32;
            // xoshiro's only forbidden state is all zeros.
            if a == 0 && b == 0 {
                *w0 = 1;
            }
        }
        Self { s }
    }

    /// 16 uniformly distributed 32-bit words (one per lane).
    #[inline(always)]
    pub(crate) fn next_block(&mut self) -> [u32; LANES] {
        let [s0, s1, s2, s3] = &mut self.s;
        let mut out = [0u32; LANES];
        for k in 0..LANES {
            out[k] = s0[k].wrapping_add(s3[k]).rotate_left(7).wrapping_add(s0[k]);
            let t = s1[k] << 9;
            s2[k] ^= s0[k];
            s3[k] ^= s1[k];
            s1[k] ^= s2[k];
            s0[k] ^= s3[k];
            s2[k] ^= t;
            s3[k] = s3[k].rotate_left(11);
        }
        out
    }

    /// One uniform draw in [0, 1) with 53 random bits (used off the hot path:
    /// initial states).
    pub(crate) fn uniform(&mut self) -> f64 {
        let b = self.next_block();
        let bits = (u64::from(b[0]) << 32 | u64::from(b[1])) >> 11;
        bits as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// `e^x` in f32 for x in [0, 88], to a few ulp: x = k ln2 + r with
/// |r| ≤ ln2/2, e^r by its Taylor series to r^7 (truncation < 1e-8
/// relative), times 2^k built in the exponent bits. Branch-free so the
/// sampling loop vectorises.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5·2^23 rounds to the nearest integer in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(0.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let k = t - MAGIC;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // The low bits of t hold k (0 ≤ k ≤ 127): 2^k is (k + 127) in the exponent.
    let k_int = t.to_bits().wrapping_sub(MAGIC.to_bits());
    f32::from_bits(k_int.wrapping_add(127) << 23) * p
}

/// The probability of the minority outcome, `q = 1/(1 + e^{2|h|}) ≤ 1/2`.
#[inline(always)]
fn minority_probability(h: f32) -> f32 {
    1.0 / (1.0 + exp_f32(2.0 * h.abs()))
}

/// A uniform draw in [0, 1] from 32 random bits, exact below 2^−8 and
/// rounded to f32 above: the comparison `u < q` with q ≤ 1/2 then holds
/// with probability q to within 2^−32 absolute or 2^−24 relative.
#[inline(always)]
fn unit(bits: u32) -> f32 {
    bits as f32 * (1.0 / 4_294_967_296.0)
}

/// The probability with which [`sample_state`] sets a spin with field `h`
/// (what the f32 comparison realises up to the 2^−32 grid), for tests.
#[cfg(test)]
pub(crate) fn realised_probability_up(h: f32) -> f64 {
    let q = f64::from(minority_probability(h));
    if h >= 0.0 { 1.0 - q } else { q }
}

/// Draw a new packed state (bit i set = spin +1) from the fields `h`
/// (length N, `out` has ⌈N/64⌉ words; bits at and above N are left 0).
#[inline]
pub(crate) fn sample_state(fields: &[f32], out: &mut [u64], rng: &mut TrialRng) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has these features (checked just above), the
            // only requirement of `sample_state_avx512`.
            unsafe { sample_state_avx512(fields, out, rng) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above, for AVX2.
            unsafe { sample_state_avx2(fields, out, rng) };
            return;
        }
    }
    sample_state_generic(fields, out, rng);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn sample_state_avx512(fields: &[f32], out: &mut [u64], rng: &mut TrialRng) {
    sample_state_generic(fields, out, rng);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sample_state_avx2(fields: &[f32], out: &mut [u64], rng: &mut TrialRng) {
    sample_state_generic(fields, out, rng);
}

/// Draw 16 spins from their fields: bit k of the result set = spin k up.
/// Inlined into the callers' vectorised loops.
#[inline(always)]
pub(crate) fn sample_lane(h: &[f32; LANES], rng: &mut TrialRng) -> u16 {
    let r = rng.next_block();
    let mut bits = 0u16;
    for k in 0..LANES {
        let minority = unit(r[k]) < minority_probability(h[k]);
        let up = (h[k] >= 0.0) != minority;
        bits |= u16::from(up) << k;
    }
    bits
}

/// Sampling order (shared by every caller, so a trial's draws do not depend
/// on which path computed its fields): spins in blocks of 16 from spin 0
/// up, one [`TrialRng::next_block`] per block, the last block padded.
#[inline(always)]
fn sample_state_generic(fields: &[f32], out: &mut [u64], rng: &mut TrialRng) {
    out.fill(0);
    for (b, chunk) in fields.chunks(LANES).enumerate() {
        let mut h = [0f32; LANES];
        h[..chunk.len()].copy_from_slice(chunk);
        let mut bits = u64::from(sample_lane(&h, rng));
        if chunk.len() < LANES {
            bits &= (1u64 << chunk.len()) - 1;
        }
        out[b / 4] |= bits << (16 * (b % 4));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_exp_is_accurate() {
        let mut x = 0.0f32;
        while x <= 88.0 {
            let (a, b) = (f64::from(exp_f32(x)), f64::from(x).exp());
            assert!(((a - b) / b).abs() < 4e-7, "x = {x}: {a} vs {b}");
            x += 0.0137;
        }
        assert_eq!(exp_f32(0.0), 1.0);
    }

    /// The probabilities the thresholds realise match σ(2h) to f32
    /// precision in both tails (relative 1e-6 of the smaller of p, 1 − p,
    /// or the 2^−31 resolution).
    #[test]
    fn realised_probabilities_are_accurate_in_both_tails() {
        let mut h = -10.0f32;
        while h <= 10.0 {
            let exact_up = 1.0 / (1.0 + (-2.0 * f64::from(h)).exp());
            let got = realised_probability_up(h);
            let minority = exact_up.min(1.0 - exact_up);
            let tol = 1e-6 * minority + 2.0f64.powi(-32);
            assert!((got - exact_up).abs() < tol, "h = {h}: {got} vs {exact_up}");
            h += 0.01;
        }
    }

    /// Empirical frequencies against σ(2h): 4 million draws per field, the
    /// count within 5 binomial standard errors.
    #[test]
    fn sampled_frequencies_match_the_probabilities() {
        let fields = [-3.0f32, -1.0, -0.2, 0.0, 0.4, 1.5, 3.5];
        let n = fields.len();
        let mut rng = TrialRng::seed_from_u64(11);
        let mut counts = vec![0u64; n];
        let reps = 4_000_000u64;
        let mut out = [0u64; 1];
        for _ in 0..reps {
            sample_state(&fields, &mut out, &mut rng);
            for (i, c) in counts.iter_mut().enumerate() {
                *c += (out[0] >> i) & 1;
            }
            assert_eq!(out[0] >> n, 0, "bits above N must stay 0");
        }
        for (i, &h) in fields.iter().enumerate() {
            let p = 1.0 / (1.0 + (-2.0 * f64::from(h)).exp());
            let expected = p * reps as f64;
            let se = (reps as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (counts[i] as f64 - expected).abs() < 5.0 * se,
                "h = {h}: {} vs {expected} ± {se}",
                counts[i]
            );
        }
    }

    /// Spins in different lanes and words are independent: the joint
    /// frequency of two spins at h = 0 is 1/4 within 5 s.e.
    #[test]
    fn lanes_are_independent() {
        let fields = vec![0.0f32; 100];
        let mut rng = TrialRng::seed_from_u64(5);
        let mut out = [0u64; 2];
        let reps = 400_000u64;
        let pairs = [(0, 1), (0, 16), (15, 16), (3, 70), (63, 64)];
        let mut both = [0u64; 5];
        for _ in 0..reps {
            sample_state(&fields, &mut out, &mut rng);
            let bit = |i: usize| (out[i / 64] >> (i % 64)) & 1;
            for (c, &(a, b)) in both.iter_mut().zip(&pairs) {
                *c += bit(a) & bit(b);
            }
        }
        let se = (reps as f64 * 0.25 * 0.75).sqrt();
        for (c, pair) in both.iter().zip(&pairs) {
            assert!(
                (*c as f64 - 0.25 * reps as f64).abs() < 5.0 * se,
                "{pair:?}: {c}"
            );
        }
    }
}
