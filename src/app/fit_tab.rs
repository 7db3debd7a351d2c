//! The Fit tab: choose a method, fit in the background with a live
//! convergence plot, and check the fit in ways that cannot mislead: a
//! warning banner for failed fits, hold-out of whole trials (or a block),
//! the per-unit log-likelihood gain over the independent model, moments
//! of a simulation started from the data's own states (with the
//! multistability verdict), fitted vs true couplings (simulated data) and
//! the cross-validation curve of L2.

use egui_plot::{Line, Plot, PlotPoints, Points};
use nalgebra::{DMatrix, DVector};

use super::dataset::{Dataset, FittedModel, ModelCheck};
use super::plots::{correlation_and_r2, enlargeable};
use super::worker::{JobContext, message};
use super::{AppModel, Command};
use crate::fit::MlFit;
use crate::fit::check::{self, CheckOptions, Holdout};
use crate::fit::cv::{CvOptions, cross_validate_l2};
use crate::meanfield::Method;
use crate::meanfield::inverse::{MomentMatching, MomentTargets};
use crate::progress::TerminationReason;

/// Fitting methods offered in the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FitMethod {
    /// Exact maximum likelihood.
    MaximumLikelihood,
    /// Moment matching with a mean-field (Plefka) method, by its CLI name.
    MeanField(MeanFieldChoice),
}

/// The mean-field methods whose inverse the app offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MeanFieldChoice {
    /// Plefka[t−1,t] order 2 (dynamical TAP).
    Tap,
    /// Plefka[t] order 2.
    PlefkaT2,
    /// Plefka[t−1] order 1 (Gaussian effective field).
    PlefkaT1,
    /// Plefka2[t] order 2 (pairwise reference).
    Plefka2,
}

impl MeanFieldChoice {
    const ALL: [MeanFieldChoice; 4] = [
        MeanFieldChoice::Tap,
        MeanFieldChoice::PlefkaT2,
        MeanFieldChoice::PlefkaT1,
        MeanFieldChoice::Plefka2,
    ];
    fn method(self) -> Method {
        match self {
            MeanFieldChoice::Tap => Method::PlefkaT1TO2,
            MeanFieldChoice::PlefkaT2 => Method::PlefkaTO2,
            MeanFieldChoice::PlefkaT1 => Method::PlefkaT1O1,
            MeanFieldChoice::Plefka2 => Method::Plefka2TO2,
        }
    }
}

impl FitMethod {
    /// Name shown in the UI.
    pub fn title(self) -> String {
        match self {
            FitMethod::MaximumLikelihood => "exact maximum likelihood".into(),
            FitMethod::MeanField(m) => format!("{} moment matching", m.method().paper_name()),
        }
    }
}

/// Fit settings (saved in sessions).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FitSettings {
    /// The method.
    pub method: FitMethod,
    /// L2 penalty strength on J.
    pub l2: f64,
    /// Hold out part of the data for the checks.
    pub holdout: bool,
    /// Hold out whole trials (when the data have trials) rather than the
    /// last block of bins.
    pub holdout_trials: bool,
    /// Choose L2 by 5-fold cross-validation (ML only).
    pub l2_cv: bool,
}

impl Default for FitSettings {
    fn default() -> Self {
        Self {
            method: FitMethod::MaximumLikelihood,
            l2: 0.0,
            holdout: true,
            holdout_trials: true,
            l2_cv: false,
        }
    }
}

/// A fit to run.
pub type FitRequest = FitSettings;

/// Fit on a worker thread, then run the checks (library: `fit::check`).
pub fn run_fit(
    req: &FitRequest,
    ds: &Dataset,
    ctx: &JobContext<FittedModel>,
) -> Result<FittedModel, String> {
    let raster = &ds.raster;
    let t = raster.n_bins();
    if t < 3 {
        return Err(format!(
            "{}: a fit needs at least 3 time bins; this dataset has {t}",
            ds.name
        ));
    }
    let parts = check::split(raster, holdout_of(req, raster)).map_err(message)?;
    let is_ml = req.method == FitMethod::MaximumLikelihood;
    let cv = if is_ml && req.l2_cv {
        Some(
            cross_validate_l2(&parts.train, &CvOptions::default(), ctx, &ctx.stop)
                .map_err(message)?,
        )
    } else {
        None
    };
    let mut req = req.clone();
    if let Some(cv) = &cv {
        req.l2 = cv.chosen_l2();
    }
    let (h, j, info) = fit_couplings(&req, &parts.train, ctx)?;
    ctx.stop.check().map_err(message)?;
    checked_fit(&req, raster, parts, h, j, info, cv, ctx)
}

