//! GUI tests of the phase lab: sliders, play/pause, sweeps and throughput,
//! driven by widget labels through egui_kittest.
#![cfg(feature = "gui")]

use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use isingscope::app::IsingScopeApp;
use isingscope::sk_theory::{SkPoint, solve_stationary};

mod gui_common;
use gui_common::{app_on_tab, run_for, set_fields, wait_while};

fn lab() -> Harness<'static, IsingScopeApp> {
    app_on_tab("Phase lab", 1280.0, 800.0)
}

/// The |m| the UI displays, parsed from its label.
fn shown_abs_m(h: &Harness<'static, IsingScopeApp>) -> f64 {
    let node = h.get_by_label_contains("simulated |m| = ");
    let an = node.accesskit_node();
    let text = an
        .label()
        .filter(|l| !l.is_empty())
        .or_else(|| an.value())
        .unwrap_or_default();
    text.trim_start_matches("simulated |m| = ")
        .trim()
        .parse()
        .expect("a number")
}

fn set_slider(h: &mut Harness<'static, IsingScopeApp>, label: &str, v: f64) {
    h.get_by_role_and_label(Role::Slider, label)
        .set_value_accesskit(v);
    h.run_steps(2);
}

#[test]
fn crossing_the_critical_coupling_orders_the_network() {
    let mut h = lab();
    set_slider(&mut h, "N", 1024.0);
    set_slider(&mut h, "J0", 0.6);
    h.get_by_label("Play").click();
    run_for(&mut h, Duration::from_millis(2500));
    let below = shown_abs_m(&h);
    // β = 1, ΔJ = 0.5: the theory's critical J0 is about 1.35. Below it,
    // m = 0 in the large-N limit; at N = 1024 the population average of
    // ±1 spins fluctuates by O(1/√N) ≈ 0.03, so 0.1 is "≈ 0".
    let theory_below = solve_stationary(&SkPoint {
        beta: 1.0,
        j0: 0.6,
        dj: 0.5,
        h0: 0.0,
    })
    .unwrap();
    assert_eq!(theory_below.m, 0.0);
    assert!(below < 0.1, "disordered |m| = {below}");
    set_slider(&mut h, "J0", 2.5);
    run_for(&mut h, Duration::from_millis(2500));
    let above = shown_abs_m(&h);
    let theory_above = solve_stationary(&SkPoint {
        beta: 1.0,
        j0: 2.5,
        dj: 0.5,
        h0: 0.0,
    })
    .unwrap();
    assert!(theory_above.m > 0.8);
    // Clearly ordered, and near the theory (finite-size and averaging
    // allowance 0.1 on an order parameter of ~0.9).
    assert!(
        (above - theory_above.m).abs() < 0.1,
        "ordered |m| = {above} vs {}",
        theory_above.m
    );
}

#[test]
fn pause_stops_the_stream() {
    let mut h = lab();
    set_slider(&mut h, "N", 128.0);
    h.get_by_label("Play").click();
    run_for(&mut h, Duration::from_millis(500));
    assert!(h.state().phase_lab().playing());
    h.get_by_label("Pause").click();
    run_for(&mut h, Duration::from_millis(300));
    let after_pause = h.state().phase_lab().steps_received;
    assert!(after_pause > 0);
    run_for(&mut h, Duration::from_millis(500));
    assert_eq!(
        h.state().phase_lab().steps_received,
        after_pause,
        "no steps while paused"
    );
    h.get_by_label("Step").click();
    run_for(&mut h, Duration::from_millis(300));
    assert_eq!(h.state().phase_lab().steps_received, after_pause + 1);
}

