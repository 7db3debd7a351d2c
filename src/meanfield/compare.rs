//! Forward mean-field methods against the true dynamics: the comparison of
//! the Plefka paper (its figure of errors against β), for any network.
//!
//! For one network (raw H, J) at inverse temperature β, every method runs
//! `T` steps from the same initial state as a reference:
//!
//! * **exact**: the 2^N distribution evolved step by step (N ≤ 12);
//! * **simulation**: R independent trials of the true dynamics, counted
//!   step by step without storing the raster ([`crate::model::moment_stream`]).
//!
//! The errors are squared differences at the final step T, averaged
//!
//! ```text
//! err_m = (1/N)        Σ_i      (m_i − m_i^ref)²
//! err_C = (1/(N(N−1))) Σ_{i≠k}  (C_ik − C_ik^ref)²
//! err_D = (1/N²)       Σ_{i,l}  (D_il − D_il^ref)²
//! ```
//!
//! with `D_il = <s_i(T) s_l(T−1)> − m_i(T) m_l(T−1)` (row = later time), the
//! definitions of `isingscope forward` and `isingscope exact`, so every
//! value can be recomputed from those two commands' outputs.

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;

use super::{ForwardOptions, Method, Quadrature, forward};
use crate::model::KineticIsing;
use crate::model::exact::{ExactEvolver, ExactInit};
use crate::model::moment_stream::{
    DEFAULT_CHUNK_TRIALS, KeptSteps, MomentStreamOptions, simulate_moments,
};
use crate::model::simulate::{InitialState, SimulationOptions};
use crate::progress::{NoProgress, Progress, StopToken};
use crate::{Error, Result};

/// Largest network the exact reference enumerates (2^N states).
pub const MAX_EXACT_N: usize = 12;

/// The state every trial (and every method) starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CompareInit {
    /// All spins +1 (the paper's choice): m0 = 1, C0 = 0.
    AllUp,
    /// Independent spins ±1 with probability 1/2: m0 = 0, C0 = 0.
    Random,
}

/// What the methods are compared against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reference {
    /// The exact distribution (N ≤ [`MAX_EXACT_N`]).
    Exact,
    /// `trials` simulated trials, seeded with `seed` at every β.
    Simulation {
        /// Number of trials R.
        trials: usize,
        /// Seed of the trials' random streams.
        seed: u64,
    },
}

/// Options of a comparison run.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    /// Steps T (≥ 1); errors are taken at step T.
    pub steps: usize,
    /// Initial state.
    pub init: CompareInit,
    /// Reference dynamics.
    pub reference: Reference,
    /// Methods to run, in this order.
    pub methods: Vec<Method>,
    /// Gaussian rule of Plefka[t−1].
    pub quadrature: Quadrature,
}

/// Moments at the final step of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalMoments {
    /// `m_i(T)`.
    pub m: DVector<f64>,
    /// `m_l(T−1)` (D refers to it).
    pub m_prev: DVector<f64>,
    /// `C_ik(T)`.
    pub c: DMatrix<f64>,
    /// `D_il(T)`, row i at T, column l at T−1.
    pub d: DMatrix<f64>,
}

/// Squared errors of a prediction (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SquaredErrors {
    /// Mean over neurons of `(m − m_ref)²`.
    pub m: f64,
    /// Mean over pairs i ≠ k of `(C − C_ref)²` (0 when N = 1).
    pub c: f64,
    /// Mean over all N² entries of `(D − D_ref)²`.
    pub d: f64,
}

/// How a method's run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum MethodStatus {
    /// Ran all steps.
    Ok,
    /// Diverged (non-finite values or covariances out of range): its
    /// prediction is meaningless and no errors are given.
    Diverged(String),
}

/// One method's result at one β.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodComparison {
    /// The method.
    pub method: Method,
    /// Its errors at step T, `None` when it diverged.
    pub errors: Option<SquaredErrors>,
    /// Its final moments, `None` when it diverged.
    pub prediction: Option<FinalMoments>,
    /// Its mean m(t) over neurons, t = 0 ..= T, `None` when it diverged.
    pub mean_m: Option<Vec<f64>>,
    /// Whether it ran.
    pub status: MethodStatus,
}