/// Re-run the checks of a fit restored from a session (J, H and the
/// convergence record were saved; the check's simulated moments, standard
/// errors and log-likelihoods were not): the same hold-out split as
/// `req` (deterministic), the same seeded model check, so the Fit tab looks
/// as it did when saved. A cross-validation curve is not recomputed (it
/// would refit every fold); the standard errors need the L2 actually used,
/// so they are left out after a CV choice.
pub fn recheck_fit(
    saved: FittedModel,
    req: &FitRequest,
    ds: &Dataset,
    ctx: &JobContext<FittedModel>,
) -> Result<FittedModel, String> {
    let raster = &ds.raster;
    let parts = check::split(raster, holdout_of(req, raster)).map_err(message)?;
    let mut req = req.clone();
    req.l2_cv = false;
    let mut fit = checked_fit(&req, raster, parts, saved.h, saved.j, saved.info, None, ctx)?;
    fit.method = saved.method;
    Ok(fit)
}

/// The hold-out the settings ask for, where the raster allows it: every
/// 5th trial (at least 5 trials), else the last 20 % of bins (at least 20).
fn holdout_of(req: &FitRequest, raster: &crate::spikes::SpikeRaster) -> Holdout {
    if !req.holdout {
        Holdout::None
    } else if req.holdout_trials && raster.n_trials() >= 5 {
        Holdout::Trials { every: 5 }
    } else if raster.n_bins() >= 20 {
        Holdout::Block { fraction: 0.2 }
    } else {
        Holdout::None
    }
}

/// The fitted model with its checks (hold-out gain, standard errors of an
/// ML fit, the warning, the simulated moments).
#[allow(clippy::too_many_arguments)]
fn checked_fit(
    req: &FitRequest,
    raster: &crate::spikes::SpikeRaster,
    parts: check::Split,
    h: DVector<f64>,
    j: DMatrix<f64>,
    info: crate::progress::FitInfo,
    cv: Option<crate::fit::cv::CvResult>,
    ctx: &JobContext<FittedModel>,
) -> Result<FittedModel, String> {
    let is_ml = req.method == FitMethod::MaximumLikelihood;
    let h_ind = check::independent_fields(&parts.train);
    let train_gain = check::ll_gain(&parts.train, &h, &j, &h_ind, false).map_err(message)?;
    let gain = match &parts.test {
        Some(test) => check::ll_gain(test, &h, &j, &h_ind, true).map_err(message)?,
        None => train_gain.clone(),
    };
    let se_j = if is_ml {
        crate::fit::standard_errors(&parts.train, &h, &j, req.l2)
            .ok()
            .map(|s| s.j)
    } else {
        None
    };
    let title = req.method.title();
    let warning = check::assess_fit(&title, !is_ml, &info, Some(&gain)).map(|w| w.to_string());
    let mc =
        check::model_check(raster, &h, &j, &CheckOptions::default(), &ctx.stop).map_err(message)?;
    Ok(FittedModel {
        method: format!(
            "{title} (L2 = {}{})",
            req.l2,
            if cv.is_some() { ", by CV" } else { "" }
        ),
        j,
        h,
        info,
        generation: 0,
        check: Some(ModelCheck {
            train_ll: train_gain.mean_model(),
            heldout_ll: parts.test.as_ref().map(|_| gain.mean_model()),
            se_j,
            warning,
            cv,
            ..check_view(mc, parts.description, gain)
        }),
    })
}

/// Open a fit folder written by `isingscope fit` or `isingscope merge`
/// (J.csv, H.csv: row i = receiving neuron, raw values of a `--beta 1`
/// fit, e.g. merged cluster shards) for the loaded raster, and run the
/// checks on all its bins (in-sample: the fit's hold-out is unknown).
pub fn load_fit_folder(
    dir: &std::path::Path,
    ds: &Dataset,
    ctx: &JobContext<FittedModel>,
) -> Result<FittedModel, String> {
    use crate::io::text;
    let j = text::read_square_matrix(&dir.join("J.csv")).map_err(message)?;
    let h = text::read_vector(&dir.join("H.csv")).map_err(message)?;
    let raster = &ds.raster;
    let n = raster.n_units();
    if j.nrows() != n || h.len() != n {
        return Err(format!(
            "{}: J is {} x {} and H has {} values, but {} has {n} units",
            dir.display(),
            j.nrows(),
            j.ncols(),
            h.len(),
            ds.name
        ));
    }
    let parts = check::split(raster, Holdout::None).map_err(message)?;
    let h_ind = check::independent_fields(&parts.train);
    let gain = check::ll_gain(&parts.train, &h, &j, &h_ind, false).map_err(message)?;
    let mc =
        check::model_check(raster, &h, &j, &CheckOptions::default(), &ctx.stop).map_err(message)?;
    let mut info = crate::progress::FitInfo::new("(fitted elsewhere)");
    info.reason = TerminationReason::Converged;
    Ok(FittedModel {
        method: format!("opened from {}", dir.display()),
        j,
        h,
        info,
        generation: 0,
        check: Some(check_view(mc, parts.description, gain)),
    })
}

