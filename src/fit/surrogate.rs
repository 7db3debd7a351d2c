//! Two checks of how far the fitted couplings can be trusted: a surrogate
//! with the couplings destroyed, and split-half reliability.
//!
//! **Surrogate.** Refit maximum likelihood on data in which each neuron's
//! trials are permuted independently: neuron i's trial r becomes its
//! trial `π_i(r)`, so every neuron keeps its own spike trains, its
//! autocorrelation and its PSTH (trial-averaged rate per bin, exactly),
//! while the alignment between neurons, which the couplings describe, is
//! destroyed (up to the 1/R of trials a pair of permutations happens to
//! leave aligned). Without trials, each neuron's train is shifted
//! circularly by its own random offset, uniform in `[T/10, T − T/10]`
//! bins: whole blocks of the train move together, its rate and
//! autocorrelation are kept (one transition at the wrap point aside), and
//! two neurons share an offset with probability about 1/T (offsets in
//! whole multiples of a coarse block would leave many pairs aligned).
//! Couplings that pass Benjamini–Hochberg on the surrogate at the same q
//! are what shared stimulus drive and chance alone produce; a trustworthy
//! data fit passes many more.
//!
//! Both counts test the N(N−1) off-diagonal couplings: a self-coupling
//! describes a unit's own history, which both surrogates keep.
//!
//! **Split half.** Fit the two halves of the data separately (even and
//! odd trials, or the first and second half of the bins of a single
//! recording) and correlate the off-diagonal couplings. With estimation
//! noise of variance σ² in each half and couplings of spread var(J), the
//! correlation is about `var(J) / (var(J) + σ²)`: near 1 when the
//! couplings stand well above their standard errors, near 0 when there
//! is nothing to estimate.

use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};

use super::ml::{MlFit, ValidMlFit};
use super::uncertainty::{benjamini_hochberg, standard_errors};
use crate::progress::{FitInfo, Progress, StopToken};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Data with the couplings destroyed (see the module docs).
#[derive(Clone, Debug)]
pub struct Surrogate {
    /// The surrogate raster (same shape as the data).
    pub raster: SpikeRaster,
    /// One line saying how it was made.
    pub description: String,
}

/// Permute each neuron's trials independently (R ≥ 2), or shift each
/// neuron's single train circularly by its own offset (R = 1); seeded,
/// deterministic.
pub fn shuffle(raster: &SpikeRaster, seed: u64) -> Result<Surrogate> {
    let (rr, tt, n) = raster.shape();
    if rr == 0 || tt < 2 || n == 0 {
        return Err(Error::NotEnoughData(format!(
            "a surrogate needs at least 1 trial of 2 bins and 1 unit; the raster is {:?}",
            raster.shape()
        )));
    }
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = SpikeRaster::zeros(rr, tt, n)?;
    if rr >= 2 {
        let mut perm: Vec<usize> = (0..rr).collect();
        for i in 0..n {
            // Fisher–Yates, one permutation per neuron.
            for k in (1..rr).rev() {
                let l = rng.random_range(0..=k);
                perm.swap(k, l);
            }
            for (r, &src) in perm.iter().enumerate() {
                for t in 0..tt {
                    if raster.get(src, t, i) {
                        out.set(r, t, i, true);
                    }
                }
            }
        }
        Ok(Surrogate {
            raster: out,
            description: format!(
                "each unit's {rr} trials permuted independently (seed {seed}): PSTHs kept, couplings destroyed"
            ),
        })
    } else {
        let margin = (tt / 10).max(1);
        if tt < 2 * margin + 1 {
            return Err(Error::NotEnoughData(format!(
                "a circular-shift surrogate needs at least 3 bins; the raster has {tt}"
            )));
        }
        for i in 0..n {
            let shift = rng.random_range(margin..=tt - margin);
            for t in 0..tt {
                if raster.get(0, t, i) {
                    out.set(0, (t + shift) % tt, i, true);
                }
            }
        }
        Ok(Surrogate {
            raster: out,
            description: format!(
                "no trials: each unit's train shifted circularly by its own random offset of {margin}..{} bins (seed {seed}): rates kept, couplings destroyed",
                tt - margin
            ),
        })
    }
}

/// Off-diagonal couplings that Benjamini–Hochberg at level `q` declares
/// non-zero (two-sided normal p of z = J/se over the N(N−1) entries).
pub fn count_significant(j: &DMatrix<f64>, se: &DMatrix<f64>, q: f64) -> Result<usize> {
    if !(q > 0.0 && q < 1.0) {
        return Err(Error::param("fdr", q, "the FDR level must lie in (0, 1)"));
    }
    if j.shape() != se.shape() || j.nrows() != j.ncols() {
        return Err(Error::shape(
            "standard errors",
            format!("{} x {} (square)", j.nrows(), j.ncols()),
            format!("{} x {}", se.nrows(), se.ncols()),
        ));
    }
    let n = j.nrows();
    let p: Vec<f64> = (0..n)
        .flat_map(|i| (0..n).filter(move |&k| k != i).map(move |k| (i, k)))
        .map(|(i, k)| libm::erfc((j[(i, k)] / se[(i, k)]).abs() / std::f64::consts::SQRT_2))
        .collect();
    Ok(benjamini_hochberg(&p, q).into_iter().filter(|&b| b).count())
}

/// Options of the surrogate check.
#[derive(Clone, Debug, PartialEq)]
pub struct SurrogateOptions {
    /// FDR level of Benjamini–Hochberg (default 0.05).
    pub q: f64,
    /// Seed of the shuffle.
    pub seed: u64,
    /// The fit settings (use the data fit's L2).
    pub fit: MlFit,
}

