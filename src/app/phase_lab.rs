//! The phase-transition lab: sliders drive a live simulation of an
//! asymmetric SK network (on [`crate::model::live`]'s thread) drawn against
//! the exact large-N theory ([`crate::sk_theory`]): m(t), q(t), σ/N(t) with
//! their stationary values, the phase diagram with the current point, and
//! sweeps that compare simulated stationary values with the theory curves.

use std::collections::VecDeque;
use std::sync::Arc;

use egui::{Color32, ColorImage, TextureHandle, TextureOptions};
use egui_plot::{
    Corner, FilledArea, HLine, Line, Plot, PlotImage, PlotPoint, PlotPoints, Points, VLine,
};
use nalgebra::DMatrix;

use super::lessons::{Lesson, Setup};
use super::plots::{
    HeatmapData, HeatmapView, diverging, enlargeable, legend, line_width, marker_radius,
    symmetric_limit,
};
use super::worker::{Job, Wake};
use crate::model::SkParams;
use crate::model::live::{
    LabCommand, LabUpdate, LabWorker, StepStats, SweepParameter, SweepPoint, SweepRequest, measure,
};
use crate::progress::NoProgress;
use crate::sk_theory::{
    GridAxis, RelaxStep, SkGrid, SkParameter, SkPoint, SkQuantity, SkStationary, critical_beta,
    critical_j0, grid, ordered_dj_limit, relax, solve_stationary,
};

/// Steps kept for the time plots.
const HISTORY: usize = 2000;
/// Columns of the scrolling raster.
const RASTER_COLUMNS: usize = 400;
/// Steps over which the displayed stationary values are averaged.
const AVERAGE_OVER: usize = 200;
/// Steps after a restart from all +1 kept for the relaxation view.
pub const START_STEPS: usize = 100;
/// Independent networks run for the expected-scatter band.
pub const BAND_NETWORKS: usize = 6;
/// Steps from all +1 before a band network is measured (as the sweep).
const BAND_BURN_IN: usize = 200;

/// Which stretch of time the m(t), q(t) plot shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimeView {
    /// The latest steps, with the stationary theory.
    #[default]
    Live,
    /// The first [`START_STEPS`] steps after a restart from all +1, with the
    /// time-dependent (relaxation) theory.
    Start,
}

/// Settings saved in sessions.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PhaseLabSettings {
    /// Network size N.
    pub n: usize,
    /// Coupling mean J0.
    pub j0: f64,
    /// Coupling spread ΔJ.
    pub dj: f64,
    /// Field half-width H0.
    pub h0: f64,
    /// Inverse temperature β.
    pub beta: f64,
    /// Seed of the network and spikes.
    pub seed: u64,
    /// Redraw the network on every change (else keep it, change β only).
    pub redraw: bool,
    /// Show σ/N (else m) in the phase diagram.
    pub diagram_sigma: bool,
    /// Sweep over J0 (else β).
    pub sweep_j0: bool,
    /// Sweep range and resolution.
    pub sweep_from: f64,
    /// End of the sweep range.
    pub sweep_to: f64,
    /// Points in the sweep.
    pub sweep_points: usize,
    /// Networks per sweep point.
    pub sweep_reps: usize,
    /// Whether the simulation runs (restored from sessions).
    pub playing: bool,
    /// Horizontal axis of the phase diagram.
    pub diagram_x: SkParameter,
    /// Vertical axis of the phase diagram (≠ `diagram_x`).
    pub diagram_y: SkParameter,
    /// What the m(t), q(t) plot shows.
    pub time_view: TimeView,
    /// Whether the lessons panel is open.
    pub show_lessons: bool,
}

impl Default for PhaseLabSettings {
    fn default() -> Self {
        Self {
            n: 512,
            j0: 1.0,
            dj: 0.5,
            h0: 0.0,
            beta: 1.0,
            seed: 1,
            redraw: true,
            diagram_sigma: false,
            sweep_j0: false,
            sweep_from: 0.2,
            sweep_to: 3.0,
            sweep_points: 8,
            sweep_reps: 4,
            playing: false,
            diagram_x: SkParameter::Beta,
            diagram_y: SkParameter::Dj,
            time_view: TimeView::Live,
            show_lessons: false,
        }
    }
}

impl PhaseLabSettings {
    fn sk(&self) -> SkParams {
        SkParams {
            n: self.n,
            j0: self.j0,
            dj: self.dj,
            h0: self.h0,
            beta: self.beta,
        }
    }
    /// The current value of a diagram parameter.
    pub fn value(&self, p: SkParameter) -> f64 {
        match p {
            SkParameter::Beta => self.beta,
            SkParameter::J0 => self.j0,
            SkParameter::Dj => self.dj,
            SkParameter::H0 => self.h0,
        }
    }
    fn point(&self) -> SkPoint {
        SkPoint {
            beta: self.beta,
            j0: self.j0,
            dj: self.dj,
            h0: self.h0,
        }
    }
}

/// The range a phase-diagram axis spans (the sliders' ranges).
pub fn axis_range(p: SkParameter) -> (f64, f64) {
    match p {
        SkParameter::Beta => (0.0, 4.0),
        SkParameter::J0 => (-0.5, 2.5),
        SkParameter::Dj => (0.0, 1.5),
        SkParameter::H0 => (0.0, 1.5),
    }
}

/// The scatter of the displayed stationary values over independent
/// networks of the current size and parameters: mean and standard deviation
/// over [`BAND_NETWORKS`] networks, each run [`BAND_BURN_IN`] steps from all
/// +1 and averaged over [`AVERAGE_OVER`] steps as the live read-out is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScatterBand {
    /// N, β, J0, ΔJ, H0 it was measured at (bit patterns).
    pub key: [u64; 5],
    /// |m|: mean, s.d. over networks.
    pub m: (f64, f64),
    /// q: mean, s.d.
    pub q: (f64, f64),
    /// σ/N: mean, s.d.
    pub sigma: (f64, f64),
}

impl ScatterBand {
    /// The range one network is expected in: mean ± 2 s.d.
    pub fn range(v: (f64, f64)) -> (f64, f64) {
        (v.0 - 2.0 * v.1, v.0 + 2.0 * v.1)
    }
}

/// Mean and sample standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// The tab's plots (for the layout).
#[derive(Clone, Copy)]
enum View {
    Raster,
    Network,
    MQ,
    Sigma,
    Diagram,
    Sweep,
}

/// Quantities of the sweep and the time plots, each with one colour for its
/// theory line, its simulated points and their error bars.
const COLOR_M: Color32 = Color32::from_rgb(66, 133, 244);
const COLOR_Q: Color32 = Color32::from_rgb(255, 145, 40);
const COLOR_SIGMA: Color32 = Color32::from_rgb(60, 180, 90);

