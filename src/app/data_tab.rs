//! The Data tab: open a recording (dialog, drag-and-drop, typed path, or the
//! bundled demo), choose binning and units, see the unit table.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, channel};

use rand::SeedableRng;

use super::dataset::{Dataset, GroundTruth};
use super::worker::{JobContext, Wake, message};
use super::{AppModel, Command};
use crate::io::binning::{Alignment, BinOptions, UnitSelection, bin_spikes};
use crate::io::spike_trains::Quality;
use crate::io::{LoadOptions, Loaded, Orientation, load_path};
use crate::model::SkParams;
use crate::model::simulate::{InitialState, SimulationOptions, simulate};

/// How to load and bin a file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoadRequest {
    /// The file or Kilosort folder. Empty: the simulated demo.
    pub path: PathBuf,
    /// Bin width in milliseconds (spike-time formats).
    pub bin_ms: f64,
    /// Start of the time window in seconds (None: the recording's start).
    pub start_s: Option<f64>,
    /// End of the time window in seconds (None: the recording's end).
    pub stop_s: Option<f64>,
    /// Keep only units with this quality label (empty: all).
    pub label: String,
    /// Keep only units firing at least this often (Hz).
    pub min_rate_hz: f64,
    /// Align trials to the starts of this intervals table (empty: one
    /// continuous trial).
    pub intervals: String,
    /// Seconds before each trial start.
    pub pre_s: f64,
    /// Seconds after each trial start.
    pub post_s: f64,
    /// Axis order of NPY/NPZ rasters: true for `(N, T)` / `(R, N, T)`.
    pub units_by_time: bool,
}

impl Default for LoadRequest {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            bin_ms: 10.0,
            start_s: None,
            stop_s: None,
            label: String::new(),
            min_rate_hz: 0.0,
            intervals: String::new(),
            pre_s: 0.5,
            post_s: 1.0,
            units_by_time: false,
        }
    }
}

impl LoadRequest {
    /// The bundled demo recording.
    pub fn demo() -> Self {
        Self::default()
    }
    /// A short name for messages.
    pub fn display_name(&self) -> String {
        if self.path.as_os_str().is_empty() {
            "the demo recording".into()
        } else {
            self.path.display().to_string()
        }
    }
}

/// Parameters of a simulated SK dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulateRequest {
    /// The network ensemble.
    pub params: SkParams,
    /// Steps per trial.
    pub steps: usize,
    /// Seed (network and spikes).
    pub seed: u64,
}

impl Default for SimulateRequest {
    fn default() -> Self {
        Self {
            params: SkParams {
                n: 40,
                j0: 0.5,
                dj: 1.0,
                h0: 0.3,
                beta: 1.0,
            },
            steps: 20_000,
            seed: 1,
        }
    }
}

