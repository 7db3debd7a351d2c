//! The Fit tab: choose a method, fit in the background with a live
//! convergence plot, and check the fit the way people do — fitted vs true
//! couplings (simulated data), predicted vs observed moments from a
//! simulation of the fitted model, and the held-out log-likelihood.

use egui_plot::{Line, Plot, PlotPoints, Points};
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;

use super::dataset::{Dataset, FittedModel, ModelCheck};
use super::plots::correlation_and_r2;
use super::worker::{JobContext, message};
use super::{AppModel, Command};
use crate::fit::MlFit;
use crate::meanfield::Method;
use crate::meanfield::inverse::{MomentMatching, MomentTargets};
use crate::model::KineticIsing;
use crate::model::likelihood::mean_log_likelihood;
use crate::model::simulate::{InitialState, SimulationOptions, simulate};
use crate::model::stats::time_averaged_moments;
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
    /// Hold out the last 20 % of bins for the held-out log-likelihood.
    pub holdout: bool,
}

impl Default for FitSettings {
    fn default() -> Self {
        Self {
            method: FitMethod::MaximumLikelihood,
            l2: 0.0,
            holdout: true,
        }
    }
}

/// A fit to run.
pub type FitRequest = FitSettings;

/// Fit on a worker thread, then run the model check.
pub fn run_fit(
    req: &FitRequest,
    ds: &Dataset,
    ctx: &JobContext<FittedModel>,
) -> Result<FittedModel, String> {
    let raster = &ds.raster;
    let t = raster.n_bins();
    if t < 2 {
        return Err(format!(
            "{}: a fit needs at least 2 time bins; this dataset has {t}",
            ds.name
        ));
    }
    let split = if req.holdout && t >= 20 { t - t / 5 } else { t };
    let train = raster.slice_bins(0..split).map_err(message)?;
    let (h, j, info) = fit_couplings(req, &train, ctx)?;
    ctx.stop.check().map_err(message)?;
    let check = model_check(&h, &j, raster, split, ctx)?;
    Ok(FittedModel {
        method: format!("{} (L2 = {})", req.method.title(), req.l2),
        j,
        h,
        info,
        generation: 0,
        check: Some(check),
    })
}

/// Open a fit folder written by `isingscope fit` or `isingscope merge`
/// (J.csv, H.csv: row i = receiving neuron, raw values of a `--beta 1`
/// fit) for the loaded raster, and run the model check on all its bins.
pub fn load_fit_folder(
    dir: &std::path::Path,
    ds: &Dataset,
    ctx: &JobContext<FittedModel>,
) -> Result<FittedModel, String> {
    use crate::io::text;
    let j = text::read_square_matrix(&dir.join("J.csv")).map_err(message)?;
    let h = text::read_vector(&dir.join("H.csv")).map_err(message)?;
    let n = ds.raster.n_units();
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
    let t = ds.raster.n_bins();
    if t < 2 {
        return Err(format!(
            "{}: a model check needs at least 2 time bins",
            ds.name
        ));
    }
    let check = model_check(&h, &j, &ds.raster, t, ctx)?;
    let mut info = crate::progress::FitInfo::new("(fitted elsewhere)");
    info.reason = TerminationReason::Converged;
    Ok(FittedModel {
        method: format!("opened from {}", dir.display()),
        j,
        h,
        info,
        generation: 0,
        check: Some(check),
    })
}

/// Predicted vs observed moments and the log-likelihood on bins `1..split`
/// (training) and `split..T` (held out, if any) of effective (H, J).
fn model_check(
    h: &DVector<f64>,
    j: &DMatrix<f64>,
    raster: &crate::spikes::SpikeRaster,
    split: usize,
    ctx: &JobContext<FittedModel>,
) -> Result<ModelCheck, String> {
    let t = raster.n_bins();
    let model = KineticIsing::new(h.clone(), j.clone(), 1.0).map_err(message)?;
    let train_ll = mean_log_likelihood(&model, raster, 1..split).map_err(message)?;
    let heldout_ll = if split < t {
        Some(mean_log_likelihood(&model, raster, split..t).map_err(message)?)
    } else {
        None
    };
    let observed = time_averaged_moments(raster).map_err(message)?;
    // Simulate as many transitions as the data have (at most 200,000).
    let steps = (raster.n_trials() * (t - 1)).clamp(100, 200_000);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
    let opts = SimulationOptions {
        steps,
        trials: 1,
        init: InitialState::Random,
    };
    let sim = simulate(
        &model,
        &opts,
        &mut rng,
        &crate::progress::NoProgress,
        &ctx.stop,
    )
    .map_err(message)?;
    let predicted = time_averaged_moments(&sim).map_err(message)?;
    Ok(ModelCheck {
        observed,
        predicted,
        train_ll,
        heldout_ll,
    })
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
    export_message: Option<String>,
}

impl Default for FitTab {
    fn default() -> Self {
        Self {
            settings: FitSettings::default(),
            export_dir: "fit-export".into(),
            export_message: None,
        }
    }
}

