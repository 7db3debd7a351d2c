//! The `isingscope` binary: no subcommand opens the desktop app, a
//! subcommand runs headless (see `isingscope --help`).

use isingscope::cli::{Cli, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_args();
    let result = match cli.command {
        Some(command) => run(command),
        None => open_app(cli.file, cli.tab, cli.fit),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line: a cause whose text the message
/// already shows (the library's I/O errors print their OS error) is not
/// repeated, and newlines from file contents are escaped.
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.chars()
        .flat_map(|c| match c {
            '\n' => vec!['\\', 'n'],
            '\r' => vec!['\\', 'r'],
            c if c.is_control() && c != '\t' => c.escape_default().collect(),
            c => vec![c],
        })
        .collect()
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
        AppTab::Psth => Tab::Psth,
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
