//! GUI tests of trial-aligned exploration (egui_kittest, headless): an NWB
//! file with a trials table and a `stimulus` column is loaded through the
//! Data tab's widgets with trials aligned to `trials`; the PSTH tab's values
//! equal the trial average computed here from the raster's bits, per
//! condition; the condition filter changes the trials a fit uses; and
//! frames stay fast with the PSTH and condition views on a 300-unit,
//! 1-hour recording.
#![cfg(feature = "gui")]

use std::path::Path;
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use hdf5_pure::{AttrValue, FileBuilder};
use isingscope::app::dataset::ConditionFilter;
use isingscope::app::{IsingScopeApp, Startup};
use rand::{RngExt, SeedableRng};

mod gui_common;
use gui_common::wait_while;

const STIMULI: [&str; 3] = ["A", "B", "C"];

/// A pynwb-like recording: `units` units firing at 5 Hz (Poisson) for
/// `seconds`, one trial every 3 s from 1 s on (`start_time`, `stop_time` =
/// start + 1.5 s) with `stimulus` cycling A, B, C; 50–250 ms after each
/// event, units whose index is even fire at 40 Hz on A trials and odd ones
/// on B trials (C: no response). Seeded.
fn write_trials_nwb(path: &Path, units: usize, seconds: f64, seed: u64) -> usize {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let starts: Vec<f64> = (0..)
        .map(|k| 1.0 + 3.0 * k as f64)
        .take_while(|&s| s + 1.5 <= seconds)
        .collect();
    let mut times = Vec::new();
    let mut ends = Vec::new();
    for i in 0..units {
        let mut ts = Vec::new();
        let mut t = 0.0;
        loop {
            t += -(1.0 - rng.random::<f64>()).ln() / 5.0;
            if t >= seconds {
                break;
            }
            ts.push(t);
        }
        for (k, &s) in starts.iter().enumerate() {
            let responds = (k % 3 == 0 && i % 2 == 0) || (k % 3 == 1 && i % 2 == 1);
            if responds {
                let mut u = s + 0.05;
                loop {
                    u += -(1.0 - rng.random::<f64>()).ln() / 40.0;
                    if u >= s + 0.25 {
                        break;
                    }
                    ts.push(u);
                }
            }
        }
        ts.sort_by(f64::total_cmp);
        times.extend(ts);
        ends.push(times.len() as u64);
    }
    let mut b = FileBuilder::new();
    b.set_attr("nwb_version", AttrValue::VarLenString("2.7.0".into()));
    let mut u = b.create_group("units");
    u.create_dataset("spike_times").with_f64_data(&times);
    u.create_dataset("spike_times_index").with_u64_data(&ends);
    u.create_dataset("id")
        .with_i64_data(&(0..units as i64).collect::<Vec<_>>());
    b.add_group(u.finish());
    let mut iv = b.create_group("intervals");
    let mut tr = iv.create_group("trials");
    tr.set_attr(
        "colnames",
        AttrValue::VarLenStringArray(vec![
            "start_time".into(),
            "stop_time".into(),
            "stimulus".into(),
        ]),
    );
    tr.create_dataset("start_time").with_f64_data(&starts);
    let stops: Vec<f64> = starts.iter().map(|s| s + 1.5).collect();
    tr.create_dataset("stop_time").with_f64_data(&stops);
    let stim: Vec<&str> = (0..starts.len()).map(|k| STIMULI[k % 3]).collect();
    tr.create_dataset("stimulus").with_vlen_strings(&stim);
    iv.add_group(tr.finish());
    b.add_group(iv.finish());
    b.write(path).unwrap();
    starts.len()
}

/// Step frames until the PSTH tab has computed its curves for the current
/// choices (they are computed on a worker thread).
fn settle(h: &mut Harness<'static, IsingScopeApp>) {
    h.run_steps(2);
    wait_while(h, Duration::from_secs(60), "the PSTHs", |a| {
        a.psth().computing()
    });
    h.step();
}

fn harness() -> Harness<'static, IsingScopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(|cc| IsingScopeApp::new(cc, Startup::Empty))
}

/// Load `path` with trials aligned to its `trials` table (0.5 s before and
/// 1 s after each start: the Data tab's defaults) through the widgets.
fn load_with_trials(h: &mut Harness<'static, IsingScopeApp>, path: &Path) {
    h.step();
    let field = h.get_by_role_and_label(Role::TextInput, "Trials from intervals table:");
    field.focus();
    field.type_text("trials");
    h.step();
    let field = h.get_by_role_and_label(Role::TextInput, "File or folder:");
    field.focus();
    field.type_text(path.to_str().unwrap());
    h.step();
    h.get_by_label("Load").click();
    wait_while(h, Duration::from_secs(60), "loading", |a| a.busy());
}