/// The app's view of a model check: the simulated moments, the
/// log-likelihood gain on the bins it was measured on (`train_ll` is its
/// model log-likelihood, no hold-out), and no standard errors, warning or
/// CV; `run_fit` overrides those it has.
fn check_view(mc: check::ModelCheck, holdout: String, gain: check::LlGain) -> ModelCheck {
    ModelCheck {
        multistability: mc.multistability_message(),
        moments_mismatch: mc.moments_message(),
        multistable: mc.multistable,
        m_t: mc.m_t_observed.zip(mc.m_t_predicted),
        observed: mc.observed,
        predicted: mc.predicted,
        observed_se: mc.observed_se,
        description: mc.description,
        holdout,
        train_ll: gain.mean_model(),
        heldout_ll: None,
        gain,
        se_j: None,
        warning: None,
        cv: None,
    }
}

/// Fitted effective (H, J) and the convergence record.
fn fit_couplings(
    req: &FitRequest,
    train: &crate::spikes::SpikeRaster,
    ctx: &JobContext<FittedModel>,
) -> Result<(DVector<f64>, DMatrix<f64>, crate::progress::FitInfo), String> {
    let (h, j, info) = match req.method {
        FitMethod::MaximumLikelihood => {
            let est = MlFit {
                l2: req.l2,
                ..Default::default()
            }
            .validate()
            .map_err(message)?
            .fit(train, ctx, &ctx.stop)
            .map_err(message)?;
            (est.h, est.j, est.info)
        }
        FitMethod::MeanField(choice) => {
            let targets = MomentTargets::from_raster(train).map_err(message)?;
            let fit = MomentMatching::default()
                .validate()
                .map_err(message)?
                .fit(choice.method(), &targets, ctx, &ctx.stop)
                .map_err(message)?;
            (fit.h, fit.j, fit.info)
        }
    };
    if info.reason == TerminationReason::Cancelled {
        return Err("Cancelled.".into());
    }
    Ok((h, j, info))
}

/// View state of the Fit tab.
pub struct FitTab {
    settings: FitSettings,
    export_dir: String,
    /// The last export's message and the generation of the fit it wrote
    /// (shown only while that fit is the current one).
    export_message: Option<(u64, String)>,
    /// Sort the gain table by gain (largest first) instead of by unit.
    sort_by_gain: bool,
    // --- issue 13: reliability checks (surrogate, split half) ---
    /// The surrogate and split-half fits running in the background.
    reliability_job: Option<super::worker::Job<Reliability>>,
    /// Their result, with the generation of the fit it belongs to.
    reliability: Option<(u64, Result<Reliability, String>)>,
    /// Seed of the surrogate's shuffle.
    surrogate_seed: u64,
}

impl Default for FitTab {
    fn default() -> Self {
        Self {
            settings: FitSettings::default(),
            export_dir: "fit-export".into(),
            export_message: None,
            sort_by_gain: true,
            reliability_job: None,
            reliability: None,
            surrogate_seed: 1,
        }
    }
}

/// Write J and H (effective) as CSV (row i = receiving neuron) and NPY,
/// J_se.csv when standard errors are known, and units.csv (column index,
/// unit id, label) so that rows carry unit identity.
pub fn export_fit(
    fit: &FittedModel,
    units: &[super::dataset::UnitInfo],
    dir: &std::path::Path,
) -> Result<(), String> {
    use crate::io::{npy, output, text};
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let n = fit.h.len();
    text::write_matrix(&dir.join("J.csv"), &fit.j).map_err(message)?;
    text::write_vector(&dir.join("H.csv"), fit.h.as_slice()).map_err(message)?;
    if let Some(se) = fit.check.as_ref().and_then(|c| c.se_j.as_ref()) {
        text::write_matrix(&dir.join("J_se.csv"), se).map_err(message)?;
    }
    let mut u = String::from("column,unit_id,label\n");
    for (k, unit) in units.iter().enumerate() {
        u.push_str(&format!("{k},{},{}\n", unit.id, unit.label));
    }
    output::write_bytes(&dir.join("units.csv"), u.as_bytes()).map_err(message)?;
    let row_major: Vec<f64> = (0..n)
        .flat_map(|i| (0..n).map(move |k| (i, k)))
        .map(|(i, k)| fit.j[(i, k)])
        .collect();
    npy::write_f64(&dir.join("J.npy"), &[n, n], &row_major).map_err(message)?;
    npy::write_f64(&dir.join("H.npy"), &[n], fit.h.as_slice()).map_err(message)
}