/// Every method against the reference at one β.
#[derive(Clone, Debug, PartialEq)]
pub struct BetaComparison {
    /// The inverse temperature.
    pub beta: f64,
    /// The reference's final moments.
    pub reference: FinalMoments,
    /// Mean m(t) of the reference over neurons, t = 0 ..= T.
    pub reference_mean_m: Vec<f64>,
    /// For a simulated reference, the squared error its own sampling noise
    /// is expected to have (see [`sampling_noise`]): errors near it are
    /// not resolved. `None` for the exact reference.
    pub reference_noise: Option<SquaredErrors>,
    /// One entry per requested method, in order.
    pub methods: Vec<MethodComparison>,
}

/// Squared errors of `pred` against `reference` (see the module docs).
pub fn squared_errors(pred: &FinalMoments, reference: &FinalMoments) -> SquaredErrors {
    let n = reference.m.len();
    let nf = n as f64;
    let m = pred
        .m
        .iter()
        .zip(reference.m.iter())
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / nf;
    let mut c_sum = 0.0;
    let mut d_sum = 0.0;
    for i in 0..n {
        for k in 0..n {
            if i != k {
                c_sum += (pred.c[(i, k)] - reference.c[(i, k)]).powi(2);
            }
            d_sum += (pred.d[(i, k)] - reference.d[(i, k)]).powi(2);
        }
    }
    let pairs = nf * (nf - 1.0);
    SquaredErrors {
        m,
        c: if n > 1 { c_sum / pairs } else { 0.0 },
        d: d_sum / (nf * nf),
    }
}

/// The expected squared error of moments estimated from `trials`
/// independent trials, averaged as in [`squared_errors`]: a sample mean of
/// ±1 products `x` has variance `(1 − <x>²)/R`, so
/// `noise_m = mean_i (1 − m_i²)/R`, `noise_C = mean_{i≠k} (1 − <s_i s_k>²)/R`
/// with `<s_i s_k> = C_ik + m_i m_k`, and likewise for D with
/// `<s_i(T) s_l(T−1)>` (terms of order 1/R² from the estimated means are
/// left out). A method whose error is near this floor is as good as the
/// reference can tell.
pub fn sampling_noise(reference: &FinalMoments, trials: usize) -> SquaredErrors {
    let n = reference.m.len();
    let r = trials.max(1) as f64;
    let nf = n as f64;
    let m = reference.m.iter().map(|x| (1.0 - x * x) / r).sum::<f64>() / nf;
    let (mut c, mut d) = (0.0, 0.0);
    for i in 0..n {
        for k in 0..n {
            let mi = reference.m[i];
            if i != k {
                let x = (reference.c[(i, k)] + mi * reference.m[k]).clamp(-1.0, 1.0);
                c += (1.0 - x * x) / r;
            }
            let y = (reference.d[(i, k)] + mi * reference.m_prev[k]).clamp(-1.0, 1.0);
            d += (1.0 - y * y) / r;
        }
    }
    SquaredErrors {
        m,
        c: if n > 1 { c / (nf * (nf - 1.0)) } else { 0.0 },
        d: d / (nf * nf),
    }
}

