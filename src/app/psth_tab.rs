//! The PSTH tab: trial-averaged rates around the trials' events (library:
//! [`crate::psth`]). A heatmap of units × time (sorted by the unit table's
//! order, by peak time or by response latency), the population PSTH with a
//! ±1 s.e. band across trials, one curve per condition of a chosen column,
//! the raster of one unit across all trials sorted by condition, and the
//! condition filter that the Fit and State space tabs use too.
//!
//! Time is relative to each trial's event (negative before it); the event
//! is the vertical line at 0. PSTHs are recomputed only when the dataset,
//! the grouping column or the filter change; the textures only when what
//! they show changes.

use egui::{Color32, ColorImage, Pos2, Rect, Sense, TextureHandle, TextureOptions, Vec2};
use egui_plot::{FilledArea, Legend, Line, Plot, PlotPoints, VLine};

use super::dataset::{ConditionFilter, Dataset};
use super::plots::{
    HeatmapData, HeatmapView, colorbar_positive_ui, correlation_and_r2, diverging, enlargeable,
    symmetric_limit,
};
use super::worker::Job;
use super::{AppModel, Command};
use crate::psth::{Condition, Psth, compute_psth};

/// How the heatmap's rows are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PsthOrder {
    /// The unit table's order (Data tab sorting).
    #[default]
    UnitTable,
    /// By the time of the unit's peak rate.
    Peak,
    /// By the unit's response latency after the event.
    Latency,
}

impl PsthOrder {
    fn title(self) -> &'static str {
        match self {
            PsthOrder::UnitTable => "unit table order",
            PsthOrder::Peak => "peak time",
            PsthOrder::Latency => "response latency",
        }
    }
}

/// What the PSTH tab shows (saved in sessions).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PsthViewState {
    /// Column whose values group the trials into conditions (empty: none).
    pub group_by: String,
    /// Row order of the heatmap.
    pub order: PsthOrder,
    /// Raster column of the unit whose trials are shown.
    pub unit: usize,
}

/// The PSTHs on screen: every kept trial, and one per condition.
#[derive(Clone, Debug)]
pub struct PsthCurves {
    /// All trials the condition filter keeps.
    pub overall: Psth,
    /// The kept trials (raster indices, ascending).
    pub trials: Vec<usize>,
    /// One PSTH per value of the grouping column (kept trials only).
    pub groups: Vec<(Condition, Psth)>,
}

/// View state of the PSTH tab.
#[derive(Default)]
pub struct PsthTab {
    view: PsthViewState,
    /// What `curves` were computed for: (dataset generation, grouping
    /// column, filter).
    key: Option<(u64, String, ConditionFilter)>,
    job: Option<((u64, String, ConditionFilter), Job<PsthCurves>)>,
    /// What is drawn (tests compare it with a direct average).
    pub curves: Option<PsthCurves>,
    error: Option<String>,
    heat: Option<TextureHandle>,
    heat_key: Option<(u64, u64, bool)>,
    unit_raster: Option<TextureHandle>,
    unit_key: Option<(u64, usize, bool)>,
    /// Raster rows of the unit view: (first row, rows, condition value).
    unit_groups: Vec<(usize, usize, String)>,
    curves_generation: u64,
    /// The two condition fits compared (indices into
    /// `AppModel::condition_fits`).
    compare: (usize, usize),
    compare_views: Option<(HeatmapView, HeatmapView)>,
}

/// The PSTHs of the trials `condition` keeps, overall and per value of
/// `group_by` (worker thread).
pub fn compute_curves(
    ds: &Dataset,
    group_by: &str,
    condition: &ConditionFilter,
) -> Result<PsthCurves, String> {
    let pre = ds.trials.as_ref().map_or(0.0, |t| t.pre_s);
    let kept = match ds.condition_trials(condition)? {
        Some(t) => t,
        None => (0..ds.raster.n_trials()).collect(),
    };
    let overall =
        compute_psth(&ds.raster, ds.bin_seconds, pre, &kept).map_err(|e| e.to_string())?;
    let mut groups = Vec::new();
    if !group_by.is_empty() {
        let table = ds
            .trials
            .as_ref()
            .ok_or("no trials table: nothing to group by")?;
        for mut c in table.conditions(group_by).map_err(|e| e.to_string())? {
            c.trials.retain(|r| kept.binary_search(r).is_ok());
            if c.trials.is_empty() {
                continue;
            }
            let p = compute_psth(&ds.raster, ds.bin_seconds, pre, &c.trials)
                .map_err(|e| e.to_string())?;
            groups.push((c, p));
        }
    }
    Ok(PsthCurves {
        overall,
        trials: kept,
        groups,
    })
}

