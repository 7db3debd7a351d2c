//! Sorted spikes in memory, before binning: one sorted train of spike times
//! per unit, the units' metadata, and any interval tables (trials, epochs)
//! that came with the recording.
//!
//! Every loader of sorted spikes (NWB, Kilosort/Phy, CSV) produces a
//! [`SpikeTrains`]; [`crate::io::binning`] turns it into a
//! [`crate::spikes::SpikeRaster`].
//!
//! Invariants, checked by [`SpikeTrains::new`] so that every later step can
//! rely on them:
//!
//! * times are finite, in seconds, `>= 0` (relative to the recording's start)
//!   and non-decreasing within each unit;
//! * every unit has at least one spike (loaders may drop empty units first
//!   when asked to, see [`crate::io::LoadOptions::drop_empty_units`]);
//! * unit ids are unique;
//! * interval tables have `start <= stop`, finite, one label per row.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Curation label of a sorted unit, as spike sorters and Phy write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Quality {
    /// A well-isolated single unit.
    Good,
    /// Multi-unit activity.
    Mua,
    /// Noise (usually excluded).
    Noise,
    /// No label given.
    #[default]
    Unknown,
}

impl Quality {
    /// Parse a label case-insensitively; anything other than `good`, `mua`
    /// or `noise` (including an empty string) is [`Quality::Unknown`].
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "good" => Quality::Good,
            "mua" => Quality::Mua,
            "noise" => Quality::Noise,
            _ => Quality::Unknown,
        }
    }

    /// Parse a label the user typed, rejecting unknown words.
    pub fn parse_strict(s: &str) -> Result<Self> {
        match Self::parse(s) {
            Quality::Unknown if !s.trim().eq_ignore_ascii_case("unknown") => {
                Err(Error::param("label", s, "use good, mua, noise or unknown"))
            }
            q => Ok(q),
        }
    }

    /// The lower-case name (`good`, `mua`, `noise`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Mua => "mua",
            Quality::Noise => "noise",
            Quality::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Quality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Metadata of one sorted unit.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct UnitInfo {
    /// The unit's id in the source (NWB `/units/id`, Kilosort cluster id,
    /// CSV unit column).
    pub id: i64,
    /// Curation label.
    pub label: Quality,
    /// Anatomical location (empty when unknown).
    pub location: String,
}

impl UnitInfo {
    /// A unit with only an id.
    pub fn new(id: i64) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
}

/// A table of time intervals, e.g. NWB `/intervals/trials`: row `k` is the
/// interval `[start[k], stop[k])` in seconds with label `labels[k]`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct IntervalTable {
    /// Table name (`trials`, `epochs`, ...).
    pub name: String,
    /// Start times, seconds.
    pub start: Vec<f64>,
    /// Stop times, seconds (`>= start`).
    pub stop: Vec<f64>,
    /// One label per row (NWB `tags`, joined with `;`; empty when none).
    pub labels: Vec<String>,
    /// Every other per-row column of the table (e.g. NWB `stimulus`,
    /// `contrast`), in file order; each holds one value per row, as text
    /// (numbers in Rust's shortest round-trip form), so conditions can be
    /// grouped by any column whatever its type.
    pub columns: Vec<IntervalColumn>,
}

/// One extra column of an [`IntervalTable`]: `values[k]` belongs to row `k`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct IntervalColumn {
    /// Column name as in the file.
    pub name: String,
    /// One value per row, as text.
    pub values: Vec<String>,
}

impl IntervalTable {
    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.start.len()
    }
    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }
}

/// Sorted spikes of `N` units: unit `i`'s spike times in seconds,
/// non-decreasing, are [`SpikeTrains::times`]`(i)`; `units[i]` is its
/// metadata.
///
/// Storage is one concatenated array with per-unit end offsets (the NWB
/// layout), so a 10^7-spike recording costs 8 bytes per spike and no
/// per-unit allocations.
#[derive(Clone, Debug, PartialEq)]
pub struct SpikeTrains {
    source: PathBuf,
    units: Vec<UnitInfo>,
    times: Vec<f64>,
    ends: Vec<usize>,
    intervals: Vec<IntervalTable>,
}

impl SpikeTrains {
    /// Validate and assemble from one train per unit. `source` is the file
    /// the data came from; it is named in every error message.
    pub fn new(
        source: impl Into<PathBuf>,
        units: Vec<UnitInfo>,
        trains: Vec<Vec<f64>>,
        intervals: Vec<IntervalTable>,
    ) -> Result<Self> {
        let source = source.into();
        if units.len() != trains.len() {
            return Err(Error::format(
                &source,
                format!(
                    "{} unit descriptions but {} spike trains",
                    units.len(),
                    trains.len()
                ),
            ));
        }
        let mut ends = Vec::with_capacity(trains.len());
        let mut times = Vec::with_capacity(trains.iter().map(Vec::len).sum());
        for t in &trains {
            times.extend_from_slice(t);
            ends.push(times.len());
        }
        Self::from_concatenated(source, units, times, ends, intervals)
    }