#[test]
fn a_sweep_agrees_with_theory_at_n_512() {
    let mut h = lab();
    // Defaults: N = 512, J0 = 1, ΔJ = 0.5, H0 = 0 (β_c = 1.3485). Scan β
    // over the ordered phase away from the transition, where a 200-step
    // burn-in from all +1 reaches the stationary state (relaxation takes a
    // few steps there) and the sign of m is fixed by the start.
    set_fields(
        &mut h,
        &[
            ("from", 2.0),
            ("to", 3.5),
            ("points", 4.0),
            ("networks", 6.0),
        ],
    );
    h.get_by_label("Run sweep").click();
    wait_while(&mut h, Duration::from_secs(120), "the sweep", |a| {
        a.phase_lab().sweep_running()
    });
    let points = h.state().phase_lab().sweep_points().to_vec();
    assert_eq!(points.len(), 4);
    for p in points {
        let t = solve_stationary(&SkPoint {
            beta: p.x,
            j0: 1.0,
            dj: 0.5,
            h0: 0.0,
        })
        .unwrap();
        // Each error bar is the standard error over 6 fresh networks (the
        // quenched average). On top of it a finite network deviates from the
        // N → ∞ theory by O((βΔJ)²/N) terms (the missing i = l term of the
        // entropy production, the self-coupling's share of q, the spread of
        // the field variance; see tests/sk_theory.rs for the bound
        // 4(βΔJ)²/N), plus the self-coupling's direct O(βJ0/N) share of q.
        let b = p.x * 0.5;
        let finite_n = (4.0 * b * b + p.x * 1.0) / 512.0;
        for (name, (mean, se), th) in [
            ("|m|", p.m, t.m),
            ("q", p.q, t.q),
            ("σ/N", p.sigma_per_n, t.sigma_per_n),
        ] {
            eprintln!(
                "β = {}: {name} = {mean:.5} ± {se:.5} vs theory {th:.5}",
                p.x
            );
            assert!(
                (mean - th).abs() < 3.0 * se + finite_n,
                "β = {}: {name} = {mean} ± {se} vs theory {th}",
                p.x
            );
        }
    }
}

#[test]
fn the_ui_keeps_its_frame_rate_while_the_lab_runs() {
    // Throughput of the simulation stream itself (≥ 1,000 steps/s at
    // N = 1,024 in a release build) is measured by `cargo bench --bench
    // live`; here, in the debug test build, we check that drawing never
    // waits for the simulation: frames keep their ~60 Hz pace at N = 1,024
    // and N = 4,096 while steps arrive.
    let mut h = lab();
    for n in [1024.0, 4096.0] {
        set_slider(&mut h, "N", n);
        if !h.state().phase_lab().playing() {
            h.get_by_label("Play").click();
        }
        h.run_steps(2);
        let s0 = h.state().phase_lab().steps_received;
        let start = Instant::now();
        let frames = run_for(&mut h, Duration::from_secs(2));
        let secs = start.elapsed().as_secs_f64();
        let steps = (h.state().phase_lab().steps_received - s0) as f64 / secs;
        let fps = frames as f64 / secs;
        eprintln!("N = {n}: {steps:.0} steps/s delivered, {fps:.0} frames/s");
        assert!(steps > 0.0, "steps arrive at N = {n}");
        // 16 ms sleeps cap the pace at ~60 Hz; ≥ 30 frames/s means no frame
        // blocked on the simulation.
        assert!(fps >= 30.0, "{fps:.0} frames/s at N = {n}");
    }
}