/// Colour of condition `k`.
fn condition_colour(k: usize) -> Color32 {
    super::plots::categorical(k)
}

impl PsthTab {
    /// The view to save in a session.
    pub fn view_state(&self) -> PsthViewState {
        self.view.clone()
    }
    /// Restore a saved view (checked against the data when drawn).
    pub fn apply_view_state(&mut self, v: &PsthViewState) {
        self.view = v.clone();
        self.key = None;
    }
    /// Group the trials by `column` (empty: no grouping).
    pub fn set_group_by(&mut self, column: &str) {
        self.view.group_by = column.to_string();
    }
    /// Order the heatmap's rows.
    pub fn set_order(&mut self, order: PsthOrder) {
        self.view.order = order;
    }

    /// Whether PSTHs for the current choices are being computed.
    pub fn computing(&self) -> bool {
        self.job.is_some()
    }

    /// Keep the PSTHs in step with the dataset, grouping and filter: when
    /// they change, compute on a worker thread (a 1-hour recording's 1,200
    /// trials take tens of ms, too long for a frame) and keep showing the
    /// previous curves until the new ones arrive.
    fn update_curves(&mut self, ctx: &egui::Context, model: &AppModel) {
        let Some(ds) = model.dataset.clone() else {
            return;
        };
        let wanted = (
            model.generation,
            self.view.group_by.clone(),
            model.condition.clone(),
        );
        if let Some((key, job)) = &mut self.job
            && let Some(result) = job.poll()
        {
            let key = key.clone();
            self.job = None;
            self.curves_generation += 1;
            match result {
                Ok(c) => {
                    self.curves = Some(c);
                    self.error = None;
                }
                Err(e) => {
                    self.curves = None;
                    self.error = Some(e);
                }
            }
            self.key = Some(key);
        }
        if self.job.is_some() || self.key.as_ref() == Some(&wanted) {
            return;
        }
        let ctx = ctx.clone();
        let wake: super::worker::Wake = std::sync::Arc::new(move || ctx.request_repaint());
        let (group_by, condition) = (wanted.1.clone(), wanted.2.clone());
        let job = Job::spawn("PSTH", wake, move |_| {
            compute_curves(&ds, &group_by, &condition)
        });
        self.job = Some((wanted, job));
    }

