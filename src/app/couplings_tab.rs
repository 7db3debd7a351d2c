//! The Couplings tab: heatmaps of fitted or true J with a diverging scale
//! centred at 0, a threshold scaled to the data, hover read-out, J / z /
//! "significant only" views of a maximum-likelihood fit (standard errors
//! from the Fisher information, Benjamini–Hochberg at q = 0.05; other
//! cells grey), and a side-by-side comparison with a scatter plot and
//! correlation.

use egui_plot::{Line, Plot, PlotPoints, Points};
use nalgebra::DMatrix;

use super::plots::{HeatmapData, HeatmapView, correlation_and_r2, symmetric_limit};
use super::{AppModel, Command};

/// Which matrix a panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MatrixSource {
    /// The latest fit.
    Fitted,
    /// The generating couplings (simulated data), effective (β·J).
    True,
}

impl MatrixSource {
    fn title(self) -> &'static str {
        match self {
            MatrixSource::Fitted => "Fitted couplings",
            MatrixSource::True => "True couplings (β·J)",
        }
    }
}

/// How the fitted couplings are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CouplingView {
    /// The couplings J.
    J,
    /// z = J / se.
    Z,
    /// J where Benjamini–Hochberg at q = 0.05 declares it non-zero; other
    /// cells grey.
    Significant,
}

/// FDR level of the "significant only" view.
pub const VIEW_FDR: f64 = 0.05;

/// View state of the Couplings tab.
pub struct CouplingsTab {
    /// |J| below this is drawn white.
    pub threshold: f64,
    /// J, z or significant-only (fitted couplings with standard errors).
    pub view: CouplingView,
    left: MatrixSource,
    compare: bool,
    left_view: HeatmapView,
    right_view: HeatmapView,
    /// The cell under the pointer, for tests and the read-out.
    pub hovered: Option<(usize, usize)>,
    /// Where the left heatmap was drawn last frame (for tests).
    pub heatmap_rect: Option<egui::Rect>,
}

/// The Couplings tab's view choices (saved in sessions).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CouplingsViewState {
    /// J, z or significant-only.
    pub view: CouplingView,
    /// The left panel's matrix.
    pub left: MatrixSource,
    /// Whether the second panel and the scatter are shown.
    pub compare: bool,
}

impl Default for CouplingsViewState {
    fn default() -> Self {
        let t = CouplingsTab::default();
        Self {
            view: t.view,
            left: t.left,
            compare: t.compare,
        }
    }
}

impl CouplingsTab {
    /// The view choices to save in a session.
    pub fn view_state(&self) -> CouplingsViewState {
        CouplingsViewState {
            view: self.view,
            left: self.left,
            compare: self.compare,
        }
    }
    /// Restore saved view choices.
    pub fn apply_view_state(&mut self, v: &CouplingsViewState) {
        self.view = v.view;
        self.left = v.left;
        self.compare = v.compare;
    }
}

impl Default for CouplingsTab {
    fn default() -> Self {
        Self {
            threshold: 0.0,
            view: CouplingView::J,
            left: MatrixSource::Fitted,
            compare: true,
            left_view: HeatmapView::new("couplings_left"),
            right_view: HeatmapView::new("couplings_right"),
            hovered: None,
            heatmap_rect: None,
        }
    }
}

/// The fitted matrix as `view` shows it (J, z, or J with non-significant
/// cells NaN = grey); J when there are no standard errors.
pub fn fitted_view(model: &AppModel, view: CouplingView) -> Option<(DMatrix<f64>, u64)> {
    let f = model.fit.as_ref()?;
    let se = f.check.as_ref().and_then(|c| c.se_j.as_ref());
    let (m, key) = match (view, se) {
        (CouplingView::Z, Some(se)) => (f.j.zip_map(se, |a, s| a / s), 1),
        (CouplingView::Significant, Some(se)) => {
            let sig = crate::fit::significance(&f.j, se, VIEW_FDR).ok()?;
            (
                f.j.zip_map(&sig.significant, |a, s| if s { a } else { f64::NAN }),
                2,
            )
        }
        _ => (f.j.clone(), 0),
    };
    Some((m, f.generation * 4 + key))
}

