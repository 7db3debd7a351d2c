//! The desktop application (egui/eframe). GUI code only: all numerics live
//! in the library and run on worker threads.

use std::path::PathBuf;

/// The application shell.
pub struct IsingScopeApp {
    file: Option<PathBuf>,
}

impl IsingScopeApp {
    /// Build the app; `file` is a data file to open at start-up.
    pub fn new(_cc: &eframe::CreationContext<'_>, file: Option<PathBuf>) -> Self {
        Self { file }
    }
}

impl eframe::App for IsingScopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading("isingscope");
            ui.label("The nonequilibrium kinetic Ising model for neural populations.");
            ui.separator();
            ui.label("Coming next: Data · Raster · Couplings · Fit · Phase lab · State space.");
            if let Some(f) = &self.file {
                ui.label(format!("File to open: {}", f.display()));
            }
        });
    }
}

/// Open the app window and run until it is closed.
pub fn run(file: Option<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title("isingscope"),
        ..Default::default()
    };
    eframe::run_native(
        "isingscope",
        options,
        Box::new(|cc| Ok(Box::new(IsingScopeApp::new(cc, file)))),
    )
    .map_err(|e| anyhow::anyhow!("could not open the app window: {e}"))
}
