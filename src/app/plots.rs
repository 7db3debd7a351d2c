//! Drawing helpers shared by the tabs: colour maps, the coupling heatmap
//! (a texture updated in place, never one shape per cell) and its colour bar.

use egui::{Color32, ColorImage, Pos2, Rect, Sense, TextureHandle, TextureOptions, Vec2};
use nalgebra::DMatrix;

/// Diverging blue–white–red colour for `v` in [−1, 1] (0 is white), as in
/// the usual RdBu map: negative couplings blue, positive red.
pub fn diverging(v: f32) -> Color32 {
    let v = v.clamp(-1.0, 1.0);
    // Endpoints: dark blue (33, 102, 172) and dark red (178, 24, 43).
    let (r, g, b) = if v >= 0.0 {
        (
            255.0 + (178.0 - 255.0) * v,
            255.0 + (24.0 - 255.0) * v,
            255.0 + (43.0 - 255.0) * v,
        )
    } else {
        let a = -v;
        (
            255.0 + (33.0 - 255.0) * a,
            255.0 + (102.0 - 255.0) * a,
            255.0 + (172.0 - 255.0) * a,
        )
    };
    Color32::from_rgb(r as u8, g as u8, b as u8)
}

/// Sequential colour for `v` in [0, 1]: the background colour at 0 to `ink`
/// at 1 (used for rasters, where ink marks activity).
pub fn sequential(v: f32, background: Color32, ink: Color32) -> Color32 {
    let v = v.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * v) as u8;
    Color32::from_rgb(
        mix(background.r(), ink.r()),
        mix(background.g(), ink.g()),
        mix(background.b(), ink.b()),
    )
}

/// A matrix heatmap with a symmetric diverging scale centred at 0.
///
/// Holds the texture and rebuilds it only when [`HeatmapView::set`] gets
/// new data or the threshold/scale changes; drawing is one textured quad.
pub struct HeatmapView {
    id: String,
    texture: Option<TextureHandle>,
    /// Key of the data the texture shows; a change triggers a re-upload.
    key: Option<(u64, u32, u32, u64)>,
}

/// What happened on the heatmap this frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeatmapResponse {
    /// `(row, column)` in matrix indices under the pointer.
    pub hovered: Option<(usize, usize)>,
    /// `(row, column)` clicked this frame.
    pub clicked: Option<(usize, usize)>,
    /// The matrix's screen rectangle.
    pub rect: Option<Rect>,
}

/// Inputs of one heatmap draw.
pub struct HeatmapData<'a> {
    /// The matrix (`[(i, j)]`, row i = receiving unit).
    pub matrix: &'a DMatrix<f64>,
    /// Changes whenever the matrix content changes (a generation counter).
    pub generation: u64,
    /// Display order: position p shows unit `order[p]` (rows and columns).
    pub order: &'a [usize],
    /// Label of each unit (by matrix index) for tooltips.
    pub labels: &'a [String],
    /// Colour limit: values at ±`limit` get full colour.
    pub limit: f64,
    /// Entries with |value| below this are drawn white.
    pub threshold: f64,
}

impl Default for HeatmapView {
    fn default() -> Self {
        Self::new("heatmap")
    }
}