impl FitTab {
    /// Current settings (for sessions).
    pub fn settings(&self) -> FitSettings {
        self.settings.clone()
    }
    /// Restore settings.
    pub fn apply_settings(&mut self, s: &FitSettings) {
        self.settings = s.clone();
    }

    /// Draw the tab. `trace` is the running fit's objective so far. (The
    /// app scrolls it: the model check and the reliability section run
    /// below a laptop screen's height.)
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        model: &AppModel,
        busy: bool,
        trace: Option<&[f64]>,
        commands: &mut Vec<Command>,
    ) {
        ui.heading("Fit couplings and fields");
        // Condition filter (chosen in the PSTH tab): which trials a fit uses.
        if model.dataset.as_ref().is_some_and(|d| d.trials.is_some()) {
            ui.label(format!(
                "Trials: {} (condition filter in the PSTH tab){}",
                model.condition.describe(),
                model
                    .fit_trials
                    .as_ref()
                    .map_or(String::new(), |t| format!("; the current fit used {t}"))
            ));
        }
        let trials = model.dataset.as_ref().map_or(1, |d| d.raster.n_trials());
        ui.horizontal(|ui| {
            // Run first and a fixed-width method box: choosing a method
            // never moves the buttons under the cursor.
            let ready = model.dataset.is_some() && !busy;
            if ui
                .add_enabled(ready, egui::Button::new("Run fit"))
                .clicked()
            {
                commands.push(Command::Fit(self.settings.clone()));
            }
            if busy && ui.button("Cancel fit").clicked() {
                commands.push(Command::CancelJob);
            }
            ui.separator();
            let l = ui.label("fit method");
            egui::ComboBox::from_id_salt("fit_method")
                .width(300.0)
                .selected_text(self.settings.method.title())
                .show_ui(ui, |ui| {
                    ui.selectable_value(
                        &mut self.settings.method,
                        FitMethod::MaximumLikelihood,
                        FitMethod::MaximumLikelihood.title(),
                    );
                    for m in MeanFieldChoice::ALL {
                        let f = FitMethod::MeanField(m);
                        ui.selectable_value(&mut self.settings.method, f, f.title());
                    }
                })
                .response
                .labelled_by(l.id);
            // The L2 penalty belongs to exact maximum likelihood; with CV
            // it is chosen for the user.
            let is_ml = self.settings.method == FitMethod::MaximumLikelihood;
            let l = ui.label("L2 penalty");
            ui.add_enabled(
                is_ml && !self.settings.l2_cv,
                egui::Slider::new(&mut self.settings.l2, 0.0..=1.0)
                    .logarithmic(true)
                    .smallest_positive(1e-6)
                    .fixed_decimals(6),
            )
            .labelled_by(l.id)
            .on_disabled_hover_text(if is_ml {
                "chosen by cross-validation"
            } else {
                "applies to exact maximum likelihood only"
            });
            ui.add_enabled(
                is_ml,
                egui::Checkbox::new(&mut self.settings.l2_cv, "choose L2 by 5-fold CV"),
            );
        });
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.settings.holdout, "hold out data for the checks:");
            ui.add_enabled_ui(self.settings.holdout, |ui| {
                ui.add_enabled(
                    trials >= 5,
                    egui::RadioButton::new(
                        self.settings.holdout_trials && trials >= 5,
                        "every 5th whole trial",
                    ),
                )
                .clicked()
                .then(|| self.settings.holdout_trials = true);
                if ui
                    .radio(
                        !self.settings.holdout_trials || trials < 5,
                        "the last 20 % of bins (one block)",
                    )
                    .clicked()
                {
                    self.settings.holdout_trials = false;
                }
            });
        });
        let running = trace.is_some();
        if running && let Some(f) = &model.fit {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "A new fit is running: everything below is from the previous fit ({}) until it finishes.",
                    f.method
                ),
            );
        }
        if let Some(check) = model.fit.as_ref().and_then(|f| f.check.as_ref()) {
            match &check.warning {
                Some(w) => {
                    egui::Frame::new()
                        .fill(egui::Color32::from_rgb(255, 228, 225))
                        .inner_margin(6.0)
                        .show(ui, |ui| {
                            ui.colored_label(
                                egui::Color32::from_rgb(160, 0, 0),
                                format!("Warning: {w}"),
                            );
                        });
                }
                None if check.moments_mismatch.is_none() => {
                    ui.label("No problems found: the fit converged, predicts better than the independent model, and its simulation reproduces the data's moments.");
                }
                None => {}
            }
            if let Some(m) = &check.moments_mismatch {
                egui::Frame::new()
                    .fill(egui::Color32::from_rgb(255, 240, 215))
                    .inner_margin(6.0)
                    .show(ui, |ui| {
                        ui.colored_label(
                            egui::Color32::from_rgb(140, 70, 0),
                            format!("Model check: {m}."),
                        );
                    });
            }
            let colour = if check.multistable {
                egui::Color32::from_rgb(160, 80, 0)
            } else {
                ui.visuals().text_color()
            };
            ui.colored_label(colour, format!("Multistability: {}.", check.multistability));
        }
        let shown: Option<Vec<f64>> = trace
            .map(|t| t.to_vec())
            .or_else(|| model.fit.as_ref().map(|f| f.info.objective.clone()));
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            let y_label = match &model.fit {
                Some(f) if !running => f.info.objective_name.clone(),
                _ => "objective".to_string(),
            };
            // The objective's full name goes in the title: as the y-axis
            // label it ran past the plot's height into the text around it.
            let title = match &model.fit {
                _ if running => "Convergence of the running fit (objective so far)".to_string(),
                Some(f) => format!(
                    "{}: {} iterations, {}. y: {y_label}",
                    f.method, f.info.iterations, f.info.reason
                ),
                None => "Convergence".to_string(),
            };
            let pts: Vec<[f64; 2]> = shown
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(k, &v)| [k as f64 + 1.0, v])
                .collect();
            let width = ui.available_width();
            enlargeable(
                ui,
                "fit_convergence",
                &title,
                egui::vec2(width, 180.0),
                |ui, size| {
                    Plot::new("fit_convergence")
                        .allow_scroll(false)
                        .width(size.x)
                        .height(size.y)
                        .x_axis_label("iteration")
                        .y_axis_label("objective")
                        .x_grid_spacer(super::plots::nice_grid_marks)
                        .y_grid_spacer(super::plots::nice_grid_marks)
                        .y_axis_formatter(super::plots::tick_label)
                        .show(ui, |plot| {
                            plot.line(Line::new("objective", PlotPoints::from(pts)))
                        });
                },
            );
            let ui = &mut cols[1];
            if let Some(check) = model.fit.as_ref().and_then(|f| f.check.as_ref()) {
                ui.label(format!("Hold-out: {}.", check.holdout));
                ui.label(format!(
                    "Log-likelihood per bin and neuron: training {:.5} nats{}; independent model {:.5}",
                    check.train_ll,
                    check
                        .heldout_ll
                        .map(|h| format!(", held-out {h:.5} nats"))
                        .unwrap_or_default(),
                    check.gain.mean_independent()
                ));
                if let Some(cv) = &check.cv {
                    cv_plot(ui, cv);
                } else {
                    self.gain_table(ui, model, check);
                }
            }
        });
        let Some(fit) = &model.fit else { return };
        if let Some(check) = &fit.check
            && check.cv.is_some()
        {
            self.gain_table(ui, model, check);
        }
        ui.horizontal(|ui| {
            let l = ui.label("Export folder:");
            ui.add(egui::TextEdit::singleline(&mut self.export_dir).desired_width(200.0))
                .labelled_by(l.id);
            if ui
                .button("Export J and H (CSV, NPY) with units.csv")
                .clicked()
            {
                let dir = std::path::PathBuf::from(&self.export_dir);
                let units = model
                    .dataset
                    .as_ref()
                    .map(|d| d.units.clone())
                    .unwrap_or_default();
                let m = match export_fit(fit, &units, &dir) {
                    Ok(()) => format!(
                        "Wrote J.csv, H.csv, J.npy, H.npy, units.csv to {}",
                        dir.display()
                    ),
                    Err(e) => e,
                };
                self.export_message = Some((fit.generation, m));
            }
            if let Some((generation, m)) = &self.export_message
                && *generation == fit.generation
            {
                ui.label(m);
            }
        });
        let Some(check) = &fit.check else { return };
        ui.separator();
        ui.label(format!(
            "Model check: moments of a simulation of the fitted model started from the data's own states ({}) vs the data",
            check.description
        ));
        ui.columns(4, |cols| {
            let o = &check.observed;
            let p = &check.predicted;
            let e = &check.observed_se;
            moment_ui(
                &mut cols[0],
                "m",
                "m_i: mean spin (+1 active, -1 silent) of each unit",
                o.m.as_slice(),
                p.m.as_slice(),
                e.m.as_slice(),
            );
            let off = |m: &DMatrix<f64>| -> Vec<f64> {
                let n = m.nrows();
                (0..n)
                    .flat_map(|i| (i + 1..n).map(move |k| (i, k)))
                    .map(|(i, k)| m[(i, k)])
                    .collect()
            };
            moment_ui(
                &mut cols[1],
                "C (i < j)",
                "C_ij: equal-time covariance of units i and j (the kinetic model has no equal-time couplings; C arises through shared input)",
                &off(&o.c),
                &off(&p.c),
                &off(&e.c),
            );
            let all = |m: &DMatrix<f64>| -> Vec<f64> { m.iter().copied().collect() };
            moment_ui(
                &mut cols[2],
                "D",
                "D_ij: covariance of unit i at t with unit j at t-1 (what J explains)",
                &all(&o.d),
                &all(&p.d),
                &all(&e.d),
            );
            if let Some(truth) = model.dataset.as_ref().and_then(|d| d.truth.as_ref()) {
                let tj: Vec<f64> = (&truth.j * truth.beta).iter().copied().collect();
                let fj: Vec<f64> = fit.j.iter().copied().collect();
                cols[3].label("J: fitted vs true couplings (simulated data)");
                scatter_ui(&mut cols[3], "J: fitted vs true", &tj, &fj);
            }
        });
        self.reliability_ui(ui, model, fit);
    }

    /// Per-unit log-likelihood gain over the independent model, sortable,
    /// with the population mean.
    fn gain_table(&mut self, ui: &mut egui::Ui, model: &AppModel, check: &ModelCheck) {
        let g = &check.gain;
        ui.label(format!(
            "Gain over the independent (rate-only) model, one-step-ahead, {} ({} transitions): population mean {:.5} nats per bin",
            if g.heldout { "held-out" } else { "in-sample" },
            g.transitions,
            g.mean_nats_per_bin()
        ));
        ui.horizontal(|ui| {
            ui.label("Sort:");
            ui.selectable_value(&mut self.sort_by_gain, true, "by gain");
            ui.selectable_value(&mut self.sort_by_gain, false, "by unit");
        });
        let ids = model
            .dataset
            .as_ref()
            .map(|d| d.unit_ids())
            .unwrap_or_default();
        let mut order: Vec<usize> = (0..g.nats_per_bin.len()).collect();
        if self.sort_by_gain {
            order.sort_by(|&a, &b| g.nats_per_bin[b].total_cmp(&g.nats_per_bin[a]));
        }
        egui::ScrollArea::vertical()
            .id_salt("gain_table")
            .max_height(140.0)
            .show(ui, |ui| {
                egui::Grid::new("gain_grid").striped(true).show(ui, |ui| {
                    ui.strong("unit");
                    ui.strong("gain (nats/bin)");
                    ui.strong("gain (bits/spike)");
                    ui.end_row();
                    for i in order {
                        ui.label(ids.get(i).cloned().unwrap_or_else(|| i.to_string()));
                        ui.label(format!("{:.5}", g.nats_per_bin[i]));
                        ui.label(format!("{:.4}", g.bits_per_spike[i]));
                        ui.end_row();
                    }
                });
            });
    }
}

