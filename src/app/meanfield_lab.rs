//! The Mean-field lab tab: every forward Plefka approximation against the
//! true dynamics of a network, live — the comparison figure of the Plefka
//! paper, for an SK draw or the fitted couplings.
//!
//! The sweep runs in a background [`Job`] (progress, Cancel); the library's
//! [`compare_forward`] does the work at each β, so the numbers are those of
//! `isingscope forward-compare`.

use egui::Color32;
use egui_plot::{Line, Plot, PlotPoints, Points, VLine};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;

use super::plots::{enlargeable, legend, line_width, marker_radius};
use super::worker::{Job, JobContext, Wake};
use crate::meanfield::compare::{
    BetaComparison, CompareInit, CompareOptions, MAX_EXACT_N, MethodStatus, Reference,
    compare_forward,
};
use crate::meanfield::{Method, Quadrature};
use crate::model::{KineticIsing, SkParams};
use crate::progress::Progress;
use crate::sk_theory::critical_beta;

/// One line per method: its name in words and what it assumes.
pub fn method_description(m: Method) -> (&'static str, &'static str) {
    match m {
        Method::PlefkaT1TO1 => (
            "nMF — Plefka[t−1,t] order 1",
            "independent spins at t−1 and t: naive mean field, no correlations",
        ),
        Method::PlefkaT1TO2 => (
            "TAP — Plefka[t−1,t] order 2",
            "adds the Onsager reaction term to m; C from J diag(a) J^T",
        ),
        Method::PlefkaTO1 => ("Plefka[t] order 1", "keeps C(t−1) for D; otherwise nMF"),
        Method::PlefkaTO2 => (
            "Plefka[t] order 2",
            "Gaussian fields with C(t−1): corrects m, C and D to second order",
        ),
        Method::PlefkaT1O1 => (
            "Plefka[t−1] order 1",
            "exact conditional at t given independent spins at t−1 (slow: N² Gaussian integrals per step)",
        ),
        Method::Plefka2TO1 => (
            "Plefka2[t] order 1",
            "pairwise reference model (pairs at t−1), first order",
        ),
        Method::Plefka2TO2 => (
            "Plefka2[t] order 2",
            "pairwise reference model, second order: the most accurate here",
        ),
    }
}

/// A fixed colour per method (same for its line and its points).
fn method_color(m: Method) -> Color32 {
    super::plots::categorical(Method::ALL.iter().position(|x| *x == m).unwrap_or(0))
}

/// Where the network comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NetworkSource {
    /// An SK draw with the tab's parameters.
    Sk,
    /// The fitted (effective) H and J of the loaded dataset.
    Fitted,
}

/// The tab's settings (saved with sessions).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LabSettings {
    /// Network source.
    pub source: NetworkSource,
    /// SK draw: N.
    pub n: usize,
    /// SK draw: J0.
    pub j0: f64,
    /// SK draw: ΔJ.
    pub dj: f64,
    /// SK draw: H0.
    pub h0: f64,
    /// Seed of the draw and of the simulated trials.
    pub seed: u64,
    /// First β of the sweep.
    pub beta_from: f64,
    /// Last β of the sweep.
    pub beta_to: f64,
    /// Number of β values (1 = only `beta_from`).
    pub points: usize,
    /// Steps T.
    pub steps: usize,
    /// Simulated trials R (used when N > 12).
    pub trials: usize,
    /// Start from all +1 (else random ±1).
    pub all_up: bool,
    /// Methods to run (`Method::ALL` order).
    pub enabled: Vec<bool>,
}

impl Default for LabSettings {
    fn default() -> Self {
        Self {
            source: NetworkSource::Sk,
            // The Plefka paper's network: H0 = 0.5, J0 = 1, ΔJ = 0.1, around
            // its critical β ≈ 1.11.
            n: 512,
            j0: 1.0,
            dj: 0.1,
            h0: 0.5,
            seed: 0,
            beta_from: 0.7,
            beta_to: 1.5,
            points: 9,
            steps: 128,
            trials: 1000,
            all_up: true,
            // Plefka[t−1] o1 is off by default: at N = 512 it alone takes
            // longer than all the others together.
            enabled: Method::ALL
                .iter()
                .map(|m| *m != Method::PlefkaT1O1)
                .collect(),
        }
    }
}

