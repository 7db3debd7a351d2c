//! Per-pixel aggregates of a raster, so that drawing a raster costs in
//! proportion to the screen size, not to the number of spikes (used by the
//! app's raster view; no GUI types here).
//!
//! An [`ActivityPyramid`] holds, per unit, spike counts over blocks of
//! 64, 256, 1024, … bins of the trial-concatenated time axis (u16 counts,
//! about 2 bytes per 64 bins per unit at the finest level: 31 MB for 1,000
//! units × 1,000,000 bins). A view asks for the activity of `width` pixel
//! columns over a bin range; it sums the coarsest level whose blocks are
//! no wider than a pixel, or reads the raster rows directly when zoomed in
//! further than 64 bins per pixel.

use crate::spikes::SpikeRaster;

/// Block sizes (bins) of the pyramid levels.
const FINEST_BLOCK: usize = 64;
const FACTOR: usize = 4;

/// Multi-resolution spike counts of a raster (see the module docs).
pub struct ActivityPyramid {
    n_units: usize,
    /// Bins on the concatenated time axis (trials × bins per trial).
    total_bins: usize,
    bins_per_trial: usize,
    /// `(block, counts[unit * n_blocks + b])`, finest first.
    levels: Vec<(usize, Vec<u16>)>,
}

impl ActivityPyramid {
    /// Build from a raster (one pass over the active entries, then sums).
    pub fn build(raster: &SpikeRaster) -> Self {
        let n = raster.n_units();
        let bins_per_trial = raster.n_bins();
        let total_bins = raster.n_trials() * bins_per_trial;
        let nb0 = total_bins.div_ceil(FINEST_BLOCK);
        let mut finest = vec![0u16; n * nb0];
        for r in 0..raster.n_trials() {
            for t in 0..bins_per_trial {
                let b = (r * bins_per_trial + t) / FINEST_BLOCK;
                for i in raster.active_units(r, t) {
                    finest[i * nb0 + b] += 1;
                }
            }
        }
        let mut levels = vec![(FINEST_BLOCK, finest)];
        while let Some((block, prev)) = levels.last() {
            let block = *block;
            let nb_prev = total_bins.div_ceil(block);
            if nb_prev <= 1 || block >= total_bins {
                break;
            }
            let nb = nb_prev.div_ceil(FACTOR);
            let mut next = vec![0u16; n * nb];
            for i in 0..n {
                for b in 0..nb_prev {
                    let v = next[i * nb + b / FACTOR] as u32 + prev[i * nb_prev + b] as u32;
                    next[i * nb + b / FACTOR] = v.min(u16::MAX as u32) as u16;
                }
            }
            levels.push((block * FACTOR, next));
        }
        Self {
            n_units: n,
            total_bins,
            bins_per_trial,
            levels,
        }
    }

    /// Bins on the concatenated axis.
    pub fn total_bins(&self) -> usize {
        self.total_bins
    }

    /// Spike counts and bin counts per (unit, pixel column) over bins
    /// `[start, end)` of the concatenated axis split into `width` columns:
    /// `counts[unit * width + x]`, and `bins[x]` the bins each column covers.
    pub fn aggregate(
        &self,
        raster: &SpikeRaster,
        start: usize,
        end: usize,
        width: usize,
        counts: &mut Vec<u32>,
        bins: &mut Vec<u32>,
    ) {
        let n = self.n_units;
        let end = end.min(self.total_bins);
        counts.clear();
        counts.resize(n * width, 0);
        bins.clear();
        bins.resize(width, 0);
        if width == 0 || start >= end {
            return;
        }
        let span = (end - start) as f64;
        let column = |bin: usize| (((bin - start) as f64 / span) * width as f64) as usize;
        for (x, bx) in bins.iter_mut().enumerate() {
            let a = start + (span * x as f64 / width as f64) as usize;
            let b = start + (span * (x + 1) as f64 / width as f64) as usize;
            *bx = (b.min(end) - a.min(end)) as u32;
        }
        let per_pixel = span / width as f64;
        // The coarsest level whose blocks fit in a pixel.
        let level = self
            .levels
            .iter()
            .rev()
            .find(|(block, _)| (*block as f64) <= per_pixel);
        match level {
            Some((block, c)) => {
                let nb = self.total_bins.div_ceil(*block);
                let (b0, b1) = (start / block, end.div_ceil(*block).min(nb));
                // Each whole block goes to the column of its (clipped) start;
                // the denominator counts the bins those blocks cover, so a
                // column holding two blocks is not drawn twice as dense.
                bins.iter_mut().for_each(|b| *b = 0);
                for b in b0..b1 {
                    let lo = (b * block).max(start);
                    let hi = ((b + 1) * block).min(self.total_bins);
                    let x = column(lo).min(width - 1);
                    bins[x] += (hi - b * block) as u32;
                }
                for i in 0..n {
                    let row = &c[i * nb..(i + 1) * nb];
                    let out = &mut counts[i * width..(i + 1) * width];
                    for (b, &v) in row.iter().enumerate().take(b1).skip(b0) {
                        let x = column((b * block).max(start)).min(width - 1);
                        out[x] += v as u32;
                    }
                }
            }
            None => {
                // Zoomed in: count each bin in the column its spikes go to
                // (the even split above can put a bin's count and the bin
                // itself in different columns when columns outnumber bins).
                bins.iter_mut().for_each(|b| *b = 0);
                for bin in start..end {
                    let (r, t) = (bin / self.bins_per_trial, bin % self.bins_per_trial);
                    let x = column(bin).min(width - 1);
                    bins[x] += 1;
                    for i in raster.active_units(r, t) {
                        counts[i * width + x] += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_equal_direct_counts_at_every_zoom() {
        let (r, t, n) = (3, 5000, 7);
        let x: Vec<u8> = (0..r * t * n)
            .map(|k| ((k * 7919) % 13 < 3) as u8)
            .collect();
        let raster = SpikeRaster::from_binary(r, t, n, &x).unwrap();
        let pyr = ActivityPyramid::build(&raster);
        let (mut counts, mut bins) = (Vec::new(), Vec::new());
        // Total counts over the whole axis must be exact at any width
        // (every level holds exact sums).
        for width in [1, 7, 100, 3000, 15000] {
            pyr.aggregate(&raster, 0, r * t, width, &mut counts, &mut bins);
            for i in 0..n {
                let total: u32 = counts[i * width..(i + 1) * width].iter().sum();
                let direct = (0..r * t).filter(|&b| raster.get(b / t, b % t, i)).count() as u32;
                assert_eq!(total, direct, "unit {i}, width {width}");
            }
            assert_eq!(bins.iter().sum::<u32>() as usize, r * t);
        }
        // Zoomed in (direct path): each column is exactly its bins.
        pyr.aggregate(&raster, 100, 140, 40, &mut counts, &mut bins);
        for xcol in 0..40 {
            let b = 100 + xcol;
            assert_eq!(counts[2 * 40 + xcol], raster.get(b / t, b % t, 2) as u32);
        }
    }
}
