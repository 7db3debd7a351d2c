//! Mean-field (Plefka) approximations of the kinetic Ising model, forward
//! and inverse (spec `meanfield-sk.md` §2–3).
//!
//! The forward problem advances the magnetisations `m_i(t)`, equal-time
//! covariances `C_ik(t)` and delayed covariances
//! `D_il(t) = <s_i(t) s_l(t−1)> − m_i(t) m_l(t−1)` (row = later time) one
//! synchronous step at a time from an initial product state
//! (`m = m0`, `C = diag(1 − m0²)`, `D = 0`). Each method is a Plefka
//! expansion around a different solvable reference model, one file each:
//!
//! | [`Method`] | CLI name | reference model | file |
//! |---|---|---|---|
//! | `PlefkaT1TO1` | `plefka-t1-t-o1` (`nmf`) | no couplings (naive mean field) | [`plefka_t1_t`] |
//! | `PlefkaT1TO2` | `plefka-t1-t-o2` (`tap`) | same, 2nd order (dynamical TAP) | [`plefka_t1_t`] |
//! | `PlefkaTO1`, `PlefkaTO2` | `plefka-t-o1`, `plefka-t-o2` | couplings from t−1 kept | [`plefka_t`] |
//! | `PlefkaT1O1` | `plefka-t1-o1` | couplings at t kept (Gaussian field) | [`plefka_t1`] |
//! | `Plefka2TO1`, `Plefka2TO2` | `plefka2-t-o1`, `plefka2-t-o2` | one pair (i, l) kept | [`plefka2_t`] |
//!
//! All kernels take effective parameters (βH, βJ); the public entry points
//! take raw H, J and β. `J[(i, j)]` is the coupling from j at t−1 to i at t.
//!
//! Entry points: [`forward`] (a whole run with per-step summaries),
//! [`Propagator`] (step by step, for the app), [`inverse::fit_moments`]
//! (moment-matching inverse problem).
//!
//! A run that produces a non-finite value or an equal-time covariance with
//! |C_ik| > 1 stops with [`Error::Diverged`] naming the method and step.

pub mod compare;
pub mod inverse;
pub mod kernels;
pub mod plefka2_t;
pub mod plefka_t;
pub mod plefka_t1;
pub mod plefka_t1_t;
pub mod quadrature;
pub mod solve;

use std::sync::OnceLock;

use nalgebra::{DMatrix, DVector};

pub use quadrature::{Quadrature, Rule};

use crate::model::KineticIsing;
use crate::progress::{Progress, StopToken};
use crate::{Error, Result};

/// A mean-field approximation (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// Plefka[t−1,t] order 1: naive mean field.
    PlefkaT1TO1,
    /// Plefka[t−1,t] order 2: dynamical TAP.
    PlefkaT1TO2,
    /// Plefka[t] order 1 (identical to nMF in the forward problem).
    PlefkaTO1,
    /// Plefka[t] order 2.
    PlefkaTO2,
    /// Plefka[t−1] order 1: Gaussian effective field.
    PlefkaT1O1,
    /// Plefka2[t] order 1 (pairwise reference model).
    Plefka2TO1,
    /// Plefka2[t] order 2 (pairwise reference model).
    Plefka2TO2,
}

impl Method {
    /// Every method, in the order of the module table.
    pub const ALL: [Method; 7] = [
        Method::PlefkaT1TO1,
        Method::PlefkaT1TO2,
        Method::PlefkaTO1,
        Method::PlefkaTO2,
        Method::PlefkaT1O1,
        Method::Plefka2TO1,
        Method::Plefka2TO2,
    ];

