//! GUI tests of the stale-text rules (issue 15, item 5): what is on screen
//! belongs to the current state or says it is from before.
#![cfg(feature = "gui")]

use std::path::Path;
use std::time::Duration;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use isingscope::app::{IsingScopeApp, Startup};
use isingscope::spikes::SpikeRaster;

mod gui_common;
use gui_common::{app_on_tab, set_fields, wait_while};

fn write_raster(path: &Path, bins: usize, units: usize) {
    let x: Vec<u8> = (0..bins * units)
        .map(|k| ((k * 37 + k / 13) % 11 < 3) as u8)
        .collect();
    let r = SpikeRaster::from_binary(1, bins, units, &x).unwrap();
    isingscope::io::npy::write_raster(path, &r).unwrap();
}

fn wait_idle(h: &mut Harness<'static, IsingScopeApp>) {
    wait_while(h, Duration::from_secs(180), "the job", |a| a.busy());
}

fn set_text(h: &mut Harness<'static, IsingScopeApp>, label: &str, text: &str) {
    h.get_by_role_and_label(Role::TextInput, label).focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    h.step();
}

#[test]
fn the_fit_tab_marks_the_previous_fit_and_drops_old_export_messages() {
    let dir = tempfile::tempdir().unwrap();
    // 40 units × 20,000 bins: an ML fit takes many frames.
    let data = dir.path().join("big.npy");
    write_raster(&data, 20_000, 40);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe({
            let data = data.clone();
            move |cc| {
                let mut app = IsingScopeApp::new(cc, Startup::File(data));
                app.fit_after_load = true;
                app
            }
        });
    wait_idle(&mut h);
    h.get_by_role_and_label(Role::Button, "Fit").click();
    h.run_steps(2);
    set_text(
        &mut h,
        "Export folder:",
        dir.path().join("out").to_str().unwrap(),
    );
    h.get_by_label("Export J and H (CSV, NPY) with units.csv")
        .click();
    h.run_steps(2);
    h.get_by_label_contains("Wrote J.csv");
    assert!(h.query_by_label_contains("A new fit is running").is_none());

    // During a new fit, the shown results say they are the previous fit's.
    h.get_by_label("Run fit").click();
    h.run_steps(2);
    assert!(h.state().busy(), "the second fit runs");
    h.get_by_label_contains("A new fit is running: everything below is from the previous fit");
    h.get_by_label("Convergence of the running fit (objective so far)");
    wait_idle(&mut h);
    h.run_steps(2);
    // The finished fit replaced the one exported: its message is gone.
    assert!(h.query_by_label_contains("A new fit is running").is_none());
    assert!(h.query_by_label_contains("Wrote J.csv").is_none());

    // Export again, then load a new dataset: the message goes with it.
    h.get_by_label("Export J and H (CSV, NPY) with units.csv")
        .click();
    h.run_steps(2);
    h.get_by_label_contains("Wrote J.csv");
    let small = dir.path().join("small.npy");
    write_raster(&small, 300, 5);
    h.get_by_role_and_label(Role::Button, "Data").click();
    h.run_steps(2);
    set_text(&mut h, "File or folder:", small.to_str().unwrap());
    h.get_by_label("Load").click();
    wait_idle(&mut h);
    h.get_by_role_and_label(Role::Button, "Fit").click();
    h.run_steps(2);
    h.get_by_label("Run fit").click();
    wait_idle(&mut h);
    h.run_steps(2);
    assert_eq!(
        h.state()
            .model()
            .dataset
            .as_ref()
            .map(|d| d.raster.n_units()),
        Some(5)
    );
    assert!(h.query_by_label_contains("Wrote J.csv").is_none());
}

#[test]
fn em_finished_is_cleared_when_a_new_em_run_starts() {
    let mut h = app_on_tab("State space", 1280.0, 900.0);
    set_fields(
        &mut h,
        &[
            ("neurons", 6.0),
            ("transitions", 60.0),
            ("trials", 200.0),
            ("EM iterations", 40.0),
        ],
    );
    h.get_by_label("Run EM").click();
    wait_while(&mut h, Duration::from_secs(120), "EM", |a| {
        a.state_space().busy()
    });
    h.get_by_label_contains("EM finished");
    h.get_by_label("Run EM").click();
    h.step();
    assert!(h.state().state_space().busy(), "the second run is going");
    assert!(
        h.query_by_label_contains("EM finished").is_none(),
        "the first run's summary is gone while the second runs"
    );
    wait_while(&mut h, Duration::from_secs(120), "EM", |a| {
        a.state_space().busy()
    });
    h.get_by_label_contains("EM finished");
}

#[test]
fn the_sweep_says_it_is_stale_after_the_parameters_change() {
    let mut h = app_on_tab("Phase lab", 1280.0, 800.0);
    set_fields(&mut h, &[("points", 2.0), ("networks", 2.0)]);
    h.get_by_role_and_label(Role::Slider, "N")
        .set_value_accesskit(64.0);
    h.run_steps(2);
    h.get_by_label("Run sweep").click();
    h.run_steps(2);
    assert!(!h.state().phase_lab().sweep_is_stale());
    assert!(h.query_by_label_contains("Stale: this sweep").is_none());
    // β is the swept parameter: its slider does not make the sweep stale.
    h.get_by_role_and_label(Role::Slider, "β")
        .set_value_accesskit(1.5);
    h.run_steps(2);
    assert!(!h.state().phase_lab().sweep_is_stale());
    // J0 is held fixed by the sweep: changing it does.
    h.get_by_role_and_label(Role::Slider, "J0")
        .set_value_accesskit(1.7);
    h.run_steps(2);
    assert!(h.state().phase_lab().sweep_is_stale());
    h.get_by_label_contains("Stale: this sweep was run with N = 64, J0 = 1,");
}