/// The cross-validation curve: held-out log-likelihood ± s.e. against
/// log10 L2, the choice marked.
fn cv_plot(ui: &mut egui::Ui, cv: &crate::fit::cv::CvResult) {
    let title = format!(
        "L2 by {}-fold cross-validation over {}: chose {:.3e} (held-out log-likelihood per bin per neuron vs log10 L2; bars: ±1 s.e.)",
        cv.folds,
        cv.unit,
        cv.chosen_l2()
    );
    let x: Vec<f64> = cv.l2.iter().map(|&l| l.max(1e-12).log10()).collect();
    let pts: Vec<[f64; 2]> = x
        .iter()
        .zip(&cv.heldout_loglik)
        .map(|(&a, &b)| [a, b])
        .collect();
    let width = ui.available_width();
    enlargeable(
        ui,
        "cv_curve",
        &title,
        egui::vec2(width, 140.0),
        |ui, size| {
            Plot::new("cv_curve")
                .allow_scroll(false)
                .width(size.x)
                .height(size.y)
                .x_axis_label("log10 L2")
                .y_axis_formatter(super::plots::tick_label)
                .show(ui, |plot| {
                    plot.line(Line::new(
                        "held-out log-likelihood",
                        PlotPoints::from(pts.clone()),
                    ));
                    for (k, p) in pts.iter().enumerate() {
                        let s = cv.se[k];
                        plot.line(Line::new(
                            format!("s.e. {k}"),
                            PlotPoints::from(vec![[p[0], p[1] - s], [p[0], p[1] + s]]),
                        ));
                    }
                    plot.points(
                        Points::new("chosen", PlotPoints::from(vec![pts[cv.chosen]])).radius(5.0),
                    );
                });
        },
    );
}

