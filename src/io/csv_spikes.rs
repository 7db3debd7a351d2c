//! Spike times in CSV/TSV: one row per spike, a unit column and a time
//! column.
//!
//! * Columns are found by header name, case-insensitively: unit — `unit`,
//!   `unit_id`, `cluster`, `cluster_id`, `neuron`; time — `time`, `t`,
//!   `times`, `spike_time`, `spike_times`, `spike_time_s`. An optional
//!   `label`/`quality`/`group`/`KSLabel` column gives each unit's curation
//!   label. [`super::LoadOptions::unit_column`] / `time_column` choose
//!   columns by name or by 1-based position instead.
//! * A file whose first row is all numbers has no header; it must have two
//!   columns, `unit,time` in that order unless positions are given.
//! * The delimiter is a tab for `.tsv` files or when the first line holds
//!   tabs and no commas; otherwise a comma.
//! * Times are in [`super::TimeUnit`] (seconds by default). Within a unit
//!   they must be non-decreasing in file order; units are returned by
//!   ascending id.

use std::collections::HashMap;
use std::path::Path;

use super::spike_trains::{Quality, SpikeTrains, UnitInfo};
use super::{LoadOptions, TimeUnit};
use crate::{Error, Result};

const UNIT_NAMES: &[&str] = &["unit", "unit_id", "cluster", "cluster_id", "neuron"];
const TIME_NAMES: &[&str] = &[
    "time",
    "t",
    "times",
    "spike_time",
    "spike_times",
    "spike_time_s",
];
const LABEL_NAMES: &[&str] = &["label", "quality", "group", "kslabel"];
const EVENT_NAMES: &[&str] = &[
    "time",
    "t",
    "times",
    "event",
    "event_time",
    "events",
    "start",
    "start_time",
];

/// The delimiter for `path` given its first line.
fn delimiter(path: &Path, first_line: &str) -> u8 {
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    if tsv || (first_line.contains('\t') && !first_line.contains(',')) {
        b'\t'
    } else {
        b','
    }
}

fn reader(path: &Path) -> Result<csv::Reader<std::io::BufReader<std::fs::File>>> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut br = std::io::BufReader::new(f);
    let first = {
        let buf = br.fill_buf().map_err(|e| Error::io(path, e))?;
        let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    };
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter(path, &first))
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(br))
}

fn is_number(s: &[u8]) -> bool {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .is_some()
}

