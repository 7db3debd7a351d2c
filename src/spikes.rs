//! The binary spike raster: `R` trials × `T` time bins × `N` units.
//!
//! Every analysis in isingscope works on this one type. A bin of a unit is
//! either active (a spike, state 1, spin +1) or silent (state 0, spin −1); the
//! mapping between the two conventions is `s = 2x − 1`.
//!
//! Storage is bit-packed: each (trial, bin) row of `N` units occupies
//! `ceil(N / 64)` `u64` words, so 1,000 units × 1,000,000 bins take 125 MB
//! (1 bit per bin·unit plus at most 63 bits of padding per row). Index order
//! everywhere is `[trial r][bin t][unit i]`, matching NumPy arrays of shape
//! `(R, T, N)` in C order.

use crate::{Error, Result};

/// A bit-packed binary raster of shape `(n_trials, n_bins, n_units)`.
#[derive(Clone, PartialEq, Eq)]
pub struct SpikeRaster {
    n_trials: usize,
    n_bins: usize,
    n_units: usize,
    words_per_row: usize,
    bits: Vec<u64>,
}

impl std::fmt::Debug for SpikeRaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SpikeRaster {{ trials: {}, bins: {}, units: {}, active: {} }}",
            self.n_trials,
            self.n_bins,
            self.n_units,
            self.count_active()
        )
    }
}

/// Number of `u64` words that hold `n_units` bits.
#[inline]
fn words_for(n_units: usize) -> usize {
    n_units.div_ceil(64)
}

impl SpikeRaster {
    /// An all-silent raster. Fails if the bit count overflows `usize`.
    pub fn zeros(n_trials: usize, n_bins: usize, n_units: usize) -> Result<Self> {
        let words_per_row = words_for(n_units);
        let len = n_trials
            .checked_mul(n_bins)
            .and_then(|x| x.checked_mul(words_per_row))
            .ok_or_else(|| {
                Error::param(
                    "raster shape",
                    format!("({n_trials}, {n_bins}, {n_units})"),
                    "too large to address in memory",
                )
            })?;
        Ok(Self {
            n_trials,
            n_bins,
            n_units,
            words_per_row,
            // Fallible: a shape from a file or an argument must end in an
            // error naming it, not an abort.
            bits: crate::io::memory::try_zeroed(
                &format!("raster ({n_trials} trials x {n_bins} bins x {n_units} units)"),
                len,
                "use a larger bin, a shorter window, fewer trials or fewer units",
            )?,
        })
    }

