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
//!   `tags_index`, joined with `;`); and every other one-value-per-row
//!   column (numbers or strings, e.g. a `stimulus` condition), as text.

use std::path::Path;

use hdf5_pure::{AttrValue, DType, Dataset, File, FormatError, Group, Layout, Object};

use super::LoadOptions;
use super::spike_trains::{IntervalTable, Quality, SpikeTrains, UnitInfo, drop_empty_units};
use crate::{Error, Result};

const LABEL_COLUMNS: &[&str] = &["quality", "label", "KSLabel", "ks_label", "curation"];

fn h5_err(path: &Path, what: &str, e: hdf5_pure::Error) -> Error {
    let text = e.to_string();
    if text.contains("data layout version") {
        return Error::format(
            path,
            format!(
                "{what}: the file uses a newer HDF5 data layout message ({text}; written by HDF5 2.x or h5py with libver='latest'), which this reader does not support yet; rewrite it in an older layout, e.g. `h5repack --high=2 in.nwb out.nwb` (HDF5 1.10 format)"
            ),
        );
    }
    Error::format(path, format!("{what}: {}", one_line(&text)))
}

/// A dependency's message on one line (newlines escaped).
fn one_line(s: &str) -> String {
    s.trim().replace('\r', "\\r").replace('\n', "\\n")
}

/// A dtype in words (hdf5-pure's display of unknown types is Debug-like).
fn dtype_name(d: &DType) -> String {
    match d {
        DType::F32 => "float32".into(),
        DType::F64 => "float64".into(),
        DType::I8 => "int8".into(),
        DType::I16 => "int16".into(),
        DType::I32 => "int32".into(),
        DType::I64 => "int64".into(),
        DType::U8 => "uint8".into(),
        DType::U16 => "uint16".into(),
        DType::U32 => "uint32".into(),
        DType::U64 => "uint64".into(),
        DType::String | DType::VariableLengthString => "strings".into(),
        DType::Compound(_) => "a compound (record) type".into(),
        DType::Enum(_) => "an enumeration".into(),
        DType::Array(..) => "an array type".into(),
        DType::ObjectReference => "object references".into(),
        _ => "an HDF5 type this reader does not know".into(),
    }
}

/// What a dataset must hold (the NWB schema's types for the columns read).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Floating-point values (times in seconds).
    Float,
    /// Integers (indices, ids).
    Int,
    /// Anything (strings); only the storage is checked.
    Any,
}

