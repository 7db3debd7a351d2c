//! GUI tests of issue 13: a failed moment-matching fit is flagged on the
//! Fit and Couplings tabs (never just "Fit finished."), and an ML fit
//! offers the z and significant-only views of its couplings, and the
//! surrogate and split-half checks from a button.
#![cfg(feature = "gui")]

use std::time::Duration;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use isingscope::app::{IsingScopeApp, Startup};

mod fit_data;
mod gui_common;
use fit_data::burst_raster;
use gui_common::wait_while;

fn wait_idle(h: &mut Harness<'static, IsingScopeApp>) {
    wait_while(h, Duration::from_secs(180), "the job", |a| a.busy());
}

#[test]
fn tap_failure_is_flagged_and_ml_offers_significance_views() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bursts.npy");
    isingscope::io::npy::write_raster(&path, &burst_raster()).unwrap();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| IsingScopeApp::new(cc, Startup::Empty));
    h.step();
    let field = h.get_by_role_and_label(Role::TextInput, "File or folder:");
    field.focus();
    field.type_text(path.to_str().unwrap());
    h.step();
    h.get_by_label("Load").click();
    wait_idle(&mut h);
    assert!(
        h.state().model().dataset.is_some(),
        "{:?}",
        h.state().message()
    );

    h.get_by_label("Fit").click();
    h.run_steps(2);
    h.get_by_label("fit method").click();
    h.run_steps(2);
    h.get_by_label("Plefka[t-1,t] order 2 (TAP) moment matching")
        .click();
    h.run_steps(2);
    h.get_by_label("Run fit").click();
    wait_idle(&mut h);
    let msg = h.state().message().unwrap_or_default().to_string();
    assert!(msg.starts_with("Fit finished with a warning"), "{msg}");
    assert!(msg.contains("--method ml"), "{msg}");
    h.get_by_label_contains("Warning: Plefka[t-1,t] order 2 (TAP) moment matching");
    h.get_by_label_contains("every 5th whole trial");
    h.get_by_label("Couplings").click();
    h.run_steps(3);
    h.get_by_label_contains("Warning: Plefka");

    h.get_by_label("Fit").click();
    h.run_steps(2);
    h.get_by_label("fit method").click();
    h.run_steps(2);
    h.get_by_label("exact maximum likelihood").click();
    h.run_steps(2);
    h.get_by_label("Run fit").click();
    wait_idle(&mut h);
    // The fit is fine; its model check says the bursts' synchrony (common
    // input) is not reproduced, in the finish message and in the tab.
    let msg = h.state().message().unwrap_or_default().to_string();
    assert!(msg.starts_with("Fit finished. Model check:"), "{msg}");
    assert!(msg.contains("shared input"), "{msg}");
    // In the status bar and in the Fit tab.
    assert_eq!(
        h.query_all_by_label_contains("Model check: the fitted model does not reproduce the data")
            .count(),
        2
    );
    h.get_by_label_contains("held out 8 of 40 whole trials");
    let check = h
        .state()
        .model()
        .fit
        .as_ref()
        .unwrap()
        .check
        .clone()
        .unwrap();
    assert!(check.se_j.is_some());
    assert_eq!(check.gain.nats_per_bin.len(), 24);
    // Every plot of the Fit tab can be enlarged to the whole window: the
    // convergence plot and the m, C and D scatters (24 units: scatters,
    // not tables); Esc returns.
    {
        use isingscope::app::plots;
        let buttons = h.query_all_by_label("Enlarge").count();
        assert!(buttons >= 4, "{buttons} enlarge buttons");
        h.query_all_by_label("Enlarge").next().unwrap().click();
        h.run_steps(2);
        assert_eq!(plots::enlarged(&h.ctx).as_deref(), Some("fit_convergence"));
        // An area's first frame only measures it.
        h.run_steps(2);
        h.get_by_label("Close (Esc)");
        h.key_press(egui::Key::Escape);
        h.run_steps(2);
        assert_eq!(plots::enlarged(&h.ctx), None);
    }
    h.get_by_label("Couplings").click();
    h.run_steps(3);
    h.get_by_label("significant only (BH q = 0.05)").click();
    h.run_steps(3);
    h.get_by_label("z = J/se").click();
    h.run_steps(3);
    assert!(h.query_all_by_label("threshold |z|").count() >= 1);

    // Reliability: the surrogate and split-half fits run in the background
    // from a button of the Fit tab and their counts and correlation appear.
    h.get_by_label("Fit").click();
    h.run_steps(3);
    // The section is below the model check: scroll it into view first
    // (egui does not click clipped widgets).
    h.get_by_label("Run surrogate and split-half checks")
        .scroll_to_me();
    h.run_steps(3);
    h.get_by_label("Run surrogate and split-half checks")
        .click();
    let start = std::time::Instant::now();
    while h
        .query_by_label_contains("Significant couplings at FDR")
        .is_none()
    {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the reliability checks did not finish"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.get_by_label_contains("Surrogate: each unit's 40 trials permuted");
    h.get_by_label_contains("Split-half reliability (even vs odd trials");
}