impl HeatmapView {
    /// A heatmap whose texture is named `id` (unique per view).
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            texture: None,
            key: None,
        }
    }

    /// Draw in a square of side `size` with axis titles and a colour bar.
    pub fn ui(&mut self, ui: &mut egui::Ui, data: &HeatmapData<'_>, size: f32) -> HeatmapResponse {
        let n = data.matrix.nrows();
        let mut out = HeatmapResponse::default();
        if n == 0 || data.order.len() != n {
            ui.label("(no matrix)");
            return out;
        }
        let limit = if data.limit > 0.0 { data.limit } else { 1.0 };
        let order_hash = data.order.iter().fold(17u64, |h, &i| {
            h.wrapping_mul(1_000_003).wrapping_add(i as u64)
        });
        let key = (
            data.generation,
            (limit as f32).to_bits(),
            (data.threshold as f32).to_bits(),
            order_hash,
        );
        if self.key != Some(key) || self.texture.is_none() {
            let mut img = ColorImage::filled([n, n], Color32::WHITE);
            for (pi, &i) in data.order.iter().enumerate() {
                for (pj, &j) in data.order.iter().enumerate() {
                    let v = data.matrix[(i, j)];
                    // NaN marks a cell the view hides (e.g. not significant): grey.
                    img.pixels[pi * n + pj] = if v.is_nan() {
                        Color32::from_gray(190)
                    } else if v.abs() < data.threshold {
                        Color32::WHITE
                    } else {
                        diverging((v / limit) as f32)
                    };
                }
            }
            match &mut self.texture {
                Some(t) => t.set(img, TextureOptions::NEAREST),
                None => {
                    self.texture = Some(ui.ctx().load_texture(
                        &self.id,
                        img,
                        TextureOptions::NEAREST,
                    ))
                }
            }
            self.key = Some(key);
        }
        let Some(texture) = &self.texture else {
            return out;
        };
        ui.horizontal(|ui| {
            // y-axis title, rotated text is not available: a narrow column.
            ui.vertical(|ui| {
                ui.add_space(size / 2.0 - 20.0);
                ui.label("to i\n(t)");
            });
            ui.vertical(|ui| {
                let (rect, resp) = ui.allocate_exact_size(Vec2::splat(size), Sense::click());
                out.rect = Some(rect);
                framed_image(ui, texture, rect);
                let cell = |pos: Pos2| {
                    let x = ((pos.x - rect.left()) / rect.width() * n as f32).floor() as isize;
                    let y = ((pos.y - rect.top()) / rect.height() * n as f32).floor() as isize;
                    (x >= 0 && y >= 0 && (x as usize) < n && (y as usize) < n)
                        .then(|| (data.order[y as usize], data.order[x as usize]))
                };
                if let Some(pos) = resp.hover_pos()
                    && let Some((i, j)) = cell(pos)
                {
                    out.hovered = Some((i, j));
                    let label = |k: usize| data.labels.get(k).cloned().unwrap_or(k.to_string());
                    resp.clone().on_hover_text_at_pointer(format!(
                        "to i = {} (t), from j = {} (t−1)\nJ = {:.4}",
                        label(i),
                        label(j),
                        data.matrix[(i, j)]
                    ));
                }
                if resp.clicked()
                    && let Some(pos) = resp.interact_pointer_pos()
                {
                    out.clicked = cell(pos);
                }
                ui.label("from j (t−1)");
            });
            colorbar_ui(ui, limit, size);
        });
        out
    }
}

/// A vertical colour bar from −limit (bottom) to +limit (top).
pub fn colorbar_ui(ui: &mut egui::Ui, limit: f64, height: f32) {
    ui.vertical(|ui| {
        ui.label(format!("{limit:+.3}"));
        colour_strip(ui, height - 40.0, -1.0);
        ui.label(format!("{:+.3}", -limit));
    });
}

/// A colour bar for non-negative values drawn with the upper half of
/// [`diverging`] (0 at the bottom, `max` at the top), titled `what`.
pub fn colorbar_positive_ui(ui: &mut egui::Ui, what: &str, max: f64, height: f32) {
    ui.vertical(|ui| {
        ui.label(what);
        ui.label(format!("{max:.3}"));
        colour_strip(ui, height - 60.0, 0.0);
        ui.label("0");
    });
}

/// A 14 px wide strip of [`diverging`] from `bottom` (−1 or 0) at the
/// bottom to +1 at the top.
fn colour_strip(ui: &mut egui::Ui, height: f32, bottom: f32) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(14.0, height), Sense::hover());
    let steps = 64;
    for k in 0..steps {
        let v = 1.0 - (1.0 - bottom) * (k as f32 + 0.5) / steps as f32;
        let y0 = rect.top() + rect.height() * k as f32 / steps as f32;
        let y1 = rect.top() + rect.height() * (k + 1) as f32 / steps as f32;
        ui.painter().rect_filled(
            Rect::from_min_max(Pos2::new(rect.left(), y0), Pos2::new(rect.right(), y1)),
            0.0,
            diverging(v),
        );
    }
}

/// Symmetric colour limit: the largest |entry|, or 1 for an all-zero matrix.
pub fn symmetric_limit(m: &DMatrix<f64>) -> f64 {
    let l = m.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    if l > 0.0 { l } else { 1.0 }
}

