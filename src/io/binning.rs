//! Binning sorted spikes into the binary raster, continuously or aligned to
//! trials.
//!
//! ## The rule
//!
//! With bin width `w` and window start `t0`, bin `k` is the half-open
//! interval `[t0 + k·w, t0 + (k+1)·w)`. To make the rule exact for spike
//! times on a sample grid (which hit bin edges often, and whose decimal
//! seconds are not exact in binary), every time, `t0` and `w` are first
//! rounded to the nearest nanosecond and compared as integers:
//!
//! ```text
//! k = floor((round(t·1e9) − round(t0·1e9)) / round(w·1e9))
//! ```
//!
//! A bin is active (state 1, spin +1) for a unit when at least one of its
//! spikes falls in it. More spikes of the same unit in one bin count once;
//! their number beyond the first is reported as `merged_spikes` so that a
//! user can choose a smaller bin.
//!
//! ## Windows
//!
//! * Continuous: one trial from `start` (default 0 s, the recording's
//!   start). With an explicit `stop`, `T = floor((stop − start)/w)` whole
//!   bins (a trailing partial bin is dropped). Without it, `T` covers the
//!   recording: the whole bins up to [`SpikeTrains::end_time`] (the last
//!   interval stop or spike), extended by one bin if the last spike would
//!   otherwise fall in a dropped partial bin.
//! * Aligned: one trial per event time `e`, window `[e − pre, e − pre + T·w)`
//!   with `T = floor((pre + post)/w)`; the result has shape `(R, T, N)` with
//!   `R` = number of events.
//!
//! Unit selection by minimum rate uses each unit's rate over the continuous
//! window (`start`/`stop` above), whatever the alignment.

use rayon::prelude::*;

use super::spike_trains::{Quality, SpikeTrains};
use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Nanoseconds per second.
const NS_PER_S: f64 = 1e9;

/// A time in seconds rounded to the nearest nanosecond (saturating).
#[inline]
pub fn to_ns(t: f64) -> i64 {
    (t * NS_PER_S).round() as i64
}

/// Which units go into the raster.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum UnitSelection {
    /// Every unit, in load order.
    #[default]
    All,
    /// These unit ids, in this order.
    Ids(Vec<i64>),
    /// Units with this curation label.
    Label(Quality),
    /// Units whose rate over the continuous window is at least this many Hz.
    MinRate(f64),
}

impl std::fmt::Display for UnitSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnitSelection::All => f.write_str("all units"),
            UnitSelection::Ids(ids) => {
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                write!(f, "unit ids {}", ids.join(", "))
            }
            UnitSelection::Label(q) => write!(f, "label {q}"),
            UnitSelection::MinRate(hz) => write!(f, "minimum rate {hz} Hz"),
        }
    }
}

/// How spike times map to bins.
#[derive(Clone, Debug, PartialEq)]
pub struct BinOptions {
    /// Bin width, milliseconds.
    pub bin_ms: f64,
    /// Start of the continuous window, seconds (default 0).
    pub start: Option<f64>,
    /// End of the continuous window, seconds (default: the recording's end).
    pub stop: Option<f64>,
    /// Units to keep.
    pub units: UnitSelection,
}

impl BinOptions {
    /// All units, whole recording, bins of `bin_ms` milliseconds.
    pub fn new(bin_ms: f64) -> Self {
        Self {
            bin_ms,
            start: None,
            stop: None,
            units: UnitSelection::All,
        }
    }
}

/// Continuous binning or one trial per event.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Alignment {
    /// One trial over the continuous window.
    #[default]
    Continuous,
    /// One trial per event time `e` (seconds), covering `[e − pre, e + post)`.
    Events {
        /// Event times, seconds.
        times: Vec<f64>,
        /// Seconds before each event.
        pre: f64,
        /// Seconds after each event.
        post: f64,
    },
}

/// Per-unit facts of a binned raster (one per raster column).
#[derive(Clone, Debug, PartialEq)]
pub struct BinnedUnit {
    /// Unit id in the source.
    pub id: i64,
    /// Curation label.
    pub label: Quality,
    /// Spikes that fell in the binned windows.
    pub spikes: u64,
    /// Active bins (summed over trials).
    pub active_bins: u64,
    /// Spikes merged into a bin that already had one (`spikes − active_bins`).
    pub merged_spikes: u64,
    /// Rate over the binned windows, Hz (`spikes / (R·T·w)`).
    pub rate_hz: f64,
}

