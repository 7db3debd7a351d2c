//! Fast sampling of the kinetic Ising model, many trials at once.
//!
//! The hot loop is the local field `h_i = βH_i + Σ_j βJ_ij s_j` for every
//! spin of every trial at every step. Three facts make it cheap:
//!
//! * spins are ±1, so `Σ_j J_ij s_j = Σ_j J_ij − 2 Σ_{j: s_j = −1} J_ij =
//!   −Σ_j J_ij + 2 Σ_{j: s_j = +1} J_ij`: the field is a sum of selected
//!   columns of J, no multiplications, over whichever sign is in the
//!   minority (at most N/2 columns);
//! * the couplings are stored once as `f32` in row blocks of [`BLOCK`] rows,
//!   column after column, so one block (BLOCK × N floats) stays in cache
//!   while it is applied to a whole batch of trials: J is read from memory
//!   once per step for many trials, not once per trial;
//! * trials are independent: rayon runs batches of trials (or, for a single
//!   trial, row blocks) on all cores. Every trial owns its own RNG stream,
//!   derived from the caller's RNG, so results do not depend on the number
//!   of threads.
//!
//! Single precision is used only for the field sums; the probability
//! `(1 + tanh h)/2 = 1/(1 + e^{−2h})` is evaluated in `f64`. The f32 rounding
//! of a field (relative 1e-7) changes spike probabilities by far less than any
//! sampling error a simulation can resolve.

use rand::{Rng, SeedableRng, rngs::Xoshiro256PlusPlus};
use rayon::prelude::*;

use super::KineticIsing;
use crate::progress::{Progress, StopToken};
use crate::spikes::{ActiveUnits, SpikeRaster};
use crate::{Error, Result};

/// Rows of J per cache block in the field kernel.
pub const BLOCK: usize = 64;

/// The configuration every trial starts from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum InitialState {
    /// All spins +1 (the published experiments' choice).
    AllUp,
    /// Every spin ±1 with probability 1/2, independently per trial.
    Random,
    /// Independent spins with `P(s_i = +1) = (1 + m_i)/2`, per trial.
    Magnetisations(Vec<f64>),
    /// The same configuration for every trial (`true` = +1).
    Given(Vec<bool>),
}

/// Couplings laid out for the field kernel (see the module docs).
#[derive(Clone, Debug)]
struct FieldKernel {
    n: usize,
    n_blocks: usize,
    /// `2βJ_ij` at `[(block * n + j) * BLOCK + (i − block*BLOCK)]`; padded rows are 0.
    packed: Vec<f32>,
    /// `βH_i − Σ_j βJ_ij` (used when summing the +1 spins).
    base_up: Vec<f32>,
    /// `βH_i + Σ_j βJ_ij` (used when summing the −1 spins).
    base_down: Vec<f32>,
}

impl FieldKernel {
    fn new(model: &KineticIsing) -> Self {
        let n = model.n();
        let n_blocks = n.div_ceil(BLOCK);
        let beta = model.beta();
        let j = model.j();
        let h = model.h();
        let mut packed = vec![0f32; n_blocks * n * BLOCK];
        let mut base_up = vec![0f32; n_blocks * BLOCK];
        let mut base_down = vec![0f32; n_blocks * BLOCK];
        for i in 0..n {
            let (b, ii) = (i / BLOCK, i % BLOCK);
            let mut rowsum = 0.0f64;
            for jj in 0..n {
                let v = beta * j[(i, jj)];
                rowsum += v;
                packed[(b * n + jj) * BLOCK + ii] = (2.0 * v) as f32;
            }
            base_up[i] = (beta * h[i] - rowsum) as f32;
            base_down[i] = (beta * h[i] + rowsum) as f32;
        }
        Self {
            n,
            n_blocks,
            packed,
            base_up,
            base_down,
        }
    }

    /// Fields of one row block for one trial: `out[ii]` for rows
    /// `block*BLOCK + ii`. `selected` holds the minority-sign spins and `up`
    /// says whether they are the +1 spins.
    #[inline]
    fn block_fields(&self, block: usize, selected: &[u32], up: bool, out: &mut [f32; BLOCK]) {
        let base = if up { &self.base_up } else { &self.base_down };
        let mut acc = [0f32; BLOCK];
        let blk = &self.packed[block * self.n * BLOCK..(block + 1) * self.n * BLOCK];
        accumulate_columns(blk, selected, &mut acc);
        let b0 = block * BLOCK;
        for k in 0..BLOCK {
            out[k] = if up {
                base[b0 + k] + acc[k]
            } else {
                base[b0 + k] - acc[k]
            };
        }
    }
}