/// Write J and H (effective) as CSV (row i = receiving neuron) and NPY.
pub fn export_fit(fit: &FittedModel, dir: &std::path::Path) -> Result<(), String> {
    use crate::io::{npy, text};
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let n = fit.h.len();
    text::write_matrix(&dir.join("J.csv"), &fit.j).map_err(message)?;
    text::write_vector(&dir.join("H.csv"), fit.h.as_slice()).map_err(message)?;
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

    /// Draw the tab. `trace` is the running fit's objective so far.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        model: &AppModel,
        busy: bool,
        trace: Option<&[f64]>,
        commands: &mut Vec<Command>,
    ) {
        ui.heading("Fit couplings and fields");
        ui.horizontal(|ui| {
            ui.label("Method:");
            egui::ComboBox::from_label("fit method")
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
                });
            ui.add(
                egui::Slider::new(&mut self.settings.l2, 0.0..=1.0)
                    .fixed_decimals(4)
                    .text("L2 penalty"),
            );
            ui.checkbox(&mut self.settings.holdout, "hold out the last 20 % of bins");
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
        });
        let shown: Option<Vec<f64>> = trace
            .map(|t| t.to_vec())
            .or_else(|| model.fit.as_ref().map(|f| f.info.objective.clone()));
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            ui.label(match &model.fit {
                Some(f) => format!(
                    "{}: {} iterations, {}",
                    f.method, f.info.iterations, f.info.reason
                ),
                None => "Convergence".to_string(),
            });
            let pts: Vec<[f64; 2]> = shown
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(k, &v)| [k as f64 + 1.0, v])
                .collect();
            Plot::new("fit_convergence")
                .height(220.0)
                .x_axis_label("iteration")
                .show(ui, |plot| {
                    plot.line(Line::new("objective", PlotPoints::from(pts)))
                });
            let ui = &mut cols[1];
            if let Some(check) = model.fit.as_ref().and_then(|f| f.check.as_ref()) {
                ui.label(format!(
                    "Log-likelihood per bin and neuron: training {:.5} nats{}",
                    check.train_ll,
                    check
                        .heldout_ll
                        .map(|h| format!(", held-out (last 20 %) {h:.5} nats"))
                        .unwrap_or_default()
                ));
            }
        });
        let Some(fit) = &model.fit else { return };
        ui.horizontal(|ui| {
            let l = ui.label("Export folder:");
            ui.add(egui::TextEdit::singleline(&mut self.export_dir).desired_width(200.0))
                .labelled_by(l.id);
            if ui.button("Export J and H (CSV, NPY)").clicked() {
                let dir = std::path::PathBuf::from(&self.export_dir);
                self.export_message = Some(match export_fit(fit, &dir) {
                    Ok(()) => format!("Wrote J.csv, H.csv, J.npy, H.npy to {}", dir.display()),
                    Err(e) => e,
                });
            }
            if let Some(m) = &self.export_message {
                ui.label(m);
            }
        });
        let Some(check) = &fit.check else { return };
        ui.separator();
        ui.label("Model check: moments of a simulation of the fitted model vs the data");
        ui.columns(4, |cols| {
            let o = &check.observed;
            let p = &check.predicted;
            scatter_ui(&mut cols[0], "m", o.m.as_slice(), p.m.as_slice());
            let off = |m: &DMatrix<f64>| -> Vec<f64> {
                let n = m.nrows();
                (0..n)
                    .flat_map(|i| (0..n).filter(move |&k| k != i).map(move |k| (i, k)))
                    .map(|(i, k)| m[(i, k)])
                    .collect()
            };
            scatter_ui(&mut cols[1], "C (off-diagonal)", &off(&o.c), &off(&p.c));
            let all = |m: &DMatrix<f64>| -> Vec<f64> { m.iter().copied().collect() };
            scatter_ui(&mut cols[2], "D", &all(&o.d), &all(&p.d));
            if let Some(truth) = model.dataset.as_ref().and_then(|d| d.truth.as_ref()) {
                let tj: Vec<f64> = (&truth.j * truth.beta).iter().copied().collect();
                let fj: Vec<f64> = fit.j.iter().copied().collect();
                scatter_ui(&mut cols[3], "J: fitted vs true", &tj, &fj);
            }
        });
    }
}

/// Observed (x) vs predicted (y) with the identity line and R².
fn scatter_ui(ui: &mut egui::Ui, name: &str, x: &[f64], y: &[f64]) {
    let r2 = correlation_and_r2(x, y).map(|(_, r2)| r2);
    ui.label(match r2 {
        Some(r2) => format!("{name}: R² = {r2:.3}"),
        None => name.to_string(),
    });
    let lo = x.iter().chain(y).copied().fold(f64::INFINITY, f64::min);
    let hi = x.iter().chain(y).copied().fold(f64::NEG_INFINITY, f64::max);
    let pts: Vec<[f64; 2]> = x.iter().zip(y).map(|(&a, &b)| [a, b]).collect();
    Plot::new(format!("check_{name}"))
        .height(200.0)
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
}
