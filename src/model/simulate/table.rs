//! The field kernel for networks up to [`MAX_TABLE_N`] spins: lookup tables
//! over groups of spins (the "method of four Russians" for ±1 vectors).
//!
//! Spins are ±1, so the contribution of a group of [`GROUP`] consecutive
//! presynaptic spins `j = 4g … 4g+3` to the field of neuron i,
//! `Σ_k βJ_{i,4g+k} s_{4g+k}`, takes one of only 16 values, one per sign
//! pattern — and the pattern is simply 4 bits of the packed state. Those
//! values are tabulated once per network for blocks of [`ROWS`] receiving
//! neurons (one 64-byte cache line each), and a field block becomes
//!
//! ```text
//! h[16 rows] = βH[rows] + Σ_{g < N/4} table[rows][g][pattern_g(s)]
//! ```
//!
//! N/4 vector additions per 16 rows instead of N multiply-adds (or, for
//! the sparse column kernel, about N/2 column additions plus the index
//! bookkeeping), with no branches and no dependence on the activity. The
//! fields are recomputed from scratch every step, so there is no drift.
//!
//! Memory: `16·N²` bytes (4× the f32 couplings), 16 MB at N = 1,024 and
//! 64 MB at N = 2,048; beyond that the sparse column kernel is used.
//!
//! Precision: each entry is summed in f64 and rounded once to f32; a field
//! adds N/4 entries in f32 (relative error ~1e-7·√(N/4)), far below any
//! sampling error.

use rayon::prelude::*;

use super::sample::{LANES, TrialRng, sample_lane};
use crate::model::KineticIsing;

/// Presynaptic spins per lookup.
pub(crate) const GROUP: usize = 4;
/// Sign patterns per group.
const PATTERNS: usize = 1 << GROUP;
/// Receiving neurons per table entry (16 f32 = one cache line; one
/// sampling lane).
pub(crate) const ROWS: usize = LANES;
/// Groups summed per pass over a batch (16 KB of table entries, see
/// [`PatternTable::batch_step`]).
const GROUPS_PER_PASS: usize = 16;
/// Trials per sub-batch in [`PatternTable::batch_step`].
const TRIALS_PER_PASS: usize = 128;
/// Largest network simulated with tables (64 MB of tables).
pub(crate) const MAX_TABLE_N: usize = 2048;

/// 16 f32 on one cache line: the unit of the tables and of the field blocks.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Lane(pub(crate) [f32; ROWS]);

/// The tabulated couplings of one network (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct PatternTable {
    n: usize,
    groups: usize,
    row_blocks: usize,
    /// Entry for row block `rb`, group `g`, pattern `p` at
    /// `[rb * groups + g][p]`: lane `ii` holds
    /// `Σ_{k<4} (bit k of p ? +1 : −1) · βJ_{16rb+ii, 4g+k}` (0 for padding).
    entries: Vec<[Lane; PATTERNS]>,
    /// `βH` by row block (0 for padding rows).
    bias: Vec<Lane>,
}

impl PatternTable {
    /// Tabulate `model` (any N; the caller decides whether the memory is
    /// worth it, see [`MAX_TABLE_N`]).
    pub(crate) fn new(model: &KineticIsing) -> Self {
        let n = model.n();
        let groups = n.div_ceil(GROUP);
        let row_blocks = n.div_ceil(ROWS);
        let beta = model.beta();
        let (j, h) = (model.j(), model.h());
        let mut entries = vec![[Lane::default(); PATTERNS]; row_blocks * groups];
        entries
            .par_chunks_mut(groups)
            .enumerate()
            .for_each(|(rb, block)| {
                for ii in 0..ROWS {
                    let i = rb * ROWS + ii;
                    if i >= n {
                        break;
                    }
                    for (g, tab) in block.iter_mut().enumerate() {
                        let mut c = [0f64; GROUP];
                        for (k, ck) in c.iter_mut().enumerate() {
                            let col = g * GROUP + k;
                            if col < n {
                                *ck = beta * j[(i, col)];
                            }
                        }
                        for (p, entry) in tab.iter_mut().enumerate() {
                            let v: f64 = c
                                .iter()
                                .enumerate()
                                .map(|(k, &ck)| if p >> k & 1 == 1 { ck } else { -ck })
                                .sum();
                            entry.0[ii] = v as f32;
                        }
                    }
                }
            });
        let mut bias = vec![Lane::default(); row_blocks];
        for i in 0..n {
            bias[i / ROWS].0[i % ROWS] = (beta * h[i]) as f32;
        }
        Self {
            n,
            groups,
            row_blocks,
            entries,
            bias,
        }
    }