impl LabSettings {
    /// The settings with every out-of-range field reset to its default
    /// (sessions are user files), and the names of the fields that were.
    pub fn validated(mut self) -> (Self, Vec<&'static str>) {
        let d = Self::default();
        let mut dropped = Vec::new();
        let finite_in = |v: f64, lo: f64, hi: f64| v.is_finite() && (lo..=hi).contains(&v);
        if !(1..=4096).contains(&self.n) {
            self.n = d.n;
            dropped.push("N");
        }
        for (name, v, dv, lo, hi) in [
            ("J0", &mut self.j0, d.j0, -5.0, 5.0),
            ("ΔJ", &mut self.dj, d.dj, 0.0, 5.0),
            ("H0", &mut self.h0, d.h0, 0.0, 5.0),
            ("β from", &mut self.beta_from, d.beta_from, 0.0, 10.0),
            ("β to", &mut self.beta_to, d.beta_to, 0.0, 10.0),
        ] {
            if !finite_in(*v, lo, hi) {
                *v = dv;
                dropped.push(name);
            }
        }
        if !(1..=50).contains(&self.points) {
            self.points = d.points;
            dropped.push("β points");
        }
        if !(1..=2000).contains(&self.steps) {
            self.steps = d.steps;
            dropped.push("steps");
        }
        if !(1..=1_000_000).contains(&self.trials) {
            self.trials = d.trials;
            dropped.push("trials");
        }
        if self.enabled.len() != Method::ALL.len() {
            self.enabled = d.enabled;
            dropped.push("methods");
        }
        (self, dropped)
    }
}

/// A finished sweep.
#[derive(Clone, Debug)]
pub struct SweepOutcome {
    /// What was compared, for the heading.
    pub label: String,
    /// One entry per β, ascending.
    pub results: Vec<BetaComparison>,
    /// The SK theory's critical β of the drawn network's ensemble.
    pub beta_c: Option<f64>,
    /// Whether the sweep was cancelled part-way (results hold what ran).
    pub partial: bool,
}

/// View state of the Mean-field lab.
#[derive(Default)]
pub struct MeanFieldLab {
    /// Settings of the next run.
    pub settings: LabSettings,
    job: Option<Job<SweepOutcome>>,
    /// The last finished sweep.
    pub outcome: Option<SweepOutcome>,
    /// Index of the β shown in the per-β plots.
    pub selected: usize,
    message: Option<String>,
}

/// Progress of one β's comparison mapped onto the whole sweep.
struct SweepProgress<'a> {
    ctx: &'a JobContext<SweepOutcome>,
    done_before: u64,
    per_beta: u64,
    total: u64,
}

impl Progress for SweepProgress<'_> {
    fn report(&self, done: u64, _total: u64) {
        self.ctx
            .report(self.done_before + done.min(self.per_beta), self.total);
    }
}

/// The β values of a sweep.
pub fn beta_values(s: &LabSettings) -> Vec<f64> {
    if s.points <= 1 {
        return vec![s.beta_from];
    }
    (0..s.points)
        .map(|k| s.beta_from + (s.beta_to - s.beta_from) * k as f64 / (s.points - 1) as f64)
        .collect()
}

