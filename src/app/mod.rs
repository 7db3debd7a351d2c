//! The desktop application (egui/eframe). GUI code only: the numerics live
//! in the library and long work runs on [`worker`] threads.
//!
//! Structure: [`IsingScopeApp`] is the shell (menu, tabs, status bar,
//! sessions, jobs). Each tab is a struct holding view state only, in its
//! own file, with a `ui` method that reads the model state ([`AppModel`])
//! and returns [`Command`]s; the shell applies them at the end of the frame.
//! Worker events are drained in `App::logic`, drawing happens in `App::ui`.

pub mod couplings_tab;
pub mod data_tab;
pub mod dataset;
pub mod file_picker;
pub mod fit_tab;
pub mod lessons;
pub mod meanfield_lab;
pub mod phase_lab;
pub mod plots;
pub mod psth_tab;
pub mod raster_tab;
pub mod session;
pub mod state_space_tab;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use dataset::{Dataset, FittedModel};
use worker::{Job, Wake};

/// The tabs, in display order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tab {
    /// Open files, binning, unit table.
    Data,
    /// Units × time raster.
    Raster,
    /// Coupling heatmaps.
    Couplings,
    /// Fit couplings and check the fit.
    Fit,
    /// The phase-transition lab.
    PhaseLab,
    /// Plefka approximations against the true dynamics.
    MeanFieldLab,
    /// The state-space model.
    StateSpace,
    /// Trial-averaged rates (PSTH) by condition.
    Psth,
}

impl Tab {
    /// All tabs in order.
    pub const ALL: [Tab; 8] = [
        Tab::Data,
        Tab::Raster,
        Tab::Psth,
        Tab::Couplings,
        Tab::Fit,
        Tab::PhaseLab,
        Tab::MeanFieldLab,
        Tab::StateSpace,
    ];
    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Data => "Data",
            Tab::Raster => "Raster",
            Tab::Couplings => "Couplings",
            Tab::Fit => "Fit",
            Tab::PhaseLab => "Phase lab",
            Tab::MeanFieldLab => "Mean-field lab",
            Tab::StateSpace => "State space",
            Tab::Psth => "PSTH",
        }
    }
}

/// Model state shared by the tabs: what is loaded and fitted.
#[derive(Default)]
pub struct AppModel {
    /// The current dataset.
    pub dataset: Option<Arc<Dataset>>,
    /// The latest fit of the current dataset.
    pub fit: Option<FittedModel>,
    /// Display order of units (raster rows, heatmap rows and columns).
    pub order: Vec<usize>,
    /// Bumped when the dataset changes.
    pub generation: u64,
    /// Which trials the PSTH, Fit and State space tabs use.
    pub condition: dataset::ConditionFilter,
    /// The raster of the trials `condition` keeps (None: all trials, or
    /// the filter does not apply to the dataset), rebuilt when either
    /// changes.
    pub condition_raster: Option<Arc<crate::spikes::SpikeRaster>>,
    /// The trials the current fit used: "all 60 trials" or
    /// "stimulus = A: 20 of 60 trials".
    pub fit_trials: Option<String>,
    /// The latest fit of each set of trials of this dataset (one per
    /// condition label), to compare conditions' couplings.
    pub condition_fits: Vec<dataset::ConditionFit>,
}

impl AppModel {
    /// Apply a condition filter: rebuild the filtered raster. An error
    /// (one line) leaves the filter off.
    pub fn set_condition(&mut self, filter: dataset::ConditionFilter) -> Result<(), String> {
        self.condition_raster = None;
        let Some(ds) = &self.dataset else {
            self.condition = filter;
            return Ok(());
        };
        match ds.condition_trials(&filter) {
            Ok(None) => {
                self.condition = filter;
                Ok(())
            }
            Ok(Some(trials)) => {
                let r =
                    crate::psth::select_trials(&ds.raster, &trials).map_err(|e| e.to_string())?;
                self.condition_raster = Some(Arc::new(r));
                self.condition = filter;
                Ok(())
            }
            Err(e) => {
                self.condition = dataset::ConditionFilter::default();
                Err(e)
            }
        }
    }

    /// The raster the analyses use (the condition's trials, or all) and
    /// its bin width, seconds.
    pub fn analysis_raster(&self) -> Option<(Arc<crate::spikes::SpikeRaster>, f64)> {
        let ds = self.dataset.as_ref()?;
        Some((
            self.condition_raster
                .clone()
                .unwrap_or_else(|| ds.raster.clone()),
            ds.bin_seconds,
        ))
    }
}

