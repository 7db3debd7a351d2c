//! Shards of the per-neuron fits run as plain processes of the built
//! binary, merged, and compared byte for byte with a single run (issue 17).
//! Exact equality is the claim: every neuron's fit is separable and the
//! shard writes the same values through the same writer, so no tolerance.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_fails, isingscope};

fn ok(args: &[&str]) -> String {
    let o = isingscope(args);
    assert!(
        o.status.success(),
        "isingscope {args:?} failed: {}",
        common::stderr(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A 13-unit SK raster (2 trials × 1,500 steps, seeded).
fn ml_raster(dir: &Path, seed: &str) -> PathBuf {
    let out = dir.join(format!("sim{seed}"));
    ok(&[
        "simulate",
        "--n",
        "13",
        "--steps",
        "1500",
        "--trials",
        "2",
        "--h0",
        "0.5",
        "--seed",
        seed,
        "--out",
        s(&out),
    ]);
    out.join("spikes.npy")
}

/// A 7-unit state-space raster (40 trials × 31 bins, seeded).
fn ss_raster(dir: &Path) -> PathBuf {
    let out = dir.join("synth");
    ok(&[
        "synth-state-space",
        "--n",
        "7",
        "--t",
        "30",
        "--r",
        "40",
        "--seed",
        "1",
        "--out",
        s(&out),
    ]);
    out.join("spikes.npy")
}

fn assert_same_files(a: &Path, b: &Path, names: &[&str], what: &str) {
    for n in names {
        let x = std::fs::read(a.join(n)).unwrap_or_else(|e| panic!("{what}: {n} in {a:?}: {e}"));
        let y = std::fs::read(b.join(n)).unwrap_or_else(|e| panic!("{what}: {n} in {b:?}: {e}"));
        assert!(x == y, "{what}: {n} differs from the single run");
    }
}

/// Run K shards of `cmd` (argument list before `--shard`) and merge them.
fn run_shards(cmd: &[&str], root: &Path, kk: usize) -> PathBuf {
    let mut dirs = Vec::new();
    for k in 0..kk {
        let d = root.join(format!("k{kk}-shard{k}"));
        let shard = format!("{k}/{kk}");
        let mut args = cmd.to_vec();
        args.extend(["--shard", &shard, "--out", s(&d)]);
        ok(&args);
        dirs.push(d);
    }
    let out = root.join(format!("k{kk}-merged"));
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(|d| s(d)));
    args.extend(["--out", s(&out)]);
    ok(&args);
    out
}

#[test]
fn ml_shards_merge_to_the_single_run_byte_for_byte() {
    let d = tempfile::tempdir().unwrap();
    let r = ml_raster(d.path(), "3");
    let full = d.path().join("full");
    // A penalty and beta != 1 so that every option reaches the output.
    ok(&[
        "fit",
        s(&r),
        "--l2",
        "0.001",
        "--beta",
        "2",
        "--out",
        s(&full),
    ]);
    let cmd = ["fit", s(&r), "--l2", "0.001", "--beta", "2"];
    // K = 2, 3, 5 on 13 neurons: ranges of unequal sizes (6/7, 4/5/4, 2/3/...).
    for kk in [1, 2, 3, 5] {
        let merged = run_shards(&cmd, d.path(), kk);
        assert_same_files(&full, &merged, &["J.csv", "H.csv"], &format!("ml K={kk}"));
        let infos = std::fs::read_dir(&merged)
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name();
                n.to_string_lossy().starts_with("fit_info.")
            })
            .count();
        assert_eq!(infos, kk, "one fit_info per shard");
    }
}

