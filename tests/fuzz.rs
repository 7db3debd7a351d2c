//! A seeded mutation fuzzer over every reader, run against the built
//! binary (issue 14).
//!
//! For each format a small valid seed is written (NWB through hdf5-pure's
//! writer, NPY, NPZ stored and deflated, CSV, TSV, a Kilosort folder, the
//! J/H/m0 matrices); each case mutates one input file (bit flips, bytes set
//! to boundary values, 32/64-bit fields overwritten with huge or negative
//! numbers, truncation, duplicated or deleted spans, and for text files
//! numbers replaced by 1e308, -1, nan, quotes and newlines) and runs the
//! command that reads it as a subprocess under an address-space limit and
//! a timeout. Every case must:
//!
//! * end by itself (no signal, no abort, no timeout) with status 0 or 1;
//! * on failure print exactly one line, `error: ...`, naming the mutated
//!   file (or its folder), with no panic and no Rust Debug text;
//! * leave every input byte-for-byte unchanged.
//!
//! The default slice (`cargo test`) runs [`DEFAULT_CASES`] cases per format
//! (about 3,000 in all, under a minute on 2 cores). The long mode runs
//! `ISINGSCOPE_FUZZ_CASES` per format, e.g.
//! `ISINGSCOPE_FUZZ_CASES=100000 cargo test --release --test fuzz`;
//! `ISINGSCOPE_FUZZ_FORMATS=csv,tsv` runs a subset (same cases as in the
//! whole campaign), `ISINGSCOPE_FUZZ_THREADS` sets the parallelism,
//! `ISINGSCOPE_FUZZ_SEED` changes the seed and `ISINGSCOPE_FUZZ_BIN` runs
//! another build of the binary.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdf5_pure::FileBuilder;
use npyz::WriterBuilder;

/// Cases per format in the default slice.
const DEFAULT_CASES: usize = 400;
/// Address space of each run: far above what a seed needs, far below what
/// a size taken from a damaged header would ask for.
const ADDRESS_SPACE: u64 = 2 << 30;
/// Wall-clock limit of one run (a run of a seed takes milliseconds).
const TIMEOUT: Duration = Duration::from_secs(20);

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of binary bytes.
fn mutate_bytes(b: &mut Vec<u8>, rng: &mut Rng) {
    if b.is_empty() {
        b.push(rng.next() as u8);
        return;
    }
    match rng.below(8) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let at = rng.below(b.len());
            b[at] = [0, 0xff, 0x7f, 0x80, 1][rng.below(5)];
        }
        2 | 3 => {
            // A 32- or 64-bit little-endian field set to a boundary value:
            // this is how sizes, counts and offsets in headers go wrong.
            let vals: [u64; 7] = [
                u64::MAX,
                0xffff_fff0,
                0x7fff_ffff,
                1 << 40,
                300_000_000,
                0,
                u64::from(u32::MAX),
            ];
            let v = vals[rng.below(vals.len())];
            let width = if rng.below(2) == 0 { 4 } else { 8 };
            let at = rng.below(b.len());
            for k in 0..width {
                if let Some(x) = b.get_mut(at + k) {
                    *x = (v >> (8 * k)) as u8;
                }
            }
        }
        4 => {
            let len = rng.below(b.len());
            b.truncate(len);
        }
        5 => {
            let at = rng.below(b.len());
            let len = 1 + rng.below(64.min(b.len() - at));
            let span: Vec<u8> = b[at..at + len].to_vec();
            let to = rng.below(b.len());
            b.splice(to..to, span);
        }
        6 => {
            let at = rng.below(b.len());
            let len = 1 + rng.below(16.min(b.len() - at));
            b.drain(at..at + len);
        }
        _ => {
            let at = rng.below(b.len());
            b[at] = rng.next() as u8;
        }
    }
}