/// Requests from the tabs, applied by the shell after drawing.
#[derive(Debug)]
#[must_use]
pub enum Command {
    /// Load (and bin) a data file in the background.
    Load(data_tab::LoadRequest),
    /// Generate a simulated demo dataset.
    Simulate(data_tab::SimulateRequest),
    /// Run a fit of the current dataset.
    Fit(fit_tab::FitRequest),
    /// Open a fit folder (J.csv, H.csv, e.g. merged from cluster shards)
    /// for the current dataset and check it.
    OpenFitFolder(PathBuf),
    /// Cancel the running job.
    CancelJob,
    /// Show the native file dialog (off the UI thread).
    OpenFileDialog,
    /// Save the session to a file.
    SaveSession(PathBuf),
    /// Open a session file.
    OpenSession(PathBuf),
    /// Switch tab.
    ShowTab(Tab),
    /// Set the unit display order.
    SetOrder(Vec<usize>),
    /// Use only the trials of one condition (PSTH, Fit, State space).
    SetCondition(dataset::ConditionFilter),
}

/// A job the shell runs in the background.
enum RunningJob {
    Load(Job<Dataset>),
    Fit(Job<FittedModel>),
}

/// Persisted across runs (eframe storage): preferences, not data.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Preferences {
    /// Dark theme (else light).
    pub dark: bool,
    /// Most recent data files, newest first.
    pub recent_files: Vec<PathBuf>,
    /// The last session, restored at start-up.
    pub last_session: Option<session::Session>,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            dark: true,
            recent_files: Vec::new(),
            last_session: None,
        }
    }
}

/// The application shell.
pub struct IsingScopeApp {
    prefs: Preferences,
    tab: Tab,
    model: AppModel,
    data: data_tab::DataTab,
    raster: raster_tab::RasterTab,
    couplings: couplings_tab::CouplingsTab,
    fit: fit_tab::FitTab,
    phase_lab: phase_lab::PhaseLab,
    meanfield_lab: meanfield_lab::MeanFieldLab,
    state_space: state_space_tab::StateSpaceTab,
    psth: psth_tab::PsthTab,
    job: Option<RunningJob>,
    /// Messages for the user (errors name the file and the problem).
    message: Option<(bool, String)>,
    session_path: String,
    /// A fit from a session, applied when its dataset has loaded.
    pending_fit: Option<session::SavedFit>,
    /// A unit order from a session, applied with its dataset.
    pending_order: Option<Vec<usize>>,
    /// Presentation mode as last seen (sessions save it) and a session's
    /// request to change it (applied where the egui context is at hand).
    presentation: (bool, Option<bool>),
    /// The enlarged plot as last seen, and a session's request.
    enlarged: (Option<String>, Option<Option<String>>),
    /// A raster view from a session, applied with its dataset (loading
    /// resets the view, so it must come after).
    pending_raster_view: Option<raster_tab::RasterViewState>,
    /// The settings of the fit job that runs (None: an opened folder).
    running_fit_settings: Option<fit_tab::FitRequest>,
    /// The settings the current fit was made with (saved in sessions).
    fit_settings_of_current: Option<fit_tab::FitRequest>,
    /// The restored fit's settings, waiting for its dataset.
    pending_fit_settings: Option<fit_tab::FitRequest>,
    /// The trials of the running fit, in words (see `AppModel::fit_trials`).
    pending_fit_trials: Option<String>,
    /// Start a fit (default settings) once the next dataset has loaded.
    pub fit_after_load: bool,
    /// Result messages of window captures (written off the UI thread).
    capture_rx: Option<std::sync::mpsc::Receiver<Result<String, String>>>,
    wake: Wake,
    /// Frames drawn, for the responsiveness test.
    pub frames: u64,
    /// Where the current tab's scrolled body was drawn last frame (tests).
    pub tab_viewport: Option<TabViewport>,
}

/// The visible part of a scrolling tab body, in points.
#[derive(Clone, Copy, Debug)]
pub struct TabViewport {
    /// The visible rectangle.
    pub rect: egui::Rect,
    /// Height of everything the tab laid out.
    pub content_height: f32,
    /// How far it is scrolled down.
    pub offset: f32,
}

/// Where the app starts.
#[derive(Clone, Debug, Default)]
pub enum Startup {
    /// The bundled demo recording (first-time users see real data).
    #[default]
    Demo,
    /// A file given on the command line.
    File(PathBuf),
    /// Nothing (tests).
    Empty,
}

