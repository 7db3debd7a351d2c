//! Kilosort / Phy output folders.
//!
//! Files read (all others are ignored):
//!
//! * `spike_times.npy`: spike sample indices, one per spike (uint64 in
//!   practice; any integer dtype; shape `(n,)` or `(n, 1)`, C or Fortran
//!   order). Time in seconds = sample / `sample_rate`.
//! * `spike_clusters.npy`: cluster id of each spike (after Phy curation);
//!   when absent, `spike_templates.npy` (the template of each spike).
//! * `params.py`: the line `sample_rate = 30000.0` is read as text — the
//!   file is never executed. [`super::LoadOptions::sample_rate`] overrides
//!   it and is required when the file is missing.
//! * `cluster_group.tsv` (Phy's manual curation) or, failing that,
//!   `cluster_KSLabel.tsv` (Kilosort's automatic label): `cluster_id`, then
//!   `good`/`mua`/`noise`. Clusters that occur only in these tables (no
//!   spikes) are ignored.
//!
//! Units are the distinct cluster ids, in ascending order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::LoadOptions;
use super::npy::read_index_vector;
use super::spike_trains::{Quality, SpikeTrains, UnitInfo};
use crate::{Error, Result};

/// Whether `dir` looks like a Kilosort/Phy output folder.
pub fn is_kilosort_dir(dir: &Path) -> bool {
    dir.join("spike_times.npy").is_file()
}

/// Parse `sample_rate = <number>` from the text of a `params.py`. When the
/// name is assigned more than once the last assignment wins, as when Python
/// runs the file.
pub fn parse_sample_rate(text: &str) -> Option<f64> {
    let last = text.lines().rev().find(|line| {
        line.split('#')
            .next()
            .and_then(|l| l.split_once('='))
            .is_some_and(|(key, _)| key.trim() == "sample_rate")
    })?;
    std::iter::once(last).find_map(|line| {
        let line = line.split('#').next()?.trim();
        let (key, value) = line.split_once('=')?;
        if key.trim() != "sample_rate" {
            return None;
        }
        let v: f64 = value.trim().trim_end_matches(';').trim().parse().ok()?;
        (v.is_finite() && v > 0.0).then_some(v)
    })
}

/// Read a two-column label table (`cluster_id<TAB>label`, with a header).
fn read_labels(path: &Path) -> Result<HashMap<i64, Quality>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = HashMap::new();
    for (ln, line) in text.lines().enumerate() {
        let mut fields = line.split(['\t', ',']).map(str::trim);
        let (Some(id), Some(label)) = (fields.next(), fields.next()) else {
            continue;
        };
        match id.parse::<i64>() {
            Ok(id) => {
                out.insert(id, Quality::parse(label));
            }
            Err(_) if ln == 0 => {} // header
            Err(_) => {
                return Err(Error::format(
                    path,
                    format!("line {}: cluster id '{id}' is not an integer", ln + 1),
                ));
            }
        }
    }
    Ok(out)
}

