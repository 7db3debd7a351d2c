//! Helpers shared by the GUI tests (egui_kittest, headless): open the app on
//! a tab, set numeric fields by label, and step frames while background work
//! runs.
#![allow(dead_code)] // each test file uses a subset

use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use isingscope::app::{IsingScopeApp, Startup};

/// The app with no dataset, `width × height` logical pixels, on `tab`.
pub fn app_on_tab(tab: &str, width: f32, height: f32) -> Harness<'static, IsingScopeApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(width, height))
        .build_eframe(|cc| IsingScopeApp::new(cc, Startup::Empty));
    h.step();
    h.get_by_label(tab).click();
    h.run_steps(3);
    h
}

/// Type each value into the numeric field (spin button) with that label.
pub fn set_fields(h: &mut Harness<'static, IsingScopeApp>, fields: &[(&str, f64)]) {
    for &(label, v) in fields {
        h.get_by_role_and_label(Role::SpinButton, label)
            .set_value_accesskit(v);
        h.run_steps(1);
    }
}

/// Step frames while `busy` holds, failing with `what` after `limit`; one
/// more frame after it ends so the UI shows the result.
pub fn wait_while(
    h: &mut Harness<'static, IsingScopeApp>,
    limit: Duration,
    what: &str,
    busy: impl Fn(&IsingScopeApp) -> bool,
) {
    let start = Instant::now();
    h.step();
    while busy(h.state()) {
        assert!(
            start.elapsed() < limit,
            "{what} did not finish in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
    h.step();
}

/// Step frames at ~60 Hz for `d` of wall time; returns the frame count.
pub fn run_for(h: &mut Harness<'static, IsingScopeApp>, d: Duration) -> u64 {
    let start = Instant::now();
    let mut frames = 0;
    while start.elapsed() < d {
        h.step();
        frames += 1;
        std::thread::sleep(Duration::from_millis(16));
    }
    frames
}