impl FieldKernel {
    /// Fields of row block `block` for one trial by `plan`; `out` holds the
    /// previous fields on entry (used by incremental plans).
    #[inline]
    fn apply_plan(&self, block: usize, plan: &Plan, out: &mut [f32; BLOCK]) {
        if plan.incremental {
            let blk = &self.packed[block * self.n * BLOCK..(block + 1) * self.n * BLOCK];
            let (mut gain, mut loss) = ([0f32; BLOCK], [0f32; BLOCK]);
            accumulate_columns(blk, &plan.first, &mut gain);
            accumulate_columns(blk, &plan.second, &mut loss);
            for k in 0..BLOCK {
                out[k] += gain[k] - loss[k];
            }
        } else {
            self.block_fields(block, &plan.first, plan.up, out);
        }
    }
}

/// `acc += blk[j]` for every selected column j of one row block: the
/// innermost loop of the simulator. Dispatches at run time to an AVX2 build
/// of the same code where the CPU has it (8 f32 lanes instead of 4).
#[inline]
fn accumulate_columns(blk: &[f32], selected: &[u32], acc: &mut [f32; BLOCK]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above), which is
            // the only requirement of `accumulate_columns_avx2`.
            unsafe { accumulate_columns_avx2(blk, selected, acc) };
            return;
        }
    }
    accumulate_columns_generic(blk, selected, acc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn accumulate_columns_avx2(blk: &[f32], selected: &[u32], acc: &mut [f32; BLOCK]) {
    accumulate_columns_generic(blk, selected, acc);
}

#[inline(always)]
fn accumulate_columns_generic(blk: &[f32], selected: &[u32], acc: &mut [f32; BLOCK]) {
    // Fixed-size views let the compiler unroll the row loop and keep the
    // BLOCK accumulators in vector registers across all columns.
    let mut sum = *acc;
    for &j in selected {
        let start = j as usize * BLOCK;
        let Some(col) = blk
            .get(start..start + BLOCK)
            .and_then(|c| <&[f32; BLOCK]>::try_from(c).ok())
        else {
            continue;
        };
        for k in 0..BLOCK {
            sum[k] += col[k];
        }
    }
    *acc = sum;
}

/// Collect the minority-sign spins of a packed state into `selected`;
/// returns whether they are the +1 spins.
fn minority(words: &[u64], n: usize, selected: &mut Vec<u32>) -> bool {
    selected.clear();
    let n_up: usize = words.iter().map(|w| w.count_ones() as usize).sum();
    if 2 * n_up <= n {
        selected.extend(ActiveUnits::new(words).map(|i| i as u32));
        true
    } else {
        for (wi, &w) in words.iter().enumerate() {
            let mut inv = !w;
            if wi == words.len() - 1 && !n.is_multiple_of(64) {
                inv &= (1u64 << (n % 64)) - 1;
            }
            while inv != 0 {
                selected.push((wi * 64) as u32 + inv.trailing_zeros());
                inv &= inv - 1;
            }
        }
        false
    }
}

/// How one trial's fields are computed this step.
#[derive(Clone, Debug, Default)]
struct Plan {
    /// Full sum over the minority-sign spins (`up`: they are the +1 spins),
    /// or an update of the previous fields by the spins that flipped.
    incremental: bool,
    up: bool,
    /// Full: the minority spins. Incremental: spins that flipped to +1.
    first: Vec<u32>,
    /// Incremental: spins that flipped to −1.
    second: Vec<u32>,
}

/// Steps between full recomputations of the fields: incremental updates
/// accumulate f32 rounding (about 1e-7 relative per step), so the fields
/// are rebuilt from scratch at least this often.
const REFRESH: u32 = 32;

impl Plan {
    /// Choose the cheaper of a full sum (minority spins, ≤ N/2 columns) and
    /// an update by the flipped spins `s(t) ≠ s(t−1)` (fewer when activity
    /// is persistent). `fresh` forces a full sum.
    fn choose(&mut self, cur: &[u64], prev: &[u64], n: usize, fresh: bool) {
        let flips: usize = cur
            .iter()
            .zip(prev)
            .map(|(a, b)| (a ^ b).count_ones() as usize)
            .sum();
        let n_up: usize = cur.iter().map(|w| w.count_ones() as usize).sum();
        let n_minority = n_up.min(n - n_up);
        self.first.clear();
        self.second.clear();
        if !fresh && flips < n_minority {
            self.incremental = true;
            for (wi, (&a, &b)) in cur.iter().zip(prev).enumerate() {
                let (mut to_up, mut to_down) = (a & !b, b & !a);
                while to_up != 0 {
                    self.first.push((wi * 64) as u32 + to_up.trailing_zeros());
                    to_up &= to_up - 1;
                }
                while to_down != 0 {
                    self.second
                        .push((wi * 64) as u32 + to_down.trailing_zeros());
                    to_down &= to_down - 1;
                }
            }
        } else {
            self.incremental = false;
            self.up = minority(cur, n, &mut self.first);
        }
    }
}

/// `e^x` for x in [−708, 708] to about 2 ulp, branch-free so that loops
/// over it vectorise (the libm call does not): x = k ln2 + r with |r| ≤ ln2/2,
/// e^r by its Taylor series to r^12 (truncation error < 1e-16), times 2^k.
#[inline(always)]
fn exp_fast(x: f64) -> f64 {
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding 1.5·2^52 rounds to the nearest integer k in the low mantissa
    // bits without a libm call, so the loop vectorises.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let x = x.clamp(-708.0, 708.0);
    let t = x * std::f64::consts::LOG2_E + MAGIC;
    let k = t - MAGIC;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 479_001_600.0; // 1/12!
    for d in [
        39_916_800.0, // 11!
        3_628_800.0,
        362_880.0,
        40_320.0,
        5_040.0,
        720.0,
        120.0,
        24.0,
        6.0,
        2.0,
        1.0,
        1.0,
    ] {
        p = p * r + 1.0 / d;
    }
    // The loop leaves p = Σ_{i=0}^{12} r^i / i! in Horner form; the low bits
    // of t hold k, so 2^k is (k + 1023) shifted into the exponent field.
    f64::from_bits(t.to_bits().wrapping_add(1023) << 52) * p
}

/// `P(s = +1) = (1 + tanh h)/2 = 1/(1 + e^{−2h})` for every field, into `p`.
/// Dispatches to an AVX2 build of the same code where the CPU has it (no
/// FMA, so results are identical on every x86-64 CPU).
#[inline]
fn probs_up(fields: &[f32], p: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is available (checked just above).
            unsafe { probs_up_avx2(fields, p) };
            return;
        }
    }
    probs_up_generic(fields, p);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn probs_up_avx2(fields: &[f32], p: &mut [f64]) {
    probs_up_generic(fields, p);
}

