//! GUI tests of layout at the smallest supported window (900 × 600): every
//! tab's last widget can be brought into view with the mouse wheel (issue
//! 15, item 1), with a dataset loaded and fitted so the tabs are full.
#![cfg(feature = "gui")]

use std::path::Path;
use std::time::Duration;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use isingscope::app::{IsingScopeApp, Startup};
use isingscope::spikes::SpikeRaster;

mod gui_common;
use gui_common::{set_fields, wait_while};

const W: f32 = 900.0;
const H: f32 = 600.0;

fn write_raster(path: &Path, bins: usize, units: usize) {
    let x: Vec<u8> = (0..bins * units)
        .map(|k| ((k * 37) % 11 < 3) as u8)
        .collect();
    let r = SpikeRaster::from_binary(1, bins, units, &x).unwrap();
    isingscope::io::npy::write_raster(path, &r).unwrap();
}

/// The app at 900 × 600 with a 12-unit raster loaded and fitted (ML, with
/// its model check), so the Data, Raster, Couplings and Fit tabs are full.
fn fitted_app(dir: &Path) -> Harness<'static, IsingScopeApp> {
    let data = dir.join("data.npy");
    write_raster(&data, 400, 12);
    let mut h = Harness::builder()
        .with_size(egui::vec2(W, H))
        .build_eframe(move |cc| {
            let mut app = IsingScopeApp::new(cc, Startup::File(data));
            app.fit_after_load = true;
            app
        });
    wait_while(&mut h, Duration::from_secs(120), "load and fit", |a| {
        a.busy()
    });
    assert!(h.state().model().fit.is_some(), "the start-up fit ran");
    h
}

/// Turn the mouse wheel down (`notches` × 100 points) with the pointer
/// at `at`, letting egui's smooth scrolling settle.
fn wheel_down(h: &mut Harness<'static, IsingScopeApp>, at: egui::Pos2, notches: usize) {
    h.hover_at(at);
    h.step();
    for _ in 0..notches {
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -100.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::NONE,
        });
        h.step();
    }
    h.run_steps(30);
}

/// The point just above the bottom of the tab's scrolled body (below any
/// zoomable raster, which takes the wheel for itself).
fn low_in_body(h: &Harness<'static, IsingScopeApp>) -> egui::Pos2 {
    let vp = h.state().tab_viewport.expect("the tab body scrolls");
    egui::pos2(vp.rect.center().x, vp.rect.bottom() - 12.0)
}

/// Scroll the current tab to its bottom and check the whole body was
/// reached: the visible part ends where the laid-out content ends (to
/// within one point of rounding).
fn assert_bottom_reachable(h: &mut Harness<'static, IsingScopeApp>, tab: &str) {
    let at = low_in_body(h);
    wheel_down(h, at, 40);
    let vp = h.state().tab_viewport.expect("the tab body scrolls");
    assert!(
        vp.offset + vp.rect.height() >= vp.content_height - 1.0,
        "{tab}: scrolled to {} + {} of {} points",
        vp.offset,
        vp.rect.height(),
        vp.content_height
    );
}

/// The widget labelled `label` (the lowest if several) lies inside the
/// tab's visible body (1 point of rounding).
fn assert_visible(h: &Harness<'static, IsingScopeApp>, label: &str, inside: egui::Rect) {
    let r = h
        .get_all_by_label_contains(label)
        .map(|n| n.rect())
        .max_by(|a, b| a.bottom().total_cmp(&b.bottom()))
        .unwrap();
    assert!(
        inside.expand(1.0).contains_rect(r),
        "{label:?} at {r:?} is outside the visible {inside:?}"
    );
}

fn show(h: &mut Harness<'static, IsingScopeApp>, tab: &str) {
    h.get_by_role_and_label(Role::Button, tab).click();
    h.run_steps(3);
}

#[test]
fn every_data_tab_scrolls_to_its_last_widget_at_900_by_600() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = fitted_app(dir.path());

    // Data: the unit table's last row (unit 11, table sorted by column).
    show(&mut h, "Data");
    assert_bottom_reachable(&mut h, "Data");
    let at = low_in_body(&h);
    wheel_down(&mut h, at, 20);
    let vp = h.state().tab_viewport.unwrap();
    let last_id = h.state().model().dataset.as_ref().unwrap().units[11]
        .id
        .clone();
    assert_visible(&h, &last_id, vp.rect);

    show(&mut h, "Raster");
    assert_bottom_reachable(&mut h, "Raster");

    show(&mut h, "Couplings");
    assert_bottom_reachable(&mut h, "Couplings");

    // Fit: the model check (its caption and moment plots) is last.
    show(&mut h, "Fit");
    assert_bottom_reachable(&mut h, "Fit");
    let vp = h.state().tab_viewport.unwrap();
    assert_visible(&h, "m_i: mean spin", vp.rect);
}