    /// Number of 4-spin groups, the length of a pattern list.
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// The 4-bit sign pattern of every group of a packed state, into
    /// `patterns` (length [`Self::groups`]).
    pub(crate) fn patterns(&self, state: &[u64], patterns: &mut [u8]) {
        for (g, p) in patterns.iter_mut().enumerate() {
            let bit = g * GROUP;
            *p = ((state[bit / 64] >> (bit % 64)) & (PATTERNS as u64 - 1)) as u8;
        }
    }

    /// One step for a batch of trials: the fields of the states whose
    /// patterns are `patterns[r * groups ..]` into `fields[r * n ..]`, and
    /// new states drawn from them into `next[r * words ..]` (the same draws,
    /// in the same order, as [`super::sample::sample_state`] on those fields). Row blocks
    /// outermost, so each block of the table is reused from cache across
    /// the batch; each block of 16 spins is sampled while its fields are
    /// still in registers.
    pub(crate) fn batch_step(
        &self,
        patterns: &[u8],
        fields: &mut [f32],
        next: &mut [u64],
        rngs: &mut [TrialRng],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F (checked just above), the
                // only requirement of `batch_step_avx512`.
                return unsafe { self.batch_step_avx512(patterns, fields, next, rngs) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above, for AVX2.
                return unsafe { self.batch_step_avx2(patterns, fields, next, rngs) };
            }
        }
        self.batch_step_generic(patterns, fields, next, rngs)
    }

    // Builds of the generic loops for the vector extensions (the same
    // additions in the same order, so results do not depend on the CPU).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn batch_step_avx512(
        &self,
        patterns: &[u8],
        fields: &mut [f32],
        next: &mut [u64],
        rngs: &mut [TrialRng],
    ) {
        self.batch_step_generic(patterns, fields, next, rngs)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn batch_step_avx2(
        &self,
        patterns: &[u8],
        fields: &mut [f32],
        next: &mut [u64],
        rngs: &mut [TrialRng],
    ) {
        self.batch_step_generic(patterns, fields, next, rngs)
    }

    #[inline(always)]
    fn batch_step_generic(
        &self,
        patterns: &[u8],
        fields: &mut [f32],
        next: &mut [u64],
        rngs: &mut [TrialRng],
    ) {
        let (n, groups) = (self.n, self.groups);
        let words = n.div_ceil(64);
        next.fill(0);
        // Sub-batches of TRIALS_PER_PASS trials, each with one partial field
        // block per trial while the groups are swept in chunks of
        // GROUPS_PER_PASS: the chunk's table entries (16 KB) are reused
        // from L1 across the sub-batch (~8 trials per pattern).
        let mut acc = [Lane::default(); TRIALS_PER_PASS];
        // Row blocks outermost: one block's slab of the table (N/4 groups ×
        // 1 KB, 128 KB at N = 512) stays in L2 across all sub-batches.
        for rb in 0..self.row_blocks {
            let (lo, hi) = (rb * ROWS, (rb * ROWS + ROWS).min(n));
            let tail_mask = if hi - lo == ROWS {
                u64::MAX
            } else {
                (1u64 << (hi - lo)) - 1
            };
            for (((pats, fields), next), rngs) in patterns
                .chunks(groups * TRIALS_PER_PASS)
                .zip(fields.chunks_mut(n * TRIALS_PER_PASS))
                .zip(next.chunks_mut(words * TRIALS_PER_PASS))
                .zip(rngs.chunks_mut(TRIALS_PER_PASS))
            {
                let acc = &mut acc[..rngs.len()];
                acc.fill(self.bias[rb]);
                for g0 in (0..groups).step_by(GROUPS_PER_PASS) {
                    let g1 = (g0 + GROUPS_PER_PASS).min(groups);
                    for (a, p) in acc.iter_mut().zip(pats.chunks_exact(groups)) {
                        self.add_groups(rb, g0..g1, p, a);
                    }
                }
                for (((a, f), s), rng) in acc
                    .iter()
                    .zip(fields.chunks_exact_mut(n))
                    .zip(next.chunks_exact_mut(words))
                    .zip(rngs.iter_mut())
                {
                    match <&mut [f32; ROWS]>::try_from(&mut f[lo..hi]) {
                        Ok(full) => *full = a.0,
                        Err(_) => f[lo..hi].copy_from_slice(&a.0[..hi - lo]),
                    }
                    let bits = u64::from(sample_lane(&a.0, rng)) & tail_mask;
                    s[rb / 4] |= bits << (16 * (rb % 4));
                }
            }
        }
    }

    /// `acc += Σ_{g in range} table[rb][g][pattern_g]`.
    #[inline(always)]
    fn add_groups(
        &self,
        rb: usize,
        range: std::ops::Range<usize>,
        patterns: &[u8],
        acc: &mut Lane,
    ) {
        #[inline(always)]
        fn add(acc: &mut [f32; ROWS], tab: &[Lane; PATTERNS], p: u8) {
            let e = &tab[usize::from(p) % PATTERNS].0;
            for k in 0..ROWS {
                acc[k] += e[k];
            }
        }
        let base = rb * self.groups;
        let tabs = &self.entries[base + range.start..base + range.end];
        let pats = &patterns[range];
        // Four independent partial sums so consecutive additions do not
        // wait on each other's latency.
        let mut a0 = acc.0;
        let (mut a1, mut a2, mut a3) = ([0f32; ROWS], [0f32; ROWS], [0f32; ROWS]);
        let mut t4 = tabs.chunks_exact(4);
        let mut p4 = pats.chunks_exact(4);
        for (t, p) in t4.by_ref().zip(p4.by_ref()) {
            add(&mut a0, &t[0], p[0]);
            add(&mut a1, &t[1], p[1]);
            add(&mut a2, &t[2], p[2]);
            add(&mut a3, &t[3], p[3]);
        }
        for (t, &p) in t4.remainder().iter().zip(p4.remainder()) {
            add(&mut a0, t, p);
        }
        for k in 0..ROWS {
            acc.0[k] = (a0[k] + a1[k]) + (a2[k] + a3[k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{DMatrix, DVector};
    use rand::{RngExt, SeedableRng};

    /// Table fields equal `βH + βJ s` for random states of sizes that do
    /// and do not fill the last group and row block.
    #[test]
    fn table_fields_match_the_direct_sum() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        for n in [1usize, 3, 4, 15, 16, 17, 63, 64, 65, 130] {
            let j = DMatrix::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0));
            let h = DVector::from_fn(n, |_, _| rng.random_range(-1.0..1.0));
            let beta = 0.7;
            let model = KineticIsing::new(h.clone(), j.clone(), beta).expect("model");
            let table = PatternTable::new(&model);
            for _ in 0..20 {
                let s: Vec<bool> = (0..n).map(|_| rng.random::<bool>()).collect();
                let mut words = vec![0u64; n.div_ceil(64)];
                for (i, &up) in s.iter().enumerate() {
                    if up {
                        words[i / 64] |= 1 << (i % 64);
                    }
                }
                let mut pats = vec![0u8; table.groups()];
                table.patterns(&words, &mut pats);
                let mut fields = vec![0f32; n];
                let mut next = vec![0u64; n.div_ceil(64)];
                let mut rngs = [TrialRng::seed_from_u64(1)];
                table.batch_step(&pats, &mut fields, &mut next, &mut rngs);
                for i in 0..n {
                    let exact: f64 = beta
                        * (h[i]
                            + (0..n)
                                .map(|k| j[(i, k)] * if s[k] { 1.0 } else { -1.0 })
                                .sum::<f64>());
                    // f32 entries and N/4 f32 additions of terms ≤ 4β.
                    let tol = 1e-6 * (1.0 + n as f64 * beta);
                    assert!(
                        (f64::from(fields[i]) - exact).abs() < tol,
                        "n = {n}, i = {i}: {} vs {exact}",
                        fields[i]
                    );
                }
            }
        }
    }
}