/// One moment: a scatter with R² when there are enough points, else a
/// small table (observed, predicted, difference, observed s.e.).
fn moment_ui(ui: &mut egui::Ui, name: &str, what: &str, x: &[f64], y: &[f64], se: &[f64]) {
    ui.label(what);
    if x.len() < 10 {
        ui.strong(name);
        // In a narrow column the table scrolls sideways instead of running
        // into its neighbour.
        egui::ScrollArea::horizontal()
            .id_salt(("table_scroll", name))
            .show(ui, |ui| {
                egui::Grid::new(format!("table_{name}"))
                    .striped(true)
                    .show(ui, |ui| {
                        for h in ["#", "observed", "predicted", "difference", "s.e."] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for k in 0..x.len() {
                            ui.label(k.to_string());
                            ui.label(format!("{:.4}", x[k]));
                            ui.label(format!("{:.4}", y[k]));
                            ui.label(format!("{:+.4}", y[k] - x[k]));
                            ui.label(format!("{:.4}", se[k]));
                            ui.end_row();
                        }
                    });
            });
        return;
    }
    scatter_ui(ui, name, x, y);
}

/// Observed (x) vs predicted (y) with the identity line and R².
fn scatter_ui(ui: &mut egui::Ui, name: &str, x: &[f64], y: &[f64]) {
    let r2 = correlation_and_r2(x, y).map(|(_, r2)| r2);
    let title = match r2 {
        Some(r2) => format!("{name}: R² = {r2:.3}"),
        None => name.to_string(),
    };
    let lo = x.iter().chain(y).copied().fold(f64::INFINITY, f64::min);
    let hi = x.iter().chain(y).copied().fold(f64::NEG_INFINITY, f64::max);
    let pts: Vec<[f64; 2]> = x.iter().zip(y).map(|(&a, &b)| [a, b]).collect();
    let width = ui.available_width();
    enlargeable(
        ui,
        &format!("check_{name}"),
        &title,
        egui::vec2(width, 200.0),
        |ui, size| {
            Plot::new(format!("check_{name}"))
                .allow_scroll(false)
                .width(size.x)
                .height(size.y)
                .data_aspect(1.0)
                .x_axis_label("observed")
                .y_axis_label("predicted")
                .show(ui, |plot| {
                    if lo.is_finite() && hi.is_finite() {
                        plot.line(Line::new(
                            "identity",
                            PlotPoints::from(vec![[lo, lo], [hi, hi]]),
                        ));
                    }
                    plot.points(Points::new(name.to_string(), PlotPoints::from(pts)).radius(1.5));
                });
        },
    );
}