/// A binned raster with the facts needed to interpret it.
#[derive(Clone, Debug)]
pub struct Binned {
    /// `(R, T, N)` raster; column `k` is `units[k]`.
    pub raster: SpikeRaster,
    /// One entry per raster column.
    pub units: Vec<BinnedUnit>,
    /// Bin width, milliseconds (as requested).
    pub bin_ms: f64,
    /// Start time of each trial's first bin, seconds.
    pub trial_starts: Vec<f64>,
    /// What the caller should tell the user (e.g. trials partly outside
    /// the recording), one line each.
    pub warnings: Vec<String>,
}

impl Binned {
    /// Total spikes merged over all units.
    pub fn merged_spikes(&self) -> u64 {
        self.units.iter().map(|u| u.merged_spikes).sum()
    }
}

/// Largest raster `bin_spikes` will allocate (16 GiB of packed bits): a
/// tiny bin over a long recording is refused with an explanation instead
/// of exhausting memory.
pub const MAX_RASTER_BYTES: u64 = 16 << 30;

/// Refuse rasters above [`MAX_RASTER_BYTES`].
fn check_size(n_trials: usize, n_bins: usize, n_units: usize, bin_ms: f64) -> Result<()> {
    let bytes = (n_trials as u64)
        .saturating_mul(n_bins as u64)
        .saturating_mul(n_units.div_ceil(64) as u64 * 8);
    let hint = "use a larger bin, a shorter window (--start/--stop), fewer trials or fewer units";
    if bytes <= MAX_RASTER_BYTES {
        return crate::io::memory::ensure_fits(
            &format!("a raster of {n_trials} x {n_bins} x {n_units} at {bin_ms} ms bins"),
            bytes,
            hint,
        );
    }
    Err(Error::param(
        "bin width (ms)",
        bin_ms,
        format!(
            "gives a raster of {n_trials} x {n_bins} x {n_units} ({:.1} GiB packed, limit {} GiB); {hint}",
            bytes as f64 / (1u64 << 30) as f64,
            MAX_RASTER_BYTES >> 30
        ),
    ))
}

/// Validated bin width in nanoseconds.
fn bin_width_ns(bin_ms: f64) -> Result<i64> {
    if !bin_ms.is_finite() || bin_ms <= 0.0 {
        return Err(Error::param(
            "bin width (ms)",
            bin_ms,
            "must be a positive number",
        ));
    }
    let w = (bin_ms * 1e6).round();
    if !(1.0..=1e15).contains(&w) {
        return Err(Error::param(
            "bin width (ms)",
            bin_ms,
            "must lie between 1e-6 ms (1 ns) and 1e9 ms",
        ));
    }
    Ok(w as i64)
}

/// Largest time, seconds, that nanosecond arithmetic represents
/// (`i64::MAX` ns is about 292 years; half of it leaves room for sums).
pub const MAX_TIME_S: f64 = 4.6e9;

/// A window bound in nanoseconds: finite and within [`MAX_TIME_S`].
fn window_ns(name: &str, t: f64) -> Result<i64> {
    if !t.is_finite() || t.abs() > MAX_TIME_S {
        return Err(Error::param(
            name,
            t,
            format!("must be a finite time within +-{MAX_TIME_S:e} s"),
        ));
    }
    Ok(to_ns(t))
}