/// The phase lab's view state and live buffers.
pub struct PhaseLab {
    /// Settings (saved in sessions).
    pub settings: PhaseLabSettings,
    worker: Option<LabWorker>,
    stats: VecDeque<StepStats>,
    columns: VecDeque<Vec<u64>>,
    /// Steps received from the worker since start (for tests, rates).
    pub steps_received: u64,
    network: Option<(Arc<DMatrix<f64>>, u64)>,
    /// The network's couplings block-averaged for display (≤ 256 × 256).
    network_shown: Option<DMatrix<f64>>,
    /// Columns received since the raster texture was last built.
    raster_dirty: bool,
    network_view: HeatmapView,
    raster_texture: Option<TextureHandle>,
    theory: Option<SkStationary>,
    beta_c: Option<f64>,
    j0_c: Option<f64>,
    theory_key: Option<[u64; 4]>,
    diagram: Option<SkGrid>,
    diagram_key: Option<[u64; 7]>,
    diagram_job: Option<Job<SkGrid>>,
    diagram_texture: Option<TextureHandle>,
    sweep: Vec<SweepPoint>,
    sweep_running: bool,
    sweep_theory: Vec<(f64, SkStationary)>,
    /// The settings the shown sweep was run with (to mark it stale).
    sweep_settings: Option<PhaseLabSettings>,
    message: Option<String>,
    rate: (std::time::Instant, u64, f64),
    /// The first [`START_STEPS`] steps after the last restart from all +1
    /// (empty when β changed on the kept network since).
    start_stats: Vec<StepStats>,
    /// The large-N relaxation from all +1 at the current parameters.
    relax_theory: Vec<RelaxStep>,
    band: Option<ScatterBand>,
    band_job: Option<(Job<ScatterBand>, [u64; 5])>,
    /// Parameters last changed at: the band waits until they settle.
    band_want: Option<([u64; 5], std::time::Instant)>,
    /// Bundled lessons, then any opened from files.
    lessons: Vec<Lesson>,
    lesson: usize,
    step: usize,
    lesson_path: String,
    lesson_message: Option<String>,
    lesson_dialog: Option<Job<Option<std::path::PathBuf>>>,
}

impl Default for PhaseLab {
    fn default() -> Self {
        Self {
            settings: PhaseLabSettings::default(),
            worker: None,
            stats: VecDeque::with_capacity(HISTORY),
            columns: VecDeque::with_capacity(RASTER_COLUMNS),
            steps_received: 0,
            network: None,
            network_shown: None,
            raster_dirty: true,
            network_view: HeatmapView::new("phase_lab_network"),
            raster_texture: None,
            theory: None,
            beta_c: None,
            j0_c: None,
            theory_key: None,
            diagram: None,
            diagram_key: None,
            diagram_job: None,
            diagram_texture: None,
            sweep: Vec::new(),
            sweep_running: false,
            sweep_theory: Vec::new(),
            sweep_settings: None,
            message: None,
            rate: (std::time::Instant::now(), 0, 0.0),
            start_stats: Vec::new(),
            relax_theory: Vec::new(),
            band: None,
            band_job: None,
            band_want: None,
            lessons: Lesson::bundled()
                .into_iter()
                .filter_map(Result::ok)
                .collect(),
            lesson: 0,
            step: 0,
            lesson_path: String::new(),
            lesson_message: None,
            lesson_dialog: None,
        }
    }
}

fn bits(x: f64) -> u64 {
    x.to_bits()
}

impl PhaseLab {
    /// The stationary |m| shown to the user: mean |m(t)| over the last
    /// [`AVERAGE_OVER`] steps (None before any step).
    pub fn simulated_abs_m(&self) -> Option<f64> {
        let k = self.stats.len().min(AVERAGE_OVER);
        (k > 0).then(|| {
            self.stats
                .iter()
                .rev()
                .take(k)
                .map(|s| s.m)
                .sum::<f64>()
                .abs()
                / k as f64
        })
    }

    /// Replace the settings (a session was opened): the simulation restarts
    /// with them on the next frame.
    pub fn apply_settings(&mut self, settings: PhaseLabSettings) {
        let keep = std::mem::take(&mut self.network_view);
        *self = Self {
            settings,
            network_view: keep,
            ..Self::default()
        };
    }

    /// Play if paused, pause if playing.
    pub fn toggle_play(&mut self) {
        self.settings.playing = !self.settings.playing;
        self.send(if self.settings.playing {
            LabCommand::Play
        } else {
            LabCommand::Pause
        });
    }

    /// Whether the simulation is playing.
    pub fn playing(&self) -> bool {
        self.settings.playing
    }

    /// Sweep points measured so far.
    pub fn sweep_points(&self) -> &[SweepPoint] {
        &self.sweep
    }

    /// Whether a sweep runs.
    pub fn sweep_running(&self) -> bool {
        self.sweep_running
    }

    /// Theory at the current sliders.
    pub fn theory(&self) -> Option<&SkStationary> {
        self.theory.as_ref()
    }

    fn ensure_worker(&mut self, wake: &Wake) {
        if self.worker.is_none() {
            let worker = LabWorker::spawn(self.settings.sk(), self.settings.seed, wake.clone());
            if self.settings.playing {
                worker.send(LabCommand::Play);
            }
            self.worker = Some(worker);
        }
    }

    fn send(&self, c: LabCommand) {
        if let Some(w) = &self.worker {
            w.send(c);
        }
    }

    /// Drain the worker (call every frame from `App::logic`).
    pub fn logic(&mut self, wake: &Wake) {
        if let Some(job) = &mut self.lesson_dialog
            && let Some(r) = job.poll()
        {
            self.lesson_dialog = None;
            if let Ok(Some(p)) = r {
                self.lesson_path = p.display().to_string();
                let _ = self.open_lesson(&p);
            }
        }
        if let Some(job) = &mut self.diagram_job
            && let Some(r) = job.poll()
        {
            self.diagram_job = None;
            match r {
                Ok(g) => {
                    self.diagram = Some(g);
                    self.diagram_texture = None;
                }
                Err(e) => self.message = Some(e),
            }
        }
        self.update_theory(wake);
        let Some(worker) = &self.worker else { return };
        for u in worker.drain() {
            match u {
                LabUpdate::Batch {
                    stats,
                    states,
                    network,
                } => {
                    if self.network.as_ref().is_some_and(|(_, g)| *g != network) {
                        continue;
                    }
                    self.steps_received += stats.len() as u64;
                    for s in &stats {
                        // Keep the first steps after a restart (t counts
                        // from 1 again), contiguously.
                        if s.t == 1 {
                            self.start_stats.clear();
                        }
                        if s.t as usize <= START_STEPS && self.start_stats.len() as u64 + 1 == s.t {
                            self.start_stats.push(*s);
                        }
                    }
                    for s in stats {
                        if self.stats.len() == HISTORY {
                            self.stats.pop_front();
                        }
                        self.stats.push_back(s);
                    }
                    self.raster_dirty = true;
                    let skip = states.len().saturating_sub(RASTER_COLUMNS);
                    for s in states.into_iter().skip(skip) {
                        if self.columns.len() == RASTER_COLUMNS {
                            self.columns.pop_front();
                        }
                        self.columns.push_back(s);
                    }
                }
                LabUpdate::Network { j_eff, generation } => {
                    self.network_shown = Some(downsample(&j_eff, 256));
                    self.network = Some((j_eff, generation));
                    self.stats.clear();
                    self.columns.clear();
                    // A restart refills it from t = 1; a β change on the
                    // kept network makes the old start another model's.
                    self.start_stats.clear();
                }
                LabUpdate::SweepPoint(p) => self.sweep.push(p),
                LabUpdate::SweepDone => self.sweep_running = false,
                LabUpdate::Error(e) => self.message = Some(e),
            }
        }
        let (t0, s0, _) = self.rate;
        let dt = t0.elapsed().as_secs_f64();
        if !self.settings.playing {
            // Restart the rate window, so the first figure after Play is
            // measured while playing.
            self.rate = (std::time::Instant::now(), self.steps_received, 0.0);
        } else if dt > 1.0 {
            self.rate = (
                std::time::Instant::now(),
                self.steps_received,
                (self.steps_received - s0) as f64 / dt,
            );
        }
    }