/// The matrix of a source, if available, with a generation key.
pub fn matrix_of(model: &AppModel, source: MatrixSource) -> Option<(DMatrix<f64>, u64)> {
    match source {
        MatrixSource::Fitted => model.fit.as_ref().map(|f| (f.j.clone(), f.generation)),
        MatrixSource::True => model
            .dataset
            .as_ref()
            .and_then(|d| d.truth.as_ref())
            .map(|t| (&t.j * t.beta, model.generation * 1000 + 2)),
    }
}

/// Units ordered by the leading eigenvector of the symmetrised |J| (a cheap
/// spectral ordering that puts strongly coupled units next to each other).
pub fn cluster_order(j: &DMatrix<f64>) -> Vec<usize> {
    let n = j.nrows();
    let a = DMatrix::from_fn(n, n, |r, c| 0.5 * (j[(r, c)].abs() + j[(c, r)].abs()));
    // Second eigenvector by power iteration on A with the leading one removed.
    let mut v1 = nalgebra::DVector::from_element(n, 1.0 / (n as f64).sqrt());
    for _ in 0..200 {
        let w = &a * &v1;
        let norm = w.norm();
        if norm == 0.0 {
            break;
        }
        v1 = w / norm;
    }
    let mut v2 = nalgebra::DVector::from_fn(n, |k, _| (k as f64 * 0.7).sin());
    for _ in 0..200 {
        let mut w = &a * &v2;
        let proj = w.dot(&v1);
        w -= &v1 * proj;
        let norm = w.norm();
        if norm == 0.0 {
            break;
        }
        v2 = w / norm;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| v2[x].total_cmp(&v2[y]));
    order
}

impl CouplingsTab {
    /// The left panel's matrix in the current view.
    fn shown_left(&self, model: &AppModel) -> Option<(DMatrix<f64>, u64)> {
        match self.left {
            MatrixSource::Fitted => fitted_view(model, self.view),
            MatrixSource::True => matrix_of(model, MatrixSource::True),
        }
    }