/// Find a column: an explicit choice (header name or 1-based position) or
/// the first header among `known`.
fn find_column(
    path: &Path,
    header: Option<&csv::ByteRecord>,
    explicit: Option<&str>,
    known: &[&str],
    what: &str,
) -> Result<Option<usize>> {
    let names: Vec<String> = header
        .map(|h| {
            h.iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    if let Some(choice) = explicit {
        if let Ok(k) = choice.trim().parse::<usize>() {
            if k == 0 {
                return Err(Error::param(
                    &format!("{what} column"),
                    choice,
                    "positions are 1-based",
                ));
            }
            return Ok(Some(k - 1));
        }
        let want = choice.trim().to_ascii_lowercase();
        return match names.iter().position(|n| *n == want) {
            Some(k) => Ok(Some(k)),
            None => Err(Error::format(
                path,
                format!(
                    "no column named '{choice}' for the {what}; the header has: {}",
                    names.join(", ")
                ),
            )),
        };
    }
    Ok(names.iter().position(|n| known.contains(&n.as_str())))
}

fn parse_f64(path: &Path, line: u64, what: &str, field: &[u8]) -> Result<f64> {
    let s = String::from_utf8_lossy(field);
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(Error::format(
            path,
            format!("line {line}: {what} {v} is not finite"),
        )),
        Err(_) if s.trim().is_empty() => Err(Error::format(
            path,
            format!("line {line}: the {what} is missing"),
        )),
        Err(_) => Err(Error::format(
            path,
            format!("line {line}: {what} '{s}' is not a number"),
        )),
    }
}

/// Read spike times from a CSV/TSV file (see the module docs).
pub fn load_csv(path: &Path, opts: &LoadOptions) -> Result<SpikeTrains> {
    let to_s = opts.time_unit.seconds_per_unit(opts.sample_rate)?;
    let mut rdr = reader(path)?;
    let mut rec = csv::ByteRecord::new();
    let csv_err = |e: csv::Error| Error::format(path, format!("not readable as CSV: {e}"));
    // Every unit in a CSV has at least one row, so `drop_empty_units` has
    // nothing to drop here.
    if !rdr.read_byte_record(&mut rec).map_err(csv_err)? {
        return Err(Error::format(path, "the file is empty"));
    }
    let has_header = !rec.iter().all(is_number);
    let header = has_header.then(|| rec.clone());
    let unit_col = find_column(
        path,
        header.as_ref(),
        opts.unit_column.as_deref(),
        UNIT_NAMES,
        "unit",
    )?;
    let time_col = find_column(
        path,
        header.as_ref(),
        opts.time_column.as_deref(),
        TIME_NAMES,
        "time",
    )?;
    let label_col = find_column(path, header.as_ref(), None, LABEL_NAMES, "label")?;
    let (unit_col, time_col) = match (unit_col, time_col) {
        (Some(u), Some(t)) => (u, t),
        _ if has_header => {
            return Err(Error::format(
                path,
                format!(
                    "cannot tell which columns hold the unit and the time: the header has {}; name them (unit: {}; time: {}) or choose them with --unit-column/--time-column",
                    String::from_utf8_lossy(rec.as_slice()),
                    UNIT_NAMES.join("/"),
                    TIME_NAMES.join("/")
                ),
            ));
        }
        (u, t) => {
            if rec.len() != 2 && (u.is_none() || t.is_none()) {
                return Err(Error::format(
                    path,
                    format!(
                        "a file without a header must have two columns (unit, time); line 1 has {}. Add a header or choose columns with --unit-column/--time-column",
                        rec.len()
                    ),
                ));
            }
            (u.unwrap_or(0), t.unwrap_or(1))
        }
    };
    // Trains in order of first appearance, found through a hash of the id;
    // sorted by id at the end.
    let mut trains: Vec<(i64, Vec<f64>, Quality)> = Vec::new();
    let mut slot_of: HashMap<i64, usize> = HashMap::new();
    let mut line = 1u64;
    let mut pending = !has_header;
    loop {
        if !pending {
            if !rdr.read_byte_record(&mut rec).map_err(csv_err)? {
                break;
            }
            line = rec.position().map_or(line + 1, |p| p.line());
        }
        pending = false;
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
            continue;
        }
        let field = |k: usize, what: &str| {
            rec.get(k).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "line {line} has {} fields; the {what} is in column {}",
                        rec.len(),
                        k + 1
                    ),
                )
            })
        };
        let u = parse_f64(path, line, "unit", field(unit_col, "unit")?)?;
        if u.fract() != 0.0 || u.abs() > 9.0e15 {
            return Err(Error::format(
                path,
                format!(
                    "line {line}: unit '{u}' is not an integer id{}",
                    if header.is_none() {
                        " (without a header the columns are unit, time; use --unit-column 2 --time-column 1 if the file is time, unit)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let t = parse_f64(path, line, "time", field(time_col, "time")?)? * to_s;
        let id = u as i64;
        let slot = *slot_of.entry(id).or_insert_with(|| {
            let label = label_col.map_or(Quality::Unknown, |lc| {
                Quality::parse(&String::from_utf8_lossy(rec.get(lc).unwrap_or_default()))
            });
            trains.push((id, Vec::new(), label));
            trains.len() - 1
        });
        trains[slot].1.push(t);
    }
    if trains.is_empty() {
        return Err(Error::format(path, "the file holds no spikes"));
    }
    trains.sort_unstable_by_key(|t| t.0);
    let mut units = Vec::with_capacity(trains.len());
    let mut times = Vec::with_capacity(trains.len());
    for (id, ts, label) in trains {
        units.push(UnitInfo {
            id,
            label,
            ..UnitInfo::default()
        });
        times.push(ts);
    }
    SpikeTrains::new(path, units, times, vec![])
}

/// Read event times (e.g. stimulus onsets for trial alignment) from a CSV:
/// one event per row; the column named `time`/`t`/`event`/`event_time`/
/// `start`/`start_time` if there is a header, else the first column.
/// Times are converted from `unit` to seconds.
pub fn read_event_times(path: &Path, unit: TimeUnit, sample_rate: Option<f64>) -> Result<Vec<f64>> {
    let to_s = unit.seconds_per_unit(sample_rate)?;
    let mut rdr = reader(path)?;
    let mut rec = csv::ByteRecord::new();
    let csv_err = |e: csv::Error| Error::format(path, format!("not readable as CSV: {e}"));
    let mut out = Vec::new();
    let mut col = 0;
    let mut first = true;
    while rdr.read_byte_record(&mut rec).map_err(csv_err)? {
        let line = rec.position().map_or(0, |p| p.line());
        if first {
            first = false;
            if !rec.get(0).is_some_and(is_number) {
                col = find_column(path, Some(&rec), None, EVENT_NAMES, "event time")?.unwrap_or(0);
                continue;
            }
        }
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
            continue;
        }
        let f = rec
            .get(col)
            .ok_or_else(|| Error::format(path, format!("line {line}: no column {}", col + 1)))?;
        out.push(parse_f64(path, line, "event time", f)? * to_s);
    }
    if out.is_empty() {
        return Err(Error::format(path, "the file holds no event times"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, name: &str, opts: &LoadOptions) -> Result<SpikeTrains> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        load_csv(&p, opts)
    }

    #[test]
    fn header_names_any_case_and_order() {
        let s = load(
            "Spike_Time,Cluster_ID,KSLabel\n0.5,7,good\n0.25,3,mua\n0.75,7,good\n",
            "a.csv",
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(
            s.units().iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![3, 7]
        );
        assert_eq!(s.times(1), &[0.5, 0.75]);
        assert_eq!(s.units()[0].label, Quality::Mua);
        assert_eq!(s.units()[1].label, Quality::Good);
    }

    #[test]
    fn headerless_tsv_and_time_units() {
        let opts = LoadOptions {
            time_unit: TimeUnit::Samples,
            sample_rate: Some(30_000.0),
            ..LoadOptions::default()
        };
        let s = load("1\t30000\n1\t45000\n2\t15\n", "b.tsv", &opts).unwrap();
        assert_eq!(s.times(0), &[1.0, 1.5]);
        assert_eq!(s.times(1), &[0.0005]);
        let opts = LoadOptions {
            time_unit: TimeUnit::Milliseconds,
            ..LoadOptions::default()
        };
        let s = load("4,250\n", "c.csv", &opts).unwrap();
        assert_eq!(s.times(0), &[0.25]);
        // Explicit positions for a time-first file.
        let opts = LoadOptions {
            unit_column: Some("2".into()),
            time_column: Some("1".into()),
            ..LoadOptions::default()
        };
        let s = load("0.1,4\n0.2,4\n", "d.csv", &opts).unwrap();
        assert_eq!(s.times(0), &[0.1, 0.2]);
        assert_eq!(s.units()[0].id, 4);
    }

    #[test]
    fn errors_name_line_and_problem() {
        let o = LoadOptions::default();
        let e = load("unit,time\n1,0.1\n1,abc\n", "bad.csv", &o)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.csv") && e.contains("line 3") && e.contains("'abc' is not a number"),
            "{e}"
        );
        let e = load("0.1,4\n", "swap.csv", &o).unwrap_err().to_string();
        assert!(
            e.contains("not an integer id") && e.contains("--unit-column 2"),
            "{e}"
        );
        let e = load("neuron,when\n1,0.1\n", "h.csv", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot tell which columns"), "{e}");
        let e = load("unit,time\n1,0.2\n1,0.1\n", "u.csv", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not sorted") && e.contains("unit 1"), "{e}");
        let e = load("unit,time\n1,-0.2\n", "n.csv", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("negative time"), "{e}");
        let e = load("unit,time\n1,\n", "m.csv", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("missing"), "{e}");
        let e = load("", "empty.csv", &o).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = load("1,2,3\n", "three.csv", &o).unwrap_err().to_string();
        assert!(e.contains("two columns"), "{e}");
        let o = LoadOptions {
            time_column: Some("stamp".into()),
            ..LoadOptions::default()
        };
        let e = load("unit,time\n1,0.2\n", "c.csv", &o)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column named 'stamp'"), "{e}");
    }

    #[test]
    fn event_times() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ev.csv");
        std::fs::write(&p, "trial,start_time\n1,0.5\n2,1.5\n").unwrap();
        assert_eq!(
            read_event_times(&p, TimeUnit::Seconds, None).unwrap(),
            vec![0.5, 1.5]
        );
        std::fs::write(&p, "500\n1500\n").unwrap();
        assert_eq!(
            read_event_times(&p, TimeUnit::Milliseconds, None).unwrap(),
            vec![0.5, 1.5]
        );
        std::fs::write(&p, "t\nx\n").unwrap();
        let e = read_event_times(&p, TimeUnit::Seconds, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("'x'"), "{e}");
    }
}