/// The continuous window as `(t0_ns, n_bins)`.
fn continuous_window(trains: &SpikeTrains, opts: &BinOptions, w_ns: i64) -> Result<(i64, usize)> {
    let start = opts.start.unwrap_or(0.0);
    let t0 = window_ns("start (s)", start)?;
    let n_bins = match opts.stop {
        Some(stop) => {
            let t1 = window_ns("stop (s)", stop)?;
            if stop <= start {
                return Err(Error::param(
                    "stop (s)",
                    stop,
                    format!("must be after start = {start} s"),
                ));
            }
            // Both within +-4.6e18 ns: the difference cannot overflow.
            (t1 - t0) / w_ns
        }
        None => {
            let whole = (to_ns(trains.end_time()) - t0).max(0) / w_ns;
            let last = to_ns(trains.last_spike()) - t0;
            if last >= 0 {
                whole.max(last / w_ns + 1)
            } else {
                whole
            }
        }
    };
    if n_bins < 1 {
        return Err(Error::param(
            "time window",
            match opts.stop {
                Some(stop) => format!("start {start} s, stop {stop} s"),
                None => format!("start {start} s to the end of the recording"),
            },
            format!(
                "holds no whole bin of {} ms (the recording ends at {} s)",
                opts.bin_ms,
                trains.end_time()
            ),
        ));
    }
    usize::try_from(n_bins)
        .map(|n| (t0, n))
        .map_err(|_| Error::param("time window", n_bins, "too many bins"))
}

/// Spikes of `times` in `[t0_ns, t1_ns)`.
fn count_in(times: &[f64], t0_ns: i64, t1_ns: i64) -> usize {
    let a = times.partition_point(|&t| to_ns(t) < t0_ns);
    let b = times.partition_point(|&t| to_ns(t) < t1_ns);
    b - a
}

