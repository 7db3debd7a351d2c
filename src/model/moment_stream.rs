//! Moments of simulated trajectories without storing the raster.
//!
//! The mean-field paper's reference statistics are m(t), C(t) and D(t) of
//! the true dynamics at every step, averaged over many independent
//! repetitions (N = 512, 128 steps, 10⁶ repetitions). Recording the raster
//! first costs `R · (T+1) · N` bits and a second pass; here the trials are
//! simulated in chunks and, after every step, the chunk's states are turned
//! into per-unit bit columns over trials (64 × 64 bit-matrix transposes) and
//! counted:
//!
//! ```text
//! count_now_i(t)  = #{trials: s_i(t) = +1}
//! pair_C_ik(t)    = #{trials: s_i(t) = s_k(t) = +1}          (i < k)
//! pair_D_il(t)    = #{trials: s_i(t) = +1, s_l(t−1) = +1}
//! ```
//!
//! The counts are exact integers, summed over chunks, and turned into
//! moments by the same formula as [`super::stats`] uses
//! (`moments_from_counts`), so a single chunk gives moments bit-identical to
//! [`super::stats::moments_at_bin`] of the raster [`super::simulate::simulate`]
//! would record with the same seed.
//!
//! Cost per step and chunk of `c` trials: `N (N−1)/2 + N²` AND-popcounts of
//! `c/64` words (`1.5 N² c / 64` word operations), on all cores. Memory: the
//! kept counts, `2 N²` `u32` per kept step (`--final-only` keeps one), plus
//! `N (T+1)` unit counts.

use nalgebra::DVector;
use rand::Rng;
use rayon::prelude::*;

use super::KineticIsing;
use super::simulate::{SimulationOptions, Simulator};
use super::stats::{Moments, moments_from_counts};
use crate::progress::{Progress, StopToken};
use crate::{Error, Result};

/// Which steps keep their full C and D (m is kept at every step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeptSteps {
    /// Every step t = 1 ..= T.
    Every,
    /// Only the last step T.
    Final,
}

/// Trials simulated together by default: large enough for the pattern-table
/// kernel and to amortise its set-up, small enough that a chunk's bit
/// columns (`N · c / 8` bytes for two steps) stay in cache.
pub const DEFAULT_CHUNK_TRIALS: usize = 4096;

/// What to simulate and what to keep.
#[derive(Clone, Debug, PartialEq)]
pub struct MomentStreamOptions {
    /// Steps T, trials R and the initial state of every trial.
    pub sim: SimulationOptions,
    /// Which steps keep C and D.
    pub kept: KeptSteps,
    /// Trials per chunk (each chunk is one [`Simulator`], seeded in turn
    /// from the caller's RNG).
    pub chunk_trials: usize,
}

/// Counted statistics of `R` simulated trials (see the module docs).
#[derive(Clone, Debug)]
pub struct StreamedMoments {
    n: usize,
    trials: u64,
    steps: usize,
    /// `unit_counts[t * N + i]`, t = 0 ..= T.
    unit_counts: Vec<u64>,
    /// Steps (1-based) whose C and D were kept, ascending.
    kept_steps: Vec<usize>,
    /// Per kept step: `N × N` counts, row-major; entries `i < k` of the
    /// equal-time pairs are filled (the rest are unused).
    pair_c: Vec<Vec<u32>>,
    /// Per kept step: `N × N` delayed counts, row i at t, column l at t−1.
    pair_d: Vec<Vec<u32>>,
}

impl StreamedMoments {
    /// Number of units N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of trials R the averages are over.
    pub fn trials(&self) -> u64 {
        self.trials
    }

    /// Number of steps T.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Magnetisations after `t` steps, `t = 0 ..= T` (t = 0: the initial
    /// states), each `m_i = 2 p_i − 1` with p the fraction of trials where
    /// spin i is +1.
    pub fn m_at(&self, t: usize) -> DVector<f64> {
        let s = self.trials as f64;
        let row = &self.unit_counts[t * self.n..(t + 1) * self.n];
        DVector::from_fn(self.n, |i, _| 2.0 * (row[i] as f64 / s) - 1.0)
    }

    /// Steps (1-based) whose C and D were kept, ascending.
    pub fn kept_steps(&self) -> &[usize] {
        &self.kept_steps
    }

