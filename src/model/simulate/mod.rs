//! Fast sampling of the kinetic Ising model, many trials at once.
//!
//! The hot loop is the local field `h_i = βH_i + Σ_j βJ_ij s_j` for every
//! spin of every trial at every step. Spins are ±1, so no multiplication is
//! needed, and the work is organised around that:
//!
//! * many trials (≥ 16) of up to [`table::MAX_TABLE_N`] spins, [`table`]:
//!   the contributions of every group of 4 presynaptic spins are tabulated
//!   for all 16 sign patterns, and a field is N/4 table additions indexed
//!   directly by the bits of the packed state (no branches, independent of
//!   activity);
//! * otherwise [`columns`]: sums of the J columns of the minority-sign or
//!   flipped spins (at most N/2), with J stored as f32 in row blocks;
//! * trials are independent: rayon runs batches of trials (or, for a single
//!   trial, row blocks) on all cores, and each block of couplings is reused
//!   from cache across a batch. Every trial owns its own random stream
//!   ([`sample::TrialRng`]), derived from the caller's RNG, so results do
//!   not depend on the number of threads.
//!
//! Fields are summed in f32 (relative error ~1e-7); the new state is drawn
//! by [`sample`], which resolves probabilities to 2^−31 in both tails. Both
//! are far below any sampling error a simulation can resolve.

pub(crate) mod columns;
pub(crate) mod sample;
pub(crate) mod table;

use rand::Rng;
use rayon::prelude::*;

use self::columns::{ColumnKernel, Plan, REFRESH};
use self::sample::{TrialRng, sample_state};
use self::table::{MAX_TABLE_N, PatternTable};
use super::KineticIsing;
use crate::progress::{Progress, StopToken};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

pub use self::columns::BLOCK;

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
    /// One configuration per trial (`[r][i]`, `true` = +1), e.g. observed
    /// states to start a model check from the data.
    PerTrial(Vec<Vec<bool>>),
}

/// Fewest trials simulated with pattern tables. A table lookup touches one
/// cache line of a table 4× the size of J; only when many trials share the
/// lines of a table block does that beat streaming whole columns of J, as
/// the column kernel does (one trial at N = 1,024: ~7,000 steps/s with
/// tables, ~18,000 with columns).
const TABLE_MIN_TRIALS: usize = 16;

