//! GUI test of the unit table (issue 15, item 6): the rate and the spike
//! count come from the spike times before binning, and the active-bin
//! fraction is its own column.
#![cfg(feature = "gui")]

use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use isingscope::app::{IsingScopeApp, Startup};

mod gui_common;
use gui_common::wait_while;

#[test]
fn the_unit_table_counts_spikes_before_binning() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("spikes.csv");
    // Unit 7: five spikes, three of them in the first 10 ms bin (they
    // merge into one active bin). Unit 9: two spikes, the last at 0.995 s.
    std::fs::write(
        &csv,
        "unit,time\n7,0.001\n7,0.002\n7,0.003\n7,0.5\n7,0.8\n9,0.25\n9,0.995\n",
    )
    .unwrap();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| IsingScopeApp::new(cc, Startup::File(csv)));
    wait_while(&mut h, Duration::from_secs(30), "load", |a| a.busy());
    let ds = h.state().model().dataset.as_ref().expect("loaded");
    let (r, t, _) = ds.raster.shape();
    let seconds = (r * t) as f64 * ds.bin_seconds;
    let u = ds.units.iter().find(|u| u.id == "7").expect("unit 7");
    // 5 spikes, 3 active bins (0.001–0.003 share a bin), over R·T·w seconds.
    assert_eq!((u.spikes, u.active_bins), (5, 3));
    assert_eq!(u.rate_hz, 5.0 / seconds);
    assert_eq!(u.active_fraction, 3.0 / (r * t) as f64);
    let (rate, frac) = (
        format!("{:.2}", u.rate_hz),
        format!("{:.2} %", 100.0 * u.active_fraction),
    );
    // On screen: the spikes and active-bin columns and the true rate.
    h.get_by_label("active bins");
    h.get_by_label(&rate);
    h.get_by_label(&frac);
    h.get_by_label("5");
}

#[test]
fn browse_falls_back_to_the_in_app_picker() {
    // As where no native dialog exists: the app's own picker.
    // SAFETY: set before the app starts; no other test in this binary
    // reads the environment.
    unsafe { std::env::set_var("ISINGSCOPE_FILE_PICKER", "builtin") };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub").join("notes.txt"), "not data").unwrap();
    std::fs::write(
        dir.path().join("spikes.csv"),
        "unit,time\n1,0.01\n1,0.2\n2,0.3\n",
    )
    .unwrap();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(|cc| IsingScopeApp::new(cc, Startup::Empty));
    h.step();
    let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "File or folder:");
    field.focus();
    field.type_text(&format!("{}/", dir.path().display()));
    h.step();
    h.get_by_label("Browse…").click();
    h.run_steps(3);
    h.get_by_label_contains("The built-in file picker");
    // Folders first; files the loaders do not read are not listed.
    h.get_by_label("sub/").click();
    h.run_steps(2);
    h.get_by_label("(no folders or data files here)");
    h.get_by_label("Up").click();
    h.run_steps(2);
    h.get_by_label("spikes.csv").click();
    h.run_steps(2);
    wait_while(&mut h, Duration::from_secs(30), "load", |a| a.busy());
    let ds = h.state().model().dataset.as_ref().expect("loaded");
    assert_eq!(ds.raster.n_units(), 2);
    assert!(ds.source.as_ref().unwrap().ends_with("spikes.csv"));
    assert!(h.state().data().picker.is_none(), "the picker closed");
}
