//! GUI tests: drive the app through its widgets' labels with egui_kittest,
//! headless (no display, no GPU).
#![cfg(feature = "gui")]

use std::path::Path;
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use isingscope::app::{IsingScopeApp, Startup};
use isingscope::spikes::SpikeRaster;

mod gui_common;
use gui_common::wait_while;

fn harness(startup: Startup) -> Harness<'static, IsingScopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| IsingScopeApp::new(cc, startup))
}

/// Step frames until no background job runs (or fail after `limit`).
fn wait_idle(h: &mut Harness<'static, IsingScopeApp>, limit: Duration) {
    wait_while(h, limit, "the job", |a| a.busy());
}

fn write_raster(path: &Path, bins: usize, units: usize) {
    let x: Vec<u8> = (0..bins * units)
        .map(|k| ((k * 37) % 11 < 3) as u8)
        .collect();
    let r = SpikeRaster::from_binary(1, bins, units, &x).unwrap();
    isingscope::io::npy::write_raster(path, &r).unwrap();
}

fn load_path(h: &mut Harness<'static, IsingScopeApp>, path: &Path) {
    let field = h.get_by_role_and_label(Role::TextInput, "File or folder:");
    field.focus();
    field.type_text(path.to_str().unwrap());
    h.step();
    h.get_by_label("Load").click();
    wait_idle(h, Duration::from_secs(30));
}

#[test]
fn a_bad_file_shows_its_error_and_keeps_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.npy");
    write_raster(&good, 300, 5);
    let mut h = harness(Startup::Empty);
    h.step();
    load_path(&mut h, &good);
    let shape = h.state().model().dataset.as_ref().map(|d| d.raster.shape());
    assert_eq!(shape, Some((1, 300, 5)));

    let bad = dir.path().join("broken.npy");
    std::fs::write(&bad, "this is not numpy").unwrap();
    let field = h.get_by_role_and_label(Role::TextInput, "File or folder:");
    field.focus();
    field.type_text("");
    // Replace the text: select all and type the new path.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role_and_label(Role::TextInput, "File or folder:")
        .type_text(bad.to_str().unwrap());
    h.step();
    h.get_by_label("Load").click();
    wait_idle(&mut h, Duration::from_secs(30));
    let msg = h.state().message().unwrap_or_default().to_string();
    assert!(
        msg.contains("broken.npy") && msg.contains("not a valid .npy"),
        "{msg}"
    );
    // The error is on screen, and the previous dataset is still loaded.
    h.get_by_label_contains("not a valid .npy");
    let shape = h.state().model().dataset.as_ref().map(|d| d.raster.shape());
    assert_eq!(shape, Some((1, 300, 5)));
}

#[test]
fn a_session_saves_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.npy");
    write_raster(&data, 200, 4);
    let session = dir.path().join("my-session.ron");
    let mut h = harness(Startup::Empty);
    h.step();
    load_path(&mut h, &data);
    let field = h.get_by_role_and_label(Role::TextInput, "Session file:");
    field.focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role_and_label(Role::TextInput, "Session file:")
        .type_text(session.to_str().unwrap());
    h.step();
    h.get_by_label("Fit").click();
    h.run_steps(2);
    h.get_by_label("Run fit").click();
    wait_idle(&mut h, Duration::from_secs(60));
    let fitted_j = h.state().model().fit.as_ref().expect("fitted").j.clone();
    h.get_by_label("Couplings").click();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    h.step();
    assert!(session.exists(), "Ctrl+S writes the session file");
    let text = std::fs::read_to_string(&session).unwrap();
    assert!(
        text.contains("data.npy") && text.contains("Couplings"),
        "{text}"
    );

    // Reopen: the data file is loaded again and the tab restored.
    let mut h2 = harness(Startup::File(session.clone()));
    wait_idle(&mut h2, Duration::from_secs(30));
    let shape = h2
        .state()
        .model()
        .dataset
        .as_ref()
        .map(|d| d.raster.shape());
    assert_eq!(shape, Some((1, 200, 4)));
    // The fitted couplings come back with the session.
    let restored = h2
        .state()
        .model()
        .fit
        .as_ref()
        .expect("fit restored")
        .j
        .clone();
    assert_eq!(restored, fitted_j);
    h2.get_by_label("Fitted couplings");

    // A session whose data file is gone opens with a clear message.
    std::fs::remove_file(&data).unwrap();
    let mut h3 = harness(Startup::File(session));
    wait_idle(&mut h3, Duration::from_secs(30));
    let msg = h3.state().message().unwrap_or_default().to_string();
    assert!(
        msg.contains("data.npy") && msg.contains("does not exist"),
        "{msg}"
    );
}