    fn update_theory(&mut self, wake: &Wake) {
        let s = &self.settings;
        let key = [bits(s.beta), bits(s.j0), bits(s.dj), bits(s.h0)];
        if self.theory_key != Some(key) {
            self.theory = solve_stationary(&s.point()).ok();
            self.beta_c = critical_beta(s.j0, s.dj, s.h0);
            self.j0_c = critical_j0(s.beta, s.dj, s.h0);
            self.relax_theory = relax(&s.point(), 1.0, START_STEPS).unwrap_or_default();
            self.theory_key = Some(key);
        }
        // The diagram depends on its axes and on the two held parameters
        // (the axes' own values only move the dot).
        let (x, y) = (s.diagram_x, s.diagram_y);
        let held = |p: SkParameter| {
            if p == x || p == y {
                0
            } else {
                bits(s.value(p))
            }
        };
        let dkey = [
            x as u64,
            y as u64,
            held(SkParameter::Beta),
            held(SkParameter::J0),
            held(SkParameter::Dj),
            held(SkParameter::H0),
            s.diagram_sigma as u64,
        ];
        if x != y && self.diagram_key != Some(dkey) && self.diagram_job.is_none() {
            self.diagram_key = Some(dkey);
            let base = s.point();
            self.diagram_job = Some(Job::spawn("phase diagram", wake.clone(), move |ctx| {
                let (y0, y1) = axis_range(y);
                let (x0, x1) = axis_range(x);
                let rows = GridAxis::linspace(y, y0, y1, 60).map_err(|e| e.to_string())?;
                let cols = GridAxis::linspace(x, x0, x1, 80).map_err(|e| e.to_string())?;
                grid(&base, rows, cols, &NoProgress, &ctx.stop).map_err(|e| e.to_string())
            }));
        }
        self.update_band(wake);
    }

    /// The parameters a scatter band belongs to.
    fn band_key(&self) -> [u64; 5] {
        let s = &self.settings;
        [s.n as u64, bits(s.beta), bits(s.j0), bits(s.dj), bits(s.h0)]
    }

