//! An in-app file picker: a window listing one folder (folders first, then
//! the spike-data files the app reads), used where no native file dialog
//! is available (no desktop portal, a bare X server, a remote session).

use std::path::{Path, PathBuf};

/// Extensions the loaders read (see `crate::io`).
const DATA_EXTENSIONS: [&str; 5] = ["nwb", "npy", "npz", "csv", "tsv"];

/// What the user did in the picker this frame.
#[derive(Debug, PartialEq)]
pub enum PickerAction {
    /// Nothing yet.
    None,
    /// A file, or a folder (Kilosort), was chosen.
    Picked(PathBuf),
    /// The picker was closed without a choice.
    Closed,
}

/// The picker's state: the folder shown and its entries.
pub struct FilePicker {
    /// The folder listed.
    pub dir: PathBuf,
    /// Sub-folders, then data files, by name.
    pub entries: Vec<(String, bool)>,
    /// Why the picker is shown (e.g. no native dialog), one line.
    pub note: String,
    error: Option<String>,
}

impl FilePicker {
    /// A picker listing `dir`, with `note` saying why it is shown.
    pub fn new(dir: PathBuf, note: impl Into<String>) -> Self {
        let mut p = Self {
            dir,
            entries: Vec::new(),
            note: note.into(),
            error: None,
        };
        p.list();
        p
    }

    /// Read the folder: sub-folders (not hidden) and files with a data
    /// extension, each group by name.
    fn list(&mut self) {
        self.entries.clear();
        self.error = None;
        match std::fs::read_dir(&self.dir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    let is_dir = e.path().is_dir();
                    if is_dir || has_data_extension(&e.path()) {
                        self.entries.push((name, is_dir));
                    }
                }
                self.entries
                    .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            }
            Err(e) => self.error = Some(format!("{}: {e}", self.dir.display())),
        }
    }

    fn enter(&mut self, dir: PathBuf) {
        self.dir = dir;
        self.list();
    }

    /// Draw the picker window.
    pub fn ui(&mut self, ctx: &egui::Context) -> PickerAction {
        let mut action = PickerAction::None;
        let mut open = true;
        egui::Window::new("Open data file")
            .open(&mut open)
            .collapsible(false)
            .default_size([520.0, 420.0])
            .show(ctx, |ui| {
                if !self.note.is_empty() {
                    ui.label(&self.note);
                }
                ui.horizontal(|ui| {
                    let up = self.dir.parent().map(Path::to_path_buf);
                    if ui
                        .add_enabled(up.is_some(), egui::Button::new("Up"))
                        .clicked()
                        && let Some(p) = up
                    {
                        self.enter(p);
                    }
                    ui.label(self.dir.display().to_string());
                });
                ui.horizontal(|ui| {
                    if ui
                        .button("Open this folder (Kilosort)")
                        .on_hover_text("a Kilosort/Phy output folder is loaded as a whole")
                        .clicked()
                    {
                        action = PickerAction::Picked(self.dir.clone());
                    }
                    if ui.button("Cancel").clicked() {
                        action = PickerAction::Closed;
                    }
                });
                if let Some(e) = &self.error {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                ui.separator();
                let mut enter = None;
                egui::ScrollArea::vertical()
                    .id_salt("file_picker_list")
                    .max_height(300.0)
                    .show(ui, |ui| {
                        if self.entries.is_empty() && self.error.is_none() {
                            ui.label("(no folders or data files here)");
                        }
                        for (name, is_dir) in &self.entries {
                            let text = if *is_dir {
                                format!("{name}/")
                            } else {
                                name.clone()
                            };
                            if ui.selectable_label(false, text).clicked() {
                                let p = self.dir.join(name);
                                if *is_dir {
                                    enter = Some(p);
                                } else {
                                    action = PickerAction::Picked(p);
                                }
                            }
                        }
                    });
                if let Some(d) = enter {
                    self.enter(d);
                }
            });
        if !open && action == PickerAction::None {
            action = PickerAction::Closed;
        }
        action
    }
}

/// Whether `p` ends in an extension the loaders read.
fn has_data_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| DATA_EXTENSIONS.iter().any(|d| d.eq_ignore_ascii_case(e)))
}