/// Indices of the selected units.
fn select_units(trains: &SpikeTrains, opts: &BinOptions, w_ns: i64) -> Result<Vec<usize>> {
    let units = trains.units();
    let chosen: Vec<usize> = match &opts.units {
        UnitSelection::All => (0..units.len()).collect(),
        UnitSelection::Ids(ids) => ids
            .iter()
            .map(|&id| {
                trains.index_of(id).ok_or_else(|| {
                    let known: Vec<String> =
                        units.iter().take(20).map(|u| u.id.to_string()).collect();
                    Error::param(
                        "unit id",
                        id,
                        format!(
                            "not in {}; its units are {}{}",
                            trains.source().display(),
                            known.join(", "),
                            if units.len() > 20 { ", ..." } else { "" }
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?,
        UnitSelection::Label(q) => (0..units.len()).filter(|&i| units[i].label == *q).collect(),
        UnitSelection::MinRate(hz) => {
            if !hz.is_finite() || *hz < 0.0 {
                return Err(Error::param("minimum rate (Hz)", hz, "must be >= 0"));
            }
            let (t0, n_bins) = continuous_window(trains, opts, w_ns)?;
            let t1 = t0 + n_bins as i64 * w_ns;
            let dur = (t1 - t0) as f64 / NS_PER_S;
            (0..units.len())
                .filter(|&i| count_in(trains.times(i), t0, t1) as f64 / dur >= *hz)
                .collect()
        }
    };
    if chosen.is_empty() {
        return Err(Error::NotEnoughData(format!(
            "no unit of {} matches the selection ({})",
            trains.source().display(),
            opts.units
        )));
    }
    Ok(chosen)
}

/// `floor(d / w)` for `0 <= d`, without a 64-bit integer division (tens of
/// cycles, the main cost of binning 10^7 spikes): a floating-point estimate
/// corrected to the exact integer quotient.
#[inline]
fn bin_of(d: i64, w: i64, inv_w: f64) -> i64 {
    let mut k = (d as f64 * inv_w) as i64;
    if k * w > d {
        k -= 1;
    } else if (k + 1) * w <= d {
        k += 1;
    }
    k
}

/// Rows per sub-chunk: about 512 KB of raster, which stays in the L2
/// cache while every unit's spikes in that time span are written.
fn sub_chunk_bins(wpr: usize) -> usize {
    (1usize << 16).div_ceil(wpr).max(1)
}

/// Set the bits of one window (`n_bins` rows of `wpr` words starting at
/// `t0_ns`) and return, per unit, `(spikes in window, active bins)`.
///
/// The window is swept in cache-sized sub-chunks of rows; each unit keeps a
/// cursor into its sorted train, so each spike is visited once and only one
/// binary search per unit is needed (for the window's start).
fn fill_window(
    words: &mut [u64],
    wpr: usize,
    n_bins: usize,
    t0_ns: i64,
    w_ns: i64,
    trains: &[&[f64]],
) -> Vec<(u64, u64)> {
    let inv_w = 1.0 / w_ns as f64;
    let mut cursor: Vec<usize> = trains
        .iter()
        .map(|times| times.partition_point(|&t| to_ns(t) < t0_ns))
        .collect();
    let first = cursor.clone();
    let mut prev = vec![usize::MAX; trains.len()];
    let mut distinct = vec![0u64; trains.len()];
    let step = sub_chunk_bins(wpr);
    let mut bin0 = 0;
    while bin0 < n_bins {
        let bin1 = (bin0 + step).min(n_bins);
        let end_ns = t0_ns.saturating_add((bin1 as i64).saturating_mul(w_ns));
        for (k, times) in trains.iter().enumerate() {
            let (word, bit) = (k / 64, 1u64 << (k % 64));
            let mut c = cursor[k];
            while let Some(&t) = times.get(c) {
                let ns = to_ns(t);
                if ns >= end_ns {
                    break;
                }
                let bin = bin_of(ns - t0_ns, w_ns, inv_w) as usize;
                if bin != prev[k] {
                    distinct[k] += 1;
                    prev[k] = bin;
                    if let Some(w) = words.get_mut(bin * wpr + word) {
                        *w |= bit;
                    }
                }
                c += 1;
            }
            cursor[k] = c;
        }
        bin0 = bin1;
    }
    cursor
        .iter()
        .zip(&first)
        .zip(&distinct)
        .map(|((&c, &f), &d)| ((c - f) as u64, d))
        .collect()
}

/// Bin `trains` into an `(R, T, N)` raster (see the module docs for the
/// rule and the windows).
///
/// ```
/// use isingscope::io::binning::{Alignment, BinOptions, UnitSelection, bin_spikes};
/// use isingscope::io::{SpikeTrains, UnitInfo};
///
/// let trains = SpikeTrains::new(
///     "example",
///     vec![UnitInfo::new(7), UnitInfo::new(9)],
///     vec![vec![0.010, 0.012, 1.005], vec![1.0199]],
///     vec![],
/// )?;
/// // Trials of [-10 ms, +20 ms) around events at 0 s and 1 s, 10 ms bins.
/// let align = Alignment::Events { times: vec![0.0, 1.0], pre: 0.01, post: 0.02 };
/// let mut opts = BinOptions::new(10.0);
/// opts.units = UnitSelection::Ids(vec![9, 7]); // column 0 = unit 9
/// let b = bin_spikes(&trains, &opts, &align)?;
/// assert_eq!(b.raster.shape(), (2, 3, 2));
/// assert!(b.raster.get(0, 2, 1)); // 10 and 12 ms: bin [10, 20) ms of trial 0
/// assert_eq!(b.units[1].merged_spikes, 1); // ...merged into one active bin
/// assert!(b.raster.get(1, 2, 0)); // 1.0199 s: bin [1.01, 1.02) s of trial 1
/// # Ok::<(), isingscope::Error>(())
/// ```
pub fn bin_spikes(
    trains: &SpikeTrains,
    opts: &BinOptions,
    alignment: &Alignment,
) -> Result<Binned> {
    let w_ns = bin_width_ns(opts.bin_ms)?;
    let chosen = select_units(trains, opts, w_ns)?;
    let mut warnings = Vec::new();
    let selected: Vec<&[f64]> = chosen.iter().map(|&i| trains.times(i)).collect();
    let n = chosen.len();
    let (mut raster, starts_ns, n_bins) = match alignment {
        Alignment::Continuous => {
            let (t0, n_bins) = continuous_window(trains, opts, w_ns)?;
            check_size(1, n_bins, n, opts.bin_ms)?;
            (SpikeRaster::zeros(1, n_bins, n)?, vec![t0], n_bins)
        }
        Alignment::Events { times, pre, post } => {
            for (name, v) in [("pre (s)", *pre), ("post (s)", *post)] {
                if !v.is_finite() || !(0.0..=MAX_TIME_S).contains(&v) {
                    return Err(Error::param(
                        name,
                        v,
                        format!("must be a number between 0 and {MAX_TIME_S:e} s"),
                    ));
                }
            }
            if times.is_empty() {
                return Err(Error::NotEnoughData("no event times to align to".into()));
            }
            if let Some(bad) = times
                .iter()
                .find(|t| !t.is_finite() || t.abs() > MAX_TIME_S)
            {
                return Err(Error::param(
                    "event time",
                    bad,
                    format!("must be a finite time within +-{MAX_TIME_S:e} s"),
                ));
            }
            let n_bins = (to_ns(pre + post) / w_ns) as usize;
            if n_bins == 0 {
                return Err(Error::param(
                    "trial window",
                    format!("pre {pre} s + post {post} s"),
                    format!("is shorter than one bin of {} ms", opts.bin_ms),
                ));
            }
            check_size(times.len(), n_bins, n, opts.bin_ms)?;
            let starts: Vec<i64> = times.iter().map(|&e| to_ns(e - pre)).collect();
            // Trials outside the recording [0, end] would be silent bins
            // that look like data: count them, warn, refuse if all are.
            let end_ns = to_ns(trains.end_time());
            let span = n_bins as i64 * w_ns;
            let outside = starts
                .iter()
                .filter(|&&s| s + span <= 0 || s > end_ns)
                .count();
            let partly = starts
                .iter()
                .filter(|&&s| !(s + span <= 0 || s > end_ns) && (s < 0 || s + span > end_ns))
                .count();
            let source = trains.source().display();
            if outside == starts.len() {
                return Err(Error::NotEnoughData(format!(
                    "all {outside} trials lie outside the recording of {source} (0 to {} s); check the event times and their unit (seconds)",
                    trains.end_time()
                )));
            }
            if outside > 0 {
                warnings.push(format!(
                    "{outside} of {} trials lie wholly outside the recording of {source} (0 to {} s) and are all silent",
                    starts.len(),
                    trains.end_time()
                ));
            }
            if partly > 0 {
                warnings.push(format!(
                    "{partly} of {} trials extend beyond the recording of {source} (0 to {} s); their bins outside it are silent",
                    starts.len(),
                    trains.end_time()
                ));
            }
            (SpikeRaster::zeros(times.len(), n_bins, n)?, starts, n_bins)
        }
    };
    let wpr = raster.words_per_row();
    let counts: Vec<(u64, u64)> = if starts_ns.len() == 1 {
        // One long trial: split its bins into a few segments per thread,
        // filled in parallel. Segments are whole sub-chunks of whole bins,
        // so no bin straddles two segments and the merged-spike counts add
        // up exactly.
        let sub = sub_chunk_bins(wpr);
        let segments = (rayon::current_num_threads() * 4).max(1);
        let seg_bins = n_bins.div_ceil(segments).div_ceil(sub).max(1) * sub;
        let t0 = starts_ns[0];
        raster
            .trial_words_mut(0)
            .par_chunks_mut(seg_bins * wpr)
            .enumerate()
            .map(|(c, words)| {
                let first = c * seg_bins;
                let bins = words.len() / wpr;
                fill_window(words, wpr, bins, t0 + first as i64 * w_ns, w_ns, &selected)
            })
            .reduce(|| vec![(0, 0); n], add_counts)
    } else {
        raster
            .trials_mut()
            .collect::<Vec<_>>()
            .into_par_iter()
            .zip(starts_ns.par_iter())
            .map(|(words, &t0)| fill_window(words, wpr, n_bins, t0, w_ns, &selected))
            .reduce(|| vec![(0, 0); n], add_counts)
    };
    let total_s = (starts_ns.len() * n_bins) as f64 * w_ns as f64 / NS_PER_S;
    let units = chosen
        .iter()
        .zip(&counts)
        .map(|(&i, &(spikes, active))| {
            let u = &trains.units()[i];
            BinnedUnit {
                id: u.id,
                label: u.label,
                spikes,
                active_bins: active,
                merged_spikes: spikes - active,
                rate_hz: spikes as f64 / total_s,
            }
        })
        .collect();
    Ok(Binned {
        raster,
        units,
        bin_ms: opts.bin_ms,
        trial_starts: starts_ns.iter().map(|&t| t as f64 / NS_PER_S).collect(),
        warnings,
    })
}

fn add_counts(mut a: Vec<(u64, u64)>, b: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    for (x, y) in a.iter_mut().zip(b) {
        x.0 += y.0;
        x.1 += y.1;
    }
    a
}

/// A recording at a glance: what `isingscope info` prints.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The source file.
    pub source: std::path::PathBuf,
    /// Total spikes.
    pub n_spikes: usize,
    /// Length of the binned window, seconds (`T·w`).
    pub duration_s: f64,
    /// Bin width used for the active fractions, ms.
    pub bin_ms: f64,
    /// Number of bins `T`.
    pub n_bins: usize,
    /// Per-unit facts (every unit, load order), with location.
    pub units: Vec<(BinnedUnit, String)>,
    /// Fraction of active (bin, unit) entries.
    pub active_fraction: f64,
    /// Spikes merged into already-active bins, all units.
    pub merged_spikes: u64,
    /// Interval tables: name and number of rows.
    pub intervals: Vec<(String, usize)>,
}

/// Summarise a recording: bin every unit over the whole recording at
/// `bin_ms` and report units, rates, active fraction and merged spikes.
pub fn summarize(trains: &SpikeTrains, bin_ms: f64) -> Result<Summary> {
    let binned = bin_spikes(trains, &BinOptions::new(bin_ms), &Alignment::Continuous)?;
    let n_bins = binned.raster.n_bins();
    Ok(Summary {
        source: trains.source().to_path_buf(),
        n_spikes: trains.n_spikes(),
        duration_s: n_bins as f64 * bin_width_ns(bin_ms)? as f64 / NS_PER_S,
        bin_ms,
        n_bins,
        active_fraction: binned.raster.active_fraction(),
        merged_spikes: binned.merged_spikes(),
        units: binned
            .units
            .into_iter()
            .zip(trains.units())
            .map(|(b, u)| (b, u.location.clone()))
            .collect(),
        intervals: trains
            .intervals()
            .iter()
            .map(|t| (t.name.clone(), t.len()))
            .collect(),
    })
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "file: {}", self.source.display())?;
        writeln!(
            f,
            "{} units, {} spikes, {:.3} s ({} bins of {} ms)",
            self.units.len(),
            self.n_spikes,
            self.duration_s,
            self.n_bins,
            self.bin_ms
        )?;
        writeln!(
            f,
            "active fraction {:.5}; {} spikes merged into already-active bins{}",
            self.active_fraction,
            self.merged_spikes,
            if self.merged_spikes > 0 {
                " (use a smaller bin to keep them)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "{:>10}  {:>8}  {:>10}  {:>9}  {:>8}  location",
            "unit_id", "label", "rate_hz", "active", "merged"
        )?;
        for (u, loc) in &self.units {
            writeln!(
                f,
                "{:>10}  {:>8}  {:>10.3}  {:>9.5}  {:>8}  {}",
                u.id,
                u.label.as_str(),
                u.rate_hz,
                u.active_bins as f64 / self.n_bins.max(1) as f64,
                u.merged_spikes,
                loc
            )?;
        }
        if self.intervals.is_empty() {
            writeln!(f, "interval tables: none")?;
        } else {
            let list: Vec<String> = self
                .intervals
                .iter()
                .map(|(n, k)| format!("{n} ({k} rows)"))
                .collect();
            writeln!(f, "interval tables: {}", list.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::spike_trains::{IntervalTable, UnitInfo};

    fn trains(times: Vec<Vec<f64>>) -> SpikeTrains {
        let units = (0..times.len() as i64)
            .map(|i| UnitInfo::new(10 + i))
            .collect();
        SpikeTrains::new("t.csv", units, times, vec![]).unwrap()
    }

    #[test]
    fn edges_are_half_open_after_nanosecond_rounding() {
        // With 100 ms bins the edge between bins 2 and 3 is 300,000,000 ns.
        // 0.2999999994 s = 299,999,999.4 ns -> 299,999,999 -> bin 2;
        // 0.29999999999 s = 299,999,999.99 ns -> 300,000,000 -> bin 3;
        // 0.1 * 3.0 = 0.30000000000000004 s -> 300,000,000 -> bin 3 (merged);
        // 0.3999999999996 s -> 400,000,000 ns -> bin 4 (edge belongs above).
        let s = trains(vec![vec![
            0.0,
            0.2999999994,
            0.29999999999,
            0.1 * 3.0,
            0.3999999999996,
        ]]);
        let mut o = BinOptions::new(100.0);
        o.stop = Some(0.5);
        let b = bin_spikes(&s, &o, &Alignment::Continuous).unwrap();
        assert_eq!(b.raster.shape(), (1, 5, 1));
        let col: Vec<bool> = (0..5).map(|t| b.raster.get(0, t, 0)).collect();
        assert_eq!(col, vec![true, false, true, true, true]);
        assert_eq!(b.units[0].spikes, 5);
        assert_eq!(b.units[0].active_bins, 4);
        assert_eq!(b.units[0].merged_spikes, 1);
    }

    #[test]
    fn bin_index_is_the_exact_integer_quotient() {
        for w in [1i64, 3, 7, 1_000_000, 33_333_333, 10_000_000] {
            let inv = 1.0 / w as f64;
            // Exact multiples of w and their neighbours, up to 10^5 bins and
            // around one hour in nanoseconds (3.6e12, where f64 still
            // resolves 1 ns but d / w in floating point may round across a
            // bin edge).
            let ks = (0..2000i64).chain((0..2000).map(|k| 3_600_000_000_000 / w + k * 997));
            for k in ks {
                for d in [k * w - 1, k * w, k * w + 1, k] {
                    if d >= 0 {
                        assert_eq!(bin_of(d, w, inv), d / w, "d = {d}, w = {w}");
                    }
                }
            }
        }
    }

    #[test]
    fn default_window_covers_last_spike_and_intervals() {
        // Last spike exactly on an edge: 1.0 s with 0.5 s bins is bin 2, so
        // T = 3 (not 2) so that it is kept.
        let s = trains(vec![vec![0.2, 1.0]]);
        let b = bin_spikes(&s, &BinOptions::new(500.0), &Alignment::Continuous).unwrap();
        assert_eq!(b.raster.n_bins(), 3);
        assert!(b.raster.get(0, 2, 0));
        // Intervals extending beyond: whole bins up to the stop time only.
        let table = IntervalTable {
            name: "epochs".into(),
            start: vec![0.0],
            stop: vec![2.3],
            labels: vec![String::new()],
            columns: vec![],
        };
        let s = SpikeTrains::new(
            "x",
            vec![UnitInfo::new(1)],
            vec![vec![0.2, 1.0]],
            vec![table],
        )
        .unwrap();
        let b = bin_spikes(&s, &BinOptions::new(500.0), &Alignment::Continuous).unwrap();
        assert_eq!(b.raster.n_bins(), 4);
        // Explicit stop drops the partial bin and the spikes in it.
        let mut o = BinOptions::new(500.0);
        o.stop = Some(0.9);
        let b = bin_spikes(&s, &o, &Alignment::Continuous).unwrap();
        assert_eq!(b.raster.n_bins(), 1);
        assert_eq!(b.units[0].spikes, 1);
    }

    #[test]
    fn start_shifts_the_grid() {
        let s = trains(vec![vec![0.25, 0.26, 0.74, 0.75]]);
        let mut o = BinOptions::new(500.0);
        o.start = Some(0.25);
        o.stop = Some(1.25);
        let b = bin_spikes(&s, &o, &Alignment::Continuous).unwrap();
        // Bins [0.25, 0.75) and [0.75, 1.25): first holds 3 spikes.
        assert_eq!(b.raster.n_bins(), 2);
        assert!(b.raster.get(0, 0, 0) && b.raster.get(0, 1, 0));
        assert_eq!(b.units[0].merged_spikes, 2);
        assert_eq!(b.trial_starts, vec![0.25]);
    }

    #[test]
    fn parallel_chunks_match_a_direct_count() {
        // 130 units (3 words per row), 300,000 bins (several chunks).
        let times: Vec<Vec<f64>> = (0..130)
            .map(|i| {
                (0..2000)
                    .map(|k| (k * 149 + i * 7) as f64 * 1e-3 + 1e-4)
                    .collect()
            })
            .collect();
        let s = trains(times.clone());
        let b = bin_spikes(&s, &BinOptions::new(1.0), &Alignment::Continuous).unwrap();
        for (i, ts) in times.iter().enumerate() {
            let mut bins: Vec<usize> = ts.iter().map(|t| (t * 1000.0).floor() as usize).collect();
            bins.dedup();
            assert_eq!(b.units[i].active_bins, bins.len() as u64);
            for &k in bins.iter().step_by(97) {
                assert!(b.raster.get(0, k, i));
            }
        }
        let total: u64 = b.units.iter().map(|u| u.active_bins).sum();
        assert_eq!(b.raster.count_active(), total);
    }

    #[test]
    fn trials_are_aligned_windows() {
        let s = trains(vec![vec![0.95, 1.0, 1.05, 2.0], vec![2.1]]);
        let align = Alignment::Events {
            times: vec![1.0, 2.0],
            pre: 0.1,
            post: 0.2,
        };
        let b = bin_spikes(&s, &BinOptions::new(100.0), &align).unwrap();
        assert_eq!(b.raster.shape(), (2, 3, 2));
        // Trial 0 covers [0.9, 1.2): 0.95 → bin 0, 1.0 and 1.05 → bin 1.
        assert!(b.raster.get(0, 0, 0) && b.raster.get(0, 1, 0) && !b.raster.get(0, 2, 0));
        // Trial 1 covers [1.9, 2.2): 2.0 → bin 1 for unit 0, 2.1 → bin 2 for unit 1.
        assert!(b.raster.get(1, 1, 0) && b.raster.get(1, 2, 1));
        assert_eq!(b.units[0].spikes, 4);
        assert_eq!(b.units[0].merged_spikes, 1);
        assert!((b.trial_starts[1] - 1.9).abs() < 1e-12);
    }

    #[test]
    fn unit_selection() {
        let mut s = trains(vec![vec![0.1; 1], vec![0.1, 0.2, 0.3, 0.4], vec![0.5]]);
        let mut o = BinOptions::new(100.0);
        o.stop = Some(1.0);
        o.units = UnitSelection::MinRate(2.0);
        let b = bin_spikes(&s, &o, &Alignment::Continuous).unwrap();
        assert_eq!(b.units.iter().map(|u| u.id).collect::<Vec<_>>(), vec![11]);
        o.units = UnitSelection::Ids(vec![12, 10]);
        let b = bin_spikes(&s, &o, &Alignment::Continuous).unwrap();
        assert_eq!(
            b.units.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![12, 10]
        );
        assert!(b.raster.get(0, 5, 0) && b.raster.get(0, 1, 1));
        o.units = UnitSelection::Ids(vec![99]);
        let e = bin_spikes(&s, &o, &Alignment::Continuous)
            .unwrap_err()
            .to_string();
        assert!(e.contains("99") && e.contains("10, 11, 12"), "{e}");
        let mut units: Vec<UnitInfo> = s.units().to_vec();
        units[2].label = Quality::Good;
        s = SpikeTrains::new(
            "x",
            units,
            s.trains().map(<[f64]>::to_vec).collect(),
            vec![],
        )
        .unwrap();
        o.units = UnitSelection::Label(Quality::Good);
        let b = bin_spikes(&s, &o, &Alignment::Continuous).unwrap();
        assert_eq!(b.units[0].id, 12);
        o.units = UnitSelection::Label(Quality::Noise);
        assert!(bin_spikes(&s, &o, &Alignment::Continuous).is_err());
    }

    #[test]
    fn bad_parameters_are_errors() {
        let s = trains(vec![vec![0.1]]);
        for w in [0.0, -1.0, f64::NAN] {
            assert!(bin_spikes(&s, &BinOptions::new(w), &Alignment::Continuous).is_err());
        }
        let mut o = BinOptions::new(10.0);
        o.start = Some(1.0);
        o.stop = Some(0.5);
        assert!(bin_spikes(&s, &o, &Alignment::Continuous).is_err());
        let align = Alignment::Events {
            times: vec![1.0],
            pre: 0.0,
            post: 0.001,
        };
        let e = bin_spikes(&s, &BinOptions::new(10.0), &align)
            .unwrap_err()
            .to_string();
        assert!(e.contains("shorter than one bin"), "{e}");
        // 1 ns bins over 100 s: 1e11 bins, 800 GB — refused, not attempted.
        let mut o = BinOptions::new(1e-6);
        o.stop = Some(100.0);
        let e = bin_spikes(&s, &o, &Alignment::Continuous)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("GiB packed") && e.contains("use a larger bin"),
            "{e}"
        );
    }
}