    /// Keep the expected-scatter band for the current parameters: once they
    /// have been still for 0.4 s, run [`BAND_NETWORKS`] fresh networks in
    /// the background (a newer request replaces a running one).
    fn update_band(&mut self, wake: &Wake) {
        if let Some((job, key)) = &mut self.band_job
            && let Some(r) = job.poll()
        {
            let key = *key;
            self.band_job = None;
            if let Ok(mut b) = r {
                b.key = key;
                self.band = Some(b);
            }
        }
        let key = self.band_key();
        let have = self.band.is_some_and(|b| b.key == key)
            || self.band_job.as_ref().is_some_and(|(_, k)| *k == key);
        if have {
            self.band_want = None;
            return;
        }
        match self.band_want {
            Some((k, since)) if k == key => {
                if since.elapsed().as_secs_f64() < 0.4 {
                    return;
                }
            }
            _ => {
                self.band_want = Some((key, std::time::Instant::now()));
                let w = wake.clone();
                // Wake the UI when the wait is over even if nothing moves.
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(450));
                    w();
                });
                return;
            }
        }
        self.band_want = None;
        let p = self.settings.sk();
        let seed = self.settings.seed;
        // Replacing a running job stops it (its loop polls the flag).
        self.band_job = Some((
            Job::spawn("network scatter", wake.clone(), move |ctx| {
                // At low priority on its own thread, so the live simulation
                // and the UI keep their pace while it runs.
                let pool = super::worker::background_pool("scatter band")?;
                let mut v = Vec::with_capacity(BAND_NETWORKS);
                for k in 0..BAND_NETWORKS {
                    // Seeds apart from the live network's.
                    let s =
                        seed ^ (0xBA5D_0000_0000 + k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    let r = pool
                        .install(|| measure(&p, s, BAND_BURN_IN, AVERAGE_OVER, ctx.stop.flag()));
                    v.push(r?);
                }
                let col = |i: usize| mean_sd(&v.iter().map(|x| x[i]).collect::<Vec<_>>());
                Ok(ScatterBand {
                    key: [0; 5],
                    m: col(0),
                    q: col(1),
                    sigma: col(2),
                })
            }),
            key,
        ));
    }

    /// The expected-scatter band, when it matches the current parameters.
    pub fn band(&self) -> Option<ScatterBand> {
        self.band.filter(|b| b.key == self.band_key())
    }

    /// Generation of the network on screen (changes on every redraw or β
    /// rescale; None before the first).
    pub fn network_generation(&self) -> Option<u64> {
        self.network.as_ref().map(|(_, g)| *g)
    }

    /// The first steps after the last restart from all +1.
    pub fn start_stats(&self) -> &[StepStats] {
        &self.start_stats
    }

    /// The large-N relaxation from all +1 at the current parameters.
    pub fn relax_theory(&self) -> &[RelaxStep] {
        &self.relax_theory
    }

    /// The lessons the panel offers (bundled first).
    pub fn lessons(&self) -> &[Lesson] {
        &self.lessons
    }

    /// The lesson and step the panel shows.
    pub fn lesson_position(&self) -> (usize, usize) {
        (self.lesson, self.step)
    }

    /// Show step `step` of lesson `lesson` in the panel (clamped).
    pub fn select_lesson_step(&mut self, lesson: usize, step: usize) {
        self.lesson = lesson.min(self.lessons.len().saturating_sub(1));
        let steps = self.lessons.get(self.lesson).map_or(1, |l| l.steps.len());
        self.step = step.min(steps.saturating_sub(1));
        self.settings.show_lessons = true;
    }

    /// Add a lesson read from a file and show its first step; the error (one
    /// line, naming the file) is shown in the panel and returned.
    pub fn open_lesson(&mut self, path: &std::path::Path) -> Result<(), String> {
        match Lesson::load(path) {
            Ok(l) => {
                self.lessons.push(l);
                self.select_lesson_step(self.lessons.len() - 1, 0);
                self.lesson_message = None;
                Ok(())
            }
            Err(e) => {
                let e = e.to_string();
                self.lesson_message = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The "Set up" button of the current step: set what the step names
    /// and tell the simulation thread.
    pub fn set_up_current_step(&mut self) {
        let Some(setup) = self
            .lessons
            .get(self.lesson)
            .and_then(|l| l.steps.get(self.step))
            .map(|s| s.setup.clone())
        else {
            return;
        };
        self.apply_setup(&setup);
    }

    fn apply_setup(&mut self, u: &Setup) {
        let before = self.settings.clone();
        let s = &mut self.settings;
        if let Some(v) = u.n {
            s.n = v;
        }
        for (field, v) in [
            (&mut s.j0, u.j0),
            (&mut s.dj, u.dj),
            (&mut s.h0, u.h0),
            (&mut s.beta, u.beta),
        ] {
            if let Some(v) = v {
                *field = v;
            }
        }
        if let Some(v) = u.seed {
            s.seed = v;
        }
        if let Some((x, y)) = u.diagram {
            s.diagram_x = x;
            s.diagram_y = y;
        }
        if let Some(v) = u.diagram_sigma {
            s.diagram_sigma = v;
        }
        if let Some(v) = u.time_view {
            s.time_view = v;
        }
        let structural = (s.n, s.j0, s.dj, s.h0, s.seed)
            != (before.n, before.j0, before.dj, before.h0, before.seed);
        if structural || s.beta != before.beta {
            let cmd = LabCommand::SetParams {
                params: s.sk(),
                seed: s.seed,
                redraw: s.redraw || structural,
            };
            self.send(cmd);
        }
        // A new network starts from all +1 anyway.
        if u.restart && !structural {
            self.send(LabCommand::Reset);
        }
        if let Some(sw) = &u.sweep {
            let s = &mut self.settings;
            s.sweep_j0 = sw.j0;
            s.sweep_from = sw.from;
            s.sweep_to = sw.to;
            s.sweep_points = sw.points;
            s.sweep_reps = sw.networks;
            self.start_sweep();
        } else if let Some(play) = u.play
            && play != self.settings.playing
        {
            self.toggle_play();
        }
    }

    /// Draw the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, wake: &Wake) {
        self.ensure_worker(wake);
        egui::Panel::left("phase_lab_controls")
            .resizable(false)
            .default_size(290.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls_ui(ui));
            });
        if self.settings.show_lessons {
            egui::Panel::right("phase_lab_lessons")
                .resizable(true)
                .default_size(320.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.lessons_ui(ui, wake));
                });
        }
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.views_ui(ui));
        });
    }

    fn lessons_ui(&mut self, ui: &mut egui::Ui, wake: &Wake) {
        ui.horizontal(|ui| {
            ui.heading("Lessons");
            if ui
                .small_button("Close")
                .on_hover_text("close the lessons panel")
                .clicked()
            {
                self.settings.show_lessons = false;
            }
        });
        if self.lessons.is_empty() {
            ui.label("No lessons.");
        } else {
            let titles: Vec<String> = self.lessons.iter().map(|l| l.title.clone()).collect();
            let mut pick = self.lesson.min(titles.len() - 1);
            egui::ComboBox::from_id_salt("lesson_pick")
                .width(ui.available_width() - 8.0)
                .selected_text(titles[pick].clone())
                .show_ui(ui, |ui| {
                    for (k, t) in titles.iter().enumerate() {
                        ui.selectable_value(&mut pick, k, t);
                    }
                });
            if pick != self.lesson {
                self.select_lesson_step(pick, 0);
            }
            let lesson = &self.lessons[self.lesson];
            if !lesson.summary.is_empty() {
                ui.label(egui::RichText::new(&lesson.summary).italics());
            }
            let steps = lesson.steps.len();
            let step = &lesson.steps[self.step.min(steps - 1)];
            ui.separator();
            ui.strong(format!("Step {} of {steps}: {}", self.step + 1, step.title));
            for para in step.text.split("\n\n") {
                ui.label(para.trim());
                ui.add_space(4.0);
            }
            let has_setup = step.setup != Setup::default();
            let mut go = None;
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(self.step > 0, egui::Button::new("Previous"))
                    .clicked()
                {
                    go = Some(self.step - 1);
                }
                if ui
                    .add_enabled(has_setup, egui::Button::new("Set up"))
                    .on_hover_text("set the sliders (and start what the step needs)")
                    .clicked()
                {
                    self.set_up_current_step();
                }
                if ui
                    .add_enabled(self.step + 1 < steps, egui::Button::new("Next"))
                    .clicked()
                {
                    go = Some(self.step + 1);
                }
            });
            if let Some(k) = go {
                self.select_lesson_step(self.lesson, k);
            }
        }
        ui.separator();
        ui.label("Your own lesson (RON; format in assets/lessons/README.md):");
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    self.lesson_dialog.is_none(),
                    egui::Button::new("Open lesson file…"),
                )
                .clicked()
            {
                // The native dialog runs on its own thread (never blocks the UI).
                self.lesson_dialog = Some(Job::spawn("lesson dialog", wake.clone(), |_| {
                    Ok(rfd::FileDialog::new()
                        .add_filter("lesson", &["ron"])
                        .pick_file())
                }));
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("path");
            ui.add(egui::TextEdit::singleline(&mut self.lesson_path).desired_width(180.0))
                .labelled_by(l.id);
            if ui.button("Load").clicked() {
                let p = std::path::PathBuf::from(self.lesson_path.trim());
                let _ = self.open_lesson(&p);
            }
        });
        if let Some(m) = &self.lesson_message {
            ui.colored_label(ui.visuals().error_fg_color, m);
        }
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Phase lab");
            let label = if self.settings.show_lessons {
                "Hide lessons"
            } else {
                "Lessons…"
            };
            if ui.button(label).clicked() {
                self.settings.show_lessons = !self.settings.show_lessons;
            }
        });
        ui.label("Asymmetric SK network: J_ij ~ N(J0/N, ΔJ²/N), H_i ~ U[−H0, H0].");
        let before = self.settings.clone();
        let s = &mut self.settings;
        ui.add(egui::Slider::new(&mut s.j0, -0.5..=2.5).text("J0"));
        ui.add(egui::Slider::new(&mut s.dj, 0.0..=1.5).text("ΔJ"));
        ui.add(egui::Slider::new(&mut s.h0, 0.0..=1.5).text("H0"));
        ui.add(egui::Slider::new(&mut s.beta, 0.0..=4.0).text("β"));
        ui.add(
            egui::Slider::new(&mut s.n, 16..=4096)
                .logarithmic(true)
                .text("N"),
        );
        ui.horizontal(|ui| {
            let l = ui.label("seed");
            ui.add(egui::DragValue::new(&mut s.seed)).labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            ui.radio_value(&mut s.redraw, true, "redraw network");
            ui.radio_value(&mut s.redraw, false, "keep network, change β");
        });
        if *s != before
            && (s.n, s.j0, s.dj, s.h0, s.beta, s.seed)
                != (
                    before.n,
                    before.j0,
                    before.dj,
                    before.h0,
                    before.beta,
                    before.seed,
                )
        {
            // N, J0, ΔJ, H0 or the seed always need a new network.
            let structural = (s.n, s.j0, s.dj, s.h0, s.seed)
                != (before.n, before.j0, before.dj, before.h0, before.seed);
            let cmd = LabCommand::SetParams {
                params: s.sk(),
                seed: s.seed,
                redraw: s.redraw || structural,
            };
            self.send(cmd);
        }
        ui.horizontal(|ui| {
            let label = if self.settings.playing {
                "Pause"
            } else {
                "Play"
            };
            if ui.button(label).clicked() {
                self.settings.playing = !self.settings.playing;
                self.send(if self.settings.playing {
                    LabCommand::Play
                } else {
                    LabCommand::Pause
                });
            }
            if ui.button("Step").clicked() {
                self.settings.playing = false;
                self.send(LabCommand::Step(1));
            }
            if ui.button("Reset").clicked() {
                self.send(LabCommand::Reset);
            }
        });
        ui.separator();
        ui.strong("Theory (large-N limit)");
        match &self.theory {
            Some(t) => {
                ui.label(format!("m = {:.4}   q = {:.4}", t.m, t.q));
                ui.label(format!("σ/N = {:.4} nats/step", t.sigma_per_n));
                ui.label(if t.ordered {
                    "ordered phase"
                } else {
                    "disordered phase"
                });
            }
            None => {
                ui.label("(no solution at these values)");
            }
        }
        ui.label(match self.beta_c {
            Some(b) => format!("β_c = {b:.4} (at these J0, ΔJ, H0)"),
            None => "β_c: no order/disorder transition at these J0, ΔJ, H0".into(),
        });
        ui.label(match self.j0_c {
            Some(j) => format!("J0_c = {j:.4} (at these β, ΔJ, H0)"),
            None => "J0_c: no transition in J0 at these β, ΔJ, H0".into(),
        });
        ui.strong(format!("Simulation (N = {})", self.settings.n));
        if let Some(m) = self.simulated_abs_m() {
            let k = self.stats.len().min(AVERAGE_OVER);
            let recent = self.stats.iter().rev().take(k);
            let (q, sigma): (f64, f64) = recent.fold((0.0, 0.0), |(a, b), s| {
                (
                    a + s.q,
                    b + if s.sigma_per_n.is_finite() {
                        s.sigma_per_n
                    } else {
                        0.0
                    },
                )
            });
            ui.label(format!("simulated |m| = {m:.4}"));
            ui.label(format!(
                "q = {:.4}   σ/N = {:.4}",
                q / k as f64,
                sigma / k as f64
            ));
            ui.label(format!("(means over the last {k} steps)"));
            match self.band() {
                Some(b) => {
                    let (lo, hi) = ScatterBand::range(b.m);
                    let inside = (lo..=hi).contains(&m);
                    let text = format!(
                        "expected |m| for one network at N = {}: {:.3}–{:.3} (mean ± 2 s.d. of {BAND_NETWORKS} networks): {}",
                        self.settings.n,
                        lo.max(0.0),
                        hi,
                        if inside { "inside" } else { "outside" }
                    );
                    if inside || k < AVERAGE_OVER {
                        ui.label(text);
                    } else {
                        ui.colored_label(ui.visuals().warn_fg_color, text);
                    }
                }
                None => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("estimating the scatter expected at this N…");
                    });
                }
            }
        } else {
            ui.label("press Play to simulate");
        }
        // A rate means something only while the simulation plays (after
        // Step while paused, a few steps over a long pause are no rate).
        ui.label(if self.settings.playing {
            format!(
                "{} steps received, {:.0} steps/s",
                self.steps_received, self.rate.2
            )
        } else {
            format!("{} steps received, paused", self.steps_received)
        });
        if let Some(m) = &self.message {
            ui.colored_label(ui.visuals().error_fg_color, m);
        }
        ui.separator();
        self.sweep_controls_ui(ui);
    }

    /// Start a sweep with the settings' range (the "Run sweep" button and
    /// lesson steps).
    pub fn start_sweep(&mut self) {
        let s = &self.settings;
        let k = s.sweep_points.max(2);
        let values: Vec<f64> = (0..k)
            .map(|i| s.sweep_from + (s.sweep_to - s.sweep_from) * i as f64 / (k - 1) as f64)
            .collect();
        let parameter = if s.sweep_j0 {
            SweepParameter::J0
        } else {
            SweepParameter::Beta
        };
        // A dense theory curve: 10 points per sweep interval.
        let (from, to) = (s.sweep_from, s.sweep_to);
        let dense = (10 * (k - 1) + 1).min(201);
        self.sweep_theory = (0..dense)
            .map(|j| from + (to - from) * j as f64 / (dense - 1) as f64)
            .filter_map(|x| {
                let mut p = s.point();
                match parameter {
                    SweepParameter::Beta => p.beta = x,
                    SweepParameter::J0 => p.j0 = x,
                }
                solve_stationary(&p).ok().map(|t| (x, t))
            })
            .collect();
        let req = SweepRequest {
            parameter,
            values,
            base: s.sk(),
            repetitions: s.sweep_reps.max(2),
            burn_in: 200,
            steps: 500,
            seed: s.seed,
        };
        self.sweep_settings = Some(s.clone());
        self.sweep.clear();
        self.sweep_running = true;
        self.settings.playing = false;
        self.send(LabCommand::Sweep(req));
    }

    fn sweep_controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.strong("Sweep");
        let s = &mut self.settings;
        ui.horizontal(|ui| {
            ui.radio_value(&mut s.sweep_j0, false, "scan β");
            ui.radio_value(&mut s.sweep_j0, true, "scan J0");
        });
        ui.horizontal(|ui| {
            let l = ui.label("from");
            ui.add(egui::DragValue::new(&mut s.sweep_from).speed(0.05))
                .labelled_by(l.id);
            let l = ui.label("to");
            ui.add(egui::DragValue::new(&mut s.sweep_to).speed(0.05))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let l = ui.label("points");
            ui.add(egui::DragValue::new(&mut s.sweep_points).range(2..=200))
                .labelled_by(l.id);
            let l = ui.label("networks");
            ui.add(egui::DragValue::new(&mut s.sweep_reps).range(2..=100))
                .labelled_by(l.id);
        });
        if ui
            .add_enabled(!self.sweep_running, egui::Button::new("Run sweep"))
            .clicked()
        {
            self.start_sweep();
        }
        if self.sweep_running {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("sweeping: {} points done", self.sweep.len()));
            });
        }
    }

    fn views_ui(&mut self, ui: &mut egui::Ui) {
        // Two columns where there is room, else one below the other (the
        // lessons panel or a small window leave less).
        let wide = ui.available_width() >= 880.0;
        let rows = [
            (View::Raster, View::Network),
            (View::MQ, View::Sigma),
            (View::Diagram, View::Sweep),
        ];
        for (a, b) in rows {
            if wide {
                ui.columns(2, |c| {
                    self.view_ui(&mut c[0], a);
                    self.view_ui(&mut c[1], b);
                });
            } else {
                self.view_ui(ui, a);
                self.view_ui(ui, b);
            }
            ui.add_space(6.0);
        }
    }

    fn view_ui(&mut self, ui: &mut egui::Ui, which: View) {
        let width = ui.available_width().max(200.0);
        match which {
            View::Raster => enlargeable(
                ui,
                "lab_raster",
                "Live raster (newest at the right)",
                egui::vec2(width, 180.0),
                |ui, size| self.raster_ui(ui, size.x, size.y),
            ),
            View::Network => {
                let (network, shown, view) =
                    (&self.network, &self.network_shown, &mut self.network_view);
                enlargeable(
                    ui,
                    "lab_network",
                    "Couplings of the current network (βJ)",
                    egui::vec2(width, 170.0),
                    |ui, size| {
                        if let (Some((_, generation)), Some(shown)) = (network, shown) {
                            let n = shown.nrows();
                            let order: Vec<usize> = (0..n).collect();
                            let labels: Vec<String> = (0..n).map(|i| i.to_string()).collect();
                            let limit = symmetric_limit(shown);
                            view.ui(
                                ui,
                                &HeatmapData {
                                    matrix: shown,
                                    generation: *generation,
                                    order: &order,
                                    labels: &labels,
                                    limit,
                                    threshold: 0.0,
                                },
                                size.x.min(size.y),
                            );
                        }
                    },
                );
            }
            View::MQ => {
                ui.horizontal_wrapped(|ui| {
                    let l = ui.label("time axis:");
                    let tv = &mut self.settings.time_view;
                    ui.radio_value(tv, TimeView::Live, "latest steps")
                        .labelled_by(l.id);
                    ui.radio_value(
                        tv,
                        TimeView::Start,
                        format!("first {START_STEPS} after a restart"),
                    )
                    .on_hover_text(
                        "m(t), q(t) from all +1 against the time-dependent theory; Reset restarts",
                    );
                });
                let title = match self.settings.time_view {
                    TimeView::Live => {
                        "m(t) and q(t); dashed: stationary theory; shaded: expected scatter at this N"
                    }
                    TimeView::Start => {
                        "Relaxation from all +1: points simulated; lines: large-N theory, m(t) solid, q(t) dashed"
                    }
                };
                enlargeable(ui, "lab_mq", title, egui::vec2(width, 180.0), |ui, size| {
                    self.mq_plot(ui, size)
                });
            }
            View::Sigma => enlargeable(
                ui,
                "lab_sigma",
                "Entropy production σ/N per step; dashed: theory; shaded: expected scatter",
                egui::vec2(width, 180.0),
                |ui, size| self.sigma_plot(ui, size),
            ),
            View::Diagram => self.diagram_ui(ui, width),
            View::Sweep => {
                let title = format!(
                    "Sweep: simulated |m|, q, σ/N (± 1 s.e. over networks; shaded: ± 2 s.d., one network's range) vs theory, N = {}",
                    self.settings.n
                );
                enlargeable(
                    ui,
                    "lab_sweep",
                    &title,
                    egui::vec2(width, 220.0),
                    |ui, size| self.sweep_plot_ui(ui, size),
                );
            }
        }
    }

    /// m(t) and q(t): the latest steps against the stationary theory with
    /// the expected-scatter band, or the first steps after a restart against
    /// the relaxation theory.
    fn mq_plot(&self, ui: &mut egui::Ui, size: egui::Vec2) {
        let lw = line_width(ui.ctx());
        let dash = egui_plot::LineStyle::dashed_loose();
        let plot = Plot::new("lab_mq")
            .width(size.x)
            .height(size.y)
            .include_y(-1.0)
            .include_y(1.0)
            .x_axis_label("step")
            .y_axis_label("m, q")
            .legend(legend(ui.ctx(), Corner::LeftBottom))
            .allow_scroll(false);
        if self.settings.time_view == TimeView::Start {
            let ink = ui.visuals().strong_text_color();
            let relax = &self.relax_theory;
            let start = &self.start_stats;
            plot.include_x(0.0)
                .include_x(START_STEPS as f64)
                .show(ui, |plot| {
                    let sim = |f: fn(&StepStats) -> f64| -> Vec<[f64; 2]> {
                        start.iter().map(|s| [s.t as f64, f(s)]).collect()
                    };
                    // Small points, so the dashed theory on top stays visible.
                    let r = marker_radius(plot.ctx()) / 2.0;
                    plot.points(
                        Points::new("m(t) simulated", sim(|s| s.m))
                            .color(COLOR_M)
                            .radius(r),
                    );
                    plot.points(
                        Points::new("q(t) simulated", sim(|s| s.q))
                            .color(COLOR_Q)
                            .radius(r),
                    );
                    // The theory starts at t = 0 from m(0) = 1.
                    let th = |f: fn(&RelaxStep) -> f64, first: f64| -> Vec<[f64; 2]> {
                        std::iter::once([0.0, first])
                            .chain(relax.iter().map(|s| [s.t as f64, f(s)]))
                            .collect()
                    };
                    // The theory in the text colour over the coloured
                    // points: m solid, q dashed.
                    plot.line(
                        Line::new("theory m(t)", th(|s| s.m, 1.0))
                            .color(ink)
                            .width(lw + 0.5),
                    );
                    let q: Vec<[f64; 2]> = relax.iter().map(|s| [s.t as f64, s.q]).collect();
                    plot.line(
                        Line::new("theory q(t)", q)
                            .color(ink)
                            .style(dash)
                            .width(lw + 0.5),
                    );
                });
            if self.start_stats.is_empty() {
                ui.label("No restart since the last change: press Reset (or a lesson's Set up) to start from all +1.");
            }
            return;
        }
        let pts = |f: fn(&StepStats) -> f64| -> Vec<[f64; 2]> {
            self.stats
                .iter()
                .filter(|s| f(s).is_finite())
                .map(|s| [s.t as f64, f(s)])
                .collect()
        };
        let theory = self.theory;
        let band = self.band();
        let xs = self.time_span();
        plot.show(ui, |plot| {
            if let (Some(b), Some(xs)) = (band, xs) {
                let (lo, hi) = ScatterBand::range(b.m);
                let name = "expected 200-step mean |m| at this N (± 2 s.d.)";
                plot.add(band_area(name, COLOR_M, xs, lo.max(0.0), hi));
                plot.add(band_area(name, COLOR_M, xs, -hi, -(lo.max(0.0))));
                let (lo, hi) = ScatterBand::range(b.q);
                plot.add(band_area(
                    "expected 200-step mean q at this N (± 2 s.d.)",
                    COLOR_Q,
                    xs,
                    lo,
                    hi,
                ));
            }
            plot.line(
                Line::new("m(t)", PlotPoints::from(pts(|s| s.m)))
                    .color(COLOR_M)
                    .width(lw),
            );
            plot.line(
                Line::new("q(t)", PlotPoints::from(pts(|s| s.q)))
                    .color(COLOR_Q)
                    .width(lw),
            );
            if let Some(t) = theory {
                plot.hline(
                    HLine::new("theory ±m", t.m)
                        .color(COLOR_M)
                        .style(dash)
                        .width(lw),
                );
                plot.hline(
                    HLine::new("theory ±m", -t.m)
                        .color(COLOR_M)
                        .style(dash)
                        .width(lw),
                );
                plot.hline(
                    HLine::new("theory q", t.q)
                        .color(COLOR_Q)
                        .style(dash)
                        .width(lw),
                );
            }
        });
    }

    /// First and last step of the history (the bands' extent).
    fn time_span(&self) -> Option<(f64, f64)> {
        Some((self.stats.front()?.t as f64, self.stats.back()?.t as f64))
    }

    fn sigma_plot(&self, ui: &mut egui::Ui, size: egui::Vec2) {
        let lw = line_width(ui.ctx());
        let pts: Vec<[f64; 2]> = self
            .stats
            .iter()
            .filter(|s| s.sigma_per_n.is_finite())
            .map(|s| [s.t as f64, s.sigma_per_n])
            .collect();
        let theory = self.theory;
        let band = self.band();
        let xs = self.time_span();
        Plot::new("lab_sigma")
            .width(size.x)
            .height(size.y)
            .include_y(0.0)
            .x_axis_label("step")
            .y_axis_label("σ/N (nats/step)")
            .legend(legend(ui.ctx(), Corner::LeftBottom))
            .allow_scroll(false)
            .show(ui, |plot| {
                if let (Some(b), Some(xs)) = (band, xs) {
                    let (lo, hi) = ScatterBand::range(b.sigma);
                    let name = "expected 200-step mean σ/N at this N (± 2 s.d.)";
                    plot.add(band_area(name, COLOR_SIGMA, xs, lo, hi));
                }
                plot.line(
                    Line::new("σ/N(t)", PlotPoints::from(pts))
                        .color(COLOR_SIGMA)
                        .width(lw),
                );
                if let Some(t) = theory {
                    plot.hline(
                        HLine::new("theory σ/N", t.sigma_per_n)
                            .color(COLOR_SIGMA)
                            .style(egui_plot::LineStyle::dashed_loose())
                            .width(lw),
                    );
                }
            });
    }

    fn raster_ui(&mut self, ui: &mut egui::Ui, width: f32, height: f32) {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(width, height), egui::Sense::hover());
        let Some(first) = self.columns.front() else {
            ui.painter()
                .rect_filled(rect, 0.0, ui.visuals().extreme_bg_color);
            return;
        };
        if !self.raster_dirty
            && let Some(tex) = &self.raster_texture
        {
            ui.painter().image(
                tex.id(),
                rect,
                egui::Rect::from_min_max(egui::Pos2::ZERO, egui::pos2(1.0, 1.0)),
                Color32::WHITE,
            );
            return;
        }
        self.raster_dirty = false;
        let n = self.settings.n.min(first.len() * 64);
        let rows = n.clamp(1, 256);
        let cols = RASTER_COLUMNS;
        let dark = ui.visuals().dark_mode;
        let (bg, ink) = if dark {
            (Color32::from_gray(20), Color32::from_gray(230))
        } else {
            (Color32::WHITE, Color32::from_gray(20))
        };
        let mut img = ColorImage::filled([cols, rows], bg);
        let offset = cols - self.columns.len();
        for (c, state) in self.columns.iter().enumerate() {
            for r in 0..rows {
                // Each pixel row shows the first unit of its group.
                let i = r * n / rows;
                if (state[i / 64] >> (i % 64)) & 1 == 1 {
                    img.pixels[r * cols + offset + c] = ink;
                }
            }
        }
        let tex = match &mut self.raster_texture {
            Some(t) => {
                t.set(img, TextureOptions::NEAREST);
                t
            }
            None => self.raster_texture.insert(ui.ctx().load_texture(
                "lab_raster",
                img,
                TextureOptions::NEAREST,
            )),
        };
        ui.painter().image(
            tex.id(),
            rect,
            egui::Rect::from_min_max(egui::Pos2::ZERO, egui::pos2(1.0, 1.0)),
            Color32::WHITE,
        );
    }

    fn diagram_ui(&mut self, ui: &mut egui::Ui, width: f32) {
        const AXES: [SkParameter; 4] = [
            SkParameter::Beta,
            SkParameter::J0,
            SkParameter::Dj,
            SkParameter::H0,
        ];
        ui.horizontal_wrapped(|ui| {
            ui.label("Phase diagram of");
            ui.radio_value(&mut self.settings.diagram_sigma, false, "m");
            ui.radio_value(&mut self.settings.diagram_sigma, true, "σ/N");
            let before = (self.settings.diagram_x, self.settings.diagram_y);
            let l = ui.label("horizontal axis");
            egui::ComboBox::from_id_salt("diagram_x")
                .selected_text(self.settings.diagram_x.label())
                .show_ui(ui, |ui| {
                    for p in AXES {
                        ui.selectable_value(&mut self.settings.diagram_x, p, p.label());
                    }
                })
                .response
                .labelled_by(l.id);
            let l = ui.label("vertical axis");
            egui::ComboBox::from_id_salt("diagram_y")
                .selected_text(self.settings.diagram_y.label())
                .show_ui(ui, |ui| {
                    for p in AXES {
                        ui.selectable_value(&mut self.settings.diagram_y, p, p.label());
                    }
                })
                .response
                .labelled_by(l.id);
            let s = &mut self.settings;
            if s.diagram_x == s.diagram_y {
                // Keep two distinct axes: the other one takes the old value.
                if s.diagram_x != before.0 {
                    s.diagram_y = before.0;
                } else {
                    s.diagram_x = before.1;
                }
            }
        });
        let what = if self.settings.diagram_sigma {
            "σ/N"
        } else {
            "|m|"
        };
        let title = format!(
            "Phase diagram: {what} (colour), order/disorder boundary, current parameters (dot)"
        );
        enlargeable(
            ui,
            "lab_diagram",
            &title,
            egui::vec2(width, 220.0),
            |ui, size| self.diagram_plot(ui, size),
        );
    }

    fn diagram_plot(&mut self, ui: &mut egui::Ui, size: egui::Vec2) {
        let lw = line_width(ui.ctx());
        let quantity = if self.settings.diagram_sigma {
            SkQuantity::SigmaPerN
        } else {
            SkQuantity::M
        };
        let (x, y) = (self.settings.diagram_x, self.settings.diagram_y);
        // A grid of other axes (still computing) is not drawn.
        let current = self
            .diagram
            .as_ref()
            .filter(|g| g.cols.parameter == x && g.rows.parameter == y);
        let mut max = 0.0f64;
        if let Some(g) = current {
            let vals = g.values(quantity);
            max = vals.iter().copied().fold(0.0f64, f64::max).max(1e-12);
            if self.diagram_texture.is_none() {
                let (rows, cols) = (g.rows.values.len(), g.cols.values.len());
                let mut img = ColorImage::filled([cols, rows], Color32::WHITE);
                for r in 0..rows {
                    for c in 0..cols {
                        // Row 0 (the axis minimum) at the bottom.
                        img.pixels[(rows - 1 - r) * cols + c] =
                            diverging((vals[r * cols + c] / max) as f32);
                    }
                }
                self.diagram_texture = Some(ui.ctx().load_texture(
                    "lab_diagram",
                    img,
                    TextureOptions::LINEAR,
                ));
            }
        }
        let s = &self.settings;
        let boundary = phase_boundary(s, x, y);
        let (x0, x1) = axis_range(x);
        let (y0, y1) = axis_range(y);
        // The ΔJ beyond which no ordered phase exists (β_c → ∞), on the ΔJ axis.
        let limit = ordered_dj_limit(s.j0, s.h0);
        let here = self.diagram_dot();
        let tex = current.and(self.diagram_texture.as_ref()).map(|t| t.id());
        let what = if s.diagram_sigma { "σ/N" } else { "|m|" };
        ui.horizontal_top(|ui| {
            Plot::new("lab_diagram")
                .width(size.x - 70.0)
                .height(size.y)
                .include_x(x0)
                .include_x(x1)
                .include_y(y0)
                .include_y(y1)
                .x_axis_label(x.label())
                .y_axis_label(y.label())
                .legend(legend(ui.ctx(), Corner::RightTop))
                .allow_scroll(false)
                .show(ui, |plot| {
                    if let Some(id) = tex {
                        plot.image(PlotImage::new(
                            format!("{what} (colour)"),
                            id,
                            PlotPoint::new((x0 + x1) / 2.0, (y0 + y1) / 2.0),
                            [(x1 - x0) as f32, (y1 - y0) as f32],
                        ));
                    }
                    if !boundary.is_empty() {
                        plot.line(
                            Line::new("order/disorder boundary", PlotPoints::from(boundary))
                                .color(Color32::BLACK)
                                .width(lw + 0.5),
                        );
                    }
                    if let Some(a) = limit {
                        let name = "ΔJ limit of the ordered phase";
                        if y == SkParameter::Dj {
                            plot.hline(HLine::new(name, a).color(Color32::DARK_GRAY));
                        } else if x == SkParameter::Dj {
                            plot.vline(VLine::new(name, a).color(Color32::DARK_GRAY));
                        }
                    }
                    plot.points(
                        Points::new("current parameters", PlotPoints::from(vec![here]))
                            .radius(2.0 * marker_radius(plot.ctx()) - 1.0)
                            .color(Color32::YELLOW),
                    );
                });
            if current.is_some() {
                super::plots::colorbar_positive_ui(ui, what, max, size.y);
            }
        });
    }

    /// Where the phase diagram's dot is: the current values of its two
    /// axes' parameters.
    pub fn diagram_dot(&self) -> [f64; 2] {
        let s = &self.settings;
        [s.value(s.diagram_x), s.value(s.diagram_y)]
    }

    /// Whether the sweep on screen was run with other network or sweep
    /// settings than the current ones (the swept parameter's own slider
    /// does not count: the sweep sets it).
    pub fn sweep_is_stale(&self) -> bool {
        let Some(then) = &self.sweep_settings else {
            return false;
        };
        let now = &self.settings;
        let swept_other = if now.sweep_j0 {
            then.beta != now.beta
        } else {
            then.j0 != now.j0
        };
        swept_other
            || (
                then.n,
                then.seed,
                then.sweep_j0,
                then.sweep_points,
                then.sweep_reps,
            ) != (
                now.n,
                now.seed,
                now.sweep_j0,
                now.sweep_points,
                now.sweep_reps,
            )
            || (then.dj, then.h0, then.sweep_from, then.sweep_to)
                != (now.dj, now.h0, now.sweep_from, now.sweep_to)
    }

    fn sweep_plot_ui(&self, ui: &mut egui::Ui, size: egui::Vec2) {
        let shown = self.sweep_settings.as_ref().unwrap_or(&self.settings);
        let x_label = if shown.sweep_j0 { "J0" } else { "β" };
        if self.sweep_is_stale() {
            let t = shown;
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "Stale: this sweep was run with N = {}, J0 = {}, ΔJ = {}, H0 = {}, β = {}, seed {}; the parameters have changed since. Press Run sweep to update it.",
                    t.n, t.j0, t.dj, t.h0, t.beta, t.seed
                ),
            );
        }
        let lw = line_width(ui.ctx());
        let radius = marker_radius(ui.ctx());
        let theory = &self.sweep_theory;
        let sweep = &self.sweep;
        let reps = self
            .sweep_settings
            .as_ref()
            .map_or(1, |m| m.sweep_reps.max(2)) as f64;
        Plot::new("lab_sweep")
            .x_grid_spacer(super::plots::nice_grid_marks)
            .y_grid_spacer(super::plots::nice_grid_marks)
            .width(size.x)
            .height(size.y)
            .x_axis_label(x_label)
            .y_axis_label("|m|, q, σ/N")
            .legend(legend(ui.ctx(), Corner::RightTop))
            .allow_scroll(false)
            .show(ui, |plot| {
                type PickP = fn(&SweepPoint) -> (f64, f64);
                let sims: [(&str, Color32, PickP); 3] = [
                    ("|m|", COLOR_M, |p| p.m),
                    ("q", COLOR_Q, |p| p.q),
                    ("σ/N", COLOR_SIGMA, |p| p.sigma_per_n),
                ];
                // One network's expected range: mean ± 2 s.d., s.d. = s.e. √reps.
                if sweep.len() >= 2 {
                    for (name, color, f) in sims {
                        let xs: Vec<f64> = sweep.iter().map(|p| p.x).collect();
                        let sd = |p: &SweepPoint| f(p).1 * reps.sqrt();
                        let lo: Vec<f64> = sweep.iter().map(|p| f(p).0 - 2.0 * sd(p)).collect();
                        let hi: Vec<f64> = sweep.iter().map(|p| f(p).0 + 2.0 * sd(p)).collect();
                        if lo.iter().chain(&hi).all(|v| v.is_finite()) {
                            plot.add(
                                FilledArea::new(
                                    format!("one network's {name} (± 2 s.d.)"),
                                    &xs,
                                    &lo,
                                    &hi,
                                )
                                .fill_color(color.gamma_multiply(0.2)),
                            );
                        }
                    }
                }
                type Pick = fn(&SkStationary) -> f64;
                let curves: [(&str, Color32, Pick); 3] = [
                    ("|m|", COLOR_M, |t| t.m.abs()),
                    ("q", COLOR_Q, |t| t.q),
                    ("σ/N", COLOR_SIGMA, |t| t.sigma_per_n),
                ];
                for (name, color, f) in curves {
                    let pts: Vec<[f64; 2]> = theory.iter().map(|(x, t)| [*x, f(t)]).collect();
                    plot.line(
                        Line::new(format!("theory {name}"), PlotPoints::from(pts))
                            .color(color)
                            .width(lw),
                    );
                }
                for (name, color, f) in sims {
                    let label = format!("simulated {name} ± 1 s.e.");
                    let pts: Vec<[f64; 2]> = sweep.iter().map(|p| [p.x, f(p).0]).collect();
                    plot.points(
                        Points::new(label.clone(), PlotPoints::from(pts))
                            .radius(radius)
                            .color(color),
                    );
                    for p in sweep {
                        let (m, se) = f(p);
                        if se.is_finite() {
                            plot.line(
                                Line::new(
                                    label.clone(),
                                    PlotPoints::from(vec![[p.x, m - se], [p.x, m + se]]),
                                )
                                .color(color)
                                .width(lw),
                            );
                        }
                    }
                }
            });
    }
}