/// For every choice of the phase diagram's two axes, moving a slider of an
/// axis parameter moves the dot along that axis (and only it), and moving
/// a held parameter leaves the dot where it is.
#[test]
fn the_diagram_dot_follows_the_slider_on_every_axis_choice() {
    use isingscope::sk_theory::SkParameter as P;
    let mut h = lab();
    let all = [P::Beta, P::J0, P::Dj, P::H0];
    let slider = |p: P| match p {
        P::Beta => ("β", 1.7),
        P::J0 => ("J0", 1.3),
        P::Dj => ("ΔJ", 0.9),
        P::H0 => ("H0", 0.4),
    };
    for x in all {
        for y in all {
            if x == y {
                continue;
            }
            {
                let s = &mut h.state_mut().phase_lab_mut().settings;
                s.diagram_x = x;
                s.diagram_y = y;
            }
            h.run_steps(2);
            for p in all {
                let before = h.state().phase_lab().diagram_dot();
                let (label, v) = slider(p);
                // A value different from the current one.
                let now = h.state().phase_lab().settings.value(p);
                let target = if (now - v).abs() < 1e-9 { v - 0.2 } else { v };
                set_slider(&mut h, label, target);
                let after = h.state().phase_lab().diagram_dot();
                let want = [
                    if p == x { target } else { before[0] },
                    if p == y { target } else { before[1] },
                ];
                for k in 0..2 {
                    assert!(
                        (after[k] - want[k]).abs() < 1e-9,
                        "axes ({x:?}, {y:?}), slider {label} -> {target}: dot {after:?}, want {want:?}"
                    );
                }
            }
        }
    }
}

/// The lessons panel: steps are told in order, "Set up" puts the sliders
/// (and the sweep) where the step says, and a lecturer's own lesson file
/// loads, or is refused with a one-line message naming it.
#[test]
fn lessons_set_up_the_lab_and_bad_lesson_files_are_refused() {
    use isingscope::sk_theory::SkParameter as P;
    let mut h = lab();
    h.get_by_label("Lessons…").click();
    h.run_steps(3);
    let bundled = h.state().phase_lab().lessons().len();
    assert_eq!(bundled, isingscope::app::lessons::BUNDLED.len());
    h.get_by_label_contains("Step 1 of 5: The disordered phase");
    // Every step of every bundled lesson draws (no glyph is missing from
    // the app's fonts, which would panic), then back to the first lesson.
    for l in 0..bundled {
        let steps = h.state().phase_lab().lessons()[l].steps.len();
        for k in 0..steps {
            h.state_mut().phase_lab_mut().select_lesson_step(l, k);
            h.run_steps(2);
            h.get_by_label_contains(&format!("Step {} of {steps}", k + 1));
        }
    }
    h.state_mut().phase_lab_mut().select_lesson_step(0, 0);
    h.run_steps(2);
    h.get_by_label("Next").click();
    h.run_steps(2);
    assert_eq!(h.state().phase_lab().lesson_position(), (0, 1));
    h.get_by_label("Set up").click();
    h.run_steps(3);
    {
        let pl = h.state().phase_lab();
        let s = &pl.settings;
        // The J0 step: β = 2, ΔJ = 0.5, J0 × β diagram, a J0 sweep running.
        assert_eq!((s.beta, s.dj, s.h0), (2.0, 0.5, 0.0));
        assert_eq!((s.diagram_x, s.diagram_y), (P::J0, P::Beta));
        assert!(s.sweep_j0 && pl.sweep_running());
        assert_eq!((s.sweep_from, s.sweep_to, s.sweep_points), (0.2, 2.0, 10));
    }
    // The dot of the diagram sits at the step's (J0, β).
    assert_eq!(h.state().phase_lab().diagram_dot(), [1.0, 2.0]);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("my-bad-lesson.ron");
    std::fs::write(
        &bad,
        "(title: \"Mine\", steps: [(title: \"a\", text: \"t\", setup: (beta: 7.5))])",
    )
    .unwrap();
    let field = h.get_by_role_and_label(Role::TextInput, "path");
    field.focus();
    h.step();
    h.get_by_role_and_label(Role::TextInput, "path")
        .type_text(&bad.display().to_string());
    h.run_steps(1);
    h.get_by_label("Load").click();
    h.run_steps(2);
    let shown = h.get_by_label_contains("my-bad-lesson.ron:");
    let an = shown.accesskit_node();
    let text = an
        .label()
        .filter(|l| !l.is_empty())
        .or_else(|| an.value())
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains("step 1") && text.contains("beta = 7.5"),
        "{text}"
    );
    assert_eq!(h.state().phase_lab().lessons().len(), bundled);

    // A syntax error is reported with its position.
    let broken = dir.path().join("broken.ron");
    std::fs::write(
        &broken,
        "(title: \"Mine\", steps: [(title: \"hot\" text: \"t\")])",
    )
    .unwrap();
    let e = h
        .state_mut()
        .phase_lab_mut()
        .open_lesson(&broken)
        .unwrap_err();
    assert!(e.contains("broken.ron: line 1, column"), "{e}");
    let good = dir.path().join("mine.ron");
    std::fs::write(
        &good,
        "(title: \"Mine\", steps: [(title: \"hot\", text: \"t\", setup: (beta: 0.25, n: 64))])",
    )
    .unwrap();
    assert!(h.state_mut().phase_lab_mut().open_lesson(&good).is_ok());
    h.run_steps(2);
    assert_eq!(h.state().phase_lab().lesson_position(), (bundled, 0));
    h.get_by_label("Set up").click();
    h.run_steps(2);
    let s = &h.state().phase_lab().settings;
    assert_eq!((s.beta, s.n), (0.25, 64));
}