/// One mutation of a text file: numbers replaced by hostile ones, quotes,
/// newlines, separators; or a byte-level mutation.
fn mutate_text(b: &mut Vec<u8>, rng: &mut Rng) {
    const TOKENS: [&str; 14] = [
        "1e308",
        "-1",
        "nan",
        "inf",
        "1e10",
        "-9.2e9",
        "\"",
        "\n",
        ",",
        "\t",
        "0",
        "\"a\nb\"",
        "99999999999999999999",
        "sample_rate = 1e-300",
    ];
    if rng.below(3) == 0 || b.is_empty() {
        mutate_bytes(b, rng);
        return;
    }
    let tok = TOKENS[rng.below(TOKENS.len())].as_bytes();
    let at = rng.below(b.len());
    if rng.below(2) == 0 {
        // Replace the number (or word) at `at`.
        let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'e';
        let (mut s, mut e) = (at, at);
        while s > 0 && is_word(b[s - 1]) {
            s -= 1;
        }
        while e < b.len() && is_word(b[e]) {
            e += 1;
        }
        b.splice(s..e, tok.iter().copied());
    } else {
        b.splice(at..at, tok.iter().copied());
    }
}

/// What a case runs.
struct Format {
    name: &'static str,
    /// Writes the seed files into a folder; returns the file to mutate
    /// (relative) and whether it is text.
    seed: fn(&Path) -> (PathBuf, bool),
    /// The command line, given the case folder and an output folder.
    args: fn(&Path, &Path) -> Vec<String>,
    /// The name an error must mention (the mutated file, or its folder).
    names: fn(&Path) -> Vec<String>,
}

/// The case number's last digit (seeds vary their variant with it).
fn case_digit(d: &Path) -> usize {
    let name = d.parent().and_then(Path::file_name).unwrap_or_default();
    name.to_string_lossy()
        .bytes()
        .last()
        .map_or(0, |b| b.wrapping_sub(b'0') as usize)
}

fn p(s: &Path) -> String {
    s.to_string_lossy().into_owned()
}

fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
    let mut buf = Vec::new();
    {
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut buf)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }
    std::fs::write(path, buf).unwrap();
}

fn seed_nwb(d: &Path) -> (PathBuf, bool) {
    let mut b = FileBuilder::new();
    let mut u = b.create_group("units");
    u.create_dataset("spike_times")
        .with_f64_data(&[0.1, 0.25, 0.5, 0.05, 0.6, 0.95]);
    u.create_dataset("spike_times_index")
        .with_u32_data(&[2, 3, 6]);
    u.create_dataset("id").with_i64_data(&[4, 9, 2]);
    u.create_dataset("quality")
        .with_vlen_strings(&["good", "mua", "good"]);
    b.add_group(u.finish());
    let mut iv = b.create_group("intervals");
    let mut tr = iv.create_group("trials");
    tr.create_dataset("start_time").with_f64_data(&[0.0, 0.5]);
    tr.create_dataset("stop_time").with_f64_data(&[0.4, 0.9]);
    iv.add_group(tr.finish());
    b.add_group(iv.finish());
    b.write(d.join("f.nwb")).unwrap();
    ("f.nwb".into(), false)
}

fn seed_npy(d: &Path) -> (PathBuf, bool) {
    let x: Vec<u8> = (0..6 * 4).map(|k| (k * 7 % 3 == 0) as u8).collect();
    write_npy(&d.join("r.npy"), &[6, 4], &x);
    ("r.npy".into(), false)
}

fn seed_npz(d: &Path) -> (PathBuf, bool) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/io");
    // Alternate NumPy's stored (zip64) and deflated archives by folder name.
    let src = if case_digit(d).is_multiple_of(2) {
        "units_time_savez.npz"
    } else {
        "time_units_compressed.npz"
    };
    std::fs::copy(data.join(src), d.join("r.npz")).unwrap();
    ("r.npz".into(), false)
}

fn seed_csv(d: &Path) -> (PathBuf, bool) {
    std::fs::write(
        d.join("s.csv"),
        "unit,time,label\n1,0.05,good\n2,0.12,mua\n1,0.31,good\n3,0.5,noise\n2,0.77,mua\n",
    )
    .unwrap();
    ("s.csv".into(), true)
}

fn seed_tsv(d: &Path) -> (PathBuf, bool) {
    std::fs::write(
        d.join("s.tsv"),
        "cluster\tspike_time\n7\t0.5\n7\t0.9\n8\t0.25\n",
    )
    .unwrap();
    ("s.tsv".into(), true)
}

