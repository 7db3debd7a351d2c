//! `meanfield::compare`: the reference's sampling-noise floor.

use isingscope::meanfield::compare::{
    CompareInit, CompareOptions, Reference, compare_forward, sampling_noise, squared_errors,
};
use isingscope::meanfield::{Method, Quadrature};
use isingscope::model::SkParams;
use isingscope::progress::{NoProgress, StopToken};
use rand::SeedableRng;

/// `sampling_noise` is the expected squared error of moments estimated from
/// R trials. Check it against the real thing: 200 independent simulated
/// references (R = 500) of a 6-spin network against its exact moments. For
/// m, `E (m̂ − m)² = (1 − m²)/R` exactly, so the mean over seeds of
/// err_m / noise_m is 1 up to sampling: each seed's err_m is a mean of 6
/// scaled χ²(1) (relative s.d. ≤ √(2/6) = 0.58), so the mean over 200 seeds
/// has s.d. ≤ 0.041: allow 5 s.d. (±0.2). C and D use the same variance of
/// a ±1 product, leaving out O(1/R²) terms from the estimated means: the
/// same band.
#[test]
fn sampling_noise_is_the_simulated_reference_error() {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(9);
    let model = SkParams {
        n: 6,
        j0: 0.8,
        dj: 0.7,
        h0: 0.4,
        beta: 1.0,
    }
    .draw(&mut rng)
    .unwrap();
    let exact = compare_forward(
        &model,
        &CompareOptions {
            steps: 3,
            init: CompareInit::AllUp,
            reference: Reference::Exact,
            methods: vec![],
            quadrature: Quadrature::Riemann20,
        },
        &NoProgress,
        &StopToken::new(),
    )
    .unwrap();
    assert!(exact.reference_noise.is_none());
    let seeds = 200;
    let mut ratio = [0.0; 3];
    for seed in 0..seeds {
        let sim = compare_forward(
            &model,
            &CompareOptions {
                steps: 3,
                init: CompareInit::AllUp,
                reference: Reference::Simulation { trials: 500, seed },
                methods: vec![Method::PlefkaT1TO1],
                quadrature: Quadrature::Riemann20,
            },
            &NoProgress,
            &StopToken::new(),
        )
        .unwrap();
        let err = squared_errors(&sim.reference, &exact.reference);
        // The floor from the exact moments (what the estimate targets).
        let floor = sampling_noise(&exact.reference, 500);
        ratio[0] += err.m / floor.m / seeds as f64;
        ratio[1] += err.c / floor.c / seeds as f64;
        ratio[2] += err.d / floor.d / seeds as f64;
        let reported = sim.reference_noise.unwrap();
        assert!((reported.m / floor.m - 1.0).abs() < 0.5);
    }
    for (q, r) in ratio.iter().enumerate() {
        assert!(
            (r - 1.0).abs() < 0.2,
            "moment {q}: mean error / noise = {r}"
        );
    }
}
