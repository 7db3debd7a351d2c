//! The headless command line: `isingscope <subcommand>`.
//!
//! Every analysis the app runs is available here for batch work. Output
//! conventions (all subcommands):
//!
//! * matrices: CSV without header, one row per line; for couplings and
//!   delayed covariances row i = receiving neuron / later time;
//! * vectors: one value per line;
//! * rasters: NPY `(R, T, N)` uint8 0/1.
//!
//! Errors end the process with a non-zero status and a one-line message
//! naming the file and the problem.

mod compare;
mod data;
mod fit;
mod meanfield;
mod merge;
mod model_cmds;
pub mod progress_bar;
mod shard;
mod sim_moments;
mod sk;
mod slurm;
mod state_space;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The `isingscope` command line.
#[derive(Debug, Parser)]
#[command(
    name = "isingscope",
    version,
    about = "See and model neural populations with the nonequilibrium kinetic Ising model.",
    long_about = "See and model neural populations with the nonequilibrium (asymmetric) kinetic Ising model.\n\nWith no arguments, opens the desktop app on the bundled demo data; with FILE, opens that file in the app; with a subcommand, runs headless.\n\nConventions: spins are +1 (spike) / -1 (silence); J[i][j] is the coupling from neuron j at t-1 to neuron i at t (CSV row i = receiving neuron); beta multiplies H and J.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A data file or session to open in the app.
    pub file: Option<PathBuf>,
    /// The app tab to show first.
    #[arg(long, value_enum)]
    pub tab: Option<AppTab>,
    /// Fit as soon as the app opens: exact maximum likelihood once the data
    /// have loaded, or with `--tab state-space` the state-space EM on
    /// synthetic trials.
    #[arg(long)]
    pub fit: bool,
    /// Run headless.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Tabs of the desktop app (for `--tab`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AppTab {
    /// Open files, binning, unit table.
    Data,
    /// Units x time raster.
    Raster,
    /// Coupling heatmaps.
    Couplings,
    /// Fit couplings.
    Fit,
    /// Phase-transition lab.
    PhaseLab,
    /// Plefka approximations against the true dynamics.
    MeanFieldLab,
    /// State-space model.
    StateSpace,
    /// Trial-averaged rates (PSTH) by condition.
    Psth,
}

/// Headless subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate the kinetic Ising model (an SK network or given J, H).
    Simulate(model_cmds::SimulateArgs),
    /// Moments m, C, D (and entropy production) of a raster.
    Stats(model_cmds::StatsArgs),
    /// Exact m(t), C, D and entropy production for N <= 12 by enumerating 2^N states.
    Exact(model_cmds::ExactArgs),
    /// N -> infinity theory of the asymmetric SK model: m, q, entropy production, entropies vs beta.
    SkTheory(sk::SkTheoryArgs),
    /// Critical inverse temperature beta_c of the asymmetric SK model vs the coupling spread DJ.
    SkCritical(sk::SkCriticalArgs),
    /// Describe a recording (units, labels, rates, interval tables); no FILE = the bundled demo.
    Info(data::InfoArgs),
    /// Bin sorted spikes (NWB, Kilosort/Phy, CSV) into a binary raster, optionally aligned to trials.
    Bin(data::BinArgs),
    /// Mean-field (Plefka) forward run: m(t), C, D and entropy production.
    Forward(meanfield::ForwardArgs),
    /// Every forward mean-field method against the exact or simulated dynamics over beta: squared errors of m, C, D.
    ForwardCompare(compare::ForwardCompareArgs),
    /// Fit H and J to a raster: exact maximum likelihood or mean-field moment matching.
    Fit(fit::FitArgs),
    /// Fit the state-space kinetic Ising model (time-varying fields and couplings) by EM; entropy flow over time.
    StateSpace(state_space::StateSpaceArgs),
    /// Draw Gaussian-process ground truth h(t), J(t) and simulate 0/1 spikes from it.
    SynthStateSpace(state_space::SynthStateSpaceArgs),
    /// Merge shard folders (fit --shard, state-space --shard) into the files of a single run.
    Merge(merge::MergeArgs),
    /// Write (or submit) a SLURM array job of shards and a merge job that depends on it.
    Slurm(slurm::SlurmArgs),
}

impl Cli {
    /// Parse the process's arguments. Every subcommand accepts negative
    /// numbers as option values (`--start -5`, `--j0 -1`): no option of
    /// ours takes a value that starts with `-` otherwise.
    pub fn parse_args() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let cmd = Self::command().mut_subcommands(|s| s.allow_negative_numbers(true));
        let matches = cmd.get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Run one subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Simulate(a) => model_cmds::simulate(a),
        Command::Stats(a) => model_cmds::stats(a),
        Command::Exact(a) => model_cmds::exact(a),
        Command::SkTheory(a) => sk::sk_theory(a),
        Command::SkCritical(a) => sk::sk_critical(a),
        Command::Info(a) => data::info(a),
        Command::Bin(a) => data::bin(a),
        Command::Forward(a) => meanfield::forward(a),
        Command::ForwardCompare(a) => compare::forward_compare(a),
        Command::Fit(a) => fit::fit(a),
        Command::StateSpace(a) => state_space::state_space(a),
        Command::SynthStateSpace(a) => state_space::synth_state_space(a),
        Command::Merge(a) => merge::merge(a),
        Command::Slurm(a) => slurm::slurm(a),
    }
}

/// Create the output directory (and parents) with a clear error.
pub(crate) fn ensure_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))
}

/// Refuse, before anything is written, a set of outputs of which any names
/// an input of this run (so that no command leaves half its outputs
/// written when a later one is refused).
pub(crate) fn check_outputs(paths: &[&std::path::Path]) -> anyhow::Result<()> {
    for p in paths {
        crate::io::output::check_not_input(p)?;
    }
    Ok(())
}

/// Refuse non-finite results (NaN/inf from overflowing parameters) before
/// they are written as if they were numbers.
pub(crate) fn ensure_finite<'a>(
    what: &str,
    values: impl IntoIterator<Item = &'a f64>,
    hint: &str,
) -> anyhow::Result<()> {
    if let Some((k, v)) = values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        anyhow::bail!("{what}: value {k} is {v} (not finite); {hint}; nothing was written");
    }
    Ok(())
}

/// Refuse an allocation of `bytes` that an argument decides when it exceeds
/// this machine's memory (see [`crate::io::memory`]).
pub(crate) fn ensure_memory(what: &str, bytes: u64, hint: &str) -> anyhow::Result<()> {
    crate::io::memory::ensure_fits(what, bytes, hint)?;
    Ok(())
}

/// Write a text output file through the one output writer (temporary file +
/// rename; never over an input of this run).
pub(crate) fn write_text(path: &std::path::Path, s: &str) -> anyhow::Result<()> {
    crate::io::output::write_bytes(path, s.as_bytes())?;
    Ok(())
}