    /// Number of trials `R`.
    pub fn n_trials(&self) -> usize {
        self.n_trials
    }
    /// Number of time bins `T` per trial.
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }
    /// Number of units (neurons) `N`.
    pub fn n_units(&self) -> usize {
        self.n_units
    }
    /// `(R, T, N)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.n_trials, self.n_bins, self.n_units)
    }
    /// Whether the raster holds no bins at all.
    pub fn is_empty(&self) -> bool {
        self.n_trials == 0 || self.n_bins == 0 || self.n_units == 0
    }
    /// `u64` words per (trial, bin) row.
    pub fn words_per_row(&self) -> usize {
        self.words_per_row
    }
    /// Bytes used by the packed bits.
    pub fn memory_bytes(&self) -> usize {
        self.bits.len() * 8
    }

    #[inline]
    fn row_start(&self, r: usize, t: usize) -> usize {
        debug_assert!(r < self.n_trials && t < self.n_bins);
        (r * self.n_bins + t) * self.words_per_row
    }

    /// Whether unit `i` is active in bin `t` of trial `r`.
    ///
    /// Indices come from loops over the raster's own shape; out-of-range
    /// indices are a programming error and panic.
    #[inline]
    pub fn get(&self, r: usize, t: usize, i: usize) -> bool {
        assert!(i < self.n_units, "unit index {i} out of range");
        let w = self.bits[self.row_start(r, t) + i / 64];
        (w >> (i % 64)) & 1 == 1
    }

    /// The spin (±1) of unit `i` in bin `t` of trial `r`.
    #[inline]
    pub fn spin(&self, r: usize, t: usize, i: usize) -> f64 {
        if self.get(r, t, i) { 1.0 } else { -1.0 }
    }

    /// Set unit `i` in bin `t` of trial `r` active (`true`) or silent.
    #[inline]
    pub fn set(&mut self, r: usize, t: usize, i: usize, active: bool) {
        assert!(i < self.n_units, "unit index {i} out of range");
        let idx = self.row_start(r, t) + i / 64;
        let mask = 1u64 << (i % 64);
        if active {
            self.bits[idx] |= mask;
        } else {
            self.bits[idx] &= !mask;
        }
    }

    /// The packed words of one (trial, bin) row; bit `i % 64` of word `i / 64`
    /// is unit `i`. Padding bits beyond `n_units` are always zero.
    #[inline]
    pub fn row(&self, r: usize, t: usize) -> &[u64] {
        let s = self.row_start(r, t);
        &self.bits[s..s + self.words_per_row]
    }

    /// Mutable packed words of one row. Callers must keep padding bits zero.
    #[inline]
    pub fn row_mut(&mut self, r: usize, t: usize) -> &mut [u64] {
        let s = self.row_start(r, t);
        let w = self.words_per_row;
        &mut self.bits[s..s + w]
    }

    /// All rows of one trial as one slice of `n_bins * words_per_row` words.
    pub fn trial_words(&self, r: usize) -> &[u64] {
        let len = self.n_bins * self.words_per_row;
        &self.bits[r * len..(r + 1) * len]
    }

    /// Mutable words of one trial (see [`SpikeRaster::trial_words`]).
    pub fn trial_words_mut(&mut self, r: usize) -> &mut [u64] {
        let len = self.n_bins * self.words_per_row;
        &mut self.bits[r * len..(r + 1) * len]
    }

    /// Mutable words of every trial at once, one chunk per trial, for
    /// filling trials in parallel.
    pub fn trials_mut(&mut self) -> std::slice::ChunksMut<'_, u64> {
        let len = (self.n_bins * self.words_per_row).max(1);
        self.bits.chunks_mut(len)
    }

    /// Indices of the active units in one row, ascending.
    pub fn active_units(&self, r: usize, t: usize) -> ActiveUnits<'_> {
        ActiveUnits::new(self.row(r, t))
    }

    /// Build from 0/1 values in `[r][t][i]` (C) order. Any value other than 0
    /// or 1 is an error naming its position.
    pub fn from_binary(n_trials: usize, n_bins: usize, n_units: usize, x: &[u8]) -> Result<Self> {
        Self::from_fn_checked(n_trials, n_bins, n_units, x.len(), |k| match x[k] {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(v as f64),
        })
    }

    /// Build from ±1 spins in `[r][t][i]` order. Any other value is an error.
    pub fn from_spins(n_trials: usize, n_bins: usize, n_units: usize, s: &[i8]) -> Result<Self> {
        Self::from_fn_checked(n_trials, n_bins, n_units, s.len(), |k| match s[k] {
            -1 => Ok(false),
            1 => Ok(true),
            v => Err(v as f64),
        })
    }

    /// Build from a flat `[r][t][i]` array through a per-element decoder that
    /// returns the state or the offending value.
    pub fn from_fn_checked(
        n_trials: usize,
        n_bins: usize,
        n_units: usize,
        len: usize,
        decode: impl Fn(usize) -> std::result::Result<bool, f64>,
    ) -> Result<Self> {
        let mut raster = Self::zeros(n_trials, n_bins, n_units)?;
        let expected = n_trials * n_bins * n_units;
        if len != expected {
            return Err(Error::shape(
                "spike raster",
                format!("{expected} values for ({n_trials}, {n_bins}, {n_units})"),
                format!("{len} values"),
            ));
        }
        let mut k = 0;
        for r in 0..n_trials {
            for t in 0..n_bins {
                for i in 0..n_units {
                    match decode(k) {
                        Ok(true) => raster.set(r, t, i, true),
                        Ok(false) => {}
                        Err(v) => {
                            return Err(Error::param(
                                "raster value",
                                v,
                                format!(
                                    "at trial {r}, bin {t}, unit {i}: a raster may hold only 0/1 or -1/+1"
                                ),
                            ));
                        }
                    }
                    k += 1;
                }
            }
        }
        Ok(raster)
    }

    /// The raster as 0/1 bytes in `[r][t][i]` order (for NPY output).
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.n_trials * self.n_bins * self.n_units);
        for r in 0..self.n_trials {
            for t in 0..self.n_bins {
                let row = self.row(r, t);
                for i in 0..self.n_units {
                    out.push(((row[i / 64] >> (i % 64)) & 1) as u8);
                }
            }
        }
        out
    }

    /// The raster as ±1 spins in `[r][t][i]` order.
    pub fn to_spins(&self) -> Vec<i8> {
        self.to_binary()
            .into_iter()
            .map(|x| 2 * x as i8 - 1)
            .collect()
    }

    /// Write the spins (±1) of one row into `out` (length `n_units`).
    pub fn spins_into(&self, r: usize, t: usize, out: &mut [f64]) {
        let row = self.row(r, t);
        for (i, o) in out.iter_mut().enumerate().take(self.n_units) {
            *o = if (row[i / 64] >> (i % 64)) & 1 == 1 {
                1.0
            } else {
                -1.0
            };
        }
    }

    /// Bins `range` of every trial, as a new raster.
    pub fn slice_bins(&self, range: std::ops::Range<usize>) -> Result<Self> {
        if range.start > range.end || range.end > self.n_bins {
            return Err(Error::param(
                "bin range",
                format!("{}..{}", range.start, range.end),
                format!("must lie within 0..{}", self.n_bins),
            ));
        }
        let mut out = Self::zeros(self.n_trials, range.len(), self.n_units)?;
        let w = self.words_per_row;
        for r in 0..self.n_trials {
            let src = &self.trial_words(r)[range.start * w..range.end * w];
            out.trial_words_mut(r).copy_from_slice(src);
        }
        Ok(out)
    }

    /// Trials `range` as a new raster.
    pub fn slice_trials(&self, range: std::ops::Range<usize>) -> Result<Self> {
        if range.start > range.end || range.end > self.n_trials {
            return Err(Error::param(
                "trial range",
                format!("{}..{}", range.start, range.end),
                format!("must lie within 0..{}", self.n_trials),
            ));
        }
        let len = self.n_bins * self.words_per_row;
        Ok(Self {
            n_trials: range.len(),
            n_bins: self.n_bins,
            n_units: self.n_units,
            words_per_row: self.words_per_row,
            bits: self.bits[range.start * len..range.end * len].to_vec(),
        })
    }

    /// The given units, in the given order, as a new raster (column `k` of the
    /// result is unit `units[k]` of `self`).
    pub fn select_units(&self, units: &[usize]) -> Result<Self> {
        if let Some(&bad) = units.iter().find(|&&u| u >= self.n_units) {
            return Err(Error::param(
                "unit index",
                bad,
                format!("the raster has {} units", self.n_units),
            ));
        }
        let mut out = Self::zeros(self.n_trials, self.n_bins, units.len())?;
        for r in 0..self.n_trials {
            for t in 0..self.n_bins {
                let row = self.row(r, t);
                let mut packed = vec![0u64; out.words_per_row];
                for (k, &u) in units.iter().enumerate() {
                    if (row[u / 64] >> (u % 64)) & 1 == 1 {
                        packed[k / 64] |= 1 << (k % 64);
                    }
                }
                out.row_mut(r, t).copy_from_slice(&packed);
            }
        }
        Ok(out)
    }

    /// Concatenate rasters with the same `(T, N)` along the trial axis.
    pub fn concat_trials(parts: &[SpikeRaster]) -> Result<Self> {
        let Some(first) = parts.first() else {
            return Err(Error::NotEnoughData("no trials to concatenate".into()));
        };
        let mut bits = Vec::new();
        let mut n_trials = 0;
        for p in parts {
            if p.n_bins != first.n_bins || p.n_units != first.n_units {
                return Err(Error::shape(
                    "trials to concatenate",
                    format!("(_, {}, {})", first.n_bins, first.n_units),
                    format!("(_, {}, {})", p.n_bins, p.n_units),
                ));
            }
            bits.extend_from_slice(&p.bits);
            n_trials += p.n_trials;
        }
        Ok(Self {
            n_trials,
            n_bins: first.n_bins,
            n_units: first.n_units,
            words_per_row: first.words_per_row,
            bits,
        })
    }

    /// Total number of active (unit, bin) entries.
    pub fn count_active(&self) -> u64 {
        self.bits.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// Active bins per unit, summed over trials and bins.
    pub fn unit_counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.n_units];
        for r in 0..self.n_trials {
            for t in 0..self.n_bins {
                for i in self.active_units(r, t) {
                    counts[i] += 1;
                }
            }
        }
        counts
    }

    /// Fraction of active entries, in [0, 1] (0 for an empty raster).
    pub fn active_fraction(&self) -> f64 {
        let total = (self.n_trials * self.n_bins * self.n_units) as f64;
        if total == 0.0 {
            0.0
        } else {
            self.count_active() as f64 / total
        }
    }
}

