//! Loaders of real spike recordings: every format on fixtures the tests
//! write themselves (NWB through hdf5-pure's writer, Kilosort folders with
//! Fortran-order uint64 arrays, CSV, NPY), the real demo NWB file, every
//! bad-input path, and the `info` / `bin` subcommands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hdf5_pure::{AttrValue, FileBuilder};
use isingscope::io::binning::{Alignment, BinOptions, UnitSelection, bin_spikes, summarize};
use isingscope::io::{LoadOptions, Loaded, Orientation, Quality, SpikeTrains, load_path};
use npyz::WriterBuilder;

fn demo_nwb() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/A8604-211122.nwb")
}

fn spikes(path: &Path, opts: &LoadOptions) -> SpikeTrains {
    match load_path(path, opts).unwrap() {
        Loaded::Spikes(s) => s,
        Loaded::Raster(_) => panic!("expected spike trains"),
    }
}

fn load_err(path: &Path, opts: &LoadOptions) -> String {
    load_path(path, opts).unwrap_err().to_string()
}

// ---------------------------------------------------------------- NWB

/// Integer index column written with a chosen dtype.
#[derive(Clone, Copy, Debug)]
enum IndexType {
    U8,
    U16,
    U32,
    U64,
}

/// A small NWB-like file: `/units` with three units (ids 4, 9, 2) whose
/// spikes are [0.1, 0.25], [0.5], [0.05, 0.6, 0.95]; string columns
/// `quality` and `location`; `/intervals/trials` with ragged tags.
fn write_nwb(path: &Path, index: IndexType, with_units: bool) {
    let mut b = FileBuilder::new();
    b.set_attr("nwb_version", AttrValue::VarLenString("2.7.0".into()));
    if with_units {
        let mut u = b.create_group("units");
        u.set_attr(
            "colnames",
            AttrValue::VarLenStringArray(vec!["spike_times".into(), "quality".into()]),
        );
        u.create_dataset("spike_times")
            .with_f64_data(&[0.1, 0.25, 0.5, 0.05, 0.6, 0.95]);
        let ends = [2u64, 3, 6];
        let ds = u.create_dataset("spike_times_index");
        match index {
            IndexType::U8 => ds.with_u8_data(&ends.map(|e| e as u8)),
            IndexType::U16 => ds.with_u16_data(&ends.map(|e| e as u16)),
            IndexType::U32 => ds.with_u32_data(&ends.map(|e| e as u32)),
            IndexType::U64 => ds.with_u64_data(&ends),
        };
        u.create_dataset("id").with_i64_data(&[4, 9, 2]);
        u.create_dataset("quality")
            .with_vlen_strings(&["good", "mua", "Good"]);
        u.create_dataset("location")
            .with_vlen_strings(&["CA1", "CA1", "ADn"]);
        b.add_group(u.finish());
    }
    let mut iv = b.create_group("intervals");
    let mut tr = iv.create_group("trials");
    tr.create_dataset("start_time").with_f64_data(&[0.0, 0.5]);
    tr.create_dataset("stop_time").with_f64_data(&[0.4, 0.9]);
    tr.create_dataset("tags")
        .with_vlen_strings(&["left", "rewarded", "right"]);
    tr.create_dataset("tags_index").with_u8_data(&[2, 3]);
    iv.add_group(tr.finish());
    b.add_group(iv.finish());
    b.write(path).unwrap();
}

#[test]
fn nwb_every_index_dtype() {
    let dir = tempfile::tempdir().unwrap();
    for index in [
        IndexType::U8,
        IndexType::U16,
        IndexType::U32,
        IndexType::U64,
    ] {
        let p = dir.path().join(format!("{index:?}.nwb"));
        write_nwb(&p, index, true);
        let s = spikes(&p, &LoadOptions::default());
        let ids: Vec<i64> = s.units().iter().map(|u| u.id).collect();
        assert_eq!(ids, vec![4, 9, 2], "{index:?}");
        assert_eq!(s.times(0), &[0.1, 0.25]);
        assert_eq!(s.times(1), &[0.5]);
        assert_eq!(s.times(2), &[0.05, 0.6, 0.95]);
        let labels: Vec<Quality> = s.units().iter().map(|u| u.label).collect();
        assert_eq!(labels, vec![Quality::Good, Quality::Mua, Quality::Good]);
        assert_eq!(s.units()[2].location, "ADn");
        let trials = s.interval_table("trials").unwrap();
        assert_eq!(trials.start, vec![0.0, 0.5]);
        assert_eq!(trials.stop, vec![0.4, 0.9]);
        assert_eq!(trials.labels, vec!["left;rewarded", "right"]);
    }
}

#[test]
fn nwb_location_from_electrode_group() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("eg.nwb");
    let mut b = FileBuilder::new();
    let mut general = b.create_group("general");
    let mut ecephys = general.create_group("extracellular_ephys");
    let mut shank = ecephys.create_group("shank0");
    shank.set_attr("location", AttrValue::VarLenString("V1".into()));
    ecephys.add_group(shank.finish());
    general.add_group(ecephys.finish());
    b.add_group(general.finish());
    let mut u = b.create_group("units");
    u.create_dataset("spike_times").with_f64_data(&[0.1, 0.2]);
    u.create_dataset("spike_times_index").with_u32_data(&[1, 2]);
    u.create_dataset("electrode_group").with_path_references(&[
        "/general/extracellular_ephys/shank0",
        "/general/extracellular_ephys/shank0",
    ]);
    b.add_group(u.finish());
    b.write(&p).unwrap();
    let s = spikes(&p, &LoadOptions::default());
    // No id column: ids default to 0..N.
    assert_eq!(s.units()[1].id, 1);
    assert_eq!(s.units()[0].location, "V1");
    assert!(s.intervals().is_empty());
}