    /// Draw the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, model: &AppModel, commands: &mut Vec<Command>) {
        let Some(ds) = model.dataset.clone() else {
            ui.label("No dataset loaded: open one in the Data tab.");
            return;
        };
        let columns: Vec<String> = ds
            .trials
            .as_ref()
            .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        if ds.trials.is_none() {
            ui.label(
                "No trials table: every trial is aligned at its start. To align trials to events, load the file with \"Trials from intervals table\" (Data tab), e.g. trials.",
            );
        }
        if !self.view.group_by.is_empty() && !columns.contains(&self.view.group_by) {
            self.view.group_by.clear();
        }
        self.update_curves(ui.ctx(), model);
        self.controls_ui(ui, &ds, model, &columns, commands);
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        if self.computing() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(if self.curves.is_some() {
                    "Computing the PSTHs for the new choice (showing the previous ones)…"
                } else {
                    "Computing the PSTHs…"
                });
            });
        }
        // Curves of an earlier dataset are never drawn over this one (their
        // trial indices belong to the other raster).
        if self.key.as_ref().is_none_or(|k| k.0 != model.generation) {
            return;
        }
        // Taken for the draw and put back: no per-frame copy.
        let Some(curves) = self.curves.take() else {
            return;
        };
        egui::ScrollArea::vertical()
            .id_salt("psth_scroll")
            .show(ui, |ui| {
                self.population_ui(ui, &curves);
                ui.separator();
                ui.horizontal_top(|ui| {
                    ui.vertical(|ui| self.heatmap_ui(ui, &ds, model, &curves));
                    ui.vertical(|ui| self.unit_raster_ui(ui, &ds, &curves));
                });
                ui.separator();
                self.compare_ui(ui, &ds, model);
            });
        self.curves = Some(curves);
    }

    fn controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        ds: &Dataset,
        model: &AppModel,
        columns: &[String],
        commands: &mut Vec<Command>,
    ) {
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Group trials by:");
            let shown = if self.view.group_by.is_empty() {
                "(none)".to_string()
            } else {
                self.view.group_by.clone()
            };
            egui::ComboBox::from_id_salt("psth_group_by")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.view.group_by, String::new(), "(none)");
                    for c in columns {
                        ui.selectable_value(&mut self.view.group_by, c.clone(), c);
                    }
                })
                .response
                .labelled_by(l.id);
            ui.separator();
            let l = ui.label("Sort units by:");
            egui::ComboBox::from_id_salt("psth_order")
                .selected_text(self.view.order.title())
                .show_ui(ui, |ui| {
                    for o in [PsthOrder::UnitTable, PsthOrder::Peak, PsthOrder::Latency] {
                        ui.selectable_value(&mut self.view.order, o, o.title());
                    }
                })
                .response
                .labelled_by(l.id);
        });
        ui.horizontal_wrapped(|ui| {
            // The filter is model state: the Fit and State space tabs use
            // the same trials.
            let l = ui.label("Use only trials with (PSTH, Fit, State space):");
            let mut filter = model.condition.clone();
            let column_text = if filter.column.is_empty() {
                "(all trials)".to_string()
            } else {
                filter.column.clone()
            };
            egui::ComboBox::from_id_salt("condition_column")
                .selected_text(column_text)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut filter.column, String::new(), "(all trials)");
                    for c in columns {
                        ui.selectable_value(&mut filter.column, c.clone(), c);
                    }
                })
                .response
                .labelled_by(l.id);
            let values: Vec<String> = ds
                .trials
                .as_ref()
                .filter(|_| !filter.column.is_empty())
                .and_then(|t| t.conditions(&filter.column).ok())
                .map(|c| c.into_iter().map(|c| c.value).collect())
                .unwrap_or_default();
            if filter.column != model.condition.column {
                filter.value = values.first().cloned().unwrap_or_default();
            }
            if !filter.column.is_empty() {
                let l = ui.label("=");
                egui::ComboBox::from_id_salt("condition_value")
                    .selected_text(filter.value.clone())
                    .show_ui(ui, |ui| {
                        for v in &values {
                            ui.selectable_value(&mut filter.value, v.clone(), v);
                        }
                    })
                    .response
                    .labelled_by(l.id);
            }
            if filter.column.is_empty() {
                filter.value.clear();
            }
            if filter != model.condition {
                commands.push(Command::SetCondition(filter));
            }
            if let Some(c) = &self.curves {
                ui.label(format!(
                    "{} of {} trials, {:.1} ms bins",
                    c.trials.len(),
                    ds.raster.n_trials(),
                    ds.bin_seconds * 1e3
                ));
            }
        });
    }

    fn population_ui(&self, ui: &mut egui::Ui, curves: &PsthCurves) {
        let series: Vec<(String, &Psth, Color32)> = if curves.groups.is_empty() {
            vec![(
                format!("all ({} trials)", curves.overall.n_trials),
                &curves.overall,
                ui.visuals().text_color(),
            )]
        } else {
            curves
                .groups
                .iter()
                .enumerate()
                .map(|(k, (c, p))| {
                    (
                        format!(
                            "{} = {} ({} trials)",
                            self.view.group_by, c.value, p.n_trials
                        ),
                        p,
                        condition_colour(k),
                    )
                })
                .collect()
        };
        let plot_width = ui.available_width();
        enlargeable(
            ui,
            "psth_population",
            "Population PSTH (Hz per unit, mean ± 1 s.e. across trials)",
            egui::vec2(plot_width, 220.0),
            |ui, size| {
                Plot::new("psth_population")
                    .width(size.x)
                    .height(size.y)
                    .allow_zoom(false)
                    .allow_drag(false)
                    .allow_scroll(false)
                    .x_axis_label("time from event (s)")
                    .y_axis_label("Hz per unit")
                    // The band shares its line's legend entry and colour.
                    .legend(
                        Legend::default()
                            .color_conflict_handling(egui_plot::ColorConflictHandling::PickFirst),
                    )
                    .show(ui, |plot| {
                        for (name, p, colour) in &series {
                            let xs: Vec<f64> = (0..p.n_bins)
                                .map(|t| p.bin_start(t) + 0.5 * p.bin_s)
                                .collect();
                            // The line first: the legend takes its colour from the
                            // first item of a name (the band's is faint).
                            let pts: Vec<[f64; 2]> = xs
                                .iter()
                                .zip(&p.population_hz)
                                .map(|(&x, &y)| [x, y])
                                .collect();
                            plot.line(
                                Line::new(name.clone(), PlotPoints::from(pts)).color(*colour),
                            );
                            if p.n_trials >= 2 {
                                let lo: Vec<f64> = p
                                    .population_hz
                                    .iter()
                                    .zip(&p.population_se_hz)
                                    .map(|(m, s)| m - s)
                                    .collect();
                                let hi: Vec<f64> = p
                                    .population_hz
                                    .iter()
                                    .zip(&p.population_se_hz)
                                    .map(|(m, s)| m + s)
                                    .collect();
                                plot.add(
                                    FilledArea::new(name.clone(), &xs, &lo, &hi)
                                        .fill_color(colour.gamma_multiply(0.25)),
                                );
                            }
                        }
                        plot.vline(VLine::new("event", 0.0).color(Color32::from_rgb(250, 200, 60)));
                    });
            },
        );
    }

    /// Two conditions' fitted couplings side by side, on one colour scale.
    fn compare_ui(&mut self, ui: &mut egui::Ui, ds: &Dataset, model: &AppModel) {
        ui.label("Couplings by condition");
        let fits = &model.condition_fits;
        if fits.len() < 2 {
            ui.label(format!(
                "Fit two sets of trials to compare their couplings side by side: choose a condition above, press Run fit in the Fit tab, then choose another and fit again ({} fitted so far).",
                fits.len()
            ));
            return;
        }
        let (mut a, mut b) = self.compare;
        a = a.min(fits.len() - 1);
        b = if b == a || b >= fits.len() {
            (a + 1) % fits.len()
        } else {
            b
        };
        let pick = |ui: &mut egui::Ui, label: &str, id: &str, k: &mut usize| {
            let l = ui.label(label);
            egui::ComboBox::from_id_salt(id)
                .selected_text(fits[*k].label.clone())
                .show_ui(ui, |ui| {
                    for (i, f) in fits.iter().enumerate() {
                        ui.selectable_value(k, i, f.label.clone());
                    }
                })
                .response
                .labelled_by(l.id);
        };
        ui.horizontal(|ui| {
            pick(ui, "Left:", "compare_left", &mut a);
            pick(ui, "Right:", "compare_right", &mut b);
        });
        self.compare = (a, b);
        let (fa, fb) = (&fits[a], &fits[b]);
        if fa.j.shape() != fb.j.shape() || model.order.len() != fa.j.nrows() {
            ui.label("These fits have different units; re-fit both.");
            return;
        }
        // Off-diagonal agreement of the two J's.
        let off = |m: &nalgebra::DMatrix<f64>| -> Vec<f64> {
            let n = m.nrows();
            (0..n)
                .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
                .map(|(i, j)| m[(i, j)])
                .collect()
        };
        if let Some((r, _)) = correlation_and_r2(&off(&fa.j), &off(&fb.j)) {
            ui.label(format!(
                "Correlation of the off-diagonal couplings: r = {r:.3} ({} vs {})",
                fa.method, fb.method
            ));
        }
        let limit = symmetric_limit(&fa.j).max(symmetric_limit(&fb.j));
        let labels = ds.unit_ids();
        let (va, vb) = self
            .compare_views
            .get_or_insert_with(|| (HeatmapView::new("compare_a"), HeatmapView::new("compare_b")));
        let size = ((ui.available_width() - 160.0) / 2.0).clamp(160.0, 420.0);
        ui.horizontal_top(|ui| {
            for (view, f) in [(va, fa), (vb, fb)] {
                ui.vertical(|ui| {
                    ui.label(&f.label);
                    view.ui(
                        ui,
                        &HeatmapData {
                            matrix: &f.j,
                            generation: f.generation,
                            order: &model.order,
                            labels: &labels,
                            limit,
                            threshold: 0.0,
                        },
                        size,
                    );
                });
            }
        });
    }

    /// The order of the heatmap rows.
    pub fn row_order(&self, model: &AppModel, curves: &PsthCurves) -> Vec<usize> {
        match self.view.order {
            PsthOrder::Peak => curves.overall.order_by_peak(),
            PsthOrder::Latency => curves.overall.order_by_latency(),
            PsthOrder::UnitTable => model.order.clone(),
        }
    }

    fn heatmap_ui(
        &mut self,
        ui: &mut egui::Ui,
        ds: &Dataset,
        model: &AppModel,
        curves: &PsthCurves,
    ) {
        let p = &curves.overall;
        ui.label(format!(
            "Rate per unit (Hz), {} units × {} bins, rows by {}",
            p.n_units,
            p.n_bins,
            self.view.order.title()
        ));
        let order = self.row_order(model, curves);
        let dark = ui.visuals().dark_mode;
        let order_hash = order.iter().fold(17u64, |h, &i| {
            h.wrapping_mul(1_000_003).wrapping_add(i as u64)
        });
        let key = (self.curves_generation, order_hash, dark);
        let max = p.max_rate().max(1e-9);
        if self.heat_key != Some(key) || self.heat.is_none() {
            let w = p.n_bins.max(1);
            let h = order.len().max(1);
            let mut img = ColorImage::filled([w, h], Color32::WHITE);
            for (row, &i) in order.iter().enumerate() {
                for t in 0..p.n_bins {
                    img.pixels[row * w + t] = diverging((p.rate(i, t) / max) as f32);
                }
            }
            match &mut self.heat {
                Some(tex) => tex.set(img, TextureOptions::NEAREST),
                None => {
                    self.heat = Some(ui.ctx().load_texture(
                        "psth_heat",
                        img,
                        TextureOptions::NEAREST,
                    ))
                }
            }
            self.heat_key = Some(key);
        }
        let width = (ui.available_width() * 0.5 - 60.0).clamp(200.0, 900.0);
        let height = (order.len() as f32 * 2.0).clamp(160.0, 420.0);
        ui.horizontal(|ui| {
            let (rect, resp) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
            if let Some(tex) = &self.heat {
                ui.painter().image(
                    tex.id(),
                    rect,
                    Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                    Color32::WHITE,
                );
            }
            event_line(ui, rect, p);
            if let Some(pos) = resp.hover_pos() {
                let t = ((pos.x - rect.left()) / rect.width() * p.n_bins as f32).floor() as usize;
                let row =
                    ((pos.y - rect.top()) / rect.height() * order.len() as f32).floor() as usize;
                if let Some(&i) = order.get(row)
                    && t < p.n_bins
                {
                    resp.on_hover_text_at_pointer(format!(
                        "unit {} at {:+.3} s: {:.2} Hz",
                        ds.units.get(i).map_or("?", |u| u.id.as_str()),
                        p.bin_start(t) + 0.5 * p.bin_s,
                        p.rate(i, t)
                    ));
                }
            }
            colorbar_positive_ui(ui, "Hz", max, height);
        });
        time_axis_ui(ui, width, p);
    }

    fn unit_raster_ui(&mut self, ui: &mut egui::Ui, ds: &Dataset, curves: &PsthCurves) {
        let n = ds.raster.n_units();
        if n == 0 {
            return;
        }
        self.view.unit = self.view.unit.min(n - 1);
        ui.horizontal(|ui| {
            let l = ui.label("Trials of unit");
            egui::ComboBox::from_id_salt("psth_unit")
                .selected_text(ds.units[self.view.unit].id.clone())
                .show_ui(ui, |ui| {
                    for (k, u) in ds.units.iter().enumerate() {
                        ui.selectable_value(&mut self.view.unit, k, u.id.clone());
                    }
                })
                .response
                .labelled_by(l.id);
            if !self.view.group_by.is_empty() {
                ui.label(format!("sorted by {}", self.view.group_by));
            }
        });
        let dark = ui.visuals().dark_mode;
        let key = (self.curves_generation, self.view.unit, dark);
        let t = ds.raster.n_bins();
        if self.unit_key != Some(key) || self.unit_raster.is_none() {
            // Rows: trials grouped by condition (in the conditions' order),
            // else the kept trials in order.
            let mut rows: Vec<usize> = Vec::with_capacity(curves.trials.len());
            self.unit_groups.clear();
            if curves.groups.is_empty() {
                rows.extend(&curves.trials);
            } else {
                for (c, _) in &curves.groups {
                    self.unit_groups
                        .push((rows.len(), c.trials.len(), c.value.clone()));
                    rows.extend(&c.trials);
                }
            }
            let background = if dark {
                Color32::from_gray(20)
            } else {
                Color32::WHITE
            };
            let w = t.max(1);
            let mut img = ColorImage::filled([w, rows.len().max(1)], background);
            for (y, &r) in rows.iter().enumerate() {
                let group = self
                    .unit_groups
                    .iter()
                    .position(|&(a, len, _)| (a..a + len).contains(&y));
                let ink = match group {
                    Some(g) => condition_colour(g),
                    None if dark => Color32::from_gray(235),
                    None => Color32::from_gray(20),
                };
                for b in 0..t {
                    if ds.raster.get(r, b, self.view.unit) {
                        img.pixels[y * w + b] = ink;
                    }
                }
            }
            match &mut self.unit_raster {
                Some(tex) => tex.set(img, TextureOptions::NEAREST),
                None => {
                    self.unit_raster = Some(ui.ctx().load_texture(
                        "psth_unit_raster",
                        img,
                        TextureOptions::NEAREST,
                    ))
                }
            }
            self.unit_key = Some(key);
        }
        let width = (ui.available_width() - 90.0).clamp(200.0, 900.0);
        let height = 320.0;
        ui.horizontal(|ui| {
            let (rect, _) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
            match &self.unit_raster {
                Some(tex) => super::plots::framed_image(ui, tex, rect),
                None => {
                    ui.painter().rect_stroke(
                        rect,
                        0.0,
                        egui::Stroke::new(1.0, ui.visuals().weak_text_color()),
                        egui::StrokeKind::Outside,
                    );
                }
            }
            event_line(ui, rect, &curves.overall);
            let total = curves.trials.len().max(1) as f32;
            ui.vertical(|ui| {
                ui.set_min_height(height);
                for (k, (a, len, value)) in self.unit_groups.iter().enumerate() {
                    let y = rect.top() + rect.height() * (*a as f32 + *len as f32 / 2.0) / total;
                    ui.painter().text(
                        Pos2::new(rect.right() + 6.0, y),
                        egui::Align2::LEFT_CENTER,
                        format!("{value} ({len})"),
                        egui::FontId::proportional(12.0),
                        condition_colour(k),
                    );
                    if *a > 0 {
                        let y0 = rect.top() + rect.height() * *a as f32 / total;
                        ui.painter().hline(
                            rect.x_range(),
                            y0,
                            egui::Stroke::new(1.0, ui.visuals().weak_text_color()),
                        );
                    }
                }
            });
        });
        time_axis_ui(ui, width, &curves.overall);
    }
}

