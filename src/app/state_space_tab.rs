//! The State space tab: fit time-varying fields h(t) and couplings J(t) by
//! the state-space EM in the background (live evidence trace, Cancel), then
//! play J(t) as an animated heatmap with a fixed colour scale, beside the
//! fields with credible bands, the population rate and the entropy flow,
//! each with a cursor at the current bin. With ground truth (synthetic
//! data) the true J(t) plays alongside, with a scatter of estimated vs true
//! couplings at the current bin.

use std::path::Path;
use std::sync::Arc;

use egui_plot::{FilledArea, Line, Plot, PlotPoints, Points, VLine};
use nalgebra::DMatrix;
use rand::SeedableRng;

use super::plots::{HeatmapData, HeatmapView, correlation_and_r2, enlargeable};
use super::worker::{Job, JobContext, Wake, message};
use crate::spikes::SpikeRaster;
use crate::state_space::entropy_flow::{
    EntropyFlow, Quadrature, grand_mean_rates, mean_field_entropy_flow,
};
use crate::state_space::synth::{GpTruth, simulate_spikes};
use crate::state_space::{DEFAULT_TOL, StateSpaceFit, StateSpaceResult, ThetaSeries};

/// Settings of the synthetic trial dataset.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SynthSettings {
    /// Neurons.
    pub n: usize,
    /// Transitions per trial (bins − 1).
    pub t: usize,
    /// Trials.
    pub r: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for SynthSettings {
    fn default() -> Self {
        Self {
            n: 8,
            t: 80,
            r: 200,
            seed: 0,
        }
    }
}

/// The State space tab's settings and playback choices, saved in
/// sessions (the EM result is not: it is refitted with Run EM).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct StateSpaceViewState {
    /// The synthetic dataset.
    pub synth: SynthSettings,
    /// E-steps per neuron at most.
    pub max_iter: usize,
    /// Fit the loaded dataset's trials instead of synthetic ones.
    pub use_loaded: bool,
    /// Playback speed, bins per second.
    pub speed: f64,
    /// Loop the animation.
    pub looping: bool,
    /// Export folder.
    pub export_dir: String,
}

impl Default for StateSpaceViewState {
    fn default() -> Self {
        StateSpaceTab::default().view_state()
    }
}

/// What the EM job returns.
pub struct StateSpaceOutcome {
    /// The trials fitted.
    pub raster: Arc<SpikeRaster>,
    /// The fit.
    pub result: StateSpaceResult,
    /// Mean-field entropy flow from the smoothed parameters.
    pub flow: EntropyFlow,
    /// True parameters (synthetic data).
    pub truth: Option<ThetaSeries>,
    /// Population rate per bin (spikes per unit and bin, over trials).
    pub rate: Vec<f64>,
    /// Bin width in seconds.
    pub bin_seconds: f64,
}

/// Where transition `t` is drawn on the per-bin plots: at `t` (transition
/// index) without trials, else at the time of the bin it produces (t + 1)
/// from the trial's event, `(t + 1)·bin_s − event_offset_s` seconds
/// (negative before the event).
pub fn plot_time(t: f64, bin_s: f64, event_offset_s: Option<f64>) -> f64 {
    match event_offset_s {
        Some(pre) => (t + 1.0) * bin_s - pre,
        None => t,
    }
}

/// A run-time estimate of a state-space EM fit, from a timed piece of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmEstimate {
    /// Seconds per E-step of one neuron, measured.
    pub seconds_per_e_step: f64,
    /// Neurons fitted.
    pub neurons: usize,
    /// E-steps per neuron at most.
    pub max_iter: usize,
    /// Neurons fitted at once (worker threads).
    pub threads: usize,
}

impl EmEstimate {
    /// Seconds for the whole fit if every neuron runs all its E-steps (an
    /// upper bound: converged neurons stop early): the neurons run
    /// `threads` at a time, each `max_iter` E-steps.
    pub fn total_seconds(&self) -> f64 {
        let waves = self.neurons.div_ceil(self.threads.max(1));
        waves as f64 * self.max_iter as f64 * self.seconds_per_e_step
    }
}