#[test]
fn nwb_bad_input_is_an_error_naming_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let o = LoadOptions::default();
    // No /units.
    let p = dir.path().join("nounits.nwb");
    write_nwb(&p, IndexType::U8, false);
    let e = load_err(&p, &o);
    assert!(
        e.contains("nounits.nwb") && e.contains("no /units table"),
        "{e}"
    );
    // Truncated files: cut the real demo at several lengths.
    let bytes = std::fs::read(demo_nwb()).unwrap();
    for cut in [0, 7, 100, 4096, bytes.len() / 2, bytes.len() - 1000] {
        let p = dir.path().join(format!("cut{cut}.nwb"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = load_err(&p, &o);
        assert!(e.contains(&format!("cut{cut}.nwb")), "{e}");
    }
    let p = dir.path().join("cut0.nwb");
    assert!(load_err(&p, &o).contains("not a readable HDF5/NWB file"));
    let p = dir.path().join(format!("cut{}.nwb", bytes.len() - 1000));
    let e = load_err(&p, &o);
    assert!(e.contains("the file is truncated"), "{e}");
    // Index that decreases, and one that does not end at the data length.
    for (name, ends, needle) in [
        ("dec.nwb", vec![2u32, 1, 3], "spike_times_index[1] = 1"),
        ("short.nwb", vec![1u32, 2], "ends at 2 but the data hold 3"),
    ] {
        let p = dir.path().join(name);
        let mut b = FileBuilder::new();
        let mut u = b.create_group("units");
        u.create_dataset("spike_times")
            .with_f64_data(&[0.1, 0.2, 0.3]);
        u.create_dataset("spike_times_index").with_u32_data(&ends);
        b.add_group(u.finish());
        b.write(&p).unwrap();
        let e = load_err(&p, &o);
        assert!(e.contains(name) && e.contains(needle), "{e}");
    }
    // An empty unit (two equal offsets), negative and unsorted times.
    for (name, times, ends, needle) in [
        (
            "empty.nwb",
            vec![0.1, 0.2],
            vec![1u8, 1, 2],
            "unit 1 has no spikes",
        ),
        ("neg.nwb", vec![-0.1, 0.2], vec![2u8], "negative time"),
        ("unsorted.nwb", vec![0.3, 0.2], vec![2u8], "not sorted"),
    ] {
        let p = dir.path().join(name);
        let mut b = FileBuilder::new();
        let mut u = b.create_group("units");
        u.create_dataset("spike_times").with_f64_data(&times);
        u.create_dataset("spike_times_index").with_u8_data(&ends);
        b.add_group(u.finish());
        b.write(&p).unwrap();
        let e = load_err(&p, &o);
        assert!(e.contains(name) && e.contains(needle), "{e}");
        if name == "empty.nwb" {
            let keep = LoadOptions {
                drop_empty_units: true,
                ..LoadOptions::default()
            };
            assert_eq!(spikes(&p, &keep).n_units(), 2);
        }
    }
    // Not HDF5 at all.
    let p = dir.path().join("text.nwb");
    std::fs::write(&p, "hello").unwrap();
    assert!(load_err(&p, &o).contains("text.nwb"));
}

/// The real recording: ids and spike count from `assets/README.md`; the
/// binning checked against exact integer arithmetic on the 30 kHz sample
/// grid.
#[test]
fn real_demo_recording() {
    let s = spikes(&demo_nwb(), &LoadOptions::default());
    let ids: Vec<i64> = s.units().iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![6, 191, 206]);
    assert_eq!(s.n_spikes(), 21_354);
    let epochs = s.interval_table("epochs").unwrap();
    assert_eq!(epochs.labels, vec!["wake"]);
    assert_eq!(epochs.stop, vec![1087.5289]);
    let b = bin_spikes(&s, &BinOptions::new(10.0), &Alignment::Continuous).unwrap();
    // T = floor(1087.5289 s / 10 ms) whole bins.
    assert_eq!(b.raster.shape(), (1, 108_752, 3));

    // Upstream numbers (data README): k = floor(t / 0.01) in floating
    // point gives 10630 / 3869 / 5530 active bins. Reproducing them checks
    // that the spikes were read correctly.
    let naive: Vec<u64> = (0..3)
        .map(|i| {
            let mut k: Vec<i64> = s
                .times(i)
                .iter()
                .map(|t| (t / 0.01).floor() as i64)
                .collect();
            k.dedup();
            k.len() as u64
        })
        .collect();
    assert_eq!(naive, vec![10_630, 3_869, 5_530]);

    // The half-open rule: the times are whole samples at 30 kHz (written to
    // 1 us, well inside half a sample), and a 10 ms bin is exactly 300
    // samples, so the exact bin is sample / 300 in integers. Five spikes sit
    // exactly on a 10 ms edge (e.g. 251.64 s, stored as 251.6399999...):
    // floating-point floor puts them one bin low; the rule puts them in the
    // bin they open, which adds one active bin to units 6 and 191 each.
    for i in 0..3 {
        let exact: Vec<usize> = s
            .times(i)
            .iter()
            .map(|t| {
                let sample = (t * 30_000.0).round();
                assert!(
                    (t * 30_000.0 - sample).abs() < 0.05,
                    "{t} is not on the sample grid"
                );
                sample as usize / 300
            })
            .collect();
        let mut distinct = exact.clone();
        distinct.dedup();
        assert_eq!(b.units[i].active_bins, distinct.len() as u64);
        let column: Vec<usize> = (0..108_752).filter(|&t| b.raster.get(0, t, i)).collect();
        assert_eq!(column, distinct);
    }
    let active: Vec<u64> = b.units.iter().map(|u| u.active_bins).collect();
    assert_eq!(active, vec![10_631, 3_870, 5_530]);
    // Every spike lies inside the window, so spikes = active + merged.
    let total: u64 = b.units.iter().map(|u| u.spikes).sum();
    assert_eq!(total, 21_354);
    // Rates 10.13 / 4.31 / 5.19 Hz over 1087.52 s.
    let rates: Vec<f64> = b
        .units
        .iter()
        .map(|u| (u.rate_hz * 100.0).round() / 100.0)
        .collect();
    assert_eq!(rates, vec![10.13, 4.31, 5.19]);
    let summary = summarize(&s, 10.0).unwrap();
    assert_eq!(summary.n_bins, 108_752);
    assert_eq!(summary.merged_spikes, 21_354 - (10_631 + 3_870 + 5_530));
    // At a bin of one sample period no two spikes of a unit share a bin
    // (no duplicates in the file), and ns rounding keeps each on its own
    // sample.
    let mut o = BinOptions::new(1000.0 / 30_000.0);
    o.stop = Some(60.0);
    o.units = UnitSelection::Ids(vec![6]);
    let fine = bin_spikes(&s, &o, &Alignment::Continuous).unwrap();
    assert_eq!(fine.units[0].merged_spikes, 0);
    let in_first_minute = s.times(0).iter().filter(|&&t| t < 60.0).count() as u64;
    assert_eq!(fine.units[0].active_bins, in_first_minute);
}