impl IsingScopeApp {
    /// Build the app: restore preferences and start loading `startup`.
    pub fn new(cc: &eframe::CreationContext<'_>, startup: Startup) -> Self {
        let prefs: Preferences = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let ctx = cc.egui_ctx.clone();
        let wake: Wake = Arc::new(move || ctx.request_repaint());
        let mut app = Self {
            prefs,
            tab: Tab::Data,
            model: AppModel::default(),
            data: data_tab::DataTab::default(),
            raster: raster_tab::RasterTab::default(),
            couplings: couplings_tab::CouplingsTab::default(),
            fit: fit_tab::FitTab::default(),
            phase_lab: phase_lab::PhaseLab::default(),
            meanfield_lab: meanfield_lab::MeanFieldLab::default(),
            state_space: state_space_tab::StateSpaceTab::default(),
            psth: psth_tab::PsthTab::default(),
            job: None,
            message: None,
            session_path: "session.ron".into(),
            pending_fit: None,
            pending_order: None,
            presentation: (false, None),
            enlarged: (None, None),
            pending_raster_view: None,
            running_fit_settings: None,
            fit_settings_of_current: None,
            pending_fit_settings: None,
            pending_fit_trials: None,
            fit_after_load: false,
            capture_rx: None,
            wake,
            frames: 0,
            tab_viewport: None,
        };
        app.apply_theme(&cc.egui_ctx);
        match startup {
            // No arguments: always the bundled recording, as `--help` and
            // the README say; the last session is one click away
            // (File → Reopen last session).
            Startup::Demo => app.start_load(data_tab::LoadRequest::demo()),
            Startup::File(path) => {
                if path.extension().is_some_and(|e| e == "ron") {
                    app.open_session(&path);
                } else {
                    let req = data_tab::LoadRequest {
                        path,
                        ..app.data.request_template()
                    };
                    app.start_load(req);
                }
            }
            Startup::Empty => {}
        }
        app
    }