/// Run the sweep (worker thread).
fn run_sweep(
    s: &LabSettings,
    fitted: Option<(DVector<f64>, DMatrix<f64>)>,
    ctx: &JobContext<SweepOutcome>,
) -> Result<SweepOutcome, String> {
    let (base, label, beta_c) = match (s.source, fitted) {
        (NetworkSource::Fitted, Some((h, j))) => {
            let n = h.len();
            let model = KineticIsing::new(h, j, 1.0).map_err(|e| e.to_string())?;
            (model, format!("fitted network, N = {n}"), None)
        }
        (NetworkSource::Fitted, None) => {
            return Err("no fitted model: fit the loaded data first (Fit tab)".into());
        }
        (NetworkSource::Sk, _) => {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(s.seed);
            let model = SkParams {
                n: s.n,
                j0: s.j0,
                dj: s.dj,
                h0: s.h0,
                beta: 1.0,
            }
            .draw(&mut rng)
            .map_err(|e| e.to_string())?;
            (
                model,
                format!(
                    "SK network N = {}, J0 = {}, ΔJ = {}, H0 = {}, seed {}",
                    s.n, s.j0, s.dj, s.h0, s.seed
                ),
                critical_beta(s.j0, s.dj, s.h0),
            )
        }
    };
    let methods: Vec<Method> = Method::ALL
        .iter()
        .zip(&s.enabled)
        .filter(|(_, on)| **on)
        .map(|(m, _)| *m)
        .collect();
    let reference = if base.n() <= MAX_EXACT_N {
        Reference::Exact
    } else {
        Reference::Simulation {
            trials: s.trials.max(1),
            seed: s.seed,
        }
    };
    let opts = CompareOptions {
        steps: s.steps.max(1),
        init: if s.all_up {
            CompareInit::AllUp
        } else {
            CompareInit::Random
        },
        reference,
        methods,
        quadrature: Quadrature::Riemann20,
    };
    let betas = beta_values(s);
    let per_beta = 1 + opts.methods.len() as u64;
    let total = per_beta * betas.len() as u64;
    let mut results = Vec::with_capacity(betas.len());
    let mut partial = false;
    for (k, &beta) in betas.iter().enumerate() {
        let model = base.with_beta(beta).map_err(|e| e.to_string())?;
        let progress = SweepProgress {
            ctx,
            done_before: per_beta * k as u64,
            per_beta,
            total,
        };
        match compare_forward(&model, &opts, &progress, &ctx.stop) {
            Ok(r) => results.push(r),
            Err(crate::Error::Cancelled) => {
                partial = true;
                break;
            }
            Err(e) => return Err(format!("β = {beta}: {e}")),
        }
    }
    Ok(SweepOutcome {
        label,
        results,
        beta_c,
        partial,
    })
}

impl MeanFieldLab {
    /// Whether a sweep runs.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Drain the job (from `App::logic`).
    pub fn logic(&mut self) {
        if let Some(job) = &mut self.job
            && let Some(r) = job.poll()
        {
            self.job = None;
            match r {
                Ok(o) => {
                    self.message = Some(if o.partial {
                        format!(
                            "Cancelled: {} of the β values were computed (shown below).",
                            o.results.len()
                        )
                    } else {
                        format!("Sweep finished: {} β values.", o.results.len())
                    });
                    self.selected = o.results.len().saturating_sub(1).min(self.selected);
                    self.outcome = Some(o);
                }
                Err(e) => self.message = Some(e),
            }
        }
    }

    /// Start a sweep with the current settings. `fitted` is the loaded
    /// dataset's fitted (h, J), if any.
    pub fn start(&mut self, fitted: Option<(DVector<f64>, DMatrix<f64>)>, wake: &Wake) {
        let s = self.settings.clone();
        self.message = None;
        self.job = Some(Job::spawn("Mean-field sweep", wake.clone(), move |ctx| {
            run_sweep(&s, fitted, ctx)
        }));
    }