/// Trials aligned to the epochs table reproduce the continuous raster.
#[test]
fn trials_from_an_interval_table_match_continuous_bins() {
    let s = spikes(&demo_nwb(), &LoadOptions::default());
    let cont = bin_spikes(&s, &BinOptions::new(10.0), &Alignment::Continuous).unwrap();
    let align = Alignment::Events {
        times: vec![100.0, 200.005],
        pre: 0.5,
        post: 1.5,
    };
    let tr = bin_spikes(&s, &BinOptions::new(10.0), &align).unwrap();
    assert_eq!(tr.raster.shape(), (2, 200, 3));
    // Trial 0 starts at 99.5 s = continuous bin 9950 exactly.
    for t in 0..200 {
        for i in 0..3 {
            assert_eq!(tr.raster.get(0, t, i), cont.raster.get(0, 9950 + t, i));
        }
    }
    // Trial 1 starts at 199.505 s, half a bin off the continuous grid: check
    // against a direct count of each unit's spikes in each shifted bin.
    for i in 0..3 {
        for t in 0..200 {
            let lo = 199_505_000_000i64 + t as i64 * 10_000_000;
            let hit = s.times(i).iter().any(|&x| {
                (x * 1e9).round() as i64 >= lo && ((x * 1e9).round() as i64) < lo + 10_000_000
            });
            assert_eq!(tr.raster.get(1, t, i), hit);
        }
    }
}

// ------------------------------------------------------------ Kilosort

fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    data: &[T],
    order: npyz::Order,
) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .order(order)
        .writer(std::io::BufWriter::new(f))
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// A Kilosort folder: spikes at samples [3000, 4500, 6000, 30000, 30001]
/// of clusters [7, 2, 7, 2, 11] at 30 kHz.
fn write_kilosort(dir: &Path) {
    let samples = [3000u64, 4500, 6000, 30_000, 30_001];
    write_npy(
        &dir.join("spike_times.npy"),
        &[5, 1],
        &samples,
        npyz::Order::Fortran,
    );
    write_npy(
        &dir.join("spike_clusters.npy"),
        &[5],
        &[7i32, 2, 7, 2, 11],
        npyz::Order::C,
    );
    std::fs::write(
        dir.join("params.py"),
        "dat_path = 'raw.bin'\nn_channels_dat = 385\ndtype = 'int16'\noffset = 0\nsample_rate = 30000.\nhp_filtered = False\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("cluster_KSLabel.tsv"),
        "cluster_id\tKSLabel\n2\tmua\n7\tgood\n11\tgood\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("cluster_group.tsv"),
        "cluster_id\tgroup\n2\tgood\n7\tgood\n11\tnoise\n99\tgood\n",
    )
    .unwrap();
}

#[test]
fn kilosort_folder_with_fortran_uint64_times() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_kilosort(d);
    let s = spikes(d, &LoadOptions::default());
    let ids: Vec<i64> = s.units().iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![2, 7, 11]);
    assert_eq!(s.times(0), &[0.15, 1.0]);
    assert_eq!(s.times(1), &[0.1, 0.2]);
    assert_eq!(s.times(2), &[30_001.0 / 30_000.0]);
    // cluster_group.tsv (manual curation) wins over cluster_KSLabel.tsv.
    let labels: Vec<Quality> = s.units().iter().map(|u| u.label).collect();
    assert_eq!(labels, vec![Quality::Good, Quality::Good, Quality::Noise]);
    // The file itself also selects the folder.
    let s2 = spikes(&d.join("spike_times.npy"), &LoadOptions::default());
    assert!(s2.trains().eq(s.trains()));
    // A sample-rate override, and the spike_templates fallback.
    std::fs::rename(d.join("spike_clusters.npy"), d.join("spike_templates.npy")).unwrap();
    let o = LoadOptions {
        sample_rate: Some(15_000.0),
        ..LoadOptions::default()
    };
    assert_eq!(spikes(d, &o).times(0), &[0.3, 2.0]);
    // Bin edge: sample 30000 at 30 kHz is exactly 1.000 s, the first
    // instant of bin 2 of 500 ms bins; 30001 falls in the same bin.
    let mut bo = BinOptions::new(500.0);
    bo.units = UnitSelection::Label(Quality::Good);
    let b = bin_spikes(&s, &bo, &Alignment::Continuous).unwrap();
    assert_eq!(b.raster.shape(), (1, 3, 2));
    assert!(b.raster.get(0, 2, 0) && !b.raster.get(0, 1, 0));
}

