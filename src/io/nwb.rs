//! NWB 2.x files (HDF5), read with the pure-Rust `hdf5-pure` crate, so no
//! C library is needed.
//!
//! What is read (lazily: the file is opened in streaming mode and only
//! these datasets are fetched):
//!
//! * `/units/spike_times` (float64 seconds, all units concatenated) and
//!   `/units/spike_times_index` (cumulative end offsets: unit `i` owns
//!   `spike_times[index[i−1] .. index[i]]`, `index[−1] = 0`; any integer
//!   dtype — uint8/16/32/64 all occur in real files);
//! * `/units/id` (defaults to `0..N` when absent);
//! * optional string columns: a quality label (`quality`, `label`,
//!   `KSLabel`, `ks_label`, `curation`) and `location`; when `location` is
//!   empty, the `location` attribute of the unit's `electrode_group`
//!   (an object reference) is used;
//! * every table under `/intervals` (`trials`, `epochs`, ...) with
//!   `start_time` and `stop_time`; row labels from `tags` (ragged through
//!   `tags_index`, joined with `;`).

use std::path::Path;

use hdf5_pure::{AttrValue, DType, Dataset, File, FormatError, Group, Object};

use super::LoadOptions;
use super::spike_trains::{IntervalTable, Quality, SpikeTrains, UnitInfo, drop_empty_units};
use crate::{Error, Result};

const LABEL_COLUMNS: &[&str] = &["quality", "label", "KSLabel", "ks_label", "curation"];

fn h5_err(path: &Path, what: &str, e: hdf5_pure::Error) -> Error {
    Error::format(path, format!("{what}: {e}"))
}

fn is_not_found(e: &hdf5_pure::Error) -> bool {
    matches!(e, hdf5_pure::Error::Format(FormatError::PathNotFound(_)))
}

/// Open `group/name` if it exists.
fn optional_dataset(
    path: &Path,
    group: &Group,
    gname: &str,
    name: &str,
) -> Result<Option<Dataset>> {
    match group.dataset(name) {
        Ok(d) => Ok(Some(d)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(h5_err(path, &format!("opening {gname}/{name}"), e)),
    }
}

fn required_dataset(path: &Path, group: &Group, gname: &str, name: &str) -> Result<Dataset> {
    optional_dataset(path, group, gname, name)?
        .ok_or_else(|| Error::format(path, format!("{gname} has no '{name}' dataset")))
}

/// Read an integer dataset as `i64`, rejecting values that do not fit.
fn read_ints(path: &Path, ds: &Dataset, what: &str) -> Result<Vec<i64>> {
    let dtype = ds.dtype().map_err(|e| h5_err(path, what, e))?;
    match dtype {
        DType::U64 => ds
            .read_u64()
            .map_err(|e| h5_err(path, what, e))?
            .into_iter()
            .map(|v| {
                i64::try_from(v)
                    .map_err(|_| Error::format(path, format!("{what}: value {v} is too large")))
            })
            .collect(),
        DType::U8 | DType::U16 | DType::U32 | DType::I8 | DType::I16 | DType::I32 | DType::I64 => {
            ds.read_i64().map_err(|e| h5_err(path, what, e))
        }
        other => Err(Error::format(
            path,
            format!("{what}: expected an integer dataset, found {other}"),
        )),
    }
}

/// Read a string dataset of `n` rows if it exists and is one.
fn read_strings(
    path: &Path,
    group: &Group,
    gname: &str,
    name: &str,
    n: usize,
) -> Result<Option<Vec<String>>> {
    let Some(ds) = optional_dataset(path, group, gname, name)? else {
        return Ok(None);
    };
    let dtype = ds.dtype().map_err(|e| h5_err(path, name, e))?;
    if !matches!(dtype, DType::String | DType::VariableLengthString) {
        return Ok(None);
    }
    let v = ds
        .read_string()
        .map_err(|e| h5_err(path, &format!("reading {gname}/{name}"), e))?;
    Ok((v.len() == n).then_some(v))
}

/// Split a concatenated column by cumulative end offsets, checking them.
fn check_index(path: &Path, what: &str, index: &[i64], total: usize) -> Result<()> {
    let mut prev = 0i64;
    for (k, &end) in index.iter().enumerate() {
        if end < prev || end as u64 > total as u64 {
            return Err(Error::format(
                path,
                format!(
                    "{what}[{k}] = {end} is not a valid end offset (previous {prev}, data length {total}); the index must be non-decreasing and at most the data length"
                ),
            ));
        }
        prev = end;
    }
    if index.last().is_some_and(|&e| e as u64 != total as u64) {
        return Err(Error::format(
            path,
            format!(
                "{what} ends at {} but the data hold {total} values",
                index.last().copied().unwrap_or(0)
            ),
        ));
    }
    Ok(())
}

/// Load the `/units` and `/intervals` tables of an NWB file.
pub fn load_nwb(path: &Path, opts: &LoadOptions) -> Result<SpikeTrains> {
    // hdf5-pure returns errors for malformed files; the unwind guard keeps a
    // library bug on some unforeseen corruption from taking the program
    // down and turns it into an error naming the file.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load_nwb_inner(path, opts))) {
        Ok(r) => r,
        Err(_) => Err(Error::format(
            path,
            "the HDF5 reader failed on this file (corrupt or unsupported structure)",
        )),
    }
}