/// Iterator over the set bits (active unit indices) of a packed row.
pub struct ActiveUnits<'a> {
    words: &'a [u64],
    word_index: usize,
    current: u64,
}

impl<'a> ActiveUnits<'a> {
    /// Iterate the set bits of `words`.
    pub fn new(words: &'a [u64]) -> Self {
        Self {
            words,
            word_index: 0,
            current: words.first().copied().unwrap_or(0),
        }
    }
}

impl Iterator for ActiveUnits<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.current != 0 {
                let b = self.current.trailing_zeros() as usize;
                self.current &= self.current - 1;
                return Some(self.word_index * 64 + b);
            }
            self.word_index += 1;
            self.current = *self.words.get(self.word_index)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_spin_round_trip() {
        let x: Vec<u8> = (0..2 * 3 * 70)
            .map(|k| ((k * 7 + k / 3) % 3 == 0) as u8)
            .collect();
        let r = SpikeRaster::from_binary(2, 3, 70, &x).unwrap();
        assert_eq!(r.to_binary(), x);
        let s = r.to_spins();
        assert!(s.iter().zip(&x).all(|(&s, &x)| s == 2 * x as i8 - 1));
        assert_eq!(SpikeRaster::from_spins(2, 3, 70, &s).unwrap(), r);
        assert_eq!(r.count_active(), x.iter().map(|&v| v as u64).sum::<u64>());
    }

    #[test]
    fn rejects_values_other_than_binary_or_spin() {
        let err = SpikeRaster::from_binary(1, 1, 3, &[0, 2, 1]).unwrap_err();
        assert!(err.to_string().contains("unit 1"), "{err}");
        let err = SpikeRaster::from_spins(1, 1, 2, &[1, 0]).unwrap_err();
        assert!(err.to_string().contains("0/1 or -1/+1"), "{err}");
    }

    #[test]
    fn active_units_crosses_word_boundaries() {
        let mut r = SpikeRaster::zeros(1, 1, 200).unwrap();
        for i in [0, 63, 64, 127, 128, 199] {
            r.set(0, 0, i, true);
        }
        let got: Vec<usize> = r.active_units(0, 0).collect();
        assert_eq!(got, vec![0, 63, 64, 127, 128, 199]);
    }

    #[test]
    fn slicing_and_selection() {
        let x: Vec<u8> = (0..2 * 5 * 4).map(|k| (k % 5 == 1) as u8).collect();
        let r = SpikeRaster::from_binary(2, 5, 4, &x).unwrap();
        let s = r.slice_bins(1..4).unwrap();
        assert_eq!(s.shape(), (2, 3, 4));
        for tr in 0..2 {
            for t in 0..3 {
                for i in 0..4 {
                    assert_eq!(s.get(tr, t, i), r.get(tr, t + 1, i));
                }
            }
        }
        let u = r.select_units(&[3, 0]).unwrap();
        assert_eq!(u.get(1, 2, 0), r.get(1, 2, 3));
        assert_eq!(u.get(1, 2, 1), r.get(1, 2, 0));
        assert!(r.select_units(&[4]).is_err());
        assert!(r.slice_bins(2..6).is_err());
        let c = SpikeRaster::concat_trials(&[r.clone(), r.slice_trials(1..2).unwrap()]).unwrap();
        assert_eq!(c.n_trials(), 3);
        assert_eq!(c.row(2, 3), r.row(1, 3));
    }

    #[test]
    fn memory_is_one_bit_per_entry() {
        let r = SpikeRaster::zeros(1, 1000, 1024).unwrap();
        assert_eq!(r.memory_bytes(), 1000 * 1024 / 8);
    }
}