#[test]
fn the_ui_keeps_drawing_during_a_long_job_and_cancel_stops_it() {
    let mut h = harness(Startup::Empty);
    h.step();
    h.get_by_label("Simulate an SK network").click();
    h.step();
    h.get_by_role_and_label(Role::SpinButton, "steps")
        .set_value_accesskit(50_000_000.0);
    h.get_by_role_and_label(Role::SpinButton, "N")
        .set_value_accesskit(512.0);
    h.step();
    h.get_by_label("Simulate").click();
    h.step();
    assert!(h.state().busy(), "the simulation runs in the background");
    // While it runs, frames keep coming and each takes a few milliseconds
    // (no computation on the UI thread). 100 ms is generous for a debug
    // build on a loaded 2-core machine.
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let t = Instant::now();
        h.step();
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(h.state().busy(), "still running after 30 frames");
    assert!(
        slowest < Duration::from_millis(100),
        "slowest frame {slowest:?}"
    );
    h.get_by_label("Cancel").click();
    wait_idle(&mut h, Duration::from_secs(20));
    assert_eq!(h.state().message(), Some("Cancelled."));
    assert!(h.state().model().dataset.is_none());
}

#[test]
fn every_tab_draws_with_simulated_data() {
    let mut h = harness(Startup::Empty);
    h.step();
    h.get_by_label("Simulate an SK network").click();
    h.step();
    h.get_by_role_and_label(Role::SpinButton, "steps")
        .set_value_accesskit(2000.0);
    h.get_by_role_and_label(Role::SpinButton, "N")
        .set_value_accesskit(20.0);
    h.step();
    h.get_by_label("Simulate").click();
    wait_idle(&mut h, Duration::from_secs(30));
    let ds = h
        .state()
        .model()
        .dataset
        .as_ref()
        .expect("simulated dataset");
    assert_eq!(ds.raster.shape(), (1, 2001, 20));
    assert!(ds.truth.is_some());
    for tab in [
        "Raster",
        "Couplings",
        "Fit",
        "Phase lab",
        "State space",
        "Data",
    ] {
        h.get_by_label(tab).click();
        h.run_steps(3);
    }
    // The true couplings of simulated data are shown in the Couplings tab.
    h.get_by_label("Couplings").click();
    h.run_steps(2);
    h.get_by_label("true J").click();
    h.run_steps(2);
    h.get_by_label("Order units by coupling clusters").click();
    h.run_steps(2);
    let order = &h.state().model().order;
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..20).collect::<Vec<_>>(),
        "a permutation of the units"
    );
}

#[test]
fn the_demo_recording_opens_and_rebinning_changes_the_raster() {
    // The bundled real recording: 3 units over 1087.5 s of wake.
    let mut h = harness(Startup::Demo);
    wait_idle(&mut h, Duration::from_secs(60));
    let ds = h.state().model().dataset.as_ref().expect("demo loaded");
    let (r, t10, n) = ds.raster.shape();
    assert_eq!((r, n), (1, 3));
    // The data README: 108,752 bins of 10 ms, ids 6, 191, 206.
    assert_eq!(t10, 108_752);
    let ids: Vec<&str> = ds.units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["6", "191", "206"]);
    h.get_by_role_and_label(Role::SpinButton, "Bin width (ms):")
        .set_value_accesskit(20.0);
    h.step();
    h.get_by_label("Re-bin").click();
    wait_idle(&mut h, Duration::from_secs(60));
    let (_, t20, _) = h.state().model().dataset.as_ref().unwrap().raster.shape();
    // Half as many bins (the last partial bin rounds up).
    assert_eq!(t20, t10.div_ceil(2));
    h.get_by_label("Raster").click();
    h.run_steps(3);
}

/// Simulate an SK dataset through the Data tab's controls.
fn simulate_dataset(h: &mut Harness<'static, IsingScopeApp>, n: f64, steps: f64) {
    h.get_by_label("Simulate an SK network").click();
    h.step();
    h.get_by_role_and_label(Role::SpinButton, "steps")
        .set_value_accesskit(steps);
    h.get_by_role_and_label(Role::SpinButton, "N")
        .set_value_accesskit(n);
    h.step();
    h.get_by_label("Simulate").click();
    wait_idle(h, Duration::from_secs(60));
}

#[test]
fn a_fit_runs_to_completion_and_shows_its_heatmap() {
    let mut h = harness(Startup::Empty);
    h.step();
    simulate_dataset(&mut h, 20.0, 20_000.0);
    h.get_by_label("Fit").click();
    h.run_steps(2);
    h.get_by_label("Run fit").click();
    wait_idle(&mut h, Duration::from_secs(120));
    let model = h.state().model();
    let fit = model.fit.as_ref().expect("a fitted model");
    let truth = model
        .dataset
        .as_ref()
        .and_then(|d| d.truth.as_ref())
        .expect("truth");
    // Exact ML on 20,000 transitions of a 20-spin network recovers J well:
    // the standard error of one coupling is about 1/sqrt(T·Var) ≈ 0.01,
    // against true couplings of spread ΔJ/√N ≈ 0.22.
    let x: Vec<f64> = (&truth.j * truth.beta).iter().copied().collect();
    let y: Vec<f64> = fit.j.iter().copied().collect();
    let (r, _) = isingscope::app::plots::correlation_and_r2(&x, &y).unwrap();
    assert!(r > 0.95, "fitted vs true couplings r = {r}");
    // The model check and held-out likelihood are shown.
    h.get_by_label_contains("held-out -");
    h.get_by_label_contains("Gain over the independent");
    h.get_by_label("Couplings").click();
    h.run_steps(3);
    h.get_by_label("Fitted couplings");
    h.get_by_label_contains("r = ");
}