    /// Validate and assemble from concatenated trains: unit `i` owns
    /// `times[ends[i-1] .. ends[i]]` (`ends[-1] = 0`).
    pub fn from_concatenated(
        source: impl Into<PathBuf>,
        units: Vec<UnitInfo>,
        times: Vec<f64>,
        ends: Vec<usize>,
        intervals: Vec<IntervalTable>,
    ) -> Result<Self> {
        let source = source.into();
        let err = |problem: String| Error::format(&source, problem);
        if units.len() != ends.len() {
            return Err(err(format!(
                "{} unit descriptions but {} spike trains",
                units.len(),
                ends.len()
            )));
        }
        if units.is_empty() {
            return Err(err("the recording holds no units".into()));
        }
        let mut ids: Vec<i64> = units.iter().map(|u| u.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(err(format!("unit id {} occurs more than once", w[0])));
        }
        let mut start = 0;
        for (u, &end) in units.iter().zip(&ends) {
            if end < start || end > times.len() {
                return Err(err(format!(
                    "unit {}: spike range {start}..{end} is not within the {} spikes",
                    u.id,
                    times.len()
                )));
            }
            check_train(&source, u.id, &times[start..end])?;
            start = end;
        }
        if start != times.len() {
            return Err(err(format!(
                "{} spikes belong to no unit (the trains end at {start})",
                times.len() - start
            )));
        }
        for table in &intervals {
            check_intervals(&source, table)?;
        }
        Ok(Self {
            source,
            units,
            times,
            ends,
            intervals,
        })
    }

    /// The file the spikes were read from.
    pub fn source(&self) -> &Path {
        &self.source
    }
    /// Number of units `N`.
    pub fn n_units(&self) -> usize {
        self.units.len()
    }
    /// Metadata of every unit, in load order.
    pub fn units(&self) -> &[UnitInfo] {
        &self.units
    }
    /// Spike times (seconds, non-decreasing) of unit index `i` (not id);
    /// empty for an index out of range.
    pub fn times(&self, i: usize) -> &[f64] {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0)
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.times.get(start..end).unwrap_or(&[])
    }
    /// Every unit's train, in unit order.
    pub fn trains(&self) -> impl Iterator<Item = &[f64]> + '_ {
        (0..self.units.len()).map(|i| self.times(i))
    }
    /// Interval tables found in the source (may be empty).
    pub fn intervals(&self) -> &[IntervalTable] {
        &self.intervals
    }
    /// The interval table called `name` (case-insensitive).
    pub fn interval_table(&self, name: &str) -> Option<&IntervalTable> {
        self.intervals
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }
    /// Total number of spikes.
    pub fn n_spikes(&self) -> usize {
        self.times.len()
    }
    /// Index of the unit with this id.
    pub fn index_of(&self, id: i64) -> Option<usize> {
        self.units.iter().position(|u| u.id == id)
    }
    /// The time of the last spike over all units, seconds.
    pub fn last_spike(&self) -> f64 {
        self.trains()
            .filter_map(|t| t.last().copied())
            .fold(0.0, f64::max)
    }
    /// The end of the recording as far as the file tells: the later of the
    /// last spike and the largest interval stop time, seconds.
    pub fn end_time(&self) -> f64 {
        self.intervals
            .iter()
            .flat_map(|t| t.stop.iter().copied())
            .fold(self.last_spike(), f64::max)
    }
}

/// Check one unit's train: non-empty, finite, non-negative, sorted.
fn check_train(source: &Path, id: i64, ts: &[f64]) -> Result<()> {
    let err = |problem: String| Error::format(source, problem);
    if ts.is_empty() {
        return Err(err(format!(
            "unit {id} has no spikes (an empty unit); remove it or load with empty units dropped (--drop-empty-units)"
        )));
    }
    let mut prev = 0.0;
    for (k, &t) in ts.iter().enumerate() {
        if !t.is_finite() {
            return Err(err(format!("unit {id}, spike {k}: time {t} is not finite")));
        }
        if t < 0.0 {
            return Err(err(format!(
                "unit {id}, spike {k}: negative time {t} s; times must be seconds from the recording's start"
            )));
        }
        if t > super::binning::MAX_TIME_S {
            return Err(err(format!(
                "unit {id}, spike {k}: time {t} s is beyond {:e} s (about 146 years), too far for nanosecond binning; are the times in another unit (--time-unit ms/us/samples) or the sample rate wrong?",
                super::binning::MAX_TIME_S
            )));
        }
        if t < prev {
            return Err(err(format!(
                "unit {id}, spike {k}: times are not sorted ({t} s follows {prev} s); sort each unit's spikes by time"
            )));
        }
        prev = t;
    }
    Ok(())
}

