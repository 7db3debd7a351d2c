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

use super::spike_trains::{IntervalColumn, Quality, SpikeTrains, UnitInfo};
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

/// Parse a number field; the error is the problem without the line.
fn parse_number(what: &str, field: &[u8]) -> std::result::Result<f64, String> {
    if let Some(v) = std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
    {
        return Ok(v);
    }
    let s = String::from_utf8_lossy(field);
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("{what} {v} is not finite")),
        Err(_) if s.trim().is_empty() => Err(format!("the {what} is missing")),
        Err(_) => Err(format!("{what} '{}' is not a number", s.trim())),
    }
}

fn parse_f64(path: &Path, line: u64, what: &str, field: &[u8]) -> Result<f64> {
    parse_number(what, field).map_err(|p| Error::format(path, format!("line {line}: {p}")))
}

/// Multiply-shift hashing of unit ids: one hash per row, so the default
/// SipHash would be a noticeable share of parsing; ids are not adversarial
/// keys here (a collision costs time, not correctness).
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_i64(&mut self, id: i64) {
        self.0 = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap = HashMap<i64, usize, std::hash::BuildHasherDefault<IdHasher>>;

/// Where the unit, time and label live in each row.
#[derive(Clone, Copy)]
struct Columns {
    unit: usize,
    time: usize,
    label: Option<usize>,
    headerless: bool,
    seconds_per_unit: f64,
}

/// Trains of one chunk of rows, in order of first appearance.
#[derive(Default)]
struct ChunkTrains {
    trains: Vec<(i64, Vec<f64>, Quality)>,
    /// First problem: line within the chunk (1-based) and what is wrong.
    error: Option<(u64, String)>,
}

/// Parse rows of `chunk` (whole lines) into per-unit trains.
fn parse_chunk(chunk: &[u8], delimiter: u8, cols: Columns) -> ChunkTrains {
    let mut out = ChunkTrains::default();
    let mut slot_of = IdMap::default();
    let mut rdr = csv_builder(delimiter).from_reader(chunk);
    let mut rec = csv::ByteRecord::new();
    let mut line = 0u64;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let at = e.position().map_or(line + 1, |p| p.line());
                out.error = Some((at, format!("not readable as CSV: {e}")));
                break;
            }
        }
        line = rec.position().map_or(line + 1, |p| p.line());
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        match parse_row(&rec, cols) {
            Ok((id, t)) => {
                let slot = *slot_of.entry(id).or_insert_with(|| {
                    let label = cols.label.map_or(Quality::Unknown, |lc| {
                        Quality::parse(&String::from_utf8_lossy(rec.get(lc).unwrap_or_default()))
                    });
                    out.trains.push((id, Vec::new(), label));
                    out.trains.len() - 1
                });
                out.trains[slot].1.push(t);
            }
            Err(problem) => {
                out.error = Some((line, problem));
                break;
            }
        }
    }
    out
}

/// The unit id and time (seconds) of one row.
fn parse_row(rec: &csv::ByteRecord, cols: Columns) -> std::result::Result<(i64, f64), String> {
    let field = |k: usize, what: &str| {
        rec.get(k).ok_or_else(|| {
            format!(
                "{} fields, but the {what} is in column {}",
                rec.len(),
                k + 1
            )
        })
    };
    let unit_field = field(cols.unit, "unit")?;
    // Fast path: a plain integer id.
    if let Some(id) = std::str::from_utf8(unit_field)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
    {
        let t = parse_number("time", field(cols.time, "time")?)? * cols.seconds_per_unit;
        return Ok((id, t));
    }
    let u = parse_number("unit", unit_field)?;
    if u.fract() != 0.0 || u.abs() > 9.0e15 {
        return Err(format!(
            "unit '{u}' is not an integer id{}",
            if cols.headerless {
                " (without a header the columns are unit, time; use --unit-column 2 --time-column 1 if the file is time, unit)"
            } else {
                ""
            }
        ));
    }
    let t = parse_number("time", field(cols.time, "time")?)? * cols.seconds_per_unit;
    Ok((u as i64, t))
}

