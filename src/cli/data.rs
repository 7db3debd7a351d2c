//! Subcommands for recordings: `info` (what a file holds) and `bin` (sorted
//! spikes → binary raster).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::io::binning::{Alignment, BinOptions, Binned, UnitSelection, bin_spikes, summarize};
use crate::io::csv_spikes::read_event_table;
use crate::io::spike_trains::{Quality, SpikeTrains};
use crate::io::{LoadOptions, Loaded, Orientation, TimeUnit, demo, load_path, npy};
use crate::psth::TrialTable;

/// Unit of CSV times.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TimeUnitArg {
    /// Seconds.
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Sample indices (needs --sample-rate).
    Samples,
}

/// Axis order of an NPY/NPZ raster.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OrientationArg {
    /// (T, N) or (R, T, N): rows are time bins.
    TimeUnits,
    /// (N, T) or (R, N, T): rows are units.
    UnitsTime,
}

/// How to read the input file (shared by `info` and `bin`).
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Unit of CSV spike times.
    #[arg(long, value_enum, default_value_t = TimeUnitArg::S)]
    pub time_unit: TimeUnitArg,
    /// Sample rate in Hz (for --time-unit samples; overrides a Kilosort params.py).
    #[arg(long)]
    pub sample_rate: Option<f64>,
    /// CSV column of the unit id: header name or 1-based position.
    #[arg(long)]
    pub unit_column: Option<String>,
    /// CSV column of the spike time: header name or 1-based position.
    #[arg(long)]
    pub time_column: Option<String>,
    /// Axis order of an NPY/NPZ raster (required for those; never guessed).
    #[arg(long, value_enum)]
    pub orientation: Option<OrientationArg>,
    /// Drop units without spikes instead of reporting an error.
    #[arg(long)]
    pub drop_empty_units: bool,
}

impl LoadArgs {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            time_unit: match self.time_unit {
                TimeUnitArg::S => TimeUnit::Seconds,
                TimeUnitArg::Ms => TimeUnit::Milliseconds,
                TimeUnitArg::Us => TimeUnit::Microseconds,
                TimeUnitArg::Samples => TimeUnit::Samples,
            },
            sample_rate: self.sample_rate,
            unit_column: self.unit_column.clone(),
            time_column: self.time_column.clone(),
            orientation: self.orientation.map(|o| match o {
                OrientationArg::TimeUnits => Orientation::TimeByUnits,
                OrientationArg::UnitsTime => Orientation::UnitsByTime,
            }),
            drop_empty_units: self.drop_empty_units,
        }
    }
}