#[test]
fn psth_values_equal_the_trial_average_and_a_condition_filter_changes_the_fit() {
    let dir = tempfile::tempdir().unwrap();
    let nwb = dir.path().join("trials.nwb");
    let n_trials = write_trials_nwb(&nwb, 12, 150.0, 3);
    let mut h = harness();
    load_with_trials(&mut h, &nwb);
    let ds = h.state().model().dataset.clone().expect("loaded");
    let (r, t, n) = ds.raster.shape();
    assert_eq!(
        (r, t, n),
        (n_trials, 150, 12),
        "1.5 s windows of 10 ms bins"
    );
    let stim = ds
        .trials
        .as_ref()
        .unwrap()
        .column("stimulus")
        .unwrap()
        .values
        .clone();
    assert_eq!(stim.len(), r);

    // The raster's time axis runs from the event: −0.500 s to 1.000 s.
    h.get_by_label("Raster").click();
    h.run_steps(2);
    h.get_by_label_contains("-0.500 s – 1.000 s of 1.500 s (time from the event)");
    h.get_by_label_contains("Trial 0: event at 1 s; stop = 2.5, stimulus = A");

    h.get_by_label("PSTH").click();
    settle(&mut h);
    h.state_mut().psth_mut().set_group_by("stimulus");
    settle(&mut h);
    let w = ds.bin_seconds;
    // Rates are integer counts over (R · w) on both sides: equal to 1e-9 Hz.
    let direct = |trials: &[usize]| -> Vec<f64> {
        let mut out = vec![0.0; n * t];
        for &k in trials {
            for b in 0..t {
                for i in 0..n {
                    if ds.raster.get(k, b, i) {
                        out[i * t + b] += 1.0;
                    }
                }
            }
        }
        out.iter().map(|c| c / (trials.len() as f64 * w)).collect()
    };
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9)
    };
    let curves = h.state().psth().curves.clone().expect("PSTH drawn");
    let all: Vec<usize> = (0..r).collect();
    assert!(close(&curves.overall.rate_hz, &direct(&all)));
    assert_eq!(curves.groups.len(), 3);
    for (c, p) in &curves.groups {
        let mine: Vec<usize> = (0..r).filter(|&k| stim[k] == c.value).collect();
        assert_eq!(p.n_trials, mine.len(), "{}", c.value);
        assert!(close(&p.rate_hz, &direct(&mine)), "condition {}", c.value);
    }
    // The response is where the fixture put it: unit 0 on A trials, 50–250
    // ms after the event (bins 55..75), far above its 5 Hz baseline.
    let a = &curves.groups[0].1;
    let resp: f64 = (55..75).map(|b| a.rate(0, b)).sum::<f64>() / 20.0;
    let base: f64 = (0..50).map(|b| a.rate(0, b)).sum::<f64>() / 50.0;
    assert!(
        resp > 20.0 && base < 10.0,
        "response {resp} Hz, baseline {base} Hz"
    );

    // A fit of all trials, then of the B trials only.
    h.get_by_label("Fit").click();
    h.run_steps(2);
    h.get_by_label("Run fit").click();
    wait_while(&mut h, Duration::from_secs(120), "the fit", |a| a.busy());
    assert_eq!(
        h.state().model().fit_trials.as_deref(),
        Some(format!("all {r} trials").as_str())
    );
    h.state_mut().set_condition(ConditionFilter {
        column: "stimulus".into(),
        value: "B".into(),
    });
    h.get_by_label("PSTH").click();
    settle(&mut h);
    let b_trials = stim.iter().filter(|s| *s == "B").count();
    assert!(b_trials < r);
    // The PSTH now averages the B trials only.
    let curves = h.state().psth().curves.clone().expect("PSTH drawn");
    assert_eq!(curves.overall.n_trials, b_trials);
    let mine: Vec<usize> = (0..r).filter(|&k| stim[k] == "B").collect();
    assert!(close(&curves.overall.rate_hz, &direct(&mine)));
    // The State space tab gets the same trials.
    let (sub, _) = h.state().model().analysis_raster().unwrap();
    assert_eq!(sub.n_trials(), b_trials);
    h.get_by_label("Fit").click();
    h.run_steps(2);
    h.get_by_label("Run fit").click();
    wait_while(&mut h, Duration::from_secs(120), "the fit", |a| a.busy());
    assert_eq!(
        h.state().model().fit_trials.as_deref(),
        Some(format!("stimulus = B: {b_trials} of {r} trials").as_str())
    );
    h.get_by_label_contains("the current fit used stimulus = B");
    // Both fits are kept for the side-by-side comparison of couplings.
    let fits = h.state().model().condition_fits.clone();
    let labels: Vec<&str> = fits.iter().map(|f| f.label.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            format!("all {r} trials"),
            format!("stimulus = B: {b_trials} of {r} trials")
        ]
    );
    assert_eq!(fits[1].j, h.state().model().fit.as_ref().unwrap().j);
    assert_ne!(fits[0].j, fits[1].j, "different trials, different fits");

    // Save the session (Ctrl+S) on the PSTH tab with a sort order, and
    // reopen it: the trials, the PSTH view and the condition filter return.
    h.get_by_label("PSTH").click();
    settle(&mut h);
    h.state_mut()
        .psth_mut()
        .set_order(isingscope::app::psth_tab::PsthOrder::Peak);
    h.step();
    h.get_by_label_contains("Correlation of the off-diagonal couplings");
    let saved_view = h.state().psth().view_state();
    let session = dir.path().join("trials-session.ron");
    let field = h.get_by_role_and_label(Role::TextInput, "Session file:");
    field.focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role_and_label(Role::TextInput, "Session file:")
        .type_text(session.to_str().unwrap());
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    h.step();
    assert!(session.exists(), "Ctrl+S writes the session file");
    let mut h2 = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| IsingScopeApp::new(cc, Startup::File(session.clone())));
    wait_while(&mut h2, Duration::from_secs(60), "loading", |a| a.busy());
    settle(&mut h2);
    assert_eq!(h2.state().psth().view_state(), saved_view);
    assert_eq!(h2.state().model().condition.describe(), "stimulus = B");
    let restored = h2.state().model().dataset.clone().expect("reloaded");
    assert_eq!(restored.raster.shape(), (r, t, n));
    assert_eq!(
        h2.state()
            .psth()
            .curves
            .as_ref()
            .map(|c| c.overall.n_trials),
        Some(b_trials)
    );
}