/// Load and bin a file (worker thread). An empty path is the bundled demo
/// recording. Spike-time formats are binned as the request says; rasters
/// are taken as they are.
pub fn load_dataset(req: &LoadRequest, ctx: &JobContext<Dataset>) -> Result<Dataset, String> {
    let path = if req.path.as_os_str().is_empty() {
        crate::io::demo::demo_nwb_path().map_err(message)?
    } else {
        req.path.clone()
    };
    let opts = LoadOptions {
        orientation: Some(if req.units_by_time {
            Orientation::UnitsByTime
        } else {
            Orientation::TimeByUnits
        }),
        drop_empty_units: true,
        ..Default::default()
    };
    let loaded = load_path(&path, &opts).map_err(message)?;
    ctx.stop.check().map_err(message)?;
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let source = Some(req.path.clone()).filter(|p| !p.as_os_str().is_empty());
    let source = source.or(Some(path.clone()));
    match loaded {
        Loaded::Raster(raster) => {
            let n = raster.n_units();
            Ok(Dataset::new(
                name,
                source,
                raster,
                (0..n).map(|i| i.to_string()).collect(),
                Vec::new(),
                Vec::new(),
                req.bin_ms * 1e-3,
            ))
        }
        Loaded::Spikes(trains) => {
            let units = if !req.label.trim().is_empty() {
                UnitSelection::Label(Quality::parse_strict(req.label.trim()).map_err(message)?)
            } else if req.min_rate_hz > 0.0 {
                UnitSelection::MinRate(req.min_rate_hz)
            } else {
                UnitSelection::All
            };
            let bin = BinOptions {
                bin_ms: req.bin_ms,
                start: req.start_s,
                stop: req.stop_s,
                units,
            };
            let alignment = if req.intervals.trim().is_empty() {
                Alignment::Continuous
            } else {
                let table = trains.interval_table(req.intervals.trim()).ok_or_else(|| {
                    let names: Vec<&str> =
                        trains.intervals().iter().map(|t| t.name.as_str()).collect();
                    format!(
                        "{}: no intervals table '{}' (found: {})",
                        path.display(),
                        req.intervals.trim(),
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )
                })?;
                Alignment::Events {
                    times: table.start.clone(),
                    pre: req.pre_s,
                    post: req.post_s,
                }
            };
            // Each raster trial's event time and the table's columns
            // (conditions), for the PSTH view and condition filters.
            let trials = match &alignment {
                Alignment::Events { .. } => trains
                    .interval_table(req.intervals.trim())
                    .map(|t| crate::psth::TrialTable::from_intervals(t, req.pre_s)),
                Alignment::Continuous => None,
            };
            let binned = bin_spikes(&trains, &bin, &alignment).map_err(message)?;
            ctx.stop.check().map_err(message)?;
            let location = |id: i64| {
                trains
                    .index_of(id)
                    .and_then(|k| trains.units().get(k))
                    .map(|u| u.location.clone())
                    .unwrap_or_default()
            };
            let ids = binned.units.iter().map(|u| u.id.to_string()).collect();
            let labels = binned
                .units
                .iter()
                .map(|u| match u.label {
                    Quality::Unknown => String::new(),
                    q => q.as_str().to_string(),
                })
                .collect();
            let locations = binned.units.iter().map(|u| location(u.id)).collect();
            let merged = binned.merged_spikes();
            let spikes: Vec<u64> = binned.units.iter().map(|u| u.spikes).collect();
            let mut ds = Dataset::new(
                name,
                source,
                binned.raster,
                ids,
                labels,
                locations,
                binned.bin_ms * 1e-3,
            );
            ds.set_spike_counts(&spikes);
            ds.trials = trials;
            if merged > 0 {
                ds.notes.push(format!(
                    "{merged} spikes fell into a bin that already had a spike of the same unit and were merged (bins are binary); a smaller bin width keeps them apart."
                ));
            }
            let tables: Vec<String> = trains
                .intervals()
                .iter()
                .map(|t| format!("'{}' ({} intervals)", t.name, t.start.len()))
                .collect();
            if !tables.is_empty() {
                ds.notes
                    .push(format!("Interval tables: {}", tables.join(", ")));
            }
            Ok(ds)
        }
    }
}

/// Simulate an SK network (worker thread); the dataset keeps the truth.
pub fn simulate_dataset(
    req: &SimulateRequest,
    ctx: &JobContext<Dataset>,
) -> Result<Dataset, String> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(req.seed);
    let model = req.params.draw(&mut rng).map_err(message)?;
    let opts = SimulationOptions {
        steps: req.steps,
        trials: 1,
        init: InitialState::Random,
    };
    let raster = simulate(&model, &opts, &mut rng, ctx, &ctx.stop).map_err(message)?;
    let n = raster.n_units();
    let p = &req.params;
    let mut ds = Dataset::new(
        format!(
            "simulated SK (N={}, J0={}, ΔJ={}, H0={}, β={}, seed {})",
            p.n, p.j0, p.dj, p.h0, p.beta, req.seed
        ),
        None,
        raster,
        (0..n).map(|i| i.to_string()).collect(),
        Vec::new(),
        Vec::new(),
        0.01,
    );
    ds.truth = Some(GroundTruth {
        j: model.j().clone(),
        h: model.h().clone(),
        beta: model.beta(),
    });
    Ok(ds)
}

/// Columns of the unit table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SortKey {
    /// Column index in the raster.
    Column,
    /// Unit id.
    Id,
    /// Quality label.
    Label,
    /// Brain location.
    Location,
    /// Firing rate.
    Rate,
}