    fn apply_theme(&self, ctx: &egui::Context) {
        ctx.set_theme(if self.prefs.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
    }

    /// Switch to a tab.
    pub fn show_tab(&mut self, tab: Tab) {
        self.tab = tab;
    }

    /// The current model state (read-only; for tests).
    pub fn model(&self) -> &AppModel {
        &self.model
    }

    /// The Couplings tab (for tests).
    pub fn couplings(&self) -> &couplings_tab::CouplingsTab {
        &self.couplings
    }

    /// The Data tab (for tests).
    pub fn data(&self) -> &data_tab::DataTab {
        &self.data
    }

    /// The Fit tab (for tests).
    pub fn fit_tab(&self) -> &fit_tab::FitTab {
        &self.fit
    }

    /// The state-space tab (for tests).
    pub fn state_space(&self) -> &state_space_tab::StateSpaceTab {
        &self.state_space
    }

    /// The Mean-field lab (for tests).
    pub fn meanfield_lab(&self) -> &meanfield_lab::MeanFieldLab {
        &self.meanfield_lab
    }

    /// The raster tab, mutable (for tests that set the view directly).
    pub fn raster_mut(&mut self) -> &mut raster_tab::RasterTab {
        &mut self.raster
    }
    /// Set the condition filter as the PSTH tab's selectors do (tests).
    pub fn set_condition(&mut self, filter: dataset::ConditionFilter) {
        self.apply(Command::SetCondition(filter));
    }
    /// The PSTH tab (tests read its values).
    pub fn psth(&self) -> &psth_tab::PsthTab {
        &self.psth
    }
    /// The PSTH tab, mutable (tests set its view directly).
    pub fn psth_mut(&mut self) -> &mut psth_tab::PsthTab {
        &mut self.psth
    }

    /// The phase lab, mutable (for tests that set view options directly).
    pub fn phase_lab_mut(&mut self) -> &mut phase_lab::PhaseLab {
        &mut self.phase_lab
    }

    /// The phase lab (for tests).
    pub fn phase_lab(&self) -> &phase_lab::PhaseLab {
        &self.phase_lab
    }

    /// The message shown to the user, if any (for tests).
    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|(_, m)| m.as_str())
    }

    /// Whether a background job is running.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Refuse to start a job while another runs (the user cancels first):
    /// replacing a running job would have to wait for it on the UI thread.
    fn refuse_if_busy(&mut self) -> bool {
        if let Some(job) = &self.job {
            let label = match job {
                RunningJob::Load(j) => j.label.clone(),
                RunningJob::Fit(j) => j.label.clone(),
            };
            self.message = Some((
                true,
                format!("{label} is still running: wait for it or press Cancel first."),
            ));
            true
        } else {
            false
        }
    }

    fn start_load(&mut self, req: data_tab::LoadRequest) {
        if self.refuse_if_busy() {
            return;
        }
        // A session's fit and unit order belong to the session's own load.
        self.pending_fit = None;
        self.pending_order = None;
        self.pending_raster_view = None;
        self.pending_fit_settings = None;
        self.data.apply_request(&req);
        self.data.pending_request = Some(req.clone());
        let job = Job::spawn(
            format!("Loading {}", req.display_name()),
            self.wake.clone(),
            move |ctx| data_tab::load_dataset(&req, ctx),
        );
        self.job = Some(RunningJob::Load(job));
    }

    fn start_simulation(&mut self, req: data_tab::SimulateRequest) {
        if self.refuse_if_busy() {
            return;
        }
        self.pending_fit = None;
        self.pending_order = None;
        self.pending_raster_view = None;
        self.pending_fit_settings = None;
        self.data.pending_request = None;
        let job = Job::spawn("Simulating", self.wake.clone(), move |ctx| {
            data_tab::simulate_dataset(&req, ctx)
        });
        self.job = Some(RunningJob::Load(job));
    }

    fn start_fit(&mut self, req: fit_tab::FitRequest) {
        if self.refuse_if_busy() {
            return;
        }
        let Some(ds) = self.model.dataset.clone() else {
            self.message = Some((true, "Load a dataset before fitting.".into()));
            return;
        };
        self.running_fit_settings = Some(req.clone());
        // Only the trials of the chosen condition (PSTH tab), if any.
        let trials = match ds.condition_trials(&self.model.condition) {
            Ok(t) => t,
            Err(e) => {
                self.message = Some((true, e));
                return;
            }
        };
        let total = ds.raster.n_trials();
        self.pending_fit_trials = Some(match &trials {
            Some(t) => format!(
                "{}: {} of {total} trials",
                self.model.condition.describe(),
                t.len()
            ),
            None => format!("all {total} trials"),
        });
        let condition = self.model.condition.describe();
        let job = Job::spawn(
            format!("Fitting ({})", req.method.title()),
            self.wake.clone(),
            move |ctx| match trials {
                Some(t) => fit_tab::run_fit(&req, &ds.subset_trials(&t, &condition)?, ctx),
                None => fit_tab::run_fit(&req, &ds, ctx),
            },
        );
        self.job = Some(RunningJob::Fit(job));
    }

    fn open_fit_folder(&mut self, dir: PathBuf) {
        if self.refuse_if_busy() {
            return;
        }
        let Some(ds) = self.model.dataset.clone() else {
            self.message = Some((true, "Load the raster the fit came from first.".into()));
            return;
        };
        self.running_fit_settings = None;
        let job = Job::spawn("Opening fit folder", self.wake.clone(), move |ctx| {
            fit_tab::load_fit_folder(&dir, &ds, ctx)
        });
        self.job = Some(RunningJob::Fit(job));
    }

    fn poll_job(&mut self) {
        let Some(job) = &mut self.job else { return };
        match job {
            RunningJob::Load(j) => {
                if let Some(r) = j.poll() {
                    self.job = None;
                    match r {
                        Ok(ds) => {
                            self.data.last_request = self.data.pending_request.take();
                            self.set_dataset(ds);
                            if std::mem::take(&mut self.fit_after_load) {
                                self.start_fit(self.fit.settings());
                            }
                        }
                        // The previous dataset stays loaded.
                        Err(e) => {
                            self.pending_fit = None;
                            self.pending_order = None;
                            self.pending_raster_view = None;
                            self.pending_fit_settings = None;
                            self.message = Some((true, e));
                        }
                    }
                }
            }
            RunningJob::Fit(j) => {
                if let Some(r) = j.poll() {
                    let restored = j.label == RECHECK_LABEL;
                    self.job = None;
                    match r {
                        Ok(mut fit) => {
                            self.model.fit_trials = self.pending_fit_trials.take();
                            self.model.generation += 1;
                            fit.generation = self.model.generation * 1000 + 1;
                            let warning = fit.check.as_ref().and_then(|c| c.warning.clone());
                            let mismatch =
                                fit.check.as_ref().and_then(|c| c.moments_mismatch.clone());
                            if let Some(label) = &self.model.fit_trials {
                                self.model.condition_fits.retain(|c| &c.label != label);
                                self.model.condition_fits.push(dataset::ConditionFit {
                                    label: label.clone(),
                                    method: fit.method.clone(),
                                    j: fit.j.clone(),
                                    generation: fit.generation,
                                });
                            }
                            self.model.fit = Some(fit);
                            self.fit_settings_of_current = self.running_fit_settings.take();
                            self.message = Some(match warning {
                                Some(w) => (true, format!("Fit finished with a warning: {w}")),
                                None => {
                                    let done = if restored {
                                        "Restored the session's fit and its checks."
                                    } else {
                                        "Fit finished."
                                    };
                                    match mismatch {
                                        Some(m) => (true, format!("{done} Model check: {m}")),
                                        None => (false, done.into()),
                                    }
                                }
                            });
                        }
                        Err(e) => self.message = Some((true, e)),
                    }
                }
            }
        }
    }

    fn set_dataset(&mut self, ds: Dataset) {
        if let Some(p) = &ds.source {
            self.prefs.recent_files.retain(|q| q != p);
            self.prefs.recent_files.insert(0, p.clone());
            self.prefs.recent_files.truncate(10);
        }
        self.message = Some((false, format!("Loaded {}", ds.summary())));
        let n = ds.raster.n_units();
        self.model.order = match self.pending_order.take() {
            Some(o)
                if o.len() == n && {
                    let mut seen = vec![false; n];
                    o.iter()
                        .all(|&i| i < n && !std::mem::replace(&mut seen[i], true))
                } =>
            {
                o
            }
            _ => (0..n).collect(),
        };
        self.model.generation += 1;
        self.model.fit = self
            .pending_fit
            .take()
            .and_then(|f| f.to_fit(ds.raster.n_units()))
            .map(|mut f| {
                f.generation = self.model.generation * 1000 + 1;
                f
            });
        let fit_settings = self.pending_fit_settings.take();
        self.fit_settings_of_current = fit_settings.clone();
        match self.pending_raster_view.take() {
            Some(v) => self.raster.apply_view_state(&v),
            None => self.raster.reset_view(),
        }
        let ds = Arc::new(ds);
        self.model.dataset = Some(ds.clone());
        self.model.fit_trials = None;
        self.model.condition_fits.clear();
        // The condition filter (e.g. from a session) applies to the new
        // trials if their table has it; else it is dropped with a message.
        let condition = self.model.condition.clone();
        if let Err(e) = self.model.set_condition(condition) {
            self.message = Some((true, format!("condition filter dropped: {e}")));
        }
        // A restored fit comes back with its checks (the model check and
        // log-likelihoods), recomputed from the saved J and H.
        // (Not when a new fit follows the load anyway.)
        if let Some(saved) = self.model.fit.clone()
            && !self.fit_after_load
        {
            let req = fit_settings.clone().unwrap_or(fit_tab::FitSettings {
                holdout: false,
                ..self.fit.settings()
            });
            self.running_fit_settings = fit_settings;
            let job = Job::spawn(RECHECK_LABEL, self.wake.clone(), move |ctx| {
                fit_tab::recheck_fit(saved, &req, &ds, ctx)
            });
            self.job = Some(RunningJob::Fit(job));
        }
    }

    fn current_session(&self) -> session::Session {
        session::Session {
            // Absolute paths: a session opened from another working
            // directory must find the same files.
            data_path: self
                .model
                .dataset
                .as_ref()
                .and_then(|d| d.source.clone())
                .map(absolute),
            load: self.data.last_request.clone().map(|mut r| {
                if !r.path.as_os_str().is_empty() {
                    r.path = absolute(r.path);
                }
                r
            }),
            tab: self.tab,
            fit: self.fit.settings(),
            raster: self.raster.view_state(),
            couplings_threshold: self.couplings.threshold,
            order: self.model.order.clone(),
            phase_lab: self.phase_lab.settings.clone(),
            fitted: self.model.fit.as_ref().map(session::SavedFit::from_fit),
            fitted_settings: self
                .model
                .fit
                .as_ref()
                .and(self.fit_settings_of_current.clone()),
            data_view: self.data.view_state(),
            couplings_view: self.couplings.view_state(),
            state_space: self.state_space.view_state(),
            meanfield_lab: self.meanfield_lab.settings.clone(),
            presentation: self.presentation.0,
            enlarged_plot: self.enlarged.0.clone(),
            psth: self.psth.view_state(),
            condition: self.model.condition.clone(),
        }
    }

    fn apply_session(&mut self, s: session::Session) {
        self.tab = s.tab;
        self.fit.apply_settings(&s.fit);
        self.raster.apply_view_state(&s.raster);
        self.psth.apply_view_state(&s.psth);
        // Checked against the trials when the session's data have loaded.
        self.model.condition = s.condition.clone();
        self.couplings.threshold = s.couplings_threshold;
        self.presentation.1 = Some(s.presentation);
        self.enlarged.1 = Some(s.enlarged_plot.clone());
        self.couplings.apply_view_state(&s.couplings_view);
        self.data.apply_view_state(&s.data_view);
        self.state_space.apply_view_state(&s.state_space);
        self.phase_lab.apply_settings(s.phase_lab.clone());
        let (lab, dropped) = s.meanfield_lab.clone().validated();
        self.meanfield_lab.settings = lab;
        if !dropped.is_empty() {
            self.message = Some((
                true,
                format!(
                    "session: Mean-field lab settings out of range were reset: {}",
                    dropped.join(", ")
                ),
            ));
        }
        if let Some(req) = s.load {
            if req.path.as_os_str().is_empty() || req.path.exists() {
                self.start_load(req);
                // Applied when (and only if) this load succeeds.
                if self.busy() {
                    self.pending_fit = s.fitted.clone();
                    self.pending_order = Some(s.order.clone());
                    self.pending_raster_view = Some(s.raster.clone());
                    self.pending_fit_settings = s.fitted_settings.clone();
                }
            } else {
                self.message = Some((
                    true,
                    format!(
                        "The session refers to {}, which does not exist; open the data file again.",
                        req.path.display()
                    ),
                ));
            }
        }
    }

    fn open_session(&mut self, path: &std::path::Path) {
        match session::Session::load_validated(path) {
            Ok((s, dropped)) => {
                self.session_path = path.display().to_string();
                self.apply_session(s);
                if !dropped.is_empty() {
                    self.message = Some((
                        true,
                        format!(
                            "{}: out-of-range values were reset: {}",
                            path.display(),
                            dropped.join("; ")
                        ),
                    ));
                }
            }
            Err(e) => self.message = Some((true, e)),
        }
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Load(req) => self.start_load(req),
            Command::Simulate(req) => self.start_simulation(req),
            Command::Fit(req) => self.start_fit(req),
            Command::OpenFitFolder(dir) => self.open_fit_folder(dir),
            Command::CancelJob => match &self.job {
                Some(RunningJob::Load(j)) => j.cancel(),
                Some(RunningJob::Fit(j)) => j.cancel(),
                None => {}
            },
            Command::SaveSession(path) => match self.current_session().save(&path) {
                Ok(()) => {
                    self.message = Some((false, format!("Session saved to {}", path.display())))
                }
                Err(e) => self.message = Some((true, e)),
            },
            Command::OpenSession(path) => self.open_session(&path),
            Command::ShowTab(t) => self.tab = t,
            Command::OpenFileDialog => self.data.open_dialog(self.wake.clone()),
            Command::SetOrder(o) => {
                if o.len() == self.model.order.len() {
                    self.model.order = o;
                }
            }
            Command::SetCondition(f) => {
                if let Err(e) = self.model.set_condition(f) {
                    self.message = Some((true, e));
                }
            }
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open data file…").clicked() {
                    self.data.open_dialog(self.wake.clone());
                    self.tab = Tab::Data;
                    ui.close();
                }
                if ui.button("Open demo recording").clicked() {
                    commands.push(Command::Load(data_tab::LoadRequest::demo()));
                    ui.close();
                }
                ui.menu_button("Recent files", |ui| {
                    for p in self.prefs.recent_files.clone() {
                        if ui.button(p.display().to_string()).clicked() {
                            commands.push(Command::Load(data_tab::LoadRequest {
                                path: p,
                                ..self.data.request_template()
                            }));
                            ui.close();
                        }
                    }
                });
                ui.separator();
                if ui.button("Save session").clicked() {
                    commands.push(Command::SaveSession(PathBuf::from(&self.session_path)));
                    ui.close();
                }
                if ui.button("Open session").clicked() {
                    commands.push(Command::OpenSession(PathBuf::from(&self.session_path)));
                    ui.close();
                }
                let last = self.prefs.last_session.clone();
                if ui
                    .add_enabled(last.is_some(), egui::Button::new("Reopen last session"))
                    .on_hover_text("the state the app was in when it was last closed")
                    .clicked()
                    && let Some(s) = last
                {
                    self.apply_session(s);
                    ui.close();
                }
                ui.separator();
                if ui.button("Save window as PNG").clicked() {
                    self.capture_window(ui.ctx());
                    ui.close();
                }
                ui.separator();
                if ui
                    .add(egui::Button::new("Quit").shortcut_text("Ctrl+Q"))
                    .clicked()
                {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                if ui.checkbox(&mut self.prefs.dark, "Dark theme").changed() {
                    self.apply_theme(ui.ctx());
                }
                let mut on = plots::presentation(ui.ctx());
                if ui
                    .add(egui::Checkbox::new(&mut on, "Presentation mode"))
                    .on_hover_text(
                        "large fonts and thick lines for a lecture hall (F5); \
                         every plot's Enlarge button shows it over the whole window",
                    )
                    .changed()
                {
                    plots::set_presentation(ui.ctx(), on);
                }
            });
            ui.separator();
            let l = ui.label("Session file:");
            ui.add(
                egui::TextEdit::singleline(&mut self.session_path)
                    .desired_width(220.0)
                    .hint_text("session.ron"),
            )
            .labelled_by(l.id);
        });
    }

    fn status_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        ui.horizontal(|ui| {
            match &self.model.dataset {
                Some(ds) => ui.label(ds.summary()),
                None => ui.label("No dataset loaded"),
            };
            if let Some(job) = &self.job {
                let (label, fraction) = match job {
                    RunningJob::Load(j) => (&j.label, j.fraction()),
                    RunningJob::Fit(j) => (&j.label, j.fraction()),
                };
                ui.separator();
                ui.spinner();
                ui.label(label);
                ui.add(
                    egui::ProgressBar::new(fraction)
                        .desired_width(160.0)
                        .show_percentage(),
                );
                if ui.button("Cancel").clicked() {
                    commands.push(Command::CancelJob);
                }
            }
            if let Some((is_error, msg)) = &self.message {
                ui.separator();
                let color = if *is_error {
                    ui.visuals().error_fg_color
                } else {
                    ui.visuals().weak_text_color()
                };
                ui.colored_label(color, msg);
            }
        });
    }

    fn shortcuts(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) {
        let open = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::O);
        let save = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::S);
        if ctx.input_mut(|i| i.consume_shortcut(&open)) {
            self.data.open_dialog(self.wake.clone());
            self.tab = Tab::Data;
        }
        if ctx.input_mut(|i| i.consume_shortcut(&save)) {
            commands.push(Command::SaveSession(PathBuf::from(&self.session_path)));
        }
        let quit = egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::Q);
        if ctx.input_mut(|i| i.consume_shortcut(&quit)) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::F5)) {
            plots::set_presentation(ctx, !plots::presentation(ctx));
        }
        // Space plays/pauses where something plays, unless typing.
        let typing = ctx.memory(|m| m.focused().is_some());
        if !typing && ctx.input(|i| i.key_pressed(egui::Key::Space)) {
            match self.tab {
                Tab::PhaseLab => self.phase_lab.toggle_play(),
                Tab::StateSpace => self.state_space.playing = !self.state_space.playing,
                _ => {}
            }
        }
    }

    /// Capture the window (with every plot in it) to
    /// `isingscope-<tab>.png` next to the session file.
    fn capture_window(&mut self, ctx: &egui::Context) {
        let dir = std::path::Path::new(&self.session_path)
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let slug = self.tab.title().to_lowercase().replace(' ', "-");
        let path = dir.join(format!("isingscope-{slug}.png"));
        let (tx, rx) = std::sync::mpsc::channel();
        let wake = self.wake.clone();
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
            egui::ScreenshotCallback::new(move |img| {
                let r = plots::save_color_image(&path, &img)
                    .map(|()| format!("Saved {}", path.display()));
                let _ = tx.send(r);
                wake();
            }),
        ));
        self.capture_rx = Some(rx);
    }

    fn fit_trace(&self) -> Option<&[f64]> {
        match &self.job {
            Some(RunningJob::Fit(j)) => Some(&j.trace),
            _ => None,
        }
    }
}