#[test]
fn a_running_fit_can_be_cancelled() {
    let mut h = harness(Startup::Empty);
    h.step();
    simulate_dataset(&mut h, 300.0, 200_000.0);
    h.get_by_label("Fit").click();
    h.run_steps(2);
    h.get_by_label("Run fit").click();
    h.run_steps(2);
    assert!(h.state().busy(), "the fit runs in the background");
    h.get_by_label("Cancel fit").click();
    wait_idle(&mut h, Duration::from_secs(60));
    assert_eq!(h.state().message(), Some("Cancelled."));
    assert!(h.state().model().fit.is_none());
}

fn open_fit_folder(h: &mut Harness<'static, IsingScopeApp>, dir: &Path) {
    let field = h.get_by_role_and_label(Role::TextInput, "Fit folder:");
    field.focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role_and_label(Role::TextInput, "Fit folder:")
        .type_text(dir.to_str().unwrap());
    h.step();
    h.get_by_label("Open fit folder").click();
    wait_idle(h, Duration::from_secs(60));
}

#[test]
fn a_fit_folder_from_elsewhere_opens_with_its_model_check() {
    // A fit made elsewhere (e.g. merged cluster shards): J.csv and H.csv
    // next to the raster they came from.
    let dir = tempfile::tempdir().unwrap();
    let raster = dir.path().join("r.npy");
    write_raster(&raster, 400, 6);
    let fit = dir.path().join("fit");
    std::fs::create_dir_all(&fit).unwrap();
    let j = nalgebra::DMatrix::from_fn(6, 6, |i, k| 0.01 * (i as f64 - 2.0 * k as f64));
    let hv: Vec<f64> = (0..6).map(|i| -0.2 + 0.05 * i as f64).collect();
    isingscope::io::text::write_matrix(&fit.join("J.csv"), &j).unwrap();
    isingscope::io::text::write_vector(&fit.join("H.csv"), &hv).unwrap();
    let mut h = harness(Startup::Empty);
    h.step();
    load_path(&mut h, &raster);
    open_fit_folder(&mut h, &fit);
    let model = h.state().model();
    let got = model.fit.as_ref().expect("the opened fit");
    // The values are the files' (written with 17 significant digits).
    assert_eq!(got.j, j);
    assert_eq!(got.h.as_slice(), hv.as_slice());
    assert!(got.check.is_some(), "the model check ran");
    h.get_by_label("Couplings").click();
    h.run_steps(3);
    h.get_by_label("Fitted couplings");
    // A folder for another number of units is refused by name.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    isingscope::io::text::write_matrix(&other.join("J.csv"), &nalgebra::DMatrix::zeros(4, 4))
        .unwrap();
    isingscope::io::text::write_vector(&other.join("H.csv"), &[0.0; 4]).unwrap();
    h.get_by_label("Data").click();
    h.run_steps(2);
    open_fit_folder(&mut h, &other);
    let msg = h.state().message().unwrap_or_default().to_string();
    assert!(msg.contains("other") && msg.contains("6 units"), "{msg}");
}

/// Zoomed in to fewer bins than pixel columns, the population rate has one
/// point per column that holds a bin and none for the columns between bins
/// (it used to draw zeros there: a comb), and every point is the rate of
/// the bin under it, computed directly from the raster.
#[test]
fn the_population_rate_has_no_comb_when_zoomed_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.npy");
    write_raster(&path, 300, 5);
    let mut h = harness(Startup::Empty);
    h.step();
    load_path(&mut h, &path);
    h.get_by_label("Raster").click();
    h.run_steps(2);
    h.state_mut()
        .raster_mut()
        .apply_view_state(&isingscope::app::raster_tab::RasterViewState {
            trial: 0,
            start: 100.0,
            len: 20.0,
        });
    h.run_steps(3);
    let ds = h.state().model().dataset.clone().expect("loaded");
    let bin_s = ds.bin_seconds;
    let rate = h.state_mut().raster_mut().rate.clone();
    assert!(!rate.is_empty());
    assert!(rate.len() <= 21, "{} points for 20 bins", rate.len());
    for [t, r] in rate {
        let bin = (t / bin_s).floor() as usize;
        assert!((100..121).contains(&bin), "point at {t} s outside the view");
        let spikes = (0..5).filter(|&i| ds.raster.get(0, bin, i)).count() as f64;
        let want = spikes / 5.0 / bin_s;
        assert!(
            (r - want).abs() < 1e-9 * want.max(1.0),
            "bin {bin}: {r} vs {want}"
        );
    }
}