/// Arguments of `isingscope info`.
#[derive(Debug, Args)]
#[command(
    after_help = "Formats: NWB 2.x (.nwb), Kilosort/Phy folders, CSV/TSV of spikes (unit, time), NPY/NPZ rasters. Without FILE, describes the bundled demo recording (A8604-211122.nwb, 3 Neuropixels units, MIT licence)."
)]
pub struct InfoArgs {
    /// Recording to describe (file or Kilosort folder); default the bundled demo.
    pub file: Option<PathBuf>,
    /// Bin width (ms) for the active-bin fractions and merged-spike counts.
    #[arg(long, default_value_t = 10.0)]
    pub bin_ms: f64,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Arguments of `isingscope bin`.
#[derive(Debug, Args)]
#[command(
    after_help = "Bins are half-open [t0 + k*w, t0 + (k+1)*w) with times rounded to the nearest nanosecond; several spikes of a unit in one bin count once (the merged count is reported). Without --stop the raster covers the recording (whole bins up to its end, plus the bin of the last spike).\n\nOutput: OUT (.npy, (R, T, N) uint8 0/1; R = 1 without alignment) and units.csv next to it: column,unit_id,label,rate_hz,active_bins,merged_spikes (one row per raster column). With --align or --intervals also trials.csv next to it: trial,start,<every other column of the events file or intervals table> (one row per raster trial; start = the event time, s)."
)]
pub struct BinArgs {
    /// Recording (NWB, Kilosort folder, CSV/TSV).
    pub file: PathBuf,
    /// Bin width, milliseconds.
    #[arg(long)]
    pub bin_ms: f64,
    /// Start of the window, seconds (default 0).
    #[arg(long)]
    pub start: Option<f64>,
    /// End of the window, seconds (default: the end of the recording).
    #[arg(long)]
    pub stop: Option<f64>,
    /// Keep these unit ids, in this order (comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["label", "min_rate"])]
    pub units: Option<Vec<i64>>,
    /// Keep units with this curation label (good, mua, noise, unknown).
    #[arg(long, conflicts_with = "min_rate")]
    pub label: Option<String>,
    /// Keep units firing at least this many Hz over the window.
    #[arg(long)]
    pub min_rate: Option<f64>,
    /// Align trials to the event times (seconds) in this CSV.
    #[arg(long, conflicts_with = "intervals")]
    pub align: Option<PathBuf>,
    /// Align trials to the start times of this interval table (e.g. trials, epochs).
    #[arg(long)]
    pub intervals: Option<String>,
    /// Seconds before each event.
    #[arg(long, default_value_t = 0.0)]
    pub pre: f64,
    /// Seconds after each event (default with --intervals: the shortest interval).
    #[arg(long)]
    pub post: Option<f64>,
    /// Output raster (.npy).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub load: LoadArgs,
}

fn load_spikes(path: &Path, load: &LoadArgs) -> anyhow::Result<Loaded> {
    Ok(load_path(path, &load.options())?)
}

/// `isingscope info`.
pub fn info(a: InfoArgs) -> anyhow::Result<()> {
    let path = match &a.file {
        Some(p) => p.clone(),
        None => demo::demo_nwb_path().context("cannot provide the bundled demo recording")?,
    };
    match load_spikes(&path, &a.load)? {
        Loaded::Spikes(trains) => {
            let s = summarize(&trains, a.bin_ms)?;
            print!("{s}");
            for t in trains.intervals() {
                let labels: Vec<&str> = t
                    .labels
                    .iter()
                    .map(String::as_str)
                    .filter(|l| !l.is_empty())
                    .take(5)
                    .collect();
                let columns: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
                println!(
                    "  {}: {} rows, first [{}, {}] s{}{}",
                    t.name,
                    t.len(),
                    t.start.first().copied().unwrap_or(f64::NAN),
                    t.stop.first().copied().unwrap_or(f64::NAN),
                    if labels.is_empty() {
                        String::new()
                    } else {
                        format!(", labels {}", labels.join(", "))
                    },
                    if columns.is_empty() {
                        String::new()
                    } else {
                        format!(", columns {}", columns.join(", "))
                    }
                );
            }
        }
        Loaded::Raster(r) => {
            let (rr, t, n) = r.shape();
            println!("file: {}", path.display());
            println!("binned raster: {rr} trials x {t} bins x {n} units");
            println!("active fraction {:.5}", r.active_fraction());
            let counts = r.unit_counts();
            println!("{:>8}  {:>9}", "column", "active");
            for (i, c) in counts.iter().enumerate() {
                println!("{i:>8}  {:>9.5}", *c as f64 / (rr * t) as f64);
            }
        }
    }
    Ok(())
}