impl eframe::App for IsingScopeApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll_job();
        if let Some(on) = self.presentation.1.take() {
            plots::set_presentation(ctx, on);
        }
        self.presentation.0 = plots::presentation(ctx);
        if let Some(id) = self.enlarged.1.take() {
            plots::set_enlarged(ctx, id.as_deref());
        }
        self.enlarged.0 = plots::enlarged(ctx);
        self.phase_lab.logic(&self.wake);
        self.meanfield_lab.logic();
        self.state_space.logic(ctx);
        if let Some(rx) = &self.capture_rx
            && let Ok(r) = rx.try_recv()
        {
            self.message = Some(match r {
                Ok(m) => (false, m),
                Err(e) => (true, e),
            });
            self.capture_rx = None;
        }
        if let Some(path) = self.data.poll_dialog() {
            let req = data_tab::LoadRequest {
                path,
                ..self.data.request_template()
            };
            self.apply(Command::Load(req));
        }
        // Drag and drop of a file or a Kilosort folder.
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(path) = dropped.into_iter().next() {
            let req = data_tab::LoadRequest {
                path,
                ..self.data.request_template()
            };
            self.apply(Command::Load(req));
            self.tab = Tab::Data;
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frames += 1;
        let mut commands = Vec::new();
        self.shortcuts(ui.ctx(), &mut commands);
        egui::Panel::top("menu").show(ui, |ui| {
            self.menu_ui(ui, &mut commands);
            ui.horizontal(|ui| {
                for t in Tab::ALL {
                    ui.selectable_value(&mut self.tab, t, t.title());
                }
            });
        });
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui, &mut commands));
        egui::CentralPanel::default().show(ui, |ui| {
            // The phase lab lays out its own panels and the Mean-field lab
            // and PSTH tabs scroll themselves; every other tab scrolls here, so at any window
            // size its last widget is reachable (the wheel over a plot that
            // does not zoom scrolls the page).
            if matches!(self.tab, Tab::PhaseLab | Tab::MeanFieldLab | Tab::Psth) {
                self.tab_viewport = None;
                self.tab_body_ui(ui, &mut commands);
            } else {
                // A solid bar with its own gutter: a floating one is drawn
                // over the right edge of the tab's text.
                ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
                let out = egui::ScrollArea::vertical()
                    .id_salt(("tab_scroll", self.tab.title()))
                    .auto_shrink(false)
                    .show(ui, |ui| self.tab_body_ui(ui, &mut commands));
                self.tab_viewport = Some(TabViewport {
                    rect: out.inner_rect,
                    content_height: out.content_size.y,
                    offset: out.state.clamped_offset().y,
                });
            }
        });
        for c in commands {
            self.apply(c);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.prefs.last_session = Some(self.current_session());
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }
}

