//! Reading and writing files: one submodule per format, one
//! [`load_path`] that picks the format.
//!
//! Sorted spikes (times per unit) load into a [`SpikeTrains`]; binned
//! rasters load directly into a [`crate::spikes::SpikeRaster`];
//! [`binning::bin_spikes`] turns the former into the latter.
//!
//! * [`nwb`]: NWB 2.x (HDF5) `/units` and `/intervals` tables.
//! * [`kilosort`]: Kilosort/Phy output folders.
//! * [`csv_spikes`]: CSV/TSV, one row per spike (unit, time).
//! * [`npy`]: NumPy `.npy` rasters (`(T, N)` or `(R, T, N)`, any integer,
//!   bool or float dtype holding 0/1 or ±1, C or Fortran order) and float
//!   arrays.
//! * [`npz`]: NumPy `.npz` archives holding one raster.
//! * [`text`]: plain CSV matrices and vectors (no header; a matrix row per
//!   line, `J.csv` row i = receiving neuron; a vector value per line).
//! * [`binning`]: bins, windows, trials, unit selection, summaries.
//! * [`demo`]: the bundled demo recordings.
//! * [`output`]: every file written: atomic, never over an input.
//!
//! Every error names the file and the problem.

pub mod binning;
pub mod csv_spikes;
pub mod demo;
pub mod kilosort;
pub mod memory;
pub mod npy;
pub mod npz;
pub mod nwb;
pub mod output;
pub mod spike_trains;
pub mod text;

use std::io::Read;
use std::path::Path;

pub use binning::{
    Alignment, BinOptions, Binned, BinnedUnit, Summary, UnitSelection, bin_spikes, summarize,
};
pub use spike_trains::{IntervalColumn, IntervalTable, Quality, SpikeTrains, UnitInfo};

use crate::spikes::SpikeRaster;
use crate::{Error, Result};

/// Unit of the time values in a CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimeUnit {
    /// Seconds.
    #[default]
    Seconds,
    /// Milliseconds.
    Milliseconds,
    /// Microseconds.
    Microseconds,
    /// Sample indices; needs a sample rate.
    Samples,
}

impl TimeUnit {
    /// Seconds per unit (for samples, `1 / sample_rate`).
    pub fn seconds_per_unit(self, sample_rate: Option<f64>) -> Result<f64> {
        Ok(match self {
            TimeUnit::Seconds => 1.0,
            TimeUnit::Milliseconds => 1e-3,
            TimeUnit::Microseconds => 1e-6,
            TimeUnit::Samples => match sample_rate {
                Some(fs) if fs.is_finite() && fs > 0.0 => 1.0 / fs,
                Some(fs) => return Err(Error::param("sample rate (Hz)", fs, "must be positive")),
                None => {
                    return Err(Error::param(
                        "time unit",
                        "samples",
                        "needs the sample rate (--sample-rate HZ)",
                    ));
                }
            },
        })
    }
}

/// Axis order of a stored raster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// `(T, N)` or `(R, T, N)`: time bins before units (NumPy rows = bins).
    TimeByUnits,
    /// `(N, T)` or `(R, N, T)`: units before time bins.
    UnitsByTime,
}

/// Choices a loader cannot infer safely from the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOptions {
    /// Unit of CSV times (default seconds).
    pub time_unit: TimeUnit,
    /// Sample rate in Hz for `TimeUnit::Samples`, and to override a
    /// Kilosort `params.py`.
    pub sample_rate: Option<f64>,
    /// CSV unit column: header name or 1-based position.
    pub unit_column: Option<String>,
    /// CSV time column: header name or 1-based position.
    pub time_column: Option<String>,
    /// Axis order of an NPY/NPZ raster. Required for those: it is never
    /// guessed.
    pub orientation: Option<Orientation>,
    /// Drop units without spikes instead of failing.
    pub drop_empty_units: bool,
}

/// What a file held.
#[derive(Clone, Debug)]
pub enum Loaded {
    /// Sorted spike times per unit (NWB, Kilosort, CSV).
    Spikes(SpikeTrains),
    /// An already binned raster (NPY, NPZ).
    Raster(SpikeRaster),
}

/// The formats [`load_path`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// NWB 2.x (HDF5).
    Nwb,
    /// A Kilosort/Phy folder.
    Kilosort,
    /// CSV/TSV spike times.
    Csv,
    /// An `.npy` raster.
    Npy,
    /// An `.npz` archive holding a raster.
    Npz,
}

/// Decide the format of `path`: a directory is a Kilosort/Phy folder
/// (as is a `spike_times.npy` next to `spike_clusters.npy`); then by
/// extension (`.nwb`/`.h5`/`.hdf5`, `.csv`/`.tsv`/`.txt`, `.npy`, `.npz`);
/// otherwise by the file's first bytes (HDF5, NumPy or zip signatures, else
/// text).
pub fn detect_format(path: &Path) -> Result<Format> {
    if path.is_dir() {
        return Ok(Format::Kilosort);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name == "spike_times.npy"
        && path.parent().is_some_and(|d| {
            d.join("spike_clusters.npy").is_file() || d.join("spike_templates.npy").is_file()
        })
    {
        return Ok(Format::Kilosort);
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "nwb" | "h5" | "hdf5" => return Ok(Format::Nwb),
        "csv" | "tsv" | "txt" => return Ok(Format::Csv),
        "npy" => return Ok(Format::Npy),
        "npz" => return Ok(Format::Npz),
        _ => {}
    }
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let got = f.read(&mut head).map_err(|e| Error::io(path, e))?;
    let head = &head[..got];
    Ok(if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        Format::Nwb
    } else if head.starts_with(b"\x93NUMPY") {
        Format::Npy
    } else if head.starts_with(b"PK\x03\x04") {
        Format::Npz
    } else {
        Format::Csv
    })
}