    /// m, C and D at the `k`-th kept step (index into [`Self::kept_steps`]).
    pub fn moments(&self, k: usize) -> Option<Moments> {
        let t = *self.kept_steps.get(k)?;
        let n = self.n;
        let now = &self.unit_counts[t * n..(t + 1) * n];
        let prev = &self.unit_counts[(t - 1) * n..t * n];
        let pc = &self.pair_c[k];
        let pd = &self.pair_d[k];
        Some(moments_from_counts(
            self.trials,
            now,
            prev,
            |i, j| u64::from(pc[i.min(j) * n + i.max(j)]),
            |i, l| u64::from(pd[i * n + l]),
        ))
    }
}

/// Simulate `opts.sim.trials` trials of `model` and count their moments
/// step by step without storing the raster (see the module docs).
///
/// Reports progress in trial-chunk steps and honours `stop` between steps.
/// Errors: no steps or trials, more than `u32::MAX` trials, or kept counts
/// that do not fit in memory (use [`KeptSteps::Final`] or fewer steps).
pub fn simulate_moments<R: Rng + ?Sized>(
    model: &KineticIsing,
    opts: &MomentStreamOptions,
    rng: &mut R,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<StreamedMoments> {
    let n = model.n();
    let steps = opts.sim.steps;
    let trials = opts.sim.trials;
    if steps == 0 {
        return Err(Error::param("steps", 0, "need at least one step"));
    }
    if trials == 0 {
        return Err(Error::param("trials", 0, "need at least one trial"));
    }
    if u32::try_from(trials).is_err() {
        return Err(Error::param(
            "trials",
            trials,
            "the counts are 32-bit: at most 4,294,967,295 trials per run; split the run and average",
        ));
    }
    if opts.chunk_trials == 0 {
        return Err(Error::param(
            "chunk_trials",
            0,
            "need at least one trial per chunk",
        ));
    }
    let kept_steps: Vec<usize> = match opts.kept {
        KeptSteps::Every => (1..=steps).collect(),
        KeptSteps::Final => vec![steps],
    };
    let n2 = n
        .checked_mul(n)
        .ok_or_else(|| too_large(n, kept_steps.len()))?;
    let alloc = |len: usize| -> Result<Vec<u32>> {
        let mut v = Vec::new();
        v.try_reserve_exact(len)
            .map_err(|_| too_large(n, kept_steps.len()))?;
        v.resize(len, 0);
        Ok(v)
    };
    let mut pair_c = Vec::with_capacity(kept_steps.len());
    let mut pair_d = Vec::with_capacity(kept_steps.len());
    for _ in &kept_steps {
        pair_c.push(alloc(n2)?);
        pair_d.push(alloc(n2)?);
    }
    let unit_len = (steps + 1)
        .checked_mul(n)
        .ok_or_else(|| too_large(n, kept_steps.len()))?;
    let mut unit_counts = vec![0u64; unit_len];

    let chunks = trials.div_ceil(opts.chunk_trials);
    let total = (chunks * steps) as u64;
    let mut done = 0u64;
    let mut start = 0;
    while start < trials {
        let c = opts.chunk_trials.min(trials - start);
        let mut sim = Simulator::new(model, c, &opts.sim.init, rng)?;
        let mut prev = BitColumns::new(n, c);
        let mut now = BitColumns::new(n, c);
        prev.load(&sim);
        prev.add_unit_counts(&mut unit_counts[..n]);
        let mut k = 0;
        for t in 1..=steps {
            stop.check()?;
            sim.step();
            now.load(&sim);
            now.add_unit_counts(&mut unit_counts[t * n..(t + 1) * n]);
            if kept_steps.get(k) == Some(&t) {
                count_pairs(&now, &prev, &mut pair_c[k], &mut pair_d[k]);
                k += 1;
            }
            std::mem::swap(&mut prev, &mut now);
            done += 1;
            progress.report(done, total);
        }
        start += c;
    }
    Ok(StreamedMoments {
        n,
        trials: trials as u64,
        steps,
        unit_counts,
        kept_steps,
        pair_c,
        pair_d,
    })
}

fn too_large(n: usize, kept: usize) -> Error {
    let bytes = 8.0 * (n as f64) * (n as f64) * kept as f64;
    Error::param(
        "steps",
        kept,
        format!(
            "keeping C and D at {kept} steps for N = {n} needs {:.1} GB of counts; keep only the final step or run fewer steps",
            bytes / 1e9
        ),
    )
}

/// Per-unit bit columns over the trials of a chunk: bit r of unit i's
/// column is set when spin i of trial r is +1.
struct BitColumns {
    n: usize,
    trials: usize,
    /// Words per column: `trials.div_ceil(64)`.
    words: usize,
    /// `cols[i * words + w]`.
    cols: Vec<u64>,
}

impl BitColumns {
    fn new(n: usize, trials: usize) -> Self {
        let words = trials.div_ceil(64);
        Self {
            n,
            trials,
            words,
            cols: vec![0; n * words],
        }
    }

    fn col(&self, i: usize) -> &[u64] {
        &self.cols[i * self.words..(i + 1) * self.words]
    }

    /// Transpose the simulator's states (trial-major, 64 units per word)
    /// into unit-major columns, one 64 × 64 block at a time.
    fn load(&mut self, sim: &Simulator) {
        let unit_words = self.n.div_ceil(64);
        let mut block = [0u64; 64];
        for b in 0..self.words {
            let r0 = b * 64;
            let rows = (self.trials - r0).min(64);
            for w in 0..unit_words {
                for (j, slot) in block.iter_mut().enumerate() {
                    *slot = if j < rows { sim.state(r0 + j)[w] } else { 0 };
                }
                transpose64(&mut block);
                let units = (self.n - w * 64).min(64);
                for (u, &bits) in block.iter().enumerate().take(units) {
                    self.cols[(w * 64 + u) * self.words + b] = bits;
                }
            }
        }
    }

    fn add_unit_counts(&self, out: &mut [u64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o += self
                .col(i)
                .iter()
                .map(|x| u64::from(x.count_ones()))
                .sum::<u64>();
        }
    }
}

/// Transpose a 64 × 64 bit matrix in place: afterwards bit j of word i is
/// what bit i of word j was. Six rounds of swapping off-diagonal blocks of
/// half the size (32, 16, …, 1).
fn transpose64(a: &mut [u64; 64]) {
    let mut width = 32;
    let mut mask: u64 = 0x0000_0000_FFFF_FFFF;
    while width != 0 {
        let mut k = 0;
        while k < 64 {
            // Rows k (low half of the pair) and k + width (high half).
            let t = ((a[k] >> width) ^ a[k + width]) & mask;
            a[k] ^= t << width;
            a[k + width] ^= t;
            k = (k + width + 1) & !width;
        }
        width >>= 1;
        mask ^= mask << width;
    }
}

/// Add the equal-time (i < k) and delayed pair counts of one step.
fn count_pairs(now: &BitColumns, prev: &BitColumns, pair_c: &mut [u32], pair_d: &mut [u32]) {
    let n = now.n;
    pair_c
        .par_chunks_mut(n)
        .zip(pair_d.par_chunks_mut(n))
        .enumerate()
        .for_each(|(i, (row_c, row_d))| {
            count_row(now, prev, i, row_c, row_d);
        });
}

fn count_row(now: &BitColumns, prev: &BitColumns, i: usize, row_c: &mut [u32], row_d: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("avx2")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            unsafe { count_row_popcnt(now, prev, i, row_c, row_d) };
            return;
        }
    }
    count_row_generic(now, prev, i, row_c, row_d);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,avx2")]
fn count_row_popcnt(
    now: &BitColumns,
    prev: &BitColumns,
    i: usize,
    row_c: &mut [u32],
    row_d: &mut [u32],
) {
    count_row_generic(now, prev, i, row_c, row_d);
}

#[inline(always)]
fn count_row_generic(
    now: &BitColumns,
    prev: &BitColumns,
    i: usize,
    row_c: &mut [u32],
    row_d: &mut [u32],
) {
    let a = now.col(i);
    for (k, slot) in row_c.iter_mut().enumerate().skip(i + 1) {
        *slot += and_count(a, now.col(k));
    }
    for (l, slot) in row_d.iter_mut().enumerate() {
        *slot += and_count(a, prev.col(l));
    }
}

#[inline(always)]
fn and_count(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x & y).count_ones()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn transpose64_is_the_transpose() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(5);
        let orig: [u64; 64] = std::array::from_fn(|_| rng.random());
        let mut t = orig;
        transpose64(&mut t);
        for (i, row) in t.iter().enumerate() {
            for (j, col) in orig.iter().enumerate() {
                assert_eq!(row >> j & 1, col >> i & 1, "bit ({i}, {j})");
            }
        }
    }
}