impl IsingScopeApp {
    /// The current tab's body (inside the central panel).
    fn tab_body_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let busy = self.job.is_some();
        let trace = self.fit_trace().map(|t| t.to_vec());
        match self.tab {
            Tab::Data => self.data.ui(ui, &self.model, busy, commands),
            Tab::Raster => self.raster.ui(ui, &self.model, commands),
            Tab::Psth => self.psth.ui(ui, &self.model, commands),
            Tab::Couplings => self.couplings.ui(ui, &self.model, commands),
            Tab::Fit => self
                .fit
                .ui(ui, &self.model, busy, trace.as_deref(), commands),
            Tab::PhaseLab => self.phase_lab.ui(ui, &self.wake),
            Tab::MeanFieldLab => {
                let fitted = self.model.fit.as_ref().map(|f| (f.h.clone(), f.j.clone()));
                self.meanfield_lab.ui(ui, fitted, &self.wake)
            }
            Tab::StateSpace => {
                // The condition's trials when a filter is set (PSTH tab).
                let loaded = self.model.analysis_raster();
                self.state_space.event_offset_s = self
                    .model
                    .dataset
                    .as_ref()
                    .and_then(|d| d.trials.as_ref())
                    .map(|t| t.pre_s);
                self.state_space.ui(ui, loaded, &self.wake)
            }
        }
    }
}

