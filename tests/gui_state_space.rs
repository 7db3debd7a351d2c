//! GUI tests of the State space tab, driven by widget labels.
#![cfg(feature = "gui")]

use std::time::Duration;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use isingscope::app::IsingScopeApp;

mod gui_common;
use gui_common::{app_on_tab, set_fields, wait_while};

fn fitted() -> Harness<'static, IsingScopeApp> {
    let mut h = app_on_tab("State space", 1280.0, 900.0);
    // A small synthetic trial dataset (seeded), 30 EM iterations.
    set_fields(
        &mut h,
        &[
            ("neurons", 5.0),
            ("transitions", 40.0),
            ("trials", 100.0),
            ("EM iterations", 30.0),
        ],
    );
    h.get_by_label("Run EM").click();
    wait_while(&mut h, Duration::from_secs(120), "EM", |a| {
        a.state_space().busy()
    });
    h.run_steps(2);
    h
}

#[test]
fn em_runs_to_completion_with_a_rising_evidence() {
    let h = fitted();
    let o = h.state().state_space().outcome().expect("a fit");
    let ev = &o.result.info.objective;
    assert_eq!(ev.len(), 30);
    // EM does not decrease the evidence (up to Laplace noise of ~1e-6 relative).
    for w in ev.windows(2) {
        assert!(
            w[1] >= w[0] - 1e-6 * w[0].abs(),
            "evidence fell: {} -> {}",
            w[0],
            w[1]
        );
    }
    assert!(o.truth.is_some());
    h.get_by_label("Estimated J(t) (smoothed)");
    h.get_by_label("True J(t)");
}

#[test]
fn play_advances_the_bin() {
    let mut h = fitted();
    assert_eq!(h.state().state_space().bin, 0);
    h.get_by_label("Play").click();
    for _ in 0..30 {
        h.step();
        std::thread::sleep(Duration::from_millis(16));
    }
    assert!(h.state().state_space().bin > 0, "the animation advanced");
    h.get_by_label("Pause").click();
    h.step();
    let b = h.state().state_space().bin;
    for _ in 0..10 {
        h.step();
    }
    assert_eq!(h.state().state_space().bin, b, "paused");
}

#[test]
fn the_scrubbed_heatmap_shows_the_estimate_and_a_click_plots_the_cell() {
    let mut h = fitted();
    h.get_by_role_and_label(Role::Slider, "bin")
        .set_value_accesskit(17.0);
    h.run_steps(2);
    assert_eq!(h.state().state_space().bin, 17);
    // Hover the centre of cell (row 2, column 3) of the 5 × 5 estimate.
    let (i, j) = (2usize, 3usize);
    let heat = heatmap_rect(&h);
    let pos = egui::pos2(
        heat.left() + heat.width() * (j as f32 + 0.5) / 5.0,
        heat.top() + heat.height() * (i as f32 + 0.5) / 5.0,
    );
    h.hover_at(pos);
    h.run_steps(2);
    let expected = h
        .state()
        .state_space()
        .outcome()
        .unwrap()
        .result
        .theta_smoothed
        .j(17, i, j);
    let (hi, hj, v) = h.state().state_space().hovered.expect("a hovered cell");
    assert_eq!((hi, hj), (i, j));
    assert_eq!(v, expected);
    // The read-out the user sees says the same.
    let node = h.get_by_label_contains("hovered: J[to 2, from 3] at bin 17");
    let an = node.accesskit_node();
    let text = an
        .label()
        .filter(|l| !l.is_empty())
        .or_else(|| an.value())
        .unwrap_or_default();
    assert!(text.contains(&format!("{expected:.6}")), "{text}");
    // Click the cell: its time series appears.
    h.drag_at(pos);
    h.drop_at(pos);
    h.run_steps(2);
    assert_eq!(h.state().state_space().selected, Some((i, j)));
    h.get_by_label_contains("J[to 2, from 3](t) of the clicked cell");
}

/// The estimated heatmap's rectangle (published by the app for tests).
fn heatmap_rect(h: &Harness<'static, IsingScopeApp>) -> egui::Rect {
    h.state()
        .state_space()
        .heatmap_rect
        .expect("the heatmap was drawn")
}