fn check_intervals(source: &Path, t: &IntervalTable) -> Result<()> {
    let err = |problem: String| Error::format(source, problem);
    if t.start.len() != t.stop.len() || t.labels.len() != t.start.len() {
        return Err(err(format!(
            "interval table '{}': {} start times, {} stop times, {} labels; they must agree",
            t.name,
            t.start.len(),
            t.stop.len(),
            t.labels.len()
        )));
    }
    if let Some(c) = t.columns.iter().find(|c| c.values.len() != t.start.len()) {
        return Err(err(format!(
            "interval table '{}': column '{}' has {} values for {} rows; they must agree",
            t.name,
            c.name,
            c.values.len(),
            t.start.len()
        )));
    }
    for (k, (&a, &b)) in t.start.iter().zip(&t.stop).enumerate() {
        if !a.is_finite() || !b.is_finite() || b < a {
            return Err(err(format!(
                "interval table '{}', row {k}: [{a}, {b}] is not a valid interval (need finite start <= stop)",
                t.name
            )));
        }
    }
    Ok(())
}

/// Drop units without spikes from concatenated trains (see
/// [`SpikeTrains::from_concatenated`]), keeping the order of the rest.
/// Returns the ids dropped.
pub fn drop_empty_units(units: &mut Vec<UnitInfo>, ends: &mut Vec<usize>) -> Vec<i64> {
    let mut dropped = Vec::new();
    let mut kept_units = Vec::with_capacity(units.len());
    let mut kept_ends = Vec::with_capacity(ends.len());
    let mut prev = 0;
    for (u, &end) in units.drain(..).zip(ends.iter()) {
        if end == prev {
            dropped.push(u.id);
        } else {
            kept_units.push(u);
            kept_ends.push(end);
        }
        prev = end;
    }
    *units = kept_units;
    *ends = kept_ends;
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(ids: &[i64]) -> Vec<UnitInfo> {
        ids.iter().map(|&i| UnitInfo::new(i)).collect()
    }

    #[test]
    fn validation_names_unit_and_problem() {
        let e = SpikeTrains::new("x.csv", units(&[3]), vec![vec![0.1, 0.05]], vec![])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.csv") && e.contains("unit 3") && e.contains("not sorted"),
            "{e}"
        );
        let e = SpikeTrains::new("x.csv", units(&[3]), vec![vec![-0.1]], vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("negative time"), "{e}");
        let e = SpikeTrains::new("x.csv", units(&[3, 4]), vec![vec![0.1], vec![]], vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unit 4 has no spikes"), "{e}");
        let e = SpikeTrains::new("x.csv", units(&[3, 3]), vec![vec![0.1], vec![0.2]], vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unit id 3 occurs more than once"), "{e}");
        let bad = IntervalTable {
            name: "trials".into(),
            start: vec![2.0],
            stop: vec![1.0],
            labels: vec![String::new()],
            columns: vec![],
        };
        let e = SpikeTrains::new("x.nwb", units(&[1]), vec![vec![0.1]], vec![bad])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'trials', row 0"), "{e}");
    }

    #[test]
    fn end_time_covers_spikes_and_intervals() {
        let table = IntervalTable {
            name: "epochs".into(),
            start: vec![0.0],
            stop: vec![9.5],
            labels: vec!["wake".into()],
            columns: vec![],
        };
        let s = SpikeTrains::new(
            "a",
            units(&[1, 2]),
            vec![vec![1.0, 2.0], vec![3.0]],
            vec![table],
        )
        .unwrap();
        assert_eq!(s.last_spike(), 3.0);
        assert_eq!(s.end_time(), 9.5);
        assert_eq!(s.n_spikes(), 3);
        assert_eq!(s.index_of(2), Some(1));
        assert!(s.interval_table("EPOCHS").is_some());
        assert_eq!(s.times(1), &[3.0]);
        assert!(s.times(2).is_empty());
    }

    #[test]
    fn concatenated_trains_and_dropping_empty_units() {
        let mut u = units(&[1, 2, 3]);
        let mut ends = vec![2, 2, 3];
        assert_eq!(drop_empty_units(&mut u, &mut ends), vec![2]);
        let s =
            SpikeTrains::from_concatenated("n.nwb", u, vec![0.1, 0.2, 0.05], ends, vec![]).unwrap();
        assert_eq!(
            s.trains().collect::<Vec<_>>(),
            vec![&[0.1, 0.2][..], &[0.05][..]]
        );
        let e =
            SpikeTrains::from_concatenated("n.nwb", units(&[1]), vec![0.1, 0.2], vec![1], vec![])
                .unwrap_err()
                .to_string();
        assert!(e.contains("1 spikes belong to no unit"), "{e}");
        let e = SpikeTrains::from_concatenated("n.nwb", units(&[1]), vec![0.1], vec![2], vec![])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not within the 1 spikes"), "{e}");
    }

    #[test]
    fn quality_parsing() {
        assert_eq!(Quality::parse(" Good "), Quality::Good);
        assert_eq!(Quality::parse("MUA"), Quality::Mua);
        assert_eq!(Quality::parse(""), Quality::Unknown);
        assert!(Quality::parse_strict("great").is_err());
        assert_eq!(Quality::parse_strict("unknown").unwrap(), Quality::Unknown);
    }
}