    /// Draw the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, model: &AppModel, commands: &mut Vec<Command>) {
        let Some(ds) = &model.dataset else {
            ui.label("No dataset loaded: open one in the Data tab.");
            return;
        };
        let has_truth = ds.truth.is_some();
        let has_fit = model.fit.is_some();
        ui.horizontal(|ui| {
            ui.label("Show:");
            ui.selectable_value(&mut self.left, MatrixSource::Fitted, "fitted J");
            if has_truth {
                ui.selectable_value(&mut self.left, MatrixSource::True, "true J");
                ui.checkbox(&mut self.compare, "compare with the other");
            }
            let has_se = model
                .fit
                .as_ref()
                .and_then(|f| f.check.as_ref())
                .is_some_and(|c| c.se_j.is_some());
            if has_se && self.left == MatrixSource::Fitted {
                ui.separator();
                ui.selectable_value(&mut self.view, CouplingView::J, "J");
                ui.selectable_value(&mut self.view, CouplingView::Z, "z = J/se");
                ui.selectable_value(
                    &mut self.view,
                    CouplingView::Significant,
                    "significant only (BH q = 0.05)",
                );
            }
            // The slider spans the data: 0 to the largest |entry| shown.
            let shown = self
                .shown_left(model)
                .map_or(1.0, |(m, _)| symmetric_limit(&m));
            self.threshold = self.threshold.min(shown);
            ui.add(
                egui::Slider::new(&mut self.threshold, 0.0..=shown)
                    .fixed_decimals(4)
                    .text(
                        if self.view == CouplingView::Z && self.left == MatrixSource::Fitted {
                            "threshold |z|"
                        } else {
                            "threshold |J|"
                        },
                    ),
            );
            let any = matrix_of(model, self.left).or_else(|| matrix_of(model, MatrixSource::True));
            if let Some((j, _)) = any
                && ui.button("Order units by coupling clusters").clicked()
            {
                commands.push(Command::SetOrder(cluster_order(&j)));
            }
            if ui.button("Order units by index").clicked() {
                commands.push(Command::SetOrder((0..ds.raster.n_units()).collect()));
            }
        });
        if !has_fit && !has_truth {
            ui.label("No couplings yet: run a fit in the Fit tab.");
            return;
        }
        let labels = ds.unit_ids();
        let left = self.shown_left(model);
        if let Some(w) = model
            .fit
            .as_ref()
            .and_then(|f| f.check.as_ref())
            .and_then(|c| c.warning.as_ref())
        {
            ui.colored_label(egui::Color32::from_rgb(160, 0, 0), format!("Warning: {w}"));
        }
        let right_source = match self.left {
            MatrixSource::Fitted => MatrixSource::True,
            MatrixSource::True => MatrixSource::Fitted,
        };
        // z and significant-only are not on the scale of the true J.
        let plain = self.left == MatrixSource::True || self.view == CouplingView::J;
        let right = if self.compare && plain {
            matrix_of(model, right_source)
        } else {
            None
        };
        // One colour scale for both panels, so colours compare.
        let limit = [&left, &right]
            .iter()
            .filter_map(|m| m.as_ref().map(|(j, _)| symmetric_limit(j)))
            .fold(0.0, f64::max);
        let avail = ui.available_size();
        let panels = match (&left, &right) {
            (Some(_), Some(_)) => 3.0,
            _ => 1.0,
        };
        let size = ((avail.x - 120.0 * panels) / panels)
            .min(avail.y - 60.0)
            .max(120.0);
        self.hovered = None;
        ui.horizontal_top(|ui| {
            let mut rects = [None, None];
            for (k, (view, m, title)) in [
                (&mut self.left_view, &left, self.left.title()),
                (&mut self.right_view, &right, right_source.title()),
            ]
            .into_iter()
            .enumerate()
            {
                let Some((j, generation)) = m else { continue };
                ui.vertical(|ui| {
                    ui.strong(title);
                    let resp = view.ui(
                        ui,
                        &HeatmapData {
                            matrix: j,
                            generation: *generation,
                            order: &model.order,
                            labels: &labels,
                            limit,
                            threshold: self.threshold,
                        },
                        size,
                    );
                    if resp.hovered.is_some() {
                        self.hovered = resp.hovered;
                    }
                    rects[k] = resp.rect;
                });
            }
            self.heatmap_rect = rects[0];
            if let (Some((a, _)), Some((b, _))) = (&left, &right) {
                ui.vertical(|ui| {
                    scatter_ui(ui, a, b, self.left.title(), right_source.title(), size)
                });
            }
        });
    }
}

/// Scatter of two matrices' entries with the identity line and correlation.
fn scatter_ui(
    ui: &mut egui::Ui,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    xl: &str,
    yl: &str,
    size: f32,
) {
    let xs: Vec<f64> = x.iter().copied().collect();
    let ys: Vec<f64> = y.iter().copied().collect();
    match correlation_and_r2(&xs, &ys) {
        Some((r, _)) => ui.strong(format!("{yl} vs {xl}: r = {r:.3}")),
        None => ui.strong(format!("{yl} vs {xl}")),
    };
    let lo = xs.iter().chain(&ys).copied().fold(f64::INFINITY, f64::min);
    let hi = xs
        .iter()
        .chain(&ys)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let pts: Vec<[f64; 2]> = xs.iter().zip(&ys).map(|(&a, &b)| [a, b]).collect();
    Plot::new("couplings_scatter")
        .allow_scroll(false)
        .width(size)
        .height(size)
        .data_aspect(1.0)
        .x_axis_label(xl.to_string())
        .y_axis_label(yl.to_string())
        .show(ui, |plot| {
            plot.line(Line::new(
                "identity",
                PlotPoints::from(vec![[lo, lo], [hi, hi]]),
            ));
            plot.points(Points::new("entries", PlotPoints::from(pts)).radius(1.5));
        });
}
