//! Loading and binning a large recording (issue 3): 500 units firing at
//! 10 Hz (Poisson, seeded) for one hour on a 30 kHz sample grid — about
//! 18 million spikes — written once by the benchmark as
//!
//! * NWB (`/units/spike_times` float64 + uint32 `spike_times_index`,
//!   contiguous, written with hdf5-pure),
//! * a Kilosort folder (`spike_times.npy` uint64 samples in time order,
//!   `spike_clusters.npy` int32, `params.py`),
//! * CSV (`unit,time`, time-sorted rows, 6 decimals).
//!
//! Groups:
//! * `load_and_bin_1ms/{nwb,kilosort,csv}`: `load_path` then `bin_spikes`
//!   at 1 ms over the whole hour → a `(1, 3_600_000, 500)` raster
//!   (225 MB packed, 8 words per row). Target: under 2 s (NWB, Kilosort).
//! * `load/{nwb,kilosort}`: loading alone.
//! * `bin_1ms`: binning alone, spikes already in memory.
//!
//! Throughput is in spikes.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use isingscope::io::binning::{Alignment, BinOptions, bin_spikes};
use isingscope::io::{LoadOptions, Loaded, SpikeTrains, load_path};
use npyz::WriterBuilder;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};

const UNITS: usize = 500;
const RATE_HZ: f64 = 10.0;
const SECONDS: f64 = 3600.0;
const FS: f64 = 30_000.0;

/// Per-unit sorted sample indices of independent Poisson trains.
fn poisson_samples() -> Vec<Vec<u64>> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
    let isi = Exp::new(RATE_HZ).expect("positive rate");
    (0..UNITS)
        .map(|_| {
            let mut t = 0.0;
            let mut out = Vec::with_capacity((RATE_HZ * SECONDS * 1.1) as usize);
            loop {
                t += isi.sample(&mut rng);
                if t >= SECONDS {
                    break out;
                }
                out.push((t * FS).round() as u64);
            }
        })
        .collect()
}

fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, data: &[T]) {
    let f = std::fs::File::create(path).expect("create npy");
    let mut w = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(&[data.len() as u64])
        .writer(std::io::BufWriter::new(f))
        .begin_nd()
        .expect("npy header");
    w.extend(data.iter().copied()).expect("npy data");
    w.finish().expect("npy finish");
}

/// Write the three files into `dir`; returns the number of spikes.
fn write_recordings(dir: &Path, samples: &[Vec<u64>]) -> u64 {
    // NWB.
    let mut times = Vec::new();
    let mut ends = Vec::new();
    for s in samples {
        times.extend(s.iter().map(|&x| x as f64 / FS));
        ends.push(times.len() as u32);
    }
    let mut b = hdf5_pure::FileBuilder::new();
    let mut u = b.create_group("units");
    u.create_dataset("spike_times").with_f64_data(&times);
    u.create_dataset("spike_times_index").with_u32_data(&ends);
    let ids: Vec<i64> = (0..UNITS as i64).collect();
    u.create_dataset("id").with_i64_data(&ids);
    b.add_group(u.finish());
    b.write(dir.join("big.nwb")).expect("write nwb");
    // Kilosort: all spikes in time order.
    let mut all: Vec<(u64, i32)> = samples
        .iter()
        .enumerate()
        .flat_map(|(k, s)| s.iter().map(move |&x| (x, k as i32)))
        .collect();
    all.sort_unstable();
    let ks = dir.join("kilosort");
    std::fs::create_dir_all(&ks).expect("mkdir");
    write_npy(
        &ks.join("spike_times.npy"),
        &all.iter().map(|x| x.0).collect::<Vec<u64>>(),
    );
    write_npy(
        &ks.join("spike_clusters.npy"),
        &all.iter().map(|x| x.1).collect::<Vec<i32>>(),
    );
    std::fs::write(ks.join("params.py"), "sample_rate = 30000.0\n").expect("params");
    // CSV.
    let f = std::fs::File::create(dir.join("big.csv")).expect("csv");
    let mut w = std::io::BufWriter::new(f);
    writeln!(w, "unit,time").expect("csv");
    for &(s, k) in &all {
        writeln!(w, "{k},{:.6}", s as f64 / FS).expect("csv");
    }
    w.flush().expect("csv");
    all.len() as u64
}

fn load(path: &Path) -> SpikeTrains {
    match load_path(path, &LoadOptions::default()).expect("loads") {
        Loaded::Spikes(s) => s,
        Loaded::Raster(_) => unreachable!("spike files"),
    }
}

fn bin_1ms(s: &SpikeTrains) -> usize {
    let b = bin_spikes(s, &BinOptions::new(1.0), &Alignment::Continuous).expect("bins");
    assert_eq!(b.raster.shape(), (1, 3_600_000, UNITS));
    b.raster.memory_bytes()
}

fn io_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let samples = poisson_samples();
    let n_spikes = write_recordings(dir.path(), &samples);
    drop(samples);
    let nwb = dir.path().join("big.nwb");
    let ks = dir.path().join("kilosort");
    let csv = dir.path().join("big.csv");

    let mut g = c.benchmark_group("load_and_bin_1ms");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(n_spikes));
    for (name, path) in [("nwb", &nwb), ("kilosort", &ks), ("csv", &csv)] {
        g.bench_function(name, |b| b.iter(|| black_box(bin_1ms(&load(path)))));
    }
    g.finish();

    let mut g = c.benchmark_group("load");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(n_spikes));
    for (name, path) in [("nwb", &nwb), ("kilosort", &ks)] {
        g.bench_function(name, |b| b.iter(|| black_box(load(path).n_spikes())));
    }
    g.finish();

    let trains = load(&nwb);
    let mut g = c.benchmark_group("bin_1ms");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(n_spikes));
    g.bench_function("in_memory", |b| b.iter(|| black_box(bin_1ms(&trains))));
    g.finish();
}

criterion_group!(benches, io_benches);
criterion_main!(benches);