/// The relaxation step: a restart from all +1 fills the first steps, and
/// they follow the time-dependent theory drawn beside them (the physics is
/// tested on 16 networks in tests/sk_theory.rs; here one network of
/// N = 2,048, whose m(t) scatters by about 0.03 around the theory in the
/// first steps, so 5 × 0.03 is the allowance; a random start would give
/// m(1) ≈ 0 against the theory's 0.81).
#[test]
fn the_relaxation_step_shows_the_start_against_the_time_dependent_theory() {
    use isingscope::app::phase_lab::{START_STEPS, TimeView};
    let mut h = lab();
    let last = {
        let pl = h.state_mut().phase_lab_mut();
        let steps = pl.lessons()[0].steps.len();
        pl.select_lesson_step(0, steps - 1);
        steps
    };
    h.run_steps(2);
    h.get_by_label_contains(&format!("Step {last} of {last}: Relaxation"));
    h.get_by_label("Set up").click();
    wait_while(&mut h, Duration::from_secs(60), "relaxation", |a| {
        a.phase_lab().start_stats().len() < START_STEPS
    });
    let pl = h.state().phase_lab();
    assert_eq!(pl.settings.time_view, TimeView::Start);
    let start = pl.start_stats();
    let theory = pl.relax_theory();
    assert_eq!(theory.len(), START_STEPS);
    for (k, (s, th)) in start.iter().zip(theory).enumerate() {
        assert_eq!(s.t as usize, k + 1);
        assert_eq!(th.t, k + 1);
        if k < 20 {
            assert!(
                (s.m - th.m).abs() < 0.15,
                "m({}) {} vs {}",
                k + 1,
                s.m,
                th.m
            );
            assert!(
                (s.q - th.q).abs() < 0.15,
                "q({}) {} vs {}",
                k + 1,
                s.q,
                th.q
            );
        }
    }
    // Changing β on the kept network makes that start another model's.
    h.get_by_label("keep network, change β").click();
    h.run_steps(2);
    assert!(!h.state().phase_lab().settings.redraw);
    let generation = h.state().phase_lab().network_generation();
    set_slider(&mut h, "β", 2.5);
    // Wait for the rescaled network and some of its steps (the rebuild of
    // an N = 2,048 network takes a while in a debug build).
    wait_while(
        &mut h,
        Duration::from_secs(60),
        "the rescaled network",
        |a| a.phase_lab().network_generation() == generation,
    );
    let received = h.state().phase_lab().steps_received;
    wait_while(
        &mut h,
        Duration::from_secs(60),
        "steps after β changed",
        |a| a.phase_lab().steps_received < received + 50,
    );
    assert!(h.state().phase_lab().start_stats().is_empty());
}

