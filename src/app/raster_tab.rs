//! The Raster tab: units × time, drawn from per-pixel aggregates into one
//! texture, with zoom (wheel), pan (drag), reset (double-click), a trial
//! selector and the population rate under it.

use egui::{Color32, ColorImage, Pos2, Rect, Sense, TextureHandle, TextureOptions, Vec2};
use egui_plot::{Line, Plot, PlotPoints};

use super::dataset::Dataset;
use super::plots::{enlargeable, sequential};
use super::{AppModel, Command};

/// The part of the raster in view (saved in sessions).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RasterViewState {
    /// Trial shown (trial data).
    pub trial: usize,
    /// First bin in view, within the trial.
    pub start: f64,
    /// Bins in view (0 = the whole trial).
    pub len: f64,
}

impl Default for RasterViewState {
    fn default() -> Self {
        Self {
            trial: 0,
            start: 0.0,
            len: 0.0,
        }
    }
}

/// View state of the Raster tab.
#[derive(Default)]
pub struct RasterTab {
    view: RasterViewState,
    texture: Option<TextureHandle>,
    key: Option<(u64, usize, u64, u64, usize, usize, u64)>,
    counts: Vec<u32>,
    bins: Vec<u32>,
    /// Population rate per pixel column that holds a bin: (time s, Hz per unit).
    pub rate: Vec<[f64; 2]>,
    /// Where the raster was drawn last frame (for tests).
    pub rect: Option<Rect>,
}

/// Seconds from a trial's first bin to its event (0 without trials): the
/// raster's time axis shows `bin time − offset`, so the event is at 0.
pub fn event_offset(ds: &Dataset) -> f64 {
    ds.trials.as_ref().map_or(0.0, |t| t.pre_s)
}

/// "Trial 3: event at 12.5 s; stimulus = A, ..." for the trial shown.
fn trial_conditions(ds: &Dataset, trial: usize) -> Option<String> {
    let table = ds.trials.as_ref()?;
    let event = table.event_s.get(trial)?;
    let cols: Vec<String> = table
        .columns
        .iter()
        .filter_map(|c| c.values.get(trial).map(|v| format!("{} = {v}", c.name)))
        .collect();
    Some(format!(
        "Trial {trial}: event at {event} s; {}",
        cols.join(", ")
    ))
}

/// Ink colour of a unit's spikes by its quality label.
fn label_ink(label: &str, dark: bool) -> Color32 {
    match label.to_ascii_lowercase().as_str() {
        "mua" => Color32::from_rgb(230, 140, 30),
        "noise" => Color32::from_gray(140),
        _ if dark => Color32::from_rgb(235, 235, 235),
        _ => Color32::from_rgb(20, 20, 20),
    }
}

impl RasterTab {
    /// Show the whole first trial.
    pub fn reset_view(&mut self) {
        self.view = RasterViewState::default();
        self.key = None;
    }
    /// The view to save in a session.
    pub fn view_state(&self) -> RasterViewState {
        self.view.clone()
    }
    /// Restore a saved view.
    pub fn apply_view_state(&mut self, v: &RasterViewState) {
        self.view = v.clone();
        self.key = None;
    }
    /// Bins in view as `(start, len)` within the trial, clamped.
    pub fn window(&self, bins_per_trial: usize) -> (f64, f64) {
        let total = bins_per_trial as f64;
        let len = if self.view.len <= 0.0 {
            total
        } else {
            self.view.len.clamp(1.0_f64.min(total), total)
        };
        let start = self.view.start.clamp(0.0, (total - len).max(0.0));
        (start, len)
    }