/// The CSV reader used for spike rows. Fields are trimmed where they are
/// parsed (cheaper than trimming every record here).
fn csv_builder(delimiter: u8) -> csv::ReaderBuilder {
    let mut b = csv::ReaderBuilder::new();
    b.has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .comment(Some(b'#'));
    b
}

/// Read spike times from a CSV/TSV file (see the module docs).
///
/// The file is read whole and its rows are parsed in parallel, in chunks
/// of whole lines (sequentially when it holds quotes, which may hide line
/// breaks inside fields); trains keep the file's row order.
pub fn load_csv(path: &Path, opts: &LoadOptions) -> Result<SpikeTrains> {
    super::output::register_input(path);
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let chunk = (bytes.len() / (rayon::current_num_threads() * 4)).max(1 << 20);
    load_csv_bytes(path, &bytes, opts, chunk)
}

/// [`load_csv`] on the file's bytes, with chunks of about `chunk_bytes`.
fn load_csv_bytes(
    path: &Path,
    bytes: &[u8],
    opts: &LoadOptions,
    chunk_bytes: usize,
) -> Result<SpikeTrains> {
    use rayon::prelude::*;
    let to_s = opts.time_unit.seconds_per_unit(opts.sample_rate)?;
    let first_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let delim = delimiter(path, &String::from_utf8_lossy(&bytes[..first_end]));
    let mut rdr = csv_builder(delim).from_reader(bytes);
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
    let cols = Columns {
        unit: unit_col,
        time: time_col,
        label: label_col,
        headerless: !has_header,
        seconds_per_unit: to_s,
    };
    // The body: after the header, or the whole file without one.
    let (body_start, lines_before) = if has_header {
        let p = rdr.position();
        (p.byte() as usize, p.line().saturating_sub(1))
    } else {
        (0, 0)
    };
    let body = bytes.get(body_start..).unwrap_or_default();
    let mut bounds = vec![0];
    if !body.contains(&b'"') {
        let mut k = 0;
        while k + chunk_bytes < body.len() {
            let cut = k + chunk_bytes;
            let Some(nl) = body[cut..].iter().position(|&b| b == b'\n') else {
                break;
            };
            k = cut + nl + 1;
            bounds.push(k);
        }
    }
    bounds.push(body.len());
    let chunks: Vec<&[u8]> = bounds.windows(2).map(|w| &body[w[0]..w[1]]).collect();
    let parsed: Vec<ChunkTrains> = chunks
        .par_iter()
        .map(|c| parse_chunk(c, delim, cols))
        .collect();
    // Merge in file order; the first problem in file order is reported.
    let mut trains: Vec<(i64, Vec<f64>, Quality)> = Vec::new();
    let mut slot_of = IdMap::default();
    let mut line_offset = lines_before;
    for (chunk, part) in chunks.iter().zip(parsed) {
        if let Some((line, problem)) = part.error {
            return Err(Error::format(
                path,
                format!("line {}: {problem}", line_offset + line),
            ));
        }
        line_offset += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        for (id, ts, label) in part.trains {
            match slot_of.get(&id) {
                Some(&slot) => trains[slot].1.extend_from_slice(&ts),
                None => {
                    slot_of.insert(id, trains.len());
                    trains.push((id, ts, label));
                }
            }
        }
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
    Ok(read_event_table(path, unit, sample_rate)?.0)
}

/// Like [`read_event_times`], and also every other column of the file, one
/// value per event as text (trimmed), so that trials can be grouped by a
/// condition column (e.g. `stimulus`). Without a header the other columns
/// are named `column2`, `column3`, ... (1-based positions); fields missing
/// from a short row are empty.
pub fn read_event_table(
    path: &Path,
    unit: TimeUnit,
    sample_rate: Option<f64>,
) -> Result<(Vec<f64>, Vec<IntervalColumn>)> {
    super::output::register_input(path);
    let to_s = unit.seconds_per_unit(sample_rate)?;
    let mut rdr = reader(path)?;
    let mut rec = csv::ByteRecord::new();
    let csv_err = |e: csv::Error| Error::format(path, format!("not readable as CSV: {e}"));
    let mut out = Vec::new();
    let mut columns: Vec<IntervalColumn> = Vec::new();
    let mut col = 0;
    let mut first = true;
    while rdr.read_byte_record(&mut rec).map_err(csv_err)? {
        let line = rec.position().map_or(0, |p| p.line());
        if first {
            first = false;
            if !rec.get(0).is_some_and(is_number) {
                col = find_column(path, Some(&rec), None, EVENT_NAMES, "event time")?.unwrap_or(0);
                columns = rec
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != col)
                    .map(|(k, f)| IntervalColumn {
                        name: match String::from_utf8_lossy(f).trim() {
                            "" => format!("column{}", k + 1),
                            name => name.to_string(),
                        },
                        values: Vec::new(),
                    })
                    .collect();
                continue;
            }
            columns = (1..rec.len())
                .map(|k| IntervalColumn {
                    name: format!("column{}", k + 1),
                    values: Vec::new(),
                })
                .collect();
        }
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.is_empty()) {
            continue;
        }
        let f = rec
            .get(col)
            .ok_or_else(|| Error::format(path, format!("line {line}: no column {}", col + 1)))?;
        out.push(parse_f64(path, line, "event time", f)? * to_s);
        // A short row leaves its missing fields empty (as before these
        // columns were read, such files load).
        let mut others = rec.iter().enumerate().filter(|&(k, _)| k != col);
        for c in columns.iter_mut() {
            let v = others.next().map_or_else(String::new, |(_, f)| {
                String::from_utf8_lossy(f).trim().to_string()
            });
            c.values.push(v);
        }
    }
    if out.is_empty() {
        return Err(Error::format(path, "the file holds no event times"));
    }
    Ok((out, columns))
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
        // Spaces around fields and blank lines are ignored.
        let s = load(
            " unit , time \n 2 , 0.5 \n   \n2,\t0.75\n",
            "sp.csv",
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(s.times(0), &[0.5, 0.75]);
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
    fn chunked_parsing_matches_one_pass_and_reports_global_lines() {
        let mut text = String::from("# spikes\nunit,time,label\n");
        for k in 0..300 {
            text.push_str(&format!(
                "{},{}.{:03},{}\n",
                k % 7,
                k / 10,
                k % 10,
                if k % 7 == 3 { "good" } else { "mua" }
            ));
        }
        let p = Path::new("chunks.csv");
        let o = LoadOptions::default();
        let whole = load_csv_bytes(p, text.as_bytes(), &o, usize::MAX).unwrap();
        for chunk in [1, 5, 17, 64] {
            assert_eq!(
                load_csv_bytes(p, text.as_bytes(), &o, chunk).unwrap(),
                whole
            );
        }
        assert_eq!(whole.units()[3].label, Quality::Good);
        assert_eq!(whole.times(1).len(), 43);
        // Line 200 of the file (row 198 of data, after the comment and header).
        let bad: String = text
            .lines()
            .enumerate()
            .map(|(k, l)| {
                if k == 199 {
                    "2,x,mua\n".to_string()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        for chunk in [1, 13, usize::MAX] {
            let e = load_csv_bytes(p, bad.as_bytes(), &o, chunk)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("line 200: time 'x' is not a number"),
                "{chunk}: {e}"
            );
        }
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

    #[test]
    fn event_table_keeps_every_other_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ev.csv");
        // Header: the time column is found by name wherever it is; a short
        // row leaves its missing fields empty.
        std::fs::write(&p, "stimulus,time,side\nA,0.5,left\nB,1.5\n").unwrap();
        let (t, cols) = read_event_table(&p, TimeUnit::Seconds, None).unwrap();
        assert_eq!(t, vec![0.5, 1.5]);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["stimulus", "side"]);
        assert_eq!(cols[0].values, vec!["A", "B"]);
        assert_eq!(cols[1].values, vec!["left", ""]);
        // No header: the first column is the time, the others are named by
        // position; milliseconds are converted.
        std::fs::write(&p, "500,x,1\n1500,y,2\n").unwrap();
        let (t, cols) = read_event_table(&p, TimeUnit::Milliseconds, None).unwrap();
        assert_eq!(t, vec![0.5, 1.5]);
        assert_eq!(cols[0].name, "column2");
        assert_eq!(cols[1].values, vec!["1", "2"]);
        assert_eq!(
            read_event_times(&p, TimeUnit::Milliseconds, None).unwrap(),
            t
        );
    }
}