/// Time `e_steps` E-steps of neuron 0 alone (the same per-neuron EM as the
/// full fit, so the same cost per step) and scale to the problem size.
fn calibrate(
    raster: &SpikeRaster,
    max_iter: usize,
    stop: &crate::progress::StopToken,
) -> Option<EmEstimate> {
    let e_steps = 2;
    let fit = StateSpaceFit {
        max_iter: e_steps,
        tol: None,
        accelerate: false,
        neurons: Some(0..1),
        ..Default::default()
    }
    .validate()
    .ok()?;
    let clock = std::time::Instant::now();
    let r = fit.fit(raster, &crate::progress::NoProgress, stop).ok()?;
    let steps = r
        .neuron_info
        .first()
        .map_or(e_steps, |f| f.iterations.max(1));
    Some(EmEstimate {
        seconds_per_e_step: clock.elapsed().as_secs_f64() / steps as f64,
        neurons: raster.n_units(),
        max_iter,
        threads: rayon::current_num_threads(),
    })
}

/// Fit (worker thread): synthetic data when `raster` is None. The
/// run-time estimate goes to `estimate` before the full fit starts.
pub fn run_state_space(
    raster: Option<(Arc<SpikeRaster>, f64)>,
    synth: SynthSettings,
    max_iter: usize,
    ctx: &JobContext<StateSpaceOutcome>,
    estimate: &std::sync::mpsc::Sender<EmEstimate>,
) -> Result<StateSpaceOutcome, String> {
    let (raster, truth, bin_seconds) = match raster {
        Some((r, w)) => (r, None, w),
        None => {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(synth.seed);
            let theta = GpTruth::paper(synth.n, synth.t)
                .draw(&mut rng)
                .map_err(message)?;
            let r = simulate_spikes(&theta, synth.r, 0.2, &mut rng).map_err(message)?;
            (Arc::new(r), Some(theta), 0.01)
        }
    };
    if let Some(e) = calibrate(&raster, max_iter, &ctx.stop) {
        let _ = estimate.send(e);
        // Wakes the UI to show it (no E-step of the full fit done yet).
        crate::progress::Progress::report(ctx, 0, (e.neurons * max_iter) as u64);
    }
    // The same path as the CLI's default: per-neuron convergence with
    // SQUAREM, at most `max_iter` E-steps per neuron.
    let fit = StateSpaceFit {
        max_iter,
        tol: Some(DEFAULT_TOL),
        accelerate: true,
        ..Default::default()
    }
    .validate()
    .map_err(message)?;
    let result = fit.fit(&raster, ctx, &ctx.stop).map_err(message)?;
    let m0 = grand_mean_rates(&raster);
    let flow = mean_field_entropy_flow(&result.theta_smoothed, &m0, Quadrature::Riemann100)
        .map_err(message)?
        .flow;
    let (r, t, n) = raster.shape();
    let mut rate = vec![0.0; t];
    for tr in 0..r {
        for (b, slot) in rate.iter_mut().enumerate() {
            *slot += raster.active_units(tr, b).count() as f64;
        }
    }
    for v in &mut rate {
        *v /= (r * n.max(1)) as f64;
    }
    Ok(StateSpaceOutcome {
        raster,
        result,
        flow,
        truth,
        rate,
        bin_seconds,
    })
}

/// `seconds` as `m:ss` (or `h:mm:ss`).
fn clock_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The running fit's timing line: the estimate (from the timed piece),
/// elapsed, and remaining — from the progress once some is made, else
/// from the estimate.
pub fn timing_text(estimate: Option<&EmEstimate>, fraction: f64, elapsed: f64) -> String {
    let Some(e) = estimate else {
        return format!(
            "elapsed {}; timing one E-step to estimate the run…",
            clock_text(elapsed)
        );
    };
    let total = e.total_seconds();
    let remaining = if fraction >= 0.02 {
        elapsed * (1.0 - fraction) / fraction
    } else {
        total - elapsed
    };
    format!(
        "estimated at most {} ({} neurons × {} E-steps, {} at a time, {:.3} s per E-step measured); elapsed {}, about {} remaining",
        clock_text(total),
        e.neurons,
        e.max_iter,
        e.threads.min(e.neurons),
        e.seconds_per_e_step,
        clock_text(elapsed),
        clock_text(remaining)
    )
}

/// Why EM stopped and how many E-steps the neurons took.
fn stopping_summary(r: &StateSpaceResult) -> String {
    let mut its: Vec<usize> = r.neuron_info.iter().map(|f| f.iterations).collect();
    its.sort_unstable();
    let converged = r
        .neuron_info
        .iter()
        .filter(|f| f.reason == crate::progress::TerminationReason::Converged)
        .count();
    format!(
        "EM finished ({}): {converged} of {} neurons converged; E-steps per neuron {}–{} (median {}); log evidence {:.3}",
        r.info.reason,
        its.len(),
        its.first().copied().unwrap_or(0),
        its.last().copied().unwrap_or(0),
        its.get(its.len() / 2).copied().unwrap_or(0),
        r.evidence()
    )
}