fn seed_kilosort(d: &Path) -> (PathBuf, bool) {
    let ks = d.join("ks");
    std::fs::create_dir(&ks).unwrap();
    write_npy(
        &ks.join("spike_times.npy"),
        &[5],
        &[3000u64, 4500, 6000, 30_000, 30_001],
    );
    write_npy(&ks.join("spike_clusters.npy"), &[5], &[7i32, 2, 7, 2, 11]);
    std::fs::write(
        ks.join("params.py"),
        "dat_path = 'raw.bin'\nsample_rate = 30000.\n",
    )
    .unwrap();
    std::fs::write(
        ks.join("cluster_group.tsv"),
        "cluster_id\tgroup\n2\tgood\n7\tmua\n11\tnoise\n",
    )
    .unwrap();
    // Which file of the folder is mutated depends on the case folder.
    match case_digit(d) % 4 {
        0 => ("ks/spike_times.npy".into(), false),
        1 => ("ks/spike_clusters.npy".into(), false),
        2 => ("ks/params.py".into(), true),
        _ => ("ks/cluster_group.tsv".into(), true),
    }
}

fn seed_matrices(d: &Path) -> (PathBuf, bool) {
    std::fs::write(
        d.join("J.csv"),
        "0.1,-0.2,0.05\n0.3,0.0,-0.1\n0.2,0.1,0.0\n",
    )
    .unwrap();
    std::fs::write(d.join("H.csv"), "0.1\n-0.2\n0.0\n").unwrap();
    std::fs::write(d.join("m0.csv"), "0.5\n-0.5\n0.0\n").unwrap();
    let pick = ["J.csv", "H.csv", "m0.csv"][case_digit(d) % 3];
    (pick.into(), true)
}

fn bin_args(input: PathBuf) -> impl Fn(&Path, &Path) -> Vec<String> {
    move |_, out| {
        vec![
            "bin".into(),
            p(&input),
            "--bin-ms".into(),
            "10".into(),
            "--out".into(),
            p(&out.join("r.npy")),
        ]
    }
}

fn formats() -> Vec<Format> {
    vec![
        Format {
            name: "nwb",
            seed: seed_nwb,
            args: |d, out| {
                let mut a = bin_args(d.join("f.nwb"))(d, out);
                a.extend(["--intervals".into(), "trials".into()]);
                a
            },
            names: |_| vec!["f.nwb".into()],
        },
        Format {
            name: "npy",
            seed: seed_npy,
            args: |d, out| vec!["stats".into(), p(&d.join("r.npy")), "--out".into(), p(out)],
            names: |_| vec!["r.npy".into()],
        },
        Format {
            name: "npz",
            seed: seed_npz,
            args: |d, _| {
                vec![
                    "info".into(),
                    p(&d.join("r.npz")),
                    "--orientation".into(),
                    "units-time".into(),
                    "--bin-ms".into(),
                    "10".into(),
                ]
            },
            names: |_| vec!["r.npz".into()],
        },
        Format {
            name: "csv",
            seed: seed_csv,
            args: |d, out| bin_args(d.join("s.csv"))(d, out),
            names: |_| vec!["s.csv".into()],
        },
        Format {
            name: "tsv",
            seed: seed_tsv,
            args: |d, out| bin_args(d.join("s.tsv"))(d, out),
            names: |_| vec!["s.tsv".into()],
        },
        Format {
            name: "kilosort",
            seed: seed_kilosort,
            // The output goes into the input folder: new files there are
            // allowed, the folder's own files must survive.
            args: |d, _| bin_args(d.join("ks"))(d, &d.join("ks")),
            names: |_| {
                [
                    "ks",
                    "spike_times.npy",
                    "spike_clusters.npy",
                    "params.py",
                    "cluster_group.tsv",
                ]
                .map(String::from)
                .to_vec()
            },
        },
        Format {
            name: "matrices",
            seed: seed_matrices,
            args: |d, out| {
                let mut a: Vec<String> = ["exact", "--couplings"].map(String::from).to_vec();
                a.extend([
                    p(&d.join("J.csv")),
                    "--fields".into(),
                    p(&d.join("H.csv")),
                    "--m0".into(),
                    p(&d.join("m0.csv")),
                    "--steps".into(),
                    "3".into(),
                    "--out".into(),
                    p(out),
                ]);
                a
            },
            names: |_| ["J.csv", "H.csv", "m0.csv"].map(String::from).to_vec(),
        },
    ]
}