#[test]
fn kilosort_bad_folders() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_kilosort(d);
    write_npy(
        &d.join("spike_clusters.npy"),
        &[4],
        &[7i32, 2, 7, 2],
        npyz::Order::C,
    );
    let e = load_err(d, &LoadOptions::default());
    assert!(
        e.contains("spike_times.npy has 5 spikes but spike_clusters.npy has 4"),
        "{e}"
    );
    write_kilosort(d);
    std::fs::remove_file(d.join("params.py")).unwrap();
    let e = load_err(d, &LoadOptions::default());
    assert!(
        e.contains("params.py is missing") && e.contains("--sample-rate"),
        "{e}"
    );
    std::fs::write(d.join("params.py"), "import os\nos.system('touch pwned')\n").unwrap();
    let e = load_err(d, &LoadOptions::default());
    assert!(e.contains("params.py") && e.contains("sample_rate"), "{e}");
    assert!(!d.join("pwned").exists());
    write_kilosort(d);
    write_npy(
        &d.join("spike_times.npy"),
        &[5],
        &[3000i64, 4500, -6000, 30_000, 30_001],
        npyz::Order::C,
    );
    let e = load_err(d, &LoadOptions::default());
    assert!(
        e.contains("spike_times.npy") && e.contains("negative time"),
        "{e}"
    );
    // A truncated array (the last spike's bytes cut off).
    write_kilosort(d);
    let f = d.join("spike_times.npy");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 8]).unwrap();
    let e = load_err(d, &LoadOptions::default());
    assert!(
        e.contains("spike_times.npy") && e.contains("truncated"),
        "{e}"
    );
    // Big-endian uint64 (header '>u8') decodes to the same samples.
    let mut be = bytes[..bytes.len() - 40].to_vec();
    let at = be
        .windows(5)
        .position(|w| w == b"'<u8'")
        .expect("a <u8 header");
    be[at + 1] = b'>';
    for x in [3000u64, 4500, 6000, 30_000, 30_001] {
        be.extend_from_slice(&x.to_be_bytes());
    }
    std::fs::write(&f, be).unwrap();
    assert_eq!(spikes(d, &LoadOptions::default()).times(1), &[0.1, 0.2]);
    write_npy(
        &d.join("spike_times.npy"),
        &[5, 2],
        &[0u64; 10],
        npyz::Order::C,
    );
    let e = load_err(d, &LoadOptions::default());
    assert!(e.contains("shape (n,) or (n, 1)"), "{e}");
    std::fs::remove_file(d.join("spike_times.npy")).unwrap();
    std::fs::remove_file(d.join("spike_clusters.npy")).unwrap();
    let e = load_err(d, &LoadOptions::default());
    assert!(e.contains("spike_times.npy is missing"), "{e}");
}

// ------------------------------------------------------- CSV and NPY

#[test]
fn csv_through_load_path_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("spikes.csv");
    std::fs::write(&p, "neuron,spike_times\n1,0.010\n2,0.015\n1,0.020\n").unwrap();
    let s = spikes(&p, &LoadOptions::default());
    // 10 ms bins: 0.010 opens bin 1, 0.020 opens bin 2 (edges belong above).
    let mut o = BinOptions::new(10.0);
    o.stop = Some(0.03);
    let b = bin_spikes(&s, &o, &Alignment::Continuous).unwrap();
    assert_eq!(b.raster.to_binary(), vec![0, 0, 1, 1, 1, 0]);
    for (text, needle) in [
        (
            "unit,time\n1,0.1\n1,0.2s\n",
            "line 3: time '0.2s' is not a number",
        ),
        (
            "unit,time\n1,0.2\n1,0.1\n",
            "unit 1, spike 1: times are not sorted",
        ),
        ("unit,time\n1,-1\n", "negative time"),
        ("unit,time\n1,\n", "line 2: the time is missing"),
    ] {
        std::fs::write(&p, text).unwrap();
        let e = load_err(&p, &LoadOptions::default());
        assert!(e.contains("spikes.csv") && e.contains(needle), "{e}");
    }
}

#[test]
fn npy_rasters_need_a_stated_orientation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.npy");
    // (N = 2, T = 3) stored units x time, Fortran order, int16 spins.
    // Logical array [[1, -1, 1], [-1, -1, 1]] in Fortran (column) order.
    write_npy(&p, &[2, 3], &[1i16, -1, -1, -1, 1, 1], npyz::Order::Fortran);
    let e = load_err(&p, &LoadOptions::default());
    assert!(
        e.contains("r.npy") && e.contains("never guessed") && e.contains("units-time"),
        "{e}"
    );
    let o = LoadOptions {
        orientation: Some(Orientation::UnitsByTime),
        ..LoadOptions::default()
    };
    let Loaded::Raster(r) = load_path(&p, &o).unwrap() else {
        panic!("expected a raster")
    };
    assert_eq!(r.shape(), (1, 3, 2));
    // Bins x units: [[1, 0], [0, 0], [1, 1]].
    assert_eq!(r.to_binary(), vec![1, 0, 0, 0, 1, 1]);
    write_npy(&p, &[2, 2], &[0.0f32, 1.0, 0.5, 1.0], npyz::Order::C);
    let o = LoadOptions {
        orientation: Some(Orientation::TimeByUnits),
        ..LoadOptions::default()
    };
    let e = load_err(&p, &o);
    assert!(
        e.contains("r.npy") && e.contains("value 0.5") && e.contains("0/1 or -1/+1"),
        "{e}"
    );
}

// ----------------------------------------------------------------- CLI

