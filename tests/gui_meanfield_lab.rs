//! GUI test of the Mean-field lab tab, driven by widget labels.
#![cfg(feature = "gui")]

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use isingscope::meanfield::Method;
use isingscope::meanfield::Quadrature;
use isingscope::meanfield::compare::{CompareInit, CompareOptions, Reference, compare_forward};
use isingscope::model::SkParams;
use isingscope::progress::{NoProgress, StopToken};
use rand::SeedableRng;

mod gui_common;
use gui_common::{app_on_tab, set_fields, wait_while};

/// A small sweep (N = 6: exact reference) runs in the background and shows
/// the same errors as the library's comparison of the same network (the
/// tab's SK draw with seed 0), method by method and β by β. Tolerance as in
/// the CLI test: parallel sums may move entries by ~1e-15, a mean squared
/// error e by at most 2e-15·√e.
#[test]
fn sweep_runs_and_matches_the_library() {
    let mut h = app_on_tab("Mean-field lab", 1280.0, 900.0);
    set_fields(
        &mut h,
        &[
            ("N", 6.0),
            ("β from", 0.2),
            ("β to", 1.0),
            ("β points", 3.0),
            ("steps T", 5.0),
        ],
    );
    h.get_by_label("Run sweep").click();
    wait_while(&mut h, Duration::from_secs(120), "sweep", |a| {
        a.meanfield_lab().busy()
    });
    let lab = h.state().meanfield_lab();
    let o = lab.outcome.as_ref().expect("a finished sweep");
    assert_eq!(o.results.len(), 3);
    let s = &lab.settings;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(s.seed);
    let base = SkParams {
        n: 6,
        j0: s.j0,
        dj: s.dj,
        h0: s.h0,
        beta: 1.0,
    }
    .draw(&mut rng)
    .unwrap();
    let methods: Vec<Method> = Method::ALL
        .iter()
        .copied()
        .filter(|m| *m != Method::PlefkaT1O1)
        .collect();
    let opts = CompareOptions {
        steps: 5,
        init: CompareInit::AllUp,
        reference: Reference::Exact,
        methods: methods.clone(),
        quadrature: Quadrature::Riemann20,
    };
    for (r, beta) in o.results.iter().zip([0.2, 0.6, 1.0]) {
        assert!((r.beta - beta).abs() < 1e-12);
        let want = compare_forward(
            &base.with_beta(r.beta).unwrap(),
            &opts,
            &NoProgress,
            &StopToken::new(),
        )
        .unwrap();
        assert_eq!(r.methods.len(), methods.len());
        for (got, want) in r.methods.iter().zip(&want.methods) {
            assert_eq!(got.method, want.method);
            let (g, w) = (got.errors.unwrap(), want.errors.unwrap());
            for (a, b) in [(g.m, w.m), (g.c, w.c), (g.d, w.d)] {
                assert!(
                    (a - b).abs() <= 2e-15 * b.sqrt() + 1e-30,
                    "{:?} at {beta}",
                    got.method
                );
            }
        }
    }
    // The results are drawn: the per-β selector and the error plots.
    h.get_by_label("Show β:");
}

/// Sessions are user files: out-of-range lab settings are reset to their
/// defaults and named.
#[test]
fn bad_session_settings_are_reset_and_named() {
    use isingscope::app::meanfield_lab::LabSettings;
    let d = LabSettings::default();
    let bad = LabSettings {
        n: 0,
        beta_to: f64::NAN,
        points: 10_000,
        enabled: vec![true],
        ..d.clone()
    };
    let (v, dropped) = bad.validated();
    assert_eq!(v, d);
    assert_eq!(dropped, vec!["N", "β to", "β points", "methods"]);
    let (same, none) = d.clone().validated();
    assert_eq!(same, d);
    assert!(none.is_empty());
}
