//! Shard options shared by `fit --method ml` and `state-space`
//! (`--neurons A..B`, `--shard k/K`) and the manifest they write last.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use anyhow::Context;
use clap::Args;

use crate::shard::{self, ShardManifest};

/// `--neurons` / `--shard`: fit only a range of receiving neurons.
#[derive(Debug, Args, Default)]
pub struct ShardArgs {
    /// Fit only receiving neurons A <= i < B and write their rows plus a shard
    /// manifest (merge shards with `isingscope merge`).
    #[arg(long, value_name = "A..B", conflicts_with = "shard")]
    pub neurons: Option<String>,
    /// Fit the k-th of K balanced ranges of receiving neurons (k counts from 0,
    /// as SLURM_ARRAY_TASK_ID with --array=0-(K-1)).
    #[arg(long, value_name = "k/K")]
    pub shard: Option<String>,
}

impl ShardArgs {
    /// Whether a shard was requested.
    pub fn is_set(&self) -> bool {
        self.neurons.is_some() || self.shard.is_some()
    }

    /// The receiving-neuron range for an `n`-unit raster, `None` without
    /// shard options. Both fits cost the same per receiving neuron (see
    /// [`crate::fit::ml`] and [`crate::state_space`]), so `--shard` splits
    /// into equal sizes.
    pub fn range(&self, n: usize) -> anyhow::Result<Option<Range<usize>>> {
        let r = if let Some(s) = &self.neurons {
            shard::parse_range(s)?
        } else if let Some(s) = &self.shard {
            let (k, kk) = shard::parse_shard(s)?;
            shard::balanced_range(&vec![1.0; n], k, kk)?
        } else {
            return Ok(None);
        };
        if r.end > n {
            anyhow::bail!(
                "--neurons {}..{}: the raster has {n} units (neurons 0..{n})",
                r.start,
                r.end
            );
        }
        Ok(Some(r))
    }
}

/// Remove a manifest left by an earlier run of this shard before writing
/// any output, so a run killed half-way never leaves old manifest + new
/// files that look complete.
pub fn clear_manifest(dir: &Path) -> anyhow::Result<()> {
    let p = dir.join(shard::MANIFEST);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove the old {}", p.display())),
    }
}

/// Write the manifest (last, atomically) of a shard of `command` run on
/// `raster` with `options`.
pub fn write_manifest(
    dir: &Path,
    command: &str,
    raster: &Path,
    n_units: usize,
    mut options: BTreeMap<String, String>,
    range: &Range<usize>,
    files: &[&str],
) -> anyhow::Result<()> {
    options.insert("cpu_kernel".into(), shard::cpu_kernel());
    let abs = std::path::absolute(raster)
        .with_context(|| format!("cannot resolve {}", raster.display()))?;
    let m = ShardManifest {
        program: "isingscope".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        command: command.into(),
        raster: abs,
        raster_sha256: shard::sha256_file(raster)?,
        n_units,
        options,
        neurons: (range.start, range.end),
        files: files.iter().map(|s| s.to_string()).collect(),
    };
    m.write(dir)?;
    Ok(())
}