/// Every file under `dir` with a hash of its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            out.extend(snapshot(&e));
        } else {
            let mut h = DefaultHasher::new();
            std::fs::read(&e).unwrap_or_default().hash(&mut h);
            out.push((e, h.finish()));
        }
    }
    out
}

/// The first input file (of `before`) whose bytes changed or that vanished.
fn changed_input(before: &[(PathBuf, u64)]) -> Option<PathBuf> {
    before.iter().find_map(|(path, h)| {
        let mut now = DefaultHasher::new();
        match std::fs::read(path) {
            Ok(bytes) => {
                bytes.hash(&mut now);
                (now.finish() != *h).then(|| path.clone())
            }
            Err(_) => Some(path.clone()),
        }
    })
}

/// Run the binary with an address-space limit and a timeout; returns
/// `(exit code or None for a signal, stderr, timed out)`.
fn run_limited(bin: &Path, args: &[String]) -> (Option<i32>, String, bool) {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RAYON_NUM_THREADS", "1");
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between
    // fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: ADDRESS_SPACE,
                rlim_max: ADDRESS_SPACE,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let start = Instant::now();
    let (status, timed_out) = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break (st, false);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            break (child.wait().expect("wait"), true);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    (status.code(), reader.join().unwrap_or_default(), timed_out)
}

/// Cases whose run ended with an error message (the rest loaded fine).
static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// Why a case failed, if it did.
fn check_case(f: &Format, case_dir: &Path, mutated: &Path, bytes: &[u8]) -> Option<String> {
    let out = case_dir.join("out");
    let before = snapshot(&case_dir.join("in"));
    let args = (f.args)(&case_dir.join("in"), &out);
    let bin = std::env::var_os("ISINGSCOPE_FUZZ_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_isingscope")),
        PathBuf::from,
    );
    let (code, err, timed_out) = run_limited(&bin, &args);
    let what = format!(
        "{} case {} (mutated {}, {} bytes): {args:?}",
        f.name,
        case_dir.display(),
        mutated.display(),
        bytes.len()
    );
    if timed_out {
        return Some(format!("timeout: {what}"));
    }
    match code {
        Some(0) => {}
        Some(1) => {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            let line = err.trim_end();
            if line.lines().count() != 1 || !line.starts_with("error: ") {
                return Some(format!("not a one-line error: {err:?} in {what}"));
            }
            if !(f.names)(&case_dir.join("in"))
                .iter()
                .any(|n| line.contains(n.as_str()))
            {
                return Some(format!("error does not name the file: {line} in {what}"));
            }
            for debug in ["panicked", "Some(", "Label(", "MinRate(", "Other(", "bits:"] {
                if line.contains(debug) {
                    return Some(format!("Debug text '{debug}': {line} in {what}"));
                }
            }
        }
        Some(c) => return Some(format!("exit status {c} (panic?): {err} in {what}")),
        None => return Some(format!("killed by a signal (abort?): {err} in {what}")),
    }
    if let Some(changed) = changed_input(&before) {
        return Some(format!("input {} changed: {what}", changed.display()));
    }
    None
}