    /// The CLI name, e.g. `plefka-t1-t-o2`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::PlefkaT1TO1 => "plefka-t1-t-o1",
            Method::PlefkaT1TO2 => "plefka-t1-t-o2",
            Method::PlefkaTO1 => "plefka-t-o1",
            Method::PlefkaTO2 => "plefka-t-o2",
            Method::PlefkaT1O1 => "plefka-t1-o1",
            Method::Plefka2TO1 => "plefka2-t-o1",
            Method::Plefka2TO2 => "plefka2-t-o2",
        }
    }

    /// The paper's name, e.g. `Plefka[t-1,t] order 2 (TAP)`.
    pub fn paper_name(&self) -> &'static str {
        match self {
            Method::PlefkaT1TO1 => "Plefka[t-1,t] order 1 (nMF)",
            Method::PlefkaT1TO2 => "Plefka[t-1,t] order 2 (TAP)",
            Method::PlefkaTO1 => "Plefka[t] order 1",
            Method::PlefkaTO2 => "Plefka[t] order 2",
            Method::PlefkaT1O1 => "Plefka[t-1] order 1",
            Method::Plefka2TO1 => "Plefka2[t] order 1",
            Method::Plefka2TO2 => "Plefka2[t] order 2",
        }
    }

    /// Expansion order (1 or 2).
    pub fn order(&self) -> u8 {
        match self {
            Method::PlefkaT1TO1 | Method::PlefkaTO1 | Method::PlefkaT1O1 | Method::Plefka2TO1 => 1,
            _ => 2,
        }
    }

    /// Parse a CLI name or alias (`nmf`, `tap`), case-insensitive; also
    /// accepts the reference's code names (`P_t1_t_o2`, …).
    pub fn from_name(s: &str) -> Result<Self> {
        let key = s.trim().to_ascii_lowercase().replace('_', "-");
        let found = match key.as_str() {
            "nmf" | "p-t1-t-o1" => Some(Method::PlefkaT1TO1),
            "tap" | "p-t1-t-o2" => Some(Method::PlefkaT1TO2),
            "p-t-o1" => Some(Method::PlefkaTO1),
            "p-t-o2" => Some(Method::PlefkaTO2),
            "p-t1-o1" => Some(Method::PlefkaT1O1),
            "p2-t-o1" => Some(Method::Plefka2TO1),
            "p2-t-o2" => Some(Method::Plefka2TO2),
            other => Method::ALL.into_iter().find(|m| m.name() == other),
        };
        found.ok_or_else(|| {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            Error::param(
                "method",
                s,
                format!(
                    "unknown mean-field method; use one of {}, nmf, tap",
                    names.join(", ")
                ),
            )
        })
    }

    /// Whether the dynamics read C(t−1) or D(t−1). Methods that do not
    /// (nMF, TAP, Plefka[t] o1, Plefka2[t] o1) can skip forming C and D at
    /// steps where nobody looks at them.
    pub fn reads_previous_covariances(&self) -> bool {
        matches!(
            self,
            Method::PlefkaTO2 | Method::PlefkaT1O1 | Method::Plefka2TO2
        )
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Method::from_name(s)
    }
}

/// The moments a method carries from step to step: current and previous
/// `m` (N), `C` (N × N, symmetric) and `D` (N × N, row = later time).
#[derive(Clone, Debug, PartialEq)]
pub struct MeanFieldState {
    /// `m_i(t)`.
    pub m: DVector<f64>,
    /// `C_ik(t)`.
    pub c: DMatrix<f64>,
    /// `D_il(t)`.
    pub d: DMatrix<f64>,
    /// `m_i(t−1)`.
    pub m_prev: DVector<f64>,
    /// `C_ik(t−1)`.
    pub c_prev: DMatrix<f64>,
    /// `D_il(t−1)`.
    pub d_prev: DMatrix<f64>,
}

impl MeanFieldState {
    /// The initial product state: `m = m0`, `C = diag(1 − m0²)`, `D = 0`;
    /// the "previous" moments are copies.
    pub fn initial(m0: &DVector<f64>) -> Self {
        let n = m0.len();
        let c = plefka_t1_t::c_diag(m0);
        let d = DMatrix::zeros(n, n);
        Self {
            m: m0.clone(),
            c: c.clone(),
            d: d.clone(),
            m_prev: m0.clone(),
            c_prev: c,
            d_prev: d,
        }
    }

    /// Number of spins N.
    pub fn n(&self) -> usize {
        self.m.len()
    }
}

/// Population averages after one step (what the app plots per step and the
/// CLI writes to `summary.csv`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepSummary {
    /// Steps done (0 = initial state).
    pub step: usize,
    /// `(1/N) Σ_i m_i`.
    pub mean_m: f64,
    /// Mean of `C_ik` over pairs `i ≠ k` (0 for N = 1).
    pub mean_c_offdiag: f64,
    /// Mean of all N² entries of C, diagonal included.
    pub mean_c_all: f64,
    /// Mean of all N² entries of D.
    pub mean_d: f64,
    /// `σ = Σ_il J_il (D_il − D_li)`, nats per step (effective J).
    pub entropy_production: f64,
}

