//! The sparse field kernel for networks larger than the pattern tables
//! allow ([`super::table::MAX_TABLE_N`]): sums of selected columns of J.
//!
//! Spins are ±1, so `Σ_j J_ij s_j = Σ_j J_ij − 2 Σ_{j: s_j = −1} J_ij =
//! −Σ_j J_ij + 2 Σ_{j: s_j = +1} J_ij`: the field is a sum of selected
//! columns of J, no multiplications, over whichever sign is in the minority
//! (at most N/2 columns) — or an update of the previous fields by the spins
//! that flipped, when fewer flipped. The couplings are stored once as `f32`
//! in row blocks of [`BLOCK`] rows, column after column, so one block
//! stays in cache while it is applied to a whole batch of trials.

use crate::model::KineticIsing;
use crate::spikes::ActiveUnits;

/// Rows of J per cache block in the column kernel.
pub const BLOCK: usize = 64;
/// Couplings laid out for the field kernel (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct ColumnKernel {
    pub(super) n: usize,
    pub(super) n_blocks: usize,
    /// `2βJ_ij` at `[(block * n + j) * BLOCK + (i − block*BLOCK)]`; padded rows are 0.
    packed: Vec<f32>,
    /// `βH_i − Σ_j βJ_ij` (used when summing the +1 spins).
    base_up: Vec<f32>,
    /// `βH_i + Σ_j βJ_ij` (used when summing the −1 spins).
    base_down: Vec<f32>,
}

impl ColumnKernel {
    pub(super) fn new(model: &KineticIsing) -> Self {
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

impl ColumnKernel {
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

    /// [`Self::apply_plan`] on the fields of row block `block` of one
    /// trial, `out` (BLOCK values, fewer in the last block).
    #[inline]
    pub(super) fn apply_plan_to(&self, block: usize, plan: &Plan, out: &mut [f32]) {
        let mut tmp = [0f32; BLOCK];
        tmp[..out.len()].copy_from_slice(out);
        self.apply_plan(block, plan, &mut tmp);
        out.copy_from_slice(&tmp[..out.len()]);
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
pub(super) struct Plan {
    /// Full sum over the minority-sign spins (`up`: they are the +1 spins),
    /// or an update of the previous fields by the spins that flipped.
    pub(super) incremental: bool,
    up: bool,
    /// Full: the minority spins. Incremental: spins that flipped to +1.
    first: Vec<u32>,
    /// Incremental: spins that flipped to −1.
    second: Vec<u32>,
}

/// Steps between full recomputations of the fields: incremental updates
/// accumulate f32 rounding (about 1e-7 relative per step), so the fields
/// are rebuilt from scratch at least this often.
pub(super) const REFRESH: u32 = 32;

impl Plan {
    /// Plan one trial's step from its state `cur` and previous state
    /// `prev`: [`Self::choose`], forcing a full sum once `since_full` (steps
    /// since the last one, kept by the caller per trial) reaches
    /// [`REFRESH`], and update that count.
    pub(super) fn plan_step(&mut self, cur: &[u64], prev: &[u64], n: usize, since_full: &mut u32) {
        self.choose(cur, prev, n, *since_full >= REFRESH);
        *since_full = if self.incremental { *since_full + 1 } else { 0 };
    }

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