fn isingscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isingscope"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn cli_info_and_bin() {
    let o = isingscope(&["info"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("3 units, 21354 spikes") && out.contains("108752 bins"),
        "{out}"
    );
    assert!(
        out.contains("191") && out.contains("epochs (1 rows)"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let raster = dir.path().join("out/raster.npy");
    let nwb = demo_nwb();
    let o = isingscope(&[
        "bin",
        nwb.to_str().unwrap(),
        "--bin-ms",
        "10",
        "--intervals",
        "epochs",
        "--pre",
        "0",
        "--post",
        "20",
        "--units",
        "206,6",
        "--out",
        raster.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = isingscope::io::npy::read_raster(&raster).unwrap();
    assert_eq!(r.shape(), (1, 2000, 2));
    let units = std::fs::read_to_string(dir.path().join("out/units.csv")).unwrap();
    let rows: Vec<&str> = units.lines().collect();
    assert_eq!(
        rows[0],
        "column,unit_id,label,rate_hz,active_bins,merged_spikes"
    );
    assert!(
        rows[1].starts_with("0,206,unknown,") && rows[2].starts_with("1,6,unknown,"),
        "{units}"
    );

    // Events from a CSV.
    let ev = dir.path().join("events.csv");
    std::fs::write(&ev, "time\n10\n20\n30\n").unwrap();
    let o = isingscope(&[
        "bin",
        nwb.to_str().unwrap(),
        "--bin-ms",
        "5",
        "--align",
        ev.to_str().unwrap(),
        "--pre",
        "0.1",
        "--post",
        "0.2",
        "--out",
        raster.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        isingscope::io::npy::read_raster(&raster).unwrap().shape(),
        (3, 60, 3)
    );

    // Errors: one line naming the file and the problem.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "unit,time\n1,oops\n").unwrap();
    let o = isingscope(&[
        "bin",
        bad.to_str().unwrap(),
        "--bin-ms",
        "1",
        "--out",
        raster.to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("bad.csv") && e.contains("'oops' is not a number"),
        "{e}"
    );
    let o = isingscope(&[
        "bin",
        nwb.to_str().unwrap(),
        "--bin-ms",
        "10",
        "--intervals",
        "trials",
        "--out",
        raster.to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("no interval table 'trials'; found: epochs"),
        "{e}"
    );
    let o = isingscope(&[
        "bin",
        nwb.to_str().unwrap(),
        "--bin-ms",
        "10",
        "--label",
        "great",
        "--out",
        raster.to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("good, mua, noise or unknown"),
        "{e}"
    );
}

/// The bundled SK demo is what `assets/README.md` says: re-running the
/// documented command reproduces `spikes.npy`, `J.csv` and `H.csv` byte for
/// byte.
#[test]
fn sk_demo_assets_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sk");
    let command = "simulate --n 48 --j0 1.0 --dj 0.5 --h0 0.5 --beta 1.35 --steps 4000 --trials 1 --seed 2024 --init random --out";
    let mut args: Vec<&str> = command.split_whitespace().collect();
    args.push(out.to_str().unwrap());
    let o = isingscope(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sk_demo");
    for f in ["spikes.npy", "J.csv", "H.csv"] {
        assert!(
            std::fs::read(out.join(f)).unwrap() == std::fs::read(assets.join(f)).unwrap(),
            "{f} differs from the documented command's output"
        );
    }
    let demo = isingscope::io::demo::load_sk_demo().unwrap();
    assert_eq!(demo.shape(), (1, 4001, 48));
}

/// Files written by NumPy itself (`tests/data/io/make_fixtures.py`):
/// `np.savez` (stored members, zip64 local headers), `np.savez_compressed`
/// (deflate, a bool Fortran-order array) and a Kilosort folder.
#[test]
fn numpy_written_files() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/io");
    // Bins x units of the raster the script stores as units x time.
    let expected = vec![1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1];
    for (file, orientation) in [
        ("units_time_savez.npz", Orientation::UnitsByTime),
        ("time_units_compressed.npz", Orientation::TimeByUnits),
    ] {
        let o = LoadOptions {
            orientation: Some(orientation),
            ..LoadOptions::default()
        };
        let Loaded::Raster(r) = load_path(&data.join(file), &o).unwrap() else {
            panic!("expected a raster")
        };
        assert_eq!(r.shape(), (1, 5, 3), "{file}");
        assert_eq!(r.to_binary(), expected, "{file}");
    }
    let s = spikes(&data.join("kilosort_numpy"), &LoadOptions::default());
    assert_eq!(
        s.units().iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![2, 7, 11]
    );
    assert_eq!(s.times(0), &[0.15, 1.0]);
    assert_eq!(s.units()[0].label, Quality::Mua);
}

/// Damaged files never panic: truncations and byte flips of every format
/// return either data or an error naming the file (deterministic
/// pseudo-random corruptions, xorshift).
#[test]
fn corrupted_files_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/io");
    let raster = dir.path().join("r.npy");
    write_npy(
        &raster,
        &[6, 4],
        &[1u8, 0, 1, 1].repeat(6),
        npyz::Order::Fortran,
    );
    let csv = dir.path().join("s.csv");
    std::fs::write(&csv, "unit,time\n1,0.5\n2,0.25\n1,0.75\n").unwrap();
    let nwb = dir.path().join("f.nwb");
    write_nwb(&nwb, IndexType::U16, true);
    let sources: Vec<(PathBuf, &str, LoadOptions)> = vec![
        (
            raster,
            "npy",
            LoadOptions {
                orientation: Some(Orientation::TimeByUnits),
                ..LoadOptions::default()
            },
        ),
        (
            data.join("units_time_savez.npz"),
            "npz",
            LoadOptions {
                orientation: Some(Orientation::UnitsByTime),
                ..LoadOptions::default()
            },
        ),
        (
            data.join("time_units_compressed.npz"),
            "npz",
            LoadOptions {
                orientation: Some(Orientation::TimeByUnits),
                ..LoadOptions::default()
            },
        ),
        (
            data.join("kilosort_numpy/spike_times.npy"),
            "npy",
            LoadOptions::default(),
        ),
        (csv, "csv", LoadOptions::default()),
        (nwb, "nwb", LoadOptions::default()),
    ];
    for (k, (src, ext, opts)) in sources.iter().enumerate() {
        let original = std::fs::read(src).unwrap();
        for trial in 0..40 {
            let mut bytes = original.clone();
            if trial % 2 == 0 {
                bytes.truncate((next() as usize) % bytes.len());
            } else {
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] ^= 1 << (next() % 8);
                }
            }
            let p = dir.path().join(format!("damaged{k}_{trial}.{ext}"));
            std::fs::write(&p, &bytes).unwrap();
            let target = if k == 3 {
                // Corrupt a Kilosort folder's spike_times.npy in a copy.
                let d = dir.path().join(format!("ks{trial}"));
                std::fs::create_dir_all(&d).unwrap();
                for f in ["spike_clusters.npy", "params.py", "cluster_KSLabel.tsv"] {
                    std::fs::copy(data.join("kilosort_numpy").join(f), d.join(f)).unwrap();
                }
                std::fs::rename(&p, d.join("spike_times.npy")).unwrap();
                d
            } else {
                p
            };
            if let Err(e) = load_path(&target, opts) {
                let name = target.file_name().unwrap().to_string_lossy().into_owned();
                assert!(e.to_string().contains(&name), "{e}");
            }
        }
    }
}

// ------------------------------------------- Hostile files (issue 14)

/// The run failed with exactly one line on stderr holding every needle, no
/// Rust Debug text and no repeated OS error.
fn assert_one_line_error(o: &Output, needles: &[&str]) -> String {
    assert!(!o.status.success(), "expected failure");
    assert!(
        o.status.code().is_some(),
        "killed by a signal: {:?}",
        o.status
    );
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(e.trim_end().lines().count(), 1, "one-line error, got: {e}");
    assert!(e.starts_with("error: "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    for n in needles {
        assert!(e.contains(n), "error '{e}' should mention '{n}'");
    }
    for debug in ["Some(", "None", "Label(", "MinRate(", "Other(", "u8(bits"] {
        assert!(!e.contains(debug), "Debug text '{debug}' in: {e}");
    }
    e
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An `.npy` v1 header for `descr` and `shape`, padded like NumPy's.
fn npy_header(descr: &str, shape: &str) -> Vec<u8> {
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out
}

/// Class 1: sizes from files and arguments are checked before allocating.
#[test]
fn hostile_sizes_are_errors_not_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // NPY v2 header-length field near 4 GiB.
    let p = d.join("hdr.npy");
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    bytes.extend_from_slice(&[b' '; 64]);
    std::fs::write(&p, bytes).unwrap();
    let o = isingscope(&["stats", s(&p), "--out", s(&d.join("o"))]);
    assert_one_line_error(
        &o,
        &["hdr.npy", "header length field says 4294967280 bytes"],
    );
    // A shape far larger than the file (10^10 elements in 128 bytes).
    let p = d.join("shape.npy");
    let mut bytes = npy_header("|u1", "(100000, 100000)");
    bytes.extend_from_slice(&[1; 128]);
    std::fs::write(&p, &bytes).unwrap();
    let o = isingscope(&["stats", s(&p), "--out", s(&d.join("o"))]);
    assert_one_line_error(&o, &["shape.npy", "needs more data than the 128 bytes"]);
    // The same array as an NPZ member.
    let p = d.join("shape.npz");
    write_stored_zip(&p, "spikes.npy", &bytes);
    let o = isingscope(&["info", s(&p), "--orientation", "time-units"]);
    assert_one_line_error(&o, &["shape.npz:spikes.npy", "needs more data"]);
    // T = 3 bins of N = 200,000 units: the N x N moments need 1.28 TB
    // (4 matrices of 8-byte doubles), beyond any test machine.
    let p = d.join("wide.npy");
    let mut bytes = npy_header("|u1", "(3, 200000)");
    bytes.extend(std::iter::repeat_n(0u8, 3 * 200_000));
    std::fs::write(&p, &bytes).unwrap();
    for cmd in ["stats", "fit", "state-space"] {
        let o = isingscope(&[cmd, s(&p), "--out", s(&d.join("o"))]);
        assert_one_line_error(
            &o,
            &["wide.npy", "N = 200000", "memory available", "fewer units"],
        );
    }
    // Arguments: steps, trials and N that cannot fit.
    std::fs::write(d.join("J.csv"), "0.1,0.2\n0.3,0.4\n").unwrap();
    std::fs::write(d.join("H.csv"), "0\n0\n").unwrap();
    let (j, h, out) = (d.join("J.csv"), d.join("H.csv"), d.join("o"));
    let steps = "1000000000000000000";
    let o = isingscope(&[
        "exact",
        "--couplings",
        s(&j),
        "--fields",
        s(&h),
        "--steps",
        steps,
        "--out",
        s(&out),
    ]);
    assert_one_line_error(
        &o,
        &[
            "--steps 1000000000000000000",
            "memory available",
            "fewer --steps",
        ],
    );
    let o = isingscope(&[
        "forward",
        "--method",
        "nmf",
        "--couplings",
        s(&j),
        "--steps",
        steps,
        "--out",
        s(&out),
    ]);
    assert_one_line_error(&o, &["--steps 1000000000000000000", "memory available"]);
    let o = isingscope(&["simulate", "--trials", "1000000000000", "--out", s(&out)]);
    assert_one_line_error(
        &o,
        &[
            "--trials 1000000000000",
            "memory available",
            "fewer --trials",
        ],
    );
    let o = isingscope(&["simulate", "--n", "10000000", "--out", s(&out)]);
    assert_one_line_error(&o, &["--n 10000000", "memory available", "smaller --n"]);
    assert!(!out.exists(), "nothing may be written");
}

/// A stored (uncompressed) zip holding one member, CRC correct.
fn write_stored_zip(path: &Path, name: &str, data: &[u8]) {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    let mut out = Vec::new();
    out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);
    let cd = out.len() as u32;
    out.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00");
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    let cd_len = out.len() as u32 - cd;
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    std::fs::write(path, out).unwrap();
}

fn hostile_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/io/hostile")
        .join(name)
}

/// Classes 2, 4 and 6 for NWB (fixtures from h5py / HDF5 2.0.0, see
/// `tests/data/io/hostile/make_hostile.py`): headers that claim data never
/// written, chunks of gigabytes, dtypes and ranks against the schema, and
/// the newest data layout message.
#[test]
fn hostile_nwb_files() {
    for (file, needles) in [
        (
            "claims_3e8.nwb",
            &[
                "/units/spike_times claims 300000000 elements",
                "no data were ever written",
            ][..],
        ),
        (
            "claims_3e8_chunked.nwb",
            &["claims 300000000 elements", "only 0 chunks"][..],
        ),
        (
            "huge_chunk.nwb",
            &["chunks of 268435456 elements (2.0 GiB)", "h5repack"][..],
        ),
        (
            "int64_times.nwb",
            &["/units/spike_times holds int64", "floating-point seconds"][..],
        ),
        (
            "times_2d.nwb",
            &["/units/spike_times has shape [2, 1]", "1-D"][..],
        ),
        (
            "index_2d.nwb",
            &["/units/spike_times_index has shape [1, 1]", "1-D"][..],
        ),
        ("scalar_times.nwb", &["/units/spike_times is a scalar"][..]),
        (
            "latest_gzip.nwb",
            &["data layout message", "version: 5", "h5repack"][..],
        ),
    ] {
        let p = hostile_fixture(file);
        let o = isingscope(&["info", s(&p)]);
        let mut all = vec![file];
        all.extend_from_slice(needles);
        assert_one_line_error(&o, &all);
    }
}

/// Class 3: no output over an input, and no output at all when one of a
/// command's outputs would replace an input.
#[test]
fn hostile_outputs_never_replace_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("D");
    std::fs::create_dir(&d).unwrap();
    let csv = "unit,time\n1,0.05\n2,0.12\n1,0.31\n";
    std::fs::write(d.join("units.csv"), csv).unwrap();
    // The units summary would overwrite the input: refused, raster unwritten.
    let o = isingscope(&[
        "bin",
        s(&d.join("units.csv")),
        "--bin-ms",
        "10",
        "--out",
        s(&d.join("raster.npy")),
    ]);
    assert_one_line_error(&o, &["units.csv", "refusing to write over an input"]);
    assert_eq!(std::fs::read_to_string(d.join("units.csv")).unwrap(), csv);
    assert!(!d.join("raster.npy").exists());
    // An --align file named units.csv next to the output.
    let e = dir.path().join("E");
    std::fs::create_dir(&e).unwrap();
    std::fs::write(e.join("s.csv"), csv).unwrap();
    std::fs::write(e.join("units.csv"), "time\n0.1\n").unwrap();
    let o = isingscope(&[
        "bin",
        s(&e.join("s.csv")),
        "--bin-ms",
        "10",
        "--align",
        s(&e.join("units.csv")),
        "--post",
        "0.1",
        "--out",
        s(&e.join("r.npy")),
    ]);
    assert_one_line_error(&o, &["units.csv", "refusing to write over an input"]);
    assert_eq!(
        std::fs::read_to_string(e.join("units.csv")).unwrap(),
        "time\n0.1\n"
    );
    // --out naming the input itself.
    let o = isingscope(&[
        "bin",
        s(&e.join("s.csv")),
        "--bin-ms",
        "10",
        "--out",
        s(&e.join("s.csv")),
    ]);
    assert_one_line_error(&o, &["s.csv", "refusing to write over an input"]);
    assert_eq!(std::fs::read_to_string(e.join("s.csv")).unwrap(), csv);
    // A Kilosort folder's own spike_times.npy.
    let ks = dir.path().join("ks");
    std::fs::create_dir(&ks).unwrap();
    write_kilosort(&ks);
    let before = std::fs::read(ks.join("spike_times.npy")).unwrap();
    let o = isingscope(&[
        "bin",
        s(&ks),
        "--bin-ms",
        "10",
        "--out",
        s(&ks.join("spike_times.npy")),
    ]);
    assert_one_line_error(&o, &["spike_times.npy", "refusing to write over an input"]);
    assert_eq!(std::fs::read(ks.join("spike_times.npy")).unwrap(), before);
    // simulate --couplings D/J.csv --out D; forward/exact --m0 D/m.csv --out D.
    let m = dir.path().join("M");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("J.csv"), "0.1,0.2\n0.3,0.4\n").unwrap();
    std::fs::write(m.join("H.csv"), "0.1\n-0.1\n").unwrap();
    std::fs::write(m.join("m.csv"), "0.5\n0.5\n").unwrap();
    let o = isingscope(&[
        "simulate",
        "--couplings",
        s(&m.join("J.csv")),
        "--steps",
        "5",
        "--out",
        s(&m),
    ]);
    assert_one_line_error(&o, &["J.csv", "refusing to write over an input"]);
    let (mj, mm, mh) = (m.join("J.csv"), m.join("m.csv"), m.join("H.csv"));
    for cmd in [
        vec!["forward", "--method", "nmf", "--steps", "3"],
        vec!["exact", "--fields", s(&mh), "--steps", "3"],
    ] {
        let mut args = cmd.clone();
        args.extend_from_slice(&["--couplings", s(&mj), "--m0", s(&mm), "--out", s(&m)]);
        let o = isingscope(&args);
        assert_one_line_error(&o, &["refusing to write over an input"]);
    }
    assert_eq!(
        std::fs::read_to_string(m.join("J.csv")).unwrap(),
        "0.1,0.2\n0.3,0.4\n"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("m.csv")).unwrap(),
        "0.5\n0.5\n"
    );
    let names: Vec<_> = std::fs::read_dir(&m)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "no output and no temporary file left: {names:?}"
    );
}