/// Frames with the PSTH and condition views on a 300-unit, 1-hour
/// recording (1,200 trials × 150 bins): each frame, including those that
/// recompute the PSTHs and textures after a change, stays under 100 ms
/// (generous for a debug build on a loaded 2-core machine; a frame at
/// 60 Hz is 16 ms).
#[test]
fn frames_stay_fast_with_psth_and_conditions_on_a_one_hour_recording() {
    let dir = tempfile::tempdir().unwrap();
    let nwb = dir.path().join("hour.nwb");
    let n_trials = write_trials_nwb(&nwb, 300, 3600.0, 5);
    let mut h = harness();
    load_with_trials(&mut h, &nwb);
    let shape = h.state().model().dataset.as_ref().map(|d| d.raster.shape());
    assert_eq!(shape, Some((n_trials, 150, 300)));
    let mut slowest = Duration::ZERO;
    // Step until the PSTHs for the new choice are in (and a few more
    // frames), timing every frame.
    let mut time_steps = |h: &mut Harness<'static, IsingScopeApp>| {
        let start = Instant::now();
        let mut extra = 0;
        while extra < 5 {
            let t = Instant::now();
            h.step();
            slowest = slowest.max(t.elapsed());
            if !h.state().psth().computing() {
                extra += 1;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "PSTHs not computed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    h.get_by_label("PSTH").click();
    time_steps(&mut h);
    h.state_mut().psth_mut().set_group_by("stimulus");
    time_steps(&mut h);
    h.state_mut()
        .psth_mut()
        .set_order(isingscope::app::psth_tab::PsthOrder::Latency);
    time_steps(&mut h);
    h.state_mut().set_condition(ConditionFilter {
        column: "stimulus".into(),
        value: "A".into(),
    });
    time_steps(&mut h);
    assert_eq!(
        h.state().psth().curves.as_ref().map(|c| c.overall.n_trials),
        Some(n_trials.div_ceil(3))
    );
    assert_eq!(
        h.state().psth().curves.as_ref().map(|c| c.groups.len()),
        Some(1),
        "only the A trials are kept"
    );
    h.get_by_label("Raster").click();
    time_steps(&mut h);
    eprintln!("slowest frame {slowest:?}");
    assert!(
        slowest < Duration::from_millis(100),
        "slowest frame {slowest:?}"
    );
}