// --- issue 13: reliability of the couplings (surrogate, split half) ---

/// The surrogate check and split-half reliability of one fit.
#[derive(Clone, Debug)]
pub struct Reliability {
    /// Significant couplings in the data and in the trial-shuffled
    /// surrogate.
    pub surrogate: crate::fit::surrogate::SurrogateCheck,
    /// Couplings of the two halves and their correlation.
    pub split: crate::fit::surrogate::SplitHalf,
    /// The L2 penalty of every fit.
    pub l2: f64,
}

/// On a worker thread: ML (with `l2`) on every bin of `raster`, its
/// standard errors, the surrogate refit at FDR `q`, and the two halves.
/// Progress: the data passes of the four fits.
pub fn run_reliability(
    raster: &crate::spikes::SpikeRaster,
    l2: f64,
    q: f64,
    seed: u64,
    ctx: &JobContext<Reliability>,
) -> Result<Reliability, String> {
    use crate::fit::surrogate::{SurrogateOptions, split_half, surrogate_check};
    let fit = MlFit {
        l2,
        ..Default::default()
    };
    let valid = fit.clone().validate().map_err(message)?;
    let est = valid.fit(raster, ctx, &ctx.stop).map_err(message)?;
    ctx.stop.check().map_err(message)?;
    let se = crate::fit::standard_errors(raster, &est.h, &est.j, l2).map_err(message)?;
    let opts = SurrogateOptions { q, seed, fit };
    let surrogate =
        surrogate_check(raster, &est.j, &se.j, &opts, ctx, &ctx.stop).map_err(message)?;
    let split = split_half(raster, &valid, ctx, &ctx.stop).map_err(message)?;
    Ok(Reliability {
        surrogate,
        split,
        l2,
    })
}