/// The job that recomputes a restored fit's checks.
const RECHECK_LABEL: &str = "Checking the restored fit";

/// `p` made absolute (canonical when it exists).
fn absolute(p: PathBuf) -> PathBuf {
    std::fs::canonicalize(&p)
        .or_else(|_| std::path::absolute(&p))
        .unwrap_or(p)
}

/// Open the app window and run until it is closed; `tab` is shown first.
pub fn run(file: Option<PathBuf>, tab: Option<Tab>, fit: bool) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title("isingscope")
            .with_drag_and_drop(true),
        ..Default::default()
    };
    let startup = match file {
        Some(p) => Startup::File(p),
        None => Startup::Demo,
    };
    eframe::run_native(
        "isingscope",
        options,
        Box::new(move |cc| {
            let mut app = IsingScopeApp::new(cc, startup);
            if let Some(t) = tab {
                app.show_tab(t);
            }
            if fit && app.tab == Tab::MeanFieldLab {
                // The Mean-field lab's sweep with its current settings.
                app.meanfield_lab.start(None, &app.wake);
            } else if fit && app.tab == Tab::StateSpace {
                // The state-space fit of synthetic trials (no data needed).
                app.state_space.start_synthetic(&app.wake);
            } else {
                app.fit_after_load = fit;
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("could not open the app window: {e}"))
}