/// View state of the State space tab.
pub struct StateSpaceTab {
    /// Seconds from a trial's first bin to its event, for loaded data with
    /// trials (set by the app each frame): the per-bin plots then run in
    /// time from the event.
    pub event_offset_s: Option<f64>,
    synth: SynthSettings,
    max_iter: usize,
    use_loaded: bool,
    job: Option<Job<StateSpaceOutcome>>,
    /// When the running job started, its estimate, and whether the user
    /// cancelled it.
    job_started: Option<std::time::Instant>,
    estimate_rx: Option<std::sync::mpsc::Receiver<EmEstimate>>,
    /// The running (or last) job's run-time estimate.
    pub estimate: Option<EmEstimate>,
    cancelled: bool,
    outcome: Option<StateSpaceOutcome>,
    /// Current bin (transition index) of the animation.
    pub bin: usize,
    /// Whether the animation plays.
    pub playing: bool,
    /// Bins per second.
    speed: f64,
    looping: bool,
    accumulated: f64,
    estimate_view: HeatmapView,
    truth_view: HeatmapView,
    /// The clicked cell `(i, j)`: its J_ij(t) is plotted.
    pub selected: Option<(usize, usize)>,
    /// The hovered cell and its value at the current bin.
    pub hovered: Option<(usize, usize, f64)>,
    /// Where the estimated heatmap was drawn last frame (for tests).
    pub heatmap_rect: Option<egui::Rect>,
    message: Option<String>,
    /// The export's confirmation or error, shown by its button.
    export_message: Option<String>,
    export_dir: String,
}

impl Default for StateSpaceTab {
    fn default() -> Self {
        Self {
            event_offset_s: None,
            synth: SynthSettings::default(),
            max_iter: 120,
            use_loaded: false,
            job: None,
            job_started: None,
            estimate_rx: None,
            estimate: None,
            cancelled: false,
            outcome: None,
            bin: 0,
            playing: false,
            speed: 20.0,
            looping: true,
            accumulated: 0.0,
            estimate_view: HeatmapView::new("ss_estimate"),
            truth_view: HeatmapView::new("ss_truth"),
            selected: None,
            hovered: None,
            heatmap_rect: None,
            message: None,
            export_message: None,
            export_dir: "state-space-export".into(),
        }
    }
}

/// J(t) of one bin as a matrix.
fn couplings_at(theta: &ThetaSeries, t: usize) -> DMatrix<f64> {
    let n = theta.n_units();
    DMatrix::from_fn(n, n, |i, j| theta.j(t, i, j))
}

/// The largest |J_ij(t)| over all bins (fixed colour scale).
fn max_abs_coupling(theta: &ThetaSeries) -> f64 {
    let n = theta.n_units();
    let mut m = 0.0f64;
    for t in 0..theta.n_steps() {
        for i in 0..n {
            for j in 0..n {
                m = m.max(theta.j(t, i, j).abs());
            }
        }
    }
    if m > 0.0 { m } else { 1.0 }
}

impl StateSpaceTab {
    /// The settings to save in a session.
    pub fn view_state(&self) -> StateSpaceViewState {
        StateSpaceViewState {
            synth: self.synth,
            max_iter: self.max_iter,
            use_loaded: self.use_loaded,
            speed: self.speed,
            looping: self.looping,
            export_dir: self.export_dir.clone(),
        }
    }

    /// Restore saved settings (out-of-range numbers are clamped to the
    /// controls' ranges).
    pub fn apply_view_state(&mut self, v: &StateSpaceViewState) {
        self.synth = SynthSettings {
            n: v.synth.n.clamp(2, 100),
            t: v.synth.t.clamp(2, 2000),
            r: v.synth.r.clamp(1, 5000),
            seed: v.synth.seed,
        };
        self.max_iter = v.max_iter.clamp(1, 1000);
        self.use_loaded = v.use_loaded;
        self.speed = if v.speed.is_finite() {
            v.speed.clamp(1.0, 120.0)
        } else {
            20.0
        };
        self.looping = v.looping;
        self.export_dir = v.export_dir.clone();
    }

    /// Whether an EM fit runs.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// The finished fit, if any.
    pub fn outcome(&self) -> Option<&StateSpaceOutcome> {
        self.outcome.as_ref()
    }