/// Run the reference and every method at the model's own β.
///
/// `progress` counts the reference as one unit and each method as one.
/// A method that diverges is reported in its status; any other error
/// (cancellation, a bad option) ends the run.
pub fn compare_forward(
    model: &KineticIsing,
    opts: &CompareOptions,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<BetaComparison> {
    if opts.steps == 0 {
        return Err(Error::param("steps", 0, "run at least one step"));
    }
    let total = 1 + opts.methods.len() as u64;
    let (reference, reference_mean_m) = run_reference(model, opts, stop)?;
    progress.report(1, total);
    let n = model.n();
    let m0 = match opts.init {
        CompareInit::AllUp => DVector::from_element(n, 1.0),
        CompareInit::Random => DVector::zeros(n),
    };
    let fwd = ForwardOptions {
        steps: opts.steps,
        quadrature: opts.quadrature,
        snapshots: Vec::new(),
    };
    let mut methods = Vec::with_capacity(opts.methods.len());
    for (k, &method) in opts.methods.iter().enumerate() {
        stop.check()?;
        let entry = match forward(method, model, &m0, &fwd, &NoProgress, stop) {
            Ok(res) => {
                let last = res
                    .last()
                    .ok_or_else(|| Error::NotEnoughData("the forward run kept no step".into()))?;
                let m =
                    res.m.last().cloned().ok_or_else(|| {
                        Error::NotEnoughData("the forward run kept no step".into())
                    })?;
                let m_prev = res
                    .m
                    .get(res.m.len().saturating_sub(2))
                    .cloned()
                    .unwrap_or_else(|| m.clone());
                let pred = FinalMoments {
                    m,
                    m_prev,
                    c: last.c.clone(),
                    d: last.d.clone(),
                };
                let mean_m = res
                    .m
                    .iter()
                    .map(|m| m.iter().sum::<f64>() / n as f64)
                    .collect();
                MethodComparison {
                    method,
                    errors: Some(squared_errors(&pred, &reference)),
                    prediction: Some(pred),
                    mean_m: Some(mean_m),
                    status: MethodStatus::Ok,
                }
            }
            Err(Error::Diverged { step, reason, .. }) => MethodComparison {
                method,
                errors: None,
                prediction: None,
                mean_m: None,
                status: MethodStatus::Diverged(format!("step {step}: {reason}")),
            },
            Err(e) => return Err(e),
        };
        methods.push(entry);
        progress.report(2 + k as u64, total);
    }
    let reference_noise = match opts.reference {
        Reference::Exact => None,
        Reference::Simulation { trials, .. } => Some(sampling_noise(&reference, trials)),
    };
    Ok(BetaComparison {
        beta: model.beta(),
        reference,
        reference_mean_m,
        reference_noise,
        methods,
    })
}

/// The reference's final moments and its mean m(t), t = 0 ..= T.
fn run_reference(
    model: &KineticIsing,
    opts: &CompareOptions,
    stop: &StopToken,
) -> Result<(FinalMoments, Vec<f64>)> {
    let n = model.n();
    let mean = |m: &DVector<f64>| m.iter().sum::<f64>() / n as f64;
    match opts.reference {
        Reference::Exact => {
            if n > MAX_EXACT_N {
                return Err(Error::param(
                    "reference",
                    "exact",
                    format!(
                        "the exact reference enumerates 2^N states: N = {n} is over {MAX_EXACT_N}; use the simulation reference"
                    ),
                ));
            }
            let init = match opts.init {
                CompareInit::AllUp => ExactInit::AllUp,
                CompareInit::Random => ExactInit::Product(vec![0.0; n]),
            };
            let mut ev = ExactEvolver::new(model, &init)?;
            let mut m_prev = ev.magnetisations();
            let mut means = vec![mean(&m_prev)];
            let mut last = None;
            for _ in 0..opts.steps {
                stop.check()?;
                let st = ev.step();
                means.push(mean(&st.m));
                if let Some(prev) = last.replace(st) {
                    m_prev = prev.m;
                }
            }
            let st = last.ok_or_else(|| Error::param("steps", 0, "run at least one step"))?;
            Ok((
                FinalMoments {
                    m: st.m,
                    m_prev,
                    c: st.c,
                    d: st.d,
                },
                means,
            ))
        }
        Reference::Simulation { trials, seed } => {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
            let sim = MomentStreamOptions {
                sim: SimulationOptions {
                    steps: opts.steps,
                    trials,
                    init: match opts.init {
                        CompareInit::AllUp => InitialState::AllUp,
                        CompareInit::Random => InitialState::Random,
                    },
                },
                kept: KeptSteps::Final,
                chunk_trials: DEFAULT_CHUNK_TRIALS,
            };
            let s = simulate_moments(model, &sim, &mut rng, &NoProgress, stop)?;
            let means = (0..=opts.steps).map(|t| mean(&s.m_at(t))).collect();
            let mo = s
                .moments(0)
                .ok_or_else(|| Error::NotEnoughData("the simulation kept no step".into()))?;
            Ok((
                FinalMoments {
                    m: mo.m,
                    m_prev: mo.m_prev,
                    c: mo.c,
                    d: mo.d,
                },
                means,
            ))
        }
    }
}