impl StepSummary {
    /// Every field finite?
    fn is_finite(&self) -> bool {
        [
            self.mean_m,
            self.mean_c_offdiag,
            self.mean_c_all,
            self.mean_d,
            self.entropy_production,
        ]
        .iter()
        .all(|x| x.is_finite())
    }
}

/// Effective fields and couplings with derived quantities computed once.
#[derive(Debug)]
pub(crate) struct Net {
    /// βH.
    pub h: DVector<f64>,
    /// βJ.
    pub j: DMatrix<f64>,
    j_sq: OnceLock<DMatrix<f64>>,
    k: OnceLock<DMatrix<f64>>,
    kj_t: OnceLock<DMatrix<f64>>,
    panels_j: OnceLock<kernels::Panels<1>>,
    panels_o1: OnceLock<kernels::Panels<2>>,
    panels_o2: OnceLock<kernels::Panels<4>>,
}

impl Net {
    pub(crate) fn new(h: DVector<f64>, j: DMatrix<f64>) -> Self {
        Self {
            h,
            j,
            j_sq: OnceLock::new(),
            k: OnceLock::new(),
            kj_t: OnceLock::new(),
            panels_j: OnceLock::new(),
            panels_o1: OnceLock::new(),
            panels_o2: OnceLock::new(),
        }
    }
    /// `J ∘ J`.
    pub(crate) fn j_sq(&self) -> &DMatrix<f64> {
        self.j_sq.get_or_init(|| self.j.map(|x| x * x))
    }
    /// `K = J − Jᵀ`, for the entropy production from a full D (the
    /// methods that form D every step).
    pub(crate) fn k(&self) -> &DMatrix<f64> {
        // Y_li = J_li − J_il = K_li: K's transpose map is K itself.
        self.k
            .get_or_init(|| transposed_map(&self.j, |j, jt| jt - j))
    }
    /// `((J − Jᵀ) ∘ J)ᵀ` (entries computed as in [`Net::panels_o1`]),
    /// stored transposed because that is the faster one to build; products
    /// read it through `tr_mul`.
    pub(crate) fn kj_t(&self) -> &DMatrix<f64> {
        self.kj_t
            .get_or_init(|| transposed_map(&self.j, |j, jt| (j - jt) * j))
    }
    /// `J` packed, for the nMF dynamics of [`forward`].
    pub(crate) fn panels_j(&self) -> &kernels::Panels<1> {
        self.panels_j
            .get_or_init(|| kernels::Panels::from_j(&self.j, |j, _| [j]))
    }
    /// `J` and `(J − Jᵀ) ∘ J` packed for the per-step pass of nMF and
    /// Plefka[t] o1.
    pub(crate) fn panels_o1(&self) -> &kernels::Panels<2> {
        self.panels_o1
            .get_or_init(|| kernels::Panels::from_j(&self.j, |j, jt| [j, (j - jt) * j]))
    }
    /// `J`, `J∘J`, `(J − Jᵀ)∘J`, `(J − Jᵀ)∘J∘J` packed for the per-step
    /// pass of TAP.
    pub(crate) fn panels_o2(&self) -> &kernels::Panels<4> {
        // (J − Jᵀ)∘J and then ·J, in that order.
        self.panels_o2.get_or_init(|| {
            kernels::Panels::from_j(&self.j, |j, jt| {
                let kj = (j - jt) * j;
                [j, j * j, kj, kj * j]
            })
        })
    }
    /// `g = H + J m`.
    pub(crate) fn field(&self, m: &DVector<f64>) -> DVector<f64> {
        kernels::par_gemv(&self.j, m) + &self.h
    }
}

/// Summary from full C and D (N × N, D row = later time).
fn summary_full(net: &Net, m: &DVector<f64>, c: &DMatrix<f64>, d: &DMatrix<f64>) -> StepSummary {
    let n = m.len();
    let nf = n as f64;
    let sum_c = sum_lanes(c.as_slice());
    let trace = c.trace();
    StepSummary {
        step: 0,
        mean_m: m.mean(),
        mean_c_offdiag: if n > 1 {
            (sum_c - trace) / (nf * (nf - 1.0))
        } else {
            0.0
        },
        mean_c_all: sum_c / (nf * nf),
        mean_d: sum_lanes(d.as_slice()) / (nf * nf),
        // σ = Σ_il (J_il − J_li) D_il.
        entropy_production: dot_lanes(net.k().as_slice(), d.as_slice()),
    }
}

