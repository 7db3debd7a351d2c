//! `isingscope merge`: shard folders → the files of a single run.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use nalgebra::DMatrix;

use super::ensure_dir;
use crate::io::{npy, text};
use crate::shard::{self, ShardManifest};
use crate::state_space::ThetaSeries;

/// Arguments of `isingscope merge`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each DIR is the output folder of one shard (`fit --method ml --shard k/K`, `fit --neurons A..B`, or the same on `state-space`), holding shard_manifest.ron. The shards must come from the same raster (SHA-256 of the file), the same options, program version and CPU kernel, and cover the neurons 0..N exactly once.\n\nOutput: for ml, OUT/J.csv and OUT/H.csv as a single run writes them (byte for byte), and each shard's fit_info as OUT/fit_info.A-B.csv; for state-space, OUT/theta_smoothed.npy, theta_filtered.npy, theta_sd.npy, Q.csv, evidence.csv and entropy_flow.csv (computed here from all neurons and the raster named in the manifests), as a single run writes them."
)]
pub struct MergeArgs {
    /// Shard output folders.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// One shard: its folder and manifest.
struct Shard {
    dir: PathBuf,
    m: ShardManifest,
}

/// `isingscope merge`.
pub fn merge(a: MergeArgs) -> anyhow::Result<()> {
    let mut shards = Vec::with_capacity(a.dirs.len());
    for d in &a.dirs {
        let m = ShardManifest::read(d)?.ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no complete shard manifest ({}); the shard has not finished or was killed: rerun it",
                d.display(),
                shard::MANIFEST
            )
        })?;
        shards.push(Shard { dir: d.clone(), m });
    }
    let first = &shards[0];
    for s in &shards[1..] {
        if let Err(e) = first.m.check_compatible(&s.m) {
            bail!(
                "{} and {} cannot be merged: {e}",
                first.dir.display(),
                s.dir.display()
            );
        }
    }
    let n = first.m.n_units;
    let ranges: Vec<_> = shards.iter().map(|s| s.m.range()).collect();
    let (missing, overlap) = shard::coverage(&ranges, n);
    if !missing.is_empty() || !overlap.is_empty() {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!(
                "missing neurons {}",
                shard::format_ranges(&missing)
            ));
        }
        if !overlap.is_empty() {
            parts.push(format!(
                "neurons {} in more than one shard",
                shard::format_ranges(&overlap)
            ));
        }
        bail!(
            "the shards do not cover neurons 0..{n} exactly once: {}",
            parts.join("; ")
        );
    }
    shards.sort_by_key(|s| s.m.neurons.0);
    ensure_dir(&a.out)?;
    let command = shards[0].m.command.clone();
    match command.as_str() {
        "fit-ml" => merge_ml(&shards, n, &a.out),
        "state-space" => merge_state_space(&shards, n, &a.out),
        other => bail!("{}: unknown shard command {other}", shards[0].dir.display()),
    }
}

/// Read a shard's CSV matrix and check it has the shard's rows.
fn read_rows(s: &Shard, name: &str, cols: Option<usize>) -> anyhow::Result<DMatrix<f64>> {
    let p = s.dir.join(name);
    let m = text::read_matrix(&p)?;
    let rows = s.m.range().len();
    if m.nrows() != rows || cols.is_some_and(|c| m.ncols() != c) {
        bail!(
            "{}: expected {rows} rows{} for neurons {}..{}, found {} x {}",
            p.display(),
            cols.map(|c| format!(" of {c} values")).unwrap_or_default(),
            s.m.neurons.0,
            s.m.neurons.1,
            m.nrows(),
            m.ncols()
        );
    }
    Ok(m)
}

/// Stack the rows of `name` from every shard (in neuron order).
fn stack_rows(shards: &[Shard], name: &str, cols: usize) -> anyhow::Result<DMatrix<f64>> {
    let n: usize = shards.iter().map(|s| s.m.range().len()).sum();
    let mut out = DMatrix::zeros(n, cols);
    for s in shards {
        let m = read_rows(s, name, Some(cols))?;
        out.rows_mut(s.m.neurons.0, m.nrows()).copy_from(&m);
    }
    Ok(out)
}

fn merge_ml(shards: &[Shard], n: usize, out: &Path) -> anyhow::Result<()> {
    let j = stack_rows(shards, "J.csv", n)?;
    let h = stack_rows(shards, "H.csv", 1)?;
    // Further per-row files the shards list (e.g. J_se.csv) are stacked too.
    let extra: Vec<&String> = shards[0]
        .m
        .files
        .iter()
        .filter(|f| {
            f.ends_with(".csv") && !["J.csv", "H.csv", "fit_info.csv"].contains(&f.as_str())
        })
        .collect();
    text::write_matrix(&out.join("J.csv"), &j)?;
    text::write_vector(&out.join("H.csv"), h.as_slice())?;
    for f in extra {
        let cols = read_rows(&shards[0], f, None)?.ncols();
        text::write_matrix(&out.join(f), &stack_rows(shards, f, cols)?)?;
    }
    for s in shards {
        let src = s.dir.join("fit_info.csv");
        let bytes =
            std::fs::read(&src).with_context(|| format!("cannot read {}", src.display()))?;
        let name = format!("fit_info.{}-{}.csv", s.m.neurons.0, s.m.neurons.1);
        crate::io::output::write_bytes(&out.join(name), &bytes)?;
    }
    println!(
        "merged {} shards: {n} x {n} couplings into {}",
        shards.len(),
        out.display()
    );
    Ok(())
}

