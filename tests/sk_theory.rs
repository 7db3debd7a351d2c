//! Tests of the exact large-N theory of the asymmetric SK model
//! (`isingscope::sk_theory`): reference values, limits, simulation, CLI.

use std::path::PathBuf;

use isingscope::progress::{NoProgress, StopToken};
use isingscope::sk_theory::{
    GridAxis, SkParameter, SkPoint, SkQuantity, critical_beta, critical_j0, grid, ordered_dj_limit,
    relax, solve_stationary,
};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sk_theory")
        .join(name)
}

/// Rows of a reference CSV as (header, values); "inf" parses as infinity.
fn read_csv(name: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(data(name)).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| v.trim().parse::<f64>().unwrap())
                .collect()
        })
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

#[test]
fn beta_sweep_matches_the_high_precision_reference() {
    // Reference: an independent high-precision solver (root finding,
    // 801-node trapezoid, verified to ~1e-15 by grid refinement; README).
    // Our quadrature errors are ≲ 1e-14 (see `quadrature`) and both solvers
    // converge their roots to rounding level, so beyond the 1e-6 we
    // require 1e-11 for every quantity: 1000× the combined error budget,
    // and far below what any wrong equation or quadrature would give.
    let (h, rows) = read_csv("beta_sweep_J0-1_Js-0.5_H0-0.csv");
    let (j0, js, h0, beta) = (col(&h, "J0"), col(&h, "Js"), col(&h, "H0"), col(&h, "beta"));
    let names = ["m_hp", "q_hp", "sigma_hp", "S_hp", "Sr_hp"];
    let idx: Vec<usize> = names.iter().map(|n| col(&h, n)).collect();
    let mut worst = [0.0f64; 5];
    for r in &rows {
        let p = SkPoint {
            beta: r[beta],
            j0: r[j0],
            dj: r[js],
            h0: r[h0],
        };
        let s = solve_stationary(&p).unwrap();
        let got = [s.m, s.q, s.sigma_per_n, s.s_per_n, s.sr_per_n];
        for k in 0..5 {
            let d = (got[k] - r[idx[k]]).abs();
            worst[k] = worst[k].max(d);
            assert!(
                d < 1e-6,
                "beta = {}: {} = {} vs {}",
                r[beta],
                names[k],
                got[k],
                r[idx[k]]
            );
        }
    }
    eprintln!("worst |ours - hp| for {names:?}: {worst:?}");
    for (k, w) in worst.iter().enumerate() {
        assert!(*w < 1e-11, "{}: {w}", names[k]);
    }
}

#[test]
fn critical_line_matches_the_high_precision_reference() {
    let (h, rows) = read_csv("critical_line_H0-0.csv");
    let (js, bc, jc) = (
        col(&h, "Js"),
        col(&h, "beta_c_hp"),
        col(&h, "J0c_at_beta1_hp"),
    );
    let mut worst = (0.0f64, 0.0f64);
    for r in &rows {
        let ours = critical_beta(1.0, r[js], 0.0);
        if r[bc].is_infinite() {
            assert_eq!(ours, None, "dJ = {}", r[js]);
        } else {
            let b = ours.unwrap_or_else(|| panic!("dJ = {}: no transition", r[js]));
            // The reference β_c is accurate to ~5e-10 (README); its relative
            // sensitivity grows near the asymptote, so compare relatively.
            let d = (b - r[bc]).abs() / r[bc];
            worst.0 = worst.0.max(d);
            assert!(d < 1e-6, "dJ = {}: beta_c {b} vs {}", r[js], r[bc]);
        }
        let j = critical_j0(1.0, r[js], 0.0).unwrap();
        let d = (j - r[jc]).abs();
        worst.1 = worst.1.max(d);
        assert!(d < 1e-6, "dJ = {}: J0_c {j} vs {}", r[js], r[jc]);
    }
    eprintln!("worst relative beta_c and absolute J0_c differences: {worst:?}");
    assert!(worst.0 < 1e-11 && worst.1 < 1e-11, "{worst:?}");
}

#[test]
fn beta_zero_gives_no_order_no_entropy_production_and_log2_entropy() {
    for (j0, dj, h0) in [(1.0, 0.5, 0.0), (2.0, 1.0, 0.7), (-1.0, 0.3, 2.0)] {
        let s = solve_stationary(&SkPoint {
            beta: 0.0,
            j0,
            dj,
            h0,
        })
        .unwrap();
        assert_eq!((s.m, s.q, s.sigma_per_n), (0.0, 0.0, 0.0));
        assert!((s.s_per_n - 2f64.ln()).abs() < 1e-15);
        assert!((s.sr_per_n - 2f64.ln()).abs() < 1e-15);
        assert!(!s.ordered);
    }
}