    /// Drain the job and advance the animation (from `App::logic`).
    pub fn logic(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &self.estimate_rx
            && let Ok(e) = rx.try_recv()
        {
            self.estimate = Some(e);
        }
        if let Some(job) = &mut self.job
            && let Some(r) = job.poll()
        {
            self.job = None;
            self.estimate_rx = None;
            let cancelled = std::mem::take(&mut self.cancelled);
            match r {
                // Cancel keeps the previous result (a cancelled fit returns
                // its partial estimate, which must not replace it).
                Ok(_) | Err(_) if cancelled && self.outcome.is_some() => {
                    self.message = Some("EM cancelled: the previous result is kept.".to_string());
                }
                Ok(o) => {
                    self.message = Some(stopping_summary(&o.result));
                    self.outcome = Some(o);
                    self.bin = 0;
                    self.selected = None;
                }
                Err(e) => self.message = Some(e),
            }
        }
        let Some(o) = &self.outcome else { return };
        let steps = o.result.n_steps();
        if self.playing && steps > 0 {
            let dt = ctx.input(|i| i.stable_dt).min(0.1) as f64;
            self.accumulated += dt * self.speed;
            while self.accumulated >= 1.0 {
                self.accumulated -= 1.0;
                if self.bin + 1 < steps {
                    self.bin += 1;
                } else if self.looping {
                    self.bin = 0;
                } else {
                    self.playing = false;
                }
            }
            ctx.request_repaint();
        }
    }

    /// Run EM on synthetic trials with the current settings.
    pub fn start_synthetic(&mut self, wake: &Wake) {
        self.use_loaded = false;
        self.start(None, wake);
    }

    fn start(&mut self, loaded: Option<(Arc<SpikeRaster>, f64)>, wake: &Wake) {
        let synth = self.synth;
        let max_iter = self.max_iter;
        // The previous outcome stays until the new one arrives (Cancel
        // keeps it).
        self.playing = false;
        let (tx, rx) = std::sync::mpsc::channel();
        self.estimate_rx = Some(rx);
        self.estimate = None;
        self.cancelled = false;
        self.job_started = Some(std::time::Instant::now());
        // "EM finished …" and "Wrote …" belong to the previous run.
        self.message = None;
        self.export_message = None;
        self.job = Some(Job::spawn("State-space EM", wake.clone(), move |ctx| {
            run_state_space(loaded, synth, max_iter, ctx, &tx)
        }));
    }