/// Check a 1-D dataset before reading it: rank, dtype, and that the storage
/// actually present in the file holds the elements the dataspace claims (a
/// header may claim 10^8 elements that were never written, or chunks of
/// gigabytes), so nothing is allocated on the header's word alone.
/// Returns the number of elements.
fn check_dataset(path: &Path, file_len: u64, ds: &Dataset, what: &str, kind: Kind) -> Result<u64> {
    let shape = ds.shape().map_err(|e| h5_err(path, what, e))?;
    let &[n] = shape.as_slice() else {
        return Err(Error::format(
            path,
            if shape.is_empty() {
                format!("{what} is a scalar; the NWB schema requires a 1-D dataset")
            } else {
                format!("{what} has shape {shape:?}; the NWB schema requires a 1-D dataset")
            },
        ));
    };
    let dtype = ds.dtype().map_err(|e| h5_err(path, what, e))?;
    let is_float = matches!(dtype, DType::F32 | DType::F64);
    let is_int = matches!(
        dtype,
        DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64
    );
    match kind {
        Kind::Float if !is_float => {
            return Err(Error::format(
                path,
                format!(
                    "{what} holds {}; the NWB schema requires floating-point seconds{}",
                    dtype_name(&dtype),
                    if is_int {
                        " (integers may be samples or milliseconds: convert them to float64 seconds)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Kind::Int if !is_int => {
            return Err(Error::format(
                path,
                format!(
                    "{what} holds {}; the NWB schema requires integers",
                    dtype_name(&dtype)
                ),
            ));
        }
        _ => {}
    }
    let elem = ds.element_size().map_err(|e| h5_err(path, what, e))?.max(1);
    let bytes = n.saturating_mul(elem);
    let claim = |held: String| {
        Error::format(
            path,
            format!(
                "{what} claims {n} elements ({}) but {held}; the file is damaged or was not finished",
                super::memory::human_bytes(bytes)
            ),
        )
    };
    if n > 0 {
        match ds.layout().map_err(|e| h5_err(path, what, e))? {
            Layout::Compact { size } if size < bytes => {
                return Err(claim(format!("stores {size} bytes")));
            }
            Layout::Contiguous { address: None, .. } => {
                return Err(claim("no data were ever written".into()));
            }
            Layout::Contiguous {
                address: Some(a),
                size,
            } if size < bytes || a.saturating_add(size) > file_len => {
                return Err(claim(format!(
                    "its storage ({size} bytes at offset {a}) does not fit the {file_len}-byte file"
                )));
            }
            Layout::Chunked { chunk_shape, .. } => {
                let chunk_elems = chunk_shape.first().copied().unwrap_or(0);
                let chunk_bytes = chunk_elems.saturating_mul(elem);
                if chunk_elems == 0 || chunk_bytes > MAX_CHUNK_BYTES {
                    return Err(Error::format(
                        path,
                        format!(
                            "{what} has chunks of {chunk_elems} elements ({}); this reader accepts chunks up to {} (NWB writers use kilobytes to megabytes): the chunk metadata are damaged, or rewrite the file with smaller chunks (h5repack -l CHUNK=...)",
                            super::memory::human_bytes(chunk_bytes),
                            super::memory::human_bytes(MAX_CHUNK_BYTES)
                        ),
                    ));
                }
                super::memory::ensure_fits(
                    &format!("{what} of {} (one chunk)", path.display()),
                    chunk_bytes,
                    "rewrite the file with smaller chunks (h5repack -l CHUNK=...)",
                )?;
                // Chunk indices this reader cannot enumerate (B-tree v2) are
                // left to the read itself.
                if let Ok(chunks) = ds.chunks() {
                    let covered = (chunks.len() as u64).saturating_mul(chunk_elems);
                    if covered < n {
                        return Err(claim(format!(
                            "only {} chunks of {chunk_elems} elements were written",
                            chunks.len()
                        )));
                    }
                    if let Some(c) = chunks
                        .iter()
                        .find(|c| c.address.saturating_add(c.storage_size) > file_len)
                    {
                        return Err(claim(format!(
                            "a chunk at offset {} ({} bytes) lies beyond the end of the {file_len}-byte file",
                            c.address, c.storage_size
                        )));
                    }
                }
            }
            Layout::Virtual => {
                return Err(Error::format(
                    path,
                    format!(
                        "{what} is an HDF5 virtual dataset (data mapped from other files), which this reader does not support; rewrite it with `h5repack in.nwb out.nwb`"
                    ),
                ));
            }
            _ => {}
        }
    }
    super::memory::ensure_fits(
        &format!("{what} of {}", path.display()),
        n.saturating_mul(8),
        "the recording is larger than this machine's memory",
    )?;
    Ok(n)
}

/// Largest chunk accepted: HDF5 itself limits chunks to 4 GiB; 1 GiB is
/// far beyond anything NWB writers produce (they chunk in kilobytes to
/// megabytes) yet small enough to allocate.
const MAX_CHUNK_BYTES: u64 = 1 << 30;

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
fn read_ints(path: &Path, file_len: u64, ds: &Dataset, what: &str) -> Result<Vec<i64>> {
    check_dataset(path, file_len, ds, what, Kind::Int)?;
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
            format!(
                "{what}: expected an integer dataset, found {}",
                dtype_name(&other)
            ),
        )),
    }
}

/// Read a string dataset of `n` rows if it exists and is one.
fn read_strings(
    path: &Path,
    file_len: u64,
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
    check_dataset(path, file_len, &ds, &format!("{gname}/{name}"), Kind::Any)?;
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
    super::output::register_input(path);
    if !path.is_file() {
        return Err(Error::format(path, "no such file"));
    }
    let file = File::open_streaming(path).map_err(|e| {
        Error::format(
            path,
            format!(
                "not a readable HDF5/NWB file ({}); is it truncated or not HDF5?",
                one_line(&e.to_string())
            ),
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
    check_dataset(path, actual, &st, "/units/spike_times", Kind::Float)?;
    let times = st
        .read_f64()
        .map_err(|e| h5_err(path, "reading /units/spike_times", e))?;
    let index = match optional_dataset(path, &units, "/units", "spike_times_index")? {
        Some(ds) => read_ints(path, actual, &ds, "/units/spike_times_index")?,
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
        Some(ds) => read_ints(path, actual, &ds, "/units/id")?,
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
        if let Some(v) = read_strings(path, actual, &units, "/units", name, n)? {
            labels = Some(v);
            break;
        }
    }
    let mut locations = read_strings(path, actual, &units, "/units", "location", n)?
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
    let intervals = read_intervals(path, actual, &file)?;
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
fn read_intervals(path: &Path, file_len: u64, file: &File) -> Result<Vec<IntervalTable>> {
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
        check_dataset(
            path,
            file_len,
            &start_ds,
            &format!("{gname}/start_time"),
            Kind::Float,
        )?;
        let stop_ds = required_dataset(path, &g, &gname, "stop_time")?;
        check_dataset(
            path,
            file_len,
            &stop_ds,
            &format!("{gname}/stop_time"),
            Kind::Float,
        )?;
        let start = start_ds
            .read_f64()
            .map_err(|e| h5_err(path, &format!("reading {gname}/start_time"), e))?;
        let stop = stop_ds
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
        let labels = read_tags(path, file_len, &g, &gname, start.len())?;
        let columns = read_columns(path, file_len, &g, &gname, start.len())?;
        out.push(IntervalTable {
            name,
            start,
            stop,
            labels,
            columns,
        });
    }
    Ok(out)
}

/// Columns of an intervals table that are read elsewhere or are not one
/// value per row.
const INTERVAL_RESERVED: &[&str] = &[
    "id",
    "start_time",
    "stop_time",
    "tags",
    "tags_index",
    "timeseries",
    "timeseries_index",
];

/// Every other column of an intervals table with one number or string per
/// row (pynwb's `add_trial_column`), as text, in the order of the table's
/// `colnames` attribute (else by name). Ragged columns (with an `_index`
/// companion), multi-dimensional or compound ones, and columns of another
/// length are skipped: they cannot label a trial with one value.
fn read_columns(
    path: &Path,
    file_len: u64,
    g: &Group,
    gname: &str,
    n: usize,
) -> Result<Vec<crate::io::IntervalColumn>> {
    let present = g
        .datasets()
        .map_err(|e| h5_err(path, &format!("listing {gname}"), e))?;
    let mut names: Vec<String> = g
        .attrs()
        .ok()
        .and_then(|a| {
            a.get("colnames")
                .and_then(AttrValue::as_strings)
                .map(<[String]>::to_vec)
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|c| present.contains(c))
        .collect();
    let mut rest: Vec<String> = present
        .iter()
        .filter(|c| !names.contains(c))
        .cloned()
        .collect();
    rest.sort();
    names.extend(rest);
    let mut out = Vec::new();
    for name in names {
        if INTERVAL_RESERVED.contains(&name.as_str())
            || name.ends_with("_index")
            || present.contains(&format!("{name}_index"))
        {
            continue;
        }
        let what = format!("{gname}/{name}");
        let Some(ds) = optional_dataset(path, g, gname, &name)? else {
            continue;
        };
        let shape = ds.shape().map_err(|e| h5_err(path, &what, e))?;
        if shape.as_slice() != [n as u64] {
            continue;
        }
        let dtype = ds.dtype().map_err(|e| h5_err(path, &what, e))?;
        let values: Vec<String> = match dtype {
            DType::F32 | DType::F64 => {
                check_dataset(path, file_len, &ds, &what, Kind::Float)?;
                ds.read_f64()
                    .map_err(|e| h5_err(path, &format!("reading {what}"), e))?
                    .iter()
                    .map(f64::to_string)
                    .collect()
            }
            DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64 => read_ints(path, file_len, &ds, &what)?
                .iter()
                .map(i64::to_string)
                .collect(),
            DType::String | DType::VariableLengthString => {
                check_dataset(path, file_len, &ds, &what, Kind::Any)?;
                ds.read_string()
                    .map_err(|e| h5_err(path, &format!("reading {what}"), e))?
            }
            _ => continue,
        };
        if values.len() == n {
            out.push(crate::io::IntervalColumn { name, values });
        }
    }
    Ok(out)
}

/// Row labels from `tags` (ragged via `tags_index`, or one per row).
fn read_tags(path: &Path, file_len: u64, g: &Group, gname: &str, n: usize) -> Result<Vec<String>> {
    let Some(tags_ds) = optional_dataset(path, g, gname, "tags")? else {
        return Ok(vec![String::new(); n]);
    };
    check_dataset(
        path,
        file_len,
        &tags_ds,
        &format!("{gname}/tags"),
        Kind::Any,
    )?;
    let tags = tags_ds
        .read_string()
        .map_err(|e| h5_err(path, &format!("reading {gname}/tags"), e))?;
    match optional_dataset(path, g, gname, "tags_index")? {
        Some(ids) => {
            let index = read_ints(path, file_len, &ids, &format!("{gname}/tags_index"))?;
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