    /// Draw the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, model: &AppModel, _commands: &mut Vec<Command>) {
        let Some(ds) = &model.dataset else {
            ui.label("No dataset loaded: open one in the Data tab.");
            return;
        };
        let (r, t, n) = ds.raster.shape();
        ui.horizontal(|ui| {
            if r > 1 {
                ui.label("Trial");
                let mut trial = self.view.trial;
                ui.add(egui::Slider::new(&mut trial, 0..=r - 1).text("trial"));
                if trial != self.view.trial {
                    self.view.trial = trial;
                }
            }
            let (start, len) = self.window(t);
            let t0 = event_offset(ds);
            ui.label(format!(
                "{:.3} s – {:.3} s of {:.3} s{} ({} units; wheel: zoom, drag: pan, double-click: reset)",
                start * ds.bin_seconds - t0,
                (start + len) * ds.bin_seconds - t0,
                t as f64 * ds.bin_seconds,
                if ds.trials.is_some() {
                    " (time from the event)"
                } else {
                    ""
                },
                n
            ));
        });
        if let Some(text) = trial_conditions(ds, self.view.trial) {
            ui.label(text);
        }
        let avail = ui.available_size();
        let raster_h = (avail.y - 190.0).max(120.0);
        let (rect, resp) =
            ui.allocate_exact_size(Vec2::new(avail.x, raster_h), Sense::click_and_drag());
        self.rect = Some(rect);
        self.interact(ui, &resp, rect, t);
        let width = (rect.width() * ui.ctx().pixels_per_point())
            .round()
            .clamp(1.0, 4096.0) as usize;
        self.update_texture(ui, ds, model, width);
        if let Some(tex) = &self.texture {
            ui.painter().image(
                tex.id(),
                rect,
                Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        // The event (time 0 of each trial) as a vertical line.
        if ds.trials.is_some() {
            let (start, len) = self.window(t);
            let event_bin = event_offset(ds) / ds.bin_seconds;
            if event_bin >= start && event_bin <= start + len {
                let x = rect.left() + rect.width() * ((event_bin - start) / len) as f32;
                ui.painter().vline(
                    x,
                    rect.y_range(),
                    egui::Stroke::new(2.0, Color32::from_rgb(250, 200, 60)),
                );
            }
        }
        // Unit ids at the left edge when rows are tall enough to read.
        let row_h = rect.height() / n.max(1) as f32;
        if row_h >= 14.0 {
            for (row, &unit) in model.order.iter().enumerate().take(n) {
                let y = rect.top() + row_h * (row as f32 + 0.5);
                ui.painter().text(
                    egui::pos2(rect.left() + 4.0, y),
                    egui::Align2::LEFT_CENTER,
                    format!("unit {}", ds.units[unit].id),
                    egui::FontId::proportional(12.0),
                    Color32::from_rgb(250, 200, 60),
                );
            }
        }
        if let Some(pos) = resp.hover_pos() {
            let (start, len) = self.window(t);
            let bin = start + (pos.x - rect.left()) as f64 / rect.width() as f64 * len;
            let row = ((pos.y - rect.top()) / rect.height() * n as f32).floor() as usize;
            if let Some(&unit) = model.order.get(row) {
                let u = &ds.units[unit];
                resp.on_hover_text_at_pointer(format!(
                    "unit {} ({}) at {:.4} s",
                    u.id,
                    if u.label.is_empty() {
                        "unlabelled"
                    } else {
                        &u.label
                    },
                    bin * ds.bin_seconds - event_offset(ds)
                ));
            }
        }

        // With trials, time runs from each trial's event (negative before).
        let t0 = event_offset(ds);
        let aligned = ds.trials.is_some();
        let plot_width = ui.available_width();
        enlargeable(
            ui,
            "population_rate",
            "Population rate (Hz per unit)",
            egui::vec2(plot_width, 140.0),
            |ui, size| {
                Plot::new("population_rate")
                    .width(size.x)
                    .height(size.y)
                    .allow_zoom(false)
                    .allow_drag(false)
                    .allow_scroll(false)
                    .x_axis_label(if aligned {
                        "time from event (s)"
                    } else {
                        "time (s)"
                    })
                    .show(ui, |plot| {
                        let pts: Vec<[f64; 2]> =
                            self.rate.iter().map(|&[x, y]| [x - t0, y]).collect();
                        plot.line(Line::new("rate", PlotPoints::from(pts)));
                        if aligned {
                            plot.vline(
                                egui_plot::VLine::new("event", 0.0)
                                    .color(Color32::from_rgb(250, 200, 60)),
                            );
                        }
                    });
            },
        );
    }

    fn interact(&mut self, ui: &egui::Ui, resp: &egui::Response, rect: Rect, t: usize) {
        let (start, len) = self.window(t);
        if resp.double_clicked() {
            self.view.start = 0.0;
            self.view.len = 0.0;
            return;
        }
        if resp.dragged() {
            let dx = resp.drag_delta().x as f64;
            self.view.start = start - dx / rect.width() as f64 * len;
            self.view.len = len;
        }
        if resp.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y + i.zoom_delta().ln() * 200.0);
            if scroll != 0.0
                && let Some(pos) = resp.hover_pos()
            {
                // The wheel zooms the raster, not the page around it.
                ui.ctx().input_mut(|i| i.smooth_scroll_delta.y = 0.0);
                let factor = (-scroll as f64 / 200.0).exp();
                let frac = ((pos.x - rect.left()) / rect.width()) as f64;
                let anchor = start + frac * len;
                let new_len = (len * factor).clamp(8.0_f64.min(t as f64), t as f64);
                self.view.start = anchor - frac * new_len;
                self.view.len = new_len;
            }
        }
    }

    fn update_texture(&mut self, ui: &egui::Ui, ds: &Dataset, model: &AppModel, width: usize) {
        let (_, t, n) = ds.raster.shape();
        let (start, len) = self.window(t);
        let trial = self.view.trial.min(ds.raster.n_trials().saturating_sub(1));
        let dark = ui.visuals().dark_mode;
        let order_hash = model
            .order
            .iter()
            .enumerate()
            .fold(dark as u64, |h, (k, &i)| {
                h.wrapping_mul(31).wrapping_add((k ^ i) as u64)
            });
        let key = (
            model.generation,
            trial,
            start.to_bits(),
            len.to_bits(),
            width,
            n,
            order_hash,
        );
        if self.key == Some(key) && self.texture.is_some() {
            return;
        }
        let a = trial * t + start.floor() as usize;
        let b = (trial * t + (start + len).ceil() as usize).min((trial + 1) * t);
        ds.pyramid
            .aggregate(&ds.raster, a, b, width, &mut self.counts, &mut self.bins);
        let background = if dark {
            Color32::from_gray(20)
        } else {
            Color32::WHITE
        };
        let mut img = ColorImage::filled([width, n.max(1)], background);
        // Contrast relative to the busiest pixel in view, so that both sparse
        // and dense recordings use the whole grey scale; any spike stays
        // visible.
        let frac = |unit: usize, x: usize| {
            self.counts[unit * width + x] as f32 / self.bins[x].max(1) as f32
        };
        let max_frac = model
            .order
            .iter()
            .flat_map(|&u| (0..width).map(move |x| (u, x)))
            .map(|(u, x)| frac(u, x))
            .fold(0.0f32, f32::max)
            .max(1e-6);
        for (row, &unit) in model.order.iter().enumerate().take(n) {
            let ink = label_ink(&ds.units[unit].label, dark);
            for x in 0..width {
                if self.counts[unit * width + x] > 0 {
                    let v = (frac(unit, x) / max_frac).sqrt().max(0.25);
                    img.pixels[row * width + x] = sequential(v, background, ink);
                }
            }
        }
        match &mut self.texture {
            Some(tex) => tex.set(img, TextureOptions::NEAREST),
            None => {
                self.texture = Some(
                    ui.ctx()
                        .load_texture("raster", img, TextureOptions::NEAREST),
                )
            }
        }
        // Population rate per pixel column, in Hz per unit.
        self.rate.clear();
        let span = (b - a) as f64;
        for x in 0..width {
            // Zoomed in past one bin per pixel column, some columns hold no
            // bin: leave them out (the line joins the bins on either side)
            // instead of drawing a false zero, which made the plot a comb.
            if self.bins[x] == 0 {
                continue;
            }
            let spikes: u32 = (0..n).map(|i| self.counts[i * width + x]).sum();
            let bins = self.bins[x] as f64;
            // At the centre of the bins `ActivityPyramid::aggregate` puts in
            // this column (bin j goes to column floor(j · width / span)), so
            // a point sits over its bin.
            let lo = (span * x as f64 / width as f64).ceil();
            let hi = (span * (x + 1) as f64 / width as f64).ceil();
            let time = (start.floor() + (lo + hi) / 2.0) * ds.bin_seconds;
            self.rate.push([
                time,
                spikes as f64 / (bins * n.max(1) as f64) / ds.bin_seconds,
            ]);
        }
        self.key = Some(key);
    }
}