    /// Draw the tab.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        fitted: Option<(DVector<f64>, DMatrix<f64>)>,
        wake: &Wake,
    ) {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("Mean-field lab: Plefka approximations against the true dynamics");
            self.controls_ui(ui, fitted, wake);
            ui.separator();
            self.results_ui(ui);
        });
    }

    fn controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        fitted: Option<(DVector<f64>, DMatrix<f64>)>,
        wake: &Wake,
    ) {
        let has_fit = fitted.is_some();
        let s = &mut self.settings;
        ui.horizontal(|ui| {
            ui.label("Network:");
            ui.radio_value(&mut s.source, NetworkSource::Sk, "SK draw");
            ui.add_enabled_ui(has_fit, |ui| {
                ui.radio_value(&mut s.source, NetworkSource::Fitted, "the fitted couplings")
                    .on_disabled_hover_text("fit the loaded data first (Fit tab)");
            });
        });
        if s.source == NetworkSource::Sk {
            ui.horizontal(|ui| {
                super::data_tab::drag(ui, "N", &mut s.n, 1.0..=4096.0, 1.0);
                super::data_tab::drag(ui, "J0", &mut s.j0, -5.0..=5.0, 0.01);
                super::data_tab::drag(ui, "ΔJ", &mut s.dj, 0.0..=5.0, 0.01);
                super::data_tab::drag(ui, "H0", &mut s.h0, 0.0..=5.0, 0.01);
                super::data_tab::drag(ui, "seed", &mut s.seed, 0.0..=1e9, 1.0);
            });
        }
        ui.horizontal(|ui| {
            super::data_tab::drag(ui, "β from", &mut s.beta_from, 0.0..=10.0, 0.01);
            super::data_tab::drag(ui, "β to", &mut s.beta_to, 0.0..=10.0, 0.01);
            super::data_tab::drag(ui, "β points", &mut s.points, 1.0..=50.0, 1.0);
            super::data_tab::drag(ui, "steps T", &mut s.steps, 1.0..=2000.0, 1.0);
            super::data_tab::drag(ui, "trials R", &mut s.trials, 1.0..=1e6, 10.0);
            ui.checkbox(&mut s.all_up, "start from all +1 (else random)");
        });
        let n = match s.source {
            NetworkSource::Sk => s.n,
            NetworkSource::Fitted => fitted.as_ref().map_or(0, |(h, _)| h.len()),
        };
        ui.label(if n <= MAX_EXACT_N {
            format!("Reference: the exact 2^{n} distribution.")
        } else {
            format!(
                "Reference: {} simulated trials of the true dynamics (N = {n} is too large to enumerate).",
                s.trials
            )
        });
        egui::CollapsingHeader::new("Methods")
            .default_open(true)
            .show(ui, |ui| {
                for (k, m) in Method::ALL.iter().enumerate() {
                    let (name, what) = method_description(*m);
                    ui.horizontal(|ui| {
                        if let Some(on) = s.enabled.get_mut(k) {
                            ui.checkbox(on, egui::RichText::new(name).color(method_color(*m)));
                        }
                        ui.weak(what);
                    });
                }
                if !s.enabled.get(4).copied().unwrap_or(false) {
                    ui.weak("Plefka[t−1] o1 is left out of the sweep by default: at N = 512 and 128 steps it takes about 14 s per β, more than all the other methods together. Tick it to include it.");
                }
            });
        ui.horizontal(|ui| {
            let busy = self.job.is_some();
            if ui
                .add_enabled(!busy, egui::Button::new("Run sweep"))
                .clicked()
            {
                self.start(fitted, wake);
            }
            if let Some(job) = &self.job {
                ui.spinner();
                let (d, t) = job.progress;
                ui.label(format!("{d} of {t} runs"));
                if ui.button("Cancel sweep").clicked() {
                    job.cancel();
                }
            }
            if let Some(m) = &self.message {
                ui.label(m);
            }
        });
    }

    fn results_ui(&mut self, ui: &mut egui::Ui) {
        let Some(o) = &self.outcome else {
            ui.label("Run a sweep to compare the methods with the true dynamics.");
            return;
        };
        if o.results.is_empty() {
            ui.label("No β value finished.");
            return;
        }
        ui.label(format!("{} — errors at the final step.", o.label));
        for r in &o.results {
            for mc in &r.methods {
                if let MethodStatus::Diverged(why) = &mc.status {
                    ui.colored_label(
                        Color32::from_rgb(200, 60, 40),
                        format!(
                            "{} diverged at β = {:.3} ({why}): not plotted there.",
                            method_description(mc.method).0,
                            r.beta
                        ),
                    );
                }
            }
        }
        ui.label("Squared error against the reference (log10), one line per method (colours as in the Methods list); the dashed grey line is the error the simulated reference itself has from its finite number of trials — differences below it are not resolved:");
        ui.horizontal(|ui| {
            let w = (ui.available_width() / 3.0 - 8.0).max(200.0);
            for (q, title) in [(0usize, "m"), (1, "C (i ≠ k)"), (2, "D")] {
                ui.vertical(|ui| {
                    let id = format!("mf_err_{q}");
                    let title = format!("error of {title}");
                    enlargeable(ui, &id, &title, egui::vec2(w, 240.0), |ui, size| {
                        let lw = line_width(ui.ctx());
                        let mut p = Plot::new(id.as_str()).width(size.x).height(size.y);
                        if q == 0 {
                            // One legend for the three plots (same colours), in
                            // the corner where errors are small.
                            p = p.legend(legend(ui.ctx(), egui_plot::Corner::LeftTop));
                        }
                        p.x_axis_label("β")
                            .y_axis_label("log10 squared error")
                            .allow_scroll(false)
                            .show(ui, |plot| {
                                for m in methods_of(o) {
                                    let pts: Vec<[f64; 2]> = o
                                        .results
                                        .iter()
                                        .filter_map(|r| {
                                            let e =
                                                r.methods.iter().find(|x| x.method == m)?.errors?;
                                            let v = [e.m, e.c, e.d][q];
                                            (v > 0.0).then(|| [r.beta, v.log10()])
                                        })
                                        .collect();
                                    let name = method_description(m).0;
                                    plot.line(
                                        Line::new(name, PlotPoints::from(pts.clone()))
                                            .color(method_color(m))
                                            .width(lw),
                                    );
                                    plot.points(
                                        Points::new(name, PlotPoints::from(pts))
                                            .color(method_color(m))
                                            .radius(3.0),
                                    );
                                }
                                let floor: Vec<[f64; 2]> = o
                                    .results
                                    .iter()
                                    .filter_map(|r| {
                                        let e = r.reference_noise?;
                                        let v = [e.m, e.c, e.d][q];
                                        (v > 0.0).then(|| [r.beta, v.log10()])
                                    })
                                    .collect();
                                if !floor.is_empty() {
                                    plot.line(
                                        Line::new(
                                            "reference's own sampling noise",
                                            PlotPoints::from(floor),
                                        )
                                        .color(Color32::GRAY)
                                        .style(egui_plot::LineStyle::dashed_loose()),
                                    );
                                }
                                if let Some(bc) = o.beta_c {
                                    plot.vline(
                                        VLine::new("β_c (SK theory)", bc)
                                            .color(Color32::GRAY)
                                            .width(lw),
                                    );
                                }
                            });
                    });
                });
            }
        });
        ui.separator();
        let last = o.results.len() - 1;
        self.selected = self.selected.min(last);
        let mut sel = self.selected;
        let r = &o.results[sel];
        ui.horizontal(|ui| {
            ui.label("Show β:");
            if ui
                .add(egui::Slider::new(&mut sel, 0..=last).show_value(false))
                .changed()
            {
                self.selected = sel;
            }
            ui.label(format!("β = {:.3}", r.beta));
        });
        let width = ui.available_width();
        enlargeable(
            ui,
            "mf_mean_m",
            "Mean magnetisation m(t) over neurons (reference: black):",
            egui::vec2(width, 200.0),
            |ui, size| {
                let lw = line_width(ui.ctx());
                Plot::new("mf_mean_m")
                    .width(size.x)
                    .height(size.y)
                    .legend(legend(ui.ctx(), egui_plot::Corner::RightTop))
                    .x_axis_label("step t")
                    .y_axis_label("mean m(t)")
                    .allow_scroll(false)
                    .show(ui, |plot| {
                        let reference: Vec<[f64; 2]> = r
                            .reference_mean_m
                            .iter()
                            .enumerate()
                            .map(|(t, v)| [t as f64, *v])
                            .collect();
                        plot.line(
                            Line::new("reference", PlotPoints::from(reference))
                                .color(Color32::BLACK)
                                .width(lw + 1.0),
                        );
                        for mc in &r.methods {
                            if let Some(mm) = &mc.mean_m {
                                let pts: Vec<[f64; 2]> =
                                    mm.iter().enumerate().map(|(t, v)| [t as f64, *v]).collect();
                                plot.line(
                                    Line::new(
                                        method_description(mc.method).0,
                                        PlotPoints::from(pts),
                                    )
                                    .color(method_color(mc.method))
                                    .width(lw),
                                );
                            }
                        }
                    });
            },
        );
        ui.label("Predicted (y) against reference (x) at the final step; the diagonal is perfect:");
        ui.horizontal(|ui| {
            let w = (ui.available_width() / 3.0 - 8.0).max(200.0);
            for (q, title) in [(0usize, "m_i"), (1, "C_ik, i ≠ k"), (2, "D_il")] {
                ui.vertical(|ui| {
                    let id = format!("mf_scatter_{q}");
                    enlargeable(ui, &id, title, egui::vec2(w, 220.0), |ui, size| {
                        let radius = marker_radius(ui.ctx()) / 2.0;
                        Plot::new(id.as_str())
                            .width(size.x)
                            .height(size.y)
                            .data_aspect(1.0)
                            .x_axis_label("reference")
                            .y_axis_label("predicted")
                            .allow_scroll(false)
                            .show(ui, |plot| {
                                let mut lo = f64::INFINITY;
                                let mut hi = f64::NEG_INFINITY;
                                for mc in &r.methods {
                                    let Some(p) = &mc.prediction else { continue };
                                    let pts = scatter_points(q, &r.reference, p);
                                    for [x, y] in &pts {
                                        lo = lo.min(x.min(*y));
                                        hi = hi.max(x.max(*y));
                                    }
                                    plot.points(
                                        Points::new(
                                            method_description(mc.method).0,
                                            PlotPoints::from(pts),
                                        )
                                        .color(method_color(mc.method))
                                        .radius(radius),
                                    );
                                }
                                if lo.is_finite() && hi > lo {
                                    plot.line(
                                        Line::new(
                                            "identity",
                                            PlotPoints::from(vec![[lo, lo], [hi, hi]]),
                                        )
                                        .color(Color32::GRAY),
                                    );
                                }
                            });
                    });
                });
            }
        });
    }
}