fn write_units_csv(path: &Path, binned: &Binned) -> anyhow::Result<()> {
    crate::io::output::write_atomic(path, |w| {
        writeln!(w, "column,unit_id,label,rate_hz,active_bins,merged_spikes")?;
        for (k, u) in binned.units.iter().enumerate() {
            writeln!(
                w,
                "{k},{},{},{},{},{}",
                u.id, u.label, u.rate_hz, u.active_bins, u.merged_spikes
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The alignment and, for aligned trials, their table (event times and
/// every other column of the events file or intervals table).
fn alignment(a: &BinArgs, trains: &SpikeTrains) -> anyhow::Result<(Alignment, Option<TrialTable>)> {
    if let Some(events) = &a.align {
        let (times, columns) = read_event_table(events, TimeUnit::Seconds, None)?;
        let Some(post) = a.post else {
            bail!("--align needs --post (seconds after each event)");
        };
        let trials = TrialTable {
            event_s: times.clone(),
            pre_s: a.pre,
            columns,
        };
        return Ok((
            Alignment::Events {
                times,
                pre: a.pre,
                post,
            },
            Some(trials),
        ));
    }
    if let Some(name) = &a.intervals {
        let Some(table) = trains.interval_table(name) else {
            let found: Vec<&str> = trains.intervals().iter().map(|t| t.name.as_str()).collect();
            bail!(
                "{}: no interval table '{name}'; found: {}",
                trains.source().display(),
                if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                }
            );
        };
        let post = match a.post {
            Some(p) => p,
            None => table
                .start
                .iter()
                .zip(&table.stop)
                .map(|(s, e)| e - s)
                .fold(f64::INFINITY, f64::min),
        };
        return Ok((
            Alignment::Events {
                times: table.start.clone(),
                pre: a.pre,
                post,
            },
            Some(TrialTable::from_intervals(table, a.pre)),
        ));
    }
    Ok((Alignment::Continuous, None))
}

/// `isingscope bin`.
pub fn bin(a: BinArgs) -> anyhow::Result<()> {
    let trains = match load_spikes(&a.file, &a.load)? {
        Loaded::Spikes(t) => t,
        Loaded::Raster(_) => bail!(
            "{} is already a binned raster; `bin` needs spike times (NWB, Kilosort folder or CSV)",
            a.file.display()
        ),
    };
    let units = if let Some(ids) = &a.units {
        UnitSelection::Ids(ids.clone())
    } else if let Some(l) = &a.label {
        UnitSelection::Label(Quality::parse_strict(l)?)
    } else if let Some(hz) = a.min_rate {
        UnitSelection::MinRate(hz)
    } else {
        UnitSelection::All
    };
    let opts = BinOptions {
        bin_ms: a.bin_ms,
        start: a.start,
        stop: a.stop,
        units,
    };
    let (align, trials) = alignment(&a, &trains)?;
    let beside = |name: &str| {
        a.out
            .parent()
            .map_or_else(|| PathBuf::from(name), |d| d.join(name))
    };
    let units_csv = beside("units.csv");
    let trials_csv = trials.as_ref().map(|_| beside("trials.csv"));
    // Every output is checked before any is written.
    let mut outputs = vec![a.out.as_path(), units_csv.as_path()];
    outputs.extend(trials_csv.as_deref());
    super::check_outputs(&outputs)?;
    let binned = bin_spikes(&trains, &opts, &align)
        .with_context(|| format!("cannot bin {}", a.file.display()))?;
    for w in &binned.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        super::ensure_dir(dir)?;
    }
    npy::write_raster(&a.out, &binned.raster)?;
    write_units_csv(&units_csv, &binned)?;
    if let (Some(path), Some(trials)) = (&trials_csv, &trials) {
        crate::io::output::write_atomic(path, |w| trials.write_csv(w))?;
        println!(
            "wrote {} ({} trials: trial, start, {})",
            path.display(),
            trials.len(),
            trials.column_names().join(", ")
        );
    }
    let (r, t, n) = binned.raster.shape();
    println!(
        "wrote {} ({r} trials x {t} bins x {n} units, {} ms bins, active fraction {:.5}) and {}",
        a.out.display(),
        a.bin_ms,
        binned.raster.active_fraction(),
        units_csv.display()
    );
    let merged = binned.merged_spikes();
    if merged > 0 {
        println!(
            "{merged} spikes fell in bins that already held a spike of the same unit and were merged; a smaller --bin-ms keeps them"
        );
    }
    Ok(())
}