/// `Σ x` with eight partial sums, so the loop vectorises (the order
/// differs from a left-to-right sum only by rounding).
fn sum_lanes(x: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().sum();
    for ch in chunks {
        for (a, &v) in acc.iter_mut().zip(ch) {
            *a += v;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `Σ x_k y_k` with eight partial sums (see [`sum_lanes`]).
fn dot_lanes(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (cx, cy) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f64 = cx
        .remainder()
        .iter()
        .zip(cy.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (chx, chy) in cx.zip(cy) {
        for ((a, &p), &q) in acc.iter_mut().zip(chx).zip(chy) {
            *a += p * q;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// `Y` with `Y_li = f(J_il, J_li)`, i.e. the transpose of the elementwise
/// map `X_il = f(J_il, J_li)`, for square column-major J.
/// (Y is the one of the two that can be written line by line from the
/// tiles below.)
fn transposed_map(j: &DMatrix<f64>, f: impl Fn(f64, f64) -> f64) -> DMatrix<f64> {
    const W: usize = 8;
    let n = j.nrows();
    let js = j.as_slice();
    let mut y = DMatrix::<f64>::zeros(n, n);
    let ys = y.as_mut_slice();
    // 8 × 8 tiles: columns i0..i0+8 of Y (rows l0..l0+8) from the J tiles
    // at (l0.., i0..) (J_li) and (i0.., l0..) (J_il), one cache line per
    // tile column. Every load of a tile is issued before its stores: the
    // J_li lines sit at the same offsets as the Y lines written (columns
    // 4 KB apart for N = 512), and a load behind a store to the same offset
    // mod 4 KB stalls (4 KB aliasing; 5 ns per entry measured otherwise).
    for i0 in (0..n).step_by(W) {
        let wi = W.min(n - i0);
        for l0 in (0..n).step_by(W) {
            let wl = W.min(n - l0);
            let mut jli = [[0.0; W]; W];
            let mut jil = [[0.0; W]; W];
            for (r, row) in jli.iter_mut().take(wi).enumerate() {
                let i = i0 + r;
                row[..wl].copy_from_slice(&js[i * n + l0..i * n + l0 + wl]);
            }
            for (c, col) in jil.iter_mut().take(wl).enumerate() {
                let l = l0 + c;
                col[..wi].copy_from_slice(&js[l * n + i0..l * n + i0 + wi]);
            }
            for r in 0..wi {
                let i = i0 + r;
                let out = &mut ys[i * n + l0..i * n + l0 + wl];
                for (c, o) in out.iter_mut().enumerate() {
                    *o = f(jil[c][r], jli[r][c]);
                }
            }
        }
    }
    y
}

/// Summary of the initial product state `C = diag(1 − m0²)`, `D = 0`
/// (equal to [`summary_full`] of those matrices, without forming them).
fn summary_initial(m0: &DVector<f64>) -> StepSummary {
    let nf = m0.len() as f64;
    let sum_c = plefka_t1_t::one_minus_sq(m0).sum();
    StepSummary {
        step: 0,
        mean_m: m0.mean(),
        mean_c_offdiag: 0.0,
        mean_c_all: sum_c / (nf * nf),
        mean_d: 0.0,
        entropy_production: 0.0,
    }
}

/// Validate initial magnetisations against N.
fn check_m0(m0: &DVector<f64>, n: usize) -> Result<()> {
    if m0.len() != n {
        return Err(Error::shape("initial magnetisations m0", n, m0.len()));
    }
    if let Some(i) = m0.iter().position(|x| !x.is_finite() || x.abs() > 1.0) {
        return Err(Error::param(
            "m0",
            m0[i],
            format!("entry {i}: magnetisations must lie in [-1, 1]"),
        ));
    }
    Ok(())
}

/// Advances one method step by step (the app animates with it).
///
/// Laziness: for methods whose dynamics do not read C(t−1), D(t−1)
/// ([`Method::reads_previous_covariances`] false), [`Propagator::step`]
/// with `full = false` skips forming C and D; the summary is then computed
/// from closed forms (see [`plefka_t1_t`]). [`Propagator::moments_step`]
/// tells which step `state().c` and `state().d` belong to. These methods
/// keep no `state().c_prev`, `state().d_prev` (0 × 0), and their `c`, `d`
/// are 0 × 0 until the first step that forms them (the initial ones are
/// `diag(1 − m0²)` and 0).
#[derive(Debug)]
pub struct Propagator {
    method: Method,
    net: Net,
    rule: Rule,
    state: MeanFieldState,
    steps_done: usize,
    moments_step: usize,
}

impl Propagator {
    /// Prepare a run of `method` on `model` (raw H, J, β) from the initial
    /// magnetisations `m0` (length N, entries in [−1, 1]).
    pub fn new(
        method: Method,
        model: &KineticIsing,
        m0: &DVector<f64>,
        quadrature: Quadrature,
    ) -> Result<Self> {
        let net = Net::new(model.effective_h(), model.effective_j());
        check_m0(m0, net.h.len())?;
        Ok(Self::from_effective(method, net, m0, quadrature.rule()?))
    }

    fn from_effective(method: Method, net: Net, m0: &DVector<f64>, rule: Rule) -> Self {
        let state = if method.reads_previous_covariances() {
            MeanFieldState::initial(m0)
        } else {
            // The covariances are never read by the dynamics: do not
            // allocate (and page in) N × N matrices before a step asks for
            // them (about 1 ms of page faults each at N = 512).
            MeanFieldState {
                m: m0.clone(),
                c: DMatrix::zeros(0, 0),
                d: DMatrix::zeros(0, 0),
                m_prev: m0.clone(),
                c_prev: DMatrix::zeros(0, 0),
                d_prev: DMatrix::zeros(0, 0),
            }
        };
        Self {
            method,
            net,
            rule,
            state,
            steps_done: 0,
            moments_step: 0,
        }
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }
    /// Steps done so far.
    pub fn steps_done(&self) -> usize {
        self.steps_done
    }
    /// The current state. `m`, `m_prev` are always current; `c`, `d` belong
    /// to step [`Propagator::moments_step`]; `c_prev`, `d_prev` are kept
    /// only by methods that read them.
    pub fn state(&self) -> &MeanFieldState {
        &self.state
    }
    /// The state, consumed (moves C and D out instead of copying them).
    pub fn into_state(self) -> MeanFieldState {
        self.state
    }
    /// The step at which `state().c` and `state().d` were last formed.
    pub fn moments_step(&self) -> usize {
        self.moments_step
    }
    /// Summary of the current state from its full moments (valid when
    /// `moments_step() == steps_done()`).
    pub fn summary_now(&self) -> StepSummary {
        let mut s = if self.moments_step == 0 {
            summary_initial(&self.state.m)
        } else {
            summary_full(&self.net, &self.state.m, &self.state.c, &self.state.d)
        };
        s.step = self.moments_step;
        s
    }

    /// Advance one step. With `full = true` C and D are always formed.
    /// Errors with [`Error::Diverged`] on non-finite values or |C_ik| > 1.
    pub fn step(&mut self, full: bool) -> Result<StepSummary> {
        let step = self.steps_done + 1;
        let st = &mut self.state;
        std::mem::swap(&mut st.m, &mut st.m_prev);
        if self.method.reads_previous_covariances() {
            std::mem::swap(&mut st.c, &mut st.c_prev);
            std::mem::swap(&mut st.d, &mut st.d_prev);
        }
        let net = &self.net;
        let mut formed = true;
        let summary = match self.method {
            Method::PlefkaT1TO1 | Method::PlefkaTO1 => {
                // Plefka[t] o1 propagates a diagonal C(t−1) = diag(1 − m(t−1)²)
                // (the initial state too), so both methods have
                // D_il = A_i J_il a_l (spec §2.3). m and the closed-form
                // summary come from one pass over J; the summary is the
                // closed form at every step, so it does not depend on
                // which steps form C and D ([`Propagator::summary_now`]
                // gives the one from the matrices).
                let (m, summary) = plefka_t1_t::step_o1(net, &st.m_prev);
                st.m = m;
                if full {
                    (st.c, st.d) = form_o1(self.method, net, &st.m, &st.m_prev);
                } else {
                    formed = false;
                }
                summary
            }
            Method::PlefkaT1TO2 => {
                let (m, summary) = plefka_t1_t::step_o2(net, &st.m_prev);
                st.m = m;
                if full {
                    st.c = plefka_t1_t::c_o2(net, &st.m, &st.m_prev);
                    st.d = plefka_t1_t::d_o2(net, &st.m, &st.m_prev);
                } else {
                    formed = false;
                }
                summary
            }
            Method::PlefkaTO2 => {
                let jc = plefka_t::j_times_c(net, &st.c_prev);
                let v = plefka_t::variance_diag(net, &jc);
                st.m = plefka_t::m_o2(net, &st.m_prev, &v);
                st.d = plefka_t::d_o2(net, &st.m, &st.m_prev, &jc);
                st.c = plefka_t::c_o2(net, &st.m, &jc);
                summary_full(net, &st.m, &st.c, &st.d)
            }
            Method::PlefkaT1O1 => {
                let (m, alpha, g, delta) = plefka_t1::m_alpha(net, &st.m_prev, &self.rule);
                st.m = m;
                st.d = plefka_t1::d(net, &alpha, &st.c_prev);
                st.c = plefka_t1::c(net, &st.m, &st.m_prev, &g, &delta, &self.rule);
                summary_full(net, &st.m, &st.c, &st.d)
            }
            Method::Plefka2TO1 => {
                let (m, d) = plefka2_t::m_d_o1(net, &st.m_prev);
                st.m = m;
                st.d = d;
                st.c = plefka_t1_t::c_diag(&st.m);
                summary_full(net, &st.m, &st.c, &st.d)
            }
            Method::Plefka2TO2 => {
                let (m, d, jc) = plefka2_t::m_d_o2(net, &st.m_prev, &st.c_prev, &st.d_prev);
                st.m = m;
                st.d = d;
                st.c = plefka2_t::c_o2(net, &st.m, &st.m_prev, &jc);
                summary_full(net, &st.m, &st.c, &st.d)
            }
        };
        self.steps_done = step;
        if formed {
            self.moments_step = step;
        }
        check_state(self.method, step, &self.state, formed, &summary)?;
        Ok(StepSummary { step, ..summary })
    }
}

impl Propagator {
    /// nMF / Plefka[t] o1 without summaries: advance m only (what
    /// [`forward`] uses; it computes the summaries of all steps at the end
    /// with [`plefka_t1_t::summaries_o1`]). C and D are not formed.
    /// Returns `J a` (`a = 1 − m(t−1)²`) for the step's summary.
    fn step_m_o1(&mut self) -> Result<Vec<f64>> {
        let step = self.steps_done + 1;
        let st = &mut self.state;
        std::mem::swap(&mut st.m, &mut st.m_prev);
        let (m, ja) = plefka_t1_t::m_o1_packed(&self.net, &st.m_prev);
        st.m = m;
        self.steps_done = step;
        check_m(self.method, step, &st.m)?;
        Ok(ja)
    }
}

/// C and D of nMF / Plefka[t] o1 at a step with magnetisations `m`, after
/// `m_prev`. Plefka[t] o1 propagates a diagonal C(t−1) = diag(1 − m(t−1)²)
/// (the initial state too), so both have D_il = A_i J_il a_l (spec §2.3);
/// each keeps its reference's order of operations.
fn form_o1(
    method: Method,
    net: &Net,
    m: &DVector<f64>,
    m_prev: &DVector<f64>,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let c = plefka_t1_t::c_diag(m);
    let d = if method == Method::PlefkaTO1 {
        // A_i (J C')_il with (J C')_il = J_il C'_ll, as `plefka_t::d_o1`
        // computes it, without forming J C'.
        let a = plefka_t1_t::one_minus_sq(m_prev);
        let big_a = plefka_t1_t::one_minus_sq(m);
        DMatrix::from_fn(m.len(), m.len(), |i, l| big_a[i] * (net.j[(i, l)] * a[l]))
    } else {
        plefka_t1_t::d_o1(net, m, m_prev)
    };
    (c, d)
}

/// The first part of [`check_state`]: every `m_i` finite.
fn check_m(method: Method, step: usize, m: &DVector<f64>) -> Result<()> {
    match m.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::Diverged {
            method: method.paper_name().to_string(),
            step,
            reason: format!("m_{i} is not finite"),
        }),
        None => Ok(()),
    }
}

/// The divergence test: non-finite m (or C, D when formed, or the summary),
/// or an equal-time covariance beyond the bound |C_ik| ≤ 1 of ±1 spins.
fn check_state(
    method: Method,
    step: usize,
    st: &MeanFieldState,
    formed: bool,
    summary: &StepSummary,
) -> Result<()> {
    let diverged = |reason: String| Error::Diverged {
        method: method.paper_name().to_string(),
        step,
        reason,
    };
    check_m(method, step, &st.m)?;
    // Branch-free counts first (they vectorise; an early-exit search over
    // 2 N² entries does not), the position only on failure.
    let c_bad = |x: &f64| !x.is_finite() | (x.abs() > 1.0);
    let d_bad = |x: &f64| !x.is_finite();
    if formed && (count_where(&st.c, c_bad) > 0 || count_where(&st.d, d_bad) > 0) {
        if let Some(k) = st.c.iter().position(c_bad) {
            let n = st.n();
            return Err(diverged(format!(
                "C[{}][{}] = {} (covariances of ±1 spins satisfy |C| <= 1)",
                k % n,
                k / n,
                st.c[k]
            )));
        }
        if st.d.iter().any(d_bad) {
            return Err(diverged("D has a non-finite entry".into()));
        }
    }
    if !summary.is_finite() {
        return Err(diverged(format!(
            "non-finite population averages {summary:?}"
        )));
    }
    Ok(())
}

/// How many entries of `m` satisfy `bad`.
fn count_where(m: &DMatrix<f64>, bad: impl Fn(&f64) -> bool) -> usize {
    m.as_slice().iter().map(|x| bad(x) as usize).sum()
}

/// What [`forward`] runs and records.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardOptions {
    /// Number of steps T (≥ 1).
    pub steps: usize,
    /// Rule for the Gaussian integrals (Plefka[t−1] only).
    pub quadrature: Quadrature,
    /// Steps (1-based) at which full C and D are kept; the last step is
    /// always kept.
    pub snapshots: Vec<usize>,
}

impl ForwardOptions {
    /// T steps, the reference quadrature, C and D kept at the last step.
    pub fn new(steps: usize) -> Self {
        Self {
            steps,
            quadrature: Quadrature::Riemann20,
            snapshots: Vec::new(),
        }
    }
}

/// C and D at one step.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Steps done.
    pub step: usize,
    /// `C_ik`, N × N.
    pub c: DMatrix<f64>,
    /// `D_il`, N × N, row = later time.
    pub d: DMatrix<f64>,
}

/// A forward run.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardResult {
    /// The method.
    pub method: Method,
    /// `m[t]` = magnetisations after t steps, t = 0 ..= T (`m[0]` = m0).
    pub m: Vec<DVector<f64>>,
    /// Per-step summaries, t = 0 ..= T.
    pub summary: Vec<StepSummary>,
    /// C and D at the requested steps and the last, ascending.
    pub snapshots: Vec<Snapshot>,
}

impl ForwardResult {
    /// The snapshot of the last step.
    pub fn last(&self) -> Option<&Snapshot> {
        self.snapshots.last()
    }
}

/// Run a method for `opts.steps` steps on `model` (raw H, J and β; the
/// kernels see βH, βJ) from the initial magnetisations `m0`.
///
/// Reports progress in steps and honours `stop` between steps. Errors:
/// invalid shapes or values, [`Error::Diverged`] (naming the step),
/// [`Error::Cancelled`].
pub fn forward(
    method: Method,
    model: &KineticIsing,
    m0: &DVector<f64>,
    opts: &ForwardOptions,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<ForwardResult> {
    if opts.steps == 0 {
        return Err(Error::param("steps", 0, "run at least one step"));
    }
    let mut prop = Propagator::new(method, model, m0, opts.quadrature)?;
    if matches!(method, Method::PlefkaT1TO1 | Method::PlefkaTO1) {
        return forward_o1(prop, opts, progress, stop);
    }
    let mut m = Vec::with_capacity(opts.steps + 1);
    let mut summary = Vec::with_capacity(opts.steps + 1);
    let mut snapshots = Vec::new();
    m.push(m0.clone());
    summary.push(prop.summary_now());
    for t in 1..=opts.steps {
        stop.check()?;
        let last = t == opts.steps;
        let full = last || opts.snapshots.contains(&t);
        let s = prop.step(full)?;
        m.push(prop.state().m.clone());
        summary.push(s);
        if full && !last {
            snapshots.push(Snapshot {
                step: t,
                c: prop.state().c.clone(),
                d: prop.state().d.clone(),
            });
        }
        progress.report(t as u64, opts.steps as u64);
    }
    // The last step's C and D move out of the propagator (2 N² copies saved).
    let st = prop.into_state();
    snapshots.push(Snapshot {
        step: opts.steps,
        c: st.c,
        d: st.d,
    });
    Ok(ForwardResult {
        method,
        m,
        summary,
        snapshots,
    })
}

/// [`forward`] for nMF and Plefka[t] o1, whose dynamics propagate m only:
/// one pass over the packed J per step, then the summaries of all steps
/// from two matrix products ([`plefka_t1_t::summaries_o1`]) and C, D at
/// the requested steps from the stored magnetisations. Same results as
/// stepping a [`Propagator`] up to rounding.
fn forward_o1(
    mut prop: Propagator,
    opts: &ForwardOptions,
    progress: &dyn Progress,
    stop: &StopToken,
) -> Result<ForwardResult> {
    let method = prop.method;
    let mut m = Vec::with_capacity(opts.steps + 1);
    let mut ja = Vec::with_capacity(opts.steps);
    m.push(prop.state.m.clone());
    for t in 1..=opts.steps {
        stop.check()?;
        ja.push(prop.step_m_o1()?);
        m.push(prop.state.m.clone());
        progress.report(t as u64, opts.steps as u64);
    }
    let mut summary = Vec::with_capacity(opts.steps + 1);
    summary.push(summary_initial(&m[0]));
    for (t, s) in plefka_t1_t::summaries_o1(&prop.net, &m, &ja)
        .into_iter()
        .enumerate()
    {
        let step = t + 1;
        if !s.is_finite() {
            return Err(Error::Diverged {
                method: method.paper_name().to_string(),
                step,
                reason: format!("non-finite population averages {s:?}"),
            });
        }
        summary.push(StepSummary { step, ..s });
    }
    let mut snapshots = Vec::new();
    for t in 1..=opts.steps {
        if t == opts.steps || opts.snapshots.contains(&t) {
            let (c, d) = form_o1(method, &prop.net, &m[t], &m[t - 1]);
            let st = MeanFieldState {
                m: m[t].clone(),
                c,
                d,
                m_prev: m[t - 1].clone(),
                c_prev: DMatrix::zeros(0, 0),
                d_prev: DMatrix::zeros(0, 0),
            };
            check_state(method, t, &st, true, &summary[t])?;
            snapshots.push(Snapshot {
                step: t,
                c: st.c,
                d: st.d,
            });
        }
    }
    Ok(ForwardResult {
        method,
        m,
        summary,
        snapshots,
    })
}

/// One prediction step from fixed previous moments, as the inverse problem
/// uses it (spec §3.2): returns `(m(t), D(t))` given `m(t−1)`, `C(t−1)`,
/// `D(t−1)`, effective parameters.
pub(crate) fn predict_m_d(
    method: Method,
    net: &Net,
    m_prev: &DVector<f64>,
    c_prev: &DMatrix<f64>,
    d_prev: &DMatrix<f64>,
    rule: &Rule,
) -> (DVector<f64>, DMatrix<f64>) {
    match method {
        Method::PlefkaT1TO1 => {
            let m = plefka_t1_t::m_o1(net, m_prev);
            let d = plefka_t1_t::d_o1(net, &m, m_prev);
            (m, d)
        }
        Method::PlefkaT1TO2 => {
            let m = plefka_t1_t::m_o2(net, m_prev);
            let d = plefka_t1_t::d_o2(net, &m, m_prev);
            (m, d)
        }
        Method::PlefkaTO1 => {
            let m = plefka_t1_t::m_o1(net, m_prev);
            let jc = plefka_t::j_times_c(net, c_prev);
            let d = plefka_t::d_o1(&m, &jc);
            (m, d)
        }
        Method::PlefkaTO2 => {
            let jc = plefka_t::j_times_c(net, c_prev);
            let v = plefka_t::variance_diag(net, &jc);
            let m = plefka_t::m_o2(net, m_prev, &v);
            let d = plefka_t::d_o2(net, &m, m_prev, &jc);
            (m, d)
        }
        Method::PlefkaT1O1 => {
            let (m, alpha, _, _) = plefka_t1::m_alpha(net, m_prev, rule);
            let d = plefka_t1::d(net, &alpha, c_prev);
            (m, d)
        }
        Method::Plefka2TO1 => plefka2_t::m_d_o1(net, m_prev),
        Method::Plefka2TO2 => {
            let (m, d, _) = plefka2_t::m_d_o2(net, m_prev, c_prev, d_prev);
            (m, d)
        }
    }
}