/// The band of expected network-to-network scatter belongs to the current
/// parameters (gone when they change, back once they settle) and narrows
/// with N (independent networks' time-averaged |m| scatter as 1/√N: a
/// factor 4 from N = 64 to 1,024; with 6 networks each s.d. is known to
/// about ±30 %, so "more than 2× narrower" is the test).
#[test]
fn the_expected_scatter_band_follows_the_parameters_and_narrows_with_n() {
    let mut h = lab();
    set_slider(&mut h, "β", 2.0);
    set_slider(&mut h, "N", 64.0);
    wait_while(&mut h, Duration::from_secs(60), "band at N = 64", |a| {
        a.phase_lab().band().is_none()
    });
    let small = h.state().phase_lab().band().unwrap();
    set_slider(&mut h, "N", 1024.0);
    assert!(
        h.state().phase_lab().band().is_none(),
        "a band of other parameters is shown"
    );
    wait_while(&mut h, Duration::from_secs(120), "band at N = 1024", |a| {
        a.phase_lab().band().is_none()
    });
    let large = h.state().phase_lab().band().unwrap();
    assert!(small.m.1 > 2.0 * large.m.1, "{small:?} vs {large:?}");
    // Both centred near the theory (|m| ≈ 0.72 at β = 2, J0 = 1, ΔJ = 0.5)
    // within their own spread.
    let th = h.state().phase_lab().theory().unwrap().m;
    assert!(
        (large.m.0 - th).abs() < 3.0 * large.m.1 + 0.01,
        "{large:?} vs {th}"
    );
}

/// Presentation mode (View menu or F5) zooms the UI and thickens lines;
/// every plot's Enlarge shows it to the whole window until Esc.
#[test]
fn presentation_mode_and_enlarged_plots() {
    use isingscope::app::plots;
    let mut h = lab();
    h.get_by_label("View").click();
    h.run_steps(3);
    h.get_by_label("Presentation mode").click();
    h.run_steps(3);
    assert!(plots::presentation(&h.ctx));
    assert_eq!(h.ctx.zoom_factor(), plots::PRESENTATION_ZOOM);
    assert_eq!(plots::line_width(&h.ctx), 4.0);
    h.key_press(egui::Key::Escape);
    h.run_steps(1);
    h.key_press(egui::Key::F5);
    h.run_steps(2);
    assert!(!plots::presentation(&h.ctx));
    assert_eq!(h.ctx.zoom_factor(), 1.0);
    let buttons = h.query_all_by_label("Enlarge").count();
    assert!(buttons >= 5, "{buttons} enlarge buttons");
    h.query_all_by_label("Enlarge").next().unwrap().click();
    h.run_steps(2);
    assert_eq!(plots::enlarged(&h.ctx).as_deref(), Some("lab_raster"));
    // An area's first frame only measures it.
    h.run_steps(2);
    h.get_by_label("Close (Esc)");
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert_eq!(plots::enlarged(&h.ctx), None);
}

/// A sweep run at other parameters is marked as such.
#[test]
fn a_sweep_from_other_parameters_is_marked_stale() {
    let mut h = lab();
    set_fields(&mut h, &[("points", 2.0), ("networks", 2.0)]);
    set_slider(&mut h, "N", 16.0);
    h.get_by_label("Run sweep").click();
    h.run_steps(2);
    assert!(!h.state().phase_lab().sweep_is_stale());
    set_slider(&mut h, "ΔJ", 0.9);
    assert!(h.state().phase_lab().sweep_is_stale());
    h.get_by_label_contains("Stale: this sweep was run with");
    // Moving the scanned parameter (β) does not make a β sweep stale.
    set_slider(&mut h, "ΔJ", 0.5);
    set_slider(&mut h, "β", 3.0);
    assert!(!h.state().phase_lab().sweep_is_stale());
}