/// How the fields are computed (see the module docs).
#[derive(Clone, Debug)]
enum Kernel {
    Table(PatternTable),
    Columns(ColumnKernel),
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
    kernel: Kernel,
    n: usize,
    trials: usize,
    words: usize,
    /// Packed current states, `trials × words`.
    state: Vec<u64>,
    /// Packed previous states (the column kernel updates by flips).
    next: Vec<u64>,
    /// Effective fields of the last step, `trials × n` (`[r * n + i]`).
    fields: Vec<f32>,
    rngs: Vec<TrialRng>,
    /// Table kernel: the 4-bit group patterns of each trial's state,
    /// `trials × groups`.
    patterns: Vec<u8>,
    /// Column kernel: steps since each trial's fields were last summed in
    /// full, and each trial's plan (kept to avoid allocating every step).
    since_full: Vec<u32>,
    plans: Vec<Plan>,
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
        let tables = model.n() <= MAX_TABLE_N && trials >= TABLE_MIN_TRIALS;
        Self::with_kernel(model, trials, init, rng, tables)
    }

    /// [`Simulator::new`] with the kernel chosen by the caller (`tables`:
    /// pattern tables, else column sums), so tests can run both on small
    /// networks.
    fn with_kernel<R: Rng + ?Sized>(
        model: &KineticIsing,
        trials: usize,
        init: &InitialState,
        rng: &mut R,
        tables: bool,
    ) -> Result<Self> {
        let n = model.n();
        if n == 0 {
            return Err(Error::param("n", 0, "the network has no spins"));
        }
        if trials == 0 {
            return Err(Error::param("trials", 0, "need at least one trial"));
        }
        let words = n.div_ceil(64);
        let mut rngs: Vec<TrialRng> = (0..trials)
            .map(|_| TrialRng::seed_from_u64(rng.next_u64()))
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
                        if trng.uniform() < 0.5 {
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
                        if trng.uniform() < 0.5 * (1.0 + mi) {
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
            InitialState::PerTrial(states) => {
                if states.len() != trials {
                    return Err(Error::shape(
                        "initial states (one per trial)",
                        trials,
                        states.len(),
                    ));
                }
                for (r, s) in states.iter().enumerate() {
                    if s.len() != n {
                        return Err(Error::shape("initial state", n, s.len()));
                    }
                    for (i, &up) in s.iter().enumerate() {
                        if up {
                            state[r * words + i / 64] |= 1 << (i % 64);
                        }
                    }
                }
            }
        }
        let kernel = if tables {
            Kernel::Table(PatternTable::new(model))
        } else {
            Kernel::Columns(ColumnKernel::new(model))
        };
        let (patterns, since_full, plans) = match &kernel {
            Kernel::Table(t) => (vec![0u8; trials * t.groups()], Vec::new(), Vec::new()),
            Kernel::Columns(_) => (
                Vec::new(),
                vec![REFRESH; trials],
                vec![Plan::default(); trials],
            ),
        };
        Ok(Self {
            kernel,
            n,
            trials,
            words,
            next: state.clone(),
            state,
            fields: vec![0.0; trials * n],
            rngs,
            patterns,
            since_full,
            plans,
            steps_done: 0,
        })
    }

    /// Number of spins.
    pub fn n(&self) -> usize {
        self.n
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
        &self.fields[r * self.n..(r + 1) * self.n]
    }

    /// Advance every trial by one synchronous update.
    pub fn step(&mut self) {
        let (n, words, trials) = (self.n, self.words, self.trials);
        let threads = rayon::current_num_threads().max(1);
        match &self.kernel {
            Kernel::Table(table) => {
                // Always by batches of trials: the tables pay off through
                // reuse across trials (see `TABLE_MIN_TRIALS`).
                let groups = table.groups();
                // One task per thread: each streams the table once per step.
                let chunk = trials.div_ceil(threads);
                self.state
                    .par_chunks(words * chunk)
                    .zip(self.next.par_chunks_mut(words * chunk))
                    .zip(self.fields.par_chunks_mut(n * chunk))
                    .zip(self.rngs.par_chunks_mut(chunk))
                    .zip(self.patterns.par_chunks_mut(groups * chunk))
                    .for_each(|((((cur, next), fields), rngs), pats)| {
                        for (r, p) in pats.chunks_mut(groups).enumerate() {
                            table.patterns(&cur[r * words..(r + 1) * words], p);
                        }
                        table.batch_step(pats, fields, next, rngs);
                    });
            }
            Kernel::Columns(kernel) => {
                // Enough trials: batches of trials in parallel. Otherwise
                // trial by trial, with the row blocks of one step in
                // parallel, below ~256 spins (a step of microseconds) on
                // this thread. Before this step `next` still holds s(t−1):
                // the flips are s(t) ^ s(t−1).
                let chunk = trials.div_ceil(4 * threads).max(1);
                let split_rows = n >= 256;
                if trials >= 2 * threads {
                    self.state
                        .par_chunks(words * chunk)
                        .zip(self.next.par_chunks_mut(words * chunk))
                        .zip(self.fields.par_chunks_mut(n * chunk))
                        .zip(self.rngs.par_chunks_mut(chunk))
                        .zip(self.since_full.par_chunks_mut(chunk))
                        .zip(self.plans.par_chunks_mut(chunk))
                        .for_each(|(((((cur, next), fields), rngs), since), plans)| {
                            columns_batch(kernel, words, cur, next, fields, rngs, since, plans);
                        });
                } else {
                    for r in 0..trials {
                        let plan = &mut self.plans[r];
                        let w = r * words..(r + 1) * words;
                        plan.plan_step(
                            &self.state[w.clone()],
                            &self.next[w],
                            n,
                            &mut self.since_full[r],
                        );
                        let fields = &mut self.fields[r * n..(r + 1) * n];
                        let plan = &*plan;
                        let one_block =
                            |(b, out): (usize, &mut [f32])| kernel.apply_plan_to(b, plan, out);
                        if split_rows {
                            fields.par_chunks_mut(BLOCK).enumerate().for_each(one_block);
                        } else {
                            fields.chunks_mut(BLOCK).enumerate().for_each(one_block);
                        }
                        sample_state(
                            fields,
                            &mut self.next[r * words..(r + 1) * words],
                            &mut self.rngs[r],
                        );
                    }
                }
            }
        }
        std::mem::swap(&mut self.state, &mut self.next);
        self.steps_done += 1;
    }
}