    /// Draw the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, loaded: Option<(Arc<SpikeRaster>, f64)>, wake: &Wake) {
        ui.heading("State-space model: time-varying fields and couplings");
        self.controls_ui(ui, loaded, wake);
        if let Some(job) = &self.job {
            let trace: Vec<[f64; 2]> = job
                .trace
                .iter()
                .enumerate()
                .map(|(k, &v)| [k as f64 + 1.0, v])
                .collect();
            let elapsed = self.job_started.map_or(0.0, |t| t.elapsed().as_secs_f64());
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!(
                    "EM: {} of at most {} E-steps (all neurons; a neuron that converges counts as done)",
                    job.progress.0, job.progress.1
                ));
                if ui.button("Cancel EM").clicked() {
                    job.cancel();
                    self.cancelled = true;
                }
            });
            ui.label(timing_text(
                self.estimate.as_ref(),
                job.fraction() as f64,
                elapsed,
            ));
            // The clock advances without worker events.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(500));
            Plot::new("ss_evidence_live")
                .allow_scroll(false)
                .height(160.0)
                .x_grid_spacer(super::plots::nice_grid_marks)
                .y_grid_spacer(super::plots::nice_grid_marks)
                .x_axis_label("EM iteration")
                .y_axis_label("log evidence")
                .show(ui, |plot| {
                    plot.line(Line::new("evidence", PlotPoints::from(trace)))
                });
            return;
        }
        if self.outcome.is_none() {
            ui.label("Generate synthetic trials or use the loaded trial data, then run EM.");
            return;
        }
        self.animation_ui(ui);
    }

    fn controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        loaded: Option<(Arc<SpikeRaster>, f64)>,
        wake: &Wake,
    ) {
        ui.horizontal(|ui| {
            ui.radio_value(
                &mut self.use_loaded,
                false,
                "synthetic trials (with ground truth)",
            );
            ui.add_enabled_ui(loaded.is_some(), |ui| {
                ui.radio_value(&mut self.use_loaded, true, "the loaded dataset's trials");
            });
        });
        ui.horizontal(|ui| {
            if !self.use_loaded {
                super::data_tab::drag(ui, "neurons", &mut self.synth.n, 2.0..=100.0, 1.0);
                super::data_tab::drag(ui, "transitions", &mut self.synth.t, 2.0..=2000.0, 1.0);
                super::data_tab::drag(ui, "trials", &mut self.synth.r, 1.0..=5000.0, 1.0);
                super::data_tab::drag(ui, "seed", &mut self.synth.seed, 0.0..=1e9, 1.0);
            }
            super::data_tab::drag(ui, "EM iterations", &mut self.max_iter, 1.0..=1000.0, 1.0);
            let busy = self.job.is_some();
            if ui.add_enabled(!busy, egui::Button::new("Run EM")).clicked() {
                let data = if self.use_loaded { loaded } else { None };
                self.start(data, wake);
            }
        });
        if let Some(m) = &self.message {
            ui.label(m);
        }
    }

    fn animation_ui(&mut self, ui: &mut egui::Ui) {
        let Some(o) = &self.outcome else { return };
        let res = &o.result;
        let steps = res.n_steps();
        let n = res.n_units();
        let bin = self.bin.min(steps.saturating_sub(1));
        ui.horizontal(|ui| {
            let label = if self.playing { "Pause" } else { "Play" };
            if ui.button(label).clicked() {
                self.playing = !self.playing;
            }
            let mut b = bin;
            ui.add(egui::Slider::new(&mut b, 0..=steps.saturating_sub(1)).text("bin"));
            if b != bin {
                self.bin = b;
                self.playing = false;
            }
            ui.label(format!("t = {:.3} s", bin as f64 * o.bin_seconds));
            ui.add(egui::Slider::new(&mut self.speed, 1.0..=120.0).text("bins/s"));
            ui.checkbox(&mut self.looping, "loop");
        });
        let limit = max_abs_coupling(&res.theta_smoothed);
        let estimate = couplings_at(&res.theta_smoothed, bin);
        let truth = o.truth.as_ref().map(|t| couplings_at(t, bin));
        let order: Vec<usize> = (0..n).collect();
        let labels: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let size = 240.0f32.min(ui.available_width() / 3.0);
        let generation = bin as u64 + 1;
        let mut clicked = None;
        self.hovered = None;
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.strong("Estimated J(t) (smoothed)");
                let r = self.estimate_view.ui(
                    ui,
                    &HeatmapData {
                        matrix: &estimate,
                        generation,
                        order: &order,
                        labels: &labels,
                        limit,
                        threshold: 0.0,
                    },
                    size,
                );
                self.heatmap_rect = r.rect;
                if let Some((i, j)) = r.hovered {
                    self.hovered = Some((i, j, estimate[(i, j)]));
                }
                clicked = clicked.or(r.clicked);
            });
            if let Some(tj) = &truth {
                ui.vertical(|ui| {
                    ui.strong("True J(t)");
                    let r = self.truth_view.ui(
                        ui,
                        &HeatmapData {
                            matrix: tj,
                            generation,
                            order: &order,
                            labels: &labels,
                            limit,
                            threshold: 0.0,
                        },
                        size,
                    );
                    clicked = clicked.or(r.clicked);
                });
                ui.vertical(|ui| {
                    let x: Vec<f64> = tj.iter().copied().collect();
                    let y: Vec<f64> = estimate.iter().copied().collect();
                    match correlation_and_r2(&x, &y) {
                        Some((r, _)) => {
                            ui.strong(format!("Estimated vs true at this bin: r = {r:.3}"))
                        }
                        None => ui.strong("Estimated vs true at this bin"),
                    };
                    let pts: Vec<[f64; 2]> = x.iter().zip(&y).map(|(&a, &b)| [a, b]).collect();
                    Plot::new("ss_scatter")
                        .allow_scroll(false)
                        .width(size)
                        .height(size)
                        .data_aspect(1.0)
                        .x_axis_label("true")
                        .y_grid_spacer(super::plots::nice_grid_marks)
                        .y_axis_label("estimated")
                        .show(ui, |plot| {
                            plot.line(Line::new(
                                "identity",
                                PlotPoints::from(vec![[-limit, -limit], [limit, limit]]),
                            ));
                            plot.points(Points::new("J_ij", PlotPoints::from(pts)).radius(2.0));
                        });
                });
            }
        });
        if let Some(c) = clicked {
            self.selected = Some(c);
        }
        ui.label(match self.hovered {
            Some((i, j, v)) => format!("hovered: J[to {i}, from {j}] at bin {bin} = {v:.6}"),
            None => "hover a cell for its value; click it to plot J_ij(t)".into(),
        });
        self.series_ui(ui, bin);
        self.export_ui(ui);
    }

    fn series_ui(&mut self, ui: &mut egui::Ui, bin: usize) {
        let Some(o) = &self.outcome else { return };
        let res = &o.result;
        let steps = res.n_steps();
        let n = res.n_units();
        let width = (ui.available_width() / 3.0 - 8.0).max(150.0);
        // With trials, time runs from the event: transition t is drawn at
        // the time of the bin it produces (t + 1), minus the event's offset.
        let bin_s = o.bin_seconds;
        // (Synthetic data, which carry their truth, have no event.)
        let event = self.event_offset_s.filter(|_| o.truth.is_none());
        let x_of = |t: f64| plot_time(t, bin_s, event);
        let x_label = if event.is_some() {
            "time of bin t+1 from the event (s)"
        } else {
            "transition t (bin t to t+1)"
        };
        let event_line = |plot: &mut egui_plot::PlotUi<'_>| {
            if event.is_some() {
                plot.vline(VLine::new("event", 0.0).color(egui::Color32::from_rgb(250, 200, 60)));
            }
        };
        let xs: Vec<f64> = (0..steps).map(|t| x_of(t as f64)).collect();
        let cursor = x_of(bin as f64);
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                enlargeable(
                    ui,
                    "ss_fields",
                    "Fields h_i(t), ±1.645 s.d. (units 0–2)",
                    egui::vec2(width, 170.0),
                    |ui, size| {
                        time_plot("ss_fields", size, x_label).show(ui, |plot| {
                            for i in 0..n.min(3) {
                                let mean: Vec<f64> =
                                    (0..steps).map(|t| res.theta_smoothed.h(t, i)).collect();
                                let sd: Vec<f64> =
                                    (0..steps).map(|t| res.sd_smoothed.h(t, i)).collect();
                                let lo: Vec<f64> =
                                    mean.iter().zip(&sd).map(|(m, s)| m - 1.645 * s).collect();
                                let hi: Vec<f64> =
                                    mean.iter().zip(&sd).map(|(m, s)| m + 1.645 * s).collect();
                                plot.add(FilledArea::new(format!("band {i}"), &xs, &lo, &hi));
                                let pts: Vec<[f64; 2]> =
                                    xs.iter().zip(&mean).map(|(&x, &y)| [x, y]).collect();
                                plot.line(Line::new(format!("h_{i}"), PlotPoints::from(pts)));
                            }
                            plot.vline(VLine::new("bin", cursor));
                            event_line(plot);
                        });
                    },
                );
            });
            ui.vertical(|ui| {
                // Transition t (the x axis) produces bin t + 1: its rate is
                // drawn at t, in line with θ(t) and the entropy flow.
                let pts: Vec<[f64; 2]> = o
                    .rate
                    .iter()
                    .skip(1)
                    .enumerate()
                    .map(|(t, &v)| [x_of(t as f64), v])
                    .collect();
                enlargeable(
                    ui,
                    "ss_rate",
                    "Population rate of bin t+1 (spikes per unit)",
                    egui::vec2(width, 170.0),
                    |ui, size| {
                        time_plot("ss_rate", size, x_label).show(ui, |plot| {
                            plot.line(Line::new("rate", PlotPoints::from(pts)));
                            plot.vline(VLine::new("bin", cursor));
                            event_line(plot);
                        });
                    },
                );
            });
            ui.vertical(|ui| {
                let f = &o.flow;
                let line = |v: &[f64]| -> Vec<[f64; 2]> {
                    v.iter()
                        .enumerate()
                        .map(|(t, &y)| [x_of(t as f64), y])
                        .collect()
                };
                enlargeable(
                    ui,
                    "ss_flow",
                    "Entropy flow (mean-field), nats per bin",
                    egui::vec2(width, 170.0),
                    |ui, size| {
                        time_plot("ss_flow", size, x_label)
                            .legend(egui_plot::Legend::default())
                            .show(ui, |plot| {
                                plot.line(Line::new("total", PlotPoints::from(line(&f.total))));
                                plot.line(Line::new("forward", PlotPoints::from(line(&f.forward))));
                                plot.line(Line::new("reverse", PlotPoints::from(line(&f.reverse))));
                                plot.vline(VLine::new("bin", cursor));
                                event_line(plot);
                            });
                    },
                );
            });
        });
        if let Some((i, j)) = self.selected {
            let title = format!("J[to {i}, from {j}](t) of the clicked cell, ±1.96 s.d.");

            let mean: Vec<f64> = (0..steps).map(|t| res.theta_smoothed.j(t, i, j)).collect();
            let sd: Vec<f64> = (0..steps)
                .map(|t| res.sd_smoothed.get(t, i, 1 + j))
                .collect();
            let lo: Vec<f64> = mean.iter().zip(&sd).map(|(m, s)| m - 1.96 * s).collect();
            let hi: Vec<f64> = mean.iter().zip(&sd).map(|(m, s)| m + 1.96 * s).collect();
            let truth = o.truth.as_ref();
            let cell_width = ui.available_width();
            enlargeable(
                ui,
                "ss_cell",
                &title,
                egui::vec2(cell_width, 150.0),
                |ui, size| {
                    time_plot("ss_cell", size, x_label)
                        .legend(egui_plot::Legend::default())
                        .show(ui, |plot| {
                            plot.add(FilledArea::new("credible band", &xs, &lo, &hi));
                            let pts: Vec<[f64; 2]> =
                                xs.iter().zip(&mean).map(|(&x, &y)| [x, y]).collect();
                            plot.line(Line::new("estimate", PlotPoints::from(pts)));
                            if let Some(t) = truth {
                                let pts: Vec<[f64; 2]> =
                                    (0..steps).map(|k| [x_of(k as f64), t.j(k, i, j)]).collect();
                                plot.line(Line::new("truth", PlotPoints::from(pts)));
                            }
                            plot.vline(VLine::new("bin", cursor));
                            event_line(plot);
                        });
                },
            );
        }
    }

    fn export_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let l = ui.label("Export folder:");
            ui.add(egui::TextEdit::singleline(&mut self.export_dir).desired_width(200.0))
                .labelled_by(l.id);
            if ui.button("Export frames and CSV").clicked() {
                self.export_message = Some(match self.export(Path::new(&self.export_dir)) {
                    Ok(k) => format!("Wrote {k} PNG frames and theta.csv to {}", self.export_dir),
                    Err(e) => e,
                });
            }
            // The confirmation next to the button that caused it.
            if let Some(m) = &self.export_message {
                ui.label(m);
            }
        });
    }

    /// Write every bin's estimated J(t) as `frame_00000.png` … (see
    /// [`render_frame`]: at least 512 px of heatmap, the colour bar and the
    /// time stamp) and the smoothed parameters as `theta.csv`
    /// (`t,i,h,J_from_0..`).
    fn export(&self, dir: &Path) -> Result<usize, String> {
        let Some(o) = &self.outcome else {
            return Err("nothing to export: run EM first".into());
        };
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let th = &o.result.theta_smoothed;
        let (steps, n) = (th.n_steps(), th.n_units());
        let limit = max_abs_coupling(th);
        for t in 0..steps {
            let (w, h, rgb) = render_frame(&couplings_at(th, t), limit, t, o.bin_seconds);
            let path = dir.join(format!("frame_{t:05}.png"));
            super::plots::write_png(&path, w as u32, h as u32, &rgb)?;
        }
        let mut csv = String::from("t,i,h");
        for j in 0..n {
            csv.push_str(&format!(",J_from_{j}"));
        }
        csv.push('\n');
        for t in 0..steps {
            for i in 0..n {
                csv.push_str(&format!("{t},{i},{:e}", th.h(t, i)));
                for j in 0..n {
                    csv.push_str(&format!(",{:e}", th.j(t, i, j)));
                }
                csv.push('\n');
            }
        }
        let p = dir.join("theta.csv");
        crate::io::output::write_bytes(&p, csv.as_bytes()).map_err(|e| e.to_string())?;
        Ok(steps)
    }
}