/// Pearson correlation and R² (of y against the identity line y = x) of
/// paired values; `None` with fewer than two pairs or zero variance.
pub fn correlation_and_r2(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mx = x.iter().take(n).sum::<f64>() / n as f64;
    let my = y.iter().take(n).sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy, mut sse) = (0.0, 0.0, 0.0, 0.0);
    for k in 0..n {
        let (a, b) = (x[k] - mx, y[k] - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
        sse += (y[k] - x[k]).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx * syy).sqrt(), 1.0 - sse / syy))
}

/// Write an 8-bit RGB PNG (`rgb`: `w × h × 3` bytes, row-major). The error
/// names the file.
pub fn write_png(path: &std::path::Path, w: u32, h: u32, rgb: &[u8]) -> Result<(), String> {
    // Through the one output writer: atomic, never over an input.
    crate::io::output::write_atomic(path, |out| {
        let mut enc = png::Encoder::new(out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        writer
            .write_image_data(rgb)
            .map_err(std::io::Error::other)?;
        writer.finish().map_err(std::io::Error::other)
    })
    .map_err(|e| e.to_string())
}

/// Save a captured window image as PNG.
pub fn save_color_image(path: &std::path::Path, img: &ColorImage) -> Result<(), String> {
    let rgb: Vec<u8> = img
        .pixels
        .iter()
        .flat_map(|c| [c.r(), c.g(), c.b()])
        .collect();
    write_png(path, img.size[0] as u32, img.size[1] as u32, &rgb)
}

/// Colour of category `k` (methods, conditions): the ten-colour palette of
/// the usual plotting libraries, distinct hues readable on dark and light
/// backgrounds; repeats after eight.
pub fn categorical(k: usize) -> Color32 {
    const C: [Color32; 8] = [
        Color32::from_rgb(31, 119, 180),
        Color32::from_rgb(255, 127, 14),
        Color32::from_rgb(44, 160, 44),
        Color32::from_rgb(214, 39, 40),
        Color32::from_rgb(148, 103, 189),
        Color32::from_rgb(140, 86, 75),
        Color32::from_rgb(227, 119, 194),
        Color32::from_rgb(127, 127, 127),
    ];
    C[k % C.len()]
}

/// Paint `texture` over `rect` with a thin frame (heatmaps, rasters).
pub fn framed_image(ui: &egui::Ui, texture: &TextureHandle, rect: Rect) {
    ui.painter().image(
        texture.id(),
        rect,
        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
        Color32::WHITE,
    );
    ui.painter().rect_stroke(
        rect,
        0.0,
        egui::Stroke::new(1.0, ui.visuals().weak_text_color()),
        egui::StrokeKind::Outside,
    );
}

/// Where presentation mode is kept: app-wide UI state in egui's memory, so
/// every tab's plots can read it without plumbing (set from the View menu).
fn presentation_id() -> egui::Id {
    egui::Id::unique("isingscope_presentation_mode")
}

/// Whether presentation mode is on (large fonts, thick lines).
pub fn presentation(ctx: &egui::Context) -> bool {
    ctx.data(|d| d.get_temp::<bool>(presentation_id()))
        .unwrap_or(false)
}

/// Zoom applied to the whole UI in presentation mode: text and widgets
/// readable from the back of a lecture hall on a 1080p projector.
pub const PRESENTATION_ZOOM: f32 = 1.6;

/// Turn presentation mode on or off (zooms the whole UI).
pub fn set_presentation(ctx: &egui::Context, on: bool) {
    ctx.data_mut(|d| d.insert_temp(presentation_id(), on));
    ctx.set_zoom_factor(if on { PRESENTATION_ZOOM } else { 1.0 });
}

/// Width of plot lines (points): thick in presentation mode.
pub fn line_width(ctx: &egui::Context) -> f32 {
    if presentation(ctx) { 4.0 } else { 1.5 }
}

/// Radius of plot markers (points): large in presentation mode.
pub fn marker_radius(ctx: &egui::Context) -> f32 {
    if presentation(ctx) { 6.0 } else { 3.0 }
}

/// A plot legend that leaves the data visible: small text (body text in
/// presentation mode) on a translucent background.
pub fn legend(ctx: &egui::Context, corner: egui_plot::Corner) -> egui_plot::Legend {
    let style = if presentation(ctx) {
        egui::TextStyle::Body
    } else {
        egui::TextStyle::Small
    };
    egui_plot::Legend::default()
        .position(corner)
        .text_style(style)
        .background_alpha(0.55)
}

fn enlarged_id() -> egui::Id {
    egui::Id::unique("isingscope_enlarged_plot")
}

/// The plot shown over the whole window, if any (its `id` as given to
/// [`enlargeable`]).
pub fn enlarged(ctx: &egui::Context) -> Option<String> {
    ctx.data(|d| d.get_temp::<Option<String>>(enlarged_id()))
        .flatten()
}

/// Show `id`'s plot over the whole window (None: back to the tab).
pub fn set_enlarged(ctx: &egui::Context, id: Option<&str>) {
    ctx.data_mut(|d| d.insert_temp(enlarged_id(), id.map(str::to_owned)));
}

/// A plot with a title line and an "Enlarge" button. `draw` paints the plot
/// into the size it is given: `size` in the tab, or the whole window when
/// the plot is enlarged (drawn on a foreground layer over the tab; Esc or
/// "Close" returns). Any tab can wrap any plot this way.
pub fn enlargeable(
    ui: &mut egui::Ui,
    id: &str,
    title: &str,
    size: Vec2,
    draw: impl FnOnce(&mut egui::Ui, Vec2),
) {
    let ctx = ui.ctx().clone();
    let mine = enlarged(&ctx).as_deref() == Some(id);
    ui.horizontal_wrapped(|ui| {
        ui.label(title);
        if !mine
            && ui
                .small_button("Enlarge")
                .on_hover_text("enlarge to the whole window")
                .clicked()
        {
            set_enlarged(&ctx, Some(id));
        }
    });
    if !mine {
        draw(ui, size);
        return;
    }
    // Keep the tab's layout: an empty frame where the plot was.
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    ui.painter()
        .rect_filled(rect, 4.0, ui.visuals().faint_bg_color);
    let screen = ctx.content_rect();
    let close = ctx.input(|i| i.key_pressed(egui::Key::Escape));
    egui::Area::new(egui::Id::unique(("enlarged_plot", id)))
        .order(egui::Order::Foreground)
        .fixed_pos(screen.min)
        .show(&ctx, |ui| {
            ui.painter()
                .rect_filled(screen, 0.0, ui.visuals().window_fill);
            ui.set_min_size(screen.size());
            ui.set_max_size(screen.size());
            let mut closed = close;
            ui.horizontal(|ui| {
                ui.add_space(8.0);
                ui.heading(title);
                if ui.button("Close (Esc)").clicked() {
                    closed = true;
                }
            });
            let avail = ui.available_size() - Vec2::new(16.0, 16.0);
            ui.horizontal(|ui| {
                ui.add_space(8.0);
                draw(ui, avail.max(Vec2::new(100.0, 100.0)));
            });
            if closed {
                set_enlarged(&ctx, None);
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_is_white_at_zero_and_saturates() {
        assert_eq!(diverging(0.0), Color32::WHITE);
        assert_eq!(diverging(1.0), Color32::from_rgb(178, 24, 43));
        assert_eq!(diverging(-5.0), Color32::from_rgb(33, 102, 172));
    }

    #[test]
    fn correlation_of_identical_data_is_one() {
        let x = [1.0, 2.0, 4.0];
        let (r, r2) = correlation_and_r2(&x, &x).unwrap();
        assert!((r - 1.0).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        let y = [-1.0, -2.0, -4.0];
        assert!((correlation_and_r2(&x, &y).unwrap().0 + 1.0).abs() < 1e-12);
    }
}

/// Grid marks at 1, 2 and 5 × 10^k (egui_plot's default steps by powers
/// of ten, which leaves a short plot with one or two tick labels): the
/// finest step is the first such value at least `input.base_step_size`
/// (the value span of the plot's minimum grid spacing), then the next two.
/// A tick label with as many decimals as its grid step needs, so
/// neighbouring ticks never read alike (−0.645 and −0.655 both shown as
/// "−0.65" by a fixed two-decimal format).
pub fn tick_label(mark: egui_plot::GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let step = mark.step_size.abs();
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10().floor()).clamp(0.0, 12.0) as usize
    } else {
        3
    };
    // Trailing zeros dropped: a value on a coarse and a fine grid level
    // prints the same either way (no doubled, offset labels).
    let text = format!("{:.*}", decimals, mark.value);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".to_string() } else { text }
}

pub fn nice_grid_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let base = input.base_step_size.abs();
    if !(base.is_finite() && base > 0.0) {
        return Vec::new();
    }
    let ladder = |k: i32| -> f64 {
        let decade = 10f64.powi(k.div_euclid(3));
        decade * [1.0, 2.0, 5.0][k.rem_euclid(3) as usize]
    };
    let mut k = 3 * base.log10().floor() as i32;
    while ladder(k) < base {
        k += 1;
    }
    let (lo, hi) = input.bounds;
    let mut marks = Vec::new();
    // Five nested levels, each the smallest 1-2-5 step that is a whole
    // multiple of the one before (e.g. 2, 10, 20, 100, 200): egui_plot
    // labels the x axis only where same-level marks are 60 points apart, so
    // on a narrow plot only a coarse level carries labels (with the three
    // levels 2, 5, 10 a 380-point plot of 0–80 had none, and the base-10
    // default labelled only 0); nesting keeps the labels of two levels on
    // one grid (2, 5, 10, 20, 50 labelled 40, 50, 60).
    let mut levels = vec![k];
    while levels.len() < 5 {
        let last = levels[levels.len() - 1];
        let prev = ladder(last);
        let mut next = last + 1;
        while {
            let r = ladder(next) / prev;
            (r - r.round()).abs() > 1e-9
        } {
            next += 1;
        }
        levels.push(next);
    }
    for step in levels.into_iter().map(ladder) {
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        if last - first > 1000 {
            continue;
        }
        for m in first..=last {
            marks.push(egui_plot::GridMark {
                value: m as f64 * step,
                step_size: step,
            });
        }
    }
    marks
}

#[cfg(test)]
mod grid_tests {
    use super::nice_grid_marks;

    #[test]
    fn grid_marks_step_by_one_two_five() {
        // A span of 0.52–0.53 where the minimum spacing covers 0.0007:
        // nested steps 0.001, 0.002, 0.01, 0.02 (powers of ten alone
        // would give 0.001, 0.01, 0.1: labels only at 0.01).
        let marks = nice_grid_marks(egui_plot::GridInput {
            bounds: (0.52, 0.53),
            base_step_size: 0.0007,
        });
        let mut steps: Vec<f64> = marks.iter().map(|m| m.step_size).collect();
        steps.dedup();
        // (0.1, the fifth level, has no multiple inside 0.52–0.53.)
        assert_eq!(steps.len(), 4);
        for (s, want) in steps.iter().zip([0.001, 0.002, 0.01, 0.02]) {
            assert!((s / want - 1.0).abs() < 1e-12, "{s} vs {want}");
        }
        // Every mark is a multiple of its step inside the bounds.
        for m in &marks {
            assert!((0.52 - 1e-12..=0.53 + 1e-12).contains(&m.value));
            let k = m.value / m.step_size;
            assert!((k - k.round()).abs() < 1e-9);
        }
        // 0.520, 0.521, …, 0.530 at the finest step.
        assert_eq!(marks.iter().filter(|m| m.step_size < 0.0015).count(), 11);
    }

    /// A 380-point plot of 0–80 (the State space per-bin plots): some
    /// level's marks are at least 60 points apart, the spacing egui_plot
    /// needs to label the x axis, and it has several labels.
    #[test]
    fn a_narrow_plot_gets_a_labelled_level() {
        let (width, span) = (380.0, 80.0);
        // egui_plot's base step: the data span of its minimum grid spacing.
        let marks = nice_grid_marks(egui_plot::GridInput {
            bounds: (0.0, span),
            base_step_size: 6.0 * span / width,
        });
        let labelled: Vec<f64> = marks
            .iter()
            .filter(|m| m.step_size * width / span >= 60.0)
            .map(|m| m.value)
            .collect();
        assert!(labelled.len() >= 3, "{labelled:?}");
        // Nested: every labelled value lies on the finest labelled level.
        let finest = marks
            .iter()
            .filter(|m| m.step_size * width / span >= 60.0)
            .map(|m| m.step_size)
            .fold(f64::INFINITY, f64::min);
        for v in labelled {
            let r = v / finest;
            assert!((r - r.round()).abs() < 1e-9, "{v} off the {finest} grid");
        }
    }
}