#[test]
fn a_long_em_run_shows_its_estimate_and_cancel_keeps_the_previous_result() {
    let mut h = fitted();
    let before = h
        .state()
        .state_space()
        .outcome()
        .unwrap()
        .result
        .info
        .objective
        .clone();
    // A problem far too large to finish during the test.
    set_fields(
        &mut h,
        &[
            ("neurons", 40.0),
            ("transitions", 400.0),
            ("trials", 400.0),
            ("EM iterations", 500.0),
        ],
    );
    h.get_by_label("Run EM").click();
    h.step();
    h.get_by_label_contains("elapsed 0:0");
    wait_while(&mut h, Duration::from_secs(60), "the estimate", |a| {
        a.state_space().estimate.is_none()
    });
    let e = h.state().state_space().estimate.unwrap();
    assert_eq!((e.neurons, e.max_iter), (40, 500));
    assert!(e.seconds_per_e_step > 0.0);
    // The whole-run figure is waves of parallel neurons × E-steps × the
    // measured E-step time.
    let waves = 40usize.div_ceil(e.threads) as f64;
    assert_eq!(e.total_seconds(), waves * 500.0 * e.seconds_per_e_step);
    h.get_by_label_contains("estimated at most");
    h.get_by_label_contains("remaining");
    assert!(h.state().state_space().busy());

    h.get_by_label("Cancel EM").click();
    wait_while(&mut h, Duration::from_secs(120), "cancel", |a| {
        a.state_space().busy()
    });
    let after = &h.state().state_space().outcome().expect("kept").result;
    assert_eq!(after.info.objective, before, "the previous fit is kept");
    assert_eq!(after.n_units(), 5);
    h.get_by_label("EM cancelled: the previous result is kept.");
    h.get_by_label("Estimated J(t) (smoothed)");
}

#[test]
fn exported_frames_are_large_with_colour_bar_and_time_stamp() {
    let mut h = fitted();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frames");
    let field = h.get_by_role_and_label(Role::TextInput, "Export folder:");
    field.focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role_and_label(Role::TextInput, "Export folder:")
        .type_text(out.to_str().unwrap());
    h.step();
    h.get_by_label("Export frames and CSV").click();
    h.run_steps(2);
    // The confirmation sits on the button's row.
    let button = h.get_by_label("Export frames and CSV").rect();
    let note = h
        .get_by_label_contains("PNG frames and theta.csv to")
        .rect();
    assert!(
        (note.center().y - button.center().y).abs() < button.height(),
        "confirmation at {note:?}, button at {button:?}"
    );

    let o = h.state().state_space().outcome().unwrap();
    let theta = &o.result.theta_smoothed;
    let bin = 3;
    let file = std::fs::File::open(out.join(format!("frame_{bin:05}.png"))).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, hh) = (info.width as usize, info.height as usize);
    let px = |x: usize, y: usize| {
        let k = (y * w + x) * 3;
        [buf[k], buf[k + 1], buf[k + 2]]
    };
    // The layout of render_frame: a 40 px time-stamp band, then the
    // heatmap (5 units: 103 px per unit, 515 px ≥ 512), a 16 px gap and
    // the 24 px colour bar.
    let (top, scale) = (40, 512usize.div_ceil(5));
    let side = 5 * scale;
    assert!(side >= 512 && w > side && hh > side, "{w} × {hh}");
    // The heatmap cell (to 2, from 4) has the animation's colour of J.
    let limit = (0..theta.n_steps())
        .flat_map(|t| (0..5).flat_map(move |i| (0..5).map(move |k| (t, i, k))))
        .map(|(t, i, k)| theta.j(t, i, k).abs())
        .fold(0.0, f64::max);
    let c = isingscope::app::plots::diverging((theta.j(bin, 2, 4) / limit) as f32);
    assert_eq!(
        px(4 * scale + scale / 2, top + 2 * scale + scale / 2),
        [c.r(), c.g(), c.b()]
    );
    // The colour bar runs from +limit (top) to −limit (bottom).
    let bar_x = side + 16 + 12;
    let (hi, lo) = (
        isingscope::app::plots::diverging(1.0),
        isingscope::app::plots::diverging(-1.0),
    );
    assert_eq!(px(bar_x, top), [hi.r(), hi.g(), hi.b()]);
    assert_eq!(px(bar_x, top + side - 1), [lo.r(), lo.g(), lo.b()]);
    // The time stamp is drawn (black pixels in the band above the heatmap).
    let inked = (0..top)
        .flat_map(|y| (0..side).map(move |x| (x, y)))
        .filter(|&(x, y)| px(x, y) == [0, 0, 0])
        .count();
    assert!(inked > 100, "{inked} black pixels in the time-stamp band");
}