/// Read a shard's `(T, B-A, D)` array and check its shape.
fn read_theta_rows(s: &Shard, name: &str, n: usize) -> anyhow::Result<(usize, Vec<f64>)> {
    let p = s.dir.join(name);
    let (shape, data) = npy::read_f64(&p)?;
    let m = s.m.range().len();
    if shape.len() != 3 || shape[1] != m || shape[2] != n + 1 {
        bail!(
            "{}: expected shape (T, {m}, {}) for neurons {}..{}, found {shape:?}",
            p.display(),
            n + 1,
            s.m.neurons.0,
            s.m.neurons.1
        );
    }
    Ok((shape[0], data))
}

fn merge_state_space(shards: &[Shard], n: usize, out: &Path) -> anyhow::Result<()> {
    let d = n + 1;
    let mut smoothed = None;
    for name in ["theta_smoothed.npy", "theta_filtered.npy", "theta_sd.npy"] {
        let mut full: Option<ThetaSeries> = None;
        for s in shards {
            let (t, data) = read_theta_rows(s, name, n)?;
            let th = full.get_or_insert_with(|| ThetaSeries::zeros(t, n));
            if th.n_steps() != t {
                bail!(
                    "{}: {t} time steps, other shards have {}",
                    s.dir.join(name).display(),
                    th.n_steps()
                );
            }
            let m = s.m.range().len();
            for tt in 0..t {
                for (r, i) in s.m.range().enumerate() {
                    th.row_mut(tt, i)
                        .copy_from_slice(&data[(tt * m + r) * d..(tt * m + r + 1) * d]);
                }
            }
        }
        let th = full.context("no shards")?;
        npy::write_f64(&out.join(name), &th.shape(), th.as_slice())?;
        if name == "theta_smoothed.npy" {
            smoothed = Some(th);
        }
    }
    let q = stack_rows(shards, "Q.csv", d)?;
    text::write_matrix(&out.join("Q.csv"), &q)?;
    // Total evidence per iteration: the per-neuron values summed in neuron
    // order, as the single run sums them.
    let per: Vec<DMatrix<f64>> = shards
        .iter()
        .map(|s| {
            let p = s.dir.join("evidence_neurons.csv");
            let m = text::read_matrix(&p)?;
            if m.ncols() != s.m.range().len() {
                bail!(
                    "{}: expected {} columns (neurons {}..{}), found {}",
                    p.display(),
                    s.m.range().len(),
                    s.m.neurons.0,
                    s.m.neurons.1,
                    m.ncols()
                );
            }
            Ok(m)
        })
        .collect::<anyhow::Result<_>>()?;
    // Each neuron stops on its own: a shard's rows run to its slowest
    // neuron, each neuron's column padded with its last value. Pad every
    // shard the same way to the slowest neuron of all, as the single run's
    // total does.
    let iters = per.iter().map(|m| m.nrows()).max().unwrap_or(0);
    if let Some((s, _)) = shards.iter().zip(&per).find(|(_, m)| m.nrows() == 0) {
        bail!(
            "{}: no EM iterations recorded",
            s.dir.join("evidence_neurons.csv").display()
        );
    }
    let evidence: Vec<f64> = (0..iters)
        .map(|k| {
            per.iter()
                .flat_map(|m| {
                    m.row(k.min(m.nrows() - 1))
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                })
                .sum()
        })
        .collect();
    text::write_vector(&out.join("evidence.csv"), &evidence)?;
    // Per-neuron stopping record: the shards' rows in neuron order.
    let mut neuron_fit = String::from(super::state_space::NEURON_FIT_HEADER);
    for s in shards {
        let p = s.dir.join("neuron_fit.csv");
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let mut lines = text.lines();
        if lines.next() != Some(super::state_space::NEURON_FIT_HEADER.trim_end()) {
            bail!("{}: not a neuron_fit.csv written by a shard", p.display());
        }
        for l in lines {
            neuron_fit.push_str(l);
            neuron_fit.push('\n');
        }
    }
    super::write_text(&out.join("neuron_fit.csv"), &neuron_fit)?;
    // The entropy flow needs every neuron: computed here.
    let m = &shards[0].m;
    let raster_path = &m.raster;
    let hash = shard::sha256_file(raster_path)
        .with_context(|| "the entropy flow needs the raster named in the shard manifests")?;
    if hash != m.raster_sha256 {
        bail!(
            "{}: the raster changed since the shards ran (SHA-256 differs); cannot compute the entropy flow",
            raster_path.display()
        );
    }
    let raster = npy::read_raster(raster_path)?;
    let opt = |k: &str| {
        m.options
            .get(k)
            .cloned()
            .with_context(|| format!("{}: manifest lacks option {k}", shards[0].dir.display()))
    };
    let flow_arg = super::state_space::FlowArg::from_str(&opt("flow")?, false)
        .map_err(|e| anyhow::anyhow!("{}: flow option: {e}", shards[0].dir.display()))?;
    let trajectories: usize = opt("flow_trajectories")?.parse()?;
    let seed: u64 = opt("seed")?.parse()?;
    let theta = smoothed.context("no smoothed parameters")?;
    let flow = super::state_space::entropy_flow(flow_arg, trajectories, seed, &theta, &raster)?;
    super::state_space::write_entropy_flow(&out.join("entropy_flow.csv"), &flow)?;
    println!(
        "merged {} shards: {n} neurons, {} EM iterations, into {}",
        shards.len(),
        iters,
        out.display()
    );
    Ok(())
}