#[test]
fn the_state_space_export_stays_reachable_after_clicking_a_cell() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(W, H))
        .build_eframe(|cc| IsingScopeApp::new(cc, Startup::Empty));
    h.step();
    show(&mut h, "State space");
    set_fields(
        &mut h,
        &[
            ("neurons", 4.0),
            ("transitions", 30.0),
            ("trials", 60.0),
            ("EM iterations", 10.0),
        ],
    );
    h.get_by_label("Run EM").click();
    wait_while(&mut h, Duration::from_secs(120), "EM", |a| {
        a.state_space().busy()
    });
    h.run_steps(2);
    // Click cell (1, 2) of the estimate: the J_ij(t) plot is added below.
    let heat = h.state().state_space().heatmap_rect.expect("heatmap drawn");
    let pos = egui::pos2(
        heat.left() + heat.width() * 2.5 / 4.0,
        heat.top() + heat.height() * 1.5 / 4.0,
    );
    h.drag_at(pos);
    h.drop_at(pos);
    h.run_steps(3);
    assert_eq!(h.state().state_space().selected, Some((1, 2)));
    // At 900 × 600 the export row is below the fold until scrolled.
    let vp = h.state().tab_viewport.unwrap();
    let export = h.get_by_label("Export frames and CSV").rect();
    assert!(
        export.bottom() > vp.rect.bottom(),
        "the test needs a page taller than the window"
    );
    assert_bottom_reachable(&mut h, "State space");
    let vp = h.state().tab_viewport.unwrap();
    assert_visible(&h, "Export frames and CSV", vp.rect);
}

#[test]
fn the_labs_fit_the_smallest_window() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(W, H))
        .build_eframe(|cc| IsingScopeApp::new(cc, Startup::Empty));
    h.step();
    // The phase lab's controls panel: its last control is on screen or
    // reachable by the wheel over the panel.
    show(&mut h, "Phase lab");
    let panel_point = egui::pos2(100.0, H - 60.0);
    wheel_down(&mut h, panel_point, 20);
    let status_top = h.get_by_label("No dataset loaded").rect().top();
    let window = egui::Rect::from_min_max(egui::Pos2::ZERO, egui::pos2(W, status_top));
    assert_visible(&h, "Run sweep", window);
    // Its views scroll to the sweep plot's caption.
    wheel_down(&mut h, egui::pos2(W - 120.0, H - 60.0), 40);
    assert_visible(&h, "Sweep: simulated |m|", window);

    show(&mut h, "Mean-field lab");
    wheel_down(&mut h, egui::pos2(W / 2.0, H - 60.0), 40);
    assert_visible(&h, "Run a sweep to compare", window);
}

/// The text node (role Label) whose text is `text`.
fn label_rect(h: &Harness<'static, IsingScopeApp>, text: &str) -> egui::Rect {
    h.get(
        egui_kittest::kittest::by()
            .include_labels()
            .role(Role::Label)
            .label(text),
    )
    .rect()
}

#[test]
fn the_fit_toolbar_labels_come_first_and_the_run_button_stays_put() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = fitted_app(dir.path());
    show(&mut h, "Fit");
    let combo = h.get_by_label("fit method").rect();
    let slider = h.get_by_role_and_label(Role::Slider, "L2 penalty");
    assert!(label_rect(&h, "fit method").right() <= combo.left());
    assert!(label_rect(&h, "L2 penalty").right() <= slider.rect().left());
    assert!(!slider.accesskit_node().is_disabled(), "L2 applies to ML");
    let run = h.get_by_label("Run fit").rect();

    // A mean-field method: the L2 slider is disabled, nothing moved.
    h.get_by_label("fit method").click();
    h.run_steps(2);
    h.get_by_label("Plefka[t-1,t] order 2 (TAP) moment matching")
        .click();
    h.run_steps(3);
    let slider = h.get_by_role_and_label(Role::Slider, "L2 penalty");
    assert!(
        slider.accesskit_node().is_disabled(),
        "no L2 in moment matching"
    );
    assert_eq!(h.get_by_label("Run fit").rect(), run);
    assert_eq!(h.get_by_label("fit method").rect(), combo);
}

/// The tooltip whose text contains `text`, after the tooltip delay.
fn tooltip_rect(h: &mut Harness<'static, IsingScopeApp>, text: &str) -> egui::Rect {
    for _ in 0..60 {
        if h.query_all_by_label_contains(text).count() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(16));
        h.step();
    }
    // The widget itself may carry the text too (as its description): the
    // tooltip is the smallest node that shows it.
    h.get_all_by_label_contains(text)
        .map(|n| n.rect())
        .min_by(|a, b| a.area().total_cmp(&b.area()))
        .unwrap()
}

/// A tooltip "at the cursor": its top-left corner within 40 points of the
/// pointer (egui offsets it a little so the pointer does not cover it).
fn assert_near(tip: egui::Rect, pointer: egui::Pos2, what: &str) {
    let d = tip.left_top() - pointer;
    assert!(
        d.x.abs() <= 40.0 && d.y.abs() <= 40.0,
        "{what}: tooltip at {tip:?}, pointer at {pointer:?}"
    );
}

#[test]
fn hover_read_outs_appear_at_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = fitted_app(dir.path());
    // The coupling heatmap: a cell in the upper right (far from the
    // heatmap's bottom-left corner, where egui puts a widget's tooltip).
    show(&mut h, "Couplings");
    let rect = h
        .state()
        .couplings()
        .heatmap_rect
        .expect("the heatmap was drawn");
    let pos = egui::pos2(
        rect.left() + rect.width() * 0.8,
        rect.top() + rect.height() * 0.2,
    );
    h.hover_at(pos);
    let tip = tooltip_rect(&mut h, "from j = ");
    assert_near(tip, pos, "heatmap");

    // The raster: a point in its upper middle.
    show(&mut h, "Raster");
    let raster = h
        .state_mut()
        .raster_mut()
        .rect
        .expect("the raster was drawn");
    let pos = egui::pos2(raster.center().x, raster.top() + 20.0);
    h.hover_at(pos);
    let tip = tooltip_rect(&mut h, "(unlabelled) at ");
    assert_near(tip, pos, "raster");
}