/// The methods present in a sweep, in `Method::ALL` order.
fn methods_of(o: &SweepOutcome) -> Vec<Method> {
    let Some(first) = o.results.first() else {
        return Vec::new();
    };
    first.methods.iter().map(|m| m.method).collect()
}

/// At most this many points per method in a scatter plot (a deterministic
/// stride through the entries), so frames stay fast at N = 512.
const MAX_SCATTER: usize = 4000;

fn scatter_points(
    q: usize,
    reference: &crate::meanfield::compare::FinalMoments,
    p: &crate::meanfield::compare::FinalMoments,
) -> Vec<[f64; 2]> {
    let n = reference.m.len();
    let all: Vec<[f64; 2]> = match q {
        0 => (0..n).map(|i| [reference.m[i], p.m[i]]).collect(),
        1 => {
            let pairs = n * n.saturating_sub(1);
            let stride = (pairs / MAX_SCATTER).max(1);
            (0..n * n)
                .filter(|&x| x / n != x % n)
                .step_by(stride)
                .map(|x| [reference.c[(x / n, x % n)], p.c[(x / n, x % n)]])
                .collect()
        }
        _ => {
            let stride = (n * n / MAX_SCATTER).max(1);
            (0..n * n)
                .step_by(stride)
                .map(|x| [reference.d[(x / n, x % n)], p.d[(x / n, x % n)]])
                .collect()
        }
    };
    all
}