#[inline(always)]
fn probs_up_generic(fields: &[f32], p: &mut [f64]) {
    for (pi, &h) in p.iter_mut().zip(fields) {
        *pi = 1.0 / (1.0 + exp_fast(-2.0 * h as f64));
    }
}

/// A uniform draw in [0, 1) with 53 random bits.
#[inline]
fn uniform(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A running simulation of `trials` independent copies of one network.
///
/// Used by [`simulate`] (which records a raster) and by the app's live
/// phase lab (which streams states and fields). After each [`Simulator::step`]
/// the current state and the effective fields that generated it are
/// available, so callers can accumulate Rao–Blackwellised statistics
/// (`tanh h` in place of the sampled spin).
#[derive(Clone, Debug)]
pub struct Simulator {
    kernel: FieldKernel,
    trials: usize,
    words: usize,
    /// Packed current states, `trials × words`.
    state: Vec<u64>,
    next: Vec<u64>,
    /// Effective fields of the last step, `trials × n` (`[r * n + i]`).
    fields: Vec<f32>,
    rngs: Vec<Xoshiro256PlusPlus>,
    /// Steps since each trial's fields were last summed in full.
    since_full: Vec<u32>,
    steps_done: u64,
}

impl Simulator {
    /// Start `trials` copies of `model` from `init`. One `u64` is drawn from
    /// `rng` per trial to seed that trial's own stream.
    pub fn new<R: Rng + ?Sized>(
        model: &KineticIsing,
        trials: usize,
        init: &InitialState,
        rng: &mut R,
    ) -> Result<Self> {
        let n = model.n();
        if n == 0 {
            return Err(Error::param("n", 0, "the network has no spins"));
        }
        if trials == 0 {
            return Err(Error::param("trials", 0, "need at least one trial"));
        }
        let words = n.div_ceil(64);
        let mut rngs: Vec<Xoshiro256PlusPlus> = (0..trials)
            .map(|_| Xoshiro256PlusPlus::seed_from_u64(rng.next_u64()))
            .collect();
        let mut state = vec![0u64; trials * words];
        match init {
            InitialState::AllUp => {
                for r in 0..trials {
                    for i in 0..n {
                        state[r * words + i / 64] |= 1 << (i % 64);
                    }
                }
            }
            InitialState::Random => {
                for (r, trng) in rngs.iter_mut().enumerate() {
                    for i in 0..n {
                        if uniform(trng) < 0.5 {
                            state[r * words + i / 64] |= 1 << (i % 64);
                        }
                    }
                }
            }
            InitialState::Magnetisations(m) => {
                if m.len() != n {
                    return Err(Error::shape("initial magnetisations m0", n, m.len()));
                }
                if let Some(bad) = m.iter().find(|x| x.is_nan() || x.abs() > 1.0) {
                    return Err(Error::param(
                        "m0",
                        bad,
                        "magnetisations must lie in [-1, 1]",
                    ));
                }
                for (r, trng) in rngs.iter_mut().enumerate() {
                    for (i, &mi) in m.iter().enumerate() {
                        if uniform(trng) < 0.5 * (1.0 + mi) {
                            state[r * words + i / 64] |= 1 << (i % 64);
                        }
                    }
                }
            }
            InitialState::Given(s) => {
                if s.len() != n {
                    return Err(Error::shape("initial state", n, s.len()));
                }
                for r in 0..trials {
                    for (i, &up) in s.iter().enumerate() {
                        if up {
                            state[r * words + i / 64] |= 1 << (i % 64);
                        }
                    }
                }
            }
        }
        Ok(Self {
            kernel: FieldKernel::new(model),
            trials,
            words,
            next: state.clone(),
            state,
            fields: vec![0.0; trials * n],
            rngs,
            since_full: vec![REFRESH; trials],
            steps_done: 0,
        })
    }

    /// Number of spins.
    pub fn n(&self) -> usize {
        self.kernel.n
    }
    /// Number of trials.
    pub fn trials(&self) -> usize {
        self.trials
    }
    /// Steps taken so far.
    pub fn steps_done(&self) -> u64 {
        self.steps_done
    }
    /// Packed current state of trial `r` (bit `i` set = spin +1).
    pub fn state(&self, r: usize) -> &[u64] {
        &self.state[r * self.words..(r + 1) * self.words]
    }
    /// Effective fields `β h_i` that generated the current state of trial
    /// `r` (all zero before the first step).
    pub fn fields(&self, r: usize) -> &[f32] {
        let n = self.kernel.n;
        &self.fields[r * n..(r + 1) * n]
    }

    /// Advance every trial by one synchronous update.
    pub fn step(&mut self) {
        let n = self.kernel.n;
        let words = self.words;
        let kernel = &self.kernel;
        // Before this step `next` still holds s(t−1): the flips are s(t) ^ s(t−1).
        if self.trials >= 2 * rayon::current_num_threads().max(1) {
            let chunk = self
                .trials
                .div_ceil(4 * rayon::current_num_threads())
                .max(1);
            self.state
                .par_chunks(words * chunk)
                .zip(self.next.par_chunks_mut(words * chunk))
                .zip(self.fields.par_chunks_mut(n * chunk))
                .zip(self.rngs.par_chunks_mut(chunk))
                .zip(self.since_full.par_chunks_mut(chunk))
                .for_each(|((((cur, next), fields), rngs), since)| {
                    step_batch(kernel, words, cur, next, fields, rngs, since);
                });
        } else {
            let mut plan = Plan::default();
            for r in 0..self.trials {
                let cur = &self.state[r * words..(r + 1) * words];
                let prev = &self.next[r * words..(r + 1) * words];
                plan.choose(cur, prev, n, self.since_full[r] >= REFRESH);
                self.since_full[r] = if plan.incremental {
                    self.since_full[r] + 1
                } else {
                    0
                };
                let fields = &mut self.fields[r * n..(r + 1) * n];
                let plan = &plan;
                let one_block = |(b, out): (usize, &mut [f32])| {
                    let mut tmp = [0f32; BLOCK];
                    tmp[..out.len()].copy_from_slice(out);
                    kernel.apply_plan(b, plan, &mut tmp);
                    out.copy_from_slice(&tmp[..out.len()]);
                };
                // Below ~256 spins a step takes microseconds: splitting it
                // across threads costs more than it saves.
                if n >= 256 {
                    fields.par_chunks_mut(BLOCK).enumerate().for_each(one_block);
                } else {
                    fields.chunks_mut(BLOCK).enumerate().for_each(one_block);
                }
                sample_trial(
                    fields,
                    &mut self.next[r * words..(r + 1) * words],
                    &mut self.rngs[r],
                );
            }
        }
        std::mem::swap(&mut self.state, &mut self.next);
        self.steps_done += 1;
    }
}

/// Fields and new states for a batch of trials: block-outer, trial-inner,
/// so each block of J is reused from cache across the batch.
fn step_batch(
    kernel: &FieldKernel,
    words: usize,
    cur: &[u64],
    next: &mut [u64],
    fields: &mut [f32],
    rngs: &mut [Xoshiro256PlusPlus],
    since_full: &mut [u32],
) {
    let n = kernel.n;
    let batch = rngs.len();
    let mut plans: Vec<Plan> = vec![Plan::default(); batch];
    for (r, plan) in plans.iter_mut().enumerate() {
        let w = r * words..(r + 1) * words;
        plan.choose(&cur[w.clone()], &next[w], n, since_full[r] >= REFRESH);
        since_full[r] = if plan.incremental {
            since_full[r] + 1
        } else {
            0
        };
    }
    let mut tmp = [0f32; BLOCK];
    for b in 0..kernel.n_blocks {
        let lo = b * BLOCK;
        let hi = (lo + BLOCK).min(n);
        for (r, plan) in plans.iter().enumerate() {
            let out = &mut fields[r * n + lo..r * n + hi];
            tmp[..hi - lo].copy_from_slice(out);
            kernel.apply_plan(b, plan, &mut tmp);
            out.copy_from_slice(&tmp[..hi - lo]);
        }
    }
    for (r, rng) in rngs.iter_mut().enumerate() {
        sample_trial(
            &fields[r * n..(r + 1) * n],
            &mut next[r * words..(r + 1) * words],
            rng,
        );
    }
}

/// Draw a new packed state from effective fields.
#[inline]
fn sample_trial(fields: &[f32], out: &mut [u64], rng: &mut Xoshiro256PlusPlus) {
    let mut p = [0f64; 256];
    out.fill(0);
    for (c, chunk) in fields.chunks(256).enumerate() {
        let p = &mut p[..chunk.len()];
        probs_up(chunk, p);
        for (k, &pk) in p.iter().enumerate() {
            if uniform(rng) < pk {
                let i = c * 256 + k;
                out[i / 64] |= 1 << (i % 64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate() {
        let mut x = -700.0;
        while x < 700.0 {
            let (a, b) = (exp_fast(x), x.exp());
            assert!(((a - b) / b).abs() < 5e-16, "x = {x}: {a} vs {b}");
            x += 0.0137;
        }
        assert_eq!(exp_fast(0.0), 1.0);
    }
}

/// What to simulate: number of synchronous steps, trials and the start.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SimulationOptions {
    /// Number of synchronous updates T per trial.
    pub steps: usize,
    /// Number of independent trials R.
    pub trials: usize,
    /// Starting configuration.
    pub init: InitialState,
}

/// Simulate `opts.trials` trajectories of `opts.steps` updates each.
///
/// Returns a raster of shape `(R, T + 1, N)`: bin 0 is the initial state and
/// bin `t` the state after `t` updates (active = spin +1). Reports progress
/// in steps and honours `stop` between steps.
pub fn simulate<R: Rng + ?Sized>(
    model: &KineticIsing,
    opts: &SimulationOptions,
    rng: &mut R,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<SpikeRaster> {
    let mut sim = Simulator::new(model, opts.trials, &opts.init, rng)?;
    let mut raster = SpikeRaster::zeros(opts.trials, opts.steps + 1, model.n())?;
    let record = |sim: &Simulator, raster: &mut SpikeRaster, t: usize| {
        for r in 0..sim.trials() {
            raster.row_mut(r, t).copy_from_slice(sim.state(r));
        }
    };
    record(&sim, &mut raster, 0);
    for t in 1..=opts.steps {
        stop.check()?;
        sim.step();
        record(&sim, &mut raster, t);
        progress.report(t as u64, opts.steps as u64);
    }
    Ok(raster)
}