#[test]
fn state_space_shards_merge_to_the_single_run_byte_for_byte() {
    let d = tempfile::tempdir().unwrap();
    let r = ss_raster(d.path());
    let full = d.path().join("full");
    // Enough iterations that neurons stop on their own at different counts
    // (checked below), so the padding of per-neuron evidence is exercised.
    ok(&[
        "state-space",
        s(&r),
        "--max-iter",
        "200",
        "--tol",
        "1e-4",
        "--out",
        s(&full),
    ]);
    let steps: std::collections::BTreeSet<String> =
        std::fs::read_to_string(full.join("neuron_fit.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().to_string())
            .collect();
    assert!(
        steps.len() > 1,
        "neurons should stop at different E-steps: {steps:?}"
    );
    let cmd = ["state-space", s(&r), "--max-iter", "200", "--tol", "1e-4"];
    for kk in [1, 2, 3, 5] {
        let merged = run_shards(&cmd, d.path(), kk);
        assert_same_files(
            &full,
            &merged,
            &[
                "theta_smoothed.npy",
                "theta_filtered.npy",
                "theta_sd.npy",
                "Q.csv",
                "evidence.csv",
                "entropy_flow.csv",
                "neuron_fit.csv",
            ],
            &format!("state space K={kk}"),
        );
    }
    // The sampling flow (seeded) is computed at merge time too.
    let full = d.path().join("full-sampling");
    ok(&[
        "state-space",
        s(&r),
        "--max-iter",
        "3",
        "--flow",
        "sampling",
        "--flow-trajectories",
        "50",
        "--seed",
        "9",
        "--out",
        s(&full),
    ]);
    let cmd = [
        "state-space",
        s(&r),
        "--max-iter",
        "3",
        "--flow",
        "sampling",
        "--flow-trajectories",
        "50",
        "--seed",
        "9",
    ];
    let root = d.path().join("sampling");
    let merged = run_shards(&cmd, &root, 2);
    assert_same_files(&full, &merged, &["entropy_flow.csv"], "sampling flow");
}

#[test]
fn merge_refuses_other_rasters_other_options_and_bad_coverage() {
    let d = tempfile::tempdir().unwrap();
    let a = ml_raster(d.path(), "3");
    let b = ml_raster(d.path(), "4");
    let p = |n: &str| d.path().join(n);
    ok(&["fit", s(&a), "--neurons", "0..4", "--out", s(&p("a0"))]);
    ok(&["fit", s(&a), "--neurons", "4..13", "--out", s(&p("a1"))]);
    ok(&["fit", s(&b), "--neurons", "4..13", "--out", s(&p("b1"))]);
    ok(&[
        "fit",
        s(&a),
        "--neurons",
        "4..13",
        "--l2",
        "0.5",
        "--out",
        s(&p("a1l2")),
    ]);
    ok(&["fit", s(&a), "--neurons", "9..13", "--out", s(&p("a2"))]);
    ok(&["fit", s(&a), "--neurons", "2..6", "--out", s(&p("a3"))]);
    let m = |dirs: &[&str]| {
        let mut args = vec!["merge".to_string()];
        args.extend(dirs.iter().map(|x| s(&p(x)).to_string()));
        args.extend(["--out".into(), s(&p("m")).to_string()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        isingscope(&refs)
    };
    assert_fails(&m(&["a0", "b1"]), &["different raster"]);
    assert_fails(&m(&["a0", "a1l2"]), &["different options", "l2 = 0 vs 0.5"]);
    assert_fails(&m(&["a0", "a2"]), &["missing neurons 4..9"]);
    // 0..4, 2..6 and 4..13: neurons 2..6 are covered twice (one run).
    assert_fails(
        &m(&["a0", "a3", "a1"]),
        &["neurons 2..6 in more than one shard"],
    );
    assert_fails(
        &m(&["a3", "a2"]),
        &["missing neurons 0..2, 6..9", "0..13 exactly once"],
    );
    assert!(!p("m").join("J.csv").exists(), "nothing written on refusal");
    // A folder without a manifest is named.
    std::fs::create_dir_all(p("empty")).unwrap();
    assert_fails(
        &m(&["a0", "empty"]),
        &["empty", "no complete shard manifest"],
    );
    // Shard options are checked against the raster.
    assert_fails(
        &isingscope(&["fit", s(&a), "--neurons", "5..20", "--out", s(&p("x"))]),
        &["5..20", "13 units"],
    );
    assert_fails(
        &isingscope(&["fit", s(&a), "--shard", "3/3", "--out", s(&p("x"))]),
        &["3/3"],
    );
    assert_fails(
        &isingscope(&[
            "fit",
            s(&a),
            "--method",
            "nmf",
            "--shard",
            "0/2",
            "--out",
            s(&p("x")),
        ]),
        &["--method ml only"],
    );
    // Cross-validation and the checks need every neuron.
    assert_fails(
        &isingscope(&[
            "fit",
            s(&a),
            "--l2",
            "cv",
            "--shard",
            "0/2",
            "--out",
            s(&p("x")),
        ]),
        &["--l2 cv"],
    );
    assert_fails(
        &isingscope(&[
            "fit",
            s(&a),
            "--fdr",
            "0.05",
            "--shard",
            "0/2",
            "--out",
            s(&p("x")),
        ]),
        &["--fdr"],
    );
}

/// Start a shard that runs for a long time.
fn start_long_shard(r: &Path, out: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_isingscope"))
        .args([
            "state-space",
            s(r),
            "--max-iter",
            "1000000",
            // A fixed iteration count: with the default tolerance every
            // neuron would converge (and the shard end) long before.
            "--tol",
            "0",
            "--shard",
            "1/3",
            "--out",
            s(out),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kill `child` with SIGKILL once `ready` holds, checking that it was
/// still running (mid-run) when killed.
fn kill_mid_run(mut child: std::process::Child, ready: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "shard never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the shard ended before the kill"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

#[test]
fn killed_shard_leaves_no_manifest_and_only_missing_reruns_it() {
    let d = tempfile::tempdir().unwrap();
    let r = ss_raster(d.path());
    let out = d.path().join("job");
    let shard_dir = |k: usize| out.join(format!("shard-{k}"));
    let manifest = |k: usize| shard_dir(k).join("shard_manifest.ron");
    for k in [0, 2] {
        let shard = format!("{k}/3");
        ok(&[
            "state-space",
            s(&r),
            "--max-iter",
            "3",
            "--shard",
            &shard,
            "--out",
            s(&shard_dir(k)),
        ]);
    }
    // A fresh shard killed mid-run: its folder exists, no manifest.
    let child = start_long_shard(&r, &shard_dir(1));
    kill_mid_run(child, || shard_dir(1).exists());
    assert!(!manifest(1).exists(), "killed shard left a manifest");
    // --only-missing (no SLURM needed to write the scripts) selects it alone.
    let slurm = |extra: &[&str]| {
        let mut args = vec![
            "slurm",
            "state-space",
            s(&r),
            "--shards",
            "3",
            "--out",
            s(&out),
        ];
        args.extend(extra);
        ok(&args)
    };
    let printed = slurm(&[
        "--only-missing",
        "--partition",
        "short",
        "--",
        "--max-iter",
        "3",
    ]);
    assert!(
        printed.contains("1 of 3 shards in the array: 1"),
        "{printed}"
    );
    assert!(printed.contains("--dependency=afterok:"), "{printed}");
    let script = std::fs::read_to_string(out.join("slurm/shards.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=1\n"), "{script}");
    assert!(script.contains("#SBATCH --partition=short\n"), "{script}");
    assert!(
        script.contains("--shard \"$SLURM_ARRAY_TASK_ID\"/3"),
        "{script}"
    );
    assert!(script.contains("--max-iter 3"), "{script}");
    let merge = std::fs::read_to_string(out.join("slurm/merge.sbatch")).unwrap();
    assert!(
        merge.contains(" merge ") && merge.contains("shard-2"),
        "{merge}"
    );
    // Without --only-missing every shard is in the array.
    slurm(&[]);
    let script = std::fs::read_to_string(out.join("slurm/shards.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0,1,2\n"), "{script}");
    // Rerun shard 1 (as the array task would), then nothing is missing.
    ok(&[
        "state-space",
        s(&r),
        "--max-iter",
        "3",
        "--shard",
        "1/3",
        "--out",
        s(&shard_dir(1)),
    ]);
    assert!(manifest(1).exists());
    let printed = slurm(&["--only-missing"]);
    assert!(printed.contains("all 3 shards are complete"), "{printed}");
    // A complete shard rerun and killed: the old manifest is removed before
    // any new output is written, so no stale complete-looking manifest.
    let child = start_long_shard(&r, &shard_dir(1));
    kill_mid_run(child, || !manifest(1).exists());
    assert!(!manifest(1).exists());
    let printed = slurm(&["--only-missing"]);
    assert!(
        printed.contains("1 of 3 shards in the array: 1"),
        "{printed}"
    );
}