/// The event (time 0) as a vertical line across `rect`, whose width spans
/// the trial window.
fn event_line(ui: &egui::Ui, rect: Rect, p: &Psth) {
    let span = p.n_bins as f64 * p.bin_s;
    if span <= 0.0 || p.pre_s <= 0.0 || p.pre_s >= span {
        return;
    }
    let x = rect.left() + rect.width() * (p.pre_s / span) as f32;
    ui.painter().vline(
        x,
        rect.y_range(),
        egui::Stroke::new(2.0, Color32::from_rgb(250, 200, 60)),
    );
}

/// Tick labels of time from the event under a texture `width` wide.
fn time_axis_ui(ui: &mut egui::Ui, width: f32, p: &Psth) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, 28.0), Sense::hover());
    let t0 = -p.pre_s;
    let span = p.n_bins as f64 * p.bin_s;
    if span <= 0.0 {
        return;
    }
    let step = nice_step(span / 5.0);
    let mut v = (t0 / step).ceil() * step;
    let colour = ui.visuals().text_color();
    while v <= t0 + span + 1e-9 {
        let x = rect.left() + rect.width() * ((v - t0) / span) as f32;
        ui.painter().vline(
            x,
            rect.top()..=rect.top() + 4.0,
            egui::Stroke::new(1.0, colour),
        );
        // Labels at the edges stay inside the axis.
        let align = if x - rect.left() < 12.0 {
            egui::Align2::LEFT_TOP
        } else if rect.right() - x < 12.0 {
            egui::Align2::RIGHT_TOP
        } else {
            egui::Align2::CENTER_TOP
        };
        ui.painter().text(
            Pos2::new(x, rect.top() + 5.0),
            align,
            format!("{}", (v * 1e6).round() / 1e6),
            egui::FontId::proportional(11.0),
            colour,
        );
        v += step;
    }
    ui.painter().text(
        Pos2::new(rect.right(), rect.bottom()),
        egui::Align2::RIGHT_BOTTOM,
        "time from event (s)",
        egui::FontId::proportional(11.0),
        colour,
    );
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}