/// Averaged Curie–Weiss magnetisation `m = ⟨tanh(a m + h)⟩_h`, h ~ U[−w, w],
/// by bisection with a 2000-point midpoint rule for the average (error
/// ≈ (2w)²/(24·2000²)·max|tanh''| ≲ 1e-8 for w ≤ 1; independent of the
/// library's closed forms).
fn curie_weiss(a: f64, w: f64) -> f64 {
    let avg = |m: f64| -> f64 {
        if w == 0.0 {
            return (a * m).tanh();
        }
        let n = 2000;
        (0..n)
            .map(|i| {
                let h = -w + (i as f64 + 0.5) * 2.0 * w / n as f64;
                (a * m + h).tanh()
            })
            .sum::<f64>()
            / n as f64
    };
    let (mut lo, mut hi) = (1e-9, 1.0);
    if avg(lo) - lo <= 0.0 {
        return 0.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if avg(mid) - mid > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[test]
fn small_dj_reduces_to_the_averaged_curie_weiss_equation() {
    for (beta, j0, h0) in [
        (1.5, 1.0, 0.0),
        (2.0, 1.0, 0.5),
        (0.8, 2.0, 0.9),
        (1.2, 1.0, 0.0),
    ] {
        let cw = curie_weiss(beta * j0, beta * h0);
        for dj in [0.0, 1e-5] {
            let s = solve_stationary(&SkPoint { beta, j0, dj, h0 }).unwrap();
            // ΔJ = 1e-5 shifts m by O((βΔJ)²) ≈ 1e-10; the midpoint rule
            // costs ≲ 1e-8.
            assert!(
                (s.m - cw).abs() < 2e-8,
                "beta={beta} j0={j0} h0={h0} dj={dj}: {} vs {cw}",
                s.m
            );
            if dj == 0.0 {
                // No coupling disorder: q = ⟨tanh²(a m + h)⟩_h, σ = 0.
                let q = if h0 == 0.0 {
                    (beta * j0 * cw).tanh().powi(2)
                } else {
                    let w = beta * h0;
                    1.0 - ((beta * j0 * cw + w).tanh() - (beta * j0 * cw - w).tanh()) / (2.0 * w)
                };
                assert!((s.q - q).abs() < 5e-8, "q {} vs {q}", s.q);
                assert_eq!(s.sigma_per_n, 0.0);
            }
        }
    }
}

#[test]
fn critical_beta_is_one_for_the_curie_weiss_point_and_matches_the_spec_values() {
    assert!((critical_beta(1.0, 0.0, 0.0).unwrap() - 1.0).abs() < 1e-15);
    assert!((critical_beta(2.0, 0.0, 0.0).unwrap() - 0.5).abs() < 1e-15);
    // Spec §6.5, J0 = 1, H0 = 0 (quoted to the digits shown there).
    for (dj, bc, tol) in [
        (0.03, 1.0009, 1e-4),
        (0.5, 1.3485, 1e-4),
        (0.6, 1.6281, 1e-4),
        (0.76, 3.683, 1e-3),
        (0.79, 8.08, 1e-2),
    ] {
        let b = critical_beta(1.0, dj, 0.0).unwrap();
        assert!((b - bc).abs() < tol, "dJ = {dj}: {b} vs {bc}");
    }
    // Spec §6.5, J0 = 1, ΔJ = 0.2 against H0.
    for (h0, bc) in [(0.0, 1.0417), (0.5, 1.1495), (0.95, 2.1013)] {
        let b = critical_beta(1.0, 0.2, h0).unwrap();
        assert!((b - bc).abs() < 1e-4, "H0 = {h0}: {b} vs {bc}");
    }
    for h0 in [1.0, 1.2, 3.0] {
        assert_eq!(critical_beta(1.0, 0.2, h0), None, "H0 = {h0} >= J0");
    }
    // ΔJ = 0, 0 < H0 < J0: closed form atanh(H0/J0)/H0.
    let b = critical_beta(1.0, 0.0, 0.5).unwrap();
    assert!((b - 0.5f64.atanh() / 0.5).abs() < 1e-14);
    // No ferromagnetic transition for J0 <= 0 or invalid input.
    for (j0, dj, h0) in [
        (0.0, 0.1, 0.0),
        (-1.0, 0.1, 0.0),
        (1.0, -0.1, 0.0),
        (1.0, f64::NAN, 0.0),
    ] {
        assert_eq!(critical_beta(j0, dj, h0), None);
    }
}

#[test]
fn phase_boundary_is_consistent_with_the_stationary_solution() {
    // Just above β_c the solver finds m > 0, just below m = 0; J0_c at β_c
    // gives back J0. Covers H0 = 0 and H0 > 0.
    for (j0, dj, h0) in [(1.0, 0.5, 0.0), (1.0, 0.2, 0.5), (1.5, 0.9, 0.3)] {
        let bc = critical_beta(j0, dj, h0).unwrap();
        let below = solve_stationary(&SkPoint {
            beta: bc * (1.0 - 1e-6),
            j0,
            dj,
            h0,
        })
        .unwrap();
        let above = solve_stationary(&SkPoint {
            beta: bc * (1.0 + 1e-4),
            j0,
            dj,
            h0,
        })
        .unwrap();
        assert!(!below.ordered && below.m == 0.0);
        assert!(above.ordered && above.m > 0.0 && above.m < 0.1, "{above:?}");
        let jc = critical_j0(bc, dj, h0).unwrap();
        assert!((jc - j0).abs() < 1e-12 * j0, "{jc} vs {j0}");
    }
    // Asymptotes: β_c diverges as ΔJ → √(2/π) J0 (H0 = 0) and as ΔJ → the
    // H0 > 0 limit; beyond them there is no transition.
    let lim0 = ordered_dj_limit(1.0, 0.0).unwrap();
    assert!((lim0 - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-15);
    assert!(critical_beta(1.0, lim0 * (1.0 - 1e-6), 0.0).unwrap() > 100.0);
    assert_eq!(critical_beta(1.0, lim0 * (1.0 + 1e-9), 0.0), None);
    let lim = ordered_dj_limit(1.0, 0.5).unwrap();
    assert!((lim - 0.7413).abs() < 1e-4, "{lim}");
    assert!(critical_beta(1.0, lim * (1.0 - 1e-4), 0.5).unwrap() > 10.0);
    assert_eq!(critical_beta(1.0, lim * (1.0 + 1e-6), 0.5), None);
    assert_eq!(ordered_dj_limit(1.0, 1.0), None);
}

#[test]
fn spec_example_with_random_fields_has_m_zero_and_frozen_overlap() {
    // Spec §6.2: J0 = 1, ΔJ = 0.2, H0 = 0.5, β = 0.8 → m = 0, q = 0.0490
    // (quoted to 4 digits).
    let s = solve_stationary(&SkPoint {
        beta: 0.8,
        j0: 1.0,
        dj: 0.2,
        h0: 0.5,
    })
    .unwrap();
    assert_eq!(s.m, 0.0);
    assert!((s.q - 0.0490).abs() < 5e-5, "q = {}", s.q);
    // q is the fixed point of the q-map: one relaxation step from the
    // stationary state stays there.
    let path = relax(
        &SkPoint {
            beta: 0.8,
            j0: 1.0,
            dj: 0.2,
            h0: 0.5,
        },
        0.0,
        400,
    )
    .unwrap();
    assert!(
        (path[399].q - s.q).abs() < 1e-12,
        "{} vs {}",
        path[399].q,
        s.q
    );
}

#[test]
fn large_beta_disordered_entropy_production_grows_like_sqrt_2_over_pi_beta_dj() {
    // Spec §6.3 example: ΔJ = 1, β = 4 → σ/N = 3.114.
    let s = solve_stationary(&SkPoint {
        beta: 4.0,
        j0: 1.0,
        dj: 1.0,
        h0: 0.0,
    })
    .unwrap();
    assert!((s.sigma_per_n - 3.114).abs() < 5e-4, "{}", s.sigma_per_n);
    // With q = 0: σ/N = b² k0(b), and b k0(b) = √(2/π)(1 − π²/(24 b²) + O(b⁻⁴))
    // (expand φ(y/b) under ∫ sech²(y) dy; ∫ y² sech² y dy = π²/6), so the
    // relative deviation from √(2/π) b is −π²/(24 b²) up to O(b⁻⁴).
    for beta in [20.0, 50.0, 200.0] {
        let s = solve_stationary(&SkPoint {
            beta,
            j0: 1.0,
            dj: 1.0,
            h0: 0.0,
        })
        .unwrap();
        assert!(!s.ordered && s.q == 0.0);
        let b = beta;
        let lead = (2.0 / std::f64::consts::PI).sqrt() * b;
        let rel = s.sigma_per_n / lead - 1.0;
        let expected = -std::f64::consts::PI.powi(2) / (24.0 * b * b);
        assert!(
            (rel - expected).abs() < 10.0 / b.powi(4),
            "beta = {beta}: {rel} vs {expected}"
        );
    }
}

#[test]
fn entropy_production_peaks_near_the_transition_in_the_ordered_case() {
    // Spec §6.3/6.7: for ΔJ < √(2/π) J0, σ/N rises with β, peaks near β_c
    // and decays in the ordered phase.
    let bc = critical_beta(1.0, 0.5, 0.0).unwrap();
    let curve: Vec<(f64, f64)> = (1..=400)
        .map(|i| {
            let beta = i as f64 * 0.01;
            (
                beta,
                solve_stationary(&SkPoint {
                    beta,
                    j0: 1.0,
                    dj: 0.5,
                    h0: 0.0,
                })
                .unwrap()
                .sigma_per_n,
            )
        })
        .collect();
    let (bmax, _) = curve
        .iter()
        .copied()
        .fold((0.0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    assert!((bmax - bc).abs() <= 0.01, "peak at {bmax}, beta_c = {bc}");
    assert!(curve.last().unwrap().1 < 0.5 * curve.iter().map(|c| c.1).fold(0.0, f64::max));
}

#[test]
fn relaxation_converges_to_the_stationary_state() {
    for p in [
        SkPoint {
            beta: 2.0,
            j0: 1.0,
            dj: 0.5,
            h0: 0.0,
        },
        SkPoint {
            beta: 1.5,
            j0: 1.0,
            dj: 0.2,
            h0: 0.5,
        },
        SkPoint {
            beta: 1.0,
            j0: 1.0,
            dj: 0.5,
            h0: 0.0,
        },
    ] {
        let s = solve_stationary(&p).unwrap();
        let path = relax(&p, 1.0, 300).unwrap();
        let last = path.last().unwrap();
        // Away from β_c the recursion contracts geometrically (rate
        // M'(m) ≲ 0.8 here): 300 steps reach rounding level.
        assert!(
            (last.m - s.m).abs() < 1e-12,
            "{p:?}: m {} vs {}",
            last.m,
            s.m
        );
        assert!(
            (last.q - s.q).abs() < 1e-12,
            "{p:?}: q {} vs {}",
            last.q,
            s.q
        );
        // t = 1 from all +1: q(1) = m(1) (s_i(0) = 1).
        assert_eq!(path[0].q, path[0].m);
    }
    assert!(
        relax(
            &SkPoint {
                beta: 1.0,
                j0: 1.0,
                dj: 0.5,
                h0: 0.0
            },
            1.5,
            3
        )
        .is_err()
    );
    // J0 < 0: the magnetisation alternates in sign and the overlap can be
    // negative; the recursion stays within [−1, 1].
    let path = relax(
        &SkPoint {
            beta: 1.0,
            j0: -3.0,
            dj: 0.3,
            h0: 0.0,
        },
        1.0,
        20,
    )
    .unwrap();
    assert!(path[0].m < 0.0 && path[1].m > 0.0 && path[0].q < 0.0);
    assert!(path.iter().all(|s| s.m.abs() <= 1.0 && s.q.abs() <= 1.0));
}

#[test]
fn grid_equals_pointwise_solutions_and_honours_stop() {
    let base = SkPoint {
        beta: 1.0,
        j0: 1.0,
        dj: 0.5,
        h0: 0.3,
    };
    let rows = GridAxis::linspace(SkParameter::Dj, 0.0, 1.0, 6).unwrap();
    let cols = GridAxis::linspace(SkParameter::Beta, 0.0, 4.0, 11).unwrap();
    let g = grid(
        &base,
        rows.clone(),
        cols.clone(),
        &NoProgress,
        &StopToken::new(),
    )
    .unwrap();
    assert_eq!(g.points.len(), 66);
    for (r, &dj) in rows.values.iter().enumerate() {
        for (c, &beta) in cols.values.iter().enumerate() {
            let s = solve_stationary(&SkPoint { beta, dj, ..base }).unwrap();
            let gs = g.at(r, c).unwrap();
            // Warm starts only change the Newton path, not the root.
            for q in SkQuantity::ALL {
                assert!(
                    (gs.get(q) - s.get(q)).abs() < 1e-13,
                    "{q:?} at dJ={dj}, beta={beta}"
                );
            }
        }
    }
    assert_eq!(g.values(SkQuantity::M).len(), 66);
    assert!(g.at(0, 11).is_none());
    let stop = StopToken::new();
    stop.stop();
    assert!(grid(&base, rows.clone(), cols, &NoProgress, &stop).is_err());
    assert!(grid(&base, rows.clone(), rows, &NoProgress, &StopToken::new()).is_err());
    assert!(GridAxis::linspace(SkParameter::Beta, 0.0, 1.0, 0).is_err());
}