/// Class 4: answers that used to be silently wrong are errors or warnings.
#[test]
fn hostile_silent_answers_become_errors_or_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // NPZ with one flipped data byte: the CRC-32 no longer matches. The
    // flip turns a 0 into a 1, still a valid raster value, so only the
    // CRC can tell.
    let mut npy = npy_header("|u1", "(4, 2)");
    npy.extend_from_slice(&[1, 0, 0, 1, 1, 1, 0, 0]);
    let p = d.join("crc.npz");
    write_stored_zip(&p, "spikes.npy", &npy);
    let o = isingscope(&["stats", s(&p), "--out", s(&d.join("ok"))]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut bytes = std::fs::read(&p).unwrap();
    let at = 30 + "spikes.npy".len() + npy.len() - 1; // last data byte
    assert_eq!(bytes[at], 0);
    bytes[at] = 1;
    std::fs::write(&p, &bytes).unwrap();
    let o = isingscope(&["stats", s(&p), "--out", s(&d.join("bad"))]);
    assert_one_line_error(&o, &["crc.npz:spikes.npy", "CRC-32 check failed"]);
    // A spike beyond the range of nanoseconds in i64 (about 292 years).
    let p = d.join("far.csv");
    std::fs::write(&p, "unit,time\n1,0.5\n1,1e10\n").unwrap();
    let o = isingscope(&["info", s(&p)]);
    assert_one_line_error(
        &o,
        &[
            "far.csv",
            "unit 1, spike 1",
            "time 10000000000 s",
            "--time-unit",
        ],
    );
    // Trials partly and wholly outside the recording (0 to 1 s).
    let p = d.join("rec.csv");
    std::fs::write(&p, "unit,time\n1,0.1\n1,0.5\n1,1.0\n").unwrap();
    let ev = d.join("events.csv");
    std::fs::write(&ev, "time\n0.5\n0.95\n50\n").unwrap();
    let o = isingscope(&[
        "bin",
        s(&p),
        "--bin-ms",
        "10",
        "--align",
        s(&ev),
        "--post",
        "0.1",
        "--out",
        s(&d.join("r.npy")),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: 1 of 3 trials lie wholly outside the recording"),
        "{err}"
    );
    assert!(
        err.contains("warning: 1 of 3 trials extend beyond the recording"),
        "{err}"
    );
    std::fs::write(&ev, "time\n50\n60\n").unwrap();
    let o = isingscope(&[
        "bin",
        s(&p),
        "--bin-ms",
        "10",
        "--align",
        s(&ev),
        "--post",
        "0.1",
        "--out",
        s(&d.join("r2.npy")),
    ]);
    assert_one_line_error(
        &o,
        &["all 2 trials lie outside the recording of", "rec.csv"],
    );
    // Window arithmetic at the edge of i64 nanoseconds.
    let o = isingscope(&[
        "bin",
        s(&p),
        "--bin-ms",
        "10",
        "--start=-9.2e9",
        "--stop=9.2e9",
        "--out",
        s(&d.join("w.npy")),
    ]);
    assert_one_line_error(&o, &["start (s)", "within +-4.6e9 s"]);
    // exact with J = 1e308: overflow is an error, nothing written.
    std::fs::write(d.join("J.csv"), "1e308,1e308\n1e308,1e308\n").unwrap();
    std::fs::write(d.join("H.csv"), "0\n0\n").unwrap();
    let out = d.join("exact");
    let o = isingscope(&[
        "exact",
        "--couplings",
        s(&d.join("J.csv")),
        "--fields",
        s(&d.join("H.csv")),
        "--steps",
        "2",
        "--out",
        s(&out),
    ]);
    assert_one_line_error(&o, &["not finite", "J.csv", "H.csv", "nothing was written"]);
    assert!(!out.exists());
    // params.py assigning sample_rate twice: the last wins, as in Python.
    let ks = d.join("ks");
    std::fs::create_dir(&ks).unwrap();
    write_kilosort(&ks);
    std::fs::write(
        ks.join("params.py"),
        "sample_rate = 10000.\nsample_rate = 30000.\n",
    )
    .unwrap();
    let t = spikes(&ks, &LoadOptions::default());
    // Cluster 2's first spike is at sample 4500: 0.15 s at 30 kHz.
    assert_eq!(t.times(0)[0], 0.15);
}

/// Class 5: one error style — one line naming the file, no Debug text, no
/// doubled OS error, escaped newlines, negative option values.
#[test]
fn hostile_messages_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A missing file: the OS error once.
    let o = isingscope(&["info", s(&d.join("none.csv"))]);
    let e = assert_one_line_error(&o, &["none.csv"]);
    assert!(e.matches("os error").count() <= 1, "{e}");
    let missing = d.join("J_missing.csv");
    let o = isingscope(&[
        "exact",
        "--couplings",
        s(&missing),
        "--fields",
        s(&missing),
        "--steps",
        "1",
        "--out",
        s(&d.join("o")),
    ]);
    let e = assert_one_line_error(&o, &["J_missing.csv"]);
    assert_eq!(e.matches("os error 2").count(), 1, "{e}");
    // npyz's header parse error is a multi-line diagram upstream.
    let p = d.join("hdr.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&20u16.to_le_bytes());
    bytes.extend_from_slice(b"{garbage: [1,\n2}   \n");
    std::fs::write(&p, bytes).unwrap();
    let o = isingscope(&["stats", s(&p), "--out", s(&d.join("o"))]);
    assert_one_line_error(&o, &["hdr.npy", "not a valid .npy file"]);
    // A CSV field holding a newline is escaped, not echoed raw.
    let p = d.join("nl.csv");
    std::fs::write(&p, "unit,time\n1,\"0.5\nx\"\n").unwrap();
    let o = isingscope(&["info", s(&p)]);
    assert_one_line_error(&o, &["nl.csv", "\\n"]);
    // Selections in words, not Debug.
    let p = d.join("s.csv");
    std::fs::write(&p, "unit,time\n1,0.5\n2,0.7\n").unwrap();
    let o = isingscope(&[
        "bin",
        s(&p),
        "--bin-ms",
        "10",
        "--label",
        "noise",
        "--out",
        s(&d.join("r.npy")),
    ]);
    assert_one_line_error(&o, &["s.csv", "label noise"]);
    let o = isingscope(&[
        "bin",
        s(&p),
        "--bin-ms",
        "10",
        "--min-rate",
        "1e9",
        "--out",
        s(&d.join("r.npy")),
    ]);
    assert_one_line_error(&o, &["s.csv", "minimum rate 1000000000 Hz"]);
    let o = isingscope(&[
        "bin",
        s(&p),
        "--bin-ms",
        "10",
        "--start",
        "5",
        "--out",
        s(&d.join("r.npy")),
    ]);
    assert_one_line_error(&o, &["start 5 s to the end of the recording"]);
    // Negative option values without `=`.
    let o = isingscope(&[
        "bin",
        s(&p),
        "--bin-ms",
        "10",
        "--start",
        "-5",
        "--stop",
        "1",
        "--out",
        s(&d.join("neg.npy")),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // `stats` reads an .npz raster.
    let mut npy = npy_header("|u1", "(4, 2)");
    npy.extend_from_slice(&[1, 0, 0, 1, 1, 1, 0, 0]);
    let p = d.join("r.npz");
    write_stored_zip(&p, "arr_0.npy", &npy);
    let o = isingscope(&["stats", s(&p), "--out", s(&d.join("st"))]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(d.join("st/m.csv").is_file());
}