fn load_nwb_inner(path: &Path, opts: &LoadOptions) -> Result<SpikeTrains> {
    if !path.is_file() {
        return Err(Error::format(path, "no such file"));
    }
    let file = File::open_streaming(path).map_err(|e| {
        Error::format(
            path,
            format!("not a readable HDF5/NWB file ({e}); is it truncated or not HDF5?"),
        )
    })?;
    // A truncated file may still open (the streaming reader fetches only
    // what it needs); the superblock's end-of-file address tells.
    let sb = file.superblock();
    let expected = sb.base_address.get().saturating_add(sb.eof_address);
    let actual = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if actual < expected {
        return Err(Error::format(
            path,
            format!("the file is truncated: its header says {expected} bytes but it has {actual}"),
        ));
    }
    let units = match file.group("units") {
        Ok(g) => g,
        Err(e) if is_not_found(&e) => {
            return Err(Error::format(
                path,
                "no /units table: this NWB file holds no sorted spikes (it may contain raw or LFP data only)",
            ));
        }
        Err(e) => return Err(h5_err(path, "opening /units", e)),
    };
    let st = required_dataset(path, &units, "/units", "spike_times")?;
    let times = st
        .read_f64()
        .map_err(|e| h5_err(path, "reading /units/spike_times", e))?;
    let index = match optional_dataset(path, &units, "/units", "spike_times_index")? {
        Some(ds) => read_ints(path, &ds, "/units/spike_times_index")?,
        None => {
            return Err(Error::format(
                path,
                "/units has spike_times but no spike_times_index, so spikes cannot be assigned to units",
            ));
        }
    };
    check_index(path, "/units/spike_times_index", &index, times.len())?;
    let n = index.len();
    let ids = match optional_dataset(path, &units, "/units", "id")? {
        Some(ds) => read_ints(path, &ds, "/units/id")?,
        None => (0..n as i64).collect(),
    };
    if ids.len() != n {
        return Err(Error::format(
            path,
            format!(
                "/units/id has {} rows but spike_times_index has {n}",
                ids.len()
            ),
        ));
    }
    let mut labels = None;
    for name in LABEL_COLUMNS {
        if let Some(v) = read_strings(path, &units, "/units", name, n)? {
            labels = Some(v);
            break;
        }
    }
    let mut locations = read_strings(path, &units, "/units", "location", n)?
        .unwrap_or_else(|| vec![String::new(); n]);
    if locations.iter().all(String::is_empty)
        && let Some(from_groups) = electrode_group_locations(path, &units, n)
    {
        locations = from_groups;
    }
    let mut ends: Vec<usize> = index.iter().map(|&e| e as usize).collect();
    let mut unit_info: Vec<UnitInfo> = (0..n)
        .map(|k| UnitInfo {
            id: ids[k],
            label: labels
                .as_ref()
                .map_or(Quality::Unknown, |l| Quality::parse(&l[k])),
            location: std::mem::take(&mut locations[k]),
        })
        .collect();
    if opts.drop_empty_units {
        drop_empty_units(&mut unit_info, &mut ends);
    }
    let intervals = read_intervals(path, &file)?;
    SpikeTrains::from_concatenated(path, unit_info, times, ends, intervals)
}