/// Smallest heatmap side of an exported frame, pixels.
pub const FRAME_MIN_SIDE: usize = 512;

/// One exported frame as `(width, height, RGB rows)`: J (row i = to,
/// column j = from) in `side ≥ 512` pixels (whole pixels per coupling),
/// under a band with the time stamp `t = … s  bin …`, beside the colour
/// bar (+limit red at the top, −limit blue at the bottom) and its labels.
pub fn render_frame(
    j: &DMatrix<f64>,
    limit: f64,
    bin: usize,
    bin_seconds: f64,
) -> (usize, usize, Vec<u8>) {
    let n = j.nrows().max(1);
    let scale = FRAME_MIN_SIDE.div_ceil(n);
    let side = n * scale;
    let (top, gap, bar, label_w, bottom) = (40, 16, 24, 96, 10);
    let (w, h) = (side + gap + bar + 8 + label_w, top + side + bottom);
    let mut img = Canvas {
        w,
        h,
        rgb: vec![255; w * h * 3],
    };
    for y in 0..side {
        for x in 0..side {
            let v = j.get((y / scale, x / scale)).copied().unwrap_or(0.0);
            img.set(x, top + y, super::plots::diverging((v / limit) as f32));
        }
    }
    let bar_x = side + gap;
    for y in 0..side {
        // +1 at the top row, −1 at the bottom row.
        let v = 1.0 - 2.0 * y as f32 / (side - 1).max(1) as f32;
        let c = super::plots::diverging(v);
        for x in bar_x..bar_x + bar {
            img.set(x, top + y, c);
        }
    }
    let ink = egui::Color32::BLACK;
    img.text(
        8,
        10,
        3,
        &format!("t = {:.3} s  bin {bin}", bin as f64 * bin_seconds),
        ink,
    );
    let lx = bar_x + bar + 8;
    img.text(lx, top, 2, &format!("{limit:+.3}"), ink);
    img.text(lx, top + side / 2 - 7, 2, "0", ink);
    img.text(lx, top + side - 14, 2, &format!("{:+.3}", -limit), ink);
    (w, h, img.rgb)
}