/// View state of the Data tab.
pub struct DataTab {
    path_text: String,
    /// Folder of a fit made elsewhere (J.csv, H.csv) to open for the raster.
    fit_dir_text: String,
    bin_ms: f64,
    label: String,
    min_rate_hz: f64,
    intervals: String,
    pre_s: f64,
    post_s: f64,
    units_by_time: bool,
    sim: SimulateRequest,
    sort: SortKey,
    descending: bool,
    dialog: Option<Receiver<Option<PathBuf>>>,
    /// When the native dialog was opened (one that closes at once with
    /// nothing is taken as "not available here").
    dialog_started: Option<std::time::Instant>,
    /// The in-app picker, when shown.
    pub picker: Option<super::file_picker::FilePicker>,
    /// A file chosen in the in-app picker, not yet loaded.
    picked: Option<PathBuf>,
    /// The request that produced the current dataset (saved in sessions).
    pub last_request: Option<LoadRequest>,
    /// The request being loaded now.
    pub pending_request: Option<LoadRequest>,
}

/// How the unit table is sorted (saved in sessions).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DataViewState {
    /// The sort column.
    pub sort: SortKey,
    /// Descending order.
    pub descending: bool,
}

impl Default for DataViewState {
    fn default() -> Self {
        Self {
            sort: SortKey::Column,
            descending: false,
        }
    }
}

impl DataTab {
    /// The unit table's sort, to save in a session.
    pub fn view_state(&self) -> DataViewState {
        DataViewState {
            sort: self.sort,
            descending: self.descending,
        }
    }
    /// Restore a saved sort.
    pub fn apply_view_state(&mut self, v: &DataViewState) {
        self.sort = v.sort;
        self.descending = v.descending;
    }
}

impl Default for DataTab {
    fn default() -> Self {
        Self {
            path_text: String::new(),
            fit_dir_text: String::new(),
            bin_ms: 10.0,
            label: String::new(),
            min_rate_hz: 0.0,
            intervals: String::new(),
            pre_s: 0.5,
            post_s: 1.0,
            units_by_time: false,
            sim: SimulateRequest::default(),
            sort: SortKey::Column,
            descending: false,
            dialog: None,
            dialog_started: None,
            picker: None,
            picked: None,
            last_request: None,
            pending_request: None,
        }
    }
}

impl DataTab {
    /// Binning settings as a request without a path.
    pub fn request_template(&self) -> LoadRequest {
        LoadRequest {
            path: PathBuf::new(),
            bin_ms: self.bin_ms,
            start_s: None,
            stop_s: None,
            label: self.label.clone(),
            min_rate_hz: self.min_rate_hz,
            intervals: self.intervals.clone(),
            pre_s: self.pre_s,
            post_s: self.post_s,
            units_by_time: self.units_by_time,
        }
    }

    /// Take the binning controls from a saved request.
    pub fn apply_request(&mut self, req: &LoadRequest) {
        self.bin_ms = req.bin_ms;
        self.label = req.label.clone();
        self.min_rate_hz = req.min_rate_hz;
        self.intervals = req.intervals.clone();
        self.pre_s = req.pre_s;
        self.post_s = req.post_s;
        self.units_by_time = req.units_by_time;
        self.path_text = req.path.display().to_string();
    }