/// The `location` attribute of each unit's electrode group, when the
/// `electrode_group` column resolves (best effort: `None` on any problem).
fn electrode_group_locations(path: &Path, units: &Group, n: usize) -> Option<Vec<String>> {
    let ds = optional_dataset(path, units, "/units", "electrode_group").ok()??;
    if ds.dtype().ok()? != DType::ObjectReference {
        return None;
    }
    let objects = ds.dereference().ok()?;
    if objects.len() != n {
        return None;
    }
    let locs: Vec<String> = objects
        .iter()
        .map(|o| match o {
            Object::Group(g) => g
                .attrs()
                .ok()
                .and_then(|a| {
                    a.get("location")
                        .and_then(AttrValue::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default(),
            _ => String::new(),
        })
        .collect();
    (!locs.iter().all(String::is_empty)).then_some(locs)
}

/// Every TimeIntervals table under `/intervals`.
fn read_intervals(path: &Path, file: &File) -> Result<Vec<IntervalTable>> {
    let group = match file.group("intervals") {
        Ok(g) => g,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(h5_err(path, "opening /intervals", e)),
    };
    let mut names = group
        .groups()
        .map_err(|e| h5_err(path, "listing /intervals", e))?;
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let gname = format!("/intervals/{name}");
        let g = group
            .group(&name)
            .map_err(|e| h5_err(path, &format!("opening {gname}"), e))?;
        let Some(start_ds) = optional_dataset(path, &g, &gname, "start_time")? else {
            continue; // not a TimeIntervals table
        };
        let start = start_ds
            .read_f64()
            .map_err(|e| h5_err(path, &format!("reading {gname}/start_time"), e))?;
        let stop = required_dataset(path, &g, &gname, "stop_time")?
            .read_f64()
            .map_err(|e| h5_err(path, &format!("reading {gname}/stop_time"), e))?;
        if stop.len() != start.len() {
            return Err(Error::format(
                path,
                format!(
                    "{gname}: {} start times but {} stop times",
                    start.len(),
                    stop.len()
                ),
            ));
        }
        let labels = read_tags(path, &g, &gname, start.len())?;
        out.push(IntervalTable {
            name,
            start,
            stop,
            labels,
        });
    }
    Ok(out)
}

/// Row labels from `tags` (ragged via `tags_index`, or one per row).
fn read_tags(path: &Path, g: &Group, gname: &str, n: usize) -> Result<Vec<String>> {
    let Some(tags_ds) = optional_dataset(path, g, gname, "tags")? else {
        return Ok(vec![String::new(); n]);
    };
    let tags = tags_ds
        .read_string()
        .map_err(|e| h5_err(path, &format!("reading {gname}/tags"), e))?;
    match optional_dataset(path, g, gname, "tags_index")? {
        Some(ids) => {
            let index = read_ints(path, &ids, &format!("{gname}/tags_index"))?;
            check_index(path, &format!("{gname}/tags_index"), &index, tags.len())?;
            if index.len() != n {
                return Err(Error::format(
                    path,
                    format!("{gname}/tags_index has {} rows, the table {n}", index.len()),
                ));
            }
            let mut start = 0;
            Ok(index
                .iter()
                .map(|&end| {
                    let s = tags[start..end as usize].join(";");
                    start = end as usize;
                    s
                })
                .collect())
        }
        None if tags.len() == n => Ok(tags),
        None => Ok(vec![String::new(); n]),
    }
}