/// An RGB image being drawn into.
struct Canvas {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: usize, y: usize, c: egui::Color32) {
        if x < self.w && y < self.h {
            let k = (y * self.w + x) * 3;
            self.rgb[k..k + 3].copy_from_slice(&[c.r(), c.g(), c.b()]);
        }
    }

    /// `text` in a 5 × 7 pixel font magnified `size` times, top-left at
    /// `(x, y)`; characters without a glyph are left blank.
    fn text(&mut self, x: usize, y: usize, size: usize, text: &str, c: egui::Color32) {
        for (k, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            let x0 = x + k * 6 * size;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0b10000 >> col) != 0 {
                        for dy in 0..size {
                            for dx in 0..size {
                                self.set(x0 + col * size + dx, y + r * size + dy, c);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Rows (5 bits, left = high bit) of the characters a frame label uses.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [
            0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110,
        ],
        '1' => [
            0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
        ],
        '2' => [
            0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111,
        ],
        '3' => [
            0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110,
        ],
        '4' => [
            0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010,
        ],
        '5' => [
            0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110,
        ],
        '6' => [
            0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110,
        ],
        '7' => [
            0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000,
        ],
        '8' => [
            0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110,
        ],
        '9' => [
            0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100,
        ],
        '.' => [0, 0, 0, 0, 0, 0b01100, 0b01100],
        '-' => [0, 0, 0, 0b11111, 0, 0, 0],
        '+' => [0, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0],
        '=' => [0, 0, 0b11111, 0, 0b11111, 0, 0],
        't' => [
            0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110,
        ],
        's' => [0, 0, 0b01110, 0b10000, 0b01110, 0b00001, 0b11110],
        'b' => [
            0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110,
        ],
        'i' => [0b00100, 0, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110],
        'n' => [0, 0, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
        _ => [0; 7],
    }
}

/// A per-bin plot of the fit (x: transition or time from the event),
/// `size` as [`enlargeable`] gives it, y ticks on the nice grid.
fn time_plot(id: &str, size: egui::Vec2, x_label: &str) -> Plot<'static> {
    Plot::new(id)
        .allow_scroll(false)
        .width(size.x)
        .height(size.y)
        .x_axis_label(x_label.to_string())
        .x_grid_spacer(super::plots::nice_grid_marks)
        .y_grid_spacer(super::plots::nice_grid_marks)
        .y_axis_formatter(super::plots::tick_label)
}

#[cfg(test)]
mod tests {
    use super::plot_time;

    #[test]
    fn transitions_are_drawn_in_time_from_the_event() {
        // 10 ms bins, trials cut 0.5 s before the event: transition 49
        // produces bin 50, which starts at the event.
        assert_eq!(plot_time(49.0, 0.01, Some(0.5)), 0.0);
        assert!((plot_time(0.0, 0.01, Some(0.5)) + 0.49).abs() < 1e-12);
        assert!((plot_time(99.0, 0.01, Some(0.5)) - 0.5).abs() < 1e-12);
        // Without trials the axis is the transition index.
        assert_eq!(plot_time(7.0, 0.01, None), 7.0);
    }
}
