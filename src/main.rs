//! The `isingscope` binary: no subcommand opens the desktop app, a
//! subcommand runs headless (see `isingscope --help`).

use clap::Parser;
use isingscope::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(command) => run(command),
        None => open_app(cli.file, cli.tab, cli.fit),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "gui")]
fn open_app(
    file: Option<std::path::PathBuf>,
    tab: Option<isingscope::cli::AppTab>,
    fit: bool,
) -> anyhow::Result<()> {
    use isingscope::app::Tab;
    use isingscope::cli::AppTab;
    // The command line's tab names and the app's tabs are separate types so
    // that neither front end imports the other; this is the one mapping.
    let tab = tab.map(|t| match t {
        AppTab::Data => Tab::Data,
        AppTab::Raster => Tab::Raster,
        AppTab::Couplings => Tab::Couplings,
        AppTab::Fit => Tab::Fit,
        AppTab::PhaseLab => Tab::PhaseLab,
        AppTab::MeanFieldLab => Tab::MeanFieldLab,
        AppTab::StateSpace => Tab::StateSpace,
    });
    isingscope::app::run(file, tab, fit)
}

#[cfg(not(feature = "gui"))]
fn open_app(
    _file: Option<std::path::PathBuf>,
    _tab: Option<isingscope::cli::AppTab>,
    _fit: bool,
) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build has no desktop app (built without the \"gui\" feature); run a subcommand, see --help"
    )
}