impl FitTab {
    /// The reliability section: a button that refits on a surrogate and on
    /// two halves in the background, then the counts and the split-half
    /// scatter. Only for maximum-likelihood fits.
    fn reliability_ui(&mut self, ui: &mut egui::Ui, model: &AppModel, fit: &FittedModel) {
        if let Some(job) = &mut self.reliability_job
            && let Some(r) = job.poll()
        {
            self.reliability_job = None;
            self.reliability = Some((fit.generation, r));
        }
        ui.separator();
        ui.strong("Reliability of the couplings");
        let Some(ds) = &model.dataset else { return };
        let is_ml = fit.check.as_ref().is_some_and(|c| c.se_j.is_some());
        ui.label(if ds.raster.n_trials() >= 2 {
            "Refit on a surrogate with each unit's trials permuted independently (couplings destroyed, every PSTH kept) and count the couplings that pass Benjamini-Hochberg at q = 0.05; fit the even and the odd trials separately and correlate their couplings. Uses every bin and the fit's L2."
        } else {
            "Refit on a surrogate with each unit's train shifted circularly by its own random offset (no trials: couplings destroyed, rates kept) and count the couplings that pass Benjamini-Hochberg at q = 0.05; fit the first and the second half of the bins separately and correlate their couplings. Uses every bin and the fit's L2."
        });
        ui.horizontal(|ui| {
            ui.add(
                egui::DragValue::new(&mut self.surrogate_seed)
                    .range(0..=u64::MAX)
                    .prefix("surrogate seed "),
            );
            let running = self.reliability_job.is_some();
            if ui
                .add_enabled(
                    is_ml && !running,
                    egui::Button::new("Run surrogate and split-half checks"),
                )
                .clicked()
            {
                let l2 = fit
                    .check
                    .as_ref()
                    .and_then(|c| c.cv.as_ref().map(|cv| cv.chosen_l2()))
                    .unwrap_or(self.settings.l2);
                let raster = std::sync::Arc::clone(&ds.raster);
                let seed = self.surrogate_seed;
                let c = ui.ctx().clone();
                let wake: super::worker::Wake = std::sync::Arc::new(move || c.request_repaint());
                self.reliability_job = Some(super::worker::Job::spawn(
                    "Surrogate and split-half fits",
                    wake,
                    move |ctx| run_reliability(&raster, l2, 0.05, seed, ctx),
                ));
            }
            if let Some(job) = &self.reliability_job {
                ui.add(
                    egui::ProgressBar::new(job.fraction())
                        .desired_width(160.0)
                        .text("fitting surrogate and halves"),
                );
                if ui.button("Cancel checks").clicked() {
                    job.cancel();
                }
            }
            if !is_ml {
                ui.label("(maximum-likelihood fits only: they need standard errors)");
            }
        });
        let Some((generation, result)) = &self.reliability else {
            return;
        };
        if *generation != fit.generation {
            ui.label("(the last reliability checks belong to an earlier fit; run them again)");
            return;
        }
        match result {
            Err(e) => {
                ui.colored_label(egui::Color32::from_rgb(160, 0, 0), e);
            }
            Ok(r) => {
                let s = &r.surrogate;
                ui.label(format!(
                    "Significant couplings at FDR q = {} (off-diagonal, of {}): data {}, surrogate {}. L2 = {}.",
                    s.q, s.n_tested, s.significant_data, s.significant_surrogate, r.l2
                ));
                ui.label(format!("Surrogate: {}.", s.description));
                split_half_plot(ui, &r.split);
            }
        }
    }
}

/// Off-diagonal couplings of the first half (x) against the second (y),
/// with the identity line.
fn split_half_plot(ui: &mut egui::Ui, sh: &crate::fit::surrogate::SplitHalf) {
    let n = sh.j_a.nrows();
    let pts: Vec<[f64; 2]> = (0..n)
        .flat_map(|i| (0..n).filter(move |&k| k != i).map(move |k| (i, k)))
        .map(|ik| [sh.j_a[ik], sh.j_b[ik]])
        .collect();
    let lo = pts.iter().flatten().copied().fold(f64::INFINITY, f64::min);
    let hi = pts
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    enlargeable(
        ui,
        "split_half_scatter",
        &format!(
            "Split-half reliability ({}): correlation of the off-diagonal couplings r = {:.3}",
            sh.description, sh.correlation
        ),
        egui::vec2(260.0, 220.0),
        |ui, size| {
            Plot::new("split_half_scatter")
                .height(size.y)
                .width(size.x)
                .data_aspect(1.0)
                .x_axis_label("J, first half")
                .y_axis_label("J, second half")
                .show(ui, |plot| {
                    if lo.is_finite() && hi.is_finite() {
                        plot.line(Line::new(
                            "identity",
                            PlotPoints::from(vec![[lo, lo], [hi, hi]]),
                        ));
                    }
                    plot.points(Points::new("couplings", PlotPoints::from(pts)).radius(1.5));
                });
        },
    );
}