    /// Open the native file dialog on its own thread (never blocks the UI).
    pub fn open_dialog(&mut self, wake: Wake) {
        if self.dialog.is_some() || self.picker.is_some() {
            return;
        }
        if std::env::var("ISINGSCOPE_FILE_PICKER").is_ok_and(|v| v == "builtin") {
            self.open_picker("The built-in file picker (ISINGSCOPE_FILE_PICKER=builtin).");
            return;
        }
        self.dialog_started = Some(std::time::Instant::now());
        let (tx, rx) = channel();
        let spawned = std::thread::Builder::new()
            .name("isingscope: file dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .add_filter("Spike data", &["nwb", "npy", "npz", "csv", "tsv"])
                    .add_filter("All files", &["*"])
                    .pick_file();
                let _ = tx.send(picked);
                wake();
            });
        if spawned.is_ok() {
            self.dialog = Some(rx);
        } else {
            self.open_picker("The system file dialog could not be started; pick the file here.");
        }
    }

    /// Show the in-app picker at the folder of the path typed (else the
    /// working directory).
    pub fn open_picker(&mut self, note: &str) {
        let typed = PathBuf::from(self.path_text.trim());
        let dir = if typed.is_dir() {
            Some(typed)
        } else {
            typed
                .parent()
                .filter(|p| p.is_dir())
                .map(|p| p.to_path_buf())
        };
        let dir = dir
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."));
        self.picker = Some(super::file_picker::FilePicker::new(dir, note));
    }

    /// The file picked in the dialog, once.
    pub fn poll_dialog(&mut self) -> Option<PathBuf> {
        if let Some(p) = self.picked.take() {
            self.path_text = p.display().to_string();
            return Some(p);
        }
        let rx = self.dialog.as_ref()?;
        match rx.try_recv() {
            Ok(p) => {
                self.dialog = None;
                // Nothing within half a second: no dialog was shown (no
                // desktop portal or dialog program); a person takes longer
                // to cancel one.
                let instant = self
                    .dialog_started
                    .take()
                    .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(500));
                if p.is_none() && instant {
                    self.open_picker(
                        "No system file dialog is available here (no desktop portal or dialog program answered); pick the file or Kilosort folder below.",
                    );
                }
                p
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                self.dialog = None;
                None
            }
        }
    }

    /// Draw the tab.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        model: &AppModel,
        busy: bool,
        commands: &mut Vec<Command>,
    ) {
        ui.heading("Data");
        if let Some(picker) = &mut self.picker {
            match picker.ui(ui.ctx()) {
                super::file_picker::PickerAction::None => {}
                super::file_picker::PickerAction::Picked(p) => {
                    self.picked = Some(p);
                    self.picker = None;
                }
                super::file_picker::PickerAction::Closed => self.picker = None,
            }
        }
        ui.horizontal(|ui| {
            let label = ui.label("File or folder:");
            ui.add(
                egui::TextEdit::singleline(&mut self.path_text)
                    .desired_width(420.0)
                    .hint_text("path to .nwb, .npy, .csv or a Kilosort folder"),
            )
            .labelled_by(label.id);
            if ui.add_enabled(!busy, egui::Button::new("Load")).clicked() {
                commands.push(Command::Load(LoadRequest {
                    path: PathBuf::from(self.path_text.trim()),
                    ..self.request_template()
                }));
            }
            if ui.button("Browse…").clicked() {
                commands.push(Command::OpenFileDialog);
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Open demo recording"))
                .clicked()
            {
                commands.push(Command::Load(LoadRequest::demo()));
            }
        });
        ui.label("Or drop a file or a Kilosort folder onto the window.");
        ui.horizontal(|ui| {
            let label = ui.label("Fit folder:");
            ui.add(
                egui::TextEdit::singleline(&mut self.fit_dir_text)
                    .desired_width(420.0)
                    .hint_text("J.csv + H.csv from isingscope fit or merge (cluster shards)"),
            )
            .labelled_by(label.id);
            let ready = !busy && model.dataset.is_some();
            if ui
                .add_enabled(ready, egui::Button::new("Open fit folder"))
                .on_hover_text(
                    "Show a fit made elsewhere for the loaded raster: heatmaps and model check",
                )
                .clicked()
            {
                commands.push(Command::OpenFitFolder(PathBuf::from(
                    self.fit_dir_text.trim(),
                )));
            }
        });
        ui.separator();
        ui.horizontal(|ui| {
            drag(
                ui,
                "Bin width (ms):",
                &mut self.bin_ms,
                0.01..=10_000.0,
                0.5,
            );
            let l = ui.label("Unit label:");
            ui.add(
                egui::TextEdit::singleline(&mut self.label)
                    .desired_width(60.0)
                    .hint_text("any"),
            )
            .labelled_by(l.id);
            drag(
                ui,
                "Min rate (Hz):",
                &mut self.min_rate_hz,
                0.0..=1000.0,
                0.1,
            );
            let can_rebin = model.dataset.is_some() && self.last_request.is_some();
            if ui
                .add_enabled(!busy && can_rebin, egui::Button::new("Re-bin"))
                .clicked()
            {
                let path = self
                    .last_request
                    .as_ref()
                    .map(|r| r.path.clone())
                    .unwrap_or_default();
                commands.push(Command::Load(LoadRequest {
                    path,
                    ..self.request_template()
                }));
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Trials from intervals table:");
            ui.add(
                egui::TextEdit::singleline(&mut self.intervals)
                    .desired_width(90.0)
                    .hint_text("none"),
            )
            .labelled_by(l.id);
            drag(ui, "pre (s)", &mut self.pre_s, 0.0..=1e4, 0.01);
            drag(ui, "post (s)", &mut self.post_s, 0.0..=1e4, 0.01);
            ui.checkbox(&mut self.units_by_time, "NPY/NPZ rasters are units × time");
        });
        egui::CollapsingHeader::new("Simulate an SK network").show(ui, |ui| {
            ui.horizontal(|ui| {
                let p = &mut self.sim.params;
                drag(ui, "N", &mut p.n, 2.0..=4096.0, 1.0);
                drag(ui, "J0", &mut p.j0, -10.0..=10.0, 0.01);
                drag(ui, "ΔJ", &mut p.dj, 0.0..=10.0, 0.01);
                drag(ui, "H0", &mut p.h0, 0.0..=10.0, 0.01);
                drag(ui, "β", &mut p.beta, 0.0..=10.0, 0.01);
                drag(ui, "steps", &mut self.sim.steps, 2.0..=1e8, 100.0);
                drag(ui, "seed", &mut self.sim.seed, 0.0..=1e12, 1.0);
                if ui
                    .add_enabled(!busy, egui::Button::new("Simulate"))
                    .clicked()
                {
                    commands.push(Command::Simulate(self.sim.clone()));
                }
            });
        });
        ui.separator();
        let Some(ds) = &model.dataset else {
            ui.label("No dataset loaded.");
            return;
        };
        ui.label(ds.summary());
        for note in &ds.notes {
            ui.label(note);
        }
        self.unit_table_ui(ui, ds, commands);
    }

    fn unit_table_ui(&mut self, ui: &mut egui::Ui, ds: &Dataset, commands: &mut Vec<Command>) {
        let mut clicked = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::Grid::new("unit_table").striped(true).show(ui, |ui| {
                for (key, title) in [
                    (SortKey::Column, "#"),
                    (SortKey::Id, "id"),
                    (SortKey::Label, "label"),
                    (SortKey::Location, "location"),
                    (SortKey::Rate, "rate (Hz)"),
                ] {
                    let arrow = if self.sort == key {
                        if self.descending { " (desc)" } else { " (asc)" }
                    } else {
                        ""
                    };
                    if ui.button(format!("{title}{arrow}")).clicked() {
                        clicked = Some(key);
                    }
                }
                ui.label("spikes")
                    .on_hover_text("counted from the spike times, before binning");
                ui.label("active bins")
                    .on_hover_text("fraction of the unit's bins with a spike");
                ui.end_row();
                let order = self.sorted(ds);
                for &i in order.iter().take(2000) {
                    let u = &ds.units[i];
                    ui.label(i.to_string());
                    ui.label(&u.id);
                    ui.label(&u.label);
                    ui.label(&u.location);
                    ui.label(format!("{:.2}", u.rate_hz));
                    ui.label(u.spikes.to_string());
                    ui.label(format!("{:.2} %", 100.0 * u.active_fraction));
                    ui.end_row();
                }
            });
        });
        if let Some(key) = clicked {
            if self.sort == key {
                self.descending = !self.descending;
            } else {
                self.sort = key;
                self.descending = key == SortKey::Rate;
            }
            commands.push(Command::SetOrder(self.sorted(ds)));
        }
    }

    fn sorted(&self, ds: &Dataset) -> Vec<usize> {
        let mut order: Vec<usize> = (0..ds.units.len()).collect();
        let u = &ds.units;
        match self.sort {
            SortKey::Column => {}
            SortKey::Id => order.sort_by(|&a, &b| natural(&u[a].id, &u[b].id)),
            SortKey::Label => order.sort_by(|&a, &b| u[a].label.cmp(&u[b].label)),
            SortKey::Location => order.sort_by(|&a, &b| u[a].location.cmp(&u[b].location)),
            SortKey::Rate => order.sort_by(|&a, &b| u[a].rate_hz.total_cmp(&u[b].rate_hz)),
        }
        if self.descending {
            order.reverse();
        }
        order
    }
}

/// A labelled number field (every control needs an accessible name).
pub fn drag<N: egui::emath::Numeric>(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut N,
    range: std::ops::RangeInclusive<f64>,
    speed: f64,
) -> egui::Response {
    let l = ui.label(label);
    ui.add(
        egui::DragValue::new(value)
            .range(N::from_f64(*range.start())..=N::from_f64(*range.end()))
            .speed(speed),
    )
    .labelled_by(l.id)
}

/// Numeric ids sort as numbers, others as text.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}
