//! `isingscope slurm`: an sbatch array job of shards plus a merge job that
//! runs after it (`--dependency=afterok`). We write scripts for the
//! user's own scheduler; nothing of ours runs on the cluster but the binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::{ensure_dir, write_text};
use crate::shard::{self, ShardManifest};

/// Which fit to shard.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SlurmWhat {
    /// `fit --method ml`.
    Fit,
    /// `state-space`.
    StateSpace,
}

/// Arguments of `isingscope slurm`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes OUT/slurm/shards.sbatch (an array job, task k runs `isingscope fit|state-space RASTER --shard k/K --out OUT/shard-k` with this binary) and OUT/slurm/merge.sbatch (`isingscope merge OUT/shard-* --out OUT/merged`), then prints the two sbatch commands, the second with --dependency=afterok on the first; --submit runs them. Options after `--` go to every shard (e.g. `-- --l2 0.01` or `-- --max-iter 50`).\n\n--only-missing puts into the array only the shards whose folder has no complete manifest for their range (killed, failed or never run); if none is missing, only the merge job is written and submitted."
)]
pub struct SlurmArgs {
    /// `fit` (maximum likelihood) or `state-space`.
    #[arg(value_enum)]
    pub what: SlurmWhat,
    /// Raster (.npy) as for the fit command.
    pub raster: PathBuf,
    /// Number of shards K (array tasks 0..K-1).
    #[arg(long)]
    pub shards: usize,
    /// SLURM partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per shard (HH:MM:SS).
    #[arg(long)]
    pub time: Option<String>,
    /// Memory per shard (e.g. 4G).
    #[arg(long)]
    pub mem: Option<String>,
    /// CPUs per shard (the fits use them through rayon).
    #[arg(long)]
    pub cpus_per_task: Option<usize>,
    /// Output directory: shard-k/ per shard, merged/, slurm/ (scripts, logs).
    #[arg(long)]
    pub out: PathBuf,
    /// Submit with sbatch instead of printing the commands.
    #[arg(long)]
    pub submit: bool,
    /// Put into the array only the shards without a complete manifest.
    #[arg(long)]
    pub only_missing: bool,
    /// Options passed to every shard (after `--`).
    #[arg(last = true, allow_hyphen_values = true)]
    pub extra: Vec<String>,
}

/// Quote for a POSIX shell.
fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:+,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn sh_path(p: &Path) -> String {
    sh(&p.to_string_lossy())
}

/// The shards of `0..k_total` whose folder `out/shard-k` has no complete
/// manifest for the same command and the range `--shard k/K` gives an
/// `n`-unit raster.
pub fn missing_shards(
    out: &Path,
    command: &str,
    n: usize,
    k_total: usize,
) -> anyhow::Result<Vec<usize>> {
    let costs = vec![1.0; n];
    let mut missing = Vec::new();
    for k in 0..k_total {
        let want = shard::balanced_range(&costs, k, k_total)?;
        let done = match ShardManifest::read(&out.join(format!("shard-{k}"))) {
            Ok(Some(m)) => m.command == command && m.range() == want && m.n_units == n,
            _ => false,
        };
        if !done {
            missing.push(k);
        }
    }
    Ok(missing)
}