impl Default for SurrogateOptions {
    fn default() -> Self {
        Self {
            q: 0.05,
            seed: 1,
            fit: MlFit::default(),
        }
    }
}

/// Significant couplings in the data and in the surrogate.
#[derive(Clone, Debug, PartialEq)]
pub struct SurrogateCheck {
    /// The FDR level.
    pub q: f64,
    /// Off-diagonal couplings passing BH in the data fit.
    pub significant_data: usize,
    /// The same in the surrogate fit.
    pub significant_surrogate: usize,
    /// Couplings tested in each (N(N−1)).
    pub n_tested: usize,
    /// How the surrogate was made.
    pub description: String,
    /// Convergence record of the surrogate fit.
    pub surrogate_info: FitInfo,
}

impl SurrogateCheck {
    /// One line for stderr and the app.
    pub fn summary(&self) -> String {
        format!(
            "{} of {} couplings significant at FDR q = {} in the data, {} in the surrogate ({})",
            self.significant_data,
            self.n_tested,
            self.q,
            self.significant_surrogate,
            self.description
        )
    }
}

/// Fit ML with standard errors to the surrogate of `raster` and count the
/// couplings passing BH, next to those of the data fit (`data_j`,
/// `data_se`: the effective couplings fitted to the same raster with the
/// same settings, and their standard errors). Progress: the surrogate
/// fit's data passes.
pub fn surrogate_check(
    raster: &SpikeRaster,
    data_j: &DMatrix<f64>,
    data_se: &DMatrix<f64>,
    opts: &SurrogateOptions,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<SurrogateCheck> {
    let n = raster.n_units();
    if data_j.shape() != (n, n) {
        return Err(Error::shape(
            "data couplings",
            format!("{n} x {n} (the raster's units)"),
            format!("{} x {}", data_j.nrows(), data_j.ncols()),
        ));
    }
    let significant_data = count_significant(data_j, data_se, opts.q)?;
    let fit = opts.fit.clone().validate()?;
    let sur = shuffle(raster, opts.seed)?;
    let est = fit.fit(&sur.raster, progress, stop)?;
    stop.check()?;
    let se = standard_errors(&sur.raster, &est.h, &est.j, fit.params().l2)?;
    Ok(SurrogateCheck {
        q: opts.q,
        significant_data,
        significant_surrogate: count_significant(&est.j, &se.j, opts.q)?,
        n_tested: n * n.saturating_sub(1),
        description: sur.description,
        surrogate_info: est.info,
    })
}

/// Couplings fitted to two halves of the data and their agreement.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitHalf {
    /// Effective couplings of the first half (`[i, j]`: from j at t−1 to
    /// i at t).
    pub j_a: DMatrix<f64>,
    /// The same for the second half.
    pub j_b: DMatrix<f64>,
    /// Pearson correlation of the N(N−1) off-diagonal couplings of the
    /// halves (NaN when either has no spread).
    pub correlation: f64,
    /// Which halves (one line).
    pub description: String,
}

/// The two halves: even and odd trials (R ≥ 2) or the first and second
/// half of the bins (R = 1), and a description.
pub fn halves(raster: &SpikeRaster) -> Result<(SpikeRaster, SpikeRaster, String)> {
    let (rr, tt, _) = raster.shape();
    if rr >= 2 {
        let pick = |parity: usize| -> Result<SpikeRaster> {
            let parts: Vec<SpikeRaster> = (0..rr)
                .filter(|r| r % 2 == parity)
                .map(|r| raster.slice_trials(r..r + 1))
                .collect::<Result<_>>()?;
            SpikeRaster::concat_trials(&parts)
        };
        Ok((
            pick(0)?,
            pick(1)?,
            format!(
                "even vs odd trials ({} and {} of {rr})",
                rr.div_ceil(2),
                rr / 2
            ),
        ))
    } else {
        if tt < 4 {
            return Err(Error::NotEnoughData(format!(
                "split-half reliability needs at least 4 bins; the raster has {tt}"
            )));
        }
        let mid = tt / 2;
        Ok((
            raster.slice_bins(0..mid)?,
            raster.slice_bins(mid..tt)?,
            format!("first vs second half of the bins (0..{mid} and {mid}..{tt})"),
        ))
    }
}

/// Pearson correlation of the off-diagonal entries of two square matrices.
pub fn off_diagonal_correlation(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let n = a.nrows();
    let pairs: Vec<(f64, f64)> = (0..n)
        .flat_map(|i| (0..n).filter(move |&k| k != i).map(move |k| (i, k)))
        .map(|ik| (a[ik], b[ik]))
        .collect();
    let m = pairs.len() as f64;
    let (ma, mb) = pairs
        .iter()
        .fold((0.0, 0.0), |(x, y), (p, q)| (x + p / m, y + q / m));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (p, q) in &pairs {
        sab += (p - ma) * (q - mb);
        saa += (p - ma) * (p - ma);
        sbb += (q - mb) * (q - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// Fit each half with `fit` and correlate the off-diagonal couplings.
/// Progress: data passes of the two fits (first, then second).
pub fn split_half(
    raster: &SpikeRaster,
    fit: &ValidMlFit,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<SplitHalf> {
    let (a, b, description) = halves(raster)?;
    let ea = fit.fit(&a, progress, stop)?;
    stop.check()?;
    let eb = fit.fit(&b, progress, stop)?;
    stop.check()?;
    Ok(SplitHalf {
        correlation: off_diagonal_correlation(&ea.j, &eb.j),
        j_a: ea.j,
        j_b: eb.j,
        description,
    })
}