/// Column kernel: fields and new states for a batch of trials, block-outer
/// and trial-inner, so each block of J is reused from cache across the batch.
#[allow(clippy::too_many_arguments)]
fn columns_batch(
    kernel: &ColumnKernel,
    words: usize,
    cur: &[u64],
    next: &mut [u64],
    fields: &mut [f32],
    rngs: &mut [TrialRng],
    since_full: &mut [u32],
    plans: &mut [Plan],
) {
    let n = kernel.n;
    for ((r, plan), since) in plans.iter_mut().enumerate().zip(since_full) {
        let w = r * words..(r + 1) * words;
        plan.plan_step(&cur[w.clone()], &next[w], n, since);
    }
    for b in 0..kernel.n_blocks {
        let lo = b * BLOCK;
        let hi = (lo + BLOCK).min(n);
        for (r, plan) in plans.iter().enumerate() {
            kernel.apply_plan_to(b, plan, &mut fields[r * n + lo..r * n + hi]);
        }
    }
    for (r, rng) in rngs.iter_mut().enumerate() {
        sample_state(
            &fields[r * n..(r + 1) * n],
            &mut next[r * words..(r + 1) * words],
            rng,
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};
    use rand::{RngExt, SeedableRng};

    /// Both kernels, single-trial and batched, small and row-split sizes:
    /// after every step the reported fields equal `βH + βJ s(t−1)` summed
    /// in f64 from the previous state, and no bit above N is ever set.
    /// Tolerance: f32 sums of at most N terms, relative error ≤ N·2^−24 of
    /// Σ|βJ_ij| (the column kernel's incremental updates are refreshed
    /// every REFRESH steps, so this bound holds with room).
    #[test]
    fn both_kernels_compute_exact_fields() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(21);
        for &(n, trials) in &[(40usize, 1usize), (40, 9), (24, 300), (300, 1), (300, 9)] {
            let j = DMatrix::from_fn(n, n, |_, _| rng.random_range(-0.3..0.3) / (n as f64).sqrt());
            let h = DVector::from_fn(n, |_, _| rng.random_range(-0.5..0.5));
            let beta = 1.2;
            let model = KineticIsing::new(h.clone(), j.clone(), beta).expect("model");
            for tables in [true, false] {
                let mut sim =
                    Simulator::with_kernel(&model, trials, &InitialState::Random, &mut rng, tables)
                        .expect("simulator");
                for step in 0..70 {
                    let prev: Vec<Vec<u64>> = (0..trials).map(|r| sim.state(r).to_vec()).collect();
                    sim.step();
                    for (r, p) in prev.iter().enumerate() {
                        let spin = |k: usize| {
                            if p[k / 64] >> (k % 64) & 1 == 1 {
                                1.0
                            } else {
                                -1.0
                            }
                        };
                        for i in 0..n {
                            let row: f64 = (0..n).map(|k| j[(i, k)] * spin(k)).sum();
                            let exact = beta * (h[i] + row);
                            let scale: f64 = beta * (0..n).map(|k| j[(i, k)].abs()).sum::<f64>();
                            let tol = 1e-7 + n as f64 * 6e-8 * (scale + beta * h[i].abs());
                            let got = f64::from(sim.fields(r)[i]);
                            assert!(
                                (got - exact).abs() < tol,
                                "n {n} trials {trials} tables {tables} step {step} r {r} i {i}: {got} vs {exact}"
                            );
                        }
                        let last = sim.state(r)[(n - 1) / 64];
                        if n % 64 != 0 {
                            assert_eq!(last >> (n % 64), 0, "bits above N set");
                        }
                    }
                }
            }
        }
    }
}