/// `isingscope slurm`.
pub fn slurm(a: SlurmArgs) -> anyhow::Result<()> {
    let info = crate::io::npy::read_info(&a.raster)?;
    let n = *info
        .shape
        .last()
        .with_context(|| format!("{}: not a raster", a.raster.display()))?;
    let kk = a.shards;
    if kk == 0 || kk > n {
        bail!("--shards {kk}: need between 1 and the number of neurons ({n})");
    }
    let exe = std::env::current_exe().context("cannot locate this binary")?;
    let raster = std::path::absolute(&a.raster)
        .with_context(|| format!("cannot resolve {}", a.raster.display()))?;
    ensure_dir(&a.out)?;
    let out = std::path::absolute(&a.out)
        .with_context(|| format!("cannot resolve {}", a.out.display()))?;
    let sdir = out.join("slurm");
    ensure_dir(&sdir)?;
    let (sub, command, name) = match a.what {
        SlurmWhat::Fit => ("fit", "fit-ml", "isingscope-fit"),
        SlurmWhat::StateSpace => ("state-space", "state-space", "isingscope-state-space"),
    };
    let tasks: Vec<usize> = if a.only_missing {
        missing_shards(&out, command, n, kk)?
    } else {
        (0..kk).collect()
    };
    let mut header = String::new();
    if let Some(p) = &a.partition {
        writeln!(header, "#SBATCH --partition={p}")?;
    }
    if let Some(t) = &a.time {
        writeln!(header, "#SBATCH --time={t}")?;
    }
    if let Some(m) = &a.mem {
        writeln!(header, "#SBATCH --mem={m}")?;
    }
    if let Some(c) = a.cpus_per_task {
        writeln!(header, "#SBATCH --cpus-per-task={c}")?;
    }
    let extra: Vec<String> = a.extra.iter().map(|s| sh(s)).collect();
    let method = if matches!(a.what, SlurmWhat::Fit) {
        " --method ml"
    } else {
        ""
    };
    let array: Vec<String> = tasks.iter().map(|k| k.to_string()).collect();
    let shards_script = sdir.join("shards.sbatch");
    if !tasks.is_empty() {
        let script = format!(
            "#!/bin/sh\n#SBATCH --job-name={name}\n#SBATCH --array={}\n#SBATCH --output={}/shard-%a.log\n{header}set -e\nexec {} {sub} {}{method} --shard \"$SLURM_ARRAY_TASK_ID\"/{kk} --out {}/shard-\"$SLURM_ARRAY_TASK_ID\" {}\n",
            array.join(","),
            sh_path(&sdir),
            sh_path(&exe),
            sh_path(&raster),
            sh_path(&out),
            extra.join(" ")
        );
        write_text(&shards_script, &script)?;
    }
    let dirs: Vec<String> = (0..kk)
        .map(|k| sh_path(&out.join(format!("shard-{k}"))))
        .collect();
    let merge_script = sdir.join("merge.sbatch");
    let script = format!(
        "#!/bin/sh\n#SBATCH --job-name={name}-merge\n#SBATCH --output={}/merge.log\n{header}set -e\nexec {} merge {} --out {}\n",
        sh_path(&sdir),
        sh_path(&exe),
        dirs.join(" "),
        sh_path(&out.join("merged"))
    );
    write_text(&merge_script, &script)?;
    if !a.submit {
        if tasks.is_empty() {
            println!("# all {kk} shards are complete; only the merge job is needed");
            println!("sbatch {}", sh_path(&merge_script));
        } else {
            println!(
                "# {} of {kk} shards in the array: {}",
                tasks.len(),
                array.join(",")
            );
            println!("jid=$(sbatch --parsable {})", sh_path(&shards_script));
            println!(
                "sbatch --dependency=afterok:\"${{jid%%;*}}\" {}",
                sh_path(&merge_script)
            );
        }
        return Ok(());
    }
    let sbatch = |args: &[&str]| -> anyhow::Result<String> {
        let o = std::process::Command::new("sbatch")
            .args(args)
            .output()
            .context("cannot run sbatch (is SLURM installed and on PATH?)")?;
        if !o.status.success() {
            bail!(
                "sbatch {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr)
                    .trim()
                    .replace('\n', "; ")
            );
        }
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        Ok(id.split(';').next().unwrap_or("").to_string())
    };
    let merge_path = merge_script.to_string_lossy().into_owned();
    if tasks.is_empty() {
        let mid = sbatch(&["--parsable", &merge_path])?;
        println!("all {kk} shards complete; submitted merge job {mid}");
        return Ok(());
    }
    let jid = sbatch(&["--parsable", &shards_script.to_string_lossy()])?;
    let dep = format!("--dependency=afterok:{jid}");
    let mid = sbatch(&["--parsable", &dep, &merge_path])?;
    println!(
        "submitted array job {jid} ({} of {kk} shards: {}) and merge job {mid} (after ok)",
        tasks.len(),
        array.join(",")
    );
    Ok(())
}