#[test]
fn fuzz_every_reader() {
    let cases: usize = std::env::var("ISINGSCOPE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed: u64 = std::env::var("ISINGSCOPE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14);
    // The cases wait on the file system as much as on the CPU: more
    // threads than cores keep both busy (ISINGSCOPE_FUZZ_THREADS).
    let threads = std::env::var("ISINGSCOPE_FUZZ_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(4)
        });
    // A comma-separated subset of the formats (their seeds are those of the
    // whole campaign, so a split campaign runs the same cases).
    let only: Option<Vec<String>> = std::env::var("ISINGSCOPE_FUZZ_FORMATS")
        .ok()
        .map(|v| v.split(',').map(|f| f.trim().to_string()).collect());
    let root = tempfile::tempdir().unwrap();
    let failures = Mutex::new(Vec::<String>::new());
    let started = Instant::now();
    for (fi, f) in formats().iter().enumerate() {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|n| n == f.name))
        {
            continue;
        }
        let next = AtomicUsize::new(0);
        let ok = AtomicUsize::new(0);
        let errors = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= cases {
                            break;
                        }
                        let mut rng = Rng((seed
                            ^ ((fi as u64) << 40)
                            ^ (k as u64).wrapping_mul(0x9e37_79b9))
                            | 1);
                        for _ in 0..4 {
                            rng.next();
                        }
                        let case_dir = root.path().join(format!("{}{k}", f.name));
                        let input = case_dir.join("in");
                        std::fs::create_dir_all(&input).unwrap();
                        let (rel, text) = (f.seed)(&input);
                        let target = input.join(&rel);
                        let mut bytes = std::fs::read(&target).unwrap();
                        for _ in 0..1 + rng.below(3) {
                            if text {
                                mutate_text(&mut bytes, &mut rng);
                            } else {
                                mutate_bytes(&mut bytes, &mut rng);
                            }
                        }
                        std::fs::write(&target, &bytes).unwrap();
                        match check_case(f, &case_dir, &rel, &bytes) {
                            Some(problem) => {
                                let mut fl = failures.lock().unwrap();
                                if fl.len() < 20 {
                                    // Keep the reproducer: copy the case out.
                                    fl.push(problem);
                                }
                            }
                            None => {
                                let _ = std::fs::remove_dir_all(&case_dir);
                            }
                        }
                        if case_dir.exists() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        } else {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        eprintln!(
            "fuzz {}: {} cases, {} passed ({} of all cases so far refused with an error), {} failed ({:.1} s so far)",
            f.name,
            cases,
            ok.load(Ordering::Relaxed),
            REFUSED.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
    }
    let failures = failures.into_inner().unwrap();
    if !failures.is_empty() {
        // Keep the reproducers for inspection.
        let keep = root.keep();
        panic!(
            "{} fuzz failures (cases kept under {}):\n{}",
            failures.len(),
            keep.display(),
            failures.join("\n")
        );
    }
}

/// Sessions (RON, read by the app only, so in-process): mutated session
/// files either load with every field in range or are refused with an
/// error naming the file; nothing panics.
#[cfg(feature = "gui")]
#[test]
fn fuzz_sessions() {
    use isingscope::app::session::Session;
    let cases: usize = std::env::var("ISINGSCOPE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let dir = tempfile::tempdir().unwrap();
    let seed_path = dir.path().join("seed.ron");
    Session::default().save(&seed_path).unwrap();
    let seed = std::fs::read(&seed_path).unwrap();
    let mut rng = Rng(0x5e55_1014);
    let (mut loaded, mut refused) = (0, 0);
    for k in 0..cases {
        let mut bytes = seed.clone();
        for _ in 0..1 + rng.below(3) {
            mutate_text(&mut bytes, &mut rng);
        }
        let p = dir.path().join(format!("s{k}.ron"));
        std::fs::write(&p, &bytes).unwrap();
        let result = std::panic::catch_unwind(|| Session::load_validated(&p));
        match result {
            Err(_) => panic!("panic on {}", p.display()),
            Ok(Err(e)) => {
                refused += 1;
                assert!(e.contains(&format!("s{k}.ron")), "{e}");
                assert!(!e.contains('\n'), "multi-line: {e}");
            }
            Ok(Ok((s, _))) => {
                loaded += 1;
                let pl = &s.phase_lab;
                assert!((16..=4096).contains(&pl.n), "{}", p.display());
                assert!((2..=200).contains(&pl.sweep_points));
                assert!((2..=100).contains(&pl.sweep_reps));
                assert!(pl.beta.is_finite() && s.couplings_threshold.is_finite());
            }
        }
        let _ = std::fs::remove_file(&p);
    }
    eprintln!("fuzz sessions: {cases} cases, {loaded} loaded, {refused} refused");
}