/// A band from `lo` to `hi` over the steps `xs`, tinted like its quantity.
fn band_area(name: &str, color: Color32, xs: (f64, f64), lo: f64, hi: f64) -> FilledArea {
    FilledArea::new(name, &[xs.0, xs.1], &[lo, lo], &[hi, hi])
        .fill_color(color.gamma_multiply(0.25))
}

/// The order/disorder boundary in the (x, y) plane with the other two
/// parameters held at their current values: β_c or J0_c solved along the
/// other axis when one axis is β or J0; empty for the ΔJ × H0 plane (no
/// closed form; the colours show it).
fn phase_boundary(s: &PhaseLabSettings, x: SkParameter, y: SkParameter) -> Vec<[f64; 2]> {
    let solve = |along: SkParameter, v: f64, target: SkParameter| -> Option<f64> {
        let p = along.set(&s.point(), v);
        match target {
            SkParameter::Beta => critical_beta(p.j0, p.dj, p.h0),
            SkParameter::J0 => critical_j0(p.beta, p.dj, p.h0),
            _ => None,
        }
    };
    let trace = |target: SkParameter, along: SkParameter, target_is_x: bool| {
        let (a0, a1) = axis_range(along);
        let (t0, t1) = axis_range(target);
        (0..=60)
            .filter_map(|k| {
                let v = a0 + (a1 - a0) * k as f64 / 60.0;
                let c = solve(along, v, target).filter(|c| (t0..=t1).contains(c))?;
                Some(if target_is_x { [c, v] } else { [v, c] })
            })
            .collect::<Vec<_>>()
    };
    match (x, y) {
        (SkParameter::Beta, _) => trace(SkParameter::Beta, y, true),
        (_, SkParameter::Beta) => trace(SkParameter::Beta, x, false),
        (SkParameter::J0, _) => trace(SkParameter::J0, y, true),
        (_, SkParameter::J0) => trace(SkParameter::J0, x, false),
        _ => Vec::new(),
    }
}

/// Block-average a matrix down to at most `max` rows and columns (the
/// heatmap of a 4,096-spin network would otherwise be a 64 MB texture).
fn downsample(j: &DMatrix<f64>, max: usize) -> DMatrix<f64> {
    let n = j.nrows();
    if n <= max {
        return j.clone();
    }
    let k = n.div_ceil(max);
    let m = n.div_ceil(k);
    DMatrix::from_fn(m, m, |r, c| {
        let mut s = 0.0;
        let mut cnt = 0.0;
        for i in r * k..((r + 1) * k).min(n) {
            for jj in c * k..((c + 1) * k).min(n) {
                s += j[(i, jj)];
                cnt += 1.0;
            }
        }
        s / cnt
    })
}