/// The distinct cluster ids, ascending: a presence table when the ids are
/// small non-negative numbers (the usual case; sorting 10^7 ids would cost
/// about a second), else sort and dedup.
fn distinct_sorted(clusters: &[i64]) -> Vec<i64> {
    let (lo, hi) = clusters
        .iter()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &c| (lo.min(c), hi.max(c)));
    if lo >= 0 && hi < (1 << 24) {
        let mut seen = vec![false; hi as usize + 1];
        for &c in clusters {
            seen[c as usize] = true;
        }
        (0..=hi).filter(|&id| seen[id as usize]).collect()
    } else {
        let mut ids = clusters.to_vec();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Each spike's position in the sorted distinct `ids`. Cluster ids are
/// usually small non-negative numbers: a dense lookup table is then much
/// faster than hashing 10^7 spikes.
fn unit_indices(clusters: &[i64], ids: &[i64]) -> Vec<u32> {
    let (lo, hi) = (
        ids.first().copied().unwrap_or(0),
        ids.last().copied().unwrap_or(0),
    );
    if lo >= 0 && hi < (1 << 24) {
        let mut table = vec![0u32; hi as usize + 1];
        for (k, &id) in ids.iter().enumerate() {
            table[id as usize] = k as u32;
        }
        clusters.iter().map(|&c| table[c as usize]).collect()
    } else {
        let index: HashMap<i64, u32> = ids
            .iter()
            .enumerate()
            .map(|(k, &id)| (id, k as u32))
            .collect();
        clusters
            .iter()
            .map(|c| index.get(c).copied().unwrap_or(0))
            .collect()
    }
}

/// Load a Kilosort/Phy folder (see the module docs).
pub fn load_kilosort(dir: &Path, opts: &LoadOptions) -> Result<SpikeTrains> {
    // Every file of the folder is an input: no output may replace one.
    super::output::register_input(dir);
    let times_path = dir.join("spike_times.npy");
    if !times_path.is_file() {
        return Err(Error::format(
            dir,
            "not a Kilosort/Phy folder: spike_times.npy is missing",
        ));
    }
    let params = dir.join("params.py");
    let sample_rate = match opts.sample_rate {
        Some(fs) => fs,
        None if params.is_file() => {
            let text = std::fs::read_to_string(&params).map_err(|e| Error::io(&params, e))?;
            parse_sample_rate(&text).ok_or_else(|| {
                Error::format(
                    &params,
                    "no line 'sample_rate = <positive number>'; give the rate with --sample-rate",
                )
            })?
        }
        None => {
            return Err(Error::format(
                dir,
                "params.py is missing, so the sample rate is unknown; give it with --sample-rate",
            ));
        }
    };
    if !sample_rate.is_finite() || sample_rate <= 0.0 {
        return Err(Error::param(
            "sample rate (Hz)",
            sample_rate,
            "must be positive",
        ));
    }
    let clusters_path: PathBuf = ["spike_clusters.npy", "spike_templates.npy"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::format(
                dir,
                "neither spike_clusters.npy nor spike_templates.npy is present",
            )
        })?;
    let samples = read_index_vector(&times_path)?;
    let clusters = read_index_vector(&clusters_path)?;
    if samples.len() != clusters.len() {
        return Err(Error::format(
            dir,
            format!(
                "spike_times.npy has {} spikes but {} has {}: the lengths must agree",
                samples.len(),
                clusters_path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                clusters.len()
            ),
        ));
    }
    if samples.is_empty() {
        return Err(Error::format(&times_path, "the folder holds no spikes"));
    }
    // Distinct cluster ids, ascending, and each spike's unit index.
    let ids = distinct_sorted(&clusters);
    let unit_of = unit_indices(&clusters, &ids);
    let mut counts = vec![0usize; ids.len()];
    for &k in &unit_of {
        counts[k as usize] += 1;
    }
    // Counting sort into one concatenated array (unit order, time order
    // within a unit since spike_times.npy is in time order).
    let mut ends = Vec::with_capacity(counts.len());
    let mut next = Vec::with_capacity(counts.len());
    let mut total = 0;
    for &c in &counts {
        next.push(total);
        total += c;
        ends.push(total);
    }
    let mut times = vec![0.0; total];
    let inv = 1.0 / sample_rate;
    for (&s, &k) in samples.iter().zip(&unit_of) {
        let slot = &mut next[k as usize];
        times[*slot] = s as f64 * inv;
        *slot += 1;
    }
    let labels = ["cluster_group.tsv", "cluster_KSLabel.tsv"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .map(|p| read_labels(&p))
        .transpose()?
        .unwrap_or_default();
    let units = ids
        .iter()
        .map(|&id| UnitInfo {
            id,
            label: labels.get(&id).copied().unwrap_or_default(),
            ..UnitInfo::default()
        })
        .collect();
    SpikeTrains::from_concatenated(&times_path, units, times, ends, vec![])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_rate_is_parsed_not_executed() {
        let text = "dat_path = 'x.bin'\nn_channels_dat = 385\n# sample_rate = 1\nsample_rate = 30000.0  # Hz\nhp_filtered = False\n";
        assert_eq!(parse_sample_rate(text), Some(30000.0));
        assert_eq!(parse_sample_rate("sample_rate=2.5e4\n"), Some(25000.0));
        assert_eq!(parse_sample_rate("sample_rate = __import__('os')\n"), None);
        assert_eq!(parse_sample_rate("sample_rate = -3\n"), None);
        // Python keeps the last assignment.
        assert_eq!(
            parse_sample_rate("sample_rate = 20000.0\nsample_rate = 30000.0\n"),
            Some(30000.0)
        );
    }

    #[test]
    fn distinct_ids_dense_and_sparse() {
        let dense = [5i64, 0, 5, 3, 0];
        assert_eq!(distinct_sorted(&dense), vec![0, 3, 5]);
        assert_eq!(unit_indices(&dense, &[0, 3, 5]), vec![2, 0, 2, 1, 0]);
        let sparse = [1i64 << 40, -2, 7, -2];
        assert_eq!(distinct_sorted(&sparse), vec![-2, 7, 1 << 40]);
        assert_eq!(unit_indices(&sparse, &[-2, 7, 1 << 40]), vec![2, 0, 1, 0]);
    }
}