/// Load any supported file or folder (see [`detect_format`]).
///
/// ```
/// use isingscope::io::binning::{Alignment, BinOptions, bin_spikes};
/// use isingscope::io::{LoadOptions, Loaded, demo, load_path};
///
/// let path = demo::demo_nwb_path()?; // the bundled real recording
/// let Loaded::Spikes(trains) = load_path(&path, &LoadOptions::default())? else {
///     unreachable!("an NWB file holds spike times")
/// };
/// assert_eq!(trains.n_units(), 3);
/// let binned = bin_spikes(&trains, &BinOptions::new(10.0), &Alignment::Continuous)?;
/// assert_eq!(binned.raster.shape(), (1, 108_752, 3)); // (R, T, N)
/// # Ok::<(), isingscope::Error>(())
/// ```
pub fn load_path(path: &Path, opts: &LoadOptions) -> Result<Loaded> {
    if !path.exists() {
        return Err(Error::format(path, "no such file or directory"));
    }
    // Whatever the format, no output of this run may replace the input.
    output::register_input(path);
    Ok(match detect_format(path)? {
        Format::Nwb => Loaded::Spikes(nwb::load_nwb(path, opts)?),
        Format::Kilosort => {
            let dir = if path.is_dir() {
                path
            } else {
                path.parent().unwrap_or(Path::new("."))
            };
            Loaded::Spikes(kilosort::load_kilosort(dir, opts)?)
        }
        Format::Csv => Loaded::Spikes(csv_spikes::load_csv(path, opts)?),
        Format::Npy => {
            let orientation =
                require_orientation(path, opts, || npy::read_info(path).map(|i| i.shape))?;
            Loaded::Raster(npy::read_raster_oriented(
                path,
                orientation == Orientation::UnitsByTime,
            )?)
        }
        Format::Npz => Loaded::Raster(npz::read_raster(path, opts.orientation)?),
    })
}

/// Read a binned raster for the analyses (`stats`, `fit`, `state-space`):
/// an `.npy` file or an `.npz` archive holding `(T, N)` or `(R, T, N)`
/// (time before units). Spike-time formats are refused with the command
/// that bins them.
pub fn read_raster_file(path: &Path) -> Result<SpikeRaster> {
    if !path.is_file() {
        return Err(Error::format(path, "no such file"));
    }
    match detect_format(path)? {
        Format::Npy => npy::read_raster(path),
        Format::Npz => npz::read_raster(path, Some(Orientation::TimeByUnits)),
        Format::Nwb | Format::Csv | Format::Kilosort => Err(Error::format(
            path,
            "holds spike times, not a binned raster; bin it first with `isingscope bin FILE --bin-ms W --out raster.npy`",
        )),
    }
}

/// The orientation the user stated, or an error that offers a guess (the
/// longer of the last two axes is probably time).
pub(crate) fn require_orientation(
    path: &Path,
    opts: &LoadOptions,
    shape: impl FnOnce() -> Result<Vec<usize>>,
) -> Result<Orientation> {
    if let Some(o) = opts.orientation {
        return Ok(o);
    }
    let shape = shape()?;
    let hint = match shape.as_slice() {
        [.., a, b] if a > b => format!(
            "; shape {shape:?} suggests time x units (--orientation time-units: {a} bins, {b} units)"
        ),
        [.., a, b] if a < b => format!(
            "; shape {shape:?} suggests units x time (--orientation units-time: {a} units, {b} bins)"
        ),
        _ => format!("; shape {shape:?}"),
    };
    Err(Error::format(
        path,
        format!(
            "state the raster's axis order: --orientation time-units for (T, N) / (R, T, N) or units-time for (N, T) / (R, N, T); it is never guessed{hint}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_detection() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(detect_format(d).unwrap(), Format::Kilosort);
        for (name, fmt) in [
            ("a.NWB", Format::Nwb),
            ("a.tsv", Format::Csv),
            ("a.npz", Format::Npz),
        ] {
            std::fs::write(d.join(name), b"").unwrap();
            assert_eq!(detect_format(&d.join(name)).unwrap(), fmt);
        }
        std::fs::write(d.join("x.dat"), b"\x93NUMPY\x01\x00").unwrap();
        assert_eq!(detect_format(&d.join("x.dat")).unwrap(), Format::Npy);
        std::fs::write(d.join("y.dat"), b"\x89HDF\r\n\x1a\n").unwrap();
        assert_eq!(detect_format(&d.join("y.dat")).unwrap(), Format::Nwb);
        std::fs::write(d.join("z.dat"), b"unit,time\n").unwrap();
        assert_eq!(detect_format(&d.join("z.dat")).unwrap(), Format::Csv);
        std::fs::write(d.join("spike_times.npy"), b"").unwrap();
        std::fs::write(d.join("spike_clusters.npy"), b"").unwrap();
        assert_eq!(
            detect_format(&d.join("spike_times.npy")).unwrap(),
            Format::Kilosort
        );
        let e = load_path(&d.join("missing.csv"), &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.csv"), "{e}");
    }

    #[test]
    fn time_units() {
        assert_eq!(TimeUnit::Milliseconds.seconds_per_unit(None).unwrap(), 1e-3);
        assert_eq!(
            TimeUnit::Samples.seconds_per_unit(Some(20_000.0)).unwrap(),
            5e-5
        );
        assert!(TimeUnit::Samples.seconds_per_unit(None).is_err());
        assert!(TimeUnit::Samples.seconds_per_unit(Some(0.0)).is_err());
    }
}
